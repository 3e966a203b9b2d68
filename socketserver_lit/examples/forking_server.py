"""The ForkingMixIn "used in the same way": every request in a child process of its own.

The documentation ends its threading example with one sentence: the ForkingMixIn
class is used in the same way, except that the server spawns a new process for
each request. This module is that sentence as a program: ``threaded_server.py``
with ``ForkingMixIn`` in place of ``ThreadingMixIn``, and a handler that names
its *process* instead of its thread::

    $ python -m socketserver_lit.examples.forking_server
    Server loop running in thread: Thread-1 (serve_forever)
    Server process: pid 4242
    Received: pid 4243: Hello World 1
    Received: pid 4244: Hello World 2
    Received: pid 4245: Hello World 3

The server's ``process_request()`` (overridden by the mix-in) calls ``os.fork()``.
The child handles the request and exits; the parent closes its copy of the
connection and goes back to accepting. So every reply names a different process,
and none of them is the server's. The parent must also *reap* its children (wait
for their exit status), or they linger as zombies: the server does that between
requests and, when it is closed, waits for the rest.

What a fork costs you, compared with a thread: the child gets a *copy* of the
server's memory, so nothing a handler changes reaches the server or the next
request. The documentation's warning ("you still have to use your head") is about
exactly that: keep state out of a forking server's memory. In the child, the
handler even runs in a copy of the thread that called ``fork()``: ask it its
thread name and it says ``Thread-1 (serve_forever)``.

Available only where ``os.fork`` exists (POSIX). On Python 3.12+, forking a
process that runs several threads (here: the main thread and the server loop)
issues a ``DeprecationWarning`` ("use of fork() may lead to deadlocks in the
child"): only the forking thread is copied, so a lock another thread holds at
that moment stays held, for ever, in the child. Python shows that warning by
default only for code in ``__main__``; the fork here happens inside the package,
so this program prints none. And the main thread is never printing (holding
standard output's lock) while the server forks: it prints each reply after the
child has sent it, and only then connects again.

Read next: ``threading_udp.py``, the documented one-line ``ThreadingUDPServer``.
"""

from __future__ import annotations

import argparse
import os
import socket
import threading
from collections.abc import Sequence

import socketserver_lit as socketserver
from socketserver_lit.examples import _program

PROGRAM = "python -m socketserver_lit.examples.forking_server"
SUMMARY = "the ForkingMixIn example: three clients, each answered by a new child process"
MESSAGE_SIZE = 1024  # bytes read by each recv() call, as in the threading example
CLIENT_TIMEOUT = 10.0  # seconds; so that a broken server fails instead of hanging


class ForkedTCPRequestHandler(socketserver.BaseRequestHandler):
    """Replies with the process id of the process that handles the request, then the message."""

    def handle(self) -> None:
        data = str(self.request.recv(MESSAGE_SIZE), "ascii")
        response = bytes(f"pid {os.getpid()}: {data}", "ascii")
        self.request.sendall(response)


class ForkedTCPServer(socketserver.ForkingMixIn, socketserver.TCPServer):
    """A TCP server that handles each connection in a new child process."""


def client(ip: str, port: int, message: str) -> None:
    """Send one message and print the reply."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(CLIENT_TIMEOUT)
        sock.connect((ip, port))
        sock.sendall(bytes(message, "ascii"))
        response = str(sock.recv(MESSAGE_SIZE), "ascii")
        print(f"Received: {response}")


def demo(host: str, port: int) -> None:
    """The threading example's main block, with a forking server."""
    server = ForkedTCPServer((host, port), ForkedTCPRequestHandler)
    with server:
        ip, port = server.server_address[:2]
        server_thread = threading.Thread(target=server.serve_forever)
        server_thread.daemon = True
        server_thread.start()
        print("Server loop running in thread:", server_thread.name)
        print(f"Server process: pid {os.getpid()}")

        client(ip, port, "Hello World 1")
        client(ip, port, "Hello World 2")
        client(ip, port, "Hello World 3")

        server.shutdown()


def build_parser(prog: str | None = None, add_help: bool = True) -> argparse.ArgumentParser:
    """The command line: ``--host`` and ``--port``, defaulting to localhost port 0."""
    parser = _program.build_parser(
        prog or PROGRAM,
        SUMMARY + ". Runs the server and its clients in one process, then exits. "
        "Needs os.fork (POSIX).",
        add_help,
    )
    _program.add_address_arguments(parser, protocol="TCP", default_port=0)
    return parser


def run(args: argparse.Namespace, prog: str | None = None) -> int:
    """Run the example once; return the exit status."""
    program = prog or PROGRAM
    if not hasattr(os, "fork"):
        return _program.fail(program, "this platform has no os.fork; try threaded-server")
    return _program.run_server(demo, args.host, args.port, program, "TCP")


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Parse ``argv`` (default: the command line) and run the example."""
    return run(build_parser(prog).parse_args(argv), prog)


if __name__ == "__main__":
    raise SystemExit(main())

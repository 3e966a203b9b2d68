"""The documented ThreadingMixIn example: every request in a thread of its own.

The servers in ``tcp_server.py`` and ``udp_server.py`` are synchronous: while one
request is being handled, the next one waits. The documentation's answer is a
mix-in. ``ThreadedTCPServer(ThreadingMixIn, TCPServer)`` is a ``TCPServer``
whose ``process_request()`` (overridden by the mix-in, which is why the mix-in
comes first) starts a new thread for each request and returns at once, so the
serving loop is free to accept the next connection.

This example is one program that plays both parts, so it can show the threads
by name::

    $ python -m socketserver_lit.examples.threaded_server
    Server loop running in thread: Thread-1 (serve_forever)
    Received: Thread-2 (process_request_thread): Hello World 1
    Received: Thread-3 (process_request_thread): Hello World 2
    Received: Thread-4 (process_request_thread): Hello World 3

1. The server binds ``localhost`` port 0: "any free port", chosen by the system
   and read back from ``server.server_address``.
2. ``serve_forever()`` runs in a thread of its own (Thread-1), marked daemon so
   that it cannot keep the program alive; the main thread is free to be the client.
3. Three clients connect one after the other; the handler replies with the name
   of the thread it runs in, and each reply names a new thread.
4. ``server.shutdown()`` stops the loop and waits for it; leaving the ``with``
   block closes the socket and joins the request threads.

Why the transcript says ``Thread-1 (serve_forever)`` where the documentation
says ``Thread-1``: since Python 3.10, a thread created without a name is called
``Thread-N (target)``, after the function it runs; the documented transcript
shows the older form. The numbers are the same: in a fresh process the server
loop is the first thread created and each request makes the next one. (The name
of a request thread's target depends on the server's code; the stdlib's, like
ours, calls it ``process_request_thread``.)

The handler reads with one ``recv(1024)``, which is the shortcut the TCP example
warns about; it works here because each message is a few bytes sent in one call
on the loopback interface. Our one addition: the client socket has a timeout, so
a broken server makes the program fail instead of hang.

Read next: ``forking_server.py``, the same program with processes.
"""

from __future__ import annotations

import argparse
import socket
import threading
from collections.abc import Sequence

import socketserver_lit as socketserver
from socketserver_lit.examples import _program

PROGRAM = "python -m socketserver_lit.examples.threaded_server"
SUMMARY = "the documented ThreadingMixIn example: three clients, each answered by a new thread"
MESSAGE_SIZE = 1024  # bytes read by each documented recv() call
CLIENT_TIMEOUT = 10.0  # seconds; ours, so that a broken server fails instead of hanging


class ThreadedTCPRequestHandler(socketserver.BaseRequestHandler):
    """Replies with the name of the thread that handles the request, then the message."""

    def handle(self) -> None:
        data = str(self.request.recv(MESSAGE_SIZE), "ascii")
        cur_thread = threading.current_thread()
        response = bytes(f"{cur_thread.name}: {data}", "ascii")
        self.request.sendall(response)


class ThreadedTCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """A TCP server that handles each connection in a new thread."""


def client(ip: str, port: int, message: str) -> None:
    """Send one message and print the reply, as the documented client function does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(CLIENT_TIMEOUT)
        sock.connect((ip, port))
        sock.sendall(bytes(message, "ascii"))
        response = str(sock.recv(MESSAGE_SIZE), "ascii")
        print(f"Received: {response}")


def demo(host: str, port: int) -> None:
    """The documented main block: server loop in a thread, three clients, shutdown."""
    server = ThreadedTCPServer((host, port), ThreadedTCPRequestHandler)
    with server:
        ip, port = server.server_address[:2]
        server_thread = threading.Thread(target=server.serve_forever)
        server_thread.daemon = True  # cannot keep the program alive on its own
        server_thread.start()
        print("Server loop running in thread:", server_thread.name)

        client(ip, port, "Hello World 1")
        client(ip, port, "Hello World 2")
        client(ip, port, "Hello World 3")

        server.shutdown()


def build_parser(prog: str | None = None, add_help: bool = True) -> argparse.ArgumentParser:
    """The command line: ``--host`` and ``--port``, defaulting to localhost port 0."""
    parser = _program.build_parser(
        prog or PROGRAM,
        SUMMARY + ". Runs the server and its clients in one process, then exits.",
        add_help,
    )
    _program.add_address_arguments(parser, protocol="TCP", default_port=0)
    return parser


def run(args: argparse.Namespace, prog: str | None = None) -> int:
    """Run the example once; return the exit status."""
    return _program.run_server(demo, args.host, args.port, prog or PROGRAM, "TCP")


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Parse ``argv`` (default: the command line) and run the example."""
    return run(build_parser(prog).parse_args(argv), prog)


if __name__ == "__main__":
    raise SystemExit(main())

"""The documented one-line server: ``class ThreadingUDPServer(ThreadingMixIn, UDPServer)``.

The documentation shows how the threading and forking servers are made with a
class definition that has no body at all::

    class ThreadingUDPServer(ThreadingMixIn, UDPServer):
        pass

Everything that class does comes from its bases, in the order of its method
resolution order (MRO): ``ThreadingMixIn`` first, so that *its*
``process_request()`` (start a thread) is found before the synchronous one that
``UDPServer`` inherits from ``BaseServer``. Written the other way round,
``UDPServer`` would win and the mix-in would do nothing. This module defines the
class exactly like that, prints its MRO, checks that it has the same one as the
``ThreadingUDPServer`` the package predefines, and runs it the way
``threaded_server.py`` runs its TCP cousin::

    $ python -m socketserver_lit.examples.threading_udp
    MRO: ThreadingUDPServer -> ThreadingMixIn -> UDPServer -> TCPServer -> BaseServer -> object
    Same bases as socketserver_lit.ThreadingUDPServer: True
    Server loop running in thread: Thread-1 (serve_forever)
    Received: Thread-2 (process_request_thread): Hello World 1
    Received: Thread-3 (process_request_thread): Hello World 2
    Received: Thread-4 (process_request_thread): Hello World 3

For UDP, a "request" is one datagram, so each datagram gets its thread. All of
those threads answer through the same server socket with ``sendto()``, which is
safe: each ``sendto()`` sends one whole datagram, never mixed with another
thread's.

(Yes, ``UDPServer`` derives from ``TCPServer``, in the stdlib as here, as the
documentation's class diagram shows: it keeps the binding, and replaces the
socket type, activation (no ``listen()``), how a request arrives and how it is
closed.)

Read next: ``notebooks/examples/06-threading-udp.ipynb`` runs this program step by step;
then the course notebooks, which serve one protocol with every server type.
"""

from __future__ import annotations

import argparse
import socket
import threading
from collections.abc import Sequence

import socketserver_lit
from socketserver_lit import BaseRequestHandler, ThreadingMixIn, UDPServer
from socketserver_lit.examples import _program

PROGRAM = "python -m socketserver_lit.examples.threading_udp"
SUMMARY = "the documented one-line ThreadingUDPServer, defined and run with three clients"
REPLY_SIZE = 1024  # bytes: the largest reply datagram a client accepts
CLIENT_TIMEOUT = 10.0  # seconds; a lost datagram makes the program fail instead of hang


class ThreadingUDPServer(ThreadingMixIn, UDPServer):
    pass


class ThreadedUDPRequestHandler(BaseRequestHandler):
    """Replies to a datagram with the name of the thread that handles it, then the message."""

    def handle(self) -> None:
        data, server_socket = self.request
        response = f"{threading.current_thread().name}: {str(data, 'ascii')}"
        server_socket.sendto(bytes(response, "ascii"), self.client_address)


def describe_mro(cls: type) -> str:
    """The class's method resolution order as ``A -> B -> object``."""
    return " -> ".join(base.__name__ for base in cls.__mro__)


def client(ip: str, port: int, message: str) -> None:
    """Send one datagram and print the reply."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(CLIENT_TIMEOUT)
        sock.sendto(bytes(message, "ascii"), (ip, port))
        response = str(sock.recv(REPLY_SIZE), "ascii")
        print(f"Received: {response}")


def demo(host: str, port: int) -> None:
    """Show the class, then serve three datagrams from a thread, then shut down."""
    print("MRO:", describe_mro(ThreadingUDPServer))
    predefined = socketserver_lit.ThreadingUDPServer
    same = describe_mro(ThreadingUDPServer) == describe_mro(predefined)
    print("Same bases as socketserver_lit.ThreadingUDPServer:", same)
    with ThreadingUDPServer((host, port), ThreadedUDPRequestHandler) as server:
        ip, port = server.server_address[:2]
        server_thread = threading.Thread(target=server.serve_forever)
        server_thread.daemon = True
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
    _program.add_address_arguments(parser, protocol="UDP", default_port=0)
    return parser


def run(args: argparse.Namespace, prog: str | None = None) -> int:
    """Run the example once; return the exit status."""
    return _program.run_server(demo, args.host, args.port, prog or PROGRAM, "UDP")


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Parse ``argv`` (default: the command line) and run the example."""
    return run(build_parser(prog).parse_args(argv), prog)


if __name__ == "__main__":
    raise SystemExit(main())

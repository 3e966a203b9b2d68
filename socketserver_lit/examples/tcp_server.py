"""The documented TCP server: a handler that reads a line with a loop of ``recv()`` calls.

This is the first example of the socketserver documentation (Python 3.13), typed
afresh against ``socketserver_lit``. It shows the smallest useful server: one
request handler class with a ``handle()`` method, one ``TCPServer`` that creates
a handler per connection, and ``serve_forever()`` until you press Ctrl-C::

    $ python -m socketserver_lit.examples.tcp_server
    $ python -m socketserver_lit.examples.tcp_client hello world with TCP   # another terminal

Why a loop? TCP is a byte stream, not a sequence of messages. The client calls
``sendall()`` twice (the text, then ``b"\\n"``), and the server may need one,
two or more ``recv()`` calls to see them, in pieces that have nothing to do with
how they were sent. So the handler keeps receiving until a piece contains the
newline, and stops once it holds 10,000 bytes or more, so that a client that
never sends one cannot make the server collect memory forever.
``stream_server.py`` gets the same effect from ``rfile.readline(10000)``.

What it prints, and why that is not the documented transcript. The page shows
the server printing ``127.0.0.1 wrote:`` and ``b'hello world with TCP'``, the
stripped line as a bytes object, which is what a handler that strips and prints
bytes prints (the UDP example's does, byte for byte); the 3.13 handler code on
the same page does neither. Reproduced here, it prints ``Received from
127.0.0.1:`` and the *decoded* text, and it does not strip the newline it waited
for: the text ends with ``\\n`` and ``print`` adds another, so each request is
followed by a blank line. The reply is the same bytes upper-cased,
newline included, so the client's ``Received:`` line is followed by a blank line
too. The tour (``socketserver-lit tour``) prints both and says so.

One deliberate change: the documented loop stops only at a newline or at 10,000
bytes. When a client closes its side without sending a newline, ``recv()``
returns ``b""`` at once, every time, the total never grows, and the documented
loop spins without end. Ours stops at end of stream (the line marked below) and
replies with what arrived.

One option of ours, off by default: ``--threading`` serves the same handler from
a ``ThreadingTCPServer``, a thread per connection, so that a client that stays
connected does not make the next one wait (the tutorial's steps 5 and 6). Ctrl-C
then waits for the requests in progress, says so, and a second Ctrl-C stops at
once.

Read next: ``tcp_client.py`` (the other side), ``stream_server.py`` (the same
service with ``StreamRequestHandler``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import socketserver_lit as socketserver
from socketserver_lit.examples import _program

PROGRAM = "python -m socketserver_lit.examples.tcp_server"
SUMMARY = "the documented TCP server: MyTCPHandler reads a line with a recv() loop"
LINE_LIMIT = 10_000  # bytes: the documented cap on what one request may send
CHUNK_SIZE = 2000  # bytes asked of each recv() call, as documented


class MyTCPHandler(socketserver.BaseRequestHandler):
    """Reads one newline-terminated line and sends it back upper-cased.

    One instance serves one connection: the server creates it, calls ``handle()``
    and closes the connection when ``handle()`` returns. ``self.request`` is the
    connected TCP socket.
    """

    def handle(self) -> None:
        pieces = [b""]
        total = 0
        while b"\n" not in pieces[-1] and total < LINE_LIMIT:
            pieces.append(self.request.recv(CHUNK_SIZE))
            if not pieces[-1]:
                break  # end of stream: the documented loop would spin here forever
            total += len(pieces[-1])
        self.data = b"".join(pieces)
        print(f"Received from {self.client_address[0]}:")
        print(self.data.decode("utf-8"))
        # Same bytes back, upper-cased; the server closes the connection after we return.
        self.request.sendall(self.data.upper())


def serve(host: str, port: int) -> None:
    """The documented main block, with the address as parameters."""
    with socketserver.TCPServer((host, port), MyTCPHandler) as server:
        _program.announce(server)
        server.serve_forever()  # until Ctrl-C raises KeyboardInterrupt here


def build_parser(prog: str | None = None, add_help: bool = True) -> argparse.ArgumentParser:
    """The command line: ``--host``, ``--port`` (default localhost port 9999), ``--threading``."""
    return _program.build_tcp_server_parser(prog or PROGRAM, SUMMARY, add_help)


def run(args: argparse.Namespace, prog: str | None = None) -> int:
    """Serve until Ctrl-C (with ``--threading``, a thread per connection); the exit status."""
    return _program.run_tcp_server(serve, MyTCPHandler, args, prog or PROGRAM)


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Parse ``argv`` (default: the command line) and run the server."""
    return run(build_parser(prog).parse_args(argv), prog)


if __name__ == "__main__":
    raise SystemExit(main())

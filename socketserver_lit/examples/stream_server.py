"""The documented alternative handler: the same TCP service written with file objects.

The socketserver documentation follows its first TCP server with a second
``MyTCPHandler``, this time a ``StreamRequestHandler``. Before ``handle()`` runs,
the handler's ``setup()`` wraps the connection in two file objects:
``self.rfile`` to read from and ``self.wfile`` to write to. After ``handle()``
returns, ``finish()`` flushes ``wfile`` and closes both. So the handler can say
what it means, "read one line", instead of spelling out the ``recv()`` loop of
``tcp_server.py``::

    $ python -m socketserver_lit.examples.stream_server
    $ python -m socketserver_lit.examples.tcp_client hello world with TCP   # another terminal

``rfile.readline(10000)`` calls ``recv()`` as many times as it takes to reach a
newline, and returns at most 10,000 bytes, so that a sender without newlines
cannot make it buffer without end. It also returns at end of stream, so a client
that hangs up early gets its partial line answered (the recv-loop version needed
an extra line of ours for that).

What it prints: the documented server transcript shows ``127.0.0.1 wrote:`` and
then the bytes object, ``b'hello world with TCP'``. This handler, as documented
for 3.13, decodes the data before printing it, so the second line reads
``hello world with TCP``. Because it strips the newline (``rstrip()``) and writes
the reply without one, the client's transcript matches the documentation
exactly: ``Received: HELLO WORLD WITH TCP`` and no blank line after it.

``--threading`` (ours, off by default) serves it from a ``ThreadingTCPServer``,
as ``tcp_server.py`` explains.

Read next: ``udp_server.py``, where there is no stream at all.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import socketserver_lit as socketserver
from socketserver_lit.examples import _program

PROGRAM = "python -m socketserver_lit.examples.stream_server"
SUMMARY = "the documented alternative TCP server: MyTCPHandler on StreamRequestHandler"
LINE_LIMIT = 10_000  # bytes: readline() returns after this many even without a newline


class MyTCPHandler(socketserver.StreamRequestHandler):
    """Reads one line through ``rfile`` and writes it back upper-cased through ``wfile``."""

    def handle(self) -> None:
        self.data = self.rfile.readline(LINE_LIMIT).rstrip()
        print(f"{self.client_address[0]} wrote:")
        print(self.data.decode("utf-8"))
        self.wfile.write(self.data.upper())


def serve(host: str, port: int) -> None:
    """The documented main block with this handler, and the address as parameters."""
    with socketserver.TCPServer((host, port), MyTCPHandler) as server:
        _program.announce(server)
        server.serve_forever()


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

"""The documented UDP server: one datagram in, one datagram back, and no connection.

The socketserver documentation's UDP example has the same shape as its TCP one: a
handler class, a server class, ``serve_forever()``. What changes is what a
request *is*. A TCP request is a connected socket you read from; a UDP request
is one datagram that has already arrived in full. So ``self.request`` is a pair:
the datagram's bytes and the server's own socket::

    $ python -m socketserver_lit.examples.udp_server
    $ python -m socketserver_lit.examples.udp_client hello world with UDP   # another terminal

Nothing needs a loop here: one ``recvfrom()`` in the server returned the whole
datagram before the handler was even created. And there is no connection to
write the answer into, so the handler must say where the reply goes:
``socket.sendto(reply, self.client_address)``. The socket it uses is the
server's own socket, the one the datagram arrived on, shared by every request;
that is why the server hands it to the handler instead of the handler owning one.

What it prints: ``127.0.0.1 wrote:`` and then the stripped data as a bytes
object, ``b'hello world with TCP'``. This handler never decodes, so its transcript
is exactly the server transcript the documentation prints under the *TCP*
example (the page says the UDP output "should look exactly like" the TCP one; for
the server side, it is the TCP example's 3.13 code that prints something else).

Read next: ``udp_client.py``; then ``threading_udp.py`` for the documented
one-line ``ThreadingUDPServer``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import socketserver_lit as socketserver
from socketserver_lit.examples import _program

PROGRAM = "python -m socketserver_lit.examples.udp_server"
SUMMARY = "the documented UDP server: MyUDPHandler answers each datagram with sendto()"


class MyUDPHandler(socketserver.BaseRequestHandler):
    """Answers a datagram with its stripped, upper-cased bytes.

    ``self.request`` is ``(data, server_socket)``; with no connection, the reply
    is addressed explicitly to ``self.client_address``.
    """

    def handle(self) -> None:
        data = self.request[0].strip()
        socket = self.request[1]
        print(f"{self.client_address[0]} wrote:")
        print(data)
        socket.sendto(data.upper(), self.client_address)


def serve(host: str, port: int) -> None:
    """The documented main block, with the address as parameters."""
    with socketserver.UDPServer((host, port), MyUDPHandler) as server:
        _program.announce(server)
        server.serve_forever()


def build_parser(prog: str | None = None, add_help: bool = True) -> argparse.ArgumentParser:
    """The command line: ``--host`` and ``--port``, defaulting to localhost port 9999."""
    parser = _program.build_parser(
        prog or PROGRAM,
        SUMMARY + ". Prints each datagram to standard output; Ctrl-C stops it.",
        add_help,
    )
    _program.add_address_arguments(parser, protocol="UDP")
    return parser


def run(args: argparse.Namespace, prog: str | None = None) -> int:
    """Serve until Ctrl-C; return the exit status."""
    return _program.run_server(serve, args.host, args.port, prog or PROGRAM, "UDP")


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Parse ``argv`` (default: the command line) and run the server."""
    return run(build_parser(prog).parse_args(argv), prog)


if __name__ == "__main__":
    raise SystemExit(main())

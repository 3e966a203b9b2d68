"""The documented UDP client: one ``sendto()``, one ``recv()``, no ``connect()``.

The client side of the documentation's UDP example. Compare it line by line with
``tcp_client.py``: the socket type is ``SOCK_DGRAM``, there is no ``connect()``,
and the text and its newline travel in one datagram, addressed by ``sendto()``.
The reply is read with one ``recv(1024)``: one call returns one whole datagram
(cut at 1024 bytes if it is longer, the rest discarded), so for UDP (unlike TCP)
one call really is the right number::

    $ python -m socketserver_lit.examples.udp_client hello world with TCP
    Sent:     hello world with TCP
    Received: HELLO WORLD WITH TCP

(The documentation prints no UDP transcript of its own: it says the output should
look exactly like the TCP example's. Sent the same words, it does, byte for byte.)

The catch with no connection: if no server is listening, nothing tells the
client. The datagram is dropped, and the ICMP "port unreachable" that comes back
is reported (on Linux) only to a *connected* UDP socket, which this one is not;
so the documented ``recv()``, which has no timeout, waits for a reply that never
comes. Ours waits ``--timeout`` seconds (default 5) and then says what probably
happened. We also close the socket (a ``with`` block), which the documented
snippet leaves to the end of the program. At least one word with text is
required: with none, or only blank ones, the program is a usage error (exit
status 2) and sends nothing.

Read next: ``threaded_server.py``, where the server stops handling one request
at a time.
"""

from __future__ import annotations

import argparse
import socket
from collections.abc import Sequence

from socketserver_lit.examples import _program

PROGRAM = "python -m socketserver_lit.examples.udp_client"
SUMMARY = "the documented UDP client: sends its arguments in one datagram, prints the reply"
REPLY_SIZE = 1024  # bytes: the largest reply datagram the documented recv() accepts


def exchange(host: str, port: int, data: str, timeout: float) -> str:
    """Send ``data`` and a newline in one datagram and return the decoded reply."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(bytes(data + "\n", "utf-8"), (host, port))
        received = str(sock.recv(REPLY_SIZE), "utf-8")
    return received


def build_parser(prog: str | None = None, add_help: bool = True) -> argparse.ArgumentParser:
    """The command line: options first, then the words to send."""
    parser = _program.build_parser(prog or PROGRAM, SUMMARY + ". Start udp-server first.", add_help)
    _program.add_address_arguments(parser, protocol="UDP", role="client")
    _program.add_timeout_argument(parser)
    _program.add_words_argument(parser, "hello world with UDP")
    return parser


def run(args: argparse.Namespace, prog: str | None = None) -> int:
    """Send the words, print the documented two lines, return the exit status."""
    program = prog or PROGRAM
    data = " ".join(args.words)
    where = f"{args.host} port {args.port}"
    try:
        received = exchange(args.host, args.port, data, args.timeout)
    except (TimeoutError, ConnectionRefusedError):
        # Linux reports "port unreachable" only to connected UDP sockets, so a
        # missing server shows up here as silence, that is as a timeout.
        return _program.fail(
            program,
            f"no reply from {where} within {args.timeout:g} s: is a UDP server running "
            "there? (socketserver-lit udp-server)",
        )
    except socket.gaierror as error:
        return _program.fail(
            program, _program.describe_resolution_error(error, args.host, ipv4_only=True)
        )
    except UnicodeDecodeError:
        return _program.fail(program, f"the reply from {where} is not UTF-8 text")
    except OSError as error:
        return _program.fail(program, f"talking to {where} failed: {error.strerror or error}")
    print("Sent:    ", data)
    print("Received:", received)
    return _program.EXIT_OK


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Parse ``argv`` (default: the command line) and run the client."""
    return run(build_parser(prog).parse_args(argv), prog)


if __name__ == "__main__":
    raise SystemExit(main())

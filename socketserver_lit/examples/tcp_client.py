"""The documented TCP client: send the command-line words and a newline, print the reply.

This is the client side of the documentation's TCP example, and it talks to both
TCP servers (``tcp_server.py`` and ``stream_server.py``). It uses the plain
``socket`` module, not socketserver: a client needs no framework, and seeing the
raw calls (``connect``, ``sendall``, ``recv``) is the point::

    $ python -m socketserver_lit.examples.tcp_client hello world with TCP
    Sent:     hello world with TCP
    Received: HELLO WORLD WITH TCP

The words are joined with single spaces, exactly as ``" ".join(sys.argv[1:])``
does in the documentation, then sent followed by ``b"\\n"`` in a second
``sendall()``: the newline is what the servers wait for. The two ``print`` calls
line up because ``print("Sent:    ", data)`` adds a space after four of its own,
making ``"Sent:"`` as wide as ``"Received:"``.

The reply is read with a single ``recv(1024)``, as documented. That is enough here
because the servers send one short reply and then close the connection, but it is
the same shortcut the servers warn against: a longer reply could arrive in
pieces and this client would print only the first.

Our additions, none of which changes the transcript: ``--host``/``--port`` (the
documented ``localhost``/``9999`` are the defaults), a ``--timeout`` so that a
server that never answers produces an error instead of a hang, and one-line
errors when nothing listens on the port or the host cannot be resolved. At least
one word with text is required: with none, or only blank ones, the program is a
usage error (exit status 2) and sends nothing, where the documented client sends
an empty line. Options may
come before or after the words; words that start with ``-`` go after ``--``
(``tcp_client -- -v``).

Read next: ``udp_client.py``, the same conversation without a connection.
"""

from __future__ import annotations

import argparse
import socket
from collections.abc import Sequence

from socketserver_lit.examples import _program

PROGRAM = "python -m socketserver_lit.examples.tcp_client"
SUMMARY = "the documented TCP client: sends its arguments joined by spaces, prints the reply"
REPLY_SIZE = 1024  # bytes read by the single documented recv() call


def exchange(host: str, port: int, data: str, timeout: float) -> str:
    """Connect, send ``data`` and a newline, and return the decoded reply."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect((host, port))
        sock.sendall(bytes(data, "utf-8"))
        sock.sendall(b"\n")
        received = str(sock.recv(REPLY_SIZE), "utf-8")
    return received


def build_parser(prog: str | None = None, add_help: bool = True) -> argparse.ArgumentParser:
    """The command line: options first, then the words to send."""
    parser = _program.build_parser(
        prog or PROGRAM, SUMMARY + ". Start tcp-server or stream-server first.", add_help
    )
    _program.add_address_arguments(parser, protocol="TCP", role="client")
    _program.add_timeout_argument(parser)
    _program.add_words_argument(parser, "hello world with TCP")
    return parser


def run(args: argparse.Namespace, prog: str | None = None) -> int:
    """Send the words, print the documented two lines, return the exit status."""
    program = prog or PROGRAM
    data = " ".join(args.words)
    where = f"{args.host} port {args.port}"
    try:
        received = exchange(args.host, args.port, data, args.timeout)
    except ConnectionRefusedError:
        return _program.fail(
            program,
            f"{where} refused the connection: no TCP server is listening there; start one "
            "(socketserver-lit tcp-server) or pass --host/--port",
        )
    except TimeoutError:
        return _program.fail(program, f"no reply from {where} within {args.timeout:g} s")
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

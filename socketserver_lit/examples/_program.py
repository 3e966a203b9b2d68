"""What turns a documented snippet into a program you can run: arguments, errors, Ctrl-C.

The examples in the socketserver documentation are snippets. They hard-code
``HOST, PORT = "localhost", 9999``, they stop when you press Ctrl-C by letting
``KeyboardInterrupt`` print a traceback, and a second copy started on a busy port
dies with ``OSError: [Errno 98] Address already in use`` and another traceback.
That is fine on a documentation page and poor in a terminal, so every example
module in this package keeps the documented code as it is and hands the program
around it to the helpers here:

* ``add_address_arguments`` gives each program ``--host`` and ``--port`` with the
  documented defaults (``localhost``, port 9999), so tests and the tour can run
  the same programs on free ports. A server binds to all interfaces only when
  asked (``--host 0.0.0.0`` or ``--host ""``), and then says so.
* ``run_server`` calls an example's ``serve(host, port)`` and turns the two ways a
  server program ends badly into one line each: a port that cannot be bound
  (with what to do about it) and Ctrl-C (a clean stop, exit status 0).
* ``announce`` writes one line to *standard error* once the server is listening:
  ``Serving TCP on 127.0.0.1 port 9999; press Ctrl-C to stop.`` Standard output
  stays exactly what the documented handler prints, so a transcript can be
  compared with the documentation byte for byte, while a person (or the tour, or
  a test) learns the real port, which matters when the port was 0.
* ``fail`` prints a client's error as one sentence and returns the exit status.

Read next: ``tcp_server.py``, the first documented example, then ``tour.py``,
which runs all of them side by side.
"""

from __future__ import annotations

import argparse
import errno
import socket
import sys
from collections.abc import Callable

DEFAULT_HOST = "localhost"
DEFAULT_PORT = 9999  # the port every documented example uses
ALL_INTERFACES = ("", "0.0.0.0", "::")

# Exit statuses: 0 success (a server stopped with Ctrl-C included: that is how the
# documentation says to stop it), 1 an error the message explains, 2 bad usage
# (argparse's own convention).
EXIT_OK = 0
EXIT_ERROR = 1


def add_address_arguments(
    parser: argparse.ArgumentParser, *, default_port: int = DEFAULT_PORT, role: str = "server"
) -> None:
    """Add ``--host`` and ``--port`` with the documented defaults."""
    verb = "listen on" if role == "server" else "connect to"
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"host name or address to {verb} (default: %(default)s; a server listens on "
        "all interfaces only if you ask for it with 0.0.0.0)"
        if role == "server"
        else f"host name or address to {verb} (default: %(default)s)",
    )
    port_help = f"TCP or UDP port to {verb} (default: %(default)s"
    port_help += "; 0 lets the system pick a free one)" if role == "server" else ")"
    parser.add_argument("--port", type=port_number, default=default_port, help=port_help)


def add_timeout_argument(parser: argparse.ArgumentParser, default: float = 5.0) -> None:
    """Add ``--timeout``: the documented clients wait forever, ours give up and say why."""
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=default,
        help="seconds to wait for the server before giving up (default: %(default)s)",
    )


def port_number(text: str) -> int:
    """argparse type: a port number from 0 to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is outside 0..65535")
    return port


def positive_seconds(text: str) -> float:
    """argparse type: a duration in seconds greater than zero."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError("the timeout must be greater than 0 seconds")
    return seconds


def client_words(words: list[str]) -> str:
    """The documented clients send ``" ".join(sys.argv[1:])``; a leading ``--`` is ours."""
    if words[:1] == ["--"]:
        words = words[1:]
    return " ".join(words)


def announce(server: object) -> None:
    """Tell standard error where the server listens, once it does."""
    listening = server.socket  # type: ignore[attr-defined]
    kind = "UDP" if listening.type == socket.SOCK_DGRAM else "TCP"
    host, port = listening.getsockname()[:2]
    if host in ALL_INTERFACES:
        print("Warning: listening on all interfaces; other machines can connect.", file=sys.stderr)
    shown_host = f"[{host}]" if ":" in host else host
    print(f"Serving {kind} on {shown_host} port {port}; press Ctrl-C to stop.", file=sys.stderr)


def run_server(serve: Callable[[str, int], None], host: str, port: int, program: str) -> int:
    """Run ``serve(host, port)`` until Ctrl-C; turn a bind failure into one sentence."""
    try:
        serve(host, port)
    except KeyboardInterrupt:
        # The server's ``with`` block has already closed it on the way out.
        print("Stopped by Ctrl-C; the server is closed.", file=sys.stderr)
        return EXIT_OK
    except OSError as error:
        message = describe_bind_error(error, host, port)
        if message is None:
            raise
        return fail(program, message)
    return EXIT_OK


def describe_bind_error(error: OSError, host: str, port: int) -> str | None:
    """Say what went wrong when binding and what to do next; None if it is not a bind error."""
    where = f"port {port} on {host or 'all interfaces'}"
    if isinstance(error, socket.gaierror):
        return (
            f"cannot resolve host {host!r} ({error.strerror}); pass --host with a name or address"
        )
    if error.errno == errno.EADDRINUSE:
        # A plain TCPServer does not set SO_REUSEADDR (allow_reuse_address is False), so
        # connections it closed itself linger in TIME_WAIT and hold the port for about a
        # minute after the server stops. That surprises everyone once; the message says so.
        return (
            f"{where} is already in use: stop the program using it, or pass --port with "
            "another number (a server stopped less than a minute ago may still hold it)"
        )
    if error.errno == errno.EACCES:
        return f"not allowed to listen on {where}: ports below 1024 need privileges; pass --port"
    if error.errno == errno.EADDRNOTAVAIL:
        return f"{host!r} is not an address of this machine; pass --host localhost"
    return None


def fail(program: str, message: str) -> int:
    """Print one line to standard error and return the error exit status."""
    print(f"{program}: error: {message}", file=sys.stderr)
    return EXIT_ERROR

"""What turns a documented snippet into a program you can run: arguments, errors, Ctrl-C.

The examples in the socketserver documentation are snippets. They hard-code their
address (``HOST, PORT = "localhost", 9999`` for the TCP and UDP examples); run
with the standard library, Ctrl-C ends them with a ``KeyboardInterrupt``
traceback, and a second copy started on a busy port dies with an ``OSError``
traceback (``[Errno 98] Address already in use`` on Linux). That is fine on a
documentation page and poor in a terminal, so every example module in this
package keeps the documented code as it is and hands the program around it to
the helpers here:

* ``add_address_arguments`` gives each program ``--host`` and ``--port`` with the
  documented defaults (``localhost``, port 9999), so tests and the tour can run
  the same programs on free ports. A server binds to all interfaces only when
  asked (``--host 0.0.0.0`` or ``--host ""``), and then says so.
* ``build_tcp_server_parser`` and ``run_tcp_server`` are the command line and the
  run of the two documented TCP servers, which differ only in their handler:
  ``--threading`` (ours) serves that handler from a ``ThreadingTCPServer``.
* ``run_server`` calls an example's ``serve(host, port)`` and turns the ways a
  server program ends badly into one line each: an address it cannot listen on
  (with what to do about it) and Ctrl-C (a clean stop, exit status 0).
* ``stop_on_ctrl_c`` is how Ctrl-C behaves meanwhile. The first press stops the
  server cleanly; if that means waiting for requests still in progress (a
  threading server joins its request threads when it closes, and a client that
  stays connected keeps its thread alive), it says so, and a second press ends
  the process at once.
* ``announce`` writes one line to *standard error* once the server is listening:
  ``Serving TCP on 127.0.0.1 port 9999; press Ctrl-C to stop.`` Standard output
  stays exactly what the documented handler prints, so a transcript can be
  compared with the documentation byte for byte, while a person (or the tour, or
  a test) learns the real port, which matters when the port was 0.
* ``describe_address_error`` and ``fail`` print what went wrong as one line, for
  servers and clients alike. The core's bind errors carry the address and a hint
  of their own; we word the line from the system's error (its type and errno),
  so nothing is said twice, whatever the core's wording.

``tests/test_claims_cli.py`` runs what these messages claim (busy ports, TIME_WAIT,
unresolvable hosts, the two Ctrl-C presses) on the loopback interface, on Linux.

Read next: ``tcp_server.py``, the first documented example, then ``tour.py``,
which runs all of them side by side.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import os
import signal
import socket
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from types import FrameType

import socketserver_lit as socketserver

DEFAULT_HOST = "localhost"
DEFAULT_PORT = 9999  # the port of the documented TCP and UDP examples
ALL_INTERFACES = ("", "0.0.0.0", "::")
# Linux: binding a port below the number in this file needs privileges (CAP_NET_BIND_SERVICE).
UNPRIVILEGED_PORT_START = "/proc/sys/net/ipv4/ip_unprivileged_port_start"

# Exit statuses: 0 success (a server stopped with Ctrl-C included: that is how the
# documentation says to stop it), 1 an error the message explains, 2 bad usage
# (argparse's own convention). A second Ctrl-C ends the process by SIGINT itself.
EXIT_OK = 0
EXIT_ERROR = 1


# -- The command line -----------------------------------------------------------------------


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help layout, except that it never breaks a line inside a hyphenated name.

    argparse wraps help with ``textwrap``, which by default may break after a hyphen:
    ``stream-`` at the end of one line, ``server`` on the next. A reader copying a
    subcommand name out of the help should find it whole.
    """

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return textwrap.fill(
            " ".join(text.split()),
            width,
            initial_indent=indent,
            subsequent_indent=indent,
            break_on_hyphens=False,
        )


def build_parser(prog: str, description: str, add_help: bool) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` with our help layout."""
    return argparse.ArgumentParser(
        prog=prog, description=description, add_help=add_help, formatter_class=HelpFormatter
    )


def add_address_arguments(
    parser: argparse.ArgumentParser,
    *,
    protocol: str,
    default_port: int = DEFAULT_PORT,
    role: str = "server",
) -> None:
    """Add ``--host`` and ``--port`` with the documented defaults; ``protocol`` is TCP or UDP."""
    if role == "server":
        host_help = (
            "host name or address to listen on (default: %(default)s; a server listens on "
            "all interfaces only if you ask for it, with 0.0.0.0, :: or an empty host, "
            "and then warns)"
        )
        port_help = f"{protocol} port to listen on (default: %(default)s; 0 picks a free one)"
    else:
        host_help = "host name or address of the server (default: %(default)s)"
        port_help = f"{protocol} port of the server (default: %(default)s)"
    parser.add_argument("--host", default=DEFAULT_HOST, help=host_help)
    parser.add_argument("--port", type=port_number, default=default_port, help=port_help)


def add_threading_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--threading``: the same handler on a ``ThreadingTCPServer`` (ours, off by default)."""
    parser.add_argument(
        "--threading",
        action="store_true",
        help="handle each connection in a thread of its own (ThreadingTCPServer), so that "
        "a client that stays connected does not make the next one wait",
    )


def build_tcp_server_parser(prog: str, summary: str, add_help: bool) -> argparse.ArgumentParser:
    """The command line of the documented TCP servers (``tcp_server``, ``stream_server``):
    ``--host``, ``--port`` (default localhost port 9999), ``--threading``."""
    parser = build_parser(
        prog,
        summary + ". Prints each request to standard output; Ctrl-C stops it.",
        add_help,
    )
    add_address_arguments(parser, protocol="TCP")
    add_threading_argument(parser)
    return parser


def add_timeout_argument(parser: argparse.ArgumentParser, default: float = 5.0) -> None:
    """Add ``--timeout``: the documented clients wait forever, ours give up and say why."""
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=default,
        help="seconds to wait for the server before giving up (default: %(default)s)",
    )


class _Words(argparse.Action):
    """Keep the words, unless all of them are blank: that would send only a newline."""

    def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[no-untyped-def]
        if not "".join(values).strip():
            parser.error("the words to send are blank: give at least one word with text")
        setattr(namespace, self.dest, values)


def add_words_argument(parser: argparse.ArgumentParser, example: str) -> None:
    """Add the words a client sends: at least one with text, as for a required argument."""
    parser.add_argument(
        "words",
        nargs="+",
        action=_Words,
        metavar="WORD",
        help=f"the words to send, joined by spaces, e.g. {example}; put words that "
        "start with - after --",
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


# -- Running a server -----------------------------------------------------------------------


def announce(server: object) -> None:
    """Tell standard error where the server listens, once it does."""
    listening = server.socket  # type: ignore[attr-defined]
    kind = "UDP" if listening.type == socket.SOCK_DGRAM else "TCP"
    host, port = listening.getsockname()[:2]
    if host in ALL_INTERFACES:
        print(
            "Warning: listening on all interfaces, not only on this machine's loopback; "
            "pass --host localhost to listen on loopback only.",
            file=sys.stderr,
        )
    shown_host = f"[{host}]" if ":" in host else host
    print(f"Serving {kind} on {shown_host} port {port}; press Ctrl-C to stop.", file=sys.stderr)


def run_server(
    serve: Callable[[str, int], None], host: str, port: int, program: str, protocol: str
) -> int:
    """Run ``serve(host, port)`` until Ctrl-C; turn an address it cannot use into one line."""
    try:
        with stop_on_ctrl_c():
            serve(host, port)
    except KeyboardInterrupt:
        # The server's ``with`` block has already closed it on the way out.
        print("Stopped by Ctrl-C; the server is closed.", file=sys.stderr)
        return EXIT_OK
    except OSError as error:
        message = describe_address_error(error, host, port, protocol=protocol, role="server")
        if message is None:
            raise
        return fail(program, message)
    return EXIT_OK


def run_tcp_server(
    serve: Callable[[str, int], None],
    handler_class: type,
    args: argparse.Namespace,
    program: str,
) -> int:
    """Run a documented TCP server until Ctrl-C: ``serve(host, port)`` (the documented main
    block), or, given ``--threading``, ``handler_class`` on a ``ThreadingTCPServer``."""
    chosen = functools.partial(serve_threading, handler_class) if args.threading else serve
    return run_server(chosen, args.host, args.port, program, "TCP")


def serve_threading(handler_class: type, host: str, port: int) -> None:
    """The documented main block with a thread per connection (``--threading``), as in the
    tutorial's step 6."""
    with socketserver.ThreadingTCPServer((host, port), handler_class) as server:
        announce(server)
        server.serve_forever()


@contextlib.contextmanager
def stop_on_ctrl_c() -> Iterator[None]:
    """First Ctrl-C: stop cleanly, saying what the stop waits for. Second: stop at once.

    The first press raises ``KeyboardInterrupt``, as Python's own handler does, and
    the server's ``with`` block closes it. A ``ThreadingMixIn`` server's
    ``server_close()`` then joins its request threads (``block_on_close``), and the
    interpreter would join them again at exit; a handler blocked on a client that
    stays connected keeps that going for as long as the client stays. So the first
    press names the threads it will wait for, and the second ends the process the
    way an unhandled Ctrl-C does: killed by SIGINT, abandoning those requests.

    Two presses that reach the process before Python has run the handler for the
    first count as one: Python notes that a signal came, not how many times.

    Only where Python's default handler is in place, in the main thread; anything
    else (a signal ignored by a parent shell, a caller's own handler) is left alone.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    presses = 0

    def on_ctrl_c(signum: int, frame: FrameType | None) -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            waiting = threads_in_progress()
            if waiting:
                say(
                    f"Ctrl-C: stopping once {plural(len(waiting), 'request')} still in progress "
                    f"{'ends' if len(waiting) == 1 else 'end'} ({thread_names(waiting)}); a client "
                    "that stays connected can keep a request going. "
                    "Press Ctrl-C again to stop at once."
                )
            raise KeyboardInterrupt
        say(
            "Second Ctrl-C: stopping at once, abandoning "
            f"{plural(len(threads_in_progress()), 'request')} in progress."
        )
        end_by_sigint()

    previous = signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def threads_in_progress() -> list[threading.Thread]:
    """The threads the program must wait for before it can end: live, not daemon, not main."""
    main = threading.main_thread()
    return [t for t in threading.enumerate() if t is not main and not t.daemon and t.is_alive()]


def thread_names(threads: list[threading.Thread], shown: int = 3) -> str:
    """The first ``shown`` names, and how many more there are."""
    names = ", ".join(thread.name for thread in threads[:shown])
    return names + (f" and {len(threads) - shown} more" if len(threads) > shown else "")


def say(line: str) -> None:
    """Write a line to standard error from a signal handler.

    ``os.write`` and not ``print``: the handler may run while the main thread is in
    the middle of a ``print`` of its own, and re-entering a buffered stream raises.
    """
    os.write(sys.stderr.fileno(), (line + "\n").encode("utf-8", "replace"))


def end_by_sigint() -> None:
    """End the process at once, as killed by SIGINT: what an unhandled Ctrl-C does."""
    with contextlib.suppress(OSError, ValueError, RuntimeError):
        sys.stdout.flush()  # what handlers printed so far, if the main thread is not mid-print
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)
    os._exit(128 + signal.SIGINT)  # not reached where SIGINT kills (POSIX)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


# -- Errors as one line ---------------------------------------------------------------------


def describe_address_error(
    error: BaseException, host: str, port: int, *, protocol: str, role: str
) -> str | None:
    """Say in one line what is wrong with ``host``/``port`` and what to do; None if unknown.

    Servers: the core adds its own explanation to a bind error (in this version, a
    note on the error itself; a new error with the original as ``__cause__`` is
    understood too). We describe the system's error, by its type and errno, so the
    line says each thing once, whatever the core's wording. Clients get their errors
    straight from ``socket``.
    """
    original = error.__cause__ if isinstance(error.__cause__, OSError) else error
    if not isinstance(original, OSError):
        return None
    where = f"{protocol} port {port} on {host or 'all interfaces'}"
    if isinstance(original, socket.gaierror):
        return describe_resolution_error(original, host)
    if role == "server" and original.errno == errno.EADDRINUSE:
        return describe_port_in_use(where, protocol)
    if role == "server" and original.errno == errno.EACCES:
        return describe_permission_denied(where, original)
    if original.errno == errno.EADDRNOTAVAIL:
        return f"{host!r} is not an address of this machine; pass --host localhost"
    if role == "server" and (original is not error or getattr(error, "__notes__", None)):
        # Another error the core's bind explained: the system's words, once.
        return f"cannot listen on {where}: {original.strerror or original}"
    return None


def describe_resolution_error(error: socket.gaierror, host: str, *, ipv4_only: bool = False) -> str:
    """``getaddrinfo`` could not turn ``host`` into an address the socket can use.

    ``ipv4_only``: the program's socket is ``AF_INET`` whatever the host (the documented
    clients), so an IPv6 address is no use to it, with brackets or without.
    """
    if error.errno == getattr(socket, "EAI_ADDRFAMILY", None):
        # An IPv6 address given to an IPv4 socket (the documented clients are AF_INET).
        return (
            f"{host!r} is not an IPv4 address, and this program speaks IPv4 "
            f"({error.strerror}); pass --host with an IPv4 address or name, e.g. 127.0.0.1"
        )
    if host.startswith("[") and host.endswith("]"):
        # A URL writes an IPv6 address in brackets; a socket address does not.
        if ipv4_only and ":" in host:
            return (
                f"{host!r} is an IPv6 address written as in a URL, and this program speaks "
                "IPv4; pass --host with an IPv4 address or name, e.g. 127.0.0.1"
            )
        return (
            f"cannot resolve host {host!r} ({error.strerror}); drop the brackets, which "
            f"belong in URLs only: --host {host[1:-1]}"
        )
    return f"cannot resolve host {host!r} ({error.strerror}); pass --host with a name or address"


def describe_port_in_use(where: str, protocol: str) -> str:
    """EADDRINUSE: who may hold the port depends on the protocol."""
    if protocol == "UDP":
        # UDP has no connections, so nothing outlives a closed socket: only a socket
        # that is still open holds the port.
        return (
            f"{where} is already in use: another program has a socket open on it; stop "
            "that program, or pass --port with another number (0 picks a free one)"
        )
    # A connection the server closed first waits in TIME_WAIT (60 s on Linux), and
    # keeps the port unless both the old and the new server set SO_REUSEADDR; the
    # documented servers, like the stdlib's TCPServer, do not (allow_reuse_address).
    return (
        f"{where} is already in use: another program is listening on it, or a server "
        "stopped there less than a minute ago and its closed connections still hold the "
        "port (TCP's TIME_WAIT); stop the other program, wait a minute, or pass --port "
        "with another number (0 picks a free one)"
    )


def describe_permission_denied(where: str, error: OSError) -> str:
    """EACCES: on Linux, the kernel says which ports need privileges (CAP_NET_BIND_SERVICE)."""
    start = unprivileged_port_start()
    if start is None:
        return f"not allowed to listen on {where} ({error.strerror}); pass --port with another one"
    return (
        f"not allowed to listen on {where} ({error.strerror}): on this machine ports below "
        f"{start} need privileges; pass --port with a number from {start} up"
    )


def unprivileged_port_start() -> int | None:
    """The lowest port anyone may bind, from Linux's sysctl; None where it cannot be read."""
    try:
        with open(UNPRIVILEGED_PORT_START) as setting:
            return int(setting.read())
    except (OSError, ValueError):
        return None


def fail(program: str, message: str) -> int:
    """Print one line to standard error and return the error exit status."""
    print(f"{program}: error: {message}", file=sys.stderr)
    return EXIT_ERROR

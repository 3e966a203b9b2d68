"""A client that vanishes never turns the framework's own clean-up into an error.

When a client goes away in the middle of a conversation (a reset, an early close, a
client that never reads), two kinds of code meet the failure:

* the handler's own code (``handle()`` reading or writing): that error reaches
  ``handle_error()``, as documented, and that is right: the handler was talking;
* the framework's tidying after the handler (``finish()`` flushing and closing
  ``wfile`` and ``rfile``, the datagram reply, ``shutdown_request()``,
  ``close_request()``): that must never raise, print a traceback or leave a file
  object or a socket open.

The matrix below runs every server kind (synchronous, threading, thread pool,
forking; TCP, Unix stream, UDP, Unix datagram) with every stream handler variant
(``BaseRequestHandler``, ``StreamRequestHandler`` with an unbuffered and a buffered
``wfile``) and ``DatagramRequestHandler``, and makes the client vanish at each point
of the conversation. The handler records every exception its own code raises; the
server records every exception ``handle_error()`` receives (in a file, so forked
children can record too). Every exception ``handle_error()`` saw must be one the
handler raised itself. Descriptors are counted before and after, and a well-behaved
client must be served afterwards.

The last tests run two of these cases on the stdlib, where the framework's clean-up
does raise: they back what the Beyond-the-stdlib page says.
"""

from __future__ import annotations

import os
import select
import socket
import socketserver as stdlib_socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from server_support import JOIN_TIMEOUT, open_descriptor_count

import socketserver_lit as ss

# Longest any single wait in these conversations may take before the test calls it a hang.
WAIT = 5.0
# A reply larger than every socket buffer on loopback, so a client that never reads
# makes the server's send block.
LARGE_REPLY = b"x" * (16 * 1024 * 1024)


def record(server: Any, kind: str, error: BaseException) -> None:
    """Append one line to the server's log: works from threads and forked children."""
    line = f"{kind} {os.getpid()}:{id(error)} {type(error).__name__}\n"
    fd = os.open(server.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def read_log(path: Path) -> list[tuple[str, str, str]]:
    if not path.exists():
        return []
    return [tuple(line.split()) for line in path.read_text().splitlines()]  # type: ignore[misc]


def wait_until_peer_gone(sock: socket.socket) -> None:
    """Block (bounded) until the client's reset or close has reached this socket."""
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLERR | select.POLLHUP)
    poller.poll(WAIT * 1000)
    time.sleep(0.01)  # let the kernel finish processing the reset


# -- the stream conversation, from the server's side -------------------------------------------


def stream_conversation(handler: Any, vanish: str) -> None:
    """What the handler does; the client vanishes at ``vanish`` (see CLIENT_PROGRAM)."""
    sock = handler.request
    request = sock.recv(100) if handler.kind == "base" else handler.rfile.readline(100)
    if vanish == "before-request" and request == b"":
        write_reply(handler, b"too late\n")  # the client is gone already
        return
    if request != b"request\n":
        write_reply(handler, request)  # the well-behaved client's check: an echo
        return
    sock.sendall(b"ack\n")  # the client waits for this before it vanishes
    if vanish in ("after-request", "closes-early"):
        wait_until_peer_gone(sock)
        write_reply(handler, b"reply\n")
        write_reply(handler, b"more\n")  # an early close often fails only the second send
    elif vanish == "never-reads":
        write_reply(handler, LARGE_REPLY)  # blocks until the client resets
    elif vanish == "after-reply":
        write_reply(handler, b"reply\n", flush=True)
        wait_until_peer_gone(sock)


def write_reply(handler: Any, data: bytes, flush: bool = False) -> None:
    if handler.kind == "base":
        handler.request.sendall(data)
        return
    handler.wfile.write(data)
    if flush:
        handler.wfile.flush()


# The client's half runs in a process of its own. A forking server's child inherits
# every descriptor of the process it was forked from; a client socket living in the
# test's own process would be copied into that child, and closing "the" client would
# then close only one copy: no reset would ever reach the server.
CLIENT_PROGRAM = """
import socket, struct, sys, time
family, vanish, address = int(sys.argv[1]), sys.argv[2], sys.argv[3]
if family != socket.AF_UNIX:
    host, port = address.rsplit(":", 1)
    address = (host, int(port))

def reset(client):
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()

client = socket.socket(family, socket.SOCK_STREAM)
client.settimeout(float(sys.argv[4]))
client.connect(address)
if vanish == "before-request":
    reset(client)
    sys.exit(0)
client.sendall(b"request\\n")
assert client.recv(4) == b"ack\\n"
if vanish == "after-request":
    reset(client)
elif vanish == "closes-early":
    client.close()  # a clean close: FIN, not RST
elif vanish == "never-reads":
    time.sleep(0.2)  # the server is now blocked in send(); never read, then reset
    reset(client)
elif vanish == "after-reply":
    assert client.recv(6) == b"reply\\n"
    reset(client)
"""


def client_side(address: Any, family: int, vanish: str) -> None:
    """Connect from another process, and vanish at the agreed point."""
    shown = address if isinstance(address, str) else f"{address[0]}:{address[1]}"
    completed = subprocess.run(
        [sys.executable, "-c", CLIENT_PROGRAM, str(int(family)), vanish, shown, str(WAIT)],
        capture_output=True,
        text=True,
        timeout=4 * WAIT,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr


def handler_class(base: Any, kind: str, vanish: str) -> Any:
    class Handler(base):  # type: ignore[misc, valid-type]
        if kind == "buffered":
            wbufsize = -1

        def handle(self) -> None:
            self.kind = kind
            try:
                stream_conversation(self, vanish)
            except BaseException as error:
                record(self.server, "handler", error)
                raise

    return Handler


def server_class(base: Any) -> Any:
    class Server(base):  # type: ignore[misc, valid-type]
        log_path = ""

        def handle_error(self, request: Any, client_address: Any) -> None:
            record(self, "handle_error", sys.exc_info()[1])  # type: ignore[arg-type]

    return Server


STREAM_SERVERS = [
    pytest.param("TCPServer", id="tcp"),
    pytest.param("ThreadingTCPServer", id="threading-tcp"),
    pytest.param("ThreadPoolTCPServer", id="thread-pool-tcp"),
    pytest.param("ForkingTCPServer", id="forking-tcp", marks=pytest.mark.fork),
    pytest.param("UnixStreamServer", id="unix-stream", marks=pytest.mark.unix),
    pytest.param("ThreadingUnixStreamServer", id="threading-unix-stream", marks=pytest.mark.unix),
]
STREAM_HANDLERS = ["base", "unbuffered", "buffered"]
VANISH_POINTS = ["before-request", "after-request", "closes-early", "never-reads", "after-reply"]


def run_stream_case(module: Any, server_name: str, kind: str, vanish: str, tmp_path: Path):
    """Run one conversation; return the log of errors and the descriptor counts."""
    base = module.BaseRequestHandler if kind == "base" else module.StreamRequestHandler
    Server = server_class(getattr(module, server_name))
    unix = "Unix" in server_name
    address: Any = str(tmp_path / "server.sock") if unix else ("127.0.0.1", 0)
    family = socket.AF_UNIX if unix else socket.AF_INET
    before = open_descriptor_count()
    server = Server(address, handler_class(base, kind, vanish))
    server.log_path = str(tmp_path / "errors.log")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,))
    thread.start()
    try:
        client_side(server.server_address, family, vanish)
        # A well-behaved client afterwards: the server is still serving.
        with socket.socket(family, socket.SOCK_STREAM) as check:
            check.settimeout(WAIT)
            check.connect(server.server_address)
            check.sendall(b"hello\n")
            check.shutdown(socket.SHUT_WR)
            echoed = b""
            while chunk := check.recv(100):
                echoed += chunk
            assert echoed == b"hello\n"
    finally:
        server.shutdown()
        thread.join(JOIN_TIMEOUT)
        server.server_close()
        if unix and os.path.exists(address):
            os.unlink(address)
    assert not thread.is_alive()
    if server_name.startswith("Forking"):
        time.sleep(0)  # children were reaped by server_close(); their log lines are written
    return read_log(Path(server.log_path)), before, open_descriptor_count()


def framework_errors(log: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """handle_error() calls whose exception the handler's own code did not raise."""
    raised_by_handler = {entry[1] for entry in log if entry[0] == "handler"}
    return [
        entry for entry in log if entry[0] == "handle_error" and entry[1] not in raised_by_handler
    ]


@pytest.mark.parametrize("vanish", VANISH_POINTS)
@pytest.mark.parametrize("kind", STREAM_HANDLERS)
@pytest.mark.parametrize("server_name", STREAM_SERVERS)
def test_a_vanishing_stream_client_never_makes_the_framework_clean_up_fail(
    server_name, kind, vanish, tmp_path
):
    log, before, after = run_stream_case(ss, server_name, kind, vanish, tmp_path)
    assert framework_errors(log) == [], f"the framework's clean-up raised: {log}"
    # Every error the handler raised did reach handle_error(), as documented.
    handler_errors = {entry[1] for entry in log if entry[0] == "handler"}
    reported = {entry[1] for entry in log if entry[0] == "handle_error"}
    assert handler_errors == reported
    assert after == before, f"descriptors leaked: {before} open before, {after} after"


def test_a_client_that_never_reads_is_an_error_of_the_handlers_own_send(tmp_path):
    # The matrix accepts "no error" as well; this case shows the handler's own error
    # does arrive where the documentation says: handle_error(), once.
    log, _before, _after = run_stream_case(ss, "TCPServer", "unbuffered", "never-reads", tmp_path)
    assert [entry[0] for entry in log] == ["handler", "handle_error"]
    assert log[0][2] in {"ConnectionResetError", "BrokenPipeError"}


# -- datagram servers --------------------------------------------------------------------------

DATAGRAM_SERVERS = [
    pytest.param("UDPServer", id="udp"),
    pytest.param("ThreadingUDPServer", id="threading-udp"),
    pytest.param("ThreadPoolUDPServer", id="thread-pool-udp"),
    pytest.param("ForkingUDPServer", id="forking-udp", marks=pytest.mark.fork),
    pytest.param("UnixDatagramServer", id="unix-datagram", marks=pytest.mark.unix),
    pytest.param(
        "ThreadingUnixDatagramServer", id="threading-unix-datagram", marks=pytest.mark.unix
    ),
    pytest.param(
        "ForkingUnixDatagramServer",
        id="forking-unix-datagram",
        marks=[pytest.mark.unix, pytest.mark.fork],
    ),
]


def datagram_handler_class(module: Any) -> Any:
    class Handler(module.DatagramRequestHandler):  # type: ignore[misc, name-defined]
        def handle(self) -> None:
            try:
                self.wfile.write(self.rfile.read().upper())
                gone_marker = self.server.gone_marker
                deadline = time.monotonic() + WAIT
                # Reply only once the client has gone (bounded wait).
                while not os.path.exists(gone_marker) and time.monotonic() < deadline:
                    time.sleep(0.005)
            except BaseException as error:
                record(self.server, "handler", error)
                raise

        def finish(self) -> None:
            try:
                super().finish()
            finally:
                if self.packet == b"ping":
                    Path(self.server.gone_marker + ".replied").touch()

    return Handler


def run_datagram_case(module: Any, server_name: str, tmp_path: Path):
    Server = server_class(getattr(module, server_name))
    unix = "Unix" in server_name
    family = socket.AF_UNIX if unix else socket.AF_INET
    address: Any = str(tmp_path / "server.sock") if unix else ("127.0.0.1", 0)
    before = open_descriptor_count()
    server = Server(address, datagram_handler_class(module))
    server.log_path = str(tmp_path / "errors.log")
    server.gone_marker = str(tmp_path / "client-gone")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,))
    thread.start()
    try:
        client = socket.socket(family, socket.SOCK_DGRAM)
        client_path = str(tmp_path / "client.sock")
        client.bind(client_path if unix else ("127.0.0.1", 0))
        client.sendto(b"ping", server.server_address)
        client.close()  # the client vanishes before the reply
        if unix:
            os.unlink(client_path)  # and, for a Unix client, so does its address
        Path(server.gone_marker).touch()
        # A well-behaved client afterwards.
        with socket.socket(family, socket.SOCK_DGRAM) as check:
            check.settimeout(WAIT)
            check.bind(str(tmp_path / "check.sock") if unix else ("127.0.0.1", 0))
            check.sendto(b"hello", server.server_address)
            assert check.recv(100) == b"HELLO"
        # The vanished client's request must be over before the server closes its
        # socket: a thread still replying then would fail for another reason.
        deadline = time.monotonic() + WAIT
        while not os.path.exists(server.gone_marker + ".replied"):
            assert time.monotonic() < deadline, "the first request never finished"
            time.sleep(0.005)
    finally:
        server.shutdown()
        thread.join(JOIN_TIMEOUT)
        server.server_close()
        for leftover in ("server.sock", "check.sock"):
            if (tmp_path / leftover).exists():
                (tmp_path / leftover).unlink()
    assert not thread.is_alive()
    return read_log(Path(server.log_path)), before, open_descriptor_count()


@pytest.mark.parametrize("server_name", DATAGRAM_SERVERS)
def test_a_vanishing_datagram_client_never_makes_the_reply_an_error(server_name, tmp_path):
    log, before, after = run_datagram_case(ss, server_name, tmp_path)
    assert log == [], f"errors after the client vanished: {log}"
    assert after == before


def test_a_datagram_reply_too_long_is_still_reported(serve):
    # Only a vanished Unix client is forgiven; a real failure of the reply is not.
    errors = []

    class TooLong(ss.DatagramRequestHandler):
        def handle(self) -> None:
            self.wfile.write(b"x" * 70_000)  # more than one UDP datagram can carry

    class Capturing(ss.UDPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            errors.append(sys.exc_info()[1])

    with serve(Capturing(("127.0.0.1", 0), TooLong)) as server:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.sendto(b"go", server.server_address)
            deadline = time.monotonic() + WAIT
            while not errors and time.monotonic() < deadline:
                time.sleep(0.01)
    assert len(errors) == 1 and isinstance(errors[0], OSError)


# -- where the stdlib itself fails (backs the Beyond-the-stdlib page) ---------------------------


# Where the stdlib's own clean-up fails (measured on 3.10-3.13, the same every run): a
# buffered wfile whose client has gone. Its finish() drops the flush error, but
# close() flushes again and that error escapes to handle_error(). Over TCP it takes a
# reset; a Unix socket fails a send as soon as its peer has closed at all.
STDLIB_FAILURES = [
    pytest.param("TCPServer", "after-request", id="tcp-after-request"),
    pytest.param("ThreadingTCPServer", "after-request", id="threading-tcp-after-request"),
    pytest.param(
        "ForkingTCPServer", "after-request", id="forking-tcp-after-request", marks=pytest.mark.fork
    ),
    *(
        pytest.param(server, vanish, id=f"{server}-{vanish}", marks=pytest.mark.unix)
        for server in ("UnixStreamServer", "ThreadingUnixStreamServer")
        for vanish in ("before-request", "after-request", "closes-early")
    ),
]


@pytest.mark.parametrize(("server_name", "vanish"), STDLIB_FAILURES)
def test_stdlib_reports_its_own_failed_final_flush_through_handle_error(
    server_name, vanish, tmp_path
):
    (tmp_path / "stdlib").mkdir()
    log, _before, _after = run_stream_case(
        stdlib_socketserver, server_name, "buffered", vanish, tmp_path / "stdlib"
    )
    assert [entry[2] for entry in framework_errors(log)] in (
        ["BrokenPipeError"],
        ["ConnectionResetError"],
    )
    (tmp_path / "ours").mkdir()
    log, _before, _after = run_stream_case(ss, server_name, "buffered", vanish, tmp_path / "ours")
    assert framework_errors(log) == []


@pytest.mark.unix
def test_stdlib_reports_a_vanished_unix_datagram_client_through_handle_error(tmp_path):
    log, _before, _after = run_datagram_case(stdlib_socketserver, "UnixDatagramServer", tmp_path)
    assert [entry[0] for entry in log] == ["handle_error"]
    assert log[0][2] in {"FileNotFoundError", "ConnectionRefusedError"}

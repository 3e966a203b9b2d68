"""What course notebook 15 says about exposing a server safely, run.

``notebooks/course/15-exposing-safely.ipynb`` shows most of what it claims in its own outputs,
on Python 3.11 and 3.13. Each test here backs one sentence that the notebook states but does not
show (or shows for one case, or on one module only), so that it also holds on 3.10 and 3.12:
what a bind address holds, how ``rfile`` reads, what ``verify_request()`` sees and when, what
``SO_PEERCRED`` and Unix file permissions say, and how mutual TLS refuses a client. Every test
names the notebook and quotes its sentence in the docstring. Where a sentence is about
``socketserver``, the test runs it on the standard library's module and on ours.

Platform: Linux (``/proc/net/tcp``, ``SO_PEERCRED``, the 127.0.0.0/8 loopback block, Unix
socket permissions); Python 3.10 to 3.13; the ``openssl`` command-line tool makes the
certificates. Tests that run a client as another user need root, and say so. Traffic goes to
loopback and Unix sockets only; a few servers bind a wildcard address for a moment and serve
no one. Every socket is closed, every server shut down and closed, every child process reaped,
every wait bounded.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import ipaddress
import os
import select
import shutil
import signal
import socket
import ssl
import stat
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import claims_support
import pytest
from claims_support import MODULES
from server_support import receive_all, wait_for
from server_support import serving as serving_with

import socketserver_lit

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="these claims are about Linux"
)
needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="running a client as another user needs root"
)

NOTEBOOK = "15-exposing-safely"

# Seconds any socket call, child process or helper program may take before the test fails.
WAIT = 5.0
# The user the notebook's child processes switch to: `nobody` on Debian and most Linux systems.
NOBODY = 65534
UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


# The stdlib's socketserver, then ours, for each test that takes ``module``.
module = claims_support.stdlib_then_ours


@pytest.fixture
def workdir() -> Iterator[str]:
    """A fresh temporary directory that other users may enter (mode 0o755)."""
    path = tempfile.mkdtemp(prefix="claims15-")
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def serving(server: Any, poll_interval: float = 0.05):
    """server_support.serving, with a loop that notices shutdown() within 0.05 s on both modules
    (the stdlib's loop polls every 0.5 s by default)."""
    return serving_with(server, poll_interval=poll_interval)


def recv_line(sock: socket.socket, limit: int = 1000) -> bytes:
    data = b""
    while not data.endswith(b"\n") and len(data) < limit:
        chunk = sock.recv(limit - len(data))
        if not chunk:
            break
        data += chunk
    return data


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    pid, uid, gid = UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, UCRED.size))
    return pid, uid, gid


def bind_outcome(family: int, address: Any) -> str:
    """Bind a fresh socket (no SO_REUSEADDR) to `address`: "bound" or the errno's name."""
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(address)
        except OSError as error:
            return errno.errorcode[error.errno]
        return "bound"


def in_child(work: Callable[[], str]) -> str:
    """Run `work()` in a forked child process; return the text it returned (bounded by WAIT)."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        try:
            os.close(reader)
            try:
                told = work()
            except BaseException as error:  # report it, do not raise into pytest's copy
                told = f"child raised {type(error).__name__}: {error}"
            os.write(writer, told.encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as report:
        ready, _, _ = select.select([report], [], [], WAIT)
        told = report.read().decode() if ready else None
    if told is None:
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    assert told is not None, f"the child process told nothing within {WAIT} s"
    return told


def become(uid: int) -> None:
    """Switch this (child) process to user and group `uid`, groups first."""
    os.setgid(uid)
    os.setgroups([])
    os.setuid(uid)


def connect_and_tell(path: str) -> str:
    """The notebook's connect_and_tell(): connect to a Unix socket and read; say what happened."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(WAIT)
            client.connect(path)
            reply = recv_line(client)
    except OSError as error:
        return f"connect() raised {type(error).__name__}"
    return f"served {reply!r}" if reply else "refused: read b''"


def knock_as(uid: int, path: str) -> str:
    def work() -> str:
        become(uid)
        return connect_and_tell(path)

    return in_child(work)


def greeting_handler(module):
    class GreetingHandler(module.StreamRequestHandler):
        def handle(self):
            self.wfile.write(b"welcome\n")

    return GreetingHandler


# -- Defaults ----------------------------------------------------------------------------------


def test_by_default_socketserver_admits_every_client_and_reads_without_a_timeout(module):
    """15-exposing-safely: "by default verify_request() admits every client, and a
    StreamRequestHandler reads with no time limit"."""
    events: list[str] = []

    class WaitingHandler(module.StreamRequestHandler):
        def handle(self):
            events.append("reading")
            self.rfile.readline(1000)
            events.append("read returned")

    assert module.StreamRequestHandler.timeout is None
    with serving(module.ThreadingTCPServer(("127.0.0.1", 0), WaitingHandler)) as server:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
            client.settimeout(WAIT)
            client.bind(("127.0.0.2", 0))  # an address no one put on any list
            client.connect(server.server_address)
            wait_for(lambda: events == ["reading"], "the handler to start reading")
            time.sleep(1.0)  # a silent client: the read goes on waiting
            assert events == ["reading"]
        wait_for(lambda: events == ["reading", "read returned"], "the read to end at close")


# -- 1. Where the server listens -----------------------------------------------------------------


def local_ipv4_addresses() -> list[str]:
    """Every IPv4 address of this machine's interfaces (Linux: SIOCGIFADDR per interface)."""
    siocgifaddr = 0x8915
    addresses = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in socket.if_nameindex():
            request = struct.pack("256s", name.encode()[:15])
            try:
                answer = fcntl.ioctl(probe.fileno(), siocgifaddr, request)
            except OSError:  # an interface with no IPv4 address
                continue
            addresses.append(socket.inet_ntoa(answer[20:24]))
    return addresses


def ipv4_rows_on(port: int, address: str | None = None) -> list[str]:
    """States of the /proc/net/tcp rows on local `port` (and `address`, if given)."""
    states = []
    with open("/proc/net/tcp") as rows:
        for row in list(rows)[1:]:
            fields = row.split()
            hex_address, hex_port = fields[1].split(":")
            local = socket.inet_ntoa(int(hex_address, 16).to_bytes(4, sys.byteorder))
            if int(hex_port, 16) == port and address in (None, local):
                states.append(fields[3])
    return states


def server_on_a_quiet_port(make_server: Callable[[], Any], quiet: Callable[[int], bool]) -> Any:
    """make_server() until its port is `quiet` (at most 20 tries); return that server.

    A port the kernel gives one server may still be held, on another address, by a
    connection of an earlier test in TIME_WAIT; a bind probe there would fail for that
    reason, not for the reason a test is about.
    """
    for _ in range(20):
        server = make_server()
        if quiet(server.server_address[1]):
            return server
        server.server_close()
    raise AssertionError("20 servers in a row got a port that other sockets still hold")


def test_a_server_on_0_0_0_0_holds_its_port_on_every_ipv4_address_of_the_machine(module):
    """15-exposing-safely: "0.0.0.0 ... every IPv4 address of the machine, including those that
    other machines reach"; "(The same holds for every IPv4 address of the machine...)". Only
    binds are tried: no traffic leaves loopback."""
    addresses = local_ipv4_addresses()
    assert "127.0.0.1" in addresses
    with module.TCPServer(("0.0.0.0", 0), module.BaseRequestHandler) as server:
        port = server.server_address[1]
        outcomes = {
            address: bind_outcome(socket.AF_INET, (address, port))
            for address in [*addresses, "127.0.0.2"]
        }
    assert set(outcomes.values()) == {"EADDRINUSE"}, outcomes
    server = server_on_a_quiet_port(
        lambda: module.TCPServer(("127.0.0.1", 0), module.BaseRequestHandler),
        lambda port: ipv4_rows_on(port, "127.0.0.2") == [],
    )
    with server:
        assert bind_outcome(socket.AF_INET, ("127.0.0.2", server.server_address[1])) == "bound"


def dual_stack_class(module, v6only: int):
    class DualStackServer(module.TCPServer):
        address_family = socket.AF_INET6

        def server_bind(self):
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
            super().server_bind()

    return DualStackServer


def test_a_dual_stack_server_on_the_any_address_holds_its_port_for_ipv4_too(module):
    """15-exposing-safely: ":: ... every IPv6 address; with IPV6_V6ONLY off (dual stack), every
    IPv4 address too"."""
    outcomes = {}
    for v6only in (0, 1):
        server_class = dual_stack_class(module, v6only)
        server = server_on_a_quiet_port(
            functools.partial(server_class, ("::", 0), module.BaseRequestHandler),
            lambda port: ipv4_rows_on(port) == [],
        )
        with server:
            port = server.server_address[1]
            outcomes[v6only] = (
                bind_outcome(socket.AF_INET, ("127.0.0.1", port)),
                bind_outcome(socket.AF_INET6, ("::1", port)),
            )
    assert outcomes == {0: ("EADDRINUSE", "EADDRINUSE"), 1: ("bound", "EADDRINUSE")}


def listening_on(port: int) -> list[str]:
    """The notebook's listening_on(): LISTEN rows of /proc/net/tcp and tcp6 for `port`."""
    found = []
    for table in ("tcp", "tcp6"):
        with open(f"/proc/net/{table}") as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                address, hex_port = fields[1].rsplit(":", 1)
                if int(hex_port, 16) == port and fields[3] == "0A":
                    words = [
                        int(address[i : i + 8], 16).to_bytes(4, sys.byteorder)
                        for i in range(0, len(address), 8)
                    ]
                    packed = b"".join(words)
                    family = socket.AF_INET if len(packed) == 4 else socket.AF_INET6
                    found.append(f"{table}: {socket.inet_ntop(family, packed)}")
    return found


def test_who_reaches_a_server_and_what_the_kernel_lists_depend_on_its_bind_address(module):
    """15-exposing-safely, section 1: the table of bind addresses, the kernel's listening table,
    and "The connection to 127.0.0.2 was refused exactly as if nobody listened on that port",
    on both modules (the notebook compares them on the Pythons that check it)."""

    class WhoAmIHandler(module.StreamRequestHandler):
        def handle(self):
            self.wfile.write(f"{self.client_address[0]}\n".encode())

    def outcome(host: str, port: int) -> str:
        try:
            with socket.create_connection((host, port), timeout=WAIT) as client:
                return recv_line(client).decode().strip()
        except ConnectionRefusedError:
            return "refused"

    servers = {
        "127.0.0.1": module.ThreadingTCPServer,
        "0.0.0.0": module.ThreadingTCPServer,
        "::1": dual_stack_class(module, 1),
        "::": dual_stack_class(module, 0),
    }
    seen = {}
    for host, server_class in servers.items():
        with serving(server_class((host, 0), WhoAmIHandler)) as server:
            port = server.server_address[1]
            seen[host] = (
                listening_on(port),
                [outcome(target, port) for target in ("127.0.0.1", "127.0.0.2", "::1")],
            )
    assert seen == {
        "127.0.0.1": (["tcp: 127.0.0.1"], ["127.0.0.1", "refused", "refused"]),
        "0.0.0.0": (["tcp: 0.0.0.0"], ["127.0.0.1", "127.0.0.1", "refused"]),
        "::1": (["tcp6: ::1"], ["refused", "refused", "::1"]),
        "::": (["tcp6: ::"], ["::ffff:127.0.0.1", "::ffff:127.0.0.1", "::1"]),
    }
    with socket.socket() as finder:  # a port nobody listens on, on any address
        finder.bind(("127.0.0.1", 0))
        free_port = finder.getsockname()[1]
    assert outcome("127.0.0.1", free_port) == "refused"


# -- 2. Limits on every read ----------------------------------------------------------------------


CHUNK = b"x" * 65536


def test_readline_without_a_limit_returns_only_at_a_newline_or_the_end_of_the_stream(module):
    """15-exposing-safely: "readline() returned only because this client chose to stop: one
    that keeps sending keeps readline() reading, and the line growing"."""
    lengths: list[int] = []

    class NoLimitHandler(module.StreamRequestHandler):
        def handle(self):
            lengths.append(len(self.rfile.readline()))

    with serving(module.ThreadingTCPServer(("127.0.0.1", 0), NoLimitHandler)) as server:
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            for _ in range(128):  # 8 MiB, no newline
                client.sendall(CHUNK)
            time.sleep(0.2)  # room for the handler to read what the kernel holds
            assert lengths == []
            client.shutdown(socket.SHUT_WR)
            wait_for(lambda: lengths != [], "readline() to return at the end of the stream")
    assert lengths == [128 * len(CHUNK)]


def test_readline_with_a_limit_returns_at_most_limit_bytes(module):
    """15-exposing-safely: "With a limit, readline(1000) returns after at most 1000 bytes"."""
    lines: list[bytes] = []

    class LimitHandler(module.StreamRequestHandler):
        def handle(self):
            lines.append(self.rfile.readline(1000))
            lines.append(self.rfile.readline(1000))

    with serving(module.ThreadingTCPServer(("127.0.0.1", 0), LimitHandler)) as server:
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            client.sendall(b"y" * 1500 + b"\n")
            client.shutdown(socket.SHUT_WR)
            receive_all(client)
    assert [len(line) for line in lines] == [1000, 501]


def test_a_client_still_sending_past_the_line_limit_gets_broken_pipe_and_still_reads_the_answer(
    module,
):
    """15-exposing-safely: "The server read 1000 bytes, answered, and closed while the client
    was still sending ... the client's next sendall() failed with BrokenPipeError; the answer,
    which arrived before the reset, could still be read." Repeated, on Linux."""

    class LineLimitHandler(module.StreamRequestHandler):
        def handle(self):
            if not self.rfile.readline(1000).endswith(b"\n"):
                self.wfile.write(b"error: line longer than 1000 bytes\n")

    seen = set()
    with serving(module.ThreadingTCPServer(("127.0.0.1", 0), LineLimitHandler)) as server:
        for _ in range(10):
            with socket.create_connection(server.server_address, timeout=WAIT) as client:
                error = None
                try:
                    for _ in range(256):  # up to 16 MiB
                        client.sendall(CHUNK)
                except OSError as send_error:
                    error = type(send_error).__name__
                seen.add((error, recv_line(client)))
    assert seen == {("BrokenPipeError", b"error: line longer than 1000 bytes\n")}


class CountingSocket(socket.socket):
    """A socket that counts its recv_into() calls (rfile reads with recv_into)."""

    recv_calls = 0

    def recv_into(self, *args, **kwargs):
        self.recv_calls += 1
        return super().recv_into(*args, **kwargs)


def counting_handler(module, read: Callable[[Any], object]):
    """A handler whose connection counts recv_into() calls; `read(handler)` does the reading.

    The handler's results go to `handler_class.results` as (what read returned, calls).
    """

    class CountingHandler(module.StreamRequestHandler):
        results: list[tuple[object, int]] = []

        def setup(self):
            self.request = self.connection = CountingSocket(fileno=self.request.detach())
            super().setup()

        def handle(self):
            result = read(self)
            type(self).results.append((result, self.connection.recv_calls))

        def finish(self):
            try:
                super().finish()
            finally:
                self.request.close()  # the server's own copy was detached in setup()

    return CountingHandler


def test_rfile_peek_makes_at_most_one_recv_call(module):
    """15-exposing-safely: "rfile.peek() returns what rfile already holds, and calls recv() once
    only when it holds nothing" (test test_rfile_peek_makes_at_most_one_recv_call)."""

    def read(handler):
        first = handler.rfile.peek()  # rfile holds nothing: one recv()
        calls_after_first = handler.connection.recv_calls
        again = handler.rfile.peek()  # rfile holds data: no recv()
        taken = handler.rfile.read(len(first))  # takes what peek() showed: no recv()
        handler.connection.settimeout(0.3)
        try:
            handler.rfile.peek()  # nothing held, nothing comes: one recv() that times out
            timed_out = False
        except TimeoutError:
            timed_out = True
        return (first, calls_after_first, again == first, taken == first, timed_out)

    handler_class = counting_handler(module, read)
    with serving(module.ThreadingTCPServer(("127.0.0.1", 0), handler_class)) as server:
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            client.sendall(b"abc\n")
            wait_for(lambda: handler_class.results != [], "the handler to read")
    assert handler_class.results == [((b"abc\n", 1, True, True, True), 2)]


def test_rfile_readline_applies_the_timeout_to_each_recv_not_to_the_whole_line(module):
    """15-exposing-safely: "rfile.readline() ... calls recv() as often as it takes, each time
    with the same timeout"."""

    def read(handler):
        handler.connection.settimeout(1.0)
        started = time.monotonic()
        line = handler.rfile.readline(1000)
        return line, time.monotonic() - started > 1.0

    handler_class = counting_handler(module, read)
    with serving(module.ThreadingTCPServer(("127.0.0.1", 0), handler_class)) as server:
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            for piece in (b"a", b"b", b"c\n"):  # 1.2 s in all, each gap within the timeout
                client.sendall(piece)
                time.sleep(0.6)
            wait_for(lambda: handler_class.results != [], "the handler to read")
    (((line, longer_than_the_timeout), calls),) = handler_class.results
    assert line == b"abc\n" and longer_than_the_timeout
    assert calls == 3


class RequestRefused(Exception):
    pass


def bounded_request_handler(module, deadline: float | None = 1.0):
    """The notebook's BoundedRequestHandler, on `module`'s StreamRequestHandler."""

    class BoundedRequestHandler(module.StreamRequestHandler):
        max_line = 1000
        max_request = 8192
        timeout = 0.5
        request_deadline = deadline

        def setup(self):
            super().setup()
            self.deadline = time.monotonic() + (self.request_deadline or float("inf"))
            self.bytes_left = self.max_request

        def read_line(self):
            limit = min(self.max_line, self.bytes_left)
            line = b""
            while not line.endswith(b"\n"):
                if len(line) == limit:
                    raise RequestRefused(
                        f"line longer than {self.max_line} bytes"
                        if limit == self.max_line
                        else f"request larger than {self.max_request} bytes"
                    )
                seconds_left = self.deadline - time.monotonic()
                if seconds_left <= 0:
                    raise RequestRefused(f"request not complete after {self.request_deadline} s")
                self.connection.settimeout(min(self.timeout, seconds_left))
                try:
                    buffered = self.rfile.peek()
                except TimeoutError:
                    if time.monotonic() >= self.deadline:
                        raise RequestRefused(
                            f"request not complete after {self.request_deadline} s"
                        )
                    raise RequestRefused(f"no data for {self.timeout} s")
                if not buffered:
                    break
                piece = buffered[: limit - len(line)]
                newline = piece.find(b"\n")
                line += self.rfile.read(len(piece) if newline < 0 else newline + 1)
            self.bytes_left -= len(line)
            return line

        def handle(self):
            lines = 0
            try:
                while self.read_line().strip():
                    lines += 1
            except RequestRefused as refusal:
                self.wfile.write(f"refused: {refusal}\n".encode())
                return
            self.wfile.write(f"ok, header lines read: {lines}\n".encode())

    return BoundedRequestHandler


def send_and_read(address, data: bytes) -> bytes:
    with socket.create_connection(address, timeout=WAIT) as client:
        with contextlib.suppress(BrokenPipeError):
            client.sendall(data)
        return recv_line(client)


def drip(address, byte_count: int = 20, pause: float = 0.1) -> bytes:
    with socket.create_connection(address, timeout=WAIT) as client:
        for _ in range(byte_count):
            client.sendall(b"a")
            answered, _, _ = select.select([client], [], [], pause)
            if answered:
                break
        else:
            client.sendall(b"\n\n")
        return recv_line(client)


def test_the_bounded_request_handler_gives_the_same_replies_on_the_stdlib_and_ours():
    """15-exposing-safely: "BoundedRequestHandler runs unchanged on the standard library's
    StreamRequestHandler, with the same replies", for the five clients and for the drip
    without a deadline."""
    replies = {}
    for name, module in MODULES.items():
        server_class, handler_class = module.ThreadingTCPServer, bounded_request_handler(module)
        with serving(server_class(("127.0.0.1", 0), handler_class)) as server:
            address = server.server_address
            replies[name] = [
                send_and_read(address, b"Host: a\nAccept: */*\n\n"),
                send_and_read(address, b"x" * 5000),
                send_and_read(address, b"Header: 12345678\n" * 1000),
                send_and_read(address, b""),
                drip(address),
            ]
        handler_class = bounded_request_handler(module, deadline=None)
        with serving(module.ThreadingTCPServer(("127.0.0.1", 0), handler_class)) as server:
            replies[name].append(drip(server.server_address))
    assert (
        replies["stdlib"]
        == replies["lit"]
        == [
            b"ok, header lines read: 2\n",
            b"refused: line longer than 1000 bytes\n",
            b"refused: request larger than 8192 bytes\n",
            b"refused: no data for 0.5 s\n",
            b"refused: request not complete after 1.0 s\n",
            b"ok, header lines read: 1\n",
        ]
    )


# -- 3. verify_request() as an allow-list ---------------------------------------------------------


def test_verify_request_runs_in_the_serving_thread_before_any_request_thread(module):
    """15-exposing-safely: "The server calls verify_request(request, client_address) for every
    connection it accepts, in the serving thread, before it makes a handler, a thread or a
    process for it. Return False and the server closes the connection" (threads)."""
    calls: list[tuple[str, str, str]] = []

    class AllowListServer(module.ThreadingTCPServer):
        def verify_request(self, request, client_address):
            calls.append(("verify_request", client_address[0], threading.current_thread().name))
            return client_address[0] == "127.0.0.1"

        def process_request(self, request, client_address):
            calls.append(("process_request", client_address[0], ""))
            super().process_request(request, client_address)

    class Handler(module.StreamRequestHandler):
        def handle(self):
            calls.append(("handle", self.client_address[0], threading.current_thread().name))
            self.wfile.write(b"served\n")

    server = AllowListServer(("127.0.0.1", 0), Handler)
    serving_thread = threading.Thread(
        target=server.serve_forever, name="the serving thread", kwargs={"poll_interval": 0.05}
    )
    serving_thread.start()
    try:
        answers = []
        for source in ("127.0.0.2", "127.0.0.1"):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
                client.settimeout(WAIT)
                client.bind((source, 0))
                client.connect(server.server_address)
                answers.append(receive_all(client))
    finally:
        server.shutdown()
        serving_thread.join(WAIT)
        server.server_close()
    assert answers == [b"", b"served\n"]
    assert calls[:3] == [
        ("verify_request", "127.0.0.2", "the serving thread"),
        ("verify_request", "127.0.0.1", "the serving thread"),
        ("process_request", "127.0.0.1", ""),
    ]
    assert calls[3][:2] == ("handle", "127.0.0.1") and calls[3][2] != "the serving thread"


@pytest.mark.fork
def test_verify_request_runs_in_the_parent_before_a_forking_server_forks(module):
    """15-exposing-safely: verify_request runs "before it makes a handler, a thread or a
    process for it" (processes: a refused request forks no child)."""
    pids: list[int] = []

    class RefuseEveryone(module.ForkingTCPServer):
        def verify_request(self, request, client_address):
            pids.append(os.getpid())
            return False

    with RefuseEveryone(("127.0.0.1", 0), module.BaseRequestHandler) as server:
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            server.handle_request()
            assert client.recv(100) == b""
        assert pids == [os.getpid()]
        assert not server.active_children  # None or empty: no child was ever forked


def test_a_refused_client_has_connected_and_reads_the_end_of_the_stream(module):
    """15-exposing-safely: "its connect() succeeded, and then the stream ended, b'', with no
    word of why. The kernel had completed the connection before the server looked at it"."""

    class RefuseEveryone(module.TCPServer):
        def verify_request(self, request, client_address):
            return False

    with RefuseEveryone(("127.0.0.1", 0), module.StreamRequestHandler) as server:
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            client.sendall(b"hello\n")  # connected, and sent, before the server looks
            server.handle_request()
            assert client.recv(100) == b""


def test_an_ipv4_mapped_address_is_in_no_ipv4_network():
    """15-exposing-safely: "those [IPv4-mapped addresses] are not in any IPv4 network"."""
    mapped = ipaddress.ip_address("::ffff:127.0.0.1")
    for network in ("127.0.0.1/32", "127.0.0.0/8", "0.0.0.0/0"):
        assert mapped not in ipaddress.ip_network(network)
    assert mapped.ipv4_mapped in ipaddress.ip_network("127.0.0.1/32")


# -- 4. Unix sockets: who is the client? --------------------------------------------------------


def test_the_umask_is_shared_by_every_thread_of_a_process():
    """15-exposing-safely: "The umask belongs to the whole process, every thread included".
    Run in a fresh process, as the umask is process-wide."""
    program = """
        import os, threading
        os.umask(0o022)
        threading.Thread(target=os.umask, args=(0o177,)).start()  # set in another thread
        for thread in threading.enumerate():
            if thread is not threading.main_thread():
                thread.join()
        print(oct(os.umask(0o022)))  # read in the main thread
    """
    finished = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(program)], capture_output=True, text=True, timeout=60
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.split() == ["0o177"]


def test_a_unix_socket_file_gets_mode_0o777_minus_the_umask_and_0o600_with_umask_0o177(
    module, workdir
):
    """15-exposing-safely: "bind() creates it with mode 0o777 minus the process's umask"; "set
    the umask to 0o177 around bind(). The file is then born with mode 0o600"."""
    modes = {}
    for umask in (0o022, 0o177):
        path = os.path.join(workdir, f"{umask:o}.sock")
        old_umask = os.umask(umask)
        try:
            server = module.UnixStreamServer(path, module.StreamRequestHandler)
        finally:
            os.umask(old_umask)
        with server:
            modes[umask] = stat.S_IMODE(os.stat(path).st_mode)
    assert modes == {0o022: 0o755, 0o177: 0o600}


def test_so_peercred_on_a_tcp_connection_is_pid_0_and_no_user_or_group():
    """15-exposing-safely: "On Linux, asking anyway is no error: the answer is pid 0 and user
    and group -1"."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        with socket.create_connection(listener.getsockname(), timeout=WAIT) as client:
            connection, _ = listener.accept()
            with connection:
                assert peer_credentials(connection) == (0, -1, -1)
                assert peer_credentials(client) == (0, -1, -1)


def test_so_peercred_in_verify_request_names_the_connecting_process(module, workdir):
    """15-exposing-safely: "The kernel records which process connected, and as which user and
    group; the server reads them with the socket option SO_PEERCRED"."""
    seen = []

    class CredentialsServer(module.UnixStreamServer):
        def verify_request(self, request, client_address):
            seen.append(peer_credentials(request))
            return True

    path = os.path.join(workdir, "credentials.sock")
    with CredentialsServer(path, greeting_handler(module)) as server:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(WAIT)
            client.connect(path)
            server.handle_request()
            assert recv_line(client) == b"welcome\n"
    assert seen == [(os.getpid(), os.geteuid(), os.getegid())]


def same_user_check(module, base: str):
    class SameUserServer(getattr(module, base)):
        def verify_request(self, request, client_address):
            pid, uid, gid = peer_credentials(request)
            return uid == os.geteuid()

    return SameUserServer


def test_a_same_user_check_refuses_tcp_clients(module):
    """15-exposing-safely: "A check that compares the user id therefore refuses TCP clients"."""
    with same_user_check(module, "TCPServer")(("127.0.0.1", 0), greeting_handler(module)) as server:
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            server.handle_request()
            assert recv_line(client) == b""


@needs_root
def test_connecting_to_a_unix_socket_needs_write_permission_on_the_file_and_a_way_in(workdir):
    """15-exposing-safely: "On Linux, connecting to a Unix stream socket needs write permission
    on its file, and search permission on every directory on the way to it"."""
    inner = os.path.join(workdir, "inner")
    os.mkdir(inner)
    path = os.path.join(inner, "door.sock")
    outcomes = {}
    with socketserver_lit.UnixStreamServer(path, greeting_handler(socketserver_lit)) as server:
        with serving(server):
            for file_mode, directory_mode in [
                (0o666, 0o755),
                (0o644, 0o755),
                (0o622, 0o755),
                (0o666, 0o754),
                (0o666, 0o711),
            ]:
                os.chmod(path, file_mode)
                os.chmod(inner, directory_mode)
                outcomes[(oct(file_mode), oct(directory_mode))] = knock_as(NOBODY, path)
    assert outcomes == {
        ("0o666", "0o755"): "served b'welcome\\n'",
        ("0o644", "0o755"): "connect() raised PermissionError",  # readable, not writable
        ("0o622", "0o755"): "served b'welcome\\n'",  # writable, not readable
        ("0o666", "0o754"): "connect() raised PermissionError",  # no search for others
        ("0o666", "0o711"): "served b'welcome\\n'",  # search only
    }


@needs_root
def test_file_permissions_do_not_stop_root_even_on_another_users_socket_file(workdir):
    """15-exposing-safely: "a file's permissions do not stop root even when root is not the
    owner"."""
    inner = os.path.join(workdir, "inner")
    os.mkdir(inner)
    path = os.path.join(inner, "nobodys.sock")
    with socketserver_lit.UnixStreamServer(path, greeting_handler(socketserver_lit)) as server:
        os.chown(path, NOBODY, NOBODY)
        os.chmod(path, 0o000)
        os.chown(inner, NOBODY, NOBODY)
        os.chmod(inner, 0o700)
        with serving(server):
            assert connect_and_tell(path) == "served b'welcome\\n'"


@needs_root
def test_switching_users_needs_root_and_groups_go_before_the_user():
    """15-exposing-safely: "os.setgid(), os.setgroups(), os.setuid(), in that order, because
    after setuid() the process may no longer change its groups"; "Switching to another user
    needs root"."""

    def work() -> str:
        os.setuid(NOBODY)  # the user first: the wrong order
        outcomes = []
        for attempt in (lambda: os.setgroups([]), lambda: os.setgid(NOBODY), lambda: os.setuid(0)):
            try:
                attempt()
                outcomes.append("allowed")
            except PermissionError:
                outcomes.append("PermissionError")
        return " ".join(outcomes)

    assert in_child(work) == "PermissionError PermissionError PermissionError"


@needs_root
def test_so_peercred_reports_the_credentials_of_the_connecting_process_at_connect_time(
    module, workdir
):
    """15-exposing-safely: "they describe the process that called connect(), as it was at that
    moment. A process that connects and then switches user still counts as the user it was"."""
    seen = []

    class CredentialsServer(module.UnixStreamServer):
        def verify_request(self, request, client_address):
            seen.append(peer_credentials(request)[1:])
            return True

    path = os.path.join(workdir, "switch.sock")
    with CredentialsServer(path, greeting_handler(module)) as server:
        os.chmod(path, 0o666)
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: connect as root, then become nobody, then read
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                    client.settimeout(WAIT)
                    client.connect(path)
                    become(NOBODY)
                    os.write(writer, b"switched")
                    recv_line(client)
            finally:
                os._exit(0)
        os.close(writer)
        with os.fdopen(reader, "rb") as report:
            ready, _, _ = select.select([report], [], [], WAIT)
            switched = report.read(8) if ready else b""
        server.handle_request()  # accept() and verify_request() after the switch
        os.waitpid(pid, 0)
    assert switched == b"switched"
    assert seen == [(0, 0)]


def test_a_client_reads_the_servers_credentials_with_so_peercred(workdir):
    """15-exposing-safely: "on the client's socket SO_PEERCRED gives the server's credentials"."""
    path = os.path.join(workdir, "server.sock")
    program = """
        import socket, sys
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
            listener.bind(sys.argv[1])
            listener.listen(1)
            listener.settimeout(5)
            print("listening", flush=True)
            connection, _ = listener.accept()
            connection.close()
    """
    server = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(program), path], stdout=subprocess.PIPE, text=True
    )
    try:
        ready, _, _ = select.select([server.stdout], [], [], WAIT)
        assert ready and server.stdout.readline() == "listening\n"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(WAIT)
            client.connect(path)
            credentials = peer_credentials(client)
    finally:
        server.wait(timeout=WAIT)
        server.stdout.close()
    assert credentials == (server.pid, os.geteuid(), os.getegid())


@needs_root
def test_a_uid_allow_list_admits_this_process_and_refuses_nobody_behind_each_door(module, workdir):
    """15-exposing-safely, section 4's three doors on both modules: "At the first two doors,
    nobody never reached the server: connect() itself raised PermissionError, so
    verify_request() never ran for it. At the third ... verify_request() read uid 65534 and
    refused: the client read b''"."""
    private_dir = os.path.join(workdir, "private")
    os.mkdir(private_dir, 0o700)

    class UidAllowListServer(module.UnixStreamServer):
        def verify_request(self, request, client_address):
            uid = peer_credentials(request)[1]
            self.decisions.append(uid)
            return uid == os.geteuid()

    story = []
    for directory, umask, open_up in [
        (workdir, 0o177, False),
        (private_dir, 0o022, True),
        (workdir, 0o022, True),
    ]:
        path = os.path.join(directory, "door.sock")
        old_umask = os.umask(umask)
        try:
            server = UidAllowListServer(path, greeting_handler(module))
        finally:
            os.umask(old_umask)
        server.decisions = []
        with serving(server):
            if open_up:
                os.chmod(path, 0o666)
            story.append((connect_and_tell(path), knock_as(NOBODY, path), server.decisions))
        os.unlink(path)
    served, permission_error, refused = (
        "served b'welcome\\n'",
        "connect() raised PermissionError",
        "refused: read b''",
    )
    assert story == [
        (served, permission_error, [os.geteuid()]),
        (served, permission_error, [os.geteuid()]),
        (served, refused, [os.geteuid(), NOBODY]),
    ]


# -- 5. TLS with client certificates ------------------------------------------------------------


def openssl(directory: str, *arguments: str) -> None:
    subprocess.run(
        ["openssl", *arguments], check=True, capture_output=True, timeout=60, cwd=directory
    )


NEW_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]


@pytest.fixture(scope="module")
def authority(tmp_path_factory) -> str:
    """The notebook's small CA: course-ca signs localhost, alice, bob; other-ca signs mallory.

    Returns the directory that holds NAME-cert.pem and NAME-key.pem for each.
    """
    directory = str(tmp_path_factory.mktemp("authority"))
    for name in ("course-ca", "other-ca"):
        openssl(
            directory,
            "req",
            "-x509",
            *NEW_KEY,
            "-days",
            "1",
            "-subj",
            f"/CN={name}",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
            "-keyout",
            f"{name}-key.pem",
            "-out",
            f"{name}-cert.pem",
        )
    for ca, name, serial, usage, alternative_names in [
        ("course-ca", "localhost", 1, "serverAuth", "DNS:localhost,IP:127.0.0.1"),
        ("course-ca", "alice", 2, "clientAuth", None),
        ("course-ca", "bob", 3, "clientAuth", None),
        ("other-ca", "mallory", 1, "clientAuth", None),
    ]:
        extensions = [
            "basicConstraints=critical,CA:FALSE",
            "keyUsage=critical,digitalSignature",
            f"extendedKeyUsage={usage}",
            "subjectKeyIdentifier=hash",
            "authorityKeyIdentifier=keyid",
        ]
        if alternative_names:
            extensions.append(f"subjectAltName={alternative_names}")
        with open(os.path.join(directory, f"{name}.ext"), "w") as extension_file:
            extension_file.write("\n".join(extensions) + "\n")
        openssl(
            directory,
            "req",
            "-new",
            *NEW_KEY,
            "-subj",
            f"/CN={name}",
            "-keyout",
            f"{name}-key.pem",
            "-out",
            f"{name}.csr",
        )
        openssl(
            directory,
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-days",
            "1",
            "-CA",
            f"{ca}-cert.pem",
            "-CAkey",
            f"{ca}-key.pem",
            "-set_serial",
            str(serial),
            "-extfile",
            f"{name}.ext",
            "-out",
            f"{name}-cert.pem",
        )
    return directory


def server_context(directory: str, maximum_version: ssl.TLSVersion | None = None):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(
        os.path.join(directory, "localhost-cert.pem"), os.path.join(directory, "localhost-key.pem")
    )
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=os.path.join(directory, "course-ca-cert.pem"))
    if maximum_version is not None:
        context.maximum_version = maximum_version
    return context


def client_context(directory: str, name: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=os.path.join(directory, "course-ca-cert.pem"))
    if name is not None:
        context.load_cert_chain(
            os.path.join(directory, f"{name}-cert.pem"), os.path.join(directory, f"{name}-key.pem")
        )
    return context


def mutual_tls_server(module, context: ssl.SSLContext, allowed: set[str]):
    """The notebook's MutualTLSServer with its MutualTLSHandler, on `module`; not yet serving."""

    class MutualTLSHandler(module.StreamRequestHandler):
        handshake_timeout = 2.0

        def setup(self):
            tls = self.server.ssl_context.wrap_socket(
                self.request, server_side=True, do_handshake_on_connect=False
            )
            try:
                tls.settimeout(self.handshake_timeout)
                tls.do_handshake()
                tls.settimeout(self.timeout)
            except BaseException:
                tls.close()
                raise
            self.request = tls
            super().setup()

        def handle(self):
            subject = dict(entry[0] for entry in self.request.getpeercert()["subject"])
            name = subject["commonName"]
            if name in self.server.allowed_clients:
                self.wfile.write(f"hello {name}\n".encode())
            else:
                self.wfile.write(f"refused: {name} is not on the list\n".encode())

        def finish(self):
            try:
                super().finish()
            finally:
                self.request.close()

    class MutualTLSServer(module.ThreadingTCPServer):
        def __init__(self, server_address, handler_class):
            self.ssl_context, self.allowed_clients, self.errors = context, allowed, []
            self.verify_saw: list[tuple[str, object]] = []
            super().__init__(server_address, handler_class)

        def verify_request(self, request, client_address):
            self.verify_saw.append((type(request).__name__, getattr(request, "getpeercert", None)))
            return True

        def handle_error(self, request, client_address):
            error = sys.exc_info()[1]
            self.errors.append(f"{type(error).__name__} ({getattr(error, 'reason', None)})")

    return MutualTLSServer(("127.0.0.1", 0), MutualTLSHandler)


def tls_visit(directory: str, address, name: str | None) -> str:
    """The notebook's tls_visit(): handshake as `name`, read; say how far it got."""
    with socket.create_connection(address, timeout=WAIT) as raw:
        try:
            tls = client_context(directory, name).wrap_socket(raw, server_hostname="localhost")
        except ssl.SSLError as error:
            return f"wrap_socket() raised {type(error).__name__} ({error.reason})"
        with tls:
            version = tls.version()
            try:
                return f"handshake done ({version}), reply {recv_line(tls)!r}"
            except ssl.SSLError as error:
                return (
                    f"handshake done ({version}), then recv() raised "
                    f"{type(error).__name__} ({error.reason})"
                )


def test_mutual_tls_gives_the_same_four_outcomes_on_the_stdlib_and_ours(module, authority):
    """15-exposing-safely: "The same classes on the standard library's ThreadingTCPServer and
    StreamRequestHandler give the same four outcomes", with the errors the server notes."""
    server = mutual_tls_server(module, server_context(authority), {"alice"})
    with serving(server):
        outcomes = [
            tls_visit(authority, server.server_address, name)
            for name in ("alice", "bob", None, "mallory")
        ]
    assert outcomes == [
        "handshake done (TLSv1.3), reply b'hello alice\\n'",
        "handshake done (TLSv1.3), reply b'refused: bob is not on the list\\n'",
        "handshake done (TLSv1.3), then recv() raised SSLError (TLSV13_ALERT_CERTIFICATE_REQUIRED)",
        "handshake done (TLSv1.3), then recv() raised SSLError (TLSV1_ALERT_UNKNOWN_CA)",
    ]
    assert sorted(server.errors) == [
        "SSLCertVerificationError (CERTIFICATE_VERIFY_FAILED)",
        "SSLError (PEER_DID_NOT_RETURN_A_CERTIFICATE)",
    ]


def test_verify_request_runs_before_the_handshake_and_sees_no_certificate(module, authority):
    """15-exposing-safely: "verify_request() sees a plain socket and no certificate"."""
    server = mutual_tls_server(module, server_context(authority), {"alice"})
    with serving(server):
        assert tls_visit(authority, server.server_address, "alice").endswith("b'hello alice\\n'")
    assert server.verify_saw == [("socket", None)]


def test_with_tls_1_3_a_client_refused_by_the_handshake_finds_out_at_its_first_read(
    module, authority
):
    """15-exposing-safely: "Their wrap_socket() returned: with TLS 1.3 ... a client's side of
    the handshake is over once it has sent its certificate (or none), before the server has
    checked it. The server's verdict arrives as an alert, which the client's next read raises".
    Repeated."""
    server = mutual_tls_server(module, server_context(authority), {"alice"})
    with serving(server):
        seen = {
            tls_visit(authority, server.server_address, name)
            for _ in range(5)
            for name in (None, "mallory")
        }
    assert seen == {
        "handshake done (TLSv1.3), then recv() raised SSLError (TLSV13_ALERT_CERTIFICATE_REQUIRED)",
        "handshake done (TLSv1.3), then recv() raised SSLError (TLSV1_ALERT_UNKNOWN_CA)",
    }


def test_with_tls_1_2_a_client_refused_by_the_handshake_finds_out_in_wrap_socket(module, authority):
    """15-exposing-safely, Exercise 2: "In TLS 1.2 the server sends its last handshake message
    (Finished) after it has received the client's certificate (or none), and the client's
    handshake waits for that message": the refusal comes out of wrap_socket(). Repeated."""
    context = server_context(authority, maximum_version=ssl.TLSVersion.TLSv1_2)
    server = mutual_tls_server(module, context, {"alice"})
    with serving(server):
        seen = {
            tls_visit(authority, server.server_address, name)
            for _ in range(5)
            for name in (None, "mallory")
        }
        alice = tls_visit(authority, server.server_address, "alice")
    assert seen == {
        "wrap_socket() raised SSLError (SSLV3_ALERT_HANDSHAKE_FAILURE)",
        "wrap_socket() raised SSLError (TLSV1_ALERT_UNKNOWN_CA)",
    }
    assert alice == "handshake done (TLSv1.2), reply b'hello alice\\n'"

"""Faults: what the server does when handlers fail, clients misbehave, or it is closed mid-work.

A server meets faults on both sides of every request. Its own handlers raise.
Clients reset the connection halfway through a request, vanish while a long reply
is being written, go silent, or trickle their bytes. And the program that runs the
server may shut it down while requests are still being handled. In every case the
promise is the same: the fault is reported once (through ``handle_error``), it stays
with the one request it belongs to, the server goes on serving everybody else, and
nothing is left behind: no descriptor, no thread, no zombie process.

Each test runs against every kind of server where that makes sense: synchronous,
a thread per request, a thread pool, and a process per request. ``handle_error``
is replaced by one that writes to a pipe (``RecordsErrors``), so errors raised in
forked children are counted too.
"""

from __future__ import annotations

import gc
import os
import signal
import socket
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest
from server_support import serving
from support_faults import (
    WAIT_TIMEOUT,
    BoundedStreamHandler,
    ClientProcess,
    Gate,
    PipeLog,
    RecordsErrors,
    assert_no_descriptor_leak,
    assert_reaped,
    child_processes,
    connect,
    errors_in,
    no_new_zombies,
    read_to_end,
    threads_joined,
    wait_for_children_to_end,
)

import socketserver_lit as ss

STREAM_SERVERS = [
    pytest.param(ss.TCPServer, id="synchronous"),
    pytest.param(ss.ThreadingTCPServer, id="threading"),
    pytest.param(ss.ThreadPoolTCPServer, id="thread-pool"),
    pytest.param(ss.ForkingTCPServer, id="forking", marks=pytest.mark.fork),
]


def recording_server(base: type, handler: type, error_log: PipeLog, **attributes):
    """An instance of ``base`` on a free loopback port whose errors go to ``error_log``."""
    server_class = type(base.__name__, (RecordsErrors, base), attributes)
    server = server_class(("127.0.0.1", 0), handler)
    server.error_log = error_log
    return server


def port_of(client: socket.socket) -> int:
    """The port the server sees as ``client_address[1]`` for this client."""
    return client.getsockname()[1]


class EchoLine(BoundedStreamHandler):
    def handle(self) -> None:
        self.wfile.write(self.rfile.readline())


def echo(address) -> bytes:
    with connect(address) as client:
        client.sendall(b"still serving\n")
        return read_to_end(client)


# -- handlers that raise -----------------------------------------------------------------------


class FailsWhenAsked(BoundedStreamHandler):
    def handle(self) -> None:
        line = self.rfile.readline()
        if line.startswith(b"fail"):
            raise ValueError(f"asked to fail: {line!r}")
        self.wfile.write(line.upper())


@pytest.mark.parametrize("server_class", STREAM_SERVERS)
def test_each_raising_handler_is_reported_once_and_the_server_keeps_serving(server_class):
    requests = [b"fail %d\n" % n if n % 3 == 0 else b"ok %d\n" % n for n in range(30)]

    def client(request: bytes) -> tuple[int, bytes]:
        with connect(server.server_address) as sock:
            sock.sendall(request)
            return port_of(sock), read_to_end(sock)

    with assert_no_descriptor_leak(), no_new_zombies(), PipeLog() as error_log:
        # A backlog that holds every client, also while a synchronous server is busy.
        server = recording_server(server_class, FailsWhenAsked, error_log, request_queue_size=32)
        with server:
            with serving(server, poll_interval=0.05):
                with ThreadPoolExecutor(6) as pool:
                    results = list(pool.map(client, requests))
        failing_ports = sorted(
            port for (port, _), r in zip(results, requests, strict=True) if r.startswith(b"f")
        )
        # A failed request is closed without a reply; every other one is answered.
        for request, (_port, reply) in zip(requests, results, strict=True):
            assert reply == (b"" if request.startswith(b"fail") else request.upper())
        errors = errors_in(error_log)
        assert sorted(int(line.split()[2]) for line in errors) == failing_ports
        assert {line.split()[1] for line in errors} == {"ValueError"}


class FailsInPhase(BoundedStreamHandler):
    """Raises in ``setup``, ``handle`` or ``finish``, as the server's ``phase`` says."""

    def setup(self) -> None:
        super().setup()
        if self.server.phase == "setup":
            raise RuntimeError("setup failed")

    def handle(self) -> None:
        self.rfile.readline()
        if self.server.phase == "handle":
            raise RuntimeError("handle failed")

    def finish(self) -> None:
        super().finish()
        if self.server.phase == "finish":
            raise RuntimeError("finish failed")


@pytest.mark.parametrize("phase", ["setup", "handle", "finish"])
@pytest.mark.parametrize("server_class", STREAM_SERVERS)
def test_a_handler_failing_in_any_phase_is_reported_once_per_request(server_class, phase):
    with assert_no_descriptor_leak(), no_new_zombies(), PipeLog() as error_log:
        with recording_server(server_class, FailsInPhase, error_log, phase=phase) as server:
            with serving(server, poll_interval=0.05):
                ports = []
                for _ in range(5):
                    with connect(server.server_address) as client:
                        # A request that fails in setup() is never read; unread data
                        # would turn the server's close into a reset, so send none.
                        if phase != "setup":
                            client.sendall(b"anything\n")
                        assert read_to_end(client) == b""
                        ports.append(port_of(client))
        errors = errors_in(error_log)
        assert sorted(errors) == sorted(f"error RuntimeError {port}" for port in ports)


class FailsAfterReading(BoundedStreamHandler):
    def handle(self) -> None:
        self.rfile.readline()
        raise ValueError("the handler failed")


@pytest.mark.parametrize("hook", ["verify_request", "handle_error"])
def test_request_is_closed_even_when_a_server_hook_raises(hook):
    """A raising ``verify_request()`` or ``handle_error()`` must not leak the request.

    Both are server hooks users override. If one raises, the exception propagates
    out of ``handle_request()`` (as in the stdlib), but the connection it was
    handed must still be closed: "every request that was got is shut down exactly
    once on every path", as ``BaseServer._handle_request_noblock`` promises.
    """

    class HookRaises(ss.TCPServer):
        def verify_request(self, request, client_address) -> bool:
            if hook == "verify_request":
                raise LookupError("verify_request failed")
            return True

        def handle_error(self, request, client_address) -> None:
            raise LookupError("handle_error failed")

    with assert_no_descriptor_leak():
        with HookRaises(("127.0.0.1", 0), FailsAfterReading) as server:
            with connect(server.server_address) as client:
                if hook == "handle_error":
                    client.sendall(b"hello\n")  # the handler reads it, then fails
                with warnings.catch_warnings(record=True) as caught:
                    # A request left open is noticed when it is garbage-collected.
                    warnings.simplefilter("always", ResourceWarning)
                    with pytest.raises(LookupError, match=hook):
                        server.handle_request()
                    gc.collect()
                unclosed = [str(w.message) for w in caught if w.category is ResourceWarning]
                assert not unclosed, f"the request was left open after {hook}() raised"
                assert read_to_end(client) == b""  # closed, and cleanly


# -- clients that go away ----------------------------------------------------------------------


class ReadsHeaderThenLine(BoundedStreamHandler):
    """Reads a 5-byte header, tells the test so, then waits for the rest of the line."""

    def handle(self) -> None:
        header = self.rfile.read(5)
        self.server.progress.record(f"header {self.client_address[1]}")
        line = self.rfile.readline()
        self.wfile.write(header + line)


@pytest.mark.parametrize("server_class", STREAM_SERVERS)
def test_client_resetting_mid_request_is_reported_once_and_others_are_served(server_class):
    with (
        assert_no_descriptor_leak(),
        no_new_zombies(),
        PipeLog() as error_log,
        PipeLog() as progress,
    ):
        with recording_server(server_class, ReadsHeaderThenLine, error_log) as server:
            server.progress = progress
            with serving(server, poll_interval=0.05):
                reset_ports = []
                for _ in range(4):
                    with ClientProcess(
                        server.server_address, b"HEAD:half a line", read_before_reset=False
                    ) as client:
                        reset_ports.append(client.port)
                        # Reset only once the handler is inside the request, waiting
                        # for the rest of the line: the RST hits a read in progress.
                        progress.wait_for_count(f"header {client.port}", 1)
                        client.reset()
                with connect(server.server_address) as client:
                    client.sendall(b"HEAD:a whole line\n")
                    assert read_to_end(client) == b"HEAD:a whole line\n"
        errors = errors_in(error_log)
        assert sorted(errors) == sorted(f"error ConnectionResetError {p}" for p in reset_ports)


# A reply far larger than every socket buffer on the way, so the client's reset always
# finds the handler still writing. Bounded: 1024 chunks of 64 KiB.
FLOOD_CHUNK = b"x" * 65536
FLOOD_CHUNKS = 1024


class FloodsWhenAsked(BoundedStreamHandler):
    def handle(self) -> None:
        line = self.rfile.readline()
        if line != b"flood\n":
            self.wfile.write(line)
            return
        for _ in range(FLOOD_CHUNKS):
            self.wfile.write(FLOOD_CHUNK)


@pytest.mark.parametrize("wbufsize", [0, 8192], ids=["unbuffered-wfile", "buffered-wfile"])
@pytest.mark.parametrize("server_class", STREAM_SERVERS)
def test_client_vanishing_mid_reply_is_reported_once_and_others_are_served(server_class, wbufsize):
    handler = type("FloodsWhenAsked", (FloodsWhenAsked,), {"wbufsize": wbufsize})
    with assert_no_descriptor_leak(), no_new_zombies(), PipeLog() as error_log:
        with recording_server(server_class, handler, error_log) as server:
            with serving(server, poll_interval=0.05):
                vanished_ports = []
                for _ in range(3):
                    # The client reads the start of the reply, then resets and is gone.
                    with ClientProcess(
                        server.server_address, b"flood\n", read_before_reset=True
                    ) as client:
                        vanished_ports.append(client.port)
                        client.reset()
                assert echo(server.server_address) == b"still serving\n"
        errors = errors_in(error_log)
        assert sorted(int(line.split()[2]) for line in errors) == sorted(vanished_ports)
        # Which one depends on whether the RST arrived before or during a send.
        assert {line.split()[1] for line in errors} <= {"ConnectionResetError", "BrokenPipeError"}


@pytest.mark.fork
def test_forked_child_killed_by_a_signal_is_reaped_and_the_server_keeps_serving():
    class DiesWhenAsked(BoundedStreamHandler):
        def handle(self) -> None:
            line = self.rfile.readline()
            if line == b"die\n":
                os.kill(os.getpid(), signal.SIGKILL)
            self.wfile.write(line)

    forked = set()

    class Tracking(ss.ForkingTCPServer):
        def process_request(self, request, client_address) -> None:
            super().process_request(request, client_address)
            forked.update(self.active_children)

    with assert_no_descriptor_leak(), no_new_zombies(), PipeLog() as error_log:
        with recording_server(Tracking, DiesWhenAsked, error_log) as server:
            with serving(server, poll_interval=0.05):
                for _ in range(3):
                    with connect(server.server_address) as client:
                        client.sendall(b"die\n")
                        # The kernel closed the dead child's copy of the connection.
                        assert read_to_end(client) == b""
                    assert echo(server.server_address) == b"still serving\n"
        assert len(forked) == 6
        assert errors_in(error_log) == []  # a killed child has no chance to report anything
    assert_reaped(forked)


# -- slow and silent clients -------------------------------------------------------------------


class EchoLineWithTimeout(EchoLine):
    timeout = 0.5


def test_silent_client_times_out_so_a_synchronous_server_is_not_deaf_forever():
    with assert_no_descriptor_leak(), no_new_zombies(), PipeLog() as error_log:
        with recording_server(ss.TCPServer, EchoLineWithTimeout, error_log) as server:
            with serving(server, poll_interval=0.05):
                with connect(server.server_address) as silent:
                    # The synchronous server is stuck with the silent client until
                    # the handler's timeout ends it; then it serves the next one.
                    assert echo(server.server_address) == b"still serving\n"
                    assert read_to_end(silent) == b""
                    silent_port = port_of(silent)
        assert errors_in(error_log) == [f"error TimeoutError {silent_port}"]


class EchoLineWithRoomyTimeout(EchoLine):
    # Ten times the pauses below, so a loaded machine cannot turn "slow" into "silent".
    timeout = 2.0


@pytest.mark.parametrize("server_class", STREAM_SERVERS)
def test_slow_client_within_the_timeout_is_served_in_full(server_class):
    with assert_no_descriptor_leak(), no_new_zombies(), PipeLog() as error_log:
        with recording_server(server_class, EchoLineWithRoomyTimeout, error_log) as server:
            with serving(server, poll_interval=0.05):
                with connect(server.server_address) as slow:
                    slow.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
                    for piece in (b"one ", b"byte", b" at a", b" time", b"\n"):
                        slow.sendall(piece)
                        time.sleep(0.1)  # each pause is well inside the handler's timeout
                    assert read_to_end(slow) == b"one byte at a time\n"
        assert errors_in(error_log) == []


@pytest.mark.parametrize("server_class", STREAM_SERVERS[1:])
def test_silent_and_never_reading_clients_time_out_while_others_are_served(server_class):
    class FloodsWithTimeout(FloodsWhenAsked):
        timeout = 0.5

    with assert_no_descriptor_leak(), no_new_zombies(), PipeLog() as error_log:
        with recording_server(server_class, FloodsWithTimeout, error_log) as server:
            with serving(server, poll_interval=0.05):
                with (
                    connect(server.server_address) as silent,
                    connect(server.server_address) as never_reads,
                ):
                    never_reads.sendall(b"flood\n")  # asks for a huge reply, reads none of it
                    for _ in range(5):
                        assert echo(server.server_address) == b"still serving\n"
                    # Both handlers give up after their timeout and close the connection.
                    assert read_to_end(silent) == b""
                    expected_ports = sorted([port_of(silent), port_of(never_reads)])
                    # Wait for the writer's timeout before reading: reading would unblock it.
                    error_log.wait_for_count("error", 2)
                    # Drain what was sent before the timeout, then see the end of stream.
                    received = read_to_end(never_reads)
                    assert 0 < len(received) < FLOOD_CHUNKS * len(FLOOD_CHUNK)
        errors = errors_in(error_log)
        assert sorted(int(line.split()[2]) for line in errors) == expected_ports
        assert {line.split()[1] for line in errors} == {"TimeoutError"}


# -- forking limits and reaping ----------------------------------------------------------------


class HeldAtTheGate(BoundedStreamHandler):
    """Announces itself, waits at the server's gate, then echoes the line it was sent."""

    def handle(self) -> None:
        line = self.rfile.readline()
        me = threading.current_thread()
        self.server.handler_threads.append(me)
        self.server.progress.record(f"start {self.client_address[1]} {os.getpid()} {me.daemon}")
        self.server.gate.pass_through()
        self.wfile.write(line)
        self.server.progress.record(f"done {self.client_address[1]}")


def gated_server(base: type, progress: PipeLog, gate: Gate, error_log: PipeLog, **attributes):
    server = recording_server(base, HeldAtTheGate, error_log, **attributes)
    server.progress, server.gate, server.handler_threads = progress, gate, []
    return server


@pytest.mark.fork
def test_max_children_holds_under_a_burst():
    burst, limit = 15, 3
    children_after_each_fork: list[int] = []
    children_before = set(child_processes())

    class Limited(ss.ForkingTCPServer):
        max_children = limit
        request_queue_size = burst

        def process_request(self, request, client_address) -> None:
            super().process_request(request, client_address)
            # Counted by the kernel, not by the server's own bookkeeping.
            children_after_each_fork.append(len(set(child_processes()) - children_before))

    with (
        assert_no_descriptor_leak(),
        no_new_zombies(),
        PipeLog() as progress,
        Gate() as gate,
        PipeLog() as errors,
    ):
        with gated_server(Limited, progress, gate, errors) as server:
            clients = []
            try:
                with serving(server, poll_interval=0.05):
                    for n in range(burst):
                        clients.append(connect(server.server_address))
                        clients[-1].sendall(b"client %d\n" % n)
                    progress.wait_for_count("start", limit)
                    time.sleep(0.3)  # room for a fourth child to start, if the limit leaked
                    assert sum(line.startswith("start") for line in progress.collect()) == limit
                    gate.let_through(burst)
                    replies = [read_to_end(client) for client in clients]
            finally:
                gate.let_through(burst)
                for client in clients:
                    client.close()
        assert replies == [b"client %d\n" % n for n in range(burst)]
        assert max(children_after_each_fork) == limit
        assert len(children_after_each_fork) == burst
        assert errors_in(errors) == []


class ExitsWithStatus(BoundedStreamHandler):
    """Echoes, or raises when asked, so some children exit with status 1."""

    def handle(self) -> None:
        line = self.rfile.readline()
        if line == b"fail\n":
            raise ValueError("asked to fail")
        self.wfile.write(line)


FORKING_SERVERS = [
    pytest.param(ss.ForkingTCPServer, id="forking-tcp"),
    pytest.param(ss.ForkingUnixStreamServer, id="forking-unix", marks=pytest.mark.unix),
]


@pytest.mark.fork
@pytest.mark.parametrize("drive", ["serve_forever", "handle_request"])
@pytest.mark.parametrize("server_class", FORKING_SERVERS)
def test_no_zombie_children_remain_after_server_close(server_class, drive, tmp_path):
    forked: set[int] = set()

    class Tracking(server_class):
        def process_request(self, request, client_address) -> None:
            super().process_request(request, client_address)
            forked.update(self.active_children)

    family = server_class.address_family
    address = str(tmp_path / "z.sock") if family == socket.AF_UNIX else ("127.0.0.1", 0)
    requests = [b"fail\n" if n % 4 == 0 else b"echo %d\n" % n for n in range(12)]
    with assert_no_descriptor_leak(), no_new_zombies(), PipeLog() as error_log:
        server = Tracking(address, ExitsWithStatus)
        server.error_log = error_log
        with server:
            if drive == "serve_forever":
                with serving(server, poll_interval=0.05):
                    for request in requests:
                        with connect(server.server_address, family) as client:
                            client.sendall(request)
                            read_to_end(client)
            else:
                # handle_request() never runs service_actions(), so finished children
                # pile up un-reaped until server_close() collects them.
                for request in requests:
                    with connect(server.server_address, family) as client:
                        client.sendall(request)
                        server.handle_request()
                        read_to_end(client)
        assert server.active_children == set()
        assert len(forked) == len(requests)
    assert_reaped(forked)


# -- shutdown while requests are in flight -----------------------------------------------------

IN_FLIGHT = 4

SHUTDOWN_CASES = [
    # server, block_on_close, daemon_threads, does server_close() wait for the handlers?
    (ss.ThreadingTCPServer, True, False, True),
    (ss.ThreadingTCPServer, False, False, False),
    (ss.ThreadingTCPServer, True, True, False),  # daemon threads are never waited for
    (ss.ThreadingTCPServer, False, True, False),
    # The pool's workers are waited for whenever block_on_close is set (its docstring).
    (ss.ThreadPoolTCPServer, True, False, True),
    (ss.ThreadPoolTCPServer, False, False, False),
    (ss.ThreadPoolTCPServer, True, True, True),
    (ss.ThreadPoolTCPServer, False, True, False),
    pytest.param(ss.ForkingTCPServer, True, None, True, marks=pytest.mark.fork),
    pytest.param(ss.ForkingTCPServer, False, None, False, marks=pytest.mark.fork),
]


@pytest.mark.parametrize(
    ("server_class", "block_on_close", "daemon_threads", "close_waits"), SHUTDOWN_CASES
)
def test_shutdown_with_requests_in_flight_finishes_them(
    server_class, block_on_close, daemon_threads, close_waits
):
    attributes = {"block_on_close": block_on_close}
    if daemon_threads is not None:
        attributes["daemon_threads"] = daemon_threads
    if issubclass(server_class, ss.ThreadPoolMixIn):
        attributes["max_workers"] = IN_FLIGHT  # all of them in flight at once
    with (
        assert_no_descriptor_leak(),
        no_new_zombies(),
        PipeLog() as progress,
        Gate() as gate,
        PipeLog() as errors,
    ):
        server = gated_server(server_class, progress, gate, errors, **attributes)
        serve_thread = threading.Thread(target=server.serve_forever, args=(0.05,))
        closer = threading.Thread(target=server.server_close)
        clients: list[socket.socket] = []
        children: set[int] = set()
        with threads_joined(server.handler_threads):
            try:
                serve_thread.start()
                for n in range(IN_FLIGHT):
                    clients.append(connect(server.server_address))
                    clients[-1].sendall(b"request %d\n" % n)
                started = progress.wait_for_count("start", IN_FLIGHT)
                children = {int(line.split()[2]) for line in started} - {os.getpid()}

                # shutdown() stops the loop without waiting for the handlers.
                stopper = threading.Thread(target=server.shutdown)
                stopper.start()
                stopper.join(WAIT_TIMEOUT)
                serve_thread.join(WAIT_TIMEOUT)
                assert not stopper.is_alive() and not serve_thread.is_alive()

                closer.start()
                closer.join(0.3)
                if close_waits:
                    assert closer.is_alive(), "server_close() returned with requests in flight"
                else:
                    closer.join(WAIT_TIMEOUT)
                    assert not closer.is_alive(), "server_close() waited for the handlers"
                    assert not any(line.startswith("done") for line in progress.collect())
                    if isinstance(server, ss.ForkingMixIn):
                        # Not waited for, so still running, and left for the caller to reap.
                        assert server.active_children == children
                        assert set(child_processes()) >= children
                gate.let_through(IN_FLIGHT)
                closer.join(WAIT_TIMEOUT)
                assert not closer.is_alive()
                if close_waits:
                    done = [line for line in progress.collect() if line.startswith("done")]
                    assert len(done) == IN_FLIGHT

                # Whether or not close waited, no request in flight was cut off.
                replies = [read_to_end(client) for client in clients]
                assert replies == [b"request %d\n" % n for n in range(IN_FLIGHT)]
            finally:
                gate.let_through(IN_FLIGHT)
                if serve_thread.is_alive():
                    server.shutdown()
                    serve_thread.join(WAIT_TIMEOUT)
                if closer.ident is None:
                    server.server_close()
                else:
                    closer.join(WAIT_TIMEOUT)
                for client in clients:
                    client.close()
                wait_for_children_to_end(children)
        if daemon_threads is not None:
            daemon_flags = {
                line.split()[3] for line in progress.collect() if line.startswith("start")
            }
            assert daemon_flags == {str(daemon_threads)}
        assert errors_in(errors) == []


def test_shutdown_of_a_synchronous_server_lets_the_request_in_flight_finish():
    """The loop runs the handler itself, so shutdown() returns once the request is done."""
    with assert_no_descriptor_leak(), PipeLog() as progress, Gate() as gate, PipeLog() as errors:
        with gated_server(ss.TCPServer, progress, gate, errors) as server:
            serve_thread = threading.Thread(target=server.serve_forever, args=(0.05,))
            stopper = threading.Thread(target=server.shutdown)
            try:
                serve_thread.start()
                with connect(server.server_address) as client:
                    client.sendall(b"in flight\n")
                    progress.wait_for_count("start", 1)
                    stopper.start()
                    stopper.join(0.3)
                    assert stopper.is_alive(), "shutdown() returned before the request ended"
                    gate.let_through(1)
                    stopper.join(WAIT_TIMEOUT)
                    serve_thread.join(WAIT_TIMEOUT)
                    assert not stopper.is_alive() and not serve_thread.is_alive()
                    assert read_to_end(client) == b"in flight\n"
            finally:
                gate.let_through(1)
                if stopper.ident is None:
                    server.shutdown()
                stopper.join(WAIT_TIMEOUT)
                serve_thread.join(WAIT_TIMEOUT)
        assert errors_in(errors) == []


# SystemExit ends a worker thread on purpose; pytest reports any exception in a thread.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_pool_with_a_full_house_still_replaces_a_worker_that_left(serve):
    """A queued request taken while the pool was full must not leave a phantom idle worker."""
    import socketserver_lit as ss

    release = threading.Event()

    class Handler(ss.StreamRequestHandler):
        def handle(self) -> None:
            line = self.rfile.readline()
            if line == b"exit\n":
                raise SystemExit  # ends this worker thread, as it would a request thread
            if line == b"hold\n":
                assert release.wait(10)
            self.wfile.write(b"ok")

    class Two(ss.ThreadPoolTCPServer):
        max_workers = 2

    with serve(Two(("127.0.0.1", 0), Handler)) as server:
        address = server.server_address
        holder = socket.create_connection(address, timeout=5)
        holder.sendall(b"hold\n")
        with socket.create_connection(address, timeout=5) as quick:
            quick.sendall(b"quick\n")
            assert quick.recv(10) == b"ok"
        # Saturate: one worker holds, the other serves three queued requests in turn.
        queued = [socket.create_connection(address, timeout=5) for _ in range(3)]
        for client in queued:
            client.sendall(b"x\n")
        for client in queued:
            assert client.recv(10) == b"ok"
            client.close()
        workers = [t for t in threading.enumerate() if t.name.startswith("Two-worker-")]
        with socket.create_connection(address, timeout=5) as leaving:
            leaving.sendall(b"exit\n")
            assert leaving.recv(10) == b""
        # Wait until the worker has really ended (its exception reported), so that
        # report belongs to this test and the pool has room again.
        deadline = time.monotonic() + 10
        while all(t.is_alive() for t in workers) and time.monotonic() < deadline:
            for worker in workers:
                worker.join(0.02)
        assert not all(t.is_alive() for t in workers)
        # One worker holds, one has left: a new request must start a replacement now.
        try:
            with socket.create_connection(address, timeout=5) as late:
                late.sendall(b"late\n")
                assert late.recv(10) == b"ok"
        finally:
            release.set()
            assert holder.recv(10) == b"ok"
            holder.close()

"""What course notebook 16 says about several processes on one port, and beyond, run.

``notebooks/course/16-several-processes-and-beyond.ipynb`` runs a pre-fork server in two
models (workers that each bind the port with ``allow_reuse_port``, and workers that inherit
one listening socket), measures six servers on one job, and ends with a page on when to
move to ``asyncio``, a WSGI/ASGI server or a load balancer. It shows most of what it claims
in its own outputs, on Python 3.11 and 3.13. Each test here backs one sentence that it
states without showing, or runs one of its comparisons again on every Python we support
(3.10 to 3.13), on the standard library's ``socketserver`` and on ours wherever they
compare. Every test names its sentence in its docstring.

No test asserts a duration. Where the kernel's behaviour is statistical (a hash spreading
connections, a herd of wake-ups), a test counts, with margins wide enough that a correct
kernel fails them less often than once in millions of runs. A process that must wait is
*still running* ``STILL_RUNNING_AFTER`` seconds after it was told to stop (and then ends
once what it waits for is released); nothing is timed more finely than that. Every process
started here is killed and reaped at the end of its test, every socket closed, every wait
bounded.

Platform: Linux (``SO_REUSEPORT``'s load spreading, ``/proc``, ``voluntary_ctxt_switches``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import importlib
import os
import select
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import sysconfig
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import socketserver_lit

NOTEBOOK = "notebooks/course/16-several-processes-and-beyond.ipynb"
MODULES = ["socketserver", "socketserver_lit"]
LOOPBACK = "127.0.0.1"

# Seconds after which a process that must wait is checked to be still running.
STILL_RUNNING_AFTER = 1.0
# Seconds any other wait (a child ready, a process ending, a socket call) may take.
WAIT = 10.0

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")


@pytest.fixture(params=MODULES)
def module(request: pytest.FixtureRequest) -> ModuleType:
    """The stdlib's socketserver, then ours."""
    return importlib.import_module(request.param)


def stdlib_has_reuse_port() -> bool:
    return sys.version_info >= (3, 11)


# -- helpers ------------------------------------------------------------------------------


def reuseport_socket(port: int = 0, *, listen: bool = True) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((LOOPBACK, port))
    if listen:
        sock.listen(128)
    return sock


def accept_all_waiting(listener: socket.socket) -> int:
    """Accept (and close) every connection waiting in `listener`'s queue; return how many."""
    listener.setblocking(False)
    accepted = 0
    while True:
        try:
            connection, _ = listener.accept()
        except BlockingIOError:
            return accepted
        connection.close()
        accepted += 1


def accept_queue_length(listener: socket.socket) -> int:
    """Connections waiting in a listening socket's accept queue (Linux: TCP_INFO's unacked)."""
    info = listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    return int(struct.unpack_from("I", info, 24)[0])


def which_listener(listeners: list[socket.socket]) -> int:
    """Accept (and close) the next connection, from whichever listener has it; its index."""
    ready, _, _ = select.select(listeners, [], [], WAIT)
    assert ready, "no listener received the connection"
    index = listeners.index(ready[0])
    assert accept_all_waiting(listeners[index]) == 1
    return index


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def ask(address: tuple[str, int], line: bytes = b"hello\n", timeout: float = WAIT) -> bytes:
    with socket.create_connection(address, timeout=timeout) as client:
        client.sendall(line)
        with client.makefile("rb") as answers:
            return answers.readline(1000)


def echo_handler(module: ModuleType) -> type:
    class EchoHandler(module.StreamRequestHandler):  # type: ignore[name-defined,misc]
        def handle(self) -> None:
            self.wfile.write(self.rfile.readline(1000))

    return EchoHandler


def voluntary_switches(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches in /proc/PID/status")


def in_accept(pid: int) -> bool:
    """Whether process `pid` is blocked in accept() (Linux: its wait channel)."""
    try:
        with open(f"/proc/{pid}/wchan") as wchan:
            return "accept" in wchan.read()
    except FileNotFoundError:
        return False


class Children:
    """Forked children of this test, each killed (if still running) and reaped at the end."""

    def __init__(self) -> None:
        self.pids: list[int] = []

    def fork(self, body: Callable[[], None]) -> int:
        pid = os.fork()
        if pid == 0:  # the child: run body, never return into pytest
            status = 1
            try:
                body()
                status = 0
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                os._exit(status)
        self.pids.append(pid)
        return pid

    def exited(self, pid: int, within: float) -> int | None:
        """The exit status of `pid` if it ends within `within` s (it is then reaped)."""
        deadline = time.monotonic() + within
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                self.pids.remove(pid)
                return os.waitstatus_to_exitcode(status)
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.01)

    def close(self) -> None:
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        self.pids.clear()


@pytest.fixture
def children() -> Iterator[Children]:
    forked = Children()
    try:
        yield forked
    finally:
        forked.close()


def serve_until_sigterm(server: Any, ready_writer: int) -> None:
    """A worker of the notebook's prefork.py: serve until SIGTERM (way 1 of notebook 8)."""
    signal.signal(
        signal.SIGTERM, lambda signum, frame: threading.Thread(target=server.shutdown).start()
    )
    os.write(ready_writer, b"!")
    server.serve_forever()


def wait_for_ready(reader: int, count: int) -> None:
    received = b""
    deadline = time.monotonic() + WAIT
    while len(received) < count and time.monotonic() < deadline:
        if select.select([reader], [], [], 0.1)[0]:
            received += os.read(reader, count - len(received))
    assert len(received) == count, f"only {len(received)} of {count} workers became ready"


# -- 2. Two listening sockets on one port ---------------------------------------------------


def test_allow_reuse_port_is_in_the_stdlib_from_3_11_and_in_ours_on_every_version() -> None:
    """Notebook 16, section 2: "The standard library has that attribute from Python 3.11;
    ours has it on 3.10 too." """
    assert hasattr(socketserver.TCPServer, "allow_reuse_port") == stdlib_has_reuse_port()
    assert socketserver_lit.TCPServer.allow_reuse_port is False
    if stdlib_has_reuse_port():
        assert socketserver.TCPServer.allow_reuse_port is False


def test_allow_reuse_port_makes_server_bind_set_so_reuseport(module: ModuleType) -> None:
    """Notebook 16, section 2: "A server class with `allow_reuse_port = True` sets it in
    `server_bind()`" (the stdlib from 3.11; on 3.10 it ignores the attribute)."""

    class Server(module.TCPServer):  # type: ignore[name-defined,misc]
        allow_reuse_port = True

    with Server((LOOPBACK, 0), None) as server:
        option = server.socket.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
    sets_it = module is socketserver_lit or stdlib_has_reuse_port()
    assert bool(option) == sets_it


def test_a_second_server_binds_a_listening_port_only_when_both_allow_reuse_port(
    module: ModuleType,
) -> None:
    """Notebook 16, section 2: a second `bind()` to a listening port fails with
    `EADDRINUSE`; with `allow_reuse_port = True` on both servers it succeeds (the stdlib
    from 3.11)."""

    def second_bind(reuse_port: bool) -> str:
        class Server(module.TCPServer):  # type: ignore[name-defined,misc]
            allow_reuse_port = reuse_port

        with Server((LOOPBACK, 0), None) as first:
            try:
                with Server(first.server_address, None):
                    return "bound"
            except OSError as error:
                return errno.errorcode[error.errno]

    assert second_bind(False) == "EADDRINUSE"
    reuse_works = module is socketserver_lit or stdlib_has_reuse_port()
    assert second_bind(True) == ("bound" if reuse_works else "EADDRINUSE")


@pytest.mark.parametrize("first_sets_it", [False, True], ids=["first-without", "first-with"])
def test_so_reuseport_must_be_set_on_every_socket_including_the_first(first_sets_it: bool) -> None:
    """Notebook 16, section 2: `SO_REUSEPORT` lifts the one-listener rule "when *every* socket
    on the port sets it before its `bind()`": one socket without it, first or second, and the
    second bind fails with EADDRINUSE."""
    first = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    second = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        (first if first_sets_it else second).setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        first.bind((LOOPBACK, 0))
        first.listen(5)
        with pytest.raises(OSError) as refused:
            second.bind(first.getsockname())
        assert refused.value.errno == errno.EADDRINUSE
    finally:
        first.close()
        second.close()


# -- 3. Pre-forked workers: SO_REUSEPORT --------------------------------------------------


def test_a_bound_reuseport_socket_that_never_listens_takes_no_connections() -> None:
    """Notebook 16, section 3: the supervisor holds the port with a socket bound with
    `SO_REUSEPORT` that never listens: "A socket that does not listen takes no
    connections." All 100 connections reach the one that listens."""
    holder = reuseport_socket(listen=False)
    listener = reuseport_socket(holder.getsockname()[1])
    clients = []
    try:
        for _ in range(100):
            clients.append(socket.create_connection(holder.getsockname(), timeout=WAIT))
        assert wait_until(lambda: len(clients) == 100)
        assert accept_all_waiting(listener) == 100
        with pytest.raises(OSError) as not_listening:
            holder.accept()
        assert not_listening.value.errno == errno.EINVAL
    finally:
        for sock in [*clients, listener, holder]:
            sock.close()


def test_reuseport_spreads_connections_from_new_ports_over_every_listener() -> None:
    """Notebook 16, section 3: "Each client connects from a new port of its own, so the
    hashes, and the connections, spread over the workers: roughly evenly, not exactly";
    "about a quarter of the connections" for each of four. 400 connections, four listeners:
    each gets between 15 % and 35 % (a correct kernel misses that about once in 10**8)."""
    listeners = [reuseport_socket()]
    port = listeners[0].getsockname()[1]
    listeners += [reuseport_socket(port) for _ in range(3)]
    counts = Counter[int]()
    client_ports = set()
    try:
        for _ in range(400):
            with socket.create_connection((LOOPBACK, port), timeout=WAIT) as client:
                client_ports.add(client.getsockname()[1])
                counts[which_listener(listeners)] += 1
    finally:
        for listener in listeners:
            listener.close()
    assert len(client_ports) == 400, "every connection came from a port of its own"
    assert sum(counts.values()) == 400
    assert all(60 <= counts[index] <= 140 for index in range(4)), counts


def test_reuseport_sends_every_connection_from_one_address_to_one_listener() -> None:
    """Notebook 16, section 3: the kernel chooses a listener "by a hash of the connection's
    addresses and ports": "a client that reconnects from the same port always lands on the
    same listener". Eight client ports, five connections from each; each closed with a
    reset (SO_LINGER 0), so that no TIME_WAIT keeps the port from being used again."""
    listeners = [reuseport_socket()]
    port = listeners[0].getsockname()[1]
    listeners += [reuseport_socket(port) for _ in range(3)]
    chosen: dict[int, set[int]] = {}
    try:
        with socket.socket() as finder:
            finder.bind((LOOPBACK, 0))
            first_client_port = finder.getsockname()[1]
        for client_port in range(first_client_port, first_client_port + 8):
            for _ in range(5):
                client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                client.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.settimeout(WAIT)
                try:
                    client.bind((LOOPBACK, client_port))
                except OSError:
                    client.close()
                    break  # that port is taken by someone else: try the next one
                try:
                    client.connect((LOOPBACK, port))
                    chosen.setdefault(client_port, set()).add(which_listener(listeners))
                finally:
                    client.close()
    finally:
        for listener in listeners:
            listener.close()
    assert len(chosen) >= 4, f"too few free client ports to test with: {sorted(chosen)}"
    assert all(len(listeners_seen) == 1 for listeners_seen in chosen.values()), chosen


def test_reuseport_queues_connections_for_a_listener_that_is_not_accepting() -> None:
    """Notebook 16, section 3: "The kernel picks a worker's queue by the hash alone, without
    looking at whether that worker is busy." Of 200 connections, the listener that never
    accepts gets its share in its own queue, while three others are free."""
    busy = reuseport_socket()
    port = busy.getsockname()[1]
    free = [reuseport_socket(port) for _ in range(3)]
    clients = []
    try:
        for _ in range(200):
            clients.append(socket.create_connection((LOOPBACK, port), timeout=WAIT))
            for listener in free:
                accept_all_waiting(listener)
        assert accept_all_waiting(busy) >= 20  # about 50 expected
    finally:
        for sock in [*clients, *free, busy]:
            sock.close()


def test_closing_one_reuseport_listener_resets_its_queue_and_the_rest_take_new_ones() -> None:
    """Notebook 16, section 3: "when its listening socket closes, the connections still
    waiting in *its* queue are reset, while new connections go to the remaining workers
    (Linux)"; with net.ipv4.tcp_migrate_req = 1 (Linux 5.14+) they move to another listener
    instead. The test asserts whichever this kernel is set to.

    100 connections wait in two listeners' queues; the staying one accepts its own and keeps
    them open; then the other closes."""
    migrate_setting = Path("/proc/sys/net/ipv4/tcp_migrate_req")
    migrates = migrate_setting.exists() and migrate_setting.read_text().strip() == "1"
    closing = reuseport_socket()
    port = closing.getsockname()[1]
    staying = reuseport_socket(port)
    staying.setblocking(False)
    clients: list[socket.socket] = []
    accepted: list[socket.socket] = []

    def accept_waiting() -> int:
        count = 0
        with contextlib.suppress(BlockingIOError):
            while True:
                accepted.append(staying.accept()[0])
                count += 1
        return count

    try:
        clients = [socket.create_connection((LOOPBACK, port), timeout=WAIT) for _ in range(100)]
        assert wait_until(
            lambda: accept_queue_length(closing) + accept_queue_length(staying) == 100
        ), "every connection is queued at one listener or the other"
        at_staying = accept_waiting()
        closing.close()
        # The reset ones become readable (a pending error); wait until they all have.
        assert (
            wait_until(
                lambda: len(select.select(clients, [], [], 0)[0]) >= 100 - at_staying, timeout=2
            )
            or migrates
        )
        outcomes = Counter[str]()
        for client in clients:
            client.setblocking(False)
            try:
                outcomes["end of stream" if client.recv(1) == b"" else "data"] += 1
            except BlockingIOError:
                outcomes["still open"] += 1
            except ConnectionResetError:
                outcomes["reset"] += 1
        migrated = accept_waiting()
        new_clients = [socket.create_connection((LOOPBACK, port), timeout=WAIT) for _ in range(20)]
        clients += new_clients
        taken = 0
        deadline = time.monotonic() + WAIT
        while taken < 20 and time.monotonic() < deadline:
            taken += accept_waiting()
            time.sleep(0.01)
    finally:
        for sock in [*clients, *accepted, staying]:
            sock.close()
    assert 0 < at_staying < 100, "both listeners had connections queued"
    assert taken == 20, "new connections go to the listener that is left"
    if migrates:
        assert migrated == 100 - at_staying
        assert outcomes == {"still open": 100}, outcomes
    else:
        assert migrated == 0
        assert outcomes == {"still open": at_staying, "reset": 100 - at_staying}, outcomes


# -- 3. Pre-forked workers: one socket, inherited -----------------------------------------


def test_ours_refuses_a_second_loop_on_one_server_and_the_stdlib_has_no_such_check() -> None:
    """Notebook 16, section 3: "Ours (the standard library has no such check) refuses a
    second `serve_forever()` on a server whose loop is already running." """

    def turning(module: ModuleType) -> Any:
        class Turning(module.TCPServer):  # type: ignore[name-defined,misc]
            loops: set[int] = set()

            def service_actions(self) -> None:
                self.loops.add(threading.get_ident())

        return Turning((LOOPBACK, 0), None)

    stdlib = turning(socketserver)
    loops = [threading.Thread(target=stdlib.serve_forever, args=(0.02,)) for _ in range(2)]
    try:
        for loop in loops:
            loop.start()
        assert wait_until(lambda: len(stdlib.loops) == 2), "both stdlib loops run"
    finally:
        for _ in range(10):  # one stdlib shutdown() may stop only one of two loops
            if not any(loop.is_alive() for loop in loops):
                break
            stdlib.shutdown()
            for loop in loops:
                loop.join(0.5)
        stdlib.server_close()
    assert not any(loop.is_alive() for loop in loops)

    ours = turning(socketserver_lit)
    first = threading.Thread(target=ours.serve_forever, args=(0.02,))
    first.start()
    try:
        assert wait_until(lambda: len(ours.loops) == 1)
        with pytest.raises(RuntimeError, match="already running"):
            ours.serve_forever()
    finally:
        ours.shutdown()
        first.join(WAIT)
        ours.server_close()


def test_forked_workers_each_run_serve_forever_on_their_copy_of_one_server(
    module: ModuleType, children: Children
) -> None:
    """Notebook 16, section 3: "Across processes the check does not apply ... each worker's
    `serve_forever()` is the first and only loop its copy ever sees." A server that never
    ran a loop, forked into two workers: both serve, and both stop cleanly on SIGTERM
    (exit status 0: no RuntimeError)."""

    class Server(module.TCPServer):  # type: ignore[name-defined,misc]
        request_queue_size = 64

    server = Server((LOOPBACK, 0), echo_handler(module))
    server.socket.setblocking(False)
    ready_reader, ready_writer = os.pipe()
    try:
        workers = [
            children.fork(lambda: serve_until_sigterm(server, ready_writer)) for _ in range(2)
        ]
        wait_for_ready(ready_reader, 2)
        answers = [ask(server.server_address, b"%d\n" % n) for n in range(20)]
        assert answers == [b"%d\n" % n for n in range(20)]
        for pid in workers:
            os.kill(pid, signal.SIGTERM)
        assert [children.exited(pid, WAIT) for pid in workers] == [0, 0]
    finally:
        os.close(ready_reader)
        os.close(ready_writer)
        server.server_close()


def test_the_serve_loop_ignores_blocking_io_error_from_get_request(module: ModuleType) -> None:
    """Notebook 16, section 3: "the serve loop ignores an `OSError` from `get_request()`, and
    the worker goes back to waiting in its loop". Here get_request() raises BlockingIOError
    once; the loop waits again, serves the connection, and handle_error() is never called."""

    class Server(module.TCPServer):  # type: ignore[name-defined,misc]
        raised = 0
        errors: list[Any] = []

        def get_request(self) -> Any:
            if not self.raised:
                self.raised += 1
                raise BlockingIOError(errno.EAGAIN, "another worker took it")
            return super().get_request()

        def handle_error(self, request: Any, client_address: Any) -> None:
            self.errors.append(sys.exc_info()[1])

    with Server((LOOPBACK, 0), echo_handler(module)) as server:
        loop = threading.Thread(target=server.serve_forever, args=(0.02,))
        loop.start()
        try:
            assert ask(server.server_address) == b"hello\n"
        finally:
            server.shutdown()
            loop.join(WAIT)
    assert server.raised == 1 and server.errors == []


def test_a_connection_accepted_from_a_non_blocking_listener_is_blocking() -> None:
    """Notebook 16, section 3: "The connections it accepts are blocking sockets all the same,
    as the handler expects (on Linux)." """
    with socket.create_server((LOOPBACK, 0)) as listener:
        listener.setblocking(False)
        with socket.create_connection(listener.getsockname(), timeout=WAIT):
            assert select.select([listener], [], [], WAIT)[0]
            connection, _ = listener.accept()
            with connection:
                assert connection.gettimeout() is None
                assert os.get_blocking(connection.fileno())


def test_a_worker_that_loses_the_race_on_a_blocking_shared_socket_waits_in_accept(
    module: ModuleType, children: Children
) -> None:
    """Notebook 16, section 3: "A worker woken for a connection that another worker has
    already accepted would, on a blocking socket, wait inside `accept()` until the next
    connection comes: deaf to `shutdown()`, and so to SIGTERM."

    Four workers share a blocking listening socket. Bursts of 8 clients at once (at most
    200 bursts) until, after a burst, a worker sits in accept() with no connection left
    (Linux's /proc/PID/wchan). SIGTERM to every worker: that one is still running a second
    later, and ends only after more connections come."""

    class Server(module.TCPServer):  # type: ignore[name-defined,misc]
        request_queue_size = 64

    server = Server((LOOPBACK, 0), echo_handler(module))
    ready_reader, ready_writer = os.pipe()
    try:
        workers = [
            children.fork(lambda: serve_until_sigterm(server, ready_writer)) for _ in range(4)
        ]
        wait_for_ready(ready_reader, 4)

        def burst() -> None:
            clients = [
                threading.Thread(target=ask, args=(server.server_address,)) for _ in range(8)
            ]
            for client in clients:
                client.start()
            for client in clients:
                client.join(WAIT)

        stuck: list[int] = []
        for _ in range(200):
            burst()
            if wait_until(lambda: any(in_accept(pid) for pid in workers), timeout=0.05):
                stuck = [pid for pid in workers if in_accept(pid)]
                break
        assert stuck, "no worker lost a race for accept() in 200 bursts"
        for pid in workers:
            os.kill(pid, signal.SIGTERM)
        time.sleep(STILL_RUNNING_AFTER)
        still_running = [pid for pid in workers if children.exited(pid, 0) is None]
        assert set(stuck) <= set(still_running), "a worker in accept() stopped on SIGTERM"
        assert set(still_running) <= set(stuck), "a worker in its loop did not stop on SIGTERM"
        for _ in range(len(stuck) * 2):  # each connection wakes one worker in accept()
            if not [pid for pid in stuck if pid in children.pids]:
                break
            with contextlib.suppress(OSError):
                ask(server.server_address, timeout=2)
            for pid in stuck:
                if pid in children.pids:
                    children.exited(pid, 0.5)
        assert not [pid for pid in stuck if pid in children.pids], (
            "the worker stuck in accept() still ran after connections came"
        )
    finally:
        os.close(ready_reader)
        os.close(ready_writer)
        server.server_close()


def test_each_wait_adds_a_voluntary_context_switch() -> None:
    """Notebook 16, section 3: Linux's `voluntary_ctxt_switches` (proc(5)) "counts the times a
    process gave up the processor to wait". 50 short sleeps add at least 50."""
    before = voluntary_switches()
    for _ in range(50):
        time.sleep(0.001)
    assert voluntary_switches() - before >= 50


def poll_and_accept_forever(listener: socket.socket, ready_writer: int) -> None:
    """A worker on a non-blocking listener: wait in poll(), try to accept, forever."""
    poller = select.poll()
    poller.register(listener, select.POLLIN)
    os.write(ready_writer, b"!")
    while True:
        poller.poll()
        try:
            connection, _ = listener.accept()
        except BlockingIOError:
            continue
        connection.close()


def wakeups_per_connection(
    workers: int, children: Children, connections: int = 200, *, reuseport: bool = False
) -> float:
    """Total wake-ups of `workers` processes polling for connections, per connection made.

    Shared: they all poll one inherited listening socket. `reuseport`: each polls a
    listening socket of its own, bound to the same port with SO_REUSEPORT.
    """
    holder = reuseport_socket(listen=False)
    port = holder.getsockname()[1]
    shared = socket.create_server((LOOPBACK, 0), backlog=64)
    if not reuseport:
        port = shared.getsockname()[1]
    ready_reader, ready_writer = os.pipe()

    def worker() -> None:
        listener = reuseport_socket(port) if reuseport else shared
        listener.setblocking(False)
        poll_and_accept_forever(listener, ready_writer)

    try:
        pids = [children.fork(worker) for _ in range(workers)]
        wait_for_ready(ready_reader, workers)
        time.sleep(0.1)  # let each child settle in poll()
        before = sum(voluntary_switches(pid) for pid in pids)
        for _ in range(connections):
            with socket.create_connection((LOOPBACK, port), timeout=WAIT) as client:
                assert client.recv(1) == b""  # closed by the worker that accepted it
        after = sum(voluntary_switches(pid) for pid in pids)
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
            children.exited(pid, WAIT)
        return (after - before) / connections
    finally:
        os.close(ready_reader)
        os.close(ready_writer)
        shared.close()
        holder.close()


def test_the_herd_grows_with_the_workers_polling_one_socket(children: Children) -> None:
    """Notebook 16, section 3: "When a connection arrives on a socket that several processes
    wait for in `poll()`, the kernel wakes all of them"; "with more workers, the herd grows
    with them (... runs it with 1 and 4)". Four workers are woken well over 1.5 times as
    often per connection as one (about 4 times, less what overlaps)."""
    alone = wakeups_per_connection(1, children)
    four = wakeups_per_connection(4, children)
    assert alone > 0.5, alone  # about one wake-up per connection
    assert four > 1.5 * alone, (alone, four)


def test_with_so_reuseport_a_connection_wakes_only_the_worker_whose_queue_it_joins(
    children: Children,
) -> None:
    """Notebook 16, section 3: "With `SO_REUSEPORT` a connection wakes only the worker whose
    queue it joined": four workers with a listener each are woken about as often per
    connection as one alone, not four times as often."""
    alone = wakeups_per_connection(1, children, reuseport=True)
    four = wakeups_per_connection(4, children, reuseport=True)
    assert four < 1.5 * alone, (alone, four)


def test_waitpid_wnohang_says_zero_while_children_run_and_raises_when_there_are_none() -> None:
    """Notebook 16, Exercise 2: "`os.waitpid(-1, os.WNOHANG)` returns `(0, 0)` while none
    has [ended]; it raises `ChildProcessError` when there are no children at all".

    Run in a fresh interpreter: "no children at all" is about the whole process, and the
    test runner may have children of its own (a browser driver, a notebook kernel)."""
    program = textwrap.dedent(
        """
        import os
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.read(reader, 1)
            os._exit(0)
        print("while running:", os.waitpid(-1, os.WNOHANG), flush=True)
        os.write(writer, b"!")
        print("reaped:", os.waitpid(pid, 0) == (pid, 0), flush=True)
        try:
            os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            print("none left: ChildProcessError", flush=True)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=WAIT
    )
    assert result.stdout.splitlines() == [
        "while running: (0, 0)",
        "reaped: True",
        "none left: ChildProcessError",
    ], result.stderr


def test_lines_written_with_one_write_by_several_processes_never_mix(
    children: Children,
) -> None:
    """Notebook 16, section 1: "`say()` prints a line with one `write()`, so that lines
    printed by several processes at once never mix" (a pipe takes a write of up to
    PIPE_BUF bytes, 4096 on Linux, whole: pipe(7)). Four processes, 500 lines each."""
    assert select.PIPE_BUF == 4096
    reader, writer = os.pipe()
    received = b""
    try:

        def writing(name: int) -> None:
            for number in range(500):
                os.write(writer, f"worker {name} line {number} {'x' * 200}\n".encode())

        pids = [children.fork(lambda name=name: writing(name)) for name in range(4)]
        os.close(writer)
        writer = -1
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if select.select([reader], [], [], 0.1)[0]:
                chunk = os.read(reader, 65536)
                if not chunk:
                    break
                received += chunk
        assert [children.exited(pid, WAIT) for pid in pids] == [0, 0, 0, 0]
    finally:
        os.close(reader)
        if writer != -1:
            os.close(writer)
    lines = received.decode().splitlines()
    expected = {f"worker {n} line {k} {'x' * 200}" for n in range(4) for k in range(500)}
    assert len(lines) == 2000 and set(lines) == expected


def test_an_ended_child_is_a_zombie_until_its_parent_reaps_it(children: Children) -> None:
    """Notebook 16, section 3: "A child that has ended stays in the process table as a
    *zombie* until its parent collects its exit status." """
    pid = children.fork(lambda: None)
    stat = Path(f"/proc/{pid}/stat")
    assert wait_until(lambda: stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")
    assert children.exited(pid, WAIT) == 0
    assert not stat.exists()


# -- 4. Six servers, one job --------------------------------------------------------------


def test_forking_servers_run_at_most_40_children(module: ModuleType) -> None:
    """Notebook 16, section 4 and Exercise 1: `ForkingTCPServer`'s `max_children` is 40."""
    assert module.ForkingTCPServer.max_children == 40


def test_a_forking_server_with_max_children_busy_serves_no_one_else(module: ModuleType) -> None:
    """Notebook 16, Exercise 1: "the forking server waits for a child to end once 40 run".
    With max_children (40) idle clients connected, the next client gets no answer; once
    the idle clients leave, it does. The clients run in another process (a forked child
    would inherit their sockets, notebook 10)."""

    program = textwrap.dedent(
        f"""
        import socket, sys
        address = ("{LOOPBACK}", int(sys.argv[1]))
        idle = [socket.create_connection(address, timeout=10) for _ in range(40)]
        def ask(timeout):
            with socket.create_connection(address, timeout=timeout) as client:
                client.sendall(b"next\\n")
                return client.makefile("rb").readline(1000)
        try:
            print("while 40 idle:", ask({STILL_RUNNING_AFTER}), flush=True)
        except TimeoutError:
            print("while 40 idle: no answer", flush=True)
        for sock in idle:
            sock.close()
        print("after they left:", ask(10), flush=True)
        """
    )

    class Server(module.ForkingTCPServer):  # type: ignore[name-defined,misc]
        request_queue_size = 64

    with Server((LOOPBACK, 0), echo_handler(module)) as server:
        loop = threading.Thread(target=server.serve_forever, args=(0.05,))
        loop.start()
        try:
            clients = subprocess.run(
                [sys.executable, "-c", program, str(server.server_address[1])],
                capture_output=True,
                text=True,
                timeout=30,
            )
        finally:
            server.shutdown()
            loop.join(WAIT)
    assert clients.stdout.splitlines() == [
        "while 40 idle: no answer",
        "after they left: b'next\\n'",
    ], clients.stderr


def test_the_pools_default_queue_bound_is_its_default_number_of_threads() -> None:
    """Notebook 16, Exercise 1: "our pool ... also takes at most `max_queued_requests` more
    requests, as many as its default number of threads" (ours only)."""
    pool = socketserver_lit.ThreadPoolTCPServer
    assert pool.max_queued_requests == pool.max_workers


ASYNCIO_PAIR = """
import asyncio, sys, time

async def handler(reader, writer):
    line = await reader.readline()
    if line == b"block\\n":
        print("blocking", flush=True)
        BLOCK
    writer.write(line)
    await writer.drain()
    writer.close()

async def main():
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await asyncio.sleep(30)

asyncio.run(main())
"""


@contextlib.contextmanager
def asyncio_program(block: str) -> Iterator[tuple[int, Any]]:
    """An asyncio echo server in a child process; its handler runs `block` for b"block\\n"."""
    source = ASYNCIO_PAIR.replace("BLOCK", block)
    process = subprocess.Popen(
        [sys.executable, "-c", source], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        assert select.select([process.stdout], [], [], WAIT)[0], "no port printed"
        yield int(process.stdout.readline()), process.stdout
    finally:
        process.kill()
        process.communicate(timeout=WAIT)


def answered_while_blocked(program: tuple[int, Any]) -> bool:
    """Whether a quick client is answered while another connection's handler is blocking.

    The handler blocks for STILL_RUNNING_AFTER * 3 seconds once it says "blocking"; the quick
    client gives up after STILL_RUNNING_AFTER.
    """
    port, output = program
    with socket.create_connection((LOOPBACK, port), timeout=WAIT) as blocker:
        blocker.sendall(b"block\n")
        assert select.select([output], [], [], WAIT)[0], "the handler never started blocking"
        assert output.readline() == b"blocking\n"
        try:
            return ask((LOOPBACK, port), b"quick\n", timeout=STILL_RUNNING_AFTER) == b"quick\n"
        except TimeoutError:
            return False


def test_a_blocking_call_in_an_asyncio_handler_holds_up_every_other_connection() -> None:
    """Notebook 16, sections 4 and 6: in asyncio "a blocking call would stop every connection
    of the loop at once": while one handler is in time.sleep(), another client is not
    answered; with `await asyncio.sleep()` it is."""
    seconds = STILL_RUNNING_AFTER * 3
    with asyncio_program(f"time.sleep({seconds})") as program:
        assert not answered_while_blocked(program)
    with asyncio_program(f"await asyncio.sleep({seconds})") as program:
        assert answered_while_blocked(program)


def test_asyncio_to_thread_keeps_a_blocking_call_from_holding_up_the_loop() -> None:
    """Notebook 16, section 6: "`asyncio.to_thread()` hands a blocking call to a thread." """
    seconds = STILL_RUNNING_AFTER * 3
    with asyncio_program(f"await asyncio.to_thread(time.sleep, {seconds})") as program:
        assert answered_while_blocked(program)


def test_asyncio_readline_raises_valueerror_for_a_line_over_the_limit() -> None:
    """Notebook 16, section 4: "a longer line makes the reader's `readline()` raise
    `ValueError`, where the handler's [`rfile.readline(1000)`] returns the first 1000
    bytes"."""

    async def read_with_limit() -> None:
        reader = asyncio.StreamReader(limit=1000)
        reader.feed_data(b"x" * 1500 + b"\n")
        reader.feed_eof()
        with pytest.raises(ValueError):
            await reader.readline()

    # In a thread of its own: asyncio.run() refuses to start in a thread where an event
    # loop already runs, as the test runner's may (a browser driver's, in the site tests).
    failures: list[BaseException] = []

    def run_in_own_thread() -> None:
        try:
            asyncio.run(read_with_limit())
        except BaseException as error:  # reported to the test's thread below
            failures.append(error)

    runner = threading.Thread(target=run_in_own_thread)
    runner.start()
    runner.join(WAIT)
    assert not runner.is_alive()
    assert failures == []
    with socketserver_lit.TCPServer((LOOPBACK, 0), None) as server:
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            connection, _ = server.socket.accept()
            with connection, connection.makefile("rb") as rfile:
                client.sendall(b"x" * 1500 + b"\n")
                assert rfile.readline(1000) == b"x" * 1000


def test_asyncio_servers_in_two_processes_share_a_port_with_reuse_port() -> None:
    """Notebook 16, section 6: "`asyncio.start_server(..., reuse_port=True)` lets them share a
    port exactly as our workers did": two asyncio processes on one port, and connections
    answered by both."""
    program = textwrap.dedent(
        """
        import asyncio, os, sys

        async def handler(reader, writer):
            await reader.readline()
            writer.write(f"{os.getpid()}\\n".encode())
            await writer.drain()
            writer.close()

        async def main():
            server = await asyncio.start_server(
                handler, "127.0.0.1", int(sys.argv[1]), reuse_port=True
            )
            print("ready", flush=True)
            async with server:
                await asyncio.sleep(30)

        asyncio.run(main())
        """
    )
    holder = reuseport_socket(listen=False)
    port = holder.getsockname()[1]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", program, str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            assert select.select([process.stdout], [], [], WAIT)[0]
            assert process.stdout.readline() == b"ready\n", process.stderr
        pids = {int(ask((LOOPBACK, port))) for _ in range(100)}
        assert pids == {process.pid for process in processes}
    finally:
        holder.close()
        for process in processes:
            process.kill()
            process.communicate(timeout=WAIT)


# -- 6. When to outgrow socketserver --------------------------------------------------------


def test_the_pythons_we_support_are_built_with_the_global_interpreter_lock() -> None:
    """Notebook 16, section 6: "the Pythons this course supports are built with [the global
    interpreter lock]" (not the free-threaded build of 3.13)."""
    assert not sysconfig.get_config_var("Py_GIL_DISABLED")
    if sys.version_info >= (3, 13):
        assert sys._is_gil_enabled()  # type: ignore[attr-defined]

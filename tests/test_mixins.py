"""ThreadingMixIn, ForkingMixIn and ThreadPoolMixIn, and the ready-made combinations."""

from __future__ import annotations

import os
import socket
import socketserver as stdlib_socketserver
import sys
import threading
import time

import pytest
from server_support import JOIN_TIMEOUT, exchange

import socketserver_lit as ss


class WhoAmI(ss.StreamRequestHandler):
    """Replies with the thread name and pid that handled the request."""

    def handle(self) -> None:
        self.rfile.readline()
        reply = f"{threading.current_thread().name}|{os.getpid()}"
        self.wfile.write(reply.encode())


class Gate(ss.BaseRequestHandler):
    """Blocks until the server's ``gate`` event opens, then records that it finished."""

    def handle(self) -> None:
        assert self.server.gate.wait(10)  # type: ignore[attr-defined]
        time.sleep(0.05)
        self.server.finished.append(self.client_address)  # type: ignore[attr-defined]


def with_gate(server):
    server.gate = threading.Event()
    server.finished = []
    return server


# -- the combinations -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "mixin", "base"),
    [
        ("ThreadingTCPServer", "ThreadingMixIn", "TCPServer"),
        ("ThreadingUDPServer", "ThreadingMixIn", "UDPServer"),
        ("ThreadPoolTCPServer", "ThreadPoolMixIn", "TCPServer"),
        ("ThreadPoolUDPServer", "ThreadPoolMixIn", "UDPServer"),
        ("ForkingTCPServer", "ForkingMixIn", "TCPServer"),
        ("ForkingUDPServer", "ForkingMixIn", "UDPServer"),
        ("ThreadingUnixStreamServer", "ThreadingMixIn", "UnixStreamServer"),
        ("ThreadingUnixDatagramServer", "ThreadingMixIn", "UnixDatagramServer"),
        ("ForkingUnixStreamServer", "ForkingMixIn", "UnixStreamServer"),
        ("ForkingUnixDatagramServer", "ForkingMixIn", "UnixDatagramServer"),
    ],
)
def test_combination_puts_the_mixin_first(name, mixin, base):
    cls = getattr(ss, name)
    assert cls.__bases__ == (getattr(ss, mixin), getattr(ss, base))
    assert name in ss.__all__


# -- ThreadingMixIn -----------------------------------------------------------------------------


def test_threading_server_handles_each_request_in_a_new_thread(serve):
    with serve(ss.ThreadingTCPServer(("127.0.0.1", 0), WhoAmI)) as server:
        replies = [exchange(server.server_address).decode() for _ in range(3)]
    names = [reply.split("|")[0] for reply in replies]
    assert len(set(names)) == 3
    assert all("process_request_thread" in name for name in names)
    assert threading.current_thread().name not in names


def test_threading_server_serves_clients_concurrently(serve):
    """Two clients inside handle() at the same time: impossible on a synchronous server."""
    both_inside = threading.Barrier(2, timeout=5)

    class Meet(ss.BaseRequestHandler):
        def handle(self) -> None:
            both_inside.wait()
            self.request.sendall(b"met")

    with serve(ss.ThreadingTCPServer(("127.0.0.1", 0), Meet)) as server:
        results = []
        clients = [
            threading.Thread(target=lambda: results.append(exchange(server.server_address)))
            for _ in range(2)
        ]
        for client in clients:
            client.start()
        for client in clients:
            client.join(JOIN_TIMEOUT)
    assert results == [b"met", b"met"]


def test_daemon_threads_attribute_reaches_the_request_threads(serve):
    flags = []

    class Report(ss.BaseRequestHandler):
        def handle(self) -> None:
            flags.append(threading.current_thread().daemon)

    class Daemonic(ss.ThreadingTCPServer):
        daemon_threads = True

    with serve(Daemonic(("127.0.0.1", 0), Report)) as server:
        exchange(server.server_address)
    with serve(ss.ThreadingTCPServer(("127.0.0.1", 0), Report)) as server:
        exchange(server.server_address)
    assert flags == [True, False]


def open_gate_later(server, delay=0.2):
    timer = threading.Timer(delay, server.gate.set)
    timer.start()
    return timer


def connect_and_dispatch(server, count=1):
    """Open ``count`` connections and let the server accept and dispatch each."""
    clients = [socket.create_connection(server.server_address, timeout=5) for _ in range(count)]
    for _ in clients:
        server.handle_request()
    return clients


def test_server_close_waits_for_non_daemon_threads():
    server = with_gate(ss.ThreadingTCPServer(("127.0.0.1", 0), Gate))
    clients = connect_and_dispatch(server, 2)
    timer = open_gate_later(server)
    server.server_close()
    assert len(server.finished) == 2  # both handlers ran to the end before close returned
    timer.join()
    for client in clients:
        client.close()


@pytest.mark.parametrize(
    "setting", [{"block_on_close": False}, {"daemon_threads": True}], ids=["nonblocking", "daemon"]
)
def test_server_close_does_not_wait_when_told_not_to(setting):
    server_class = type("Configured", (ss.ThreadingTCPServer,), setting)
    server = with_gate(server_class(("127.0.0.1", 0), Gate))
    clients = connect_and_dispatch(server)
    server.server_close()
    assert server.finished == []  # the handler is still waiting at the gate
    server.gate.set()
    deadline = time.monotonic() + 10
    while not server.finished and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(server.finished) == 1
    for client in clients:
        client.close()


@pytest.mark.parametrize("module", [stdlib_socketserver, ss], ids=["stdlib", "lit"])
def test_server_close_raises_as_join_does_for_a_request_thread_that_never_started(
    module, monkeypatch
):
    """Drop-in: a request thread whose start() failed ("can't start new thread") stays on the
    list server_close() waits for, and join() refuses a thread that never started. Both
    modules raise that RuntimeError from server_close(): waiting in slices changes nothing."""
    errors: list[object] = []

    class Server(module.ThreadingTCPServer):
        def handle_error(self, request, client_address):
            errors.append(sys.exc_info()[1])

    def refuse_to_start(thread):
        raise RuntimeError("can't start new thread")

    server = Server(("127.0.0.1", 0), module.BaseRequestHandler)
    try:
        with socket.create_connection(server.server_address, timeout=JOIN_TIMEOUT):
            with monkeypatch.context() as patch:
                patch.setattr(threading.Thread, "start", refuse_to_start)
                server.handle_request()
        assert [str(error) for error in errors] == ["can't start new thread"]
        with pytest.raises(RuntimeError, match="before it is started"):
            server.server_close()
    finally:
        server.socket.close()  # server_close() closed it before it raised; this is a no-op


def test_finished_threads_are_forgotten_so_memory_stays_flat(serve):
    with serve(ss.ThreadingTCPServer(("127.0.0.1", 0), WhoAmI)) as server:
        for _ in range(50):
            exchange(server.server_address)
        remembered = len(server._request_threads or [])
    assert remembered < 10


def test_threading_handler_error_reaches_handle_error_once_per_request(serve):
    errors = []

    class Failing(ss.BaseRequestHandler):
        def handle(self) -> None:
            raise ValueError(self.client_address)

    class Capturing(ss.ThreadingTCPServer):
        def handle_error(self, request, client_address) -> None:
            errors.append(client_address)

    with serve(Capturing(("127.0.0.1", 0), Failing)) as server:
        for _ in range(3):
            assert exchange(server.server_address) == b""
    assert len(errors) == 3


def test_threading_udp_server_replies_from_request_threads(serve):
    class Upper(ss.DatagramRequestHandler):
        def handle(self) -> None:
            self.wfile.write(self.rfile.read().upper())

    with serve(ss.ThreadingUDPServer(("127.0.0.1", 0), Upper)) as server:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(5)
            client.sendto(b"threads", server.server_address)
            assert client.recv(100) == b"THREADS"


# -- ThreadPoolMixIn ------------------------------------------------------------------------------


def test_thread_pool_runs_at_most_max_workers_handlers_at_once(serve):
    lock = threading.Lock()
    active = [0]
    peak = [0]

    class Counting(ss.BaseRequestHandler):
        def handle(self) -> None:
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            time.sleep(0.05)
            with lock:
                active[0] -= 1
            self.request.sendall(b"done")

    class SmallPool(ss.ThreadPoolTCPServer):
        max_workers = 3

    with serve(SmallPool(("127.0.0.1", 0), Counting)) as server:
        results = []
        clients = [
            threading.Thread(target=lambda: results.append(exchange(server.server_address)))
            for _ in range(12)
        ]
        for client in clients:
            client.start()
        for client in clients:
            client.join(JOIN_TIMEOUT)
        workers = {t.name for t in threading.enumerate() if "SmallPool-worker" in t.name}
    assert results == [b"done"] * 12
    assert 1 < peak[0] <= 3
    assert len(workers) <= 3


def test_thread_pool_reuses_its_workers(serve):
    with serve(ss.ThreadPoolTCPServer(("127.0.0.1", 0), WhoAmI)) as server:
        names = {exchange(server.server_address).decode().split("|")[0] for _ in range(10)}
    # Sequential clients are served by the idle worker(s), not by a thread each. A
    # second worker may start when a request arrives in the instant between a
    # worker closing the previous connection and marking itself idle.
    assert len(names) <= 2
    assert all(name.startswith("ThreadPoolTCPServer-worker-") for name in names)


def test_thread_pool_server_close_drains_queued_requests():
    class OneWorker(ss.ThreadPoolTCPServer):
        max_workers = 1

    server = with_gate(OneWorker(("127.0.0.1", 0), Gate))
    clients = connect_and_dispatch(server, 3)  # one runs, two wait in the queue
    timer = open_gate_later(server)
    server.server_close()
    assert len(server.finished) == 3
    assert not [t for t in threading.enumerate() if "OneWorker-worker" in t.name]
    timer.join()
    for client in clients:
        client.close()


def test_thread_pool_errors_reach_handle_error_and_the_worker_survives(serve):
    errors = []

    class SometimesFailing(ss.StreamRequestHandler):
        def handle(self) -> None:
            line = self.rfile.readline()
            if line == b"fail\n":
                raise ValueError("asked to fail")
            self.wfile.write(line)

    class Capturing(ss.ThreadPoolTCPServer):
        max_workers = 1

        def handle_error(self, request, client_address) -> None:
            errors.append(client_address)

    with serve(Capturing(("127.0.0.1", 0), SometimesFailing)) as server:
        assert exchange(server.server_address, b"fail\n") == b""
        assert exchange(server.server_address, b"fine\n") == b"fine\n"
    assert len(errors) == 1


def test_thread_pool_rejects_a_pool_of_no_workers_when_it_is_built():
    class Empty(ss.ThreadPoolTCPServer):
        max_workers = 0

    with pytest.raises(ValueError, match="max_workers must be at least 1, not 0"):
        Empty(("127.0.0.1", 0), WhoAmI)


def test_thread_pool_udp_server(serve):
    class Upper(ss.DatagramRequestHandler):
        def handle(self) -> None:
            self.wfile.write(self.rfile.read().upper())

    with serve(ss.ThreadPoolUDPServer(("127.0.0.1", 0), Upper)) as server:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(5)
            for word in (b"a", b"b", b"c"):
                client.sendto(word, server.server_address)
                assert client.recv(100) == word.upper()


# -- ForkingMixIn ---------------------------------------------------------------------------


def test_forking_mixin_class_defaults():
    assert ss.ForkingMixIn.timeout == 300
    assert ss.ForkingMixIn.max_children == 40
    assert ss.ForkingMixIn.active_children is None
    assert ss.ForkingMixIn.block_on_close is True


def test_forking_server_handles_each_request_in_a_child_process(serve):
    with serve(ss.ForkingTCPServer(("127.0.0.1", 0), WhoAmI)) as server:
        pids = {int(exchange(server.server_address).decode().split("|")[1]) for _ in range(3)}
    assert len(pids) == 3
    assert os.getpid() not in pids


def test_forking_server_reaps_children_and_leaves_no_zombies():
    forked: list[int] = []

    class Recording(ss.ForkingTCPServer):
        def collect_children(self, *, blocking: bool = False) -> None:
            forked.extend(pid for pid in self.active_children or () if pid not in forked)
            super().collect_children(blocking=blocking)

    with Recording(("127.0.0.1", 0), WhoAmI) as server:
        thread = threading.Thread(target=server.serve_forever, args=(0.05,))
        thread.start()
        for _ in range(5):
            exchange(server.server_address)
        deadline = time.monotonic() + 10
        while server.active_children and time.monotonic() < deadline:
            time.sleep(0.02)  # service_actions() reaps on every loop turn
        reaped_while_serving = not server.active_children
        server.shutdown()
        thread.join(JOIN_TIMEOUT)
    assert reaped_while_serving
    assert len(forked) == 5
    for pid in forked:
        # Not a child any more, not even a zombie. (Only the server's own children are
        # checked: the test runner may have others, such as a browser driver.)
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def test_forking_server_close_waits_for_children():
    class Slow(ss.BaseRequestHandler):
        def handle(self) -> None:
            time.sleep(0.3)
            self.request.sendall(b"late")

    server = ss.ForkingTCPServer(("127.0.0.1", 0), Slow)
    clients = connect_and_dispatch(server, 2)
    assert len(server.active_children) == 2
    forked = set(server.active_children)
    server.server_close()
    assert not server.active_children
    for pid in forked:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
    for client in clients:
        assert client.recv(10) == b"late"
        client.close()


def test_forking_handle_timeout_collects_children():
    class Quick(ss.ForkingTCPServer):
        timeout = 0.05

    server = Quick(("127.0.0.1", 0), WhoAmI)
    clients = connect_and_dispatch(server)
    for client in clients:
        client.sendall(b"x\n")
        client.recv(100)
        client.close()
    deadline = time.monotonic() + 10
    while server.active_children and time.monotonic() < deadline:
        server.handle_request()  # times out, and handle_timeout() reaps
    assert not server.active_children
    server.server_close()


def test_forking_server_respects_max_children():
    class Limited(ss.ForkingTCPServer):
        max_children = 2

    class Slowish(ss.BaseRequestHandler):
        def handle(self) -> None:
            time.sleep(0.1)

    server = Limited(("127.0.0.1", 0), Slowish)
    clients = [socket.create_connection(server.server_address, timeout=5) for _ in range(5)]
    peak = 0
    for _ in clients:
        server.handle_request()
        peak = max(peak, len(server.active_children))
    server.server_close()
    for client in clients:
        client.close()
    assert peak <= 2


def test_forking_child_reports_errors_and_exits_nonzero(capfd):
    class Failing(ss.BaseRequestHandler):
        def handle(self) -> None:
            raise ValueError("child failed")

    server = ss.ForkingTCPServer(("127.0.0.1", 0), Failing)
    clients = connect_and_dispatch(server)
    (pid,) = server.active_children
    _, status = os.waitpid(pid, 0)
    server.active_children.discard(pid)
    server.server_close()
    clients[0].close()
    assert os.waitstatus_to_exitcode(status) == 1
    assert "ValueError: child failed" in capfd.readouterr().err


def test_forking_child_output_is_flushed_and_not_duplicated(capfd):
    class Printing(ss.BaseRequestHandler):
        def handle(self) -> None:
            print("from the child")

    print("from the parent, before the fork", end="")
    server = ss.ForkingTCPServer(("127.0.0.1", 0), Printing)
    clients = connect_and_dispatch(server)
    server.server_close()
    clients[0].close()
    out = capfd.readouterr().out
    assert out.count("from the parent, before the fork") == 1
    assert out.count("from the child") == 1


def test_forking_udp_server(serve):
    class Pid(ss.DatagramRequestHandler):
        def handle(self) -> None:
            self.wfile.write(str(os.getpid()).encode())

    with serve(ss.ForkingUDPServer(("127.0.0.1", 0), Pid)) as server:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(5)
            client.sendto(b"?", server.server_address)
            assert int(client.recv(100)) != os.getpid()


def test_thread_pool_starts_a_worker_per_queued_request_up_to_the_limit(serve):
    """Two requests that arrive together must not share one fresh worker."""
    release = threading.Event()

    class HoldOrAnswer(ss.StreamRequestHandler):
        def handle(self) -> None:
            if self.rfile.readline() == b"hold\n":
                assert release.wait(10)
            self.wfile.write(b"answered")

    class ThreeWorkers(ss.ThreadPoolTCPServer):
        max_workers = 3

    with serve(ThreeWorkers(("127.0.0.1", 0), HoldOrAnswer)) as server:
        holders = [socket.create_connection(server.server_address, timeout=5) for _ in range(2)]
        for holder in holders:
            holder.sendall(b"hold\n")
        try:
            # Both holders occupy a worker; the third worker must answer this at once,
            # long before the holders are released.
            assert exchange(server.server_address, b"now\n") == b"answered"
        finally:
            release.set()
            for holder in holders:
                assert holder.recv(100) == b"answered"
                holder.close()


@pytest.mark.parametrize("leaving", [SystemExit, KeyboardInterrupt])
def test_a_pool_worker_ended_by_a_handler_is_replaced_and_the_next_request_served(leaving):
    """mixins.py, ThreadPoolMixIn._leave_pool: a worker leaves when an exception that is
    not an ``Exception`` (SystemExit, KeyboardInterrupt) escapes a handler; requests it
    leaves behind get a new worker."""

    class LeaveOnce(ss.StreamRequestHandler):
        def handle(self) -> None:
            if self.rfile.readline(100) == b"leave\n":
                raise leaving
            self.wfile.write(b"served\n")

    class OneWorker(ss.ThreadPoolTCPServer):
        max_workers = 1

    uncaught: list[type[BaseException]] = []
    previous_hook = threading.excepthook
    threading.excepthook = lambda arguments: uncaught.append(arguments.exc_type)
    try:
        with OneWorker(("127.0.0.1", 0), LeaveOnce) as server:
            thread = threading.Thread(target=server.serve_forever, args=(0.05,))
            thread.start()
            try:
                with socket.create_connection(server.server_address, timeout=5) as first:
                    first.sendall(b"leave\n")
                    assert first.recv(100) == b""  # its worker left; the request was closed
                assert exchange(server.server_address, b"next\n") == b"served\n"
            finally:
                server.shutdown()
                thread.join(JOIN_TIMEOUT)
    finally:
        threading.excepthook = previous_hook
    # It ended the worker thread, which handed it to threading.excepthook (whose default
    # prints nothing for SystemExit and a traceback for KeyboardInterrupt).
    assert uncaught == [leaving]


@pytest.mark.parametrize(
    ("daemon_threads", "block_on_close", "waits"),
    [(False, True, True), (True, True, True), (True, False, False)],
)
def test_pool_server_close_waits_for_accepted_requests_unless_block_on_close_is_false(
    daemon_threads, block_on_close, waits
):
    """README: the pool's server_close() "waits for the requests already accepted unless
    block_on_close is false, and, unlike ThreadingMixIn's, even with daemon_threads"."""
    handler_may_end = threading.Event()
    handler_ended = threading.Event()

    class Slow(ss.BaseRequestHandler):
        def handle(self) -> None:
            handler_may_end.wait(JOIN_TIMEOUT)
            handler_ended.set()

    class Pool(ss.ThreadPoolTCPServer):
        pass

    Pool.daemon_threads = daemon_threads
    Pool.block_on_close = block_on_close
    server = Pool(("127.0.0.1", 0), Slow)
    with socket.create_connection(server.server_address, timeout=5):
        server.handle_request()  # accepted, and handed to a worker
        closing = threading.Thread(target=server.server_close)
        closing.start()
        closing.join(0.3)
        still_closing = closing.is_alive()
        handler_may_end.set()
        closing.join(JOIN_TIMEOUT)
    assert still_closing == waits and not closing.is_alive()
    assert handler_ended.wait(JOIN_TIMEOUT)

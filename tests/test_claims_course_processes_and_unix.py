"""What course notebooks 10, 11 and 12 say about processes, selectors and Unix sockets, run.

``notebooks/course/10-partly-synchronous-fork.ipynb``, ``11-selectors.ipynb`` and
``12-unix-sockets.ipynb`` show most of what they claim in their own outputs. Each test here
backs one sentence that a notebook states but does not show (or shows for one case only, or
only on the Pythons that check the notebooks): what ``fork()`` copies and what it does not,
who ends a stream that two processes hold, reaping, the hooks a server loop calls, the
selector a server plugs into, Nagle's algorithm, and the life of a Unix socket file. Every
test names its notebook and quotes its sentence in its docstring. Where a sentence is about
``socketserver``, the test runs it on the standard library's module and on ours.

Platform: Linux (``fork``, ``/proc``, ``SIOCOUTQNSD``, Unix socket permissions); Python 3.10
to 3.13, with the version differences the notebooks name tested on each. Every socket is
closed, every child process reaped, every wait bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import selectors
import shutil
import socket
import socketserver
import stat
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import traceback
import warnings
from collections.abc import Iterator

import claims_support
import pytest
from claims_support import nothing_arrives_within
from server_support import JOIN_TIMEOUT, receive_all, serving

import socketserver_lit

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="these claims are about Linux"
)

NOTEBOOK_10 = "10-partly-synchronous-fork"
NOTEBOOK_11 = "11-selectors"
NOTEBOOK_12 = "12-unix-sockets"

# Seconds a client waits before we call the outcome "nothing came".
SHORT_WAIT = 0.3
# Seconds any other socket call or child process may take before the test fails instead of hanging.
WAIT = 5.0
# Seconds a helper program run in a subprocess may take.
PROGRAM_TIMEOUT = 60


# The stdlib's socketserver, then ours, for each test that takes ``module``.
module = claims_support.stdlib_then_ours


# -- Helpers ----------------------------------------------------------------------------------


@contextlib.contextmanager
def accepted_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected (client, server_side) TCP pair on loopback, both with a timeout, both closed."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=WAIT)
        server_side, _ = listener.accept()
    server_side.settimeout(WAIT)
    with client, server_side:
        yield client, server_side


def fork_quietly() -> int:
    """os.fork() without the 3.12+ warning about other threads (pytest's own may run)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def wait_for_child(pid: int) -> int:
    """Reap child ``pid`` (bounded by WAIT) and return its exit code."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        reaped, status = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise AssertionError(f"child {pid} did not exit within {WAIT} s")


def run_program(program: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``program`` with this Python in a fresh process; fail on a non-zero exit.

    Its standard output is a pipe and buffered as usual (PYTHONUNBUFFERED is removed from
    its environment, where a developer's shell or a CI runner may have set it).
    """
    environment = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    finished = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(program), *args],
        capture_output=True,
        text=True,
        timeout=PROGRAM_TIMEOUT,
        env=environment,
    )
    assert finished.returncode == 0, finished.stderr
    return finished


def upper_handler(module):
    """A handler that answers one line in capitals, on ``module``'s StreamRequestHandler."""

    class UpperHandler(module.StreamRequestHandler):
        def handle(self):
            self.wfile.write(self.rfile.readline(1000).upper())

    return UpperHandler


def ask_with_handle_request(server, line: bytes = b"hello\n") -> bytes:
    """Connect and send ``line``, let ``server.handle_request()`` serve it, read to the end."""
    with socket.create_connection(server.server_address, timeout=WAIT) as client:
        client.sendall(line)
        server.handle_request()
        return receive_all(client)


# -- Notebook 10: forking, per request or partly ----------------------------------------------


@pytest.mark.fork
def test_a_forking_server_forks_a_child_for_every_request_even_a_trivial_one(module):
    """10-partly-synchronous-fork: "A forking server forks a child for every request, even a
    trivial one"."""

    class PidHandler(module.BaseRequestHandler):
        def handle(self):
            self.request.sendall(str(os.getpid()).encode())

    with module.ForkingTCPServer(("127.0.0.1", 0), PidHandler) as server:
        pids = [int(ask_with_handle_request(server, b"")) for _ in range(3)]
    assert len(set(pids)) == 3
    assert os.getpid() not in pids


@pytest.mark.fork
def test_what_a_forking_servers_children_change_is_lost_when_they_exit(module):
    """10-partly-synchronous-fork: "whatever its children learn or change is lost when they
    exit"."""

    class CountingHandler(module.BaseRequestHandler):
        def handle(self):
            self.server.count += 1
            self.request.sendall(str(self.server.count).encode())

    with module.ForkingTCPServer(("127.0.0.1", 0), CountingHandler) as server:
        server.count = 0
        replies = [ask_with_handle_request(server, b"") for _ in range(3)]
        assert replies == [b"1", b"1", b"1"]
        assert server.count == 0


def test_a_synchronous_server_handles_each_request_in_its_own_thread_and_process(module):
    """10-partly-synchronous-fork: "A synchronous server starts nothing per request": every
    handler runs in the thread and process that called handle_request()."""
    where = []

    class WhereHandler(module.BaseRequestHandler):
        def handle(self):
            where.append((os.getpid(), threading.get_ident()))

    with module.TCPServer(("127.0.0.1", 0), WhereHandler) as server:
        for _ in range(3):
            ask_with_handle_request(server, b"")
    assert where == [(os.getpid(), threading.get_ident())] * 3


def test_one_slow_request_makes_a_synchronous_server_deaf(module):
    """10-partly-synchronous-fork: "one slow request makes it deaf": while one client keeps
    its request unfinished, a second client's complete request gets no answer."""
    server = module.TCPServer(("127.0.0.1", 0), upper_handler(module))
    with serving(server, poll_interval=0.05):
        with (
            socket.create_connection(server.server_address, timeout=WAIT) as slow,
            socket.create_connection(server.server_address, timeout=WAIT) as quick,
        ):
            slow.sendall(b"not finished yet")
            time.sleep(SHORT_WAIT)  # let the server start on the slow request
            quick.sendall(b"quick\n")
            assert nothing_arrives_within(quick)
            slow.sendall(b"\n")
            assert receive_all(slow) == b"NOT FINISHED YET\n"
            assert receive_all(quick) == b"QUICK\n"


@pytest.mark.fork
@pytest.mark.parametrize("module_name", ["socketserver", "socketserver_lit"])
def test_a_forked_child_that_returns_from_its_handler_goes_on_as_a_second_server(module_name):
    """10-partly-synchronous-fork: "if it returned from the handler it would go back into the
    server loop ... and carry on as a second server". Run in a fresh process: the child that
    returns reaches the loop's next turn and waits for clients there too."""
    program = """
        import importlib, os, socket, sys
        module = importlib.import_module(sys.argv[1])

        class ForksAndReturns(module.BaseRequestHandler):
            def handle(self):
                os.fork()  # both processes carry on from here
                self.request.sendall(b"x")

        parent = os.getpid()
        with module.TCPServer(("127.0.0.1", 0), ForksAndReturns) as server:
            server.timeout = 0.5
            with socket.create_connection(server.server_address, timeout=5) as client:
                for turn in range(2):
                    server.handle_request()
                    who = "parent" if os.getpid() == parent else "child"
                    print(who, "finished turn", turn, flush=True)
        if os.getpid() != parent:
            os._exit(0)
        os.wait()
    """
    lines = run_program(program, module_name).stdout.splitlines()
    assert "child finished turn 0" in lines
    assert "child finished turn 1" in lines  # the child served a second turn of the loop
    assert "parent finished turn 1" in lines


@pytest.mark.fork
@pytest.mark.parametrize(
    ("how_the_child_leaves", "runs_finally_and_atexit", "pending_output_printed"),
    [("os._exit(0)", False, 1), ("sys.exit(0)", True, 2)],
)
def test_os_exit_skips_finally_atexit_and_the_copied_output_buffer(
    how_the_child_leaves, runs_finally_and_atexit, pending_output_printed
):
    """10-partly-synchronous-fork: os._exit() "ends the process at once, without running
    finally blocks further up, atexit handlers, or flushing its copies of the parent's output
    buffers (which would print the parent's pending output a second time)"; sys.exit() in the
    child does all three."""
    program = f"""
        import atexit, os, sys
        print("pending", end=" ")  # stdout is a pipe: this waits in the buffer
        pid = os.fork()
        if pid == 0:
            atexit.register(lambda: print("atexit ran", end=" "))
            try:
                {how_the_child_leaves}
            finally:
                print("finally ran", end=" ")
        os.waitpid(pid, 0)
    """
    output = run_program(program).stdout
    assert output.count("pending") == pending_output_printed
    assert ("finally ran" in output) is runs_finally_and_atexit
    assert ("atexit ran" in output) is runs_finally_and_atexit


def test_shutdown_request_shuts_the_connection_down_for_writing_then_closes_it(module):
    """10-partly-synchronous-fork: "a synchronous server calls shutdown_request(), which does
    shutdown(SHUT_WR) and then close()"."""
    calls = []

    class RecordingRequest:
        def shutdown(self, how):
            calls.append(("shutdown", how))

        def close(self):
            calls.append(("close",))

    with module.TCPServer(("127.0.0.1", 0), module.BaseRequestHandler) as server:
        server.shutdown_request(RecordingRequest())
    assert calls == [("shutdown", socket.SHUT_WR), ("close",)]


@pytest.mark.fork
def test_closing_the_parents_copy_leaves_the_connection_open_while_the_child_holds_one():
    """10-partly-synchronous-fork: "close() only drops the parent's descriptor; the child's
    copy stays open, and the connection with it"."""
    with accepted_pair() as (client, server_side):
        go_read, go_write = os.pipe()
        pid = fork_quietly()
        if pid == 0:  # the child holds its copy until the parent writes to the pipe
            os.close(go_write)
            try:
                os.read(go_read, 1)
            finally:
                os._exit(0)
        os.close(go_read)
        try:
            server_side.close()  # the parent's copy
            assert nothing_arrives_within(client)
        finally:
            os.write(go_write, b"x")
            os.close(go_write)
            assert wait_for_child(pid) == 0
        assert client.recv(1) == b""  # the last copy closed with the child


@pytest.mark.fork
@pytest.mark.parametrize(
    ("child_shuts_down", "parent_keeps_its_copy", "client_sees_the_end"),
    [(False, False, True), (False, True, False), (True, True, True)],
    ids=["child-exits-parent-closes", "child-exits-parent-keeps", "child-shuts-down-parent-keeps"],
)
def test_who_ends_the_stream_when_a_parent_and_its_child_hold_a_connection(
    child_shuts_down, parent_keeps_its_copy, client_sees_the_end
):
    """10-partly-synchronous-fork: "one that only closes its copy (by exiting) leaves the
    stream open as long as anyone holds a copy", and Exercise 3's three answers: shutdown()
    ends the stream for every holder, close() only for the process that makes it."""
    with accepted_pair() as (client, server_side):
        pid = fork_quietly()
        if pid == 0:
            try:
                server_side.sendall(b"reply\n")
                if child_shuts_down:
                    server_side.shutdown(socket.SHUT_WR)
            finally:
                os._exit(0)
        try:
            if not parent_keeps_its_copy:
                server_side.close()
            assert client.recv(100) == b"reply\n"
            assert wait_for_child(pid) == 0
            assert nothing_arrives_within(client, 0.5) is not client_sees_the_end
        finally:
            server_side.close()
        if not client_sees_the_end:
            assert client.recv(1) == b""  # once the parent's copy is closed too


@pytest.mark.fork
def test_forking_mixin_parent_only_closes_its_copy_and_the_child_shuts_the_request_down(module):
    """10-partly-synchronous-fork: "ForkingMixIn only closes the parent's copy of each request,
    and leaves the shutting down to the child", whose "shutdown_request(), whose
    shutdown(SHUT_WR) ends the stream for every process that holds it": with the parent's copy
    kept open, the client still sees the end of the stream."""

    class RecordingForkingServer(module.ForkingTCPServer):
        def shutdown_request(self, request):
            if os.getpid() == self.parent_pid:
                self.parent_calls.append("shutdown_request")
            super().shutdown_request(request)

        def close_request(self, request):
            if os.getpid() == self.parent_pid:
                self.parent_calls.append("close_request")
                self.kept.append(request)  # keep the parent's copy open
            else:
                super().close_request(request)

    with RecordingForkingServer(("127.0.0.1", 0), upper_handler(module)) as server:
        server.parent_pid, server.parent_calls, server.kept = os.getpid(), [], []
        try:
            assert ask_with_handle_request(server) == b"HELLO\n"  # to the end of the stream
            assert server.parent_calls == ["close_request"]
            assert [request.fileno() != -1 for request in server.kept] == [True]
        finally:
            for request in server.kept:
                request.close()


def test_serve_forever_calls_service_actions_on_every_turn_of_its_loop(module):
    """10-partly-synchronous-fork: "serve_forever() calls service_actions() on every turn of
    its loop"; 11-selectors: "service_actions(), the hook that serve_forever() calls on every
    turn of its own loop": after each request it handles, and at each poll_interval when idle.

    Each call notes how many requests had been handled by then; the clients come one after
    the other, so a call after every request means every count from 1 to 3 is noted.
    """

    class CountingServer(module.TCPServer):
        def service_actions(self):
            self.noted.append(self.handled)

        def process_request(self, request, client_address):
            super().process_request(request, client_address)
            self.handled += 1

    server = CountingServer(("127.0.0.1", 0), upper_handler(module))
    server.handled, server.noted = 0, []
    with serving(server, poll_interval=0.05):
        for _ in range(3):
            with socket.create_connection(server.server_address, timeout=WAIT) as client:
                client.sendall(b"x\n")
                assert receive_all(client) == b"X\n"
        time.sleep(0.5)  # idle: ten poll intervals
    assert {1, 2, 3} <= set(server.noted)
    assert server.noted.count(3) >= 2  # idle turns after the last request


def test_handle_request_calls_handle_timeout_when_its_timeout_runs_out(module):
    """10-partly-synchronous-fork: "handle_request() calls handle_timeout() when its timeout
    runs out", and the notebook's comment that handle_request() "gives up after
    server.timeout seconds without a client"."""

    class TimingOutServer(module.TCPServer):
        timeout = 0.2
        timeouts = 0

        def handle_timeout(self):
            self.timeouts += 1

    with TimingOutServer(("127.0.0.1", 0), upper_handler(module)) as server:
        started = time.monotonic()
        server.handle_request()  # no client
        waited = time.monotonic() - started
        assert server.timeouts == 1
        assert waited >= 0.2  # it did wait for its timeout (no upper bound: a busy machine)
        assert ask_with_handle_request(server, b"late\n") == b"LATE\n"
        assert server.timeouts == 1  # a request that arrives in time is no timeout


@pytest.mark.fork
def test_fork_with_several_threads_warns_on_python_3_12_and_later_only():
    """10-partly-synchronous-fork: "Python 3.12 and later warn (a DeprecationWarning) when a
    process with several threads forks"; "Python 3.10 and 3.11 do not warn"."""
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, args=(WAIT,))
    other.start()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pid = os.fork()
            if pid == 0:
                os._exit(0)
    finally:
        stop.set()
        other.join(JOIN_TIMEOUT)
    assert wait_for_child(pid) == 0
    fork_warnings = [
        warning
        for warning in caught
        if issubclass(warning.category, DeprecationWarning) and "fork" in str(warning.message)
    ]
    assert bool(fork_warnings) is (sys.version_info >= (3, 12))


@pytest.mark.fork
def test_a_lock_held_by_another_thread_at_fork_stays_locked_in_the_child():
    """10-partly-synchronous-fork: "a lock held by another thread at that moment is copied in
    its locked state and never released in the child"."""
    lock = threading.Lock()
    holding, release = threading.Event(), threading.Event()

    def hold():
        with lock:
            holding.set()
            release.wait(WAIT)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(WAIT)
        pid = fork_quietly()
        if pid == 0:  # exit code 0: the lock could not be taken within 0.5 s
            os._exit(1 if lock.acquire(timeout=0.5) else 0)
    finally:
        release.set()
        holder.join(JOIN_TIMEOUT)
    assert wait_for_child(pid) == 0
    assert lock.acquire(timeout=WAIT)  # in the parent, the holder released it
    lock.release()


def test_accept_returns_connections_in_the_order_they_arrived():
    """10-partly-synchronous-fork: "the kernel's listen queue hands connections to accept() in
    the order they arrived" (Linux)."""
    with socket.create_server(("127.0.0.1", 0), backlog=8) as listener:
        listener.settimeout(WAIT)
        clients = [socket.create_connection(listener.getsockname(), timeout=WAIT) for _ in range(6)]
        try:
            accepted = [listener.accept() for _ in clients]
            order = [address for _, address in accepted]
            for connection, _ in accepted:
                connection.close()
            assert order == [client.getsockname() for client in clients]
        finally:
            for client in clients:
                client.close()


@pytest.mark.fork
@pytest.mark.parametrize("module_name", ["socketserver", "socketserver_lit"])
def test_a_forking_server_whose_parent_keeps_its_copies_fails_in_accept_with_emfile(module_name):
    """10-partly-synchronous-fork: a parent that keeps its copies holds "one open descriptor per
    request. A process may hold only so many open descriptors (... RLIMIT_NOFILE), so a server
    like this would serve for a while and then fail in accept() with EMFILE". Run in a fresh
    process with a low limit; the clients are this test's."""
    program = """
        import errno, importlib, os, resource, sys
        module = importlib.import_module(sys.argv[1])

        class Handler(module.StreamRequestHandler):
            def handle(self):
                self.wfile.write(b"ok\\n")

        class KeepsItsCopies(module.ForkingTCPServer):
            timeout = 2
            kept, accept_errors = [], []

            def close_request(self, request):
                if os.getpid() == parent:
                    self.kept.append(request)
                else:
                    super().close_request(request)

            def get_request(self):
                try:
                    return super().get_request()
                except OSError as error:
                    self.accept_errors.append(errno.errorcode[error.errno])
                    raise

        parent = os.getpid()
        server = KeepsItsCopies(("127.0.0.1", 0), Handler)
        highest = max(int(name) for name in os.listdir("/proc/self/fd"))
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 9, hard))  # room for 8 more
        print(server.server_address[1], flush=True)
        for _ in range(30):
            server.handle_request()
            if server.accept_errors:
                break
        print(len(server.kept), *server.accept_errors[:1], flush=True)
        server.server_close()
    """
    with subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(program), module_name],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as server_process:
        try:
            port = int(server_process.stdout.readline())
            answered = 0
            for _ in range(30):
                with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as client:
                    client.settimeout(1)
                    try:
                        if client.recv(100) != b"ok\n":
                            break
                    except (TimeoutError, ConnectionResetError):
                        break  # accepted by the kernel, never by the server
                    answered += 1
            report = server_process.stdout.read().split()
            assert server_process.wait(PROGRAM_TIMEOUT) == 0, server_process.stderr.read()
        finally:
            if server_process.poll() is None:
                server_process.kill()
    kept, error_name = report
    assert error_name == "EMFILE"
    assert int(kept) == answered >= 1  # it served a while, holding one copy per request


# -- Notebook 11: selectors ---------------------------------------------------------------------


def test_the_default_selector_on_linux_is_epoll():
    """11-selectors: DefaultSelector "picks the most efficient mechanism the platform offers
    (on Linux, epoll ...)"."""
    assert selectors.DefaultSelector is selectors.EpollSelector


def test_a_servers_fileno_is_its_sockets_descriptor(module):
    """11-selectors: "Every server has a fileno(), the descriptor of its socket"."""
    with (
        module.TCPServer(("127.0.0.1", 0), module.BaseRequestHandler) as tcp,
        module.UDPServer(("127.0.0.1", 0), module.BaseRequestHandler) as udp,
    ):
        assert tcp.fileno() == tcp.socket.fileno()
        assert udp.fileno() == udp.socket.fileno()


def test_handle_request_on_a_server_the_selector_reports_ready_serves_without_waiting(module):
    """11-selectors: "When one becomes readable, a request is waiting there, and
    handle_request() serves it"; "Because the server is known to be ready, handle_request()
    finds its request at once instead of waiting": with a timeout of 0 it still serves."""

    class NoWaitServer(module.TCPServer):
        timeout = 0
        timeouts = 0

        def handle_timeout(self):
            self.timeouts += 1

    with NoWaitServer(("127.0.0.1", 0), upper_handler(module)) as server:
        with (
            selectors.DefaultSelector() as selector,
            socket.create_connection(server.server_address, timeout=WAIT) as client,
        ):
            selector.register(server.fileno(), selectors.EVENT_READ)
            client.sendall(b"ready\n")
            assert selector.select(WAIT), "the server never became readable"
            server.handle_request()
            assert receive_all(client) == b"READY\n"
        assert server.timeouts == 0


def test_a_silent_client_of_one_server_stalls_every_server_of_the_selector_loop(module):
    """11-selectors: "a TCP client that connects and then says nothing keeps the main thread
    inside readline(), and all three servers go deaf together". The notebook's serve_several()
    loop, with a handler timeout of 1 s as the bound."""

    in_readline = threading.Event()

    class SlowToGiveUpHandler(upper_handler(module)):
        timeout = 1.0

        def setup(self):
            super().setup()
            in_readline.set()  # handle() is about to wait in readline()

        def handle(self):
            with contextlib.suppress(TimeoutError):
                super().handle()

    class ReverseHandler(module.DatagramRequestHandler):
        def handle(self):
            self.wfile.write(self.rfile.read().strip()[::-1])

    with (
        module.TCPServer(("127.0.0.1", 0), SlowToGiveUpHandler) as upper,
        module.UDPServer(("127.0.0.1", 0), ReverseHandler) as reverse,
        selectors.DefaultSelector() as selector,
    ):
        for server in (upper, reverse):
            selector.register(server.fileno(), selectors.EVENT_READ, data=server)
        handled = []

        def serve_two_requests():
            deadline = time.monotonic() + WAIT
            while len(handled) < 2 and (remaining := deadline - time.monotonic()) > 0:
                for key, _ in selector.select(remaining):
                    key.data.handle_request()
                    handled.append(key.data)

        with (
            socket.create_connection(upper.server_address, timeout=WAIT) as silent,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as datagram_client,
        ):
            loop = threading.Thread(target=serve_two_requests)
            loop.start()
            assert in_readline.wait(WAIT), "the silent client's request was never handled"
            datagram_client.settimeout(SHORT_WAIT)
            datagram_client.sendto(b"olleh", reverse.server_address)
            with pytest.raises(TimeoutError):
                datagram_client.recv(100)  # the UDP server is deaf too
            datagram_client.settimeout(WAIT)
            assert datagram_client.recv(100) == b"hello"  # once the handler gave up
            loop.join(JOIN_TIMEOUT)
            assert silent.recv(1) == b""
    assert handled == [upper, reverse]


def test_the_threading_and_forking_mixins_override_process_request(module):
    """11-selectors: "process_request(), the method that the threading and forking mixins
    override too"."""
    assert "process_request" in vars(module.ThreadingMixIn)
    assert "process_request" in vars(module.ForkingMixIn)


def test_handle_request_calls_get_request_verify_request_then_process_request(module):
    """11-selectors: the notebook's comment "handle_request() calls get_request,
    verify_request, then this [process_request]"."""
    calls = []

    class RecordingServer(module.TCPServer):
        def get_request(self):
            calls.append("get_request")
            return super().get_request()

        def verify_request(self, request, client_address):
            calls.append("verify_request")
            return True

        def process_request(self, request, client_address):
            calls.append("process_request")
            super().process_request(request, client_address)

    with RecordingServer(("127.0.0.1", 0), upper_handler(module)) as server:
        assert ask_with_handle_request(server) == b"HELLO\n"
    assert calls == ["get_request", "verify_request", "process_request"]


def test_a_server_accepts_none_as_its_handler_class(module):
    """11-selectors: the event-driven server "passes None where the class would go: the stdlib
    accepts that, and so do we"."""
    with module.TCPServer(("127.0.0.1", 0), None) as server:
        assert server.RequestHandlerClass is None
        assert server.server_address[1] > 0


SIOCOUTQNSD = 0x894B  # Linux: bytes in a socket's send queue not yet sent (linux/sockios.h)


def bytes_not_yet_sent(sock: socket.socket) -> int:
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), SIOCOUTQNSD, bytes(4)))[0]


def two_small_writes(nodelay: bool, rounds: int = 10) -> tuple[int, list[float]]:
    """Write two 1-byte pieces, then wait for a reply, ``rounds`` times.

    Returns how often the second piece was held back unsent, and how long after the first
    write the second piece arrived, each round.
    """
    held_back, delays = 0, []
    with accepted_pair() as (client, server_side):
        assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0  # the default
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(nodelay))
        for _ in range(rounds):
            started = time.perf_counter()
            client.send(b"a")
            client.send(b"b")
            held_back += bytes_not_yet_sent(client) > 0
            received = b""
            while len(received) < 2:
                received += server_side.recv(2 - len(received))
            delays.append(time.perf_counter() - started)
            server_side.sendall(b"r")  # the reply a request-response protocol would send
            assert client.recv(1) == b"r"
    return held_back, delays


def test_nagle_holds_back_a_small_piece_while_an_earlier_one_is_unacknowledged():
    """11-selectors: "With it on (the default), the kernel holds back a small piece of data
    while an earlier piece is still unacknowledged, and the receiver may delay its
    acknowledgement (by about 40 ms on Linux)". Most rounds after the first few hold the second
    piece back; those wait for the delayed acknowledgement (Linux's minimum is 40 ms, so at
    least 30 ms here; no upper bound, as a busy machine may add to it)."""
    held_back, delays = two_small_writes(nodelay=False)
    assert held_back >= 5
    assert sum(delay >= 0.030 for delay in delays) >= 5


def test_tcp_nodelay_sends_each_piece_at_once():
    """11-selectors: "With TCP_NODELAY, each sendall() goes out at once": nothing is left
    unsent after a write."""
    held_back, _ = two_small_writes(nodelay=True)
    assert held_back == 0


def test_asyncios_default_event_loop_on_linux_is_built_on_the_default_selector():
    """11-selectors: "on Linux, asyncio's default event loop is built on a
    selectors.DefaultSelector"."""
    loop = asyncio.new_event_loop()
    try:
        assert isinstance(loop, asyncio.SelectorEventLoop)
        assert isinstance(loop._selector, selectors.DefaultSelector)  # noqa: SLF001
    finally:
        loop.close()


# -- Notebook 12: Unix domain sockets -----------------------------------------------------------


@pytest.fixture
def private_dir() -> Iterator[str]:
    """A fresh temporary directory with a short path, removed with all it holds at the end."""
    path = tempfile.mkdtemp(prefix="claims12-")
    try:
        yield path
    finally:
        shutil.rmtree(path)


def test_the_unix_servers_have_threading_variants_and_forking_ones_in_the_stdlib_since_3_12():
    """12-unix-sockets: "UnixStreamServer and UnixDatagramServer (and their threading and
    forking variants; the forking ones are in the standard library since Python 3.12, in ours
    on every version)"."""
    for name in ("UnixStreamServer", "UnixDatagramServer"):
        assert hasattr(socketserver, name) and hasattr(socketserver_lit, name)
        assert hasattr(socketserver, f"Threading{name}")
        assert hasattr(socketserver_lit, f"Threading{name}")
        assert hasattr(socketserver, f"Forking{name}") is (sys.version_info >= (3, 12))
        assert hasattr(socketserver_lit, f"Forking{name}")


def test_a_unix_socket_path_holds_at_most_107_bytes_on_linux(private_dir):
    """12-unix-sockets: "on Linux a socket path holds at most 107 bytes"."""
    longest = os.path.join(private_dir, "x" * (107 - len(private_dir) - 1))
    assert len(longest.encode()) == 107
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as fits:
        fits.bind(longest)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as too_long:
        with pytest.raises(OSError):
            too_long.bind(longest + "x")


def test_a_udp_socket_gets_a_port_on_its_first_sendto_and_a_unix_one_no_name(private_dir):
    """12-unix-sockets: "A UDP client gets a sender address without asking: the kernel gives
    its socket a port on the first sendto(). A Unix datagram socket gets no such name. If the
    client does not bind() its socket to a path, its packets arrive with no sender address"."""
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender,
    ):
        receiver.bind(("127.0.0.1", 0))
        assert sender.getsockname()[1] == 0
        sender.sendto(b"x", receiver.getsockname())
        assert sender.getsockname()[1] > 0
        data, (_, sender_port) = receiver.recvfrom(10)
        assert (data, sender_port) == (b"x", sender.getsockname()[1])
    with (
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver,
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender,
    ):
        receiver.bind(os.path.join(private_dir, "receiver.sock"))
        sender.sendto(b"x", receiver.getsockname())
        assert sender.getsockname() in ("", None)
        assert receiver.recvfrom(10) == (b"x", None)


def test_closing_a_bound_unix_socket_never_removes_its_file(private_dir):
    """12-unix-sockets: "closing a socket never deletes its file"."""
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        path = os.path.join(private_dir, f"kind-{kind}.sock")
        with socket.socket(socket.AF_UNIX, kind) as sock:
            sock.bind(path)
        assert stat.S_ISSOCK(os.stat(path).st_mode)


@pytest.mark.parametrize("server_name", ["UnixStreamServer", "UnixDatagramServer"])
def test_the_unix_servers_leave_their_file_by_default_and_remove_it_when_asked(
    server_name, private_dir
):
    """12-unix-sockets: "The standard library's Unix servers leave it behind on
    server_close(), and so do ours, unless you ask"; "remove_socket_file_on_close (ours ...) is
    a class attribute of our UnixStreamServer and UnixDatagramServer. Set it to True and
    server_close() removes the socket file the server created"."""
    path = os.path.join(private_dir, "server.sock")
    for module in (socketserver, socketserver_lit):
        with getattr(module, server_name)(path, module.BaseRequestHandler):
            pass
        assert os.path.exists(path), module.__name__
        os.unlink(path)
    assert not hasattr(getattr(socketserver, server_name), "remove_socket_file_on_close")
    assert getattr(socketserver_lit, server_name).remove_socket_file_on_close is False

    class Cleaning(getattr(socketserver_lit, server_name)):
        remove_socket_file_on_close = True

    with Cleaning(path, socketserver_lit.BaseRequestHandler):
        assert os.path.exists(path)
    assert not os.path.exists(path)


@pytest.mark.fork
def test_with_the_opt_in_the_binding_process_removes_the_file_even_while_a_child_serves(
    private_dir,
):
    """12-unix-sockets: "A program that binds, then forks a daemon to do the serving and lets
    the original process exit, should leave the option off: the binding process's
    server_close() would remove the file the daemon serves on"."""

    class Cleaning(socketserver_lit.UnixStreamServer):
        remove_socket_file_on_close = True

    path = os.path.join(private_dir, "daemon.sock")
    server = Cleaning(path, socketserver_lit.BaseRequestHandler)
    go_read, go_write = os.pipe()
    pid = fork_quietly()
    if pid == 0:  # the "daemon": keeps its copy of the server open until told
        os.close(go_write)
        try:
            os.read(go_read, 1)
        finally:
            os._exit(0)
    os.close(go_read)
    try:
        server.server_close()  # the binding process leaves
        assert not os.path.exists(path)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            with pytest.raises(FileNotFoundError):
                client.connect(path)
    finally:
        os.write(go_write, b"x")
        os.close(go_write)
        assert wait_for_child(pid) == 0


def test_once_a_live_servers_file_is_unlinked_new_clients_cannot_find_it(module, private_dir):
    """12-unix-sockets: "only the process that serves should os.unlink() the path, because once
    the file is gone, new clients can no longer find the server"."""
    path = os.path.join(private_dir, "live.sock")
    with module.UnixStreamServer(path, module.BaseRequestHandler) as server:
        os.unlink(path)
        assert server.socket.fileno() != -1  # the server itself is still listening
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            with pytest.raises(FileNotFoundError):
                client.connect(path)


BIND_TWICE = """
    import sys
    {imports}
    import socketserver_lit
    path = sys.argv[1]
    with socketserver_lit.UnixStreamServer(path, socketserver_lit.BaseRequestHandler):
        socketserver_lit.UnixStreamServer(path, socketserver_lit.BaseRequestHandler)
"""


def uncaught_bind_error_traceback(path: str, imports: str = "") -> str:
    """The traceback a fresh Python prints for an uncaught bind error on ``path``."""
    finished = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(BIND_TWICE.format(imports=imports)), path],
        capture_output=True,
        text=True,
        timeout=PROGRAM_TIMEOUT,
    )
    assert finished.returncode == 1, finished.stderr
    assert "OSError: [Errno 98] Address already in use" in finished.stderr
    return finished.stderr


def test_a_traceback_prints_a_bind_errors_note_on_python_3_11_and_later(private_dir):
    """12-unix-sockets: "A traceback prints the note under the error's own line (Python 3.11
    and later; Python 3.10 keeps it in __notes__, and its tracebacks do not print it unless
    the exceptiongroup backport has been imported, as pytest does)"."""
    path = os.path.join(private_dir, "busy.sock")
    printed = uncaught_bind_error_traceback(path)
    assert (f"cannot bind to {path!r}" in printed) is (sys.version_info >= (3, 11))


def test_a_traceback_printed_where_pytest_runs_shows_the_note_on_every_python(private_dir):
    """12-unix-sockets: on Python 3.10, tracebacks do not print the note "unless the
    exceptiongroup backport has been imported, as pytest does". So in this process the note
    is printed on every Python: natively from 3.11, through the backport on 3.10."""
    path_here = os.path.join(private_dir, "busy-here.sock")
    with socketserver_lit.UnixStreamServer(path_here, socketserver_lit.BaseRequestHandler):
        with pytest.raises(OSError) as caught:
            socketserver_lit.UnixStreamServer(path_here, socketserver_lit.BaseRequestHandler)
    assert caught.value.__notes__[0] in "".join(traceback.format_exception(caught.value))
    if sys.version_info < (3, 11):
        assert "exceptiongroup" in sys.modules  # pytest imported it: that is what prints it
        path = os.path.join(private_dir, "busy.sock")
        printed = uncaught_bind_error_traceback(path, imports="import exceptiongroup")
        assert f"cannot bind to {path!r}" in printed  # and a fresh 3.10 does, with it


CONNECT_OUTCOMES = ["connected", "EACCES", "other error"]


def connect_as_nobody(path: str) -> str:
    """Try to connect to ``path`` from a child process running as user and group 65534 (nobody).

    Returns "connected", "EACCES" or "other error". Needs root (to change user); the caller
    is skipped otherwise.
    """
    pid = fork_quietly()
    if pid == 0:
        outcome = 2
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                client.settimeout(WAIT)
                try:
                    client.connect(path)
                    outcome = 0
                except PermissionError:
                    outcome = 1
        finally:
            os._exit(outcome)
    return CONNECT_OUTCOMES[wait_for_child(pid)]


@pytest.mark.skipif(os.geteuid() != 0, reason="running a client as another user needs root")
def test_connecting_to_a_unix_socket_needs_write_permission_on_its_file_and_a_way_in(private_dir):
    """12-unix-sockets: "the file's permissions decide who may connect"; Exercise 3: "To
    connect to a Unix stream socket, a process needs permission to write to its file", and
    "binding inside a directory only they can enter" keeps others out."""
    os.chmod(private_dir, 0o755)
    path = os.path.join(private_dir, "door.sock")
    with socketserver_lit.UnixStreamServer(path, socketserver_lit.BaseRequestHandler):
        os.chmod(path, 0o777)
        assert connect_as_nobody(path) == "connected"
        os.chmod(path, 0o755)  # others may read, not write
        assert connect_as_nobody(path) == "EACCES"
        os.chmod(path, 0o777)
        os.chmod(private_dir, 0o700)  # a directory only the owner can enter
        assert connect_as_nobody(path) == "EACCES"


def test_a_unix_socket_file_gets_its_mode_from_the_umask(private_dir):
    """12-unix-sockets, Exercise 3: "between bind() and chmod() the file briefly has the mode
    the process's umask gives it", which is why "setting the process-wide umask around bind()"
    closes the window. Run in a fresh process, as the umask is process-wide."""
    program = """
        import os, socket, stat, sys
        for umask in (0o022, 0o077):
            os.umask(umask)
            path = os.path.join(sys.argv[1], f"{umask:o}.sock")
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.bind(path)
            print(oct(stat.S_IMODE(os.stat(path).st_mode)))
    """
    modes = run_program(program, private_dir).stdout.split()
    assert modes == [oct(0o777 & ~0o022), oct(0o777 & ~0o077)]

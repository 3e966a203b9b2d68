"""What the kernel, fork, threads and the standard library do, as socketserver_lit/tracing.py says.

Each test runs one sentence of ``socketserver_lit/tracing.py`` (its essay, a docstring or a
comment) and is named for it; its docstring says where the sentence stands. The module
essay is also a page of the site: the API reference (docs/reference/, rendered from the
docstring) and the literate source page (docs/source/tracing.md). A sentence that compares
the standard library's ``socketserver`` with ours is run against both.

Platforms: the sentences say where they hold. Those about fork() need POSIX (``fork``
mark); those about Linux (``/proc``, pipe sizes, ``CLOCK_MONOTONIC``, how concurrent appends
land) are checked on Linux only, and are written as Linux facts.
"""

from __future__ import annotations

import os
import signal
import socket
import socketserver as stdlib_socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import socketserver_lit
from socketserver_lit import tracing
from socketserver_lit.tracing import ALL_HOOKS, HANDLER_HOOKS, SERVER_HOOKS, Tracer

PACKAGES = pytest.mark.parametrize(
    "package", [stdlib_socketserver, socketserver_lit], ids=["stdlib", "lit"]
)
LINUX_ONLY = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the sentence is about Linux"
)
# Upper bound for every wait on a socket, a thread or a child process in these tests.
WAIT_SECONDS = 10.0
# Short enough that the standard library's shutdown(), which waits for the loop's next
# turn, returns quickly; idle turns this causes are hidden or accounted for.
POLL_INTERVAL = 0.05
# How long a test gives a thread to get past a call that should block: if it is still
# inside after this, it is taken as blocked (a slow machine only makes the check weaker).
BLOCKED_AFTER_SECONDS = 0.2


def in_forked_child(work: Callable[[], bool]) -> bool:
    """Run ``work`` in a forked child and return what it returned; an alarm ends a hang."""
    child = os.fork()
    if child == 0:  # pragma: no cover  (runs in the child)
        exit_code = 1
        try:
            signal.alarm(int(WAIT_SECONDS))
            exit_code = 0 if work() else 2
        finally:
            os._exit(exit_code)
    _pid, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status) == 0


# -- the hooks -------------------------------------------------------------------------------

# The overridable methods the specification names for servers and handlers.
SPECIFIED_HOOKS = {
    "server_bind",
    "server_activate",
    "get_request",
    "verify_request",
    "process_request",
    "finish_request",
    "service_actions",
    "handle_timeout",
    "handle_error",
    "shutdown",
    "server_close",
    "setup",
    "handle",
    "finish",
}


def test_the_hook_lists_hold_every_hook_the_specification_names_and_two_more() -> None:
    """tracing.py essay, "Why trace": the specified hooks, plus shutdown_request, close_request."""
    assert set(ALL_HOOKS) - SPECIFIED_HOOKS == {"shutdown_request", "close_request"}
    assert SPECIFIED_HOOKS <= set(ALL_HOOKS)


@PACKAGES
def test_every_hook_is_a_method_of_both_packages_server_and_handler_classes(package: Any) -> None:
    """tracing.py essay, "Why trace" and "How it works": the tracer works on both packages.

    Including ``shutdown_request`` and ``close_request``, which the standard library has but
    does not document.
    """
    servers = [
        package.TCPServer,
        package.UDPServer,
        package.ThreadingTCPServer,
        package.ThreadingUDPServer,
    ]
    if hasattr(os, "fork"):
        servers += [package.ForkingTCPServer, package.ForkingUDPServer]
    if hasattr(socket, "AF_UNIX"):
        servers += [package.UnixStreamServer, package.UnixDatagramServer]
    for server_class in servers:
        missing = [hook for hook in SERVER_HOOKS if not callable(getattr(server_class, hook, None))]
        assert missing == [], server_class
    for handler_class in (
        package.BaseRequestHandler,
        package.StreamRequestHandler,
        package.DatagramRequestHandler,
    ):
        assert all(callable(getattr(handler_class, hook, None)) for hook in HANDLER_HOOKS)


# -- who runs each part of a request, in both packages ------------------------------------


class EchoHandler:
    """Send back what the client sent, over a stream or a datagram (mixed into each package)."""

    request: Any
    client_address: Any

    def handle(self) -> None:
        if isinstance(self.request, tuple):
            data, reply_socket = self.request
            reply_socket.sendto(data, self.client_address)
        else:
            self.request.sendall(self.request.recv(100))


def exchange(server_address: Any, datagram: bool) -> bytes:
    kind = socket.SOCK_DGRAM if datagram else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as client:
        client.settimeout(WAIT_SECONDS)
        client.connect(server_address)
        client.sendall(b"ping")
        return client.recv(100)


def trace_two_requests(package: Any, server_name: str) -> dict[str, list[str]]:
    """Serve two requests, one after the other, on a traced server; return hooks by actor."""
    handler_class = type("Echo", (EchoHandler, package.BaseRequestHandler), {})
    with Tracer() as tracer:
        server_class = tracer.trace_server(getattr(package, server_name))
        with server_class(("127.0.0.1", 0), handler_class) as server:
            loop = threading.Thread(target=server.serve_forever, args=(POLL_INTERVAL,))
            loop.start()
            try:
                for done in (1, 2):
                    assert exchange(server.server_address, "UDP" in server_name) == b"ping"
                    tracer.wait_for("shutdown_request", done)
            finally:
                server.shutdown()
                loop.join(WAIT_SECONDS)
        # Idle turns of the loop depend on timing: leave service_actions out.
        return tracer.hooks_by_actor(hide=["service_actions"])


SERVER_NAMES = ["TCPServer", "UDPServer", "ThreadingTCPServer", "ThreadingUDPServer"]
if hasattr(os, "fork"):
    SERVER_NAMES += ["ForkingTCPServer", "ForkingUDPServer"]


@pytest.mark.parametrize("server_name", SERVER_NAMES)
def test_the_tracer_sees_the_same_calls_on_the_stdlib_server_and_ours(server_name: str) -> None:
    """tracing.py essay, "Why trace": each scenario runs against both packages and compares."""
    assert trace_two_requests(stdlib_socketserver, server_name) == trace_two_requests(
        socketserver_lit, server_name
    )


REQUEST_HOOKS = [
    "get_request",
    "verify_request",
    "process_request",
    "finish_request",
    "setup",
    "handle",
    "finish",
    "shutdown_request",
    "close_request",
]


@PACKAGES
def test_a_synchronous_server_runs_every_request_on_the_serve_loop_thread(package: Any) -> None:
    """tracing.py essay, "Why trace": one thread, from get_request to close_request."""
    by_actor = trace_two_requests(package, "TCPServer")
    assert by_actor == {
        "main": ["server_bind", "server_activate", "shutdown", "server_close"],
        "thread 1 (serve_forever)": REQUEST_HOOKS * 2,
    }


@PACKAGES
def test_a_threading_server_runs_each_request_from_finish_request_on_in_a_new_thread(
    package: Any,
) -> None:
    """tracing.py essay, "Why trace"; ``Call`` docstring: ``thread 2 (process_request_thread)``."""
    by_actor = trace_two_requests(package, "ThreadingTCPServer")
    assert by_actor["thread 1 (serve_forever)"] == REQUEST_HOOKS[:3] * 2
    assert by_actor["thread 2 (process_request_thread)"] == REQUEST_HOOKS[3:]
    assert by_actor["thread 3 (process_request_thread)"] == REQUEST_HOOKS[3:]


@pytest.mark.fork
@PACKAGES
def test_a_forking_server_runs_each_request_in_a_child_and_the_parent_closes_its_copy(
    package: Any,
) -> None:
    """tracing.py essay, "Why trace": a child from finish_request on; the parent's close_request."""
    by_actor = trace_two_requests(package, "ForkingTCPServer")
    assert by_actor["thread 1 (serve_forever)"] == (REQUEST_HOOKS[:3] + ["close_request"]) * 2
    assert by_actor["child 1"] == by_actor["child 2"] == REQUEST_HOOKS[3:]


class FailingHandler:
    def handle(self) -> None:
        raise KeyError("the handler failed")


@PACKAGES
def test_handle_error_runs_while_the_exception_is_being_handled(package: Any) -> None:
    """tracing.py, ``TraceRecord`` docstring: why a handle_error record can name the exception."""
    seen: list[BaseException | None] = []

    class NotingServer(package.TCPServer):  # type: ignore[name-defined,misc]
        def handle_error(self, request: Any, client_address: Any) -> None:
            seen.append(sys.exc_info()[1])

    handler_class = type("Failing", (FailingHandler, package.BaseRequestHandler), {})
    with NotingServer(("127.0.0.1", 0), handler_class) as server:
        with socket.create_connection(server.server_address, timeout=WAIT_SECONDS):
            server.handle_request()
    [error] = seen
    assert isinstance(error, KeyError)


# -- the serve loop's turns -------------------------------------------------------------------


@PACKAGES
def test_service_actions_runs_on_the_turn_that_handled_each_request(package: Any) -> None:
    """tracing.py essay, "Keeping timelines readable": service_actions runs on every turn."""
    with Tracer() as tracer:
        server_class = tracer.trace_server(package.TCPServer)
        with server_class(("127.0.0.1", 0), package.BaseRequestHandler) as server:
            loop = threading.Thread(target=server.serve_forever, args=(POLL_INTERVAL,))
            loop.start()
            try:
                for done in (1, 2):
                    socket.create_connection(server.server_address, timeout=WAIT_SECONDS).close()
                    tracer.wait_for("process_request", done)
                    tracer.wait_for("service_actions", done)
            finally:
                server.shutdown()
                loop.join(WAIT_SECONDS)
        turns = [
            call.hook
            for call in tracer.calls(collapse=())
            if call.actor == "thread 1 (serve_forever)" and call.depth == 0
        ]
    after_each_request = [
        turns[index + 1] for index, hook in enumerate(turns) if hook == "process_request"
    ]
    assert after_each_request == ["service_actions", "service_actions"]


@PACKAGES
def test_an_idle_serve_loop_keeps_turning_and_calling_service_actions(package: Any) -> None:
    """tracing.py essay, "Keeping timelines readable": an idle loop turns every poll_interval."""
    with Tracer() as tracer:
        server_class = tracer.trace_server(package.TCPServer)
        with server_class(("127.0.0.1", 0), package.BaseRequestHandler) as server:
            loop = threading.Thread(target=server.serve_forever, args=(0.005,))
            loop.start()
            try:
                tracer.wait_for("service_actions", 5, timeout=WAIT_SECONDS)
            finally:
                server.shutdown()
                loop.join(WAIT_SECONDS)
        serving = tracer.hooks_by_actor(collapse=())["thread 1 (serve_forever)"]
    assert len(serving) >= 5
    assert set(serving) == {"service_actions"}  # no request: every turn was an idle one


# -- fork: memory, descriptors, threads and locks ----------------------------------------------


@pytest.mark.fork
def test_a_forked_child_changes_only_its_own_copy_of_memory() -> None:
    """tracing.py essay, "Getting records out of forked children": why records go to a file."""
    records: list[str] = []

    def append_in_child() -> bool:
        records.append("from the child")
        return records == ["from the child"]

    assert in_forked_child(append_in_child)
    assert records == []


@pytest.mark.fork
def test_a_forked_child_inherits_the_trace_descriptor_and_appends_to_the_same_file() -> None:
    """tracing.py essay, "Getting records out of forked children": every child inherits it."""
    descriptor = tracing._open_append_only_temporary_file()
    try:
        os.write(descriptor, b"parent\n")
        assert in_forked_child(lambda: os.write(descriptor, b"child\n") == 6)
        os.write(descriptor, b"parent again\n")
        assert os.pread(descriptor, 100, 0) == b"parent\nchild\nparent again\n"
    finally:
        os.close(descriptor)


@pytest.mark.fork
@LINUX_ONLY
def test_fork_copies_only_the_thread_that_called_it() -> None:
    """tracing.py, ``_give_forked_children_fresh_locks``: the child has one thread (Linux /proc)."""
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, args=(WAIT_SECONDS,))
    other.start()
    try:
        assert len(os.listdir("/proc/self/task")) >= 2
        assert in_forked_child(lambda: len(os.listdir("/proc/self/task")) == 1)
    finally:
        stop.set()
        other.join(WAIT_SECONDS)


@pytest.mark.fork
def test_a_lock_held_by_another_thread_is_still_held_in_a_forked_child() -> None:
    """tracing.py, ``_give_forked_children_fresh_locks``, ``Tracer.__init__``: why a fresh lock."""
    lock = threading.Lock()
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock:
            holding.set()
            release.wait(WAIT_SECONDS)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(WAIT_SECONDS)
        assert in_forked_child(lambda: not lock.acquire(timeout=BLOCKED_AFTER_SECONDS))
    finally:
        release.set()
        holder.join(WAIT_SECONDS)


@pytest.mark.fork
@LINUX_ONLY
def test_the_monotonic_clock_is_one_clock_for_the_parent_and_its_forked_children() -> None:
    """tracing.py, ``TraceRecord`` docstring: time_ns compares across processes (Linux)."""
    assert time.get_clock_info("monotonic").implementation == "clock_gettime(CLOCK_MONOTONIC)"
    reader, writer = os.pipe()
    try:
        before = time.monotonic_ns()
        assert in_forked_child(lambda: os.write(writer, str(time.monotonic_ns()).encode()) > 0)
        after = time.monotonic_ns()
        in_child = int(os.read(reader, 100))
    finally:
        os.close(reader)
        os.close(writer)
    assert before <= in_child <= after


# -- appending to a file, and why not a pipe -----------------------------------------------------

# Writers and records for the concurrent-append test: 3 processes x 3 threads, and records
# of varied lengths up to a few KiB, so many cross a page boundary of the file.
APPENDING_PROCESSES = 3
APPENDING_THREADS = 3
RECORDS_PER_WRITER = 300


def append_records(descriptor: int, writer: str, start: threading.Barrier) -> None:
    start.wait(WAIT_SECONDS)
    for number in range(RECORDS_PER_WRITER):
        os.write(descriptor, f"{writer} {number} {'x' * (number * 37 % 3000)}\n".encode())


def append_from_threads(descriptor: int, process: int) -> bool:
    start = threading.Barrier(APPENDING_THREADS)
    threads = [
        threading.Thread(target=append_records, args=(descriptor, f"p{process}t{index}", start))
        for index in range(APPENDING_THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_SECONDS)
    return not any(thread.is_alive() for thread in threads)


@pytest.mark.fork
@LINUX_ONLY
def test_appends_from_many_threads_and_processes_land_whole_and_none_overwrites_another() -> None:
    """tracing.py essay, "Getting records out of forked children": O_APPEND writes land whole.

    Linux, a regular file in the temporary directory (not NFS, as the essay says).
    """
    descriptor = tracing._open_append_only_temporary_file()
    try:
        children = []
        for process in range(1, APPENDING_PROCESSES):
            child = os.fork()
            if child == 0:  # pragma: no cover  (runs in the child)
                exit_code = 1
                try:
                    signal.alarm(int(WAIT_SECONDS))
                    exit_code = 0 if append_from_threads(descriptor, process) else 2
                finally:
                    os._exit(exit_code)
            children.append(child)
        assert append_from_threads(descriptor, 0)
        for child in children:
            _pid, status = os.waitpid(child, 0)
            assert os.waitstatus_to_exitcode(status) == 0
        size = os.fstat(descriptor).st_size
        lines = os.pread(descriptor, size, 0).decode().splitlines()
    finally:
        os.close(descriptor)

    numbers_by_writer: dict[str, list[int]] = {}
    for line in lines:
        writer, number, payload = line.split(" ")
        assert payload == "x" * (int(number) * 37 % 3000), "a record was cut or mixed"
        numbers_by_writer.setdefault(writer, []).append(int(number))
    assert len(numbers_by_writer) == APPENDING_PROCESSES * APPENDING_THREADS
    for numbers in numbers_by_writer.values():
        assert numbers == list(range(RECORDS_PER_WRITER))  # all there, each writer in order


@LINUX_ONLY
def test_a_pipe_holds_sixteen_pages_by_default_on_linux() -> None:
    """tracing.py essay: "a pipe holds a fixed amount (64 KiB by default on Linux ...)"."""
    import fcntl

    page = os.sysconf("SC_PAGE_SIZE")
    reader, writer = os.pipe()
    try:
        assert fcntl.fcntl(writer, fcntl.F_GETPIPE_SZ) == 16 * page
        os.set_blocking(writer, False)
        held = 0
        with pytest.raises(BlockingIOError):
            for _ in range(1000):  # far more than it can hold
                held += os.write(writer, b"x" * page)
        assert held == 16 * page
    finally:
        os.close(reader)
        os.close(writer)
    if page == 4096:
        assert held == 64 * 1024


def test_a_writer_waits_while_the_pipe_is_full() -> None:
    """tracing.py essay: "a writer blocks while it is full" (POSIX pipes, blocking mode)."""
    reader, writer = os.pipe()
    wrote = threading.Event()

    def write_one_more_byte() -> None:
        os.write(writer, b"y")
        wrote.set()

    try:
        os.set_blocking(writer, False)
        with pytest.raises(BlockingIOError):
            for _ in range(100_000):
                os.write(writer, b"x" * 1024)
        os.set_blocking(writer, True)
        late_writer = threading.Thread(target=write_one_more_byte)
        late_writer.start()
        assert not wrote.wait(BLOCKED_AFTER_SECONDS)  # still inside write()
        while not wrote.is_set():
            os.read(reader, 1 << 16)  # make room
            wrote.wait(0.01)
        late_writer.join(WAIT_SECONDS)
        assert not late_writer.is_alive()
    finally:
        os.close(reader)
        os.close(writer)


@LINUX_ONLY
def test_a_write_to_a_file_can_come_up_short_at_the_file_size_limit(tmp_path: Any) -> None:
    """tracing.py, ``_write_all``: os.write() may write less than asked (RLIMIT_FSIZE).

    The other case that comment names, a full disk, is the write(2) manual's; not run here.
    """
    script = (
        "import os, resource, signal\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (10, resource.RLIM_INFINITY))\n"
        f"fd = os.open({str(tmp_path / 'limited')!r}, os.O_WRONLY | os.O_CREAT | os.O_APPEND)\n"
        "print(os.write(fd, b'x' * 100))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=WAIT_SECONDS
    )
    assert result.stderr == ""
    assert result.stdout == "10\n"


@pytest.mark.fork
@PACKAGES
def test_a_forking_server_s_server_close_waits_for_its_children(package: Any) -> None:
    """tracing.py essay: the parent waits in server_close() for its children (block_on_close)."""
    assert package.ForkingMixIn.block_on_close is True

    class WaitForOneByte(package.BaseRequestHandler):  # type: ignore[name-defined,misc]
        def handle(self) -> None:
            self.request.recv(1)

    server = package.ForkingTCPServer(("127.0.0.1", 0), WaitForOneByte)
    with socket.create_connection(server.server_address, timeout=WAIT_SECONDS) as client:
        server.handle_request()  # the child now waits for our byte
        closing = threading.Thread(target=server.server_close)
        closing.start()
        closing.join(BLOCKED_AFTER_SECONDS)
        assert closing.is_alive()  # waiting for the child
        client.sendall(b"x")
        closing.join(WAIT_SECONDS)
    assert not closing.is_alive()


@pytest.mark.fork
@PACKAGES
def test_a_forking_server_with_block_on_close_false_does_not_wait(package: Any) -> None:
    """tracing.py essay: "... unless block_on_close is false"."""

    class WaitForOneByte(package.BaseRequestHandler):  # type: ignore[name-defined,misc]
        def handle(self) -> None:
            self.request.recv(1)

    class NotWaiting(package.ForkingTCPServer):  # type: ignore[name-defined,misc]
        block_on_close = False

    server = NotWaiting(("127.0.0.1", 0), WaitForOneByte)
    with socket.create_connection(server.server_address, timeout=WAIT_SECONDS) as client:
        server.handle_request()
        closing = threading.Thread(target=server.server_close)
        closing.start()
        closing.join(WAIT_SECONDS)
        assert not closing.is_alive()  # returned while the child still waits
        client.sendall(b"x")
        server.collect_children(blocking=True)  # reap the child ourselves


# -- threads' names ----------------------------------------------------------------------------


def serve_forever() -> None:
    """A stand-in target, named like the serve loop."""


def test_an_unnamed_thread_is_named_after_its_target_and_a_named_one_keeps_its_name() -> None:
    """tracing.py, ``_ActorNamer`` docstring: the part in brackets (Python 3.10 and later)."""
    unnamed = threading.Thread(target=serve_forever)
    assert tracing._NUMBERED_THREAD.match(unnamed.name)
    assert unnamed.name.endswith(" (serve_forever)")
    assert threading.Thread(target=serve_forever, name="pool-worker").name == "pool-worker"

"""What course notebooks 03 and 04 say about a request's lifecycle, run.

``notebooks/course/03-request-lifecycle.ipynb`` traces one service on a synchronous, a
threading and a forking server; ``notebooks/course/04-handle-request-verify-errors.ipynb``
uses ``handle_request()``, ``verify_request()`` and ``handle_error()`` on purpose. Both show
most of what they say in their own outputs, on Python 3.11 and 3.13. Each test here backs one
sentence that they state but do not show, or show for one server or one Python only (their
exercises' answers included), and names its notebook and sentence in its docstring. Where a
sentence is about ``socketserver``, the test runs it on the standard library's module and on
ours, on every Python we support (3.10 to 3.13).

Platform: Linux (``/proc``, loopback addresses, what the kernel does on ``close()`` with
unread data). Every server is shut down and closed, every socket closed, every child reaped,
every wait bounded.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import socketserver
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import claims_support
import pytest
from claims_support import MODULES, process_state
from server_support import open_descriptor_count, receive_all, wait_until

import socketserver_lit
from socketserver_lit.tracing import HANDLER_HOOKS, Tracer

NOTEBOOK_3 = "03-request-lifecycle"
NOTEBOOK_4 = "04-handle-request-verify-errors"

# Seconds any socket call or wait may take before the test fails instead of hanging.
WAIT = 5.0
# Seconds we watch for something that must NOT happen (a loop turn, a return, an answer).
SHORT_WAIT = 0.5
# How often a scenario that depends on the kernel's timing is repeated.
TRIALS = 30


# The stdlib's socketserver, then ours, for each test that takes ``module``.
module = claims_support.stdlib_then_ours


# -- Helpers ----------------------------------------------------------------------------------


def shout_handler(module):
    """The notebooks' ShoutHandler on ``module``'s StreamRequestHandler: a line in, capitals out."""

    class ShoutHandler(module.StreamRequestHandler):
        def handle(self):
            self.wfile.write(self.rfile.readline(1000).upper())

    return ShoutHandler


def raising_handler(module, method: str, exception_type: type[BaseException]):
    """A ShoutHandler whose ``method`` does its normal work, then raises ``exception_type``.

    Each call raises a new exception: one shared instance would keep the traceback of its
    last raise, and with it the handler and its file objects, alive after the test.
    """
    base = shout_handler(module)

    def raising(self):
        getattr(base, method)(self)
        raise exception_type("raised on purpose")

    return type("RaisingHandler", (base,), {method: raising})


def noting(server_class):
    """A subclass of ``server_class`` whose handle_error notes each error's type in ``noted``."""

    class NotingServer(server_class):
        def __init__(self, *args, **kwargs):
            self.noted: list[type[BaseException]] = []
            self.messages: list[str] = []
            super().__init__(*args, **kwargs)

        def handle_error(self, request, client_address):
            # Types and messages only: keeping the exception would keep its traceback, and
            # with it the handler and its file objects, alive past the test.
            error = sys.exc_info()[1]
            self.noted.append(type(error))
            self.messages.append(str(error))

    return NotingServer


def ask(address, line: bytes = b"hello\n") -> bytes:
    """Connect, send ``line``, return everything until the server ends the stream."""
    with socket.create_connection(address, timeout=WAIT) as client:
        client.sendall(line)
        return receive_all(client)


def send(address, line: bytes = b"hello\n") -> socket.socket:
    """Connect and send ``line`` at once (before the server accepts); the caller closes."""
    client = socket.create_connection(address, timeout=WAIT)
    client.sendall(line)
    return client


def stop(server, loop: threading.Thread) -> None:
    """Shut down ``server``'s loop running in ``loop``, however long its poll_interval.

    The stdlib's loop notices ``shutdown()`` only at its next turn: a connection wakes it.
    """
    stopper = threading.Thread(target=server.shutdown)
    stopper.start()
    stopper.join(SHORT_WAIT)
    if stopper.is_alive():
        with contextlib.suppress(OSError):
            socket.create_connection(server.server_address, timeout=WAIT).close()
    stopper.join(WAIT)
    loop.join(WAIT)
    assert not stopper.is_alive() and not loop.is_alive(), "the serve loop did not stop"


@contextlib.contextmanager
def serving(server, poll_interval: float = 0.05, close: bool = True) -> Iterator[threading.Thread]:
    """Run ``server.serve_forever(poll_interval)`` in a thread for the block; stop and close."""
    loop = threading.Thread(target=server.serve_forever, args=(poll_interval,))
    loop.start()
    try:
        yield loop
    finally:
        stop(server, loop)
        if close:
            server.server_close()


def traced_run(
    server_class, handler_class, lines=(b"hello\n",), wait_hook="close_request", wait_count=None
):
    """Serve ``lines`` one client at a time on a traced ``server_class``; return the tracer.

    Before the next client, waits until ``wait_hook`` has returned ``wait_count`` times
    (default: once per client so far), so the trace does not depend on timing.
    """
    tracer = Tracer()
    with tracer.trace_server(server_class)(("127.0.0.1", 0), handler_class) as server:
        with serving(server):
            for done, line in enumerate(lines, start=1):
                ask(server.server_address, line)
                tracer.wait_for(wait_hook, wait_count or done)
    tracer.close()
    return tracer


def outcome(call) -> str:
    """What ``call()`` returned (repr), or the name of the OSError it raised."""
    try:
        return repr(call())
    except OSError as error:
        return type(error).__name__


# -- Notebook 3: the tracer --------------------------------------------------------------------


def test_trace_server_returns_a_subclass_and_patches_nothing():
    """03-request-lifecycle: "Tracer.trace_server(ServerClass) returns a subclass of your
    server class whose hook methods write a record and then call the original through
    super(); nothing in the package is patched. The traced server also traces the handler
    class you give it." (The tracer is ours.)"""
    handler = shout_handler(socketserver_lit)
    originals = {name: vars(socketserver_lit.TCPServer).get(name) for name in ("get_request",)}
    originals.update(
        {
            name: vars(socketserver_lit.BaseServer)[name]
            for name in ("verify_request", "process_request", "finish_request", "handle_error")
        }
    )
    handler_handle = vars(handler)["handle"]
    with Tracer() as tracer:
        Traced = tracer.trace_server(socketserver_lit.TCPServer)
        assert issubclass(Traced, socketserver_lit.TCPServer)
        assert Traced is not socketserver_lit.TCPServer
        with Traced(("127.0.0.1", 0), handler) as server:
            with send(server.server_address) as client:
                server.handle_request()
                assert receive_all(client) == b"HELLO\n"
        hooks = [call.hook for call in tracer.calls()]
    assert {"setup", "handle", "finish", "get_request", "close_request"} <= set(hooks)
    for name, method in originals.items():
        owner = socketserver_lit.TCPServer if name == "get_request" else socketserver_lit.BaseServer
        assert vars(owner).get(name) is method, f"{owner.__name__}.{name} was patched"
    assert vars(handler)["handle"] is handler_handle, "the handler class was patched"


def test_a_trace_record_holds_the_hook_pid_thread_name_and_nesting_depth():
    """03-request-lifecycle: "Each record holds the hook, the process id, the thread name and
    the nesting depth"."""
    with Tracer() as tracer:
        with tracer.trace_server(socketserver_lit.TCPServer)(
            ("127.0.0.1", 0), shout_handler(socketserver_lit)
        ) as server:
            with send(server.server_address) as client:
                server.handle_request()
                receive_all(client)
        records = tracer.records()
    handle = next(r for r in records if r.hook == "handle" and r.event == "call")
    assert handle.pid == os.getpid()
    assert handle.thread == threading.current_thread().name
    assert handle.depth == 2  # inside process_request, then finish_request


def test_the_timeline_folds_service_actions_and_calls_keep_the_exact_count_in_repeats():
    """03-request-lifecycle: "A + after a hook means 'one or more calls in a row' ...
    (tracer.calls() has the exact count in repeats)"."""
    with Tracer() as tracer:
        server = tracer.trace_server(socketserver_lit.TCPServer)(
            ("127.0.0.1", 0), shout_handler(socketserver_lit)
        )
        with serving(server, poll_interval=0.01):
            time.sleep(0.1)  # several idle turns
        raw = [r for r in tracer.records() if r.hook == "service_actions" and r.event == "call"]
        folded = [call for call in tracer.calls() if call.hook == "service_actions"]
        assert "service_actions+" in tracer.timeline()
    assert len(raw) > 1
    assert len(folded) == 1 and folded[0].repeats == len(raw)


def test_the_plot_counts_calls_in_order_and_clock_time_uses_milliseconds():
    """03-request-lifecycle: "The vertical axis counts calls in the order they were recorded
    (clock="time" would use real milliseconds instead)"."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    with Tracer() as tracer:
        with tracer.trace_server(socketserver_lit.TCPServer)(
            ("127.0.0.1", 0), shout_handler(socketserver_lit)
        ) as server:
            with send(server.server_address) as client:
                server.handle_request()
                receive_all(client)
        labels = {}
        for clock in ("order", "time"):
            axes = tracer.plot(clock=clock)
            try:
                labels[clock] = axes.get_ylabel()
                lowest = axes.get_ylim()[0]
            finally:
                pyplot.close(axes.figure)
            if clock == "order":  # one row per call
                assert len(tracer.calls()) <= lowest <= len(tracer.calls()) * 1.02 + 0.2
    assert labels == {"order": "order of calls", "time": "milliseconds since the first call"}


@pytest.mark.fork
def test_a_forked_childs_records_reach_the_parent(module):
    """03-request-lifecycle: records go "to a temporary file that forked children inherit, so
    a child's records reach the parent" (ours traces the stdlib's forking server too)."""
    tracer = traced_run(module.ForkingTCPServer, shout_handler(module), wait_count=2)
    child_hooks = [r.hook for r in tracer.records() if r.pid != os.getpid()]
    assert {"finish_request", "setup", "handle", "finish", "close_request"} <= set(child_hooks)


def test_the_stdlibs_tcpserver_is_traced_and_takes_the_same_request_path_as_ours():
    """03-request-lifecycle, "Trace your own server": "Anything with these method names can be
    traced, including the standard library's classes"; "The same hooks, in the same order and
    nesting" as our TCPServer."""
    paths = []
    for module in MODULES.values():
        with Tracer() as tracer:
            with tracer.trace_server(module.TCPServer)(
                ("127.0.0.1", 0), shout_handler(module)
            ) as server:
                with send(server.server_address) as client:
                    server.handle_request()
                    assert receive_all(client) == b"HELLO\n"
            paths.append([(call.hook, call.depth) for call in tracer.calls()])
    assert paths[0] == paths[1]
    assert [hook for hook, _ in paths[0]] == [
        "server_bind",
        "server_activate",
        "get_request",
        "verify_request",
        "process_request",
        "finish_request",
        "setup",
        "handle",
        "finish",
        "shutdown_request",
        "close_request",
        "server_close",
    ]


# -- Notebook 3: the serve loop's turns and shutdown() ------------------------------------------


def counting_turns(module):
    class TurnCountingServer(module.TCPServer):
        turns = 0

        def service_actions(self):
            self.turns += 1
            super().service_actions()

    return TurnCountingServer


def test_an_idle_loop_turns_once_per_poll_interval_and_service_actions_ends_every_turn(module):
    """03-request-lifecycle: "service_actions() runs once per turn of the serve loop, and an
    idle loop turns once per poll_interval; with 30 seconds, it turns when a request arrives
    and hardly ever otherwise"."""
    Server = counting_turns(module)
    with Server(("127.0.0.1", 0), shout_handler(module)) as slow:
        with serving(slow, poll_interval=30):
            time.sleep(SHORT_WAIT)
            assert slow.turns == 0, "an idle loop turned before its 30 s poll_interval"
            assert ask(slow.server_address) == b"HELLO\n"
            assert wait_until(lambda: slow.turns >= 1), "a request did not end a turn"
    with Server(("127.0.0.1", 0), shout_handler(module)) as fast:
        with serving(fast, poll_interval=0.02):
            time.sleep(SHORT_WAIT)
            idle_turns = fast.turns
    assert idle_turns >= 5, f"only {idle_turns} idle turns in {SHORT_WAIT} s at 0.02 s"


def test_our_shutdown_wakes_an_idle_loop_at_once_while_the_stdlibs_waits_for_the_next_turn():
    """03-request-lifecycle: "our shutdown() wakes the loop at once (ours: the stdlib's loop
    notices shutdown() only at its next turn, up to poll_interval later)"."""
    for module, returns_at_once in ((socketserver_lit, True), (socketserver, False)):
        with module.TCPServer(("127.0.0.1", 0), shout_handler(module)) as server:
            loop = threading.Thread(target=server.serve_forever, args=(600,))
            loop.start()
            time.sleep(0.1)  # the loop is waiting in its first turn
            stopper = threading.Thread(target=server.shutdown)
            stopper.start()
            stopper.join(2.0)
            returned = not stopper.is_alive()
            stop(server, loop)  # wakes the stdlib's loop with a connection
            stopper.join(WAIT)
        assert returned is returns_at_once, module.__name__


# -- Notebook 3: the synchronous and the threading server ----------------------------------------


def test_the_handlers_constructor_runs_setup_handle_and_finish(module):
    """03-request-lifecycle: "finish_request ... creates the handler; the handler's
    constructor runs setup, handle, finish"."""
    calls: list[str] = []

    class RecordingHandler(shout_handler(module)):
        def __init__(self, *args):
            calls.append("__init__ starts")
            super().__init__(*args)
            calls.append("__init__ returns")

        def setup(self):
            calls.append("setup")
            super().setup()

        def handle(self):
            calls.append("handle")
            super().handle()

        def finish(self):
            calls.append("finish")
            super().finish()

    with module.TCPServer(("127.0.0.1", 0), RecordingHandler) as server:
        with send(server.server_address) as client:
            server.handle_request()
            assert receive_all(client) == b"HELLO\n"
    assert calls == ["__init__ starts", "setup", "handle", "finish", "__init__ returns"]


def test_threadingmixins_process_request_returns_without_waiting_for_the_request_thread(module):
    """03-request-lifecycle: "ThreadingMixIn.process_request starts a thread and returns
    without waiting for it"."""
    started, release = threading.Event(), threading.Event()

    class BlockedHandler(shout_handler(module)):
        def handle(self):
            started.set()
            release.wait(WAIT)
            super().handle()

    with module.ThreadingTCPServer(("127.0.0.1", 0), BlockedHandler) as server:
        with send(server.server_address) as client:
            try:
                server.handle_request()  # returns although the handler is still blocked
                assert started.wait(WAIT)
                assert not release.is_set()
            finally:
                release.set()
            assert receive_all(client) == b"HELLO\n"


def test_threadingmixin_changes_a_requests_path_in_process_request_only(module):
    """03-request-lifecycle: "In the path of a request, that is the whole difference between
    the two servers: one method, process_request. (ThreadingMixIn also adds
    process_request_thread, the body of each new thread, and makes server_close() wait for
    the request threads.)" Also: the serving thread only gets, verifies and hands over."""
    public_methods = {
        name
        for name, value in vars(module.ThreadingMixIn).items()
        if callable(value) and not name.startswith("_")
    }
    assert public_methods == {"process_request", "process_request_thread", "server_close"}
    tracer = traced_run(module.ThreadingTCPServer, shout_handler(module))
    by_actor = tracer.hooks_by_actor(hide=["service_actions"])
    assert by_actor["thread 1 (serve_forever)"] == [
        "get_request",
        "verify_request",
        "process_request",
    ]
    assert by_actor["thread 2 (process_request_thread)"] == [
        "finish_request",
        "setup",
        "handle",
        "finish",
        "shutdown_request",
        "close_request",
    ]


def test_threading_server_close_waits_for_the_request_threads(module):
    """03-request-lifecycle: ThreadingMixIn "makes server_close() wait for the request
    threads" (block_on_close, true by default)."""
    started, release = threading.Event(), threading.Event()

    class SlowHandler(shout_handler(module)):
        def handle(self):
            started.set()
            release.wait(WAIT)
            super().handle()

    server = module.ThreadingTCPServer(("127.0.0.1", 0), SlowHandler)
    loop = threading.Thread(target=server.serve_forever, args=(0.05,))
    loop.start()
    client = send(server.server_address)
    with client:
        assert started.wait(WAIT), "the request thread did not start"
        stop(server, loop)
        closer = threading.Thread(target=server.server_close)
        closer.start()
        closer.join(SHORT_WAIT)
        waited = closer.is_alive()
        release.set()
        closer.join(WAIT)
        assert receive_all(client) == b"HELLO\n"
    assert waited, "server_close() returned while a request thread was still running"


# -- Notebook 3: the forking server -------------------------------------------------------------


@pytest.mark.fork
def test_the_forking_parent_closes_its_copy_inside_process_request_right_after_the_fork(module):
    """03-request-lifecycle: "The parent calls close_request too, inside process_request,
    right after the fork"; the children's calls are nested in process_request."""
    tracer = traced_run(module.ForkingTCPServer, shout_handler(module), wait_count=2)
    parent = [
        (call.hook, call.depth)
        for call in tracer.calls(hide=["service_actions"])
        if call.actor == "thread 1 (serve_forever)"
    ]
    assert parent == [
        ("get_request", 0),
        ("verify_request", 0),
        ("process_request", 0),
        ("close_request", 1),
    ]
    child = [(call.hook, call.depth) for call in tracer.calls() if call.actor == "child 1"]
    assert child[0] == ("finish_request", 1)


@pytest.mark.fork
def test_a_forked_child_never_returns_from_process_request_and_exits_when_done(module):
    """03-request-lifecycle: "each child is born inside the parent's process_request ... and
    never returns from it; it exits when the request is done"."""
    reader, writer = os.pipe()

    class ReportingServer(module.ForkingTCPServer):
        def process_request(self, request, client_address):
            super().process_request(request, client_address)
            os.write(writer, f"returned in {os.getpid()}\n".encode())

    class PidHandler(shout_handler(module)):
        def handle(self):
            os.write(writer, f"child {os.getpid()}\n".encode())
            super().handle()

    try:
        with ReportingServer(("127.0.0.1", 0), PidHandler) as server:
            server.timeout = WAIT
            with send(server.server_address) as client:
                server.handle_request()
                assert receive_all(client) == b"HELLO\n"
            (child_pid,) = server.active_children
            assert wait_until(lambda: process_state(child_pid) in ("Z", None)), (
                "the child did not exit when its request was done"
            )
        os.close(writer)
        writer = -1
        with os.fdopen(reader, "rb") as lines:
            reader = -1
            reports = lines.read().decode().split("\n")
    finally:
        for fd in (reader, writer):
            if fd != -1:
                os.close(fd)
    assert f"child {child_pid}" in reports
    assert [line for line in reports if line.startswith("returned")] == [
        f"returned in {os.getpid()}"
    ]


def parent_keeps_its_copy(forking_server_class):
    """03-request-lifecycle's ParentKeepsItsCopy: the parent never closes a connection."""

    class ParentKeepsItsCopy(forking_server_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.parent_pid = os.getpid()
            self.kept: list[socket.socket] = []

        def close_request(self, request):
            if os.getpid() == self.parent_pid:
                self.kept.append(request)
            else:
                super().close_request(request)

    return ParentKeepsItsCopy


@pytest.mark.fork
def test_a_client_sees_the_end_of_stream_although_the_forking_parent_keeps_its_copy(module):
    """03-request-lifecycle: "Every client got its reply and the end of the stream ...,
    although the parent still held a copy of its connection. The end of the stream comes
    from the child: its shutdown_request() calls shutdown(SHUT_WR)". (Issue 11, item 3: the
    old sentence said the client would never see the connection close.)"""
    server = parent_keeps_its_copy(module.ForkingTCPServer)(("127.0.0.1", 0), shout_handler(module))
    try:
        with serving(server):
            replies = [ask(server.server_address, line) for line in (b"one\n", b"two\n")]
        assert replies == [b"ONE\n", b"TWO\n"]  # ask() read each up to the end of the stream
        assert len(server.kept) == 2
        assert all(connection.fileno() != -1 for connection in server.kept)
    finally:
        for connection in server.kept:
            connection.close()


@pytest.mark.fork
def test_a_forking_parent_that_keeps_its_copies_holds_one_more_descriptor_per_request(module):
    """03-request-lifecycle: "What a kept copy does cost is a descriptor in the parent, one
    per request, for a connection that is over"; the real server closes it at once."""
    grown = {}
    for name, server_class in (
        ("keeping", parent_keeps_its_copy(module.ForkingTCPServer)),
        ("closing", module.ForkingTCPServer),
    ):
        server = server_class(("127.0.0.1", 0), shout_handler(module))
        try:
            before = open_descriptor_count()
            with serving(server):
                for _ in range(5):
                    assert ask(server.server_address) == b"HELLO\n"
            grown[name] = open_descriptor_count() - before + 1  # + the closed listener
        finally:
            for connection in getattr(server, "kept", []):
                connection.close()
    assert grown == {"keeping": 5, "closing": 0}


KEEPING_PARENT_RUNS_OUT = textwrap.dedent(
    """
    import errno, json, os, resource, socket, sys
    import socketserver, socketserver_lit

    module = {"stdlib": socketserver, "lit": socketserver_lit}[sys.argv[1]]


    class Shout(module.StreamRequestHandler):
        def handle(self):
            self.wfile.write(self.rfile.readline(100).upper())


    class Keeping(module.ForkingTCPServer):
        timeout = 1

        def __init__(self, *args):
            super().__init__(*args)
            self.parent_pid, self.kept, self.accept_errors = os.getpid(), [], []

        def close_request(self, request):
            if os.getpid() == self.parent_pid:
                self.kept.append(request)
            else:
                super().close_request(request)

        def get_request(self):
            try:
                return super().get_request()
            except OSError as error:
                self.accept_errors.append(errno.errorcode[error.errno])
                raise


    outcomes = []
    with Keeping(("127.0.0.1", 0), Shout) as server:
        highest = max(int(name) for name in os.listdir("/proc/self/fd"))
        fillers = []  # fill the holes below the highest descriptor, so the room is exact
        while (fd := os.open(os.devnull, os.O_RDONLY)) <= highest:
            fillers.append(fd)
        os.close(fd)
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 1 + 4, hard))  # room for 4
        for _ in range(6):
            with socket.create_connection(server.server_address, timeout=5) as client:
                client.sendall(b"hello\\n")
                server.handle_request()
                client.settimeout(0.5)
                try:
                    outcomes.append(client.recv(100).decode())
                except TimeoutError:
                    outcomes.append("no answer")
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        for request in server.kept:
            request.close()
        for fd in fillers:
            os.close(fd)
    print(json.dumps({"outcomes": outcomes, "accept_errors": server.accept_errors}))
    """
)


@pytest.mark.fork
def test_a_forking_parent_that_keeps_its_copies_runs_out_and_accept_fails_with_emfile(module):
    """03-request-lifecycle: "A long-running server that kept them would reach its limit of
    open descriptors (RLIMIT_NOFILE), and from then on accept() fails with EMFILE: new
    clients get no answer." Run in a child process with room for four more descriptors
    (each request takes one for the client, in the same process, and keeps one)."""
    name = "stdlib" if module is socketserver else "lit"
    child = subprocess.run(
        # Warnings are errors, except ours: it says why accept() failed (the stdlib is silent).
        [sys.executable, "-W", "error", "-W", "default::RuntimeWarning"]
        + ["-c", KEEPING_PARENT_RUNS_OUT, name],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout)
    assert result["outcomes"] == ["HELLO\n"] * 3 + ["no answer"] * 3
    assert result["accept_errors"] == ["EMFILE"] * 3
    warned = "RuntimeWarning: accept() failed with EMFILE" in child.stderr
    assert warned is (module is not socketserver)


@pytest.mark.fork
def test_without_shutdown_the_end_of_stream_waits_for_the_parents_copy_to_close(module):
    """03-request-lifecycle: "close() alone would not do it: it ends the stream only when the
    last copy is closed, so closing matters for the client only where nothing calls
    shutdown()"."""

    class CloseOnly(parent_keeps_its_copy(module.ForkingTCPServer)):
        def shutdown_request(self, request):
            self.close_request(request)  # no shutdown(SHUT_WR)

    server = CloseOnly(("127.0.0.1", 0), shout_handler(module))
    try:
        with serving(server):
            with send(server.server_address) as client:
                assert client.recv(100) == b"HELLO\n"
                client.settimeout(SHORT_WAIT)
                with pytest.raises(TimeoutError):
                    client.recv(100)  # the child has closed its copy; the parent has not
                assert wait_until(lambda: len(server.kept) == 1)
                server.kept[0].close()  # the last copy
                client.settimeout(WAIT)
                assert client.recv(100) == b""
    finally:
        for connection in server.kept:
            connection.close()


# -- Notebook 3: errors, and its exercises --------------------------------------------------------


def test_handle_error_is_called_while_the_exception_is_being_handled(module):
    """03-request-lifecycle: the server "called handle_error, with the exception still being
    handled (that is how our override could read it from sys.exc_info())"."""
    Server = noting(module.TCPServer)
    with Server(("127.0.0.1", 0), raising_handler(module, "handle", ValueError)) as server:
        with send(server.server_address) as client:
            server.handle_request()
            receive_all(client)
    assert server.noted == [ValueError]


def test_when_handle_raises_finish_still_runs_and_the_connection_is_shut_down_and_closed(module):
    """03-request-lifecycle: "finish ran anyway, and the connection was still shut down and
    closed: the client read the end of the stream (b''), not a hang"."""
    with Tracer() as tracer:
        Server = tracer.trace_server(noting(module.TCPServer))
        handler = raising_handler(module, "handle", ValueError)
        with Server(("127.0.0.1", 0), handler) as server:
            with send(server.server_address) as client:
                server.handle_request()
                # handle() answered, then raised; receive_all() returns at the end of stream
                assert receive_all(client) == b"HELLO\n"
        hooks = [call.hook for call in tracer.calls()]
    assert hooks[hooks.index("process_request") : hooks.index("server_close")] == [
        "process_request",
        "finish_request",
        "setup",
        "handle",
        "finish",
        "handle_error",
        "shutdown_request",
        "close_request",
    ]


def test_handle_timeout_runs_only_in_handle_request_never_in_serve_forever(module):
    """03-request-lifecycle: "handle_timeout only in handle_request()"; 04: "serve_forever()
    ignores timeout: it never calls handle_timeout()"."""

    class TimingOutServer(module.TCPServer):
        timeout = 0.02
        timeouts = 0

        def handle_timeout(self):
            self.timeouts += 1

    with TimingOutServer(("127.0.0.1", 0), shout_handler(module)) as server:
        with serving(server, poll_interval=0.01, close=False):
            time.sleep(SHORT_WAIT)
        assert server.timeouts == 0
        server.handle_request()
        assert server.timeouts == 1


def actor_calling_handle_error(server_class, module) -> str:
    class QuietServer(server_class):
        def handle_error(self, request, client_address):
            pass

    with Tracer() as tracer:
        server = tracer.trace_server(QuietServer)(
            ("127.0.0.1", 0), raising_handler(module, "handle", ValueError)
        )
        with serving(server):
            ask(server.server_address)
            tracer.wait_for("handle_error")
        (caller,) = [call.actor for call in tracer.calls() if call.hook == "handle_error"]
    return caller


@pytest.mark.fork
def test_handle_error_runs_in_the_request_thread_or_in_the_child(module):
    """03-request-lifecycle, exercise 1: handle_error is called by the request thread in a
    ThreadingTCPServer and by the child in a ForkingTCPServer; 04: "An Exception there
    reaches handle_error in that thread"."""
    assert actor_calling_handle_error(module.ThreadingTCPServer, module) == (
        "thread 2 (process_request_thread)"
    )
    assert actor_calling_handle_error(module.ForkingTCPServer, module) == "child 1"


def test_when_setup_raises_neither_handle_nor_finish_runs_and_handle_error_is_called(module):
    """03-request-lifecycle, exercise 2: a handler whose setup() raises RuntimeError runs
    setup only, and the server's handle_error is called."""
    with Tracer() as tracer:
        Server = tracer.trace_server(noting(module.TCPServer))
        handler = raising_handler(module, "setup", RuntimeError)
        with Server(("127.0.0.1", 0), handler) as server:
            with send(server.server_address) as client:
                server.handle_request()
                assert receive_all(client) == b""
        hooks = [call.hook for call in tracer.calls()]
    assert {hook for hook in hooks if hook in HANDLER_HOOKS} == {"setup"}
    assert server.noted == [RuntimeError]


@pytest.mark.fork
def test_a_forked_childs_changes_stay_in_the_child_while_threads_share_the_server(module):
    """03-request-lifecycle, exercise 3 and summary: "Anything the child does (changing the
    server's attributes, calling handle_error) stays in the child": three requests counted in
    handle() leave 3 on a ThreadingTCPServer and 0 on a ForkingTCPServer."""

    class CountingHandler(shout_handler(module)):
        def handle(self):
            self.server.requests_handled += 1
            super().handle()

    seen = {}
    for server_class in (module.ThreadingTCPServer, module.ForkingTCPServer):
        server = server_class(("127.0.0.1", 0), CountingHandler)
        server.requests_handled = 0
        with serving(server):
            assert [ask(server.server_address, line) for line in (b"a\n", b"b\n", b"c\n")] == [
                b"A\n",
                b"B\n",
                b"C\n",
            ]
        seen[server_class.__name__] = server.requests_handled
    assert seen == {"ThreadingTCPServer": 3, "ForkingTCPServer": 0}


# -- Notebook 4: handle_request(), timeout and handle_timeout() ----------------------------------


def test_handle_request_serves_clients_already_waiting_one_per_call_then_times_out(module):
    """04-handle-request-verify-errors: send() "connects and sends its line at once, before
    the server has even accepted (the kernel completes the connection and keeps the data
    until the server reads it)"; "The first two calls each serve one client and return; the
    third finds nobody and times out"."""

    class TimedServer(module.TCPServer):
        timeout = 0.05
        timeouts = 0

        def handle_timeout(self):
            self.timeouts += 1

    with TimedServer(("127.0.0.1", 0), shout_handler(module)) as server:
        with (
            send(server.server_address, b"first\n") as one,
            send(server.server_address, b"second\n") as two,
        ):
            for _ in range(3):
                server.handle_request()
            assert (receive_all(one), receive_all(two)) == (b"FIRST\n", b"SECOND\n")
        assert server.timeouts == 1


def test_handle_request_with_timeout_none_waits_until_a_client_comes(module):
    """04-handle-request-verify-errors: "timeout is a class attribute; None (the default)
    waits as long as it takes"."""
    assert module.TCPServer.timeout is None
    with module.TCPServer(("127.0.0.1", 0), shout_handler(module)) as server:
        waiting = threading.Thread(target=server.handle_request)
        waiting.start()
        waiting.join(SHORT_WAIT)
        still_waiting = waiting.is_alive()
        answer = ask(server.server_address)
        waiting.join(WAIT)
    assert still_waiting and not waiting.is_alive()
    assert answer == b"HELLO\n"


def test_handle_request_runs_no_service_actions(module):
    """04-handle-request-verify-errors: "A handle_request() loop runs no service_actions(),
    the hook where serve_forever() reaps them"."""
    Server = counting_turns(module)
    with Server(("127.0.0.1", 0), shout_handler(module)) as server:
        server.timeout = 0.02
        server.handle_request()  # times out
        with send(server.server_address) as client:
            server.handle_request()  # serves
            assert receive_all(client) == b"HELLO\n"
    assert server.turns == 0


@pytest.mark.fork
def test_forking_servers_reap_finished_children_when_handle_request_times_out(module):
    """04-handle-request-verify-errors: "ForkingMixIn ... sets timeout = 300 and overrides
    handle_timeout() to reap finished child processes ...: an idle timeout is where such a
    loop does it"."""
    assert module.ForkingTCPServer.timeout == 300
    assert module.ForkingMixIn.handle_timeout is not module.BaseServer.handle_timeout

    class QuickForkingServer(module.ForkingTCPServer):
        timeout = 0.05

    with QuickForkingServer(("127.0.0.1", 0), shout_handler(module)) as server:
        with send(server.server_address) as client:
            server.handle_request()
            assert receive_all(client) == b"HELLO\n"
        (child_pid,) = server.active_children
        assert wait_until(lambda: process_state(child_pid) == "Z"), "no zombie to reap"
        server.handle_request()  # nobody comes: handle_timeout()
        assert process_state(child_pid) is None, "the zombie was not reaped"
        assert not server.active_children


@pytest.mark.fork
def test_serve_forever_reaps_finished_children_in_service_actions(module):
    """04-handle-request-verify-errors: "service_actions(), the hook where serve_forever()
    reaps them" (finished children)."""
    assert module.ForkingMixIn.service_actions is not module.BaseServer.service_actions
    server = module.ForkingTCPServer(("127.0.0.1", 0), shout_handler(module))
    with serving(server, poll_interval=0.02):
        assert ask(server.server_address) == b"HELLO\n"
        assert wait_until(lambda: server.active_children is not None)
        (child_pid,) = server.active_children or {-1}
        assert wait_until(lambda: not server.active_children), "the child was not reaped"
        assert process_state(child_pid) is None


# -- Notebook 4: verify_request() ------------------------------------------------------------


def test_a_refusal_comes_after_accept_before_any_handler_and_ends_the_stream_without_a_byte(
    module,
):
    """04-handle-request-verify-errors: verify_request "runs after the connection is accepted
    and before any handler exists. Returning False refuses the request: the server shuts the
    connection down and closes it"; the client sees the stream end "without a byte"."""

    class RefuseEveryone(module.TCPServer):
        def verify_request(self, request, client_address):
            assert request.getpeername() == client_address  # accepted, connected
            return False

    with Tracer() as tracer:
        with tracer.trace_server(RefuseEveryone)(("127.0.0.1", 0), shout_handler(module)) as server:
            with socket.create_connection(server.server_address, timeout=WAIT) as client:
                server.handle_request()
                assert client.recv(100) == b""
        hooks = [call.hook for call in tracer.calls()]
    assert hooks == [
        "server_bind",
        "server_activate",
        "get_request",
        "verify_request",
        "shutdown_request",
        "close_request",
        "server_close",
    ]


@pytest.mark.parametrize("source", ["127.0.0.2", "127.1.2.3", "127.255.255.254"])
def test_every_address_of_127_0_0_0_8_is_loopback_on_linux(module, source):
    """04-handle-request-verify-errors: "On Linux every address of 127.0.0.0/8 is loopback, so
    a client can bind to 127.0.0.2 and come from a 'different machine'"."""
    seen = []

    class NotingAddressServer(module.TCPServer):
        def verify_request(self, request, client_address):
            seen.append(client_address[0])
            return True

    with NotingAddressServer(("127.0.0.1", 0), shout_handler(module)) as server:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
            client.settimeout(WAIT)
            client.bind((source, 0))
            client.connect(server.server_address)
            client.sendall(b"hello\n")
            server.handle_request()
            assert receive_all(client) == b"HELLO\n"
    assert seen == [source]


def test_a_message_written_in_verify_request_reaches_the_refused_client(module):
    """04-handle-request-verify-errors: "If you want it to know, write a short message to
    request inside verify_request before returning False"."""

    class ExplainingServer(module.TCPServer):
        def verify_request(self, request, client_address):
            request.sendall(b"not allowed\n")
            return False

    with ExplainingServer(("127.0.0.1", 0), shout_handler(module)) as server:
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            server.handle_request()
            assert receive_all(client) == b"not allowed\n"


def refusing(module, shutdown_first: bool):
    class RefuseEveryone(module.TCPServer):
        def verify_request(self, request, client_address):
            return False

        if not shutdown_first:

            def shutdown_request(self, request):
                self.close_request(request)

    return RefuseEveryone


def test_a_refused_client_that_spoke_first_reads_end_of_stream_then_its_send_fails_on_linux(
    module,
):
    """04-handle-request-verify-errors: "With the default shutdown_request(), the client reads
    a clean end of stream, b'' ... The reset arrives after the end of the stream, so it shows
    up at the client's next send(), which fails with BrokenPipeError." (Issue 11, item 12: the
    old sentence said the client "may see ConnectionResetError".) Repeated, on Linux."""
    seen = set()
    with refusing(module, shutdown_first=True)(("127.0.0.1", 0), shout_handler(module)) as server:
        for _ in range(TRIALS):
            with send(server.server_address) as client:
                server.handle_request()
                seen.add(
                    (
                        outcome(lambda: client.recv(100)),
                        outcome(lambda: client.sendall(b"hello again\n")),
                    )
                )
    assert seen == {("b''", "BrokenPipeError")}


def test_a_refused_client_that_spoke_first_is_reset_if_the_server_only_closes_on_linux(module):
    """04-handle-request-verify-errors: "on Linux closing a socket that holds unread data
    resets the connection ... Without the shutdown(), the reset is the first thing the client
    hears, and recv() itself raises ConnectionResetError." Repeated, on Linux."""
    seen = set()
    with refusing(module, shutdown_first=False)(("127.0.0.1", 0), shout_handler(module)) as server:
        for _ in range(TRIALS):
            with send(server.server_address) as client:
                server.handle_request()
                seen.add(outcome(lambda: client.recv(100)))
    assert seen == {"ConnectionResetError"}


def test_a_refused_client_that_had_sent_nothing_just_reads_the_end_of_the_stream(module):
    """04-handle-request-verify-errors: "Our polite client only spoke after the greeting, so it
    had sent nothing when it was refused": it reads b'' and no reset follows."""
    with refusing(module, shutdown_first=True)(("127.0.0.1", 0), shout_handler(module)) as server:
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            server.handle_request()
            assert client.recv(100) == b""
            assert client.recv(100) == b""


# -- Notebook 4: handle_error() ---------------------------------------------------------------


@pytest.mark.parametrize("method", ["setup", "handle", "finish"])
def test_an_exception_from_a_handler_method_reaches_handle_error_and_the_server_goes_on(
    module, method
):
    """04-handle-request-verify-errors: "When handling a request raises an exception derived
    from Exception (in handle(), setup(), finish() ...), the server catches it, calls
    handle_error(...), then still shuts the connection down"; "The server survives an
    Exception: it reports it and serves the next client"."""
    Server = noting(module.TCPServer)
    handler = raising_handler(module, method, KeyError)
    with Server(("127.0.0.1", 0), handler) as server:
        with send(server.server_address) as client:
            server.handle_request()
            receive_all(client)  # the stream ends: the connection was shut down
        server.RequestHandlerClass = shout_handler(module)
        with send(server.server_address) as client:
            server.handle_request()
            assert receive_all(client) == b"HELLO\n"
    assert server.noted == [KeyError]


def test_an_exception_from_finish_request_reaches_handle_error(module):
    """04-handle-request-verify-errors: "... or finish_request()" raising reaches
    handle_error."""

    class FailingServer(noting(module.TCPServer)):
        def finish_request(self, request, client_address):
            raise ValueError("on purpose")

    with FailingServer(("127.0.0.1", 0), shout_handler(module)) as server:
        with send(server.server_address) as client:
            server.handle_request()
            assert receive_all(client) == b""
    assert server.noted == [ValueError]


def test_the_default_handle_error_prints_the_traceback_between_rules_to_stderr(module):
    """04-handle-request-verify-errors: "The default prints the traceback to standard error,
    between two rules of dashes"; both modules print the same lines."""
    handler = raising_handler(module, "handle", ValueError)
    with module.TCPServer(("127.0.0.1", 0), handler) as server:
        with send(server.server_address) as client:
            report = io.StringIO()
            with contextlib.redirect_stderr(report):
                server.handle_request()
            receive_all(client)
    lines = report.getvalue().splitlines()
    assert set(lines[0]) == {"-"} and lines[-1] == lines[0]
    assert "Traceback (most recent call last):" in lines
    assert lines[-2] == "ValueError: raised on purpose"
    assert lines[0] == "-" * 40
    assert lines[1].startswith("Exception occurred during processing of request from")


@pytest.mark.parametrize("exception", [SystemExit, KeyboardInterrupt])
@pytest.mark.parametrize("loop", ["handle_request", "serve_forever"])
def test_systemexit_and_keyboardinterrupt_from_a_handler_leave_the_loop_of_a_sync_server(
    module, loop, exception
):
    """04-handle-request-verify-errors: SystemExit "is not caught, and it propagates out of
    handle_request() (or serve_forever()), stopping the loop ... The request is still shut
    down on the way out"; "SystemExit and KeyboardInterrupt ... skip handle_error. In a
    synchronous server they stop the loop"."""
    Server = noting(module.TCPServer)
    handler = raising_handler(module, "handle", exception)
    with Server(("127.0.0.1", 0), handler) as server:
        escaped: list[type[BaseException]] = []

        def run():
            try:
                if loop == "handle_request":
                    server.handle_request()
                else:
                    server.serve_forever(0.05)
            except BaseException as error:  # noqa: BLE001 - what escapes is the point
                escaped.append(type(error))

        runner = threading.Thread(target=run)
        runner.start()
        with send(server.server_address) as client:
            assert receive_all(client) == b"HELLO\n"  # answered, then the stream ended
        runner.join(WAIT)
        assert not runner.is_alive(), f"{loop}() did not stop"
    assert escaped == [exception]
    assert server.noted == []


def test_a_server_built_with_no_handler_class_is_bound_and_its_requests_fail_with_typeerror(
    module,
):
    """04-handle-request-verify-errors: "Both the stdlib and socketserver_lit accept that:
    nothing checks RequestHandlerClass until a request arrives. A request that does arrive
    fails like any handler error, through handle_error, with a TypeError"."""
    with noting(module.TCPServer)(("127.0.0.1", 0), None) as server:
        assert server.server_address[1] > 0
        with send(server.server_address) as client:
            server.handle_request()
            assert receive_all(client) == b""
    assert server.noted == [TypeError]
    if module is socketserver_lit:
        assert "RequestHandlerClass is None" in server.messages[0]
        assert "Pass a request handler class" in server.messages[0]


@pytest.mark.parametrize(
    ("exception", "prints_a_traceback"), [(SystemExit, False), (KeyboardInterrupt, True)]
)
def test_in_a_threading_server_systemexit_and_keyboardinterrupt_end_only_the_request_thread(
    module, monkeypatch, exception, prints_a_traceback
):
    """04-handle-request-verify-errors: "In a threading server they end the request's thread
    only: SystemExit silently, KeyboardInterrupt with a traceback printed by
    threading.excepthook"; the serving thread goes on serving; handle_error is not called;
    the connection is shut down and closed."""
    printed = io.StringIO()

    def default_hook_into_buffer(args):
        with contextlib.redirect_stderr(printed):
            threading.__excepthook__(args)

    monkeypatch.setattr(threading, "excepthook", default_hook_into_buffer)
    server = noting(module.ThreadingTCPServer)(
        ("127.0.0.1", 0), raising_handler(module, "handle", exception)
    )
    with serving(server) as loop:
        assert ask(server.server_address) == b"HELLO\n"  # answered, then the stream ended
        server.RequestHandlerClass = shout_handler(module)
        assert ask(server.server_address) == b"HELLO\n"  # the serving thread goes on
        assert loop.is_alive()
    assert server.noted == []
    text = printed.getvalue()
    if prints_a_traceback:
        assert "Traceback" in text and "KeyboardInterrupt" in text
    else:
        assert text == ""


# -- Notebook 4: exercise 3, what reaches handle_error --------------------------------------------


@pytest.mark.parametrize(
    ("method", "exception", "reaches"),
    [
        ("handle", ConnectionResetError, True),
        ("finish", OSError, True),
        ("handle", KeyboardInterrupt, False),
    ],
    ids=["connection-reset-in-handle", "oserror-in-finish", "keyboardinterrupt-in-handle"],
)
def test_exercise_3_what_reaches_handle_error_from_the_handler(module, method, exception, reaches):
    """04-handle-request-verify-errors, exercise 3: ConnectionResetError in handle() and
    OSError in finish() reach handle_error; KeyboardInterrupt leaves handle_request()."""
    Server = noting(module.TCPServer)
    with Server(("127.0.0.1", 0), raising_handler(module, method, exception)) as server:
        with send(server.server_address) as client:
            if reaches:
                server.handle_request()
            else:
                with pytest.raises(exception):
                    server.handle_request()
            assert receive_all(client) == b"HELLO\n"
    assert server.noted == ([exception] if reaches else [])


def test_exercise_3_an_error_in_verify_request_leaves_handle_request_without_handle_error(module):
    """04-handle-request-verify-errors, exercise 3 and summary: handle_error is bypassed by
    "an error in verify_request()": the ValueError leaves handle_request()."""

    class RaisingVerifyServer(noting(module.TCPServer)):
        def get_request(self):
            request, client_address = super().get_request()
            self.accepted.append(request)  # closed below: the stdlib leaves it open
            return request, client_address

        def verify_request(self, request, client_address):
            raise ValueError("on purpose")

    with RaisingVerifyServer(("127.0.0.1", 0), shout_handler(module)) as server:
        server.accepted = []
        try:
            with send(server.server_address):
                with pytest.raises(ValueError):
                    server.handle_request()
        finally:
            for request in server.accepted:
                request.close()
    assert server.noted == []

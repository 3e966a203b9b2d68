"""The tracer records every hook call, from every thread and forked child, in order.

Each test runs a real server on loopback, makes a request or two, shuts the server
down and closes it, then checks what the tracer saw. The orders asserted are the
ones causality fixes (a handler cannot run before its request was got); where two
threads or processes really run at once, the tests compare each actor's own
sequence, which is fixed.
"""

from __future__ import annotations

import os
import socket
import socketserver as stdlib_socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

import socketserver_lit as socketserver
from socketserver_lit.tracing import ALL_HOOKS, HANDLER_HOOKS, SERVER_HOOKS, Tracer

# Long enough that an idle serve loop never ticks during a test: our shutdown() wakes
# the loop at once, so service_actions runs exactly once per handled request.
QUIET_POLL_INTERVAL = 30.0
# Upper bound for every wait on a socket or a thread in these tests.
WAIT_SECONDS = 10.0

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


class UpperHandler(socketserver.StreamRequestHandler):
    """Reply with the request line in capitals; "boom" raises, "exit" raises SystemExit."""

    def handle(self) -> None:
        line = self.rfile.readline(1000)
        if line.strip() == b"boom":
            raise ValueError("boom")
        if line.strip() == b"exit":
            raise SystemExit(3)
        self.wfile.write(line.upper())


class CollectErrors:
    """Keep handle_error quiet (no traceback on stderr) and remember the errors."""

    def handle_error(self, request: object, client_address: object) -> None:
        pass


def ask(address: tuple[str, int], text: str) -> bytes:
    """Send one line, read the reply until the server closes the connection."""
    with socket.create_connection(address, timeout=WAIT_SECONDS) as client:
        client.sendall(text.encode() + b"\n")
        chunks = []
        while chunk := client.recv(1000):
            chunks.append(chunk)
    return b"".join(chunks)


@contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[socketserver.BaseServer]:
    """Run serve_forever in a thread; always shut down, join and close."""
    thread = threading.Thread(target=server.serve_forever, args=(QUIET_POLL_INTERVAL,))
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(WAIT_SECONDS)
        server.server_close()
    assert not thread.is_alive()


@pytest.fixture
def tracer() -> Iterator[Tracer]:
    with Tracer() as new_tracer:
        yield new_tracer


def traced_server(tracer: Tracer, base: type, handler: type = UpperHandler):
    server_class = tracer.trace_server(type(f"Quiet{base.__name__}", (CollectErrors, base), {}))
    return server_class(("127.0.0.1", 0), handler)


def test_sync_server_records_the_whole_lifecycle_in_order(tracer: Tracer) -> None:
    with serving(traced_server(tracer, socketserver.TCPServer)) as server:
        assert ask(server.server_address, "hello") == b"HELLO\n"
        tracer.wait_for("service_actions", 1)

    calls = tracer.calls()
    assert [(c.actor, c.hook) for c in calls] == (
        [("main", "server_bind"), ("main", "server_activate")]
        + [("thread 1 (serve_forever)", hook) for hook in REQUEST_HOOKS]
        + [("thread 1 (serve_forever)", "service_actions")]
        + [("main", "shutdown"), ("main", "server_close")]
    )


def test_sync_server_nests_handler_calls_inside_process_request(tracer: Tracer) -> None:
    with serving(traced_server(tracer, socketserver.TCPServer)) as server:
        ask(server.server_address, "hello")
        tracer.wait_for("service_actions", 1)

    depths = {call.hook: call.depth for call in tracer.calls()}
    assert depths["process_request"] == 0
    assert depths["finish_request"] == 1
    assert depths["setup"] == depths["handle"] == depths["finish"] == 2
    assert depths["shutdown_request"] == 1
    assert depths["close_request"] == 2


def test_threading_server_hands_each_request_to_a_new_thread(tracer: Tracer) -> None:
    with serving(traced_server(tracer, socketserver.ThreadingTCPServer)) as server:
        for done in (1, 2):
            assert ask(server.server_address, "hi") == b"HI\n"
            tracer.wait_for("shutdown_request", done)

    by_actor = tracer.hooks_by_actor()
    assert list(by_actor) == [
        "main",
        "thread 1 (serve_forever)",
        "thread 2 (process_request_thread)",
        "thread 3 (process_request_thread)",
    ]
    assert by_actor["main"] == ["server_bind", "server_activate", "shutdown", "server_close"]
    serving_hooks = ["get_request", "verify_request", "process_request", "service_actions"]
    assert by_actor["thread 1 (serve_forever)"] == serving_hooks * 2
    request_thread_hooks = REQUEST_HOOKS[3:]
    assert by_actor["thread 2 (process_request_thread)"] == request_thread_hooks
    assert by_actor["thread 3 (process_request_thread)"] == request_thread_hooks


def test_threading_timeline_is_the_same_every_run_when_service_actions_is_hidden(
    tracer: Tracer,
) -> None:
    timelines = []
    for _run in range(3):
        tracer.clear()
        with serving(traced_server(tracer, socketserver.ThreadingTCPServer)) as server:
            for done in (1, 2):
                ask(server.server_address, "hi")
                tracer.wait_for("shutdown_request", done)
        timelines.append(tracer.timeline(hide=["service_actions"]))
    assert timelines[0] == timelines[1] == timelines[2]
    assert "thread 3 (process_request_thread)    setup" in timelines[0]


@pytest.mark.fork
def test_forking_server_records_from_children_reach_the_parent(tracer: Tracer) -> None:
    with serving(traced_server(tracer, socketserver.ForkingTCPServer)) as server:
        for done in (1, 2):
            assert ask(server.server_address, "fork") == b"FORK\n"
            tracer.wait_for("shutdown_request", done)

    records = tracer.records()
    child_pids = {r.pid for r in records} - {os.getpid()}
    assert len(child_pids) == 2
    by_actor = tracer.hooks_by_actor()
    assert (
        by_actor["thread 1 (serve_forever)"]
        == [
            "get_request",
            "verify_request",
            "process_request",
            "close_request",  # the parent drops its own copy of the connection
            "service_actions",
        ]
        * 2
    )
    for child in ("child 1", "child 2"):
        assert by_actor[child] == REQUEST_HOOKS[3:]
    # The child was forked inside process_request, so its calls start one level deep.
    assert {
        c.depth for c in tracer.calls() if c.actor == "child 1" and c.hook == "finish_request"
    } == {1}


@pytest.mark.fork
def test_a_chatty_child_never_blocks_on_the_trace(tracer: Tracer) -> None:
    """Far more than a pipe's 64 KiB of records from one child: nothing blocks or is lost."""
    calls_in_child = 3000

    class ChattyHandler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            for _ in range(calls_in_child):
                self.server.verify_request(self.request, self.client_address)
            self.request.sendall(b"done\n")

    server = traced_server(tracer, socketserver.ForkingTCPServer, ChattyHandler)
    with serving(server):
        assert ask(server.server_address, "talk") == b"done\n"
        tracer.wait_for("shutdown_request", 1, timeout=WAIT_SECONDS)

    verified = [c for c in tracer.calls() if c.hook == "verify_request" and c.actor == "child 1"]
    assert len(verified) == calls_in_child
    assert all(call.outcome == "-> True" for call in verified)


def test_verify_request_refusal_skips_the_handler(tracer: Tracer) -> None:
    class RefuseAll(socketserver.TCPServer):
        def verify_request(self, request: object, client_address: object) -> bool:
            return False

    with serving(traced_server(tracer, RefuseAll)) as server:
        assert ask(server.server_address, "let me in") == b""
        tracer.wait_for("service_actions", 1)

    request_calls = [c for c in tracer.calls() if c.actor != "main"]
    assert [c.text for c in request_calls] == [
        "get_request",
        "verify_request -> False",
        "shutdown_request",
        "close_request",
        "service_actions+",
    ]


def test_handler_exception_is_shown_raising_and_reaching_handle_error(tracer: Tracer) -> None:
    with serving(traced_server(tracer, socketserver.TCPServer)) as server:
        assert ask(server.server_address, "boom") == b""
        tracer.wait_for("service_actions", 1)

    texts = [c.text for c in tracer.calls() if c.actor != "main"]
    assert texts[2:9] == [
        "process_request raised ValueError",
        "finish_request raised ValueError",
        "setup",
        "handle raised ValueError",
        "finish",
        "handle_error (ValueError)",
        "shutdown_request",
    ]


def test_system_exit_escapes_without_handle_error(tracer: Tracer) -> None:
    server = traced_server(tracer, socketserver.TCPServer)
    with server, socket.create_connection(server.server_address, timeout=WAIT_SECONDS) as client:
        client.sendall(b"exit\n")
        with pytest.raises(SystemExit):
            server.handle_request()
        assert client.recv(100) == b""

    hooks = [c.text for c in tracer.calls()]
    assert "handle raised SystemExit" in hooks
    assert not any(text.startswith("handle_error") for text in hooks)
    assert hooks[-3:-1] == ["shutdown_request", "close_request"]


def test_handle_request_timeout_calls_handle_timeout(tracer: Tracer) -> None:
    server = traced_server(tracer, socketserver.TCPServer)
    server.timeout = 0.01
    with server:
        server.handle_request()

    assert [c.hook for c in tracer.calls()] == [
        "server_bind",
        "server_activate",
        "handle_timeout",
        "server_close",
    ]


def test_service_actions_is_collapsed_by_default_and_can_be_shown_or_hidden(
    tracer: Tracer,
) -> None:
    server = traced_server(tracer, socketserver.TCPServer)
    with server:
        thread = threading.Thread(target=server.serve_forever, args=(0.005,))
        thread.start()
        try:
            tracer.wait_for("service_actions", 5)
        finally:
            server.shutdown()
            thread.join(WAIT_SECONDS)

    recorded = sum(1 for r in tracer.records() if r.hook == "service_actions" and r.event == "call")
    assert recorded >= 5
    collapsed = [c for c in tracer.calls() if c.hook == "service_actions"]
    assert len(collapsed) == 1
    assert collapsed[0].repeats == recorded
    assert collapsed[0].text == "service_actions+"
    shown = [c for c in tracer.calls(collapse=()) if c.hook == "service_actions"]
    assert len(shown) == recorded
    assert "service_actions" not in tracer.timeline(hide=["service_actions"])


def test_mermaid_declares_every_actor_and_balances_activations(tracer: Tracer) -> None:
    with serving(traced_server(tracer, socketserver.ThreadingTCPServer)) as server:
        ask(server.server_address, "hi")
        tracer.wait_for("shutdown_request", 1)

    diagram = tracer.mermaid()
    lines = diagram.splitlines()
    assert lines[0] == "sequenceDiagram"
    assert lines[1:4] == [
        "    participant A1 as main",
        "    participant A2 as thread 1 (serve_forever)",
        "    participant A3 as thread 2 (process_request_thread)",
    ]
    for node in ("A1", "A2", "A3"):
        opened = sum(1 for line in lines if f"->>+{node}:" in line)
        closed = sum(1 for line in lines if line.strip() == f"deactivate {node}")
        assert opened == closed
    assert "    A3->>+A3: finish_request" in lines
    assert "    A3->>A3: handle" in lines
    assert not any(char in diagram for char in "#;")


def test_by_actor_timeline_groups_and_indents(tracer: Tracer) -> None:
    with serving(traced_server(tracer, socketserver.TCPServer)) as server:
        ask(server.server_address, "hi")
        tracer.wait_for("service_actions", 1)

    text = tracer.timeline(by_actor=True)
    assert text.startswith("main:\n  server_bind\n  server_activate\n  shutdown\n  server_close\n")
    assert "\n  process_request\n    finish_request\n      setup\n" in text


def test_stdlib_servers_can_be_traced_too(tracer: Tracer) -> None:
    server_class = tracer.trace_server(stdlib_socketserver.ThreadingTCPServer)
    with server_class(("127.0.0.1", 0), UpperHandler) as server:
        thread = threading.Thread(target=server.serve_forever, args=(0.01,))
        thread.start()
        try:
            assert ask(server.server_address, "std") == b"STD\n"
            tracer.wait_for("shutdown_request", 1)
        finally:
            server.shutdown()
            thread.join(WAIT_SECONDS)

    handler_hooks = [c.hook for c in tracer.calls() if c.hook in HANDLER_HOOKS]
    assert handler_hooks == ["setup", "handle", "finish"]


def test_thread_pool_workers_are_named_after_their_thread(tracer: Tracer) -> None:
    with serving(traced_server(tracer, socketserver.ThreadPoolTCPServer)) as server:
        ask(server.server_address, "pool")
        tracer.wait_for("shutdown_request", 1)

    assert "thread 2 (TracedQuietThreadPoolTCPServer-worker-1)" in tracer.hooks_by_actor()


def test_trace_server_reuses_one_subclass_and_traces_the_handler(tracer: Tracer) -> None:
    first = tracer.trace_server(socketserver.TCPServer)
    assert tracer.trace_server(socketserver.TCPServer) is first
    assert tracer.trace_server(first) is first
    assert issubclass(first, socketserver.TCPServer)
    with first(("127.0.0.1", 0), UpperHandler) as server:
        assert server.RequestHandlerClass is tracer.trace_handler(UpperHandler)
        assert issubclass(server.RequestHandlerClass, UpperHandler)


def test_hooks_can_be_left_out_when_recording() -> None:
    with Tracer(hooks=["setup", "handle", "finish"]) as handler_only:
        server_class = handler_only.trace_server(socketserver.TCPServer)
        with server_class(("127.0.0.1", 0), UpperHandler) as server:
            client = socket.create_connection(server.server_address, timeout=WAIT_SECONDS)
            with client:
                client.sendall(b"x\n")
                server.handle_request()
        assert [c.hook for c in handler_only.calls()] == ["setup", "handle", "finish"]


def test_bad_arguments_are_explained() -> None:
    with pytest.raises(ValueError, match="unknown hook names"):
        Tracer(hooks=["handle", "hadnle"])
    with Tracer() as tracer:
        unbound = socketserver.TCPServer(("127.0.0.1", 0), UpperHandler, bind_and_activate=False)
        with unbound, pytest.raises(TypeError, match="expected a class"):
            tracer.trace_server(unbound)
        with pytest.raises(ValueError, match="clock"):
            tracer.plot(clock="sundial")
        with pytest.raises(TimeoutError, match="'handle'"):
            tracer.wait_for("handle", timeout=0.01)


def test_many_threads_write_whole_records(tracer: Tracer) -> None:
    server = traced_server(tracer, socketserver.TCPServer)
    per_thread = 300

    def verify_many() -> None:
        for _ in range(per_thread):
            server.verify_request(None, None)

    with server:
        workers = [threading.Thread(target=verify_many) for _ in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(WAIT_SECONDS)

    verified = [r for r in tracer.records() if r.hook == "verify_request"]
    assert len(verified) == 8 * per_thread * 2  # a call and a return each
    assert [r.seq for r in tracer.records()] == list(range(len(tracer.records())))


def test_close_releases_the_file_and_keeps_what_was_read() -> None:
    tracer = Tracer()
    server_class = tracer.trace_server(socketserver.TCPServer)
    with server_class(("127.0.0.1", 0), UpperHandler):
        pass
    descriptor = tracer._fd
    tracer.close()
    tracer.close()  # twice is fine
    assert tracer.closed
    with pytest.raises(OSError):
        os.fstat(descriptor)
    assert [c.hook for c in tracer.calls()] == ["server_bind", "server_activate", "server_close"]
    with server_class(("127.0.0.1", 0), UpperHandler):
        pass  # recording after close is silently skipped, never written to a stale descriptor
    assert len(tracer.calls()) == 3


def test_plot_draws_one_bar_per_call(tracer: Tracer) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    with serving(traced_server(tracer, socketserver.TCPServer)) as server:
        ask(server.server_address, "hi")
        tracer.wait_for("service_actions", 1)

    for clock in ("order", "time"):
        axes = tracer.plot(clock=clock, title="sync")
        try:
            assert len(axes.patches) == len(tracer.calls())
            assert [label.get_text() for label in axes.get_xticklabels()] == [
                "main",
                "thread 1\n(serve_forever)",
            ]
        finally:
            pyplot.close(axes.figure)


def test_hook_lists_cover_the_documented_hooks() -> None:
    assert set(ALL_HOOKS) == set(SERVER_HOOKS) | set(HANDLER_HOOKS)
    assert len(ALL_HOOKS) == 16

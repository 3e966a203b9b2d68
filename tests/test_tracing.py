"""The tracer records every hook call, from every thread and forked child, in order.

Each test runs a real server on loopback, makes a request or two, shuts the server
down and closes it, then checks what the tracer saw. The orders asserted are the
ones causality fixes (a handler cannot run before its request was got); where two
threads or processes really run at once, the tests compare each actor's own
sequence, which is fixed.
"""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import socket
import socketserver as stdlib_socketserver
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from server_support import open_descriptor_count

import socketserver_lit as socketserver
from socketserver_lit import tracing
from socketserver_lit.tracing import ALL_HOOKS, HANDLER_HOOKS, SERVER_HOOKS, Tracer

ROOT = Path(__file__).resolve().parent.parent

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
    assert os.fstat(tracer._fd).st_size > 64 * 1024  # more than a Linux pipe holds by default
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
    assert lines[2:5] == [
        "    participant A1 as main",
        "    participant A2 as thread 1<br/>(serve_forever)",
        "    participant A3 as thread 2<br/>(process_request_thread)",
    ]
    for node in ("A1", "A2", "A3"):
        opened = sum(1 for line in lines if f"->>+{node}:" in line)
        closed = sum(1 for line in lines if line.strip() == f"deactivate {node}")
        assert opened == closed
    assert "    A3->>+A3: finish_request" in lines
    assert "    A3->>A3: handle" in lines
    assert not any(char in diagram for char in "#;")


# Mermaid's sequence diagram defaults (its configuration schema): the blank space the
# tracer's diagrams narrow, so that four lifelines fit a page's text column.
MERMAID_SEQUENCE_DEFAULTS = {"diagramMarginX": 50, "actorMargin": 50, "width": 150}


def test_mermaid_narrows_the_spacing_in_an_init_directive_under_the_diagram_type(
    tracer: Tracer,
) -> None:
    with serving(traced_server(tracer, socketserver.TCPServer)) as server:
        ask(server.server_address, "hi")
        tracer.wait_for("shutdown_request", 1)

    first, second = tracer.mermaid().splitlines()[:2]
    assert first == "sequenceDiagram"
    directive = re.fullmatch(r"    %%\{init: (?P<config>.*)\}%%", second)
    assert directive is not None, second
    config = json.loads(directive["config"])
    assert set(config) == {"sequence"}
    assert set(config["sequence"]) == set(MERMAID_SEQUENCE_DEFAULTS)
    for key, default in MERMAID_SEQUENCE_DEFAULTS.items():
        assert 0 < config["sequence"][key] < default, key


def test_mermaid_draws_the_part_of_a_name_in_brackets_on_a_second_line(tracer: Tracer) -> None:
    with serving(traced_server(tracer, socketserver.ThreadingTCPServer)) as server:
        ask(server.server_address, "hi")
        tracer.wait_for("shutdown_request", 1)

    participants = [line for line in tracer.mermaid().splitlines() if "participant" in line]
    assert participants == [
        "    participant A1 as main",
        "    participant A2 as thread 1<br/>(serve_forever)",
        "    participant A3 as thread 2<br/>(process_request_thread)",
    ]
    # The diagram only: the timeline names each actor on one line, as before.
    timeline = tracer.timeline(by_actor=True, hide=["service_actions"])
    assert "thread 2 (process_request_thread):\n" in timeline
    assert "<br/>" not in timeline


def test_mermaid_keeps_a_name_without_brackets_on_one_line() -> None:
    assert tracing._mermaid_actor("main") == "main"
    assert tracing._mermaid_actor("child 1 thread 2") == "child 1 thread 2"
    assert tracing._mermaid_actor("thread 4 (pool (a))") == "thread 4<br/>(pool (a))"
    assert tracing._mermaid_actor("thread 5 (a;b)") == "thread 5<br/>(a_b)"


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


def test_server_hooks_are_listed_in_the_order_a_server_s_life_uses_them(tracer: Tracer) -> None:
    with serving(traced_server(tracer, socketserver.TCPServer)) as server:
        ask(server.server_address, "hi")
        tracer.wait_for("service_actions")

    used = [call.hook for call in tracer.calls() if call.hook in SERVER_HOOKS]
    assert used[:2] == list(SERVER_HOOKS[:2])  # the constructor's
    assert used[2:8] == list(SERVER_HOOKS[2:8])  # a request's
    assert used[-2:] == list(SERVER_HOOKS[-2:])  # the end
    assert SERVER_HOOKS[8:11] == ("service_actions", "handle_timeout", "handle_error")


# -- the example in the module docstring (and so on the reference and literate pages) ------


def literal_blocks(docstring: str) -> list[tuple[str, str]]:
    """Each reST literal block of a docstring: (the line that introduces it, its dedented text)."""
    lines = docstring.splitlines()
    blocks = []
    for number, line in enumerate(lines):
        if not line.rstrip().endswith("::"):
            continue
        body = []
        for following in lines[number + 1 :]:
            if following.strip() and not following.startswith(" "):
                break
            body.append(following)
        blocks.append((line, textwrap.dedent("\n".join(body)).strip("\n")))
    return blocks


def test_the_module_example_is_a_complete_program_that_prints_what_the_docstring_shows(
    tmp_path: Path,
) -> None:
    blocks = literal_blocks(tracing.__doc__ or "")
    [program] = [text for intro, text in blocks if "``traced_echo.py``" in intro]
    [transcript] = [text for _intro, text in blocks if text.startswith("$ python traced_echo.py")]
    (tmp_path / "traced_echo.py").write_text(program + "\n")

    result = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", "traced_echo.py"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS * 3,
    )

    assert result.stderr == ""
    assert result.returncode == 0
    assert result.stdout.rstrip("\n") == transcript.split("\n", 1)[1]


def test_the_notebook_named_in_the_essay_traces_three_server_types_and_draws_them() -> None:
    [path] = re.findall(r"Next: ``(notebooks/[^`]+\.ipynb)``", tracing.__doc__ or "")
    notebook = json.loads((ROOT / path).read_text())
    code = "\n".join(
        "".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"
    )
    assert "trace_server(" in code
    for server_class in ("TCPServer", "ThreadingTCPServer", "ForkingTCPServer"):
        assert f"run_traced({server_class}" in code
    assert ".plot(" in code


# -- used the wrong way: each mistake fails at once, with a sentence saying what to do ------


def test_a_class_traced_by_a_closed_tracer_refuses_to_create_a_server(
    no_leaked_descriptors: None,
) -> None:
    with Tracer() as tracer:
        server_class = tracer.trace_server(socketserver.TCPServer)
    with pytest.raises(RuntimeError, match=r"Tracer was closed.*new Tracer\(\)"):
        server_class(("127.0.0.1", 0), UpperHandler)


def test_a_server_refuses_to_take_a_request_after_its_tracer_is_closed() -> None:
    tracer = Tracer()
    server = traced_server(tracer, socketserver.TCPServer)
    try:
        with socket.create_connection(server.server_address, timeout=WAIT_SECONDS):
            tracer.close()
            with pytest.raises(RuntimeError, match=r"get_request\(\) was called after its Tracer"):
                server.handle_request()
            server.socket.settimeout(WAIT_SECONDS)
            waiting, _address = server.socket.accept()  # the refused call took nothing
            waiting.close()
    finally:
        server.socket.close()


def test_hooks_that_release_something_still_run_after_the_tracer_is_closed() -> None:
    tracer = Tracer()
    server = traced_server(tracer, socketserver.TCPServer)
    tracer.close()
    with pytest.raises(RuntimeError, match=r"server_close\(\) was called after its Tracer"):
        server.server_close()
    assert server.socket.fileno() == -1  # closed all the same


@pytest.mark.parametrize("package", [stdlib_socketserver, socketserver], ids=["stdlib", "lit"])
def test_a_serve_loop_stops_with_the_error_once_its_tracer_is_closed(
    package: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    died_with: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda hook: died_with.append(hook.exc_value))
    tracer = Tracer()
    server = tracer.trace_server(package.TCPServer)(("127.0.0.1", 0), UpperHandler)
    try:
        loop = threading.Thread(target=server.serve_forever, args=(0.01,))
        loop.start()
        tracer.wait_for("service_actions")
        tracer.close()
        loop.join(WAIT_SECONDS)
        assert not loop.is_alive()
        with pytest.raises(RuntimeError, match="shutdown\\(\\) was called after its Tracer"):
            server.shutdown()  # it still runs, and returns at once: the loop is over
        with pytest.raises(RuntimeError, match="server_close\\(\\) was called after its Tracer"):
            server.server_close()
        assert server.socket.fileno() == -1
    finally:
        server.socket.close()
    [error] = died_with
    assert "TCPServer.service_actions() was called after its Tracer was closed" in str(error)


def test_a_handler_traced_by_a_closed_tracer_refuses_to_handle() -> None:
    with Tracer() as tracer:
        handler_class = tracer.trace_handler(UpperHandler)
    reported: list[BaseException | None] = []

    class ReportingServer(socketserver.TCPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            reported.append(sys.exc_info()[1])

    with ReportingServer(("127.0.0.1", 0), handler_class) as server:
        with socket.create_connection(server.server_address, timeout=WAIT_SECONDS) as client:
            server.handle_request()
            assert client.recv(100) == b""  # the server closed the request as for any error
    [error] = reported
    assert "UpperHandler.setup() was called after its Tracer was closed" in str(error)


def test_finish_still_runs_when_the_tracer_is_closed_during_handle() -> None:
    tracer = Tracer()

    handlers: list[socketserver.StreamRequestHandler] = []

    class ClosingHandler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            handlers.append(self)
            tracer.close()

    handler_class = tracer.trace_handler(ClosingHandler)
    reported: list[BaseException | None] = []

    class ReportingServer(socketserver.TCPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            reported.append(sys.exc_info()[1])

    with ReportingServer(("127.0.0.1", 0), handler_class) as server:
        with socket.create_connection(server.server_address, timeout=WAIT_SECONDS) as client:
            server.handle_request()
            assert client.recv(100) == b""
    [handler] = handlers
    assert handler.rfile.closed and handler.wfile.closed  # StreamRequestHandler.finish() ran
    [error] = reported
    assert "ClosingHandler.finish() was called after its Tracer was closed" in str(error)


def test_a_closed_tracer_refuses_to_trace() -> None:
    tracer = Tracer()
    tracer.close()
    with pytest.raises(RuntimeError, match=r"closed.*create a new Tracer\(\)"):
        tracer.trace_server(socketserver.TCPServer)
    with pytest.raises(RuntimeError, match=r"closed.*create a new Tracer\(\)"):
        tracer.trace_handler(UpperHandler)


def test_a_class_traced_by_a_closed_tracer_can_be_traced_again_by_a_new_one() -> None:
    with Tracer() as old:
        old_class = old.trace_server(socketserver.TCPServer)
    with Tracer() as new:
        new_class = new.trace_server(old_class)
        assert new_class is new.trace_server(socketserver.TCPServer)
        with new_class(("127.0.0.1", 0), UpperHandler):
            pass
        assert [c.hook for c in new.calls()] == ["server_bind", "server_activate", "server_close"]


@pytest.mark.parametrize(
    "handler_class", [UpperHandler, stdlib_socketserver.StreamRequestHandler], ids=["lit", "stdlib"]
)
def test_trace_server_refuses_a_handler_class_and_says_what_to_pass(
    tracer: Tracer, handler_class: type
) -> None:
    with pytest.raises(TypeError, match=r"is a request handler class: pass the server class"):
        tracer.trace_server(handler_class)


def test_trace_handler_refuses_a_server_class(tracer: Tracer) -> None:
    with pytest.raises(TypeError, match=r"TCPServer is a server class: use trace_server\(\)"):
        tracer.trace_handler(socketserver.TCPServer)


def test_trace_server_refuses_a_server_object_and_says_to_trace_its_class(tracer: Tracer) -> None:
    unbound = socketserver.TCPServer(("127.0.0.1", 0), UpperHandler, bind_and_activate=False)
    with unbound, pytest.raises(TypeError, match=r"takes a class.*before you create the object"):
        tracer.trace_server(unbound)


def test_trace_server_refuses_a_class_with_no_hooks(tracer: Tracer) -> None:
    with pytest.raises(TypeError, match="found none of the hooks server_bind"):
        tracer.trace_server(dict)


def test_a_handler_factory_that_is_not_a_class_is_left_as_it_is(tracer: Tracer) -> None:
    factory = functools.partial(UpperHandler)
    with tracer.trace_server(socketserver.TCPServer)(("127.0.0.1", 0), factory) as server:
        assert server.RequestHandlerClass is factory


def test_wait_for_refuses_a_hook_that_does_not_exist_and_suggests_one(tracer: Tracer) -> None:
    with pytest.raises(ValueError, match="'handel' is not a hook; did you mean 'handle'"):
        tracer.wait_for("handel", timeout=WAIT_SECONDS)


def test_wait_for_refuses_a_hook_the_tracer_does_not_record() -> None:
    with Tracer(hooks=["handle"]) as tracer:
        with pytest.raises(ValueError, match=r"does not record 'setup'; add it to Tracer\(hooks"):
            tracer.wait_for("setup", timeout=WAIT_SECONDS)


def test_wait_for_on_a_closed_tracer_returns_if_the_records_are_there_else_fails_at_once() -> None:
    tracer = Tracer()
    with tracer.trace_server(socketserver.TCPServer)(("127.0.0.1", 0), UpperHandler):
        pass
    tracer.close()
    tracer.wait_for("server_close", timeout=WAIT_SECONDS)
    with pytest.raises(RuntimeError, match=r"closed, so no new records can arrive \(1 of 2 seen\)"):
        tracer.wait_for("server_close", 2, timeout=WAIT_SECONDS)


def test_wait_for_times_out_saying_how_many_it_saw(tracer: Tracer) -> None:
    with pytest.raises(TimeoutError, match="record\\(s\\) of 'handle' but saw 0"):
        tracer.wait_for("handle", timeout=0.01)


def test_wait_for_refuses_an_unknown_event(tracer: Tracer) -> None:
    with pytest.raises(ValueError, match="event must be"):
        tracer.wait_for("handle", event="finish")


@pytest.mark.parametrize("count", [0, -1])
def test_wait_for_refuses_a_count_below_one_instead_of_returning_at_once(
    tracer: Tracer, count: int
) -> None:
    with pytest.raises(ValueError, match="would return at once: count is how many records"):
        tracer.wait_for("handle", count)


@pytest.mark.parametrize("timeout", [-1, float("nan")])
def test_wait_for_refuses_a_negative_or_nan_timeout(tracer: Tracer, timeout: float) -> None:
    # NaN compares false with everything: its deadline would never come.
    with pytest.raises(ValueError, match="timeout is in seconds and cannot be negative, not"):
        tracer.wait_for("handle", timeout=timeout)


@pytest.mark.parametrize(
    ("arguments", "sentence"),
    [
        ({"count": 1.5}, "count is how many records to wait for, a whole number, not 1.5"),
        ({"count": True}, "count is how many records to wait for, a whole number, not True"),
        ({"timeout": "1"}, "timeout is a number of seconds, not '1'"),
    ],
)
def test_wait_for_refuses_a_count_or_timeout_of_the_wrong_type(
    tracer: Tracer, arguments: dict, sentence: str
) -> None:
    with pytest.raises(TypeError, match=re.escape(sentence)):
        tracer.wait_for("handle", **arguments)


def test_unknown_hook_names_are_refused_when_recording_and_rendering(tracer: Tracer) -> None:
    with pytest.raises(ValueError, match="hooks: 'hadnle' is not a hook; did you mean 'handle'"):
        Tracer(hooks=["handle", "hadnle"])
    with pytest.raises(ValueError, match="hide: 'service_action' is not a hook"):
        tracer.timeline(hide=["service_action"])
    with pytest.raises(ValueError, match="collapse: 'sevrice_actions' is not a hook"):
        tracer.calls(collapse=["sevrice_actions"])


def test_a_single_hook_name_in_place_of_a_list_is_refused(tracer: Tracer) -> None:
    with pytest.raises(TypeError, match=r"write hide=\['service_actions'\]"):
        tracer.timeline(hide="service_actions")


def test_plot_refuses_an_unknown_clock(tracer: Tracer) -> None:
    with pytest.raises(ValueError, match="clock must be 'order' or 'time', not 'sundial'"):
        tracer.plot(clock="sundial")


def test_plot_without_matplotlib_says_to_pip_install_it(
    tracer: Tracer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    with pytest.raises(ModuleNotFoundError, match="`pip install matplotlib`") as raised:
        tracer.plot()
    assert raised.value.name == "matplotlib"
    assert "timeline() or mermaid()" in str(raised.value)


def test_plot_with_a_broken_matplotlib_passes_on_matplotlib_s_own_error(
    tracer: Tracer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    broken = tmp_path / "matplotlib"
    broken.mkdir()
    (broken / "__init__.py").write_text("import a_dependency_that_is_missing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [name for name in sys.modules if name.split(".")[0] == "matplotlib"]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(ModuleNotFoundError) as raised:
        tracer.plot()
    assert raised.value.name == "a_dependency_that_is_missing"


def test_the_extra_named_in_the_plot_error_installs_matplotlib(
    tracer: Tracer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ModuleNotFoundError) as raised:
        tracer.plot()
    [extra] = re.findall(r"the `([\w-]+)` extra of socketserver-lit", str(raised.value))
    pyproject = (ROOT / "pyproject.toml").read_text()
    [section] = re.findall(
        r"^\[project\.optional-dependencies\]\n(.*?)(?=^\[)", pyproject, re.M | re.S
    )
    [requirements] = re.findall(rf"^{re.escape(extra)} = \[(.*?)^\]", section, re.M | re.S)
    assert re.search(r'^\s*"matplotlib\b', requirements, re.M)


def test_repr_counts_every_record_written_so_far(tracer: Tracer) -> None:
    with tracer.trace_server(socketserver.TCPServer)(("127.0.0.1", 0), UpperHandler):
        pass
    assert repr(tracer) == "<Tracer open, 6 records>"
    tracer.close()
    assert repr(tracer) == "<Tracer closed, 6 records>"


# -- what the essay and the docstrings say about our code --------------------------------


def test_each_record_is_one_line_written_with_one_write(
    tracer: Tracer, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[bytes] = []
    real_write = os.write

    def remembering_write(fd: int, data: bytes) -> int:
        if fd == tracer._fd:
            writes.append(bytes(data))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", remembering_write)
    with tracer.trace_server(socketserver.TCPServer)(("127.0.0.1", 0), UpperHandler):
        pass
    monkeypatch.undo()
    assert len(writes) == len(tracer.records()) == 6
    assert all(data.count(b"\n") == 1 and data.endswith(b"\n") for data in writes)


def test_records_say_who_how_deep_and_when(tracer: Tracer) -> None:
    before = time.monotonic_ns()
    with serving(traced_server(tracer, socketserver.TCPServer)) as server:
        ask(server.server_address, "hi")
        tracer.wait_for("service_actions")
    after = time.monotonic_ns()

    records = tracer.records()
    assert {r.pid for r in records} == {os.getpid()}
    [serving_thread] = {r.thread for r in records} - {"MainThread"}
    assert serving_thread.endswith(" (serve_forever)")
    for thread in ("MainThread", serving_thread):
        times = [r.time_ns for r in records if r.thread == thread]
        assert times == sorted(times)
    assert before <= min(r.time_ns for r in records) <= max(r.time_ns for r in records) <= after
    handle = [r for r in records if r.hook == "handle"]
    assert [(r.event, r.depth) for r in handle] == [("call", 2), ("return", 2)]
    assert {r.owner for r in records if r.hook in HANDLER_HOOKS} == {"UpperHandler"}
    assert {r.owner for r in records if r.hook in SERVER_HOOKS} == {"QuietTCPServer"}


def test_a_tracer_holds_one_file_descriptor() -> None:
    before = open_descriptor_count()
    tracer = Tracer()
    assert open_descriptor_count() == before + 1
    tracer.close()
    assert open_descriptor_count() == before


def test_the_trace_file_has_no_name_even_while_the_tracer_is_open(tracer: Tracer) -> None:
    assert os.fstat(tracer._fd).st_nlink == 0


def test_a_killed_process_leaves_no_trace_file_behind(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from socketserver_lit.tracing import Tracer\n"
        "tracer = Tracer()\n"
        "print(tracer._fd, flush=True)\n"
        "sys.stdin.read()\n"
    )
    environment = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    with subprocess.Popen(
        [sys.executable, "-c", script],
        env=environment,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    ) as process:
        try:
            descriptor = int(process.stdout.readline())  # type: ignore[union-attr]
            opened = os.readlink(f"/proc/{process.pid}/fd/{descriptor}")
        finally:
            process.kill()
    assert opened.startswith(str(tmp_path / "socketserver-lit-trace-"))
    assert opened.endswith(" (deleted)")
    assert os.listdir(tmp_path) == []


def test_a_record_still_being_written_is_not_read_until_its_line_is_complete(
    tracer: Tracer,
) -> None:
    line = json.dumps(["handle", "call", os.getpid(), "MainThread", 0, 1, "", "X"]).encode()
    os.write(tracer._fd, line[:10])
    assert tracer.records() == []
    os.write(tracer._fd, line[10:] + b"\n")
    assert [(r.hook, r.event) for r in tracer.records()] == [("handle", "call")]


@pytest.mark.fork
def test_a_forked_child_can_read_records_even_if_the_lock_was_held_at_the_fork(
    tracer: Tracer,
) -> None:
    with tracer.trace_server(socketserver.TCPServer)(("127.0.0.1", 0), UpperHandler):
        pass
    holding, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        with tracer._lock:
            holding.set()
            release.wait(WAIT_SECONDS)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        assert holding.wait(WAIT_SECONDS)
        child = os.fork()
        if child == 0:  # pragma: no cover  (runs in the child)
            exit_code = 1
            try:
                signal.alarm(int(WAIT_SECONDS))  # a hang here kills the child: the test fails
                exit_code = 0 if len(tracer.records()) == 6 else 2
            finally:
                os._exit(exit_code)
    finally:
        release.set()
        holder.join(WAIT_SECONDS)
    _pid, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.fork
def test_a_child_that_exits_inside_a_call_leaves_that_call_without_an_end(tracer: Tracer) -> None:
    class LeavingHandler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.recv(100)  # read the request, so closing sends no reset
            self.request.sendall(b"bye\n")
            os._exit(0)

    with serving(traced_server(tracer, socketserver.ForkingTCPServer, LeavingHandler)) as server:
        assert ask(server.server_address, "hi") == b"bye\n"
        tracer.wait_for("handle", event="call")
        tracer.wait_for("close_request")  # the parent's own copy

    [handle] = [c for c in tracer.calls() if c.hook == "handle"]
    assert handle.actor == "child 1"
    assert handle.end_ns is None and handle.end_seq is None
    assert handle.outcome == ""


@pytest.mark.fork
def test_forking_by_actor_timeline_is_the_same_every_run(tracer: Tracer) -> None:
    timelines = []
    for _run in range(3):
        tracer.clear()
        with serving(traced_server(tracer, socketserver.ForkingTCPServer)) as server:
            for done in (1, 2):
                ask(server.server_address, "hi")
                tracer.wait_for("shutdown_request", done)
        timelines.append(tracer.timeline(by_actor=True, hide=["service_actions"]))
    assert timelines[0] == timelines[1] == timelines[2]
    assert "child 2:\n    finish_request\n" in timelines[0]


def test_mermaid_bar_ends_where_the_call_returned(tracer: Tracer) -> None:
    with serving(traced_server(tracer, socketserver.TCPServer)) as server:
        ask(server.server_address, "hi")
        tracer.wait_for("service_actions")

    lines = tracer.mermaid().splitlines()
    first = lines.index("    A2->>+A2: process_request")
    assert lines[first : lines.index("    A2->>A2: service_actions+") + 1] == [
        "    A2->>+A2: process_request",
        "    A2->>+A2: finish_request",
        "    A2->>A2: setup",
        "    A2->>A2: handle",
        "    A2->>A2: finish",
        "    deactivate A2",  # finish_request returned
        "    A2->>+A2: shutdown_request",
        "    A2->>A2: close_request",
        "    deactivate A2",  # shutdown_request returned
        "    deactivate A2",  # process_request returned
        "    A2->>A2: service_actions+",
    ]


def test_a_process_that_is_not_the_tracer_s_is_named_a_child() -> None:
    namer = tracing._ActorNamer(home_pid=1)
    assert namer(1, "MainThread") == "main"
    assert namer(1, "Thread-7 (serve_forever)") == "thread 1 (serve_forever)"
    assert namer(1, "pool-worker") == "thread 2 (pool-worker)"
    assert namer(5, "MainThread") == "child 1"
    assert namer(5, "Thread-1 (work)") == "child 1 thread 2"
    assert namer(9, "MainThread") == "child 2"


@pytest.mark.parametrize(
    "server_class",
    [
        socketserver.ThreadingTCPServer,
        pytest.param(socketserver.ForkingTCPServer, marks=pytest.mark.fork),
    ],
    ids=["thread", "child"],
)
def test_a_call_comes_before_every_record_of_the_thread_or_child_it_started(
    tracer: Tracer, server_class: type
) -> None:
    with serving(traced_server(tracer, server_class)) as server:
        for done in (1, 2):
            ask(server.server_address, "hi")
            tracer.wait_for("shutdown_request", done)

    records = tracer.records()
    starters = [r for r in records if r.hook == "process_request" and r.event == "call"]
    started_actors = list(dict.fromkeys(r.actor for r in records if r.hook == "finish_request"))
    assert len(starters) == len(started_actors) == 2
    for starter, actor in zip(starters, started_actors, strict=True):
        assert starter.actor != actor
        assert all(starter.seq < r.seq for r in records if r.actor == actor)

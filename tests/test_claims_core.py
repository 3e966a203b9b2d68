"""Claims made by the core modules' essays, docstrings and comments, each run.

Every sentence in ``servers.py``, ``handlers.py`` and ``mixins.py`` that says what the
stdlib, the kernel or Python does is tested here, one test per claim, against the
stdlib and, where the sentence compares, against us. Each test's docstring names the
module and quotes (or closely paraphrases) the sentence it supports. Claims about our
own behaviour are tested where that behaviour is: ``test_servers.py``,
``test_backpressure.py``, ``test_vanishing_clients.py``; a few kernel facts the core
cites are already tested by the course's claims (the comments there name the test).

Linux is the platform these claims are made for; the tests that need Linux say so.
"""

from __future__ import annotations

import functools
import http.server
import inspect
import os
import selectors
import signal
import socket
import socketserver as stdlib_socketserver
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from typing import Any

import claims_support
import pytest
import test_against_stdlib as against_stdlib
from server_support import JOIN_TIMEOUT, exchange

import socketserver_lit

MODULES = [
    pytest.param(stdlib_socketserver, id="stdlib"),
    pytest.param(socketserver_lit, id="lit"),
]
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a Linux claim")

# Longest any wait in these tests may take before it is called a hang.
WAIT = 5.0


def wait_until(condition: Any, what: str, seconds: float = WAIT) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


class Recorder:
    """Collects what handle_error() saw, from any thread."""

    def __init__(self) -> None:
        self.errors: list[type[BaseException]] = []


def capturing(module: Any, base: str) -> Any:
    class Capturing(getattr(module, base)):  # type: ignore[misc]
        recorder = Recorder()

        def handle_error(self, request: Any, client_address: Any) -> None:
            self.recorder.errors.append(type(sys.exc_info()[1]))  # type: ignore[arg-type]

    Capturing.recorder = Recorder()
    return Capturing


# -- servers.py ------------------------------------------------------------------------------


@linux_only
def test_the_stdlib_prefers_poll_for_its_serve_loop():
    """servers.py: "poll() has no FD_SETSIZE limit, so prefer it where it exists, as the
    stdlib does"."""
    assert stdlib_socketserver._ServerSelector is selectors.PollSelector


def test_python_m_http_server_passes_its_directory_by_overriding_finish_request():
    """handlers.py: "The stdlib's python -m http.server passes its extra directory argument
    another way: its server overrides finish_request()". (An earlier version of our text
    said it used a functools.partial; on 3.10-3.13 it does not.)"""
    source = inspect.getsource(http.server)
    assert "def finish_request(self, request, client_address):" in source
    assert "directory=args.directory" in source
    assert "partial(" not in source


@pytest.mark.parametrize("module", MODULES)
def test_a_functools_partial_serves_as_a_handler_factory(module):
    """servers.py, handlers.py: "any callable works, such as a functools.partial that
    pre-fills extra arguments"."""

    class Greeting(module.BaseRequestHandler):
        def __init__(self, *args: Any, greeting: bytes, **kwargs: Any) -> None:
            self.greeting = greeting
            super().__init__(*args, **kwargs)

        def handle(self) -> None:
            self.request.sendall(self.greeting)

    factory = functools.partial(Greeting, greeting=b"hello")
    with module.TCPServer(("127.0.0.1", 0), factory) as server:
        replies: list[bytes] = []
        client = threading.Thread(target=lambda: replies.append(exchange(server.server_address)))
        client.start()
        server.handle_request()
        client.join(JOIN_TIMEOUT)
    assert replies == [b"hello"]


def test_the_stdlib_reports_a_missing_handler_class_as_a_bare_not_callable_error():
    """servers.py, finish_request: "the stdlib raises a bare "object is not callable"
    here, ours says what to pass instead"."""
    messages = {}
    for module in (stdlib_socketserver, socketserver_lit):

        class Capturing(module.TCPServer):  # type: ignore[name-defined, misc]
            name = module.__name__

            def handle_error(self, request: Any, client_address: Any) -> None:
                messages[self.name] = str(sys.exc_info()[1])

        with Capturing(("127.0.0.1", 0), None) as server:
            client = threading.Thread(target=exchange, args=(server.server_address,))
            client.start()
            server.handle_request()
            client.join(JOIN_TIMEOUT)
    assert messages["socketserver"] == "'NoneType' object is not callable"
    assert "handler class" in messages["socketserver_lit"]


class Leaving(stdlib_socketserver.BaseRequestHandler):
    """A handler that raises the exception class its server names."""

    def handle(self) -> None:
        raise self.server.to_raise  # type: ignore[attr-defined]


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize("leaving", [SystemExit, KeyboardInterrupt])
def test_systemexit_or_keyboardinterrupt_from_a_handler_stops_a_synchronous_server(module, leaving):
    """servers.py, handle_error: "in the serving thread (a synchronous server) it
    propagates out of serve_forever() or handle_request() and stops the server"."""
    Server = capturing(module, "TCPServer")
    with Server(("127.0.0.1", 0), Leaving) as server:
        server.to_raise = leaving
        client = threading.Thread(target=exchange, args=(server.server_address,))
        client.start()
        with pytest.raises(leaving):
            server.handle_request()
        client.join(JOIN_TIMEOUT)
    assert Server.recorder.errors == []  # handle_error() never saw it


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize("leaving", [SystemExit, KeyboardInterrupt])
def test_in_a_threading_server_it_ends_only_the_request_thread(module, leaving):
    """servers.py, handle_error: "in a request thread (ThreadingMixIn) it ends only that
    thread, silently for SystemExit, with a traceback from threading.excepthook for
    KeyboardInterrupt"."""
    hooked = []
    previous = threading.excepthook
    threading.excepthook = lambda args: hooked.append(args.exc_type)
    try:
        Server = capturing(module, "ThreadingTCPServer")
        with Server(("127.0.0.1", 0), Leaving) as server:
            server.to_raise = leaving
            thread = threading.Thread(target=server.serve_forever, args=(0.05,))
            thread.start()
            exchange(server.server_address)
            exchange(server.server_address)  # the serving thread survived: a second request
            server.shutdown()
            thread.join(JOIN_TIMEOUT)
    finally:
        threading.excepthook = previous
    assert Server.recorder.errors == []
    # threading.excepthook is called for both, and its default prints a traceback for
    # everything except SystemExit, which it ignores: that is the difference.
    assert hooked == [leaving, leaving]
    assert _default_excepthook_prints(leaving) is (leaving is KeyboardInterrupt)


def _default_excepthook_prints(exception_class: type[BaseException]) -> bool:
    """Whether Python's default threading.excepthook prints anything for this exception."""
    program = textwrap.dedent(
        f"""
        import threading
        def leave():
            raise {exception_class.__name__}
        thread = threading.Thread(target=leave)
        thread.start()
        thread.join()
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=WAIT * 2
    )
    return exception_class.__name__ in completed.stderr


@pytest.mark.fork
@pytest.mark.parametrize("module", MODULES)
def test_in_a_forked_child_it_ends_only_the_child(module):
    """servers.py, handle_error: "in a forked child it ends only the child"."""
    Server = capturing(module, "ForkingTCPServer")
    with Server(("127.0.0.1", 0), Leaving) as server:
        server.to_raise = SystemExit
        thread = threading.Thread(target=server.serve_forever, args=(0.05,))
        thread.start()
        first = exchange(server.server_address)
        second = exchange(server.server_address)
        server.shutdown()
        thread.join(JOIN_TIMEOUT)
    assert first == second == b""  # each child left; the parent served both
    assert not thread.is_alive()


def test_the_stdlib_shutdown_with_no_loop_ever_started_waits_until_one_runs():
    """servers.py: "no loop has run yet ... (the stdlib waits forever)"; the warning:
    "The stdlib's shutdown() would wait forever here"."""
    server = stdlib_socketserver.TCPServer(("127.0.0.1", 0), None)
    stopper = threading.Thread(target=server.shutdown, daemon=True)
    stopper.start()
    time.sleep(1.0)
    still_waiting = stopper.is_alive()
    # Release it the only way there is: a loop that starts, sees the request, ends.
    loop = threading.Thread(target=server.serve_forever, args=(0.05,))
    loop.start()
    stopper.join(JOIN_TIMEOUT)
    loop.join(JOIN_TIMEOUT)
    server.server_close()
    assert still_waiting
    assert not stopper.is_alive() and not loop.is_alive()


SELF_SHUTDOWN = """
import importlib, os, socket, sys, threading
module = importlib.import_module(sys.argv[1])

class StopsItself(module.BaseRequestHandler):
    def handle(self):
        self.server.shutdown()

class Quiet(module.TCPServer):
    def handle_error(self, request, client_address):
        print("handle_error:", type(sys.exc_info()[1]).__name__, flush=True)
        os._exit(0)  # seen what we came for; nothing would stop this loop otherwise

server = Quiet(("127.0.0.1", 0), StopsItself)
threading.Thread(
    target=lambda: socket.create_connection(server.server_address, timeout=5).close(),
    daemon=True,
).start()
server.serve_forever(poll_interval=0.05)
print("serve_forever returned", flush=True)
"""


@pytest.mark.parametrize("module", MODULES)
def test_shutdown_from_the_serving_thread_deadlocks_in_the_stdlib(module):
    """servers.py, shutdown: "RuntimeError: if called from the serving thread itself,
    where waiting for the loop to stop could never end (the stdlib deadlocks here)"."""
    process = subprocess.Popen(
        [sys.executable, "-c", SELF_SHUTDOWN, module.__name__],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        output, _ = process.communicate(timeout=3)
        hung = False
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        hung = True
    if module is stdlib_socketserver:
        assert hung and output == ""
    else:
        assert not hung
        assert output.splitlines()[0] == "handle_error: RuntimeError"


def alive_after_shutdown(module: Any, attempts: int = 200) -> int:
    """The just-started race: start(); shutdown(); how often is the thread still alive?"""
    alive = 0
    for _attempt in range(attempts):
        with module.TCPServer(("127.0.0.1", 0), module.BaseRequestHandler) as server:
            thread = threading.Thread(target=server.serve_forever, args=(0.05,))
            thread.start()
            server.shutdown()
            alive += thread.is_alive()
            thread.join(JOIN_TIMEOUT)
    return alive


def test_the_stdlib_shutdown_can_return_before_its_thread_has_exited():
    """servers.py, _ServeLoop.wait_for_thread_to_end: "the waiting thread may run first (the
    stdlib's own shutdown() can then leave thread.is_alive() true)". Made to happen every
    time by a thread that unwinds slowly; ours waits for the thread, in the real race too."""
    assert against_stdlib.alive_when_the_thread_unwinds_slowly(stdlib_socketserver) is True
    assert against_stdlib.alive_when_the_thread_unwinds_slowly(socketserver_lit) is False
    assert alive_after_shutdown(socketserver_lit) == 0


def loop_turns_after_server_close(module: Any) -> tuple[bool, int]:
    """Close a server under its running loop; count the loop's turns in the next 0.5 s."""

    class Counting(module.TCPServer):  # type: ignore[name-defined, misc]
        turns = 0

        def service_actions(self) -> None:
            Counting.turns += 1  # once per turn of the loop

    server = Counting(("127.0.0.1", 0), module.BaseRequestHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.5,))
    thread.start()
    try:
        exchange(server.server_address)  # the loop is certainly running
        server.server_close()
        time.sleep(0.05)
        before = Counting.turns
        time.sleep(0.5)
        return thread.is_alive(), Counting.turns - before
    finally:
        server.shutdown()
        thread.join(JOIN_TIMEOUT)


@linux_only
def test_the_stdlib_loop_spins_on_a_socket_closed_under_it():
    """servers.py: "server_close() while a loop is running ends that loop, instead of
    leaving it to spin on a closed socket"; the loop "must stop rather than spin on a
    dead descriptor, as the stdlib's does"."""
    alive, turns = loop_turns_after_server_close(stdlib_socketserver)
    # An idle loop with a poll interval of 0.5 s turns about once in 0.5 s; this one
    # turns without waiting, because poll() reports the closed descriptor at once.
    assert alive and turns > 100, (alive, turns)
    assert loop_turns_after_server_close(socketserver_lit) == (False, 0)


def test_the_stdlib_cannot_bind_an_ipv6_literal_without_a_subclass():
    """servers.py: "An IPv6 literal such as "::1" makes a TCP or UDP server use AF_INET6
    (the stdlib fails to bind it)"."""
    with pytest.raises(OSError):
        stdlib_socketserver.TCPServer(("::1", 0), stdlib_socketserver.BaseRequestHandler)
    with socketserver_lit.TCPServer(("::1", 0), socketserver_lit.BaseRequestHandler) as server:
        assert server.socket.family == socket.AF_INET6


def two_stdlib_loops_and_one_connection() -> int:
    """Run two serve loops on one stdlib server, connect once, shut down: how many hang?"""
    server = stdlib_socketserver.TCPServer(("127.0.0.1", 0), stdlib_socketserver.BaseRequestHandler)
    loops = [
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True) for _ in range(2)
    ]
    for loop in loops:
        loop.start()
    try:
        time.sleep(0.2)  # both loops are now waiting in select()
        exchange(server.server_address)  # one connection wakes both loops
        stopper = threading.Thread(target=server.shutdown, daemon=True)
        stopper.start()
        stopper.join(JOIN_TIMEOUT)
        time.sleep(0.2)
        return sum(loop.is_alive() for loop in loops)
    finally:
        # Release a loser: a connection for its accept(); then, since the winner reset
        # the stop flag on its way out, ask again (this returns at once: the winner set
        # the "stopped" event) and the loser sees it within its poll interval.
        if any(loop.is_alive() for loop in loops):
            exchange(server.server_address)
        server.shutdown()
        for loop in loops:
            loop.join(JOIN_TIMEOUT)
        server.server_close()
        assert not any(loop.is_alive() for loop in loops)


def test_two_stdlib_loops_on_one_server_can_leave_one_blocked_in_accept():
    """servers.py, _enter_serve_loop: "Two loops would both wake for one connection; the
    one that loses the accept() race would block in it, where shutdown() cannot reach"."""
    assert any(two_stdlib_loops_and_one_connection() for _attempt in range(5))


@pytest.mark.unix
def test_the_stdlib_leaves_the_unix_socket_file_and_the_next_bind_fails(tmp_path):
    """servers.py, _SocketFileOwner: "the stdlib leaves it behind when the server closes:
    the next bind to that path fails with "Address already in use" until someone deletes
    it"."""
    path = str(tmp_path / "left.sock")
    stdlib_socketserver.UnixStreamServer(
        path, stdlib_socketserver.BaseRequestHandler
    ).server_close()
    assert os.path.exists(path)
    with pytest.raises(OSError) as caught:
        stdlib_socketserver.UnixStreamServer(path, stdlib_socketserver.BaseRequestHandler)
    assert caught.value.strerror == "Address already in use"
    os.unlink(path)
    stdlib_socketserver.UnixStreamServer(
        path, stdlib_socketserver.BaseRequestHandler
    ).server_close()
    os.unlink(path)


@pytest.mark.parametrize("module", MODULES)
def test_a_datagram_longer_than_max_packet_size_arrives_cut_to_it(module):
    """servers.py, UDPServer: "A datagram longer than max_packet_size is truncated to that
    size by the kernel"; "8192 is the stdlib's value; the rest of a longer datagram is
    discarded by the kernel"."""
    received = []

    class Sizes(module.BaseRequestHandler):
        def handle(self) -> None:
            received.append(len(self.request[0]))

    with module.UDPServer(("127.0.0.1", 0), Sizes) as server:
        assert server.max_packet_size == 8192
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.sendto(b"x" * 20_000, server.server_address)
            client.sendto(b"next", server.server_address)
            server.handle_request()
            server.handle_request()
    assert received == [8192, 4]  # cut, and the rest is gone: the next datagram is whole


# The kernel facts behind the bind-error hints and TCPServer.shutdown_request are tested
# with the course's claims: TIME_WAIT and SO_REUSEADDR in test_claims_course_basics.py
# (test_so_reuseaddr_rebinds_a_port_in_time_wait_only_if_old_and_new_sockets_set_it,
# test_a_tcp_connection_closed_first_stays_in_time_wait_for_at_most_60_s_on_linux),
# datagram ports in test_claims_cli.py (test_a_udp_port_is_free_again_as_soon_as_its_server_stops),
# privileged ports in test_claims_cli.py, shutdown(SHUT_WR) reaching every holder in
# test_claims_course_basics.py (test_shutdown_request_ends_the_stream_while_another_copy_...),
# and a full listen backlog making clients time out rather than be refused (mixins.py) in
# test_claims_course_basics.py (test_a_client_beyond_a_full_listen_queue_times_out_...).


# -- handlers.py -----------------------------------------------------------------------------


@pytest.mark.parametrize("module", MODULES)
def test_finish_runs_when_handle_raises_but_not_when_setup_raises(module):
    """handlers.py: "finish() runs even when handle() raises, but not when setup() raised,
    as in the stdlib"."""
    calls: list[str] = []

    class Failing(module.BaseRequestHandler):
        def setup(self) -> None:
            calls.append("setup")
            if self.server.fail_in == "setup":
                raise ValueError("setup")

        def handle(self) -> None:
            calls.append("handle")
            raise ValueError("handle")

        def finish(self) -> None:
            calls.append("finish")

    Server = capturing(module, "TCPServer")
    for fail_in in ("handle", "setup"):
        with Server(("127.0.0.1", 0), Failing) as server:
            server.fail_in = fail_in
            client = threading.Thread(target=exchange, args=(server.server_address,))
            client.start()
            server.handle_request()
            client.join(JOIN_TIMEOUT)
    assert calls == ["setup", "handle", "finish", "setup"]


@pytest.mark.parametrize("module", MODULES)
def test_a_failed_final_close_of_a_buffered_wfile_leaves_rfile_open_only_in_the_stdlib(module):
    """handlers.py, StreamRequestHandler.finish: "in the stdlib that second failure
    reaches handle_error() with a traceback and leaves rfile open"."""
    seen: dict[str, Any] = {}

    class Buffered(module.StreamRequestHandler):
        wbufsize = -1

        def handle(self) -> None:
            self.rfile.readline()
            self.request.sendall(b"ack\n")
            wait_until_reset(self.request)
            self.wfile.write(b"too late\n")

        def finish(self) -> None:
            try:
                super().finish()
            finally:
                seen["rfile closed"] = self.rfile.closed
                self.rfile.close()  # tidy up here, whatever finish() left

    Server = capturing(module, "TCPServer")
    with Server(("127.0.0.1", 0), Buffered) as server:
        client = threading.Thread(target=reset_after_ack, args=(server.server_address,))
        client.start()
        server.handle_request()
        client.join(JOIN_TIMEOUT)
    if module is stdlib_socketserver:
        assert seen["rfile closed"] is False
        assert Server.recorder.errors in ([BrokenPipeError], [ConnectionResetError])
    else:
        assert seen["rfile closed"] is True and Server.recorder.errors == []


def reset_after_ack(address: Any) -> None:
    import struct

    with socket.create_connection(address, timeout=WAIT) as client:
        client.sendall(b"request\n")
        client.recv(4)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def wait_until_reset(sock: socket.socket) -> None:
    import select

    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLERR | select.POLLHUP)
    poller.poll(WAIT * 1000)
    time.sleep(0.01)


@linux_only
def test_sendall_resumes_by_itself_after_a_signal_interrupts_it():
    """handlers.py, SocketWriter: "sendall(), which loops until every byte is sent (and,
    since Python 3.5, resumes by itself after a signal interrupts it)" (PEP 475)."""
    interrupts = []
    previous = signal.signal(signal.SIGALRM, lambda number, frame: interrupts.append(number))
    payload = b"y" * (8 * 1024 * 1024)
    writer, reader = socket.socketpair()
    received = bytearray()

    def read_slowly() -> None:
        while len(received) < len(payload):
            time.sleep(0.001)
            chunk = reader.recv(65536)
            if not chunk:
                return
            received.extend(chunk)

    consumer = threading.Thread(target=read_slowly)
    consumer.start()
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)  # interrupt the send again and again
        writer.sendall(payload)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        signal.signal(signal.SIGALRM, previous)
        consumer.join(JOIN_TIMEOUT * 3)
        writer.close()
        reader.close()
    assert interrupts, "no signal arrived during sendall()"
    assert bytes(received) == payload


# -- mixins.py -------------------------------------------------------------------------------


def test_the_pools_default_size_follows_thread_pool_executors_rule():
    """mixins.py, ThreadPoolMixIn.max_workers: "the same rule as
    concurrent.futures.ThreadPoolExecutor (CPU count + 4, at most 32)"."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor() as executor:
        assert socketserver_lit.ThreadPoolTCPServer.max_workers == executor._max_workers


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs pthread_kill")
def test_a_serving_thread_waiting_for_room_in_the_pool_runs_a_signal_handler_within_a_slice():
    """mixins.py, _SIGNAL_CHECK_INTERVAL: the serving thread's wait "for room in the pool"
    is sliced too. One worker, no queue: a second client leaves the serve loop (in the
    main thread) waiting for room; SIGUSR1 sent to the worker's thread runs the main
    thread's handler within a slice, which stops the loop."""
    held_handler = claims_support.HeldUntilTheClientLeaves
    held_handler.started.clear()
    server = socketserver_lit.ThreadPoolTCPServer(("127.0.0.1", 0), held_handler)
    server.max_workers, server.max_queued_requests = 1, 0
    ran_at: list[float] = []

    def stop_the_loop(number: int, frame: Any) -> None:
        ran_at.append(time.monotonic())
        raise KeyboardInterrupt  # what Python's own Ctrl-C handler does

    held = socket.create_connection(server.server_address, timeout=WAIT)
    waiting = socket.create_connection(server.server_address, timeout=WAIT)
    sent_at: list[float] = []

    def deliver() -> None:
        if held_handler.started.wait(WAIT):
            time.sleep(0.3)  # the loop is now waiting for room
            sent_at.append(time.monotonic())
            signal.pthread_kill(held_handler.thread_id, signal.SIGUSR1)

    helper = threading.Thread(target=deliver)
    previous = signal.signal(signal.SIGUSR1, stop_the_loop)
    helper.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            server.serve_forever()
    finally:
        signal.signal(signal.SIGUSR1, previous)
        helper.join(WAIT)
        held.close()
        waiting.close()
        server.server_close()
    assert len(sent_at) == 1 and len(ran_at) == 1
    assert ran_at[0] - sent_at[0] < 0.1 + 0.5  # one slice, and room for a busy machine


@pytest.fixture
def small_receive_buffer() -> Iterator[socket.socket]:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(0.2)
    yield receiver
    receiver.close()


@linux_only
def test_a_full_receive_buffer_makes_the_kernel_drop_new_datagrams(small_receive_buffer):
    """mixins.py, ThreadPoolMixIn: "a datagram in the socket's receive buffer, where the
    kernel drops new datagrams once it is full"."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for number in range(200):
            sender.sendto(b"%04d" % number + b"." * 500, small_receive_buffer.getsockname())
    arrived = []
    try:
        while True:
            arrived.append(small_receive_buffer.recv(1000)[:4])
    except TimeoutError:
        pass
    assert 0 < len(arrived) < 200  # some fitted; the rest were dropped, silently
    assert arrived == sorted(arrived) and arrived[0] == b"0000"  # the first ones kept


@linux_only
def test_the_stdlib_loop_spins_silently_when_accept_finds_no_free_descriptor():
    """servers.py, _report_out_of_descriptors: "a loop that simply tried again would spin at
    full speed, silently, until a descriptor is freed (the stdlib's does)"."""
    import json

    from server_support import OUT_OF_DESCRIPTORS_PROGRAM

    child = subprocess.run(
        [sys.executable, "-c", OUT_OF_DESCRIPTORS_PROGRAM, "socketserver"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout)
    assert result["served"] and result["turns"] > 1000, result  # thousands in 0.5 s
    assert child.stderr == ""  # not a word


def test_thread_name_numbers_count_thread_objects_created_without_a_name_not_started_ones():
    """notebooks/examples/06-threading-udp.ipynb, "What just happened": "The numbers in the
    names count the `Thread` objects this Python has created without a name of their own,
    started or not". Run in a fresh interpreter so that no other thread was made first."""
    program = (
        "import threading\n"
        "print(threading.Thread(target=None).name)\n"
        "unstarted = [threading.Thread(target=None) for _ in range(5)]\n"
        "threading.Thread(target=None, name='named').start()\n"
        "print(threading.Thread(target=None).name)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=30, check=True
    )
    assert result.stdout.split() == ["Thread-1", "Thread-7"]

"""What course notebooks 06 and 07 say about shared state and shutting down, run.

``notebooks/course/06-use-your-head.ipynb`` (state shared between requests: lost
updates, locks, where CPython lets another thread in) and
``notebooks/course/07-shutting-down.ipynb`` (``shutdown()``, ``server_close()``,
``block_on_close``, ``daemon_threads``, the races around starting and stopping a loop)
show most of what they claim in their own outputs, on Python 3.11 and 3.13. Each test
here backs one sentence on every Python we support (3.10 to 3.13), or one the
notebooks state without showing. Every test names its notebook and quotes its sentence.
Where a sentence is about ``socketserver``, the test runs it on the standard library's
module and, where the sentence compares, on ours.

How the race tests stay honest without depending on luck: a lost update needs two
threads *running at the same time*, so the experiments make that certain instead of
likely. Threads that count increments run for a fixed time, not a fixed number, so
they overlap for most of it; the server bursts use clients that take 5 ms to answer, so
conversations overlap. A test that expects "none lost" runs the same way, so a zero
there means something.

Platform: Linux (``os.pwrite``, ``fcntl.flock``, ``/proc/self/fd``, ``fork``); CPython
3.10 to 3.13, standard builds with the global interpreter lock. Every socket is closed,
every thread joined, every wait bounded.
"""

from __future__ import annotations

import contextlib
import fcntl
import inspect
import logging
import os
import socket
import socketserver
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
from server_support import JOIN_TIMEOUT, open_descriptor_count

import socketserver_lit

NOTEBOOK_6 = "06-use-your-head"
NOTEBOOK_7 = "07-shutting-down"

# Seconds any socket call or join may take before the test fails instead of hanging.
WAIT = 5.0
# Seconds a client of the counter service takes to answer its greeting (as in notebook 06).
CLIENT_THINKS = 0.005


# The stdlib's socketserver, then ours, for each test that takes ``module``.
module = claims_support.stdlib_then_ours


# -- Helpers: the counter service of notebook 06 -------------------------------------------


def read_amount(rfile) -> int:
    command, amount = rfile.readline(100).split()
    assert command == b"add", command
    return int(amount)


def counter_handlers(module) -> dict[str, type]:
    """Notebook 06's handlers, on ``module``'s StreamRequestHandler."""

    class CounterHandler(module.StreamRequestHandler):
        # Read the count, greet with it, wait for "add N", write the count read plus N.
        def handle(self):
            count = self.server.count
            self.wfile.write(f"count is {count}\n".encode())
            amount = read_amount(self.rfile)
            self.server.count = count + amount
            self.wfile.write(f"count is now {self.server.count}\n".encode())

    class LockedCounterHandler(module.StreamRequestHandler):
        # The update under the lock, after the client has answered.
        def handle(self):
            self.wfile.write(f"count is {self.server.count}\n".encode())
            amount = read_amount(self.rfile)
            with self.server.lock:
                self.server.count += amount
                count = self.server.count
            self.wfile.write(f"count is now {count}\n".encode())

    class OneLineHandler(module.StreamRequestHandler):
        # The locked handler without its lock.
        def handle(self):
            self.wfile.write(f"count is {self.server.count}\n".encode())
            amount = read_amount(self.rfile)
            self.server.count += amount
            self.wfile.write(f"count is now {self.server.count}\n".encode())

    class ConversationLockHandler(CounterHandler):
        # Holds the lock from the greeting to the last reply.
        def handle(self):
            with self.server.lock:
                super().handle()

    return {
        "unlocked": CounterHandler,
        "locked": LockedCounterHandler,
        "one line": OneLineHandler,
        "conversation lock": ConversationLockHandler,
    }


def counter_server(server_class: type) -> type:
    """``server_class`` with notebook 06's Counter mix-in: a count, a lock, a long queue."""

    class CounterServer(server_class):
        request_queue_size = 16

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.count = 0
            self.lock = threading.Lock()

    return CounterServer


def add(address, amount: int = 1) -> int:
    """One conversation, answering the greeting after CLIENT_THINKS seconds; the new count."""
    with socket.create_connection(address, timeout=WAIT) as client:
        with client.makefile("rb") as replies:
            replies.readline()
            time.sleep(CLIENT_THINKS)
            client.sendall(f"add {amount}\n".encode())
            return int(replies.readline().split()[-1])


def run_counter(server_class, handler_class, clients: int = 8, conversations: int = 10):
    """Notebook 06's burst: return the closed server and every count the clients were told."""
    replies: list[int] = []
    errors: list[BaseException] = []

    def one_client():
        try:
            for _ in range(conversations):
                replies.append(add(server.server_address))
        except BaseException as error:  # reported below, in the test's own thread
            errors.append(error)

    with server_class(("127.0.0.1", 0), handler_class) as server:
        loop = threading.Thread(target=server.serve_forever)
        loop.start()
        client_threads = [threading.Thread(target=one_client) for _ in range(clients)]
        try:
            for thread in client_threads:
                thread.start()
        finally:
            for thread in client_threads:
                thread.join(JOIN_TIMEOUT)
            server.shutdown()
            loop.join(JOIN_TIMEOUT)
    assert not errors, errors
    assert len(replies) == clients * conversations
    return server, replies


# -- Helpers: notebook 06's experiment on where another thread gets in ----------------------


class Box:
    count = 0


class StepBox(Box):
    @property
    def step(self):
        return 1


def count_lost(increment: Callable[[Any], None], box_class: type = Box, seconds: float = 0.2):
    """Notebook 06's experiment: 8 threads run ``increment(box)`` for ``seconds`` with the
    switch interval at one microsecond; return (updates lost, updates made)."""
    threads = 8
    box = box_class()
    done = [0] * threads
    running = [True]
    start_together = threading.Barrier(threads + 1, timeout=WAIT)

    def work(number):
        start_together.wait()
        made = 0
        while running[0]:
            increment(box)
            made += 1
        done[number] = made

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    previous_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for worker in workers:
            worker.start()
        start_together.wait()
        time.sleep(seconds)
    finally:
        running[0] = False
        for worker in workers:
            worker.join(JOIN_TIMEOUT)
        sys.setswitchinterval(previous_interval)
    return sum(done) - box.count, sum(done)


def do_nothing():
    pass


def one_line(box):
    box.count += 1


def two_statements(box):
    count = box.count
    box.count = count + 1


def with_a_call(box):
    count = box.count
    do_nothing()
    box.count = count + 1


def with_a_loop(box):
    count = box.count
    for _ in (1,):
        pass
    box.count = count + 1


def with_a_sleep(box):
    count = box.count
    time.sleep(0)
    box.count = count + 1


quiet_logger = logging.getLogger("test_claims_course_state_and_shutdown.quiet")
quiet_logger.setLevel(logging.WARNING)


def with_a_log_line(box):
    count = box.count
    quiet_logger.debug("adding one to %d", count)  # below the level: logs nothing
    box.count = count + 1


def step_after(box):
    box.count += box.step


def step_first(box):
    box.count = box.step + box.count


# -- Notebook 06: the counter service ---------------------------------------------------------


def test_each_request_gets_a_new_handler_object(module):
    """06-use-your-head: "The count lives on the server object, the one place all handlers
    can reach (self.server): handler objects live for one request only." """
    handlers: list[object] = []

    class NotingHandler(module.BaseRequestHandler):
        def handle(self):
            handlers.append(self)
            assert self.server is server

    with module.TCPServer(("127.0.0.1", 0), NotingHandler) as server:
        for _ in range(2):
            with socket.create_connection(server.server_address, timeout=WAIT):
                server.handle_request()
    assert len(handlers) == 2 and handlers[0] is not handlers[1]


# -- Notebook 06: forking ---------------------------------------------------------------------


@pytest.mark.fork
def test_forking_children_each_add_to_a_copy_and_the_parents_count_never_moves(module):
    """06-use-your-head: "Every reply is 1: each child started from the parent's 0, added one,
    answered, and exited. The parent's count is still 0." (stdlib and ours, 3.10-3.13)"""
    server_class = counter_server(module.ForkingTCPServer)
    handler = counter_handlers(module)["unlocked"]
    server, replies = run_counter(server_class, handler, clients=5, conversations=2)
    assert replies == [1] * 10
    assert server.count == 0


# -- Notebook 06: threading, lost updates and locks -------------------------------------------


def test_a_read_modify_write_across_a_wait_for_the_client_loses_updates(module):
    """06-use-your-head: a threading server whose handler reads the count, waits for its
    client, then writes: "lost updates > 0: True" on every Python 3.10-3.13."""
    server_class = counter_server(module.ThreadingTCPServer)
    server, _ = run_counter(server_class, counter_handlers(module)["unlocked"])
    assert server.count < 80


def test_a_lock_around_the_update_after_the_answer_counts_exactly(module):
    """06-use-your-head: "with a lock: exactly 80: True" and "the last client to finish was
    told the full total: True"."""
    server_class = counter_server(module.ThreadingTCPServer)
    server, replies = run_counter(server_class, counter_handlers(module)["locked"])
    assert server.count == 80
    assert max(replies) == 80


def test_a_lock_held_across_the_conversation_keeps_the_next_client_waiting(module):
    """06-use-your-head: "Not the wait for the client: then every client would wait for the
    one being served, however slowly that one answers." A second client is not greeted
    until the first one answers."""
    server_class = counter_server(module.ThreadingTCPServer)
    handler = counter_handlers(module)["conversation lock"]
    with server_class(("127.0.0.1", 0), handler) as server:
        loop = threading.Thread(target=server.serve_forever)
        loop.start()
        try:
            with socket.create_connection(server.server_address, timeout=WAIT) as slow:
                with slow.makefile("rb") as slow_replies:
                    assert slow_replies.readline() == b"count is 0\n"
                    with socket.create_connection(server.server_address, timeout=0.5) as second:
                        with pytest.raises(TimeoutError):
                            second.recv(100)
                        slow.sendall(b"add 1\n")
                        assert slow_replies.readline() == b"count is now 1\n"
                        second.settimeout(WAIT)
                        assert second.recv(100) == b"count is 1\n"
                        second.sendall(b"add 1\n")
                        assert second.recv(100) == b"count is now 2\n"
        finally:
            server.shutdown()
            loop.join(JOIN_TIMEOUT)


def test_the_one_line_update_after_the_answer_loses_nothing_without_a_lock(module):
    """06-use-your-head, section 4: the locked handler without its lock, same burst:
    "updates lost: 0" (CPython 3.10-3.13; no promise, as the notebook says)."""
    server_class = counter_server(module.ThreadingTCPServer)
    server, _ = run_counter(server_class, counter_handlers(module)["one line"])
    assert server.count == 80


def test_the_default_switch_interval_is_five_milliseconds():
    """06-use-your-head: "switch interval (seconds): 0.005"."""
    assert sys.getswitchinterval() == 0.005


@pytest.mark.parametrize("increment", [one_line, two_statements], ids=lambda f: f.__name__)
def test_nothing_between_the_read_and_the_write_loses_no_update(increment):
    """06-use-your-head: "Loading an attribute, adding and storing an attribute carry no check,
    so with nothing else between the read and the write, no switch could fall there, even
    with a switch asked for every microsecond." (CPython 3.10-3.13)"""
    lost, made = count_lost(increment)
    assert made > 100_000  # the threads really ran, and long enough to switch often
    assert lost == 0


@pytest.mark.parametrize(
    "increment", [with_a_call, with_a_loop, with_a_sleep], ids=lambda f: f.__name__
)
def test_a_call_a_loop_or_a_blocking_call_between_the_read_and_the_write_loses_updates(
    increment,
):
    """06-use-your-head: "Calling a Python function and jumping back to the top of a loop
    carry one, and a blocking call lets go of the GIL by itself: each of those opened the
    window, and updates were lost." (The notebook's blocking call is os.pwrite; this test
    also runs time.sleep(0), the sleep of "a system call ..., a sleep".)"""
    lost, _ = count_lost(increment)
    assert lost > 0


def test_a_log_line_between_the_read_and_the_write_loses_updates():
    """06-use-your-head: "The window opens as soon as something lands between the read and
    the write: a log line, ..." A logger.debug() call that logs nothing is enough."""
    lost, _ = count_lost(with_a_log_line)
    assert lost > 0


def test_a_thread_that_never_blocks_lets_go_when_asked_after_the_switch_interval():
    """06-use-your-head: "Once another thread has waited for the GIL for the switch interval,
    the running thread is asked to let go". Two threads that never block, each noting its
    name in a shared list whenever it takes over from the other, for 0.3 s with a 50 ms
    switch interval: they do take turns, and not much more often than once per interval
    (measured: 8 or 9 turns)."""
    names: list[str] = []
    running = [True]

    def note(name):
        while running[0]:
            if names[-1] != name:  # the other thread ran since this one last did
                names.append(name)

    names.append("main")
    threads = [threading.Thread(target=note, args=(name,)) for name in "AB"]
    previous_interval = sys.getswitchinterval()
    sys.setswitchinterval(0.05)
    try:
        for thread in threads:
            thread.start()
        time.sleep(0.3)
    finally:
        running[0] = False
        for thread in threads:
            thread.join(JOIN_TIMEOUT)
        sys.setswitchinterval(previous_interval)
    turns = len(names) - 2  # the first entry is ours, the second the first thread's start
    assert 2 <= turns <= 20


def test_a_pwrite_between_the_read_and_the_write_loses_updates():
    """06-use-your-head: the fifth way, "a blocking call, a pwrite system call on a scratch
    file", lost updates."""
    with tempfile.TemporaryFile() as scratch:

        def with_a_blocking_call(box):
            count = box.count
            os.pwrite(scratch.fileno(), b"x", 0)
            box.count = count + 1

        lost, _ = count_lost(with_a_blocking_call)
    assert lost > 0


def test_a_property_read_after_the_count_loses_updates():
    """06-use-your-head, exercise 3: ``box.count += box.step`` reads box.count, then calls the
    property (a Python function) before the write: updates are lost."""
    lost, _ = count_lost(step_after, StepBox)
    assert lost > 0


def test_a_property_read_before_the_count_loses_no_update():
    """06-use-your-head, exercise 3: ``box.count = box.step + box.count`` calls the property
    before reading box.count: between the read and the write there are only an addition
    and a store, and no update is lost (CPython 3.10-3.13)."""
    lost, made = count_lost(step_first, StepBox)
    assert made > 50_000
    assert lost == 0


# -- Notebook 06: exercises ---------------------------------------------------------------------


def test_flock_holds_its_lock_until_the_file_is_closed(tmp_path):
    """06-use-your-head, exercise 1: "fcntl.flock(file, fcntl.LOCK_EX) holds one on an open
    file until the file is closed"."""
    path = tmp_path / "counter.txt"
    with open(path, "a+") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        with open(path, "a+") as other:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(path, "a+") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free once the holder closed


@pytest.mark.fork
def test_a_forking_counter_in_a_locked_file_counts_exactly(module, tmp_path):
    """06-use-your-head, exercise 1: the count kept in a file, read and written under
    fcntl.LOCK_EX, reaches 20 after 5 clients x 4 conversations, each told another count."""
    counter_path = tmp_path / "counter.txt"

    class FileCounterHandler(module.StreamRequestHandler):
        def handle(self):
            self.wfile.write(f"count is {self.server.value()}\n".encode())
            amount = read_amount(self.rfile)
            self.wfile.write(f"count is now {self.server.add(amount)}\n".encode())

    class FileCounterServer(module.ForkingTCPServer):
        request_queue_size = 16

        def value(self):
            with open(counter_path, "a+") as file:
                fcntl.flock(file, fcntl.LOCK_SH)
                file.seek(0)
                return int(file.read() or 0)

        def add(self, amount):
            with open(counter_path, "a+") as file:
                fcntl.flock(file, fcntl.LOCK_EX)
                file.seek(0)
                total = int(file.read() or 0) + amount
                file.truncate(0)
                file.write(str(total))
            return total

    server, replies = run_counter(FileCounterServer, FileCounterHandler, 5, 4)
    assert server.value() == 20
    assert sorted(replies) == list(range(1, 21))


def test_a_pool_of_one_worker_loses_no_update():
    """06-use-your-head, exercise 2: the unlocked handler on ThreadPoolTCPServer (ours) with
    max_workers = 1 loses nothing: one conversation at a time."""

    class OneWorker(counter_server(socketserver_lit.ThreadPoolTCPServer)):
        max_workers = 1

    server, _ = run_counter(OneWorker, counter_handlers(socketserver_lit)["unlocked"])
    assert server.count == 80


def test_a_pool_of_four_workers_loses_updates():
    """06-use-your-head, exercise 2: with max_workers = 4, four conversations run at once,
    and updates are lost."""

    class FourWorkers(counter_server(socketserver_lit.ThreadPoolTCPServer)):
        max_workers = 4

    server, _ = run_counter(FourWorkers, counter_handlers(socketserver_lit)["unlocked"])
    assert server.count < 80


# -- Helpers for notebook 07 --------------------------------------------------------------------


@contextlib.contextmanager
def serving_in_thread(server, poll_interval: float = 0.5) -> Iterator[threading.Thread]:
    """serve_forever() in a thread for the block; then shutdown(), join, server_close()."""
    thread = threading.Thread(target=server.serve_forever, args=(poll_interval,))
    thread.start()
    try:
        yield thread
    finally:
        server.shutdown()
        thread.join(JOIN_TIMEOUT)
        server.server_close()
        assert not thread.is_alive()


def shout_handler(module):
    class ShoutHandler(module.StreamRequestHandler):
        def handle(self):
            self.wfile.write(self.rfile.readline(1000).upper())

    return ShoutHandler


def recv_line(sock: socket.socket) -> bytes:
    with sock.makefile("rb") as replies:
        return replies.readline(1000)


def held_request_server(module, server_class, **attributes):
    """A server whose handler, once it has read a line, waits for ``release`` (at most WAIT).

    Returns (server, started, release, finished, request_threads).
    """
    started, release, finished = threading.Event(), threading.Event(), threading.Event()
    request_threads: list[threading.Thread] = []

    class WaitForReleaseHandler(module.StreamRequestHandler):
        def handle(self):
            self.rfile.readline(1000)
            request_threads.append(threading.current_thread())
            started.set()
            release.wait(WAIT)
            self.wfile.write(b"finished\n")
            finished.set()

    server_type = type("HeldRequestServer", (server_class,), attributes)
    server = server_type(("127.0.0.1", 0), WaitForReleaseHandler)
    return server, started, release, finished, request_threads


def begin_one_request(server, started: threading.Event) -> socket.socket:
    """Serve, send one request, wait until its handler runs, stop the loop; the client."""
    serving = threading.Thread(target=server.serve_forever)
    serving.start()
    client = socket.create_connection(server.server_address, timeout=WAIT)
    client.sendall(b"take your time\n")
    assert started.wait(WAIT)
    server.shutdown()
    serving.join(JOIN_TIMEOUT)
    return client


# -- Notebook 07, section 1: shutdown() and server_close() -------------------------------------


def test_after_shutdown_the_socket_stays_open_and_a_new_client_waits_for_the_next_loop(module):
    """07-shutting-down: "After shutdown() the listening socket is still open. The kernel goes
    on accepting connections into the listen queue; nobody answers them, but they wait.
    Start the loop again and the waiting client is served." """
    with module.TCPServer(("127.0.0.1", 0), shout_handler(module)) as server:
        first_loop = threading.Thread(target=server.serve_forever)
        first_loop.start()
        server.shutdown()
        first_loop.join(JOIN_TIMEOUT)
        assert server.socket.fileno() != -1
        with socket.create_connection(server.server_address, timeout=0.3) as client:
            client.sendall(b"anyone home?\n")
            with pytest.raises(TimeoutError):
                client.recv(100)
            serving = threading.Thread(target=server.serve_forever)
            serving.start()
            try:
                client.settimeout(WAIT)
                assert recv_line(client) == b"ANYONE HOME?\n"
            finally:
                server.shutdown()
                serving.join(JOIN_TIMEOUT)


def test_after_server_close_new_clients_are_refused(module):
    """07-shutting-down: "Only server_close() makes the port refuse connections." """
    server = module.TCPServer(("127.0.0.1", 0), shout_handler(module))
    address = server.server_address
    server.server_close()
    assert server.socket.fileno() == -1
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=WAIT).close()


def turn_counting_server(module):
    class TurnCountingServer(module.TCPServer):
        turns = 0

        def service_actions(self):
            self.turns += 1

    return TurnCountingServer(("127.0.0.1", 0), module.BaseRequestHandler)


def test_the_stdlib_loop_keeps_turning_after_server_close_until_shutdown():
    """07-shutting-down: "The standard library's loop goes on waiting on a socket that is
    closed; once that wait ends, it finds the closed socket 'ready' every time and turns
    without pause ... until shutdown()". More than 1,000 turns in 0.5 s, where an idle
    loop with poll_interval 0.1 turns about 5 times."""
    server = turn_counting_server(socketserver)
    serving = threading.Thread(target=server.serve_forever, args=(0.1,))
    serving.start()
    try:
        time.sleep(0.05)
        server.server_close()
        turns_before = server.turns
        serving.join(0.5)
        assert serving.is_alive()
        assert server.turns - turns_before > 1000
    finally:
        server.shutdown()
        serving.join(JOIN_TIMEOUT)
    assert not serving.is_alive()


def test_our_server_close_stops_a_running_loop():
    """07-shutting-down: "Ours (ours: not in the stdlib) stops the loop in server_close()"; the
    table's "ours: a loop still running stops"."""
    server = turn_counting_server(socketserver_lit)
    serving = threading.Thread(target=server.serve_forever, args=(0.1,))
    serving.start()
    time.sleep(0.05)
    server.server_close()
    serving.join(WAIT)
    assert not serving.is_alive()
    server.shutdown()  # returns at once: the server is closed


def test_an_idle_loop_turns_about_once_per_poll_interval(module):
    """07-shutting-down: "An idle loop with a poll_interval of 0.1 s turns about ten times a
    second", counted by service_actions(); also 07's section 6, ours: "poll_interval then only
    sets how often an idle loop runs service_actions()". Bounds are wide: 3 to 12 in 0.5 s."""
    server = turn_counting_server(module)
    with serving_in_thread(server, poll_interval=0.1):
        time.sleep(0.5)
        turns = server.turns
    assert 3 <= turns <= 12


def test_the_with_block_closes_the_server_even_on_an_error(module):
    """07-shutting-down: "`with server:` calls server_close() at the end of the block, even on
    an error"."""
    with pytest.raises(ValueError):
        with module.TCPServer(("127.0.0.1", 0), module.BaseRequestHandler) as server:
            raise ValueError("the body failed")
    assert server.socket.fileno() == -1


# -- Notebook 07, sections 2 and 3: block_on_close and daemon_threads --------------------------


def test_by_default_server_close_waits_for_a_request_in_flight(module):
    """07-shutting-down: "By default (block_on_close = True), server_close() waits for them"."""
    server, started, release, finished, _ = held_request_server(module, module.ThreadingTCPServer)
    assert server.block_on_close is True
    client = begin_one_request(server, started)
    releaser = threading.Timer(0.3, release.set)
    releaser.start()
    try:
        server.server_close()
        assert finished.is_set()
        assert recv_line(client) == b"finished\n"
    finally:
        release.set()
        releaser.join(WAIT)
        client.close()


@pytest.mark.parametrize("attribute", ["block_on_close", "daemon_threads"])
def test_server_close_returns_at_once_with_block_on_close_false_or_daemon_threads(
    module, attribute
):
    """07-shutting-down: "with block_on_close = False it returns at once and leaves them
    running"; "Within a running program, daemon threads also make server_close() skip them";
    exercise 2: daemon_threads = True alone is enough. The client still gets its reply."""
    value = attribute == "daemon_threads"  # False for block_on_close, True for daemon_threads
    server, started, release, finished, request_threads = held_request_server(
        module, module.ThreadingTCPServer, **{attribute: value}
    )
    client = begin_one_request(server, started)
    try:
        server.server_close()
        assert not finished.is_set()
        assert server.socket.fileno() == -1
        release.set()
        assert recv_line(client) == b"finished\n"
        assert [thread.daemon for thread in request_threads] == [value]
    finally:
        release.set()
        client.close()
        for thread in request_threads:
            thread.join(WAIT)


def test_request_threads_are_not_daemon_threads_by_default(module):
    """07-shutting-down: "Request threads are non-daemon by default (daemon_threads = False)"."""
    server, started, release, _, request_threads = held_request_server(
        module, module.ThreadingTCPServer
    )
    assert module.ThreadingTCPServer.daemon_threads is False
    client = begin_one_request(server, started)
    try:
        assert [thread.daemon for thread in request_threads] == [False]
    finally:
        release.set()
        server.server_close()
        client.close()


@pytest.mark.fork
@pytest.mark.parametrize("block_on_close", [True, False])
def test_a_forking_server_close_waits_for_children_unless_block_on_close_is_false(
    module, block_on_close
):
    """07-shutting-down: "The same attribute exists on ForkingMixIn, where server_close()
    waits for the child processes." A child that lingers 1.5 s after replying."""

    class LingeringHandler(module.StreamRequestHandler):
        def handle(self):
            self.wfile.write(self.rfile.readline(100))
            self.wfile.flush()
            self.request.shutdown(socket.SHUT_WR)
            time.sleep(1.5)

    class Server(module.ForkingTCPServer):
        pass

    Server.block_on_close = block_on_close
    server = Server(("127.0.0.1", 0), LingeringHandler)
    with serving_in_thread(server):
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            client.sendall(b"hi\n")
            assert recv_line(client) == b"hi\n"
        # The parent records the child after fork() returns, maybe after the reply came.
        deadline = time.monotonic() + WAIT
        while not server.active_children and time.monotonic() < deadline:
            time.sleep(0.01)
        children = set(server.active_children or ())
        assert len(children) == 1
    # serving_in_thread called server_close(): did it wait for the child?
    (pid,) = children
    if block_on_close:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # already reaped by server_close()
    else:
        assert os.waitpid(pid, os.WNOHANG) == (0, 0)  # still running
        _, status = os.waitpid(pid, 0)  # reap it ourselves
        assert os.waitstatus_to_exitcode(status) == 0


EXIT_PROGRAM = textwrap.dedent(
    """
    import socket, sys, threading, time
    import {module} as socketserver

    class SlowHandler(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.sendall(b"started")
            time.sleep(2)  # longer than the stdlib's shutdown() may wait for its tick
            print("handler finished", flush=True)

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = sys.argv[1] == "True"
        block_on_close = False

    with Server(("127.0.0.1", 0), SlowHandler) as server:
        serving = threading.Thread(target=server.serve_forever)
        serving.start()
        client = socket.create_connection(server.server_address, timeout=5)
        client.recv(100)
        server.shutdown()
        serving.join()
    client.close()
    print("main program done", flush=True)
    """
)


@pytest.mark.parametrize("daemon_threads", [False, True])
def test_the_interpreter_waits_at_exit_for_non_daemon_request_threads_only(module, daemon_threads):
    """07-shutting-down: "With daemon_threads = False the interpreter waited for the request to
    finish after the main program was done; with True it exited at once and the request died
    half-way." (block_on_close = False, so server_close() does not wait either. The handler
    takes 2 s here, where the notebook's takes 0.5 s: the stdlib's shutdown() itself may wait
    up to 0.5 s for its tick.)"""
    program = EXIT_PROGRAM.format(module=module.__name__)
    result = subprocess.run(
        [sys.executable, "-c", program, str(daemon_threads)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.stderr == ""
    expected = (
        ["main program done"] if daemon_threads else ["main program done", "handler finished"]
    )
    assert result.stdout.splitlines() == expected


# -- Notebook 07, section 4: shutdown() from the serving thread ---------------------------------


def stdlib_server_stuck_in_shutdown():
    """A stdlib TCPServer whose handler called shutdown() in the serving thread; the client.

    The loop runs in a daemon thread, so that a test that fails cannot hang the run.
    """
    entered = threading.Event()

    class StopCommandHandler(socketserver.StreamRequestHandler):
        def handle(self):
            self.rfile.readline(1000)
            entered.set()
            self.server.shutdown()
            self.wfile.write(b"shutdown() returned\n")

    server = socketserver.TCPServer(("127.0.0.1", 0), StopCommandHandler)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    client = socket.create_connection(server.server_address, timeout=WAIT)
    client.sendall(b"stop\n")
    assert entered.wait(WAIT)
    return server, serving, client


def release_with_a_second_loop(server) -> None:
    """07's rescue: a new serve_forever() finds the stop request pending and ends at once."""
    releasing_loop = threading.Thread(target=server.serve_forever)
    releasing_loop.start()
    releasing_loop.join(WAIT)
    assert not releasing_loop.is_alive()


def test_stdlib_shutdown_from_the_serving_thread_deadlocks_and_a_second_call_waits_too():
    """07-shutting-down: "shutdown() belongs in a different thread ... or it deadlocks";
    "a second shutdown() asks for the same thing and waits for the same signal"; the rescue:
    "start another serve_forever(). It finds the stop request still pending, so it ends
    before serving anything, and ... releases everyone waiting ... the first loop is still
    running afterwards"."""
    server, serving, client = stdlib_server_stuck_in_shutdown()
    second_call = threading.Thread(target=server.shutdown, daemon=True)
    try:
        client.settimeout(1)
        with pytest.raises(TimeoutError):
            client.recv(100)
        assert serving.is_alive()
        second_call.start()
        second_call.join(0.5)
        assert second_call.is_alive()

        release_with_a_second_loop(server)
        second_call.join(WAIT)
        assert not second_call.is_alive()
        client.settimeout(WAIT)
        assert recv_line(client) == b"shutdown() returned\n"
        assert serving.is_alive()  # the original loop runs on
    finally:
        # From a daemon thread, bounded: if the rescue failed, this shutdown() waits forever.
        stopper = threading.Thread(target=server.shutdown, daemon=True)
        stopper.start()
        stopper.join(WAIT)
        serving.join(WAIT)
        client.close()
        server.server_close()
    assert not serving.is_alive()


def test_our_shutdown_from_the_serving_thread_raises_runtime_error():
    """07-shutting-down: "Our shutdown() (ours: not in the stdlib) recognises the serving
    thread and refuses with an explanation instead of hanging." """
    outcome: list[BaseException] = []

    class StopCommandHandler(socketserver_lit.StreamRequestHandler):
        def handle(self):
            self.rfile.readline(1000)
            try:
                self.server.shutdown()
            except RuntimeError as error:
                outcome.append(error)

    with socketserver_lit.TCPServer(("127.0.0.1", 0), StopCommandHandler) as server:
        with serving_in_thread(server):
            with socket.create_connection(server.server_address, timeout=WAIT) as client:
                client.sendall(b"stop\n")
                assert client.recv(100) == b""  # the request ended; the loop runs on
    assert len(outcome) == 1
    assert "thread running serve_forever()" in str(outcome[0])


def test_shutdown_from_a_request_thread_of_a_threading_server_stops_the_loop(module):
    """07-shutting-down: "use a threading server: its handlers run in request threads, never
    in the serving thread, so calling shutdown() from a handler is simply allowed (with the
    standard library too)." """

    class QuitHandler(module.StreamRequestHandler):
        def handle(self):
            self.rfile.readline(1000)
            self.wfile.write(b"bye\n")
            self.server.shutdown()

    with module.ThreadingTCPServer(("127.0.0.1", 0), QuitHandler) as server:
        serving = threading.Thread(target=server.serve_forever, daemon=True)
        serving.start()
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            client.sendall(b"quit\n")
            assert recv_line(client) == b"bye\n"
        serving.join(WAIT)
        stopped = not serving.is_alive()
        if not stopped:  # do not leave a loop running if the claim is false
            server.shutdown()
            serving.join(WAIT)
    assert stopped


def test_a_handler_can_stop_a_synchronous_server_through_a_short_lived_thread(module):
    """07-shutting-down: "On a synchronous server, hand the shutdown() call to a short-lived
    thread (and keep it, so it can be joined)". Stdlib and ours."""

    class StopLaterHandler(module.StreamRequestHandler):
        def handle(self):
            self.rfile.readline(1000)
            self.server.stopper = threading.Thread(target=self.server.shutdown)
            self.server.stopper.start()
            self.wfile.write(b"stopping\n")

    with module.TCPServer(("127.0.0.1", 0), StopLaterHandler) as server:
        serving = threading.Thread(target=server.serve_forever, daemon=True)
        serving.start()
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            client.sendall(b"stop\n")
            assert recv_line(client) == b"stopping\n"
        serving.join(WAIT)
        server.stopper.join(WAIT)
        assert not serving.is_alive() and not server.stopper.is_alive()


# -- Notebook 07, section 5: no loop, or not yet --------------------------------------------------


def serve_forever_returns_by_itself_within(server, seconds: float, poll_interval=0.5) -> bool:
    """True if a serve_forever() started now returns within ``seconds`` with no shutdown()
    called meanwhile. A loop that does not is stopped (shutdown()) before returning False."""
    loop = threading.Thread(target=server.serve_forever, args=(poll_interval,))
    began = time.perf_counter()
    loop.start()
    loop.join(seconds)
    returned = not loop.is_alive() and time.perf_counter() - began < seconds
    if loop.is_alive():
        server.shutdown()
        loop.join(JOIN_TIMEOUT)
    return returned


def test_stdlib_shutdown_with_no_loop_waits_and_a_later_loop_returns_at_once_releasing_it():
    """07-shutting-down: "the standard library waits for a loop that will never come"; "a
    shutdown() that comes before the loop is not lost. The loop that starts afterwards sees
    the pending request and returns at once." (Within 0.1 s, with poll_interval 0.5.)"""
    server = socketserver.TCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler)
    waiting_call = threading.Thread(target=server.shutdown, daemon=True)
    try:
        waiting_call.start()
        waiting_call.join(0.5)
        assert waiting_call.is_alive()
        assert serve_forever_returns_by_itself_within(server, 0.1, poll_interval=0.5)
        waiting_call.join(WAIT)
        assert not waiting_call.is_alive()
    finally:
        server.server_close()


def test_our_shutdown_with_no_loop_gives_up_after_shutdown_start_timeout_with_a_warning():
    """07-shutting-down: "Ours waits too, but not forever ...: for at most
    shutdown_start_timeout seconds, 5 by default. If no loop has started by then, it warns
    with a RuntimeWarning and returns, and the shutdown stays pending, so a loop started
    later returns at once." """
    assert socketserver_lit.TCPServer.shutdown_start_timeout == 5.0
    assert not hasattr(socketserver.TCPServer, "shutdown_start_timeout")  # ours only

    class QuickToGiveUpServer(socketserver_lit.TCPServer):
        shutdown_start_timeout = 0.2

    with QuickToGiveUpServer(("127.0.0.1", 0), socketserver_lit.BaseRequestHandler) as server:
        began = time.perf_counter()
        with pytest.warns(RuntimeWarning, match="no loop"):
            server.shutdown()
        assert 0.15 < time.perf_counter() - began < 2
        assert serve_forever_returns_by_itself_within(server, 0.1)


def alive_just_after_shutdown(module, tries: int = 200) -> int:
    """07's race: start the loop's thread, call shutdown() at once; count threads alive just
    after it returns. Every loop must stop."""
    alive = 0
    for _ in range(tries):
        with module.TCPServer(("127.0.0.1", 0), module.BaseRequestHandler) as server:
            serving = threading.Thread(target=server.serve_forever, args=(0.005,))
            serving.start()
            server.shutdown()
            alive += serving.is_alive()
            serving.join(WAIT)
            assert not serving.is_alive()
    return alive


def test_our_shutdown_returns_after_the_loops_thread_has_ended_every_time():
    """07-shutting-down: "ours ... returns when the thread itself has ended, whenever
    serve_forever() is the thread's target": "ours: the thread had ended when shutdown()
    returned, every time: True" (200 tries; every Python 3.10-3.13)."""
    assert alive_just_after_shutdown(socketserver_lit) == 0


def test_the_stdlib_thread_can_still_be_alive_after_shutdown_and_ours_cannot():
    """07-shutting-down: "it can be, because its loop says it is over before the thread has
    unwound"; ours "returns when the thread itself has ended". The stdlib's race made to
    happen every time by a thread that unwinds slowly."""
    import test_against_stdlib

    assert test_against_stdlib.alive_when_the_thread_unwinds_slowly(socketserver) is True
    assert test_against_stdlib.alive_when_the_thread_unwinds_slowly(socketserver_lit) is False


# -- Notebook 07, section 6: how long shutdown() takes -------------------------------------------


def test_serve_forever_polls_every_half_second_by_default(module):
    """07-shutting-down: "for up to poll_interval seconds (0.5 by default)"."""
    parameter = inspect.signature(module.BaseServer.serve_forever).parameters["poll_interval"]
    assert parameter.default == 0.5


def shutdown_duration(module, poll_interval: float, delay: float) -> float:
    with module.TCPServer(("127.0.0.1", 0), module.BaseRequestHandler) as server:
        serving = threading.Thread(target=server.serve_forever, args=(poll_interval,))
        serving.start()
        time.sleep(delay)
        began = time.perf_counter()
        server.shutdown()
        waited = time.perf_counter() - began
        serving.join(WAIT)
    return waited


def test_stdlib_shutdown_waits_for_the_loops_next_tick():
    """07-shutting-down: "So shutdown() waits until the next tick". A poll_interval of 1 s and
    a shutdown() 0.1 s in: at least the 0.9 s left (a lower bound: no timing luck)."""
    assert shutdown_duration(socketserver, poll_interval=1.0, delay=0.1) >= 0.85


def test_our_shutdown_does_not_wait_for_the_tick():
    """07-shutting-down: "Ours (ours: not in the stdlib) wakes the loop at once". With a
    poll_interval of 10 s, shutdown() 0.1 s in returns long before the tick (within 2 s)."""
    assert shutdown_duration(socketserver_lit, poll_interval=10.0, delay=0.1) < 2.0


def test_our_loop_waits_on_a_private_wake_up_socket_pair_while_it_runs():
    """07-shutting-down: "the loop waits on a private wake-up socket as well as the server
    socket": two more descriptors while the loop runs, released when it ends."""
    with socketserver_lit.TCPServer(("127.0.0.1", 0), socketserver_lit.BaseRequestHandler) as s:
        before = open_descriptor_count()
        serving = threading.Thread(target=s.serve_forever)
        serving.start()
        deadline = time.monotonic() + WAIT
        while open_descriptor_count() < before + 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        during = open_descriptor_count()
        s.shutdown()
        serving.join(WAIT)
        assert during == before + 2
        assert open_descriptor_count() == before


@pytest.mark.fork
def test_an_idle_forking_server_reaps_its_finished_children(module):
    """07-shutting-down: "service_actions() (where a forking server reaps its children)": with
    no further request, an idle loop reaps a child that has exited (poll_interval 0.05)."""

    class ShortHandler(module.StreamRequestHandler):
        def handle(self):
            self.wfile.write(self.rfile.readline(100))

    server = module.ForkingTCPServer(("127.0.0.1", 0), ShortHandler)
    with serving_in_thread(server, poll_interval=0.05):
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            client.sendall(b"hi\n")
            assert recv_line(client) == b"hi\n"
        deadline = time.monotonic() + WAIT
        while server.active_children and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not server.active_children

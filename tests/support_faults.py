"""Tools for the load, fault and bad-input tests: logs, gates, descriptors, children.

The tests in ``test_load.py``, ``test_faults.py``, ``test_bad_input.py`` and
``test_properties.py`` run the same servers under three kinds of concurrency:
request threads, a thread pool and forked child processes. A handler running in a
child cannot append to a list the test can see, and cannot wait on a
``threading.Event`` the test sets. So the tools here are built on pipes, which
work the same across threads and across ``fork()``:

``PipeLog``
    Handlers (and ``handle_error``) record short lines; the test reads them back.
    A write of fewer than ``PIPE_BUF`` bytes to a pipe is atomic, so lines from
    concurrent writers never interleave.
``Gate``
    Handlers wait at the gate until the test lets a given number of them through,
    so "requests in flight" is a state the test creates on purpose, not a timing
    accident. Every wait is bounded: a handler that is never let through raises
    instead of hanging (and a forked child exits instead of living on).

And the checks the tests share:

``open_descriptors()`` / ``assert_no_descriptor_leak()``
    What ``/proc/self/fd`` holds, compared before and after, naming each leaked
    descriptor's target so a failure says what leaked.
``child_processes()`` / ``zombie_children()``
    This process's children and their states, read from ``/proc``; a zombie is a
    child that ended and was never reaped.

Everything is bounded in time (``WAIT_TIMEOUT``) so that a broken server makes a
test fail with a message, well before the 60 s per-test timeout.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator

import socketserver_lit as ss

# Longest any single wait in these tests may take before the test calls it a hang.
# Generous, because two cores are shared by several test runs; a passing test never
# comes near it.
WAIT_TIMEOUT = 10.0


# -- logs and gates that work across threads and fork() ------------------------------


class PipeLog:
    """A log that threads and forked children write lines to, and the test reads.

    ``record()`` is safe from any thread or child process: each line is one
    ``os.write`` of less than ``PIPE_BUF`` bytes, which POSIX makes atomic.
    Call ``close()`` when done (or use it as a context manager).
    """

    def __init__(self) -> None:
        self._reader, self._writer = os.pipe()
        os.set_blocking(self._reader, False)
        self._pending = b""
        self.lines: list[str] = []

    def record(self, line: str) -> None:
        data = line.encode() + b"\n"
        assert len(data) < select.PIPE_BUF, "log lines must be short to stay atomic"
        os.write(self._writer, data)

    def collect(self) -> list[str]:
        """Read whatever has been recorded so far; return every line seen until now."""
        while True:
            try:
                chunk = os.read(self._reader, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            self._pending += chunk
        *complete, self._pending = self._pending.split(b"\n")
        self.lines.extend(line.decode() for line in complete)
        return self.lines

    def wait_for(self, predicate: Callable[[list[str]], bool], what: str) -> list[str]:
        """Wait (bounded) until ``predicate(lines)`` holds; return the lines."""
        deadline = time.monotonic() + WAIT_TIMEOUT
        while not predicate(self.collect()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {what}; log so far: {self.lines}")
            select.select([self._reader], [], [], min(remaining, 0.5))
        return self.lines

    def wait_for_count(self, prefix: str, count: int) -> list[str]:
        """Wait until at least ``count`` lines start with ``prefix``."""
        return self.wait_for(
            lambda lines: sum(line.startswith(prefix) for line in lines) >= count,
            f"{count} log lines starting with {prefix!r}",
        )

    def close(self) -> None:
        os.close(self._reader)
        os.close(self._writer)

    def __enter__(self) -> PipeLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Gate:
    """Holds handlers (in threads or child processes) until the test lets them pass.

    ``let_through(n)`` puts ``n`` tokens in a pipe; ``pass_through()`` takes one.
    A handler that gets no token within ``WAIT_TIMEOUT`` raises ``TimeoutError``,
    so nothing waits forever when a test fails half-way.
    """

    def __init__(self) -> None:
        self._reader, self._writer = os.pipe()
        # Non-blocking: several waiters may see "readable" for one token; the
        # losers must go back to waiting, not block inside os.read().
        os.set_blocking(self._reader, False)

    def pass_through(self) -> None:
        deadline = time.monotonic() + WAIT_TIMEOUT
        while True:
            try:
                if os.read(self._reader, 1):
                    return
            except BlockingIOError:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the test never opened the gate")
            select.select([self._reader], [], [], min(remaining, 0.5))

    def let_through(self, count: int) -> None:
        os.write(self._writer, b"+" * count)

    def close(self) -> None:
        os.close(self._reader)
        os.close(self._writer)

    def __enter__(self) -> Gate:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class RecordsErrors:
    """Server mixin: ``handle_error`` logs the exception type and the client's port.

    Put it first in the bases. Set ``server.error_log`` to a :class:`PipeLog`
    after construction (a forked child inherits it). Lines look like
    ``error ConnectionResetError 40522``; the port is ``-`` for Unix sockets.
    """

    error_log: PipeLog

    def handle_error(self, request: object, client_address: object) -> None:
        error = sys.exc_info()[1]
        port = client_address[1] if isinstance(client_address, tuple) else "-"
        self.error_log.record(f"error {type(error).__name__} {port}")


def errors_in(log: PipeLog) -> list[str]:
    return [line for line in log.collect() if line.startswith("error ")]


# -- descriptors -----------------------------------------------------------------------


def open_descriptors() -> dict[int, str]:
    """Every open descriptor of this process and what it points to."""
    result = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            result[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            pass  # the descriptor listdir() itself used, closed by now
    return result


@contextlib.contextmanager
def assert_no_descriptor_leak() -> Iterator[None]:
    """Fail if the block ends with descriptors open that were not open before it."""
    before = open_descriptors()
    yield
    after = open_descriptors()
    leaked = {fd: target for fd, target in after.items() if before.get(fd) != target}
    assert not leaked, f"descriptors leaked: {leaked}"


# -- child processes -------------------------------------------------------------------


def child_processes() -> dict[int, str]:
    """This process's children, mapped to their state letter (``Z`` for zombie)."""
    me = os.getpid()
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                text = stat.read()
        except OSError:
            continue  # the process ended while we looked
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so
        # split after the last ")".
        state, ppid = text[text.rindex(b")") + 2 :].split()[:2]
        if int(ppid) == me:
            children[int(name)] = state.decode()
    return children


def zombie_children() -> list[int]:
    return sorted(pid for pid, state in child_processes().items() if state == "Z")


@contextlib.contextmanager
def no_new_zombies() -> Iterator[None]:
    """Fail if the block leaves behind zombie children that were not there before it."""
    before = set(zombie_children())
    yield
    left_behind = sorted(set(zombie_children()) - before)
    assert not left_behind, f"zombie children left behind (never reaped): {left_behind}"


def assert_reaped(pids: set[int]) -> None:
    """Each pid was a child of ours and has been reaped: no zombie is left behind."""
    for pid in pids:
        with contextlib.suppress(ChildProcessError):
            ended, _status = os.waitpid(pid, os.WNOHANG)
            raise AssertionError(
                f"child {pid} was never reaped by the server"
                + (" (it is still running)" if ended == 0 else " (it was a zombie)")
            )


def wait_for_children_to_end(pids: set[int]) -> None:
    """Reap children the server was told not to wait for (``block_on_close = False``)."""
    for pid in pids:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


# -- clients ---------------------------------------------------------------------------


def connect(address: object, family: int = socket.AF_INET) -> socket.socket:
    """A connected stream client with a timeout, so no read or write waits forever."""
    client = socket.socket(family, socket.SOCK_STREAM)
    try:
        client.settimeout(WAIT_TIMEOUT)
        client.connect(address)
    except BaseException:
        client.close()
        raise
    return client


def read_to_end(client: socket.socket) -> bytes:
    """Read until the server closes its side; bounded by the socket's timeout."""
    chunks = []
    while chunk := client.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def reset(client: socket.socket) -> None:
    """Close abruptly: SO_LINGER with a zero timeout makes close() send a TCP RST."""
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()


class ClientProcess:
    """A client whose socket lives in a process of its own, to reset or abandon a connection.

    Why a process: a forking server's children inherit every descriptor the test
    process holds when they are forked, including the test's own client sockets.
    Such a copy keeps the connection open after the test "closes" its client, so
    the reset never reaches the server. A client in its own process has no copies
    anywhere else, so its close is a real one, as it is for a real remote client.

    The child connects, sends ``payload`` and reports its port (``self.port``). On
    ``reset()`` it optionally reads the start of the reply, then closes with a RST
    and exits. Every wait on either side is bounded.
    """

    def __init__(self, address: object, payload: bytes, *, read_before_reset: bool) -> None:
        commands_reader, self._commands = os.pipe()
        self._results, results_writer = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the client process
            os.close(self._commands)
            os.close(self._results)
            _run_client_process(
                address, payload, read_before_reset, commands_reader, results_writer
            )
        os.close(commands_reader)
        os.close(results_writer)
        report = self._read_report()
        if not report.isdigit():
            self.close()
            raise AssertionError(f"the client process failed to connect: {report}")
        self.port = int(report)

    def _read_report(self) -> str:
        ready, _, _ = select.select([self._results], [], [], WAIT_TIMEOUT)
        return os.read(self._results, 1000).decode().strip() if ready else "no report"

    def reset(self) -> None:
        """Tell the client to (read, then) reset the connection; wait until it has."""
        os.write(self._commands, b"!")
        report = self._read_report()
        self.close()
        assert report == "reset", f"the client process failed: {report}"

    def close(self) -> None:
        """Make sure the process has ended and is reaped, and close the pipes."""
        if self.pid:
            deadline = time.monotonic() + WAIT_TIMEOUT
            while os.waitpid(self.pid, os.WNOHANG)[0] == 0:
                if time.monotonic() > deadline:
                    os.kill(self.pid, signal.SIGKILL)
                    os.waitpid(self.pid, 0)
                    break
                time.sleep(0.01)
            self.pid = 0
            os.close(self._commands)
            os.close(self._results)

    def __enter__(self) -> ClientProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _run_client_process(
    address: object, payload: bytes, read_before_reset: bool, commands: int, results: int
) -> None:
    report = b"unknown failure"
    try:
        with connect(address) as client:
            client.sendall(payload)
            os.write(results, b"%d" % client.getsockname()[1])
            ready, _, _ = select.select([commands], [], [], WAIT_TIMEOUT)
            if not ready:
                raise TimeoutError("no command from the test")
            if read_before_reset and not client.recv(65536):
                raise AssertionError("the server closed before replying")
            reset(client)
        report = b"reset"
    except BaseException as error:  # reported to the test, which raises it there
        report = repr(error).encode()[:500]
    finally:
        try:
            os.write(results, report)
        finally:
            os._exit(0)


# -- the line protocol the load tests speak --------------------------------------------


def reversed_line_reply(body: bytes) -> bytes:
    """The reply to one line: its length, then the line reversed (byte by byte)."""
    return b"%d " % len(body) + body[::-1] + b"\n"


class BoundedStreamHandler(ss.StreamRequestHandler):
    """A stream handler whose reads and writes give up after ``WAIT_TIMEOUT``.

    The tests' handlers derive from it so that a test that goes wrong cannot leave
    a handler (or a forked child, which ``server_close()`` would wait for) blocked
    for ever: the timeout turns the hang into a reported ``TimeoutError``.
    """

    timeout = WAIT_TIMEOUT


class ReversingLineHandler(BoundedStreamHandler):
    """Replies to every line with :func:`reversed_line_reply`, until end of stream.

    The first line names the client (``client <n> <token>``); when the server has
    a ``done_log``, the handler records ``done <n>`` there after its last reply,
    so the test can count served clients even when handlers run in children.
    """

    max_line = 65536

    def handle(self) -> None:
        first_line = None
        while line := self.rfile.readline(self.max_line):
            body = line.rstrip(b"\n")
            first_line = first_line if first_line is not None else body
            self.wfile.write(reversed_line_reply(body))
        done_log = getattr(self.server, "done_log", None)
        if done_log is not None and first_line is not None:
            done_log.record("done " + first_line.split()[1].decode())


@contextlib.contextmanager
def threads_joined(threads: list[threading.Thread]) -> Iterator[list[threading.Thread]]:
    """Join every thread in the list at the end of the block; fail if one hangs."""
    try:
        yield threads
    finally:
        for thread in threads:
            thread.join(WAIT_TIMEOUT)
        hung = [thread.name for thread in threads if thread.is_alive()]
        assert not hung, f"threads still running after {WAIT_TIMEOUT} s: {hung}"

"""What course notebook 8 says about signals and graceful shutdown, run.

``notebooks/course/08-signals-graceful-shutdown.ipynb`` sends real signals to real
server processes and shows most of what it claims in its own outputs, on Python 3.11
and 3.13. Each test here backs one sentence of it, on every Python we support (3.10 to
3.13): the sentences it states without showing, and the comparisons it shows, run again
on the standard library's ``socketserver`` and on ours wherever they compare. Every test
names its sentence in its docstring.

How a hang is told from an exit, robustly on a busy machine: a process that must wait
is *still running* ``STILL_RUNNING_AFTER`` seconds after the signal (and then ends once
what it waits for is released); a process that must not wait exits within
``EXIT_WITHIN`` seconds, which is far more than it needs. Nothing is timed more finely
than that. Every process is killed at the end of its test if it still runs, every
socket is closed, every wait is bounded.

Platform: Linux (signals, ``/proc``, ``setsid --ctty``, ``shutdown(SHUT_RD)`` waking a
blocked ``recv()``).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import socketserver
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import socketserver_lit

NOTEBOOK = "notebooks/course/08-signals-graceful-shutdown.ipynb"
MODULES = ["socketserver", "socketserver_lit"]

# Seconds after a signal at which a process that must wait is checked to be still running.
STILL_RUNNING_AFTER = 1.0
# Seconds a process that must not wait is given to exit; it needs a few hundredths.
EXIT_WITHIN = 10.0
# Seconds any other wait (a line printed, a socket call) may take before the test fails.
WAIT = 10.0

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")


@pytest.fixture(params=MODULES)
def module(request: pytest.FixtureRequest) -> str:
    """The name of the stdlib's socketserver, then ours: the programs import it by name."""
    return str(request.param)


# -- The programs the notebook runs (the same code, as test fixtures) -------------------------

KEEPALIVE_SERVER = """
import argparse
import importlib
import signal

parser = argparse.ArgumentParser()
parser.add_argument("module")
parser.add_argument("--server", default="ThreadingTCPServer")
parser.add_argument("--daemon-threads", action="store_true")
parser.add_argument("--no-block-on-close", action="store_true")
parser.add_argument("--read-timeout", type=float)
parser.add_argument("--sigterm-like-ctrl-c", action="store_true")
options = parser.parse_args()
socketserver = importlib.import_module(options.module)
if options.sigterm_like_ctrl_c:
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def say(line):
    print(line, flush=True)


class KeepAliveHandler(socketserver.StreamRequestHandler):
    timeout = options.read_timeout

    def handle(self):
        try:
            while line := self.rfile.readline(1000):
                self.wfile.write(line.upper())
            say("handler: the client closed the connection")
        except TimeoutError:
            say("handler: timed out")
        finally:
            say("handler: done")


class Server(getattr(socketserver, options.server)):
    daemon_threads = options.daemon_threads
    block_on_close = not options.no_block_on_close


with Server(("127.0.0.1", 0), KeepAliveHandler) as server:
    try:
        say(f"listening on port {server.server_address[1]}")
        server.serve_forever()
    except KeyboardInterrupt:
        say("main: KeyboardInterrupt")
say("main: server closed")
"""

SERVER_THAT_SAYS_WHEN_ITS_LOOP_RUNS = """
import importlib
import signal
import sys
import threading

socketserver = importlib.import_module(sys.argv[1])


def say(line):
    print(line, flush=True)


class LineHandler(socketserver.StreamRequestHandler):
    def handle(self):
        say("handler: waiting for a line")
        self.wfile.write(self.rfile.readline(1000))


class Server(socketserver.TCPServer):
    announced = False

    def service_actions(self):  # called by serve_forever() on each turn of its loop
        if not self.announced:
            self.announced = True
            say(f"listening on port {self.server_address[1]}")


with Server(("127.0.0.1", 0), LineHandler) as server:

    def on_sigterm(signum, frame):
        ON_SIGTERM

    signal.signal(signal.SIGTERM, on_sigterm)
    server.serve_forever()
    say("main: serve_forever() returned")
say("main: server closed")
"""
SHUTDOWN_IN_HANDLER = SERVER_THAT_SAYS_WHEN_ITS_LOOP_RUNS.replace(
    "ON_SIGTERM",
    """say("handler: calling shutdown()")
        server.shutdown()
        say("handler: shutdown() returned")""",
)
SHUTDOWN_IN_THREAD = SERVER_THAT_SAYS_WHEN_ITS_LOOP_RUNS.replace(
    "ON_SIGTERM",
    """say("handler: starting a thread that calls shutdown()")
        threading.Thread(target=server.shutdown).start()""",
)

GRACEFUL_SERVER = """
import importlib
import signal
import sys
import threading

socketserver = importlib.import_module(sys.argv[1])
IDLE_TIMEOUT = float(sys.argv[2])


def say(line):
    print(line, flush=True)


class KeepAliveHandler(socketserver.StreamRequestHandler):
    timeout = IDLE_TIMEOUT

    def handle(self):
        try:
            while line := self.rfile.readline(1000):
                self.wfile.write(line.upper())
        except TimeoutError:
            say("handler: timed out")


stop_requested = threading.Event()
signals_received = []


def on_signal(signum, frame):
    signals_received.append(signal.Signals(signum).name)
    signal.signal(signum, signal.SIG_DFL)
    stop_requested.set()


signal.signal(signal.SIGINT, on_signal)
signal.signal(signal.SIGTERM, on_signal)

with socketserver.ThreadingTCPServer(("127.0.0.1", 0), KeepAliveHandler) as server:
    serving = threading.Thread(target=server.serve_forever)
    serving.start()
    say(f"listening on port {server.server_address[1]}")
    stop_requested.wait()
    say(f"main: {signals_received[0]} received")
    server.shutdown()
    serving.join()
say("main: server closed")
"""


# -- Running a program and watching it ------------------------------------------------------


class Program:
    """A program in a child process; its output lines are collected by reader threads."""

    def __init__(self, path: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(path), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self.readers = [
            threading.Thread(target=self._collect, args=(pipe, self.lines[name]))
            for name, pipe in (("stdout", self.process.stdout), ("stderr", self.process.stderr))
        ]
        for reader in self.readers:
            reader.start()

    @staticmethod
    def _collect(pipe, lines: list[str]) -> None:
        with pipe:
            for line in pipe:  # ends at end of file: when the process has ended
                lines.append(line.rstrip("\n"))

    def wait_for_line(self, prefix: str, stream: str = "stdout") -> str:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            for line in list(self.lines[stream]):
                if line.startswith(prefix):
                    return line
            time.sleep(0.01)
        raise AssertionError(f"no line starting with {prefix!r} in {WAIT} s: {self.lines}")

    @property
    def port(self) -> int:
        return int(self.wait_for_line("listening on port").rsplit(" ", 1)[1])

    def exited_within(self, seconds: float) -> bool:
        try:
            self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return False
        return True

    def finish(self) -> None:
        """Kill the process if it still runs; wait for it and for the readers."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=WAIT)
        for reader in self.readers:
            reader.join(WAIT)

    @property
    def stdout(self) -> list[str]:
        return list(self.lines["stdout"])


@contextlib.contextmanager
def program(
    tmp_path: Path, source: str, *args: str, env: dict[str, str] | None = None
) -> Iterator[Program]:
    path = tmp_path / "program.py"
    path.write_text(textwrap.dedent(source))
    running = Program(path, *args, env=env)
    try:
        yield running
    finally:
        running.finish()


def idle_client(port: int) -> socket.socket:
    """Connect, exchange one line, then say nothing: the handler waits for the next line."""
    client = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    client.sendall(b"hello\n")
    assert client.recv(100) == b"HELLO\n"
    return client


def signal_with_idle_client(running: Program, signum: int) -> tuple[bool, socket.socket]:
    """Connect an idle client, send ``signum``; return (still running after a while, client)."""
    client = idle_client(running.port)
    running.process.send_signal(signum)
    return not running.exited_within(STILL_RUNNING_AFTER), client


# -- Signals in brief -----------------------------------------------------------------------


def test_a_fresh_python_raises_keyboardinterrupt_on_sigint_and_leaves_sigterm_at_default():
    """Notebook 8: "At start-up Python installs a handler for SIGINT,
    signal.default_int_handler ...; SIGTERM keeps its default action.\""""
    source = "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler,"
    source += " signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)"
    result = subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, timeout=WAIT
    )
    assert result.stdout.split() == ["True", "True"]


def test_ctrl_c_typed_in_a_terminal_sends_sigint_to_the_program_running_in_it():
    """Notebook 8: "You press Ctrl-C in its terminal, and the terminal sends the process the
    signal SIGINT." A pseudo-terminal stands in for the terminal; the program is its
    foreground process (``setsid --ctty`` makes the terminal its controlling terminal)."""
    source = textwrap.dedent("""
        import time
        try:
            print("ready", flush=True)  # inside the try: Ctrl-C may come right after it
            time.sleep(10)
        except KeyboardInterrupt:
            print("KeyboardInterrupt", flush=True)
    """)
    leader, follower = os.openpty()
    process = None
    try:
        process = subprocess.Popen(
            ["setsid", "--ctty", sys.executable, "-c", source],
            stdin=follower,
            stdout=follower,
            stderr=follower,
        )
        os.close(follower)
        follower = -1
        seen = b""
        deadline = time.monotonic() + WAIT
        while b"ready" not in seen and time.monotonic() < deadline:
            if select.select([leader], [], [], 0.1)[0]:
                seen += os.read(leader, 1000)
        os.write(leader, b"\x03")  # what the Ctrl-C key types
        process.wait(timeout=WAIT)
        for _ in range(100):  # what it printed after ^C; it has ended, so this ends soon
            if not select.select([leader], [], [], 0.2)[0]:
                break
            try:
                chunk = os.read(leader, 1000)
            except OSError:  # EIO: the program has ended and closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=WAIT)
        os.close(leader)
        if follower != -1:
            os.close(follower)
    assert b"KeyboardInterrupt" in seen, seen
    assert process.returncode == 0, (process.returncode, seen)


@pytest.mark.parametrize(
    ("command", "expected"),
    [("kill {pid}", signal.SIGTERM), ("kill -9 {pid}", signal.SIGKILL)],
)
def test_kill_sends_sigterm_and_kill_9_sends_sigkill(command, expected):
    """Notebook 8's table: SIGTERM is what `kill PID` sends, SIGKILL what `kill -9 PID` sends."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        subprocess.run(["bash", "-c", command.format(pid=sleeper.pid)], check=True, timeout=WAIT)
        assert sleeper.wait(timeout=WAIT) == -expected
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
        sleeper.wait(timeout=WAIT)


def test_sigkill_cannot_be_caught_blocked_or_ignored():
    """Notebook 8's table: SIGKILL "cannot be caught, blocked or ignored"."""
    for disposition in (lambda signum, frame: None, signal.SIG_IGN):
        with pytest.raises(OSError):
            signal.signal(signal.SIGKILL, disposition)
    source = textwrap.dedent("""
        import signal
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGKILL})
        print(signal.SIGKILL in signal.pthread_sigmask(signal.SIG_BLOCK, set()))
    """)
    result = subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, timeout=WAIT
    )
    assert result.stdout.strip() == "False"  # the kernel leaves SIGKILL out of the mask


@contextlib.contextmanager
def handler_for(signum: int, handler) -> Iterator[None]:
    previous = signal.signal(signum, handler)
    try:
        yield
    finally:
        signal.signal(signum, previous)


def send_later(signum: int, delay: float, to: threading.Thread | None = None) -> threading.Timer:
    """Send ``signum`` to one thread of this process (the main one unless ``to`` says
    otherwise) after ``delay`` seconds. ``pthread_kill``, not ``os.kill``: a signal sent
    to the process goes to a thread of the kernel's choice, and a test of what happens
    when it reaches the main thread must not leave that to chance."""
    target = (to or threading.main_thread()).ident
    assert target is not None
    timer = threading.Timer(delay, signal.pthread_kill, args=(target, signum))
    timer.start()
    return timer


def test_a_signal_handler_runs_in_the_main_thread_whichever_thread_was_running():
    """Notebook 8: "Python runs a signal handler in the main thread, whichever thread was
    running when the signal came." The signal is sent by another thread to a third one,
    which is busy, while the main thread waits for it (in slices, so that it runs
    bytecode between them: a signal delivered elsewhere does not interrupt its wait)."""
    ran_in = []
    stop_busy = threading.Event()

    def busy() -> None:
        deadline = time.monotonic() + WAIT
        while not stop_busy.is_set() and time.monotonic() < deadline:
            sum(range(1000))

    worker = threading.Thread(target=busy)
    with handler_for(
        signal.SIGUSR1, lambda signum, frame: ran_in.append(threading.current_thread())
    ):
        worker.start()
        timer = send_later(signal.SIGUSR1, 0.1, to=worker)
        deadline = time.monotonic() + WAIT
        while not ran_in and time.monotonic() < deadline:
            worker.join(0.05)
        stop_busy.set()
        worker.join(WAIT)
        timer.join(WAIT)
    assert ran_in == [threading.main_thread()]


def test_a_blocked_recv_in_the_main_thread_is_interrupted_to_run_the_handler_then_resumes():
    """Notebook 8: "If the main thread is blocked in a system call (... in recv(), on a
    lock) when the signal reaches it, the call is interrupted, the handler runs, and the
    call resumes, unless the handler raised." Here recv(): the data is sent only once the
    handler has run, so the handler ran while recv() waited, and recv() then went on to
    return the data."""
    handled = threading.Event()
    left, right = socket.socketpair()
    with left, right, handler_for(signal.SIGUSR1, lambda signum, frame: handled.set()):
        left.settimeout(WAIT)

        def send_once_handled() -> None:
            if handled.wait(WAIT):
                right.sendall(b"later")

        timer = send_later(signal.SIGUSR1, 0.1)
        sender = threading.Thread(target=send_once_handled)
        sender.start()
        data = left.recv(100)
        timer.join(WAIT)
        sender.join(WAIT)
    assert handled.is_set()
    assert data == b"later"


def test_a_signal_delivered_to_another_thread_runs_its_handler_only_when_the_call_returns():
    """Notebook 8: "(The kernel may deliver a signal sent to the process to another of its
    threads instead; the main thread's call then goes on, and the handler runs when it
    returns." The signal goes to a second thread at 0.1 s; the main thread's recv() gets
    its data at 0.5 s, and the handler runs after that, not at 0.1 s. (That the kernel may
    choose another thread: test_claims_docs.py's
    test_a_signal_sent_to_the_process_can_be_delivered_to_a_thread_other_than_the_main_one.)"""
    handled_at: list[float] = []
    left, right = socket.socketpair()
    other = threading.Thread(target=time.sleep, args=(1.0,))
    sent_at: list[float] = []

    def send_data() -> None:
        time.sleep(0.5)
        sent_at.append(time.monotonic())
        right.sendall(b"data")

    with (
        left,
        right,
        handler_for(signal.SIGUSR1, lambda signum, frame: handled_at.append(time.monotonic())),
    ):
        left.settimeout(WAIT)
        other.start()
        timer = send_later(signal.SIGUSR1, 0.1, to=other)
        sender = threading.Thread(target=send_data)
        sender.start()
        data = left.recv(100)
        time.sleep(0.01)  # the handler runs between bytecodes: here at the latest
        timer.join(WAIT)
        sender.join(WAIT)
        other.join(WAIT)
    assert data == b"data"
    assert len(handled_at) == 1 and len(sent_at) == 1
    assert handled_at[0] >= sent_at[0]


def test_a_blocked_lock_acquire_in_the_main_thread_runs_the_handler_then_resumes():
    """Notebook 8: the same sentence, for a lock: the handler runs while the main thread
    waits for the lock (released only once the handler has run), and the wait goes on
    until the lock is released."""
    handled = threading.Event()
    lock = threading.Lock()
    lock.acquire()

    def release_once_handled() -> None:
        handled.wait(WAIT)
        lock.release()

    with handler_for(signal.SIGUSR1, lambda signum, frame: handled.set()):
        timer = send_later(signal.SIGUSR1, 0.1)
        releaser = threading.Thread(target=release_once_handled)
        releaser.start()
        acquired = lock.acquire(timeout=WAIT)
        timer.join(WAIT)
        releaser.join(WAIT)
    if acquired:
        lock.release()
    assert handled.is_set()
    assert acquired


def test_an_exception_raised_by_a_handler_comes_out_of_what_the_main_thread_was_doing():
    """Notebook 8: "An exception raised by a handler comes out of whatever the main thread
    was doing at the time.\""""

    class Stop(Exception):
        pass

    def raise_stop(signum, frame):
        raise Stop

    left, right = socket.socketpair()
    with left, right, handler_for(signal.SIGUSR1, raise_stop):
        left.settimeout(WAIT)
        timer = send_later(signal.SIGUSR1, 0.1)
        with pytest.raises(Stop):
            left.recv(100)
        timer.join(WAIT)


# -- 1. Ctrl-C with an idle client ----------------------------------------------------------


def test_threadingtcpserver_defaults_are_block_on_close_true_and_daemon_threads_false():
    """Notebook 8, section 1: the defaults of ThreadingTCPServer, in both modules."""
    for module in (socketserver, socketserver_lit):
        assert module.ThreadingTCPServer.block_on_close is True
        assert module.ThreadingTCPServer.daemon_threads is False


def test_ctrl_c_with_an_idle_client_waits_until_the_client_closes(tmp_path, module):
    """Notebook 8, section 1: with the defaults, server_close() joins the request thread,
    which waits for the idle client; the program ends normally once the client closes."""
    with program(tmp_path, KEEPALIVE_SERVER, module) as running:
        still_running, client = signal_with_idle_client(running, signal.SIGINT)
        with client:
            stdout_while_waiting = running.stdout
        assert still_running
        assert stdout_while_waiting == [running.stdout[0], "main: KeyboardInterrupt"]
        assert running.exited_within(EXIT_WITHIN)
    assert running.process.returncode == 0
    assert running.stdout[1:] == [
        "main: KeyboardInterrupt",
        "handler: the client closed the connection",
        "handler: done",
        "main: server closed",
    ]


def test_how_many_ctrl_c_presses_end_the_default_server_with_an_idle_client(tmp_path, module):
    """Notebook 8, section 1: "Press Ctrl-C a second time ...: on 3.10 to 3.12 the process
    ends; on 3.13 the interpreter, on its way out, waits for the same thread again ...,
    and it takes a third Ctrl-C." Ended by the last press, it is killed by SIGINT."""
    expected_presses = 3 if sys.version_info >= (3, 13) else 2
    with program(tmp_path, KEEPALIVE_SERVER, module) as running:
        client = idle_client(running.port)
        with client:
            for press in range(1, expected_presses):
                running.process.send_signal(signal.SIGINT)
                assert not running.exited_within(STILL_RUNNING_AFTER), f"ended at press {press}"
            running.process.send_signal(signal.SIGINT)
            assert running.exited_within(EXIT_WITHIN)
    assert running.process.returncode == -signal.SIGINT


def test_an_unhandled_keyboardinterrupt_ends_python_killed_by_sigint():
    """Notebook 8, section 5: the second Ctrl-C "ends the process the way an unhandled Ctrl-C
    does, killed by SIGINT"."""
    result = subprocess.run(
        [sys.executable, "-c", "raise KeyboardInterrupt"], capture_output=True, timeout=WAIT
    )
    assert result.returncode == -signal.SIGINT


# -- 2. SIGTERM -----------------------------------------------------------------------------


def test_sigterm_without_a_handler_ends_the_server_at_once_running_none_of_its_code(
    tmp_path, module
):
    """Notebook 8, section 2: "It stopped at once, and it printed nothing: no except, no
    finally, no end of a with block ran.\""""
    with program(tmp_path, KEEPALIVE_SERVER, module) as running:
        client = idle_client(running.port)
        with client:
            running.process.send_signal(signal.SIGTERM)
            assert running.exited_within(EXIT_WITHIN)
    assert running.process.returncode == -signal.SIGTERM
    assert running.stdout[1:] == []


def test_the_kernel_closes_a_killed_process_connections_so_the_client_reads_end_of_stream(
    tmp_path, module
):
    """Notebook 8, section 2: "The kernel then closes every socket the process had open,
    which is why the idle client read b"", the end of the stream.\""""
    with program(tmp_path, KEEPALIVE_SERVER, module) as running:
        with idle_client(running.port) as client:
            running.process.send_signal(signal.SIGTERM)
            assert running.exited_within(EXIT_WITHIN)
            assert client.recv(100) == b""


def test_sigterm_without_a_handler_loses_output_still_in_a_buffer(tmp_path):
    """Notebook 8, section 2: "Everything the program meant to do on its way out is lost:
    ... output still in a buffer ...\""""
    source = textwrap.dedent("""
        import sys, time
        print("still in the buffer")  # stdout is a pipe: block-buffered, not flushed
        sys.stderr.write("ready\\n")
        sys.stderr.flush()
        time.sleep(30)
    """)
    # This machine's environment may set PYTHONUNBUFFERED; a server's usually does not.
    environment = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    with program(tmp_path, source, env=environment) as running:
        running.wait_for_line("ready", stream="stderr")
        running.process.send_signal(signal.SIGTERM)
        assert running.exited_within(EXIT_WITHIN)
    assert running.process.returncode == -signal.SIGTERM
    assert running.stdout == []


# -- 3. Three ways not to wait ---------------------------------------------------------------


def test_daemon_threads_exit_at_once_and_abandon_the_request_mid_read(tmp_path, module):
    """Notebook 8, section 3: with daemon_threads = True the process ends at once and the
    request thread dies where it was: its finally never runs."""
    with program(tmp_path, KEEPALIVE_SERVER, module, "--daemon-threads") as running:
        client = idle_client(running.port)
        with client:
            running.process.send_signal(signal.SIGINT)
            assert running.exited_within(EXIT_WITHIN)
            assert client.recv(100) == b""
    assert running.process.returncode == 0
    assert running.stdout[1:] == ["main: KeyboardInterrupt", "main: server closed"]


def test_block_on_close_false_returns_from_server_close_but_the_exit_still_waits(tmp_path, module):
    """Notebook 8, section 3: with block_on_close = False, server_close() returns at once,
    and the interpreter's exit waits for the request thread (not a daemon) all the same."""
    with program(tmp_path, KEEPALIVE_SERVER, module, "--no-block-on-close") as running:
        still_running, client = signal_with_idle_client(running, signal.SIGINT)
        with client:
            stdout_while_waiting = running.stdout[1:]
        assert still_running
        assert stdout_while_waiting == ["main: KeyboardInterrupt", "main: server closed"]
        assert running.exited_within(EXIT_WITHIN)
    assert running.stdout[-2:] == ["handler: the client closed the connection", "handler: done"]


def test_a_read_timeout_bounds_the_wait_at_ctrl_c(tmp_path, module):
    """Notebook 8, section 3: with a read timeout, the handler gives up on the silent
    client, its finally runs, the join returns, and the program ends normally."""
    with program(tmp_path, KEEPALIVE_SERVER, module, "--read-timeout", "0.5") as running:
        client = idle_client(running.port)
        with client:
            running.process.send_signal(signal.SIGINT)
            assert running.exited_within(EXIT_WITHIN)
            assert client.recv(100) == b""
    assert running.process.returncode == 0
    assert running.stdout[1:] == [
        "main: KeyboardInterrupt",
        "handler: timed out",
        "handler: done",
        "main: server closed",
    ]


def test_a_read_timeout_cuts_off_an_idle_client_while_serving_too(module):
    """Notebook 8, section 3: "the timeout applies all the time, not only at shutdown, so any
    client silent for longer is cut off." No signal here: the server just serves."""
    library = socketserver if module == "socketserver" else socketserver_lit
    timed_out = threading.Event()

    class TimeoutHandler(library.StreamRequestHandler):
        timeout = 0.3

        def handle(self):
            try:
                while line := self.rfile.readline(1000):
                    self.wfile.write(line.upper())
            except TimeoutError:
                timed_out.set()

    server = library.ThreadingTCPServer(("127.0.0.1", 0), TimeoutHandler)
    serving = threading.Thread(target=server.serve_forever)
    serving.start()
    try:
        with idle_client(server.server_address[1]) as client:
            assert client.recv(100) == b""  # within the client's own WAIT-second timeout
    finally:
        server.shutdown()
        serving.join(WAIT)
        server.server_close()
    assert timed_out.is_set()


# -- 4. Calling shutdown() when a signal arrives -----------------------------------------------


def test_stdlib_shutdown_in_a_handler_of_the_main_thread_running_serve_forever_deadlocks(
    tmp_path,
):
    """Notebook 8, section 4: on the standard library, a SIGTERM handler that calls
    shutdown() while the main thread runs serve_forever() never returns."""
    with program(tmp_path, SHUTDOWN_IN_HANDLER, "socketserver") as running:
        running.wait_for_line("listening on port")  # said from inside the loop
        running.process.send_signal(signal.SIGTERM)
        assert not running.exited_within(STILL_RUNNING_AFTER)
        stdout = running.stdout
    assert stdout[1:] == ["handler: calling shutdown()"]


def test_ours_raises_runtimeerror_for_shutdown_in_a_handler_of_the_serving_main_thread(tmp_path):
    """Notebook 8, section 4: ours "raises RuntimeError instead of waiting forever. The
    exception comes out of serve_forever(), the with block closes the server": exit
    status 1, a traceback ending with the RuntimeError."""
    with program(tmp_path, SHUTDOWN_IN_HANDLER, "socketserver_lit") as running:
        running.wait_for_line("listening on port")  # said from inside the loop
        running.process.send_signal(signal.SIGTERM)
        assert running.exited_within(EXIT_WITHIN)
    assert running.process.returncode == 1
    assert running.stdout[1:] == ["handler: calling shutdown()"]
    assert running.lines["stderr"][-1].startswith(
        "RuntimeError: shutdown() was called from the thread running serve_forever()"
    )


def test_ours_runtimeerror_landing_inside_a_request_is_reported_and_the_server_goes_on(
    tmp_path,
):
    """Notebook 8, section 4: "had it come in the middle of a request, handle_error() would
    have printed it and the server would have gone on serving" (ours, a synchronous
    server: the request runs in the main thread, where the handler raises)."""
    with program(tmp_path, SHUTDOWN_IN_HANDLER, "socketserver_lit") as running:
        port = running.port
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as first:
            running.wait_for_line("handler: waiting for a line")
            running.process.send_signal(signal.SIGTERM)
            assert first.recv(100) == b""  # the failed request was closed
        assert not running.exited_within(STILL_RUNNING_AFTER)
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as second:
            second.sendall(b"still serving\n")
            assert second.recv(100) == b"still serving\n"
        stderr = list(running.lines["stderr"])
    assert any(
        line.startswith("RuntimeError: shutdown() was called from the thread running")
        for line in stderr
    ), stderr
    assert any("Exception occurred during processing of request" in line for line in stderr), stderr


def test_shutdown_handed_to_a_thread_by_the_handler_stops_cleanly(tmp_path, module):
    """Notebook 8, section 4, way 1: the handler starts a thread that calls shutdown();
    the loop returns, the with block closes the server, exit status 0."""
    with program(tmp_path, SHUTDOWN_IN_THREAD, module) as running:
        running.wait_for_line("listening on port")
        running.process.send_signal(signal.SIGTERM)
        assert running.exited_within(EXIT_WITHIN)
    assert running.process.returncode == 0
    assert running.stdout[1:] == [
        "handler: starting a thread that calls shutdown()",
        "main: serve_forever() returned",
        "main: server closed",
    ]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_an_event_set_by_the_handler_lets_the_main_thread_stop_the_server_gracefully(
    tmp_path, module, signum
):
    """Notebook 8, section 4, way 2: serve in a thread, the handler sets an Event the main
    thread waits for (on Linux, the wait wakes up), the main thread calls shutdown();
    with an idle client and a read timeout, the program ends normally."""
    with program(tmp_path, GRACEFUL_SERVER, module, "0.5") as running:
        client = idle_client(running.port)
        with client:
            running.process.send_signal(signum)
            assert running.exited_within(EXIT_WITHIN)
            assert client.recv(100) == b""
    assert running.process.returncode == 0
    assert running.stdout[1:] == [
        f"main: {signum.name} received",
        "handler: timed out",
        "main: server closed",
    ]


def test_after_the_graceful_handler_ran_a_second_signal_ends_the_process_at_once(tmp_path, module):
    """Notebook 8, section 4, way 2: the handler "puts the signal's default action back, so
    that a second Ctrl-C (or SIGTERM) ends the process at once"."""
    with program(tmp_path, GRACEFUL_SERVER, module, str(WAIT * 3)) as running:
        client = idle_client(running.port)
        with client:
            running.process.send_signal(signal.SIGINT)
            assert not running.exited_within(STILL_RUNNING_AFTER)  # waits for the idle client
            running.process.send_signal(signal.SIGINT)
            assert running.exited_within(EXIT_WITHIN)
    assert running.process.returncode == -signal.SIGINT
    assert running.stdout[1:] == ["main: SIGINT received"]


def test_a_handler_writing_to_a_buffered_stream_the_main_thread_is_writing_raises(tmp_path):
    """Notebook 8, section 4: a handler "that writes to a buffered stream the main thread
    was writing to raises RuntimeError (a "reentrant call")". The main thread is blocked
    inside a write to a full pipe when the signal comes."""
    source = textwrap.dedent("""
        import os, signal, sys, threading
        reader, writer = os.pipe()
        stream = open(writer, "wb", buffering=1 << 20)
        errors = []

        def on_signal(signum, frame):
            try:
                stream.write(b"from the handler")
            except RuntimeError as error:
                errors.append(error)
                raise

        signal.signal(signal.SIGUSR1, on_signal)
        threading.Timer(0.3, os.kill, args=(os.getpid(), signal.SIGUSR1)).start()
        try:
            stream.write(b"x" * (1 << 20))  # fills the buffer:
            stream.flush()  # blocks in the middle of the flush, the pipe being full
        except RuntimeError:
            pass
        print(str(errors[0]) if errors else "no error", flush=True)
        os._exit(0)
    """)
    with program(tmp_path, source) as running:
        assert running.exited_within(EXIT_WITHIN)
    assert running.stdout and "reentrant call" in running.stdout[0], running.lines


def test_a_handler_waiting_for_a_lock_the_main_thread_holds_never_gets_it():
    """Notebook 8, section 4: "A handler that waits for a lock the main thread holds waits
    forever." (Bounded here by a timeout on the handler's wait.)"""
    lock = threading.Lock()
    got_it = []

    def on_signal(signum, frame):
        got_it.append(lock.acquire(timeout=STILL_RUNNING_AFTER))

    with handler_for(signal.SIGUSR1, on_signal):
        with lock:
            timer = send_later(signal.SIGUSR1, 0.05)
            deadline = time.monotonic() + WAIT
            while not got_it and time.monotonic() < deadline:
                time.sleep(0.01)  # the main thread holds the lock and runs the handler here
            timer.join(WAIT)
    assert got_it == [False]


def test_sigwait_receives_blocked_signals_without_any_handler(tmp_path):
    """Notebook 8, section 4: "block the signals with signal.pthread_sigmask() before
    starting any thread, and let the main thread call signal.sigwait(), which returns the
    number of the next one that comes." A thread started after the block runs meanwhile."""
    source = textwrap.dedent("""
        import signal, threading, time
        stop = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop)
        handled = []
        signal.signal(signal.SIGTERM, lambda signum, frame: handled.append(signum))
        worker = threading.Thread(target=time.sleep, args=(0.2,))
        worker.start()
        print("ready", flush=True)
        received = signal.sigwait(stop)
        worker.join()
        print(signal.Signals(received).name, "handlers run:", len(handled), flush=True)
    """)
    with program(tmp_path, source) as running:
        running.wait_for_line("ready")
        running.process.send_signal(signal.SIGTERM)
        assert running.exited_within(EXIT_WITHIN)
    assert running.process.returncode == 0
    assert running.stdout == ["ready", "SIGTERM handlers run: 0"]


# -- Exercises ------------------------------------------------------------------------------


def test_a_synchronous_server_exits_at_once_on_ctrl_c_with_an_idle_client(tmp_path, module):
    """Notebook 8, exercise 1: on a synchronous TCPServer the handler runs in the main
    thread, so KeyboardInterrupt comes out of its own readline(): the process exits."""
    with program(tmp_path, KEEPALIVE_SERVER, module, "--server", "TCPServer") as running:
        client = idle_client(running.port)
        with client:
            running.process.send_signal(signal.SIGINT)
            assert running.exited_within(EXIT_WITHIN)
    assert running.process.returncode == 0
    assert running.stdout[1:] == ["handler: done", "main: KeyboardInterrupt", "main: server closed"]


def test_sigterm_made_to_raise_keyboardinterrupt_waits_like_ctrl_c(tmp_path, module):
    """Notebook 8, exercise 1: with signal.default_int_handler installed for SIGTERM, SIGTERM
    raises KeyboardInterrupt like Ctrl-C, and waits for the idle client the same way."""
    with program(tmp_path, KEEPALIVE_SERVER, module, "--sigterm-like-ctrl-c") as running:
        still_running, client = signal_with_idle_client(running, signal.SIGTERM)
        client.close()
        assert still_running
        assert running.exited_within(EXIT_WITHIN)
    assert running.process.returncode == 0
    assert running.stdout[1] == "main: KeyboardInterrupt"


def test_our_thread_pool_server_waits_at_ctrl_c_for_an_idle_client(tmp_path):
    """Notebook 8, exercise 1: ThreadPoolTCPServer (ours) joins its workers in
    server_close(), and a worker serving an idle client waits for it."""
    args = ("socketserver_lit", "--server", "ThreadPoolTCPServer")
    with program(tmp_path, KEEPALIVE_SERVER, *args) as running:
        still_running, client = signal_with_idle_client(running, signal.SIGINT)
        client.close()
        assert still_running
        assert running.exited_within(EXIT_WITHIN)
    assert running.process.returncode == 0


def test_shut_rd_wakes_a_recv_blocked_in_another_thread_with_end_of_stream():
    """Notebook 8, exercise 3: "on Linux, a recv() blocked on it in another thread then
    returns b"" at once" after connection.shutdown(socket.SHUT_RD)."""
    left, right = socket.socketpair()
    received = []
    with left, right:
        left.settimeout(WAIT)
        reader = threading.Thread(target=lambda: received.append(left.recv(100)))
        reader.start()
        time.sleep(0.1)  # let the reader block in recv()
        left.shutdown(socket.SHUT_RD)
        reader.join(WAIT)
        assert not reader.is_alive()
    assert received == [b""]

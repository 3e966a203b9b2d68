"""The documented examples, run as the documentation runs them: as programs, in processes.

Each test starts the example modules with ``python -m`` (the server on a port
the system picks, which it reports on standard error), runs the client with the
documented arguments, ``hello world with TCP`` and then ``python is nice``, stops
the server with Ctrl-C (SIGINT) and compares what the programs printed with the
documentation's transcripts, typed below from the 3.13 page. Where the page and
its own code disagree, the test states the difference and why, and compares
with what the code really prints, still byte for byte.

Every process is waited for (and killed first if it overstays), every wait is
bounded, and only the loopback interface is used.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WAIT = 10.0  # seconds: the longest any one step may take before the test calls it a hang

# -- The documentation's transcripts, typed from the 3.13 page --------------------------

DOCUMENTED_SERVER = """\
$ python TCPServer.py
127.0.0.1 wrote:
b'hello world with TCP'
127.0.0.1 wrote:
b'python is nice'
"""

DOCUMENTED_CLIENT = """\
$ python TCPClient.py hello world with TCP
Sent:     hello world with TCP
Received: HELLO WORLD WITH TCP
$ python TCPClient.py python is nice
Sent:     python is nice
Received: PYTHON IS NICE
"""

DOCUMENTED_THREADED = """\
$ python ThreadedTCPServer.py
Server loop running in thread: Thread-1
Received: Thread-2: Hello World 1
Received: Thread-3: Hello World 2
Received: Thread-4: Hello World 3
"""

BANNER = re.compile(r"^Serving (TCP|UDP) on 127\.0\.0\.1 port (\d+); press Ctrl-C to stop\.$")
STOPPED = "Stopped by Ctrl-C; the server is closed."


def documented_runs(transcript: str) -> list[tuple[list[str], str]]:
    """``[(arguments, output), ...]`` for each ``$ python X.py arguments`` in a transcript."""
    runs: list[tuple[list[str], str]] = []
    for line in transcript.splitlines(keepends=True):
        if line.startswith("$ "):
            runs.append((line.split()[3:], ""))
        else:
            arguments, output = runs[-1]
            runs[-1] = (arguments, output + line)
    return runs


def documented_output(transcript: str) -> str:
    """Everything the transcript's commands printed, without the ``$`` lines."""
    return "".join(output for _, output in documented_runs(transcript))


# -- Running the programs ---------------------------------------------------------------


def environment() -> dict[str, str]:
    """Children import this checkout and report leaked sockets on standard error."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONWARNINGS"] = "default::ResourceWarning"
    env.pop("PYTHONUNBUFFERED", None)  # the programs must flush their own output
    return env


def restore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def sigint_restorer():
    """Children of a process that ignores SIGINT would ignore Ctrl-C too; undo that."""
    return restore_sigint if signal.getsignal(signal.SIGINT) is signal.SIG_IGN else None


def example(name: str) -> list[str]:
    return [sys.executable, "-m", f"socketserver_lit.examples.{name}"]


def run(command: list[str], timeout: float = WAIT) -> subprocess.CompletedProcess[str]:
    """Run a program to its end (subprocess.run kills and waits for it on timeout)."""
    return subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=environment(),
        timeout=timeout,
        preexec_fn=sigint_restorer(),
    )


@dataclass
class Stopped:
    """A server process after Ctrl-C: its exit status and what it printed."""

    returncode: int
    stdout: str
    stderr_lines: list[str]


class ServerProcess:
    """A running example server; ``stop()`` presses Ctrl-C and collects its output."""

    def __init__(self, command: list[str]) -> None:
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment(),
            preexec_fn=sigint_restorer(),
        )
        self._unread_stderr = b""
        self.banner = self.read_stderr_line()
        match = BANNER.match(self.banner)
        self.port = int(match.group(2)) if match else None
        self.stopped: Stopped | None = None

    def read_stderr_line(self, timeout: float = WAIT) -> str:
        """The next line the server writes to standard error ("" if none comes in time)."""
        assert self.process.stderr is not None
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stderr, selectors.EVENT_READ)
            while b"\n" not in self._unread_stderr and time.monotonic() < deadline:
                if selector.select(deadline - time.monotonic()):
                    # os.read, not the buffered file: the rest stays for communicate().
                    chunk = os.read(self.process.stderr.fileno(), 4096)
                    if not chunk:
                        break
                    self._unread_stderr += chunk
        line, _, self._unread_stderr = self._unread_stderr.partition(b"\n")
        return line.decode()

    def stop(self, sig: int = signal.SIGINT) -> Stopped:
        if self.stopped is None:
            if self.process.poll() is None:
                self.process.send_signal(sig)
            try:
                stdout, stderr = self.process.communicate(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.communicate()
                raise AssertionError(f"the server ignored signal {sig} for {WAIT} s") from None
            lines = (self._unread_stderr + stderr).decode().splitlines()
            self.stopped = Stopped(self.process.returncode, stdout.decode(), lines)
        return self.stopped


@contextmanager
def server(name: str, *arguments: str) -> Iterator[ServerProcess]:
    """Start an example server on a free port; always stop and wait for it."""
    process = ServerProcess(example(name) + ["--port", "0", *arguments])
    try:
        assert process.port is not None, f"{name} did not start: {process.banner!r}"
        yield process
    finally:
        process.stop()


def assert_stopped_cleanly(stopped: Stopped) -> None:
    """Ctrl-C ends a server with status 0, one line saying so, and no traceback."""
    assert stopped.returncode == 0, stopped
    assert stopped.stderr_lines == [STOPPED], stopped.stderr_lines  # after the banner


def documented_session(server_name: str, client_name: str) -> tuple[list[str], Stopped]:
    """The documented session: server, then the client twice with the documented words."""
    client_outputs = []
    with server(server_name) as process:
        for arguments, _ in documented_runs(DOCUMENTED_CLIENT):
            result = run(example(client_name) + ["--port", str(process.port), *arguments])
            assert result.returncode == 0 and result.stderr == "", result
            client_outputs.append(result.stdout)
        stopped = process.stop()
    assert_stopped_cleanly(stopped)
    return client_outputs, stopped


def exchange_raw(port: int, payload: bytes, *, close_writing: bool, expect: int) -> bytes:
    """Send raw bytes to a TCP example server and read until ``expect`` bytes or EOF."""
    with socket.create_connection(("localhost", port), timeout=WAIT) as sock:
        sock.sendall(payload)
        if close_writing:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        while len(received) < expect:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    return received


# -- The TCP server with the recv() loop -------------------------------------------------


def test_tcp_client_prints_the_documented_lines_then_the_newline_the_3_13_server_echoes():
    client_outputs, _ = documented_session("tcp_server", "tcp_client")
    documented = [output for _, output in documented_runs(DOCUMENTED_CLIENT)]
    # The 3.13 handler keeps the newline it read and sends it back upper-cased; the
    # client's print() adds its own, so one blank line follows each documented reply.
    assert client_outputs == [output + "\n" for output in documented]


def test_tcp_server_prints_received_from_and_the_decoded_line_not_the_pages_bytes():
    _, stopped = documented_session("tcp_server", "tcp_client")
    # The page's server transcript comes from an older handler (recv(1024).strip() and a
    # print of the bytes). The 3.13 code prints this, the line's own newline included:
    assert stopped.stdout == (
        "Received from 127.0.0.1:\nhello world with TCP\n\n"
        "Received from 127.0.0.1:\npython is nice\n\n"
    )
    assert stopped.stdout != documented_output(DOCUMENTED_SERVER)


def test_tcp_server_stops_reading_at_10000_bytes_without_a_newline():
    with server("tcp_server") as process:
        reply = exchange_raw(process.port, b"a" * 10_000, close_writing=False, expect=10_000)
        stopped = process.stop()
    assert reply == b"A" * 10_000
    assert stopped.stdout == "Received from 127.0.0.1:\n" + "a" * 10_000 + "\n"
    assert_stopped_cleanly(stopped)


def test_tcp_server_answers_a_client_that_hangs_up_before_the_newline():
    # The documented loop would spin forever here: recv() keeps returning b"".
    with server("tcp_server") as process:
        reply = exchange_raw(process.port, b"no newline", close_writing=True, expect=100)
        stopped = process.stop()
    assert reply == b"NO NEWLINE"
    assert stopped.stdout == "Received from 127.0.0.1:\nno newline\n"
    assert_stopped_cleanly(stopped)


# -- The StreamRequestHandler alternative ------------------------------------------------


def test_stream_server_client_transcript_is_the_documented_one_byte_for_byte():
    client_outputs, _ = documented_session("stream_server", "tcp_client")
    assert "".join(client_outputs) == documented_output(DOCUMENTED_CLIENT)


def test_stream_server_prints_the_documented_lines_with_the_text_decoded():
    _, stopped = documented_session("stream_server", "tcp_client")
    # The 3.13 handler prints self.data.decode("utf-8") where the page shows b'...'.
    decoded = re.sub(r"b'(.*)'", r"\1", documented_output(DOCUMENTED_SERVER))
    assert (
        stopped.stdout
        == decoded
        == ("127.0.0.1 wrote:\nhello world with TCP\n127.0.0.1 wrote:\npython is nice\n")
    )


def test_stream_server_readline_stops_at_10000_bytes_without_a_newline():
    with server("stream_server") as process:
        reply = exchange_raw(process.port, b"b" * 10_000, close_writing=False, expect=10_000)
        stopped = process.stop()
    assert reply == b"B" * 10_000
    assert_stopped_cleanly(stopped)


# -- UDP -----------------------------------------------------------------------------------


def test_udp_transcripts_are_the_documented_ones_byte_for_byte():
    client_outputs, stopped = documented_session("udp_server", "udp_client")
    # "The output of the example should look exactly like for the TCP server example."
    assert "".join(client_outputs) == documented_output(DOCUMENTED_CLIENT)
    assert stopped.stdout == documented_output(DOCUMENTED_SERVER)


# -- ThreadingMixIn, ForkingMixIn, ThreadingUDPServer ---------------------------------------


def without_thread_targets(text: str) -> str:
    """Python 3.10+ names a thread ``Thread-N (target)``; the page predates the suffix."""
    return re.sub(r"\b(Thread-\d+) \(\w+\)", r"\1", text)


def test_threaded_example_prints_the_documented_transcript_with_3_10_thread_names():
    result = run(example("threaded_server"))
    assert result.returncode == 0 and result.stderr == "", result
    assert (
        result.stdout.splitlines()[0] == "Server loop running in thread: Thread-1 (serve_forever)"
    )
    assert without_thread_targets(result.stdout) == documented_output(DOCUMENTED_THREADED)


@pytest.mark.fork
def test_forking_example_answers_each_client_from_a_different_child_process():
    result = run(example("forking_server"))
    assert result.returncode == 0 and result.stderr == "", result
    lines = result.stdout.splitlines()
    assert lines[0] == "Server loop running in thread: Thread-1 (serve_forever)"
    server_pid = re.fullmatch(r"Server process: pid (\d+)", lines[1]).group(1)
    replies = [re.fullmatch(r"Received: pid (\d+): Hello World (\d)", line) for line in lines[2:]]
    assert [reply.group(2) for reply in replies] == ["1", "2", "3"], lines
    child_pids = {reply.group(1) for reply in replies}
    assert len(child_pids) == 3 and server_pid not in child_pids, lines


def test_threading_udp_defines_the_documented_one_liner_with_the_mixin_first():
    from socketserver_lit import ThreadingMixIn, UDPServer
    from socketserver_lit.examples import threading_udp

    assert threading_udp.ThreadingUDPServer.__bases__ == (ThreadingMixIn, UDPServer)
    result = run(example("threading_udp"))
    assert result.returncode == 0 and result.stderr == "", result
    assert result.stdout.splitlines()[:2] == [
        "MRO: ThreadingUDPServer -> ThreadingMixIn -> UDPServer -> TCPServer -> BaseServer"
        " -> object",
        "Same bases as socketserver_lit.ThreadingUDPServer: True",
    ]
    rest = "".join(result.stdout.splitlines(keepends=True)[2:])
    assert without_thread_targets(rest) == documented_output(DOCUMENTED_THREADED)


# -- Programs that behave: defaults, Ctrl-C, busy ports, missing servers -------------------


def test_servers_default_to_localhost_port_9999_as_documented():
    for name in ("tcp_server", "stream_server", "udp_server"):
        result = run(example(name) + ["--help"])
        assert result.returncode == 0, result
        assert "(default: localhost" in result.stdout and "(default: 9999" in result.stdout


def test_ctrl_c_stops_an_idle_server_with_status_0_and_no_traceback():
    with server("udp_server") as process:
        stopped = process.stop()
    assert BANNER.match(process.banner)
    assert stopped.stdout == ""
    assert_stopped_cleanly(stopped)


def test_ctrl_c_in_the_middle_of_a_request_still_stops_cleanly():
    with (
        server("tcp_server") as process,
        socket.create_connection(("localhost", process.port), timeout=WAIT) as half_sent,
    ):
        half_sent.sendall(b"no newline yet")
        time.sleep(0.2)  # most likely the handler is now blocked in recv()
        stopped = process.stop()
        try:
            tail = half_sent.recv(100)
        except ConnectionResetError:  # Ctrl-C came before accept(): the backlog was reset
            tail = b""
        assert tail == b"", "a handler interrupted before the newline must not answer"
    assert "Traceback" not in "\n".join(stopped.stderr_lines)
    assert_stopped_cleanly(stopped)


@pytest.mark.parametrize(("name", "protocol"), [("tcp_server", "TCP"), ("udp_server", "UDP")])
def test_a_busy_port_gives_one_line_that_says_what_to_do(name, protocol):
    with server(name) as first:
        result = run(example(name) + ["--port", str(first.port)])
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"python -m socketserver_lit.examples.{name}: error: ")
    assert f"{protocol} port {first.port} on localhost is already in use" in line
    assert "pass --port" in line
    # TIME_WAIT belongs to TCP connections; a UDP port is held only by an open socket.
    assert ("TIME_WAIT" in line) == (protocol == "TCP")


def test_tcp_client_without_a_server_says_the_connection_was_refused():
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))  # a port that is surely closed: bound, not listening
        port = placeholder.getsockname()[1]
        result = run(example("tcp_client") + ["--port", str(port), "hello"])
    assert result.returncode == 1 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert f"localhost port {port} refused the connection: no TCP server is listening" in line


def test_udp_client_without_a_server_gives_up_after_its_timeout():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # receives the datagram and never answers
        port = silent.getsockname()[1]
        started = time.monotonic()
        result = run(example("udp_client") + ["--port", str(port), "--timeout", "0.5", "hi"])
        elapsed = time.monotonic() - started
        assert silent.recv(100) == b"hi\n"
    assert result.returncode == 1 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert f"no reply from localhost port {port} within 0.5 s" in line
    assert elapsed >= 0.5


def test_clients_join_their_arguments_with_single_spaces_and_accept_dash_dash():
    with server("stream_server") as process:
        arguments = ["--port", str(process.port), "--", "-v", "two", "words"]
        result = run(example("tcp_client") + arguments)
        stopped = process.stop()
    assert result.stdout == "Sent:     -v two words\nReceived: -V TWO WORDS\n"
    assert stopped.stdout == "127.0.0.1 wrote:\n-v two words\n"

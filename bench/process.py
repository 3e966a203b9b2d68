"""Server processes seen from the harness: start, read the port, watch, stop, verify.

A `ServerProcess` runs `python -m bench.servers ...` with the harness's own interpreter
and this checkout first on the import path, waits for its `PORT <n>` line, and offers the
two things the harness reads from outside the server without disturbing it:

* CPU time, from `/proc/PID/stat` (user + system, plus that of children already reaped,
  which is where a forking server's work goes);
* memory, from `/proc/PID/status` (`VmRSS`, the resident set, and `Threads`).

Stopping is closing the server's stdin (see `bench/servers.py`). A server that does not
exit in time is killed and reported; a server that exits non-zero or writes anything to
stderr (a traceback from `handle_error`, a warning) fails the run: a benchmark of a server
that is printing errors measures the errors. Every process started is waited for, on every
path, including an exception in the harness.

Read next: `bench/run.py`, which uses these processes.
"""

from __future__ import annotations

import contextlib
import os
import platform
import selectors
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bench.clients import BenchError

REPO_ROOT = Path(__file__).resolve().parent.parent
# A fresh interpreter that imports socketserver (and threading) starts in well under a
# second; ten is for a machine busy with other work.
STARTUP_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 20.0
CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def server_command(arguments: list[str]) -> list[str]:
    return [sys.executable, "-m", "bench.servers", *arguments]


# Set while a `bytecode_cache()` block runs: where the server processes keep .pyc files.
_bytecode_cache_directory: str | None = None


def server_environment() -> dict[str, str]:
    """The harness's environment with this checkout first on the import path."""
    environment = dict(os.environ)
    existing = environment.get("PYTHONPATH")
    environment["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + existing if existing else "")
    if _bytecode_cache_directory is not None:
        environment.pop("PYTHONDONTWRITEBYTECODE", None)
        environment["PYTHONPYCACHEPREFIX"] = _bytecode_cache_directory
    return environment


@contextlib.contextmanager
def bytecode_cache() -> Iterator[str]:
    """Give every server process compiled bytecode, as an installed package has.

    An installed package comes with its .pyc files, and so does the standard library. A
    checkout run in an environment with PYTHONDONTWRITEBYTECODE set (as some CI and
    container images do) has none: every server process then compiles socketserver_lit
    from source at import, and keeps the memory that compiling touched. That made each
    lit server start 13 ms slower and 1.4 MiB larger than a stdlib one, and since fork()
    copies the whole process, made ForkingTCPServer look 10 % slower than the stdlib's for
    a reason no user would see. So the harness compiles everything once, into a temporary
    cache outside the checkout (PYTHONPYCACHEPREFIX), before it measures anything; the
    stdlib's modules go through the same cache, so both sides load bytecode alike.
    """
    global _bytecode_cache_directory
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as directory:
        _bytecode_cache_directory = directory
        try:
            compile_into_cache()
            yield directory
        finally:
            _bytecode_cache_directory = None


class ServerProcess:
    """One running `bench.servers` process, used as a context manager."""

    def __init__(self, arguments: list[str]) -> None:
        self.arguments = arguments
        self.label = " ".join(arguments)
        self.stderr_file = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            server_command(arguments),
            cwd=REPO_ROOT,
            env=server_environment(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr_file,
        )
        try:
            self.port = self._read_port()
        except BaseException:
            self.close()
            raise

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def _read_port(self) -> int:
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(STARTUP_TIMEOUT_SECONDS):
                raise BenchError(
                    f"server {self.label!r} printed no port within {STARTUP_TIMEOUT_SECONDS} s"
                )
        line = self.process.stdout.readline().decode("ascii", "replace").strip()
        if not line.startswith("PORT "):
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            raise BenchError(
                f"server {self.label!r} said {line!r}, not its port: {self.stderr_text()}"
            )
        return int(line.split()[1])

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server and of its reaped children."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        # Fields after the parenthesised command name, which may itself contain spaces.
        fields = stat.rsplit(")", 1)[1].split()
        user, system, children_user, children_system = (int(value) for value in fields[11:15])
        return (user + system + children_user + children_system) / CLOCK_TICKS_PER_SECOND

    def status_field(self, name: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
        raise BenchError(f"/proc/{self.pid}/status has no {name} field")

    def rss_kib(self) -> int:
        return self.status_field("VmRSS")

    def thread_count(self) -> int:
        return self.status_field("Threads")

    def stderr_text(self) -> str:
        self.stderr_file.seek(0)
        return self.stderr_file.read().decode("utf-8", "replace")

    def stop(self) -> None:
        """Close stdin, wait for a clean exit, and fail if it was not clean."""
        self.process.stdin.close()
        try:
            returncode = self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()
            raise BenchError(f"server {self.label!r} did not stop within {STOP_TIMEOUT_SECONDS} s")
        errors = self.stderr_text()
        if returncode != 0 or errors:
            raise BenchError(f"server {self.label!r} exited {returncode} with stderr:\n{errors}")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def close(self) -> None:
        self.kill()
        for stream in (self.process.stdin, self.process.stdout):
            if stream and not stream.closed:
                stream.close()
        self.stderr_file.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def compile_into_cache() -> None:
    """Import everything a server process needs once, so its bytecode lands in the cache."""
    command = [sys.executable, "-c", "import socketserver, socketserver_lit, bench.servers"]
    try:
        completed = subprocess.run(
            command,
            cwd=REPO_ROOT,
            env=server_environment(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=STARTUP_TIMEOUT_SECONDS * 6,
        )
    except subprocess.TimeoutExpired:
        raise BenchError("compiling the server modules took more than a minute")
    if completed.returncode != 0:
        raise BenchError(f"the server modules do not import:\n{completed.stderr.decode()}")


def run_server_to_completion(arguments: list[str], timeout: float) -> str:
    """Run a self-contained `bench.servers` mode and return its `RESULT` payload."""
    try:
        completed = subprocess.run(
            server_command(arguments),
            cwd=REPO_ROOT,
            env=server_environment(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"{' '.join(arguments)!r} did not finish within {timeout:.0f} s")
    errors = completed.stderr.decode("utf-8", "replace")
    if completed.returncode != 0 or errors:
        raise BenchError(f"{' '.join(arguments)!r} exited {completed.returncode}:\n{errors}")
    for line in completed.stdout.decode("utf-8").splitlines():
        if line.startswith("RESULT "):
            return line[len("RESULT ") :]
    raise BenchError(f"{' '.join(arguments)!r} printed no RESULT line")


def tcp_listen_overflows() -> int | None:
    """The kernel's count of connections dropped because a listen queue was full.

    System-wide (other programs' servers count too), so the harness reports how much it
    grew during a run as a warning sign, not as a measurement of any one server.
    """
    path = Path("/proc/net/netstat")
    if not path.exists():
        return None
    lines = path.read_text().splitlines()
    for header, values in zip(lines[::2], lines[1::2], strict=False):
        if header.startswith("TcpExt:"):
            counters = dict(zip(header.split()[1:], values.split()[1:], strict=True))
            return int(counters.get("ListenOverflows", 0))
    return None


def machine_description() -> dict[str, object]:
    """What the numbers were measured on: enough to tell whether yours should match."""
    cpu_model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpus_available": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else None,
        "cpu_model": cpu_model,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "kernel": platform.release(),
        "system": platform.system(),
    }

"""Server processes seen from the harness: start, read the port, watch, stop, verify.

A `ServerProcess` runs `python -m bench.servers ...` with the harness's own interpreter
and this checkout first on the import path, waits for its `PORT <n>` line, and offers the
two things the harness reads from outside the server without disturbing it:

* CPU time, from `/proc/PID/stat` (user + system, plus that of children already reaped,
  which is where a forking server's work goes);
* memory, from `/proc/PID/status` (`VmRSS`, the resident set, `VmHWM`, its peak so far, and
  `Threads`);
* open descriptors, by listing `/proc/PID/fd`.

The flood also reads the kernel's side of a server from outside: how many connections wait
in its listen socket's accept queue (`listen_queue_length`, from the kernel's socket
diagnostics), the machine's TCP counters (`tcp_counters`, from `/proc/net/netstat`) and the
settings that decide what a full backlog does (`kernel_tcp_settings`).

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
import socket
import struct
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

    def memory_status(self) -> dict[str, int]:
        """VmRSS, VmHWM (the peak resident set so far, in KiB) and Threads, in one read."""
        fields = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM", "Threads"):
                fields[name] = int(value.split()[0])
        return fields

    def descriptor_count(self) -> int:
        """How many file descriptors the server process has open right now."""
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def descriptor_limit(self) -> int | None:
        """The soft limit on open descriptors the server runs with (RLIMIT_NOFILE)."""
        for line in Path(f"/proc/{self.pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                return int(line.split()[3])
        return None

    def stderr_text(self) -> str:
        self.stderr_file.seek(0)
        return self.stderr_file.read().decode("utf-8", "replace")

    def stop(self) -> str:
        """Close stdin, wait for a clean exit, fail if it was not clean; return what it printed.

        The returned text is the server's stdout after its `PORT` line: the flood server's
        `RESULT` line, empty for the others.
        """
        self.process.stdin.close()
        try:
            returncode = self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()
            raise BenchError(f"server {self.label!r} did not stop within {STOP_TIMEOUT_SECONDS} s")
        errors = self.stderr_text()
        if returncode != 0 or errors:
            raise BenchError(f"server {self.label!r} exited {returncode} with stderr:\n{errors}")
        return self.process.stdout.read().decode("utf-8", "replace")

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


# What compile_into_cache runs: the modules under test, then a server process's own start
# (`-m` goes through runpy, and argparse's formatter imports shutil and what shutil
# imports). Without the second, the first server of a run compiled those itself and kept
# the memory compiling touched: 2.8 MiB more RSS than every later server of the same kind.
_COMPILING_COMMANDS = (
    ["-c", "import socketserver, socketserver_lit, bench.servers"],
    ["-m", "bench.servers", "--help"],
)


def compile_into_cache() -> None:
    """Import everything a server process needs once, so its bytecode lands in the cache."""
    for arguments in _COMPILING_COMMANDS:
        try:
            completed = subprocess.run(
                [sys.executable, *arguments],
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


def tcp_counters() -> dict[str, int]:
    """The kernel's extended TCP counters (`TcpExt` in /proc/net/netstat); empty if absent.

    System-wide: other programs' connections count too.
    """
    path = Path("/proc/net/netstat")
    if not path.exists():
        return {}
    lines = path.read_text().splitlines()
    for header, values in zip(lines[::2], lines[1::2], strict=False):
        if header.startswith("TcpExt:"):
            names, numbers = header.split()[1:], values.split()[1:]
            return {name: int(number) for name, number in zip(names, numbers, strict=True)}
    return {}


def tcp_listen_overflows() -> int | None:
    """The kernel's count of connections dropped because a listen queue was full.

    System-wide (other programs' servers count too), so the harness reports how much it
    grew during a run as a warning sign, not as a measurement of any one server.
    """
    counters = tcp_counters()
    return counters.get("ListenOverflows", 0) if counters else None


# The kernel settings that decide what happens to a connection when a listen queue is
# full, read from /proc/sys/net/... (Linux; each is None where the file does not exist).
KERNEL_TCP_SETTINGS = {
    # 0: drop the handshake and let the client retry; 1: answer with a reset (refuse).
    "tcp_abort_on_overflow": "ipv4/tcp_abort_on_overflow",
    "tcp_syncookies": "ipv4/tcp_syncookies",
    "tcp_max_syn_backlog": "ipv4/tcp_max_syn_backlog",
    # How many times a client's kernel resends a SYN that got no answer.
    "tcp_syn_retries": "ipv4/tcp_syn_retries",
    # The largest backlog listen() accepts; a larger request is cut to this.
    "somaxconn": "core/somaxconn",
}


def kernel_tcp_settings() -> dict[str, int | None]:
    settings: dict[str, int | None] = {}
    for name, relative in KERNEL_TCP_SETTINGS.items():
        path = Path("/proc/sys/net") / relative
        settings[name] = int(path.read_text().split()[0]) if path.exists() else None
    return settings


# Linux socket diagnostics (linux/sock_diag.h, linux/inet_diag.h): one request over a
# netlink socket returns every IPv4 TCP socket in the states asked for, with its ports and
# queue lengths. The kernel's TCP states (include/net/tcp_states.h):
TCP_ESTABLISHED, TCP_SYN_SENT, TCP_FIN_WAIT1, TCP_LISTEN, TCP_CLOSING = 1, 2, 4, 10, 11
_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST, _NLM_F_DUMP = 0x1, 0x300
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_NETLINK_HEADER = struct.Struct("=IHHII")  # length, type, flags, sequence, port id
# inet_diag_req_v2: family, protocol, extensions, padding, states, then an inet_diag_sockid
# (ports, addresses, interface, cookie) that a dump of every socket leaves zero.
_DIAG_REQUEST = struct.Struct("=BBBBI48x")
# inet_diag_msg: family, state, timer, retransmits, source and destination ports
# (big-endian), the rest of the sockid (44 bytes), expires, rqueue, wqueue. For a listening
# socket, rqueue is the number of connections in its accept queue and wqueue its backlog.
_DIAG_MESSAGE = struct.Struct("=BBBB2s2s44xIII")
# A filter the kernel runs on each socket before reporting it (INET_DIAG_REQ_BYTECODE, an
# attribute after the request): "destination port equals N". Each operation is (code, bytes
# to jump if true, bytes to jump if false); running off the end accepts the socket, jumping
# past it rejects it.
_INET_DIAG_REQ_BYTECODE = 1
_INET_DIAG_BC_D_EQ = 12
_ATTRIBUTE_HEADER = struct.Struct("=HH")  # length, type
_FILTER_OPERATION = struct.Struct("=BBH")


def _destination_port_filter(port: int) -> bytes:
    condition = _FILTER_OPERATION.pack(_INET_DIAG_BC_D_EQ, 8, 12)
    operand = _FILTER_OPERATION.pack(0, 0, port)  # the port rides in the next operation
    program = condition + operand
    length = _ATTRIBUTE_HEADER.size + len(program)
    return _ATTRIBUTE_HEADER.pack(length, _INET_DIAG_REQ_BYTECODE) + program


def _diagnostic_messages(
    states: tuple[int, ...], destination_port: int | None
) -> Iterator[tuple[bytes, int]] | None:
    """Ask the kernel for its IPv4 TCP sockets in `states`; yield (buffer, offset) of each.

    None where socket diagnostics are not available (not Linux).
    """
    request = _DIAG_REQUEST.pack(
        socket.AF_INET, socket.IPPROTO_TCP, 0, 0, sum(1 << state for state in states)
    )
    if destination_port is not None:
        request += _destination_port_filter(destination_port)
    header = _NETLINK_HEADER.pack(
        _NETLINK_HEADER.size + len(request),
        _SOCK_DIAG_BY_FAMILY,
        _NLM_F_REQUEST | _NLM_F_DUMP,
        1,
        0,
    )
    try:
        netlink = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_SOCK_DIAG)
    except (AttributeError, OSError):
        return None

    def messages() -> Iterator[tuple[bytes, int]]:
        with netlink:
            netlink.settimeout(1.0)
            netlink.send(header + request)
            while True:
                data = netlink.recv(1 << 20)
                if not data:
                    return
                offset = 0
                while offset + _NETLINK_HEADER.size <= len(data):
                    length, kind = _NETLINK_HEADER.unpack_from(data, offset)[:2]
                    if kind in (_NLMSG_DONE, _NLMSG_ERROR):
                        return
                    if kind == _SOCK_DIAG_BY_FAMILY:
                        yield data, offset + _NETLINK_HEADER.size
                    offset += (length + 3) & ~3  # messages are aligned to 4 bytes

    return messages()


def tcp_sockets(
    states: tuple[int, ...], destination_port: int | None = None
) -> list[tuple[int, int, int, int, int]] | None:
    """(state, source port, destination port, rqueue, wqueue) of every IPv4 TCP socket in
    `states` on this machine (only those connected to `destination_port`, if given). None
    where socket diagnostics are not available (not Linux).
    """
    messages = _diagnostic_messages(states, destination_port)
    if messages is None:
        return None
    found = []
    for data, offset in messages:
        _, state, _, _, source, destination, _, rqueue, wqueue = _DIAG_MESSAGE.unpack_from(
            data, offset
        )
        found.append(
            (
                state,
                int.from_bytes(source, "big"),
                int.from_bytes(destination, "big"),
                rqueue,
                wqueue,
            )
        )
    return found


def listen_queue_length(port: int) -> tuple[int, int] | None:
    """(connections waiting in the accept queue, the backlog) of the TCP listener on `port`.

    The connections the kernel has completed the handshake for and holds until the server
    calls accept(). None where socket diagnostics are not available or no IPv4 listener
    has this port.
    """
    for _, source, _, waiting, backlog in tcp_sockets((TCP_LISTEN,)) or ():
        if source == port:
            return waiting, backlog
    return None


def clients_still_sending(port: int) -> int | None:
    """Client sockets on this machine that may still deliver a request to `port`.

    Those connecting (SYN_SENT), connected (ESTABLISHED), or closed by their program
    while the server's kernel has not yet acknowledged what they sent (FIN_WAIT1,
    CLOSING): the client's kernel keeps retransmitting those, and a retransmission can
    still complete a connection the server then accepts.
    """
    states = (TCP_SYN_SENT, TCP_ESTABLISHED, TCP_FIN_WAIT1, TCP_CLOSING)
    # The kernel filters by port, so counting the messages is enough (and cheap).
    messages = _diagnostic_messages(states, destination_port=port)
    return None if messages is None else sum(1 for _ in messages)


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

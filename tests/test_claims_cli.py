"""What the command line and the example programs *say*, run: every claim in a message or docstring.

The messages of ``socketserver_lit/examples`` state facts about the kernel, the
standard library and our code: a busy TCP port may be held by TIME_WAIT, a UDP
port never is, ports below a number need privileges, Ctrl-C waits for a threading
server's requests, a second Ctrl-C ends the process at once, an unconnected UDP
socket hears nothing from a closed port, ... Each test here runs one of those
facts on the loopback interface, against the stdlib too where the claim compares,
so that a message that stops being true fails a test instead of misleading a
reader. Platform: the claims about the kernel are Linux's (the TIME_WAIT length and
the privileged-port sysctl are read from ``/proc``); the tests run on Linux.

Every process is waited for (killed first if it overstays), every wait is bounded,
and every socket is closed.
"""

from __future__ import annotations

import errno
import io
import itertools
import json
import os
import re
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from test_examples import (
    STOPPED,
    WAIT,
    ServerProcess,
    environment,
    example,
    exchange_raw,
    run,
    server,
)

import socketserver_lit
from socketserver_lit.examples import (
    _program,
    forking_server,
    threaded_server,
    threading_udp,
    tour,
)

# -- Busy ports: TIME_WAIT is TCP's, and needs SO_REUSEADDR on both sides ----------------------


def time_wait_seconds_left(port: int) -> list[float]:
    """Seconds left for each TCP connection in TIME_WAIT whose local port is ``port`` (Linux)."""
    ticks_per_second = os.sysconf("SC_CLK_TCK")
    left = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                timer, when = fields[5].split(":")
                if local_port == port and fields[3] == "06":  # 06: TCP_TIME_WAIT
                    assert timer == "03", row  # 3: the TIME_WAIT timer is running
                    left.append(int(when, 16) / ticks_per_second)
    return left


def test_a_tcp_server_that_closed_a_connection_holds_its_port_in_time_wait_for_up_to_60_s():
    with server("tcp_server") as first:
        # Read to the end of stream: the server closes first, so TIME_WAIT is on its side.
        assert exchange_raw(first.port, b"hi\n", close_writing=False, expect=100) == b"HI\n"
        assert first.stop().returncode == 0
    left = time_wait_seconds_left(first.port)
    assert left and all(0 < seconds <= 60 for seconds in left), left
    again = run(example("tcp_server") + ["--port", str(first.port)])
    assert again.returncode == 1
    [line] = again.stderr.splitlines()
    assert f"TCP port {first.port} on localhost is already in use" in line
    assert "stopped there less than a minute ago" in line and "TIME_WAIT" in line


def test_the_stdlib_tcp_server_cannot_rebind_a_port_in_time_wait_either():
    # The documented example's server class, restarted on the port the last one used.
    port = port_left_in_time_wait()
    assert not socketserver.TCPServer.allow_reuse_address
    with pytest.raises(OSError) as refused:
        socketserver.TCPServer(("127.0.0.1", port), socketserver.BaseRequestHandler).server_close()
    assert refused.value.errno == errno.EADDRINUSE


def port_left_in_time_wait() -> int:
    """A loopback port whose listening socket closed after it closed a connection first."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as client:
            accepted, _ = listener.accept()
            accepted.close()  # the server's side sends the first FIN
            assert client.recv(1) == b""
    assert time_wait_seconds_left(port)
    return port


@pytest.mark.parametrize(
    ("old_sets_it", "new_sets_it"), list(itertools.product([False, True], repeat=2))
)
def test_time_wait_lets_a_port_be_bound_again_only_if_both_servers_set_so_reuseaddr(
    old_sets_it, new_sets_it
):
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, int(old_sets_it))
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as client:
            accepted, _ = listener.accept()
            accepted.close()
            assert client.recv(1) == b""
    with socket.socket() as new:
        new.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, int(new_sets_it))
        try:
            new.bind(("127.0.0.1", port))
            outcome = "bound"
        except OSError as error:
            outcome = errno.errorcode[error.errno]
    assert outcome == ("bound" if old_sets_it and new_sets_it else "EADDRINUSE")


def test_the_documented_servers_do_not_set_so_reuseaddr_like_the_stdlib():
    for module in (socketserver, socketserver_lit):
        assert module.TCPServer.allow_reuse_address is False
        assert module.ThreadingTCPServer.allow_reuse_address is False


def test_a_udp_port_is_free_again_as_soon_as_its_server_stops():
    with server("udp_server") as first:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(WAIT)
            client.sendto(b"hi\n", ("127.0.0.1", first.port))
            assert client.recv(100) == b"HI"
        assert first.stop().returncode == 0
    with server("udp_server", "--port", str(first.port)) as again:  # no TIME_WAIT to wait out
        assert again.port == first.port


def test_the_udp_busy_port_message_names_an_open_socket_and_no_time_wait():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        result = run(example("udp_server") + ["--host", "127.0.0.1", "--port", str(port)])
    [line] = result.stderr.splitlines()
    assert "another program has a socket open on it" in line and "TIME_WAIT" not in line


# -- Other addresses a server cannot use -------------------------------------------------------


def without_net_bind_service() -> list[str]:
    """A command prefix that runs a program without the right to bind privileged ports."""
    if os.geteuid() != 0:
        return []
    assert shutil.which("setpriv"), "running these tests as root needs setpriv (util-linux)"
    return ["setpriv", "--inh-caps=-net_bind_service", "--bounding-set=-net_bind_service"]


def test_a_privileged_port_is_refused_naming_the_lowest_port_anyone_may_bind():
    start = _program.unprivileged_port_start()
    assert start, "Linux sets net.ipv4.ip_unprivileged_port_start; here it reads as none or 0"
    command = without_net_bind_service() + example("tcp_server")
    result = run(command + ["--host", "127.0.0.1", "--port", str(start - 1)])
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert f"ports below {start} need privileges" in line
    assert f"pass --port with a number from {start} up" in line
    # ... and the port it names is one anyone may bind (or that is merely busy).
    probe = "import socket, sys; s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1])))"
    allowed = run([*without_net_bind_service(), sys.executable, "-c", probe, str(start)])
    assert "PermissionError" not in allowed.stderr, allowed.stderr


def test_an_address_of_another_machine_is_refused_in_one_line():
    # Binding sends nothing: the kernel refuses an address that is not one of ours.
    result = run(example("tcp_server") + ["--host", "192.0.2.1"])  # TEST-NET-1, RFC 5737
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.endswith("'192.0.2.1' is not an address of this machine; pass --host localhost")


# "256.1.1.1" is no address and no valid host name: glibc refuses it without sending a DNS
# query (checked with strace), so these tests stay on this machine, as a misspelt name would not.
UNRESOLVABLE = "256.1.1.1"


def test_an_unresolvable_host_is_one_clean_line_the_same_for_server_and_client():
    try:
        socket.getaddrinfo(UNRESOLVABLE, 0)
    except socket.gaierror as error:
        reason = error.strerror
    expected = (
        f"cannot resolve host {UNRESOLVABLE!r} ({reason}); pass --host with a name or address"
    )
    for name in ("tcp_server", "udp_server", "tcp_client", "udp_client"):
        words = ["hello"] if name.endswith("client") else []
        result = run(example(name) + ["--host", UNRESOLVABLE, *words])
        assert result.returncode == 1 and result.stdout == "", (name, result)
        assert result.stderr == f"python -m socketserver_lit.examples.{name}: error: {expected}\n"


def test_a_bind_error_reads_the_same_whether_the_core_notes_it_or_wraps_it():
    original = OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE))
    noted = OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE))
    noted.__notes__ = ["cannot bind to ('localhost', 9999): the core's own hint"]
    wrapped = OSError(errno.EADDRINUSE, "Address already in use: cannot bind to ...: a hint")
    wrapped.__cause__ = original

    def line(error: OSError) -> str | None:
        return _program.describe_address_error(
            error, "localhost", 9999, protocol="UDP", role="server"
        )

    assert line(noted) == line(wrapped) == line(original)
    assert "cannot bind" not in line(noted) and "hint" not in line(noted)


def test_an_ipv6_address_for_an_ipv4_client_says_the_client_speaks_ipv4():
    result = run(example("tcp_client") + ["--host", "::1", "hello"])
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert "'::1' is not an IPv4 address, and this program speaks IPv4" in line


@pytest.mark.parametrize("host", ["0.0.0.0", ""])
def test_a_server_asked_for_all_interfaces_binds_the_wildcard_address_and_warns(host):
    process = ServerProcess(example("tcp_server") + ["--host", host, "--port", "0"])
    try:
        warning, banner = process.banner, process.read_stderr_line()
        port = int(re.fullmatch(r"Serving TCP on 0\.0\.0\.0 port (\d+); .*", banner).group(1))
        reply = exchange_raw(port, b"hi\n", close_writing=False, expect=100)
    finally:
        stopped = process.stop()
    assert warning.startswith("Warning: listening on all interfaces, not only on this machine")
    assert reply == b"HI\n"  # 0.0.0.0 includes the loopback address
    assert stopped.returncode == 0


def test_port_0_lets_the_system_pick_a_free_port_which_the_banner_reports():
    with server("stream_server") as process:  # started with --port 0
        assert process.port > 0
        assert exchange_raw(process.port, b"x\n", close_writing=False, expect=10) == b"X"


# -- Ctrl-C ---------------------------------------------------------------------------------------


@contextmanager
def threading_server_with_a_client_inside() -> Iterator[tuple[ServerProcess, socket.socket]]:
    """``tcp_server --threading`` with a connected client whose request thread is running."""
    process = ServerProcess(example("tcp_server") + ["--threading", "--port", "0"])
    try:
        assert process.port, process.banner
        with socket.create_connection(("127.0.0.1", process.port), timeout=WAIT) as silent:
            # Connections are accepted in order: once a later client has its answer, the
            # server has accepted `silent` and started its request thread.
            assert exchange_raw(process.port, b"x\n", close_writing=False, expect=10) == b"X\n"
            yield process, silent
    finally:
        process.stop()


WAITING = re.compile(
    r"Ctrl-C: stopping once \d+ requests? still in progress ends? \(Thread-\d+ "
    r"\(process_request_thread\).*\); a client that stays connected can keep a request going\. "
    r"Press Ctrl-C again to stop at once\."
)


def test_ctrl_c_on_a_threading_server_says_what_it_waits_for_and_waits_for_the_client():
    with threading_server_with_a_client_inside() as (process, silent):
        process.process.send_signal(signal.SIGINT)
        assert WAITING.fullmatch(process.read_stderr_line()), process.process.poll()
        with pytest.raises(subprocess.TimeoutExpired):  # still waiting for `silent`
            process.process.wait(timeout=0.5)
        silent.close()  # the handler sees end of stream and returns
        process.process.wait(timeout=WAIT)  # by itself: no second Ctrl-C
        stopped = process.stop()
    assert stopped.returncode == 0
    assert stopped.stderr_lines == [STOPPED]


def test_a_second_ctrl_c_ends_the_process_at_once_as_an_unhandled_ctrl_c_does():
    with threading_server_with_a_client_inside() as (process, silent):
        process.process.send_signal(signal.SIGINT)
        assert WAITING.fullmatch(process.read_stderr_line())
        process.process.send_signal(signal.SIGINT)
        stopped = process.stop()  # bounded: fails if the process is still there after WAIT s
        assert silent.recv(100) == b""  # the abandoned client is disconnected
    # At least the silent client's request; the probe's may still be ending (it has its
    # answer, but its thread may not have seen the end of its stream yet).
    abandoned = re.fullmatch(
        r"Second Ctrl-C: stopping at once, abandoning (\d+) requests? in progress\.",
        stopped.stderr_lines[-1],
    )
    assert abandoned is not None, stopped.stderr_lines
    assert 1 <= int(abandoned[1]) <= 2
    assert stopped.returncode == -signal.SIGINT == plain_python_after_ctrl_c().returncode


def test_two_ctrl_c_presses_before_python_runs_the_handler_count_as_one():
    """_program.py, stop_on_ctrl_c: "Two presses that reach the process before Python has run
    the handler for the first count as one: Python notes that a signal came, not how many
    times." In a fresh interpreter, an interval timer delivers a signal every 50 ms while the
    main thread is inside one C call of about half a second (a sum over a range), where
    Python runs no handler; the handler then runs once."""
    program = textwrap.dedent(
        """
        import json, signal, time
        calls = []
        signal.signal(signal.SIGALRM, lambda number, frame: calls.append(number))
        started = time.monotonic()
        sum(range(10**6))
        size = int(10**6 * 0.5 / max(time.monotonic() - started, 1e-6))  # about 0.5 s
        signal.setitimer(signal.ITIMER_REAL, 0.05, 0.05)
        started = time.monotonic()
        sum(range(size))  # one C call: no handler runs until it returns
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        print(json.dumps({"calls": len(calls), "seconds": time.monotonic() - started}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    outcome = json.loads(result.stdout)
    assert outcome["seconds"] >= 0.15, "fewer than two signals came during the call"
    assert outcome["calls"] == 1


def plain_python_after_ctrl_c() -> subprocess.CompletedProcess[str]:
    """A Python program that does not handle Ctrl-C, after Ctrl-C: how it ends."""
    script = "import time; print('ready', flush=True); time.sleep(60)"
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=WAIT)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_the_stdlib_documented_server_ends_ctrl_c_with_a_traceback_ours_with_one_line():
    script = (
        "import socketserver\n"
        "with socketserver.TCPServer(('127.0.0.1', 0), socketserver.BaseRequestHandler) as s:\n"
        "    print('ready', flush=True)\n"
        "    s.serve_forever()\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=WAIT)
    assert stderr.startswith("Traceback") and stderr.splitlines()[-1] == "KeyboardInterrupt"
    with server("tcp_server") as ours:
        stopped = ours.stop()
    assert stopped.stderr_lines == [STOPPED] and stopped.returncode == 0


def test_the_stdlib_documented_server_on_a_busy_port_dies_with_errno_98_and_a_traceback():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        script = (
            "import socketserver, sys\n"
            "with socketserver.TCPServer(('127.0.0.1', int(sys.argv[1])),"
            " socketserver.BaseRequestHandler) as s:\n"
            "    s.serve_forever()\n"
        )
        result = run([sys.executable, "-c", script, str(holder.getsockname()[1])])
    assert result.stderr.startswith("Traceback")
    assert result.stderr.splitlines()[-1] == "OSError: [Errno 98] Address already in use"


def test_a_synchronous_server_stops_on_the_first_ctrl_c_even_with_a_client_inside():
    with (
        server("tcp_server") as process,
        socket.create_connection(("127.0.0.1", process.port), timeout=WAIT) as silent,
    ):
        silent.sendall(b"no newline yet")
        stopped = process.stop()
    assert stopped.returncode == 0 and stopped.stderr_lines == [STOPPED]  # no waiting message


@pytest.mark.parametrize("module", [socketserver, socketserver_lit], ids=["stdlib", "lit"])
def test_closing_a_threading_server_waits_for_a_client_that_stays_connected(module):
    started = threading.Event()

    class Reader(module.BaseRequestHandler):
        def handle(self) -> None:
            started.set()
            self.request.recv(100)

    with module.ThreadingTCPServer(("127.0.0.1", 0), Reader) as threading_server:
        loop = threading.Thread(target=threading_server.serve_forever)
        loop.start()
        address = threading_server.server_address[:2]
        with socket.create_connection(address, timeout=WAIT):
            assert started.wait(WAIT)
            threading_server.shutdown()
            loop.join(WAIT)
            closer = threading.Thread(target=threading_server.server_close)
            closer.start()
            closer.join(0.3)
            waited = closer.is_alive()
        closer.join(WAIT)  # the client has gone: the handler's recv() returns
    assert waited and not closer.is_alive()


def test_writing_to_a_buffered_stream_from_inside_its_own_write_raises():
    # What a signal handler that print()s would risk, run while the main thread is in a
    # print(): _program.say() writes with os.write instead.
    class Raw(io.RawIOBase):
        inside = False

        def writable(self) -> bool:
            return True

        def write(self, data: bytes) -> int:  # type: ignore[override]
            if not self.inside:
                self.inside = True
                stream.write(b"from the handler")
            return len(data)

    stream = io.BufferedWriter(Raw(), buffer_size=8)
    with pytest.raises(RuntimeError, match="reentrant call"):
        stream.write(b"x" * 100)


@pytest.mark.parametrize("daemon", [False, True])
def test_python_waits_at_exit_for_threads_that_are_not_daemons(daemon):
    script = (
        f"import sys, threading; threading.Thread(target=sys.stdin.read, daemon={daemon}).start()"
    )
    with subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE) as process:
        try:
            process.wait(timeout=0.5 if not daemon else WAIT)
            ended_alone = True
        except subprocess.TimeoutExpired:
            ended_alone = False
        assert process.stdin is not None
        process.stdin.close()
        assert process.wait(timeout=WAIT) == 0
    assert ended_alone == daemon


def test_a_background_command_of_a_shell_starts_with_ctrl_c_ignored_and_python_keeps_it():
    script = "import signal; print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)"
    result = run(["sh", "-c", f'"{sys.executable}" -c "{script}" & wait'])
    assert result.stdout == "True\n"


def test_a_server_that_inherits_ignored_ctrl_c_leaves_it_ignored():
    def ignore_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    process = subprocess.Popen(
        example("udp_server") + ["--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=environment(),
        preexec_fn=ignore_sigint,
    )
    try:
        assert process.stderr is not None and process.stderr.readline().startswith(b"Serving")
        process.send_signal(signal.SIGINT)
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=0.5)
    finally:
        process.terminate()
        process.communicate(timeout=WAIT)
    assert process.returncode == -signal.SIGTERM


# -- --threading: a client that stays connected and the next one --------------------------------


@pytest.mark.parametrize("threading_on", [False, True])
def test_a_client_that_stays_connected_makes_the_next_wait_unless_threading(threading_on):
    options = ["--threading"] if threading_on else []
    with (
        server("tcp_server", *options) as process,
        socket.create_connection(("127.0.0.1", process.port), timeout=WAIT),
    ):
        client = example("tcp_client") + ["--port", str(process.port), "--timeout", "1"]
        result = run(client + ["am", "I", "served"])
    if threading_on:
        assert result.returncode == 0 and "Received: AM I SERVED" in result.stdout
    else:
        assert result.returncode == 1
        assert f"no reply from localhost port {process.port} within 1 s" in result.stderr


# -- TCP is a stream, UDP is datagrams ------------------------------------------------------------


def test_tcp_bytes_arrive_in_pieces_unrelated_to_the_sends():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname(), timeout=WAIT) as sender:
            receiver, _ = listener.accept()
            with receiver:
                receiver.settimeout(WAIT)
                sender.sendall(b"ab")
                sender.sendall(b"cd")
                deadline = time.monotonic() + WAIT
                while len(receiver.recv(100, socket.MSG_PEEK)) < 4 and time.monotonic() < deadline:
                    time.sleep(0.01)
                assert receiver.recv(100) == b"abcd"  # two sends, one recv
                sender.sendall(b"efgh")
                assert receiver.recv(2) == b"ef"  # one send, two recvs
                assert receiver.recv(2) == b"gh"


def test_the_tcp_server_joins_a_line_sent_in_pieces():
    with server("tcp_server") as process:
        with socket.create_connection(("127.0.0.1", process.port), timeout=WAIT) as client:
            for piece in (b"hel", b"lo wor", b"ld\n"):
                client.sendall(piece)
                time.sleep(0.05)
            reply = b""
            while chunk := client.recv(100):
                reply += chunk
        stopped = process.stop()
    assert reply == b"HELLO WORLD\n"
    assert stopped.stdout == "Received from 127.0.0.1:\nhello world\n\n"


class CountingRequest:
    """A socket whose ``recv`` gives up after ``budget`` calls, to stop an endless loop."""

    def __init__(self, sock: socket.socket, budget: int) -> None:
        self.sock, self.budget, self.calls = sock, budget, 0

    def recv(self, size: int) -> bytes:
        self.calls += 1
        if self.calls > self.budget:
            raise RuntimeError("still looping")
        return self.sock.recv(size)


def test_the_documented_recv_loop_spins_without_end_when_the_client_hangs_up_early():
    server_side, client_side = socket.socketpair()
    with server_side, client_side:
        client_side.sendall(b"no newline")
        client_side.shutdown(socket.SHUT_WR)
        request = CountingRequest(server_side, budget=10_000)
        pieces, total = [b""], 0
        with pytest.raises(RuntimeError, match="still looping"):
            # The loop of the 3.13 page's MyTCPHandler.handle(), unchanged.
            while b"\n" not in pieces[-1] and total < 10_000:
                pieces.append(request.recv(2000))
                total += len(pieces[-1])
    assert total == len(b"no newline") and set(pieces[2:]) == {b""}


def test_the_stream_server_answers_a_client_that_hangs_up_before_the_newline():
    with server("stream_server") as process:
        reply = exchange_raw(process.port, b"partial", close_writing=True, expect=100)
        stopped = process.stop()
    assert reply == b"PARTIAL"
    assert stopped.stdout == "127.0.0.1 wrote:\npartial\n"


def test_the_tcp_client_prints_only_the_first_recv_of_a_long_reply():
    with server("stream_server") as process:
        result = run(example("tcp_client") + ["--port", str(process.port), "x" * 3000])
    received = result.stdout.splitlines()[1].removeprefix("Received: ")
    assert result.returncode == 0 and 0 < len(received) <= 1024
    assert ("X" * 3000).startswith(received)


def test_one_udp_recv_returns_one_whole_datagram_cut_at_its_size():
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender,
    ):
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(WAIT)
        sender.sendto(b"a" * 1000, receiver.getsockname())
        sender.sendto(b"b" * 2000, receiver.getsockname())
        sender.sendto(b"c", receiver.getsockname())
        assert receiver.recv(1024) == b"a" * 1000
        assert receiver.recv(1024) == b"b" * 1024  # the other 976 bytes are gone
        assert receiver.recv(1024) == b"c"


def test_only_a_connected_udp_socket_hears_that_nobody_listens():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        closed = placeholder.getsockname()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as unconnected:
        unconnected.settimeout(0.5)
        unconnected.sendto(b"anyone?", closed)
        with pytest.raises(TimeoutError):
            unconnected.recv(100)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as connected:
        connected.settimeout(WAIT)
        connected.connect(closed)
        connected.send(b"anyone?")
        with pytest.raises(ConnectionRefusedError):
            connected.recv(100)


def test_threads_sending_on_one_udp_socket_never_mix_their_datagrams():
    senders, each = 8, 8  # 64 datagrams: few enough for the receive buffer to hold them all
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as shared,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver,
    ):
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(WAIT)

        def send(byte: bytes) -> None:
            for _ in range(each):
                shared.sendto(byte * 1400, receiver.getsockname())

        threads = [threading.Thread(target=send, args=(bytes([65 + n]),)) for n in range(senders)]
        for thread in threads:
            thread.start()
        datagrams = [receiver.recv(2048) for _ in range(senders * each)]
        for thread in threads:
            thread.join(WAIT)
    assert all(len(d) == 1400 and d == d[:1] * 1400 for d in datagrams)


# -- The mix-ins the examples use ----------------------------------------------------------------


def test_the_mixin_must_come_first_or_it_does_nothing_like_the_stdlib():
    for module in (socketserver, socketserver_lit):

        class Right(module.ThreadingMixIn, module.UDPServer):
            pass

        class Wrong(module.UDPServer, module.ThreadingMixIn):  # type: ignore[misc]
            pass

        assert Right.process_request is module.ThreadingMixIn.process_request
        assert Wrong.process_request is module.BaseServer.process_request


def test_udp_server_derives_from_tcp_server_and_replaces_what_the_examples_say():
    for module in (socketserver, socketserver_lit):
        own = vars(module.UDPServer)
        assert issubclass(module.UDPServer, module.TCPServer)
        assert {"socket_type", "server_activate", "get_request", "close_request"} <= set(own)
        assert "server_bind" not in own, module.__name__


@pytest.mark.fork
def test_a_forked_handler_runs_in_a_copy_of_the_serving_thread_and_of_the_memory():
    served = []

    class Report(forking_server.ForkedTCPRequestHandler):
        def handle(self) -> None:
            self.request.recv(100)
            served.append(1)  # the child's copy of the list
            reply = f"{threading.current_thread().name}|{len(served)}"
            self.request.sendall(reply.encode())

    with forking_server.ForkedTCPServer(("127.0.0.1", 0), Report) as forking:
        loop = threading.Thread(target=forking.serve_forever)
        loop.start()
        replies = []
        for _ in range(2):
            port = forking.server_address[1]
            replies.append(exchange_raw(port, b"x", close_writing=True, expect=100).decode())
        forking.shutdown()
        loop.join(WAIT)
    assert replies == [f"{loop.name}|1"] * 2  # each child saw one request: its own
    assert served == []  # nothing a child did reached the server


def test_fork_with_threads_warns_only_from_main_on_3_12_and_later():
    script = (
        "import os, threading, time\n"
        "threading.Thread(target=time.sleep, args=(0.5,)).start()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONWARNINGS"}
    in_main = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=WAIT
    )
    warned = "DeprecationWarning" in in_main.stderr
    assert warned == (sys.version_info >= (3, 12))
    assert not warned or "use of fork() may lead to deadlocks in the child" in in_main.stderr
    env["PYTHONPATH"] = environment()["PYTHONPATH"]
    in_package = subprocess.run(
        example("forking_server"), capture_output=True, text=True, env=env, timeout=WAIT
    )
    assert in_package.returncode == 0 and in_package.stderr == ""


@pytest.mark.fork
def test_a_lock_another_thread_holds_at_fork_stays_held_in_the_child():
    lock, holding, release = threading.Lock(), threading.Event(), threading.Event()

    def hold() -> None:
        with lock:
            holding.set()
            release.wait(WAIT)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(WAIT)
        pid = os.fork()
        if pid == 0:  # the child: only this thread was copied, and the lock with it
            os._exit(0 if not lock.acquire(timeout=0.2) else 1)
        _, status = os.waitpid(pid, 0)
    finally:
        release.set()
        holder.join(WAIT)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize(
    ("module", "handler"),
    [
        (threaded_server, "ThreadedTCPRequestHandler"),
        pytest.param(forking_server, "ForkedTCPRequestHandler", marks=pytest.mark.fork),
        (threading_udp, "ThreadedUDPRequestHandler"),
    ],
)
def test_a_demo_whose_server_never_answers_fails_instead_of_hanging(module, handler, monkeypatch):
    def silent(self: object) -> None:
        time.sleep(1.0)  # longer than the client waits; then the request ends

    monkeypatch.setattr(getattr(module, handler), "handle", silent)
    monkeypatch.setattr(module, "CLIENT_TIMEOUT", 0.2)
    with pytest.raises(TimeoutError):
        module.demo("127.0.0.1", 0)


def test_forking_server_without_os_fork_says_so(monkeypatch, capsys):
    monkeypatch.delattr(os, "fork")
    assert forking_server.main([]) == 1
    assert capsys.readouterr().err == (
        f"{forking_server.PROGRAM}: error: this platform has no os.fork; try threaded-server\n"
    )


def test_a_thread_without_a_name_is_named_after_its_target():
    def target() -> None:
        pass

    assert re.fullmatch(r"Thread-\d+ \(target\)", threading.Thread(target=target).name)


# -- What the clients say when the other side misbehaves -----------------------------------------


@contextmanager
def one_shot_server(reply: bytes | None) -> Iterator[int]:
    """A loopback TCP server for one client: read its line, then send ``reply`` (None: reset)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(WAIT)  # a client that never comes ends the thread, with an error

        def serve_one() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.settimeout(WAIT)
                connection.recv(100)
                if reply is None:  # close with a reset: linger on, for 0 seconds
                    connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                    )
                else:
                    connection.sendall(reply)

        worker = threading.Thread(target=serve_one)
        worker.start()
        try:
            yield listener.getsockname()[1]
        finally:
            worker.join(WAIT)


def test_a_reply_that_is_not_utf8_is_one_line_not_a_traceback():
    with one_shot_server(b"\xff\xfe\n") as port:
        result = run(example("tcp_client") + ["--port", str(port), "hello"])
    assert result.returncode == 1
    assert result.stderr.endswith(f"the reply from localhost port {port} is not UTF-8 text\n")


def test_a_connection_reset_is_one_line_naming_the_system_error():
    with one_shot_server(None) as port:
        result = run(example("tcp_client") + ["--port", str(port), "hello"])
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.endswith(f"talking to localhost port {port} failed: Connection reset by peer")


# -- The tour's own checks -------------------------------------------------------------------------


def test_the_tour_kills_a_server_that_ignores_ctrl_c_and_fails_the_example():
    def ignore_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    context = tour.Context(timeout=0.5)
    process = subprocess.Popen(
        context.command("udp_server", "--host", tour.HOST, "--port", "0"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=context.env,
        preexec_fn=ignore_sigint,
    )
    try:
        _, early = tour.read_banner(process, WAIT, "udp_server")
    finally:
        output = tour.stop_server(process, context.timeout, b"")
    report = tour.Report("k", "killed")
    tour.check_server_ending(report, output, "udp_server")
    assert output.returncode == -signal.SIGKILL
    assert (
        output.stderr_lines[-1] == "(the tour killed the server: still running 0.5 s after Ctrl-C)"
    )
    assert "udp_server exited with status -9 after Ctrl-C" in report.problems
    assert early.startswith(b"Serving UDP")


def test_ctrl_c_stops_the_tour_after_it_has_ended_every_program_it_started():
    command = [sys.executable, "-m", "socketserver_lit", "tour"]
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
        start_new_session=True,  # its own process group: what is left of it can be found
    ) as process:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("socketserver-lit tour: ")
        time.sleep(0.3)  # the first example's programs are running
        process.send_signal(signal.SIGINT)  # to the tour only, not to its group
        _, stderr = process.communicate(timeout=WAIT)
    assert stderr == "Stopped by Ctrl-C; every program the tour started has ended.\n"
    assert process.returncode == -signal.SIGINT
    with pytest.raises(ProcessLookupError):  # nothing left in the tour's process group
        os.killpg(process.pid, 0)


def test_the_tour_fails_a_program_that_writes_to_standard_error():
    completed = subprocess.CompletedProcess(
        [sys.executable, "-m", "socketserver_lit.examples.udp_client"], 0, "", "oops\n"
    )
    report = tour.Report("noisy", "noisy")
    tour.check_program_ending(report, completed)
    assert report.problems == ["udp_client wrote to standard error:\noops"]
    assert not report.passed

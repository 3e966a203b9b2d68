"""What the course says about slow clients, floods and backpressure, run.

``notebooks/course/05-deaf-server.ipynb`` and
``notebooks/course/09-slow-clients-backpressure.ipynb`` show most of what they claim in
their own outputs, for our module, on Python 3.11 and 3.13. Each test here backs one
sentence that a notebook states but does not show, or shows for our module only: what a
handler's ``timeout`` bounds (each blocking call: each ``recv()``, each ``sendall()`` as
a whole), what a client that does not read or is cut off sees, what a flood costs each
server type, the kernel's listen queue when it is full (and that
``net.ipv4.tcp_abort_on_overflow`` does not change it), and what our pool bounds. Every
test names its notebook and quotes its sentence in its docstring. Where a sentence is
about ``socketserver``, the test runs it on the standard library's module and on ours;
our pool (``ThreadPoolTCPServer``, ``max_queued_requests``) exists only in ours.

Platform: Linux (socket buffer sizes, the listen queue, ``/proc``); Python 3.10 to 3.13.
Every socket is closed, every server shut down and closed, every thread joined, every
wait bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import claims_support
import pytest
from claims_support import try_connect
from server_support import JOIN_TIMEOUT, receive_all, serving, stays, wait_for

import socketserver_lit

NOTEBOOK_5 = "05-deaf-server"
NOTEBOOK_9 = "09-slow-clients-backpressure"

# Seconds any socket call may wait before the test fails instead of hanging.
WAIT = 5.0
# The handler timeout of the per-call scenarios, in seconds, and the client's pace: each
# pause is well inside one timeout, and the whole conversation lasts several timeouts.
TIMEOUT = 0.3
PACE = 0.15
# The notebooks' reply: large enough to fill two small socket buffers many times over.
REPLY = bytes(range(256)) * 2048  # 512 KiB
PIECE = 16 * 1024
SMALL_BUFFER = 32 * 1024


# The stdlib's socketserver, then ours, for each test that takes ``module``.
module = claims_support.stdlib_then_ours


# -- Helpers ----------------------------------------------------------------------------------


def served(server: Any) -> contextlib.AbstractContextManager[Any]:
    """Run ``server`` in a thread for the block (a short poll interval: the stdlib's shutdown
    waits for it), then shut it down and close it."""
    return serving(server, poll_interval=0.05)


def read_line(sock: socket.socket) -> bytes:
    with sock.makefile("rb") as lines:
        return lines.readline(100)


@contextlib.contextmanager
def clients(address: Any, count: int, timeout: float = WAIT) -> Iterator[list[socket.socket]]:
    """``count`` connected, silent client sockets; all closed at the end."""
    opened: list[socket.socket] = []
    try:
        for _ in range(count):
            opened.append(socket.create_connection(address, timeout=timeout))
        yield opened
    finally:
        for sock in opened:
            sock.close()


def ask_each(opened: list[socket.socket]) -> list[bytes]:
    """Send ``client N`` on each socket, then read one reply line from each."""
    for number, sock in enumerate(opened):
        sock.sendall(b"client %d\n" % number)
    return [read_line(sock) for sock in opened]


def expected_answers(count: int) -> list[bytes]:
    return [b"CLIENT %d\n" % number for number in range(count)]


def upper_handler(module: Any, timeout: float | None = WAIT) -> Any:
    """A handler that reads one line and answers it in capitals (the notebooks' service)."""

    class UpperHandler(module.StreamRequestHandler):
        def handle(self) -> None:
            self.wfile.write(self.rfile.readline(100).upper())

    UpperHandler.timeout = timeout
    return UpperHandler


def listen_overflows() -> int:
    with open("/proc/net/netstat") as netstat:
        lines = netstat.read().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            return int(dict(zip(names.split(), values.split(), strict=True))["ListenOverflows"])
    raise AssertionError("no TcpExt line in /proc/net/netstat")


# -- The reply scenarios of notebook 9 ------------------------------------------------------


def watched_server(module: Any, handler_class: Any) -> Any:
    """A threading server that records how its one request ended, and how long it took."""

    class Watched(module.ThreadingTCPServer):
        daemon_threads = False

        def server_activate(self) -> None:
            super().server_activate()
            self.done = threading.Event()
            self.outcome: str | None = None
            self.took = 0.0
            self.connection: socket.socket | None = None

        def finish_request(self, request: Any, client_address: Any) -> None:
            self.connection = request
            started = time.monotonic()
            try:
                super().finish_request(request, client_address)
                self.outcome = "answered"
            finally:
                self.took = time.monotonic() - started

        def handle_error(self, request: Any, client_address: Any) -> None:
            self.outcome = type(sys.exc_info()[1]).__name__

        def shutdown_request(self, request: Any) -> None:
            super().shutdown_request(request)
            self.done.set()

    return Watched(("127.0.0.1", 0), handler_class)


def reply_handler(module: Any, timeout: float | None, one_write: bool = False) -> Any:
    """The notebook's ReplyHandler: a small send buffer; REPLY in pieces (or one write)."""

    class ReplyHandler(module.StreamRequestHandler):
        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)

        def handle(self) -> None:
            self.rfile.readline(100)
            if one_write:
                self.wfile.write(REPLY)
                return
            for start in range(0, len(REPLY), PIECE):
                self.wfile.write(REPLY[start : start + PIECE])

    ReplyHandler.timeout = timeout
    return ReplyHandler


def small_client(address: Any) -> socket.socket:
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
    client.settimeout(WAIT)
    client.connect(address)
    return client


def read_steadily(client: socket.socket, pause: float = 0.2) -> bytes:
    """The notebook's slow reader: at most 64 KiB, then a pause, until the end of the stream."""
    chunks = []
    deadline = time.monotonic() + 2 * WAIT
    while (chunk := client.recv(64 * 1024)) and time.monotonic() < deadline:
        chunks.append(chunk)
        time.sleep(pause)
    return b"".join(chunks)


def serve_reply(module: Any, handler_class: Any, client_part: Callable[..., bytes]) -> Any:
    """Serve one small client with ``handler_class``; return (outcome, took, received)."""
    server = watched_server(module, handler_class)
    with served(server):
        with small_client(server.server_address) as client:
            client.sendall(b"the reply, please\n")
            received = client_part(client, server)
        assert server.done.wait(WAIT), "the request did not end"
    return server.outcome, server.took, received


# -- Notebook 5: the deaf server ---------------------------------------------------------------


def test_a_busy_tcpserver_lets_new_clients_connect_but_reads_them_only_after_the_slow_one(module):
    """05-deaf-server: "The probes' connect() calls succeeded (the kernel completed their
    connections and kept them in its listen queue), but nobody called accept() for them until
    the slow client had spoken"."""
    accepted: list[Any] = []

    class Server(module.TCPServer):
        def get_request(self) -> Any:
            request = super().get_request()
            accepted.append(request)
            return request

    server = Server(("127.0.0.1", 0), upper_handler(module))
    with served(server), clients(server.server_address, 1) as (slow,):
        wait_for(lambda: len(accepted) == 1, "the slow client to be accepted")
        with socket.create_connection(server.server_address, timeout=WAIT) as probe:
            probe.sendall(b"probe\n")
            assert stays(lambda: len(accepted) == 1), "accepted the probe while busy"
            slow.sendall(b"slow\n")
            assert read_line(slow) == b"SLOW\n"
            assert read_line(probe) == b"PROBE\n"
    assert len(accepted) == 2


def test_threading_forking_and_pool_servers_each_override_process_request(module):
    """05-deaf-server: "ThreadingTCPServer, ForkingTCPServer and ThreadPoolTCPServer each
    override process_request: theirs hands the connection to someone else ... and returns"."""
    mixins = [module.ThreadingMixIn, module.ForkingMixIn]
    if module is socketserver_lit:
        mixins.append(socketserver_lit.ThreadPoolMixIn)
    for mixin in mixins:
        assert "process_request" in vars(mixin), mixin.__name__
    for server_class in (module.ThreadingTCPServer, module.ForkingTCPServer):
        assert server_class.process_request is not module.TCPServer.process_request


def test_threading_tcpserver_starts_one_thread_per_connected_client(module):
    """05-deaf-server: "A thread per connection, with no setting that limits how many";
    09-slow-clients-backpressure: "It has no setting that limits them: more clients, more
    threads" (30 silent clients, 30 request threads)."""
    before = set(threading.enumerate())

    def request_threads() -> int:
        return sum(1 for t in threading.enumerate() if t not in before and not t.daemon)

    server = module.ThreadingTCPServer(("127.0.0.1", 0), upper_handler(module))
    with served(server):
        serving_threads = request_threads()  # served() runs the loop in a daemon thread
        with clients(server.server_address, 30) as opened:
            wait_for(lambda: request_threads() == serving_threads + 30, "30 request threads")
            assert stays(lambda: request_threads() == serving_threads + 30)
            assert ask_each(opened) == expected_answers(30)


def test_a_forked_childs_changes_to_memory_stay_in_the_child(module):
    """05-deaf-server: "what a child changes in its memory stays in the child"."""

    class Handler(module.StreamRequestHandler):
        timeout = WAIT

        def handle(self) -> None:
            self.server.changed_by_handler = True  # in the child's copy of the server
            self.wfile.write(self.rfile.readline(100).upper())

    server = module.ForkingTCPServer(("127.0.0.1", 0), Handler)
    server.changed_by_handler = False
    with served(server), clients(server.server_address, 1) as opened:
        assert ask_each(opened) == expected_answers(1)
    assert server.changed_by_handler is False


def test_forking_servers_run_at_most_max_children_and_wait_at_the_limit(module):
    """05-deaf-server and 09-slow-clients-backpressure: "at most max_children children run at
    once (40, the stdlib's value; at the limit the server waits for a child to end before it
    forks another)"."""
    assert module.ForkingTCPServer.max_children == 40

    class Limited(module.ForkingTCPServer):
        max_children = 2

    server = Limited(("127.0.0.1", 0), upper_handler(module))

    def children() -> int:
        return len(server.active_children or ())

    with served(server), clients(server.server_address, 5) as opened:
        wait_for(lambda: children() == 2, "two children")
        assert stays(lambda: children() == 2), "forked beyond max_children"
        assert ask_each(opened) == expected_answers(5)


def test_a_client_cut_off_by_the_handler_timeout_reads_empty_bytes_then_a_later_send_fails(
    module,
):
    """05-deaf-server: ask() "Returns b'' if the server closed the connection without
    answering" (the slow client cut off in exercise 2); 09-slow-clients-backpressure: "its next
    bytes reach a closed connection, and the send after them fails". Not ConnectionResetError:
    five trials, each reads b'' and then meets BrokenPipeError (Linux)."""

    class Impatient(module.StreamRequestHandler):
        timeout = 0.05

        def handle(self) -> None:
            try:
                self.wfile.write(self.rfile.readline(100).upper())
            except TimeoutError:
                pass

    seen = []
    with module.TCPServer(("127.0.0.1", 0), Impatient) as server:
        for _ in range(5):
            with socket.create_connection(server.server_address, timeout=WAIT) as client:
                server.handle_request()  # waits 0.05 s for a line, then gives up
                client.sendall(b"too late\n")  # the first send after the close still goes
                seen.append(read_line(client))
                time.sleep(0.05)  # let the server's reset arrive
                with pytest.raises(BrokenPipeError):
                    client.sendall(b"and again\n")
    assert seen == [b""] * 5


def test_a_client_that_sends_one_byte_within_each_timeout_is_never_cut_off(module):
    """05-deaf-server: "a client that sends one byte at a time, each one before the timeout
    runs out, holds the handler for as long as it likes"; 09-slow-clients-backpressure:
    "rfile.readline() calls recv() as often as it needs to, and each call gets the full 0.3 s"
    (a 10-byte line over 1.5 s against a 0.3 s timeout)."""
    server = watched_server(module, upper_handler(module, timeout=TIMEOUT))
    with served(server), socket.create_connection(server.server_address, timeout=WAIT) as client:
        for byte in b"trickling\n":
            client.sendall(bytes([byte]))
            time.sleep(PACE)
        assert receive_all(client) == b"TRICKLING\n"
        assert server.done.wait(WAIT)
    assert server.outcome == "answered"
    assert server.took > 4 * TIMEOUT


def test_the_handler_timeout_becomes_the_connection_timeout_and_readline_raises_timeouterror(
    module,
):
    """05-deaf-server, exercise 2: "if it is not None, the connection gets that socket timeout,
    and a readline() that waits longer raises TimeoutError"; 09-slow-clients-backpressure: "Set
    it, and setup() gives the connection that socket timeout"."""
    seen: list[Any] = []

    class Handler(module.StreamRequestHandler):
        timeout = 0.1

        def handle(self) -> None:
            seen.append(self.connection.gettimeout())
            try:
                self.rfile.readline(100)
            except Exception as error:
                seen.append(type(error))

    with module.TCPServer(("127.0.0.1", 0), Handler) as server:
        with socket.create_connection(server.server_address, timeout=WAIT):
            server.handle_request()
    assert seen == [0.1, TimeoutError]


def test_the_pool_runs_at_most_max_workers_threads():
    """05-deaf-server: "ThreadPoolTCPServer runs at most max_workers threads" (ours)."""
    before = set(threading.enumerate())

    class Pool(socketserver_lit.ThreadPoolTCPServer):
        max_workers = 3
        max_queued_requests = None
        request_queue_size = 16

    def workers() -> int:
        return sum(1 for t in threading.enumerate() if t not in before and not t.daemon)

    server = Pool(("127.0.0.1", 0), upper_handler(socketserver_lit))
    with served(server), clients(server.server_address, 8) as opened:
        wait_for(lambda: workers() == 3, "three workers")
        assert stays(lambda: workers() == 3)
        assert ask_each(opened) == expected_answers(8)


def test_the_pools_defaults_are_cpu_count_plus_4_at_most_32_for_workers_and_queue():
    """05-deaf-server: "max_workers (by default the rule of concurrent.futures.
    ThreadPoolExecutor: the CPU count plus 4, at most 32)"; "By default max_queued_requests
    is as large as the default max_workers" (ours)."""
    default = min(32, (os.cpu_count() or 1) + 4)
    assert socketserver_lit.ThreadPoolTCPServer.max_workers == default
    assert socketserver_lit.ThreadPoolTCPServer.max_queued_requests == default


# -- Notebook 9: slow readers and timeouts ---------------------------------------------------


def test_stream_request_handler_timeout_is_none_by_default(module):
    """09-slow-clients-backpressure: "StreamRequestHandler.timeout is None by default, in the
    stdlib and here"."""
    assert module.StreamRequestHandler.timeout is None


def test_a_client_that_does_not_read_holds_the_handler_in_wfile_write(module):
    """09-slow-clients-backpressure: "A client that never reads holds the handler (here its
    thread) for as long as it likes": with no timeout, the handler is still writing after 1 s
    and ends once the client reads."""
    server = watched_server(module, reply_handler(module, timeout=None))
    with served(server), small_client(server.server_address) as client:
        client.sendall(b"the reply, please\n")
        assert not server.done.wait(1.0), "the handler ended although nobody read"
        assert receive_all(client) == REPLY
        assert server.done.wait(WAIT)
    assert server.outcome == "answered"


def test_wfile_write_is_one_sendall_call(module):
    """09-slow-clients-backpressure: "wfile.write() (our SocketWriter.write, which is one call to
    sendall(), as in the stdlib's wfile)"."""

    class CountingSocket(socket.socket):
        def sendall(self, data: Any, *flags: int) -> None:
            self.sendall_sizes.append(memoryview(data).nbytes)
            super().sendall(data, *flags)

    class Server(module.TCPServer):
        def get_request(self) -> Any:
            request, client_address = super().get_request()
            counting = CountingSocket(
                request.family, request.type, request.proto, fileno=request.detach()
            )
            counting.sendall_sizes = []
            self.counting = counting
            return counting, client_address

    class Handler(module.StreamRequestHandler):
        def handle(self) -> None:
            self.wfile.write(b"a" * 10)
            self.wfile.write(REPLY)

    with Server(("127.0.0.1", 0), Handler) as server:
        with socket.create_connection(server.server_address, timeout=WAIT) as client:
            reader = threading.Thread(target=lambda: server.received.append(receive_all(client)))
            server.received = []
            reader.start()
            server.handle_request()
            reader.join(JOIN_TIMEOUT)
    assert server.counting.sendall_sizes == [10, len(REPLY)]
    assert server.received == [b"a" * 10 + REPLY]


def test_a_client_that_never_reads_is_cut_off_after_one_timeout(module):
    """09-slow-clients-backpressure: "the handler's next write() waited 0.3 s for room and
    raised TimeoutError"."""
    outcome, took, _ = serve_reply(
        module, reply_handler(module, TIMEOUT), lambda client, server: server.done.wait(WAIT)
    )
    assert outcome == "TimeoutError"
    assert took >= TIMEOUT


def test_a_steady_slow_reader_is_never_cut_off_by_a_per_call_timeout(module):
    """09-slow-clients-backpressure: "The slow but steady reader was never cut off, although its
    request took several times the timeout: every single write() found room in time"."""
    outcome, took, received = serve_reply(
        module, reply_handler(module, TIMEOUT), lambda client, server: read_steadily(client)
    )
    assert outcome == "answered" and received == REPLY
    assert took > 2 * TIMEOUT


def test_one_write_of_the_whole_reply_is_cut_off_after_the_timeout_although_the_client_reads(
    module,
):
    """09-slow-clients-backpressure: "a socket timeout bounds the whole of a sendall() call
    (Python 3.5 and later), however much it has sent meanwhile. So the same steady reader was
    cut off after 0.3 s"."""
    outcome, took, received = serve_reply(
        module,
        reply_handler(module, TIMEOUT, one_write=True),
        lambda client, server: read_steadily(client),
    )
    assert outcome == "TimeoutError"
    assert len(SMALL_BUFFER * b"x") < len(received) < len(REPLY)  # it did send, for a while
    assert TIMEOUT <= took < 3 * TIMEOUT


def test_the_monotonic_clock_cannot_be_adjusted():
    """09-slow-clients-backpressure: "time.monotonic(), not time.time(): a clock that is reset or
    adjusted must not move the deadline"."""
    assert time.get_clock_info("monotonic").adjustable is False
    assert time.get_clock_info("time").adjustable is True


# -- Notebook 9: the listen queue ------------------------------------------------------------


def test_request_queue_size_is_5_by_default(module):
    """09-slow-clients-backpressure: "its size is request_queue_size, the backlog the server
    passes to listen() (5 by default, in the stdlib and here)"."""
    assert module.TCPServer.request_queue_size == 5
    backlogs = []

    class Server(module.TCPServer):
        request_queue_size = 7

    with Server(("127.0.0.1", 0), None, bind_and_activate=False) as server:
        server.socket = _RecordingListen(server.socket, backlogs)
        server.server_bind()
        server.server_activate()
    assert backlogs == [7]


class _RecordingListen:
    """Wraps a socket and records the backlog of each listen() call."""

    def __init__(self, sock: socket.socket, backlogs: list[int]):
        self._sock, self._backlogs = sock, backlogs

    def listen(self, backlog: int) -> None:
        self._backlogs.append(backlog)
        self._sock.listen(backlog)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def test_clients_beyond_a_full_listen_queue_time_out_and_are_counted_as_overflows(module):
    """09-slow-clients-backpressure: a busy TCPServer with request_queue_size 2 lets three more
    clients connect; "The next three were not told 'no': the kernel dropped their requests to
    connect (... counted in ListenOverflows ...), and their connect() kept waiting ... until it
    timed out" (Linux)."""
    serving_first = threading.Event()

    class Handler(upper_handler(module)):  # type: ignore[misc]
        def handle(self) -> None:
            serving_first.set()
            super().handle()

    class SmallBacklog(module.TCPServer):
        request_queue_size = 2

    opened: list[socket.socket] = []
    server = SmallBacklog(("127.0.0.1", 0), Handler)
    try:
        with served(server):
            opened.append(socket.create_connection(server.server_address, timeout=WAIT))
            assert serving_first.wait(WAIT)
            before = listen_overflows()
            outcomes = [try_connect(server.server_address, opened) for _ in range(6)]
            overflows = listen_overflows() - before
            assert ask_each(opened) == expected_answers(4)
    finally:
        for sock in opened:
            sock.close()
    assert outcomes == ["connected"] * 3 + ["timed out"] * 3
    assert overflows >= 3


def test_a_client_beyond_a_full_queue_connects_once_room_frees_within_its_timeout():
    """09-slow-clients-backpressure: "their connect() kept waiting, and retrying": a client
    whose SYN was dropped connects when the queue gets room 0.5 s later (3 s timeout)."""
    opened: list[socket.socket] = []
    accepted: list[socket.socket] = []
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)  # one connection may wait
        listener.settimeout(WAIT)
        waiting = socket.create_connection(listener.getsockname(), timeout=WAIT)
        accept_later = threading.Timer(0.5, lambda: accepted.append(listener.accept()[0]))
        accept_later.start()
        try:
            outcome = try_connect(listener.getsockname(), opened, timeout=3)
        finally:
            accept_later.join(WAIT)
            for sock in [waiting, *accepted, *opened]:
                sock.close()
    assert outcome == "connected"


def test_connecting_where_nobody_listens_is_refused():
    """09-slow-clients-backpressure: ""refused" means nobody listens on that port at all"."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as finder:
        finder.bind(("127.0.0.1", 0))
        address = finder.getsockname()
    opened: list[socket.socket] = []
    assert try_connect(address, opened) == "refused"
    assert opened == []


# Runs in a new user and network namespace, where it may set the namespace's own
# tcp_abort_on_overflow without touching the machine's: brings the loopback interface up,
# sets the switch, fills a listen queue, and prints what the next clients saw.
ABORT_ON_OVERFLOW_SCENARIO = textwrap.dedent(
    """
    import fcntl, json, socket, struct
    SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as control:
        request = struct.pack("16sH22x", b"lo", 0)  # struct ifreq: a name, then the flags
        flags = struct.unpack("16sH22x", fcntl.ioctl(control, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(control, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))
    with open("/proc/sys/net/ipv4/tcp_abort_on_overflow") as setting:
        default = setting.read().strip()
    with open("/proc/sys/net/ipv4/tcp_abort_on_overflow", "w") as setting:
        setting.write("1")
    with open("/proc/sys/net/ipv4/tcp_abort_on_overflow") as setting:
        value = setting.read().strip()
    outcomes, opened = [], []
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        for _ in range(4):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.settimeout(0.3)
            try:
                sock.connect(listener.getsockname())
                outcomes.append("connected")
                opened.append(sock)
            except ConnectionRefusedError:
                outcomes.append("refused")
                sock.close()
            except TimeoutError:
                outcomes.append("timed out")
                sock.close()
    for sock in opened:
        sock.close()
    print(json.dumps({"default": default, "setting": value, "outcomes": outcomes}))
    """
)


def test_tcp_abort_on_overflow_set_to_1_still_leaves_clients_beyond_a_full_queue_timing_out():
    """09-slow-clients-backpressure: "net.ipv4.tcp_abort_on_overflow (printed above: 0, the
    default). It does not change what these clients see: with it set to 1, they still time out,
    because their SYN is dropped before any handshake begins" (Linux; run in a user and network
    namespace of its own, which starts with the kernel's default, so the machine's setting is
    untouched)."""
    result = subprocess.run(
        [
            "unshare",
            "--user",
            "--map-root-user",
            "--net",
            sys.executable,
            "-c",
            ABORT_ON_OVERFLOW_SCENARIO,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, (
        "could not run the scenario in a network namespace of its own (unshare needs user "
        f"namespaces): {result.stderr.strip()}"
    )
    seen = json.loads(result.stdout)
    assert seen == {
        "default": "0",
        "setting": "1",
        "outcomes": ["connected", "connected", "timed out", "timed out"],
    }


# -- Notebook 9: what our pool bounds --------------------------------------------------------


def test_a_pool_accepts_workers_plus_queue_the_kernel_holds_backlog_plus_one_and_all_are_served():
    """09-slow-clients-backpressure: "the whole capacity of a server, before clients start
    timing out, is what it accepts plus request_queue_size + 1 in the kernel. For our pool,
    what it accepts is at most max_workers + max_queued_requests; nothing it has accepted is
    ever dropped" (exercise 1's numbers: 2 + 3 accepted, 3 more waiting, 2 timing out)."""
    accepted: list[Any] = []

    class SmallPool(socketserver_lit.ThreadPoolTCPServer):
        max_workers = 2
        max_queued_requests = 3
        request_queue_size = 2

        def get_request(self) -> Any:
            request = super().get_request()
            accepted.append(request)
            return request

    opened: list[socket.socket] = []
    server = SmallPool(("127.0.0.1", 0), upper_handler(socketserver_lit))
    try:
        with served(server):
            outcomes = []
            for _ in range(10):
                outcomes.append(try_connect(server.server_address, opened))
                if len(accepted) < 5:  # let the pool take each one it has room for
                    wait_for(lambda: len(accepted) == len(opened), "the pool to accept")
            assert stays(lambda: len(accepted) == 5), "the pool accepted beyond its bound"
            assert ask_each(opened) == expected_answers(8)
    finally:
        for sock in opened:
            sock.close()
    assert outcomes == ["connected"] * 8 + ["timed out"] * 2
    assert len(accepted) == 8


def test_a_pool_without_a_queue_bound_accepts_every_client_but_bounds_its_threads():
    """09-slow-clients-backpressure: "without a bound on its queue, a pool bounds only its
    threads, and a flood costs it one socket per client"; 05-deaf-server: "None removes the
    bound on the queue, and the pool then bounds only its threads" (ours)."""
    before = set(threading.enumerate())
    accepted: list[Any] = []

    class Unbounded(socketserver_lit.ThreadPoolTCPServer):
        max_workers = 2
        max_queued_requests = None
        request_queue_size = 32

        def get_request(self) -> Any:
            request = super().get_request()
            accepted.append(request)
            return request

    def workers() -> int:
        return sum(1 for t in threading.enumerate() if t not in before and not t.daemon)

    server = Unbounded(("127.0.0.1", 0), upper_handler(socketserver_lit))
    with served(server), clients(server.server_address, 20) as opened:
        wait_for(lambda: len(accepted) == 20, "every client to be accepted")
        assert workers() == 2
        assert ask_each(opened) == expected_answers(20)

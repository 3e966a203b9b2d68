"""The servers under test: one process, one implementation, one job.

The harness (`bench/run.py`) never serves anything itself. For every case it starts this
module in a fresh Python process, once per implementation, so that the three contenders
never share an interpreter, a GIL, an allocator or a garbage collector:

    python -m bench.servers IMPL KIND HANDLER [--max-workers N]
    python -m bench.servers IMPL KIND slow_echo [--max-workers N] [--max-queued-requests N|none]
                                                 [--request-queue-size N|default]
    python -m bench.servers IMPL shutdown --cycles N [--first-cycle K]

`IMPL` is one of

* `stdlib` -- the standard library's `socketserver`, the reference we must match;
* `lit`    -- `socketserver_lit`, the same classes re-implemented by this project;
* `bare`   -- a hand-written loop on the `socket` module with no framework at all. It does
  the same protocol work as the handlers below and nothing else, so it is the floor: what
  Python itself costs. A framework can only be slower than this; the question is by how much.

`KIND` is the server shape (`tcp`, `threading`, `threadpool`, `forking`, `udp`) and `HANDLER`
the protocol (`short_echo`, `lines`, `bulk`, `datagram_echo`). The protocol bodies are plain
functions shared by all three implementations, so a difference in the numbers can only come
from the server machinery around them.

`slow_echo` is the flood's handler (stdlib and lit only): it echoes one line after
SLOW_HANDLER_SECONDS of work, counts what it did, and the process prints those counts and the
server's own settings as `RESULT <json>` when it exits. Its server listens with the backlog
the harness asks for; `--request-queue-size default` keeps the class's own
`request_queue_size` (5 in both modules), which is what the flood measures.

The process binds 127.0.0.1 port 0, prints `PORT <n>` on stdout and serves until its
standard input reaches end-of-file; then it shuts the server down, closes it and exits 0.
Closing stdin is the harness's only way to stop a server, and it works the same way for all
three implementations. Anything unexpected goes to stderr, which the harness treats as a
failure of the run.

The `shutdown` mode measures something different: how long `shutdown()` takes to return
while `serve_forever()` idles at its default `poll_interval`. It runs its own cycles in this
process and prints `RESULT <json>`.

Read next: `bench/clients.py` (the load each case puts on these servers) and `bench/run.py`
(how the samples are taken and compared).
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import json
import os
import queue
import selectors
import socket
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any, BinaryIO

LOOPBACK = "127.0.0.1"
# The listen backlog of every TCP server here, framework or bare. Not the default
# request_queue_size of 5: with 8 concurrent clients, a server whose accepting thread is
# briefly kept off the CPU lets more than 5 connections queue up, the kernel drops the next
# SYN (it counts these as ListenOverflows in /proc/net/netstat) and that client waits out
# TCP's 1-second SYN retransmission timer. A handful of such stalls swamp a one-second
# sample and measure the kernel's timer, not the server. 128 is the classic SOMAXCONN.
LISTEN_BACKLOG = 128
# UDPServer.max_packet_size in the stdlib.
MAX_DATAGRAM = 8192
# A request line longer than this is a client bug, not a benchmark load.
MAX_LINE = 65536
# The bulk handler writes through wfile in slices of this size (a common socket buffer).
BULK_CHUNK = 64 * 1024
BULK_PAYLOAD = b"x" * BULK_CHUNK
# How long the shutdown cycles let serve_forever() idle before calling shutdown():
# at least this much, plus a phase spread over one whole poll interval.
SHUTDOWN_SETTLE_SECONDS = 0.02
STDLIB_POLL_INTERVAL = 0.5
# Worker threads of the bare pool: concurrent.futures.ThreadPoolExecutor's rule, which is
# also ThreadPoolTCPServer's default max_workers, so both pools have the same size.
DEFAULT_POOL_WORKERS = min(32, (os.cpu_count() or 1) + 4)

# The flood's handler keeps its thread this long per request, as a handler waiting on a
# database or another service would: four workers then serve at most 80 requests a second,
# far fewer than a flood brings.
SLOW_HANDLER_SECONDS = 0.05

IMPLEMENTATIONS = ("stdlib", "lit", "bare")
SERVER_KINDS = ("tcp", "threading", "threadpool", "forking", "udp")
HANDLERS = ("short_echo", "lines", "bulk", "datagram_echo", "slow_echo")
# Marks an option the harness did not give: the server class keeps its own attribute.
CLASS_DEFAULT: Any = object()


# ---------------------------------------------------------------------------------------
# The protocols. Each function is the whole of a handler's work, written once.
# ---------------------------------------------------------------------------------------


def echo_one_line(connection: socket.socket) -> None:
    """Read one newline-terminated request from a connection and send it straight back.

    The loop is needed even for a five-byte request: TCP may deliver it in pieces.
    """
    pieces = []
    received = 0
    while received < MAX_LINE:
        piece = connection.recv(4096)
        if not piece:
            break
        pieces.append(piece)
        received += len(piece)
        if piece.endswith(b"\n"):
            break
    connection.sendall(b"".join(pieces))


def echo_lines(rfile: BinaryIO, write: Callable[[bytes], Any]) -> None:
    """Answer every line of a long-lived connection with the same line."""
    while True:
        line = rfile.readline(MAX_LINE)
        if not line:
            return
        write(line)


def stream_bulk(rfile: BinaryIO, write: Callable[[bytes], Any]) -> None:
    """For each request line holding a byte count, write that many bytes back.

    The count is rounded up to whole chunks; the client asks for whole chunks anyway.
    """
    while True:
        line = rfile.readline(MAX_LINE)
        if not line:
            return
        remaining = int(line)
        while remaining > 0:
            write(BULK_PAYLOAD)
            remaining -= BULK_CHUNK


def echo_datagram(data: bytes, sock: socket.socket, client_address: Any) -> None:
    """Send one datagram back where it came from."""
    sock.sendto(data, client_address)


class FloodCounters:
    """What the slow handler did in this process, counted across its threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts = {"handled": 0, "replied": 0, "client_gone": 0}

    def add(self, name: str) -> None:
        with self.lock:
            self.counts[name] += 1


FLOOD_COUNTERS = FloodCounters()


def client_has_left(connection: socket.socket) -> bool:
    """True if the client has closed its end (or reset it) while we worked.

    A flood client that gives up closes its socket, and the kernel then reports the end of
    the stream to a peek; a client still waiting has sent its line and nothing more.
    """
    try:
        return connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def echo_one_line_slowly(connection: socket.socket, counters: FloodCounters) -> None:
    """Read one line, work for SLOW_HANDLER_SECONDS, then echo it if the client still waits.

    Every request this handler sees is counted once as `handled`, then either as `replied`
    or as `client_gone` (the client gave up before the reply: work done for no one). A
    vanished client is an expected outcome of a flood, so it is counted, never raised.
    """
    try:
        pieces = []
        while True:
            piece = connection.recv(4096)
            pieces.append(piece)
            if not piece or piece.endswith(b"\n") or sum(map(len, pieces)) >= MAX_LINE:
                break
        time.sleep(SLOW_HANDLER_SECONDS)
        if client_has_left(connection):
            counters.add("client_gone")
            return
        connection.sendall(b"".join(pieces))
        counters.add("replied")
    except OSError:
        counters.add("client_gone")
    finally:
        counters.add("handled")


# ---------------------------------------------------------------------------------------
# stdlib and lit: the same handler classes built on either module.
# ---------------------------------------------------------------------------------------


def framework_module(implementation: str) -> ModuleType:
    """Import the module under test: the standard library's or ours."""
    if implementation == "stdlib":
        import socketserver

        return socketserver
    if implementation == "lit":
        import socketserver_lit

        return socketserver_lit
    raise ValueError(f"{implementation!r} is not a framework; expected 'stdlib' or 'lit'")


def framework_server_class(module: ModuleType, kind: str) -> type:
    """Pick the server class for a kind.

    The stdlib has no thread pool, so its counterpart of ThreadPoolTCPServer is the
    thread-per-request ThreadingTCPServer: the class a stdlib user would reach for.
    """
    if kind == "threadpool" and not hasattr(module, "ThreadPoolTCPServer"):
        kind = "threading"
    names = {
        "tcp": "TCPServer",
        "threading": "ThreadingTCPServer",
        "threadpool": "ThreadPoolTCPServer",
        "forking": "ForkingTCPServer",
        "udp": "UDPServer",
    }
    return getattr(module, names[kind])


def framework_handler_class(module: ModuleType, handler: str) -> type:
    """Build the request handler class for a protocol on top of `module`'s base classes."""
    if handler == "short_echo":

        class ShortEcho(module.BaseRequestHandler):
            def handle(self) -> None:
                echo_one_line(self.request)

        return ShortEcho
    if handler == "lines":

        class LineEcho(module.StreamRequestHandler):
            def handle(self) -> None:
                echo_lines(self.rfile, self.wfile.write)

        return LineEcho
    if handler == "bulk":

        class BulkWriter(module.StreamRequestHandler):
            def handle(self) -> None:
                stream_bulk(self.rfile, self.wfile.write)

        return BulkWriter
    if handler == "datagram_echo":

        class DatagramEcho(module.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                echo_datagram(data, sock, self.client_address)

        return DatagramEcho
    if handler == "slow_echo":

        class SlowEcho(module.BaseRequestHandler):
            def handle(self) -> None:
                echo_one_line_slowly(self.request, FLOOD_COUNTERS)

        return SlowEcho
    raise ValueError(f"unknown handler {handler!r}; expected one of {HANDLERS}")


def build_framework_server(
    implementation: str,
    kind: str,
    handler: str,
    max_workers: int | None,
    max_queued_requests: Any = CLASS_DEFAULT,
    request_queue_size: Any = LISTEN_BACKLOG,
):
    """Construct (and so bind and activate) a stdlib or lit server on an ephemeral port.

    The pool settings apply only to a class that has them (the stdlib has no pool);
    `CLASS_DEFAULT` keeps the class's own value.
    """
    module = framework_module(implementation)
    base_class = framework_server_class(module, kind)
    attributes = {}
    if request_queue_size is not CLASS_DEFAULT:
        attributes["request_queue_size"] = request_queue_size
    if max_workers is not None and hasattr(base_class, "max_workers"):
        attributes["max_workers"] = max_workers
    if max_queued_requests is not CLASS_DEFAULT and hasattr(base_class, "max_queued_requests"):
        attributes["max_queued_requests"] = max_queued_requests
    server_class = type(base_class.__name__, (base_class,), attributes)
    handler_class = framework_handler_class(module, handler)
    return server_class((LOOPBACK, 0), handler_class)


def server_settings(server: Any) -> dict[str, Any]:
    """What the flood report says about a server, read from the object that served."""
    base_class = type(server).__mro__[1]
    settings = {"class": f"{base_class.__module__}.{base_class.__qualname__}"}
    for name in ("request_queue_size", "max_workers", "max_queued_requests", "daemon_threads"):
        if hasattr(server, name):
            settings[name] = getattr(server, name)
    return settings


def serve_framework(
    implementation: str,
    kind: str,
    handler: str,
    max_workers: int | None,
    max_queued_requests: Any = CLASS_DEFAULT,
    request_queue_size: Any = LISTEN_BACKLOG,
) -> None:
    """Serve with the module's own serve_forever() until stdin closes."""
    with build_framework_server(
        implementation, kind, handler, max_workers, max_queued_requests, request_queue_size
    ) as server:
        announce_port(server.server_address[1])
        watcher = threading.Thread(
            target=call_at_stdin_eof, args=(server.shutdown,), name="stdin-watcher", daemon=True
        )
        watcher.start()
        # The default poll_interval (0.5 s for both modules): we measure what users get.
        server.serve_forever()
        watcher.join(timeout=10)
        settings = server_settings(server)
    # After server_close(), which waited for every request thread: the counts are final.
    if handler == "slow_echo":
        print("RESULT " + json.dumps({**FLOOD_COUNTERS.counts, "server": settings}), flush=True)


# ---------------------------------------------------------------------------------------
# bare: the floor, written directly on sockets.
# ---------------------------------------------------------------------------------------


class BareStop:
    """The stop signal of a bare loop: a flag plus a poke that unblocks its blocking call.

    The bare loops sit in a blocking accept() or recvfrom() with no poll interval, which is
    the cheapest way to wait and so the honest floor. To stop one, we set the flag and then
    send it one last connection or datagram; the loop sees the flag as soon as it wakes.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.requested = threading.Event()
        self.address = sock.getsockname()
        self.kind = sock.type

    def request(self) -> None:
        self.requested.set()
        if self.kind == socket.SOCK_STREAM:
            socket.create_connection(self.address, timeout=5).close()
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as poke:
                poke.sendto(b"", self.address)


def bare_listener(kind: str) -> socket.socket:
    if kind == "udp":
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((LOOPBACK, 0))
        return sock
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((LOOPBACK, 0))
    sock.listen(LISTEN_BACKLOG)
    return sock


def bare_connection_handler(handler: str) -> Callable[[socket.socket], None]:
    """The per-connection work of a bare server: the protocol, then close."""
    if handler == "short_echo":
        body = echo_one_line
    elif handler in ("lines", "bulk"):
        protocol = echo_lines if handler == "lines" else stream_bulk

        def body(connection: socket.socket) -> None:
            # What StreamRequestHandler sets up by default: a buffered reader, and
            # unbuffered writes that go straight to sendall().
            with connection.makefile("rb") as rfile:
                protocol(rfile, connection.sendall)
    else:
        raise ValueError(f"handler {handler!r} does not run on a stream server")

    def handle_and_close(connection: socket.socket) -> None:
        try:
            body(connection)
        finally:
            connection.close()

    return handle_and_close


def bare_accept_loop(listener: socket.socket, stop: BareStop, dispatch) -> None:
    while True:
        connection, _ = listener.accept()
        if stop.requested.is_set():
            connection.close()
            return
        dispatch(connection)


def bare_serve_sequential(listener, stop, handle) -> None:
    bare_accept_loop(listener, stop, handle)


def bare_serve_threading(listener, stop, handle) -> None:
    def dispatch(connection: socket.socket) -> None:
        threading.Thread(target=handle, args=(connection,), daemon=True).start()

    bare_accept_loop(listener, stop, dispatch)


def bare_serve_threadpool(listener, stop, handle, workers: int) -> None:
    connections: queue.SimpleQueue = queue.SimpleQueue()

    def work() -> None:
        while (connection := connections.get()) is not None:
            handle(connection)

    pool = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
    for thread in pool:
        thread.start()
    bare_accept_loop(listener, stop, connections.put)
    for _ in pool:
        connections.put(None)
    for thread in pool:
        thread.join(timeout=10)


def bare_serve_forking(listener, stop, handle) -> None:
    children = 0

    def dispatch(connection: socket.socket) -> None:
        nonlocal children
        pid = os.fork()
        if pid == 0:
            # The child: serve this one connection and leave without running any of the
            # parent's cleanup (atexit, buffered stdout) a second time.
            status = 1
            try:
                listener.close()
                handle(connection)
                status = 0
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(status)
        connection.close()
        children += 1
        while children:
            pid, _ = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            children -= 1

    bare_accept_loop(listener, stop, dispatch)
    while children:
        os.waitpid(-1, 0)
        children -= 1


def bare_serve_udp(sock: socket.socket, stop: BareStop) -> None:
    while True:
        data, client_address = sock.recvfrom(MAX_DATAGRAM)
        if stop.requested.is_set():
            return
        echo_datagram(data, sock, client_address)


def serve_bare(kind: str, handler: str, max_workers: int | None) -> None:
    """Serve with a hand-written loop until stdin closes."""
    with bare_listener(kind) as listener:
        stop = BareStop(listener)
        announce_port(listener.getsockname()[1])
        watcher = threading.Thread(
            target=call_at_stdin_eof, args=(stop.request,), name="stdin-watcher", daemon=True
        )
        watcher.start()
        if kind == "udp":
            bare_serve_udp(listener, stop)
        else:
            handle = bare_connection_handler(handler)
            if kind == "tcp":
                bare_serve_sequential(listener, stop, handle)
            elif kind == "threading":
                bare_serve_threading(listener, stop, handle)
            elif kind == "threadpool":
                bare_serve_threadpool(listener, stop, handle, max_workers or DEFAULT_POOL_WORKERS)
            elif kind == "forking":
                bare_serve_forking(listener, stop, handle)
            else:
                raise ValueError(f"unknown server kind {kind!r}; expected one of {SERVER_KINDS}")
        watcher.join(timeout=10)


# ---------------------------------------------------------------------------------------
# shutdown latency
# ---------------------------------------------------------------------------------------


class BareWakeableServer:
    """The floor for shutdown(): a selector loop woken by a self-pipe, nothing else."""

    def __init__(self) -> None:
        self.listener = bare_listener("tcp")
        self.wakeup_reader, self.wakeup_writer = os.pipe()
        self.stopped = threading.Event()

    def serve_forever(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.listener, selectors.EVENT_READ)
            selector.register(self.wakeup_reader, selectors.EVENT_READ)
            while True:
                for key, _ in selector.select():
                    if key.fileobj == self.wakeup_reader:
                        self.stopped.set()
                        return
                    connection, _ = self.listener.accept()
                    connection.close()

    def shutdown(self) -> None:
        os.write(self.wakeup_writer, b"\0")
        self.stopped.wait()

    def server_close(self) -> None:
        self.listener.close()
        os.close(self.wakeup_reader)
        os.close(self.wakeup_writer)


def shutdown_phase(cycle: int) -> float:
    """When, within one poll interval, cycle number `cycle` calls shutdown().

    A golden-ratio sequence spreads the calls evenly over the interval, so a server that
    only notices shutdown at its next poll shows its true average, not one lucky phase.
    """
    golden = 0.6180339887498949
    return SHUTDOWN_SETTLE_SECONDS + ((cycle * golden) % 1.0) * STDLIB_POLL_INTERVAL


def measure_shutdown(implementation: str, cycles: int, first_cycle: int) -> list[float]:
    """Seconds each shutdown() call took to return, one per cycle."""
    latencies = []
    for cycle in range(first_cycle, first_cycle + cycles):
        if implementation == "bare":
            server = BareWakeableServer()
        else:
            server = build_framework_server(implementation, "tcp", "short_echo", None)
        serving = threading.Thread(target=server.serve_forever, name="serving")
        serving.start()
        time.sleep(shutdown_phase(cycle))
        started = time.perf_counter()
        server.shutdown()
        latencies.append(time.perf_counter() - started)
        serving.join(timeout=10)
        server.server_close()
    return latencies


# ---------------------------------------------------------------------------------------
# process plumbing
# ---------------------------------------------------------------------------------------


def announce_port(port: int) -> None:
    print(f"PORT {port}", flush=True)


def call_at_stdin_eof(action: Callable[[], None]) -> None:
    """Block until the harness closes our stdin, then run `action` (a stop request)."""
    sys.stdin.buffer.read()
    action()


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.servers", description=__doc__.split("\n")[0]
    )
    parser.add_argument("implementation", choices=IMPLEMENTATIONS)
    parser.add_argument("kind", choices=SERVER_KINDS + ("shutdown",))
    parser.add_argument("handler", nargs="?", choices=HANDLERS)
    parser.add_argument("--max-workers", type=int, default=None)
    parser.add_argument(
        "--max-queued-requests",
        metavar="N|none",
        type=optional_count,
        default=CLASS_DEFAULT,
        help="a pool's bound on waiting requests, 'none' for no bound (default: the class's)",
    )
    parser.add_argument(
        "--request-queue-size",
        metavar="N|default",
        type=backlog_size,
        default=LISTEN_BACKLOG,
        help=f"the listen backlog; 'default' keeps the class's own (default: {LISTEN_BACKLOG})",
    )
    parser.add_argument("--cycles", type=int, default=5, help="shutdown mode: how many cycles")
    parser.add_argument("--first-cycle", type=int, default=0, help="shutdown mode: phase offset")
    parser.add_argument(
        "--profile",
        metavar="PATH",
        help="run the serving thread under cProfile and write its stats to PATH at exit",
    )
    arguments = parser.parse_args(argv)
    if arguments.kind != "shutdown" and arguments.handler is None:
        parser.error(f"server kind {arguments.kind!r} needs a handler: one of {HANDLERS}")
    if arguments.handler == "slow_echo" and arguments.implementation == "bare":
        parser.error("the slow_echo (flood) handler runs on the stdlib and lit servers only")
    return arguments


def optional_count(text: str) -> int | None:
    """'none' or a whole number of 0 or more (argparse type for --max-queued-requests)."""
    if text == "none":
        return None
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def backlog_size(text: str) -> Any:
    """'default' or a whole number (argparse type for --request-queue-size)."""
    return CLASS_DEFAULT if text == "default" else int(text)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    # Python 3.12+ warns when a process with several threads forks. Ours has two: the
    # serving thread and the stdin watcher, which sits in read() holding no lock a child
    # could need; every child serves one connection and leaves through os._exit(). The
    # warning is shown for the bare loop only because this module is __main__ (the
    # stdlib's and lit's forks happen in their own modules, where it is hidden by
    # default); silencing exactly it keeps stderr for real errors, which fail the run.
    warnings.filterwarnings(
        "ignore", message=r"This process .* is multi-threaded", category=DeprecationWarning
    )
    if arguments.kind == "shutdown":
        latencies = measure_shutdown(
            arguments.implementation, arguments.cycles, arguments.first_cycle
        )
        print("RESULT " + json.dumps({"shutdown_seconds": latencies}), flush=True)
        return 0
    if arguments.implementation == "bare":
        serve = functools.partial(serve_bare, arguments.kind, arguments.handler)
    else:
        serve = functools.partial(
            serve_framework,
            arguments.implementation,
            arguments.kind,
            arguments.handler,
            max_queued_requests=arguments.max_queued_requests,
            request_queue_size=arguments.request_queue_size,
        )
    if arguments.profile:
        # Only the main thread is profiled: all of a synchronous server's work, and the
        # accepting/forking side of a concurrent one (see bench/profiling.py).
        # Timed by the thread's CPU clock, not the wall clock: time spent preempted by
        # other processes on a shared machine must not show up as a cost of our code.
        profiler = cProfile.Profile(time.thread_time)
        profiler.runcall(serve, arguments.max_workers)
        profiler.dump_stats(arguments.profile)
    else:
        serve(arguments.max_workers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

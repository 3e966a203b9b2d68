"""The load: what the benchmark's clients do to a server, and how a sample is timed.

Every client here runs in the harness process, against a server in another process, over
127.0.0.1. A client is deliberately boring: a blocking socket, a fixed small request, a
check that the reply is exactly what the protocol promises (a benchmark that accepts wrong
answers measures nothing). The same client code drives all three implementations, so the
client's own cost is a constant that appears on every side of a ratio.

A *sample* is one timed run of one load against one server: it performs operations until a
time budget is spent or an operation count is reached, whichever comes first, and returns
how many it did and how long that took. Both bounds exist so that no loop can run away: a
server that hangs makes a client's socket time out (CLIENT_TIMEOUT_SECONDS) and the sample
fail loudly instead of stalling the run.

Concurrent loads start N client threads behind a barrier and time from the barrier's
release to the last thread's end. The threads share the harness's GIL, but they spend their
lives in blocking socket calls, which release it.

The flood (`flood`) is different: thousands of connection attempts at once, far more than
threads would serve well, so one thread drives them all with non-blocking sockets and a
selector. Each attempt has a deadline and ends in exactly one outcome (FLOOD_OUTCOMES); the
run ends when every attempt has ended, so it is bounded by the launch time plus one deadline.

Read next: `bench/servers.py` for the other end of each conversation.
"""

from __future__ import annotations

import errno
import selectors
import socket
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from bench.servers import BULK_CHUNK, MAX_DATAGRAM

# A reply slower than this means the server is stuck: fail the sample, never hang.
CLIENT_TIMEOUT_SECONDS = 10.0
SHORT_REQUEST = b"ping\n"
# A 64-byte line: a typical short protocol line (a command, a header).
LINE_REQUEST = b"l" * 63 + b"\n"
DATAGRAM_REQUEST = b"ping\n"
# One bulk request asks for this many bytes: large enough that per-request overhead vanishes.
BULK_REQUEST_BYTES = 64 * BULK_CHUNK
RECEIVE_BUFFER_BYTES = 256 * 1024
# Lost datagrams we tolerate in one sample before calling the run broken.
MAX_LOST_DATAGRAMS = 3
DATAGRAM_TIMEOUT_SECONDS = 1.0


class BenchError(RuntimeError):
    """A load or a server did something the benchmark cannot count as a valid sample."""


@dataclass(frozen=True)
class Sample:
    """One timed run: `amount` units of work (requests, lines, bytes...) in `seconds`."""

    amount: float
    seconds: float
    operations: int
    lost: int = 0

    @property
    def rate(self) -> float:
        return self.amount / self.seconds


Address = tuple[str, int]


def repeat_for(operation: Callable[[], object], seconds: float, limit: int) -> tuple[int, float]:
    """Call `operation` until `seconds` have passed or it has run `limit` times."""
    started = time.perf_counter()
    deadline = started + seconds
    done = 0
    while done < limit:
        operation()
        done += 1
        if time.perf_counter() >= deadline:
            break
    return done, time.perf_counter() - started


def repeat_concurrently(
    operation: Callable[[], object], clients: int, seconds: float, limit: int
) -> tuple[int, float]:
    """Run `operation` in `clients` threads at once; `limit` bounds the total count."""
    barrier = threading.Barrier(clients + 1, timeout=CLIENT_TIMEOUT_SECONDS)
    counts = [0] * clients
    failures: list[BaseException] = []
    per_client_limit = max(1, limit // clients)

    def client(index: int) -> None:
        try:
            barrier.wait()
            counts[index], _ = repeat_for(operation, seconds, per_client_limit)
        except BaseException as error:  # re-raised in the harness thread below
            failures.append(error)

    threads = [
        threading.Thread(target=client, args=(i,), name=f"client-{i}") for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join(timeout=seconds + 4 * CLIENT_TIMEOUT_SECONDS)
    elapsed = time.perf_counter() - started
    if any(thread.is_alive() for thread in threads):
        raise BenchError(f"a client thread is still running after {elapsed:.1f} s")
    if failures:
        raise BenchError(
            f"{len(failures)} of {clients} clients failed: {failures[0]!r}"
        ) from failures[0]
    return sum(counts), elapsed


def connect(address: Address) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(CLIENT_TIMEOUT_SECONDS)
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock


def receive_until_eof(sock: socket.socket, limit: int) -> bytes:
    pieces = []
    received = 0
    while received <= limit:
        piece = sock.recv(4096)
        if not piece:
            break
        pieces.append(piece)
        received += len(piece)
    return b"".join(pieces)


def short_echo_request(address: Address) -> None:
    """One whole short connection: connect, send a line, read the echo to EOF, close."""
    with connect(address) as sock:
        sock.sendall(SHORT_REQUEST)
        reply = receive_until_eof(sock, len(SHORT_REQUEST))
    if reply != SHORT_REQUEST:
        raise BenchError(f"short echo answered {reply!r} to {SHORT_REQUEST!r}")


def short_echo_load(address: Address, clients: int, seconds: float, limit: int) -> Sample:
    """Short connections, one request each, from `clients` clients at once."""

    def operation() -> None:
        short_echo_request(address)

    if clients == 1:
        done, elapsed = repeat_for(operation, seconds, limit)
    else:
        done, elapsed = repeat_concurrently(operation, clients, seconds, limit)
    return Sample(amount=done, seconds=elapsed, operations=done)


def line_exchange_load(address: Address, clients: int, seconds: float, limit: int) -> Sample:
    """One long connection: send a line, wait for its echo, repeat."""
    with connect(address) as sock, sock.makefile("rb") as replies:

        def exchange() -> None:
            sock.sendall(LINE_REQUEST)
            reply = replies.readline(len(LINE_REQUEST) + 1)
            if reply != LINE_REQUEST:
                raise BenchError(f"line echo answered {reply[:80]!r}")

        done, elapsed = repeat_for(exchange, seconds, limit)
    return Sample(amount=done, seconds=elapsed, operations=done)


def bulk_transfer_load(address: Address, clients: int, seconds: float, limit: int) -> Sample:
    """One long connection: ask for BULK_REQUEST_BYTES, read them all, repeat.

    The amount is in megabytes (10**6 bytes), so the rate reads as MB/s.
    """
    buffer = memoryview(bytearray(RECEIVE_BUFFER_BYTES))
    request = b"%d\n" % BULK_REQUEST_BYTES
    with connect(address) as sock:

        def transfer() -> None:
            sock.sendall(request)
            remaining = BULK_REQUEST_BYTES
            while remaining:
                received = sock.recv_into(buffer[: min(remaining, RECEIVE_BUFFER_BYTES)])
                if not received:
                    raise BenchError(f"bulk stream ended {remaining} bytes early")
                remaining -= received

        done, elapsed = repeat_for(transfer, seconds, limit)
    return Sample(amount=done * BULK_REQUEST_BYTES / 1e6, seconds=elapsed, operations=done)


def datagram_exchange_load(address: Address, clients: int, seconds: float, limit: int) -> Sample:
    """One UDP socket: send a datagram, wait for its echo, repeat.

    UDP may drop a datagram even on loopback; a lost one costs one DATAGRAM_TIMEOUT_SECONDS
    wait, is counted in `lost`, and more than MAX_LOST_DATAGRAMS fail the sample.
    """
    lost = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(DATAGRAM_TIMEOUT_SECONDS)
        sock.connect(address)

        def exchange() -> None:
            nonlocal lost
            sock.send(DATAGRAM_REQUEST)
            try:
                reply = sock.recv(MAX_DATAGRAM)
            except TimeoutError:
                lost += 1
                if lost > MAX_LOST_DATAGRAMS:
                    raise BenchError(f"{lost} datagrams lost in one sample") from None
                return
            if reply != DATAGRAM_REQUEST:
                raise BenchError(f"datagram echo answered {reply!r}")

        done, elapsed = repeat_for(exchange, seconds, limit)
    return Sample(amount=done - lost, seconds=elapsed, operations=done, lost=lost)


def exact_short_echo_requests(address: Address, clients: int, count: int, seconds: float) -> Sample:
    """Exactly `count` short requests from `clients` clients; fail if `seconds` is not enough."""
    done, elapsed = repeat_concurrently(
        lambda: short_echo_request(address), clients, seconds, count
    )
    if done < count - count % clients:
        raise BenchError(f"only {done} of {count} requests finished within {seconds:.0f} s")
    return Sample(amount=done, seconds=elapsed, operations=done)


# What one flood attempt can come to, in the order the report lists them.
FLOOD_OUTCOMES = (
    "served",  # the whole reply arrived before the deadline
    "connect timed out",  # no handshake before the deadline: the kernel dropped its SYNs
    "no reply in time",  # connected, request sent, no reply before the deadline
    "refused",  # the connection was refused (ECONNREFUSED): a reset answered the SYN
    "reset",  # the connection was reset after it was made (ECONNRESET, EPIPE)
    "closed without reply",  # the server closed the connection without replying
    "other error",  # anything else the kernel said; its errno name is kept
)
# When the kernel drops a SYN, the client's kernel sends it again after its retransmission
# timeout: 1 s the first time (RFC 6298's initial value, Linux's TCP_TIMEOUT_INIT), then
# doubling. A loopback handshake that took this long needed at least one such retry.
SYN_RETRANSMISSION_SECONDS = 1.0


@dataclass
class FloodAttempt:
    """One connection attempt in flight: its socket, when it started, how far it got."""

    sock: socket.socket
    started: float
    connected_after: float | None = None
    received: bytes = b""


def flood(
    address: Address,
    attempts: int,
    launch_seconds: float,
    deadline_seconds: float,
    on_tick: Callable[[], None],
    tick_seconds: float,
) -> dict:
    """Start `attempts` connection attempts evenly over `launch_seconds`; see how each ends.

    Each attempt connects (non-blocking), sends SHORT_REQUEST as soon as it is connected and
    waits for the same bytes back; `deadline_seconds` after its start it is abandoned and
    its socket closed, as an impatient client would. `on_tick` is called every
    `tick_seconds` throughout (the harness samples the server there). Returns the count of
    each outcome, how long the served attempts waited, and when the connected ones got in.
    """
    outcomes: Counter[str] = Counter()
    other_errors: Counter[str] = Counter()
    served_seconds: list[float] = []
    connect_seconds: list[float] = []
    pending: dict[int, FloodAttempt] = {}  # by descriptor, oldest first
    interval = launch_seconds / attempts

    with selectors.DefaultSelector() as selector:

        def end(attempt: FloodAttempt, outcome: str, error: int = 0) -> None:
            outcomes[outcome] += 1
            if outcome == "other error":
                other_errors[errno.errorcode.get(error, str(error))] += 1
            del pending[attempt.sock.fileno()]
            selector.unregister(attempt.sock)
            attempt.sock.close()

        def outcome_of_error(error: int) -> str:
            if error == errno.ECONNREFUSED:
                return "refused"
            if error in (errno.ECONNRESET, errno.EPIPE):
                return "reset"
            if error == errno.ETIMEDOUT:
                return "connect timed out"
            return "other error"

        def launch(now: float) -> None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            attempt = FloodAttempt(sock, now)
            pending[sock.fileno()] = attempt
            selector.register(sock, selectors.EVENT_WRITE, attempt)
            error = sock.connect_ex(address)
            if error not in (0, errno.EINPROGRESS):
                end(attempt, outcome_of_error(error), error)

        def connected(attempt: FloodAttempt, now: float) -> None:
            error = attempt.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                end(attempt, outcome_of_error(error), error)
                return
            attempt.connected_after = now - attempt.started
            connect_seconds.append(attempt.connected_after)
            try:
                attempt.sock.send(SHORT_REQUEST)  # 5 bytes into an empty send buffer
            except OSError as failure:
                end(attempt, outcome_of_error(failure.errno or 0), failure.errno or 0)
                return
            selector.modify(attempt.sock, selectors.EVENT_READ, attempt)

        def readable(attempt: FloodAttempt, now: float) -> None:
            try:
                piece = attempt.sock.recv(4096)
            except OSError as failure:
                end(attempt, outcome_of_error(failure.errno or 0), failure.errno or 0)
                return
            attempt.received += piece
            if attempt.received == SHORT_REQUEST:
                served_seconds.append(now - attempt.started)
                end(attempt, "served")
            elif not piece:
                end(attempt, "closed without reply")
            elif not SHORT_REQUEST.startswith(attempt.received):
                raise BenchError(f"the flood's echo answered {attempt.received!r}")

        started = time.perf_counter()
        launched = 0
        next_tick = started
        while launched < attempts or pending:
            now = time.perf_counter()
            if now >= next_tick:
                on_tick()
                next_tick = now + tick_seconds
            while launched < attempts and started + launched * interval <= now:
                launch(now)
                launched += 1
            # Attempts start in order and share one deadline, so the oldest expire first.
            expired = []
            for attempt in pending.values():
                if now - attempt.started < deadline_seconds:
                    break
                expired.append(attempt)
            for attempt in expired:
                connected_in_time = attempt.connected_after is not None
                end(attempt, "no reply in time" if connected_in_time else "connect timed out")
            wake_at = [next_tick]
            if launched < attempts:
                wake_at.append(started + launched * interval)
            if pending:
                wake_at.append(next(iter(pending.values())).started + deadline_seconds)
            timeout = max(0.0, min(wake_at) - time.perf_counter())
            for key, _ in selector.select(timeout):
                attempt = key.data
                now = time.perf_counter()
                if attempt.connected_after is None:
                    connected(attempt, now)
                else:
                    readable(attempt, now)
        elapsed = time.perf_counter() - started

    served_seconds.sort()
    return {
        "attempts": attempts,
        "seconds": elapsed,
        "outcomes": {outcome: outcomes[outcome] for outcome in FLOOD_OUTCOMES},
        "other_errors": dict(other_errors),
        "served_seconds": {
            "median": statistics.median(served_seconds) if served_seconds else None,
            "max": served_seconds[-1] if served_seconds else None,
        },
        "connected": len(connect_seconds),
        "connected_after_a_syn_retransmission": sum(
            1 for seconds in connect_seconds if seconds >= SYN_RETRANSMISSION_SECONDS
        ),
    }

"""What is measured: the table of benchmark cases, and the two run modes.

Each throughput case is one server shape (`kind`), one protocol (`handler`), one load and
a number of concurrent clients. The harness runs every case against the three
implementations of `bench/servers.py` (stdlib, lit, bare) and reports the rate of each and
the ratios lit/stdlib and lit/bare. The `synchronous` flag marks the cases where the three
do the same thing one request at a time; there the floor (bare) is a fair target too.

Three cases are not throughputs: shutdown latency (lower is better, see
`bench.servers.measure_shutdown`), memory growth of a threading server over many
requests (see `bench.run.measure_memory`), and the flood (`FLOOD_SERVERS`, see
`bench.run.measure_flood`): thousands of connection attempts against servers whose handler
is slow, to see what each server process holds when far more clients come than it can
serve. They are described here too, so that this file is the one place that lists
everything the benchmark claims to measure.

The modes trade precision for time. `full` is what `bench/results/` holds and the docs
page quotes; `quick` exists so that CI can prove the harness still works end to end in
about a minute, and its numbers mean nothing.

Read next: `bench/run.py`, which walks this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bench import clients

# Concurrent clients for the cases that exercise a concurrent server.
CONCURRENT_CLIENTS = 8


@dataclass(frozen=True)
class ThroughputCase:
    """One server shape under one load; higher is better."""

    name: str
    title: str
    kind: str
    handler: str
    clients: int
    unit: str
    load: Callable[..., clients.Sample]
    synchronous: bool
    classes: dict[str, str] = field(default_factory=dict)

    def server_arguments(self, implementation: str) -> list[str]:
        return [implementation, self.kind, self.handler]


THROUGHPUT_CASES: tuple[ThroughputCase, ...] = (
    ThroughputCase(
        name="tcp_short",
        title="TCPServer, short connections, 1 client",
        kind="tcp",
        handler="short_echo",
        clients=1,
        unit="requests/s",
        load=clients.short_echo_load,
        synchronous=True,
        classes={"stdlib": "TCPServer", "lit": "TCPServer", "bare": "accept() loop"},
    ),
    ThroughputCase(
        name="tcp_short_threading",
        title=f"ThreadingTCPServer, short, {CONCURRENT_CLIENTS} clients",
        kind="threading",
        handler="short_echo",
        clients=CONCURRENT_CLIENTS,
        unit="requests/s",
        load=clients.short_echo_load,
        synchronous=False,
        classes={
            "stdlib": "ThreadingTCPServer",
            "lit": "ThreadingTCPServer",
            "bare": "accept() + thread per connection",
        },
    ),
    ThroughputCase(
        name="tcp_short_threadpool",
        title=f"ThreadPoolTCPServer, short, {CONCURRENT_CLIENTS} clients",
        kind="threadpool",
        handler="short_echo",
        clients=CONCURRENT_CLIENTS,
        unit="requests/s",
        load=clients.short_echo_load,
        synchronous=False,
        classes={
            "stdlib": "ThreadingTCPServer (the stdlib has no thread pool)",
            "lit": "ThreadPoolTCPServer",
            "bare": "accept() + queue + worker threads",
        },
    ),
    ThroughputCase(
        name="tcp_short_forking",
        title=f"ForkingTCPServer, short, {CONCURRENT_CLIENTS} clients",
        kind="forking",
        handler="short_echo",
        clients=CONCURRENT_CLIENTS,
        unit="requests/s",
        load=clients.short_echo_load,
        synchronous=False,
        classes={
            "stdlib": "ForkingTCPServer",
            "lit": "ForkingTCPServer",
            "bare": "accept() + fork per connection",
        },
    ),
    ThroughputCase(
        name="stream_lines",
        title="StreamRequestHandler, lines, 1 connection",
        kind="tcp",
        handler="lines",
        clients=1,
        unit="lines/s",
        load=clients.line_exchange_load,
        synchronous=True,
        classes={
            "stdlib": "TCPServer + StreamRequestHandler",
            "lit": "TCPServer + StreamRequestHandler",
            "bare": "makefile('rb') + sendall()",
        },
    ),
    ThroughputCase(
        name="stream_bulk",
        title="StreamRequestHandler, bulk wfile, 1 connection",
        kind="tcp",
        handler="bulk",
        clients=1,
        unit="MB/s",
        load=clients.bulk_transfer_load,
        synchronous=True,
        classes={
            "stdlib": "TCPServer + StreamRequestHandler",
            "lit": "TCPServer + StreamRequestHandler",
            "bare": "makefile('rb') + sendall()",
        },
    ),
    ThroughputCase(
        name="udp",
        title="UDPServer, datagrams, 1 client",
        kind="udp",
        handler="datagram_echo",
        clients=1,
        unit="datagrams/s",
        load=clients.datagram_exchange_load,
        synchronous=True,
        classes={"stdlib": "UDPServer", "lit": "UDPServer", "bare": "recvfrom() loop"},
    ),
)

# The memory case: a threading server under CONCURRENT_CLIENTS clients for many requests.
# "lit_pool" adds our ThreadPoolTCPServer, whose threads are started once (at most
# max_workers of them) and reused, so it has no per-request thread to leave behind.
MEMORY_SERVERS: dict[str, list[str]] = {
    "stdlib": ["stdlib", "threading", "short_echo"],
    "lit": ["lit", "threading", "short_echo"],
    "lit_pool": ["lit", "threadpool", "short_echo"],
    "bare": ["bare", "threading", "short_echo"],
}


# The flood: each server gets the same flood of connection attempts; its handler takes
# bench.servers.SLOW_HANDLER_SECONDS per request. Every server listens with its class's own
# request_queue_size (5 in both modules), the backlog a user gets without asking.
FLOOD_POOL_WORKERS = 4
_FLOOD_BACKLOG = ["--request-queue-size", "default"]
FLOOD_SERVERS: dict[str, list[str]] = {
    # max_workers=4 and the default max_queued_requests: at most 4 running + that many waiting.
    "lit pool": [
        "lit",
        "threadpool",
        "slow_echo",
        "--max-workers",
        str(FLOOD_POOL_WORKERS),
        *_FLOOD_BACKLOG,
    ],
    # The same pool with no bound on waiting requests: how the pool behaved before backpressure.
    "lit pool, no queue bound": [
        "lit",
        "threadpool",
        "slow_echo",
        "--max-workers",
        str(FLOOD_POOL_WORKERS),
        "--max-queued-requests",
        "none",
        *_FLOOD_BACKLOG,
    ],
    "lit threading": ["lit", "threading", "slow_echo", *_FLOOD_BACKLOG],
    "stdlib threading": ["stdlib", "threading", "slow_echo", *_FLOOD_BACKLOG],
}


@dataclass(frozen=True)
class Mode:
    """How long and how often: the knobs that trade precision for time."""

    name: str
    repetitions: int
    sample_seconds: float
    warmup_seconds: float
    shutdown_cycles_per_repetition: int
    memory_requests: int
    memory_warmup_requests: int
    memory_checkpoints: int
    # Load time for the profiled run that counts Python calls per operation.
    profile_seconds: float = 1.0
    # Upper bound on operations per sample: a safety net far above any real rate.
    sample_operation_limit: int = 10_000_000
    # The flood: this many connection attempts, started evenly over flood_launch_seconds,
    # each abandoned flood_deadline_seconds after it started if it has no reply by then;
    # then the harness watches for at most flood_watch_limit_seconds what is left of it.
    flood_attempts: int = 2_000
    flood_launch_seconds: float = 2.0
    flood_deadline_seconds: float = 4.0
    flood_watch_limit_seconds: float = 30.0


FULL = Mode(
    name="full",
    repetitions=16,
    sample_seconds=0.4,
    warmup_seconds=0.3,
    shutdown_cycles_per_repetition=3,
    memory_requests=100_000,
    memory_warmup_requests=2_000,
    memory_checkpoints=20,
)

QUICK = Mode(
    name="quick",
    repetitions=2,
    sample_seconds=0.15,
    warmup_seconds=0.05,
    shutdown_cycles_per_repetition=2,
    memory_requests=1_600,
    memory_warmup_requests=200,
    memory_checkpoints=4,
    profile_seconds=0.1,
    flood_attempts=200,
    flood_launch_seconds=0.2,
    flood_deadline_seconds=2.0,
    flood_watch_limit_seconds=3.0,
)

MODES = {mode.name: mode for mode in (FULL, QUICK)}

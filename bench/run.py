"""The harness: run every case against stdlib, lit and bare, and write down what happened.

    python -m bench                 # the full run: about nine minutes on two cores
    python -m bench --quick         # the smoke run CI does: about a minute
    python -m bench --only flood    # the flood alone: about a minute and a half
    python bench/run.py --out DIR   # the same, writing into DIR (see DEFAULT_OUT below)

The method, in the order the code follows it:

1. For each throughput case (`bench/cases.py`), start three server processes, one per
   implementation, each on its own ephemeral port (`bench/process.py`).
2. Warm each one up with a short load, so that first-request costs (imports, the first
   threads, cold caches) are not in any sample.
3. Take samples in rounds. Round 1 runs stdlib, lit, bare; round 2 runs bare, lit, stdlib;
   and so on. Alternating the order means slow drift of the machine (another process
   waking up, the CPU clock changing) falls on every implementation alike.
4. For each sample record the rate and the server's CPU time (from /proc), so that a
   client-bound case, where all three look alike, is visible as such.
5. Stop the servers, and fail the run if one of them wrote anything to stderr.

Shutdown latency, memory and the flood have their own procedures (`measure_shutdown`,
`measure_memory`, `measure_flood` below). The flood is a document of its own (flood.json),
with its own date and commit, so it can be re-run without the hour of throughput samples.
The summaries and verdicts come from `bench/stats.py`; the JSON, the figures and the docs
tables from `bench/report.py`.

The harness prints its progress to stderr and never asserts on timings: what the numbers
mean is for a person to judge, with the noise printed next to them.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/run.py`: make `bench` importable
    # Replace (not just precede) the script's own directory on the path: bench/ must not
    # shadow standard modules for anything imported later.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import cases, clients, profiling, report, stats  # noqa: E402
from bench.process import (  # noqa: E402
    REPO_ROOT,
    ServerProcess,
    bytecode_cache,
    clients_still_sending,
    kernel_tcp_settings,
    listen_queue_length,
    machine_description,
    run_server_to_completion,
    tcp_counters,
    tcp_listen_overflows,
)
from bench.servers import (  # noqa: E402
    DEFAULT_POOL_WORKERS,
    IMPLEMENTATIONS,
    LISTEN_BACKLOG,
    SLOW_HANDLER_SECONDS,
)

DEFAULT_OUT = REPO_ROOT / "bench" / "results"
QUICK_DEFAULT_OUT = REPO_ROOT / "bench" / "out"
# A run writes into its output directory results.json and table.md (throughput, shutdown,
# memory), flood.json and flood.md (the flood), and the figures, report.figure_paths() of
# results.png: results.png (throughput), results-shutdown.png, results-memory.png and
# results-flood.png. The docs site shows copies of the figures: docs/assets/performance.png,
# performance-shutdown.png, performance-memory.png and performance-flood.png.
# How long one chunk of the memory run may take before it is declared stuck.
MEMORY_CHUNK_TIME_LIMIT_SECONDS = 180.0
SHUTDOWN_RUN_TIME_LIMIT_SECONDS = 120.0
# Requests each flood server serves before its flood (see measure_flood_of).
FLOOD_WARMUP_REQUESTS = 1
# The flood's sampling period: often enough to catch a peak that lasts one handler time
# (SLOW_HANDLER_SECONDS), seldom enough that the harness's reads stay a small load.
FLOOD_SAMPLE_SECONDS = 0.02
# A flooded server is idle again once its descriptors are back where they were before the
# flood and its accept queue is empty, and stay so for this long (ten handler times).
FLOOD_IDLE_SECONDS = 0.5
# The kernel counters the flood reports, as differences over each server's flood.
FLOOD_KERNEL_COUNTERS = (
    "ListenOverflows",  # a SYN or handshake ACK dropped because an accept queue was full
    "ListenDrops",  # every handshake dropped at a listener, overflows included
    "TCPReqQFullDrop",  # a SYN dropped because the queue of half-open connections was full
    "SyncookiesSent",  # a SYN answered with a cookie instead of a queue entry
)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def alternating(order: tuple[str, ...], round_index: int) -> tuple[str, ...]:
    """A, B, C in even rounds and C, B, A in odd ones."""
    return order if round_index % 2 == 0 else tuple(reversed(order))


def take_sample(case: cases.ThroughputCase, server: ServerProcess, mode: cases.Mode) -> dict:
    cpu_before = server.cpu_seconds()
    sample = case.load(
        server.address, case.clients, mode.sample_seconds, mode.sample_operation_limit
    )
    cpu_used = server.cpu_seconds() - cpu_before
    return {
        "rate": sample.rate,
        "operations": sample.operations,
        "seconds": sample.seconds,
        "lost": sample.lost,
        "server_cpu_seconds": cpu_used,
    }


def measure_throughput_case(case: cases.ThroughputCase, mode: cases.Mode) -> dict:
    """All rounds of one case; returns its summary with ratios and verdicts."""
    raw: dict[str, list[dict]] = {implementation: [] for implementation in IMPLEMENTATIONS}
    with contextlib.ExitStack() as stack:
        servers = {
            implementation: stack.enter_context(
                ServerProcess(case.server_arguments(implementation))
            )
            for implementation in IMPLEMENTATIONS
        }
        for server in servers.values():
            case.load(
                server.address, case.clients, mode.warmup_seconds, mode.sample_operation_limit
            )
        for round_index in range(mode.repetitions):
            for implementation in alternating(IMPLEMENTATIONS, round_index):
                sample = take_sample(case, servers[implementation], mode)
                raw[implementation].append(sample)
                progress(
                    f"  {case.name:22} round {round_index + 1}/{mode.repetitions}"
                    f"  {implementation:6} {sample['rate']:12,.1f} {case.unit}"
                )
        for server in servers.values():
            server.stop()
    return summarize_throughput_case(case, raw)


def summarize_throughput_case(case: cases.ThroughputCase, raw: dict[str, list[dict]]) -> dict:
    results = {}
    for implementation, samples in raw.items():
        summary = stats.summarize([sample["rate"] for sample in samples])
        # Server CPU time per operation: what the server spent, whoever else had the CPU.
        summary["cpu_microseconds_per_operation"] = stats.summarize(
            [1e6 * sample["server_cpu_seconds"] / sample["operations"] for sample in samples]
        )
        summary["lost"] = sum(sample["lost"] for sample in samples)
        summary["raw"] = samples
        results[implementation] = summary
    comparisons = {
        "lit/stdlib": stats.compare(results, "lit", "stdlib", stats.TARGET_LIT_OVER_STDLIB),
        "lit/bare": stats.compare(results, "lit", "bare", stats.TARGET_LIT_OVER_BARE_SYNCHRONOUS),
        "cpu lit/stdlib": stats.compare_cost(results, "lit", "stdlib"),
        "cpu lit/bare": stats.compare_cost(results, "lit", "bare"),
    }
    if not case.synchronous:
        # The 0.9-of-bare target is for the synchronous cases only; keep the ratio as data.
        comparisons["lit/bare"]["target"] = None
        comparisons["lit/bare"]["verdict"] = "no target (concurrent case)"
    return {
        "title": case.title,
        "unit": case.unit,
        "clients": case.clients,
        "synchronous": case.synchronous,
        "classes": case.classes,
        "results": results,
        "comparisons": comparisons,
    }


def count_calls(case: cases.ThroughputCase, mode: cases.Mode) -> dict[str, float]:
    """Python function calls per operation on the serving thread, per implementation.

    Unlike every timing here this does not depend on the machine: two servers that make
    the same calls per request do the same work. Only meaningful where the serving thread
    does all the work, i.e. the synchronous cases.
    """
    counts = {}
    with tempfile.TemporaryDirectory() as directory:
        for implementation in IMPLEMENTATIONS:
            stats, operations = profiling.profile_implementation(
                case, implementation, mode.profile_seconds, Path(directory)
            )
            counts[implementation] = stats.total_calls / operations  # type: ignore[attr-defined]
    progress(
        f"  {case.name:22} Python calls per operation: "
        + ", ".join(f"{name} {count:.1f}" for name, count in counts.items())
    )
    return counts


def measure_shutdown(mode: cases.Mode) -> dict:
    """shutdown() latency at the default poll_interval, alternating the implementations."""
    latencies: dict[str, list[float]] = {implementation: [] for implementation in IMPLEMENTATIONS}
    cycles = mode.shutdown_cycles_per_repetition
    for round_index in range(mode.repetitions):
        for implementation in alternating(IMPLEMENTATIONS, round_index):
            arguments = [
                implementation,
                "shutdown",
                "--cycles",
                str(cycles),
                "--first-cycle",
                str(round_index * cycles),
            ]
            payload = json.loads(
                run_server_to_completion(arguments, SHUTDOWN_RUN_TIME_LIMIT_SECONDS)
            )
            milliseconds = [1000 * seconds for seconds in payload["shutdown_seconds"]]
            latencies[implementation].extend(milliseconds)
            progress(
                f"  {'shutdown':22} round {round_index + 1}/{mode.repetitions}"
                f"  {implementation:6} max {max(milliseconds):8.2f} ms"
            )
    results = {
        implementation: stats.summarize(values) for implementation, values in latencies.items()
    }
    lit = results["lit"]
    return {
        "title": "shutdown() latency at the default poll_interval (0.5 s), idle server",
        "unit": "ms",
        "poll_interval_seconds": 0.5,
        "results": results,
        "target_ms": 1000 * stats.TARGET_SHUTDOWN_SECONDS,
        "verdict": "meets target"
        if lit["max"] < 1000 * stats.TARGET_SHUTDOWN_SECONDS
        else "below target",
    }


def measure_memory_of(arguments: list[str], mode: cases.Mode) -> dict:
    """RSS of one threading server at checkpoints over mode.memory_requests requests."""
    clients_count = cases.CONCURRENT_CLIENTS
    chunk = max(clients_count, mode.memory_requests // mode.memory_checkpoints)
    chunk -= chunk % clients_count
    with ServerProcess(arguments) as server:
        clients.exact_short_echo_requests(
            server.address,
            clients_count,
            mode.memory_warmup_requests,
            MEMORY_CHUNK_TIME_LIMIT_SECONDS,
        )
        requests, rss, threads = [0], [server.rss_kib()], [server.thread_count()]
        started = time.perf_counter()
        while requests[-1] < mode.memory_requests:
            sample = clients.exact_short_echo_requests(
                server.address, clients_count, chunk, MEMORY_CHUNK_TIME_LIMIT_SECONDS
            )
            requests.append(requests[-1] + sample.operations)
            rss.append(server.rss_kib())
            threads.append(server.thread_count())
        elapsed = time.perf_counter() - started
        server.stop()
    summary = stats.summarize_memory(requests, rss)
    summary.update(
        {
            "requests": requests,
            "rss_kib": rss,
            "threads": threads,
            "seconds": elapsed,
            "requests_per_second": requests[-1] / elapsed,
        }
    )
    return summary


def measure_memory(mode: cases.Mode) -> dict:
    results = {}
    for label, arguments in cases.MEMORY_SERVERS.items():
        results[label] = measure_memory_of(arguments, mode)
        progress(
            f"  memory                 {label:8} {results[label]['growth_kib']:+8d} KiB over"
            f" {results[label]['requests'][-1]:,} requests"
        )
    return {
        "title": f"RSS of a threading server over {mode.memory_requests:,} short requests,"
        f" {cases.CONCURRENT_CLIENTS} clients",
        "unit": "KiB",
        "warmup_requests": mode.memory_warmup_requests,
        "target_growth_second_half_kib": stats.TARGET_MEMORY_GROWTH_SECOND_HALF_KIB,
        "servers": {
            label: " ".join(arguments) for label, arguments in cases.MEMORY_SERVERS.items()
        },
        "results": results,
    }


def flood_sample(server: ServerProcess, started: float, count_clients: bool = False) -> dict:
    """One look at the flooded server: descriptors, memory, threads, its accept queue.

    With `count_clients`, also the client sockets that may still deliver a request to it
    (`clients_still_sending`): a costlier look, taken only once the flood has ended.
    """
    memory = server.memory_status()
    queue = listen_queue_length(server.port)
    return {
        "seconds": round(time.perf_counter() - started, 3),
        "descriptors": server.descriptor_count(),
        "rss_kib": memory["VmRSS"],
        "threads": memory["Threads"],
        "accept_queue": queue[0] if queue else None,
        "clients_still_sending": clients_still_sending(server.port) if count_clients else None,
    }


def watch_after_flood(
    server: ServerProcess, idle_descriptors: int, samples: list[dict], started: float, limit: float
) -> dict:
    """Keep sampling after the last attempt has ended, until nothing is left or `limit` s.

    Nothing is left when the server holds no more descriptors than before the flood, its
    accept queue is empty and no client socket can still deliver a request to it, for
    FLOOD_IDLE_SECONDS. Until then a server may still be working on requests it accepted,
    and the clients' kernels may still be retransmitting requests whose programs gave up.
    """
    flood_ended = time.perf_counter() - started
    deadline = time.perf_counter() + limit
    idle_since = None
    while time.perf_counter() < deadline:
        sample = flood_sample(server, started, count_clients=True)
        samples.append(sample)
        idle = (
            sample["descriptors"] <= idle_descriptors
            and not sample["accept_queue"]
            and not sample["clients_still_sending"]
        )
        if not idle:
            idle_since = None
        elif idle_since is None:
            idle_since = sample["seconds"]
        elif sample["seconds"] - idle_since >= FLOOD_IDLE_SECONDS:
            break
        time.sleep(FLOOD_SAMPLE_SECONDS)
    last = samples[-1]
    return {
        "watched_seconds": last["seconds"] - flood_ended,
        # None: something was still left when the watch ended (see the counts below).
        "idle_after_seconds": None if idle_since is None else max(0.0, idle_since - flood_ended),
        "descriptors_at_end": last["descriptors"],
        "accept_queue_at_end": last["accept_queue"],
        "clients_still_sending_at_end": last["clients_still_sending"],
    }


def parse_result_line(output: str, label: str) -> dict:
    for line in output.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise clients.BenchError(f"flood server {label!r} printed no RESULT line")


def measure_flood_of(label: str, arguments: list[str], mode: cases.Mode) -> dict:
    """One server under one flood: what its clients saw, what it held, what the kernel did."""
    counters_before = tcp_counters()
    with ServerProcess(arguments) as server:
        # One request first: the server answers, and loads what a first request loads.
        # Then let it settle (close that connection) before reading its idle state.
        clients.short_echo_request(server.address)
        time.sleep(FLOOD_IDLE_SECONDS)
        memory = server.memory_status()
        idle = {
            "descriptors": server.descriptor_count(),
            "rss_kib": memory["VmRSS"],
            "threads": memory["Threads"],
        }
        samples: list[dict] = []
        started = time.perf_counter()
        seen = clients.flood(
            server.address,
            mode.flood_attempts,
            mode.flood_launch_seconds,
            mode.flood_deadline_seconds,
            lambda: samples.append(flood_sample(server, started)),
            FLOOD_SAMPLE_SECONDS,
        )
        after = watch_after_flood(
            server, idle["descriptors"], samples, started, mode.flood_watch_limit_seconds
        )
        peak_rss_kib = server.memory_status()["VmHWM"]
        descriptor_limit = server.descriptor_limit()
        # Stopping waits for every request the server accepted (block_on_close).
        counted = parse_result_line(server.stop(), label)
    counters_after = tcp_counters()
    accepted = counted["handled"] - FLOOD_WARMUP_REQUESTS
    return {
        "arguments": " ".join(arguments),
        "server": counted["server"],
        "descriptor_limit": descriptor_limit,
        "idle": idle,
        "peak": {
            "descriptors": max(sample["descriptors"] for sample in samples),
            "threads": max(sample["threads"] for sample in samples),
            "rss_kib": peak_rss_kib,
            "accept_queue": max((sample["accept_queue"] or 0) for sample in samples),
        },
        "clients": seen,
        "server_counts": {
            "accepted": accepted,
            "replied": counted["replied"] - FLOOD_WARMUP_REQUESTS,
            "client_gone": counted["client_gone"],
            "not_accepted_before_stop": mode.flood_attempts - accepted,
        },
        "flood_seconds": seen["seconds"],
        "after_flood": after,
        "kernel_counters": {
            name: counters_after[name] - counters_before[name]
            for name in FLOOD_KERNEL_COUNTERS
            if name in counters_before and name in counters_after
        },
        "series": {key: [sample[key] for sample in samples] for key in samples[0]},
    }


def measure_flood(mode: cases.Mode) -> dict:
    """Every server of cases.FLOOD_SERVERS under the same flood, one after the other."""
    started = time.perf_counter()
    servers = {}
    for label, arguments in cases.FLOOD_SERVERS.items():
        result = measure_flood_of(label, arguments, mode)
        servers[label] = result
        outcomes, after = result["clients"]["outcomes"], result["after_flood"]
        progress(
            f"  flood                  {label:26} served {outcomes['served']:5}"
            f"  peak descriptors {result['peak']['descriptors']:5}"
            f"  clients still sending at the end {after['clients_still_sending_at_end']}"
        )
    return {
        "schema": 1,
        "meta": {
            "mode": mode.name,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine_description(),
            "git_commit": git_commit(),
            "command": "python -m bench" + (" --quick" if mode.name == "quick" else ""),
            "attempts": mode.flood_attempts,
            "launch_seconds": mode.flood_launch_seconds,
            "deadline_seconds": mode.flood_deadline_seconds,
            "handler_seconds": SLOW_HANDLER_SECONDS,
            "pool_workers": cases.FLOOD_POOL_WORKERS,
            "sample_seconds": FLOOD_SAMPLE_SECONDS,
            "watch_limit_seconds": mode.flood_watch_limit_seconds,
            "kernel": kernel_tcp_settings(),
            "total_seconds": time.perf_counter() - started,
        },
        "servers": servers,
    }


def pool_versus_thread_per_request(throughput: dict) -> dict:
    """The target 'thread pool ahead of thread-per-request on short requests'."""
    pool = throughput["tcp_short_threadpool"]["results"]["lit"]["median"]
    per_request = throughput["tcp_short_threading"]["results"]["lit"]["median"]
    stdlib_per_request = throughput["tcp_short_threadpool"]["results"]["stdlib"]["median"]
    return {
        "lit_pool_over_lit_threading": pool / per_request,
        "lit_pool_over_stdlib_threading_same_case": pool / stdlib_per_request,
        "verdict": "meets target" if pool > per_request else "below target",
    }


def git_commit() -> str | None:
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout.strip() or None


# The sections of results.json; the flood is written to flood.json.
RESULTS_SECTIONS = tuple(case.name for case in cases.THROUGHPUT_CASES) + ("shutdown", "memory")


def run(mode: cases.Mode, selected: list[str] | None) -> dict:
    """The throughput cases, shutdown and memory (those of them `selected`, or all)."""
    started = time.perf_counter()
    overflows_before = tcp_listen_overflows()
    throughput = {}
    for case in cases.THROUGHPUT_CASES:
        if selected and case.name not in selected:
            continue
        progress(f"{case.name}: {case.title}")
        throughput[case.name] = measure_throughput_case(case, mode)
        if case.synchronous:
            throughput[case.name]["python_calls_per_operation"] = count_calls(case, mode)
    document: dict = {
        "schema": 1,
        "meta": {
            "mode": mode.name,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine_description(),
            "git_commit": git_commit(),
            "repetitions": mode.repetitions,
            "sample_seconds": mode.sample_seconds,
            "warmup_seconds": mode.warmup_seconds,
            "command": "python -m bench" + (" --quick" if mode.name == "quick" else ""),
            "listen_backlog": LISTEN_BACKLOG,
            "pool_workers": DEFAULT_POOL_WORKERS,
            "bytecode_cache": True,
        },
        "throughput": throughput,
    }
    if not selected or "shutdown" in selected:
        progress("shutdown: latency of shutdown() at the default poll_interval")
        document["shutdown"] = measure_shutdown(mode)
    if not selected or "memory" in selected:
        progress("memory: RSS of a threading server")
        document["memory"] = measure_memory(mode)
    if "tcp_short_threadpool" in throughput and "tcp_short_threading" in throughput:
        document["pool_versus_thread_per_request"] = pool_versus_thread_per_request(throughput)
    document["meta"]["total_seconds"] = time.perf_counter() - started
    overflows_after = tcp_listen_overflows()
    if overflows_before is not None and overflows_after is not None:
        # Non-zero means some client waited out a SYN retransmission: suspect its sample.
        document["meta"]["listen_overflows_during_run"] = overflows_after - overflows_before
    return document


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark socketserver_lit against the stdlib and a bare loop.",
    )
    parser.add_argument("--quick", action="store_true", help="the short smoke run CI does")
    parser.add_argument(
        "--out",
        type=Path,
        help="directory for results.json, table.md, flood.json, flood.md and the figures:"
        " results.png, results-shutdown.png, results-memory.png, results-flood.png"
        " (the docs show copies: docs/assets/performance.png, performance-shutdown.png,"
        " performance-memory.png, performance-flood.png)",
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="CASE",
        choices=[*RESULTS_SECTIONS, "flood"],
        help="run only this case (repeatable); 'flood' alone leaves results.json as it is",
    )
    parser.add_argument("--no-plot", action="store_true", help="skip the matplotlib figures")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    mode = cases.QUICK if arguments.quick else cases.FULL
    out = arguments.out or (QUICK_DEFAULT_OUT if arguments.quick else DEFAULT_OUT)
    selected = arguments.only
    document = flood = None
    try:
        with bytecode_cache():
            if not selected or set(selected) - {"flood"}:
                document = run(mode, selected)
            if not selected or "flood" in selected:
                progress("flood: connection attempts against slow servers")
                flood = measure_flood(mode)
    except clients.BenchError as error:
        progress(f"benchmark failed: {error}")
        return 1
    out.mkdir(parents=True, exist_ok=True)
    can_plot = not arguments.no_plot and importlib.util.find_spec("matplotlib") is not None
    if not arguments.no_plot and not can_plot:
        progress("matplotlib is not installed: no figures (pip install matplotlib to get them)")
    figures = report.figure_paths(out / "results.png")
    # The docs page includes table.md and flood.md (pymdownx snippets), so it quotes
    # exactly these runs.
    if document is not None:
        throughput = figures["throughput"]
        drawn = f"{throughput} and the figures beside it"
        figure = (report.plot, throughput, drawn) if can_plot else None
        publish(document, out / "results.json", out / "table.md", report.markdown_table, figure)
    if flood is not None:
        flood_figure = figures["flood"]
        figure = (report.plot_flood_figure, flood_figure, str(flood_figure)) if can_plot else None
        publish(flood, out / "flood.json", out / "flood.md", report.flood_markdown, figure)
    return 0


def publish(
    document: dict,
    json_path: Path,
    table_path: Path,
    markdown: Callable[[dict], str],
    figure: tuple[Callable[[dict, Path], object], Path, str] | None,
) -> None:
    """Write ``document`` as JSON; draw ``figure`` (draw, path, what to say it wrote), if any;
    write its markdown table (``markdown(document)``) and print it."""
    write_json(json_path, document)
    if figure is not None:
        draw, path, drawn = figure
        draw(document, path)
        progress(f"wrote {drawn}")
    table = markdown(document)
    table_path.write_text(table + "\n")
    print(table)


def write_json(path: Path, document: dict) -> None:
    path.write_text(json.dumps(document, indent=1) + "\n")
    progress(f"wrote {path}")


if __name__ == "__main__":
    raise SystemExit(main())

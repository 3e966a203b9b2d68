"""The harness: run every case against stdlib, lit and bare, and write down what happened.

    python -m bench                 # the full run: about eight minutes on two cores
    python -m bench --quick         # the smoke run CI does: well under a minute
    python bench/run.py --out DIR   # the same, writing DIR/results.json, results.png, table.md

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

Shutdown latency and memory have their own procedures (`measure_shutdown`,
`measure_memory` below). The summaries and verdicts come from `bench/stats.py`; the JSON,
the plot and the docs table from `bench/report.py`.

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
    machine_description,
    run_server_to_completion,
    tcp_listen_overflows,
)
from bench.servers import DEFAULT_POOL_WORKERS, IMPLEMENTATIONS, LISTEN_BACKLOG  # noqa: E402

DEFAULT_OUT = REPO_ROOT / "bench" / "results"
QUICK_DEFAULT_OUT = REPO_ROOT / "bench" / "out"
# How long one chunk of the memory run may take before it is declared stuck.
MEMORY_CHUNK_TIME_LIMIT_SECONDS = 180.0
SHUTDOWN_RUN_TIME_LIMIT_SECONDS = 120.0


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


def run(mode: cases.Mode, selected: list[str] | None) -> dict:
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
    parser.add_argument("--out", type=Path, help="directory for results.json and results.png")
    parser.add_argument(
        "--only",
        action="append",
        metavar="CASE",
        choices=[case.name for case in cases.THROUGHPUT_CASES] + ["shutdown", "memory"],
        help="run only this case (repeatable); for profiling and development",
    )
    parser.add_argument("--no-plot", action="store_true", help="skip the matplotlib plot")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    mode = cases.QUICK if arguments.quick else cases.FULL
    out = arguments.out or (QUICK_DEFAULT_OUT if arguments.quick else DEFAULT_OUT)
    try:
        with bytecode_cache():
            document = run(mode, arguments.only)
    except clients.BenchError as error:
        progress(f"benchmark failed: {error}")
        return 1
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    results_path.write_text(json.dumps(document, indent=1) + "\n")
    progress(f"wrote {results_path}")
    if arguments.no_plot:
        pass
    elif importlib.util.find_spec("matplotlib") is None:
        progress("matplotlib is not installed: no plot (pip install matplotlib to get one)")
    else:
        plot_path = report.plot(document, out / "results.png")
        progress(f"wrote {plot_path}")
    table = report.markdown_table(document)
    # The docs page includes this file (a pymdownx snippet), so it quotes exactly this run.
    (out / "table.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Where does a server spend its time? Profile one case, stdlib and lit side by side.

    python -m bench.profiling udp                 # both frameworks, 3 s of load each
    python -m bench.profiling stream_lines --seconds 5 --top 15

When the harness shows lit slower than the stdlib in a case, this is the next step. It
starts the case's server for each implementation under `cProfile` (the `--profile` option
of `bench/servers.py`), drives the case's own load against it, stops it, and prints

* the number of Python function calls per operation: deterministic, so a difference of
  even one call per request is real, whatever the machine was doing;
* the functions with the most own time, per operation, in microseconds of the serving
  thread's CPU time (so time lost to other processes is not counted; inflated by the
  profiler itself, so compare stdlib with lit, never with the harness's numbers).

Only the serving thread is profiled: all the work of a synchronous server, and the
accept/fork/dispatch side of a concurrent one (handler threads and forked children are
not seen). For a sampling view of every thread, `py-spy record --pid PID` on a server
started with `python -m bench.servers` works too, where py-spy is installed.
"""

from __future__ import annotations

import argparse
import pstats
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import `bench` from the checkout instead
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import cases  # noqa: E402
from bench.process import ServerProcess, bytecode_cache  # noqa: E402


def profile_implementation(
    case: cases.ThroughputCase, implementation: str, seconds: float, directory: Path
) -> tuple[pstats.Stats, int]:
    """Run one profiled server under the case's load; return its stats and operation count."""
    stats_path = directory / f"{case.name}-{implementation}.prof"
    arguments = case.server_arguments(implementation) + ["--profile", str(stats_path)]
    with ServerProcess(arguments) as server:
        sample = case.load(server.address, case.clients, seconds, 10_000_000)
        server.stop()
    return pstats.Stats(str(stats_path)), sample.operations


def top_functions(stats: pstats.Stats, operations: int, top: int) -> list[tuple[str, float, float]]:
    """(function, own microseconds per operation, calls per operation), by own time."""
    rows = []
    for (filename, line, name), (_, calls, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        label = f"{Path(filename).name}:{line}({name})" if line else name
        rows.append((label, 1e6 * own / operations, calls / operations))
    rows.sort(key=lambda row: row[1], reverse=True)
    return rows[:top]


def main(argv: list[str] | None = None) -> int:
    names = {case.name: case for case in cases.THROUGHPUT_CASES}
    parser = argparse.ArgumentParser(prog="python -m bench.profiling")
    parser.add_argument("case", choices=sorted(names))
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--implementations", nargs="+", default=["stdlib", "lit"])
    arguments = parser.parse_args(argv)
    case = names[arguments.case]
    with bytecode_cache(), tempfile.TemporaryDirectory() as directory:
        for implementation in arguments.implementations:
            stats, operations = profile_implementation(
                case, implementation, arguments.seconds, Path(directory)
            )
            calls = stats.total_calls / operations  # type: ignore[attr-defined]
            cpu = 1e6 * stats.total_tt / operations  # type: ignore[attr-defined]
            print(
                f"\n== {case.name} / {implementation}: {operations:,} operations,"
                f" {calls:.1f} function calls and {cpu:.1f} µs of CPU per operation"
            )
            print(f"   {'own µs/op':>10} {'calls/op':>9}  function")
            for label, own, per_operation in top_functions(stats, operations, arguments.top):
                print(f"   {own:10.2f} {per_operation:9.2f}  {label}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

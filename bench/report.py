"""Turning results.json into something a person reads: a markdown table and a plot.

The docs page (docs/performance.md) quotes the table this module prints, so the page and
the JSON cannot disagree unless someone edits one by hand:

    python -m bench.report bench/results/results.json            # the markdown tables
    python -m bench.report bench/results/results.json --plot F   # the figure, again

The plot has three panels: throughput relative to the stdlib (the median of the per-round
ratios; whiskers are their quartiles), shutdown latency on a log scale, and RSS against the number
of requests served. matplotlib is imported only to draw, so the harness runs without it
when asked for `--no-plot`.

Read next: docs/performance.md, which explains what these numbers mean.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import `bench` from the checkout instead
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import stats  # noqa: E402

COLOURS = {"stdlib": "#7f7f7f", "lit": "#1f77b4", "lit_pool": "#17becf", "bare": "#ff7f0e"}
VERDICT_WORDS = {
    "meets target": "meets",
    "within noise": "in noise",
    "below target": "BELOW",
}


def format_rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def format_ratio(comparison: dict) -> str:
    paired = comparison["paired"]
    return f"{comparison['ratio']:.2f} ({paired['q1']:.2f}–{paired['q3']:.2f})"


def format_comparison(comparison: dict) -> str:
    text = format_ratio(comparison)
    word = VERDICT_WORDS.get(comparison["verdict"])
    return f"{text} {word}" if word and comparison["target"] is not None else text


def throughput_table(throughput: dict) -> list[str]:
    lines = [
        "| Case (unit) | stdlib | lit | bare | lit/stdlib | lit/bare | noise |",
        "| --- | ---: | ---: | ---: | --- | --- | ---: |",
    ]
    for summary in throughput.values():
        results, comparisons = summary["results"], summary["comparisons"]
        noise = max(result["noise"] for result in results.values())
        lines.append(
            f"| {summary['title']} ({summary['unit']}) "
            f"| {format_rate(results['stdlib']['median'])} "
            f"| {format_rate(results['lit']['median'])} "
            f"| {format_rate(results['bare']['median'])} "
            f"| {format_comparison(comparisons['lit/stdlib'])} "
            f"| {format_comparison(comparisons['lit/bare'])} "
            f"| ±{100 * noise:.0f} % |"
        )
    return lines + class_footnotes(throughput)


def class_footnotes(throughput: dict) -> list[str]:
    """Say which class stood in for the stdlib where it has no counterpart of ours."""
    notes = [
        f"{summary['title']}: the stdlib column is {summary['classes']['stdlib']}."
        for summary in throughput.values()
        if summary["classes"]["stdlib"] != summary["classes"]["lit"]
    ]
    return ["", *notes] if notes else []


def cpu_table(throughput: dict) -> list[str]:
    lines = [
        "| Case | stdlib µs/op | lit µs/op | bare µs/op | lit/stdlib | lit/bare |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for summary in throughput.values():
        results, comparisons = summary["results"], summary["comparisons"]
        cells = [
            f"{results[name]['cpu_microseconds_per_operation']['median']:,.1f}"
            for name in ("stdlib", "lit", "bare")
        ]
        ratios = [format_ratio(comparisons[name]) for name in ("cpu lit/stdlib", "cpu lit/bare")]
        lines.append(f"| {summary['title']} | " + " | ".join(cells + ratios) + " |")
    return lines


def calls_table(throughput: dict) -> list[str]:
    lines = [
        "| Case | stdlib calls/op | lit calls/op | bare calls/op |",
        "| --- | ---: | ---: | ---: |",
    ]
    for summary in throughput.values():
        counts = summary.get("python_calls_per_operation")
        if counts:
            cells = [f"{counts[name]:.1f}" for name in ("stdlib", "lit", "bare")]
            lines.append(f"| {summary['title']} | " + " | ".join(cells) + " |")
    return lines


def shutdown_table(shutdown: dict) -> list[str]:
    lines = [
        "| Implementation | median ms | min ms | max ms | calls |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for implementation, result in shutdown["results"].items():
        lines.append(
            f"| {implementation} | {result['median']:.2f} | {result['min']:.2f} "
            f"| {result['max']:.2f} | {len(result['samples'])} |"
        )
    return lines


def memory_table(memory: dict) -> list[str]:
    lines = [
        "| Server | RSS start KiB | RSS end KiB | growth KiB | growth 2nd half KiB "
        "| threads at end | requests/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, result in memory["results"].items():
        lines.append(
            f"| {label} ({memory['servers'][label]}) "
            f"| {result['rss_start_kib']:,} | {result['rss_end_kib']:,} "
            f"| {result['growth_kib']:+,} | {result['growth_second_half_kib']:+,} "
            f"| {result['threads'][-1]} | {result['requests_per_second']:,.0f} |"
        )
    return lines


def run_description(meta: dict) -> list[str]:
    machine = meta["machine"]
    commit = (meta.get("git_commit") or "unknown")[:10]
    return [
        f"Measured {meta['date']} by `{meta['command']}` at commit `{commit}`:"
        f" {machine['cpus']} × {machine['cpu_model']} (shared with other work),"
        f" {machine['python_implementation']} {machine['python']},"
        f" {machine['system']} {machine['kernel']}."
        f" {meta['repetitions']} rounds of {meta['sample_seconds']} s samples per implementation;"
        f" listen backlog {meta.get('listen_backlog')}; pool size {meta.get('pool_workers')};"
        f" {meta['total_seconds'] / 60:.1f} minutes in all; listen-queue overflows"
        f" during the run: {meta.get('listen_overflows_during_run', 'n/a')}.",
    ]


def section(heading: str, explanation: str, table: list[str]) -> list[str]:
    return ["", f"### {heading}", "", f"*{explanation}*", "", *table]


def markdown_table(document: dict) -> str:
    """All the tables of a results document, as markdown."""
    throughput = document["throughput"]
    parts = run_description(document["meta"])
    parts += section(
        "Throughput",
        "Medians of the samples, in the unit shown. lit/x: median of the per-round ratios,"
        " quartiles in brackets, then the verdict against the target"
        " (lit/stdlib ≥ 1.0; lit/bare ≥ 0.9 on the synchronous cases).",
        throughput_table(throughput),
    )
    parts += section(
        "Server CPU time per operation",
        "Medians in µs; ratios as above. Lower is better.",
        cpu_table(throughput),
    )
    parts += section(
        "Python calls per operation",
        "Function calls on the serving thread per request, counted by cProfile: deterministic."
        " Synchronous cases only.",
        calls_table(throughput),
    )
    if "pool_versus_thread_per_request" in document:
        pool = document["pool_versus_thread_per_request"]
        parts += [
            "",
            f"Thread pool versus thread per request (lit, short requests): "
            f"{pool['lit_pool_over_lit_threading']:.2f}× ({pool['verdict']}).",
        ]
    if "shutdown" in document:
        shutdown = document["shutdown"]
        parts += section("Shutdown latency", shutdown["title"] + ".", shutdown_table(shutdown))
    if "memory" in document:
        memory = document["memory"]
        parts += section("Memory", memory["title"] + ".", memory_table(memory))
    return "\n".join(parts)


def relative_to_stdlib(results: dict, implementation: str) -> tuple[float, float, float]:
    """(q1, median, q3) of an implementation's per-round ratios to the stdlib.

    The stdlib's own bar is 1.0 by definition; its whiskers show its own quartiles
    relative to its median, i.e. how much the reference itself moved.
    """
    if implementation == "stdlib":
        own = results["stdlib"]
        return own["q1"] / own["median"], 1.0, own["q3"] / own["median"]
    paired = stats.paired_ratios(results[implementation]["samples"], results["stdlib"]["samples"])
    return paired["q1"], paired["median"], paired["q3"]


def plot_throughput(axes, throughput: dict) -> None:
    names = list(throughput)
    width = 0.27
    for offset, implementation in enumerate(("stdlib", "lit", "bare")):
        heights, low_errors, high_errors = [], [], []
        for name in names:
            first, median, third = relative_to_stdlib(throughput[name]["results"], implementation)
            heights.append(median)
            low_errors.append(median - first)
            high_errors.append(third - median)
        positions = [index + (offset - 1) * width for index in range(len(names))]
        axes.bar(
            positions,
            heights,
            width,
            yerr=[low_errors, high_errors],
            label=implementation,
            color=COLOURS[implementation],
            capsize=2,
        )
    axes.axhline(1.0, color="black", linewidth=0.8)
    axes.set_xticks(range(len(names)))
    labels = [name.replace("_", "\n", 1) for name in names]
    for index, name in enumerate(names):
        classes = throughput[name]["classes"]
        if classes["stdlib"] != classes["lit"]:
            labels[index] += "\n(stdlib: thread\nper request)"
    axes.set_xticklabels(labels, fontsize=8)
    axes.set_ylabel("throughput / stdlib (median per-round ratio)")
    axes.set_title("Throughput relative to stdlib (whiskers: quartiles)")
    axes.legend(fontsize=8)


def plot_shutdown(axes, shutdown: dict) -> None:
    labels = list(shutdown["results"])
    for index, implementation in enumerate(labels):
        values = shutdown["results"][implementation]["samples"]
        axes.scatter([index] * len(values), values, color=COLOURS[implementation], alpha=0.6, s=14)
        axes.hlines(
            shutdown["results"][implementation]["median"], index - 0.3, index + 0.3, color="black"
        )
    axes.axhline(
        shutdown["target_ms"], color="red", linestyle="--", linewidth=0.8, label="10 ms target"
    )
    axes.set_yscale("log")
    axes.set_xticks(range(len(labels)))
    axes.set_xticklabels(labels)
    axes.set_ylabel("shutdown() latency, ms (log)")
    axes.set_title("shutdown() at poll_interval=0.5")
    axes.legend(fontsize=8)


def plot_memory(axes, memory: dict) -> None:
    """RSS growth since the warm-up, against the 1 MiB line that "flat" is judged by."""
    for label, result in memory["results"].items():
        start = result["rss_kib"][0]
        axes.plot(
            result["requests"],
            [kib - start for kib in result["rss_kib"]],
            marker=".",
            label=f"{label} (from {start / 1024:.1f} MiB)",
            color=COLOURS.get(label),
        )
    axes.axhline(
        memory["target_growth_second_half_kib"],
        color="red",
        linestyle="--",
        linewidth=0.8,
        label="1 MiB",
    )
    axes.set_xlabel("requests served after warm-up")
    axes.set_ylabel("server RSS growth since warm-up, KiB")
    axes.set_title("Memory of a threading server")
    axes.legend(fontsize=7)


def plot(document: dict, path: Path) -> Path:
    """Draw the three panels into a PNG at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    figure, (throughput_axes, shutdown_axes, memory_axes) = pyplot.subplots(
        1, 3, figsize=(16, 4.8), gridspec_kw={"width_ratios": [2.4, 1, 1.3]}
    )
    plot_throughput(throughput_axes, document["throughput"])
    if "shutdown" in document:
        plot_shutdown(shutdown_axes, document["shutdown"])
    if "memory" in document:
        plot_memory(memory_axes, document["memory"])
    machine = document["meta"]["machine"]
    figure.suptitle(
        f"socketserver_lit vs stdlib vs bare loop — {machine['cpus']} × {machine['cpu_model']},"
        f" Python {machine['python']}, {document['meta']['mode']} run",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report")
    parser.add_argument("results", type=Path, help="a results.json written by python -m bench")
    parser.add_argument("--plot", type=Path, help="also draw the figure to this PNG")
    arguments = parser.parse_args(argv)
    document = json.loads(arguments.results.read_text())
    print(markdown_table(document))
    if arguments.plot:
        plot(document, arguments.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

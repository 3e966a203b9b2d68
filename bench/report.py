"""Turning results.json into something a person reads: a markdown table and a plot.

The docs page (docs/performance.md) quotes the tables this module prints, so the page and
the JSON cannot disagree unless someone edits one by hand:

    python -m bench.report bench/results/results.json            # the markdown tables
    python -m bench.report bench/results/results.json --plot F   # the figures, again
    python -m bench.report bench/results/flood.json --plot F     # the flood's table and figure

There are four figures, one per question, each drawn to be read at the width of the docs
page's text column (FIGURE_WIDTH_PX, at twice that in pixels for sharp text on dense screens).
From results.json: `F` itself answers "how fast, relative to the stdlib?" (the median of the
per-round ratios; whiskers are their quartiles), `F-shutdown.png` "how long does shutdown()
take?" (every call, log scale) and `F-memory.png` "does a threading server keep memory?" (RSS
against requests served). From flood.json: `F-flood.png` "what does a flood leave in the server
process?" (its open descriptors over time). `python -m bench` writes them as results.png,
results-shutdown.png, results-memory.png and results-flood.png; the docs show copies named
docs/assets/performance.png, performance-shutdown.png, performance-memory.png and
performance-flood.png. matplotlib is imported only to draw, so the harness runs without it
when asked for `--no-plot`.

Read next: docs/performance.md, which explains what these numbers mean.
"""

from __future__ import annotations

import argparse
import json
import random
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


# The figures are drawn for the docs page's text column: about 690 CSS pixels wide at a
# 1280-pixel window (Material's layout), and stored at twice that, for high-density screens.
# Text is sized so the smallest label is 9.5 pt at 100 pixels per inch: 13 CSS pixels on the
# page, as large as the site's small print (tables, 12.8 px).
FIGURE_WIDTH_PX = 690
FIGURE_PIXEL_RATIO = 2
_DISPLAY_DPI = 100
_SMALLEST_FONT_POINTS = 9.5
FIGURE_SUFFIXES = {
    "throughput": "",
    "shutdown": "-shutdown",
    "memory": "-memory",
    "flood": "-flood",
}


def figure_paths(path: Path) -> dict[str, Path]:
    """Where each figure goes: `path` (throughput) and three siblings named after it.

    `plot(document, path)` draws the first three from results.json;
    `plot_flood_figure(flood, figure_paths(path)["flood"])` the last from flood.json.
    """
    return {
        name: path.with_name(f"{path.stem}{suffix}{path.suffix}")
        for name, suffix in FIGURE_SUFFIXES.items()
    }


def _case_label(summary: dict) -> str:
    """'TCPServer, short connections, 1 client' -> two lines: the class, then the workload."""
    server, _, workload = summary["title"].partition(", ")
    if summary["classes"]["stdlib"] != summary["classes"]["lit"]:
        workload += "\n(stdlib: a thread per request)"
    return f"{server}\n{workload}"


def plot_throughput(axes, throughput: dict) -> None:
    """Horizontal bars, one group per case: each implementation's rate / the stdlib's."""
    names = list(throughput)
    height = 0.26
    for offset, implementation in enumerate(("stdlib", "lit", "bare")):
        medians, low_errors, high_errors = [], [], []
        for name in names:
            first, median, third = relative_to_stdlib(throughput[name]["results"], implementation)
            medians.append(median)
            low_errors.append(median - first)
            high_errors.append(third - median)
        positions = [index + (offset - 1) * height for index in range(len(names))]
        axes.barh(
            positions,
            medians,
            height,
            xerr=[low_errors, high_errors],
            label=implementation,
            color=COLOURS[implementation],
            capsize=2,
            error_kw={"linewidth": 0.8},
        )
        if implementation == "lit":  # the number the page discusses, printed where it is drawn
            for position, median, high in zip(positions, medians, high_errors, strict=True):
                axes.annotate(
                    f"{median:.2f}",
                    (median + high, position),
                    xytext=(4, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize=_SMALLEST_FONT_POINTS,
                    color=COLOURS["lit"],
                    fontweight="bold",
                )
    axes.axvline(1.0, color="black", linewidth=0.8)
    axes.set_xscale("log")
    ticks = [0.5, 0.75, 1, 1.5, 2, 3, 4]
    axes.set_xticks(ticks, [f"{tick:g}" for tick in ticks])
    axes.minorticks_off()
    axes.set_xlim(0.45, 5)
    axes.set_yticks(range(len(names)), [_case_label(throughput[name]) for name in names])
    axes.invert_yaxis()  # the first case on top, as in the table
    axes.set_xlabel("rate relative to the stdlib (log scale)")
    axes.figure.suptitle(
        "Throughput against the stdlib: median of the per-round ratios, whiskers at the quartiles",
        x=0.01,
        ha="left",
        fontsize=_SMALLEST_FONT_POINTS + 1,
    )
    axes.legend(loc="lower right")
    axes.grid(axis="x", linewidth=0.4, alpha=0.5)


def plot_shutdown(axes, shutdown: dict) -> None:
    """Every shutdown() call, one row per implementation, on a log scale, with its median."""
    labels = list(shutdown["results"])
    for index, implementation in enumerate(labels):
        result = shutdown["results"][implementation]
        values = result["samples"]
        # Spread the dots a little across their row so equal values do not hide each other
        # (seeded: the figure is the same every time it is drawn from the same results).
        jitter = random.Random(index)
        spread = [index + 0.25 * (jitter.random() - 0.5) for _ in values]
        axes.scatter(values, spread, color=COLOURS[implementation], alpha=0.6, s=16)
        axes.vlines(result["median"], index - 0.32, index + 0.32, color="black", linewidth=1.5)
        axes.annotate(
            f"median {result['median']:.2f} ms",
            (result["median"], index - 0.32),
            xytext=(0, 2),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=_SMALLEST_FONT_POINTS,
        )
    axes.axvline(
        shutdown["target_ms"], color="red", linestyle="--", linewidth=0.9, label="10 ms target"
    )
    axes.set_xscale("log")
    ticks = [0.1, 0.3, 1, 3, 10, 30, 100, 300]
    axes.set_xticks(ticks, [f"{tick:g}" for tick in ticks])
    axes.minorticks_off()
    axes.set_yticks(range(len(labels)), labels)
    axes.set_ylim(len(labels) - 0.4, -0.75)
    axes.set_xlabel("time for shutdown() to return, ms (log scale)")
    axes.figure.suptitle(
        f"shutdown() of an idle server at poll_interval={shutdown['poll_interval_seconds']:g} s:"
        f" every call",
        x=0.01,
        ha="left",
        fontsize=_SMALLEST_FONT_POINTS + 1,
    )
    axes.legend(loc="lower right")
    axes.grid(axis="x", linewidth=0.4, alpha=0.5)


def plot_memory(axes, memory: dict) -> None:
    """RSS growth since the warm-up, against the 1 MiB line that "flat" is judged by."""
    for label, result in memory["results"].items():
        start = result["rss_kib"][0]
        axes.plot(
            [requests / 1000 for requests in result["requests"]],
            [kib - start for kib in result["rss_kib"]],
            marker=".",
            label=f"{label} (from {start / 1024:.1f} MiB)",
            color=COLOURS.get(label),
        )
    limit = memory["target_growth_second_half_kib"]
    axes.axhline(limit, color="red", linestyle="--", linewidth=0.9, label="1 MiB limit")
    axes.set_ylim(-0.05 * limit, 1.15 * limit)
    axes.set_xlabel("thousands of requests served after the warm-up")
    axes.set_ylabel("RSS growth, KiB")
    axes.figure.suptitle(
        "Memory of a threading server: RSS growth over 100,000 short requests",
        x=0.01,
        ha="left",
        fontsize=_SMALLEST_FONT_POINTS + 1,
    )
    axes.legend(loc="center right")
    axes.grid(linewidth=0.4, alpha=0.5)


_FIGURE_STYLE = {
    "font.size": _SMALLEST_FONT_POINTS + 0.5,
    "axes.titlesize": _SMALLEST_FONT_POINTS + 1,
    "axes.labelsize": _SMALLEST_FONT_POINTS + 0.5,
    "xtick.labelsize": _SMALLEST_FONT_POINTS,
    "ytick.labelsize": _SMALLEST_FONT_POINTS,
    "legend.fontsize": _SMALLEST_FONT_POINTS,
}


def _draw(drawer, data: dict, height: float, target: Path) -> None:
    """One figure, FIGURE_WIDTH_PX wide at FIGURE_PIXEL_RATIO, drawn by `drawer(axes, data)`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    with pyplot.rc_context(_FIGURE_STYLE):
        figure, axes = pyplot.subplots(
            figsize=(FIGURE_WIDTH_PX / _DISPLAY_DPI, height), layout="constrained"
        )
        drawer(axes, data)
        figure.savefig(target, dpi=_DISPLAY_DPI * FIGURE_PIXEL_RATIO)
        pyplot.close(figure)


def plot(document: dict, path: Path) -> Path:
    """Draw the figures of results.json: throughput into `path`, two beside it.

    A figure whose section the document lacks (a run with `--only`) is not drawn, and an old
    one of that name is removed, so the folder never mixes two runs. The flood's figure is
    flood.json's (`plot_flood_figure`) and is left alone. Returns `path`.
    """
    drawers = {
        "throughput": (plot_throughput, 0.62 * len(document.get("throughput", ())) + 1.3),
        "shutdown": (plot_shutdown, 2.9),
        "memory": (plot_memory, 3.6),
    }
    for name, target in figure_paths(path).items():
        if name not in drawers:
            continue
        drawer, height = drawers[name]
        if not document.get(name):
            target.unlink(missing_ok=True)
            continue
        _draw(drawer, document[name], height, target)
    return path


# ---------------------------------------------------------------------------------------
# The flood (flood.json)
# ---------------------------------------------------------------------------------------

FLOOD_COLOURS = {
    "lit pool": COLOURS["lit"],
    "lit pool, no queue bound": "#d62728",
    "lit threading": "#9467bd",
    "stdlib threading": COLOURS["stdlib"],
}


def accepted_bound(settings: dict) -> str:
    """What bounds the requests a server process holds, in its own attributes' words."""
    if "max_workers" not in settings:
        return "none (a thread each)"
    if settings.get("max_queued_requests") is None:
        return f"none ({settings['max_workers']} threads)"
    total = settings["max_workers"] + settings["max_queued_requests"]
    return f"{total} ({settings['max_workers']} + {settings['max_queued_requests']})"


def server_description(label: str, settings: dict) -> str:
    details = ", ".join(
        f"`{name}={value!r}`"
        for name, value in settings.items()
        if name not in ("class", "daemon_threads")
    )
    return f"{label}: `{settings['class']}`, {details}."


def flood_description(meta: dict, servers: dict) -> list[str]:
    machine, kernel = meta["machine"], meta["kernel"]
    commit = (meta.get("git_commit") or "unknown")[:10]
    limits = " / ".join(sorted({f"{result['descriptor_limit']:,}" for result in servers.values()}))
    return [
        f"Measured {meta['date']} by `{meta['command']}` at commit `{commit}`:"
        f" {machine['cpus']} × {machine['cpu_model']} (shared with other work),"
        f" {machine['python_implementation']} {machine['python']},"
        f" {machine['system']} {machine['kernel']}."
        f" {meta['attempts']:,} connection attempts started evenly over"
        f" {meta['launch_seconds']:g} s, each abandoned {meta['deadline_seconds']:g} s after it"
        f" started if no reply had come; the handler takes {1000 * meta['handler_seconds']:g} ms"
        f" per request. One run per server, {meta['total_seconds'] / 60:.1f} minutes in all;"
        f" descriptor limit per process {limits}."
        f" Kernel: `tcp_abort_on_overflow={kernel['tcp_abort_on_overflow']}`,"
        f" `tcp_syncookies={kernel['tcp_syncookies']}`, `somaxconn={kernel['somaxconn']}`.",
    ]


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def flood_clients_table(servers: dict) -> list[str]:
    lines = [
        "| Server | served | connect timed out | connected, no reply in time | refused "
        "| reset or other | wait of the served, median / max s | connected after ≥ 1 s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, result in servers.items():
        seen = result["clients"]
        outcomes = seen["outcomes"]
        others = sum(outcomes[name] for name in ("reset", "closed without reply", "other error"))
        waits = seen["served_seconds"]
        lines.append(
            f"| {label} | {outcomes['served']:,} | {outcomes['connect timed out']:,} "
            f"| {outcomes['no reply in time']:,} | {outcomes['refused']:,} | {others:,} "
            f"| {_seconds(waits['median'])} / {_seconds(waits['max'])} "
            f"| {seen['connected_after_a_syn_retransmission']:,} |"
        )
    return lines


def flood_server_table(servers: dict) -> list[str]:
    lines = [
        "| Server | holds at most | descriptors | threads | RSS MiB | accept queue "
        "| listen overflows | SYN cookies sent |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, result in servers.items():
        idle, peak = result["idle"], result["peak"]
        overflows, cookies = (
            result["kernel_counters"].get(name, "n/a")
            for name in ("ListenOverflows", "SyncookiesSent")
        )
        lines.append(
            f"| {label} | {accepted_bound(result['server'])} "
            f"| {idle['descriptors']} → {peak['descriptors']:,} "
            f"| {idle['threads']} → {peak['threads']:,} "
            f"| {idle['rss_kib'] / 1024:.1f} → {peak['rss_kib'] / 1024:.1f} "
            f"| {peak['accept_queue']} "
            f"| {overflows:,} | {cookies:,} |"
        )
    return lines


def flood_after_table(servers: dict) -> list[str]:
    lines = [
        "| Server | accepted | for a client already gone | nothing left after, s "
        "| clients still sending at the end |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for label, result in servers.items():
        counts, after = result["server_counts"], result["after_flood"]
        idle_after = after["idle_after_seconds"]
        left = (
            f"{idle_after:.1f}"
            if idle_after is not None
            else f"not within {after['watched_seconds']:.0f}"
        )
        lines.append(
            f"| {label} | {counts['accepted']:,} | {counts['client_gone']:,} | {left} "
            f"| {after['clients_still_sending_at_end']:,} |"
        )
    return lines


def flood_markdown(flood: dict) -> str:
    """The flood's tables, as markdown (docs/performance.md includes them as flood.md)."""
    servers, meta = flood["servers"], flood["meta"]
    parts = flood_description(meta, servers)
    parts += section(
        "What the clients saw",
        "Each attempt ends one way. Served: the echo came back; the wait is from the start of"
        " the attempt. Connect timed out: no handshake before the deadline. Connected, no reply:"
        " the handshake completed, the request was sent, no reply came in time. Connected after"
        " ≥ 1 s: handshakes that needed the client to send its SYN again.",
        flood_clients_table(servers),
    )
    parts += section(
        "What the server process held",
        "Holds at most: the accepted requests the server keeps, running + waiting."
        " Descriptors, threads and RSS: idle before the flood → peak (descriptors and threads"
        f" sampled every {1000 * meta['sample_seconds']:g} ms from /proc, the RSS peak is"
        " VmHWM). Accept queue: the most connections the kernel held for the server at once,"
        " sampled alike. Listen overflows: handshakes the kernel dropped because an accept"
        " queue was full; SYN cookies: SYNs it answered without keeping any state (both"
        " machine-wide counters, over this server's run).",
        flood_server_table(servers),
    )
    parts += section(
        "What became of the attempts",
        "Accepted: requests the server accepted and ran its handler on, until it stopped; for a"
        " client already gone: the handler finished after its client had given up. After the"
        " last attempt ended, the harness watched for at most"
        f" {meta['watch_limit_seconds']:g} s: nothing left means the server back at its idle"
        " descriptors, its accept queue empty, and no client socket (connecting, connected, or"
        " closed with its request still unacknowledged) able to reach it, for"
        " 0.5 s. Clients still sending: such client sockets when the watch ended.",
        flood_after_table(servers),
    )
    parts += [""] + [
        server_description(label, result["server"]) for label, result in servers.items()
    ]
    return "\n".join(parts)


def plot_flood(axes, flood: dict) -> None:
    """Open descriptors of each flooded server over time, on a log scale."""
    meta = flood["meta"]
    for label, result in flood["servers"].items():
        series = result["series"]
        axes.plot(
            series["seconds"],
            series["descriptors"],
            label=f"{label} (peak {result['peak']['descriptors']:,})",
            color=FLOOD_COLOURS.get(label),
            linewidth=1.6,
        )
    launch, deadline = meta["launch_seconds"], meta["deadline_seconds"]
    axes.axvspan(0, launch, color="#000000", alpha=0.07, linewidth=0)
    axes.axvline(launch + deadline, color="black", linestyle="--", linewidth=0.9)
    axes.annotate(
        "attempts start",
        (launch / 2, 1),
        xycoords=("data", "axes fraction"),
        xytext=(0, -3),
        textcoords="offset points",
        ha="center",
        va="top",
        fontsize=_SMALLEST_FONT_POINTS,
    )
    axes.annotate(
        "the last attempt\ngives up",
        (launch + deadline, 1),
        xycoords=("data", "axes fraction"),
        xytext=(4, -3),
        textcoords="offset points",
        ha="left",
        va="top",
        fontsize=_SMALLEST_FONT_POINTS,
    )
    axes.set_yscale("log")
    ticks = [3, 5, 10, 20, 50, 100, 200, 500, 1000, 2000]
    axes.set_yticks(ticks, [f"{tick:,}" for tick in ticks])
    axes.minorticks_off()
    axes.set_ylim(3, 4000)
    axes.set_xlim(left=0)
    axes.set_xlabel("seconds since the first connection attempt")
    axes.set_ylabel("open descriptors (log scale)")
    axes.figure.suptitle(
        f"Open descriptors of each server process during a flood of {meta['attempts']:,}"
        f" connection attempts",
        x=0.01,
        ha="left",
        fontsize=_SMALLEST_FONT_POINTS + 1,
    )
    # Below the axes, where no line runs: inside, every corner has one of the four.
    axes.figure.legend(loc="outside lower center", ncols=2, frameon=False)
    axes.grid(linewidth=0.4, alpha=0.5)


def plot_flood_figure(flood: dict, path: Path) -> Path:
    """Draw the flood's figure into `path` (figure_paths(...)["flood"]). Returns `path`."""
    _draw(plot_flood, flood, 4.0, path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report")
    parser.add_argument(
        "results", type=Path, help="a results.json or flood.json written by python -m bench"
    )
    parser.add_argument(
        "--plot",
        type=Path,
        help="also draw the figures: from results.json, this PNG and two beside it; from"
        " flood.json, the flood's figure beside it (figure_paths)",
    )
    arguments = parser.parse_args(argv)
    document = json.loads(arguments.results.read_text())
    if "servers" in document:  # a flood.json
        print(flood_markdown(document))
        if arguments.plot:
            plot_flood_figure(document, figure_paths(arguments.plot)["flood"])
        return 0
    print(markdown_table(document))
    if arguments.plot:
        plot(document, arguments.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

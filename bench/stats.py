"""From samples to claims: medians, quartiles, paired ratios and the issue's targets.

Why medians and quartiles: the machine these numbers come from has two cores shared with
other work, whose load comes and goes in bursts of seconds. A sample that coincides with
a burst can be several times slower than its neighbours. The median ignores such samples
where a mean would absorb them, and the interquartile range (the middle half of the
samples) describes the spread without being dragged around by the worst burst.

Why paired ratios: samples are taken in rounds, stdlib, lit, bare, then bare, lit, stdlib,
and so on (A/B/B/A), so in each round the implementations ran back to back, a fraction of
a second apart. The ratio of two implementations *within one round* cancels whatever the
machine was doing during that round. The headline ratio lit/x is the median of those
per-round ratios, and its quartiles say how sure the comparison is.

What "noise" means here: for one implementation, the semi-interquartile range of its
samples relative to their median, `(q3 - q1) / 2 / median`: a typical sample lies within
±noise of the median. A comparison "meets" its target when the median per-round ratio
reaches it, is "within noise" when the upper quartile of the per-round ratios reaches it
(the target lies inside the middle half of what was measured), and is "below" otherwise.

Read next: `bench/report.py`, which turns these summaries into the table and the plot.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

# The targets, in one place.
TARGET_LIT_OVER_STDLIB = 1.0
TARGET_LIT_OVER_BARE_SYNCHRONOUS = 0.9
TARGET_SHUTDOWN_SECONDS = 0.010
# "Flat memory": the resident set grows by no more than this over the second half of the
# requests, when any one-off growth (caches, allocator arenas, the first threads) is over.
TARGET_MEMORY_GROWTH_SECOND_HALF_KIB = 1024


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """First quartile, median, third quartile (any number of values, even one)."""
    if len(values) < 2:
        return values[0], values[0], values[0]
    first, median, third = statistics.quantiles(values, n=4, method="inclusive")
    return first, median, third


def summarize(values: Sequence[float]) -> dict[str, object]:
    """Median, quartiles, range and relative semi-interquartile range (the noise)."""
    first, median, third = quartiles(values)
    return {
        "median": median,
        "q1": first,
        "q3": third,
        "min": min(values),
        "max": max(values),
        "noise": (third - first) / 2 / median if median else 0.0,
        "samples": list(values),
    }


def paired_ratios(numerators: Sequence[float], denominators: Sequence[float]) -> dict[str, object]:
    """Per-round ratios numerator/denominator, summarized like any samples."""
    ratios = [a / b for a, b in zip(numerators, denominators, strict=True)]
    summary = summarize(ratios)
    summary["per_round"] = summary.pop("samples")
    return summary


def compare(results: dict[str, dict], numerator: str, denominator: str, target: float) -> dict:
    """lit/other: the median per-round ratio, its quartiles, the noise and the verdict."""
    top, bottom = results[numerator], results[denominator]
    paired = paired_ratios(top["samples"], bottom["samples"])
    ratio = paired["median"]
    if ratio >= target:
        verdict = "meets target"
    elif paired["q3"] >= target:
        verdict = "within noise"
    else:
        verdict = "below target"
    return {
        "ratio": ratio,
        "ratio_of_medians": top["median"] / bottom["median"],
        "paired": paired,
        "noise": max(top["noise"], bottom["noise"]),
        "target": target,
        "verdict": verdict,
    }


def compare_cost(results: dict[str, dict], numerator: str, denominator: str) -> dict:
    """Server CPU per operation, numerator/denominator: below 1.0, the numerator is cheaper.

    No target: this is the second lens on the same samples. On a machine shared with other
    work the rates swing with whoever else holds the CPU, while the CPU a server spends per
    request moves much less; when the two lenses disagree, trust this one for efficiency.
    """
    key = "cpu_microseconds_per_operation"
    top, bottom = results[numerator][key], results[denominator][key]
    paired = paired_ratios(top["samples"], bottom["samples"])
    return {
        "ratio": paired["median"],
        "ratio_of_medians": top["median"] / bottom["median"],
        "paired": paired,
        "noise": max(top["noise"], bottom["noise"]),
    }


def least_squares_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if not spread:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


def summarize_memory(requests: Sequence[int], rss_kib: Sequence[int]) -> dict[str, object]:
    """RSS growth over a run: in total, over its second half, and as a fitted slope."""
    halfway = len(requests) // 2
    growth_second_half = rss_kib[-1] - rss_kib[halfway]
    return {
        "rss_start_kib": rss_kib[0],
        "rss_end_kib": rss_kib[-1],
        "rss_peak_kib": max(rss_kib),
        "growth_kib": rss_kib[-1] - rss_kib[0],
        "growth_second_half_kib": growth_second_half,
        "slope_kib_per_10k_requests": 10_000 * least_squares_slope(requests, rss_kib),
        "flat": growth_second_half <= TARGET_MEMORY_GROWTH_SECOND_HALF_KIB,
    }

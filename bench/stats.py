"""From samples to claims: medians, noise, ratios and the issue's targets.

Why medians: on a shared two-core machine a sample now and then loses the CPU to someone
else; the median ignores such outliers where a mean would absorb them.

Why paired ratios: samples are taken in rounds, stdlib, lit, bare, then bare, lit, stdlib,
and so on (A/B/B/A), so in each round the implementations ran back to back. The ratio of two
implementations within one round cancels whatever the machine was doing during that round;
the spread of those per-round ratios is an honest picture of how sure the comparison is.

What "noise" means here: for one implementation, the half-range of its samples relative to
their median, `(max - min) / 2 / median`. For a comparison of lit and another
implementation, the noise is the larger of the two. A ratio is "within noise" of a target
when it misses the target by less than that noise.

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


def summarize(values: Sequence[float]) -> dict[str, object]:
    """Median, range and relative half-range (the noise) of a list of samples."""
    median = statistics.median(values)
    low, high = min(values), max(values)
    return {
        "median": median,
        "min": low,
        "max": high,
        "noise": (high - low) / 2 / median if median else 0.0,
        "samples": list(values),
    }


def paired_ratios(numerators: Sequence[float], denominators: Sequence[float]) -> dict[str, object]:
    """Per-round ratios numerator/denominator, summarized."""
    ratios = [a / b for a, b in zip(numerators, denominators, strict=True)]
    return {
        "median": statistics.median(ratios),
        "min": min(ratios),
        "max": max(ratios),
        "per_round": ratios,
    }


def compare(results: dict[str, dict], numerator: str, denominator: str, target: float) -> dict:
    """lit/other: the ratio of medians, the paired ratios, the noise and the verdict."""
    top, bottom = results[numerator], results[denominator]
    ratio = top["median"] / bottom["median"]
    noise = max(top["noise"], bottom["noise"])
    paired = paired_ratios(top["samples"], bottom["samples"])
    if ratio >= target:
        verdict = "meets target"
    elif ratio >= target - noise:
        verdict = "within noise"
    else:
        verdict = "below target"
    return {
        "ratio": ratio,
        "paired": paired,
        "noise": noise,
        "target": target,
        "verdict": verdict,
    }


def compare_cost(results: dict[str, dict], numerator: str, denominator: str) -> dict:
    """Server CPU per operation, numerator/denominator: below 1.0, the numerator is cheaper.

    No target: this is the second lens on the same samples. On a machine shared with other
    work the rates swing with whoever else holds the CPU, while the CPU a server spends per
    request barely moves; when the two lenses disagree, trust this one for efficiency.
    """
    key = "cpu_microseconds_per_operation"
    top, bottom = results[numerator][key], results[denominator][key]
    return {
        "ratio": top["median"] / bottom["median"],
        "paired": paired_ratios(top["samples"], bottom["samples"]),
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

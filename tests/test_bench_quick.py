"""The benchmark harness still works: a smoke test, never a timing assert.

`python -m bench --quick` runs every case against the stdlib, socketserver_lit and the bare
loop with tiny samples, then a small flood (200 connection attempts) against the flood's
servers. Its numbers mean nothing; what this file checks is that the harness ran every case
end to end, against servers that answered correctly (the clients verify every reply, and a
server that wrote to stderr fails the run), and produced complete results documents, tables
and figures. The quick run is taken in two parts (the flood on its own), so that each fits
the per-test timeout. It also checks that the committed full-run results are complete, and
that the Performance page includes their tables and figures unchanged.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# bench/ is a directory of the checkout, not an installed package: make it importable
# however pytest was started (`pytest` alone does not put the checkout on sys.path).
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import socketserver  # noqa: E402

import socketserver_lit  # noqa: E402
from bench import cases, clients, report, run  # noqa: E402
from bench.servers import IMPLEMENTATIONS  # noqa: E402

RESULTS = REPO_ROOT / "bench" / "results"
COMMITTED_RESULTS = RESULTS / "results.json"
COMMITTED_FLOOD = RESULTS / "flood.json"
PERFORMANCE_PAGE = REPO_ROOT / "docs" / "performance.md"
# Each part of the quick run takes 20 to 35 s on two busy cores; pytest's own timeout (60 s)
# is the backstop, this one makes a hang fail with the harness's output attached.
QUICK_RUN_TIMEOUT_SECONDS = 55
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_quick(out: Path, *only: str) -> subprocess.CompletedProcess[str]:
    """`python -m bench --quick --out OUT --only ...`, in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)]
        + [f"--only={name}" for name in only],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=QUICK_RUN_TIMEOUT_SECONDS,
    )


def assert_figure_drawn(path: Path, completed: subprocess.CompletedProcess[str]) -> None:
    if importlib.util.find_spec("matplotlib") is not None:
        assert path.read_bytes().startswith(PNG_SIGNATURE)
    else:  # the core-only test environments have no matplotlib: the harness must say so
        assert not path.exists()
        assert "matplotlib is not installed" in completed.stderr


def assert_complete(document: dict, mode: cases.Mode) -> None:
    """Every case is there, with a positive number for every implementation."""
    assert document["meta"]["mode"] == mode.name
    assert set(document["throughput"]) == {case.name for case in cases.THROUGHPUT_CASES}
    for name, summary in document["throughput"].items():
        for implementation in IMPLEMENTATIONS:
            result = summary["results"][implementation]
            assert len(result["samples"]) == mode.repetitions, (name, implementation)
            assert all(rate > 0 for rate in result["samples"]), (name, implementation)
            assert result["median"] > 0, (name, implementation)
        for comparison in summary["comparisons"].values():
            assert comparison["ratio"] > 0, name
        if summary["synchronous"]:
            calls = summary["python_calls_per_operation"]
            assert all(calls[implementation] > 0 for implementation in IMPLEMENTATIONS), name
    for implementation in IMPLEMENTATIONS:
        latencies = document["shutdown"]["results"][implementation]["samples"]
        assert len(latencies) == mode.repetitions * mode.shutdown_cycles_per_repetition
        assert all(latency > 0 for latency in latencies), implementation
    assert set(document["memory"]["results"]) == set(cases.MEMORY_SERVERS)
    for label, result in document["memory"]["results"].items():
        assert result["requests"][-1] >= mode.memory_requests, label
        assert all(rss > 0 for rss in result["rss_kib"]), label
    assert document["pool_versus_thread_per_request"]["lit_pool_over_lit_threading"] > 0


def pool_bound(settings: dict) -> int:
    return settings["max_workers"] + settings["max_queued_requests"]


def assert_flood_complete(flood: dict, mode: cases.Mode) -> None:
    """Every flood server is there, every attempt ended one way, and the counts agree."""
    meta = flood["meta"]
    assert meta["mode"] == mode.name
    assert meta["attempts"] == mode.flood_attempts
    assert set(meta["kernel"]) >= {"tcp_abort_on_overflow", "tcp_syncookies", "somaxconn"}
    assert list(flood["servers"]) == list(cases.FLOOD_SERVERS)
    for label, result in flood["servers"].items():
        seen, counts = result["clients"], result["server_counts"]
        assert set(seen["outcomes"]) == set(clients.FLOOD_OUTCOMES), label
        assert sum(seen["outcomes"].values()) == mode.flood_attempts, label
        assert seen["outcomes"]["served"] > 0, label
        # A reply the client received came from a request the server accepted and answered.
        assert seen["outcomes"]["served"] <= counts["replied"], label
        assert counts["accepted"] == counts["replied"] + counts["client_gone"], label
        assert counts["accepted"] + counts["not_accepted_before_stop"] == mode.flood_attempts
        assert seen["connected"] >= seen["outcomes"]["served"], label
        idle, peak = result["idle"], result["peak"]
        assert 0 < idle["descriptors"] <= peak["descriptors"], label
        assert 0 < idle["threads"] <= peak["threads"], label
        assert 0 < idle["rss_kib"] <= peak["rss_kib"], label
        series = result["series"]
        assert len({len(values) for values in series.values()}) == 1, label
        assert max(series["descriptors"]) == peak["descriptors"], label
        assert result["after_flood"]["watched_seconds"] <= mode.flood_watch_limit_seconds + 1
        # Every server listens with its class's own backlog, which the report names.
        stdlib = result["server"]["class"].startswith("socketserver.")
        module = socketserver if stdlib else socketserver_lit
        assert result["server"]["request_queue_size"] == module.TCPServer.request_queue_size
    pool = flood["servers"]["lit pool"]["server"]
    assert pool["max_workers"] == cases.FLOOD_POOL_WORKERS
    assert pool["max_queued_requests"] == socketserver_lit.ThreadPoolTCPServer.max_queued_requests
    unbounded = flood["servers"]["lit pool, no queue bound"]["server"]
    assert unbounded["max_queued_requests"] is None
    assert flood["servers"]["stdlib threading"]["server"]["class"] == (
        "socketserver.ThreadingTCPServer"
    )


def test_quick_run_measures_every_case_and_writes_json_and_plot(tmp_path: Path) -> None:
    completed = run_quick(tmp_path, *run.RESULTS_SECTIONS)
    assert completed.returncode == 0, completed.stderr
    document = json.loads((tmp_path / "results.json").read_text())
    assert_complete(document, cases.QUICK)
    figures = report.figure_paths(tmp_path / "results.png")
    for name in ("throughput", "shutdown", "memory"):
        assert_figure_drawn(figures[name], completed)
    # The table printed at the end is the one built from the JSON it wrote.
    assert report.markdown_table(document) in completed.stdout
    assert (tmp_path / "table.md").read_text() == report.markdown_table(document) + "\n"
    assert not (tmp_path / "flood.json").exists()


def test_quick_flood_ends_every_attempt_and_writes_its_tables_and_figure(tmp_path: Path) -> None:
    completed = run_quick(tmp_path, "flood")
    assert completed.returncode == 0, completed.stderr
    flood = json.loads((tmp_path / "flood.json").read_text())
    assert_flood_complete(flood, cases.QUICK)
    assert_figure_drawn(report.figure_paths(tmp_path / "results.png")["flood"], completed)
    assert report.flood_markdown(flood) in completed.stdout
    assert (tmp_path / "flood.md").read_text() == report.flood_markdown(flood) + "\n"
    # A flood-only run leaves the other results alone.
    assert not (tmp_path / "results.json").exists()


def test_the_bounded_pool_never_held_more_than_its_bound_in_the_committed_flood() -> None:
    """Peak descriptors of the lit pool: those it had idle plus at most one per held request.

    ThreadPoolTCPServer holds at most max_workers + max_queued_requests accepted requests,
    one socket each; the flood sampled its descriptors every 20 ms.
    """
    result = json.loads(COMMITTED_FLOOD.read_text())["servers"]["lit pool"]
    held = result["peak"]["descriptors"] - result["idle"]["descriptors"]
    assert 0 < held <= pool_bound(result["server"])


def test_committed_results_are_a_complete_full_run() -> None:
    document = json.loads(COMMITTED_RESULTS.read_text())
    assert_complete(document, cases.FULL)


def test_committed_flood_is_a_complete_full_run_of_at_least_2000_attempts() -> None:
    flood = json.loads(COMMITTED_FLOOD.read_text())
    assert_flood_complete(flood, cases.FULL)
    assert flood["meta"]["attempts"] >= 2000


def test_performance_page_shows_the_committed_results_as_they_are() -> None:
    page = PERFORMANCE_PAGE.read_text()
    document = json.loads(COMMITTED_RESULTS.read_text())
    assert (RESULTS / "table.md").read_text() == report.markdown_table(document) + "\n"
    assert '--8<-- "bench/results/table.md"' in page
    flood = json.loads(COMMITTED_FLOOD.read_text())
    assert (RESULTS / "flood.md").read_text() == report.flood_markdown(flood) + "\n"
    assert '--8<-- "bench/results/flood.md"' in page
    for name, figure_path in report.figure_paths(RESULTS / "results.png").items():
        figure = figure_path.read_bytes()
        assert figure.startswith(PNG_SIGNATURE), name
        shown = REPO_ROOT / "docs" / "assets" / f"performance{report.FIGURE_SUFFIXES[name]}.png"
        assert shown.read_bytes() == figure, name

"""The benchmark harness still works: a smoke test, never a timing assert.

`python -m bench --quick` runs every case against the stdlib, socketserver_lit and the bare
loop with tiny samples. Its numbers mean nothing; what this file checks is that the harness
ran every case end to end, against servers that answered correctly (the clients verify
every reply, and a server that wrote to stderr fails the run), and produced a complete
results document and a plot. It also checks that the committed full-run results are
complete, and that the Performance page includes their table and figure unchanged.
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

from bench import cases, report  # noqa: E402
from bench.servers import IMPLEMENTATIONS  # noqa: E402

COMMITTED_RESULTS = REPO_ROOT / "bench" / "results" / "results.json"
PERFORMANCE_PAGE = REPO_ROOT / "docs" / "performance.md"
# The quick run takes about 25 s on two busy cores; pytest's own timeout (60 s) is the
# backstop, this one makes a hang fail with the harness's output attached.
QUICK_RUN_TIMEOUT_SECONDS = 55
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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


def test_quick_run_measures_every_case_and_writes_json_and_plot(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=QUICK_RUN_TIMEOUT_SECONDS,
    )
    assert completed.returncode == 0, completed.stderr
    document = json.loads((tmp_path / "results.json").read_text())
    assert_complete(document, cases.QUICK)
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "results.png").read_bytes().startswith(PNG_SIGNATURE)
    else:  # the core-only test environments have no matplotlib: the harness must say so
        assert not (tmp_path / "results.png").exists()
        assert "matplotlib is not installed" in completed.stderr
    # The table printed at the end is the one built from the JSON it wrote.
    assert report.markdown_table(document) in completed.stdout


def test_committed_results_are_a_complete_full_run() -> None:
    document = json.loads(COMMITTED_RESULTS.read_text())
    assert_complete(document, cases.FULL)


def test_performance_page_shows_the_committed_results_as_they_are() -> None:
    document = json.loads(COMMITTED_RESULTS.read_text())
    table = (REPO_ROOT / "bench" / "results" / "table.md").read_text()
    assert table == report.markdown_table(document) + "\n"
    assert '--8<-- "bench/results/table.md"' in PERFORMANCE_PAGE.read_text()
    figure = (REPO_ROOT / "bench" / "results" / "results.png").read_bytes()
    assert figure.startswith(PNG_SIGNATURE)
    assert (REPO_ROOT / "docs" / "assets" / "performance.png").read_bytes() == figure

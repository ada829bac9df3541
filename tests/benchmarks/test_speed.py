"""The speed benchmarks run and report what they claim (their figures live in JSON, not
in tests)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bonas.benchmarks.speed import ask_benchmark, memory_benchmark


@pytest.mark.slow
def test_ask_benchmark_reports_latency_memory_and_distance_work(tmp_path: Path) -> None:
    out = tmp_path / "ask.json"
    options = {"sizes": (4,), "repeats": 2, "spaces": ("cnn",), "num_candidates": 60}
    result = ask_benchmark(out=out, screen_top=0, **options)
    (run,) = result["runs"]
    assert run["observations"] == 4 and len(run["latencies_s"]) == 2
    assert run["median_s"] > 0 and run["peak_rss_mb"] > 0
    # the first ask measures every candidate against the 4 observed architectures
    assert run["distance_pairs_computed"] >= 4 * 60 and run["distance_seconds"] > 0
    assert run["bound_pairs_computed"] == 0
    written = json.loads(out.read_text())
    assert written["runs"][0]["observations"] == 4 and written["machine"]["cpu_count"] >= 1
    assert written["machine"]["python_reference_s"] > 0  # the machine's yardstick
    # screened: bounds for the candidates, exact distances for the best 5 of each ask
    (screened,) = ask_benchmark(screen_top=5, **options)["runs"]
    assert screened["bound_pairs_computed"] >= 4 * 50 and screened["bound_seconds"] > 0
    assert screened["distance_pairs_computed"] <= 4 * 3 + 2 * 5 * 5  # the fits' new pairs too


def test_ask_benchmark_with_budgets_times_a_multi_fidelity_searcher() -> None:
    result = ask_benchmark(sizes=(6,), repeats=2, spaces=("nb201",), budgets=(12, 200))
    (run,) = result["runs"]
    assert result["budgets"] == [12.0, 200.0]
    assert run["multi_fidelity"] and run["observations"] == 6 and len(run["latencies_s"]) == 2
    assert run["kernel"] == "average"  # the default on NB201, named in the results
    # the model average fits its GPs, with the budget as an input, at every ask
    assert run["fits"] >= 2


def test_distance_workers_start_without_torch() -> None:
    """OTMANN's worker processes run numpy and POT only; POT would import torch."""
    code = (
        "from bonas._workers import light_worker\n"
        "light_worker()\n"
        "import sys, bonas.kernels.otmann\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "False"


@pytest.mark.slow
def test_memory_benchmark_follows_a_search(tmp_path: Path) -> None:
    out = tmp_path / "memory.json"
    result = memory_benchmark(trials=8, every=2, out=out, n_initial=2, num_candidates=30)
    points = result["points"]
    assert [p["trials"] for p in points] == [2, 4, 6, 8]
    # the observations and the last two asks' candidates (first generations of 60) at most
    assert all(p["registered"] <= p["trials"] + 2 * 60 for p in points)
    assert points[-1]["profiles"] > 0 and points[-1]["peak_rss_mb"] > 0
    peaks = [p["peak_rss_mb"] for p in points]
    # a high-water mark never falls, but Linux syncs its per-thread RSS counters lazily,
    # so successive VmHWM readings can differ by a fraction of a MiB either way
    assert all(later >= earlier - 1.0 for earlier, later in itertools.pairwise(peaks))
    assert json.loads(out.read_text())["points"] == points

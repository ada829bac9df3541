"""The kill benchmark runs and reports a search killed and resumed (one kill here)."""

from __future__ import annotations

import pytest

from bonas.benchmarks.kills import kill_benchmark


@pytest.mark.slow
def test_a_killed_and_resumed_search_loses_nothing() -> None:
    report = kill_benchmark(kills=1, trials=8, eval_s=0.2, seed=0)
    assert report["kills"] == 1 and report["trials_in_study"] == 8
    assert report["lost"] == 0 and report["evaluated_twice"] == 0 and report["orphans"] == 0
    assert report["evaluations"] == 8 + report["rerun_by_design"]

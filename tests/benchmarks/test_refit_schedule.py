"""The refit-schedule benchmark continues one search under both schedules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bonas.benchmarks.refit_schedule import SCHEDULES, refit_schedule_benchmark


@pytest.mark.slow
def test_both_schedules_continue_one_search_and_the_default_refits_less(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bonas.surrogate

    # growth of a half from 4 observations (not a tenth from 100): a short search shows it
    monkeypatch.setattr(bonas.surrogate, "REFIT_GROWTH_FROM", 4)
    monkeypatch.setattr(bonas.surrogate, "DEFAULT_REFIT_GROWTH", 0.5)
    out = tmp_path / "refit.json"
    result = refit_schedule_benchmark(
        seeds=1, trials=12, branch_at=6, out=out, options={"n_initial": 2, "num_candidates": 30}
    )
    default, every = SCHEDULES
    for run in result["runs"]:
        a, b = run["branches"][default], run["branches"][every]
        assert a["values"][:6] == b["values"][:6]  # one search up to the branch
        assert len(a["values"]) == len(b["values"]) == 12
        assert a["best"] == {"6": max(a["values"][:6]), "12": max(a["values"])}
        assert b["fits"] == 6  # an ask at each of 6..11 observations, each refitting
        assert a["fits"] < b["fits"]
    assert set(result["summary"]) == {"6", "12"}
    assert result["summary"]["6"]["difference (default - every)"] == {"mean": 0.0, "se": 0.0}
    assert json.loads(out.read_text())["summary"] == result["summary"]

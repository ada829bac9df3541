"""Schedulers against tables with fidelities: simulated time, checkpoints, sweeps, CLI."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bonas import Architecture, BonasError
from bonas.benchmarks.multifidelity import (
    _goal_run,
    goal,
    screening_regrets,
    screening_yardstick,
    sweep,
)
from bonas.benchmarks.simulator import MF_COLUMNS, run_multifidelity, simulate, snap_budgets
from bonas.benchmarks.tables import UserTable
from bonas.schedulers import ASHA, Hyperband
from bonas.searchers import RandomSearch
from tests.mf_objectives import four_fidelity_table


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> UserTable:
    return four_fidelity_table(tmp_path_factory.mktemp("mf") / "mf.csv")


def test_users_fidelity_columns_feed_the_schedulers(table: UserTable) -> None:
    assert table.fidelities == (1.0, 3.0, 9.0, 27.0)
    records = run_multifidelity(table, "hyperband", "rs", seed=0, max_jobs=50)
    assert {r["budget"] for r in records} == set(table.fidelities)
    assert records[0]["scheduler"] == "hyperband" and records[0]["searcher"] == "rs"
    assert (records[0]["min_budget"], records[0]["max_budget"]) == (1.0, 27.0)
    assert set(MF_COLUMNS) <= set(records[0])


def test_the_simulator_reports_the_table_values_a_job_passed(table: UserTable) -> None:
    for curves in (True, False):
        scheduler = Hyperband(RandomSearch(table.space, seed=0), budgets=table.fidelities, eta=3)
        records = simulate(table, scheduler, max_jobs=12, curves=curves)
        first = scheduler.jobs[0]
        assert first.job.budget == 27.0 and first.job.resume_from is None
        arch = Architecture.from_json(records[0]["architecture"])
        expected = {b: table.query(arch, b).value for b in (1.0, 3.0, 9.0)} if curves else {}
        assert first.curve == expected
        promoted = next(r for r in scheduler.jobs if r.job.resume_from is not None)
        assert promoted.curve == {}  # from budget 9 to 27: no rung budget on the way
        assert "curve" not in records[0]  # the records' columns are unchanged


def test_promotions_are_charged_from_their_checkpoint(table: UserTable) -> None:
    for continuation in (True, False):
        scheduler = Hyperband(RandomSearch(table.space, seed=0), budgets=table.fidelities, eta=3)
        records = simulate(table, scheduler, max_jobs=40, continuation=continuation)
        for record in records:
            arch = Architecture.from_json(record["architecture"])
            full = table.query(arch, record["budget"]).train_time
            if continuation and record["resume_from"] is not None:
                full -= table.query(arch, record["resume_from"]).train_time
            assert record["cost"] == pytest.approx(full)
        # one worker: the clock is the running sum of the costs
        clock = 0.0
        for record in records:
            clock += record["cost"]
            assert record["sim_time"] == pytest.approx(clock)


def test_regret_is_of_the_best_result_at_the_top_budget(table: UserTable) -> None:
    records = run_multifidelity(table, "asha", "rs", seed=1, max_jobs=120)
    best = None
    for record in records:
        if record["budget"] == 27.0 and (best is None or record["value"] > best):
            best = record["value"]
        assert record["incumbent"] == best
        if best is not None:
            assert record["regret"] == pytest.approx(table.optimum - best)


def test_asha_keeps_every_worker_busy_and_hyperband_waits(table: UserTable) -> None:
    def busy_share(scheduler) -> float:
        records = simulate(table, scheduler, workers=4, max_jobs=120)
        spans = [(r["sim_time"] - r["cost"], r["sim_time"]) for r in records]
        end = max(s for s, _ in spans)  # up to the last start: after it, the run winds down
        grid = [end * k / 400 for k in range(400)]
        return sum(sum(s <= t < e for s, e in spans) for t in grid) / (4 * len(grid))

    asha = busy_share(ASHA(RandomSearch(table.space, seed=0), budgets=table.fidelities, eta=3))
    hyperband = busy_share(
        Hyperband(RandomSearch(table.space, seed=0), budgets=table.fidelities, eta=3)
    )
    assert asha > 0.95  # nobody waits for a rung to fill
    assert hyperband < asha  # synchronous rungs leave workers idle


def test_time_budget_stops_the_run(table: UserTable) -> None:
    records = run_multifidelity(table, "bohb", "rs", seed=0, max_time=5_000.0)
    assert records and all(r["sim_time"] <= 5_000.0 for r in records)
    with pytest.raises(BonasError, match="max_time or max_jobs"):
        run_multifidelity(table, "bohb", "rs", seed=0)
    scheduler = Hyperband(RandomSearch(table.space, seed=0), budgets=(2.0, 27.0), eta=3)
    with pytest.raises(BonasError, match=r"rung budgets \[2.0\] are not fidelities"):
        simulate(table, scheduler, max_jobs=5)


def test_snap_budgets_to_a_tables_fidelities() -> None:
    assert snap_budgets((1.21, 3.63, 10.9, 32.7, 98.0), range(1, 99)) == (1, 4, 11, 33, 98)
    assert snap_budgets((22.2, 66.7, 200.0), (12.0, 200.0)) == (12.0, 200.0)


def test_sweep_writes_a_table_and_a_plot(table: UserTable, tmp_path: Path) -> None:
    frame = sweep(
        table,
        schedulers=["hyperband", "asha"],
        searchers=["rs"],
        etas=[2, 3],
        min_budgets=[None, 3],
        seeds=2,
        max_jobs=30,
        out=tmp_path,
        progress=False,
    )
    assert len(frame) == 2 * 2 * 2 * 2
    assert set(frame["min_budget"]) == {1.0, 3.0}
    assert (frame["jobs"] == 30).all()
    # a run that has not reached the top budget yet has no incumbent
    assert frame["regret"].notna().any() and (frame["regret"].dropna() >= 0).all()
    assert (frame["total_budget"] > 0).all()
    for name in ("sweep.csv", "sweep.md", "records.csv", "regret_vs_budget.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert "| hyperband | rs | 2 | 1–27 | 2 |" in (tmp_path / "sweep.md").read_text()


@pytest.mark.slow
def test_cli_sweep_on_a_users_table(table: UserTable, tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "bonas", "sweep", "--table", table.source, "--arch-column", "arch",
        "--objective", "acc_e{budget}:max", "--train-time-column", "seconds",
        "--schedulers", "hyperband,bohb", "--searchers", "rs", "--etas", "3", "--seeds", "2",
        "--max-jobs", "20", "--quiet", "--out", str(out),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "# Hyperband sweep table:mf.csv" in done.stdout
    assert len(pd.read_csv(out / "sweep.csv")) == 4
    failed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bonas",
            "sweep",
            "--table",
            table.source,
            "--arch-column",
            "arch",
            "--objective",
            "acc_e{budget}",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert failed.returncode == 2 and "--max-time" in failed.stderr


def _reference(path: Path, regret: float, sim_time: float) -> Path:
    """A full-fidelity replay summary with bonas's row at 100 queries."""
    rows = [
        {"optimizer": "bonas", "queries": 50, "regret_mean": 2 * regret, "sim_time_mean": 1.0},
        {"optimizer": "bonas", "queries": 100, "regret_mean": regret, "sim_time_mean": sim_time},
    ]
    pd.DataFrame(rows).to_csv(path / "summary.csv", index=False)
    return path / "summary.csv"


def test_screening_promotes_by_the_low_budget_value_within_the_time_left() -> None:
    # (low value, low time, top value, top time): the third is the best at the top budget
    # but the worst at the low one, so it goes on last
    rows = [(0.5, 10.0, 0.7, 40.0), (0.6, 10.0, 0.8, 40.0), (0.4, 10.0, 0.95, 20.0)]
    # 60 s: n=1 leaves 50 s and the first continues (30 s); n=2 leaves 40 s, the second
    # continues and the first no longer fits; n=3 leaves 30 s, spent on the second
    assert screening_regrets(rows, 60.0, 1.0, step=1) == pytest.approx({1: 0.3, 2: 0.2, 3: 0.2})
    # 70 s: at n=3 the 10 s left after the second still fit the third's 10 s continuation
    assert screening_regrets(rows, 70.0, 1.0, step=1)[3] == pytest.approx(0.05)
    # queries alone overrunning the time leave their n out; promotions that never fit, too
    assert screening_regrets(rows, 25.0, 1.0, step=1) == pytest.approx({})
    assert list(screening_regrets(rows, 70.0, 1.0, step=2)) == [2]


def test_screening_yardstick_on_a_users_table(table: UserTable, tmp_path: Path) -> None:
    reference = _reference(tmp_path, regret=0.0, sim_time=3 * 4_000.0)
    out = tmp_path / "screen.json"
    report = screening_yardstick(
        table, reference, 3.0, searcher="rs", seeds=3, queries=30, step=5, out=out
    )
    assert report["time_budget"] == pytest.approx(4_000.0)
    assert (report["low_budget"], report["top_budget"]) == (3.0, 27.0)
    assert [entry["n"] for entry in report["per_n"]] == list(range(5, 31, 5))
    means = [entry["regret_mean"] for entry in report["per_n"]]
    assert all(m >= 0 for m in means)
    # each seed's best n in hindsight is at least as good as any n fixed for every seed
    assert report["hindsight_regret_mean"] <= min(means) + 1e-12
    assert report["hindsight_meets_target"] is False  # no search reaches regret 0 here
    assert pd.read_json(out, typ="series")["queries"] == 30
    with pytest.raises(BonasError, match=r"fidelities below the top, \[1.0, 3.0, 9.0\]; got 27"):
        screening_yardstick(table, reference, 27.0, searcher="rs", seeds=1, queries=5)


@pytest.mark.slow
def test_goal_compares_the_runs_with_full_fidelity_bonas(table: UserTable, tmp_path: Path) -> None:
    reference = _reference(tmp_path, regret=0.5, sim_time=3 * 6_000.0)
    runs = ["bohb+bonas", "hyperband+rs", "bonas-full"]
    report = goal(table, reference, seeds=2, runs=runs, horizon=1 / 3)
    assert report["time_budget"] == pytest.approx(6_000.0)
    assert report["checkpoints"] == pytest.approx({"t_9": 2_000.0, "t_3": 6_000.0})
    assert report["target_regret"] == 0.5
    for name in runs:
        entry = report["runs"][name]
        assert entry["regret_at_t_9_mean"] >= entry["regret_at_t_3_mean"] >= 0
        assert "regret_at_t_mean" not in entry  # past the horizon
    mf, full = report["runs"]["bohb+bonas"], report["runs"]["bonas-full"]
    for label in ("t_9", "t_3"):
        gap = mf[f"regret_at_{label}_mean"] - full[f"regret_at_{label}_mean"]
        bound = math.hypot(mf[f"regret_at_{label}_se"], full[f"regret_at_{label}_se"])
        assert report["no_worse_than_full_fidelity"][label] == (gap <= bound)
    final = report["runs"]["bohb+bonas"]["regret_at_t_3_mean"]
    assert report["bohb_meets_target"] == (final <= 0.5)
    assert report["bohb_beats_full_fidelity_at_equal_time"] == (
        final < report["runs"]["bonas-full"]["regret_at_t_3_mean"]
    )
    assert "multi_fidelity_gain" not in report  # its run was not asked for
    with pytest.raises(BonasError, match=r"unknown goal runs \['bohb\+re'\]; known: \['bohb"):
        goal(table, reference, seeds=1, runs=["bohb+re"])


def test_goal_runs_the_seeds_it_is_given_and_reports_each_seed(
    table: UserTable, tmp_path: Path
) -> None:
    reference = _reference(tmp_path, regret=0.5, sim_time=3 * 6_000.0)
    report = goal(table, reference, seeds=[3, 5], runs=["hyperband+rs"], horizon=1 / 3)
    assert report["seeds"] == [3, 5]
    entry = report["runs"]["hyperband+rs"]
    for label in ("t_9", "t_3"):
        by_seed = entry[f"regret_at_{label}_by_seed"]
        assert len(by_seed) == 2
        assert entry[f"regret_at_{label}_mean"] == pytest.approx(sum(by_seed) / 2)
    alone = goal(table, reference, seeds=[5], runs=["hyperband+rs"], horizon=1 / 3)
    assert alone["runs"]["hyperband+rs"]["regret_at_t_3_by_seed"] == by_seed[1:]
    for bad in (0, [], [1, 1], [-1]):
        with pytest.raises(BonasError, match="seeds must be distinct and non-negative"):
            goal(table, reference, seeds=bad, runs=["hyperband+rs"])


def test_full_fidelity_goal_run_trains_every_architecture_at_the_top_budget(
    table: UserTable,
) -> None:
    _, _, records = _goal_run(table, "bonas-full", 0, 3_000.0, 3.0)
    assert records and {r["budget"] for r in records} == {27.0}
    assert all(r["resume_from"] is None for r in records)
    assert len({r["architecture"] for r in records}) == len(records)
    # one at a time: the clock is the running sum of full trainings
    assert records[-1]["sim_time"] == pytest.approx(sum(r["cost"] for r in records))


def test_goal_options_change_the_bohb_runs_only(table: UserTable) -> None:
    # not adapting: a bracket dropped for its poor lowest budget would make way for 0
    options = {"brackets": [3], "random_fraction": 1.0, "adapt": False}
    _, _, bohb = _goal_run(table, "bohb+bonas", 0, 3_000.0, 3.0, None, options)
    _, _, hyperband = _goal_run(table, "hyperband+rs", 0, 3_000.0, 3.0, None, options)
    assert {r["bracket"] for r in bohb} == {3}  # the most aggressive bracket only
    assert len({r["bracket"] for r in hyperband}) > 1  # every bracket, as standard


def test_the_no_curves_goal_run_measures_the_budgets_by_promotions_only(table: UserTable) -> None:
    # random proposals keep it quick; the table's budget 1 ranks poorly (about 0.35 with 3)
    options = {"random_fraction": 1.0}
    _, _, seeing = _goal_run(table, "bohb+bonas", 0, 3_000.0, 3.0, None, options)
    _, _, blind = _goal_run(table, "bohb+bonas-no-curves", 0, 3_000.0, 3.0, None, options)
    first = [r["budget"] for r in seeing[:12]]
    assert first == [r["budget"] for r in blind[:12]]  # brackets 0 and 1, alike
    # the curves of brackets 0 and 1 drop the low budgets: bracket 0 runs again instead
    # of bracket 2, which the blind run starts at budget 3
    assert [(r["bracket"], r["budget"]) for r in seeing[12:16]] == [(0, 27.0)] * 4
    assert [(r["bracket"], r["budget"]) for r in blind[12:16]] == [(2, 3.0)] * 4


@pytest.mark.slow
def test_the_model_curves_goal_run_gives_the_gp_the_values_passed(table: UserTable) -> None:
    _, _, plain = _goal_run(table, "bohb+bonas", 0, 3_000.0, 3.0)
    _, _, modelled = _goal_run(table, "bohb+bonas-model-curves", 0, 3_000.0, 3.0)
    # the same scheduler: bracket 0's first architectures come before any curve
    assert [r["budget"] for r in modelled[:4]] == [r["budget"] for r in plain[:4]] == [27.0] * 4
    # the GP conditioned on the passed values as well proposes other architectures
    assert [r["architecture"] for r in modelled] != [r["architecture"] for r in plain]


def test_the_goal_command_reports_a_bad_run_in_one_line(capsys) -> None:
    from bonas.benchmarks.multifidelity import main

    argv = ["goal", "--benchmark", "nb101@x", "--reference", "y", "--out", "z", "--runs", "hebo"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown goal runs ['hebo']; known:") and "Traceback" not in err
    assert "'dehb'" in err and "'bohb+bonas-one-budget'" in err
    argv = ["goal", "--benchmark", "nb101@x", "--reference", "y", "--out", "z", "--first-seed"]
    assert main([*argv, "-1"]) == 2
    assert "seeds must be distinct and non-negative" in capsys.readouterr().err

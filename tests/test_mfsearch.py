"""``bonas.search_multifidelity``: the job loop, its journal, resumes and faults.

Objectives here are cheap functions of the architecture (tests/mf_objectives.py);
the one with real training is in test_search_cli.py.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import bonas
from bonas import BonasError, Study, StudyError
from bonas.executors import DaskExecutor, ProcessExecutor
from bonas.spaces import NB201Space
from tests import mf_objectives
from tests.mf_objectives import Flaky, nb201_at_budget
from tests.objectives import nb201_score

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["job", "architecture", "budget", "resume_from", "bracket", "rung", "state", "value"]
GP = {"num_candidates": 100, "n_initial": 4}


def _search(**options: object) -> bonas.MultiFidelityResult:
    settings: dict[str, object] = {"searcher": "rs", "progress": False, "seed": 1}
    settings.update(options)
    objective = settings.pop("objective", nb201_at_budget)
    return bonas.search_multifidelity(objective, NB201Space(), **settings)  # type: ignore[arg-type]


def test_a_bohb_search_runs_hyperbands_brackets_with_checkpoints() -> None:
    result = _search(scheduler="bohb", max_jobs=22)
    jobs = result.jobs
    assert result.stopped_by == "jobs" and len(jobs) == 22
    # least aggressive first: bracket 0 (3 at budget 9), bracket 1 (5 at 3, the best one
    # goes on to 9), bracket 2 (9 at 1, the best 3 go on to 3, the best of those to 9)
    assert list(jobs["budget"]) == [9.0] * 3 + [3.0] * 5 + [9.0] + [1.0] * 9 + [3.0] * 3 + [9.0]
    assert jobs["resume_from"][:8].isna().all() and jobs["resume_from"][8] == 3.0
    assert list(jobs["resume_from"][18:]) == [1.0, 1.0, 1.0, 3.0]
    first = jobs[jobs["budget"] == 1.0].sort_values("value", ascending=False)
    assert set(jobs["architecture"][18:21]) == set(first["architecture"][:3])
    assert (jobs["state"] == "complete").all() and (jobs["attempts"] == 1).all()
    top = jobs[jobs["budget"] == 9.0]
    assert result.best_budget == 9.0 and result.best_job == top["value"].idxmax()
    arch = result.best_architecture
    assert result.best_value == pytest.approx(nb201_score(arch) * 9 / 12)  # type: ignore[arg-type]
    resumed = [*jobs["resumed"][18:], jobs["resumed"][8]]  # the objective's extras
    assert resumed == [1.0, 1.0, 1.0, 3.0, 3.0]


@pytest.mark.slow
@pytest.mark.parametrize("scheduler", ["hyperband", "bohb", "asha"])
def test_the_gp_searcher_is_deterministic_by_seed(scheduler: str) -> None:
    runs = [
        _search(scheduler=scheduler, searcher="bonas", max_jobs=11, searcher_options=GP)
        for _ in range(2)
    ]
    assert runs[0].jobs[COLUMNS].equals(runs[1].jobs[COLUMNS])
    other = _search(scheduler=scheduler, searcher="bonas", max_jobs=11, seed=2, searcher_options=GP)
    assert not other.jobs[COLUMNS].equals(runs[0].jobs[COLUMNS])


@pytest.mark.slow
def test_a_stopped_search_resumes_to_what_an_uninterrupted_one_gives(tmp_path: Path) -> None:
    options = {"scheduler": "bohb", "searcher": "bonas", "searcher_options": GP}
    full = _search(max_jobs=24, storage=tmp_path / "full.db", **options)
    _search(max_jobs=11, storage=tmp_path / "part.db", **options)
    resumed = _search(max_jobs=24, storage=tmp_path / "part.db", **options)
    assert resumed.jobs[COLUMNS].equals(full.jobs[COLUMNS])


@pytest.mark.slow
def test_sigkill_mid_job_then_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    def run(db: Path, kill_at: int) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "tests.mf_objectives", str(db), "18", str(kill_at)]
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)

    killed = run(tmp_path / "killed.db", kill_at=12)  # dies inside its 12th evaluation
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    with sqlite3.connect(tmp_path / "killed.db") as db:
        states = [s for (s,) in db.execute("SELECT state FROM trials ORDER BY number")]
    assert states == ["complete"] * 11 + ["running"]
    resumed = run(tmp_path / "killed.db", kill_at=-1)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    clean = run(tmp_path / "clean.db", kill_at=-1)
    assert clean.returncode == 0, clean.stderr[-2000:]

    def history(db: Path) -> list[tuple]:
        with sqlite3.connect(db) as connection:
            return connection.execute(
                "SELECT number, architecture, budget, state, value FROM trials ORDER BY number"
            ).fetchall()

    got, expected = history(tmp_path / "killed.db"), history(tmp_path / "clean.db")
    assert len(got) == 18 and all(row[3] == "complete" for row in got)
    assert got == expected  # nothing lost, nothing run twice, the same proposals


def test_the_time_budget_stops_running_jobs_and_a_resume_reruns_them(tmp_path: Path) -> None:
    db = tmp_path / "study.db"
    slow = Flaky(tmp_path, ["hang"])  # the first job sleeps 60 s
    started = time.monotonic()
    result = _search(objective=slow, time_budget=3.0, storage=db, executor=ProcessExecutor(1))
    assert time.monotonic() - started < 30
    assert result.stopped_by == "time"
    assert list(result.jobs["state"]) == ["running"]
    assert result.best_architecture is None
    again = _search(objective=slow, time_budget=10.0, max_jobs=5, storage=db)
    assert again.jobs.loc[0, "state"] == "complete"  # re-run, not lost
    assert again.jobs.loc[0, "architecture"] == result.jobs.loc[0, "architecture"]
    assert again.stopped_by == "jobs"


def test_in_process_jobs_running_at_the_time_budget_finish_and_are_kept() -> None:
    def slow(arch: bonas.Architecture, budget: float, resume_from: float | None) -> dict:
        time.sleep(1.5)
        return nb201_at_budget(arch, budget, resume_from)

    result = _search(objective=slow, time_budget=1.0)  # one in-process worker
    assert result.stopped_by == "time"
    assert list(result.jobs["state"]) == ["complete"]  # not abandoned to a stray thread


def test_worker_faults_are_retried_and_errors_fail_at_once(tmp_path: Path) -> None:
    # one worker, retries first: 1 die (job 0), 2 error (job 0's retry: fails, not
    # retried), 3 oom (job 1), 4 hang (job 1's retry, timed out), 5 ok (its third try)
    flaky = Flaky(tmp_path, ["die", "error", "oom", "hang"])
    with ProcessExecutor(1) as executor:
        result = _search(
            objective=flaky, max_jobs=6, executor=executor, timeout_per_job=4.0,
            storage=tmp_path / "study.db",
        )  # fmt: skip
    jobs = result.jobs.set_index("job")
    assert jobs.loc[0, "state"] == "failed" and jobs.loc[0, "attempts"] == 2
    assert jobs.loc[0, "failure"].startswith("ValueError: this architecture cannot be built")
    assert jobs.loc[1, "state"] == "complete" and jobs.loc[1, "attempts"] == 3
    assert (jobs.loc[2:, "state"] == "complete").all()
    with sqlite3.connect(tmp_path / "study.db") as db:
        faults = [a for (a,) in db.execute("SELECT user_attrs FROM trials ORDER BY number")]
    assert "WorkerDied" in faults[0]
    assert "MemoryError" in faults[1] and "TimeoutError: timed out after 4s" in faults[1]


def test_a_job_failing_every_attempt_is_recorded_and_the_search_goes_on(tmp_path: Path) -> None:
    flaky = Flaky(tmp_path, ["oom", "oom", "oom"])
    result = _search(objective=flaky, max_jobs=4, retries=2)
    first = result.jobs.iloc[0]
    assert first["state"] == "failed" and first["attempts"] == 3
    assert first["failure"] == "MemoryError: simulated out of memory (after 3 attempts)"
    assert (result.jobs["state"][1:] == "complete").all()


def test_bad_values_are_failures(tmp_path: Path) -> None:
    def objective(arch: object, budget: float, resume_from: float | None) -> object:
        return {1.0: float("nan"), 3.0: {"no": "value"}}.get(budget, "high")

    jobs = _search(objective=objective, max_jobs=9).jobs
    # brackets 0 (3 at budget 9) and 1 (5 at 3) fail whole, then bracket 2 starts at 1
    assert list(jobs["budget"]) == [9.0] * 3 + [3.0] * 5 + [1.0]
    assert set(jobs["failure"]) == {
        "the objective returned 'high' (str), not a number",
        "the objective returned a mapping without 'value': ['no']",
        "non-finite value nan",
    }
    assert (jobs["state"] == "failed").all()


def test_a_search_on_dask_evaluates_on_both_workers() -> None:
    with DaskExecutor(workers=2) as executor:
        result = _search(max_jobs=12, executor=executor)
    assert (result.jobs["state"] == "complete").all()
    assert result.jobs["worker"].eq("dask").all()
    assert result.jobs["pid"].nunique() == 2
    for _, row in result.jobs.iterrows():
        arch = bonas.Architecture.from_json(row["architecture"])
        assert row["value"] == pytest.approx(nb201_at_budget(arch, row["budget"], None)["value"])


def test_settings_and_files_are_checked(tmp_path: Path) -> None:
    with pytest.raises(BonasError, match="give the search a stop"):
        _search()
    with pytest.raises(BonasError, match="retries must be >= 0, got -1"):
        _search(max_jobs=2, retries=-1)
    db = tmp_path / "study.db"
    _search(max_jobs=3, storage=db)
    with pytest.raises(StudyError, match=r"other settings \(searcher, seed\)"):
        _search(max_jobs=3, storage=db, seed=7)
    with pytest.raises(StudyError, match="is a multi-fidelity study"):
        Study.load(db)
    single = tmp_path / "single.db"
    bonas.search(nb201_score, NB201Space(), n_trials=2, storage=single, progress=False)
    with pytest.raises(StudyError, match="is a single-fidelity study"):
        _search(max_jobs=3, storage=single)
    with sqlite3.connect(db) as connection:  # a journal whose first job was tampered with
        connection.execute("UPDATE trials SET budget = 3.0 WHERE number = 0")
    with pytest.raises(StudyError, match="cannot be resumed: the journal does not match"):
        _search(max_jobs=3, storage=db)
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(StudyError, match="not a readable SQLite study"):
        _search(max_jobs=3, storage=tmp_path / "junk.db")


def test_minimisation_picks_the_lowest_value() -> None:
    result = _search(max_jobs=13, direction="minimize", objective=mf_objectives.nb201_at_budget)
    top = result.jobs[result.jobs["budget"] == 9.0]
    assert result.best_value == top["value"].min()


def test_a_finite_space_runs_out_but_asha_still_promotes() -> None:
    from bonas.spaces import CellSpace
    from tests.objectives import jitter

    space = CellSpace(("zero", "conv"), nodes=3)  # 8 cells

    def objective(arch: bonas.Architecture, budget: float, resume_from: float | None) -> float:
        return jitter(arch) * budget

    result = bonas.search_multifidelity(
        objective, space, scheduler="asha", searcher="rs", max_jobs=50, progress=False
    )
    assert result.stopped_by == "exhausted"
    jobs = result.jobs
    assert jobs[jobs["budget"] == 1.0]["architecture"].nunique() == 8
    assert (jobs["budget"] == 9.0).sum() >= 1  # promotions went on after the last new cell


def test_a_dask_worker_that_dies_loses_nothing(tmp_path: Path) -> None:
    flaky = Flaky(tmp_path, ["die"])  # the first evaluation kills its Dask worker
    with DaskExecutor(workers=2) as executor:
        result = _search(objective=flaky, max_jobs=6, executor=executor)
    assert (result.jobs["state"] == "complete").all()
    assert len((tmp_path / "calls").read_text().splitlines()) == 7  # one call ran twice


def test_objects_in_place_of_names_run_the_same_search() -> None:
    """``scheduler=BOHB(RandomSearch(space, seed=1), ...)`` is the search the names
    build; a searcher object under a named scheduler too."""
    from bonas.schedulers import BOHB
    from bonas.searchers import RandomSearch

    by_name = _search(scheduler="bohb", max_jobs=13)
    space = NB201Space()
    scheduler = BOHB(RandomSearch(space, seed=1), min_budget=1, max_budget=9, eta=3, seed=1)
    by_object = bonas.search_multifidelity(
        nb201_at_budget, space, scheduler=scheduler, max_jobs=13, progress=False
    )
    assert by_object.scheduler is scheduler
    assert by_object.jobs[COLUMNS].equals(by_name.jobs[COLUMNS])
    searcher_object = bonas.search_multifidelity(
        nb201_at_budget, space, scheduler="bohb", searcher=RandomSearch(space, seed=1),
        seed=1, max_jobs=13, progress=False,
    )  # fmt: skip
    assert searcher_object.jobs[COLUMNS].equals(by_name.jobs[COLUMNS])


def test_a_scheduler_object_refuses_settings_it_brings_and_reuse() -> None:
    from bonas.schedulers import Hyperband
    from bonas.searchers import RandomSearch

    space = NB201Space()
    scheduler = Hyperband(RandomSearch(space, seed=0), min_budget=1, max_budget=9)
    with pytest.raises(BonasError, match=r"do not also give \['eta', 'searcher'\]"):
        bonas.search_multifidelity(
            nb201_at_budget, space, scheduler=scheduler, searcher="rs", eta=2, max_jobs=2
        )
    with pytest.raises(BonasError, match="another space object"):
        bonas.search_multifidelity(nb201_at_budget, NB201Space(), scheduler=scheduler, max_jobs=2)
    bonas.search_multifidelity(nb201_at_budget, space, scheduler=scheduler, max_jobs=2,
                               progress=False)  # fmt: skip
    with pytest.raises(BonasError, match="already issued 2 jobs"):
        bonas.search_multifidelity(nb201_at_budget, space, scheduler=scheduler, max_jobs=2)
    with pytest.raises(BonasError, match="searcher_options are for a searcher given by name"):
        bonas.search_multifidelity(
            nb201_at_budget, space, searcher=RandomSearch(space), searcher_options={}, max_jobs=2
        )
    with pytest.raises(BonasError, match="differs from the searcher's 'maximize'"):
        bonas.search_multifidelity(
            nb201_at_budget, space, searcher=RandomSearch(space), direction="minimize", max_jobs=2
        )


def test_ctrl_c_counts_the_interrupted_attempt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job running at a Ctrl-C notes its interrupted attempt; the resumed search runs
    it again as attempt 2 and then finishes as an uninterrupted one would."""
    from bonas._mfsearch import JobLoop

    real_collect = JobLoop._collect
    collected = []

    def interrupt_at_the_fourth(self: JobLoop, out_of_time: bool) -> None:
        collected.append(1)
        if len(collected) == 4:
            raise KeyboardInterrupt
        real_collect(self, out_of_time)

    monkeypatch.setattr(JobLoop, "_collect", interrupt_at_the_fourth)
    with pytest.raises(KeyboardInterrupt):
        _search(scheduler="hyperband", max_jobs=9, storage=tmp_path / "study.db")
    monkeypatch.setattr(JobLoop, "_collect", real_collect)
    resumed = _search(scheduler="hyperband", max_jobs=9, storage=tmp_path / "study.db")
    full = _search(scheduler="hyperband", max_jobs=9)
    assert resumed.jobs[COLUMNS].equals(full.jobs[COLUMNS])
    jobs = resumed.jobs.set_index("job")
    assert jobs.loc[3, "attempts"] == 2 and (jobs.drop(index=3)["attempts"] == 1).all()
    with sqlite3.connect(tmp_path / "study.db") as db:
        (attrs,) = db.execute("SELECT user_attrs FROM trials WHERE number = 3").fetchone()
    assert json.loads(attrs)["faults"] == ["attempt 1: interrupted (Ctrl-C)"]


def test_a_journal_from_before_adapting_resumes_without_adapting_or_continuing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    _search(scheduler="bohb", max_jobs=10, storage=path)
    db = sqlite3.connect(path)
    with db:
        (text,) = db.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()
        config = json.loads(text)
        assert config["adapt"] is True and config["continue_stopped"] is True  # stored now
        for key in ("adapt", "trust_threshold", "min_pairs", "continue_stopped"):
            del config[key]  # as bonas wrote it before
        db.execute("UPDATE meta SET value = ? WHERE key = 'config'", (json.dumps(config),))
    db.close()
    resumed = _search(scheduler="bohb", max_jobs=14, storage=path)  # no "other settings"
    assert len(resumed.jobs) == 14
    straight = _search(scheduler="bohb", max_jobs=14)  # adapting changes nothing this early
    assert list(resumed.jobs["architecture"]) == list(straight.jobs["architecture"])


def test_a_named_bohb_search_models_every_budget_and_draws_nothing_at_random(
    tmp_path: Path,
) -> None:
    path = tmp_path / "new.db"
    _search(scheduler="bohb", searcher="bonas", max_jobs=3, storage=path,
            searcher_options={"n_initial": 2, "num_candidates": 20})  # fmt: skip
    db = sqlite3.connect(path)
    (text,) = db.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()
    db.close()
    config = json.loads(text)
    assert config["random_fraction"] == 0.0 and config["searcher"]["multi_fidelity"] is True
    full = _search(scheduler="hyperband", searcher="bonas", min_budget=9, max_jobs=1,
                   searcher_options={"n_initial": 2})  # fmt: skip
    assert full.scheduler.searcher.multi_fidelity is False  # one budget: nothing to carry


def test_a_journal_from_before_bohb_modelled_every_budget_resumes_as_it_ran(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    options = {"scheduler": "bohb", "searcher": "bonas", "storage": path}
    small = {"n_initial": 2, "num_candidates": 20}
    _search(max_jobs=3, searcher_options={**small, "multi_fidelity": False}, **options)
    db = sqlite3.connect(path)
    with db:
        (text,) = db.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()
        config = json.loads(text)
        config["random_fraction"] = 1 / 3  # as bonas wrote it before
        db.execute("UPDATE meta SET value = ? WHERE key = 'config'", (json.dumps(config),))
    db.close()
    resumed = _search(max_jobs=5, searcher_options=small, **options)  # no "other settings"
    assert len(resumed.jobs) == 5
    assert resumed.scheduler.random_fraction == pytest.approx(1 / 3)
    assert resumed.scheduler.searcher.multi_fidelity is False
    with pytest.raises(StudyError, match="other settings"):  # asked for, it clashes
        _search(max_jobs=6, searcher_options={**small, "multi_fidelity": True}, **options)


def test_a_validation_curve_lets_bohb_drop_misleading_budgets_before_running_them(
    tmp_path: Path,
) -> None:
    from tests.mf_objectives import misleading_below_9

    def without_curve(arch: object, budget: float, resume_from: float | None) -> float:
        return misleading_below_9(arch, budget, resume_from)["value"]  # type: ignore[arg-type]

    # brackets 0 (3 at budget 9) and 1 (5 at 3, 1 at 9): their curves give 8 pairs of
    # budgets 1 and 3, unrelated, and the scheduler runs only budget 9 from then on
    seen = _search(objective=misleading_below_9, scheduler="bohb", max_jobs=24).jobs
    assert set(seen["budget"][9:]) == {9.0}
    blind = _search(objective=without_curve, scheduler="bohb", max_jobs=24).jobs
    assert 1.0 in set(blind["budget"][9:])  # without it, bracket 2 starts at budget 1
    # a resumed search reads the curves back from the journal and decides the same
    path = tmp_path / "curves.db"
    _search(objective=misleading_below_9, scheduler="bohb", max_jobs=10, storage=path)
    resumed = _search(objective=misleading_below_9, scheduler="bohb", max_jobs=24, storage=path)
    assert list(resumed.jobs["architecture"]) == list(seen["architecture"])
    assert list(resumed.jobs["budget"]) == list(seen["budget"])


def test_a_journal_from_before_the_least_aggressive_bracket_first_resumes_in_its_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bonas.schedulers import BOHB

    def run(max_jobs: int, storage: Path | None = None) -> bonas.MultiFidelityResult:
        return _search(scheduler="bohb", max_jobs=max_jobs, storage=storage)

    path = tmp_path / "old.db"
    with monkeypatch.context() as old_bonas:  # brackets from the most aggressive down
        made = BOHB.__init__

        def most_aggressive_first(self, *args, **kwargs) -> None:
            made(self, *args, **{"brackets": (2, 1, 0), **kwargs})

        old_bonas.setattr(BOHB, "__init__", most_aggressive_first)
        run(10, path)
        straight = run(16)
    resumed = run(16, path)  # today's default order differs: the stored one is kept
    assert list(resumed.jobs["budget"][:9]) == [1.0] * 9
    assert list(resumed.jobs["architecture"]) == list(straight.jobs["architecture"])
    assert list(resumed.jobs["budget"]) == list(straight.jobs["budget"])

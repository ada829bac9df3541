"""Durable studies: round trips, requeues, errors, and options kept across loads."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from bonas import Study, StudyError, TrialState
from bonas.spaces import CNNSpace, NB201Space
from bonas.surrogate import (
    NOISE_FREE,
)


def test_study_round_trip_and_requeue(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    study = Study.create(path, NB201Space(), seed=0, n_initial=2)
    done = study.ask(2)
    study.tell(done[0], 1.5)
    study.tell(done[1], failed="worker died")
    (running,) = study.ask(1, worker="gpu-0")  # never told: the process "dies" here
    study.close()

    again = Study.load(path)
    assert [t.state for t in again.trials] == [
        TrialState.COMPLETE,
        TrialState.FAILED,
        TrialState.RUNNING,
    ]
    assert again.trials[1].failure == "worker died"
    assert again.trials[2].worker == "gpu-0"
    assert again.best_trial.value == 1.5
    (requeued,) = again.ask(1)
    assert requeued.number == running.number and requeued.architecture == running.architecture
    again.tell(requeued, 2.0)
    frame = again.to_dataframe()
    assert list(frame["state"]) == ["complete", "failed", "complete"]
    assert list(frame["incumbent"]) == [1.5, 1.5, 2.0]
    assert {"number", "value", "budget", "worker", "duration", "architecture"} <= set(frame)


def test_study_errors(tmp_path: Path) -> None:
    with pytest.raises(StudyError, match="no study file"):
        Study.load(tmp_path / "missing.db")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StudyError, match="not a readable SQLite"):
        Study.load(garbage)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE meta (key TEXT, value TEXT)")
        db.execute("INSERT INTO meta VALUES ('format', 'optuna')")
    with pytest.raises(StudyError, match="not a bonas study"):
        Study.load(other)
    path = tmp_path / "nb201.db"
    Study.create(path, NB201Space(), seed=0).close()
    with pytest.raises(StudyError, match="space"):
        Study.load(path, CNNSpace())
    with pytest.raises(StudyError, match="already exists"):
        Study.create(path, NB201Space())
    with sqlite3.connect(path) as db:
        db.execute("UPDATE optimizer_state SET state = 'not json'")
    with pytest.raises(StudyError, match="corrupt"):
        Study.load(path)


def test_a_loaded_study_keeps_the_warping_fidelity_and_noise_options(tmp_path: Path) -> None:
    path = tmp_path / "options.db"
    Study.create(
        path, NB201Space(), seed=0, warping="none", multi_fidelity=True, noise=NOISE_FREE
    ).close()
    again = Study.load(path)
    assert again.searcher.warping == "none" and again.searcher.multi_fidelity is True
    assert again.searcher.noise == NOISE_FREE
    again.close()


@pytest.mark.parametrize(
    ("option", "value"), [("screen_top", 7), ("screen_neighbours", 9), ("refit_growth", 0.25)]
)
def test_a_study_keeps_its_speed_options_and_an_older_one_runs_as_it_did(
    tmp_path: Path, option: str, value: int
) -> None:
    path = tmp_path / "screen.db"
    Study.create(path, CNNSpace(), seed=0, **{option: value}).close()
    again = Study.load(path)
    assert getattr(again.searcher, option) == value
    again.close()
    # a file written before the option existed
    db = sqlite3.connect(path)
    config = json.loads(db.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()[0])
    del config[option]
    db.execute("UPDATE meta SET value = ? WHERE key = 'config'", (json.dumps(config),))
    db.commit()
    db.close()
    older = Study.load(path)
    # every candidate, and pair, exact; hyperparameters refitted at every observation
    assert getattr(older.searcher, option) == 0
    older.close()

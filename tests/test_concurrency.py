"""Several threads on one searcher or study, and several processes on one study file:
threads take turns, and a second process (or study object) is refused, naming the
holder, instead of evaluating the same trials again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import bonas
from bonas import Study, StudyError
from bonas.searchers import GPSearcher, RegularizedEvolution, Searcher
from bonas.spaces import NB201Space

from .objectives import nb201_score

ROOT = Path(__file__).resolve().parents[1]


def _hammer(ask_tell: Searcher | Study, rounds: int, threads: int = 2) -> list[BaseException]:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(rounds):
                (trial,) = ask_tell.ask()
                ask_tell.tell(trial, nb201_score(trial.architecture))
        except BaseException as err:
            errors.append(err)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    return errors


@pytest.mark.parametrize("kind", ["gp", "evolution"])
def test_threads_sharing_a_searcher_take_turns(kind: str) -> None:
    space = NB201Space()
    searcher: Searcher = (
        GPSearcher(space, seed=0, n_initial=3, num_candidates=50)
        if kind == "gp"
        else RegularizedEvolution(space, seed=0, population_size=4, sample_size=2)
    )
    assert _hammer(searcher, rounds=8) == []
    archs = [t.architecture for t in searcher.trials]
    assert len(archs) == 16 and len(set(archs)) == 16
    assert all(t.state.value == "complete" for t in searcher.trials)
    (trial,) = searcher.ask()  # still usable afterwards
    assert trial.number == 16


def test_threads_sharing_a_study_write_each_trial_once(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    study = Study.create(path, NB201Space(), seed=0, n_initial=3, num_candidates=50)
    assert _hammer(study, rounds=6) == []
    study.close()
    again = Study.load(path)
    archs = [t.architecture for t in again.trials]
    assert len(archs) == 12 and len(set(archs)) == 12
    again.close()


def test_a_second_study_object_on_an_open_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    study = Study.create(path, NB201Space(), seed=0)
    with pytest.raises(StudyError, match=rf"study.db is in use by process {os.getpid()} on "):
        Study.load(path)
    study.close()
    Study.load(path).close()  # free again once closed


HOLDER = """
import sys, time
from bonas import Study
study = Study.load(sys.argv[1])
print("holding", flush=True)
time.sleep(600)
"""


def test_a_second_process_is_refused_until_the_holder_dies(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    bonas.search(nb201_score, NB201Space(), n_trials=3, n_initial=3, storage=path,
                 progress=False)  # fmt: skip
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with pytest.raises(StudyError, match=rf"in use by process {holder.pid} on "):
            bonas.search(nb201_score, NB201Space(), n_trials=6, n_initial=3, storage=path,
                         progress=False)  # fmt: skip
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=60)
    result = bonas.search(nb201_score, NB201Space(), n_trials=6, n_initial=3, storage=path,
                          progress=False)  # fmt: skip
    assert len(result.history) == 6  # the dead holder's lock went with it


def test_a_multi_fidelity_journal_is_locked_too(tmp_path: Path) -> None:
    from bonas._mfsearch import JobJournal

    path = tmp_path / "mf.db"
    journal = JobJournal.create(path, {"scheduler": "x"})
    with pytest.raises(StudyError, match="in use by process"):
        JobJournal.open(path)
    journal.close()
    JobJournal.open(path).close()

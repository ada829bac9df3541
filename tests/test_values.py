"""Values the engine cannot hold (huge integers, text, booleans, NaN, infinities) fail
their trial with the reason, wherever an objective's answer comes in; the search goes
on and its study resumes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import bonas
from bonas import Study
from bonas.schedulers import Hyperband
from bonas.searchers import RandomSearch
from bonas.spaces import NB201Space
from bonas.trial import TrialState, finite_value

BAD = {
    "huge int": (10**400, "an integer of 1329 bits, too large for a float"),
    "text": ("2.1", "'2.1' (str), not a number"),
    "bytes": (b"1", "b'1' (bytes), not a number"),
    "bool": (True, "True (bool), not a number"),
    "nan": (math.nan, "non-finite value nan"),
    "-inf": (-math.inf, "non-finite value -inf"),
    "none": (None, "None (NoneType), not a number"),
    "tensor of two": (torch.tensor([1.0, 2.0]), "a Tensor, not a number"),
}
GOOD = [(3, 3.0), (0.25, 0.25), (np.float32(0.5), 0.5), (torch.tensor(0.75), 0.75)]


@pytest.mark.parametrize("name", sorted(BAD))
def test_finite_value_names_what_is_wrong(name: str) -> None:
    value, reason = BAD[name]
    number, failure = finite_value(value)
    assert number is None and failure is not None and failure.endswith(reason)


@pytest.mark.parametrize(("value", "expected"), GOOD)
def test_finite_value_takes_real_numbers(value: object, expected: float) -> None:
    assert finite_value(value) == (expected, None)


@pytest.mark.parametrize("name", ["huge int", "text", "bool", "-inf"])
def test_a_searcher_records_them_as_failures(name: str) -> None:
    value, reason = BAD[name]
    searcher = RandomSearch(NB201Space(), seed=0)
    (trial,) = searcher.ask()
    told = searcher.tell(trial, value)  # type: ignore[arg-type]
    assert told.state is TrialState.FAILED and told.failure.endswith(reason)
    assert searcher.best_trial is None


def test_a_search_fails_those_trials_and_its_study_resumes(tmp_path) -> None:
    space = NB201Space()
    answers = iter([0.5, 10**400, "2.1", True, 0.7, math.inf] + [0.1] * 10)

    def objective(arch):
        return next(answers)

    path = tmp_path / "study.db"
    result = bonas.search(objective, space, n_trials=6, n_initial=10, storage=path,
                          progress=False)  # fmt: skip
    states = result.history["state"].tolist()
    assert states == ["complete", "failed", "failed", "failed", "complete", "failed"]
    assert result.best_value == 0.7
    resumed = Study.load(path, space)
    assert [t.failure for t in resumed.trials][1:4] == [
        "the objective returned an integer of 1329 bits, too large for a float",
        "the objective returned '2.1' (str), not a number",
        "the objective returned True (bool), not a number",
    ]
    resumed.close()
    again = bonas.search(objective, space, n_trials=8, n_initial=10, storage=path,
                         progress=False)  # fmt: skip
    assert len(again.history) == 8


def test_a_multi_fidelity_search_and_a_scheduler_fail_them_too() -> None:
    space = NB201Space()
    answers = iter([10**400, "2.1"] + [0.3] * 20)
    result = bonas.search_multifidelity(
        lambda arch, budget, resume_from: next(answers), space, searcher="rs", max_jobs=4,
        progress=False,
    )  # fmt: skip
    failures = result.jobs["failure"].tolist()[:2]
    assert failures == [
        "the objective returned an integer of 1329 bits, too large for a float",
        "the objective returned '2.1' (str), not a number",
    ]
    scheduler = Hyperband(RandomSearch(space, seed=0), min_budget=1, max_budget=9)
    job = scheduler.next_job()
    scheduler.report(job, b"0.5")  # type: ignore[arg-type]
    assert scheduler.jobs[0].failure == "the objective returned b'0.5' (bytes), not a number"

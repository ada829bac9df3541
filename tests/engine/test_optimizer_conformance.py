"""The conformance suite every optimizer passes (like optuna's testing/pytest_samplers):
determinism by seed, no duplicate proposals, failures handled, tell errors, resume.

An optimizer joins by adding a factory to ``OPTIMIZERS``: ``factory(seed) -> optimizer``,
a :class:`~bonas.optimizer.BaseOptimizer` (``ask(n)``, ``tell(trial, value, failed=...)``,
``trials``, ``best_trial``, ``config()``, ``state_dict()`` and ``load_state_dict()``).
The suite uses that interface only. The baselines run with small populations so that
five steps reach their evolution / local-search phase.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable

import pytest

from bonas import BonasError, Optimizer, TrialState
from bonas.benchmarks.baselines import LocalSearch, RandomSearch, RegularizedEvolution
from bonas.optimizer import BaseOptimizer
from bonas.spaces import CNNSpace, NB201Space

from .objectives import cnn_score, nb201_score

OPTIMIZERS: dict[str, tuple[Callable[[int], BaseOptimizer], Callable]] = {
    "bonas-nb201-ei": (lambda seed: Optimizer(NB201Space(), seed=seed, n_initial=3), nb201_score),
    "bonas-nb201-ucb": (
        lambda seed: Optimizer(NB201Space(), seed=seed, n_initial=3, acquisition="ucb"),
        nb201_score,
    ),
    "bonas-cnn-ga": (
        lambda seed: Optimizer(
            CNNSpace(max_num_layers=20), seed=seed, n_initial=3, num_candidates=40
        ),
        cnn_score,
    ),
    "rs-nb201": (lambda seed: RandomSearch(NB201Space(), seed=seed), nb201_score),
    "re-nb201": (
        lambda seed: RegularizedEvolution(
            NB201Space(), seed=seed, population_size=3, sample_size=2
        ),
        nb201_score,
    ),
    "ls-nb201": (lambda seed: LocalSearch(NB201Space(), seed=seed, num_init=3), nb201_score),
    "rs-cnn": (lambda seed: RandomSearch(CNNSpace(max_num_layers=20), seed=seed), cnn_score),
    "re-cnn": (
        lambda seed: RegularizedEvolution(
            CNNSpace(max_num_layers=20), seed=seed, population_size=3, sample_size=2
        ),
        cnn_score,
    ),
    "ls-cnn": (
        lambda seed: LocalSearch(CNNSpace(max_num_layers=20), seed=seed, num_init=3, num_mutants=3),
        cnn_score,
    ),
}
STEPS = 5


@pytest.fixture(params=sorted(OPTIMIZERS))
def case(request: pytest.FixtureRequest) -> tuple[Callable[[int], BaseOptimizer], Callable]:
    return OPTIMIZERS[request.param]


def run(optimizer: BaseOptimizer, objective: Callable, steps: int = STEPS) -> list[str]:
    proposals = []
    for _ in range(steps):
        (trial,) = optimizer.ask()
        proposals.append(trial.architecture.to_json())
        optimizer.tell(trial, objective(trial.architecture))
    return proposals


@pytest.mark.filterwarnings("ignore::bonas.NonPSDWarning")
def test_same_seed_same_proposals(case) -> None:
    factory, objective = case
    first = run(factory(3), objective)
    assert run(factory(3), objective) == first
    assert run(factory(4), objective) != first


@pytest.mark.filterwarnings("ignore::bonas.NonPSDWarning")
def test_no_duplicate_proposals(case) -> None:
    factory, objective = case
    optimizer = factory(0)
    run(optimizer, objective)
    batch = optimizer.ask(3)
    pending = optimizer.ask(2)  # asked while the batch is still pending
    archs = [t.architecture for t in optimizer.trials]
    assert len(set(archs)) == len(archs) == STEPS + 5
    assert all(t.state is TrialState.RUNNING for t in batch + pending)
    assert [t.number for t in batch + pending] == list(range(STEPS, STEPS + 5))


@pytest.mark.filterwarnings("ignore::bonas.NonPSDWarning")
def test_failures_are_recorded_and_kept_out(case) -> None:
    factory, objective = case
    optimizer = factory(1)
    for step in range(STEPS):
        (trial,) = optimizer.ask()
        if step % 3 == 1:
            optimizer.tell(trial, failed="CUDA out of memory")
        elif step % 3 == 2:
            optimizer.tell(trial, math.nan)
        else:
            optimizer.tell(trial, objective(trial.architecture))
    failed = [t for t in optimizer.trials if t.state is TrialState.FAILED]
    assert len(failed) == 3
    assert {t.failure for t in failed} == {"CUDA out of memory", "non-finite value nan"}
    assert optimizer.best_trial is not None and optimizer.best_trial.state is TrialState.COMPLETE
    # the model was fitted on complete trials only, and never re-proposes failed ones
    (trial,) = optimizer.ask()
    assert trial.architecture not in {t.architecture for t in failed}


def test_tell_errors(case) -> None:
    factory, _ = case
    optimizer = factory(0)
    (trial,) = optimizer.ask()
    with pytest.raises(BonasError, match="either a value or failed"):
        optimizer.tell(trial, 1.0, failed="both")
    with pytest.raises(BonasError, match="either a value or failed"):
        optimizer.tell(trial)
    with pytest.raises(BonasError, match="unknown trial"):
        optimizer.tell(99, 1.0)
    optimizer.tell(trial, 1.0)
    with pytest.raises(BonasError, match="already complete"):
        optimizer.tell(trial, 2.0)
    with pytest.raises(BonasError):
        optimizer.ask(0)


@pytest.mark.filterwarnings("ignore::bonas.NonPSDWarning")
def test_resume_from_state_proposes_what_an_uninterrupted_run_would(case) -> None:
    factory, objective = case
    uninterrupted = factory(7)
    run(uninterrupted, objective, STEPS)
    state = copy.deepcopy(uninterrupted.state_dict())
    trials = copy.deepcopy(uninterrupted.trials)
    expected = run(uninterrupted, objective, 2)

    resumed = factory(7)
    resumed.trials = trials
    resumed.load_state_dict(state)
    assert run(resumed, objective, 2) == expected


@pytest.mark.filterwarnings("ignore::bonas.NonPSDWarning")
def test_resume_with_pending_trials_through_json(case) -> None:
    """A restart while a batch is out: state and config survive JSON, the pending trials
    are told after the restart, and the resumed optimizer goes on as the original."""
    factory, objective = case
    original = factory(11)
    run(original, objective, 2)
    out = original.ask(3)
    original.tell(out[1], objective(out[1].architecture))
    state = json.loads(json.dumps(original.state_dict()))
    assert json.loads(json.dumps(original.config())) == json.loads(json.dumps(factory(11).config()))
    trials = copy.deepcopy(original.trials)

    resumed = factory(11)
    resumed.trials = trials
    resumed.load_state_dict(state)
    for optimizer in (original, resumed):
        optimizer.tell(out[0].number, objective(out[0].architecture))
        optimizer.tell(out[2].number, failed="lost")
    assert [t.architecture for t in resumed.ask(2)] == [t.architecture for t in original.ask(2)]


def test_config_names_the_optimizer(case) -> None:
    factory, _ = case
    config = factory(0).config()
    assert isinstance(config["optimizer"], str) and config["seed"] == 0
    assert config["direction"] == "maximize"


def test_bad_state_is_a_clear_error(case) -> None:
    factory, _ = case
    with pytest.raises(BonasError, match="malformed"):
        factory(0).load_state_dict({"rng": "nonsense"})


def test_bad_settings() -> None:
    with pytest.raises(BonasError, match="acquisition"):
        Optimizer(NB201Space(), acquisition="pi")
    with pytest.raises(BonasError, match="direction"):
        Optimizer(NB201Space(), direction="up")
    with pytest.raises(BonasError, match="n_initial"):
        Optimizer(NB201Space(), n_initial=0)


def test_minimize_direction() -> None:
    optimizer = Optimizer(NB201Space(), seed=0, n_initial=2, direction="minimize")
    run(optimizer, nb201_score, 4)
    values = [t.value for t in optimizer.trials]
    assert optimizer.best_trial.value == min(values)

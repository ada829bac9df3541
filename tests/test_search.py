"""The one-call search: workers, failures, timeouts, plots and memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import bonas
from bonas import BonasError, StudyError
from bonas.spaces import NB201Space
from bonas.surrogate import (
    find_wl_kernel,
)
from tests.objectives import nb201_score


@pytest.mark.slow
def test_search_end_to_end_with_workers_and_failures(tmp_path: Path) -> None:
    space = NB201Space()

    def objective(arch: bonas.Architecture) -> float:
        ops = space.to_ops(arch)
        if ops[0] == "none":
            raise RuntimeError("diverged")
        return nb201_score(arch)

    result = bonas.search(
        objective,
        space,
        n_trials=10,
        n_workers=2,
        seed=1,
        n_initial=4,
        storage=tmp_path / "s.db",
        progress=False,
    )
    history = result.history
    assert len(history) == 10 and set(history["number"]) == set(range(10))
    assert set(history["worker"]) <= {"worker-0", "worker-1"}
    failed = history[history["state"] == "failed"]
    assert all(f.startswith("RuntimeError: diverged") for f in failed["failure"])
    assert result.best_value == history["value"].max()
    assert result.best_architecture == result.best_trial.architecture
    # the same call resumes the stored study and adds trials up to the new total
    more = bonas.search(objective, space, n_trials=12, storage=tmp_path / "s.db", progress=False)
    assert len(more.history) == 12
    with pytest.raises(StudyError, match="other settings"):
        bonas.search(
            objective, space, n_trials=12, storage=tmp_path / "s.db", seed=2, progress=False
        )
    assert list(more.history["value"][:10].fillna(-1)) == list(history["value"].fillna(-1))


def test_search_records_non_numbers_and_timeouts() -> None:
    space = NB201Space()
    calls = []

    def objective(arch: bonas.Architecture) -> object:
        calls.append(arch)
        return "accuracy: high" if len(calls) == 1 else float("inf")

    result = bonas.search(objective, space, n_trials=3, n_initial=3, progress=False)
    failures = list(result.history["failure"])
    assert failures[0].startswith("the objective returned 'accuracy: high'")
    assert failures[1] == failures[2] == "non-finite value inf"
    assert result.best_trial is None

    def slow(arch: bonas.Architecture) -> float:
        import time

        time.sleep(0.5)
        return 1.0

    timed = bonas.search(
        slow, space, n_trials=2, n_initial=2, timeout_per_trial=0.05, progress=False
    )
    assert list(timed.history["failure"]) == ["timeout after 0.05s"] * 2


@pytest.mark.slow
def test_search_stops_timed_out_evaluations_in_worker_processes() -> None:
    """With a process executor a timeout kills the worker: the next trial does not wait
    behind the hung one (threads cannot be stopped, and would hold their slot)."""
    import time

    from bonas.executors import ProcessExecutor

    from .objectives import sleepy

    space = NB201Space()
    with ProcessExecutor(workers=1) as executor:
        started = time.monotonic()
        result = bonas.search(
            sleepy, space, n_trials=2, n_initial=2, executor=executor,
            timeout_per_trial=3.0, progress=False,
        )  # fmt: skip
        elapsed = time.monotonic() - started
        assert list(result.history["failure"]) == ["timeout after 3s"] * 2
        assert elapsed < 60  # two 3 s timeouts and two worker starts, not 120 s of sleep
        again = bonas.search(nb201_score, space, n_trials=3, n_initial=3, executor=executor,
                             progress=False)  # fmt: skip
        assert again.history["state"].tolist() == ["complete"] * 3  # the executor lives on
    with pytest.raises(BonasError, match="n_workers=2 evaluations at a time"):
        bonas.search(nb201_score, space, n_trials=2, n_workers=2, executor=executor)


def test_plots_and_leave_one_out(tmp_path: Path) -> None:
    from bonas.plots import leave_one_out, plot_incumbent, plot_predicted_vs_observed

    space = NB201Space()
    result = bonas.search(nb201_score, space, n_trials=8, n_initial=4, seed=2, progress=False)
    state_before = result.searcher.state_dict()
    observed, mean, std = leave_one_out(result.searcher)
    assert observed.shape == mean.shape == std.shape == (8,)
    assert (std > 0).all() and np.isfinite(mean).all()
    assert result.searcher.state_dict() == state_before  # plotting changes nothing
    for suffix in (".png", ".svg"):
        assert plot_incumbent(result, tmp_path / f"incumbent{suffix}").stat().st_size > 1000
        assert plot_predicted_vs_observed(result, tmp_path / f"loo{suffix}").stat().st_size > 1000
    with pytest.raises(BonasError, match="at least 3"):
        leave_one_out(bonas.GPSearcher(space))


@pytest.mark.parametrize("space_name", ["cnn", "nb101"])
def test_a_search_forgets_the_candidates_it_does_not_score_again(space_name: str) -> None:
    """A search registers every candidate it scores; without forgetting them, its memory
    would grow by a thousand architectures (and their kernel features) an ask."""
    from bonas.spaces import get_space

    space = get_space(space_name)
    optimizer = bonas.GPSearcher(space, seed=0, n_initial=3, num_candidates=40)
    for _ in range(9):
        (trial,) = optimizer.ask()
        arch = trial.architecture
        optimizer.tell(trial, float(arch.num_layers + len(arch.edges) % 3))
    registry = optimizer.surrogate.registry
    # the observations, and the candidates of the last two asks at most (the GA's first
    # generation alone has 10 + 50: children of the best observed, and random samples);
    # kept, the 6 model-based asks' candidates would be 240 to 360
    assert len(registry) <= len(optimizer.trials) + 2 * 60
    assert all(t.architecture in registry for t in optimizer.trials[:-1])
    surrogate = optimizer.surrogate  # on NB101 the default model average: its WL model
    wl = find_wl_kernel(surrogate.candidates["wl"].kernel if space_name == "nb101" else
                        surrogate.kernel)  # fmt: skip
    if space_name == "nb101":  # a kernel that keeps features per id drops the forgotten
        assert wl is not None and wl._features
        assert all(registry.holds(arch_id) for arch_id, _ in wl._features)

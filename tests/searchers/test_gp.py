"""The GP searcher beyond the conformance suite: settings, direction, kernel objects,
the multi-fidelity protocol and the deprecated ``bonas.Optimizer`` name."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from gpytorch.kernels import RBFKernel, ScaleKernel

import bonas
from bonas import BonasError
from bonas.kernels import ArchitectureRegistry, CellOpsKernel, WLKernel
from bonas.searchers import GPSearcher, RandomSearch
from bonas.spaces import CNNSpace, NB201Space
from bonas.surrogate import NOISE_FREE
from bonas.trial import Trial, TrialState
from tests.objectives import nb201_score


def run(searcher: GPSearcher, steps: int) -> None:
    for _ in range(steps):
        (trial,) = searcher.ask()
        searcher.tell(trial, nb201_score(trial.architecture))


def test_bad_settings() -> None:
    with pytest.raises(BonasError, match="acquisition"):
        GPSearcher(NB201Space(), acquisition="pi")
    with pytest.raises(BonasError, match="direction"):
        GPSearcher(NB201Space(), direction="up")
    with pytest.raises(BonasError, match="n_initial"):
        GPSearcher(NB201Space(), n_initial=0)
    with pytest.raises(BonasError, match="unknown kernel 'rbf'"):
        GPSearcher(NB201Space(), kernel="rbf")
    with pytest.raises(BonasError, match="kernel must be a gpytorch Kernel or a factory"):
        GPSearcher(NB201Space(), kernel=3)  # type: ignore[arg-type]
    with pytest.raises(BonasError, match="unknown dropped_budgets 'all'"):
        GPSearcher(NB201Space(), dropped_budgets="all")


def test_minimize_direction() -> None:
    searcher = GPSearcher(NB201Space(), seed=0, n_initial=2, direction="minimize")
    run(searcher, 4)
    values = [t.value for t in searcher.trials]
    assert searcher.best_trial is not None and searcher.best_trial.value == min(values)


def test_a_kernel_object_proposes_what_its_name_does() -> None:
    """``kernel=ScaleKernel(WLKernel(registry, h=2))`` is the kernel ``wl`` builds, so the
    same seed and answers give the same proposals; the config calls it custom."""
    space = NB201Space()
    by_name = GPSearcher(space, seed=5, n_initial=3, kernel="wl")
    registry = ArchitectureRegistry()
    by_object = GPSearcher(space, seed=5, n_initial=3, kernel=ScaleKernel(WLKernel(registry, h=2)))
    run(by_name, 6)
    run(by_object, 6)
    assert [t.architecture for t in by_object.trials] == [t.architecture for t in by_name.trials]
    assert by_object.surrogate.registry is registry and len(registry) > 0
    assert by_object.config()["kernel"] == "custom" and by_name.config()["kernel"] == "wl"


def test_a_kernel_object_must_read_one_registry() -> None:
    space = NB201Space()
    two = ScaleKernel(WLKernel(ArchitectureRegistry())) + ScaleKernel(
        CellOpsKernel(ArchitectureRegistry(), space)
    )
    with pytest.raises(BonasError, match=r"one ArchitectureRegistry.*holds 2 registries"):
        GPSearcher(space, kernel=two)
    with pytest.raises(BonasError, match="holds 0 registries"):
        GPSearcher(space, kernel=RBFKernel())


def test_each_space_declares_its_default_kernel() -> None:
    assert NB201Space.default_kernel == "wl" and CNNSpace.default_kernel == "otmann"
    assert GPSearcher(NB201Space()).surrogate.can_screen is False
    assert GPSearcher(CNNSpace()).surrogate.can_screen is True  # OTMANN has bounds


def test_multi_fidelity_is_declared_by_every_searcher() -> None:
    """The scheduler's protocol: ``multi_fidelity`` and ``target_budget`` on the base."""
    model_free = RandomSearch(NB201Space(), seed=0)
    assert model_free.multi_fidelity is False and model_free.target_budget is None
    searcher = GPSearcher(NB201Space(), seed=0, multi_fidelity=True)
    assert searcher.multi_fidelity is True and searcher.target_budget is None


def test_the_old_name_still_works_with_a_deprecation_warning() -> None:
    with pytest.warns(DeprecationWarning, match="bonas.GPSearcher"):
        cls = bonas.Optimizer
    assert cls is GPSearcher


def test_batch_picks_differ_and_are_untried() -> None:
    searcher = GPSearcher(NB201Space(), seed=1, n_initial=3)
    run(searcher, 4)
    batch = searcher.ask(4)
    archs = [t.architecture for t in batch]
    assert len(set(archs)) == 4
    assert not set(archs) & {t.architecture for t in searcher.trials[:4]}
    assert np.all([t.state.value == "running" for t in batch])


def _two_budget_observations(misleading: bool) -> list[Trial]:
    """60 architectures at budget 1, the first 12 of them at budget 9 too; the value at 9
    is ``nb201_score``; at 1, that score plus a little noise, or (``misleading``) a
    number unrelated to it."""
    space = NB201Space()
    rng = np.random.default_rng(0)
    archs = list(dict.fromkeys(space.sample(rng) for _ in range(80)))[:60]
    trials = []
    for i, arch in enumerate(archs):
        low = (
            zlib.crc32(space.to_string(arch).encode()) % 1000 / 1000
            if misleading
            else nb201_score(arch) + 0.1 * rng.normal()
        )
        for budget, value in ((1.0, low), (9.0, nb201_score(arch)))[: 2 if i < 12 else 1]:
            trial = Trial(len(trials), arch, budget)
            trial.state, trial.value = TrialState.COMPLETE, value
            trials.append(trial)
    return trials


def _mf_searcher(dropped_budgets: str, lowest_in_use: float | None = 9.0) -> GPSearcher:
    searcher = GPSearcher(
        NB201Space(), seed=0, multi_fidelity=True, kernel="wl", noise=NOISE_FREE,
        dropped_budgets=dropped_budgets,
    )  # fmt: skip
    searcher.target_budget, searcher.lowest_budget_in_use = 9.0, lowest_in_use
    return searcher


@pytest.mark.parametrize("misleading", [True, False])
def test_choose_drops_the_low_budgets_where_they_mislead_and_keeps_them_where_they_inform(
    misleading: bool,
) -> None:
    searcher = _mf_searcher("choose")
    searcher.propose(1, set(), _two_budget_observations(misleading))
    (choice,) = searcher.budget_choices
    assert choice["observations"] == 72 and choice["lowest_budget_in_use"] == 9.0
    assert choice["dropped"] is misleading
    # the model the proposal used: 12 results at the top budget, or all 72
    assert searcher.surrogate.model.train_targets.numel() == (12 if misleading else 72)
    if misleading:
        assert choice["rho_budgets_in_use"] > choice["rho_every_budget"]
    else:
        assert choice["rho_every_budget"] >= choice["rho_budgets_in_use"]


def test_keep_drop_and_too_few_target_results() -> None:
    observations = _two_budget_observations(misleading=True)
    keep = _mf_searcher("keep")
    keep.propose(1, set(), observations)
    assert keep.surrogate.model.train_targets.numel() == 72 and not keep.budget_choices
    assert "dropped_budgets" not in keep.config()  # a study from before the option matches
    drop = _mf_searcher("drop")
    drop.propose(1, set(), observations)
    assert drop.surrogate.model.train_targets.numel() == 12
    assert drop.config()["dropped_budgets"] == "drop"
    # the hyperparameters come from every budget's results: one fit, on all 72
    assert drop.surrogate.fits == 1
    unset = _mf_searcher("choose", lowest_in_use=None)  # the scheduler uses every budget
    unset.propose(1, set(), observations)
    assert unset.surrogate.model.train_targets.numel() == 72 and not unset.budget_choices
    few = _mf_searcher("choose")  # 5 results at the top budget: not enough to compare
    few.propose(1, set(), [t for t in observations if t.budget == 1.0 or t.number < 10])
    assert few.surrogate.model.train_targets.numel() == 65 and not few.budget_choices

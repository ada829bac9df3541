"""The GP searcher beyond the conformance suite: settings, direction, kernel objects,
the multi-fidelity protocol and the deprecated ``bonas.Optimizer`` name."""

from __future__ import annotations

import numpy as np
import pytest
from gpytorch.kernels import RBFKernel, ScaleKernel

import bonas
from bonas import BonasError
from bonas.kernels import ArchitectureRegistry, CellOpsKernel, WLKernel
from bonas.searchers import GPSearcher, RandomSearch
from bonas.spaces import CNNSpace, NB201Space
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

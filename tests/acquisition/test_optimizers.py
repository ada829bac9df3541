"""The acquisition optimisers on their own: NASBOT's GA and exhaustive scoring, with a
known score in place of an acquisition function."""

from __future__ import annotations

import numpy as np
import pytest

from bonas import BonasError
from bonas.acquisition import (
    EvolutionaryAcquisitionOptimizer,
    ExhaustiveAcquisitionOptimizer,
    make_acquisition_optimizer,
)
from bonas.spaces import CNNSpace, NB201Space
from bonas.spaces.subset import SubsetSpace

NB201 = NB201Space()


def conv3(archs) -> np.ndarray:
    """A known landscape: the number of 3x3 convolutions (global optimum: all six)."""
    return np.array([NB201.to_ops(a).count("nor_conv_3x3") for a in archs], dtype=float)


def layers(archs) -> np.ndarray:
    return np.array([a.num_layers for a in archs], dtype=float)


def test_exhaustive_scores_every_member_but_the_excluded_best_first() -> None:
    subset = SubsetSpace(NB201, [NB201.sample(i) for i in range(50)], label="fifty")
    optimizer = ExhaustiveAcquisitionOptimizer(subset)
    excluded = set(subset.members[:10])
    calls = []

    def score(archs):
        calls.append(len(archs))
        return conv3(archs)

    ranked = optimizer.optimize(score, [], excluded, np.random.default_rng(0))
    assert calls == [len(set(subset.members)) - 10]  # one batch, the excluded left out
    assert {a for a, _ in ranked} == set(subset.members) - excluded
    values = [v for _, v in ranked]
    assert values == sorted(values, reverse=True)
    assert values[0] == max(conv3(set(subset.members) - excluded))


def test_exhaustive_refuses_infinite_or_large_spaces() -> None:
    with pytest.raises(BonasError, match=r"finite space of at most 20000.*CNNSpace is infinite"):
        ExhaustiveAcquisitionOptimizer(CNNSpace())
    with pytest.raises(BonasError, match="NB201Space is 15625"):
        ExhaustiveAcquisitionOptimizer(NB201, limit=1000)


def test_the_ga_climbs_a_known_landscape_within_its_budget() -> None:
    """From the worst parent, 400 GA evaluations reach 5 or 6 convolutions for each of
    5 seeds; 400 uniform draws do so with probability 0.47 each (0.02 for all 5)."""
    optimizer = EvolutionaryAcquisitionOptimizer(NB201, num_evaluations=400, num_random=20)
    parents = [NB201.from_ops(["none"] * 6)]
    for seed in range(5):
        evaluated = []

        def score(archs, evaluated=evaluated):
            evaluated.extend(archs)
            return conv3(archs)

        ranked = optimizer.optimize(score, parents, set(parents), np.random.default_rng(seed))
        assert len(evaluated) == len(set(evaluated)) <= 400
        assert parents[0] not in {a for a, _ in ranked}
        assert [v for _, v in ranked] == sorted((v for _, v in ranked), reverse=True)
        assert ranked[0][1] >= 5


def test_the_ga_is_deterministic_for_a_generator_seed_and_mutates_free_form_spaces() -> None:
    space = CNNSpace(max_num_layers=20)
    optimizer = EvolutionaryAcquisitionOptimizer(space, num_evaluations=60, num_random=5,
                                                 generation_size=20)  # fmt: skip
    parents = [space.sample(np.random.default_rng(i)) for i in range(3)]
    first = optimizer.optimize(layers, parents, set(parents), np.random.default_rng(7))
    again = optimizer.optimize(layers, parents, set(parents), np.random.default_rng(7))
    assert [a for a, _ in first] == [a for a, _ in again]
    assert all(space.contains(a) for a, _ in first) and len(first) <= 60


def test_bad_ga_settings_and_the_factory_choice() -> None:
    with pytest.raises(BonasError, match="bad GA settings"):
        EvolutionaryAcquisitionOptimizer(NB201, num_evaluations=0)
    assert isinstance(make_acquisition_optimizer(NB201), ExhaustiveAcquisitionOptimizer)
    assert isinstance(
        make_acquisition_optimizer(NB201, exhaustive_limit=100), EvolutionaryAcquisitionOptimizer
    )
    assert isinstance(make_acquisition_optimizer(CNNSpace()), EvolutionaryAcquisitionOptimizer)

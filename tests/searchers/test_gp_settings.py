"""The GP searcher on top of a screened surrogate."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import bonas
from bonas import Architecture, BonasError
from bonas.spaces import CNNSpace, NB201Space
from bonas.surrogate import (
    find_screening_cache,
)
from tests.helpers import samples
from tests.objectives import nb201_score


def test_optimizer_warping_setting() -> None:
    space = NB201Space()
    with pytest.raises(BonasError, match="warping"):
        bonas.GPSearcher(space, warping="log")
    assert bonas.GPSearcher(space).config()["warping"] == "copula"
    for warping in ("copula", "none"):
        opt = bonas.GPSearcher(space, seed=0, n_initial=3, warping=warping)
        for _ in range(5):
            (trial,) = opt.ask()
            opt.tell(trial, nb201_score(trial.architecture))
        targets = opt.surrogate.train_targets
        values = np.array([t.value for t in opt.trials[:4]])
        # the GP was fitted to the normal scores, or to the values themselves
        expected = values if warping == "none" else norm_scores(values)
        np.testing.assert_allclose(targets, expected)


def norm_scores(values: np.ndarray) -> np.ndarray:
    from scipy.stats import norm, rankdata

    return norm.ppf((rankdata(values) - 0.5) / len(values))


def _screened_ask(
    screen_top: int, screen_neighbours: int = 0
) -> tuple[bonas.GPSearcher, Any, Architecture]:
    space = CNNSpace()
    opt = bonas.GPSearcher(
        space, seed=0, n_initial=5, num_candidates=120, screen_top=screen_top,
        screen_neighbours=screen_neighbours,
    )  # fmt: skip
    for arch in samples(space, 12, seed=1):
        opt.add_observation(arch, float(arch.num_layers))
    (trial,) = opt.ask()
    return opt, find_screening_cache(opt.surrogate.kernel), trial.architecture


@pytest.mark.slow
def test_a_screened_ask_computes_exact_distances_for_its_short_list_only() -> None:
    opt, cache, chosen = _screened_ask(10)
    fit_pairs = 12 * 11 // 2
    assert cache.screened > 10 * 12  # the GA's candidates were ranked by bounds...
    assert fit_pairs < cache.misses <= fit_pairs + 10 * 12  # ...and 10 of them exactly
    assert chosen not in {t.architecture for t in opt.trials[:12]}
    exact_opt, exact_cache, _ = _screened_ask(0)
    assert exact_cache.screened == 0 and exact_cache.misses > fit_pairs + 10 * 12
    assert exact_opt.config()["screen_top"] == 0 and opt.config()["screen_top"] == 10
    assert _screened_ask(10)[2] == chosen  # the same seed, the same proposal
    with pytest.raises(BonasError, match="screen_top must be 0"):
        bonas.GPSearcher(CNNSpace(), screen_top=-1)


@pytest.mark.slow
def test_a_screened_short_list_is_exact_to_its_nearest_observations_only() -> None:
    opt, cache, chosen = _screened_ask(10, screen_neighbours=4)
    fit_pairs = 12 * 11 // 2
    # each of the 10 short-listed candidates: exact to its 4 nearest of the 12 observed
    assert fit_pairs < cache.misses <= fit_pairs + 10 * 4
    assert opt.config()["screen_neighbours"] == 4
    assert chosen not in {t.architecture for t in opt.trials[:12]}
    assert _screened_ask(10, screen_neighbours=4)[2] == chosen  # deterministic
    # with at least as many neighbours as observations, every short-list pair is exact
    assert _screened_ask(10, screen_neighbours=12)[1].misses == _screened_ask(10)[1].misses
    batch = [t.architecture for t in opt.ask(3)]  # hallucinated picks, scored the same way
    assert len(set(batch)) == 3 and not set(batch) & {t.architecture for t in opt.trials[:13]}
    with pytest.raises(BonasError, match="screen_neighbours must be 0"):
        bonas.GPSearcher(CNNSpace(), screen_neighbours=-1)

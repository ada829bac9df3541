"""The surrogate's boundary: what a searcher asks of it beyond fit and predict."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bonas import BonasError
from bonas.spaces import NB201Space
from bonas.surrogate import Surrogate, default_kernel_factory

from .objectives import nb201_score

SPACE = NB201Space()
ARCHS = [SPACE.sample(np.random.default_rng(i)) for i in range(10)]


def fitted() -> Surrogate:
    surrogate = Surrogate(default_kernel_factory(SPACE))
    surrogate.fit(ARCHS[:8], [nb201_score(a) for a in ARCHS[:8]])
    return surrogate


def test_hallucinated_pending_points_keep_the_mean_and_shrink_the_variance() -> None:
    with pytest.raises(BonasError, match="fit the surrogate"):
        Surrogate(default_kernel_factory(SPACE)).hallucinate(ARCHS[:1])
    surrogate = fitted()
    assert surrogate.hallucinate([]) is surrogate.model
    conditioned = surrogate.hallucinate(ARCHS[8:9])
    x = surrogate.inputs(ARCHS[8:9]).unsqueeze(-2)
    with torch.no_grad():
        before, after = surrogate.model.posterior(x), conditioned.posterior(x)
    assert float(after.mean) == pytest.approx(float(before.mean), abs=1e-6)
    assert float(after.variance) < float(before.variance)


def test_screening_needs_a_kernel_with_distance_bounds() -> None:
    surrogate = fitted()  # WL on NB201: no bounds
    assert surrogate.can_screen is False
    with pytest.raises(BonasError, match="has no distance bounds"), surrogate.screening():
        pass
    with pytest.raises(BonasError, match="has no distance bounds"):
        surrogate.fill_nearest(ARCHS[8:], ARCHS[:8], 3)


def test_state_round_trips_and_a_malformed_one_is_named() -> None:
    surrogate = fitted()
    state = surrogate.state_dict()
    assert state["observations_at_fit"] == 8 and state["wl_depth"] in (0, 1, 2, 3, 4)
    again = Surrogate(default_kernel_factory(SPACE))
    again.load_state_dict(state)
    assert again.state_dict() == state
    with pytest.raises(BonasError, match="surrogate state is malformed"):
        again.load_state_dict({"hyperparameters": {}})


def test_a_fit_without_refit_conditions_on_new_data_with_the_last_hyperparameters() -> None:
    surrogate = fitted()
    fits, before = surrogate.fits, surrogate.hyperparameters()
    (candidate,) = surrogate.ids(ARCHS[8:9]).reshape(-1).tolist()  # scored, not observed
    for _ in range(2):
        surrogate.fit(ARCHS[:4], [nb201_score(a) for a in ARCHS[:4]], keep_hyperparameters=True)
    assert surrogate.fits == fits and surrogate.hyperparameters() == before
    assert surrogate.model.train_targets.numel() == 4  # conditioned on the four only
    # the same iteration: nothing forgotten, not even what no fit was given
    assert surrogate.registry.holds(int(candidate))
    surrogate.fit(ARCHS, [nb201_score(a) for a in ARCHS])  # on schedule: two new ones
    assert surrogate.fits == fits + 1
    fresh = Surrogate(default_kernel_factory(SPACE))
    fresh.fit(ARCHS[:3], [nb201_score(a) for a in ARCHS[:3]], keep_hyperparameters=True)
    assert fresh.fits == 1  # no hyperparameters yet: it fits them anyway

"""The model-averaging surrogate: LOO densities, pseudo-BMA+ weights, the mixture's
predictions and acquisition, and a searcher that uses it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from botorch.acquisition import LogExpectedImprovement, UpperConfidenceBound
from gpytorch.kernels import ScaleKernel

from bonas import BonasError
from bonas.acquisition.functions import ModelMixture, make_acquisition, score
from bonas.kernels import CategoricalKernel, WLKernel
from bonas.model_average import (
    MIN_WEIGHT,
    ModelAverage,
    candidate_kernel_factories,
    loo_log_densities,
    pseudo_bma_weights,
)
from bonas.searchers import GPSearcher
from bonas.spaces import CNNSpace, NB101Space, NB201Space
from bonas.surrogate import NOISE_FREE, Surrogate
from tests.helpers import samples
from tests.objectives import nb201_score

SPACE = NB201Space()


def _ops_score(arch) -> float:
    """A function of the edge ops alone: what a categorical kernel models exactly."""
    ops = SPACE.to_ops(arch)
    weights = {"nor_conv_3x3": 1.0, "nor_conv_1x1": 0.6, "skip_connect": 0.3}
    return sum(weights.get(op, 0.0) * (k + 1) for k, op in enumerate(ops))


def test_loo_densities_match_refitting_without_each_point() -> None:
    archs = samples(SPACE, 9, seed=0)
    values = [nb201_score(a) for a in archs]
    surrogate = Surrogate(lambda r: ScaleKernel(WLKernel(r, h=1)), noise=0.01)
    surrogate.select_wl_depth_per_fit = False
    model = surrogate.fit(archs, values)
    fast = loo_log_densities(model)
    x, y = model.train_inputs[0], model.train_targets
    for i in range(len(archs)):
        keep = [j for j in range(len(archs)) if j != i]
        with torch.no_grad():
            prior = model.forward(x)
            k = prior.covariance_matrix + 0.01 * torch.eye(len(archs), dtype=y.dtype)
            m = prior.mean
            kk = k[keep][:, keep]
            kx = k[i, keep]
            mean = m[i] + kx @ torch.linalg.solve(kk, y[keep] - m[keep])
            var = k[i, i] - kx @ torch.linalg.solve(kk, kx)
        slow = -0.5 * (math.log(2 * math.pi * float(var)) + float(y[i] - mean) ** 2 / float(var))
        assert fast[i] == pytest.approx(slow, rel=1e-6, abs=1e-8)


def test_pseudo_bma_weights() -> None:
    equal = pseudo_bma_weights(np.zeros((3, 5)))
    np.testing.assert_allclose(equal, [1 / 3] * 3)
    better = pseudo_bma_weights(np.array([[-1.0] * 10, [-1.5] * 10]), seed=1)
    assert better.sum() == pytest.approx(1.0) and better[0] > 0.99
    # one lucky point does not win outright: the bootstrap spreads the weight
    lucky = pseudo_bma_weights(np.array([[-1.0] * 9 + [2.0], [-0.8] * 10]), seed=1)
    assert 0.05 < lucky[0] < 0.95
    np.testing.assert_array_equal(
        pseudo_bma_weights(np.eye(2), seed=3), pseudo_bma_weights(np.eye(2), seed=3)
    )
    for bad in (np.zeros((2, 0)), np.zeros(3), np.array([[0.0, np.nan]])):
        with pytest.raises(BonasError, match="pseudo-BMA"):
            pseudo_bma_weights(bad)


def test_candidates_follow_the_space_encoding() -> None:
    assert set(candidate_kernel_factories(SPACE)) == {"wl", "categorical", "wl+categorical"}
    assert set(candidate_kernel_factories(NB101Space())) == {"wl", "categorical", "wl+categorical"}
    assert set(candidate_kernel_factories(CNNSpace())) == {"default"}  # no encoding


def test_the_kernel_that_predicts_better_gets_the_weight() -> None:
    archs = samples(SPACE, 80, seed=1)
    average = ModelAverage(candidate_kernel_factories(SPACE), noise=NOISE_FREE)
    average.fit(archs, [_ops_score(a) for a in archs])
    weights = average.weights
    assert sum(weights.values()) == pytest.approx(1.0)
    # the values are a sum over the edges' ops: WL's subtree counts alone predict them
    # worse, left out, than a kernel that also sees each edge's op
    elpd = {k: loo_log_densities(c.model).sum() for k, c in average.candidates.items()}
    assert elpd["wl+categorical"] > elpd["wl"] + 10, elpd
    assert weights["wl+categorical"] > 0.9 and weights["wl"] < 0.05, weights


def test_the_mixture_predicts_and_scores_like_its_components() -> None:
    archs = samples(SPACE, 20, seed=2)
    values = [nb201_score(a) for a in archs]
    average = ModelAverage(candidate_kernel_factories(SPACE), noise=NOISE_FREE)
    mixture = average.fit(archs, values)
    assert isinstance(mixture, ModelMixture)
    assert float(mixture.weights.sum()) == pytest.approx(1.0)
    assert all(average.weights[k] >= MIN_WEIGHT for k in average._active)
    others = samples(SPACE, 6, seed=3)
    mean, std = average.predict(others)
    parts = [average.candidates[k].predict(others) for k in average._active]
    w = mixture.weights.numpy()
    np.testing.assert_allclose(mean, sum(wk * m for wk, (m, _) in zip(w, parts, strict=True)))
    assert (std > 0).all()
    # the mixture's EI is the weighted sum of the components' EIs
    x = average.inputs(others)
    best = float(np.max(average.train_targets))
    mixed = score(make_acquisition("ei", mixture, best, len(archs)), x)
    singles = [np.exp(score(LogExpectedImprovement(m, best_f=best), x)) for m in mixture.models]
    np.testing.assert_allclose(
        np.exp(mixed), sum(wk * s for wk, s in zip(w, singles, strict=True)), rtol=1e-6
    )
    ucb = score(make_acquisition("ucb", mixture, best, len(archs)), x)
    assert ucb.shape == (6,)
    # a one-model mixture is that model's own acquisition
    one = ModelMixture((mixture.models[0],), torch.ones(1, dtype=torch.double))
    assert isinstance(make_acquisition("ucb", one, best, 3), UpperConfidenceBound)


def test_hallucinated_points_shrink_every_components_variance() -> None:
    archs = samples(SPACE, 15, seed=4)
    average = ModelAverage(candidate_kernel_factories(SPACE), noise=NOISE_FREE)
    average.fit(archs, [nb201_score(a) for a in archs])
    pending = samples(SPACE, 2, seed=5)
    conditioned = average.hallucinate(pending)
    x = average.inputs(pending)
    for before, after in zip(average.model.models, conditioned.models, strict=True):
        with torch.no_grad():
            assert (after.posterior(x).variance < before.posterior(x).variance).all()


def test_state_round_trip_and_bad_states() -> None:
    archs = samples(SPACE, 12, seed=6)
    values = [nb201_score(a) for a in archs]
    first = ModelAverage(candidate_kernel_factories(SPACE))
    first.fit(archs, values)
    second = ModelAverage(candidate_kernel_factories(SPACE))
    second.load_state_dict(first.state_dict())
    assert second.weights == first.weights
    for name in first.candidates:
        assert second.candidates[name].hyperparameters() == first.candidates[name].hyperparameters()
    with pytest.raises(BonasError, match="candidates"):
        second.load_state_dict({"candidates": {"wl": {}}, "weights": {}})
    with pytest.raises(BonasError, match="malformed"):
        second.load_state_dict({"weights": 3})
    with pytest.raises(BonasError, match="fit the surrogate"):
        ModelAverage(candidate_kernel_factories(SPACE)).predict(archs)


def test_a_searcher_averages_and_resumes_to_the_same_proposals() -> None:
    def run(searcher: GPSearcher, steps: int) -> None:
        for _ in range(steps):
            (trial,) = searcher.ask()
            searcher.tell(trial, nb201_score(trial.architecture))

    searcher = GPSearcher(SPACE, seed=0, n_initial=4, kernel="average", noise=NOISE_FREE)
    run(searcher, 7)
    assert isinstance(searcher.surrogate, ModelAverage)
    assert searcher.config()["kernel"] == "average"
    again = GPSearcher(SPACE, seed=0, n_initial=4, kernel="average", noise=NOISE_FREE)
    again.trials = list(searcher.trials)
    again.load_state_dict(searcher.state_dict())
    assert again.surrogate.weights == searcher.surrogate.weights
    (a,), (b,) = searcher.ask(), again.ask()
    assert a.architecture == b.architecture
    batch = searcher.ask(3)
    assert len({t.architecture for t in batch}) == 3


def test_the_categorical_kernel_reads_any_encoding() -> None:
    from bonas.kernels import ArchitectureRegistry

    registry = ArchitectureRegistry()
    archs = samples(NB101Space(), 5, seed=7)
    ids = torch.tensor(registry.add_all(archs), dtype=torch.double)[:, None]
    kernel = CategoricalKernel(registry, NB101Space())
    gram = kernel(ids).to_dense()
    assert kernel.lengthscale_per_variable.shape == (len(NB101Space().categories()),)
    np.testing.assert_allclose(gram.diagonal().detach().numpy(), 1.0)
    assert torch.linalg.eigvalsh(gram.detach()).min() > -1e-9
    with pytest.raises(BonasError, match="no categorical encoding"):
        CategoricalKernel(registry, CNNSpace())

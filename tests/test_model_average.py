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


def _wl_gp(n: int, seed: int) -> tuple[Surrogate, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A WL GP fitted to ``n`` sampled cells (noise 0.01), with its training covariance
    plus noise, prior mean and (standardised) targets."""
    archs = samples(SPACE, n, seed=seed)
    surrogate = Surrogate(lambda r: ScaleKernel(WLKernel(r, h=1)), noise=0.01)
    surrogate.select_wl_depth_per_fit = False
    model = surrogate.fit(archs, [nb201_score(a) for a in archs])
    y = model.train_targets
    with torch.no_grad():
        prior = model.forward(model.train_inputs[0])
        k = prior.covariance_matrix + 0.01 * torch.eye(n, dtype=y.dtype)
    return surrogate, k, prior.mean.detach(), y


def test_loo_densities_match_refitting_without_each_point() -> None:
    surrogate, k, m, y = _wl_gp(9, seed=0)
    fast = loo_log_densities(surrogate.model)
    for i in range(9):
        keep = [j for j in range(9) if j != i]
        kk, kx = k[keep][:, keep], k[i, keep]
        mean = m[i] + kx @ torch.linalg.solve(kk, y[keep] - m[keep])
        var = k[i, i] - kx @ torch.linalg.solve(kk, kx)
        slow = -0.5 * (math.log(2 * math.pi * float(var)) + float(y[i] - mean) ** 2 / float(var))
        assert fast[i] == pytest.approx(slow, rel=1e-6, abs=1e-8)


def test_leave_out_means_match_conditioning_without_each_group() -> None:
    surrogate, k, m, y = _wl_gp(10, seed=1)
    groups = [[0], [3, 1], [9, 8, 2]]
    fast = surrogate.leave_out_means(groups)
    assert fast.shape == (3,)
    for group, got in zip(groups, fast, strict=True):
        keep = [j for j in range(10) if j not in group]
        first = group[0]
        mean = m[first] + k[first, keep] @ torch.linalg.solve(k[keep][:, keep], y[keep] - m[keep])
        assert got == pytest.approx(float(mean), rel=1e-6, abs=1e-8)
    with pytest.raises(BonasError, match="non-empty lists of indices below 10"):
        surrogate.leave_out_means([[10]])
    with pytest.raises(BonasError, match="non-empty"):
        surrogate.leave_out_means([[]])


def test_the_mixtures_leave_out_means_weigh_its_components() -> None:
    archs = samples(SPACE, 12, seed=2)
    average = ModelAverage(candidate_kernel_factories(SPACE), noise=NOISE_FREE)
    average.fit(archs, [_ops_score(a) for a in archs])
    groups = [[0], [5, 6]]
    parts = np.stack([average.candidates[k].leave_out_means(groups) for k in average._active])
    assert average.leave_out_means(groups) == pytest.approx(average.model.weights.numpy() @ parts)


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


def test_auto_is_the_average_where_the_space_has_an_encoding() -> None:
    from bonas.searchers.gp import resolve_kernel_name, stored_kernel_name
    from bonas.surrogate import find_wl_kernel

    for space in (SPACE, NB101Space()):
        searcher = GPSearcher(space, seed=0)
        assert isinstance(searcher.surrogate, ModelAverage)
        assert searcher.config()["kernel"] == "average"  # what a study stores
    cnn = GPSearcher(CNNSpace(), seed=0)
    assert isinstance(cnn.surrogate, Surrogate) and cnn.config()["kernel"] == "otmann"
    assert resolve_kernel_name(SPACE, "wl+ops") == "wl+ops"
    wl = GPSearcher(SPACE, seed=0, kernel="wl")
    assert wl.config()["kernel"] == "wl" and find_wl_kernel(wl.surrogate.kernel) is not None
    # what `auto` meant when studies stored it: the space's own kernel
    assert stored_kernel_name(SPACE, "auto") == "wl"
    assert stored_kernel_name(CNNSpace(), "auto") == "otmann"
    assert stored_kernel_name(SPACE, "average") == "average"


def _store_auto(path, key: str | None = None) -> None:
    """Rewrite a study file's stored kernel as ``auto``, as bonas wrote it before."""
    import json
    import sqlite3

    db = sqlite3.connect(path)
    with db:
        (text,) = db.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()
        config = json.loads(text)
        (config[key] if key else config)["kernel"] = "auto"
        db.execute("UPDATE meta SET value = ? WHERE key = 'config'", (json.dumps(config),))
    db.close()


def test_a_study_that_stored_auto_resumes_with_the_kernel_auto_meant(tmp_path) -> None:
    import bonas
    from bonas.study import Study

    def objective(arch) -> float:
        return nb201_score(arch)

    options = {"n_trials": 6, "n_initial": 3, "progress": False, "noise": NOISE_FREE}
    old, control = tmp_path / "old.db", tmp_path / "wl.db"
    for path in (old, control):
        bonas.search(objective, SPACE, storage=path, kernel="wl", **options)
    _store_auto(old)
    study = Study.load(old, SPACE)
    assert study.searcher.config()["kernel"] == "wl"
    assert isinstance(study.searcher.surrogate, Surrogate)
    study.close()
    more = {**options, "n_trials": 8}
    resumed = bonas.search(objective, SPACE, storage=old, **more)  # kernel left to auto
    same = bonas.search(objective, SPACE, storage=control, kernel="wl", **more)
    assert list(resumed.history["architecture"]) == list(same.history["architecture"])


def test_a_multi_fidelity_journal_that_stored_auto_resumes_with_that_kernel(tmp_path) -> None:
    from bonas import StudyError, search_multifidelity

    def objective(arch, budget, resume_from) -> float:
        return nb201_score(arch) * budget / (budget + 1)

    options = {"min_budget": 1, "max_budget": 3, "eta": 3, "progress": False}
    path = tmp_path / "mf.db"
    wl = {"kernel": "wl", "n_initial": 2}
    search_multifidelity(objective, SPACE, storage=path, max_jobs=4, searcher_options=wl,
                         **options)  # fmt: skip
    with pytest.raises(StudyError, match="other settings"):  # auto is the average now
        search_multifidelity(objective, SPACE, storage=path, max_jobs=6,
                             searcher_options={"n_initial": 2}, **options)  # fmt: skip
    _store_auto(path, key="searcher")
    result = search_multifidelity(objective, SPACE, storage=path, max_jobs=6,
                                  searcher_options={"n_initial": 2}, **options)  # fmt: skip
    assert len(result.jobs) == 6

"""The surrogate's fallbacks, noise, warping and refit schedule."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

import bonas
from bonas import BonasError
from bonas.exceptions import NonPSDWarning
from bonas.spaces import CNNSpace, NB201Space
from bonas.surrogate import (
    DEFAULT_REFIT_GROWTH,
    NOISE_FREE,
    FitFailedWarning,
    Surrogate,
    default_kernel_factory,
    find_screening_cache,
)
from tests.helpers import samples
from tests.objectives import nb201_score


def test_surrogate_falls_back_when_fitting_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    space = NB201Space()
    archs = samples(space, 8, 0)
    values = [nb201_score(a) for a in archs]
    surrogate = Surrogate(default_kernel_factory(space))
    surrogate.fit(archs[:6], values[:6])
    before = surrogate.hyperparameters()

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("L-BFGS blew up")

    monkeypatch.setattr("bonas.surrogate.fit_gpytorch_mll", broken)
    with pytest.warns(FitFailedWarning, match="L-BFGS blew up"):
        surrogate.fit(archs, values)
    assert surrogate.hyperparameters() == before
    mean, std = surrogate.predict(archs[:2])
    assert np.isfinite(mean).all() and np.isfinite(std).all()


def test_surrogate_handles_duplicates_and_constant_values() -> None:
    space = NB201Space()
    archs = samples(space, 4, 1)
    surrogate = Surrogate(default_kernel_factory(space))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback should be needed
        surrogate.fit(archs + archs[:2], [1.0] * 6)
    mean, std = surrogate.predict(archs)
    np.testing.assert_allclose(mean, 1.0, atol=1e-6)
    assert (std >= 0).all()
    with pytest.raises(BonasError, match="finite"):
        surrogate.fit(archs, [1.0, np.nan, 2.0, 3.0])
    with pytest.raises(BonasError, match="one value per"):
        surrogate.fit(archs, [1.0])


def test_copula_warp_keeps_the_order_and_spreads_the_top() -> None:
    from scipy.stats import norm

    from bonas.surrogate import copula_warp

    values = np.array([91.5, 10.0, 90.0, 91.0, 90.0])
    z = copula_warp(values)
    # ranks 5, 1, 2.5, 4, 2.5 of 5 -> Phi^-1((r - 1/2) / 5)
    np.testing.assert_allclose(z, norm.ppf((np.array([5, 1, 2.5, 4, 2.5]) - 0.5) / 5))
    assert z[1] < z[2] == z[4] < z[3] < z[0]
    # the near-chance value no longer dwarfs the gaps among the good ones
    assert (z[0] - z[3]) / (z[3] - z[1]) > (values[0] - values[3]) / (values[3] - values[1])
    np.testing.assert_allclose(copula_warp(np.ones(4)), 0.0)


def test_between_refits_the_training_covariance_stays_exact() -> None:
    space = CNNSpace()
    opt = bonas.GPSearcher(
        space, seed=0, n_initial=5, num_candidates=120, screen_top=10, screen_neighbours=3,
        refit_every=100,
    )  # fmt: skip
    for arch in samples(space, 12, seed=1):
        opt.add_observation(arch, float(arch.num_layers))
    cache = find_screening_cache(opt.surrogate.kernel)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonPSDWarning)
        for _ in range(2):  # the picks are exact to their 3 nearest observations only
            (trial,) = opt.ask()
            opt.tell(trial, float(trial.architecture.num_layers))
        opt.ask()
    assert opt.surrogate.fits == 1  # no refit since the first ask
    known = [t.architecture for t in opt.trials[:14]]
    misses = cache.misses
    cache.matrix(known, known)  # every pair the model was built on is cached: exact
    assert cache.misses == misses


def test_a_fixed_noise_stays_fixed_through_fits() -> None:
    space = NB201Space()
    archs = samples(space, 12, seed=3)
    values = [nb201_score(arch) for arch in archs]
    fitted = Surrogate(default_kernel_factory(space))
    fitted.fit(archs, values)
    fixed = Surrogate(default_kernel_factory(space), noise=NOISE_FREE)
    for n in (8, 12):  # a fit, then a refit warm-started from the first
        model = fixed.fit(archs[:n], values[:n])
        noise = model.likelihood.noise.item()
        assert noise == pytest.approx(NOISE_FREE, rel=1e-6)
    assert fixed.fits == 2 and fixed.failed_fits == 0
    # the fitted model, on the same data, chose another noise
    assert fitted.model.likelihood.noise.item() != pytest.approx(NOISE_FREE, rel=1e-3)
    # an interpolating GP: the posterior mean at the observations is their (warped) value
    mean, _ = fixed.predict(archs)
    np.testing.assert_allclose(mean, fixed.train_targets, atol=0.1)


@pytest.mark.slow
def test_the_refit_schedule_waits_for_growth_on_kernels_that_need_the_psd_fix_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("bonas.surrogate.REFIT_GROWTH_FROM", 12)  # 100 by default
    cnn, nb201 = CNNSpace(), NB201Space()
    otmann = Surrogate(default_kernel_factory(cnn))
    assert otmann.refit_growth == DEFAULT_REFIT_GROWTH == 0.1
    assert Surrogate(default_kernel_factory(nb201)).refit_growth == 0.0  # WL: PSD
    archs = samples(cnn, 25, seed=4)
    values = [float(arch.num_layers) for arch in archs]
    fits = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonPSDWarning)
        for n in range(12, 26):  # one more observation at a time
            otmann.fit(archs[:n], values[:n])
            fits.append(otmann.fits)
    # fits at 12, then once 10 % more have come: 12 + 2 = 14, 14 + 2 = 16, 16 + 2 = 18,
    # 18 + 2 = 20, 20 + 2 = 22, 22 + 3 = 25
    steps = zip(range(13, 26), itertools.pairwise(fits), strict=True)
    refitted_at = [n for n, (before, after) in steps if after > before]
    assert fits[0] == 1 and refitted_at == [14, 16, 18, 20, 22, 25]
    every = Surrogate(default_kernel_factory(cnn), refit_growth=0.0)
    early = Surrogate(default_kernel_factory(cnn))  # below 12 fitted, every one refits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonPSDWarning)
        for n in (11, 12, 13):
            every.fit(archs[:n], values[:n])
        for n in (10, 11, 12, 13):
            early.fit(archs[:n], values[:n])
    assert every.fits == 3 and otmann.failed_fits == every.failed_fits == 0
    assert early.fits == 3  # at 10, 11 and 12; from 12, growth: 13 is too soon
    with pytest.raises(BonasError, match="refit_growth must be a finite fraction >= 0"):
        bonas.GPSearcher(cnn, refit_growth=-0.1)


@pytest.mark.parametrize("noise", [0.0, 1e-6, float("nan"), float("inf"), -1.0])
def test_a_bad_noise_is_a_clear_error(noise: float) -> None:
    with pytest.raises(BonasError, match=r"noise must be a finite variance >= 0.0001"):
        bonas.GPSearcher(NB201Space(), noise=noise)

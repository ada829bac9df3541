"""Durable studies, the one-call search, and the surrogate's fallbacks."""

from __future__ import annotations

import itertools
import json
import sqlite3
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import bonas
from bonas import Architecture, BonasError, Study, StudyError, TrialState
from bonas.exceptions import NonPSDWarning
from bonas.spaces import CNNSpace, NB201Space
from bonas.surrogate import (
    DEFAULT_REFIT_GROWTH,
    NOISE_FREE,
    FitFailedWarning,
    Surrogate,
    default_kernel_factory,
    find_screening_cache,
    find_wl_kernel,
)

from ..helpers import samples
from .objectives import nb201_score


def test_study_round_trip_and_requeue(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    study = Study.create(path, NB201Space(), seed=0, n_initial=2)
    done = study.ask(2)
    study.tell(done[0], 1.5)
    study.tell(done[1], failed="worker died")
    (running,) = study.ask(1, worker="gpu-0")  # never told: the process "dies" here
    study.close()

    again = Study.load(path)
    assert [t.state for t in again.trials] == [
        TrialState.COMPLETE,
        TrialState.FAILED,
        TrialState.RUNNING,
    ]
    assert again.trials[1].failure == "worker died"
    assert again.trials[2].worker == "gpu-0"
    assert again.best_trial.value == 1.5
    (requeued,) = again.ask(1)
    assert requeued.number == running.number and requeued.architecture == running.architecture
    again.tell(requeued, 2.0)
    frame = again.to_dataframe()
    assert list(frame["state"]) == ["complete", "failed", "complete"]
    assert list(frame["incumbent"]) == [1.5, 1.5, 2.0]
    assert {"number", "value", "budget", "worker", "duration", "architecture"} <= set(frame)


def test_study_errors(tmp_path: Path) -> None:
    with pytest.raises(StudyError, match="no study file"):
        Study.load(tmp_path / "missing.db")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StudyError, match="not a readable SQLite"):
        Study.load(garbage)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE meta (key TEXT, value TEXT)")
        db.execute("INSERT INTO meta VALUES ('format', 'optuna')")
    with pytest.raises(StudyError, match="not a bonas study"):
        Study.load(other)
    path = tmp_path / "nb201.db"
    Study.create(path, NB201Space(), seed=0).close()
    with pytest.raises(StudyError, match="space"):
        Study.load(path, CNNSpace())
    with pytest.raises(StudyError, match="already exists"):
        Study.create(path, NB201Space())
    with sqlite3.connect(path) as db:
        db.execute("UPDATE optimizer_state SET state = 'not json'")
    with pytest.raises(StudyError, match="corrupt"):
        Study.load(path)


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


def test_a_loaded_study_keeps_the_warping_fidelity_and_noise_options(tmp_path: Path) -> None:
    path = tmp_path / "options.db"
    Study.create(
        path, NB201Space(), seed=0, warping="none", multi_fidelity=True, noise=NOISE_FREE
    ).close()
    again = Study.load(path)
    assert again.searcher.warping == "none" and again.searcher.multi_fidelity is True
    assert again.searcher.noise == NOISE_FREE
    again.close()


@pytest.mark.parametrize(
    ("option", "value"), [("screen_top", 7), ("screen_neighbours", 9), ("refit_growth", 0.25)]
)
def test_a_study_keeps_its_speed_options_and_an_older_one_runs_as_it_did(
    tmp_path: Path, option: str, value: int
) -> None:
    path = tmp_path / "screen.db"
    Study.create(path, CNNSpace(), seed=0, **{option: value}).close()
    again = Study.load(path)
    assert getattr(again.searcher, option) == value
    again.close()
    # a file written before the option existed
    db = sqlite3.connect(path)
    config = json.loads(db.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()[0])
    del config[option]
    db.execute("UPDATE meta SET value = ? WHERE key = 'config'", (json.dumps(config),))
    db.commit()
    db.close()
    older = Study.load(path)
    # every candidate, and pair, exact; hyperparameters refitted at every observation
    assert getattr(older.searcher, option) == 0
    older.close()


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
    wl = find_wl_kernel(optimizer.surrogate.kernel)
    if space_name == "nb101":  # a kernel that keeps features per id drops the forgotten
        assert wl is not None and wl._features
        assert all(registry.holds(arch_id) for arch_id, _ in wl._features)

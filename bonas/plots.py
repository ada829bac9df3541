"""Plots of a search: the incumbent over trials, and the surrogate's predictions against
the observations (leave-one-out, with uncertainty bars). PNG or SVG via matplotlib."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bonas.exceptions import BonasError
from bonas.searchers.gp import GPSearcher
from bonas.study import trials_dataframe

__all__ = [
    "leave_one_out",
    "new_figure",
    "plot_incumbent",
    "plot_predicted_vs_observed",
    "save_figure",
]


def new_figure() -> Any:
    """``matplotlib.pyplot``, on the non-interactive Agg backend unless one is chosen."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_figure(plt: Any, fig: Any, *axes: Any, path: str | Path) -> Path:
    """Legends on ``axes``, then the figure to ``path`` (PNG or SVG by suffix)."""
    for ax in axes:
        ax.legend(loc="best")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _optimizer(source: Any) -> GPSearcher:
    optimizer = getattr(source, "searcher", source)
    if not isinstance(optimizer, GPSearcher):
        raise BonasError(
            f"expected a GPSearcher, Study or SearchResult, got {type(source).__name__}"
        )
    return optimizer


def plot_incumbent(source: Any, path: str | Path) -> Path:
    """The best value so far against the trial number, with every trial as a dot.

    Args:
        source: An :class:`~bonas.searchers.GPSearcher`, a Study or a SearchResult.
        path: ``.png`` or ``.svg`` file to write.
    """
    optimizer = _optimizer(source)
    frame = trials_dataframe(optimizer.trials, optimizer.direction)
    plt = new_figure()
    fig, ax = plt.subplots(figsize=(6, 4))
    complete = frame[frame["state"] == "complete"]
    failed = frame[frame["state"] == "failed"]
    ax.scatter(complete["number"], complete["value"], s=12, color="#9bb7d4", label="trial")
    ax.step(frame["number"], frame["incumbent"], where="post", color="#1f4e79", label="incumbent")
    if len(failed):
        ax.scatter(
            failed["number"],
            [complete["value"].min()] * len(failed),
            marker="x",
            color="#c0392b",
            label="failed",
        )
    ax.set_xlabel("trial")
    ax.set_ylabel("objective")
    ax.set_title(f"incumbent ({optimizer.direction})")
    return save_figure(plt, fig, ax, path=path)


def leave_one_out(optimizer: GPSearcher) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Leave-one-out predictions of the fitted GP at the complete trials.

    With ``K`` the training covariance plus noise (standardised outcomes), the LOO mean
    and variance at point ``i`` are ``y_i - [K^-1 y]_i / [K^-1]_ii`` and ``1 / [K^-1]_ii``
    (Rasmussen & Williams 2006, eq. 5.12), mapped back to the objective's scale, or, when
    the surrogate warps the values (``warping="copula"``), to the scale of their normal
    scores, which is what the GP models.

    With a :class:`~bonas.model_average.ModelAverage`, each weighted GP's LOO predictive
    is computed so, and they are mixed with the fit's weights (the mixture's mean and
    standard deviation, as :meth:`~bonas.model_average.ModelAverage.predict` mixes).

    Returns:
        ``(observed, predicted mean, predicted standard deviation)``, each ``(n,)``.
    """
    usable = [t for t in optimizer.trials if t.usable]
    if len(usable) < 3:
        raise BonasError(f"leave-one-out needs at least 3 complete trials, got {len(usable)}")
    sign = 1.0 if optimizer.direction == "maximize" else -1.0
    observed = np.array([float(t.value) for t in usable])  # type: ignore[arg-type]
    # a copy, so that plotting never changes what the optimizer proposes next
    surrogate = copy.deepcopy(optimizer.surrogate)
    fitted = surrogate.fit([t.architecture for t in usable], list(sign * observed))
    if surrogate.warping != "none":
        # the GP models the values' normal scores: compare on that scale
        observed = sign * np.asarray(surrogate.train_targets, dtype=float)
    parts = [_loo_predictive(model) for model in getattr(fitted, "models", (fitted,))]
    weights = np.asarray(getattr(fitted, "weights", torch.ones(1)), dtype=float)
    mean = weights @ np.stack([m for m, _ in parts])
    second = weights @ np.stack([s**2 + m**2 for m, s in parts])
    std = np.sqrt(np.clip(second - mean**2, 1e-300, None))
    return observed, sign * mean, std


def _loo_predictive(model: Any) -> tuple[np.ndarray, np.ndarray]:
    """One fitted GP's LOO means and standard deviations at its training points, on the
    scale of its training targets before standardisation."""
    x = model.train_inputs[0]
    y = model.train_targets.detach()
    with torch.no_grad():
        covar = model.likelihood(model.forward(x)).covariance_matrix
        inverse = torch.linalg.inv(covar)
    precision = inverse.diagonal()
    centred = y - model.mean_module(x).detach()
    mean = (y - (inverse @ centred) / precision).numpy()
    std = (1.0 / precision).sqrt().numpy()
    scale = model.outcome_transform.stdvs.item()
    offset = model.outcome_transform.means.item()
    return mean * scale + offset, std * scale


def plot_predicted_vs_observed(source: Any, path: str | Path) -> Path:
    """Leave-one-out GP predictions (with 2-sigma bars) against the observed values."""
    optimizer = _optimizer(source)
    observed, mean, std = leave_one_out(optimizer)
    scale = "" if optimizer.surrogate.warping == "none" else " (normal score)"
    plt = new_figure()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.errorbar(
        observed,
        mean,
        yerr=2 * std,
        fmt="o",
        ms=3,
        color="#1f4e79",
        ecolor="#9bb7d4",
        label="prediction ± 2σ",
    )
    low, high = min(observed.min(), mean.min()), max(observed.max(), mean.max())
    ax.plot([low, high], [low, high], "--", color="#888888", label="y = x")
    ax.set_xlabel(f"observed{scale}")
    ax.set_ylabel(f"predicted (leave-one-out){scale}")
    corr = float(np.corrcoef(observed, mean)[0, 1]) if observed.std() > 0 else float("nan")
    ax.set_title(f"surrogate: Pearson r = {corr:.2f}")
    return save_figure(plt, fig, ax, path=path)

"""Acquisition functions over architecture ids, through botorch.

* ``ei``: expected improvement, ``EI(x) = E[max(f(x) - f*, 0)]`` (Jones et al. 1998),
  ranked through its logarithm: the same order, without EI's underflow to 0 far
  from the incumbent (Ament et al., NeurIPS 2023);
* ``logei``: the same, by its name;
* ``ucb``: ``mu(x) + beta_t^(1/2) sigma(x)`` with NASBOT's schedule
  ``beta_t^(1/2) = sqrt(0.5 d log(2 d t + 1))``, ``d = 3`` for architecture kernels
  (dragonfly ``opt/gpb_acquisitions.py``; Srinivas et al. 2010).

Pending evaluations are *hallucinated* as in NASBOT: the model is conditioned on them
with its own posterior mean as the observation, which leaves the mean unchanged and
shrinks the variance around them, so a batch spreads out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from botorch.acquisition import (
    AcquisitionFunction,
    LogExpectedImprovement,
    UpperConfidenceBound,
)
from botorch.models.model import Model

from bonas.exceptions import BonasError

__all__ = ["ACQUISITIONS", "hallucinate", "make_acquisition", "score", "ucb_beta"]

ACQUISITIONS = ("ei", "logei", "ucb")
UCB_DIM = 3.0


def ucb_beta(t: int, dim: float = UCB_DIM) -> float:
    """NASBOT's UCB multiplier ``beta_t^(1/2) = sqrt(0.5 d log(2 d t + 1))`` at step ``t``."""
    if t < 1:
        raise BonasError(f"the UCB step t starts at 1, got {t}")
    return math.sqrt(0.5 * dim * math.log(2 * dim * t + 1))


def make_acquisition(name: str, model: Model, best_f: float, t: int) -> AcquisitionFunction:
    """A botorch analytic acquisition function by name.

    Args:
        name: ``ei``, ``logei`` or ``ucb``.
        model: The (possibly hallucinated) surrogate.
        best_f: The incumbent value (for EI), on the objective's scale.
        t: The step, for UCB's schedule (number of observations so far, at least 1).
    """
    if name in ("ei", "logei"):
        return LogExpectedImprovement(model, best_f=best_f)
    if name == "ucb":
        # botorch's UCB multiplies sigma by sqrt(beta)
        return UpperConfidenceBound(model, beta=ucb_beta(max(t, 1)) ** 2)
    raise BonasError(f"unknown acquisition {name!r}; choose one of {list(ACQUISITIONS)}")


def _inputs(ids: Sequence[int], log_budget: float | None) -> torch.Tensor:
    x = torch.tensor(list(ids), dtype=torch.double).reshape(-1, 1)
    if log_budget is None:
        return x
    return torch.cat([x, torch.full_like(x, float(log_budget))], dim=-1)


def score(
    acquisition: AcquisitionFunction,
    ids: Sequence[int],
    chunk: int = 512,
    log_budget: float | None = None,
) -> np.ndarray:
    """Acquisition values of single architectures, shape ``(len(ids),)``.

    ``log_budget``: for a multi-fidelity model, score at this budget's log.
    """
    x = _inputs(ids, log_budget).unsqueeze(-2)
    values = []
    with torch.no_grad():
        for start in range(0, x.shape[0], chunk):
            values.append(acquisition(x[start : start + chunk]).reshape(-1))
    if not values:
        return np.zeros(0)
    return torch.cat(values).numpy()


def hallucinate(model: Model, pending_ids: Sequence[int], log_budget: float | None = None) -> Model:
    """The model conditioned on pending points at its own posterior mean (NASBOT);
    ``log_budget``: for a multi-fidelity model, the pending points' budget's log."""
    if not pending_ids:
        return model
    x = _inputs(pending_ids, log_budget)
    with torch.no_grad():
        mean = model.posterior(x).mean
    return model.condition_on_observations(x, mean)

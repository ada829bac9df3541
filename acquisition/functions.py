"""Acquisition functions over architecture ids, through botorch.

* ``ei``: expected improvement, ``EI(x) = E[max(f(x) - f*, 0)]`` (Jones et al. 1998),
  ranked through its logarithm: the same order, without EI's underflow to 0 far
  from the incumbent (Ament et al., NeurIPS 2023);
* ``logei``: the same, by its name;
* ``ucb``: ``mu(x) + beta_t^(1/2) sigma(x)`` with NASBOT's schedule
  ``beta_t^(1/2) = sqrt(0.5 d log(2 d t + 1))``, ``d = 3`` for architecture kernels
  (dragonfly ``opt/gpb_acquisitions.py``; Srinivas et al. 2010).

Pending evaluations are *hallucinated* as in NASBOT before the acquisition is built
(:meth:`bonas.surrogate.Surrogate.hallucinate`).

A :class:`ModelMixture` (several GPs with weights, from
:class:`~bonas.model_average.ModelAverage`) gets the mixture's acquisition
(:class:`MixtureAcquisition`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from botorch.acquisition import (
    AcquisitionFunction,
    LogExpectedImprovement,
    UpperConfidenceBound,
)
from botorch.models.model import Model

from bonas.exceptions import BonasError

__all__ = [
    "ACQUISITIONS",
    "MixtureAcquisition",
    "ModelMixture",
    "make_acquisition",
    "score",
    "ucb_beta",
]

ACQUISITIONS = ("ei", "logei", "ucb")
UCB_DIM = 3.0


def ucb_beta(t: int, dim: float = UCB_DIM) -> float:
    """NASBOT's UCB multiplier ``beta_t^(1/2) = sqrt(0.5 d log(2 d t + 1))`` at step ``t``."""
    if t < 1:
        raise BonasError(f"the UCB step t starts at 1, got {t}")
    return math.sqrt(0.5 * dim * math.log(2 * dim * t + 1))


class ModelMixture(NamedTuple):
    """Models whose predictive distributions are mixed with weights.

    Attributes:
        models: The component models (fitted botorch models over the same inputs).
        weights: ``(K,)`` non-negative weights summing to 1.
    """

    models: tuple[Model, ...]
    weights: torch.Tensor


class MixtureAcquisition(AcquisitionFunction):
    r"""The acquisition of a mixture of models, from one acquisition per component.

    For expected improvement it is exact: EI is an expectation, linear in the predictive
    distribution, so the mixture's EI is :math:`\sum_k w_k \mathrm{EI}_k(x)`, and its
    logarithm is :math:`\operatorname{logsumexp}_k(\log w_k + \log \mathrm{EI}_k(x))`.
    For UCB it is :math:`\sum_k w_k \mathrm{UCB}_k(x)`: the mixture's mean plus the
    weighted mean of the components' exploration terms.

    Args:
        components: One analytic acquisition per component model.
        weights: ``(K,)`` weights summing to 1.
        log_values: Whether the components return logarithms (LogEI).
    """

    def __init__(
        self, components: list[AcquisitionFunction], weights: torch.Tensor, log_values: bool
    ) -> None:
        super().__init__(components[0].model)
        self.components = torch.nn.ModuleList(components)
        self.register_buffer("weights", weights.to(torch.double))
        self.log_values = log_values

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """``(b,)`` values at ``(b, 1, d)`` inputs."""
        values = torch.stack([component(X) for component in self.components])  # (K, b)
        weights = self.weights.to(values).unsqueeze(-1)
        if self.log_values:
            return torch.logsumexp(values + weights.log(), dim=0)
        return (weights * values).sum(dim=0)


def make_acquisition(
    name: str, model: Model | ModelMixture, best_f: float, t: int
) -> AcquisitionFunction:
    """A botorch analytic acquisition function by name.

    Args:
        name: ``ei``, ``logei`` or ``ucb``.
        model: The (possibly hallucinated) surrogate, or a mixture of models.
        best_f: The incumbent value (for EI), on the objective's scale.
        t: The step, for UCB's schedule (number of observations so far, at least 1).
    """
    if isinstance(model, ModelMixture):
        if len(model.models) == 1:
            return make_acquisition(name, model.models[0], best_f, t)
        components = [make_acquisition(name, m, best_f, t) for m in model.models]
        return MixtureAcquisition(components, model.weights, log_values=name != "ucb")
    if name in ("ei", "logei"):
        return LogExpectedImprovement(model, best_f=best_f)
    if name == "ucb":
        # botorch's UCB multiplies sigma by sqrt(beta)
        return UpperConfidenceBound(model, beta=ucb_beta(max(t, 1)) ** 2)
    raise BonasError(f"unknown acquisition {name!r}; choose one of {list(ACQUISITIONS)}")


def score(acquisition: AcquisitionFunction, x: torch.Tensor, chunk: int = 512) -> np.ndarray:
    """Acquisition values of single inputs, evaluated ``chunk`` at a time.

    Args:
        acquisition: An analytic acquisition function.
        x: ``(n, d)`` model inputs, e.g. :meth:`bonas.surrogate.Surrogate.inputs` of the
            candidates (``d = 1``: architecture ids; ``d = 2``: ids and log budgets).
        chunk: Inputs per call.

    Returns:
        ``(n,)`` acquisition values.
    """
    x = x.unsqueeze(-2)  # (n, 1, d): n independent points
    values = []
    with torch.no_grad():
        for start in range(0, x.shape[0], chunk):
            values.append(acquisition(x[start : start + chunk]).reshape(-1))
    if not values:
        return np.zeros(0)
    return torch.cat(values).numpy()

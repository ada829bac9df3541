"""A surrogate that weighs several GP kernels by how well each predicts the data.

Which kernel models a search space best is not known in advance: the WL kernel that
suits one cell space's tasks, a categorical kernel over the edge ops (what a one-hot GP
models) or their sum may suit another's. :class:`ModelAverage` fits one GP per candidate
kernel on every fit (each by its marginal likelihood, as a lone
:class:`~bonas.surrogate.Surrogate` would) and weighs them by their leave-one-out
predictive densities, with the Bayesian bootstrap of pseudo-BMA+ (Yao, Vehtari, Simpson
& Gelman, "Using Stacking to Average Bayesian Predictive Distributions", Bayesian
Analysis 2018):

.. math::
    \\mathrm{elpd}_k = \\sum_i \\log p_k(y_i \\mid y_{-i}), \\qquad
    w_k = \\mathbb{E}_{\\alpha \\sim \\mathrm{Dir}(1, \\dots, 1)}
        \\Big[\\mathrm{softmax}_k\\big(n \\textstyle\\sum_i \\alpha_i
        \\log p_k(y_i \\mid y_{-i})\\big)\\Big]

The leave-one-out terms are exact and cheap for a GP: with
:math:`A = (K + \\sigma^2 I)^{-1}`, :math:`y_i - \\mu_{-i} = [A (y - m)]_i / A_{ii}` and
:math:`\\sigma^2_{-i} = 1 / A_{ii}` (Rasmussen & Williams 2006, section 5.4.2). They judge
each kernel on predictions of points it was not given, which a marginal likelihood
alone, fitted on the same points, does not; the bootstrap keeps a few lucky points from
giving one kernel all the weight.

The search then sees the mixture: its predictions are the mixture's mean and standard
deviation, and its acquisition is the mixture's (expected improvement is linear in the
predictive distribution, so the mixture's EI is the weighted sum of the components'; see
:class:`~bonas.acquisition.functions.ModelMixture`). Candidates whose weight is below
:data:`MIN_WEIGHT` are left out of the mixture for that fit.

Every space gets the same rule: the candidates are those its encoding allows
(:func:`candidate_kernel_factories`), chosen by no per-benchmark setting.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from botorch.models import SingleTaskGP
from gpytorch.kernels import Kernel, ScaleKernel

from bonas.acquisition.functions import ModelMixture
from bonas.architecture import Architecture
from bonas.exceptions import BonasError
from bonas.kernels import (
    ArchitectureRegistry,
    CategoricalKernel,
    WLKernel,
)
from bonas.surrogate import KernelFactory, Surrogate, default_kernel_factory

__all__ = [
    "MIN_WEIGHT",
    "ModelAverage",
    "candidate_kernel_factories",
    "leave_out_means",
    "loo_log_densities",
    "pseudo_bma_weights",
]

#: Components lighter than this are left out of a fit's mixture (their acquisition
#: would cost as much as a heavy one's and change little).
MIN_WEIGHT = 0.02
#: Bayesian-bootstrap draws of the pseudo-BMA+ weights.
BOOTSTRAP_DRAWS = 1000


def candidate_kernel_factories(space: Any) -> dict[str, KernelFactory]:
    """The kernels :class:`ModelAverage` weighs on ``space``, by name.

    On a space with a categorical encoding (cells, NB101, NAS-Bench-Graph, DARTS, a
    table's subset of one): the WL kernel (NAS-BOWL), a :class:`~bonas.kernels.
    CategoricalKernel` over the encoding with one lengthscale per variable, and their
    sum. Elsewhere (NASBOT's free-form CNN/MLP spaces, a user table's free-form graphs)
    the space's own kernel alone, so that the search there is what it was.
    """
    try:
        space.categories()
    except BonasError:
        return {"default": default_kernel_factory(space)}
    cells = getattr(space, "base", space)  # a table's subset: encode through its base
    return {
        "wl": lambda registry: ScaleKernel(WLKernel(registry, h=2)),
        "categorical": lambda registry: ScaleKernel(CategoricalKernel(registry, cells)),
        "wl+categorical": lambda registry: (
            ScaleKernel(WLKernel(registry, h=2)) + ScaleKernel(CategoricalKernel(registry, cells))
        ),
    }


def _training_precision(model: SingleTaskGP) -> tuple[torch.Tensor, torch.Tensor]:
    """``A = (K + sigma^2 I)^{-1}`` of a fitted GP's training points, ``(n, n)``, and
    ``A (y - m)``, ``(n,)``, on its (standardised) outcome scale.

    Raises:
        BonasError: If the covariance is not positive definite even with jitter.
    """
    x = model.train_inputs[0]
    y = model.train_targets.reshape(-1)
    with torch.no_grad():
        prior = model.forward(x)
        noise = model.likelihood.noise.reshape(-1)[0]
        covariance = prior.covariance_matrix + noise * torch.eye(y.numel(), dtype=y.dtype)
        factor, info = torch.linalg.cholesky_ex(covariance)
        jitter = 1e-8
        while int(info) != 0 and jitter < 1e-2:
            eye = jitter * torch.eye(y.numel(), dtype=y.dtype)
            factor, info = torch.linalg.cholesky_ex(covariance + eye)
            jitter *= 10
        if int(info) != 0:
            raise BonasError("the GP covariance is not positive definite; no leave-out terms")
        inverse = torch.cholesky_inverse(factor)
        return inverse, inverse @ (y - prior.mean.reshape(-1))


def loo_log_densities(model: SingleTaskGP) -> np.ndarray:
    """Exact leave-one-out log predictive densities of a fitted GP's training points,
    shape ``(n,)``, on the model's (standardised) outcome scale.

    Raises:
        BonasError: If the model's covariance is not positive definite even with jitter.
    """
    inverse, alpha = _training_precision(model)
    precision = inverse.diagonal()
    variance = 1.0 / precision
    residual = alpha / precision
    log_density = -0.5 * (torch.log(2 * math.pi * variance) + residual**2 / variance)
    return log_density.numpy()


def leave_out_means(model: SingleTaskGP, groups: Sequence[Sequence[int]]) -> np.ndarray:
    """The posterior mean of each group's first training point given every training
    point outside the group, with the fitted hyperparameters; shape ``(len(groups),)``,
    on the model's (standardised) outcome scale.

    Exact and cheap for a GP (leave-group-out, Sundararajan & Keerthi, "Predictive
    Approaches for Choosing Hyperparameters in Gaussian Processes", Neural Computation
    2001; Rasmussen & Williams 2006, section 5.4.2): with
    :math:`A = (K + \\sigma^2 I)^{-1}` and :math:`\\alpha = A (y - m)`,

    .. math::
        \\mu_{S \\mid -S} = y_S - (A_{SS})^{-1} \\alpha_S.

    Leaving out every result of an architecture (its group) asks how well the rest of
    the data predicts an architecture the model has not seen, which is what a proposal
    needs.

    Args:
        model: A fitted GP.
        groups: Training-point indices, one group per prediction, each non-empty.

    Raises:
        BonasError: If a group is empty or holds an index out of range, or the
            covariance is not positive definite even with jitter.

    Example:
        >>> import torch
        >>> from botorch.models import SingleTaskGP
        >>> x = torch.linspace(0, 1, 6, dtype=torch.double).unsqueeze(-1)
        >>> model = SingleTaskGP(x, torch.sin(6 * x)).eval()
        >>> leave_out_means(model, [[0], [2, 3]]).shape
        (2,)
    """
    n = model.train_targets.reshape(-1).numel()
    if any(not group or not all(0 <= int(i) < n for i in group) for group in groups):
        raise BonasError(f"groups must be non-empty lists of indices below {n}, got {groups}")
    inverse, alpha = _training_precision(model)
    y = model.train_targets.reshape(-1)
    means = []
    for group in groups:
        index = torch.tensor([int(i) for i in group])
        block = inverse[index][:, index]
        shift = torch.linalg.solve(block, alpha[index])
        means.append(float(y[index[0]] - shift[0]))
    return np.asarray(means)


def pseudo_bma_weights(log_densities: np.ndarray, seed: int = 0) -> np.ndarray:
    """Pseudo-BMA+ weights of models from their pointwise LOO log densities.

    Args:
        log_densities: ``(K, n)``: model ``k``'s log density of point ``i`` left out.
        seed: Seed of the Bayesian bootstrap's own generator.

    Returns:
        ``(K,)`` weights, non-negative, summing to 1.

    Raises:
        BonasError: If the densities are not a finite ``(K, n)`` array with ``n >= 1``.

    Example:
        >>> pseudo_bma_weights(np.array([[-1.0, -1.0], [-1.0, -1.0]])).tolist()
        [0.5, 0.5]
    """
    densities = np.asarray(log_densities, dtype=float)
    if densities.ndim != 2 or densities.shape[1] == 0 or not np.isfinite(densities).all():
        raise BonasError(
            "pseudo-BMA weights need finite (models, points) log densities; got shape "
            f"{densities.shape}"
        )
    n = densities.shape[1]
    rng = np.random.default_rng(seed)
    alphas = rng.dirichlet(np.ones(n), size=BOOTSTRAP_DRAWS)  # (B, n)
    z = n * alphas @ densities.T  # (B, K)
    z -= z.max(axis=1, keepdims=True)
    weights = np.exp(z)
    weights /= weights.sum(axis=1, keepdims=True)
    return weights.mean(axis=0)


class ModelAverage:
    """A surrogate over several candidate kernels, averaged by pseudo-BMA+ weights.

    It offers what a searcher uses of a :class:`~bonas.surrogate.Surrogate` (``fit``,
    ``predict``, ``inputs``, ``hallucinate``, ``train_targets``, ``state_dict``...);
    each candidate is a :class:`~bonas.surrogate.Surrogate` of its own over one shared
    :class:`~bonas.kernels.ArchitectureRegistry`, with the same settings.

    Args:
        kernels: Candidate kernel factories by name (at least one), each
            ``registry -> Kernel``; see :func:`candidate_kernel_factories`.
        **settings: :class:`~bonas.surrogate.Surrogate`'s settings (``refit_every``,
            ``refit_growth``, ``warping``, ``multi_fidelity``, ``noise``...), given to
            every candidate.

    Attributes:
        weights: The last fit's weight of each candidate, by name.

    Example:
        >>> from bonas.spaces import NB201Space
        >>> space = NB201Space()
        >>> archs = [space.sample(i) for i in range(12)]
        >>> average = ModelAverage(candidate_kernel_factories(space))
        >>> _ = average.fit(archs, [float(space.to_string(a).count("3x3")) for a in archs])
        >>> sorted(average.weights), round(sum(average.weights.values()), 6)
        (['categorical', 'wl', 'wl+categorical'], 1.0)
    """

    can_screen = False

    def __init__(self, kernels: dict[str, KernelFactory], **settings: Any) -> None:
        if not kernels:
            raise BonasError("a model average needs at least one candidate kernel")
        self.registry = ArchitectureRegistry()
        self.candidates: dict[str, Surrogate] = {}
        for name, factory in kernels.items():
            kernel = factory(self.registry)
            if not isinstance(kernel, Kernel):
                raise BonasError(
                    f"the kernel factory {name!r} returned a {type(kernel).__name__}, not a "
                    "gpytorch Kernel"
                )
            self.candidates[name] = Surrogate(kernel, forget_unused=False, **settings)
        first = next(iter(self.candidates.values()))
        self.multi_fidelity = first.multi_fidelity
        self.refit_growth = first.refit_growth
        self.warping = first.warping
        self.weights: dict[str, float] = dict.fromkeys(self.candidates, 1 / len(self.candidates))
        self.train_targets: np.ndarray | None = None
        self._active: list[str] = list(self.candidates)

    @property
    def kernel(self) -> Kernel:
        """The heaviest candidate's kernel."""
        return self.candidates[max(self.weights, key=self.weights.__getitem__)].kernel

    @property
    def fits(self) -> int:
        """Hyperparameter fits, over all candidates."""
        return sum(c.fits for c in self.candidates.values())

    def inputs(
        self, archs: Sequence[Architecture], budgets: Sequence[float] | float | None = None
    ) -> torch.Tensor:
        """The GP inputs (see :meth:`~bonas.surrogate.Surrogate.inputs`); the candidates
        share them."""
        return next(iter(self.candidates.values())).inputs(archs, budgets)

    def fit(
        self,
        archs: Sequence[Architecture],
        values: Sequence[float],
        budgets: Sequence[float] | None = None,
        keep_hyperparameters: bool = False,
    ) -> ModelMixture:
        """Fit every candidate, then weigh them (see the module docstring).

        A candidate whose LOO densities cannot be computed gets no weight; if none can,
        the weights stay uniform. ``keep_hyperparameters`` is
        :meth:`~bonas.surrogate.Surrogate.fit`'s, for every candidate.
        """
        self.inputs(archs, budgets)  # registers them before the candidates' sweep
        if not keep_hyperparameters and self.registry.forget_unused():
            for candidate in self.candidates.values():
                candidate.prune()
        densities = {}
        for name, candidate in self.candidates.items():
            candidate.fit(archs, values, budgets, keep_hyperparameters=keep_hyperparameters)
            try:
                densities[name] = loo_log_densities(candidate.model)
            except BonasError:
                continue
            if not np.isfinite(densities[name]).all():
                del densities[name]
        self.train_targets = next(iter(self.candidates.values())).train_targets
        if densities:
            names = list(densities)
            weights = pseudo_bma_weights(np.stack([densities[k] for k in names]), seed=len(archs))
            self.weights = dict.fromkeys(self.candidates, 0.0) | dict(
                zip(names, weights.tolist(), strict=True)
            )
        else:
            self.weights = dict.fromkeys(self.candidates, 1 / len(self.candidates))
        self._active = [k for k, w in self.weights.items() if w >= MIN_WEIGHT]
        return self.mixture([self.candidates[k].model for k in self._active])

    def mixture(self, models: Sequence[SingleTaskGP]) -> ModelMixture:
        """The active candidates' ``models`` with their weights (renormalised over the
        active ones)."""
        weights = torch.tensor([self.weights[k] for k in self._active], dtype=torch.double)
        return ModelMixture(tuple(models), weights / weights.sum())

    @property
    def model(self) -> ModelMixture:
        """The fitted mixture."""
        self._check_fitted()
        return self.mixture([self.candidates[k].model for k in self._active])

    def _check_fitted(self) -> None:
        if self.train_targets is None:
            raise BonasError("fit the surrogate before predicting")

    def predict(
        self, archs: Sequence[Architecture], budget: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The mixture's posterior mean and standard deviation at ``archs``, ``(n,)``
        each: ``sum_k w_k mu_k`` and ``sqrt(sum_k w_k (s_k^2 + mu_k^2) - mean^2)``."""
        self._check_fitted()
        weights = self.model.weights.numpy()
        parts = [self.candidates[k].predict(archs, budget) for k in self._active]
        means = np.stack([m for m, _ in parts])
        second = np.stack([s**2 + m**2 for m, s in parts])
        mean = weights @ means
        return mean, np.sqrt(np.clip(weights @ second - mean**2, 0.0, None))

    def leave_out_means(self, groups: Sequence[Sequence[int]]) -> np.ndarray:
        """The mixture's :func:`leave_out_means`: each active candidate's, weighed by the
        fit's weights, shape ``(len(groups),)`` (the candidates share the outcome
        scale: they are fitted to the same values)."""
        self._check_fitted()
        weights = self.model.weights.numpy()
        means = np.stack([leave_out_means(self.candidates[k].model, groups) for k in self._active])
        return weights @ means

    def hallucinate(
        self, pending: Sequence[Architecture], budget: float | None = None
    ) -> ModelMixture:
        """Each active candidate conditioned on ``pending`` at its own posterior mean
        (:meth:`~bonas.surrogate.Surrogate.hallucinate`), with the fit's weights."""
        self._check_fitted()
        return self.mixture([self.candidates[k].hallucinate(pending, budget) for k in self._active])

    # -- state -------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Each candidate's :meth:`~bonas.surrogate.Surrogate.state_dict`, by name, and
        the weights (JSON-compatible)."""
        return {
            "candidates": {k: c.state_dict() for k, c in self.candidates.items()},
            "weights": dict(self.weights),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output.

        Raises:
            BonasError: If ``state`` is malformed or names other candidates.
        """
        try:
            saved = state["candidates"]
            if set(saved) != set(self.candidates):
                raise BonasError(
                    f"the saved model average has candidates {sorted(saved)}, this one "
                    f"{sorted(self.candidates)}"
                )
            for name, candidate in self.candidates.items():
                candidate.load_state_dict(saved[name])
            self.weights = {k: float(state["weights"][k]) for k in self.candidates}
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise BonasError(f"the model average's state is malformed: {err!r}") from None
        self._active = [k for k, w in self.weights.items() if w >= MIN_WEIGHT]

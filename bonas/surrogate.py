"""The GP surrogate over architectures: a botorch ``SingleTaskGP`` on architecture ids.

The model's inputs are ids of an :class:`~bonas.kernels.ArchitectureRegistry`; its
kernel is a bonas architecture kernel (OTMANN by default for NASBOT's free-form spaces,
NAS-BOWL's WL kernel for cell spaces). Outcomes are standardised (botorch
``Standardize``); hyperparameters are fitted by marginal likelihood
(``fit_gpytorch_mll``), warm-started from the previous fit, on a schedule: after
``refit_every`` new observations, and for kernels that are not guaranteed PSD, past 100
observations, once they have also grown by ``refit_growth``.

Numerical trouble never ends a search. In order: gpytorch adds growing jitter to a
failing Cholesky; non-PSD Gram matrices are projected by the kernel (with a
:class:`~bonas.exceptions.NonPSDWarning`); a fit that still fails, or ends in non-finite
hyperparameters, is rolled back to the previous hyperparameters with a
:class:`FitFailedWarning`.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from botorch.exceptions.warnings import InputDataWarning, OptimizationWarning
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from gpytorch.kernels import Kernel, ScaleKernel
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.utils.warnings import NumericalWarning

from bonas.architecture import Architecture
from bonas.exceptions import BonasError, BonasWarning
from bonas.kernels import (
    ArchitectureBudgetKernel,
    ArchitectureKernel,
    ArchitectureRegistry,
    CellOpsKernel,
    DistanceCache,
    EditKernel,
    OTMANNDistance,
    OTMANNKernel,
    WLKernel,
    kernel_is_psd,
    select_wl_depth,
)

__all__ = [
    "DEFAULT_REFIT_GROWTH",
    "KERNELS",
    "NOISE_FREE",
    "REFIT_GROWTH_FROM",
    "WARPINGS",
    "FitFailedWarning",
    "Surrogate",
    "copula_warp",
    "default_kernel_factory",
    "find_screening_cache",
    "find_wl_kernel",
    "kernel_registry",
]

# botorch's floor on a Gaussian likelihood's noise variance
MIN_NOISE = 1e-4
#: The noise variance (of the standardised outcomes) for an objective that answers the
#: same value every time, such as a benchmark table's lookups: small enough that the GP
#: all but interpolates, large enough to keep the Gram matrix well conditioned.
NOISE_FREE = 1e-3
#: The refit schedule's default growth for kernels that are not guaranteed PSD: past
#: :data:`REFIT_GROWTH_FROM` observations, refit once they have grown by a tenth (every
#: 10th at 100, every 50th at 500). Their fits cost an eigendecomposition and its
#: gradient at every L-BFGS step, seconds at 500 observations, while a tenth more data
#: moves the hyperparameters little; NASBOT's code (dragonfly) refits every 17.
DEFAULT_REFIT_GROWTH = 0.1
#: Below this many observations at the last fit, ``refit_growth`` is not applied: fits
#: are cheap there (under a second) and the hyperparameters still move with the data (a
#: check on 6 seeds of 60 CNN trials found growth from the start worse in 4).
REFIT_GROWTH_FROM = 100


WARPINGS = ("none", "copula")


def copula_warp(values: np.ndarray) -> np.ndarray:
    r"""Normal scores of ``values``: :math:`z_i = \Phi^{-1}((r_i - 1/2) / n)`.

    ``r_i`` is the rank of ``values[i]`` among the ``n`` values (ties share their mean
    rank). Fitting the GP to ``z`` instead of the values (the Gaussian-copula approach of
    Salinas, Shen & Perrone, ICML 2020) keeps a few very bad architectures, such as the
    near-chance cells of NAS-Bench tables, from flattening the differences among the good
    ones; the order of the values, hence the incumbent, is unchanged.

    Args:
        values: ``(n,)`` finite values.

    Returns:
        ``(n,)`` normal scores, increasing with ``values``.

    Example:
        >>> copula_warp(np.array([10.0, 90.0, 91.0, 91.5])).round(3).tolist()
        [-1.15, -0.319, 0.319, 1.15]
    """
    from scipy.stats import norm, rankdata

    ranks = rankdata(values)
    return norm.ppf((ranks - 0.5) / len(values))


class FitFailedWarning(BonasWarning):
    """Fitting the GP failed; the previous hyperparameters were kept."""


KernelFactory = Callable[[ArchitectureRegistry], Kernel]


def kernel_registry(kernel: Kernel) -> ArchitectureRegistry:
    """The one registry whose ids every architecture kernel inside ``kernel`` reads.

    Raises:
        BonasError: If ``kernel`` holds no :class:`~bonas.kernels.ArchitectureKernel`, or
            its architecture kernels read different registries.
    """
    registries = {
        id(module.registry): module.registry
        for module in kernel.modules()
        if isinstance(module, ArchitectureKernel)
    }
    if len(registries) != 1:
        raise BonasError(
            "a surrogate's kernel must hold architecture kernels over one "
            f"ArchitectureRegistry; {type(kernel).__name__} holds {len(registries)} registries"
        )
    return next(iter(registries.values()))


#: The kernels :func:`default_kernel_factory` knows by name (the CLI's names).
KERNELS = ("auto", "average", "otmann", "wl", "wl+ops", "edit")


def default_kernel_factory(space: Any, kernel: str = "auto") -> KernelFactory:
    """The kernel a space gets by default, or by name (``otmann``, ``wl``, ``wl+ops``,
    ``edit``).

    ``auto`` is what the space declares (:attr:`~bonas.spaces.base.SearchSpace.
    default_kernel`): OTMANN (NASBOT) on the free-form CNN/MLP spaces, the WL kernel
    (NAS-BOWL, Ru et al. 2021) on cell spaces, where it is cheap and PSD, and on a user
    table's free-form ``graph`` space, whose labels have no OTMANN costs. ``wl+ops``, on
    NAS-Bench-201 and other :class:`~bonas.spaces.CellSpace` cells, adds a
    :class:`~bonas.kernels.CellOpsKernel` over the edge ops to the WL kernel, each with
    its own output scale.
    """
    name = kernel
    if name == "auto":
        name = getattr(space, "default_kernel", "otmann")
    if name == "otmann":
        return lambda registry: OTMANNKernel(registry, distance=OTMANNDistance.for_space(space))
    if name == "wl":
        return lambda registry: ScaleKernel(WLKernel(registry, h=2))
    if name == "edit":
        return lambda registry: ScaleKernel(EditKernel(registry))
    if name == "wl+ops":
        cells = getattr(space, "base", space)  # a table's subset: the cells' own space
        return lambda registry: (
            ScaleKernel(WLKernel(registry, h=2)) + ScaleKernel(CellOpsKernel(registry, cells))
        )
    raise BonasError(
        f"unknown kernel {kernel!r}; use 'auto', 'otmann', 'wl', 'wl+ops', 'edit' or a factory"
    )


class Surrogate:
    """Fits and keeps the GP over observed architectures.

    Args:
        kernel: A kernel over architecture ids (its architecture kernels share one
            :class:`~bonas.kernels.ArchitectureRegistry`, which the surrogate adopts; one
            surrogate per kernel object), or a factory that builds it from the
            surrogate's registry (called once).
        refit_every: Refit hyperparameters after this many new observations; in between
            the model is rebuilt on the new data with the last hyperparameters.
        refit_growth: Also wait until the observations have grown by this fraction
            since the last fit: a refit needs ``max(refit_every, refit_growth * n_fit)``
            new ones, ``n_fit`` being the observations at the last fit, once ``n_fit`` is
            at least :data:`REFIT_GROWTH_FROM` (100). ``None`` (the
            default) is :data:`DEFAULT_REFIT_GROWTH` for kernels whose Gram matrices
            may need the PSD fix-up, whose fits pay an eigendecomposition at every
            optimiser step (OTMANN's), and 0 (``refit_every`` alone) for the others.
        warping: ``none``, or ``copula`` to fit the GP to :func:`copula_warp` of the
            values (their normal scores) instead of the values themselves.
        select_wl_depth_per_fit: For a :class:`WLKernel`, choose ``h`` by marginal
            likelihood at each fit (NAS-BOWL).
        noise: ``None`` fits the observation noise with the other hyperparameters; a
            number fixes its variance, in units of the standardised outcomes (at least
            ``1e-4``, botorch's floor), for objectives known to be (nearly) noise-free.
        multi_fidelity: Model ``(architecture, budget)`` pairs with an
            :class:`~bonas.kernels.ArchitectureBudgetKernel` around the factory's kernel:
            :meth:`fit` and :meth:`predict` then take budgets, and results at cheap budgets
            inform predictions at the full one. (The WL depth stays the factory's.)
        forget_unused: At each fit, forget the registry's architectures that were not
            used since the last fit (:meth:`~bonas.kernels.ArchitectureRegistry.
            forget_unused`) and prune the kernel's per-architecture data. ``False`` when
            another object that shares the registry does it (a
            :class:`~bonas.model_average.ModelAverage`).

    Example:
        >>> import numpy as np
        >>> from bonas.spaces import NB201Space
        >>> space = NB201Space()
        >>> archs = [space.sample(np.random.default_rng(i)) for i in range(8)]
        >>> surrogate = Surrogate(default_kernel_factory(space))
        >>> model = surrogate.fit(archs, [float(i) for i in range(8)])
        >>> surrogate.predict(archs[:2])[0].shape
        (2,)
    """

    def __init__(
        self,
        kernel: Kernel | KernelFactory,
        refit_every: int = 1,
        refit_growth: float | None = None,
        select_wl_depth_per_fit: bool = True,
        warping: str = "none",
        multi_fidelity: bool = False,
        noise: float | None = None,
        forget_unused: bool = True,
    ) -> None:
        if refit_every < 1:
            raise BonasError(f"refit_every must be at least 1, got {refit_every}")
        if warping not in WARPINGS:
            raise BonasError(f"unknown output warping {warping!r}; choose from {WARPINGS}")
        if noise is not None and not (math.isfinite(noise) and noise >= MIN_NOISE):
            raise BonasError(f"noise must be a finite variance >= {MIN_NOISE}, got {noise!r}")
        self.noise = noise
        self.warping = warping
        self.train_targets: np.ndarray | None = None
        self.multi_fidelity = multi_fidelity
        self.forget_unused = forget_unused
        if isinstance(kernel, Kernel):
            self.registry = kernel_registry(kernel)
            self.kernel = kernel
        elif callable(kernel):
            self.registry = ArchitectureRegistry()
            self.kernel = kernel(self.registry)
            if not isinstance(self.kernel, Kernel):
                raise BonasError(
                    f"the kernel factory returned a {type(self.kernel).__name__}, not a "
                    "gpytorch Kernel"
                )
        else:
            raise BonasError(
                f"kernel must be a gpytorch Kernel or a factory, got {type(kernel).__name__}"
            )
        self._screening_cache = find_screening_cache(self.kernel)
        if multi_fidelity:
            self.kernel = ArchitectureBudgetKernel(self.kernel)
        self.refit_every = refit_every
        if refit_growth is None:
            refit_growth = 0.0 if kernel_is_psd(self.kernel) else DEFAULT_REFIT_GROWTH
        if not (math.isfinite(refit_growth) and refit_growth >= 0):
            raise BonasError(f"refit_growth must be a finite fraction >= 0, got {refit_growth!r}")
        self.refit_growth = float(refit_growth)
        self.select_wl_depth_per_fit = select_wl_depth_per_fit
        self.model: SingleTaskGP | None = None
        self._hyperparameters: dict[str, torch.Tensor] | None = None
        self._observations_at_fit = 0
        self.fits = 0
        self.failed_fits = 0

    def ids(self, archs: Sequence[Architecture]) -> torch.Tensor:
        """``(n, 1)`` double tensor of the architectures' ids, registering new ones."""
        return torch.tensor(self.registry.add_all(archs), dtype=torch.double).unsqueeze(-1)

    def inputs(
        self, archs: Sequence[Architecture], budgets: Sequence[float] | float | None = None
    ) -> torch.Tensor:
        """The GP inputs: ``(n, 1)`` ids, or ``(n, 2)`` ids and log budgets when
        :attr:`multi_fidelity` (``budgets``: one per architecture, or one for all).

        Raises:
            BonasError: If a multi-fidelity surrogate gets no budgets, or one is not
                positive.
        """
        ids = self.ids(archs)
        if not self.multi_fidelity:
            return ids
        if budgets is None:
            raise BonasError("a multi-fidelity surrogate needs the budget of each input")
        column = np.broadcast_to(np.asarray(budgets, dtype=float), (len(archs),))
        if not (np.isfinite(column) & (column > 0)).all():
            raise BonasError(f"budgets must be positive and finite, got {sorted(set(column))}")
        logs = torch.tensor(np.log(column), dtype=torch.double).unsqueeze(-1)
        return torch.cat([ids, logs], dim=-1)

    def fit(
        self,
        archs: Sequence[Architecture],
        values: Sequence[float],
        budgets: Sequence[float] | None = None,
        keep_hyperparameters: bool = False,
    ) -> SingleTaskGP:
        """Build the model on these observations, refitting hyperparameters on schedule.

        Args:
            archs: Observed architectures (duplicates allowed).
            values: Their finite objective values (larger is better).
            budgets: Each observation's budget (multi-fidelity surrogates only).
            keep_hyperparameters: Keep the last fit's hyperparameters, leave the refit
                schedule as it was and forget no architecture (to condition the same
                model on part of the data within one iteration), unless there are no
                hyperparameters yet; by default they are refitted on the schedule of
                ``refit_every`` and ``refit_growth``.
        """
        y = np.asarray(values, dtype=float)
        if len(archs) != y.size or y.size == 0:
            raise BonasError(f"need one value per architecture, got {len(archs)} and {y.size}")
        if not np.isfinite(y).all():
            raise BonasError("the surrogate takes finite values only; failed trials stay out")
        if self.warping == "copula":
            y = copula_warp(y)
        self.train_targets = y
        train_x = self.inputs(archs, budgets)
        # a search scores a thousand candidates an iteration: those of earlier iterations
        # that were not scored again are forgotten (the observations were just looked up),
        # or they would grow its memory without bound. A fit that keeps the hyperparameters
        # re-conditions within the same iteration: sweeping again would forget what this
        # iteration has not scored yet
        if self.forget_unused and not keep_hyperparameters and self.registry.forget_unused():
            self.prune()
        train_y = torch.tensor(y, dtype=torch.double).unsqueeze(-1)
        needed = self.refit_every
        if self._observations_at_fit >= REFIT_GROWTH_FROM:
            needed = max(needed, self.refit_growth * self._observations_at_fit)
        refit = self._hyperparameters is None or (
            not keep_hyperparameters and len(archs) - self._observations_at_fit >= needed
        )
        wl = find_wl_kernel(self.kernel)
        if (
            refit
            and self.select_wl_depth_per_fit
            and isinstance(wl, WLKernel)
            and not self.multi_fidelity
        ):
            wl.h = select_wl_depth(list(archs), y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InputDataWarning)  # ids are not unit-cube inputs
            model = SingleTaskGP(
                train_x, train_y, covar_module=self.kernel, outcome_transform=Standardize(m=1)
            )
        model = model.double()
        if self._hyperparameters is not None:
            model.load_state_dict(self._hyperparameters, strict=False)
        if self.noise is not None:
            model.likelihood.noise = self.noise
            model.likelihood.noise_covar.raw_noise.requires_grad_(False)
        if refit:
            self._fit_hyperparameters(model)
            self._observations_at_fit = len(archs)
        model.eval()
        self.model = model
        return model

    def prune(self) -> None:
        """Drop what the kernel keeps per architecture for the ids its registry no
        longer holds (:meth:`~bonas.kernels.ArchitectureKernel.prune`)."""
        for module in self.kernel.modules():
            if isinstance(module, ArchitectureKernel):
                module.prune()

    def _fit_hyperparameters(self, model: SingleTaskGP) -> None:
        self.fits += 1
        before = {k: v.detach().clone() for k, v in model.state_dict().items() if _is_hyper(k)}
        mll = ExactMarginalLogLikelihood(model.likelihood, model)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizationWarning)
                warnings.simplefilter("ignore", InputDataWarning)
                fit_gpytorch_mll(mll)
            finite = all(torch.isfinite(p).all() for p in model.parameters())
            if not finite:
                raise BonasError("the fit ended in non-finite hyperparameters")
        except Exception as err:  # any failure of the optimiser keeps the search alive
            self.failed_fits += 1
            model.load_state_dict(before, strict=False)
            warnings.warn(
                f"GP fit failed ({type(err).__name__}: {err}); keeping the previous "
                "hyperparameters",
                FitFailedWarning,
                stacklevel=3,
            )
            return
        self._hyperparameters = {
            k: v.detach().clone() for k, v in model.state_dict().items() if _is_hyper(k)
        }

    def hyperparameters(self) -> dict[str, list[float]]:
        """The current hyperparameters as JSON-compatible lists (for a study's state)."""
        if self._hyperparameters is None:
            return {}
        return {k: v.reshape(-1).tolist() for k, v in self._hyperparameters.items()}

    def load_hyperparameters(self, state: dict[str, list[float]], observations: int) -> None:
        """Restore :meth:`hyperparameters` output (shapes come from the current model)."""
        if not state:
            return
        reference = {k: v for k, v in self._template_state().items() if _is_hyper(k)}
        missing = set(state) - set(reference)
        if missing:
            raise BonasError(f"unknown hyperparameters in the saved state: {sorted(missing)}")
        self._hyperparameters = {
            k: torch.tensor(v, dtype=reference[k].dtype).reshape(reference[k].shape)
            for k, v in state.items()
        }
        self._observations_at_fit = observations

    def _template_state(self) -> dict[str, torch.Tensor]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InputDataWarning)
            template = SingleTaskGP(
                torch.ones(2, 2 if self.multi_fidelity else 1, dtype=torch.double),
                torch.tensor([[0.0], [1.0]], dtype=torch.double),
                covar_module=self.kernel,
                outcome_transform=Standardize(m=1),
            )
        return template.state_dict()

    def predict(
        self, archs: Sequence[Architecture], budget: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of ``f`` at ``archs``, shape ``(n,)`` each
        (at ``budget``, for a multi-fidelity surrogate)."""
        if self.model is None:
            raise BonasError("fit the surrogate before predicting")
        x = self.inputs(archs, budget).unsqueeze(-2)  # (n, 1, d): n independent points
        with torch.no_grad():
            posterior = self.model.posterior(x)
        mean = posterior.mean.reshape(-1).numpy()
        std = posterior.variance.clamp_min(0.0).sqrt().reshape(-1).numpy()
        return mean, std

    # -- what a searcher needs beyond fit and predict -----------------------------------

    def leave_out_means(self, groups: Sequence[Sequence[int]]) -> np.ndarray:
        """:func:`~bonas.model_average.leave_out_means` of the fitted model.

        Raises:
            BonasError: If the surrogate was not fitted, or as that function does.
        """
        from bonas.model_average import leave_out_means  # it builds on this module

        if self.model is None:
            raise BonasError("fit the surrogate before asking for leave-out means")
        return leave_out_means(self.model, groups)

    def hallucinate(
        self, pending: Sequence[Architecture], budget: float | None = None
    ) -> SingleTaskGP:
        """The fitted model conditioned on ``pending`` at its own posterior mean (NASBOT).

        The mean is unchanged and the variance shrinks around the pending architectures,
        so the picks of a batch spread out.

        Args:
            pending: Architectures being evaluated (or already picked for a batch).
            budget: Their budget, for a multi-fidelity surrogate.

        Returns:
            The model itself when nothing is pending, else a conditioned copy.
        """
        if self.model is None:
            raise BonasError("fit the surrogate before hallucinating pending points")
        if not pending:
            return self.model
        x = self.inputs(pending, budget)
        with torch.no_grad():
            mean = self.model.posterior(x).mean
        return self.model.condition_on_observations(x, mean)

    @property
    def can_screen(self) -> bool:
        """Whether :meth:`screening` can stand cheap distance bounds in for exact
        distances: the kernel is over OTMANN distances, which have lower bounds."""
        return self._screening_cache is not None

    @contextlib.contextmanager
    def screening(self) -> Iterator[None]:
        """Within: covariances of pairs whose exact distances are not cached yet come
        from the distances' lower bounds (:meth:`~bonas.kernels.DistanceCache.screening`).

        Such approximate covariances may give slightly negative variances, which gpytorch
        clamps; its warning about that is silenced here.

        Raises:
            BonasError: If the kernel cannot screen (:attr:`can_screen`).
        """
        with self._bounded_cache().screening(), warnings.catch_warnings():
            warnings.simplefilter("ignore", NumericalWarning)
            yield

    def _bounded_cache(self) -> DistanceCache:
        """The distance cache whose bounds screening uses, or a BonasError."""
        if self._screening_cache is None:
            raise BonasError(f"the kernel {type(self.kernel).__name__} has no distance bounds")
        return self._screening_cache

    def fill_nearest(
        self, candidates: Sequence[Architecture], known: Sequence[Architecture], k: int
    ) -> None:
        """Compute and cache the exact distances of each candidate to its ``k`` nearest
        ``known`` architectures, nearness being the sum of the bounds' normalised (emd)
        distances; the other pairs keep their bounds under :meth:`screening`.

        Raises:
            BonasError: If the kernel cannot screen (:attr:`can_screen`).
        """
        cache = self._bounded_cache()
        with cache.screening():
            bounds = cache.matrix(candidates, known)
        nearness = bounds[..., 1::2].sum(axis=-1)
        nearest = np.argsort(nearness, axis=1, kind="stable")[:, :k]
        cache.fill_pairs(candidates, [[known[j] for j in row] for row in nearest.tolist()])

    # -- state -------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """What a restart needs (JSON-compatible): the hyperparameters, the observations
        at the last fit (the refit schedule's clock) and the WL depth, if any."""
        wl = find_wl_kernel(self.kernel)
        return {
            "hyperparameters": self.hyperparameters(),
            "observations_at_fit": self._observations_at_fit,
            "wl_depth": None if wl is None else wl.h,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output.

        Raises:
            BonasError: If ``state`` is malformed.
        """
        try:
            self.load_hyperparameters(state["hyperparameters"], int(state["observations_at_fit"]))
            depth = state.get("wl_depth")
            wl = find_wl_kernel(self.kernel)
            if depth is not None and wl is not None:
                wl.h = int(depth)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise BonasError(f"the surrogate state is malformed: {err!r}") from None


def find_screening_cache(kernel: Kernel) -> DistanceCache | None:
    """The distance cache of the OTMANN kernel inside a kernel, if its distance has
    lower bounds to screen with (see :meth:`DistanceCache.screening`)."""
    for module in kernel.modules():
        if isinstance(module, OTMANNKernel) and module.cache.can_screen:
            return module.cache
    return None


def find_wl_kernel(kernel: Kernel) -> WLKernel | None:
    """The WL kernel inside a kernel (itself, scaled, or a term of a sum), if any."""
    if isinstance(kernel, WLKernel):
        return kernel
    if isinstance(kernel, ScaleKernel):
        return find_wl_kernel(kernel.base_kernel)
    for part in getattr(kernel, "kernels", ()):
        found = find_wl_kernel(part)
        if found is not None:
            return found
    return None


def _is_hyper(name: str) -> bool:
    leaf = name.rsplit(".", 1)[-1]
    return leaf.startswith("raw_") and "_constraint" not in name

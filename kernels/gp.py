"""gpytorch kernels over architectures.

Inputs are architecture ids: a ``(..., n, 1)`` tensor whose entries are ids of an
:class:`~bonas.kernels.cache.ArchitectureRegistry` (stored as floats, as botorch models
expect). Each kernel looks the architectures up, gets their distances or features
(cached), and returns the ``(..., n1, n2)`` covariance; any leading batch shape of the
inputs is supported (botorch's fantasies and ``q``-batches), kernel batch shapes are not.

Every kernel declares whether it is guaranteed positive semi-definite (:attr:`is_psd`).
One that is not (OTMANN, general edit distances) checks each square Gram matrix it
produces and, if its smallest eigenvalue is below ``-psd_tolerance * max(1, largest)``,
projects it onto the PSD cone by clipping eigenvalues at zero (as NASBOT does) and
emits a :class:`~bonas.exceptions.NonPSDWarning`. Sums and products of kernels (gpytorch's
``+`` and ``*``) stay PSD because each part is.
"""

from __future__ import annotations

import math
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from gpytorch.constraints import GreaterThan, Interval
from gpytorch.kernels import AdditiveKernel, Kernel, ProductKernel, ScaleKernel
from gpytorch.priors import GammaPrior, LogNormalPrior, Prior

from bonas.architecture import Architecture
from bonas.exceptions import BonasError, NonPSDWarning
from bonas.kernels.cache import ArchitectureRegistry, DistanceCache
from bonas.kernels.otmann import OTMANNDistance

__all__ = [
    "ArchitectureBudgetKernel",
    "ArchitectureKernel",
    "EditKernel",
    "OTMANNKernel",
    "WLKernel",
    "kernel_is_psd",
    "project_psd",
]


def project_psd(gram: torch.Tensor, tolerance: float = 1e-8) -> tuple[torch.Tensor, bool]:
    """Project symmetric matrices onto the PSD cone if they are not PSD.

    ``K = V diag(max(lambda, 0)) V^T`` for ``K = V diag(lambda) V^T``, applied to each
    matrix of a ``(..., n, n)`` batch whose smallest eigenvalue is below
    ``-tolerance * max(1, largest eigenvalue)``.

    A Cholesky factorisation of ``K + tolerance * max(1, max_i K_ii) I`` settles most
    calls without the eigendecomposition, which costs about ten times more: the largest
    eigenvalue is at least the largest diagonal entry, so a matrix it succeeds on is not
    one this function projects.

    Returns:
        The (possibly projected) matrices and whether any was projected.
    """
    sym = 0.5 * (gram + gram.transpose(-1, -2))
    with torch.no_grad():
        diagonal = sym.diagonal(dim1=-2, dim2=-1)
        shift = tolerance * diagonal.max(dim=-1, keepdim=True).values.clamp_min(1.0)
        _, info = torch.linalg.cholesky_ex(sym + torch.diag_embed(shift.expand_as(diagonal)))
    if not bool(info.any()):
        return gram, False
    eigenvalues, eigenvectors = torch.linalg.eigh(sym)
    scale = eigenvalues[..., -1:].clamp_min(1.0)
    bad = (eigenvalues[..., :1] < -tolerance * scale).squeeze(-1)
    if not bool(bad.any()):
        return gram, False
    clipped = eigenvalues.clamp_min(0.0)
    projected = (eigenvectors * clipped.unsqueeze(-2)) @ eigenvectors.transpose(-1, -2)
    return torch.where(bad[..., None, None], projected, gram), True


def kernel_is_psd(kernel: Kernel) -> bool:
    """Whether a kernel (possibly a sum, product or scaling of kernels) is guaranteed PSD
    before any fix-up; gpytorch's own kernels are."""
    if isinstance(kernel, ArchitectureKernel):
        return kernel.is_psd
    if isinstance(kernel, AdditiveKernel | ProductKernel):
        return all(kernel_is_psd(k) for k in kernel.kernels)
    if isinstance(kernel, ScaleKernel):
        return kernel_is_psd(kernel.base_kernel)
    if isinstance(kernel, ArchitectureBudgetKernel):  # the budget parts are Matérn
        return kernel_is_psd(kernel.architecture_kernel)
    return True


class _RecentBlocks:
    """The last few distance blocks a kernel read from its cache, by their ids.

    Fitting hyperparameters evaluates the Gram matrix of the same training ids at every
    optimiser step, and the distances do not depend on the hyperparameters, so each
    block is gathered from the cache once. A block whose ids extend a kept block's (the
    training ids after one more observation) is gathered only where it is new. Blocks
    read while screening hold bounds, not distances: they are kept apart, and never
    extended. Shared by deep copies (botorch copies models to condition them), like the
    cache and the registry themselves.

    Args:
        cache: Where the distances come from.
        registry: Maps the ids to architectures.
        size: Blocks kept of each kind (exact, screened).
    """

    def __init__(self, cache: DistanceCache, registry: ArchitectureRegistry, size: int = 3) -> None:
        self.cache = cache
        self.registry = registry
        self.size = size
        self._exact: OrderedDict[tuple[tuple[int, ...], tuple[int, ...]], np.ndarray] = (
            OrderedDict()
        )
        self._screened: OrderedDict[tuple[tuple[int, ...], tuple[int, ...]], np.ndarray] = (
            OrderedDict()
        )

    def __deepcopy__(self, memo: dict) -> _RecentBlocks:
        return self

    def get(self, ids1: Sequence[int], ids2: Sequence[int]) -> np.ndarray:
        """The cached distances of ``(ids1, ids2)``, ``(len(ids1), len(ids2), D)``; do not
        modify them."""
        screening = self.cache.is_screening
        blocks = self._screened if screening else self._exact
        key = (tuple(ids1), tuple(ids2))
        block = blocks.get(key)
        if block is None:
            block = self._gather(*key) if not screening else None
            if block is None:
                block = self.cache.matrix(self.registry.get(ids1), self.registry.get(ids2))
            blocks[key] = block
            if len(blocks) > self.size:
                blocks.popitem(last=False)
        else:
            blocks.move_to_end(key)
        return block

    def _gather(self, ids1: tuple[int, ...], ids2: tuple[int, ...]) -> np.ndarray | None:
        """The block of ``(ids1, ids2)`` from a kept exact block of leading ids, reading
        only the new rows and columns from the cache; None if no kept block leads it, or
        if the cache is nearly full (a full read refreshes the kept pairs, which the
        cache's least-recently-read eviction would otherwise drop first)."""
        if self.cache.nearly_full:
            return None
        for (old1, old2), old in reversed(self._exact.items()):
            n1, n2 = len(old1), len(old2)
            if not (n1 and n2 and ids1[:n1] == old1 and ids2[:n2] == old2):
                continue
            if n1 == len(ids1) and n2 == len(ids2):
                return old
            archs1, archs2 = self.registry.get(ids1), self.registry.get(ids2)
            block = np.empty((len(ids1), len(ids2), old.shape[-1]))
            block[:n1, :n2] = old
            if n2 < len(ids2):
                block[:n1, n2:] = self.cache.matrix(archs1[:n1], archs2[n2:])
            if n1 < len(ids1):
                block[n1:] = self.cache.matrix(archs1[n1:], archs2)
            return block
        return None


class ArchitectureKernel(Kernel):
    """Base class of kernels whose inputs are architecture ids.

    Subclasses implement :meth:`gram` on unique ids and set :attr:`is_psd`.

    Args:
        registry: Maps the ids in the inputs to architectures.
        psd_tolerance: Relative eigenvalue tolerance of the PSD check.
    """

    is_psd: bool = True

    def __init__(
        self, registry: ArchitectureRegistry, psd_tolerance: float = 1e-8, **kwargs: Any
    ) -> None:
        if kwargs.get("batch_shape"):
            raise BonasError("architecture kernels do not support a kernel batch_shape")
        super().__init__(**kwargs)
        self.registry = registry
        self.psd_tolerance = psd_tolerance

    def gram(self, ids1: Sequence[int], ids2: Sequence[int], like: torch.Tensor) -> torch.Tensor:
        """The ``(len(ids1), len(ids2))`` covariance of unique ids, dtype/device of ``like``."""
        raise NotImplementedError

    def prune(self) -> None:
        """Drop what is kept per id for the ids the registry no longer holds
        (:meth:`~bonas.kernels.ArchitectureRegistry.forget_unused`)."""

    def _register_lengthscale(self, name: str, size: int, prior: Prior, initial: float) -> None:
        """A lengthscale parameter ``name`` of ``size`` entries: ``raw_<name>`` constrained
        to at least 1e-4, with ``prior`` on the constrained value, set to ``initial``."""
        self.register_parameter(f"raw_{name}", torch.nn.Parameter(torch.zeros(size)))
        self.register_constraint(f"raw_{name}", GreaterThan(1e-4))
        self.register_prior(
            f"{name}_prior",
            prior,
            lambda m: getattr(m, name),
            lambda m, v: m._set_lengthscale(v),
        )
        self._lengthscale_name = name
        self._set_lengthscale(initial)

    def _set_lengthscale(self, value: torch.Tensor | float) -> None:
        """Set the lengthscale registered by :meth:`_register_lengthscale`."""
        raw_name = f"raw_{self._lengthscale_name}"
        raw = getattr(self, raw_name)
        value = torch.as_tensor(value, dtype=raw.dtype, device=raw.device).expand_as(raw)
        constraint = getattr(self, f"{raw_name}_constraint")
        self.initialize(**{raw_name: constraint.inverse_transform(value)})

    def self_covariance(self, like: torch.Tensor) -> torch.Tensor | None:
        """``k(a, a)`` if it is the same for every architecture (a scalar), else None."""
        return None

    def psd_guaranteed_for(self, archs: Sequence[Architecture]) -> bool:
        """Whether the Gram matrix of these architectures is PSD without a fix-up."""
        return self.is_psd

    def _pair_values(
        self, first: torch.Tensor, second: torch.Tensor, like: torch.Tensor
    ) -> torch.Tensor:
        """``k(first[i], second[i])`` for 1-d id tensors, computing each distinct pair once."""
        pairs, inverse = torch.unique(
            torch.stack([first, second], dim=-1), dim=0, return_inverse=True
        )
        same = pairs[:, 0] == pairs[:, 1]
        constant = self.self_covariance(like)
        todo = ~same if constant is not None else torch.ones_like(same)
        parts = [] if constant is None else [(same, constant.expand(int(same.sum())))]
        for a in torch.unique(pairs[todo, 0]).tolist():
            mask = todo & (pairs[:, 0] == a)
            parts.append((mask, self.gram([a], pairs[mask, 1].tolist(), like=like)[0]))
        # assemble without in-place writes, so gradients reach the hyperparameters
        index = torch.cat([torch.nonzero(mask).reshape(-1) for mask, _ in parts])
        values = torch.cat([v.reshape(-1) for _, v in parts])
        return values[torch.argsort(index)][inverse]

    @staticmethod
    def _ids(x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != 1:
            raise BonasError(
                f"architecture kernels take ids of shape (..., n, 1), got {tuple(x.shape)}"
            )
        ids = x[..., 0].round()
        if not torch.equal(ids, x[..., 0]) or bool((ids < 0).any()):
            raise BonasError("architecture ids must be non-negative integers")
        return ids.long()

    def forward(
        self,
        x1: torch.Tensor,
        x2: torch.Tensor,
        diag: bool = False,
        last_dim_is_batch: bool = False,
        **params: Any,
    ) -> torch.Tensor:
        if last_dim_is_batch:
            raise BonasError("architecture kernels have no feature dimension to batch over")
        ids1, ids2 = self._ids(x1), self._ids(x2)
        if diag:
            first, second = torch.broadcast_tensors(ids1, ids2)
            return self._pair_values(first.reshape(-1), second.reshape(-1), x1).view(first.shape)
        unique1, inverse1 = torch.unique(ids1, return_inverse=True)
        unique2, inverse2 = torch.unique(ids2, return_inverse=True)
        rows, cols = torch.broadcast_tensors(ids1.unsqueeze(-1), ids2.unsqueeze(-2))
        if 2 * rows.numel() >= unique1.numel() * unique2.numel():
            gram = self.gram(unique1.tolist(), unique2.tolist(), like=x1)
            covar = gram[inverse1.unsqueeze(-1), inverse2.unsqueeze(-2)]
        else:
            # few of the unique pairs are needed (botorch's q-batches of single
            # candidates): compute only those
            covar = self._pair_values(rows.reshape(-1), cols.reshape(-1), x1).view(rows.shape)
        if (
            ids1.shape == ids2.shape
            and torch.equal(ids1, ids2)
            and not self.psd_guaranteed_for(self.registry.get(unique1.tolist()))
        ):
            covar, projected = project_psd(covar, self.psd_tolerance)
            if projected:
                warnings.warn(
                    f"{type(self).__name__}: the Gram matrix of {ids1.shape[-1]} architectures "
                    "was not PSD; negative eigenvalues were clipped to zero",
                    NonPSDWarning,
                    stacklevel=2,
                )
        return covar


class OTMANNKernel(ArchitectureKernel):
    r"""NASBOT's ``lpemd_sum`` kernel over OTMANN distances (Kandasamy et al. 2018).

    .. math::
        k(a, b) = \alpha_1 \exp\Big(-\sum_k \beta^{lp}_k d^{lp}_k(a, b)\Big)
                + \alpha_2 \exp\Big(-\sum_k \beta^{emd}_k d^{emd}_k(a, b)^2\Big)

    with ``k`` over the coefficient pairs (4 by default). Not guaranteed PSD: Gram
    matrices are projected when needed (see the module docstring).

    Args:
        registry: Id -> architecture map.
        cache: Distance cache; by default one over :class:`OTMANNDistance` (``distance``).
        distance: The OTMANN distance when no cache is given.
        beta_lp_bounds: Bounds of the lp betas (NASBOT: 1e-9 to 1e-3).
        beta_emd_bounds: Bounds of the emd betas (NASBOT: 0.1 to 100).
        alpha_prior, beta_lp_prior, beta_emd_prior: Priors (defaults: Gamma(2, 4) on the
            alphas, log-normal around the geometric middle of each beta range).

    Example:
        >>> import torch
        >>> from bonas.spaces import blocked_cnn, vgg_net
        >>> registry = ArchitectureRegistry()
        >>> ids = registry.add_all([blocked_cnn(3, 2, 1), vgg_net(1), vgg_net(2)])
        >>> kernel = OTMANNKernel(registry)
        >>> kernel(torch.tensor(ids, dtype=torch.double)[:, None]).to_dense().shape
        torch.Size([3, 3])
    """

    is_psd = False

    def __init__(
        self,
        registry: ArchitectureRegistry,
        cache: DistanceCache | None = None,
        distance: OTMANNDistance | None = None,
        beta_lp_bounds: tuple[float, float] = (1e-9, 1e-3),
        beta_emd_bounds: tuple[float, float] = (1e-1, 1e2),
        alpha_prior: Prior | None = None,
        beta_lp_prior: Prior | None = None,
        beta_emd_prior: Prior | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(registry, **kwargs)
        self.cache = cache if cache is not None else DistanceCache(distance or OTMANNDistance())
        self._recent = _RecentBlocks(self.cache, registry)
        num_distances = self.cache.distance.num_distances
        if num_distances % 2:
            raise BonasError(f"OTMANNKernel needs lp/emd pairs, got {num_distances} distances")
        pairs = num_distances // 2
        self.register_parameter("raw_alpha", torch.nn.Parameter(torch.zeros(2)))
        self.register_parameter("raw_beta_lp", torch.nn.Parameter(torch.zeros(pairs)))
        self.register_parameter("raw_beta_emd", torch.nn.Parameter(torch.zeros(pairs)))
        self.register_constraint("raw_alpha", GreaterThan(1e-6))
        self.register_constraint("raw_beta_lp", Interval(*beta_lp_bounds))
        self.register_constraint("raw_beta_emd", Interval(*beta_emd_bounds))
        self.register_prior(
            "alpha_prior",
            alpha_prior or GammaPrior(2.0, 4.0),
            lambda m: m.alpha,
            lambda m, v: m._set("alpha", v),
        )
        for name, bounds, prior in (
            ("beta_lp", beta_lp_bounds, beta_lp_prior),
            ("beta_emd", beta_emd_bounds, beta_emd_prior),
        ):
            low, high = math.log(bounds[0]), math.log(bounds[1])
            default = LogNormalPrior((low + high) / 2, (high - low) / 4)
            self.register_prior(
                f"{name}_prior",
                prior or default,
                lambda m, n=name: getattr(m, n),
                lambda m, v, n=name: m._set(n, v),
            )
        # start where NASBOT's search starts: the middle of each (log) range
        self._set("alpha", torch.full((2,), 0.5))
        self._set("beta_lp", torch.full((pairs,), math.sqrt(beta_lp_bounds[0] * beta_lp_bounds[1])))
        self._set(
            "beta_emd", torch.full((pairs,), math.sqrt(beta_emd_bounds[0] * beta_emd_bounds[1]))
        )

    def _set(self, name: str, value: torch.Tensor | float) -> None:
        raw = getattr(self, f"raw_{name}")
        value = torch.as_tensor(value, dtype=raw.dtype, device=raw.device).expand_as(raw)
        constraint = getattr(self, f"raw_{name}_constraint")
        self.initialize(**{f"raw_{name}": constraint.inverse_transform(value)})

    @property
    def alpha(self) -> torch.Tensor:
        """``(2,)``: the weights of the lp and emd terms."""
        return self.raw_alpha_constraint.transform(self.raw_alpha)

    @property
    def beta_lp(self) -> torch.Tensor:
        """``(P,)``: the inverse scales of the lp distances."""
        return self.raw_beta_lp_constraint.transform(self.raw_beta_lp)

    @property
    def beta_emd(self) -> torch.Tensor:
        """``(P,)``: the inverse scales of the squared emd distances."""
        return self.raw_beta_emd_constraint.transform(self.raw_beta_emd)

    def self_covariance(self, like: torch.Tensor) -> torch.Tensor:
        return self.alpha.to(like).sum()  # d(a, a) = 0

    def distances(self, ids1: Sequence[int], ids2: Sequence[int]) -> np.ndarray:
        """Cached OTMANN distances, ``(len(ids1), len(ids2), D)``; do not modify them."""
        return self._recent.get(ids1, ids2)

    def gram(self, ids1: Sequence[int], ids2: Sequence[int], like: torch.Tensor) -> torch.Tensor:
        d = torch.as_tensor(self.distances(ids1, ids2), dtype=like.dtype, device=like.device)
        lp, emd = d[..., 0::2], d[..., 1::2]
        alpha = self.alpha.to(like)
        return alpha[0] * torch.exp(-(lp * self.beta_lp.to(like)).sum(-1)) + alpha[1] * torch.exp(
            -(emd.square() * self.beta_emd.to(like)).sum(-1)
        )


class _OneDistance:
    """Adapts a ``(m, n)`` pairwise distance to the cache's ``(m, n, 1)`` protocol."""

    num_distances = 1

    def __init__(self, distance: Any) -> None:
        self.inner = distance

    def pairwise(
        self, archs_a: Sequence[Architecture], archs_b: Sequence[Architecture] | None = None
    ) -> np.ndarray:
        return np.asarray(self.inner.pairwise(archs_a, archs_b), dtype=float)[..., None]


class EditKernel(ArchitectureKernel):
    r"""An exponential kernel of an edit distance: :math:`k(a, b) = \exp(-d(a, b) / \ell)`.

    On NAS-Bench-201 cells ``d`` is the Hamming distance of the six edge ops, and the
    kernel is a product of per-edge kernels, hence PSD; on other spaces it is not
    guaranteed PSD and Gram matrices are projected when needed.

    Args:
        registry: Id -> architecture map.
        distance: An object with ``pairwise(a, b) -> (m, n)``, by default
            :class:`~bonas.kernels.edit.EditDistance`.
        lengthscale_prior: Prior of :math:`\ell` (default Gamma(3, 1)).
    """

    is_psd = False
    _hamming_vocabularies = frozenset({"nb201"})

    def __init__(
        self,
        registry: ArchitectureRegistry,
        distance: Any | None = None,
        lengthscale_prior: Prior | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(registry, **kwargs)
        if distance is None:
            from bonas.kernels.edit import EditDistance

            distance = EditDistance()
        self.cache = DistanceCache(_OneDistance(distance))
        self._recent = _RecentBlocks(self.cache, registry)
        self._register_lengthscale(
            "edit_lengthscale", 1, lengthscale_prior or GammaPrior(3.0, 1.0), 2.0
        )

    @property
    def edit_lengthscale(self) -> torch.Tensor:
        return self.raw_edit_lengthscale_constraint.transform(self.raw_edit_lengthscale)

    def psd_guaranteed_for(self, archs: Sequence[Architecture]) -> bool:
        return all(a.vocabulary.name in self._hamming_vocabularies for a in archs)

    def self_covariance(self, like: torch.Tensor) -> torch.Tensor:
        return torch.ones((), dtype=like.dtype, device=like.device)  # d(a, a) = 0

    def gram(self, ids1: Sequence[int], ids2: Sequence[int], like: torch.Tensor) -> torch.Tensor:
        d = self._recent.get(ids1, ids2)[..., 0]
        d = torch.as_tensor(d, dtype=like.dtype, device=like.device)
        return torch.exp(-d / self.edit_lengthscale.to(like))


class WLKernel(ArchitectureKernel):
    r"""The Weisfeiler-Lehman subtree kernel of NAS-BOWL (Ru et al., ICLR 2021).

    .. math::
        k(a, b) = \frac{\langle \phi_h(a), \phi_h(b) \rangle}{\|\phi_h(a)\| \|\phi_h(b)\|}

    with :math:`\phi_h` the counts of WL subtree labels up to depth ``h``; PSD as an
    inner product. Wrap it in a ``ScaleKernel`` for an output scale; set ``h`` per fit
    with :func:`~bonas.kernels.wl.select_wl_depth`.

    Args:
        registry: Id -> architecture map.
        h: WL depth.
    """

    is_psd = True

    def __init__(self, registry: ArchitectureRegistry, h: int = 2, **kwargs: Any) -> None:
        super().__init__(registry, **kwargs)
        if h < 0:
            raise BonasError(f"the WL depth h must be >= 0, got {h}")
        self.h = h
        self._features: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._index: dict[str, int] = {}  # WL feature -> column, shared by all depths

    def self_covariance(self, like: torch.Tensor) -> torch.Tensor:
        return torch.ones((), dtype=like.dtype, device=like.device)  # cosine-normalised

    def prune(self) -> None:
        held = self.registry.holds
        self._features = {key: f for key, f in self._features.items() if held(key[0])}

    def _feature(self, arch_id: int) -> tuple[np.ndarray, np.ndarray]:
        """The architecture's normalised WL feature vector, as sparse (indices, values)."""
        key = (arch_id, self.h)
        if key not in self._features:
            from bonas.kernels.wl import WLFeaturizer

            counts = WLFeaturizer(self.h).features(self.registry[arch_id])
            index = np.array(
                [self._index.setdefault(k, len(self._index)) for k in counts], dtype=np.int64
            )
            values = np.array(list(counts.values()), dtype=float)
            self._features[key] = (index, values / (np.linalg.norm(values) or 1.0))
        return self._features[key]

    def _matrix(self, ids: Sequence[int]) -> sp.csr_matrix:
        rows = [self._feature(i) for i in ids]
        indptr = np.concatenate([[0], np.cumsum([len(r[0]) for r in rows])])
        return sp.csr_matrix(
            (np.concatenate([r[1] for r in rows]), np.concatenate([r[0] for r in rows]), indptr),
            shape=(len(rows), len(self._index)),
        )

    def gram(self, ids1: Sequence[int], ids2: Sequence[int], like: torch.Tensor) -> torch.Tensor:
        a, b = self._matrix(ids1), self._matrix(ids2)
        b.resize(b.shape[0], len(self._index))
        a.resize(a.shape[0], len(self._index))
        return torch.as_tensor((a @ b.T).toarray(), dtype=like.dtype, device=like.device)


class ArchitectureBudgetKernel(Kernel):
    r"""A kernel over ``(architecture id, log budget)`` inputs, for multi-fidelity GPs.

    .. math::

        k\big((a, s), (a', s')\big) = k_A(a, a')\, k_S(s, s') + c\, k_T(s, s')

    ``k_A`` is any architecture kernel (usually scaled), ``k_S`` and ``k_T`` are Matérn-5/2
    kernels of ``s = log(budget)``, and ``c`` an output scale. The product lets results at
    cheap budgets inform predictions at the full budget as far as the learnt budget
    lengthscale allows (the product kernel of FABOLAS, Klein et al. 2017); the additive
    term models the trend that every architecture improves with more training.

    Reference:
        Klein, Falkner, Bartels, Hennig, Hutter. "Fast Bayesian Optimization of Machine
        Learning Hyperparameters on Large Datasets." AISTATS 2017.

    Args:
        architecture_kernel: ``k_A``, over ids of shape ``(..., n, 1)``.

    Inputs are ``(..., n, 2)``: column 0 the architecture id, column 1 ``log(budget)``.

    Example:
        >>> from gpytorch.kernels import ScaleKernel
        >>> registry = ArchitectureRegistry()
        >>> kernel = ArchitectureBudgetKernel(ScaleKernel(WLKernel(registry)))
        >>> kernel.budget_kernel.lengthscale.shape
        torch.Size([1, 1])
    """

    def __init__(self, architecture_kernel: Kernel) -> None:
        super().__init__()
        from gpytorch.kernels import MaternKernel

        self.architecture_kernel = architecture_kernel
        self.budget_kernel = MaternKernel(nu=2.5)
        self.trend_kernel = ScaleKernel(MaternKernel(nu=2.5))

    def forward(
        self, x1: torch.Tensor, x2: torch.Tensor, diag: bool = False, **params: Any
    ) -> torch.Tensor:
        if x1.shape[-1] != 2 or x2.shape[-1] != 2:
            raise BonasError(
                "a multi-fidelity kernel takes (id, log budget) inputs of shape (..., n, 2), "
                f"got {tuple(x1.shape)} and {tuple(x2.shape)}"
            )
        a1, s1, a2, s2 = x1[..., :1], x1[..., 1:], x2[..., :1], x2[..., 1:]
        arch = self.architecture_kernel.forward(a1, a2, diag=diag)
        if diag:
            budget = self.budget_kernel.forward(s1, s2, diag=True)
            trend = self.trend_kernel.forward(s1, s2, diag=True)
            return _dense(arch) * _dense(budget) + _dense(trend)
        # a search has a few distinct budgets: both budget kernels are computed on those
        # and gathered, not on every pair of inputs
        levels1, where1 = torch.unique(s1, return_inverse=True)
        levels2, where2 = torch.unique(s2, return_inverse=True)
        levels1, levels2 = levels1.unsqueeze(-1), levels2.unsqueeze(-1)
        rows, cols = where1[..., 0].unsqueeze(-1), where2[..., 0].unsqueeze(-2)
        budget = _dense(self.budget_kernel.forward(levels1, levels2))[rows, cols]
        trend = _dense(self.trend_kernel.forward(levels1, levels2))[rows, cols]
        return _dense(arch) * budget + trend


def _dense(value: Any) -> torch.Tensor:
    return value.to_dense() if hasattr(value, "to_dense") else value

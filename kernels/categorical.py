"""A categorical kernel over a space's fixed-length encoding (cell edge ops, NB101's
adjacency bits and ops, ...), with one lengthscale per variable."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from gpytorch.priors import GammaPrior, Prior

from bonas.exceptions import BonasError
from bonas.kernels.cache import ArchitectureRegistry
from bonas.kernels.gp import ArchitectureKernel

__all__ = ["CategoricalKernel", "CellOpsKernel"]


class _Codes:
    """Each architecture's encoding (:meth:`~bonas.spaces.base.SearchSpace.encode`),
    computed once; shared by deep copies (the space it reads is not the model's to
    copy)."""

    def __init__(self, space: Any) -> None:
        self.space = space
        self._codes: dict[int, np.ndarray] = {}

    def __deepcopy__(self, memo: dict) -> _Codes:
        return self

    def prune(self, registry: ArchitectureRegistry) -> None:
        """Drop the codes of ids ``registry`` no longer holds."""
        self._codes = {i: code for i, code in self._codes.items() if registry.holds(i)}

    def of(self, registry: ArchitectureRegistry, ids: Sequence[int]) -> np.ndarray:
        """``(len(ids), V)`` choice indices of the architectures with these ids."""
        for arch_id in ids:
            if arch_id not in self._codes:
                self._codes[arch_id] = np.asarray(self.space.encode(registry[arch_id]))
        return np.stack([self._codes[i] for i in ids])


class CategoricalKernel(ArchitectureKernel):
    r"""A categorical kernel over a space's encoding, with ARD lengthscales.

    .. math::
        k(a, b) = \exp\Big(-\sum_v \frac{[c_v(a) \neq c_v(b)]}{\ell_v}\Big)

    where :math:`c_v(a)` is ``a``'s choice for variable ``v`` of the space's
    :meth:`~bonas.spaces.base.SearchSpace.categories` (edge ops of a cell, NB101's
    adjacency bits and node ops, ...), with one lengthscale per variable (ARD), as
    botorch's ``CategoricalKernel`` (which averages over the variables instead of
    summing), i.e. what a GP on a one-hot encoding with an exponential kernel models.
    PSD: a product over variables of the kernels ``(1 - c_v) I + c_v 1 1^T`` with
    ``c_v = exp(-1 / l_v)`` in ``(0, 1)``.

    Args:
        registry: Id -> architecture map.
        space: A space with a categorical encoding (``categories`` and ``encode``).
        lengthscale_prior: Prior of every :math:`\ell_v` (default Gamma(3, 2)).

    Raises:
        BonasError: If the space has no categorical encoding.

    Example:
        >>> import torch
        >>> from bonas.spaces import NB101Space
        >>> space, registry = NB101Space(), ArchitectureRegistry()
        >>> ids = registry.add_all([space.sample(i) for i in range(3)])
        >>> kernel = CategoricalKernel(registry, space)
        >>> kernel(torch.tensor(ids, dtype=torch.double)[:, None]).to_dense().shape
        torch.Size([3, 3])
    """

    is_psd = True
    _lengthscale_parameter = "category_lengthscale"

    def __init__(
        self,
        registry: ArchitectureRegistry,
        space: Any,
        lengthscale_prior: Prior | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(registry, **kwargs)
        variables = space.categories()  # a BonasError for spaces without an encoding
        if not variables:
            raise BonasError(f"{type(space).__name__} has an empty categorical encoding")
        self._codes = _Codes(space)
        sizes = [len(choices) for _, choices in variables]
        # one-hot column j belongs to variable _column_variable[j]; a code c of variable v
        # is column _offsets[v] + c
        self._offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self._column_variable = torch.repeat_interleave(
            torch.arange(len(sizes)), torch.tensor(sizes)
        )
        self._register_lengthscale(
            self._lengthscale_parameter,
            len(variables),
            lengthscale_prior or GammaPrior(3.0, 2.0),
            1.5,
        )

    @property
    def lengthscale_per_variable(self) -> torch.Tensor:
        """``(V,)``: one lengthscale per variable of the encoding."""
        raw = f"raw_{self._lengthscale_parameter}"
        return getattr(self, f"{raw}_constraint").transform(getattr(self, raw))

    @property
    def category_lengthscale(self) -> torch.Tensor:
        """The lengthscales by their parameter's name (what the prior reads)."""
        return self.lengthscale_per_variable

    def self_covariance(self, like: torch.Tensor) -> torch.Tensor:
        return torch.ones((), dtype=like.dtype, device=like.device)

    def prune(self) -> None:
        self._codes.prune(self.registry)

    def _one_hot(self, ids: Sequence[int], like: torch.Tensor) -> torch.Tensor:
        """``(len(ids), C)``: the encodings one-hot, ``C`` the choices of all variables."""
        columns = self._codes.of(self.registry, ids) + self._offsets
        rows = np.zeros((len(ids), len(self._column_variable)))
        np.put_along_axis(rows, columns, 1.0, axis=1)
        return torch.as_tensor(rows, dtype=like.dtype, device=like.device)

    def gram(self, ids1: Sequence[int], ids2: Sequence[int], like: torch.Tensor) -> torch.Tensor:
        # a one-hot row has a single 1 per variable, so sum_c a_c (1 - b_c) w_c over the
        # columns of variable v is [a_v != b_v] w_v: the exponent is one matrix product,
        # with no (n, m, V) tensor of mismatches, and exactly 0 for equal encodings
        weights = (1.0 / self.lengthscale_per_variable.to(like))[self._column_variable]
        a, b = self._one_hot(ids1, like), self._one_hot(ids2, like)
        return torch.exp(-((a * weights) @ (1.0 - b).T))


class CellOpsKernel(CategoricalKernel):
    """:class:`CategoricalKernel` over a cell's edge ops, by the name (and parameter name,
    ``raw_ops_lengthscale``) that studies with the ``wl+ops`` kernel stored.

    Args:
        registry: Id -> architecture map.
        space: A :class:`~bonas.spaces.CellSpace`.
        lengthscale_prior: Prior of every edge's lengthscale (default Gamma(3, 2)).
    """

    _lengthscale_parameter = "ops_lengthscale"

    def __init__(
        self,
        registry: ArchitectureRegistry,
        space: Any,
        lengthscale_prior: Prior | None = None,
        **kwargs: Any,
    ) -> None:
        if not hasattr(space, "to_ops") or not hasattr(space, "edges"):
            raise BonasError(
                "CellOpsKernel needs a cell space with to_ops and edges, got "
                f"{type(space).__name__}"
            )
        super().__init__(registry, space, lengthscale_prior, **kwargs)

    @property
    def ops_lengthscale(self) -> torch.Tensor:
        """``(E,)``: one lengthscale per edge."""
        return self.lengthscale_per_variable

"""A search space restricted to a finite set of architectures, e.g. the rows of a table.

Replays on a benchmark table may only propose what the table can answer. NAS-Bench-101's
public table, for instance, holds 10,266 of the space's 423,624 cells with their specs.
:class:`SubsetSpace` wraps the full space: it samples uniformly from the members; a
mutant is a uniformly drawn member one mutation away from the parent or, where there is
none, two mutations away, or else the end of the shortest random walk of the full
space's mutations that ends on a member. Where the full space lists no neighbourhoods
(free-form graphs), the ``nearest`` members by Weisfeiler-Lehman features (NAS-BOWL's
``phi_2`` counts, Euclidean distance) are its neighbours and mutants.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from bonas.architecture import Architecture
from bonas.exceptions import BonasError, InvalidArchitectureError, InvalidSpaceError
from bonas.spaces.base import SearchSpace

__all__ = ["SubsetSpace"]


class SubsetSpace(SearchSpace):
    """The members of ``architectures``, with ``base``'s constraints and operators.

    Args:
        base: The full space; every member must belong to it.
        architectures: The members (duplicates are merged, the first order is kept).
        label: A name for the subset in :meth:`config`, e.g. the table's name.

    Raises:
        InvalidSpaceError: If there are no members, or one is not in ``base``.

    Example:
        >>> from bonas.spaces import NB201Space
        >>> base = NB201Space()
        >>> stem = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|none~1|"
        >>> members = [base.from_string(stem + last) for last in ("none~2|", "skip_connect~2|")]
        >>> space = SubsetSpace(base, members, label="two")
        >>> space.size, space.mutate(members[0], 0) == members[1]
        (2, True)
    """

    vocabulary = None  # type: ignore[assignment]  # set per instance from ``base``
    #: Where no member is within two mutations: the longest walk of full-space mutations
    #: tried, and how many walks of each length.
    max_steps: int = 5
    walks_per_length: int = 30
    #: Each proposal already searches hard for a member: few redraws before giving up.
    max_tries: int = 3
    #: Architectures whose nearest members are remembered.
    cache_size: int = 50_000
    #: Where the full space lists no neighbourhoods: how many members nearest by WL
    #: features count as neighbours.
    nearest: int = 10

    def __init__(
        self, base: SearchSpace, architectures: Iterable[Architecture], label: str = "subset"
    ) -> None:
        members = list(dict.fromkeys(architectures))
        if not members:
            raise InvalidSpaceError(f"SubsetSpace {label!r} needs at least one architecture")
        for index, arch in enumerate(members):
            if not base.contains(arch):
                raise InvalidSpaceError(
                    f"architecture {index} of subset {label!r} is not in {base!r}"
                )
        self.base = base
        self.label = label
        self.name = base.name  # type: ignore[misc]  # the family's name and kernel
        self.default_kernel = base.default_kernel  # type: ignore[misc]
        self.vocabulary = base.vocabulary  # type: ignore[misc]
        self.members = tuple(members)
        self._member_set = frozenset(members)
        self._nearby_cache: dict[Architecture, list[Architecture] | None] = {}
        self._wl_index: tuple[Any, Any, dict[str, int]] | None = None

    def config(self) -> dict[str, Any]:
        return {"base": self.base.config(), "subset": self.label, "size": len(self.members)}

    def categories(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """The base space's encoding."""
        return self.base.categories()

    def encode(self, arch: Architecture) -> tuple[int, ...]:
        return self.base.encode(arch)

    def decode(self, codes: Sequence[int]) -> Architecture:
        """The base space's architecture of ``codes``, if it is a member.

        Raises:
            InvalidArchitectureError: If it is not one of the subset's architectures.
        """
        arch = self.base.decode(codes)
        self.validate(arch)
        return arch

    def validate(self, arch: Architecture) -> None:
        self.base.validate(arch)
        if arch not in self._member_set:
            raise InvalidArchitectureError(
                "subset",
                f"the architecture is not one of the {len(self.members)} of {self.label!r}",
            )

    def _sample(self, rng: Any) -> Architecture:
        return self.members[int(rng.integers(len(self.members)))]

    def _propose_mutant(self, arch: Architecture, rng: Any) -> Architecture:
        nearby = self._nearest_members(arch)
        if nearby is None:  # the full space lists no neighbours: the nearest by WL
            nearby = self._wl_nearest(arch)
        if nearby:
            return nearby[int(rng.integers(len(nearby)))]
        # No member within two mutations: walks of the full space's mutations from the
        # parent, 3 steps long, then 4, ..., until one ends on a member. If none does,
        # the non-member is rejected and SearchSpace.mutate draws again.
        current = arch
        for steps in range(3, self.max_steps + 1):
            for _ in range(self.walks_per_length):
                current = arch
                for _ in range(steps):
                    current = self.base.mutate(current, rng)
                if current in self._member_set and current != arch:
                    return current
        return current

    def _nearest_members(self, arch: Architecture) -> list[Architecture] | None:
        """The members one mutation away; if none, those two away; ``None`` where the
        full space lists no neighbours. Remembered per architecture."""
        if arch not in self._nearby_cache:
            try:
                ring = self.base.neighbours(arch)
            except BonasError:
                found = None
            else:
                found = [n for n in ring if n in self._member_set]
                if not found:
                    # dict keys keep a fixed order, unlike a set of architectures
                    second = dict.fromkeys(m for n in ring for m in self.base.neighbours(n))
                    found = [m for m in second if m in self._member_set and m != arch]
            if len(self._nearby_cache) >= self.cache_size:
                self._nearby_cache.clear()
            self._nearby_cache[arch] = found
        return self._nearby_cache[arch]

    def neighbours(self, arch: Architecture) -> list[Architecture]:
        """The members one mutation away; where the full space lists no neighbourhoods,
        the :attr:`nearest` members by WL features."""
        try:
            ring = self.base.neighbours(arch)
        except BonasError:
            return self._wl_nearest(arch)
        return [n for n in ring if n in self._member_set]

    def _wl_nearest(self, arch: Architecture) -> list[Architecture]:
        """The :attr:`nearest` other members closest to ``arch`` in WL feature space
        (ties in member order)."""
        from scipy import sparse

        from bonas.kernels.wl import WLFeaturizer

        featurizer = WLFeaturizer(h=2)
        if self._wl_index is None:
            columns: dict[str, int] = {}
            rows, cols, vals = [], [], []
            for i, member in enumerate(self.members):
                for feature, count in featurizer.features(member).items():
                    rows.append(i)
                    cols.append(columns.setdefault(feature, len(columns)))
                    vals.append(float(count))
            matrix = sparse.csr_matrix(
                (vals, (rows, cols)), shape=(len(self.members), len(columns))
            )
            norms = np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel()
            self._wl_index = (matrix, norms, columns)
        matrix, norms, columns = self._wl_index
        query = np.zeros(matrix.shape[1])
        extra = 0.0  # features no member has still count towards the distance
        for feature, count in featurizer.features(arch).items():
            j = columns.get(feature)
            if j is None:
                extra += float(count) ** 2
            else:
                query[j] = count
        distances = norms - 2.0 * (matrix @ query) + float(query @ query) + extra
        order = np.argsort(distances, kind="stable")
        found = [self.members[i] for i in order[: self.nearest + 1] if self.members[i] != arch]
        return found[: self.nearest]

    @property
    def is_finite(self) -> bool:
        return True

    def enumerate(self) -> Iterator[Architecture]:
        return iter(self.members)

    @property
    def size(self) -> int:
        return len(self.members)

    def __contains__(self, arch: object) -> bool:
        return arch in self._member_set

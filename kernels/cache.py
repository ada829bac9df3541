"""Architecture ids and a bounded cache of pairwise distances.

A BO loop asks, every iteration, for the distances between the observed architectures
(mostly the same as last iteration) and between a fresh batch of candidates and the
observed ones. :class:`DistanceCache` computes each pair once, keyed by the two
architectures' canonical hashes, and computes all missing pairs of a request in one
batched call (which :class:`~bonas.kernels.OTMANNDistance` spreads over processes when
the batch is large).

Memory: a cached pair costs its ``D`` float64 distances plus about 100 bytes of index;
with OTMANN's 8 distances, about 170 bytes. The default bound of 500,000 pairs is about
85 MB; past it, the least recently used pairs are evicted. :meth:`DistanceCache.retain`
drops every pair not between architectures the model still needs.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np

from bonas.architecture import Architecture
from bonas.exceptions import BonasError

__all__ = ["ArchitectureRegistry", "DistanceCache", "PairwiseDistance"]


class PairwiseDistance(Protocol):
    """What the cache needs of a distance: a batched, symmetric pairwise computation."""

    @property
    def num_distances(self) -> int: ...

    def pairwise(
        self, archs_a: Sequence[Architecture], archs_b: Sequence[Architecture] | None = None
    ) -> np.ndarray: ...


class ArchitectureRegistry:
    """Maps architectures to integer ids and back; equal architectures share an id.

    GP kernels over architectures take these ids (as a ``(..., n, 1)`` tensor) as inputs.

    Example:
        >>> from bonas.spaces import blocked_cnn
        >>> registry = ArchitectureRegistry()
        >>> registry.add(blocked_cnn(3, 2, 1)), registry.add(blocked_cnn(3, 2, 1))
        (0, 0)
    """

    def __init__(self) -> None:
        self._archs: list[Architecture] = []
        self._ids: dict[Architecture, int] = {}

    def add(self, arch: Architecture) -> int:
        """The id of ``arch``, registering it if new."""
        if not isinstance(arch, Architecture):
            raise BonasError(f"the registry holds Architecture objects, got {type(arch).__name__}")
        found = self._ids.get(arch)
        if found is None:
            found = len(self._archs)
            self._archs.append(arch)
            self._ids[arch] = found
        return found

    def add_all(self, archs: Iterable[Architecture]) -> list[int]:
        """Ids of several architectures, registering the new ones."""
        return [self.add(a) for a in archs]

    def __getitem__(self, arch_id: int) -> Architecture:
        try:
            return self._archs[int(arch_id)]
        except (IndexError, ValueError, TypeError):
            raise BonasError(
                f"unknown architecture id {arch_id!r}; the registry holds ids 0..{len(self) - 1}"
            ) from None

    def get(self, ids: Iterable[int]) -> list[Architecture]:
        """The architectures of several ids."""
        return [self[i] for i in ids]

    def __len__(self) -> int:
        return len(self._archs)

    def __deepcopy__(self, memo: dict) -> ArchitectureRegistry:
        # ids are global to a search: a copied model (botorch's fantasies and
        # conditioning deep-copy it) must keep resolving ids registered later
        return self

    def __contains__(self, arch: object) -> bool:
        return arch in self._ids


class DistanceCache:
    """Pairwise distances computed once per pair and reused.

    Args:
        distance: A batched symmetric distance, e.g. :class:`~bonas.kernels.OTMANNDistance`.
        max_pairs: Most pairs kept; the least recently used go first beyond it.

    Example:
        >>> from bonas.kernels import OTMANNDistance
        >>> from bonas.spaces import blocked_cnn, vgg_net
        >>> cache = DistanceCache(OTMANNDistance())
        >>> d = cache.matrix([blocked_cnn(3, 2, 1)], [vgg_net(1), vgg_net(2)])
        >>> d.shape, cache.misses
        ((1, 2, 8), 2)
        >>> _ = cache.matrix([vgg_net(1)], [blocked_cnn(3, 2, 1)])  # symmetric: a hit
        >>> cache.hits
        1
    """

    def __init__(self, distance: PairwiseDistance, max_pairs: int = 500_000) -> None:
        if max_pairs < 1:
            raise BonasError(f"max_pairs must be at least 1, got {max_pairs}")
        self.distance = distance
        self.max_pairs = max_pairs
        self._rows: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._values = np.zeros((0, distance.num_distances))
        self._free: list[int] = []
        self._next_row = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._rows)

    def __deepcopy__(self, memo: dict) -> DistanceCache:
        return self  # shared, like the registry: distances do not depend on the model

    @staticmethod
    def _key(a: Architecture, b: Architecture) -> tuple[str, str]:
        ha, hb = a.canonical_hash, b.canonical_hash
        return (ha, hb) if ha <= hb else (hb, ha)

    def matrix(
        self, archs_a: Sequence[Architecture], archs_b: Sequence[Architecture]
    ) -> np.ndarray:
        """Distances between two lists, shape ``(len_a, len_b, D)``, computing only the
        pairs not cached yet, all in one batched call."""
        keys = [[self._key(a, b) for b in archs_b] for a in archs_a]
        out = np.empty((len(archs_a), len(archs_b), self.distance.num_distances))
        missing_rows: dict[str, Architecture] = {}
        missing_cols: dict[str, Architecture] = {}
        for i, a in enumerate(archs_a):
            for j, b in enumerate(archs_b):
                row = self._rows.get(keys[i][j])
                if row is None:
                    if a == b:
                        out[i, j] = 0.0  # d(G, G) = 0 needs no solve
                        continue
                    missing_rows.setdefault(a.canonical_hash, a)
                    missing_cols.setdefault(b.canonical_hash, b)
                    out[i, j] = np.nan
                else:
                    self._rows.move_to_end(keys[i][j])
                    out[i, j] = self._values[row]
                    self.hits += 1
        if missing_rows:
            new_a, new_b = list(missing_rows.values()), list(missing_cols.values())
            fresh = self.distance.pairwise(new_a, new_b)
            index_a = {a.canonical_hash: k for k, a in enumerate(new_a)}
            index_b = {b.canonical_hash: k for k, b in enumerate(new_b)}
            stored: set[tuple[str, str]] = set()
            for i, a in enumerate(archs_a):
                for j, b in enumerate(archs_b):
                    if np.isnan(out[i, j, 0]):
                        value = fresh[index_a[a.canonical_hash], index_b[b.canonical_hash]]
                        out[i, j] = value
                        if keys[i][j] not in stored:
                            self._store(keys[i][j], value)
                            stored.add(keys[i][j])
                            self.misses += 1
        return out

    def _store(self, key: tuple[str, str], value: np.ndarray) -> None:
        if key in self._rows:
            return
        while len(self._rows) >= self.max_pairs:
            _, row = self._rows.popitem(last=False)
            self._free.append(row)
        if self._free:
            row = self._free.pop()
        else:
            row = self._next_row
            self._next_row += 1
            if row == self._values.shape[0]:
                grown = np.zeros((min(max(64, 2 * row), self.max_pairs), self._values.shape[1]))
                grown[:row] = self._values
                self._values = grown
        self._values[row] = value
        self._rows[key] = row

    def retain(self, archs: Iterable[Architecture]) -> int:
        """Keep only pairs whose two architectures are both in ``archs``; returns how many
        pairs were dropped."""
        keep = {a.canonical_hash for a in archs}
        dropped = [k for k in self._rows if k[0] not in keep or k[1] not in keep]
        for key in dropped:
            self._free.append(self._rows.pop(key))
        return len(dropped)

    def clear(self) -> None:
        """Forget every cached pair."""
        self._rows.clear()
        self._free.clear()
        self._next_row = 0
        self._values = np.zeros((0, self.distance.num_distances))

"""Architecture ids and a bounded cache of pairwise distances.

A BO loop asks, every iteration, for the distances between the observed architectures
(mostly the same as last iteration) and between a fresh batch of candidates and the
observed ones. :class:`DistanceCache` computes each pair once, keyed by the two
architectures' canonical hashes, and computes all missing pairs of a request in one
batched call (which :class:`~bonas.kernels.OTMANNDistance` spreads over processes when
the batch is large).

Memory: with OTMANN's 8 distances a cached pair costs about 250 bytes (its values, its
index entry and the arrays' spare room). The default bound of 1,000,000 pairs (about
250 MB when full) holds one acquisition step's working set on the CNN space at 500 observations
(1,000 candidates x 500, plus the 500 x 500 of the fit), so that the fit's pairs are not
evicted and recomputed every step; past it, the least recently used pairs are evicted.
:meth:`DistanceCache.retain` drops every pair not between architectures the model still
needs.

Screening: a distance with ``pairwise_lower_bounds`` (OTMANN's) lets a request made
inside :meth:`DistanceCache.screening` answer its missing pairs with those cheap bounds,
which are returned but not stored (only the last block of them is kept, for a request
within it), so that an acquisition optimiser can rank many candidates roughly and
compute exact distances for the best few only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
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
    A search registers every candidate it scores, a thousand an iteration:
    :meth:`forget_unused` forgets those not used again, and an id, once forgotten, is
    never given again.

    Example:
        >>> from bonas.spaces import blocked_cnn, vgg_net
        >>> registry = ArchitectureRegistry()
        >>> registry.add(blocked_cnn(3, 2, 1)), registry.add(blocked_cnn(3, 2, 1))
        (0, 0)
        >>> registry.forget_unused(), registry.add(vgg_net(1))  # forgets nothing: 0 is new
        ([], 1)
        >>> registry.forget_unused()  # 0 was not used since the last call
        [0]
        >>> registry.add_all([vgg_net(1), blocked_cnn(3, 2, 1)])
        [1, 2]
    """

    def __init__(self) -> None:
        self._archs: dict[int, Architecture] = {}
        self._ids: dict[Architecture, int] = {}
        self._next_id = 0
        # per id: the number of forget_unused calls before it was last added or looked up
        self._used: dict[int, int] = {}
        self._sweeps = 0

    def add(self, arch: Architecture) -> int:
        """The id of ``arch``, registering it if new."""
        if not isinstance(arch, Architecture):
            raise BonasError(f"the registry holds Architecture objects, got {type(arch).__name__}")
        found = self._ids.get(arch)
        if found is None:
            found = self._next_id
            self._next_id += 1
            self._archs[found] = arch
            self._ids[arch] = found
        self._used[found] = self._sweeps
        return found

    def add_all(self, archs: Iterable[Architecture]) -> list[int]:
        """Ids of several architectures, registering the new ones."""
        return [self.add(a) for a in archs]

    def forget_unused(self) -> list[int]:
        """Forget the architectures not added (or looked up by :meth:`add`) since the last
        call: a search calls it once an iteration, after adding its observations, so that
        it keeps those and the last iteration's candidates, and what every iteration
        scores again (all of a small finite space). Kernels that keep something per id
        drop it for the forgotten ids at their
        :meth:`~bonas.kernels.ArchitectureKernel.prune`.

        Returns:
            The ids forgotten, ascending.
        """
        stale = self._sweeps
        dropped = [i for i, sweep in self._used.items() if sweep < stale]
        for arch_id in dropped:
            del self._ids[self._archs.pop(arch_id)]
            del self._used[arch_id]
        self._sweeps += 1
        return dropped

    def holds(self, arch_id: int) -> bool:
        """Whether ``arch_id`` is the id of an architecture held now."""
        return arch_id in self._archs

    def __getitem__(self, arch_id: int) -> Architecture:
        try:
            return self._archs[int(arch_id)]
        except (KeyError, ValueError, TypeError):
            raise BonasError(
                f"unknown architecture id {arch_id!r}: never registered, or forgotten; the "
                f"registry holds {len(self)} architectures under ids below {self._next_id}"
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


_KEY_BITS = 32
# Indices a DistanceCache keeps before it forgets the unpaired ones (about 200 bytes each).
_MIN_INDEX_LIMIT = 100_000


def _pair_key(x: int, y: int) -> int:
    """The one integer a pair of architecture indices is stored under, in either order
    (less memory per pair than a tuple key)."""
    return x << _KEY_BITS | y if x < y else y << _KEY_BITS | x


class DistanceCache:
    """Pairwise distances computed once per pair and reused.

    Each architecture gets a small integer index the first time the cache sees it; a
    pair is stored under its two indices, and the values sit in one ``(capacity, D)``
    array, so a request costs one dictionary look-up per pair and one gather, however
    large (a GP fit asks for the same ``n x n`` block at every optimiser step).

    Args:
        distance: A batched symmetric distance, e.g. :class:`~bonas.kernels.OTMANNDistance`.
        max_pairs: Most pairs kept. Beyond it the least recently used go first, an
            eighth of the cache at a time, so that eviction is not paid per pair.

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

    def __init__(self, distance: PairwiseDistance, max_pairs: int = 1_000_000) -> None:
        if max_pairs < 1:
            raise BonasError(f"max_pairs must be at least 1, got {max_pairs}")
        self.distance = distance
        self.max_pairs = max_pairs
        # canonical hash -> index. Most architectures seen are candidates scored once by
        # their bounds and never paired; past ``_index_limit`` entries those are forgotten.
        # Indices are never reused (a new one is ``len(_index) + _index_offset``), so a
        # stale index left in ``_last_bounds`` cannot name another architecture.
        self._index: dict[str, int] = {}
        self._index_offset = 0
        self._index_limit = _MIN_INDEX_LIMIT
        self._rows: dict[int, int] = {}  # _pair_key -> row of _values
        self._keys: list[int | None] = []  # the key stored in each row
        self._values = np.zeros((0, distance.num_distances))
        self._used = np.zeros(0, dtype=np.int64)  # the request that last read each row
        self._free: list[int] = []
        # per index: whether a pair with it was ever stored (eviction leaves it set). A
        # request's fresh candidates have none, so their rows need no look-ups at all.
        self._paired = np.zeros(0, dtype=bool)
        # the last block of lower bounds: indices of its rows and columns, and values
        self._last_bounds: tuple[dict[int, int], dict[int, int], np.ndarray] | None = None
        self._requests = 0
        self._screening = False
        self.hits = 0
        self.misses = 0
        self.screened = 0

    def __len__(self) -> int:
        return len(self._rows)

    def __deepcopy__(self, memo: dict) -> DistanceCache:
        return self  # shared, like the registry: distances do not depend on the model

    @property
    def nearly_full(self) -> bool:
        """Whether the cache holds at least 7/8 of ``max_pairs`` (eviction is near)."""
        return 8 * len(self._rows) >= 7 * self.max_pairs

    @property
    def can_screen(self) -> bool:
        """Whether the distance offers cheap lower bounds for :meth:`screening`."""
        return callable(getattr(self.distance, "pairwise_lower_bounds", None))

    @property
    def is_screening(self) -> bool:
        """Whether requests now answer missing pairs with lower bounds."""
        return self._screening

    @contextmanager
    def screening(self) -> Iterator[None]:
        """Within this block, :meth:`matrix` answers pairs it has not cached with the
        distance's ``pairwise_lower_bounds``, without storing them (counted in
        :attr:`screened`); cached pairs stay exact.

        Raises:
            BonasError: If the distance has no lower bounds.
        """
        if not self.can_screen:
            raise BonasError(
                f"{type(self.distance).__name__} has no pairwise_lower_bounds to screen with"
            )
        before, self._screening = self._screening, True
        try:
            yield
        finally:
            self._screening = before

    def _indices(self, archs: Sequence[Architecture]) -> list[int]:
        if len(self._index) >= self._index_limit:
            self._forget_unpaired()
        index, offset = self._index, self._index_offset
        return [index.setdefault(a.canonical_hash, len(index) + offset) for a in archs]

    @property
    def _next_index(self) -> int:
        return len(self._index) + self._index_offset

    def _forget_unpaired(self) -> None:
        """Drop the indices of architectures with no pair ever stored; the next fresh
        index stays where it was."""
        fresh = self._next_index
        self._grow_paired(fresh)
        paired = self._paired
        self._index = {key: i for key, i in self._index.items() if paired[i]}
        self._index_offset = fresh - len(self._index)
        self._index_limit = max(_MIN_INDEX_LIMIT, 2 * len(self._index))

    def matrix(
        self, archs_a: Sequence[Architecture], archs_b: Sequence[Architecture]
    ) -> np.ndarray:
        """Distances between two lists, shape ``(len_a, len_b, D)``, computing only the
        pairs not cached yet, all in one batched call."""
        self._requests += 1
        na, nb = len(archs_a), len(archs_b)
        out = np.zeros((na, nb, self.distance.num_distances))
        if na == 0 or nb == 0:
            return out
        ia, ib = self._indices(archs_a), self._indices(archs_b)
        found = self._look_up(ia, ib)
        cached = found >= 0
        if cached.any():
            hit_rows = found[cached]
            out[cached] = self._values[hit_rows]
            self._used[hit_rows] = self._requests
            self.hits += int(hit_rows.size)
        missing = found == -1
        if missing.any():
            self._fill(out, missing, archs_a, archs_b, ia, ib)
        return out

    def _look_up(self, ia: list[int], ib: list[int]) -> np.ndarray:
        """``(len(ia), len(ib))`` rows of ``_values`` holding each pair: -1 where it is not
        cached, -2 where the two are one architecture (``d(G, G) = 0`` needs no solve)."""
        index_a = np.asarray(ia, dtype=np.int64)
        index_b = np.asarray(ib, dtype=np.int64)
        self._grow_paired(self._next_index)
        found = np.where(index_a[:, None] == index_b[None, :], -2, -1)
        rows_a = np.nonzero(self._paired[index_a])[0]
        cols_b = np.nonzero(self._paired[index_b])[0]
        if rows_a.size and cols_b.size:
            rows = self._rows
            sub_b = index_b[cols_b].tolist()
            looked = np.array(
                [rows.get(_pair_key(x, y), -1) if x != y else -2
                 for x in index_a[rows_a].tolist() for y in sub_b],
                dtype=np.int64,
            ).reshape(rows_a.size, cols_b.size)  # fmt: skip
            found[np.ix_(rows_a, cols_b)] = looked
        return found

    def _fill(
        self,
        out: np.ndarray,
        missing: np.ndarray,
        archs_a: Sequence[Architecture],
        archs_b: Sequence[Architecture],
        ia: list[int],
        ib: list[int],
    ) -> None:
        """Compute the missing entries of a request in one batched call, and store them
        (while screening: their lower bounds, not stored).

        The call is the rectangle of the rows and columns with a missing entry, unless
        that is more than twice the missing pairs and the distance has
        ``pairwise_ragged``: a Gram matrix that gained one architecture whose pairs were
        cached in part misses a star of pairs, not a square.
        """
        ii, jj = np.nonzero(missing)
        pos_a: dict[int, int] = {}  # architecture index -> row of the batched call
        pos_b: dict[int, int] = {}
        new_a: list[Architecture] = []
        new_b: list[Architecture] = []
        row_at = np.full(len(ia), -1, dtype=np.int64)  # request row -> row of the call
        col_at = np.full(len(ib), -1, dtype=np.int64)
        for i in np.nonzero(missing.any(axis=1))[0].tolist():
            if ia[i] not in pos_a:
                pos_a[ia[i]] = len(new_a)
                new_a.append(archs_a[i])
            row_at[i] = pos_a[ia[i]]
        for j in np.nonzero(missing.any(axis=0))[0].tolist():
            if ib[j] not in pos_b:
                pos_b[ib[j]] = len(new_b)
                new_b.append(archs_b[j])
            col_at[j] = pos_b[ib[j]]
        if self._screening:
            fresh = self._bounds(new_a, new_b, list(pos_a), list(pos_b))
            out[ii, jj] = fresh[row_at[ii], col_at[jj]]
            self.screened += int(ii.size)
            return
        first: dict[int, int] = {}  # pair key -> its first entry in (ii, jj)
        for k, (i, j) in enumerate(zip(ii.tolist(), jj.tolist(), strict=True)):
            first.setdefault(_pair_key(ia[i], ib[j]), k)
        if callable(getattr(self.distance, "pairwise_ragged", None)) and len(new_a) * len(
            new_b
        ) > 2 * len(first):
            self._fill_sparse(out, (ii, jj), (archs_a, archs_b), (ia, ib), first)
            return
        fresh = self.distance.pairwise(new_a, new_b)
        values = fresh[row_at[ii], col_at[jj]]
        out[ii, jj] = values
        self._store(list(first), values[list(first.values())])
        self.misses += len(first)

    def _bounds(
        self,
        archs_a: list[Architecture],
        archs_b: list[Architecture],
        keys_a: list[int],
        keys_b: list[int],
    ) -> np.ndarray:
        """The distance's lower bounds of ``archs_a`` (indices ``keys_a``) against
        ``archs_b``, from the last block of bounds computed if it holds them all: an
        optimiser screens a short list against the observations once to pick what to
        compute exactly, then again to score it."""
        if self._last_bounds is not None:
            rows_at, cols_at, block = self._last_bounds
            if all(k in rows_at for k in keys_a) and all(k in cols_at for k in keys_b):
                return block[np.ix_([rows_at[k] for k in keys_a], [cols_at[k] for k in keys_b])]
        fresh = self.distance.pairwise_lower_bounds(archs_a, archs_b)  # type: ignore[attr-defined]
        self._last_bounds = (
            {k: i for i, k in enumerate(keys_a)},
            {k: j for j, k in enumerate(keys_b)},
            fresh,
        )
        return fresh

    def _fill_sparse(
        self,
        out: np.ndarray,
        entries: tuple[np.ndarray, np.ndarray],
        archs: tuple[Sequence[Architecture], Sequence[Architecture]],
        indices: tuple[list[int], list[int]],
        first: dict[int, int],
    ) -> None:
        """:meth:`_fill` by ``pairwise_ragged``: each missing pair (``first``: its first
        entry) is computed once, from whichever of its two architectures has more missing
        pairs (the star's centre)."""
        (ii, jj), (archs_a, archs_b), (ia, ib) = entries, archs, indices
        pairs = [(int(ii[k]), int(jj[k])) for k in first.values()]
        arch_of: dict[int, Architecture] = {}
        degree: Counter[int] = Counter()
        for i, j in pairs:
            arch_of[ia[i]], arch_of[ib[j]] = archs_a[i], archs_b[j]
            degree[ia[i]] += 1
            degree[ib[j]] += 1
        groups: dict[int, list[int]] = {}
        for i, j in pairs:
            x, y = ia[i], ib[j]
            owner, partner = (x, y) if degree[x] >= degree[y] else (y, x)
            groups.setdefault(owner, []).append(partner)
        owners = list(groups)
        blocks = self._ragged(
            [arch_of[o] for o in owners], [[arch_of[p] for p in groups[o]] for o in owners]
        )
        value_of = {
            _pair_key(o, p): value
            for o, block in zip(owners, blocks, strict=True)
            for p, value in zip(groups[o], block, strict=True)
        }
        out[ii, jj] = np.stack(
            [
                value_of[_pair_key(ia[i], ib[j])]
                for i, j in zip(ii.tolist(), jj.tolist(), strict=True)
            ]
        )
        self._store(list(value_of), np.stack(list(value_of.values())))
        self.misses += len(value_of)

    def _ragged(
        self, rows: list[Architecture], groups: list[list[Architecture]]
    ) -> list[np.ndarray]:
        """Each of ``rows`` against its own group: the distance's ``pairwise_ragged`` if it
        has one, else one ``pairwise`` call per row."""
        ragged = getattr(self.distance, "pairwise_ragged", None)
        if callable(ragged):
            return ragged(rows, groups)
        return [
            self.distance.pairwise([a], group)[0] for a, group in zip(rows, groups, strict=True)
        ]

    def fill_pairs(
        self, archs_a: Sequence[Architecture], partners: Sequence[Sequence[Architecture]]
    ) -> int:
        """Compute and store the exact distances of the pairs ``(archs_a[i], b)``, ``b`` in
        ``partners[i]``, that are not cached yet, in one batched call (the distance's
        ``pairwise_ragged`` if it has one), also while screening.

        Returns:
            How many pairs were computed.
        """
        index_a = self._indices(archs_a)
        rows: list[Architecture] = []
        groups: list[list[Architecture]] = []
        keys: dict[int, tuple[int, int]] = {}  # pair key -> (row, position in its group)
        for a, x, group in zip(archs_a, index_a, partners, strict=True):
            missing = []
            for b, y in zip(group, self._indices(group), strict=True):
                key = _pair_key(x, y)
                if x != y and key not in self._rows and key not in keys:
                    keys[key] = (len(rows), len(missing))
                    missing.append(b)
            if missing:
                rows.append(a)
                groups.append(missing)
        if not rows:
            return 0
        blocks = self._ragged(rows, groups)
        values = np.stack([blocks[row][position] for row, position in keys.values()])
        self._store(list(keys), values)
        self.misses += len(keys)
        return len(keys)

    def _store(self, keys: list[int], values: np.ndarray) -> None:
        if len(keys) > self.max_pairs:  # only the last max_pairs of one request can stay
            keys, values = keys[-self.max_pairs :], values[-self.max_pairs :]
        excess = len(self._rows) + len(keys) - self.max_pairs
        if excess > 0:
            self._evict(max(excess, self.max_pairs // 8))
        need = len(keys) - len(self._free)
        if need > 0:
            start = len(self._keys)
            capacity = min(max(64, 2 * (start + need)), self.max_pairs)
            capacity = max(capacity, start + need)
            grown = np.zeros((capacity, self._values.shape[1]))
            grown[:start] = self._values[:start]
            self._values = grown
            self._used = np.concatenate([self._used, np.zeros(capacity - start, np.int64)])
            self._keys.extend([None] * (capacity - start))
            self._free.extend(range(capacity - 1, start - 1, -1))
        slots = [self._free.pop() for _ in keys]
        self._values[slots] = values
        self._used[slots] = self._requests
        for slot, key in zip(slots, keys, strict=True):
            self._keys[slot] = key
            self._rows[key] = slot
        stored = np.asarray(keys, dtype=np.int64)
        mask = (1 << _KEY_BITS) - 1
        touched = np.concatenate([stored >> _KEY_BITS, stored & mask])
        self._grow_paired(self._next_index)
        self._paired[touched] = True

    def _grow_paired(self, size: int) -> None:
        if self._paired.size < size:
            grown = np.zeros(size, dtype=bool)
            grown[: self._paired.size] = self._paired
            self._paired = grown

    def _evict(self, count: int) -> None:
        """Drop the ``count`` least recently used pairs (by the request that last read
        them)."""
        occupied = np.fromiter(self._rows.values(), dtype=np.int64, count=len(self._rows))
        count = min(count, occupied.size)
        if count <= 0:
            return
        oldest = occupied[np.argpartition(self._used[occupied], count - 1)[:count]]
        for slot in oldest.tolist():
            self._drop(self._keys[slot])  # type: ignore[arg-type]

    def _drop(self, key: int) -> None:
        slot = self._rows.pop(key)
        self._keys[slot] = None
        self._free.append(slot)

    def retain(self, archs: Iterable[Architecture]) -> int:
        """Keep only pairs whose two architectures are both in ``archs``; returns how many
        pairs were dropped."""
        index = self._index
        keep = {index[a.canonical_hash] for a in archs if a.canonical_hash in index}
        mask = (1 << _KEY_BITS) - 1
        dropped = [k for k in self._rows if k >> _KEY_BITS not in keep or k & mask not in keep]
        for key in dropped:
            self._drop(key)
        return len(dropped)

    def clear(self) -> None:
        """Forget every cached pair."""
        self._index.clear()
        self._index_offset = 0
        self._index_limit = _MIN_INDEX_LIMIT
        self._rows.clear()
        self._keys.clear()
        self._free.clear()
        self._values = np.zeros((0, self.distance.num_distances))
        self._used = np.zeros(0, dtype=np.int64)
        self._paired = np.zeros(0, dtype=bool)
        self._last_bounds = None

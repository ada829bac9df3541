"""DistanceCache and ArchitectureRegistry."""

from __future__ import annotations

import numpy as np
import pytest

from bonas import Architecture, BonasError
from bonas.kernels import ArchitectureRegistry, DistanceCache, OTMANNDistance
from bonas.spaces import CNNSpace, blocked_cnn


class CountingDistance:
    """OTMANN, counting its batched calls and the pairs they contain."""

    def __init__(self) -> None:
        self.inner = OTMANNDistance()
        self.calls = 0
        self.pairs = 0

    @property
    def num_distances(self) -> int:
        return self.inner.num_distances

    def pairwise(self, a: list[Architecture], b: list[Architecture] | None = None) -> np.ndarray:
        self.calls += 1
        self.pairs += len(a) * len(a if b is None else b)
        return self.inner.pairwise(a, b)


def archs(count: int, seed: int = 0) -> list[Architecture]:
    rng = np.random.default_rng(seed)
    return [CNNSpace().sample(rng) for _ in range(count)]


def test_each_pair_is_computed_once_in_one_call() -> None:
    observed, candidates = archs(6, 0), archs(4, 1)
    distance = CountingDistance()
    cache = DistanceCache(distance)
    first = cache.matrix(candidates, observed)
    assert distance.calls == 1 and cache.misses == 24
    np.testing.assert_allclose(first, OTMANNDistance().pairwise(candidates, observed))
    # the transposed request and a repeat are served from the cache
    np.testing.assert_allclose(cache.matrix(observed, candidates), first.transpose(1, 0, 2))
    assert distance.calls == 1 and cache.hits == 24
    # one new candidate: only its row is computed, again in one call
    cache.matrix([*candidates, *archs(1, 2)], observed)
    assert distance.calls == 2 and cache.misses == 30


def test_self_distance_needs_no_solve() -> None:
    distance = CountingDistance()
    cache = DistanceCache(distance)
    a = blocked_cnn(3, 2, 1)
    assert cache.matrix([a], [blocked_cnn(3, 2, 1)]).max() == 0.0
    assert distance.calls == 0


def test_the_cache_is_bounded() -> None:
    cache = DistanceCache(OTMANNDistance(), max_pairs=10)
    pool = archs(8, 3)
    cache.matrix(pool[:4], pool[4:])
    assert len(cache) == 10
    # the most recently used pairs survive
    cache.matrix(pool[:1], pool[4:5])
    cache.matrix(pool[2:3], pool[:2])
    assert len(cache) == 10


def test_retain_keeps_only_what_the_model_needs() -> None:
    cache = DistanceCache(OTMANNDistance())
    pool = archs(5, 4)
    cache.matrix(pool, pool)
    assert len(cache) == 10
    dropped = cache.retain(pool[:3])
    assert dropped == 7 and len(cache) == 3
    cache.clear()
    assert len(cache) == 0
    with pytest.raises(BonasError):
        DistanceCache(OTMANNDistance(), max_pairs=0)


def test_registry_ids() -> None:
    registry = ArchitectureRegistry()
    a, b = blocked_cnn(3, 2, 1), blocked_cnn(3, 3, 1)
    assert registry.add_all([a, b, blocked_cnn(3, 2, 1)]) == [0, 1, 0]
    assert registry[1] == b and len(registry) == 2 and a in registry
    with pytest.raises(BonasError, match="unknown architecture id"):
        registry[5]
    with pytest.raises(BonasError):
        registry.add("conv3")  # type: ignore[arg-type]


def test_eviction_drops_the_least_recently_read_pairs() -> None:
    distance = CountingDistance()
    cache = DistanceCache(distance, max_pairs=16)
    pool = archs(8, 5)
    cache.matrix(pool[:2], pool[2:6])  # 8 pairs
    cache.matrix(pool[6:8], pool[2:6])  # 8 more: full
    cache.matrix(pool[:2], pool[2:6])  # the first 8 are read again
    assert distance.calls == 2 and cache.hits == 8
    cache.matrix(pool[:1], pool[6:8])  # 2 new pairs evict 2 of the second request's
    assert len(cache) == 16 and distance.calls == 3
    cache.matrix(pool[:2], pool[2:6])  # still cached
    assert distance.calls == 3 and cache.hits == 16
    cache.matrix(pool[6:8], pool[2:6])  # two of these were evicted: one call for them
    assert distance.calls == 4 and cache.misses == 8 + 8 + 2 + 2 and cache.hits == 16 + 6


def test_values_survive_growth_and_reuse_of_slots() -> None:
    pool = archs(10, 6)
    expected = OTMANNDistance().pairwise(pool)
    cache = DistanceCache(OTMANNDistance(), max_pairs=30)
    for i in range(10):  # grows past its first capacity, then evicts and reuses slots
        np.testing.assert_allclose(cache.matrix(pool[i : i + 1], pool), expected[i : i + 1])
    np.testing.assert_allclose(cache.matrix(pool, pool), expected)


def test_screening_answers_new_pairs_with_bounds_and_keeps_them_out() -> None:
    observed, candidates = archs(6, 0), archs(5, 1)
    otmann = OTMANNDistance(n_jobs=1)
    cache = DistanceCache(otmann)
    exact_observed = cache.matrix(observed, observed)
    stored = len(cache)
    assert cache.can_screen and not cache.is_screening
    with cache.screening():
        assert cache.is_screening
        block = cache.matrix(candidates, observed)
        mixed = cache.matrix(observed, observed)  # cached pairs stay exact
    assert not cache.is_screening
    np.testing.assert_allclose(
        block, otmann.pairwise_lower_bounds(candidates, observed), rtol=1e-12
    )
    np.testing.assert_allclose(mixed, exact_observed, rtol=1e-12)
    assert len(cache) == stored and cache.screened == 30
    # outside the block the same request computes, and stores, the exact distances
    np.testing.assert_allclose(cache.matrix(candidates, observed),
                               otmann.pairwise(candidates, observed))  # fmt: skip
    assert len(cache) == stored + 30


def test_screening_needs_lower_bounds() -> None:
    cache = DistanceCache(CountingDistance())
    assert not cache.can_screen
    expected = "CountingDistance has no pairwise_lower_bounds"
    with pytest.raises(BonasError, match=expected), cache.screening():
        pass

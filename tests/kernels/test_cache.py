"""DistanceCache and ArchitectureRegistry."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from bonas import Architecture, BonasError
from bonas.kernels import ArchitectureRegistry, DistanceCache, OTMANNDistance
from bonas.kernels import cache as cache_module
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


def test_a_request_mixing_cached_and_never_paired_architectures() -> None:
    pool, fresh = archs(6, 7), archs(2, 8)
    distance = CountingDistance()
    cache = DistanceCache(distance)
    cache.matrix(pool[:3], pool[3:])  # 9 pairs; the fresh ones were never paired
    rows = [fresh[0], pool[0], fresh[1], pool[4]]
    cols = [pool[3], fresh[1], pool[1], pool[5]]
    expected = OTMANNDistance().pairwise(rows, cols)
    np.testing.assert_allclose(cache.matrix(rows, cols), expected)
    # hits: (pool0, pool3), (pool0, pool5), (pool4, pool1); (fresh1, fresh1) needs no
    # solve; the other 12 entries are 12 distinct new pairs
    assert cache.hits == 3 and cache.misses == 9 + 12
    cache.clear()  # forgets which architectures were paired, too
    np.testing.assert_allclose(cache.matrix(cols, rows), expected.transpose(1, 0, 2))
    assert cache.hits == 3 and cache.misses == 21 + 15


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


def test_the_registry_forgets_what_was_not_used_since_its_last_sweep() -> None:
    registry = ArchitectureRegistry()
    observed, first, second = archs(3, seed=1), archs(4, seed=2), archs(4, seed=3)
    registry.add_all(observed + first)  # an iteration: observations, then candidates
    assert registry.forget_unused() == []  # everything was used since the start
    registry.add_all(observed + second)  # the next iteration scores other candidates
    first_ids = list(range(3, 7))
    assert registry.forget_unused() == first_ids  # the first iteration's candidates
    assert len(registry) == 7 and all(a in registry for a in observed + second)
    assert not any(registry.holds(i) for i in first_ids) and registry.holds(0)
    with pytest.raises(BonasError, match="never registered, or forgotten"):
        registry[3]
    # a forgotten architecture comes back under a new id, never an old one
    assert registry.add(first[0]) == 11 and registry[11] == first[0]


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


def test_the_index_forgets_architectures_only_screened(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_module, "_MIN_INDEX_LIMIT", 8)
    observed = archs(4, 12)
    otmann = OTMANNDistance(n_jobs=1)
    cache = DistanceCache(otmann)
    exact = cache.matrix(observed, observed)
    screened: list[Architecture] = []
    for seed in range(13, 18):  # five GA-like requests, each of five fresh candidates
        candidates = archs(5, seed)
        screened += candidates
        with cache.screening():
            block = cache.matrix(candidates, observed)
        np.testing.assert_allclose(
            block, otmann.pairwise_lower_bounds(candidates, observed), rtol=1e-12
        )
        assert len(cache._index) < 8 + 5  # the limit, plus one request's new indices
    distinct = {a.canonical_hash for a in observed + screened}
    # every architecture got its own index, none reused after the forgetting
    assert cache._next_index == len(distinct) > len(cache._index)
    # the paired ones kept theirs: their pairs are still cached
    hits, misses = cache.hits, cache.misses
    np.testing.assert_array_equal(cache.matrix(observed, observed), exact)
    assert cache.hits == hits + 12 and cache.misses == misses
    # a forgotten one is simply new again
    np.testing.assert_allclose(
        cache.matrix(screened[:1], observed), otmann.pairwise(screened[:1], observed)
    )
    assert cache.misses == misses + 4


class _CountingBounds(OTMANNDistance):
    bound_pairs = 0

    def pairwise_lower_bounds(self, a: list[Architecture], b: list[Architecture]) -> np.ndarray:
        self.bound_pairs += len(a) * len(b)
        return super().pairwise_lower_bounds(a, b)


def test_screening_again_within_the_last_block_of_bounds_reuses_it() -> None:
    observed, candidates = archs(6, 9), archs(4, 10)
    otmann = _CountingBounds(n_jobs=1)
    cache = DistanceCache(otmann)
    with cache.screening():
        first = cache.matrix(candidates, observed)
        # a subset, in another order: served from the same block
        again = cache.matrix(candidates[::-1][:3], observed[::-2])
        assert otmann.bound_pairs == 24
        np.testing.assert_array_equal(again, first[[3, 2, 1]][:, [5, 3, 1]])
        cache.matrix(candidates, archs(1, 11))  # a column outside it: new bounds
        assert otmann.bound_pairs == 28
    cache.clear()
    with cache.screening():
        np.testing.assert_array_equal(cache.matrix(candidates, observed), first)
    assert otmann.bound_pairs == 52


@pytest.mark.parametrize("ragged", [True, False], ids=["pairwise_ragged", "row-by-row"])
def test_fill_pairs_computes_only_the_missing_pairs_it_is_given(ragged: bool) -> None:
    observed, candidates = archs(6, 0), archs(3, 1)
    otmann = OTMANNDistance(n_jobs=1)
    cache = DistanceCache(otmann if ragged else CountingDistance())
    cache.matrix(candidates[:1], observed[:2])  # two pairs cached already
    partners = [observed[:4], observed[2:5], [observed[0], observed[0]]]
    with cache.screening() if ragged else contextlib.nullcontext():  # exact regardless
        computed = cache.fill_pairs(candidates, partners)
    assert computed == 2 + 3 + 1 and cache.misses == 2 + 6 and len(cache) == 8
    exact = otmann.pairwise(candidates, observed)
    hits = cache.hits
    for i, group in enumerate(partners):  # each is now a cache hit, with its exact value
        np.testing.assert_allclose(
            cache.matrix(candidates[i : i + 1], group)[0],
            exact[i, [observed.index(b) for b in group]],
            rtol=1e-12,
        )
    assert cache.misses == 8 and cache.hits == hits + 4 + 3 + 2  # fmt: skip
    assert cache.fill_pairs(candidates, partners) == 0


class _RaggedCounting(OTMANNDistance):
    """OTMANN, recording the pairs each ragged call computed."""

    def __init__(self) -> None:
        super().__init__(n_jobs=1)
        self.ragged_pairs: list[int] = []

    def pairwise_ragged(self, archs_a, partners):  # type: ignore[no-untyped-def]
        self.ragged_pairs.append(sum(len(group) for group in partners))
        return super().pairwise_ragged(archs_a, partners)


def test_a_gram_matrix_that_gained_a_partly_cached_architecture_computes_a_star() -> None:
    pool, newcomer = archs(6, 4), archs(1, 5)[0]
    distance = _RaggedCounting()
    cache = DistanceCache(distance)
    cache.matrix(pool, pool)
    cache.fill_pairs([newcomer], [pool[:2]])
    misses = cache.misses
    gram = cache.matrix([*pool, newcomer], [*pool, newcomer])
    # the first Gram matrix: its 15 pairs once each, not the 6 x 6 rectangle; then the
    # newcomer's 4 missing pairs, not the 5 x 5 rectangle of their rows and columns
    assert distance.ragged_pairs == [15, 2, 4] and cache.misses == misses + 4
    np.testing.assert_allclose(
        gram, OTMANNDistance().pairwise([*pool, newcomer]), rtol=1e-9, atol=1e-9
    )


def test_ragged_pairs_equal_the_rows_of_pairwise() -> None:
    observed, candidates = archs(8, 2), archs(4, 3)
    partners = [observed[:3], observed[3:], [], observed[::2]]
    expected = OTMANNDistance(n_jobs=1).pairwise(candidates, observed)
    for otmann in (OTMANNDistance(n_jobs=1), OTMANNDistance(n_jobs=2, parallel_threshold=1)):
        blocks = otmann.pairwise_ragged(candidates, partners)
        assert [b.shape for b in blocks] == [(3, 8), (5, 8), (0, 8), (4, 8)]
        for i, group in enumerate(partners):
            # equal but for round-off: the one-row knapsacks sum along all the columns
            np.testing.assert_allclose(
                blocks[i], expected[i, [observed.index(b) for b in group]], rtol=1e-10
            )
    with pytest.raises(BonasError, match="one list of partners per architecture"):
        OTMANNDistance().pairwise_ragged(candidates, partners[:2])


def test_screening_needs_lower_bounds() -> None:
    cache = DistanceCache(CountingDistance())
    assert not cache.can_screen
    expected = "CountingDistance has no pairwise_lower_bounds"
    with pytest.raises(BonasError, match=expected), cache.screening():
        pass

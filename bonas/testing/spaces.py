"""The conformance suite every search space passes (like optuna's sampler tests):
valid and varied samples, valid mutants that differ, determinism by seed, no global
random state, JSON round trips, foreign architectures refused, neighbourhoods and
enumerations that agree with the space.

A space of your own joins in a pytest module::

    from bonas.testing.spaces import SpaceConformance

    class TestMySpace(SpaceConformance):
        def make_space(self):
            return MySpace()

Override :meth:`SpaceConformance.foreign_spaces` to check that architectures of other
vocabularies are refused.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bonas.architecture import Architecture
from bonas.exceptions import BonasError, InvalidArchitectureError
from bonas.spaces.base import SearchSpace
from bonas.spaces.subset import SubsetSpace

__all__ = ["SpaceConformance"]


class SpaceConformance:
    """Base class of a space's conformance tests; see the module docstring."""

    #: Samples drawn for the checks.
    num_draws = 12

    def make_space(self) -> SearchSpace:
        """A fresh space (the same settings every call)."""
        raise NotImplementedError

    def foreign_spaces(self) -> list[SearchSpace]:
        """Spaces whose architectures this space must refuse (those of another
        vocabulary); none by default."""
        return []

    @pytest.fixture(scope="class")
    @classmethod
    def space(cls) -> SearchSpace:
        return cls().make_space()

    @pytest.fixture(scope="class")
    @classmethod
    def samples(cls, space: SearchSpace) -> list[Architecture]:
        rng = np.random.default_rng(1234)
        return [space.sample(rng) for _ in range(cls.num_draws)]

    def test_samples_are_valid(self, space: SearchSpace, samples: list[Architecture]) -> None:
        for arch in samples:
            assert isinstance(arch, Architecture)
            assert arch.vocabulary == space.vocabulary
            space.validate(arch)
            assert space.contains(arch)

    def test_samples_vary(self, space: SearchSpace, samples: list[Architecture]) -> None:
        assert len(set(samples)) >= self.num_draws // 2

    def test_mutants_are_valid_and_differ(
        self, space: SearchSpace, samples: list[Architecture]
    ) -> None:
        rng = np.random.default_rng(99)
        for arch in samples:
            for _ in range(3):
                child = space.mutate(arch, rng)
                assert space.contains(child)
                assert child != arch

    def test_same_seed_same_draws(self, space: SearchSpace) -> None:
        def draws(seed: int) -> list[str]:
            rng = np.random.default_rng(seed)
            out = []
            for _ in range(4):
                arch = space.sample(rng)
                out += [arch.to_json(), space.mutate(arch, rng).to_json()]
            return out

        assert draws(7) == draws(7)
        assert draws(7) != draws(8)

    def test_int_seed_is_accepted(self, space: SearchSpace) -> None:
        assert space.sample(5).to_json() == space.sample(np.random.default_rng(5)).to_json()

    def test_global_numpy_state_is_untouched(self, space: SearchSpace) -> None:
        np.random.seed(0)
        before = np.random.get_state()[1].copy()
        space.mutate(space.sample(3), 4)
        assert (np.random.get_state()[1] == before).all()

    def test_json_round_trip(self, space: SearchSpace, samples: list[Architecture]) -> None:
        for arch in samples:
            again = Architecture.from_json(arch.to_json())
            assert again == arch
            assert space.contains(again)

    def test_other_vocabularies_are_rejected(self, space: SearchSpace) -> None:
        for other in self.foreign_spaces():
            name = type(other).__name__
            if other.vocabulary == space.vocabulary:
                continue
            foreign = other.sample(0)
            assert not space.contains(foreign), name
            with pytest.raises(InvalidArchitectureError):
                space.validate(foreign)
            with pytest.raises(InvalidArchitectureError):
                space.mutate(foreign, 0)

    def test_neighbours_are_valid_distinct_and_reachable(
        self, space: SearchSpace, samples: list[Architecture]
    ) -> None:
        try:
            lists = [space.neighbours(arch) for arch in samples]
        except BonasError:
            pytest.skip(f"{type(space).__name__} has no finite neighbourhood")
        # a table's rows may leave a member without neighbours; a whole space may not
        assert all(lists) or (isinstance(space, SubsetSpace) and any(lists))
        arch, neighbours = next((a, n) for a, n in zip(samples, lists, strict=True) if n)
        assert len(set(neighbours)) == len(neighbours)
        assert arch not in neighbours
        assert all(space.contains(n) for n in neighbours)
        rng = np.random.default_rng(0)
        assert all(space.mutate(arch, rng) in set(neighbours) for _ in range(10))

    def test_enumeration_matches_size(self, space: SearchSpace) -> None:
        if not space.is_finite:
            with pytest.raises(BonasError):
                _ = space.size
            pytest.skip(f"{type(space).__name__} is not finite")
        assert space.size > 0
        head = list(itertools.islice(space.enumerate(), 300))
        assert len(set(head)) == len(head)
        assert all(space.contains(a) for a in head[:50])

    def test_repr_names_the_space(self, space: SearchSpace) -> None:
        assert type(space).__name__ in repr(space)

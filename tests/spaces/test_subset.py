"""SubsetSpace: a table's rows as a search space (the conformance suite covers the rest)."""

from __future__ import annotations

import numpy as np
import pytest

from bonas import InvalidArchitectureError, InvalidSpaceError
from bonas.spaces import NB101Space, NB201Space
from bonas.spaces.subset import SubsetSpace

NB201 = NB201Space()


def test_mutants_are_member_neighbours_when_there_are_some() -> None:
    members = list(NB201.enumerate())[::52]
    space = SubsetSpace(NB201, members, label="every-52nd")
    rng = np.random.default_rng(0)
    for parent in members[:30]:
        close = space.neighbours(parent)
        assert set(close) == set(NB201.neighbours(parent)) & set(members)
        child = space.mutate(parent, rng)
        assert child in space and child != parent
        if close:
            assert child in close


def test_isolated_members_mutate_to_the_members_two_steps_away() -> None:
    rng = np.random.default_rng(3)
    parent = NB201.sample(rng)
    one_step = set(NB201.neighbours(parent))
    two_steps = [
        m for n in NB201.neighbours(parent) for m in NB201.neighbours(n) if m not in one_step
    ]
    two_steps = [m for m in dict.fromkeys(two_steps) if m != parent][:3]
    far = [NB201.sample(rng) for _ in range(20)]
    far = [a for a in far if a not in one_step and a not in two_steps and a != parent]
    space = SubsetSpace(NB201, [parent, *two_steps, *far])
    assert space.neighbours(parent) == []
    children = {space.mutate(parent, rng) for _ in range(30)}
    assert children == set(two_steps)


def test_sparse_nb101_members_are_found_by_walks() -> None:
    base, rng = NB101Space(), np.random.default_rng(8)
    for _ in range(20):  # a parent whose only other member is 3 mutations, not 1 or 2, away
        parent = walked = base.sample(rng)
        for _ in range(3):
            walked = base.mutate(walked, rng)
        space = SubsetSpace(base, [parent, walked])
        if space._nearest_members(parent) == []:
            break
    assert space._nearest_members(parent) == []
    space.walks_per_length = 2000  # make the three-step walk all but certain to be found
    assert space.mutate(parent, rng) == walked


def test_bad_subsets_and_non_members() -> None:
    with pytest.raises(InvalidSpaceError, match="at least one"):
        SubsetSpace(NB201, [])
    with pytest.raises(InvalidSpaceError, match="not in"):
        SubsetSpace(NB201, [NB101Space().sample(0)], label="mixed")
    members = list(NB201.enumerate())[:5]
    space = SubsetSpace(NB201, members + members[:2], label="five")
    assert space.size == 5 and list(space.enumerate()) == members
    assert space.config() == {"base": {}, "subset": "five", "size": 5}
    with pytest.raises(InvalidArchitectureError, match=r"\[subset\]"):
        space.validate(list(NB201.enumerate())[100])
    assert {space.sample(seed) for seed in range(50)} == set(members)

"""The conformance suite every search space passes (like optuna's sampler tests).

A new space joins by adding a factory to ``SPACES``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest

from bonas import Architecture, BonasError, InvalidArchitectureError
from bonas.spaces import (
    CellSpace,
    CNNSpace,
    DARTSSpace,
    GraphSpace,
    MLPSpace,
    NB101Space,
    NB201Space,
    NBGraphSpace,
    SearchSpace,
)
from bonas.spaces.subset import SubsetSpace
from bonas.vocabulary import Vocabulary, register_vocabulary

SPACES: dict[str, Callable[[], SearchSpace]] = {
    "cnn": CNNSpace,
    "mlp-reg": lambda: MLPSpace(task="reg"),
    "mlp-class": lambda: MLPSpace(task="class"),
    "nb201": NB201Space,
    "nb101": NB101Space,
    "nbgraph": NBGraphSpace,
    "darts": DARTSSpace,
    # a table's rows: a random fifth of NB201; NB101 cells with a member two mutations away
    "subset-nb201": lambda: SubsetSpace(NB201Space(), _random_nb201(3125), label="nb201-fifth"),
    "subset-nb101": lambda: SubsetSpace(NB101Space(), _sparse_nb101(), label="nb101-pairs"),
    # the spaces a user's table implies: cells of any ops and nodes, NB101-style DAGs over
    # other ops, free-form layer graphs, and a table of those (neighbours by WL features)
    "cell-5node": lambda: CellSpace(("none", "skip", "conv", "pool"), nodes=5),
    "dag-2ops": lambda: NB101Space(max_vertices=5, max_edges=6, ops=("a", "b")),
    "graph": lambda: GraphSpace(_toy_vocabulary(), max_layers=8, units=(16, 32)),
    "subset-graph": lambda: SubsetSpace(
        GraphSpace(_toy_vocabulary(), max_layers=8, units=(16, 32)), _graphs(), label="graphs"
    ),
}


def _toy_vocabulary() -> Vocabulary:
    return register_vocabulary(
        Vocabulary(
            "toy-table-graph",
            ("in", "out", "dense", "dropout", "norm"),
            input_label="in",
            output_label="out",
            unit_labels=frozenset({"dense"}),
        )
    )


def _graphs(count: int = 60) -> list[Architecture]:
    space, rng = (
        GraphSpace(_toy_vocabulary(), max_layers=8, units=(16, 32)),
        np.random.default_rng(3),
    )
    return [space.sample(rng) for _ in range(count)]


def _random_nb201(count: int) -> list[Architecture]:
    cells = list(NB201Space().enumerate())
    return [cells[i] for i in np.random.default_rng(0).choice(len(cells), count, replace=False)]


def _sparse_nb101(count: int = 100) -> list[Architecture]:
    """Random NB101 cells, each with a two-step mutant: members are rarely neighbours."""
    space, rng = NB101Space(), np.random.default_rng(5)
    members = []
    for _ in range(count):
        cell = space.sample(rng)
        members += [cell, space.mutate(space.mutate(cell, rng), rng)]
    return members


NUM_DRAWS = 12


@pytest.fixture(params=sorted(SPACES), scope="module")
def space(request: pytest.FixtureRequest) -> SearchSpace:
    return SPACES[request.param]()


@pytest.fixture(scope="module")
def samples(space: SearchSpace) -> list[Architecture]:
    rng = np.random.default_rng(1234)
    return [space.sample(rng) for _ in range(NUM_DRAWS)]


def test_samples_are_valid(space: SearchSpace, samples: list[Architecture]) -> None:
    for arch in samples:
        assert isinstance(arch, Architecture)
        assert arch.vocabulary == space.vocabulary
        space.validate(arch)
        assert space.contains(arch)


def test_samples_vary(space: SearchSpace, samples: list[Architecture]) -> None:
    assert len(set(samples)) >= NUM_DRAWS // 2


def test_mutants_are_valid_and_differ(space: SearchSpace, samples: list[Architecture]) -> None:
    rng = np.random.default_rng(99)
    for arch in samples:
        for _ in range(3):
            child = space.mutate(arch, rng)
            assert space.contains(child)
            assert child != arch


def test_same_seed_same_draws(space: SearchSpace) -> None:
    def draws(seed: int) -> list[str]:
        rng = np.random.default_rng(seed)
        out = []
        for _ in range(4):
            arch = space.sample(rng)
            out += [arch.to_json(), space.mutate(arch, rng).to_json()]
        return out

    assert draws(7) == draws(7)
    assert draws(7) != draws(8)


def test_int_seed_is_accepted(space: SearchSpace) -> None:
    assert space.sample(5).to_json() == space.sample(np.random.default_rng(5)).to_json()


def test_global_numpy_state_is_untouched(space: SearchSpace) -> None:
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    space.mutate(space.sample(3), 4)
    assert (np.random.get_state()[1] == before).all()


def test_json_round_trip(space: SearchSpace, samples: list[Architecture]) -> None:
    for arch in samples:
        again = Architecture.from_json(arch.to_json())
        assert again == arch
        assert space.contains(again)


def test_other_vocabularies_are_rejected(space: SearchSpace) -> None:
    for name, factory in SPACES.items():
        other = factory()
        if other.vocabulary == space.vocabulary:
            continue
        foreign = other.sample(0)
        assert not space.contains(foreign), name
        with pytest.raises(InvalidArchitectureError):
            space.validate(foreign)
        with pytest.raises(InvalidArchitectureError):
            space.mutate(foreign, 0)


def test_neighbours_are_valid_distinct_and_reachable(
    space: SearchSpace, samples: list[Architecture]
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


def test_enumeration_matches_size(space: SearchSpace) -> None:
    if not space.is_finite:
        with pytest.raises(BonasError):
            _ = space.size
        pytest.skip(f"{type(space).__name__} is not finite")
    assert space.size > 0
    head = list(itertools.islice(space.enumerate(), 300))
    assert len(set(head)) == len(head)
    assert all(space.contains(a) for a in head[:50])


def test_repr_names_the_space(space: SearchSpace) -> None:
    assert type(space).__name__ in repr(space)

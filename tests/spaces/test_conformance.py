"""Every search space of bonas passes :class:`bonas.testing.spaces.SpaceConformance`.

A new space joins by adding a factory to ``SPACES``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from bonas import Architecture
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
from bonas.testing.spaces import SpaceConformance
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


class TestEverySpace(SpaceConformance):
    @pytest.fixture(params=sorted(SPACES), scope="class")
    @classmethod
    def space(cls, request: pytest.FixtureRequest) -> SearchSpace:
        return SPACES[request.param]()

    def foreign_spaces(self) -> list[SearchSpace]:
        return [factory() for factory in SPACES.values()]

"""The spaces a user's table implies: CellSpace, NB101Space over other ops, GraphSpace,
and a SubsetSpace of free-form graphs whose neighbours come from WL features."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bonas import Architecture, InvalidArchitectureError
from bonas.exceptions import InvalidSpaceError
from bonas.spaces import CellSpace, GraphSpace, NB101Space, NB201Space, SubsetSpace, get_space
from bonas.vocabulary import Vocabulary, register_vocabulary


@pytest.mark.parametrize("nodes", [2, 3, 4, 5])
def test_cell_strings_round_trip_for_any_node_count(nodes: int) -> None:
    space = CellSpace(("zero", "id", "conv"), nodes=nodes)
    assert len(space.edges) == nodes * (nodes - 1) // 2
    assert space.size == 3 ** len(space.edges)
    for arch in itertools.islice(space.enumerate(), 0, None, max(1, space.size // 20)):
        text = space.to_string(arch)
        assert text.count("+") == nodes - 2
        assert space.from_string(text) == arch
        assert space.from_ops(space.to_ops(arch)) == arch


def test_cell_string_layout_matches_nas_bench_201() -> None:
    """NB201 is the 4-node cell space over its 5 ops: the same ops, strings and graphs."""
    nb201 = NB201Space()
    general = CellSpace(nb201.ops, nodes=4)
    for arch in list(nb201.enumerate())[::997]:
        ops = nb201.to_ops(arch)
        twin = general.from_ops(ops)
        assert general.to_string(twin) == nb201.to_string(arch)
        assert twin.edges == arch.edges and twin.labels == arch.labels
        assert twin.vocabulary.name != arch.vocabulary.name  # a vocabulary of its own


def test_cell_neighbours_change_one_edge() -> None:
    space = CellSpace(("a", "b", "c"), nodes=3)
    arch = space.from_string("|a~0|+|b~0|c~1|")
    ring = space.neighbours(arch)
    assert len(ring) == 3 * 2 and len(set(ring)) == 6
    for other in ring:
        differ = sum(x != y for x, y in zip(space.to_ops(arch), space.to_ops(other), strict=True))
        assert differ == 1


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("|a~0|+|b~0|", "node 2 lists 1 inputs"),
        ("|a~0|", "expected 2 node groups"),
        ("|a~0|+|b~1|c~1|", "expected 'op~0'"),
        ("|a~0|+|b~0|q~1|", "unknown ops ['q']"),
    ],
)
def test_bad_cell_strings_say_why(text: str, reason: str) -> None:
    space = CellSpace(("a", "b", "c"), nodes=3)
    with pytest.raises(InvalidArchitectureError, match=reason.replace("[", r"\[")):
        space.from_string(text)


@pytest.mark.parametrize(
    ("ops", "nodes", "reason"),
    [
        (("a", "a"), 3, "distinct"),
        (("a", "sum"), 3, "clash"),
        ((), 3, "distinct"),
        (("a",), 1, "2"),
    ],
)
def test_bad_cell_spaces_are_refused(ops: tuple, nodes: int, reason: str) -> None:
    with pytest.raises(InvalidSpaceError, match=reason):
        CellSpace(ops, nodes=nodes)


def test_cell_space_is_rebuilt_from_its_config() -> None:
    space = CellSpace(("x", "y"), nodes=3)
    again = get_space("cell", **space.config())
    arch = space.from_string("|x~0|+|y~0|x~1|")
    assert again.contains(Architecture.from_json(arch.to_json()))


def test_nb101_space_over_other_ops_hashes_and_enumerates() -> None:
    space = NB101Space(max_vertices=4, max_edges=5, ops=("a", "b"))
    cells = list(space.enumerate())
    assert len(cells) == len(set(cells)) == space.size
    assert {label for cell in cells for label in cell.labels} == {"ip", "op", "a", "b"}
    hashes = {space.hash(cell) for cell in cells}
    assert len(hashes) == len(cells)  # the NB101 hash tells these cells apart
    assert space.config()["ops"] == ["a", "b"]
    with pytest.raises(InvalidArchitectureError, match="outside"):
        space.from_spec([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv3x3-bn-relu", "output"])
    with pytest.raises(InvalidSpaceError, match="reserved"):
        NB101Space(ops=("a", "output"))


def _vocabulary() -> Vocabulary:
    return register_vocabulary(
        Vocabulary(
            "user-space-tests",
            ("in", "out", "dense", "act"),
            input_label="in",
            output_label="out",
            unit_labels=frozenset({"dense"}),
        )
    )


def test_graph_space_mutations_stay_in_bounds_and_use_every_move() -> None:
    space = GraphSpace(_vocabulary(), max_layers=7, units=(8, 16))
    rng = np.random.default_rng(0)
    arch = space.sample(rng)
    sizes, edge_counts = set(), set()
    for _ in range(300):
        child = space.mutate(arch, rng)
        assert space.contains(child) and child != arch and child.num_layers <= 7
        assert all(u in (8, 16) for u, lab in zip(child.units, child.labels, strict=True)
                   if lab == "dense")  # fmt: skip
        sizes.add(child.num_layers)
        edge_counts.add(len(child.edges) - (child.num_layers - 1))  # skips beyond a chain
        arch = child
    assert len(sizes) >= 3  # layers were inserted and removed
    assert max(edge_counts) > 0  # skip edges were added


def test_graph_space_refuses_bad_bounds() -> None:
    with pytest.raises(InvalidSpaceError, match="max_layers"):
        GraphSpace(_vocabulary(), max_layers=2)
    with pytest.raises(InvalidSpaceError, match="units"):
        GraphSpace(_vocabulary(), max_layers=5, units=())


def test_subset_of_free_graphs_finds_neighbours_by_wl_features() -> None:
    space = GraphSpace(_vocabulary(), max_layers=8, units=(8, 16))
    rng = np.random.default_rng(1)
    members = list(dict.fromkeys(space.sample(rng) for _ in range(80)))
    subset = SubsetSpace(space, members, label="graphs")
    centre = members[0]
    ring = subset.neighbours(centre)
    assert len(ring) == subset.nearest and centre not in ring
    assert all(arch in subset for arch in ring)
    # the nearest are nearer, in WL feature counts, than the members left out
    from bonas.kernels.wl import WLFeaturizer

    wl = WLFeaturizer(h=2)

    def distance(a: Architecture, b: Architecture) -> float:
        fa, fb = wl.features(a), wl.features(b)
        return sum((fa[k] - fb[k]) ** 2 for k in set(fa) | set(fb))

    far = [m for m in members if m not in ring and m != centre]
    assert max(distance(centre, n) for n in ring) <= min(distance(centre, m) for m in far)
    assert subset.mutate(centre, rng) in ring

"""The cell spaces: NB201, NB101, NAS-Bench-Graph and DARTS."""

from __future__ import annotations

import csv
import gzip
import itertools
from pathlib import Path

import numpy as np
import pytest

from bonas import InvalidArchitectureError
from bonas.spaces import (
    NB201_OPS,
    DARTSSpace,
    NB101Space,
    NB201Space,
    NBGraphSpace,
    nb101_hash,
)
from bonas.spaces.nbgraph import NBGRAPH_LINKS, canonical_link_ops

# -- NAS-Bench-201 -----------------------------------------------------------------------


def test_nb201_has_15625_distinct_cells_that_round_trip() -> None:
    space = NB201Space()
    seen = set()
    strings = set()
    for arch in space.enumerate():
        text = space.to_string(arch)
        assert space.from_string(text) == arch
        seen.add(arch)
        strings.add(text)
    assert space.size == len(seen) == len(strings) == 15_625


def test_nb201_strings_of_the_table_round_trip(shared_data: Path) -> None:
    space = NB201Space()
    with gzip.open(shared_data / "nas-bench-201" / "nb201_all_archs.csv.gz", "rt") as fh:
        strings = [row["arch_str"] for row in csv.DictReader(fh)]
    assert len(strings) == 15_625
    assert all(space.to_string(space.from_string(s)) == s for s in strings)
    assert len({space.from_string(s) for s in strings}) == 15_625


@pytest.mark.parametrize(
    "text",
    [
        "|none~0|+|none~0|none~1|",
        "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
        "garbage",
    ],
)
def test_nb201_bad_strings_are_rejected(text: str) -> None:
    with pytest.raises(InvalidArchitectureError):
        NB201Space().from_string(text)


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        # none edges are dropped and the dangling node 1 / node 2 are pruned
        (
            "|none~0|+|none~0|skip_connect~1|+|nor_conv_3x3~0|none~1|none~2|",
            ["ip", "nor_conv_3x3", "op"],
        ),
        # nothing reaches the output
        ("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|none~2|", ["ip", "zero", "op"]),
        # the full cell keeps every op and both sums
        (
            "|nor_conv_1x1~0|+|skip_connect~0|avg_pool_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|"
            "skip_connect~2|",
            [
                "ip",
                "nor_conv_1x1",
                "skip_connect",
                "avg_pool_3x3",
                "sum",
                "sum",
                "nor_conv_3x3",
                "nor_conv_3x3",
                "skip_connect",
                "op",
            ],
        ),
    ],
)
def test_nb201_layer_graph(text: str, labels: list[str]) -> None:
    space = NB201Space()
    graph = space.layer_graph(space.from_string(text))
    assert sorted(graph.labels) == sorted(labels)
    assert "none" not in graph.labels


def test_nb201_neighbours_change_one_op() -> None:
    space = NB201Space()
    arch = space.sample(0)
    ops = space.to_ops(arch)
    neighbours = space.neighbours(arch)
    assert len(neighbours) == 6 * (len(NB201_OPS) - 1)
    for n in neighbours:
        assert sum(a != b for a, b in zip(ops, space.to_ops(n), strict=True)) == 1


# -- NAS-Bench-101 -----------------------------------------------------------------------


def test_nb101_hashes_match_the_table(shared_data: Path) -> None:
    space = NB101Space()
    checked = 0
    with gzip.open(shared_data / "nas-bench-101" / "nb101_20k_multifidelity.csv.gz", "rt") as fh:
        for row in csv.DictReader(fh):
            if row["has_spec"] != "True":
                continue
            matrix = np.array([[int(c) for c in line] for line in row["adjacency"].split("|")])
            arch = space.from_spec(matrix, row["ops"].split(","))
            assert space.hash(arch) == row["nb101_hash"], row["nb101_hash"]
            assert space.contains(arch)
            checked += 1
    assert checked == 10_266


def test_nb101_hash_of_a_known_cell() -> None:
    # first row of the shared table, whose official hash is recorded there
    matrix = np.array(
        [
            [int(c) for c in line]
            for line in [
                "0100110",
                "0010000",
                "0001001",
                "0000010",
                "0000010",
                "0000001",
                "0000000",
            ]
        ]
    )
    ops = [
        "input",
        "conv3x3-bn-relu",
        "maxpool3x3",
        "conv3x3-bn-relu",
        "conv3x3-bn-relu",
        "conv1x1-bn-relu",
        "output",
    ]
    assert nb101_hash(matrix, ops) == "00005c142e6f48ac74fdcf73e3439874"


def test_nb101_prunes_and_is_isomorphism_invariant() -> None:
    space = NB101Space()
    ops = ["input", "conv3x3-bn-relu", "maxpool3x3", "output"]
    # vertex 2 has no path to the output and is pruned
    pruned = space.from_spec([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]], ops)
    assert pruned.labels == ("ip", "conv3x3-bn-relu", "op")
    a = space.from_spec([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], ops)
    b = space.from_spec(
        [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]],
        ["input", "maxpool3x3", "conv3x3-bn-relu", "output"],
    )
    assert a == b and space.hash(a) == space.hash(b)


@pytest.mark.parametrize(
    ("matrix", "ops", "rule"),
    [
        ([[0, 0], [0, 0]], ["input", "output"], "on-path"),
        ([[0, 1], [1, 0]], ["input", "output"], "nb101-spec"),
        ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv5x5", "output"], "vocabulary"),
        ([[0, 1], [0, 0]], ["output", "input"], "nb101-spec"),
    ],
)
def test_nb101_bad_specs(matrix: list, ops: list[str], rule: str) -> None:
    with pytest.raises(InvalidArchitectureError) as info:
        NB101Space().from_spec(matrix, ops)
    assert info.value.rule == rule


def test_nb101_enumeration_counts_423624_cells() -> None:
    from bonas.spaces.nb101 import _count_cells

    assert _count_cells(7, 9) == 423_624  # the NAS-Bench-101 paper's count


def test_nb101_small_enumeration_is_complete_and_distinct(shared_data: Path) -> None:
    space = NB101Space(max_vertices=5)
    cells = list(space.enumerate())
    assert len(cells) == len(set(cells)) == space.size
    assert all(space.contains(c) for c in cells)
    # every cell of the table with at most 5 vertices is among them
    enumerated = {space.hash(c) for c in cells}
    with gzip.open(shared_data / "nas-bench-101" / "nb101_20k_multifidelity.csv.gz", "rt") as fh:
        small = [
            row["nb101_hash"]
            for row in csv.DictReader(fh)
            if row["has_spec"] == "True" and int(row["num_vertices"]) <= 5
        ]
    assert small and set(small) <= enumerated


def test_nb101_limits() -> None:
    space = NB101Space()
    full = np.triu(np.ones((7, 7), dtype=int), k=1)
    arch = space.from_spec(full, ["input"] + ["conv3x3-bn-relu"] * 5 + ["output"])
    with pytest.raises(InvalidArchitectureError, match="max_edges=9"):
        space.validate(arch)
    assert space.size == 423_624


# -- NAS-Bench-Graph ------------------------------------------------------------------------


def test_nbgraph_link_ops_round_trip_and_canonical_form() -> None:
    space = NBGraphSpace()
    a = space.from_link_ops([0, 0, 1, 2], ["gcn", "gat", "skip", "sage"])
    # the same graph with layers numbered differently
    b = space.from_link_ops([0, 0, 2, 1], ["gat", "gcn", "skip", "sage"])
    assert a == b
    assert (
        space.to_link_ops(a)
        == space.to_link_ops(b)
        == ((0, 0, 1, 2), ("gat", "gcn", "sage", "skip"))
    )
    assert space.from_link_ops(*space.to_link_ops(a)) == a


def test_nbgraph_canonical_key_agrees_with_graph_isomorphism() -> None:
    space = NBGraphSpace(ops=("gcn", "gat", "skip"))
    by_key: dict = {}
    for link in NBGRAPH_LINKS:
        for ops in itertools.product(space.ops, repeat=4):
            key = canonical_link_ops(link, ops)
            by_key.setdefault(key, set()).add(space.from_link_ops(link, ops))
    assert all(len(archs) == 1 for archs in by_key.values())
    assert len({next(iter(a)) for a in by_key.values()}) == len(by_key)


def test_nbgraph_size_and_all_skip_exclusion() -> None:
    space = NBGraphSpace()
    # distinct canonical keys are distinct graphs (previous test); spot-check the builds
    assert space.size == 35_910
    head = list(itertools.islice(space.enumerate(), 2_000))
    assert len(set(head)) == len(head) and all(space.contains(a) for a in head[:200])
    all_skip = space.from_link_ops([0, 1, 2, 3], ["skip"] * 4)
    assert not space.contains(all_skip)
    proteins = NBGraphSpace(ops=("gcn", "sage", "arma", "fc", "skip"))
    assert not proteins.contains(space.from_link_ops([0, 1, 2, 3], ["gat"] * 4))


# -- DARTS ----------------------------------------------------------------------------------

GENOTYPE = {
    "normal": [
        ("sep_conv_3x3", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 1),
        ("skip_connect", 0),
        ("skip_connect", 0),
        ("dil_conv_3x3", 2),
    ],
    "reduce": [
        ("max_pool_3x3", 0),
        ("max_pool_3x3", 1),
        ("skip_connect", 2),
        ("max_pool_3x3", 1),
        ("max_pool_3x3", 0),
        ("skip_connect", 2),
        ("skip_connect", 2),
        ("max_pool_3x3", 1),
    ],
}  # DARTS-V2 (Liu et al. 2019)


def test_darts_genotype_round_trip() -> None:
    space = DARTSSpace()
    arch = space.from_genotype(GENOTYPE)
    assert arch.num_layers == 32
    canonical = space.to_genotype(arch)
    assert space.from_genotype(canonical) == arch
    assert space.to_genotype(space.from_genotype(canonical)) == canonical
    for cell in ("normal", "reduce"):
        assert sorted(canonical[cell]) == sorted(GENOTYPE[cell])


def test_darts_node_order_and_input_order_do_not_matter() -> None:
    space = DARTSSpace()
    swapped = {
        **GENOTYPE,
        "normal": [GENOTYPE["normal"][1], GENOTYPE["normal"][0], *GENOTYPE["normal"][2:]],
    }
    assert space.from_genotype(swapped) == space.from_genotype(GENOTYPE)
    changed = {**GENOTYPE, "normal": [("max_pool_3x3", 0), *GENOTYPE["normal"][1:]]}
    assert space.from_genotype(changed) != space.from_genotype(GENOTYPE)


@pytest.mark.parametrize(
    ("cell", "match"),
    [
        ([("sep_conv_3x3", 0)] * 8, "twice"),
        ([("sep_conv_3x3", 0), ("sep_conv_3x3", 2), *GENOTYPE["normal"][2:]], "allowed 0..1"),
        ([("conv_9x9", 0), *GENOTYPE["normal"][1:]], "unknown op"),
        (GENOTYPE["normal"][:6], "8 .op, input. pairs"),
    ],
)
def test_darts_bad_genotypes(cell: list, match: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=match):
        DARTSSpace().from_genotype({**GENOTYPE, "normal": cell})


def test_darts_neighbours_differ_by_one_change() -> None:
    space = DARTSSpace()
    arch = space.from_genotype(GENOTYPE)
    neighbours = space.neighbours(arch)
    assert len(neighbours) > 100
    assert all(space.contains(n) for n in neighbours[:20])

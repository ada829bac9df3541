"""The categorical encodings of the cell spaces: round trips, choices in range, and
clear errors for codes that describe no member and for spaces without an encoding."""

from __future__ import annotations

import numpy as np
import pytest

from bonas import BonasError, InvalidArchitectureError
from bonas.spaces import CNNSpace, DARTSSpace, NB101Space, NB201Space, NBGraphSpace
from bonas.spaces.cell import CellSpace
from bonas.spaces.subset import SubsetSpace

NB201 = NB201Space()
SPACES = {
    "nb201": NB201,
    "cell-3-nodes": CellSpace(["conv", "pool", "none"], nodes=3),
    "nb101": NB101Space(),
    "nb101-5-vertices": NB101Space(max_vertices=5, max_edges=6),
    "nbgraph": NBGraphSpace(),
    "darts": DARTSSpace(),
    "subset": SubsetSpace(NB201, [NB201.sample(i) for i in range(30)], label="thirty"),
}


@pytest.mark.parametrize("name", sorted(SPACES))
def test_decode_inverts_encode_with_codes_within_their_choices(name: str) -> None:
    space = SPACES[name]
    variables = space.categories()
    assert len({var for var, _ in variables}) == len(variables)  # distinct names
    rng = np.random.default_rng(0)
    for _ in range(25):
        arch = space.sample(rng)
        codes = space.encode(arch)
        assert len(codes) == len(variables)
        assert all(0 <= c < len(choices) for c, (_, choices) in zip(codes, variables, strict=True))
        assert space.decode(codes) == arch


def test_nb201_encoding_is_the_edge_ops() -> None:
    arch = NB201.from_ops(["nor_conv_3x3", "none", "skip_connect", "none", "none", "avg_pool_3x3"])
    names = [name for name, _ in NB201.categories()]
    assert names == ["edge_0_1", "edge_0_2", "edge_1_2", "edge_0_3", "edge_1_3", "edge_2_3"]
    assert [NB201.ops[c] for c in NB201.encode(arch)] == list(NB201.to_ops(arch))


def test_nb101_pads_small_cells_with_none_and_decodes_them_back() -> None:
    space = NB101Space()
    arch = space.from_spec(
        [[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv3x3-bn-relu", "output"]
    )
    codes = space.encode(arch)
    choices = dict(space.categories())
    named = dict(zip(choices, codes, strict=True))
    assert named["edge_0_1"] == 1 and named["edge_1_6"] == 1 and sum(codes[:21]) == 2
    assert [choices[f"op_{v}"][named[f"op_{v}"]] for v in range(1, 6)] == [
        "conv3x3-bn-relu", "none", "none", "none", "none",
    ]  # fmt: skip
    assert space.decode(codes) == arch


@pytest.mark.parametrize(
    ("name", "codes", "rule"),
    [
        ("nb101", [0] * 21 + [0] * 5, "on-path"),  # no edge: the output is cut off
        ("nb201", [0] * 5, "encoding"),  # one code short
        ("nb201", [0, 0, 0, 0, 0, 5], "encoding"),  # a sixth op of five
        ("darts", ["x"] * 24, "encoding"),
    ],
)
def test_codes_that_describe_no_member_are_named(name: str, codes: list, rule: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=rf"\[{rule}\]"):
        SPACES[name].decode(codes)


def test_a_subset_decodes_members_only() -> None:
    subset = SPACES["subset"]
    outsider = next(a for a in NB201.enumerate() if a not in subset)
    with pytest.raises(InvalidArchitectureError, match="subset"):
        subset.decode(NB201.encode(outsider))


def test_free_form_spaces_have_no_encoding() -> None:
    space = CNNSpace()
    with pytest.raises(BonasError, match="CNNSpace has no categorical encoding"):
        space.categories()
    with pytest.raises(BonasError, match="no categorical encoding"):
        space.encode(space.sample(0))

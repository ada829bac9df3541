"""NASBOT's CNN and MLP spaces: masses, constraints, primitives, initial pool."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from bonas import Architecture, InvalidArchitectureError, InvalidSpaceError
from bonas.spaces import (
    PRIMITIVE_MASSES,
    CNNSpace,
    MLPSpace,
    blocked_cnn,
    layer_masses,
    vgg_net,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "dragonfly_layer_masses.json"


def _fixture_networks() -> list[dict]:
    return json.loads(FIXTURE.read_text())["networks"]


@pytest.mark.parametrize("net", _fixture_networks(), ids=lambda n: n["name"])
def test_layer_masses_match_dragonfly(net: dict) -> None:
    arch = Architecture.from_layers(
        net["labels"],
        net["units"],
        [tuple(e) for e in net["edges"]],
        net["strides"],
        vocabulary=net["vocabulary"],
    )
    np.testing.assert_allclose(layer_masses(arch), net["masses"], rtol=1e-12)


def test_worked_mass_example() -> None:
    # ip -> conv3(16) -> {conv3(16), conv5(16), conv3(32)/2}; the first two -> max-pool;
    # max-pool and conv3(32) -> fc(32) -> softmax -> op  (NASBOT's masses by hand)
    arch = Architecture.from_layers(
        ["ip", "conv3", "conv3", "conv5", "conv3", "max-pool", "fc", "softmax", "op"],
        [None, 16, 16, 16, 32, None, 32, None, None],
        [(0, 1), (1, 2), (1, 3), (1, 4), (2, 5), (3, 5), (4, 6), (5, 6), (6, 7), (7, 8)],
        [None, 1, 1, 1, 2, None, None, None, None],
    )
    processing = 16 + 16 * 16 + 16 * 16 + 16 * 32 + 32 + 0.1 * 64 * 32
    np.testing.assert_allclose(
        layer_masses(arch),
        [0.1 * processing, 16, 256, 256, 512, 32, 204.8, 0.1 * processing, 0.1 * processing],
    )


def cnn(labels: list[str], units: list, edges: list, strides: list | None = None) -> Architecture:
    return Architecture.from_layers(labels, units, edges, strides, vocabulary="cnn")


CHAIN5 = (
    ["ip", "conv3", "fc", "softmax", "op"],
    [None, 16, 32, None, None],
    [(0, 1), (1, 2), (2, 3), (3, 4)],
)


@pytest.mark.parametrize(
    ("space", "arch", "rule"),
    [
        (CNNSpace(max_num_layers=8), vgg_net(1), "num-layers"),
        (CNNSpace(min_num_layers=6), cnn(*CHAIN5), "num-layers"),
        (CNNSpace(max_units=16), cnn(*CHAIN5), "units-range"),
        (CNNSpace(min_units=20), cnn(*CHAIN5), "units-range"),
        (
            CNNSpace(max_in_degree=1),
            blocked_cnn(3, 1, 1).replace(edges=[*blocked_cnn(3, 1, 1).edges, (1, 3)]),
            "in-degree",
        ),
        (
            CNNSpace(max_out_degree=1),
            blocked_cnn(3, 1, 1).replace(edges=[*blocked_cnn(3, 1, 1).edges, (1, 3)]),
            "out-degree",
        ),
        (CNNSpace(max_num_edges=3), cnn(*CHAIN5), "num-edges"),
        (CNNSpace(max_mass=10), cnn(*CHAIN5), "mass"),
        (CNNSpace(max_num_2strides=2), blocked_cnn(3, 1, 1), "num-2strides"),
        (
            CNNSpace(),
            cnn(
                ["ip", "max-pool", "conv3", "fc", "softmax", "op"],
                [None, None, 16, 32, None, None],
                [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)],
            ),
            "conv-after-input",
        ),
        (
            CNNSpace(),
            cnn(
                ["ip", "conv3", "fc", "conv3", "softmax", "op"],
                [None, 16, 32, 16, None, None],
                [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)],
            ),
            "image-size",
        ),
        (
            CNNSpace(),
            cnn(
                ["ip", "conv3", "conv3", "conv3", "fc", "softmax", "op"],
                [None, 16, 16, 16, 32, None, None],
                [(0, 1), (1, 2), (1, 3), (2, 4), (3, 4), (4, 5), (5, 6)],
                [None, 1, 2, 1, None, None, None],
            ),
            "image-size",
        ),
        (
            CNNSpace(),
            cnn(
                ["ip", "conv3", "conv3", "fc", "op"],
                [None, 16, 16, 32, None],
                [(0, 1), (1, 2), (2, 3), (3, 4)],
            ),
            "decision-layers",
        ),
        (
            MLPSpace(task="reg"),
            Architecture.from_layers(
                ["ip", "relu", "tanh", "softmax", "op"],
                [None, 16, 16, None, None],
                [(0, 1), (1, 2), (2, 3), (3, 4)],
            ),
            "decision-layers",
        ),
    ],
)
def test_constraints_are_enforced(space: CNNSpace, arch: Architecture, rule: str) -> None:
    with pytest.raises(InvalidArchitectureError) as info:
        space.validate(arch)
    assert info.value.rule == rule
    assert not space.contains(arch)


def test_defaults_are_nasbots() -> None:
    config = CNNSpace().config()
    assert config["max_num_layers"] == 60 and config["min_num_layers"] == 5
    assert config["max_in_degree"] == 5 and config["max_out_degree"] == 55
    assert config["max_num_edges"] == 200
    assert (config["min_units"], config["max_units"]) == (8, 1024)


def test_bad_constraints_are_rejected() -> None:
    with pytest.raises(InvalidSpaceError, match="min_num_layers <= max_num_layers"):
        CNNSpace(min_num_layers=10, max_num_layers=5)
    with pytest.raises(InvalidSpaceError, match="task"):
        MLPSpace(task="ranking")


def test_primitive_masses_are_nasbots() -> None:
    assert PRIMITIVE_MASSES == {
        "inc_single": 0.1,
        "dec_single": 0.1,
        "inc_en_masse": 0.1,
        "dec_en_masse": 0.1,
        "swap_layer": 0.2,
        "wedge_layer": 0.1,
        "remove_layer": 0.1,
        "branch": 0.2,
        "skip": 0.2,
    }


@pytest.mark.parametrize("space", [CNNSpace(), MLPSpace()], ids=["cnn", "mlp"])
@pytest.mark.parametrize("primitive", sorted(PRIMITIVE_MASSES))
def test_every_primitive_yields_valid_mutants(space: CNNSpace, primitive: str) -> None:
    rng = np.random.default_rng(0)
    valid = 0
    for arch in space.initial_pool()[:6]:
        for _ in range(4):
            try:
                child = space.apply_primitive(arch, primitive, rng)
            except InvalidArchitectureError:
                continue
            if space.contains(child) and child != arch:
                valid += 1
    assert valid >= 6, f"{primitive} produced only {valid} valid mutants of 24 draws"


def test_unit_primitives_scale_by_one_eighth() -> None:
    space = CNNSpace()
    arch = blocked_cnn(3, 2, 1)
    rng = np.random.default_rng(0)
    child = space.apply_primitive(arch, "inc_single", rng)
    changed = [(a, b) for a, b in zip(arch.units, child.units, strict=True) if a != b]
    assert len(changed) == 1
    before, after = changed[0]
    assert after == round(before * 1.125)
    child = space.apply_primitive(arch, "dec_en_masse", rng)
    changed = [(a, b) for a, b in zip(arch.units, child.units, strict=True) if a != b]
    assert len(changed) >= 2
    assert all(b == round(a * 0.875) for a, b in changed)


def test_structural_primitives_change_the_graph() -> None:
    space = CNNSpace()
    arch = blocked_cnn(3, 2, 1)
    rng = np.random.default_rng(1)
    assert space.apply_primitive(arch, "wedge_layer", rng).num_layers == arch.num_layers + 1
    assert space.apply_primitive(arch, "remove_layer", rng).num_layers == arch.num_layers - 1
    branched = space.apply_primitive(arch, "branch", rng)
    assert len(branched.edges) > len(arch.edges)
    for _ in range(20):
        try:
            skipped = space.apply_primitive(arch, "skip", rng)
            break
        except InvalidArchitectureError:
            continue
    assert len(skipped.edges) > len(arch.edges)


def test_mutation_uses_every_primitive_in_proportion() -> None:
    space = CNNSpace()
    rng = np.random.default_rng(0)
    seen: Counter[str] = Counter()
    original = space.apply_primitive

    def spy(arch: Architecture, primitive: str, gen: object) -> Architecture:
        seen[primitive] += 1
        return original(arch, primitive, gen)

    space.apply_primitive = spy  # type: ignore[method-assign]
    arch = blocked_cnn(3, 2, 1)
    for _ in range(400):
        space.mutate(arch, rng)
    total = sum(seen.values())
    assert set(seen) == set(PRIMITIVE_MASSES)
    assert seen["swap_layer"] / total > seen["inc_single"] / total


def test_initial_pool_is_valid_and_varied() -> None:
    for space in (CNNSpace(), MLPSpace(task="reg"), MLPSpace(task="class")):
        pool = space.initial_pool()
        assert len(set(pool)) == len(pool) >= 10
        assert all(space.contains(a) for a in pool)


def test_cnn_samples_span_ten_to_thirty_layers() -> None:
    rng = np.random.default_rng(0)
    sizes = [CNNSpace().sample(rng).num_layers for _ in range(40)]
    assert min(sizes) <= 12 and max(sizes) >= 24


def test_mutate_steps_applies_several_steps() -> None:
    space = CNNSpace()
    arch = blocked_cnn(3, 2, 1)
    child = space.mutate_steps(arch, 0, num_steps=5)
    assert space.contains(child) and child != arch


def test_validation_is_remembered_per_object_and_not_pickled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """mutate() validates its parent, usually the mutant just validated: the space
    remembers the objects it found valid, by identity, and forgets them in a copy."""
    import pickle

    space = CNNSpace()
    # a fresh object: the sampled one was remembered when sample() validated it
    arch = Architecture.from_json(space.sample(np.random.default_rng(0)).to_json())
    checks = []
    original = type(space)._validate
    monkeypatch.setattr(
        type(space), "_validate", lambda self, a: (checks.append(a), original(self, a))
    )
    space.validate(arch)
    space.validate(arch)
    assert len(checks) == 1  # the second call was remembered
    twin = Architecture.from_json(arch.to_json())  # equal, but another object
    space.validate(twin)
    assert len(checks) == 2
    small = CNNSpace(max_num_layers=arch.num_layers - 1)  # its own memory
    with pytest.raises(InvalidArchitectureError, match="num-layers"):
        small.validate(arch)
    copy = pickle.loads(pickle.dumps(space))
    assert copy._known_valid == {}
    copy.validate(arch)
    assert len(checks) == 4
    monkeypatch.setattr(type(space), "known_valid_size", 2)
    for a in [space.sample(np.random.default_rng(s)) for s in range(3)]:
        space.validate(a)
    assert len(space._known_valid) <= 2

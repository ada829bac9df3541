"""Architecture: validation rules, identity under relabelling, serialisation."""

from __future__ import annotations

import json
import pickle

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bonas import Architecture, BonasError, InvalidArchitectureError, SerializationError
from bonas.spaces import CNNSpace, blocked_cnn, multidepth_cnn, resnet_cnn

from .helpers import relabel

CHAIN = dict(
    labels=["ip", "conv3", "max-pool", "fc", "softmax", "op"],
    units=[None, 16, None, 32, None, None],
    edges=[(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)],
)


def chain(**changes: object) -> Architecture:
    spec = {**CHAIN, **changes}
    return Architecture.from_layers(spec["labels"], spec["units"], spec["edges"], vocabulary="cnn")


NETWORKS = [blocked_cnn(3, 2, 1), resnet_cnn(2), multidepth_cnn((1, 2, 3))]


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(range(len(NETWORKS))), st.randoms(use_true_random=False))
def test_equality_and_hash_ignore_numbering(which: int, random: object) -> None:
    arch = NETWORKS[which]
    perm = list(range(arch.num_layers))
    random.shuffle(perm)  # type: ignore[attr-defined]
    other = relabel(arch, perm)
    assert other == arch
    assert hash(other) == hash(arch)
    assert other.canonical_hash == arch.canonical_hash


@pytest.mark.parametrize(
    "changes",
    [
        dict(units=[None, 17, None, 32, None, None]),
        dict(labels=["ip", "conv5", "max-pool", "fc", "softmax", "op"]),
        dict(labels=["ip", "conv3", "avg-pool", "fc", "softmax", "op"]),
    ],
)
def test_different_architectures_differ(changes: dict) -> None:
    assert chain(**changes) != chain()
    assert chain(**changes).canonical_hash != chain().canonical_hash


def test_strides_take_part_in_identity() -> None:
    strided = Architecture.from_layers(
        CHAIN["labels"], CHAIN["units"], CHAIN["edges"], strides=[None, 2, None, None, None, None]
    )
    assert strided != chain()


def test_hash_collision_falls_back_to_exact_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """When WL hashes collide, equality must still be decided exactly."""
    monkeypatch.setattr("bonas.architecture._canonical_hash", lambda graph, name: "same")
    a = chain()
    b = chain(units=[None, 17, None, 32, None, None])
    assert a.canonical_hash == b.canonical_hash == "same"
    assert a != b
    assert a == relabel(a, [5, 2, 1, 3, 4, 0])


def test_json_round_trip() -> None:
    for arch in NETWORKS:
        text = arch.to_json()
        again = Architecture.from_json(text)
        assert again == arch
        assert again.labels == arch.labels and again.edges == arch.edges
        assert json.loads(text)["format"] == "bonas.architecture"


def test_pickle_round_trip() -> None:
    for arch in NETWORKS:
        again = pickle.loads(pickle.dumps(arch))
        assert again == arch and again.units == arch.units


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("not json", "does not parse"),
        ('{"format": "something-else"}', "not a bonas architecture"),
        ('{"format": "bonas.architecture", "version": 99}', "unsupported"),
        ('{"format": "bonas.architecture", "version": 1, "labels": []}', "lacks the keys"),
    ],
)
def test_bad_json_is_a_clear_error(text: str, match: str) -> None:
    with pytest.raises(SerializationError, match=match):
        Architecture.from_json(text)


def test_json_with_invalid_graph_is_rejected() -> None:
    data = chain().to_dict()
    data["edges"].append([5, 0])
    with pytest.raises(InvalidArchitectureError):
        Architecture.from_dict(data)


def test_unknown_vocabulary_is_a_bonas_error() -> None:
    data = chain().to_dict()
    data["vocabulary"] = "nope"
    with pytest.raises(BonasError, match="unknown vocabulary"):
        Architecture.from_dict(data)


def test_space_samples_round_trip_through_networkx() -> None:
    space = CNNSpace()
    rng = np.random.default_rng(3)
    for _ in range(5):
        arch = space.sample(rng)
        graph = arch.to_networkx()
        assert nx.is_directed_acyclic_graph(graph)
        assert Architecture.from_networkx(graph, vocabulary="cnn") == arch


@pytest.mark.parametrize("space_name", ["cnn", "mlp", "nb201", "nb101", "darts"])
def test_order_and_neighbours_agree_with_networkx(space_name: str) -> None:
    """Architectures keep their own adjacency and topological order (built without
    networkx, for speed); both must be what networkx computes on the graph."""
    from bonas.spaces import get_space

    space = get_space(space_name)
    rng = np.random.default_rng(5)
    for _ in range(15):
        arch = space.sample(rng)
        graph = arch.to_networkx()
        assert arch.topological_order() == tuple(nx.lexicographical_topological_sort(graph))
        for layer in range(arch.num_layers):
            assert arch.predecessors(layer) == tuple(sorted(graph.predecessors(layer)))
            assert arch.successors(layer) == tuple(sorted(graph.successors(layer)))
        assert {i: d["label"] for i, d in graph.nodes(data=True)} == dict(enumerate(arch.labels))
        assert sorted(graph.edges) == list(arch.edges)


def test_a_cycle_and_an_off_path_layer_are_named() -> None:
    with pytest.raises(InvalidArchitectureError, match=r"cycle through layers \[1, 2\]"):
        chain(edges=[(0, 1), (1, 2), (2, 1), (2, 3), (3, 4), (4, 5)])
    with pytest.raises(InvalidArchitectureError, match=r"layers \[2\] \(\['max-pool'\]\)"):
        chain(edges=[(0, 1), (1, 3), (3, 4), (4, 5), (0, 2)])


@pytest.mark.parametrize(
    ("edges", "match"),
    [
        ([(0, 1), (1, 2), (1, 2), (2, 3), (3, 4), (4, 5)], r"\[edges\] edge \(1, 2\) is repeated"),
        ([(0, 1), (1, 1), (1, 2), (2, 3), (3, 4), (4, 5)], r"\[acyclic\] layer 1 has an edge to"),
        ([(0, 1), (1, 2), (2, 3), (3, 4), (4, 6)], r"edge \(4, 6\) must join two layer indices"),
        ([(0, 1), (1, 2), (2, 3), (3, 4), (4, -5)], r"edge \(4, -5\) must join"),
        ([(0, True), (1, 2), (2, 3), (3, 4), (4, 5)], r"edge \(0, True\) must join"),
        ([(0, 1), (1, 2, 3), (2, 3), (3, 4), (4, 5)], r"edge \(1, 2, 3\) must join"),
        # a second layer without predecessors, and one without successors
        ([(0, 1), (2, 3), (1, 3), (3, 4), (4, 5)], r"\[on-path\] layers \[2\] \(\['max-pool'\]\)"),
        ([(0, 1), (1, 2), (1, 3), (3, 4), (4, 5)], r"\[on-path\] layers \[2\] \(\['max-pool'\]\)"),
    ],
)
def test_each_broken_edge_rule_is_named(edges: list, match: str) -> None:
    """The common case is checked in bulk; each rule it can miss is then named by the
    per-edge and per-layer walks."""
    with pytest.raises(InvalidArchitectureError, match=match):
        chain(edges=edges)


def test_numpy_indices_are_stored_as_plain_ints() -> None:
    arch = chain(
        edges=[(np.int64(u), np.int32(v)) for u, v in CHAIN["edges"]],
        units=[None, np.int64(16), None, 32, None, None],
    )
    assert arch == chain()
    assert {type(x) for edge in arch.edges for x in edge} == {int}
    assert arch.to_json() == chain().to_json()


def test_canonical_hashes_stay_what_they_were() -> None:
    """Training checkpoints are named by the canonical hash: a change of the hash, even
    one that keeps its properties, would orphan the files of a search being resumed."""
    assert blocked_cnn(3, 2, 1).canonical_hash.startswith("631a11fdb58fdfc168e85e85")
    assert resnet_cnn(2).canonical_hash.startswith("0d2e2d5d478292ec255e1884")

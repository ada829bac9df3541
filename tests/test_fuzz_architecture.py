"""Whatever the architecture entry points are fed, only bonas errors escape:
``Architecture.from_layers``, ``from_json``, ``from_dict`` and ``from_networkx``."""

from __future__ import annotations

import contextlib
import json

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bonas import Architecture, BonasError
from bonas.spaces import NB201Space

HUGE = st.integers(min_value=10**100, max_value=10**5000)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), HUGE, st.floats(allow_nan=True),
    st.text(max_size=8), st.binary(max_size=4),
)  # fmt: skip
LABELS = st.lists(
    st.one_of(st.sampled_from(["ip", "op", "conv3", "fc", "softmax", "max-pool"]), SCALARS),
    max_size=6,
)
UNITS = st.lists(st.one_of(st.none(), st.integers(-5, 300), SCALARS), max_size=6)
EDGES = st.one_of(
    st.lists(st.tuples(st.integers(-2, 7), st.integers(-2, 7)), max_size=8),
    st.lists(st.one_of(SCALARS, st.tuples(SCALARS, SCALARS, SCALARS)), max_size=4),
    SCALARS,
)
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), HUGE, st.floats(), st.text(max_size=8)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=20,
)
VALID = json.loads(NB201Space().sample(0).to_json())
FUZZ = settings(
    max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
pytestmark = pytest.mark.usefixtures("long_int_reprs")


def only_bonas_errors(build) -> None:
    with contextlib.suppress(BonasError):
        build()


@FUZZ
@given(LABELS, UNITS, EDGES, st.one_of(st.none(), UNITS))
def test_from_layers(labels, units, edges, strides) -> None:
    only_bonas_errors(lambda: Architecture.from_layers(labels, units, edges, strides))


@FUZZ
@given(JSON, st.sampled_from(sorted(VALID)), st.binary(max_size=30))
def test_from_json_and_from_dict(value, key, raw) -> None:
    only_bonas_errors(lambda: Architecture.from_json(json.dumps(value)))
    only_bonas_errors(lambda: Architecture.from_json(json.dumps({**VALID, key: value})))
    only_bonas_errors(lambda: Architecture.from_json(raw))  # type: ignore[arg-type]
    only_bonas_errors(lambda: Architecture.from_dict(value))


@FUZZ
@given(JSON, SCALARS)
def test_from_networkx(value, units) -> None:
    for graph in (nx.DiGraph(), nx.MultiDiGraph(), nx.Graph()):
        graph.add_node(0, label=value, units=None)
        graph.add_node(1, label="op", units=units)
        graph.add_edge(0, 1)
        only_bonas_errors(lambda graph=graph: Architecture.from_networkx(graph))
    only_bonas_errors(lambda: Architecture.from_networkx(value))  # type: ignore[arg-type]


def test_deep_nesting_and_huge_units_are_named() -> None:
    with pytest.raises(BonasError, match="nests too deep"):
        Architecture.from_json("[" * 100_000 + "]" * 100_000)
    with pytest.raises(BonasError, match=r"\[units\] .* layers \[1\] have \[.an integer of"):
        Architecture.from_layers(
            ["ip", "fc", "op"], [None, 10**5000, None], [(0, 1), (1, 2)], vocabulary="cnn"
        )
    with pytest.raises(
        BonasError, match=r"\[graph\] expected a networkx.DiGraph, got MultiDiGraph"
    ):
        Architecture.from_networkx(nx.MultiDiGraph())

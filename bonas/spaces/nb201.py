"""The NAS-Bench-201 cell space (Dong & Yang, ICLR 2020): 5 ops on 6 edges, 15,625 cells.

A cell has four nodes; node ``j`` sums ``op(node i)`` over ``i < j`` and node 3 is the
output. The official string lists the ops node by node::

    |op~0|+|op~0|op~1|+|op~0|op~1|op~2|

The :class:`~bonas.architecture.Architecture` of a cell keeps every edge, ``none``
included, so the string round-trips exactly:

* cell node 0 is the ``ip`` layer, node 3 the ``op`` layer, nodes 1 and 2 ``sum`` layers;
* each cell edge ``i -> j`` becomes a layer labelled with its op, between node ``i`` and
  node ``j``.

For distances, :meth:`NB201Space.layer_graph` gives the *layer graph*, which describes
what is computed: ``none`` edges are dropped (they pass nothing), then every layer that
no longer lies on an input-output path is removed. A cell whose output receives nothing
becomes ``ip -> zero -> op``.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import networkx as nx

from bonas.architecture import Architecture
from bonas.exceptions import InvalidArchitectureError
from bonas.spaces.base import SearchSpace
from bonas.vocabulary import NB201_VOCABULARY

__all__ = ["NB201_EDGES", "NB201_OPS", "NB201Space"]

NB201_OPS: tuple[str, ...] = (
    "none",
    "skip_connect",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "avg_pool_3x3",
)
#: Cell edges ``(from, to)`` in the order of the official string's slots.
NB201_EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))

# Layer indices of the cell nodes in the cell-graph Architecture; edge layers follow.
_NODE_LAYER = (0, 2, 3, 1)
_NODE_LABELS = ("ip", "op", "sum", "sum")


class NB201Space(SearchSpace):
    """The NAS-Bench-201 topology space.

    Mutation changes the op of one edge to another op (NASLib's NB201 mutation);
    :meth:`neighbours` lists all 24 such changes.

    Example:
        >>> space = NB201Space()
        >>> arch = space.from_string("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|"
        ...                          "avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|")
        >>> space.to_string(arch)[:15]
        '|nor_conv_3x3~0'
        >>> space.size
        15625
    """

    name = "nb201"
    vocabulary = NB201_VOCABULARY

    # -- conversions -------------------------------------------------------------

    def from_ops(self, ops: Sequence[str]) -> Architecture:
        """The cell with ``ops[k]`` on edge ``NB201_EDGES[k]``."""
        ops = tuple(ops)
        if len(ops) != len(NB201_EDGES):
            raise InvalidArchitectureError(
                "nb201-cell", f"an NB201 cell has 6 edge ops, got {len(ops)}: {list(ops)}"
            )
        bad = [op for op in ops if op not in NB201_OPS]
        if bad:
            raise InvalidArchitectureError(
                "vocabulary", f"unknown NB201 ops {bad}; allowed: {list(NB201_OPS)}"
            )
        labels = list(_NODE_LABELS) + list(ops)
        edges = []
        for k, (src, dst) in enumerate(NB201_EDGES):
            layer = 4 + k
            edges += [(_NODE_LAYER[src], layer), (layer, _NODE_LAYER[dst])]
        return Architecture(labels, [None] * 10, edges, [None] * 10, NB201_VOCABULARY)

    def to_ops(self, arch: Architecture) -> tuple[str, ...]:
        """The six edge ops of a cell, in :data:`NB201_EDGES` order."""
        self._check_vocabulary(arch)
        node_of = self._cell_nodes(arch)
        ops: dict[tuple[int, int], str] = {}
        for layer, label in enumerate(arch.labels):
            if label not in NB201_OPS:
                continue
            preds, succs = arch.predecessors(layer), arch.successors(layer)
            if (
                len(preds) != 1
                or len(succs) != 1
                or preds[0] not in node_of
                or (succs[0] not in node_of)
            ):
                raise InvalidArchitectureError(
                    "nb201-cell", f"op layer {layer} ({label}) must join two cell nodes", (layer,)
                )
            key = (node_of[preds[0]], node_of[succs[0]])
            if key not in NB201_EDGES or key in ops:
                raise InvalidArchitectureError(
                    "nb201-cell",
                    f"op layer {layer} sits on an invalid or repeated edge {key}",
                    (layer,),
                )
            ops[key] = label
        if len(ops) != len(NB201_EDGES) or any(
            lab not in NB201_OPS and lab not in ("ip", "op", "sum") for lab in arch.labels
        ):
            raise InvalidArchitectureError(
                "nb201-cell",
                f"an NB201 cell has 4 nodes and 6 op layers; got {arch.num_layers} layers "
                f"{list(arch.labels)}",
            )
        return tuple(ops[e] for e in NB201_EDGES)

    def from_string(self, arch_str: str) -> Architecture:
        """Parse the official string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``."""
        nodes = arch_str.split("+")
        ops: list[str] = []
        try:
            if len(nodes) != 3:
                raise ValueError("expected 3 node groups separated by '+'")
            for j, group in enumerate(nodes, start=1):
                tokens = [t for t in group.strip().split("|") if t]
                if len(tokens) != j:
                    raise ValueError(f"node {j} lists {len(tokens)} inputs, expected {j}")
                for i, token in enumerate(tokens):
                    op, src = token.split("~")
                    if int(src) != i:
                        raise ValueError(f"node {j} input {i} names node {src}")
                    ops.append(op)
        except ValueError as err:
            raise InvalidArchitectureError(
                "nb201-string", f"cannot parse NB201 string {arch_str!r}: {err}"
            ) from None
        # the string lists edges grouped by destination, which is NB201_EDGES order.
        return self.from_ops(ops)

    def to_string(self, arch: Architecture) -> str:
        """The official NB201 string of a cell."""
        ops = dict(zip(NB201_EDGES, self.to_ops(arch), strict=True))
        groups = ["|" + "|".join(f"{ops[(i, j)]}~{i}" for i in range(j)) + "|" for j in (1, 2, 3)]
        return "+".join(groups)

    def layer_graph(self, arch: Architecture) -> Architecture:
        """The computation the cell performs, as a layer graph for distances.

        ``none`` edges are dropped, then layers off every input-output path are pruned;
        a cell whose output receives nothing becomes ``ip -> zero -> op``.
        """
        ops = self.to_ops(arch)
        graph = nx.DiGraph()
        graph.add_node("n0", label="ip")
        graph.add_node("n3", label="op")
        for node in ("n1", "n2"):
            graph.add_node(node, label="sum")
        for k, ((src, dst), op) in enumerate(zip(NB201_EDGES, ops, strict=True)):
            if op == "none":
                continue
            graph.add_node(f"e{k}", label=op)
            graph.add_edges_from([(f"n{src}", f"e{k}"), (f"e{k}", f"n{dst}")])
        reach = nx.descendants(graph, "n0") | {"n0"}
        if "n3" not in reach:
            graph = nx.DiGraph()
            graph.add_node("n0", label="ip")
            graph.add_node("z", label="zero")
            graph.add_node("n3", label="op")
            graph.add_edges_from([("n0", "z"), ("z", "n3")])
        else:
            keep = reach & (nx.ancestors(graph, "n3") | {"n3"})
            graph = graph.subgraph(sorted(keep)).copy()
        return Architecture.from_networkx(graph, vocabulary=NB201_VOCABULARY)

    # -- SearchSpace ------------------------------------------------------------------

    def validate(self, arch: Architecture) -> None:
        self.to_ops(arch)

    def _sample(self, rng: Any) -> Architecture:
        return self.from_ops([NB201_OPS[i] for i in rng.integers(len(NB201_OPS), size=6)])

    def _propose_mutant(self, arch: Architecture, rng: Any) -> Architecture:
        ops = list(self.to_ops(arch))
        slot = int(rng.integers(len(ops)))
        choices = [op for op in NB201_OPS if op != ops[slot]]
        ops[slot] = choices[int(rng.integers(len(choices)))]
        return self.from_ops(ops)

    def neighbours(self, arch: Architecture) -> list[Architecture]:
        ops = self.to_ops(arch)
        result = []
        for slot, current in enumerate(ops):
            for op in NB201_OPS:
                if op != current:
                    result.append(self.from_ops((*ops[:slot], op, *ops[slot + 1 :])))
        return result

    @property
    def is_finite(self) -> bool:
        return True

    def enumerate(self) -> Iterator[Architecture]:
        """All 15,625 cells, in lexicographic order of op indices per edge slot (built
        once per process and shared: exhaustive acquisition scoring walks them often)."""
        return iter(_all_cells())

    @property
    def size(self) -> int:
        return len(NB201_OPS) ** len(NB201_EDGES)

    @staticmethod
    def _cell_nodes(arch: Architecture) -> dict[int, int]:
        """Map the layers that stand for cell nodes to the cell node numbers 0..3."""
        sums = [i for i, label in enumerate(arch.labels) if label == "sum"]
        if len(sums) != 2:
            raise InvalidArchitectureError(
                "nb201-cell", f"an NB201 cell has 2 sum layers, got {len(sums)}", tuple(sums)
            )
        # node 1 has one incoming edge, node 2 has two.
        by_indegree = sorted(sums, key=lambda layer: len(arch.predecessors(layer)))
        return {arch.input_layer: 0, by_indegree[0]: 1, by_indegree[1]: 2, arch.output_layer: 3}


@functools.cache
def _all_cells() -> tuple[Architecture, ...]:
    space = NB201Space()
    return tuple(space.from_ops(ops) for ops in itertools.product(NB201_OPS, repeat=6))

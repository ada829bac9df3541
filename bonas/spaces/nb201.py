"""The NAS-Bench-201 cell space (Dong & Yang, ICLR 2020): 5 ops on 6 edges, 15,625 cells.

A cell has four nodes; node ``j`` sums ``op(node i)`` over ``i < j`` and node 3 is the
output (the 4-node :class:`~bonas.spaces.cell.CellSpace`). The official string lists the
ops node by node::

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
from collections.abc import Iterator
from typing import Any

import networkx as nx

from bonas.architecture import Architecture
from bonas.spaces.cell import CellSpace, cell_edges
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
NB201_EDGES: tuple[tuple[int, int], ...] = cell_edges(4)


class NB201Space(CellSpace):
    """The NAS-Bench-201 topology space: the 4-node :class:`CellSpace` over
    :data:`NB201_OPS`, with the ``nb201`` vocabulary.

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
    default_kernel = "wl"
    vocabulary = NB201_VOCABULARY
    _rule = "nb201"

    def __init__(self) -> None:
        super().__init__(NB201_OPS, nodes=4, vocabulary=NB201_VOCABULARY)

    def config(self) -> dict[str, Any]:
        return {}

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

    def enumerate(self) -> Iterator[Architecture]:
        """All 15,625 cells, in lexicographic order of op indices per edge slot (built
        once per process and shared: exhaustive acquisition scoring walks them often)."""
        return iter(_all_cells())


@functools.cache
def _all_cells() -> tuple[Architecture, ...]:
    space = NB201Space()
    return tuple(space.from_ops(ops) for ops in itertools.product(NB201_OPS, repeat=6))

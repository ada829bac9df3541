"""Cell spaces in the NAS-Bench-201 style: an op on every edge of a complete DAG.

A cell has ``nodes`` nodes; node ``j`` sums ``op(node i)`` over every ``i < j``, node 0
is the input and the last node the output. Its string lists the ops node by node, as
NAS-Bench-201's does (Dong & Yang, ICLR 2020)::

    |op~0|+|op~0|op~1|+|op~0|op~1|op~2|            (4 nodes, 6 edges)

The :class:`~bonas.architecture.Architecture` of a cell keeps every edge, so the string
round-trips exactly: cell node 0 is the ``ip`` layer, the last node the ``op`` layer,
the others ``sum`` layers, and each cell edge ``i -> j`` is a layer labelled with its
op, between node ``i`` and node ``j``. Layer ``0`` is the input node, layer ``1`` the
output node, layers ``2 .. nodes-1`` the inner nodes in order, then one layer per edge.

:class:`CellSpace` takes any op vocabulary and node count; it is what a user's table of
cell strings is searched in (:mod:`bonas.benchmarks.tables.user`), and
:class:`~bonas.spaces.NB201Space` is its 4-node, 5-op instance.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

from bonas.architecture import Architecture
from bonas.exceptions import InvalidArchitectureError, InvalidSpaceError
from bonas.spaces.base import SearchSpace
from bonas.vocabulary import Vocabulary, derived_vocabulary

__all__ = ["CellSpace", "cell_edges", "split_cell_string"]

_NODE_LABELS = ("ip", "op", "sum")


def cell_edges(nodes: int) -> tuple[tuple[int, int], ...]:
    """The edges ``(i, j)``, ``i < j``, of a ``nodes``-node cell, grouped by destination
    as the cell string lists them: ``(0, 1), (0, 2), (1, 2), (0, 3), ...``."""
    return tuple((i, j) for j in range(1, nodes) for i in range(j))


def split_cell_string(text: str) -> list[list[str]]:
    """The ops of a cell string, node by node: ``"|a~0|+|b~0|c~1|"`` -> ``[["a"], ["b", "c"]]``.

    Raises:
        ValueError: Saying which node or input is malformed.
    """
    nodes = []
    for j, group in enumerate(str(text).split("+"), start=1):
        tokens = [t for t in group.strip().split("|") if t.strip()]
        if len(tokens) != j:
            raise ValueError(f"node {j} lists {len(tokens)} inputs, expected {j}")
        ops = []
        for i, token in enumerate(tokens):
            op, sep, src = token.strip().rpartition("~")
            if not sep or not op or not src.isdigit() or int(src) != i:
                raise ValueError(f"node {j} input {i} is {token!r}, expected 'op~{i}'")
            ops.append(op)
        nodes.append(ops)
    return nodes


def _cell_vocabulary(ops: tuple[str, ...]) -> Vocabulary:
    # the ops sorted: spaces over the same ops in any order share one vocabulary, so
    # their architectures compare equal
    return derived_vocabulary("cell", (*_NODE_LABELS, *sorted(ops)))


class CellSpace(SearchSpace):
    """Cells with an op from ``ops`` on each edge of a complete ``nodes``-node DAG.

    Args:
        ops: The edge ops, e.g. ``("none", "skip_connect", "conv_3x3")``.
        nodes: Cell nodes, input and output included (at least 2).

    Mutation changes the op of one edge (NASLib's NB201 mutation); :meth:`neighbours`
    lists all ``edges * (len(ops) - 1)`` such changes. The space has
    ``len(ops) ** edges`` cells.

    Raises:
        InvalidSpaceError: If ``nodes < 2``, ``ops`` is empty or repeats an op, or an op
            is one of the node labels ``ip``, ``op``, ``sum``.

    Example:
        >>> space = CellSpace(("none", "conv", "pool"), nodes=3)
        >>> arch = space.from_string("|conv~0|+|pool~0|none~1|")
        >>> space.to_ops(arch), space.size, len(space.neighbours(arch))
        (('conv', 'pool', 'none'), 27, 6)
    """

    name = "cell"
    default_kernel = "wl"
    vocabulary = None  # type: ignore[assignment]  # set per instance from the ops
    #: The family named in error messages' rules, e.g. ``cell-string``.
    _rule = "cell"

    def __init__(
        self, ops: Sequence[str], nodes: int = 4, *, vocabulary: Vocabulary | None = None
    ) -> None:
        ops = tuple(str(op) for op in ops)
        if nodes < 2:
            raise InvalidSpaceError(f"a cell needs at least 2 nodes, got nodes={nodes}")
        if not ops or len(set(ops)) != len(ops):
            raise InvalidSpaceError(f"a cell space needs distinct ops, got {list(ops)}")
        reserved = sorted(set(ops) & set(_NODE_LABELS))
        if reserved:
            raise InvalidSpaceError(
                f"ops {reserved} clash with the cell's node labels {list(_NODE_LABELS)}"
            )
        self.ops = ops
        self.nodes = int(nodes)
        self.edges = cell_edges(self.nodes)
        self.vocabulary = vocabulary or _cell_vocabulary(ops)  # type: ignore[misc]
        self._op_set = frozenset(ops)

    def config(self) -> dict[str, Any]:
        return {"ops": list(self.ops), "nodes": self.nodes}

    # -- conversions -------------------------------------------------------------

    def _node_layer(self, node: int) -> int:
        return 0 if node == 0 else 1 if node == self.nodes - 1 else node + 1

    def from_ops(self, ops: Sequence[str]) -> Architecture:
        """The cell with ``ops[k]`` on edge ``self.edges[k]``."""
        ops = tuple(ops)
        if len(ops) != len(self.edges):
            raise InvalidArchitectureError(
                f"{self._rule}-cell",
                f"a {self.nodes}-node cell has {len(self.edges)} edge ops, got {len(ops)}: "
                f"{list(ops)}",
            )
        bad = [op for op in ops if op not in self._op_set]
        if bad:
            raise InvalidArchitectureError(
                "vocabulary", f"unknown ops {bad}; allowed: {list(self.ops)}"
            )
        labels = ["ip", "op", *(["sum"] * (self.nodes - 2)), *ops]
        first_edge_layer = self.nodes
        edges = []
        for k, (src, dst) in enumerate(self.edges):
            layer = first_edge_layer + k
            edges += [(self._node_layer(src), layer), (layer, self._node_layer(dst))]
        none = [None] * len(labels)
        return Architecture(labels, none, edges, none, self.vocabulary)

    def categories(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """One variable per edge, ``edge_{src}_{dst}``, choosing among :attr:`ops`."""
        return tuple((f"edge_{src}_{dst}", self.ops) for src, dst in self.edges)

    def encode(self, arch: Architecture) -> tuple[int, ...]:
        """The index in :attr:`ops` of each edge's op, in :attr:`edges` order."""
        index = {op: i for i, op in enumerate(self.ops)}
        return tuple(index[op] for op in self.to_ops(arch))

    def decode(self, codes: Sequence[int]) -> Architecture:
        """The cell whose edge ``k`` carries ``ops[codes[k]]``."""
        return self.from_ops([self.ops[c] for c in self._check_codes(codes)])

    def to_ops(self, arch: Architecture) -> tuple[str, ...]:
        """The edge ops of a cell, in :attr:`edges` order."""
        self._check_vocabulary(arch)
        node_of = self._cell_nodes(arch)
        ops: dict[tuple[int, int], str] = {}
        for layer, label in enumerate(arch.labels):
            if label not in self._op_set:
                continue
            preds, succs = arch.predecessors(layer), arch.successors(layer)
            if (
                len(preds) != 1
                or len(succs) != 1
                or preds[0] not in node_of
                or (succs[0] not in node_of)
            ):
                raise InvalidArchitectureError(
                    f"{self._rule}-cell",
                    f"op layer {layer} ({label}) must join two cell nodes",
                    (layer,),
                )
            key = (node_of[preds[0]], node_of[succs[0]])
            if key[0] >= key[1] or key in ops:
                raise InvalidArchitectureError(
                    f"{self._rule}-cell",
                    f"op layer {layer} sits on an invalid or repeated edge {key}",
                    (layer,),
                )
            ops[key] = label
        if len(ops) != len(self.edges) or any(
            label not in self._op_set and label not in _NODE_LABELS for label in arch.labels
        ):
            raise InvalidArchitectureError(
                f"{self._rule}-cell",
                f"a {self.nodes}-node cell has {self.nodes - 2} sum layers and "
                f"{len(self.edges)} op layers; got {arch.num_layers} layers {list(arch.labels)}",
            )
        return tuple(ops[e] for e in self.edges)

    def from_string(self, arch_str: str) -> Architecture:
        """Parse the cell string ``|op~0|+|op~0|op~1|+...``: one ``+``-separated group
        per node after the input, each listing ``op~i`` for every earlier node ``i``."""
        try:
            groups = split_cell_string(arch_str)
            if len(groups) != self.nodes - 1:
                raise ValueError(
                    f"expected {self.nodes - 1} node groups separated by '+', got {len(groups)}"
                )
        except ValueError as err:
            raise InvalidArchitectureError(
                f"{self._rule}-string", f"cannot parse cell string {arch_str!r}: {err}"
            ) from None
        ops = [op for group in groups for op in group]
        # the string lists edges grouped by destination, which is ``self.edges`` order.
        return self.from_ops(ops)

    def to_string(self, arch: Architecture) -> str:
        """The cell string of a cell."""
        ops = dict(zip(self.edges, self.to_ops(arch), strict=True))
        return "+".join(
            "|" + "|".join(f"{ops[(i, j)]}~{i}" for i in range(j)) + "|"
            for j in range(1, self.nodes)
        )

    # -- SearchSpace ------------------------------------------------------------------

    def validate(self, arch: Architecture) -> None:
        self.to_ops(arch)

    def _sample(self, rng: Any) -> Architecture:
        picks = rng.integers(len(self.ops), size=len(self.edges))
        return self.from_ops([self.ops[i] for i in picks])

    def _propose_mutant(self, arch: Architecture, rng: Any) -> Architecture:
        ops = list(self.to_ops(arch))
        slot = int(rng.integers(len(ops)))
        choices = [op for op in self.ops if op != ops[slot]]
        if not choices:  # a one-op space has a single cell; mutate() reports it
            return arch
        ops[slot] = choices[int(rng.integers(len(choices)))]
        return self.from_ops(ops)

    def neighbours(self, arch: Architecture) -> list[Architecture]:
        ops = self.to_ops(arch)
        result = []
        for slot, current in enumerate(ops):
            for op in self.ops:
                if op != current:
                    result.append(self.from_ops((*ops[:slot], op, *ops[slot + 1 :])))
        return result

    @property
    def is_finite(self) -> bool:
        return True

    def enumerate(self) -> Iterator[Architecture]:
        """Every cell, in lexicographic order of op indices per edge."""
        return (self.from_ops(ops) for ops in itertools.product(self.ops, repeat=len(self.edges)))

    @property
    def size(self) -> int:
        return len(self.ops) ** len(self.edges)

    def _cell_nodes(self, arch: Architecture) -> dict[int, int]:
        """Map the layers that stand for cell nodes to the cell node numbers."""
        sums = [i for i, label in enumerate(arch.labels) if label == "sum"]
        if len(sums) != self.nodes - 2:
            raise InvalidArchitectureError(
                f"{self._rule}-cell",
                f"a {self.nodes}-node cell has {self.nodes - 2} sum layers, got {len(sums)}",
                tuple(sums),
            )
        # inner node j sums one edge from each earlier node: it has j inputs.
        by_indegree = sorted(sums, key=lambda layer: len(arch.predecessors(layer)))
        node_of = {layer: j for j, layer in enumerate(by_indegree, start=1)}
        node_of[arch.input_layer] = 0
        node_of[arch.output_layer] = self.nodes - 1
        return node_of

"""The NAS-Bench-Graph space (Qin et al., NeurIPS 2022 Datasets and Benchmarks).

An architecture has four GNN layers. Its *link* ``[l0, l1, l2, l3]`` says where each
layer reads from: ``0`` is the input, ``k`` the output of layer ``k`` (1-based). The
outputs of the leaf layers (those no other layer reads) are summed into the output.
The ``nas-bench-graph`` package lists nine link patterns, up to layer order, and nine
ops (five for ogbn-proteins); an architecture made only of ``skip`` ops is excluded,
as in the benchmark.

The :class:`~bonas.architecture.Architecture` has one layer per GNN layer, labelled
with its op, between ``ip`` and ``op``. Equality is graph isomorphism, so link/op
assignments that differ only by the numbering of layers are one architecture. The
benchmark additionally merges architectures that differ only by where ``skip`` layers
sit; that is left to its table lookup, so this space has more members than the
benchmark's 26,206 rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from functools import cached_property
from typing import Any

from bonas.architecture import Architecture
from bonas.exceptions import InvalidArchitectureError, InvalidSpaceError
from bonas.spaces.base import SearchSpace
from bonas.vocabulary import NBGRAPH_VOCABULARY

__all__ = [
    "NBGRAPH_LINKS",
    "NBGRAPH_OPS",
    "NBGRAPH_PROTEINS_OPS",
    "NBGraphSpace",
    "canonical_link_ops",
]

#: The nine link patterns of ``nas_bench_graph.link_list``.
NBGRAPH_LINKS: tuple[tuple[int, ...], ...] = (
    (0, 0, 0, 0),
    (0, 0, 0, 1),
    (0, 0, 1, 1),
    (0, 0, 1, 2),
    (0, 0, 1, 3),
    (0, 1, 1, 1),
    (0, 1, 1, 2),
    (0, 1, 2, 2),
    (0, 1, 2, 3),
)
#: ``nas_bench_graph.gnn_list``.
NBGRAPH_OPS: tuple[str, ...] = ("gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip")
#: ``nas_bench_graph.gnn_list_proteins`` (ogbn-proteins).
NBGRAPH_PROTEINS_OPS: tuple[str, ...] = ("gcn", "sage", "arma", "fc", "skip")


class NBGraphSpace(SearchSpace):
    """The NAS-Bench-Graph space.

    Args:
        ops: The ops allowed; :data:`NBGRAPH_OPS`, or :data:`NBGRAPH_PROTEINS_OPS` for
            ogbn-proteins.

    Mutation changes one layer's op or moves to another link pattern keeping the ops;
    :meth:`neighbours` lists every valid result.

    Example:
        >>> space = NBGraphSpace()
        >>> arch = space.from_link_ops([0, 1, 2, 3], ["gcn", "gat", "skip", "sage"])
        >>> space.to_link_ops(arch)
        ((0, 1, 2, 3), ('gcn', 'gat', 'skip', 'sage'))
    """

    name = "nbgraph"
    default_kernel = "wl"
    vocabulary = NBGRAPH_VOCABULARY

    def __init__(self, ops: Sequence[str] = NBGRAPH_OPS) -> None:
        ops = tuple(ops)
        unknown = [op for op in ops if op not in NBGRAPH_OPS]
        if unknown or len(set(ops)) != len(ops) or not ops:
            raise InvalidSpaceError(
                f"NBGraphSpace ops must be distinct members of {list(NBGRAPH_OPS)}, got {list(ops)}"
            )
        self.ops = ops

    def config(self) -> dict[str, Any]:
        return {"ops": list(self.ops)}

    # -- conversions -------------------------------------------------------------

    def from_link_ops(self, link: Sequence[int], ops: Sequence[str]) -> Architecture:
        """The architecture of a link pattern (any valid link, not only the nine) and ops."""
        link, ops = tuple(int(v) for v in link), tuple(ops)
        if len(link) != 4 or len(ops) != 4:
            raise InvalidArchitectureError(
                "nbgraph-link", f"need 4 links and 4 ops, got {list(link)} and {list(ops)}"
            )
        for k, source in enumerate(link):
            if not 0 <= source <= 4 or source == k + 1:
                raise InvalidArchitectureError(
                    "nbgraph-link", f"layer {k + 1} cannot read from {source} in {list(link)}"
                )
        # layers: 0 = ip, 1..4 = GNN layers, 5 = op
        edges = [(source, k + 1) for k, source in enumerate(link)]
        readers = set(link)
        edges += [(k, 5) for k in range(1, 5) if k not in readers]
        labels = ["ip", *ops, "op"]
        return Architecture(labels, [None] * 6, edges, [None] * 6, NBGRAPH_VOCABULARY)

    def categories(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """The layer each GNN layer reads from, ``link_{k}`` (``0``: the input), then
        each layer's op, ``op_{k}``, for ``k = 1 .. 4``."""
        links = tuple((f"link_{k}", tuple(str(v) for v in range(5) if v != k)) for k in range(1, 5))
        return links + tuple((f"op_{k}", self.ops) for k in range(1, 5))

    def encode(self, arch: Architecture) -> tuple[int, ...]:
        """The canonical ``(link, ops)`` (:meth:`to_link_ops`) as choice indices."""
        link, ops = self.to_link_ops(arch)
        link_codes = [source - (source > k) for k, source in enumerate(link, start=1)]
        return (*link_codes, *(self.ops.index(op) for op in ops))

    def decode(self, codes: Sequence[int]) -> Architecture:
        """The architecture of a link pattern and ops.

        Raises:
            InvalidArchitectureError: If the pattern is not one of the space's.
        """
        values = self._check_codes(codes)
        link = [code + (code >= k) for k, code in enumerate(values[:4], start=1)]
        arch = self.from_link_ops(link, [self.ops[c] for c in values[4:]])
        self.validate(arch)
        return arch

    def to_link_ops(self, arch: Architecture) -> tuple[tuple[int, ...], tuple[str, ...]]:
        """The canonical ``(link, ops)`` of an architecture (see :func:`canonical_link_ops`)."""
        self._check_vocabulary(arch)
        layers = [
            i for i in range(arch.num_layers) if i not in (arch.input_layer, arch.output_layer)
        ]
        if len(layers) != 4:
            raise InvalidArchitectureError(
                "nbgraph-link",
                f"a NAS-Bench-Graph architecture has 4 GNN layers, got {len(layers)}",
            )
        position = {arch.input_layer: 0, **{layer: k + 1 for k, layer in enumerate(layers)}}
        link = []
        for layer in layers:
            preds = arch.predecessors(layer)
            if len(preds) != 1 or preds[0] not in position:
                raise InvalidArchitectureError(
                    "nbgraph-link", f"GNN layer {layer} must read from exactly one layer", (layer,)
                )
            link.append(position[preds[0]])
        read = {layers[source - 1] for source in link if source > 0}
        leaves = {layer for layer in layers if layer not in read}
        if set(arch.predecessors(arch.output_layer)) != leaves:
            raise InvalidArchitectureError(
                "nbgraph-link", "the output must sum exactly the layers no other layer reads"
            )
        key = canonical_link_ops(link, [arch.labels[layer] for layer in layers])
        if key is None:
            raise InvalidArchitectureError(
                "nbgraph-link", f"{arch!r} matches none of the NAS-Bench-Graph link patterns"
            )
        return key

    # -- SearchSpace -----------------------------------------------------------------

    def validate(self, arch: Architecture) -> None:
        self._check_vocabulary(arch)
        bad = [i for i, label in enumerate(arch.labels) if label not in ("ip", "op", *self.ops)]
        if bad:
            raise InvalidArchitectureError(
                "vocabulary",
                f"layers {bad} use ops outside this space's {list(self.ops)}",
                tuple(bad),
            )
        if all(label in ("ip", "op", "skip") for label in arch.labels):
            raise InvalidArchitectureError(
                "nbgraph-all-skip", "an architecture of only skip layers is not in the benchmark"
            )
        self.to_link_ops(arch)

    def _sample(self, rng: Any) -> Architecture:
        link = NBGRAPH_LINKS[int(rng.integers(len(NBGRAPH_LINKS)))]
        ops = [self.ops[int(i)] for i in rng.integers(len(self.ops), size=4)]
        return self.from_link_ops(link, ops)

    def _moves(self, arch: Architecture) -> Iterator[tuple[tuple[int, ...], tuple[str, ...]]]:
        link, ops = self.to_link_ops(arch)
        for k in range(4):
            for op in self.ops:
                if op != ops[k]:
                    yield link, (*ops[:k], op, *ops[k + 1 :])
        for other in NBGRAPH_LINKS:
            if other != link:
                yield other, ops

    def _propose_mutant(self, arch: Architecture, rng: Any) -> Architecture:
        moves = list(self._moves(arch))
        return self.from_link_ops(*moves[int(rng.integers(len(moves)))])

    def neighbours(self, arch: Architecture) -> list[Architecture]:
        seen: set[Architecture] = {arch}
        result = []
        for link, ops in self._moves(arch):
            child = self.from_link_ops(link, ops)
            if child not in seen and self.contains(child):
                seen.add(child)
                result.append(child)
        return result

    @property
    def is_finite(self) -> bool:
        return True

    @cached_property
    def _members(self) -> tuple[tuple[tuple[int, ...], tuple[str, ...]], ...]:
        seen: dict[tuple[tuple[int, ...], tuple[str, ...]], None] = {}
        for link in NBGRAPH_LINKS:
            for ops in itertools.product(self.ops, repeat=4):
                if all(op == "skip" for op in ops):
                    continue
                key = canonical_link_ops(link, ops)
                if key is not None:
                    seen.setdefault(key, None)
        return tuple(seen)

    def enumerate(self) -> Iterator[Architecture]:
        """Every distinct architecture, by link pattern then op indices."""
        for link, ops in self._members:
            yield self.from_link_ops(link, ops)

    @property
    def size(self) -> int:
        return len(self._members)


def canonical_link_ops(
    link: Sequence[int], ops: Sequence[str]
) -> tuple[tuple[int, ...], tuple[str, ...]] | None:
    """The representative of ``(link, ops)`` up to renumbering the four layers.

    Among the renumberings whose link is one of :data:`NBGRAPH_LINKS`, the one with the
    earliest link pattern, then the smallest op indices; ``None`` if there is none.
    Two ``(link, ops)`` give the same representative exactly when their graphs are
    isomorphic.
    """
    best: tuple[int, tuple[int, ...], tuple[int, ...], tuple[str, ...]] | None = None
    for order in itertools.permutations(range(4)):
        new_position = {0: 0, **{old + 1: k + 1 for k, old in enumerate(order)}}
        new_link = tuple(new_position[link[old]] for old in order)
        if new_link not in _LINK_INDEX:
            continue
        new_ops = tuple(ops[old] for old in order)
        candidate = (
            _LINK_INDEX[new_link],
            tuple(NBGRAPH_OPS.index(o) for o in new_ops),
            new_link,
            new_ops,
        )
        if best is None or candidate[:2] < best[:2]:
            best = candidate
    return None if best is None else (best[2], best[3])


_LINK_INDEX = {link: i for i, link in enumerate(NBGRAPH_LINKS)}

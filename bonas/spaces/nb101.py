"""The NAS-Bench-101 cell space (Ying et al., ICML 2019).

A cell is an upper-triangular adjacency matrix over at most 7 vertices with at most 9
edges; the first vertex is the input, the last the output, and every other vertex
holds one of ``conv3x3-bn-relu``, ``conv1x1-bn-relu`` or ``maxpool3x3``. Vertices that
do not lie on an input-output path are pruned, as NAS-Bench-101 does, so the
:class:`~bonas.architecture.Architecture` of a cell is its pruned vertex graph, with
``ip`` and ``op`` for the input and output vertices.

:func:`nb101_hash` is the official NAS-Bench-101 graph hash (iterated MD5 over
in/out-degrees and op labels), which identifies a cell in the benchmark's tables.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from bonas.architecture import Architecture
from bonas.exceptions import InvalidArchitectureError, InvalidSpaceError
from bonas.spaces.base import SearchSpace
from bonas.vocabulary import NB101_VOCABULARY, Vocabulary, derived_vocabulary

__all__ = ["NB101_OPS", "NB101Space", "nb101_hash"]

NB101_OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
_NB101_SIZE = 423_624  # unique cells, NAS-Bench-101 paper (Ying et al. 2019), section 2.2


def nb101_hash(matrix: np.ndarray, ops: Sequence[str], op_names: Sequence[str] = NB101_OPS) -> str:
    """The official NAS-Bench-101 hash of a pruned cell.

    Vertices start with MD5 of ``(out_degree, in_degree, label)`` where the label is
    -1 for the input, -2 for the output and the op's index in ``op_names``
    otherwise; then, once per vertex, each vertex hash becomes the MD5 of its sorted
    in-neighbour hashes, its sorted out-neighbour hashes and itself; the fingerprint is
    the MD5 of the sorted vertex hashes.

    Args:
        matrix: ``(n, n)`` 0/1 upper-triangular adjacency of the pruned cell.
        ops: ``n`` labels, ``"input"`` first and ``"output"`` last.
        op_names: The space's op list (:data:`NB101_OPS`, whose order the official
            hash assumes).

    Returns:
        The 32-character hex digest.
    """
    matrix = np.asarray(matrix, dtype=int)
    n = matrix.shape[0]
    op_names = list(op_names)
    labels = [-1] + [op_names.index(op) for op in ops[1:-1]] + [-2]
    in_degrees = matrix.sum(axis=0).tolist()
    out_degrees = matrix.sum(axis=1).tolist()
    hashes = [
        hashlib.md5(str((out_degrees[v], in_degrees[v], labels[v])).encode()).hexdigest()
        for v in range(n)
    ]
    for _ in range(n):
        hashes = [
            hashlib.md5(
                (
                    "".join(sorted(hashes[w] for w in range(n) if matrix[w, v]))
                    + "|"
                    + "".join(sorted(hashes[w] for w in range(n) if matrix[v, w]))
                    + "|"
                    + hashes[v]
                ).encode()
            ).hexdigest()
            for v in range(n)
        ]
    return hashlib.md5(str(sorted(hashes)).encode()).hexdigest()


class NB101Space(SearchSpace):
    """The NAS-Bench-101 cell space.

    Args:
        max_vertices: Most vertices in a cell, input and output included (NB101: 7).
        max_edges: Most edges in a cell (NB101: 9).
        ops: The ops an inner vertex may hold; NB101's three by default. Other ops (a
            user's table of cells, say) get a vocabulary of their own, registered under
            a name derived from the ops.

    Mutation flips one edge, changes one op, or (below ``max_vertices``) inserts a new
    op vertex on an existing edge; :meth:`neighbours` lists every valid result.

    Example:
        >>> space = NB101Space()
        >>> arch = space.from_spec([[0, 1, 1], [0, 0, 1], [0, 0, 0]],
        ...                        ["input", "conv3x3-bn-relu", "output"])
        >>> space.hash(arch) == nb101_hash(*space.to_spec(arch))
        True
    """

    name = "nb101"
    default_kernel = "wl"
    vocabulary = NB101_VOCABULARY

    def __init__(
        self, max_vertices: int = 7, max_edges: int = 9, ops: Sequence[str] = NB101_OPS
    ) -> None:
        if max_vertices < 2 or max_edges < 1:
            raise InvalidSpaceError(
                f"NB101Space needs max_vertices >= 2 and max_edges >= 1, got "
                f"max_vertices={max_vertices}, max_edges={max_edges}"
            )
        ops = tuple(str(op) for op in ops)
        if not ops or len(set(ops)) != len(ops):
            raise InvalidSpaceError(f"NB101Space needs distinct ops, got {list(ops)}")
        reserved = sorted(set(ops) & {"ip", "op", "input", "output"})
        if reserved:
            raise InvalidSpaceError(f"ops {reserved} are reserved for the input and output")
        self.max_vertices = max_vertices
        self.max_edges = max_edges
        self.ops = ops
        self.vocabulary = _dag_vocabulary(ops)  # type: ignore[misc]

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"max_vertices": self.max_vertices, "max_edges": self.max_edges}
        if self.ops != NB101_OPS:
            config["ops"] = list(self.ops)
        return config

    # -- conversions -------------------------------------------------------------

    def from_spec(self, matrix: Any, ops: Sequence[str]) -> Architecture:
        """Build the pruned cell of an NB101 spec (adjacency matrix plus op list).

        Raises:
            InvalidArchitectureError: If the matrix is not square, upper-triangular 0/1,
                the ops are unknown, or the output is unreachable from the input.
        """
        mat = np.asarray(matrix)
        ops = list(ops)
        n = len(ops)
        if mat.shape != (n, n):
            raise InvalidArchitectureError(
                "nb101-spec", f"adjacency shape {mat.shape} does not match {n} ops"
            )
        if not np.isin(mat, (0, 1)).all() or np.tril(mat).any():
            raise InvalidArchitectureError(
                "nb101-spec", "the adjacency must be a 0/1 strictly upper-triangular matrix"
            )
        if n < 2 or ops[0] != "input" or ops[-1] != "output":
            raise InvalidArchitectureError(
                "nb101-spec", f"ops must start with 'input' and end with 'output', got {ops}"
            )
        bad = [i for i, op in enumerate(ops[1:-1], start=1) if op not in self.ops]
        if bad:
            raise InvalidArchitectureError(
                "vocabulary",
                f"vertices {bad} have ops {[ops[i] for i in bad]} outside {list(self.ops)}",
                tuple(bad),
            )
        keep = _on_path_vertices(mat)
        if 0 not in keep or n - 1 not in keep:
            raise InvalidArchitectureError(
                "on-path", "the output vertex is not reachable from the input vertex"
            )
        keep_list = sorted(keep)
        index = {v: i for i, v in enumerate(keep_list)}
        labels = ["ip" if v == 0 else "op" if v == n - 1 else ops[v] for v in keep_list]
        edges = [(index[u], index[v]) for u in keep_list for v in keep_list if mat[u, v]]
        m = len(labels)
        return Architecture(labels, [None] * m, edges, [None] * m, self.vocabulary)

    def to_spec(self, arch: Architecture) -> tuple[np.ndarray, list[str]]:
        """The pruned NB101 spec of a cell: ``(matrix, ops)`` in topological order."""
        self._check_vocabulary(arch)
        order = arch.topological_order()
        position = {layer: i for i, layer in enumerate(order)}
        n = len(order)
        matrix = np.zeros((n, n), dtype=int)
        for u, v in arch.edges:
            matrix[position[u], position[v]] = 1
        ops = [
            "input" if arch.labels[layer] == "ip"
            else "output" if arch.labels[layer] == "op"
            else arch.labels[layer]
            for layer in order
        ]  # fmt: skip
        return matrix, ops

    def categories(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """The padded adjacency and ops (the encoding of White et al.'s BANANAS): one
        ``0``/``1`` variable per vertex pair ``edge_{i}_{j}`` of a ``max_vertices``-vertex
        cell, then an op per interior vertex ``op_{v}``, ``none`` for a vertex the cell
        lacks. Vertex ``max_vertices - 1`` is the output."""
        top = self.max_vertices
        edges = tuple((f"edge_{i}_{j}", ("0", "1")) for i in range(top) for j in range(i + 1, top))
        ops = tuple((f"op_{v}", (*self.ops, "none")) for v in range(1, top - 1))
        return edges + ops

    def encode(self, arch: Architecture) -> tuple[int, ...]:
        """The cell's spec (:meth:`to_spec`), its output moved to the last vertex."""
        matrix, ops = self.to_spec(arch)
        n, top = len(ops), self.max_vertices
        place = [*range(n - 1), top - 1]  # vertex -> padded vertex
        padded = np.zeros((top, top), dtype=int)
        padded[np.ix_(place, place)] = matrix
        op_codes = [len(self.ops)] * (top - 2)
        index = {op: i for i, op in enumerate(self.ops)}
        for v in range(1, n - 1):
            op_codes[v - 1] = index[ops[v]]
        bits = [int(padded[i, j]) for i in range(top) for j in range(i + 1, top)]
        return (*bits, *op_codes)

    def decode(self, codes: Sequence[int]) -> Architecture:
        """The pruned cell of a padded spec; vertices with op ``none`` are left out.

        Raises:
            InvalidArchitectureError: If the output is not reachable from the input, or
                the cell breaks the space's limits.
        """
        values = self._check_codes(codes)
        top = self.max_vertices
        pairs = [(i, j) for i in range(top) for j in range(i + 1, top)]
        padded = np.zeros((top, top), dtype=int)
        for (i, j), bit in zip(pairs, values[: len(pairs)], strict=True):
            padded[i, j] = bit
        op_names = [*self.ops, "none"]
        ops = ["input", *(op_names[c] for c in values[len(pairs) :]), "output"]
        kept = [v for v, op in enumerate(ops) if op != "none"]
        arch = self.from_spec(padded[np.ix_(kept, kept)], [ops[v] for v in kept])
        self.validate(arch)
        return arch

    def hash(self, arch: Architecture) -> str:
        """The official NAS-Bench-101 hash of a cell (the tables' ``nb101_hash`` key)."""
        return nb101_hash(*self.to_spec(arch), op_names=self.ops)

    # -- SearchSpace ----------------------------------------------------------------

    def validate(self, arch: Architecture) -> None:
        self._check_vocabulary(arch)
        if arch.num_layers > self.max_vertices:
            raise InvalidArchitectureError(
                "max-vertices",
                f"the cell has {arch.num_layers} vertices, above max_vertices={self.max_vertices}",
            )
        if len(arch.edges) > self.max_edges:
            raise InvalidArchitectureError(
                "max-edges",
                f"the cell has {len(arch.edges)} edges, above max_edges={self.max_edges}",
            )

    def _sample(self, rng: Any) -> Architecture:
        # NAS-Bench-101's own sampler: a uniform random DAG over max_vertices and ops.
        n = self.max_vertices
        matrix = np.triu(rng.integers(2, size=(n, n)), k=1)
        picks = rng.integers(len(self.ops), size=n - 2)
        ops = ["input", *(self.ops[i] for i in picks), "output"]
        return self.from_spec(matrix, ops)

    def _mutations(self, arch: Architecture) -> Iterator[tuple[np.ndarray, list[str]]]:
        matrix, ops = self.to_spec(arch)
        n = len(ops)
        for u in range(n):
            for v in range(u + 1, n):
                flipped = matrix.copy()
                flipped[u, v] = 1 - flipped[u, v]
                yield flipped, ops
        for v in range(1, n - 1):
            for op in self.ops:
                if op != ops[v]:
                    yield matrix, [*ops[:v], op, *ops[v + 1 :]]
        if n < self.max_vertices:
            for u, v in zip(*np.nonzero(matrix), strict=True):
                for op in self.ops:
                    # the new vertex sits at position v, shifting later vertices down.
                    grown = np.insert(np.insert(matrix, v, 0, axis=0), v, 0, axis=1)
                    grown[u, v + 1] = 0
                    grown[u, v] = 1
                    grown[v, v + 1] = 1
                    yield grown, [*ops[:v], op, *ops[v:]]

    def _propose_mutant(self, arch: Architecture, rng: Any) -> Architecture:
        options = list(self._mutations(arch))
        matrix, ops = options[int(rng.integers(len(options)))]
        return self.from_spec(matrix, ops)

    def neighbours(self, arch: Architecture) -> list[Architecture]:
        seen: set[Architecture] = {arch}
        result = []
        for matrix, ops in self._mutations(arch):
            try:
                child = self.from_spec(matrix, ops)
                self.validate(child)
            except InvalidArchitectureError:
                continue
            if child not in seen:
                seen.add(child)
                result.append(child)
        return result

    @property
    def is_finite(self) -> bool:
        return True

    @property
    def size(self) -> int:
        """423,624 for the default constraints (the NAS-Bench-101 count); for others,
        counted by enumeration (seconds) and remembered."""
        if (self.max_vertices, self.max_edges, self.ops) == (7, 9, NB101_OPS):
            return _NB101_SIZE
        return _count_cells(self.max_vertices, self.max_edges, self.ops)

    def enumerate(self) -> Iterator[Architecture]:
        """Every cell once, up to isomorphism: by vertex count, then graph shape, then
        op labelling (423,624 for the defaults; building them all takes minutes)."""
        for matrix, ops in _cell_specs(self.max_vertices, self.max_edges, self.ops):
            yield self.from_spec(matrix, ops)


def _cell_specs(
    max_vertices: int, max_edges: int, op_names: tuple[str, ...] = NB101_OPS
) -> Iterator[tuple[np.ndarray, list[str]]]:
    """The pruned specs of all cells, each isomorphism class once.

    Shapes (matrices whose every vertex lies on an input-output path) are de-duplicated
    by the NB101 hash of the unlabelled graph; each shape's op labellings are reduced
    to one per orbit of the shape's automorphisms (permutations of the interior vertices
    that keep the edge set), so that isomorphic labelled cells appear once.
    """
    for n in range(2, max_vertices + 1):
        for edges, matrix in _shapes(n, max_edges):
            automorphisms = [
                perm for perm in itertools.permutations(range(1, n - 1))
                if {(_move(perm, u), _move(perm, v)) for u, v in edges} == edges
            ]  # fmt: skip
            for labels in itertools.product(range(len(op_names)), repeat=n - 2):
                # keep the labelling that is smallest in its orbit
                if all(tuple(labels[p - 1] for p in perm) >= labels for perm in automorphisms):
                    ops = ["input", *(op_names[i] for i in labels), "output"]
                    yield matrix, ops


def _move(perm: tuple[int, ...], vertex: int) -> int:
    return perm[vertex - 1] if 0 < vertex <= len(perm) else vertex


def _shapes(n: int, max_edges: int) -> Iterator[tuple[set[tuple[int, int]], np.ndarray]]:
    """Unlabelled cell graphs on ``n`` vertices, one per isomorphism class."""
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    every = (1 << n) - 1
    seen: set[str] = set()
    plain = ["input"] + [NB101_OPS[0]] * (n - 2) + ["output"]
    for k in range(min(max_edges, len(pairs)) + 1):
        for combo in itertools.combinations(pairs, k):
            out = [0] * n
            into = [0] * n
            for i, j in combo:
                out[i] |= 1 << j
                into[j] |= 1 << i
            forward = 1
            for v in range(n):
                if forward >> v & 1:
                    forward |= out[v]
            backward = 1 << (n - 1)
            for v in range(n - 1, -1, -1):
                if backward >> v & 1:
                    backward |= into[v]
            if forward != every or backward != every:
                continue
            matrix = np.zeros((n, n), dtype=int)
            for i, j in combo:
                matrix[i, j] = 1
            key = nb101_hash(matrix, plain)
            if key not in seen:
                seen.add(key)
                yield set(combo), matrix


@functools.cache
def _count_cells(max_vertices: int, max_edges: int, op_names: tuple[str, ...] = NB101_OPS) -> int:
    return sum(1 for _ in _cell_specs(max_vertices, max_edges, op_names))


def _dag_vocabulary(ops: tuple[str, ...]) -> Vocabulary:
    if ops == NB101_OPS:
        return NB101_VOCABULARY
    # the ops sorted: spaces over the same ops in any order share one vocabulary
    return derived_vocabulary("dag", ("ip", "op", *sorted(ops)))


def _on_path_vertices(matrix: np.ndarray) -> set[int]:
    n = matrix.shape[0]
    from_input = {0}
    for v in range(1, n):
        if any(matrix[u, v] and u in from_input for u in range(v)):
            from_input.add(v)
    to_output = {n - 1}
    for u in range(n - 2, -1, -1):
        if any(matrix[u, v] and v in to_output for v in range(u + 1, n)):
            to_output.add(u)
    return from_input & to_output

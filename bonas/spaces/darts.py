"""The DARTS cell space (Liu et al., ICLR 2019), as NAS-Bench-301 uses it (Siems et al. 2020).

A genotype has a *normal* and a *reduce* cell. Each cell has two inputs (the outputs of
the cells two back, ``c_{k-2}``, and one back, ``c_{k-1}``) and four intermediate
nodes; intermediate node ``k`` sums two ops applied to two distinct earlier nodes
(inputs are numbered 0 = ``c_{k-2}``, 1 = ``c_{k-1}``, ``2 + j`` = intermediate node
``j``). The cell output concatenates the four intermediate nodes.

A genotype is written as ``{"normal": [(op, input), ...8], "reduce": [...8]}``, pairs
``2k`` and ``2k + 1`` belonging to node ``k``.

The :class:`~bonas.architecture.Architecture` puts both cells in one graph: ``ip`` feeds
each cell's two input layers (``normal-in-prev-prev``, ``normal-in-prev``, and the
``reduce-`` ones); each op is a layer; each intermediate node is a ``sum`` layer; each
cell ends in a ``*-concat`` layer feeding ``op``. Equality is graph isomorphism, so
genotypes that differ only by the numbering of intermediate nodes, or the order of a
node's two inputs, are one architecture; :meth:`DARTSSpace.to_genotype` returns a
canonical genotype.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from bonas.architecture import Architecture
from bonas.exceptions import InvalidArchitectureError
from bonas.spaces.base import SearchSpace
from bonas.vocabulary import DARTS_VOCABULARY

__all__ = ["DARTS_OPS", "DARTSSpace", "Genotype"]

DARTS_OPS: tuple[str, ...] = (
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
CELL_TYPES: tuple[str, ...] = ("normal", "reduce")
NUM_NODES = 4

Genotype = dict[str, list[tuple[str, int]]]


def _check_cell(cell_type: str, cell: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    pairs = [(str(op), int(src)) for op, src in cell]
    if len(pairs) != 2 * NUM_NODES:
        raise InvalidArchitectureError(
            "darts-genotype",
            f"the {cell_type} cell needs {2 * NUM_NODES} (op, input) pairs, got {len(pairs)}",
        )
    for k in range(NUM_NODES):
        (op_a, src_a), (op_b, src_b) = pairs[2 * k], pairs[2 * k + 1]
        for op, src in ((op_a, src_a), (op_b, src_b)):
            if op not in DARTS_OPS:
                raise InvalidArchitectureError(
                    "vocabulary",
                    f"{cell_type} node {k}: unknown op {op!r}; allowed {list(DARTS_OPS)}",
                )
            if not 0 <= src < k + 2:
                raise InvalidArchitectureError(
                    "darts-genotype", f"{cell_type} node {k} reads input {src}; allowed 0..{k + 1}"
                )
        if src_a == src_b:
            raise InvalidArchitectureError(
                "darts-genotype",
                f"{cell_type} node {k} reads input {src_a} twice; its two inputs must differ",
            )
    return pairs


class DARTSSpace(SearchSpace):
    """The DARTS / NAS-Bench-301 space of normal and reduce cells.

    Mutation changes one op or one input of one node in one cell (NASLib's DARTS
    mutation); :meth:`neighbours` lists every such change. The space holds about 10^18
    genotypes, so it is not enumerated.

    Example:
        >>> import numpy as np
        >>> space = DARTSSpace()
        >>> arch = space.sample(np.random.default_rng(0))
        >>> space.from_genotype(space.to_genotype(arch)) == arch
        True
    """

    name = "darts"
    default_kernel = "wl"
    vocabulary = DARTS_VOCABULARY
    #: Architectures built from genotypes here, remembered as valid (at most this many).
    known_size: int = 100_000

    def __init__(self) -> None:
        # from_genotype builds valid architectures only: remembering them spares
        # validate() its round trip and graph-isomorphism test, the bulk of a mutation
        # (validity does not depend on the layer numbering, so an equal one is valid too)
        self._known: dict[Architecture, None] = {}

    # -- conversions ---------------------------------------------------------------

    def from_genotype(self, genotype: Mapping[str, Sequence[tuple[str, int]]]) -> Architecture:
        """The architecture of a genotype ``{"normal": [...], "reduce": [...]}``."""
        missing = [c for c in CELL_TYPES if c not in genotype]
        if missing:
            raise InvalidArchitectureError("darts-genotype", f"the genotype lacks cells {missing}")
        labels: list[str] = ["ip", "op"]
        edges: list[tuple[int, int]] = []
        for cell_type in CELL_TYPES:
            pairs = _check_cell(cell_type, genotype[cell_type])
            node_layer = []
            for role in ("in-prev-prev", "in-prev"):
                labels.append(f"{cell_type}-{role}")
                node_layer.append(len(labels) - 1)
                edges.append((0, len(labels) - 1))
            sums = []
            for k in range(NUM_NODES):
                labels.append("sum")
                total = len(labels) - 1
                sums.append(total)
                for op, src in pairs[2 * k : 2 * k + 2]:
                    labels.append(op)
                    edges += [(node_layer[src], len(labels) - 1), (len(labels) - 1, total)]
                node_layer.append(total)
            labels.append(f"{cell_type}-concat")
            concat = len(labels) - 1
            edges += [(s, concat) for s in sums] + [(concat, 1)]
        n = len(labels)
        arch = Architecture(labels, [None] * n, edges, [None] * n, DARTS_VOCABULARY)
        if len(self._known) >= self.known_size:
            self._known.clear()
        self._known[arch] = None
        return arch

    def categories(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """Per cell and intermediate node ``k``: its two inputs, ``{cell}_node{k}_inputs``
        (``"i_j"``, ``i < j``), and the ops on the smaller and the larger input,
        ``{cell}_node{k}_op_a`` and ``_op_b`` (as NAS-Bench-301's configuration space)."""
        variables: list[tuple[str, tuple[str, ...]]] = []
        for cell_type in CELL_TYPES:
            for k in range(NUM_NODES):
                pairs = tuple(f"{i}_{j}" for i, j in itertools.combinations(range(k + 2), 2))
                variables.append((f"{cell_type}_node{k}_inputs", pairs))
                variables.append((f"{cell_type}_node{k}_op_a", DARTS_OPS))
                variables.append((f"{cell_type}_node{k}_op_b", DARTS_OPS))
        return tuple(variables)

    def encode(self, arch: Architecture) -> tuple[int, ...]:
        """The canonical genotype (:meth:`to_genotype`) as choice indices."""
        genotype = self.to_genotype(arch)
        codes: list[int] = []
        for cell_type in CELL_TYPES:
            cell = genotype[cell_type]
            for k in range(NUM_NODES):
                (op_a, src_a), (op_b, src_b) = sorted(cell[2 * k : 2 * k + 2], key=lambda p: p[1])
                pairs = list(itertools.combinations(range(k + 2), 2))
                codes += [pairs.index((src_a, src_b)), DARTS_OPS.index(op_a), DARTS_OPS.index(op_b)]
        return tuple(codes)

    def decode(self, codes: Sequence[int]) -> Architecture:
        """The architecture of a genotype given as choice indices."""
        values = self._check_codes(codes)
        genotype: Genotype = {}
        position = 0
        for cell_type in CELL_TYPES:
            cell: list[tuple[str, int]] = []
            for k in range(NUM_NODES):
                pair, op_a, op_b = values[position : position + 3]
                position += 3
                src_a, src_b = list(itertools.combinations(range(k + 2), 2))[pair]
                cell += [(DARTS_OPS[op_a], src_a), (DARTS_OPS[op_b], src_b)]
            genotype[cell_type] = cell
        return self.from_genotype(genotype)

    def to_genotype(self, arch: Architecture) -> Genotype:
        """The canonical genotype of an architecture (smallest over node numberings)."""
        self._check_vocabulary(arch)
        return {cell_type: self._cell_genotype(arch, cell_type) for cell_type in CELL_TYPES}

    def _cell_genotype(self, arch: Architecture, cell_type: str) -> list[tuple[str, int]]:
        def single(label: str) -> int:
            found = [i for i, lab in enumerate(arch.labels) if lab == label]
            if len(found) != 1:
                raise InvalidArchitectureError(
                    "darts-cell", f"expected one {label!r} layer, found {len(found)}", tuple(found)
                )
            return found[0]

        inputs = [single(f"{cell_type}-in-prev-prev"), single(f"{cell_type}-in-prev")]
        sums = list(arch.predecessors(single(f"{cell_type}-concat")))
        if len(sums) != NUM_NODES or any(arch.labels[s] != "sum" for s in sums):
            raise InvalidArchitectureError(
                "darts-cell", f"the {cell_type} concat must join {NUM_NODES} sum layers"
            )
        feeds: dict[int, list[tuple[str, int]]] = {}
        for s in sums:
            pairs = []
            for op_layer in arch.predecessors(s):
                preds = arch.predecessors(op_layer)
                if arch.labels[op_layer] not in DARTS_OPS or len(preds) != 1:
                    raise InvalidArchitectureError(
                        "darts-cell",
                        f"sum layer {s} must be fed by op layers with one input",
                        (s,),
                    )
                pairs.append((arch.labels[op_layer], preds[0]))
            if len(pairs) != 2:
                raise InvalidArchitectureError(
                    "darts-cell", f"sum layer {s} has {len(pairs)} inputs, expected 2", (s,)
                )
            feeds[s] = pairs
        best: list[tuple[str, int]] | None = None
        for order in itertools.permutations(sums):
            number = {layer: i for i, layer in enumerate(inputs)}
            number.update({layer: 2 + k for k, layer in enumerate(order)})
            cell: list[tuple[str, int]] = []
            for k, s in enumerate(order):
                node_pairs = sorted((op, number.get(src, 99)) for op, src in feeds[s])
                if any(src >= k + 2 for _, src in node_pairs):
                    break
                cell += node_pairs
            else:
                if best is None or cell < best:
                    best = cell
        if best is None:
            raise InvalidArchitectureError(
                "darts-cell", f"the {cell_type} cell is not a DARTS cell"
            )
        _check_cell(cell_type, best)
        return best

    # -- SearchSpace ---------------------------------------------------------------

    def validate(self, arch: Architecture) -> None:
        if arch in self._known:  # built here, or isomorphic to one built here: valid
            return
        genotype = self.to_genotype(arch)
        if self.from_genotype(genotype) != arch:
            raise InvalidArchitectureError(
                "darts-cell", "the architecture has layers beyond its DARTS genotype"
            )

    def _random_cell(self, rng: Any) -> list[tuple[str, int]]:
        pairs = []
        for k in range(NUM_NODES):
            sources = rng.choice(k + 2, size=2, replace=False)
            for src in sources:
                pairs.append((DARTS_OPS[int(rng.integers(len(DARTS_OPS)))], int(src)))
        return pairs

    def _sample(self, rng: Any) -> Architecture:
        return self.from_genotype({c: self._random_cell(rng) for c in CELL_TYPES})

    def _changes(self, genotype: Genotype) -> list[Genotype]:
        result = []
        for cell_type in CELL_TYPES:
            cell = genotype[cell_type]
            for slot, (op, src) in enumerate(cell):
                k = slot // 2
                other_src = cell[slot ^ 1][1]
                changed: list[tuple[str, int]] = [
                    (new_op, src) for new_op in DARTS_OPS if new_op != op
                ]
                changed += [
                    (op, new_src) for new_src in range(k + 2) if new_src not in (src, other_src)
                ]
                for pair in changed:
                    new_cell = [*cell[:slot], pair, *cell[slot + 1 :]]
                    result.append({**genotype, cell_type: new_cell})
        return result

    def _propose_mutant(self, arch: Architecture, rng: Any) -> Architecture:
        changes = self._changes(self.to_genotype(arch))
        return self.from_genotype(changes[int(rng.integers(len(changes)))])

    def neighbours(self, arch: Architecture) -> list[Architecture]:
        seen: set[Architecture] = {arch}
        result = []
        for genotype in self._changes(self.to_genotype(arch)):
            child = self.from_genotype(genotype)
            if child not in seen:
                seen.add(child)
                result.append(child)
        return result

"""Compile cell-space architectures to ``torch.nn.Module`` inside their usual skeletons.

A cell architecture describes one repeated cell; the network around it (the *skeleton*)
is fixed by the benchmark that defined the space. Three skeletons are built, each for
images ``(C, H, W)`` of any channel count and size, mapping a batch ``(B, C, H, W)`` to
logits ``(B, num_classes)``:

* :class:`NB201Network`, NAS-Bench-201 (Dong & Yang, ICLR 2020), for
  :class:`~bonas.spaces.NB201Space` and any :class:`~bonas.spaces.CellSpace`: a 3x3
  convolution and batch norm stem with ``channels`` filters; three stages of
  ``cells_per_stage`` cells at ``channels``, ``2 * channels`` and ``4 * channels``
  channels, joined by ResNet basic blocks of stride 2; then BN-ReLU, global average
  pooling and a linear classifier. Node ``j`` of a cell sums ``op(node i)`` over
  ``i < j``; the cell returns its last node. ``nor_conv_kxk`` is ReLU-Conv-BN,
  ``avg_pool_3x3`` a stride-1 pooling, ``skip_connect`` the identity, ``none`` zero.
* :class:`NB101Network`, NAS-Bench-101 (Ying et al., ICML 2019), for
  :class:`~bonas.spaces.NB101Space`: a 3x3 conv-BN-ReLU stem with ``channels`` filters;
  three stacks of ``cells_per_stage`` cells, a 2x2 max-pooling and a doubling of the
  channels before the second and third stacks; global average pooling and a linear
  classifier. Inside a cell, the output's channels are split evenly between the
  vertices that feed it, whose outputs are concatenated; a vertex that does not feed
  the output gets the largest width among its successors; an edge from the cell input
  passes through a 1x1 conv-BN-ReLU projection to the width it enters (the
  input-output edge's projection is added to the concatenation); a vertex sums its
  inputs, wider ones truncated to its width, then applies its op.
* :class:`DARTSNetwork`, DARTS (Liu et al., ICLR 2019), the evaluation network used by
  NAS-Bench-301, for :class:`~bonas.spaces.DARTSSpace`: a 3x3 convolution and batch norm
  stem with ``3 * channels`` filters, then ``3 * cells_per_stage + 2`` cells, the two at
  1/3 and 2/3 of the depth being reduction cells (stride 2, channels doubled). Each cell
  reads the two previous cells' outputs, preprocessed by ReLU-Conv1x1-BN (a factorized
  reduction where the earlier one is twice as large), sums two ops per intermediate
  node and concatenates its intermediate nodes. Global average pooling and a linear
  classifier follow; the auxiliary head and drop-path of DARTS's training recipe are
  left out.

Widths and depths are keyword arguments whose small defaults train on 28x28 MNIST on a
CPU in seconds per epoch; the benchmarks' own settings are ``channels=16,
cells_per_stage=5`` (NB201), ``channels=128, cells_per_stage=3`` (NB101) and
``channels=36, cells_per_stage=6`` (DARTS).

:func:`build_cell_network` reads the cell from an architecture through its space
(:meth:`~bonas.spaces.CellSpace.to_string`, :meth:`~bonas.spaces.DARTSSpace.to_genotype`,
:func:`nb101_cell_spec`) and builds the right skeleton;
:func:`~bonas.evaluation.build_network` calls it for cell architectures.

Example:
    >>> import torch
    >>> from bonas.spaces import NB201Space
    >>> arch = NB201Space().from_string(
    ...     "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|"
    ...     "skip_connect~2|")
    >>> net = build_cell_network(arch, (1, 28, 28), 10)
    >>> net(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import networkx as nx
import numpy as np
import torch
from torch import nn

from bonas.architecture import Architecture
from bonas.evaluation.cell_ops import (
    CELL_OPS,
    ConvBNReLU,
    FactorizedReduce,
    OpFactory,
    ReLUConvBN,
    check_image_settings,
    global_pool,
    make_op,
    op_table,
)
from bonas.exceptions import BonasError
from bonas.spaces.cell import CellSpace, split_cell_string
from bonas.spaces.darts import DARTSSpace
from bonas.spaces.nb201 import NB201Space

__all__ = [
    "DARTSNetwork",
    "NB101Network",
    "NB201Network",
    "build_cell_network",
    "cell_family",
    "nb101_cell_spec",
]

_CELL_NODE_LABELS = frozenset({"ip", "op", "sum"})
_OPTIONS = ("channels", "cells_per_stage", "op_factories")


# -- NAS-Bench-201 -----------------------------------------------------------------------


class _NB201Cell(nn.Module):
    """Node ``j`` sums ``op(node i)`` over ``i < j``; ``none`` edges are not computed."""

    def __init__(
        self, cell: Sequence[Sequence[str]], channels: int, table: Mapping[str, OpFactory]
    ) -> None:
        super().__init__()
        self.edges = nn.ModuleDict()
        self.sources: list[list[int]] = []
        for j, node_ops in enumerate(cell, start=1):
            sources = []
            for i, op in enumerate(node_ops):
                module = make_op(table, op, channels, channels, 1)
                if op == "none" and table["none"] is CELL_OPS["none"]:
                    continue  # adds zero
                self.edges[f"{i}-{j}"] = module
                sources.append(i)
            self.sources.append(sources)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for j, sources in enumerate(self.sources, start=1):
            total: torch.Tensor | None = None
            for i in sources:
                value = self.edges[f"{i}-{j}"](nodes[i])
                total = value if total is None else total + value
            nodes.append(torch.zeros_like(x) if total is None else total)
        return nodes[-1]


class _ResNetReduction(nn.Module):
    """NAS-Bench-201's reduction: a ResNet basic block of stride 2."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.body = nn.Sequential(ReLUConvBN(c_in, c_out, 3, 2), ReLUConvBN(c_out, c_out, 3))
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(2, stride=2, ceil_mode=True), nn.Conv2d(c_in, c_out, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


class NB201Network(nn.Module):
    """The NAS-Bench-201 skeleton around one cell (see the module docstring).

    Args:
        cell: The cell's ops node by node, as
            :func:`~bonas.spaces.cell.split_cell_string` gives them: ``cell[j - 1][i]``
            is the op of edge ``i -> j``; ``len(cell) + 1`` nodes.
        input_shape: ``(C, H, W)`` of one image.
        num_classes: Outputs of the classifier.
        channels: Channels of the first stage (the second and third have 2x and 4x).
        cells_per_stage: Cells in each of the three stages.
        op_factories: Extra or replacement ops, name to ``(c_in, c_out, stride) ->
            module``.

    Attributes:
        stem: The 3x3 convolution and batch norm.
        cells: Cells and reduction blocks in order.
        classifier: The final linear layer.

    Raises:
        UnknownOpError: For an op neither :data:`CELL_OPS` nor ``op_factories`` names.
        BonasError: For an input shape that is not ``(C, H, W)``, a non-positive width
            or depth, or a cell whose node ``j`` does not list ``j`` ops.

    Example:
        >>> net = NB201Network([["nor_conv_3x3"], ["skip_connect", "none"]], (3, 32, 32), 10)
        >>> net(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        cell: Sequence[Sequence[str]],
        input_shape: Sequence[int],
        num_classes: int,
        *,
        channels: int = 8,
        cells_per_stage: int = 1,
        op_factories: Mapping[str, OpFactory] | None = None,
    ) -> None:
        super().__init__()
        c_in = check_image_settings(input_shape, channels, cells_per_stage)
        cell = [list(node_ops) for node_ops in cell]
        if not cell or any(len(ops) != j for j, ops in enumerate(cell, start=1)):
            raise BonasError(f"node j of a cell lists one op for each of its j inputs; got {cell}")
        table = op_table(op_factories)
        self.cell_ops = cell
        self.stem = nn.Sequential(
            nn.Conv2d(c_in, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)
        )
        layers: list[nn.Module] = []
        width = channels
        for stage in range(3):
            if stage:
                layers.append(_ResNetReduction(width, 2 * width))
                width *= 2
            layers += [_NB201Cell(cell, width, table) for _ in range(cells_per_stage)]
        self.cells = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(inplace=False))
        self.classifier = nn.Linear(width, num_classes)
        self.architecture: Architecture | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_classes)`` of images ``(B, C, H, W)``."""
        x = self.head(self.cells(self.stem(x)))
        return self.classifier(global_pool(x))


# -- NAS-Bench-101 -----------------------------------------------------------------------


def nb101_cell_spec(arch: Architecture) -> tuple[np.ndarray, list[str]]:
    """The ``(matrix, ops)`` spec of an NB101-space cell, in a canonical vertex order.

    :meth:`~bonas.spaces.NB101Space.to_spec` orders vertices by layer number, so
    isomorphic cells may come out in different orders; NAS-Bench-101's channel rule
    gives the spare channels to the earliest vertices, so the order matters. Here
    topological ties are broken by the vertices' Weisfeiler-Lehman colours, which do
    not depend on the numbering: equal cells give equal networks.

    Args:
        arch: A cell of an :class:`~bonas.spaces.NB101Space` (any ops).

    Returns:
        The upper-triangular 0/1 adjacency and the ops, ``"input"`` first and
        ``"output"`` last.
    """
    colours = arch.wl_colours(arch.num_layers)[-1]
    graph = arch.to_networkx()
    order = list(nx.lexicographical_topological_sort(graph, key=lambda v: colours[v]))
    position = {layer: k for k, layer in enumerate(order)}
    matrix = np.zeros((len(order), len(order)), dtype=int)
    for u, v in arch.edges:
        matrix[position[u], position[v]] = 1
    names = {arch.vocabulary.input_label: "input", arch.vocabulary.output_label: "output"}
    ops = [names.get(arch.labels[layer], arch.labels[layer]) for layer in order]
    return matrix, ops


def _on_path(matrix: np.ndarray) -> set[int]:
    graph = nx.from_numpy_array(matrix, create_using=nx.DiGraph)
    last = matrix.shape[0] - 1
    return (nx.descendants(graph, 0) | {0}) & (nx.ancestors(graph, last) | {last})


def _nb101_vertex_channels(c_in: int, c_out: int, matrix: np.ndarray) -> list[int]:
    """NAS-Bench-101's widths: the output's channels split over the vertices feeding it
    (the earliest get the remainder), other vertices as wide as their widest successor."""
    n = matrix.shape[0]
    widths = [0] * n
    widths[0], widths[-1] = c_in, c_out
    if n == 2:
        return widths
    feeding = [v for v in range(1, n - 1) if matrix[v, n - 1]]
    if feeding:
        share, spare = divmod(c_out, len(feeding))
        for k, v in enumerate(feeding):
            widths[v] = share + (1 if k < spare else 0)
    for v in range(n - 2, 0, -1):
        if not matrix[v, n - 1]:
            widths[v] = max(widths[w] for w in range(v + 1, n - 1) if matrix[v, w])
    return widths


class _NB101Cell(nn.Module):
    def __init__(
        self,
        matrix: np.ndarray,
        ops: Sequence[str],
        c_in: int,
        c_out: int,
        table: Mapping[str, OpFactory],
    ) -> None:
        super().__init__()
        n = matrix.shape[0]
        self.n = n
        self.matrix = matrix.tolist()
        self.widths = _nb101_vertex_channels(c_in, c_out, matrix)
        if any(width < 1 for width in self.widths[1:-1]):
            feeding = int(matrix[1:-1, n - 1].sum())
            raise BonasError(
                f"an NB101 cell with {c_out} output channels cannot split them over the "
                f"{feeding} vertices that feed its output; raise channels"
            )
        self.projections = nn.ModuleDict(
            {str(v): ConvBNReLU(c_in, self.widths[v], 1) for v in range(1, n) if matrix[0, v]}
        )
        self.ops = nn.ModuleDict(
            {
                str(v): make_op(table, ops[v], self.widths[v], self.widths[v], 1)
                for v in range(1, n - 1)
            }
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, m = self.n, self.matrix
        values: list[torch.Tensor] = [x]
        for v in range(1, n - 1):
            parts = [values[u][:, : self.widths[v]] for u in range(1, v) if m[u][v]]
            if m[0][v]:
                parts.append(self.projections[str(v)](x))
            total = parts[0]
            for part in parts[1:]:
                total = total + part
            values.append(self.ops[str(v)](total))
        feeding = [values[u] for u in range(1, n - 1) if m[u][n - 1]]
        if not feeding:
            return self.projections[str(n - 1)](x)
        out = feeding[0] if len(feeding) == 1 else torch.cat(feeding, dim=1)
        if m[0][n - 1]:
            out = out + self.projections[str(n - 1)](x)
        return out


class NB101Network(nn.Module):
    """The NAS-Bench-101 skeleton around one cell (see the module docstring).

    Args:
        matrix: The cell's ``(n, n)`` upper-triangular 0/1 adjacency, vertex 0 the
            input, vertex ``n - 1`` the output, every vertex on an input-output path.
        ops: ``n`` ops, ``"input"`` first and ``"output"`` last.
        input_shape: ``(C, H, W)`` of one image.
        num_classes: Outputs of the classifier.
        channels: Channels of the stem and the first stack (doubled for each later one).
        cells_per_stage: Cells in each of the three stacks.
        op_factories: Extra or replacement ops, name to ``(c_in, c_out, stride) ->
            module``.

    Attributes:
        stem: The 3x3 conv-BN-ReLU.
        cells: Cells and max-poolings in order.
        classifier: The final linear layer.

    Raises:
        UnknownOpError: For an op neither :data:`CELL_OPS` nor ``op_factories`` names.
        BonasError: For a bad input shape or setting, a matrix that does not match the
            ops or is not upper-triangular, or too few channels to give each vertex
            that feeds the output at least one.

    Example:
        >>> matrix = [[0, 1, 1], [0, 0, 1], [0, 0, 0]]
        >>> net = NB101Network(matrix, ["input", "conv3x3-bn-relu", "output"], (1, 28, 28), 10)
        >>> net(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        matrix: Any,
        ops: Sequence[str],
        input_shape: Sequence[int],
        num_classes: int,
        *,
        channels: int = 16,
        cells_per_stage: int = 1,
        op_factories: Mapping[str, OpFactory] | None = None,
    ) -> None:
        super().__init__()
        c_in = check_image_settings(input_shape, channels, cells_per_stage)
        matrix = np.asarray(matrix, dtype=int)
        ops = list(ops)
        if (
            matrix.shape != (len(ops), len(ops))
            or len(ops) < 2
            or (ops[0], ops[-1]) != ("input", "output")
            or np.tril(matrix).any()
            or not np.isin(matrix, (0, 1)).all()
        ):
            raise BonasError(
                f"an NB101 cell needs a 0/1 strictly upper-triangular (n, n) matrix and n >= 2 "
                f"ops from 'input' to 'output'; got shape {matrix.shape} and ops {ops}"
            )
        off_path = sorted(set(range(len(ops))) - _on_path(matrix))
        if off_path:
            raise BonasError(
                f"every vertex of an NB101 cell must lie on an input-output path; vertices "
                f"{off_path} do not"
            )
        table = op_table(op_factories)
        self.matrix, self.cell_ops = matrix, ops
        self.stem = ConvBNReLU(c_in, channels, 3)
        layers: list[nn.Module] = []
        width = channels
        for stack in range(3):
            out = width
            if stack:
                layers.append(nn.MaxPool2d(2, stride=2, ceil_mode=True))
                out = 2 * width
            for _ in range(cells_per_stage):
                layers.append(_NB101Cell(matrix, ops, width, out, table))
                width = out
        self.cells = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, num_classes)
        self.architecture: Architecture | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_classes)`` of images ``(B, C, H, W)``."""
        return self.classifier(global_pool(self.cells(self.stem(x))))


# -- DARTS -------------------------------------------------------------------------------


class _DARTSCell(nn.Module):
    def __init__(
        self,
        pairs: Sequence[tuple[str, int]],
        c_prev_prev: int,
        c_prev: int,
        width: int,
        reduction: bool,
        reduction_prev: bool,
        table: Mapping[str, OpFactory],
    ) -> None:
        super().__init__()
        self.preprocess0: nn.Module = (
            FactorizedReduce(c_prev_prev, width)
            if reduction_prev
            else ReLUConvBN(c_prev_prev, width, 1)
        )
        self.preprocess1 = ReLUConvBN(c_prev, width, 1)
        self.sources = [src for _, src in pairs]
        self.ops = nn.ModuleList(
            make_op(table, op, width, width, 2 if reduction and src < 2 else 1) for op, src in pairs
        )
        self.nodes = len(pairs) // 2

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for k in range(self.nodes):
            a, b = 2 * k, 2 * k + 1
            states.append(
                self.ops[a](states[self.sources[a]]) + self.ops[b](states[self.sources[b]])
            )
        return torch.cat(states[2:], dim=1)


class DARTSNetwork(nn.Module):
    """The DARTS evaluation skeleton around a normal and a reduction cell.

    See the module docstring; there are ``3 * cells_per_stage + 2`` cells, reduction
    cells at positions ``cells_per_stage`` and ``2 * cells_per_stage + 1``.

    Args:
        genotype: ``{"normal": [(op, input), ...], "reduce": [...]}``, pairs ``2k`` and
            ``2k + 1`` feeding intermediate node ``k``, inputs numbered 0 (two cells
            back), 1 (the previous cell), ``2 + j`` (intermediate node ``j``); as
            :meth:`~bonas.spaces.DARTSSpace.to_genotype` gives it.
        input_shape: ``(C, H, W)`` of one image.
        num_classes: Outputs of the classifier.
        channels: Channels of each op in the first stage (the stem has 3x, a cell's
            output ``nodes``x; doubled at each reduction).
        cells_per_stage: Normal cells in each of the three stages.
        op_factories: Extra or replacement ops, name to ``(c_in, c_out, stride) ->
            module``.

    Attributes:
        stem: The 3x3 convolution and batch norm.
        cells: The cells in order.
        classifier: The final linear layer.

    Raises:
        UnknownOpError: For an op neither :data:`CELL_OPS` nor ``op_factories`` names.
        BonasError: For a bad input shape or setting, a missing cell type, an odd
            number of pairs, or a pair that reads a node not computed before it.

    Example:
        >>> cell = [("sep_conv_3x3", 0), ("skip_connect", 1)] * 2 + [("max_pool_3x3", 2),
        ...     ("dil_conv_3x3", 3)] * 2
        >>> net = DARTSNetwork({"normal": cell, "reduce": cell}, (3, 32, 32), 10)
        >>> net(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        genotype: Mapping[str, Sequence[tuple[str, int]]],
        input_shape: Sequence[int],
        num_classes: int,
        *,
        channels: int = 8,
        cells_per_stage: int = 1,
        op_factories: Mapping[str, OpFactory] | None = None,
    ) -> None:
        super().__init__()
        c_in = check_image_settings(input_shape, channels, cells_per_stage)
        cells = {kind: _darts_pairs(genotype, kind) for kind in ("normal", "reduce")}
        table = op_table(op_factories)
        self.genotype = cells
        stem_width = 3 * channels
        self.stem = nn.Sequential(
            nn.Conv2d(c_in, stem_width, 3, padding=1, bias=False), nn.BatchNorm2d(stem_width)
        )
        c_prev_prev, c_prev, width = stem_width, stem_width, channels
        reduction_prev = False
        reductions = (cells_per_stage, 2 * cells_per_stage + 1)
        self.cells = nn.ModuleList()
        for index in range(3 * cells_per_stage + 2):
            reduction = index in reductions
            if reduction:
                width *= 2
            pairs = cells["reduce" if reduction else "normal"]
            self.cells.append(
                _DARTSCell(pairs, c_prev_prev, c_prev, width, reduction, reduction_prev, table)
            )
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, width * (len(pairs) // 2)
        self.classifier = nn.Linear(c_prev, num_classes)
        self.architecture: Architecture | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_classes)`` of images ``(B, C, H, W)``."""
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(global_pool(s1))


def _darts_pairs(
    genotype: Mapping[str, Sequence[tuple[str, int]]], kind: str
) -> list[tuple[str, int]]:
    if kind not in genotype:
        raise BonasError(f"a DARTS genotype needs a {kind!r} cell; got cells {sorted(genotype)}")
    pairs = [(str(op), int(src)) for op, src in genotype[kind]]
    if not pairs or len(pairs) % 2:
        raise BonasError(
            f"the {kind} cell needs two (op, input) pairs per node, got {len(pairs)} pairs"
        )
    for slot, (op, src) in enumerate(pairs):
        if not 0 <= src < slot // 2 + 2:
            raise BonasError(
                f"{kind} node {slot // 2}: pair ({op!r}, {src}) reads input {src}; allowed "
                f"0..{slot // 2 + 1}"
            )
    return pairs


# -- architectures -----------------------------------------------------------------------


def cell_family(arch: Architecture) -> str | None:
    """Which cell skeleton an architecture belongs to, from its vocabulary.

    Returns:
        ``"nb201"`` (the ``nb201`` vocabulary), ``"cell"`` (a
        :class:`~bonas.spaces.CellSpace`'s ``cell-*`` vocabulary), ``"nb101"`` (the
        ``nb101`` vocabulary or an :class:`~bonas.spaces.NB101Space`'s ``dag-*`` one
        over other ops), ``"darts"``, or ``None`` for anything else.
    """
    vocabulary = arch.vocabulary
    name = vocabulary.name
    if name in ("nb201", "nb101", "darts"):
        return name
    ends = (vocabulary.input_label, vocabulary.output_label)
    if name.startswith("cell-") and set(vocabulary.labels) >= _CELL_NODE_LABELS:
        return "cell"
    if name.startswith("dag-") and ends == ("ip", "op"):
        return "nb101"
    return None


def build_cell_network(
    arch: Architecture,
    input_shape: Sequence[int],
    num_outputs: int,
    **options: Any,
) -> nn.Module:
    """Compile a cell architecture to its benchmark's skeleton.

    Args:
        arch: A cell of an :class:`~bonas.spaces.NB201Space`,
            :class:`~bonas.spaces.CellSpace`, :class:`~bonas.spaces.NB101Space` or
            :class:`~bonas.spaces.DARTSSpace`.
        input_shape: ``(C, H, W)`` of one image.
        num_outputs: Classes.
        **options: ``channels``, ``cells_per_stage`` and ``op_factories`` of
            :class:`NB201Network`, :class:`NB101Network` or :class:`DARTSNetwork`.

    Returns:
        The network, with the architecture in its ``architecture`` attribute;
        ``net(x)`` maps ``(B, *input_shape)`` to ``(B, num_outputs)``.

    Raises:
        BonasError: For an architecture of no cell family, an unknown option,
            ``num_outputs < 1``, or a cell its space cannot decode.
        UnknownOpError: For an op the builder has no module for.

    Example:
        >>> import numpy as np
        >>> from bonas.spaces import DARTSSpace
        >>> arch = DARTSSpace().sample(np.random.default_rng(0))
        >>> net = build_cell_network(arch, (1, 28, 28), 10, channels=4)
        >>> net(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise BonasError(f"unknown cell-network options {unknown}; allowed: {list(_OPTIONS)}")
    if num_outputs < 1:
        raise BonasError(f"num_outputs must be at least 1, got {num_outputs}")
    family = cell_family(arch)
    network: NB201Network | NB101Network | DARTSNetwork
    if family in ("nb201", "cell"):
        space = NB201Space() if family == "nb201" else _cell_space(arch)
        cell = split_cell_string(space.to_string(arch))
        network = NB201Network(cell, input_shape, num_outputs, **options)
    elif family == "nb101":
        matrix, ops = nb101_cell_spec(arch)
        network = NB101Network(matrix, ops, input_shape, num_outputs, **options)
    elif family == "darts":
        genotype = DARTSSpace().to_genotype(arch)
        network = DARTSNetwork(genotype, input_shape, num_outputs, **options)
    else:
        raise BonasError(
            f"build_cell_network builds nb201, cell-*, nb101, dag-* and darts "
            f"architectures; got vocabulary {arch.vocabulary.name!r}"
        )
    network.architecture = arch
    return network


def _cell_space(arch: Architecture) -> CellSpace:
    """The :class:`CellSpace` of a ``cell-*`` architecture: its vocabulary's ops, and
    as many nodes as it has ``sum`` layers plus the input and output."""
    labels = arch.vocabulary.labels
    ops = [label for label in labels if label not in _CELL_NODE_LABELS]
    nodes = sum(1 for label in arch.labels if label == "sum") + 2
    return CellSpace(ops, nodes, vocabulary=arch.vocabulary)

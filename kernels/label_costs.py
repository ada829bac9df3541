"""Per-vocabulary ingredients of OTMANN: label-mismatch costs, layer groups and masses.

For NASBOT's CNN and MLP vocabularies these are NASBOT's own (Kandasamy et al. 2018,
dragonfly ``nn/otmann.py`` and ``nn/neural_network.py``). For the cell vocabularies
(NB201, NB101, DARTS, NAS-Bench-Graph) they are written here in the same spirit:

* layers of different kinds cannot be matched (infinite cost), so their mass is paid
  for by the non-assignment penalty instead;
* related ops cost a fraction of the penalty ``nu``: convolutions of different kernel
  sizes ``sqrt(2)/10 * sqrt(|k - k'|)`` as NASBOT's conv table, two parameter-free ops
  0.5 as NASBOT's two pools, two message-passing GNN layers 0.3;
* masses follow NASBOT's "amount of computation": a convolution of kernel ``k`` over
  ``C`` channels weighs ``k^2 * C^2``, a pool, skip or sum ``C``, a GNN layer
  ``heads * d^2``, and ``ip`` / ``op`` get ``max(0.1 * total, 100)``; ``C`` and ``d``
  are the benchmark's stem widths (NB201 16, NB101 128, DARTS 16, NAS-Bench-Graph 64).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from bonas.architecture import Architecture
from bonas.exceptions import BonasError
from bonas.spaces.nasbot import (
    CONV_LABELS,
    MLP_RECTIFIERS,
    MLP_SIGMOIDS,
    POOL_LABELS,
    layer_masses,
)
from bonas.vocabulary import get_vocabulary

__all__ = ["LabelCosts", "get_label_costs"]

_CONV_SCALE = math.sqrt(2) / 10
_CONV_RES_FRACTION = 0.9
_NON_PROCESSING_FRACTION = 0.1
_NON_PROCESSING_FLOOR = 100.0


@dataclass(frozen=True)
class LabelCosts:
    """What OTMANN needs to know about one vocabulary.

    Attributes:
        vocabulary: The vocabulary name.
        labels: The labels, in the order of ``matrix``.
        matrix: ``(L, L)`` label-mismatch costs in units of the non-assignment penalty
            (multiplied by ``nu`` when used); ``inf`` where two labels cannot match.
        groups: Structural-feature layer groups, e.g. ``("all", "conv", "pool", "fc")``.
        group_of: The group of each label (labels in no group map to ``None``).
        masses: Maps an architecture to its layer masses, shape ``(n,)``.
    """

    vocabulary: str
    labels: tuple[str, ...]
    matrix: np.ndarray
    groups: tuple[str, ...]
    group_of: Mapping[str, str | None]
    masses: Callable[[Architecture], np.ndarray]

    def label_indices(self, arch: Architecture) -> np.ndarray:
        """Index of each layer's label in :attr:`labels`, shape ``(n,)``."""
        index = {label: i for i, label in enumerate(self.labels)}
        return np.fromiter(
            (index[label] for label in arch.labels), dtype=np.int64, count=arch.num_layers
        )

    def classes(self) -> list[np.ndarray]:
        """Partition of label indices into classes that can be matched with each other.

        Two labels are in one class when a chain of finite costs joins them; the OT
        problem splits into independent problems per class.
        """
        finite = np.isfinite(self.matrix)
        unseen = set(range(len(self.labels)))
        classes = []
        while unseen:
            frontier = [unseen.pop()]
            members = set(frontier)
            while frontier:
                i = frontier.pop()
                for j in np.nonzero(finite[i] | finite[:, i])[0]:
                    if int(j) in unseen:
                        unseen.discard(int(j))
                        members.add(int(j))
                        frontier.append(int(j))
            classes.append(np.array(sorted(members), dtype=np.int64))
        return sorted(classes, key=lambda c: int(c[0]))


def _kernel_size(label: str) -> int:
    return int(label[-1])


def _cnn_matrix(labels: tuple[str, ...]) -> np.ndarray:
    n = len(labels)
    matrix = np.full((n, n), np.inf)
    for i, a in enumerate(labels):
        for j, b in enumerate(labels):
            if a == b:
                matrix[i, j] = 0.0
            elif a in CONV_LABELS and b in CONV_LABELS:
                raw = _CONV_SCALE * math.sqrt(abs(_kernel_size(a) - _kernel_size(b)))
                same_kind = a[:3] == b[:3]  # conv-conv or res-res
                matrix[i, j] = (
                    raw
                    if same_kind or raw > 1.0
                    else (_CONV_RES_FRACTION * raw + (1 - _CONV_RES_FRACTION))
                )
            elif a in POOL_LABELS and b in POOL_LABELS:
                matrix[i, j] = 0.5
    return matrix


def _mlp_matrix(labels: tuple[str, ...]) -> np.ndarray:
    n = len(labels)
    matrix = np.full((n, n), np.inf)
    families = {
        **dict.fromkeys(MLP_RECTIFIERS, "rectifier"),
        **dict.fromkeys(MLP_SIGMOIDS, "sigmoid"),
    }
    for i, a in enumerate(labels):
        for j, b in enumerate(labels):
            if a == b:
                matrix[i, j] = 0.0
            elif a in families and b in families:
                matrix[i, j] = 0.1 if families[a] == families[b] else 0.25
    return matrix


def _table_matrix(labels: tuple[str, ...], pairs: Mapping[frozenset[str], float]) -> np.ndarray:
    n = len(labels)
    matrix = np.full((n, n), np.inf)
    np.fill_diagonal(matrix, 0.0)
    for i, a in enumerate(labels):
        for j, b in enumerate(labels):
            if a != b and frozenset((a, b)) in pairs:
                matrix[i, j] = pairs[frozenset((a, b))]
    return matrix


def _fixed_masses(per_label: Mapping[str, float]) -> Callable[[Architecture], np.ndarray]:
    """Masses from a per-label table; ``ip`` and ``op`` get max(0.1 * total, 100)."""

    def masses(arch: Architecture) -> np.ndarray:
        values = np.array([per_label.get(label, 0.0) for label in arch.labels], dtype=float)
        end = max(_NON_PROCESSING_FRACTION * values.sum(), _NON_PROCESSING_FLOOR)
        values[arch.input_layer] = end
        values[arch.output_layer] = end
        return values

    return masses


def _conv_pairs(labels: tuple[str, ...], sizes: Mapping[str, int]) -> dict[frozenset[str], float]:
    return {
        frozenset((a, b)): _CONV_SCALE * math.sqrt(abs(sizes[a] - sizes[b]))
        for a in labels for b in labels if a != b
    }  # fmt: skip


def _build_registry() -> dict[str, LabelCosts]:
    registry: dict[str, LabelCosts] = {}

    cnn = get_vocabulary("cnn").labels
    registry["cnn"] = LabelCosts(
        "cnn", cnn, _cnn_matrix(cnn), ("all", "conv", "pool", "fc"),
        {**dict.fromkeys(CONV_LABELS, "conv"), **dict.fromkeys(POOL_LABELS, "pool"), "fc": "fc"},
        layer_masses,
    )  # fmt: skip
    mlp = get_vocabulary("mlp").labels
    registry["mlp"] = LabelCosts(
        "mlp", mlp, _mlp_matrix(mlp), ("all", "rectifier", "sigmoid"),
        {**dict.fromkeys(MLP_RECTIFIERS, "rectifier"), **dict.fromkeys(MLP_SIGMOIDS, "sigmoid")},
        layer_masses,
    )  # fmt: skip

    # NAS-Bench-201 layer graphs (see NB201Space.layer_graph): C = 16 channels.
    c = 16
    nb201 = get_vocabulary("nb201").labels
    nb201_pairs = _conv_pairs(
        ("nor_conv_1x1", "nor_conv_3x3"), {"nor_conv_1x1": 1, "nor_conv_3x3": 3}
    )
    nb201_pairs[frozenset(("skip_connect", "avg_pool_3x3"))] = 0.5
    registry["nb201"] = LabelCosts(
        "nb201", nb201, _table_matrix(nb201, nb201_pairs), ("all", "conv", "pool"),
        {"nor_conv_1x1": "conv", "nor_conv_3x3": "conv", "avg_pool_3x3": "pool",
         "skip_connect": "pool"},
        _fixed_masses({"nor_conv_3x3": 9 * c * c, "nor_conv_1x1": c * c, "avg_pool_3x3": c,
                       "skip_connect": c, "sum": c, "zero": c, "none": 0.0}),
    )  # fmt: skip

    # NAS-Bench-101 cells: C = 128 channels (the stem width).
    c = 128
    nb101 = get_vocabulary("nb101").labels
    registry["nb101"] = LabelCosts(
        "nb101", nb101,
        _table_matrix(nb101, _conv_pairs(("conv1x1-bn-relu", "conv3x3-bn-relu"),
                                         {"conv1x1-bn-relu": 1, "conv3x3-bn-relu": 3})),
        ("all", "conv", "pool"),
        {"conv1x1-bn-relu": "conv", "conv3x3-bn-relu": "conv", "maxpool3x3": "pool"},
        _fixed_masses({"conv3x3-bn-relu": 9 * c * c, "conv1x1-bn-relu": c * c, "maxpool3x3": c}),
    )  # fmt: skip

    # DARTS cells: C = 16 channels; separable convs stack two depthwise+pointwise pairs.
    c = 16
    darts = get_vocabulary("darts").labels
    darts_convs = {"sep_conv_3x3": 3, "sep_conv_5x5": 5, "dil_conv_3x3": 3, "dil_conv_5x5": 5}
    darts_pairs: dict[frozenset[str], float] = {}
    for a, ka in darts_convs.items():
        for b, kb in darts_convs.items():
            if a != b:
                raw = _CONV_SCALE * math.sqrt(abs(ka - kb))
                # sep vs dil is treated as NASBOT treats conv vs res
                darts_pairs[frozenset((a, b))] = (
                    raw if a[:3] == b[:3] else (_CONV_RES_FRACTION * raw + (1 - _CONV_RES_FRACTION))
                )
    for a in ("max_pool_3x3", "avg_pool_3x3", "skip_connect"):
        for b in ("max_pool_3x3", "avg_pool_3x3", "skip_connect"):
            if a != b:
                darts_pairs[frozenset((a, b))] = 0.5
    darts_masses = {
        "sep_conv_3x3": 2 * (9 * c + c * c),
        "sep_conv_5x5": 2 * (25 * c + c * c),
        "dil_conv_3x3": 9 * c + c * c,
        "dil_conv_5x5": 25 * c + c * c,
        "max_pool_3x3": c,
        "avg_pool_3x3": c,
        "skip_connect": c,
        "sum": c,
    }
    for cell in ("normal", "reduce"):
        darts_masses.update(
            {f"{cell}-in-prev-prev": c, f"{cell}-in-prev": c, f"{cell}-concat": 4 * c}
        )
    registry["darts"] = LabelCosts(
        "darts", darts, _table_matrix(darts, darts_pairs), ("all", "conv", "pool"),
        {**dict.fromkeys(darts_convs, "conv"), "max_pool_3x3": "pool", "avg_pool_3x3": "pool",
         "skip_connect": "pool"},
        _fixed_masses(darts_masses),
    )  # fmt: skip

    # NAS-Bench-Graph: d = 64 hidden units; message-passing layers are mutually related.
    d = 64
    nbgraph = get_vocabulary("nbgraph").labels
    message_passing = ("gat", "gcn", "gin", "cheb", "sage", "arma", "graph")
    graph_pairs = {
        frozenset((a, b)): 0.3 for a in message_passing for b in message_passing if a != b
    }
    graph_pairs.update({frozenset(("fc", b)): 0.6 for b in message_passing})
    heads = {"gat": 2, "cheb": 2, "gin": 2, "graph": 2, "gcn": 1, "sage": 2, "arma": 1, "fc": 1}
    registry["nbgraph"] = LabelCosts(
        "nbgraph", nbgraph, _table_matrix(nbgraph, graph_pairs), ("all", "mp", "fc"),
        {**dict.fromkeys(message_passing, "mp"), "fc": "fc"},
        _fixed_masses({**{op: h * d * d for op, h in heads.items()}, "skip": d}),
    )  # fmt: skip
    return registry


_REGISTRY = _build_registry()


def get_label_costs(vocabulary: str) -> LabelCosts:
    """The OTMANN ingredients of a vocabulary.

    Raises:
        BonasError: If OTMANN has no table for the vocabulary.
    """
    try:
        return _REGISTRY[vocabulary]
    except KeyError:
        raise BonasError(
            f"OTMANN has no label costs for vocabulary {vocabulary!r}; known: {sorted(_REGISTRY)}"
        ) from None

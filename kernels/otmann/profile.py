"""OTMANN's per-architecture part: layer masses, labels and path-length features.

A profile is computed once per architecture and reused for every pair it is in (see
:meth:`bonas.kernels.otmann.OTMANNDistance.profile`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from scipy.spatial.distance import cdist

from bonas.architecture import Architecture
from bonas.exceptions import BonasError
from bonas.kernels.label_costs import LabelCosts, get_label_costs

__all__ = [
    "ArchitectureProfile",
    "class_of_label",
    "compute_profile",
    "label_classes",
    "struct_cost",
]


@dataclass(frozen=True)
class ArchitectureProfile:
    """What OTMANN computes once per architecture.

    Attributes:
        vocabulary: The vocabulary name.
        masses: Layer masses, shape ``(n,)``.
        labels: Label index of each layer in the vocabulary's cost table, shape ``(n,)``.
        backward: Path-length features to the input, shape ``(n, K)``.
        forward: Path-length features to the output, shape ``(n, K)``.
        class_layers: For each matchable label class, the layer indices in it.
    """

    vocabulary: str
    masses: np.ndarray
    labels: np.ndarray
    backward: np.ndarray
    forward: np.ndarray
    class_layers: tuple[np.ndarray, ...]

    @property
    def total_mass(self) -> float:
        return float(self.masses.sum())

    @cached_property
    def layer_classes(self) -> np.ndarray:
        """``(n,)`` each layer's index in :attr:`class_layers` (-1 for none)."""
        return class_of_label(self.vocabulary)[self.labels]

    @cached_property
    def paths(self) -> np.ndarray:
        """``(n, 2K)``: the backward then the forward features, joined once for
        :func:`struct_cost`."""
        return np.concatenate([self.backward, self.forward], axis=1)


def struct_cost(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``M_str`` between layers given by their :attr:`ArchitectureProfile.paths` rows:
    the mean of the backward and forward mean |differences|, as one L1 distance over
    both feature sets, which cdist computes without ``(nr, N, K)`` temporaries."""
    return cdist(rows, cols, "cityblock") * (1.0 / rows.shape[1])


def compute_profile(arch: Architecture) -> ArchitectureProfile:
    """The profile of ``arch`` (already preprocessed, e.g. to its layer graph).

    Raises:
        BonasError: If the vocabulary's masses are not finite, non-negative and one per
            layer.
    """
    costs = get_label_costs(arch.vocabulary.name)
    masses = np.asarray(costs.masses(arch), dtype=np.float64)
    if masses.shape != (arch.num_layers,) or not np.isfinite(masses).all() or (masses < 0).any():
        raise BonasError(
            f"layer masses must be finite, non-negative and one per layer; got {masses}"
        )
    labels = costs.label_indices(arch)
    backward, forward = _path_features(arch, costs, labels)
    classes = label_classes(costs.vocabulary)
    class_of = class_of_label(costs.vocabulary)[labels]
    class_layers = tuple(np.nonzero(class_of == c)[0] for c in range(len(classes)))
    return ArchitectureProfile(costs.vocabulary, masses, labels, backward, forward, class_layers)


def _path_features(
    arch: Architecture, costs: LabelCosts, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Backward (to ip) and forward (to op) shortest/longest/random-walk path lengths.

    A group's length counts the layers of the group a path leaves, each layer counting
    itself and not the endpoint (NASBOT's convention); columns are group-major.
    ``labels`` are the layers' label indices in ``costs``.
    """
    from bonas.kernels._otmann_loops import path_lengths  # compiled on first use

    n = arch.num_layers
    weight = _group_weights(costs)[labels]
    order = np.asarray(arch.topological_order(), dtype=np.int64)
    backward = path_lengths(order, *_adjacency(arch.predecessors, n), weight)
    forward = path_lengths(order[::-1].copy(), *_adjacency(arch.successors, n), weight)
    return backward.reshape(n, -1), forward.reshape(n, -1)


def _adjacency(neighbours: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(indptr, indices)``: each layer's neighbours, in compressed-row form."""
    near = [neighbours(v) for v in range(n)]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum([len(x) for x in near], out=indptr[1:])
    return indptr, np.fromiter(itertools.chain.from_iterable(near), np.int64, int(indptr[-1]))


_GROUP_WEIGHTS: dict[str, np.ndarray] = {}


def _group_weights(costs: LabelCosts) -> np.ndarray:
    """``(L, G)``: 1 where a label is in a structural group ("all" holds every label)."""
    if costs.vocabulary not in _GROUP_WEIGHTS:
        _GROUP_WEIGHTS[costs.vocabulary] = np.array(
            [[1.0 if g == "all" or costs.group_of.get(label) == g else 0.0
              for g in costs.groups] for label in costs.labels]
        )  # fmt: skip
    return _GROUP_WEIGHTS[costs.vocabulary]


_CLASS_CACHE: dict[str, list[np.ndarray]] = {}
_CLASS_OF_LABEL: dict[str, np.ndarray] = {}


def label_classes(vocabulary: str) -> list[np.ndarray]:
    """The vocabulary's matchable label classes, each an array of label indices."""
    if vocabulary not in _CLASS_CACHE:
        _CLASS_CACHE[vocabulary] = get_label_costs(vocabulary).classes()
    return _CLASS_CACHE[vocabulary]


def class_of_label(vocabulary: str) -> np.ndarray:
    """Each label index's class in :func:`label_classes` (-1 for none)."""
    if vocabulary not in _CLASS_OF_LABEL:
        classes = label_classes(vocabulary)
        size = 1 + max((int(m.max()) for m in classes if m.size), default=-1)
        class_of = np.full(size, -1, dtype=np.int64)
        for c, members in enumerate(classes):
            class_of[members] = c
        _CLASS_OF_LABEL[vocabulary] = class_of
    return _CLASS_OF_LABEL[vocabulary]

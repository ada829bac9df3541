"""Free-form DAGs of layers over any vocabulary: the space of a table of layer graphs.

A user's table may list architectures as node-link graphs of free-form layers (see
:mod:`bonas.benchmarks.tables.user`). :class:`GraphSpace` is the space such a table
implies: every DAG over the table's layer vocabulary, with one input and one output
layer and at most ``max_layers`` layers. Its mutations are NASBOT's edit primitives,
made label-agnostic (Kandasamy et al. 2018, section 4.2):

* relabel one inner layer (keeping its units where the new label takes units);
* insert a layer on an edge, or remove an inner layer and join its inputs to its outputs;
* add a forward edge, or remove an edge.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from bonas.architecture import Architecture
from bonas.exceptions import InvalidArchitectureError, InvalidSpaceError
from bonas.spaces.base import SearchSpace
from bonas.vocabulary import Vocabulary, get_vocabulary

__all__ = ["GraphSpace"]


class GraphSpace(SearchSpace):
    """DAGs of layers from ``vocabulary`` with at most ``max_layers`` layers.

    Args:
        vocabulary: The layer vocabulary (a :class:`~bonas.vocabulary.Vocabulary` or a
            registered name).
        max_layers: Most layers, input and output included (at least 3).
        units: The unit counts a new or relabelled unit-carrying layer may draw.

    The space is not finite and lists no neighbourhoods; searched through a table's
    :class:`~bonas.spaces.SubsetSpace`, it finds neighbours by WL features instead.

    Raises:
        InvalidSpaceError: If ``max_layers < 3``, the vocabulary has no inner label, or
            it has unit labels and ``units`` is empty.

    Example:
        >>> from bonas.vocabulary import Vocabulary, register_vocabulary
        >>> vocab = register_vocabulary(
        ...     Vocabulary("toy-mlp", ("in", "out", "dense", "dropout"),
        ...                input_label="in", output_label="out",
        ...                unit_labels=frozenset({"dense"})))
        >>> space = GraphSpace(vocab, max_layers=6, units=(32, 64))
        >>> arch = space.sample(0)
        >>> space.contains(space.mutate(arch, 1)), arch.num_layers <= 6
        (True, True)
    """

    name = "graph"
    default_kernel = "wl"
    vocabulary = None  # type: ignore[assignment]  # set per instance
    #: Inner layers a sample starts with: 1 .. this (and at most ``max_layers - 2``).
    max_sample_depth: int = 6

    def __init__(
        self, vocabulary: Vocabulary | str, max_layers: int, units: Sequence[int] = (64,)
    ) -> None:
        vocab = get_vocabulary(vocabulary)
        inner = tuple(
            label for label in vocab.labels if label not in (vocab.input_label, vocab.output_label)
        )
        if max_layers < 3:
            raise InvalidSpaceError(f"GraphSpace needs max_layers >= 3, got {max_layers}")
        if not inner:
            raise InvalidSpaceError(f"vocabulary {vocab.name!r} has no inner layer label")
        units = tuple(int(u) for u in units)
        if vocab.unit_labels and (not units or min(units) <= 0):
            raise InvalidSpaceError(
                f"vocabulary {vocab.name!r} has unit labels; units must be positive, got {units}"
            )
        self.vocabulary = vocab  # type: ignore[misc]
        self.max_layers = int(max_layers)
        self.units = units
        self.inner_labels = inner

    def config(self) -> dict[str, Any]:
        return {
            "vocabulary": self.vocabulary.name,
            "max_layers": self.max_layers,
            "units": list(self.units),
        }

    def validate(self, arch: Architecture) -> None:
        self._check_vocabulary(arch)
        if arch.num_layers > self.max_layers:
            raise InvalidArchitectureError(
                "max-layers",
                f"the graph has {arch.num_layers} layers, above max_layers={self.max_layers}",
            )

    def _layer(self, label: str, rng: Any) -> tuple[int | None, int | None]:
        units = (
            self.units[int(rng.integers(len(self.units)))]
            if self.vocabulary.takes_units(label)
            else None
        )
        stride = self.vocabulary.default_stride if self.vocabulary.takes_stride(label) else None
        return units, stride

    def _sample(self, rng: Any) -> Architecture:
        depth = int(rng.integers(1, min(self.max_sample_depth, self.max_layers - 2) + 1))
        vocab = self.vocabulary
        labels = [vocab.input_label, vocab.output_label]
        units: list[int | None] = [None, None]
        strides: list[int | None] = [None, None]
        for _ in range(depth):
            label = self.inner_labels[int(rng.integers(len(self.inner_labels)))]
            unit, stride = self._layer(label, rng)
            labels.append(label)
            units.append(unit)
            strides.append(stride)
        chain = [0, *range(2, depth + 2), 1]
        edges = list(itertools.pairwise(chain))
        return Architecture(labels, units, edges, strides, vocab)

    def _propose_mutant(self, arch: Architecture, rng: Any) -> Architecture:
        move = int(rng.integers(5))
        labels, units, strides = list(arch.labels), list(arch.units), list(arch.strides)
        edges = list(arch.edges)
        inner = [
            i for i in range(arch.num_layers) if i not in (arch.input_layer, arch.output_layer)
        ]
        if move == 0 and inner:  # relabel
            layer = inner[int(rng.integers(len(inner)))]
            label = self.inner_labels[int(rng.integers(len(self.inner_labels)))]
            unit, stride = self._layer(label, rng)
            if self.vocabulary.takes_units(label) and units[layer] is not None:
                unit = units[layer]
            labels[layer], units[layer], strides[layer] = label, unit, stride
        elif move == 1:  # insert a layer on an edge
            u, v = edges[int(rng.integers(len(edges)))]
            label = self.inner_labels[int(rng.integers(len(self.inner_labels)))]
            unit, stride = self._layer(label, rng)
            new = len(labels)
            labels.append(label)
            units.append(unit)
            strides.append(stride)
            edges.remove((u, v))
            edges += [(u, new), (new, v)]
        elif move == 2 and inner:  # remove a layer, joining its inputs to its outputs
            layer = inner[int(rng.integers(len(inner)))]
            joined = {(p, s) for p in arch.predecessors(layer) for s in arch.successors(layer)}
            kept = {(u, v) for u, v in edges if layer not in (u, v)} | joined
            order = [i for i in range(len(labels)) if i != layer]
            index = {old: new for new, old in enumerate(order)}
            labels = [labels[i] for i in order]
            units = [units[i] for i in order]
            strides = [strides[i] for i in order]
            edges = sorted((index[u], index[v]) for u, v in kept)
        elif move == 3:  # add a forward edge
            order = arch.topological_order()
            a, b = sorted(int(x) for x in rng.choice(len(order), size=2, replace=False))
            if (order[a], order[b]) in edges:
                return arch
            edges.append((order[a], order[b]))
        else:  # remove an edge; a layer left off every input-output path is rejected
            edges.pop(int(rng.integers(len(edges))))
        return Architecture(labels, units, edges, strides, self.vocabulary)

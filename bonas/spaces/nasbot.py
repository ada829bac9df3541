"""NASBOT's free-form CNN and MLP spaces (Kandasamy et al., NeurIPS 2018).

Architectures are DAGs of layers between an ``ip`` and an ``op`` layer, as in dragonfly's
``dragonfly/nn`` (the maintained NASBOT code):

* CNN (:class:`bonas.spaces.cnn.CNNSpace`): ``conv{3,5,7}`` and ``res{3,5,7}`` layers
  with a number of filters and a stride of 1 or 2, ``max-pool`` / ``avg-pool`` (which
  halve the image), ``fc`` layers with units, then ``softmax`` layers feeding ``op``. The
  input feeds only conv/res layers; every parent of a layer sees the same image size,
  and nothing convolves after an ``fc`` layer.
* MLP (:class:`bonas.spaces.mlp.MLPSpace`): hidden activation layers (rectifiers
  ``relu, crelu, leaky-relu, softplus, elu`` and sigmoids ``logistic, tanh``) with
  units, then ``linear`` (regression) or ``softmax`` (classification) layers feeding
  ``op``.

This module holds what both share: constraints, validation and the mutation primitives.

Constraints are constructor parameters, with the defaults of NASBOT's demos: at most 60
layers (at least 5), in-degree 5, out-degree 55, 200 edges, 8 to 1024 units per layer.

Mutation applies one of NASBOT's nine primitives, drawn by its probability masses
(:data:`PRIMITIVE_MASSES`, renormalised): ``inc_single`` / ``dec_single`` (one layer's
units times 1 ± 1/8), ``inc_en_masse`` / ``dec_en_masse`` (a contiguous group of layers),
``swap_layer`` (a layer's type, by NASBOT's swap table), ``wedge_layer`` (a new layer on
an edge), ``remove_layer``, ``branch`` (duplicate a path as a parallel branch) and
``skip`` (a skip connection). Invalid children are drawn again.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from bonas._rng import RNGLike, as_generator, cumulative_probabilities, draw_index
from bonas.architecture import Architecture
from bonas.exceptions import InvalidArchitectureError, InvalidSpaceError
from bonas.spaces.base import SearchSpace
from bonas.spaces.nasbot_zoo import (
    MLP_RECTIFIERS,
    MLP_SIGMOIDS,
)
from bonas.vocabulary import Vocabulary

__all__ = [
    "CONV_LABELS",
    "DECISION_LABELS",
    "MLP_RECTIFIERS",
    "MLP_SIGMOIDS",
    "MUTATION_STEP_PROBS",
    "POOL_LABELS",
    "PRIMITIVE_MASSES",
    "EditableArchitecture",
    "NASBOTSpace",
    "draw_mutation_steps",
    "layer_masses",
]

CONV_LABELS: tuple[str, ...] = ("conv3", "conv5", "conv7", "res3", "res5", "res7")
POOL_LABELS: tuple[str, ...] = ("max-pool", "avg-pool")
DECISION_LABELS: tuple[str, ...] = ("softmax", "linear")

#: NASBOT's primitive probability masses (dragonfly ``nn_modifiers._PRIMITIVE_PROB_MASSES``).
PRIMITIVE_MASSES: dict[str, float] = {
    "inc_single": 0.1,
    "dec_single": 0.1,
    "inc_en_masse": 0.1,
    "dec_en_masse": 0.1,
    "swap_layer": 0.2,
    "wedge_layer": 0.1,
    "remove_layer": 0.1,
    "branch": 0.2,
    "skip": 0.2,
}
#: Probabilities of 1..5 mutation steps per child in NASBOT's GA.
MUTATION_STEP_PROBS: tuple[float, ...] = (0.5, 0.25, 0.125, 0.075, 0.05)
UNIT_CHANGE_FRACTION = 0.125
_PRIMITIVE_NAMES = tuple(PRIMITIVE_MASSES)
_PRIMITIVE_CDF = cumulative_probabilities(
    np.array(list(PRIMITIVE_MASSES.values())) / sum(PRIMITIVE_MASSES.values())
)
_STEP_CDF = cumulative_probabilities(MUTATION_STEP_PROBS)


def draw_mutation_steps(rng: np.random.Generator) -> int:
    """A number of mutation steps, 1 to 5, drawn with :data:`MUTATION_STEP_PROBS`."""
    return 1 + draw_index(rng, _STEP_CDF)


_FC_MASS_COEFF = 0.1
_NON_PROCESSING_MASS_FRACTION = 0.1
_NON_PROCESSING_MIN_MASS = 100.0


def layer_masses(arch: Architecture) -> np.ndarray:
    """NASBOT's layer masses, shape ``(num_layers,)``.

    With ``in(v)`` the sum of the parents' output channels (the input has 1):

    * conv/res and MLP activation layers: ``in(v) * units(v)``;
    * ``fc``: ``0.1 * in(v) * units(v)``;
    * pools: ``in(v)`` (and they pass their channels through);
    * ``ip`` and ``op``: ``max(0.1 * P, 100)`` with ``P`` the processing layers' total;
    * decision layers (``softmax`` / ``linear``) share that same amount equally.
    """
    order = arch.topological_order()
    out_channels: dict[int, float | None] = {}
    masses = np.zeros(arch.num_layers, dtype=float)
    decision: list[int] = []
    vocab = arch.vocabulary
    for layer in order:
        label = arch.labels[layer]
        if label == vocab.input_label:
            out_channels[layer] = 1.0
            continue
        if label == vocab.output_label:
            continue
        incoming = sum(out_channels[p] or 0.0 for p in arch.predecessors(layer))
        if label in DECISION_LABELS:
            decision.append(layer)
            out_channels[layer] = None
        elif label in POOL_LABELS:
            out_channels[layer] = incoming
            masses[layer] = incoming
        else:
            units = float(arch.units[layer])  # type: ignore[arg-type]
            out_channels[layer] = units
            coeff = _FC_MASS_COEFF if label == "fc" else 1.0
            masses[layer] = coeff * incoming * units
    non_processing = max(_NON_PROCESSING_MASS_FRACTION * masses.sum(), _NON_PROCESSING_MIN_MASS)
    masses[arch.input_layer] = non_processing
    masses[arch.output_layer] = non_processing
    for layer in decision:
        masses[layer] = non_processing / len(decision)
    return masses


def _shortest_from_input(arch: Architecture) -> list[int]:
    dist = [0] * arch.num_layers
    for layer in arch.topological_order():
        preds = arch.predecessors(layer)
        dist[layer] = 1 + min(dist[p] for p in preds) if preds else 0
    return dist


def _shortest_to_output(arch: Architecture) -> list[int]:
    dist = [0] * arch.num_layers
    for layer in reversed(arch.topological_order()):
        succs = arch.successors(layer)
        dist[layer] = 1 + min(dist[s] for s in succs) if succs else 0
    return dist


@dataclass
class EditableArchitecture:
    """A mutable copy of an architecture's lists, for building mutants."""

    labels: list[str]
    units: list[int | None]
    strides: list[int | None]
    edges: set[tuple[int, int]] = field(default_factory=set)

    @classmethod
    def of(cls, arch: Architecture) -> EditableArchitecture:
        return cls(list(arch.labels), list(arch.units), list(arch.strides), set(arch.edges))

    def add_layer(self, label: str, units: int | None, stride: int | None) -> int:
        self.labels.append(label)
        self.units.append(units)
        self.strides.append(stride)
        return len(self.labels) - 1

    def parents(self, layer: int) -> list[int]:
        return sorted(u for u, v in self.edges if v == layer)

    def children(self, layer: int) -> list[int]:
        return sorted(v for u, v in self.edges if u == layer)

    def remove_layer(self, layer: int) -> None:
        self.edges = {
            (u - (u > layer), v - (v > layer)) for u, v in self.edges if layer not in (u, v)
        }
        del self.labels[layer], self.units[layer], self.strides[layer]

    def build(self, vocabulary: Vocabulary) -> Architecture:
        return Architecture(self.labels, self.units, self.edges, self.strides, vocabulary)


class NASBOTSpace(SearchSpace):
    """Shared machinery of NASBOT's CNN and MLP spaces (constraints, primitives, pool).

    Args:
        max_num_layers: Most layers, ``ip``, ``op`` and decision layers included.
        min_num_layers: Fewest layers.
        max_in_degree: Most parents of a layer.
        max_out_degree: Most children of a layer.
        max_num_edges: Most edges.
        max_units: Most units of a layer.
        min_units: Fewest units of a layer.
        max_mass: Largest total layer mass (:func:`layer_masses`).
        min_mass: Smallest total layer mass.
    """

    hidden_labels: ClassVar[tuple[str, ...]]
    #: Architecture objects remembered as valid (at most this many; then forgotten).
    known_valid_size: ClassVar[int] = 4096

    def __init__(
        self,
        *,
        max_num_layers: int = 60,
        min_num_layers: int = 5,
        max_in_degree: int = 5,
        max_out_degree: int = 55,
        max_num_edges: int = 200,
        max_units: int = 1024,
        min_units: int = 8,
        max_mass: float = math.inf,
        min_mass: float = 0.0,
    ) -> None:
        checks = {
            "min_num_layers <= max_num_layers": 3 <= min_num_layers <= max_num_layers,
            "1 <= min_units <= max_units": 1 <= min_units <= max_units,
            "max_in_degree >= 1 and max_out_degree >= 1": min(max_in_degree, max_out_degree) >= 1,
            "max_num_edges >= 2": max_num_edges >= 2,
            "0 <= min_mass <= max_mass": 0 <= min_mass <= max_mass,
        }
        broken = [name for name, ok in checks.items() if not ok]
        if broken:
            raise InvalidSpaceError(
                f"{type(self).__name__} constraints violate {broken}: max_num_layers="
                f"{max_num_layers}, min_num_layers={min_num_layers}, max_units={max_units}, "
                f"min_units={min_units}, max_in_degree={max_in_degree}, max_out_degree="
                f"{max_out_degree}, max_num_edges={max_num_edges}, max_mass={max_mass}, "
                f"min_mass={min_mass}"
            )
        self.max_num_layers = max_num_layers
        self.min_num_layers = min_num_layers
        self.max_in_degree = max_in_degree
        self.max_out_degree = max_out_degree
        self.max_num_edges = max_num_edges
        self.max_units = max_units
        self.min_units = min_units
        self.max_mass = max_mass
        self.min_mass = min_mass
        self._valid_pool: list[Architecture] | None = None
        # mutate() validates its parent, which is nearly always the child of the mutation
        # before (mutation chains, the GA's population): remembering the objects found
        # valid, by identity, spares the second check without hashing every candidate
        self._known_valid: dict[int, Architecture] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_known_valid"] = {}  # object identities mean nothing in another process
        return state

    def config(self) -> dict[str, Any]:
        return {
            "max_num_layers": self.max_num_layers,
            "min_num_layers": self.min_num_layers,
            "max_in_degree": self.max_in_degree,
            "max_out_degree": self.max_out_degree,
            "max_num_edges": self.max_num_edges,
            "max_units": self.max_units,
            "min_units": self.min_units,
            "max_mass": self.max_mass,
            "min_mass": self.min_mass,
        }

    # -- hooks for the two spaces ------------------------------------------------------

    @property
    def decision_label(self) -> str:
        return "softmax"

    def initial_pool(self) -> list[Architecture]:
        """NASBOT's hand-designed starting networks for this space."""
        raise NotImplementedError

    def _validate_family(self, arch: Architecture) -> None:
        """Rules specific to CNNs or MLPs."""

    def _swap_targets(self, label: str) -> dict[str, float]:
        raise NotImplementedError

    def _wedge_label(self, source_label: str, after_input: bool, rng: Any) -> str:
        raise NotImplementedError

    def _new_stride(self, label: str, rng: Any) -> int | None:
        return None

    # -- validation --------------------------------------------------------------------

    def validate(self, arch: Architecture) -> None:
        known = self._known_valid
        if known.get(id(arch)) is arch:
            return
        self._validate(arch)
        if len(known) >= self.known_valid_size:
            known.clear()
        known[id(arch)] = arch  # the reference keeps the id from being reused

    def _validate(self, arch: Architecture) -> None:
        self._check_vocabulary(arch)
        n = arch.num_layers
        if not self.min_num_layers <= n <= self.max_num_layers:
            raise InvalidArchitectureError(
                "num-layers",
                f"{n} layers, outside [{self.min_num_layers}, {self.max_num_layers}]",
            )
        if len(arch.edges) > self.max_num_edges:
            raise InvalidArchitectureError(
                "num-edges", f"{len(arch.edges)} edges, above max_num_edges={self.max_num_edges}"
            )
        for rule, neighbours, limit in (
            ("in-degree", arch.predecessors, self.max_in_degree),
            ("out-degree", arch.successors, self.max_out_degree),
        ):
            if max(map(len, map(neighbours, range(n)))) <= limit:
                continue
            over = tuple(i for i in range(n) if len(neighbours(i)) > limit)
            if over:
                raise InvalidArchitectureError(
                    rule, f"layers {list(over)} exceed the {rule} limit {limit}", over
                )
        bad_units = tuple(
            i for i, u in enumerate(arch.units)
            if u is not None and not self.min_units <= u <= self.max_units
        )  # fmt: skip
        if bad_units:
            raise InvalidArchitectureError(
                "units-range",
                f"layers {list(bad_units)} have units {[arch.units[i] for i in bad_units]} "
                f"outside [{self.min_units}, {self.max_units}]",
                bad_units,
            )
        decision = self.decision_label
        wrong_last = tuple(
            p for p in arch.predecessors(arch.output_layer) if arch.labels[p] != decision
        )
        if wrong_last:
            raise InvalidArchitectureError(
                "decision-layers",
                f"every layer feeding the output must be {decision!r}; layers {list(wrong_last)} "
                f"are {[arch.labels[i] for i in wrong_last]}",
                wrong_last,
            )
        misplaced = tuple(
            i for i, label in enumerate(arch.labels)
            if label in DECISION_LABELS and arch.successors(i) != (arch.output_layer,)
        )  # fmt: skip
        if misplaced:
            raise InvalidArchitectureError(
                "decision-layers",
                f"decision layers {list(misplaced)} must feed only the output layer",
                misplaced,
            )
        wrong_decision = tuple(
            i
            for i, label in enumerate(arch.labels)
            if label in DECISION_LABELS and label != decision
        )
        if wrong_decision:
            raise InvalidArchitectureError(
                "decision-layers",
                f"layers {list(wrong_decision)} are decision layers of another task; this space "
                f"uses {decision!r}",
                wrong_decision,
            )
        if not any(label in self.hidden_labels for label in arch.labels):
            raise InvalidArchitectureError(
                "processing-layers", "the network has no processing layer"
            )
        self._validate_family(arch)
        if self.min_mass > 0 or math.isfinite(self.max_mass):
            total = float(layer_masses(arch).sum())
            if not self.min_mass <= total <= self.max_mass:
                raise InvalidArchitectureError(
                    "mass", f"total mass {total:g} outside [{self.min_mass:g}, {self.max_mass:g}]"
                )

    # -- sampling -------------------------------------------------------------------

    def _sample(self, rng: Any) -> Architecture:
        # NASBOT samples its domain as pool networks plus random mutation steps.
        pool = self._random_pool_member(rng)
        steps = draw_mutation_steps(rng)
        arch = pool
        for _ in range(steps):
            arch = self.mutate(arch, rng)
        return arch

    def _random_pool_member(self, rng: Any) -> Architecture:
        if self._valid_pool is None:
            self._valid_pool = [a for a in self.initial_pool() if self.contains(a)]
        pool = self._valid_pool
        if not pool:
            raise InvalidSpaceError(
                f"none of {type(self).__name__}'s initial networks satisfies its constraints "
                f"{self.config()}"
            )
        return pool[int(rng.integers(len(pool)))]

    def mutate_steps(
        self, arch: Architecture, rng: RNGLike, num_steps: int | None = None
    ) -> Architecture:
        """Apply ``num_steps`` mutations (drawn from :data:`MUTATION_STEP_PROBS` if None)."""
        gen = as_generator(rng)
        if num_steps is None:
            num_steps = draw_mutation_steps(gen)
        for _ in range(num_steps):
            arch = self.mutate(arch, gen)
        return arch

    # -- the nine primitives ---------------------------------------------------------------

    def _propose_mutant(self, arch: Architecture, rng: Any) -> Architecture:
        primitive = _PRIMITIVE_NAMES[draw_index(rng, _PRIMITIVE_CDF)]
        return self.apply_primitive(arch, primitive, rng)

    def apply_primitive(self, arch: Architecture, primitive: str, rng: Any) -> Architecture:
        """One draw of a named primitive on ``arch``; the result may be invalid for the
        space's constraints (``mutate`` redraws those).

        Raises:
            InvalidArchitectureError: If the primitive has nothing to act on, or the
                result breaks a structural rule.
        """
        if primitive not in PRIMITIVE_MASSES:
            raise InvalidSpaceError(
                f"unknown primitive {primitive!r}; known: {list(PRIMITIVE_MASSES)}"
            )
        net = EditableArchitecture.of(arch)
        getattr(self, f"_{primitive}")(arch, net, rng)
        return net.build(self.vocabulary)

    def _unit_layers(self, arch: Architecture) -> list[int]:
        return [i for i in arch.topological_order() if arch.units[i] is not None]

    @staticmethod
    def _scaled(units: int, up: bool) -> int:
        new = round(units * (1 + UNIT_CHANGE_FRACTION if up else 1 - UNIT_CHANGE_FRACTION))
        if new == units:  # small layers would otherwise never change
            new = units + (1 if up else -1)
        return max(new, 1)

    def _change_units(
        self, arch: Architecture, net: EditableArchitecture, layers: Sequence[int], up: bool
    ) -> None:
        if not layers:
            raise InvalidArchitectureError("mutation", "no layer with units to change")
        for layer in layers:
            net.units[layer] = self._scaled(int(arch.units[layer]), up)  # type: ignore[arg-type]

    def _inc_single(self, arch: Architecture, net: EditableArchitecture, rng: Any) -> None:
        layers = self._unit_layers(arch)
        self._change_units(
            arch, net, [layers[int(rng.integers(len(layers)))]] if layers else [], True
        )

    def _dec_single(self, arch: Architecture, net: EditableArchitecture, rng: Any) -> None:
        layers = self._unit_layers(arch)
        self._change_units(
            arch, net, [layers[int(rng.integers(len(layers)))]] if layers else [], False
        )

    def _en_masse_groups(self, arch: Architecture) -> list[list[int]]:
        layers = self._unit_layers(arch)
        internal = arch.num_layers - 2
        groups: list[list[int]] = []
        for num_groups, threshold in ((2, 4), (4, 8), (8, 16)):
            if internal >= threshold:
                m = len(layers)
                groups += [
                    layers[(k - 1) * m // num_groups : k * m // num_groups]
                    for k in range(1, num_groups + 1)
                ]
        return [g for g in groups if g] or ([layers] if layers else [])

    def _inc_en_masse(self, arch: Architecture, net: EditableArchitecture, rng: Any) -> None:
        groups = self._en_masse_groups(arch)
        self._change_units(
            arch, net, groups[int(rng.integers(len(groups)))] if groups else [], True
        )

    def _dec_en_masse(self, arch: Architecture, net: EditableArchitecture, rng: Any) -> None:
        groups = self._en_masse_groups(arch)
        self._change_units(
            arch, net, groups[int(rng.integers(len(groups)))] if groups else [], False
        )

    def _swap_layer(self, arch: Architecture, net: EditableArchitecture, rng: Any) -> None:
        candidates = [i for i, label in enumerate(arch.labels) if self._swap_targets(label)]
        if not candidates:
            raise InvalidArchitectureError("mutation", "no layer can change its type")
        layer = candidates[int(rng.integers(len(candidates)))]
        targets = self._swap_targets(arch.labels[layer])
        names = list(targets)
        probs = np.array([targets[t] for t in names])
        new = names[draw_index(rng, cumulative_probabilities(probs / probs.sum()))]
        net.labels[layer] = new
        if not self.vocabulary.takes_units(new):
            net.units[layer] = None
        if self.vocabulary.takes_stride(new):
            stride = arch.strides[layer] or 1
            if rng.random() < 0.05:  # NASBOT flips a conv's stride now and then
                stride = 3 - stride
            net.strides[layer] = stride
        else:
            net.strides[layer] = None

    def _wedge_layer(self, arch: Architecture, net: EditableArchitecture, rng: Any) -> None:
        edges = [e for e in arch.edges if e[1] != arch.output_layer]
        if not edges:
            raise InvalidArchitectureError("mutation", "no edge to wedge a layer into")
        u, v = edges[int(rng.integers(len(edges)))]
        label = self._wedge_label(arch.labels[u], u == arch.input_layer, rng)
        units = None
        if self.vocabulary.takes_units(label):
            ends = [x for x in (arch.units[u], arch.units[v]) if x is not None]
            units = round(float(np.mean(ends))) if ends else self.min_units * 4
        new = net.add_layer(label, units, self._new_stride(label, rng))
        net.edges.discard((u, v))
        net.edges |= {(u, new), (new, v)}

    def _removable(self, arch: Architecture, layer: int) -> bool:
        label = arch.labels[layer]
        if label in (arch.vocabulary.input_label, arch.vocabulary.output_label, *DECISION_LABELS):
            return False
        if label == "fc":
            return all(arch.labels[p] == "fc" for p in arch.predecessors(layer))
        return True

    def _remove_layer(self, arch: Architecture, net: EditableArchitecture, rng: Any) -> None:
        candidates = [i for i in range(arch.num_layers) if self._removable(arch, i)]
        if not candidates:
            raise InvalidArchitectureError("mutation", "no layer can be removed")
        layer = candidates[int(rng.integers(len(candidates)))]
        parents, children = list(arch.predecessors(layer)), list(arch.successors(layer))
        # a removed downsampling layer hands its halving to its conv children.
        if arch.labels[layer] in POOL_LABELS or arch.strides[layer] == 2:
            for child in children:
                if arch.labels[child] in CONV_LABELS and arch.strides[child] == 1:
                    net.strides[child] = 2
        orphans = [c for c in children if arch.predecessors(c) == (layer,)]
        widows = [p for p in parents if arch.successors(p) == (layer,)]
        for child in orphans:
            net.edges.add((parents[int(rng.integers(len(parents)))], child))
        for parent in widows:
            net.edges.add((parent, children[int(rng.integers(len(children)))]))
        net.remove_layer(layer)

    def _start_probabilities(self, arch: Architecture, excluded: set[int]) -> np.ndarray:
        dist = np.asarray(_shortest_from_input(arch), dtype=float)
        probs = 1.0 / np.sqrt(1.0 + dist)
        for i in excluded:
            probs[i] = 0.0
        return probs

    def _branch(self, arch: Architecture, net: EditableArchitecture, rng: Any) -> None:
        excluded = {
            i
            for i, lab in enumerate(arch.labels)
            if lab in ("fc", *DECISION_LABELS) or i == arch.output_layer
        }
        probs = self._start_probabilities(arch, excluded)
        if probs.sum() == 0:
            raise InvalidArchitectureError("mutation", "no layer to branch from")
        start = draw_index(rng, cumulative_probabilities(probs / probs.sum()))
        path = [start]
        while path[-1] != arch.output_layer:
            succs = arch.successors(path[-1])
            path.append(succs[int(rng.integers(len(succs)))])
            if len(path) >= 4 and rng.random() < 0.2:
                break
        end = path[-1]
        copies: list[int] = []
        for layer in path[1:-1]:
            label = arch.labels[layer]
            must_keep = label in POOL_LABELS or arch.strides[layer] == 2 or label == "fc"
            if must_keep or rng.random() < 0.5:
                copies.append(net.add_layer(label, arch.units[layer], arch.strides[layer]))
        chain = [start, *copies, end]
        new_edges = set(itertools.pairwise(chain))
        if new_edges <= net.edges:
            raise InvalidArchitectureError("mutation", "the branch duplicates an existing edge")
        net.edges |= new_edges

    def _skip(self, arch: Architecture, net: EditableArchitecture, rng: Any) -> None:
        from_ip = _shortest_from_input(arch)
        to_op = _shortest_to_output(arch)
        excluded = {
            i
            for i, lab in enumerate(arch.labels)
            if lab in DECISION_LABELS or i in (arch.input_layer, arch.output_layer)
        }
        probs = self._start_probabilities(arch, excluded)
        if probs.sum() == 0:
            raise InvalidArchitectureError("mutation", "no layer to start a skip from")
        start = draw_index(rng, cumulative_probabilities(probs / probs.sum()))
        ends = [
            v for v in range(arch.num_layers)
            if from_ip[v] - 1 > from_ip[start] and to_op[v] + 1 < to_op[start]
            and arch.labels[v] not in DECISION_LABELS and v != arch.output_layer
            and (start, v) not in net.edges and self._skip_end_ok(arch, start, v)
        ]  # fmt: skip
        if not ends:
            raise InvalidArchitectureError("mutation", f"no layer to skip to from layer {start}")
        end = ends[int(rng.integers(len(ends)))]
        self._connect_skip(arch, net, start, end)

    def _skip_end_ok(self, arch: Architecture, start: int, end: int) -> bool:
        return True

    def _connect_skip(
        self, arch: Architecture, net: EditableArchitecture, start: int, end: int
    ) -> None:
        net.edges.add((start, end))

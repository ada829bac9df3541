"""Layer vocabularies: which labels a space's architectures may use.

A :class:`Vocabulary` names the layer labels of one family of architectures, which of
them carry a number of units and which carry a stride. An
:class:`~bonas.architecture.Architecture` is validated against one vocabulary, and
refers to it by name in its JSON form, so vocabularies live in a registry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from bonas.exceptions import InvalidSpaceError

__all__ = [
    "CNN_VOCABULARY",
    "DARTS_VOCABULARY",
    "MLP_VOCABULARY",
    "NB101_VOCABULARY",
    "NB201_VOCABULARY",
    "NBGRAPH_VOCABULARY",
    "Vocabulary",
    "derived_vocabulary",
    "get_vocabulary",
    "register_vocabulary",
    "registered_vocabularies",
]


@dataclass(frozen=True)
class Vocabulary:
    """The layer labels of a family of architectures.

    Args:
        name: Registry key, stored in an architecture's JSON form.
        labels: Every allowed layer label, the input and output labels included.
        input_label: The label of the single input layer.
        output_label: The label of the single output layer.
        unit_labels: Labels whose layers carry a positive integer number of units.
        stride_labels: Labels whose layers carry a stride.
        strides: The strides allowed on ``stride_labels`` layers; the first is the default.

    Example:
        >>> vocab = Vocabulary("toy", ("ip", "op", "dense"), unit_labels=frozenset({"dense"}))
        >>> vocab.takes_units("dense"), vocab.takes_units("ip")
        (True, False)
    """

    name: str
    labels: tuple[str, ...]
    input_label: str = "ip"
    output_label: str = "op"
    unit_labels: frozenset[str] = field(default_factory=frozenset)
    stride_labels: frozenset[str] = field(default_factory=frozenset)
    strides: tuple[int, ...] = (1,)

    def __post_init__(self) -> None:
        label_set = set(self.labels)
        if len(label_set) != len(self.labels):
            raise InvalidSpaceError(f"vocabulary {self.name!r} repeats labels: {self.labels}")
        for role, label in (("input", self.input_label), ("output", self.output_label)):
            if label not in label_set:
                raise InvalidSpaceError(
                    f"vocabulary {self.name!r}: {role} label {label!r} is not among its labels"
                )
        for role, subset in (("unit", self.unit_labels), ("stride", self.stride_labels)):
            unknown = set(subset) - label_set
            if unknown:
                raise InvalidSpaceError(
                    f"vocabulary {self.name!r}: {role} labels {sorted(unknown)} are not among "
                    "its labels"
                )
        if not self.strides or any(s <= 0 for s in self.strides):
            raise InvalidSpaceError(
                f"vocabulary {self.name!r}: strides must be positive, got {self.strides}"
            )

    @cached_property
    def label_set(self) -> frozenset[str]:
        """The labels as a set."""
        return frozenset(self.labels)

    def __contains__(self, label: object) -> bool:
        return label in self.label_set

    def takes_units(self, label: str) -> bool:
        """Whether layers with this label carry a number of units."""
        return label in self.unit_labels

    def takes_stride(self, label: str) -> bool:
        """Whether layers with this label carry a stride."""
        return label in self.stride_labels

    @property
    def default_stride(self) -> int:
        """The stride given to stride-carrying layers when none is specified."""
        return self.strides[0]


_REGISTRY: dict[str, Vocabulary] = {}


def register_vocabulary(vocabulary: Vocabulary) -> Vocabulary:
    """Add a vocabulary to the registry so architectures can refer to it by name.

    Registering the same vocabulary twice is a no-op; registering a different one
    under a taken name raises :class:`~bonas.exceptions.InvalidSpaceError`.
    """
    existing = _REGISTRY.get(vocabulary.name)
    if existing is not None and existing != vocabulary:
        raise InvalidSpaceError(
            f"a different vocabulary is already registered as {vocabulary.name!r}"
        )
    _REGISTRY[vocabulary.name] = vocabulary
    return vocabulary


def derived_vocabulary(
    prefix: str,
    labels: Sequence[str],
    *,
    input_label: str = "ip",
    output_label: str = "op",
    unit_labels: Iterable[str] = (),
    stride_labels: Iterable[str] = (),
    strides: Sequence[int] = (1,),
) -> Vocabulary:
    """A vocabulary built at run time (a user's ops, a table's layers), registered under
    ``<prefix>-<digest of its fields>``.

    Every process that derives the same vocabulary registers it under the same name, so
    architectures' JSON resolves in worker processes and after a restart.

    Example:
        >>> derived_vocabulary("cell", ("ip", "op", "a", "b")).name.startswith("cell-")
        True
    """
    fields = {
        "labels": list(labels),
        "input_label": input_label,
        "output_label": output_label,
        "unit_labels": sorted(unit_labels),
        "stride_labels": sorted(stride_labels),
        "strides": list(strides),
    }
    digest = hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]
    return register_vocabulary(
        Vocabulary(
            f"{prefix}-{digest}",
            tuple(labels),
            input_label=input_label,
            output_label=output_label,
            unit_labels=frozenset(fields["unit_labels"]),
            stride_labels=frozenset(fields["stride_labels"]),
            strides=tuple(strides),
        )
    )


def get_vocabulary(name: str | Vocabulary) -> Vocabulary:
    """Look a vocabulary up by name (a :class:`Vocabulary` is returned unchanged)."""
    if isinstance(name, Vocabulary):
        return name
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InvalidSpaceError(
            f"unknown vocabulary {name!r}; registered: {sorted(_REGISTRY)}"
        ) from None


def registered_vocabularies() -> tuple[Vocabulary, ...]:
    """All registered vocabularies, in registration order."""
    return tuple(_REGISTRY.values())


def vocabularies_covering(labels: Iterable[str]) -> tuple[Vocabulary, ...]:
    """The registered vocabularies that contain every one of ``labels``."""
    wanted = set(labels)
    return tuple(v for v in _REGISTRY.values() if wanted <= set(v.labels))


# NASBOT's CNN layers (Kandasamy et al. 2018, dragonfly/nn/neural_network.py).
CNN_VOCABULARY = register_vocabulary(
    Vocabulary(
        name="cnn",
        labels=(
            "ip", "op", "conv3", "conv5", "conv7", "res3", "res5", "res7",
            "max-pool", "avg-pool", "fc", "softmax",
        ),
        unit_labels=frozenset({"conv3", "conv5", "conv7", "res3", "res5", "res7", "fc"}),
        stride_labels=frozenset({"conv3", "conv5", "conv7", "res3", "res5", "res7"}),
        strides=(1, 2),
    )
)  # fmt: skip

# NASBOT's MLP layers: hidden activations, with ``linear`` (regression) or ``softmax``
# (classification) as the decision layer.
MLP_VOCABULARY = register_vocabulary(
    Vocabulary(
        name="mlp",
        labels=(
            "ip", "op", "relu", "crelu", "leaky-relu", "softplus", "elu", "logistic",
            "tanh", "linear", "softmax",
        ),
        unit_labels=frozenset(
            {"relu", "crelu", "leaky-relu", "softplus", "elu", "logistic", "tanh"}
        ),
    )
)  # fmt: skip

# NAS-Bench-201 cells (Dong & Yang 2020): each cell edge is a node carrying its op
# (``none`` included, so the official string round-trips), each cell node a ``sum``.
# ``zero`` marks a layer graph whose output receives nothing (see bonas.spaces.nb201).
NB201_VOCABULARY = register_vocabulary(
    Vocabulary(
        name="nb201",
        labels=(
            "ip", "op", "sum", "none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3",
            "avg_pool_3x3", "zero",
        ),
    )
)  # fmt: skip

# NAS-Bench-101 cells (Ying et al. 2019): vertices are the layers.
NB101_VOCABULARY = register_vocabulary(
    Vocabulary(
        name="nb101",
        labels=("ip", "op", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"),
    )
)

# NAS-Bench-Graph (Qin et al. 2022): four GNN layers over nine link patterns.
NBGRAPH_VOCABULARY = register_vocabulary(
    Vocabulary(
        name="nbgraph",
        labels=("ip", "op", "gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip"),
    )
)

# DARTS / NAS-Bench-301 genotypes (Liu et al. 2019; Siems et al. 2020): each cell's
# two inputs and its output concatenation are labelled by cell type.
DARTS_VOCABULARY = register_vocabulary(
    Vocabulary(
        name="darts",
        labels=(
            "ip", "op", "sum",
            "normal-in-prev-prev", "normal-in-prev", "normal-concat",
            "reduce-in-prev-prev", "reduce-in-prev", "reduce-concat",
            "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
            "dil_conv_3x3", "dil_conv_5x5",
        ),
    )
)  # fmt: skip

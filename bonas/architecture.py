"""Immutable, validated architecture specs over directed graphs of layers.

An :class:`Architecture` is a directed acyclic graph whose nodes are layers. Each layer
has a label from a :class:`~bonas.vocabulary.Vocabulary`, a number of units where the
label takes them, and a stride where the label takes one. It is a *spec*: it builds no
``nn.Module`` (see the builders) and knows no search-space constraints beyond the
structural rules below (see :mod:`bonas.spaces`).

Structural rules, each checked on construction:

* ``vocabulary``: every label belongs to the vocabulary;
* ``single-input`` / ``single-output``: exactly one input and one output layer;
* ``edges``: edges join existing, distinct layers and are not repeated;
* ``acyclic``: the graph has no directed cycle;
* ``on-path``: every layer lies on a path from the input to the output;
* ``units``: unit-carrying layers have a positive integer number of units, others ``None``;
* ``strides``: stride-carrying layers have a stride the vocabulary allows, others ``None``.

Equality and hashing ignore how layers are numbered: two architectures are equal when
their graphs are isomorphic with labels, units and strides matched.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import json
import numbers
import operator
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import networkx as nx

from bonas.exceptions import InvalidArchitectureError, SerializationError
from bonas.vocabulary import Vocabulary, get_vocabulary, vocabularies_covering

__all__ = ["Architecture"]

_JSON_FORMAT = "bonas.architecture"
_JSON_VERSION = 1
_WL_ITERATIONS = 4


def _node_key(label: str, units: int | None, stride: int | None) -> str:
    return f"{label}|{'' if units is None else units}|{'' if stride is None else stride}"


class Architecture:
    """An immutable architecture spec: a validated DAG of labelled layers.

    Construct with :meth:`from_layers`, :meth:`from_networkx` or :meth:`from_json`.

    Args:
        labels: Layer labels; layer ``i`` has label ``labels[i]``.
        units: Units of each layer, ``None`` for labels that take no units.
        edges: Directed edges ``(i, j)`` between layer indices.
        strides: Stride of each layer, ``None`` for labels that take none.
        vocabulary: The vocabulary the labels come from.

    Example:
        >>> arch = Architecture.from_layers(
        ...     ["ip", "conv3", "fc", "softmax", "op"],
        ...     [None, 16, 32, None, None],
        ...     [(0, 1), (1, 2), (2, 3), (3, 4)],
        ...     vocabulary="cnn",
        ... )
        >>> arch.num_layers, arch.labels[1], arch.units[1]
        (5, 'conv3', 16)
    """

    __slots__ = (
        "_edges",
        "_graph",
        "_hash",
        "_labels",
        "_order",
        "_predecessors",
        "_strides",
        "_successors",
        "_units",
        "_vocabulary",
    )

    def __init__(
        self,
        labels: Sequence[str],
        units: Sequence[int | None],
        edges: Iterable[tuple[int, int]],
        strides: Sequence[int | None],
        vocabulary: Vocabulary,
    ) -> None:
        labels_t, units_t, edges_t, strides_t = _checked_inputs(labels, units, edges, strides)
        if not isinstance(vocabulary, Vocabulary):
            raise InvalidArchitectureError(
                "vocabulary", f"expected a Vocabulary, got {type(vocabulary).__name__}"
            )
        order, preds, succs, edges_t = _validate(labels_t, units_t, edges_t, strides_t, vocabulary)
        # numpy integers pass validation; store plain ints so JSON and hashing agree.
        units_t = tuple(None if u is None else int(u) for u in units_t)
        strides_t = tuple(None if s is None else int(s) for s in strides_t)
        object.__setattr__(self, "_labels", labels_t)
        object.__setattr__(self, "_units", units_t)
        object.__setattr__(self, "_strides", strides_t)
        object.__setattr__(self, "_edges", edges_t)
        object.__setattr__(self, "_vocabulary", vocabulary)
        object.__setattr__(self, "_order", order)
        object.__setattr__(self, "_predecessors", preds)
        object.__setattr__(self, "_successors", succs)
        # built on first use: mutation makes and validates thousands of architectures
        # per acquisition step, and most are only hashed, compared and measured
        object.__setattr__(self, "_graph", None)
        object.__setattr__(self, "_hash", None)

    # -- construction -------------------------------------------------------------

    @classmethod
    def from_layers(
        cls,
        labels: Sequence[str],
        units: Sequence[int | None],
        edges: Iterable[tuple[int, int]],
        strides: Sequence[int | None] | None = None,
        *,
        vocabulary: Vocabulary | str | None = None,
    ) -> Architecture:
        """Build an architecture from per-layer lists, layers indexed ``0..n-1``.

        Args:
            labels: Layer labels, length ``n``.
            units: Units per layer, length ``n``; ``None`` where the label takes none.
            edges: ``(i, j)`` pairs of layer indices.
            strides: Strides per layer, length ``n``, ``None`` where the label takes
                none. Omitted: the vocabulary's default stride on every stride layer.
            vocabulary: A :class:`Vocabulary` or registered name. Omitted: the single
                registered vocabulary containing every label (an error if several do).

        Returns:
            The validated architecture.

        Raises:
            InvalidArchitectureError: If a structural rule is broken; the message names
                the rule and the offending layers.
        """
        labels = _checked_labels(labels)
        vocab = _resolve_vocabulary(labels, vocabulary)
        if strides is None:
            strides = tuple(
                vocab.default_stride if vocab.takes_stride(label) else None for label in labels
            )
        return cls(labels, tuple(units), edges, tuple(strides), vocab)

    @classmethod
    def from_networkx(
        cls, graph: nx.DiGraph, *, vocabulary: Vocabulary | str | None = None
    ) -> Architecture:
        """Build an architecture from a DiGraph whose nodes carry ``label``, ``units``
        and optionally ``stride`` attributes. Node names are discarded; layers are
        numbered in ``graph.nodes`` order.

        Raises:
            InvalidArchitectureError: If ``graph`` is not a simple ``networkx.DiGraph``
                (a multigraph, an undirected graph, anything else), a node lacks a
                ``label``, or the layers break a rule.
        """
        if not isinstance(graph, nx.DiGraph) or graph.is_multigraph():
            raise InvalidArchitectureError(
                "graph", f"expected a networkx.DiGraph, got {type(graph).__name__}"
            )
        nodes = list(graph.nodes)
        index = {node: i for i, node in enumerate(nodes)}
        missing = [n for n in nodes if "label" not in graph.nodes[n]]
        if missing:
            raise InvalidArchitectureError(
                "vocabulary", f"nodes without a 'label' attribute: {_shown(missing)}"
            )
        labels = _checked_labels([graph.nodes[n]["label"] for n in nodes])
        units = [graph.nodes[n].get("units") for n in nodes]
        vocab = _resolve_vocabulary(labels, vocabulary)
        strides = [
            graph.nodes[n].get("stride", vocab.default_stride if vocab.takes_stride(lab) else None)
            for n, lab in zip(nodes, labels, strict=True)
        ]
        edges = [(index[u], index[v]) for u, v in graph.edges]
        return cls(labels, units, edges, strides, vocab)

    # -- read-only access ----------------------------------------------------------

    @property
    def labels(self) -> tuple[str, ...]:
        """Layer labels, indexed by layer."""
        return self._labels

    @property
    def units(self) -> tuple[int | None, ...]:
        """Units per layer, ``None`` where the label takes none."""
        return self._units

    @property
    def strides(self) -> tuple[int | None, ...]:
        """Strides per layer, ``None`` where the label takes none."""
        return self._strides

    @property
    def edges(self) -> tuple[tuple[int, int], ...]:
        """Directed edges ``(i, j)``, sorted."""
        return self._edges

    @property
    def vocabulary(self) -> Vocabulary:
        """The vocabulary the labels come from."""
        return self._vocabulary

    @property
    def num_layers(self) -> int:
        """Number of layers, input and output included."""
        return len(self._labels)

    @property
    def input_layer(self) -> int:
        """Index of the input layer."""
        return self._labels.index(self._vocabulary.input_label)

    @property
    def output_layer(self) -> int:
        """Index of the output layer."""
        return self._labels.index(self._vocabulary.output_label)

    @property
    def canonical_hash(self) -> str:
        """A hex digest invariant to layer numbering (Weisfeiler–Lehman based).

        Equal architectures have equal hashes; unequal architectures collide only
        when WL cannot tell their graphs apart, and ``==`` then decides exactly.
        """
        if self._hash is None:
            object.__setattr__(self, "_hash", _canonical_hash(self, self._vocabulary.name))
        return self._hash

    def wl_colours(self, iterations: int, *, until_stable: bool = False) -> list[list[str]]:
        """Weisfeiler-Lehman colours of the layers, one list per refinement round.

        Colours are comparable across architectures (they depend on labels, units,
        strides and structure, not on layer numbering). Round 0 is the layers' own
        label/units/stride; each round adds predecessors' and successors' colours.

        Args:
            iterations: Most refinement rounds after round 0.
            until_stable: Stop early once a round splits no colour class (round 1 is
                always computed).
        """
        return _wl_rounds(self, iterations, until_stable)

    def _networkx(self) -> nx.DiGraph:
        """The frozen graph, built once."""
        if self._graph is None:
            graph = nx.DiGraph()
            for i, label in enumerate(self._labels):
                graph.add_node(i, label=label, units=self._units[i], stride=self._strides[i])
            graph.add_edges_from(self._edges)
            object.__setattr__(self, "_graph", nx.freeze(graph))
        return self._graph

    def to_networkx(self) -> nx.DiGraph:
        """A mutable copy of the graph; nodes ``0..n-1`` carry ``label``, ``units``, ``stride``."""
        return nx.DiGraph(self._networkx())

    def predecessors(self, layer: int) -> tuple[int, ...]:
        """Layers with an edge into ``layer``, sorted."""
        return self._predecessors[layer]

    def successors(self, layer: int) -> tuple[int, ...]:
        """Layers that ``layer`` has an edge into, sorted."""
        return self._successors[layer]

    def topological_order(self) -> tuple[int, ...]:
        """Layer indices in a deterministic topological order (ties by index)."""
        return self._order

    def replace(
        self,
        *,
        labels: Sequence[str] | None = None,
        units: Sequence[int | None] | None = None,
        edges: Iterable[tuple[int, int]] | None = None,
        strides: Sequence[int | None] | None = None,
    ) -> Architecture:
        """A new, validated architecture with some per-layer lists replaced."""
        return Architecture(
            self._labels if labels is None else labels,
            self._units if units is None else units,
            self._edges if edges is None else edges,
            self._strides if strides is None else strides,
            self._vocabulary,
        )

    # -- identity ---------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Architecture):
            return NotImplemented
        if self is other:
            return True
        if (
            self._vocabulary.name != other._vocabulary.name
            or self.num_layers != other.num_layers
            or len(self._edges) != len(other._edges)
        ):
            return False
        # a mutant and its parent usually differ in their layers' (label, units, stride)
        # multisets, which is far cheaper to see than hashing both
        if (self._hash is None or other._hash is None) and _layer_multiset(self) != _layer_multiset(
            other
        ):
            return False
        if self.canonical_hash != other.canonical_hash:
            return False
        if (
            self._labels == other._labels
            and self._units == other._units
            and (self._strides == other._strides and self._edges == other._edges)
        ):
            return True
        return nx.is_isomorphic(
            self._networkx(),
            other._networkx(),
            node_match=lambda a, b: (
                (a["label"], a["units"], a["stride"]) == (b["label"], b["units"], b["stride"])
            ),
        )

    def __hash__(self) -> int:
        return int(self.canonical_hash[:16], 16)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Architecture is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Architecture is immutable; cannot delete {name!r}")

    def __repr__(self) -> str:
        layers = ", ".join(
            label if units is None else f"{label}:{units}"
            for label, units in zip(self._labels, self._units, strict=True)
        )
        return (
            f"Architecture({self._vocabulary.name}, {self.num_layers} layers [{layers}], "
            f"{len(self._edges)} edges)"
        )

    # -- serialisation --------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict; :meth:`from_dict` inverts it."""
        return {
            "format": _JSON_FORMAT,
            "version": _JSON_VERSION,
            "vocabulary": self._vocabulary.name,
            "labels": list(self._labels),
            "units": list(self._units),
            "strides": list(self._strides),
            "edges": [list(e) for e in self._edges],
        }

    def to_json(self) -> str:
        """The architecture as a JSON string."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Architecture:
        """Rebuild an architecture from :meth:`to_dict` output, validating it."""
        if not isinstance(data, Mapping) or data.get("format") != _JSON_FORMAT:
            raise SerializationError(
                f"not a bonas architecture: expected 'format': {_JSON_FORMAT!r}, got "
                f"{data.get('format') if isinstance(data, Mapping) else type(data).__name__!r}"
            )
        if data.get("version") != _JSON_VERSION:
            raise SerializationError(
                f"unsupported architecture format version {data.get('version')!r}; "
                f"this bonas reads version {_JSON_VERSION}"
            )
        missing = [
            k for k in ("vocabulary", "labels", "units", "strides", "edges") if k not in data
        ]
        if missing:
            raise SerializationError(f"architecture JSON lacks the keys {missing}")
        edges = data["edges"]
        if not isinstance(edges, list) or not all(
            isinstance(e, Sequence) and not isinstance(e, str) and len(e) == 2 for e in edges
        ):
            raise SerializationError(f"architecture edges must be pairs, got {_shown(edges)}")
        if not isinstance(data["vocabulary"], str):
            raise SerializationError(
                f"the architecture's vocabulary must be a name, got {_shown(data['vocabulary'])}"
            )
        return cls(
            data["labels"],
            data["units"],
            [(e[0], e[1]) for e in edges],
            data["strides"],
            get_vocabulary(data["vocabulary"]),
        )

    @classmethod
    def from_json(cls, text: str) -> Architecture:
        """Rebuild an architecture from :meth:`to_json` output, validating it.

        Raises:
            SerializationError: If ``text`` is not JSON (or not UTF-8), nests too deep, or
                is not a bonas architecture.
            InvalidArchitectureError: If the architecture breaks a rule.
        """
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise SerializationError(f"architecture JSON does not parse: {err}") from None
        except RecursionError:
            raise SerializationError("architecture JSON nests too deep to read") from None
        except TypeError:
            raise SerializationError(
                f"architecture JSON must be text, got {type(text).__name__}"
            ) from None
        return cls.from_dict(data)

    def __reduce__(self) -> tuple:
        return (_from_pickle, (self.to_dict(),))


#: The largest units or stride a layer may have: beyond any network, within a float.
MAX_SIZE = 2**31


def _shown(value: Any) -> str:
    """A short repr for messages (a huge int's repr may be refused or very long)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**12:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _as_tuple(values: Any, what: str) -> tuple[Any, ...]:
    if isinstance(values, str | bytes | bytearray | Mapping):
        raise InvalidArchitectureError(what, f"{what} must be a sequence, got {_shown(values)}")
    try:
        return tuple(values)
    except TypeError:
        raise InvalidArchitectureError(
            what, f"{what} must be a sequence, got {type(values).__name__}"
        ) from None


def _checked_labels(labels: Any) -> tuple[str, ...]:
    labels_t = _as_tuple(labels, "labels")
    bad = [i for i, label in enumerate(labels_t) if not isinstance(label, str)]
    if bad:
        raise InvalidArchitectureError(
            "labels",
            f"labels must be strings; layers {bad} have {[_shown(labels_t[i]) for i in bad[:5]]}",
            tuple(bad),
        )
    return labels_t


def _checked_sizes(values: Any, what: str) -> tuple[int | None, ...]:
    """Units or strides: ``None`` or whole numbers up to :data:`MAX_SIZE` in size."""
    values_t = _as_tuple(values, what)
    if all(v is None or (type(v) is int and -MAX_SIZE <= v <= MAX_SIZE) for v in values_t):
        return values_t  # plain ints, as every bonas space builds them: the hot path
    bad = [
        i
        for i, value in enumerate(values_t)
        if value is not None
        and (
            isinstance(value, bool)
            or not isinstance(value, numbers.Integral)
            or not -MAX_SIZE <= int(value) <= MAX_SIZE
        )
    ]
    if bad:
        raise InvalidArchitectureError(
            what,
            f"{what} must be None or whole numbers of at most {MAX_SIZE}; layers {bad} have "
            f"{[_shown(values_t[i]) for i in bad[:5]]}",
            tuple(bad),
        )
    return values_t


def _checked_inputs(
    labels: Any, units: Any, edges: Any, strides: Any
) -> tuple[tuple[str, ...], tuple[Any, ...], tuple[tuple[int, int], ...], tuple[Any, ...]]:
    """The constructor's inputs as tuples of the right types, or an
    :class:`InvalidArchitectureError` that names the first wrong one."""
    labels_t = _checked_labels(labels)
    units_t = _checked_sizes(units, "units")
    strides_t = _checked_sizes(strides, "strides")
    given = _as_tuple(edges, "edges")
    if all(
        type(edge) is tuple
        and len(edge) == 2
        and type(edge[0]) is int
        and type(edge[1]) is int
        and -MAX_SIZE < edge[0] < MAX_SIZE
        and -MAX_SIZE < edge[1] < MAX_SIZE
        for edge in given
    ):
        return labels_t, units_t, given, strides_t  # pairs of plain ints: the hot path
    edges_t = []
    for edge in given:
        try:
            pair = tuple(edge) if not isinstance(edge, str | bytes | bytearray) else (edge,)
        except TypeError:
            pair = (edge,)
        if len(pair) != 2 or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and abs(int(v)) < MAX_SIZE
            for v in pair
        ):
            shown = _shown(pair) if len(pair) != 1 else _shown(edge)
            raise InvalidArchitectureError(
                "edges",
                f"edge {shown} must join two layer indices in 0..{len(labels_t) - 1}",
            )
        edges_t.append((int(pair[0]), int(pair[1])))
    return labels_t, units_t, tuple(edges_t), strides_t


def _from_pickle(data: dict[str, Any]) -> Architecture:
    return Architecture.from_dict(data)


def _resolve_vocabulary(labels: Sequence[str], vocabulary: Vocabulary | str | None) -> Vocabulary:
    if vocabulary is not None:
        return get_vocabulary(vocabulary)
    candidates = vocabularies_covering(labels)
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise InvalidArchitectureError(
            "vocabulary",
            f"no registered vocabulary contains all of the labels {sorted(set(labels))}",
        )
    raise InvalidArchitectureError(
        "vocabulary",
        f"labels {sorted(set(labels))} fit several vocabularies "
        f"{[v.name for v in candidates]}; pass vocabulary=",
    )


def _layer_multiset(arch: Architecture) -> Counter:
    """How many layers of each ``(label, units, stride)`` an architecture has."""
    return Counter(zip(arch._labels, arch._units, arch._strides, strict=True))


def _canonical_hash(arch: Architecture, vocabulary_name: str) -> str:
    """Weisfeiler-Lehman subtree hash of the labelled DAG, in and out neighbours apart."""
    rounds = _wl_rounds(arch, _WL_ITERATIONS)
    summary = "|".join(",".join(sorted(colours)) for colours in rounds)
    payload = f"{vocabulary_name}:{arch.num_layers}:{len(arch.edges)}:{summary}"
    return hashlib.sha256(payload.encode()).hexdigest()


def _wl_rounds(arch: Architecture, iterations: int, until_stable: bool = False) -> list[list[str]]:
    """Weisfeiler-Lehman colours of the layers ``0..n-1``, one list per round.

    Round 0 colours each layer by its label, units and stride; each later round by its
    own colour and the sorted colours of its predecessors and, apart, its successors
    (as ``nx.weisfeiler_lehman_graph_hash`` on directed graphs, written over plain lists
    because hashing is on the search's hot path: about 8x faster here). With
    ``until_stable``, refinement stops once a round splits no colour class.
    """
    preds, succs = arch._predecessors, arch._successors
    nodes = range(arch.num_layers)
    colours = list(map(_layer_colour, arch._labels, arch._units, arch._strides))
    rounds = [colours]
    for _ in range(iterations):
        colours = [
            _refined(colours[v], _around(colours, preds[v]), _around(colours, succs[v]))
            for v in nodes
        ]
        if until_stable and len(rounds) > 1 and len(set(colours)) == len(set(rounds[-1])):
            break
        rounds.append(colours)
    return rounds


def _around(colours: list[str], neighbours: tuple[int, ...]) -> tuple[str, ...]:
    """The neighbours' colours, sorted (most layers have one)."""
    if len(neighbours) == 1:
        return (colours[neighbours[0]],)
    return tuple(sorted([colours[v] for v in neighbours]))


# Both colourings are memoised: a search hashes thousands of mutants of a few parents a
# step, whose layers mostly keep their neighbourhoods, hence their colours. The keys are
# the colours themselves (strings, whose hashes Python keeps), not the joined texts,
# which would be hashed anew every time.
@functools.lru_cache(maxsize=1 << 12)
def _layer_colour(label: str, units: int | None, stride: int | None) -> str:
    return _digest(_node_key(label, units, stride))


@functools.lru_cache(maxsize=1 << 16)
def _refined(colour: str, before: tuple[str, ...], after: tuple[str, ...]) -> str:
    return _digest(colour + "<" + ",".join(before) + ">" + ",".join(after))


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def _is_positive_int(value: object) -> bool:
    if type(value) is int:  # the common case, without the slower ABC check
        return value > 0
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0


def _is_index(value: object, n: int) -> bool:
    if type(value) is int:
        return 0 <= value < n
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and 0 <= value < n


def _validate(
    labels: tuple[str, ...],
    units: tuple[int | None, ...],
    edges: tuple[tuple[int, ...], ...],
    strides: tuple[int | None, ...],
    vocab: Vocabulary,
) -> tuple[
    tuple[int, ...],
    tuple[tuple[int, ...], ...],
    tuple[tuple[int, ...], ...],
    tuple[tuple[int, int], ...],
]:
    """Check every structural rule; return the topological order (ties by index), each
    layer's sorted predecessors and successors, and the edges as sorted pairs of ints.

    Mutation builds thousands of architectures per acquisition step, so the common case
    (plain int edges, one source and one sink) is checked in bulk, and the per-edge and
    per-layer walks that name a broken rule run only when the bulk check fails."""
    n = len(labels)
    if len(units) != n or len(strides) != n:
        raise InvalidArchitectureError(
            "lengths",
            f"labels, units and strides must have one entry per layer; got {n} labels, "
            f"{len(units)} units, {len(strides)} strides",
        )
    unknown = (
        ()
        if vocab.label_set.issuperset(labels)
        else tuple(i for i, label in enumerate(labels) if label not in vocab)
    )
    if unknown:
        raise InvalidArchitectureError(
            "vocabulary",
            f"layers {list(unknown)} have labels {sorted({labels[i] for i in unknown})} that are "
            f"not in the {vocab.name!r} vocabulary {list(vocab.labels)}",
            unknown,
        )
    for rule, label in (("single-input", vocab.input_label), ("single-output", vocab.output_label)):
        if labels.count(label) != 1:
            found = tuple(i for i, lab in enumerate(labels) if lab == label)
            raise InvalidArchitectureError(
                rule,
                f"expected exactly one {label!r} layer, found {len(found)} at {list(found)}",
                found,
            )
    if not _plain_edges(edges, n):
        _check_edges(edges, n)  # raises, naming the broken edge, or the edges were fine
        edges = tuple((int(u), int(v)) for u, v in edges)
    sorted_edges = tuple(sorted(edges))  # so is every list below

    preds: list[list[int]] = [[] for _ in range(n)]
    succs: list[list[int]] = [[] for _ in range(n)]
    for u, v in sorted_edges:
        succs[u].append(v)
        preds[v].append(u)
    # Kahn's algorithm, smallest index first: the order of networkx's
    # lexicographical_topological_sort, without building a networkx graph
    in_degrees = [len(p) for p in preds]
    waiting = in_degrees.copy()
    ready = [v for v in range(n) if waiting[v] == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        v = heapq.heappop(ready)
        order.append(v)
        for w in succs[v]:
            waiting[w] -= 1
            if waiting[w] == 0:
                heapq.heappush(ready, w)
    if len(order) < n:
        graph = nx.DiGraph()
        graph.add_nodes_from(range(n))
        graph.add_edges_from(edges)
        cycle = nx.find_cycle(graph)
        layers = tuple(sorted({u for u, _ in cycle}))
        raise InvalidArchitectureError(
            "acyclic", f"the graph has a cycle through layers {list(layers)}: {cycle}", layers
        )
    source = labels.index(vocab.input_label)
    sink = labels.index(vocab.output_label)
    # in a DAG every layer lies on a source-sink path when the source is the only layer
    # without predecessors and the sink the only one without successors
    off_path: tuple[int, ...] = ()
    if in_degrees.count(0) != 1 or preds[source] or succs.count([]) != 1 or succs[sink]:
        on_path = _reachable(source, succs) & _reachable(sink, preds)
        off_path = tuple(i for i in range(n) if i not in on_path)
    if off_path:
        raise InvalidArchitectureError(
            "on-path",
            f"layers {list(off_path)} ({[labels[i] for i in off_path]}) do not lie on a path "
            f"from the input layer {source} to the output layer {sink}",
            off_path,
        )
    unit_labels, stride_labels, allowed_strides = (
        vocab.unit_labels,
        vocab.stride_labels,
        vocab.strides,
    )
    for i, (label, unit, stride) in enumerate(zip(labels, units, strides, strict=True)):
        if label in unit_labels:
            if not _is_positive_int(unit):
                raise InvalidArchitectureError(
                    "units",
                    f"layer {i} ({label}) needs a positive integer of units, got {unit!r}",
                    (i,),
                )
        elif unit is not None:
            raise InvalidArchitectureError(
                "units", f"layer {i} ({label}) takes no units, got {unit!r}; use None", (i,)
            )
        if label in stride_labels:
            if stride not in allowed_strides or isinstance(stride, bool):
                raise InvalidArchitectureError(
                    "strides",
                    f"layer {i} ({label}) needs a stride in {list(allowed_strides)}, got "
                    f"{stride!r}",
                    (i,),
                )
        elif stride is not None:
            raise InvalidArchitectureError(
                "strides", f"layer {i} ({label}) takes no stride, got {stride!r}; use None", (i,)
            )
    return tuple(order), tuple(map(tuple, preds)), tuple(map(tuple, succs)), sorted_edges


def _plain_edges(edges: tuple[tuple[int, ...], ...], n: int) -> bool:
    """Whether ``edges`` are distinct pairs of distinct plain-int layer indices, checked
    in bulk (C loops) rather than edge by edge."""
    if not edges:
        return True
    if set(map(len, edges)) != {2}:
        return False
    sources, targets = zip(*edges, strict=True)
    ends = sources + targets
    return (
        set(map(type, ends)) == {int}
        and min(ends) >= 0
        and max(ends) < n
        and not any(map(operator.eq, sources, targets))
        and len(set(edges)) == len(edges)
    )


def _check_edges(edges: tuple[tuple[int, ...], ...], n: int) -> None:
    """Raise for the first edge that is not a pair of layer indices, is a loop or is
    repeated."""
    seen: set[tuple[int, ...]] = set()
    for edge in edges:
        if len(edge) != 2 or not (_is_index(edge[0], n) and _is_index(edge[1], n)):
            raise InvalidArchitectureError(
                "edges", f"edge {edge!r} must join two layer indices in 0..{n - 1}"
            )
        if edge[0] == edge[1]:
            raise InvalidArchitectureError(
                "acyclic", f"layer {edge[0]} has an edge to itself", (edge[0],)
            )
        if edge in seen:
            raise InvalidArchitectureError("edges", f"edge {edge!r} is repeated", edge)
        seen.add(edge)


def _reachable(start: int, neighbours: list[list[int]]) -> set[int]:
    """``start`` and every layer reachable from it along ``neighbours``."""
    seen = {start}
    stack = [start]
    while stack:
        for w in neighbours[stack.pop()]:
            if w not in seen:
                seen.add(w)
                stack.append(w)
    return seen

"""OTMANN: NASBOT's optimal-transport distance between architectures.

Kandasamy, Neiswanger, Schneider, Poczos, Xing. "Neural Architecture Search with
Bayesian Optimisation and Optimal Transport". NeurIPS 2018. Reference code: dragonfly's
``dragonfly/nn/otmann.py``, whose values these match to about 1e-12 (see the tests).

For architectures ``G1`` (layers ``i``, masses ``m1``) and ``G2`` (``j``, ``m2``), with
totals ``T1``, ``T2`` and non-assignment penalty ``nu``, each coefficient pair
``(c_lab, c_str)`` gives the transport problem::

    C  = c_lab * nu * M_lab + c_str * M_str                         (n1, n2)
    C' = [[C, nu], [nu, 0]]   (a dummy row and column)              (n1 + 1, n2 + 1)
    lp = min <T, C'>  s.t.  T 1 = [m1, T2],  T^T 1 = [m2, T1],  T >= 0
    emd = lp / (T1 + T2)

``M_lab`` is the label-mismatch matrix (infinite across layer kinds) and
``M_str[i, j] = (mean_k |B1[i,k] - B2[j,k]| + mean_k |F1[i,k] - F2[j,k]|) / 2`` compares
shortest / longest / random-walk path lengths to the input (``B``) and the output
(``F``) per layer group. NASBOT's defaults are ``c_lab = (1, 1, 1, 1)``,
``c_str = (0.1, 0.25, 0.61, 1.5)``, ``nu = 1``: eight distances per pair, ordered
``lp, emd`` per coefficient pair.

Why this is fast and still exact: layers of kinds that cannot be matched exchange no
mass, and the dummy row and column absorb any amount at cost ``nu`` each way, so the
problem splits into one small problem per matchable class of labels (conv/res layers,
pools, fc layers, ``ip``, ``op``...). The sum of their optima is the optimum of the whole
problem. One-layer classes are solved in closed form; the rest go straight to POT's
network-simplex core, and per-architecture features are computed once.
"""

from __future__ import annotations

import itertools
import math
import operator
import os
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from multiprocessing import get_context
from multiprocessing.util import Finalize
from typing import Any

import numpy as np

# POT's compiled network simplex, called without ot.emd's checks and copies, which cost
# more than the solve on problems this small (POT >= 0.9 keeps it in ot.lp.emd_wrap).
from ot.lp.emd_wrap import emd_c as _emd_c
from scipy.spatial.distance import cdist

from bonas._workers import light_worker
from bonas.architecture import Architecture
from bonas.exceptions import BonasError
from bonas.kernels.label_costs import LabelCosts, get_label_costs

__all__ = [
    "DEFAULT_LABEL_COEFFS",
    "DEFAULT_STRUCT_COEFFS",
    "ArchitectureProfile",
    "OTMANNDistance",
    "reference_distances",
    "solve_transport",
]

DEFAULT_LABEL_COEFFS: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)
DEFAULT_STRUCT_COEFFS: tuple[float, ...] = (0.1, 0.25, 0.61, 1.5)
_FORBIDDEN_COST = 7.65432e5  # dragonfly's stand-in for infinite costs; never optimal
_MAX_SIMPLEX_ITERATIONS = 100_000
_PATH_TYPES = ("shortest", "longest", "rw")


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
        return _class_of_label(self.vocabulary)[self.labels]

    @cached_property
    def paths(self) -> np.ndarray:
        """``(n, 2K)``: the backward then the forward features, joined once for
        :func:`_struct_cost`."""
        return np.concatenate([self.backward, self.forward], axis=1)


def _struct_cost(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``M_str`` between layers given by their :attr:`ArchitectureProfile.paths` rows:
    the mean of the backward and forward mean |differences|, as one L1 distance over
    both feature sets, which cdist computes without ``(nr, N, K)`` temporaries."""
    return cdist(rows, cols, "cityblock") * (1.0 / rows.shape[1])


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


def solve_transport(
    supply: np.ndarray, demand: np.ndarray, cost: np.ndarray
) -> tuple[float, np.ndarray]:
    """Exact balanced optimal transport on unnormalised masses.

    Args:
        supply: Source masses, shape ``(n,)``, non-negative.
        demand: Target masses, shape ``(m,)``, non-negative, same total as ``supply``.
        cost: Costs, shape ``(n, m)``; infinite entries are forbidden.

    Returns:
        ``(value, plan)``: the optimal cost and the ``(n, m)`` plan on the masses' scale.

    Raises:
        BonasError: If shapes disagree, masses are negative or not finite, or the totals
            differ (nothing is renormalised silently).
    """
    supply = np.asarray(supply, dtype=np.float64)
    demand = np.asarray(demand, dtype=np.float64)
    cost = np.asarray(cost, dtype=np.float64)
    if supply.ndim != 1 or demand.ndim != 1 or cost.shape != (supply.size, demand.size):
        raise BonasError(
            f"transport shapes disagree: supply {supply.shape}, demand {demand.shape}, "
            f"cost {cost.shape}"
        )
    for name, masses in (("supply", supply), ("demand", demand)):
        if not np.isfinite(masses).all() or (masses < 0).any():
            raise BonasError(f"{name} masses must be finite and non-negative, got {masses}")
    total = supply.sum()
    if not math.isclose(total, demand.sum(), rel_tol=1e-9, abs_tol=1e-12):
        raise BonasError(
            f"supply and demand totals differ: {total!r} vs {demand.sum()!r}; OTMANN does "
            "not renormalise masses"
        )
    if np.isnan(cost).any():
        raise BonasError("transport costs contain NaN")
    if total == 0:
        return 0.0, np.zeros(cost.shape)
    safe = np.ascontiguousarray(np.where(np.isinf(cost), _FORBIDDEN_COST, cost))
    plan = _emd(supply / total, demand / total, safe) * total
    return float((plan * safe).sum()), plan


def _emd(a: np.ndarray, b: np.ndarray, cost: np.ndarray) -> np.ndarray:
    plan, _, _, _, code = _emd_c(a, b, cost, _MAX_SIMPLEX_ITERATIONS, 1)
    if code != 1:
        raise BonasError(f"the network simplex did not reach an optimum (POT result code {code})")
    return plan


class OTMANNDistance:
    """NASBOT's OTMANN distances, eight per pair of architectures by default.

    Args:
        non_assignment_penalty: ``nu``, the cost per unit of unmatched mass.
        label_coeffs: ``c_lab`` of each coefficient pair.
        struct_coeffs: ``c_str`` of each coefficient pair.
        preprocess: Optional map applied to every architecture first, e.g.
            ``NB201Space().layer_graph``; :meth:`for_space` sets it.
        n_jobs: Worker processes for large :meth:`pairwise` calls (``None``: all cores).
        parallel_threshold: Smallest number of pairs worth spreading over processes.
        max_profiles: Per-architecture profiles kept for reuse, the least recently used
            dropped first. A search reads its observations' at every iteration and makes a
            thousand for its candidates, few of which it meets again; a CNN's profile and
            the architecture it is kept under take about 20 kB.

    Example:
        >>> from bonas.spaces import blocked_cnn, vgg_net
        >>> otmann = OTMANNDistance()
        >>> d = otmann.pairwise([blocked_cnn(3, 2, 1)], [vgg_net(1), blocked_cnn(3, 2, 1)])
        >>> d.shape, otmann.names[:2]
        ((1, 2, 8), ('lp[c_lab=1,c_str=0.1]', 'emd[c_lab=1,c_str=0.1]'))
        >>> float(d[0, 1].max())
        0.0
    """

    def __init__(
        self,
        non_assignment_penalty: float = 1.0,
        label_coeffs: Sequence[float] = DEFAULT_LABEL_COEFFS,
        struct_coeffs: Sequence[float] = DEFAULT_STRUCT_COEFFS,
        *,
        preprocess: object | None = None,
        n_jobs: int | None = None,
        parallel_threshold: int = 500,
        max_profiles: int = 10_000,
    ) -> None:
        label_coeffs, struct_coeffs = tuple(label_coeffs), tuple(struct_coeffs)
        if len(label_coeffs) != len(struct_coeffs) or not label_coeffs:
            raise BonasError(
                f"label_coeffs and struct_coeffs must pair up; got {label_coeffs} and "
                f"{struct_coeffs}"
            )
        values = (non_assignment_penalty, *label_coeffs, *struct_coeffs)
        if not all(math.isfinite(v) and v >= 0 for v in values) or non_assignment_penalty <= 0:
            raise BonasError(
                "OTMANN coefficients must be finite and non-negative, and the penalty positive; "
                f"got nu={non_assignment_penalty}, c_lab={label_coeffs}, c_str={struct_coeffs}"
            )
        self.nu = float(non_assignment_penalty)
        self.label_coeffs = label_coeffs
        self.struct_coeffs = struct_coeffs
        self.preprocess = preprocess
        self.n_jobs = n_jobs
        self.parallel_threshold = parallel_threshold
        self.max_profiles = max_profiles
        self._profiles: OrderedDict[Architecture, ArchitectureProfile] = OrderedDict()
        self._last_bound_columns: (
            tuple[list[ArchitectureProfile], _ColumnSet, list[tuple[np.ndarray, ...]]] | None
        ) = None

    @classmethod
    def for_space(cls, space: object, **kwargs: object) -> OTMANNDistance:
        """An OTMANN distance for a space's architectures (its layer graph if it has one)."""
        preprocess = getattr(space, "layer_graph", None)
        return cls(preprocess=preprocess, **kwargs)  # type: ignore[arg-type]

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the distances, in output order."""
        return tuple(
            f"{kind}[c_lab={lab:g},c_str={st:g}]"
            for lab, st in zip(self.label_coeffs, self.struct_coeffs, strict=True)
            for kind in ("lp", "emd")
        )

    @property
    def num_distances(self) -> int:
        return 2 * len(self.label_coeffs)

    # -- profiles --------------------------------------------------------------------

    def profile(self, arch: Architecture) -> ArchitectureProfile:
        """The per-architecture part of OTMANN (masses, labels, path features), computed
        once per architecture and kept (up to ``max_profiles``, least recently used out):
        a search compares its observed architectures with new candidates every time."""
        if not isinstance(arch, Architecture):
            raise BonasError(f"OTMANN compares Architecture objects, got {type(arch).__name__}")
        cached = self._profiles.get(arch)
        if cached is not None:
            self._profiles.move_to_end(arch)
            return cached
        profile = self._compute_profile(arch)
        self._profiles[arch] = profile
        if len(self._profiles) > self.max_profiles:
            self._profiles.popitem(last=False)
        return profile

    def _compute_profile(self, arch: Architecture) -> ArchitectureProfile:
        if self.preprocess is not None:
            arch = self.preprocess(arch)  # type: ignore[operator]
        costs = get_label_costs(arch.vocabulary.name)
        masses = np.asarray(costs.masses(arch), dtype=np.float64)
        if (
            masses.shape != (arch.num_layers,)
            or not np.isfinite(masses).all()
            or (masses < 0).any()
        ):
            raise BonasError(
                f"layer masses must be finite, non-negative and one per layer; got {masses}"
            )
        labels = costs.label_indices(arch)
        backward, forward = _path_features(arch, costs, labels)
        classes = _classes(costs.vocabulary)
        class_of = _class_of_label(costs.vocabulary)[labels]
        class_layers = tuple(np.nonzero(class_of == c)[0] for c in range(len(classes)))
        return ArchitectureProfile(
            costs.vocabulary, masses, labels, backward, forward, class_layers
        )

    # -- distances ------------------------------------------------------------------------

    def __call__(self, a: Architecture, b: Architecture) -> np.ndarray:
        """The distances between two architectures, shape ``(num_distances,)``."""
        return self.profile_distance(self.profile(a), self.profile(b))

    def profile_distance(
        self, pa: ArchitectureProfile, pb: ArchitectureProfile, *, plans: list | None = None
    ) -> np.ndarray:
        """The distances between two profiled architectures, shape ``(num_distances,)``.

        Args:
            pa, pb: Profiles from :meth:`profile`.
            plans: If a list is given, the full ``(n1 + 1, n2 + 1)`` transport plan of each
                coefficient pair is appended to it (rows/columns in layer order, then the
                dummy).
        """
        if pa.vocabulary != pb.vocabulary:
            raise BonasError(
                f"OTMANN compares architectures of one vocabulary; got {pa.vocabulary!r} and "
                f"{pb.vocabulary!r}"
            )
        matrix = get_label_costs(pa.vocabulary).matrix
        num_pairs = len(self.label_coeffs)
        lp = np.zeros(num_pairs)
        nu = self.nu
        full = None
        if plans is not None:
            full = [np.zeros((pa.masses.size + 1, pb.masses.size + 1)) for _ in range(num_pairs)]
        for rows, cols in zip(pa.class_layers, pb.class_layers, strict=True):
            if rows.size == 0 and cols.size == 0:
                continue
            ma, mb = pa.masses[rows], pb.masses[cols]
            sa, sb = float(ma.sum()), float(mb.sum())
            if rows.size == 0 or cols.size == 0:
                lp += nu * (sa + sb)
                if full is not None:
                    for plan in full:
                        plan[rows, -1] += ma
                        plan[-1, cols] += mb
                continue
            label_cost = nu * matrix[np.ix_(pa.labels[rows], pb.labels[cols])]
            struct_cost = _struct_cost(pa.paths[rows], pb.paths[cols])
            supply = np.append(ma, sb)
            demand = np.append(mb, sa)
            for k in range(num_pairs):
                cost = np.full((rows.size + 1, cols.size + 1), nu)
                cost[:-1, :-1] = (
                    self.label_coeffs[k] * label_cost + self.struct_coeffs[k] * struct_cost
                )
                cost[-1, -1] = 0.0
                value, plan = _class_transport(supply, demand, cost, nu)
                lp[k] += value
                if full is not None:
                    block = np.append(rows, -1)
                    target = np.append(cols, -1)
                    full[k][np.ix_(block, target)] += plan
        if plans is not None and full is not None:
            plans.extend(full)
        total = pa.total_mass + pb.total_mass
        out = np.empty(2 * num_pairs)
        out[0::2] = lp
        out[1::2] = lp / total if total > 0 else 0.0
        return out

    def pairwise(
        self,
        archs_a: Sequence[Architecture],
        archs_b: Sequence[Architecture] | None = None,
    ) -> np.ndarray:
        """All distances between two lists, shape ``(len_a, len_b, num_distances)``.

        With ``archs_b`` omitted, the symmetric matrix of ``archs_a`` with itself (each
        unordered pair solved once). Large calls are spread over ``n_jobs`` processes.
        """
        profiles_a = [self.profile(a) for a in archs_a]
        profiles_b = profiles_a if archs_b is None else [self.profile(b) for b in archs_b]
        return self.pairwise_profiles(profiles_a, profiles_b, symmetric=archs_b is None)

    def pairwise_profiles(
        self,
        profiles_a: Sequence[ArchitectureProfile],
        profiles_b: Sequence[ArchitectureProfile],
        *,
        symmetric: bool = False,
    ) -> np.ndarray:
        """:meth:`pairwise` on precomputed profiles."""
        na, nb = len(profiles_a), len(profiles_b)
        out = np.zeros((na, nb, self.num_distances))
        workers = self._workers(na * nb)
        if workers > 1:
            chunks = [c for c in np.array_split(np.arange(na), workers * 4) if c.size]
            pool = _shared_pool(workers)
            jobs = [
                pool.submit(_rows_job, self._settings(), [profiles_a[i] for i in chunk],
                            profiles_b, chunk[0] if symmetric else None)
                for chunk in chunks
            ]  # fmt: skip
            for chunk, job in zip(chunks, jobs, strict=True):
                out[chunk] = job.result()
        else:
            out[:] = _rows(self, profiles_a, profiles_b, 0 if symmetric else None)
        if symmetric:
            upper = np.triu_indices(na, k=1)
            out[upper[1], upper[0]] = out[upper]
        return out

    def pairwise_lower_bounds(
        self,
        archs_a: Sequence[Architecture],
        archs_b: Sequence[Architecture],
    ) -> np.ndarray:
        """Lower bounds of :meth:`pairwise`, shape ``(len_a, len_b, num_distances)``, at a
        fraction of its cost: no network-simplex solve.

        Class problems with one layer on a side are solved exactly, as in
        :meth:`pairwise`. The others are relaxed (the relaxed word mover's distance of
        Kusner et al., "From Word Embeddings To Document Distances", ICML 2015): written
        as ``nu * (S_a + S_b) + min_T sum_ij T_ij (C_ij - 2 nu)`` over partial plans
        ``T``, dropping the column (or the row) constraints lets each layer take its
        cheapest partner, and the larger of the two relaxed optima bounds the exact one.
        On NASBOT's CNN space the bounds are within about 1 % of the distances.

        Every pair is bounded by compiled loops (numba) in this process, spread over its
        threads rather than over ``n_jobs`` processes: about 2 microseconds per CNN pair
        on 2 cores, against 200 for an exact distance.
        """
        profiles_a = [self.profile(a) for a in archs_a]
        profiles_b = [self.profile(b) for b in archs_b]
        return _bound_rows(self, profiles_a, profiles_b)

    def pairwise_ragged(
        self,
        archs_a: Sequence[Architecture],
        partners: Sequence[Sequence[Architecture]],
    ) -> list[np.ndarray]:
        """Each ``archs_a[i]`` against its own ``partners[i]``: one
        ``(len(partners[i]), num_distances)`` array per architecture, computed together
        (over ``n_jobs`` processes when large), for sparse sets of pairs.

        Raises:
            BonasError: If the two lists differ in length.
        """
        if len(partners) != len(archs_a):
            raise BonasError(
                f"pairwise_ragged needs one list of partners per architecture; got "
                f"{len(archs_a)} architectures and {len(partners)} lists"
            )
        rows = [self.profile(a) for a in archs_a]
        # the partners' profiles once each, and each row's partners as indices into them
        index: dict[Architecture, int] = {}
        picks = [[index.setdefault(b, len(index)) for b in group] for group in partners]
        cols = [self.profile(b) for b in index]
        workers = self._workers(sum(len(group) for group in picks))
        if workers <= 1:
            return _ragged(self, rows, cols, picks)
        chunks = [c for c in np.array_split(np.arange(len(rows)), workers * 4) if c.size]
        pool = _shared_pool(workers)
        jobs = []
        for chunk in chunks:
            # each job gets only the partners its rows use
            used = sorted({j for i in chunk for j in picks[i]})
            local = {j: k for k, j in enumerate(used)}
            jobs.append(pool.submit(
                _ragged_job, self._settings(), [rows[i] for i in chunk], [cols[j] for j in used],
                [[local[j] for j in picks[i]] for i in chunk],
            ))  # fmt: skip
        return [values for job in jobs for values in job.result()]

    def _bound_columns(
        self, cols: Sequence[ArchitectureProfile]
    ) -> tuple[_ColumnSet, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
        """The columns of a call to the bounds, and each class's distinct layers among
        them, kept for the next call: the GA bounds each generation of candidates against
        the same observations."""
        kept = self._last_bound_columns
        if kept is not None and len(kept[0]) == len(cols) and all(map(operator.is_, kept[0], cols)):
            return kept[1], kept[2]
        column_set = _ColumnSet.of(cols)
        distinct = [
            _distinct_layers(paths, labels)
            for paths, labels in zip(column_set.paths, column_set.labels, strict=True)
        ]
        # the profiles themselves are kept, so that their identities stay theirs
        self._last_bound_columns = (list(cols), column_set, distinct)
        return column_set, distinct

    def _workers(self, num_pairs: int) -> int:
        if num_pairs < self.parallel_threshold:
            return 1
        return max(1, self.n_jobs if self.n_jobs is not None else (os.cpu_count() or 1))

    def _settings(self) -> dict[str, object]:
        return {
            "non_assignment_penalty": self.nu,
            "label_coeffs": self.label_coeffs,
            "struct_coeffs": self.struct_coeffs,
        }


@dataclass(frozen=True)
class _ColumnSet:
    """The columns of a pairwise call, class by class, concatenated for vectorised costs."""

    sizes: tuple[np.ndarray, ...]  # per class: (nb,) layer counts
    offsets: tuple[np.ndarray, ...]  # per class: (nb + 1,) starts in the concatenation
    paths: tuple[np.ndarray, ...]  # per class: (N_c, 2K), backward then forward features
    labels: tuple[np.ndarray, ...]  # per class: (N_c,)
    masses: tuple[np.ndarray, ...]  # per class: (N_c,)
    sums: tuple[np.ndarray, ...]  # per class: (nb,) class mass of each column
    totals: np.ndarray  # (nb,) total mass of each column

    @classmethod
    def of(cls, profiles: Sequence[ArchitectureProfile]) -> _ColumnSet:
        num_classes, count = len(profiles[0].class_layers), len(profiles)
        layer_counts = [p.masses.size for p in profiles]
        classes = np.concatenate([p.layer_classes for p in profiles])
        owners = np.repeat(np.arange(count), layer_counts)
        # class by class, each architecture's layers in order: a stable sort by class of
        # the concatenation, which lists the architectures in order
        order = np.argsort(classes, kind="stable")
        order = order[classes[order] >= 0]
        paths = np.concatenate([p.paths for p in profiles])[order]
        labels = np.concatenate([p.labels for p in profiles])[order]
        masses = np.concatenate([p.masses for p in profiles])[order]
        flat = classes[order] * count + owners[order]
        sizes = np.bincount(flat, minlength=num_classes * count).reshape(num_classes, count)
        sums = np.bincount(flat, weights=masses, minlength=num_classes * count).reshape(
            num_classes, count
        )
        spans = list(itertools.pairwise(np.concatenate([[0], np.cumsum(sizes.sum(axis=1))])))
        return cls(
            sizes=tuple(sizes),
            offsets=tuple(np.concatenate([[0], np.cumsum(row)]) for row in sizes),
            paths=tuple(paths[lo:hi] for lo, hi in spans),
            labels=tuple(labels[lo:hi] for lo, hi in spans),
            masses=tuple(masses[lo:hi] for lo, hi in spans),
            sums=tuple(sums),
            totals=np.array([p.total_mass for p in profiles]),
        )


def _rows(
    otmann: OTMANNDistance,
    rows: Sequence[ArchitectureProfile],
    cols: Sequence[ArchitectureProfile],
    first_row: int | None,
) -> np.ndarray:
    """Distances of ``rows`` against ``cols``, shape ``(len(rows), len(cols), D)``.

    With ``first_row`` set (the symmetric case), each row solves only the columns after
    its own index ``first_row + i``; the others stay 0 for the caller to mirror.
    """
    out = np.zeros((len(rows), len(cols), otmann.num_distances))
    if not rows or not cols:
        return out
    _check_one_vocabulary(rows, cols)
    column_set = _ColumnSet.of(cols)
    matrix = get_label_costs(rows[0].vocabulary).matrix
    for i, pa in enumerate(rows):
        start = 0 if first_row is None else first_row + i + 1
        if start < len(cols):
            out[i, start:] = _row_distances(otmann, pa, column_set, matrix, start)
    return out


def _check_one_vocabulary(
    rows: Sequence[ArchitectureProfile], cols: Sequence[ArchitectureProfile]
) -> None:
    vocabularies = {p.vocabulary for p in (*rows, *cols)}
    if len(vocabularies) > 1:
        raise BonasError(
            f"OTMANN compares architectures of one vocabulary; got {sorted(vocabularies)}"
        )


def _row_distances(
    otmann: OTMANNDistance,
    pa: ArchitectureProfile,
    cs: _ColumnSet,
    matrix: np.ndarray,
    start: int,
) -> np.ndarray:
    """One architecture against columns ``start:`` of a column set: ``(nb - start, D)``."""
    nu = otmann.nu
    c_lab = np.asarray(otmann.label_coeffs)[:, None, None]
    c_str = np.asarray(otmann.struct_coeffs)[:, None, None]
    num_pairs = c_lab.shape[0]
    nb = cs.totals.size - start
    lp = np.zeros((nb, num_pairs))
    for c, rows in enumerate(pa.class_layers):
        sizes = cs.sizes[c][start:]
        sums = cs.sums[c][start:]
        if rows.size == 0:
            lp += nu * sums[:, None]
            continue
        ma = pa.masses[rows]
        sa = float(ma.sum())
        lp[sizes == 0] += nu * sa
        first, last = cs.offsets[c][start], cs.offsets[c][-1]
        if first == last:
            continue
        struct = _struct_cost(pa.paths[rows], cs.paths[c][first:last])
        label = nu * matrix[np.ix_(pa.labels[rows], cs.labels[c][first:last])]
        forbidden = np.isinf(label)
        with np.errstate(invalid="ignore"):
            cost = c_lab * label + c_str * struct  # (P, nr, N)
        if forbidden.any():
            cost[:, forbidden] = _FORBIDDEN_COST
        col_masses = cs.masses[c][first:last]
        local_offsets = cs.offsets[c][start:] - first
        if rows.size == 1:
            _single_row(lp, cost[:, 0, :], ma[0], col_masses, sizes, local_offsets, sums, nu)
            continue
        single = np.nonzero(sizes == 1)[0]
        if single.size:
            local = local_offsets[single]
            lp[single] += _single_column(cost[:, :, local], ma, col_masses[local], nu).T
        if (sizes > 1).any():
            _class_solves(lp, (cost, ma, col_masses, local_offsets, sizes, sums), nu)
    totals = pa.total_mass + cs.totals[start:]
    out = np.empty((nb, 2 * num_pairs))
    out[:, 0::2] = lp
    out[:, 1::2] = lp / np.where(totals > 0, totals, 1.0)[:, None]
    return out


def _class_solves(lp: np.ndarray, part: tuple[np.ndarray, ...], nu: float) -> None:
    """Solve one label class's problems that have several layers on both sides, one
    network-simplex call per column and coefficient pair, and add them to ``lp``.

    Args:
        lp: ``(nb, P)`` accumulator.
        part: ``(cost (P, nr, N), row masses (nr,), column masses (N,), column offsets
            (nb + 1,), column sizes (nb,), column class sums (nb,))``.
    """
    cost, row_masses, col_masses, offsets, sizes, sums = part
    num_pairs, nr, _ = cost.shape
    nb = sizes.size
    row_sum = float(row_masses.sum())
    # Lay every column's problem side by side, each block followed by its dummy column,
    # so that one copy per column yields its bordered cost matrices.
    block = np.repeat(np.arange(nb), sizes)
    real_at = np.arange(block.size) + block
    dummy_at = offsets[1:] + np.arange(nb)
    wide = np.empty((num_pairs, nr + 1, block.size + nb))
    wide[:, :nr, real_at] = cost
    wide[:, :nr, dummy_at] = nu
    wide[:, nr, real_at] = nu
    wide[:, nr, dummy_at] = 0.0
    totals = row_sum + sums
    demand = np.empty(block.size + nb)
    demand[real_at] = col_masses / totals[block]
    demand[dummy_at] = row_sum / totals
    supply = np.empty((nb, nr + 1))
    supply[:, :nr] = row_masses[None, :] / totals[:, None]
    supply[:, nr] = sums / totals
    # plain Python numbers in the per-column loop: numpy scalars cost more than a solve
    ends, widths, scales = (dummy_at + 1).tolist(), (sizes + 1).tolist(), totals.tolist()
    for j in np.nonzero(sizes > 1)[0].tolist():
        hi = ends[j]
        lo = hi - widths[j]
        bordered = wide[:, :, lo:hi].copy()  # C-contiguous, as the solver needs
        a, b = supply[j], demand[lo:hi]
        values = [0.0] * num_pairs
        for k in range(num_pairs):
            result = _emd_c(a, b, bordered[k], _MAX_SIMPLEX_ITERATIONS, 1)
            if result[4] != 1:
                raise BonasError(f"the network simplex did not reach an optimum (code {result[4]})")
            values[k] = result[1] * scales[j]
        lp[j] += values


def _bound_rows(
    otmann: OTMANNDistance,
    rows: Sequence[ArchitectureProfile],
    cols: Sequence[ArchitectureProfile],
) -> np.ndarray:
    """Lower bounds of ``rows`` against ``cols``, ``(len(rows), len(cols), D)``: see
    :meth:`OTMANNDistance.pairwise_lower_bounds`. Each label class's pairs are bounded by
    compiled loops (:func:`bonas.kernels._otmann_loops.add_class_bounds`)."""
    from bonas.kernels._otmann_loops import add_class_bounds  # compiled on first use

    num_pairs = len(otmann.label_coeffs)
    out = np.zeros((len(rows), len(cols), 2 * num_pairs))
    if not rows or not cols:
        return out
    _check_one_vocabulary(rows, cols)
    nu = otmann.nu
    matrix = np.ascontiguousarray(get_label_costs(rows[0].vocabulary).matrix, dtype=np.float64)
    c_lab = np.asarray(otmann.label_coeffs, dtype=np.float64)
    c_str = np.asarray(otmann.struct_coeffs, dtype=np.float64)
    rs = _ColumnSet.of(rows)
    cs, distinct = otmann._bound_columns(cols)
    lp = np.zeros((len(rows), len(cols), num_pairs))
    for c in range(len(rs.sizes)):
        # what every pair pays if no mass of this class is matched, then what matching saves
        lp += nu * (rs.sums[c][:, None, None] + cs.sums[c][None, :, None])
        if rs.masses[c].size and cs.masses[c].size:
            paths, labels, layers = distinct[c]
            add_class_bounds(
                rs.paths[c], rs.labels[c], rs.masses[c], rs.offsets[c],
                paths, labels, layers, cs.masses[c], cs.offsets[c],
                matrix, c_lab, c_str, nu, lp,
            )  # fmt: skip
    totals = rs.totals[:, None] + cs.totals[None, :]
    out[..., 0::2] = lp
    out[..., 1::2] = lp / np.where(totals > 0, totals, 1.0)[..., None]
    return out


def _distinct_layers(
    paths: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct layers among ``(N, F)`` paths and ``(N,)`` labels: their paths
    ``(U, F)``, labels ``(U,)``, and each layer's row among them ``(N,)``.

    Layers are grouped by one fixed projection of their paths and label, and the groups
    are checked to be exact; on a collision, every layer stays its own.
    """
    weights = np.sqrt(np.arange(2.0, paths.shape[1] + 2.0))
    keys = paths @ weights + labels * math.pi
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    if np.array_equal(paths[first][inverse], paths) and np.array_equal(
        labels[first][inverse], labels
    ):
        return paths[first], labels[first], inverse.astype(np.int64)
    return paths, labels, np.arange(labels.size, dtype=np.int64)


def _single_row(
    lp: np.ndarray,
    cost: np.ndarray,
    row_mass: float,
    col_masses: np.ndarray,
    sizes: np.ndarray,
    offsets: np.ndarray,
    sums: np.ndarray,
    nu: float,
) -> None:
    """Add the optimum of every one-row class problem to ``lp`` (``(nb, P)``) at once.

    With one real row the problem is a fractional knapsack: fill the cheapest columns
    while they cost less than the ``2 * nu`` of sending both ends to the dummies.

    Args:
        cost: ``(P, N)`` costs of the row against all columns' layers, block by block.
        sizes, offsets: Each column's block size ``(nb,)`` and start ``(nb + 1,)``.
    """
    filled = np.nonzero(sizes > 0)[0]
    if filled.size == 0:
        return
    block = np.repeat(np.arange(sizes.size), sizes)
    order = np.stack([np.lexsort((row, block)) for row in cost])  # by block, then cost
    sorted_cost = np.take_along_axis(cost, order, axis=1)
    sorted_mass = col_masses[order]
    before = np.cumsum(sorted_mass, axis=1) - sorted_mass
    before -= np.repeat(before[:, offsets[filled]], sizes[filled], axis=1)
    moved = np.clip(row_mass - before, 0.0, sorted_mass) * (sorted_cost < 2 * nu)
    gain = np.add.reduceat((sorted_cost - 2 * nu) * moved, offsets[filled], axis=1)
    lp[filled] += (nu * (row_mass + sums[filled])[None, :] + gain).T


def _single_column(
    cost: np.ndarray, row_masses: np.ndarray, col_mass: np.ndarray, nu: float
) -> np.ndarray:
    """Optima of one-column class problems, the knapsack of :func:`_single_row` turned
    around: ``cost`` is ``(P, nr, ns)`` for ``ns`` one-layer columns; returns ``(P, ns)``."""
    order = np.argsort(cost, axis=1, kind="stable")
    sorted_cost = np.take_along_axis(cost, order, axis=1)
    sorted_mass = row_masses[order]
    before = np.cumsum(sorted_mass, axis=1) - sorted_mass
    moved = np.clip(col_mass[None, None, :] - before, 0.0, sorted_mass) * (sorted_cost < 2 * nu)
    gain = ((sorted_cost - 2 * nu) * moved).sum(axis=1)
    return nu * (row_masses.sum() + col_mass)[None, :] + gain


_POOLS: dict[int, ProcessPoolExecutor] = {}


def _shared_pool(workers: int) -> ProcessPoolExecutor:
    """A process pool kept for the life of the program: BO computes distances every
    iteration, and starting workers costs more than a typical iteration's distances.
    Workers are spawned, not forked, so a parent holding torch or BLAS threads is safe."""
    if workers not in _POOLS:
        _POOLS[workers] = ProcessPoolExecutor(
            workers, mp_context=get_context("spawn"), initializer=light_worker
        )
        # A multiprocessing child (a benchmark's worker running a search) exits through
        # multiprocessing's exit function, which runs no atexit handlers and joins the
        # child's own children: only a finaliser shuts this pool down in time, and without
        # it that child would wait on the pool's idle workers forever. Its priority is
        # above the call queue's own finaliser (10), which stops the queue's feeder
        # thread: the shutdown needs that thread to send the workers their sentinels.
        Finalize(None, _POOLS[workers].shutdown, kwargs={"cancel_futures": True}, exitpriority=20)
    return _POOLS[workers]


def _rows_job(
    settings: dict[str, object],
    rows: list[ArchitectureProfile],
    cols: Sequence[ArchitectureProfile],
    first_row: int | None,
) -> np.ndarray:
    return _rows(OTMANNDistance(**settings), rows, cols, first_row)  # type: ignore[arg-type]


def _ragged(
    otmann: OTMANNDistance,
    rows: Sequence[ArchitectureProfile],
    cols: Sequence[ArchitectureProfile],
    picks: Sequence[Sequence[int]],
) -> list[np.ndarray]:
    """Each row against the columns ``picks`` names for it."""
    return [
        _rows(otmann, [pa], [cols[j] for j in pick], None)[0]
        for pa, pick in zip(rows, picks, strict=True)
    ]


def _ragged_job(
    settings: dict[str, object],
    rows: list[ArchitectureProfile],
    cols: list[ArchitectureProfile],
    picks: list[list[int]],
) -> list[np.ndarray]:
    return _ragged(OTMANNDistance(**settings), rows, cols, picks)  # type: ignore[arg-type]


def _class_transport(
    supply: np.ndarray, demand: np.ndarray, cost: np.ndarray, nu: float
) -> tuple[float, np.ndarray]:
    """One label class's problem, with its dummy as the last row and column.

    A single real row or column is a fractional knapsack: fill the cheapest cells first
    while they beat the ``2 * nu`` of sending both ends to the dummy.
    """
    n, m = cost.shape[0] - 1, cost.shape[1] - 1
    if n == 1 or m == 1:
        plan = np.zeros(cost.shape)
        real = cost[:-1, :-1]
        left_rows, left_cols = supply[:-1].copy(), demand[:-1].copy()
        for flat in np.argsort(real, axis=None, kind="stable"):
            i, j = divmod(int(flat), m)
            if not real[i, j] < 2 * nu:
                break
            moved = min(left_rows[i], left_cols[j])
            plan[i, j] = moved
            left_rows[i] -= moved
            left_cols[j] -= moved
        plan[:-1, -1] = left_rows
        plan[-1, :-1] = left_cols
        plan[-1, -1] = supply[-1] - left_cols.sum()
        return float((plan[:-1, :-1] * real).sum() + nu * (left_rows.sum() + left_cols.sum())), plan
    return solve_transport(supply, demand, cost)


_CLASS_CACHE: dict[str, list[np.ndarray]] = {}
_CLASS_OF_LABEL: dict[str, np.ndarray] = {}


def _classes(vocabulary: str) -> list[np.ndarray]:
    if vocabulary not in _CLASS_CACHE:
        _CLASS_CACHE[vocabulary] = get_label_costs(vocabulary).classes()
    return _CLASS_CACHE[vocabulary]


def _class_of_label(vocabulary: str) -> np.ndarray:
    """Each label index's class in :func:`_classes` (-1 for none)."""
    if vocabulary not in _CLASS_OF_LABEL:
        classes = _classes(vocabulary)
        size = 1 + max((int(m.max()) for m in classes if m.size), default=-1)
        class_of = np.full(size, -1, dtype=np.int64)
        for c, members in enumerate(classes):
            class_of[members] = c
        _CLASS_OF_LABEL[vocabulary] = class_of
    return _CLASS_OF_LABEL[vocabulary]


def reference_distances(
    pa: ArchitectureProfile, pb: ArchitectureProfile, otmann: OTMANNDistance | None = None
) -> np.ndarray:
    """NASBOT's computation as a plain loop, on precomputed profiles: the whole
    ``(n1 + 1, n2 + 1)`` problem with infinities replaced by a large constant, one
    ``ot.emd`` call per coefficient pair (dragonfly's ``otmann.py`` does the same).

    Slow; kept as the baseline of the speed benchmark and as a check of the class split.
    """
    import ot

    otmann = otmann or OTMANNDistance()
    matrix = get_label_costs(pa.vocabulary).matrix
    label_cost = otmann.nu * matrix[np.ix_(pa.labels, pb.labels)]
    struct_cost = 0.5 * (
        np.abs(pa.backward[:, None, :] - pb.backward[None, :, :]).mean(axis=2)
        + np.abs(pa.forward[:, None, :] - pb.forward[None, :, :]).mean(axis=2)
    )
    t1, t2 = pa.total_mass, pb.total_mass
    supply = np.append(pa.masses, t2) / (t1 + t2)
    demand = np.append(pb.masses, t1) / (t1 + t2)
    out = []
    for c_lab, c_str in zip(otmann.label_coeffs, otmann.struct_coeffs, strict=True):
        with np.errstate(invalid="ignore"):
            cost = c_lab * label_cost + c_str * struct_cost
        full = np.full((cost.shape[0] + 1, cost.shape[1] + 1), otmann.nu)
        full[:-1, :-1] = cost
        full[-1, -1] = 0.0
        full[~np.isfinite(full)] = _FORBIDDEN_COST
        plan = ot.emd(supply, demand, full) * (t1 + t2)
        lp = float((plan * full).sum())
        out += [lp, lp / (t1 + t2)]
    return np.array(out)

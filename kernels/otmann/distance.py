"""The OTMANN distance object: coefficients, the profile cache and pairwise calls."""

from __future__ import annotations

import math
import operator
import os
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from bonas.architecture import Architecture
from bonas.exceptions import BonasError
from bonas.kernels.label_costs import get_label_costs
from bonas.kernels.otmann.bounds import DistinctLayers, bound_rows, distinct_layers
from bonas.kernels.otmann.exact import ColumnSet, check_one_vocabulary, exact_rows, ragged_rows
from bonas.kernels.otmann.parallel import ragged_job, rows_job, shared_pool
from bonas.kernels.otmann.profile import ArchitectureProfile, compute_profile, struct_cost
from bonas.kernels.otmann.transport import FORBIDDEN_COST, class_transport

__all__ = ["DEFAULT_LABEL_COEFFS", "DEFAULT_STRUCT_COEFFS", "OTMANNDistance", "reference_distances"]

DEFAULT_LABEL_COEFFS: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)
DEFAULT_STRUCT_COEFFS: tuple[float, ...] = (0.1, 0.25, 0.61, 1.5)


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
            tuple[list[ArchitectureProfile], ColumnSet, list[DistinctLayers]] | None
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
        return compute_profile(arch)

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
            structure = struct_cost(pa.paths[rows], pb.paths[cols])
            supply = np.append(ma, sb)
            demand = np.append(mb, sa)
            for k in range(num_pairs):
                cost = np.full((rows.size + 1, cols.size + 1), nu)
                cost[:-1, :-1] = (
                    self.label_coeffs[k] * label_cost + self.struct_coeffs[k] * structure
                )
                cost[-1, -1] = 0.0
                value, plan = class_transport(supply, demand, cost, nu)
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
            pool = shared_pool(workers)
            jobs = [
                pool.submit(rows_job, self._settings(), [profiles_a[i] for i in chunk],
                            profiles_b, chunk[0] if symmetric else None)
                for chunk in chunks
            ]  # fmt: skip
            for chunk, job in zip(chunks, jobs, strict=True):
                out[chunk] = job.result()
        else:
            out[:] = exact_rows(self, profiles_a, profiles_b, 0 if symmetric else None)
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
        if not profiles_a or not profiles_b:
            return np.zeros((len(profiles_a), len(profiles_b), self.num_distances))
        check_one_vocabulary(profiles_a, profiles_b)
        return bound_rows(self, profiles_a, *self._bound_columns(profiles_b))

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
            return ragged_rows(self, rows, cols, picks)
        chunks = [c for c in np.array_split(np.arange(len(rows)), workers * 4) if c.size]
        pool = shared_pool(workers)
        jobs = []
        for chunk in chunks:
            # each job gets only the partners its rows use
            used = sorted({j for i in chunk for j in picks[i]})
            local = {j: k for k, j in enumerate(used)}
            jobs.append(pool.submit(
                ragged_job, self._settings(), [rows[i] for i in chunk], [cols[j] for j in used],
                [[local[j] for j in picks[i]] for i in chunk],
            ))  # fmt: skip
        return [values for job in jobs for values in job.result()]

    def _bound_columns(
        self, cols: Sequence[ArchitectureProfile]
    ) -> tuple[ColumnSet, list[DistinctLayers]]:
        """The columns of a call to the bounds, and each class's distinct layers among
        them, kept for the next call: the GA bounds each generation of candidates against
        the same observations."""
        kept = self._last_bound_columns
        if kept is not None and len(kept[0]) == len(cols) and all(map(operator.is_, kept[0], cols)):
            return kept[1], kept[2]
        column_set = ColumnSet.of(cols)
        distinct = [
            distinct_layers(paths, labels)
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
    structure = 0.5 * (
        np.abs(pa.backward[:, None, :] - pb.backward[None, :, :]).mean(axis=2)
        + np.abs(pa.forward[:, None, :] - pb.forward[None, :, :]).mean(axis=2)
    )
    t1, t2 = pa.total_mass, pb.total_mass
    supply = np.append(pa.masses, t2) / (t1 + t2)
    demand = np.append(pb.masses, t1) / (t1 + t2)
    out = []
    for c_lab, c_str in zip(otmann.label_coeffs, otmann.struct_coeffs, strict=True):
        with np.errstate(invalid="ignore"):
            cost = c_lab * label_cost + c_str * structure
        full = np.full((cost.shape[0] + 1, cost.shape[1] + 1), otmann.nu)
        full[:-1, :-1] = cost
        full[-1, -1] = 0.0
        full[~np.isfinite(full)] = FORBIDDEN_COST
        plan = ot.emd(supply, demand, full) * (t1 + t2)
        lp = float((plan * full).sum())
        out += [lp, lp / (t1 + t2)]
    return np.array(out)

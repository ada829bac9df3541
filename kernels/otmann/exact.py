"""Exact OTMANN distances of many pairs at once: the columns of a call are laid out
class by class, one-layer class problems are solved in closed form for all columns
together, and the rest go to the network simplex one column at a time."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from bonas.exceptions import BonasError
from bonas.kernels.label_costs import get_label_costs
from bonas.kernels.otmann.profile import ArchitectureProfile, struct_cost
from bonas.kernels.otmann.transport import FORBIDDEN_COST, MAX_SIMPLEX_ITERATIONS, emd_c

if TYPE_CHECKING:
    from bonas.kernels.otmann.distance import OTMANNDistance

__all__ = ["ColumnSet", "check_one_vocabulary", "exact_rows", "ragged_rows"]


@dataclass(frozen=True)
class ColumnSet:
    """The columns of a pairwise call, class by class, concatenated for vectorised costs."""

    sizes: tuple[np.ndarray, ...]  # per class: (nb,) layer counts
    offsets: tuple[np.ndarray, ...]  # per class: (nb + 1,) starts in the concatenation
    paths: tuple[np.ndarray, ...]  # per class: (N_c, 2K), backward then forward features
    labels: tuple[np.ndarray, ...]  # per class: (N_c,)
    masses: tuple[np.ndarray, ...]  # per class: (N_c,)
    sums: tuple[np.ndarray, ...]  # per class: (nb,) class mass of each column
    totals: np.ndarray  # (nb,) total mass of each column

    @classmethod
    def of(cls, profiles: Sequence[ArchitectureProfile]) -> ColumnSet:
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


def exact_rows(
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
    check_one_vocabulary(rows, cols)
    column_set = ColumnSet.of(cols)
    matrix = get_label_costs(rows[0].vocabulary).matrix
    for i, pa in enumerate(rows):
        start = 0 if first_row is None else first_row + i + 1
        if start < len(cols):
            out[i, start:] = _row_distances(otmann, pa, column_set, matrix, start)
    return out


def check_one_vocabulary(
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
    cs: ColumnSet,
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
        struct = struct_cost(pa.paths[rows], cs.paths[c][first:last])
        label = nu * matrix[np.ix_(pa.labels[rows], cs.labels[c][first:last])]
        forbidden = np.isinf(label)
        with np.errstate(invalid="ignore"):
            cost = c_lab * label + c_str * struct  # (P, nr, N)
        if forbidden.any():
            cost[:, forbidden] = FORBIDDEN_COST
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
            result = emd_c(a, b, bordered[k], MAX_SIMPLEX_ITERATIONS, 1)
            if result[4] != 1:
                raise BonasError(f"the network simplex did not reach an optimum (code {result[4]})")
            values[k] = result[1] * scales[j]
        lp[j] += values


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


def ragged_rows(
    otmann: OTMANNDistance,
    rows: Sequence[ArchitectureProfile],
    cols: Sequence[ArchitectureProfile],
    picks: Sequence[Sequence[int]],
) -> list[np.ndarray]:
    """Each row against the columns ``picks`` names for it."""
    return [
        exact_rows(otmann, [pa], [cols[j] for j in pick], None)[0]
        for pa, pick in zip(rows, picks, strict=True)
    ]

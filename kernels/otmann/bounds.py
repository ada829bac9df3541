"""Lower bounds of OTMANN distances without a network-simplex solve (the relaxation of
:meth:`bonas.kernels.otmann.OTMANNDistance.pairwise_lower_bounds`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from bonas.kernels.label_costs import get_label_costs
from bonas.kernels.otmann.exact import ColumnSet
from bonas.kernels.otmann.profile import ArchitectureProfile

if TYPE_CHECKING:
    from bonas.kernels.otmann.distance import OTMANNDistance

__all__ = ["DistinctLayers", "bound_rows", "distinct_layers"]

DistinctLayers = tuple[np.ndarray, np.ndarray, np.ndarray]


def bound_rows(
    otmann: OTMANNDistance,
    rows: Sequence[ArchitectureProfile],
    cs: ColumnSet,
    distinct: Sequence[DistinctLayers],
) -> np.ndarray:
    """Lower bounds of ``rows`` against the columns ``cs``, ``(len(rows), nb, D)``: see
    :meth:`OTMANNDistance.pairwise_lower_bounds`. Each label class's pairs are bounded by
    compiled loops (:func:`bonas.kernels._otmann_loops.add_class_bounds`).

    ``distinct`` holds each class's distinct layers among the columns
    (:func:`distinct_layers`); both come from non-empty lists of profiles of one
    vocabulary.
    """
    from bonas.kernels._otmann_loops import add_class_bounds  # compiled on first use

    num_pairs = len(otmann.label_coeffs)
    num_cols = cs.totals.size
    out = np.zeros((len(rows), num_cols, 2 * num_pairs))
    nu = otmann.nu
    matrix = np.ascontiguousarray(get_label_costs(rows[0].vocabulary).matrix, dtype=np.float64)
    c_lab = np.asarray(otmann.label_coeffs, dtype=np.float64)
    c_str = np.asarray(otmann.struct_coeffs, dtype=np.float64)
    rs = ColumnSet.of(rows)
    lp = np.zeros((len(rows), num_cols, num_pairs))
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


def distinct_layers(
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

"""Compiled loops of OTMANN: path lengths of a profile, and the lower bounds of
``OTMANNDistance.pairwise_lower_bounds``.

Both are loops over layers or layer pairs with a few operations each, which cost
microseconds per numpy call and nanoseconds compiled. numba compiles them on first use
and keeps the machine code in its on-disk cache (``cache=True``), so later processes load
it in about a second.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["add_class_bounds", "path_lengths"]


@njit(cache=True, parallel=True, fastmath={"reassoc", "contract", "nnan"})
def add_class_bounds(
    row_paths: np.ndarray,
    row_labels: np.ndarray,
    row_masses: np.ndarray,
    row_offsets: np.ndarray,
    col_paths: np.ndarray,
    col_labels: np.ndarray,
    col_layers: np.ndarray,
    col_masses: np.ndarray,
    col_offsets: np.ndarray,
    label_matrix: np.ndarray,
    c_lab: np.ndarray,
    c_str: np.ndarray,
    nu: float,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled; tests compare it with a plain computation
    """Add one class's bound of ``min_T sum_ij T_ij (C_ij - 2 nu)`` to ``out``.

    Row architectures are spread over numba's threads. ``fastmath`` may reorder sums
    and assume no NaN: forbidden pairs are infinite costs, never ``0 * inf``.

    Args:
        row_paths, row_labels, row_masses: The row architectures' layers of the class,
            ``(Nr, F)``, ``(Nr,)``, ``(Nr,)``, architecture by architecture.
        row_offsets: ``(na + 1,)`` where each row architecture's layers start.
        col_paths, col_labels: The distinct column layers, ``(U, F)`` and ``(U,)``: the
            structural and label costs of a row layer are computed once per distinct
            column layer (columns are mostly architectures alike, whose layers repeat).
        col_layers: ``(Nc,)`` each column layer's row in ``col_paths``.
        col_masses, col_offsets: The column architectures' masses ``(Nc,)`` and where
            each one's layers start ``(nb + 1,)``.
        label_matrix: Label-mismatch costs (``inf``: the layers cannot match).
        c_lab, c_str: ``(P,)`` the coefficient pairs.
        nu: The non-assignment penalty.
        out: ``(na, nb, P)``, added to for the pairs with layers on both sides: the
            exact optimum when a side has one layer (a fractional knapsack), else the
            larger of the row and the column relaxation (each layer's mass to its
            cheapest partner).
    """
    num_rows = row_offsets.size - 1
    num_cols = col_offsets.size - 1
    num_pairs = c_lab.size
    num_distinct = col_paths.shape[0]
    num_features = col_paths.shape[1]
    max_cols = 1
    for b in range(num_cols):
        max_cols = max(max_cols, col_offsets[b + 1] - col_offsets[b])
    # feature-major columns: one row layer's structural costs to every column layer are
    # then a loop over contiguous memory, which the compiler vectorises
    col_features = np.ascontiguousarray(col_paths.T)
    label_terms = c_lab * nu
    max_rows = 1
    for a in range(num_rows):
        max_rows = max(max_rows, row_offsets[a + 1] - row_offsets[a])
    # rows go in 16 chunks, each allocating its scratch arrays (up to hundreds of kB)
    # once instead of once per row
    chunk = max(1, (num_rows + 15) // 16)
    for t in prange((num_rows + chunk - 1) // chunk):
        labels = np.empty((max_rows, num_distinct))
        struct = np.empty((max_rows, num_distinct))
        col_best = np.empty(max_cols)
        single = np.empty(max(max_rows, max_cols))
        for a in range(t * chunk, min(num_rows, (t + 1) * chunk)):
            r0 = row_offsets[a]
            size_a = row_offsets[a + 1] - r0
            if size_a == 0:
                continue
            # this row architecture's layers against every distinct column layer: label
            # costs (infinite where the labels cannot match) and structural costs
            struct[:size_a] = 0.0
            for i in range(size_a):
                row_label = row_labels[r0 + i]
                for j in range(num_distinct):
                    labels[i, j] = label_matrix[row_label, col_labels[j]]
                for f in range(num_features):
                    value = row_paths[r0 + i, f]
                    for j in range(num_distinct):
                        struct[i, j] += abs(value - col_features[f, j])
                for j in range(num_distinct):
                    struct[i, j] /= num_features
            for b in range(num_cols):
                c0 = col_offsets[b]
                size_b = col_offsets[b + 1] - c0
                if size_b == 0:
                    continue
                for k in range(num_pairs):
                    lab, st, base = label_terms[k], c_str[k], -2.0 * nu
                    if size_a == 1 or size_b == 1:
                        # one layer on a side: its best partner is not enough, solve the knapsack
                        for i in range(size_a):
                            for j in range(size_b):
                                u = col_layers[c0 + j]
                                gain = _gain(lab, labels[i, u], st * struct[i, u] + base)
                                single[i + j] = min(gain, 0.0)
                        if size_a == 1:
                            best = _knapsack(single[:size_b], col_masses[c0 : c0 + size_b],
                                             row_masses[r0])  # fmt: skip
                        else:
                            best = _knapsack(single[:size_a], row_masses[r0 : r0 + size_a],
                                             col_masses[c0])  # fmt: skip
                        out[a, b, k] += best
                        continue
                    col_best[:size_b] = 0.0
                    by_row = 0.0
                    for i in range(size_a):
                        row_best = 0.0
                        for j in range(size_b):
                            u = col_layers[c0 + j]
                            gain = _gain(lab, labels[i, u], st * struct[i, u] + base)
                            row_best = min(row_best, gain)
                            col_best[j] = min(col_best[j], gain)
                        by_row += row_best * row_masses[r0 + i]
                    by_col = 0.0
                    for j in range(size_b):
                        by_col += col_best[j] * col_masses[c0 + j]
                    out[a, b, k] += by_row if by_row > by_col else by_col


@njit(cache=True, inline="always")
def _gain(label_coeff: float, label: float, rest: float) -> float:  # pragma: no cover
    """``C_ij - 2 nu`` from its parts; infinite where the labels cannot match, also when
    ``label_coeff`` is 0 (where ``0 * inf`` would be NaN)."""
    if label_coeff > 0.0:
        return label_coeff * label + rest
    return rest if label < np.inf else np.inf


@njit(cache=True)
def _knapsack(gains: np.ndarray, masses: np.ndarray, capacity: float) -> float:  # pragma: no cover
    """One layer of mass ``capacity`` against partners of ``gains`` and ``masses``: fill
    the partners of most negative gain first, up to their masses. Partners are taken in
    order of ``(gain, index)`` by repeated scans, which beat sorting (and its allocation)
    for the few partners a class has."""
    left = capacity
    total = 0.0
    last_gain = -np.inf
    last = -1
    while left > 0.0:
        pick = -1
        for j in range(gains.size):
            g = gains[j]
            later = g > last_gain or (g == last_gain and j > last)
            if later and (pick < 0 or g < gains[pick]):
                pick = j
        if pick < 0 or gains[pick] >= 0.0:
            break
        moved = masses[pick] if masses[pick] < left else left
        total += gains[pick] * moved
        left -= moved
        last_gain = gains[pick]
        last = pick
    return total


@njit(cache=True)
def path_lengths(
    order: np.ndarray, indptr: np.ndarray, indices: np.ndarray, weight: np.ndarray
) -> np.ndarray:  # pragma: no cover
    """Shortest, longest and mean path lengths per layer group, ``(n, G, 3)``.

    Layers are visited in ``order``; a layer's neighbours towards the path's end (its
    predecessors for paths to the input, its successors for paths to the output) are
    ``indices[indptr[v]:indptr[v + 1]]``. A layer adds its ``weight[v, g]`` (1 if it is
    in group ``g``) to the shortest, the longest and the mean of its neighbours' lengths;
    the end layer itself, which has no neighbours, has length 0.
    """
    n, groups = weight.shape
    lengths = np.zeros((n, groups, 3))
    for layer in order:
        lo, hi = indptr[layer], indptr[layer + 1]
        if hi == lo:
            continue
        for g in range(groups):
            shortest = lengths[indices[lo], g, 0]
            longest = lengths[indices[lo], g, 1]
            total = lengths[indices[lo], g, 2]
            for q in range(lo + 1, hi):
                near = indices[q]
                shortest = min(shortest, lengths[near, g, 0])
                longest = max(longest, lengths[near, g, 1])
                total += lengths[near, g, 2]
            lengths[layer, g, 0] = weight[layer, g] + shortest
            lengths[layer, g, 1] = weight[layer, g] + longest
            lengths[layer, g, 2] = weight[layer, g] + total / (hi - lo)
    return lengths

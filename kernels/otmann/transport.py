"""Exact optimal transport for OTMANN: POT's network simplex, and the closed form of a
label class with one layer on a side."""

from __future__ import annotations

import math

import numpy as np

# POT's compiled network simplex, called without ot.emd's checks and copies, which cost
# more than the solve on problems this small (POT >= 0.9 keeps it in ot.lp.emd_wrap).
from ot.lp.emd_wrap import emd_c

from bonas.exceptions import BonasError

__all__ = [
    "FORBIDDEN_COST",
    "MAX_SIMPLEX_ITERATIONS",
    "class_transport",
    "emd",
    "emd_c",
    "solve_transport",
]

FORBIDDEN_COST = 7.65432e5  # dragonfly's stand-in for infinite costs; never optimal
MAX_SIMPLEX_ITERATIONS = 100_000


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
    safe = np.ascontiguousarray(np.where(np.isinf(cost), FORBIDDEN_COST, cost))
    plan = emd(supply / total, demand / total, safe) * total
    return float((plan * safe).sum()), plan


def emd(a: np.ndarray, b: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """The optimal plan between normalised masses ``a`` and ``b`` on ``cost``."""
    plan, _, _, _, code = emd_c(a, b, cost, MAX_SIMPLEX_ITERATIONS, 1)
    if code != 1:
        raise BonasError(f"the network simplex did not reach an optimum (POT result code {code})")
    return plan


def class_transport(
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

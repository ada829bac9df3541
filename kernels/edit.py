"""Edit distances between architectures.

Graph edit distance (GED; Sanfeliu & Fu, IEEE SMC 1983) is the cheapest sequence of node
and edge insertions, deletions and substitutions that turns one graph into another. For
architectures ``G1 = (V1, E1)`` and ``G2 = (V2, E2)`` it is a minimum over node mappings:
an optimal edit path substitutes ``min(n1, n2)`` nodes (a substitution costs at most 1,
a deletion plus an insertion 2), so with unit edge costs and unlabelled edges::

    GED = min_phi  sum_{i mapped} c(i, phi(i)) + |n1 - n2|
                   + m1 + m2 - 2 * #{(i, j) in E1 : (phi(i), phi(j)) in E2}

over injections ``phi`` of the smaller node set into the larger, where ``c`` is the
node substitution cost, ``n`` the node counts and ``m`` the edge counts.

What :class:`EditDistance` computes, by vocabulary:

* ``nb201``: :func:`nb201_hamming`, the number of the six cell edges whose ops differ.
* ``nb101``: :func:`nb101_edit_distance`, the GED above with ``c`` = 1 for different ops,
  input mapped to input and output to output; exact, by enumerating the interior
  alignments (at most ``5! = 120``).
* ``nbgraph``: the unconstrained GED with ``c`` = 1 for different labels; exact, by
  enumerating every node bijection (``6! = 720`` for NAS-Bench-Graph's six layers).
* ``darts``, ``cnn``, ``mlp`` and any other vocabulary: the GED with ``c = 0`` for equal
  label, units and stride, ``0.5`` for an equal label with other units or stride, ``1``
  otherwise (for ``darts`` only 0 or 1 occur). It is solved exactly, under a time cap, as
  the mixed-integer programme F2 of Lerouge, Abu-Aisheh, Raveaux, Héroux & Adam
  (Pattern Recognition 72, 2017) with SciPy's HiGHS, or by networkx's depth-first
  branch and bound (Abu-Aisheh et al., ICPRAM 2015) with ``solver="networkx"``.

Time cap and fallback (``timeout`` seconds per pair, ``None`` for no cap). Every pair
first gets a lower bound ``LB`` and an upper bound ``UB0``:

* ``LB`` = the cheapest node assignment alone (a linear assignment over ``c``, plus
  ``|n1 - n2|``) + ``|m1 - m2|``. Label-multiset counting of this kind only ever bounds
  the GED from *below*; it is never returned as a distance.
* ``UB0`` = the exact cost of the edit path induced by one node mapping, the linear
  assignment over ``c`` plus degree and neighbourhood-label differences (bipartite GED;
  Riesen & Bunke, Image Vision Comput. 27, 2009). Always a valid upper bound.

If ``UB0 - LB < 0.5`` the pair is done (exact). Otherwise the solver runs for what is
left of the cap, and the value returned is ``min(UB0, U)``, with ``U`` the cost of the best
mapping the solver found before the cap: the optimum if it finished; for networkx, the
last (so lowest) bound its generator yielded; ``inf`` if it found none, which leaves
``UB0``. A value is flagged exact when the solver finished within the cap, or when it is
within 0.5 of a proven lower bound (``LB`` or the MILP's dual bound): every edit cost is
a multiple of 0.5, so nothing lies in between. :class:`EditResult` carries the flag and
the best proven lower bound; ``nbgraph`` pairs too large to enumerate (over
``MAX_ENUMERATED`` layers) go to the solver without a cap.

Invariances: every exact value depends only on the two graphs, never on how layers are
numbered, and is symmetric. For capped values, nodes are put in a numbering-free order
(longest-path depth, then Weisfeiler-Lehman colour) before solving, and each pair is
solved in one fixed orientation, so ``d(a, b) == d(b, a)``; a capped value can still
depend on the machine's speed, and on the numbering when WL colours tie.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, NamedTuple

import networkx as nx
import numpy as np
import scipy.sparse as sp
from networkx.algorithms.similarity import optimize_edit_paths
from scipy.optimize import Bounds, LinearConstraint, linear_sum_assignment, milp

from bonas.architecture import Architecture
from bonas.exceptions import BonasError
from bonas.spaces.nb101 import NB101Space
from bonas.spaces.nb201 import NB201Space

__all__ = ["EditDistance", "EditResult", "nb101_edit_distance", "nb201_hamming"]

#: Most vertices an NB101 alignment or an enumerated NAS-Bench-Graph GED may permute.
MAX_ENUMERATED = 8
_CERTIFY = 0.25  # half the 0.5 granularity of every edit cost
_SOLVERS = ("milp", "networkx")
_NB101 = NB101Space()
_NB201 = NB201Space()


class EditResult(NamedTuple):
    """One edit distance with its certificate.

    Attributes:
        value: The distance returned (an upper bound on the true one when not exact).
        exact: Whether ``value`` is proven equal to the true distance.
        lower_bound: A proven lower bound (equal to ``value`` when exact).
    """

    value: float
    exact: bool
    lower_bound: float


# -- cell distances ------------------------------------------------------------------------


def nb201_hamming(a: Architecture, b: Architecture, space: NB201Space | None = None) -> int:
    """The number of cell edges whose ops differ between two NAS-Bench-201 cells.

    Args:
        a, b: NB201 cells (``nb201`` vocabulary, as :class:`~bonas.spaces.NB201Space`
            builds them).
        space: The space whose :meth:`~bonas.spaces.NB201Space.to_ops` reads the cells.

    Returns:
        ``sum_k [ops_a[k] != ops_b[k]]`` over the six edges, in ``0..6``.

    Raises:
        InvalidArchitectureError: If either is not an NB201 cell.

    Example:
        >>> space = NB201Space()
        >>> a = space.from_ops(["none", "skip_connect", "nor_conv_1x1",
        ...                     "nor_conv_3x3", "avg_pool_3x3", "none"])
        >>> b = space.from_ops(["none", "skip_connect", "nor_conv_3x3",
        ...                     "nor_conv_3x3", "avg_pool_3x3", "skip_connect"])
        >>> nb201_hamming(a, b)
        2
    """
    space = _NB201 if space is None else space
    ops_a, ops_b = space.to_ops(a), space.to_ops(b)
    return sum(x != y for x, y in zip(ops_a, ops_b, strict=True))


def nb101_edit_distance(a: Architecture, b: Architecture) -> int:
    """The exact edit distance of two NAS-Bench-101 cells, adjacency plus ops.

    With ``(A_a, o_a)`` and ``(A_b, o_b)`` the pruned specs (``NB101Space().to_spec``), the
    smaller padded to ``N = max(n_a, n_b)`` vertices with isolated dummy vertices whose
    op differs from every op::

        d(a, b) = min_pi  sum_{u,v} |A_a[u, v] - A_b[pi(u), pi(v)]|
                          + sum_u [o_a[u] != o_b[pi(u)]]

    over the permutations ``pi`` that map input to input and output to output. An added
    or removed vertex so costs its op difference plus its edges. The ``(N - 2)!``
    alignments (at most 120 for NB101's 7 vertices) are enumerated, so the minimum is
    exact and does not depend on how vertices are numbered.

    Args:
        a, b: NB101 cells (``nb101`` vocabulary).

    Returns:
        The distance, a non-negative integer.

    Raises:
        InvalidArchitectureError: If either is not over the ``nb101`` vocabulary.
        BonasError: If a cell has more than ``MAX_ENUMERATED + 2`` vertices.

    Example:
        >>> space = NB101Space()
        >>> a = space.from_spec([[0, 1, 0], [0, 0, 1], [0, 0, 0]],
        ...                     ["input", "conv3x3-bn-relu", "output"])
        >>> b = space.from_spec([[0, 1, 1], [0, 0, 1], [0, 0, 0]],
        ...                     ["input", "maxpool3x3", "output"])
        >>> nb101_edit_distance(a, b)
        2
    """
    mat_a, ops_a = _NB101.to_spec(a)
    mat_b, ops_b = _NB101.to_spec(b)
    n = max(len(ops_a), len(ops_b))
    if n - 2 > MAX_ENUMERATED:
        raise BonasError(
            f"nb101_edit_distance enumerates interior alignments of at most {MAX_ENUMERATED} "
            f"vertices; got cells of {len(ops_a)} and {len(ops_b)} vertices"
        )
    adj_a, adj_b = _pad(mat_a, n), _pad(mat_b, n)
    # real vertices first, dummies after; a dummy differs from every op
    node_cost = np.ones((n, n))
    for u, op_a in enumerate(ops_a):
        for v, op_b in enumerate(ops_b):
            node_cost[u, v] = float(op_a != op_b)
    # input to input, output to output (the output sits at n_x - 1, before the padding)
    fixed = [(0, 0), (len(ops_a) - 1, len(ops_b) - 1)]
    return round(_enumerated_minimum(node_cost, adj_a, adj_b, fixed))


def _pad(matrix: np.ndarray, n: int) -> np.ndarray:
    """A 0/1 adjacency padded to ``n`` vertices with isolated dummies."""
    adj = np.zeros((n, n), dtype=np.int8)
    k = matrix.shape[0]
    adj[:k, :k] = matrix
    return adj


@lru_cache(maxsize=MAX_ENUMERATED + 1)
def _permutations(k: int) -> np.ndarray:
    if k == 0:
        return np.zeros((1, 0), dtype=np.intp)
    return np.array(list(itertools.permutations(range(k))), dtype=np.intp)


def _enumerated_minimum(
    node_cost: np.ndarray,
    adj_a: np.ndarray,
    adj_b: np.ndarray,
    fixed: Sequence[tuple[int, int]],
) -> float:
    """``min_pi sum_u node_cost[u, pi(u)] + sum_{u,v} |A_a[u, v] - A_b[pi(u), pi(v)]|``
    over the bijections ``pi`` of two equal-size (padded) graphs that keep the ``fixed``
    pairs, enumerated in chunks of 5040."""
    n = adj_a.shape[0]
    rows_fixed = [u for u, _ in fixed]
    cols_fixed = [v for _, v in fixed]
    free_rows = np.array([u for u in range(n) if u not in rows_fixed], dtype=np.intp)
    free_cols = np.array([v for v in range(n) if v not in cols_fixed], dtype=np.intp)
    perms = _permutations(free_rows.size)
    adj_a = adj_a.astype(np.int16)
    adj_b = adj_b.astype(np.int16)
    best = math.inf
    for start in range(0, perms.shape[0], 5040):
        chunk = perms[start : start + 5040]
        mapping = np.empty((chunk.shape[0], n), dtype=np.intp)
        mapping[:, rows_fixed] = cols_fixed
        mapping[:, free_rows] = free_cols[chunk]
        nodes = node_cost[np.arange(n), mapping].sum(axis=1)
        image = adj_b[mapping[:, :, None], mapping[:, None, :]]
        edges = np.abs(adj_a[None] - image).sum(axis=(1, 2))
        best = min(best, float((nodes + edges).min()))
    return best


# -- general graph edit distance ----------------------------------------------------------


@dataclass(frozen=True)
class _Prepared:
    """An architecture's graph in a numbering-free node order.

    Attributes:
        keys: ``(label, units, stride)`` per node.
        colour: Weisfeiler-Lehman colour per node (comparable across graphs).
        adj: ``(n, n)`` 0/1 adjacency.
        edges: ``(m, 2)`` edge list.
        indeg, outdeg: Degrees, shape ``(n,)``.
        order_key: Sort key of the whole graph, for the fixed orientation of a pair.
    """

    arch: Architecture
    keys: tuple[tuple[str, int | None, int | None], ...]
    colour: tuple[str, ...]
    adj: np.ndarray
    edges: np.ndarray
    indeg: np.ndarray
    outdeg: np.ndarray
    order_key: tuple[int, int, str]

    @property
    def n(self) -> int:
        return len(self.keys)

    @property
    def m(self) -> int:
        return int(self.edges.shape[0])


def _prepare(arch: Architecture) -> _Prepared:
    n = arch.num_layers
    keys = [(arch.labels[i], arch.units[i], arch.strides[i]) for i in range(n)]
    preds = [arch.predecessors(v) for v in range(n)]
    depth = [0] * n
    for v in arch.topological_order():
        depth[v] = max((depth[p] + 1 for p in preds[v]), default=0)
    rounds = arch.wl_colours(n, until_stable=True)
    colour = rounds[-1]
    first_round = rounds[1]
    order = sorted(range(n), key=lambda v: (depth[v], colour[v], v))
    position = {v: i for i, v in enumerate(order)}
    edges = np.array(
        sorted((position[u], position[v]) for u, v in arch.edges), dtype=np.intp
    ).reshape(-1, 2)
    adj = np.zeros((n, n), dtype=np.int8)
    adj[edges[:, 0], edges[:, 1]] = 1
    return _Prepared(
        arch=arch,
        keys=tuple(keys[v] for v in order),
        colour=tuple(first_round[v] for v in order),
        adj=adj,
        edges=edges,
        indeg=adj.sum(axis=0).astype(np.float64),
        outdeg=adj.sum(axis=1).astype(np.float64),
        order_key=(n, len(arch.edges), arch.canonical_hash),
    )


def _node_costs(g1: _Prepared, g2: _Prepared) -> np.ndarray:
    """``(n1, n2)`` substitution costs: 0 equal key, 0.5 equal label, 1 otherwise."""
    index: dict[object, int] = {}
    labels1 = np.array([index.setdefault(k[0], len(index)) for k in g1.keys])
    labels2 = np.array([index.setdefault(k[0], len(index)) for k in g2.keys])
    full1 = np.array([index.setdefault(k, len(index)) for k in g1.keys])
    full2 = np.array([index.setdefault(k, len(index)) for k in g2.keys])
    same_label = np.equal.outer(labels1, labels2)
    same_key = np.equal.outer(full1, full2)
    return np.where(same_key, 0.0, np.where(same_label, 0.5, 1.0))


def _mapping_cost(g1: _Prepared, g2: _Prepared, cost: np.ndarray, mapping: np.ndarray) -> float:
    """Exact cost of the edit path induced by ``mapping`` (``(n1,)``, ``-1`` = deleted)."""
    mapped = mapping >= 0
    k = int(mapped.sum())
    value = float(cost[np.nonzero(mapped)[0], mapping[mapped]].sum()) + (g1.n - k) + (g2.n - k)
    preserved = 0
    if g1.m:
        tails, heads = mapping[g1.edges[:, 0]], mapping[g1.edges[:, 1]]
        ok = (tails >= 0) & (heads >= 0)
        preserved = int(g2.adj[tails[ok], heads[ok]].sum())
    return value + g1.m + g2.m - 2 * preserved


def _assignment_mapping(rows: np.ndarray, cols: np.ndarray, n1: int) -> np.ndarray:
    mapping = np.full(n1, -1, dtype=np.intp)
    mapping[rows] = cols
    return mapping


def _bounds(g1: _Prepared, g2: _Prepared, cost: np.ndarray) -> tuple[float, float, np.ndarray]:
    """``(LB, UB0, mapping of UB0)``; see the module docstring."""
    rows, cols = linear_sum_assignment(cost)
    lower = float(cost[rows, cols].sum()) + abs(g1.n - g2.n) + abs(g1.m - g2.m)
    guide = (
        cost
        + 0.5 * np.abs(g1.indeg[:, None] - g2.indeg[None, :])
        + 0.5 * np.abs(g1.outdeg[:, None] - g2.outdeg[None, :])
        + 0.25 * ~np.equal.outer(np.array(g1.colour), np.array(g2.colour))
    )
    rows, cols = linear_sum_assignment(guide)
    mapping = _assignment_mapping(rows, cols, g1.n)
    return lower, _mapping_cost(g1, g2, cost, mapping), mapping


def _milp_search(
    g1: _Prepared,
    g2: _Prepared,
    cost: np.ndarray,
    time_limit: float | None,
    node_limit: int | None,
) -> tuple[np.ndarray | None, float, bool]:
    """Solve GED as Lerouge et al.'s F2 programme with HiGHS.

    Variables ``x[i, k]`` (node ``i`` of G1 maps to node ``k`` of G2, binary) and
    ``y[e, f]`` (edge ``e`` of G1 maps to edge ``f`` of G2, in [0, 1])::

        min  sum (c[i, k] - 2) x[i, k] - 2 sum y[e, f] + n1 + n2 + m1 + m2
        s.t. sum_k x[i, k] <= 1,  sum_i x[i, k] <= 1   (= 1 on the smaller side)
             sum_{f leaves k} y[(i, j), f] <= x[i, k],  sum_{f enters l} y[(i, j), f] <= x[j, l]
             sum_{e leaves i} y[e, (k, l)] <= x[i, k],  sum_{e enters j} y[e, (k, l)] <= x[j, l]

    Returns:
        ``(mapping or None, proven lower bound, finished)``.
    """
    n1, n2, m1, m2 = g1.n, g2.n, g1.m, g2.m
    num_x, num_y = n1 * n2, m1 * m2
    constant = n1 + n2 + m1 + m2
    objective = np.concatenate([(cost - 2.0).ravel(), np.full(num_y, -2.0)])
    blocks = []
    lows: list[np.ndarray] = []
    highs: list[np.ndarray] = []
    # node assignment rows and columns
    ii, kk = np.divmod(np.arange(num_x), n2)
    blocks.append(sp.csr_array((np.ones(num_x), (ii, np.arange(num_x))), shape=(n1, num_x + num_y)))
    blocks.append(sp.csr_array((np.ones(num_x), (kk, np.arange(num_x))), shape=(n2, num_x + num_y)))
    lows += [np.full(n1, 1.0 if n1 <= n2 else 0.0), np.full(n2, 1.0 if n2 <= n1 else 0.0)]
    highs += [np.ones(n1), np.ones(n2)]
    if num_y:
        ee, ff = np.divmod(np.arange(num_y), m2)
        ycols = num_x + np.arange(num_y)
        side_specs = (
            # (row id of each y, x column of each row, number of rows)
            (ee * n2 + g2.edges[ff, 0], lambda r: g1.edges[r // n2, 0] * n2 + r % n2, m1 * n2),
            (ee * n2 + g2.edges[ff, 1], lambda r: g1.edges[r // n2, 1] * n2 + r % n2, m1 * n2),
            (ff * n1 + g1.edges[ee, 0], lambda r: (r % n1) * n2 + g2.edges[r // n1, 0], m2 * n1),
            (ff * n1 + g1.edges[ee, 1], lambda r: (r % n1) * n2 + g2.edges[r // n1, 1], m2 * n1),
        )
        for y_rows, x_col, count in side_specs:
            rows = np.arange(count)
            data = np.concatenate([np.ones(num_y), -np.ones(count)])
            row_idx = np.concatenate([y_rows, rows])
            col_idx = np.concatenate([ycols, x_col(rows)])
            blocks.append(sp.csr_array((data, (row_idx, col_idx)), shape=(count, num_x + num_y)))
            lows.append(np.full(count, -np.inf))
            highs.append(np.zeros(count))
    constraints = LinearConstraint(sp.vstack(blocks), np.concatenate(lows), np.concatenate(highs))
    integrality = np.concatenate([np.ones(num_x), np.zeros(num_y)])
    options: dict[str, object] = {"disp": False, "mip_rel_gap": 1e-9}
    if time_limit is not None:
        options["time_limit"] = max(float(time_limit), 1e-3)
    if node_limit is not None:
        options["node_limit"] = int(node_limit)
    result = milp(
        objective,
        constraints=constraints,
        integrality=integrality,
        bounds=Bounds(0.0, 1.0),
        options=options,
    )
    mapping = None
    if result.x is not None:
        x = result.x[:num_x].reshape(n1, n2) > 0.5
        rows, cols = np.nonzero(x)
        mapping = _assignment_mapping(rows, cols, n1)
    dual = getattr(result, "mip_dual_bound", None)
    lower = -math.inf if dual is None or not np.isfinite(dual) else float(dual) + constant
    return mapping, lower, result.status == 0


def _networkx_search(
    g1: _Prepared, g2: _Prepared, time_limit: float | None, upper_bound: float
) -> tuple[float, bool]:
    """networkx's ``optimize_edit_paths`` under ``time_limit``: ``(best cost, finished)``.

    The generator yields strictly improving edit paths; the last one yielded before the
    cap is the best upper bound it found (``inf`` if none).
    """

    def graph(g: _Prepared) -> nx.DiGraph:
        out = nx.DiGraph()
        out.add_nodes_from((i, {"key": k}) for i, k in enumerate(g.keys))
        out.add_edges_from(map(tuple, g.edges.tolist()))
        return out

    def subst(a: dict, b: dict) -> float:
        if a["key"] == b["key"]:
            return 0.0
        return 0.5 if a["key"][0] == b["key"][0] else 1.0

    start = time.perf_counter()
    best = math.inf
    for _, _, value in optimize_edit_paths(
        graph(g1),
        graph(g2),
        node_subst_cost=subst,
        node_del_cost=lambda _: 1.0,
        node_ins_cost=lambda _: 1.0,
        upper_bound=upper_bound,
        timeout=time_limit,
    ):
        best = min(best, float(value))
    finished = time_limit is None or time.perf_counter() - start < time_limit
    return best, finished


# -- the distance ------------------------------------------------------------------------------


class EditDistance:
    """Edit distance between architectures of one vocabulary, dispatched on the vocabulary.

    ``nb201``: :func:`nb201_hamming`; ``nb101``: :func:`nb101_edit_distance`; ``nbgraph``:
    exact GED by enumeration; everything else (``darts``, ``cnn``, ``mlp``...): GED with
    units-aware substitution costs, exact unless the ``timeout`` cap is hit. The module
    docstring gives the costs, the solvers and the fallback in full.

    Args:
        timeout: Seconds allowed per pair for the GED search; ``None`` for no cap.
        solver: ``"milp"`` (SciPy's HiGHS on Lerouge et al.'s F2 programme) or
            ``"networkx"`` (``networkx.optimize_edit_paths``). The MILP is the default:
            it proves most optima of 15-30-layer CNN, MLP and DARTS pairs in 0.05-0.4 s,
            where networkx's search rarely finishes within seconds.
        node_limit: Optional cap on HiGHS branch-and-bound nodes, a cap that, unlike
            ``timeout``, does not depend on the machine.

    Attributes:
        last_exact: Whether the last :meth:`__call__` (or every entry of the last
            :meth:`pairwise`) is proven exact.

    Example:
        >>> from bonas.spaces import NB201Space
        >>> space = NB201Space()
        >>> a = space.from_string("|none~0|+|skip_connect~0|nor_conv_1x1~1|+|"
        ...                       "nor_conv_3x3~0|avg_pool_3x3~1|none~2|")
        >>> b = space.from_string("|none~0|+|skip_connect~0|nor_conv_3x3~1|+|"
        ...                       "nor_conv_3x3~0|avg_pool_3x3~1|skip_connect~2|")
        >>> dist = EditDistance()
        >>> dist(a, b), dist.last_exact
        (2.0, True)
        >>> dist.pairwise([a, b]).tolist()
        [[0.0, 2.0], [2.0, 0.0]]
    """

    def __init__(
        self,
        timeout: float | None = 0.5,
        *,
        solver: Literal["milp", "networkx"] = "milp",
        node_limit: int | None = None,
    ) -> None:
        if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
            raise BonasError(
                f"timeout must be a positive number of seconds or None, got {timeout!r}"
            )
        if solver not in _SOLVERS:
            raise BonasError(f"unknown edit-distance solver {solver!r}; known: {list(_SOLVERS)}")
        if node_limit is not None and node_limit < 1:
            raise BonasError(f"node_limit must be a positive integer or None, got {node_limit!r}")
        self.timeout = timeout
        self.solver = solver
        self.node_limit = node_limit
        self.last_exact = True

    def __repr__(self) -> str:
        return (
            f"EditDistance(timeout={self.timeout!r}, solver={self.solver!r}, "
            f"node_limit={self.node_limit!r})"
        )

    # -- public API ---------------------------------------------------------------------

    def __call__(self, a: Architecture, b: Architecture) -> float:
        """The distance between two architectures; sets :attr:`last_exact`."""
        result = self.compute(a, b)
        self.last_exact = result.exact
        return result.value

    def compute(self, a: Architecture, b: Architecture) -> EditResult:
        """The distance between two architectures with its exactness certificate."""
        self._vocabulary_of([a, b])
        return self._pair(a, b, {})

    def pairwise(
        self,
        archs_a: Sequence[Architecture],
        archs_b: Sequence[Architecture] | None = None,
        *,
        return_exact: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """All distances between two lists, shape ``(len_a, len_b)``.

        Args:
            archs_a: First list.
            archs_b: Second list; omitted, the symmetric matrix of ``archs_a`` with itself
                (each pair solved once, zero diagonal).
            return_exact: Also return the ``(len_a, len_b)`` bool matrix of which entries
                are proven exact.

        Raises:
            BonasError: If the architectures are not all over one vocabulary.
        """
        archs_a = list(archs_a)
        symmetric = archs_b is None
        archs_b = archs_a if archs_b is None else list(archs_b)
        if archs_a or archs_b:
            self._vocabulary_of(archs_a + archs_b)
        values = np.zeros((len(archs_a), len(archs_b)))
        exact = np.ones((len(archs_a), len(archs_b)), dtype=bool)
        cache: dict[int, _Prepared] = {}
        for i, a in enumerate(archs_a):
            for j in range(i + 1 if symmetric else 0, len(archs_b)):
                result = self._pair(a, archs_b[j], cache)
                values[i, j], exact[i, j] = result.value, result.exact
                if symmetric:
                    values[j, i], exact[j, i] = result.value, result.exact
        self.last_exact = bool(exact.all())
        return (values, exact) if return_exact else values

    # -- internals ---------------------------------------------------------------------------

    @staticmethod
    def _vocabulary_of(archs: Sequence[Architecture]) -> str:
        bad = [type(x).__name__ for x in archs if not isinstance(x, Architecture)]
        if bad:
            raise BonasError(f"EditDistance compares Architecture objects, got {sorted(set(bad))}")
        names = sorted({x.vocabulary.name for x in archs})
        if len(names) != 1:
            raise BonasError(f"EditDistance compares architectures of one vocabulary; got {names}")
        return names[0]

    def _pair(self, a: Architecture, b: Architecture, cache: dict[int, _Prepared]) -> EditResult:
        if a.vocabulary.name != b.vocabulary.name:
            raise BonasError(
                "EditDistance compares architectures of one vocabulary; got "
                f"{a.vocabulary.name!r} and {b.vocabulary.name!r}"
            )
        if a is b or a == b:
            return EditResult(0.0, True, 0.0)
        name = a.vocabulary.name
        if name == "nb201":
            value = float(nb201_hamming(a, b))
            return EditResult(value, True, value)
        if name == "nb101":
            value = float(nb101_edit_distance(a, b))
            return EditResult(value, True, value)
        g1, g2 = (self._prepared(x, cache) for x in (a, b))
        if name == "nbgraph" and max(g1.n, g2.n) <= MAX_ENUMERATED:
            value = _exact_small(g1, g2)
            return EditResult(value, True, value)
        if g1.order_key > g2.order_key:
            g1, g2 = g2, g1
        result = self._search(g1, g2, exact_only=name == "nbgraph")
        if g1.order_key == g2.order_key and not result.exact:
            # no numbering-free orientation (a WL collision): try both, keep the better.
            other = self._search(g2, g1, exact_only=False)
            value = min(result.value, other.value)
            lower = max(result.lower_bound, other.lower_bound)
            exact = value - lower < _CERTIFY
            result = EditResult(value, exact, value if exact else lower)
        return result

    @staticmethod
    def _prepared(arch: Architecture, cache: dict[int, _Prepared]) -> _Prepared:
        key = id(arch)
        if key not in cache or cache[key].arch is not arch:
            cache[key] = _prepare(arch)
        return cache[key]

    def _search(self, g1: _Prepared, g2: _Prepared, *, exact_only: bool) -> EditResult:
        start = time.perf_counter()
        cost = _node_costs(g1, g2)
        lower, upper, _ = _bounds(g1, g2, cost)
        if upper - lower < _CERTIFY:
            return EditResult(upper, True, upper)
        cap = None if exact_only else self.timeout
        left = None if cap is None else cap - (time.perf_counter() - start)
        if left is not None and left <= 0:
            return EditResult(upper, False, lower)
        if self.solver == "milp":
            mapping, dual, finished = _milp_search(
                g1, g2, cost, left, None if exact_only else self.node_limit
            )
            if mapping is not None:
                upper = min(upper, _mapping_cost(g1, g2, cost, mapping))
            lower = max(lower, dual)
        else:
            found, finished = _networkx_search(g1, g2, left, upper)
            upper = min(upper, found)
        if finished or upper - lower < _CERTIFY:
            return EditResult(upper, True, upper)
        return EditResult(upper, False, lower)


def _exact_small(g1: _Prepared, g2: _Prepared) -> float:
    """Exact GED by enumerating every bijection of the graphs padded to equal size."""
    n = max(g1.n, g2.n)
    cost = np.ones((n, n))
    cost[: g1.n, : g2.n] = _node_costs(g1, g2)
    cost[g1.n :, g2.n :] = 0.0  # dummy to dummy (only one side is ever padded)
    adj1 = np.zeros((n, n), dtype=np.int8)
    adj2 = np.zeros((n, n), dtype=np.int8)
    adj1[: g1.n, : g1.n] = g1.adj
    adj2[: g2.n, : g2.n] = g2.adj
    return _enumerated_minimum(cost, adj1, adj2, ())

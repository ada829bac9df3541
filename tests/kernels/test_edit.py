"""Edit distances: hand-computed cases, metric invariants, solvers, the time-cap fallback."""

from __future__ import annotations

import itertools
import math

import networkx as nx
import numpy as np
import pytest

from bonas import Architecture, BonasError
from bonas.kernels import edit
from bonas.kernels.edit import EditDistance, EditResult, nb101_edit_distance, nb201_hamming
from bonas.spaces import CNNSpace, DARTSSpace, MLPSpace, NB101Space, NB201Space, NBGraphSpace

from ..helpers import permuted, samples

CHAIN = [[0, 1, 0], [0, 0, 1], [0, 0, 0]]


def _cnn_chain(units: list[int], strides: list[int] | None = None) -> Architecture:
    """ip -> conv3 ... -> fc -> softmax -> op, with the given conv units and an fc of 64."""
    k = len(units)
    labels = ["ip"] + ["conv3"] * k + ["fc", "softmax", "op"]
    unit_list = [None, *units, 64, None, None]
    stride_list = [None, *(strides or [1] * k), None, None, None]
    edges = [(i, i + 1) for i in range(len(labels) - 1)]
    return Architecture.from_layers(labels, unit_list, edges, stride_list, vocabulary="cnn")


# -- NB201 ---------------------------------------------------------------------------------


def test_nb201_hamming_hand_case() -> None:
    space = NB201Space()
    a = space.from_string(
        "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|"
    )
    b = space.from_string(
        "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|"
    )
    assert nb201_hamming(a, b) == 2
    assert nb201_hamming(a, b, space) == 2
    dist = EditDistance()
    assert dist(a, b) == 2.0 and dist.last_exact
    assert dist(permuted(a, 0), permuted(b, 1)) == 2.0


def test_nb201_metric_onsamples() -> None:
    archs = samples(NB201Space(), 6, seed=0)
    d = EditDistance().pairwise(archs)
    ops = np.array([NB201Space().to_ops(a) for a in archs])
    expected = (ops[:, None, :] != ops[None, :, :]).sum(axis=2)
    np.testing.assert_array_equal(d, expected)
    assert np.all(np.diag(d) == 0) and np.array_equal(d, d.T)


# -- NB101 -------------------------------------------------------------------------------------


def _reference_nb101(a: Architecture, b: Architecture) -> int:
    """Plain-loop version of the aligned NB101 distance over dict graphs (test oracle)."""
    space = NB101Space()
    (mat_a, ops_a), (mat_b, ops_b) = space.to_spec(a), space.to_spec(b)
    n = max(len(ops_a), len(ops_b))
    ops_a = ops_a[:-1] + ["pad"] * (n - len(ops_a)) + ops_a[-1:]
    ops_b = ops_b[:-1] + ["pad"] * (n - len(ops_b)) + ops_b[-1:]

    def edge_set(mat: np.ndarray, size: int) -> set[tuple[int, int]]:
        # move the output to the last padded slot
        relabel = {i: i for i in range(size - 1)} | {size - 1: n - 1}
        return {(relabel[u], relabel[v]) for u, v in zip(*np.nonzero(mat), strict=True)}

    ea, eb = edge_set(mat_a, mat_a.shape[0]), edge_set(mat_b, mat_b.shape[0])
    best = math.inf
    for perm in itertools.permutations(range(1, n - 1)):
        pi = {0: 0, n - 1: n - 1} | dict(zip(range(1, n - 1), perm, strict=True))
        ops = sum(ops_a[u] != ops_b[pi[u]] for u in range(n))  # only one side is padded
        mapped = {(pi[u], pi[v]) for u, v in ea}
        best = min(best, ops + len(mapped ^ eb))
    return int(best)


def test_nb101_hand_cases() -> None:
    space = NB101Space()
    a = space.from_spec(CHAIN, ["input", "conv3x3-bn-relu", "output"])
    op_changed = space.from_spec(CHAIN, ["input", "maxpool3x3", "output"])
    edge_added = space.from_spec(
        [[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", "conv3x3-bn-relu", "output"]
    )
    longer = space.from_spec(
        [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]],
        ["input", "conv3x3-bn-relu", "maxpool3x3", "output"],
    )
    assert nb101_edit_distance(a, op_changed) == 1
    assert nb101_edit_distance(a, edge_added) == 1
    # the added vertex: its op (1) + its two edges (2) + the removed edge conv -> output (1)
    assert nb101_edit_distance(a, longer) == 4
    assert nb101_edit_distance(longer, a) == 4
    dist = EditDistance()
    assert dist(a, longer) == 4.0 and dist.last_exact


def test_nb101_matches_plain_loop_and_invariants() -> None:
    archs = samples(NB101Space(), 7, seed=3)
    d = EditDistance().pairwise(archs)
    for i, j in itertools.combinations(range(len(archs)), 2):
        assert d[i, j] == _reference_nb101(archs[i], archs[j])
        assert nb101_edit_distance(permuted(archs[i], i), permuted(archs[j], j)) == d[i, j]
    assert np.array_equal(d, d.T) and np.all(np.diag(d) == 0)
    assert nb101_edit_distance(archs[0], permuted(archs[0], 9)) == 0


# -- NAS-Bench-Graph --------------------------------------------------------------------------


def test_nbgraph_exact_equals_networkx() -> None:
    space = NBGraphSpace()
    a = space.from_link_ops([0, 1, 2, 3], ["gcn", "gat", "skip", "sage"])
    b = space.from_link_ops([0, 0, 1, 2], ["gcn", "gat", "gin", "sage"])
    c = space.from_link_ops([0, 1, 1, 1], ["arma", "gat", "gin", "fc"])

    def label_cost(x: dict, y: dict) -> float:
        return 0.0 if x["label"] == y["label"] else 1.0

    dist = EditDistance()
    for x, y in ((a, b), (a, c), (b, c)):
        expected = nx.graph_edit_distance(
            x.to_networkx(), y.to_networkx(), node_subst_cost=label_cost
        )
        assert dist(x, y) == expected and dist.last_exact
        assert dist(y, permuted(x, 4)) == expected


# -- free-form graphs ---------------------------------------------------------------------------


def test_cnn_hand_cases() -> None:
    base = _cnn_chain([16, 32])
    dist = EditDistance(timeout=None)
    assert dist(base, _cnn_chain([16, 64])) == 0.5  # same label, other units
    assert dist(base, _cnn_chain([16, 32], strides=[1, 2])) == 0.5  # other stride
    relabelled = base.replace(labels=["ip", "conv3", "conv5", "fc", "softmax", "op"])
    assert dist(base, relabelled) == 1.0  # other label
    # a pool inserted in the chain: the layer (1), the edge it splits (1), its two edges (2)
    pooled = Architecture.from_layers(
        ["ip", "conv3", "max-pool", "conv3", "fc", "softmax", "op"],
        [None, 16, None, 32, 64, None, None],
        [(i, i + 1) for i in range(6)],
        vocabulary="cnn",
    )
    assert dist(base, pooled) == 4.0 and dist.last_exact
    assert dist.compute(pooled, base) == EditResult(4.0, True, 4.0)
    # a new branch ip -> conv3:8 -> fc: the layer and its two edges
    branched = Architecture.from_layers(
        [*base.labels, "conv3"],
        [*base.units, 8],
        [*base.edges, (0, 6), (6, 3)],
        [*base.strides, 1],
        vocabulary="cnn",
    )
    assert dist(base, branched) == 3.0
    # GED may substitute any layer for any other: another conv3:32 at the end of the
    # chain costs 3.5, not 4, by shifting the chain one layer (ip -> conv3:16 costs 1,
    # conv3:16 -> conv3:32 0.5, a new ip and its edge 2)
    assert dist(base, _cnn_chain([16, 32, 32])) == 3.5


@pytest.mark.parametrize(
    "space", [CNNSpace(), MLPSpace(), DARTSSpace()], ids=["cnn", "mlp", "darts"]
)
def test_free_form_invariants(space: object) -> None:
    rng = np.random.default_rng(11)
    a = space.sample(rng)  # type: ignore[attr-defined]
    b = space.mutate(a, rng)  # type: ignore[attr-defined]
    c = space.mutate(b, rng)  # type: ignore[attr-defined]
    dist = EditDistance(timeout=None)
    d, exact = dist.pairwise([a, b, c], return_exact=True)
    assert exact.all() and dist.last_exact
    assert np.array_equal(d, d.T) and np.all(np.diag(d) == 0)
    assert d[0, 1] > 0 and d[1, 2] > 0
    assert d[0, 2] <= d[0, 1] + d[1, 2]  # exact GED is a metric
    assert dist(a, permuted(a, 5)) == 0.0
    assert dist(permuted(a, 6), permuted(c, 7)) == d[0, 2]
    cross = dist.pairwise([a], [b, c])
    assert cross.shape == (1, 2) and np.array_equal(cross[0], d[0, 1:])


def test_darts_one_op_change_costs_one() -> None:
    space = DARTSSpace()
    arch = space.sample(np.random.default_rng(2))
    genotype = space.to_genotype(arch)
    op, src = genotype["normal"][0]
    other = next(o for o in ("sep_conv_3x3", "max_pool_3x3") if o != op)
    changed = space.from_genotype({**genotype, "normal": [(other, src), *genotype["normal"][1:]]})
    dist = EditDistance()
    assert dist(arch, changed) == 1.0 and dist.last_exact


def test_solvers_agree_on_small_graphs() -> None:
    archs = [_cnn_chain([16]), _cnn_chain([16, 32]), _cnn_chain([32, 16, 8])]
    branched = Architecture.from_layers(
        ["ip", "conv3", "conv5", "fc", "softmax", "op"],
        [None, 16, 16, 64, None, None],
        [(0, 1), (0, 2), (1, 3), (2, 3), (3, 4), (4, 5)],
        vocabulary="cnn",
    )
    archs.append(branched)
    milp_d = EditDistance(timeout=None).pairwise(archs)
    nx_dist = EditDistance(timeout=None, solver="networkx")
    nx_d, nx_exact = nx_dist.pairwise(archs, return_exact=True)
    assert nx_exact.all()
    np.testing.assert_array_equal(milp_d, nx_d)


# -- the time cap --------------------------------------------------------------------------------


def _hard_pair() -> tuple[Architecture, Architecture]:
    rng = np.random.default_rng(0)
    space = CNNSpace()
    return space.sample(rng), space.sample(rng)  # 14 and 26 layers, GED 39


def test_fallback_without_solver_result_is_flagged_upper_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = _hard_pair()
    exact = EditDistance(timeout=None).compute(a, b)
    assert exact.exact
    # the solver hits the cap before finding any mapping: the assignment bound remains
    monkeypatch.setattr(edit, "_milp_search", lambda *args: (None, -math.inf, False))
    dist = EditDistance(timeout=0.5)
    value = dist(a, b)
    assert not dist.last_exact
    assert math.isfinite(value) and value >= exact.value
    assert dist(b, a) == value  # one orientation per pair: capped values stay symmetric
    capped = dist.compute(a, b)
    assert capped.lower_bound <= exact.value <= capped.value
    d, flags = dist.pairwise([a, b], return_exact=True)
    assert d[0, 1] == d[1, 0] == value and not flags[0, 1] and flags[0, 0]
    assert not dist.last_exact


@pytest.mark.parametrize("solver", ["milp", "networkx"])
def test_tiny_timeout_gives_upper_bound(solver: str) -> None:
    a, b = _hard_pair()
    exact = EditDistance(timeout=None).compute(a, b).value
    result = EditDistance(timeout=1e-4, solver=solver).compute(a, b)
    assert math.isfinite(result.value)
    assert result.lower_bound <= exact <= result.value
    assert result.value == exact or not result.exact
    assert EditDistance(timeout=1e-4, solver=solver)(b, a) >= exact


def test_errors() -> None:
    nb201 = NB201Space().sample(np.random.default_rng(0))
    nb101 = NB101Space().sample(np.random.default_rng(0))
    dist = EditDistance()
    with pytest.raises(BonasError, match="one vocabulary"):
        dist(nb201, nb101)
    with pytest.raises(BonasError, match="one vocabulary"):
        dist.pairwise([nb201], [nb101])
    with pytest.raises(BonasError, match="Architecture objects"):
        dist(nb201, "cell")  # type: ignore[arg-type]
    with pytest.raises(BonasError, match="timeout"):
        EditDistance(timeout=0)
    with pytest.raises(BonasError, match="solver"):
        EditDistance(solver="astar")  # type: ignore[arg-type]
    assert EditDistance().pairwise([]).shape == (0, 0)

"""OTMANN: agreement with dragonfly (NASBOT's code), invariants, transport plans, errors."""

from __future__ import annotations

import json
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bonas import Architecture, BonasError, InvalidArchitectureError, Vocabulary
from bonas.kernels import OTMANNDistance, get_label_costs, reference_distances, solve_transport
from bonas.spaces import (
    CNNSpace,
    MLPSpace,
    NB201Space,
    blocked_cnn,
    resnet_cnn,
    vgg_net,
)

from ..helpers import SPACES, relabel, samples

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "dragonfly_otmann.json"
SETS = json.loads(FIXTURE.read_text())["sets"]


def _networks(entry: dict) -> list[Architecture]:
    return [
        Architecture.from_layers(n["labels"], n["units"], [tuple(e) for e in n["edges"]],
                                 n["strides"], vocabulary=entry["vocabulary"])
        for n in entry["networks"]
    ]  # fmt: skip


@pytest.mark.parametrize("entry", SETS, ids=[s["name"] for s in SETS])
def test_distances_equal_dragonfly(entry: dict) -> None:
    otmann = OTMANNDistance()
    assert list(otmann.names) == entry["distance_names"]
    archs = _networks(entry)
    expected = np.array(entry["distances"])
    got = otmann.pairwise(archs, archs)
    assert got.shape == expected.shape == (len(archs), len(archs), 8)
    big = np.abs(expected) > 1e-6
    np.testing.assert_allclose(got[big], expected[big], rtol=1e-6, atol=0)
    # dragonfly's LP round-off leaves ~1e-13 where the distance is truly 0
    assert np.abs(got[~big] - expected[~big]).max(initial=0.0) < 1e-6


@pytest.mark.parametrize("name", sorted(SPACES))
def test_class_split_equals_the_whole_problem(name: str) -> None:
    space = SPACES[name]
    otmann = OTMANNDistance.for_space(space)
    archs = samples(space, 6, seed=11)
    profiles = [otmann.profile(a) for a in archs]
    fast = otmann.pairwise(archs, archs)
    for i, pa in enumerate(profiles):
        for j, pb in enumerate(profiles):
            whole = reference_distances(pa, pb, otmann)
            np.testing.assert_allclose(fast[i, j], whole, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", sorted(SPACES))
def test_identity_symmetry_and_non_negativity(name: str) -> None:
    space = SPACES[name]
    otmann = OTMANNDistance.for_space(space)
    archs = samples(space, 7, seed=3)
    full = otmann.pairwise(archs, archs)
    assert (full >= -1e-9).all()
    assert np.abs(full[np.arange(7), np.arange(7)]).max() < 1e-9
    np.testing.assert_allclose(full, full.transpose(1, 0, 2), rtol=1e-10, atol=1e-8)
    symmetric = otmann.pairwise(archs)
    np.testing.assert_allclose(symmetric, full, rtol=1e-10, atol=1e-8)


NETS = [blocked_cnn(3, 2, 1), resnet_cnn(2), vgg_net(1)]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2), st.integers(0, 2), st.randoms(use_true_random=False))
def test_invariant_to_relabelling(i: int, j: int, random: object) -> None:
    otmann = OTMANNDistance()
    a, b = NETS[i], NETS[j]
    perm = list(range(a.num_layers))
    random.shuffle(perm)  # type: ignore[attr-defined]
    np.testing.assert_allclose(otmann(relabel(a, perm), b), otmann(a, b), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("pair", [(0, 1), (1, 2), (3, 5)])
def test_transport_plans_have_the_right_marginals(pair: tuple[int, int]) -> None:
    entry = SETS[0]
    archs = _networks(entry)
    otmann = OTMANNDistance()
    pa, pb = otmann.profile(archs[pair[0]]), otmann.profile(archs[pair[1]])
    plans: list[np.ndarray] = []
    distances = otmann.profile_distance(pa, pb, plans=plans)
    assert len(plans) == 4
    costs = get_label_costs("cnn").matrix
    for k, plan in enumerate(plans):
        assert plan.shape == (pa.masses.size + 1, pb.masses.size + 1)
        assert (plan >= -1e-9).all()
        np.testing.assert_allclose(plan.sum(axis=1), np.append(pa.masses, pb.total_mass), rtol=1e-9)
        np.testing.assert_allclose(plan.sum(axis=0), np.append(pb.masses, pa.total_mass), rtol=1e-9)
        label = costs[np.ix_(pa.labels, pb.labels)]
        real = plan[:-1, :-1]
        assert real[np.isinf(label)].max(initial=0.0) == 0.0  # forbidden cells stay empty
        struct = 0.5 * (
            np.abs(pa.backward[:, None] - pb.backward[None]).mean(2)
            + np.abs(pa.forward[:, None] - pb.forward[None]).mean(2)
        )
        cost = np.where(np.isinf(label), 0.0, label + otmann.struct_coeffs[k] * struct)
        value = (real * cost).sum() + (plan[-1, :-1].sum() + plan[:-1, -1].sum())
        np.testing.assert_allclose(value, distances[2 * k], rtol=1e-9)
        np.testing.assert_allclose(
            distances[2 * k + 1], distances[2 * k] / (pa.total_mass + pb.total_mass)
        )


def test_parallel_equals_serial() -> None:
    archs = samples(CNNSpace(), 12, seed=5)
    serial = OTMANNDistance(n_jobs=1).pairwise(archs[:6], archs)
    parallel = OTMANNDistance(n_jobs=2, parallel_threshold=1).pairwise(archs[:6], archs)
    np.testing.assert_array_equal(parallel, serial)
    sym_parallel = OTMANNDistance(n_jobs=2, parallel_threshold=1).pairwise(archs)
    np.testing.assert_allclose(
        sym_parallel, OTMANNDistance(n_jobs=1).pairwise(archs, archs), rtol=1e-10, atol=1e-8
    )


def _distances_in_the_worker_pool() -> None:
    archs = samples(CNNSpace(), 4, seed=6)
    OTMANNDistance(n_jobs=2, parallel_threshold=1).pairwise(archs)


def test_a_multiprocessing_child_that_used_the_worker_pool_exits() -> None:
    # as a benchmark's worker does after its search: it used to wait on the pool forever
    child = get_context("spawn").Process(target=_distances_in_the_worker_pool)
    child.start()
    child.join(timeout=120)
    hung = child.is_alive()
    if hung:
        child.kill()
    assert not hung and child.exitcode == 0, f"hung: {hung}, exit code {child.exitcode}"


@pytest.mark.parametrize("name", sorted(SPACES))
def test_lower_bounds_bound_the_distances_and_keep_their_invariants(name: str) -> None:
    space = SPACES[name]
    otmann = OTMANNDistance.for_space(space, n_jobs=1)
    archs = samples(space, 8, seed=2)
    rng = np.random.default_rng(4)
    near = [space.mutate(a, rng) for a in archs]  # close pairs, where the bound matters
    exact = otmann.pairwise([*archs, *near], archs)
    bounds = otmann.pairwise_lower_bounds([*archs, *near], archs)
    assert bounds.shape == exact.shape
    assert (bounds >= 0).all()
    assert (bounds <= exact + 1e-9 * max(1.0, float(exact.max()))).all()
    assert np.abs(bounds[np.arange(8), np.arange(8)]).max() < 1e-9  # d(G, G) = 0
    square = otmann.pairwise_lower_bounds(archs, archs)
    np.testing.assert_allclose(square, square.transpose(1, 0, 2), rtol=1e-12, atol=1e-9)


def test_lower_bounds_are_tight_on_the_cnn_space() -> None:
    space = CNNSpace()
    otmann = OTMANNDistance.for_space(space, n_jobs=1)
    archs = samples(space, 20, seed=8)
    rng = np.random.default_rng(9)
    candidates = [space.mutate(archs[int(rng.integers(20))], rng) for _ in range(30)]
    exact = otmann.pairwise(candidates, archs)[..., 1::2]  # the normalised (emd) distances
    bounds = otmann.pairwise_lower_bounds(candidates, archs)[..., 1::2]
    gap = exact - bounds
    assert gap.max() > 0  # a relaxation, not the exact solve
    assert np.median(gap) < 1e-3 and gap.mean() < 0.01  # emd values are about 0.5-1


def _reference_bounds(otmann: OTMANNDistance, pa: object, pb: object) -> np.ndarray:
    """The lower bound of one pair written plainly: per class and coefficient pair, the
    exact fractional knapsack with one layer on a side, else the larger relaxation."""
    matrix = get_label_costs(pa.vocabulary).matrix
    nu = otmann.nu
    lp = np.zeros(len(otmann.label_coeffs))
    for rows, cols in zip(pa.class_layers, pb.class_layers, strict=True):
        ma, mb = pa.masses[rows], pb.masses[cols]
        lp += nu * (ma.sum() + mb.sum())
        if rows.size == 0 or cols.size == 0:
            continue
        label = nu * matrix[np.ix_(pa.labels[rows], pb.labels[cols])]
        struct = np.abs(pa.paths[rows][:, None] - pb.paths[cols][None]).mean(axis=2)
        for k, (c_lab, c_str) in enumerate(
            zip(otmann.label_coeffs, otmann.struct_coeffs, strict=True)
        ):
            with np.errstate(invalid="ignore"):
                gain = np.where(
                    np.isinf(label), 0.0, np.minimum(c_lab * label + c_str * struct - 2 * nu, 0.0)
                )
            if rows.size == 1 or cols.size == 1:
                gains, masses, capacity = (
                    (gain[0], mb, ma[0]) if rows.size == 1 else (gain[:, 0], ma, mb[0])
                )
                order = np.argsort(gains, kind="stable")
                before = np.cumsum(masses[order]) - masses[order]
                lp[k] += (gains[order] * np.clip(capacity - before, 0, masses[order])).sum()
            else:
                lp[k] += max((ma * gain.min(axis=1)).sum(), (mb * gain.min(axis=0)).sum())
    total = pa.total_mass + pb.total_mass
    return np.stack([lp, lp / total], axis=1).reshape(-1)


@pytest.mark.parametrize("name", ["cnn", "mlp", "nb201"])
def test_lower_bounds_equal_a_plain_per_pair_computation(name: str) -> None:
    space = SPACES[name]
    otmann = OTMANNDistance.for_space(space)
    archs = samples(space, 10, seed=6)
    rng = np.random.default_rng(7)
    near = [space.mutate(a, rng) for a in archs]
    # columns with mutants of one another: many of their layers are alike
    cols = [*archs, *near[:5]]
    bounds = otmann.pairwise_lower_bounds([*archs, *near], cols)
    for i, a in enumerate([*archs, *near]):
        for j, b in enumerate(cols):
            expected = _reference_bounds(otmann, otmann.profile(a), otmann.profile(b))
            np.testing.assert_allclose(bounds[i, j], expected, rtol=1e-9, atol=1e-9)


def test_lower_bounds_keep_their_columns_for_the_next_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The GA bounds generation after generation against the same observations: their
    column set is made once, and the bounds are those of a fresh computation."""
    from bonas.kernels.otmann import exact as module

    space = SPACES["cnn"]
    observed, first, second = (samples(space, 8, seed=s) for s in (1, 2, 3))
    otmann = OTMANNDistance()
    made = []
    real_of = module.ColumnSet.of
    monkeypatch.setattr(module.ColumnSet, "of", lambda p: made.append(len(p)) or real_of(p))
    bounds = [otmann.pairwise_lower_bounds(rows, observed) for rows in (first, second)]
    assert made == [8, 8, 8]  # the rows twice, the columns once
    for rows, kept in zip((first, second), bounds, strict=True):
        np.testing.assert_array_equal(OTMANNDistance().pairwise_lower_bounds(rows, observed), kept)
    otmann.pairwise_lower_bounds(first, observed[:-1])  # other columns: made anew
    assert made[-2:] == [7, 8]  # the new columns, then the rows


def test_distinct_layers_are_exact_groups_even_when_their_keys_collide() -> None:
    from bonas.kernels.otmann.bounds import distinct_layers as _distinct_layers

    paths = np.array([[1.0, 2.0], [0.5, 0.0], [1.0, 2.0], [0.5, 0.0], [1.0, 2.5]])
    labels = np.array([3, 3, 3, 4, 3])
    distinct, distinct_labels, layers = _distinct_layers(paths, labels)
    assert len(distinct) == 4  # rows 0 and 2 are one layer; row 3 has another label
    np.testing.assert_array_equal(distinct[layers], paths)
    np.testing.assert_array_equal(distinct_labels[layers], labels)
    # two different layers with the same key (sqrt 3 * sqrt 2 == sqrt 2 * sqrt 3): each
    # stays its own
    collide = np.array([[np.sqrt(3.0), 0.0], [0.0, np.sqrt(2.0)]])
    kept, _, index = _distinct_layers(collide, np.array([1, 1]))
    np.testing.assert_array_equal(kept, collide)
    np.testing.assert_array_equal(index, [0, 1])


def test_lower_bounds_are_exact_when_every_class_has_one_layer_on_a_side() -> None:
    # one conv, one pool, one fc: each class problem is a knapsack, solved exactly
    small = Architecture.from_layers(
        ["ip", "conv3", "max-pool", "fc", "softmax", "op"],
        [None, 16, None, 64, None, None],
        [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)],
        vocabulary="cnn",
    )
    others = samples(CNNSpace(), 12, seed=13)
    otmann = OTMANNDistance()
    exact = otmann.pairwise([small], others)
    np.testing.assert_allclose(
        otmann.pairwise_lower_bounds([small], others), exact, rtol=1e-9, atol=1e-9
    )
    np.testing.assert_allclose(
        otmann.pairwise_lower_bounds(others, [small]), exact.transpose(1, 0, 2), rtol=1e-9,
        atol=1e-9,
    )  # fmt: skip


def test_lower_bounds_do_not_depend_on_the_number_of_threads() -> None:
    import numba

    archs = samples(CNNSpace(), 16, seed=5)
    otmann = OTMANNDistance()
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        serial = otmann.pairwise_lower_bounds(archs[:8], archs)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(otmann.pairwise_lower_bounds(archs[:8], archs), serial)


def test_non_default_coefficients() -> None:
    otmann = OTMANNDistance(
        non_assignment_penalty=2.0, label_coeffs=(1.0, 0.5), struct_coeffs=(0.0, 2.0)
    )
    a, b = blocked_cnn(3, 2, 1), resnet_cnn(2)
    assert otmann.names == (
        "lp[c_lab=1,c_str=0]",
        "emd[c_lab=1,c_str=0]",
        "lp[c_lab=0.5,c_str=2]",
        "emd[c_lab=0.5,c_str=2]",
    )
    np.testing.assert_allclose(
        otmann(a, b), reference_distances(otmann.profile(a), otmann.profile(b), otmann)
    )


# -- bad input --------------------------------------------------------------------------


def test_transport_rejects_mismatched_masses() -> None:
    with pytest.raises(BonasError, match="totals differ"):
        solve_transport(np.array([1.0, 2.0]), np.array([1.0, 1.0]), np.zeros((2, 2)))
    with pytest.raises(BonasError, match="non-negative"):
        solve_transport(np.array([-1.0, 2.0]), np.array([0.5, 0.5]), np.zeros((2, 2)))
    with pytest.raises(BonasError, match="finite"):
        solve_transport(np.array([np.nan, 1.0]), np.array([0.5, 0.5]), np.zeros((2, 2)))
    with pytest.raises(BonasError, match="shapes"):
        solve_transport(np.array([1.0]), np.array([0.5, 0.5]), np.zeros((2, 2)))
    with pytest.raises(BonasError, match="NaN"):
        solve_transport(np.array([1.0]), np.array([1.0]), np.array([[np.nan]]))


def test_transport_solves_a_small_problem() -> None:
    value, plan = solve_transport(
        np.array([2.0, 1.0]), np.array([1.0, 2.0]), np.array([[0.0, 1.0], [np.inf, 0.0]])
    )
    np.testing.assert_allclose(plan, [[1.0, 1.0], [0.0, 1.0]])
    assert value == pytest.approx(1.0)


def test_nan_or_negative_units_never_reach_the_distance() -> None:
    data = blocked_cnn(3, 1, 1).to_dict()
    for bad in (float("nan"), -16):
        data["units"][1] = bad
        with pytest.raises(InvalidArchitectureError, match="units"):
            Architecture.from_dict(data)


def test_vocabularies_cannot_be_mixed() -> None:
    otmann = OTMANNDistance()
    with pytest.raises(BonasError, match="one vocabulary"):
        otmann.pairwise([blocked_cnn(3, 1, 1)], [MLPSpace().sample(0)])
    with pytest.raises(BonasError, match="one vocabulary"):
        otmann(blocked_cnn(3, 1, 1), MLPSpace().sample(0))


def test_unknown_vocabulary_and_bad_settings() -> None:
    toy = Vocabulary("toy-otmann", ("ip", "op", "dense"), unit_labels=frozenset({"dense"}))
    arch = Architecture.from_layers(
        ["ip", "dense", "op"], [None, 4, None], [(0, 1), (1, 2)], vocabulary=toy
    )
    with pytest.raises(BonasError, match="no label costs"):
        OTMANNDistance().profile(arch)
    with pytest.raises(BonasError, match="pair up"):
        OTMANNDistance(label_coeffs=(1.0,), struct_coeffs=(0.1, 0.2))
    with pytest.raises(BonasError, match="non-negative"):
        OTMANNDistance(struct_coeffs=(0.1, -1.0, 0.6, 1.5))
    with pytest.raises(BonasError, match="Architecture"):
        OTMANNDistance().profile("conv3")  # type: ignore[arg-type]


def test_nb201_cells_are_compared_as_layer_graphs() -> None:
    space = NB201Space()
    otmann = OTMANNDistance.for_space(space)
    a = space.from_string("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|none~2|")
    # node 2 is computed but never used: the same layer graph, a different cell
    b = space.from_string("|nor_conv_3x3~0|+|avg_pool_3x3~0|none~1|+|none~0|nor_conv_3x3~1|none~2|")
    c = space.from_string("|nor_conv_1x1~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|none~2|")
    assert a != b
    assert otmann(a, b).max() == 0.0
    assert otmann(a, c).min() > 0.0
    # a cell whose output receives nothing is "ip -> zero -> op", far from a and c alike
    dead = space.from_string("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    assert otmann(a, dead).min() > 0.0 and otmann(c, dead).min() > 0.0


_POOL_OWNER = """
import sys, time
from bonas.kernels import OTMANNDistance
from bonas.kernels.otmann.parallel import shared_pool
from bonas.spaces import CNNSpace, blocked_cnn, vgg_net

if __name__ == "__main__":
    otmann = OTMANNDistance(n_jobs=2, parallel_threshold=1)
    otmann.pairwise([blocked_cnn(3, 2, 1), vgg_net(1)], [vgg_net(1), blocked_cnn(2, 2, 1)])
    print(*shared_pool(2)._processes, flush=True)
    time.sleep(600)
"""


def test_distance_workers_end_with_the_process_that_owns_their_pool() -> None:
    """An idle pool worker outlived a SIGKILLed search forever (found by ``bonas.
    benchmarks.kills --cli``): each now watches its owner."""
    import os
    import signal
    import subprocess
    import sys
    import time

    owner = subprocess.Popen([sys.executable, "-c", _POOL_OWNER], stdout=subprocess.PIPE, text=True)
    workers = [int(pid) for pid in owner.stdout.readline().split()]
    assert len(workers) == 2
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait()
    deadline = time.monotonic() + 10
    alive = workers
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [pid for pid in workers if _running(pid)]
    assert alive == []


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False

"""The multi-fidelity peers (SMAC3's Hyperband facade, Optuna's TPE with its Hyperband
pruner) in the simulator: budgets, promotions from checkpoints, determinism, errors."""

from __future__ import annotations

import pytest

from bonas import Architecture, BonasError
from bonas.benchmarks.mf_peers import MF_PEERS, make_mf_peer
from bonas.benchmarks.simulator import run_multifidelity
from bonas.spaces import CNNSpace
from tests.mf_objectives import BUDGETS, CELLS, four_fidelity_table

pytest.importorskip("smac", reason="the peers extra is not installed: pip install '.[peers]'")
pytest.importorskip("optuna", reason="the peers extra is not installed: pip install '.[peers]'")
pytest.importorskip("syne_tune", reason="the peers extra is not installed: pip install '.[peers]'")


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory):
    return four_fidelity_table(tmp_path_factory.mktemp("mfpeers") / "mf.csv")


@pytest.mark.parametrize("name", sorted(MF_PEERS))
def test_a_peer_runs_in_the_simulator_and_continues_from_checkpoints(table, name) -> None:
    records = run_multifidelity(table, name, "own", seed=0, max_jobs=60)
    assert len(records) == 60 and all(r["state"] == "complete" for r in records)
    assert {r["budget"] for r in records} <= set(table.fidelities)
    assert records[0]["scheduler"] == name
    assert any(r["budget"] == 27.0 for r in records)  # some reach the top budget
    best = {}
    for record in records:
        arch = record["architecture"]
        if record["resume_from"] is not None:  # continued from a result it has
            assert best[arch] == record["resume_from"] < record["budget"]
        best[arch] = max(best.get(arch, 0.0), record["budget"])
    assert records[-1]["regret"] is not None and records[-1]["regret"] >= 0
    again = run_multifidelity(table, name, "own", seed=0, max_jobs=60)
    assert [(r["architecture"], r["budget"]) for r in again] == [
        (r["architecture"], r["budget"]) for r in records
    ]


@pytest.mark.parametrize("name", ["optuna-hb", "syne-asha", "syne-bohb"])
def test_a_stopping_peer_continues_only_the_trials_it_keeps(table, name) -> None:
    records = run_multifidelity(table, name, "own", seed=1, max_jobs=80)
    by_arch: dict[str, list[float]] = {}
    for record in records:
        by_arch.setdefault(record["architecture"], []).append(record["budget"])
    for budgets in by_arch.values():  # each trial climbs the rungs in order, from the first
        assert budgets == list(BUDGETS[: len(budgets)])
    climbed = [len(b) for b in by_arch.values()]
    assert min(climbed) == 1 and max(climbed) >= 2  # pruned at the first rung, and kept


def test_bad_peers_are_refused() -> None:
    with pytest.raises(BonasError, match=r"unknown multi-fidelity peer 'dehb'; known"):
        make_mf_peer("dehb", CELLS, BUDGETS)
    with pytest.raises(BonasError, match=r"categorical encoding|categories"):
        make_mf_peer("optuna-hb", CNNSpace(), BUDGETS)
    with pytest.raises(BonasError, match="eta must be greater than 1"):
        make_mf_peer("smac-hb", CELLS, BUDGETS, eta=1.0)
    assert Architecture  # the records name architectures by JSON


def test_a_sweep_runs_a_peer_once_per_grid_point(table) -> None:
    from bonas.benchmarks.multifidelity import sweep

    frame = sweep(
        table, schedulers=["hyperband", "optuna-hb"], searchers=["rs", "re"], seeds=1,
        max_jobs=20, progress=False,
    )  # fmt: skip
    assert sorted(zip(frame["scheduler"], frame["searcher"], strict=True)) == [
        ("hyperband", "re"), ("hyperband", "rs"), ("optuna-hb", "own"),
    ]  # fmt: skip
    assert (frame["jobs"] == 20).all()
    with pytest.raises(BonasError, match=r"unknown scheduler 'dehb'.*peers \['optuna-hb'"):
        run_multifidelity(table, "dehb", "own", seed=0, max_jobs=5)


def test_syne_tune_peers_leave_numpys_global_generator_as_they_found_it(table) -> None:
    import numpy as np

    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    run_multifidelity(table, "syne-asha", "own", seed=0, max_jobs=30)
    assert np.random.random() == expected

"""The multi-fidelity peers (SMAC3's Hyperband facade, Optuna's TPE with its Hyperband
pruner, syne-tune's ASHA and BOHB, DEHB) in the simulator: budgets, promotions from
checkpoints, determinism, errors."""

from __future__ import annotations

import re

import pytest

from bonas import Architecture, BonasError
from bonas.benchmarks.mf_peers import DEHB_INSTALL, MF_PEERS, make_mf_peer
from bonas.benchmarks.simulator import run_multifidelity
from bonas.spaces import CNNSpace
from tests.mf_objectives import BUDGETS, CELLS, four_fidelity_table

pytest.importorskip("smac", reason="the peers extra is not installed: pip install '.[peers]'")
pytest.importorskip("optuna", reason="the peers extra is not installed: pip install '.[peers]'")
pytest.importorskip("syne_tune", reason="the peers extra is not installed: pip install '.[peers]'")


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory):
    return four_fidelity_table(tmp_path_factory.mktemp("mfpeers") / "mf.csv")


def _needs_dehb(name: str) -> None:
    if name == "dehb":
        pytest.importorskip("dehb", reason=f"DEHB is not installed: {DEHB_INSTALL}")


@pytest.mark.parametrize("name", sorted(MF_PEERS))
def test_a_peer_runs_in_the_simulator_and_continues_from_checkpoints(table, name) -> None:
    _needs_dehb(name)
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
    with pytest.raises(BonasError, match=r"unknown multi-fidelity peer 'hebo'; known"):
        make_mf_peer("hebo", CELLS, BUDGETS)
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
    with pytest.raises(BonasError, match=r"unknown scheduler 'hebo'.*peers \['dehb'"):
        run_multifidelity(table, "hebo", "own", seed=0, max_jobs=5)


def test_without_dehb_its_peer_names_the_install_command(monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "dehb", None)  # an import of it fails
    with pytest.raises(BonasError, match=re.escape(DEHB_INSTALL)):
        make_mf_peer("dehb", CELLS, BUDGETS)


def test_dehb_evolves_new_architectures_and_tells_failures_as_the_worst(table) -> None:
    pytest.importorskip("dehb", reason=f"DEHB is not installed: {DEHB_INSTALL}")
    peer = make_mf_peer("dehb", CELLS, BUDGETS, seed=3)
    jobs = [peer.next_job() for _ in range(12)]  # DEHB's first bracket starts 27
    assert [job.budget for job in jobs] == [BUDGETS[0]] * 12
    assert len({job.architecture for job in jobs}) == 12
    for k, job in enumerate(jobs, start=1):
        if k == 5:
            peer.report(job, failed="out of memory")
        else:
            peer.report(job, float(k))  # maximised: DEHB minimises -k
    fitness = [entry[2] for entry in peer._dehb.history]  # (id, config, fitness, ...)
    assert fitness[4] == -1.0  # a failure is told the worst cost so far, value 1's
    assert fitness[:4] + fitness[5:] == [-float(k) for k in range(1, 13) if k != 5]

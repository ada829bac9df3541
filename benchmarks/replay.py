"""Replays: optimisers against a benchmark table, many seeds, simulated wall-clock.

A replay asks an optimiser for one architecture at a time, answers from a
:class:`~bonas.benchmarks.tables.Table` instead of training, and records, per query,
the answer, the incumbent (the best validation value so far), its regret against the
table's optimum, the simulated wall-clock (the sum of the table's training times) and the
optimiser's own overhead in seconds.

Call order::

    result = replay("nb201:cifar10", ["bonas", "re", "ls", "rs"], queries=150, seeds=20,
                    jobs=2, out="replay-nb201")
    result.traces        # one row per (optimizer, seed, query)
    result.summary       # mean and standard error at 10, 25, 50, 100 and 150 queries
    result.plot("regret.png")

With ``out``, every run appends to ``out/traces/<optimizer>-seed<k>.jsonl`` as it goes and
keeps the optimiser's state beside it, so a killed replay started again with the same
arguments goes on where it stopped and gives the same traces as an uninterrupted one.
The same command line: ``bonas replay --benchmark nb201:cifar10 --optimizers bonas,re
--queries 150 --seeds 20 --jobs 2 --out DIR``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bonas.architecture import Architecture
from bonas.benchmarks._parallel import run_calls, seed_list
from bonas.benchmarks.tables import Table, TableError, TableResult
from bonas.exceptions import BonasError
from bonas.searchers.base import Searcher
from bonas.spaces.base import SearchSpace
from bonas.surrogate import NOISE_FREE
from bonas.trial import Trial, TrialState

__all__ = [
    "CHECKPOINTS",
    "ReplayResult",
    "lookup_options",
    "make_replay_searcher",
    "plot_replay",
    "pool_summaries",
    "replay",
    "resolve_table",
    "run_replay",
    "summarize",
    "summary_markdown",
]

#: The query counts at which the summary reports regret and test value.
CHECKPOINTS = (10, 25, 50, 100, 150)

TRACE_COLUMNS = (
    "optimizer",
    "seed",
    "query",
    "architecture",
    "state",
    "value",
    "test_value",
    "train_time",
    "incumbent",
    "incumbent_test",
    "regret",
    "sim_time",
    "overhead_s",
    "failure",
    "budget",
    "cost",
)


def _run_name(optimizer: str, seed: int) -> str:
    return f"{optimizer}-seed{seed:03d}"


def _read_trace(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            raise BonasError(f"{path}: line {number} is not valid JSON") from None
    return records


def _restore(
    optimizer: Any, records: list[dict[str, Any]], trace_path: Path, state_path: Path
) -> list[dict[str, Any]]:
    """Give ``optimizer`` the traced trials and the state saved after them.

    The trace line is written before the state, so a run killed in between has one line
    more than its state: that query is dropped from the trace and done again.
    """
    try:
        state = json.loads(state_path.read_text())
        saved = int(state["queries"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise BonasError(f"cannot resume from {state_path}: {err}") from None
    if len(records) < saved:
        raise BonasError(
            f"{state_path} was saved after {saved} queries but {trace_path} holds only "
            f"{len(records)}"
        )
    if len(records) > saved:
        records = records[:saved]
        trace_path.write_text("".join(json.dumps(r) + "\n" for r in records))
    trials = []
    for number, record in enumerate(records):
        trial = Trial(number, Architecture.from_json(record["architecture"]), record["budget"])
        if record["state"] == TrialState.COMPLETE.value:
            trial.state, trial.value = TrialState.COMPLETE, float(record["value"])
        else:
            trial.state, trial.failure = TrialState.FAILED, record["failure"]
        trials.append(trial)
    optimizer.trials = trials
    optimizer.load_state_dict(state["optimizer"])
    return records


def lookup_options(
    optimizer: str, options: Mapping[str, Any] | None, *, noisy: bool = False
) -> dict[str, Any]:
    """Constructor options of ``optimizer`` for answering table lookups.

    A table answers the same value every time an architecture is queried (a query
    without a seed is the mean over the table's seeds), so the objective is noise-free,
    and bonas's GP is told so: ``noise=NOISE_FREE`` instead of fitting a noise variance
    that would mostly absorb the kernel's misfit. A ``noisy`` replay (one training
    seed's value per query) is not noise-free: bonas keeps its default there. An
    explicit ``noise`` in ``options`` (``None`` to fit it) wins. The model-free
    baselines take no such option.

    Example:
        >>> lookup_options("bonas", {})["noise"] == NOISE_FREE
        True
        >>> lookup_options("bonas", {"noise": None}), lookup_options("re", {"population_size": 5})
        ({'noise': None}, {'population_size': 5})
    """
    chosen = dict(options or {})
    if optimizer == "bonas" and not noisy:
        chosen.setdefault("noise", NOISE_FREE)
    return chosen


def make_replay_searcher(
    name: str,
    space: SearchSpace,
    *,
    seed: int,
    queries: int,
    direction: str = "maximize",
    options: Mapping[str, Any] | None = None,
    noisy: bool = False,
) -> Searcher:
    """A searcher for a replay by name: one of bonas's (:data:`~bonas.searchers.
    SEARCHERS`) or a peer (:data:`~bonas.benchmarks.peers.PEERS`), with
    :func:`lookup_options`; SMAC's budget (``n_trials``) is the replay's ``queries``.

    Raises:
        BonasError: On an unknown name (listing the known ones), a bad option, or a
            peer whose library is missing (naming the install command).
    """
    from bonas.benchmarks.peers import PEERS, make_peer
    from bonas.searchers import SEARCHERS, make_searcher

    chosen = lookup_options(name, options, noisy=noisy)
    if name in PEERS:
        if name == "smac":
            chosen.setdefault("n_trials", queries)
        return make_peer(name, space, seed=seed, direction=direction, **chosen)
    if name not in SEARCHERS:
        known = ", ".join([*SEARCHERS, *PEERS])
        raise BonasError(f"unknown optimizer {name!r}; known: {known}")
    try:
        return make_searcher(name, space, seed=seed, direction=direction, **chosen)
    except TypeError as err:  # an option the constructor does not take
        raise BonasError(f"bad options for {name}: {err}") from None


def resolve_table(benchmark: str | Table, path: str | None) -> Table:
    """``benchmark`` itself, or the table its spec names (:func:`~bonas.benchmarks.tables.
    load_table`, with ``path``)."""
    if isinstance(benchmark, Table):
        return benchmark
    from bonas.benchmarks.tables import load_table

    return load_table(benchmark, path)


def run_replay(
    benchmark: str | Table,
    optimizer: str,
    seed: int,
    queries: int,
    *,
    path: str | None = None,
    budget: float | None = None,
    out: str | Path | None = None,
    optimizer_options: Mapping[str, Any] | None = None,
    noisy: bool = False,
) -> list[dict[str, Any]]:
    """One optimiser, one seed: ``queries`` table lookups, as trace records.

    Args:
        benchmark: A table, or its spec for :func:`~bonas.benchmarks.tables.load_table`.
        optimizer: A name for :func:`make_replay_searcher`.
        seed: The optimiser's seed.
        queries: How many architectures to evaluate.
        path: The table's file or folder, where the spec needs one.
        budget: The fidelity to query; ``None`` for the table's highest.
        out: A folder to append the trace to (``traces/``) and to resume from.
        optimizer_options: Keyword arguments of the optimiser's constructor, on top of
            :func:`lookup_options`.
        noisy: Answer each query with one training seed's value, as a real training run
            would (see :func:`replay`).

    Returns:
        One dict per query, with the keys of ``TRACE_COLUMNS``.
    """
    table = resolve_table(benchmark, path)
    if noisy:
        _check_noisy(table)
    # the training seeds a noisy run draws: its own stream, apart from the optimiser's
    seed_rng = np.random.default_rng([seed, 7919])
    direction = getattr(table, "direction", "maximize")
    sign = 1.0 if direction == "maximize" else -1.0  # so that larger is better below
    opt = make_replay_searcher(
        optimizer,
        table.space,
        seed=seed,
        queries=queries,
        direction=direction,
        options=optimizer_options,
        noisy=noisy,
    )
    trace_path = state_path = None
    records: list[dict[str, Any]] = []
    if out is not None:
        folder = Path(out) / "traces"
        folder.mkdir(parents=True, exist_ok=True)
        trace_path = folder / f"{_run_name(optimizer, seed)}.jsonl"
        state_path = folder / f"{_run_name(optimizer, seed)}.state.json"
        records = _read_trace(trace_path)
        if records and not state_path.exists():
            raise BonasError(f"{trace_path} has {len(records)} queries but no state file")
        if records:
            records = _restore(opt, records, trace_path, state_path)[:queries]
    last = records[-1]["incumbent"] if records else None
    incumbent = -math.inf if last is None else sign * last
    incumbent_test = records[-1]["incumbent_test"] if records else None
    observed = [sign * r["value"] for r in records if r["value"] is not None]
    best_seen = max(observed, default=-math.inf)
    for _ in records if noisy else ():  # a resumed run draws on from where it stopped
        seed_rng.permutation(table.seeds)
    sim_time = records[-1]["sim_time"] if records else 0.0
    for query in range(len(records) + 1, queries + 1):
        started = time.perf_counter()
        (trial,) = opt.ask()
        overhead = time.perf_counter() - started
        record: dict[str, Any] = {
            "optimizer": optimizer,
            "seed": seed,
            "query": query,
            "architecture": trial.architecture.to_json(),
            "budget": budget,
        }
        # a noisy run draws its seed order every query, failed or not, so resumes agree
        order = seed_rng.permutation(table.seeds) if noisy else None
        try:
            result = mean = table.query(trial.architecture, budget)
            if order is not None:
                result = _one_training_seed(table, trial.architecture, budget, order)
        except TableError as err:
            record.update(state="failed", value=None, test_value=None, train_time=0.0, cost=None)
            record["failure"] = str(err)
        else:
            record.update(
                state="complete",
                value=result.value,
                test_value=result.test_value,
                train_time=result.train_time,
                cost=result.cost,
                failure=None,
            )
            sim_time += result.train_time
            # the incumbent is what the run saw best; its worth is the mean over seeds
            if sign * result.value > best_seen:
                best_seen = sign * result.value
                incumbent, incumbent_test = sign * mean.value, mean.test_value
        started = time.perf_counter()
        if record["failure"] is None:
            opt.tell(trial, record["value"])
        else:
            opt.tell(trial, failed=record["failure"])
        overhead += time.perf_counter() - started
        record.update(
            incumbent=None if incumbent == -math.inf else sign * incumbent,
            incumbent_test=incumbent_test,
            regret=None if incumbent == -math.inf else sign * table.optimum - incumbent,
            sim_time=sim_time,
            overhead_s=overhead,
        )
        records.append(record)
        if trace_path is not None and state_path is not None:
            with trace_path.open("a") as stream:
                stream.write(json.dumps(record) + "\n")
            state = {"queries": query, "optimizer": opt.state_dict()}
            partial = state_path.with_suffix(".tmp")
            partial.write_text(json.dumps(state))
            partial.replace(state_path)
    return records


def _check_noisy(table: Table) -> None:
    if table.seeds < 2:
        raise BonasError(
            f"a noisy replay answers one training seed's value per query, and {table.name} "
            f"has {table.seeds} seed"
        )


def _one_training_seed(
    table: Table, arch: Architecture, budget: float | None, order: np.ndarray
) -> TableResult:
    """The value of the first training seed in ``order`` (a permutation of the table's
    seeds) that the table has for ``arch``."""
    error = TableError(f"{table.name} has no training seed for this architecture")
    for training_seed in order:
        try:
            return table.query(arch, budget, seed=int(training_seed))
        except TableError as err:  # this cell lacks that seed: try the next
            error = err
    raise error


@dataclass
class ReplayResult:
    """What :func:`replay` returns.

    Attributes:
        benchmark: The table spec.
        optimum: The table's optimum, against which regret is computed.
        traces: One row per (optimizer, seed, query), columns ``TRACE_COLUMNS``.
        summary: :func:`summarize` of the traces.
        out: The output folder, if any.
    """

    benchmark: str
    optimum: float
    traces: pd.DataFrame
    summary: pd.DataFrame
    out: Path | None = None

    def plot(self, path: str | Path) -> Path:
        """Regret against queries and against simulated time; see :func:`plot_replay`."""
        return plot_replay(self.traces, path, title=self.benchmark)


def replay(
    benchmark: str | Table,
    optimizers: Sequence[str] = ("bonas", "re", "ls", "rs"),
    *,
    queries: int = 150,
    seeds: int | Sequence[int] = 20,
    jobs: int = 1,
    path: str | None = None,
    budget: float | None = None,
    out: str | Path | None = None,
    optimizer_options: Mapping[str, Mapping[str, Any]] | None = None,
    progress: bool = True,
    noisy: bool = False,
) -> ReplayResult:
    """Replay each optimiser with each seed against a table.

    Args:
        benchmark: A table, or its spec, e.g. ``nb201:cifar10`` or ``nbgraph:cora``. A
            spec is loaded once per process; a table is sent to each process.
        optimizers: Names for :func:`make_replay_searcher`: ``bonas``, ``re``, ``ls``,
            ``rs``, and the peers ``tpe``, ``botorch-onehot`` and ``smac``
            (:mod:`bonas.benchmarks.peers`, with ``pip install ".[peers]"``).
        queries: Architectures evaluated per run.
        seeds: How many seeds (``0 .. seeds-1``), or the seeds themselves.
        jobs: Runs in parallel processes; 1 runs them in this process.
        path: The table's file or folder, where the spec needs one.
        budget: The fidelity to query; ``None`` for the table's highest.
        out: Folder for traces, ``summary.csv``, ``summary.md`` and ``regret.png``;
            a replay into a folder that holds part of its runs goes on from there.
        optimizer_options: Per optimiser name, keyword arguments of its constructor, on
            top of :func:`lookup_options` (bonas is told that lookups are noise-free).
        progress: Show a progress bar.
        noisy: Answer each query with the value of one training seed, drawn at random
            (by the run's seed) among those the table has for the architecture, as a
            real training run would, instead of the mean over seeds. The incumbent is
            the architecture with the best value seen, and its regret and test value
            are those of its mean over seeds. Needs a table with several seeds
            (NB201's).

    Returns:
        The traces and their summary.

    Example:
        >>> result = replay("nb201:cifar10", ["rs"], queries=10, seeds=2, progress=False)
        >>> sorted(result.summary["queries"].unique().tolist())
        [10]
    """
    from tqdm.auto import tqdm

    if queries < 1:
        raise BonasError(f"queries must be at least 1, got {queries}")
    if jobs < 1:
        raise BonasError(f"jobs must be at least 1, got {jobs}")
    seeds_run = seed_list(seeds)
    if not seeds_run or not optimizers:
        raise BonasError("a replay needs at least one optimizer and one seed")
    table = resolve_table(benchmark, path)
    title = benchmark if isinstance(benchmark, str) else table.name
    options = {name: dict((optimizer_options or {}).get(name, {})) for name in optimizers}
    if noisy:
        _check_noisy(table)
    for name in optimizers:  # fail on a bad name or option before starting any process
        make_replay_searcher(
            name, table.space, seed=0, queries=queries, options=options[name], noisy=noisy
        )
    runs = [(name, seed) for name in optimizers for seed in seeds_run]
    bar = tqdm(total=len(runs), desc=f"replay {title}", unit="run", disable=not progress)
    common = {"path": path, "budget": budget, "out": out, "noisy": noisy}
    calls = [
        ((benchmark, name, seed, queries), {"optimizer_options": options[name], **common})
        for name, seed in runs
    ]
    done = run_calls(
        run_replay,
        calls,
        jobs,
        describe=lambda i: f"run {runs[i][0]} seed {runs[i][1]}",
        on_done=bar.update,
    )
    results = dict(zip(runs, done, strict=True))
    bar.close()
    rows = [record for run in runs for record in results[run]]
    traces = pd.DataFrame(rows, columns=list(TRACE_COLUMNS))
    summary = summarize(traces)
    folder = None
    if out is not None:
        folder = Path(out)
        summary.to_csv(folder / "summary.csv", index=False)
        (folder / "summary.md").write_text(summary_markdown(summary, title=title))
        plot_replay(traces, folder / "regret.png", title=title)
    return ReplayResult(title, table.optimum, traces, summary, folder)


def _mean_se(values: pd.Series) -> tuple[float, float]:
    data = values.dropna().to_numpy(dtype=float)
    if data.size == 0:
        return math.nan, math.nan
    se = float(data.std(ddof=1) / math.sqrt(data.size)) if data.size > 1 else 0.0
    return float(data.mean()), se


#: The columns of :func:`summarize`.
SUMMARY_COLUMNS = (
    "optimizer",
    "queries",
    "regret_mean",
    "regret_se",
    "test_mean",
    "test_se",
    "sim_time_mean",
    "overhead_s_mean",
    "seeds",
)


def summarize(traces: pd.DataFrame, checkpoints: Sequence[int] = CHECKPOINTS) -> pd.DataFrame:
    """Mean ± standard error over seeds of regret and of the incumbent's test value.

    Args:
        traces: :attr:`ReplayResult.traces`.
        checkpoints: Query counts to report; those beyond the runs' length are left out,
            and the runs' length is reported too.

    Returns:
        One row per (optimizer, queries): ``regret_mean``, ``regret_se``, ``test_mean``,
        ``test_se``, ``sim_time_mean``, ``overhead_s_mean`` (per query, up to there) and
        ``seeds``; no rows, with those columns, for no traces.
    """
    rows = []
    longest = int(traces["query"].max()) if len(traces) else 0
    reported = sorted({*(c for c in checkpoints if c <= longest), longest} - {0})
    for name, runs in traces.groupby("optimizer", sort=False) if len(traces) else ():
        for checkpoint in reported:
            at = runs[runs["query"] == checkpoint]
            upto = runs[runs["query"] <= checkpoint]
            regret_mean, regret_se = _mean_se(at["regret"])
            test_mean, test_se = _mean_se(at["incumbent_test"])
            rows.append(
                {
                    "optimizer": name,
                    "queries": checkpoint,
                    "regret_mean": regret_mean,
                    "regret_se": regret_se,
                    "test_mean": test_mean,
                    "test_se": test_se,
                    "sim_time_mean": float(at["sim_time"].mean()),
                    "overhead_s_mean": float(upto["overhead_s"].mean()),
                    "seeds": int(at["seed"].nunique()),
                }
            )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def pool_summaries(summaries: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """One summary of runs whose seeds were split across several replays.

    The pooled mean and standard error are exactly those :func:`summarize` gives for
    all the runs together: from each part's ``n`` (``seeds``), mean ``m`` and standard
    error ``s``, the sum of values is ``n m`` and their sum of squares
    ``(n - 1) n s^2 + n m^2``. Simulated time and overhead are weighted by ``n``.

    Args:
        summaries: Frames with the columns of :func:`summarize`, from replays over
            disjoint seeds (e.g. seeds 0-9 and 10-19).

    Returns:
        One row per (optimizer, queries) that is in every part, in the first part's
        order; those missing from a part are left out, so that each row pools the same
        runs.

    Raises:
        BonasError: With no summaries, a frame without the summary's columns, or a
            value that is not a number (a seed count that is not positive).

    Example:
        >>> part = pd.DataFrame([["rs", 10, 1.0, 0.0, None, None, 5.0, 0.1, 2]],
        ...                     columns=SUMMARY_COLUMNS)
        >>> pool_summaries([part, part])[["regret_mean", "seeds"]].values.tolist()
        [[1.0, 4.0]]
    """
    if not summaries:
        raise BonasError("pool_summaries needs at least one summary")
    numeric = {column: float for column in SUMMARY_COLUMNS[2:]}
    checked = []
    for index, part in enumerate(summaries):
        missing = [c for c in SUMMARY_COLUMNS if c not in part.columns]
        if missing:
            raise BonasError(f"summary {index} lacks the columns {missing}")
        try:
            checked.append(part.astype(numeric))
        except (TypeError, ValueError) as err:
            raise BonasError(f"summary {index} has a value that is not a number: {err}") from None
        counts = checked[-1]["seeds"]
        if not (counts > 0).all():
            raise BonasError(
                f"summary {index} has seed counts that are not positive: {list(counts)}"
            )
    parts = [
        {(str(r.optimizer), int(r.queries)): r for r in part.itertuples(index=False)}
        for part in checked
    ]
    rows = []
    for key in parts[0]:
        if not all(key in part for part in parts):
            continue
        records = [part[key] for part in parts]
        counts = np.array([float(r.seeds) for r in records])
        total = float(counts.sum())
        row: dict[str, Any] = {"optimizer": key[0], "queries": key[1], "seeds": int(total)}
        for metric in ("regret", "test"):
            means = np.array([float(getattr(r, f"{metric}_mean")) for r in records])
            ses = np.array([float(getattr(r, f"{metric}_se")) for r in records])
            if np.isnan(means).any():
                row[f"{metric}_mean"], row[f"{metric}_se"] = math.nan, math.nan
                continue
            mean = float((counts * means).sum() / total)
            squares = ((counts - 1) * counts * ses**2 + counts * means**2).sum()
            variance = (
                max(float(squares - total * mean**2), 0.0) / (total - 1) if total > 1 else 0.0
            )
            row[f"{metric}_mean"], row[f"{metric}_se"] = mean, math.sqrt(variance / total)
        for column in ("sim_time_mean", "overhead_s_mean"):
            row[column] = float(
                (counts * np.array([float(getattr(r, column)) for r in records])).sum() / total
            )
        rows.append(row)
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def summary_markdown(summary: pd.DataFrame, title: str = "") -> str:
    """Markdown tables of :func:`summarize`: regret, then incumbent test value."""
    lines = [f"# Replay {title}".rstrip(), ""]
    checkpoints = sorted(summary["queries"].unique()) if len(summary) else []
    for metric, label in (("regret", "Regret"), ("test", "Incumbent's test value")):
        lines += [f"## {label} (mean ± standard error over seeds)", ""]
        header = "| optimizer | seeds | " + " | ".join(f"{q} queries" for q in checkpoints)
        lines += [header + " | overhead s/query |", "|---" * (len(checkpoints) + 3) + "|"]
        for name, rows in summary.groupby("optimizer", sort=False):
            cells = []
            for checkpoint in checkpoints:
                row = rows[rows["queries"] == checkpoint]
                mean = float(row[f"{metric}_mean"].iloc[0]) if len(row) else math.nan
                se = float(row[f"{metric}_se"].iloc[0]) if len(row) else math.nan
                cells.append("n/a" if math.isnan(mean) else f"{mean:.4g} ± {se:.2g}")
            overhead = float(rows["overhead_s_mean"].iloc[-1])
            seeds = int(rows["seeds"].max())
            lines.append(f"| {name} | {seeds} | " + " | ".join(cells) + f" | {overhead:.3g} |")
        lines.append("")
    return "\n".join(lines)


def _band(ax: Any, x: np.ndarray, curves: np.ndarray, label: str) -> None:
    # only where every seed has a value, so that the mean is over the same runs throughout
    keep = ~np.isnan(curves).any(axis=0)
    full = np.where(keep, curves, 0.0)
    mean = full.mean(axis=0)
    se = full.std(axis=0, ddof=1) / np.sqrt(len(curves)) if len(curves) > 1 else 0.0 * mean
    (line,) = ax.plot(x[keep], mean[keep], label=label)
    ax.fill_between(
        x[keep], (mean - se)[keep], (mean + se)[keep], color=line.get_color(), alpha=0.2
    )


def plot_replay(traces: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Mean regret ± standard error against queries (left) and simulated time (right).

    The time axis starts when every seed's first evaluation has finished; the regret axis
    is linear below 1e-3 and logarithmic above, so that a regret of 0 shows.

    Args:
        traces: :attr:`ReplayResult.traces`.
        path: ``.png`` or ``.svg`` file to write.
        title: Put above the plots.
    """
    from bonas.plots import new_figure, save_figure

    plt = new_figure()
    fig, (by_query, by_time) = plt.subplots(1, 2, figsize=(11, 4))
    complete = traces[traces["regret"].notna()]
    times = complete["sim_time"][complete["sim_time"] > 0]
    grid = np.geomspace(times.min(), times.max(), 200) if len(times) else np.array([0.0, 1.0])
    for name, runs in traces.groupby("optimizer", sort=False):
        width = int(runs["query"].max())
        per_query, per_time = [], []
        for _, run in runs.groupby("seed"):
            regret = np.full(width, np.nan)
            regret[run["query"].to_numpy() - 1] = run["regret"].to_numpy(dtype=float)
            per_query.append(regret)
            finished = run["sim_time"].to_numpy(dtype=float)
            index = np.searchsorted(finished, grid, side="right") - 1
            per_time.append(
                np.where(index >= 0, run["regret"].to_numpy(dtype=float)[index], np.nan)
            )
        _band(by_query, np.arange(1, width + 1), np.array(per_query), str(name))
        _band(by_time, grid, np.array(per_time), str(name))
    by_query.set_xlabel("queries")
    by_time.set_xlabel("simulated training time (s)")
    if len(times):
        by_time.set_xscale("log")
    else:
        by_time.text(
            0.5, 0.5, "the table records no training time", ha="center", transform=by_time.transAxes
        )
    for ax in (by_query, by_time):
        ax.set_ylabel("regret (distance from the table optimum)")
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.set_ylim(bottom=0.0)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return save_figure(plt, fig, by_query, by_time, path=path)

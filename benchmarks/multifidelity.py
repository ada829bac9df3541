"""Multi-fidelity experiments on the simulator (:mod:`bonas.benchmarks.simulator`):
budget sweeps, the goal (multi-fidelity against full-fidelity bonas in the same
simulated time) and the screening yardstick.

Call order::

    frame = sweep("nb101@...", schedulers=["hyperband"], searchers=["rs"],
                  etas=[2, 3], min_budgets=[4, 12], max_budgets=[108], seeds=5,
                  max_time=1e5, out="sweep-nb101")      # table + regret-vs-budget plot

:func:`sweep_training` runs the same grids with real training (a
:class:`~bonas.evaluation.TrainingObjective`) instead of a table; there is no known
optimum, so it reports the final validation error of the best top-budget result against
the epochs of training spent. ``bonas sweep`` is the command line of both (``--train``).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bonas.benchmarks._parallel import run_calls, seed_list
from bonas.benchmarks.mf_peers import MF_PEERS
from bonas.benchmarks.replay import resolve_table
from bonas.benchmarks.simulator import run_multifidelity
from bonas.benchmarks.tables import Table
from bonas.exceptions import BonasError

__all__ = [
    "plot_sweep",
    "screening_regrets",
    "screening_yardstick",
    "sweep",
    "sweep_training",
]


def _final(records: list[dict[str, Any]]) -> dict[str, Any]:
    last = records[-1] if records else {}
    return {
        "regret": last.get("regret"),
        "incumbent_test": last.get("incumbent_test"),
        "total_budget": float(sum(r["cost"] for r in records)),
        "sim_time": last.get("sim_time", 0.0),
        "jobs": len(records),
        "architectures": len({r["architecture"] for r in records}),
        "overhead_s": float(sum(r["overhead_s"] for r in records)),
    }


def sweep(
    benchmark: str | Table,
    *,
    schedulers: Sequence[str] = ("hyperband",),
    searchers: Sequence[str] = ("rs",),
    etas: Sequence[float] = (3.0,),
    min_budgets: Sequence[float | None] = (None,),
    max_budgets: Sequence[float | None] = (None,),
    seeds: int | Sequence[int] = 5,
    max_time: float | None = None,
    max_jobs: int | None = None,
    workers: int = 1,
    jobs: int = 1,
    path: str | None = None,
    out: str | Path | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Hyperband budget sweeps: every combination of the grids, with several seeds.

    Args:
        benchmark: A table with fidelities, or its spec (``nb101@FILE``, ``nb301@DIR``,
            ``nb201:cifar10@CSV`` for 12/200 epochs, a :class:`UserTable`...).
        schedulers, searchers: Names for :func:`run_multifidelity`; a multi-fidelity
            peer (``smac-hb``, ``optuna-hb``, ``syne-asha``, ``syne-bohb``) runs once
            per grid point, as its own searcher (``own``).
        etas, min_budgets, max_budgets: The grids (``None``: the table's lowest or
            highest fidelity).
        seeds: How many seeds (``0 .. seeds-1``), or the seeds themselves.
        max_time, max_jobs: Each run's stop (simulated seconds, or jobs started).
        workers: Simulated workers per run.
        jobs: Runs in parallel processes.
        path: The table's file, where the spec needs one.
        out: Folder for ``sweep.csv``, ``sweep.md``, ``regret_vs_budget.png`` and
            ``records.csv`` (every job of every run).
        progress: Show a progress bar.

    Returns:
        One row per run: the grid point, the seed, the final regret and incumbent test
        value, the total training time spent, jobs and architectures evaluated.
    """
    from tqdm.auto import tqdm

    table = resolve_table(benchmark, path)
    seeds_run = seed_list(seeds)
    grid = [
        (scheduler, searcher, *rest)
        for scheduler in schedulers
        # a multi-fidelity peer is its own searcher: one run per grid point, not per searcher
        for searcher in (["own"] if scheduler in MF_PEERS else searchers)
        for rest in itertools.product(etas, min_budgets, max_budgets, seeds_run)
    ]
    if not grid:
        raise BonasError("a sweep needs at least one value in every grid and one seed")
    common = {"path": path, "workers": workers, "max_time": max_time, "max_jobs": max_jobs}
    bar = tqdm(total=len(grid), desc=f"sweep {table.name}", unit="run", disable=not progress)

    def arguments(point: tuple) -> tuple[tuple, dict[str, Any]]:
        scheduler, searcher, eta, low, high, seed = point
        return (benchmark, scheduler, searcher, seed), {
            "eta": eta,
            "min_budget": low,
            "max_budget": high,
            **common,
        }

    done = run_calls(
        run_multifidelity,
        [arguments(point) for point in grid],
        jobs,
        describe=lambda i: f"sweep run {grid[i]}",
        on_done=bar.update,
    )
    runs = dict(enumerate(done))
    bar.close()
    rows = []
    for index, point in enumerate(grid):
        scheduler, searcher, eta, _, _, seed = point
        records = runs[index]
        budgets = (records[0]["min_budget"], records[0]["max_budget"]) if records else (None,) * 2
        rows.append(
            {
                "scheduler": scheduler,
                "searcher": searcher,
                "eta": eta,
                "min_budget": budgets[0],
                "max_budget": budgets[1],
                "seed": seed,
                **_final(records),
            }
        )
    frame = pd.DataFrame(rows)
    if out is not None:
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        frame.to_csv(folder / "sweep.csv", index=False)
        every = [{"run": i, **r} for i in sorted(runs) for r in runs[i]]
        pd.DataFrame(every).to_csv(folder / "records.csv", index=False)
        (folder / "sweep.md").write_text(sweep_markdown(frame, title=table.name))
        plot_sweep(frame, folder / "regret_vs_budget.png", title=table.name)
    return frame


def _standard_error(values: pd.Series) -> float:
    count = values.count()
    return float(values.std(ddof=1) / math.sqrt(count)) if count > 1 else 0.0


def _grouped(frame: pd.DataFrame) -> pd.DataFrame:
    keys = ["scheduler", "searcher", "eta", "min_budget", "max_budget"]
    metric = "regret" if "regret" in frame.columns else "error"
    stats = frame.groupby(keys, sort=False, dropna=False).agg(
        regret_mean=(metric, "mean"),
        regret_se=(metric, _standard_error),
        total_budget_mean=("total_budget", "mean"),
        jobs_mean=("jobs", "mean"),
        seeds=("seed", "nunique"),
    )
    return stats.reset_index()


def _labels(frame: pd.DataFrame) -> tuple[str, str]:
    """The metric and the spending of a table sweep (regret, simulated seconds) or of a
    training sweep (validation error, epochs)."""
    if "regret" in frame.columns:
        return "final regret", "training time spent (s)"
    return "final validation error", "training epochs spent"


def sweep_markdown(frame: pd.DataFrame, title: str = "") -> str:
    """A markdown table of the sweep: mean ± SE of final regret (or, for a training
    sweep, validation error) per grid point."""
    stats = _grouped(frame)
    metric, spent = _labels(frame)
    lines = [
        f"# Hyperband sweep {title}".rstrip(),
        "",
        f"| scheduler | searcher | eta | budgets | seeds | {metric} | {spent} | jobs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for _, row in stats.iterrows():
        lines.append(
            f"| {row['scheduler']} | {row['searcher']} | {row['eta']:g} | "
            f"{row['min_budget']:g}–{row['max_budget']:g} | {row['seeds']} | "
            f"{row['regret_mean']:.4g} ± {row['regret_se']:.2g} | "
            f"{row['total_budget_mean']:.4g} | {row['jobs_mean']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def plot_sweep(frame: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Final regret (mean ± SE over seeds) against total training time spent, one point
    per grid point, coloured by scheduler and searcher."""
    from bonas.plots import new_figure, save_figure

    plt = new_figure()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    stats = _grouped(frame)
    for (scheduler, searcher), rows in stats.groupby(["scheduler", "searcher"], sort=False):
        ax.errorbar(
            rows["total_budget_mean"],
            rows["regret_mean"],
            yerr=rows["regret_se"],
            fmt="o",
            capsize=3,
            label=f"{scheduler} + {searcher}",
        )
        for _, row in rows.iterrows():
            ax.annotate(
                f"η={row['eta']:g}, {row['min_budget']:g}–{row['max_budget']:g}",
                (row["total_budget_mean"], row["regret_mean"]),
                fontsize=7,
                xytext=(4, 4),
                textcoords="offset points",
            )
    metric, spent = _labels(frame)
    if metric == "final regret":
        ax.set_xlabel("total simulated training time spent (s)")
        ax.set_ylabel("final regret (distance from the table optimum)")
    else:
        ax.set_xlabel(f"total {spent}")
        ax.set_ylabel("final validation error of the best top-budget result")
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_ylim(bottom=0.0)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    return save_figure(plt, fig, ax, path=path)


def sweep_training(
    objective: Any,
    space: Any,
    *,
    schedulers: Sequence[str] = ("hyperband",),
    searchers: Sequence[str] = ("rs",),
    etas: Sequence[float] = (3.0,),
    min_budgets: Sequence[float | None] = (None,),
    max_budgets: Sequence[float | None] = (None,),
    seeds: int | Sequence[int] = 2,
    max_time: float | None = None,
    max_jobs: int | None = None,
    executor: Any = None,
    out: str | Path | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Hyperband budget sweeps with real training: every grid point and seed is a
    :func:`bonas.search_multifidelity` run of ``objective``.

    Args:
        objective: A :class:`~bonas.evaluation.TrainingObjective`; each run gets its own
            checkpoint folder, its seed, and ``max_epochs`` = its top budget.
        space: The search space.
        schedulers, searchers, etas: The grids.
        min_budgets, max_budgets: Budgets in epochs (``None``: 1 and 9).
        seeds: How many seeds (``0 .. seeds-1``), or the seeds themselves.
        max_time, max_jobs: Each run's stop: wall-clock seconds, or jobs.
        executor: Where the jobs run; one worker process by default, so that a run's
            job still running at ``max_time`` is stopped.
        out: Folder for ``sweep.csv``, ``sweep.md``, ``records.csv`` (every job) and
            ``regret_vs_budget.png``; the runs' checkpoints go to ``out/checkpoints``.
        progress: Show a progress bar over the runs.

    Returns:
        One row per run: the grid point, the seed, ``error`` (1 − the best validation
        accuracy at the highest budget reached), ``best_budget``, ``total_budget`` (epochs
        trained, a promotion counting only the epochs it adds), ``train_s`` (the jobs'
        wall-clock), ``jobs`` and ``architectures``.
    """
    import dataclasses
    import tempfile

    from tqdm.auto import tqdm

    from bonas._mfsearch import search_multifidelity

    if max_time is None and max_jobs is None:
        raise BonasError("give each training run a stop: max_time (seconds) or max_jobs")
    seeds_run = seed_list(seeds)
    grid = list(itertools.product(schedulers, searchers, etas, min_budgets, max_budgets, seeds_run))
    if not grid:
        raise BonasError("a sweep needs at least one value in every grid and one seed")
    scratch = None if out is not None else tempfile.TemporaryDirectory(prefix="bonas-sweep-")
    folder = Path(out) if out is not None else Path(scratch.name)  # type: ignore[union-attr]
    rows, every = [], []
    bar = tqdm(total=len(grid), desc="training sweep", unit="run", disable=not progress)
    own_executor = executor is None
    if own_executor:
        from bonas.executors import ProcessExecutor

        executor = ProcessExecutor(1)  # one that can stop a run's last job at max_time
    try:
        for index, (scheduler, searcher, eta, low, high, seed) in enumerate(grid):
            low, high = low or 1.0, high or 9.0
            run_objective = dataclasses.replace(
                objective,
                checkpoint_dir=str(folder / "checkpoints" / f"run-{index}"),
                trainer={**objective.trainer, "max_epochs": round(high)},
                seed=seed,
            )
            result = search_multifidelity(
                run_objective, space, scheduler=scheduler, searcher=searcher,
                min_budget=low, max_budget=high, eta=eta, seed=seed, max_jobs=max_jobs,
                time_budget=max_time, executor=executor, progress=False,
            )  # fmt: skip
            jobs = result.jobs
            done = jobs[jobs["state"] == "complete"] if len(jobs) else jobs
            added = done["budget"] - done["resume_from"].fillna(0.0) if len(done) else []
            rows.append({
                "scheduler": scheduler, "searcher": searcher, "eta": eta,
                "min_budget": low, "max_budget": high, "seed": seed,
                "error": None if result.best_value is None else 1.0 - result.best_value,
                "best_budget": result.best_budget,
                "total_budget": float(np.sum(added)),
                "train_s": float(done["wall_s"].sum()) if len(done) else 0.0,
                "jobs": len(jobs), "architectures": int(jobs["architecture"].nunique()),
            })  # fmt: skip
            every += [{"run": index, **row} for row in jobs.to_dict("records")]
            bar.update()
    finally:
        bar.close()
        if own_executor:
            executor.close()
        if scratch is not None:
            scratch.cleanup()
    frame = pd.DataFrame(rows)
    if out is not None:
        frame.to_csv(folder / "sweep.csv", index=False)
        pd.DataFrame(every).to_csv(folder / "records.csv", index=False)
        title = f"training {space.name} on {objective.dataset}"
        (folder / "sweep.md").write_text(sweep_markdown(frame, title=title))
        plot_sweep(frame, folder / "regret_vs_budget.png", title=title)
    return frame


#: The runs of :func:`goal`: name -> (scheduler, searcher, searcher options).
#: ``bonas-full`` is full-fidelity bonas in the same simulated time: Hyperband with the
#: top budget as its only rung starts one architecture at a time.
#: ``bohb+bonas-trusted-only`` conditions its GP only on the results at the budgets in
#: use and ``bohb+bonas-choose`` chooses between that and every result at each fit
#: (``GPSearcher``'s ``dropped_budgets``; the default conditions on every result).
GOAL_RUNS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "bohb+bonas": ("bohb", "bonas", {}),
    "bohb+bonas-fixed": ("bohb", "bonas", {}),
    "bohb+bonas-by-model": ("bohb", "bonas", {}),
    "bohb+bonas-no-continue": ("bohb", "bonas", {}),
    "bohb+bonas-no-curves": ("bohb", "bonas", {}),
    "bohb+bonas-model-curves": ("bohb", "bonas", {}),
    "bohb+bonas-trusted-only": ("bohb", "bonas", {"dropped_budgets": "drop"}),
    "bohb+bonas-choose": ("bohb", "bonas", {"dropped_budgets": "choose"}),
    "bohb+bonas-one-budget": ("bohb", "bonas", {"multi_fidelity": False}),
    "hyperband+rs": ("hyperband", "rs", {}),
    "bonas-full": ("hyperband", "bonas", {}),
    "dehb": ("dehb", "own", {}),
    "smac-hb": ("smac-hb", "own", {}),
    "optuna-hb": ("optuna-hb", "own", {}),
    "syne-asha": ("syne-asha", "own", {}),
    "syne-bohb": ("syne-bohb", "own", {}),
}
#: Scheduler options of the goal runs that differ from the defaults: ``bohb+bonas-fixed``
#: is BOHB that does not adapt its lowest budget; ``bohb+bonas-by-model`` promotes by the
#: GP's prediction at the top budget; ``bohb+bonas-no-continue`` never starts an
#: architecture that stopped at a lower budget;
#: ``bohb+bonas-one-budget`` is BOHB as it was before its GP modelled every budget: one
#: budget's results, and BOHB's ``rho = 1/3`` of new architectures at random.
#: ``bohb+bonas-no-curves`` (a simulator option, :data:`GOAL_SIMULATOR_OPTIONS`) reports
#: no values passed on the way, so the scheduler measures its budgets by promotions only;
#: ``bohb+bonas-model-curves`` also hands those values to the GP as results at their
#: budgets (the scheduler's ``model_curves``).
GOAL_SCHEDULER_OPTIONS: dict[str, dict[str, Any]] = {
    "bohb+bonas-fixed": {"adapt": False},
    "bohb+bonas-by-model": {"promote_by_model": True},
    "bohb+bonas-no-continue": {"continue_stopped": False},
    "bohb+bonas-one-budget": {"random_fraction": 1 / 3},
    "bohb+bonas-model-curves": {"model_curves": True},
}
GOAL_SIMULATOR_OPTIONS: dict[str, dict[str, Any]] = {"bohb+bonas-no-curves": {"curves": False}}
#: The goal's checkpoints, as fractions of ``T``, and their labels in the report.
CHECKPOINTS = ((1 / 9, "t_9"), (1 / 3, "t_3"), (1.0, "t"))


def _goal_run(
    benchmark: str | Table, name: str, seed: int, max_time: float, eta: float,
    min_budget: float | None = None, bohb_options: Mapping[str, Any] | None = None,
) -> tuple[str, int, list[dict[str, Any]]]:  # fmt: skip
    scheduler, searcher, options = GOAL_RUNS[name]
    table = resolve_table(benchmark, None)
    if name == "bonas-full":
        min_budget = table.fidelities[-1]
    scheduler_options = {
        **(dict(bohb_options or {}) if scheduler == "bohb" else {}),
        **GOAL_SCHEDULER_OPTIONS.get(name, {}),
    }
    records = run_multifidelity(
        table, scheduler, searcher, seed, eta=eta, max_time=max_time,
        min_budget=min_budget, searcher_options=options,
        scheduler_options=scheduler_options or None, **GOAL_SIMULATOR_OPTIONS.get(name, {}),
    )  # fmt: skip
    return name, seed, records


def _reference_at_100(reference: str | Path) -> tuple[float, float]:
    """Full-fidelity bonas's mean regret and simulated time at 100 queries, from a
    replay's ``summary.csv``."""
    summary = pd.read_csv(reference)
    row = summary[(summary["optimizer"] == "bonas") & (summary["queries"] == 100)]
    if row.empty:
        raise BonasError(f"{reference} has no bonas row at 100 queries")
    return float(row["regret_mean"].iloc[0]), float(row["sim_time_mean"].iloc[0])


def _write_report(report: Mapping[str, Any], out: str | Path) -> None:
    import json

    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1))


def _regret_at(records: list[dict[str, Any]], when: float) -> float:
    regret = math.nan
    for record in records:
        if record["sim_time"] > when:
            break
        if record["regret"] is not None:
            regret = record["regret"]
    return regret


def goal(
    benchmark: str | Table,
    reference: str | Path,
    *,
    seeds: int | Sequence[int] = 10,
    jobs: int = 1,
    eta: float = 3.0,
    min_budget: float | None = None,
    runs: Sequence[str] = tuple(GOAL_RUNS),
    bohb_options: Mapping[str, Any] | None = None,
    horizon: float = 1.0,
    out: str | Path | None = None,
) -> dict[str, Any]:
    """The multi-fidelity goal: BOHB with the bonas GP against full-fidelity bonas.

    ``T`` is the mean simulated training time full-fidelity bonas spends on 100 queries
    in ``reference`` (a replay's ``summary.csv``), whose regret there is the target.
    Each of ``runs`` gets ``horizon * T`` of simulated time per seed; the JSON gives
    their mean ± SE regret at the checkpoints ``T/9``, ``T/3`` and ``T`` within it, and
    at each whether BOHB with the bonas GP (``bohb+bonas``, the default multi-fidelity
    search) is no worse than full-fidelity bonas (``bonas-full``, the reference's
    searcher with the same time) by more than the standard error of their difference;
    at the last, whether it meets the target and beats Hyperband with random search
    and full-fidelity bonas. ``bohb+bonas-fixed`` is BOHB without adapting its lowest
    budget. ``min_budget`` is the lowest rung (the table's lowest fidelity by default);
    ``bohb_options`` go to the BOHB runs' scheduler (``random_fraction``, ``brackets``),
    while Hyperband with random search stays the standard one. ``seeds`` is a count
    (``0 .. seeds-1``) or the seeds themselves; each checkpoint's regrets are also given
    per seed (``regret_at_<label>_by_seed``), so that runs over other seeds can be pooled.
    """
    unknown = [name for name in runs if name not in GOAL_RUNS]
    if unknown:
        raise BonasError(f"unknown goal runs {unknown}; known: {list(GOAL_RUNS)}")
    if not 0 < horizon <= 1:
        raise BonasError(f"horizon is a fraction of T in (0, 1], got {horizon}")
    seeds_run = seed_list(seeds)
    if not seeds_run or len(set(seeds_run)) != len(seeds_run) or min(seeds_run) < 0:
        raise BonasError(f"seeds must be distinct and non-negative, at least one; got {seeds}")
    target, full_time = _reference_at_100(reference)
    budget = full_time * horizon
    checkpoints = [(f, label) for f, label in CHECKPOINTS if f <= horizon + 1e-9]
    # worker processes load the table from its spec; in this process, once for every run
    source = resolve_table(benchmark, None) if jobs == 1 else benchmark
    tasks = [
        (source, name, seed, budget, eta, min_budget, bohb_options)
        for name in runs
        for seed in seeds_run
    ]
    results: dict[str, dict[int, list[dict[str, Any]]]] = {name: {} for name in runs}
    started = time.perf_counter()
    done = run_calls(
        _goal_run,
        [(task, {}) for task in tasks],
        jobs,
        describe=lambda i: f"goal run {tasks[i][1]}, seed {tasks[i][2]}",
    )
    for name, seed, records in done:
        results[name][seed] = records
    report: dict[str, Any] = {
        "benchmark": benchmark if isinstance(benchmark, str) else benchmark.name,
        "reference": str(reference),
        "target_regret": target,
        "full_fidelity_time_at_100": full_time,
        "time_budget": budget,
        "checkpoints": {label: f * full_time for f, label in checkpoints},
        "eta": eta,
        "min_budget": min_budget,
        "bohb_options": dict(bohb_options or {}),
        "seeds": seeds_run,
        "wall_s": time.perf_counter() - started,
        "runs": {},
    }
    for name in runs:
        by_seed = [results[name][s] for s in seeds_run]
        entry: dict[str, Any] = {}
        for fraction, label in checkpoints:
            values = pd.Series([_regret_at(r, fraction * full_time) for r in by_seed])
            entry[f"regret_at_{label}_mean"] = float(values.mean())
            entry[f"regret_at_{label}_se"] = _standard_error(values)
            entry[f"regret_at_{label}_missing"] = int(values.isna().sum())
            entry[f"regret_at_{label}_by_seed"] = [
                None if math.isnan(v) else float(v) for v in values
            ]
        entry["jobs_mean"] = float(np.mean([len(r) for r in by_seed]))
        entry["overhead_s_mean"] = float(
            np.mean([sum(x["overhead_s"] for x in r) for r in by_seed])
        )
        report["runs"][name] = entry
    last = checkpoints[-1][1]
    final = {name: report["runs"][name][f"regret_at_{last}_mean"] for name in runs}
    if "bohb+bonas" in final and "bonas-full" in final:
        mf, full = report["runs"]["bohb+bonas"], report["runs"]["bonas-full"]
        report["no_worse_than_full_fidelity"] = {
            label: bool(
                mf[f"regret_at_{label}_mean"] - full[f"regret_at_{label}_mean"]
                <= math.hypot(mf[f"regret_at_{label}_se"], full[f"regret_at_{label}_se"])
            )
            for _, label in checkpoints
        }
    if "bohb+bonas" in final:
        report["bohb_meets_target"] = bool(final["bohb+bonas"] <= target)
        if "hyperband+rs" in final:
            report["bohb_beats_hyperband_rs"] = bool(final["bohb+bonas"] < final["hyperband+rs"])
        if "bohb+bonas-one-budget" in final:
            report["multi_fidelity_gain"] = final["bohb+bonas-one-budget"] - final["bohb+bonas"]
        if "bonas-full" in final:
            report["bohb_beats_full_fidelity_at_equal_time"] = bool(
                final["bohb+bonas"] < final["bonas-full"]
            )
    if out is not None:
        _write_report(report, out)
    return report


def _screened_run(
    benchmark: str | Table, searcher: str, seed: int, queries: int, low_budget: float
) -> list[tuple[float, float, float, float]]:
    """One full-fidelity replay at ``low_budget``: per query, the low-budget value and
    training time, and the same architecture's top-budget value and training time, each
    value signed so that larger is better."""
    from bonas.architecture import Architecture
    from bonas.benchmarks.replay import run_replay

    table = resolve_table(benchmark, None)
    sign = 1.0 if getattr(table, "direction", "maximize") == "maximize" else -1.0
    rows = []
    for record in run_replay(table, searcher, seed, queries, budget=low_budget):
        if record["state"] != "complete":
            continue
        top = table.query(Architecture.from_json(record["architecture"]), None)
        rows.append(
            (sign * record["value"], record["train_time"], sign * top.value, top.train_time)
        )
    return rows


def screening_regrets(
    rows: Sequence[tuple[float, float, float, float]],
    time_budget: float,
    optimum: float,
    step: int = 5,
) -> dict[int, float]:
    """The two-stage search's regret after each ``step`` low-budget queries.

    After the first ``n`` of ``rows`` (low value, low time, top value, top time; values
    larger-is-better, ``optimum`` on the same scale), the rest of ``time_budget`` goes to
    promotions: the architectures in order of their low-budget value, each continuing
    from its checkpoint (charged top time less low time), skipping any that no longer
    fits. The regret is ``optimum`` less the best promoted top-budget value; ``n`` whose
    queries alone overrun ``time_budget`` are left out.

    Example:
        >>> rows = [(0.5, 10, 0.7, 30), (0.6, 10, 0.8, 30), (0.4, 10, 0.9, 20)]
        >>> regrets = screening_regrets(rows, 50, 1.0, step=1)
        >>> {n: round(regret, 2) for n, regret in regrets.items()}  # 0.9 is never promoted
        {1: 0.3, 2: 0.2, 3: 0.2}
    """
    regrets: dict[int, float] = {}
    for n in range(step, len(rows) + 1, step):
        left = time_budget - sum(row[1] for row in rows[:n])
        if left < 0:
            break
        best = -math.inf
        for _, low_time, top_value, top_time in sorted(rows[:n], key=lambda row: -row[0]):
            cost = max(0.0, top_time - low_time)
            if cost <= left:
                left -= cost
                best = max(best, top_value)
        if best > -math.inf:
            regrets[n] = optimum - best
    return regrets


def screening_yardstick(
    benchmark: str | Table,
    reference: str | Path,
    low_budget: float,
    *,
    searcher: str = "bonas",
    seeds: int = 10,
    queries: int = 100,
    step: int = 5,
    jobs: int = 1,
    out: str | Path | None = None,
) -> dict[str, Any]:
    """How far screening on one low fidelity can get in the goal's time: a yardstick.

    An idealised two-stage search: ``searcher`` runs a full-fidelity replay on the
    ``low_budget`` values for ``n`` queries, then the best of them by that value go on
    to the top budget, continuing from their checkpoints, until the goal's time budget
    (a third of full-fidelity bonas's time at 100 queries in ``reference``) is spent
    (:func:`screening_regrets`). A multi-fidelity scheduler whose lowest rung is
    ``low_budget`` screens on the same values with less search among them (though it also
    learns from its top-budget results, which this does not). The JSON gives the mean ±
    SE regret for each ``n`` and, taking each seed's best ``n`` in hindsight, an
    optimistic figure that the goal's target can be set against.
    """
    target, full_time = _reference_at_100(reference)
    time_budget = full_time / 3
    table = resolve_table(benchmark, None)
    if float(low_budget) not in table.fidelities[:-1]:
        raise BonasError(
            f"low_budget must be one of {table.name}'s fidelities below the top, "
            f"{list(table.fidelities[:-1])}; got {low_budget!r}"
        )
    sign = 1.0 if getattr(table, "direction", "maximize") == "maximize" else -1.0
    started = time.perf_counter()
    # worker processes load the table from its spec; in this process, the one loaded here
    source = table if jobs == 1 else benchmark
    calls = [((source, searcher, seed, queries, float(low_budget)), {}) for seed in range(seeds)]
    runs = run_calls(_screened_run, calls, jobs, describe=lambda i: f"screened run, seed {i}")
    by_seed = [screening_regrets(rows, time_budget, sign * table.optimum, step) for rows in runs]
    per_n = []
    for n in sorted(set().union(*by_seed)):
        values = pd.Series([regrets[n] for regrets in by_seed if n in regrets], dtype=float)
        per_n.append(
            {
                "n": n,
                "regret_mean": float(values.mean()),
                "regret_se": _standard_error(values),
                "seeds": int(values.count()),
            }
        )
    complete = [entry for entry in per_n if entry["seeds"] == seeds]
    hindsight = pd.Series([min(r.values()) for r in by_seed if r], dtype=float)
    report: dict[str, Any] = {
        "benchmark": benchmark if isinstance(benchmark, str) else benchmark.name,
        "reference": str(reference),
        "searcher": searcher,
        "low_budget": float(low_budget),
        "top_budget": table.fidelities[-1],
        "target_regret": target,
        "time_budget": time_budget,
        "seeds": seeds,
        "queries": queries,
        "wall_s": time.perf_counter() - started,
        "per_n": per_n,
        "best_fixed_n": min(complete, key=lambda e: e["regret_mean"]) if complete else None,
        "hindsight_regret_mean": float(hindsight.mean()),
        "hindsight_regret_se": _standard_error(hindsight),
        "hindsight_meets_target": bool(hindsight.mean() <= target),
    }
    if out is not None:
        _write_report(report, out)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bonas.benchmarks.multifidelity goal|screen --benchmark ... --reference ...``;
    a bonas error is one line on stderr and exit status 2, not a traceback."""
    import sys

    try:
        return _main(argv)
    except BonasError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _main(argv: Sequence[str] | None) -> int:
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m bonas.benchmarks.multifidelity")
    commands = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--benchmark", required=True, help="e.g. nb101@FILE or nb301@DIR")
    common.add_argument("--reference", required=True, help="a full-fidelity replay summary.csv")
    common.add_argument("--seeds", type=int, default=10)
    common.add_argument("--jobs", type=int, default=1)
    common.add_argument("--out", required=True, help="the JSON file to write")
    run = commands.add_parser(
        "goal", parents=[common], help="BOHB+bonas vs full-fidelity bonas and HB+RS"
    )
    run.add_argument(
        "--first-seed", type=int, default=0, help="runs seeds first..first+seeds-1 (default 0)"
    )
    run.add_argument("--eta", type=float, default=3.0)
    run.add_argument("--min-budget", type=float, default=None, help="lowest rung")
    run.add_argument("--runs", default=",".join(GOAL_RUNS))
    run.add_argument(
        "--horizon", type=float, default=1.0, help="run for this fraction of T (default 1)"
    )
    run.add_argument(
        "--random-fraction", type=float, default=None, help="BOHB's rho (0 by default)"
    )
    run.add_argument(
        "--brackets", default=None, help="the Hyperband brackets s BOHB cycles, e.g. 1 or 2,1,0"
    )
    screen = commands.add_parser(
        "screen",
        parents=[common],
        help="a yardstick: an idealised two-stage search screening on one fidelity",
    )
    screen.add_argument("--low-budget", type=float, required=True, help="the screening fidelity")
    screen.add_argument("--searcher", default="bonas", choices=("bonas", "re", "rs"))
    screen.add_argument("--queries", type=int, default=100, help="low-budget queries per seed")
    screen.add_argument("--step", type=int, default=5)
    args = parser.parse_args(argv)
    if args.command == "screen":
        report = screening_yardstick(
            args.benchmark,
            args.reference,
            args.low_budget,
            searcher=args.searcher,
            seeds=args.seeds,
            queries=args.queries,
            step=args.step,
            jobs=args.jobs,
            out=args.out,
        )
        print(json.dumps({k: v for k, v in report.items() if k != "per_n"}, indent=1))
        return 0
    bohb_options: dict[str, Any] = {}
    if args.random_fraction is not None:
        bohb_options["random_fraction"] = args.random_fraction
    if args.brackets:
        bohb_options["brackets"] = [int(s) for s in args.brackets.split(",") if s]
    report = goal(
        args.benchmark,
        args.reference,
        seeds=range(args.first_seed, args.first_seed + args.seeds),
        jobs=args.jobs,
        eta=args.eta,
        min_budget=args.min_budget,
        runs=[r for r in args.runs.split(",") if r],
        bohb_options=bohb_options,
        horizon=args.horizon,
        out=args.out,
    )
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The multi-fidelity simulator: a scheduler against a table with fidelities, in
simulated time, with simulated workers.

:func:`simulate` drives a :class:`~bonas.schedulers.Scheduler` with ``workers`` simulated
workers against a :class:`~bonas.benchmarks.tables.Table`: each job takes the table's
training time for its budget, less the time of the budget it resumes from (a promoted
architecture continues from its checkpoint), and the clock is the time at which each
job finishes. The incumbent is the best value at the top budget, and its regret is
measured against the table's optimum, as in :mod:`bonas.benchmarks.replay`.

Call order::

    records = run_multifidelity("nb101@nb101.csv.gz", "bohb", "bonas", seed=0,
                                max_time=1e5, eta=3)

The experiments built on it (sweeps, the goal and the screening yardstick) are in
:mod:`bonas.benchmarks.multifidelity`.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bonas.benchmarks.mf_peers import MF_PEERS, make_mf_peer
from bonas.benchmarks.replay import lookup_options, resolve_table
from bonas.benchmarks.tables import Table, TableError
from bonas.exceptions import BonasError
from bonas.schedulers import (
    SCHEDULERS,
    Job,
    Scheduler,
    SchedulerExhausted,
    hyperband_budgets,
    make_scheduler,
    searcher_options_for,
)

__all__ = ["MF_COLUMNS", "run_multifidelity", "simulate", "snap_budgets"]

MF_COLUMNS = (
    "job",
    "architecture",
    "budget",
    "resume_from",
    "bracket",
    "rung",
    "state",
    "value",
    "test_value",
    "cost",
    "sim_time",
    "incumbent",
    "incumbent_test",
    "regret",
    "overhead_s",
    "worker",
    "failure",
)


def simulate(
    table: Table,
    scheduler: Scheduler,
    *,
    workers: int = 1,
    max_time: float | None = None,
    max_jobs: int | None = None,
    continuation: bool = True,
    curves: bool = True,
) -> list[dict[str, Any]]:
    """Run ``scheduler`` against ``table`` until the simulated clock or job count is spent.

    Args:
        table: Answers each job (``table.query(arch, budget)``).
        scheduler: Decides the jobs; its rung budgets must be fidelities of the table.
        workers: Simulated workers running jobs side by side.
        max_time: Stop starting jobs at this simulated time; jobs that would finish
            later are not counted.
        max_jobs: Start at most this many jobs.
        continuation: Charge a promoted job only the time from its checkpoint's budget
            (``False``: the full training time, as if retrained from scratch).
        curves: Report with each result the table's values at the rung budgets the job
            passed on its way (``Scheduler.report``'s ``curve``), as a trainer's
            epoch-by-epoch validation curve gives them.

    Returns:
        One dict per finished job, in the order they finish, keys :data:`MF_COLUMNS`.

    Raises:
        BonasError: If neither stop is given, a rung budget is not a table fidelity, or
            the scheduler waits with no job running.
    """
    if max_time is None and max_jobs is None:
        raise BonasError("simulate needs max_time or max_jobs, or it would never stop")
    if workers < 1:
        raise BonasError(f"workers must be at least 1, got {workers}")
    missing = [b for b in scheduler.budgets if b not in table.fidelities]
    if missing:
        raise BonasError(
            f"rung budgets {missing} are not fidelities of {table.name} "
            f"{list(table.fidelities)}; see snap_budgets"
        )
    sign = 1.0 if getattr(table, "direction", "maximize") == "maximize" else -1.0
    top = scheduler.budgets[-1]
    now, started, sequence = 0.0, 0, itertools.count()
    running: list[tuple[float, int, Any, dict[str, Any]]] = []
    free = list(range(workers))
    records: list[dict[str, Any]] = []
    incumbent, incumbent_test = -math.inf, None
    exhausted = False
    while True:
        while free and not exhausted:
            if max_jobs is not None and started >= max_jobs:
                break
            if max_time is not None and now >= max_time:
                break
            clock = time.perf_counter()
            try:
                job = scheduler.next_job()
            except SchedulerExhausted:
                exhausted = True
                break
            overhead = time.perf_counter() - clock
            if job is None:
                break
            started += 1
            record: dict[str, Any] = {
                "job": job.id,
                "architecture": job.architecture.to_json(),
                "budget": job.budget,
                "resume_from": job.resume_from,
                "bracket": job.bracket,
                "rung": job.rung,
                "overhead_s": overhead,
                "worker": free[0],
            }
            try:
                result = table.query(job.architecture, job.budget)
                cost = result.train_time
                if continuation and job.resume_from is not None:
                    cost -= table.query(job.architecture, job.resume_from).train_time
            except TableError as err:
                record.update(state="failed", value=None, test_value=None, cost=0.0)
                record["failure"] = str(err)
            else:
                record.update(
                    state="complete",
                    value=result.value,
                    test_value=result.test_value,
                    cost=max(0.0, cost),
                    failure=None,
                )
            heapq.heappush(running, (now + record["cost"], next(sequence), job, record))
            free.pop(0)
        if not running:
            if (
                not exhausted
                and (max_jobs is None or started < max_jobs)
                and (max_time is None or now < max_time)
            ):
                raise BonasError(f"{scheduler.name} waits for results with no job running")
            break
        finish, _, job, record = heapq.heappop(running)
        if max_time is not None and finish > max_time:
            break
        now = finish
        free.append(record["worker"])
        free.sort()
        clock = time.perf_counter()
        if record["state"] == "complete":
            passed = _passed(table, job, scheduler.passed_budgets(job)) if curves else None
            scheduler.report(job, record["value"], curve=passed)
            if job.budget == top and sign * record["value"] > incumbent:
                incumbent, incumbent_test = sign * record["value"], record["test_value"]
        else:
            scheduler.report(job, failed=record["failure"])
        record["overhead_s"] += time.perf_counter() - clock
        found = incumbent != -math.inf
        record.update(
            sim_time=now,
            incumbent=sign * incumbent if found else None,
            incumbent_test=incumbent_test,
            regret=sign * table.optimum - incumbent if found else None,
        )
        records.append(record)
    return records


def _passed(table: Table, job: Job, budgets: Sequence[float]) -> dict[float, float]:
    """The table's values at ``budgets``, the rung budgets ``job`` trained through."""
    passed = {}
    for budget in budgets:
        try:
            passed[budget] = table.query(job.architecture, budget).value
        except TableError:
            continue  # the table lacks that fidelity for this architecture
    return passed


def snap_budgets(budgets: Sequence[float], fidelities: Sequence[float]) -> tuple[float, ...]:
    """Each budget moved to the table fidelity nearest on a log scale, duplicates merged.

    Example:
        >>> snap_budgets((1.21, 3.63, 10.9, 32.7, 98.0), range(1, 99))
        (1.0, 4.0, 11.0, 33.0, 98.0)
    """
    levels = np.asarray(sorted(float(f) for f in fidelities))
    snapped = [float(levels[np.argmin(np.abs(np.log(levels) - math.log(b)))]) for b in budgets]
    return tuple(sorted(set(snapped)))


def run_multifidelity(
    benchmark: str | Table,
    scheduler: str,
    searcher: str,
    seed: int,
    *,
    path: str | None = None,
    eta: float = 3.0,
    min_budget: float | None = None,
    max_budget: float | None = None,
    workers: int = 1,
    max_time: float | None = None,
    max_jobs: int | None = None,
    continuation: bool = True,
    curves: bool = True,
    scheduler_options: Mapping[str, Any] | None = None,
    searcher_options: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """One scheduler and searcher, one seed, against a table's fidelities.

    The searcher gets :func:`~bonas.benchmarks.replay.lookup_options` (bonas is told
    that lookups are noise-free) and :func:`~bonas.schedulers.searcher_options_for`
    (the bonas GP models every budget) under ``searcher_options``. A multi-fidelity peer
    (``smac-hb``, ``optuna-hb``: :mod:`bonas.benchmarks.mf_peers`) is its own searcher,
    so ``searcher`` only labels its records.

    The rung budgets are :func:`~bonas.schedulers.hyperband_budgets` of ``min_budget``
    (the table's lowest fidelity by default), ``max_budget`` (its highest) and ``eta``,
    snapped to the table's fidelities by :func:`snap_budgets`. ``continuation`` and
    ``curves`` are :func:`simulate`'s.

    Returns:
        :func:`simulate`'s records, each with ``scheduler``, ``searcher``, ``seed``,
        ``eta``, ``min_budget`` and ``max_budget`` added.
    """
    from bonas.searchers import make_searcher

    table = resolve_table(benchmark, path)
    low = table.fidelities[0] if min_budget is None else float(min_budget)
    high = table.fidelities[-1] if max_budget is None else float(max_budget)
    budgets = snap_budgets(hyperband_budgets(low, high, eta), table.fidelities)
    direction = getattr(table, "direction", "maximize")
    if scheduler not in SCHEDULERS and scheduler not in MF_PEERS:
        raise BonasError(
            f"unknown scheduler {scheduler!r}; known: {sorted(SCHEDULERS)} and the "
            f"multi-fidelity peers {sorted(MF_PEERS)}"
        )
    if searcher == "ls":
        raise BonasError("local search keeps its own walk; schedulers take bonas, re or rs")
    options = {"seed": seed, "eta": eta, **dict(scheduler_options or {})}
    chosen: Scheduler
    if scheduler in MF_PEERS:
        chosen = make_mf_peer(scheduler, table.space, budgets, direction=direction, **options)
    else:
        searcher_kwargs = searcher_options_for(
            searcher, budgets, lookup_options(searcher, searcher_options)
        )
        optimizer = make_searcher(
            searcher, table.space, seed=seed, direction=direction, **searcher_kwargs
        )
        chosen = make_scheduler(scheduler, optimizer, budgets=budgets, **options)
    records = simulate(
        table,
        chosen,
        workers=workers,
        max_time=max_time,
        max_jobs=max_jobs,
        continuation=continuation,
        curves=curves,
    )
    label = {
        "scheduler": scheduler,
        "searcher": searcher,
        "seed": seed,
        "eta": eta,
        "min_budget": budgets[0],
        "max_budget": budgets[-1],
    }
    return [{**label, **record} for record in records]

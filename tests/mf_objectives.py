"""Picklable multi-fidelity objectives for the executor and search tests (no training)."""

from __future__ import annotations

import fcntl
import os
import signal
import sys
import time
import zlib
from pathlib import Path

import bonas
from bonas import Architecture
from bonas.spaces import CellSpace, NB201Space
from tests.objectives import nb201_score

CELLS = CellSpace(("none", "skip", "conv", "pool"), nodes=4)  # 4096 cells
BUDGETS = (1, 3, 9, 27)


def four_fidelity_table(path: Path):
    """A user's table with four fidelities (:data:`BUDGETS`), written to ``path``:
    accuracy rises with the budget, the ranking of architectures changes a little
    between budgets, training time is linear in it."""
    import pandas as pd

    from bonas.benchmarks.tables import UserTable

    rows = []
    for index, arch in enumerate(list(CELLS.enumerate())[::4]):
        ops = CELLS.to_ops(arch)
        quality = ops.count("conv") * 2.0 + ops.count("skip") + 0.001 * index
        row = {"arch": CELLS.to_string(arch), "seconds": 100.0 + 10 * ops.count("conv")}
        for budget in BUDGETS:
            noise = ((index * 7919 + budget * 104729) % 97) / 97 * (3.0 / budget)
            row[f"acc_e{budget}"] = quality * (1 - 1 / (1 + budget)) + noise
        rows.append(row)
    pd.DataFrame(rows).to_csv(path, index=False)
    return UserTable.from_file(
        path, arch_column="arch", objective="acc_e{budget}:max", train_time_column="seconds"
    )


def nb201_at_budget(arch: Architecture, budget: float, resume_from: float | None) -> dict:
    """The NB201 score shrunk at low budgets; the worker's pid is kept."""
    return {
        "value": nb201_score(arch) * budget / (budget + 3),
        "resumed": resume_from,
        "pid": os.getpid(),
    }


def environment(name: str, after: float = 0.0) -> str | None:
    """The worker's environment variable ``name``, after ``after`` seconds (so that
    calls submitted together land on different workers)."""
    time.sleep(after)
    return os.environ.get(name)


def fail(message: str) -> None:
    raise ValueError(message)


def sleep_then(seconds: float, value: float) -> float:
    time.sleep(seconds)
    return value


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class Flaky:
    """Fails in the listed ways on the first calls that reach it (counted in a file of
    ``folder``, so across processes), then answers like :func:`nb201_at_budget`.

    ``faults`` is a sequence of ``die`` (the worker process kills itself), ``oom`` (a
    MemoryError), ``hang`` (sleeps past any timeout), ``error`` (a ValueError) or ``ok``.
    """

    def __init__(self, folder: str | Path, faults: list[str]) -> None:
        self.folder = str(folder)
        self.faults = list(faults)

    def __call__(self, arch: Architecture, budget: float, resume_from: float | None) -> dict:
        with (Path(self.folder) / "calls").open("a+") as log:
            fcntl.flock(log, fcntl.LOCK_EX)  # workers running at once each get their own count
            log.write(f"{os.getpid()}\n")
            log.flush()
            log.seek(0)
            count = len(log.read().splitlines())
            fcntl.flock(log, fcntl.LOCK_UN)
        fault = self.faults[count - 1] if count <= len(self.faults) else "ok"
        if fault == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        if fault == "oom":
            raise MemoryError("simulated out of memory")
        if fault == "hang":
            time.sleep(60)
        if fault == "error":
            raise ValueError("this architecture cannot be built")
        return nb201_at_budget(arch, budget, resume_from)


def main() -> None:
    """``python -m tests.mf_objectives DB MAX_JOBS KILL_AT``: a BOHB search with the
    GP searcher journaled to DB that SIGKILLs itself inside its KILL_AT-th evaluation
    (-1: never)."""
    db, max_jobs, kill_at = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    calls = 0

    def objective(arch: Architecture, budget: float, resume_from: float | None) -> dict:
        nonlocal calls
        calls += 1
        if calls == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no flush: a real crash
        return nb201_at_budget(arch, budget, resume_from)

    bonas.search_multifidelity(
        objective, NB201Space(), scheduler="bohb", searcher="bonas", max_jobs=max_jobs,
        storage=db, seed=3, progress=False, searcher_options={"num_candidates": 100},
    )  # fmt: skip


if __name__ == "__main__":
    main()


def misleading_below_9(arch: Architecture, budget: float, resume_from: float | None) -> dict:
    """The NB201 score at budget 9; below it, values unrelated to the score. With the
    validation value after each epoch trained (``val_curve``), as a trainer gives it."""

    def at(epoch: int) -> float:
        if epoch >= 9:
            return nb201_score(arch) * epoch / (epoch + 3)
        return zlib.crc32(f"{arch.to_json()}@{epoch}".encode()) % 1009 / 1009

    start = 0 if resume_from is None else round(resume_from)
    return {
        "value": at(round(budget)),
        "val_curve": [at(e) for e in range(start + 1, round(budget) + 1)],
    }

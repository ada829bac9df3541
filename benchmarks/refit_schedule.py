"""Does refitting the GP less often past 100 observations cost sample efficiency?

For kernels that are not guaranteed PSD (OTMANN's), :class:`~bonas.searchers.GPSearcher`
refits its hyperparameters only once the observations have grown by
``refit_growth`` (a tenth) past :data:`~bonas.surrogate.REFIT_GROWTH_FROM` (100); in
between it keeps the last hyperparameters. This benchmark compares that default with a
refit at every observation (``refit_growth=0``) on NASBOT's CNN space and the speed
benchmark's synthetic objective (larger, wider, more convolutional networks score more).

Each seed runs one search to ``branch_at`` trials (the two schedules agree up to there),
saves it, and continues it twice from the same state, once per schedule, as a restarted
study would (:meth:`~bonas.searchers.Searcher.load_state_dict`), to ``trials``. The
comparison is paired: the same seed, the same first ``branch_at`` trials. The JSON gives
the best value found at every ``checkpoint`` per seed and schedule, their means and the
paired differences, the fits made and the seconds spent.

Example::

    python -m bonas.benchmarks.refit_schedule --seeds 8 --trials 180 --jobs 2 \\
        --out benchmarks/results/refit_schedule_cnn.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bonas.benchmarks._parallel import run_calls

__all__ = ["refit_schedule_benchmark", "run_seed"]

#: The schedules compared: the optimizer's default and a refit at every observation.
SCHEDULES = {"default (growth 0.1)": None, "every observation": 0.0}


def run_seed(
    seed: int,
    trials: int,
    branch_at: int,
    checkpoints: Sequence[int],
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One seed: a shared search to ``branch_at`` trials, then one branch per schedule.

    Args:
        options: Further :class:`~bonas.searchers.GPSearcher` options (defaults otherwise).

    Returns:
        ``{"seed", "branches": {schedule: {"best": {checkpoint: value}, "fits",
        "seconds", "values": every trial's value, in order}}}``.
    """
    from bonas.benchmarks.speed import synthetic_value
    from bonas.exceptions import NonPSDWarning
    from bonas.searchers.gp import GPSearcher
    from bonas.spaces import CNNSpace

    space = CNNSpace()
    warnings.simplefilter("ignore", NonPSDWarning)

    def run(optimizer: GPSearcher, until: int) -> None:
        while len(optimizer.trials) < until:
            (trial,) = optimizer.ask()
            optimizer.tell(trial, synthetic_value(trial.architecture))

    options = options or {}
    shared = GPSearcher(space, seed=seed, **options)
    run(shared, branch_at)
    state = json.loads(json.dumps(shared.state_dict()))
    branches: dict[str, Any] = {}
    for name, growth in SCHEDULES.items():
        optimizer = GPSearcher(space, seed=seed, refit_growth=growth, **options)
        optimizer.trials = list(shared.trials)
        optimizer.load_state_dict(state)
        start = time.perf_counter()
        run(optimizer, trials)
        values = [t.value for t in optimizer.trials]
        branches[name] = {
            "best": {str(c): float(np.max(values[:c])) for c in checkpoints},
            "fits": optimizer.surrogate.fits,
            "seconds": time.perf_counter() - start,
            "values": values,
        }
    return {"seed": seed, "branches": branches}


def refit_schedule_benchmark(
    seeds: int = 8,
    trials: int = 180,
    branch_at: int = 100,
    jobs: int = 1,
    out: Path | None = None,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Both schedules on ``seeds`` seeds; see the module docstring.

    Args:
        options: Further :class:`~bonas.searchers.GPSearcher` options, for every run.
    """
    checkpoints = sorted({*range(branch_at, trials + 1, 20), trials})
    calls = [((seed, trials, branch_at, checkpoints, options), {}) for seed in range(seeds)]
    runs = run_calls(run_seed, calls, jobs, describe=lambda i: f"seed {i}")
    names = list(SCHEDULES)
    summary: dict[str, Any] = {}
    for c in checkpoints:
        best = {n: np.array([r["branches"][n]["best"][str(c)] for r in runs]) for n in names}
        diff = best[names[0]] - best[names[1]]
        summary[str(c)] = {
            **{n: _mean_se(v) for n, v in best.items()},
            "difference (default - every)": _mean_se(diff),
            "default better / equal / worse": [
                int((diff > 0).sum()), int((diff == 0).sum()), int((diff < 0).sum())
            ],
        }  # fmt: skip
    result = {
        "benchmark": "refit_schedule",
        "space": "cnn",
        "objective": "bonas.benchmarks.speed.synthetic_value",
        "seeds": seeds,
        "trials": trials,
        "branch_at": branch_at,
        "schedules": dict(SCHEDULES),
        "summary": summary,
        "seconds": {
            n: _mean_se(np.array([r["branches"][n]["seconds"] for r in runs])) for n in names
        },
        "fits": {n: [r["branches"][n]["fits"] for r in runs] for n in names},
        "runs": runs,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
    }  # fmt: skip
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
    return result


def _mean_se(values: np.ndarray) -> dict[str, float]:
    se = float(values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else 0.0
    return {"mean": float(values.mean()), "se": se}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bonas.benchmarks.refit_schedule", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--trials", type=int, default=180)
    parser.add_argument("--branch-at", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=1, help="seeds run side by side")
    args = parser.parse_args(argv)
    result = refit_schedule_benchmark(
        args.seeds, args.trials, args.branch_at, args.jobs, Path(args.out)
    )
    print(json.dumps({"summary": result["summary"], "seconds": result["seconds"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

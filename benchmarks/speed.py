"""Speed benchmarks, written as JSON (timings live here, not in the tests).

Usage::

    python -m bonas.benchmarks.speed otmann --out otmann.json

``otmann``: 200 CNN-space architectures of 10-30 layers (sampled and mutated with a
fixed seed), all 200 x 200 ordered pairs through

* the baseline, a plain loop making one ``ot.emd`` call per coefficient pair on the
  whole problem, as NASBOT computes OTMANN (features computed once per architecture);
* bonas's :class:`~bonas.kernels.OTMANNDistance`, in one process and over all cores;

then one BO iteration's 1,000 candidates x 200 observed architectures (200,000 pairs).

``checkpoint``: what checkpoint continuation saves in Hyperband promotions. Sampled
CNN-space architectures are trained on MNIST-5k to the rungs 1, 3 and 9 epochs, each
rung continuing from the checkpoint of the one below, and again with every rung trained
from scratch (as BOHB's original implementation does); the JSON gives both wall-clocks,
the saving, and whether the continued runs' accuracies equal the straight ones.

``ask`` (:func:`ask_benchmark`): ``GPSearcher.ask()`` latency and peak memory after 50 to
500 observations. ``memory`` (:func:`memory_benchmark`): a search's memory as it goes on.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bonas.architecture import Architecture
from bonas.kernels.otmann import OTMANNDistance, reference_distances
from bonas.spaces import CNNSpace

__all__ = ["ask_benchmark", "checkpoint_benchmark", "cnn_workload", "main", "otmann_benchmark"]


def cnn_workload(
    count: int, seed: int, min_layers: int = 10, max_layers: int = 30
) -> list[Architecture]:
    """``count`` CNN-space architectures of ``min_layers..max_layers`` layers: samples and
    chains of mutants, drawn with ``seed``."""
    space = CNNSpace()
    rng = np.random.default_rng(seed)
    archs: list[Architecture] = []
    while len(archs) < count:
        arch = (
            space.sample(rng)
            if not archs or rng.random() < 0.5
            else space.mutate_steps(archs[int(rng.integers(len(archs)))], rng)
        )
        if min_layers <= arch.num_layers <= max_layers:
            archs.append(arch)
    return archs


def _progress(message: str) -> None:
    print(f"[bonas.benchmarks.speed] {message}", file=sys.stderr, flush=True)


def otmann_benchmark(
    num_archs: int = 200,
    num_candidates: int = 1000,
    seed: int = 0,
    baseline_pairs: int | None = None,
    n_jobs: int | None = None,
) -> dict[str, Any]:
    """Run the OTMANN benchmark and return its results as a JSON-ready dict.

    Args:
        num_archs: Architectures in the square workload (200 in the issue).
        num_candidates: Candidates scored against ``num_archs`` observed ones.
        seed: Seed of the workload.
        baseline_pairs: Time the baseline on only the first this-many pairs (``None``: all).
        n_jobs: Processes for the parallel runs (``None``: all cores).
    """
    archs = cnn_workload(num_archs, seed)
    cores = n_jobs or os.cpu_count() or 1
    serial = OTMANNDistance(n_jobs=1)
    parallel = OTMANNDistance(n_jobs=cores, parallel_threshold=1)

    _progress(f"profiling {num_archs} architectures")
    start = time.perf_counter()
    profiles = [serial.profile(a) for a in archs]
    profile_seconds = time.perf_counter() - start

    pairs = [(i, j) for i in range(num_archs) for j in range(num_archs)]
    if baseline_pairs is not None:
        pairs = pairs[:baseline_pairs]
    _progress(f"baseline: {len(pairs)} pairs, one ot.emd per coefficient pair")
    baseline = np.zeros((num_archs, num_archs, serial.num_distances))
    start = time.perf_counter()
    for i, j in pairs:
        baseline[i, j] = reference_distances(profiles[i], profiles[j], serial)
    baseline_seconds = time.perf_counter() - start

    _progress("bonas, one process")
    start = time.perf_counter()
    ours = serial.pairwise_profiles(profiles, profiles)
    serial_seconds = time.perf_counter() - start

    _progress(f"bonas, {cores} processes (starting the shared worker pool)")
    start = time.perf_counter()
    parallel.pairwise_profiles(profiles[:cores], profiles[:2])
    pool_start_seconds = time.perf_counter() - start
    start = time.perf_counter()
    ours_parallel = parallel.pairwise_profiles(profiles, profiles)
    parallel_seconds = time.perf_counter() - start

    rows, cols = zip(*pairs, strict=True)
    reference = baseline[list(rows), list(cols)]
    mine = ours[list(rows), list(cols)]
    abs_diff = np.abs(mine - reference)
    rel_diff = abs_diff / np.maximum(np.abs(reference), 1e-300)

    _progress(f"iteration: {num_candidates} candidates x {num_archs} observed")
    space = CNNSpace()
    rng = np.random.default_rng(seed + 1)
    candidates = [space.mutate_steps(archs[int(rng.integers(num_archs))], rng)
                  for _ in range(num_candidates)]  # fmt: skip
    start = time.perf_counter()
    iteration = parallel.pairwise(candidates, archs)
    iteration_seconds = time.perf_counter() - start

    baseline_rate = len(pairs) / baseline_seconds
    return {
        "benchmark": "otmann",
        "workload": {
            "space": "cnn", "num_architectures": num_archs, "seed": seed,
            "layers_min": min(a.num_layers for a in archs),
            "layers_max": max(a.num_layers for a in archs),
            "layers_mean": float(np.mean([a.num_layers for a in archs])),
            "distances_per_pair": serial.num_distances, "distance_names": list(serial.names),
        },
        "profile_seconds": profile_seconds,
        "baseline": {"pairs": len(pairs), "seconds": baseline_seconds,
                     "pairs_per_second": baseline_rate},
        "bonas_one_process": {"pairs": num_archs**2, "seconds": serial_seconds,
                              "pairs_per_second": num_archs**2 / serial_seconds,
                              "speedup_vs_baseline": num_archs**2 / serial_seconds / baseline_rate},
        "bonas_parallel": {"processes": cores, "pool_start_seconds": pool_start_seconds,
                           "pairs": num_archs**2, "seconds": parallel_seconds,
                           "pairs_per_second": num_archs**2 / parallel_seconds,
                           "speedup_vs_baseline": num_archs**2 / parallel_seconds / baseline_rate},
        "max_abs_difference": float(abs_diff.max()),
        "max_rel_difference": float(rel_diff.max()),
        "parallel_equals_serial": bool(np.array_equal(ours, ours_parallel)),
        "iteration": {"candidates": num_candidates, "observed": num_archs,
                      "pairs": num_candidates * num_archs, "seconds": iteration_seconds,
                      "processes": cores, "finite": bool(np.isfinite(iteration).all())},
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "processor": platform.processor(), "python": platform.python_version(),
                    "numpy": np.__version__, "pot": _pot_version()},
    }  # fmt: skip


def ask_benchmark(
    sizes: Sequence[int] = (50, 100, 200, 500),
    repeats: int = 3,
    seed: int = 0,
    spaces: Sequence[str] = ("cnn", "nb201"),
    out: Path | None = None,
    num_candidates: int = 1000,
    screen_top: int = 50,
    screen_neighbours: int = 20,
    budgets: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Median ``GPSearcher.ask()`` latency and peak memory after ``n`` observations.

    CNN space: OTMANN kernel, NASBOT's GA scoring ``num_candidates`` (1,000) candidates
    per ask. NB201: the default model average (WL, the categorical kernel, their sum),
    every untried cell scored. Observations are random samples with a synthetic
    objective; the first ask after telling them (a full fit and the distances to all new
    candidates) is timed with the following ones.

    Nothing traces allocations while asks are timed (``tracemalloc`` slows Python's
    allocator several-fold); memory is the process's peak resident set during each run
    (Linux's ``VmHWM``, reset before the run), where the OTMANN worker processes are not
    counted. Each run also reports how many distance pairs its asks computed and the
    seconds spent computing them, and as many for the lower bounds the GA's candidates
    were screened with (``screen_top``: the optimizer's option; 0 scores every candidate
    with exact distances; ``screen_neighbours``: the short list's exact distances go to
    that many nearest observations, 0 to all), and how many of its asks refitted the GP's
    hyperparameters (the optimizer's default refit schedule).

    With ``budgets``, the searcher is multi-fidelity (``multi_fidelity=True``: the budget
    is a GP input) and proposes for the largest budget; each observation is at one of
    ``budgets`` drawn at random, its value the synthetic objective plus the budget's
    logarithm, as a scheduler with those rungs would tell it.
    """
    import warnings

    from bonas.exceptions import NonPSDWarning
    from bonas.searchers.gp import GPSearcher
    from bonas.spaces import get_space

    results: dict[str, Any] = {
        "benchmark": "ask", "repeats": repeats, "num_candidates": num_candidates,
        "screen_top": screen_top, "screen_neighbours": screen_neighbours,
        "budgets": None if budgets is None else [float(b) for b in budgets], "runs": [],
    }  # fmt: skip

    def value_at(arch: Architecture, budget: float | None) -> float:
        return synthetic_value(arch) + (0.0 if budget is None else math.log(budget))

    for name in spaces:
        space = get_space(name)
        for n in sizes:
            _progress(f"ask: {name} with {n} observations")
            rng = np.random.default_rng(seed)
            optimizer = GPSearcher(
                space, seed=seed, n_initial=1, num_candidates=num_candidates,
                screen_top=screen_top, screen_neighbours=screen_neighbours,
                multi_fidelity=budgets is not None,
            )  # fmt: skip
            top = None if budgets is None else float(max(budgets))
            optimizer.target_budget = top
            distances = _TimedDistances.install(optimizer)
            seen: set[Architecture] = set()
            while len(seen) < n:
                arch = space.sample(rng)
                if arch not in seen:
                    seen.add(arch)
            for arch in seen:
                budget = None if budgets is None else float(rng.choice(budgets))
                optimizer.add_observation(arch, value_at(arch, budget), budget)
            latencies = []
            fits_before = optimizer.surrogate.fits
            _reset_peak_rss()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NonPSDWarning)
                for _ in range(repeats):
                    start = time.perf_counter()
                    (trial,) = optimizer.ask(budget=top)
                    latencies.append(time.perf_counter() - start)
                    optimizer.tell(trial, value_at(trial.architecture, top))
            run: dict[str, Any] = {
                "space": name, "kernel": optimizer.kernel_name, "observations": n,
                "latencies_s": latencies,
                "median_s": float(np.median(latencies)), "first_s": latencies[0],
                "mean_after_first_s": float(np.mean(latencies[1:])) if repeats > 1 else None,
                "peak_rss_mb": _peak_rss_mb(),
                # hyperparameter fits among the timed asks (the first ask's included), on
                # the optimizer's refit schedule
                "fits": optimizer.surrogate.fits - fits_before,
                "refit_growth": optimizer.refit_growth,
                "multi_fidelity": optimizer.multi_fidelity,
            }  # fmt: skip
            if distances is not None:
                run["distance_pairs_computed"] = distances.pairs
                run["distance_seconds"] = distances.seconds
                run["bound_pairs_computed"] = distances.bound_pairs
                run["bound_seconds"] = distances.bound_seconds
            results["runs"].append(run)
            if out is not None:  # written after every run: the large ones take minutes
                out.write_text(json.dumps(results, indent=2))
    results["machine"] = {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python_reference_s": python_reference_seconds(),
    }
    if out is not None:
        out.write_text(json.dumps(results, indent=2))
    return results


def python_reference_seconds(repeats: int = 5) -> float:
    """Seconds a fixed pure-Python workload takes (dict and string work, the best of
    ``repeats``): a yardstick of the machine, since asks are mostly Python and the
    "2-core CPU" of one session can be several times as fast as another's."""
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        table: dict[str, int] = {}
        for i in range(1_000_000):
            key = f"layer{i % 5000}|{i % 7}"
            table[key] = table.get(key, 0) + i
        sorted(table.items())
        best = min(best, time.perf_counter() - start)
    return best


def memory_benchmark(
    trials: int = 200,
    every: int = 20,
    seed: int = 0,
    space_name: str = "cnn",
    out: Path | None = None,
    **options: Any,
) -> dict[str, Any]:
    """A search's memory as it goes on: ``GPSearcher`` (its defaults, or ``options``) on
    ``space_name`` (NASBOT's GA scoring 1,000 candidates an ask) and the synthetic
    objective of :func:`ask_benchmark`, recording every ``every`` trials the process's
    peak resident set so far, the architectures its registry holds and the OTMANN
    profiles kept. A search that kept every candidate it scored would grow by about 20 MB
    an ask on the CNN space."""
    import warnings

    from bonas.exceptions import NonPSDWarning
    from bonas.searchers.gp import GPSearcher
    from bonas.spaces import get_space
    from bonas.surrogate import find_screening_cache

    space = get_space(space_name)
    optimizer = GPSearcher(space, seed=seed, **options)
    distance = getattr(find_screening_cache(optimizer.surrogate.kernel), "distance", None)
    points = []
    start = time.perf_counter()
    _reset_peak_rss()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonPSDWarning)
        while len(optimizer.trials) < trials:
            (trial,) = optimizer.ask()
            optimizer.tell(trial, synthetic_value(trial.architecture))
            if len(optimizer.trials) % every == 0:
                points.append({
                    "trials": len(optimizer.trials),
                    "peak_rss_mb": _peak_rss_mb(),
                    "registered": len(optimizer.surrogate.registry),
                    "profiles": None if distance is None else len(distance._profiles),
                    "seconds": time.perf_counter() - start,
                })  # fmt: skip
                _progress(f"memory: {points[-1]}")
    result = {
        "benchmark": "memory", "space": space_name, "trials": trials, "seed": seed,
        "points": points,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
    }  # fmt: skip
    if out is not None:
        out.write_text(json.dumps(result, indent=2))
    return result


class _TimedDistances:
    """Wraps a kernel's distance to count the pairs it computes and the seconds taken
    (its lower bounds, if it has them, apart)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.pairs = 0
        self.seconds = 0.0
        self.bound_pairs = 0
        self.bound_seconds = 0.0
        if callable(getattr(inner, "pairwise_lower_bounds", None)):
            self.pairwise_lower_bounds = self._lower_bounds
        if callable(getattr(inner, "pairwise_ragged", None)):
            self.pairwise_ragged = self._ragged

    @classmethod
    def install(cls, optimizer: Any) -> _TimedDistances | None:
        kernel = optimizer.surrogate.kernel
        cache = getattr(kernel, "cache", None)
        if cache is None:
            return None
        timed = cls(cache.distance)
        cache.distance = timed
        return timed

    @property
    def num_distances(self) -> int:
        return self.inner.num_distances

    def pairwise(self, archs_a: Any, archs_b: Any = None) -> np.ndarray:
        start = time.perf_counter()
        values = self.inner.pairwise(archs_a, archs_b)
        self.seconds += time.perf_counter() - start
        self.pairs += len(archs_a) * len(archs_a if archs_b is None else archs_b)
        return values

    def _ragged(self, archs_a: Any, partners: Any) -> list[np.ndarray]:
        start = time.perf_counter()
        values = self.inner.pairwise_ragged(archs_a, partners)
        self.seconds += time.perf_counter() - start
        self.pairs += sum(len(group) for group in partners)
        return values

    def _lower_bounds(self, archs_a: Any, archs_b: Any) -> np.ndarray:
        start = time.perf_counter()
        values = self.inner.pairwise_lower_bounds(archs_a, archs_b)
        self.bound_seconds += time.perf_counter() - start
        self.bound_pairs += len(archs_a) * len(archs_b)
        return values


def checkpoint_benchmark(
    num_archs: int = 3, rungs: Sequence[int] = (1, 3, 9), seed: int = 0, fraction: float = 0.25
) -> dict[str, Any]:
    """Wall-clock of promotions continued from checkpoints against retraining.

    Args:
        num_archs: Architectures promoted through every rung.
        rungs: The epoch budgets, ascending.
        seed: Seed of the architectures, the data split and the trainer.
        fraction: Share of MNIST-5k's 4,000 training digits used.
    """
    import tempfile

    from bonas.evaluation import Trainer, load_dataset

    data = load_dataset("mnist5k", seed=seed).subset(fraction, seed=seed)
    space = CNNSpace(max_num_layers=12, max_units=128)
    rng = np.random.default_rng(seed)
    archs = [space.sample(rng) for _ in range(num_archs)]
    trainer = Trainer(data, max_epochs=max(rungs), seed=seed)
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        for index, arch in enumerate(archs):
            continued_s, scratch_s, same = 0.0, 0.0, True
            previous = None
            for budget in rungs:
                path = Path(folder) / f"{index}-{budget}.pt"
                started = time.perf_counter()
                cont = trainer.train(arch, budget, resume=previous, checkpoint=path)
                continued_s += time.perf_counter() - started
                started = time.perf_counter()
                straight = trainer.train(arch, budget)
                scratch_s += time.perf_counter() - started
                same = same and cont.val_accuracy == straight.val_accuracy
                previous = path
                _progress(f"arch {index} rung {budget}: continued {cont.val_accuracy:.3f}")
            runs.append(
                {
                    "layers": arch.num_layers,
                    "params": cont.params,
                    "continued_s": continued_s,
                    "scratch_s": scratch_s,
                    "saving": 1 - continued_s / scratch_s,
                    "same_accuracy": same,
                }
            )
    continued = sum(r["continued_s"] for r in runs)
    scratch = sum(r["scratch_s"] for r in runs)
    return {
        "benchmark": "checkpoint",
        "rungs": list(rungs),
        "training_examples": len(data.train_y),
        "device": str(trainer.device),
        "cpu_count": os.cpu_count(),
        "torch_threads": __import__("torch").get_num_threads(),
        "continued_s": continued,
        "scratch_s": scratch,
        "saving": 1 - continued / scratch,
        "epochs_saving": 1 - max(rungs) / sum(rungs),
        "same_accuracy": all(r["same_accuracy"] for r in runs),
        "runs": runs,
    }


def synthetic_value(arch: Architecture) -> float:
    """The benchmarks' cheap objective of a layer graph: deeper, wider and with more
    convolutions is better."""
    width = sum(u or 0 for u in arch.units) / max(arch.num_layers, 1)
    labels = "".join(arch.labels)
    return float(np.sqrt(arch.num_layers) + width / 256 + 0.2 * labels.count("conv"))


def _reset_peak_rss() -> None:
    """Reset the process's peak resident set (Linux); elsewhere the peak stays global."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_rss_mb() -> float:
    """The peak resident set since :func:`_reset_peak_rss`, in MiB (``VmHWM`` on Linux,
    else the process's lifetime peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pot_version() -> str:
    import ot

    return str(ot.__version__)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bonas.benchmarks.speed", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="benchmark", required=True)
    otmann = commands.add_parser("otmann", help="OTMANN distance throughput")
    otmann.add_argument("--out", required=True, help="JSON file to write")
    otmann.add_argument("--num-archs", type=int, default=200)
    otmann.add_argument("--num-candidates", type=int, default=1000)
    otmann.add_argument("--seed", type=int, default=0)
    otmann.add_argument(
        "--baseline-pairs",
        type=int,
        default=None,
        help="time the baseline on the first N pairs only",
    )
    otmann.add_argument("--jobs", type=int, default=None, help="processes (default: all cores)")
    ask = commands.add_parser("ask", help="GPSearcher.ask() latency and memory")
    ask.add_argument("--out", required=True, help="JSON file to write")
    ask.add_argument("--sizes", default="50,100,200,500")
    ask.add_argument("--repeats", type=int, default=3)
    ask.add_argument("--spaces", default="cnn,nb201")
    ask.add_argument("--num-candidates", type=int, default=1000)
    ask.add_argument(
        "--screen-top", type=int, default=50, help="the optimizer's screen_top (0: all exact)"
    )
    ask.add_argument(
        "--screen-neighbours", type=int, default=20,
        help="the optimizer's screen_neighbours (0: the short list exact to all observations)",
    )  # fmt: skip
    ask.add_argument(
        "--budgets", default=None,
        help="comma-separated budgets: a multi-fidelity searcher, observations at these",
    )  # fmt: skip
    memory = commands.add_parser("memory", help="a search's memory as it goes on")
    memory.add_argument("--out", required=True, help="JSON file to write")
    memory.add_argument("--trials", type=int, default=200)
    memory.add_argument("--every", type=int, default=20)
    memory.add_argument("--space", default="cnn")
    memory.add_argument("--seed", type=int, default=0)
    ckpt = commands.add_parser("checkpoint", help="checkpoint continuation vs retraining")
    ckpt.add_argument("--out", required=True, help="JSON file to write")
    ckpt.add_argument("--num-archs", type=int, default=3)
    ckpt.add_argument("--rungs", default="1,3,9")
    ckpt.add_argument("--fraction", type=float, default=0.25)
    args = parser.parse_args(argv)
    if args.benchmark == "checkpoint":
        result = checkpoint_benchmark(
            args.num_archs, [int(v) for v in args.rungs.split(",")], fraction=args.fraction
        )
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2))
        print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))
        return 0
    if args.benchmark == "memory":
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        result = memory_benchmark(
            args.trials, args.every, args.seed, args.space, out=Path(args.out)
        )
        for point in result["points"]:
            print(json.dumps(point))
        return 0
    if args.benchmark == "ask":
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        result = ask_benchmark(
            [int(v) for v in args.sizes.split(",")],
            args.repeats,
            spaces=args.spaces.split(","),
            out=Path(args.out),
            num_candidates=args.num_candidates,
            screen_top=args.screen_top,
            screen_neighbours=args.screen_neighbours,
            budgets=None if args.budgets is None else [float(v) for v in args.budgets.split(",")],
        )
        for run in result["runs"]:
            print(
                f"{run['space']:6s} n={run['observations']:4d} median ask "
                f"{run['median_s']:.2f}s (first {run['first_s']:.2f}s), peak RSS "
                f"{run['peak_rss_mb']:.0f} MB"
            )
        return 0
    result = otmann_benchmark(
        args.num_archs, args.num_candidates, args.seed, args.baseline_pairs, args.jobs
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(
        json.dumps(
            {
                k: result[k]
                for k in (
                    "baseline",
                    "bonas_one_process",
                    "bonas_parallel",
                    "max_abs_difference",
                    "max_rel_difference",
                    "iteration",
                )
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

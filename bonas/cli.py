"""The ``bonas`` command line.

* ``bonas demo`` samples architectures from a space, mutates them with the space's
  operators and draws them, writing PNGs and a JSON file of the architectures.
* ``bonas replay`` runs optimisers against a benchmark table (a built-in one, or the
  user's own CSV/Parquet file with ``--table``) over many seeds and writes JSONL traces,
  a summary (CSV and markdown) and a regret plot.
* ``bonas search`` runs a real multi-fidelity search: it trains architectures of a space
  on a dataset (the CNN space on the embedded MNIST-5k digits by default) under
  BOHB/Hyperband/ASHA, journals every job to a study database, and writes a report
  folder and the best model.
* ``bonas sweep`` runs Hyperband/BOHB/ASHA budget sweeps on a table with fidelities over
  grids of eta and minimum and maximum budgets, and writes a table and a plot of final
  regret against the training time spent.
* ``bonas report DIR|study.db`` prints the best trials of a study (single- or
  multi-fidelity, over all budgets) and rewrites its report folder; ``bonas show`` prints
  the same and writes nothing. Both read the study without locking or changing it, so
  they work while a search runs.
* ``bonas export DIR`` writes the best model of a search as a ``torch.export`` program
  (``.pt2``) that plain PyTorch loads; it first rewrites the export of a search of an
  older bonas (``best_model.json``) from the study when that one cannot be loaded.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bonas.cli_settings import SearchSettings, network_options, search_notes
from bonas.cli_study import export_command, reads_files, report_command
from bonas.drawing import draw
from bonas.exceptions import BonasError
from bonas.spaces import get_space
from bonas.spaces.base import SearchSpace

if TYPE_CHECKING:
    from bonas.evaluation import TrainingObjective

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    space = get_space(args.space)
    rng = np.random.default_rng(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    records = []
    for k in range(args.count):
        parent = space.sample(rng)
        child = space.mutate(parent, rng)
        for role, arch in (("sample", parent), ("mutant", child)):
            path = draw(
                arch,
                out / f"{args.space}-{k:02d}-{role}.png",
                title=f"{args.space} {role} {k}: {arch.num_layers} layers",
            )
            records.append(
                {"index": k, "role": role, "png": path.name, "architecture": arch.to_dict()}
            )
        print(
            f"[{k + 1}/{args.count}] {parent.num_layers}-layer sample -> "
            f"{child.num_layers}-layer mutant"
        )
    (out / "architectures.json").write_text(json.dumps(records, indent=1))
    print(f"wrote {len(records)} drawings and architectures.json to {out}")
    return 0


_TABLE_FIELDS = (
    "arch_column",
    "arch_format",
    "ops_column",
    "objective",
    "test_column",
    "train_time_column",
    "cost_column",
    "budgets",
    "budget_column",
    "seed_column",
    "missing",
    "duplicates",
    "name",
)


def _user_table(args: argparse.Namespace) -> object:
    from bonas.benchmarks.tables import RowsDroppedWarning, UserTable

    fields = {name: getattr(args, name) for name in _TABLE_FIELDS}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RowsDroppedWarning)
        table = UserTable.from_file(args.table, args.describe, **fields)
    for warning in caught:
        print(f"bonas: warning: {warning.message}", file=sys.stderr)
    return table


def _benchmark(args: argparse.Namespace) -> tuple[object, str, str]:
    """The table of ``--table`` and its flags, or the ``--benchmark`` spec; a stem for
    the default output folder; and a title for the printed summary."""
    if args.table:
        if args.benchmark or args.data:
            raise BonasError("give either --table (a file of your own) or --benchmark/--data")
        table = _user_table(args)
        return table, Path(args.table).name.split(".")[0], table.name  # type: ignore[attr-defined]
    if args.describe or any(getattr(args, name) for name in _TABLE_FIELDS):
        raise BonasError("the table description flags need --table FILE")
    benchmark = args.benchmark or "nb201:cifar10"
    return benchmark, benchmark.split("@")[0].replace(":", "-"), benchmark


def _replay(args: argparse.Namespace) -> int:
    from bonas.benchmarks.replay import replay, summary_markdown

    benchmark, stem, title = _benchmark(args)
    out = Path(args.out or f"replay-{stem}")
    result = replay(
        benchmark,  # type: ignore[arg-type]
        [name.strip() for name in args.optimizers.split(",") if name.strip()],
        queries=args.queries,
        seeds=range(args.first_seed, args.first_seed + args.seeds),
        jobs=args.jobs,
        path=args.data,
        budget=args.budget,
        out=out,
        optimizer_options=_bonas_replay_options(args),
        progress=not args.quiet,
        noisy=args.noisy,
    )
    print(summary_markdown(result.summary, title=title))
    print(f"wrote traces/, summary.csv, summary.md and regret.png to {out}")
    return 0


def _bonas_replay_options(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The bonas searcher's options a replay's flags set (``--fit-noise``, ``--kernel``)."""
    options: dict[str, Any] = {"kernel": args.kernel}
    if args.fit_noise:
        options["noise"] = None
    return {"bonas": options}


def _floats(text: str) -> list[float | None]:
    return [None if v.strip() in ("", "auto") else float(v) for v in text.split(",")]


def _sweep_grid(args: argparse.Namespace) -> dict[str, object]:
    """The grids, seeds and per-run stops that table and training sweeps share."""
    return {
        "schedulers": [n.strip() for n in args.schedulers.split(",") if n.strip()],
        "searchers": [n.strip() for n in args.searchers.split(",") if n.strip()],
        "etas": [float(v) for v in args.etas.split(",")],
        "min_budgets": _floats(args.min_budgets),
        "max_budgets": _floats(args.max_budgets),
        "seeds": args.seeds,
        "max_time": args.max_time,
        "max_jobs": args.max_jobs,
    }


def _sweep_training(args: argparse.Namespace) -> int:
    from bonas.benchmarks.multifidelity import sweep_markdown, sweep_training

    if args.benchmark or args.data or args.table:
        raise BonasError("--train sweeps train networks: drop --benchmark/--data/--table")
    if args.max_time is None and args.max_jobs is None:
        raise BonasError("give each run a stop: --max-time SECONDS (wall-clock) or --max-jobs N")
    training = ("space", "dataset", "data_dir", "width", "data_fraction")
    settings = SearchSettings(
        **{name: getattr(args, name) for name in training if getattr(args, name) is not None}
    )
    out = Path(args.out or f"sweep-train-{settings.space}-{settings.dataset}")
    objective = _training_objective(settings, args, out / "checkpoints", None)
    frame = sweep_training(
        objective,
        _search_space(settings.space),
        **_sweep_grid(args),
        out=out,
        progress=not args.quiet,
    )
    print(sweep_markdown(frame, title=f"training {settings.space} on {settings.dataset}"))
    print(f"wrote sweep.csv, sweep.md, records.csv and regret_vs_budget.png to {out}")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from bonas.benchmarks.multifidelity import sweep, sweep_markdown

    if args.train:
        return _sweep_training(args)
    training = ("space", "dataset", "data_dir", "width", "data_fraction")
    if any(getattr(args, name) is not None for name in training) or args.download:
        raise BonasError(
            "--space, --dataset, --data-dir, --width, --data-fraction and "
            "--download go with --train"
        )
    benchmark, stem, title = _benchmark(args)
    if args.max_time is None and args.max_jobs is None:
        raise BonasError("give each run a stop: --max-time SECONDS (simulated) or --max-jobs N")
    out = Path(args.out or f"sweep-{stem}")
    frame = sweep(
        benchmark,  # type: ignore[arg-type]
        **_sweep_grid(args),
        workers=args.workers,
        jobs=args.jobs,
        path=args.data,
        out=out,
        progress=not args.quiet,
    )
    print(sweep_markdown(frame, title=title))
    print(f"wrote sweep.csv, sweep.md, records.csv and regret_vs_budget.png to {out}")
    return 0


def _device_name(on_gpu: bool) -> str:
    """``cpu``, or ``cuda:0 (its name)``, for the start-up line."""
    if not on_gpu:
        return "cpu"
    import torch

    return f"cuda:0 ({torch.cuda.get_device_name(0)})"


def _search_space(name: str) -> SearchSpace:
    if name == "mlp":
        return get_space("mlp", task="class")
    if name in ("cnn", "nb201", "nb101", "darts"):
        return get_space(name)
    raise BonasError(f"bonas search trains the cnn, mlp, nb201, nb101 or darts space, not {name!r}")


def _training_objective(
    settings: SearchSettings, args: argparse.Namespace, checkpoints: Path, threads: int | None
) -> TrainingObjective:
    """The :class:`~bonas.evaluation.TrainingObjective` of ``bonas search`` and ``bonas
    sweep --train``, with its dataset loaded (a missing or malformed one stops here)."""
    from bonas.evaluation import TrainingObjective

    network = network_options(settings)
    objective = TrainingObjective(
        dataset=settings.dataset,
        data_dir=settings.data_dir,
        download=args.download,
        checkpoint_dir=str(checkpoints),
        trainer={
            "max_epochs": round(settings.max_budget),
            "device": args.device,
            "network": network,
        },
        data_fraction=settings.data_fraction,
        seed=settings.seed,
        threads=threads,
    )
    objective.load()
    return objective


def _search(args: argparse.Namespace) -> int:
    import os

    from bonas._mfsearch import JobJournal, search_multifidelity
    from bonas.executors import make_executor
    from bonas.report import export_best_model, write_report
    from bonas.study_reader import describe_search

    out = Path(args.out)
    storage = Path(args.storage) if args.storage else out / "study.db"
    stored: dict[str, object] = {}
    if storage.exists():
        if not args.resume:
            raise BonasError(
                f"{storage} exists: pass --resume to continue that search, or another "
                "--out/--storage for a new one"
            )
        journal = JobJournal.open(storage)
        stored = journal.metadata().get("cli", {})
        spent_before = journal.spent_s
        journal.close()
    elif args.resume:
        raise BonasError(f"nothing to resume: no study at {storage}")
    settings = SearchSettings.resolve(args, stored)
    if args.resume:
        print(_resume_message(spent_before, settings.time_budget))
    space = _search_space(settings.space)
    import torch

    on_gpu = args.device != "cpu" and torch.cuda.is_available()
    if (args.gpus is not None or args.device == "cuda") and not torch.cuda.is_available():
        flag = "--gpus" if args.gpus is not None else "--device cuda"
        raise BonasError(
            f"{flag} needs CUDA, and torch sees no GPU here; leave it out to train on CPU"
        )
    gpus: list[int] | str | None = None
    if args.gpus is not None:
        try:
            gpus = "auto" if args.gpus == "auto" else [int(g) for g in args.gpus.split(",")]
        except ValueError:
            raise BonasError(
                f"--gpus takes auto or GPU indices such as 0,1; got {args.gpus!r}"
            ) from None
    elif on_gpu and args.executor == "process":
        gpus = "auto"  # one worker per GPU unless --workers/--workers-per-gpu say more
    executor = make_executor(
        args.executor, args.workers, gpus=gpus, workers_per_gpu=args.workers_per_gpu,
        address=args.dask_address,
    )  # fmt: skip
    # CPU workers share the cores instead of each taking them all
    threads = None if on_gpu else max(1, (os.cpu_count() or 1) // executor.workers)
    try:
        objective = _training_objective(settings, args, out / "checkpoints", threads)
    except BonasError:
        executor.close()
        raise
    print(
        f"bonas search: {settings.space} space on {settings.dataset}, "
        f"{settings.scheduler} with the {settings.searcher} searcher, budgets "
        f"{settings.min_budget:g}-{settings.max_budget:g} epochs (eta "
        f"{settings.eta:g}), {settings.time_budget:g} s in all; {executor.describe()}; "
        f"training on {_device_name(on_gpu)}"
    )
    searcher_options = {"num_candidates": 200} if settings.searcher == "bonas" else None
    with executor:
        result = search_multifidelity(
            objective,
            space,
            scheduler=settings.scheduler,
            searcher=settings.searcher,
            min_budget=settings.min_budget,
            max_budget=settings.max_budget,
            eta=settings.eta,
            executor=executor,
            storage=storage,
            time_budget=settings.time_budget,
            max_jobs=args.max_jobs,
            retries=args.retries,
            timeout_per_job=args.timeout_per_job,
            seed=settings.seed,
            searcher_options=searcher_options,
            metadata={"cli": settings.to_dict()},
            progress=not args.quiet,
        )
    title = describe_search(settings.to_dict())
    written = write_report(result.jobs, out / "report", k=args.top_k, title=title)
    complete = int((result.jobs["state"] == "complete").sum()) if len(result.jobs) else 0
    print(
        f"{len(result.jobs)} jobs ({complete} complete), stopped by {result.stopped_by}; "
        f"study {storage}"
    )
    if result.best_architecture is None:
        print("no job completed: no best model to write")
        return 1
    data = objective.load()
    build = {
        "input_shape": list(data.input_shape),
        "num_outputs": data.num_classes,
        "options": network_options(settings),
    }
    model, arch = export_best_model(
        result.jobs, out, build=build, search=search_notes(settings, storage)
    )
    print(
        f"best: job {result.best_job}, validation accuracy {result.best_value:.4f} at "
        f"{result.best_budget:g} epochs; wrote {model}, {model.with_suffix('.json').name}, "
        f"{arch.name} and {', '.join(p.name for p in written.values())} in {out / 'report'}"
    )
    print(f"use it: bonas.load_model({str(out)!r}); look at the study: bonas report {out}")
    return 0


def _resume_message(spent_s: float, time_budget: float) -> str:
    """What a resumed search has left: ``--time-budget`` counts from the first start."""
    head = f"resuming: {spent_s:.0f} s of the {time_budget:g} s time budget spent before"
    if spent_s >= time_budget:
        return (
            f"{head}, none left; --time-budget counts from the first start, so give more "
            f"than {spent_s:.0f} to go on"
        )
    return f"{head}; {time_budget - spent_s:.0f} s left (--time-budget counts from the first start)"


def _add_table_flags(parser: argparse.ArgumentParser) -> None:
    own = parser.add_argument_group(
        "your own table", "a CSV, CSV.gz or Parquet file instead of --benchmark"
    )
    own.add_argument("--table", default=None, help="the table file")
    own.add_argument(
        "--describe", default=None, help="a TOML or JSON file of the fields below (flags win)"
    )
    own.add_argument("--arch-column", default=None, help="the architecture column")
    own.add_argument(
        "--arch-format",
        default=None,
        choices=["cell-string", "adjacency", "node-link"],
        help="cell strings |op~0|+|op~0|op~1|..., adjacency+ops (NB101), or JSON node-link",
    )
    own.add_argument("--ops-column", default=None, help="adjacency format: the ops column")
    own.add_argument(
        "--objective",
        default=None,
        help="COLUMN:max|min; COLUMN may be a comma list of per-budget columns or a template "
        "such as val_e{budget} or val_s{seed}",
    )
    own.add_argument("--test-column", default=None, help="test values (column or template)")
    own.add_argument("--train-time-column", default=None, help="training seconds per row")
    own.add_argument("--cost-column", default=None, help="any cost to record per query")
    own.add_argument("--budgets", default=None, help="budgets of comma-listed columns, in order")
    own.add_argument("--budget-column", default=None, help="long format: each row's budget")
    own.add_argument("--seed-column", default=None, help="long format: each row's seed")
    own.add_argument(
        "--missing",
        default=None,
        choices=["restrict", "fail", "error"],
        help="queries outside the table: search the table only (default), count them as "
        "failed, or stop with an error",
    )
    own.add_argument(
        "--duplicates",
        default=None,
        choices=["error", "mean", "first"],
        help="same architecture, different values: refuse (default) or aggregate",
    )
    own.add_argument("--name", default=None, help="the table's name in plots and summaries")


def _add_training_flags(group: Any) -> None:
    """What ``bonas search`` and ``bonas sweep --train`` train, and on which data."""
    group.add_argument("--space", default=None, help="cnn (default), mlp, nb201, nb101 or darts")
    group.add_argument(
        "--dataset",
        default=None,
        help="mnist5k (default, embedded), mnist, fashionmnist, cifar10, cifar100, imagefolder",
    )
    group.add_argument("--data-dir", default=None, help="where the dataset lies")
    group.add_argument(
        "--width",
        type=float,
        default=None,
        help="cnn/mlp: train with every layer's units times this (default 0.125, a CPU proxy)",
    )
    group.add_argument(
        "--data-fraction",
        type=_positive_float,
        default=None,
        help="train on this share of the data",
    )


def _add_device_flags(group: Any) -> None:
    group.add_argument("--device", default="auto", help="auto (CUDA if any), cpu, cuda")
    group.add_argument("--download", action="store_true", help="let torchvision download data")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bonas", description=__doc__.splitlines()[0])
    from bonas import __version__

    parser.add_argument("--version", action="version", version=f"bonas {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="sample, mutate and draw architectures")
    demo.add_argument(
        "--space", default="cnn", choices=["cnn", "mlp", "nb201", "nb101", "nbgraph", "darts"]
    )
    demo.add_argument("--count", type=_positive_int, default=4, help="how many samples to draw")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--out", default="bonas-demo", help="output folder")
    demo.set_defaults(handler=_demo)

    rep = commands.add_parser(
        "replay", help="run optimisers against a benchmark table (simulated time)"
    )
    rep.add_argument(
        "--benchmark",
        default=None,
        help="table spec: nb201:cifar10 (the default), nb201:cifar100|imagenet16-120, "
        "nbgraph:<dataset>, nb101, nb301; a file or folder may follow an @",
    )
    rep.add_argument(
        "--optimizers",
        default="bonas,re,ls,rs",
        help="comma-separated names: bonas, re, ls, rs, and the peers tpe, botorch-onehot, "
        'smac (pip install ".[peers]")',
    )
    rep.add_argument("--queries", type=_positive_int, default=150, help="evaluations per run")
    rep.add_argument(
        "--seeds",
        type=_positive_int,
        default=20,
        help="runs per optimizer (seeds first..first+n-1, 0..n-1 by default)",
    )
    rep.add_argument(
        "--first-seed",
        type=_non_negative_int,
        default=0,
        help="the first seed (default 0): --seeds 10 --first-seed 10 runs seeds 10..19, to "
        "add seeds to an earlier replay (pool_summaries in bonas.benchmarks.replay joins them)",
    )
    rep.add_argument("--jobs", type=_positive_int, default=1, help="runs in parallel processes")
    rep.add_argument("--data", default=None, help="the table's file or folder, if it needs one")
    rep.add_argument(
        "--budget", type=_positive_float, default=None, help="fidelity (default: highest)"
    )
    rep.add_argument("--out", default=None, help="output folder (default: replay-<benchmark>)")
    rep.add_argument(
        "--fit-noise",
        action="store_true",
        help="fit the bonas GP's noise instead of taking table lookups as noise-free",
    )
    rep.add_argument(
        "--noisy",
        action="store_true",
        help="answer each query with one training seed's value (drawn at random) instead of "
        "the mean over seeds, as a real training run would; regret is the incumbent's mean",
    )
    rep.add_argument(
        "--kernel",
        choices=("auto", "average", "otmann", "wl", "wl+ops", "edit"),  # surrogate.KERNELS
        default="auto",
        help="the bonas GP's kernel: auto (the default: average on cell/NB101/NB-Graph/DARTS "
        "tables, else the space's own kernel), average (a model average of the kernels the "
        "space's encoding allows), otmann, wl, wl+ops or edit",
    )
    rep.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_table_flags(rep)
    rep.set_defaults(handler=_replay)

    src = commands.add_parser(
        "search", help="a real multi-fidelity search that trains networks (BOHB by default)"
    )
    what = src.add_argument_group(
        "the search", "kept in the study: --resume reuses the stored values of flags not given"
    )
    _add_training_flags(what)
    what.add_argument("--scheduler", default=None, help="bohb (default), hyperband or asha")
    what.add_argument("--searcher", default=None, help="bonas (default, the GP), re, rs or ls")
    what.add_argument("--min-budget", type=_positive_float, default=None, help="epochs (default 1)")
    what.add_argument("--max-budget", type=_positive_float, default=None, help="epochs (default 9)")
    what.add_argument(
        "--eta", type=_positive_float, default=None, help="Hyperband's eta (default 3)"
    )
    what.add_argument("--seed", type=int, default=None)
    what.add_argument(
        "--time-budget",
        type=_positive_float,
        default=None,
        help="seconds in all (default 480); with --resume it counts from the first start, "
        "so give more than was spent to go on",
    )
    how = src.add_argument_group("how and where")
    how.add_argument(
        "--max-jobs", type=_positive_int, default=None, help="stop after this many jobs"
    )
    how.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help="evaluations at a time (default 1 per GPU, or 1)",
    )
    how.add_argument(
        "--executor",
        default="process",
        choices=["process", "in-process", "dask"],
        help="worker processes (default), threads, or a dask cluster",
    )
    how.add_argument(
        "--dask-address", default=None, help="a dask scheduler; a LocalCluster if not given"
    )
    how.add_argument(
        "--gpus", default=None, help="process executor: auto or a comma list of GPU indices"
    )
    how.add_argument("--workers-per-gpu", type=_positive_int, default=1)
    _add_device_flags(how)
    how.add_argument("--retries", type=int, default=2, help="per job, after a worker fault")
    how.add_argument("--timeout-per-job", type=_positive_float, default=None, help="seconds")
    how.add_argument("--out", default="bonas-search", help="output folder")
    how.add_argument("--storage", default=None, help="study database (default OUT/study.db)")
    how.add_argument("--resume", action="store_true", help="continue the study in --storage")
    how.add_argument("--top-k", type=_positive_int, default=10, help="rows of the report's table")
    how.add_argument("--quiet", action="store_true", help="no progress bar")
    src.set_defaults(handler=_search)

    swp = commands.add_parser(
        "sweep", help="Hyperband/BOHB/ASHA budget sweeps on a table with fidelities"
    )
    swp.add_argument(
        "--benchmark",
        default=None,
        help="a table with fidelities: nb101@CSV (4/12/36/108 epochs), nb301@DIR (1-98), "
        "nb201:<dataset>@CSV (12/200); nb201:cifar10 by default",
    )
    swp.add_argument("--data", default=None, help="the table's file or folder, if it needs one")
    swp.add_argument(
        "--schedulers",
        default="hyperband",
        help="hyperband, bohb, asha, or the multi-fidelity peers smac-hb, optuna-hb, "
        "syne-asha, syne-bohb (pip install '.[peers]') and dehb (pip install --no-deps "
        "dehb==0.1.2 loguru); each peer is its own searcher (comma list)",
    )
    swp.add_argument("--searchers", default="rs", help="rs, re, bonas (comma list)")
    swp.add_argument("--etas", default="3", help="comma list of eta")
    swp.add_argument(
        "--min-budgets", default="auto", help="comma list; auto = the table's lowest fidelity"
    )
    swp.add_argument(
        "--max-budgets", default="auto", help="comma list; auto = the table's highest fidelity"
    )
    swp.add_argument(
        "--seeds", type=_positive_int, default=5, help="runs per grid point (seeds 0..n-1)"
    )
    swp.add_argument(
        "--max-time",
        type=_positive_float,
        default=None,
        help="simulated (--train: wall) seconds per run",
    )
    swp.add_argument("--max-jobs", type=_positive_int, default=None, help="jobs started per run")
    swp.add_argument("--workers", type=_positive_int, default=1, help="simulated workers per run")
    swp.add_argument("--jobs", type=_positive_int, default=1, help="runs in parallel processes")
    swp.add_argument("--out", default=None, help="output folder (default: sweep-<benchmark>)")
    swp.add_argument("--quiet", action="store_true", help="no progress bar")
    train = swp.add_argument_group(
        "real training", "--train: each run trains networks (--max-time is then wall-clock)"
    )
    train.add_argument("--train", action="store_true", help="train instead of a table")
    _add_training_flags(train)
    _add_device_flags(train)
    _add_table_flags(swp)
    swp.set_defaults(handler=_sweep)

    for name, what in (
        ("report", "print a study's best trials and rewrite its report folder"),
        ("show", "print a study's best trials (writes nothing)"),
    ):
        look = commands.add_parser(name, help=what, description=what)
        look.add_argument(
            "path", help="a search folder (bonas-search) or a study file (.db); it may be in use"
        )
        look.add_argument(
            "--top", "--top-k", dest="top", type=_positive_int, default=10,
            help="rows of the table, over all budgets (default 10)",
        )  # fmt: skip
        if name == "report":
            look.add_argument(
                "--out", default=None, help="the report folder (default: report/ beside the study)"
            )
        look.set_defaults(handler=reads_files(report_command))

    exp = commands.add_parser(
        "export",
        help="write a search's best model as a torch.export program (.pt2)",
        description="write a search's best model as a torch.export program that plain "
        "PyTorch loads: torch.export.load(FILE).module()",
    )
    exp.add_argument("path", help="a search folder (bonas-search) or its best_model.pt")
    exp.add_argument(
        "--out", default=None, help="the .pt2 file (default: best_model.pt2 in the folder)"
    )
    exp.set_defaults(handler=reads_files(export_command))
    return parser


def _positive(convert: type, what: str, floor: float) -> Any:
    """An argparse type: ``convert(text)``, finite and at least ``floor`` (above 0 for
    floats)."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not (floor <= value < math.inf) or (convert is float and value <= 0):
            bound = "a positive number" if convert is float else f"at least {floor:g}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value

    return parse


_positive_float = _positive(float, "a number", 0.0)
_positive_int = _positive(int, "a whole number", 1)
_non_negative_int = _positive(int, "a whole number", 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bonas`` console script."""
    args = build_parser().parse_args(argv)
    _quiet_internal_warnings()
    try:
        return int(args.handler(args))
    except BonasError as err:
        print(f"bonas: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nbonas {args.command}: interrupted. {_how_to_resume(args)}", file=sys.stderr)
        return 130


def _quiet_internal_warnings() -> None:
    """Leave out of the terminal the warnings about what the search already handles,
    which a CLI user can do nothing about and which break the progress bar's line."""
    from bonas.exceptions import NonPSDWarning

    # linear_operator (under gpytorch) calls torch.jit.script at import, which torch now
    # deprecates
    warnings.filterwarnings(
        "ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning
    )
    # OTMANN's Gram matrices are projected onto the PSD cone (the API warns; the search
    # goes on), and gpytorch rounds the tiny negative variances that leaves up to 1e-10
    warnings.filterwarnings("ignore", category=NonPSDWarning)
    warnings.filterwarnings("ignore", message=r"Negative variance values detected")


def _how_to_resume(args: argparse.Namespace) -> str:
    """What continues an interrupted command."""
    if args.command == "search":
        return (
            f"Its journal is in {args.out}/; `bonas search --out {args.out} --resume` goes on "
            "where it stopped (running jobs run again)."
        )
    if args.command in ("replay", "sweep"):
        return "The same command again goes on from the runs kept in its output folder."
    return "Nothing was kept to resume from."


if __name__ == "__main__":
    sys.exit(main())

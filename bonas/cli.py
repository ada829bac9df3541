"""The ``bonas`` command line.

* ``bonas demo`` samples architectures from a space, mutates them with the space's
  operators and draws them, writing PNGs and a JSON file of the architectures.
* ``bonas replay`` runs optimisers against a benchmark table (a built-in one, or the
  user's own CSV/Parquet file with ``--table``) over many seeds and writes JSONL traces,
  a summary (CSV and markdown) and a regret plot.
* ``bonas sweep`` runs Hyperband/BOHB/ASHA budget sweeps on a table with fidelities over
  grids of eta and minimum and maximum budgets, and writes a table and a plot of final
  regret against the training time spent.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bonas.drawing import draw
from bonas.exceptions import BonasError
from bonas.spaces import get_space

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
        seeds=args.seeds,
        jobs=args.jobs,
        path=args.data,
        budget=args.budget,
        out=out,
        progress=not args.quiet,
    )
    print(summary_markdown(result.summary, title=title))
    print(f"wrote traces/, summary.csv, summary.md and regret.png to {out}")
    return 0


def _floats(text: str) -> list[float | None]:
    return [None if v.strip() in ("", "auto") else float(v) for v in text.split(",")]


def _sweep(args: argparse.Namespace) -> int:
    from bonas.benchmarks.multifidelity import sweep, sweep_markdown

    benchmark, stem, title = _benchmark(args)
    if args.max_time is None and args.max_jobs is None:
        raise BonasError("give each run a stop: --max-time SECONDS (simulated) or --max-jobs N")
    out = Path(args.out or f"sweep-{stem}")
    frame = sweep(
        benchmark,  # type: ignore[arg-type]
        schedulers=[n.strip() for n in args.schedulers.split(",") if n.strip()],
        searchers=[n.strip() for n in args.searchers.split(",") if n.strip()],
        etas=[float(v) for v in args.etas.split(",")],
        min_budgets=_floats(args.min_budgets),
        max_budgets=_floats(args.max_budgets),
        seeds=args.seeds,
        max_time=args.max_time,
        max_jobs=args.max_jobs,
        workers=args.workers,
        jobs=args.jobs,
        path=args.data,
        out=out,
        progress=not args.quiet,
    )
    print(sweep_markdown(frame, title=title))
    print(f"wrote sweep.csv, sweep.md, records.csv and regret_vs_budget.png to {out}")
    return 0


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bonas", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="sample, mutate and draw architectures")
    demo.add_argument(
        "--space", default="cnn", choices=["cnn", "mlp", "nb201", "nb101", "nbgraph", "darts"]
    )
    demo.add_argument("--count", type=int, default=4, help="how many samples to draw")
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
    rep.add_argument("--optimizers", default="bonas,re,ls,rs", help="comma-separated names")
    rep.add_argument("--queries", type=int, default=150, help="evaluations per run")
    rep.add_argument("--seeds", type=int, default=20, help="runs per optimizer (seeds 0..n-1)")
    rep.add_argument("--jobs", type=int, default=1, help="runs in parallel processes")
    rep.add_argument("--data", default=None, help="the table's file or folder, if it needs one")
    rep.add_argument("--budget", type=float, default=None, help="fidelity (default: highest)")
    rep.add_argument("--out", default=None, help="output folder (default: replay-<benchmark>)")
    rep.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_table_flags(rep)
    rep.set_defaults(handler=_replay)

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
    swp.add_argument("--schedulers", default="hyperband", help="hyperband, bohb, asha (comma list)")
    swp.add_argument("--searchers", default="rs", help="rs, re, bonas (comma list)")
    swp.add_argument("--etas", default="3", help="comma list of eta")
    swp.add_argument(
        "--min-budgets", default="auto", help="comma list; auto = the table's lowest fidelity"
    )
    swp.add_argument(
        "--max-budgets", default="auto", help="comma list; auto = the table's highest fidelity"
    )
    swp.add_argument("--seeds", type=int, default=5, help="runs per grid point (seeds 0..n-1)")
    swp.add_argument("--max-time", type=float, default=None, help="simulated seconds per run")
    swp.add_argument("--max-jobs", type=int, default=None, help="jobs started per run")
    swp.add_argument("--workers", type=int, default=1, help="simulated workers per run")
    swp.add_argument("--jobs", type=int, default=1, help="runs in parallel processes")
    swp.add_argument("--out", default=None, help="output folder (default: sweep-<benchmark>)")
    swp.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_table_flags(swp)
    swp.set_defaults(handler=_sweep)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bonas`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except BonasError as err:
        print(f"bonas: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""The commands that look at a search, running or finished: ``bonas report``,
``bonas show`` and ``bonas export`` (see :mod:`bonas.cli`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bonas.cli_settings import SearchSettings, network_options, search_notes
from bonas.exceptions import BonasError

__all__ = ["export_command", "reads_files", "report_command"]


def reads_files(handler: Any) -> Any:
    """A handler whose file errors (permissions, a full disk) are one-line errors."""

    def run(args: argparse.Namespace) -> int:
        try:
            return int(handler(args))
        except OSError as err:
            where = f"{err.filename}: " if err.filename else ""
            raise BonasError(f"{where}{err.strerror or err}") from None

    return run


def report_command(args: argparse.Namespace) -> int:
    """``bonas report`` (and ``bonas show``, which writes nothing)."""
    from bonas.report import count_states, top_k, write_report
    from bonas.study_reader import read_study

    snapshot = read_study(args.path)
    jobs = snapshot.jobs()
    finished = snapshot.finished
    now = "; a search is running it now" if snapshot.running else ""
    print(snapshot.title)
    print(f"study {snapshot.path} ({snapshot.kind}): {count_states(jobs, finished=finished)}{now}")
    table = top_k(jobs, args.top, snapshot.direction, budgets="all")
    if len(table):
        print(f"the {len(table)} best over all budgets:")
        print(_text_table(table))
        best = top_k(jobs, 1, snapshot.direction)
        print(
            f"best at the highest budget reached: job {best.loc[0, 'job']}, value "
            f"{best.loc[0, 'value']:.4f} {_at_budget(best.loc[0, 'budget'])}"
        )
        folder = snapshot.path.parent
        if (folder / "best_model.json").is_file():
            print(f"the exported model: bonas.load_model({str(folder)!r})")
    else:
        print("no trial has completed yet")
    if args.command == "report":
        out = Path(args.out) if args.out else snapshot.path.parent / "report"
        written = write_report(
            jobs, out, direction=snapshot.direction, k=args.top, title=snapshot.title,
            finished=finished,
        )  # fmt: skip
        print(f"wrote {', '.join(p.name for p in written.values())} to {out}")
    return 0


def _at_budget(value: Any) -> str:
    budget = _shown_budget(value)
    return "at full fidelity" if budget == "full" else f"at budget {budget}"


def _shown_budget(value: Any) -> str:
    return "full" if value is None or value != value else f"{float(value):g}"


def _text_table(table: Any) -> str:
    """The top-k table for a terminal: rank, job, budget, value, params, finished and a
    short description of the architecture."""
    from bonas.study_reader import architecture_summary

    shown = table.drop(columns=["architecture", "num_layers", "flops", "wall_s"], errors="ignore")
    shown = shown.assign(
        budget=[_shown_budget(b) for b in shown["budget"]],
        value=[f"{v:.4f}" for v in shown["value"]],
        architecture=[architecture_summary(a, 60) for a in table["architecture"]],
    )
    if "params" in shown.columns:
        shown["params"] = ["" if p != p else f"{int(p):,}" for p in shown["params"]]
    return shown.to_string(index=False)


def export_command(args: argparse.Namespace) -> int:
    """``bonas export``: the best model as a ``torch.export`` program."""
    from bonas.best_model import export_program, load_model
    from bonas.exceptions import ModelFileError

    source = Path(args.path)
    folder = source if source.is_dir() else source.parent
    out = Path(args.out) if args.out else folder / "best_model.pt2"
    if out.suffix != ".pt2":
        raise BonasError(
            f"--out {out}: torch.export.load reads programs from .pt2 files; give a name "
            "ending in .pt2"
        )
    try:
        model = load_model(source)
    except ModelFileError as err:
        rewritable = source.is_dir() or source.name in ("best_model.pt", "best_model.json")
        if not (rewritable and (folder / "study.db").is_file()):
            raise
        print(f"bonas export: writing the export again from the study, as {err}", file=sys.stderr)
        _rewrite_export(folder)
        model = load_model(folder)
    export_program(model, out)
    info = model.bonas_info
    shape = ", ".join(str(n) for n in info.input_shape)
    print(
        f"wrote {out}: the best model (job {info.job}, value {info.value:.4f}) as a "
        f"torch.export program taking (batch, {shape}) inputs; load it without bonas: "
        f"torch.export.load({str(out)!r}).module()"
    )
    return 0


def _rewrite_export(folder: Path) -> None:
    """Write a search folder's ``best_model.pt`` and ``best_model.json`` from its study
    and checkpoints (for a search of an older bonas, which did not record how to
    rebuild the network)."""
    from bonas.evaluation import load_dataset
    from bonas.report import export_best_model
    from bonas.study_reader import read_study

    snapshot = read_study(folder / "study.db")
    cli = snapshot.metadata.get("cli")
    if snapshot.kind != "multi-fidelity" or not isinstance(cli, dict):
        raise BonasError(
            f"{folder / 'study.db'} is not a study of `bonas search`, so bonas export cannot "
            "tell how its networks were built; use bonas.report.export_best_model(jobs, "
            "folder, build=...)"
        )
    settings = SearchSettings.resolve(argparse.Namespace(), cli)
    jobs = snapshot.jobs()
    if "checkpoint" in jobs.columns:  # recorded relative to where the search ran
        jobs["checkpoint"] = [_checkpoint_in(folder, c) for c in jobs["checkpoint"]]
    data = load_dataset(settings.dataset, data_dir=settings.data_dir, seed=settings.seed)
    build = {
        "input_shape": list(data.input_shape),
        "num_outputs": data.num_classes,
        "options": network_options(settings),
    }
    model, _ = export_best_model(
        jobs, folder, direction=snapshot.direction, build=build,
        search=search_notes(settings, snapshot.path),
    )  # fmt: skip
    print(f"bonas export: rewrote {model} and {model.with_suffix('.json')} from the study")


def _checkpoint_in(folder: Path, recorded: Any) -> Any:
    """A job's checkpoint: where it was recorded, else in ``folder/checkpoints``."""
    if not isinstance(recorded, str) or Path(recorded).is_file():
        return recorded
    moved = folder / "checkpoints" / Path(recorded).name
    return str(moved) if moved.is_file() else recorded

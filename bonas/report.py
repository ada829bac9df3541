"""The report of a multi-fidelity search: plots and tables a person looks at afterwards.

:func:`write_report` turns the job table of :func:`bonas.search_multifidelity` (or of a
study read back by :func:`bonas.load_study`) into a folder:

* ``incumbent.png``: every job's value against the time it finished, coloured by
  budget, with the best-so-far line at each budget, under a title saying what was
  searched;
* ``best_architecture.png``: a drawing of the best architecture at the highest budget
  reached (the best model's);
* ``top_k.csv`` and ``top_k.md``: the best jobs over all budgets, each naming its
  budget, with parameter counts and FLOPs where the objective reported them and the
  readable time each finished;
* ``jobs.csv``: every job, with readable local times. In the report of a search that
  has ended, jobs it left running are ``interrupted`` (a resumed search runs them
  again).

:func:`export_best_model` writes the best model's ``state_dict`` (from its training
checkpoint), the record of how to rebuild its network (``best_model.json``, read by
:func:`bonas.load_model`) and its architecture as JSON.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bonas.architecture import Architecture
from bonas.drawing import draw
from bonas.exceptions import BonasError

__all__ = [
    "count_states",
    "export_best_model",
    "readable_jobs",
    "readable_time",
    "top_k",
    "write_report",
]


def top_k(frame: Any, k: int = 10, direction: str = "maximize", *, budgets: str = "top") -> Any:
    """The ``k`` best complete jobs, best first.

    Args:
        frame: A job table (the ``jobs`` of a :class:`~bonas.MultiFidelityResult`).
        k: Rows at most.
        direction: ``maximize`` or ``minimize``.
        budgets: ``top``: at the highest budget that has a complete job (the rule that
            picks the best model); ``all``: over every budget, each row naming its
            budget (ties go to the higher budget).

    Returns:
        A DataFrame with ``rank``, ``job``, ``budget``, ``value``, ``params``, ``flops``
        and ``wall_s`` (when the objective reported them), ``finished`` (a readable
        local time, when known), ``num_layers`` and ``architecture`` (JSON).

    Example:
        >>> top_k(result.jobs, 5, budgets="all")[["job", "budget", "value"]]  # doctest: +SKIP
    """
    import pandas as pd

    if budgets not in ("top", "all"):
        raise BonasError(f"budgets must be 'top' or 'all', got {budgets!r}")
    if len(frame):
        complete = frame[(frame["state"] == "complete") & frame["value"].notna()]
    else:
        complete = frame
    if len(complete) == 0:
        return pd.DataFrame(columns=["rank", "job", "budget", "value", "architecture"])
    if budgets == "top" and complete["budget"].notna().any():
        complete = complete[complete["budget"] == complete["budget"].max()]
    order = complete.assign(_budget=complete["budget"].fillna(-np.inf)).sort_values(
        ["value", "_budget", "job"], ascending=[direction != "maximize", False, True]
    )
    best = order.head(k).reset_index(drop=True)
    columns = ["job", "budget", "value"]
    columns += [c for c in ("params", "flops", "wall_s") if c in best.columns]
    table = best[columns].copy()
    table.insert(0, "rank", range(1, len(table) + 1))
    if "finished_at" in best.columns:
        table["finished"] = [readable_time(t) for t in best["finished_at"]]
    table["num_layers"] = [Architecture.from_json(a).num_layers for a in best["architecture"]]
    table["architecture"] = best["architecture"].to_numpy()
    return table


def readable_time(seconds: Any) -> str | None:
    """A Unix time as local ``YYYY-MM-DD HH:MM:SS`` (``None`` when unknown).

    Example:
        >>> readable_time(None) is None
        True
    """
    if seconds is None or isinstance(seconds, str):
        return seconds
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        return None
    if not np.isfinite(value):
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value))


def readable_jobs(frame: Any, *, finished: bool = True) -> Any:
    """A copy of a job table for people: readable local times in ``created_at``,
    ``started_at`` and ``finished_at``, and, when the search has ``finished``, jobs it
    left running shown as ``interrupted`` (a resumed search runs them again)."""
    shown = frame.copy()
    for column in TIME_COLUMNS:
        if column in shown.columns:
            shown[column] = [readable_time(t) for t in shown[column]]
    if finished and len(shown) and "state" in shown.columns:
        shown["state"] = shown["state"].replace("running", "interrupted")
    return shown


#: The Unix-time columns of a job table.
TIME_COLUMNS = ("created_at", "started_at", "finished_at")


def count_states(frame: Any, *, finished: bool = True) -> str:
    """``"6 jobs: 5 complete, 1 failed"``: the jobs by state (``finished``: running ones
    count as interrupted)."""
    if not len(frame):
        return "0 jobs"
    states = frame["state"].replace("running", "interrupted") if finished else frame["state"]
    counts = states.value_counts()
    order = ["complete", "failed", "running", "interrupted", "pending"]
    order += sorted(set(counts.index) - set(order))
    parts = [f"{counts[name]} {name}" for name in order if name in counts.index]
    return f"{len(frame)} jobs: {', '.join(parts)}"


def _incumbent_plot(frame: Any, path: Path, direction: str, title: str | None) -> Path:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    complete = frame[(frame["state"] == "complete") & frame["value"].notna()]
    if len(complete) and complete["finished_at"].notna().all():
        origin = frame["created_at"].min()
        clock = (complete["finished_at"] - origin) / 60.0
        xlabel = "minutes since the search started"
    else:
        clock = complete["job"] if len(complete) else complete
        xlabel = "job"
    budgets: list[float | None] = sorted(complete["budget"].dropna().unique())
    if complete["budget"].isna().any():
        budgets.insert(0, None)  # jobs without a budget: full fidelity
    colours = plt.cm.viridis([i / max(1, len(budgets) - 1) for i in range(len(budgets))])
    for budget, colour in zip(budgets, colours, strict=True):
        at = complete["budget"].isna() if budget is None else complete["budget"] == budget
        x = clock[at].to_numpy(dtype=float)
        y = complete.loc[at, "value"].to_numpy(dtype=float)
        order = x.argsort()
        x, y = x[order], y[order]
        ax.scatter(x, y, s=14, color=colour, alpha=0.6)
        best = np.maximum.accumulate(y) if direction == "maximize" else np.minimum.accumulate(y)
        name = "full fidelity" if budget is None else f"budget {budget:g}"
        ax.step(x, best, where="post", color=colour, label=f"{name}: best so far")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"value ({'higher' if direction == 'maximize' else 'lower'} is better)")
    counts = f"{len(frame)} jobs, {len(complete)} complete"
    ax.set_title(f"{title}\n{counts}" if title else counts, fontsize=10)
    if budgets:
        ax.legend(loc="lower right" if direction == "maximize" else "upper right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _markdown(table: Any) -> str:
    """A markdown table (pandas' own needs the optional ``tabulate``)."""

    def cell(value: Any) -> str:
        if isinstance(value, float | np.floating):
            if float(value).is_integer() and abs(value) < 1e15:
                return str(int(value))  # counts (params, FLOPs) held as floats beside NaNs
            return f"{value:.4g}"
        return str(value)

    lines = ["| " + " | ".join(map(str, table.columns)) + " |"]
    lines.append("|" + "---|" * len(table.columns))
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def write_report(
    frame: Any,
    out: str | Path,
    *,
    direction: str = "maximize",
    k: int = 10,
    title: str | None = None,
    finished: bool = True,
) -> dict[str, Path]:
    """Write the report folder of a search's job table (see the module docstring).

    Args:
        frame: The ``jobs`` DataFrame of a :class:`~bonas.MultiFidelityResult` (Unix
            times).
        out: The folder (created; the files below are replaced).
        direction: ``maximize`` or ``minimize``.
        k: Rows of the top-k table, over all budgets.
        title: What was searched (space, dataset, objective), for the plot and
            ``top_k.md``.
        finished: The search has ended: jobs it left running are shown as
            ``interrupted`` (a resumed search runs them again).

    Returns:
        The written files by name (``best_architecture`` only when a job completed).

    Example:
        >>> write_report(result.jobs, "report", title="cnn space on mnist5k")  # doctest: +SKIP
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    if finished and len(frame):
        frame = frame.assign(state=frame["state"].replace("running", "interrupted"))
    readable_jobs(frame, finished=finished).to_csv(out / "jobs.csv", index=False)
    written["jobs"] = out / "jobs.csv"
    written["incumbent"] = _incumbent_plot(frame, out / "incumbent.png", direction, title)
    table = top_k(frame, k, direction, budgets="all")
    table.to_csv(out / "top_k.csv", index=False)
    written["top_k"] = out / "top_k.csv"
    best = top_k(frame, 1, direction)  # the best model's rule: the top budget reached
    lines = [f"# {title}", ""] if title else []
    lines.append(f"{count_states(frame, finished=finished)}.")
    if len(best):
        lines.append(
            f"Best at the highest budget reached: job {best.loc[0, 'job']}, value "
            f"{best.loc[0, 'value']:.4g} at budget {_budget(best.loc[0, 'budget'])}."
        )
    lines += ["", f"The {len(table)} best jobs over all budgets:", ""]
    (out / "top_k.md").write_text(
        "\n".join(lines) + "\n" + _markdown(table.drop(columns=["architecture"]))
    )
    written["top_k_md"] = out / "top_k.md"
    if len(best):
        written["best_architecture"] = draw(
            Architecture.from_json(best.loc[0, "architecture"]),
            out / "best_architecture.png",
            title=f"best: job {best.loc[0, 'job']}, value {best.loc[0, 'value']:.4f} "
            f"at budget {_budget(best.loc[0, 'budget'])}",
        )
    return written


def _budget(value: Any) -> str:
    """A budget for people: ``3``, or ``full`` for jobs without one."""
    try:
        return "full" if value is None or np.isnan(value) else f"{float(value):g}"
    except TypeError:
        return str(value)


def export_best_model(
    frame: Any,
    out: str | Path,
    *,
    direction: str = "maximize",
    build: Mapping[str, Any] | None = None,
    search: Mapping[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Write ``best_model.pt`` (the best job's ``state_dict``), ``best_model.json`` (how
    to rebuild its network; see :mod:`bonas.best_model`) and ``best_architecture.json``
    to ``out``.

    The best job is the best complete one at the highest budget that has one; its
    ``checkpoint`` column names the training checkpoint it saved, which records how its
    network was built (input shape, outputs, builder options).

    Args:
        frame: The job table.
        out: The folder (created).
        direction: ``maximize`` or ``minimize``.
        build: ``input_shape``, ``num_outputs`` and ``options`` of the network, for a
            checkpoint of an older bonas that does not record them.
        search: JSON-compatible notes on what was searched, kept in the record.

    Returns:
        The paths of ``best_model.pt`` and ``best_architecture.json``.

    Raises:
        BonasError: If no job completed, the best one's checkpoint is missing or
            unreadable, or neither it nor ``build`` says how the network was built.

    Example:
        >>> export_best_model(result.jobs, "bonas-search")  # doctest: +SKIP
        (PosixPath('bonas-search/best_model.pt'), PosixPath('bonas-search/best_architecture.json'))
    """
    import torch

    from bonas.best_model import read_torch_file, write_model_record

    table = top_k(frame, 1, direction)
    if not len(table):
        raise BonasError("no job completed, so there is no best model to export")
    job = int(table.loc[0, "job"])
    row = frame[frame["job"] == job].iloc[0]
    checkpoint = row.get("checkpoint")
    if not isinstance(checkpoint, str) or not Path(checkpoint).is_file():
        raise BonasError(f"the checkpoint of the best job {job} is missing: {checkpoint!r}")
    state = read_torch_file(Path(checkpoint), "cpu")
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise BonasError(f"{checkpoint} is not a training checkpoint of bonas")
    network = state.get("network") or build
    if not network:
        raise BonasError(
            f"{checkpoint} does not record how its network was built (an older bonas): "
            "give build={'input_shape': ..., 'num_outputs': ..., 'options': {...}}"
        )
    if network.get("unrecorded"):
        raise BonasError(
            f"the best job {job} was trained with build options that cannot be saved "
            f"({', '.join(network['unrecorded'])})"
        )
    architecture = Architecture.from_json(row["architecture"])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / "best_model.pt"
    partial = out / "best_model.pt.tmp"
    torch.save(state["model"], partial)
    partial.replace(model_path)
    epochs = row.get("epochs")
    write_model_record(
        model_path,
        architecture,
        input_shape=network["input_shape"],
        num_outputs=network["num_outputs"],
        build_options=network.get("options") or {},
        job=job,
        budget=None if _budget(row["budget"]) == "full" else float(row["budget"]),
        epochs=None if epochs is None or _missing(epochs) else int(epochs),
        value=float(row["value"]),
        direction=direction,
        search=search,
    )
    arch_path = out / "best_architecture.json"
    arch_path.write_text(architecture.to_json())
    return model_path, arch_path


def _missing(value: Any) -> bool:
    """Missing (``None`` or NaN)."""
    try:
        return value is None or bool(np.isnan(value))
    except TypeError:
        return False

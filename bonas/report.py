"""The report of a multi-fidelity search: plots and tables a person looks at afterwards.

:func:`write_report` turns the job table of :func:`bonas.search_multifidelity` into a
folder:

* ``incumbent.png``: every job's value against the time it finished, coloured by
  budget, with the best-so-far line at each budget;
* ``best_architecture.png``: a drawing of the best architecture at the highest budget
  reached;
* ``top_k.csv`` and ``top_k.md``: the best architectures at that budget, with their
  parameter counts and FLOPs where the objective reported them;
* ``jobs.csv``: every job.

:func:`export_best_model` writes the best model's ``state_dict`` (from its training
checkpoint) and its architecture as JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bonas.architecture import Architecture
from bonas.drawing import draw
from bonas.exceptions import BonasError

__all__ = ["export_best_model", "top_k", "write_report"]


def top_k(frame: Any, k: int = 10, direction: str = "maximize") -> Any:
    """The ``k`` best complete jobs at the highest budget that has any, best first.

    Columns: ``rank``, ``job``, ``budget``, ``value``, ``params``, ``flops`` (when the
    objective reported them), ``num_layers`` and ``architecture`` (JSON).
    """
    import pandas as pd

    complete = frame[frame["state"] == "complete"] if len(frame) else frame
    if len(complete) == 0:
        return pd.DataFrame(columns=["rank", "job", "budget", "value", "architecture"])
    top_budget = complete["budget"].max()
    best = complete[complete["budget"] == top_budget].sort_values(
        ["value", "job"], ascending=[direction != "maximize", True]
    )
    best = best.head(k).reset_index(drop=True)
    columns = ["job", "budget", "value"]
    columns += [c for c in ("params", "flops", "wall_s") if c in best.columns]
    table = best[columns].copy()
    table.insert(0, "rank", range(1, len(table) + 1))
    table["num_layers"] = [Architecture.from_json(a).num_layers for a in best["architecture"]]
    table["architecture"] = best["architecture"].to_numpy()
    return table


def _incumbent_plot(frame: Any, path: Path, direction: str) -> Path:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    complete = frame[frame["state"] == "complete"]
    if len(complete) and complete["finished_at"].notna().all():
        origin = frame["created_at"].min()
        clock = (complete["finished_at"] - origin) / 60.0
        xlabel = "minutes since the search started"
    else:
        clock = complete["job"] if len(complete) else complete
        xlabel = "job"
    budgets = sorted(complete["budget"].unique()) if len(complete) else []
    colours = plt.cm.viridis([i / max(1, len(budgets) - 1) for i in range(len(budgets))])
    for budget, colour in zip(budgets, colours, strict=True):
        at = complete["budget"] == budget
        x = clock[at].to_numpy()
        y = complete.loc[at, "value"].to_numpy()
        order = x.argsort()
        x, y = x[order], y[order]
        ax.scatter(x, y, s=14, color=colour, alpha=0.6)
        best = np.maximum.accumulate(y) if direction == "maximize" else np.minimum.accumulate(y)
        ax.step(x, best, where="post", color=colour, label=f"budget {budget:g}: best so far")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("value (validation accuracy)" if direction == "maximize" else "value")
    ax.set_title(f"{len(frame)} jobs, {len(complete)} complete")
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
    frame: Any, out: str | Path, *, direction: str = "maximize", k: int = 10
) -> dict[str, Path]:
    """Write the report folder of a search's job table (see the module docstring).

    Args:
        frame: The ``jobs`` DataFrame of a :class:`~bonas.MultiFidelityResult`.
        out: The folder (created).
        direction: ``maximize`` or ``minimize``.
        k: Rows of the top-k table.

    Returns:
        The written files by name (``best_architecture`` only when a job completed).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    frame.to_csv(out / "jobs.csv", index=False)
    written["jobs"] = out / "jobs.csv"
    written["incumbent"] = _incumbent_plot(frame, out / "incumbent.png", direction)
    table = top_k(frame, k, direction)
    table.to_csv(out / "top_k.csv", index=False)
    written["top_k"] = out / "top_k.csv"
    shown = table.drop(columns=["architecture"])
    (out / "top_k.md").write_text(_markdown(shown))
    written["top_k_md"] = out / "top_k.md"
    if len(table):
        best = Architecture.from_json(table.loc[0, "architecture"])
        written["best_architecture"] = draw(
            best,
            out / "best_architecture.png",
            title=f"best: job {table.loc[0, 'job']}, value {table.loc[0, 'value']:.4f} "
            f"at budget {table.loc[0, 'budget']:g}",
        )
    return written


def export_best_model(
    frame: Any, out: str | Path, *, direction: str = "maximize"
) -> tuple[Path, Path]:
    """Write ``best_model.pt`` (the best job's ``state_dict``) and
    ``best_architecture.json`` to ``out``.

    The best job is the best complete one at the highest budget that has one; its
    ``checkpoint`` column names the training checkpoint it saved.

    Raises:
        BonasError: If no job completed, or the best one's checkpoint is missing.
    """
    import torch

    table = top_k(frame, 1, direction)
    if not len(table):
        raise BonasError("no job completed, so there is no best model to export")
    job = int(table.loc[0, "job"])
    row = frame[frame["job"] == job].iloc[0]
    checkpoint = row.get("checkpoint")
    if not isinstance(checkpoint, str) or not Path(checkpoint).is_file():
        raise BonasError(f"the checkpoint of the best job {job} is missing: {checkpoint!r}")
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / "best_model.pt"
    torch.save(state["model"], model_path)
    arch_path = out / "best_architecture.json"
    arch_path.write_text(Architecture.from_json(row["architecture"]).to_json())
    return model_path, arch_path

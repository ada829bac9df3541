"""Read a study without touching it: :func:`load_study` and what ``bonas report`` shows.

A study file (``study.db``, written by :class:`bonas.Study`, :func:`bonas.search` or,
for multi-fidelity searches, :func:`bonas.search_multifidelity` and ``bonas search``)
is opened read-only: SQLite's ``mode=ro`` while a writer may have it open (a search in
progress keeps its write-ahead log beside it), ``immutable=1`` when no log is there.
The study's write lock (:class:`~bonas.study.StudyLock`) is never taken, so a study can
be read while a search holds it, and nothing in the file changes.

Whether a search holds the study now is read from the operating system's table of
locks (``/proc/locks``, Linux); jobs a finished search left running are shown as
``interrupted`` (a resumed search runs them again). Where that table is missing, they
are shown as they are stored (``running``).
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bonas.architecture import Architecture
from bonas.exceptions import BonasError
from bonas.study import STUDY_FORMAT, STUDY_VERSION, StudyError

__all__ = [
    "StudySnapshot",
    "architecture_summary",
    "describe_search",
    "load_study",
    "read_study",
    "search_holds",
    "study_path",
]

_KINDS = {None: "single-fidelity", "multi-fidelity": "multi-fidelity"}
_COLUMNS = (
    "number, architecture, budget, state, value, failure, worker, created_at, started_at, "
    "finished_at, user_attrs"
)


@dataclass
class StudySnapshot:
    """A study as read at one moment.

    Attributes:
        path: The study file.
        kind: ``single-fidelity`` or ``multi-fidelity``.
        config: The searcher's (single-fidelity) or scheduler's (multi-fidelity)
            settings.
        metadata: The caller's notes (``bonas search`` keeps its settings under
            ``cli``).
        rows: One dict per trial or job, by number, ``user_attrs`` decoded.
        running: Whether a search holds the study now (``None``: unknown here).
        direction: ``maximize`` or ``minimize``.
        space: The space searched, by name.
        title: What was searched, in words.
    """

    path: Path
    kind: str
    config: dict[str, Any]
    metadata: dict[str, Any]
    rows: list[dict[str, Any]] = field(repr=False)
    running: bool | None
    direction: str
    space: str | None
    title: str

    @property
    def finished(self) -> bool:
        """No search holds the study (known): jobs left running were interrupted."""
        return self.running is False

    def jobs(self) -> Any:
        """The job table that :func:`bonas.report.write_report` takes (Unix times,
        ``job`` numbers; states as stored)."""
        from bonas._mfsearch import job_dataframe

        frame = job_dataframe(self.rows)
        if len(frame):
            frame["budget"] = frame["budget"].astype(float)
            frame["value"] = frame["value"].astype(float)
        return frame


def study_path(path: Any) -> Path:
    """The study file of ``path``: the file itself, or a search folder's ``study.db``.

    Raises:
        StudyError: If there is no study there.
    """
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, str | os.PathLike):
        raise StudyError(
            f"a study path is text or a path (str or os.PathLike), not {type(path).__name__}"
        )
    path = Path(path)
    if path.is_dir():
        if not (path / "study.db").is_file():
            raise StudyError(f"{path} is not a bonas search folder: it has no study.db")
        return path / "study.db"
    if not path.is_file():
        raise StudyError(f"no study at {path}: give a search folder or its study.db")
    return path


def read_study(path: str | os.PathLike[str]) -> StudySnapshot:
    """Read the study at ``path`` (a study file or a search folder) read-only.

    Raises:
        StudyError: If there is no study there, or it is not a readable bonas study.

    Example:
        >>> snapshot = read_study("bonas-search")  # doctest: +SKIP
        >>> snapshot.kind, len(snapshot.rows)  # doctest: +SKIP
        ('multi-fidelity', 31)
    """
    file = study_path(path)
    db = _connect_read_only(file)
    try:
        try:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        except (sqlite3.DatabaseError, ValueError) as err:
            raise StudyError(f"{file} is not a readable SQLite study ({err})") from None
        if meta.get("format") != STUDY_FORMAT:
            raise StudyError(f"{file} is not a bonas study (format {meta.get('format')!r})")
        if meta.get("version") != str(STUDY_VERSION):
            raise StudyError(
                f"{file} is a version {meta.get('version')} study; this bonas reads {STUDY_VERSION}"
            )
        if meta.get("kind") not in _KINDS:
            raise StudyError(
                f"{file} is a study of kind {meta.get('kind')!r} this bonas does not read"
            )
        try:
            config = json.loads(meta["config"])
            metadata = json.loads(meta.get("metadata") or "{}")
            raw = db.execute(f"SELECT {_COLUMNS} FROM trials ORDER BY number").fetchall()
        except (KeyError, TypeError, ValueError, sqlite3.DatabaseError) as err:
            raise StudyError(f"{file} is corrupt: {type(err).__name__}: {err}") from None
    finally:
        db.close()
    if not isinstance(config, dict) or not isinstance(metadata, dict):
        raise StudyError(f"{file} is corrupt: its settings are not JSON objects")
    keys = [name.strip() for name in _COLUMNS.split(",")]
    rows = []
    for values in raw:
        row = dict(zip(keys, values, strict=True))
        try:
            attrs = json.loads(row["user_attrs"] or "{}")
            if not isinstance(attrs, dict):
                raise TypeError("not a JSON object")
            if row["budget"] is not None:
                float(row["budget"])
            if row["value"] is not None:
                float(row["value"])
        except (TypeError, ValueError) as err:
            raise StudyError(f"{file} is corrupt: trial {row['number']}: {err}") from None
        row["user_attrs"] = attrs
        rows.append(row)
    kind = _KINDS[meta.get("kind")]
    searcher = config.get("searcher") if kind == "multi-fidelity" else config
    searcher = searcher if isinstance(searcher, dict) else {}
    direction = str(searcher.get("direction") or "maximize")
    space = searcher.get("space")
    cli = metadata.get("cli")
    if isinstance(cli, dict) and cli.get("space"):
        title = describe_search(cli)
    elif kind == "multi-fidelity":
        budgets = config.get("budgets") or []
        shown = "-".join(f"{float(b):g}" for b in budgets[:: max(1, len(budgets) - 1)])
        title = (
            f"{space or 'a'} space: value ({direction}), {config.get('scheduler', 'a scheduler')}"
            f" with the {searcher.get('optimizer', 'a')} searcher, budgets {shown or '?'}"
        )
    else:
        optimizer = searcher.get("optimizer", "a")
        title = f"{space or 'a'} space: value ({direction}), the {optimizer} searcher"
    return StudySnapshot(
        path=file,
        kind=kind,
        config=config,
        metadata=metadata,
        rows=rows,
        running=search_holds(file),
        direction=direction,
        space=space,
        title=title,
    )


def describe_search(settings: dict[str, Any]) -> str:
    """What a ``bonas search`` searched, from its settings (``SearchSettings.to_dict``).

    Example:
        >>> settings = {"space": "cnn", "dataset": "mnist5k", "scheduler": "bohb",
        ...             "searcher": "bonas", "min_budget": 1, "max_budget": 9}
        >>> for part in describe_search(settings).split(", "):
        ...     print(part)
        cnn space on mnist5k: validation accuracy (maximize)
        bohb with the bonas searcher
        budgets 1-9 epochs
    """
    low, high = settings.get("min_budget"), settings.get("max_budget")
    budgets = f", budgets {float(low):g}-{float(high):g} epochs" if low and high else ""
    return (
        f"{settings.get('space')} space on {settings.get('dataset')}: validation accuracy "
        f"(maximize), {settings.get('scheduler')} with the {settings.get('searcher')} "
        f"searcher{budgets}"
    )


def load_study(path: str | os.PathLike[str]) -> Any:
    """The trials (or jobs) of a study as a DataFrame, read without changing or locking
    the study.

    Args:
        path: A search output folder (``bonas-search``) or a study file (``.db``) of
            :func:`bonas.search`, :class:`bonas.Study`, :func:`bonas.search_multifidelity`
            or ``bonas search``. It may be in use by a running search.

    Returns:
        A ``pandas.DataFrame``, one row per trial (job) by number, with ``number``,
        ``state`` (``complete``, ``failed``, ``running``; ``interrupted`` for jobs a
        finished search left running; ``pending``), ``value``, ``budget`` (NaN for
        single-fidelity trials), ``arch`` (a short description), ``started`` and
        ``finished`` (local times), ``duration_s``, ``failure`` (why it failed),
        ``worker``; for multi-fidelity jobs also ``resume_from``, ``bracket``,
        ``rung``, ``attempts`` and the objective's outputs (``params``, ``flops``,
        ``epochs``...); then ``created`` and ``architecture`` (JSON, for
        :meth:`bonas.Architecture.from_json`). ``frame.attrs`` holds the study's
        ``path``, ``kind``, ``space``, ``direction``, ``title`` and whether a search is
        ``running`` it now.

    Raises:
        StudyError: If there is no study at ``path`` or it is not a readable bonas
            study; the message names the path.

    Example:
        >>> trials = load_study("bonas-search")  # doctest: +SKIP
        >>> trials.sort_values("value", ascending=False).head()  # doctest: +SKIP
    """
    import pandas as pd

    snapshot = read_study(path)
    jobs = snapshot.jobs()
    if not len(jobs):
        frame = pd.DataFrame(
            columns=["number", "state", "value", "budget", "arch", "started", "finished",
                     "duration_s", "failure", "worker", "created", "architecture"]
        )  # fmt: skip
    else:
        frame = jobs.rename(columns={"job": "number", "duration": "duration_s"})
        if snapshot.finished:
            frame["state"] = frame["state"].replace("running", "interrupted")
        frame["arch"] = [architecture_summary(text) for text in frame["architecture"]]
        for stored, shown in (("created_at", "created"), ("started_at", "started"),
                              ("finished_at", "finished")):  # fmt: skip
            frame[shown] = _local_times(frame.pop(stored))
        if snapshot.kind == "single-fidelity":
            frame = frame.drop(columns=["resume_from", "bracket", "rung", "attempts"])
        first = ["number", "state", "value", "budget", "arch", "started", "finished",
                 "duration_s", "failure", "worker"]  # fmt: skip
        last = ["created", "architecture"]
        middle = [c for c in frame.columns if c not in first and c not in last]
        frame = frame[first + middle + last]
    frame.attrs.update(
        path=str(snapshot.path),
        kind=snapshot.kind,
        space=snapshot.space,
        direction=snapshot.direction,
        title=snapshot.title,
        running=snapshot.running,
    )
    return frame


# -- pieces -----------------------------------------------------------------------------


def _connect_read_only(file: Path) -> sqlite3.Connection:
    """A read-only connection that leaves the file and its neighbours as they are."""
    uri = file.resolve().as_uri()
    live = file.with_name(file.name + "-wal").exists()  # a writer has it open (or crashed)
    tries = ["?mode=ro", "?mode=ro&immutable=1"] if live else ["?mode=ro&immutable=1"]
    for index, query in enumerate(tries):
        try:
            db = sqlite3.connect(uri + query, uri=True, check_same_thread=False)
            db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            return db
        except sqlite3.OperationalError as err:
            if index + 1 == len(tries):
                raise StudyError(f"{file} cannot be read ({err})") from None
        except sqlite3.DatabaseError as err:
            raise StudyError(f"{file} is not a readable SQLite study ({err})") from None
    raise AssertionError("unreachable")  # pragma: no cover


def search_holds(file: Path) -> bool | None:
    """Whether a process holds the study's write lock now, read from ``/proc/locks``
    without taking it; ``None`` where that cannot be known."""
    lock = file.with_name(file.name + ".lock")
    try:
        if not lock.exists():
            return False
        stat = lock.stat()
        table = Path("/proc/locks").read_text()
    except OSError:
        return None
    key = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    return any("FLOCK" in line.split() and key in line.split() for line in table.splitlines())


def _local_times(seconds: Any) -> Any:
    import pandas as pd

    values = [
        None if t is None or pd.isna(t) else datetime.fromtimestamp(float(t)).replace(microsecond=0)
        for t in seconds
    ]
    return pd.to_datetime(pd.Series(values, index=seconds.index, dtype=object))


def architecture_summary(text: str, limit: int = 72) -> str:
    """``7 layers: conv3(16) max-pool fc(64) softmax``: the hidden layers in order."""
    try:
        arch = Architecture.from_json(text)
    except (BonasError, TypeError, ValueError):
        return "?"
    ends = (arch.input_layer, arch.output_layer)
    parts = [
        arch.labels[i] + (f"({arch.units[i]})" if arch.units[i] else "")
        for i in arch.topological_order()
        if i not in ends
    ]
    shown = f"{arch.num_layers} layers: " + " ".join(parts)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."

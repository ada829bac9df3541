"""Durable studies: an :class:`~bonas.searchers.GPSearcher` journaled to SQLite.

Every change of a trial is written, in a transaction, before it is acted on: a trial is
in the database (with the optimizer state that produced it) before :meth:`Study.ask`
returns it, and its outcome before :meth:`Study.tell` returns. A study killed at any
point is resumed by :meth:`Study.load`: complete and failed trials are kept, trials
that were running are re-queued (the next ``ask`` hands them out again, with their
numbers), and the saved generator and hyperparameters make the resumed study propose
what an uninterrupted one would have.

The file uses SQLite's write-ahead log (``journal_mode=WAL``) and the standard library's
``sqlite3``. Tables: ``meta`` (format, version, the optimizer's configuration),
``trials`` (one row per trial) and ``optimizer_state`` (one row).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bonas.architecture import Architecture
from bonas.exceptions import BonasError, SerializationError
from bonas.searchers.gp import GPSearcher, stored_kernel_name
from bonas.spaces import get_space
from bonas.spaces.base import SearchSpace
from bonas.trial import Trial, TrialState

__all__ = [
    "STUDY_FORMAT",
    "STUDY_SCHEMA",
    "STUDY_VERSION",
    "Study",
    "StudyError",
    "StudyLock",
    "connect_study_file",
    "open_locked_study_file",
    "open_study_file",
]

#: The ``meta`` format of every bonas study file (single- and multi-fidelity).
STUDY_FORMAT = "bonas-study"
#: The study file layout's version.
STUDY_VERSION = 1
#: The tables every study file has (multi-fidelity journals add their own).
STUDY_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    number INTEGER PRIMARY KEY,
    architecture TEXT NOT NULL,
    budget REAL,
    state TEXT NOT NULL,
    value REAL,
    failure TEXT,
    worker TEXT,
    created_at REAL,
    started_at REAL,
    finished_at REAL,
    user_attrs TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS optimizer_state (id INTEGER PRIMARY KEY CHECK (id = 1),
                                            state TEXT NOT NULL);
"""


class StudyError(BonasError):
    """A study file is missing, corrupt, not a bonas study, or of another space."""


class Study:
    """A :class:`~bonas.searchers.GPSearcher` whose every step is journaled to a SQLite
    file (:attr:`searcher`).

    Use :meth:`create` for a new study and :meth:`load` to resume one.

    Example:
        >>> from bonas.spaces import NB201Space
        >>> study = Study.create("study.db", NB201Space(), seed=0)  # doctest: +SKIP
        >>> (trial,) = study.ask()                                  # doctest: +SKIP
        >>> study.tell(trial, 0.9)                                  # doctest: +SKIP
        >>> Study.load("study.db").trials[0].value                  # doctest: +SKIP
        0.9
    """

    def __init__(
        self,
        path: Path,
        searcher: GPSearcher,
        connection: sqlite3.Connection,
        lock: StudyLock | None = None,
    ) -> None:
        self.path = path
        self.searcher = searcher
        self._db = connection
        self._file_lock = lock
        # ask and tell from several threads: one at a time (the searcher and the file)
        self._lock = threading.RLock()
        self.requeued: list[int] = []

    @property
    def optimizer(self) -> GPSearcher:
        """Deprecated: the :attr:`searcher`."""
        warnings.warn("Study.optimizer is now Study.searcher", DeprecationWarning, stacklevel=2)
        return self.searcher

    # -- opening ------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | Path, space: SearchSpace, **optimizer_kwargs: Any) -> Study:
        """A new study at ``path`` (which must not exist yet)."""
        path = Path(path)
        if path.exists():
            raise StudyError(f"{path} already exists; use Study.load to resume it")
        optimizer = GPSearcher(space, **optimizer_kwargs)
        lock = StudyLock.acquire(path)
        db = connect_study_file(path)
        with db:
            db.executescript(STUDY_SCHEMA)
            db.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("format", STUDY_FORMAT), ("version", str(STUDY_VERSION)),
                ("config", json.dumps(optimizer.config())),
            ])  # fmt: skip
            db.execute(
                "INSERT INTO optimizer_state VALUES (1, ?)", (json.dumps(optimizer.state_dict()),)
            )
        return cls(path, optimizer, db, lock)

    @classmethod
    def load(cls, path: str | Path, space: SearchSpace | None = None) -> Study:
        """Resume the study at ``path``.

        Args:
            path: The study file.
            space: The space to search; by default rebuilt from the stored configuration.
                If given, it must match the stored one.

        Raises:
            StudyError: If the file is missing, corrupt, not a bonas study, from
                another space, or open in another process (or study object).
        """
        path = Path(path)
        db, meta, lock = open_locked_study_file(path, kind=None)
        try:
            return cls._restore(path, db, meta, lock, space)
        except (KeyError, TypeError, ValueError, AttributeError, sqlite3.DatabaseError) as err:
            # a tampered row or setting: anything the checks above did not name
            db.close()
            lock.release()
            raise StudyError(f"{path} is corrupt: {type(err).__name__}: {err}") from None
        except BaseException:
            db.close()
            lock.release()
            raise

    @classmethod
    def _restore(
        cls,
        path: Path,
        db: sqlite3.Connection,
        meta: dict[str, str],
        lock: StudyLock,
        space: SearchSpace | None,
    ) -> Study:
        try:
            config = json.loads(meta["config"])
            state = json.loads(db.execute("SELECT state FROM optimizer_state").fetchone()[0])
            rows = db.execute(
                "SELECT number, architecture, budget, state, value, failure, worker, "
                "created_at, started_at, finished_at, user_attrs FROM trials ORDER BY number"
            ).fetchall()
        except (KeyError, TypeError, json.JSONDecodeError, sqlite3.DatabaseError) as err:
            raise StudyError(f"{path} is corrupt: {err}") from None
        stored_space = get_space(config["space"], **config["space_config"])
        if space is None:
            space = stored_space
        elif space.name != config["space"] or space.config() != config["space_config"]:
            raise StudyError(
                f"{path} holds a study of space {config['space']} {config['space_config']}, "
                f"not {space.name} {space.config()}"
            )
        kwargs = {
            k: config[k]
            for k in (
                "seed",
                "acquisition",
                "direction",
                "n_initial",
                "num_candidates",
                "refit_every",
            )
        }
        if config["kernel"] != "custom":
            kwargs["kernel"] = stored_kernel_name(space, config["kernel"])
        # options added after a study's format was fixed: absent in older files
        for key in ("warping", "multi_fidelity", "noise"):
            if key in config:
                kwargs[key] = config[key]
        # a study from before screening scored every candidate exactly; it goes on so
        kwargs["screen_top"] = config.get("screen_top", 0)
        kwargs["screen_neighbours"] = config.get("screen_neighbours", 0)
        # and refitted at every observation
        kwargs["refit_growth"] = config.get("refit_growth", 0.0)
        optimizer = GPSearcher(space, **kwargs)
        study = cls(path, optimizer, db, lock)
        for row in rows:
            trial = _trial_from_row(row)
            if trial.number != len(optimizer.trials):
                raise StudyError(f"{path} is corrupt: trial numbers are not contiguous")
            if not trial.state.finished:
                study.requeued.append(trial.number)
            optimizer.trials.append(trial)
        optimizer.load_state_dict(state)
        return study

    # -- ask / tell -----------------------------------------------------------------

    @property
    def trials(self) -> list[Trial]:
        return self.searcher.trials

    @property
    def best_trial(self) -> Trial | None:
        return self.searcher.best_trial

    def ask(
        self, n: int = 1, budget: float | None = None, worker: str | None = None
    ) -> list[Trial]:
        """Propose ``n`` trials, re-queued ones first; each is stored before it is returned.

        Safe to call from several threads (one ask or tell at a time)."""
        with self._lock:
            return self._ask(n, budget, worker)

    def _ask(self, n: int, budget: float | None, worker: str | None) -> list[Trial]:
        handed: list[Trial] = []
        while self.requeued and len(handed) < n:
            trial = self.trials[self.requeued.pop(0)]
            trial.started_at = time.time()
            trial.worker = worker
            handed.append(trial)
        fresh = self.searcher.ask(n - len(handed), budget) if len(handed) < n else []
        for trial in fresh:
            trial.worker = worker
        with self._db:
            for trial in handed + fresh:
                self._write(trial)
            self._db.execute(
                "UPDATE optimizer_state SET state = ? WHERE id = 1",
                (json.dumps(self.searcher.state_dict()),),
            )
        return handed + fresh

    def tell(
        self,
        trial: Trial | int,
        value: float | None = None,
        *,
        failed: str | None = None,
        user_attrs: dict[str, Any] | None = None,
    ) -> Trial:
        """Record an outcome (see :meth:`GPSearcher.tell`); stored before returning.

        Safe to call from several threads."""
        with self._lock:
            record = self.searcher.tell(trial, value, failed=failed)
            if user_attrs:
                record.user_attrs.update(user_attrs)
            with self._db:
                self._write(record)
            return record

    def _write(self, trial: Trial) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO trials VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                trial.number,
                trial.architecture.to_json(),
                trial.budget,
                trial.state.value,
                trial.value,
                trial.failure,
                trial.worker,
                trial.created_at,
                trial.started_at,
                trial.finished_at,
                json.dumps(trial.user_attrs),
            ),
        )

    # -- results --------------------------------------------------------------------

    def to_dataframe(self):
        """One row per trial: number, state, value, incumbent, budget, failure, worker,
        timings and the architecture's JSON."""
        return trials_dataframe(self.trials, self.searcher.direction)

    def close(self) -> None:
        """Close the file and release it for other processes."""
        with self._lock:
            self._db.close()
            if self._file_lock is not None:
                self._file_lock.release()

    def __enter__(self) -> Study:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def trials_dataframe(trials: Sequence[Trial], direction: str = "maximize"):
    """A pandas DataFrame of trials, with the running incumbent."""
    import pandas as pd

    best: float | None = None
    rows = []
    for t in trials:
        if t.usable:
            better = best is None or (t.value > best if direction == "maximize" else t.value < best)
            best = t.value if better else best
        rows.append({
            "number": t.number, "state": t.state.value, "value": t.value, "incumbent": best,
            "budget": t.budget, "failure": t.failure, "worker": t.worker,
            "created_at": t.created_at, "started_at": t.started_at,
            "finished_at": t.finished_at, "duration": t.duration,
            "num_layers": t.architecture.num_layers, "architecture": t.architecture.to_json(),
        })  # fmt: skip
    return pd.DataFrame(rows)


def open_study_file(
    path: Path, kind: str | None = None
) -> tuple[sqlite3.Connection, dict[str, str]]:
    """A bonas study file's connection and ``meta`` table.

    Args:
        path: The file.
        kind: ``None`` for a single-fidelity study (:class:`Study`), ``multi-fidelity``
            for a scheduler's job journal.

    Raises:
        StudyError: If the file is missing, not SQLite, not a bonas study, of the other
            kind, or of another format version.
    """
    if not path.is_file():
        raise StudyError(f"no study file at {path}")
    try:
        db = connect_study_file(path)
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    except (sqlite3.DatabaseError, ValueError) as err:  # ValueError: text that is not UTF-8
        raise StudyError(f"{path} is not a readable SQLite study ({err})") from None
    if meta.get("format") != STUDY_FORMAT:
        raise StudyError(f"{path} is not a bonas study (format {meta.get('format')!r})")
    if meta.get("kind") != kind:
        how = {
            None: "bonas.search or bonas.Study.load",
            "multi-fidelity": "bonas.search_multifidelity(..., storage=path) or bonas search "
            "--resume",
        }
        found = meta.get("kind") or "single-fidelity"
        raise StudyError(
            f"{path} is a {found} study; resume it with {how.get(meta.get('kind'), 'its tool')}"
        )
    if meta.get("version") != str(STUDY_VERSION):
        raise StudyError(
            f"{path} is a version {meta.get('version')} study; this bonas reads {STUDY_VERSION}"
        )
    return db, meta


class StudyLock:
    """An exclusive lock on a study file, held from opening the study to closing it.

    A second process (or a second study object in this one) that opens the same file
    gets a :class:`StudyError` naming the holder, instead of evaluating the same trials
    again. The lock is an advisory ``flock`` on a file beside the study
    (``<study>.lock``, which records the holder's process, host and start time), so the
    operating system releases it when its process dies, however it dies. Where
    ``fcntl`` is missing (Windows) there is no lock.

    Example:
        >>> lock = StudyLock.acquire(Path("study.db"))  # doctest: +SKIP
        >>> lock.release()  # doctest: +SKIP
    """

    def __init__(self, path: Path, handle: Any) -> None:
        self.path = path
        self._handle = handle

    @classmethod
    def acquire(cls, study_path: Path) -> StudyLock:
        """Take the lock of ``study_path``.

        Raises:
            StudyError: If another study object holds it, naming its process.
        """
        path = study_path.with_name(study_path.name + ".lock")
        try:
            import fcntl
        except ImportError:  # no advisory locks on this platform
            return cls(path, None)
        handle = open(path, "a+")  # noqa: SIM115 - held open while the study is
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise StudyError(
                f"{study_path} is in use by {holder}; wait for that search to end or stop it"
            ) from None
        handle.seek(0)
        handle.truncate()
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        handle.write(f"process {os.getpid()} on {socket.gethostname()} since {started}")
        handle.flush()
        return cls(path, handle)

    def release(self) -> None:
        """Let the study be opened elsewhere (closing the lock file releases it)."""
        if self._handle is not None and not self._handle.closed:
            self._handle.close()


def open_locked_study_file(
    path: Path, kind: str | None = None
) -> tuple[sqlite3.Connection, dict[str, str], StudyLock]:
    """:func:`open_study_file`, with the study's :class:`StudyLock` taken.

    Raises:
        StudyError: As :func:`open_study_file`, or if another process holds the study.
    """
    db, meta = open_study_file(path, kind=kind)
    try:
        return db, meta, StudyLock.acquire(path)
    except StudyError:
        db.close()
        raise


def connect_study_file(path: Path) -> sqlite3.Connection:
    """A connection to a study file, in WAL mode with full syncs (each write is durable
    before the caller acts on it), usable from the thread that did not open it."""
    db = sqlite3.connect(path, isolation_level="DEFERRED", check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    return db


def _trial_from_row(row: Sequence[Any]) -> Trial:
    try:
        architecture = Architecture.from_json(row[1])
        state = TrialState(row[3])
        attrs = json.loads(row[10])
    except (SerializationError, ValueError) as err:
        raise StudyError(f"trial {row[0]} is corrupt: {err}") from None
    return Trial(
        number=int(row[0]),
        architecture=architecture,
        budget=row[2],
        state=state,
        value=row[4],
        failure=row[5],
        worker=row[6],
        created_at=row[7],
        started_at=row[8],
        finished_at=row[9],
        user_attrs=attrs,
    )

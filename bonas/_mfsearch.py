"""``bonas.search_multifidelity``: Hyperband/BOHB/ASHA searches with real evaluations.

The scheduler (:mod:`bonas.schedulers`) decides when and at which budget, the searcher
which architecture, and the executor (:mod:`bonas.executors`) where. Every job is
journaled to a SQLite study before it runs and its outcome before the scheduler sees
it, so a killed search resumes where it stopped (the same call, or ``bonas search
--resume``): the journal's issues and reports are replayed into a fresh scheduler,
the searcher's saved state is restored, and jobs that were running are run again.

Faults: a job whose worker dies, that runs out of memory or past ``timeout_per_job`` is
retried up to ``retries`` times and then recorded as failed; any other exception of the
objective fails the job at once (it would fail again). Either way the search goes on.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from bonas.architecture import Architecture
from bonas.exceptions import BonasError
from bonas.executors import Executor, InProcessExecutor, WorkerDied
from bonas.schedulers import (
    Job,
    Scheduler,
    SchedulerExhausted,
    curve_at_budgets,
    make_scheduler,
    rung_budgets,
    searcher_options_for,
)
from bonas.searchers.base import Searcher
from bonas.searchers.gp import stored_kernel_name
from bonas.spaces.base import SearchSpace
from bonas.study import (
    STUDY_FORMAT,
    STUDY_SCHEMA,
    STUDY_VERSION,
    StudyError,
    StudyLock,
    connect_study_file,
    open_locked_study_file,
)
from bonas.trial import finite_value

__all__ = ["JobJournal", "MultiFidelityResult", "search_multifidelity"]

#: The ``meta`` kind of a multi-fidelity study (single-fidelity studies have none).
KIND = "multi-fidelity"

_EVENTS = """
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL,
                                   job INTEGER NOT NULL);
"""

#: Objective signature: ``objective(architecture, budget, resume_from)`` returns the
#: value, or a mapping with a ``value`` and anything else to keep (JSON-compatible).
Objective = Callable[[Architecture, float, "float | None"], "float | Mapping[str, Any]"]


class JobJournal:
    """The SQLite journal of a scheduler's jobs (a study of kind ``multi-fidelity``).

    Tables: ``meta`` (format, version, kind, the scheduler's configuration and any
    caller metadata), ``trials`` (one row per job: its architecture, budget, state,
    value, failure, timings and ``user_attrs`` with the resume budget, bracket, rung,
    attempts and the objective's extra outputs), ``events`` (issues and reports in the
    order the scheduler saw them) and ``optimizer_state`` (the searcher's state and the
    seconds spent so far).
    """

    def __init__(
        self,
        path: Path | None,
        db: sqlite3.Connection,
        config: dict[str, Any],
        lock: StudyLock | None = None,
    ) -> None:
        self.path = path
        self._db = db
        self.config = config
        self.spent_s = 0.0
        self._lock = lock

    @classmethod
    def create(
        cls,
        path: str | Path | None,
        config: dict[str, Any],
        metadata: dict[str, Any] | None = None,
    ) -> JobJournal:
        """A new journal at ``path``, or in memory when ``path`` is None."""
        lock = None
        if path is None:
            db = sqlite3.connect(":memory:", check_same_thread=False)
        else:
            path = Path(path)
            if path.exists():
                raise StudyError(f"{path} already exists")
            path.parent.mkdir(parents=True, exist_ok=True)
            lock = StudyLock.acquire(path)
            db = connect_study_file(path)
        with db:
            db.executescript(STUDY_SCHEMA + _EVENTS)
            db.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [
                    ("format", STUDY_FORMAT),
                    ("version", str(STUDY_VERSION)),
                    ("kind", KIND),
                    ("config", json.dumps(config)),
                    ("metadata", json.dumps(metadata or {})),
                ],
            )
            db.execute("INSERT INTO optimizer_state VALUES (1, ?)", (json.dumps({}),))
        return cls(path, db, config, lock)  # type: ignore[arg-type]

    @classmethod
    def open(cls, path: str | Path) -> JobJournal:
        """An existing journal.

        Raises:
            StudyError: If the file is missing, corrupt, not a multi-fidelity study, or
                open in another process.
        """
        path = Path(path)
        db, meta, lock = open_locked_study_file(path, kind=KIND)
        try:
            config = json.loads(meta["config"])
        except (KeyError, TypeError, ValueError) as err:  # ValueError: bad JSON or UTF-8
            db.close()
            lock.release()
            raise StudyError(f"{path} is corrupt: {err}") from None
        journal = cls(path, db, config, lock)
        try:
            journal.check()
        except StudyError:
            journal.close()
            raise
        journal.spent_s = float(journal.state().get("spent_s", 0.0))
        return journal

    def check(self) -> None:
        """Read everything a resume reads, so that a tampered row is named now.

        Raises:
            StudyError: If a setting, the state or a job row is not what this bonas
                wrote.
        """
        try:
            state, metadata = self.state(), self.metadata()
            if not isinstance(self.config, dict) or not isinstance(state, dict):
                raise TypeError("the settings and the state must be JSON objects")
            if not isinstance(metadata, dict) or not isinstance(state.get("searcher", {}), dict):
                raise TypeError("the metadata and the searcher state must be JSON objects")
            float(state.get("spent_s", 0.0))
            for row in self.jobs():
                if not isinstance(row["user_attrs"], dict):
                    raise TypeError(f"job {row['number']}'s attributes are not a JSON object")
                if row["state"] not in ("running", "complete", "failed"):
                    raise ValueError(f"job {row['number']} has state {row['state']!r}")
                float(row["budget"])
                if row["value"] is not None:
                    float(row["value"])
                if not isinstance(row["architecture"], str):
                    raise TypeError(f"job {row['number']}'s architecture is not JSON text")
            for kind, number in self.events():
                if kind not in ("issue", "report") or not isinstance(number, int):
                    raise ValueError(
                        f"the event ({kind!r}, {number!r}) is not one this bonas writes"
                    )
        except StudyError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, sqlite3.DatabaseError) as err:
            raise StudyError(f"{self.path} is corrupt: {type(err).__name__}: {err}") from None

    def metadata(self) -> dict[str, Any]:
        """The caller's notes (the CLI's settings)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'metadata'").fetchone()
        return json.loads(row[0]) if row else {}

    def set_metadata(self, metadata: dict[str, Any]) -> None:
        """Replace the caller's notes (a resumed CLI search keeps its latest settings)."""
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('metadata', ?)", (json.dumps(metadata),)
            )

    def state(self) -> dict[str, Any]:
        try:
            return json.loads(self._db.execute("SELECT state FROM optimizer_state").fetchone()[0])
        except (TypeError, json.JSONDecodeError, sqlite3.DatabaseError) as err:
            raise StudyError(f"{self.path} is corrupt: {err}") from None

    def jobs(self) -> list[dict[str, Any]]:
        """Every job row, by number, with ``user_attrs`` decoded."""
        try:
            rows = self._db.execute(
                "SELECT number, architecture, budget, state, value, failure, worker, "
                "created_at, started_at, finished_at, user_attrs FROM trials ORDER BY number"
            ).fetchall()
        except sqlite3.DatabaseError as err:
            raise StudyError(f"{self.path} is corrupt: {err}") from None
        keys = ("number", "architecture", "budget", "state", "value", "failure", "worker")
        keys += ("created_at", "started_at", "finished_at", "user_attrs")
        jobs = [dict(zip(keys, row, strict=True)) for row in rows]
        for job in jobs:
            job["user_attrs"] = json.loads(job["user_attrs"])
        return jobs

    def events(self) -> list[tuple[str, int]]:
        return self._db.execute("SELECT kind, job FROM events ORDER BY seq").fetchall()

    # -- writes -----------------------------------------------------------------------

    def issue(self, job: Job, searcher_state: dict[str, Any]) -> None:
        attrs = {"resume_from": job.resume_from, "bracket": job.bracket, "rung": job.rung}
        attrs["attempts"] = 0
        now = time.time()
        with self._db:
            self._db.execute(
                "INSERT INTO trials VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job.id, job.architecture.to_json(), job.budget, "running", None, None, None,
                 now, None, None, json.dumps(attrs)),
            )  # fmt: skip
            self._db.execute("INSERT INTO events (kind, job) VALUES ('issue', ?)", (job.id,))
            self._save_state(searcher_state)

    def started(self, job: Job, attempt: int, worker: str) -> None:
        with self._db:
            attrs = self._attrs(job)
            attrs["attempts"] = attempt
            self._db.execute(
                "UPDATE trials SET started_at = ?, worker = ?, user_attrs = ? WHERE number = ?",
                (time.time(), worker, json.dumps(attrs), job.id),
            )
            self._save_state(None)

    def retried(self, job: Job, reason: str) -> None:
        with self._db:
            attrs = self._attrs(job)
            attrs.setdefault("faults", []).append(reason)
            self._db.execute(
                "UPDATE trials SET user_attrs = ? WHERE number = ?", (json.dumps(attrs), job.id)
            )

    def attempts(self, job: Job) -> int:
        """How many times ``job`` was started (interrupted attempts included)."""
        return int(self._attrs(job).get("attempts", 0))

    def save_time(self) -> None:
        with self._db:
            self._save_state(None)

    def _attrs(self, job: Job) -> dict[str, Any]:
        row = self._db.execute("SELECT user_attrs FROM trials WHERE number = ?", (job.id,))
        return json.loads(row.fetchone()[0])

    def report(
        self, job: Job, value: float | None, failure: str | None, extra: dict[str, Any]
    ) -> None:
        with self._db:
            attrs = self._attrs(job)
            attrs.update(extra)
            self._db.execute(
                "UPDATE trials SET state = ?, value = ?, failure = ?, finished_at = ?, "
                "user_attrs = ? WHERE number = ?",
                ("failed" if failure else "complete", value, failure, time.time(),
                 json.dumps(attrs, default=str), job.id),
            )  # fmt: skip
            self._db.execute("INSERT INTO events (kind, job) VALUES ('report', ?)", (job.id,))
            self._save_state(None)

    def _save_state(self, searcher_state: dict[str, Any] | None) -> None:
        state = self.state()
        if searcher_state is not None:
            state["searcher"] = searcher_state
        state["spent_s"] = self.spent_s
        self._db.execute(
            "UPDATE optimizer_state SET state = ? WHERE id = 1", (json.dumps(state, default=str),)
        )

    def close(self) -> None:
        """Close the journal and release it for other processes."""
        self._db.close()
        if self._lock is not None:
            self._lock.release()


@dataclass
class MultiFidelityResult:
    """What :func:`search_multifidelity` returns.

    Attributes:
        best_architecture: The best result's architecture at the highest budget that
            has a result (``None`` if nothing completed).
        best_value: Its value.
        best_budget: That budget.
        best_job: Its job number.
        jobs: One row per job (``job_dataframe``): architecture JSON, budget, resume
            budget, bracket, rung, state, value, failure, attempts, timings, extras.
        scheduler: The scheduler, for inspection.
        storage: The journal's path, when one was kept.
        stopped_by: ``time``, ``jobs``, ``exhausted`` or ``done``.
    """

    best_architecture: Architecture | None
    best_value: float | None
    best_budget: float | None
    best_job: int | None
    jobs: Any
    scheduler: Scheduler
    storage: Path | None
    stopped_by: str


def _retryable(error: BaseException) -> bool:
    """Faults of the worker rather than of the architecture: worth another try."""
    if isinstance(error, WorkerDied | MemoryError | TimeoutError):
        return True
    # torch.cuda.OutOfMemoryError and friends, without importing torch here
    return type(error).__name__ == "OutOfMemoryError" or "out of memory" in str(error).lower()


def _outcome(value: Any) -> tuple[float | None, str | None, dict[str, Any]]:
    extra: dict[str, Any] = {}
    if isinstance(value, Mapping):
        extra = {k: v for k, v in value.items() if k != "value"}
        if "value" not in value:
            return None, f"the objective returned a mapping without 'value': {sorted(value)}", {}
        value = value["value"]
    number, failure = finite_value(value)
    return number, failure, extra


def _passed_curve(
    job: Job, extra: Mapping[str, Any], budgets: Sequence[float]
) -> dict[float, float]:
    """The values at lower rung budgets in the objective's ``val_curve`` extra (the
    validation value after each epoch), if it gave one as a list."""
    val_curve = extra.get("val_curve")
    if not isinstance(val_curve, list | tuple):
        return {}
    return curve_at_budgets(val_curve, job, budgets)


def _better(a: float, b: float, direction: str) -> bool:
    return a > b if direction == "maximize" else a < b


def search_multifidelity(
    objective: Objective,
    space: SearchSpace,
    *,
    scheduler: str | Scheduler = "bohb",
    searcher: str | Searcher | None = None,
    min_budget: float | None = None,
    max_budget: float | None = None,
    eta: float | None = None,
    budgets: list[float] | None = None,
    executor: Executor | None = None,
    storage: str | Path | None = None,
    time_budget: float | None = None,
    max_jobs: int | None = None,
    retries: int = 2,
    timeout_per_job: float | None = None,
    seed: int | None = None,
    direction: str | None = None,
    searcher_options: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    progress: bool = True,
) -> MultiFidelityResult:
    """Search ``space`` with a multi-fidelity scheduler, evaluating on ``executor``.

    Args:
        objective: ``objective(architecture, budget, resume_from)``: trains (or looks
            up) ``architecture`` to ``budget``, continuing from its checkpoint at
            ``resume_from`` when that is not ``None``; returns the value or a mapping
            with ``value`` (extras are kept in the journal). An extra ``val_curve``,
            the list of values after each epoch trained in this call, tells the
            scheduler the values at the rung budgets the job passed
            (:func:`~bonas.schedulers.curve_at_budgets`), which it measures its budgets
            with. :class:`bonas.evaluation.TrainingObjective` is one.
        space: The search space.
        scheduler: A fresh :class:`~bonas.schedulers.Scheduler` (``BOHB(GPSearcher(space),
            min_budget=1, max_budget=9)``), which brings its searcher, budgets, seed and
            direction, so none of ``searcher``, ``searcher_options``, ``min_budget``,
            ``max_budget``, ``eta``, ``budgets``, ``seed`` or ``direction`` may be given
            with it; or a name, ``hyperband``, ``bohb`` or ``asha``, built from those.
        searcher: With a scheduler's name: a :class:`~bonas.searchers.Searcher` (which
            brings its seed and direction), or a name for
            :func:`~bonas.searchers.make_searcher` (``bonas``, the GP, by default; ``re``,
            ``rs`` or ``ls``). The GP built by name models every budget's results
            (``multi_fidelity=True``) when there are several budgets
            (:func:`~bonas.schedulers.searcher_options_for`).
        min_budget, max_budget, eta: Hyperband's rung budgets (1, 9 and 3 by default),
            or ``budgets`` instead.
        executor: Where jobs run; one in-process worker by default. It is not closed.
        storage: A SQLite journal; an existing one is resumed (the settings must match).
        time_budget: Seconds of search in all (resumed runs included). When it runs out,
            running jobs are stopped and stay pending in the journal (an executor that
            cannot stop them, the in-process one, lets them finish and records them).
        max_jobs: Jobs to issue in all; the search ends when they have reported.
        retries: Further attempts of a job whose worker died, ran out of memory or
            timed out.
        timeout_per_job: Seconds after which a job is stopped (and retried).
        seed: Seed of the scheduler and of a searcher built by name (0 by default).
        direction: ``maximize`` (the default) or ``minimize``; a searcher object's own.
        searcher_options: Constructor keywords of a searcher built by name
            (``{"multi_fidelity": False}``: the GP models one budget's results).
        metadata: JSON-compatible notes kept in the journal (the CLI keeps its options
            there); a resume replaces them.
        progress: Show a progress bar.

    Raises:
        BonasError: For settings that cannot work (no stop at all, negative retries).
        StudyError: If ``storage`` holds a study with other settings.

    Example:
        >>> from bonas.spaces import NB201Space
        >>> space = NB201Space()
        >>> def objective(arch, budget, resume_from):
        ...     return space.to_string(arch).count("conv_3x3") * budget / 9
        >>> result = search_multifidelity(objective, space, searcher="rs", max_jobs=20,
        ...                               progress=False)
        >>> result.best_budget, result.stopped_by
        (9.0, 'jobs')
    """
    if time_budget is None and max_jobs is None:
        raise BonasError("give the search a stop: time_budget (seconds) or max_jobs")
    if retries < 0:
        raise BonasError(f"retries must be >= 0, got {retries}")
    for name, limit in (("time_budget", time_budget), ("timeout_per_job", timeout_per_job)):
        if limit is not None and not (isinstance(limit, int | float) and 0 < limit < math.inf):
            raise BonasError(f"{name} must be a positive number of seconds, got {limit!r}")
    if max_jobs is not None and max_jobs < 1:
        raise BonasError(f"max_jobs must be at least 1, got {max_jobs}")
    path = None if storage is None else Path(storage)
    stored = JobJournal.open(path) if path is not None and path.exists() else None
    try:
        if stored is not None and not isinstance(scheduler, Scheduler):
            searcher_options = _stored_searcher_options(stored, space, searcher, searcher_options)
        sched = _build_scheduler(
            scheduler, space, searcher, searcher_options,
            min_budget=min_budget, max_budget=max_budget, eta=eta, budgets=budgets,
            seed=seed, direction=direction,
            stored_settings=_stored_scheduler_settings(stored, scheduler),
        )  # fmt: skip
    except BonasError:
        if stored is not None:
            stored.close()
        raise
    direction = sched.direction
    config = json.loads(json.dumps(sched.config()))

    pending: list[Job] = []
    if stored is None:
        journal = JobJournal.create(path, config, metadata)  # in memory without storage
    else:
        journal = stored
        try:
            if journal.config != config:
                differ = sorted(
                    k for k in set(config) | set(journal.config)
                    if config.get(k) != journal.config.get(k)
                )  # fmt: skip
                raise StudyError(
                    f"{path} holds a search with other settings ({', '.join(differ)}): stored "
                    f"{ {k: journal.config.get(k) for k in differ} }, given "
                    f"{ {k: config.get(k) for k in differ} }"
                )
            pending = _replay(journal, sched)
            if metadata is not None:
                journal.set_metadata(metadata)
        except BonasError:
            journal.close()
            raise

    own_executor = executor is None
    executor = executor or InProcessExecutor(1)
    try:
        stopped_by = JobLoop(
            objective, sched, executor, journal, pending,
            time_budget=time_budget, max_jobs=max_jobs, retries=retries,
            timeout_per_job=timeout_per_job, progress=progress,
        ).run()  # fmt: skip
    finally:
        if own_executor:
            executor.close()
    frame = job_dataframe(journal.jobs())
    journal.close()
    from bonas.report import top_k

    leader = top_k(frame, 1, direction)  # the best at the highest budget with a result
    best = leader.iloc[0].to_dict() if len(leader) else None
    return MultiFidelityResult(
        best_architecture=Architecture.from_json(best["architecture"]) if best else None,
        best_value=float(best["value"]) if best else None,
        best_budget=float(best["budget"]) if best else None,
        best_job=int(best["job"]) if best else None,
        jobs=frame,
        scheduler=sched,
        storage=journal.path,
        stopped_by=stopped_by,
    )


def _stored_searcher_options(
    journal: JobJournal,
    space: SearchSpace,
    searcher: str | Searcher | None,
    searcher_options: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """``searcher_options`` for resuming ``journal``'s search with a searcher named by
    the caller: where the caller left an option to its default, what the journal's
    search ran with wins over today's default, so that a search resumes as it ran.

    * A journal written before GP searchers resolved ``kernel="auto"`` stores ``auto``,
      which then meant the space's own kernel: the search resumes with that kernel (the
      journal's configuration is read as naming it).
    * A journal written before the bonas GP modelled every budget by default stores
      ``multi_fidelity: false``: it resumes with one budget's model.
    """
    stored = journal.config.get("searcher") if isinstance(journal.config, dict) else None
    if not isinstance(stored, dict) or searcher not in (None, "bonas"):
        return searcher_options  # the caller chose: a clash is reported as one
    options = dict(searcher_options or {})
    if stored.get("kernel") == "auto":
        kernel = stored_kernel_name(space, "auto")
        stored["kernel"] = kernel
        if options.get("kernel", "auto") == "auto":
            options["kernel"] = kernel
    if isinstance(stored.get("multi_fidelity"), bool):
        options.setdefault("multi_fidelity", stored["multi_fidelity"])
    return options or searcher_options


def _stored_scheduler_settings(
    journal: JobJournal | None, scheduler: str | Scheduler
) -> dict[str, Any]:
    """Scheduler options for resuming ``journal``'s search with the scheduler it ran
    (named by the caller), where today's defaults differ from what it ran with: a
    Hyperband or BOHB search from before those schedulers adapted their lowest budget
    (no ``adapt`` in its configuration) resumes without adapting, one from before they
    continued stopped architectures (no ``continue_stopped``) without continuing them,
    a BOHB search from before ``random_fraction`` was 0 by default resumes with the
    fraction it had, and a search from before an adapting Hyperband ran its least
    aggressive bracket first resumes in the bracket order it stored."""
    if journal is None or not isinstance(scheduler, str) or not isinstance(journal.config, dict):
        return {}
    if journal.config.get("scheduler") != scheduler:
        return {}  # another scheduler: the configurations' clash is reported as one
    settings: dict[str, Any] = {}
    if scheduler in ("hyperband", "bohb") and "adapt" not in journal.config:
        settings["adapt"] = False
    if scheduler in ("hyperband", "bohb") and "continue_stopped" not in journal.config:
        settings["continue_stopped"] = False
    order = journal.config.get("brackets")
    if (
        scheduler in ("hyperband", "bohb")
        and isinstance(order, list)
        and order
        and all(type(s) is int and s >= 0 for s in order)
    ):
        settings["brackets"] = order
    fraction = journal.config.get("random_fraction")
    if isinstance(fraction, int | float) and 0 <= fraction <= 1:
        settings["random_fraction"] = float(fraction)
    return settings


def _build_scheduler(
    scheduler: str | Scheduler,
    space: SearchSpace,
    searcher: str | Searcher | None,
    searcher_options: dict[str, Any] | None,
    **settings: Any,
) -> Scheduler:
    """The scheduler :func:`search_multifidelity` was given, or the one it names, around
    the searcher given or named, with ``settings`` (min/max budget, eta, budgets, seed,
    direction; ``None`` where not given; ``stored_settings``: scheduler options a resumed
    journal ran with)."""
    stored_settings = settings.pop("stored_settings", None)
    if isinstance(scheduler, Scheduler):
        given = {"searcher": searcher, "searcher_options": searcher_options, **settings}
        clashes = sorted(name for name, value in given.items() if value is not None)
        if clashes:
            raise BonasError(
                f"a scheduler object brings its own settings; do not also give {clashes}"
            )
        if scheduler.jobs:
            raise BonasError(
                f"the scheduler has already issued {len(scheduler.jobs)} jobs; give a fresh one"
            )
        if scheduler.searcher.space is not space:
            raise BonasError("the scheduler's searcher searches another space object")
        return scheduler
    if not isinstance(scheduler, str):
        raise BonasError(f"scheduler must be a Scheduler or a name, got {type(scheduler).__name__}")
    seed = 0 if settings["seed"] is None else settings["seed"]
    if isinstance(searcher, Searcher):
        if searcher_options is not None:
            raise BonasError("searcher_options are for a searcher given by name, not an object")
        if searcher.space is not space:
            raise BonasError("the searcher searches another space object")
        if settings["direction"] not in (None, searcher.direction):
            raise BonasError(
                f"direction={settings['direction']!r} differs from the searcher's "
                f"{searcher.direction!r}"
            )
        searcher_object = searcher
    eta = 3.0 if settings["eta"] is None else settings["eta"]
    rung_options: dict[str, Any] = {"eta": eta, "seed": seed, **(stored_settings or {})}
    if settings["budgets"] is not None:
        rung_options["budgets"] = settings["budgets"]
    else:
        low, high = settings["min_budget"], settings["max_budget"]
        rung_options["min_budget"] = 1.0 if low is None else low
        rung_options["max_budget"] = 9.0 if high is None else high
    budgets = rung_budgets(
        rung_options.get("min_budget"), rung_options.get("max_budget"), eta,
        rung_options.get("budgets"),
    )  # fmt: skip
    if not isinstance(searcher, Searcher):
        from bonas.searchers import make_searcher

        name = searcher or "bonas"
        searcher_object = make_searcher(
            name, space, seed=seed, direction=settings["direction"] or "maximize",
            **searcher_options_for(name, budgets, searcher_options),
        )  # fmt: skip
    stored_order = rung_options.get("brackets")
    if stored_order is not None and max(stored_order) >= len(budgets):
        del rung_options["brackets"]  # other budgets: the configurations' clash says so
    return make_scheduler(scheduler, searcher_object, **rung_options)


def _replay(journal: JobJournal, scheduler: Scheduler) -> list[Job]:
    """Rebuild ``scheduler`` from the journal; returns the jobs that never reported."""
    rows = {row["number"]: row for row in journal.jobs()}
    issued: dict[int, Job] = {}
    try:
        for kind, number in journal.events():
            row = rows[number]
            if kind == "issue":
                arch = Architecture.from_json(row["architecture"])
                issued[number] = scheduler.replay_issue(arch, row["budget"])
            elif row["state"] == "failed":
                scheduler.report(issued[number], failed=row["failure"] or "failed")
            else:
                job = issued[number]
                curve = _passed_curve(job, row["user_attrs"], scheduler.budgets)
                scheduler.report(job, row["value"], curve=curve)
    except (KeyError, TypeError, ValueError, BonasError) as err:
        raise StudyError(f"{journal.path} cannot be resumed: {err}") from None
    state = journal.state().get("searcher")
    if state is not None:
        try:
            scheduler.searcher.load_state_dict(state)
        except BonasError as err:
            raise StudyError(f"{journal.path} cannot be resumed: {err}") from None
    reported = {number for kind, number in journal.events() if kind == "report"}
    return [job for number, job in sorted(issued.items()) if number not in reported]


class JobLoop:
    """The job loop of :func:`search_multifidelity`: start jobs on free workers, collect
    their results, retry worker faults, stop on time, jobs or exhaustion.

    Call order::

        loop = JobLoop(objective, scheduler, executor, journal, pending, time_budget=...,
                       max_jobs=..., retries=2, timeout_per_job=None, progress=True)
        stopped_by = loop.run()   # "done", "time", "jobs" or "exhausted"

    Every job is journaled when issued and when started, and its outcome before the
    scheduler sees it. Jobs still running when the time is up stay pending in the
    journal (an executor that cannot stop them lets them finish, and records them).
    """

    def __init__(
        self,
        objective: Objective,
        scheduler: Scheduler,
        executor: Executor,
        journal: JobJournal,
        pending: list[Job],
        *,
        time_budget: float | None,
        max_jobs: int | None,
        retries: int,
        timeout_per_job: float | None,
        progress: bool,
    ) -> None:
        self.objective = objective
        self.scheduler = scheduler
        self.executor = executor
        self.journal = journal
        self.time_budget = time_budget
        self.max_jobs = max_jobs
        self.retries = retries
        self.timeout_per_job = timeout_per_job
        self._spent_before = journal.spent_s
        self._started = time.monotonic()
        self.deadline = (
            None
            if time_budget is None
            else self._started + max(0.0, time_budget - self._spent_before)
        )
        # jobs to (re)start, with their attempts so far (a resumed job's interrupted
        # attempts count); the running ones with theirs
        self.queue: list[tuple[Job, int]] = [(job, journal.attempts(job)) for job in pending]
        self.running: dict[Future, tuple[Job, int, float]] = {}
        self.exhausted = False
        self._bar = tqdm(
            total=round(time_budget) if time_budget else max_jobs,
            initial=(
                round(min(self._spent_before, time_budget)) if time_budget else len(scheduler.jobs)
            ),
            disable=not progress,
            desc="bonas search",
            unit="s" if time_budget else "job",
            # seconds of a time budget go by at one a second: no rate to show
            bar_format=(
                "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} s [{elapsed}<{remaining}"
                "{postfix}]"
                if time_budget
                else None
            ),
        )

    def run(self) -> str:
        """Run jobs until a stop; returns why it stopped.

        On Ctrl-C (``KeyboardInterrupt``) each running job's journal entry notes its
        interrupted attempt before the interrupt goes on: a resumed search starts the
        job again as its next attempt.
        """
        try:
            return self._run()
        except KeyboardInterrupt:
            for job, attempts, _start in self.running.values():
                self.journal.retried(job, f"attempt {attempts}: interrupted (Ctrl-C)")
            self.journal.save_time()
            self._bar.close()
            raise

    def _run(self) -> str:
        stopped_by = "done"
        while True:
            out_of_time = self.deadline is not None and time.monotonic() >= self.deadline
            if out_of_time:
                stopped_by = "time"
                if self.executor.can_stop or not self.running:
                    break
                # threads cannot be stopped: let them finish (and record them), start nothing
            if not out_of_time:
                self._start_jobs()
            if not self.running:
                if out_of_time:
                    break
                if self.exhausted:
                    stopped_by = "exhausted"
                elif self._all_jobs_issued():
                    stopped_by = "jobs"
                break
            self._collect(out_of_time)
            self._tick()
        for future in list(self.running):
            self.executor.abandon(future)  # stopped by the time budget: pending in the journal
        self._tick()
        self.journal.save_time()
        self._bar.close()
        return stopped_by

    def _all_jobs_issued(self) -> bool:
        return self.max_jobs is not None and len(self.scheduler.jobs) >= self.max_jobs

    def _start_jobs(self) -> None:
        """Fill the free workers: re-queued jobs first, then the scheduler's next ones."""
        while len(self.running) < self.executor.workers:
            if self.queue:
                job, attempts = self.queue.pop(0)
            elif self.exhausted or self._all_jobs_issued():
                return
            else:
                try:
                    next_job = self.scheduler.next_job()
                except SchedulerExhausted:
                    self.exhausted = True
                    return
                if next_job is None:
                    return
                job, attempts = next_job, 0
                self.journal.issue(job, self.scheduler.searcher.state_dict())
            future = self.executor.submit(
                self.objective, job.architecture, job.budget, job.resume_from
            )
            self.running[future] = (job, attempts + 1, time.monotonic())
            self.journal.started(job, attempts + 1, self.executor.name)
            self._tick()

    def _collect(self, out_of_time: bool) -> None:
        """Wait for a result (or a timeout, or the deadline) and record what finished."""
        waits = [5.0]
        if self.deadline is not None and not out_of_time:
            waits.append(self.deadline - time.monotonic())
        limit = self.timeout_per_job
        if limit is not None:
            waits += [start + limit - time.monotonic() for _, _, start in self.running.values()]
        done, _ = wait(self.running, timeout=max(0.01, min(waits)), return_when=FIRST_COMPLETED)
        timed_out: set[Future] = set()
        if limit is not None:
            now = time.monotonic()
            for future, (_job, _attempts, start) in list(self.running.items()):
                if future not in done and now - start > limit:
                    self.executor.abandon(future)
                    timed_out.add(future)
        for future in done | timed_out:
            job, attempts, _start = self.running.pop(future)
            if future in timed_out:
                error: BaseException | None = TimeoutError(f"timed out after {limit:g}s")
            else:
                error = future.exception()
            if error is None:
                self._finish(job, *_outcome(future.result()))
            elif _retryable(error) and attempts <= self.retries:
                self.journal.retried(job, f"attempt {attempts}: {type(error).__name__}: {error}")
                self.queue.append((job, attempts))
            else:
                tries = f" (after {attempts} attempts)" if attempts > 1 else ""
                self._finish(job, None, f"{type(error).__name__}: {error}{tries}", {})

    def _finish(
        self, job: Job, value: float | None, failure: str | None, extra: dict[str, Any]
    ) -> None:
        self.journal.report(job, value, failure, extra)
        curve = _passed_curve(job, extra, self.scheduler.budgets) if failure is None else {}
        self.scheduler.report(job, value, failed=failure, curve=curve)
        self.exhausted = False  # a report may allow a promotion, which needs no new architecture

    def _tick(self) -> None:
        """The time spent (kept by the journal) and the progress bar."""
        elapsed = self._spent_before + time.monotonic() - self._started
        self.journal.spent_s = elapsed
        if self.time_budget:
            self._bar.n = round(min(self.time_budget, elapsed))
        else:
            self._bar.n = sum(1 for r in self.scheduler.jobs if r.done)
        reported = [r for r in self.scheduler.jobs if r.done and r.value is not None]
        sign = 1.0 if self.scheduler.direction == "maximize" else -1.0
        # the best so far at any budget, and the budget it was reached at
        best = max(reported, key=lambda r: (sign * r.value, r.job.budget), default=None)
        self._bar.set_postfix(
            jobs=len(self.scheduler.jobs),
            running=len(self.running),
            best=None if best is None else f"{best.value:.4g}@{best.job.budget:g}",
            refresh=False,
        )
        self._bar.refresh()


def job_dataframe(rows: list[dict[str, Any]]) -> Any:
    """Journal rows as a ``pandas.DataFrame``: ``job``, ``budget``, ``resume_from``,
    ``bracket``, ``rung``, ``state``, ``value``, ``failure``, ``attempts``, ``worker``,
    ``created_at``, ``started_at``, ``finished_at`` (Unix times), ``duration``, the
    objective's extras (``params``, ``flops``...) and ``architecture`` (JSON)."""
    import pandas as pd

    records = []
    for row in rows:
        attrs = dict(row["user_attrs"])
        attrs.pop("faults", None)
        duration = None
        if row["started_at"] is not None and row["finished_at"] is not None:
            duration = row["finished_at"] - row["started_at"]
        records.append({
            "job": row["number"], "budget": row["budget"],
            "resume_from": attrs.pop("resume_from", None), "bracket": attrs.pop("bracket", None),
            "rung": attrs.pop("rung", None), "state": row["state"], "value": row["value"],
            "failure": row["failure"], "attempts": attrs.pop("attempts", None),
            "worker": row["worker"], "created_at": row["created_at"],
            "started_at": row["started_at"], "finished_at": row["finished_at"],
            "duration": duration,
            **{k: v for k, v in attrs.items() if not isinstance(v, list | dict)},
            "architecture": row["architecture"],
        })  # fmt: skip
    if not records:  # no job yet: the columns all the same
        return pd.DataFrame(columns=JOB_COLUMNS)
    return pd.DataFrame(records)


#: The columns :func:`job_dataframe` always has (the objective's extras may follow).
JOB_COLUMNS = (
    "job", "budget", "resume_from", "bracket", "rung", "state", "value", "failure",
    "attempts", "worker", "created_at", "started_at", "finished_at", "duration",
    "architecture",
)  # fmt: skip

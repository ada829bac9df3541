"""``bonas.search``: the one-call search (this module is ``bonas._search`` so that the
function, not the module, is ``bonas.search``).

Runs ``objective(architecture) -> float`` on up to ``n_workers`` architectures at a time
(threads by default: PyTorch training releases the GIL; or any
:mod:`bonas.executors` executor, e.g. worker processes that a timeout can stop),
proposing each new architecture with the others still pending, and journals everything
to ``storage`` when given (a killed search resumes with the same call).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from bonas.architecture import Architecture
from bonas.exceptions import BonasError
from bonas.executors import Executor, InProcessExecutor
from bonas.searchers.gp import GPSearcher
from bonas.spaces.base import SearchSpace
from bonas.study import Study, StudyError, trials_dataframe
from bonas.trial import Trial, finite_value

__all__ = ["SearchResult", "search"]


@dataclass
class SearchResult:
    """What :func:`search` returns.

    Attributes:
        best_architecture: The best complete trial's architecture (None if none completed).
        best_value: Its value.
        best_trial: The trial itself.
        history: One row per trial (see :func:`~bonas.study.trials_dataframe`).
        searcher: The GP searcher, for further asks.
        study: The study when ``storage`` was given, closed (``Study.load(path)``
            opens it again).
    """

    best_architecture: Architecture | None
    best_value: float | None
    best_trial: Trial | None
    history: Any
    searcher: GPSearcher
    study: Study | None = None

    @property
    def optimizer(self) -> GPSearcher:
        """Deprecated: the :attr:`searcher`."""
        warnings.warn(
            "SearchResult.optimizer is now SearchResult.searcher", DeprecationWarning, stacklevel=2
        )
        return self.searcher


def search(
    objective: Callable[[Architecture], float],
    space: SearchSpace,
    n_trials: int = 50,
    *,
    n_workers: int | None = None,
    executor: Executor | None = None,
    storage: str | Path | None = None,
    timeout_per_trial: float | None = None,
    progress: bool = True,
    **searcher_options: Any,
) -> SearchResult:
    """Search ``space`` for the architecture that maximises ``objective``.

    Args:
        objective: Evaluates an architecture; an exception, NaN or inf marks the trial
            failed (recorded with the reason; the search goes on).
        space: The search space.
        n_trials: Trials in all, resumed ones included.
        n_workers: Evaluations at a time (default: the executor's workers, or 1).
        executor: Where evaluations run (:mod:`bonas.executors`); by default threads of
            this process (an :class:`~bonas.executors.InProcessExecutor`), closed at the
            end. A given executor is left open for the caller. With a
            :class:`~bonas.executors.ProcessExecutor` the objective must be picklable
            (a module-level function), and a timed-out evaluation is stopped.
        storage: A SQLite file; an existing one is resumed.
        timeout_per_trial: Seconds after which a running evaluation is marked failed. The
            executor stops it if it can (``executor.can_stop``; a worker process is
            killed and restarted); a thread is left to finish, its late result ignored.
        progress: Show a progress bar.
        **searcher_options: Passed to :class:`~bonas.searchers.GPSearcher` (``seed``,
            ``acquisition``, ``kernel``, ``direction``, ``n_initial``...).

    Example:
        >>> from bonas.spaces import NB201Space
        >>> space = NB201Space()
        >>> result = search(lambda a: space.to_string(a).count("conv_3x3"), space,
        ...                 n_trials=12, n_initial=4, progress=False)
        >>> len(result.history), result.best_value >= 2
        (12, True)
    """
    if n_workers is None:
        n_workers = executor.workers if executor is not None else 1
    if n_trials < 1 or n_workers < 1:
        raise BonasError(f"n_trials and n_workers must be >= 1, got {n_trials}, {n_workers}")
    if executor is not None and n_workers > executor.workers:
        raise BonasError(
            f"n_workers={n_workers} evaluations at a time need as many executor workers; "
            f"the {executor.describe()} has {executor.workers}"
        )
    study: Study | None = None
    if storage is not None:
        path = Path(storage)
        if path.exists():
            study = Study.load(path, space)
            stored = study.searcher.config()
            clashes = {
                k: (stored[k], v)
                for k, v in searcher_options.items()
                if k in stored and stored[k] != v
                and not (k == "kernel" and v == "auto")  # the default: whichever it chose
            }  # fmt: skip
            if clashes:
                study.close()
                raise StudyError(
                    f"{path} was created with other settings (stored, given): {clashes}"
                )
        else:
            study = Study.create(path, space, **searcher_options)
        driver: Study | _InMemory = study
        searcher = study.searcher
    else:
        searcher = GPSearcher(space, **searcher_options)
        driver = _InMemory(searcher)

    finished = sum(t.state.finished for t in searcher.trials)
    running: dict[Future, tuple[Trial, float]] = {}
    free_slots = list(range(n_workers))  # names workers in the trial records
    slot_of: dict[Future, int] = {}
    bar = tqdm(
        total=n_trials, initial=finished, disable=not progress, desc="bonas search", unit="trial"
    )
    pool = executor if executor is not None else InProcessExecutor(n_workers)
    try:
        while finished < n_trials:
            while len(running) < n_workers and (driver.requeued or len(searcher.trials) < n_trials):
                slot = free_slots.pop(0)
                (trial,) = driver.ask(1, worker=f"worker-{slot}")
                future = pool.submit(objective, trial.architecture)
                running[future] = (trial, time.time())
                slot_of[future] = slot
            if not running:
                break
            done, _ = wait(
                running,
                timeout=_next_deadline(running, timeout_per_trial),
                return_when=FIRST_COMPLETED,
            )
            outcomes: list[tuple[Trial, float | None, str | None]] = []
            for future in done:
                trial, _ = running.pop(future)
                free_slots.append(slot_of.pop(future))
                outcomes.append((trial, *_outcome(future)))
            if timeout_per_trial is not None:
                now = time.time()
                for future, (trial, start) in list(running.items()):
                    if now - start > timeout_per_trial:
                        del running[future]
                        free_slots.append(slot_of.pop(future))
                        pool.abandon(future)
                        outcomes.append((trial, None, f"timeout after {timeout_per_trial:g}s"))
            for trial, value, failure in outcomes:
                driver.tell(trial, value, failed=failure)
                finished += 1
                bar.update(1)
    finally:
        bar.close()
        if executor is None:
            pool.close()
        if study is not None:  # free the file for a later search or another process
            study.close()
    best = searcher.best_trial
    return SearchResult(
        best_architecture=best.architecture if best else None,
        best_value=best.value if best else None,
        best_trial=best,
        history=trials_dataframe(searcher.trials, searcher.direction),
        searcher=searcher,
        study=study,
    )


class _InMemory:
    """The :class:`Study` interface without storage."""

    requeued: tuple[int, ...] = ()

    def __init__(self, searcher: GPSearcher) -> None:
        self.searcher = searcher

    def ask(self, n: int = 1, worker: str | None = None) -> list[Trial]:
        trials = self.searcher.ask(n)
        for trial in trials:
            trial.worker = worker
        return trials

    def tell(self, trial: Trial, value: float | None = None, *, failed: str | None = None) -> Trial:
        return self.searcher.tell(trial, value, failed=failed)


def _next_deadline(
    running: dict[Future, tuple[Trial, float]], timeout: float | None
) -> float | None:
    if timeout is None or not running:
        return None
    oldest = min(start for _, start in running.values())
    return max(0.0, oldest + timeout - time.time()) + 0.01


def _outcome(future: Future) -> tuple[float | None, str | None]:
    """``(value, None)`` or ``(None, failure)`` of a finished evaluation."""
    try:
        value = future.result()
    except Exception as err:  # the objective's failure is the trial's outcome
        return None, f"{type(err).__name__}: {err}"
    return finite_value(value)

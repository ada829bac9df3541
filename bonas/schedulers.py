"""Multi-fidelity schedulers: Hyperband, BOHB and ASHA.

The scheduler decides *when* and *at which budget*; the searcher (any
:class:`~bonas.searchers.Searcher`: the bonas GP, random search, regularised
evolution) decides *which architecture*; the executor or the replay decides *where*
(syne-tune's layering). A promoted job names the budget whose checkpoint it continues
from, so a trainer resumes instead of starting over.

Call order, as an executor with free workers drives a scheduler::

    scheduler = BOHB(GPSearcher(space, seed=0), min_budget=4, max_budget=108, eta=3, seed=0)
    job = scheduler.next_job()       # a Job; None: wait until a running job reports
    # ... train job.architecture to job.budget, from job.resume_from's checkpoint ...
    scheduler.report(job, value)     # or scheduler.report(job, failed="reason")
    # optionally with curve={budget: value} at the rung budgets the job trained through
    scheduler.incumbent              # (architecture, value): the best at the top budget

:meth:`Scheduler.next_job` returns a :class:`Job`, ``None`` when nothing can start until
a running job reports (synchronous Hyperband at the end of a rung), or raises
:class:`SchedulerExhausted` once the searcher has no new architecture left. Stopping
(a time or job budget) is the caller's decision.

References:
    Li, Jamieson, DeSalvo, Rostamizadeh, Talwalkar. "Hyperband: A Novel Bandit-Based
    Approach to Hyperparameter Optimization." JMLR 18, 2018.
    Falkner, Klein, Hutter. "BOHB: Robust and Efficient Hyperparameter Optimization at
    Scale." ICML 2018.
    Li, Jamieson, Rostamizadeh, Gonina, Ben-Tzur, Hardt, Recht, Talwalkar. "A System for
    Massively Parallel Hyperparameter Tuning." MLSys 2020 (ASHA).
"""

from __future__ import annotations

import abc
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bonas.architecture import Architecture
from bonas.exceptions import BonasError, BonasWarning
from bonas.searchers.base import Searcher
from bonas.trial import Trial, TrialState, finite_value

__all__ = [
    "ASHA",
    "BOHB",
    "SCHEDULERS",
    "Hyperband",
    "Job",
    "Scheduler",
    "SchedulerExhausted",
    "curve_at_budgets",
    "fidelity_correlation",
    "hyperband_budgets",
    "make_scheduler",
    "rung_budgets",
    "searcher_options_for",
]

#: :class:`Hyperband` trusts a rung whose estimated rank correlation with the top budget
#: is at least this (see :meth:`Hyperband.fidelity_trust`).
TRUST_THRESHOLD = 0.6
#: Architectures with results at both of two consecutive budgets needed before their
#: correlation counts.
MIN_PAIRS = 8


def fidelity_correlation(low: Sequence[float], pairs: Sequence[tuple[float, float]]) -> float:
    """The rank correlation between two budgets' values over every architecture tried at
    the lower one, estimated from the few that also reached the higher one.

    Those few were promoted for their low-budget values, so their own correlation
    understates the population's (the range of the low values is restricted). The
    low-budget values become normal scores over all of ``low``; the Pearson correlation
    ``r`` of the pairs' scores is corrected for the restriction by Thorndike's case 2
    (Pearson-Lawley): ``R = r u / sqrt(1 - r^2 + r^2 u^2)``, where ``u`` is the ratio of
    the scores' standard deviation over all of ``low`` to that over the pairs. Under
    selection on the low value alone, the regression of the high value on it is
    unbiased, which is what the correction rests on.

    Args:
        low: Every result at the lower budget, shape ``(n,)``; it includes the pairs'.
        pairs: ``(value at the lower budget, value at the higher)`` per architecture
            that has both, shape ``(m, 2)``.

    Returns:
        The estimate in ``[-1, 1]``, or NaN when it is undefined (fewer than 3 pairs,
        or constant values).

    References:
        Thorndike. "Personnel Selection." Wiley, 1949 (case 2).

    Example:
        >>> low = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
        >>> round(fidelity_correlation(low, [(0.7, 0.5), (0.8, 0.6), (0.9, 0.8)]), 3)
        0.998
    """
    from scipy.stats import norm, rankdata

    low_values = np.asarray(low, dtype=float)
    pair_values = np.asarray(pairs, dtype=float).reshape(-1, 2)
    if len(pair_values) < 3 or len(low_values) < len(pair_values):
        return math.nan
    scores = norm.ppf((rankdata(low_values) - 0.5) / len(low_values))
    by_value = dict(zip(low_values.tolist(), scores.tolist(), strict=True))
    x = np.array([by_value.get(v, math.nan) for v in pair_values[:, 0]])
    y = norm.ppf((rankdata(pair_values[:, 1]) - 0.5) / len(pair_values))
    if not np.isfinite(x).all() or np.std(x) == 0 or np.std(y) == 0:
        return math.nan
    r = float(np.corrcoef(x, y)[0, 1])
    u = float(np.std(scores) / np.std(x))
    return float(np.clip(r * u / math.sqrt(1 - r * r + r * r * u * u), -1.0, 1.0))


class SchedulerExhausted(BonasError):
    """The searcher has no architecture left that has not been started."""


def curve_at_budgets(
    val_curve: Sequence[float], job: Job, budgets: Sequence[float]
) -> dict[float, float]:
    """The values a job's epoch-by-epoch validation curve passed at the rung budgets
    below its own, for :meth:`Scheduler.report`'s ``curve``.

    The curve's ``i``-th entry is the value after epoch ``start + i + 1``, where
    ``start`` is ``job.resume_from`` (0 from scratch); a rung budget that is a whole
    number of epochs strictly between ``start`` and ``job.budget``, and within the
    curve, gets that epoch's value. Non-finite entries are left out, and so is every
    entry when ``start`` is not a whole number of epochs.

    Args:
        val_curve: The validation values after each epoch trained in the job, shape
            ``(epochs,)``.
        job: The job that trained them.
        budgets: The scheduler's rung budgets, in epochs.

    Returns:
        ``{budget: value}``, possibly empty.

    Example:
        >>> job = Job(0, None, 9.0, None, 0, 0)
        >>> curve_at_budgets([0.1 * k for k in range(1, 10)], job, (1.0, 3.0, 9.0))
        {1.0: 0.1, 3.0: 0.30000000000000004}
    """
    start = 0.0 if job.resume_from is None else float(job.resume_from)
    values: dict[float, float] = {}
    if abs(start - round(start)) > 1e-9:
        return values  # a checkpoint between epochs: which epoch an entry is is unknown
    for budget in budgets:
        epoch = round(budget)
        if not start < budget < job.budget or abs(budget - epoch) > 1e-9:
            continue
        index = epoch - round(start) - 1
        if 0 <= index < len(val_curve):
            number, _ = finite_value(val_curve[index])
            if number is not None:
                values[float(budget)] = number
    return values


def hyperband_budgets(min_budget: float, max_budget: float, eta: float) -> tuple[float, ...]:
    """Hyperband's rung budgets ``max_budget * eta**-k``, ascending, down to ``min_budget``.

    ``s_max = floor(log_eta(max_budget / min_budget))``; the lowest rung is
    ``max_budget * eta**-s_max`` (at least ``min_budget``).

    Raises:
        BonasError: If ``eta <= 1`` or the budgets are not ``0 < min_budget <= max_budget``.

    Example:
        >>> hyperband_budgets(4, 108, 3)
        (4.0, 12.0, 36.0, 108.0)
    """
    if not eta > 1:
        raise BonasError(f"eta must be above 1, got {eta}")
    if not 0 < min_budget <= max_budget:
        raise BonasError(
            f"budgets need 0 < min_budget <= max_budget, got {min_budget} and {max_budget}"
        )
    s_max = math.floor(math.log(max_budget / min_budget, eta) + 1e-9)
    return tuple(float(max_budget / eta**k) for k in range(s_max, -1, -1))


def rung_budgets(
    min_budget: float | None,
    max_budget: float | None,
    eta: float,
    budgets: Sequence[float] | None,
) -> Sequence[float]:
    """The rung budgets given, or Hyperband's for ``min_budget``, ``max_budget``, ``eta``.

    This is how :class:`Hyperband`, :class:`BOHB` and :class:`ASHA` read their budget
    arguments; callers that build a searcher before its scheduler use it to learn the
    budgets that scheduler will have.

    Raises:
        BonasError: If ``eta <= 1``, or neither ``budgets`` nor both of ``min_budget`` and
            ``max_budget`` are given.

    Example:
        >>> rung_budgets(1, 9, 3, None), rung_budgets(None, None, 3, (2, 8))
        ((1.0, 3.0, 9.0), (2, 8))
    """
    if not eta > 1:
        raise BonasError(f"eta must be above 1, got {eta}")
    if budgets is not None:
        return budgets
    if min_budget is None or max_budget is None:
        raise BonasError("give min_budget and max_budget, or budgets")
    return hyperband_budgets(min_budget, max_budget, eta)


def searcher_options_for(
    searcher: str, budgets: Sequence[float], options: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The options of a searcher named ``searcher`` that is to drive a scheduler over
    ``budgets``: the bonas GP (``bonas``) models every budget's results
    (``multi_fidelity=True``) when there are several, so that cheap results inform its
    choices for the top budget, unless ``options`` set ``multi_fidelity`` themselves.

    Example:
        >>> searcher_options_for("bonas", (1, 3, 9))
        {'multi_fidelity': True}
        >>> searcher_options_for("bonas", (9,)), searcher_options_for("rs", (1, 3, 9))
        ({}, {})
    """
    chosen = dict(options or {})
    if searcher == "bonas" and len(budgets) > 1:
        chosen.setdefault("multi_fidelity", True)
    return chosen


@dataclass(frozen=True)
class Job:
    """One evaluation the scheduler asks for.

    Attributes:
        id: The job's number, from 0.
        architecture: What to evaluate.
        budget: The budget to train to (epochs, say).
        resume_from: The budget of this architecture's checkpoint to continue from, or
            ``None`` to train from scratch.
        bracket: The Hyperband bracket (``s``), or 0 for ASHA.
        rung: The rung within the bracket, from 0.
    """

    id: int
    architecture: Architecture
    budget: float
    resume_from: float | None
    bracket: int
    rung: int


@dataclass
class _Result:
    job: Job
    value: float | None  # None while running or when failed
    failure: str | None = None
    done: bool = False
    # values the job passed at lower rung budgets on its way (see Scheduler.report)
    curve: dict[float, float] = field(default_factory=dict)


@dataclass
class _Rung:
    budget: float
    size: int  # how many configurations the rung takes (synchronous Hyperband)
    results: list[_Result] = field(default_factory=list)
    promoted: set[Architecture] = field(default_factory=set)


class Scheduler(abc.ABC):
    """Base class: jobs, results, the searcher's view of them, and the incumbent.

    Args:
        searcher: Proposes new architectures (its :meth:`~Searcher.propose`).
        budgets: The rung budgets, ascending; the last is the full budget.
        direction: ``maximize`` or ``minimize``; the searcher's direction by default.
        random_fraction: Share of new architectures drawn at random instead of by the
            searcher (BOHB's ``rho``).
        min_points: The searcher models the highest budget with at least this many
            results (BOHB: "enough observations"); with none, the one with the most. A
            multi-fidelity searcher (``GPSearcher(multi_fidelity=True)``) models every
            budget's results instead, proposing for the top budget.
        seed: Seed of the scheduler's own generator (random fraction, ties).
        model_curves: Hand a multi-fidelity searcher, besides every job's result, the
            values jobs passed on their way at lower rung budgets (:meth:`report`'s
            ``curve``) as results at those budgets: a job trained to the top budget tells
            the model how the architecture ranked at every budget below, for free.

    Attributes:
        jobs: Every job issued, by id.
        incumbent: ``(architecture, value)`` of the best result at the top budget, or
            ``None``.
    """

    name = "base"

    def __init__(
        self,
        searcher: Searcher,
        budgets: Sequence[float],
        *,
        direction: str | None = None,
        random_fraction: float = 0.0,
        min_points: int = 10,
        seed: int = 0,
        model_curves: bool = False,
    ) -> None:
        budgets = tuple(float(b) for b in budgets)
        if not budgets or any(b <= 0 for b in budgets) or list(budgets) != sorted(set(budgets)):
            raise BonasError(f"rung budgets must be positive and ascending, got {list(budgets)}")
        if not 0.0 <= random_fraction <= 1.0:
            raise BonasError(f"random_fraction must be in [0, 1], got {random_fraction}")
        if min_points < 1:
            raise BonasError(f"min_points must be at least 1, got {min_points}")
        self.searcher = searcher
        self.budgets = budgets
        self.direction = direction or searcher.direction
        self.random_fraction = float(random_fraction)
        self.min_points = int(min_points)
        self.model_curves = bool(model_curves)
        self.rng = np.random.default_rng(seed)
        self.jobs: list[_Result] = []
        self._started: set[Architecture] = set()
        self._best: tuple[Architecture, float] | None = None
        self.seed = int(seed)
        self._forced: Architecture | None = None  # set while a journal is replayed

    # -- the interface --------------------------------------------------------------

    @abc.abstractmethod
    def next_job(self) -> Job | None:
        """The next job to run, or ``None`` if it must wait for a running job's result.

        Raises:
            SchedulerExhausted: If a new architecture is needed and none is left.
        """

    def report(
        self,
        job: Job,
        value: float | None = None,
        *,
        failed: str | None = None,
        curve: Mapping[float, float] | None = None,
    ) -> None:
        """Record a job's result: its value, or ``failed=reason`` (kept out of rankings).

        Args:
            job: A job this scheduler issued and that has not reported yet.
            value: Its value at ``job.budget``.
            failed: Why it failed, instead of a value.
            curve: The values the job passed on its way at lower rung budgets, e.g. an
                architecture trained from scratch to 98 epochs was at 33 epochs on the
                way (``{budget: value}``; :func:`curve_at_budgets` reads them from an
                epoch-by-epoch validation curve). They cost nothing more to train, and
                :class:`Hyperband` measures with them how well low budgets rank; they
                are not results of their own (no promotion, no incumbent).

        Raises:
            BonasError: For an unknown or already reported job, neither or both of
                ``value`` and ``failed``, or a ``curve`` with a budget that is not a rung
                budget the job passed (after ``resume_from``, below ``budget``) or a
                non-finite value, or given with ``failed``.
        """
        if not 0 <= job.id < len(self.jobs) or self.jobs[job.id].job != job:
            raise BonasError(f"job {job.id} was not issued by this scheduler")
        record = self.jobs[job.id]
        if record.done:
            raise BonasError(f"job {job.id} was already reported")
        if (value is None) == (failed is None):
            raise BonasError("report a job either a value or failed=reason, not both or neither")
        passed = self._checked_curve(job, curve) if curve else {}
        if passed and failed is not None:
            raise BonasError(f"job {job.id} failed ({failed}): report no curve with a failure")
        record.done = True
        number, reason = (None, str(failed)) if failed is not None else finite_value(value)
        if number is None:
            record.failure = reason
        else:
            record.value = number
            record.curve = passed
            if job.budget == self.budgets[-1] and (
                self._best is None or self._better(number, self._best[1])
            ):
                self._best = (job.architecture, number)
        self._reported(job)

    def _reported(self, job: Job) -> None:  # noqa: B027 (a hook, optional)
        """Called once ``job``'s result is recorded (``self.jobs[job.id]``): a hook for
        subclasses."""

    def replay_issue(self, architecture: Architecture, budget: float) -> Job:
        """Issue again a job from a journal, when a killed search is resumed.

        The scheduler decides as it did the first time (promotions, budgets, its own
        random draws), but a new architecture is the journaled one instead of the
        searcher's; restore the searcher's state afterwards. Replaying every journaled
        issue and report in their order rebuilds the scheduler exactly.

        Raises:
            BonasError: If the scheduler would now issue another job: the journal comes
                from another configuration.
        """
        self._forced = architecture
        try:
            job = self.next_job()
        except SchedulerExhausted:
            job = None
        finally:
            self._forced = None
        if job is None or job.architecture != architecture or job.budget != float(budget):
            got = "no job"
            if job is not None:
                same = job.architecture == architecture
                got = f"one at budget {job.budget:g}" + ("" if same else " of another architecture")
            raise BonasError(
                f"the journal does not match this scheduler: its job {len(self.jobs)} is at "
                f"budget {float(budget):g}, the scheduler now issues {got}"
            )
        return job

    def passed_budgets(self, job: Job) -> list[float]:
        """The rung budgets ``job`` trains through on its way: above its ``resume_from``
        (from scratch: every one) and below its ``budget``, ascending."""
        start = -math.inf if job.resume_from is None else job.resume_from
        return [budget for budget in self.budgets if start < budget < job.budget]

    def _checked_curve(self, job: Job, curve: Any) -> dict[float, float]:
        if not isinstance(curve, Mapping):
            raise BonasError(
                f"job {job.id}'s curve must map rung budgets to values, got {type(curve).__name__}"
            )
        allowed = self.passed_budgets(job)
        passed: dict[float, float] = {}
        for budget, value in dict(curve).items():
            try:
                key = float(budget)
            except (TypeError, ValueError):
                key = math.nan
            if key not in allowed:
                raise BonasError(
                    f"job {job.id}'s curve has budget {budget!r}: it must be a rung budget "
                    f"the job passed, above {job.resume_from} and below {job.budget:g} "
                    f"(rungs {list(self.budgets)})"
                )
            number, reason = finite_value(value)
            if number is None:
                raise BonasError(f"job {job.id}'s curve at budget {key:g}: {reason}")
            passed[key] = number
        return passed

    @property
    def incumbent(self) -> tuple[Architecture, float] | None:
        """The best ``(architecture, value)`` at the top budget so far."""
        return self._best

    def to_dataframe(self) -> Any:
        """Every job so far as a ``pandas.DataFrame``: ``job``, ``architecture`` (the
        cell string or JSON), ``budget``, ``resume_from``, ``bracket``, ``rung``,
        ``state`` (running, complete, failed), ``value`` and ``failure``."""
        import pandas as pd

        to_string = getattr(self.searcher.space, "to_string", None)
        rows = []
        for record in self.jobs:
            job = record.job
            arch = job.architecture
            state = "running" if not record.done else "failed" if record.failure else "complete"
            rows.append(
                {
                    "job": job.id,
                    "architecture": to_string(arch) if to_string else arch.to_json(),
                    "budget": job.budget,
                    "resume_from": job.resume_from,
                    "bracket": job.bracket,
                    "rung": job.rung,
                    "state": state,
                    "value": record.value,
                    "failure": record.failure,
                }
            )
        return pd.DataFrame(rows)

    @property
    def running(self) -> int:
        """Jobs issued and not yet reported."""
        return sum(1 for r in self.jobs if not r.done)

    # -- helpers --------------------------------------------------------------------

    def _better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "maximize" else a < b

    def _key(self, result: _Result) -> float:
        """Sort key, best first: failed results last."""
        if result.value is None:
            return math.inf
        return -result.value if self.direction == "maximize" else result.value

    def _issue(
        self, arch: Architecture, budget: float, resume_from: float | None, bracket: int, rung: int
    ) -> tuple[Job, _Result]:
        job = Job(len(self.jobs), arch, budget, resume_from, bracket, rung)
        record = _Result(job, None)
        self.jobs.append(record)
        self._started.add(arch)
        return job, record

    def _new_architecture(self, continue_below: float | None = None) -> Architecture:
        """A new architecture from the searcher, modelled on one budget's results (or at
        random, a ``random_fraction`` of the time).

        With ``continue_below`` and a searcher that models every budget, the searcher may
        also choose an architecture whose every job finished below that budget (see
        :meth:`_taken_at`); :meth:`_resume_point` then says where it continues from.
        """
        draw_random = self.random_fraction > 0 and self.rng.random() < self.random_fraction
        if self._forced is not None:
            return self._forced
        observations: list[Trial] = []
        taken: set[Architecture] = self._started
        if not draw_random and self.searcher.multi_fidelity:
            # a multi-fidelity model takes every budget's results, proposing for the top
            observations = self._every_budget_observations()
            if continue_below is not None:
                taken = self._taken_at(continue_below)
        elif not draw_random:
            observations = self._observations(self._model_budget())
        try:
            (arch,) = self.searcher.propose(1, taken, observations)
        except BonasError as err:
            raise SchedulerExhausted(f"no new architecture left: {err}") from err
        return arch

    def _taken_at(self, budget: float) -> set[Architecture]:
        """The architectures a job at ``budget`` may not start: every one started, less
        those whose jobs all finished with a value below ``budget`` (they can continue
        from their checkpoint)."""
        blocked: set[Architecture] = set()
        below: set[Architecture] = set()
        for record in self.jobs:
            arch = record.job.architecture
            if record.job.budget >= budget or not record.done or record.value is None:
                blocked.add(arch)  # reached the budget, running, or failed
            else:
                below.add(arch)
        return self._started - (below - blocked)

    def _resume_point(self, arch: Architecture, budget: float) -> float | None:
        """The highest budget below ``budget`` at which ``arch`` has a result (its
        checkpoint to continue from), or ``None``."""
        done = [r.job.budget for r in self.jobs if r.job.architecture == arch
                and r.done and r.value is not None and r.job.budget < budget]  # fmt: skip
        return max(done, default=None)

    def _model_budget(self) -> float | None:
        counts = {b: 0 for b in self.budgets}
        for record in self.jobs:
            if record.done and record.value is not None:
                counts[record.job.budget] += 1
        enough = [b for b in self.budgets if counts[b] >= self.min_points]
        if enough:
            return enough[-1]
        most = max(counts.values())
        return None if most == 0 else max(b for b in self.budgets if counts[b] == most)

    def _lowest_in_use(self) -> float:
        """The lowest budget the scheduler starts jobs at now."""
        return self.budgets[0]

    def _every_budget_observations(self) -> list[Trial]:
        """Every budget's results for a multi-fidelity searcher, which is told first the
        budget to propose for (the top one) and the lowest budget in use, if above the
        first."""
        self.searcher.target_budget = self.budgets[-1]
        lowest = self._lowest_in_use()
        self.searcher.lowest_budget_in_use = lowest if lowest > self.budgets[0] else None
        return self._observations(None, every_budget=True)

    def _observations(self, budget: float | None, every_budget: bool = False) -> list[Trial]:
        """The results at ``budget`` (or at every budget) as trials, running ones
        pending, for the searcher."""
        if budget is None and not every_budget:
            return []
        trials = []
        for record in self.jobs:
            if not every_budget and record.job.budget != budget:
                continue
            if record.done and record.value is None:
                continue
            trial = Trial(len(trials), record.job.architecture, record.job.budget)
            if record.done:
                trial.state, trial.value = TrialState.COMPLETE, record.value
            else:
                trial.state = TrialState.RUNNING
            trials.append(trial)
            if every_budget and self.model_curves:
                for budget, value in record.curve.items():
                    passed = Trial(len(trials), record.job.architecture, budget)
                    passed.state, passed.value = TrialState.COMPLETE, value
                    trials.append(passed)
        return trials

    def config(self) -> dict[str, Any]:
        """What identifies the scheduler's behaviour, JSON-compatible."""
        return {
            "scheduler": self.name,
            "budgets": list(self.budgets),
            "random_fraction": self.random_fraction,
            "min_points": self.min_points,
            "seed": self.seed,
            "searcher": self.searcher.config(),
            # stored only when on, so that a journal from before the option still matches
            **({"model_curves": True} if self.model_curves else {}),
        }


class Hyperband(Scheduler):
    """Synchronous Hyperband: successive halving in brackets, cycled.

    Bracket ``s`` (0 to ``s_max``) starts ``n = ceil((s_max + 1) / (s + 1) * eta**s)``
    new architectures at budget ``budgets[s_max - s]``; after each rung the best
    ``1/eta`` (at least one) go on to the next budget, continuing from their checkpoint.
    New architectures come from the searcher (random search: Li et al.'s Hyperband).

    With ``adapt`` (the default), the scheduler learns which budgets it can trust. Before
    each bracket it estimates, for each pair of consecutive budgets with at least
    ``min_pairs`` architectures that have results at both, the rank correlation of
    their values over all architectures tried at the lower one
    (:func:`fidelity_correlation`), and takes a budget's trust to be the product of the
    estimates from it up to the top. A pair with too few results for an estimate counts
    as the worst pair estimated so far: the pairs near the top are the last to have
    results, and taking them as perfect kept misleading low budgets in use until then;
    before any estimate, every budget is trusted. The values a job passed on its way
    at lower rung budgets (:meth:`~Scheduler.report`'s ``curve``: an architecture
    trained to the top budget was at every lower one) count as results there for these
    estimates: they are free and, unlike promotions, not selected by their low value.
    So that the low budgets are measured before the scheduler bets on them, an adapting
    Hyperband runs its brackets from the least aggressive (``s = 0``, every architecture
    at the top budget) to the most (Li et al. run them the other way round, as
    ``adapt=False`` does): where low budgets mislead, the first brackets' curves show
    it and the aggressive brackets are dropped before they run. While
    the lowest budget in use has a trust under ``trust_threshold``, the brackets that
    start there are dropped and the next budget up becomes the lowest; when the top
    budget is the lowest, only bracket 0 (every architecture at the full budget) runs.
    As estimates change with new results, a dropped budget whose trust is back at the
    threshold is used again (the lowest moves down). :attr:`fidelity_log` records every
    move and the estimates it rested on.

    With ``promote_by_model`` and a searcher that models every budget
    (``GPSearcher(multi_fidelity=True)``), a finished rung's architectures go on in the
    order of the searcher's prediction at the top budget given every result so far
    (:meth:`~bonas.searchers.Searcher.predict_target`: the GP's posterior mean), not of
    their values at the rung's budget. The GP weighs a low budget's value by the
    correlation across budgets it fitted, and adds what similar architectures did at the
    top budget: where low budgets rank well the order is theirs, where they mislead the
    model leans on the top budget's results. Other searchers (random search, a model of
    one budget) promote by the rung's values, as Hyperband does. Promotions then no
    longer select on the low value alone, which the correction of
    :func:`fidelity_correlation` assumes; the estimates lean towards the correlation
    among the promoted.

    With ``continue_stopped`` (the default) and a searcher that models every budget, a
    bracket that starts above the lowest budget may start an architecture that stopped
    below it (tried at lower budgets and not promoted, or from a bracket that ended
    there), continued from its checkpoint, when the searcher's acquisition at the top
    budget rates it above every untried one. A promising architecture that lost its
    promotion to a lucky rival is not lost for good, and its low-budget training is not
    paid again. Other searchers only ever get untried architectures, as in Hyperband.

    A searcher that models every budget gets every budget's results, and the lowest
    budget in use (:attr:`~bonas.searchers.Searcher.lowest_budget_in_use`): what it
    makes of the results below it is its own choice (the bonas GP's
    ``dropped_budgets``).

    Args:
        searcher: Proposes new architectures.
        min_budget, max_budget, eta: Give the rung budgets by :func:`hyperband_budgets`.
        budgets: The rung budgets instead (e.g. a table's fidelities), ascending.
        brackets: Which brackets ``s`` to run, in order, cycled; by default all, from
            0 up with ``adapt`` and from ``s_max`` down without.
        adapt: Drop the brackets that start at budgets which rank poorly (see above).
        trust_threshold: The trust a budget needs to start brackets.
        min_pairs: Architectures with results at two consecutive budgets needed before
            their correlation counts.
        promote_by_model: Promote by the searcher's prediction at the top budget, where
            it has one (see above).
        continue_stopped: Let a multi-fidelity searcher continue an architecture that
            stopped below a bracket's first budget (see above).
        **kwargs: Of :class:`Scheduler`.

    Example:
        >>> from bonas.searchers import RandomSearch
        >>> from bonas.spaces import NB201Space
        >>> hb = Hyperband(RandomSearch(NB201Space(), seed=0), budgets=(12, 200), eta=3)
        >>> job = hb.next_job()
        >>> job.budget, job.resume_from, job.bracket
        (200.0, None, 0)
        >>> hb.report(job, 0.91, curve={12.0: 0.85})  # it was at 0.85 after 12 epochs
    """

    name = "hyperband"

    def __init__(
        self,
        searcher: Searcher,
        min_budget: float | None = None,
        max_budget: float | None = None,
        eta: float = 3.0,
        *,
        budgets: Sequence[float] | None = None,
        brackets: Sequence[int] | None = None,
        adapt: bool = True,
        trust_threshold: float = TRUST_THRESHOLD,
        min_pairs: int = MIN_PAIRS,
        promote_by_model: bool = False,
        continue_stopped: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(searcher, rung_budgets(min_budget, max_budget, eta, budgets), **kwargs)
        self.eta = float(eta)
        self.promote_by_model = bool(promote_by_model)
        self.continue_stopped = bool(continue_stopped)
        self.s_max = len(self.budgets) - 1
        if brackets is not None:
            order = [int(s) for s in brackets]
        elif adapt:  # measure the low budgets before betting on them (see the docstring)
            order = list(range(self.s_max + 1))
        else:
            order = list(range(self.s_max, -1, -1))
        if not order or any(not 0 <= s <= self.s_max for s in order):
            raise BonasError(f"brackets must be in 0..{self.s_max}, got {brackets}")
        if not -1.0 <= trust_threshold <= 1.0:
            raise BonasError(f"trust_threshold must be in [-1, 1], got {trust_threshold}")
        if min_pairs < 3:
            raise BonasError(f"min_pairs must be at least 3, got {min_pairs}")
        self.brackets = tuple(order)
        self.adapt = bool(adapt)
        self.trust_threshold = float(trust_threshold)
        self.min_pairs = int(min_pairs)
        self.lowest = 0  # index of the lowest budget brackets may start at
        self.fidelity_log: list[dict[str, Any]] = []
        self._cycle = 0
        self._rungs: list[_Rung] = []
        self._rung = 0
        # (architecture, budget to resume from): (None, None) is a new architecture from
        # the searcher, (None, budget) the next promotion from the rung at that budget
        self._queue: list[tuple[Architecture | None, float | None]] = []
        self._promotion_order: list[Architecture] | None = None
        self._start_bracket()

    def _bracket_sizes(self, s: int) -> list[int]:
        n = math.ceil((self.s_max + 1) / (s + 1) * self.eta**s)
        # floor(n / eta^k), robust to the rounding of a float eta's powers
        return [max(1, math.floor(n / self.eta**k + 1e-9)) for k in range(s + 1)]

    @property
    def bracket(self) -> int:
        """The bracket ``s`` being run."""
        return self._bracket

    def _lowest_in_use(self) -> float:
        return self.budgets[self.lowest]

    def _active_brackets(self) -> list[int]:
        """The brackets that start at a trusted budget, in order; bracket 0 if none."""
        active = [s for s in self.brackets if self.s_max - s >= self.lowest]
        return active or [0]

    def fidelity_trust(self) -> dict[str, Any]:
        """What the scheduler knows of its budgets: ``correlations`` (per pair of
        consecutive budgets, the estimate of :func:`fidelity_correlation`, or ``None``
        with fewer than ``min_pairs`` pairs), ``pairs`` (their counts) and ``trust`` (per
        budget below the top, the product of the estimates from it up, a missing one
        counted as the lowest estimate; all ``None`` before any estimate)."""
        values: dict[float, dict[Architecture, float]] = {b: {} for b in self.budgets}
        for record in self.jobs:
            if record.done and record.value is not None:
                for budget, value in record.curve.items():
                    values[budget].setdefault(record.job.architecture, value)
                values[record.job.budget][record.job.architecture] = record.value
        correlations: list[float | None] = []
        counts: list[int] = []
        for low, high in zip(self.budgets, self.budgets[1:], strict=False):
            both = [(v, values[high][a]) for a, v in values[low].items() if a in values[high]]
            counts.append(len(both))
            estimate = (
                fidelity_correlation(list(values[low].values()), both)
                if len(both) >= self.min_pairs
                else math.nan
            )
            correlations.append(None if math.isnan(estimate) else estimate)
        known = [max(c, 0.0) for c in correlations if c is not None]
        if not known:
            return {"correlations": correlations, "pairs": counts, "trust": [None] * self.s_max}
        # a pair not estimated yet ranks no better than the worst pair estimated so far
        stand_in = min(known)
        factors = [stand_in if c is None else max(c, 0.0) for c in correlations]
        trust = [float(np.prod(factors[k:])) for k in range(self.s_max)]
        return {"correlations": correlations, "pairs": counts, "trust": trust}

    def _adapt(self) -> None:
        """Move the lowest budget up past budgets that rank poorly, or back down to
        budgets whose trust recovered."""
        if not self.adapt or self.s_max == 0:
            return
        state = self.fidelity_trust()
        trust = state["trust"]
        lowest = self.lowest

        def trusted(k: int) -> bool:  # a budget with no estimate yet is trusted
            return trust[k] is None or trust[k] >= self.trust_threshold

        while lowest > 0 and trust[lowest - 1] is not None and trusted(lowest - 1):
            lowest -= 1
        while lowest < self.s_max and not trusted(lowest):
            lowest += 1
        if lowest != self.lowest:
            self.fidelity_log.append({
                "job": len(self.jobs), "from_budget": self.budgets[self.lowest],
                "to_budget": self.budgets[lowest], **state,
            })  # fmt: skip
            self.lowest = lowest

    def _start_bracket(self) -> None:
        self._adapt()
        active = self._active_brackets()
        self._bracket = active[self._cycle % len(active)]
        s = self._bracket
        sizes = self._bracket_sizes(s)
        self._rungs = [
            _Rung(self.budgets[self.s_max - s + k], size) for k, size in enumerate(sizes)
        ]
        self._rung = 0
        # new architectures are proposed when their job starts, so that they use every
        # result known by then
        self._queue = [(None, None)] * sizes[0]

    def next_job(self) -> Job | None:
        while True:
            if self._queue:
                arch, resume = self._queue[0]
                rung = self._rungs[self._rung]
                if arch is None and resume is None:
                    if self.continue_stopped:
                        arch = self._new_architecture(continue_below=rung.budget)
                        resume = self._resume_point(arch, rung.budget)
                    else:
                        arch = self._new_architecture()
                elif arch is None:
                    arch = self._next_promotion(self._rungs[self._rung - 1])
                self._queue.pop(0)
                job, record = self._issue(arch, rung.budget, resume, self.bracket, self._rung)
                rung.results.append(record)
                return job
            rung = self._rungs[self._rung]
            if any(not r.done for r in rung.results):
                return None  # synchronous: the rung must finish first
            if self._rung + 1 < len(self._rungs):
                following = self._rungs[self._rung + 1]
                finished = sum(1 for r in rung.results if r.value is not None)
                winners = min(following.size, finished)
                self._rung += 1
                # who goes on is decided when the first of them starts (_next_promotion)
                self._promotion_order = None
                self._queue = [(None, rung.budget)] * winners
                if not winners:  # everything failed: the bracket is over
                    self._cycle += 1
                    self._start_bracket()
                continue
            self._cycle += 1
            self._start_bracket()

    def _next_promotion(self, rung: _Rung) -> Architecture:
        """The best of ``rung``'s finished architectures not promoted yet, by
        :meth:`_rank_for_promotion` (ranked once per rung); while a journal replays, the
        promotion it recorded."""
        waiting = {r.job.architecture for r in rung.results if r.value is not None}
        waiting -= rung.promoted
        if self._forced is not None and self._forced in waiting:
            arch = self._forced
        else:
            if self._promotion_order is None:
                self._promotion_order = self._rank_for_promotion(rung)
            arch = next(a for a in self._promotion_order if a in waiting)
        rung.promoted.add(arch)
        return arch

    def _rank_for_promotion(self, rung: _Rung) -> list[Architecture]:
        """``rung``'s finished architectures, best first: by the searcher's prediction at
        the top budget with ``promote_by_model`` and a multi-fidelity searcher, else (or
        if the searcher cannot predict) by their values."""
        by_value = [r.job.architecture for r in sorted(rung.results, key=self._key)
                    if r.value is not None]  # fmt: skip
        if not (self.promote_by_model and self.searcher.multi_fidelity):
            return by_value
        observations = self._every_budget_observations()
        try:
            predicted = self.searcher.predict_target(by_value, observations)
        except BonasError as err:
            warnings.warn(
                f"promoting by the values at budget {rung.budget:g}: the searcher could not "
                f"predict the top budget ({err})",
                BonasWarning,
                stacklevel=2,
            )
            return by_value
        if predicted is None:
            return by_value
        order = np.argsort(-np.asarray(predicted, dtype=float), kind="stable")
        return [by_value[i] for i in order]

    def config(self) -> dict[str, Any]:
        adapting = (
            {"adapt": True, "trust_threshold": self.trust_threshold, "min_pairs": self.min_pairs}
            if self.adapt
            else {}
        )  # a journal from before adapting stored none of these: it resumes without
        # stored only when on, so that a journal from before the option still matches
        by_model = {"promote_by_model": True} if self.promote_by_model else {}
        # these two stored only when on: a journal from before the option resumes without it
        continuing = {"continue_stopped": True} if self.continue_stopped else {}
        return {
            **super().config(), "eta": self.eta, "brackets": list(self.brackets),
            **adapting, **by_model, **continuing,
        }  # fmt: skip


class BOHB(Hyperband):
    """BOHB (Falkner et al. 2018) with the bonas GP in place of its KDE.

    Hyperband's brackets (adapting their lowest budget, see :class:`Hyperband`), with
    new architectures from the searcher's acquisition. A searcher that models every
    budget (``GPSearcher(multi_fidelity=True)``, what ``bonas search`` and the
    benchmarks build by name; :func:`searcher_options_for`) proposes for the top
    budget from every result; another models the highest budget with at least
    ``min_points`` results, as BOHB's KDE does.

    Falkner et al. draw a fraction ``rho = 1/3`` of new configurations at random, so
    that the KDE, which has no exploration of its own, keeps exploring. A GP's
    acquisition explores by itself, and random draws spend a third of the brackets'
    new architectures on nothing it learned: ``random_fraction`` is 0 by default here;
    1/3 gives the paper's mix.

    Args:
        searcher: The bonas :class:`~bonas.searchers.GPSearcher` (or any searcher).
        random_fraction: BOHB's ``rho``; 0 by default (see above).
        **kwargs: Of :class:`Hyperband`.
    """

    name = "bohb"

    def __init__(
        self, searcher: Searcher, *args: Any, random_fraction: float = 0.0, **kwargs: Any
    ) -> None:
        super().__init__(searcher, *args, random_fraction=random_fraction, **kwargs)


class ASHA(Scheduler):
    """Asynchronous successive halving: no worker ever waits for a rung to fill.

    Whenever a worker is free: starting from the highest rung below the top, an
    architecture among the best ``1/eta`` of a rung's finished results that has not yet
    been promoted goes on to the next budget (continuing from its checkpoint); if there
    is none, a new architecture starts at the lowest budget.

    Args:
        searcher: Proposes new architectures.
        min_budget, max_budget, eta, budgets: As for :class:`Hyperband`.
        **kwargs: Of :class:`Scheduler`.
    """

    name = "asha"

    def __init__(
        self,
        searcher: Searcher,
        min_budget: float | None = None,
        max_budget: float | None = None,
        eta: float = 3.0,
        *,
        budgets: Sequence[float] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(searcher, rung_budgets(min_budget, max_budget, eta, budgets), **kwargs)
        self.eta = float(eta)
        self._rungs = [_Rung(b, 0) for b in self.budgets]

    def next_job(self) -> Job:
        for k in range(len(self._rungs) - 2, -1, -1):
            rung = self._rungs[k]
            finished = [r for r in rung.results if r.done and r.value is not None]
            quota = math.floor(sum(1 for r in rung.results if r.done) / self.eta)
            for result in sorted(finished, key=self._key)[:quota]:
                arch = result.job.architecture
                if arch not in rung.promoted:
                    rung.promoted.add(arch)
                    job, record = self._issue(arch, self.budgets[k + 1], rung.budget, 0, k + 1)
                    self._rungs[k + 1].results.append(record)
                    return job
        job, record = self._issue(self._new_architecture(), self.budgets[0], None, 0, 0)
        self._rungs[0].results.append(record)
        return job

    def config(self) -> dict[str, Any]:
        return {**super().config(), "eta": self.eta}


#: The schedulers :func:`make_scheduler` knows, by name.
SCHEDULERS: dict[str, type[Scheduler]] = {"hyperband": Hyperband, "bohb": BOHB, "asha": ASHA}


def make_scheduler(name: str, searcher: Searcher, **options: Any) -> Scheduler:
    """A scheduler by name (``hyperband``, ``bohb``, ``asha``) around ``searcher``.

    Raises:
        BonasError: For an unknown name, listing the known ones.
    """
    try:
        cls = SCHEDULERS[name]
    except KeyError:
        raise BonasError(f"unknown scheduler {name!r}; known: {sorted(SCHEDULERS)}") from None
    return cls(searcher, **options)

"""The searcher base class: what every searcher shares; subclasses only propose.

A searcher decides *which architecture* comes next. Schedulers
(:mod:`bonas.schedulers`) decide when and at which budget, executors where. This
module is free of torch: a scheduler around random search or evolution never loads it.

Searchers in :mod:`bonas.searchers`: :class:`~bonas.searchers.GPSearcher` (the bonas
GP), :class:`~bonas.searchers.RandomSearch`,
:class:`~bonas.searchers.RegularizedEvolution` and :class:`~bonas.searchers.LocalSearch`.
"""

from __future__ import annotations

import abc
import contextlib
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, ClassVar

import numpy as np

from bonas.architecture import Architecture
from bonas.exceptions import BonasError
from bonas.spaces.base import SearchSpace
from bonas.trial import Trial, TrialState, finite_value

__all__ = ["DIRECTIONS", "Searcher"]

DIRECTIONS = ("maximize", "minimize")


class Searcher(abc.ABC):
    """The bookkeeping every ask/tell searcher shares; subclasses only propose.

    Call order, and who does what::

        opt = SomeSearcher(space, seed=0, direction="maximize")
        trials = opt.ask(n, budget)
            # Searcher: checks n >= 1, collects ``taken`` (every trial's architecture)
            # subclass: opt._propose(n, taken) -> n distinct architectures not in taken
            # Searcher: one RUNNING Trial each, numbered after the existing ones
        opt.tell(trial, value)            # or opt.tell(trial, failed="reason")
            # Searcher: COMPLETE, or FAILED (a NaN/inf value too); then
            # subclass: opt._on_tell(trial)   (optional hook; does nothing by default)
        opt.add_observation(arch, value)  # an evaluation made elsewhere, as a complete trial
        opt.best_trial                    # the best complete trial, earliest among ties
        opt.config()                      # JSON-able: name, space, seed, direction + options
        state = opt.state_dict()          # JSON-able: the generator (+ the subclass's state)
        again = SomeSearcher(space, seed=0)
        again.trials = trials_so_far      # e.g. rebuilt from a study file
        again.load_state_dict(state)      # again now proposes what opt would

    A subclass sets :attr:`name`, implements :meth:`_propose` and :meth:`_options`, and
    extends :meth:`state_dict` / :meth:`load_state_dict` with whatever its proposals
    depend on beyond ``self.trials`` and ``self.rng``. It draws every random number from
    ``self.rng``. Studies save the state right after each ask, so state that must survive
    a restart is best updated in :meth:`_propose` and derived from the trials' outcomes
    there, rather than in :meth:`_on_tell`.

    :meth:`ask`, :meth:`tell`, :meth:`propose` and :meth:`add_observation` may be called
    from several threads; they run one at a time.

    Multi-fidelity protocol: a searcher whose :attr:`multi_fidelity` is true models every
    trial's ``(architecture, budget)`` and proposes for :attr:`target_budget`. A scheduler
    then sets :attr:`target_budget` to its top rung and hands :meth:`propose` the results
    of every rung; other searchers get one rung's results (BOHB's rule). A scheduler that
    stops starting jobs at its lowest budgets sets :attr:`lowest_budget_in_use`, which a
    searcher may use to weigh the results at the budgets below it.

    Args:
        space: Where architectures come from.
        seed: Seed of the searcher's own random generator.
        direction: ``maximize`` or ``minimize`` the told values.

    Attributes:
        space: The search space.
        seed: The seed.
        direction: ``maximize`` or ``minimize``.
        rng: The searcher's ``numpy.random.Generator``.
        trials: Every trial so far, ``trials[i].number == i``.
        multi_fidelity: Whether the searcher models results at every budget (see above);
            ``False`` unless a subclass says otherwise.
        target_budget: The budget a multi-fidelity searcher proposes for; ``None``: the
            largest budget among its observations.
        lowest_budget_in_use: The lowest budget a scheduler still starts jobs at, when it
            stopped starting them at lower ones; ``None`` otherwise.
    """

    #: Short identifier, first key of :meth:`config`.
    name: ClassVar[str] = "base"
    #: Random draws :meth:`_random` tries before it enumerates a finite space's rest.
    max_random_draws: ClassVar[int] = 1000

    def __init__(self, space: SearchSpace, *, seed: int = 0, direction: str = "maximize") -> None:
        if direction not in DIRECTIONS:
            raise BonasError(f"direction must be 'maximize' or 'minimize', got {direction!r}")
        self.space = space
        self.seed = seed
        self.direction = direction
        self.rng = np.random.default_rng(seed)
        self.trials: list[Trial] = []
        self.multi_fidelity = False
        self.target_budget: float | None = None
        self.lowest_budget_in_use: float | None = None
        # ask, tell, propose and add_observation from several threads: one at a time
        self._lock = threading.RLock()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_lock", None)  # a lock cannot be copied or pickled; a copy gets its own
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    # -- to implement ----------------------------------------------------------------

    @abc.abstractmethod
    def _propose(self, n: int, taken: set[Architecture]) -> list[Architecture]:
        """``n`` distinct architectures, none of them in ``taken`` (every trial's).

        ``taken`` may be extended in place. Raise :class:`BonasError` if fewer than ``n``
        are left.
        """

    def _options(self) -> dict[str, Any]:
        """The subclass's own constructor parameters, for :meth:`config`."""
        return {}

    def _on_tell(self, trial: Trial) -> None:  # noqa: B027 - an optional hook
        """Called with the recorded trial at the end of every :meth:`tell`."""

    # -- configuration -------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """What identifies this searcher's behaviour (kept by studies), JSON-compatible.

        The first key is ``optimizer`` (the :attr:`name`), as studies have always stored it.
        """
        return {
            "optimizer": self.name,
            "space": self.space.name,
            "space_config": self.space.config(),
            "seed": self.seed,
            "direction": self.direction,
            **self._options(),
        }

    # -- ask / tell -----------------------------------------------------------------

    def ask(self, n: int = 1, budget: float | None = None) -> list[Trial]:
        """Propose ``n`` new architectures, distinct from every earlier trial's.

        Returns:
            ``n`` trials in the RUNNING state, numbered after the existing ones.

        Raises:
            BonasError: If the space has fewer than ``n`` architectures left.
        """
        with self._lock:
            return self._ask(n, budget)

    def _ask(self, n: int, budget: float | None) -> list[Trial]:
        if n < 1:
            raise BonasError(f"ask for at least one trial, got n={n}")
        taken = {t.architecture for t in self.trials}
        archs = self._propose(n, set(taken))
        if len(archs) != n or len(set(archs)) != n or any(a in taken for a in archs):
            raise BonasError(
                f"{type(self).__name__} proposed {len(archs)} architectures for n={n}, "
                "not all new and distinct"
            )
        now = time.time()
        new = []
        for arch in archs:
            trial = Trial(
                len(self.trials), arch, budget, TrialState.RUNNING, created_at=now, started_at=now
            )
            self.trials.append(trial)
            new.append(trial)
        return new

    def propose(
        self, n: int, taken: Iterable[Architecture], observations: Sequence[Trial]
    ) -> list[Architecture]:
        """Propose as if ``observations`` were the trials so far, recording nothing.

        For schedulers that keep the trials themselves: BOHB, for one, models only the
        results at one budget and must avoid every architecture started at any budget.
        Only ``taken`` is avoided, so an observed architecture may come back: a
        multi-fidelity scheduler leaves out of ``taken`` the architectures that stopped
        below the budget it starts, to continue one the model still rates.
        :attr:`trials` is left as it was; :attr:`rng` moves on as an :meth:`ask` would.

        Args:
            n: How many architectures.
            taken: Architectures not to propose.
            observations: The trials to decide from, numbered ``0 .. len - 1``.

        Returns:
            ``n`` distinct architectures, none in ``taken``.

        Raises:
            BonasError: If fewer than ``n`` untaken architectures are left.
        """
        with self._lock:
            return self._propose_for(n, taken, observations)

    def _propose_for(
        self, n: int, taken: Iterable[Architecture], observations: Sequence[Trial]
    ) -> list[Architecture]:
        if n < 1:
            raise BonasError(f"propose at least one architecture, got n={n}")
        taken = set(taken)
        with self._deciding_from(observations):
            archs = self._propose(n, set(taken))
        if len(archs) != n or len(set(archs)) != n or any(a in taken for a in archs):
            raise BonasError(f"{type(self).__name__} proposed taken or repeated architectures")
        return archs

    def predict_target(
        self, architectures: Sequence[Architecture], observations: Sequence[Trial]
    ) -> np.ndarray | None:
        """How good each of ``architectures`` is expected to be at :attr:`target_budget`,
        given ``observations`` (as :meth:`propose` takes them), larger better whatever the
        direction; ``None`` when the searcher has no model to say it with (the default).

        A scheduler promotes by these instead of the rung's own values when it has them
        (:class:`~bonas.schedulers.Hyperband`'s ``promote_by_model``). Only the order
        matters: a model may give them on its own scale. :attr:`trials` is left as it was.

        Args:
            architectures: What to predict, ``n`` of them.
            observations: The trials to decide from, numbered ``0 .. len - 1``.

        Returns:
            Shape ``(n,)``, or ``None``.
        """
        with self._lock, self._deciding_from(observations):
            return self._predict_target(list(architectures))

    @contextlib.contextmanager
    def _deciding_from(self, observations: Sequence[Trial]) -> Iterator[None]:
        """:attr:`trials` is ``observations`` inside the block, as it was after it."""
        saved = self.trials
        self.trials = list(observations)
        try:
            yield
        finally:
            self.trials = saved

    def _predict_target(self, architectures: list[Architecture]) -> np.ndarray | None:
        """:meth:`predict_target` from :attr:`trials`; ``None``: no model (the default)."""
        return None

    def tell(
        self, trial: Trial | int, value: float | None = None, *, failed: str | None = None
    ) -> Trial:
        """Record a trial's outcome: a value, or ``failed=reason``.

        A value that is not a finite real number (NaN, an infinity, a string, a boolean,
        an integer too large for a float: see :func:`~bonas.trial.finite_value`) is
        recorded as a failure with the reason. A told trial cannot be told again.
        """
        with self._lock:
            return self._tell(trial, value, failed)

    def _tell(self, trial: Trial | int, value: Any, failed: str | None) -> Trial:
        number = trial.number if isinstance(trial, Trial) else int(trial)
        if not 0 <= number < len(self.trials):
            raise BonasError(f"unknown trial number {number}; the study has {len(self.trials)}")
        record = self.trials[number]
        if record.state.finished:
            raise BonasError(f"trial {number} is already {record.state.value}")
        if (value is None) == (failed is None):
            raise BonasError("tell a trial either a value or failed=reason, not both or neither")
        record.finished_at = time.time()
        number, reason = (None, str(failed)) if failed is not None else finite_value(value)
        if number is None:
            record.state, record.failure = TrialState.FAILED, reason
        else:
            record.state, record.value = TrialState.COMPLETE, number
        self._on_tell(record)
        return record

    def add_observation(
        self, architecture: Architecture, value: float, budget: float | None = None
    ) -> Trial:
        """Record an evaluation made elsewhere (earlier runs, a table) as a complete trial."""
        with self._lock:
            return self._add_observation(architecture, value, budget)

    def _add_observation(
        self, architecture: Architecture, value: float, budget: float | None
    ) -> Trial:
        if architecture in {t.architecture for t in self.trials}:
            raise BonasError("this architecture is already a trial of the searcher")
        now = time.time()
        trial = Trial(
            len(self.trials),
            architecture,
            budget,
            TrialState.RUNNING,
            created_at=now,
            started_at=now,
        )
        self.trials.append(trial)
        return self._tell(trial, value, None)

    # -- results -------------------------------------------------------------------

    @property
    def best_trial(self) -> Trial | None:
        """The complete trial with the best value (the earliest among ties)."""
        usable = [t for t in self.trials if t.usable]
        if not usable:
            return None
        return max(usable, key=lambda t: (self._signed(t), -t.number))

    def _signed(self, trial: Trial) -> float:
        """The trial's value, negated when minimising: larger is always better."""
        sign = 1.0 if self.direction == "maximize" else -1.0
        return sign * float(trial.value)  # type: ignore[arg-type]

    # -- helpers for subclasses ------------------------------------------------------

    def _random(self, n: int, taken: set[Architecture]) -> list[Architecture]:
        """``n`` uniform samples of the space, distinct and not in ``taken`` (extended)."""
        chosen: list[Architecture] = []
        for _ in range(n):
            arch = self._random_unseen(taken)
            taken.add(arch)
            chosen.append(arch)
        return chosen

    def _random_unseen(self, taken: set[Architecture]) -> Architecture:
        """One uniform sample not in ``taken``: rejection sampling, and for a finite space
        whose rest is hard to hit, a uniform pick among its enumerated untried members.

        Raises:
            BonasError: If every architecture of a finite space is taken, or an infinite
                space gave only taken ones in :attr:`max_random_draws` draws.
        """
        for _attempt in range(self.max_random_draws):
            arch = self.space.sample(self.rng)
            if arch not in taken:
                return arch
        if self.space.is_finite:
            rest = [arch for arch in self.space.enumerate() if arch not in taken]
            if rest:
                return rest[int(self.rng.integers(len(rest)))]
            raise BonasError(
                f"every one of the {self.space.size} architectures of {self.space!r} has been tried"
            )
        raise BonasError(
            f"found no untried architecture in {self.max_random_draws} draws from "
            f"{type(self.space).__name__}"
        )

    # -- state ---------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """What a restart needs beyond the trials (JSON-compatible): the generator."""
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output (after restoring :attr:`trials`).

        Raises:
            BonasError: If ``state`` is malformed.
        """
        try:
            self.rng.bit_generator.state = state["rng"]
        except (KeyError, TypeError, ValueError) as err:
            raise BonasError(f"the searcher state is malformed: {err}") from None

"""The ask/tell optimizers: the shared bookkeeping and GP-based Bayesian optimisation.

Call order::

    opt = Optimizer(space, seed=0, acquisition="ei")
    trials = opt.ask(n)            # n distinct proposals, none observed or pending
    opt.tell(trials[0], 0.93)      # a value (larger is better unless direction="minimize")
    opt.tell(trials[1], failed="CUDA out of memory")   # recorded, kept out of the GP
    opt.best_trial

:class:`BaseOptimizer` holds what every optimizer shares (the trials, ask/tell, the best
trial, the seeded generator, the configuration and the restart state); :class:`Optimizer`
and the baselines of :mod:`bonas.benchmarks.baselines` only decide what to propose.

The first ``n_initial`` proposals of :class:`Optimizer` are random samples of the space.
After that each proposal maximises the acquisition (EI by default) of the GP surrogate
over candidates from :func:`~bonas.acquisition.make_acquisition_optimizer`; pending
trials, and the earlier picks of the same batch, are hallucinated (NASBOT), so a batch
spreads out.

Everything random comes from the optimizer's own generator (``seed``): the same seed
and the same answers give the same proposals, and :meth:`~BaseOptimizer.state_dict` /
:meth:`~BaseOptimizer.load_state_dict` carry it (with the surrogate's hyperparameters)
across a restart.
"""

from __future__ import annotations

import abc
import math
import time
import warnings
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import numpy as np
from gpytorch.utils.warnings import NumericalWarning

from bonas.acquisition.functions import ACQUISITIONS, hallucinate, make_acquisition, score
from bonas.acquisition.optimizer import make_acquisition_optimizer
from bonas.architecture import Architecture
from bonas.exceptions import BonasError
from bonas.spaces.base import SearchSpace
from bonas.surrogate import (
    KernelFactory,
    Surrogate,
    default_kernel_factory,
    find_screening_cache,
    find_wl_kernel,
)
from bonas.trial import Trial, TrialState

__all__ = ["BaseOptimizer", "Optimizer"]

DIRECTIONS = ("maximize", "minimize")


class BaseOptimizer(abc.ABC):
    """The bookkeeping every ask/tell optimizer shares; subclasses only propose.

    Call order, and who does what::

        opt = SomeOptimizer(space, seed=0, direction="maximize")
        trials = opt.ask(n, budget)
            # BaseOptimizer: checks n >= 1, collects ``taken`` (every trial's architecture)
            # subclass:      opt._propose(n, taken) -> n distinct architectures not in taken
            # BaseOptimizer: one RUNNING Trial each, numbered after the existing ones
        opt.tell(trial, value)            # or opt.tell(trial, failed="reason")
            # BaseOptimizer: COMPLETE, or FAILED (a NaN/inf value too); then
            # subclass:      opt._on_tell(trial)   (optional hook; does nothing by default)
        opt.add_observation(arch, value)  # an evaluation made elsewhere, as a complete trial
        opt.best_trial                    # the best complete trial, earliest among ties
        opt.config()                      # JSON-able: name, space, seed, direction + options
        state = opt.state_dict()          # JSON-able: the generator (+ the subclass's state)
        again = SomeOptimizer(space, seed=0)
        again.trials = trials_so_far      # e.g. rebuilt from a study file
        again.load_state_dict(state)      # again now proposes what opt would

    A subclass sets :attr:`name`, implements :meth:`_propose` and :meth:`_options`, and
    extends :meth:`state_dict` / :meth:`load_state_dict` with whatever its proposals
    depend on beyond ``self.trials`` and ``self.rng``. It draws every random number from
    ``self.rng``. Studies save the state right after each ask, so state that must survive
    a restart is best updated in :meth:`_propose` and derived from the trials' outcomes
    there, rather than in :meth:`_on_tell`.

    Args:
        space: Where architectures come from.
        seed: Seed of the optimizer's own random generator.
        direction: ``maximize`` or ``minimize`` the told values.

    Attributes:
        space: The search space.
        seed: The seed.
        direction: ``maximize`` or ``minimize``.
        rng: The optimizer's ``numpy.random.Generator``.
        trials: Every trial so far, ``trials[i].number == i``.
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
        """What identifies this optimizer's behaviour (kept by studies), JSON-compatible."""
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
        :attr:`trials` is left as it was; :attr:`rng` moves on as an :meth:`ask` would.

        Args:
            n: How many architectures.
            taken: Architectures not to propose (every one started anywhere).
            observations: The trials to decide from, numbered ``0 .. len - 1``.

        Returns:
            ``n`` distinct architectures, none in ``taken``.

        Raises:
            BonasError: If fewer than ``n`` untaken architectures are left.
        """
        if n < 1:
            raise BonasError(f"propose at least one architecture, got n={n}")
        taken = set(taken) | {t.architecture for t in observations}
        saved = self.trials
        self.trials = list(observations)
        try:
            archs = self._propose(n, set(taken))
        finally:
            self.trials = saved
        if len(archs) != n or len(set(archs)) != n or any(a in taken for a in archs):
            raise BonasError(f"{type(self).__name__} proposed taken or repeated architectures")
        return archs

    def tell(
        self, trial: Trial | int, value: float | None = None, *, failed: str | None = None
    ) -> Trial:
        """Record a trial's outcome: a value, or ``failed=reason``.

        A NaN or infinite value is recorded as a failure. A told trial cannot be told
        again.
        """
        number = trial.number if isinstance(trial, Trial) else int(trial)
        if not 0 <= number < len(self.trials):
            raise BonasError(f"unknown trial number {number}; the study has {len(self.trials)}")
        record = self.trials[number]
        if record.state.finished:
            raise BonasError(f"trial {number} is already {record.state.value}")
        if (value is None) == (failed is None):
            raise BonasError("tell a trial either a value or failed=reason, not both or neither")
        record.finished_at = time.time()
        if failed is not None:
            record.state, record.failure = TrialState.FAILED, str(failed)
        elif not isinstance(value, int | float) or not math.isfinite(float(value)):
            record.state, record.failure = TrialState.FAILED, f"non-finite value {value!r}"
        else:
            record.state, record.value = TrialState.COMPLETE, float(value)
        self._on_tell(record)
        return record

    def add_observation(
        self, architecture: Architecture, value: float, budget: float | None = None
    ) -> Trial:
        """Record an evaluation made elsewhere (earlier runs, a table) as a complete trial."""
        if architecture in {t.architecture for t in self.trials}:
            raise BonasError("this architecture is already a trial of the optimizer")
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
        return self.tell(trial, value)

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
            raise BonasError(f"the optimizer state is malformed: {err}") from None


class Optimizer(BaseOptimizer):
    """Bayesian optimisation over a search space, one ask/tell at a time.

    Args:
        space: Where architectures come from.
        seed: Seed of the optimizer's own random generator.
        acquisition: ``ei``, ``logei`` or ``ucb``.
        kernel: ``auto`` (OTMANN on CNN/MLP spaces, WL on cell spaces), ``otmann``, ``wl``,
            ``wl+ops`` (WL plus an edge-op kernel, on NB201 and other fixed-edge cells),
            ``edit``, or a factory ``registry -> gpytorch Kernel``.
        direction: ``maximize`` or ``minimize`` the told values.
        n_initial: Random proposals before the model takes over.
        num_candidates: Acquisition evaluations per proposal for the GA.
        refit_every: Refit GP hyperparameters after this many new observations.
        refit_growth: Past 100 observations, and once they have grown by this fraction
            since the last fit. ``None``: 0.1 for kernels that are not guaranteed PSD
            (OTMANN's, whose fits cost seconds at hundreds of observations), else 0; see
            :class:`~bonas.surrogate.Surrogate`.
        exhaustive_limit: Finite spaces up to this size are scored exhaustively.
        warping: ``copula`` (the default) models the values' normal scores
            (:func:`~bonas.surrogate.copula_warp`); ``none`` models the values.
        multi_fidelity: Model every trial's ``(architecture, budget)`` with
            :class:`~bonas.kernels.ArchitectureBudgetKernel` and score candidates at
            :attr:`target_budget` (by default the largest budget told), so that cheap
            results inform the choice at the full budget. Trials without a budget count
            as at the target budget.
        screen_top: With a kernel over OTMANN distances, the GA ranks its candidates by
            the acquisition computed from cheap lower bounds of the distances it has not
            computed yet (:meth:`~bonas.kernels.OTMANNDistance.pairwise_lower_bounds`),
            and only the ``screen_top`` best are scored again with exact distances (and
            chosen from). Exact distances are the costly part of an ask on free-form
            spaces. ``0`` scores every candidate exactly. Other kernels ignore it.
        screen_neighbours: With screening, the short list's exact distances are computed
            to the ``screen_neighbours`` (20) observed or pending architectures nearest
            each candidate by the bounds, which carry most of its covariance with the
            data; its farther pairs keep their bounds (within about 1 %). ``0``: exact
            distances to every observation. At 500 CNN observations, 20 cuts the short
            list's exact distances from about 3-4 s of an ask to 0.4 s, and it chose what
            the all-exact short list chose in 9 of 9 asks at 150 and 400 observations.
        noise: ``None`` (the default) fits the GP's observation noise; a variance, in
            units of the standardised (warped) values, fixes it. For an objective that
            returns the same value every time, such as a benchmark table's lookups, use
            :data:`~bonas.surrogate.NOISE_FREE` (the replays do).

    Attributes:
        target_budget: The budget a multi-fidelity model proposes for (a scheduler sets
            its top rung); ``None`` for the largest budget among the trials.

    Example:
        >>> from bonas.spaces import NB201Space
        >>> opt = Optimizer(NB201Space(), seed=0, n_initial=2)
        >>> for _ in range(3):
        ...     (trial,) = opt.ask()
        ...     _ = opt.tell(trial, float(NB201Space().to_string(trial.architecture).count("3x3")))
        >>> opt.best_trial.state.value
        'complete'
    """

    name = "bonas"

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int = 0,
        acquisition: str = "ei",
        kernel: str | KernelFactory = "auto",
        direction: str = "maximize",
        n_initial: int = 10,
        num_candidates: int = 1000,
        refit_every: int = 1,
        refit_growth: float | None = None,
        exhaustive_limit: int = 20_000,
        warping: str = "copula",
        multi_fidelity: bool = False,
        noise: float | None = None,
        screen_top: int = 50,
        screen_neighbours: int = 20,
    ) -> None:
        if acquisition not in ACQUISITIONS:
            raise BonasError(f"unknown acquisition {acquisition!r}; choose from {ACQUISITIONS}")
        super().__init__(space, seed=seed, direction=direction)
        if n_initial < 1:
            raise BonasError(f"n_initial must be at least 1, got {n_initial}")
        if screen_top < 0:
            raise BonasError(f"screen_top must be 0 (off) or more, got {screen_top}")
        if screen_neighbours < 0:
            raise BonasError(f"screen_neighbours must be 0 (all) or more, got {screen_neighbours}")
        self.acquisition = acquisition
        self.kernel_name = kernel if isinstance(kernel, str) else "custom"
        self.n_initial = n_initial
        self.num_candidates = num_candidates
        self.refit_every = refit_every
        factory = default_kernel_factory(space, kernel) if isinstance(kernel, str) else kernel
        self.warping = warping
        self.multi_fidelity = bool(multi_fidelity)
        self.noise = noise
        self.screen_top = int(screen_top)
        self.screen_neighbours = int(screen_neighbours)
        self.target_budget: float | None = None
        self.surrogate = Surrogate(
            factory,
            refit_every=refit_every,
            refit_growth=refit_growth,
            warping=warping,
            multi_fidelity=multi_fidelity,
            noise=noise,
        )
        self.acquisition_optimizer = make_acquisition_optimizer(
            space, num_evaluations=num_candidates, exhaustive_limit=exhaustive_limit
        )

    @property
    def refit_growth(self) -> float:
        """The surrogate's refit growth (``refit_growth``, resolved for the kernel)."""
        return self.surrogate.refit_growth

    def _options(self) -> dict[str, Any]:
        return {
            "acquisition": self.acquisition,
            "kernel": self.kernel_name,
            "n_initial": self.n_initial,
            "num_candidates": self.num_candidates,
            "refit_every": self.refit_every,
            "refit_growth": self.refit_growth,
            "warping": self.warping,
            "multi_fidelity": self.multi_fidelity,
            "noise": self.noise,
            "screen_top": self.screen_top,
            "screen_neighbours": self.screen_neighbours,
        }

    # -- proposals -----------------------------------------------------------------

    def _propose(self, n: int, taken: set[Architecture]) -> list[Architecture]:
        usable = [t for t in self.trials if t.usable]
        if len(usable) < self.n_initial:
            return self._random(n, taken)
        return self._model_based(n, taken, usable)

    def _model_based(
        self, n: int, taken: set[Architecture], usable: list[Trial]
    ) -> list[Architecture]:
        values = [self._signed(t) for t in usable]
        archs = [t.architecture for t in usable]
        pending = [t.architecture for t in self.trials if not t.state.finished]
        log_budget = None
        if self.multi_fidelity:
            told = [t.budget for t in usable if t.budget is not None]
            target = self.target_budget or (max(told) if told else 1.0)
            budgets = [target if t.budget is None else t.budget for t in usable]
            model = self.surrogate.fit(archs, values, budgets)
            log_budget = math.log(target)
            # the incumbent at the target budget: the best posterior mean there (on the
            # GP's warped scale), since few architectures may have reached it
            unique = list(dict.fromkeys(archs))
            best_f = float(np.max(self.surrogate.predict(unique, target)[0]))
            at_target = {a: v for a, v, b in zip(archs, values, budgets, strict=True)
                         if b == target}  # fmt: skip
            ranked = sorted(at_target, key=at_target.__getitem__, reverse=True)
            best_first = ranked + [a for a in unique if a not in at_target]
        else:
            model = self.surrogate.fit(archs, values)
            best_f = float(np.max(self.surrogate.train_targets))  # on the GP's (warped) scale
            best_first = [usable[i].architecture for i in np.argsort(values)[::-1]]
        registry = self.surrogate.registry
        conditioned = hallucinate(model, registry.add_all(pending), log_budget)
        acq = make_acquisition(self.acquisition, conditioned, best_f, len(usable))

        cache = find_screening_cache(self.surrogate.kernel) if self.screen_top else None
        if cache is not None:
            # the model computes (and keeps) its training covariance at its first
            # posterior: here, outside screening, so that it is exact. (A fit does it too,
            # but between refits, and with a short list exact to its nearest observations
            # only, the newest observations' pairs would otherwise be bounded.)
            score(acq, registry.add_all(best_first[:1]), log_budget=log_budget)

        def score_archs(archs: Sequence[Architecture]) -> np.ndarray:
            if cache is None:
                return score(acq, registry.add_all(archs), log_budget=log_budget)
            # distance bounds for the new pairs (see screen_top); the approximate
            # covariances may give slightly negative variances, which gpytorch clamps
            with cache.screening(), warnings.catch_warnings():
                warnings.simplefilter("ignore", NumericalWarning)
                return score(acq, registry.add_all(archs), log_budget=log_budget)

        ranked = self.acquisition_optimizer.optimize(score_archs, best_first, taken, self.rng)
        partly_exact = False
        if cache is not None:
            # the best few of the screened ranking, scored again with exact distances
            short = [arch for arch, _ in ranked[: max(self.screen_top, n)]]
            known = list(dict.fromkeys([*archs, *pending]))
            partly_exact = 0 < self.screen_neighbours < len(known)
            if partly_exact:
                # exact to the nearest observations only; the far pairs keep their bounds
                self._fill_nearest(cache, short, known)
                exact = score_archs(short)
            else:
                exact = score(acq, registry.add_all(short), log_budget=log_budget)
            ranked = [(short[i], float(exact[i])) for i in np.argsort(-exact, kind="stable")]
        if len(ranked) < n:
            raise BonasError(f"only {len(ranked)} untried architectures were found; asked for {n}")
        chosen = [ranked[0][0]]
        candidates = [arch for arch, _ in ranked[1 : 1 + max(self.num_candidates, n)]]
        while len(chosen) < n:
            # NASBOT's hallucination: condition on the picks so far, re-score the rest
            conditioned = hallucinate(model, registry.add_all(pending + chosen), log_budget)
            acq = make_acquisition(self.acquisition, conditioned, best_f, len(usable))
            if partly_exact:  # as the short list was scored: exact only to the nearest
                values_now = score_archs(candidates)
            else:
                values_now = score(acq, registry.add_all(candidates), log_budget=log_budget)
            pick = int(np.argmax(values_now))
            chosen.append(candidates.pop(pick))
        return chosen

    def _fill_nearest(
        self, cache: Any, candidates: Sequence[Architecture], known: Sequence[Architecture]
    ) -> None:
        """Cache the exact distances of each candidate to its ``screen_neighbours``
        nearest ``known`` architectures, nearness being the sum of the bounds' normalised
        (emd) distances."""
        with cache.screening():
            bounds = cache.matrix(candidates, known)
        nearness = bounds[..., 1::2].sum(axis=-1)
        nearest = np.argsort(nearness, axis=1, kind="stable")[:, : self.screen_neighbours]
        cache.fill_pairs(candidates, [[known[j] for j in row] for row in nearest.tolist()])

    # -- state ---------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """What a restart needs beyond the trials: the generator and the surrogate."""
        found = find_wl_kernel(self.surrogate.kernel)
        wl = None if found is None else found.h
        return {
            **super().state_dict(),
            "hyperparameters": self.surrogate.hyperparameters(),
            "observations_at_fit": self.surrogate._observations_at_fit,
            "wl_depth": wl,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""
        super().load_state_dict(state)
        try:
            self.surrogate.load_hyperparameters(
                state["hyperparameters"], int(state["observations_at_fit"])
            )
        except (KeyError, TypeError, ValueError) as err:
            raise BonasError(f"the optimizer state is malformed: {err}") from None
        kernel = find_wl_kernel(self.surrogate.kernel)
        if state.get("wl_depth") is not None and kernel is not None:
            kernel.h = int(state["wl_depth"])

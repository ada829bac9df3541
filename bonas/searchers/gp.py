"""The GP searcher: Bayesian optimisation over a search space, one ask/tell at a time.

Call order::

    searcher = GPSearcher(space, seed=0, acquisition="ei")
    trials = searcher.ask(n)            # n distinct proposals, none observed or pending
    searcher.tell(trials[0], 0.93)      # a value (larger is better unless direction="minimize")
    searcher.tell(trials[1], failed="CUDA out of memory")   # recorded, kept out of the GP
    searcher.best_trial

The first ``n_initial`` proposals are random samples of the space. After that each
proposal maximises the acquisition (EI by default) of the GP surrogate
(:class:`~bonas.surrogate.Surrogate`) over candidates from
:func:`~bonas.acquisition.make_acquisition_optimizer`; pending trials, and the earlier
picks of the same batch, are hallucinated (NASBOT), so a batch spreads out.

Everything random comes from the searcher's own generator (``seed``): the same seed and
the same answers give the same proposals, and :meth:`GPSearcher.state_dict` /
:meth:`GPSearcher.load_state_dict` carry it (with the surrogate's state) across a
restart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gpytorch.kernels import Kernel
from scipy.stats import spearmanr

from bonas.acquisition.functions import ACQUISITIONS, make_acquisition, score
from bonas.acquisition.optimizer import make_acquisition_optimizer
from bonas.architecture import Architecture
from bonas.exceptions import BonasError
from bonas.model_average import ModelAverage, candidate_kernel_factories
from bonas.searchers.base import Searcher
from bonas.spaces.base import SearchSpace
from bonas.surrogate import KernelFactory, Surrogate, default_kernel_factory
from bonas.trial import Trial

__all__ = [
    "DROPPED_BUDGETS",
    "MIN_RANKED_AT_TARGET",
    "GPSearcher",
    "resolve_kernel_name",
    "stored_kernel_name",
]

#: What a multi-fidelity GP does with the results at budgets its scheduler dropped.
DROPPED_BUDGETS = ("keep", "drop", "choose")
#: Architectures with a result at the target budget that ``dropped_budgets="choose"``
#: needs before it compares the two models; below it, it keeps every result.
MIN_RANKED_AT_TARGET = 6


def resolve_kernel_name(space: SearchSpace, kernel: str) -> str:
    """The kernel name ``kernel`` stands for on ``space``: ``auto`` is ``average`` (the
    :class:`~bonas.model_average.ModelAverage` of WL, a categorical kernel and their
    sum) on a space with a categorical encoding (cells, NB101, NAS-Bench-Graph, DARTS),
    and the space's :attr:`~bonas.spaces.base.SearchSpace.default_kernel` elsewhere
    (OTMANN on NASBOT's CNN/MLP spaces, WL on a table's free-form graphs); other names
    are themselves.

    Example:
        >>> from bonas.spaces import CNNSpace, NB201Space
        >>> resolve_kernel_name(NB201Space(), "auto"), resolve_kernel_name(CNNSpace(), "auto")
        ('average', 'otmann')
    """
    if kernel != "auto":
        return kernel
    if len(candidate_kernel_factories(space)) > 1:
        return "average"
    return getattr(space, "default_kernel", "otmann")


def stored_kernel_name(space: SearchSpace, stored: str) -> str:
    """The kernel a stored searcher configuration names. Studies written before ``auto``
    was resolved on creation stored ``auto`` itself, which then meant the space's
    :attr:`~bonas.spaces.base.SearchSpace.default_kernel`; they resume with that kernel,
    so that they propose what they would have."""
    return getattr(space, "default_kernel", "otmann") if stored == "auto" else stored


class GPSearcher(Searcher):
    """Bayesian optimisation over a search space, one ask/tell at a time.

    Args:
        space: Where architectures come from.
        seed: Seed of the optimizer's own random generator.
        acquisition: ``ei``, ``logei`` or ``ucb``.
        kernel: A gpytorch kernel over architecture ids, such as
            ``ScaleKernel(WLKernel(ArchitectureRegistry()))`` (its architecture kernels
            share one registry; give each searcher its own kernel object), a factory
            ``registry -> Kernel``, or a name: ``auto`` (see
            :func:`resolve_kernel_name`: ``average`` on spaces with a categorical
            encoding, else the space's own kernel), ``average`` (a
            :class:`~bonas.model_average.ModelAverage` of the kernels the space's
            encoding allows, weighed by their leave-one-out predictions at every fit),
            ``otmann``, ``wl``, ``wl+ops`` (WL plus an edge-op kernel, on NB201 and other
            fixed-edge cells) or ``edit``. The searcher's :meth:`config` (what a study
            stores) names the kernel ``auto`` resolved to.
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
        dropped_budgets: What a multi-fidelity GP does, while its scheduler sets
            :attr:`lowest_budget_in_use`, with the results at the budgets below it.
            ``keep`` (the default) conditions on them as on any other. ``drop``
            conditions only on the results at the budgets in use (the hyperparameters
            are still fitted to every result, the most data on how architectures
            relate). ``choose`` decides at every fit, from the data: for each
            architecture with a result at the target budget (at least
            :data:`MIN_RANKED_AT_TARGET`; else it keeps), it predicts that result with
            every result of the architecture left out
            (:func:`~bonas.model_average.leave_out_means`), once conditioned on every
            budget and once on the budgets in use, and drops the low budgets when the
            second set of predictions ranks the target results better (Spearman's
            rho): where low budgets mislead about unseen architectures, the model
            leaves them out; where they inform, it keeps them. Its decisions are listed
            in :attr:`budget_choices`.

    Example:
        >>> from bonas.spaces import NB201Space
        >>> opt = GPSearcher(NB201Space(), seed=0, n_initial=2)
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
        kernel: str | Kernel | KernelFactory = "auto",
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
        dropped_budgets: str = "keep",
    ) -> None:
        if dropped_budgets not in DROPPED_BUDGETS:
            raise BonasError(
                f"unknown dropped_budgets {dropped_budgets!r}; choose from {DROPPED_BUDGETS}"
            )
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
        # a name is what a study stores to rebuild the searcher; objects are "custom"
        self.kernel_name = (
            resolve_kernel_name(space, kernel) if isinstance(kernel, str) else "custom"
        )
        self.n_initial = n_initial
        self.num_candidates = num_candidates
        self.refit_every = refit_every
        self.warping = warping
        self.multi_fidelity = bool(multi_fidelity)
        self.noise = noise
        self.screen_top = int(screen_top)
        self.screen_neighbours = int(screen_neighbours)
        self.dropped_budgets = dropped_budgets
        #: ``dropped_budgets="choose"``'s decisions: observations, the lowest budget in
        #: use, each model's rank correlation, and whether the low budgets were dropped.
        self.budget_choices: list[dict[str, Any]] = []
        settings: dict[str, Any] = {
            "refit_every": refit_every,
            "refit_growth": refit_growth,
            "warping": warping,
            "multi_fidelity": multi_fidelity,
            "noise": noise,
        }
        self.surrogate: Surrogate | ModelAverage
        if self.kernel_name == "average":
            self.surrogate = ModelAverage(candidate_kernel_factories(space), **settings)
        else:
            surrogate_kernel = (
                default_kernel_factory(space, self.kernel_name)
                if isinstance(kernel, str)
                else kernel
            )
            self.surrogate = Surrogate(surrogate_kernel, **settings)
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
            # stored only when not "keep": a study from before the option matches
            **({"dropped_budgets": self.dropped_budgets} if self.dropped_budgets != "keep" else {}),
        }

    # -- proposals -----------------------------------------------------------------

    def _propose(self, n: int, taken: set[Architecture]) -> list[Architecture]:
        usable = [t for t in self.trials if t.usable]
        if len(usable) < self.n_initial:
            return self._random(n, taken)
        return self._model_based(n, taken, usable)

    def _fit_every_budget(self, usable: list[Trial]) -> tuple[float, list[float]]:
        """Fit the multi-fidelity surrogate to ``usable`` (conditioned on part of them as
        ``dropped_budgets`` says); returns the budget to propose for
        (:attr:`target_budget`, else the largest told) and each trial's budget."""
        told = [t.budget for t in usable if t.budget is not None]
        budget = self.target_budget or (max(told) if told else 1.0)
        budgets = [budget if t.budget is None else t.budget for t in usable]
        values = [self._signed(t) for t in usable]
        archs = [t.architecture for t in usable]
        self.surrogate.fit(archs, values, budgets)
        floor = self.lowest_budget_in_use
        if self.dropped_budgets == "keep" or floor is None or min(budgets) >= floor:
            return budget, budgets
        kept = [i for i, b in enumerate(budgets) if b >= floor]
        if self.dropped_budgets == "choose":
            every = self._target_ranking(archs, values, budgets, budget, range(len(archs)))
            if every is None:
                return budget, budgets
            self._condition_on(archs, values, budgets, kept)
            in_use_rho = self._target_ranking(archs, values, budgets, budget, kept)
            drop = in_use_rho is not None and in_use_rho > every
            self.budget_choices.append({
                "observations": len(archs), "lowest_budget_in_use": floor,
                "rho_every_budget": every, "rho_budgets_in_use": in_use_rho, "dropped": drop,
            })  # fmt: skip
            if not drop:
                self.surrogate.fit(archs, values, budgets, keep_hyperparameters=True)
            return budget, budgets
        self._condition_on(archs, values, budgets, kept)
        return budget, budgets

    def _condition_on(
        self, archs: list[Architecture], values: list[float], budgets: list[float], kept: list[int]
    ) -> None:
        """Condition the surrogate on the ``kept`` observations, with the hyperparameters
        of its last fit."""
        self.surrogate.fit(
            [archs[i] for i in kept], [values[i] for i in kept], [budgets[i] for i in kept],
            keep_hyperparameters=True,
        )  # fmt: skip

    def _target_ranking(
        self,
        archs: list[Architecture],
        values: list[float],
        budgets: list[float],
        target: float,
        conditioned: Sequence[int],
    ) -> float | None:
        """Spearman's rho between the target-budget results of the architectures that
        have one and the fitted surrogate's predictions of them with each architecture's
        every result left out; ``conditioned``: the observations (indices into
        ``archs``) the surrogate is conditioned on, in order. ``None`` with fewer than
        :data:`MIN_RANKED_AT_TARGET` such architectures; a constant prediction counts as
        no ranking (-1)."""
        rows: dict[Architecture, list[int]] = {}
        for row, i in enumerate(conditioned):
            rows.setdefault(archs[i], []).append(row)
        groups = []
        actual = []
        for arch_rows in rows.values():
            at_target = [r for r in arch_rows if budgets[conditioned[r]] == target]
            if at_target:
                # the first target result is the one predicted; every result leaves
                groups.append([at_target[0], *[r for r in arch_rows if r != at_target[0]]])
                actual.append(values[conditioned[at_target[0]]])
        if len(groups) < MIN_RANKED_AT_TARGET:
            return None
        try:
            predicted = self.surrogate.leave_out_means(groups)
        except BonasError:
            return None
        if np.ptp(predicted) == 0 or np.ptp(actual) == 0:
            return -1.0
        return float(spearmanr(predicted, actual).statistic)

    def _predict_target(self, architectures: list[Architecture]) -> np.ndarray | None:
        # the posterior mean at the target budget: a low budget's value counts as much
        # as the fitted correlation across budgets says, and similar architectures'
        # results at the target count too
        usable = [t for t in self.trials if t.usable]
        if not self.multi_fidelity or len(usable) < self.n_initial or not architectures:
            return None
        budget, _ = self._fit_every_budget(usable)
        return self.surrogate.predict(architectures, budget)[0]

    def _model_based(
        self, n: int, taken: set[Architecture], usable: list[Trial]
    ) -> list[Architecture]:
        values = [self._signed(t) for t in usable]
        archs = [t.architecture for t in usable]
        pending = [t.architecture for t in self.trials if not t.state.finished]
        surrogate = self.surrogate
        budget = None
        if self.multi_fidelity:
            budget, budgets = self._fit_every_budget(usable)
            # the incumbent at the target budget: the best posterior mean there (on the
            # GP's warped scale), since few architectures may have reached it
            unique = list(dict.fromkeys(archs))
            best_f = float(np.max(surrogate.predict(unique, budget)[0]))
            at_target = {a: v for a, v, b in zip(archs, values, budgets, strict=True)
                         if b == budget}  # fmt: skip
            ranked = sorted(at_target, key=at_target.__getitem__, reverse=True)
            best_first = ranked + [a for a in unique if a not in at_target]
        else:
            surrogate.fit(archs, values)
            best_f = float(np.max(surrogate.train_targets))  # on the GP's (warped) scale
            best_first = [usable[i].architecture for i in np.argsort(values)[::-1]]
        acq = make_acquisition(
            self.acquisition, surrogate.hallucinate(pending, budget), best_f, len(usable)
        )

        screen = self.screen_top > 0 and surrogate.can_screen
        if screen:
            # the model computes (and keeps) its training covariance at its first
            # posterior: here, outside screening, so that it is exact. (A fit does it too,
            # but between refits, and with a short list exact to its nearest observations
            # only, the newest observations' pairs would otherwise be bounded.)
            score(acq, surrogate.inputs(best_first[:1], budget))

        def exact_scores(candidates: Sequence[Architecture]) -> np.ndarray:
            return score(acq, surrogate.inputs(candidates, budget))

        def screened_scores(candidates: Sequence[Architecture]) -> np.ndarray:
            # distance bounds for the pairs not computed yet (see screen_top)
            with surrogate.screening():
                return exact_scores(candidates)

        ranked = self.acquisition_optimizer.optimize(
            screened_scores if screen else exact_scores, best_first, taken, self.rng
        )
        if self.multi_fidelity:
            # observed architectures left out of ``taken``: a scheduler offers to continue
            # those that stopped below the budget it starts; the GA does not score them
            in_ranked = {arch for arch, _ in ranked}
            again = [a for a in unique if a not in taken and a not in in_ranked]
            if again:
                again_scores = (screened_scores if screen else exact_scores)(again)
                ranked = sorted(
                    [*ranked, *zip(again, again_scores.tolist(), strict=True)],
                    key=lambda pair: -pair[1],
                )
        partly_exact = False
        if screen:
            # the best few of the screened ranking, scored again with exact distances
            short = [arch for arch, _ in ranked[: max(self.screen_top, n)]]
            known = list(dict.fromkeys([*archs, *pending]))
            partly_exact = 0 < self.screen_neighbours < len(known)
            if partly_exact:
                # exact to the nearest observations only; the far pairs keep their bounds
                surrogate.fill_nearest(short, known, self.screen_neighbours)
                exact = screened_scores(short)
            else:
                exact = exact_scores(short)
            ranked = [(short[i], float(exact[i])) for i in np.argsort(-exact, kind="stable")]
        if len(ranked) < n:
            raise BonasError(f"only {len(ranked)} untried architectures were found; asked for {n}")
        chosen = [ranked[0][0]]
        candidates = [arch for arch, _ in ranked[1 : 1 + max(self.num_candidates, n)]]
        while len(chosen) < n:
            # NASBOT's hallucination: condition on the picks so far, re-score the rest
            conditioned = surrogate.hallucinate(pending + chosen, budget)
            acq = make_acquisition(self.acquisition, conditioned, best_f, len(usable))
            # as the short list was scored: exact only to the nearest, if so
            values_now = screened_scores(candidates) if partly_exact else exact_scores(candidates)
            pick = int(np.argmax(values_now))
            chosen.append(candidates.pop(pick))
        return chosen

    # -- state ---------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """What a restart needs beyond the trials: the generator and the surrogate."""
        return {**super().state_dict(), **self.surrogate.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output.

        Raises:
            BonasError: If ``state`` is malformed.
        """
        super().load_state_dict(state)
        self.surrogate.load_state_dict(state)

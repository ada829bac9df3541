"""The ask/tell optimizer: GP-based Bayesian optimisation over architectures.

Call order::

    opt = Optimizer(space, seed=0, acquisition="ei")
    trials = opt.ask(n)            # n distinct proposals, none observed or pending
    opt.tell(trials[0], 0.93)      # a value (larger is better unless direction="minimize")
    opt.tell(trials[1], failed="CUDA out of memory")   # recorded, kept out of the GP
    opt.best_trial

The first ``n_initial`` proposals are random samples of the space. After that each
proposal maximises the acquisition (EI by default) of the GP surrogate over candidates
from :func:`~bonas.acquisition.make_acquisition_optimizer`; pending trials, and the
earlier picks of the same batch, are hallucinated (NASBOT), so a batch spreads out.

Everything random comes from the optimizer's own generator (``seed``): the same seed
and the same answers give the same proposals, and :meth:`state_dict` /
:meth:`load_state_dict` carry it (with the surrogate's hyperparameters) across a restart.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from bonas.acquisition.functions import ACQUISITIONS, hallucinate, make_acquisition, score
from bonas.acquisition.optimizer import make_acquisition_optimizer
from bonas.architecture import Architecture
from bonas.exceptions import BonasError
from bonas.spaces.base import SearchSpace
from bonas.surrogate import KernelFactory, Surrogate, default_kernel_factory
from bonas.trial import Trial, TrialState

__all__ = ["Optimizer"]


class Optimizer:
    """Bayesian optimisation over a search space, one ask/tell at a time.

    Args:
        space: Where architectures come from.
        seed: Seed of the optimizer's own random generator.
        acquisition: ``ei``, ``logei`` or ``ucb``.
        kernel: ``auto`` (OTMANN on CNN/MLP spaces, WL on cell spaces), ``otmann``, ``wl``,
            or a factory ``registry -> gpytorch Kernel``.
        direction: ``maximize`` or ``minimize`` the told values.
        n_initial: Random proposals before the model takes over.
        num_candidates: Acquisition evaluations per proposal for the GA.
        refit_every: Refit GP hyperparameters after this many new observations.
        exhaustive_limit: Finite spaces up to this size are scored exhaustively.

    Example:
        >>> from bonas.spaces import NB201Space
        >>> opt = Optimizer(NB201Space(), seed=0, n_initial=2)
        >>> for _ in range(3):
        ...     (trial,) = opt.ask()
        ...     _ = opt.tell(trial, float(NB201Space().to_string(trial.architecture).count("3x3")))
        >>> opt.best_trial.state.value
        'complete'
    """

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
        exhaustive_limit: int = 20_000,
    ) -> None:
        if acquisition not in ACQUISITIONS:
            raise BonasError(f"unknown acquisition {acquisition!r}; choose from {ACQUISITIONS}")
        if direction not in ("maximize", "minimize"):
            raise BonasError(f"direction must be 'maximize' or 'minimize', got {direction!r}")
        if n_initial < 1:
            raise BonasError(f"n_initial must be at least 1, got {n_initial}")
        self.space = space
        self.seed = seed
        self.acquisition = acquisition
        self.kernel_name = kernel if isinstance(kernel, str) else "custom"
        self.direction = direction
        self.n_initial = n_initial
        self.num_candidates = num_candidates
        self.refit_every = refit_every
        self.rng = np.random.default_rng(seed)
        factory = default_kernel_factory(space, kernel) if isinstance(kernel, str) else kernel
        self.surrogate = Surrogate(factory, refit_every=refit_every)
        self.acquisition_optimizer = make_acquisition_optimizer(
            space, num_evaluations=num_candidates, exhaustive_limit=exhaustive_limit
        )
        self.trials: list[Trial] = []

    # -- configuration -------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """What identifies this optimizer's behaviour (kept by studies)."""
        return {
            "space": self.space.name,
            "space_config": self.space.config(),
            "seed": self.seed,
            "acquisition": self.acquisition,
            "kernel": self.kernel_name,
            "direction": self.direction,
            "n_initial": self.n_initial,
            "num_candidates": self.num_candidates,
            "refit_every": self.refit_every,
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
        usable = [t for t in self.trials if t.usable]
        if len(usable) < self.n_initial:
            archs = self._random(n, taken)
        else:
            archs = self._model_based(n, taken, usable)
        now = time.time()
        new = []
        for arch in archs:
            trial = Trial(
                len(self.trials), arch, budget, TrialState.RUNNING, created_at=now, started_at=now
            )
            self.trials.append(trial)
            new.append(trial)
        return new

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
        sign = 1.0 if self.direction == "maximize" else -1.0
        return max(usable, key=lambda t: (sign * float(t.value), -t.number))  # type: ignore[arg-type]

    # -- proposals -----------------------------------------------------------------

    def _random(self, n: int, taken: set[Architecture]) -> list[Architecture]:
        chosen: list[Architecture] = []
        for _ in range(n):
            for _attempt in range(1000):
                arch = self.space.sample(self.rng)
                if arch not in taken:
                    break
            else:
                raise BonasError(
                    f"found no untried architecture in 1000 draws from {type(self.space).__name__}"
                )
            taken.add(arch)
            chosen.append(arch)
        return chosen

    def _model_based(
        self, n: int, taken: set[Architecture], usable: list[Trial]
    ) -> list[Architecture]:
        sign = 1.0 if self.direction == "maximize" else -1.0
        values = [sign * float(t.value) for t in usable]  # type: ignore[arg-type]
        model = self.surrogate.fit([t.architecture for t in usable], values)
        pending = [t.architecture for t in self.trials if not t.state.finished]
        best_f = max(values)
        best_first = [usable[i].architecture for i in np.argsort(values)[::-1]]
        registry = self.surrogate.registry
        conditioned = hallucinate(model, registry.add_all(pending))
        acq = make_acquisition(self.acquisition, conditioned, best_f, len(usable))

        def score_archs(archs: Sequence[Architecture]) -> np.ndarray:
            return score(acq, registry.add_all(archs))

        ranked = self.acquisition_optimizer.optimize(score_archs, best_first, taken, self.rng)
        if len(ranked) < n:
            raise BonasError(f"only {len(ranked)} untried architectures were found; asked for {n}")
        chosen = [ranked[0][0]]
        candidates = [arch for arch, _ in ranked[1 : 1 + max(self.num_candidates, n)]]
        while len(chosen) < n:
            # NASBOT's hallucination: condition on the picks so far, re-score the rest
            conditioned = hallucinate(model, registry.add_all(pending + chosen))
            acq = make_acquisition(self.acquisition, conditioned, best_f, len(usable))
            values_now = score(acq, registry.add_all(candidates))
            pick = int(np.argmax(values_now))
            chosen.append(candidates.pop(pick))
        return chosen

    # -- state ---------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """What a restart needs beyond the trials: the generator and the surrogate."""
        wl = getattr(
            getattr(self.surrogate.kernel, "base_kernel", self.surrogate.kernel), "h", None
        )
        return {
            "rng": self.rng.bit_generator.state,
            "hyperparameters": self.surrogate.hyperparameters(),
            "observations_at_fit": self.surrogate._observations_at_fit,
            "wl_depth": wl,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""
        try:
            self.rng.bit_generator.state = state["rng"]
            self.surrogate.load_hyperparameters(
                state["hyperparameters"], int(state["observations_at_fit"])
            )
        except (KeyError, TypeError, ValueError) as err:
            raise BonasError(f"the optimizer state is malformed: {err}") from None
        kernel = getattr(self.surrogate.kernel, "base_kernel", self.surrogate.kernel)
        if state.get("wl_depth") is not None and hasattr(kernel, "h"):
            kernel.h = int(state["wl_depth"])

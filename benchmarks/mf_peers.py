"""Multi-fidelity peers as schedulers, to compare with in the same simulator.

Each peer is a :class:`~bonas.schedulers.Scheduler`, so :func:`~bonas.benchmarks.
simulator.simulate` runs it with the same simulated workers, clock and continuation
from checkpoints as bonas's own schedulers; inside, the library decides both which
architecture runs and at which budget, with its own defaults, over the space's
categorical encoding (:meth:`~bonas.spaces.base.SearchSpace.categories`):

* ``smac-hb``: SMAC3's ``MultiFidelityFacade`` (a random forest and SMAC's Hyperband
  intensifier) with the rung budgets' lowest and highest as ``min_budget`` and
  ``max_budget`` and Hyperband's ``eta``. SMAC's own budgets are snapped to the nearest
  rung budget (in log scale). A configuration SMAC asks for again at a higher budget is
  the same architecture, continued from its checkpoint.
* ``dehb``: DEHB (differential evolution in Hyperband's brackets) with the rung
  budgets' lowest and highest as ``min_fidelity`` and ``max_fidelity`` and ``eta``,
  through its ask-and-tell interface; its fidelities are snapped to the rung budgets as
  SMAC's are, and a configuration is one architecture whatever the fidelity.
* ``optuna-hb``: Optuna's ``TPESampler`` with its ``HyperbandPruner`` (``min_resource``
  and ``max_resource``: the lowest and highest rung budgets; ``reduction_factor``:
  ``eta``), through Optuna's ask-and-tell interface. A trial starts at the lowest rung
  budget and reports its value there; unless the pruner prunes it, it continues to the
  next rung budget from its checkpoint, up to the top, where the trial is told its
  value.
* ``syne-asha`` and ``syne-bohb``: syne-tune's ``ASHA`` (random search) and ``BOHB``
  (ASHA with a KDE searcher), with ``grace_period`` and ``max_t`` the lowest and highest
  rung budgets and ``reduction_factor`` ``eta``, driven as syne-tune's tuner drives a
  scheduler: ``suggest``, then ``on_trial_result`` at each rung budget, which says
  whether the trial continues (to the next rung budget, from its checkpoint) or stops,
  and ``on_trial_complete`` at the top.

Proposals that are not untried architectures (a cell the table lacks, a repeat) become
the nearest untried member, as for the single-fidelity peers
(:class:`~bonas.benchmarks.peers.EncodedSearcher`). The libraries are the ``peers``
extra: ``pip install ".[peers]"``, except DEHB, whose release (0.1.2) pins ``numpy<2``
while running on NumPy 2 as far as ask and tell go: ``pip install --no-deps dehb==0.1.2
loguru`` (see :data:`DEHB_INSTALL`).

Example:
    >>> from bonas.spaces import NB201Space
    >>> peer = make_mf_peer("optuna-hb", NB201Space(), (12.0, 200.0))  # doctest: +SKIP
    >>> job = peer.next_job()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from bonas.architecture import Architecture
from bonas.benchmarks.peers import EncodedSearcher, require_library
from bonas.exceptions import BonasError
from bonas.schedulers import Job, Scheduler, SchedulerExhausted
from bonas.spaces.base import SearchSpace

__all__ = [
    "DEHB_INSTALL",
    "MF_PEERS",
    "DEHBPeer",
    "OptunaHyperband",
    "PeerScheduler",
    "SMACHyperband",
    "StoppingPeer",
    "SyneTuneASHA",
    "SyneTuneBOHB",
    "make_mf_peer",
]


class PeerScheduler(Scheduler):
    """Base of the multi-fidelity peers: a library decides the jobs.

    Subclasses implement :meth:`next_job` and :meth:`_told` (what the library learns of
    a finished job). The scheduler's searcher is an
    :class:`~bonas.benchmarks.peers.EncodedSearcher`, used only to turn the library's
    codes into untried architectures.

    Args:
        space: A space with a categorical encoding.
        budgets: The rung budgets, ascending (the table's fidelities).
        eta: Hyperband's reduction factor.
        seed: Seed of the library and of the nearest-member ties.
        direction: ``maximize`` or ``minimize``.
    """

    def __init__(
        self,
        space: SearchSpace,
        budgets: Sequence[float],
        *,
        eta: float = 3.0,
        seed: int = 0,
        direction: str = "maximize",
    ) -> None:
        if eta <= 1:
            raise BonasError(f"eta must be greater than 1, got {eta}")
        super().__init__(EncodedSearcher(space, seed=seed, direction=direction), budgets, seed=seed)
        self.encoder: EncodedSearcher = self.searcher  # type: ignore[assignment]
        self.eta = float(eta)
        self._arch_of: dict[Any, Architecture] = {}  # per library configuration
        self._worst: float | None = None  # the worst cost told

    def _architecture(self, codes: Sequence[int]) -> Architecture:
        return self.encoder._realise(codes, set(self._started))

    def _reported(self, job: Job) -> None:
        # a peer is told its job's value only (no curve), as its own library would be
        record = self.jobs[job.id]
        self._told(job, record.value, record.failure)

    def _told(self, job: Job, value: float | None, failure: str | None) -> None:
        raise NotImplementedError

    def _signed_cost(self, value: float) -> float:
        """The value as a cost to minimise."""
        return -value if self.direction == "maximize" else value

    def _resume_budget(self, arch: Architecture, budget: float) -> float | None:
        """The highest budget below ``budget`` at which ``arch`` has a result."""
        done = [
            r.job.budget
            for r in self.jobs
            if r.job.architecture == arch and r.done and r.value is not None
            and r.job.budget < budget
        ]  # fmt: skip
        return max(done, default=None)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "eta": self.eta}

    # -- for the peers that ask a ConfigSpace configuration and its budget -------------

    def _configuration_space(self) -> Any:
        """The space's categorical encoding as a ConfigSpace space, seeded."""
        from ConfigSpace import Categorical, ConfigurationSpace

        configspace = ConfigurationSpace(seed=self.seed)
        configspace.add(
            [Categorical(name, list(choices)) for name, choices in self.encoder.variables]
        )
        return configspace

    def _configuration_job(self, configuration: Any, budget: float) -> Job:
        """Issue the job for a configuration at the library's ``budget``, snapped to the
        nearest rung budget (in log scale): the same architecture when the configuration
        comes back at a higher budget (continued from its highest checkpoint below), the
        nearest untried member when it comes back at a budget it has reached (DEHB's
        evolution can propose a configuration again)."""
        rung_budget = min(self.budgets, key=lambda b: abs(math.log(b) - math.log(budget)))
        arch = self._arch_of.get(configuration)
        if arch is None or any(
            r.job.architecture == arch and r.job.budget >= rung_budget for r in self.jobs
        ):  # new, or asked again at a budget it has reached: a repeat, as for the others
            codes = [
                list(choices).index(configuration[name]) for name, choices in self.encoder.variables
            ]
            arch = self._arch_of[configuration] = self._architecture(codes)
        rung = self.budgets.index(rung_budget)
        job, _ = self._issue(arch, rung_budget, self._resume_budget(arch, rung_budget), 0, rung)
        return job

    def _failed_cost(self, value: float | None) -> float:
        """The cost to tell: the value's, or for a failure the worst cost so far (the
        libraries' models cannot fit an infinite one)."""
        if value is None:
            return 0.0 if self._worst is None else self._worst
        cost = self._signed_cost(value)
        self._worst = cost if self._worst is None else max(self._worst, cost)
        return cost


class SMACHyperband(PeerScheduler):
    """SMAC3's multi-fidelity facade (random forest, Hyperband intensifier), ask/tell.

    Reference:
        Lindauer et al. "SMAC3: A Versatile Bayesian Optimization Package for
        Hyperparameter Optimization." JMLR 23, 2022.
    """

    name = "smac-hb"

    def __init__(self, space: SearchSpace, budgets: Sequence[float], **kwargs: Any) -> None:
        require_library("smac", "smac-hb")
        super().__init__(space, budgets, **kwargs)
        self._output = tempfile.TemporaryDirectory(prefix="bonas-smac-hb-")
        self._facade = self._build()
        self._info: dict[int, Any] = {}

    def _build(self) -> Any:
        from smac import MultiFidelityFacade, Scenario

        scenario = Scenario(
            self._configuration_space(),
            deterministic=True,
            n_trials=10**9,  # the simulator's clock stops the search
            min_budget=self.budgets[0],
            max_budget=self.budgets[-1],
            seed=self.seed,
            output_directory=self._output.name,
        )
        logging.getLogger("smac").setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            intensifier = MultiFidelityFacade.get_intensifier(scenario, eta=round(self.eta))
            return MultiFidelityFacade(
                scenario,
                _never_called,
                intensifier=intensifier,
                overwrite=True,
                logging_level=logging.ERROR,
            )

    def next_job(self) -> Job | None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            info = self._facade.ask()
        job = self._configuration_job(info.config, float(info.budget))
        self._info[job.id] = info
        return job

    def _told(self, job: Job, value: float | None, failure: str | None) -> None:
        from smac.runhistory import StatusType, TrialValue

        info = self._info.pop(job.id)
        cost = self._failed_cost(value)
        if value is not None:
            told = TrialValue(cost=cost)
        else:
            told = TrialValue(cost=cost, status=StatusType.CRASHED)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._facade.tell(info, told)


#: How to install DEHB beside this stack: its release pins ``numpy<2``.
DEHB_INSTALL = "pip install --no-deps dehb==0.1.2 loguru"


class DEHBPeer(PeerScheduler):
    """DEHB: differential evolution over each budget's population, in Hyperband's
    brackets, ask and tell.

    Reference:
        Awad, Mallik, Hutter. "DEHB: Evolutionary Hyperband for Scalable, Robust and
        Efficient Hyperparameter Optimization." IJCAI 2021.
    """

    name = "dehb"

    def __init__(self, space: SearchSpace, budgets: Sequence[float], **kwargs: Any) -> None:
        try:
            from dehb import DEHB
            from loguru import logger
        except ImportError:
            raise BonasError(
                f"the dehb peer needs the dehb package (its release pins numpy<2, which "
                f"it runs without): {DEHB_INSTALL}"
            ) from None
        super().__init__(space, budgets, **kwargs)
        logger.disable("dehb")  # DEHB logs each bracket at INFO level
        self._output = tempfile.TemporaryDirectory(prefix="bonas-dehb-")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._dehb = DEHB(
                cs=self._configuration_space(),
                dimensions=len(self.encoder.variables),
                min_fidelity=self.budgets[0],
                max_fidelity=self.budgets[-1],
                eta=self.eta,
                n_workers=1,  # no Dask client: the simulator is the workers
                seed=self.seed,
                output_path=self._output.name,
                save_freq="end",
            )
        self._info: dict[int, dict[str, Any]] = {}

    def next_job(self) -> Job | None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            info = self._dehb.ask()
        job = self._configuration_job(info["config"], float(info["fidelity"]))
        self._info[job.id] = info
        return job

    def _told(self, job: Job, value: float | None, failure: str | None) -> None:
        info = self._info.pop(job.id)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._dehb.tell(info, {"fitness": self._failed_cost(value), "cost": job.budget})


class StoppingPeer(PeerScheduler):
    """Base of the peers that start each trial at the lowest rung budget and, at each
    result, either continue it to the next rung budget (from its checkpoint) or stop it:
    Optuna's pruner, syne-tune's ASHA.

    Subclasses implement :meth:`_new_trial` (the library's next trial and its codes),
    :meth:`_keeps` (report a result below the top budget; whether the trial goes on) and
    :meth:`_finish` (the trial's value at the top budget, or ``None`` when it failed).
    """

    def __init__(self, space: SearchSpace, budgets: Sequence[float], **kwargs: Any) -> None:
        super().__init__(space, budgets, **kwargs)
        self._trial_of: dict[int, Any] = {}  # job id -> the library's trial
        self._continuing: list[tuple[Any, Architecture, int]] = []

    def _new_trial(self) -> tuple[Any, Sequence[int]]:
        raise NotImplementedError

    def _keeps(self, trial: Any, job: Job, value: float) -> bool:
        raise NotImplementedError

    def _finish(self, trial: Any, value: float | None) -> None:
        raise NotImplementedError

    def next_job(self) -> Job | None:
        if self._continuing:
            trial, arch, rung = self._continuing.pop(0)
        else:
            trial, codes = self._new_trial()
            arch, rung = self._architecture(codes), 0
        resume = self.budgets[rung - 1] if rung else None
        job, _ = self._issue(arch, self.budgets[rung], resume, 0, rung)
        self._trial_of[job.id] = trial
        return job

    def _told(self, job: Job, value: float | None, failure: str | None) -> None:
        trial = self._trial_of.pop(job.id)
        if value is None or job.rung == len(self.budgets) - 1:
            self._finish(trial, value)
        elif self._keeps(trial, job, value):
            self._continuing.append((trial, job.architecture, job.rung + 1))


class OptunaHyperband(StoppingPeer):
    """Optuna's TPE sampler with its Hyperband pruner, ask-and-tell.

    Reference:
        Akiba, Sano, Yanase, Ohta, Koyama. "Optuna: A Next-generation Hyperparameter
        Optimization Framework." KDD 2019. Li et al. "Hyperband." JMLR 18, 2018.
    """

    name = "optuna-hb"

    def __init__(self, space: SearchSpace, budgets: Sequence[float], **kwargs: Any) -> None:
        optuna = require_library("optuna", "optuna-hb")
        super().__init__(space, budgets, **kwargs)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        self._distributions = {
            name: optuna.distributions.CategoricalDistribution(list(range(len(choices))))
            for name, choices in self.encoder.variables
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # the pruner puts a trial in a bracket by a hash of the study's name, which
            # would otherwise be random
            self._study = optuna.create_study(
                study_name=f"bonas-optuna-hb-{self.seed}",
                direction=self.direction,
                sampler=optuna.samplers.TPESampler(seed=self.seed),
                pruner=optuna.pruners.HyperbandPruner(
                    min_resource=_integer_budget(self.budgets[0]),
                    max_resource=_integer_budget(self.budgets[-1]),
                    reduction_factor=round(self.eta),
                ),
            )

    def _new_trial(self) -> tuple[Any, Sequence[int]]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trial = self._study.ask(self._distributions)
        return trial, [trial.params[name] for name in self._distributions]

    def _keeps(self, trial: Any, job: Job, value: float) -> bool:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trial.report(value, _integer_budget(job.budget))
            if not trial.should_prune():
                return True
            self._study.tell(trial, state=self._optuna.trial.TrialState.PRUNED)
            return False

    def _finish(self, trial: Any, value: float | None) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if value is None:
                self._study.tell(trial, state=self._optuna.trial.TrialState.FAIL)
            else:
                self._study.tell(trial, value)


class SyneTuneASHA(StoppingPeer):
    """syne-tune's ASHA (random search with asynchronous successive halving).

    Reference:
        Salinas, Seeger, Klein, Perrone, Wistuba, Archambeau. "Syne Tune: A Library for
        Large Scale Hyperparameter Tuning and Reproducible Research." AutoML 2022.
    """

    name = "syne-asha"
    baseline = "ASHA"

    def __init__(self, space: SearchSpace, budgets: Sequence[float], **kwargs: Any) -> None:
        require_library("syne_tune", self.name)
        super().__init__(space, budgets, **kwargs)
        from syne_tune import config_space
        from syne_tune.optimizer import baselines

        names = [name for name, _ in self.encoder.variables]
        self._names = names
        space_dict = {
            name: config_space.choice(list(range(len(choices))))
            for name, choices in self.encoder.variables
        }
        logging.getLogger("syne_tune").setLevel(logging.ERROR)
        self._scheduler = getattr(baselines, self.baseline)(
            space_dict,
            metric="value",
            time_attr="epoch",
            max_t=_integer_budget(self.budgets[-1]),
            grace_period=_integer_budget(self.budgets[0]),
            reduction_factor=self.eta,
            do_minimize=self.direction == "minimize",
            random_seed=self.seed,
        )
        self._trials = 0
        self._numpy_state = np.random.RandomState(self.seed).get_state()

    @contextmanager
    def _seeded_numpy(self) -> Iterator[None]:
        """syne-tune's random searcher draws from NumPy's global generator, whatever its
        ``random_seed``: lend it this peer's own state, and give the caller's back."""
        saved = np.random.get_state()
        np.random.set_state(self._numpy_state)
        try:
            with warnings.catch_warnings():
                # pandas' notice that sampling without a generator will change, from
                # syne-tune's KDE searcher
                warnings.simplefilter("ignore", FutureWarning)
                yield
        finally:
            self._numpy_state = np.random.get_state()
            np.random.set_state(saved)

    def _new_trial(self) -> tuple[Any, Sequence[int]]:
        from datetime import datetime

        from syne_tune.backend.trial_status import Trial

        with self._seeded_numpy():
            suggestion = self._scheduler.suggest()
        if suggestion is None:
            raise SchedulerExhausted(f"{self.name} suggests no new configuration")
        config = suggestion.config
        trial = Trial(self._trials, config, datetime(2000, 1, 1))
        self._trials += 1
        with self._seeded_numpy():
            self._scheduler.on_trial_add(trial)
        return trial, [int(config[name]) for name in self._names]

    def _keeps(self, trial: Any, job: Job, value: float) -> bool:
        from syne_tune.optimizer.scheduler import SchedulerDecision

        result = {"value": value, "epoch": _integer_budget(job.budget)}
        with self._seeded_numpy():
            decision = self._scheduler.on_trial_result(trial, result)
        return decision == SchedulerDecision.CONTINUE

    def _finish(self, trial: Any, value: float | None) -> None:
        with self._seeded_numpy():
            if value is None:
                self._scheduler.on_trial_error(trial)
            else:
                epoch = _integer_budget(self.budgets[-1])
                self._scheduler.on_trial_complete(trial, {"value": value, "epoch": epoch})


class SyneTuneBOHB(SyneTuneASHA):
    """syne-tune's BOHB: ASHA with a kernel-density (TPE-like) searcher.

    Reference:
        Falkner, Klein, Hutter. "BOHB: Robust and Efficient Hyperparameter Optimization
        at Scale." ICML 2018; syne-tune's asynchronous version.
    """

    name = "syne-bohb"
    baseline = "BOHB"


def _integer_budget(budget: float) -> int:
    """A rung budget as the integer step (epoch) Optuna and syne-tune count in."""
    return max(1, round(budget))


def _never_called(config: Any, seed: int = 0, budget: float = 0.0) -> float:
    raise BonasError("the simulator evaluates; SMAC's target function is never called")


#: The multi-fidelity peers by name.
MF_PEERS: dict[str, type[PeerScheduler]] = {
    "dehb": DEHBPeer,
    "smac-hb": SMACHyperband,
    "optuna-hb": OptunaHyperband,
    "syne-asha": SyneTuneASHA,
    "syne-bohb": SyneTuneBOHB,
}


def make_mf_peer(
    name: str, space: SearchSpace, budgets: Sequence[float], **options: Any
) -> PeerScheduler:
    """A multi-fidelity peer by name over ``space`` at the rung ``budgets``.

    Raises:
        BonasError: For an unknown name (listing the known ones), a missing library (the
            install command), or a space without a categorical encoding.
    """
    try:
        cls = MF_PEERS[name]
    except KeyError:
        raise BonasError(
            f"unknown multi-fidelity peer {name!r}; known: {sorted(MF_PEERS)}"
        ) from None
    return cls(space, budgets, **options)

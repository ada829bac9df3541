"""Peer optimisers as bonas searchers, to compare with in the same replay harness.

Each peer searches the space's categorical encoding
(:meth:`~bonas.spaces.base.SearchSpace.categories`: the edge ops of NB201-style cells,
the padded adjacency and ops of NB101 cells, NAS-Bench-Graph's links and ops, the DARTS
genotype) with its own library's defaults, and sees the table only as a black box
through ask/tell:

* ``tpe``: Optuna's :class:`optuna.samplers.TPESampler` with its defaults (10 random
  startup trials, univariate Parzen estimators), one categorical parameter per variable.
* ``botorch-onehot``: BoTorch's ``SingleTaskGP`` with its default kernel and priors on
  the one-hot encoding, outcomes standardised, hyperparameters fitted by marginal
  likelihood (``fit_gpytorch_mll``), ``LogExpectedImprovement`` maximised exhaustively
  over the untried architectures of a finite space (a uniform subset of
  :attr:`BoTorchOneHot.max_candidates` when there are more, and random samples of an
  infinite space); the first ``n_initial`` (10) proposals are uniform random samples, as
  BoTorch leaves the initial design to the user.
* ``smac``: SMAC3's ``HyperparameterOptimizationFacade`` (the random-forest facade) with
  its defaults for a deterministic objective and ``n_trials`` (the replay's queries) as
  its budget, which sizes its Sobol initial design; one ``Categorical`` per variable. A
  failed evaluation is told as crashed with the worst cost seen so far (SMAC's forest
  cannot fit its default infinite crash cost).

A proposal that is not an untried architecture of the space (an NB101 adjacency whose
output is cut off, a cell missing from a table, a repeat) is replaced by the untried
member nearest to it in Hamming distance over the encoding (ties broken by the
searcher's generator), or, in an infinite space, by a uniform random untried sample;
the peer then learns the value of the architecture evaluated in its place.

The libraries are optional: ``pip install ".[peers]"`` from a checkout (``bonas[peers]``
once published). A missing one raises a one-line :class:`~bonas.exceptions.BonasError`
that names that command.

Every peer is a :class:`~bonas.searchers.Searcher`: seeded by ``seed``, deterministic
for the same answers, resumable from its state, and it passes the searchers'
conformance suite. They are for single-fidelity replays (ask/tell), not searchers
inside a multi-fidelity scheduler.

Example:
    >>> from bonas.spaces import NB201Space
    >>> peer = make_peer("tpe", NB201Space(), seed=0)  # doctest: +SKIP
    >>> (trial,) = peer.ask()  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import logging
import tempfile
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from bonas.architecture import Architecture
from bonas.exceptions import BonasError, InvalidArchitectureError
from bonas.searchers.base import Searcher
from bonas.spaces.base import SearchSpace
from bonas.trial import Trial

__all__ = [
    "PEERS",
    "BoTorchOneHot",
    "EncodedSearcher",
    "OptunaTPE",
    "SMACRandomForest",
    "make_peer",
    "require_library",
]

#: The install command the missing-library errors name.
INSTALL = 'pip install ".[peers]"'


def require_library(module: str, peer: str) -> Any:
    """Import ``module`` or raise a one-line error naming the install command."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise BonasError(
            f"the {peer} peer needs the {module.split('.')[0]} package: {INSTALL}"
        ) from None


class EncodedSearcher(Searcher):
    """Base of the peers: proposals are codes of the space's categorical encoding.

    Subclasses implement :meth:`_suggest`; this class turns codes into untried
    architectures (see the module docstring) and keeps, per trial, the codes of the
    architecture evaluated (:meth:`codes_of`).

    Raises:
        BonasError: If the space has no categorical encoding.
    """

    #: Finite spaces up to this size have their members' codes kept for the nearest
    #: untried member; larger ones fall back to random untried samples.
    max_members: ClassVar[int] = 500_000

    def __init__(self, space: SearchSpace, *, seed: int = 0, direction: str = "maximize") -> None:
        super().__init__(space, seed=seed, direction=direction)
        self.variables = space.categories()
        self._members: list[Architecture] | None = None
        self._member_codes: np.ndarray | None = None
        self._codes: dict[Architecture, tuple[int, ...]] = {}

    @property
    def member_codes(self) -> tuple[list[Architecture], np.ndarray] | None:
        """The members of a finite space and their ``(n, d)`` codes, or ``None``."""
        if self._members is None and self.space.is_finite and self.space.size <= self.max_members:
            self._members = list(self.space.enumerate())
            self._member_codes = np.array(
                [self.space.encode(arch) for arch in self._members], dtype=np.int16
            )
        if self._members is None or self._member_codes is None:
            return None
        return self._members, self._member_codes

    def codes_of(self, arch: Architecture) -> tuple[int, ...]:
        """The encoding of ``arch`` (memoised)."""
        if arch not in self._codes:
            self._codes[arch] = self.space.encode(arch)
        return self._codes[arch]

    def _suggest(self, n: int, taken: set[Architecture]) -> list[Sequence[int]]:
        """``n`` proposals as codes (they need not be untried or valid)."""
        raise NotImplementedError

    def _propose(self, n: int, taken: set[Architecture]) -> list[Architecture]:
        chosen = []
        for codes in self._suggest(n, set(taken)):
            arch = self._realise(codes, taken)
            taken.add(arch)
            chosen.append(arch)
        return chosen

    def _realise(self, codes: Sequence[int], taken: set[Architecture]) -> Architecture:
        """The architecture of ``codes`` if it is an untried member, else the nearest
        untried member (a random untried sample in a space too large to list)."""
        try:
            arch = self.space.decode(codes)
        except InvalidArchitectureError:
            arch = None
        if arch is not None and arch not in taken:
            return arch
        listed = self.member_codes
        if listed is None:
            return self._random_unseen(taken)
        members, member_codes = listed
        distance = (member_codes != np.asarray(codes, dtype=np.int16)).sum(axis=1)
        order = np.argsort(distance, kind="stable")
        nearest: list[int] = []
        for index in order:
            if nearest and distance[index] > distance[nearest[0]]:
                break
            if members[index] not in taken:
                nearest.append(int(index))
        if not nearest:
            raise BonasError(
                f"every one of the {len(members)} architectures of {self.space!r} has been tried"
            )
        return members[nearest[int(self.rng.integers(len(nearest)))]]

    def _complete(self) -> list[Trial]:
        return [t for t in self.trials if t.usable]


class OptunaTPE(EncodedSearcher):
    """Optuna's TPE sampler with its defaults, over the space's encoding.

    Each ask builds an Optuna study from the complete trials (each as its evaluated
    architecture's codes and value) and a ``TPESampler`` seeded from this searcher's
    generator, so the proposals depend only on the seed and the outcomes.

    Args:
        space: A space with a categorical encoding.
        seed: Seed of the searcher's generator.
        direction: ``maximize`` or ``minimize``.

    Reference:
        Bergstra, Bardenet, Bengio, Kégl. "Algorithms for Hyper-Parameter Optimization."
        NeurIPS 2011. Akiba et al. "Optuna." KDD 2019.
    """

    name = "tpe"

    def __init__(self, space: SearchSpace, *, seed: int = 0, direction: str = "maximize") -> None:
        self._optuna = require_library("optuna", "tpe")
        super().__init__(space, seed=seed, direction=direction)
        distributions = self._optuna.distributions
        self._distributions = {
            name: distributions.CategoricalDistribution(list(range(len(choices))))
            for name, choices in self.variables
        }

    def _suggest(self, n: int, taken: set[Architecture]) -> list[Sequence[int]]:
        optuna = self._optuna
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(seed=int(self.rng.integers(2**31 - 1)))
        study = optuna.create_study(direction="maximize", sampler=sampler)
        names = [name for name, _ in self.variables]
        for trial in self._complete():
            codes = self.codes_of(trial.architecture)
            study.add_trial(
                optuna.trial.create_trial(
                    params=dict(zip(names, codes, strict=True)),
                    distributions=self._distributions,
                    value=self._signed(trial),
                )
            )
        proposals = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            for _ in range(n):
                asked = study.ask(self._distributions)
                proposals.append([asked.params[name] for name in names])
        return proposals


class BoTorchOneHot(EncodedSearcher):
    """A BoTorch ``SingleTaskGP`` on the one-hot encoding, LogEI over the candidates.

    Args:
        space: A space with a categorical encoding.
        seed: Seed of the searcher's generator (initial samples, candidate subsets).
        direction: ``maximize`` or ``minimize``.
        n_initial: Uniform random proposals before the GP takes over.

    Reference:
        Balandat et al. "BoTorch." NeurIPS 2020; Ament et al. "Unexpected Improvements to
        Expected Improvement." NeurIPS 2023 (LogEI).
    """

    name = "botorch-onehot"
    #: Candidates scored per ask at most (all untried members of smaller finite spaces).
    max_candidates: ClassVar[int] = 20_000
    #: Random samples scored per ask in an infinite space.
    infinite_candidates: ClassVar[int] = 2_000

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int = 0,
        direction: str = "maximize",
        n_initial: int = 10,
    ) -> None:
        require_library("botorch", "botorch-onehot")
        super().__init__(space, seed=seed, direction=direction)
        if n_initial < 1:
            raise BonasError(f"n_initial must be at least 1, got {n_initial}")
        self.n_initial = n_initial
        self._offsets = np.cumsum([0] + [len(choices) for _, choices in self.variables])
        self._hyperparameters: dict[str, Any] = {}

    def _options(self) -> dict[str, Any]:
        return {"n_initial": self.n_initial}

    def state_dict(self) -> dict[str, Any]:
        """The generator and the last fit's hyperparameters (the next fit starts there)."""
        return {**super().state_dict(), "hyperparameters": self._hyperparameters}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        hyperparameters = state.get("hyperparameters", {})
        if not isinstance(hyperparameters, dict):
            raise BonasError("the searcher state is malformed: hyperparameters is not a mapping")
        self._hyperparameters = dict(hyperparameters)

    def one_hot(self, codes: np.ndarray) -> np.ndarray:
        """``(n, d)`` codes -> ``(n, sum of choices)`` one-hot rows."""
        codes = np.atleast_2d(codes)
        out = np.zeros((codes.shape[0], int(self._offsets[-1])))
        out[np.arange(codes.shape[0])[:, None], codes + self._offsets[:-1]] = 1.0
        return out

    def _propose(self, n: int, taken: set[Architecture]) -> list[Architecture]:
        complete = self._complete()
        if len(complete) < self.n_initial:
            return self._random(n, taken)
        import torch
        from botorch.acquisition import LogExpectedImprovement
        from botorch.fit import fit_gpytorch_mll
        from botorch.models import SingleTaskGP
        from botorch.models.transforms.outcome import Standardize
        from gpytorch.mlls import ExactMarginalLogLikelihood

        def inputs(codes: np.ndarray) -> torch.Tensor:
            return torch.tensor(self.one_hot(codes), dtype=torch.double)

        x = inputs(np.array([self.codes_of(t.architecture) for t in complete]))
        y = torch.tensor([[self._signed(t)] for t in complete], dtype=torch.double)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # botorch's notes on input scaling and fits
            model = SingleTaskGP(x, y, outcome_transform=Standardize(m=1))
            if self._hyperparameters:  # warm start: far fewer L-BFGS steps to converge
                model.load_state_dict(
                    {
                        k: torch.tensor(v, dtype=torch.double)
                        for k, v in self._hyperparameters.items()
                    },
                    strict=False,
                )
            fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        self._hyperparameters = {
            name: value.detach().tolist() for name, value in model.named_parameters()
        }
        best_f = float(model.train_targets.max())
        candidates, codes = self._candidates(taken)
        chosen: list[Architecture] = []
        for _ in range(n):
            if not candidates:
                chosen.append(self._random_unseen(taken))
                taken.add(chosen[-1])
                continue
            fantasy = model
            if chosen:  # the batch's earlier picks, hallucinated at their mean (NASBOT)
                xp = inputs(np.array([self.codes_of(a) for a in chosen]))
                with torch.no_grad():
                    fantasy = model.condition_on_observations(xp, model.posterior(xp).mean)
            acquisition = LogExpectedImprovement(fantasy, best_f=best_f)
            xs = inputs(codes).unsqueeze(-2)
            with torch.no_grad():
                values = torch.cat(
                    [acquisition(xs[i : i + 2048]) for i in range(0, len(candidates), 2048)]
                )
            pick = int(torch.argmax(values))
            chosen.append(candidates.pop(pick))
            codes = np.delete(codes, pick, axis=0)
            taken.add(chosen[-1])
        return chosen

    def _candidates(self, taken: set[Architecture]) -> tuple[list[Architecture], np.ndarray]:
        """The untried architectures to score and their ``(n, d)`` codes."""
        listed = self.member_codes
        if listed is None:
            samples: dict[Architecture, None] = {}
            for _ in range(self.infinite_candidates):
                arch = self.space.sample(self.rng)
                if arch not in taken:
                    samples[arch] = None
            archs = list(samples)
            return archs, np.array([self.codes_of(a) for a in archs]).reshape(len(archs), -1)
        members, member_codes = listed
        untried = np.array([i for i, arch in enumerate(members) if arch not in taken], dtype=int)
        if len(untried) > self.max_candidates:
            picks = self.rng.choice(len(untried), size=self.max_candidates, replace=False)
            untried = untried[np.sort(picks)]
        return [members[i] for i in untried], member_codes[untried].astype(int)


class SMACRandomForest(EncodedSearcher):
    """SMAC3's random-forest facade (``HyperparameterOptimizationFacade``), ask/tell.

    SMAC keeps its own state (the run history, its initial design, the intensifier);
    a restored searcher rebuilds it by asking and telling the trials so far again, in
    order, which gives the same proposals as SMAC is deterministic for a seed.

    Args:
        space: A space with a categorical encoding.
        seed: Seed of the searcher's generator and SMAC's scenario.
        direction: ``maximize`` or ``minimize``.
        n_trials: The scenario's budget, which sizes SMAC's initial design (a quarter of
            it at most); the replays set it to their queries.

    Reference:
        Lindauer et al. "SMAC3: A Versatile Bayesian Optimization Package for
        Hyperparameter Optimization." JMLR 23, 2022.
    """

    name = "smac"

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int = 0,
        direction: str = "maximize",
        n_trials: int = 100,
    ) -> None:
        require_library("smac", "smac")
        super().__init__(space, seed=seed, direction=direction)
        if n_trials < 1:
            raise BonasError(f"n_trials must be at least 1, got {n_trials}")
        self.n_trials = n_trials
        self._facade: Any = None
        self._output = tempfile.TemporaryDirectory(prefix="bonas-smac-")
        # per trial number: SMAC's TrialInfo; and the asks and tells in the order made
        self._asked: dict[int, Any] = {}
        self._told: set[int] = set()
        self._log: list[tuple[str, int]] = []

    def _options(self) -> dict[str, Any]:
        return {"n_trials": self.n_trials}

    def _build(self) -> Any:
        from ConfigSpace import Categorical, ConfigurationSpace
        from smac import HyperparameterOptimizationFacade, Scenario

        configspace = ConfigurationSpace(seed=self.seed)
        configspace.add([Categorical(name, list(choices)) for name, choices in self.variables])
        scenario = Scenario(
            configspace,
            deterministic=True,
            n_trials=self.n_trials,
            seed=self.seed,
            output_directory=self._output.name,
        )
        logging.getLogger("smac").setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return HyperparameterOptimizationFacade(
                scenario, _never_called, overwrite=True, logging_level=logging.ERROR
            )

    def _config_codes(self, config: Any) -> list[int]:
        return [list(choices).index(config[name]) for name, choices in self.variables]

    def _suggest(self, n: int, taken: set[Architecture]) -> list[Sequence[int]]:
        if self._facade is None:
            self._facade = self._build()
        self._tell_finished()
        proposals = []
        for k in range(n):
            number = len(self.trials) + k
            self._smac_ask(number)
            proposals.append(self._config_codes(self._asked[number].config))
        return proposals

    def _smac_ask(self, number: int) -> None:
        self._asked[number] = self._facade.ask()
        self._log.append(("ask", number))

    def _smac_tell(self, number: int) -> None:
        from smac.runhistory import StatusType, TrialValue

        trial = self.trials[number]
        if trial.usable:
            value = TrialValue(cost=-self._signed(trial))
        else:  # the worst cost told so far: SMAC's forest cannot fit an infinite one
            told = [-self._signed(self.trials[k]) for k in self._told if self.trials[k].usable]
            value = TrialValue(cost=max(told, default=0.0), status=StatusType.CRASHED)
        self._facade.tell(self._asked[number], value, save=False)
        self._told.add(number)
        self._log.append(("tell", number))

    def _tell_finished(self) -> None:
        """Tell SMAC every finished trial it was asked for and not told yet."""
        for number in sorted(self._asked):
            if number not in self._told and self.trials[number].state.finished:
                self._smac_tell(number)

    def state_dict(self) -> dict[str, Any]:
        """The generator, and SMAC's asks and tells in order (its state is rebuilt)."""
        return {**super().state_dict(), "smac_log": [list(event) for event in self._log]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Rebuild SMAC by making its asks and tells again, in their order (after
        restoring :attr:`trials`).

        Raises:
            BonasError: If the state is malformed or names trials that are missing.
        """
        super().load_state_dict(state)
        try:
            log = [(str(kind), int(number)) for kind, number in state["smac_log"]]
        except (KeyError, TypeError, ValueError) as err:
            raise BonasError(f"the searcher state is malformed: {err!r}") from None
        if any(kind not in ("ask", "tell") or number >= len(self.trials) for kind, number in log):
            raise BonasError("the searcher state is malformed: its log names unknown trials")
        self._facade = self._build()
        self._asked, self._told, self._log = {}, set(), []
        for kind, number in log:
            if kind == "ask":
                self._smac_ask(number)
            else:
                self._smac_tell(number)


def _never_called(config: Any, seed: int = 0) -> float:
    """SMAC's target function, which ask/tell never calls."""
    raise BonasError("SMAC is driven by ask/tell here")


#: The peers by name.
PEERS: dict[str, type[EncodedSearcher]] = {
    "tpe": OptunaTPE,
    "botorch-onehot": BoTorchOneHot,
    "smac": SMACRandomForest,
}


def make_peer(name: str, space: SearchSpace, *, seed: int, **options: Any) -> EncodedSearcher:
    """A peer by name (:data:`PEERS`).

    Raises:
        BonasError: On an unknown name, a space without an encoding, or a missing
            library (naming the install command).
    """
    if name not in PEERS:
        raise BonasError(f"unknown peer {name!r}; known: {', '.join(sorted(PEERS))}")
    return PEERS[name](space, seed=seed, **options)

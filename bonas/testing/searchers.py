"""The conformance suite every searcher passes: determinism by seed, no duplicate
proposals, failures recorded and kept out, tell errors, config and resume.

Use it for a searcher of your own::

    from bonas.testing.searchers import SearcherConformance

    class TestMySearcher(SearcherConformance):
        def make(self, seed):
            return MySearcher(NB201Space(), seed=seed)

        def objective(self, architecture):
            return my_cheap_score(architecture)

The suite uses the :class:`~bonas.searchers.Searcher` interface only (``ask(n)``,
``tell(trial, value, failed=...)``, ``trials``, ``best_trial``, ``predict_target()``,
``config()``, ``state_dict()`` and ``load_state_dict()``),
:attr:`SearcherConformance.steps` asks in each check: choose settings under which that
many steps reach the searcher's model-based phase.
"""

from __future__ import annotations

import copy
import json
import math
from typing import ClassVar

import pytest

from bonas.architecture import Architecture
from bonas.exceptions import BonasError
from bonas.searchers.base import Searcher
from bonas.trial import TrialState

__all__ = ["SearcherConformance"]


@pytest.mark.filterwarnings("ignore::bonas.NonPSDWarning")
class SearcherConformance:
    """Base class of a searcher's conformance tests; see the module docstring."""

    #: Trials asked and told before each check looks.
    steps: ClassVar[int] = 5

    def make(self, seed: int) -> Searcher:
        """A fresh searcher with this seed (the same settings every call)."""
        raise NotImplementedError

    def objective(self, architecture: Architecture) -> float:
        """A cheap deterministic value of an architecture (larger is better)."""
        raise NotImplementedError

    def run(self, searcher: Searcher, steps: int | None = None) -> list[str]:
        """Ask and tell ``steps`` trials one at a time; their architectures' JSON."""
        proposals = []
        for _ in range(self.steps if steps is None else steps):
            (trial,) = searcher.ask()
            proposals.append(trial.architecture.to_json())
            searcher.tell(trial, self.objective(trial.architecture))
        return proposals

    def test_same_seed_same_proposals(self) -> None:
        first = self.run(self.make(3))
        assert self.run(self.make(3)) == first
        assert self.run(self.make(4)) != first

    def test_predict_target_answers_each_architecture_or_none(self) -> None:
        searcher = self.make(0)
        self.run(searcher)
        before = [(t.architecture, t.state, t.value) for t in searcher.trials]
        archs = [t.architecture for t in searcher.trials]
        predicted = searcher.predict_target(archs[:3], searcher.trials)
        # a model's prediction per architecture, or None for a searcher without one
        assert predicted is None or (
            predicted.shape == (3,) and all(math.isfinite(float(v)) for v in predicted)
        )
        assert [(t.architecture, t.state, t.value) for t in searcher.trials] == before

    def test_no_duplicate_proposals(self) -> None:
        searcher = self.make(0)
        self.run(searcher)
        batch = searcher.ask(3)
        pending = searcher.ask(2)  # asked while the batch is still pending
        archs = [t.architecture for t in searcher.trials]
        assert len(set(archs)) == len(archs) == self.steps + 5
        assert all(t.state is TrialState.RUNNING for t in batch + pending)
        assert [t.number for t in batch + pending] == list(range(self.steps, self.steps + 5))

    def test_failures_are_recorded_and_kept_out(self) -> None:
        searcher = self.make(1)
        for step in range(self.steps):
            (trial,) = searcher.ask()
            if step % 3 == 1:
                searcher.tell(trial, failed="CUDA out of memory")
            elif step % 3 == 2:
                searcher.tell(trial, math.nan)
            else:
                searcher.tell(trial, self.objective(trial.architecture))
        failed = [t for t in searcher.trials if t.state is TrialState.FAILED]
        assert len(failed) == len(range(1, self.steps, 3)) + len(range(2, self.steps, 3))
        assert {t.failure for t in failed} == {"CUDA out of memory", "non-finite value nan"}
        best = searcher.best_trial
        assert best is not None and best.state is TrialState.COMPLETE
        # failed trials are never proposed again
        (trial,) = searcher.ask()
        assert trial.architecture not in {t.architecture for t in failed}

    def test_tell_errors(self) -> None:
        searcher = self.make(0)
        (trial,) = searcher.ask()
        with pytest.raises(BonasError, match="either a value or failed"):
            searcher.tell(trial, 1.0, failed="both")
        with pytest.raises(BonasError, match="either a value or failed"):
            searcher.tell(trial)
        with pytest.raises(BonasError, match="unknown trial"):
            searcher.tell(99, 1.0)
        searcher.tell(trial, 1.0)
        with pytest.raises(BonasError, match="already complete"):
            searcher.tell(trial, 2.0)
        with pytest.raises(BonasError):
            searcher.ask(0)

    def test_resume_from_state_proposes_what_an_uninterrupted_run_would(self) -> None:
        uninterrupted = self.make(7)
        self.run(uninterrupted)
        state = copy.deepcopy(uninterrupted.state_dict())
        trials = copy.deepcopy(uninterrupted.trials)
        expected = self.run(uninterrupted, 2)

        resumed = self.make(7)
        resumed.trials = trials
        resumed.load_state_dict(state)
        assert self.run(resumed, 2) == expected

    def test_resume_with_pending_trials_through_json(self) -> None:
        """A restart while a batch is out: state and config survive JSON, the pending
        trials are told after the restart, and the resumed searcher goes on as the
        original."""
        original = self.make(11)
        self.run(original, 2)
        out = original.ask(3)
        original.tell(out[1], self.objective(out[1].architecture))
        state = json.loads(json.dumps(original.state_dict()))
        config = json.loads(json.dumps(original.config()))
        assert config == json.loads(json.dumps(self.make(11).config()))
        trials = copy.deepcopy(original.trials)

        resumed = self.make(11)
        resumed.trials = trials
        resumed.load_state_dict(state)
        for searcher in (original, resumed):
            searcher.tell(out[0].number, self.objective(out[0].architecture))
            searcher.tell(out[2].number, failed="lost")
        assert [t.architecture for t in resumed.ask(2)] == [t.architecture for t in original.ask(2)]

    def test_config_names_the_searcher(self) -> None:
        config = self.make(0).config()
        assert isinstance(config["optimizer"], str) and config["seed"] == 0
        assert config["direction"] == "maximize"

    def test_bad_state_is_a_clear_error(self) -> None:
        with pytest.raises(BonasError, match="malformed"):
            self.make(0).load_state_dict({"rng": "nonsense"})

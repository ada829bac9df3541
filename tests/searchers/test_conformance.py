"""Every searcher of bonas passes :class:`bonas.testing.searchers.SearcherConformance`,
on a cell space (NB201) and on a free-form one (NASBOT's CNNs). The model-free searchers
run with small populations so that five steps reach their evolution / local-search
phase, the GP searcher with three initial points."""

from __future__ import annotations

import pytest

from bonas import Architecture
from bonas.searchers import GPSearcher, LocalSearch, RandomSearch, RegularizedEvolution, Searcher
from bonas.spaces import CNNSpace, NB201Space
from bonas.testing.searchers import SearcherConformance
from tests.objectives import cnn_score, nb201_score


class _OnNB201(SearcherConformance):
    def objective(self, architecture: Architecture) -> float:
        return nb201_score(architecture)


class _OnCNN(SearcherConformance):
    def objective(self, architecture: Architecture) -> float:
        return cnn_score(architecture)


class TestGPSearcherEI(_OnNB201):
    def make(self, seed: int) -> Searcher:
        return GPSearcher(NB201Space(), seed=seed, n_initial=3)


class TestGPSearcherUCB(_OnNB201):
    def make(self, seed: int) -> Searcher:
        return GPSearcher(NB201Space(), seed=seed, n_initial=3, acquisition="ucb")


class TestGPSearcherMultiFidelity(_OnNB201):
    """The multi-fidelity GP asked without budgets: every trial at its one budget."""

    def make(self, seed: int) -> Searcher:
        return GPSearcher(NB201Space(), seed=seed, n_initial=3, multi_fidelity=True)

    def test_predict_target_follows_the_told_values_at_one_budget(self) -> None:
        searcher = self.make(0)
        self.run(searcher)
        archs = [t.architecture for t in searcher.trials]
        predicted = searcher.predict_target(archs, searcher.trials)
        assert predicted is not None and predicted.shape == (len(archs),)
        # with one budget the posterior mean follows the told values' order
        best_told = max(searcher.trials, key=lambda t: t.value).architecture
        assert archs[int(predicted.argmax())] == best_told


@pytest.mark.slow
class TestGPSearcherCNN(_OnCNN):
    def make(self, seed: int) -> Searcher:
        return GPSearcher(CNNSpace(max_num_layers=20), seed=seed, n_initial=3, num_candidates=40)


class TestRandomSearchNB201(_OnNB201):
    def make(self, seed: int) -> Searcher:
        return RandomSearch(NB201Space(), seed=seed)


class TestRegularizedEvolutionNB201(_OnNB201):
    def make(self, seed: int) -> Searcher:
        return RegularizedEvolution(NB201Space(), seed=seed, population_size=3, sample_size=2)


class TestLocalSearchNB201(_OnNB201):
    def make(self, seed: int) -> Searcher:
        return LocalSearch(NB201Space(), seed=seed, num_init=3)


class TestRandomSearchCNN(_OnCNN):
    def make(self, seed: int) -> Searcher:
        return RandomSearch(CNNSpace(max_num_layers=20), seed=seed)


class TestRegularizedEvolutionCNN(_OnCNN):
    def make(self, seed: int) -> Searcher:
        return RegularizedEvolution(
            CNNSpace(max_num_layers=20), seed=seed, population_size=3, sample_size=2
        )


class TestLocalSearchCNN(_OnCNN):
    def make(self, seed: int) -> Searcher:
        return LocalSearch(CNNSpace(max_num_layers=20), seed=seed, num_init=3, num_mutants=3)

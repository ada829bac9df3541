"""Behaviour of the model-free searchers: what random search, regularized evolution and
local search propose, beyond the interface that the conformance suite checks."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest

from bonas import BonasError, GPSearcher, TrialState
from bonas.architecture import Architecture
from bonas.searchers import (
    LocalSearch,
    RandomSearch,
    RegularizedEvolution,
    make_searcher,
)
from bonas.searchers.base import Searcher
from bonas.spaces import CNNSpace, NB201Space
from bonas.spaces.subset import SubsetSpace
from tests.objectives import nb201_score

SPACE = NB201Space()
TOP = SPACE.from_ops(["nor_conv_3x3"] * 6)


def conv3(arch: Architecture) -> float:
    """How many of the six edges are 3x3 convolutions: one global optimum, no others."""
    return float(SPACE.to_ops(arch).count("nor_conv_3x3"))


def is_neighbour(child: Architecture, parent: Architecture) -> bool:
    return child in SPACE.neighbours(parent)


def told(optimizer: Searcher, values: list[float | None]) -> list:
    """Ask one trial per value and tell it (None: failed)."""
    trials = []
    for value in values:
        (trial,) = optimizer.ask()
        if value is None:
            optimizer.tell(trial, failed="diverged")
        else:
            optimizer.tell(trial, value)
        trials.append(trial)
    return trials


def cluster_subset(size: int = 40) -> SubsetSpace:
    """A subset with local structure: a cell, its neighbours, theirs, plus a few loners."""
    members = [TOP]
    for arch in [TOP, *SPACE.neighbours(TOP)]:
        members.extend(SPACE.neighbours(arch)[::9])
    members = list(dict.fromkeys(members))[: size - 5]
    members += [SPACE.sample(np.random.default_rng(i)) for i in range(5)]
    return SubsetSpace(SPACE, members, label=f"cluster-{size}")


# -- regularized evolution ------------------------------------------------------------


def expected_tournament(optimizer: RegularizedEvolution) -> tuple:
    """Replay the next tournament and mutation on a copy of the optimizer's generator."""
    rng = copy.deepcopy(optimizer.rng)
    population = optimizer.population
    picks = rng.integers(len(population), size=optimizer.sample_size)
    contenders = [population[int(i)] for i in picks]
    sign = 1 if optimizer.direction == "maximize" else -1
    winner = max(contenders, key=lambda t: sign * t.value)
    return winner, SPACE.mutate(winner.architecture, rng)


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_re_population_ages_and_children_are_mutants_of_tournament_winners(direction) -> None:
    opt = RegularizedEvolution(SPACE, seed=3, direction=direction, population_size=3, sample_size=2)
    sign = 1 if direction == "maximize" else -1
    first = told(opt, [sign * 100.0, sign * 1.0, sign * 2.0])  # trial 0 is by far the best
    assert opt.population == first
    for step in range(12):
        population = opt.population
        winner, child = expected_tournament(opt)
        (trial,) = opt.ask()
        assert trial.architecture == child
        assert is_neighbour(trial.architecture, winner.architecture)
        opt.tell(trial, sign * float(step))
        # aging: the oldest leaves, whatever its value; the newest complete trial enters
        assert opt.population == [*population[1:], trial]
    assert first[0] not in opt.population
    assert [t.number for t in opt.population] == [12, 13, 14]


def test_re_population_of_one_is_a_random_walk() -> None:
    opt = RegularizedEvolution(SPACE, seed=0, population_size=1, sample_size=1)
    trials = told(opt, [5.0] + [float(-i) for i in range(15)])  # children always worse
    for parent, child in itertools.pairwise(trials):
        assert is_neighbour(child.architecture, parent.architecture)


def test_re_pending_trials_count_toward_the_random_phase() -> None:
    opt = RegularizedEvolution(SPACE, seed=1, population_size=4, sample_size=2)
    batch = opt.ask(6)  # nothing is complete: all six are random
    assert opt.population == []
    for trial in batch[:3]:
        opt.tell(trial, nb201_score(trial.architecture))
    opt.tell(batch[3], failed="lost")  # 3 complete + 2 pending fill the population
    children = opt.ask(3)
    members = [t.architecture for t in opt.population]
    assert len(members) == 3
    for child in children:
        assert any(is_neighbour(child.architecture, m) for m in members)
    assert len({t.architecture for t in opt.trials}) == 9


def test_re_replaces_failures_with_random_samples_and_never_breeds_from_them() -> None:
    opt = RegularizedEvolution(SPACE, seed=2, population_size=2, sample_size=2)
    first = told(opt, [1.0, None])
    # the failed trial leaves a place: the next proposal is random, not a child of trial 0
    (third,) = opt.ask()
    assert not is_neighbour(third.architecture, first[0].architecture)
    opt.tell(third, 0.5)
    failed = first[1]
    for step in range(20):
        population = opt.population
        assert failed not in population and len(population) == 2
        (trial,) = opt.ask()
        assert any(is_neighbour(trial.architecture, t.architecture) for t in population)
        if step % 4 == 0:
            opt.tell(trial, failed="oom")
        else:
            opt.tell(trial, float(step))
    assert all(t.state is TrialState.COMPLETE for t in opt.population)


def test_re_falls_back_to_a_random_untried_cell_when_every_mutant_is_taken() -> None:
    opt = RegularizedEvolution(SPACE, seed=4, population_size=1, sample_size=1)
    opt.add_observation(TOP, 1.0)
    for arch in SPACE.neighbours(TOP):
        opt.add_observation(arch, 0.0)
    opt.add_observation(SPACE.from_ops(["none"] * 6), 0.0)
    opt.trials[0].finished_at = opt.trials[-1].finished_at + 1  # TOP completed last
    assert opt.population == [opt.trials[0]]
    (trial,) = opt.ask()  # every neighbour of TOP is taken
    assert not is_neighbour(trial.architecture, TOP)
    assert trial.architecture not in {t.architecture for t in opt.trials[:-1]}


# -- local search -----------------------------------------------------------------


def test_ls_evaluates_the_whole_neighbourhood_then_moves_to_the_best() -> None:
    opt = LocalSearch(SPACE, seed=5, num_init=2)
    start = told(opt, [1.0, 2.0])
    centre = start[1].architecture
    neighbours = SPACE.neighbours(centre)
    trials = opt.ask(len(neighbours))
    trials_archs = [t.architecture for t in trials]
    assert opt.centre == start[1].number
    assert {t.architecture for t in trials} == set(neighbours) - {start[0].architecture}
    assert len(trials) == len(neighbours) - (start[0].architecture in neighbours)
    # in a random order, not the space's listing order
    assert [t.architecture for t in trials] != [n for n in neighbours if n in set(trials_archs)]
    better = trials[7]
    for trial in trials:
        opt.tell(trial, 5.0 if trial is better else 0.0)
    (step,) = opt.ask()
    assert opt.centre == better.number
    assert is_neighbour(step.architecture, better.architecture)


def test_ls_restarts_at_a_local_optimum() -> None:
    opt = LocalSearch(SPACE, seed=6, num_init=1)
    (first,) = told(opt, [1.0])
    trials = told(opt, [0.0] * len(SPACE.neighbours(first.architecture)))
    assert all(is_neighbour(t.architecture, first.architecture) for t in trials)
    assert opt.centre == 0
    (restart,) = opt.ask()
    assert not is_neighbour(restart.architecture, first.architecture)
    assert opt.centre == restart.number
    # the new run starts from the restart point, whatever its value
    opt.tell(restart, -10.0)
    (step,) = opt.ask()
    assert is_neighbour(step.architecture, restart.architecture)


def test_ls_hill_climbs_conv3_to_the_optimum_then_restarts() -> None:
    opt = LocalSearch(SPACE, seed=7, num_init=3)
    centres: list[int] = []
    restart = None
    for _ in range(400):
        (trial,) = opt.ask()
        opt.tell(trial, conv3(trial.architecture))
        if opt.centre is None:
            continue
        if opt.centre == trial.number:
            restart = trial
            break
        if not centres or centres[-1] != opt.centre:
            if centres:  # a move comes only after the whole neighbourhood was evaluated
                tried = {t.architecture for t in opt.trials[:-1]}
                assert set(SPACE.neighbours(opt.trials[centres[-1]].architecture)) <= tried
            centres.append(opt.centre)
        assert is_neighbour(trial.architecture, opt.trials[opt.centre].architecture)
    values = [opt.trials[c].value for c in centres]
    # each move is one step up: the best neighbour of a cell changes one edge to 3x3
    assert values == list(range(int(values[0]), 7))
    assert opt.trials[centres[-1]].architecture == TOP
    # the optimum's neighbourhood was evaluated in full before the restart
    assert restart is not None and not is_neighbour(restart.architecture, TOP)
    assert set(SPACE.neighbours(TOP)) <= {t.architecture for t in opt.trials}


def test_ls_batch_takes_the_neighbourhood_then_restarts() -> None:
    opt = LocalSearch(SPACE, seed=8, num_init=1)
    (first,) = told(opt, [3.0])
    untried = len(SPACE.neighbours(first.architecture))
    batch = opt.ask(untried + 4)
    assert all(is_neighbour(t.architecture, first.architecture) for t in batch[:untried])
    restart = batch[untried]
    # every neighbour is still pending, so none is better: the centre was a local optimum
    assert opt.centre == restart.number
    assert all(is_neighbour(t.architecture, restart.architecture) for t in batch[untried + 1 :])


def test_ls_late_results_still_count_for_the_next_move() -> None:
    opt = LocalSearch(SPACE, seed=9, num_init=1)
    (first,) = told(opt, [3.0])
    batch = opt.ask(len(SPACE.neighbours(first.architecture)))
    better, late = batch[5], batch[-1]
    for trial in batch[:-1]:
        opt.tell(trial, 5.0 if trial is better else 0.0)
    (step,) = opt.ask()  # ``late`` is still pending: the search moves to ``better``
    assert opt.centre == better.number
    opt.tell(late, 9.0)  # ... and then it turns out best
    opt.tell(step, 0.0)
    tried = {t.architecture for t in opt.trials}
    untried = [n for n in SPACE.neighbours(better.architecture) if n not in tried]
    rest = told(opt, [0.0] * len(untried))
    assert all(is_neighbour(t.architecture, better.architecture) for t in rest)
    (step,) = opt.ask()
    assert opt.centre == late.number
    assert is_neighbour(step.architecture, late.architecture)


def test_ls_moves_only_to_complete_trials() -> None:
    opt = LocalSearch(SPACE, seed=10, num_init=4)
    told(opt, [None, 2.0, None, 1.0])
    centre = None
    for step in range(80):
        (trial,) = opt.ask()
        if opt.centre != centre and opt.centre != trial.number:  # a move, not a restart
            assert opt.trials[opt.centre].state is TrialState.COMPLETE
        centre = opt.centre
        if step % 3 == 0:
            opt.tell(trial, failed="nan loss")
        else:
            opt.tell(trial, conv3(trial.architecture))
    assert opt.trials[4].architecture in SPACE.neighbours(opt.trials[1].architecture)


def test_ls_uses_mutation_draws_without_finite_neighbourhoods() -> None:
    space = CNNSpace(max_num_layers=20)
    opt = LocalSearch(space, seed=0, num_init=2, num_mutants=4)
    start = told(opt, [1.0, 2.0])
    rng = copy.deepcopy(opt.rng)
    expected = list(dict.fromkeys(space.mutate(start[1].architecture, rng) for _ in range(4)))
    expected = [arch for arch in expected if arch != start[0].architecture]
    trials = opt.ask(len(expected))
    assert opt.centre == 1
    assert [t.architecture for t in trials] == expected
    # the neighbourhood is spent and nothing is better yet: a restart
    (restart,) = opt.ask()
    assert opt.centre == restart.number


# -- random search, subsets, names -------------------------------------------------


def test_rs_covers_a_small_subset_exactly_once_then_raises() -> None:
    members = [SPACE.sample(np.random.default_rng(i)) for i in range(7)]
    space = SubsetSpace(SPACE, members, label="seven")
    opt = RandomSearch(space, seed=0)
    proposed = [t.architecture for t in opt.ask(2)]
    proposed += [t.architecture for _ in range(5) for t in opt.ask()]
    assert sorted(map(str, proposed)) == sorted(map(str, space.members))
    assert len(set(proposed)) == 7
    with pytest.raises(BonasError, match="every one of the 7"):
        opt.ask()


def test_rs_batch_larger_than_the_rest_raises() -> None:
    space = SubsetSpace(SPACE, [SPACE.sample(np.random.default_rng(i)) for i in range(3)])
    opt = RandomSearch(space, seed=0)
    opt.ask(2)
    with pytest.raises(BonasError):
        opt.ask(2)


@pytest.mark.parametrize("name", ["ls", "re", "rs"])
def test_baselines_propose_only_members_of_a_subset(name) -> None:
    space = cluster_subset()
    options = {"rs": {}, "re": {"population_size": 5, "sample_size": 3}, "ls": {"num_init": 3}}
    opt = make_searcher(name, space, seed=0, **options[name])
    proposed = []
    for step in range(space.size):
        (trial,) = opt.ask()
        proposed.append(trial.architecture)
        if step % 5 == 4:
            opt.tell(trial, failed="x")
        else:
            opt.tell(trial, nb201_score(trial.architecture))
    assert set(proposed) == set(space.members) and len(proposed) == space.size
    with pytest.raises(BonasError):
        opt.ask()


def test_make_searcher_knows_the_names() -> None:
    assert isinstance(make_searcher("bonas", SPACE, seed=0, n_initial=2), GPSearcher)
    assert make_searcher("bonas", SPACE, seed=0).config()["optimizer"] == "bonas"
    for name, cls in {"rs": RandomSearch, "re": RegularizedEvolution, "ls": LocalSearch}.items():
        opt = make_searcher(name, SPACE, seed=4, direction="minimize")
        assert type(opt) is cls and opt.config()["optimizer"] == name
        assert opt.config()["seed"] == 4 and opt.direction == "minimize"
    assert make_searcher("re", SPACE, seed=0).config()["population_size"] == 30
    with pytest.raises(BonasError, match=r"'ga'.*bonas, ls, re, rs"):
        make_searcher("ga", SPACE, seed=0)


def test_bad_settings() -> None:
    with pytest.raises(BonasError, match="sample_size"):
        RegularizedEvolution(SPACE, population_size=3, sample_size=4)
    with pytest.raises(BonasError, match="sample_size"):
        RegularizedEvolution(SPACE, population_size=3, sample_size=0)
    with pytest.raises(BonasError, match="num_init"):
        LocalSearch(SPACE, num_init=0)
    with pytest.raises(BonasError, match="direction"):
        RandomSearch(SPACE, direction="up")

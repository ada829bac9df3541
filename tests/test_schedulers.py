"""Hyperband, BOHB and ASHA: the conformance every scheduler passes, then each one's rules."""

from __future__ import annotations

import zlib
from collections import Counter

import pytest

from bonas import BonasError
from bonas.schedulers import (
    ASHA,
    BOHB,
    Hyperband,
    Job,
    Scheduler,
    SchedulerExhausted,
    hyperband_budgets,
    make_scheduler,
)
from bonas.searchers import RandomSearch, RegularizedEvolution
from bonas.searchers.gp import GPSearcher
from bonas.spaces import NB201Space

from .objectives import nb201_score

SPACE = NB201Space()
BUDGETS = (1.0, 3.0, 9.0, 27.0)
#: The brackets in Li et al.'s order, most aggressive first (an adapting Hyperband starts
#: from the least aggressive): the tests that watch a first rung of 27 promote sooner.
PAPER_ORDER = (3, 2, 1, 0)


def _value(job: Job) -> float:
    """A score that grows with the budget, in the same order at every budget."""
    return nb201_score(job.architecture) * (1 - 1 / (1 + job.budget))


def _searcher(name: str, seed: int = 0):
    if name == "bonas":
        return GPSearcher(SPACE, seed=seed, n_initial=4, num_candidates=50)
    if name == "re":
        return RegularizedEvolution(SPACE, seed=seed, population_size=8, sample_size=3)
    return RandomSearch(SPACE, seed=seed)


FACTORIES = {
    "hyperband": lambda searcher, seed=0: Hyperband(searcher, budgets=BUDGETS, eta=3, seed=seed),
    "bohb": lambda searcher, seed=0: BOHB(
        searcher, budgets=BUDGETS, eta=3, seed=seed, min_points=4
    ),
    "asha": lambda searcher, seed=0: ASHA(searcher, budgets=BUDGETS, eta=3, seed=seed),
}


def _drive(scheduler: Scheduler, jobs: int, fail: set[int] = frozenset()) -> list[Job]:
    """One worker: run each job at once and report it."""
    done = []
    for _ in range(jobs):
        job = scheduler.next_job()
        assert job is not None  # one worker never leaves a job unreported
        if job.id in fail:
            scheduler.report(job, failed="out of memory")
        else:
            scheduler.report(job, _value(job))
        done.append(job)
    return done


# -- conformance: every scheduler with every searcher -------------------------------------


@pytest.fixture(params=sorted(FACTORIES))
def name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.mark.slow
@pytest.mark.parametrize("searcher", ["rs", "re", "bonas"])
def test_same_seed_same_jobs(name: str, searcher: str) -> None:
    first = _drive(FACTORIES[name](_searcher(searcher, 1), seed=1), 30)
    again = _drive(FACTORIES[name](_searcher(searcher, 1), seed=1), 30)
    assert [(j.architecture, j.budget, j.resume_from) for j in first] == [
        (j.architecture, j.budget, j.resume_from) for j in again
    ]


def test_budgets_promotions_and_checkpoints(name: str) -> None:
    scheduler = FACTORIES[name](_searcher("rs"))
    jobs = _drive(scheduler, 60)
    seen: dict = {}
    for job in jobs:
        assert job.budget in BUDGETS
        previous = seen.get(job.architecture)
        if previous is None:
            assert job.resume_from is None  # a new architecture trains from scratch
        else:
            # a promotion continues from the budget it last reached, one rung lower
            assert job.resume_from == previous
            assert BUDGETS.index(job.budget) == BUDGETS.index(previous) + 1
        seen[job.architecture] = job.budget
    assert any(j.resume_from is not None for j in jobs)
    assert any(j.budget == BUDGETS[-1] for j in jobs)


def test_new_architectures_are_never_repeated(name: str) -> None:
    jobs = _drive(FACTORIES[name](_searcher("re")), 60)
    fresh = [j.architecture for j in jobs if j.resume_from is None]
    assert len(fresh) == len(set(fresh))


def test_failed_jobs_are_never_promoted(name: str) -> None:
    scheduler = FACTORIES[name](_searcher("rs"))
    failed_ids = set(range(0, 60, 2))
    jobs = _drive(scheduler, 60, fail=failed_ids)
    failed = {j.architecture for j in jobs if j.id in failed_ids and j.resume_from is None}
    promoted = {j.architecture for j in jobs if j.resume_from is not None}
    assert not failed & promoted
    assert scheduler.incumbent is None or scheduler.incumbent[0] not in failed


def test_incumbent_is_the_best_at_the_top_budget(name: str) -> None:
    scheduler = FACTORIES[name](_searcher("rs"))
    jobs = _drive(scheduler, 80)
    top = [j for j in jobs if j.budget == BUDGETS[-1]]
    assert top
    best = max(top, key=_value)
    assert scheduler.incumbent == (best.architecture, _value(best))


def test_reports_are_checked(name: str) -> None:
    scheduler = FACTORIES[name](_searcher("rs"))
    job = scheduler.next_job()
    with pytest.raises(BonasError, match="not both or neither"):
        scheduler.report(job)
    scheduler.report(job, 1.0)
    with pytest.raises(BonasError, match="already reported"):
        scheduler.report(job, 1.0)
    stranger = Job(99, job.architecture, 1.0, None, 0, 0)
    with pytest.raises(BonasError, match="not issued"):
        scheduler.report(stranger, 1.0)


# -- each scheduler's own rules ----------------------------------------------------------


def test_hyperband_budgets_follow_the_paper() -> None:
    assert hyperband_budgets(4, 108, 3) == (4.0, 12.0, 36.0, 108.0)
    assert hyperband_budgets(1, 81, 3) == (1.0, 3.0, 9.0, 27.0, 81.0)
    assert hyperband_budgets(10, 20, 3) == (20.0,)
    with pytest.raises(BonasError, match="eta must be above 1"):
        hyperband_budgets(1, 10, 1)
    with pytest.raises(BonasError, match="min_budget <= max_budget"):
        hyperband_budgets(10, 1, 3)


def test_hyperband_brackets_have_the_papers_sizes() -> None:
    """R = 27, eta = 3 (Li et al. 2018, table 1 with R = 81 less its first bracket)."""
    scheduler = Hyperband(RandomSearch(SPACE, seed=0), budgets=BUDGETS, eta=3)
    jobs = _drive(scheduler, 27 + 9 + 3 + 1 + 12 + 4 + 1 + 6 + 2 + 4)
    per = Counter((j.bracket, j.budget) for j in jobs)
    assert [per[3, b] for b in BUDGETS] == [27, 9, 3, 1]
    assert [per[2, b] for b in BUDGETS[1:]] == [12, 4, 1]
    assert [per[1, b] for b in BUDGETS[2:]] == [6, 2]
    assert per[0, 27.0] == 4


def test_hyperband_promotes_the_best_third() -> None:
    scheduler = Hyperband(RandomSearch(SPACE, seed=2), budgets=BUDGETS, eta=3, brackets=PAPER_ORDER)
    jobs = _drive(scheduler, 36)  # the first rung (27) and the second (9)
    rung0 = sorted(jobs[:27], key=_value, reverse=True)
    assert {j.architecture for j in jobs[27:36]} == {j.architecture for j in rung0[:9]}


def test_synchronous_hyperband_waits_and_asha_does_not() -> None:
    hyperband = Hyperband(RandomSearch(SPACE, seed=0), budgets=(1.0, 3.0), eta=3, brackets=(1, 0))
    first_rung = [hyperband.next_job() for _ in range(3)]  # bracket s=1 starts 3 at budget 1
    assert all(j is not None and j.budget == 1.0 for j in first_rung)
    assert hyperband.next_job() is None  # the rung must finish before its best goes on
    for job in first_rung:
        hyperband.report(job, _value(job))
    assert hyperband.next_job().budget == 3.0

    asha = ASHA(RandomSearch(SPACE, seed=0), budgets=(1.0, 3.0), eta=3)
    pending = [asha.next_job() for _ in range(20)]  # nothing reported: still new work
    assert all(j is not None and j.budget == 1.0 for j in pending)
    for job in pending[:3]:
        asha.report(job, _value(job))
    promoted = asha.next_job()  # 3 finished: the best third goes on at once
    assert promoted.budget == 3.0 and promoted.resume_from == 1.0
    assert promoted.architecture == max(pending[:3], key=_value).architecture


def test_bohb_models_the_highest_budget_with_enough_results() -> None:
    class Spy(RandomSearch):
        def propose(self, n, taken, observations):
            self.seen.append({t.budget for t in observations})
            return super().propose(n, taken, observations)

    spy = Spy(SPACE, seed=0)
    spy.seen = []
    scheduler = BOHB(
        spy, budgets=BUDGETS, eta=3, min_points=4, random_fraction=0.0, brackets=PAPER_ORDER
    )
    _drive(scheduler, 27 + 9 + 3 + 1 + 12)
    assert spy.seen[0] == set()  # nothing observed yet: the searcher decides alone
    assert spy.seen[5] == {1.0}  # five results, all at the lowest budget
    # after bracket 3 (27 results at budget 1, 9 at 3, 3 at 9, 1 at 27) the highest
    # budget with at least 4 results is 3: bracket 2's proposals model it
    assert spy.seen[-1] == {3.0}


def test_bohb_draws_a_random_fraction() -> None:
    calls: Counter = Counter()

    class Count(RandomSearch):
        def propose(self, n, taken, observations):
            calls["model" if observations else "random"] += 1
            return super().propose(n, taken, observations)

    scheduler = BOHB(
        Count(SPACE, seed=0), budgets=BUDGETS, eta=3, min_points=1, seed=3, random_fraction=1 / 3
    )
    _drive(scheduler, 200)
    share = calls["random"] / sum(calls.values())
    assert 0.2 < share < 0.5  # rho = 1/3, the first proposal random too
    calls.clear()  # by default, the searcher proposes every new architecture from results
    _drive(BOHB(Count(SPACE, seed=0), budgets=BUDGETS, eta=3, min_points=1, seed=3), 200)
    assert calls["random"] == 1 and calls["model"] > 50  # only the first, with no result


class _ContinuesTheBest(RandomSearch):
    """A stand-in for a multi-fidelity model: proposes the best observed architecture it
    may (not in ``taken``), else a random one."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.multi_fidelity = True

    def _propose(self, n, taken):
        done = [t for t in self.trials if t.value is not None and t.architecture not in taken]
        if done:
            return [max(done, key=lambda t: t.value).architecture]
        return super()._propose(n, taken)


@pytest.mark.parametrize("continue_stopped", [True, False])
def test_a_bracket_may_continue_an_architecture_that_stopped_below_it(
    continue_stopped: bool,
) -> None:
    scheduler = Hyperband(
        _ContinuesTheBest(SPACE, seed=0), budgets=BUDGETS, eta=3, adapt=False,
        continue_stopped=continue_stopped,
    )  # fmt: skip
    jobs = _drive(scheduler, 120)
    reached: dict = {}
    continued = []
    for job in jobs:
        previous = reached.get(job.architecture)
        if job.rung == 0 and previous is not None:
            continued.append(job)
            # it stopped below the bracket's first budget and continues from there
            assert previous < job.budget and job.resume_from == previous
        elif job.rung == 0:
            assert job.resume_from is None
        reached[job.architecture] = job.budget
    if continue_stopped:
        assert len(continued) >= 3 and {j.bracket for j in continued} <= {0, 1, 2}
        assert scheduler.config()["continue_stopped"] is True
    else:  # every bracket starts untried architectures, as Hyperband does
        assert not continued and "continue_stopped" not in scheduler.config()


def test_a_searcher_of_one_budget_never_gets_a_stopped_architecture_back() -> None:
    class Spy(RandomSearch):
        def propose(self, n, taken, observations):
            # every architecture started so far, whatever budget it stopped at
            spied.append(set(taken) == {j.architecture for j in started})
            return super().propose(n, taken, observations)

    spied: list = []
    scheduler = BOHB(Spy(SPACE, seed=0), budgets=BUDGETS, eta=3, adapt=False, min_points=4)
    started: list[Job] = []
    for _ in range(80):
        job = scheduler.next_job()
        started.append(job)
        scheduler.report(job, _value(job))
    assert len(spied) > 20 and all(spied)
    fresh = [j.architecture for j in started if j.rung == 0]
    assert len(fresh) == len(set(fresh))


def test_a_running_or_failed_architecture_is_not_continued() -> None:
    scheduler = Hyperband(_ContinuesTheBest(SPACE, seed=0), budgets=(1.0, 3.0), eta=3, adapt=False)
    low = [scheduler.next_job() for _ in range(3)]  # bracket 1: three at budget 1
    scheduler.report(low[0], 5.0)
    scheduler.report(low[1], failed="out of memory")
    # the failed one and the running one are taken; the one with a result may continue
    assert scheduler._taken_at(3.0) == {low[1].architecture, low[2].architecture}
    scheduler.report(low[2], 1.0)
    # the failed one stays taken; the two with results may continue at budget 3
    assert scheduler._taken_at(3.0) == {low[1].architecture}
    promoted = scheduler.next_job()
    assert promoted.architecture == low[0].architecture and promoted.resume_from == 1.0
    scheduler.report(promoted, 6.0)
    assert scheduler._taken_at(3.0) == {low[0].architecture, low[1].architecture}
    (first,) = [scheduler.next_job()]  # bracket 0 starts at budget 3: the one left below
    assert first.rung == 0 and first.budget == 3.0
    assert first.architecture == low[2].architecture and first.resume_from == 1.0


def test_a_named_bonas_searcher_models_every_budget_of_a_multi_budget_scheduler() -> None:
    from bonas.schedulers import searcher_options_for

    assert searcher_options_for("bonas", BUDGETS) == {"multi_fidelity": True}
    assert searcher_options_for("bonas", BUDGETS, {"multi_fidelity": False, "seed": 1}) == {
        "multi_fidelity": False,
        "seed": 1,
    }
    assert searcher_options_for("bonas", (9.0,), {"n_initial": 3}) == {"n_initial": 3}
    assert searcher_options_for("re", BUDGETS) == {}


def test_a_small_space_runs_out_with_a_clear_error() -> None:
    from bonas.spaces import CellSpace

    tiny = CellSpace(("a", "b"), nodes=2)  # two cells
    asha = ASHA(RandomSearch(tiny, seed=0), budgets=(1.0, 3.0), eta=3)
    for _ in range(2):
        job = asha.next_job()
        asha.report(job, 1.0)
    with pytest.raises(SchedulerExhausted, match="no new architecture left"):
        asha.next_job()


def test_make_scheduler_and_bad_settings() -> None:
    searcher = RandomSearch(SPACE, seed=0)
    assert isinstance(make_scheduler("asha", searcher, budgets=BUDGETS), ASHA)
    assert make_scheduler("bohb", searcher, min_budget=1, max_budget=27).budgets == BUDGETS
    with pytest.raises(BonasError, match="unknown scheduler 'sha'"):
        make_scheduler("sha", searcher)
    with pytest.raises(BonasError, match="ascending"):
        Hyperband(searcher, budgets=(3.0, 1.0))
    with pytest.raises(BonasError, match=r"brackets must be in 0\.\.3"):
        Hyperband(searcher, budgets=BUDGETS, brackets=[4])
    with pytest.raises(BonasError, match="random_fraction"):
        BOHB(searcher, budgets=BUDGETS, random_fraction=1.5)


# -- the multi-fidelity surrogate option --------------------------------------------------


def test_multi_fidelity_surrogate_carries_cheap_results_to_the_full_budget() -> None:
    import numpy as np
    from scipy.stats import spearmanr

    from bonas.surrogate import Surrogate, default_kernel_factory

    rng = np.random.default_rng(0)
    archs = list(dict.fromkeys(SPACE.sample(rng) for _ in range(60)))
    cheap, full = archs[:40], archs[40:]
    # every architecture at budget 1; a few also at the full budget 27
    inputs = [(a, 1.0) for a in cheap + full] + [(a, 27.0) for a in full]
    values = [_value(Job(0, a, b, None, 0, 0)) for a, b in inputs]
    surrogate = Surrogate(default_kernel_factory(SPACE), multi_fidelity=True)
    surrogate.fit([a for a, _ in inputs], values, [b for _, b in inputs])
    mean, std = surrogate.predict(cheap, 27.0)
    truth = [_value(Job(0, a, 27.0, None, 0, 0)) for a in cheap]
    assert spearmanr(mean, truth).statistic > 0.8  # unseen at 27, ranked from budget 1
    assert mean.shape == std.shape == (40,) and (std > 0).all()
    with pytest.raises(BonasError, match="needs the budget of each input"):
        surrogate.fit(cheap, truth)


@pytest.mark.slow
def test_bohb_with_a_multi_fidelity_searcher_models_every_budget() -> None:
    seen = []

    class Spy(GPSearcher):
        def propose(self, n, taken, observations):
            seen.append({t.budget for t in observations})
            return super().propose(n, taken, observations)

    def run() -> list[Job]:
        searcher = Spy(
            SPACE, seed=0, n_initial=4, num_candidates=50, exhaustive_limit=0, multi_fidelity=True
        )
        scheduler = BOHB(searcher, budgets=BUDGETS, eta=3, seed=0, random_fraction=0.0)
        jobs = _drive(scheduler, 45)
        assert searcher.target_budget == BUDGETS[-1]
        assert searcher.config()["multi_fidelity"] is True
        return jobs

    first = run()
    assert len(seen[-1]) == len(BUDGETS)  # the last proposals saw all four budgets
    assert [(j.architecture, j.budget) for j in first] == [
        (j.architecture, j.budget) for j in run()
    ]


def test_to_dataframe_lists_every_job() -> None:
    scheduler = ASHA(RandomSearch(SPACE, seed=0), budgets=(1.0, 3.0), eta=3)
    jobs = _drive(scheduler, 5, fail={1})
    running = scheduler.next_job()
    frame = scheduler.to_dataframe()
    assert list(frame["job"]) == [j.id for j in jobs] + [running.id]
    assert list(frame["state"]) == ["complete", "failed", *["complete"] * 3, "running"]
    assert frame["architecture"][0] == SPACE.to_string(jobs[0].architecture)
    assert frame["failure"][1] == "out of memory"


# -- adapting the lowest budget -------------------------------------------------------


def test_the_fidelity_correlation_undoes_the_promotions_selection() -> None:
    import numpy as np

    from bonas.schedulers import fidelity_correlation

    rng = np.random.default_rng(0)
    low = rng.normal(size=3000)
    high = 0.8 * low + 0.6 * rng.normal(size=3000)  # correlation 0.8 over everything
    top = np.argsort(-low)[:1000]  # promoted: the best third at the low budget
    pairs = list(zip(low[top], high[top], strict=True))
    naive = np.corrcoef(low[top], high[top])[0, 1]
    estimate = fidelity_correlation(low, pairs)
    assert naive < 0.6 and abs(estimate - 0.8) < 0.05
    # ranks only: a monotone transform of either budget changes nothing
    squashed = [(np.exp(a), b**3) for a, b in pairs]
    assert fidelity_correlation(np.exp(low), squashed) == pytest.approx(estimate)
    assert np.isnan(fidelity_correlation(low, pairs[:2]))
    assert np.isnan(fidelity_correlation([1.0] * 5, [(1.0, 2.0)] * 4))


def _misleading(job: Job) -> float:
    """At the top budget the usual score; below it, values unrelated to that score."""
    if job.budget == BUDGETS[-1]:
        return _value(job)
    digest = zlib.crc32(f"{job.architecture.to_json()}@{job.budget}".encode()) % 10_007
    return digest / 10_007


def _drive_with(scheduler: Hyperband, jobs: int, value) -> list[Job]:
    done = []
    for _ in range(jobs):
        job = scheduler.next_job()
        scheduler.report(job, value(job))
        done.append(job)
    return done


def test_hyperband_stops_starting_brackets_at_budgets_that_mislead() -> None:
    scheduler = Hyperband(RandomSearch(SPACE, seed=0), budgets=BUDGETS, eta=3, seed=0)
    jobs = _drive_with(scheduler, 400, _misleading)
    assert scheduler.lowest > 0 and scheduler.fidelity_log
    first = scheduler.fidelity_log[0]
    assert first["from_budget"] == 1.0 and first["to_budget"] > 1.0
    assert first["trust"][0] < scheduler.trust_threshold
    later = [j for j in jobs if j.id >= scheduler.fidelity_log[-1]["job"]]
    assert later and all(j.budget >= BUDGETS[scheduler.lowest] for j in later)


def test_hyperband_keeps_every_bracket_when_budgets_rank_alike() -> None:
    scheduler = Hyperband(RandomSearch(SPACE, seed=0), budgets=BUDGETS, eta=3, seed=0)
    jobs = _drive_with(scheduler, 400, _value)
    trust = scheduler.fidelity_trust()
    assert all(c is not None and c > 0.9 for c in trust["correlations"])
    assert scheduler.lowest == 0 and not scheduler.fidelity_log
    assert {j.bracket for j in jobs} == {0, 1, 2, 3}
    fixed = Hyperband(RandomSearch(SPACE, seed=0), budgets=BUDGETS, eta=3, adapt=False)
    _drive_with(fixed, 400, _misleading)
    assert fixed.lowest == 0 and not fixed.fidelity_log


def test_a_pair_not_yet_estimated_counts_as_the_worst_estimated(monkeypatch) -> None:
    from bonas import schedulers

    scheduler = Hyperband(
        RandomSearch(SPACE, seed=0), budgets=BUDGETS, eta=3, seed=0, brackets=PAPER_ORDER
    )
    assert scheduler.fidelity_trust()["trust"] == [None, None, None]  # nothing to go on
    _drive_with(scheduler, 27 + 9, _value)  # bracket 3's first two rungs: 9 pairs (1, 3)
    estimates = iter([0.7])
    monkeypatch.setattr(schedulers, "fidelity_correlation", lambda low, pairs: next(estimates))
    state = scheduler.fidelity_trust()
    assert state["pairs"] == [9, 0, 0] and state["correlations"] == [0.7, None, None]
    # the pairs (3, 9) and (9, 27), with no results yet, count as 0.7 too
    assert state["trust"] == pytest.approx([0.7**3, 0.7**2, 0.7])


def test_the_lowest_budget_moves_up_and_back_down_with_the_trust(monkeypatch) -> None:
    scheduler = Hyperband(RandomSearch(SPACE, seed=0), budgets=BUDGETS, eta=3, seed=0)
    states = iter([[0.3, 0.5, 0.9], [0.3, 0.5, 0.9], [0.65, 0.7, 0.9], [None, None, None]])
    monkeypatch.setattr(
        scheduler,
        "fidelity_trust",
        lambda: {"correlations": [], "pairs": [], "trust": next(states)},
    )
    scheduler._adapt()
    assert scheduler.lowest == 2  # budgets 1 and 3 rank poorly; 9 starts the brackets
    assert scheduler._active_brackets() == [0, 1]
    scheduler._adapt()
    assert scheduler.lowest == 2
    scheduler._adapt()  # their estimates recovered: back to budget 1
    assert scheduler.lowest == 0 and [e["to_budget"] for e in scheduler.fidelity_log] == [9, 1]
    scheduler._adapt()  # nothing known: stay
    assert scheduler.lowest == 0


class _SeesBudgets(_ContinuesTheBest):
    """Records the budgets of the observations each proposal was given, and the lowest
    budget in use it was told."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seen: list[tuple[set[float], float | None]] = []

    def _propose(self, n, taken):
        self.seen.append(({t.budget for t in self.trials}, self.lowest_budget_in_use))
        return super()._propose(n, taken)


def test_a_multi_fidelity_searcher_gets_every_budget_and_the_lowest_in_use() -> None:
    scheduler = Hyperband(_SeesBudgets(SPACE, seed=0), budgets=BUDGETS, eta=3, seed=0)
    _drive_with(scheduler, 400, _misleading)
    assert scheduler.lowest > 0
    budgets_seen, lowest_told = scheduler.searcher.seen[-1]
    assert min(budgets_seen) == BUDGETS[0]  # what to make of them is the searcher's call
    assert lowest_told == BUDGETS[scheduler.lowest]
    assert scheduler.searcher.seen[0][1] is None  # every budget in use at first


def test_a_replayed_hyperband_adapts_as_the_first_run_did() -> None:
    first = Hyperband(RandomSearch(SPACE, seed=0), budgets=BUDGETS, eta=3, seed=0)
    jobs = _drive_with(first, 300, _misleading)
    assert first.fidelity_log
    again = Hyperband(RandomSearch(SPACE, seed=0), budgets=BUDGETS, eta=3, seed=0)
    for job in jobs:
        replayed = again.replay_issue(job.architecture, job.budget)
        again.report(replayed, _misleading(replayed))
    assert again.lowest == first.lowest and again.fidelity_log == first.fidelity_log
    assert again.next_job() == first.next_job()


def test_bad_adapting_settings_are_refused() -> None:
    with pytest.raises(BonasError, match="trust_threshold"):
        Hyperband(RandomSearch(SPACE), budgets=BUDGETS, trust_threshold=2.0)
    with pytest.raises(BonasError, match="min_pairs"):
        Hyperband(RandomSearch(SPACE), budgets=BUDGETS, min_pairs=1)


# -- promoting by the model's prediction at the top budget -------------------------------


class _Contrarian(RandomSearch):
    """A random searcher that claims to model every budget and predicts the reverse of
    the rung's values: promotions that follow it pick the worst by value."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.multi_fidelity = True
        self.predicted_from: list[int] = []

    def _predict_target(self, architectures):
        import numpy as np

        self.predicted_from.append(len(self.trials))
        return np.array([-nb201_score(a) for a in architectures])


def test_hyperband_promotes_by_the_searchers_prediction_at_the_top_budget() -> None:
    searcher = _Contrarian(SPACE, seed=2)
    scheduler = Hyperband(
        searcher, budgets=BUDGETS, eta=3, promote_by_model=True, brackets=PAPER_ORDER
    )
    jobs = _drive(scheduler, 36)
    rung0 = sorted(jobs[:27], key=_value)  # worst first: the model's order
    assert [j.architecture for j in jobs[27:36]] == [j.architecture for j in rung0[:9]]
    # one prediction for the rung, from its 27 results, asked for the top budget
    assert searcher.predicted_from == [27] and searcher.target_budget == BUDGETS[-1]
    assert searcher.trials == []  # the scheduler keeps the trials; the searcher's are untouched
    assert scheduler.config()["promote_by_model"] is True


def test_hyperband_promotes_by_value_by_default_or_without_a_model() -> None:
    told_not_to = Hyperband(
        _Contrarian(SPACE, seed=2), budgets=BUDGETS, eta=3, brackets=PAPER_ORDER
    )
    jobs = _drive(told_not_to, 36)
    rung0 = sorted(jobs[:27], key=_value, reverse=True)
    assert [j.architecture for j in jobs[27:36]] == [j.architecture for j in rung0[:9]]
    assert told_not_to.searcher.predicted_from == []
    assert "promote_by_model" not in told_not_to.config()
    # a searcher without a model has no prediction: the values decide
    assert RandomSearch(SPACE).predict_target([jobs[0].architecture], []) is None


def test_a_replayed_hyperband_promotes_what_the_journal_recorded() -> None:
    def contrarian() -> Hyperband:
        return Hyperband(_Contrarian(SPACE, seed=0), budgets=BUDGETS, eta=3, seed=0,
                         promote_by_model=True, brackets=PAPER_ORDER)  # fmt: skip

    first = contrarian()
    jobs = _drive(first, 60)
    # the replay takes the journaled promotions without asking the model again
    again = contrarian()
    for job in jobs:
        replayed = again.replay_issue(job.architecture, job.budget)
        again.report(replayed, _value(replayed))
    assert again.searcher.predicted_from == []
    again.searcher.load_state_dict(first.searcher.state_dict())  # as a resumed search does
    assert again.next_job() == first.next_job()
    # a journal whose promotion is not among the rung's results does not match
    other = contrarian()
    for job in jobs[:27]:
        other.report(other.replay_issue(job.architecture, job.budget), _value(job))
    stranger = next(j.architecture for j in jobs if j.architecture not in
                    {k.architecture for k in jobs[:27]})  # fmt: skip
    with pytest.raises(BonasError, match="journal does not match"):
        other.replay_issue(stranger, BUDGETS[1])


@pytest.mark.slow
def test_bohb_promotes_by_the_multi_fidelity_gps_prediction() -> None:
    searcher = GPSearcher(
        SPACE, seed=0, n_initial=4, num_candidates=50, exhaustive_limit=0, multi_fidelity=True
    )
    scheduler = BOHB(
        searcher, budgets=BUDGETS, eta=3, seed=0, promote_by_model=True, brackets=PAPER_ORDER
    )
    jobs = _drive(scheduler, 36)
    rung0 = jobs[:27]
    observations = scheduler._observations(None, every_budget=True)
    predicted = searcher.predict_target([j.architecture for j in rung0], observations[:27])
    assert predicted is not None and predicted.shape == (27,)
    best = [rung0[i].architecture for i in (-predicted).argsort(kind="stable")[:9]]
    assert [j.architecture for j in jobs[27:36]] == best
    assert searcher.trials == []


def test_a_multi_fidelity_gp_scores_the_stopped_architectures_it_may_continue() -> None:
    import numpy as np

    from bonas.trial import Trial, TrialState

    searcher = GPSearcher(
        SPACE, seed=0, n_initial=2, num_candidates=20, exhaustive_limit=0, multi_fidelity=True
    )
    searcher.target_budget = 27.0
    rng = np.random.default_rng(0)
    archs = list(dict.fromkeys(SPACE.sample(rng) for _ in range(6)))[:6]
    observations = []
    for i, (arch, budget) in enumerate(zip(archs, (1, 1, 27, 27, 27, 27), strict=True)):
        trial = Trial(i, arch, float(budget))
        trial.state, trial.value = TrialState.COMPLETE, _value(Job(i, arch, budget, None, 0, 0))
        observations.append(trial)
    decoy = SPACE.sample(np.random.default_rng(99))

    def only_the_decoy(score, observed_best_first, exclude, rng):
        return [(decoy, -1e9)]  # a GA that found nothing better than a hopeless candidate

    searcher.acquisition_optimizer.optimize = only_the_decoy
    (chosen,) = searcher.propose(1, set(archs[2:]), observations)
    assert chosen in archs[:2]  # observed at budget 1 only, and scored at 27
    (chosen,) = searcher.propose(1, set(archs), observations)
    assert chosen == decoy  # nothing observed may come back when all of it is taken


# -- the values a job passes on its way, and the order of the first cycle ------------------


def _drive_with_curves(scheduler: Hyperband, jobs: int, value) -> list[Job]:
    """One worker; each job also reports ``value`` at the rung budgets it trained
    through (a trainer's validation curve)."""
    done = []
    for _ in range(jobs):
        job = scheduler.next_job()
        start = job.resume_from or 0.0
        passed = {b: value(Job(-1, job.architecture, b, None, 0, 0)) for b in BUDGETS
                  if start < b < job.budget}  # fmt: skip
        scheduler.report(job, value(job), curve=passed)
        done.append(job)
    return done


def test_an_adapting_hyperband_starts_with_its_least_aggressive_bracket() -> None:
    adapting = Hyperband(RandomSearch(SPACE, seed=0), budgets=BUDGETS, eta=3)
    assert adapting.brackets == (0, 1, 2, 3) and adapting.next_job().budget == 27.0
    fixed = Hyperband(RandomSearch(SPACE, seed=0), budgets=BUDGETS, eta=3, adapt=False)
    assert fixed.brackets == (3, 2, 1, 0) and fixed.next_job().budget == 1.0
    chosen = Hyperband(RandomSearch(SPACE, seed=0), budgets=BUDGETS, eta=3, brackets=(2, 0))
    assert chosen.brackets == (2, 0) and chosen.config()["brackets"] == [2, 0]


def test_values_passed_on_the_way_measure_the_low_budgets_before_they_run() -> None:
    scheduler = Hyperband(RandomSearch(SPACE, seed=0), budgets=BUDGETS, eta=3, seed=0)
    first = _drive_with_curves(scheduler, 4, _misleading)  # bracket 0: 4 at the top budget
    assert [j.budget for j in first] == [27.0] * 4
    assert scheduler.jobs[0].curve.keys() == {1.0, 3.0, 9.0}
    assert scheduler.fidelity_trust()["pairs"] == [4, 4, 4]  # unselected pairs, for free
    jobs = first + _drive_with_curves(scheduler, 300, _misleading)
    # bracket 1 (6 at budget 9) completes the pairs; the misleading budgets below the top
    # are dropped before any job starts at budget 1 or 3
    assert scheduler.fidelity_log and scheduler.fidelity_log[0]["from_budget"] == 1.0
    assert scheduler.fidelity_log[0]["job"] <= 4 + 6 + 2
    assert all(j.budget >= 9.0 for j in jobs)
    # without the curves the first cycle pays for the misleading brackets
    blind = Hyperband(RandomSearch(SPACE, seed=0), budgets=BUDGETS, eta=3, seed=0)
    assert any(j.budget == 1.0 for j in _drive_with(blind, 300, _misleading))


class _Watching(RandomSearch):
    """Random search that says it models every budget and keeps what it was shown."""

    def __init__(self) -> None:
        super().__init__(SPACE, seed=0)
        self.multi_fidelity = True
        self.shown: list[tuple[float, float | None]] = []

    def propose(self, n, taken, observations=()):  # type: ignore[override]
        self.shown = [(t.budget, t.value) for t in observations]
        return super().propose(n, taken, observations)


@pytest.mark.parametrize("model_curves", [True, False])
def test_model_curves_hands_a_multi_fidelity_searcher_the_values_passed(
    model_curves: bool,
) -> None:
    searcher = _Watching()
    scheduler = Hyperband(searcher, budgets=BUDGETS, eta=3, model_curves=model_curves)
    job = scheduler.next_job()  # bracket 0: from scratch to 27
    scheduler.report(job, 0.9, curve={1.0: 0.3, 9.0: 0.7})
    scheduler.next_job()
    expected = [(27.0, 0.9), (1.0, 0.3), (9.0, 0.7)] if model_curves else [(27.0, 0.9)]
    assert searcher.shown == expected
    assert ("model_curves" in scheduler.config()) is model_curves
    assert scheduler.fidelity_trust()["pairs"] == [0, 0, 1]  # counted either way


def test_a_curve_is_checked_and_kept_out_of_results() -> None:
    scheduler = Hyperband(RandomSearch(SPACE, seed=0), budgets=BUDGETS, eta=3, brackets=(1, 0))
    job = scheduler.next_job()  # bracket 1: budget 9, from scratch
    for curve, message in [
        ({27.0: 0.5}, "must be a rung budget the job passed"),
        ({2.0: 0.5}, "must be a rung budget the job passed"),
        ({"x": 0.5}, "must be a rung budget the job passed"),
        ({3.0: float("nan")}, r"curve at budget 3: non-finite value nan"),
        ([(3.0, 0.4)], "must map rung budgets to values, got list"),
    ]:
        with pytest.raises(BonasError, match=message):
            scheduler.report(job, 0.5, curve=curve)
    with pytest.raises(BonasError, match="report no curve with a failure"):
        scheduler.report(job, failed="oom", curve={3.0: 0.4})
    assert not scheduler.jobs[job.id].done  # nothing recorded by a refused report
    scheduler.report(job, 0.5, curve={1.0: 0.2, 3.0: 0.4})
    assert scheduler.jobs[job.id].curve == {1.0: 0.2, 3.0: 0.4}
    assert scheduler.incumbent is None  # a value on the way is not a result
    # a promoted job passed only the budgets above its checkpoint
    _drive(scheduler, 5)  # the rest of the rung of 6
    promoted = scheduler.next_job()
    assert promoted.resume_from == 9.0
    with pytest.raises(BonasError, match=r"above 9\.0 and below 27"):
        scheduler.report(promoted, 0.9, curve={3.0: 0.4})


def test_curve_at_budgets_reads_a_validation_curve() -> None:
    import numpy as np

    from bonas.schedulers import curve_at_budgets

    curve = [0.1 * epoch for epoch in range(1, 28)]  # after epochs 1..27
    arch = SPACE.sample(np.random.default_rng(0))
    scratch = Job(0, arch, 27.0, None, 0, 0)
    expected = {1.0: 0.1, 3.0: 0.3, 9.0: 0.9}
    assert curve_at_budgets(curve, scratch, BUDGETS) == pytest.approx(expected)
    # resumed at 3: the curve's first entry is epoch 4
    resumed = Job(1, arch, 27.0, 3.0, 0, 1)
    assert curve_at_budgets(curve[3:], resumed, BUDGETS) == pytest.approx({9.0: 0.9})
    # budgets that are not whole epochs, epochs past the curve and bad entries: left out
    assert curve_at_budgets([0.1, float("nan")], scratch, (1.5, 2.0, 3.0, 27.0)) == {}
    between_epochs = Job(2, arch, 27.0, 2.5, 0, 1)
    assert curve_at_budgets(curve, between_epochs, BUDGETS) == {}

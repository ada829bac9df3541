"""Maximising an acquisition over architectures.

:class:`EvolutionaryAcquisitionOptimizer` is NASBOT's genetic algorithm (Kandasamy et al.
2018, section 4; dragonfly's ``cp_ga_optimiser``): mutation only, no crossover. The
population starts from the best observed architectures and a random pool; each
generation draws parents with probability proportional to
``exp((f - mean(f)) / (2 std(f)))`` of their acquisition values and mutates each child
1 to 5 steps (probabilities 0.5, 0.25, 0.125, 0.075, 0.05) with the space's operators.

:class:`ExhaustiveAcquisitionOptimizer` scores every architecture of a finite space
(up to ``limit``, 20,000 by default).

Both skip architectures that are observed or pending, and return candidates best first.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

import numpy as np

from bonas.architecture import Architecture
from bonas.exceptions import BonasError
from bonas.spaces.base import SearchSpace
from bonas.spaces.nasbot import draw_mutation_steps

__all__ = [
    "EvolutionaryAcquisitionOptimizer",
    "ExhaustiveAcquisitionOptimizer",
    "make_acquisition_optimizer",
]

ScoreFn = Callable[[Sequence[Architecture]], np.ndarray]


class EvolutionaryAcquisitionOptimizer:
    """NASBOT's mutation-only GA over a space's mutation operators.

    Args:
        space: The search space (its ``mutate`` makes children).
        num_evaluations: Acquisition evaluations per call (NASBOT: 1,000).
        num_parents_observed: Best observed architectures in the first population.
        num_random: Random samples in the first population.
        generation_size: Children per generation.
    """

    def __init__(
        self,
        space: SearchSpace,
        num_evaluations: int = 1000,
        num_parents_observed: int = 10,
        num_random: int = 50,
        generation_size: int = 100,
    ) -> None:
        if min(num_evaluations, generation_size) < 1 or min(num_parents_observed, num_random) < 0:
            raise BonasError(
                f"bad GA settings: num_evaluations={num_evaluations}, generation_size="
                f"{generation_size}, num_parents_observed={num_parents_observed}, "
                f"num_random={num_random}"
            )
        self.space = space
        self.num_evaluations = num_evaluations
        self.num_parents_observed = num_parents_observed
        self.num_random = num_random
        self.generation_size = generation_size

    def _child(self, parent: Architecture, rng: np.random.Generator) -> Architecture:
        steps = draw_mutation_steps(rng)
        child = parent
        for _ in range(steps):
            child = self.space.mutate(child, rng)
        return child

    def optimize(
        self,
        score: ScoreFn,
        observed_best_first: Sequence[Architecture],
        exclude: Collection[Architecture],
        rng: np.random.Generator,
    ) -> list[tuple[Architecture, float]]:
        """Search for high-acquisition architectures.

        Args:
            score: Acquisition values of a list of architectures, shape ``(n,)``.
            observed_best_first: Observed architectures, best first (parents of gen. 0).
            exclude: Architectures never to return (observed and pending).
            rng: The caller's generator.

        Returns:
            ``(architecture, acquisition value)`` pairs, best first, none in ``exclude``.
        """
        seen: set[Architecture] = set(exclude)
        population: list[Architecture] = []
        values: list[float] = []

        def add(candidates: list[Architecture]) -> None:
            fresh = []
            for arch in candidates:
                if arch not in seen:
                    seen.add(arch)
                    fresh.append(arch)
            if fresh:
                population.extend(fresh)
                values.extend(float(v) for v in score(fresh))

        parents = list(observed_best_first[: self.num_parents_observed])
        start = [self._child(p, rng) for p in parents]
        start += [self.space.sample(rng) for _ in range(self.num_random)]
        add(start)
        stalls = 0
        while len(population) < self.num_evaluations and stalls < 5:
            pool = population + parents
            pool_values = np.array(values + [max(values, default=0.0)] * len(parents))
            if not pool:
                break
            spread = pool_values.std()
            logits = (
                (pool_values - pool_values.mean()) / (2 * spread)
                if spread > 0
                else (np.zeros_like(pool_values))
            )
            weights = np.exp(logits - logits.max())
            chosen = rng.choice(
                len(pool),
                size=min(self.generation_size, self.num_evaluations - len(population)),
                p=weights / weights.sum(),
            )
            before = len(population)
            add([self._child(pool[int(i)], rng) for i in chosen])
            stalls = stalls + 1 if len(population) == before else 0
        order = np.argsort(-np.asarray(values), kind="stable")
        return [(population[i], values[i]) for i in order]


class ExhaustiveAcquisitionOptimizer:
    """Scores every architecture of a finite space of at most ``limit`` members.

    The enumeration is made once and kept.
    """

    def __init__(self, space: SearchSpace, limit: int = 20_000) -> None:
        if not space.is_finite or space.size > limit:
            raise BonasError(
                f"exhaustive scoring needs a finite space of at most {limit} architectures; "
                f"{type(space).__name__} is {'infinite' if not space.is_finite else space.size}"
            )
        self.space = space
        self._members: list[Architecture] | None = None

    @property
    def members(self) -> list[Architecture]:
        if self._members is None:
            self._members = list(self.space.enumerate())
        return self._members

    def optimize(
        self,
        score: ScoreFn,
        observed_best_first: Sequence[Architecture],
        exclude: Collection[Architecture],
        rng: np.random.Generator,
    ) -> list[tuple[Architecture, float]]:
        excluded = set(exclude)
        candidates = [a for a in self.members if a not in excluded]
        values = score(candidates) if candidates else np.zeros(0)
        order = np.argsort(-values, kind="stable")
        return [(candidates[i], float(values[i])) for i in order]


def make_acquisition_optimizer(
    space: SearchSpace, num_evaluations: int = 1000, exhaustive_limit: int = 20_000, **kwargs: Any
):
    """Exhaustive scoring for finite spaces up to ``exhaustive_limit``, else NASBOT's GA."""
    try:
        finite_small = space.is_finite and space.size <= exhaustive_limit
    except BonasError:
        finite_small = False
    if finite_small:
        return ExhaustiveAcquisitionOptimizer(space, exhaustive_limit)
    return EvolutionaryAcquisitionOptimizer(space, num_evaluations, **kwargs)

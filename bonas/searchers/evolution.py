"""Regularized (aging) evolution (Real et al. 2019)."""

from __future__ import annotations

from typing import Any

from bonas.architecture import Architecture
from bonas.exceptions import BonasError
from bonas.searchers.base import Searcher
from bonas.spaces.base import SearchSpace
from bonas.trial import Trial

__all__ = ["RegularizedEvolution"]


class RegularizedEvolution(Searcher):
    """Regularized (aging) evolution: mutate the winner of a tournament, the oldest dies.

    The population is the last ``population_size`` complete trials in the order they
    were told (aging: when a new one completes, the oldest leaves, however good it was);
    failed trials never enter it. Until it is full, proposals are uniform random samples;
    pending trials count toward those, so a batch asked at the start is random only up to
    ``population_size`` trials in all. After that each proposal draws ``sample_size``
    members uniformly with replacement (Real et al.'s tournament), takes the best as the
    parent, and proposes ``space.mutate(parent)`` -- one neighbour step on cell spaces.
    The population is fixed during an ask, so every member of a batch has its own
    tournament. A mutant that is already a trial is redrawn; after
    :attr:`mutation_tries` draws (or if the parent has no valid mutant) a random untried
    architecture is proposed instead.

    The defaults are NASLib's NAS-Bench-201 settings.

    Reference:
        Real, E., Aggarwal, A., Huang, Y. and Le, Q. V. "Regularized Evolution for Image
        Classifier Architecture Search." AAAI 2019. arXiv:1802.01548.

    Args:
        space: Where architectures come from.
        seed: Seed of the searcher's own random generator.
        direction: ``maximize`` or ``minimize`` the told values.
        population_size: Complete trials kept alive (``P``).
        sample_size: Tournament size (``S``), at most ``population_size``.

    Raises:
        BonasError: On sizes below 1 or ``sample_size > population_size``.

    Example:
        >>> from bonas.spaces import NB201Space
        >>> space = NB201Space()
        >>> opt = RegularizedEvolution(space, seed=0, population_size=4, sample_size=2)
        >>> for _ in range(6):
        ...     (trial,) = opt.ask()
        ...     _ = opt.tell(trial, float(space.to_string(trial.architecture).count("3x3")))
        >>> [t.number for t in opt.population]
        [2, 3, 4, 5]
        >>> any(trial.architecture in space.neighbours(t.architecture) for t in opt.trials[:4])
        True
    """

    name = "re"
    #: Mutations of one parent drawn before a random untried architecture is proposed.
    mutation_tries: int = 100

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int = 0,
        direction: str = "maximize",
        population_size: int = 30,
        sample_size: int = 10,
    ) -> None:
        super().__init__(space, seed=seed, direction=direction)
        if not 1 <= sample_size <= population_size:
            raise BonasError(
                "need 1 <= sample_size <= population_size, got "
                f"sample_size={sample_size}, population_size={population_size}"
            )
        self.population_size = population_size
        self.sample_size = sample_size

    def _options(self) -> dict[str, Any]:
        return {"population_size": self.population_size, "sample_size": self.sample_size}

    @property
    def population(self) -> list[Trial]:
        """The living members, oldest first: the last ``population_size`` complete trials
        in the order they completed (ties, and trials without a finish time, by number)."""
        complete = [t for t in self.trials if t.usable]
        complete.sort(
            key=lambda t: (
                t.finished_at if t.finished_at is not None else float("-inf"),
                t.number,
            )
        )
        return complete[-self.population_size :]

    def _propose(self, n: int, taken: set[Architecture]) -> list[Architecture]:
        population = self.population
        # complete and pending trials fill the population; failed ones leave a place
        filling = sum(1 for t in self.trials if t.usable or not t.state.finished)
        chosen: list[Architecture] = []
        for _ in range(n):
            if filling < self.population_size or not population:
                arch = self._random_unseen(taken)
                filling += 1
            else:
                arch = self._child(self.tournament(population), taken)
            taken.add(arch)
            chosen.append(arch)
        return chosen

    def tournament(self, population: list[Trial]) -> Trial:
        """The best of ``sample_size`` members drawn uniformly with replacement (the
        first drawn among equals); uses the searcher's generator."""
        picks = self.rng.integers(len(population), size=self.sample_size)
        contenders = [population[int(i)] for i in picks]
        return max(contenders, key=self._signed)

    def _child(self, parent: Trial, taken: set[Architecture]) -> Architecture:
        for _ in range(self.mutation_tries):
            try:
                child = self.space.mutate(parent.architecture, self.rng)
            except BonasError:  # no valid mutant (say, an isolated subset member)
                break
            if child not in taken:
                return child
        return self._random_unseen(taken)

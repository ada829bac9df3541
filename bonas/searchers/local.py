"""Local search: best-improvement hill climbing with random restarts (NASLib's ``ls``)."""

from __future__ import annotations

from typing import Any

from bonas.architecture import Architecture
from bonas.exceptions import BonasError
from bonas.searchers.base import Searcher
from bonas.spaces.base import SearchSpace
from bonas.trial import Trial

__all__ = ["LocalSearch"]


class LocalSearch(Searcher):
    """Local search (best-improvement hill climbing with random restarts), as in NASLib.

    1. The first ``num_init`` trials are uniform random samples.
    2. The best complete one becomes the *centre*; its neighbours
       (:meth:`~bonas.spaces.base.SearchSpace.neighbours`) are proposed one by one in a
       random order.
    3. When they are exhausted, the search moves to the best complete trial of the current
       run (the centre, every neighbour evaluated since the run began, and neighbours
       that were already trials) if it is strictly better than the centre, and goes to 2.
    4. Otherwise the centre is a local optimum: a random untried architecture is proposed
       and becomes the centre of a new run (it is the centre whatever its value), and
       the search goes on with its neighbours (2).

    This is NASLib's ``ls`` optimizer (White et al.): the centre moves only after its
    whole neighbourhood has been evaluated, to the best one found, not at the first
    improvement. Neighbours that are already trials are not proposed again; their known
    values still count.

    Batches and pending trials: decisions are made at :meth:`ask` time from the complete
    trials; a pending neighbour counts as not (yet) better. A later-completing neighbour
    still counts for the next move while its run lasts, but is forgotten by a restart.

    Spaces without finite neighbourhoods (``neighbours`` raises, e.g.
    :class:`~bonas.spaces.CNNSpace`), and centres with no neighbour in the space (a table
    :class:`~bonas.spaces.subset.SubsetSpace` such as NB101's public rows, where a mutant
    is the nearest member instead): the neighbourhood is the distinct results of
    ``num_mutants`` draws of ``space.mutate(centre)``.

    Reference:
        White, C., Nolen, S. and Savani, Y. "Exploring the Loss Landscape in Neural
        Architecture Search." UAI 2021 (first as "Local Search is State of the Art for
        NAS Benchmarks", 2020). arXiv:2005.02960.

    Args:
        space: Where architectures come from.
        seed: Seed of the searcher's own random generator.
        direction: ``maximize`` or ``minimize`` the told values.
        num_init: Random trials before the first centre is chosen.
        num_mutants: Mutation draws that stand for the neighbourhood where the space lists
            none.

    Example:
        >>> from bonas.spaces import NB201Space
        >>> space = NB201Space()
        >>> opt = LocalSearch(space, seed=0, num_init=3)
        >>> for _ in range(4):
        ...     (trial,) = opt.ask()
        ...     _ = opt.tell(trial, float(space.to_string(trial.architecture).count("3x3")))
        >>> centre = opt.trials[opt.centre].architecture
        >>> trial.architecture in space.neighbours(centre)
        True
    """

    name = "ls"

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int = 0,
        direction: str = "maximize",
        num_init: int = 10,
        num_mutants: int = 20,
    ) -> None:
        super().__init__(space, seed=seed, direction=direction)
        if num_init < 1 or num_mutants < 1:
            raise BonasError(
                f"num_init and num_mutants must be at least 1, got {num_init}, {num_mutants}"
            )
        self.num_init = num_init
        self.num_mutants = num_mutants
        #: Trial number of the current centre (None before the first one).
        self.centre: int | None = None
        # trial numbers of the current run (None: still the initial random phase)
        self._run: list[int] | None = None
        # the centre's neighbours not yet proposed, in proposal order
        self._queue: list[Architecture] = []

    def _options(self) -> dict[str, Any]:
        return {"num_init": self.num_init, "num_mutants": self.num_mutants}

    def _propose(self, n: int, taken: set[Architecture]) -> list[Architecture]:
        numbers = {t.architecture: t.number for t in self.trials}
        chosen: list[Architecture] = []
        for _ in range(n):
            number = len(self.trials) + len(chosen)
            if number < self.num_init:
                arch = self._random_unseen(taken)
            else:
                arch = self._step(number, taken, numbers)
            taken.add(arch)
            numbers[arch] = number
            chosen.append(arch)
        return chosen

    def _step(
        self, number: int, taken: set[Architecture], numbers: dict[Architecture, int]
    ) -> Architecture:
        """The proposal that will be trial ``number``; updates centre, run and queue."""
        if self._run is None:
            self._run = list(range(number))  # the initial random trials are the first run
        # each move is to a strictly better trial, so this ends
        while True:
            while self._queue:
                arch = self._queue.pop(0)
                if arch not in taken:
                    self._run.append(number)
                    return arch
            best = self._run_best()
            centre = self._trial(self.centre)
            if best is not None and (
                centre is None or not centre.usable or self._signed(best) > self._signed(centre)
            ):
                self._set_centre(best.number, best.architecture, taken, numbers)
                continue
            arch = self._random_unseen(taken)  # a local optimum: restart
            self._run = [number]
            self._set_centre(number, arch, taken | {arch}, numbers)
            return arch

    def _set_centre(
        self,
        number: int,
        arch: Architecture,
        taken: set[Architecture],
        numbers: dict[Architecture, int],
    ) -> None:
        self.centre = number
        queue = []
        for neighbour in dict.fromkeys(self._neighbourhood(arch)):
            if neighbour in taken:
                if neighbour in numbers and numbers[neighbour] not in self._run:
                    self._run.append(numbers[neighbour])  # evaluated before: its value counts
            else:
                queue.append(neighbour)
        self._queue = queue

    def _neighbourhood(self, arch: Architecture) -> list[Architecture]:
        """The neighbours in a random order, or ``num_mutants`` mutation draws."""
        try:
            neighbours = self.space.neighbours(arch)
        except BonasError:
            neighbours = []
        if not neighbours:
            mutants: list[Architecture] = []
            for _ in range(self.num_mutants):
                try:
                    mutants.append(self.space.mutate(arch, self.rng))
                except BonasError:  # no valid mutant
                    break
            return list(dict.fromkeys(mutants))
        order = self.rng.permutation(len(neighbours))
        return [neighbours[int(i)] for i in order]

    def _trial(self, number: int | None) -> Trial | None:
        if number is None or number >= len(self.trials):
            return None
        return self.trials[number]

    def _run_best(self) -> Trial | None:
        members = [self._trial(i) for i in self._run or []]
        usable = [t for t in members if t is not None and t.usable]
        if not usable:
            return None
        return max(usable, key=lambda t: (self._signed(t), -t.number))

    def state_dict(self) -> dict[str, Any]:
        """The generator, the centre, the run and the neighbours still to propose."""
        return {
            **super().state_dict(),
            "centre": self.centre,
            "run": self._run,
            "queue": [arch.to_json() for arch in self._queue],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        try:
            centre = None if state["centre"] is None else int(state["centre"])
            run = None if state["run"] is None else [int(i) for i in state["run"]]
            queue = [Architecture.from_json(text) for text in state["queue"]]
        except (KeyError, TypeError, ValueError, BonasError) as err:
            raise BonasError(f"the searcher state is malformed: {err}") from None
        self.centre, self._run, self._queue = centre, run, queue

"""Random search: uniform samples of the space, never one already tried."""

from __future__ import annotations

from bonas.architecture import Architecture
from bonas.searchers.base import Searcher
from bonas.spaces.base import SearchSpace

__all__ = ["RandomSearch"]


class RandomSearch(Searcher):
    """Uniform random samples of the space, never an architecture already tried.

    Each proposal is drawn uniformly from the architectures no trial holds yet (rejection
    sampling; a finite space whose untried rest is rarely hit is enumerated instead), so
    random search covers a finite space exactly once and then raises.

    Reference:
        Li, L. and Talwalkar, A. "Random Search and Reproducibility for Neural
        Architecture Search." UAI 2019. arXiv:1902.07638.

    Args:
        space: Where architectures come from.
        seed: Seed of the searcher's own random generator.
        direction: ``maximize`` or ``minimize`` the told values.

    Raises:
        BonasError: From :meth:`ask`, once every architecture of a finite space is a trial.

    Example:
        >>> from bonas.spaces import NB201Space
        >>> opt = RandomSearch(NB201Space(), seed=0)
        >>> trials = opt.ask(3)
        >>> len({t.architecture for t in trials}), opt.config()["optimizer"]
        (3, 'rs')
    """

    name = "rs"

    def __init__(self, space: SearchSpace, *, seed: int = 0, direction: str = "maximize") -> None:
        super().__init__(space, seed=seed, direction=direction)

    def _propose(self, n: int, taken: set[Architecture]) -> list[Architecture]:
        return self._random(n, taken)

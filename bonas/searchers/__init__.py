"""Searchers: which architecture comes next.

Every searcher is a :class:`Searcher` (ask/tell, pending trials and batches, failed
trials recorded and kept out, never an architecture proposed twice, its own seeded
generator, a state that survives a restart):

* :class:`GPSearcher`: Bayesian optimisation with the bonas GP (``bonas``);
* :class:`RandomSearch` (``rs``), :class:`RegularizedEvolution` (``re``) and
  :class:`LocalSearch` (``ls``): the baselines NAS benchmarks compare against.

The Python API takes searcher objects; names are for the CLI and the benchmarks
(:func:`make_searcher`). Only :class:`GPSearcher` loads torch, on first use.

Example:
    >>> from bonas.searchers import RegularizedEvolution
    >>> from bonas.spaces import NB201Space
    >>> searcher = RegularizedEvolution(NB201Space(), seed=0, population_size=10)
    >>> len(searcher.ask(2))
    2
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bonas.exceptions import BonasError
from bonas.searchers.base import Searcher
from bonas.searchers.evolution import RegularizedEvolution
from bonas.searchers.local import LocalSearch
from bonas.searchers.random import RandomSearch
from bonas.spaces.base import SearchSpace

if TYPE_CHECKING:
    from bonas.searchers.gp import GPSearcher

__all__ = [
    "SEARCHERS",
    "GPSearcher",
    "LocalSearch",
    "RandomSearch",
    "RegularizedEvolution",
    "Searcher",
    "make_searcher",
]

#: The searchers by name (``bonas`` is :class:`GPSearcher`, loaded on first use).
SEARCHERS: tuple[str, ...] = ("bonas", "rs", "re", "ls")

_MODEL_FREE: dict[str, type[Searcher]] = {
    "rs": RandomSearch,
    "re": RegularizedEvolution,
    "ls": LocalSearch,
}


def __getattr__(name: str) -> object:
    if name == "GPSearcher":  # torch, gpytorch and botorch load only when it is used
        from bonas.searchers.gp import GPSearcher

        return GPSearcher
    raise AttributeError(f"module 'bonas.searchers' has no attribute {name!r}")


def make_searcher(name: str, space: SearchSpace, *, seed: int, **options: Any) -> Searcher:
    """A searcher by name: ``bonas`` (:class:`GPSearcher`), ``rs``, ``re`` or ``ls``.

    Args:
        name: One of :data:`SEARCHERS`.
        space: The search space.
        seed: Seed of the searcher's generator.
        **options: Constructor keywords of that searcher (``direction``,
            ``population_size``, ``n_initial``...).

    Raises:
        BonasError: On an unknown name (the message lists the known ones).

    Example:
        >>> from bonas.spaces import NB201Space
        >>> make_searcher("ls", NB201Space(), seed=1, num_init=5).config()["num_init"]
        5
    """
    if name == "bonas":
        from bonas.searchers.gp import GPSearcher

        return GPSearcher(space, seed=seed, **options)
    if name not in _MODEL_FREE:
        raise BonasError(f"unknown searcher {name!r}; known: {', '.join(sorted(SEARCHERS))}")
    return _MODEL_FREE[name](space, seed=seed, **options)

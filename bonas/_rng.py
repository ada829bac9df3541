"""Random-number helpers: every component owns its generator; nothing touches global state."""

from __future__ import annotations

import bisect
import numbers
from collections.abc import Sequence

import numpy as np

from bonas.exceptions import BonasError

__all__ = ["RNGLike", "as_generator", "cumulative_probabilities", "draw_index"]

RNGLike = np.random.Generator | int


def as_generator(rng: RNGLike) -> np.random.Generator:
    """Return ``rng`` itself if it is a Generator, or a new one seeded with the int ``rng``."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise BonasError(f"expected a numpy Generator or an int seed, got {type(rng).__name__} {rng!r}")


def cumulative_probabilities(probabilities: Sequence[float] | np.ndarray) -> list[float]:
    """The table :func:`draw_index` draws from: the running sums of ``probabilities``,
    scaled so that the last is 1, as ``Generator.choice`` computes them."""
    cdf = np.cumsum(np.asarray(probabilities, dtype=np.float64))
    if cdf.size == 0 or not cdf[-1] > 0:
        raise BonasError(f"probabilities must have a positive sum, got {list(probabilities)}")
    cdf /= cdf[-1]
    return cdf.tolist()


def draw_index(rng: np.random.Generator, cdf: Sequence[float]) -> int:
    """An index drawn with the probabilities behind ``cdf`` (from
    :func:`cumulative_probabilities`): the same draw, from the same one uniform number, as
    ``rng.choice(len(p), p=p)``, without its per-call checks, which cost more than the
    draw on a search's hot path."""
    return bisect.bisect_right(cdf, rng.random())

"""Random-number helpers: every component owns its generator; nothing touches global state."""

from __future__ import annotations

import numbers

import numpy as np

from bonas.exceptions import BonasError

__all__ = ["RNGLike", "as_generator"]

RNGLike = np.random.Generator | int


def as_generator(rng: RNGLike) -> np.random.Generator:
    """Return ``rng`` itself if it is a Generator, or a new one seeded with the int ``rng``."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise BonasError(f"expected a numpy Generator or an int seed, got {type(rng).__name__} {rng!r}")

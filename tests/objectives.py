"""Cheap deterministic objectives for engine tests (no training, no tables)."""

from __future__ import annotations

import hashlib

from bonas import Architecture
from bonas.spaces import NB201Space

_NB201 = NB201Space()
_WEIGHTS = {
    "none": 0.0,
    "skip_connect": 0.3,
    "avg_pool_3x3": 0.1,
    "nor_conv_1x1": 0.6,
    "nor_conv_3x3": 1.0,
}


def jitter(arch: Architecture) -> float:
    """A reproducible pseudo-random number in [0, 1) tied to the architecture."""
    digest = hashlib.sha256(arch.canonical_hash.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


def nb201_score(arch: Architecture) -> float:
    """More and bigger convolutions score higher, plus a little architecture noise."""
    return sum(_WEIGHTS[op] for op in _NB201.to_ops(arch)) + 0.1 * jitter(arch)


def cnn_score(arch: Architecture) -> float:
    """Deeper and wider, with diminishing returns."""
    width = sum(u or 0 for u in arch.units) / max(arch.num_layers, 1)
    return arch.num_layers**0.5 + width / 256 + 0.1 * jitter(arch)


def sleepy(arch: Architecture) -> float:
    """Hangs far past any test's timeout (for timeouts that must stop the worker)."""
    import time

    time.sleep(120)
    return 0.0

"""Helpers shared by the test modules."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bonas import Architecture
from bonas.spaces import CNNSpace, DARTSSpace, MLPSpace, NB101Space, NB201Space, NBGraphSpace

#: one default-configured instance of every space, by name
SPACES = {
    "cnn": CNNSpace(),
    "mlp": MLPSpace(),
    "nb201": NB201Space(),
    "nb101": NB101Space(),
    "nbgraph": NBGraphSpace(),
    "darts": DARTSSpace(),
}


def samples(space: object, count: int, seed: int) -> list[Architecture]:
    """``count`` architectures drawn from ``space`` with a fixed seed."""
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(count)]  # type: ignore[attr-defined]


def relabel(arch: Architecture, perm: Sequence[int]) -> Architecture:
    """The same architecture with layer ``i`` renumbered ``perm[i]``."""
    n = arch.num_layers
    labels: list[str] = [""] * n
    units: list[int | None] = [None] * n
    strides: list[int | None] = [None] * n
    for old, new in enumerate(perm):
        labels[new], units[new], strides[new] = arch.labels[old], arch.units[old], arch.strides[old]
    edges = [(int(perm[u]), int(perm[v])) for u, v in arch.edges]
    return Architecture.from_layers(labels, units, edges, strides, vocabulary=arch.vocabulary)


def permuted(arch: Architecture, seed: int) -> Architecture:
    """An isomorphic copy under a random renumbering drawn with ``seed``."""
    perm = np.random.default_rng(seed).permutation(arch.num_layers)
    return relabel(arch, [int(p) for p in perm])

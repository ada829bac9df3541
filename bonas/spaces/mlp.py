"""NASBOT's multi-layer-perceptron space: hidden activation layers with units, then a
``linear`` (regression) or ``softmax`` (classification) decision layer (see
:mod:`bonas.spaces.nasbot` for the shared constraints and mutation primitives)."""

from __future__ import annotations

from typing import Any

from bonas.architecture import Architecture
from bonas.exceptions import InvalidSpaceError
from bonas.spaces.nasbot import NASBOTSpace
from bonas.spaces.nasbot_zoo import MLP_RECTIFIERS, MLP_SIGMOIDS, blocked_mlp
from bonas.vocabulary import MLP_VOCABULARY

__all__ = ["MLPSpace"]


class MLPSpace(NASBOTSpace):
    """NASBOT's multi-layer-perceptron space.

    Args:
        task: ``"reg"`` (decision layer ``linear``) or ``"class"`` (``softmax``).
        **constraints: See :class:`NASBOTSpace`.

    Example:
        >>> import numpy as np
        >>> space = MLPSpace(task="reg")
        >>> space.contains(space.sample(np.random.default_rng(0)))
        True
    """

    name = "mlp"
    vocabulary = MLP_VOCABULARY
    hidden_labels = (*MLP_RECTIFIERS, *MLP_SIGMOIDS)

    def __init__(self, *, task: str = "reg", **constraints: Any) -> None:
        super().__init__(**constraints)
        if task not in ("reg", "class"):
            raise InvalidSpaceError(f"MLPSpace task must be 'reg' or 'class', got {task!r}")
        self.task = task

    def config(self) -> dict[str, Any]:
        return {**super().config(), "task": self.task}

    @property
    def decision_label(self) -> str:
        return "linear" if self.task == "reg" else "softmax"

    def _swap_targets(self, label: str) -> dict[str, float]:
        if label in MLP_RECTIFIERS:
            return dict.fromkeys(MLP_SIGMOIDS, 1.0)
        if label in MLP_SIGMOIDS:
            return dict.fromkeys(MLP_RECTIFIERS, 1.0)
        return {}

    def _wedge_label(self, source_label: str, after_input: bool, rng: Any) -> str:
        return self.hidden_labels[int(rng.integers(len(self.hidden_labels)))]

    def initial_pool(self) -> list[Architecture]:
        """Blocked MLPs alternating rectifier and sigmoid blocks, as NASBOT's pool."""
        shapes = ((3, 2), (4, 2), (5, 2), (3, 4), (6, 2), (8, 2), (6, 3), (10, 2), (4, 6), (8, 3))
        return [blocked_mlp(blocks, per_block, self.decision_label) for blocks, per_block in shapes]

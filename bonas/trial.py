"""Trials: one architecture evaluated (or to be evaluated) at one budget."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any

from bonas.architecture import Architecture

__all__ = ["Trial", "TrialState"]


class TrialState(enum.Enum):
    """Life cycle of a trial: PENDING -> RUNNING -> COMPLETE or FAILED."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (TrialState.COMPLETE, TrialState.FAILED)


@dataclass
class Trial:
    """One evaluation of an architecture.

    Attributes:
        number: Position in the study, from 0.
        architecture: What is evaluated.
        budget: The evaluation budget (epochs, say); ``None`` for full fidelity.
        state: Where the trial is in its life cycle.
        value: The objective, once complete.
        failure: Why it failed, once failed.
        worker: Who evaluated it.
        created_at, started_at, finished_at: Unix times.
        user_attrs: Anything the objective wants to keep (JSON-compatible).
    """

    number: int
    architecture: Architecture
    budget: float | None = None
    state: TrialState = TrialState.PENDING
    value: float | None = None
    failure: str | None = None
    worker: str | None = None
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    user_attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish, when both are known."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    @property
    def usable(self) -> bool:
        """Complete with a finite value, i.e. fit for the surrogate."""
        return (
            self.state is TrialState.COMPLETE
            and self.value is not None
            and math.isfinite(self.value)
        )

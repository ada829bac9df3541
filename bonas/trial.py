"""Trials: one architecture evaluated (or to be evaluated) at one budget."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any

from bonas.architecture import Architecture

__all__ = ["Trial", "TrialState", "finite_value"]


def finite_value(value: Any) -> tuple[float | None, str | None]:
    """An objective's answer as ``(number, None)``, or ``(None, why it is not one)``.

    A value is a finite real number: a Python ``int`` or ``float`` or anything ``float()``
    takes that is not text (numpy and torch scalars). Booleans, strings and bytes (even
    ``"2.1"``), integers too large for a float, NaN and infinities are not: the trial
    they answer fails with the reason, and the search goes on.

    Example:
        >>> finite_value(0.93), finite_value(2)
        ((0.93, None), (2.0, None))
        >>> finite_value("2.1")[1]
        "the objective returned '2.1' (str), not a number"
        >>> finite_value(10**400)[1]
        'the objective returned an integer of 1329 bits, too large for a float'
        >>> finite_value(float("nan"))[1]
        'non-finite value nan'
    """
    if isinstance(value, bool | str | bytes | bytearray) or value is None:
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return None, f"the objective returned {shown} ({type(value).__name__}), not a number"
    try:
        number = float(value)
    except OverflowError:
        bits = value.bit_length() if isinstance(value, int) else "too many"
        return None, f"the objective returned an integer of {bits} bits, too large for a float"
    except (TypeError, ValueError, RuntimeError):  # torch: a tensor of several values
        return None, f"the objective returned a {type(value).__name__}, not a number"
    if not math.isfinite(number):
        return None, f"non-finite value {number!r}"
    return number, None


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

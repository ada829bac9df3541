"""Set-up of the worker processes that compute distances.

This module imports nothing heavy, so that a spawned worker runs :func:`light_worker`
before it unpickles its first job, which imports POT.
"""

from __future__ import annotations

import os

__all__ = ["light_worker"]


def light_worker() -> None:
    """Keep POT from importing torch in a distance worker, which needs only numpy.

    POT loads every array backend it finds when it is imported; torch alone costs a
    worker seconds of start-up and hundreds of MB of memory.
    """
    os.environ.setdefault("POT_BACKEND_DISABLE_PYTORCH", "1")

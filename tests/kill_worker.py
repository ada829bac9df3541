"""Run a stored search in a subprocess; optionally SIGKILL itself mid-evaluation.

Usage: python -m tests.kill_worker DB N_TRIALS KILL_AT_CALL (-1: never)
"""

from __future__ import annotations

import os
import signal
import sys

import bonas
from bonas.spaces import NB201Space

from .objectives import nb201_score


def main() -> None:
    db, n_trials, kill_at = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    calls = 0

    def objective(arch: bonas.Architecture) -> float:
        nonlocal calls
        calls += 1
        if calls == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no flush: a real crash
        return nb201_score(arch)

    bonas.search(
        objective, NB201Space(), n_trials=n_trials, storage=db, seed=5, n_initial=3, progress=False
    )


if __name__ == "__main__":
    main()

"""Set-up of bonas's worker processes: distance workers and evaluation workers.

This module imports nothing heavy, so that a spawned worker runs its initializer before
it unpickles its first job (which, for a distance worker, imports POT).
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["PARENT_CHECK_S", "exit_with_parent", "light_worker", "watch_parent"]

#: Seconds between a worker's checks that the process that started it is alive.
PARENT_CHECK_S = 0.5


def exit_with_parent(parent: int) -> None:
    """End this process once ``parent`` is gone (it was killed, say, with SIGKILL), so
    that no orphan goes on training and writing checkpoints into a folder that a resumed
    search uses, or idles forever. A dead parent's children are adopted by another
    process, which changes ``os.getppid()``; this works wherever ``getppid`` does,
    without Linux's ``PR_SET_PDEATHSIG`` (which fires when the starting *thread* ends)."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(70)  # no cleanup: the process that owned this work is gone


def watch_parent(parent: int) -> None:
    """Run :func:`exit_with_parent` in a daemon thread of this process."""
    threading.Thread(
        target=exit_with_parent, args=(parent,), name="bonas-parent-watch", daemon=True
    ).start()


def light_worker(parent: int | None = None) -> None:
    """Initializer of a distance worker: keep POT from importing torch, which it does
    not need (POT loads every array backend it finds when it is imported; torch alone
    costs a worker seconds of start-up and hundreds of MB), and, given the pool owner's
    pid ``parent``, end with it: an idle pool worker would otherwise outlive a SIGKILLed
    search forever."""
    os.environ.setdefault("POT_BACKEND_DISABLE_PYTORCH", "1")
    if parent is not None:
        watch_parent(parent)

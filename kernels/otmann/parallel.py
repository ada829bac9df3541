"""Spreading large OTMANN calls over a process pool kept for the life of the program."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from multiprocessing.util import Finalize

import numpy as np

from bonas._workers import light_worker
from bonas.kernels.otmann.exact import exact_rows, ragged_rows
from bonas.kernels.otmann.profile import ArchitectureProfile

__all__ = ["ragged_job", "rows_job", "shared_pool"]

_POOLS: dict[int, ProcessPoolExecutor] = {}


def shared_pool(workers: int) -> ProcessPoolExecutor:
    """A process pool kept for the life of the program: BO computes distances every
    iteration, and starting workers costs more than a typical iteration's distances.
    Workers are spawned, not forked, so a parent holding torch or BLAS threads is safe."""
    if workers not in _POOLS:
        _POOLS[workers] = ProcessPoolExecutor(
            workers,
            mp_context=get_context("spawn"),
            initializer=light_worker,
            initargs=(os.getpid(),),
        )
        # A multiprocessing child (a benchmark's worker running a search) exits through
        # multiprocessing's exit function, which runs no atexit handlers and joins the
        # child's own children: only a finaliser shuts this pool down in time, and without
        # it that child would wait on the pool's idle workers forever. Its priority is
        # above the call queue's own finaliser (10), which stops the queue's feeder
        # thread: the shutdown needs that thread to send the workers their sentinels.
        Finalize(None, _POOLS[workers].shutdown, kwargs={"cancel_futures": True}, exitpriority=20)
    return _POOLS[workers]


def rows_job(
    settings: dict[str, object],
    rows: list[ArchitectureProfile],
    cols: Sequence[ArchitectureProfile],
    first_row: int | None,
) -> np.ndarray:
    """:func:`exact_rows` in a worker, for an OTMANN distance rebuilt from ``settings``."""
    from bonas.kernels.otmann.distance import OTMANNDistance  # a cycle at import

    return exact_rows(OTMANNDistance(**settings), rows, cols, first_row)  # type: ignore[arg-type]


def ragged_job(
    settings: dict[str, object],
    rows: list[ArchitectureProfile],
    cols: list[ArchitectureProfile],
    picks: list[list[int]],
) -> list[np.ndarray]:
    """:func:`ragged_rows` in a worker, for an OTMANN distance rebuilt from ``settings``."""
    from bonas.kernels.otmann.distance import OTMANNDistance  # a cycle at import

    return ragged_rows(OTMANNDistance(**settings), rows, cols, picks)  # type: ignore[arg-type]

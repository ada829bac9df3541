"""Run independent benchmark runs in this process or in spawned worker processes."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import Any

from bonas.exceptions import BonasError

__all__ = ["run_calls", "seed_list"]

Call = tuple[tuple[Any, ...], dict[str, Any]]


def seed_list(seeds: int | Sequence[int]) -> list[int]:
    """The seeds a benchmark runs: ``0 .. seeds-1`` for a count, else the seeds given."""
    return list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]


def _worker_init(threads: int, parent: int) -> None:
    import torch

    torch.set_num_threads(threads)
    # a worker outlives a killed parent by the length of its run (a whole replay):
    # watch the parent and leave with it
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def _exit_with(parent: int, interval: float = 1.0) -> None:
    while os.getppid() == parent:
        time.sleep(interval)
    os._exit(1)


def run_calls(
    function: Callable[..., Any],
    calls: Sequence[Call],
    jobs: int,
    *,
    describe: Callable[[int], str],
    on_done: Callable[[], None] | None = None,
) -> list[Any]:
    """``function(*args, **kwargs)`` for every call, with ``jobs`` processes.

    With ``jobs == 1`` the calls run here, in order; otherwise in spawned processes (a
    ``function`` must be importable), each given ``cpu_count // jobs`` torch threads.

    Args:
        function: What to run.
        calls: ``(args, kwargs)`` per call.
        jobs: Processes; 1 runs in this process.
        describe: Names call ``i`` in the error raised if it fails.
        on_done: Called after each call finishes (a progress bar's update).

    Returns:
        The results, in the order of ``calls``.

    Raises:
        BonasError: ``"<describe(i)> failed: ..."`` for the first call that raised one.
    """
    if jobs < 1:
        raise BonasError(f"jobs must be at least 1, got {jobs}")
    results: list[Any] = [None] * len(calls)
    if jobs == 1:
        for index, (args, kwargs) in enumerate(calls):
            try:
                results[index] = function(*args, **kwargs)
            except BonasError as err:
                raise BonasError(f"{describe(index)} failed: {err}") from err
            if on_done is not None:
                on_done()
        return results
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=get_context("spawn"),
        initializer=_worker_init,
        initargs=(threads, os.getpid()),
    ) as pool:
        futures = {
            pool.submit(function, *args, **kwargs): index
            for index, (args, kwargs) in enumerate(calls)
        }
        for future in as_completed(futures):
            index = futures[future]
            try:
                results[index] = future.result()
            except BonasError as err:
                raise BonasError(f"{describe(index)} failed: {err}") from err
            if on_done is not None:
                on_done()
    return results

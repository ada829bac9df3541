"""Executors: *where* evaluations run.

The scheduler decides when and at which budget, the searcher which architecture, and
the executor where (syne-tune's layering). An executor runs a callable on one of its
``workers`` slots and hands back a :class:`concurrent.futures.Future`:

* :class:`InProcessExecutor`: threads of this process (PyTorch releases the GIL while it
  trains). The default, and what tests and notebooks use.
* :class:`ProcessExecutor`: one spawned process per slot, with ``CUDA_VISIBLE_DEVICES``
  set to that slot's GPU (one GPU per worker, or several workers per GPU when told).
  A worker that dies (a segfault, the kernel's out-of-memory killer) breaks only its
  slot, which is restarted for the next evaluation.
* :class:`DaskExecutor`: a ``dask.distributed`` cluster, at an address the user names or
  a ``LocalCluster`` started here.

Call order, as :func:`bonas.search_multifidelity` drives an executor::

    with ProcessExecutor(workers=2) as executor:
        future = executor.submit(fn, *args)   # at most ``executor.workers`` at a time
        concurrent.futures.wait([future], timeout=..., return_when=FIRST_COMPLETED)
        future.result()                       # the value, or fn's exception, or
                                              # WorkerDied when the worker was lost
        executor.abandon(future)              # a timed-out evaluation: stop it if the
                                              # executor can, and free its slot

For :class:`ProcessExecutor` and :class:`DaskExecutor` the callable and its arguments
are pickled, so they must be importable (a module-level function or an instance of a
module-level class such as :class:`bonas.evaluation.TrainingObjective`).
"""

from __future__ import annotations

import abc
import contextlib
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import BrokenExecutor, Future, InvalidStateError
from concurrent.futures import ProcessPoolExecutor as _ProcessPool
from typing import Any

from bonas._workers import watch_parent
from bonas.exceptions import BonasError

__all__ = [
    "DaskExecutor",
    "Executor",
    "ExecutorError",
    "InProcessExecutor",
    "ProcessExecutor",
    "WorkerDied",
    "make_executor",
]


class ExecutorError(BonasError):
    """An executor was misconfigured or used wrongly (no free slot, closed)."""


class WorkerDied(BonasError):
    """The worker running an evaluation was lost (killed, crashed, out of memory)."""


class Executor(abc.ABC):
    """Base class: a fixed number of slots that each run one evaluation at a time.

    Attributes:
        workers: How many evaluations may run at once.
    """

    name = "base"
    workers: int
    #: Whether :meth:`abandon` stops a running evaluation (threads cannot be stopped).
    can_stop = True

    @abc.abstractmethod
    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Run ``fn(*args)`` on a free slot.

        Raises:
            ExecutorError: If every slot is busy, or the executor is closed.
        """

    def abandon(self, future: Future) -> None:  # noqa: B027 - not every executor can stop
        """Stop a running evaluation where possible (it timed out) and free its slot."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop the workers; running evaluations are abandoned."""

    def describe(self) -> str:
        """One line for logs: the kind and where it runs."""
        return f"{self.name} executor, {self.workers} worker(s)"

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_workers(workers: int) -> int:
    if not isinstance(workers, int) or workers < 1:
        raise ExecutorError(f"workers must be a positive integer, got {workers!r}")
    return workers


class InProcessExecutor(Executor):
    """Evaluations in threads of this process, each in a daemon thread of its own.

    A timed-out evaluation cannot be stopped: its thread runs on and its late result is
    ignored, but its slot is freed at once for the next evaluation (so a stuck
    evaluation can oversubscribe the CPU), and the thread, a daemon, does not keep the
    process from exiting.

    Args:
        workers: Evaluations at a time.
    """

    name = "in-process"
    can_stop = False

    def __init__(self, workers: int = 1) -> None:
        self.workers = _check_workers(workers)
        self._running: set[Future] = set()
        self._lock = threading.Lock()
        self._started = 0
        self._closed = False

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        with self._lock:
            if self._closed:
                raise ExecutorError("the executor is closed")
            if len(self._running) >= self.workers:
                raise ExecutorError(f"all {self.workers} workers are busy")
            future: Future = Future()
            self._running.add(future)
            self._started += 1
            number = self._started
        future.add_done_callback(self._release)

        def evaluate() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                result = fn(*args)
            except BaseException as err:  # the caller reads it from the future
                _settle(future, error=err)
            else:
                _settle(future, result=result)

        threading.Thread(target=evaluate, name=f"bonas-eval-{number}", daemon=True).start()
        return future

    def _release(self, future: Future) -> None:
        with self._lock:
            self._running.discard(future)

    def abandon(self, future: Future) -> None:
        self._release(future)

    def close(self) -> None:
        """Refuse new evaluations; running ones finish in their threads (not awaited)."""
        with self._lock:
            self._closed = True


def _start_worker(environment: dict[str, str], parent: int) -> None:
    """Worker initializer: the slot's environment (its GPU) before anything imports CUDA,
    and a watch that ends the worker when the search process ``parent`` dies
    (:func:`~bonas._workers.exit_with_parent`)."""
    os.environ.update(environment)
    watch_parent(parent)


def _settle(future: Future, *, result: Any = None, error: BaseException | None = None) -> None:
    """Finish ``future`` unless it is finished already (a timeout and a result can race)."""
    with contextlib.suppress(InvalidStateError):
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


class _Slot:
    """One worker process (a single-process pool) with a fixed environment."""

    def __init__(self, index: int, environment: dict[str, str]) -> None:
        self.index = index
        self.environment = environment
        self.pool: _ProcessPool | None = None
        self.pid: int | None = None
        self.busy: Future | None = None

    def start(self) -> None:
        self.pool = _ProcessPool(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(self.environment, os.getpid()),
        )
        # the pid lets a timed-out evaluation be killed with public APIs only
        try:
            self.pid = self.pool.submit(os.getpid).result()
        except BrokenExecutor as err:
            self.pool = None
            raise ExecutorError(
                f"worker {self.index} could not start ({err}); a script that starts worker "
                "processes must run its search under `if __name__ == '__main__':`"
            ) from None

    def kill(self) -> None:
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):  # it died already
                os.kill(self.pid, signal.SIGKILL)
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool, self.pid = None, None


class ProcessExecutor(Executor):
    """Evaluations in spawned worker processes, one per slot, each with its own GPU.

    A worker ends itself within :data:`~bonas._workers.PARENT_CHECK_S` seconds of the death of the
    process that started it, however that process ended (SIGKILL included), so no orphan
    trains on into the folder a resumed search uses.

    Args:
        workers: Worker processes; by default ``len(gpus) * workers_per_gpu`` when
            ``gpus`` is given, else 1.
        gpus: GPU indices to spread the workers over (``CUDA_VISIBLE_DEVICES`` of each
            worker), or ``"auto"`` for every visible GPU (none: CPU workers).
        workers_per_gpu: Workers sharing each GPU.
        environment: Extra environment variables for every worker (``OMP_NUM_THREADS``,
            say).

    Raises:
        ExecutorError: For a non-positive count, or ``workers`` and ``gpus`` that do not
            fit together.

    Example:
        >>> with ProcessExecutor(gpus=[0, 1], workers_per_gpu=2) as ex:  # doctest: +SKIP
        ...     [slot.environment["CUDA_VISIBLE_DEVICES"] for slot in ex.slots]
        ['0', '0', '1', '1']
    """

    name = "process"

    def __init__(
        self,
        workers: int | None = None,
        *,
        gpus: Sequence[int] | str | None = None,
        workers_per_gpu: int = 1,
        environment: dict[str, str] | None = None,
    ) -> None:
        _check_workers(workers_per_gpu)
        if gpus == "auto":
            import torch

            gpus = list(range(torch.cuda.device_count())) or None
        elif isinstance(gpus, str):
            raise ExecutorError(f"gpus must be a list of indices or 'auto', got {gpus!r}")
        gpu_slots = [str(g) for g in (gpus or []) for _ in range(workers_per_gpu)]
        if workers is None:
            workers = len(gpu_slots) or 1
        _check_workers(workers)
        if gpu_slots and workers > len(gpu_slots):
            raise ExecutorError(
                f"{workers} workers do not fit on GPUs {list(gpus or [])} with "
                f"{workers_per_gpu} worker(s) per GPU; raise workers_per_gpu"
            )
        self.workers = workers
        self.slots = []
        for index in range(workers):
            env = dict(environment or {})
            if gpu_slots:
                env["CUDA_VISIBLE_DEVICES"] = gpu_slots[index]
            self.slots.append(_Slot(index, env))
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        with self._lock:
            if self._closed:
                raise ExecutorError("the executor is closed")
            slot = next((s for s in self.slots if s.busy is None), None)
            if slot is None:
                raise ExecutorError(f"all {self.workers} workers are busy")
            if slot.pool is None:
                slot.start()
            outer: Future = Future()
            outer.set_running_or_notify_cancel()
            slot.busy = outer
            pool = slot.pool
        inner = pool.submit(fn, *args)  # type: ignore[union-attr]
        inner.add_done_callback(lambda done: self._finish(slot, pool, outer, done))
        return outer

    def _finish(self, slot: _Slot, pool: Any, outer: Future, inner: Future) -> None:
        with self._lock:
            if slot.busy is outer:
                slot.busy = None
            error = inner.exception() if not inner.cancelled() else None
            # a broken pool is replaced at the next submit (unless abandon already did)
            if (isinstance(error, BrokenExecutor) or inner.cancelled()) and slot.pool is pool:
                slot.kill()
        if inner.cancelled():
            _settle(outer, error=WorkerDied(f"worker {slot.index} was stopped"))
        elif isinstance(error, BrokenExecutor):
            message = f"worker {slot.index} died while evaluating ({error})"
            _settle(outer, error=WorkerDied(message))
        else:
            _settle(outer, result=None if error else inner.result(), error=error)

    def abandon(self, future: Future) -> None:
        with self._lock:
            slot = next((s for s in self.slots if s.busy is future), None)
            if slot is None:
                return
            slot.busy = None
            slot.kill()
        _settle(future, error=WorkerDied(f"worker {slot.index} was stopped (timeout)"))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for slot in self.slots:
                slot.kill()

    def describe(self) -> str:
        gpus = [s.environment.get("CUDA_VISIBLE_DEVICES") for s in self.slots]
        where = f" on GPUs {gpus}" if any(g is not None for g in gpus) else ""
        return f"process executor, {self.workers} worker process(es){where}"


class DaskExecutor(Executor):
    """Evaluations on a ``dask.distributed`` cluster.

    Args:
        address: The scheduler's address (``tcp://host:8786``); ``None`` starts a
            ``LocalCluster`` of ``workers`` single-threaded worker processes here.
        workers: Evaluations at a time (the local cluster's size; on a remote cluster,
            how many tasks bonas keeps in flight).
        retries: Dask's own resubmissions of a task whose worker died (bonas retries on
            top of these; see :func:`bonas.search_multifidelity`).
        timeout: Seconds to wait for a remote scheduler.

    Raises:
        ExecutorError: If ``dask[distributed]`` is not installed or the cluster cannot
            be reached.
    """

    name = "dask"

    def __init__(
        self,
        address: str | None = None,
        workers: int = 2,
        retries: int = 0,
        timeout: float = 30.0,
    ) -> None:
        self.workers = _check_workers(workers)
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ExecutorError(
                "the dask executor needs dask[distributed]: pip install 'bonas[dask]'"
            ) from None
        self._cluster = None
        try:
            if address is None:
                self._cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                )
                self.client = Client(self._cluster)
            else:
                self.client = Client(address, timeout=f"{timeout}s")
        except (OSError, TimeoutError) as err:
            raise ExecutorError(f"cannot reach a dask scheduler at {address!r}: {err}") from None
        self.address = address or self._cluster.scheduler_address  # type: ignore[union-attr]
        self.retries = retries
        self._running: dict[Future, Any] = {}
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        with self._lock:
            if len(self._running) >= self.workers:
                raise ExecutorError(f"all {self.workers} workers are busy")
            outer: Future = Future()
            outer.set_running_or_notify_cancel()
            task = self.client.submit(fn, *args, pure=False, retries=self.retries)
            self._running[outer] = task
        task.add_done_callback(lambda done: self._finish(outer, done))
        return outer

    def _finish(self, outer: Future, task: Any) -> None:
        from distributed.scheduler import KilledWorker

        with self._lock:
            self._running.pop(outer, None)
        if outer.done():
            return
        if task.status == "finished":
            _settle(outer, result=task.result())
        elif task.status == "cancelled":
            _settle(outer, error=WorkerDied("the dask task was cancelled"))
        else:
            error = task.exception()
            if isinstance(error, KilledWorker):
                error = WorkerDied(f"dask lost the worker: {error}")
            _settle(outer, error=error)

    def abandon(self, future: Future) -> None:
        with self._lock:
            task = self._running.pop(future, None)
        if task is not None:
            task.cancel()
        _settle(future, error=WorkerDied("the dask task was stopped (timeout)"))

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    def describe(self) -> str:
        return f"dask executor at {self.address}, {self.workers} task(s) at a time"


def make_executor(
    kind: str = "in-process",
    workers: int | None = None,
    *,
    gpus: Sequence[int] | str | None = None,
    workers_per_gpu: int = 1,
    address: str | None = None,
) -> Executor:
    """An executor by name: ``in-process``, ``process`` or ``dask``.

    ``workers`` defaults to one per GPU slot (``gpus`` times ``workers_per_gpu``) for
    the process executor with GPUs, 1 otherwise (2 for a local Dask cluster).

    Raises:
        ExecutorError: For an unknown name (the known ones are listed).
    """
    if kind == "in-process":
        return InProcessExecutor(workers or 1)
    if kind == "process":
        return ProcessExecutor(workers, gpus=gpus, workers_per_gpu=workers_per_gpu)
    if kind == "dask":
        return DaskExecutor(address, workers or 2)
    raise ExecutorError(f"unknown executor {kind!r}; known: dask, in-process, process")

"""Executors: a conformance suite every executor passes, and each one's own faults.

The Dask tests start a ``LocalCluster`` of 2 worker processes, as CI does.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import wait

import pytest

from bonas.executors import (
    DaskExecutor,
    Executor,
    ExecutorError,
    InProcessExecutor,
    ProcessExecutor,
    WorkerDied,
    make_executor,
)
from tests import mf_objectives

KINDS = ["in-process", "process", "dask"]


@pytest.fixture(params=KINDS)
def executor(request: pytest.FixtureRequest) -> Iterator[Executor]:
    with make_executor(request.param, 2) as ex:
        yield ex


def test_an_executor_returns_values_and_raises_the_objectives_errors(executor: Executor) -> None:
    value = executor.submit(mf_objectives.sleep_then, 0.0, 4.5)
    assert value.result(timeout=60) == 4.5
    failing = executor.submit(mf_objectives.fail, "no such layer")
    with pytest.raises(ValueError, match="no such layer"):
        failing.result(timeout=60)


def test_an_executor_runs_its_workers_at_once_and_no_more(executor: Executor) -> None:
    executor.submit(mf_objectives.sleep_then, 0.0, 0.0).result(timeout=60)  # warm up
    started = time.monotonic()
    futures = [executor.submit(mf_objectives.sleep_then, 1.0, float(k)) for k in range(2)]
    with pytest.raises(ExecutorError, match="all 2 workers are busy"):
        executor.submit(mf_objectives.sleep_then, 0.0, 0.0)
    done, _ = wait(futures, timeout=60)
    assert sorted(f.result() for f in done) == [0.0, 1.0]
    assert time.monotonic() - started < 1.9  # both ran together
    assert executor.submit(mf_objectives.sleep_then, 0.0, 2.0).result(timeout=60) == 2.0


def test_process_workers_get_their_own_gpu() -> None:
    with ProcessExecutor(gpus=[0, 1], workers_per_gpu=2) as ex:
        assert ex.workers == 4
        futures = [
            ex.submit(mf_objectives.environment, "CUDA_VISIBLE_DEVICES", 1.0) for _ in range(4)
        ]
        assert sorted(f.result(timeout=60) for f in futures) == ["0", "0", "1", "1"]
    with ProcessExecutor(2, environment={"BONAS_PROBE": "x"}) as ex:
        assert ex.submit(mf_objectives.environment, "BONAS_PROBE").result(timeout=60) == "x"
        assert ex.submit(mf_objectives.environment, "CUDA_VISIBLE_DEVICES").result() is None


def test_process_executor_settings_are_checked() -> None:
    with pytest.raises(ExecutorError, match="3 workers do not fit on GPUs \\[0\\]"):
        ProcessExecutor(3, gpus=[0])
    with pytest.raises(ExecutorError, match="workers must be a positive integer, got 0"):
        ProcessExecutor(0)
    with pytest.raises(ExecutorError, match="unknown executor 'ray'"):
        make_executor("ray")


def test_a_dead_process_worker_is_reported_and_replaced() -> None:
    with ProcessExecutor(1) as ex:
        first = ex.submit(mf_objectives.environment, "HOME").result(timeout=60)
        with pytest.raises(WorkerDied, match="worker 0 died"):
            ex.submit(mf_objectives.die).result(timeout=60)
        assert ex.submit(mf_objectives.environment, "HOME").result(timeout=60) == first


def test_an_abandoned_process_evaluation_is_stopped() -> None:
    with ProcessExecutor(1) as ex:
        hanging = ex.submit(mf_objectives.sleep_then, 60.0, 1.0)
        time.sleep(0.5)
        started = time.monotonic()
        ex.abandon(hanging)
        with pytest.raises(WorkerDied, match="stopped"):
            hanging.result(timeout=10)
        assert ex.submit(mf_objectives.sleep_then, 0.0, 3.0).result(timeout=60) == 3.0
        assert time.monotonic() - started < 30  # not the 60 s of the hung call


def test_an_in_process_abandon_frees_the_slot() -> None:
    with InProcessExecutor(1) as ex:
        slow = ex.submit(mf_objectives.sleep_then, 1.0, 1.0)
        ex.abandon(slow)
        assert ex.submit(mf_objectives.sleep_then, 0.0, 2.0).result(timeout=10) == 2.0


def test_dask_runs_on_a_local_cluster_of_two_workers() -> None:
    with DaskExecutor(workers=2) as ex:
        assert ex.address.startswith("tcp://")
        assert len(ex.client.scheduler_info()["workers"]) == 2
        assert "dask executor at tcp://" in ex.describe()


def test_an_unreachable_dask_scheduler_is_a_clear_error() -> None:
    with pytest.raises(ExecutorError, match="cannot reach a dask scheduler at 'tcp://127"):
        DaskExecutor("tcp://127.0.0.1:9", workers=1, timeout=2)


def test_dask_runs_on_a_cluster_the_user_names() -> None:
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None)
    with cluster, DaskExecutor(cluster.scheduler_address, workers=1) as ex:
        assert ex.address == cluster.scheduler_address
        assert ex.submit(mf_objectives.sleep_then, 0.0, 7.0).result(timeout=60) == 7.0


HANGS_ON_THIRD_CALL = """
import json, threading
import bonas
from bonas.spaces import NB201Space

space, calls = NB201Space(), []

def objective(arch):
    calls.append(1)
    if len(calls) == 3:
        threading.Event().wait()  # hangs for ever
    return float(space.to_string(arch).count("conv_3x3"))

result = bonas.search(objective, space, n_trials=10, n_initial=5, num_candidates=50,
                      timeout_per_trial=2, progress=False)
history = result.history
print(json.dumps({
    "calls": len(calls),
    "complete": int((history["state"] == "complete").sum()),
    "failures": [f for f in history["failure"] if isinstance(f, str)],
}))
"""


def test_a_timed_out_thread_frees_its_slot_and_does_not_keep_the_process_alive() -> None:
    """An evaluation that hangs in the default (thread) executor fails its trial alone;
    the later trials run, and the process exits although the thread never returns."""
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", HANGS_ON_THIRD_CALL], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"calls": 10, "complete": 9, "failures": ["timeout after 2s"]}


def test_a_closed_in_process_executor_refuses_work() -> None:
    executor = InProcessExecutor(1)
    assert executor.submit(time.sleep, 0).result(timeout=10) is None
    executor.close()
    with pytest.raises(ExecutorError, match="closed"):
        executor.submit(time.sleep, 0)


ORPHAN_MAKER = """
import sys, time
from bonas.executors import ProcessExecutor

if __name__ == "__main__":
    executor = ProcessExecutor(1)
    executor.submit(time.sleep, 600)
    print(executor.slots[0].pid, flush=True)
    time.sleep(600)
"""


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads process states from /proc")
def test_workers_end_when_the_search_process_is_killed(tmp_path) -> None:
    """SIGKILL the process that owns a ProcessExecutor: its busy worker ends too."""
    import signal
    import subprocess
    import sys

    script = tmp_path / "orphan_maker.py"
    script.write_text(ORPHAN_MAKER)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    worker = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(timeout=30)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            break
        # a dead worker not yet reaped by its new parent still answers: look at its state
        try:
            with open(f"/proc/{worker}/stat") as stat:
                if stat.read().split(")")[-1].split()[0] == "Z":
                    break
        except FileNotFoundError:
            break
        time.sleep(0.2)
    else:
        os.kill(worker, signal.SIGKILL)
        pytest.fail(f"worker {worker} outlived its killed parent by 20 s")

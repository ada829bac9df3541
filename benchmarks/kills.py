"""Kill a search again and again: what is lost, what is run twice, what is orphaned.

``python -m bonas.benchmarks.kills --kills 20 --out kills.json`` starts ``bonas.search``
(NB201 cells, a cheap objective that takes ``--eval-s`` seconds, evaluated in a
:class:`~bonas.executors.ProcessExecutor` worker so that orphans are possible) on a
study file, SIGKILLs it at a random moment ``--kills`` times, resuming it each time,
then lets it finish ``--trials`` trials. Every evaluation appends a line (the trial's
architecture and the evaluating process) to a log, so the report counts:

* ``lost``: trials the study should hold but does not, or holds unfinished;
* ``evaluated_twice``: architectures evaluated more than once beyond the ones that were
  running at a kill (those are run again by design);
* ``orphans``: worker processes still alive a few seconds after their search was killed.

``--cli`` does the same to the ``bonas search`` command (really training CNNs on the
embedded MNIST-5k in worker processes, with ``--resume`` after each kill), and counts from
its journal: ``lost`` (jobs short of ``--trials`` complete), ``rerun_by_design`` (jobs
running at a kill, started again on resume), ``evaluated_twice`` (attempts beyond those)
and ``orphans`` (the search's worker processes alive 3 s after the kill).

The numbers are a measurement, not a test: the tests check one kill each
(``tests/test_kill_and_resume.py``, ``test_mfsearch.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["cli_kill_benchmark", "kill_benchmark", "main"]

_CHILD = """
import os, sys, time
import bonas
from bonas.executors import ProcessExecutor
from bonas.spaces import NB201Space
from bonas.benchmarks.kills import logged_objective

if __name__ == "__main__":
    study, log, trials, eval_s = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    objective = logged_objective(log, eval_s)
    with ProcessExecutor(1) as executor:
        bonas.search(objective, NB201Space(), n_trials=trials, n_initial=5, num_candidates=100,
                     storage=study, executor=executor, progress=False)
"""


class logged_objective:  # a picklable function object
    """NB201's conv count after ``eval_s`` seconds, logging each evaluation to ``log``."""

    def __init__(self, log: str, eval_s: float) -> None:
        self.log, self.eval_s = log, eval_s

    def __call__(self, arch: Any) -> float:
        from bonas.spaces import NB201Space

        with open(self.log, "a") as stream:
            stream.write(json.dumps({"arch": arch.canonical_hash, "pid": os.getpid()}) + "\n")
        time.sleep(self.eval_s)
        return float(NB201Space().to_string(arch).count("conv_3x3"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead, only not yet reaped
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def kill_benchmark(
    kills: int = 20, trials: int = 40, eval_s: float = 0.3, seed: int = 0
) -> dict[str, Any]:
    """Kill a search ``kills`` times at random moments, then let it finish; see above."""
    from bonas.study import Study

    rng = np.random.default_rng(seed)
    folder = Path(tempfile.mkdtemp(prefix="bonas-kills-"))
    study, log = folder / "study.db", folder / "evaluations.jsonl"
    command = [sys.executable, "-c", _CHILD, str(study), str(log), str(trials), str(eval_s)]
    rerun_by_design = 0
    orphans = 0
    kills_done = 0
    started = time.perf_counter()
    for _ in range(kills):
        before = log.read_text().count("\n") if log.exists() else 0
        child = subprocess.Popen(command)
        # once it evaluates (imports take seconds), a random moment within 3 s
        deadline = time.monotonic() + 300
        while child.poll() is None and time.monotonic() < deadline:
            if log.exists() and log.read_text().count("\n") > before:
                break
            time.sleep(0.1)
        time.sleep(float(rng.uniform(0.0, 3.0)))
        if child.poll() is not None:
            break  # it finished every trial before this kill
        lines = log.read_text().splitlines()[before:] if log.exists() else []
        workers = {json.loads(line)["pid"] for line in lines}
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        kills_done += 1
        time.sleep(3.0)  # workers check on their parent twice a second
        orphans += sum(_alive(pid) for pid in workers)
        logged = {json.loads(line)["arch"] for line in log.read_text().splitlines()}
        with Study.load(study) as resumed:
            # running at the kill and already started: evaluated again by design
            requeued = {resumed.trials[n].architecture.canonical_hash for n in resumed.requeued}
            rerun_by_design += len(requeued & logged)
    subprocess.run(command, check=True)
    evaluations = Counter(json.loads(line)["arch"] for line in log.read_text().splitlines())
    with Study.load(study) as final:
        done = [t for t in final.trials if t.state.finished]
        report = {
            "kills": kills_done,
            "trials": trials,
            "trials_in_study": len(final.trials),
            "lost": trials - len(done),
            "evaluations": sum(evaluations.values()),
            "rerun_by_design": rerun_by_design,
            "evaluated_twice": sum(n - 1 for n in evaluations.values()) - rerun_by_design,
            "orphans": orphans,
            "seconds": round(time.perf_counter() - started, 1),
        }
    return report


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (Linux ``/proc``)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().split(")")[-1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _journal(study: Path) -> list[tuple[str, dict[str, Any]]]:
    """Each job's state and attributes, read without taking the search's lock."""
    import sqlite3

    with sqlite3.connect(f"file:{study}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT state, user_attrs FROM trials ORDER BY number").fetchall()
    return [(state, json.loads(attrs)) for state, attrs in rows]


def cli_kill_benchmark(kills: int = 20, jobs: int = 30, seed: int = 0) -> dict[str, Any]:
    """SIGKILL ``bonas search`` ``kills`` times at random moments (resuming it each
    time), then let it finish ``jobs`` jobs; see the module docstring."""
    rng = np.random.default_rng(seed)
    folder = Path(tempfile.mkdtemp(prefix="bonas-cli-kills-"))
    study = folder / "study.db"
    command = [
        sys.executable, "-m", "bonas.cli", "search", "--out", str(folder), "--max-jobs",
        str(jobs), "--time-budget", "100000", "--data-fraction", "0.2", "--max-budget", "3",
        "--workers", "2", "--quiet", "--seed", str(seed),
    ]  # fmt: skip
    running_at_kills = orphans = kills_done = 0
    started = time.perf_counter()
    for kill in range(kills):
        child = subprocess.Popen(
            command + (["--resume"] if kill else []),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        # imports and the first jobs take seconds: a random moment 8 to 30 s in
        time.sleep(float(rng.uniform(8.0, 30.0)))
        if child.poll() is not None:
            break  # it finished every job before this kill
        workers = set().union(*(_children(c) for c in _children(child.pid))) | _children(child.pid)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        kills_done += 1
        time.sleep(3.0)  # workers check on their parent twice a second
        orphans += sum(_alive(pid) for pid in workers)
        if study.exists():
            # running and started (an issued job not started yet is not run again)
            running_at_kills += sum(
                state == "running" and int(attrs.get("attempts", 0)) > 0
                for state, attrs in _journal(study)
            )
    subprocess.run([*command, "--resume"], check=True, stdout=subprocess.DEVNULL)
    journal = _journal(study)
    complete = sum(state == "complete" for state, _ in journal)
    reruns = sum(max(0, int(attrs.get("attempts", 1)) - 1) for _, attrs in journal)
    return {
        "kills": kills_done,
        "jobs": jobs,
        "jobs_in_journal": len(journal),
        "lost": jobs - complete,
        "failed": sum(state == "failed" for state, _ in journal),
        "evaluations": sum(int(attrs.get("attempts", 1)) for _, attrs in journal),
        "rerun_by_design": running_at_kills,
        "evaluated_twice": reruns - running_at_kills,
        "orphans": orphans,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bonas.benchmarks.kills", description=__doc__)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--eval-s", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="JSON file for the report")
    parser.add_argument(
        "--cli", action="store_true", help="kill the bonas search command (--trials: its jobs)"
    )
    args = parser.parse_args(argv)
    if args.cli:
        report = cli_kill_benchmark(args.kills, args.trials, args.seed)
    else:
        report = kill_benchmark(args.kills, args.trials, args.eval_s, args.seed)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

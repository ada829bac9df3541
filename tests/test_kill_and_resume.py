"""A search killed with SIGKILL mid-evaluation resumes with nothing lost or repeated,
and ends with the same history as an uninterrupted search with the same seed."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bonas import Study, TrialState

ROOT = Path(__file__).resolve().parents[1]
N_TRIALS = 7


def run_worker(db: Path, kill_at: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tests.kill_worker", str(db), str(N_TRIALS), str(kill_at)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def history(db: Path) -> list[tuple[int, str, str, float | None]]:
    study = Study.load(db)
    rows = [(t.number, t.architecture.to_json(), t.state.value, t.value) for t in study.trials]
    study.close()
    return rows


@pytest.mark.slow
def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    killed = run_worker(tmp_path / "killed.db", kill_at=5)  # dies inside the 5th evaluation
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    partial = Study.load(tmp_path / "killed.db")
    states = [t.state for t in partial.trials]
    assert states[:4] == [TrialState.COMPLETE] * 4 and states[4] is TrialState.RUNNING
    partial.close()

    resumed = run_worker(tmp_path / "killed.db", kill_at=-1)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    clean = run_worker(tmp_path / "clean.db", kill_at=-1)
    assert clean.returncode == 0, clean.stderr[-2000:]

    got, expected = history(tmp_path / "killed.db"), history(tmp_path / "clean.db")
    assert len(got) == N_TRIALS
    assert all(state == "complete" for _, _, state, _ in got)
    assert len({arch for _, arch, _, _ in got}) == N_TRIALS  # nothing evaluated twice
    assert got == expected

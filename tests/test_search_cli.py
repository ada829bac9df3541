"""``bonas search`` end to end: real training on a slice of MNIST-5k, the study, the
report folder, the best model, and ``--resume``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bonas import Architecture
from bonas._mfsearch import JobJournal
from bonas.cli import main
from bonas.evaluation import TrainingObjective, build_network, checkpoint_path
from bonas.spaces import blocked_cnn

QUICK = [
    "--min-budget", "1", "--max-budget", "3", "--data-fraction", "0.1", "--width", "0.0625",
    "--executor", "in-process", "--searcher", "rs", "--time-budget", "600", "--quiet",
]  # fmt: skip


@pytest.mark.slow
def test_bonas_search_trains_writes_the_report_and_resumes(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["search", "--out", str(out), "--max-jobs", "6", *QUICK]) == 0
    printed = capsys.readouterr().out
    assert "6 jobs (6 complete), stopped by jobs" in printed
    for name in ("jobs.csv", "incumbent.png", "top_k.csv", "top_k.md", "best_architecture.png"):
        assert (out / "report" / name).stat().st_size > 0, name
    assert (out / "study.db").is_file()

    import pandas as pd

    jobs = pd.read_csv(out / "report" / "jobs.csv")
    # budgets 1..3, the least aggressive bracket first: bracket 0 (two at 3 epochs), then
    # bracket 1 (three at 1 epoch, the best continues to 3)
    assert list(jobs["budget"]) == [3.0, 3.0, 1.0, 1.0, 1.0, 3.0]
    assert jobs.loc[5, "resumed_from"] == 1 and jobs.loc[5, "epochs"] == 3
    best_first = jobs[jobs["budget"] == 1.0].sort_values("value").iloc[-1]
    assert jobs.loc[5, "architecture"] == best_first["architecture"]
    assert jobs["value"].between(0, 1).all() and (jobs["params"] > 0).all()

    arch = Architecture.from_json((out / "best_architecture.json").read_text())
    top = jobs[jobs["budget"] == 3.0]
    assert arch.to_json() == top.loc[top["value"].idxmax(), "architecture"]
    net = build_network(arch, (1, 28, 28), 10, width_multiplier=0.0625)
    net.load_state_dict(torch.load(out / "best_model.pt", weights_only=True))  # strict

    assert main(["search", "--out", str(out), "--max-jobs", "6", *QUICK]) == 2
    assert "pass --resume" in capsys.readouterr().err
    assert main(["search", "--out", str(out), "--resume", "--eta", "2", "--quiet"]) == 2
    assert "other settings" in capsys.readouterr().err
    # the stored settings carry over; only the stop changes
    resume = ["search", "--out", str(out), "--resume", "--max-jobs", "8", "--time-budget", "700"]
    assert main([*resume, "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "8 jobs (8 complete)" in printed
    assert "time budget spent before" in printed and "counts from the first start" in printed
    journal = JobJournal.open(out / "study.db")
    kept = journal.metadata()["cli"]
    journal.close()
    assert kept["time_budget"] == 700 and kept["width"] == 0.0625  # given, and carried over
    assert list(pd.read_csv(out / "report" / "jobs.csv")["budget"]) == [3, 3, 1, 1, 1, 3, 3, 3]


def test_bonas_search_refuses_what_it_cannot_train(tmp_path: Path, capsys) -> None:
    assert main(["search", "--out", str(tmp_path / "a"), "--space", "nbgraph", "--quiet"]) == 2
    assert "not 'nbgraph'" in capsys.readouterr().err
    args = ["--dataset", "cifar10", "--data-dir", str(tmp_path / "none"), "--quiet"]
    assert main(["search", "--out", str(tmp_path / "b"), *args]) == 2
    assert "cifar10" in capsys.readouterr().err
    assert main(["search", "--out", str(tmp_path / "c"), "--resume", "--quiet"]) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_the_command_prints_no_third_party_deprecation_warnings(tmp_path: Path) -> None:
    import subprocess
    import sys

    quick = [arg if arg != "rs" else "bonas" for arg in QUICK]  # the GP imports gpytorch
    done = subprocess.run(
        [sys.executable, "-m", "bonas", "search", "--out", str(tmp_path / "s"), "--max-jobs",
         "1", *quick],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "1 jobs (1 complete)" in done.stdout
    assert "Warning" not in done.stderr, done.stderr


def test_the_command_hides_the_warnings_about_what_the_search_handles() -> None:
    import warnings

    from bonas import NonPSDWarning
    from bonas.cli import _quiet_internal_warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _quiet_internal_warnings()
        warnings.warn("negative eigenvalues were clipped to zero", NonPSDWarning, stacklevel=1)
        warnings.warn(
            "Negative variance values detected. Rounding up to 1e-10.", RuntimeWarning, stacklevel=1
        )
        warnings.warn("`torch.jit.script` is deprecated.", FutureWarning, stacklevel=1)
        warnings.warn("a problem worth reading", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["a problem worth reading"]


def test_a_resume_says_what_its_time_budget_has_left() -> None:
    from bonas.cli import _resume_message

    left = _resume_message(120.4, 480)
    assert "120 s of the 480 s time budget spent before; 360 s left" in left
    spent = _resume_message(500.0, 480)
    assert "none left" in spent and "give more than 500" in spent
    assert "counts from the first start" in left and "counts from the first start" in spent


def test_the_training_objective_continues_from_its_checkpoint(tmp_path: Path) -> None:
    objective = TrainingObjective(
        checkpoint_dir=str(tmp_path),
        trainer={"max_epochs": 2, "network": {"width_multiplier": 0.0625}},
        data_fraction=0.05,
    )
    arch = blocked_cnn(1, 1)
    low = objective(arch, 1, None)
    assert Path(low["checkpoint"]) == checkpoint_path(tmp_path, arch, 1)
    high = objective(arch, 2, 1.0)
    straight = TrainingObjective(
        checkpoint_dir=str(tmp_path / "straight"),
        trainer={"max_epochs": 2, "network": {"width_multiplier": 0.0625}},
        data_fraction=0.05,
    )(arch, 2, None)
    assert high["resumed_from"] == 1 and straight["resumed_from"] is None
    assert high["value"] == straight["value"]  # continuing equals training straight through
    # the 2-epoch run passed budget 1 with the 1-epoch run's value: its curve says so
    from bonas.schedulers import Job, curve_at_budgets

    passed = curve_at_budgets(straight["val_curve"], Job(0, arch, 2.0, None, 0, 0), (1.0, 2.0))
    assert passed == {1.0: low["value"]}
    missing = objective(blocked_cnn(1, 2), 2, 1.0)  # no checkpoint at 1: from scratch
    assert missing["resumed_from"] is None
    assert json.dumps({k: v for k, v in high.items()})  # JSON-compatible for the journal


@pytest.mark.slow
def test_bonas_sweep_trains_each_grid_point(tmp_path: Path, capsys) -> None:
    out = tmp_path / "sweep"
    args = ["sweep", "--train", "--max-jobs", "4", "--min-budgets", "1", "--max-budgets", "3"]
    args += ["--seeds", "2", "--data-fraction", "0.1", "--width", "0.0625", "--quiet"]
    assert main([*args, "--out", str(out)]) == 0
    assert "final validation error" in capsys.readouterr().out
    import pandas as pd

    frame = pd.read_csv(out / "sweep.csv")
    assert list(frame["seed"]) == [0, 1]
    # the least aggressive bracket first: two networks at 3 epochs, then two at 1
    assert list(frame["total_budget"]) == [8.0, 8.0]
    assert frame["error"].between(0, 1).all() and list(frame["best_budget"]) == [3.0, 3.0]
    assert (out / "regret_vs_budget.png").stat().st_size > 0
    assert len(pd.read_csv(out / "records.csv")) == 8
    assert main(["sweep", "--train", "--quiet"]) == 2
    assert "give each run a stop" in capsys.readouterr().err
    assert main(["sweep", "--space", "cnn", "--max-jobs", "3", "--quiet"]) == 2
    assert "go with --train" in capsys.readouterr().err

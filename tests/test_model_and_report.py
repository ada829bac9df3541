"""A search's results for its user: ``bonas.load_model``, ``bonas export``,
``bonas.load_study`` and ``bonas report`` / ``bonas show``, end to end on a tiny real
search (three CNNs trained on 5% of MNIST-5k for 1-2 epochs) and on cheap single- and
multi-fidelity studies."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

import bonas
from bonas import Architecture, LegacyModelError, ModelFileError
from bonas._mfsearch import JobJournal
from bonas.cli import main
from bonas.evaluation import build_network, load_dataset
from bonas.spaces import NB201Space
from bonas.study import StudyError, StudyLock

README = Path(__file__).resolve().parents[1] / "README.md"
TINY = [
    "--min-budget", "1", "--max-budget", "2", "--eta", "2", "--max-jobs", "3",
    "--data-fraction", "0.05", "--width", "0.0625", "--executor", "in-process",
    "--searcher", "rs", "--time-budget", "600", "--quiet",
]  # fmt: skip
_NB201 = NB201Space()
_WEIGHTS = {"none": 0.0, "skip_connect": 0.3, "avg_pool_3x3": 0.1, "nor_conv_1x1": 0.6}


def _score(arch: Architecture) -> float:
    """A deterministic NB201 value: bigger convolutions score higher."""
    return sum(_WEIGHTS.get(op, 1.0) for op in _NB201.to_ops(arch))


def _at_budget(arch: Architecture, budget: float, resume_from: float | None) -> dict:
    return {"value": _score(arch) * budget / (budget + 3), "params": 7}


@pytest.fixture(scope="module")
def search_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``bonas search`` output folder: three jobs, two at 2 epochs (the least aggressive
    bracket runs first) and one at 1."""
    out = tmp_path_factory.mktemp("search") / "bonas-search"
    assert main(["search", "--out", str(out), *TINY]) == 0
    return out


@pytest.fixture
def mf_study(tmp_path: Path) -> Path:
    """A multi-fidelity study of four jobs: three at budget 1, the best continued to 3
    (the most aggressive bracket first)."""
    from bonas.schedulers import BOHB
    from bonas.searchers import RandomSearch

    path = tmp_path / "mf.db"
    scheduler = BOHB(RandomSearch(_NB201), min_budget=1, max_budget=3, eta=3, brackets=(1, 0))
    result = bonas.search_multifidelity(
        _at_budget, _NB201, scheduler=scheduler, max_jobs=4, storage=path, progress=False
    )
    assert list(result.jobs["budget"]) == [1.0, 1.0, 1.0, 3.0]
    return path


def _files(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()}


def _digits(count: int = 8) -> torch.Tensor:
    return load_dataset("mnist5k").val_x[:count]


# -- load_model -------------------------------------------------------------------------


def test_load_model_rebuilds_the_best_network_with_its_weights(search_dir: Path) -> None:
    model = bonas.load_model(search_dir)
    info = model.bonas_info
    assert not model.training
    assert {p.device.type for p in model.parameters()} == {"cpu"}
    assert info.input_shape == (1, 28, 28) and info.num_outputs == 10
    assert info.build_options == {"width_multiplier": 0.0625}
    best = _best_at_the_top(search_dir)
    assert (info.job, info.budget, info.epochs) == (best, 2.0, 2)  # the best at the top budget
    assert info.search["space"] == "cnn" and info.bonas_version == bonas.__version__
    assert info.architecture == Architecture.from_json(
        (search_dir / "best_architecture.json").read_text()
    )  # the old file is still written, as it was
    x = _digits()
    with torch.no_grad():
        logits = model(x)
    assert logits.shape == (8, 10)

    # the same network by hand, from the record: strict load, same outputs
    record = json.loads((search_dir / "best_model.json").read_text())
    net = build_network(info.architecture, record["input_shape"], record["num_outputs"],
                        **record["build_options"])  # fmt: skip
    net.load_state_dict(torch.load(search_dir / "best_model.pt", weights_only=True))
    with torch.no_grad():
        assert torch.equal(net.eval()(x), logits)
        for other in (
            bonas.load_model(search_dir / "best_model.pt", map_location="cpu"),
            bonas.load_model(str(search_dir / "best_model.json"), device="cpu"),
            bonas.load_model(_checkpoint_of(search_dir, best)),  # a training checkpoint
        ):
            assert torch.equal(other(x), logits)


def _best_at_the_top(search_dir: Path) -> int:
    """The number of the best job at 2 epochs (of two)."""
    trials = bonas.load_study(search_dir)
    top = trials[trials["budget"] == 2.0]
    assert len(top) == 2
    return int(top.loc[top["value"].idxmax(), "number"])


def _checkpoint_of(search_dir: Path, job: int) -> str:
    return bonas.load_study(search_dir).set_index("number").loc[job, "checkpoint"]


def test_an_old_export_says_what_is_missing_and_bonas_export_rewrites_it(
    search_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "old-search"
    shutil.copytree(search_dir, old)
    # as an older bonas left it: a bare state_dict, checkpoints without the build record
    (old / "best_model.json").unlink()
    for checkpoint in (old / "checkpoints").glob("*.pt"):
        state = torch.load(checkpoint, weights_only=True)
        del state["network"]
        torch.save(state, checkpoint)
    for given in (old, old / "best_model.pt"):
        with pytest.raises(LegacyModelError) as caught:
            bonas.load_model(given)
        message = str(caught.value)
        assert str(old / "best_model.pt") in message and "\n" not in message
        assert "input shape, number of classes and width multiplier" in message
        assert f"bonas export {old}" in message

    assert main(["export", str(old), "--out", str(tmp_path / "m.pt2")]) == 0
    printed = capsys.readouterr()
    assert "writing the export again from the study" in printed.err
    assert "rewrote" in printed.out and (tmp_path / "m.pt2").is_file()
    model = bonas.load_model(old)  # the record is back, and the weights are the same
    with torch.no_grad():
        assert torch.equal(model(_digits(2)), bonas.load_model(search_dir)(_digits(2)))


def test_bonas_export_writes_a_program_that_plain_torch_runs(
    search_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model.pt2"
    assert main(["export", str(search_dir), "--out", str(out)]) == 0
    assert f"torch.export.load({str(out)!r}).module()" in capsys.readouterr().out
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    torch.save(x, tmp_path / "x.pt")
    plain = (  # bonas cannot be imported here: the program stands on its own
        "import sys, torch; sys.modules['bonas'] = None\n"
        f"program = torch.export.load({str(out)!r}).module()\n"
        f"x = torch.load({str(tmp_path / 'x.pt')!r})\n"
        f"torch.save(program(x), {str(tmp_path / 'y.pt')!r})\n"
    )
    run = subprocess.run([sys.executable, "-c", plain], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    with torch.no_grad():
        expected = bonas.load_model(search_dir)(x)
    torch.testing.assert_close(torch.load(tmp_path / "y.pt"), expected)
    with pytest.raises(ModelFileError, match=r"torch\.export\.load"):
        bonas.load_model(out)  # a program is not a state_dict: say how to load it


def test_bad_model_paths_are_bonas_errors_that_name_the_path(
    search_dir: Path, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    listing = tmp_path / "list.pt"
    torch.save([1, 2, 3], listing)
    (tmp_path / "empty").mkdir()
    record = tmp_path / "record.json"
    record.write_text("[1, 2]")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    cases = [tmp_path / "missing", tmp_path / "empty", junk, listing, record, broken]
    for path in cases:
        with pytest.raises(ModelFileError) as caught:
            bonas.load_model(path)
        assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(ModelFileError, match=r"str or os\.PathLike"):
        bonas.load_model(42)  # type: ignore[arg-type]

    # a record that does not fit its weights, or weights that are not the ones recorded
    copy = tmp_path / "copy"
    shutil.copytree(search_dir, copy, ignore=shutil.ignore_patterns("checkpoints", "report"))
    data = json.loads((copy / "best_model.json").read_text())
    (copy / "best_model.json").write_text(json.dumps({**data, "build_options": {}}))
    with pytest.raises(ModelFileError, match="do not fit the network"):
        bonas.load_model(copy)
    (copy / "best_model.json").write_text(json.dumps({**data, "weights_sha256": "0" * 64}))
    with pytest.raises(ModelFileError, match="checksum differs"):
        bonas.load_model(copy)
    (copy / "best_model.json").write_text(json.dumps({**data, "input_shape": "x"}))
    with pytest.raises(ModelFileError, match="malformed model record"):
        bonas.load_model(copy)


# -- load_study ---------------------------------------------------------------------------


def test_load_study_reads_a_multi_fidelity_study_without_changing_it(mf_study: Path) -> None:
    before = _files(mf_study.parent)
    trials = bonas.load_study(mf_study)
    assert _files(mf_study.parent) == before  # same bytes, same times, no new files
    assert list(trials["number"]) == [0, 1, 2, 3]
    assert list(trials["budget"]) == [1.0, 1.0, 1.0, 3.0]
    assert set(trials["state"]) == {"complete"} and trials["failure"].isna().all()
    assert list(trials.columns[:10]) == [
        "number", "state", "value", "budget", "arch", "started", "finished", "duration_s",
        "failure", "worker",
    ]  # fmt: skip
    for column in ("started", "finished", "created"):
        assert pd.api.types.is_datetime64_any_dtype(trials[column])
    assert (trials["finished"] >= trials["started"]).all()
    assert trials["arch"].str.startswith("10 layers: ").all()
    assert _NB201.contains(Architecture.from_json(trials.loc[3, "architecture"]))
    assert trials.loc[3, "resume_from"] == 1 and (trials["params"] == 7).all()
    assert trials.attrs["kind"] == "multi-fidelity" and trials.attrs["running"] is False
    assert trials.attrs["title"] == (
        "nb201 space: value (maximize), bohb with the rs searcher, budgets 1-3"
    )


def test_load_study_works_while_a_search_holds_the_study(mf_study: Path) -> None:
    journal = JobJournal.open(mf_study)  # as a running search: the lock and a writer
    try:
        with pytest.raises(StudyError, match="in use"):
            StudyLock.acquire(mf_study)  # the lock is really held
        trials = bonas.load_study(mf_study)
        assert len(trials) == 4 and trials.attrs["running"] is True
        journal.set_metadata({"note": "written after the read"})  # the writer goes on
    finally:
        journal.close()
    journal = JobJournal.open(mf_study)  # nothing of the reader's was left holding it
    assert journal.metadata() == {"note": "written after the read"}
    journal.close()
    assert bonas.load_study(mf_study).attrs["running"] is False


def test_jobs_a_finished_search_left_running_show_as_interrupted(
    mf_study: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with sqlite3.connect(mf_study) as db:  # a search stopped by its time budget mid-job
        db.execute("UPDATE trials SET state = 'running', value = NULL, finished_at = NULL "
                   "WHERE number = 3")  # fmt: skip
    assert bonas.load_study(mf_study).loc[3, "state"] == "interrupted"
    assert main(["report", str(mf_study)]) == 0
    printed = capsys.readouterr().out
    assert "4 jobs: 3 complete, 1 interrupted" in printed and "running" not in printed
    report = mf_study.parent / "report"
    assert "running" not in (report / "jobs.csv").read_text()
    assert "running" not in (report / "top_k.md").read_text()

    journal = JobJournal.open(mf_study)  # while a search holds it, it is running
    try:
        assert bonas.load_study(mf_study).loc[3, "state"] == "running"
        assert main(["show", str(mf_study)]) == 0
        assert "1 running; a search is running it now" in capsys.readouterr().out
    finally:
        journal.close()


def test_load_study_and_bonas_report_read_a_single_fidelity_study(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "sf.db"
    bonas.search(_score, _NB201, n_trials=4, n_initial=4, seed=0, storage=path, progress=False)
    trials = bonas.load_study(path)
    assert list(trials["number"]) == [0, 1, 2, 3] and trials["budget"].isna().all()
    assert "resume_from" not in trials.columns and trials.attrs["kind"] == "single-fidelity"
    assert trials["value"].tolist() == [
        _score(Architecture.from_json(a)) for a in trials["architecture"]
    ]
    assert main(["report", str(path), "--top", "3", "--out", str(tmp_path / "rep")]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("nb201 space: value (maximize), the bonas searcher\n")
    assert "4 jobs: 4 complete" in printed
    assert re.search(
        r"best at the highest budget reached: job \d, value [\d.]+ at full fidelity", printed
    )
    assert len(pd.read_csv(tmp_path / "rep" / "top_k.csv")) == 3
    assert (tmp_path / "rep" / "incumbent.png").stat().st_size > 0


def test_bad_study_paths_are_study_errors_that_name_the_path(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite at all, not even close" * 10)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE meta (key TEXT, value TEXT)")
        db.execute("INSERT INTO meta VALUES ('format', 'optuna')")
    for path in (tmp_path / "missing.db", tmp_path, junk, other):
        with pytest.raises(StudyError) as caught:
            bonas.load_study(path)
        assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(StudyError, match=r"str or os\.PathLike"):
        bonas.load_study(None)  # type: ignore[arg-type]


# -- bonas report / show --------------------------------------------------------------------


def test_bonas_report_prints_the_best_over_all_budgets_and_rewrites_the_report(
    search_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = search_dir / "report"
    shutil.rmtree(report)
    assert main(["show", str(search_dir)]) == 0
    shown = capsys.readouterr().out
    assert not report.exists()  # show writes nothing
    assert main(["report", str(search_dir / "study.db"), "--top", "2"]) == 0
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    assert lines[0] == (
        "cnn space on mnist5k: validation accuracy (maximize), bohb with the rs searcher, "
        "budgets 1-2 epochs"
    )
    assert "3 jobs: 3 complete" in lines[1] and "the 2 best over all budgets:" in printed
    assert shown.splitlines()[:2] == lines[:2] and "the 3 best over all budgets:" in shown
    header = next(line for line in lines if line.lstrip().startswith("rank"))
    assert header.split()[:4] == ["rank", "job", "budget", "value"]
    assert f"best at the highest budget reached: job {_best_at_the_top(search_dir)}" in printed
    assert f"the exported model: bonas.load_model({str(search_dir)!r})" in printed
    for name in ("jobs.csv", "incumbent.png", "top_k.csv", "top_k.md", "best_architecture.png"):
        assert (report / name).stat().st_size > 0, name
    top = pd.read_csv(report / "top_k.csv")
    jobs = pd.read_csv(report / "jobs.csv")
    assert set(top["budget"]) == {1.0, 2.0}  # over all budgets, each row naming its own
    assert len(top) == 2  # --top sets the rows printed and those of top_k.csv
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
    assert jobs["finished_at"].str.fullmatch(stamp).all()
    assert top["finished"].str.fullmatch(stamp).all()
    assert (report / "top_k.md").read_text().startswith("# cnn space on mnist5k")


@pytest.mark.parametrize(
    "argv",
    [
        ["report", "{tmp}/missing"],
        ["show", "{tmp}"],
        ["report", "{tmp}/junk.db"],
        ["export", "{tmp}/missing"],
        ["export", "{tmp}"],
        ["export", "{tmp}/junk.db"],
        ["export", "{tmp}", "--out", "{tmp}/model.pt"],
    ],
    ids=[
        "report-missing",
        "show-no-study",
        "report-junk",
        "export-missing",
        "export-empty",
        "export-junk",
        "export-not-pt2",
    ],
)
def test_bad_cli_input_exits_2_with_one_line(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "junk.db").write_bytes(b"\x00junk" * 40)
    args = [a.format(tmp=tmp_path) for a in argv]
    assert main(args) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bonas: error: "), captured.err
    assert str(tmp_path) in err[0] and "Traceback" not in captured.err


def test_the_new_names_are_exported() -> None:
    assert {"load_model", "load_study", "ModelFileError", "LegacyModelError"} <= set(bonas.__all__)
    assert bonas.load_model.__module__ == "bonas.best_model"
    assert bonas.load_study.__module__ == "bonas.study_reader"
    assert issubclass(LegacyModelError, ModelFileError) and issubclass(
        ModelFileError, bonas.BonasError
    )


@pytest.mark.slow
def test_the_readme_section_runs_on_a_search_folder(
    search_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = README.read_text()
    section = text.split("## Using the best model and looking at a study", 1)[1]
    section = section.split("\n## ", 1)[0]
    (python,) = re.findall(r"```py\n(.*?)```", section, flags=re.S)
    (shell,) = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    monkeypatch.chdir(tmp_path)
    shutil.copytree(search_dir, tmp_path / "bonas-search")
    exec(compile(python, str(README), "exec"), {"__name__": "readme"})
    for line in shell.strip().splitlines():
        words = shlex.split(line, comments=True)
        if words[0].endswith("/bonas"):
            assert main(words[1:]) == 0, line
        else:
            assert words[0].endswith("/python"), line
            run = subprocess.run([sys.executable, *words[1:]], capture_output=True, text=True)
            assert run.returncode == 0, run.stderr
            assert "tensor(" in run.stdout

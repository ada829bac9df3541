"""Installation layout, drawing and the ``bonas demo`` command, end to end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import numpy as np
import pytest

import bonas
from bonas import BonasError, draw
from bonas.cli import main
from bonas.spaces import CNNSpace, NB201Space, multidepth_cnn

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_subpackages_are_mapped_into_bonas() -> None:
    import bonas.acquisition
    import bonas.benchmarks
    import bonas.kernels

    assert bonas.kernels.__name__ == "bonas.kernels"
    assert Path(bonas.kernels.__file__).parent.name == "kernels"
    assert Path(bonas.acquisition.__file__).parent.name == "acquisition"
    assert Path(bonas.benchmarks.__file__).parent.name == "benchmarks"


def test_the_checkouts_bonas_folder_finds_the_mapped_subpackages() -> None:
    """Without an install's mapping (a plain ``pip install .`` and a script run in the
    checkout), the path finder alone resolves them beside the bonas folder."""
    import importlib.machinery

    if Path(bonas.__file__).resolve().parent != ROOT / "bonas":
        pytest.skip("bonas is imported from an install here, not from the checkout")
    for name in ("kernels", "acquisition", "benchmarks"):
        spec = importlib.machinery.PathFinder.find_spec(f"bonas.{name}", bonas.__path__)
        assert spec is not None and Path(spec.origin) == ROOT / name / "__init__.py"


def test_no_generic_top_level_names_are_installed() -> None:
    code = "import importlib.util as u; print(u.find_spec('kernels'), u.find_spec('benchmarks'))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd="/", capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["None", "None"]


@pytest.mark.slow
@pytest.mark.parametrize("editable", [False, True], ids=["pip-install", "pip-install-e"])
def test_fresh_install_imports_from_any_directory(tmp_path: Path, editable: bool) -> None:
    """``pip install .`` and ``pip install -e .`` both expose bonas.kernels everywhere."""
    source = tmp_path / "src"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "*.egg-info", "build", "__pycache__", ".pytest_cache", ".ruff_cache"
        ),
    )
    env_dir = tmp_path / "venv"
    outer_site = Path(sysconfig.get_paths()["purelib"])
    if editable and (outer_site / "bonas").is_dir():
        pytest.skip("bonas is installed non-editable here; it would shadow the editable finder")
    venv.EnvBuilder(with_pip=False).create(env_dir)
    # the running environment lends pip, the build backend and the dependencies, so the
    # install needs no download; its .pth files (an editable bonas) are not processed.
    inner_site = next(env_dir.glob("lib/python*/site-packages"))
    (inner_site / "outer.pth").write_text(f"{outer_site}\n")
    python = env_dir / "bin" / "python"
    args = [
        str(python),
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
    ]
    args += ["-e", str(source)] if editable else [str(source)]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    installed = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = (
        "import bonas, bonas.kernels, bonas.acquisition, bonas.benchmarks; "
        "print(bonas.kernels.__file__)"
    )
    out = subprocess.run(
        [str(python), "-c", code],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    location = Path(out.stdout.strip()).resolve()
    if editable:
        assert location == (source / "kernels" / "__init__.py").resolve()
    else:
        assert env_dir.resolve() in location.parents
        assert location.parent.name == "kernels" and location.parent.parent.name == "bonas"
    # a script run in the checkout (as the README's examples are) imports the checkout's
    # bonas folder, installed or not, and finds the mapped subpackages beside it
    inside = subprocess.run(
        [str(python), "-c", code], cwd=source, capture_output=True, text=True, env=env
    )
    assert inside.returncode == 0, inside.stderr[-3000:]
    assert Path(inside.stdout.strip()).resolve() == (source / "kernels" / "__init__.py").resolve()


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_draw_writes_the_file(tmp_path: Path, suffix: str) -> None:
    path = draw(multidepth_cnn(), tmp_path / f"net{suffix}")
    data = path.read_bytes()
    if suffix == ".png":
        assert data.startswith(PNG_MAGIC) and len(data) > 5_000
    else:
        text = data.decode()
        assert text.lstrip().startswith("<?xml") and "<svg" in text
        # labels and units are drawn as text (matplotlib writes glyphs as paths)
        assert text.count("<path") > 20


def test_draw_rejects_unknown_formats(tmp_path: Path) -> None:
    with pytest.raises(BonasError, match="suffix"):
        draw(multidepth_cnn(), tmp_path / "net.gif")


def test_draw_handles_cells(tmp_path: Path) -> None:
    space = NB201Space()
    cell = space.sample(np.random.default_rng(0))
    assert draw(space.layer_graph(cell), tmp_path / "cell.png").stat().st_size > 1_000


def test_demo_command_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--count", "2", "--seed", "3"]) == 0
    records = json.loads((out / "architectures.json").read_text())
    assert [r["role"] for r in records] == ["sample", "mutant", "sample", "mutant"]
    space = CNNSpace()
    for record in records:
        arch = bonas.Architecture.from_dict(record["architecture"])
        assert space.contains(arch)
        assert (out / record["png"]).read_bytes().startswith(PNG_MAGIC)
    assert "wrote 4 drawings" in capsys.readouterr().out


def test_demo_is_reproducible(tmp_path: Path) -> None:
    for run in ("a", "b"):
        main(["demo", "--out", str(tmp_path / run), "--count", "1", "--space", "nb201"])
    first = json.loads((tmp_path / "a" / "architectures.json").read_text())
    second = json.loads((tmp_path / "b" / "architectures.json").read_text())
    assert first == second


def test_console_script_runs_the_demo(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "bonas"
    if not exe.exists():
        pytest.skip("the bonas console script is not installed in this environment")
    ok = subprocess.run(
        [str(exe), "demo", "--count", "1", "--out", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "wrote 2 drawings" in ok.stdout
    assert (tmp_path / "d" / "cnn-00-sample.png").read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["search", "--time-budget", "-5"], "argument --time-budget: must be a positive number"),
        (["search", "--max-jobs", "0"], "argument --max-jobs: must be at least 1, got 0"),
        (["search", "--eta", "abc"], "argument --eta: 'abc' is not a number"),
        (["replay", "--queries", "0"], "argument --queries: must be at least 1, got 0"),
        (["sweep", "--workers", "-1"], "argument --workers: must be at least 1, got -1"),
    ],
)
def test_bad_numbers_are_one_line_errors_with_exit_2(argv, message, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("command", "hint"),
    [
        (["search", "--out", "runs"], "`bonas search --out runs --resume` goes on"),
        (["replay"], "The same command again goes on"),
        (["demo"], "Nothing was kept to resume from."),
    ],
)
def test_ctrl_c_says_how_to_resume_instead_of_a_traceback(command, hint, monkeypatch, capsys):
    import bonas.cli as cli

    def interrupted(args):
        raise KeyboardInterrupt

    for handler in ("_search", "_replay", "_demo"):
        monkeypatch.setattr(cli, handler, interrupted)
    assert main(command) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err and hint in err and "interrupted" in err


def test_a_search_with_a_bad_time_budget_from_python_is_a_bonas_error() -> None:
    with pytest.raises(BonasError, match="time_budget must be a positive number of seconds"):
        bonas.search_multifidelity(lambda a, b, r: 1.0, NB201Space(), time_budget=-5)
    with pytest.raises(BonasError, match="max_jobs must be at least 1, got 0"):
        bonas.search_multifidelity(lambda a, b, r: 1.0, NB201Space(), max_jobs=0)


def test_version_flag_prints_the_version(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"bonas {bonas.__version__}"


def test_gpus_without_cuda_are_refused_by_name(capsys, tmp_path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["search", "--gpus", "0", "--out", str(tmp_path / "run")]) == 2
    assert "--gpus needs CUDA" in capsys.readouterr().err
    assert main(["search", "--device", "cuda", "--out", str(tmp_path / "run")]) == 2
    assert "--device cuda needs CUDA" in capsys.readouterr().err

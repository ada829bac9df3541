"""The README's Python example runs as written."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import pytest

from bonas import NonPSDWarning

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_readme_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README.md has no python example"
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "readme"}  # later examples build on earlier ones
    with warnings.catch_warnings():
        # the kernel example may legitimately project a Gram matrix (and says so)
        warnings.simplefilter("ignore", NonPSDWarning)
        for block in blocks:
            exec(compile(block, str(README), "exec"), namespace)
    assert os.path.getsize(tmp_path / "child.png") > 1_000


def test_readme_gives_the_two_fresh_machine_commands() -> None:
    text = README.read_text()
    assert ".venv/bin/pip install . && .venv/bin/bonas search" in text
    test_command = '.venv/bin/pip install -e ".[test]" && .venv/bin/python -m pytest'
    assert test_command in text
    assert test_command in (README.parent / ".ci" / "run").read_text()

"""The one-way arrows of the layout: the engine never imports the benchmarks, and the
model-free searchers and the schedulers run without torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bonas", "kernels", "acquisition", "benchmarks")


def _sources(*packages: str) -> list[Path]:
    return [path for package in packages for path in sorted((ROOT / package).rglob("*.py"))]


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_engine_never_imports_the_benchmarks() -> None:
    """Only the top of the stack reaches the benchmarks: the CLI (for replay and sweep)
    and the conformance suites (for tables)."""
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name for name in _imported_modules(path) if name.startswith("bonas.benchmarks")
        )
        for path in _sources("bonas", "kernels", "acquisition")
        if path.name != "cli.py" and path.parent.name != "testing"
    }  # fmt: skip
    assert {path: names for path, names in offenders.items() if names} == {}


def test_model_free_searchers_and_schedulers_do_not_load_torch() -> None:
    code = (
        "import sys\n"
        "from bonas.schedulers import BOHB\n"
        "from bonas.searchers import RegularizedEvolution, make_searcher\n"
        "from bonas.spaces import NB201Space\n"
        "space = NB201Space()\n"
        "scheduler = BOHB(RegularizedEvolution(space, seed=0), min_budget=1, max_budget=9)\n"
        "for _ in range(5):\n"
        "    scheduler.report(scheduler.next_job(), 0.5)\n"
        "make_searcher('ls', space, seed=0).ask(2)\n"
        "print(sorted(m for m in ('torch', 'gpytorch', 'botorch') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


def test_no_module_imports_another_modules_private_names() -> None:
    """``from bonas.x import _name`` couples to what x may change at will; private
    modules (``bonas._search``) are shared on purpose and may be imported."""
    offenders = []
    for path in _sources(*PACKAGES):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bonas"):
                private = [
                    a.name
                    for a in node.names
                    if a.name.startswith("_") and not a.name.endswith("__")  # not __version__
                ]
                if private:
                    offenders.append(f"{path.relative_to(ROOT)}: {node.module} {private}")
    assert offenders == []

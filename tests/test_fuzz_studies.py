"""Tampered study files: whatever a row or setting holds, loading or resuming a study
raises a bonas error (a StudyError naming the file), never a raw KeyError or
TypeError."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bonas
from bonas import BonasError, Study
from bonas.spaces import NB201Space

from .mf_objectives import nb201_at_budget

VALUES = st.one_of(
    st.none(),
    st.integers(-(10**18), 10**18),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.binary(max_size=8),
    st.sampled_from(["{}", "[]", "null", '{"rng": 1}', '"complete"', "running", '{"a": [1]}']),
)
COLUMNS = {
    "trials": ["architecture", "budget", "state", "value", "failure", "user_attrs"],
    "optimizer_state": ["state"],
    "meta": ["format", "version", "config", "kind", "metadata"],
}
FUZZ = settings(
    max_examples=120, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
pytestmark = pytest.mark.usefixtures("long_int_reprs")


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("originals")
    single, multi = folder / "single.db", folder / "multi.db"
    bonas.search(lambda arch: 1.0, NB201Space(), n_trials=3, n_initial=3, storage=single,
                 progress=False)  # fmt: skip
    bonas.search_multifidelity(nb201_at_budget, NB201Space(), searcher="rs", max_jobs=4,
                               storage=multi, progress=False)  # fmt: skip
    return {"single": single, "multi": multi}


def tampered(original: Path, folder: Path, table: str, column: str, value: object) -> Path | None:
    """A copy of ``original`` with one column (or ``meta`` key) set to ``value``."""
    path = folder / f"tampered-{original.name}"
    for suffix in ("", "-wal", "-shm"):
        source = original.with_name(original.name + suffix)
        if source.exists():
            shutil.copy(source, path.with_name(path.name + suffix))
    db = sqlite3.connect(path)
    try:
        if table == "meta":
            db.execute("UPDATE meta SET value = ? WHERE key = ?", (value, column))
        else:
            db.execute(f"UPDATE {table} SET {column} = ?", (value,))
        db.commit()
    except sqlite3.IntegrityError:  # a NOT NULL column: nothing to tamper with
        return None
    finally:
        db.close()
    return path


def _load(path: Path) -> None:
    Study.load(path).close()


def _resume(path: Path) -> None:
    bonas.search_multifidelity(nb201_at_budget, NB201Space(), searcher="rs", max_jobs=5,
                               storage=path, progress=False)  # fmt: skip


@pytest.mark.parametrize(("kind", "open_it"), [("single", _load), ("multi", _resume)])
@FUZZ
@given(table=st.sampled_from(sorted(COLUMNS)), data=st.data(), value=VALUES)
def test_a_tampered_study_opens_or_raises_a_bonas_error(
    originals, tmp_path_factory, kind, open_it, table, data, value
) -> None:
    """A study loads (``Study.load``) and a journal resumes (``search_multifidelity``), or
    a bonas error says why not."""
    column = data.draw(st.sampled_from(COLUMNS[table]))
    path = tampered(originals[kind], tmp_path_factory.mktemp(kind), table, column, value)
    if path is not None:
        with contextlib.suppress(BonasError):
            open_it(path)

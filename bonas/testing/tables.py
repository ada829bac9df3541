"""The conformance suite every benchmark table passes: what the replay harness and the
multi-fidelity simulator rely on when they look architectures up.

A table of your own (a :class:`~bonas.benchmarks.tables.base.Table` subclass, or a
:class:`~bonas.benchmarks.tables.UserTable` read from your file) joins in a pytest
module::

    from bonas.testing.tables import TableConformance

    class TestMyTable(TableConformance):
        def make_table(self):
            return MyTable("path/to/table.csv")

The checks: a name and a direction; ascending, finite, positive fidelities; a space
whose members the table answers and whose enumeration agrees with
:meth:`~bonas.benchmarks.tables.base.Table.architectures`; finite values and
non-negative train times at every fidelity, the same on every call; the budget answered
is the one asked for; out-of-range budgets, seeds and architectures raise
:class:`~bonas.benchmarks.tables.base.TableError`; no sampled architecture beats the
table's optimum, and on tables of up to :attr:`TableConformance.max_exhaustive`
architectures the optimum is attained.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bonas.architecture import Architecture
from bonas.benchmarks.tables.base import Table, TableError, TableResult
from bonas.exceptions import BonasError

__all__ = ["TableConformance"]


class TableConformance:
    """Base class of a table's conformance tests; see the module docstring."""

    #: Architectures drawn from the table's space for the checks.
    num_draws = 8
    #: Largest table whose optimum is checked against every architecture.
    max_exhaustive = 20_000
    #: Tolerance of the optimum check (tables store rounded values).
    optimum_tolerance = 1e-6

    def make_table(self) -> Table:
        """The table under test (called once per test class)."""
        raise NotImplementedError

    def foreign_architecture(self) -> Architecture | None:
        """An architecture the table must refuse (one of another space), or ``None`` to
        skip that check."""
        return None

    @pytest.fixture(scope="class")
    @classmethod
    def table(cls) -> Table:
        return cls().make_table()

    @pytest.fixture(scope="class")
    @classmethod
    def draws(cls, table: Table) -> list[Architecture]:
        rng = np.random.default_rng(4321)
        return [table.space.sample(rng) for _ in range(cls.num_draws)]

    def test_names_its_direction_and_fidelities(self, table: Table) -> None:
        assert isinstance(table.name, str) and table.name
        assert table.direction in ("maximize", "minimize"), table.direction
        fidelities = tuple(table.fidelities)
        assert fidelities, "a table needs at least one fidelity"
        assert all(math.isfinite(b) and b > 0 for b in fidelities), fidelities
        assert list(fidelities) == sorted(set(fidelities)), f"not ascending: {fidelities}"
        assert isinstance(table.seeds, int) and table.seeds >= 1, table.seeds
        assert math.isfinite(table.optimum), table.optimum
        assert table.test_optimum is None or math.isfinite(table.test_optimum)

    def test_answers_its_members_at_every_fidelity(
        self, table: Table, draws: list[Architecture]
    ) -> None:
        for arch in draws:
            for budget in table.fidelities:
                result = table.query(arch, budget=budget)
                self._check_result(result, budget)
            top = table.query(arch)
            assert top.budget == table.fidelities[-1], "budget=None is the highest fidelity"

    def test_answers_the_same_every_time(self, table: Table, draws: list[Architecture]) -> None:
        for arch in draws[:3]:
            assert table.query(arch) == table.query(arch)
            # an equal architecture built anew gets the same answer
            assert table.query(Architecture.from_json(arch.to_json())) == table.query(arch)

    def test_answers_every_seed(self, table: Table, draws: list[Architecture]) -> None:
        for seed in range(table.seeds):
            self._check_result(table.query(draws[0], seed=seed), table.fidelities[-1])

    def test_refuses_what_it_does_not_hold(self, table: Table, draws: list[Architecture]) -> None:
        arch = draws[0]
        outside = table.fidelities[-1] + 1.0
        with pytest.raises(TableError, match="budget"):
            table.query(arch, budget=outside)
        with pytest.raises(TableError, match="seed"):
            table.query(arch, seed=table.seeds)
        with pytest.raises(TableError, match="seed"):
            table.query(arch, seed=-1)
        foreign = self.foreign_architecture()
        if foreign is not None:
            with pytest.raises(BonasError):
                table.query(foreign)

    def test_no_architecture_beats_the_optimum(
        self, table: Table, draws: list[Architecture]
    ) -> None:
        sign = 1.0 if table.direction == "maximize" else -1.0
        size = _size(table)
        exhaustive = size is not None and size <= self.max_exhaustive
        archs = list(table.architectures()) if exhaustive else draws
        values = np.array([table.query(arch).value for arch in archs])
        best = float((sign * values).max())
        assert best <= sign * table.optimum + self.optimum_tolerance, (best, table.optimum)
        if exhaustive:
            assert len(archs) == size, (len(archs), size)
            assert best == pytest.approx(sign * table.optimum, abs=self.optimum_tolerance)

    def test_its_architectures_are_its_space(self, table: Table) -> None:
        size = _size(table)
        if size is None or size > self.max_exhaustive:
            pytest.skip(f"{table.name} has {size} architectures; not enumerated")
        archs = list(table.architectures())
        assert len(set(archs)) == len(archs) == size
        assert all(table.space.contains(arch) for arch in archs[:: max(1, size // 200)])

    @staticmethod
    def _check_result(result: TableResult, budget: float) -> None:
        assert isinstance(result, TableResult), type(result)
        assert result.budget == budget, (result.budget, budget)
        assert math.isfinite(result.value), result.value
        assert result.test_value is None or math.isfinite(result.test_value)
        assert math.isfinite(result.train_time) and result.train_time >= 0, result.train_time
        assert result.cost is None or math.isfinite(result.cost)


def _size(table: Table) -> int | None:
    """The number of architectures of a finite table's space, ``None`` for an infinite one."""
    return table.space.size if table.space.is_finite else None

"""The interface every benchmark table answers: ``query(arch, budget, seed)``.

Call order, as the replay harness uses a table::

    table = load_table("nb201:cifar10")          # or NB201Table.from_csv(path, "cifar10")
    space = table.space                          # only architectures the table can answer
    table.fidelities                             # ascending budgets, e.g. (12.0, 200.0)
    result = table.query(arch)                   # the highest fidelity, mean over seeds
    result = table.query(arch, budget=12, seed=0)
    result.value, result.test_value, result.train_time
    table.optimum, table.test_optimum            # for regret

Values are the table's validation metric (larger is better: accuracies in percent or
in [0, 1] as the table stores them; a user's table may say ``direction="minimize"``);
``test_value`` is ``None`` where the table has no test split at that fidelity.
``train_time`` is the seconds the table records for one training run at that budget, the
simulated wall-clock of a replay.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

from bonas.architecture import Architecture
from bonas.exceptions import BonasError
from bonas.spaces.base import SearchSpace

__all__ = ["Table", "TableError", "TableResult"]


class TableError(BonasError):
    """A table file is missing, corrupt or not what was expected, or a query is out of it."""


@dataclass(frozen=True)
class TableResult:
    """One table lookup.

    Attributes:
        value: Validation value at ``budget`` (the replay objective).
        test_value: Test value at ``budget``, or ``None`` where the table has none.
        train_time: Seconds of training the table records for this budget.
        budget: The fidelity answered (epochs, in the table's unit).
        cost: Any other per-evaluation cost the table records (a user's table may name
            one), or ``None``.
    """

    value: float
    test_value: float | None
    train_time: float
    budget: float
    cost: float | None = None


class Table(abc.ABC):
    """Base class of the benchmark tables.

    Subclasses set :attr:`name`, :attr:`space`, :attr:`fidelities`, :attr:`optimum` and
    :attr:`test_optimum`, and implement :meth:`_query`. :meth:`query` checks the
    arguments and maps ``budget=None`` to the highest fidelity.

    Attributes:
        name: ``family:dataset``, e.g. ``"nb201:cifar10"``.
        space: The architectures the table answers (a finite space).
        fidelities: The budgets the table has, ascending.
        seeds: How many seeds a ``seed=`` query may name (``0 .. seeds-1``); 1 if the
            table keeps one value per architecture and budget.
        optimum: The best validation value at the highest fidelity (mean over seeds).
        test_optimum: The best test value at the highest fidelity, or ``None``.
        direction: ``maximize`` (every built-in table), or ``minimize`` for a user's
            table of errors or losses; optima, incumbents and regrets follow it.
    """

    name: str
    space: SearchSpace
    fidelities: tuple[float, ...]
    seeds: int = 1
    optimum: float
    test_optimum: float | None = None
    direction: str = "maximize"

    def query(
        self, arch: Architecture, budget: float | None = None, seed: int | None = None
    ) -> TableResult:
        """Look ``arch`` up.

        Args:
            arch: An architecture of :attr:`space`.
            budget: One of :attr:`fidelities`; ``None`` for the highest.
            seed: Which training seed's value; ``None`` for the mean over seeds.

        Raises:
            TableError: If the architecture, budget or seed is not in the table.
        """
        if budget is None:
            budget = self.fidelities[-1]
        elif float(budget) not in self.fidelities:
            raise TableError(
                f"{self.name} has budgets {list(self.fidelities)}; got budget={budget!r}"
            )
        if seed is not None and not 0 <= int(seed) < self.seeds:
            raise TableError(f"{self.name} has seeds 0..{self.seeds - 1}; got seed={seed!r}")
        if not self.space.contains(arch):
            raise TableError(f"the architecture is not in the table {self.name}")
        return self._query(arch, float(budget), None if seed is None else int(seed))

    @abc.abstractmethod
    def _query(self, arch: Architecture, budget: float, seed: int | None) -> TableResult:
        """Look up a member of :attr:`space` at one of :attr:`fidelities`."""

    def architectures(self) -> Sequence[Architecture]:
        """Every architecture the table answers, in a fixed order."""
        return list(self.space.enumerate())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}: {self.space.size} architectures>"

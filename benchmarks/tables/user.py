"""A user's own table as a benchmark: CSV, CSV.gz or Parquet, described in a few fields.

Researchers keep their own tables (NAS-Bench variants on new datasets, hardware metrics,
private sweeps). :class:`UserTable` reads one, infers its search space and answers
:meth:`~bonas.benchmarks.tables.Table.query` like the built-in tables, so
:func:`~bonas.benchmarks.replay.replay` and ``bonas replay --table`` run on it.

What a user gives (:class:`TableDescription`, as keyword arguments, a dict, a TOML or
JSON file, or ``bonas replay`` flags):

* ``arch_column`` and ``arch_format``, the encoding of the architectures:

  - ``cell-string``: NAS-Bench-201-style cell strings ``|op~0|+|op~0|op~1|+|...|`` with
    any op vocabulary and node count (the space is a :class:`~bonas.spaces.CellSpace`;
    NB201's own five ops on four nodes give :class:`~bonas.spaces.NB201Space`);
  - ``adjacency``: an adjacency matrix in ``arch_column`` (rows of 0/1 joined by ``|``,
    as NB101's CSV, or a JSON list of lists) plus ops in ``ops_column`` (a comma list or
    JSON list, ``input`` first and ``output`` last); the space is an
    :class:`~bonas.spaces.NB101Space` over the table's ops, vertex and edge counts;
  - ``node-link``: a JSON node-link graph per row (``{"nodes": [{"id", "label",
    "units"?, "stride"?}], "links" | "edges": [{"source", "target"}]}``) of free-form
    layers; the space is a :class:`~bonas.spaces.GraphSpace` over the labels found.
* ``objective``: its column and direction, ``"val_acc:max"`` or ``"error:min"``.
* optional ``test_column``, ``train_time_column`` (seconds, the simulated wall-clock of a
  replay) and ``cost_column`` (any per-evaluation cost, recorded in the traces).
* fidelities, either wide or long:

  - a metric may name one column per budget, as a comma list (``val_e4,val_e12,...``:
    the budget is the number at the end of each name, or ``budgets`` in order) or as a
    template (``val_e{budget}``, matched against the table's columns);
  - or ``budget_column`` gives each row's budget (long format).
* seeds, likewise: a template with ``{seed}`` (``val_s{seed}`` or ``val_e{budget}_s{seed}``)
  or a ``seed_column``. A query without a seed gets the mean over the seeds.
* ``missing``: what a query for an architecture that is not in the table does:
  ``restrict`` (the default) searches only the table's architectures; ``fail`` searches
  the whole inferred space and records such queries as failed evaluations; ``error``
  searches the whole space and stops the replay with :class:`ArchitectureNotInTableError`.
* ``duplicates``: rows listing the same architecture (up to isomorphism) at the same
  budget and seed with different objective values are an error (``error``, the
  default), or are aggregated (``mean``, ``first``); equal duplicates merge silently.

Rows with a NaN objective are dropped, with a :class:`RowsDroppedWarning` giving the
count. Every other problem (a missing column, an unparsable architecture, conflicting
duplicates, a non-numeric value, an empty table) raises
:class:`~bonas.benchmarks.tables.TableError` naming the file, the row (counted from 1
after the header, as a spreadsheet shows it: row ``r`` is line ``r + 1``) and the column.

Wide metrics that name no budget apply at every budget as follows: a single
``train_time_column`` beside per-budget objectives is the time at the highest budget and
is scaled by ``budget / highest`` below (as NB101's CSV records only the 108-epoch time);
a single ``test_column`` holds the test value at the highest budget only; a single
``cost_column`` is the same at every budget. A table without fidelities has one budget,
``1.0``.

Example:
    >>> table = UserTable.from_file(
    ...     "my.csv", arch_column="arch", arch_format="cell-string",
    ...     objective="val_acc:max", test_column="test_acc")     # doctest: +SKIP
    >>> replay(table, ["bonas", "re", "rs"], seeds=10)            # doctest: +SKIP
"""

from __future__ import annotations

import functools
import json
import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bonas.architecture import Architecture
from bonas.benchmarks.tables.base import Table, TableError, TableResult
from bonas.benchmarks.tables.user_description import (
    ARCH_FORMATS,
    TableDescription,
    read_description,
)
from bonas.benchmarks.tables.user_reading import (
    metric_sources,
    numeric_column,
    parse_architectures,
    read_frame,
)
from bonas.exceptions import BonasError, BonasWarning
from bonas.spaces.subset import SubsetSpace

__all__ = [
    "ARCH_FORMATS",
    "SINGLE_BUDGET",
    "ArchitectureNotInTableError",
    "RowsDroppedWarning",
    "TableDescription",
    "UserTable",
]

#: The budget of a table without fidelities.
SINGLE_BUDGET = 1.0


class ArchitectureNotInTableError(BonasError):
    """A query named an architecture the table lacks, and the table says ``missing="error"``.

    Not a :class:`TableError`, so a replay stops instead of recording a failed query.
    """


class RowsDroppedWarning(BonasWarning):
    """Rows of a user's table were dropped (NaN objectives); the message gives the count."""


# -- the table -------------------------------------------------------------------------


class UserTable(Table):
    """A user's table of architectures and their values; see the module docstring.

    Args:
        path: A ``.csv``, ``.csv.gz`` or ``.parquet`` file.
        description: How to read it.
        warn: Warn about dropped rows (worker processes reloading the table do not).

    Attributes:
        description: The :class:`TableDescription`.
        direction: ``maximize`` or ``minimize``: the objective's direction, which the
            replay's optimisers, incumbents and regrets follow.
        seed_values: The table's seed numbers; ``query(seed=k)`` means ``seed_values[k]``.
        dropped_rows: How many objective values were NaN and dropped.
        full_space: The space the table implies; :attr:`space` is it (``missing`` =
            ``fail`` or ``error``) or its :class:`~bonas.spaces.SubsetSpace` of the
            table's architectures (``restrict``).

    Raises:
        TableError: Naming the file, and the row and column where one is to blame.

    Example:
        >>> table = UserTable.from_file("my.parquet", arch_column="arch",
        ...                             objective="val_acc:max")  # doctest: +SKIP
        >>> table.space.size, table.optimum                          # doctest: +SKIP
    """

    def __init__(
        self, path: str | Path, description: TableDescription, *, warn: bool = True
    ) -> None:
        path = Path(path)
        desc = description
        frame = read_frame(path)
        columns = list(frame.columns)
        for role, name in (
            ("budget column", desc.budget_column),
            ("seed column", desc.seed_column),
            ("architecture column", desc.arch_column),
            ("ops column", desc.ops_column if desc.arch_format == "adjacency" else None),
        ):
            if name is not None and name not in columns:
                raise TableError(f"{path}: missing {role} {name!r}; columns: {columns}")
        objective = metric_sources(frame, path, desc.objective_column, "objective", desc.budgets)
        extras = {
            role: metric_sources(frame, path, spec, role, desc.budgets)
            for role, spec in (
                ("test", desc.test_column),
                ("train_time", desc.train_time_column),
                ("cost", desc.cost_column),
            )
            if spec
        }
        if desc.budget_column and any(s.budget is not None for s in objective):
            raise TableError("give budgets by budget_column or by per-budget columns, not both")
        if desc.seed_column and any(s.seed is not None for s in objective):
            raise TableError("give seeds by seed_column or by per-seed columns, not both")

        row_budgets = (
            numeric_column(frame, path, desc.budget_column) if desc.budget_column else None
        )
        row_seeds = (
            numeric_column(frame, path, desc.seed_column, whole=True) if desc.seed_column else None
        )
        for name, values in ((desc.budget_column, row_budgets), (desc.seed_column, row_seeds)):
            if values is not None and np.isnan(values).any():
                row = int(np.flatnonzero(np.isnan(values))[0])
                raise TableError(f"{path}: row {row + 1}, column {name!r}: the value is missing")
        space, row_archs = parse_architectures(frame, path, desc)

        # every objective value as (row, budget, seed, value) ...
        entries = []
        for source in objective:
            values = numeric_column(frame, path, source.column)
            for row in range(len(frame)):
                budget = source.budget
                if budget is None:
                    budget = float(row_budgets[row]) if row_budgets is not None else None
                seed = source.seed
                if seed is None:
                    seed = int(row_seeds[row]) if row_seeds is not None else 0
                entries.append((row, budget, seed, float(values[row]), source.column))
        budgets_found = sorted({b for _, b, *_ in entries if b is not None}) or [SINGLE_BUDGET]
        top = budgets_found[-1]
        entries = [(r, top if b is None else b, s, v, c) for r, b, s, v, c in entries]
        dropped = [e for e in entries if math.isnan(e[3])]
        entries = [e for e in entries if not math.isnan(e[3])]
        self.dropped_rows = len(dropped)
        if dropped and warn:
            rows = sorted({r + 1 for r, *_ in dropped})
            shown = ", ".join(map(str, rows[:10])) + (", ..." if len(rows) > 10 else "")
            warnings.warn(
                f"{path}: dropped {len(dropped)} NaN objective value(s) (rows {shown})",
                RowsDroppedWarning,
                stacklevel=2,
            )
        if not entries:
            raise TableError(f"{path}: no row has an objective value (all are NaN)")

        # ... and the other metrics beside each
        extra_values = {
            role: {source: numeric_column(frame, path, source.column) for source in sources}
            for role, sources in extras.items()
        }

        def extra(role: str, row: int, budget: float, seed: int) -> float:
            by_source = extra_values.get(role)
            if not by_source:
                return math.nan
            for source, values in by_source.items():
                if source.budget in (budget, None) and source.seed in (seed, None):
                    if source.budget is None and row_budgets is None and budget != top:
                        # one column beside per-budget objectives holds the top budget
                        if role == "test":
                            continue
                        if role == "train_time":
                            return float(values[row]) * budget / top
                    return float(values[row])
            return math.nan

        # one value per (architecture, budget, seed): duplicates merged or refused
        arch_index: dict[Architecture, int] = {}
        for _, arch in sorted({(r, row_archs[r]) for r, *_ in entries}, key=lambda x: x[0]):
            arch_index.setdefault(arch, len(arch_index))
        seed_values = sorted({s for _, _, s, *_ in entries})
        groups: dict[tuple[int, float, int], list[tuple[int, float, str]]] = {}
        for row, budget, seed, value, source_column in entries:
            key = (arch_index[row_archs[row]], budget, seed)
            groups.setdefault(key, []).append((row, value, source_column))
        shape = (len(arch_index), len(budgets_found), len(seed_values))
        tensors = {role: np.full(shape, np.nan) for role in ("value", "test", "time", "cost")}
        seed_pos = {s: k for k, s in enumerate(seed_values)}
        for (a, budget, seed), rows in groups.items():
            if len(rows) > 1 and desc.duplicates == "error":
                distinct = {v for _, v, _ in rows}
                if len(distinct) > 1:
                    (r1, v1, c1), (r2, v2, _) = next(
                        (x, y) for x in rows for y in rows if x[1] != y[1]
                    )
                    where = "" if len(budgets_found) == 1 else f" at budget {budget:g}"
                    raise TableError(
                        f"{path}: rows {r1 + 1} and {r2 + 1} list the same architecture with "
                        f"different {c1!r} values ({v1!r} and {v2!r}){where}, seed {seed}; "
                        "choose duplicates='mean' or 'first' to aggregate them"
                    )
            chosen = rows[:1] if desc.duplicates in ("first", "error") else rows
            index = (a, budgets_found.index(budget), seed_pos[seed])
            tensors["value"][index] = float(np.mean([v for _, v, _ in chosen]))
            for role, name in (("test", "test"), ("time", "train_time"), ("cost", "cost")):
                found = [extra(name, r, budget, seed) for r, _, _ in chosen]
                found = [x for x in found if not math.isnan(x)]
                if found:
                    tensors[role][index] = float(np.mean(found))

        archs = list(arch_index)
        mean_top = _nanmean(tensors["value"][:, -1, :], axis=1)
        answerable = ~np.isnan(mean_top)
        maximize = desc.direction == "maximize"
        pick = np.nanmax if maximize else np.nanmin
        test_top = _nanmean(tensors["test"][:, -1, :], axis=1)

        self.description = desc
        self.source = str(path)
        self.name = desc.name or f"table:{path.name}"
        self.direction = desc.direction
        self.fidelities = tuple(float(b) for b in budgets_found)
        self.seeds = len(seed_values)
        self.seed_values = tuple(seed_values)
        self.optimum = float(pick(mean_top))
        self.test_optimum = None if np.isnan(test_top).all() else float(pick(test_top[answerable]))
        self.full_space = space
        members = [arch for arch, ok in zip(archs, answerable, strict=True) if ok]
        if desc.missing == "restrict":
            self.space = SubsetSpace(space, members, label=self.name)
        else:
            self.space = space
        self._row_of = arch_index
        self._tensors = tensors

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        description: TableDescription | Mapping[str, Any] | str | Path | None = None,
        **fields: Any,
    ) -> UserTable:
        """Read a table, described by a :class:`TableDescription`, a dict, a TOML/JSON
        file, keyword fields, or a file or dict overridden by keyword fields.

        Example:
            >>> UserTable.from_file("sweep.csv.gz", "sweep.toml", missing="fail")  # doctest: +SKIP
        """
        if isinstance(description, TableDescription):
            data = description.to_dict()
        elif isinstance(description, str | Path):
            data = read_description(description)
        else:
            data = dict(description or {})
        data.update({k: v for k, v in fields.items() if v is not None})
        return cls(path, TableDescription.from_mapping(data))

    def __reduce__(self) -> tuple[Any, ...]:
        # replay workers rebuild the table from its file (once per process): its
        # architectures name vocabularies that only building the table registers there
        return (_reload, (self.source, json.dumps(self.description.to_dict())))

    def architectures(self) -> list[Architecture]:
        """The table's architectures that have a value at the highest budget."""
        if isinstance(self.space, SubsetSpace):
            return list(self.space.members)
        top = _nanmean(self._tensors["value"][:, -1, :], axis=1)
        return [arch for arch, value in zip(self._row_of, top, strict=True) if not np.isnan(value)]

    def _query(self, arch: Architecture, budget: float, seed: int | None) -> TableResult:
        row = self._row_of.get(arch)
        if row is None:
            message = f"the architecture is not in the table {self.name} ({self.source})"
            if self.description.missing == "error":
                raise ArchitectureNotInTableError(
                    f"{message}; the table was read with missing='error' (use 'fail' to "
                    "record such queries as failed, or 'restrict' to search the table only)"
                )
            raise TableError(message)
        column = self.fidelities.index(budget)
        picked = slice(None) if seed is None else seed

        def at(role: str) -> float:
            return float(_nanmean(np.atleast_1d(self._tensors[role][row, column, picked])))

        value = at("value")
        if math.isnan(value):
            raise TableError(
                f"{self.name} has no value for this architecture at budget {budget:g}"
                + ("" if seed is None else f", seed {self.seed_values[seed]}")
            )
        test, time, cost = at("test"), at("time"), at("cost")
        return TableResult(
            value,
            None if math.isnan(test) else test,
            0.0 if math.isnan(time) else time,
            budget,
            None if math.isnan(cost) else cost,
        )


def _nanmean(values: np.ndarray, axis: int | None = None) -> Any:
    with warnings.catch_warnings():  # all-NaN slices are expected: missing budgets
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=axis)


@functools.cache
def _reload(path: str, description_json: str) -> UserTable:
    return UserTable(path, TableDescription.from_mapping(json.loads(description_json)), warn=False)

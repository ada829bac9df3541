"""How to read a user's table: :class:`TableDescription` (the fields of
:mod:`bonas.benchmarks.tables.user`'s docstring) and :func:`read_description`."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bonas.benchmarks.tables.base import TableError

__all__ = ["ARCH_FORMATS", "TableDescription", "read_description"]

#: The architecture encodings a table may use.
ARCH_FORMATS: tuple[str, ...] = ("cell-string", "adjacency", "node-link")
_MISSING = ("restrict", "fail", "error")
_DUPLICATES = ("error", "mean", "first")
_DIRECTIONS = {"max": "maximize", "maximize": "maximize", "min": "minimize", "minimize": "minimize"}


@dataclasses.dataclass(frozen=True)
class TableDescription:
    """How to read a user's table; see the module docstring for every field.

    Args:
        arch_column: The column holding the architectures.
        arch_format: ``cell-string``, ``adjacency`` or ``node-link``.
        objective: The objective column (or comma list, or template) and direction,
            ``"column:max"`` or ``"column:min"``; without a direction, ``max``.
        ops_column: For ``adjacency``: the column of op lists.
        test_column: Test values (column, comma list or template), if any.
        train_time_column: Training seconds per evaluation, if any.
        cost_column: Any per-evaluation cost to record, if any.
        budgets: The budgets of comma-listed columns, in order, where their names do
            not end in the budget.
        budget_column: Long format: the column giving each row's budget.
        seed_column: Long format: the column giving each row's seed.
        missing: ``restrict``, ``fail`` or ``error`` (see the module docstring).
        duplicates: ``error``, ``mean`` or ``first``.
        name: The table's name in plots and summaries; the file name by default.

    Example:
        >>> d = TableDescription.from_mapping({"arch_column": "arch",
        ...                                    "objective": "err:min"})
        >>> d.objective_column, d.direction
        ('err', 'minimize')
    """

    arch_column: str
    arch_format: str = "cell-string"
    objective: str = "value:max"
    ops_column: str | None = None
    test_column: str | None = None
    train_time_column: str | None = None
    cost_column: str | None = None
    budgets: tuple[float, ...] | None = None
    budget_column: str | None = None
    seed_column: str | None = None
    missing: str = "restrict"
    duplicates: str = "error"
    name: str | None = None

    def __post_init__(self) -> None:
        if not self.arch_column:
            raise TableError("a table description needs arch_column")
        if self.arch_format not in ARCH_FORMATS:
            raise TableError(
                f"arch_format must be one of {list(ARCH_FORMATS)}, got {self.arch_format!r}"
            )
        if self.arch_format == "adjacency" and not self.ops_column:
            raise TableError("arch_format 'adjacency' needs ops_column, the column of op lists")
        if self.missing not in _MISSING:
            raise TableError(f"missing must be one of {list(_MISSING)}, got {self.missing!r}")
        if self.duplicates not in _DUPLICATES:
            raise TableError(
                f"duplicates must be one of {list(_DUPLICATES)}, got {self.duplicates!r}"
            )
        column, direction = _split_objective(self.objective)
        if not column:
            raise TableError(f"objective {self.objective!r} names no column")
        if direction not in _DIRECTIONS:
            raise TableError(
                f"objective {self.objective!r}: the direction must be max or min, got {direction!r}"
            )
        if self.budgets is not None:
            object.__setattr__(self, "budgets", tuple(float(b) for b in self.budgets))

    @property
    def objective_column(self) -> str:
        """The objective's column (or comma list, or template)."""
        return _split_objective(self.objective)[0]

    @property
    def direction(self) -> str:
        """``maximize`` or ``minimize``."""
        return _DIRECTIONS[_split_objective(self.objective)[1]]

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> TableDescription:
        """A description from a dict (keys as the fields; ``-`` may stand for ``_``).

        Raises:
            TableError: Naming unknown keys, or a missing ``arch_column``.
        """
        fields = {f.name for f in dataclasses.fields(cls)}
        clean = {str(k).replace("-", "_"): v for k, v in data.items() if v is not None}
        unknown = sorted(set(clean) - fields)
        if unknown:
            raise TableError(f"unknown table description keys {unknown}; known: {sorted(fields)}")
        if "arch_column" not in clean:
            raise TableError("a table description needs arch_column")
        if isinstance(clean.get("budgets"), str):
            clean["budgets"] = _parse_budgets(clean["budgets"])
        return cls(**clean)

    @classmethod
    def from_file(cls, path: str | Path) -> TableDescription:
        """A description from a TOML (``.toml``) or JSON file of the fields.

        Raises:
            TableError: If the file is missing or not valid TOML/JSON, or per
                :meth:`from_mapping`.
        """
        return cls.from_mapping(read_description(path))

    def to_dict(self) -> dict[str, Any]:
        """The fields, JSON-compatible."""
        data = dataclasses.asdict(self)
        if data["budgets"] is not None:
            data["budgets"] = list(data["budgets"])
        return data


def read_description(path: str | Path) -> dict[str, Any]:
    """The fields of a TOML or JSON description file, as a dict (not yet checked)."""
    path = Path(path)
    if not path.is_file():
        raise TableError(f"{path}: table description not found")
    try:
        if path.suffix.lower() == ".toml":
            import tomllib

            data = tomllib.loads(path.read_text())
        else:
            data = json.loads(path.read_text())
    except (ValueError, OSError) as err:  # tomllib.TOMLDecodeError is a ValueError
        raise TableError(f"{path}: not a valid TOML or JSON table description ({err})") from None
    if not isinstance(data, dict):
        raise TableError(f"{path}: a table description is a table of fields, got {type(data)}")
    return data


def _split_objective(spec: str) -> tuple[str, str]:
    column, sep, direction = str(spec).rpartition(":")
    if not sep or direction.strip().lower() not in _DIRECTIONS:
        return str(spec).strip(), "max"
    return column.strip(), direction.strip().lower()


def _parse_budgets(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(b) for b in str(text).split(",") if b.strip())
    except ValueError:
        raise TableError(f"budgets must be a comma list of numbers, got {text!r}") from None

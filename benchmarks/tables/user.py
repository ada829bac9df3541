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

import dataclasses
import functools
import json
import math
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bonas.architecture import Architecture
from bonas.benchmarks.tables.base import Table, TableError, TableResult
from bonas.exceptions import BonasError, BonasWarning, InvalidArchitectureError, InvalidSpaceError
from bonas.spaces.base import SearchSpace
from bonas.spaces.subset import SubsetSpace

__all__ = [
    "ARCH_FORMATS",
    "ArchitectureNotInTableError",
    "RowsDroppedWarning",
    "TableDescription",
    "UserTable",
]

#: The architecture encodings a table may use.
ARCH_FORMATS: tuple[str, ...] = ("cell-string", "adjacency", "node-link")
_MISSING = ("restrict", "fail", "error")
_DUPLICATES = ("error", "mean", "first")
_DIRECTIONS = {"max": "maximize", "maximize": "maximize", "min": "minimize", "minimize": "minimize"}
#: The budget of a table without fidelities.
SINGLE_BUDGET = 1.0
_NUMBER = r"[0-9]+(?:\.[0-9]+)?"


class ArchitectureNotInTableError(BonasError):
    """A query named an architecture the table lacks, and the table says ``missing="error"``.

    Not a :class:`TableError`, so a replay stops instead of recording a failed query.
    """


class RowsDroppedWarning(BonasWarning):
    """Rows of a user's table were dropped (NaN objectives); the message gives the count."""


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


# -- reading ------------------------------------------------------------------------


def read_frame(path: Path) -> Any:
    """The table file as a DataFrame: CSV, CSV.gz (or any pandas compression) or Parquet."""
    import pandas as pd

    if not path.is_file():
        raise TableError(f"{path}: file not found (expected a CSV, CSV.gz or Parquet table)")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path)
    except ImportError as err:
        raise TableError(
            f"{path}: reading Parquet needs pyarrow: pip install pyarrow (or 'bonas[tables]') "
            f"({err})"
        ) from None
    except Exception as err:  # pandas, gzip and pyarrow raise many types for a bad file
        raise TableError(f"{path} is not a readable table ({type(err).__name__}: {err})") from None
    if frame.empty:
        raise TableError(f"{path}: the table is empty (no data rows)")
    frame.columns = [str(c) for c in frame.columns]
    return frame


@dataclasses.dataclass(frozen=True)
class _Source:
    """One column of a metric and the budget and seed it holds (``None``: per row)."""

    column: str
    budget: float | None
    seed: int | None


def _sources(
    frame: Any, path: Path, spec: str, role: str, budgets: tuple[float, ...] | None
) -> list[_Source]:
    """The columns a metric spec names: one column, a comma list, or a template."""
    columns = list(frame.columns)
    if "{" in spec:
        unknown = sorted(set(re.findall(r"\{([^}]*)\}", spec)) - {"budget", "seed"})
        if unknown:
            raise TableError(
                f"{role} template {spec!r} names {unknown}; templates may use "
                "{budget} and {seed} only"
            )
        pattern = re.escape(spec)
        for key, group in (("budget", _NUMBER), ("seed", "[0-9]+")):
            pattern = pattern.replace(re.escape("{" + key + "}"), f"(?P<{key}>{group})")
        found = []
        for column in columns:
            match = re.fullmatch(pattern, column)
            if match:
                groups = match.groupdict()
                budget = float(groups["budget"]) if groups.get("budget") else None
                seed = int(groups["seed"]) if groups.get("seed") else None
                found.append(_Source(column, budget, seed))
        if not found:
            raise TableError(
                f"{path}: no column matches the {role} template {spec!r}; columns: {columns}"
            )
        return found
    names = [name.strip() for name in spec.split(",") if name.strip()]
    missing = [name for name in names if name not in columns]
    if missing:
        hint = " (a direction after ':' must be max or min)" if ":" in spec else ""
        raise TableError(
            f"{path}: missing column(s) {missing} named as the {role}{hint}; columns: {columns}"
        )
    if len(names) == 1:
        return [_Source(names[0], None, None)]
    if budgets is not None:
        if len(budgets) != len(names):
            raise TableError(
                f"{role} lists {len(names)} columns but budgets lists {len(budgets)}: "
                f"{names} vs {list(budgets)}"
            )
        return [_Source(n, b, None) for n, b in zip(names, budgets, strict=True)]
    result = []
    for name in names:
        match = re.search(f"({_NUMBER})$", name)
        if not match:
            raise TableError(
                f"{role} column {name!r} does not end in its budget; give budgets in order"
            )
        result.append(_Source(name, float(match.group(1)), None))
    return result


def _numeric(frame: Any, path: Path, column: str, *, whole: bool = False) -> np.ndarray:
    """A column as floats: NaN where empty; anything else that is not a finite number
    (or, with ``whole``, not a whole number) is a :class:`TableError` naming the row."""
    import pandas as pd

    try:
        converted = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    except OverflowError:  # integers beyond any float: one value at a time
        converted = np.array([_as_float(value) for value in frame[column]], dtype=float)
    given = frame[column].notna().to_numpy()
    for bad, what in (
        (np.isnan(converted) & given, "a number"),
        (np.isinf(converted), "a finite number"),
        (whole & np.isfinite(converted) & (converted != np.round(converted)), "a whole number"),
    ):
        rows = np.flatnonzero(bad)
        if rows.size:
            row = int(rows[0])
            value = frame[column].iloc[row]
            shown = repr(value) if isinstance(value, str) else str(value)
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            raise TableError(
                f"{path}: row {row + 1}, column {column!r}: {shown} is not {what} "
                f"({rows.size} such rows)"
            )
    return converted


def _as_float(value: Any) -> float:
    """``float(value)``; NaN for text that is no number, infinity for one too large."""
    try:
        return float(value)
    except OverflowError:
        return math.inf
    except (TypeError, ValueError):
        return math.nan


# -- architectures --------------------------------------------------------------------


def _json_or_split(text: Any, split: str) -> Any:
    if isinstance(text, list | tuple | np.ndarray):
        return list(text)
    text = str(text).strip()
    if text.startswith("["):
        return json.loads(text)
    return [part.strip() for part in text.split(split)]


def _adjacency(text: Any) -> list[list[int]]:
    rows = _json_or_split(text, "|")
    matrix = [[int(c) for c in row] if isinstance(row, str) else list(row) for row in rows]
    return [[int(v) for v in row] for row in matrix]


def _node_link(text: Any) -> tuple[list[dict[str, Any]], list[tuple[Any, Any]]]:
    data = json.loads(text) if isinstance(text, str) else text
    if not isinstance(data, dict) or "nodes" not in data:
        raise ValueError("expected a JSON object with 'nodes' and 'links' (or 'edges')")
    links = data.get("links", data.get("edges"))
    if links is None:
        raise ValueError("the graph has no 'links' (or 'edges') list")
    nodes = list(data["nodes"])
    for node in nodes:
        if not isinstance(node, dict) or "id" not in node or "label" not in node:
            raise ValueError(f"every node needs an 'id' and a 'label', got {node!r}")
    pairs = []
    for link in links:
        if not isinstance(link, dict) or "source" not in link or "target" not in link:
            raise ValueError(f"every link needs 'source' and 'target', got {link!r}")
        pairs.append((link["source"], link["target"]))
    return nodes, pairs


def _row_error(path: Path, row: int, column: str, err: Exception) -> TableError:
    return TableError(f"{path}: row {row + 1}, column {column!r}: {err}")


def _parse_architectures(
    frame: Any, path: Path, desc: TableDescription
) -> tuple[SearchSpace, list[Architecture]]:
    """The space the table implies and each row's architecture."""
    column = desc.arch_column
    texts = frame[column].tolist()
    for row, text in enumerate(texts):
        if text is None or (isinstance(text, float) and math.isnan(text)):
            raise _row_error(path, row, column, ValueError("the architecture is empty"))
    if desc.arch_format == "cell-string":
        return _cell_architectures(texts, path, column)
    if desc.arch_format == "adjacency":
        return _dag_architectures(texts, frame[desc.ops_column].tolist(), path, desc)
    return _graph_architectures(texts, path, column)


def _cell_architectures(
    texts: list[Any], path: Path, column: str
) -> tuple[SearchSpace, list[Architecture]]:
    from bonas.spaces import CellSpace, NB201Space
    from bonas.spaces.cell import split_cell_string
    from bonas.spaces.nb201 import NB201_OPS

    parsed: dict[str, list[str]] = {}
    nodes = None
    ops: dict[str, None] = {}
    for row, text in enumerate(texts):
        key = str(text).strip()
        if key in parsed:
            continue
        try:
            groups = split_cell_string(key)
        except ValueError as err:
            raise _row_error(
                path, row, column, ValueError(f"cannot parse {key!r}: {err}")
            ) from None
        if nodes is None:
            nodes = len(groups) + 1
        elif len(groups) + 1 != nodes:
            raise _row_error(
                path,
                row,
                column,
                ValueError(f"the cell has {len(groups) + 1} nodes; earlier rows have {nodes}"),
            )
        parsed[key] = [op for group in groups for op in group]
        ops.update(dict.fromkeys(parsed[key]))
    if nodes is None:
        raise TableError(f"{path}: column {column!r} holds no cell string")
    try:
        if nodes == 4 and set(ops) == set(NB201_OPS):
            space: Any = NB201Space()
        else:
            space = CellSpace(tuple(sorted(ops)), nodes=nodes)  # whatever the row order
    except InvalidSpaceError as err:
        raise TableError(f"{path}: column {column!r}: {err}") from None
    if isinstance(space, NB201Space):  # its cells are built once per process and shared
        cells = list(space.enumerate())
        position = {op: k for k, op in enumerate(NB201_OPS)}

        def build(cell_ops: list[str]) -> Architecture:
            index = 0
            for op in cell_ops:
                index = index * len(NB201_OPS) + position[op]
            return cells[index]
    else:
        build = space.from_ops
    built = {key: build(cell_ops) for key, cell_ops in parsed.items()}
    return space, [built[str(text).strip()] for text in texts]


def _dag_architectures(
    texts: list[Any], op_lists: list[Any], path: Path, desc: TableDescription
) -> tuple[SearchSpace, list[Architecture]]:
    from bonas.spaces import NB101Space
    from bonas.spaces.nb101 import NB101_OPS

    specs = []
    found_ops: dict[str, None] = {}
    for row, (text, op_text) in enumerate(zip(texts, op_lists, strict=True)):
        try:
            matrix = _adjacency(text)
        except (ValueError, TypeError) as err:
            raise _row_error(path, row, desc.arch_column, ValueError(f"{text!r}: {err}")) from None
        try:
            ops = [str(op) for op in _json_or_split(op_text, ",")]
        except (ValueError, TypeError) as err:
            raise _row_error(
                path, row, desc.ops_column or "", ValueError(f"{op_text!r}: {err}")
            ) from None
        specs.append((matrix, ops))
        found_ops.update(dict.fromkeys(ops[1:-1]))
    op_names = NB101_OPS if set(found_ops) <= set(NB101_OPS) else tuple(sorted(found_ops))
    try:
        parser = NB101Space(max_vertices=10**6, max_edges=10**6, ops=op_names)
    except InvalidSpaceError as err:
        raise TableError(f"{path}: column {desc.ops_column!r}: {err}") from None
    archs = []
    for row, (matrix, ops) in enumerate(specs):
        try:
            archs.append(parser.from_spec(matrix, ops))
        except (InvalidArchitectureError, ValueError) as err:
            raise _row_error(path, row, desc.arch_column, err) from None
    space = NB101Space(
        max_vertices=max(a.num_layers for a in archs),
        max_edges=max(len(a.edges) for a in archs),
        ops=op_names,
    )
    return space, archs


def _graph_architectures(
    texts: list[Any], path: Path, column: str
) -> tuple[SearchSpace, list[Architecture]]:
    import networkx as nx

    from bonas.spaces import GraphSpace
    from bonas.vocabulary import derived_vocabulary

    graphs = []
    for row, text in enumerate(texts):
        try:
            nodes, links = _node_link(text)
            graph = nx.DiGraph()
            for node in nodes:
                attrs = {"label": str(node["label"])}
                for key in ("units", "stride"):
                    if node.get(key) is not None:
                        attrs[key] = int(node[key])
                graph.add_node(node["id"], **attrs)
            unknown = [end for pair in links for end in pair if end not in graph]
            if unknown:
                raise ValueError(f"links name unknown nodes {unknown[:3]}")
            graph.add_edges_from(links)
            sources = [n for n in graph if graph.in_degree(n) == 0]
            sinks = [n for n in graph if graph.out_degree(n) == 0]
            if len(sources) != 1 or len(sinks) != 1:
                raise ValueError(
                    f"a layer graph has one input and one output layer; found "
                    f"{len(sources)} layers without inputs and {len(sinks)} without outputs"
                )
        except (ValueError, TypeError, KeyError) as err:
            raise _row_error(path, row, column, err) from None
        graphs.append((row, graph, sources[0], sinks[0]))
    input_labels = {g.nodes[s]["label"] for _, g, s, _ in graphs}
    output_labels = {g.nodes[t]["label"] for _, g, _, t in graphs}
    if len(input_labels) != 1 or len(output_labels) != 1 or input_labels == output_labels:
        raise TableError(
            f"{path}: column {column!r}: every graph's input layer must share one label and "
            f"every output layer another; found inputs {sorted(input_labels)} and outputs "
            f"{sorted(output_labels)}"
        )
    (input_label,), (output_label,) = input_labels, output_labels
    labels, unit_labels, stride_labels, units, strides = {}, set(), set(), set(), set()
    for _, graph, _, _ in graphs:
        for _, attrs in graph.nodes(data=True):
            labels[attrs["label"]] = None
            if "units" in attrs:
                unit_labels.add(attrs["label"])
                units.add(attrs["units"])
            if "stride" in attrs:
                stride_labels.add(attrs["label"])
                strides.add(attrs["stride"])
    inner = sorted(set(labels) - {input_label, output_label})
    all_labels = (input_label, output_label, *inner)
    try:
        vocab = derived_vocabulary(
            "table",
            all_labels,
            input_label=input_label,
            output_label=output_label,
            unit_labels=unit_labels,
            stride_labels=stride_labels,
            strides=sorted(strides) or (1,),
        )
    except InvalidSpaceError as err:
        raise TableError(f"{path}: column {column!r}: {err}") from None
    archs = []
    for row, graph, _, _ in graphs:
        try:
            archs.append(Architecture.from_networkx(graph, vocabulary=vocab))
        except InvalidArchitectureError as err:
            raise _row_error(path, row, column, err) from None
    space = GraphSpace(
        vocab, max_layers=max(3, max(a.num_layers for a in archs)), units=sorted(units) or (64,)
    )
    return space, archs


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
        objective = _sources(frame, path, desc.objective_column, "objective", desc.budgets)
        extras = {
            role: _sources(frame, path, spec, role, desc.budgets)
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

        row_budgets = _numeric(frame, path, desc.budget_column) if desc.budget_column else None
        row_seeds = (
            _numeric(frame, path, desc.seed_column, whole=True) if desc.seed_column else None
        )
        for name, values in ((desc.budget_column, row_budgets), (desc.seed_column, row_seeds)):
            if values is not None and np.isnan(values).any():
                row = int(np.flatnonzero(np.isnan(values))[0])
                raise TableError(f"{path}: row {row + 1}, column {name!r}: the value is missing")
        space, row_archs = _parse_architectures(frame, path, desc)

        # every objective value as (row, budget, seed, value) ...
        entries = []
        for source in objective:
            values = _numeric(frame, path, source.column)
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
            role: {source: _numeric(frame, path, source.column) for source in sources}
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

"""Reading a user's table: the file, each metric's columns (per budget and seed, wide or
long) as checked numbers, and the architectures of each row in their encoding."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from bonas.architecture import Architecture
from bonas.benchmarks.tables.base import TableError
from bonas.benchmarks.tables.user_description import TableDescription
from bonas.exceptions import InvalidArchitectureError, InvalidSpaceError
from bonas.spaces.base import SearchSpace

__all__ = [
    "Source",
    "metric_sources",
    "numeric_column",
    "parse_architectures",
    "read_frame",
    "row_error",
]

_NUMBER = r"[0-9]+(?:\.[0-9]+)?"


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
class Source:
    """One column of a metric and the budget and seed it holds (``None``: per row)."""

    column: str
    budget: float | None
    seed: int | None


def metric_sources(
    frame: Any, path: Path, spec: str, role: str, budgets: tuple[float, ...] | None
) -> list[Source]:
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
                found.append(Source(column, budget, seed))
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
        return [Source(names[0], None, None)]
    if budgets is not None:
        if len(budgets) != len(names):
            raise TableError(
                f"{role} lists {len(names)} columns but budgets lists {len(budgets)}: "
                f"{names} vs {list(budgets)}"
            )
        return [Source(n, b, None) for n, b in zip(names, budgets, strict=True)]
    result = []
    for name in names:
        match = re.search(f"({_NUMBER})$", name)
        if not match:
            raise TableError(
                f"{role} column {name!r} does not end in its budget; give budgets in order"
            )
        result.append(Source(name, float(match.group(1)), None))
    return result


def numeric_column(frame: Any, path: Path, column: str, *, whole: bool = False) -> np.ndarray:
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


def row_error(path: Path, row: int, column: str, err: Exception) -> TableError:
    return TableError(f"{path}: row {row + 1}, column {column!r}: {err}")


def parse_architectures(
    frame: Any, path: Path, desc: TableDescription
) -> tuple[SearchSpace, list[Architecture]]:
    """The space the table implies and each row's architecture."""
    column = desc.arch_column
    texts = frame[column].tolist()
    for row, text in enumerate(texts):
        if text is None or (isinstance(text, float) and math.isnan(text)):
            raise row_error(path, row, column, ValueError("the architecture is empty"))
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
            raise row_error(path, row, column, ValueError(f"cannot parse {key!r}: {err}")) from None
        if nodes is None:
            nodes = len(groups) + 1
        elif len(groups) + 1 != nodes:
            raise row_error(
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
            raise row_error(path, row, desc.arch_column, ValueError(f"{text!r}: {err}")) from None
        try:
            ops = [str(op) for op in _json_or_split(op_text, ",")]
        except (ValueError, TypeError) as err:
            raise row_error(
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
            raise row_error(path, row, desc.arch_column, err) from None
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
            raise row_error(path, row, column, err) from None
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
            raise row_error(path, row, column, err) from None
    space = GraphSpace(
        vocab, max_layers=max(3, max(a.num_layers for a in archs)), units=sorted(units) or (64,)
    )
    return space, archs

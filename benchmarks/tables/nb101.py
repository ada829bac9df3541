"""NAS-Bench-101 (Ying et al., ICML 2019): the cells of a table with four fidelities."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bonas.architecture import Architecture
from bonas.benchmarks.tables._io import read_csv
from bonas.benchmarks.tables.base import Table, TableError, TableResult
from bonas.exceptions import InvalidArchitectureError
from bonas.spaces.nb101 import NB101Space
from bonas.spaces.subset import SubsetSpace

__all__ = ["NB101_FIDELITIES", "NB101Table"]

#: NAS-Bench-101's epoch budgets.
NB101_FIDELITIES: tuple[float, ...] = (4.0, 12.0, 36.0, 108.0)
_VALUE_COLUMNS = tuple(f"val_acc_e{int(b)}" for b in NB101_FIDELITIES)
_COLUMNS = ("nb101_hash", "has_spec", "adjacency", "ops", *_VALUE_COLUMNS, "train_time_e108_s")


class NB101Table(Table):
    """NAS-Bench-101 on CIFAR-10, restricted to the cells a CSV lists with their specs.

    Args:
        path: A CSV in the layout of ``nb101_20k_multifidelity.csv.gz``: columns
            ``nb101_hash``, ``has_spec``, ``adjacency`` (matrix rows as 0/1 strings
            joined by ``|``), ``ops`` (comma list with ``input``/``output``),
            ``val_acc_e{4,12,36,108}`` and ``train_time_e108_s``.

    Only rows with ``has_spec`` true are used (10,266 of the shared file's 20,001): the
    others cannot be mapped to an architecture. Each row's cell is rebuilt with
    :meth:`NB101Space.from_spec`; queries find it by architecture equality (graph
    isomorphism), so any numbering of the cell answers. :meth:`verify_hashes` checks
    that each cell's :func:`~bonas.spaces.nb101.nb101_hash` equals its row's
    ``nb101_hash`` (the shared file passes).

    Values are the validation accuracy in ``[0, 1]`` after a 4/12/36/108-epoch budget
    (one training run per budget; fidelities ``(4.0, 12.0, 36.0, 108.0)``, ``seeds=1``);
    there is no test split (``test_value`` is ``None``). ``train_time`` is
    ``train_time_e108_s`` at 108 epochs and ``train_time_e108_s * budget / 108`` below
    (the file records only the 108-epoch time; NB101's epochs take about equal time).

    The space is a :class:`~bonas.spaces.subset.SubsetSpace` of :class:`NB101Space`
    labelled ``"nb101-table"``: searches only propose cells the table answers.

    Example:
        >>> table = NB101Table.from_csv("shared/data/nas-bench-101/nb101_20k_multifidelity.csv.gz")
        >>> table.space.size, table.fidelities
        (10266, (4.0, 12.0, 36.0, 108.0))
        >>> arch = table.architectures()[0]
        >>> table.query(arch, budget=36).value <= table.optimum
        True
    """

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        frame = read_csv(path, _COLUMNS, "the NB101 multi-fidelity table")
        has_spec = frame["has_spec"]
        if has_spec.dtype != bool:
            has_spec = has_spec.astype(str).str.strip().str.lower() == "true"
        frame = frame[has_spec.to_numpy()]
        if frame.empty:
            raise TableError(f"{path}: no row has has_spec=True, so no cell can be rebuilt")
        try:
            values = frame[list(_VALUE_COLUMNS)].to_numpy(dtype=float)
            time108 = frame["train_time_e108_s"].to_numpy(dtype=float)
        except (TypeError, ValueError) as err:
            raise TableError(f"{path}: a value or time column is not numeric ({err})") from None
        named = zip((*_VALUE_COLUMNS, "train_time_e108_s"), (*values.T, time108), strict=True)
        for name, column in named:
            if np.isnan(column).any():
                raise TableError(f"{path}: column {name!r} has missing values in has_spec rows")

        base = NB101Space()
        archs: list[Architecture] = []
        keys = [str(key) for key in frame["nb101_hash"]]
        for key, adjacency, ops in zip(keys, frame["adjacency"], frame["ops"], strict=True):
            try:
                matrix = [[int(c) for c in line] for line in str(adjacency).split("|")]
                arch = base.from_spec(matrix, str(ops).split(","))
                base.validate(arch)
            except (ValueError, InvalidArchitectureError) as err:
                raise TableError(
                    f"{path}: the spec of row {key!r} is not an NB101 cell ({err})"
                ) from None
            archs.append(arch)
        row_of = {arch: i for i, arch in enumerate(archs)}
        if len(row_of) != len(archs):
            raise TableError(f"{path}: some rows list the same (isomorphic) cell twice")

        self.name = "nb101"
        self.source = str(path)
        self.fidelities = NB101_FIDELITIES
        self.seeds = 1
        self.space = SubsetSpace(base, archs, label="nb101-table")
        self._base = base
        self._keys = keys
        self._row_of = row_of
        self._values = values
        self._time108 = time108
        self.optimum = float(values[:, -1].max())
        self.test_optimum = None

    @classmethod
    def from_csv(cls, path: str | Path) -> NB101Table:
        """The table of a CSV in the layout of ``nb101_20k_multifidelity.csv.gz``.

        Raises:
            TableError: If the file is missing or unreadable, lacks a column (named), or
                a row's spec is not an NB101 cell.
        """
        return cls(path)

    def _query(self, arch: Architecture, budget: float, seed: int | None) -> TableResult:
        row = self._row_of[arch]
        column = NB101_FIDELITIES.index(budget)
        time = float(self._time108[row]) * budget / NB101_FIDELITIES[-1]
        return TableResult(float(self._values[row, column]), None, time, budget)

    def hash(self, arch: Architecture) -> str:
        """The ``nb101_hash`` the file lists for a cell of the table."""
        if arch not in self._row_of:
            raise TableError(f"the architecture is not in the table {self.name}")
        return self._keys[self._row_of[arch]]

    def verify_hashes(self) -> int:
        """Check that every cell's :meth:`NB101Space.hash` equals its row's ``nb101_hash``.

        Takes a few seconds for 10,266 cells, so loading does not do it.

        Returns:
            The number of cells checked.

        Raises:
            TableError: Naming the first row whose spec hashes to another digest.
        """
        for arch, key in zip(self.space.enumerate(), self._keys, strict=True):
            digest = self._base.hash(arch)
            if digest != key:
                raise TableError(
                    f"{self.source}: row {key!r}'s spec hashes to {digest}, not to its nb101_hash"
                )
        return len(self._keys)

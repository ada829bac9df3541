"""NAS-Bench-301 (Siems et al., 2020) through YAHPO Gym's ONNX surrogate, on the DARTS space.

``yahpo-gym`` 1.0.2 pins ``numpy<2`` and ``configspace<=0.6.1`` (whose compiled wheels
need numpy 1), and its encoding code calls ConfigSpace 0.6 methods, so it cannot run in
this project. :class:`NB301Table` reproduces its input encoding instead (as
``BenchmarkSet._config_to_xs`` does it) and runs the model with ``onnxruntime``:

* the genotype becomes NB301's configuration as ``nasbench301``'s
  ``convert_genotype_to_config`` writes it: intermediate node ``k`` of a cell owns edges
  ``[0, 2, 5, 9][k] + source``; ``edge_<cell>_<e>`` holds the op of each edge a node
  reads; ``inputs_node_<cell>_<k + 2>`` (``k >= 1``) names its two sources, ascending,
  as ``"i_j"``;
* each of the 34 categorical inputs, in the order of YAHPO's ``cat_names``, is
  integer-encoded with ``encoding.json``; an inactive edge is ``"#na#"``;
* the one continuous input is the epoch, as float32.

The encoding was checked against ``yahpo-gym`` 1.0.2 run in a separate numpy-1
environment on the same files: identical ``x_cat`` vectors and outputs (see the tests).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bonas.architecture import Architecture
from bonas.benchmarks.tables._io import require
from bonas.benchmarks.tables.base import Table, TableError, TableResult
from bonas.spaces.darts import CELL_TYPES, DARTS_OPS, NUM_NODES, DARTSSpace

__all__ = ["NB301_CAT_NAMES", "NB301_OPTIMUM", "NB301Table", "nb301_config"]

_PREFIX = "NetworkSelectorDatasetInfo_COLON_darts_COLON_"
_EDGE_OFFSET = (0, 2, 5, 9)  # first edge of intermediate node k; node k has k + 2 edges
_NUM_EDGES = 14
_NA = "#na#"

#: YAHPO's ``cat_names`` for nb301: the model's categorical inputs, in order.
NB301_CAT_NAMES: tuple[str, ...] = (
    *(f"{_PREFIX}edge_normal_{e}" for e in range(_NUM_EDGES)),
    *(f"{_PREFIX}edge_reduce_{e}" for e in range(_NUM_EDGES)),
    *(f"{_PREFIX}inputs_node_normal_{n}" for n in (3, 4, 5)),
    *(f"{_PREFIX}inputs_node_reduce_{n}" for n in (3, 4, 5)),
)

#: Estimate of the surrogate's best ``val_accuracy`` at epoch 98 (a fraction), used as
#: :attr:`NB301Table.optimum`. The space has about 10^18 genotypes and cannot be
#: enumerated. This is the result of ``NB301Table(dir).estimate_optimum(samples=100_000,
#: climbs=100, seed=2)`` on the ``model.onnx`` of ``shared/data/yahpo-nb301`` (YAHPO's
#: ``model_v2.onnx``), computed once (about 30 s): 100,000 uniformly random genotypes,
#: then best-improvement hill climbing over single op/input changes from the 100 best.
#: It was the best of four such runs (seeds 0-3, 30,000-100,000 samples, 20-300 climbs:
#: 0.94466, 0.94481, 0.94545, 0.94497); the best of the 100,000 random samples alone is
#: 0.9372. A search may still find a better genotype, so regret against this constant
#: can dip slightly below zero.
NB301_OPTIMUM: float = 0.945454478263855

_FILES = ("model.onnx", "config_space.json", "encoding.json")


def nb301_config(genotype: Mapping[str, Sequence[tuple[str, int]]]) -> dict[str, str]:
    """The NB301 configuration of a DARTS genotype (active hyperparameters only).

    Args:
        genotype: ``{"normal": [(op, source), ...8], "reduce": [...]}`` as
            :meth:`DARTSSpace.to_genotype` returns it.

    Example:
        >>> space = DARTSSpace()
        >>> config = nb301_config(space.to_genotype(space.sample(0)))
        >>> len(config)  # 2 x (8 edges + 3 input pairs)
        22
    """
    config: dict[str, str] = {}
    for cell in CELL_TYPES:
        pairs = genotype[cell]
        for k in range(NUM_NODES):
            node = pairs[2 * k : 2 * k + 2]
            for op, source in node:
                config[f"{_PREFIX}edge_{cell}_{_EDGE_OFFSET[k] + int(source)}"] = str(op)
            if k > 0:
                low, high = sorted(int(source) for _, source in node)
                config[f"{_PREFIX}inputs_node_{cell}_{k + 2}"] = f"{low}_{high}"
    return config


class NB301Table(Table):
    """NAS-Bench-301's CIFAR-10 surrogate (YAHPO Gym ONNX model) on the DARTS space.

    Args:
        model_dir: A folder with YAHPO's nb301 files ``model.onnx``,
            ``config_space.json`` and ``encoding.json`` (as ``shared/data/yahpo-nb301``).
        threads: onnxruntime threads per table (1 suits replays in worker processes).

    Needs ``pip install onnxruntime``. Fidelities are the epochs 1, 2, ..., 98 (from
    ``config_space.json``). ``value`` is the predicted ``val_accuracy`` (a fraction) and
    ``train_time`` the predicted ``runtime`` (seconds to train to that epoch, clipped
    at 0); the surrogate has no test output (``test_value`` is ``None``) and is
    deterministic (``seeds=1``).

    Output columns: YAHPO's ``model_v2.onnx`` (the shared file) has four,
    ``[val_accuracy, val_cross_entropy, runtime, runtime_increase]`` as yahpo-gym's
    current nb301 config names them; yahpo-gym 1.0.2 names only two, so it would report
    the cross-entropy as "runtime" for this model. A two-output model is read as
    ``[val_accuracy, runtime]``.

    :attr:`optimum` is :data:`NB301_OPTIMUM`, an estimate (see there); the space is
    not enumerable, so :meth:`architectures` raises.

    Example:
        >>> table = NB301Table("shared/data/yahpo-nb301")
        >>> arch = table.space.sample(0)
        >>> early, late = table.query(arch, budget=4), table.query(arch)   # epoch 98
        >>> early.value < late.value < 1.0, early.train_time < late.train_time
        (True, True)
    """

    def __init__(self, model_dir: str | Path, threads: int = 1) -> None:
        folder = Path(model_dir)
        if not folder.is_dir():
            raise TableError(
                f"{folder}: no such folder (expected YAHPO's nb301 files {list(_FILES)})"
            )
        for name in _FILES:
            if not (folder / name).is_file():
                raise TableError(f"{folder / name}: file not found (YAHPO's nb301 {name})")
        self._ort = require("onnxruntime", "the NB301 surrogate table")
        self.model_dir = folder
        self.threads = int(threads)
        self._encoders = _read_encoding(folder / "encoding.json")
        low, high = _read_config_space(folder / "config_space.json")
        self.name = "nb301"
        self.space = DARTSSpace()
        self.fidelities = tuple(float(e) for e in range(low, high + 1))
        self.seeds = 1
        self.optimum = NB301_OPTIMUM
        self.test_optimum = None
        self._lock = threading.Lock()
        self._session: Any = None
        self._runtime_column = 1
        self._open_session()

    # -- the model -------------------------------------------------------------------

    def _open_session(self) -> None:
        path = self.model_dir / "model.onnx"
        options = self._ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        try:
            session = self._ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as err:  # onnxruntime raises its own types for a bad model
            raise TableError(
                f"{path} is not a readable ONNX model ({type(err).__name__}: {err})"
            ) from err
        inputs = [(i.name, i.shape) for i in session.get_inputs()]
        if [name for name, _ in inputs] != ["x_cat", "x_cont"] or inputs[0][1][-1] not in (
            len(NB301_CAT_NAMES),
            None,
        ):
            raise TableError(
                f"{path}: expected inputs x_cat (batch, {len(NB301_CAT_NAMES)}) and x_cont "
                f"(batch, 1); the model has {inputs}"
            )
        self._session = session
        probe = self._run(
            np.zeros((1, len(NB301_CAT_NAMES)), np.int32), np.ones((1, 1), np.float32)
        )
        columns = probe.shape[1]
        if columns not in (2, 4):
            raise TableError(
                f"{path}: expected 2 outputs [val_accuracy, runtime] or 4 [val_accuracy, "
                f"val_cross_entropy, runtime, runtime_increase]; the model has {columns}"
            )
        self._runtime_column = 1 if columns == 2 else 2

    def _run(self, x_cat: np.ndarray, x_cont: np.ndarray) -> np.ndarray:
        if self._session is None:  # after unpickling
            self._ort = require("onnxruntime", "the NB301 surrogate table")
            self._open_session()
        with self._lock:
            return self._session.run(None, {"x_cat": x_cat, "x_cont": x_cont})[0]

    def encode(self, genotype: Mapping[str, Sequence[tuple[str, int]]]) -> np.ndarray:
        """The model's ``x_cat`` row (34 int32 codes) for a genotype, as yahpo-gym builds it."""
        config = nb301_config(genotype)
        row = np.empty(len(NB301_CAT_NAMES), dtype=np.int32)
        for i, (name, codes) in enumerate(zip(NB301_CAT_NAMES, self._encoders, strict=True)):
            value = config.get(name, _NA)
            try:
                row[i] = codes[value]
            except KeyError:
                raise TableError(f"encoding.json has no code for {name}={value!r}") from None
        return row

    def predict(
        self, genotypes: Sequence[Mapping[str, Sequence[tuple[str, int]]]], epoch: float
    ) -> np.ndarray:
        """Batch prediction: ``(len(genotypes), 2)`` rows of ``(val_accuracy, runtime)``.

        Raises:
            TableError: If ``epoch`` is not one of :attr:`fidelities`.
        """
        if float(epoch) not in self.fidelities:
            raise TableError(f"{self.name} has epochs 1..{self.fidelities[-1]:g}; got {epoch!r}")
        if not genotypes:
            return np.empty((0, 2))
        x_cat = np.stack([self.encode(g) for g in genotypes])
        x_cont = np.full((len(genotypes), 1), float(epoch), dtype=np.float32)
        out = self._run(x_cat, x_cont).astype(float)
        return np.stack([out[:, 0], np.maximum(out[:, self._runtime_column], 0.0)], axis=1)

    # -- Table -----------------------------------------------------------------------

    def _query(self, arch: Architecture, budget: float, seed: int | None) -> TableResult:
        x_cat = self.encode(self.space.to_genotype(arch))[None, :]
        out = self._run(x_cat, np.array([[budget]], dtype=np.float32))
        value = float(out[0, 0])
        train_time = max(float(out[0, self._runtime_column]), 0.0)
        return TableResult(value, None, train_time, budget)

    def architectures(self) -> list[Architecture]:
        raise TableError(
            f"{self.name} is a surrogate over the DARTS space (about 10^18 genotypes); "
            "it has no list of architectures: sample from table.space instead"
        )

    def estimate_optimum(self, samples: int = 100_000, climbs: int = 20, seed: int = 0) -> float:
        """Search the surrogate for its best ``val_accuracy`` at the highest epoch.

        Draws ``samples`` uniformly random genotypes, then hill-climbs from the
        ``climbs`` best: each step takes the best of all single op/input changes, until
        none improves. Gives a lower bound on the true optimum; :data:`NB301_OPTIMUM`
        is its result for ``samples=100_000, climbs=100, seed=2``.
        """
        rng = np.random.default_rng(seed)
        epoch = self.fidelities[-1]
        best = -np.inf
        genotypes: list[dict[str, list[tuple[str, int]]]] = []
        scores: list[np.ndarray] = []
        for start in range(0, samples, 10_000):
            batch = [_random_genotype(rng) for _ in range(min(10_000, samples - start))]
            genotypes += batch
            scores.append(self.predict(batch, epoch)[:, 0])
        flat = np.concatenate(scores) if scores else np.empty(0)
        for index in np.argsort(-flat)[:climbs]:
            current, score = genotypes[int(index)], float(flat[int(index)])
            while True:
                moves = _genotype_moves(current)
                values = self.predict(moves, epoch)[:, 0]
                top = int(np.argmax(values))
                if values[top] <= score:
                    break
                current, score = moves[top], float(values[top])
            best = max(best, score)
        if flat.size:
            best = max(best, float(flat.max()))
        return float(best)

    # -- pickling (an onnxruntime session does not pickle) ----------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_session"] = None
        state["_ort"] = None
        state["_lock"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise TableError(f"{path} is not readable JSON ({type(err).__name__}: {err})") from err


def _read_encoding(path: Path) -> list[dict[str, int]]:
    """The integer codes of the 34 categorical inputs, in :data:`NB301_CAT_NAMES` order."""
    raw = _read_json(path)
    encoders = []
    for name in NB301_CAT_NAMES:
        codes = raw.get(name) if isinstance(raw, dict) else None
        choices = DARTS_OPS if "_edge_" in name else _input_pairs(int(name[-1]) - 2)
        if not isinstance(codes, dict) or not {_NA, *choices} <= codes.keys():
            raise TableError(
                f"{path}: expected integer codes for {name} covering {[_NA, *choices]}"
            )
        encoders.append({str(k): int(v) for k, v in codes.items()})
    return encoders


def _input_pairs(node: int) -> list[str]:
    """The ``"i_j"`` values of intermediate node ``node`` (1..3): its two sources."""
    return [f"{i}_{j}" for i in range(node + 2) for j in range(i + 1, node + 2)]


def _read_config_space(path: Path) -> tuple[int, int]:
    """Check the conditions against the edge numbering; return the epoch range."""
    raw = _read_json(path)
    try:
        params = {p["name"]: p for p in raw["hyperparameters"]}
        epoch = params["epoch"]
        low, high = int(epoch["lower"]), int(epoch["upper"])
        conditions = {c["child"]: (c["parent"], set(c["values"])) for c in raw["conditions"]}
    except (KeyError, TypeError, ValueError) as err:
        raise TableError(
            f"{path}: expected a ConfigSpace JSON with hyperparameters (incl. an integer "
            f"'epoch') and conditions ({type(err).__name__}: {err})"
        ) from None
    missing = [name for name in NB301_CAT_NAMES if name not in params]
    if missing or not 1 <= low <= high:
        raise TableError(f"{path}: lacks hyperparameters {missing} or has epochs {low}..{high}")
    for cell in CELL_TYPES:
        for k in range(1, NUM_NODES):
            parent = f"{_PREFIX}inputs_node_{cell}_{k + 2}"
            for source in range(k + 2):
                child = f"{_PREFIX}edge_{cell}_{_EDGE_OFFSET[k] + source}"
                expected = {p for p in _input_pairs(k) if str(source) in p.split("_")}
                if conditions.get(child) != (parent, expected):
                    raise TableError(
                        f"{path}: the condition of {child} is {conditions.get(child)}; the "
                        f"DARTS edge numbering needs {parent} in {sorted(expected)}"
                    )
    return low, high


def _random_genotype(rng: np.random.Generator) -> dict[str, list[tuple[str, int]]]:
    genotype: dict[str, list[tuple[str, int]]] = {}
    for cell in CELL_TYPES:
        pairs: list[tuple[str, int]] = []
        for k in range(NUM_NODES):
            for source in rng.choice(k + 2, size=2, replace=False):
                pairs.append((DARTS_OPS[int(rng.integers(len(DARTS_OPS)))], int(source)))
        genotype[cell] = pairs
    return genotype


def _genotype_moves(genotype: Mapping[str, list[tuple[str, int]]]) -> list[dict[str, Any]]:
    """Every genotype one op or one input change away (DARTSSpace's mutation moves)."""
    moves: list[dict[str, Any]] = []
    for cell in CELL_TYPES:
        pairs = genotype[cell]
        for slot, (op, source) in enumerate(pairs):
            other = pairs[slot ^ 1][1]
            changes = [(new, source) for new in DARTS_OPS if new != op]
            changes += [(op, s) for s in range(slot // 2 + 2) if s not in (source, other)]
            for change in changes:
                moves.append({**genotype, cell: [*pairs[:slot], change, *pairs[slot + 1 :]]})
    return moves

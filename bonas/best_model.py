"""The best model of a search, saved so that it can be rebuilt, used and exported.

``bonas search`` writes three files to its output folder:

* ``best_model.pt``: the best network's ``state_dict`` (a plain mapping of tensors, as
  ``torch.save`` writes it);
* ``best_model.json``: how to rebuild that network (the architecture, the input shape,
  the number of outputs and the builder's options, such as the width multiplier the
  search trained with), with the job, budget, epochs and value it reached and the
  versions that wrote it;
* ``best_architecture.json``: the architecture alone, as before.

:func:`load_model` reads them back into a ready ``torch.nn.Module``;
:func:`export_program` writes a ``torch.export`` program (a ``.pt2`` file) that plain
PyTorch loads without bonas. Every failure is a :class:`~bonas.ModelFileError` that
names the file, and an export of an older bonas (a bare ``state_dict``, no
``best_model.json``) a :class:`~bonas.LegacyModelError` that says how to rewrite it.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bonas.architecture import Architecture
from bonas.exceptions import BonasError, LegacyModelError, ModelFileError

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = [
    "MODEL_FORMAT",
    "MODEL_VERSION",
    "ModelInfo",
    "export_program",
    "load_model",
    "read_model_info",
    "read_torch_file",
    "write_model_record",
]

#: The ``format`` of a ``best_model.json`` record.
MODEL_FORMAT = "bonas-model"
#: Its layout's version.
MODEL_VERSION = 1
#: The files of a search folder.
WEIGHTS_NAME = "best_model.pt"
RECORD_NAME = "best_model.json"


@dataclass(frozen=True)
class ModelInfo:
    """What a saved model records about itself (``model.bonas_info`` after
    :func:`load_model`).

    Attributes:
        architecture: The network's architecture.
        input_shape: One example's shape without the batch axis, e.g. ``(1, 28, 28)``.
        num_outputs: Classes (the network's outputs).
        build_options: The keywords of :func:`bonas.evaluation.build_network` it was
            trained with (``width_multiplier`` for CNN and MLP spaces).
        weights: The ``state_dict`` file.
        record: The ``best_model.json`` file (``None`` for a training checkpoint).
        job: The search's job that trained it, when known.
        budget: That job's budget, when known.
        epochs: Epochs trained, when known.
        value: The value it reached (the validation accuracy of ``bonas search``).
        direction: ``maximize`` or ``minimize``: which values are better.
        search: What was searched (space, dataset, objective, scheduler...).
        bonas_version: The bonas that wrote it.
    """

    architecture: Architecture
    input_shape: tuple[int, ...]
    num_outputs: int
    build_options: dict[str, Any]
    weights: Path
    record: Path | None = None
    job: int | None = None
    budget: float | None = None
    epochs: int | None = None
    value: float | None = None
    direction: str = "maximize"
    search: dict[str, Any] = field(default_factory=dict)
    bonas_version: str | None = None


def write_model_record(
    weights: str | Path,
    architecture: Architecture,
    *,
    input_shape: Sequence[int],
    num_outputs: int,
    build_options: Mapping[str, Any] | None = None,
    job: int | None = None,
    budget: float | None = None,
    epochs: int | None = None,
    value: float | None = None,
    direction: str = "maximize",
    search: Mapping[str, Any] | None = None,
) -> Path:
    """Write the ``best_model.json`` record beside the ``state_dict`` file ``weights``.

    Args:
        weights: The ``state_dict`` file (``best_model.pt``); the record gets its name
            with the suffix ``.json`` and keeps its checksum.
        architecture: The network's architecture.
        input_shape: One example's shape, without the batch axis.
        num_outputs: The network's outputs (classes).
        build_options: The keywords of :func:`~bonas.evaluation.build_network`; they
            must be JSON-compatible.
        job, budget, epochs, value, direction: Where the weights come from.
        search: JSON-compatible notes on what was searched.

    Returns:
        The record's path.

    Raises:
        ModelFileError: If ``weights`` is missing or an option is not JSON-compatible.

    Example:
        >>> write_model_record("out/best_model.pt", arch, input_shape=(1, 28, 28),
        ...                    num_outputs=10)  # doctest: +SKIP
        PosixPath('out/best_model.json')
    """
    from bonas import __version__

    weights = Path(weights)
    if not weights.is_file():
        raise ModelFileError(f"no weights at {weights} to describe")
    record = {
        "format": MODEL_FORMAT,
        "version": MODEL_VERSION,
        "weights": weights.name,
        "weights_sha256": _sha256(weights),
        "architecture": architecture.to_dict(),
        "input_shape": [int(n) for n in input_shape],
        "num_outputs": int(num_outputs),
        "build_options": dict(build_options or {}),
        "job": None if job is None else int(job),
        "budget": None if budget is None else float(budget),
        "epochs": None if epochs is None else int(epochs),
        "value": None if value is None else float(value),
        "direction": direction,
        "search": dict(search or {}),
        "bonas_version": __version__,
        "torch_version": _torch_version(),
        "exported_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    path = weights.with_suffix(".json")
    try:  # a key a line, each value on its line
        lines = [f" {json.dumps(k)}: {json.dumps(v, allow_nan=False)}" for k, v in record.items()]
    except (TypeError, ValueError) as err:
        raise ModelFileError(
            f"cannot record how to rebuild {weights}: a build option or note is not "
            f"JSON-compatible ({err})"
        ) from None
    partial = path.with_name(path.name + ".tmp")
    partial.write_text("{\n" + ",\n".join(lines) + "\n}\n")
    partial.replace(path)
    return path


def read_model_info(path: str | os.PathLike[str]) -> ModelInfo:
    """What the saved model at ``path`` records, without building it.

    Args:
        path: A ``bonas search`` output folder, its ``best_model.pt`` or
            ``best_model.json``, or a training checkpoint of the search's
            ``checkpoints/`` folder.

    Raises:
        ModelFileError: If the path is missing, unreadable or not a bonas model.
        LegacyModelError: If it is an export of an older bonas, which does not record
            how to rebuild the network.

    Example:
        >>> read_model_info("bonas-search").input_shape  # doctest: +SKIP
        (1, 28, 28)
    """
    source = _as_path(path)
    if source.is_dir():
        return _read_folder(source)
    if not source.is_file():
        raise ModelFileError(
            f"no bonas model at {source}: give a `bonas search` output folder, or its "
            f"{WEIGHTS_NAME} or {RECORD_NAME}"
        )
    if source.suffix == ".json":
        return _read_record(source)
    beside = source.with_suffix(".json")
    if beside.is_file():
        return _read_record(beside, weights=source)
    return _read_checkpoint(source)


def load_model(
    path: str | os.PathLike[str],
    *,
    map_location: Any = None,
    device: str | torch.device | None = None,
) -> nn.Module:
    """The best model of a search, rebuilt, with its trained weights, in eval mode.

    Args:
        path: A ``bonas search`` output folder (``bonas-search`` by default), its
            ``best_model.pt`` or ``best_model.json``, or a training checkpoint from its
            ``checkpoints/`` folder.
        map_location: Passed to ``torch.load`` (``"cpu"`` by default).
        device: Where the module goes (by default ``map_location`` when it names a
            device, else the CPU).

    Returns:
        The ``torch.nn.Module``, in eval mode; ``model.bonas_info`` is its
        :class:`ModelInfo` (``input_shape``, ``num_outputs``, ``value``...). It maps a
        batch ``(n, *input_shape)`` to logits ``(n, num_outputs)``.

    Raises:
        ModelFileError: If the path is missing, unreadable, not a bonas model, or its
            weights do not fit the network its record describes; the message names
            the file.
        LegacyModelError: If it is an export of an older bonas (a bare ``state_dict``):
            ``bonas export DIR`` rewrites the export of a search folder with the record.

    Example:
        >>> import torch
        >>> model = load_model("bonas-search")  # doctest: +SKIP
        >>> x = torch.zeros(4, *model.bonas_info.input_shape)  # doctest: +SKIP
        >>> model(x).argmax(dim=1).shape  # doctest: +SKIP
        torch.Size([4])
    """
    import torch

    from bonas.evaluation import build_network

    info = read_model_info(path)
    target = device if device is not None else map_location
    if not isinstance(target, str | torch.device):
        target = "cpu"
    try:
        target = torch.device(target)
    except (RuntimeError, TypeError) as err:
        raise ModelFileError(f"cannot load {info.weights} onto {target!r}: {err}") from None
    state = read_torch_file(info.weights, "cpu" if map_location is None else map_location)
    if _is_checkpoint(state):
        state = state["model"]
    if not _is_state_dict(state):
        raise ModelFileError(f"{info.weights} holds a {type(state).__name__}, not a state_dict")
    described = info.record or info.weights
    try:
        model = build_network(
            info.architecture, info.input_shape, info.num_outputs, **info.build_options
        )
    except (BonasError, TypeError, ValueError) as err:
        raise ModelFileError(
            f"{described} describes a network that cannot be built: {err}"
        ) from None
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        reason = " ".join(str(err).split())
        raise ModelFileError(
            f"the weights in {info.weights} do not fit the network {described} describes: "
            f"{reason[:300]}"
        ) from None
    try:
        model = model.to(target)
    except (RuntimeError, AssertionError) as err:  # AssertionError: torch without CUDA
        raise ModelFileError(
            f"cannot move the model of {info.weights} to {target}: {err}"
        ) from None
    model.eval()
    model.bonas_info = info  # type: ignore[assignment]
    return model


def export_program(model: nn.Module, out: str | os.PathLike[str]) -> Path:
    """Write ``model`` (from :func:`load_model`) as a ``torch.export`` program that plain
    PyTorch loads: ``torch.export.load(out).module()``.

    The batch axis is left free, so the program takes any number of examples of the
    recorded input shape.

    Args:
        model: A module from :func:`load_model` (it carries ``bonas_info``).
        out: The file, ending in ``.pt2`` (what ``torch.export.load`` reads).

    Returns:
        The file.

    Raises:
        ModelFileError: If ``out`` does not end in ``.pt2``, the model carries no
            ``bonas_info``, or PyTorch cannot export it.

    Example:
        >>> export_program(load_model("bonas-search"), "model.pt2")  # doctest: +SKIP
        PosixPath('model.pt2')
    """
    import torch

    out = Path(out)
    if out.suffix != ".pt2":
        raise ModelFileError(
            f"{out}: a torch.export program is read by torch.export.load from a .pt2 "
            "file; give a name ending in .pt2"
        )
    info = getattr(model, "bonas_info", None)
    if not isinstance(info, ModelInfo):
        raise ModelFileError("export_program takes a model from bonas.load_model")
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    example = torch.zeros(2, *info.input_shape, device=device)
    batch = torch.export.Dim("batch", min=1)
    model.eval()
    try:
        program = torch.export.export(model, (example,), dynamic_shapes=({0: batch},))
    except Exception as err:  # torch raises many kinds: say which, once
        reason = " ".join(str(err).split())[:300]
        raise ModelFileError(
            f"PyTorch cannot export the network of {info.weights}: {type(err).__name__}: {reason}"
        ) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.export.save(program, out)
    return out


# -- reading ------------------------------------------------------------------------


def _as_path(path: Any) -> Path:
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, str | os.PathLike):
        raise ModelFileError(
            f"a model path is text or a path (str or os.PathLike), not {type(path).__name__}"
        )
    return Path(path)


def _read_folder(folder: Path) -> ModelInfo:
    weights, record = folder / WEIGHTS_NAME, folder / RECORD_NAME
    if record.is_file():
        return _read_record(record)
    if weights.is_file():
        return _read_checkpoint(weights)
    if (folder / "study.db").is_file():
        raise ModelFileError(
            f"{folder} has no {WEIGHTS_NAME}: its search has not written one (no job "
            f"completed, or it is still running); `bonas export {folder}` writes it from "
            "the study once a job has completed"
        )
    raise ModelFileError(
        f"{folder} is not a bonas search folder: it has no {WEIGHTS_NAME} or {RECORD_NAME}"
    )


def _read_record(record: Path, weights: Path | None = None) -> ModelInfo:
    try:
        data = json.loads(record.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelFileError(f"{record} is not a readable model record ({err})") from None
    if not isinstance(data, dict) or data.get("format") != MODEL_FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ModelFileError(f"{record} is not a bonas model record (format {found!r})")
    if not isinstance(data.get("version"), int) or data["version"] > MODEL_VERSION:
        raise ModelFileError(
            f"{record} is a version {data.get('version')!r} model record; this bonas reads "
            f"version {MODEL_VERSION} (upgrade bonas)"
        )
    try:
        named = data["weights"]
        if not isinstance(named, str) or not named or Path(named).name != named:
            raise ValueError(f"'weights' must be a file name, got {named!r}")
        shape = tuple(int(n) for n in data["input_shape"])
        outputs = int(data["num_outputs"])
        options = data.get("build_options") or {}
        if not isinstance(options, dict):
            raise TypeError(f"'build_options' must be an object, got {type(options).__name__}")
        search = data.get("search") or {}
        if not isinstance(search, dict):
            raise TypeError(f"'search' must be an object, got {type(search).__name__}")
        architecture = Architecture.from_dict(data["architecture"])
        info = ModelInfo(
            architecture=architecture,
            input_shape=shape,
            num_outputs=outputs,
            build_options=dict(options),
            weights=weights if weights is not None else record.parent / named,
            record=record,
            job=_optional(data.get("job"), int),
            budget=_optional(data.get("budget"), float),
            epochs=_optional(data.get("epochs"), int),
            value=_optional(data.get("value"), float),
            direction=str(data.get("direction") or "maximize"),
            search=search,
            bonas_version=_optional(data.get("bonas_version"), str),
        )
    except (KeyError, TypeError, ValueError, BonasError) as err:
        what = f"missing {err}" if isinstance(err, KeyError) else str(err)
        raise ModelFileError(f"{record} is a malformed model record: {what}") from None
    if not shape or any(n < 1 for n in shape) or outputs < 1:
        raise ModelFileError(
            f"{record} is a malformed model record: input_shape {list(shape)}, "
            f"num_outputs {outputs}"
        )
    if not info.weights.is_file():
        raise ModelFileError(f"{record} describes weights {info.weights} that are missing")
    checksum = data.get("weights_sha256")
    if weights is None and isinstance(checksum, str) and checksum != _sha256(info.weights):
        raise ModelFileError(
            f"{info.weights} is not the file {record} describes (its checksum differs); "
            f"run `bonas export {record.parent}` to write both again"
        )
    return info


def _read_checkpoint(path: Path) -> ModelInfo:
    """A file without a record beside it: a training checkpoint (which records how its
    network was built), or an older bonas's bare ``state_dict``."""
    state = read_torch_file(path, "cpu")
    if _is_checkpoint(state):
        network = state.get("network")
        try:
            architecture = Architecture.from_json(state["architecture"])
            if network is None:
                raise LegacyModelError(
                    f"{path} is a training checkpoint of an older bonas: it does not record "
                    "the input shape, number of classes and width multiplier its network "
                    f"was built with; {_rewrite_hint(path)}"
                )
            if network.get("unrecorded"):
                raise ModelFileError(
                    f"{path} was trained with build options that cannot be saved "
                    f"({', '.join(network['unrecorded'])}); build the network with "
                    "bonas.evaluation.build_network and load_state_dict(checkpoint['model'])"
                )
            return ModelInfo(
                architecture=architecture,
                input_shape=tuple(int(n) for n in network["input_shape"]),
                num_outputs=int(network["num_outputs"]),
                build_options=dict(network.get("options") or {}),
                weights=path,
                epochs=_optional(state.get("epoch"), int),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ModelFileError(f"{path} is a malformed training checkpoint ({err})") from None
        except BonasError as err:
            if isinstance(err, ModelFileError):
                raise
            raise ModelFileError(f"{path} is a malformed training checkpoint ({err})") from None
    if _is_state_dict(state):
        raise LegacyModelError(
            f"{path} is a bare state_dict (an export of an older bonas, no {RECORD_NAME} "
            "beside it): it does not record the input shape, number of classes and width "
            f"multiplier needed to rebuild its network; {_rewrite_hint(path)}"
        )
    raise ModelFileError(
        f"{path} holds a {type(state).__name__}, not a bonas model (a state_dict with "
        f"{RECORD_NAME} beside it, or a training checkpoint)"
    )


def _rewrite_hint(path: Path) -> str:
    """How to get the missing record for a file at ``path``."""
    for folder in (path.parent, path.parent.parent):
        if (folder / "study.db").is_file():
            return (
                f"run `bonas export {folder}` to rewrite the export with them from its study "
                "and checkpoints"
            )
    return (
        "run `bonas export DIR` on the search folder it came from, or build the network with "
        "bonas.evaluation.build_network(arch, input_shape, classes, width_multiplier=...) and "
        "load_state_dict"
    )


def read_torch_file(path: Path, map_location: Any) -> Any:
    """``torch.load(path, weights_only=True)`` (no arbitrary pickles); any failure, or a
    program file (``torch.export``, TorchScript), a :class:`ModelFileError` naming it."""
    import torch

    program = _program_kind(path)
    if program:
        raise ModelFileError(program)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (
        OSError,
        RuntimeError,
        EOFError,
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
        pickle.UnpicklingError,
        zipfile.BadZipFile,
    ) as err:
        reason = " ".join(str(err).split())[:200]
        raise ModelFileError(f"{path} is not a readable torch file ({reason})") from None


def _program_kind(path: Path) -> str | None:
    """A message for a program file (which ``torch.load`` cannot read), or ``None``."""
    try:
        if not zipfile.is_zipfile(path):
            return None
        names = zipfile.ZipFile(path).namelist()
    except (OSError, zipfile.BadZipFile):
        return None
    if any(name.endswith("/archive_format") or "/models/" in name for name in names):
        return (
            f"{path} is a torch.export program (what `bonas export` writes): load it with "
            f"torch.export.load({str(path)!r}).module()"
        )
    if any("/code/" in name or name.endswith("constants.pkl") for name in names):
        return f"{path} is a TorchScript program: load it with torch.jit.load({str(path)!r})"
    return None


def _is_checkpoint(state: Any) -> bool:
    return isinstance(state, dict) and "model" in state and "architecture" in state


def _is_state_dict(state: Any) -> bool:
    import torch

    return (
        isinstance(state, Mapping)
        and len(state) > 0
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())
    )


def _optional(value: Any, kind: type) -> Any:
    return None if value is None else kind(value)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _torch_version() -> str | None:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return None
    return str(torch.__version__)

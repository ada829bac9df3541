"""Train an architecture to a budget, and continue it from a checkpoint at a higher one.

:class:`Trainer` compiles an architecture with :func:`~bonas.evaluation.build_network`
and trains it on a :class:`~bonas.evaluation.Dataset`:

* the budget is in epochs (``budget_unit="epochs"``), or a fraction of the training
  data trained for ``epochs`` (``budget_unit="data"``);
* SGD with Nesterov momentum or AdamW, with a cosine learning-rate schedule over
  ``max_epochs`` (the top budget), so that a run stopped at a low budget and continued
  follows the same schedule as one trained straight through;
* on CUDA when there is one (bf16 autocast, channels-last), on the CPU otherwise;
* deterministic for a seed: the weights are drawn and the batches shuffled from the
  trainer's own generators, and the global RNG state is left as it was;
* it reports the validation accuracy after every epoch, the wall-clock, the parameter
  count and the FLOPs of one forward pass.

A checkpoint holds the model, optimiser and scheduler states, the epoch reached and how
the network was built (:meth:`Trainer.network_record`);
``train(arch, 9, resume=checkpoint_at_3)`` trains epochs 4..9 only, and gives the same
weights as ``train(arch, 9)`` from scratch.

Example:
    >>> from bonas.evaluation import Trainer, load_dataset
    >>> from bonas.spaces import blocked_cnn
    >>> trainer = Trainer(load_dataset("mnist5k").subset(0.1), max_epochs=2, seed=0)
    >>> result = trainer.train(blocked_cnn(1, 1), budget=1)   # doctest: +SKIP
    >>> 0 <= result.val_accuracy <= 1, result.epochs          # doctest: +SKIP
    (True, 1)
"""

from __future__ import annotations

import math
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bonas.architecture import Architecture
from bonas.evaluation.builder import build_network, count_parameters
from bonas.evaluation.data import Dataset
from bonas.exceptions import BonasError

__all__ = ["TrainResult", "Trainer", "TrainingError"]


class TrainingError(BonasError):
    """A training run could not start or continue (bad budget, unreadable checkpoint)."""


@dataclass
class TrainResult:
    """What one training run reports.

    Attributes:
        val_accuracy: Validation accuracy in ``[0, 1]`` at the end.
        val_curve: Validation accuracy after each epoch trained in this run.
        epochs: The epoch reached (the budget, in epochs).
        wall_s: Seconds this run took (training and validation).
        params: Trainable parameters.
        flops: Floating-point operations of one forward pass of one example.
        resumed_from: The epoch of the checkpoint it continued from, or ``None``.
        device: Where it ran.
    """

    val_accuracy: float
    val_curve: list[float]
    epochs: int
    wall_s: float
    params: int
    flops: int
    resumed_from: int | None
    device: str
    extra: dict[str, Any] = field(default_factory=dict)


class Trainer:
    """Trains architectures on one dataset with one recipe.

    Args:
        dataset: The training and validation data.
        optimizer: ``sgd`` (Nesterov momentum 0.9) or ``adamw``.
        learning_rate: The peak learning rate.
        weight_decay: L2 (SGD) or decoupled (AdamW) weight decay.
        batch_size: Examples per step.
        max_epochs: The cosine schedule's length; the highest budget a scheduler uses.
        budget_unit: ``epochs``, or ``data`` (a budget is the fraction of the training
            data, trained for ``epochs`` epochs).
        epochs: Epochs per run when ``budget_unit="data"``.
        device: ``auto`` (CUDA if there is one), ``cpu``, ``cuda`` or ``cuda:k``.
        seed: Seed of the weights and the batch order.
        network: Options of :func:`~bonas.evaluation.build_network`: ``width_multiplier``
            for CNN and MLP architectures (a cheaper proxy of the same topology), or a
            cell skeleton's ``channels`` and ``cells_per_stage``.

    Raises:
        TrainingError: For an unknown optimiser or unit, or a non-positive setting.
    """

    def __init__(
        self,
        dataset: Dataset,
        *,
        optimizer: str = "sgd",
        learning_rate: float | None = None,
        weight_decay: float = 5e-4,
        batch_size: int = 128,
        max_epochs: int = 27,
        budget_unit: str = "epochs",
        epochs: int = 1,
        device: str = "auto",
        seed: int = 0,
        network: dict[str, Any] | None = None,
    ) -> None:
        if optimizer not in ("sgd", "adamw"):
            raise TrainingError(f"optimizer must be 'sgd' or 'adamw', got {optimizer!r}")
        if budget_unit not in ("epochs", "data"):
            raise TrainingError(f"budget_unit must be 'epochs' or 'data', got {budget_unit!r}")
        if batch_size < 1 or max_epochs < 1 or epochs < 1:
            raise TrainingError(
                f"batch_size, max_epochs and epochs must be positive, got {batch_size}, "
                f"{max_epochs}, {epochs}"
            )
        self.dataset = dataset
        self.optimizer = optimizer
        self.learning_rate = learning_rate or (0.05 if optimizer == "sgd" else 1e-3)
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.budget_unit = budget_unit
        self.epochs = epochs
        self.seed = seed
        self.network = dict(network or {})
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)

    def network_record(self) -> dict[str, Any]:
        """How this trainer builds its networks, as checkpoints keep it (so that
        :func:`bonas.load_model` can rebuild one): ``input_shape``, ``num_outputs`` and
        the JSON-compatible ``options`` of :func:`~bonas.evaluation.build_network`, with
        the names of any others (an ``op_factories`` mapping, say) in ``unrecorded``.
        """
        options = {k: v for k, v in self.network.items() if _plain(v)}
        return {
            "input_shape": [int(n) for n in self.dataset.input_shape],
            "num_outputs": int(self.dataset.num_classes),
            "options": options,
            "unrecorded": sorted(set(self.network) - set(options)),
        }

    # -- the run ---------------------------------------------------------------------

    def train(
        self,
        arch: Architecture,
        budget: float,
        *,
        resume: str | Path | None = None,
        checkpoint: str | Path | None = None,
    ) -> TrainResult:
        """Train ``arch`` to ``budget``, optionally from a lower budget's checkpoint.

        Args:
            arch: A CNN- or MLP-space architecture, or a cell (NB201, NB101, DARTS).
            budget: Epochs (rounded to the nearest whole epoch, at least 1), or a data
                fraction in ``(0, 1]``.
            resume: A checkpoint this trainer wrote for ``arch`` at a lower budget.
            checkpoint: Where to write the state at the end, for a later ``resume``.

        Raises:
            TrainingError: For a bad budget, or a checkpoint that is unreadable, of
                another architecture, or at a higher budget than ``budget``.
        """
        started = time.perf_counter()
        data = self.dataset
        if self.budget_unit == "data":
            if not 0 < budget <= 1:
                raise TrainingError(f"a data-fraction budget must be in (0, 1], got {budget}")
            data = data.subset(float(budget), seed=self.seed)
            target = self.epochs
            if resume is not None:
                raise TrainingError("data-fraction budgets train from scratch; drop resume")
        else:
            if not budget > 0:
                raise TrainingError(f"an epoch budget must be positive, got {budget}")
            target = max(1, round(float(budget)))
        with torch.random.fork_rng(devices=[]):  # the weights' draw leaves global state alone
            torch.manual_seed(self.seed)
            model = build_network(arch, data.input_shape, data.num_classes, **self.network)
        model = model.to(self.device)
        if self.device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        optimizer = self._optimizer(model)
        schedule_length = self.max_epochs if self.budget_unit == "epochs" else self.epochs
        steps_per_epoch = math.ceil(len(data.train_y) / self.batch_size)
        total_steps = schedule_length * steps_per_epoch

        def cosine(step: int) -> float:
            return 0.5 * (1 + math.cos(math.pi * min(1.0, step / total_steps)))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine)
        reached = 0
        resumed_from = None
        if resume is not None:
            reached = self._load(Path(resume), arch, model, optimizer, scheduler, target)
            resumed_from = reached
        curve = []
        for epoch in range(reached + 1, target + 1):
            self._train_epoch(model, optimizer, scheduler, data, epoch)
            curve.append(self._accuracy(model, data.val_x, data.val_y))
        if not curve:  # resumed at the budget already: report it
            curve.append(self._accuracy(model, data.val_x, data.val_y))
        if checkpoint is not None:
            self._save(Path(checkpoint), arch, model, optimizer, scheduler, target)
        return TrainResult(
            val_accuracy=curve[-1],
            val_curve=curve,
            epochs=target,
            wall_s=time.perf_counter() - started,
            params=count_parameters(model),
            flops=self._flops(model, data),
            resumed_from=resumed_from,
            device=str(self.device),
        )

    # -- pieces ----------------------------------------------------------------------

    def _optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        if self.optimizer == "sgd":
            return torch.optim.SGD(
                model.parameters(), lr=self.learning_rate, momentum=0.9, nesterov=True,
                weight_decay=self.weight_decay,
            )  # fmt: skip
        return torch.optim.AdamW(
            model.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )

    def _train_epoch(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        data: Dataset,
        epoch: int,
    ) -> None:
        model.train()
        # each epoch's order depends on the seed and the epoch only, so a continued run
        # sees the batches a straight one would
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(len(data.train_y), generator=generator)
        loss_fn = nn.CrossEntropyLoss()
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            x = data.train_x[index].to(self.device, non_blocking=True)
            y = data.train_y[index].to(self.device, non_blocking=True)
            if self.device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(
                self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"
            ):
                loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            scheduler.step()

    @torch.no_grad()
    def _accuracy(self, model: nn.Module, x_all: torch.Tensor, y_all: torch.Tensor) -> float:
        model.eval()
        correct = 0
        for start in range(0, len(y_all), 1024):
            x = x_all[start : start + 1024].to(self.device)
            if self.device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(
                self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"
            ):
                logits = model(x)
            correct += int((logits.argmax(dim=1).cpu() == y_all[start : start + 1024]).sum())
        return correct / len(y_all)

    @torch.no_grad()
    def _flops(self, model: nn.Module, data: Dataset) -> int:
        from torch.utils.flop_counter import FlopCounterMode

        model.eval()
        counter = FlopCounterMode(display=False)
        with counter:
            model(data.val_x[:1].to(self.device))
        return int(counter.get_total_flops())

    def _save(
        self, path: Path, arch: Architecture, model: nn.Module, optimizer: Any, scheduler: Any,
        epoch: int,
    ) -> None:  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "architecture": arch.to_json(),
            "epoch": epoch,
            "seed": self.seed,
            "network": self.network_record(),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
        }
        partial = path.with_suffix(path.suffix + ".tmp")
        torch.save(state, partial)
        partial.replace(path)  # a run killed while saving leaves the old checkpoint

    def _load(
        self, path: Path, arch: Architecture, model: nn.Module, optimizer: Any, scheduler: Any,
        target: int,
    ) -> int:  # fmt: skip
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
            saved = Architecture.from_json(state["architecture"])
            epoch = int(state["epoch"])
        except (
            OSError,
            RuntimeError,
            KeyError,
            ValueError,
            TypeError,
            pickle.UnpicklingError,
        ) as err:
            raise TrainingError(f"{path}: not a readable bonas checkpoint ({err})") from None
        if saved != arch:
            raise TrainingError(f"{path} is a checkpoint of another architecture")
        if epoch > target:
            raise TrainingError(f"{path} is at epoch {epoch}, beyond the budget {target}")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        return epoch


def _plain(value: Any) -> bool:
    """JSON-compatible numbers, text and lists of them (what a checkpoint can record)."""
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, bool | int | float | str)

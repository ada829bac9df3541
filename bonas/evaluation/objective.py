"""The training objective of multi-fidelity searches: a picklable callable that workers run.

:class:`TrainingObjective` is what :func:`bonas.search_multifidelity` (and ``bonas
search``) hands to an executor: ``objective(architecture, budget, resume_from)`` trains
the architecture to ``budget`` with a :class:`~bonas.evaluation.Trainer`, continuing
from the checkpoint it wrote at ``resume_from``, saves a checkpoint at ``budget`` for
later promotions, and returns the validation accuracy with the run's figures.

It holds only names and numbers, so it pickles cheaply to worker processes and Dask
workers; each worker loads the dataset once and keeps it.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bonas.architecture import Architecture
from bonas.evaluation.data import Dataset, load_dataset

__all__ = ["TrainingObjective", "checkpoint_path"]

_DATASETS: dict[tuple, Dataset] = {}  # per worker process


def checkpoint_path(folder: str | Path, architecture: Architecture, budget: float) -> Path:
    """Where a :class:`TrainingObjective` keeps ``architecture``'s state at ``budget``."""
    return Path(folder) / f"{architecture.canonical_hash[:20]}-b{float(budget):g}.pt"


@dataclass(frozen=True)
class TrainingObjective:
    """Trains architectures to budgets on one dataset, with checkpoints between budgets.

    Args:
        dataset: A name of :func:`~bonas.evaluation.load_dataset` (``mnist5k``, the
            embedded default; ``mnist``, ``fashionmnist``, ``cifar10``, ``cifar100``,
            ``imagefolder``).
        data_dir: Where the dataset lies (all but ``mnist5k``).
        download: Let torchvision download the dataset into ``data_dir``.
        checkpoint_dir: Where checkpoints go; shared by every worker (a network file
            system for remote Dask workers; a missing checkpoint means training from
            scratch, which costs time but not correctness).
        trainer: Keywords of :class:`~bonas.evaluation.Trainer` (``max_epochs``,
            ``optimizer``, ``learning_rate``, ``batch_size``, ``width_multiplier``,
            ``device``...). ``max_epochs`` should be the scheduler's top budget.
        data_fraction: Train on this share of the training split (a quicker proxy).
        threads: ``torch.set_num_threads`` in the worker (CPU workers sharing cores).

    Example:
        >>> objective = TrainingObjective("mnist5k", trainer={"max_epochs": 9})
        >>> result = objective(arch, 3, None)                # doctest: +SKIP
        >>> sorted(result)[:3]                               # doctest: +SKIP
        ['checkpoint', 'device', 'epochs']
    """

    dataset: str = "mnist5k"
    data_dir: str | None = None
    download: bool = False
    checkpoint_dir: str = "checkpoints"
    trainer: dict[str, Any] = field(default_factory=dict)
    data_fraction: float = 1.0
    seed: int = 0
    threads: int | None = None

    def load(self) -> Dataset:
        """The dataset, loaded once per process."""
        key = (self.dataset, self.data_dir, self.download, self.data_fraction, self.seed)
        if key not in _DATASETS:
            data = load_dataset(
                self.dataset, data_dir=self.data_dir, download=self.download, seed=self.seed
            )
            if self.data_fraction < 1.0:
                data = data.subset(self.data_fraction, seed=self.seed)
            _DATASETS[key] = data
        return _DATASETS[key]

    def __call__(
        self, architecture: Architecture, budget: float, resume_from: float | None = None
    ) -> dict[str, Any]:
        """Train ``architecture`` to ``budget``; returns ``value`` (validation accuracy),
        ``val_curve``, ``epochs``, ``resumed_from``, ``wall_s``, ``params``, ``flops``,
        ``device``, ``host``, ``pid`` and ``checkpoint``."""
        import torch

        from bonas.evaluation.trainer import Trainer

        if self.threads is not None:
            torch.set_num_threads(self.threads)
        trainer = Trainer(self.load(), seed=self.seed, **self.trainer)
        resume = None
        if resume_from is not None:
            earlier = checkpoint_path(self.checkpoint_dir, architecture, resume_from)
            resume = earlier if earlier.is_file() else None
        checkpoint = checkpoint_path(self.checkpoint_dir, architecture, budget)
        result = trainer.train(architecture, budget, resume=resume, checkpoint=checkpoint)
        return {
            "value": result.val_accuracy,
            "val_curve": result.val_curve,
            "epochs": result.epochs,
            "resumed_from": result.resumed_from,
            "wall_s": result.wall_s,
            "params": result.params,
            "flops": result.flops,
            "device": result.device,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "checkpoint": str(checkpoint),
        }

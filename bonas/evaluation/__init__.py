"""Training evaluations: build a module from an architecture, load data, train it.

* :func:`build_network`: CNN- and MLP-space architectures to ``torch.nn.Module``.
* :func:`load_dataset`: the embedded MNIST-5k set, torchvision datasets, image folders.
* :class:`Trainer`: epochs or data-fraction budgets, checkpoints that continue a run.
"""

from bonas.evaluation.builder import ArchitectureNetwork, build_network, count_parameters
from bonas.evaluation.data import DATASETS, Dataset, DatasetError, load_dataset
from bonas.evaluation.trainer import Trainer, TrainingError, TrainResult

__all__ = [
    "DATASETS",
    "ArchitectureNetwork",
    "Dataset",
    "DatasetError",
    "TrainResult",
    "Trainer",
    "TrainingError",
    "build_network",
    "count_parameters",
    "load_dataset",
]

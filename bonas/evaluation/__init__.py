"""Training evaluations: build a module from an architecture, load data, train it.

* :func:`build_network`: CNN- and MLP-space architectures to ``torch.nn.Module``, and
  cell architectures (NB201 / :class:`~bonas.spaces.CellSpace`, NB101, DARTS) inside
  their skeletons (:class:`NB201Network`, :class:`NB101Network`, :class:`DARTSNetwork`).
* :func:`load_dataset`: the embedded MNIST-5k set, torchvision datasets, image folders.
* :class:`Trainer`: epochs or data-fraction budgets, checkpoints that continue a run.
* :class:`TrainingObjective`: the picklable objective that search workers run.
"""

from bonas.evaluation.builder import ArchitectureNetwork, build_network, count_parameters
from bonas.evaluation.cell_ops import CELL_OPS, OpFactory, UnknownOpError
from bonas.evaluation.cells import (
    DARTSNetwork,
    NB101Network,
    NB201Network,
    build_cell_network,
    cell_family,
    nb101_cell_spec,
)
from bonas.evaluation.data import DATASETS, Dataset, DatasetError, load_dataset
from bonas.evaluation.objective import TrainingObjective, checkpoint_path
from bonas.evaluation.trainer import Trainer, TrainingError, TrainResult

__all__ = [
    "CELL_OPS",
    "DATASETS",
    "ArchitectureNetwork",
    "DARTSNetwork",
    "Dataset",
    "DatasetError",
    "NB101Network",
    "NB201Network",
    "OpFactory",
    "TrainResult",
    "Trainer",
    "TrainingError",
    "TrainingObjective",
    "UnknownOpError",
    "build_cell_network",
    "build_network",
    "cell_family",
    "checkpoint_path",
    "count_parameters",
    "load_dataset",
    "nb101_cell_spec",
]

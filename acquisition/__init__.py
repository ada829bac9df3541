"""Acquisition functions over architectures and their optimisers (``bonas.acquisition``)."""

from bonas.acquisition.functions import (
    ACQUISITIONS,
    make_acquisition,
    score,
    ucb_beta,
)
from bonas.acquisition.optimizer import (
    EvolutionaryAcquisitionOptimizer,
    ExhaustiveAcquisitionOptimizer,
    make_acquisition_optimizer,
)

__all__ = [
    "ACQUISITIONS",
    "EvolutionaryAcquisitionOptimizer",
    "ExhaustiveAcquisitionOptimizer",
    "make_acquisition",
    "make_acquisition_optimizer",
    "score",
    "ucb_beta",
]

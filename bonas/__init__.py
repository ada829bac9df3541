"""bonas: Bayesian optimisation for neural architecture search.

Architectures are immutable graphs of layers (:class:`Architecture`) drawn from search
spaces (:mod:`bonas.spaces`); they are compared by OTMANN / edit / WL distances
(:mod:`bonas.kernels`) that feed a GP surrogate whose acquisition
(:mod:`bonas.acquisition`) is maximised by mutation.
"""

from bonas.architecture import Architecture
from bonas.drawing import draw
from bonas.exceptions import (
    BonasError,
    BonasWarning,
    InvalidArchitectureError,
    InvalidSpaceError,
    NonPSDWarning,
    SerializationError,
)
from bonas.vocabulary import Vocabulary, get_vocabulary, register_vocabulary

__version__ = "0.1.0"

__all__ = [
    "Architecture",
    "BonasError",
    "BonasWarning",
    "InvalidArchitectureError",
    "InvalidSpaceError",
    "NonPSDWarning",
    "SerializationError",
    "Vocabulary",
    "__version__",
    "draw",
    "get_vocabulary",
    "register_vocabulary",
]

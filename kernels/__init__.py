"""Distances between architectures and the GP kernels built on them (``bonas.kernels``).

* :class:`OTMANNDistance`: NASBOT's optimal-transport distance (8 distances per pair).
"""

from bonas.kernels.label_costs import LabelCosts, get_label_costs
from bonas.kernels.otmann import (
    DEFAULT_LABEL_COEFFS,
    DEFAULT_STRUCT_COEFFS,
    ArchitectureProfile,
    OTMANNDistance,
    reference_distances,
    solve_transport,
)

__all__ = [
    "DEFAULT_LABEL_COEFFS",
    "DEFAULT_STRUCT_COEFFS",
    "ArchitectureProfile",
    "LabelCosts",
    "OTMANNDistance",
    "get_label_costs",
    "reference_distances",
    "solve_transport",
]

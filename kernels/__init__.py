"""Distances between architectures and the GP kernels built on them (``bonas.kernels``).

* :class:`OTMANNDistance`: NASBOT's optimal-transport distance (8 distances per pair).
* :class:`EditDistance`: exact edit distances on cell spaces, capped graph edit
  distance on free-form ones.
* :class:`WLFeaturizer`: Weisfeiler-Lehman subtree features (NAS-BOWL).
* :class:`ArchitectureRegistry`, :class:`DistanceCache`: architecture ids for GP inputs and
  distances computed once per pair.
* gpytorch kernels over ids: :class:`OTMANNKernel`, :class:`WLKernel`, :class:`EditKernel`,
  :class:`CategoricalKernel` (over a space's encoding); combine them with ``+`` and ``*``.
"""

from bonas.kernels.cache import ArchitectureRegistry, DistanceCache
from bonas.kernels.edit import EditDistance, EditResult, nb101_edit_distance, nb201_hamming
from bonas.kernels.label_costs import LabelCosts, get_label_costs
from bonas.kernels.otmann import (
    DEFAULT_LABEL_COEFFS,
    DEFAULT_STRUCT_COEFFS,
    ArchitectureProfile,
    OTMANNDistance,
    reference_distances,
    solve_transport,
)
from bonas.kernels.wl import (
    WLFeaturizer,
    gp_log_marginal_likelihood,
    select_wl_depth,
    wl_kernel_matrix,
)

# The GP kernels pull in torch and gpytorch: load them on first use only, so that the
# distances stay light, above all in the OTMANN worker processes (spawned, they import
# this package afresh, and torch alone takes seconds).
_LAZY = {
    "CategoricalKernel": "bonas.kernels.categorical",
    "CellOpsKernel": "bonas.kernels.categorical",
} | {
    name: "bonas.kernels.gp"
    for name in (
        "ArchitectureBudgetKernel",
        "ArchitectureKernel",
        "EditKernel",
        "OTMANNKernel",
        "WLKernel",
        "kernel_is_psd",
        "project_psd",
    )
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bonas.kernels' has no attribute {name!r}")


__all__ = [
    "DEFAULT_LABEL_COEFFS",
    "DEFAULT_STRUCT_COEFFS",
    "ArchitectureBudgetKernel",
    "ArchitectureKernel",
    "ArchitectureProfile",
    "ArchitectureRegistry",
    "CategoricalKernel",
    "CellOpsKernel",
    "DistanceCache",
    "EditDistance",
    "EditKernel",
    "EditResult",
    "LabelCosts",
    "OTMANNDistance",
    "OTMANNKernel",
    "WLFeaturizer",
    "WLKernel",
    "get_label_costs",
    "gp_log_marginal_likelihood",
    "kernel_is_psd",
    "nb101_edit_distance",
    "nb201_hamming",
    "project_psd",
    "reference_distances",
    "select_wl_depth",
    "solve_transport",
    "wl_kernel_matrix",
]

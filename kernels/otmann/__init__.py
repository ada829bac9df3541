"""OTMANN: NASBOT's optimal-transport distance between architectures.

Kandasamy, Neiswanger, Schneider, Poczos, Xing. "Neural Architecture Search with
Bayesian Optimisation and Optimal Transport". NeurIPS 2018. Reference code: dragonfly's
``dragonfly/nn/otmann.py``, whose values these match to about 1e-12 (see the tests).

For architectures ``G1`` (layers ``i``, masses ``m1``) and ``G2`` (``j``, ``m2``), with
totals ``T1``, ``T2`` and non-assignment penalty ``nu``, each coefficient pair
``(c_lab, c_str)`` gives the transport problem::

    C  = c_lab * nu * M_lab + c_str * M_str                         (n1, n2)
    C' = [[C, nu], [nu, 0]]   (a dummy row and column)              (n1 + 1, n2 + 1)
    lp = min <T, C'>  s.t.  T 1 = [m1, T2],  T^T 1 = [m2, T1],  T >= 0
    emd = lp / (T1 + T2)

``M_lab`` is the label-mismatch matrix (infinite across layer kinds) and
``M_str[i, j] = (mean_k |B1[i,k] - B2[j,k]| + mean_k |F1[i,k] - F2[j,k]|) / 2`` compares
shortest / longest / random-walk path lengths to the input (``B``) and the output
(``F``) per layer group. NASBOT's defaults are ``c_lab = (1, 1, 1, 1)``,
``c_str = (0.1, 0.25, 0.61, 1.5)``, ``nu = 1``: eight distances per pair, ordered
``lp, emd`` per coefficient pair.

Why this is fast and still exact: layers of kinds that cannot be matched exchange no
mass, and the dummy row and column absorb any amount at cost ``nu`` each way, so the
problem splits into one small problem per matchable class of labels (conv/res layers,
pools, fc layers, ``ip``, ``op``...). The sum of their optima is the optimum of the whole
problem. One-layer classes are solved in closed form; the rest go straight to POT's
network-simplex core, and per-architecture features are computed once.

Modules: :mod:`.profile` (per-architecture features), :mod:`.transport` (the solvers),
:mod:`.exact` (many pairs at once), :mod:`.bounds` (lower bounds), :mod:`.parallel` (the
process pool) and :mod:`.distance` (:class:`OTMANNDistance`).
"""

from bonas.kernels.otmann.distance import (
    DEFAULT_LABEL_COEFFS,
    DEFAULT_STRUCT_COEFFS,
    OTMANNDistance,
    reference_distances,
)
from bonas.kernels.otmann.profile import ArchitectureProfile
from bonas.kernels.otmann.transport import solve_transport

__all__ = [
    "DEFAULT_LABEL_COEFFS",
    "DEFAULT_STRUCT_COEFFS",
    "ArchitectureProfile",
    "OTMANNDistance",
    "reference_distances",
    "solve_transport",
]

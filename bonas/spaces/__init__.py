"""Search spaces: where architectures come from and how they are perturbed.

* :class:`CNNSpace`, :class:`MLPSpace`: NASBOT's free-form spaces (Kandasamy et al. 2018).
* :class:`CellSpace`: NAS-Bench-201-style cells over any ops and node count.
* :class:`GraphSpace`: free-form DAGs of layers over any vocabulary.
* :class:`SubsetSpace`: a finite set of another space's architectures (a table's rows).
* :class:`NB201Space`: NAS-Bench-201 cells (15,625).
* :class:`NB101Space`: NAS-Bench-101 cells (423,624), with the official hash.
* :class:`NBGraphSpace`: NAS-Bench-Graph GNN architectures.
* :class:`DARTSSpace`: DARTS / NAS-Bench-301 normal+reduce cells.
"""

from bonas.spaces.base import SearchSpace
from bonas.spaces.cell import CellSpace
from bonas.spaces.cnn import CNNSpace
from bonas.spaces.darts import DARTS_OPS, DARTSSpace
from bonas.spaces.graph import GraphSpace
from bonas.spaces.mlp import MLPSpace
from bonas.spaces.nasbot import (
    MUTATION_STEP_PROBS,
    PRIMITIVE_MASSES,
    NASBOTSpace,
    layer_masses,
)
from bonas.spaces.nasbot_zoo import blocked_cnn, blocked_mlp, multidepth_cnn, resnet_cnn, vgg_net
from bonas.spaces.nb101 import NB101_OPS, NB101Space, nb101_hash
from bonas.spaces.nb201 import NB201_EDGES, NB201_OPS, NB201Space
from bonas.spaces.nbgraph import NBGRAPH_LINKS, NBGRAPH_OPS, NBGRAPH_PROTEINS_OPS, NBGraphSpace
from bonas.spaces.subset import SubsetSpace

__all__ = [
    "DARTS_OPS",
    "MUTATION_STEP_PROBS",
    "NB101_OPS",
    "NB201_EDGES",
    "NB201_OPS",
    "NBGRAPH_LINKS",
    "NBGRAPH_OPS",
    "NBGRAPH_PROTEINS_OPS",
    "PRIMITIVE_MASSES",
    "CNNSpace",
    "CellSpace",
    "DARTSSpace",
    "GraphSpace",
    "MLPSpace",
    "NASBOTSpace",
    "NB101Space",
    "NB201Space",
    "NBGraphSpace",
    "SearchSpace",
    "SubsetSpace",
    "blocked_cnn",
    "blocked_mlp",
    "get_space",
    "layer_masses",
    "multidepth_cnn",
    "nb101_hash",
    "resnet_cnn",
    "vgg_net",
]

_SPACES: dict[str, type[SearchSpace]] = {
    "cnn": CNNSpace,
    "mlp": MLPSpace,
    "nb201": NB201Space,
    "cell": CellSpace,
    "graph": GraphSpace,
    "nb101": NB101Space,
    "nbgraph": NBGraphSpace,
    "darts": DARTSSpace,
}


def get_space(name: str, **config: object) -> SearchSpace:
    """Build a space by name (``cnn``, ``mlp``, ``nb201``, ``nb101``, ``nbgraph``, ``darts``)."""
    from bonas.exceptions import InvalidSpaceError

    try:
        cls = _SPACES[name]
    except KeyError:
        raise InvalidSpaceError(f"unknown space {name!r}; known: {sorted(_SPACES)}") from None
    return cls(**config)  # type: ignore[arg-type]

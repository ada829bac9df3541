"""bonas: Bayesian optimisation for neural architecture search.

Architectures are immutable graphs of layers (:class:`Architecture`) drawn from search
spaces (:mod:`bonas.spaces`); they are compared by OTMANN / edit / WL distances
(:mod:`bonas.kernels`) that feed a GP surrogate whose acquisition
(:mod:`bonas.acquisition`) is maximised by mutation.
"""

from pathlib import Path as _Path

from bonas.architecture import Architecture
from bonas.drawing import draw
from bonas.exceptions import (
    BonasError,
    BonasWarning,
    InvalidArchitectureError,
    InvalidSpaceError,
    LegacyModelError,
    ModelFileError,
    NonPSDWarning,
    SerializationError,
)
from bonas.vocabulary import Vocabulary, get_vocabulary, register_vocabulary

# In a checkout, bonas.kernels, bonas.acquisition and bonas.benchmarks are the folders
# beside this one (setup.cfg maps them into the package when it is installed). A script
# run in the checkout imports this folder rather than the installed package, so it must
# find them here too.
_CHECKOUT = _Path(__file__).resolve().parent.parent
if (_CHECKOUT / "setup.cfg").is_file() and (_CHECKOUT / "acquisition" / "__init__.py").is_file():
    __path__.append(str(_CHECKOUT))

__version__ = "0.1.0"

# The BO engine pulls in torch, gpytorch and botorch: load it on first use only, so
# that working with architectures and spaces stays light.
_LAZY = {
    "GPSearcher": "bonas.searchers.gp",
    "Study": "bonas.study",
    "StudyError": "bonas.study",
    "SearchResult": "bonas._search",
    "search": "bonas._search",
    "MultiFidelityResult": "bonas._mfsearch",
    "search_multifidelity": "bonas._mfsearch",
    "Trial": "bonas.trial",
    "TrialState": "bonas.trial",
    "load_model": "bonas.best_model",
    "load_study": "bonas.study_reader",
}


def __getattr__(name: str) -> object:
    if name == "Optimizer":
        import warnings

        warnings.warn(
            "bonas.Optimizer is now bonas.GPSearcher (one name per idea: searchers); "
            "the old name will be removed",
            DeprecationWarning,
            stacklevel=2,
        )
        name = "GPSearcher"
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bonas' has no attribute {name!r}")


__all__ = [  # noqa: RUF022 - grouped: eager names, then the lazily loaded engine
    "Architecture",
    "BonasError",
    "BonasWarning",
    "InvalidArchitectureError",
    "InvalidSpaceError",
    "LegacyModelError",
    "ModelFileError",
    "NonPSDWarning",
    "SerializationError",
    "Vocabulary",
    "__version__",
    "draw",
    "get_vocabulary",
    "register_vocabulary",
    "MultiFidelityResult",
    "GPSearcher",
    "SearchResult",
    "Study",
    "StudyError",
    "Trial",
    "TrialState",
    "load_model",
    "load_study",
    "search",
    "search_multifidelity",
]

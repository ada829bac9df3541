"""The search-space base class.

A search space knows which architectures are allowed and how to draw and perturb them.
It does not know how to train them (see the builders) nor how good they are (see the
searchers).

Call order, as a searcher uses a space::

    space = CNNSpace(max_layers=30)            # constraints as constructor parameters
    rng = np.random.default_rng(seed)           # the caller owns the randomness
    pool = [space.sample(rng) for _ in range(n)]
    child = space.mutate(parent, rng)           # valid and different from ``parent``
    space.contains(child)                       # -> True
    space.validate(arch)                        # raises InvalidArchitectureError, naming the rule
    space.neighbours(arch)                      # finite neighbourhoods only
    space.enumerate(), space.size               # finite spaces only

Every sample and mutant is valid: an invalid candidate is drawn again, never returned.
Randomness comes only from the ``rng`` (a ``numpy.random.Generator`` or an int seed)
passed in.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from bonas._rng import RNGLike, as_generator
from bonas.architecture import Architecture
from bonas.exceptions import BonasError, InvalidArchitectureError
from bonas.vocabulary import Vocabulary

__all__ = ["SearchSpace"]


class SearchSpace(abc.ABC):
    """Base class of every search space.

    Subclasses implement :meth:`_sample`, :meth:`_propose_mutant` and :meth:`validate`;
    finite spaces also override :attr:`is_finite`, :meth:`enumerate` and :attr:`size`, and
    spaces with finite neighbourhoods override :meth:`neighbours`.

    Attributes:
        name: Short identifier of the space family, e.g. ``"cnn"`` or ``"nb201"``.
        vocabulary: The layer vocabulary of the space's architectures.
        default_kernel: The space's own single GP kernel: ``otmann`` (NASBOT's OTMANN
            distance, for free-form layer graphs whose labels have OTMANN costs) or
            ``wl`` (Weisfeiler-Lehman features, for cells and graphs without such
            costs). A :class:`~bonas.searchers.GPSearcher` left to ``kernel="auto"``
            uses it on spaces without a categorical encoding, and a model average that
            includes WL on the others (see
            :func:`~bonas.searchers.gp.resolve_kernel_name`).
        max_tries: How many invalid candidates :meth:`sample` / :meth:`mutate` may draw
            before giving up with a :class:`~bonas.exceptions.BonasError`.
    """

    name: ClassVar[str]
    vocabulary: ClassVar[Vocabulary]
    default_kernel: ClassVar[str] = "otmann"
    max_tries: int = 1000

    # -- to implement -----------------------------------------------------------

    @abc.abstractmethod
    def validate(self, arch: Architecture) -> None:
        """Raise :class:`~bonas.exceptions.InvalidArchitectureError` unless ``arch``
        belongs to this space; the message names the broken constraint."""

    @abc.abstractmethod
    def _sample(self, rng: Any) -> Architecture:
        """Draw one candidate; may be invalid for the space (it is then redrawn).
        ``rng`` is a ``numpy.random.Generator``."""

    @abc.abstractmethod
    def _propose_mutant(self, arch: Architecture, rng: Any) -> Architecture:
        """Draw one perturbation of ``arch``; may be invalid or equal to ``arch``
        (it is then redrawn). May raise InvalidArchitectureError for a failed draw."""

    def config(self) -> dict[str, Any]:
        """The constructor parameters, JSON-compatible; identifies the space in studies."""
        return {}

    # -- a categorical encoding (cell spaces; optional) ------------------------------

    def categories(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """The variables of the space's fixed-length categorical encoding, as ``(name,
        choices)`` pairs: what encoding-based optimisers (TPE, SMAC, a one-hot GP) search.

        Raises:
            BonasError: If the space has no such encoding (free-form layer graphs).
        """
        raise BonasError(f"{type(self).__name__} has no categorical encoding")

    def encode(self, arch: Architecture) -> tuple[int, ...]:
        """The index of ``arch``'s choice for each variable of :meth:`categories`.

        Raises:
            BonasError: If the space has no categorical encoding.
            InvalidArchitectureError: If ``arch`` is not of the space's family.
        """
        raise BonasError(f"{type(self).__name__} has no categorical encoding")

    def decode(self, codes: Sequence[int]) -> Architecture:
        """The architecture a choice per variable of :meth:`categories` describes.

        Raises:
            BonasError: If the space has no categorical encoding.
            InvalidArchitectureError: If the choices describe no architecture of the
                space (an NB101 cell with its output cut off, a table's missing row).
        """
        raise BonasError(f"{type(self).__name__} has no categorical encoding")

    def _check_codes(self, codes: Sequence[int]) -> tuple[int, ...]:
        """``codes`` as ints, one per variable and within its choices."""
        variables = self.categories()
        try:
            values = tuple(int(c) for c in codes)
        except (TypeError, ValueError):
            raise InvalidArchitectureError(
                "encoding", f"codes must be integers, got {list(codes)!r}"
            ) from None
        bad = [
            name
            for (name, choices), value in zip(variables, values, strict=False)
            if not 0 <= value < len(choices)
        ]
        if len(values) != len(variables) or bad:
            raise InvalidArchitectureError(
                "encoding",
                f"need one code per variable ({len(variables)}) within its choices, got "
                f"{list(values)}" + (f"; out of range: {bad}" if bad else ""),
            )
        return values

    # -- the public API ------------------------------------------------------------

    def sample(self, rng: RNGLike) -> Architecture:
        """Draw a random architecture of the space.

        Args:
            rng: A ``numpy.random.Generator`` or an int seed.

        Returns:
            A valid architecture (``self.contains(result)`` is True).
        """
        gen = as_generator(rng)
        last_error: Exception | None = None
        for _ in range(self.max_tries):
            try:
                arch = self._sample(gen)
                self.validate(arch)
            except InvalidArchitectureError as err:
                last_error = err
                continue
            return arch
        raise BonasError(
            f"{type(self).__name__}.sample found no valid architecture in {self.max_tries} "
            f"draws; last rejection: {last_error}"
        )

    def mutate(self, arch: Architecture, rng: RNGLike) -> Architecture:
        """A random valid mutant of ``arch`` that differs from it.

        Args:
            arch: An architecture of this space.
            rng: A ``numpy.random.Generator`` or an int seed.

        Raises:
            InvalidArchitectureError: If ``arch`` is not in the space.
            BonasError: If no valid, different mutant is found in ``max_tries`` draws.
        """
        self.validate(arch)
        gen = as_generator(rng)
        last_error: Exception | None = None
        for _ in range(self.max_tries):
            try:
                child = self._propose_mutant(arch, gen)
                self.validate(child)
            except InvalidArchitectureError as err:
                last_error = err
                continue
            if child != arch:
                return child
        raise BonasError(
            f"{type(self).__name__}.mutate found no valid mutant in {self.max_tries} draws; "
            f"last rejection: {last_error}"
        )

    def contains(self, arch: Architecture) -> bool:
        """Whether ``arch`` belongs to this space."""
        if not isinstance(arch, Architecture):
            return False
        try:
            self.validate(arch)
        except InvalidArchitectureError:
            return False
        return True

    def neighbours(self, arch: Architecture) -> list[Architecture]:
        """All distinct valid architectures one mutation step away from ``arch``.

        Raises:
            BonasError: If the space's neighbourhoods are not finite.
        """
        raise BonasError(f"{type(self).__name__} has no finite neighbourhood to list")

    @property
    def is_finite(self) -> bool:
        """Whether :meth:`enumerate` and :attr:`size` are available."""
        return False

    def enumerate(self) -> Iterator[Architecture]:
        """Every architecture of a finite space, each once, in a fixed order."""
        raise BonasError(f"{type(self).__name__} is not finite and cannot be enumerated")

    @property
    def size(self) -> int:
        """The number of distinct architectures of a finite space."""
        raise BonasError(f"{type(self).__name__} is not finite and has no size")

    def _check_vocabulary(self, arch: Architecture) -> None:
        if arch.vocabulary.name != self.vocabulary.name:
            raise InvalidArchitectureError(
                "vocabulary",
                f"{type(self).__name__} holds {self.vocabulary.name!r} architectures; got one "
                f"over the {arch.vocabulary.name!r} vocabulary",
            )

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({params})"

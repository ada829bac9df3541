"""The exceptions and warnings that bonas raises.

Every error bonas raises on purpose derives from :class:`BonasError`, so callers can
catch bonas's own failures without catching programming errors. Messages name the
condition that failed and the values received.
"""

from __future__ import annotations

__all__ = [
    "BonasError",
    "BonasWarning",
    "InvalidArchitectureError",
    "InvalidSpaceError",
    "LegacyModelError",
    "ModelFileError",
    "NonPSDWarning",
    "SerializationError",
]


class BonasError(Exception):
    """Root of every exception that bonas raises on purpose."""


class InvalidArchitectureError(BonasError, ValueError):
    """An architecture breaks a structural rule or a search space's constraints.

    Attributes:
        rule: A short machine-readable name of the broken rule, e.g. ``"acyclic"``.
        layers: The indices of the offending layers (may be empty for global rules).
    """

    def __init__(self, rule: str, message: str, layers: tuple[int, ...] = ()) -> None:
        super().__init__(f"[{rule}] {message}")
        self.rule = rule
        self.layers = tuple(layers)

    def __reduce__(self) -> tuple:
        # Exceptions pickle their ``args`` by default, which would lose ``rule``.
        message = str(self).split("] ", 1)[1]
        return (type(self), (self.rule, message, self.layers))


class InvalidSpaceError(BonasError, ValueError):
    """A search space was configured with inconsistent or out-of-range parameters."""


class SerializationError(BonasError, ValueError):
    """A serialised object (JSON, pickle state) is malformed or of the wrong kind."""


class ModelFileError(BonasError):
    """A saved model (a search's ``best_model.pt`` and ``best_model.json``) is missing,
    unreadable, or not what bonas writes; the message names the path."""


class LegacyModelError(ModelFileError):
    """A model exported by an older bonas: a bare ``state_dict`` without the record of
    how to rebuild its network (``best_model.json``). ``bonas export DIR`` rewrites the
    export of a search folder with that record."""


class BonasWarning(UserWarning):
    """Root category of the warnings bonas emits (e.g. a Gram matrix projected to PSD)."""


class NonPSDWarning(BonasWarning):
    """A kernel's Gram matrix had negative eigenvalues and was projected onto the PSD cone."""

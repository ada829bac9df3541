"""The settings of a ``bonas search``: what defines it (kept in its study, reused by
``--resume``) and what a search folder records about how its networks were built."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from bonas.exceptions import BonasError

__all__ = ["SearchSettings", "network_options", "search_notes"]


@dataclasses.dataclass(frozen=True)
class SearchSettings:
    """What defines a ``bonas search`` (kept in the study, reused by ``--resume``) and
    the training half of ``bonas sweep --train``. ``max_budget`` is also the trainer's
    ``max_epochs``: the one place the top budget comes from.
    """

    space: str = "cnn"
    dataset: str = "mnist5k"
    data_dir: str | None = None
    scheduler: str = "bohb"
    searcher: str = "bonas"
    min_budget: float = 1.0
    max_budget: float = 9.0
    eta: float = 3.0
    width: float = 0.125
    data_fraction: float = 1.0
    seed: int = 0
    time_budget: float = 480.0

    @classmethod
    def resolve(
        cls, args: argparse.Namespace, stored: dict[str, Any] | None = None
    ) -> SearchSettings:
        """The flags given, else the stored settings of a resumed search, else the
        defaults.

        Raises:
            BonasError: If a stored setting is not of its field's type.
        """
        stored = stored or {}
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            given = getattr(args, field.name, None)
            values[field.name] = given if given is not None else stored.get(field.name)
        chosen = {k: v for k, v in values.items() if v is not None}
        try:
            numbers = {
                name: (int if name == "seed" else float)(chosen[name])
                for name in ("min_budget", "max_budget", "eta", "width", "data_fraction",
                             "seed", "time_budget")
                if name in chosen
            }  # fmt: skip
        except (TypeError, ValueError) as err:
            raise BonasError(f"the stored search settings are malformed: {err}") from None
        return cls(**{**chosen, **numbers})

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible, as the study's metadata keeps it."""
        return dataclasses.asdict(self)


def network_options(settings: SearchSettings) -> dict[str, Any]:
    """The options of :func:`~bonas.evaluation.build_network` a search trains with."""
    return {"width_multiplier": settings.width} if settings.space in ("cnn", "mlp") else {}


def search_notes(settings: SearchSettings, storage: Path) -> dict[str, Any]:
    """What a ``bonas search`` keeps about itself in ``best_model.json``."""
    return {**settings.to_dict(), "objective": "validation accuracy", "study": str(storage)}

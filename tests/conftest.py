"""Shared fixtures: where the real benchmark tables live (beside the checkout)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The ``../shared/data`` folder; tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"benchmark tables not found at {SHARED_DATA} (../shared/data beside the checkout)"
        )
    return SHARED_DATA


@pytest.fixture
def long_int_reprs() -> Iterator[None]:
    """Lift Python's 4,300-digit limit on int reprs while a fuzz test may print the huge
    integers hypothesis made."""
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    yield
    sys.set_int_max_str_digits(limit)

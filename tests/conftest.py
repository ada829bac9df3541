"""Shared fixtures: where the real benchmark tables live (beside the checkout)."""

from __future__ import annotations

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

"""Access to the real sample data in ../shared/data, skipping cleanly when it is absent."""

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(os.environ.get("VOKIT_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))


def shared_data(*parts: str) -> Path:
    """Path under ../shared/data; skips the calling test with a reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared sample data not found at {path} (../shared is absent on this machine)")
    return path

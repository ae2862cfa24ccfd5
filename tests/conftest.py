from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
PILOT = DATA / "cdisc_pilot"


@pytest.fixture
def pilot() -> Path:
    return PILOT

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from eap.protocol import Protocol, load_protocol

DATA = Path(__file__).resolve().parent.parent / "data" / "protocol"


@pytest.fixture(scope="session")
def protocol() -> Protocol:
    return load_protocol()


@pytest.fixture(scope="session")
def builtin_text() -> str:
    return resources.files("eap.protocol").joinpath("mm024.toml").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA

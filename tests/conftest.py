from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
PILOT = DATA / "cdisc_pilot"


@pytest.fixture
def pilot() -> Path:
    return PILOT


CHROMIUM = Path("/usr/bin/chromium")


def need_chromium() -> None:
    """Debian's chromium for the browser tests: a skip on a workstation, a failure in CI."""
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail("/usr/bin/chromium is missing: .ci/run must install Debian's chromium")
    pytest.skip("no /usr/bin/chromium")


# --------------------------------------------------------------------------- study database
# The store and web tests run on SQLite always and on PostgreSQL when
# EAP_TEST_POSTGRES_URL names a server (.ci/run starts one). In CI a missing
# PostgreSQL is a failure, not a skip.

import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402

BACKENDS = ["sqlite", "postgresql"]


def _postgres_admin_url() -> str | None:
    return os.environ.get("EAP_TEST_POSTGRES_URL")


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'study.db'}"
        return
    admin = _postgres_admin_url()
    if not admin:
        if os.environ.get("CI"):
            pytest.fail("EAP_TEST_POSTGRES_URL is not set: .ci/run must start PostgreSQL")
        pytest.skip("no PostgreSQL server (set EAP_TEST_POSTGRES_URL)")
    from sqlalchemy import create_engine, text

    from eap.store.db import normalize_url

    name = f"eap_t_{uuid.uuid4().hex[:16]}"
    engine = create_engine(normalize_url(admin), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = normalize_url(admin).rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(autouse=True)
def _fast_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2 parameters in tests: the hashing is the same code, the cost is not the
    point of these tests (production keeps argon2-cffi's defaults)."""
    from argon2 import PasswordHasher

    from eap.store import users

    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))

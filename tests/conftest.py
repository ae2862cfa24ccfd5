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
    """Debian's chromium for the browser tests; ``make test`` installs it (tools/chromium.sh)."""
    if not CHROMIUM.exists():
        pytest.fail(
            "/usr/bin/chromium is missing: run 'sh tools/chromium.sh' as root, or "
            "'sudo apt-get install chromium'"
        )


# --------------------------------------------------------------------------- study database
# The store and web tests run on SQLite and on a real PostgreSQL server: the one
# EAP_TEST_POSTGRES_URL names (.ci/run starts Debian's), else one started here from
# the pgserver wheel (PostgreSQL's own binaries, installed with the dev extras).

import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server for this test process: given, or started and stopped here."""
    given = os.environ.get("EAP_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'study.db'}"
        return
    admin: str = request.getfixturevalue("postgres_admin_url")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from eap.store.db import normalize_url

    name = f"eap_t_{uuid.uuid4().hex[:16]}"
    engine = create_engine(normalize_url(admin), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield (
            make_url(normalize_url(admin)).set(database=name).render_as_string(hide_password=False)
        )
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


# --------------------------------------------------------------------------- Spark
# The Spark engine's tests run on a local Spark session (pyspark from the dev extras,
# Java from .ci/run). One session per test process, started when first asked for.


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    from eap.engine.spark import session

    spark = session("local[1]", app="eap-tests")
    yield spark
    spark.stop()


@pytest.fixture(scope="session")
def sdtm_parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MM-024's virtual cohort at scale 1 as ``eap simulate --format parquet`` writes it
    (the command-line comparisons of the two engines start from it)."""
    from typer.testing import CliRunner

    from eap.cli import app

    folder = tmp_path_factory.mktemp("sdtm-parquet")
    made = CliRunner().invoke(app, ["simulate", "--out", str(folder), "--format", "parquet"])
    assert made.exit_code == 0, made.stdout
    return folder

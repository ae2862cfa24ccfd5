"""Engine and sessions from a database URL; schema creation by the shipped Alembic migrations.

SQLite (a file, the default) and PostgreSQL run the same code. On SQLite each
writing transaction starts with ``BEGIN IMMEDIATE``: writers queue on the file lock
(with a busy timeout) instead of failing when a read transaction later wants to
write, which is what two sites saving at once would otherwise hit. Sessions from
:func:`read_session` only read: on SQLite they start with a plain
``BEGIN`` under ``PRAGMA query_only``, and the database is in WAL mode, so a
reader neither waits for the writers' queue nor blocks it (on PostgreSQL they are
``READ ONLY`` transactions).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from eap.store import audit

# Execution option marking an engine whose transactions only read.
READ_ONLY = "eap_read_only"

MIGRATIONS = Path(__file__).parent / "migrations"
DEFAULT_URL = "sqlite:///eap.db"


def normalize_url(url: str) -> str:
    """Accept a bare file path for SQLite and ``postgresql://`` for psycopg 3."""
    if "://" not in url:
        return f"sqlite:///{url}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the per-dialect settings eap relies on."""
    url = normalize_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Take over transaction control from the driver (SQLAlchemy's documented recipe).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            # WAL: readers see the last commit while a writer works, instead of waiting.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            if conn.get_execution_options().get(READ_ONLY):
                # A reader takes no write lock; query_only makes a stray write fail
                # instead of silently taking the lock.
                conn.exec_driver_sql("PRAGMA query_only=ON")
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("PRAGMA query_only=OFF")
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    engine = create_engine(url, pool_pre_ping=True)

    @event.listens_for(engine, "begin")
    def _on_begin_pg(conn: Any) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            # The same rule as on SQLite: a reader's stray write fails.
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")

    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions with the audit trail attached; objects stay readable after commit."""
    factory = sessionmaker(engine, expire_on_commit=False)
    audit.install(factory)
    return factory


@contextmanager
def read_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that only reads: on SQLite its transaction starts with a plain ``BEGIN``
    under ``PRAGMA query_only`` (no place in the writers' queue, a write fails); it is
    rolled back at the end."""
    db = factory()
    try:
        db.connection(execution_options={READ_ONLY: True})
        yield db
    finally:
        db.close()


def alembic_config(url: str) -> Config:
    """Alembic configuration pointing at the migrations shipped inside the package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def init_db(url: str) -> None:
    """Create or upgrade the schema to the newest migration (idempotent)."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    finally:
        engine.dispose()

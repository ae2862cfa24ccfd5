"""What no client can do to the trail and the clinical tables: TRUNCATE (refused by a
trigger, for the owner too) and, on PostgreSQL, anything beyond serving for the role the
application connects as (`eap db init --app-role`)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from eap.cli import app
from eap.errors import StoreError
from eap.store import service
from eap.store.db import make_engine, make_sessionmaker, normalize_url
from eap.store.models import AuditLog
from eap.store.schemas import AdverseEventIn
from eap.web.app import create_app
from tests.store.helpers import PASSWORD, TODAY, Study, make_study, register

PROTECTED = (
    "audit_log",
    "patients",
    "dosing_records",
    "adverse_events",
    "visits",
    "deaths",
    "discontinuations",
    "data_queries",
    "transferred_records",
)
CLINICAL = PROTECTED[1:]
APP_PASSWORD = "app password 1'%\\"


@pytest.fixture
def study(db_url: str) -> Study:
    return make_study(db_url)


def count(study: Study, table: str) -> int:
    with make_engine(study.url).connect() as conn:
        return int(conn.execute(select(func.count()).select_from(text(table))).scalar_one())


def test_no_client_can_empty_a_protected_table(study: Study) -> None:
    """PostgreSQL: TRUNCATE fires no row trigger, so a statement trigger refuses it, even for
    the owner. SQLite has no TRUNCATE; its equivalent, DELETE without WHERE, is refused."""
    register(study, "inv_a")
    trail = count(study, "audit_log")
    engine = make_engine(study.url)
    for table in PROTECTED:
        if engine.dialect.name == "postgresql":
            sql = f"TRUNCATE {table} CASCADE"
            refused = r"eap: TRUNCATE on \w+ is not allowed"
        elif count(study, table):
            sql = f"DELETE FROM {table}"
            refused = f"eap: DELETE on {table} is not allowed"
        else:
            continue  # a row trigger has no row to refuse in an empty table: nothing to lose
        with pytest.raises(Exception, match=refused), engine.begin() as conn:
            conn.execute(text(sql))
    engine.dispose()
    assert count(study, "audit_log") == trail and count(study, "patients") == 1


def test_app_role_is_postgresql_only(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    result = CliRunner().invoke(
        app, ["db", "init", "--db", url, "--app-role", "eap_app"], env={"EAP_APP_PASSWORD": "x"}
    )
    assert isinstance(result.exception, StoreError)
    assert "--app-role" in str(result.exception) and "postgresql" in str(result.exception)
    assert not (tmp_path / "study.db").exists()  # refused before anything is written


@pytest.mark.parametrize("name", ["Eap", "1eap", "eap-app", "eap app", "a" * 64, ""])
def test_app_role_name_is_checked_before_anything_is_written(tmp_path: Any, name: str) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    result = CliRunner().invoke(app, ["db", "init", "--db", url, "--app-role", name])
    assert isinstance(result.exception, StoreError)
    assert "--app-role" in str(result.exception)
    assert not (tmp_path / "study.db").exists()


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture
def pg_study(postgres_admin_url: str, tmp_path: Any) -> Iterator[Study]:
    """A study on PostgreSQL only: the application role does not exist on SQLite."""
    from sqlalchemy import create_engine

    name = f"eap_t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(normalize_url(postgres_admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = (
        make_url(normalize_url(postgres_admin_url))
        .set(database=name)
        .render_as_string(hide_password=False)
    )
    try:
        yield make_study(url)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def app_role(pg_study: Study) -> Iterator[str]:
    """A fresh role name, dropped with everything granted to it afterwards."""
    role = f"eap_app_{uuid.uuid4().hex[:8]}"
    yield role
    engine = make_engine(pg_study.url)
    with engine.begin() as conn:
        if conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first():
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
    engine.dispose()


def as_role(study: Study, role: str) -> str:
    return (
        make_url(normalize_url(study.url))
        .set(username=role, password=APP_PASSWORD)
        .render_as_string(hide_password=False)
    )


def init_role(study: Study, role: str, password: str | None = APP_PASSWORD) -> Any:
    env = {"EAP_APP_PASSWORD": password} if password else {"EAP_APP_PASSWORD": ""}
    return CliRunner().invoke(
        app, ["db", "init", "--db", study.url, "--app-role", role, "--no-sites"], env=env
    )


def granted(study: Study, role: str) -> dict[str, set[str]]:
    with make_engine(study.url).connect() as conn:
        rows = conn.execute(
            text(
                "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
                "WHERE grantee = :r"
            ),
            {"r": role},
        )
        out: dict[str, set[str]] = {}
        for table, privilege in rows:
            out.setdefault(table, set()).add(privilege)
        return out


def test_db_init_creates_the_application_role_with_exactly_its_rights(
    pg_study: Study, app_role: str
) -> None:
    result = init_role(pg_study, app_role)
    assert result.exit_code == 0, result.output
    assert f"application role {app_role} created" in result.output
    assert f"eap serve --db postgresql://{app_role}:PASSWORD@" in result.output
    assert APP_PASSWORD not in result.output
    expected = {t: {"SELECT", "INSERT", "UPDATE"} for t in CLINICAL}
    expected |= {
        "audit_log": {"SELECT", "INSERT"},
        "users": {"SELECT", "UPDATE"},
        "web_sessions": {"SELECT", "INSERT", "DELETE"},
        "sites": {"SELECT"},
        "data_transfers": {"SELECT"},
    }
    assert granted(pg_study, app_role) == expected
    # Idempotent: again, without a password, the role stays and its rights are the same,
    # also after someone granted it more by hand.
    with make_engine(pg_study.url).begin() as conn:
        conn.execute(text(f"GRANT DELETE, TRUNCATE ON audit_log TO {app_role}"))
    again = init_role(pg_study, app_role, password=None)
    assert again.exit_code == 0, again.output
    assert f"application role {app_role} updated" in again.output
    assert granted(pg_study, app_role) == expected


def test_a_new_application_role_needs_a_password(pg_study: Study, app_role: str) -> None:
    result = init_role(pg_study, app_role, password=None)
    assert isinstance(result.exception, StoreError)
    assert "EAP_APP_PASSWORD" in str(result.exception)


def test_the_application_role_serves_but_cannot_touch_the_trail(
    pg_study: Study, app_role: str
) -> None:
    assert init_role(pg_study, app_role).exit_code == 0
    url = as_role(pg_study, app_role)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_user")).scalar_one() == app_role
        # What the application does works as this role: register, record, correct, void.
        with sessions.begin() as db:
            from tests.store.helpers import patient_in

            pid = service.register_patient(db, pg_study.actors["inv_a"], patient_in(), TODAY).id
        ae = AdverseEventIn(
            reported_term="Neutropenia",
            ctcae_term="Neutrophil count decreased",
            grade=3,
            start_date=dt.date(2013, 3, 1),
        )
        with sessions.begin() as db:
            rid = service.add_record(db, pg_study.actors["inv_a"], pid, "ae", ae, TODAY).id
        with sessions.begin() as db:
            changed = ae.model_copy(update={"grade": 4})
            service.update_record(
                db, pg_study.actors["inv_a"], pid, "ae", rid, 1, "source", changed, TODAY
            )
        with sessions.begin() as db:
            service.delete_record(db, pg_study.actors["inv_a"], pid, "ae", rid, 2, "duplicate")
        # and through the web application: login (users), logout (web_sessions)
        web = create_app(url, today=lambda: TODAY)
        with TestClient(web, base_url="https://testserver") as c:
            r = c.post("/api/session", json={"username": "inv_a", "password": PASSWORD})
            assert r.status_code == 200, r.text
            c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
            assert c.get(f"/api/patients/{pid}/ae").status_code == 200
            assert c.delete("/api/session").status_code == 200
        web.state.engine.dispose()
        trail = count(pg_study, "audit_log")
        refused = {
            "TRUNCATE audit_log": "permission denied",
            "TRUNCATE patients CASCADE": "permission denied",
            "DELETE FROM audit_log": "permission denied",
            f"DELETE FROM adverse_events WHERE id = {rid}": "permission denied",
            "UPDATE audit_log SET reason = 'x'": "permission denied",
            "ALTER TABLE audit_log DISABLE TRIGGER ALL": "must be owner",
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update": "must be owner",
            "DROP TRIGGER audit_log_no_update ON audit_log": "must be owner",
            "DROP TRIGGER audit_log_no_truncate ON audit_log": "must be owner",
            "ALTER TABLE patients ADD COLUMN x integer": "must be owner",
            "DROP TABLE audit_log": "must be owner",
            "DELETE FROM users": "permission denied",
        }
        for sql, message in refused.items():
            with pytest.raises(Exception, match=message), engine.begin() as conn:
                conn.execute(text(sql))
        assert count(pg_study, "audit_log") == trail
        # The trail it wrote verifies, read as the application role too.
        check = CliRunner().invoke(app, ["audit", "verify", "--db", url])
        assert check.exit_code == 0, check.output
        assert check.output.startswith(f"audit trail verified: {trail} trail rows chain")
        with sessions() as db:
            assert db.scalar(select(func.count()).select_from(AuditLog)) == trail
    finally:
        engine.dispose()

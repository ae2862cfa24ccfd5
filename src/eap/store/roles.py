"""PostgreSQL: the role the application connects as, which does not own the tables.

The owner (who runs ``eap db init``, the migrations and data loads) can do anything to
its tables: disable or drop triggers, truncate, alter. The web application therefore
connects as a separate login role with only what serving needs, so that no request,
and no one holding the application's password, can remove or rewrite the trail:

* clinical tables: SELECT, INSERT, UPDATE (soft deletes and corrections are updates);
* ``audit_log``: SELECT, INSERT;
* ``users``: SELECT, UPDATE (failed logins, lockouts); ``web_sessions``: SELECT, INSERT,
  DELETE (a logout removes its session); ``sites``: SELECT;
* USAGE on the schema and its sequences.

No DELETE, TRUNCATE or ALTER anywhere, and not being the owner it cannot disable or
drop a trigger. Granting is exact: everything else the role held on the schema's tables
is revoked first, so running it again after an upgrade sets the same rights.
"""

from __future__ import annotations

import re
from typing import Any

from psycopg import sql
from sqlalchemy.engine import make_url

from eap.errors import StoreError
from eap.store.db import make_engine, normalize_url
from eap.store.models import CLINICAL_TABLES

ROLE_PATTERN = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def table_grants() -> dict[str, tuple[str, ...]]:
    """Table -> the privileges the application role gets on it."""
    grants: dict[str, tuple[str, ...]] = {
        m.__tablename__: ("SELECT", "INSERT", "UPDATE")  # type: ignore[attr-defined]
        for m in CLINICAL_TABLES
    }
    grants["audit_log"] = ("SELECT", "INSERT")
    grants["users"] = ("SELECT", "UPDATE")
    grants["web_sessions"] = ("SELECT", "INSERT", "DELETE")
    grants["sites"] = ("SELECT",)
    # Written by `eap db load` (as the owner); the application reads the cutoffs.
    grants["data_transfers"] = ("SELECT",)
    return grants


def check_role_name(name: str) -> str:
    """A plain lowercase PostgreSQL identifier, so it needs no quoting anywhere."""
    if not ROLE_PATTERN.fullmatch(name):
        raise StoreError(
            "not a usable role name",
            variable="--app-role",
            expected="lowercase letters, digits and _ (not first), at most 63",
            found=repr(name),
        )
    return name


def check_app_role_target(url: str, role: str) -> None:
    """Before anything is written: a usable role name, and a PostgreSQL database."""
    check_role_name(role)
    backend = make_url(normalize_url(url)).get_backend_name()
    if backend != "postgresql":
        raise StoreError(
            "an application role exists on PostgreSQL only",
            variable="--app-role",
            expected="a postgresql:// database URL",
            found=backend,
        )


def grant_statements(role: str) -> list[sql.Composed]:
    """The statements that give ``role`` exactly :func:`table_grants` (and nothing else)."""
    ident = sql.Identifier(role)
    out = [
        sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(ident),
        sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {}").format(ident),
        sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident),
        sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {}").format(ident),
    ]
    for table, privileges in table_grants().items():
        out.append(
            sql.SQL("GRANT {} ON TABLE {} TO {}").format(
                sql.SQL(", ").join(sql.SQL(p) for p in privileges), sql.Identifier(table), ident
            )
        )
    return out


def _role_exists(raw: Any, role: str) -> bool:
    found = raw.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
    return found.fetchone() is not None


def ensure_app_role(url: str, role: str, password: str | None) -> bool:
    """Create ``role`` if missing (with ``password``), set its rights; True when created.

    Runs as the owner of the tables (the URL ``eap db init`` was given). A given password
    is set on an existing role too, so a password can be changed by running it again.
    """
    check_app_role_target(url, role)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            # psycopg itself, on the same transaction: its sql module quotes the role
            # name and the password literal, which DDL cannot take as parameters.
            raw = conn.connection.driver_connection
            assert raw is not None
            created = not _role_exists(raw, role)
            if created and not password:
                raise StoreError(
                    "a new application role needs a password",
                    variable="EAP_APP_PASSWORD",
                    expected="the role's password in EAP_APP_PASSWORD",
                    found="none",
                )
            ident = sql.Identifier(role)
            if created:
                stmt = sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    ident, sql.Literal(password)
                )
                raw.execute(stmt)
            elif password:
                stmt = sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
                    ident, sql.Literal(password)
                )
                raw.execute(stmt)
            for statement in grant_statements(role):
                raw.execute(statement)
        return created
    finally:
        engine.dispose()

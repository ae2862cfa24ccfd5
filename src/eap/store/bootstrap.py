"""Setting up a study database: schema, sites, first users (what ``eap db init`` and
``eap users add`` call)."""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

from eap.store.db import init_db, make_engine, make_sessionmaker
from eap.store.users import (
    add_user,
    list_users,
    reset_password,
    seed_sites,
    set_active,
    unlock_user,
)


def cli_actor() -> str:
    """Who runs a command, for the trail: the operating-system account, marked as such."""
    try:
        name = getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        name = "unknown"
    return f"cli:{name}"


def init_study(url: str, *, with_sites: bool = True) -> int:
    """Run the migrations and add the MM-024 sites; return how many sites were added."""
    init_db(url)
    if not with_sites:
        return 0
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine).begin() as db:
            return seed_sites(db, cli_actor())
    finally:
        engine.dispose()


def create_user(
    url: str,
    username: str,
    password: str,
    role: str,
    site_code: str | None = None,
    full_name: str = "",
) -> None:
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine).begin() as db:
            add_user(db, username, password, role, site_code, full_name, actor=cli_actor())
    finally:
        engine.dispose()


@contextmanager
def _session(url: str) -> Iterator[Session]:
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine).begin() as db:
            yield db
    finally:
        engine.dispose()


def manage_user(url: str, username: str, action: str) -> None:
    """``unlock``, ``deactivate`` or ``activate`` an account."""
    actor = cli_actor()
    actions: dict[str, Callable[[Session], Any]] = {
        "unlock": lambda db: unlock_user(db, username, actor),
        "deactivate": lambda db: set_active(db, username, False, actor),
        "activate": lambda db: set_active(db, username, True, actor),
    }
    with _session(url) as db:
        actions[action](db)


def reset_user_password(url: str, username: str, password: str) -> None:
    """An administrator's reset: the user must change the password at the next login."""
    engine = make_engine(url)
    try:
        reset_password(make_sessionmaker(engine), username, password, cli_actor())
    finally:
        engine.dispose()


def user_rows(url: str) -> list[dict[str, Any]]:
    """Accounts as rows for ``eap users list``."""
    with _session(url) as db:
        return [
            {
                "username": u.username,
                "role": u.role,
                "site": site or "",
                "active": u.active,
                "locked_until": u.locked_until.isoformat() if u.locked_until else "",
                "must_change_password": u.must_change_password,
            }
            for u, site in list_users(db)
        ]

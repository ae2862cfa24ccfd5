"""Setting up a study database: schema, sites, first users (what ``eap db init`` and
``eap users add`` call)."""

from __future__ import annotations

from eap.store.db import init_db, make_engine, make_sessionmaker
from eap.store.users import add_user, seed_sites


def init_study(url: str, *, with_sites: bool = True) -> int:
    """Run the migrations and add the MM-024 sites; return how many sites were added."""
    init_db(url)
    if not with_sites:
        return 0
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine).begin() as db:
            return seed_sites(db)
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
            add_user(db, username, password, role, site_code, full_name)
    finally:
        engine.dispose()

"""Sites and user accounts: argon2 password hashes, login with a per-account delay, the
MM-024 site list, and every account and site event in the audit trail.

Logins keep the database out of the slow part: the account is read in a read-only
transaction, the password is checked (argon2, about half a second) with no transaction
open, and the outcome is written in a short transaction of its own. The failure counter
is raised by the database itself (``UPDATE ... SET failed_logins = failed_logins + 1``),
so concurrent failures all count.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from eap.errors import AuthError, EapError
from eap.store.access import ROLES, SITE_ROLES
from eap.store.audit import record_account_event
from eap.store.db import read_session
from eap.store.models import Site, User, WebSession, utcnow

MAX_FAILED_LOGINS = 5
FIRST_DELAY = dt.timedelta(seconds=1)
MAX_DELAY = dt.timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10
# The one answer to a refused login: unknown user, wrong password, inactive account or a
# login during the account's delay all read the same, so nobody learns which it was.
LOGIN_REFUSED = "wrong username or password"
UNKNOWN_ACTOR = "anonymous"

_hasher = PasswordHasher()
# A hash of a password nobody has, made with the current hasher's parameters: checking a
# password against it costs what checking a real one costs (see _dummy_hash).
_dummy: dict[int, str] = {}

T = TypeVar("T")

# The hospitals named in the MM-024 publication (Methods), codes in its order.
MM024_SITES = (
    "Shanghai Changzheng Hospital",
    "The First Hospital Affiliated of College Medicine, Zhejiang University",
    "Xiangya Hospital Central South University",
    "Shanghai 6th People's Hospital",
    "Peking University Third Hospital",
    "NanFang Hospital",
    "Changhai Hospital",
    "The First Affiliated Hospital of Soochow University",
    "The 301 Hospital - Chinese PLA General Hospital",
    "Peking Union Medical College Hospital",
    "Guang Dong General Hospital",
)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _dummy_hash() -> str:
    """The dummy hash for the hasher in use (made once per hasher)."""
    key = id(_hasher)
    if key not in _dummy:
        _dummy[key] = _hasher.hash("eap: no account has this password")
    return _dummy[key]


def _verify(password_hash: str, password: str) -> bool:
    """One argon2 check; never call it with a transaction open."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_new_password(password: str, variable: str = "password") -> None:
    """The password policy, for new accounts, changes and resets alike."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise EapError(
            "password too short",
            variable=variable,
            expected=f">= {MIN_PASSWORD_LENGTH} characters",
            found=f"{len(password)} characters",
        )


# --------------------------------------------------------------------------- sites


def _site_created(db: Session, site: Site, actor: str) -> None:
    record_account_event(
        db,
        actor=actor,
        action="create",
        table="sites",
        record_id=site.id,
        detail=f"{site.code} {site.name}",
    )


def seed_sites(db: Session, actor: str = "eap db init") -> int:
    """Add the MM-024 sites that are not there yet (codes 01, 02, ...); return how many."""
    existing = set(db.scalars(select(Site.code)))
    added = 0
    for i, name in enumerate(MM024_SITES, start=1):
        code = f"{i:02d}"
        if code not in existing:
            add_site(db, code, name, actor)
            added += 1
    return added


def add_site(db: Session, code: str, name: str, actor: str = "eap") -> Site:
    """A new site, in the trail as a ``create`` of table ``sites``."""
    if db.scalar(select(Site).where(Site.code == code)):
        raise EapError("site already exists", variable="code", found=code)
    site = Site(code=code, name=name)
    db.add(site)
    db.flush()
    _site_created(db, site, actor)
    return site


# --------------------------------------------------------------------------- accounts


def _user(db: Session, username: str) -> User:
    user = db.scalar(select(User).where(User.username == username))
    if user is None:
        raise EapError("no such user", variable="username", found=username)
    return user


def add_user(
    db: Session,
    username: str,
    password: str,
    role: str,
    site_code: str | None = None,
    full_name: str = "",
    actor: str = "eap",
) -> User:
    """Create an account. Site roles need a site; other roles must not have one."""
    if role not in ROLES:
        raise EapError("unknown role", variable="role", expected=", ".join(ROLES), found=role)
    check_new_password(password)
    # Hash before the first query: the session's database transaction (on SQLite, its
    # place in the writers' queue) only begins then, so it is not held for the hashing.
    password_hash = hash_password(password)
    if db.scalar(select(User).where(User.username == username)):
        raise EapError("user already exists", variable="username", found=username)
    site_id: int | None = None
    if role in SITE_ROLES:
        site = db.scalar(select(Site).where(Site.code == (site_code or "")))
        if site is None:
            raise EapError(
                "a site role needs an existing site", variable="site", found=repr(site_code)
            )
        site_id = site.id
    elif site_code:
        raise EapError(f"role {role} covers all sites", variable="site", found=site_code)
    user = User(
        username=username,
        password_hash=password_hash,
        role=role,
        site_id=site_id,
        full_name=full_name,
        active=True,
        failed_logins=0,
        must_change_password=False,
    )
    db.add(user)
    db.flush()
    record_account_event(
        db,
        actor=actor,
        action="create",
        table="users",
        record_id=user.id,
        detail=f"role {role}" + (f", site {site_code}" if site_code else ""),
    )
    return user


def unlock_user(db: Session, username: str, actor: str = "eap") -> User:
    """Lift the login delay (after the sponsor has checked who failed to log in)."""
    user = _user(db, username)
    user.locked_until = None
    user.failed_logins = 0
    db.flush()
    record_account_event(db, actor=actor, action="unlock", table="users", record_id=user.id)
    return user


def set_active(db: Session, username: str, active: bool, actor: str = "eap") -> User:
    """Deactivate a user who left the study (accounts are kept: the trail names them).

    Deactivation also ends the user's sessions."""
    user = _user(db, username)
    user.active = active
    db.flush()
    if not active:
        db.execute(delete(WebSession).where(WebSession.user_id == user.id))
    action = "activate" if active else "deactivate"
    record_account_event(db, actor=actor, action=action, table="users", record_id=user.id)
    return user


def reset_password(
    sessions: sessionmaker[Session], username: str, password: str, actor: str
) -> None:
    """An administrator sets a new password; the user must change it at the next login.

    Lifts the login delay and ends the user's sessions. Hashing happens before the
    transaction opens."""
    check_new_password(password)
    new_hash = hash_password(password)
    with sessions.begin() as db:
        user = _user(db, username)
        user.password_hash = new_hash
        user.must_change_password = True
        user.failed_logins = 0
        user.locked_until = None
        db.flush()
        db.execute(delete(WebSession).where(WebSession.user_id == user.id))
        record_account_event(
            db,
            actor=actor,
            action="reset",
            table="users",
            record_id=user.id,
            detail="password reset; change required at next login",
        )


def list_users(db: Session) -> list[tuple[User, str | None]]:
    """Every account with its site code."""
    sites = {s.id: s.code for s in db.scalars(select(Site))}
    users = db.scalars(select(User).order_by(User.username))
    return [(u, sites.get(u.site_id) if u.site_id else None) for u in users]


# --------------------------------------------------------------------------- login


def login_delay(failures: int) -> dt.timedelta:
    """How long an account accepts no password after ``failures`` failed logins in a row.

    None for the first four; from the fifth, 1 s, doubling with each further failure,
    at most 15 minutes (reached at the 15th)."""
    if failures < MAX_FAILED_LOGINS:
        return dt.timedelta(0)
    # The exponent is capped before the multiplication so a huge count cannot overflow.
    doublings = min(failures - MAX_FAILED_LOGINS, 20)
    return min(FIRST_DELAY * (1 << doublings), MAX_DELAY)


@dataclass(frozen=True)
class _Account:
    """What a login needs to know, read before the password is checked."""

    id: int
    username: str
    password_hash: str
    active: bool
    locked_until: dt.datetime | None


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite gives datetimes back without their zone; they are stored as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def _read_account(sessions: sessionmaker[Session], username: str) -> _Account | None:
    with read_session(sessions) as db:
        user = db.scalar(select(User).where(User.username == username))
        if user is None:
            return None
        return _Account(
            user.id, user.username, user.password_hash, user.active, _aware(user.locked_until)
        )


def _in_delay(account: _Account, now: dt.datetime) -> bool:
    return account.locked_until is not None and account.locked_until > now


def _where(client: str | None) -> str:
    return f" from {client}" if client else ""


def _count_failure(db: Session, account: _Account, now: dt.datetime) -> int | None:
    """Count one failed login in the database; the new count, or None when the attempt
    came during the account's delay (refused unchecked, and not counted, so that
    attempts during a delay do not lengthen it).

    The increment and its condition are one UPDATE: on PostgreSQL the row lock makes a
    concurrent failure wait and re-check the condition, on SQLite writers queue."""
    count: int | None = db.scalar(
        update(User)
        .where(User.id == account.id, or_(User.locked_until.is_(None), User.locked_until <= now))
        .values(failed_logins=User.failed_logins + 1)
        .returning(User.failed_logins)
    )
    if count is None:
        return None
    delay = login_delay(count)
    if delay:
        db.execute(update(User).where(User.id == account.id).values(locked_until=now + delay))
    return count


def _record_failure(
    sessions: sessionmaker[Session],
    account: _Account | None,
    username: str,
    client: str | None,
    now: dt.datetime,
    why: str,
) -> None:
    """Count and trail a failed login in its own short transaction, which commits even
    though the login is refused."""
    with sessions.begin() as db:
        if account is None:
            # Unknown usernames matter to a security review (guessing, typos of a real name).
            record_account_event(
                db,
                actor=UNKNOWN_ACTOR,
                action="login_fail",
                table="users",
                record_id=0,
                detail=username[:100],
            )
            return
        count = _count_failure(db, account, now)
        reason = why if count is not None else "during the login delay"
        counted = f"; {count} in a row" if count is not None else ""
        record_account_event(
            db,
            actor=account.username,
            action="login_fail",
            table="users",
            record_id=account.id,
            detail=f"{reason}{counted}{_where(client)}",
        )
        if count == MAX_FAILED_LOGINS:
            record_account_event(
                db,
                actor=account.username,
                action="locked",
                table="users",
                record_id=account.id,
                detail=f"{count} failed logins in a row: login delay {login_delay(count)}",
            )


def _check(
    sessions: sessionmaker[Session],
    username: str,
    password: str,
    client: str | None,
    now: dt.datetime,
) -> _Account:
    """The account if ``password`` is its password and it may log in; else count and
    trail the failure and raise AuthError with the one refusal message.

    Every refusal costs one argon2 check, as a real check does: an unknown user, an
    inactive account and an account in its delay are checked against a dummy hash."""
    account = _read_account(sessions, username)
    if account is None or not account.active or _in_delay(account, now):
        _verify(_dummy_hash(), password)
        why = "inactive account" if account is not None and not account.active else "login delay"
        _record_failure(sessions, account, username, client, now, why)
        raise AuthError(LOGIN_REFUSED)
    if not _verify(account.password_hash, password):
        _record_failure(sessions, account, username, client, now, "wrong password")
        raise AuthError(LOGIN_REFUSED)
    return account


def authenticate(
    sessions: sessionmaker[Session],
    username: str,
    password: str,
    start: Callable[[Session, User], T],
    *,
    client: str | None = None,
    now: dt.datetime | None = None,
) -> T:
    """Log ``username`` in: check the password, then in one transaction reset the failure
    count, record the login and call ``start`` (which opens the session); its result.

    Refused logins raise AuthError(LOGIN_REFUSED) after their own transaction has
    counted and trailed them (see :func:`_check`)."""
    now = now or utcnow()
    account = _check(sessions, username, password, client, now)
    new_hash = (
        hash_password(password) if _hasher.check_needs_rehash(account.password_hash) else None
    )
    with sessions.begin() as db:
        user = db.get(User, account.id)
        if user is None or not user.active:  # deactivated while the password was checked
            raise AuthError(LOGIN_REFUSED)
        user.failed_logins = 0
        user.locked_until = None
        if new_hash is not None:
            user.password_hash = new_hash
        db.flush()
        record_account_event(
            db,
            actor=user.username,
            action="login",
            table="users",
            record_id=user.id,
            detail=_where(client).strip() or None,
        )
        return start(db, user)


def change_password(
    sessions: sessionmaker[Session],
    username: str,
    old_password: str,
    new_password: str,
    *,
    keep_session: str | None = None,
    client: str | None = None,
    now: dt.datetime | None = None,
) -> None:
    """A user changes their own password: the old one is checked like a login (a wrong
    one counts as a failed login), the new one follows the policy and must differ.

    Clears a forced change and ends the user's other sessions (all but the one whose
    token hash is ``keep_session``)."""
    check_new_password(new_password, "new_password")
    if new_password == old_password:
        raise EapError(
            "the new password must differ from the old one",
            variable="new_password",
            expected="a new password",
            found="the old password",
        )
    now = now or utcnow()
    account = _check(sessions, username, old_password, client, now)
    new_hash = hash_password(new_password)
    with sessions.begin() as db:
        user = db.get(User, account.id)
        if user is None:
            raise AuthError(LOGIN_REFUSED)
        user.password_hash = new_hash
        user.must_change_password = False
        user.failed_logins = 0
        user.locked_until = None
        db.flush()
        others = delete(WebSession).where(WebSession.user_id == user.id)
        if keep_session is not None:
            others = others.where(WebSession.token_hash != keep_session)
        db.execute(others)
        record_account_event(
            db,
            actor=user.username,
            action="password",
            table="users",
            record_id=user.id,
            detail="changed by the user; other sessions closed",
        )

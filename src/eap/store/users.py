"""Sites and user accounts: argon2 password hashes, login with lockout, the MM-024 site list."""

from __future__ import annotations

import datetime as dt

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from eap.errors import AuthError, EapError
from eap.store.access import ROLES, SITE_ROLES
from eap.store.models import Site, User, utcnow

MAX_FAILED_LOGINS = 5
LOCKOUT = dt.timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10

_hasher = PasswordHasher()

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


def seed_sites(db: Session) -> int:
    """Add the MM-024 sites that are not there yet (codes 01, 02, ...); return how many."""
    existing = set(db.scalars(select(Site.code)))
    added = 0
    for i, name in enumerate(MM024_SITES, start=1):
        code = f"{i:02d}"
        if code not in existing:
            db.add(Site(code=code, name=name))
            added += 1
    db.flush()
    return added


def add_site(db: Session, code: str, name: str) -> Site:
    if db.scalar(select(Site).where(Site.code == code)):
        raise EapError("site already exists", variable="code", found=code)
    site = Site(code=code, name=name)
    db.add(site)
    db.flush()
    return site


def add_user(
    db: Session,
    username: str,
    password: str,
    role: str,
    site_code: str | None = None,
    full_name: str = "",
) -> User:
    """Create an account. Site roles need a site; other roles must not have one."""
    if role not in ROLES:
        raise EapError("unknown role", variable="role", expected=", ".join(ROLES), found=role)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise EapError(
            "password too short",
            variable="password",
            expected=f">= {MIN_PASSWORD_LENGTH} characters",
            found=f"{len(password)} characters",
        )
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
        password_hash=hash_password(password),
        role=role,
        site_id=site_id,
        full_name=full_name,
        active=True,
        failed_logins=0,
    )
    db.add(user)
    db.flush()
    return user


def authenticate(db: Session, username: str, password: str) -> User:
    """The user if the password is right; count failures and lock after five.

    The message is the same for an unknown user and a wrong password, so a login
    form cannot be used to find out who has an account.
    """
    user = db.scalar(select(User).where(User.username == username))
    now = utcnow()
    if user is None or not user.active:
        # Hash anyway so both paths take about the same time.
        _hasher.hash(password)
        raise AuthError("wrong username or password")
    locked = user.locked_until
    if locked is not None and locked.tzinfo is None:
        locked = locked.replace(tzinfo=dt.UTC)
    if locked is not None and locked > now:
        raise AuthError(
            f"account locked after {MAX_FAILED_LOGINS} failed logins; try again after "
            f"{locked:%H:%M} UTC or ask the sponsor administrator"
        )
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
        db.flush()
        raise AuthError("wrong username or password") from None
    user.failed_logins = 0
    user.locked_until = None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    db.flush()
    return user


def unlock_user(db: Session, username: str) -> User:
    """Lift a lockout (after the sponsor has checked who failed to log in)."""
    user = db.scalar(select(User).where(User.username == username))
    if user is None:
        raise EapError("no such user", variable="username", found=username)
    user.locked_until = None
    user.failed_logins = 0
    db.flush()
    return user


def set_active(db: Session, username: str, active: bool) -> User:
    """Deactivate a user who left the study (accounts are kept: the trail names them)."""
    user = db.scalar(select(User).where(User.username == username))
    if user is None:
        raise EapError("no such user", variable="username", found=username)
    user.active = active
    db.flush()
    return user


def list_users(db: Session) -> list[tuple[User, str | None]]:
    """Every account with its site code."""
    sites = {s.id: s.code for s in db.scalars(select(Site))}
    users = db.scalars(select(User).order_by(User.username))
    return [(u, sites.get(u.site_id) if u.site_id else None) for u in users]

"""Sessions and CSRF: an opaque random token in an HttpOnly, SameSite=Strict cookie.

The database keeps only the token's SHA-256, so a copy of the database does not
let anyone log in. Each session has its own CSRF token: forms carry it in a
hidden field, API clients send it in the ``X-CSRF-Token`` header on every
state-changing call. Logout deletes the session row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import delete
from sqlalchemy.orm import Session

from eap.store.access import Actor
from eap.store.models import User, WebSession, utcnow

COOKIE = "eap_session"
LOGIN_CSRF_COOKIE = "eap_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
SESSION_LIFETIME = dt.timedelta(hours=8)


class LoginRequired(Exception):
    """No valid session: the API answers 401, pages redirect to the login form."""


class CsrfFailed(Exception):
    """A state-changing request without the session's CSRF token."""


@dataclass(frozen=True)
class Login:
    """The logged-in user and the session's CSRF token."""

    actor: Actor
    csrf: str
    full_name: str
    site_id: int | None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(db: Session, user: User) -> tuple[str, str]:
    """Create a session for ``user``; return (cookie token, CSRF token)."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = utcnow()
    db.add(
        WebSession(
            token_hash=_digest(token),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    db.flush()
    return token, csrf


def close_session(db: Session, token: str | None) -> None:
    if token:
        db.execute(delete(WebSession).where(WebSession.token_hash == _digest(token)))


def resolve(db: Session, token: str | None) -> Login:
    """The login behind a cookie token, or LoginRequired."""
    if not token:
        raise LoginRequired
    ws = db.get(WebSession, _digest(token))
    if ws is None:
        raise LoginRequired
    expires = ws.expires_at if ws.expires_at.tzinfo else ws.expires_at.replace(tzinfo=dt.UTC)
    if expires < utcnow():
        raise LoginRequired
    user = db.get(User, ws.user_id)
    if user is None or not user.active:
        raise LoginRequired
    return Login(Actor.of(user), ws.csrf_token, user.full_name, user.site_id)


def check_csrf(expected: str, given: str | None) -> None:
    """Constant-time comparison; CsrfFailed when missing or different."""
    if not given or not hmac.compare_digest(expected, given):
        raise CsrfFailed


def request_token(request: Request) -> str | None:
    return request.cookies.get(COOKIE)

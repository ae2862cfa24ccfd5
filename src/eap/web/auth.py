"""Sessions and CSRF: an opaque random token in an HttpOnly, SameSite=Strict cookie.

The database keeps only the token's SHA-256, so a copy of the database does not
let anyone log in. Each session has its own CSRF token: forms carry it in a
hidden field, API clients send it in the ``X-CSRF-Token`` header on every
state-changing call. Logout deletes the session row. A user has at most
:data:`MAX_SESSIONS` live sessions: opening one more closes the oldest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import threading
from collections import deque
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from eap.store.access import Actor
from eap.store.audit import record_account_event
from eap.store.models import User, WebSession, utcnow

COOKIE = "eap_session"
LOGIN_CSRF_COOKIE = "eap_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
SESSION_LIFETIME = dt.timedelta(hours=8)
MAX_SESSIONS = 5
# Failed logins one client address may make in ADDRESS_WINDOW before its logins are
# refused unchecked (HTTP 429) until the oldest failure leaves the window.
ADDRESS_FAILURES = 10
ADDRESS_WINDOW = dt.timedelta(minutes=15)


class LoginRequired(Exception):
    """No valid session: the API answers 401, pages redirect to the login form."""


class CsrfFailed(Exception):
    """A state-changing request without the session's CSRF token."""


class PasswordChangeRequired(Exception):
    """The user's password was reset: nothing but a password change until it is changed."""


class TooManyLogins(Exception):
    """A client address that failed too many logins lately: refused before any check."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins from this address; retry in {retry_after} s")
        self.retry_after = retry_after


class AddressLimit:
    """Failed logins per client address over a sliding window, kept in memory by the
    server process (a restart forgets them; the per-account delay is in the database).

    It stops one client from guessing many passwords or pushing an account's delay up,
    without touching the account: the owner logging in from elsewhere is not affected."""

    def __init__(
        self, max_failures: int | None = ADDRESS_FAILURES, window: dt.timedelta = ADDRESS_WINDOW
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[str, deque[dt.datetime]] = {}
        self._lock = threading.Lock()

    def _recent(self, address: str, now: dt.datetime) -> deque[dt.datetime]:
        times = self._failures.get(address, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            self._failures.pop(address, None)
        return times

    def check(self, address: str, now: dt.datetime) -> None:
        """TooManyLogins when ``address`` already has max_failures within the window."""
        if self.max_failures is None:
            return
        with self._lock:
            times = self._recent(address, now)
            if len(times) >= self.max_failures:
                wait = times[0] + self.window - now
                raise TooManyLogins(max(1, int(wait.total_seconds()) + 1))

    def failed(self, address: str, now: dt.datetime) -> bool:
        """Count a failure; True when it is the one that reaches the limit."""
        if self.max_failures is None:
            return False
        with self._lock:
            times = self._recent(address, now)
            times.append(now)
            self._failures[address] = times
            return len(times) == self.max_failures


@dataclass(frozen=True)
class Login:
    """The logged-in user and the session's CSRF token."""

    actor: Actor
    csrf: str
    full_name: str
    site_id: int | None
    must_change_password: bool = False
    token_hash: str = ""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(db: Session, user: User) -> tuple[str, str]:
    """Create a session for ``user``; return (cookie token, CSRF token).

    Expired sessions of the user are removed, and the oldest live ones beyond
    MAX_SESSIONS (this one included) are closed, each in the trail as a logout."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = utcnow()
    db.execute(delete(WebSession).where(WebSession.user_id == user.id, WebSession.expires_at < now))
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
    _close_oldest(db, user, keep=_digest(token))
    return token, csrf


def _close_oldest(db: Session, user: User, keep: str) -> None:
    """Close the user's oldest sessions so that at most MAX_SESSIONS remain, ``keep``
    (the one just opened) among them."""
    others = db.scalars(
        select(WebSession.token_hash)
        .where(WebSession.user_id == user.id, WebSession.token_hash != keep)
        .order_by(WebSession.created_at.desc(), WebSession.token_hash)
    ).all()
    excess = list(others[MAX_SESSIONS - 1 :])
    if not excess:
        return
    db.execute(delete(WebSession).where(WebSession.token_hash.in_(excess)))
    record_account_event(
        db,
        actor=user.username,
        action="logout",
        table="users",
        record_id=user.id,
        detail=f"{len(excess)} oldest session(s) closed: at most {MAX_SESSIONS} per user",
    )


def close_session(db: Session, token: str | None) -> None:
    """Log out: delete the session, in the trail as a logout of its user."""
    if not token:
        return
    ws = db.get(WebSession, _digest(token))
    if ws is None:
        return
    user = db.get(User, ws.user_id)
    db.execute(delete(WebSession).where(WebSession.token_hash == ws.token_hash))
    record_account_event(
        db,
        actor=user.username if user else "?",
        action="logout",
        table="users",
        record_id=ws.user_id,
    )


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
    return Login(
        Actor.of(user),
        ws.csrf_token,
        user.full_name,
        user.site_id,
        must_change_password=user.must_change_password,
        token_hash=ws.token_hash,
    )


def check_csrf(expected: str, given: str | None) -> None:
    """Constant-time comparison; CsrfFailed when missing or different."""
    if not given or not hmac.compare_digest(expected, given):
        raise CsrfFailed


def request_token(request: Request) -> str | None:
    return request.cookies.get(COOKIE)

"""Logins over HTTP: one answer, the client address limit, the session cap, password change
and reset, the documentation behind login, read-only GETs, events in the trail."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, select
from typer.testing import CliRunner

from eap.cli import app as cli
from eap.store.models import AuditLog, User
from eap.web.app import create_app
from eap.web.auth import AddressLimit, TooManyLogins
from tests.store.helpers import PASSWORD, TODAY, Study

REFUSED = "wrong username or password"
Client = Callable[..., TestClient]


@pytest.fixture
def web(study: Study) -> Iterator[Callable[..., FastAPI]]:
    """``web(**options)``: the application over the study, with create_app's options."""
    apps: list[FastAPI] = []

    def make(**options: Any) -> FastAPI:
        app = create_app(study.url, today=lambda: TODAY, **options)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.state.engine.dispose()


def client(app: FastAPI, address: str = "10.0.0.1") -> TestClient:
    return TestClient(app, base_url="https://testserver", client=(address, 40000))


def api_login(c: TestClient, username: str, password: str = PASSWORD) -> Any:
    r = c.post("/api/session", json={"username": username, "password": password})
    if r.status_code == 200:
        c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return r


def trail(study: Study) -> list[tuple[str, str, int, str | None]]:
    with study.sessions() as db:
        rows = db.scalars(select(AuditLog).where(AuditLog.field == "event").order_by(AuditLog.id))
        return [(r.username, r.action, r.record_id, r.new_value) for r in rows]


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m
    return m.group(1)


# --------------------------------------------------------------------------- one answer


def test_unknown_wrong_and_delayed_get_the_same_answer(
    web: Callable[..., FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    from eap.store import users

    # A first delay of an hour, so that a slow machine cannot outlast it mid-test.
    monkeypatch.setattr(users, "FIRST_DELAY", dt.timedelta(hours=1))
    c = client(web(login_failures_per_address=None))
    for _ in range(5):
        api_login(c, "inv_b", "wrong password")
    answers = {
        "unknown": api_login(c, "nobody"),
        "wrong": api_login(c, "inv_a", "wrong password"),
        "delayed": api_login(c, "inv_b"),  # right password within the delay
    }
    for name, r in answers.items():
        assert (r.status_code, r.json()) == (401, {"detail": REFUSED}), name
    # The page says the same.
    page = c.get("/login")
    r = c.post(
        "/login",
        data={"username": "inv_b", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    assert r.status_code == 401 and REFUSED in r.text and "locked" not in r.text


# --------------------------------------------------------------------------- address limit


def test_address_limit_rule_by_hand() -> None:
    limit = AddressLimit(10, dt.timedelta(minutes=15))
    t0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    for i in range(9):
        limit.check("a", t0)
        assert limit.failed("a", t0) is False, i
    limit.check("a", t0)  # nine failures: still admitted
    assert limit.failed("a", t0) is True  # the tenth reaches the limit
    with pytest.raises(TooManyLogins) as info:
        limit.check("a", t0)
    assert info.value.retry_after == 15 * 60 + 1
    limit.check("b", t0)  # another address is not affected
    with pytest.raises(TooManyLogins):
        limit.check("a", t0 + dt.timedelta(minutes=15) - dt.timedelta(microseconds=1))
    limit.check("a", t0 + dt.timedelta(minutes=15))  # the failures left the window
    AddressLimit(None).check("a", t0)  # switched off


def test_an_address_with_ten_failures_is_refused_but_not_the_owner(
    web: Callable[..., FastAPI], study: Study
) -> None:
    app = web()
    stranger = client(app, "203.0.113.9")
    # Nine failures spread over two accounts: four against inv_a, not enough for a delay.
    for i in range(9):
        assert api_login(stranger, "inv_a" if i % 2 else "coord_a", "bad guess").status_code == 401
    assert api_login(stranger, "nobody", "bad guess").status_code == 401  # the tenth
    r = api_login(stranger, "inv_a")  # even the right password: refused unchecked
    assert r.status_code == 429 and "too many failed logins" in r.json()["detail"]
    assert int(r.headers["Retry-After"]) > 0
    page = stranger.get("/login")
    r = stranger.post(
        "/login",
        data={"username": "inv_a", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    assert r.status_code == 429 and "too many failed logins" in r.text
    # The owner, from their own address, logs in: the stranger locked nobody out.
    assert api_login(client(app, "198.51.100.7"), "inv_a").status_code == 200
    assert [e for e in trail(study) if e[1] == "addr_limit"] == [
        (
            "anonymous",
            "addr_limit",
            0,
            "10 failed logins from 203.0.113.9: refused for up to 0:15:00",
        )
    ]


# --------------------------------------------------------------------------- sessions


def test_at_most_five_sessions_per_user(web: Callable[..., FastAPI], study: Study) -> None:
    app = web()
    clients = [client(app) for _ in range(6)]
    for c in clients[:5]:
        assert api_login(c, "inv_a").status_code == 200
    assert all(c.get("/api/session").status_code == 200 for c in clients[:5])
    assert api_login(clients[5], "inv_a").status_code == 200  # the sixth
    assert clients[0].get("/api/session").status_code == 401  # the oldest was closed
    assert all(c.get("/api/session").status_code == 200 for c in clients[1:])
    uid = next(
        e[2] for e in trail(study) if e[1] == "create" and e[3] == "role investigator, site 01"
    )
    closed = [e for e in trail(study) if e[1] == "logout" and e[2] == uid]
    assert closed == [("inv_a", "logout", uid, "1 oldest session(s) closed: at most 5 per user")]


def test_login_and_logout_are_in_the_trail(web: Callable[..., FastAPI], study: Study) -> None:
    c = client(web(), "192.0.2.5")
    api_login(c, "monitor")
    assert c.delete("/api/session").status_code == 200
    mine = [(a, act, d) for a, act, _, d in trail(study) if a == "monitor"]
    assert mine == [("monitor", "login", "from 192.0.2.5"), ("monitor", "logout", None)]


# --------------------------------------------------------------------------- passwords


def test_password_change_through_the_api(web: Callable[..., FastAPI]) -> None:
    app = web()
    c, other = client(app), client(app)
    api_login(c, "inv_a")
    api_login(other, "inv_a")
    r = c.post("/api/password", json={"old_password": "wrong", "new_password": "x" * 10})
    assert r.status_code == 422 and r.json()["errors"] == {"old_password": "wrong password"}
    r = c.post("/api/password", json={"old_password": PASSWORD, "new_password": "x" * 9})
    assert r.status_code == 422 and "at least" not in r.text
    assert "password too short" in r.json()["errors"]["new_password"]
    r = c.post("/api/password", json={"old_password": PASSWORD, "new_password": "x" * 10})
    assert r.status_code == 200
    assert c.get("/api/session").status_code == 200  # this session stays
    assert other.get("/api/session").status_code == 401  # the other one is closed
    assert api_login(client(app), "inv_a", "x" * 10).status_code == 200
    assert api_login(client(app), "inv_a").status_code == 401
    # Without the CSRF token: refused.
    c.headers.pop("X-CSRF-Token")
    r = c.post("/api/password", json={"old_password": "x" * 10, "new_password": "y" * 10})
    assert r.status_code == 403


def test_password_change_page(web: Callable[..., FastAPI]) -> None:
    c = client(web())
    page = c.get("/login")
    c.post(
        "/login",
        data={"username": "coord_a", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    form = c.get("/password")
    assert form.status_code == 200 and 'name="new_password"' in form.text
    r = c.post(
        "/password",
        data={"old_password": PASSWORD, "new_password": "short", "csrf_token": csrf_of(form.text)},
    )
    assert r.status_code == 422 and 'id="error-new_password"' in r.text
    r = c.post(
        "/password",
        data={
            "old_password": PASSWORD,
            "new_password": "a fine new password",
            "csrf_token": csrf_of(form.text),
        },
    )
    assert r.status_code == 200 and 'id="changed"' in r.text


def test_admin_reset_forces_a_change_before_anything_else(
    web: Callable[..., FastAPI], study: Study
) -> None:
    app = web()
    before = client(app)
    api_login(before, "inv_a")
    r = CliRunner().invoke(
        cli,
        ["users", "reset-password", "inv_a", "--db", study.url],
        env={"EAP_PASSWORD": "temporary pass"},
    )
    assert r.exit_code == 0, r.output
    assert before.get("/api/session").status_code == 401  # the reset ended the session
    c = client(app)
    r = api_login(c, "inv_a", "temporary pass")
    assert r.status_code == 200 and r.json()["must_change_password"] is True
    assert c.get("/api/session").json()["must_change_password"] is True
    r = c.get("/api/patients")
    assert r.status_code == 403 and "password change required" in r.json()["detail"]
    assert c.get("/openapi.json").status_code == 403
    assert c.get("/patients", follow_redirects=False).headers["location"] == "/password"
    assert 'id="must-change"' in c.get("/password").text
    r = c.post(
        "/api/password", json={"old_password": "temporary pass", "new_password": "mine at last"}
    )
    assert r.status_code == 200
    assert c.get("/api/patients").status_code == 200
    listed = CliRunner().invoke(cli, ["users", "list", "--db", study.url])
    assert "must change" in listed.output


def test_reset_page_login_goes_to_the_password_form(
    web: Callable[..., FastAPI], study: Study
) -> None:
    CliRunner().invoke(
        cli,
        ["users", "reset-password", "monitor", "--db", study.url],
        env={"EAP_PASSWORD": "temporary pass"},
    )
    c = client(web())
    page = c.get("/login")
    r = c.post(
        "/login",
        data={
            "username": "monitor",
            "password": "temporary pass",
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/password"
    form = c.get("/password")
    r = c.post(
        "/password",
        data={
            "old_password": "temporary pass",
            "new_password": "a fine new password",
            "csrf_token": csrf_of(form.text),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/patients"
    with study.sessions() as db:
        assert (
            db.scalar(select(User.must_change_password).where(User.username == "monitor")) is False
        )


def test_cli_reset_of_an_unknown_user_names_it(study: Study) -> None:
    r = CliRunner().invoke(
        cli,
        ["users", "reset-password", "nobody", "--db", study.url],
        env={"EAP_PASSWORD": "temporary pass"},
    )
    assert r.exit_code != 0


# --------------------------------------------------------------------------- documentation


def test_docs_need_a_login_unless_public(web: Callable[..., FastAPI]) -> None:
    anon = client(web())
    assert anon.get("/openapi.json").status_code == 401
    assert anon.get("/docs", follow_redirects=False).headers["location"] == "/login"
    assert anon.get("/redoc").status_code in (303, 404)
    c = client(web())
    api_login(c, "monitor")
    assert "/api/session" in c.get("/openapi.json").json()["paths"]
    assert c.get("/docs").status_code == 200
    public = client(web(public_docs=True))
    assert public.get("/openapi.json").status_code == 200
    assert public.get("/docs").status_code == 200


# --------------------------------------------------------------------------- read-only GETs


def test_gets_take_no_write_lock(web: Callable[..., FastAPI], study: Study) -> None:
    app = web()
    c = client(app)
    api_login(c, "admin")
    seen: list[str] = []

    @event.listens_for(app.state.engine, "before_cursor_execute")
    def _watch(_conn: Any, _cur: Any, statement: str, *_args: Any) -> None:
        seen.append(statement.split()[0].upper() + " " + " ".join(statement.split()[1:2]))

    assert c.get("/api/patients").status_code == 200
    assert c.get("/patients").status_code == 200
    if study.url.startswith("sqlite"):
        assert "BEGIN IMMEDIATE" not in seen and "BEGIN " in seen
    else:
        assert "SET TRANSACTION" in seen
    assert not [s for s in seen if s.split()[0] in ("INSERT", "UPDATE", "DELETE")]


def test_password_checks_take_turns(
    web: Callable[..., FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one login slot, four simultaneous logins never check passwords at once."""
    import threading
    import time

    from eap.store import users

    inner = users._hasher
    running: list[int] = [0]
    peak: list[int] = [0]
    lock = threading.Lock()

    class Slow:
        def verify(self, password_hash: str, password: str) -> bool:
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.05)
            with lock:
                running[0] -= 1
            result: bool = inner.verify(password_hash, password)
            return result

        def hash(self, password: str) -> str:
            result: str = inner.hash(password)
            return result

        def check_needs_rehash(self, password_hash: str) -> bool:
            return False

    monkeypatch.setattr(users, "_hasher", Slow())
    app = web(password_checks_at_once=1)
    barrier = threading.Barrier(4)
    codes: list[int] = []

    def attempt(name: str) -> None:
        c = client(app, f"10.9.9.{len(name)}")
        barrier.wait()
        codes.append(api_login(c, name).status_code)

    names = ["inv_a", "inv_b", "coord_a", "monitor"]
    threads = [threading.Thread(target=attempt, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200] * 4
    assert peak[0] == 1

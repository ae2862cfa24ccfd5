"""Accounts on SQLite and PostgreSQL: the login delay, the atomic failure count, one refusal
for every case, password change and reset, and every account and site event in the trail."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from eap.errors import AuthError, EapError, StoreError
from eap.store import users
from eap.store.audit import record_account_event
from eap.store.db import read_session
from eap.store.models import AuditLog, Site, User, WebSession
from eap.store.users import (
    add_user,
    authenticate,
    change_password,
    login_delay,
    reset_password,
    set_active,
    unlock_user,
)
from tests.store.helpers import PASSWORD, Study, make_study

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
REFUSED = "wrong username or password"


@pytest.fixture
def study(db_url: str) -> Study:
    return make_study(db_url)


def log_in(study: Study, username: str, password: str, now: dt.datetime = T0) -> str:
    """authenticate() with a start that just names the user."""
    return authenticate(
        study.sessions, username, password, lambda _db, u: u.username, client="10.1.1.1", now=now
    )


def refused(study: Study, username: str, password: str, now: dt.datetime = T0) -> str:
    with pytest.raises(AuthError) as info:
        log_in(study, username, password, now)
    return str(info.value)


def account(study: Study, username: str) -> User:
    with study.sessions() as db:
        user = db.scalar(select(User).where(User.username == username))
        assert user is not None
        return user


def events(study: Study, table: str = "users") -> list[tuple[str, str, int, str | None]]:
    """(actor, action, record id, detail) of the account events of ``table``, in order."""
    with study.sessions() as db:
        rows = db.scalars(
            select(AuditLog)
            .where(AuditLog.table_name == table, AuditLog.field == "event")
            .order_by(AuditLog.id)
        )
        return [(r.username, r.action, r.record_id, r.new_value) for r in rows]


def aware(value: dt.datetime | None) -> dt.datetime | None:
    return value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None else value


# --------------------------------------------------------------------------- the delay rule


def test_login_delay_rule_by_hand() -> None:
    second = dt.timedelta(seconds=1)
    assert login_delay(0) == dt.timedelta(0)
    assert login_delay(4) == dt.timedelta(0)  # below the threshold: none
    assert login_delay(5) == 1 * second  # the fifth failure in a row: 1 s
    assert login_delay(6) == 2 * second
    assert login_delay(14) == 512 * second  # 2**9
    assert login_delay(15) == 15 * 60 * second  # 2**10 = 1024 s, capped at 900 s
    assert login_delay(16) == 15 * 60 * second
    assert login_delay(10**9) == 15 * 60 * second  # no overflow


def test_four_failures_do_not_delay_the_right_password(study: Study) -> None:
    for _ in range(4):
        assert refused(study, "inv_a", "wrong password") == REFUSED
    assert account(study, "inv_a").locked_until is None
    assert log_in(study, "inv_a", PASSWORD) == "inv_a"
    assert account(study, "inv_a").failed_logins == 0  # a login resets the count


def test_the_owner_gets_in_with_the_right_password_once_the_delay_is_over(study: Study) -> None:
    for _ in range(5):
        refused(study, "inv_a", "wrong password")
    user = account(study, "inv_a")
    assert user.failed_logins == 5
    assert aware(user.locked_until) == T0 + dt.timedelta(seconds=1)
    # Within the delay even the right password is refused, with the one answer...
    just_before = T0 + dt.timedelta(seconds=1) - dt.timedelta(microseconds=1)
    assert refused(study, "inv_a", PASSWORD, just_before) == REFUSED
    # ...and from its end the right password gets in: no lock, no administrator needed.
    assert log_in(study, "inv_a", PASSWORD, T0 + dt.timedelta(seconds=1)) == "inv_a"
    user = account(study, "inv_a")
    assert user.failed_logins == 0 and user.locked_until is None


def test_attempts_during_the_delay_neither_count_nor_lengthen_it(study: Study) -> None:
    for _ in range(5):
        refused(study, "inv_a", "wrong password")
    refused(study, "inv_a", "wrong password", T0 + dt.timedelta(milliseconds=500))
    user = account(study, "inv_a")
    assert user.failed_logins == 5
    assert aware(user.locked_until) == T0 + dt.timedelta(seconds=1)
    # After the delay a wrong password counts again: the sixth, 2 s from then.
    later = T0 + dt.timedelta(seconds=1)
    refused(study, "inv_a", "wrong password", later)
    user = account(study, "inv_a")
    assert user.failed_logins == 6
    assert aware(user.locked_until) == later + dt.timedelta(seconds=2)


def _concurrent_failures(study: Study, n: int) -> list[str]:
    """``n`` threads, each with its own sessions, post a wrong password at once."""
    barrier = threading.Barrier(n)
    answers: list[str] = []
    lock = threading.Lock()

    def attempt() -> None:
        barrier.wait()
        try:
            log_in(study, "inv_a", "wrong password")
        except AuthError as exc:
            with lock:
                answers.append(str(exc))

    threads = [threading.Thread(target=attempt) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def test_thirty_concurrent_failures_all_count(
    study: Study, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a delay in the way (threshold raised above 30), 30 concurrent wrong
    passwords leave the counter at exactly 30: the increment is the database's."""
    monkeypatch.setattr(users, "MAX_FAILED_LOGINS", 100)
    answers = _concurrent_failures(study, 30)
    assert answers == [REFUSED] * 30
    assert account(study, "inv_a").failed_logins == 30
    fails = [e for e in events(study) if e[1] == "login_fail"]
    assert len(fails) == 30


def test_thirty_concurrent_failures_engage_the_delay(study: Study) -> None:
    """With the real threshold, 30 concurrent wrong passwords (all at T0) count exactly
    five (the later ones come during the delay and are refused unchecked), the delay is
    on, and all 30 are in the trail."""
    answers = _concurrent_failures(study, 30)
    assert answers == [REFUSED] * 30
    user = account(study, "inv_a")
    assert user.failed_logins == 5
    assert aware(user.locked_until) == T0 + dt.timedelta(seconds=1)
    trail = events(study)
    assert len([e for e in trail if e[1] == "login_fail"]) == 30
    assert len([e for e in trail if e[1] == "locked"]) == 1


# --------------------------------------------------------------------------- one refusal


class CountingHasher:
    """The test hasher, counting verify() calls and the hashes they were given."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.verified: list[str] = []

    def verify(self, password_hash: str, password: str) -> bool:
        self.verified.append(password_hash)
        result: bool = self.inner.verify(password_hash, password)
        return result

    def hash(self, password: str) -> str:
        result: str = self.inner.hash(password)
        return result

    def check_needs_rehash(self, password_hash: str) -> bool:
        result: bool = self.inner.check_needs_rehash(password_hash)
        return result


def test_every_refusal_reads_the_same_and_costs_one_password_check(
    study: Study, monkeypatch: pytest.MonkeyPatch
) -> None:
    hasher = CountingHasher(users._hasher)
    monkeypatch.setattr(users, "_hasher", hasher)
    with study.sessions.begin() as db:
        set_active(db, "coord_b", False)
    for _ in range(5):
        refused(study, "inv_b", "wrong password")
    real_hash = account(study, "inv_a").password_hash
    cases = {
        "unknown user": ("nobody", PASSWORD),
        "wrong password": ("inv_a", "wrong password"),
        "inactive account": ("coord_b", PASSWORD),
        "within the delay": ("inv_b", PASSWORD),
    }
    for name, (username, password) in cases.items():
        hasher.verified.clear()
        assert refused(study, username, password) == REFUSED, name
        assert len(hasher.verified) == 1, name  # one argon2 check, as a real login
        if name == "wrong password":
            assert hasher.verified == [real_hash]
        else:
            assert hasher.verified == [users._dummy_hash()], name


def test_no_transaction_is_open_while_the_password_is_checked(
    study: Study, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = study.sessions.kw["bind"]
    checked_out: list[int] = []

    class Watching(CountingHasher):
        def verify(self, password_hash: str, password: str) -> bool:
            checked_out.append(engine.pool.checkedout())
            return super().verify(password_hash, password)

        def hash(self, password: str) -> str:
            checked_out.append(engine.pool.checkedout())
            return super().hash(password)

    monkeypatch.setattr(users, "_hasher", Watching(users._hasher))
    refused(study, "nobody", "x")
    refused(study, "inv_a", "wrong password")
    log_in(study, "inv_a", PASSWORD)
    change_password(study.sessions, "inv_a", PASSWORD, "a brand new password")
    reset_password(study.sessions, "inv_b", "temporary password", "cli:root")
    with study.sessions.begin() as db:
        add_user(db, "newcomer", "a long password", "monitor")
    assert len(checked_out) >= 7 and set(checked_out) == {0}


# --------------------------------------------------------------------------- the trail


def test_failed_logins_are_in_the_trail_even_though_the_login_fails(study: Study) -> None:
    long_name = "x" * 150
    refused(study, long_name, "whatever")
    refused(study, "inv_a", "wrong password")
    uid = account(study, "inv_a").id
    trail = events(study)
    assert ("anonymous", "login_fail", 0, "x" * 100) in trail  # truncated to 100
    assert ("inv_a", "login_fail", uid, "wrong password; 1 in a row from 10.1.1.1") in trail
    with study.sessions.begin() as db:
        set_active(db, "coord_b", False)
    refused(study, "coord_b", PASSWORD)
    for _ in range(5):
        refused(study, "inv_b", "wrong password")
    refused(study, "inv_b", PASSWORD)
    trail = events(study)
    cid, bid = account(study, "coord_b").id, account(study, "inv_b").id
    assert ("coord_b", "login_fail", cid, "inactive account; 1 in a row from 10.1.1.1") in trail
    assert trail[-2:] == [
        ("inv_b", "locked", bid, "5 failed logins in a row: login delay 0:00:01"),
        ("inv_b", "login_fail", bid, "during the login delay from 10.1.1.1"),
    ]


def test_lifecycle_events_in_the_trail(study: Study) -> None:
    uid = account(study, "inv_a").id
    for _ in range(5):
        refused(study, "inv_a", "wrong password")
    with study.sessions.begin() as db:
        unlock_user(db, "inv_a", "cli:root")
    log_in(study, "inv_a", PASSWORD)
    change_password(study.sessions, "inv_a", PASSWORD, "another good password")
    reset_password(study.sessions, "inv_a", "temporary password", "cli:root")
    with study.sessions.begin() as db:
        set_active(db, "inv_a", False, "cli:root")
        set_active(db, "inv_a", True, "cli:root")
    mine = [(actor, action) for actor, action, rid, _ in events(study) if rid == uid]
    assert mine == [
        ("eap", "create"),
        *[("inv_a", "login_fail")] * 5,
        ("inv_a", "locked"),
        ("cli:root", "unlock"),
        ("inv_a", "login"),
        ("inv_a", "password"),
        ("cli:root", "reset"),
        ("cli:root", "deactivate"),
        ("cli:root", "activate"),
    ]
    created = [e for e in events(study) if e[1] == "create" and e[2] == uid]
    assert created[0][3] == "role investigator, site 01"


def test_sites_added_by_db_init_are_in_the_trail(study: Study) -> None:
    trail = events(study, "sites")
    with study.sessions() as db:
        sites = {s.id: s for s in db.scalars(select(Site))}
    assert len(trail) == 11 == len(sites)  # the MM-024 hospitals
    for actor, action, rid, detail in trail:
        assert actor.startswith("cli:") and action == "create"
        assert detail == f"{sites[rid].code} {sites[rid].name}"


def test_record_account_event_refuses_other_tables_and_long_actions(study: Study) -> None:
    with study.sessions.begin() as db:
        with pytest.raises(StoreError, match="table"):
            record_account_event(db, actor="a", action="login", table="patients", record_id=1)
        with pytest.raises(StoreError, match="action"):
            record_account_event(db, actor="a", action="x" * 11, table="users", record_id=1)
        record_account_event(db, actor="a", action="x" * 10, table="users", record_id=1)
    assert ("a", "x" * 10, 1, None) in events(study)


# --------------------------------------------------------------------------- passwords


def test_change_password_policy(study: Study) -> None:
    with pytest.raises(EapError, match=r"new_password.*password too short") as info:
        change_password(study.sessions, "inv_a", PASSWORD, "x" * 9)
    assert "found 9 characters" in str(info.value)
    with pytest.raises(EapError, match="must differ"):
        change_password(study.sessions, "inv_a", PASSWORD, PASSWORD)
    with pytest.raises(AuthError):
        change_password(study.sessions, "inv_a", "not my password", "y" * 10)
    assert account(study, "inv_a").failed_logins == 1  # a wrong old password counts
    change_password(study.sessions, "inv_a", PASSWORD, "y" * 10)  # exactly 10: accepted
    assert log_in(study, "inv_a", "y" * 10) == "inv_a"
    assert refused(study, "inv_a", PASSWORD) == REFUSED


def _sessions_of(study: Study, username: str) -> list[str]:
    with study.sessions() as db:
        uid = db.scalar(select(User.id).where(User.username == username))
        return list(db.scalars(select(WebSession.token_hash).where(WebSession.user_id == uid)))


def _open(db: Session, user: User, name: str) -> str:
    db.add(
        WebSession(token_hash=name, user_id=user.id, csrf_token="c", created_at=T0, expires_at=T0)
    )
    return name


def test_change_keeps_this_session_and_closes_the_others(study: Study) -> None:
    with study.sessions.begin() as db:
        user = db.scalar(select(User).where(User.username == "inv_a"))
        assert user is not None
        _open(db, user, "this")
        _open(db, user, "other")
    change_password(study.sessions, "inv_a", PASSWORD, "a new password!", keep_session="this")
    assert _sessions_of(study, "inv_a") == ["this"]


def test_reset_forces_a_change_and_ends_sessions(study: Study) -> None:
    with study.sessions.begin() as db:
        user = db.scalar(select(User).where(User.username == "inv_a"))
        assert user is not None
        _open(db, user, "s1")
    for _ in range(5):
        refused(study, "inv_a", "wrong password")
    with pytest.raises(EapError, match="password too short"):
        reset_password(study.sessions, "inv_a", "short", "cli:root")
    reset_password(study.sessions, "inv_a", "temporary password", "cli:root")
    user = account(study, "inv_a")
    assert user.must_change_password and user.locked_until is None and user.failed_logins == 0
    assert _sessions_of(study, "inv_a") == []
    assert log_in(study, "inv_a", "temporary password") == "inv_a"
    change_password(study.sessions, "inv_a", "temporary password", "my own password")
    assert not account(study, "inv_a").must_change_password
    with pytest.raises(EapError, match="no such user"):
        reset_password(study.sessions, "nobody", "temporary password", "cli:root")


# --------------------------------------------------------------------------- read sessions


def test_a_read_session_refuses_writes(study: Study) -> None:
    with read_session(study.sessions) as db:
        assert db.scalar(select(User.id).where(User.username == "inv_a")) is not None
        with pytest.raises(DBAPIError, match=r"(?i)read.?only"):
            db.execute(text("UPDATE users SET full_name = 'x'"))
    assert account(study, "inv_a").full_name == ""


def test_readers_do_not_wait_for_a_writer(study: Study) -> None:
    if study.url.startswith("sqlite"):
        engine = study.sessions.kw["bind"]
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    # A writer holds the write lock; a reader still reads at once (busy timeout 30 s).
    with study.sessions.begin() as writer:
        writer.execute(text("UPDATE users SET full_name = 'w' WHERE username = 'inv_a'"))
        with read_session(study.sessions) as reader:
            assert reader.scalar(select(User.full_name).where(User.username == "inv_a")) == ""


def test_sites_added_by_a_transfer_are_in_the_trail(study: Study) -> None:
    import polars as pl

    from eap.store.transfer import load_sdtm
    from tests.store.test_transfer import TRANSFER, replaced, subset

    sdtm = subset(1)
    dm = sdtm["DM"].frame.with_columns(pl.lit("99").alias("SITEID"))
    summary = load_sdtm(study.url, replaced(sdtm, "DM", dm), transfer=TRANSFER)
    assert summary.sites_added == ("99",)
    with study.sessions() as db:
        site_id = db.scalar(select(Site.id).where(Site.code == "99"))
    assert events(study, "sites")[-1] == ("eap-transfer", "create", site_id, "99 Site 99")

"""The tamper-evident trail on SQLite and PostgreSQL: the hash chain, its one way in
(audit.append), `eap audit verify` against tampering behind the application's back, and
migration 0003 on a database that already has a trail."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import re
import threading
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from typer.testing import CliRunner

from eap.cli import app
from eap.errors import StoreError
from eap.store import audit, service
from eap.store.db import alembic_config, make_engine
from eap.store.models import AuditLog
from eap.store.schemas import AdverseEventIn
from eap.store.verify import ChainCheck, Finding, check_gap, verify_trail
from tests.store.helpers import TODAY, Study, make_study, register

GENESIS = "0" * 64


@pytest.fixture
def study(db_url: str) -> Study:
    return make_study(db_url)


def ae_in(**over: Any) -> AdverseEventIn:
    values: dict[str, Any] = dict(
        reported_term="Neutropenia",
        ctcae_term="Neutrophil count decreased",
        grade=3,
        start_date=dt.date(2013, 3, 1),
    )
    values.update(over)
    return AdverseEventIn(**values)


def add_ae(study: Study, pid: int, **over: Any) -> int:
    with study.sessions.begin() as db:
        rid: int = service.add_record(db, study.actors["inv_a"], pid, "ae", ae_in(**over), TODAY).id
        return rid


def auditor_hash(e: AuditLog) -> str:
    """The chain as docs/web.md tells an auditor to recompute it, written apart from eap."""
    ts = e.ts if e.ts.tzinfo else e.ts.replace(tzinfo=dt.UTC)
    fields = [
        e.id,
        ts.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        e.username,
        e.action,
        e.table_name,
        e.record_id,
        e.patient_id,
        e.field,
        e.old_value,
        e.new_value,
        e.reason,
        e.prev_hash,
    ]
    text = json.dumps(fields, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def trail(study: Study) -> list[AuditLog]:
    with study.sessions() as db:
        return list(db.scalars(select(AuditLog).order_by(AuditLog.id)))


def verify(url: str, *extra: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(app, ["audit", "verify", "--db", url, *extra])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output.splitlines()


def owner(study: Study) -> Engine:
    """A plain engine as the tables' owner (the URL the tests created the database with)."""
    return make_engine(study.url)


def lift_trigger(conn: Any, table: str, verb: str) -> None:
    """What the owner of the database can do: take a guard trigger away."""
    if conn.dialect.name == "sqlite":
        conn.execute(text(f"DROP TRIGGER {table}_no_{verb}"))
    else:
        conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {table}_no_{verb}"))


# --------------------------------------------------------------------------- serialisation


def test_canonical_serialisation_worked_by_hand() -> None:
    row = dict(
        id=1,
        ts=dt.datetime(2016, 6, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        username="müller",
        action="create",
        table_name="adverse_events",
        record_id=7,
        patient_id=3,
        field="grade",
        old_value=None,
        new_value="3",
        reason=None,
        prev_hash=GENESIS,
    )
    expected = (
        '[1,"2016-06-01T10:00:00.000000Z","m\u00fcller","create","adverse_events",7,3,'
        '"grade",null,"3",null,"' + GENESIS + '"]'
    ).encode("utf-8")
    assert expected.count(b"\xc3\xbc") == 1  # the u-umlaut in UTF-8, not escaped
    assert audit.canonical(row) == expected
    assert audit.row_hash(row) == hashlib.sha256(expected).hexdigest()
    # A naive timestamp is UTC (SQLite gives them back so): the same instant, the same text.
    naive = {**row, "ts": dt.datetime(2016, 6, 1, 10, 0)}
    assert audit.canonical(naive) == expected
    # Every field counts: one changed character is another hash.
    assert audit.row_hash({**row, "new_value": "4"}) != audit.row_hash(row)
    assert audit.row_hash({**row, "prev_hash": "1" + GENESIS[1:]}) != audit.row_hash(row)


# The recomputation docs/web.md gives for PostgreSQL, word for word.
RECOMPUTE_SQL = """
SELECT id,
       hash = encode(sha256(convert_to(
         '[' || id || ',' ||
         to_json(to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) || ',' ||
         to_json(username) || ',' || to_json(action) || ',' || to_json(table_name) || ',' ||
         record_id || ',' || coalesce(patient_id::text, 'null') || ',' ||
         to_json(field) || ',' || coalesce(to_json(old_value)::text, 'null') || ',' ||
         coalesce(to_json(new_value)::text, 'null') || ',' ||
         coalesce(to_json(reason)::text, 'null') || ',' || to_json(prev_hash) || ']',
         'UTF8')), 'hex') AS hash_ok,
       prev_hash = coalesce(lag(hash) OVER (ORDER BY id), repeat('0', 64)) AS link_ok
FROM audit_log ORDER BY id
"""


def test_an_auditor_recomputes_the_chain_without_eap(study: Study) -> None:
    """Python on both backends, and SQL on PostgreSQL, as docs/web.md gives them; over
    text that needs escaping (quotes, backslash, control characters, beyond ASCII)."""
    pid = register(study, "inv_a")
    rid = add_ae(study, pid, reported_term="Übelkeit «sévère» 恶心")
    with study.sessions.begin() as db:
        service.update_record(
            db,
            study.actors["inv_a"],
            pid,
            "ae",
            rid,
            1,
            'Müller\'s "source"',
            ae_in(grade=4),
            TODAY,
        )
    odd = 'tab\there, line\nbreak, back\\slash, bell\x07, del\x7f, \u2028, 😀 "q" /'
    with study.sessions.begin() as db:
        audit.append(
            db.connection(),
            [
                dict(
                    ts=dt.datetime(2016, 6, 1, 9, 30, 1, 5, tzinfo=dt.UTC),
                    username="system",
                    action="note",
                    table_name="users",
                    record_id=1,
                    patient_id=None,
                    field="comment",
                    old_value=odd,
                    new_value=None,
                    reason=odd,
                )
            ],
        )
    rows = trail(study)
    assert all(row.hash == auditor_hash(row) for row in rows)
    engine = owner(study)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            checked = conn.execute(text(RECOMPUTE_SQL)).all()
        assert [r.id for r in checked] == [r.id for r in rows]
        assert all(r.hash_ok and r.link_ok for r in checked), [r for r in checked if not r[1]]


def test_ids_run_on_by_one_and_a_step_is_a_gap() -> None:
    chain = ChainCheck(last_id=4)
    assert check_gap(chain, 5) is None
    one = check_gap(chain, 6)
    assert one is not None and "row 5 missing" in one.kind
    assert (one.expected, one.found) == ("5", "6")
    two = check_gap(chain, 7)
    assert two is not None and "rows 5 to 6 missing" in two.kind
    for early in (4, 0, -3):  # at or below the last id: inserted by hand
        found = check_gap(chain, early)
        assert found is not None and "inserted by hand" in found.kind
        assert (found.expected, found.found) == ("5", str(early))


def test_replay_refuses_an_old_value_it_does_not_hold() -> None:
    from types import SimpleNamespace as Row

    create = Row(table_name="visits", record_id=2, action="create", field="notes")
    good = Row(**vars(create), old_value=None, new_value="a")
    rows = [good, Row(**{**vars(create), "action": "update"}, old_value="a", new_value="b")]
    assert audit.replay(rows) == {("visits", 2): {"notes": "b"}}
    bad = Row(**{**vars(create), "action": "update"}, old_value="x", new_value="c")
    with pytest.raises(StoreError, match=r'visits\.notes \(row 2\).*expected "a", found "x"'):
        audit.replay([good, bad])


def test_finding_names_table_record_field_expected_and_found() -> None:
    f = Finding("value differs", "adverse_events", 3, "grade", "'3'", "'4'")
    assert f.text() == "adverse_events 3 grade: value differs; expected '3', found '4'"


# --------------------------------------------------------------------------- append


def test_every_trail_row_is_chained_and_numbered_without_gaps(study: Study) -> None:
    pid = register(study, "inv_a")
    rid = add_ae(study, pid)
    with study.sessions.begin() as db:
        service.update_record(
            db, study.actors["inv_a"], pid, "ae", rid, 1, "source", ae_in(grade=4), TODAY
        )
    rows = trail(study)
    assert [e.id for e in rows] == list(range(1, len(rows) + 1))
    assert rows[0].prev_hash == GENESIS
    for before, row in itertools.pairwise(rows):
        assert row.prev_hash == before.hash
    for row in rows:
        assert row.hash == auditor_hash(row)


def test_a_rolled_back_transaction_leaves_no_hole_in_the_ids(study: Study) -> None:
    pid = register(study, "inv_a")
    before = len(trail(study))
    with pytest.raises(RuntimeError), study.sessions.begin() as db:
        service.add_record(db, study.actors["inv_a"], pid, "ae", ae_in(), TODAY)
        db.flush()
        raise RuntimeError("the request fails after the trail was written")
    add_ae(study, pid)
    ids = [e.id for e in trail(study)]
    assert ids == list(range(1, len(ids) + 1)) and len(ids) > before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": 5}, "id"),
        ({"hash": "0" * 64}, "hash"),
        ({"ts": "2016-06-01"}, "ts"),
        ({"record_id": "7"}, "record_id"),
        ({"username": ""}, "username"),
        ({"old_value": 3}, "old_value"),
    ],
)
def test_append_refuses_a_malformed_row_and_stores_nothing(
    study: Study, change: dict[str, Any], field: str
) -> None:
    row: dict[str, Any] = dict(
        ts=dt.datetime(2016, 6, 1, tzinfo=dt.UTC),
        username="system",
        action="login",
        table_name="users",
        record_id=1,
        patient_id=None,
        field="session",
        old_value=None,
        new_value="opened",
        reason=None,
    )
    before = len(trail(study))
    with (
        pytest.raises(StoreError, match=rf"audit_log\.{field}") as info,
        study.sessions.begin() as db,
    ):
        audit.append(db.connection(), [row, {**row, **change}])
    assert info.value.rows == [2]
    assert len(trail(study)) == before
    with study.sessions.begin() as db:  # the same row, well formed, goes in
        audit.append(db.connection(), [row])
    assert len(trail(study)) == before + 1


def test_append_without_a_key_names_it(study: Study) -> None:
    row = dict(ts=dt.datetime(2016, 6, 1, tzinfo=dt.UTC), username="system")
    with (
        pytest.raises(StoreError, match=r"audit_log\.action.*no such key"),
        study.sessions.begin() as db,
    ):
        audit.append(db.connection(), [row])


def test_concurrent_writers_extend_one_chain(study: Study) -> None:
    """Four transactions append at once; each waits for the chain, none forks it or fails."""
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            barrier.wait()
            register(study, "inv_a", f"01{i:02d}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = trail(study)
    prevs = [r.prev_hash for r in rows]
    assert len(set(prevs)) == len(prevs)  # no two rows chain to one predecessor
    assert [r.id for r in rows] == list(range(1, len(rows) + 1))
    assert verify_trail(study.url).findings == []


def test_a_writer_waits_for_the_chain_before_it_locks_a_row(study: Study) -> None:
    """A holds the chain and then changes a record B is changing too. B must wait for the
    chain before writing its row (then lose with a conflict), not hold the row while
    waiting for the chain, which would deadlock the two (PostgreSQL aborts one)."""
    from eap.errors import ConflictError

    pid = register(study, "inv_a")
    x, y = add_ae(study, pid), add_ae(study, pid, reported_term="Anaemia", ctcae_term="Anemia")
    outcome: list[str] = []

    def writer_b() -> None:
        try:
            with study.sessions.begin() as db:
                service.update_record(
                    db,
                    study.actors["coord_a"],
                    pid,
                    "ae",
                    y,
                    1,
                    "b",
                    ae_in(reported_term="Anaemia", ctcae_term="Anemia", grade=2),
                    TODAY,
                )
            outcome.append("b saved")
        except ConflictError:
            outcome.append("b conflict")
        except Exception as exc:  # the deadlock, reported below
            outcome.append(f"b failed: {type(exc).__name__}")

    b = threading.Thread(target=writer_b)
    with study.sessions.begin() as db:
        actor = study.actors["inv_a"]
        service.update_record(db, actor, pid, "ae", x, 1, "a", ae_in(grade=4), TODAY)
        db.flush()  # A now holds the chain
        b.start()
        b.join(timeout=1.5)  # B reaches its write and waits
        service.update_record(
            db,
            actor,
            pid,
            "ae",
            y,
            1,
            "a",
            ae_in(reported_term="Anaemia", ctcae_term="Anemia", grade=1),
            TODAY,
        )
    b.join()
    assert outcome == ["b conflict"]
    assert verify_trail(study.url).findings == []


# --------------------------------------------------------------------------- verify


SUMMARY = re.compile(
    r"audit trail verified: (\d+) trail rows chain, (\d+) records match their trail; "
    r"head (\d+) ([0-9a-f]{64})"
)


def test_verify_passes_on_a_study_built_through_the_application(study: Study) -> None:
    pid = register(study, "inv_a")
    rid = add_ae(study, pid)
    with study.sessions.begin() as db:
        service.update_record(
            db, study.actors["inv_a"], pid, "ae", rid, 1, "source", ae_in(grade=4), TODAY
        )
    with study.sessions.begin() as db:
        service.delete_record(db, study.actors["inv_a"], pid, "ae", rid, 2, "duplicate")
    code, lines = verify(study.url)
    rows = trail(study)
    assert code == 0 and len(lines) == 1
    m = SUMMARY.fullmatch(lines[0])
    assert m is not None, lines
    assert m.groups() == (str(len(rows)), "2", str(rows[-1].id), rows[-1].hash)


def test_verify_a_new_study_whose_trail_holds_only_its_sites(db_url: str) -> None:
    from eap.store.bootstrap import init_study

    init_study(db_url)
    with make_engine(db_url).connect() as conn:
        n_sites = conn.execute(text("SELECT count(*) FROM sites")).scalar_one()
        events = conn.execute(
            text("SELECT table_name, action, field FROM audit_log ORDER BY id")
        ).all()
    # One creation event per site seeded, and nothing about clinical records.
    assert n_sites > 0
    assert events == [("sites", "create", "event")] * n_sites
    code, lines = verify(db_url)
    assert code == 0 and len(lines) == 1
    m = SUMMARY.fullmatch(lines[0])
    assert m is not None, lines
    assert m.groups()[:3] == (str(n_sites), "0", str(n_sites))


def test_verify_catches_an_update_behind_the_applications_back(study: Study) -> None:
    pid = register(study, "inv_a")
    rid = add_ae(study, pid)
    with owner(study).begin() as conn:
        conn.execute(text(f"UPDATE adverse_events SET grade = 4 WHERE id = {rid}"))
    code, lines = verify(study.url)
    assert code == 1
    assert lines[:-1] == [
        f"adverse_events {rid} grade: value differs from the trail (changed behind the "
        "application's back); expected '3', found '4'"
    ]
    assert lines[-1].startswith("audit trail verification FAILED: 1 finding (")


def test_verify_catches_an_insert_behind_the_applications_back(study: Study) -> None:
    pid = register(study, "inv_a")
    with owner(study).begin() as conn:
        conn.execute(
            text(
                "INSERT INTO visits (id, patient_id, visit_date, alive, version, deleted, "
                "created_at, created_by, updated_at, updated_by) VALUES (41, :p, :d, :t, 1, "
                ":f, :ts, 'x', :ts, 'x')"
            ),
            {
                "p": pid,
                "d": dt.date(2014, 1, 1),
                "ts": dt.datetime(2014, 1, 1),
                "t": True,
                "f": False,
            },
        )
    code, lines = verify(study.url)
    assert code == 1
    assert lines[:-1] == [
        "visits 41 *: record has no audit trail (written behind the application's back); "
        "expected a create in the trail, found none"
    ]


def test_verify_catches_a_forged_trail_row(study: Study) -> None:
    pid = register(study, "inv_a")
    rid = add_ae(study, pid)
    head = trail(study)[-1]
    with owner(study).begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_log (id, ts, username, action, table_name, record_id, "
                "patient_id, field, old_value, new_value, reason, prev_hash, hash) VALUES "
                "(:id, :ts, 'inv_a', 'update', 'adverse_events', :rid, :pid, 'grade', '3', "
                "'4', 'late entry', :prev, :hash)"
            ),
            {
                "id": head.id + 1,
                "ts": dt.datetime(2016, 6, 1),
                "rid": rid,
                "pid": pid,
                "prev": head.hash,
                "hash": "f" * 64,
            },
        )
    code, lines = verify(study.url)
    assert code == 1
    assert len(lines) == 3
    assert lines[0].startswith(
        f"audit_log {head.id + 1} hash: hash does not match the row (changed or forged); expected "
    )
    assert lines[0].endswith(f", found {'f' * 64}")
    assert lines[1] == (
        f"adverse_events {rid} grade: value differs from the trail (changed behind the "
        "application's back); expected '4', found '3'"
    )


def test_verify_catches_an_edited_trail_row(study: Study) -> None:
    pid = register(study, "inv_a")
    rid = add_ae(study, pid)
    edited = next(
        e for e in trail(study) if e.table_name == "adverse_events" and e.field == "grade"
    )
    with owner(study).begin() as conn:
        lift_trigger(conn, "audit_log", "update")
        conn.execute(text(f"UPDATE audit_log SET new_value = '2' WHERE id = {edited.id}"))
    code, lines = verify(study.url)
    assert code == 1 and len(lines) == 3
    assert lines[0].startswith(f"audit_log {edited.id} hash: hash does not match the row")
    assert lines[0].endswith(f", found {edited.hash}")
    assert lines[1] == (
        f"adverse_events {rid} grade: value differs from the trail (changed behind the "
        "application's back); expected '2', found '3'"
    )


def test_verify_catches_a_removed_trail_row(study: Study) -> None:
    pid = register(study, "inv_a")
    add_ae(study, pid)
    rows = trail(study)
    gone = next(e for e in rows if e.table_name == "patients" and e.field == "age")
    before, after = rows[gone.id - 2], rows[gone.id]
    with owner(study).begin() as conn:
        lift_trigger(conn, "audit_log", "delete")
        conn.execute(text(f"DELETE FROM audit_log WHERE id = {gone.id}"))
    code, lines = verify(study.url)
    assert code == 1
    assert lines[:-1] == [
        f"audit_log {after.id} id: gap in the trail ids (row {gone.id} missing); "
        f"expected {gone.id}, found {after.id}",
        f"audit_log {after.id} prev_hash: broken link (the row before it was removed, or this "
        f"one forged); expected {before.hash}, found {gone.hash}",
        f"patients {pid} age: value differs from the trail (changed behind the application's "
        "back); expected empty, found '65'",
    ]


def test_verify_catches_a_record_removed_behind_the_applications_back(study: Study) -> None:
    pid = register(study, "inv_a")
    rid = add_ae(study, pid)
    with owner(study).begin() as conn:
        lift_trigger(conn, "adverse_events", "delete")
        conn.execute(text(f"DELETE FROM adverse_events WHERE id = {rid}"))
    code, lines = verify(study.url)
    assert code == 1
    assert lines[:-1] == [
        f"adverse_events {rid} *: record in the trail is missing from its table (removed); "
        "expected the record, found none"
    ]


def test_verify_catches_an_old_value_the_trail_never_held(study: Study) -> None:
    pid = register(study, "inv_a")
    rid = add_ae(study, pid)
    with study.sessions.begin() as db:
        service.update_record(
            db, study.actors["inv_a"], pid, "ae", rid, 1, "source", ae_in(grade=4), TODAY
        )
    update = trail(study)[-1]
    assert (update.action, update.field, update.old_value) == ("update", "grade", "3")
    with owner(study).begin() as conn:
        lift_trigger(conn, "audit_log", "update")
        conn.execute(text(f"UPDATE audit_log SET old_value = '2' WHERE id = {update.id}"))
    code, lines = verify(study.url)
    assert code == 1 and len(lines) == 3
    assert lines[0].startswith(f"audit_log {update.id} hash: hash does not match the row")
    assert lines[1] == (
        f"adverse_events {rid} grade: trail row {update.id} does not follow from the rows "
        "before it; expected '3', found '2'"
    )


def test_verify_catches_a_row_forged_before_the_first(study: Study) -> None:
    register(study, "inv_a")
    first = trail(study)[0]
    forged_hash = "e" * 64
    with owner(study).begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_log (id, ts, username, action, table_name, record_id, "
                "patient_id, field, old_value, new_value, reason, prev_hash, hash) VALUES "
                "(0, :ts, 'x', 'create', 'users', 1, NULL, 'role', NULL, 'admin', NULL, :g, :h)"
            ),
            {"ts": dt.datetime(2016, 6, 1), "g": GENESIS, "h": forged_hash},
        )
    code, lines = verify(study.url)
    assert code == 1
    assert lines[0] == (
        "audit_log 0 id: id before the start of the chain (a row inserted by hand); "
        "expected 1, found 0"
    )
    assert lines[1].startswith("audit_log 0 hash: hash does not match the row")
    assert lines[2] == (
        f"audit_log {first.id} prev_hash: broken link (the row before it was removed, or this "
        f"one forged); expected {forged_hash}, found {GENESIS}"
    )


def test_verify_reports_values_their_columns_cannot_hold(study: Study) -> None:
    """SQLite stores text in a date column; verify names the row instead of stopping.
    PostgreSQL refuses such a value in the first place."""
    pid = register(study, "inv_a")
    rid = add_ae(study, pid)
    rows = trail(study)
    target = rows[2]
    engine = owner(study)
    if engine.dialect.name == "postgresql":
        for sql in (
            f"UPDATE adverse_events SET start_date = 'garbage' WHERE id = {rid}",
            f"INSERT INTO audit_log SELECT {len(rows) + 1}, 'garbage', username, action, "
            "table_name, record_id, patient_id, field, old_value, new_value, reason, "
            f"prev_hash, hash FROM audit_log WHERE id = 1",
        ):
            with pytest.raises(Exception, match="invalid input syntax"), engine.begin() as conn:
                conn.execute(text(sql))
        assert verify(study.url)[0] == 0
        return
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE adverse_events SET start_date = 'garbage' WHERE id = {rid}"))
        lift_trigger(conn, "audit_log", "update")
        conn.execute(text(f"UPDATE audit_log SET ts = 'not a time' WHERE id = {target.id}"))
    code, lines = verify(study.url)
    assert code == 1
    # "found" is the parser's own message, which quotes the value
    unreadable = (
        "*: a stored value is not of its column's type (written behind the application's "
        "back); expected values of the column types, found "
    )
    assert lines[0].startswith(f"audit_log {target.id} {unreadable}")
    assert lines[0].endswith("'not a time'")
    bad_ae = [line for line in lines if line.startswith(f"adverse_events {rid} {unreadable}")]
    assert len(bad_ae) == 1 and bad_ae[0].endswith("'garbage'")
    assert not any(" id: " in line or "prev_hash" in line for line in lines)  # chain goes on


def test_expect_head_catches_a_consistent_rewrite(study: Study) -> None:
    """The owner can rewrite the whole chain consistently; a head kept elsewhere shows it."""
    pid = register(study, "inv_a")
    rid = add_ae(study, pid)
    noted = trail(study)[-1].hash
    assert verify(study.url, "--expect-head", noted)[0] == 0
    assert verify(study.url, "--expect-head", noted.upper())[0] == 0
    rows = trail(study)
    target = next(e for e in rows if e.table_name == "adverse_events" and e.field == "grade")
    with owner(study).begin() as conn:
        lift_trigger(conn, "audit_log", "update")
        conn.execute(text(f"UPDATE adverse_events SET grade = 2 WHERE id = {rid}"))
        prev = rows[target.id - 2].hash
        for e in rows[target.id - 1 :]:
            values = {c: getattr(e, c) for c in ("id", *audit.ROW_FIELDS)}
            if e.id == target.id:
                values["new_value"] = "2"
            values["prev_hash"] = prev
            prev = audit.row_hash(values)
            conn.execute(
                text(
                    "UPDATE audit_log SET new_value = :v, prev_hash = :p, hash = :h WHERE id = :i"
                ),
                {"v": values["new_value"], "p": values["prev_hash"], "h": prev, "i": e.id},
            )
    assert verify(study.url)[0] == 0  # a consistent rewrite passes the chain alone...
    code, lines = verify(study.url, "--expect-head", noted)
    assert code == 1  # ...but not the head noted before it
    assert lines[0] == (
        "audit_log hash: the chain no longer passes through the head noted earlier (rewritten "
        f"or cut back); expected {noted}, found no row with that hash (head now {rows[-1].id} "
        f"{prev})"
    )


def test_expect_head_catches_rows_cut_off_the_end(study: Study) -> None:
    pid = register(study, "inv_a")
    noted = trail(study)[-1].hash
    add_ae(study, pid, reported_term="Anaemia", ctcae_term="Anemia", grade=2)
    assert verify(study.url, "--expect-head", noted)[0] == 0  # rows appended since: fine
    rows = trail(study)
    noted = rows[-1].hash
    with owner(study).begin() as conn:
        lift_trigger(conn, "audit_log", "delete")
        conn.execute(text(f"DELETE FROM audit_log WHERE id = {rows[-1].id}"))
    code, lines = verify(study.url, "--expect-head", noted)
    assert code == 1
    assert any("no longer passes through the head noted earlier" in line for line in lines)


@pytest.mark.parametrize("bad", ["abc", "g" * 64, "0" * 63, "0" * 65])
def test_expect_head_must_be_a_hash(tmp_path: Any, bad: str) -> None:
    with pytest.raises(StoreError, match=r"--expect-head.*64 hexadecimal digits"):
        verify_trail(f"sqlite:///{tmp_path / 'x.db'}", bad)


# --------------------------------------------------------------------------- migration 0003


@pytest.mark.parametrize("holes", [False, True])
def test_migration_chains_an_existing_trail(study: Study, holes: bool) -> None:
    """A database from before 0003 (on PostgreSQL possibly with holes in its ids, which
    sequences leave after a rollback) gets its trail chained in id order, and verifies."""
    from alembic import command

    pid = register(study, "inv_a")
    rid = add_ae(study, pid)
    with study.sessions.begin() as db:
        service.update_record(
            db, study.actors["inv_a"], pid, "ae", rid, 1, "source", ae_in(grade=4), TODAY
        )
    content = [(e.table_name, e.field, e.new_value) for e in trail(study)]
    engine = owner(study)
    with engine.begin() as conn:
        cfg = alembic_config(study.url)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql" and holes:
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update"))
            conn.execute(text("UPDATE audit_log SET id = -id"))  # the key is checked per row
            conn.execute(text("UPDATE audit_log SET id = -id * 3"))
            conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update"))
        assert "hash" not in list(conn.execute(text("SELECT * FROM audit_log")).keys())
    with engine.begin() as conn:
        cfg = alembic_config(study.url)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    rows = trail(study)
    assert [(e.table_name, e.field, e.new_value) for e in rows] == content
    assert [e.id for e in rows] == list(range(1, len(rows) + 1))
    assert rows[0].prev_hash == GENESIS
    for before, row in itertools.pairwise(rows):
        assert row.prev_hash == before.hash
    assert all(row.hash == auditor_hash(row) for row in rows)
    assert verify(study.url)[0] == 0
    # and the application goes on appending to the migrated chain
    add_ae(study, pid, reported_term="Anaemia", ctcae_term="Anemia", grade=2)
    assert verify(study.url)[0] == 0
    with study.sessions() as db:
        count = db.scalar(select(func.count()).select_from(AuditLog))
    assert count == len(trail(study))

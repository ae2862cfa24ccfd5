"""The audit trail: every create, update and soft delete of clinical data, field by field.

Recording happens in SQLAlchemy's flush events, so no code path that changes a
clinical row through the ORM can skip the trail. Who and why come from the
session: :func:`set_actor` before the change. Rules (21 CFR Part 11 in spirit):

* a create records every field with old value empty; no reason is needed;
* an update records each changed field with old and new values and needs a reason;
* a delete is a soft delete (``deleted`` true) and needs a reason; removing a
  clinical row is refused here and by a database trigger;
* trail rows are only ever inserted (database triggers refuse UPDATE/DELETE), and
  only by :func:`append`, which chains each row to the one before it by a SHA-256
  hash (:func:`row_hash`) so that a row changed, forged or removed behind the
  application's back shows (``eap audit verify``, :mod:`eap.store.verify`).

Values are stored as text by :func:`serialize`; :func:`replay` rebuilds every
record's fields from the trail alone, which tests compare to the tables.

Accounts and sites are not clinical data but belong in the trail too (who could log
in, who did, who failed): :func:`record_account_event` writes one row per event, with
field ``event`` and the detail as new value. It is the only place such rows are written.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import Connection, event, inspect, select, text
from sqlalchemy.orm import Session

from eap.errors import StoreError
from eap.store.bulk import bulk_insert
from eap.store.models import AuditLog, ClinicalMixin, Patient, utcnow

ACTOR_KEY = "eap_actor"
REASON_KEY = "eap_reason"


def set_actor(session: Session, username: str, reason: str | None = None) -> None:
    """Name who is changing data in this session and why (the reason for later edits)."""
    session.info[ACTOR_KEY] = username
    session.info[REASON_KEY] = reason.strip() if reason and reason.strip() else None


def serialize(value: Any) -> str | None:
    """One text form per value, so the trail and replay compare exactly."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _patient_id(obj: ClinicalMixin) -> int | None:
    if isinstance(obj, Patient):
        return obj.id
    pid = getattr(obj, "patient_id", None)
    return int(pid) if pid is not None else None


def _changes(obj: ClinicalMixin) -> list[tuple[str, Any, Any]]:
    """(field, old, new) of each audited field changed since load."""
    state = inspect(obj)
    out: list[tuple[str, Any, Any]] = []
    for attr in state.mapper.column_attrs:
        if attr.key in obj.BOOKKEEPING:
            continue
        hist = state.attrs[attr.key].history
        if not hist.has_changes():
            continue
        old = hist.deleted[0] if hist.deleted else None
        new = hist.added[0] if hist.added else None
        if serialize(old) != serialize(new):
            out.append((attr.key, old, new))
    return out


def _before_flush(session: Session, _ctx: Any, _instances: Any) -> None:
    actor: str | None = session.info.get(ACTOR_KEY)
    reason = session.info.get(REASON_KEY)
    now = utcnow()
    for obj in session.deleted:
        if isinstance(obj, ClinicalMixin):
            raise StoreError(
                "clinical records are never deleted",
                dataset=type(obj).__tablename__,  # type: ignore[attr-defined]
                expected="a soft delete with a reason",
                found="a hard delete",
            )
        if isinstance(obj, AuditLog):
            raise StoreError("the audit trail is append-only", dataset="audit_log")
    for obj in session.dirty:
        if isinstance(obj, AuditLog):
            raise StoreError("the audit trail is append-only", dataset="audit_log")
    # session.new builds a new set on every access: take it once (a bulk load has
    # many thousands of objects, and a lookup per object would be quadratic).
    new = list(session.new)
    created = {id(o) for o in new}
    touched = [o for o in (*new, *session.dirty) if isinstance(o, ClinicalMixin)]
    if not touched:
        return
    if not actor:
        raise StoreError("a change to clinical data needs a user", expected="set_actor() first")
    # Take the chain before this flush writes any clinical row, not after (in append):
    # a transaction that held a row's lock while waiting for the chain could deadlock
    # with the chain's holder changing that same row. Taking it again in append is cheap.
    lock_chain(session.connection())
    for obj in touched:
        if id(obj) in created:
            obj.created_by = obj.updated_by = actor
            obj.created_at = obj.updated_at = now
            continue
        if not _changes(obj):
            continue
        if not reason:
            raise StoreError(
                "a change after first save needs a reason",
                dataset=type(obj).__tablename__,  # type: ignore[attr-defined]
                variable="reason",
                expected="a reason for the change",
                found="none",
            )
        obj.updated_by = actor
        obj.updated_at = now


def _after_flush(session: Session, _ctx: Any) -> None:
    actor = session.info.get(ACTOR_KEY) or "?"
    reason = session.info.get(REASON_KEY)
    now = utcnow()
    rows: list[dict[str, Any]] = []
    new = list(session.new)
    created = {id(o) for o in new}
    for obj in new:
        if not isinstance(obj, ClinicalMixin):
            continue
        table = type(obj).__tablename__  # type: ignore[attr-defined]
        for field, value in obj.data().items():
            rows.append(
                dict(
                    ts=now,
                    username=actor,
                    action="create",
                    table_name=table,
                    record_id=obj.id,
                    patient_id=_patient_id(obj),
                    field=field,
                    old_value=None,
                    new_value=serialize(value),
                    reason=reason,
                )
            )
    for obj in session.dirty:
        if not isinstance(obj, ClinicalMixin) or id(obj) in created:
            continue
        table = type(obj).__tablename__  # type: ignore[attr-defined]
        changes = _changes(obj)
        action = "delete" if any(f == "deleted" and n for f, _, n in changes) else "update"
        for field, old, new in changes:
            rows.append(
                dict(
                    ts=now,
                    username=actor,
                    action=action,
                    table_name=table,
                    record_id=obj.id,
                    patient_id=_patient_id(obj),
                    field=field,
                    old_value=serialize(old),
                    new_value=serialize(new),
                    reason=reason,
                )
            )
    if rows:
        # Core insert on the flush's own connection: same transaction as the change,
        # so a change and its trail commit or roll back together.
        append(session.connection(), rows)


# --------------------------------------------------------------------------- hash chain

# prev_hash of the first row: there is no predecessor.
GENESIS = "0" * 64

# The fields a caller gives for each trail row, in the order they are hashed; append
# adds id and prev_hash. Text fields that may be empty are None when absent.
ROW_FIELDS: tuple[str, ...] = (
    "ts",
    "username",
    "action",
    "table_name",
    "record_id",
    "patient_id",
    "field",
    "old_value",
    "new_value",
    "reason",
)
_REQUIRED_TEXT = ("username", "action", "table_name", "field")
_OPTIONAL_TEXT = ("old_value", "new_value", "reason")

# Key of the PostgreSQL transaction-level advisory lock that serialises appends (the
# ASCII of "eapaudit"): held from a transaction's first clinical write or append to its end.
CHAIN_LOCK_KEY = 0x6561706175646974


@functools.lru_cache(maxsize=256)
def canonical_ts(ts: dt.datetime) -> str:
    """UTC with microseconds and a Z: one text per instant, whatever the backend returns
    (SQLite gives back a naive UTC datetime, PostgreSQL an aware one in the session's zone).

    Cached: the rows of one change share one instant, and a bulk load writes many thousand
    rows per instant (equal datetimes, naive or aware, give the same text)."""
    aware = ts if ts.tzinfo is not None else ts.replace(tzinfo=dt.UTC)
    return aware.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# One encoder for every row: json.dumps with non-default separators builds a new one
# per call, a large share of the cost of hashing a bulk load's trail.
_CANONICAL_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def canonical(row: Mapping[Any, Any]) -> bytes:
    """The bytes a trail row's hash is computed over (documented in docs/web.md).

    A JSON array, in this order: id, ts (:func:`canonical_ts`), username, action,
    table_name, record_id, patient_id, field, old_value, new_value, reason, prev_hash;
    numbers as JSON integers, absent values as null, no spaces, characters beyond ASCII
    as themselves, in UTF-8 (``json.dumps(..., separators=(",", ":"), ensure_ascii=False)``).
    That is also what PostgreSQL's ``to_json`` writes for a text, so the chain can be
    recomputed in SQL too (docs/web.md).
    """
    values = [row["id"], canonical_ts(row["ts"])]
    values += [row[f] for f in ROW_FIELDS[1:]]
    values.append(row["prev_hash"])
    return _CANONICAL_JSON.encode(values).encode("utf-8")


def row_hash(row: Mapping[Any, Any]) -> str:
    """SHA-256 (lowercase hex) of :func:`canonical`: the row's link in the chain."""
    return hashlib.sha256(canonical(row)).hexdigest()


def _bad_row(index: int, field: str, expected: str, value: Any) -> StoreError:
    return StoreError(
        "a trail row is not of the expected form",
        dataset="audit_log",
        variable=field,
        rows=[index + 1],
        expected=expected,
        found=repr(value),
    )


_ROW_FIELD_SET = frozenset(ROW_FIELDS)


def _plain_row(row: Mapping[str, Any]) -> bool:
    """True when every field has its type (what :func:`check_row` checks one by one)."""
    rid, pid = row["record_id"], row["patient_id"]
    return (
        type(row["ts"]) is dt.datetime
        and all(type(row[f]) is str and row[f] for f in _REQUIRED_TEXT)
        and all(row[f] is None or type(row[f]) is str for f in _OPTIONAL_TEXT)
        and type(rid) is int
        and (pid is None or type(pid) is int)
    )


def check_row(index: int, row: Mapping[str, Any]) -> None:
    """A row given to :func:`append` has exactly the trail's fields, each of its type.

    ``id``, ``prev_hash`` and ``hash`` are the chain's to assign, never the caller's.
    """
    if row.keys() == _ROW_FIELD_SET and _plain_row(row):
        return  # the usual case, settled in one pass; the checks below name what is wrong
    unknown = sorted(set(row) - set(ROW_FIELDS))
    if unknown:
        raise _bad_row(index, unknown[0], f"only the fields {', '.join(ROW_FIELDS)}", unknown[0])
    for field in ROW_FIELDS:
        if field not in row:
            raise _bad_row(index, field, "a value (None where it may be empty)", "no such key")
    if not isinstance(row["ts"], dt.datetime):
        raise _bad_row(index, "ts", "a datetime", row["ts"])
    for field in _REQUIRED_TEXT:
        if not isinstance(row[field], str) or not row[field]:
            raise _bad_row(index, field, "non-empty text", row[field])
    for field in _OPTIONAL_TEXT:
        if row[field] is not None and not isinstance(row[field], str):
            raise _bad_row(index, field, "text or None", row[field])
    if not isinstance(row["record_id"], int) or isinstance(row["record_id"], bool):
        raise _bad_row(index, "record_id", "an integer", row["record_id"])
    pid = row["patient_id"]
    if pid is not None and (not isinstance(pid, int) or isinstance(pid, bool)):
        raise _bad_row(index, "patient_id", "an integer or None", pid)


def lock_chain(connection: Connection) -> None:
    """Serialise appends: two transactions must never chain to the same predecessor.

    PostgreSQL: a transaction-level advisory lock, released at commit or rollback, so a
    second appender waits, then (READ COMMITTED: a new snapshot per statement) reads the
    head the first one committed. SQLite: every eap transaction that writes starts with
    BEGIN IMMEDIATE, so the file lock already admits one writer at a time.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})


def chain_head(connection: Connection) -> tuple[int, str]:
    """(id, hash) of the last trail row; (0, GENESIS) for an empty trail."""
    row = connection.execute(
        select(AuditLog.id, AuditLog.hash).order_by(AuditLog.id.desc()).limit(1)
    ).first()
    return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))


def chained(
    rows: Sequence[Mapping[str, Any]], head_id: int, head_hash: str
) -> list[dict[str, Any]]:
    """The rows numbered on from the head, each hashed over its predecessor's hash."""
    out: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        check_row(i, row)
        entry = dict(row)
        # One instant, one text: store what is hashed (UTC), whatever zone was given.
        entry["ts"] = row["ts"].astimezone(dt.UTC) if row["ts"].tzinfo else row["ts"]
        entry["id"] = head_id + i + 1
        entry["prev_hash"] = head_hash
        entry["hash"] = head_hash = row_hash(entry)
        out.append(entry)
    return out


def append(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert trail rows: the one way into ``audit_log``.

    Each row is a plain dict of :data:`ROW_FIELDS`. Under the chain lock the rows get
    the next ids (no gaps: the id is assigned here, not by a sequence, so a rolled-back
    transaction leaves no hole) and their hashes, and are inserted on ``connection``,
    in the caller's transaction: they commit or roll back with the change they record.
    """
    if not rows:
        return
    lock_chain(connection)
    head_id, head_hash = chain_head(connection)
    bulk_insert(connection, AuditLog.__table__, chained(rows, head_id, head_hash))  # type: ignore[arg-type]


ACCOUNT_TABLES = ("users", "sites")
ACCOUNT_FIELD = "event"
ACTION_LENGTH = 10  # audit_log.action is String(10)


def record_account_event(
    session: Session,
    *,
    actor: str,
    action: str,
    table: str,
    record_id: int,
    detail: str | None = None,
) -> None:
    """Write one account or site event (login, lock, create, ...) to the trail.

    The row goes out on the session's connection at once, inside the caller's
    transaction: an event commits or rolls back with what it describes.
    """
    if table not in ACCOUNT_TABLES:
        raise StoreError(
            "an account event names a user or a site",
            dataset="audit_log",
            variable="table",
            expected=" or ".join(ACCOUNT_TABLES),
            found=table,
        )
    if not action or len(action) > ACTION_LENGTH:
        raise StoreError(
            "an account event's action is 1 to 10 characters",
            dataset="audit_log",
            variable="action",
            expected=f"1-{ACTION_LENGTH} characters",
            found=repr(action),
        )
    append(
        session.connection(),
        [
            dict(
                ts=utcnow(),
                username=actor[:100],
                action=action,
                table_name=table,
                record_id=record_id,
                patient_id=None,
                field=ACCOUNT_FIELD,
                old_value=None,
                new_value=detail,
                reason=None,
            )
        ],
    )


def is_account_event(e: TrailEntry) -> bool:
    """A login, lock, user or site event (:func:`record_account_event`)."""
    return e.table_name in ACCOUNT_TABLES and e.field == ACCOUNT_FIELD


def install(session_factory: Any) -> None:
    """Attach the trail to a sessionmaker (idempotent).

    The mark is an attribute of the factory, not ``event.contains``: SQLAlchemy keys its
    listener registry by ``id()``, and a new factory at a collected one's address could
    be taken for it and left without a trail.
    """
    if getattr(session_factory, "_eap_audit", False):
        return
    event.listen(session_factory, "before_flush", _before_flush)
    event.listen(session_factory, "after_flush", _after_flush)
    session_factory._eap_audit = True


def history(session: Session, patient_id: int) -> list[AuditLog]:
    """A patient's full trail, oldest first: the patient row and every record of theirs."""
    stmt = select(AuditLog).where(AuditLog.patient_id == patient_id).order_by(AuditLog.id)
    return list(session.scalars(stmt))


class TrailEntry(Protocol):
    """What replay reads of a trail row (an AuditLog object or a selected row)."""

    @property
    def table_name(self) -> str: ...
    @property
    def record_id(self) -> int: ...
    @property
    def action(self) -> str: ...
    @property
    def field(self) -> str: ...
    @property
    def old_value(self) -> str | None: ...
    @property
    def new_value(self) -> str | None: ...


ReplayState = dict[tuple[str, int], dict[str, str | None]]


def replay_step(state: ReplayState, e: TrailEntry) -> tuple[str | None, str | None] | None:
    """Apply one trail row to ``state``; (held, found) if its old value is not what replay
    holds for the field at that point, else None.

    The new value is applied either way, so a replay can go on and report further rows.
    """
    if is_account_event(e):
        return None  # an event, not a field value: nothing to rebuild
    rec = state.setdefault((e.table_name, e.record_id), {})
    held = rec.get(e.field)
    rec[e.field] = e.new_value
    if e.action != "create" and held != e.old_value:
        return held, e.old_value
    return None


def replay(entries: Iterable[TrailEntry]) -> ReplayState:
    """Rebuild each record's fields (as serialized text) from trail rows alone.

    A field's old value must equal what replay holds at that point; a mismatch
    means the trail is broken and raises StoreError.
    """
    state: ReplayState = {}
    for e in entries:
        mismatch = replay_step(state, e)
        if mismatch is not None:
            raise StoreError(
                "audit trail does not chain",
                dataset=e.table_name,
                variable=e.field,
                rows=[e.record_id],
                expected=json.dumps(mismatch[0]),
                found=json.dumps(mismatch[1]),
            )
    return state


def current_state(obj: ClinicalMixin) -> dict[str, str | None]:
    """A record's audited fields serialized as the trail stores them."""
    return {k: serialize(v) for k, v in obj.data().items()}

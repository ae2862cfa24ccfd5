"""The audit trail: every create, update and soft delete of clinical data, field by field.

Recording happens in SQLAlchemy's flush events, so no code path that changes a
clinical row through the ORM can skip the trail. Who and why come from the
session: :func:`set_actor` before the change. Rules (21 CFR Part 11 in spirit):

* a create records every field with old value empty; no reason is needed;
* an update records each changed field with old and new values and needs a reason;
* a delete is a soft delete (``deleted`` true) and needs a reason; removing a
  clinical row is refused here and by a database trigger;
* trail rows are only ever inserted (database triggers refuse UPDATE/DELETE).

Values are stored as text by :func:`serialize`; :func:`replay` rebuilds every
record's fields from the trail alone, which tests compare to the tables.

Accounts and sites are not clinical data but belong in the trail too (who could log
in, who did, who failed): :func:`record_account_event` writes one row per event, with
field ``event`` and the detail as new value. It is the only place such rows are written.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import event, insert, inspect, select
from sqlalchemy.orm import Session

from eap.errors import StoreError
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
        session.connection().execute(insert(AuditLog), rows)


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
    session.execute(
        insert(AuditLog).values(
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
    )


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


def replay(entries: Iterable[AuditLog]) -> dict[tuple[str, int], dict[str, str | None]]:
    """Rebuild each record's fields (as serialized text) from trail rows alone.

    A field's old value must equal what replay holds at that point; a mismatch
    means the trail is broken and raises StoreError.
    """
    state: dict[tuple[str, int], dict[str, str | None]] = {}
    for e in entries:
        if e.table_name in ACCOUNT_TABLES and e.field == ACCOUNT_FIELD:
            continue  # events, not field values: nothing to rebuild
        key = (e.table_name, e.record_id)
        rec = state.setdefault(key, {})
        if e.action != "create" and rec.get(e.field) != e.old_value:
            raise StoreError(
                "audit trail does not chain",
                dataset=e.table_name,
                variable=e.field,
                rows=[e.record_id],
                expected=json.dumps(rec.get(e.field)),
                found=json.dumps(e.old_value),
            )
        rec[e.field] = e.new_value
    return state


def current_state(obj: ClinicalMixin) -> dict[str, str | None]:
    """A record's audited fields serialized as the trail stores them."""
    return {k: serialize(v) for k, v in obj.data().items()}

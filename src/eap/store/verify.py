"""``eap audit verify``: recompute the trail's hash chain and replay it against the tables.

What it reports, each finding naming table, record id, field, expected and found:

* a trail row whose stored hash is not the hash of its fields (changed or forged);
* a broken link: a row's ``prev_hash`` is not the hash of the row before it;
* a gap in the ids (removed rows; ids run 1, 2, 3... since :func:`eap.store.audit.append`
  assigns them), or an id before the first (a row inserted by hand);
* a row with a value its column's type cannot read (SQLite stores anything anywhere);
* a trail row whose old value is not what the replay holds at that point;
* a clinical record whose current values differ from what the trail replays to (an
  UPDATE behind the application's back), one without any trail (an INSERT behind its
  back), and a record of the trail missing from its table;
* with ``expect_head``, a chain that no longer passes through a hash noted earlier (a
  consistent rewrite of the chain, or rows cut off its end).

It streams: the trail is read in id order in chunks, and each clinical table likewise;
what stays in memory is the replayed value of each record, not the trail.
All of it is read in one transaction (on PostgreSQL REPEATABLE READ, read only), so
writes going on meanwhile are not taken for tampering.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from eap.errors import StoreError
from eap.store.audit import GENESIS, ReplayState, current_state, replay_step, row_hash
from eap.store.db import make_engine
from eap.store.models import CLINICAL_TABLES, AuditLog, ClinicalMixin

CHUNK = 5000
HASH_PATTERN = re.compile(r"[0-9a-f]{64}")
CLINICAL_NAMES = frozenset(m.__tablename__ for m in CLINICAL_TABLES)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Finding:
    """One discrepancy: what kind, where (table, record, field), expected and found."""

    kind: str
    table: str
    record_id: int | None
    field: str
    expected: str
    found: str

    def text(self) -> str:
        where = self.table if self.record_id is None else f"{self.table} {self.record_id}"
        return f"{where} {self.field}: {self.kind}; expected {self.expected}, found {self.found}"


@dataclass
class ChainCheck:
    """The chain as read so far: the last row's id and hash, and what was found."""

    last_id: int = 0
    last_hash: str = GENESIS
    rows: int = 0
    expected_head_seen: bool = False
    findings: list[Finding] = field(default_factory=list)


@dataclass
class Verification:
    """What verify read and found."""

    rows: int
    records: int
    head_id: int
    head_hash: str
    findings: list[Finding]


@dataclass(frozen=True)
class Unreadable:
    """A row with a stored value its column's type cannot read.

    SQLite stores any value in any column, so whoever writes the file can put, say, text
    in a date; eap's types cannot read such a row, and verify reports it instead of
    stopping. ``prev_hash`` and ``hash`` (plain text, always readable) keep the chain
    checks going for a trail row.
    """

    id: int
    problem: str
    prev_hash: str | None = None
    hash: str | None = None


def check_gap(chain: ChainCheck, row_id: int) -> Finding | None:
    """Ids run on by one: a larger step means rows were removed; an id at or below the
    last one (only possible before the first row, ids being unique and read in order)
    means a row inserted by hand."""
    if row_id == chain.last_id + 1:
        return None
    if row_id <= chain.last_id:
        return Finding(
            "id before the start of the chain (a row inserted by hand)",
            "audit_log",
            row_id,
            "id",
            str(chain.last_id + 1),
            str(row_id),
        )
    missing = (
        f"row {chain.last_id + 1}"
        if row_id == chain.last_id + 2
        else f"rows {chain.last_id + 1} to {row_id - 1}"
    )
    return Finding(
        f"gap in the trail ids ({missing} missing)",
        "audit_log",
        row_id,
        "id",
        str(chain.last_id + 1),
        str(row_id),
    )


def check_link(chain: ChainCheck, row: Row[Any] | Unreadable) -> Finding | None:
    """A row's prev_hash is the stored hash of the row before it (GENESIS for the first)."""
    if row.prev_hash == chain.last_hash:
        return None
    return Finding(
        "broken link (the row before it was removed, or this one forged)",
        "audit_log",
        row.id,
        "prev_hash",
        chain.last_hash,
        str(row.prev_hash),
    )


def check_hash(row: Row[Any]) -> Finding | None:
    """A row's stored hash is the hash of its own fields and its prev_hash."""
    recomputed = row_hash(row._mapping)
    if row.hash == recomputed:
        return None
    return Finding(
        "hash does not match the row (changed or forged)",
        "audit_log",
        row.id,
        "hash",
        recomputed,
        str(row.hash),
    )


def unreadable(table: str, bad: Unreadable) -> Finding:
    """A row eap's column types cannot read: written behind the application's back."""
    return Finding(
        "a stored value is not of its column's type (written behind the application's back)",
        table,
        bad.id,
        "*",
        "values of the column types",
        bad.problem,
    )


def check_trail_row(chain: ChainCheck, row: Row[Any] | Unreadable, expect_head: str | None) -> None:
    """Every chain rule on one row, then move the chain on to it."""
    last = unreadable("audit_log", row) if isinstance(row, Unreadable) else check_hash(row)
    for finding in (check_gap(chain, row.id), check_link(chain, row), last):
        if finding is not None:
            chain.findings.append(finding)
    chain.last_id, chain.last_hash = row.id, str(row.hash)
    chain.rows += 1
    if expect_head is not None and row.hash == expect_head:
        chain.expected_head_seen = True


def check_replay(state: ReplayState, row: Row[Any]) -> Finding | None:
    """Replay a clinical row's change; a finding when its old value is not the replayed one.

    Rows about other tables (account events) are part of the chain but not replayed.
    """
    if row.table_name not in CLINICAL_NAMES:
        return None
    mismatch = replay_step(state, row)
    if mismatch is None:
        return None
    return Finding(
        f"trail row {row.id} does not follow from the rows before it",
        row.table_name,
        row.record_id,
        row.field,
        _show(mismatch[0]),
        _show(mismatch[1]),
    )


def compare_record(
    table: str, record_id: int, replayed: dict[str, str | None] | None, current: dict[str, Any]
) -> list[Finding]:
    """A record's current values against the trail's replay of it."""
    if replayed is None:
        return [
            Finding(
                "record has no audit trail (written behind the application's back)",
                table,
                record_id,
                "*",
                "a create in the trail",
                "none",
            )
        ]
    out = []
    for name in sorted(set(current) | set(replayed)):
        if replayed.get(name) != current.get(name):
            out.append(
                Finding(
                    "value differs from the trail (changed behind the application's back)",
                    table,
                    record_id,
                    name,
                    _show(replayed.get(name)),
                    _show(current.get(name)),
                )
            )
    return out


def _show(value: str | None) -> str:
    return "empty" if value is None else repr(value)


# What SQLAlchemy raises when a stored value does not parse as its column's type.
UNREADABLE_ERRORS = (ValueError, TypeError)


def _after(column: Any, last: int | None) -> Any:
    """Keyset condition: rows after ``last``; none before the first chunk, so that a row
    with an id of 0 or below is read too."""
    return column > last if last is not None else column.is_not(None)


def _trail_rows_one_by_one(db: Session, last: int | None) -> list[Row[Any] | Unreadable]:
    """The next chunk read row by row, to tell the unreadable rows from the others."""
    ids = db.scalars(
        select(AuditLog.id).where(_after(AuditLog.id, last)).order_by(AuditLog.id).limit(CHUNK)
    ).all()
    out: list[Row[Any] | Unreadable] = []
    for rid in ids:
        try:
            out.append(db.execute(select(AuditLog.__table__).where(AuditLog.id == rid)).one())
        except UNREADABLE_ERRORS as exc:
            link = db.execute(
                select(AuditLog.prev_hash, AuditLog.hash).where(AuditLog.id == rid)
            ).one()
            out.append(Unreadable(rid, str(exc), link.prev_hash, link.hash))
    return out


def _trail_chunks(db: Session) -> Iterator[list[Row[Any] | Unreadable]]:
    """The trail in id order, CHUNK rows at a time (keyset: no OFFSET scans)."""
    last: int | None = None
    while True:
        stmt = select(AuditLog.__table__).where(_after(AuditLog.id, last))
        rows: list[Row[Any] | Unreadable]
        try:
            rows = list(db.execute(stmt.order_by(AuditLog.id).limit(CHUNK)))
        except UNREADABLE_ERRORS:
            rows = _trail_rows_one_by_one(db, last)
        if not rows:
            return
        yield rows
        last = rows[-1].id


def _records_one_by_one(
    db: Session, model: type[ClinicalMixin], last: int | None
) -> list[ClinicalMixin | Unreadable]:
    """The next chunk of records read one by one, to tell the unreadable ones."""
    db.expunge_all()
    ids = db.scalars(
        select(model.id).where(_after(model.id, last)).order_by(model.id).limit(CHUNK)
    ).all()
    out: list[ClinicalMixin | Unreadable] = []
    for rid in ids:
        try:
            out.append(db.scalars(select(model).where(model.id == rid)).one())
        except UNREADABLE_ERRORS as exc:
            db.expunge_all()
            out.append(Unreadable(rid, str(exc)))
    return out


def _records(db: Session, model: type[ClinicalMixin]) -> Iterator[ClinicalMixin | Unreadable]:
    """One clinical table in id order, CHUNK records at a time, none kept after its chunk."""
    last: int | None = None
    while True:
        stmt = select(model).where(_after(model.id, last)).order_by(model.id).limit(CHUNK)
        chunk: list[ClinicalMixin | Unreadable]
        try:
            chunk = list(db.scalars(stmt))
        except UNREADABLE_ERRORS:
            chunk = _records_one_by_one(db, model, last)
        if not chunk:
            return
        yield from chunk
        last = chunk[-1].id
        db.expunge_all()


def check_expected_head(chain: ChainCheck, expect_head: str | None) -> Finding | None:
    """A hash noted earlier must still be in the chain: else it was rewritten or cut back."""
    if expect_head is None or chain.expected_head_seen:
        return None
    return Finding(
        "the chain no longer passes through the head noted earlier (rewritten or cut back)",
        "audit_log",
        None,
        "hash",
        expect_head,
        f"no row with that hash (head now {chain.last_id} {chain.last_hash})",
    )


def verify_session(db: Session, expect_head: str | None = None) -> Verification:
    """Check the chain and the tables on an open session (one snapshot)."""
    chain = ChainCheck()
    state: ReplayState = {}
    for rows in _trail_chunks(db):
        for row in rows:
            check_trail_row(chain, row, expect_head)
            if isinstance(row, Unreadable):
                continue  # its change cannot be replayed; what follows from that shows
            finding = check_replay(state, row)
            if finding is not None:
                chain.findings.append(finding)
    findings = chain.findings
    head = check_expected_head(chain, expect_head)
    if head is not None:
        findings.append(head)
    records = 0
    for model in CLINICAL_TABLES:
        table: str = model.__tablename__  # type: ignore[attr-defined]
        for obj in _records(db, model):
            records += 1
            replayed = state.pop((table, obj.id), None)
            if isinstance(obj, Unreadable):
                findings.append(unreadable(table, obj))
                continue
            findings += compare_record(table, obj.id, replayed, current_state(obj))
    for (table, record_id), _ in sorted(state.items()):
        findings.append(
            Finding(
                "record in the trail is missing from its table (removed)",
                table,
                record_id,
                "*",
                "the record",
                "none",
            )
        )
    return Verification(chain.rows, records, chain.last_id, chain.last_hash, findings)


def check_head_argument(expect_head: str | None) -> str | None:
    """``--expect-head`` is a SHA-256 in lowercase hex, as verify prints it."""
    if expect_head is None:
        return None
    value = expect_head.strip().lower()
    if not HASH_PATTERN.fullmatch(value):
        raise StoreError(
            "not a trail hash",
            variable="--expect-head",
            expected="64 hexadecimal digits, as 'eap audit verify' prints the head",
            found=repr(expect_head),
        )
    return value


def verify_trail(url: str, expect_head: str | None = None) -> Verification:
    """Verify the trail of the database at ``url`` (see the module's description)."""
    wanted = check_head_argument(expect_head)
    engine = make_engine(url)
    bind = engine
    if engine.dialect.name == "postgresql":
        # One snapshot for the trail and the tables; nothing written.
        bind = engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    try:
        with Session(bind) as db, db.begin():
            return verify_session(db, wanted)
    finally:
        engine.dispose()

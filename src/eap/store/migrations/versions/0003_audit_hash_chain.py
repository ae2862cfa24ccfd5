"""Tamper-evident trail: a SHA-256 hash chain over audit_log, TRUNCATE refused on PostgreSQL.

Revision ID: 0003
Revises: 0002

Existing trail rows are chained in id order. On PostgreSQL, ids a rolled-back
transaction took from the sequence left holes; they are closed first (rows keep their
order), since from now on a hole in the ids means a removed row. Nothing refers to a
trail row by its id.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from eap.store.audit import GENESIS, row_hash

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Every table whose rows the database keeps whatever a client does.
PROTECTED = (
    "audit_log",
    "patients",
    "dosing_records",
    "adverse_events",
    "visits",
    "deaths",
    "discontinuations",
    "data_queries",
    "transferred_records",
)

# The trail as the migration reads it: typed, so ts comes back as a datetime on SQLite too.
_trail = sa.table(
    "audit_log",
    sa.column("id", sa.Integer()),
    sa.column("ts", sa.DateTime(timezone=True)),
    sa.column("username", sa.String()),
    sa.column("action", sa.String()),
    sa.column("table_name", sa.String()),
    sa.column("record_id", sa.Integer()),
    sa.column("patient_id", sa.Integer()),
    sa.column("field", sa.String()),
    sa.column("old_value", sa.Text()),
    sa.column("new_value", sa.Text()),
    sa.column("reason", sa.Text()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)

CHUNK = 5000


def _close_id_gaps() -> None:
    """Renumber the trail 1..n in id order (PostgreSQL only: SQLite never leaves holes).

    Two steps through negative ids, since the primary key is checked row by row. A trail
    already numbered 1..n is left as it is.
    """
    bind = op.get_bind()
    rows, low, top = bind.execute(sa.text("SELECT count(*), min(id), max(id) FROM audit_log")).one()
    if rows == 0 or (low == 1 and top == rows):
        return
    op.execute(
        "UPDATE audit_log SET id = -n.rn FROM "
        "(SELECT id, row_number() OVER (ORDER BY id) AS rn FROM audit_log) AS n "
        "WHERE audit_log.id = n.id"
    )
    op.execute("UPDATE audit_log SET id = -id")


def _chain_existing_rows() -> None:
    """Hash every existing row over its predecessor's hash, in id order, in chunks."""
    bind = op.get_bind()
    prev_hash, last_id = GENESIS, 0
    while True:
        rows = (
            bind.execute(
                sa.select(_trail).where(_trail.c.id > last_id).order_by(_trail.c.id).limit(CHUNK)
            )
            .mappings()
            .all()
        )
        if not rows:
            return
        updates = []
        for row in rows:
            entry = dict(row)
            entry["prev_hash"] = prev_hash
            prev_hash = row_hash(entry)
            updates.append({"rid": row["id"], "p": entry["prev_hash"], "h": prev_hash})
            last_id = row["id"]
        bind.execute(
            sa.update(_trail)
            .where(_trail.c.id == sa.bindparam("rid"))
            .values(prev_hash=sa.bindparam("p"), hash=sa.bindparam("h")),
            updates,
        )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        # SQLite adds a NOT NULL column only with a default; every row gets its hash below.
        op.execute("ALTER TABLE audit_log ADD COLUMN prev_hash VARCHAR(64) NOT NULL DEFAULT ''")
        op.execute("ALTER TABLE audit_log ADD COLUMN hash VARCHAR(64) NOT NULL DEFAULT ''")
        # The trail refuses UPDATE for every client, this migration included: lift it for
        # the time of the computation, inside the migration's transaction.
        op.execute("DROP TRIGGER audit_log_no_update")
        _chain_existing_rows()
        op.execute(
            "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'eap: UPDATE on audit_log is not allowed'); END"
        )
        return
    op.add_column("audit_log", sa.Column("prev_hash", sa.String(length=64), nullable=True))
    op.add_column("audit_log", sa.Column("hash", sa.String(length=64), nullable=True))
    op.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update")
    _close_id_gaps()
    _chain_existing_rows()
    op.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update")
    op.alter_column("audit_log", "prev_hash", nullable=False)
    op.alter_column("audit_log", "hash", nullable=False)
    # Row triggers do not fire on TRUNCATE: a statement-level trigger refuses it, for the
    # owner too (the application's role has no TRUNCATE privilege in the first place).
    for table in PROTECTED:
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION eap_refuse()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in PROTECTED:
            op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
    op.execute("ALTER TABLE audit_log DROP COLUMN hash")
    op.execute("ALTER TABLE audit_log DROP COLUMN prev_hash")

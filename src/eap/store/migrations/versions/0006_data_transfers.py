"""Data transfers: each load's name and data cutoff, the date a loaded study is judged as of.

Revision ID: 0006
Revises: 0002

A transfer loaded before this revision gets its cutoff here, by the rule of
``eap.store.transfer.data_cutoff``: the latest complete date in any ``--DTC``
variable of its rows.
"""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLE = "data_transfers"


def _latest_date(row: dict[str, object], latest: dt.date | None) -> dt.date | None:
    """The later of ``latest`` and every complete date of the row's --DTC variables."""
    for name, value in row.items():
        if not name.endswith("DTC") or not isinstance(value, str) or len(value) < 10:
            continue
        try:
            day = dt.date.fromisoformat(value[:10])
        except ValueError:
            continue
        latest = day if latest is None or day > latest else latest
    return latest


def upgrade() -> None:
    table = op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("data_cutoff", sa.Date(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("loaded_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_data_transfers_name"), TABLE, ["name"], unique=False)
    # Transfers loaded before this revision: their cutoff from the rows they left.
    bind = op.get_bind()
    latest: dict[str, dt.date | None] = {}
    rows = bind.execute(sa.text("SELECT transfer, row FROM transferred_records"))
    for transfer, text in rows:
        latest[transfer] = _latest_date(json.loads(text), latest.get(transfer))
    now = dt.datetime.now(dt.UTC)
    op.bulk_insert(
        table,
        [
            {"name": name, "data_cutoff": day, "loaded_at": now, "loaded_by": "eap-migration"}
            for name, day in sorted(latest.items())
            if day is not None
        ],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_data_transfers_name"), table_name=TABLE)
    op.drop_table(TABLE)

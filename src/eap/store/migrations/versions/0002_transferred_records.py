"""Transferred records: SDTM rows loaded from the parent trial, audited like form records.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLE = "transferred_records"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("domain", sa.String(length=8), nullable=False),
        sa.Column("row", sa.Text(), nullable=False),
        sa.Column("transfer", sa.String(length=200), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_transferred_records_domain"), TABLE, ["domain"], unique=False)
    op.create_index(op.f("ix_transferred_records_patient_id"), TABLE, ["patient_id"], unique=False)
    # Like every clinical table, rows are never removed, whoever connects.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_delete BEFORE DELETE ON {TABLE} "
            f"BEGIN SELECT RAISE(ABORT, 'eap: DELETE on {TABLE} is not allowed'); END"
        )
    else:
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_delete BEFORE DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION eap_refuse()"
        )


def downgrade() -> None:
    op.drop_index(op.f("ix_transferred_records_patient_id"), table_name=TABLE)
    op.drop_index(op.f("ix_transferred_records_domain"), table_name=TABLE)
    op.drop_table(TABLE)

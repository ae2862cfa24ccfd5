"""Data queries: the data manager's notes, kept apart from the site's answer.

Revision ID: 0005
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("data_queries", sa.Column("dm_note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("data_queries") as batch:
        batch.drop_column("dm_note")

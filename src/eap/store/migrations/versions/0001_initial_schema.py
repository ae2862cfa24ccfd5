"""Initial schema: sites, users, sessions, clinical tables, append-only audit trail.

Revision ID: 0001
Revises: none
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("table_name", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("field", sa.String(length=60), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_audit_log_patient_id"), "audit_log", ["patient_id"], unique=False)
    op.create_index(op.f("ix_audit_log_table_name"), "audit_log", ["table_name"], unique=False)
    op.create_table(
        "sites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "patients",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("usubjid", sa.String(length=40), nullable=False),
        sa.Column("subjid", sa.String(length=20), nullable=False),
        sa.Column("sex", sa.String(length=1), nullable=False),
        sa.Column("age", sa.Integer(), nullable=False),
        sa.Column("weight_kg", sa.Float(), nullable=False),
        sa.Column("creatinine", sa.Float(), nullable=False),
        sa.Column("creatinine_unit", sa.String(length=10), nullable=False),
        sa.Column("assessment_date", sa.Date(), nullable=False),
        sa.Column("consent_signed", sa.Boolean(), nullable=False),
        sa.Column("lenalidomide_start_date", sa.Date(), nullable=False),
        sa.Column("progressed", sa.Boolean(), nullable=False),
        sa.Column("progression_date", sa.Date(), nullable=True),
        sa.Column("discontinued", sa.Boolean(), nullable=False),
        sa.Column("discontinuation_date", sa.Date(), nullable=True),
        sa.Column("discontinuation_reason", sa.String(length=30), nullable=True),
        sa.Column("hypersensitivity_lenalidomide", sa.Boolean(), nullable=False),
        sa.Column("hypersensitivity_dexamethasone", sa.Boolean(), nullable=False),
        sa.Column("carried_over_dose", sa.Float(), nullable=True),
        sa.Column("carried_over_frequency", sa.String(length=20), nullable=True),
        sa.Column("outcome", sa.String(length=30), nullable=False),
        sa.Column("phase", sa.String(length=60), nullable=True),
        sa.Column("decision_reasons", sa.Text(), nullable=False),
        sa.Column("crcl", sa.Float(), nullable=False),
        sa.Column("start_dose", sa.Float(), nullable=False),
        sa.Column("start_frequency", sa.String(length=20), nullable=False),
        sa.Column("dose_reasons", sa.Text(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("usubjid"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=300), nullable=False),
        sa.Column("role", sa.String(length=30), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "adverse_events",
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("reported_term", sa.String(length=200), nullable=False),
        sa.Column("ctcae_term", sa.String(length=200), nullable=False),
        sa.Column("soc", sa.String(length=200), nullable=False),
        sa.Column("grade", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("serious", sa.Boolean(), nullable=False),
        sa.Column("spm", sa.Boolean(), nullable=False),
        sa.Column("related", sa.String(length=30), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_adverse_events_patient_id"), "adverse_events", ["patient_id"], unique=False
    )
    op.create_table(
        "data_queries",
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("record_table", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=True),
        sa.Column("field", sa.String(length=60), nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_data_queries_patient_id"), "data_queries", ["patient_id"], unique=False
    )
    op.create_table(
        "deaths",
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("death_date", sa.Date(), nullable=False),
        sa.Column("cause", sa.String(length=200), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_deaths_patient_id"), "deaths", ["patient_id"], unique=False)
    op.create_table(
        "discontinuations",
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("discontinuation_date", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=30), nullable=False),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_discontinuations_patient_id"), "discontinuations", ["patient_id"], unique=False
    )
    op.create_table(
        "dosing_records",
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("dose", sa.Float(), nullable=False),
        sa.Column("frequency", sa.String(length=20), nullable=False),
        sa.Column("interrupted", sa.Boolean(), nullable=False),
        sa.Column("reduced", sa.Boolean(), nullable=False),
        sa.Column("adjustment_reason", sa.Text(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_dosing_records_patient_id"), "dosing_records", ["patient_id"], unique=False
    )
    op.create_table(
        "visits",
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("visit_date", sa.Date(), nullable=False),
        sa.Column("alive", sa.Boolean(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_visits_patient_id"), "visits", ["patient_id"], unique=False)
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    _protect()


# Tables whose rows the database itself refuses to remove; audit_log also refuses UPDATE.
CLINICAL = (
    "patients",
    "dosing_records",
    "adverse_events",
    "visits",
    "deaths",
    "discontinuations",
    "data_queries",
)


def _protect() -> None:
    """Triggers: the trail is append-only and clinical rows are never hard-deleted.

    The application already refuses both; the triggers make it hold for any
    client of the database, including a mistaken ad-hoc SQL session.
    """
    dialect = op.get_bind().dialect.name
    guarded = [("audit_log", "UPDATE"), ("audit_log", "DELETE")]
    guarded += [(t, "DELETE") for t in CLINICAL]
    if dialect == "sqlite":
        for table, verb in guarded:
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'eap: {verb} on {table} is not allowed'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION eap_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'eap: % on % is not allowed', TG_OP, TG_TABLE_NAME; END $$"
        )
        for table, verb in guarded:
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION eap_refuse()"
            )


def downgrade() -> None:
    op.drop_table("web_sessions")
    op.drop_index(op.f("ix_visits_patient_id"), table_name="visits")
    op.drop_table("visits")
    op.drop_index(op.f("ix_dosing_records_patient_id"), table_name="dosing_records")
    op.drop_table("dosing_records")
    op.drop_index(op.f("ix_discontinuations_patient_id"), table_name="discontinuations")
    op.drop_table("discontinuations")
    op.drop_index(op.f("ix_deaths_patient_id"), table_name="deaths")
    op.drop_table("deaths")
    op.drop_index(op.f("ix_data_queries_patient_id"), table_name="data_queries")
    op.drop_table("data_queries")
    op.drop_index(op.f("ix_adverse_events_patient_id"), table_name="adverse_events")
    op.drop_table("adverse_events")
    op.drop_table("users")
    op.drop_table("patients")
    op.drop_table("sites")
    op.drop_index(op.f("ix_audit_log_table_name"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_patient_id"), table_name="audit_log")
    op.drop_table("audit_log")

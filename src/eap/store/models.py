"""The study database: sites, users, patients and their clinical records, and the audit trail.

Clinical tables share :class:`ClinicalMixin`: a ``version`` column that SQLAlchemy
checks on every UPDATE (optimistic locking: a stale writer updates no row and
gets a conflict instead of overwriting), a soft-delete flag with its reason
(clinical records are never removed), and who/when of creation and last change.
Every change to a clinical row is written to ``audit_log`` by
:mod:`eap.store.audit`; the schema forbids UPDATE and DELETE on that table.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column


def utcnow() -> dt.datetime:
    """Timezone-aware UTC now; the trail stores UTC so sites in any zone compare."""
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base of every eap table."""


class Site(Base):
    """A hospital taking part in the program."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class User(Base):
    """A person who logs in. ``site_id`` is set for site investigators and coordinators."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(30))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Failed logins in a row, counted in the database (UPDATE ... + 1), and the time before
    # which no password is checked (the per-account delay, eap.store.users).
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Set by an administrator's reset: until changed, the user may only change it.
    must_change_password: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )


class WebSession(Base):
    """A logged-in browser or API client. Only the SHA-256 of the token is stored."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class ClinicalMixin:
    """Columns of every audited clinical table."""

    # Columns the trail does not record as data: bookkeeping written on every change.
    BOOKKEEPING: ClassVar[frozenset[str]] = frozenset(
        {"id", "version", "created_at", "created_by", "updated_at", "updated_by"}
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100))

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        # SQLAlchemy adds "AND version = :old" to each UPDATE and raises StaleDataError
        # when no row matched: the lost-update guard lives in the database statement.
        return {"version_id_col": cls.version}  # type: ignore[attr-defined]

    def data(self) -> dict[str, Any]:
        """The audited fields and their current values."""
        table = self.__table__  # type: ignore[attr-defined]
        return {c.key: getattr(self, c.key) for c in table.columns if c.key not in self.BOOKKEEPING}


class Patient(ClinicalMixin, Base):
    """A patient rolled over from the parent trial, with the rollover decision and renal dosing."""

    __tablename__ = "patients"

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    usubjid: Mapped[str] = mapped_column(String(40), unique=True)
    subjid: Mapped[str] = mapped_column(String(20))
    sex: Mapped[str] = mapped_column(String(1))
    age: Mapped[int] = mapped_column(Integer)
    weight_kg: Mapped[float] = mapped_column(Float)
    creatinine: Mapped[float] = mapped_column(Float)
    creatinine_unit: Mapped[str] = mapped_column(String(10))
    assessment_date: Mapped[dt.date] = mapped_column(Date)
    consent_signed: Mapped[bool] = mapped_column(Boolean)
    lenalidomide_start_date: Mapped[dt.date] = mapped_column(Date)
    progressed: Mapped[bool] = mapped_column(Boolean)
    progression_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    discontinued: Mapped[bool] = mapped_column(Boolean)
    discontinuation_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    discontinuation_reason: Mapped[str | None] = mapped_column(String(30), nullable=True)
    hypersensitivity_lenalidomide: Mapped[bool] = mapped_column(Boolean)
    hypersensitivity_dexamethasone: Mapped[bool] = mapped_column(Boolean)
    carried_over_dose: Mapped[float | None] = mapped_column(Float, nullable=True)
    carried_over_frequency: Mapped[str | None] = mapped_column(String(20), nullable=True)
    # Derived by eap.protocol at each save and stored, so the trail shows what the
    # site saw when it enrolled the patient.
    outcome: Mapped[str] = mapped_column(String(30))
    phase: Mapped[str | None] = mapped_column(String(60), nullable=True)
    decision_reasons: Mapped[str] = mapped_column(Text)
    crcl: Mapped[float] = mapped_column(Float)
    start_dose: Mapped[float] = mapped_column(Float)
    start_frequency: Mapped[str] = mapped_column(String(20))
    dose_reasons: Mapped[str] = mapped_column(Text)


class DosingRecord(ClinicalMixin, Base):
    """Lenalidomide given in one 28-day cycle, with interruption or reduction and why."""

    __tablename__ = "dosing_records"

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    cycle: Mapped[int] = mapped_column(Integer)
    start_date: Mapped[dt.date] = mapped_column(Date)
    dose: Mapped[float] = mapped_column(Float)
    frequency: Mapped[str] = mapped_column(String(20))
    interrupted: Mapped[bool] = mapped_column(Boolean, default=False)
    reduced: Mapped[bool] = mapped_column(Boolean, default=False)
    adjustment_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class AdverseEvent(ClinicalMixin, Base):
    """An adverse event graded by CTCAE v4.03."""

    __tablename__ = "adverse_events"

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    reported_term: Mapped[str] = mapped_column(String(200))
    ctcae_term: Mapped[str] = mapped_column(String(200))
    soc: Mapped[str] = mapped_column(String(200))
    grade: Mapped[int] = mapped_column(Integer)
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    serious: Mapped[bool] = mapped_column(Boolean)
    spm: Mapped[bool] = mapped_column(Boolean, default=False)
    related: Mapped[str] = mapped_column(String(30))
    action: Mapped[str] = mapped_column(String(30))
    outcome: Mapped[str] = mapped_column(String(40))


class Visit(ClinicalMixin, Base):
    """A survival and SPM follow-up visit."""

    __tablename__ = "visits"

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    visit_date: Mapped[dt.date] = mapped_column(Date)
    alive: Mapped[bool] = mapped_column(Boolean, default=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)


class Death(ClinicalMixin, Base):
    """A patient's death."""

    __tablename__ = "deaths"

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    death_date: Mapped[dt.date] = mapped_column(Date)
    cause: Mapped[str] = mapped_column(String(200))


class Discontinuation(ClinicalMixin, Base):
    """Stop of Rd in the Treatment Phase: the patient moves to safety follow-up."""

    __tablename__ = "discontinuations"

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    discontinuation_date: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(30))
    details: Mapped[str | None] = mapped_column(Text, nullable=True)


class DataQuery(ClinicalMixin, Base):
    """A data manager's question about a value, answered by the site.

    States: open -> answered -> closed -> reopened -> answered ... (see
    ``eap.store.service.QUERY_TRANSITIONS``).
    """

    __tablename__ = "data_queries"

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    record_table: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    field: Mapped[str | None] = mapped_column(String(60), nullable=True)
    question: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open")
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The data manager's notes on closing and reopening, apart from the site's answer.
    dm_note: Mapped[str | None] = mapped_column(Text, nullable=True)


class TransferredRecord(ClinicalMixin, Base):
    """One SDTM row received in a data transfer rather than entered on a form.

    An extended-access program inherits its patients' past: the parent trial's
    demographics, dosing, responses, history and medications arrive as SDTM from
    that trial's database (``eap db load``). Each row is kept as received, a JSON
    object of its variables in their order, under the same audit, versioning and
    soft-delete rules as a form's record, and ``eap export`` writes it back out
    beside what the forms captured.
    """

    __tablename__ = "transferred_records"

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    domain: Mapped[str] = mapped_column(String(8), index=True)
    row: Mapped[str] = mapped_column(Text)
    transfer: Mapped[str] = mapped_column(String(200))


class DataTransfer(Base):
    """One load of a data transfer: its name and data cutoff.

    The cutoff is the date the transfer's data describe the study as of; a loaded
    patient's follow-up schedule is judged as of it rather than today's date, so a
    historical study does not show its patients years overdue.
    """

    __tablename__ = "data_transfers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    data_cutoff: Mapped[dt.date] = mapped_column(Date)
    loaded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    loaded_by: Mapped[str] = mapped_column(String(100))


class AuditLog(Base):
    """One changed field of one record: append-only (the schema refuses UPDATE and DELETE).

    ``hash`` chains each row to the one before it (``prev_hash``): SHA-256 over a
    canonical serialisation of the row and its predecessor's hash (see
    :func:`eap.store.audit.row_hash`), so an edited, forged or removed row shows.
    Rows are written only by :func:`eap.store.audit.append`, which numbers them
    1, 2, 3... without gaps.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    username: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(10))
    table_name: Mapped[str] = mapped_column(String(40), index=True)
    record_id: Mapped[int] = mapped_column(Integer)
    patient_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    field: Mapped[str] = mapped_column(String(60))
    old_value: Mapped[str | None] = mapped_column(Text, nullable=True)
    new_value: Mapped[str | None] = mapped_column(Text, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


CLINICAL_TABLES: tuple[type[ClinicalMixin], ...] = (
    Patient,
    DosingRecord,
    AdverseEvent,
    Visit,
    Death,
    Discontinuation,
    DataQuery,
    TransferredRecord,
)


class DataLoad(Base):
    """Progress of one batched load of a data transfer (``eap db load``), by its source.

    A load commits its patients in batches; this row, written in each batch's own
    transaction, says how many patients are stored, so a rerun of the same source
    (the same SHA-256) continues after the last committed batch.
    """

    __tablename__ = "data_loads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    transfer: Mapped[str] = mapped_column(String(200))
    patients: Mapped[int] = mapped_column(Integer)
    patients_done: Mapped[int] = mapped_column(Integer)
    batches_done: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    loaded_by: Mapped[str] = mapped_column(String(100))

"""Input shapes of every record, shared by the JSON API and the HTML forms.

Types and sizes are checked here (a string is printable and bounded, a number is
finite, an integer fits a 32-bit column); the study rules are the edit checks in
:mod:`eap.store.checks`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints


def _printable(value: str) -> str:
    # Why: PostgreSQL rejects NUL in text and control characters corrupt exports.
    if any(ord(c) < 32 and c not in "\t\n\r" for c in value):
        raise ValueError("control characters are not allowed")
    return value


Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_printable),
]
LongText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=2000),
    AfterValidator(_printable),
]
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
ID_MAX = 2**31 - 1
"""The largest row id (ids are 32-bit integer columns on SQLite and PostgreSQL)."""
RowId = Annotated[int, Field(ge=1, le=ID_MAX)]
Frequency = Literal["daily", "every_other_day"]
DiscontinuationReason = Literal[
    "toxicity",
    "progression",
    "patient_withdrawal",
    "physician_decision",
    "lost_to_follow_up",
    "other",
]
Relatedness = Literal[
    "NOT RELATED", "UNLIKELY RELATED", "POSSIBLY RELATED", "PROBABLY RELATED", "RELATED"
]
Action = Literal[
    "DOSE NOT CHANGED",
    "DOSE REDUCED",
    "DRUG INTERRUPTED",
    "DRUG WITHDRAWN",
    "NOT APPLICABLE",
    "UNKNOWN",
]
AeOutcome = Literal[
    "FATAL",
    "NOT RECOVERED/NOT RESOLVED",
    "RECOVERED/RESOLVED",
    "RECOVERED/RESOLVED WITH SEQUELAE",
    "RECOVERING/RESOLVING",
    "UNKNOWN",
]


class Input(BaseModel):
    """Unknown fields are refused and NaN/Infinity are not numbers here."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class PatientIn(Input):
    """A patient's parent-trial facts at the rollover assessment, and renal function."""

    subjid: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,19}$")]
    site_code: Annotated[str, StringConstraints(max_length=20)] | None = None
    sex: Literal["M", "F"]
    age: Int32
    weight_kg: float
    creatinine: float
    creatinine_unit: Literal["mg/dL", "umol/L"] = "mg/dL"
    assessment_date: dt.date
    consent_signed: bool
    lenalidomide_start_date: dt.date
    progressed: bool = False
    progression_date: dt.date | None = None
    discontinued: bool = False
    discontinuation_date: dt.date | None = None
    discontinuation_reason: DiscontinuationReason | None = None
    hypersensitivity_lenalidomide: bool = False
    hypersensitivity_dexamethasone: bool = False
    carried_over_dose: float | None = None
    carried_over_frequency: Frequency | None = None


class DosingIn(Input):
    """Lenalidomide in one cycle; an interruption or reduction needs its reason."""

    cycle: Int32
    start_date: dt.date
    dose: float
    frequency: Frequency = "daily"
    interrupted: bool = False
    reduced: bool = False
    adjustment_reason: LongText | None = None


class AdverseEventIn(Input):
    """An AE: reported term, the CTCAE term and grade used for grading, and its handling."""

    reported_term: Text
    ctcae_term: Text
    grade: Int32
    start_date: dt.date
    end_date: dt.date | None = None
    serious: bool = False
    spm: bool = False
    related: Relatedness = "NOT RELATED"
    action: Action = "DOSE NOT CHANGED"
    outcome: AeOutcome = "NOT RECOVERED/NOT RESOLVED"


class VisitIn(Input):
    """A survival/SPM follow-up visit."""

    visit_date: dt.date
    alive: bool = True
    notes: LongText | None = None


class DeathIn(Input):
    """Date and cause of death."""

    death_date: dt.date
    cause: Text


class DiscontinuationIn(Input):
    """Stop of Rd in the Treatment Phase."""

    discontinuation_date: dt.date
    reason: DiscontinuationReason
    details: LongText | None = None


class QueryIn(Input):
    """A data manager's query on a patient or one of their records."""

    record_table: Literal[
        "patients", "dosing_records", "adverse_events", "visits", "deaths", "discontinuations"
    ] = "patients"
    record_id: RowId | None = None
    field: Annotated[str, StringConstraints(max_length=60)] | None = None
    question: LongText


class QueryAnswerIn(Input):
    """The site's answer, or the data manager closing or reopening the query with a note.

    "open" is accepted here so that asking for it is refused by the state machine
    with the query's current state, not as an unknown word.
    """

    status: Literal["open", "answered", "closed", "reopened"]
    answer: LongText | None = None
    note: LongText | None = None


class Removal(Input):
    """Soft delete: the version the user saw and why."""

    version: Int32
    reason: Text


class PatientUpdate(Input):
    """A change to a patient: the version the user saw, why, and the new values."""

    version: Int32
    reason: Text
    values: PatientIn


class DosingUpdate(Input):
    version: Int32
    reason: Text
    values: DosingIn


class AdverseEventUpdate(Input):
    version: Int32
    reason: Text
    values: AdverseEventIn


class VisitUpdate(Input):
    version: Int32
    reason: Text
    values: VisitIn


class DeathUpdate(Input):
    version: Int32
    reason: Text
    values: DeathIn


class DiscontinuationUpdate(Input):
    version: Int32
    reason: Text
    values: DiscontinuationIn


class QueryUpdate(Input):
    version: Int32
    reason: Text | None = None
    values: QueryAnswerIn

"""HTML form fields of each record, and turning a posted form into the API's input shape.

Forms and the API share the pydantic schemas and the edit checks, so a page and
an API call accept and refuse exactly the same values; the page shows each
message beside its field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from eap.store import schemas


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    type: str = "text"  # text, number, date, select, checkbox, textarea
    options: tuple[tuple[str, str], ...] = ()
    required: bool = False
    step: str | None = None
    attrs: dict[str, str] = field(default_factory=dict)


def ascii_int(text: str, high: int = schemas.ID_MAX) -> int | None:
    """``text`` as a whole number 0 .. ``high``, or None.

    Only ASCII digits count: ``str.isdigit()`` also accepts "²" and other Unicode
    digits, on which ``int()`` fails or reads a different number.
    """
    text = text.strip()
    if not text or not text.isascii() or not text.isdigit() or len(text) > len(str(high)):
        return None
    value = int(text)
    return value if value <= high else None


def reason_of(form: dict[str, str]) -> tuple[str | None, str | None]:
    """The posted reason for a change as (reason, None), or (None, message) when it is
    missing, too long or holds control characters (the API's ``Text`` rules)."""
    raw = form.get("reason", "").strip()
    if not raw:
        return None, "a change after first save needs a reason"
    if len(raw) > 200:
        return None, f"a reason has at most 200 characters; found {len(raw)}"
    if any(ord(c) < 32 and c not in "\t\n\r" for c in raw):
        return None, "a reason cannot hold control characters"
    return raw, None


def _opts(*values: str) -> tuple[tuple[str, str], ...]:
    return tuple((v, v.replace("_", " ").capitalize() if v.islower() else v) for v in values)


LADDER = (
    ("25", "25 mg"),
    ("20", "20 mg"),
    ("15", "15 mg"),
    ("10", "10 mg"),
    ("5", "5 mg"),
    ("2.5", "2.5 mg"),
)
FREQ = (("daily", "Daily, days 1-21"), ("every_other_day", "Every other day, days 1-21"))
DISC = _opts(
    "toxicity",
    "progression",
    "patient_withdrawal",
    "physician_decision",
    "lost_to_follow_up",
    "other",
)

PATIENT_FIELDS: tuple[Field, ...] = (
    Field("subjid", "MM-021 subject number", required=True),
    Field("site_code", "Site", "select"),
    Field("sex", "Sex", "select", (("M", "Male"), ("F", "Female")), required=True),
    Field("age", "Age (years)", "number", required=True),
    Field("weight_kg", "Weight (kg)", "number", required=True, step="0.1"),
    Field("creatinine", "Serum creatinine", "number", required=True, step="0.01"),
    Field(
        "creatinine_unit", "Creatinine unit", "select", (("mg/dL", "mg/dL"), ("umol/L", "µmol/L"))
    ),
    Field("assessment_date", "Rollover assessment date", "date", required=True),
    Field("consent_signed", "Signed EAP informed consent", "checkbox"),
    Field("lenalidomide_start_date", "Lenalidomide start in MM-021", "date", required=True),
    Field("progressed", "Progressed in MM-021", "checkbox"),
    Field("progression_date", "Progression date", "date"),
    Field("discontinued", "Discontinued Rd in MM-021", "checkbox"),
    Field("discontinuation_date", "Discontinuation date", "date"),
    Field("discontinuation_reason", "Discontinuation reason", "select", DISC),
    Field("hypersensitivity_lenalidomide", "Serious hypersensitivity to lenalidomide", "checkbox"),
    Field(
        "hypersensitivity_dexamethasone", "Serious hypersensitivity to dexamethasone", "checkbox"
    ),
    Field("carried_over_dose", "Lenalidomide dose at end of MM-021 (mg)", "select", LADDER),
    Field("carried_over_frequency", "Frequency at end of MM-021", "select", FREQ),
)

KIND_FIELDS: dict[str, tuple[Field, ...]] = {
    "dosing": (
        Field("cycle", "Cycle", "number", required=True),
        Field("start_date", "Cycle start date", "date", required=True),
        Field("dose", "Lenalidomide dose", "select", LADDER, required=True),
        Field("frequency", "Frequency", "select", FREQ, required=True),
        Field("interrupted", "Interrupted", "checkbox"),
        Field("reduced", "Reduced", "checkbox"),
        Field("adjustment_reason", "Reason for interruption or reduction", "textarea"),
    ),
    "ae": (
        Field("reported_term", "Reported term", required=True),
        Field(
            "ctcae_term",
            "CTCAE v4.03 term",
            required=True,
            attrs={"list": "ctcae-terms", "autocomplete": "off"},
        ),
        Field(
            "grade",
            "CTCAE grade",
            "select",
            tuple((str(g), str(g)) for g in range(1, 6)),
            required=True,
        ),
        Field("start_date", "Start date", "date", required=True),
        Field("end_date", "End date", "date"),
        Field("serious", "Serious", "checkbox"),
        Field("spm", "Second primary malignancy (always serious)", "checkbox"),
        Field(
            "related",
            "Relationship to Rd",
            "select",
            _opts(
                "NOT RELATED", "UNLIKELY RELATED", "POSSIBLY RELATED", "PROBABLY RELATED", "RELATED"
            ),
        ),
        Field(
            "action",
            "Action taken with Rd",
            "select",
            _opts(
                "DOSE NOT CHANGED",
                "DOSE REDUCED",
                "DRUG INTERRUPTED",
                "DRUG WITHDRAWN",
                "NOT APPLICABLE",
                "UNKNOWN",
            ),
        ),
        Field(
            "outcome",
            "Outcome",
            "select",
            _opts(
                "NOT RECOVERED/NOT RESOLVED",
                "RECOVERING/RESOLVING",
                "RECOVERED/RESOLVED",
                "RECOVERED/RESOLVED WITH SEQUELAE",
                "FATAL",
                "UNKNOWN",
            ),
        ),
    ),
    "visits": (
        Field("visit_date", "Visit date", "date", required=True),
        Field("alive", "Patient alive", "checkbox"),
        Field("notes", "Notes (SPM, new therapy, ...)", "textarea"),
    ),
    "death": (
        Field("death_date", "Date of death", "date", required=True),
        Field("cause", "Cause of death", required=True),
    ),
    "discontinuation": (
        Field("discontinuation_date", "Date Rd stopped", "date", required=True),
        Field("reason", "Reason", "select", DISC, required=True),
        Field("details", "Details", "textarea"),
    ),
}

SCHEMAS: dict[str, type[BaseModel]] = {
    "patient": schemas.PatientIn,
    "dosing": schemas.DosingIn,
    "ae": schemas.AdverseEventIn,
    "visits": schemas.VisitIn,
    "death": schemas.DeathIn,
    "discontinuation": schemas.DiscontinuationIn,
}


def fields_of(kind: str) -> tuple[Field, ...]:
    return PATIENT_FIELDS if kind == "patient" else KIND_FIELDS[kind]


def parse(kind: str, form: dict[str, str]) -> tuple[BaseModel | None, dict[str, str]]:
    """The posted form as the kind's schema, or the message for each bad field."""
    values: dict[str, Any] = {}
    for f in fields_of(kind):
        raw = form.get(f.name)
        if f.type == "checkbox":
            values[f.name] = raw is not None and raw != ""
        elif raw is None or raw.strip() == "":
            if f.required:
                continue  # pydantic reports it as missing, beside the field
            values[f.name] = None
        else:
            values[f.name] = raw.strip()
    values = {k: v for k, v in values.items() if v is not None or not _has_default(kind, k)}
    try:
        return SCHEMAS[kind].model_validate(values), {}
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for err in exc.errors():
            loc = str(err["loc"][0]) if err["loc"] else "form"
            errors.setdefault(loc, "required" if err["type"] == "missing" else err["msg"])
        return None, errors


def _has_default(kind: str, name: str) -> bool:
    f = SCHEMAS[kind].model_fields.get(name)
    return f is not None and not f.is_required() and f.default is not None


def form_values(obj_values: dict[str, Any]) -> dict[str, str]:
    """A record's values as form strings (dates ISO, booleans 'on' or '')."""
    out: dict[str, str] = {}
    for k, v in obj_values.items():
        if isinstance(v, bool):
            out[k] = "on" if v else ""
        elif isinstance(v, float):
            out[k] = f"{v:g}"
        elif v is None:
            out[k] = ""
        else:
            out[k] = str(v)
    return out


def parse_patient(form: dict[str, str]) -> tuple[schemas.PatientIn | None, dict[str, str]]:
    """:func:`parse` for the registration form, typed."""
    data, errors = parse("patient", form)
    return (data if isinstance(data, schemas.PatientIn) else None), errors

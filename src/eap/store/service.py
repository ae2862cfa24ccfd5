"""What users do to the study data: register, record, correct, soft-delete, query, summarize.

Every function takes the acting user (:class:`~eap.store.access.Actor`) and a
session inside a transaction owned by the caller (one request, one transaction:
when anything fails, nothing of the request is stored). Access is checked before
data is read; edit checks run before anything is written; the audit trail is
written by the session itself (:mod:`eap.store.audit`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from eap.errors import (
    AccessDeniedError,
    ConflictError,
    EditCheckError,
    NotFoundError,
    ProtocolError,
)
from eap.protocol import (
    Outcome,
    Protocol,
    RolloverFacts,
    VisitStatus,
    check_on_ladder,
    cockcroft_gault,
    decide_rollover,
    load_protocol,
    starting_dose,
    visit_schedule,
)
from eap.protocol.eligibility import DiscontinuationReason
from eap.protocol.schedule import FollowUpSchedule
from eap.store import ctcae
from eap.store.access import (
    Actor,
    check_site,
    patients_query,
    require_admin,
    require_clinical_write,
)
from eap.store.audit import set_actor
from eap.store.models import (
    AdverseEvent,
    ClinicalMixin,
    DataQuery,
    DataTransfer,
    Death,
    Discontinuation,
    DosingRecord,
    Patient,
    Site,
    TransferredRecord,
    Visit,
)
from eap.store.ranges import check_range
from eap.store.schemas import (
    ID_MAX,
    AdverseEventIn,
    DeathIn,
    DiscontinuationIn,
    DosingIn,
    PatientIn,
    QueryAnswerIn,
    QueryIn,
    VisitIn,
)

EARLIEST = dt.date(1900, 1, 1)
Errors = dict[str, str]


@cache
def protocol() -> Protocol:
    """The built-in MM-024 protocol (loaded once)."""
    return load_protocol()


def usubjid_for(subjid: str) -> str:
    """USUBJID = study id + parent-trial subject number (the subject keeps their number)."""
    return f"{protocol().study.id}-{subjid}"


# --------------------------------------------------------------------------- reading


def get_patient(db: Session, actor: Actor, patient_id: int) -> Patient:
    """The patient, or NotFoundError when missing or outside the user's sites."""
    patient = db.get(Patient, patient_id) if 1 <= patient_id <= ID_MAX else None
    if patient is None:
        raise NotFoundError("patient not found", dataset="patients", rows=[patient_id])
    check_site(actor, patient.site_id)
    return patient


def list_patients(db: Session, actor: Actor) -> list[Patient]:
    return list(db.scalars(patients_query(actor)))


def live(db: Session, model: type[Any], patient_id: int) -> list[Any]:
    """A patient's records of one table that are not soft-deleted, in entry order."""
    stmt = (
        select(model)
        .where(model.patient_id == patient_id, model.deleted.is_(False))
        .order_by(model.id)
    )
    return list(db.scalars(stmt))


def death_of(db: Session, patient_id: int) -> Death | None:
    deaths = live(db, Death, patient_id)
    return deaths[0] if deaths else None


def transferred_death_date(db: Session, patient_id: int) -> dt.date | None:
    """DTHDTC of the patient's transferred DM row, if a transfer reported a death."""
    stmt = select(TransferredRecord.row).where(
        TransferredRecord.patient_id == patient_id,
        TransferredRecord.domain == "DM",
        TransferredRecord.deleted.is_(False),
    )
    for row in db.scalars(stmt):
        value = str(json.loads(row).get("DTHDTC") or "")
        if len(value) >= 10:
            return dt.date.fromisoformat(value[:10])
    return None


def contact_dates(db: Session, patient_id: int) -> list[dt.date]:
    """Every contact that assesses survival and SPM, in date order.

    A contact is a follow-up visit entered on the form, a cycle entered on the
    dosing form (the patient comes in on day 1 of every cycle and is asked about
    survival and second primary malignancies there too), or a visit of any epoch in
    a transfer's SV (cycle visits and survival follow-up visits alike).
    """
    dates = [v.visit_date for v in live(db, Visit, patient_id)]
    dates += [r.start_date for r in live(db, DosingRecord, patient_id)]
    stmt = select(TransferredRecord.row).where(
        TransferredRecord.patient_id == patient_id,
        TransferredRecord.domain == "SV",
        TransferredRecord.deleted.is_(False),
    )
    for row in map(json.loads, db.scalars(stmt)):
        start = _complete_date(row.get("SVSTDTC"))
        if start is not None:
            dates.append(start)
    return sorted(set(dates))


def _complete_date(value: object) -> dt.date | None:
    """The day of ISO 8601 text; None for no date, a partial date or an impossible one."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


# DS DSDECOD of a subject's withdrawal (CDISC NCIt C49634).
WITHDRAWAL = "WITHDRAWAL BY SUBJECT"


def withdrawal_date(db: Session, patient: Patient) -> dt.date | None:
    """The earliest withdrawal after the rollover assessment, entered or transferred.

    A discontinuation for patient withdrawal on the form, or a transferred DS record
    WITHDRAWAL BY SUBJECT dated after the assessment. A withdrawal on or before the
    assessment is the parent-trial stop the registration already holds, not an end
    of follow-up in this program.
    """
    dates = [
        d.discontinuation_date
        for d in live(db, Discontinuation, patient.id)
        if d.reason == DiscontinuationReason.PATIENT_WITHDRAWAL.value
    ]
    stmt = select(TransferredRecord.row).where(
        TransferredRecord.patient_id == patient.id,
        TransferredRecord.domain == "DS",
        TransferredRecord.deleted.is_(False),
    )
    for row in map(json.loads, db.scalars(stmt)):
        when = _complete_date(row.get("DSSTDTC"))
        if row.get("DSDECOD") == WITHDRAWAL and when is not None:
            dates.append(when)
    after = [d for d in dates if d > patient.assessment_date]
    return min(after) if after else None


def transfer_cutoff(db: Session, patient_id: int) -> dt.date | None:
    """The latest data cutoff of the transfers the patient's records came from."""
    names = select(TransferredRecord.transfer).where(TransferredRecord.patient_id == patient_id)
    latest: dt.date | None = db.scalar(
        select(func.max(DataTransfer.data_cutoff)).where(DataTransfer.name.in_(names))
    )
    return latest


def latest_entered_date(db: Session, patient_id: int) -> dt.date | None:
    """The latest date of a record entered on a form for the patient (deleted ones aside)."""
    # One statement for the five record tables: the dashboard asks this of every patient.
    latest = union_all(
        *(
            select(func.max(column)).where(
                column.class_.patient_id == patient_id, column.class_.deleted.is_(False)
            )
            for column in (
                DosingRecord.start_date,
                AdverseEvent.start_date,
                Visit.visit_date,
                Death.death_date,
                Discontinuation.discontinuation_date,
            )
        )
    )
    dates = [d for d in db.scalars(latest) if d is not None]
    return max(dates) if dates else None


@dataclass(frozen=True)
class AsOf:
    """The date a patient's schedule is judged as of, and why that date."""

    date: dt.date
    basis: str  # "today" or "data cutoff"


def schedule_as_of(db: Session, patient: Patient, today: dt.date) -> AsOf:
    """A loaded patient is judged as of the transfer's data cutoff, others as of today.

    The transfer describes the study as it stood on its cutoff: judged as of today,
    a historical study would show every patient years overdue. Once a site records
    anything dated after the cutoff on a form, the program is being run live for
    that patient and today's date applies again.
    """
    cutoff = transfer_cutoff(db, patient.id)
    if cutoff is None or cutoff >= today:
        return AsOf(today, "today")
    entered = latest_entered_date(db, patient.id)
    if entered is not None and entered > cutoff:
        return AsOf(today, "today")
    return AsOf(cutoff, "data cutoff")


def death_date(db: Session, patient_id: int) -> dt.date | None:
    """The patient's date of death: recorded on the form, else reported by a transfer."""
    death = death_of(db, patient_id)
    return death.death_date if death else transferred_death_date(db, patient_id)


# --------------------------------------------------------------------------- edit checks


def _date_checks(values: dict[str, Any], fields: tuple[str, ...], today: dt.date) -> Errors:
    errors: Errors = {}
    for f in fields:
        d = values.get(f)
        if d is None:
            continue
        if d > today:
            errors[f] = f"date {d} is in the future (today is {today})"
        elif d < EARLIEST:
            errors[f] = f"date {d} is before {EARLIEST}"
    return errors


def _after_death(db: Session, patient: Patient, field: str, d: dt.date | None, what: str) -> Errors:
    died = death_date(db, patient.id)
    if d is not None and died is not None and d > died:
        return {field: f"{what} after death (died {died})"}
    return {}


def check_patient(values: dict[str, Any], today: dt.date) -> tuple[Errors, dict[str, Any]]:
    """Edit checks of a registration; with no error, also the derived decision and dose."""
    v = values
    errors = _date_checks(
        v,
        ("assessment_date", "lenalidomide_start_date", "progression_date", "discontinuation_date"),
        today,
    )
    errors.update(check_range("age", "age", v["age"]))
    errors.update(check_range("weight_kg", "weight_kg", v["weight_kg"]))
    errors.update(check_range(f"creatinine {v['creatinine_unit']}", "creatinine", v["creatinine"]))
    errors.update(check_range("carried_over_dose", "carried_over_dose", v["carried_over_dose"]))
    if v["carried_over_dose"] is not None and "carried_over_dose" not in errors:
        try:
            check_on_ladder(protocol(), v["carried_over_dose"], "carried_over_dose")
        except ProtocolError as exc:
            errors["carried_over_dose"] = _protocol_message(exc)
    if v["carried_over_frequency"] is not None and v["carried_over_dose"] is None:
        errors["carried_over_dose"] = "a carried-over frequency needs a carried-over dose"
    if errors:
        return errors, {}
    p = protocol()
    reason = v["discontinuation_reason"]
    try:
        facts = RolloverFacts(
            usubjid=usubjid_for(v["subjid"]),
            assessment_date=v["assessment_date"],
            consent_signed=v["consent_signed"],
            lenalidomide_start_date=v["lenalidomide_start_date"],
            progressed=v["progressed"],
            discontinued=v["discontinued"],
            hypersensitivity_lenalidomide=v["hypersensitivity_lenalidomide"],
            hypersensitivity_dexamethasone=v["hypersensitivity_dexamethasone"],
            progression_date=v["progression_date"],
            discontinuation_date=v["discontinuation_date"],
            discontinuation_reason=DiscontinuationReason(reason) if reason else None,
        )
        decision = decide_rollover(p, facts)
        crcl = cockcroft_gault(
            v["age"], v["weight_kg"], v["sex"], v["creatinine"], v["creatinine_unit"]
        )
        dose = starting_dose(p, crcl, v["carried_over_dose"], v["carried_over_frequency"])
    except ProtocolError as exc:
        field = exc.variable if exc.variable in values else "assessment_date"
        return {field: _protocol_message(exc)}, {}
    derived = {
        "usubjid": facts.usubjid,
        "outcome": decision.outcome.value,
        "phase": decision.phase,
        "decision_reasons": json.dumps(list(decision.reasons)),
        "crcl": round(crcl, 2),
        "start_dose": dose.planned.dose,
        "start_frequency": dose.planned.frequency.value,
        "dose_reasons": json.dumps(list(dose.reasons)),
    }
    return {}, derived


def _protocol_message(exc: ProtocolError) -> str:
    text = exc.problem
    if exc.expected:
        text += f"; expected {exc.expected}"
    return text


def check_dosing(
    db: Session, patient: Patient, v: dict[str, Any], rid: int | None, today: dt.date
) -> Errors:
    errors = _date_checks(v, ("start_date",), today)
    if patient.outcome != Outcome.TREATMENT.value:
        errors["cycle"] = "dosing is recorded only for Treatment Phase patients"
    range_error = check_range("cycle", "cycle", v["cycle"])
    if range_error:
        errors.update(range_error)
    elif any(r.cycle == v["cycle"] and r.id != rid for r in live(db, DosingRecord, patient.id)):
        errors["cycle"] = f"cycle {v['cycle']} is already recorded"
    errors.update(check_range("dose", "dose", v["dose"]))
    if "dose" not in errors:
        try:
            check_on_ladder(protocol(), v["dose"], "dose")
        except ProtocolError as exc:
            errors["dose"] = _protocol_message(exc)
    earlier = [
        r for r in live(db, DosingRecord, patient.id) if r.cycle < v["cycle"] and r.id != rid
    ]
    if v["reduced"] and earlier and "dose" not in errors:
        previous = max(earlier, key=lambda r: r.cycle)
        if v["dose"] >= previous.dose:
            errors["dose"] = (
                f"a reduction must be below cycle {previous.cycle}'s dose ({previous.dose:g} mg)"
            )
    if (v["interrupted"] or v["reduced"]) and not v["adjustment_reason"]:
        errors["adjustment_reason"] = "an interruption or reduction needs its reason"
    if "start_date" not in errors:
        if v["start_date"] < patient.assessment_date:
            errors["start_date"] = (
                f"dose before the rollover assessment ({patient.assessment_date})"
            )
        stops = live(db, Discontinuation, patient.id)
        if stops and v["start_date"] > stops[0].discontinuation_date:
            errors["start_date"] = (
                f"dose after discontinuation of Rd ({stops[0].discontinuation_date})"
            )
        errors.update(_after_death(db, patient, "start_date", v["start_date"], "dose"))
    if "cycle" not in errors:
        others = [r for r in live(db, DosingRecord, patient.id) if r.id != rid]
        errors.update(check_cycle_sequence(v["cycle"], others))
        if "start_date" not in errors and "cycle" not in errors:
            errors.update(check_cycle_spacing(v, others))
    return errors


def check_cycle_sequence(cycle: int, others: list[DosingRecord]) -> Errors:
    """Cycles are numbered 1, 2, 3, ... without gaps: a cycle is entered after the ones
    before it (cycles 10-16 with no cycles 1-9 is a typing error, not a treatment)."""
    recorded = {r.cycle for r in others} | {cycle}
    missing = sorted(set(range(1, max(recorded) + 1)) - recorded)
    if not missing:
        return {}
    shown = ", ".join(str(c) for c in missing[:10]) + (" ..." if len(missing) > 10 else "")
    return {
        "cycle": f"cycles are recorded in order without gaps: cycle {shown} "
        f"{'is' if len(missing) == 1 else 'are'} not recorded"
    }


def check_cycle_spacing(v: dict[str, Any], others: list[DosingRecord]) -> Errors:
    """Cycles start in their order, each at least one cycle length (28 days, the protocol's
    regimen) after the previous cycle's start, unless the previous cycle records an
    interruption (with its reason): an interrupted cycle may end early."""
    days = protocol().regimen.cycle_days
    cycle, start = v["cycle"], v["start_date"]
    by_cycle = {r.cycle: r for r in others}
    for r in others:
        if (r.cycle < cycle and r.start_date >= start) or (
            r.cycle > cycle and r.start_date <= start
        ):
            side = "after" if r.cycle < cycle else "before"
            return {
                "start_date": f"cycle {cycle} must start {side} cycle {r.cycle} ({r.start_date})"
            }
    previous = by_cycle.get(cycle - 1)
    if previous is not None and not previous.interrupted:
        gap = (start - previous.start_date).days
        if gap < days:
            return {
                "start_date": f"cycle {cycle} starts {gap} days after cycle {cycle - 1} "
                f"({previous.start_date}); expected at least {days} days unless cycle "
                f"{cycle - 1} records an interruption"
            }
    following = by_cycle.get(cycle + 1)
    if following is not None and not v["interrupted"]:
        gap = (following.start_date - start).days
        if gap < days:
            return {
                "start_date": f"cycle {cycle + 1} ({following.start_date}) would start {gap} days "
                f"after this cycle; expected at least {days} days unless this cycle records "
                "an interruption"
            }
    return {}


def check_ae(
    db: Session, patient: Patient, v: dict[str, Any], rid: int | None, today: dt.date
) -> Errors:
    errors = _date_checks(v, ("start_date", "end_date"), today)
    term = ctcae.lookup(v["ctcae_term"])
    if term is None:
        errors["ctcae_term"] = f"unknown CTCAE v4.03 term {v['ctcae_term']!r}"
    range_error = check_range("grade", "grade", v["grade"])
    if range_error:
        errors.update(range_error)
    elif term is not None and term.grade_text(v["grade"]) is None:
        defined = ", ".join(str(g) for g in term.defined_grades())
        errors["grade"] = f"grade {v['grade']} is not defined for {term.term} (defined: {defined})"
    if (
        v["end_date"] is not None
        and "start_date" not in errors
        and "end_date" not in errors
        and v["end_date"] < v["start_date"]
    ):
        errors["end_date"] = f"AE ends ({v['end_date']}) before it starts ({v['start_date']})"
    errors.update(_after_death(db, patient, "start_date", v["start_date"], "AE start"))
    if term is not None and "start_date" not in errors:
        for other in live(db, AdverseEvent, patient.id):
            if (
                other.id != rid
                and other.ctcae_term == term.term
                and other.start_date == v["start_date"]
                and other.reported_term.casefold() == v["reported_term"].casefold()
            ):
                errors["ctcae_term"] = f"duplicate AE: #{other.id} has the same term and start date"
    return errors


def _normalize_ae(v: dict[str, Any]) -> dict[str, Any]:
    term = ctcae.lookup(v["ctcae_term"])
    assert term is not None  # edit checks ran first
    v = {**v, "ctcae_term": term.term, "soc": term.soc}
    if term.term in ctcae.SPM_TERMS:
        v["spm"] = True
    if v["spm"]:
        # A second primary malignancy is always serious (MM-024 event of interest).
        v["serious"] = True
    return v


def check_visit(
    db: Session, patient: Patient, v: dict[str, Any], rid: int | None, today: dt.date
) -> Errors:
    errors = _date_checks(v, ("visit_date",), today)
    if "visit_date" in errors:
        return errors
    if v["visit_date"] <= patient.assessment_date:
        errors["visit_date"] = (
            f"visit must be after the rollover assessment ({patient.assessment_date})"
        )
    errors.update(_after_death(db, patient, "visit_date", v["visit_date"], "visit"))
    if any(o.visit_date == v["visit_date"] and o.id != rid for o in live(db, Visit, patient.id)):
        errors["visit_date"] = f"a visit on {v['visit_date']} is already recorded"
    return errors


def check_death(
    db: Session, patient: Patient, v: dict[str, Any], rid: int | None, today: dt.date
) -> Errors:
    errors = _date_checks(v, ("death_date",), today)
    if any(d.id != rid for d in live(db, Death, patient.id)):
        errors["death_date"] = "a death is already recorded for this patient"
    elif (reported := transferred_death_date(db, patient.id)) is not None:
        errors["death_date"] = f"a data transfer already reports this death ({reported})"
    if errors:
        return errors
    d = v["death_date"]
    if d < patient.assessment_date:
        errors["death_date"] = f"death before the rollover assessment ({patient.assessment_date})"
    later = [r.start_date for r in live(db, DosingRecord, patient.id) if r.start_date > d]
    later += [r.visit_date for r in live(db, Visit, patient.id) if r.visit_date > d]
    if later:
        errors["death_date"] = f"a dose or visit is recorded after this date ({max(later)})"
    return errors


def check_discontinuation(
    db: Session, patient: Patient, v: dict[str, Any], rid: int | None, today: dt.date
) -> Errors:
    errors = _date_checks(v, ("discontinuation_date",), today)
    if patient.outcome != Outcome.TREATMENT.value:
        errors["discontinuation_date"] = "only a Treatment Phase patient can stop Rd"
    elif any(o.id != rid for o in live(db, Discontinuation, patient.id)):
        errors["discontinuation_date"] = "a discontinuation is already recorded"
    if errors:
        return errors
    d = v["discontinuation_date"]
    if d < patient.assessment_date:
        errors["discontinuation_date"] = (
            f"discontinuation before the rollover assessment ({patient.assessment_date})"
        )
    later = [r.start_date for r in live(db, DosingRecord, patient.id) if r.start_date > d]
    if later:
        errors["discontinuation_date"] = f"a dose is recorded after this date ({max(later)})"
    errors.update(_after_death(db, patient, "discontinuation_date", d, "discontinuation"))
    return errors


def check_query(
    db: Session, patient: Patient, v: dict[str, Any], rid: int | None, today: dt.date
) -> Errors:
    if not v.get("question"):
        return {"question": "a query needs its question"}
    return {}


Checker = Callable[[Session, Patient, dict[str, Any], "int | None", dt.date], Errors]


@dataclass(frozen=True)
class Kind:
    """One kind of patient record: its table, input shape, edit checks and page label."""

    name: str
    label: str
    model: type[Any]
    schema: type[BaseModel]
    check: Checker
    normalize: Callable[[dict[str, Any]], dict[str, Any]] = lambda v: v


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("dosing", "Dosing", DosingRecord, DosingIn, check_dosing),
        Kind("ae", "Adverse event", AdverseEvent, AdverseEventIn, check_ae, _normalize_ae),
        Kind("visits", "Follow-up visit", Visit, VisitIn, check_visit),
        Kind("death", "Death", Death, DeathIn, check_death),
        Kind(
            "discontinuation",
            "Discontinuation",
            Discontinuation,
            DiscontinuationIn,
            check_discontinuation,
        ),
    )
}


def kind(name: str) -> Kind:
    if name not in KINDS:
        raise NotFoundError(f"unknown record kind {name!r}")
    return KINDS[name]


# --------------------------------------------------------------------------- writing


def _writable_patient(db: Session, actor: Actor, patient_id: int) -> Patient:
    patient = get_patient(db, actor, patient_id)
    require_clinical_write(actor)
    if patient.deleted:
        raise AccessDeniedError("the patient record is deleted", dataset="patients")
    return patient


def snapshot(obj: ClinicalMixin) -> dict[str, Any]:
    """Fields, id and version of a record, JSON-ready."""
    out: dict[str, Any] = {"id": obj.id, "version": obj.version}
    for k, value in obj.data().items():
        out[k] = value.isoformat() if isinstance(value, dt.date) else value
    out["updated_by"] = obj.updated_by
    out["updated_at"] = obj.updated_at.isoformat() if obj.updated_at else None
    return out


def _save_changes(db: Session, obj: ClinicalMixin, version: int, values: dict[str, Any]) -> None:
    """Apply ``values`` if the user saw the current version; else ConflictError with it."""
    if obj.version != version:
        raise ConflictError(
            "this record was changed by someone else since you opened it",
            current=snapshot(obj),
            expected=f"version {version}",
            found=f"version {obj.version}",
        )
    savepoint = db.begin_nested()
    try:
        for k, value in values.items():
            setattr(obj, k, value)
        db.flush()
    except StaleDataError:
        # The row changed between our read and our UPDATE (another transaction won).
        savepoint.rollback()
        db.refresh(obj)
        raise ConflictError(
            "this record was changed by someone else since you opened it",
            current=snapshot(obj),
            expected=f"version {version}",
            found=f"version {obj.version}",
        ) from None
    savepoint.commit()


def register_patient(db: Session, actor: Actor, data: PatientIn, today: dt.date) -> Patient:
    """Register a patient from the parent trial with the protocol's decision and dose."""
    require_clinical_write(actor)
    values = data.model_dump()
    site_code = values.pop("site_code")
    site = _site_for(db, actor, site_code)
    errors, derived = check_patient({**values, "site_code": site_code}, today)
    errors.update(check_subject_number(values["subjid"], site))
    if not errors:
        errors = check_not_registered(db, actor, site, derived["usubjid"])
    if errors:
        raise EditCheckError(errors)
    set_actor(db, actor.username)
    patient = Patient(site_id=site.id, **values, **derived)
    # The savepoint first: begin_nested() flushes what is pending, outside the try.
    savepoint = db.begin_nested()
    try:
        db.add(patient)
        db.flush()
    except IntegrityError:
        # Another request registered the same USUBJID between the check and the insert.
        savepoint.rollback()
        raise EditCheckError(not_a_site_subject(site)) from None
    savepoint.commit()
    return patient


def not_a_site_subject(site: Site) -> Errors:
    """The one refusal for a subject number the site cannot register.

    It is the same, word for word, whether the number lacks the site's prefix or is
    registered at a site the user cannot see, so a site cannot learn which subject
    numbers another site has.
    """
    return {
        "subjid": f"not a subject number site {site.code} can register; expected an MM-021 "
        f"subject number of site {site.code} (it begins with {site.code}) that is not "
        "registered yet"
    }


def check_subject_number(subjid: str, site: Site) -> Errors:
    """MM-021 subject numbers are the site code followed by a sequence (site 01: 0101,
    0102, ...): a patient is registered at the site their number belongs to."""
    return {} if subjid.startswith(site.code) else not_a_site_subject(site)


def check_not_registered(db: Session, actor: Actor, site: Site, usubjid: str) -> Errors:
    """A subject registered twice: named as such when the user can see the existing
    patient, else the same refusal as a number of another site."""
    existing = db.scalar(select(Patient).where(Patient.usubjid == usubjid))
    if existing is None:
        return {}
    if actor.all_sites or existing.site_id == actor.site_id:
        return {"subjid": f"subject {existing.subjid} is already registered"}
    return not_a_site_subject(site)


def _site_for(db: Session, actor: Actor, site_code: str | None) -> Site:
    if not actor.all_sites:
        site = db.get(Site, actor.site_id)
        if site is None or (site_code and site_code != site.code):
            raise EditCheckError({"site_code": "you can register patients at your own site only"})
        return site
    if not site_code:
        raise EditCheckError({"site_code": "choose the patient's site"})
    site = db.scalar(select(Site).where(Site.code == site_code))
    if site is None:
        raise EditCheckError({"site_code": f"unknown site {site_code!r}"})
    return site


def update_patient(
    db: Session,
    actor: Actor,
    patient_id: int,
    version: int,
    reason: str,
    data: PatientIn,
    today: dt.date,
) -> Patient:
    """Correct a registration; the decision and starting dose are derived again."""
    patient = _writable_patient(db, actor, patient_id)
    values = data.model_dump()
    site_code = values.pop("site_code")
    if values["subjid"] != patient.subjid:
        raise EditCheckError({"subjid": "the subject number cannot change after registration"})
    if site_code:
        site = _site_for(db, actor, site_code)
        values["site_id"] = site.id
    errors, derived = check_patient({**values, "site_code": site_code}, today)
    if errors:
        raise EditCheckError(errors)
    # USUBJID is fixed at registration (a loaded patient keeps the transfer's).
    derived["usubjid"] = patient.usubjid
    set_actor(db, actor.username, reason)
    _save_changes(db, patient, version, {**values, **derived})
    return patient


def get_record(db: Session, actor: Actor, patient_id: int, kind_name: str, rid: int) -> Any:
    """One record of a patient (NotFoundError if it is not that patient's, or out of scope)."""
    spec = kind(kind_name)
    get_patient(db, actor, patient_id)
    obj = db.get(spec.model, rid) if 1 <= rid <= ID_MAX else None
    if obj is None or obj.patient_id != patient_id:
        raise NotFoundError(f"{spec.label.lower()} not found", dataset=spec.model.__tablename__)
    return obj


def add_record(
    db: Session, actor: Actor, patient_id: int, kind_name: str, data: BaseModel, today: dt.date
) -> Any:
    """Create a record after its edit checks."""
    spec = kind(kind_name)
    patient = _writable_patient(db, actor, patient_id)
    values = data.model_dump()
    errors = spec.check(db, patient, values, None, today)
    if errors:
        raise EditCheckError(errors)
    set_actor(db, actor.username)
    obj = spec.model(patient_id=patient.id, **spec.normalize(values))
    db.add(obj)
    db.flush()
    return obj


def update_record(
    db: Session,
    actor: Actor,
    patient_id: int,
    kind_name: str,
    rid: int,
    version: int,
    reason: str,
    data: BaseModel,
    today: dt.date,
) -> Any:
    """Change a record: the version the user saw must be current, and a reason is given."""
    spec = kind(kind_name)
    patient = _writable_patient(db, actor, patient_id)
    obj = get_record(db, actor, patient_id, kind_name, rid)
    if obj.deleted:
        raise AccessDeniedError("a deleted record cannot be changed", rows=[rid])
    values = data.model_dump()
    errors = spec.check(db, patient, values, rid, today)
    if errors:
        raise EditCheckError(errors)
    set_actor(db, actor.username, reason)
    _save_changes(db, obj, version, spec.normalize(values))
    return obj


def delete_record(
    db: Session,
    actor: Actor,
    patient_id: int,
    kind_name: str,
    rid: int,
    version: int,
    reason: str,
) -> Any:
    """Soft delete with a reason; the record stays, marked deleted, with its history."""
    _writable_patient(db, actor, patient_id)
    obj = get_record(db, actor, patient_id, kind_name, rid)
    if obj.deleted:
        raise AccessDeniedError("the record is already deleted", rows=[rid])
    set_actor(db, actor.username, reason)
    _save_changes(db, obj, version, {"deleted": True, "deleted_reason": reason})
    return obj


def delete_transferred_record(
    db: Session, actor: Actor, patient_id: int, rid: int, version: int, reason: str
) -> TransferredRecord:
    """Set a transferred row aside with a reason: the correction of a transferred record.

    A transferred row is never edited (it stays as received); a wrong one is soft
    deleted with the reason, which takes it out of the page's sections, the schedule
    and the export, and the right value is recorded on the form. DM rows are refused:
    the patient's registration and the death form correct what DM says.
    """
    _writable_patient(db, actor, patient_id)
    obj = db.get(TransferredRecord, rid)
    if obj is None or obj.patient_id != patient_id:
        raise NotFoundError("transferred record not found", dataset="transferred_records")
    if obj.domain not in TRANSFERRED_DOMAINS:
        raise EditCheckError(
            {
                "record": f"a transferred {obj.domain} record cannot be set aside on its own; "
                "correct the registration or record the death on the form"
            }
        )
    if obj.deleted:
        raise AccessDeniedError("the record is already set aside", rows=[rid])
    set_actor(db, actor.username, reason)
    _save_changes(db, obj, version, {"deleted": True, "deleted_reason": reason})
    return obj


def delete_patient(
    db: Session, actor: Actor, patient_id: int, version: int, reason: str
) -> Patient:
    """Soft-delete a patient (registered in error); sponsor administrators only."""
    require_admin(actor)
    patient = get_patient(db, actor, patient_id)
    if patient.deleted:
        raise AccessDeniedError("the patient record is already deleted", rows=[patient_id])
    set_actor(db, actor.username, reason)
    _save_changes(db, patient, version, {"deleted": True, "deleted_reason": reason})
    return patient


# --------------------------------------------------------------------------- queries


def raise_query(db: Session, actor: Actor, patient_id: int, data: QueryIn) -> DataQuery:
    """A data manager (or the sponsor) asks the site about a value."""
    patient = get_patient(db, actor, patient_id)
    if not actor.raises_queries:
        raise AccessDeniedError("only data managers and the sponsor raise queries")
    check_query_target(db, patient, data.record_table, data.record_id)
    set_actor(db, actor.username)
    q = DataQuery(patient_id=patient.id, status="open", **data.model_dump())
    db.add(q)
    db.flush()
    return q


def check_query_target(db: Session, patient: Patient, table: str, record_id: int | None) -> None:
    """The record a query is about exists, is not deleted and is this patient's.

    Anything else is refused as a record that does not exist (NotFoundError, the same
    message), so a query cannot probe for another site's records.
    """
    if table == "patients":
        if record_id is not None and record_id != patient.id:
            raise NotFoundError("record not found", dataset=table)
        return
    if record_id is None:
        raise EditCheckError({"record_id": f"a query on {table} names the record (its id)"})
    model = next(k.model for k in KINDS.values() if k.model.__tablename__ == table)
    record = db.get(model, record_id) if 1 <= record_id <= ID_MAX else None
    if record is None or record.deleted or record.patient_id != patient.id:
        raise NotFoundError("record not found", dataset=table)


# Who moves a query where: the site (and the sponsor) answers an open or reopened
# query; the data manager (and the sponsor) closes an answered one and reopens a
# closed one. No other move exists: an answer is never replaced by a close, and a
# closed query is reopened before the site can answer again.
QUERY_TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"answered"}),
    "answered": frozenset({"closed"}),
    "closed": frozenset({"reopened"}),
    "reopened": frozenset({"answered"}),
}


def check_query_transition(q: DataQuery, requested: str) -> None:
    """ConflictError (409) naming the current and requested states for a move not allowed."""
    allowed = QUERY_TRANSITIONS.get(q.status, frozenset())
    if requested not in allowed:
        raise ConflictError(
            f"a query that is {q.status} cannot become {requested}",
            current=snapshot(q),
            dataset="data_queries",
            variable="status",
            expected=" or ".join(sorted(allowed)) or "no change",
            found=requested,
        )


def check_query_role(actor: Actor, requested: str) -> None:
    """Sites answer; data managers close and reopen (the sponsor may do both)."""
    if not (actor.writes_clinical or actor.raises_queries):
        raise AccessDeniedError("monitors read queries but do not change them")
    if requested == "answered" and not actor.writes_clinical:
        raise AccessDeniedError("sites and the sponsor answer queries")
    if requested in ("closed", "reopened") and not actor.raises_queries:
        raise AccessDeniedError("only data managers and the sponsor close or reopen queries")


def query_changes(q: DataQuery, data: QueryAnswerIn) -> dict[str, Any]:
    """The new values of a query move; answers and notes are added, never replaced.

    The site's answer and the data manager's notes are separate columns, and a
    second answer (after a reopen) or note is added below the earlier ones, so
    every answer given stays as it was written.
    """
    if data.status == "answered":
        if data.note:
            raise EditCheckError({"note": "notes are the data manager's; the site answers"})
        if not data.answer:
            raise EditCheckError({"answer": "an answer is needed"})
        return {"status": "answered", "answer": _added(q.answer, data.answer)}
    if data.answer:
        raise EditCheckError(
            {"answer": "the answer is the site's; a data manager writes a note instead"}
        )
    if data.status == "reopened" and not data.note:
        raise EditCheckError({"note": "a reopened query needs a note saying what is unclear"})
    values: dict[str, Any] = {"status": data.status}
    if data.note:
        values["dm_note"] = _added(q.dm_note, data.note)
    return values


def _added(earlier: str | None, text: str) -> str:
    return f"{earlier}\n\n{text}" if earlier else text


def update_query(
    db: Session,
    actor: Actor,
    patient_id: int,
    qid: int,
    version: int,
    data: QueryAnswerIn,
    reason: str | None = None,
) -> DataQuery:
    """The site answers; the data manager closes or reopens (QUERY_TRANSITIONS).

    The reason sent with the move is the trail's reason; without one, the move itself.
    """
    get_patient(db, actor, patient_id)
    q = db.get(DataQuery, qid) if 1 <= qid <= ID_MAX else None
    if q is None or q.patient_id != patient_id or q.deleted:
        raise NotFoundError("query not found", dataset="data_queries")
    check_query_role(actor, data.status)
    check_query_transition(q, data.status)
    values = query_changes(q, data)
    set_actor(db, actor.username, reason or f"query {data.status}")
    _save_changes(db, q, version, values)
    return q


def queries_of(db: Session, actor: Actor, patient_id: int) -> list[DataQuery]:
    get_patient(db, actor, patient_id)
    return live(db, DataQuery, patient_id)


# --------------------------------------------------------------------------- summaries


def current_phase(db: Session, patient: Patient) -> str:
    """The patient's phase today: a stop of Rd moves them to safety follow-up."""
    if patient.outcome == Outcome.TREATMENT.value and live(db, Discontinuation, patient.id):
        return protocol().safety_follow_up_phase.name
    return patient.phase or "Not eligible"


def schedule(
    db: Session,
    patient: Patient,
    today: dt.date,
    last_parent_enrollment: dt.date | None = None,
) -> FollowUpSchedule | None:
    """Follow-up visits with window status, from the rollover assessment (None if not followed).

    Judged as of :func:`schedule_as_of` (a loaded patient: the transfer's data cutoff).
    Every contact that assesses survival and SPM counts (:func:`contact_dates`), cycle
    visits included. No visit is owed whose window opens after the death or the
    withdrawal (:func:`withdrawal_date`), nor after the end of the program: 5 years
    after the parent trial's last enrollment; when the study has not set that date,
    the patient's own assessment date stands in for it.
    """
    if patient.outcome == Outcome.NOT_ELIGIBLE.value:
        return None
    as_of = schedule_as_of(db, patient, today).date
    if patient.assessment_date > as_of:
        return None
    # A death or withdrawal after the as-of date was not known then.
    died = _known_by(death_date(db, patient.id), as_of)
    withdrew = _known_by(withdrawal_date(db, patient), as_of)
    last_contact = min(d for d in (died, withdrew, as_of) if d is not None)
    contacts = [d for d in contact_dates(db, patient.id) if _in_follow_up(patient, d, last_contact)]
    try:
        return visit_schedule(
            protocol(),
            usubjid=patient.usubjid,
            follow_up_start=patient.assessment_date,
            last_parent_enrollment=last_parent_enrollment or patient.assessment_date,
            visit_dates=contacts,
            as_of=as_of,
            lenalidomide_start=patient.lenalidomide_start_date,
            death_date=died,
            withdrawal_date=withdrew,
        )
    except ProtocolError:
        return None


def _known_by(day: dt.date | None, as_of: dt.date) -> dt.date | None:
    return day if day is not None and day <= as_of else None


def _in_follow_up(patient: Patient, day: dt.date, last_contact: dt.date) -> bool:
    """A contact counts after the rollover assessment (before it, it is the parent trial's)
    and up to the death, withdrawal or as-of date, whichever comes first."""
    return patient.assessment_date < day <= last_contact


def schedule_end(db: Session, patient: Patient, sched: FollowUpSchedule) -> tuple[dt.date, str]:
    """Where the schedule ends, and why: the death, the withdrawal or the end of the program."""
    ends = [(sched.follow_up_end, "end of the program")]
    died = _known_by(death_date(db, patient.id), sched.as_of)
    if died is not None:
        ends.append((died, "death"))
    withdrew = _known_by(withdrawal_date(db, patient), sched.as_of)
    if withdrew is not None:
        ends.append((withdrew, "withdrawal"))
    return min(ends)


def contact_label(sched: FollowUpSchedule | None, patient: Patient, day: dt.date) -> str:
    """What a contact on ``day`` counts for in the schedule, in words for the page."""
    if day <= patient.assessment_date:
        return "before the rollover: the parent trial"
    if sched is None:
        return "not followed"
    for v in sched.visits:
        if v.visit_date == day:
            return f"visit {v.number}: {v.status.value.replace('_', ' ')}"
    for v in sched.visits:
        if v.window_start <= day <= v.window_end:
            return f"also in visit {v.number}'s window"
    return "between visit windows"


def dashboard(
    db: Session, actor: Actor, today: dt.date, last_parent_enrollment: dt.date | None = None
) -> dict[str, Any]:
    """Enrollment by site and phase, overdue visits, open serious AEs, exposure (user's scope)."""
    patients = [p for p in list_patients(db, actor) if not p.deleted]
    sites = {s.id: s for s in db.scalars(select(Site))}
    by_site: dict[str, dict[str, int]] = {}
    overdue: list[dict[str, Any]] = []
    for p in patients:
        code = sites[p.site_id].code
        row = by_site.setdefault(code, {"treatment": 0, "safety_follow_up": 0, "not_eligible": 0})
        row[p.outcome] += 1
        sched = schedule(db, p, today, last_parent_enrollment)
        if sched is not None:
            missed = [v for v in sched.visits if v.status is VisitStatus.MISSED]
            if missed:
                overdue.append(
                    {
                        "patient_id": p.id,
                        "usubjid": p.usubjid,
                        "site": code,
                        "missed": len(missed),
                        "last_target": missed[-1].target.isoformat(),
                        # A loaded patient's schedule is judged as of the transfer's cutoff.
                        "as_of": sched.as_of.isoformat(),
                    }
                )
    ids = [p.id for p in patients]
    serious = (
        list(
            db.scalars(
                select(AdverseEvent)
                .where(
                    AdverseEvent.patient_id.in_(ids),
                    AdverseEvent.deleted.is_(False),
                    AdverseEvent.serious.is_(True),
                    AdverseEvent.end_date.is_(None),
                )
                .order_by(AdverseEvent.start_date)
            )
        )
        if ids
        else []
    )
    by_id = {p.id: p for p in patients}
    exposure_rows = (
        db.execute(
            select(
                DosingRecord.patient_id,
                func.count(DosingRecord.id),
                func.sum(DosingRecord.dose),
            )
            .where(DosingRecord.patient_id.in_(ids), DosingRecord.deleted.is_(False))
            .group_by(DosingRecord.patient_id)
        ).all()
        if ids
        else []
    )
    cycles = sum(int(r[1]) for r in exposure_rows)
    return {
        "as_of": today.isoformat(),
        "patients": len(patients),
        "enrollment_by_site": by_site,
        "overdue_visits": overdue,
        "open_serious_aes": [
            {**snapshot(a), "usubjid": by_id[a.patient_id].usubjid} for a in serious
        ],
        "exposure": {
            "patients_dosed": len(exposure_rows),
            "cycles": cycles,
            "mean_dose_mg": round(sum(float(r[2]) for r in exposure_rows) / cycles, 2)
            if cycles
            else None,
        },
    }


def patient_view(db: Session, patient: Patient, today: dt.date) -> dict[str, Any]:
    """A patient with derived fields and every record, for the timeline and the API."""
    out = snapshot(patient)
    out["decision_reasons"] = json.loads(patient.decision_reasons)
    out["dose_reasons"] = json.loads(patient.dose_reasons)
    out["current_phase"] = current_phase(db, patient)
    out["transferred"] = transferred_summary(db, patient.id)
    site = db.get(Site, patient.site_id)
    out["site_code"] = site.code if site else None
    return out


def transferred_summary(db: Session, patient_id: int) -> list[dict[str, Any]]:
    """The patient's records from data transfers: how many per dataset, and from which."""
    stmt = (
        select(TransferredRecord.domain, TransferredRecord.transfer, func.count())
        .where(TransferredRecord.patient_id == patient_id, TransferredRecord.deleted.is_(False))
        .group_by(TransferredRecord.domain, TransferredRecord.transfer)
        .order_by(TransferredRecord.domain)
    )
    return [{"domain": d, "transfer": t, "records": int(n)} for d, t, n in db.execute(stmt)]


def _text(row: dict[str, Any], name: str) -> str:
    value = row.get(name)
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _describe_ex(row: dict[str, Any]) -> str:
    """A dose as received: visit, treatment, dose, frequency and any adjustment."""
    text = f"{(_text(row, 'VISIT') or 'dose').capitalize()}: {_text(row, 'EXTRT').lower()} "
    text += f"{_text(row, 'EXDOSE')} {_text(row, 'EXDOSU')} {_text(row, 'EXDOSFRQ')}".rstrip()
    if row.get("EXADJ"):
        text += f", adjusted for {_text(row, 'EXADJ').lower()}"
    return text


def _describe_ae(row: dict[str, Any]) -> str:
    """An AE as received, in the words of the form's AE line."""
    term = _text(row, "AEDECOD") or _text(row, "AELLT")
    text = f"AE {_text(row, 'AETERM')} ({term}) grade {_text(row, 'AETOXGR') or '?'}"
    if row.get("AESER") == "Y":
        text += " serious"
    if row.get("AECAT"):
        text += f" ({_text(row, 'AECAT').lower()})"
    return text


def _describe_sv(row: dict[str, Any]) -> str:
    epoch = _text(row, "EPOCH").lower()
    return f"Visit {_text(row, 'VISIT').lower()}" + (f" ({epoch})" if epoch else "")


def _describe_rs(row: dict[str, Any]) -> str:
    return f"{_text(row, 'RSTEST') or _text(row, 'RSTESTCD')}: {_text(row, 'RSSTRESC')}"


def _describe_ds(row: dict[str, Any]) -> str:
    text = (_text(row, "DSDECOD") or _text(row, "DSTERM")).capitalize()
    scat = _text(row, "DSSCAT").lower()
    return text + (f" ({scat})" if scat else "")


@dataclass(frozen=True)
class TransferredDomain:
    """Where a transferred domain shows on the patient page: its section, date and text."""

    section: str
    date_variable: str
    end_variable: str | None
    describe: Callable[[dict[str, Any]], str]


# Each transferred dataset beside the form records of the same meaning; RS and DS
# have no form, so they have sections of their own.
TRANSFERRED_DOMAINS: dict[str, TransferredDomain] = {
    "EX": TransferredDomain("dosing", "EXSTDTC", "EXENDTC", _describe_ex),
    "AE": TransferredDomain("ae", "AESTDTC", "AEENDTC", _describe_ae),
    "SV": TransferredDomain("visits", "SVSTDTC", None, _describe_sv),
    "RS": TransferredDomain("responses", "RSDTC", None, _describe_rs),
    "DS": TransferredDomain("disposition", "DSSTDTC", None, _describe_ds),
}
TRANSFERRED_SECTIONS = {"responses": "Responses", "disposition": "Disposition"}


def transferred_entries(db: Session, patient_id: int) -> list[dict[str, Any]]:
    """The patient's transferred doses, AEs, visits, responses, disposition and death.

    One entry per row (deleted rows included, marked), with its section, date and a
    line of text, in date order. A row without a complete date is listed without one
    and left off the timeline. The death is DM.DTHDTC, in the Death section.
    """
    stmt = (
        select(TransferredRecord)
        .where(
            TransferredRecord.patient_id == patient_id,
            TransferredRecord.domain.in_([*TRANSFERRED_DOMAINS, "DM"]),
        )
        .order_by(TransferredRecord.id)
    )
    entries = []
    for r in db.scalars(stmt):
        row = json.loads(r.row)
        base = {
            "id": r.id,
            "version": r.version,
            "domain": r.domain,
            "transfer": r.transfer,
            "deleted": r.deleted,
            "deleted_reason": r.deleted_reason,
            "updated_by": r.updated_by,
        }
        if r.domain == "DM":
            died = _complete_date(row.get("DTHDTC"))
            if died is not None:
                entries.append(
                    {
                        **base,
                        "section": "death",
                        "date": died,
                        "end": None,
                        "text": "Death (DM.DTHDTC)",
                    }
                )
            continue
        spec = TRANSFERRED_DOMAINS[r.domain]
        end = _complete_date(row.get(spec.end_variable)) if spec.end_variable else None
        entries.append(
            {
                **base,
                "section": spec.section,
                "date": _complete_date(row.get(spec.date_variable)),
                "end": end,
                "text": spec.describe(row),
            }
        )
    entries.sort(key=lambda e: (e["date"] is None, e["date"] or dt.date.min, e["id"]))
    return entries


def _transferred_events(db: Session, patient_id: int) -> list[dict[str, Any]]:
    """The transferred entries that have a date, for the timeline, marked as transferred."""
    return [
        {
            "date": e["date"],
            "kind": "transferred",
            "id": e["id"],
            "text": f"{e['text']} (transferred)",
            "deleted": e["deleted"],
            "transferred": True,
            "domain": e["domain"],
        }
        for e in transferred_entries(db, patient_id)
        if e["date"] is not None
    ]


def timeline(db: Session, patient: Patient) -> list[dict[str, Any]]:
    """Every dated event of a patient in date order (deleted records included, marked)."""
    events: list[dict[str, Any]] = [
        {
            "date": patient.lenalidomide_start_date,
            "kind": "parent",
            "id": None,
            "text": f"Lenalidomide started in {protocol().study.parent_study}",
            "deleted": False,
            "transferred": False,
        },
        {
            "date": patient.assessment_date,
            "kind": "rollover",
            "id": patient.id,
            "text": f"Rollover assessment: {patient.phase or 'not eligible'}",
            "deleted": False,
            "transferred": False,
        },
    ]
    for name, spec in KINDS.items():
        stmt = select(spec.model).where(spec.model.patient_id == patient.id)
        for r in db.scalars(stmt):
            events.append(
                {
                    "date": record_date(r),
                    "kind": name,
                    "id": r.id,
                    "text": describe(name, r),
                    "deleted": r.deleted,
                    "transferred": False,
                }
            )
    events += _transferred_events(db, patient.id)
    events.sort(key=lambda e: (e["date"], e["kind"]))
    return events


def record_date(r: Any) -> dt.date:
    """The date of a form record: its start, visit, death or discontinuation date."""
    for f in ("start_date", "visit_date", "death_date", "discontinuation_date"):
        if hasattr(r, f):
            d: dt.date = getattr(r, f)
            return d
    raise AssertionError(type(r))


def describe(kind_name: str, r: Any) -> str:
    """One line of text for a record."""
    if kind_name == "dosing":
        how = "daily" if r.frequency == "daily" else "every other day"
        extra = " interrupted" if r.interrupted else ""
        extra += " reduced" if r.reduced else ""
        return f"Cycle {r.cycle}: lenalidomide {r.dose:g} mg {how}{extra}"
    if kind_name == "ae":
        ser = " serious" if r.serious else ""
        spm = " SPM" if r.spm else ""
        return f"AE {r.reported_term} ({r.ctcae_term}) grade {r.grade}{ser}{spm}"
    if kind_name == "visits":
        return f"Follow-up visit ({'alive' if r.alive else 'not alive'})"
    if kind_name == "death":
        return f"Death: {r.cause}"
    return f"Discontinued Rd: {r.reason.replace('_', ' ')}"

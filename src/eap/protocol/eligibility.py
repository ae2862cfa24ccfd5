"""Rollover from the parent trial into the program's phases, always with reasons.

Decision order (publication, Methods: Patient eligibility; Study design and treatment):

1. **Not eligible** if any exclusion holds: no signed EAP consent, serious
   hypersensitivity to lenalidomide or to dexamethasone, or lenalidomide
   discontinued because of toxicity. Every exclusion that holds is reported.
2. **Safety Follow-Up Phase** if the patient discontinued Rd or progressed in the
   parent trial.
3. **Treatment Phase** if the patient is still on Rd, progression-free, and has
   had >= 1 year of Rd counted from the lenalidomide start date (the assessment
   date is on or after the first anniversary of the start date).
4. Otherwise **not eligible yet**: on Rd and progression-free but short of one
   year; the reason gives the date from which the patient qualifies.

Contradictory facts (a progression date without progression, a discontinuation
reason of progression without progression, dates out of order, ...) raise
:class:`eap.errors.ProtocolError`; eap does not guess.

A patient who stops Rd in the Treatment Phase moves to the Safety Follow-Up
Phase (:func:`stop_treatment`) and stays in the treatment cohort for analysis.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from eap.errors import ProtocolError
from eap.protocol._parse import add_years, check_record_fields, parse_date, record_usubjid
from eap.protocol.model import Protocol


class Outcome(StrEnum):
    TREATMENT = "treatment"
    SAFETY_FOLLOW_UP = "safety_follow_up"
    NOT_ELIGIBLE = "not_eligible"


class DiscontinuationReason(StrEnum):
    TOXICITY = "toxicity"
    PROGRESSION = "progression"
    PATIENT_WITHDRAWAL = "patient_withdrawal"
    PHYSICIAN_DECISION = "physician_decision"
    LOST_TO_FOLLOW_UP = "lost_to_follow_up"
    OTHER = "other"


REASON_VALUES = ", ".join(r.value for r in DiscontinuationReason)

# Field names of a patient record in an eligibility file (docs/protocol.md).
FIELDS_REQUIRED = (
    "USUBJID",
    "assessment_date",
    "consent_signed",
    "lenalidomide_start_date",
    "progressed",
    "discontinued",
    "hypersensitivity_lenalidomide",
    "hypersensitivity_dexamethasone",
)
FIELDS_OPTIONAL = ("progression_date", "discontinuation_date", "discontinuation_reason")


@dataclass(frozen=True)
class RolloverFacts:
    """A patient's parent-trial facts at the rollover assessment."""

    usubjid: str
    assessment_date: dt.date
    consent_signed: bool
    lenalidomide_start_date: dt.date
    progressed: bool
    discontinued: bool
    hypersensitivity_lenalidomide: bool
    hypersensitivity_dexamethasone: bool
    progression_date: dt.date | None = None
    discontinuation_date: dt.date | None = None
    discontinuation_reason: DiscontinuationReason | None = None

    def __post_init__(self) -> None:
        check_consistent(self)


def _contradiction(
    facts: RolloverFacts, field: str, problem: str, expected: str, found: object
) -> ProtocolError:
    return ProtocolError(
        f"contradictory facts for {facts.usubjid}: {problem}",
        variable=field,
        expected=expected,
        found=repr(found) if not isinstance(found, str) else found,
    )


def check_consistent(facts: RolloverFacts) -> None:
    """Raise ProtocolError if the facts contradict each other."""
    f = facts
    if f.lenalidomide_start_date > f.assessment_date:
        raise _contradiction(
            f,
            "lenalidomide_start_date",
            "lenalidomide started after the assessment",
            f"on or before assessment_date {f.assessment_date}",
            str(f.lenalidomide_start_date),
        )
    if not f.progressed and f.progression_date is not None:
        raise _contradiction(
            f,
            "progression_date",
            "a progression date but progressed is false",
            "no progression_date when progressed is false",
            str(f.progression_date),
        )
    if not f.discontinued and (f.discontinuation_date is not None or f.discontinuation_reason):
        field = "discontinuation_date" if f.discontinuation_date else "discontinuation_reason"
        raise _contradiction(
            f,
            field,
            "discontinuation details but discontinued is false",
            f"no {field} when discontinued is false",
            str(getattr(f, field)),
        )
    if f.discontinued and f.discontinuation_reason is None:
        raise _contradiction(
            f,
            "discontinuation_reason",
            "discontinued without a reason (toxicity excludes, others do not)",
            f"one of {REASON_VALUES}",
            "none",
        )
    if f.discontinuation_reason is DiscontinuationReason.PROGRESSION and not f.progressed:
        raise _contradiction(
            f,
            "progressed",
            "discontinued for progression but progressed is false",
            "progressed true when discontinuation_reason is progression",
            "false",
        )
    for field in ("progression_date", "discontinuation_date"):
        value: dt.date | None = getattr(f, field)
        if value is None:
            continue
        if not f.lenalidomide_start_date <= value <= f.assessment_date:
            raise _contradiction(
                f,
                field,
                "date outside the time on study",
                f"from lenalidomide_start_date {f.lenalidomide_start_date} "
                f"to assessment_date {f.assessment_date}",
                str(value),
            )


@dataclass(frozen=True)
class RolloverDecision:
    """Where a patient goes, and every reason why."""

    usubjid: str
    outcome: Outcome
    phase: str | None
    reasons: tuple[str, ...]
    assessment_date: dt.date
    eligible_from: dt.date
    """First anniversary of the lenalidomide start: the earliest Treatment Phase date."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "USUBJID": self.usubjid,
            "outcome": self.outcome.value,
            "phase": self.phase,
            "reasons": list(self.reasons),
            "assessment_date": self.assessment_date.isoformat(),
            "treatment_eligible_from": self.eligible_from.isoformat(),
        }


def treatment_eligible_from(protocol: Protocol, lenalidomide_start: dt.date) -> dt.date:
    """First day of Treatment Phase eligibility: the anniversary of the Rd start, in
    calendar years (366 days across 29 February).

    >>> from eap.protocol import load_protocol
    >>> treatment_eligible_from(load_protocol(), dt.date(2011, 11, 28))
    datetime.date(2012, 11, 28)
    """
    return add_years(lenalidomide_start, protocol.eligibility.treatment_min_years_on_rd)


def decide_rollover(protocol: Protocol, facts: RolloverFacts) -> RolloverDecision:
    """Decide Treatment Phase, Safety Follow-Up Phase or not eligible, with reasons."""
    excl = protocol.eligibility.exclusions
    years = protocol.eligibility.treatment_min_years_on_rd
    eligible_from = treatment_eligible_from(protocol, facts.lenalidomide_start_date)

    def decision(outcome: Outcome, reasons: list[str]) -> RolloverDecision:
        phase = {
            Outcome.TREATMENT: protocol.treatment_phase.name,
            Outcome.SAFETY_FOLLOW_UP: protocol.safety_follow_up_phase.name,
            Outcome.NOT_ELIGIBLE: None,
        }[outcome]
        return RolloverDecision(
            facts.usubjid, outcome, phase, tuple(reasons), facts.assessment_date, eligible_from
        )

    excluded: list[str] = []
    if not facts.consent_signed:
        excluded.append(f"excluded: {excl['no_consent']}")
    if facts.hypersensitivity_lenalidomide:
        excluded.append(f"excluded: {excl['hypersensitivity_lenalidomide']}")
    if facts.hypersensitivity_dexamethasone:
        excluded.append(f"excluded: {excl['hypersensitivity_dexamethasone']}")
    if facts.discontinuation_reason is DiscontinuationReason.TOXICITY:
        excluded.append(f"excluded: {excl['discontinued_for_toxicity']}")
    if excluded:
        return decision(Outcome.NOT_ELIGIBLE, excluded)

    parent = protocol.study.parent_study
    if facts.discontinued or facts.progressed:
        reasons: list[str] = []
        if facts.discontinued:
            assert facts.discontinuation_reason is not None  # checked in check_consistent
            when = f" on {facts.discontinuation_date}" if facts.discontinuation_date else ""
            reasons.append(
                f"discontinued Rd in {parent}{when} "
                f"(reason: {facts.discontinuation_reason.value.replace('_', ' ')})"
            )
        if facts.progressed:
            when = f" on {facts.progression_date}" if facts.progression_date else ""
            reasons.append(f"progressed in {parent}{when}")
        return decision(Outcome.SAFETY_FOLLOW_UP, reasons)

    days_on_rd = (facts.assessment_date - facts.lenalidomide_start_date).days
    if facts.assessment_date >= eligible_from:
        return decision(
            Outcome.TREATMENT,
            [
                f"{days_on_rd} days of Rd since lenalidomide start "
                f"{facts.lenalidomide_start_date} (>= {years} year, reached {eligible_from})",
                "progression-free and still on Rd",
            ],
        )
    return decision(
        Outcome.NOT_ELIGIBLE,
        [
            f"not yet eligible: {days_on_rd} days of Rd since lenalidomide start "
            f"{facts.lenalidomide_start_date}, fewer than {years} year; "
            f"eligible for the {protocol.treatment_phase.name} from {eligible_from}"
        ],
    )


@dataclass(frozen=True)
class PhaseChange:
    """A move between phases; the analysis cohort stays the phase first entered."""

    usubjid: str
    from_phase: Outcome
    to_phase: Outcome
    date: dt.date
    cohort: Outcome
    reasons: tuple[str, ...]


def stop_treatment(
    protocol: Protocol,
    decision: RolloverDecision,
    stop_date: dt.date,
    reason: DiscontinuationReason | str,
) -> PhaseChange:
    """A Treatment Phase patient who stops Rd moves to the Safety Follow-Up Phase."""
    if decision.outcome is not Outcome.TREATMENT:
        raise ProtocolError(
            f"{decision.usubjid} is not in the {protocol.treatment_phase.name}; "
            "only a Treatment Phase patient can stop Rd there",
            variable="outcome",
            expected=Outcome.TREATMENT.value,
            found=decision.outcome.value,
        )
    if stop_date < decision.assessment_date:
        raise ProtocolError(
            f"{decision.usubjid} stops Rd before entering the {protocol.treatment_phase.name}",
            variable="stop_date",
            expected=f"on or after {decision.assessment_date}",
            found=str(stop_date),
        )
    why = reason if isinstance(reason, DiscontinuationReason) else _reason(reason)
    return PhaseChange(
        usubjid=decision.usubjid,
        from_phase=Outcome.TREATMENT,
        to_phase=Outcome.SAFETY_FOLLOW_UP,
        date=stop_date,
        cohort=Outcome.TREATMENT,
        reasons=(
            f"stopped Rd on {stop_date} (reason: {why.value.replace('_', ' ')})",
            f"moves to the {protocol.safety_follow_up_phase.name}; "
            "stays in the treatment cohort for analysis",
        ),
    )


# --------------------------------------------------------------------------- input file


def _reason(
    value: object, *, file: str | None = None, rows: Sequence[int] | None = None
) -> DiscontinuationReason:
    try:
        return DiscontinuationReason(str(value).strip().lower())
    except ValueError:
        raise ProtocolError(
            "unknown discontinuation reason",
            file=file,
            variable="discontinuation_reason",
            rows=rows,
            expected=f"one of {REASON_VALUES}",
            found=repr(value),
        ) from None


def facts_from_mapping(
    record: Mapping[str, Any], *, file: str | None = None, row: int | None = None
) -> RolloverFacts:
    """Build RolloverFacts from one JSON record; errors name the file, field and row."""
    rows = [row] if row is not None else None
    check_record_fields(record, FIELDS_REQUIRED, FIELDS_OPTIONAL, file=file, rows=rows)

    def flag(key: str) -> bool:
        value = record[key]
        if not isinstance(value, bool):
            raise ProtocolError(
                "not a boolean",
                file=file,
                variable=key,
                rows=rows,
                expected="true or false",
                found=repr(value),
            )
        return value

    def day(key: str) -> dt.date | None:
        value = record.get(key)
        return None if value is None else parse_date(value, key, file=file, rows=rows)

    usubjid = record_usubjid(record, file=file, rows=rows)
    reason_raw = record.get("discontinuation_reason")
    assessment = day("assessment_date")
    start = day("lenalidomide_start_date")
    assert assessment is not None and start is not None  # required above
    try:
        return RolloverFacts(
            usubjid=usubjid,
            assessment_date=assessment,
            consent_signed=flag("consent_signed"),
            lenalidomide_start_date=start,
            progressed=flag("progressed"),
            discontinued=flag("discontinued"),
            hypersensitivity_lenalidomide=flag("hypersensitivity_lenalidomide"),
            hypersensitivity_dexamethasone=flag("hypersensitivity_dexamethasone"),
            progression_date=day("progression_date"),
            discontinuation_date=day("discontinuation_date"),
            discontinuation_reason=None
            if reason_raw is None
            else _reason(reason_raw, file=file, rows=rows),
        )
    except ProtocolError as exc:
        if exc.file is None and file is not None:
            raise ProtocolError(
                exc.problem,
                file=file,
                variable=exc.variable,
                rows=rows,
                expected=exc.expected,
                found=exc.found,
            ) from None
        raise


def read_json(path: str | Path) -> Any:
    """Parse a JSON file; a missing or malformed file is a ProtocolError naming it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProtocolError("file not found", file=str(path)) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"not readable JSON ({exc})", file=str(path)) from None


def read_rollover_file(path: str | Path) -> list[RolloverFacts]:
    """Read an eligibility file: ``{"patients": [record, ...]}`` (docs/protocol.md)."""
    data = read_json(path)
    file = str(path)
    if not isinstance(data, dict) or not isinstance(data.get("patients"), list):
        raise ProtocolError(
            "no patient list",
            file=file,
            variable="patients",
            expected='an object {"patients": [...]}',
            found=type(data).__name__,
        )
    records = data["patients"]
    facts = [facts_from_mapping(rec, file=file, row=i) for i, rec in enumerate(records, start=1)]
    seen: set[str] = set()
    for i, f in enumerate(facts, start=1):
        if f.usubjid in seen:
            raise ProtocolError(
                "duplicate subject",
                file=file,
                variable="USUBJID",
                rows=[i],
                expected="each USUBJID once",
                found=f.usubjid,
            )
        seen.add(f.usubjid)
    return facts

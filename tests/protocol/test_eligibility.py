"""Rollover decisions: every path, contradictions, the phase transition, the input file."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eap.errors import ProtocolError
from eap.protocol import (
    DiscontinuationReason,
    Outcome,
    Protocol,
    RolloverFacts,
    decide_rollover,
    load_protocol,
    read_rollover_file,
    stop_treatment,
)

D = dt.date


def facts(**changes: Any) -> RolloverFacts:
    """A patient on Rd since 2011-06-01, progression-free, assessed 2012-10-15."""
    base: dict[str, Any] = {
        "usubjid": "P1",
        "assessment_date": D(2012, 10, 15),
        "consent_signed": True,
        "lenalidomide_start_date": D(2011, 6, 1),
        "progressed": False,
        "discontinued": False,
        "hypersensitivity_lenalidomide": False,
        "hypersensitivity_dexamethasone": False,
    }
    base.update(changes)
    return RolloverFacts(**base)


def test_treatment_phase_after_one_year_progression_free(protocol: Protocol) -> None:
    d = decide_rollover(protocol, facts())
    assert d.outcome is Outcome.TREATMENT
    assert d.phase == "Treatment Phase"
    # 2011-06-01 to 2012-10-15: 214 days to 2012-01-01, + 288 = 502 days
    assert "502 days of Rd" in d.reasons[0]
    assert "progression-free" in d.reasons[1]


def test_one_year_boundary(protocol: Protocol) -> None:
    # First anniversary of 2011-06-01 is 2012-06-01: on that day >= 1 year holds.
    on_day = decide_rollover(protocol, facts(assessment_date=D(2012, 6, 1)))
    assert on_day.outcome is Outcome.TREATMENT
    day_before = decide_rollover(protocol, facts(assessment_date=D(2012, 5, 31)))
    assert day_before.outcome is Outcome.NOT_ELIGIBLE
    assert "not yet eligible" in day_before.reasons[0]
    assert "from 2012-06-01" in day_before.reasons[0]
    assert day_before.eligible_from == D(2012, 6, 1)


def test_leap_day_start_reaches_one_year_on_28_february(protocol: Protocol) -> None:
    d = decide_rollover(
        protocol,
        facts(lenalidomide_start_date=D(2012, 2, 29), assessment_date=D(2013, 2, 28)),
    )
    assert d.outcome is Outcome.TREATMENT


def test_safety_follow_up_when_discontinued(protocol: Protocol) -> None:
    d = decide_rollover(
        protocol,
        facts(
            discontinued=True,
            discontinuation_date=D(2012, 1, 16),
            discontinuation_reason=DiscontinuationReason.PATIENT_WITHDRAWAL,
        ),
    )
    assert d.outcome is Outcome.SAFETY_FOLLOW_UP
    assert d.phase == "Safety Follow-Up Phase"
    assert d.reasons == ("discontinued Rd in MM-021 on 2012-01-16 (reason: patient withdrawal)",)


def test_safety_follow_up_when_progressed(protocol: Protocol) -> None:
    d = decide_rollover(protocol, facts(progressed=True, progression_date=D(2012, 9, 3)))
    assert d.outcome is Outcome.SAFETY_FOLLOW_UP
    assert d.reasons == ("progressed in MM-021 on 2012-09-03",)


def test_safety_follow_up_even_before_one_year(protocol: Protocol) -> None:
    d = decide_rollover(
        protocol,
        facts(
            lenalidomide_start_date=D(2012, 3, 1),
            progressed=True,
            discontinued=True,
            discontinuation_reason=DiscontinuationReason.PROGRESSION,
        ),
    )
    assert d.outcome is Outcome.SAFETY_FOLLOW_UP
    assert len(d.reasons) == 2


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"consent_signed": False}, "no signed EAP informed consent"),
        ({"hypersensitivity_lenalidomide": True}, "hypersensitivity to lenalidomide"),
        ({"hypersensitivity_dexamethasone": True}, "hypersensitivity to dexamethasone"),
        (
            {"discontinued": True, "discontinuation_reason": DiscontinuationReason.TOXICITY},
            "discontinued lenalidomide because of toxicity",
        ),
    ],
)
def test_each_exclusion(protocol: Protocol, change: dict[str, Any], reason: str) -> None:
    d = decide_rollover(protocol, facts(**change))
    assert d.outcome is Outcome.NOT_ELIGIBLE
    assert d.phase is None
    assert len(d.reasons) == 1
    assert reason in d.reasons[0]
    assert d.reasons[0].startswith("excluded:")


def test_every_exclusion_is_reported(protocol: Protocol) -> None:
    d = decide_rollover(
        protocol,
        facts(
            consent_signed=False,
            hypersensitivity_lenalidomide=True,
            hypersensitivity_dexamethasone=True,
            progressed=True,
        ),
    )
    assert d.outcome is Outcome.NOT_ELIGIBLE
    assert len(d.reasons) == 3


def test_exclusion_outranks_safety_follow_up(protocol: Protocol) -> None:
    # Discontinued for toxicity: excluded even though discontinued patients go to SFU.
    d = decide_rollover(
        protocol, facts(discontinued=True, discontinuation_reason=DiscontinuationReason.TOXICITY)
    )
    assert d.outcome is Outcome.NOT_ELIGIBLE


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"progression_date": D(2012, 5, 1)}, "progression_date"),
        ({"discontinuation_date": D(2012, 5, 1)}, "discontinuation_date"),
        ({"discontinuation_reason": DiscontinuationReason.OTHER}, "discontinuation_reason"),
        ({"discontinued": True}, "discontinuation_reason"),
        (
            {"discontinued": True, "discontinuation_reason": DiscontinuationReason.PROGRESSION},
            "progressed",
        ),
        ({"lenalidomide_start_date": D(2012, 11, 1)}, "lenalidomide_start_date"),
        ({"progressed": True, "progression_date": D(2011, 5, 1)}, "progression_date"),
        ({"progressed": True, "progression_date": D(2012, 12, 1)}, "progression_date"),
    ],
)
def test_contradictions_are_errors(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ProtocolError) as info:
        facts(**change)
    message = str(info.value)
    assert message.startswith(f"{field}:")
    assert "contradictory facts for P1" in message
    assert "expected" in message


def test_stop_treatment_moves_to_safety_follow_up(protocol: Protocol) -> None:
    d = decide_rollover(protocol, facts())
    change = stop_treatment(protocol, d, D(2013, 8, 2), "progression")
    assert change.from_phase is Outcome.TREATMENT
    assert change.to_phase is Outcome.SAFETY_FOLLOW_UP
    assert change.cohort is Outcome.TREATMENT  # stays in the treatment cohort for analysis
    assert change.date == D(2013, 8, 2)
    assert "reason: progression" in change.reasons[0]
    assert "Safety Follow-Up Phase" in change.reasons[1]


def test_stop_treatment_errors(protocol: Protocol) -> None:
    sfu = decide_rollover(protocol, facts(progressed=True))
    with pytest.raises(
        ProtocolError, match=r"outcome: .*expected treatment, found safety_follow_up"
    ):
        stop_treatment(protocol, sfu, D(2013, 8, 2), "progression")
    d = decide_rollover(protocol, facts())
    with pytest.raises(ProtocolError, match=r"stop_date: .*on or after 2012-10-15"):
        stop_treatment(protocol, d, D(2012, 10, 1), "progression")
    with pytest.raises(ProtocolError, match=r"discontinuation_reason: .*toxicity, progression"):
        stop_treatment(protocol, d, D(2013, 8, 2), "bored")


def test_example_file_covers_every_path(protocol: Protocol, data_dir: Path) -> None:
    decisions = {
        f.usubjid: decide_rollover(protocol, f)
        for f in read_rollover_file(data_dir / "eligibility.json")
    }
    outcomes = {k: d.outcome for k, d in decisions.items()}
    assert outcomes == {
        "MM024-001": Outcome.TREATMENT,
        "MM024-002": Outcome.SAFETY_FOLLOW_UP,
        "MM024-003": Outcome.SAFETY_FOLLOW_UP,
        "MM024-004": Outcome.NOT_ELIGIBLE,
        "MM024-005": Outcome.NOT_ELIGIBLE,
        "MM024-006": Outcome.NOT_ELIGIBLE,
        "MM024-007": Outcome.NOT_ELIGIBLE,
    }
    assert all(d.reasons for d in decisions.values())


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "patients.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _record(**changes: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "USUBJID": "P1",
        "assessment_date": "2012-10-15",
        "consent_signed": True,
        "lenalidomide_start_date": "2011-06-01",
        "progressed": False,
        "discontinued": False,
        "hypersensitivity_lenalidomide": False,
        "hypersensitivity_dexamethasone": False,
    }
    rec.update(changes)
    return rec


@pytest.mark.parametrize(
    ("record", "fragment"),
    [
        (
            _record(assessment_date="2012-02-30"),
            "assessment_date (row 2): not a valid calendar date",
        ),
        (_record(assessment_date="15/10/2012"), "expected an ISO 8601 date YYYY-MM-DD"),
        (
            _record(consent_signed="yes"),
            "consent_signed (row 2): not a boolean; expected true or false",
        ),
        (_record(consented=True), "consented (row 2): unknown field; expected one of USUBJID"),
        ({k: v for k, v in _record().items() if k != "progressed"}, "progressed (row 2): missing"),
        (
            _record(discontinued=True, discontinuation_reason="bored"),
            "expected one of toxicity, progression, patient_withdrawal",
        ),
        (
            _record(progression_date="2012-05-01"),
            "progression_date (row 2): contradictory facts for P1",
        ),
        (_record(USUBJID="MM024-001"), "USUBJID (row 2): duplicate subject"),
    ],
)
def test_file_errors_name_file_field_and_row(
    tmp_path: Path, record: dict[str, Any], fragment: str
) -> None:
    path = _write(tmp_path, {"patients": [_record(USUBJID="MM024-001"), record]})
    with pytest.raises(ProtocolError) as info:
        read_rollover_file(path)
    assert str(info.value).startswith(str(path))
    assert fragment in str(info.value)


def test_file_shape_errors(tmp_path: Path) -> None:
    with pytest.raises(ProtocolError, match=r"patients: no patient list"):
        read_rollover_file(_write(tmp_path, [_record()]))
    with pytest.raises(ProtocolError, match="file not found"):
        read_rollover_file(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(ProtocolError, match="not readable JSON"):
        read_rollover_file(bad)


def test_decision_as_dict(protocol: Protocol) -> None:
    d = decide_rollover(protocol, facts()).as_dict()
    assert d["outcome"] == "treatment"
    assert d["treatment_eligible_from"] == "2012-06-01"
    assert dataclasses.is_dataclass(facts())


PROTOCOL = load_protocol()
maybe_date = st.none() | st.dates(min_value=D(2010, 6, 1), max_value=D(2013, 6, 1))


@settings(max_examples=200, deadline=None)
@given(
    consent=st.booleans(),
    hyper_len=st.booleans(),
    hyper_dex=st.booleans(),
    progressed=st.booleans(),
    discontinued=st.booleans(),
    reason=st.none() | st.sampled_from(list(DiscontinuationReason)),
    start=st.dates(min_value=D(2010, 6, 1), max_value=D(2012, 10, 1)),
    days_to_assessment=st.integers(min_value=0, max_value=900),
    progression_date=maybe_date,
    discontinuation_date=maybe_date,
)
def test_every_consistent_record_gets_one_reasoned_decision(
    consent: bool,
    hyper_len: bool,
    hyper_dex: bool,
    progressed: bool,
    discontinued: bool,
    reason: DiscontinuationReason | None,
    start: dt.date,
    days_to_assessment: int,
    progression_date: dt.date | None,
    discontinuation_date: dt.date | None,
) -> None:
    try:
        f = facts(
            consent_signed=consent,
            hypersensitivity_lenalidomide=hyper_len,
            hypersensitivity_dexamethasone=hyper_dex,
            progressed=progressed,
            discontinued=discontinued,
            discontinuation_reason=reason,
            lenalidomide_start_date=start,
            assessment_date=start + dt.timedelta(days=days_to_assessment),
            progression_date=progression_date,
            discontinuation_date=discontinuation_date,
        )
    except ProtocolError:
        return  # contradictory facts are rejected, never decided
    d = decide_rollover(PROTOCOL, f)
    assert d.reasons
    excluded = not consent or hyper_len or hyper_dex or reason is DiscontinuationReason.TOXICITY
    if excluded:
        assert d.outcome is Outcome.NOT_ELIGIBLE
    elif progressed or discontinued:
        assert d.outcome is Outcome.SAFETY_FOLLOW_UP
    else:
        # ">= 1 year" = assessed on or after the first anniversary of the start
        # (a 29 February start has its anniversary on 28 February)
        anniversary = (
            start.replace(year=start.year + 1)
            if not (start.month == 2 and start.day == 29)
            else D(start.year + 1, 2, 28)
        )
        expected = Outcome.TREATMENT if f.assessment_date >= anniversary else Outcome.NOT_ELIGIBLE
        assert d.outcome is expected
    assert (d.phase is None) == (d.outcome is Outcome.NOT_ELIGIBLE)

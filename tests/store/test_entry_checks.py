"""Entry checks through the service layer, on SQLite and PostgreSQL.

Plausibility ranges at each side of every bound (low-e, low, high, high+e), the dosing
calendar, registration that tells nothing about other sites, and the data-query
workflow. Expected messages are written from the rules in docs/web.md.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from eap.errors import AccessDeniedError, ConflictError, EditCheckError, NotFoundError
from eap.store import service
from eap.store.models import AuditLog, DataQuery, Patient
from eap.store.schemas import AdverseEventIn, DosingIn, QueryAnswerIn, QueryIn
from tests.store.helpers import TODAY, Study, make_study, patient_in, register


@pytest.fixture
def study(db_url: str) -> Study:
    return make_study(db_url)


def registration_errors(study: Study, actor: str, subjid: str, **over: Any) -> dict[str, str]:
    """The edit-check errors of a registration, or {} when it was stored."""
    try:
        register(study, actor, subjid, **over)
    except EditCheckError as exc:
        return exc.errors
    return {}


def record_errors(study: Study, pid: int, kind: str, data: Any) -> dict[str, str]:
    """The edit-check errors of a new record, or {} when it was stored."""
    try:
        with study.sessions.begin() as db:
            service.add_record(db, study.actors["inv_a"], pid, kind, data, TODAY)
    except EditCheckError as exc:
        return exc.errors
    return {}


def dosing(cycle: int, start: dt.date, dose: float = 25, **over: Any) -> DosingIn:
    return DosingIn(cycle=cycle, start_date=start, dose=dose, **over)


# --------------------------------------------------------------------------- ranges


def test_age_range(study: Study) -> None:
    assert registration_errors(study, "inv_a", "0101", age=17) == {
        "age": "age must be 18 to 120 years; found 17 years"
    }
    assert registration_errors(study, "inv_a", "0102", age=18) == {}
    assert registration_errors(study, "inv_a", "0103", age=120) == {}
    assert registration_errors(study, "inv_a", "0104", age=121) == {
        "age": "age must be 18 to 120 years; found 121 years"
    }


def test_weight_range(study: Study) -> None:
    assert registration_errors(study, "inv_a", "0101", weight_kg=19.9) == {
        "weight_kg": "weight_kg must be 20 to 350 kg; found 19.9 kg"
    }
    assert registration_errors(study, "inv_a", "0102", weight_kg=20.0) == {}
    assert registration_errors(study, "inv_a", "0103", weight_kg=350.0) == {}
    assert registration_errors(study, "inv_a", "0104", weight_kg=350.1) == {
        "weight_kg": "weight_kg must be 20 to 350 kg; found 350.1 kg"
    }


def test_creatinine_range_in_mg_per_dl(study: Study) -> None:
    # The probe's 1e-300 mg/dL gave a clearance of 7.29e301 mL/min and 25 mg.
    assert registration_errors(study, "inv_a", "0101", creatinine=1e-300) == {
        "creatinine": "creatinine must be 0.1 to 20 mg/dL; found 1e-300 mg/dL"
    }
    assert registration_errors(study, "inv_a", "0102", creatinine=0.09) == {
        "creatinine": "creatinine must be 0.1 to 20 mg/dL; found 0.09 mg/dL"
    }
    assert registration_errors(study, "inv_a", "0103", creatinine=0.1) == {}
    assert registration_errors(study, "inv_a", "0104", creatinine=20.0) == {}
    assert registration_errors(study, "inv_a", "0105", creatinine=20.01) == {
        "creatinine": "creatinine must be 0.1 to 20 mg/dL; found 20.01 mg/dL"
    }


def test_creatinine_range_in_umol_per_l(study: Study) -> None:
    over = {"creatinine_unit": "umol/L"}
    assert registration_errors(study, "inv_a", "0101", creatinine=8.83, **over) == {
        "creatinine": "creatinine must be 8.84 to 1768 µmol/L; found 8.83 µmol/L"
    }
    assert registration_errors(study, "inv_a", "0102", creatinine=8.84, **over) == {}
    assert registration_errors(study, "inv_a", "0103", creatinine=1768.0, **over) == {}
    assert registration_errors(study, "inv_a", "0104", creatinine=1768.1, **over) == {
        "creatinine": "creatinine must be 8.84 to 1768 µmol/L; found 1768.1 µmol/L"
    }


def test_carried_over_dose_range(study: Study) -> None:
    assert registration_errors(study, "inv_a", "0101", carried_over_dose=2.4) == {
        "carried_over_dose": "carried_over_dose must be 2.5 to 25 mg; found 2.4 mg"
    }
    assert registration_errors(study, "inv_a", "0102", carried_over_dose=2.5) == {}
    assert registration_errors(study, "inv_a", "0103", carried_over_dose=25.0) == {}
    assert registration_errors(study, "inv_a", "0104", carried_over_dose=25.1) == {
        "carried_over_dose": "carried_over_dose must be 2.5 to 25 mg; found 25.1 mg"
    }


def test_dose_range(study: Study) -> None:
    pid = register(study, "inv_a")
    start = dt.date(2013, 1, 15)
    assert record_errors(study, pid, "dosing", dosing(1, start, 2.4)) == {
        "dose": "dose must be 2.5 to 25 mg; found 2.4 mg"
    }
    assert record_errors(study, pid, "dosing", dosing(1, start, 2.5)) == {}
    assert record_errors(study, pid, "dosing", dosing(2, start + dt.timedelta(28), 25.1)) == {
        "dose": "dose must be 2.5 to 25 mg; found 25.1 mg"
    }
    assert record_errors(study, pid, "dosing", dosing(2, start + dt.timedelta(28), 25)) == {}


def test_grade_range(study: Study) -> None:
    pid = register(study, "inv_a")

    def ae(grade: int, day: int) -> AdverseEventIn:
        return AdverseEventIn(
            reported_term="Anemia",
            ctcae_term="Anemia",
            grade=grade,
            start_date=dt.date(2013, 3, day),
        )

    assert record_errors(study, pid, "ae", ae(0, 1)) == {"grade": "grade must be 1 to 5; found 0"}
    assert record_errors(study, pid, "ae", ae(1, 2)) == {}
    assert record_errors(study, pid, "ae", ae(5, 3)) == {}
    assert record_errors(study, pid, "ae", ae(6, 4)) == {"grade": "grade must be 1 to 5; found 6"}


def test_cycle_range(study: Study) -> None:
    pid = register(study, "inv_a")
    start = dt.date(2013, 1, 15)
    assert record_errors(study, pid, "dosing", dosing(0, start)) == {
        "cycle": "cycle must be 1 to 200; found 0"
    }
    assert record_errors(study, pid, "dosing", dosing(1, start)) == {}
    # 200 is inside the range (refused only because cycles 2-199 are missing), 201 is not.
    late = start + dt.timedelta(28 * 199)
    high = record_errors(study, pid, "dosing", dosing(200, min(late, TODAY)))
    assert set(high) == {"cycle"} and high["cycle"].startswith("cycles are recorded in order")
    assert record_errors(study, pid, "dosing", dosing(201, TODAY)) == {
        "cycle": "cycle must be 1 to 200; found 201"
    }


# --------------------------------------------------------------------------- dosing calendar


def test_cycles_without_gaps(study: Study) -> None:
    pid = register(study, "inv_a")
    # The probe: cycles 10-16 on one start date, with no cycles 1-9.
    errors = record_errors(study, pid, "dosing", dosing(10, dt.date(2013, 2, 1)))
    assert errors == {
        "cycle": "cycles are recorded in order without gaps: cycle 1, 2, 3, 4, 5, 6, 7, 8, 9 "
        "are not recorded"
    }
    assert record_errors(study, pid, "dosing", dosing(1, dt.date(2013, 1, 15))) == {}
    assert record_errors(study, pid, "dosing", dosing(3, dt.date(2013, 3, 15))) == {
        "cycle": "cycles are recorded in order without gaps: cycle 2 is not recorded"
    }


def test_cycles_28_days_apart(study: Study) -> None:
    pid = register(study, "inv_a")
    first = dt.date(2013, 1, 15)
    assert record_errors(study, pid, "dosing", dosing(1, first)) == {}
    # 2013-01-15 + 27 days = 2013-02-11, + 28 days = 2013-02-12.
    assert record_errors(study, pid, "dosing", dosing(2, dt.date(2013, 2, 11))) == {
        "start_date": "cycle 2 starts 27 days after cycle 1 (2013-01-15); expected at least "
        "28 days unless cycle 1 records an interruption"
    }
    assert record_errors(study, pid, "dosing", dosing(2, first)) == {
        "start_date": "cycle 2 must start after cycle 1 (2013-01-15)"
    }
    assert record_errors(study, pid, "dosing", dosing(2, dt.date(2013, 2, 12))) == {}


def test_interrupted_cycle_may_be_followed_sooner(study: Study) -> None:
    pid = register(study, "inv_a")
    interrupted = dosing(1, dt.date(2013, 1, 15), interrupted=True, adjustment_reason="rash")
    assert record_errors(study, pid, "dosing", interrupted) == {}
    assert record_errors(study, pid, "dosing", dosing(2, dt.date(2013, 2, 5))) == {}


def test_moving_a_cycle_keeps_the_next_one_28_days_away(study: Study) -> None:
    pid = register(study, "inv_a")
    with study.sessions.begin() as db:
        one = service.add_record(
            db, study.actors["inv_a"], pid, "dosing", dosing(1, dt.date(2013, 1, 15)), TODAY
        )
        service.add_record(
            db, study.actors["inv_a"], pid, "dosing", dosing(2, dt.date(2013, 2, 12)), TODAY
        )
        rid = one.id
    with pytest.raises(EditCheckError) as info, study.sessions.begin() as db:
        service.update_record(
            db,
            study.actors["inv_a"],
            pid,
            "dosing",
            rid,
            1,
            "date typo",
            dosing(1, dt.date(2013, 1, 16)),
            TODAY,
        )
    assert info.value.errors == {
        "start_date": "cycle 2 (2013-02-12) would start 27 days after this cycle; expected at "
        "least 28 days unless this cycle records an interruption"
    }


# --------------------------------------------------------------------------- registration


def test_a_number_of_another_site_is_refused_like_a_free_one(study: Study) -> None:
    register(study, "inv_b", "0201")
    taken = registration_errors(study, "inv_a", "0201")
    free = registration_errors(study, "inv_a", "0202")
    assert (
        taken
        == free
        == {
            "subjid": "not a subject number site 01 can register; expected an MM-021 subject "
            "number of site 01 (it begins with 01) that is not registered yet"
        }
    )


def test_a_patient_moved_to_another_site_is_not_revealed(study: Study) -> None:
    """A site-01 number registered at site 02 (moved there by the sponsor): site 01 gets
    the refusal it gets for any number it cannot register."""
    pid = register(study, "admin", "0150", site_code="01")
    with study.sessions.begin() as db:
        service.update_patient(
            db, study.actors["admin"], pid, 1, "moved", patient_in("0150", site_code="02"), TODAY
        )
    moved = registration_errors(study, "inv_a", "0150")
    other = registration_errors(study, "inv_a", "0250")
    assert moved == other and set(moved) == {"subjid"}


def test_own_site_and_sponsor_see_already_registered(study: Study) -> None:
    register(study, "inv_a", "0101")
    assert registration_errors(study, "coord_a", "0101") == {
        "subjid": "subject 0101 is already registered"
    }
    assert registration_errors(study, "admin", "0101", site_code="01") == {
        "subjid": "subject 0101 is already registered"
    }
    with study.sessions() as db:
        assert len(db.scalars(select(Patient)).all()) == 1


def test_a_registration_losing_a_race_gets_the_same_refusal(
    study: Study, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests past the check at once: the unique USUBJID refuses the second insert,
    and the loser gets the refusal a number it cannot register gets, not a 500."""
    register(study, "inv_b", "0201")
    monkeypatch.setattr(service, "check_not_registered", lambda *args: {})
    assert registration_errors(study, "admin", "0201", site_code="02") == {
        "subjid": "not a subject number site 02 can register; expected an MM-021 subject "
        "number of site 02 (it begins with 02) that is not registered yet"
    }
    with study.sessions() as db:
        assert len(db.scalars(select(Patient)).all()) == 1


# --------------------------------------------------------------------------- data queries


def _query(study: Study, pid: int, **over: Any) -> int:
    with study.sessions.begin() as db:
        q = service.raise_query(db, study.actors["dm"], pid, QueryIn(question="70 kg?", **over))
        return q.id


def _move(
    study: Study, actor: str, pid: int, qid: int, status: str, reason: str | None = None, **kw: Any
) -> DataQuery:
    with study.sessions.begin() as db:
        version = db.get(DataQuery, qid).version  # type: ignore[union-attr]
        return service.update_query(
            db,
            study.actors[actor],
            pid,
            qid,
            version,
            QueryAnswerIn(status=status, **kw),  # type: ignore[arg-type]
            reason,
        )


def test_closing_keeps_the_answer(study: Study) -> None:
    pid = register(study, "inv_a")
    qid = _query(study, pid)
    _move(study, "inv_a", pid, qid, "answered", answer="70 kg in source")
    q = _move(study, "dm", pid, qid, "closed", note="agreed")
    assert (q.status, q.answer, q.dm_note) == ("closed", "70 kg in source", "agreed")
    with pytest.raises(EditCheckError) as info:
        _move(study, "dm", pid, qid, "reopened", answer="overwritten")
    assert "answer" in info.value.errors


def test_query_state_machine(study: Study) -> None:
    pid = register(study, "inv_a")
    qid = _query(study, pid)
    with pytest.raises(ConflictError) as info:
        _move(study, "dm", pid, qid, "closed")
    assert "a query that is open cannot become closed" in str(info.value)
    _move(study, "inv_a", pid, qid, "answered", answer="first")
    with pytest.raises(ConflictError):
        _move(study, "inv_a", pid, qid, "answered", answer="changed")
    _move(study, "dm", pid, qid, "closed")
    # The probe: an investigator moved a closed query back to answered.
    with pytest.raises(ConflictError) as info:
        _move(study, "inv_a", pid, qid, "answered", answer="again")
    assert "a query that is closed cannot become answered" in str(info.value)
    assert info.value.expected == "reopened" and info.value.found == "answered"
    with pytest.raises(ConflictError):
        _move(study, "dm", pid, qid, "open")
    with pytest.raises(EditCheckError) as missing:
        _move(study, "dm", pid, qid, "reopened")
    assert "note" in missing.value.errors
    _move(study, "dm", pid, qid, "reopened", note="which scale?")
    q = _move(study, "inv_a", pid, qid, "answered", answer="second")
    assert (q.status, q.answer, q.dm_note) == ("answered", "first\n\nsecond", "which scale?")
    with pytest.raises(AccessDeniedError):
        _move(study, "inv_a", pid, qid, "closed")
    with pytest.raises(AccessDeniedError):
        _move(study, "monitor", pid, qid, "closed")


def test_query_reason_is_in_the_trail(study: Study) -> None:
    pid = register(study, "inv_a")
    qid = _query(study, pid)
    _move(study, "inv_a", pid, qid, "answered", "source document checked", answer="70 kg")
    _move(study, "dm", pid, qid, "closed")
    with study.sessions() as db:
        rows = db.scalars(
            select(AuditLog).where(
                AuditLog.table_name == "data_queries", AuditLog.action == "update"
            )
        ).all()
    reasons = {(r.field, r.new_value): r.reason for r in rows}
    assert reasons[("status", "answered")] == "source document checked"
    assert reasons[("status", "closed")] == "query closed"


def test_query_target_must_be_the_patients_live_record(study: Study) -> None:
    pid = register(study, "inv_a")
    other = register(study, "inv_b", "0201")
    first = dt.date(2013, 1, 15)
    with study.sessions.begin() as db:
        own = service.add_record(db, study.actors["inv_a"], pid, "dosing", dosing(1, first), TODAY)
        foreign = service.add_record(
            db, study.actors["inv_b"], other, "dosing", dosing(1, first), TODAY
        )
        own_id, foreign_id = own.id, foreign.id
    gone = record_errors(study, pid, "dosing", dosing(2, dt.date(2013, 2, 12)))
    assert gone == {}
    with study.sessions.begin() as db:
        row = service.live(db, service.KINDS["dosing"].model, pid)[-1]
        service.delete_record(db, study.actors["inv_a"], pid, "dosing", row.id, 1, "wrong")
        deleted_id = row.id
    assert _query(study, pid, record_table="dosing_records", record_id=own_id) > 0
    refusals = []
    for table, rid in (
        ("dosing_records", foreign_id),
        ("dosing_records", deleted_id),
        ("dosing_records", 99999),
        ("patients", other),
    ):
        with pytest.raises(NotFoundError) as info:
            _query(study, pid, record_table=table, record_id=rid)
        refusals.append(str(info.value))
    assert refusals[:3] == ["dosing_records: record not found"] * 3
    assert refusals[3] == "patients: record not found"
    with pytest.raises(EditCheckError) as info2:
        _query(study, pid, record_table="adverse_events")
    assert "record_id" in info2.value.errors

"""The whole course of a patient: every contact in the follow-up schedule, its end at death,
withdrawal or the end of the program, a loaded study judged as of its data cutoff, and
transferred records shown beside entered ones and set aside with a reason.

The patient of ``tests.store.helpers.patient_in`` is assessed on 2013-01-10, so the
schedule's targets are 2013-05-10, 2013-09-10, 2014-01-10, ... (every 4 months), each
with a window of 7 days either side: visit 1 from 2013-05-03 to 2013-05-17, visit 2 from
2013-09-03 to 2013-09-17. Expected values below are worked from those rules.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from eap.errors import AccessDeniedError, EditCheckError, NotFoundError
from eap.protocol import VisitStatus
from eap.store import service
from eap.store.audit import set_actor
from eap.store.models import DataTransfer, Patient, TransferredRecord
from eap.store.schemas import AdverseEventIn, DeathIn, DiscontinuationIn, DosingIn, VisitIn
from tests.store.helpers import TODAY, Study, make_study, register

D = dt.date
TRANSFER = "MM-021 transfer 1"
CUTOFF = D(2014, 11, 5)


@pytest.fixture
def study(db_url: str) -> Study:
    return make_study(db_url)


def add(study: Study, pid: int, kind: str, data: Any) -> int:
    with study.sessions.begin() as db:
        record = service.add_record(db, study.actors["inv_a"], pid, kind, data, TODAY)
        return int(record.id)


def dose(cycle: int, day: dt.date) -> DosingIn:
    return DosingIn(cycle=cycle, start_date=day, dose=25)


def transferred(study: Study, pid: int, domain: str, row: dict[str, Any]) -> int:
    """A transferred row of ``TRANSFER`` for the patient, as a load stores it."""
    with study.sessions.begin() as db:
        set_actor(db, "eap-transfer")
        record = TransferredRecord(
            patient_id=pid, domain=domain, row=json.dumps(row), transfer=TRANSFER
        )
        db.add(record)
        db.flush()
        return int(record.id)


def loaded(study: Study, cutoff: dt.date = CUTOFF) -> int:
    """A registered patient with a transferred DM row from a transfer cut off at ``cutoff``."""
    pid = register(study, "inv_a")
    transferred(study, pid, "DM", {"USUBJID": "MM-024-0101", "DTHDTC": None})
    with study.sessions.begin() as db:
        db.add(DataTransfer(name=TRANSFER, data_cutoff=cutoff, loaded_by="eap-transfer"))
    return pid


def sched(study: Study, pid: int, today: dt.date = TODAY, **kw: Any) -> Any:
    with study.sessions() as db:
        patient = db.get(Patient, pid)
        assert patient is not None
        return service.schedule(db, patient, today, **kw)


def first(study: Study, pid: int, today: dt.date) -> tuple[VisitStatus, dt.date | None]:
    s = sched(study, pid, today)
    assert s is not None
    return s.visits[0].status, s.visits[0].visit_date


# --------------------------------------------------------------------------- contacts


@pytest.mark.parametrize(
    ("cycle_day", "status"),
    [
        (D(2013, 5, 3), VisitStatus.DONE_IN_WINDOW),  # the window's first day
        (D(2013, 5, 2), VisitStatus.DONE_OUT_OF_WINDOW),  # the day before it
        (D(2013, 5, 17), VisitStatus.DONE_IN_WINDOW),  # the window's last day
        (D(2013, 5, 18), VisitStatus.DONE_OUT_OF_WINDOW),  # the day after it
    ],
)
def test_a_cycle_visit_is_a_contact(study: Study, cycle_day: dt.date, status: VisitStatus) -> None:
    pid = register(study, "inv_a")
    add(study, pid, "dosing", dose(1, cycle_day))
    # As of 2013-06-30 visit 1's window has closed.
    assert first(study, pid, D(2013, 6, 30)) == (status, cycle_day)


def test_an_early_contact_settles_nothing_until_the_window_closes(study: Study) -> None:
    pid = register(study, "inv_a")
    add(study, pid, "dosing", dose(1, D(2013, 5, 2)))  # one day before visit 1's window
    # Up to the window's last day an in-window contact may still come.
    assert first(study, pid, D(2013, 5, 17)) == (VisitStatus.COMING_DUE, None)
    assert first(study, pid, D(2013, 5, 18)) == (VisitStatus.DONE_OUT_OF_WINDOW, D(2013, 5, 2))


def test_a_transferred_visit_of_any_epoch_is_a_contact(study: Study) -> None:
    pid = register(study, "inv_a")
    transferred(
        study, pid, "SV", {"VISIT": "CYCLE 5 DAY 1", "EPOCH": "TREATMENT", "SVSTDTC": "2013-05-10"}
    )
    assert first(study, pid, D(2013, 6, 30)) == (VisitStatus.DONE_IN_WINDOW, D(2013, 5, 10))


@pytest.mark.parametrize(
    ("day", "counted"),
    [(D(2013, 1, 10), False), (D(2013, 1, 11), True)],  # on / the day after the assessment
)
def test_contacts_count_after_the_rollover_assessment(
    study: Study, day: dt.date, counted: bool
) -> None:
    pid = register(study, "inv_a")
    transferred(
        study, pid, "SV", {"VISIT": "CYCLE 1 DAY 1", "EPOCH": "TREATMENT", "SVSTDTC": str(day)}
    )
    s = sched(study, pid, D(2013, 6, 30))
    # The only contact is nearest visit 1's target; on the assessment day it is the
    # parent trial's, and visit 1 is missed.
    expected = VisitStatus.DONE_OUT_OF_WINDOW if counted else VisitStatus.MISSED
    assert s.visits[0].status is expected


def test_a_set_aside_transferred_visit_no_longer_counts(study: Study) -> None:
    pid = register(study, "inv_a")
    rid = transferred(
        study,
        pid,
        "SV",
        {"VISIT": "SURVIVAL FOLLOW-UP 1", "EPOCH": "FOLLOW-UP", "SVSTDTC": "2013-05-10"},
    )
    with study.sessions.begin() as db:
        service.delete_transferred_record(
            db, study.actors["inv_a"], pid, rid, 1, "visit belongs to another subject"
        )
    assert first(study, pid, D(2013, 6, 30)) == (VisitStatus.MISSED, None)


# --------------------------------------------------------------------------- end


@pytest.mark.parametrize(
    ("died", "visits"),
    [(D(2013, 9, 3), 2), (D(2013, 9, 2), 1)],  # visit 2's window opens 2013-09-03
)
def test_follow_up_ends_at_death(study: Study, died: dt.date, visits: int) -> None:
    pid = register(study, "inv_a")
    add(study, pid, "death", DeathIn(death_date=died, cause="myeloma"))
    s = sched(study, pid)
    assert len(s.visits) == visits
    with study.sessions() as db:
        patient = db.get(Patient, pid)
        assert patient is not None
        assert service.schedule_end(db, patient, s) == (died, "death")


@pytest.mark.parametrize(
    ("withdrew", "visits"),
    [(D(2013, 9, 3), 2), (D(2013, 9, 2), 1)],  # visit 2's window opens 2013-09-03
)
def test_follow_up_ends_at_withdrawal(study: Study, withdrew: dt.date, visits: int) -> None:
    pid = register(study, "inv_a")
    add(
        study,
        pid,
        "discontinuation",
        DiscontinuationIn(discontinuation_date=withdrew, reason="patient_withdrawal"),
    )
    s = sched(study, pid)
    assert len(s.visits) == visits
    with study.sessions() as db:
        patient = db.get(Patient, pid)
        assert patient is not None
        assert service.schedule_end(db, patient, s) == (withdrew, "withdrawal")


def test_a_stop_of_rd_for_another_reason_does_not_end_follow_up(study: Study) -> None:
    pid = register(study, "inv_a")
    add(
        study,
        pid,
        "discontinuation",
        DiscontinuationIn(discontinuation_date=D(2013, 9, 2), reason="progression"),
    )
    # Follow-up runs to 5 years after the assessment (no parent enrollment date set):
    # targets 2013-05-10 ... 2018-01-10, 15 visits.
    assert len(sched(study, pid).visits) == 15


@pytest.mark.parametrize(
    ("day", "visits"),
    [
        (D(2013, 1, 10), 15),  # on the assessment: the parent-trial stop, not a withdrawal
        (D(2013, 1, 11), 0),  # after it: no window opens before it
    ],
)
def test_a_transferred_withdrawal_ends_follow_up_after_the_assessment(
    study: Study, day: dt.date, visits: int
) -> None:
    pid = register(study, "inv_a")
    transferred(
        study,
        pid,
        "DS",
        {"DSDECOD": "WITHDRAWAL BY SUBJECT", "DSSCAT": "END OF TREATMENT", "DSSTDTC": str(day)},
    )
    assert len(sched(study, pid).visits) == visits


@pytest.mark.parametrize(
    ("last_enrollment", "visits"),
    [
        (D(2013, 1, 10), 15),  # end 2018-01-10 = visit 15's target: included
        (D(2013, 1, 9), 14),  # end 2018-01-09: visit 15 is after the program
    ],
)
def test_follow_up_ends_with_the_program(
    study: Study, last_enrollment: dt.date, visits: int
) -> None:
    pid = register(study, "inv_a")
    s = sched(study, pid, D(2019, 1, 1), last_parent_enrollment=last_enrollment)
    assert len(s.visits) == visits
    with study.sessions() as db:
        patient = db.get(Patient, pid)
        assert patient is not None
        end = D(last_enrollment.year + 5, 1, last_enrollment.day)
        assert service.schedule_end(db, patient, s) == (end, "end of the program")


# --------------------------------------------------------------------------- as of


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (D(2014, 11, 5), service.AsOf(D(2014, 11, 5), "today")),  # today is the cutoff
        (D(2014, 11, 6), service.AsOf(D(2014, 11, 5), "data cutoff")),  # the day after
    ],
)
def test_a_loaded_patient_is_judged_as_of_the_cutoff(
    study: Study, today: dt.date, expected: service.AsOf
) -> None:
    pid = loaded(study)
    with study.sessions() as db:
        patient = db.get(Patient, pid)
        assert patient is not None
        assert service.schedule_as_of(db, patient, today) == expected


def test_a_registered_patient_is_judged_as_of_today(study: Study) -> None:
    pid = register(study, "inv_a")
    with study.sessions() as db:
        patient = db.get(Patient, pid)
        assert patient is not None
        assert service.schedule_as_of(db, patient, TODAY) == service.AsOf(TODAY, "today")


def test_a_loaded_study_is_not_shown_years_overdue(study: Study) -> None:
    pid = loaded(study)
    s = sched(study, pid)  # today 2016-06-01
    assert s.as_of == CUTOFF
    statuses = {v.target: v.status for v in s.visits}
    # Windows closed by 2014-11-05: visits 1-5 (targets to 2014-09-10) are missed.
    assert statuses[D(2014, 9, 10)] is VisitStatus.MISSED
    # Visit 6 (target 2015-01-10) opens 2015-01-03, more than 30 days after the cutoff.
    assert statuses[D(2015, 1, 10)] is VisitStatus.SCHEDULED
    assert sum(v.status is VisitStatus.MISSED for v in s.visits) == 5


@pytest.mark.parametrize(
    ("visit_day", "as_of"),
    [
        (D(2014, 11, 5), CUTOFF),  # entered on the cutoff: still the transfer's picture
        (D(2014, 11, 6), TODAY),  # entered after it: the program runs live, today applies
    ],
)
def test_an_entry_after_the_cutoff_makes_today_apply(
    study: Study, visit_day: dt.date, as_of: dt.date
) -> None:
    pid = loaded(study)
    add(study, pid, "visits", VisitIn(visit_date=visit_day))
    assert sched(study, pid).as_of == as_of


def test_the_load_stores_the_latest_date_of_the_transfer_as_its_cutoff(study: Study) -> None:
    from eap.store.transfer import load_sdtm
    from tests.store.test_transfer import subset

    load_sdtm(study.url, subset(1), transfer=TRANSFER, today=TODAY)
    with study.sessions() as db:
        stored = db.scalars(select(DataTransfer)).one()
        assert (stored.name, stored.loaded_by) == (TRANSFER, "eap-transfer")
        # The cohort's latest date: DM.RFXENDTC 2014-11-05 of subject MM024-11-0001.
        assert stored.data_cutoff == CUTOFF


def test_data_cutoff_is_the_latest_complete_date() -> None:
    import polars as pl

    from eap.datasets.model import Dataset
    from eap.store.transfer import data_cutoff

    frame = pl.DataFrame(
        {
            "USUBJID": ["A", "A", "A"],
            "AESTDTC": ["2014-03-01", "2014-05", "2014-02-30"],  # partial, impossible
            "AEENDTC": ["2014-03-02T10:00", None, None],
        }
    )
    assert data_cutoff({"AE": Dataset.from_frame("AE", frame)}) == D(2014, 3, 2)


# --------------------------------------------------------------------------- transferred records


def test_transferred_records_fall_into_the_page_sections(study: Study) -> None:
    pid = register(study, "inv_a")
    transferred(
        study,
        pid,
        "EX",
        {
            "EXTRT": "LENALIDOMIDE",
            "EXDOSE": 25.0,
            "EXDOSU": "mg",
            "EXDOSFRQ": "QD",
            "EXADJ": "ADVERSE EVENT",
            "VISIT": "CYCLE 3",
            "EXSTDTC": "2012-02-01",
            "EXENDTC": "2012-02-21",
        },
    )
    transferred(
        study,
        pid,
        "AE",
        {
            "AETERM": "anemia grade 3",
            "AEDECOD": "Anemia",
            "AETOXGR": "3",
            "AESER": "Y",
            "AESTDTC": "2012-03-01",
        },
    )
    transferred(
        study, pid, "RS", {"RSTEST": "Overall Response", "RSSTRESC": "VGPR", "RSDTC": "2012-04"}
    )
    transferred(
        study, pid, "DS", {"DSDECOD": "DEATH", "DSSCAT": "END OF STUDY", "DSSTDTC": "2014-01-02"}
    )
    transferred(study, pid, "DM", {"USUBJID": "MM-024-0101", "DTHDTC": "2014-01-02"})
    transferred(study, pid, "CM", {"CMTRT": "ASPIRIN", "CMSTDTC": "2012-01-01"})
    with study.sessions() as db:
        entries = service.transferred_entries(db, pid)
        patient = db.get(Patient, pid)
        assert patient is not None
        events = service.timeline(db, patient)
    got = [(e["section"], e["date"], e["text"]) for e in entries]
    assert got == [
        ("dosing", D(2012, 2, 1), "Cycle 3: lenalidomide 25 mg QD, adjusted for adverse event"),
        ("ae", D(2012, 3, 1), "AE anemia grade 3 (Anemia) grade 3 serious"),
        ("disposition", D(2014, 1, 2), "Death (end of study)"),
        ("death", D(2014, 1, 2), "Death (DM.DTHDTC)"),
        # A partial date: listed, without a date, last.
        ("responses", None, "Overall Response: VGPR"),
    ]
    marked = [e for e in events if e["transferred"]]
    assert [e["text"] for e in marked] == [
        "Cycle 3: lenalidomide 25 mg QD, adjusted for adverse event (transferred)",
        "AE anemia grade 3 (Anemia) grade 3 serious (transferred)",
        "Death (end of study) (transferred)",
        "Death (DM.DTHDTC) (transferred)",
    ]
    assert all(not e["transferred"] for e in events if e not in marked)


def test_setting_a_transferred_record_aside(study: Study) -> None:
    pid = register(study, "inv_a")
    other = register(study, "inv_a", "0102")
    rid = transferred(study, pid, "AE", {"AETERM": "x", "AESTDTC": "2012-03-01"})
    dm = transferred(study, pid, "DM", {"USUBJID": "MM-024-0101"})
    actors = study.actors
    with pytest.raises(AccessDeniedError), study.sessions.begin() as db:
        service.delete_transferred_record(db, actors["monitor"], pid, rid, 1, "why")
    with pytest.raises(NotFoundError), study.sessions.begin() as db:
        service.delete_transferred_record(db, actors["inv_b"], pid, rid, 1, "why")
    with pytest.raises(NotFoundError), study.sessions.begin() as db:
        service.delete_transferred_record(db, actors["inv_a"], other, rid, 1, "why")
    with pytest.raises(EditCheckError) as refused, study.sessions.begin() as db:
        service.delete_transferred_record(db, actors["inv_a"], pid, dm, 1, "why")
    assert "record" in refused.value.errors
    with study.sessions.begin() as db:
        service.delete_transferred_record(db, actors["inv_a"], pid, rid, 1, "entered twice")
    with study.sessions() as db:
        record = db.get(TransferredRecord, rid)
        assert record is not None
        assert (record.deleted, record.deleted_reason, record.version) == (True, "entered twice", 2)
        entry = next(e for e in service.transferred_entries(db, pid) if e["id"] == rid)
        assert entry["deleted"] and entry["deleted_reason"] == "entered twice"
    with pytest.raises(AccessDeniedError), study.sessions.begin() as db:
        service.delete_transferred_record(db, actors["inv_a"], pid, rid, 2, "again")


def test_the_migration_gives_an_earlier_load_its_cutoff(study: Study) -> None:
    from alembic import command

    from eap.store.db import alembic_config, make_engine
    from eap.store.transfer import load_sdtm
    from tests.store.test_transfer import subset

    load_sdtm(study.url, subset(1), transfer=TRANSFER, today=TODAY)

    def migrate(step: Callable[[Any, str], None], revision: str) -> None:
        engine = make_engine(study.url)
        try:
            with engine.begin() as conn:
                cfg = alembic_config(study.url)
                cfg.attributes["connection"] = conn
                step(cfg, revision)
        finally:
            engine.dispose()

    # A database loaded before revision 0006 has no cutoff stored; the upgrade finds it
    # in the rows the load left: the cohort's latest date, 2014-11-05.
    migrate(command.downgrade, "0002")
    migrate(command.upgrade, "0006")
    with study.sessions() as db:
        stored = db.scalars(select(DataTransfer)).one()
        assert (stored.name, stored.data_cutoff) == (TRANSFER, CUTOFF)


def test_the_dashboard_counts_a_loaded_patient_missed_as_of_the_cutoff(study: Study) -> None:
    pid = loaded(study)
    with study.sessions() as db:
        overdue = service.dashboard(db, study.actors["admin"], TODAY)["overdue_visits"]
    # As of 2014-11-05, visits 1-5 (targets 2013-05-10 to 2014-09-10) are missed; as of
    # today (2016-06-01) it would be 10, to the target 2016-05-10.
    assert [(o["patient_id"], o["missed"], o["last_target"], o["as_of"]) for o in overdue] == [
        (pid, 5, "2014-09-10", "2014-11-05")
    ]


AFTER_CUTOFF = D(2014, 11, 6)


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("dosing", DosingIn(cycle=1, start_date=AFTER_CUTOFF, dose=25)),
        (
            "ae",
            AdverseEventIn(
                reported_term="Fatigue", ctcae_term="Fatigue", grade=1, start_date=AFTER_CUTOFF
            ),
        ),
        ("death", DeathIn(death_date=AFTER_CUTOFF, cause="myeloma")),
        (
            "discontinuation",
            DiscontinuationIn(discontinuation_date=AFTER_CUTOFF, reason="progression"),
        ),
    ],
)
def test_any_kind_of_entry_after_the_cutoff_makes_today_apply(
    study: Study, kind: str, data: Any
) -> None:
    pid = loaded(study)
    add(study, pid, kind, data)
    assert sched(study, pid).as_of == TODAY

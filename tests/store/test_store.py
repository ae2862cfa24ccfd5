"""The store on SQLite and PostgreSQL: registration, audit trail, locking, checks, transactions."""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from eap.errors import AccessDeniedError, ConflictError, EditCheckError, NotFoundError, StoreError
from eap.store import audit, service
from eap.store.models import AdverseEvent, AuditLog, ClinicalMixin, Patient
from eap.store.schemas import (
    AdverseEventIn,
    DeathIn,
    DiscontinuationIn,
    DosingIn,
    VisitIn,
)
from tests.store.helpers import TODAY, Study, make_study, patient_in, register


@pytest.fixture
def study(db_url: str) -> Study:
    return make_study(db_url)


def ae_in(**over: Any) -> AdverseEventIn:
    values: dict[str, Any] = dict(
        reported_term="Neutropenia",
        ctcae_term="Neutrophil count decreased",
        grade=3,
        start_date=dt.date(2013, 3, 1),
    )
    values.update(over)
    return AdverseEventIn(**values)


def add(study: Study, actor: str, pid: int, kind: str, data: Any) -> Any:
    with study.sessions.begin() as db:
        return service.add_record(db, study.actors[actor], pid, kind, data, TODAY)


def checks(study: Study, pid: int, kind: str, data: Any) -> dict[str, str]:
    with pytest.raises(EditCheckError) as info, study.sessions.begin() as db:
        service.add_record(db, study.actors["inv_a"], pid, kind, data, TODAY)
    return info.value.errors


# --------------------------------------------------------------------------- registration


def test_registration_stores_decision_crcl_and_starting_dose(study: Study) -> None:
    pid = register(study, "inv_a")
    with study.sessions() as db:
        p = db.get(Patient, pid)
        assert p is not None
        assert p.usubjid == "MM-024-0101"
        assert p.outcome == "treatment" and p.phase == "Treatment Phase"
        # Cockcroft-Gault by hand: (140 - 65) * 70 / (72 * 1.1) = 5250 / 79.2 = 66.288
        assert p.crcl == pytest.approx(66.29)
        assert (p.start_dose, p.start_frequency) == (25.0, "daily")  # CrCl >= 60 band
        assert any("progression-free" in r for r in json.loads(p.decision_reasons))


def test_registration_renal_band_and_phases(study: Study) -> None:
    # 80-year-old woman, 50 kg, creatinine 1.5 mg/dL: (60 * 50) / (72 * 1.5) * 0.85 = 23.6
    pid = register(study, "inv_a", "0102", sex="F", age=80, weight_kg=50.0, creatinine=1.5)
    sfu = register(study, "inv_a", "0103", progressed=True, progression_date=dt.date(2012, 10, 1))
    out = register(study, "inv_a", "0104", consent_signed=False)
    with study.sessions() as db:
        p = db.get(Patient, pid)
        assert p is not None and p.crcl == pytest.approx(23.61, abs=0.01)
        assert (p.start_dose, p.start_frequency) == (15.0, "every_other_day")
        assert db.get(Patient, sfu).outcome == "safety_follow_up"  # type: ignore[union-attr]
        assert db.get(Patient, out).outcome == "not_eligible"  # type: ignore[union-attr]


def test_registration_edit_checks(study: Study) -> None:
    with pytest.raises(EditCheckError) as info, study.sessions.begin() as db:
        service.register_patient(
            db,
            study.actors["inv_a"],
            patient_in(assessment_date=dt.date(2017, 1, 1), carried_over_dose=12.5),
            TODAY,
        )
    assert "future" in info.value.errors["assessment_date"]
    assert "ladder" in info.value.errors["carried_over_dose"]
    register(study, "inv_a")
    with pytest.raises(EditCheckError) as dup:
        register(study, "inv_a")
    assert "already registered" in dup.value.errors["subjid"]
    with study.sessions() as db:
        assert len(db.scalars(select(Patient)).all()) == 1


# --------------------------------------------------------------------------- access


def test_site_scoping_in_the_store(study: Study) -> None:
    pid = register(study, "inv_a")
    with study.sessions() as db:
        for name in ("inv_b", "coord_b"):
            with pytest.raises(NotFoundError):
                service.get_patient(db, study.actors[name], pid)
            assert service.list_patients(db, study.actors[name]) == []
        for name in ("admin", "monitor", "dm", "coord_a"):
            assert service.get_patient(db, study.actors[name], pid).id == pid
    for name in ("monitor", "dm"):
        with pytest.raises(AccessDeniedError), study.sessions.begin() as db:
            service.add_record(db, study.actors[name], pid, "ae", ae_in(), TODAY)
    with pytest.raises(NotFoundError), study.sessions.begin() as db:
        service.add_record(db, study.actors["inv_b"], pid, "ae", ae_in(), TODAY)


# --------------------------------------------------------------------------- audit trail


def test_audit_trail_create_update_soft_delete(study: Study) -> None:
    pid = register(study, "inv_a")
    ae = add(study, "inv_a", pid, "ae", ae_in())
    with pytest.raises(StoreError, match="needs a reason"), study.sessions.begin() as db:
        row = db.get(AdverseEvent, ae.id)
        assert row is not None
        audit.set_actor(db, "inv_a")
        row.grade = 4
    with study.sessions.begin() as db:
        service.update_record(
            db,
            study.actors["coord_a"],
            pid,
            "ae",
            ae.id,
            1,
            "source verified",
            ae_in(grade=4),
            TODAY,
        )
    with study.sessions.begin() as db:
        service.delete_record(db, study.actors["inv_a"], pid, "ae", ae.id, 2, "entered twice")
    with study.sessions() as db:
        row = db.get(AdverseEvent, ae.id)
        assert row is not None and row.deleted and row.version == 3
        trail = [e for e in audit.history(db, pid) if e.table_name == "adverse_events"]
        update = [
            (e.field, e.old_value, e.new_value, e.reason, e.username)
            for e in trail
            if e.action == "update"
        ]
        assert update == [("grade", "3", "4", "source verified", "coord_a")]
        delete = {
            e.field: (e.old_value, e.new_value, e.reason) for e in trail if e.action == "delete"
        }
        assert delete["deleted"] == ("false", "true", "entered twice")
        assert {e.field for e in trail if e.action == "create"} >= {"grade", "ctcae_term"}


def test_no_hard_delete_and_append_only_trail(study: Study) -> None:
    pid = register(study, "inv_a")
    with pytest.raises(StoreError, match="never deleted"), study.sessions.begin() as db:
        db.delete(db.get(Patient, pid))
    for sql in (
        "DELETE FROM audit_log",
        "UPDATE audit_log SET new_value = 'x'",
        f"DELETE FROM patients WHERE id = {pid}",
    ):
        with pytest.raises(Exception, match="not allowed"), study.sessions.begin() as db:
            db.execute(text(sql))
    with pytest.raises(StoreError, match="append-only"), study.sessions.begin() as db:
        entry = db.scalars(select(AuditLog)).first()
        assert entry is not None
        entry.new_value = "tampered"
    with study.sessions() as db:
        assert db.get(Patient, pid) is not None


# --------------------------------------------------------------------------- locking


def test_stale_version_is_a_conflict_with_newer_values(study: Study) -> None:
    pid = register(study, "inv_a")
    ae = add(study, "inv_a", pid, "ae", ae_in())
    with study.sessions.begin() as db:
        service.update_record(
            db, study.actors["inv_a"], pid, "ae", ae.id, 1, "r1", ae_in(grade=4), TODAY
        )
    with pytest.raises(ConflictError) as info, study.sessions.begin() as db:
        service.update_record(
            db, study.actors["coord_a"], pid, "ae", ae.id, 1, "r2", ae_in(grade=2), TODAY
        )
    assert info.value.current["grade"] == 4 and info.value.current["version"] == 2


def test_concurrent_writers_no_lost_update(study: Study) -> None:
    """Threads save the same record from the same version: exactly one wins."""
    pid = register(study, "inv_a")
    ae = add(study, "inv_a", pid, "ae", ae_in())
    barrier = threading.Barrier(4)
    results: list[str] = []

    def writer(i: int) -> None:
        barrier.wait()
        try:
            with study.sessions.begin() as db:
                service.update_record(
                    db,
                    study.actors["inv_a"],
                    pid,
                    "ae",
                    ae.id,
                    1,
                    f"writer {i}",
                    ae_in(reported_term=f"Neutropenia {i}"),
                    TODAY,
                )
            results.append(f"ok {i}")
        except ConflictError:
            results.append("conflict")

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if r.startswith("ok")]
    assert len(winners) == 1 and results.count("conflict") == 3
    with study.sessions() as db:
        row = db.get(AdverseEvent, ae.id)
        assert row is not None and row.version == 2
        assert row.reported_term == f"Neutropenia {winners[0].split()[1]}"
        updates = [e for e in audit.history(db, pid) if e.action == "update"]
        assert len(updates) == 1  # the losers left no trace


# --------------------------------------------------------------------------- edit checks


def test_edit_checks_each_with_its_field(study: Study) -> None:
    pid = register(study, "inv_a")
    assert "future" in checks(study, pid, "ae", ae_in(start_date=dt.date(2016, 6, 2)))["start_date"]
    assert (
        "before it starts"
        in checks(study, pid, "ae", ae_in(end_date=dt.date(2013, 2, 1)))["end_date"]
    )
    assert "1 to 5" in checks(study, pid, "ae", ae_in(grade=6))["grade"]
    assert "1 to 5" in checks(study, pid, "ae", ae_in(grade=0))["grade"]
    assert (
        "not defined"
        in checks(study, pid, "ae", ae_in(ctcae_term="Myelodysplastic syndrome", grade=2))["grade"]
    )
    assert "unknown CTCAE" in checks(study, pid, "ae", ae_in(ctcae_term="Nope"))["ctcae_term"]
    assert (
        "ladder"
        in checks(
            study, pid, "dosing", DosingIn(cycle=1, start_date=dt.date(2013, 2, 1), dose=12.5)
        )["dose"]
    )
    assert (
        "reason"
        in checks(
            study,
            pid,
            "dosing",
            DosingIn(cycle=1, start_date=dt.date(2013, 2, 1), dose=20, reduced=True),
        )["adjustment_reason"]
    )
    add(study, "inv_a", pid, "ae", ae_in())
    assert "duplicate" in checks(study, pid, "ae", ae_in())["ctcae_term"]
    add(study, "inv_a", pid, "dosing", DosingIn(cycle=1, start_date=dt.date(2013, 2, 1), dose=25))
    not_lower = checks(
        study,
        pid,
        "dosing",
        DosingIn(
            cycle=2,
            start_date=dt.date(2013, 3, 1),
            dose=25,
            reduced=True,
            adjustment_reason="neutropenia",
        ),
    )
    assert "below cycle 1's dose (25 mg)" in not_lower["dose"]
    add(study, "inv_a", pid, "death", DeathIn(death_date=dt.date(2014, 1, 5), cause="Pneumonia"))
    after = checks(study, pid, "dosing", DosingIn(cycle=2, start_date=dt.date(2014, 2, 1), dose=25))
    assert "after death" in after["start_date"]
    assert (
        "after death"
        in checks(study, pid, "visits", VisitIn(visit_date=dt.date(2014, 3, 1)))["visit_date"]
    )
    with study.sessions() as db:
        assert len(service.live(db, AdverseEvent, pid)) == 1


def test_spm_is_serious_automatically(study: Study) -> None:
    pid = register(study, "inv_a")
    a = add(
        study,
        "inv_a",
        pid,
        "ae",
        ae_in(reported_term="MDS", ctcae_term="myelodysplastic syndrome", grade=4),
    )
    b = add(
        study,
        "inv_a",
        pid,
        "ae",
        ae_in(
            reported_term="Basal cell carcinoma",
            ctcae_term="Skin and subcutaneous tissue disorders - Other, specify",
            grade=2,
            spm=True,
        ),
    )
    assert (a.spm, a.serious, a.ctcae_term) == (True, True, "Myelodysplastic syndrome")
    assert (b.spm, b.serious) == (True, True)


def test_discontinuation_moves_to_safety_follow_up(study: Study) -> None:
    pid = register(study, "inv_a")
    add(
        study,
        "inv_a",
        pid,
        "discontinuation",
        DiscontinuationIn(discontinuation_date=dt.date(2014, 1, 1), reason="progression"),
    )
    with study.sessions() as db:
        p = db.get(Patient, pid)
        assert p is not None
        assert service.current_phase(db, p) == "Safety Follow-Up Phase"
    late = checks(study, pid, "dosing", DosingIn(cycle=9, start_date=dt.date(2014, 2, 1), dose=25))
    assert "discontinuation" in late["start_date"]


# --------------------------------------------------------------------------- transactions


def test_failure_half_way_leaves_nothing(study: Study) -> None:
    pid = register(study, "inv_a")
    with study.sessions() as db:
        before = db.scalar(select(text("count(*)")).select_from(AuditLog))
    with pytest.raises(EditCheckError), study.sessions.begin() as db:
        service.add_record(db, study.actors["inv_a"], pid, "ae", ae_in(), TODAY)
        # Second write of the same request fails: the first must go too.
        service.add_record(db, study.actors["inv_a"], pid, "ae", ae_in(grade=9), TODAY)
    with study.sessions() as db:
        assert service.live(db, AdverseEvent, pid) == []
        assert db.scalar(select(text("count(*)")).select_from(AuditLog)) == before


# --------------------------------------------------------------------------- replay


edits = st.lists(
    st.tuples(
        st.sampled_from(["update", "update", "delete", "create"]),
        st.integers(1, 5),
        st.sampled_from(["Neutrophil count decreased", "Anemia", "Fatigue", "Lung infection"]),
        st.dates(dt.date(2013, 1, 11), dt.date(2016, 5, 1)),
        st.booleans(),
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=edits)
def test_replaying_the_trail_reproduces_the_current_state(
    study: Study, steps: list[tuple[str, int, str, dt.date, bool]]
) -> None:
    with study.sessions() as db:
        existing = db.scalar(select(Patient).where(Patient.subjid == "0101"))
    pid = existing.id if existing else register(study, "inv_a")
    for action, grade, term, start, serious in steps:
        values = ae_in(
            reported_term=term,
            ctcae_term=term,
            grade=min(grade, 3),
            start_date=start,
            serious=serious,
        )
        try:
            with study.sessions.begin() as db:
                rows = service.live(db, AdverseEvent, pid)
                actor = study.actors["inv_a"]
                if action == "create" or not rows:
                    service.add_record(db, actor, pid, "ae", values, TODAY)
                elif action == "update":
                    r = rows[grade % len(rows)]
                    service.update_record(
                        db, actor, pid, "ae", r.id, r.version, "correction", values, TODAY
                    )
                else:
                    r = rows[grade % len(rows)]
                    service.delete_record(db, actor, pid, "ae", r.id, r.version, "void")
        except EditCheckError:
            pass  # refused edits (duplicates) must leave no trail either
    with study.sessions() as db:
        replayed = audit.replay(db.scalars(select(AuditLog).order_by(AuditLog.id)))
        current: dict[tuple[str, int], dict[str, str | None]] = {}
        for model in (Patient, AdverseEvent):
            for obj in db.scalars(select(model)):
                assert isinstance(obj, ClinicalMixin)
                current[(model.__tablename__, obj.id)] = audit.current_state(obj)
        assert replayed == current


def test_every_new_session_factory_gets_the_trail(db_url: str) -> None:
    """Each factory is checked, not assumed: SQLAlchemy's event.contains mistakes a new
    sessionmaker for a collected one, which once left a factory without its trail."""
    import gc

    from eap.store.bootstrap import init_study
    from eap.store.db import make_engine, make_sessionmaker
    from eap.store.models import Site, Visit

    init_study(db_url)
    engine = make_engine(db_url)
    try:
        for _ in range(20):
            factory = make_sessionmaker(engine)
            with factory() as db:
                site = db.scalars(select(Site)).first()
                assert site is not None
                db.add(Visit(patient_id=1, visit_date=dt.date(2014, 1, 1)))
                with pytest.raises(StoreError, match="needs a user"):
                    db.flush()  # no actor: the trail refuses, so it is attached
                db.rollback()
            del factory
            gc.collect()
    finally:
        engine.dispose()

"""A data transfer into the study database: registration, records kept, export identical."""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import func, select
from typer.testing import CliRunner

from eap.cli import app
from eap.datasets.io import write_dataset
from eap.datasets.model import Dataset
from eap.errors import EapError
from eap.simulate import simulate
from eap.store import service
from eap.store.audit import replay, set_actor
from eap.store.export import sdtm_from_store, sdtm_from_url
from eap.store.models import AuditLog, Patient, TransferredRecord
from eap.store.schemas import AdverseEventIn, PatientIn
from eap.store.transfer import load_sdtm, load_sdtm_session, registration_facts
from tests.store.helpers import TODAY, Study, make_study

TRANSFER = "virtual cohort, seed 2014"


@cache
def cohort() -> dict[str, Dataset]:
    return simulate(2014, 1)


def subset(n: int) -> dict[str, Dataset]:
    """The first ``n`` treatment-cohort and ``n`` safety follow-up subjects of the cohort."""
    dm = cohort()["DM"].frame
    ids = pl.concat([dm.filter(pl.col("ARMCD") == arm).head(n) for arm in ("TP", "SFU")])
    return only(ids["USUBJID"].to_list())


def only(usubjids: list[str]) -> dict[str, Dataset]:
    """The cohort's datasets restricted to ``usubjids``."""
    keep = pl.Series(usubjids).implode()
    return {
        name: Dataset.from_frame(
            name,
            ds.frame.filter(pl.col("USUBJID").is_in(keep)),
            label=ds.label,
            meta={c.name: c for c in ds.columns},
        )
        for name, ds in cohort().items()
    }


def replaced(sdtm: dict[str, Dataset], name: str, frame: pl.DataFrame) -> dict[str, Dataset]:
    ds = sdtm[name]
    meta = {c.name: c for c in ds.columns}
    return {**sdtm, name: Dataset.from_frame(name, frame, label=ds.label, meta=meta)}


@pytest.fixture
def study(db_url: str) -> Study:
    return make_study(db_url)


def _count(study: Study, model: type) -> int:
    with study.sessions() as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


def test_every_subject_is_registered_by_the_protocol(study: Study) -> None:
    sdtm = subset(3)
    summary = load_sdtm(study.url, sdtm, transfer=TRANSFER, today=TODAY)
    assert summary.patients == 6
    assert summary.records == {name: ds.n_rows for name, ds in sdtm.items()}
    arms = dict(sdtm["DM"].frame.select("USUBJID", "ARMCD").iter_rows())
    with study.sessions() as db:
        patients = list(db.scalars(select(Patient)))
        for p in patients:
            expected = {"TP": "treatment", "SFU": "safety_follow_up"}[arms[p.usubjid]]
            assert p.outcome == expected
            assert json.loads(p.decision_reasons)
            assert p.start_dose in (25.0, 10.0, 15.0, 5.0)
            assert p.created_by == "eap-transfer"
        # Every stored row is in the trail as a create, and the trail replays to the tables.
        trail = replay(db.scalars(select(AuditLog).order_by(AuditLog.id)))
        record = db.scalars(select(TransferredRecord)).first()
        assert record is not None
        assert trail[("transferred_records", record.id)]["row"] == record.row


def test_export_returns_the_transfer_value_for_value(study: Study) -> None:
    sdtm = subset(4)
    load_sdtm(study.url, sdtm, transfer=TRANSFER, today=TODAY)
    out = sdtm_from_url(study.url)
    assert sorted(out) == sorted(sdtm)
    for name, ds in sdtm.items():
        assert_frame_equal(out[name].frame, ds.frame)
        assert [c.name for c in out[name].columns] == [c.name for c in ds.columns]
        assert [c.label for c in out[name].columns] == [c.label for c in ds.columns]


def test_the_whole_cohort_reproduces_the_paper_from_the_database(tmp_path: Path) -> None:
    sdtm_dir = tmp_path / "sdtm"
    for name, ds in cohort().items():
        write_dataset(ds, sdtm_dir / f"{name.lower()}.xpt")
    url = f"sqlite:///{tmp_path / 'study.db'}"
    runner = CliRunner()
    loaded = runner.invoke(app, ["db", "load", str(sdtm_dir), "--db", url])
    assert loaded.exit_code == 0, loaded.output
    assert "80 patients registered" in loaded.output and "sites added: 12" in loaded.output
    result = runner.invoke(app, ["reproduce", "--db", url, "--json"])
    assert result.exit_code == 0, result.output[-2000:]
    rows = json.loads(result.stdout)
    assert len(rows) == 255 and all(r["ok"] for r in rows)
    report = runner.invoke(
        app, ["report", "--db", url, "--out", str(tmp_path / "r"), "--formats", "html"]
    )
    assert report.exit_code == 0, report.output
    assert "study database" in (tmp_path / "r" / "report.html").read_text()
    exported = runner.invoke(app, ["export", "--db", url, "--out", str(tmp_path / "x")])
    assert exported.exit_code == 0, exported.output
    derived = runner.invoke(app, ["derive", str(tmp_path / "x"), "--out", str(tmp_path / "adam")])
    assert derived.exit_code == 0, derived.output
    again = runner.invoke(app, ["db", "load", str(sdtm_dir), "--db", url])
    assert again.exit_code != 0 and "already in the study database" in str(again.exception)


def test_form_records_follow_the_transferred_ones(study: Study) -> None:
    sdtm = subset(1)
    load_sdtm(study.url, sdtm, transfer=TRANSFER, today=TODAY)
    admin = study.actors["admin"]
    with study.sessions.begin() as db:
        patient = db.scalars(select(Patient).where(Patient.outcome == "treatment")).one()
        pid, usubjid = patient.id, patient.usubjid
        last_seq = int(
            sdtm["AE"].frame.filter(pl.col("USUBJID") == usubjid)["AESEQ"].max() or 0  # type: ignore[arg-type]
        )
        service.add_record(
            db,
            admin,
            pid,
            "ae",
            AdverseEventIn(
                reported_term="Rash",
                ctcae_term="Rash maculo-papular",
                grade=2,
                start_date=dt.date(2014, 3, 1),
            ),
            TODAY,
        )
        values = {**service.snapshot(patient)}
        form = PatientIn(
            **{k: values[k] for k in PatientIn.model_fields if k in values and k != "site_code"}
            | {"age": patient.age + 1}
        )
        service.update_patient(db, admin, pid, patient.version, "age mis-typed", form, TODAY)
    out = sdtm_from_url(study.url)
    ae = out["AE"].frame.filter(pl.col("USUBJID") == usubjid)
    assert ae.height == sdtm["AE"].frame.filter(pl.col("USUBJID") == usubjid).height + 1
    assert ae.filter(pl.col("AETERM") == "Rash")["AESEQ"].to_list() == [last_seq + 1]
    assert ae["AESEQ"].n_unique() == ae.height
    dm = out["DM"].frame.filter(pl.col("USUBJID") == usubjid)
    original = sdtm["DM"].frame.filter(pl.col("USUBJID") == usubjid)
    assert dm["AGE"][0] == original["AGE"][0] + 1
    assert dm["RACE"][0] == original["RACE"][0]  # what the form does not own is kept


def test_a_soft_deleted_transferred_row_leaves_the_export(study: Study) -> None:
    sdtm = subset(1)
    load_sdtm(study.url, sdtm, transfer=TRANSFER, today=TODAY)
    with study.sessions() as db:
        rid = db.scalars(
            select(TransferredRecord.id).where(TransferredRecord.domain == "CM")
        ).first()
    with pytest.raises(EapError, match="needs a reason"), study.sessions.begin() as db:
        record = db.get(TransferredRecord, rid)
        assert record is not None
        set_actor(db, "dm")
        record.deleted = True
    with study.sessions.begin() as db:
        record = db.get(TransferredRecord, rid)
        assert record is not None
        set_actor(db, "dm", "duplicate of another transfer row")
        record.deleted, record.deleted_reason = True, "duplicate of another transfer row"
    with study.sessions() as db:
        out = sdtm_from_store(db)
    assert out["CM"].n_rows == sdtm["CM"].n_rows - 1


def test_a_subject_missing_from_dm_stops_the_load_and_stores_nothing(study: Study) -> None:
    sdtm = subset(2)
    ae = sdtm["AE"].frame.with_columns(
        pl.when(pl.col("AESEQ") == 2)
        .then(pl.lit("MM024-99-9999"))
        .otherwise("USUBJID")
        .alias("USUBJID")
    )
    with pytest.raises(EapError, match=r"AE\.USUBJID \(rows? .*\): subjects not in DM"):
        load_sdtm(study.url, replaced(sdtm, "AE", ae), transfer=TRANSFER, today=TODAY)
    assert _count(study, Patient) == 0 and _count(study, TransferredRecord) == 0


def test_a_decision_other_than_armcd_is_refused(study: Study) -> None:
    sdtm = subset(2)
    dm = sdtm["DM"].frame.with_columns(pl.lit("SFU").alias("ARMCD"))
    with pytest.raises(EapError, match="rollover decision differs from ARMCD") as err:
        load_sdtm(study.url, replaced(sdtm, "DM", dm), transfer=TRANSFER, today=TODAY)
    assert "DM.ARMCD (row 1)" in str(err.value)
    assert _count(study, Patient) == 0


def test_a_missing_baseline_weight_names_the_subject(study: Study) -> None:
    sdtm = subset(1)
    vs = sdtm["VS"].frame.with_columns(pl.lit(None, dtype=pl.String).alias("VSBLFL"))
    with pytest.raises(
        EapError, match=r"VS\.VSSTRESN \(row 1\): subject .* has no baseline weight"
    ):
        load_sdtm(study.url, replaced(sdtm, "VS", vs), transfer=TRANSFER, today=TODAY)


def test_registration_facts_follow_the_documented_rules() -> None:
    facts = {r["USUBJID"]: r for r in registration_facts(cohort()).iter_rows(named=True)}
    dm = cohort()["DM"].frame
    tp = dm.filter(pl.col("ARMCD") == "TP").row(0, named=True)
    sfu = dm.filter(pl.col("ARMCD") == "SFU").row(0, named=True)
    assert facts[tp["USUBJID"]]["ASSESSDTC"] == tp["RFICDTC"]
    assert facts[tp["USUBJID"]]["STOPDTC"] is None and facts[tp["USUBJID"]]["CARRYDOSE"] > 0
    assert facts[sfu["USUBJID"]]["STOPDECOD"] is not None
    assert facts[sfu["USUBJID"]]["STOPDTC"] <= sfu["RFICDTC"]


def test_loading_in_a_session_rolls_back_with_the_caller(study: Study) -> None:
    with pytest.raises(RuntimeError), study.sessions.begin() as db:
        load_sdtm_session(db, subset(1), transfer=TRANSFER, today=TODAY)
        raise RuntimeError("the caller fails after the load")
    assert _count(study, Patient) == 0 and _count(study, TransferredRecord) == 0


def test_a_death_in_the_transfer_guards_later_entries(study: Study) -> None:
    from eap.errors import EditCheckError
    from eap.store.schemas import DeathIn, VisitIn

    dm = cohort()["DM"].frame
    dead = dm.filter(pl.col("DTHFL") == "Y").row(0, named=True)
    load_sdtm(study.url, only([dead["USUBJID"]]), transfer=TRANSFER, today=TODAY)
    died = dt.date.fromisoformat(dead["DTHDTC"])
    admin = study.actors["admin"]
    with study.sessions.begin() as db:
        pid = db.scalars(select(Patient.id)).one()
        with pytest.raises(EditCheckError) as visit:
            service.add_record(
                db, admin, pid, "visits", VisitIn(visit_date=died + dt.timedelta(days=3)), TODAY
            )
        assert f"after death (died {died})" in str(visit.value.errors)
        with pytest.raises(EditCheckError) as death:
            service.add_record(db, admin, pid, "death", DeathIn(death_date=died, cause="x"), TODAY)
        assert "a data transfer already reports this death" in str(death.value.errors)
        assert service.death_date(db, pid) == died


def test_transferred_visits_of_every_epoch_fill_the_schedule(study: Study) -> None:
    from eap.protocol import VisitStatus

    sdtm = subset(2)
    load_sdtm(study.url, sdtm, transfer=TRANSFER, today=TODAY)
    sfu = sdtm["DM"].frame.filter(pl.col("ARMCD") == "SFU")["USUBJID"].implode()
    usubjid = sdtm["SV"].frame.filter(
        (pl.col("EPOCH") == "FOLLOW-UP") & pl.col("USUBJID").is_in(sfu)
    )["USUBJID"][0]
    # Every SV row is a contact, cycle visits of the parent trial included; the
    # schedule keeps those after the rollover assessment.
    sv = sdtm["SV"].frame.filter(pl.col("USUBJID") == usubjid)
    with study.sessions() as db:
        patient = db.scalars(select(Patient).where(Patient.usubjid == usubjid)).one()
        dates = service.contact_dates(db, patient.id)
        assert dates == sorted({dt.date.fromisoformat(d) for d in sv["SVSTDTC"]})
        schedule = service.schedule(db, patient, dt.date(2014, 11, 5))
        assert schedule is not None
        done = [v for v in schedule.visits if v.visit_date is not None]
        follow_up = sv.filter(pl.col("EPOCH") == "FOLLOW-UP")["SVSTDTC"].to_list()
        assert [v.visit_date.isoformat() for v in done if v.visit_date] == follow_up
        # The virtual cohort's visits keep the protocol's 4-month windows.
        assert [v.status for v in done] == [VisitStatus.DONE_IN_WINDOW] * len(follow_up)

"""From the study database to SDTM: DM, EX, AE, DS and SV (what ``eap export`` writes).

Soft-deleted patients and records are left out; every other value is the
current value of the store. Mapping rules:

* DM: RFSTDTC/RFICDTC = rollover assessment date (EAP entry, consent confirmed then);
  RFXSTDTC/RFXENDTC = first cycle start / last cycle's day 21; RFENDTC = last
  recorded date, also RFPENDTC; RACE is not collected (a validator warning);
  ARMCD = the rollover decision (TRT, SFU, NOTELIG); COUNTRY = CHN (all MM-024
  hospitals are in China).
* EX: one row per recorded cycle of lenalidomide, days 1-21 (EXENDTC = start + 20
  days), EXDOSFRQ QD or QOD, EXADJ = reason of an interruption or reduction.
* AE: AETERM = AEDECOD = the reported term (MedDRA is licensed and not shipped);
  AELLT = the CTCAE v4.03 term used for grading (CTCAE terms are MedDRA lowest
  level terms); AEBODSYS = AESOC = its SOC; AETOXGR = grade; AESCAN = Y for a
  second primary malignancy.
* DS: a discontinuation of Rd and a death are disposition events.
* SV: one row per follow-up visit, VISITNUM 101, 102, ... in date order.

A domain without records is not written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from eap.datasets import specs
from eap.datasets.io import write_dataset
from eap.datasets.model import ColumnMeta, Dataset
from eap.store.db import make_engine, make_sessionmaker
from eap.store.models import (
    AdverseEvent,
    Death,
    Discontinuation,
    DosingRecord,
    Patient,
    Site,
    Visit,
)
from eap.store.service import protocol

COUNTRY = "CHN"
ARMS = {
    "treatment": ("TRT", "Treatment Phase"),
    "safety_follow_up": ("SFU", "Safety Follow-Up Phase"),
    "not_eligible": ("NOTELIG", "Not eligible"),
}
DS_DECOD = {
    "toxicity": "ADVERSE EVENT",
    "progression": "PROGRESSIVE DISEASE",
    "patient_withdrawal": "WITHDRAWAL BY SUBJECT",
    "physician_decision": "PHYSICIAN DECISION",
    "lost_to_follow_up": "LOST TO FOLLOW-UP",
    "other": "OTHER",
}
LENALIDOMIDE_DAYS = 21


def _iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d else None


def _dataset(name: str, rows: list[dict[str, Any]]) -> Dataset:
    """A dataset with the spec's variables in spec order, labels and kinds."""
    spec = specs.get(name)
    assert spec is not None
    present = [v for v in spec.variables if any(v.name in r for r in rows) or v.core == "Req"]
    dtypes = {"string": pl.String, "double": pl.Float64, "integer": pl.Int64}
    schema = {v.name: dtypes.get(v.kind, pl.String) for v in present}
    frame = pl.DataFrame(
        [{v.name: r.get(v.name) for v in present} for r in rows], schema=schema, orient="row"
    )
    meta = {v.name: ColumnMeta(name=v.name, label=v.label, kind=v.kind) for v in present}
    return Dataset.from_frame(name, frame, label=spec.label, meta=meta)


def _live(db: Session, model: type[Any], patient_ids: Iterable[int]) -> list[Any]:
    ids = list(patient_ids)
    if not ids:
        return []
    stmt = (
        select(model)
        .where(model.patient_id.in_(ids), model.deleted.is_(False))
        .order_by(model.patient_id, model.id)
    )
    return list(db.scalars(stmt))


def sdtm_from_store(db: Session) -> dict[str, Dataset]:
    """The SDTM datasets of every (not deleted) patient in the store."""
    study = protocol().study.id
    patients = list(
        db.scalars(select(Patient).where(Patient.deleted.is_(False)).order_by(Patient.usubjid))
    )
    by_id = {p.id: p for p in patients}
    sites = {s.id: s.code for s in db.scalars(select(Site))}
    doses = _live(db, DosingRecord, by_id)
    aes = _live(db, AdverseEvent, by_id)
    visits = _live(db, Visit, by_id)
    deaths = {d.patient_id: d for d in _live(db, Death, by_id)}
    stops = {s.patient_id: s for s in _live(db, Discontinuation, by_id)}

    def common(p: Patient, domain: str) -> dict[str, Any]:
        return {"STUDYID": study, "DOMAIN": domain, "USUBJID": p.usubjid}

    ex_rows: list[dict[str, Any]] = []
    seq: dict[int, int] = {}
    for r in sorted(doses, key=lambda r: (by_id[r.patient_id].usubjid, r.start_date)):
        p = by_id[r.patient_id]
        seq[p.id] = seq.get(p.id, 0) + 1
        ex_rows.append(
            {
                **common(p, "EX"),
                "EXSEQ": seq[p.id],
                "EXTRT": "LENALIDOMIDE",
                "EXDOSE": float(r.dose),
                "EXDOSU": "mg",
                "EXDOSFRM": "CAPSULE",
                "EXDOSFRQ": "QD" if r.frequency == "daily" else "QOD",
                "EXROUTE": "ORAL",
                "EXADJ": r.adjustment_reason if (r.interrupted or r.reduced) else None,
                "VISITNUM": float(r.cycle),
                "VISIT": f"CYCLE {r.cycle}",
                "EPOCH": "TREATMENT",
                "EXSTDTC": _iso(r.start_date),
                "EXENDTC": _iso(r.start_date + dt.timedelta(days=LENALIDOMIDE_DAYS - 1)),
            }
        )

    ae_rows: list[dict[str, Any]] = []
    seq = {}
    for a in sorted(aes, key=lambda a: (by_id[a.patient_id].usubjid, a.start_date, a.id)):
        p = by_id[a.patient_id]
        seq[p.id] = seq.get(p.id, 0) + 1
        ae_rows.append(
            {
                **common(p, "AE"),
                "AESEQ": seq[p.id],
                "AESPID": str(a.id),
                "AETERM": a.reported_term,
                "AELLT": a.ctcae_term,
                "AEDECOD": a.reported_term,
                "AEBODSYS": a.soc,
                "AESOC": a.soc,
                "AESER": "Y" if a.serious else "N",
                "AEACN": a.action,
                "AEREL": a.related,
                "AEOUT": a.outcome,
                "AESCAN": "Y" if a.spm else "N",
                "AESDTH": "Y" if a.grade == 5 else "N",
                "AETOXGR": str(a.grade),
                "AESTDTC": _iso(a.start_date),
                "AEENDTC": _iso(a.end_date),
            }
        )

    sv_rows: list[dict[str, Any]] = []
    count: dict[int, int] = {}
    for v in sorted(visits, key=lambda v: (by_id[v.patient_id].usubjid, v.visit_date)):
        p = by_id[v.patient_id]
        count[p.id] = count.get(p.id, 0) + 1
        sv_rows.append(
            {
                **common(p, "SV"),
                "VISITNUM": float(100 + count[p.id]),
                "VISIT": f"FOLLOW-UP {count[p.id]}",
                "EPOCH": "FOLLOW-UP",
                "SVSTDTC": _iso(v.visit_date),
                "SVENDTC": _iso(v.visit_date),
            }
        )

    ds_rows: list[dict[str, Any]] = []
    dm_rows: list[dict[str, Any]] = []
    for p in patients:
        n = 0
        stop = stops.get(p.id)
        death = deaths.get(p.id)
        if stop is not None:
            n += 1
            ds_rows.append(
                {
                    **common(p, "DS"),
                    "DSSEQ": n,
                    "DSTERM": stop.details or stop.reason.replace("_", " ").upper(),
                    "DSDECOD": DS_DECOD[stop.reason],
                    "DSCAT": "DISPOSITION EVENT",
                    "DSSCAT": "STUDY TREATMENT",
                    "EPOCH": "TREATMENT",
                    "DSSTDTC": _iso(stop.discontinuation_date),
                }
            )
        if death is not None:
            n += 1
            ds_rows.append(
                {
                    **common(p, "DS"),
                    "DSSEQ": n,
                    "DSTERM": f"DEATH: {death.cause}",
                    "DSDECOD": "DEATH",
                    "DSCAT": "DISPOSITION EVENT",
                    "DSSCAT": "STUDY PARTICIPATION",
                    "EPOCH": "FOLLOW-UP",
                    "DSSTDTC": _iso(death.death_date),
                }
            )
        mine = [r for r in doses if r.patient_id == p.id]
        starts = sorted(r.start_date for r in mine)
        last_dose_end = starts[-1] + dt.timedelta(days=LENALIDOMIDE_DAYS - 1) if starts else None
        dates = [p.assessment_date, *starts]
        dates += [v.visit_date for v in visits if v.patient_id == p.id]
        dates += [a.end_date or a.start_date for a in aes if a.patient_id == p.id]
        if death:
            dates.append(death.death_date)
        if stop:
            dates.append(stop.discontinuation_date)
        armcd, arm = ARMS[p.outcome]
        dm_rows.append(
            {
                **common(p, "DM"),
                "SUBJID": p.subjid,
                "RFSTDTC": _iso(p.assessment_date),
                "RFENDTC": _iso(max(dates)),
                "RFPENDTC": _iso(max(dates)),
                "RFXSTDTC": _iso(starts[0]) if starts else None,
                "RFXENDTC": _iso(last_dose_end),
                "RFICDTC": _iso(p.assessment_date) if p.consent_signed else None,
                "DTHDTC": _iso(death.death_date) if death else None,
                "DTHFL": "Y" if death else None,
                "SITEID": sites[p.site_id],
                "AGE": float(p.age),
                "AGEU": "YEARS",
                "SEX": p.sex,
                "ARMCD": armcd,
                "ARM": arm,
                "ACTARMCD": armcd,
                "ACTARM": arm,
                "COUNTRY": COUNTRY,
            }
        )
    return {
        "DM": _dataset("DM", dm_rows),
        "EX": _dataset("EX", ex_rows),
        "AE": _dataset("AE", ae_rows),
        "DS": _dataset("DS", ds_rows),
        "SV": _dataset("SV", sv_rows),
    }


def export_sdtm(url: str, out: Path, *, fmt: str = "xpt") -> list[Path]:
    """Write the store's SDTM datasets into ``out`` (one file per domain)."""
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as db:
            datasets = sdtm_from_store(db)
    finally:
        engine.dispose()
    out.mkdir(parents=True, exist_ok=True)
    # A domain with no records is not written: SDTM submits no empty datasets (and a
    # file left from an earlier export of the same folder would be stale, so it goes).
    written: list[Path] = []
    for name, ds in datasets.items():
        target = out / f"{name.lower()}.{fmt}"
        if ds.n_rows == 0:
            target.unlink(missing_ok=True)
            continue
        written.append(write_dataset(ds, target, format=fmt))  # type: ignore[arg-type]
    return written

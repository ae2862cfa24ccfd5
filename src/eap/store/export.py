"""From the study database to SDTM: DM, EX, AE, DS and SV (what ``eap export`` writes).

Soft-deleted patients and records are left out; every other value is the
current value of the store. Mapping rules:

* DM: RFSTDTC/RFICDTC = rollover assessment date (EAP entry, consent confirmed then);
  RFXSTDTC/RFXENDTC = first cycle start / last cycle's day 21; RFENDTC = last
  recorded date, also RFPENDTC; RACE is not collected (a validator warning);
  ARMCD = the rollover decision (TP, SFU, NOTELIG: the codes eap.derive reads);
  COUNTRY = CHN (all MM-024 hospitals are in China).
* EX: one row per recorded cycle of lenalidomide, days 1-21 (EXENDTC = start + 20
  days), EXDOSFRQ QD or QOD, EXADJ = reason of an interruption or reduction.
* AE: AETERM = AEDECOD = the reported term (MedDRA is licensed and not shipped);
  AELLT = the CTCAE v4.03 term used for grading (CTCAE terms are MedDRA lowest
  level terms); AEBODSYS = AESOC = its SOC; AETOXGR = grade; AESCAN = Y for a
  second primary malignancy.
* DS: a discontinuation of Rd and a death are disposition events.
* SV: one row per follow-up visit, VISITNUM 101, 102, ... in date order.

Records loaded from a data transfer (``eap db load``) are written as received,
in the order received, ahead of the form-captured records of the same domain,
whose --SEQ continue after the subject's transferred ones. A loaded patient's DM
row is the transferred one with what the registration form owns laid over it
(SITEID, SEX, AGE; DTHDTC and DTHFL once a death is recorded). Columns follow the
transfer's order, then the specification's for variables only the forms fill.

A domain without records is not written.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from eap.datasets import specs
from eap.datasets.io import write_dataset
from eap.datasets.model import Dataset
from eap.datasets.specs import spec_dataset
from eap.errors import EapError
from eap.store.db import make_engine, make_sessionmaker, normalize_url
from eap.store.models import (
    AdverseEvent,
    Death,
    Discontinuation,
    DosingRecord,
    Patient,
    Site,
    TransferredRecord,
    Visit,
)
from eap.store.service import protocol

COUNTRY = "CHN"
ARMS = {
    "treatment": ("TP", "Treatment Phase"),
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


def _dataset(name: str, rows: list[dict[str, Any]], received: list[str]) -> Dataset:
    """A dataset of ``rows``: the transfer's variables in its order, then the spec's.

    Without a transfer the spec's required variables are always present.
    """
    spec = specs.get(name)
    names = list(received)
    for v in spec.variables if spec else ():
        wanted = any(v.name in r for r in rows) or (v.core == "Req" and not received)
        if wanted and v.name not in names:
            names.append(v.name)
    dtypes = {"string": pl.String, "double": pl.Float64, "integer": pl.Int64}
    declared = {n: spec.variable(n) if spec else None for n in names}
    schema = {n: dtypes[var.kind] if var else None for n, var in declared.items()}
    columns = {
        n: pl.Series(n, [r.get(n) for r in rows], dtype=schema[n], strict=False) for n in names
    }
    return spec_dataset(name, pl.DataFrame(columns) if names else pl.DataFrame())


def _transferred(
    db: Session, patient_ids: Iterable[int]
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[str]]]:
    """Live transferred rows by domain in the order received, and each domain's variables."""
    rows: dict[str, list[dict[str, Any]]] = {}
    order: dict[str, list[str]] = {}
    for r in _live(db, TransferredRecord, patient_ids, by=TransferredRecord.id):
        row = json.loads(r.row)
        rows.setdefault(r.domain, []).append(row)
        seen = order.setdefault(r.domain, [])
        seen.extend(k for k in row if k not in seen)
    return rows, order


def _live(db: Session, model: type[Any], patient_ids: Iterable[int], by: Any = None) -> list[Any]:
    ids = list(patient_ids)
    if not ids:
        return []
    stmt = (
        select(model)
        .where(model.patient_id.in_(ids), model.deleted.is_(False))
        .order_by(*((by,) if by is not None else (model.patient_id, model.id)))
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
    received, order = _transferred(db, by_id)

    def last(domain: str, variable: str) -> dict[str, float]:
        """Each subject's highest ``variable`` among the transferred rows of ``domain``."""
        top: dict[str, float] = {}
        for r in received.get(domain, []):
            if r.get(variable) is not None:
                top[r["USUBJID"]] = max(top.get(r["USUBJID"], 0), r[variable])
        return top

    def common(p: Patient, domain: str) -> dict[str, Any]:
        return {"STUDYID": study, "DOMAIN": domain, "USUBJID": p.usubjid}

    ex_rows: list[dict[str, Any]] = []
    after = last("EX", "EXSEQ")
    seq: dict[int, int] = {}
    for r in sorted(doses, key=lambda r: (by_id[r.patient_id].usubjid, r.start_date)):
        p = by_id[r.patient_id]
        seq[p.id] = seq.get(p.id, int(after.get(p.usubjid, 0))) + 1
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
    after = last("AE", "AESEQ")
    seq = {}
    for a in sorted(aes, key=lambda a: (by_id[a.patient_id].usubjid, a.start_date, a.id)):
        p = by_id[a.patient_id]
        seq[p.id] = seq.get(p.id, int(after.get(p.usubjid, 0))) + 1
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
    after = last("SV", "VISITNUM")
    count: dict[int, int] = {}
    for v in sorted(visits, key=lambda v: (by_id[v.patient_id].usubjid, v.visit_date)):
        p = by_id[v.patient_id]
        count[p.id] = count.get(p.id, 0) + 1
        sv_rows.append(
            {
                **common(p, "SV"),
                "VISITNUM": float(max(100, after.get(p.usubjid, 0)) + count[p.id]),
                "VISIT": f"FOLLOW-UP {count[p.id]}",
                "EPOCH": "FOLLOW-UP",
                "SVSTDTC": _iso(v.visit_date),
                "SVENDTC": _iso(v.visit_date),
            }
        )

    ds_rows: list[dict[str, Any]] = []
    dm_rows: list[dict[str, Any]] = []
    after = last("DS", "DSSEQ")
    loaded_dm = {r["USUBJID"]: r for r in received.get("DM", [])}
    for p in patients:
        n = int(after.get(p.usubjid, 0))
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
        if p.usubjid in loaded_dm:
            loaded_dm[p.usubjid].update(
                {"SITEID": sites[p.site_id], "SEX": p.sex, "AGE": float(p.age)}
                | ({"DTHDTC": _iso(death.death_date), "DTHFL": "Y"} if death else {})
            )
            continue
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
    captured = {"DM": dm_rows, "EX": ex_rows, "AE": ae_rows, "DS": ds_rows, "SV": sv_rows}
    out: dict[str, Dataset] = {}
    for name in (*captured, *(d for d in received if d not in captured)):
        out[name] = _dataset(
            name, received.get(name, []) + captured.get(name, []), order.get(name, [])
        )
    return out


def sdtm_from_url(url: str) -> dict[str, Dataset]:
    """:func:`sdtm_from_store` of the database at ``url`` (what ``--db`` reads)."""
    parsed = make_url(normalize_url(url))
    shown = parsed.render_as_string(hide_password=True)
    sqlite_file = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if sqlite_file and sqlite_file != ":memory:" and not Path(sqlite_file).is_file():
        raise EapError("no such study database file", file=parsed.database)
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as db:
            datasets = sdtm_from_store(db)
    except SQLAlchemyError as exc:
        raise EapError(
            "cannot read the study database",
            file=shown,
            expected="a database made by eap db init",
            found=str(exc.orig if isinstance(exc, DBAPIError) else exc).splitlines()[0],
        ) from exc
    finally:
        engine.dispose()
    if datasets["DM"].n_rows == 0:
        raise EapError(
            "the study database has no patients",
            file=shown,
            expected="registered or loaded patients (eap db load, or the web application)",
        )
    return datasets


def export_sdtm(url: str, out: Path, *, fmt: str = "xpt") -> list[Path]:
    """Write the store's SDTM datasets into ``out`` (one file per domain)."""
    datasets = sdtm_from_url(url)
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

"""Loading a data transfer into the study database (what ``eap db load`` and ``eap demo`` call).

An extended-access program starts with patients it did not capture from the
first day: their parent-trial demographics, Rd dosing since MM-021 enrollment,
responses, history and medications arrive as SDTM. Loading does two things:

* each DM subject becomes a registered patient (site, sex, age, weight, serum
  creatinine, consent, lenalidomide start, parent-trial stop or progression), and
  the protocol's rollover decision and starting dose are derived as at a site's
  registration, through the same edit checks; a decision that differs from the
  transfer's ARMCD is an error, since the two would then describe different
  programs;
* every row of every domain, DM included, is kept as received
  (:class:`~eap.store.models.TransferredRecord`), audited like a form's record.

Rules for the registration facts, all as of the rollover assessment:

* assessment date = RFICDTC (consent to the program), else RFSTDTC; consent
  signed when RFICDTC is present;
* weight = the baseline VS WEIGHT (VSBLFL = Y); creatinine = the baseline LB CREAT
  (LBBLFL = Y) with its unit (mg/dL or umol/L);
* lenalidomide start = the first LENALIDOMIDE EXSTDTC, else RFXSTDTC;
* parent-trial stop = the first DS END OF TREATMENT record on or before the
  assessment, its reason from DSDECOD; a stop for PROGRESSIVE DISEASE is also the
  progression;
* carried-over dose = the last lenalidomide record starting on or before the
  assessment, for a patient still on Rd.

The transfer's data cutoff is the latest complete date in any ``--DTC`` variable of
any of its rows (what a study without a declared cutoff takes: the latest date in
the data). It is stored with the transfer's name (:class:`DataTransfer`), and a
loaded patient's follow-up schedule is judged as of it.

Everything is checked before anything is stored (:func:`plan_load`). Then
:func:`load_sdtm` commits the patients in batches, each with all its rows, their trail
and the load's progress (:class:`~eap.store.models.DataLoad`, keyed by the source's
SHA-256): an interrupted load leaves whole batches, and a rerun of the same source
continues after the last one. :func:`load_sdtm_session` stores everything in the
caller's transaction instead.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from eap.datasets.model import Dataset
from eap.errors import EapError, EditCheckError
from eap.protocol import Outcome
from eap.store.audit import append, lock_chain, serialize, set_actor
from eap.store.bulk import bulk_insert
from eap.store.db import make_engine, make_sessionmaker
from eap.store.models import DataLoad, DataTransfer, Patient, Site, TransferredRecord, utcnow
from eap.store.service import check_patient
from eap.store.users import add_site

LOADER = "eap-transfer"
# ARMCD of the virtual cohort and of eap's own export, by rollover outcome.
ARMCD_OUTCOME = {
    "TP": Outcome.TREATMENT.value,
    "SFU": Outcome.SAFETY_FOLLOW_UP.value,
    "NOTELIG": Outcome.NOT_ELIGIBLE.value,
}
# DS DSDECOD of a parent-trial stop -> the registration's discontinuation reason.
STOP_REASON = {
    "ADVERSE EVENT": "toxicity",
    "PROGRESSIVE DISEASE": "progression",
    "WITHDRAWAL BY SUBJECT": "patient_withdrawal",
    "PHYSICIAN DECISION": "physician_decision",
    "LOST TO FOLLOW-UP": "lost_to_follow_up",
}
FREQUENCY = {"QD": "daily", "QOD": "every_other_day"}


@dataclass(frozen=True)
class LoadSummary:
    """What a load stored."""

    patients: int
    records: dict[str, int]
    sites_added: tuple[str, ...]
    #: Patients an interrupted load of the same source had committed before this run.
    resumed_from: int = 0


def _date(value: str | None) -> dt.date | None:
    """The complete date of ISO 8601 text; None when partial or no date (2014-02-30)."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def data_cutoff(sdtm: Mapping[str, Dataset]) -> dt.date | None:
    """The latest complete date in any --DTC variable of any row (None without one)."""
    latest: dt.date | None = None
    for ds in sdtm.values():
        for name in ds.frame.columns:
            if not name.endswith("DTC") or ds.frame.schema[name] != pl.String:
                continue
            # A partial date (2014-03) or an impossible one is no evidence of a day.
            days = ds.frame[name].str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
            day = days.max()
            if isinstance(day, dt.date) and (latest is None or day > latest):
                latest = day
    return latest


def _require(sdtm: Mapping[str, Dataset], name: str, columns: tuple[str, ...]) -> pl.DataFrame:
    if name not in sdtm:
        raise EapError("the transfer has no such dataset", dataset=name, expected=f"{name}")
    frame = sdtm[name].frame
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise EapError(
            "required variables are missing",
            dataset=name,
            expected=", ".join(columns),
            found=", ".join(frame.columns),
        )
    return frame


def _baseline(frame: pl.DataFrame, prefix: str, test: str, unit: bool) -> pl.DataFrame:
    cols = [pl.col(f"{prefix}STRESN").alias(test)]
    if unit:
        cols.append(pl.col(f"{prefix}STRESU").alias(f"{test}_UNIT"))
    return (
        frame.filter((pl.col(f"{prefix}TESTCD") == test) & (pl.col(f"{prefix}BLFL") == "Y"))
        .group_by("USUBJID", maintain_order=True)
        .first()
        .select("USUBJID", *cols)
    )


def registration_facts(sdtm: Mapping[str, Dataset]) -> pl.DataFrame:
    """One row per DM subject with the facts a site enters at registration (rules above)."""
    dm = _require(sdtm, "DM", ("USUBJID", "SUBJID", "SITEID", "SEX", "AGE"))
    vs = _require(sdtm, "VS", ("USUBJID", "VSTESTCD", "VSSTRESN", "VSBLFL"))
    lb = _require(sdtm, "LB", ("USUBJID", "LBTESTCD", "LBSTRESN", "LBSTRESU", "LBBLFL"))
    ex = _require(sdtm, "EX", ("USUBJID", "EXTRT", "EXDOSE", "EXDOSFRQ", "EXSTDTC"))
    facts = dm.with_row_index("ROW", offset=1).with_columns(
        # The date part only: a time of day must not move a record across the assessment.
        pl.coalesce(*(pl.col(c) for c in ("RFICDTC", "RFSTDTC") if c in dm.columns), pl.lit(None))
        .str.slice(0, 10)
        .alias("ASSESSDTC"),
        (pl.col("RFICDTC").is_not_null() if "RFICDTC" in dm.columns else pl.lit(False)).alias(
            "CONSENT"
        ),
    )
    lena = ex.filter(pl.col("EXTRT") == "LENALIDOMIDE").sort("USUBJID", "EXSTDTC")
    first = lena.group_by("USUBJID").agg(pl.col("EXSTDTC").min().alias("LENASTDTC"))
    carried = (
        lena.join(facts.select("USUBJID", "ASSESSDTC"), on="USUBJID")
        .filter(pl.col("EXSTDTC").str.slice(0, 10) <= pl.col("ASSESSDTC"))
        .group_by("USUBJID", maintain_order=True)
        .last()
        .select(
            "USUBJID", pl.col("EXDOSE").alias("CARRYDOSE"), pl.col("EXDOSFRQ").alias("CARRYFRQ")
        )
    )
    stops = pl.DataFrame(
        schema={"USUBJID": pl.String, "STOPDTC": pl.String, "STOPDECOD": pl.String}
    )
    if "DS" in sdtm:
        ds = _require(sdtm, "DS", ("USUBJID", "DSDECOD", "DSSCAT", "DSSTDTC"))
        stops = (
            ds.filter(pl.col("DSSCAT") == "END OF TREATMENT")
            .join(facts.select("USUBJID", "ASSESSDTC"), on="USUBJID")
            .filter(pl.col("DSSTDTC").str.slice(0, 10) <= pl.col("ASSESSDTC"))
            .sort("USUBJID", "DSSTDTC")
            .group_by("USUBJID", maintain_order=True)
            .first()
            .select(
                "USUBJID", pl.col("DSSTDTC").alias("STOPDTC"), pl.col("DSDECOD").alias("STOPDECOD")
            )
        )
    return (
        facts.join(_baseline(vs, "VS", "WEIGHT", unit=False), on="USUBJID", how="left")
        .join(_baseline(lb, "LB", "CREAT", unit=True), on="USUBJID", how="left")
        .join(first, on="USUBJID", how="left")
        .join(carried, on="USUBJID", how="left")
        .join(stops, on="USUBJID", how="left")
    )


def _missing(row: dict[str, Any], what: str, dataset: str, variable: str) -> EapError:
    return EapError(
        f"subject {row['USUBJID']} has no {what}",
        dataset=dataset,
        variable=variable,
        rows=[row["ROW"]],
        expected=f"a {what} to register the patient",
    )


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def patient_values(row: dict[str, Any]) -> dict[str, Any]:
    """The registration form's values of one subject, from :func:`registration_facts`."""
    assessed = _date(row["ASSESSDTC"])
    if assessed is None:
        raise _missing(row, "rollover assessment date", "DM", "RFICDTC")
    if not _finite(row["WEIGHT"]):
        raise _missing(row, "baseline weight", "VS", "VSSTRESN")
    if not _finite(row["CREAT"]):
        raise _missing(row, "baseline serum creatinine", "LB", "LBSTRESN")
    start = _date(row["LENASTDTC"]) or _date(row.get("RFXSTDTC"))
    if start is None:
        raise _missing(row, "lenalidomide start", "EX", "EXSTDTC")
    if not _finite(row["AGE"]):
        raise _missing(row, "age", "DM", "AGE")
    unit = row["CREAT_UNIT"]
    if unit not in ("mg/dL", "umol/L"):
        raise EapError(
            "creatinine unit not recognized",
            dataset="LB",
            variable="LBSTRESU",
            expected="mg/dL or umol/L",
            found=str(unit),
        )
    stop = _date(row["STOPDTC"])
    reason = STOP_REASON.get(row["STOPDECOD"] or "", "other") if stop else None
    frequency = FREQUENCY.get(row["CARRYFRQ"] or "")
    on_rd = stop is None and row["CARRYDOSE"] is not None and frequency is not None
    return {
        "subjid": row["SUBJID"],
        "sex": row["SEX"],
        "age": int(row["AGE"]),
        "weight_kg": float(row["WEIGHT"]),
        "creatinine": float(row["CREAT"]),
        "creatinine_unit": unit,
        "assessment_date": assessed,
        "consent_signed": bool(row["CONSENT"]),
        "lenalidomide_start_date": start,
        "progressed": reason == "progression",
        "progression_date": stop if reason == "progression" else None,
        "discontinued": stop is not None,
        "discontinuation_date": stop,
        "discontinuation_reason": reason,
        "hypersensitivity_lenalidomide": False,
        "hypersensitivity_dexamethasone": False,
        "carried_over_dose": float(row["CARRYDOSE"]) if on_rd else None,
        "carried_over_frequency": frequency if on_rd else None,
    }


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def _site_ids(db: Session, codes: list[str], actor: str) -> tuple[dict[str, int], tuple[str, ...]]:
    """Site ids by code; a code the study does not have yet is added (named by its code,
    in the trail as a site created by ``actor``)."""
    sites = {s.code: s for s in db.scalars(select(Site))}
    added = []
    for code in sorted(set(codes) - set(sites)):
        sites[code] = add_site(db, code, f"Site {code}", actor)
        added.append(code)
    return {c: s.id for c, s in sites.items()}, tuple(added)


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Registration:
    """One DM subject's registration: the form's values and what the protocol derives."""

    usubjid: str
    site: str
    values: dict[str, Any]
    derived: dict[str, Any]


@dataclass(frozen=True)
class LoadPlan:
    """Everything a load stores, checked before anything is written.

    Patients are batched in USUBJID order (SDTM's key order). Within a batch each
    domain's rows are stored in the order received, so a load in one batch keeps every
    domain's order exactly, and so does a load in many batches of a transfer sorted by
    subject, as SDTM datasets usually are. ``by_patient[name]`` lists a domain's row
    numbers grouped by patient, and ``bounds[name][i]`` is where patient i starts in it,
    so a batch finds its rows without a pass over the domain.
    """

    patients: tuple[Registration, ...]
    domains: dict[str, pl.DataFrame]
    place: dict[str, npt.NDArray[np.int64]]
    by_patient: dict[str, npt.NDArray[np.int64]]
    bounds: dict[str, npt.NDArray[np.int64]]
    cutoff: dt.date | None

    def batch_rows(self, name: str, first: int, stop: int) -> npt.NDArray[np.int64]:
        """Row numbers of patients ``first``..``stop - 1`` in a domain, in received order."""
        bounds = self.bounds[name]
        return np.sort(self.by_patient[name][bounds[first] : bounds[stop]])


def _check_subjects(sdtm: Mapping[str, Dataset], facts: pl.DataFrame) -> None:
    """Every record has a subject of DM; every DM record has USUBJID and SITEID, once."""
    for variable in ("USUBJID", "SITEID"):
        blank = facts.filter(pl.col(variable).is_null())
        if blank.height:
            raise EapError(
                f"DM records without {variable}",
                dataset="DM",
                variable=variable,
                rows=blank["ROW"].to_list(),
                expected=f"a {variable} on every DM record",
            )
    twice = facts.filter(pl.col("USUBJID").is_duplicated())
    if twice.height:
        raise EapError(
            "a subject has more than one DM record",
            dataset="DM",
            variable="USUBJID",
            rows=twice["ROW"].to_list(),
            expected="one DM record per subject",
            found=", ".join(sorted(set(twice["USUBJID"].cast(pl.String)))[:5]),
        )
    dm_ids = pl.Series(facts["USUBJID"].cast(pl.String)).implode()
    for name, ds in sdtm.items():
        if "USUBJID" not in ds.frame.columns:
            raise EapError("no USUBJID variable", dataset=name, expected="USUBJID")
        subject = pl.col("USUBJID").cast(pl.String)
        rows = ds.frame.with_row_index("ROW", offset=1)
        blank = rows.filter(subject.is_null())
        if blank.height:
            raise EapError(
                "records without a subject",
                dataset=name,
                variable="USUBJID",
                rows=blank["ROW"].to_list(),
                expected="a USUBJID on every record",
            )
        stray = rows.filter(~subject.is_in(dm_ids))
        if stray.height:
            raise EapError(
                "subjects not in DM",
                dataset=name,
                variable="USUBJID",
                rows=stray["ROW"].to_list(),
                found=", ".join(sorted({str(u) for u in stray["USUBJID"]})[:5]),
            )


def registration(row: dict[str, Any], today: dt.date) -> Registration:
    """A DM subject's registration through the site's edit checks; the decision must
    agree with the transfer's ARMCD."""
    values = patient_values(row)
    errors, derived = check_patient(values, today)
    if errors:
        raise EapError(
            "the registration's edit checks fail",
            dataset="DM",
            rows=[row["ROW"]],
            found="; ".join(f"{k}: {v}" for k, v in errors.items()),
        )
    expected = ARMCD_OUTCOME.get(row.get("ARMCD") or "")
    if expected is not None and derived["outcome"] != expected:
        raise EapError(
            f"subject {row['USUBJID']}: the protocol's rollover decision differs from ARMCD",
            dataset="DM",
            variable="ARMCD",
            rows=[row["ROW"]],
            expected=f"{row['ARMCD']} ({expected})",
            found=f"{derived['outcome']}: {'; '.join(json.loads(derived['decision_reasons']))}",
        )
    return Registration(row["USUBJID"], row["SITEID"], values, derived)


def plan_load(sdtm: Mapping[str, Dataset], today: dt.date) -> LoadPlan:
    """Check the whole transfer and lay out what each patient stores (no database)."""
    facts = registration_facts(sdtm)
    _check_subjects(sdtm, facts)
    patients = tuple(
        sorted(
            (registration(row, today) for row in facts.iter_rows(named=True)),
            key=lambda r: r.usubjid,
        )
    )
    place_of = pl.DataFrame(
        {"USUBJID": [p.usubjid for p in patients], "_PLACE": range(len(patients))},
        schema={"USUBJID": pl.String, "_PLACE": pl.Int64},
    )
    place: dict[str, npt.NDArray[np.int64]] = {}
    by_patient: dict[str, npt.NDArray[np.int64]] = {}
    bounds: dict[str, npt.NDArray[np.int64]] = {}
    for name, ds in sdtm.items():
        subject = ds.frame.select(pl.col("USUBJID").cast(pl.String).alias("USUBJID"))
        rows = subject.join(place_of, on="USUBJID", how="left", maintain_order="left")
        place[name] = rows["_PLACE"].to_numpy().astype(np.int64)
        by_patient[name] = np.argsort(place[name], kind="stable")
        bounds[name] = np.searchsorted(
            place[name][by_patient[name]], np.arange(len(patients) + 1)
        ).astype(np.int64)
    domains = {name: ds.frame for name, ds in sdtm.items()}
    return LoadPlan(patients, domains, place, by_patient, bounds, data_cutoff(sdtm))


def source_sha256(sdtm: Mapping[str, Dataset]) -> str:
    """SHA-256 of the transfer's content: each dataset's name and its rows as CSV, in
    name order, written in slices so that no whole-dataset text is held at once.

    A rerun of the same data has the same digest, whatever its files' names, dates or
    format (XPT, Parquet, CSV), so it resumes the load it interrupted.
    """
    digest = hashlib.sha256()
    step = 50_000
    for name in sorted(sdtm):
        frame = sdtm[name].frame
        digest.update(f"{name}\n{','.join(frame.columns)}\n".encode())
        for a in range(0, frame.height, step):
            digest.update(frame.slice(a, step).write_csv(include_header=False).encode())
    return digest.hexdigest()


# --------------------------------------------------------------------------- storing


# The audited fields of a transferred record, in the order the trail records them
# (ClinicalMixin.data(): the table's columns less the bookkeeping ones).
RECORD_FIELDS = tuple(
    c.key for c in TransferredRecord.__table__.columns if c.key not in TransferredRecord.BOOKKEEPING
)


def _record_texts(frame: pl.DataFrame) -> list[str]:
    """Each row as the JSON object kept in ``transferred_records.row``."""
    return [
        json.dumps({k: _json_value(v) for k, v in r.items()}, allow_nan=False)
        for r in frame.iter_rows(named=True)
    ]


def store_records(
    db: Session,
    domain: str,
    frame: pl.DataFrame,
    patient_ids: Sequence[int],
    *,
    transfer: str,
    actor: str,
) -> int:
    """Insert a domain's rows (``patient_ids`` gives each row's patient) and their trail.

    A bulk insert on the session's connection rather than one ORM object per row; the
    trail rows are those the flush events write for a created record (every audited
    field, old value empty), appended by :func:`eap.store.audit.append` in the same
    transaction.
    """
    if frame.height == 0:
        return 0
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {
            "version": 1,
            "deleted": False,
            "deleted_reason": None,
            "created_at": now,
            "created_by": actor,
            "updated_at": now,
            "updated_by": actor,
            "patient_id": pid,
            "domain": domain,
            "row": text,
            "transfer": transfer,
        }
        for pid, text in zip(patient_ids, _record_texts(frame), strict=True)
    ]
    connection = db.connection()
    # Ids are given here, under the chain's lock (which every writer of clinical rows
    # takes first), so the trail can name each record without reading it back.
    lock_chain(connection)
    first = int(connection.execute(select(func.max(TransferredRecord.id))).scalar() or 0) + 1
    ids = range(first, first + len(rows))
    for rid, row in zip(ids, rows, strict=True):
        row["id"] = rid
    bulk_insert(connection, TransferredRecord.__table__, rows)  # type: ignore[arg-type]
    if connection.dialect.name == "postgresql":
        # Keep the id sequence ahead of the ids given here, for records saved later.
        connection.execute(
            text("SELECT setval(pg_get_serial_sequence('transferred_records', 'id'), :last)"),
            {"last": ids[-1]},
        )
    trail = [
        {
            "ts": now,
            "username": actor,
            "action": "create",
            "table_name": TransferredRecord.__tablename__,
            "record_id": rid,
            "patient_id": row["patient_id"],
            "field": name,
            "old_value": None,
            "new_value": serialize(row[name]),
            "reason": None,
        }
        for rid, row in zip(ids, rows, strict=True)
        for name in RECORD_FIELDS
    ]
    append(connection, trail)
    return len(rows)


def store_patients(
    db: Session,
    plan: LoadPlan,
    first: int,
    stop: int,
    *,
    transfer: str,
    username: str,
    site_ids: Mapping[str, int],
) -> dict[str, int]:
    """Register patients ``first``..``stop - 1`` of the plan and keep their rows; the
    records stored per domain."""
    chosen = plan.patients[first:stop]
    patients = [
        Patient(site_id=site_ids[r.site], **r.values, **{**r.derived, "usubjid": r.usubjid})
        for r in chosen
    ]
    db.add_all(patients)
    db.flush()  # the trail of the patients (flush events), and their ids
    ids = np.array([p.id for p in patients], dtype=np.int64)
    counts: dict[str, int] = {}
    for name, frame in plan.domains.items():
        rows = plan.batch_rows(name, first, stop)
        counts[name] = store_records(
            db,
            name,
            frame[rows] if rows.size else frame.clear(),
            ids[plan.place[name][rows] - first].tolist(),
            transfer=transfer,
            actor=username,
        )
    return counts


def _already_there(db: Session, plan: LoadPlan, expected: int) -> None:
    """Refuse subjects the study already has, beyond the first ``expected`` of the plan
    (the patients a resumed load committed itself)."""
    known = set(db.scalars(select(Patient.usubjid)))
    ours = {r.usubjid for r in plan.patients[:expected]}
    rows = {u: i for i, u in enumerate(r.usubjid for r in plan.patients)}
    again = [u for u in rows if u in known and u not in ours]
    if again:
        raise EapError(
            "subjects are already in the study database",
            dataset="DM",
            variable="USUBJID",
            found=", ".join(sorted(again)[:5])
            + (f" and {len(again) - 5} more" if len(again) > 5 else ""),
        )


def _first_batch(
    db: Session, plan: LoadPlan, *, transfer: str, username: str
) -> tuple[dict[str, int], tuple[str, ...]]:
    """What the first batch stores besides patients: new sites and the transfer's cutoff."""
    site_ids, added = _site_ids(db, [r.site for r in plan.patients], username)
    if plan.cutoff is not None:
        db.add(DataTransfer(name=transfer, data_cutoff=plan.cutoff, loaded_by=username))
    return site_ids, added


def load_sdtm_session(
    db: Session,
    sdtm: Mapping[str, Dataset],
    *,
    transfer: str,
    today: dt.date | None = None,
    username: str = LOADER,
    progress: Callable[[str], None] | None = None,
) -> LoadSummary:
    """Register every DM subject and keep every row of ``sdtm`` in the caller's
    transaction (see the module rules); :func:`load_sdtm` commits in batches."""
    say = progress or (lambda _what: None)
    plan = plan_load(sdtm, today or dt.date.today())
    _already_there(db, plan, 0)
    set_actor(db, username)
    say("registering patients")
    site_ids, added = _first_batch(db, plan, transfer=transfer, username=username)
    counts = store_patients(
        db, plan, 0, len(plan.patients), transfer=transfer, username=username, site_ids=site_ids
    )
    return LoadSummary(len(plan.patients), counts, added)


# --------------------------------------------------------------------------- batches

DEFAULT_BATCH_SIZE = 500
RUNNING, COMPLETE = "running", "complete"


@dataclass(frozen=True)
class BatchDone:
    """What :func:`load_sdtm` reports after each committed batch."""

    number: int
    batches: int
    patients_done: int
    patients: int
    resumed_from: int


def _start(db: Session, plan: LoadPlan, digest: str, transfer: str, username: str) -> DataLoad:
    """The load's progress row: a new one, or the interrupted load of the same source."""
    load = db.scalar(select(DataLoad).where(DataLoad.source_sha256 == digest))
    if load is not None and load.status == COMPLETE:
        raise EapError(
            "this transfer is already in the study database: a load of the same data "
            f"completed on {load.updated_at:%Y-%m-%d %H:%M} UTC",
            variable="source SHA-256",
            found=f"{digest} ({load.transfer}, {load.patients} patients)",
        )
    if load is not None and load.patients != len(plan.patients):  # pragma: no cover - same digest
        raise EapError("the recorded load does not match its source", found=digest)
    _already_there(db, plan, 0 if load is None else load.patients_done)
    if load is None:
        load = DataLoad(
            source_sha256=digest,
            transfer=transfer,
            patients=len(plan.patients),
            patients_done=0,
            batches_done=0,
            status=RUNNING,
            loaded_by=username,
        )
        db.add(load)
        db.flush()
    return load


def batch_line(done: BatchDone, seconds: float) -> str:
    """The line ``eap db load`` prints after each committed batch, with the time left
    estimated from this run's pace (patients per second since it started)."""
    this_run = done.patients_done - done.resumed_from
    left = done.patients - done.patients_done
    pace = this_run / seconds if seconds > 0 else 0.0
    eta = f", about {_duration(left / pace)} left" if left and pace > 0 else ""
    return (
        f"batch {done.number}/{done.batches} committed: {done.patients_done:,} of "
        f"{done.patients:,} patients ({_duration(seconds)}{eta})"
    )


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _batch_bounds(done: int, total: int, size: int) -> list[tuple[int, int]]:
    return [(a, min(a + size, total)) for a in range(done, total, size)]


def load_sdtm(
    url: str,
    sdtm: Mapping[str, Dataset],
    *,
    transfer: str,
    today: dt.date | None = None,
    progress: Callable[[str], None] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_batch: Callable[[BatchDone], None] | None = None,
) -> LoadSummary:
    """Load ``sdtm`` into the database at ``url``, committing every ``batch_size`` patients.

    Everything is checked before the first batch (:func:`plan_load`), so a transfer
    with an error stores nothing. Each batch is one transaction: its patients, their
    rows, their trail and the load's progress (:class:`DataLoad`, keyed by
    :func:`source_sha256`) commit together, so an interruption leaves whole batches.
    Run again on the same data, the load continues after the last committed batch; a
    completed load of the same data is refused. ``on_batch`` hears of each commit.
    """
    if batch_size < 1:
        raise EapError(
            "the batch size is a number of patients",
            variable="batch_size",
            expected="1 or more",
            found=str(batch_size),
        )
    say = progress or (lambda _what: None)
    say("checking the transfer")
    plan = plan_load(sdtm, today or dt.date.today())
    digest = source_sha256(sdtm)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    counts = dict.fromkeys(plan.domains, 0)
    added: tuple[str, ...] = ()
    try:
        with factory.begin() as db:
            load = _start(db, plan, digest, transfer, LOADER)
            load_id, done, batches_done = load.id, load.patients_done, load.batches_done
        total = len(plan.patients)
        bounds = _batch_bounds(done, total, batch_size)
        batches = batches_done + len(bounds)
        for a, b in bounds:
            batches_done += 1
            say(f"batch {batches_done}: patients {a + 1}-{b} of {total}")
            with factory.begin() as db:
                set_actor(db, LOADER)
                if a == 0:
                    site_ids, added = _first_batch(db, plan, transfer=transfer, username=LOADER)
                else:
                    site_ids = {s.code: s.id for s in db.scalars(select(Site))}
                stored = store_patients(
                    db, plan, a, b, transfer=transfer, username=LOADER, site_ids=site_ids
                )
                record_progress(db, load_id, b, batches_done, total)
            for name, n in stored.items():
                counts[name] += n
            if on_batch is not None:
                on_batch(BatchDone(batches_done, batches, b, total, done))
    except EditCheckError as exc:
        raise EapError("the transfer does not pass the edit checks", found=str(exc)) from exc
    finally:
        engine.dispose()
    return LoadSummary(total - done, counts, added, done)


def record_progress(
    db: Session, load_id: int, patients_done: int, batches: int, total: int
) -> None:
    """The load's progress, in the batch's own transaction."""
    db.execute(
        update(DataLoad)
        .where(DataLoad.id == load_id)
        .values(
            patients_done=patients_done,
            batches_done=batches,
            status=COMPLETE if patients_done == total else RUNNING,
            updated_at=utcnow(),
        )
    )

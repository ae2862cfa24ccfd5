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

Nothing is stored unless the whole transfer loads: one transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from eap.datasets.model import Dataset
from eap.errors import EapError, EditCheckError
from eap.protocol import Outcome
from eap.store.audit import set_actor
from eap.store.db import make_engine, make_sessionmaker
from eap.store.models import DataTransfer, Patient, Site, TransferredRecord
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


def load_sdtm_session(
    db: Session,
    sdtm: Mapping[str, Dataset],
    *,
    transfer: str,
    today: dt.date | None = None,
    username: str = LOADER,
    progress: Callable[[str], None] | None = None,
) -> LoadSummary:
    """Register every DM subject and keep every row of ``sdtm`` (see the module rules)."""
    today = today or dt.date.today()
    say = progress or (lambda _what: None)
    facts = registration_facts(sdtm)
    known = set(db.scalars(select(Patient.usubjid)))
    again = [r for r in facts.iter_rows(named=True) if r["USUBJID"] in known]
    if again:
        raise EapError(
            "subjects are already in the study database",
            dataset="DM",
            variable="USUBJID",
            rows=[r["ROW"] for r in again],
            found=", ".join(r["USUBJID"] for r in again[:5]),
        )
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
    site_ids, added = _site_ids(db, facts["SITEID"].to_list(), username)
    set_actor(db, username)
    say("registering patients")
    patients: dict[str, Patient] = {}
    for row in facts.iter_rows(named=True):
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
        patients[row["USUBJID"]] = Patient(
            site_id=site_ids[row["SITEID"]], **values, **{**derived, "usubjid": row["USUBJID"]}
        )
    db.add_all(patients.values())
    cutoff = data_cutoff(sdtm)
    if cutoff is not None:
        db.add(DataTransfer(name=transfer, data_cutoff=cutoff, loaded_by=username))
    db.flush()
    patient_ids = {usubjid: p.id for usubjid, p in patients.items()}
    counts: dict[str, int] = {}
    for name, ds in sdtm.items():
        say(f"storing {name}")
        records = [
            TransferredRecord(
                patient_id=patient_ids[r["USUBJID"]],
                domain=name,
                row=json.dumps({k: _json_value(v) for k, v in r.items()}, allow_nan=False),
                transfer=transfer,
            )
            for r in ds.frame.iter_rows(named=True)
        ]
        db.add_all(records)
        db.flush()
        counts[name] = len(records)
    return LoadSummary(len(patient_ids), counts, added)


def load_sdtm(
    url: str,
    sdtm: Mapping[str, Dataset],
    *,
    transfer: str,
    today: dt.date | None = None,
    progress: Callable[[str], None] | None = None,
) -> LoadSummary:
    """:func:`load_sdtm_session` in one transaction on the database at ``url``."""
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine).begin() as db:
            return load_sdtm_session(db, sdtm, transfer=transfer, today=today, progress=progress)
    except EditCheckError as exc:
        raise EapError("the transfer does not pass the edit checks", found=str(exc)) from exc
    finally:
        engine.dispose()

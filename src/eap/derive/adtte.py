"""ADTTE: progression-free survival, time to progression, overall survival, duration of
response and follow-up, from SDTM DM, DS, RS, SV and EX.

The rules are ordered, named event and censoring sources, as data (``PARAMETERS``),
in the manner of admiral's ``derive_param_tte``:

1. Every record dated after the data cutoff is dropped first.
2. Among a parameter's event sources, the earliest date wins (a tie goes to the
   source listed first); an event makes CNSR 0.
3. Without an event, the first censoring source that has a date gives ADT and a
   positive CNSR code (one code per censoring reason).
4. AVAL = (ADT - STARTDT + 1) / 30.4375, in months (a month is 365.25 / 12 days,
   as the MM-024 publication prints 108 weeks as 24.8 months).

Sources (FDA guidance, Clinical Trial Endpoints for the Approval of Cancer Drugs
and Biologics, 2018, censoring table):

* PD: first IMWG overall response "PD" in RS (RSCAT "IMWG", RSTESTCD "OVRLRESP").
* DEATH_NO_GAP: death no later than ``MAX_GAP_DAYS`` (63: two missed 28-day
  assessments plus a 7-day window) after the last adequate assessment; a death
  after a longer gap censors at the last adequate assessment.
* LASTASMT: the last IMWG assessment that is not PD (adequate assessment).
* NEWTHER: a new anticancer therapy (CM with CMCAT in ``NEW_THERAPY_CATEGORIES``)
  before progression: assessments and deaths from its start on are ignored and
  the subject is censored at the last adequate assessment before it (CNSR 3).
* START: the origin, when there is no assessment.
* DEATH: any death (OS); LSTALV: last date known alive (OS censoring).

Origins: PFS, TTP and OS start at the first Rd dose (DM.RFXSTDTC, the first dose
in the parent trial); duration of response at the first IMWG response of PR or
better (responders only); follow-up (FUP) at parent-trial enrollment (DS
"ENROLLED IN PARENT TRIAL").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from eap.datasets.model import Dataset
from eap.derive.common import MONTH_DAYS, as_adam, iso_date
from eap.errors import EapError

MAX_GAP_DAYS = 63
NEW_THERAPY_CATEGORIES = ("SUBSEQUENT ANTI-MYELOMA THERAPY", "NEW ANTICANCER THERAPY")
RESPONSES = ("sCR", "CR", "VGPR", "PR")


@dataclass(frozen=True)
class Source:
    """One event or censoring rule: its code, CNSR value and the text that explains it."""

    name: str
    cnsr: int
    description: str
    srcdom: str
    srcvar: str


PD = Source("PD", 0, "Disease progression (IMWG)", "RS", "RSDTC")
DEATH_NO_GAP = Source("DEATH_NO_GAP", 0, "Death without prior progression", "DM", "DTHDTC")
DEATH = Source("DEATH", 0, "Death", "DM", "DTHDTC")
LASTASMT = Source("LASTASMT", 1, "Censored at last adequate assessment", "RS", "RSDTC")
NEWTHER = Source(
    "NEWTHER",
    3,
    "Censored at last adequate assessment before new anticancer therapy",
    "RS",
    "RSDTC",
)
START = Source("START", 2, "Censored at origin: no adequate assessment", "DM", "RFXSTDTC")
LSTALV = Source("LSTALV", 1, "Censored at last date known alive", "ADSL", "LSTALVDT")
FUP_ALIVE = Source("FUP_ALIVE", 0, "Follow-up to data cutoff, alive", "DS", "DSSTDTC")
FUP_DEATH = Source("FUP_DEATH", 1, "Follow-up ended by death", "DM", "DTHDTC")
FUP_LOST = Source("FUP_LOST", 2, "Follow-up ended at last contact (lost)", "ADSL", "LSTALVDT")


@dataclass(frozen=True)
class Parameter:
    paramcd: str
    param: str
    origin: str
    events: tuple[Source, ...]
    censors: tuple[Source, ...]


PARAMETERS: tuple[Parameter, ...] = (
    Parameter(
        "PFS",
        "Progression-Free Survival (months)",
        "first dose",
        (PD, DEATH_NO_GAP),
        (NEWTHER, LASTASMT, START),
    ),
    Parameter(
        "TTP", "Time to Progression (months)", "first dose", (PD,), (NEWTHER, LASTASMT, START)
    ),
    Parameter("OS", "Overall Survival (months)", "first dose", (DEATH,), (LSTALV,)),
    Parameter(
        "DOR",
        "Duration of Response (months)",
        "first response",
        (PD, DEATH_NO_GAP),
        (NEWTHER, LASTASMT),
    ),
)


def subject_dates(sdtm: Mapping[str, Dataset], cutoff: dt.date) -> pl.DataFrame:
    """Per subject: origin, death, PD, last adequate assessment, first response, last alive."""
    for name in ("DM", "RS"):
        if name not in sdtm:
            raise EapError(f"{name} is required to derive ADTTE", dataset=name)
    dm = (
        sdtm["DM"]
        .frame.select(
            "USUBJID",
            iso_date("RFXSTDTC").alias("TRTSDT"),
            iso_date("DTHDTC").alias("DTHDT"),
        )
        .with_columns(pl.when(pl.col("DTHDT") <= cutoff).then(pl.col("DTHDT")).alias("DTHDT"))
    )
    new_therapy = pl.DataFrame(schema={"USUBJID": pl.String, "NACTDT": pl.Date})
    if "CM" in sdtm and "CMCAT" in sdtm["CM"].frame.columns:
        new_therapy = (
            sdtm["CM"]
            .frame.filter(pl.col("CMCAT").is_in(NEW_THERAPY_CATEGORIES))
            .with_columns(iso_date("CMSTDTC").alias("NACTDT"))
            .filter(pl.col("NACTDT") <= cutoff)
            .group_by("USUBJID")
            .agg(pl.col("NACTDT").min())
        )
    rs = (
        sdtm["RS"]
        .frame.filter(pl.col("RSTESTCD") == "OVRLRESP")
        .select("USUBJID", "RSSEQ", "RSSTRESC", iso_date("RSDTC").alias("RSDT"))
        .filter(pl.col("RSDT") <= cutoff)
        .join(new_therapy, on="USUBJID", how="left")
        # Assessments on or after a new anticancer therapy no longer describe Rd.
        .filter(pl.col("NACTDT").is_null() | (pl.col("RSDT") < pl.col("NACTDT")))
        .drop("NACTDT")
    )
    first_pd = (
        rs.filter(pl.col("RSSTRESC") == "PD")
        .sort("RSDT", "RSSEQ")
        .group_by("USUBJID")
        .agg(pl.col("RSDT").first().alias("PDDT"), pl.col("RSSEQ").first().alias("PDSEQ"))
    )
    before_pd = rs.join(first_pd, on="USUBJID", how="left").filter(
        pl.col("PDDT").is_null() | (pl.col("RSDT") < pl.col("PDDT"))
    )
    last_adequate = (
        before_pd.filter(pl.col("RSSTRESC") != "PD")
        .sort("RSDT", "RSSEQ")
        .group_by("USUBJID")
        .agg(pl.col("RSDT").last().alias("LASTADT"), pl.col("RSSEQ").last().alias("LASTSEQ"))
    )
    first_response = (
        before_pd.filter(pl.col("RSSTRESC").is_in(RESPONSES))
        .sort("RSDT", "RSSEQ")
        .group_by("USUBJID")
        .agg(pl.col("RSDT").first().alias("RESPDT"))
    )
    alive = last_alive(sdtm, cutoff)
    enrolled = pl.DataFrame(schema={"USUBJID": pl.String, "ENRLDT": pl.Date, "LOST": pl.Boolean})
    if "DS" in sdtm:
        ds = sdtm["DS"].frame.with_columns(iso_date("DSSTDTC").alias("DSSTDT"))
        enrolled = ds.group_by("USUBJID").agg(
            pl.col("DSSTDT")
            .filter(pl.col("DSDECOD") == "ENROLLED IN PARENT TRIAL")
            .first()
            .alias("ENRLDT"),
            (pl.col("DSDECOD") == "LOST TO FOLLOW-UP").any().alias("LOST"),
        )
    return (
        dm.join(new_therapy, on="USUBJID", how="left")
        .join(first_pd, on="USUBJID", how="left")
        .join(last_adequate, on="USUBJID", how="left")
        .join(first_response, on="USUBJID", how="left")
        .join(alive, on="USUBJID", how="left")
        .join(enrolled, on="USUBJID", how="left")
    )


def last_alive(sdtm: Mapping[str, Dataset], cutoff: dt.date) -> pl.DataFrame:
    """Last date known alive: the latest visit, assessment, dose or non-death disposition date."""
    parts: list[pl.DataFrame] = []
    spec = {
        "SV": ["SVSTDTC"],
        "RS": ["RSDTC"],
        "EX": ["EXENDTC", "EXSTDTC"],
        "DS": ["DSSTDTC"],
        "DM": ["RFICDTC"],
    }
    for name, cols in spec.items():
        if name not in sdtm:
            continue
        frame = sdtm[name].frame
        if name == "DS":
            frame = frame.filter(pl.col("DSDECOD") != "DEATH")
        for col in cols:
            if col in frame.columns:
                parts.append(frame.select("USUBJID", iso_date(col).alias("D")))
    return (
        pl.concat(parts)
        .filter(pl.col("D") <= cutoff)
        .group_by("USUBJID")
        .agg(pl.col("D").max().alias("LSTALVDT"))
    )


def _rows(
    paramcd: str,
    subjects: pl.DataFrame,
    start: str,
    adt: pl.Expr,
    source: Source,
    seq: pl.Expr | None,
) -> pl.DataFrame:
    return subjects.select(
        "USUBJID",
        pl.lit(paramcd).alias("PARAMCD"),
        pl.col(start).alias("STARTDT"),
        adt.alias("ADT"),
        pl.lit(source.cnsr, dtype=pl.Int64).alias("CNSR"),
        pl.lit(source.description if source.cnsr == 0 else None, dtype=pl.String).alias("EVNTDESC"),
        pl.lit(source.description if source.cnsr != 0 else None, dtype=pl.String).alias("CNSDTDSC"),
        pl.lit(source.srcdom).alias("SRCDOM"),
        pl.lit(source.srcvar).alias("SRCVAR"),
        (seq if seq is not None else pl.lit(None, dtype=pl.Int64)).cast(pl.Int64).alias("SRCSEQ"),
    )


def _event_dates(source: Source, s: pl.DataFrame) -> tuple[pl.Expr, pl.Expr | None]:
    """The candidate date of a source for each subject (null where it does not apply)."""
    if source is PD:
        return pl.col("PDDT"), pl.col("PDSEQ")
    if source is DEATH_NO_GAP:
        reference = pl.coalesce("LASTADT", "TRTSDT")
        ok = (
            pl.col("PDDT").is_null()
            & (pl.col("DTHDT") <= reference + pl.duration(days=MAX_GAP_DAYS))
            & (pl.col("NACTDT").is_null() | (pl.col("DTHDT") < pl.col("NACTDT")))
        )
        return pl.when(ok).then(pl.col("DTHDT")), None
    if source is DEATH:
        return pl.col("DTHDT"), None
    if source is NEWTHER:
        before = pl.coalesce("LASTADT", "TRTSDT")
        return pl.when(pl.col("NACTDT").is_not_null()).then(before), pl.col("LASTSEQ")
    if source is LASTASMT:
        return pl.col("LASTADT"), pl.col("LASTSEQ")
    if source is START:
        return pl.col("TRTSDT"), None
    if source is LSTALV:
        return pl.col("LSTALVDT"), None
    raise EapError(f"unknown source {source.name}")


def derive_parameter(p: Parameter, subjects: pl.DataFrame) -> pl.DataFrame:
    """ADTTE rows of one parameter: the earliest event, else the first available censoring."""
    origin = "RESPDT" if p.origin == "first response" else "TRTSDT"
    s = subjects.filter(pl.col(origin).is_not_null())
    candidates: list[pl.DataFrame] = []
    for rank, source in enumerate(p.events):
        date, seq = _event_dates(source, s)
        candidates.append(
            _rows(p.paramcd, s, origin, date, source, seq).with_columns(pl.lit(rank).alias("_RANK"))
        )
    for rank, source in enumerate(p.censors, start=len(p.events)):
        date, seq = _event_dates(source, s)
        candidates.append(
            _rows(p.paramcd, s, origin, date, source, seq).with_columns(
                pl.lit(1000 + rank).alias("_RANK")
            )
        )
    allc = pl.concat(candidates).filter(pl.col("ADT").is_not_null())
    events = (
        allc.filter(pl.col("CNSR") == 0).sort("USUBJID", "ADT", "_RANK").group_by("USUBJID").first()
    )
    censors = (
        allc.filter((pl.col("CNSR") != 0) & ~pl.col("USUBJID").is_in(events["USUBJID"].implode()))
        .sort("USUBJID", "_RANK")
        .group_by("USUBJID")
        .first()
    )
    return pl.concat([events, censors]).drop("_RANK")


def derive_follow_up(subjects: pl.DataFrame, cutoff: dt.date) -> pl.DataFrame:
    """FUP: parent-trial enrollment to death, to the cutoff, or to last contact when lost."""
    s = subjects.filter(pl.col("ENRLDT").is_not_null())
    return s.select(
        "USUBJID",
        pl.lit("FUP").alias("PARAMCD"),
        pl.col("ENRLDT").alias("STARTDT"),
        pl.when(pl.col("DTHDT").is_not_null())
        .then(pl.col("DTHDT"))
        .when(pl.col("LOST").fill_null(False))
        .then(pl.col("LSTALVDT"))
        .otherwise(pl.lit(cutoff))
        .alias("ADT"),
        pl.when(pl.col("DTHDT").is_not_null())
        .then(1)
        .when(pl.col("LOST").fill_null(False))
        .then(2)
        .otherwise(0)
        .cast(pl.Int64)
        .alias("CNSR"),
        pl.lit(None, dtype=pl.String).alias("EVNTDESC"),
        pl.when(pl.col("DTHDT").is_not_null())
        .then(pl.lit(FUP_DEATH.description))
        .when(pl.col("LOST").fill_null(False))
        .then(pl.lit(FUP_LOST.description))
        .otherwise(pl.lit(FUP_ALIVE.description))
        .alias("CNSDTDSC"),
        pl.lit("DS").alias("SRCDOM"),
        pl.lit("DSSTDTC").alias("SRCVAR"),
        pl.lit(None, dtype=pl.Int64).alias("SRCSEQ"),
    )


PARAM_LABELS = {p.paramcd: p.param for p in PARAMETERS} | {
    "FUP": "Follow-up from Parent-Trial Enrollment (months)"
}


def derive_adtte(
    sdtm: Mapping[str, Dataset], cutoff: dt.date, *, studyid: str | None = None
) -> Dataset:
    """ADTTE with PFS, TTP, OS, DOR and FUP (one row per subject and parameter)."""
    subjects = subject_dates(sdtm, cutoff)
    frames = [derive_parameter(p, subjects) for p in PARAMETERS] + [
        derive_follow_up(subjects, cutoff)
    ]
    study = studyid or str(sdtm["DM"].frame["STUDYID"][0])
    frame = (
        pl.concat(frames)
        .with_columns(
            pl.lit(study).alias("STUDYID"),
            pl.col("PARAMCD").replace_strict(PARAM_LABELS).alias("PARAM"),
            (((pl.col("ADT") - pl.col("STARTDT")).dt.total_days() + 1) / MONTH_DAYS).alias("AVAL"),
            pl.lit("MONTHS").alias("AVALU"),
        )
        .select(
            "STUDYID",
            "USUBJID",
            "PARAMCD",
            "PARAM",
            "AVAL",
            "AVALU",
            "STARTDT",
            "ADT",
            "CNSR",
            "EVNTDESC",
            "CNSDTDSC",
            "SRCDOM",
            "SRCVAR",
            "SRCSEQ",
        )
        .sort("USUBJID", "PARAMCD")
    )
    return as_adam("ADTTE", "Time-to-Event Analysis Dataset", frame, {})


def censoring_summary(adtte: pl.DataFrame) -> pl.DataFrame:
    """Per parameter: events and each censoring reason, with counts (the table beside ADTTE)."""
    return (
        adtte.with_columns(pl.coalesce("EVNTDESC", "CNSDTDSC").alias("REASON"))
        .group_by("PARAMCD", "CNSR", "REASON")
        .agg(pl.len().alias("N"))
        .sort("PARAMCD", "CNSR")
    )

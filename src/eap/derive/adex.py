"""ADEX: lenalidomide exposure and dose intensity per subject (one row per subject and parameter).

Rules (the MM-024 publication's definitions; month = 30.4375 days):

* TRTDURM, treatment duration (months): (last dose - first dose + 1) / 30.4375,
  counted to the cutoff when on treatment at the cutoff.
* CUMDOSE, cumulative dose (mg): sum of EXDOSE x administrations per EX record
  (QD: every day of the record; QOD: every other day).
* ADDOSE, average daily dose on dosing days (mg): CUMDOSE / days dosed.
* DOSEINT, dose intensity (mg/day): CUMDOSE / treatment duration in days.
* PLDOSINT, planned dose intensity (mg/day): the protocol calendar at the
  renal starting dose (eap.protocol.planned_dose_intensity).
* RDI, relative dose intensity: DOSEINT / PLDOSINT.
* GT108WK, treated beyond 108 weeks (AVALC Y/N): duration in days > 756.
* CYCLES: distinct EX cycles (VISITNUM).
* NINTERR, interruptions: gaps inside a cycle between lenalidomide records.
* NREDUC, reductions: decreases of EXDOSE between consecutive lenalidomide records.
* LASTDOSE: EXDOSE of the last lenalidomide record by the cutoff (the current
  dose of a patient still on treatment).

A subject is on treatment at the cutoff when DS has no END OF TREATMENT
record by then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import polars as pl

from eap.datasets.model import Dataset
from eap.derive.common import MONTH_DAYS, as_adam, iso_date
from eap.errors import EapError
from eap.protocol import Protocol, load_protocol, planned_dose_intensity
from eap.protocol.dosing import DoseLevel

PARAMS = {
    "TRTDURM": "Treatment Duration (months)",
    "CUMDOSE": "Cumulative Dose (mg)",
    "ADDOSE": "Average Daily Dose on Dosing Days (mg)",
    "DOSEINT": "Dose Intensity (mg/day)",
    "PLDOSINT": "Planned Dose Intensity (mg/day)",
    "RDI": "Relative Dose Intensity",
    "GT108WK": "Treated Beyond 108 Weeks",
    "CYCLES": "Number of Cycles Started",
    "NINTERR": "Number of Dose Interruptions",
    "NREDUC": "Number of Dose Reductions",
    "LASTDOSE": "Dose of the Last Administration (mg)",
}
WEEKS_108 = 108 * 7


def per_subject(
    ex: pl.DataFrame, ds: pl.DataFrame | None, cutoff: dt.date, drug: str = "LENALIDOMIDE"
) -> pl.DataFrame:
    """One row per subject with the exposure quantities above (wide form)."""
    records = (
        ex.filter(pl.col("EXTRT") == drug)
        .with_columns(iso_date("EXSTDTC").alias("S"), iso_date("EXENDTC").alias("E"))
        .filter(pl.col("S") <= cutoff)
        .with_columns(pl.min_horizontal("E", pl.lit(cutoff)).alias("E"))
        .sort("USUBJID", "S")
    )
    span = (pl.col("E") - pl.col("S")).dt.total_days()
    records = records.with_columns(
        pl.when(pl.col("EXDOSFRQ") == "QOD").then(span // 2 + 1).otherwise(span + 1).alias("N"),
        pl.when(pl.col("EXDOSFRQ") == "QOD").then(2).otherwise(1).alias("STEP"),
    ).with_columns(
        (
            (pl.col("VISITNUM") == pl.col("VISITNUM").shift(1).over("USUBJID"))
            & (
                (pl.col("S") - pl.col("E").shift(1).over("USUBJID")).dt.total_days()
                > pl.col("STEP")
            )
        ).alias("GAP"),
        (pl.col("EXDOSE") < pl.col("EXDOSE").shift(1).over("USUBJID")).alias("DROP"),
    )
    stopped = (
        ds.filter((pl.col("DSSCAT") == "END OF TREATMENT") & (iso_date("DSSTDTC") <= cutoff))[
            "USUBJID"
        ]
        if ds is not None
        else pl.Series("USUBJID", [], dtype=pl.String)
    )
    return (
        records.group_by("USUBJID")
        .agg(
            pl.col("S").min().alias("FIRSTDT"),
            pl.col("E").max().alias("LASTDT"),
            (pl.col("EXDOSE") * pl.col("N")).sum().alias("CUMDOSE"),
            pl.col("N").sum().alias("DOSEDAYS"),
            pl.col("VISITNUM").n_unique().cast(pl.Float64).alias("CYCLES"),
            pl.col("GAP").sum().cast(pl.Float64).alias("NINTERR"),
            pl.col("DROP").sum().cast(pl.Float64).alias("NREDUC"),
            pl.col("EXDOSE").last().alias("LASTDOSE"),
        )
        .with_columns(pl.col("USUBJID").is_in(stopped.implode()).not_().alias("ONGOING"))
        .with_columns(
            (
                (
                    pl.when(pl.col("ONGOING")).then(pl.lit(cutoff)).otherwise(pl.col("LASTDT"))
                    - pl.col("FIRSTDT")
                ).dt.total_days()
                + 1
            ).alias("DURD")
        )
        .with_columns(
            (pl.col("DURD") / MONTH_DAYS).alias("TRTDURM"),
            (pl.col("CUMDOSE") / pl.col("DOSEDAYS")).alias("ADDOSE"),
            (pl.col("CUMDOSE") / pl.col("DURD")).alias("DOSEINT"),
            pl.when(pl.col("DURD") > WEEKS_108)
            .then(pl.lit("Y"))
            .otherwise(pl.lit("N"))
            .alias("GT108WK"),
        )
    )


def derive_adex(
    sdtm: Mapping[str, Dataset],
    adsl: Dataset,
    cutoff: dt.date,
    *,
    protocol: Protocol | None = None,
) -> Dataset:
    """ADEX (BDS) from EX and DS, with the planned intensity at ADSL's renal group."""
    if "EX" not in sdtm:
        raise EapError("EX is required to derive ADEX", dataset="EX", expected="an EX dataset")
    protocol = protocol or load_protocol()
    ds = sdtm["DS"].frame if "DS" in sdtm else None
    wide = per_subject(sdtm["EX"].frame, ds, cutoff, protocol.regimen.lenalidomide.name)
    bands = {b.label: b for b in protocol.regimen.lenalidomide.renal_bands}
    full = {b.label: b for b in protocol.regimen.lenalidomide.renal_bands if b.crcl_min >= 60}
    default = next(iter(full.values()))
    planned = {
        label: planned_dose_intensity(
            protocol, DoseLevel(b.dose, b.frequency, protocol.regimen.lenalidomide.unit)
        )
        for label, b in bands.items()
    }
    renal = adsl.frame.select(
        "STUDYID", "USUBJID", "SAFFL", *(["RENALGR"] if "RENALGR" in adsl.frame.columns else [])
    )
    if "RENALGR" not in renal.columns:
        renal = renal.with_columns(pl.lit(default.label).alias("RENALGR"))
    wide = (
        wide.join(renal, on="USUBJID", how="left")
        .with_columns(
            pl.col("RENALGR")
            .fill_null(default.label)
            .replace_strict(planned, return_dtype=pl.Float64)
            .alias("PLDOSINT")
        )
        .with_columns((pl.col("DOSEINT") / pl.col("PLDOSINT")).alias("RDI"))
    )
    numeric = [p for p in PARAMS if p != "GT108WK"]
    long = wide.unpivot(
        index=["STUDYID", "USUBJID", "SAFFL"],
        on=numeric,
        variable_name="PARAMCD",
        value_name="AVAL",
    )
    flags = wide.select(
        "STUDYID",
        "USUBJID",
        "SAFFL",
        pl.lit("GT108WK").alias("PARAMCD"),
        pl.lit(None, dtype=pl.Float64).alias("AVAL"),
        pl.col("GT108WK").alias("AVALC"),
    )
    frame = (
        pl.concat([long.with_columns(pl.lit(None, dtype=pl.String).alias("AVALC")), flags])
        .with_columns(
            pl.col("PARAMCD").replace_strict(PARAMS).alias("PARAM"),
            pl.col("AVAL").cast(pl.Float64),
        )
        .select("STUDYID", "USUBJID", "PARAMCD", "PARAM", "AVAL", "AVALC", "SAFFL")
        .sort("USUBJID", "PARAMCD")
    )
    return as_adam("ADEX", "Exposure Analysis Dataset", frame, {})

"""ADEX: exposure to the study drug and dose intensity per subject (one row per subject
and parameter), from EX records of the study drug (``[treatments] study_drug``).

Rules (the MM-024 publication's definitions; a month is the study's month length):

* TRTDURM, treatment duration (months): (last dose - first dose + 1) / month length,
  counted to the cutoff when on treatment at the cutoff.
* CUMDOSE, cumulative dose: sum of EXDOSE x administrations per EX record
  (QOD: every other day of the record; any other frequency: every day). A record
  without an end date ends the day before the subject's next record; the last one
  at ADSL's TRTEDT (the disposition date, as in the CDISC pilot).
* ADDOSE, average daily dose on dosing days: CUMDOSE / days dosed.
* DOSEINT, dose intensity (per day): CUMDOSE / treatment duration in days.
* PLDOSINT, planned dose intensity (per day): the protocol calendar at the
  renal starting dose (eap.protocol.planned_dose_intensity); only for a study with
  a protocol.
* RDI, relative dose intensity: DOSEINT / PLDOSINT (with PLDOSINT).
* GTnnWK, treated beyond nn weeks (AVALC Y/N): duration in days > nn x 7, for the
  study's ``[adex] long_treatment_weeks`` (MM-024: GT108WK).
* CYCLES: distinct EX cycles (VISITNUM).
* NINTERR, interruptions: (a) gaps inside a cycle (EX VISITNUM) between records of
  the study drug longer than the dosing step (a day; two for QOD); (b) whole planned
  cycles without a dose. The planned calendar has the study's cycle length (``[adex]
  cycle_days``, else the protocol's ``[regimen] cycle_days``; MM-024: 28 days) and is
  re-anchored at each dosed cycle's first dose: the next cycle is due ``cycle_days``
  later. A dosed cycle starting 2 x ``cycle_days`` days or more after the previous
  dosed cycle started (MM-024: 56) means at least one planned cycle passed without a
  dose, and counts as one interruption, however many cycles were skipped (two
  consecutive skipped cycles, 84 days apart, are one interruption of two cycles). A
  later start short of that (29 to 55 days) is a delayed cycle, not an interruption.
  Cycles are told apart by VISITNUM but the calendar decides, not the numbering.
  A study with neither cycle length counts (a) only. Doses held at the end of a cycle,
  or at the start of the next, look in EX like a cycle that ended early or started
  late, and are not counted: a delay of a few days is common and is not an
  interruption.
* NREDUC, reductions: decreases of EXDOSE between consecutive records.
* LASTDOSE: EXDOSE of the last record by the cutoff (the current dose of a patient
  still on treatment).

A subject is on treatment at the cutoff when DS has no record matching the study's
``[adex] end_of_treatment`` filter by then (MM-024: DSSCAT "END OF TREATMENT"); in a
study without that filter, treatment ends at the last dose.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import polars as pl

from eap.datasets.lazy import scan
from eap.datasets.model import Dataset
from eap.derive.common import as_adam, iso_date, where
from eap.errors import EapError
from eap.plans.study import DEFAULT_STUDY, Study, load_study
from eap.protocol import Protocol, planned_dose_intensity
from eap.protocol.dosing import DoseLevel

PARAMS = {
    "TRTDURM": "Treatment Duration (months)",
    "CUMDOSE": "Cumulative Dose{unit}",
    "ADDOSE": "Average Daily Dose on Dosing Days{unit}",
    "DOSEINT": "Dose Intensity{unit_day}",
    "PLDOSINT": "Planned Dose Intensity{unit_day}",
    "RDI": "Relative Dose Intensity",
    "CYCLES": "Number of Cycles Started",
    "NINTERR": "Number of Dose Interruptions",
    "NREDUC": "Number of Dose Reductions",
    "LASTDOSE": "Dose of the Last Administration{unit}",
}


def param_labels(unit: str | None) -> dict[str, str]:
    """PARAM of each PARAMCD, with the dose unit (EXDOSU) where there is one."""
    return {
        code: label.format(
            unit=f" ({unit})" if unit else "", unit_day=f" ({unit}/day)" if unit else " (per day)"
        )
        for code, label in PARAMS.items()
    }


def long_treatment(weeks: int) -> tuple[str, str]:
    """PARAMCD and PARAM of the treated-beyond flag (GT108WK for 108 weeks)."""
    return f"GT{weeks}WK", f"Treated Beyond {weeks} Weeks"


def per_subject(
    ex: pl.DataFrame | pl.LazyFrame,
    ds: pl.DataFrame | pl.LazyFrame | None,
    cutoff: dt.date,
    drug: str,
    *,
    end_of_treatment: pl.Expr | None = None,
    month_days: float = 365.25 / 12,
    long_treatment_weeks: int | None = None,
    last_exposure: pl.DataFrame | None = None,
    cycle_days: int | None = None,
) -> pl.DataFrame:
    """One row per subject with the exposure quantities above (wide form).

    ``last_exposure`` (USUBJID, TRTEDT from ADSL) closes a last EX record that has no
    end date, as ADSL does.

    ``end_of_treatment`` selects the DS records that end treatment: a subject without
    one dated by the cutoff (or without any DS data) is on treatment at the cutoff.
    Without ``end_of_treatment``, every subject's treatment ends at the last dose.

    ``cycle_days``: the planned cycle length; a whole planned cycle without a dose
    between two dosed cycles adds one interruption (see NINTERR above). None: only
    gaps inside a cycle count.
    """
    # Lazy from the scan to the one collect: only the study drug's records are read.
    records = (
        ex.lazy()
        .filter(pl.col("EXTRT") == drug)
        .with_columns(iso_date("EXSTDTC").alias("S"), iso_date("EXENDTC").alias("E"))
        .filter(pl.col("S") <= cutoff)
        .sort("USUBJID", "S", maintain_order=True)
    )
    if last_exposure is not None:
        # In the order just sorted: the next start, the gaps, the drops and LASTDOSE
        # read each subject's records in date order (a join free to reorder its rows
        # gave another LASTDOSE to 2 to 6 of a million subjects, run to run).
        records = records.join(
            last_exposure.lazy().select("USUBJID", "TRTEDT"),
            on="USUBJID",
            how="left",
            maintain_order="left",
        )
    else:
        records = records.with_columns(pl.lit(None, dtype=pl.Date).alias("TRTEDT"))
    # A record without an end date ends the day before the subject's next record, the
    # last one at TRTEDT (ADSL's imputation), else it runs to the cutoff.
    next_start = pl.col("S").shift(-1).over("USUBJID") - pl.duration(days=1)
    records = records.with_columns(
        pl.min_horizontal(
            pl.coalesce("E", next_start, "TRTEDT", pl.lit(cutoff)), pl.lit(cutoff)
        ).alias("E")
    )
    present = records.collect_schema().names()
    for col, dtype in (("EXDOSFRQ", pl.String), ("VISITNUM", pl.Float64)):
        if col not in present:
            records = records.with_columns(pl.lit(None, dtype=dtype).alias(col))
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
    if end_of_treatment is None:
        ongoing = pl.lit(False)
    else:
        stopped = (
            ds.lazy()
            .filter(end_of_treatment & (iso_date("DSSTDTC") <= cutoff))
            .select("USUBJID")
            .collect()
            .to_series()
            if ds is not None
            else pl.Series("USUBJID", [], dtype=pl.String)
        )
        ongoing = pl.col("USUBJID").is_in(stopped.implode()).not_()
    wide = (
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
        .with_columns(ongoing.alias("ONGOING"))
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
            (pl.col("DURD") / month_days).alias("TRTDURM"),
            (pl.col("CUMDOSE") / pl.col("DOSEDAYS")).alias("ADDOSE"),
            (pl.col("CUMDOSE") / pl.col("DURD")).alias("DOSEINT"),
        )
    )
    if cycle_days is not None:
        wide = wide.join(_skipped_cycles(records, cycle_days), on="USUBJID", how="left")
        wide = wide.with_columns(
            (pl.col("NINTERR") + pl.col("SKIPPED").fill_null(0)).alias("NINTERR")
        ).drop("SKIPPED")
    if long_treatment_weeks is not None:
        wide = wide.with_columns(
            pl.when(pl.col("DURD") > long_treatment_weeks * 7)
            .then(pl.lit("Y"))
            .otherwise(pl.lit("N"))
            .alias(long_treatment(long_treatment_weeks)[0])
        )
    return wide.collect()


def _skipped_cycles(records: pl.LazyFrame, cycle_days: int) -> pl.LazyFrame:
    """USUBJID and SKIPPED: how many times a dosed cycle (EX VISITNUM) started 2 x
    ``cycle_days`` or more after the previous dosed cycle started, i.e. after at least one
    whole planned cycle without a dose."""
    starts = (
        records.filter(pl.col("VISITNUM").is_not_null())
        .group_by("USUBJID", "VISITNUM")
        .agg(pl.col("S").min().alias("CYCLESDT"))
        .sort("USUBJID", "CYCLESDT")
    )
    apart = (pl.col("CYCLESDT") - pl.col("CYCLESDT").shift(1).over("USUBJID")).dt.total_days()
    return starts.group_by("USUBJID").agg(
        (apart >= 2 * cycle_days).fill_null(False).sum().cast(pl.Float64).alias("SKIPPED")
    )


def derive_adex(
    sdtm: Mapping[str, Dataset],
    adsl: Dataset,
    cutoff: dt.date,
    *,
    protocol: Protocol | None = None,
    study: Study | None = None,
) -> Dataset:
    """ADEX (BDS) from EX and DS for ``study`` (default MM-024); with a protocol (the
    study's unless given), PLDOSINT and RDI at ADSL's renal group."""
    if "EX" not in sdtm:
        raise EapError("EX is required to derive ADEX", dataset="EX", expected="an EX dataset")
    study = study or load_study(DEFAULT_STUDY)
    if protocol is None:
        protocol = study.load_protocol()
    drug = study.treatments.study_drug
    ex = scan(sdtm, "EX")
    ds = scan(sdtm, "DS") if "DS" in sdtm else None
    rule = study.adex.end_of_treatment
    eot = None
    if rule is not None:
        columns = (
            ds.collect_schema().names()
            if ds is not None
            else ["DSSCAT", "DSDECOD", "DSCAT", "DSTERM"]
        )
        eot = where(rule, columns, file=study.file, field="adex.end_of_treatment")
    weeks = study.adex.long_treatment_weeks
    cycle_days = study.adex.cycle_days
    if cycle_days is None and protocol is not None:
        cycle_days = protocol.regimen.cycle_days
    wide = per_subject(
        ex,
        ds,
        cutoff,
        drug,
        end_of_treatment=eot,
        month_days=study.month_days,
        long_treatment_weeks=weeks,
        last_exposure=adsl.frame.select("USUBJID", "TRTEDT")
        if "TRTEDT" in adsl.frame.columns
        else None,
        cycle_days=cycle_days,
    )
    units = (
        ex.filter(pl.col("EXTRT") == drug).select("EXDOSU").collect().to_series().drop_nulls()
        if "EXDOSU" in ex.collect_schema().names()
        else None
    )
    labels = param_labels(str(units[0]) if units is not None and units.len() else None)
    numeric = [p for p in PARAMS if p not in ("PLDOSINT", "RDI")]
    subjects = adsl.frame.select(
        "STUDYID", "USUBJID", "SAFFL", *(["RENALGR"] if "RENALGR" in adsl.frame.columns else [])
    )
    wide = wide.join(subjects, on="USUBJID", how="left")
    if protocol is not None:
        wide = _planned(wide, study, protocol)
        numeric = list(PARAMS)
    long = wide.unpivot(
        index=["STUDYID", "USUBJID", "SAFFL"],
        on=numeric,
        variable_name="PARAMCD",
        value_name="AVAL",
    ).with_columns(pl.lit(None, dtype=pl.String).alias("AVALC"))
    parts = [long]
    if weeks is not None:
        code, label = long_treatment(weeks)
        labels[code] = label
        parts.append(
            wide.select(
                "STUDYID",
                "USUBJID",
                "SAFFL",
                pl.lit(code).alias("PARAMCD"),
                pl.lit(None, dtype=pl.Float64).alias("AVAL"),
                pl.col(code).alias("AVALC"),
            )
        )
    frame = (
        pl.concat(parts)
        .with_columns(
            pl.col("PARAMCD").replace_strict(labels).alias("PARAM"),
            pl.col("AVAL").cast(pl.Float64),
        )
        .select("STUDYID", "USUBJID", "PARAMCD", "PARAM", "AVAL", "AVALC", "SAFFL")
        .sort("USUBJID", "PARAMCD")
    )
    return as_adam("ADEX", "Exposure Analysis Dataset", frame, {})


def _planned(wide: pl.DataFrame, study: Study, protocol: Protocol) -> pl.DataFrame:
    """PLDOSINT at the subject's renal group (the full-dose band when unknown) and RDI."""
    regimen = study.drug_regimen(protocol)
    bands = {b.label: b for b in regimen.renal_bands}
    default = next(b for b in regimen.renal_bands if b.crcl_min >= 60)
    planned = {
        label: planned_dose_intensity(protocol, DoseLevel(b.dose, b.frequency, regimen.unit))
        for label, b in bands.items()
    }
    if "RENALGR" not in wide.columns:
        wide = wide.with_columns(pl.lit(default.label).alias("RENALGR"))
    return wide.with_columns(
        pl.col("RENALGR")
        .fill_null(default.label)
        .replace_strict(planned, return_dtype=pl.Float64)
        .alias("PLDOSINT")
    ).with_columns((pl.col("DOSEINT") / pl.col("PLDOSINT")).alias("RDI"))

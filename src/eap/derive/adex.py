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

import narwhals as nw

from eap.datasets.model import Dataset
from eap.derive.common import as_adam, where_neutral
from eap.engine.frames import (
    Frame,
    Tables,
    collect,
    columns,
    epoch_days,
    first_in_order,
    lazy,
    persist,
    polars_tables,
    recode,
    with_dates,
    with_row_number,
)
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
    ex: Frame,
    ds: Frame | None,
    cutoff: dt.date,
    drug: str,
    *,
    end_of_treatment: nw.Expr | None = None,
    month_days: float = 365.25 / 12,
    long_treatment_weeks: int | None = None,
    last_exposure: Frame | None = None,
    cycle_days: int | None = None,
) -> Frame:
    """One row per subject with the exposure quantities above (wide form).

    ``last_exposure`` (USUBJID, TRTEDT from ADSL) closes a last EX record that has no
    end date, as ADSL does.

    ``end_of_treatment`` selects the DS records that end treatment: a subject without
    one dated by the cutoff (or without any DS data) is on treatment at the cutoff.
    Without ``end_of_treatment``, every subject's treatment ends at the last dose.

    ``cycle_days``: the planned cycle length; a whole planned cycle without a dose
    between two dosed cycles adds one interruption (see NINTERR above). None: only
    gaps inside a cycle count.

    Each subject's records are read in the order of their start dates, then of the
    records as read (two records on one date); dates are counted in days from
    1970-01-01 (eap.engine.frames.epoch_days), so that a record's end, the day before
    the next start, is a whole number on any engine.
    """
    # Numbered as read, then only the study drug's records.
    optional = [c for c in ("EXDOSFRQ", "VISITNUM") if c in columns(ex)]
    records = (
        with_dates(
            with_row_number(ex, "_ROW").filter(nw.col("EXTRT") == drug),
            {"S": "EXSTDTC", "E": "EXENDTC"},
        )
        .filter(nw.col("S") <= cutoff)
        .select("USUBJID", "S", "E", "EXDOSE", *optional, "_ROW")
    )
    if last_exposure is not None:
        records = records.join(last_exposure.select("USUBJID", "TRTEDT"), on="USUBJID", how="left")
    else:
        records = records.with_columns(nw.lit(None, dtype=nw.Date).alias("TRTEDT"))
    present = columns(records)
    for col, dtype in (("EXDOSFRQ", nw.String), ("VISITNUM", nw.Float64)):
        if col not in present:
            records = records.with_columns(nw.lit(None, dtype=dtype).alias(col))
    order = ["S", "_ROW"]

    def previous(col: str) -> nw.Expr:
        return nw.col(col).shift(1).over("USUBJID", order_by=order)

    cutoff_day = _day(cutoff)
    # A record without an end date ends the day before the subject's next record, the
    # last one at TRTEDT (ADSL's imputation), else it runs to the cutoff.
    next_start = epoch_days(nw.col("S")).shift(-1).over("USUBJID", order_by=order) - 1
    end = nw.coalesce(
        epoch_days(nw.col("E")), next_start, epoch_days(nw.col("TRTEDT")), nw.lit(cutoff_day)
    )
    records = records.with_columns(
        epoch_days(nw.col("S")).alias("SDAY"),
        nw.min_horizontal(end, nw.lit(cutoff_day)).alias("EDAY"),
    )
    span = nw.col("EDAY") - nw.col("SDAY")
    qod = nw.col("EXDOSFRQ") == "QOD"
    records = records.with_columns(
        nw.when(qod).then(span // 2 + 1).otherwise(span + 1).alias("N"),
        nw.when(qod).then(nw.lit(2)).otherwise(nw.lit(1)).alias("STEP"),
    ).with_columns(
        (
            (nw.col("VISITNUM") == previous("VISITNUM"))
            & ((nw.col("SDAY") - previous("EDAY")) > nw.col("STEP"))
        )
        .fill_null(False)
        .cast(nw.Int64)
        .alias("GAP"),
        (nw.col("EXDOSE") < previous("EXDOSE")).fill_null(False).cast(nw.Int64).alias("DROP"),
    )
    # Read by each quantity below: computed once.
    records = persist(records)
    last = first_in_order(records, "USUBJID", order, last=True)
    wide = (
        records.group_by("USUBJID")
        .agg(
            nw.col("SDAY").min().alias("FIRSTDAY"),
            nw.col("EDAY").max().alias("LASTDAY"),
            (nw.col("EXDOSE") * nw.col("N")).sum().alias("CUMDOSE"),
            nw.col("N").sum().alias("DOSEDAYS"),
            nw.col("GAP").sum().cast(nw.Float64).alias("NINTERR"),
            nw.col("DROP").sum().cast(nw.Float64).alias("NREDUC"),
        )
        .join(_cycles_started(records), on="USUBJID", how="left")
        .join(last.select("USUBJID", nw.col("EXDOSE").alias("LASTDOSE")), on="USUBJID")
        .join(_ongoing(records, ds, end_of_treatment, cutoff), on="USUBJID", how="left")
    )
    last_day = nw.when(nw.col("ONGOING")).then(nw.lit(cutoff_day)).otherwise(nw.col("LASTDAY"))
    wide = (
        wide.with_columns((last_day - nw.col("FIRSTDAY") + 1).alias("DURD"))
        .with_columns(
            (nw.col("DURD") / month_days).alias("TRTDURM"),
            (nw.col("CUMDOSE") / nw.col("DOSEDAYS")).alias("ADDOSE"),
            (nw.col("CUMDOSE") / nw.col("DURD")).alias("DOSEINT"),
        )
        .drop("FIRSTDAY", "LASTDAY")
    )
    if cycle_days is not None:
        wide = wide.join(_skipped_cycles(records, cycle_days), on="USUBJID", how="left")
        wide = wide.with_columns(
            (nw.col("NINTERR") + nw.col("SKIPPED").fill_null(0)).alias("NINTERR")
        ).drop("SKIPPED")
    if long_treatment_weeks is not None:
        wide = wide.with_columns(
            nw.when(nw.col("DURD") > long_treatment_weeks * 7)
            .then(nw.lit("Y"))
            .otherwise(nw.lit("N"))
            .alias(long_treatment(long_treatment_weeks)[0])
        )
    return wide


def _day(date: dt.date) -> int:
    """A date in days from 1970-01-01, as eap.engine.frames.epoch_days counts."""
    return (date - dt.date(1970, 1, 1)).days


def _cycles_started(records: Frame) -> Frame:
    """USUBJID and CYCLES: the distinct EX cycles (VISITNUM; records without one count
    as one more cycle, as a distinct missing value)."""
    return (
        records.select("USUBJID", nw.col("VISITNUM").fill_null(-1.0))
        .unique()
        .group_by("USUBJID")
        .agg(nw.len().cast(nw.Float64).alias("CYCLES"))
    )


def _ongoing(
    records: Frame, ds: Frame | None, end_of_treatment: nw.Expr | None, cutoff: dt.date
) -> Frame:
    """USUBJID and ONGOING: on treatment at the cutoff (no record ending treatment by
    then; without an end-of-treatment rule, nobody)."""
    subjects = records.select("USUBJID").unique()
    if end_of_treatment is None or ds is None:
        return subjects.with_columns(nw.lit(end_of_treatment is not None).alias("ONGOING"))
    stopped = (
        with_dates(ds, {"_DSDT": "DSSTDTC"})
        .filter(end_of_treatment & (nw.col("_DSDT") <= cutoff))
        .select("USUBJID")
        .unique()
        .with_columns(nw.lit(False).alias("ONGOING"))
    )
    return subjects.join(stopped, on="USUBJID", how="left").with_columns(
        nw.col("ONGOING").fill_null(True)
    )


def _skipped_cycles(records: Frame, cycle_days: int) -> Frame:
    """USUBJID and SKIPPED: how many times a dosed cycle (EX VISITNUM) started 2 x
    ``cycle_days`` or more after the previous dosed cycle started, i.e. after at least one
    whole planned cycle without a dose."""
    starts = (
        records.filter(~nw.col("VISITNUM").is_null())
        .group_by("USUBJID", "VISITNUM")
        .agg(nw.col("SDAY").min().alias("CYCLEDAY"))
    )
    apart = nw.col("CYCLEDAY") - nw.col("CYCLEDAY").shift(1).over(
        "USUBJID", order_by=["CYCLEDAY", "VISITNUM"]
    )
    return (
        starts.with_columns((apart >= 2 * cycle_days).fill_null(False).alias("_SKIP"))
        .group_by("USUBJID")
        .agg(nw.col("_SKIP").cast(nw.Int64).sum().cast(nw.Float64).alias("SKIPPED"))
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
    return adex_dataset(
        polars_tables(sdtm), lazy(adsl.frame), cutoff, protocol=protocol, study=study
    )


def adex_dataset(
    tables: Tables,
    adsl: Frame,
    cutoff: dt.date,
    *,
    protocol: Protocol | None = None,
    study: Study | None = None,
) -> Dataset:
    """:func:`derive_adex` on any engine: ADEX from ``tables`` and ``adsl`` (frames of
    one engine), collected as a Dataset."""
    if "EX" not in tables:
        raise EapError("EX is required to derive ADEX", dataset="EX", expected="an EX dataset")
    study = study or load_study(DEFAULT_STUDY)
    if protocol is None:
        protocol = study.load_protocol()
    ex = tables["EX"]
    drug = study.treatments.study_drug
    units = (
        collect(
            ex.filter((nw.col("EXTRT") == drug) & ~nw.col("EXDOSU").is_null())
            .select("EXDOSU")
            .head(1)
        )
        if "EXDOSU" in columns(ex)
        else None
    )
    labels = param_labels(str(units.item()) if units is not None and units.height else None)
    weeks = study.adex.long_treatment_weeks
    if weeks is not None:
        code, label = long_treatment(weeks)
        labels[code] = label
    adex = collect(adex_frame(tables, adsl, cutoff, study, protocol, labels))
    return as_adam("ADEX", "Exposure Analysis Dataset", adex, {})


def adex_frame(
    tables: Tables,
    adsl: Frame,
    cutoff: dt.date,
    study: Study,
    protocol: Protocol | None,
    labels: Mapping[str, str],
) -> Frame:
    """ADEX's records, sorted by USUBJID and PARAMCD, as a lazy frame; ``labels``: PARAM
    of each PARAMCD."""
    drug = study.treatments.study_drug
    ex = tables["EX"]
    ds = tables.get("DS")
    rule = study.adex.end_of_treatment
    eot = None
    if rule is not None:
        names = columns(ds) if ds is not None else ["DSSCAT", "DSDECOD", "DSCAT", "DSTERM"]
        eot = where_neutral(rule, names, file=study.file, field="adex.end_of_treatment")
    weeks = study.adex.long_treatment_weeks
    cycle_days = study.adex.cycle_days
    if cycle_days is None and protocol is not None:
        cycle_days = protocol.regimen.cycle_days
    adsl_names = columns(adsl)
    wide = per_subject(
        ex,
        ds,
        cutoff,
        drug,
        end_of_treatment=eot,
        month_days=study.month_days,
        long_treatment_weeks=weeks,
        last_exposure=adsl.select("USUBJID", "TRTEDT") if "TRTEDT" in adsl_names else None,
        cycle_days=cycle_days,
    )
    numeric = [p for p in PARAMS if p not in ("PLDOSINT", "RDI")]
    subjects = adsl.select(
        "STUDYID", "USUBJID", "SAFFL", *(["RENALGR"] if "RENALGR" in adsl_names else [])
    )
    wide = wide.join(subjects, on="USUBJID", how="left")
    if protocol is not None:
        wide = _planned(wide, study, protocol)
        numeric = list(PARAMS)
    index = ["STUDYID", "USUBJID", "SAFFL"]
    long = wide.select(*index, *(nw.col(p).cast(nw.Float64) for p in numeric)).unpivot(
        index=index, on=numeric, variable_name="PARAMCD", value_name="AVAL"
    )
    long = long.with_columns(nw.lit(None, dtype=nw.String).alias("AVALC"))
    parts = [long]
    if weeks is not None:
        code = long_treatment(weeks)[0]
        parts.append(
            wide.select(
                *index,
                nw.lit(code).alias("PARAMCD"),
                nw.lit(None, dtype=nw.Float64).alias("AVAL"),
                nw.col(code).alias("AVALC"),
            )
        )
    columns_out = ["STUDYID", "USUBJID", "PARAMCD", "AVAL", "AVALC", "SAFFL"]
    return (
        nw.concat([part.select(columns_out) for part in parts])
        .with_columns(recode(nw.col("PARAMCD"), labels).cast(nw.String).alias("PARAM"))
        .select("STUDYID", "USUBJID", "PARAMCD", "PARAM", "AVAL", "AVALC", "SAFFL")
        .sort("USUBJID", "PARAMCD")
    )


def _planned(wide: Frame, study: Study, protocol: Protocol) -> Frame:
    """PLDOSINT at the subject's renal group (the full-dose band when unknown) and RDI."""
    regimen = study.drug_regimen(protocol)
    bands = {b.label: b for b in regimen.renal_bands}
    default = next(b for b in regimen.renal_bands if b.crcl_min >= 60)
    planned = {
        label: planned_dose_intensity(protocol, DoseLevel(b.dose, b.frequency, regimen.unit))
        for label, b in bands.items()
    }
    if "RENALGR" not in columns(wide):
        wide = wide.with_columns(nw.lit(default.label).alias("RENALGR"))
    group = nw.col("RENALGR").fill_null(default.label)
    return wide.with_columns(
        recode(group, planned).cast(nw.Float64).alias("PLDOSINT")
    ).with_columns((nw.col("DOSEINT") / nw.col("PLDOSINT")).alias("RDI"))

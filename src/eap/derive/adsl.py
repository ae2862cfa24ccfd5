"""ADSL: one row per subject, from SDTM DM (EX, DS, SV and other datasets when present).

The generic rules (any study) are in ``RULES`` (name, label, rule text, sources); the
study's own variables come from its ``study.toml``: ``[adsl.variables]`` (values merged
from SDTM records), ``[adsl.groups]`` (categories), ``[adsl.flags]`` (Y/N filters on
ADSL), in that order, and ``[adsl] order`` (the column order). CRCLBL is derived when
the study defines WEIGHTBL and CREATBL, and RENALGR when its protocol has renal bands.
docs/derivations.md lists them all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import narwhals as nw
import polars as pl

from eap.datasets.model import Dataset
from eap.derive.common import as_adam, filter_variables, where_neutral
from eap.engine.frames import (
    Frame,
    Tables,
    collect,
    columns,
    first_in_order,
    flag,
    item,
    polars_tables,
    with_dates,
    with_row_number,
)
from eap.errors import EapError
from eap.plans.rules import AdslVariable
from eap.plans.study import DEFAULT_STUDY, Study, load_study
from eap.protocol import Protocol, cockcroft_gault
from eap.protocol.dosing import FEMALE_FACTOR, MAX_AGE_YEARS, UMOL_L_PER_MG_DL

RULES: tuple[tuple[str, str, str, str], ...] = (
    (
        "ITTFL",
        "Intent-To-Treat Population Flag",
        "Y when the informed consent date (RFICDTC) is present, else N; in studies "
        "without consent dates, Y when ARMCD is not SCRNFAIL or NOTASSGN",
        "DM.RFICDTC, DM.ARMCD",
    ),
    (
        "SAFFL",
        "Safety Population Flag",
        "Y when the subject has at least one EX record with a dose (placebo included), else N",
        "EX.EXDOSE",
    ),
    (
        "TRT01P",
        "Planned Treatment for Period 01",
        "the DM variable the study names ([arms] planned_from, ARM by default)",
        "DM.ARM",
    ),
    (
        "TRT01A",
        "Actual Treatment for Period 01",
        "the DM variable the study names ([arms] actual_from, ACTARM by default; ARM "
        "when DM has no ACTARM)",
        "DM.ACTARM",
    ),
    (
        "TRTSDT",
        "Date of First Exposure to Treatment",
        "earliest EX start date (EXSTDTC)",
        "EX.EXSTDTC",
    ),
    (
        "TRTEDT",
        "Date of Last Exposure to Treatment",
        "latest EX end date on or before the cutoff; a last record without an end date "
        "ends at the subject's disposition event (DS), as in the CDISC pilot",
        "EX.EXENDTC, DS.DSSTDTC",
    ),
    ("DTHDT", "Date of Death", "DM.DTHDTC on or before the cutoff", "DM.DTHDTC"),
    (
        "LSTALVDT",
        "Date Last Known Alive",
        "latest visit, assessment, dose or non-death disposition date",
        "SV, RS, EX, DS, DM",
    ),
    ("CUTOFFDT", "Data Cutoff Date", "the cutoff given to the derivation", "parameter"),
    (
        "CRCLBL",
        "Baseline Creatinine Clearance (mL/min)",
        "Cockcroft-Gault from AGE, SEX, WEIGHTBL (kg) and CREATBL (umol/L) when the study "
        "defines WEIGHTBL and CREATBL (eap.protocol.cockcroft_gault)",
        "DM, WEIGHTBL, CREATBL",
    ),
    (
        "RENALGR",
        "Renal Function Group",
        "the label of the protocol's renal band of the study drug that contains CRCLBL",
        "CRCLBL, protocol",
    ),
)
LABELS = {name: label for name, label, _, _ in RULES}


def exposure_dates(ex: Frame, ds: Frame | None, cutoff: dt.date) -> Frame:
    """TRTSDT, TRTEDT and SAFFL per subject from EX (records after the cutoff dropped).

    Imputation: when the last EX record (latest start date, then highest EXSEQ) has
    no end date, TRTEDT is the date of the subject's disposition event (DS DSCAT
    "DISPOSITION EVENT", first on or after that record's start), as the CDISC pilot
    ADSL does; without one, the record's start date.
    """
    seq = [c for c in ("EXSEQ",) if c in columns(ex)]
    dated = with_dates(
        ex.select("USUBJID", "EXSTDTC", "EXENDTC", "EXDOSE", *seq),
        {"S": "EXSTDTC", "E": "EXENDTC"},
    ).filter(nw.col("S") <= cutoff)
    per = dated.group_by("USUBJID").agg(
        nw.col("S").min().alias("TRTSDT"),
        nw.col("E").max().alias("_LASTEND"),
        nw.col("S").max().alias("_LASTSTART"),
        (~nw.col("EXDOSE").is_null()).any().alias("_DOSED"),
    )
    last = dated.filter(nw.col("S") == nw.col("S").max().over("USUBJID"))
    if seq:
        last = last.filter(nw.col("EXSEQ") == nw.col("EXSEQ").max().over("USUBJID"))
    open_end = last.group_by("USUBJID").agg(nw.col("E").is_null().any().alias("_OPEN"))
    per = per.join(open_end, on="USUBJID", how="left")
    if ds is not None:
        disp = with_dates(
            ds.filter(nw.col("DSCAT") == "DISPOSITION EVENT"), {"_DISP": "DSSTDTC"}
        ).select("USUBJID", "_DISP")
        first_disp = (
            per.select("USUBJID", "_LASTSTART")
            .join(disp, on="USUBJID")
            .filter(nw.col("_DISP") >= nw.col("_LASTSTART"))
            .group_by("USUBJID")
            .agg(nw.col("_DISP").min())
        )
        per = per.join(first_disp, on="USUBJID", how="left")
    else:
        per = per.with_columns(nw.lit(None, dtype=nw.Date).alias("_DISP"))
    end = (
        nw.when(nw.col("_OPEN"))
        .then(nw.coalesce("_DISP", nw.max_horizontal("_LASTEND", "_LASTSTART")))
        .otherwise(nw.col("_LASTEND"))
    )
    return per.select(
        "USUBJID",
        "TRTSDT",
        nw.min_horizontal(end, nw.lit(cutoff)).alias("TRTEDT"),
        flag(nw.col("_DOSED")).alias("SAFFL"),
    )


# Where a subject was last known alive: the dates of these datasets (DS without deaths).
ALIVE_DATES = {
    "SV": ("SVSTDTC",),
    "RS": ("RSDTC",),
    "EX": ("EXENDTC", "EXSTDTC"),
    "DS": ("DSSTDTC",),
    "DM": ("RFICDTC",),
}


def last_alive(tables: Tables, cutoff: dt.date) -> Frame | None:
    """Last date known alive (LSTALVDT) per subject: the latest visit, assessment, dose
    or non-death disposition date on or before the cutoff; None without such dates."""
    parts: list[Frame] = []
    for name, dates in ALIVE_DATES.items():
        if name not in tables:
            continue
        # Lazy: only USUBJID and the dates are read, and no dataset is held whole.
        frame = tables[name]
        if name == "DS":
            frame = frame.filter(nw.col("DSDECOD") != "DEATH")
        present = columns(frame)
        for col in dates:
            if col in present:
                parts.append(with_dates(frame, {"D": col}).select("USUBJID", "D"))
    if not parts:
        return None
    return (
        nw.concat(parts)
        .filter(nw.col("D") <= cutoff)
        .group_by("USUBJID")
        .agg(nw.col("D").max().alias("LSTALVDT"))
    )


def variable_inputs(variable: AdslVariable) -> set[str]:
    """The variables of its dataset that a study variable reads."""
    names = filter_variables(variable.where) if variable.where else set()
    names |= {col for col, _ in variable.contains}
    names |= {c for c in (variable.date, variable.value) if c}
    return names


def missing_input(variable: AdslVariable, tables: Tables) -> str | None:
    """Why a study variable cannot be derived from these data (None: it can)."""
    if variable.dataset not in tables:
        return f"no {variable.dataset} dataset"
    absent = sorted(variable_inputs(variable) - set(columns(tables[variable.dataset])))
    if absent:
        return f"{variable.dataset} has no {', '.join(absent)}"
    return None


def merged_variable(
    variable: AdslVariable, tables: Tables, cutoff: dt.date, study: Study
) -> Frame | None:
    """One study variable per subject (USUBJID and the variable); None when its dataset
    or a variable it reads is absent (:func:`missing_input` says which).

    ``first``/``last``: the value of the first/last matching record in the order of
    ``date`` (records without a date last), then of the records in the dataset."""
    if missing_input(variable, tables) is not None:
        return None
    field = f"adsl.variables.{variable.name}"
    # Numbered first, as read: the record order breaks ties of dates.
    frame = with_row_number(tables[variable.dataset], "_ROW")
    names = columns(frame)
    if variable.where:
        frame = frame.filter(
            where_neutral(variable.where, names, file=study.file, field=f"{field}.where")
        )
    for col, text in variable.contains:
        frame = frame.filter(
            nw.col(col).str.to_uppercase().str.contains(text.upper(), literal=True)
        )
    if variable.date:
        frame = with_dates(frame, {"_D": variable.date}).filter(
            nw.col("_D").is_null() | (nw.col("_D") <= cutoff)
        )
    else:
        frame = frame.with_columns(nw.lit(None, dtype=nw.Date).alias("_D"))
    name = variable.name
    if variable.kind == "count":
        return frame.group_by("USUBJID").agg(nw.len().cast(nw.Int64).alias(name))
    if variable.kind == "exists":
        return frame.select("USUBJID").unique().with_columns(nw.lit(variable.values[0]).alias(name))
    value = variable.value or ""
    if value.endswith("DTC"):
        frame = with_dates(frame, {"_V": value})
        expr = nw.col("_V")
    else:
        expr = nw.col(value)
    if variable.strip_prefix:
        prefix = variable.strip_prefix
        expr = (
            nw.when(expr.str.starts_with(prefix)).then(expr.str.slice(len(prefix))).otherwise(expr)
        )
    frame = frame.with_columns(nw.col("_D").is_null().alias("_DNULL"))
    picked = first_in_order(
        frame, "USUBJID", ["_DNULL", "_D", "_ROW"], last=variable.kind != "first"
    )
    return picked.select("USUBJID", expr.alias(name))


def _study_variables(adsl: Frame, tables: Tables, cutoff: dt.date, study: Study) -> Frame:
    """ADSL with the study's merged variables (those whose inputs are present)."""
    for variable in study.adsl_variables:
        merged = merged_variable(variable, tables, cutoff, study)
        if merged is None:
            continue
        adsl = adsl.join(merged, on="USUBJID", how="left")
        if variable.kind == "count":
            adsl = adsl.with_columns(nw.col(variable.name).fill_null(0))
        elif variable.kind == "exists":
            adsl = adsl.with_columns(nw.col(variable.name).fill_null(variable.values[1]))
    return adsl


def _on_adsl(names: list[str], text: str, study: Study, field: str) -> nw.Expr | None:
    """A filter on ADSL; None when it names a variable ADSL does not have."""
    if filter_variables(text) - set(names):
        return None
    return where_neutral(text, names, file=study.file, field=field)


def _groups_and_flags(adsl: Frame, study: Study) -> Frame:
    for group in study.adsl_groups:
        exprs = []
        for i, level in enumerate(group.levels):
            field = f"adsl.groups.{group.name}.levels[{i}].where"
            expr = _on_adsl(columns(adsl), level.where, study, field)
            if expr is None:
                break
            exprs.append((expr.fill_null(False), level.value))
        else:
            # The first level that holds: build from the last level outwards.
            category = nw.lit(None, dtype=nw.String)
            for expr, value in reversed(exprs):
                category = nw.when(expr).then(nw.lit(value)).otherwise(category)
            adsl = adsl.with_columns(category.alias(group.name))
    for adsl_flag in study.adsl_flags:
        field = f"adsl.flags.{adsl_flag.name}.where"
        expr = _on_adsl(columns(adsl), adsl_flag.where, study, field)
        if expr is not None:
            adsl = adsl.with_columns(flag(expr.fill_null(False)).alias(adsl_flag.name))
    return adsl


def adsl_gaps(adsl: pl.DataFrame, tables: Tables, study: Study) -> dict[str, str]:
    """The study's ADSL variables, groups and flags missing from a derived ADSL, and why."""
    gaps: dict[str, str] = {}
    for variable in study.adsl_variables:
        reason = missing_input(variable, tables)
        if reason and variable.name not in adsl.columns:
            gaps[variable.name] = reason
    named = [(g.name, [lv.where for lv in g.levels]) for g in study.adsl_groups]
    named += [(f.name, [f.where]) for f in study.adsl_flags]
    for name, filters in named:
        if name in adsl.columns:
            continue
        absent = set().union(*(filter_variables(t) for t in filters)) - set(adsl.columns)
        gaps[name] = f"ADSL has no {', '.join(sorted(absent))}"
    return gaps


def _ordered(adsl: Frame, order: tuple[str, ...]) -> Frame:
    names = columns(adsl)
    first = [c for c in order if c in names]
    return adsl.select(first + [c for c in names if c not in first])


# DM variables ADSL keeps, when present.
DM_KEPT = (
    "STUDYID",
    "USUBJID",
    "SUBJID",
    "SITEID",
    "AGE",
    "AGEU",
    "SEX",
    "RACE",
    "ETHNIC",
    "ARM",
    "ARMCD",
)


def derive_adsl(
    sdtm: Mapping[str, Dataset],
    cutoff: dt.date,
    *,
    protocol: Protocol | None = None,
    study: Study | None = None,
) -> Dataset:
    """ADSL from SDTM as of ``cutoff`` for ``study`` (default MM-024); datasets other than
    DM are used when present. ``protocol`` defaults to the study's (none: no RENALGR)."""
    return adsl_dataset(polars_tables(sdtm), cutoff, protocol=protocol, study=study)


def adsl_dataset(
    tables: Tables,
    cutoff: dt.date,
    *,
    protocol: Protocol | None = None,
    study: Study | None = None,
) -> Dataset:
    """:func:`derive_adsl` on any engine: ADSL from ``tables`` (Polars or Spark frames),
    collected as a Dataset."""
    study = study or load_study(DEFAULT_STUDY)
    if protocol is None:
        protocol = study.load_protocol()
    adsl = collect(adsl_frame(tables, cutoff, study, protocol))
    labels = (
        LABELS
        | {v.name: v.label for v in study.adsl_variables}
        | {g.name: g.label for g in study.adsl_groups}
        | {f.name: f.label for f in study.adsl_flags}
    )
    return as_adam("ADSL", "Subject-Level Analysis Dataset", adsl, labels)


def adsl_frame(tables: Tables, cutoff: dt.date, study: Study, protocol: Protocol | None) -> Frame:
    """ADSL's rows, sorted by USUBJID, as a lazy frame on the engine of ``tables``."""
    if "DM" not in tables:
        raise EapError("DM is required to derive ADSL", dataset="DM", expected="a DM dataset")
    dm = tables["DM"]
    names = columns(dm)
    keep = [c for c in DM_KEPT if c in names]
    dm = with_dates(
        dm, {d: c for d, c in (("_RFIC", "RFICDTC"), ("_DEATH", "DTHDTC")) if c in names}
    )
    missing_date = nw.lit(None, dtype=nw.Date)
    rfic = nw.col("_RFIC") if "RFICDTC" in names else missing_date
    death = nw.col("_DEATH") if "DTHDTC" in names else missing_date
    ittfl = flag(~rfic.is_null())
    if "RFICDTC" not in names or item(dm, nw.col("RFICDTC").is_null().all()):
        # No consent dates collected (SDTMIG before 3.1.3): ITT = assigned to an arm;
        # without ARMCD either, ITTFL is unknown (missing).
        ittfl = (
            flag(~nw.col("ARMCD").str.to_uppercase().is_in(["SCRNFAIL", "NOTASSGN", ""]))
            if "ARMCD" in names
            else nw.lit(None, dtype=nw.String)
        )
    arms = study.arms
    arm_vars = []
    if arms.planned_from in names:
        actual = arms.actual_from if arms.actual_from in names else arms.planned_from
        arm_vars = [
            nw.col(arms.planned_from).alias(arms.planned),
            nw.col(actual).alias(arms.actual),
        ]
    adsl = dm.select(
        *keep,
        ittfl.alias("ITTFL"),
        nw.when(death <= cutoff).then(death).alias("DTHDT"),
        nw.lit(cutoff).alias("CUTOFFDT"),
        *arm_vars,
    )
    if "EX" in tables:
        exposure = exposure_dates(tables["EX"], tables.get("DS"), cutoff)
        adsl = adsl.join(exposure, on="USUBJID", how="left").with_columns(
            nw.col("SAFFL").fill_null("N")
        )
    else:
        adsl = adsl.with_columns(nw.lit("N").alias("SAFFL"))
    alive = last_alive(tables, cutoff)
    if alive is None:
        adsl = adsl.with_columns(nw.lit(None, dtype=nw.Date).alias("LSTALVDT"))
    else:
        adsl = adsl.join(alive, on="USUBJID", how="left")
    adsl = _study_variables(adsl, tables, cutoff, study)
    adsl = _groups_and_flags(adsl, study)
    adsl = _renal(adsl, study, protocol)
    return _ordered(adsl.sort("USUBJID"), study.adsl_order)


def _renal(adsl: Frame, study: Study, protocol: Protocol | None) -> Frame:
    """CRCLBL from AGE, SEX, WEIGHTBL and CREATBL (umol/L) by Cockcroft-Gault
    (eap.protocol.cockcroft_gault, the same arithmetic in the same order); RENALGR, the
    label of the protocol's renal band that contains it. A subject whose values the
    formula does not take (an age of 140 or more, a weight that is not positive) stops
    the derivation with cockcroft_gault's own error."""
    if not {"AGE", "SEX", "WEIGHTBL", "CREATBL"} <= set(columns(adsl)):
        return adsl
    age, weight, creat = nw.col("AGE"), nw.col("WEIGHTBL"), nw.col("CREATBL")
    sex = nw.col("SEX").str.strip_chars().str.to_uppercase()
    known = ~(age.is_null() | weight.is_null() | creat.is_null() | nw.col("SEX").is_null())
    takes = (age > 0) & (age < MAX_AGE_YEARS) & (weight > 0) & (creat > 0) & sex.is_in(["M", "F"])
    takes = takes & age.is_finite() & weight.is_finite() & creat.is_finite()
    refused = collect(
        adsl.filter(known & ~takes.fill_null(False))
        .select("AGE", "WEIGHTBL", "SEX", "CREATBL")
        .head(1)
    )
    for a, w, s, c in refused.iter_rows():
        cockcroft_gault(a, w, s, c, "umol/L")  # raises, naming the value refused
    crcl = (140.0 - age) * weight / (72.0 * (creat / UMOL_L_PER_MG_DL))
    crcl = nw.when(sex == "F").then(crcl * FEMALE_FACTOR).otherwise(crcl)
    adsl = adsl.with_columns(nw.when(known).then(crcl).cast(nw.Float64).alias("CRCLBL"))
    if protocol is None:
        return adsl
    study.drug_regimen(protocol)
    group = nw.lit(None, dtype=nw.String)
    for band in reversed(protocol.regimen.lenalidomide.renal_bands):
        inside = (nw.col("CRCLBL") >= band.crcl_min) & (nw.col("CRCLBL") < band.crcl_max)
        group = nw.when(inside).then(nw.lit(band.label)).otherwise(group)
    return adsl.with_columns(group.alias("RENALGR"))

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

import polars as pl

from eap.datasets.lazy import scan
from eap.datasets.model import Dataset
from eap.derive.adtte import last_alive
from eap.derive.common import as_adam, as_date, filter_variables, iso_date, where
from eap.errors import EapError
from eap.plans.rules import AdslVariable
from eap.plans.study import DEFAULT_STUDY, Study, load_study
from eap.protocol import Protocol, cockcroft_gault
from eap.protocol.dosing import renal_band

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


def _flag(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr).then(pl.lit("Y")).otherwise(pl.lit("N"))


def exposure_dates(
    ex: pl.DataFrame | pl.LazyFrame, ds: pl.DataFrame | pl.LazyFrame | None, cutoff: dt.date
) -> pl.DataFrame:
    """TRTSDT, TRTEDT and SAFFL per subject from EX (records after the cutoff dropped).

    Imputation: when the last EX record has no end date, TRTEDT is the date of
    the subject's disposition event (DS DSCAT "DISPOSITION EVENT", first on or
    after that record's start), as the CDISC pilot ADSL does; without one, the
    record's start date.
    """
    # Lazy from the scan to the one collect: only the rows and variables used are read.
    dated = (
        ex.lazy()
        .select("USUBJID", "EXSTDTC", "EXENDTC", "EXDOSE")
        .with_columns(iso_date("EXSTDTC").alias("S"), iso_date("EXENDTC").alias("E"))
        .filter(pl.col("S") <= cutoff)
    )
    per = (
        dated.sort("USUBJID", "S")
        .group_by("USUBJID")
        .agg(
            pl.col("S").min().alias("TRTSDT"),
            pl.col("E").max().alias("_LASTEND"),
            pl.col("S").last().alias("_LASTSTART"),
            pl.col("E").last().is_null().alias("_OPEN"),
            _flag(pl.col("EXDOSE").is_not_null().any()).alias("SAFFL"),
        )
    )
    if ds is not None:
        disp = (
            ds.lazy()
            .filter(pl.col("DSCAT") == "DISPOSITION EVENT")
            .with_columns(iso_date("DSSTDTC").alias("_DISP"))
            .select("USUBJID", "_DISP")
        )
        first_disp = (
            per.select("USUBJID", "_LASTSTART")
            .join(disp, on="USUBJID")
            .filter(pl.col("_DISP") >= pl.col("_LASTSTART"))
            .group_by("USUBJID")
            .agg(pl.col("_DISP").min())
        )
        per = per.join(first_disp, on="USUBJID", how="left")
    else:
        per = per.with_columns(pl.lit(None, dtype=pl.Date).alias("_DISP"))
    end = (
        pl.when(pl.col("_OPEN"))
        .then(pl.coalesce("_DISP", pl.max_horizontal("_LASTEND", "_LASTSTART")))
        .otherwise(pl.col("_LASTEND"))
    )
    return (
        per.with_columns(pl.min_horizontal(end, pl.lit(cutoff)).alias("TRTEDT"))
        .select("USUBJID", "TRTSDT", "TRTEDT", "SAFFL")
        .collect()
    )


def variable_inputs(variable: AdslVariable) -> set[str]:
    """The variables of its dataset that a study variable reads."""
    names = filter_variables(variable.where) if variable.where else set()
    names |= {col for col, _ in variable.contains}
    names |= {c for c in (variable.date, variable.value) if c}
    return names


def missing_input(variable: AdslVariable, sdtm: Mapping[str, Dataset]) -> str | None:
    """Why a study variable cannot be derived from these data (None: it can)."""
    if variable.dataset not in sdtm:
        return f"no {variable.dataset} dataset"
    absent = sorted(variable_inputs(variable) - set(sdtm[variable.dataset].frame.columns))
    if absent:
        return f"{variable.dataset} has no {', '.join(absent)}"
    return None


def merged_variable(
    variable: AdslVariable, sdtm: Mapping[str, Dataset], cutoff: dt.date, study: Study
) -> pl.DataFrame | None:
    """One study variable per subject (USUBJID and the variable); None when its dataset
    or a variable it reads is absent (:func:`missing_input` says which)."""
    if missing_input(variable, sdtm) is not None:
        return None
    field = f"adsl.variables.{variable.name}"
    frame = sdtm[variable.dataset].frame
    if variable.where:
        frame = frame.filter(
            where(variable.where, frame.columns, file=study.file, field=f"{field}.where")
        )
    for col, text in variable.contains:
        frame = frame.filter(
            pl.col(col).str.to_uppercase().str.contains(text.upper(), literal=True)
        )
    if variable.date:
        frame = frame.with_columns(as_date(frame, variable.date).alias("_D")).filter(
            pl.col("_D").is_null() | (pl.col("_D") <= cutoff)
        )
    else:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Date).alias("_D"))
    name = variable.name
    if variable.kind == "count":
        return frame.group_by("USUBJID").agg(pl.len().cast(pl.Int64).alias(name))
    if variable.kind == "exists":
        return frame.select("USUBJID").unique().with_columns(pl.lit(variable.values[0]).alias(name))
    value = variable.value or ""
    expr = as_date(frame, value) if value.endswith("DTC") else pl.col(value)
    if variable.strip_prefix:
        expr = expr.str.strip_prefix(variable.strip_prefix)
    ordered = frame.with_row_index("_ROW").sort("_D", "_ROW", nulls_last=True)
    picked = expr.first() if variable.kind == "first" else expr.last()
    return ordered.group_by("USUBJID", maintain_order=True).agg(picked.alias(name))


def _study_variables(
    adsl: pl.DataFrame, sdtm: Mapping[str, Dataset], cutoff: dt.date, study: Study
) -> pl.DataFrame:
    """ADSL with the study's merged variables (those whose inputs are present)."""
    for variable in study.adsl_variables:
        merged = merged_variable(variable, sdtm, cutoff, study)
        if merged is None:
            continue
        adsl = adsl.join(merged, on="USUBJID", how="left")
        if variable.kind == "count":
            adsl = adsl.with_columns(pl.col(variable.name).fill_null(0))
        elif variable.kind == "exists":
            adsl = adsl.with_columns(pl.col(variable.name).fill_null(variable.values[1]))
    return adsl


def _on_adsl(adsl: pl.DataFrame, text: str, study: Study, field: str) -> pl.Expr | None:
    """A filter on ADSL; None when it names a variable ADSL does not have."""
    if filter_variables(text) - set(adsl.columns):
        return None
    return where(text, adsl.columns, file=study.file, field=field)


def _groups_and_flags(adsl: pl.DataFrame, study: Study) -> pl.DataFrame:
    for group in study.adsl_groups:
        exprs = []
        for i, level in enumerate(group.levels):
            field = f"adsl.groups.{group.name}.levels[{i}].where"
            expr = _on_adsl(adsl, level.where, study, field)
            if expr is None:
                break
            exprs.append((expr.fill_null(False), level.value))
        else:
            # The first level that holds: build from the last level outwards.
            category = pl.lit(None, dtype=pl.String)
            for expr, value in reversed(exprs):
                category = pl.when(expr).then(pl.lit(value)).otherwise(category)
            adsl = adsl.with_columns(category.alias(group.name))
    for flag in study.adsl_flags:
        expr = _on_adsl(adsl, flag.where, study, f"adsl.flags.{flag.name}.where")
        if expr is not None:
            adsl = adsl.with_columns(_flag(expr.fill_null(False)).alias(flag.name))
    return adsl


def adsl_gaps(adsl: pl.DataFrame, sdtm: Mapping[str, Dataset], study: Study) -> dict[str, str]:
    """The study's ADSL variables, groups and flags missing from a derived ADSL, and why."""
    gaps: dict[str, str] = {}
    for variable in study.adsl_variables:
        reason = missing_input(variable, sdtm)
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


def _ordered(adsl: pl.DataFrame, order: tuple[str, ...]) -> pl.DataFrame:
    first = [c for c in order if c in adsl.columns]
    return adsl.select(first + [c for c in adsl.columns if c not in first])


def derive_adsl(
    sdtm: Mapping[str, Dataset],
    cutoff: dt.date,
    *,
    protocol: Protocol | None = None,
    study: Study | None = None,
) -> Dataset:
    """ADSL from SDTM as of ``cutoff`` for ``study`` (default MM-024); datasets other than
    DM are used when present. ``protocol`` defaults to the study's (none: no RENALGR)."""
    if "DM" not in sdtm:
        raise EapError("DM is required to derive ADSL", dataset="DM", expected="a DM dataset")
    study = study or load_study(DEFAULT_STUDY)
    if protocol is None:
        protocol = study.load_protocol()
    dm = sdtm["DM"].frame
    keep = [
        c
        for c in (
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
        if c in dm.columns
    ]
    missing_date = pl.lit(None, dtype=pl.Date)
    rfic = iso_date("RFICDTC") if "RFICDTC" in dm.columns else missing_date
    death = iso_date("DTHDTC") if "DTHDTC" in dm.columns else missing_date
    ittfl = _flag(rfic.is_not_null())
    if "RFICDTC" not in dm.columns or dm["RFICDTC"].is_null().all():
        # No consent dates collected (SDTMIG before 3.1.3): ITT = assigned to an arm;
        # without ARMCD either, ITTFL is unknown (missing).
        ittfl = (
            _flag(~pl.col("ARMCD").str.to_uppercase().is_in(["SCRNFAIL", "NOTASSGN", ""]))
            if "ARMCD" in dm.columns
            else pl.lit(None, dtype=pl.String)
        )
    arms = study.arms
    arm_vars = []
    if arms.planned_from in dm.columns:
        actual = arms.actual_from if arms.actual_from in dm.columns else arms.planned_from
        arm_vars = [
            pl.col(arms.planned_from).alias(arms.planned),
            pl.col(actual).alias(arms.actual),
        ]
    adsl = dm.with_columns(
        ittfl.alias("ITTFL"),
        pl.when(death <= cutoff).then(death).alias("DTHDT"),
        pl.lit(cutoff).alias("CUTOFFDT"),
        *arm_vars,
    ).select(*keep, "ITTFL", "DTHDT", "CUTOFFDT", *(e.meta.output_name() for e in arm_vars))
    if "EX" in sdtm:
        ds_frame = scan(sdtm, "DS") if "DS" in sdtm else None
        exposure = exposure_dates(scan(sdtm, "EX"), ds_frame, cutoff)
        adsl = adsl.join(exposure, on="USUBJID", how="left").with_columns(
            pl.col("SAFFL").fill_null("N")
        )
    else:
        adsl = adsl.with_columns(pl.lit("N").alias("SAFFL"))
    adsl = adsl.join(last_alive(sdtm, cutoff), on="USUBJID", how="left")
    adsl = _study_variables(adsl, sdtm, cutoff, study)
    adsl = _groups_and_flags(adsl, study)
    adsl = _renal(adsl, study, protocol)
    labels = (
        LABELS
        | {v.name: v.label for v in study.adsl_variables}
        | {g.name: g.label for g in study.adsl_groups}
        | {f.name: f.label for f in study.adsl_flags}
    )
    adsl = _ordered(adsl.sort("USUBJID"), study.adsl_order)
    return as_adam("ADSL", "Subject-Level Analysis Dataset", adsl, labels)


def _renal(adsl: pl.DataFrame, study: Study, protocol: Protocol | None) -> pl.DataFrame:
    """CRCLBL from AGE, SEX, WEIGHTBL and CREATBL; RENALGR from the protocol's bands."""
    if not {"AGE", "SEX", "WEIGHTBL", "CREATBL"} <= set(adsl.columns):
        return adsl
    crcl = [
        cockcroft_gault(a, w, s, c, "umol/L") if None not in (a, w, s, c) else None
        for a, w, s, c in zip(
            adsl["AGE"], adsl["WEIGHTBL"], adsl["SEX"], adsl["CREATBL"], strict=True
        )
    ]
    adsl = adsl.with_columns(pl.Series("CRCLBL", crcl, dtype=pl.Float64))
    if protocol is None:
        return adsl
    study.drug_regimen(protocol)
    group = [None if value is None else renal_band(protocol, value).label for value in crcl]
    return adsl.with_columns(pl.Series("RENALGR", group, dtype=pl.String))

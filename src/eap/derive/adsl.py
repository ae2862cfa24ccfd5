"""ADSL: one row per subject, from SDTM DM, DS, EX, RS, LB, VS (CM and PR when present).

Each variable's rule is in ``RULES`` (name, label, rule text, sources); the
functions below implement them and docs/derivations.md lists them.

Generic parts (any study): ITTFL, SAFFL, TRTSDT, TRTEDT, DTHDT, LSTALVDT,
AGEGR1. MM-024 parts: the Treatment-Phase cohort and phase dates, the Table 1
characteristics, creatinine clearance, end-of-treatment and end-of-study status.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import polars as pl

from eap.datasets.model import Dataset
from eap.derive.adtte import last_alive
from eap.derive.common import as_adam, iso_date
from eap.errors import EapError
from eap.protocol import Protocol, cockcroft_gault, load_protocol

RULES: tuple[tuple[str, str, str, str], ...] = (
    (
        "ITTFL",
        "Intent-To-Treat Population Flag",
        "Y when the EAP informed consent date (RFICDTC) is present, else N; in studies "
        "without consent dates, Y when ARMCD is not SCRNFAIL or NOTASSGN",
        "DM.RFICDTC, DM.ARMCD",
    ),
    (
        "SAFFL",
        "Safety Population Flag",
        "Y when the subject has at least one EX record (placebo included), else N",
        "EX.EXDOSE",
    ),
    (
        "TCFL",
        "Treatment Cohort Flag",
        "Y when the subject entered the Treatment Phase (DM.ARMCD = TP)",
        "DM.ARMCD",
    ),
    ("PHASE", "EAP Phase at Entry", "Treatment Phase or Safety Follow-Up Phase (DM.ARM)", "DM.ARM"),
    (
        "ENRLDT",
        "Parent-Trial Enrollment Date",
        "DS record DSDECOD = ENROLLED IN PARENT TRIAL",
        "DS.DSSTDTC",
    ),
    ("EAPDT", "EAP Consent Date", "DM.RFICDTC", "DM.RFICDTC"),
    (
        "SFUDT",
        "Date Entered Safety Follow-Up Phase",
        "DS record DSDECOD = ENTERED SAFETY FOLLOW-UP PHASE",
        "DS.DSSTDTC",
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
    ("AGEGR1", "Pooled Age Group 1", "<=65 or >65 years (Table 1)", "DM.AGE"),
    ("ECOGBL", "Baseline ECOG Performance Status", "RS RSTESTCD = ECOG", "RS.RSSTRESC"),
    ("DSSTAGE", "Durie-Salmon Stage at Baseline", "RS RSTESTCD = DSSTAGE", "RS.RSSTRESC"),
    (
        "NPRIOR",
        "Number of Prior Anti-Myeloma Therapies",
        "CM records with CMCAT = PRIOR ANTI-MYELOMA THERAPY",
        "CM.CMCAT",
    ),
    ("NPRIORGR", "Prior Therapies Group", "1, 2, 3, 4 or >=5", "NPRIOR"),
    (
        "PRIBORFL",
        "Prior Bortezomib Flag",
        "Y when a prior regimen's CMTRT names bortezomib",
        "CM.CMTRT",
    ),
    (
        "PRITHAFL",
        "Prior Thalidomide Flag",
        "Y when a prior regimen's CMTRT names thalidomide",
        "CM.CMTRT",
    ),
    ("PRISURFL", "Prior Surgery Flag", "Y when PR has a prior cancer surgery", "PR.PRCAT"),
    ("PRIRADFL", "Prior Radiation Flag", "Y when PR has prior radiation therapy", "PR.PRCAT"),
    ("WEIGHTBL", "Baseline Weight (kg)", "VS WEIGHT with VSBLFL = Y", "VS.VSSTRESN"),
    ("CREATBL", "Baseline Creatinine (umol/L)", "LB CREAT with LBBLFL = Y", "LB.LBSTRESN"),
    (
        "CRCLBL",
        "Baseline Creatinine Clearance (mL/min)",
        "Cockcroft-Gault from AGE, SEX, WEIGHTBL, CREATBL (eap.protocol)",
        "DM, VS, LB",
    ),
    (
        "RENALGR",
        "Renal Function Group",
        ">=60, 30-<60 or <30 mL/min (protocol renal bands)",
        "CRCLBL",
    ),
    (
        "EOTSTT",
        "End of Treatment Status",
        "DISCONTINUED when DS has an END OF TREATMENT record by the cutoff, else ONGOING",
        "DS.DSSCAT",
    ),
    (
        "DCTREAS",
        "Reason for Discontinuation of Treatment",
        "DSDECOD of the END OF TREATMENT record",
        "DS.DSDECOD",
    ),
    (
        "EOSSTT",
        "End of Study Status",
        "DISCONTINUED at death or loss to follow-up, else ONGOING",
        "DS.DSDECOD",
    ),
    (
        "DTHCAUS",
        "Cause of Death",
        "DSTERM of the END OF STUDY death record, without the DEATH DUE TO prefix",
        "DS.DSTERM",
    ),
)
LABELS = {name: label for name, label, _, _ in RULES}


def _flag(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr).then(pl.lit("Y")).otherwise(pl.lit("N"))


def exposure_dates(ex: pl.DataFrame, ds: pl.DataFrame | None, cutoff: dt.date) -> pl.DataFrame:
    """TRTSDT, TRTEDT and SAFFL per subject from EX (records after the cutoff dropped).

    Imputation: when the last EX record has no end date, TRTEDT is the date of
    the subject's disposition event (DS DSCAT "DISPOSITION EVENT", first on or
    after that record's start), as the CDISC pilot ADSL does; without one, the
    record's start date.
    """
    dated = ex.with_columns(iso_date("EXSTDTC").alias("S"), iso_date("EXENDTC").alias("E")).filter(
        pl.col("S") <= cutoff
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
            ds.filter(pl.col("DSCAT") == "DISPOSITION EVENT")
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
    return per.with_columns(pl.min_horizontal(end, pl.lit(cutoff)).alias("TRTEDT")).select(
        "USUBJID", "TRTSDT", "TRTEDT", "SAFFL"
    )


def _disposition(ds: pl.DataFrame, cutoff: dt.date) -> pl.DataFrame:
    # Studies without a DS subcategory have no separate end-of-treatment record.
    if "DSSCAT" not in ds.columns:
        ds = ds.with_columns(pl.lit(None, dtype=pl.String).alias("DSSCAT"))
    d = ds.with_columns(iso_date("DSSTDTC").alias("D")).filter(pl.col("D") <= cutoff)
    return d.group_by("USUBJID").agg(
        pl.col("D").filter(pl.col("DSDECOD") == "ENROLLED IN PARENT TRIAL").first().alias("ENRLDT"),
        pl.col("D")
        .filter(pl.col("DSDECOD") == "ENTERED SAFETY FOLLOW-UP PHASE")
        .first()
        .alias("SFUDT"),
        pl.col("DSDECOD").filter(pl.col("DSSCAT") == "END OF TREATMENT").first().alias("DCTREAS"),
        pl.col("DSTERM")
        .filter((pl.col("DSSCAT") == "END OF STUDY") & (pl.col("DSDECOD") == "DEATH"))
        .first()
        .str.replace("^DEATH DUE TO ", "")
        .alias("DTHCAUS"),
        (pl.col("DSDECOD") == "LOST TO FOLLOW-UP").any().alias("_LOST"),
    )


def _baseline_rs(rs: pl.DataFrame) -> pl.DataFrame:
    base = rs.filter(pl.col("RSTESTCD").is_in(["ECOG", "DSSTAGE"]))
    return base.pivot(
        on="RSTESTCD", index="USUBJID", values="RSSTRESC", aggregate_function="first"
    ).rename({"ECOG": "ECOGBL"}, strict=False)


def _prior_therapy(cm: pl.DataFrame) -> pl.DataFrame:
    prior = cm.filter(pl.col("CMCAT") == "PRIOR ANTI-MYELOMA THERAPY")
    trt = pl.col("CMTRT").str.to_uppercase()
    return prior.group_by("USUBJID").agg(
        pl.len().cast(pl.Int64).alias("NPRIOR"),
        _flag(trt.str.contains("BORTEZOMIB").any()).alias("PRIBORFL"),
        _flag(trt.str.contains("THALIDOMIDE").any()).alias("PRITHAFL"),
    )


def _procedures(pr: pl.DataFrame) -> pl.DataFrame:
    cat = pl.col("PRCAT").str.to_uppercase()
    return pr.group_by("USUBJID").agg(
        _flag(cat.str.contains("SURG").any()).alias("PRISURFL"),
        _flag(cat.str.contains("RADI").any()).alias("PRIRADFL"),
    )


def derive_adsl(
    sdtm: Mapping[str, Dataset], cutoff: dt.date, *, protocol: Protocol | None = None
) -> Dataset:
    """ADSL from SDTM; datasets other than DM are used when present."""
    if "DM" not in sdtm:
        raise EapError("DM is required to derive ADSL", dataset="DM", expected="a DM dataset")
    protocol = protocol or load_protocol()
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
    consented = rfic.is_not_null()
    if "RFICDTC" not in dm.columns or dm["RFICDTC"].is_null().all():
        # No consent dates collected (SDTMIG before 3.1.3): ITT = assigned to an arm.
        consented = ~pl.col("ARMCD").str.to_uppercase().is_in(["SCRNFAIL", "NOTASSGN", ""])
    adsl = dm.with_columns(
        _flag(consented).alias("ITTFL"),
        rfic.alias("EAPDT"),
        pl.when(death <= cutoff).then(death).alias("DTHDT"),
        pl.lit(cutoff).alias("CUTOFFDT"),
    ).select(*keep, "ITTFL", "EAPDT", "DTHDT", "CUTOFFDT")
    if "ARMCD" in adsl.columns:
        adsl = adsl.with_columns(
            _flag(pl.col("ARMCD") == "TP").alias("TCFL"),
            pl.col("ARM").alias("PHASE"),
            pl.col("ARM").alias("TRT01P"),
            pl.col("ARM").alias("TRT01A"),
        )
    if "AGE" in adsl.columns:
        adsl = adsl.with_columns(
            pl.when(pl.col("AGE") <= 65)
            .then(pl.lit("<=65"))
            .otherwise(pl.lit(">65"))
            .alias("AGEGR1")
        )
    if "EX" in sdtm:
        ds_frame = sdtm["DS"].frame if "DS" in sdtm else None
        exposure = exposure_dates(sdtm["EX"].frame, ds_frame, cutoff)
        adsl = adsl.join(exposure, on="USUBJID", how="left").with_columns(
            pl.col("SAFFL").fill_null("N")
        )
    else:
        adsl = adsl.with_columns(pl.lit("N").alias("SAFFL"))
    adsl = adsl.join(last_alive(sdtm, cutoff), on="USUBJID", how="left")
    if "DS" in sdtm:
        disp = _disposition(sdtm["DS"].frame, cutoff)
        adsl = (
            adsl.join(disp, on="USUBJID", how="left")
            .with_columns(
                pl.when(pl.col("DCTREAS").is_not_null())
                .then(pl.lit("DISCONTINUED"))
                .otherwise(pl.lit("ONGOING"))
                .alias("EOTSTT"),
                pl.when(pl.col("DTHDT").is_not_null() | pl.col("_LOST").fill_null(False))
                .then(pl.lit("DISCONTINUED"))
                .otherwise(pl.lit("ONGOING"))
                .alias("EOSSTT"),
            )
            .drop("_LOST")
        )
    if "RS" in sdtm:
        adsl = adsl.join(_baseline_rs(sdtm["RS"].frame), on="USUBJID", how="left")
    if "CM" in sdtm and "CMCAT" in sdtm["CM"].frame.columns:
        adsl = adsl.join(_prior_therapy(sdtm["CM"].frame), on="USUBJID", how="left").with_columns(
            pl.when(pl.col("NPRIOR") >= 5)
            .then(pl.lit(">=5"))
            .otherwise(pl.col("NPRIOR").cast(pl.String))
            .alias("NPRIORGR")
        )
    if "PR" in sdtm and "PRCAT" in sdtm["PR"].frame.columns:
        adsl = adsl.join(_procedures(sdtm["PR"].frame), on="USUBJID", how="left").with_columns(
            pl.col("PRISURFL", "PRIRADFL").fill_null("N")
        )
    adsl = _renal(adsl, sdtm, protocol)
    return as_adam("ADSL", "Subject-Level Analysis Dataset", adsl.sort("USUBJID"), LABELS)


def _renal(adsl: pl.DataFrame, sdtm: Mapping[str, Dataset], protocol: Protocol) -> pl.DataFrame:
    if "LB" not in sdtm or "VS" not in sdtm:
        return adsl
    lb = sdtm["LB"].frame.filter((pl.col("LBTESTCD") == "CREAT") & (pl.col("LBBLFL") == "Y"))
    vs = sdtm["VS"].frame.filter((pl.col("VSTESTCD") == "WEIGHT") & (pl.col("VSBLFL") == "Y"))
    adsl = adsl.join(
        lb.select("USUBJID", pl.col("LBSTRESN").alias("CREATBL")), on="USUBJID", how="left"
    ).join(vs.select("USUBJID", pl.col("VSSTRESN").alias("WEIGHTBL")), on="USUBJID", how="left")
    crcl = [
        cockcroft_gault(a, w, s, c, "umol/L") if None not in (a, w, s, c) else None
        for a, w, s, c in zip(
            adsl["AGE"], adsl["WEIGHTBL"], adsl["SEX"], adsl["CREATBL"], strict=True
        )
    ]
    bands = protocol.regimen.lenalidomide.renal_bands
    group: list[str | None] = []
    for value in crcl:
        if value is None:
            group.append(None)
            continue
        band = next(b for b in bands if b.contains(value))
        group.append(band.label)
    return adsl.with_columns(
        pl.Series("CRCLBL", crcl, dtype=pl.Float64), pl.Series("RENALGR", group, dtype=pl.String)
    )

"""ADAE: treatment-emergent adverse events with worst grade, grade 3-4, SPM and action flags.

Rules (one function each below):

* **Dates** ASTDT/AENDT from AESTDTC/AEENDTC. Partial dates are imputed:
  a missing day becomes the 1st (ASTDTF "D"), a missing month January (ASTDTF
  "M"); when the known part of a start date is the month (or year) of the first
  dose, the start is imputed to the first dose instead, so that an event of that
  month is not called pre-treatment (the convention of admiral's
  ``derive_vars_dt(highest_imputation = "M", min_dates = TRTSDT)``). End dates
  are imputed to the last day of the period (AENDTF), never after death.
* **TRTEMFL** "Y" when ASTDT >= TRTSDT and (``end_window_days`` is None or
  ASTDT <= TRTEDT + ``end_window_days``; 28 by default, the MM-024 window), and
  for every second primary malignancy (AECAT "SECOND PRIMARY MALIGNANCY"),
  which the protocol follows for the whole study, only when ``spm_always_emergent``.
  A missing start date counts as emergent (conservative; admiral's rule).
* **ATOXGRN** the CTCAE grade as a number; **TOXG34FL** "Y" for grade 3 or 4.
* **WORSTFL** "Y" on one record per subject and preferred term: the worst
  grade (or severity when there is no grade), earliest onset among ties, among
  treatment-emergent records. Tables that count a patient once per term at the
  highest grade select WORSTFL = "Y".
* **SPMFL** "Y" for AECAT "SECOND PRIMARY MALIGNANCY".
* **ACTLEN** action with lenalidomide: INTERRUPTED, REDUCED, WITHDRAWN or NONE
  (from AEACN).
* **APHASE** phase at onset: PARENT TRIAL (before EAP consent), TREATMENT
  PHASE (on Rd after consent) or SAFETY FOLLOW-UP (on or after the date the
  patient entered it); **ONTRTM** months from first dose to onset.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from eap.datasets.model import Dataset
from eap.derive.common import MONTH_DAYS, as_adam
from eap.errors import EapError

SEVERITY_RANK = {"MILD": 1, "MODERATE": 2, "SEVERE": 3}
ACTIONS = {
    "DRUG INTERRUPTED": "INTERRUPTED",
    "DOSE REDUCED": "REDUCED",
    "DRUG WITHDRAWN": "WITHDRAWN",
}
SPM_CATEGORY = "SECOND PRIMARY MALIGNANCY"


def impute_start(dtc: pl.Expr, trtsdt: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """ASTDT and ASTDTF from ISO 8601 text (see the module docstring)."""
    full = dtc.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    month = dtc.str.slice(0, 7).str.to_date("%Y-%m", strict=False)
    year = dtc.str.slice(0, 4).str.to_date("%Y", strict=False)
    same_month = (month.dt.year() == trtsdt.dt.year()) & (month.dt.month() == trtsdt.dt.month())
    same_year = year.dt.year() == trtsdt.dt.year()
    has_month = dtc.str.contains(r"^\d{4}-\d{2}")
    date = (
        pl.when(full.is_not_null())
        .then(full)
        .when(has_month & same_month.fill_null(False))
        .then(pl.max_horizontal(month, trtsdt))
        .when(has_month)
        .then(month)
        .when(same_year.fill_null(False))
        .then(pl.max_horizontal(year, trtsdt))
        .otherwise(year)
    )
    flag = (
        pl.when(full.is_not_null())
        .then(pl.lit(None, dtype=pl.String))
        .when(has_month)
        .then(pl.lit("D"))
        .when(year.is_not_null())
        .then(pl.lit("M"))
    )
    return date, flag


def impute_end(dtc: pl.Expr, death: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """AENDT and AENDTF: the last day of a partial period, never after death."""
    full = dtc.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    month = dtc.str.slice(0, 7).str.to_date("%Y-%m", strict=False)
    year = dtc.str.slice(0, 4).str.to_date("%Y", strict=False)
    last_of_month = month.dt.month_end()
    last_of_year = year.dt.offset_by("1y") - pl.duration(days=1)
    guess = (
        pl.when(full.is_not_null())
        .then(full)
        .when(month.is_not_null())
        .then(last_of_month)
        .otherwise(last_of_year)
    )
    flag = (
        pl.when(full.is_not_null())
        .then(pl.lit(None, dtype=pl.String))
        .when(month.is_not_null())
        .then(pl.lit("D"))
        .when(year.is_not_null())
        .then(pl.lit("M"))
    )
    return pl.when(death.is_not_null() & (guess > death)).then(death).otherwise(guess), flag


def derive_adae(
    sdtm: Mapping[str, Dataset],
    adsl: Dataset,
    *,
    end_window_days: int | None = 28,
    spm_always_emergent: bool = False,
) -> Dataset:
    """ADAE from SDTM AE (and SUPPAE when present) and ADSL."""
    if "AE" not in sdtm:
        raise EapError("AE is required to derive ADAE", dataset="AE", expected="an AE dataset")
    ae = sdtm["AE"].frame
    subject_cols = [
        c
        for c in (
            "USUBJID",
            "TRTSDT",
            "TRTEDT",
            "DTHDT",
            "EAPDT",
            "SFUDT",
            "SAFFL",
            "TCFL",
            "TRT01A",
        )
        if c in adsl.frame.columns
    ]
    missing = ae.filter(~pl.col("USUBJID").is_in(adsl.frame["USUBJID"].implode()))
    if missing.height:
        raise EapError(
            "AE records of subjects absent from ADSL",
            dataset="AE",
            variable="USUBJID",
            rows=[
                i + 1
                for i in ae.with_row_index()
                .filter(pl.col("USUBJID").is_in(missing["USUBJID"].implode()))["index"]
                .to_list()
            ],
            expected="every AE subject in DM/ADSL",
            found=", ".join(sorted(set(missing["USUBJID"].to_list()))[:5]),
        )
    frame = ae.join(adsl.frame.select(subject_cols), on="USUBJID", how="left")
    for col in ("DTHDT", "EAPDT", "SFUDT"):
        if col not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.Date).alias(col))
    for col in ("AETOXGR", "AECAT", "AEACN", "AESEV", "AEENDTC"):
        if col not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(col))
    astdt, astdtf = impute_start(pl.col("AESTDTC"), pl.col("TRTSDT"))
    aendt, aendtf = impute_end(pl.col("AEENDTC"), pl.col("DTHDT"))
    frame = frame.with_columns(
        astdt.alias("ASTDT"), astdtf.alias("ASTDTF"), aendt.alias("AENDT"), aendtf.alias("AENDTF")
    )
    spm = pl.col("AECAT") == SPM_CATEGORY
    in_window = pl.col("ASTDT") >= pl.col("TRTSDT")
    if end_window_days is not None:
        in_window = in_window & (
            pl.col("ASTDT") <= pl.col("TRTEDT") + pl.duration(days=end_window_days)
        )
    emergent = (
        pl.when(pl.col("AESTDTC").is_null() & pl.col("TRTSDT").is_not_null())
        .then(True)
        .otherwise(in_window)
    )
    if spm_always_emergent:
        emergent = emergent | spm.fill_null(False)
    frame = frame.with_columns(
        pl.when(emergent.fill_null(False))
        .then(pl.lit("Y"))
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias("TRTEMFL"),
        pl.col("AETOXGR").cast(pl.Int64, strict=False).alias("ATOXGRN"),
        pl.when(spm.fill_null(False))
        .then(pl.lit("Y"))
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias("SPMFL"),
        pl.col("AEACN").replace_strict(ACTIONS, default="NONE").alias("ACTLEN"),
        ((pl.col("ASTDT") - pl.col("TRTSDT")).dt.total_days() + 1).alias("ASTDY"),
        (((pl.col("ASTDT") - pl.col("TRTSDT")).dt.total_days() + 1) / MONTH_DAYS).alias("ONTRTM"),
        pl.when(pl.col("SFUDT").is_not_null() & (pl.col("ASTDT") >= pl.col("SFUDT")))
        .then(pl.lit("SAFETY FOLLOW-UP"))
        .when(pl.col("EAPDT").is_not_null() & (pl.col("ASTDT") >= pl.col("EAPDT")))
        .then(pl.lit("TREATMENT PHASE"))
        .when(pl.col("EAPDT").is_not_null())
        .then(pl.lit("PARENT TRIAL"))
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias("APHASE"),
    ).with_columns(
        pl.when(pl.col("ATOXGRN").is_between(3, 4))
        .then(pl.lit("Y"))
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias("TOXG34FL"),
        pl.coalesce(
            "ATOXGRN",
            pl.col("AESEV").replace_strict(SEVERITY_RANK, default=None, return_dtype=pl.Int64),
        ).alias("_RANK"),
    )
    worst = (
        frame.filter(pl.col("TRTEMFL") == "Y")
        .sort(
            ["USUBJID", "AEDECOD", "_RANK", "ASTDT", "AESEQ"],
            descending=[False, False, True, False, False],
            nulls_last=True,
        )
        .group_by("USUBJID", "AEDECOD", maintain_order=True)
        .first()
        .select("USUBJID", "AESEQ", pl.lit("Y").alias("WORSTFL"))
    )
    frame = (
        frame.join(worst, on=["USUBJID", "AESEQ"], how="left")
        .drop("_RANK")
        .sort("USUBJID", "AESEQ")
    )
    if "SUPPAE" in sdtm:
        supp = sdtm["SUPPAE"].frame.filter(pl.col("QNAM") == "AETOXTRM")
        if supp.height:
            terms = supp.select(
                "USUBJID",
                pl.col("IDVARVAL").cast(pl.Int64, strict=False).alias("AESEQ"),
                pl.col("QVAL").alias("AETOXTRM"),
            )
            frame = frame.join(terms, on=["USUBJID", "AESEQ"], how="left")
    return as_adam("ADAE", "Adverse Events Analysis Dataset", frame, LABELS)


LABELS = {
    "ASTDT": "Analysis Start Date",
    "ASTDTF": "Analysis Start Date Imputation Flag",
    "AENDT": "Analysis End Date",
    "AENDTF": "Analysis End Date Imputation Flag",
    "TRTEMFL": "Treatment Emergent Analysis Flag",
    "ATOXGRN": "Analysis Toxicity Grade (N)",
    "TOXG34FL": "Grade 3-4 Flag",
    "WORSTFL": "Worst Grade per Subject and Term Flag",
    "SPMFL": "Second Primary Malignancy Flag",
    "ACTLEN": "Action Taken with Lenalidomide",
    "APHASE": "Phase at Onset",
    "ASTDY": "Analysis Start Relative Day",
    "ONTRTM": "Time on Treatment at Onset (months)",
    "AETOXTRM": "CTCAE Term Used for Grading",
}

"""ADRS: best overall response and responder flag, from the study's ``[response]`` rules.

* Records: the overall response records of the response dataset (RS) that match the
  study's filter (MM-024: RSCAT "IMWG" and RSTESTCD "OVRLRESP"), dated on or before the
  cutoff, up to and including the first progression (the study's progression category).
* BOR (best overall response): the best category in the study's order (MM-024, IMWG:
  sCR (7) > CR (6) > VGPR (5) > PR (4) > MR (3) > SD (2) > PD (1) > NE (0); AVAL is the
  rank, the last category listed ranks 0, as do values not listed). ADT is the first
  date the best category was recorded.
* RSP (responder): Y when BOR is one of the study's responder categories, else N.
* OVR (overall response by assessment): every record used for BOR, AVALC the category
  and AVAL its rank, ADT its date (two on one date: the better one), so the first date
  a subject reached each category (the swimmer plot's markers) can be read from ADRS.

Confirmation of response (two consecutive assessments) is not applied: MM-024's
publication reports no response rates, and its duration of response starts at
the first documented response.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import polars as pl

from eap.datasets.lazy import scan
from eap.datasets.model import Dataset
from eap.derive.common import as_adam, as_date, need_column, where
from eap.errors import EapError, PlanError
from eap.plans.study import DEFAULT_STUDY, Study, load_study


def derive_adrs(
    sdtm: Mapping[str, Dataset], cutoff: dt.date, *, study: Study | None = None
) -> Dataset:
    """ADRS with BOR and RSP for every subject with at least one overall response record."""
    study = study or load_study(DEFAULT_STUDY)
    rules = study.response
    if rules is None:
        raise PlanError(
            "the study defines no response criteria",
            file=study.file,
            variable="response",
            expected="a [response] section",
        )
    if rules.dataset not in sdtm:
        raise EapError(
            f"{rules.dataset} is required to derive ADRS",
            dataset=rules.dataset,
            expected=f"an {rules.dataset} dataset",
        )
    # Lazy from the scan of the response dataset to the records used (one collect);
    # ``shape`` (no rows) answers what the variables are.
    frame = scan(sdtm, rules.dataset)
    if "STUDYID" not in frame.collect_schema():
        studyid = scan(sdtm, "DM").select("STUDYID").first().collect() if "DM" in sdtm else None
        value = studyid.item() if studyid is not None and studyid.height else None
        frame = frame.with_columns(pl.lit(value, dtype=pl.String).alias("STUDYID"))
    shape = frame.clear().collect()
    need_column(shape, rules.date, rules.dataset, file=study.file, field="response.date")
    need_column(shape, "RSSTRESC", rules.dataset, file=study.file, field="response.dataset")
    rs = (
        frame.filter(where(rules.where, shape.columns, file=study.file, field="response.where"))
        .with_columns(as_date(shape, rules.date).alias("ADT"))
        .filter(pl.col("ADT") <= cutoff)
        .with_columns(
            pl.col("RSSTRESC")
            .replace_strict(rules.rank(), default=0, return_dtype=pl.Int64)
            .alias("RANK")
        )
        .sort("USUBJID", "ADT")
    )
    first_pd = (
        rs.filter(pl.col("RSSTRESC") == rules.progression)
        .group_by("USUBJID")
        .agg(pl.col("ADT").min().alias("PDDT"))
    )
    # Collected once here: BOR, RSP and OVR each read it, and three lazy branches
    # would each hold their own copy at once.
    usable = (
        rs.join(first_pd, on="USUBJID", how="left")
        .filter(pl.col("PDDT").is_null() | (pl.col("ADT") <= pl.col("PDDT")))
        .collect()
    )
    best = (
        usable.sort("USUBJID", "RANK", "ADT", descending=[False, True, False])
        .group_by("USUBJID", maintain_order=True)
        .first()
        .select(
            "STUDYID",
            "USUBJID",
            pl.col("RSSTRESC").alias("AVALC"),
            pl.col("RANK").cast(pl.Float64).alias("AVAL"),
            "ADT",
        )
    )
    bor = best.with_columns(pl.lit("BOR").alias("PARAMCD"), pl.lit(rules.bor_label).alias("PARAM"))
    responders = list(rules.responders)
    rsp = best.with_columns(
        pl.lit("RSP").alias("PARAMCD"),
        pl.lit(rules.rsp_label).alias("PARAM"),
        pl.when(pl.col("AVALC").is_in(responders))
        .then(pl.lit("Y"))
        .otherwise(pl.lit("N"))
        .alias("AVALC"),
        pl.when(pl.col("AVALC").is_in(responders)).then(1.0).otherwise(0.0).alias("AVAL"),
    )
    ovr = (
        usable.sort("USUBJID", "ADT", "RANK", descending=[False, False, True])
        .group_by("USUBJID", "ADT", maintain_order=True)
        .first()
        .select(
            "STUDYID",
            "USUBJID",
            pl.col("RSSTRESC").alias("AVALC"),
            pl.col("RANK").cast(pl.Float64).alias("AVAL"),
            "ADT",
        )
        .with_columns(
            pl.lit("OVR").alias("PARAMCD"),
            pl.lit(f"Overall Response by Assessment ({rules.criteria})").alias("PARAM"),
        )
    )
    columns = bor.columns
    adrs = (
        pl.concat([bor, rsp.select(columns), ovr.select(columns)])
        .with_columns(pl.lit("Y").alias("ANL01FL"))
        .select("STUDYID", "USUBJID", "PARAMCD", "PARAM", "AVALC", "AVAL", "ADT", "ANL01FL")
        .sort("USUBJID", "PARAMCD", "ADT")
    )
    return as_adam("ADRS", "Response Analysis Dataset", adrs, {})

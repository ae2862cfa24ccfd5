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

import narwhals as nw

from eap.datasets.model import Dataset
from eap.derive.common import as_adam, need_column, where_neutral
from eap.engine.frames import (
    Frame,
    Tables,
    collect,
    columns,
    first_in_order,
    polars_tables,
    with_dates,
    with_row_number,
)
from eap.errors import EapError, PlanError
from eap.plans.study import DEFAULT_STUDY, Study, load_study


def derive_adrs(
    sdtm: Mapping[str, Dataset], cutoff: dt.date, *, study: Study | None = None
) -> Dataset:
    """ADRS with BOR and RSP for every subject with at least one overall response record."""
    return adrs_dataset(polars_tables(sdtm), cutoff, study=study)


def adrs_dataset(tables: Tables, cutoff: dt.date, *, study: Study | None = None) -> Dataset:
    """:func:`derive_adrs` on any engine: ADRS from ``tables``, collected as a Dataset."""
    study = study or load_study(DEFAULT_STUDY)
    adrs = collect(adrs_frame(tables, cutoff, study))
    return as_adam("ADRS", "Response Analysis Dataset", adrs, {})


def adrs_frame(tables: Tables, cutoff: dt.date, study: Study) -> Frame:
    """ADRS's records, sorted by USUBJID, PARAMCD and ADT, as a lazy frame."""
    rules = study.response
    if rules is None:
        raise PlanError(
            "the study defines no response criteria",
            file=study.file,
            variable="response",
            expected="a [response] section",
        )
    if rules.dataset not in tables:
        raise EapError(
            f"{rules.dataset} is required to derive ADRS",
            dataset=rules.dataset,
            expected=f"an {rules.dataset} dataset",
        )
    # Numbered as read: of two records on one date with one rank, the first is used.
    frame = with_row_number(tables[rules.dataset], "_ROW")
    if "STUDYID" not in columns(frame):
        # The subject's study, from DM (none without DM).
        if "DM" in tables:
            studies = tables["DM"].select("USUBJID", "STUDYID").unique()
            frame = frame.join(studies, on="USUBJID", how="left")
        else:
            frame = frame.with_columns(nw.lit(None, dtype=nw.String).alias("STUDYID"))
    names = [c for c in columns(frame) if c != "_ROW"]
    need_column(names, rules.date, rules.dataset, file=study.file, field="response.date")
    need_column(names, "RSSTRESC", rules.dataset, file=study.file, field="response.dataset")
    rs = with_dates(
        frame.filter(where_neutral(rules.where, names, file=study.file, field="response.where")),
        {"ADT": rules.date},
    ).filter(nw.col("ADT") <= cutoff)
    rs = rs.with_columns(
        nw.col("RSSTRESC")
        .replace_strict(rules.rank(), default=0, return_dtype=nw.Int64)
        .alias("RANK")
    )
    first_pd = (
        rs.filter(nw.col("RSSTRESC") == rules.progression)
        .group_by("USUBJID")
        .agg(nw.col("ADT").min().alias("PDDT"))
    )
    usable = rs.join(first_pd, on="USUBJID", how="left").filter(
        nw.col("PDDT").is_null() | (nw.col("ADT") <= nw.col("PDDT"))
    )
    record: list[str | nw.Expr] = [
        "STUDYID",
        "USUBJID",
        nw.col("RSSTRESC").alias("AVALC"),
        nw.col("RANK").cast(nw.Float64).alias("AVAL"),
        "ADT",
    ]
    usable = usable.with_columns((-nw.col("RANK")).alias("_NEGRANK"))
    # The best category, first reached; and the best category of each date.
    best = first_in_order(usable, "USUBJID", ["_NEGRANK", "ADT", "_ROW"]).select(*record)
    bor = best.with_columns(nw.lit("BOR").alias("PARAMCD"), nw.lit(rules.bor_label).alias("PARAM"))
    responders = list(rules.responders)
    responded = nw.col("AVALC").is_in(responders)
    rsp = best.with_columns(
        nw.lit("RSP").alias("PARAMCD"),
        nw.lit(rules.rsp_label).alias("PARAM"),
        nw.when(responded).then(nw.lit("Y")).otherwise(nw.lit("N")).alias("AVALC"),
        nw.when(responded).then(nw.lit(1.0)).otherwise(nw.lit(0.0)).alias("AVAL"),
    )
    ovr = (
        first_in_order(usable, ["USUBJID", "ADT"], ["_NEGRANK", "_ROW"])
        .select(*record)
        .with_columns(
            nw.lit("OVR").alias("PARAMCD"),
            nw.lit(f"Overall Response by Assessment ({rules.criteria})").alias("PARAM"),
        )
    )
    order = ["STUDYID", "USUBJID", "PARAMCD", "PARAM", "AVALC", "AVAL", "ADT"]
    return (
        nw.concat([bor.select(order), rsp.select(order), ovr.select(order)])
        .with_columns(nw.lit("Y").alias("ANL01FL"))
        .sort("USUBJID", "PARAMCD", "ADT")
    )

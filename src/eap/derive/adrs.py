"""ADRS: best overall response (IMWG) and responder flag, from RS.

* Records: RS with RSCAT "IMWG" and RSTESTCD "OVRLRESP", dated on or before the
  cutoff, up to and including the first progression.
* BOR (best overall response): the best category by the IMWG order sCR (7) >
  CR (6) > VGPR (5) > PR (4) > MR (3) > SD (2) > PD (1); NE (8 in admiralonco's
  coding, ranked below every evaluable response here) when no assessment is
  evaluable. ADT is the first date the best category was recorded.
* RSP (responder): Y when BOR is PR or better, else N.

Confirmation of response (two consecutive assessments) is not applied: MM-024's
publication reports no response rates, and its duration of response starts at
the first documented response.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import polars as pl

from eap.datasets.model import Dataset
from eap.derive.common import as_adam
from eap.errors import EapError

ORDER = {"sCR": 7, "CR": 6, "VGPR": 5, "PR": 4, "MR": 3, "SD": 2, "PD": 1, "NE": 0}
RESPONDERS = ("sCR", "CR", "VGPR", "PR")


def derive_adrs(sdtm: Mapping[str, Dataset], cutoff: dt.date) -> Dataset:
    """ADRS with BOR and RSP for every subject with at least one IMWG assessment."""
    if "RS" not in sdtm:
        raise EapError("RS is required to derive ADRS", dataset="RS", expected="an RS dataset")
    frame = sdtm["RS"].frame
    if "STUDYID" not in frame.columns:
        study = sdtm["DM"].frame["STUDYID"][0] if "DM" in sdtm else None
        frame = frame.with_columns(pl.lit(study, dtype=pl.String).alias("STUDYID"))
    rs = (
        frame.filter((pl.col("RSCAT") == "IMWG") & (pl.col("RSTESTCD") == "OVRLRESP"))
        .with_columns(
            pl.col("RSDTC").str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False).alias("ADT")
        )
        .filter(pl.col("ADT") <= cutoff)
        .with_columns(
            pl.col("RSSTRESC").replace_strict(ORDER, default=0, return_dtype=pl.Int64).alias("RANK")
        )
        .sort("USUBJID", "ADT")
    )
    first_pd = (
        rs.filter(pl.col("RSSTRESC") == "PD")
        .group_by("USUBJID")
        .agg(pl.col("ADT").min().alias("PDDT"))
    )
    usable = rs.join(first_pd, on="USUBJID", how="left").filter(
        pl.col("PDDT").is_null() | (pl.col("ADT") <= pl.col("PDDT"))
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
    bor = best.with_columns(
        pl.lit("BOR").alias("PARAMCD"), pl.lit("Best Overall Response (IMWG)").alias("PARAM")
    )
    rsp = best.with_columns(
        pl.lit("RSP").alias("PARAMCD"),
        pl.lit("Responder (PR or Better)").alias("PARAM"),
        pl.when(pl.col("AVALC").is_in(RESPONDERS))
        .then(pl.lit("Y"))
        .otherwise(pl.lit("N"))
        .alias("AVALC"),
        pl.when(pl.col("AVALC").is_in(RESPONDERS)).then(1.0).otherwise(0.0).alias("AVAL"),
    )
    frame = (
        pl.concat([bor, rsp.select(bor.columns)])
        .with_columns(pl.lit("Y").alias("ANL01FL"))
        .select("STUDYID", "USUBJID", "PARAMCD", "PARAM", "AVALC", "AVAL", "ADT", "ANL01FL")
        .sort("USUBJID", "PARAMCD")
    )
    return as_adam("ADRS", "Response Analysis Dataset", frame, {})

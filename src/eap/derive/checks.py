"""Findings about SDTM input that the derivations handle by a rule, or cannot handle.

Nothing is dropped silently: each finding lists the records it concerns and says
what the derivation did with them.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from eap.datasets.model import Dataset
from eap.datasets.validate import Finding
from eap.derive.common import iso_date


def _rows(mask: pl.Series) -> tuple[int, ...]:
    return tuple(i + 1 for i in mask.arg_true().to_list())


def input_findings(sdtm: Mapping[str, Dataset]) -> list[Finding]:
    """Missing or partial AE start dates, doses after death, subjects absent from DM."""
    out: list[Finding] = []
    if "AE" in sdtm:
        ae = sdtm["AE"].frame
        missing = ae["AESTDTC"].is_null()
        if missing.any():
            out.append(
                Finding(
                    "warning",
                    "ae-start-missing",
                    "AE",
                    "AE without a start date: counted as treatment-emergent (conservative rule)",
                    variable="AESTDTC",
                    rows=_rows(missing),
                    found=f"{int(missing.sum())} records",
                )
            )
        partial = ae["AESTDTC"].is_not_null() & (ae["AESTDTC"].str.len_chars() < 10)
        if partial.any():
            out.append(
                Finding(
                    "warning",
                    "ae-start-partial",
                    "AE",
                    "partial AE start dates imputed (first of the period, or the first dose "
                    "in its month/year); ASTDTF says which part",
                    variable="AESTDTC",
                    rows=_rows(partial),
                    found=f"{int(partial.sum())} records",
                )
            )
    if "DM" in sdtm:
        dm = sdtm["DM"].frame
        subjects = dm["USUBJID"].implode()
        for name, ds in sdtm.items():
            if name == "DM" or "USUBJID" not in ds.frame.columns:
                continue
            absent = ~ds.frame["USUBJID"].is_in(subjects)
            if name == "RELREC":
                # Relationships between datasets (RELTYPE set) have no subject.
                absent = absent & ds.frame["USUBJID"].fill_null("").str.strip_chars().ne("")
            if absent.any():
                out.append(
                    Finding(
                        "error",
                        "subject-not-in-dm",
                        name,
                        f"{name} records of subjects absent from DM cannot be derived",
                        variable="USUBJID",
                        rows=_rows(absent),
                        found=", ".join(
                            sorted(set(ds.frame.filter(absent)["USUBJID"].to_list()))[:5]
                        ),
                    )
                )
        if "EX" in sdtm and "DTHDTC" in dm.columns:
            ex = (
                sdtm["EX"]
                .frame.with_row_index("_ROW")
                .join(
                    dm.select("USUBJID", iso_date("DTHDTC").alias("_DTH")), on="USUBJID", how="left"
                )
            )
            after = ex.filter(iso_date("EXSTDTC") > pl.col("_DTH"))
            if after.height:
                out.append(
                    Finding(
                        "error",
                        "dose-after-death",
                        "EX",
                        "doses recorded after the subject's death; kept, and TRTEDT uses them",
                        variable="EXSTDTC",
                        rows=tuple(int(r) + 1 for r in after["_ROW"].to_list()),
                        found=f"{after.height} records",
                    )
                )
    return out

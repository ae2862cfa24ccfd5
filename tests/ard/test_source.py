"""What the analyses read on an engine: the records that count in the file's order, a
subject's records reduced to a row per level, the first value per subject, the
largest value; on Polars and on Spark, against values stated here by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import narwhals as nw
import polars as pl
import pytest

from eap.ard.source import first_per_subject, largest, per_subject_levels, records
from eap.engine.frames import Tables
from eap.engine.spark import read_parquet
from eap.errors import PlanError

# Records of three subjects, in the order of the file: not sorted by any variable.
ADAE = pl.DataFrame(
    {
        "USUBJID": ["02", "01", "02", "03", "01", "02"],
        "AEBODSYS": ["GI", "SKIN", "GI", None, "GI", "SKIN"],
        "AEDECOD": ["NAUSEA", "RASH", "NAUSEA", "FATIGUE", "DIARRHOEA", None],
        "AESER": ["N", "Y", "Y", "N", None, "N"],
        "ASTDY": [5, 3, None, 9, 1, 2],
    }
)


@pytest.fixture(params=["polars", "spark"])
def tables(request: pytest.FixtureRequest, tmp_path: Path) -> Tables:
    if request.param == "polars":
        return {"ADAE": nw.from_native(ADAE.lazy())}
    spark: Any = request.getfixturevalue("spark")
    path = tmp_path / "adae.parquet"
    ADAE.write_parquet(path)
    return read_parquet(spark, {"ADAE": path})


def test_records_are_filtered_projected_and_in_the_files_order(tables: Tables) -> None:
    got = records(tables, "ADAE", {"AEDECOD", "USUBJID"}, where="AESER != 'Y'")
    # The dataset's variable order; a null AESER is no match (as SAS WHERE).
    assert got.columns == ["USUBJID", "AEDECOD"]
    assert got.rows() == [("02", "NAUSEA"), ("03", "FATIGUE"), ("02", None)]
    also = records(tables, "ADAE", None, also=nw.col("ASTDY") > 2)
    assert also["ASTDY"].to_list() == [5, 3, 9]
    assert also.columns == ADAE.columns


def test_a_filter_that_cannot_be_applied_names_the_plan_field(tables: Tables) -> None:
    with pytest.raises(PlanError) as caught:
        records(tables, "ADAE", where="AETOXGR == '3'", file="plan.toml", field="T1.where")
    assert caught.value.variable == "T1.where"
    assert "plan.toml" in str(caught.value)


def test_records_reduced_to_a_row_per_subject_and_level(tables: Tables) -> None:
    got = per_subject_levels(
        tables,
        "ADAE",
        ["AEBODSYS", "AEDECOD"],
        where="ASTDY is not null",
        flags={"SER": ("AESER == 'Y'", "T1.categories[0].any[0]")},
        count="N",
        file="plan.toml",
    ).sort("USUBJID", "AEBODSYS", "AEDECOD", nulls_last=True)
    # 02's NAUSEA without a study day is not counted; null levels stay a group.
    assert got.rows() == [
        ("01", "GI", "DIARRHOEA", 1, 0),
        ("01", "SKIN", "RASH", 1, 1),
        ("02", "GI", "NAUSEA", 1, 0),
        ("02", "SKIN", None, 1, 0),
        ("03", None, "FATIGUE", 1, 0),
    ]
    both = per_subject_levels(
        tables, "ADAE", ["AEBODSYS"], where=None, flags={}, count="N", file=""
    ).sort("USUBJID", "AEBODSYS", nulls_last=True)
    assert both.filter(pl.col("USUBJID") == "02").rows() == [("02", "GI", 2), ("02", "SKIN", 1)]
    assert both["N"].dtype == pl.Int64 and both["N"].sum() == ADAE.height


def test_the_first_value_per_subject_ignores_nulls(tables: Tables) -> None:
    got = first_per_subject(tables, "ADAE", "ASTDY", ["AEDECOD"], where="AEDECOD == 'NAUSEA'")
    assert got.rows() == [("02", "NAUSEA", 5)]  # the record without a day is skipped
    every = first_per_subject(tables, "ADAE", "ASTDY", [])
    assert every.rows() == [("01", 1), ("02", 2), ("03", 9)]


def test_the_largest_value_and_none_when_no_record_counts(tables: Tables) -> None:
    assert (
        largest(tables, "ADAE", "ASTDY", where=None, also=nw.col("USUBJID") == "02", file="") == 5
    )
    none = largest(
        tables, "ADAE", "ASTDY", where="AESER == 'X'", also=~nw.col("USUBJID").is_null(), file=""
    )
    assert none is None

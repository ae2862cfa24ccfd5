"""The operations the engine-neutral rules share give the same rows on Polars and on
Spark, and the values stated here by hand."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import narwhals as nw
import polars as pl
import pytest

from eap.engine.frames import (
    Frame,
    collect,
    columns,
    days_between,
    epoch_days,
    flag,
    item,
    with_dates,
    with_row_number,
)
from eap.engine.spark import from_polars, read_parquet
from eap.stats.frame import parse_where, parse_where_neutral

D = dt.date

# --DTC text and the date each gives: complete dates (a time part ignored), and null
# for partial dates, days no calendar has, and text that is not ISO 8601.
DATES = [
    ("2021-03-04T10:00", D(2021, 3, 4)),
    ("2021-03-04", D(2021, 3, 4)),
    ("2020-02-29", D(2020, 2, 29)),
    ("2021-02-29", None),
    ("2000-02-29", D(2000, 2, 29)),  # a century divisible by 400: leap
    ("1900-02-29", None),  # a century not divisible by 400: not leap
    ("2021-12-31", D(2021, 12, 31)),
    ("2021-00-10", None),
    ("2021-02-30", None),
    ("2021-13-01", None),
    ("2021-03", None),
    ("2021", None),
    ("2021-3-04", None),
    ("2021-03-4", None),
    ("20210304", None),
    (" 2021-03-04", None),
    ("", None),
    (None, None),
]


def _engines(spark: Any, frame: pl.DataFrame) -> dict[str, Frame]:
    return {"polars": nw.from_native(frame.lazy()), "spark": from_polars(spark, frame)}


def test_dates_from_iso_8601_text_on_both_engines(spark: Any) -> None:
    text = pl.DataFrame({"N": range(len(DATES)), "DTC": [t for t, _ in DATES]})
    for engine, frame in _engines(spark, text).items():
        got = collect(with_dates(frame, {"ADT": "DTC"}).sort("N"))
        assert got["ADT"].to_list() == [d for _, d in DATES], engine
        assert got.schema == pl.Schema({"N": pl.Int64, "DTC": pl.String, "ADT": pl.Date})


def test_a_date_variable_is_kept_as_it_is(spark: Any) -> None:
    dates = pl.DataFrame({"N": [1, 2], "TRTSDT": [D(2020, 1, 31), None]})
    for engine, frame in _engines(spark, dates).items():
        got = collect(with_dates(frame, {"ADT": "TRTSDT"}).sort("N"))
        assert got["ADT"].to_list() == [D(2020, 1, 31), None], engine


def test_row_numbers_follow_the_order_records_are_read(spark: Any, tmp_path: Path) -> None:
    # Ties broken by the order in the file: the numbers must follow it, not the values.
    frame = pl.DataFrame({"USUBJID": ["C", "A", "B", "A"], "V": [4, 3, 2, 1]})
    path = tmp_path / "X.parquet"
    frame.write_parquet(path)
    read = {"polars": nw.from_native(pl.scan_parquet(path))}
    read |= read_parquet(spark, {"spark": path})
    for engine, lazy in read.items():
        got = collect(with_row_number(lazy, "_ROW").sort("_ROW"))
        assert got["V"].to_list() == [4, 3, 2, 1], engine
        assert got["_ROW"].is_unique().all(), engine


def test_flags_and_scalars(spark: Any) -> None:
    frame = pl.DataFrame({"X": [1, 5, None]})
    for engine, lazy in _engines(spark, frame).items():
        got = collect(lazy.with_columns(flag(nw.col("X") > 2).alias("F")))
        assert got["F"].to_list() == ["N", "Y", "N"], engine
        assert item(lazy, nw.col("X").is_null().any()) is True, engine
        assert columns(lazy) == ["X"], engine


WHERE = "(SEX == 'F' and AGE >= 65) or ARM in ('B', 'C') and not AGE is null"


def test_study_filters_select_the_same_records_on_both_engines(spark: Any) -> None:
    frame = pl.DataFrame(
        {
            "N": [1, 2, 3, 4, 5, 6],
            "SEX": ["F", "F", "M", "M", None, "F"],
            "AGE": [65, 64, 70, None, 30, None],
            "ARM": ["A", "A", "B", "C", "C", "A"],
        }
    )
    # By hand: 1 (F, 65); 3 (arm B, age known); 5 (arm C, age known). 4 has no age,
    # 6 no age and arm A; a comparison with a null value is false.
    assert frame.filter(parse_where(WHERE, frame.columns))["N"].to_list() == [1, 3, 5]
    for engine, lazy in _engines(spark, frame).items():
        got = collect(lazy.filter(parse_where_neutral(WHERE, frame.columns)).sort("N"))
        assert got["N"].to_list() == [1, 3, 5], engine


@pytest.mark.parametrize("text", ["AGE is not null", "ARM not in ('A')", "SEX != 'F'"])
def test_negated_filters_leave_out_null_values(spark: Any, text: str) -> None:
    frame = pl.DataFrame({"N": [1, 2, 3], "SEX": ["F", None, "M"], "AGE": [1, None, 3]})
    frame = frame.with_columns(ARM=pl.Series(["A", None, "B"]))
    expected = frame.filter(parse_where(text, frame.columns))["N"].to_list()
    assert expected == ([1, 3] if text.startswith("AGE") else [3])
    for engine, lazy in _engines(spark, frame).items():
        got = collect(lazy.filter(parse_where_neutral(text, frame.columns)).sort("N"))
        assert got["N"].to_list() == expected, engine


def test_days_between_dates_are_python_date_differences(spark: Any) -> None:
    # The reference is Python's proleptic Gregorian ordinal; dates around leap days,
    # centuries (1900 not leap, 2000 leap), the epoch and far from it.
    dates = [
        D(1, 1, 1),
        D(1899, 12, 31),
        D(1900, 2, 28),
        D(1900, 3, 1),
        D(1969, 12, 31),
        D(1970, 1, 1),
        D(2000, 2, 28),
        D(2000, 2, 29),
        D(2000, 3, 1),
        D(2011, 12, 31),
        D(2012, 2, 29),
        D(2014, 1, 1),
        D(2099, 12, 31),
        D(9999, 12, 31),
    ]
    reference = D(2011, 10, 5)
    frame = pl.DataFrame({"N": range(len(dates)), "ADT": dates, "TRTSDT": [reference] * len(dates)})
    expected = [d.toordinal() - reference.toordinal() for d in dates]
    for engine, lazy in _engines(spark, frame).items():
        got = collect(lazy.with_columns(days_between("ADT", "TRTSDT").alias("DAYS")).sort("N"))
        assert got["DAYS"].to_list() == expected, engine
        assert got.schema["DAYS"] == pl.Int64, engine
        epoch = collect(lazy.select("N", epoch_days(nw.col("ADT")).alias("E")).sort("N"))
        assert epoch["E"].to_list() == [d.toordinal() - D(1970, 1, 1).toordinal() for d in dates]

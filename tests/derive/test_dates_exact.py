"""ISO 8601 date texts with a time part, the bounds of partial dates, and the ADEX
parameter labels with and without a dose unit (values from the ISO 8601 rules and
the labels' wording, worked by hand)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from eap.derive.adex import param_labels
from eap.derive.checks import earliest, latest
from eap.derive.common import iso_date

D = dt.date


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2014-03-10", D(2014, 3, 10)),
        ("2014-03-10T08:30", D(2014, 3, 10)),  # the time part is ignored
        ("2014-03-10T08:30:15", D(2014, 3, 10)),
        ("2014-03", None),  # partial: no complete date
        ("2014", None),
        ("2014-02-30", None),
    ],
)
def test_iso_date_takes_the_date_part(text: str, expected: dt.date | None) -> None:
    got = pl.DataFrame({"X": [text]}).select(iso_date("X")).item()
    assert got == expected


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("2014-03-10", D(2014, 3, 10), D(2014, 3, 10)),
        ("2014-03-10T23:59", D(2014, 3, 10), D(2014, 3, 10)),
        ("2014-02", D(2014, 2, 1), D(2014, 2, 28)),
        ("2016-02", D(2016, 2, 1), D(2016, 2, 29)),  # leap year
        ("2014", D(2014, 1, 1), D(2014, 12, 31)),
        ("", None, None),
    ],
)
def test_earliest_and_latest_day_a_date_can_mean(
    text: str, first: dt.date | None, last: dt.date | None
) -> None:
    frame = pl.DataFrame({"X": [text]}).select(earliest("X").alias("A"), latest("X").alias("B"))
    assert frame.row(0) == (first, last)


def test_adex_labels_with_and_without_a_unit() -> None:
    with_unit = param_labels("mg")
    assert with_unit["CUMDOSE"] == "Cumulative Dose (mg)"
    assert with_unit["DOSEINT"] == "Dose Intensity (mg/day)"
    without = param_labels(None)
    assert without["CUMDOSE"] == "Cumulative Dose"
    assert without["DOSEINT"] == "Dose Intensity (per day)"
    assert without["PLDOSINT"] == "Planned Dose Intensity (per day)"
    assert without["RDI"] == with_unit["RDI"] == "Relative Dose Intensity"

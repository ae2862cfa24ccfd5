"""The ISO 8601 rule the checks and the derivations share (iso8601_valid), at each side
of its limits; the expected values are the Gregorian calendar's and SDTMIG's."""

from __future__ import annotations

import polars as pl
import pytest

from eap.datasets.validate import iso8601_problems

CASES = [
    # February: 29 days in years divisible by 4, except centuries not divisible by 400.
    ("2024-02-29", True),
    ("2023-02-29", False),
    ("2023-02-28", True),
    ("2000-02-29", True),
    ("1900-02-29", False),
    # 30-day and 31-day months.
    ("2023-04-30", True),
    ("2023-04-31", False),
    ("2023-12-31", True),
    ("2023-12-32", False),
    # Month 1 to 12, day from 1.
    ("2023-01-01", True),
    ("2023-00-01", False),
    ("2023-13-01", False),
    ("2023-01-00", False),
    # Partial dates, and a month that does not exist in one.
    ("2023-12", True),
    ("2023-13", False),
    ("2023", True),
    ("2023---05", True),  # SDTMIG: an unknown month written as "-"
    # Hours 0-23, minutes 0-59.
    ("2023-01-01T23:59", True),
    ("2023-01-01T24:00", False),
    ("2023-01-01T00:00", True),
    ("2023-01-01T10:60", False),
    ("2023-01-01T10:30:15.5", True),
    # Not ISO 8601.
    ("2023-1-05", False),
    ("05JAN2023", False),
]


@pytest.mark.parametrize(("text", "valid"), CASES)
def test_iso8601_limits(text: str, valid: bool) -> None:
    problems = iso8601_problems(pl.Series("DTC", [text]))
    assert problems.to_list() == [not valid]


def test_a_missing_value_is_no_problem() -> None:
    assert iso8601_problems(pl.Series("DTC", [None], dtype=pl.String)).to_list() == [False]

"""Checks shared by the protocol functions: dates and numbers from users' input."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from eap.errors import ProtocolError

ISO_DATE = "an ISO 8601 date YYYY-MM-DD"


def parse_date(
    value: object,
    field: str,
    *,
    file: str | Path | None = None,
    rows: Sequence[int] | None = None,
) -> dt.date:
    """Read an ISO 8601 calendar date; an impossible date (2013-02-30) is an error.

    >>> parse_date("2013-01-07", "start")
    datetime.date(2013, 1, 7)
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise ProtocolError(
            "not a date", file=file, variable=field, rows=rows, expected=ISO_DATE, found=repr(value)
        )
    text = value.strip()
    try:
        # fromisoformat also takes 20130107 and week dates; require the extended form.
        if len(text) != 10 or text[4] != "-" or text[7] != "-":
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ProtocolError(
            "not a valid calendar date",
            file=file,
            variable=field,
            rows=rows,
            expected=ISO_DATE,
            found=repr(value),
        ) from None


def positive(value: float, field: str, *, unit: str = "") -> float:
    """A finite number > 0, or a ProtocolError naming the field."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError(
            "not a number", variable=field, expected="a number > 0", found=repr(value)
        )
    number = float(value)
    if math.isnan(number) or math.isinf(number) or number <= 0:
        suffix = f" {unit}" if unit else ""
        raise ProtocolError(
            "must be a positive finite number",
            variable=field,
            expected=f"a number > 0{suffix}",
            found=f"{value!r}",
        )
    return number


def add_years(start: dt.date, years: int) -> dt.date:
    """Same month and day ``years`` later; 29 February becomes 28 February.

    >>> add_years(dt.date(2012, 2, 29), 1)
    datetime.date(2013, 2, 28)
    """
    try:
        return start.replace(year=start.year + years)
    except ValueError:
        return start.replace(year=start.year + years, day=28)


def add_months(start: dt.date, months: int) -> dt.date:
    """Same day ``months`` later, clamped to the month's last day (31 Oct + 4 months = 28/29 Feb).

    >>> add_months(dt.date(2013, 10, 31), 4)
    datetime.date(2014, 2, 28)
    """
    index = start.year * 12 + (start.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    next_first = dt.date(year + (month == 12), month % 12 + 1, 1)
    last_day = (next_first - dt.timedelta(days=1)).day
    return dt.date(year, month, min(start.day, last_day))


def check_record_fields(
    record: object,
    required: Sequence[str],
    optional: Sequence[str],
    *,
    file: str | Path | None = None,
    rows: Sequence[int] | None = None,
) -> None:
    """A JSON patient record: an object with every required field and no unknown one."""
    if not isinstance(record, Mapping):
        raise ProtocolError(
            "patient record is not an object", file=file, rows=rows, expected="a JSON object"
        )
    allowed = (*required, *optional)
    for key in record:
        if key not in allowed:
            raise ProtocolError(
                "unknown field",
                file=file,
                variable=str(key),
                rows=rows,
                expected="one of " + ", ".join(allowed),
            )
    for key in required:
        if record.get(key) is None:
            raise ProtocolError(
                "missing field", file=file, variable=key, rows=rows, expected="a value"
            )


def record_usubjid(
    record: Mapping[str, object], *, file: str | None, rows: Sequence[int] | None
) -> str:
    """The record's USUBJID: a non-empty string, else ProtocolError naming file and row."""
    usubjid = record["USUBJID"]
    if not isinstance(usubjid, str) or not usubjid.strip():
        raise ProtocolError(
            "not a subject identifier",
            file=file,
            variable="USUBJID",
            rows=rows,
            expected="a non-empty string",
            found=repr(usubjid),
        )
    return usubjid

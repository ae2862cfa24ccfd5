"""Survival and SPM follow-up visits: target dates, windows and status; the treatment limit.

Schedule (publication, Methods: End points and assessments; Study design and treatment):

* Visit *k* (k = 1, 2, ...) has target date = follow-up start + 4k calendar months
  (counted from the start each time, so month lengths do not accumulate drift;
  a day that does not exist in the target month becomes the month's last day).
* Its window is target - 7 days to target + 7 days, both ends included.
* Visits are scheduled while the target is on or before the end of follow-up,
  5 years after the last parent-trial enrollment, and not after a death or a
  withdrawal (no visit whose window opens after either).

Status of each scheduled visit as of a date A (every visit date must be on or before A):

* Each actual visit is assigned to the scheduled visit with the nearest target
  date (a tie goes to the earlier target).
* ``done_in_window``: an assigned visit is within the window.
* ``done_out_of_window``: visits are assigned but none within the window (for
  example 8 days late), and the window has closed (A > target + 7); the closest
  one is reported. While the window has not closed, an assigned visit outside it
  settles nothing: the status is ``coming_due`` or ``scheduled`` as below.
* ``missed``: nothing assigned and the window closed before A (A > target + 7).
* ``coming_due``: nothing assigned in the window, the window has not closed (A <= target + 7)
  and it is open on A or opens within ``coming_due_days`` (30) of A.
* ``scheduled``: nothing assigned in the window and the window opens later than that.

Treatment limit: Rd may continue up to 5 years after the lenalidomide start date
in the parent trial (the parent-trial year included).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import polars as pl

from eap.errors import ProtocolError
from eap.protocol._parse import (
    add_months,
    add_years,
    check_record_fields,
    parse_date,
    record_usubjid,
)
from eap.protocol.eligibility import read_json
from eap.protocol.model import Protocol


class VisitStatus(StrEnum):
    DONE_IN_WINDOW = "done_in_window"
    DONE_OUT_OF_WINDOW = "done_out_of_window"
    MISSED = "missed"
    COMING_DUE = "coming_due"
    SCHEDULED = "scheduled"


@dataclass(frozen=True)
class ScheduledVisit:
    number: int
    target: dt.date
    window_start: dt.date
    window_end: dt.date
    status: VisitStatus
    visit_date: dt.date | None
    days_from_target: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "visit": self.number,
            "target_date": self.target.isoformat(),
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "status": self.status.value,
            "visit_date": self.visit_date.isoformat() if self.visit_date else None,
            "days_from_target": self.days_from_target,
        }


@dataclass(frozen=True)
class FollowUpSchedule:
    usubjid: str
    as_of: dt.date
    follow_up_start: dt.date
    follow_up_end: dt.date
    treatment_limit_date: dt.date | None
    visits: tuple[ScheduledVisit, ...]

    def count(self, status: VisitStatus) -> int:
        return sum(v.status is status for v in self.visits)

    def as_dict(self) -> dict[str, Any]:
        return {
            "USUBJID": self.usubjid,
            "as_of": self.as_of.isoformat(),
            "follow_up_start_date": self.follow_up_start.isoformat(),
            "follow_up_end_date": self.follow_up_end.isoformat(),
            "treatment_limit_date": self.treatment_limit_date.isoformat()
            if self.treatment_limit_date
            else None,
            "counts": {s.value: self.count(s) for s in VisitStatus},
            "visits": [v.as_dict() for v in self.visits],
        }


def treatment_limit_date(protocol: Protocol, lenalidomide_start: dt.date) -> dt.date:
    """Date at which total Rd time (parent trial included) reaches the protocol maximum.

    >>> from eap.protocol import load_protocol
    >>> treatment_limit_date(load_protocol(), dt.date(2011, 3, 15))  # + 5 years
    datetime.date(2016, 3, 15)
    """
    return add_years(lenalidomide_start, protocol.limits.max_total_treatment_years)


def follow_up_end_date(protocol: Protocol, last_parent_enrollment: dt.date) -> dt.date:
    """End of follow-up: years_after_last_parent_enrollment after the last parent enrollment."""
    return add_years(last_parent_enrollment, protocol.follow_up.years_after_last_parent_enrollment)


def target_dates(protocol: Protocol, start: dt.date, end: dt.date) -> list[dt.date]:
    """Targets start + k x interval months (k >= 1) that fall on or before ``end``."""
    months = protocol.follow_up.interval_months
    targets: list[dt.date] = []
    k = 1
    while (target := add_months(start, k * months)) <= end:
        targets.append(target)
        k += 1
    return targets


def visit_schedule(
    protocol: Protocol,
    *,
    usubjid: str,
    follow_up_start: dt.date,
    last_parent_enrollment: dt.date,
    visit_dates: Sequence[dt.date],
    as_of: dt.date,
    lenalidomide_start: dt.date | None = None,
    death_date: dt.date | None = None,
    withdrawal_date: dt.date | None = None,
) -> FollowUpSchedule:
    """Each follow-up visit's target, window and status as of ``as_of``."""
    fu = protocol.follow_up
    window = dt.timedelta(days=fu.window_days)
    if follow_up_start > as_of:
        raise ProtocolError(
            f"{usubjid}: follow-up starts after the as-of date",
            variable="follow_up_start_date",
            expected=f"on or before as_of {as_of}",
            found=str(follow_up_start),
        )
    if death_date is not None and not follow_up_start <= death_date <= as_of:
        raise ProtocolError(
            f"{usubjid}: death date outside follow-up",
            variable="death_date",
            expected=f"from follow_up_start_date {follow_up_start} to as_of {as_of}",
            found=str(death_date),
        )
    for d in visit_dates:
        latest = death_date or as_of
        if not follow_up_start < d <= latest:
            raise ProtocolError(
                f"{usubjid}: visit date outside follow-up",
                variable="visit_dates",
                expected=f"after follow_up_start_date {follow_up_start} and on or before "
                + (f"death_date {death_date}" if death_date else f"as_of {as_of}"),
                found=str(d),
            )
    end = follow_up_end_date(protocol, last_parent_enrollment)
    targets = target_dates(protocol, follow_up_start, end)
    if death_date is not None:
        # Why: no visit is owed once the window would open after the patient died.
        targets = [t for t in targets if t - window <= death_date]
    if withdrawal_date is not None:
        # Why: a patient who withdrew owes no visit whose window opens after the withdrawal.
        targets = [t for t in targets if t - window <= withdrawal_date]

    assigned: dict[int, list[dt.date]] = {i: [] for i in range(len(targets))}
    for d in sorted(visit_dates):
        if not targets:
            break
        # Nearest target; min() keeps the first (earlier) target on a tie.
        best = min(range(len(targets)), key=lambda i: abs((d - targets[i]).days))
        assigned[best].append(d)

    lookahead = dt.timedelta(days=fu.coming_due_days)
    visits: list[ScheduledVisit] = []
    for i, target in enumerate(targets):
        lo, hi = target - window, target + window
        mine = assigned[i]
        chosen = min(mine, key=lambda d: (abs((d - target).days), d)) if mine else None
        if chosen is not None and lo <= chosen <= hi:
            status = VisitStatus.DONE_IN_WINDOW
        elif chosen is not None and as_of > hi:
            status = VisitStatus.DONE_OUT_OF_WINDOW
        else:
            # Why: a contact outside a window that has not closed settles nothing;
            # a contact in the window may yet come.
            chosen = None
            if as_of > hi:
                status = VisitStatus.MISSED
            elif lo <= as_of + lookahead:
                status = VisitStatus.COMING_DUE
            else:
                status = VisitStatus.SCHEDULED
        visits.append(
            ScheduledVisit(
                number=i + 1,
                target=target,
                window_start=lo,
                window_end=hi,
                status=status,
                visit_date=chosen,
                days_from_target=(chosen - target).days if chosen else None,
            )
        )
    limit = treatment_limit_date(protocol, lenalidomide_start) if lenalidomide_start else None
    return FollowUpSchedule(usubjid, as_of, follow_up_start, end, limit, tuple(visits))


def schedules_frame(schedules: Sequence[FollowUpSchedule]) -> pl.DataFrame:
    """All patients' visits as one frame (USUBJID, VISIT, TARGET, WINDOW_START, ...)."""
    rows = [
        {
            "USUBJID": s.usubjid,
            "VISIT": v.number,
            "TARGET": v.target,
            "WINDOW_START": v.window_start,
            "WINDOW_END": v.window_end,
            "STATUS": v.status.value,
            "VISIT_DATE": v.visit_date,
            "DAYS_FROM_TARGET": v.days_from_target,
        }
        for s in schedules
        for v in s.visits
    ]
    schema = {
        "USUBJID": pl.String(),
        "VISIT": pl.Int32(),
        "TARGET": pl.Date(),
        "WINDOW_START": pl.Date(),
        "WINDOW_END": pl.Date(),
        "STATUS": pl.String(),
        "VISIT_DATE": pl.Date(),
        "DAYS_FROM_TARGET": pl.Int32(),
    }
    return pl.DataFrame(rows, schema=schema)


# --------------------------------------------------------------------------- input file

VISIT_FIELDS_REQUIRED = ("USUBJID", "follow_up_start_date", "visit_dates")
VISIT_FIELDS_OPTIONAL = ("lenalidomide_start_date", "death_date")


def read_visits_file(
    protocol: Protocol, path: str | Path, as_of: dt.date
) -> list[FollowUpSchedule]:
    """Read a visits file and compute every patient's schedule as of ``as_of``.

    Format (docs/protocol.md)::

        {"last_parent_enrollment_date": "2012-03-30",
         "patients": [{"USUBJID": "...", "follow_up_start_date": "...",
                       "visit_dates": ["...", ...],
                       "lenalidomide_start_date": "...", "death_date": null}]}
    """
    file = str(path)
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("patients"), list):
        raise ProtocolError(
            "no patient list",
            file=file,
            variable="patients",
            expected='an object {"last_parent_enrollment_date": ..., "patients": [...]}',
            found=type(data).__name__,
        )
    if "last_parent_enrollment_date" not in data:
        raise ProtocolError(
            "missing field",
            file=file,
            variable="last_parent_enrollment_date",
            expected="an ISO 8601 date YYYY-MM-DD",
        )
    last_enrollment = parse_date(
        data["last_parent_enrollment_date"], "last_parent_enrollment_date", file=file
    )
    out: list[FollowUpSchedule] = []
    for row, record in enumerate(data["patients"], start=1):
        out.append(_schedule_from_record(protocol, record, file, row, last_enrollment, as_of))
    return out


def _schedule_from_record(
    protocol: Protocol,
    record: Mapping[str, Any],
    file: str,
    row: int,
    last_enrollment: dt.date,
    as_of: dt.date,
) -> FollowUpSchedule:
    rows = [row]
    check_record_fields(record, VISIT_FIELDS_REQUIRED, VISIT_FIELDS_OPTIONAL, file=file, rows=rows)
    usubjid = record_usubjid(record, file=file, rows=rows)
    raw_visits = record["visit_dates"]
    if not isinstance(raw_visits, list):
        raise ProtocolError(
            "not a list",
            file=file,
            variable="visit_dates",
            rows=rows,
            expected="a list of ISO 8601 dates",
            found=repr(raw_visits),
        )

    def opt(key: str) -> dt.date | None:
        value = record.get(key)
        return None if value is None else parse_date(value, key, file=file, rows=rows)

    start = parse_date(record["follow_up_start_date"], "follow_up_start_date", file=file, rows=rows)
    visits = [parse_date(v, "visit_dates", file=file, rows=rows) for v in raw_visits]
    try:
        return visit_schedule(
            protocol,
            usubjid=usubjid,
            follow_up_start=start,
            last_parent_enrollment=last_enrollment,
            visit_dates=visits,
            as_of=as_of,
            lenalidomide_start=opt("lenalidomide_start_date"),
            death_date=opt("death_date"),
        )
    except ProtocolError as exc:
        raise ProtocolError(
            exc.problem,
            file=file,
            variable=exc.variable,
            rows=rows,
            expected=exc.expected,
            found=exc.found,
        ) from None

"""Follow-up visits: targets, +/- 7-day windows, status as of a date, treatment limit."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eap.errors import ProtocolError
from eap.protocol import (
    Protocol,
    VisitStatus,
    load_protocol,
    read_visits_file,
    treatment_limit_date,
    visit_schedule,
)

D = dt.date
START = D(2013, 1, 15)  # targets: 2013-05-15, 2013-09-15, 2014-01-15, 2014-05-15, ...
LAST_ENROLLMENT = D(2012, 3, 30)  # follow-up ends 2017-03-30


def schedule(protocol: Protocol, visits: list[dt.date], as_of: dt.date, **kw: Any) -> Any:
    return visit_schedule(
        protocol,
        usubjid="P1",
        follow_up_start=kw.pop("start", START),
        last_parent_enrollment=kw.pop("last", LAST_ENROLLMENT),
        visit_dates=visits,
        as_of=as_of,
        **kw,
    )


def test_targets_every_four_months_until_five_years_after_last_enrollment(
    protocol: Protocol,
) -> None:
    s = schedule(protocol, [], D(2013, 2, 1))
    targets = [v.target for v in s.visits]
    assert targets[:4] == [D(2013, 5, 15), D(2013, 9, 15), D(2014, 1, 15), D(2014, 5, 15)]
    assert s.follow_up_end == D(2017, 3, 30)
    # Last target on or before 2017-03-30: 2017-01-15 (visit 12 = 48 months after start).
    assert targets[-1] == D(2017, 1, 15)
    assert len(targets) == 12
    assert s.visits[0].window_start == D(2013, 5, 8)
    assert s.visits[0].window_end == D(2013, 5, 22)


def test_month_end_targets_clamp_without_drift(protocol: Protocol) -> None:
    # 31 Oct + 4 months = 28 Feb (2014 is not a leap year); + 8 months = 30 Jun; + 12 = 31 Oct.
    s = schedule(protocol, [], D(2013, 11, 1), start=D(2013, 10, 31))
    assert [v.target for v in s.visits[:3]] == [D(2014, 2, 28), D(2014, 6, 30), D(2014, 10, 31)]


@pytest.mark.parametrize(
    ("visit", "status", "days"),
    [
        (D(2013, 5, 22), VisitStatus.DONE_IN_WINDOW, 7),  # exactly 7 days late: in window
        (D(2013, 5, 23), VisitStatus.DONE_OUT_OF_WINDOW, 8),  # 8 days late: out of window
        (D(2013, 5, 8), VisitStatus.DONE_IN_WINDOW, -7),  # exactly 7 days early
        (D(2013, 5, 7), VisitStatus.DONE_OUT_OF_WINDOW, -8),  # 8 days early
        (D(2013, 5, 15), VisitStatus.DONE_IN_WINDOW, 0),
    ],
)
def test_window_boundaries(
    protocol: Protocol, visit: dt.date, status: VisitStatus, days: int
) -> None:
    s = schedule(protocol, [visit], D(2013, 6, 30))
    first = s.visits[0]
    assert first.status is status
    assert first.visit_date == visit
    assert first.days_from_target == days


def test_missed_is_decided_the_day_after_the_window_closes(protocol: Protocol) -> None:
    # Window of visit 1 closes 2013-05-22.
    assert schedule(protocol, [], D(2013, 5, 22)).visits[0].status is VisitStatus.COMING_DUE
    assert schedule(protocol, [], D(2013, 5, 23)).visits[0].status is VisitStatus.MISSED


def test_coming_due_lookahead_is_30_days(protocol: Protocol) -> None:
    # Window of visit 1 opens 2013-05-08; 30 days before is 2013-04-08.
    assert schedule(protocol, [], D(2013, 4, 8)).visits[0].status is VisitStatus.COMING_DUE
    assert schedule(protocol, [], D(2013, 4, 7)).visits[0].status is VisitStatus.SCHEDULED


def test_a_late_visit_after_missed_turns_out_of_window(protocol: Protocol) -> None:
    # Visit 1 (target 2013-05-15) done 20 days late, before visit 2's target.
    s = schedule(protocol, [D(2013, 6, 4)], D(2013, 7, 1))
    assert s.visits[0].status is VisitStatus.DONE_OUT_OF_WINDOW
    assert s.visits[0].days_from_target == 20
    assert s.visits[1].status is VisitStatus.SCHEDULED  # 2013-09-15 opens 2013-09-08 > 1 Aug


def test_nearest_target_and_in_window_preferred(protocol: Protocol) -> None:
    # Two visits near visit 1: one 9 days early (out), one 3 days late (in).
    s = schedule(protocol, [D(2013, 5, 6), D(2013, 5, 18)], D(2013, 6, 1))
    assert s.visits[0].status is VisitStatus.DONE_IN_WINDOW
    assert s.visits[0].visit_date == D(2013, 5, 18)


def test_example_file(protocol: Protocol, data_dir: Path) -> None:
    schedules = {
        s.usubjid: s for s in read_visits_file(protocol, data_dir / "visits.json", D(2014, 11, 5))
    }
    p101 = schedules["MM024-101"]
    assert [v.status for v in p101.visits[:6]] == [
        VisitStatus.DONE_IN_WINDOW,  # 2013-05-22: +7
        VisitStatus.DONE_OUT_OF_WINDOW,  # 2013-09-23: +8
        VisitStatus.MISSED,  # 2014-01-15: no visit
        VisitStatus.DONE_IN_WINDOW,  # 2014-05-10: -5
        VisitStatus.DONE_IN_WINDOW,  # 2014-09-15: 0
        VisitStatus.SCHEDULED,  # 2015-01-15: window opens 2015-01-08, > 30 days after as-of
    ]
    # 5 years after the MM-021 lenalidomide start 2011-05-20
    assert p101.treatment_limit_date == D(2016, 5, 20)
    p102 = schedules["MM024-102"]
    # target 2014-11-01, window 2014-10-25 to 2014-11-08 is open on 2014-11-05
    assert p102.visits[4].target == D(2014, 11, 1)
    assert p102.visits[4].status is VisitStatus.COMING_DUE
    assert p102.treatment_limit_date is None
    assert p102.count(VisitStatus.DONE_OUT_OF_WINDOW) == 2


def test_treatment_limit_date(protocol: Protocol) -> None:
    assert treatment_limit_date(protocol, D(2011, 3, 15)) == D(2016, 3, 15)
    assert treatment_limit_date(protocol, D(2012, 2, 29)) == D(2017, 2, 28)


def test_death_ends_the_schedule(protocol: Protocol) -> None:
    s = schedule(protocol, [D(2013, 5, 15)], D(2014, 11, 5), death_date=D(2013, 9, 10))
    # Visit 2 window opened 2013-09-08, before the death on 2013-09-10: it is still owed.
    assert [v.target for v in s.visits] == [D(2013, 5, 15), D(2013, 9, 15)]
    assert s.visits[1].status is VisitStatus.MISSED


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"visits": [D(2014, 12, 1)]}, "visit_dates"),  # after as-of
        ({"visits": [D(2013, 1, 15)]}, "visit_dates"),  # on the start date
        ({"start": D(2015, 1, 1), "visits": []}, "follow_up_start_date"),
        ({"visits": [], "death_date": D(2012, 1, 1)}, "death_date"),
        ({"visits": [D(2013, 10, 1)], "death_date": D(2013, 9, 1)}, "visit_dates"),
    ],
)
def test_impossible_schedules(protocol: Protocol, kw: dict[str, Any], field: str) -> None:
    visits = kw.pop("visits")
    with pytest.raises(ProtocolError) as info:
        schedule(protocol, visits, D(2014, 11, 5), **kw)
    assert str(info.value).startswith(f"{field}:")
    assert "expected" in str(info.value)


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "visits.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (
            {
                "last_parent_enrollment_date": "2012-03-30",
                "patients": [
                    {
                        "USUBJID": "P1",
                        "follow_up_start_date": "2013-01-15",
                        "visit_dates": ["2013-02-30"],
                    }
                ],
            },
            "visit_dates (row 1): not a valid calendar date",
        ),
        (
            {"patients": []},
            "last_parent_enrollment_date: missing field",
        ),
        (
            {"last_parent_enrollment_date": "2012-13-01", "patients": []},
            "last_parent_enrollment_date: not a valid calendar date",
        ),
        (
            {
                "last_parent_enrollment_date": "2012-03-30",
                "patients": [{"USUBJID": "P1", "visit_dates": []}],
            },
            "follow_up_start_date (row 1): missing field",
        ),
        (
            {
                "last_parent_enrollment_date": "2012-03-30",
                "patients": [
                    {
                        "USUBJID": "P1",
                        "follow_up_start_date": "2013-01-15",
                        "visit_dates": ["2014-12-01"],
                    }
                ],
            },
            "visit_dates (row 1): P1: visit date outside follow-up",
        ),
        (
            {
                "last_parent_enrollment_date": "2012-03-30",
                "patients": [
                    {
                        "USUBJID": "P1",
                        "follow_up_start_date": "2013-01-15",
                        "visit_dates": [],
                        "visits": [],
                    }
                ],
            },
            "visits (row 1): unknown field",
        ),
    ],
)
def test_visits_file_errors(tmp_path: Path, data: object, fragment: str) -> None:
    path = _write(tmp_path, data)
    with pytest.raises(ProtocolError) as info:
        read_visits_file(load_protocol(), path, D(2014, 11, 5))
    assert str(info.value).startswith(str(path))
    assert fragment in str(info.value)


PROTOCOL = load_protocol()


@settings(max_examples=60, deadline=None)
@given(
    st.dates(min_value=D(2012, 6, 1), max_value=D(2014, 6, 1)),
    st.lists(st.integers(min_value=1, max_value=900), max_size=12),
    st.integers(min_value=0, max_value=1000),
)
def test_schedule_invariants(start: dt.date, offsets: list[int], as_of_offset: int) -> None:
    as_of = start + dt.timedelta(days=max(as_of_offset, max(offsets, default=1)))
    visits = sorted({start + dt.timedelta(days=o) for o in offsets})
    s = visit_schedule(
        PROTOCOL,
        usubjid="P",
        follow_up_start=start,
        last_parent_enrollment=LAST_ENROLLMENT,
        visit_dates=visits,
        as_of=as_of,
    )
    for v in s.visits:
        assert (v.window_end - v.target).days == 7
        assert (v.target - v.window_start).days == 7
        done = v.status in (VisitStatus.DONE_IN_WINDOW, VisitStatus.DONE_OUT_OF_WINDOW)
        assert done == (v.visit_date is not None)
        if v.status is VisitStatus.DONE_IN_WINDOW:
            assert abs(v.days_from_target or 0) <= 7
        if v.status is VisitStatus.DONE_OUT_OF_WINDOW:
            assert abs(v.days_from_target or 0) > 7
        if v.status is VisitStatus.MISSED:
            assert as_of > v.window_end
        if v.status in (VisitStatus.COMING_DUE, VisitStatus.SCHEDULED):
            assert as_of <= v.window_end
    # each visit is used at most once
    used = [v.visit_date for v in s.visits if v.visit_date]
    assert len(used) == len(set(used))

"""The cycle calendar: counts per cycle, boundaries, dates and dose intensity."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eap.errors import ProtocolError
from eap.protocol import (
    DoseLevel,
    Frequency,
    Protocol,
    administration_summary,
    cycle_calendar,
    dose_level,
    level_for_crcl,
    load_protocol,
    planned_administrations,
    planned_dose_intensity,
    relative_dose_intensity,
)

START = dt.date(2013, 1, 7)
LEN, DEX = "LENALIDOMIDE", "DEXAMETHASONE"


def test_three_cycles_at_full_dose(protocol: Protocol) -> None:
    cal = cycle_calendar(protocol, START, 3, level_for_crcl(protocol, 72))
    f = cal.frame
    assert f.columns == ["CYCLE", "DAY", "DATE", "EXTRT", "EXDOSE", "EXDOSU"]
    assert f.schema["DATE"] == pl.Date
    per_cycle = f.group_by("CYCLE", "EXTRT").len().sort("CYCLE", "EXTRT")
    # 21 lenalidomide days (1-21) and 4 dexamethasone days (1, 8, 15, 22) in every cycle
    assert per_cycle.filter(pl.col("EXTRT") == LEN)["len"].to_list() == [21, 21, 21]
    assert per_cycle.filter(pl.col("EXTRT") == DEX)["len"].to_list() == [4, 4, 4]
    assert f.filter(pl.col("EXTRT") == DEX)["DAY"].unique().sort().to_list() == [1, 8, 15, 22]
    assert set(f.filter(pl.col("EXTRT") == LEN)["EXDOSE"].to_list()) == {25.0}
    assert set(f.filter(pl.col("EXTRT") == DEX)["EXDOSE"].to_list()) == {40.0}
    assert set(f["EXDOSU"].to_list()) == {"mg"}
    # 3 cycles x 28 days = 84 days: 2013-01-07 + 83 days = 2013-03-31
    assert cal.days == 84
    assert cal.end == dt.date(2013, 3, 31)
    # totals: 25 x 21 x 3 = 1575 mg; 40 x 4 x 3 = 480 mg
    assert cal.total_dose(LEN) == 1575.0
    assert cal.total_dose(DEX) == 480.0
    # 1575 / 84 = 18.75 = 25 x 21 / 28
    assert cal.dose_intensity(LEN) == pytest.approx(18.75)
    assert cal.dose_intensity(DEX) == pytest.approx(160 / 28)


def test_day_21_and_22_boundary(protocol: Protocol) -> None:
    cal = cycle_calendar(protocol, START, 2, level_for_crcl(protocol, 72))
    f = cal.frame

    def drugs_on(cycle: int, day: int) -> set[str]:
        return set(f.filter((pl.col("CYCLE") == cycle) & (pl.col("DAY") == day))["EXTRT"])

    assert drugs_on(1, 21) == {LEN}  # last lenalidomide day
    assert drugs_on(1, 22) == {DEX}  # no lenalidomide from day 22
    assert drugs_on(1, 23) == set()
    assert drugs_on(1, 28) == set()
    assert drugs_on(2, 1) == {LEN, DEX}


def test_dates(protocol: Protocol) -> None:
    f = cycle_calendar(protocol, START, 3, level_for_crcl(protocol, 72)).frame

    def date_of(cycle: int, day: int, drug: str) -> dt.date:
        row = f.filter(
            (pl.col("CYCLE") == cycle) & (pl.col("DAY") == day) & (pl.col("EXTRT") == drug)
        )
        return row["DATE"].item()  # type: ignore[no-any-return]

    assert date_of(1, 1, LEN) == dt.date(2013, 1, 7)
    assert date_of(1, 21, LEN) == dt.date(2013, 1, 27)  # 7 Jan + 20 days
    assert date_of(1, 22, DEX) == dt.date(2013, 1, 28)
    assert date_of(2, 1, DEX) == dt.date(2013, 2, 4)  # 7 Jan + 28 days
    assert date_of(3, 22, DEX) == dt.date(2013, 3, 25)  # 7 Jan + 56 + 21 days


def test_every_other_day_pattern(protocol: Protocol) -> None:
    cal = cycle_calendar(protocol, START, 2, level_for_crcl(protocol, 29.9))
    f = cal.frame.filter(pl.col("EXTRT") == LEN)
    days = f.filter(pl.col("CYCLE") == 1)["DAY"].to_list()
    assert days == [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21]  # 11 doses
    assert f.filter(pl.col("CYCLE") == 2)["DAY"].to_list() == days
    assert set(f["EXDOSE"].to_list()) == {15.0}
    # 15 x 11 = 165 mg per 28 days
    assert cal.dose_intensity(LEN) == pytest.approx(165 / 28)
    assert cal.frame.filter(pl.col("EXTRT") == DEX).height == 8


def test_planned_dose_intensity_by_band(protocol: Protocol) -> None:
    assert planned_dose_intensity(protocol, level_for_crcl(protocol, 60)) == pytest.approx(18.75)
    # 10 x 21 / 28 = 7.5
    assert planned_dose_intensity(protocol, level_for_crcl(protocol, 30)) == pytest.approx(7.5)
    assert planned_dose_intensity(protocol, level_for_crcl(protocol, 10)) == pytest.approx(165 / 28)


def test_relative_dose_intensity_uses_the_renal_full_dose(protocol: Protocol) -> None:
    # NOTES: median dose intensity 18.0 mg/day over a full 18.75 gives 0.96.
    full = level_for_crcl(protocol, 72)
    assert relative_dose_intensity(18.0, protocol, full) == pytest.approx(0.96)
    # A CrCl 45 patient at 7.5 mg/day is at 100% of the 10 mg daily full dose.
    assert relative_dose_intensity(7.5, protocol, level_for_crcl(protocol, 45)) == pytest.approx(
        1.0
    )


def test_rest_days_can_be_listed_with_zero_dose(protocol: Protocol) -> None:
    cal = cycle_calendar(protocol, START, 1, level_for_crcl(protocol, 72), include_rest_days=True)
    f = cal.frame
    assert f.height == 28 * 2
    day22 = f.filter((pl.col("DAY") == 22) & (pl.col("EXTRT") == LEN))
    assert day22["EXDOSE"].item() == 0.0
    assert cal.dosing_days(LEN) == 21
    assert cal.dosing_days(DEX) == 4
    assert cal.dose_intensity(LEN) == pytest.approx(18.75)


def test_summary_frame(protocol: Protocol) -> None:
    s = cycle_calendar(protocol, START, 2, level_for_crcl(protocol, 45)).summary()
    rows = {r["EXTRT"]: r for r in s.iter_rows(named=True)}
    # 10 mg x 21 x 2 = 420 mg over 56 days = 7.5 mg/day
    assert rows[LEN]["DOSING_DAYS"] == 42
    assert rows[LEN]["TOTAL_DOSE"] == 420.0
    assert rows[LEN]["DAYS"] == 56
    assert rows[LEN]["DOSE_INTENSITY"] == pytest.approx(7.5)
    assert rows[DEX]["DOSING_DAYS"] == 8


def test_explicit_dose_level_and_dexamethasone(protocol: Protocol) -> None:
    cal = cycle_calendar(
        protocol, START, 1, dose_level(protocol, 20, Frequency.DAILY), dexamethasone_dose=20
    )
    assert cal.total_dose(LEN) == 420.0  # 20 x 21
    assert cal.total_dose(DEX) == 80.0  # 20 x 4


@pytest.mark.parametrize("cycles", [0, -1])
def test_bad_cycles(protocol: Protocol, cycles: int) -> None:
    with pytest.raises(ProtocolError, match=r"cycles: .*an integer >= 1"):
        cycle_calendar(protocol, START, cycles, level_for_crcl(protocol, 72))


def test_dose_off_the_ladder(protocol: Protocol) -> None:
    with pytest.raises(ProtocolError, match=r"one of 25, 20, 15, 10, 5, 2\.5 mg"):
        dose_level(protocol, 12, Frequency.DAILY)
    with pytest.raises(ProtocolError, match=r"one of 25, 20, 15, 10, 5, 2\.5 mg"):
        cycle_calendar(protocol, START, 1, DoseLevel(12.0, Frequency.DAILY))


PROTOCOL = load_protocol()
levels = st.builds(
    DoseLevel,
    st.sampled_from(PROTOCOL.dose_reduction.ladder),
    st.sampled_from(list(Frequency)),
)


@settings(max_examples=60, deadline=None)
@given(
    st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2030, 12, 31)),
    st.integers(min_value=1, max_value=40),
    levels,
)
def test_calendar_invariants(start: dt.date, cycles: int, level: DoseLevel) -> None:
    cal = cycle_calendar(PROTOCOL, start, cycles, level)
    f = cal.frame
    n_len = 21 if level.frequency is Frequency.DAILY else 11
    assert f.filter(pl.col("EXTRT") == LEN).height == cycles * n_len
    assert f.filter(pl.col("EXTRT") == DEX).height == cycles * 4
    # planned dose intensity = the calendar's total / its days = the protocol's per-cycle figure
    total = float(f.filter(pl.col("EXTRT") == LEN)["EXDOSE"].sum())
    assert cal.dose_intensity(LEN) == pytest.approx(total / (cycles * 28))
    assert cal.dose_intensity(LEN) == pytest.approx(level.dose * n_len / 28)
    assert cal.dose_intensity(LEN) == pytest.approx(planned_dose_intensity(PROTOCOL, level))
    # every date is start + (CYCLE - 1) x 28 + DAY - 1, inside [start, end]
    offsets = f.select(
        ((pl.col("DATE") - pl.lit(start)).dt.total_days()).alias("o"),
        ((pl.col("CYCLE") - 1) * 28 + pl.col("DAY") - 1).cast(pl.Int64).alias("e"),
    )
    assert offsets["o"].to_list() == offsets["e"].to_list()
    assert f["DATE"].min() >= start
    assert f["DATE"].max() <= cal.end  # type: ignore[operator]
    assert f.filter(pl.col("EXTRT") == LEN)["DAY"].max() == 21


def _plans(**changes: list[object]) -> pl.DataFrame:
    data: dict[str, list[object]] = {
        "USUBJID": ["A", "B"],
        "START": [dt.date(2013, 1, 7), dt.date(2012, 11, 19)],
        "CYCLES": [2, 3],
        "LENALIDOMIDE_DOSE": [25.0, 15.0],
        "FREQUENCY": ["daily", "every_other_day"],
    }
    data.update(changes)
    return pl.DataFrame(data)


def test_many_patients_at_once_match_one_patient_calendars(protocol: Protocol) -> None:
    frame = planned_administrations(protocol, _plans())
    assert frame.columns == ["USUBJID", "CYCLE", "DAY", "DATE", "EXTRT", "EXDOSE", "EXDOSU"]
    a = cycle_calendar(protocol, dt.date(2013, 1, 7), 2, DoseLevel(25.0, Frequency.DAILY))
    b = cycle_calendar(
        protocol, dt.date(2012, 11, 19), 3, DoseLevel(15.0, Frequency.EVERY_OTHER_DAY)
    )
    assert frame.filter(pl.col("USUBJID") == "A").drop("USUBJID").equals(a.frame)
    assert frame.filter(pl.col("USUBJID") == "B").drop("USUBJID").equals(b.frame)
    # A: (21 + 4) x 2 = 50 rows; B: (11 + 4) x 3 = 45 rows
    assert frame.group_by("USUBJID").len().sort("USUBJID")["len"].to_list() == [50, 45]


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"LENALIDOMIDE_DOSE": [25.0, 12.0]}, "plans.LENALIDOMIDE_DOSE (row 2)"),
        ({"FREQUENCY": ["daily", "weekly"]}, "one of daily, every_other_day"),
        ({"CYCLES": [0, 3]}, "plans.CYCLES (row 1)"),
        ({"START": [dt.date(2013, 1, 7), None]}, "plans.START (row 2)"),
    ],
)
def test_bad_plans_name_column_rows_and_allowed_values(
    protocol: Protocol, changes: dict[str, list[object]], fragment: str
) -> None:
    with pytest.raises(ProtocolError) as info:
        planned_administrations(protocol, _plans(**changes))
    assert fragment in str(info.value)


def test_plans_missing_a_column(protocol: Protocol) -> None:
    with pytest.raises(ProtocolError, match=r"plans\.FREQUENCY: plans frame lacks columns"):
        planned_administrations(protocol, _plans().drop("FREQUENCY"))


def test_summary_of_many_patients(protocol: Protocol) -> None:
    s = administration_summary(protocol, planned_administrations(protocol, _plans()))
    rows = {(r["USUBJID"], r["EXTRT"]): r for r in s.iter_rows(named=True)}
    # A: 25 mg x 21 x 2 cycles = 1050 mg over 56 days = 18.75 mg/day
    assert rows[("A", LEN)]["TOTAL_DOSE"] == 1050.0
    assert rows[("A", LEN)]["DAYS"] == 56
    assert rows[("A", LEN)]["DOSE_INTENSITY"] == pytest.approx(18.75)
    # B: 15 mg x 11 x 3 cycles = 495 mg over 84 days = 5.893 mg/day (= 165 / 28)
    assert rows[("B", LEN)]["DOSING_DAYS"] == 33
    assert rows[("B", LEN)]["TOTAL_DOSE"] == 495.0
    assert rows[("B", LEN)]["DOSE_INTENSITY"] == pytest.approx(165 / 28)
    # dexamethasone: 40 mg x 4 x 3 = 480 mg
    assert rows[("B", DEX)]["TOTAL_DOSE"] == 480.0

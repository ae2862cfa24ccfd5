"""The cycle calendar: the one implementation of the Rd dosing schedule.

Given a start date (day 1 of cycle 1), a lenalidomide dose level and a number of
cycles, :func:`cycle_calendar` lists every planned administration as a Polars
frame with CDISC EX names:

=======  =====================================================
CYCLE    cycle number, 1-based (Int32)
DAY      day within the cycle, 1..cycle_days (Int32)
DATE     calendar date (Date)
EXTRT    drug name as in the protocol (LENALIDOMIDE, DEXAMETHASONE)
EXDOSE   planned dose (Float64); 0.0 on rest days when they are included
EXDOSU   dose unit (mg)
=======  =====================================================

Planned dose intensity is mg per day over whole cycles, rest days included
(publication definition of dose intensity): 25 mg on days 1-21 of 28 gives
25 x 21 / 28 = 18.75 mg/day; 15 mg every other day on days 1-21 (days 1, 3, ...,
21: 11 doses) gives 165 / 28 mg/day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from eap.errors import ProtocolError
from eap.protocol.dosing import DoseLevel, check_on_ladder, renal_band
from eap.protocol.model import Frequency, Protocol

COLUMNS = ("CYCLE", "DAY", "DATE", "EXTRT", "EXDOSE", "EXDOSU")
SCHEMA: dict[str, pl.DataType] = {
    "CYCLE": pl.Int32(),
    "DAY": pl.Int32(),
    "DATE": pl.Date(),
    "EXTRT": pl.String(),
    "EXDOSE": pl.Float64(),
    "EXDOSU": pl.String(),
}


def cycle_template(
    protocol: Protocol, level: DoseLevel, dexamethasone_dose: float | None = None
) -> pl.DataFrame:
    """One cycle's administrations (DAY, EXTRT, EXDOSE, EXDOSU), dosing days only."""
    reg = protocol.regimen
    le, dx = reg.lenalidomide, reg.dexamethasone
    dex = dx.dose if dexamethasone_dose is None else dexamethasone_dose
    len_days = le.dosing_days(level.frequency)
    days = list(len_days) + list(dx.days)
    drugs = [le.name] * len(len_days) + [dx.name] * len(dx.days)
    doses = [level.dose] * len(len_days) + [dex] * len(dx.days)
    units = [le.unit] * len(len_days) + [dx.unit] * len(dx.days)
    return pl.DataFrame(
        {"DAY": days, "EXTRT": drugs, "EXDOSE": doses, "EXDOSU": units},
        schema={k: SCHEMA[k] for k in ("DAY", "EXTRT", "EXDOSE", "EXDOSU")},
    )


@dataclass(frozen=True)
class CycleCalendar:
    """A patient's planned administrations over whole cycles, and summaries of them."""

    frame: pl.DataFrame
    start: dt.date
    cycles: int
    cycle_days: int
    level: DoseLevel
    dexamethasone_dose: float

    @property
    def days(self) -> int:
        """Calendar days covered: cycles x cycle length, rest days included."""
        return self.cycles * self.cycle_days

    @property
    def end(self) -> dt.date:
        """The last day of the last cycle."""
        return self.start + dt.timedelta(days=self.days - 1)

    def total_dose(self, drug: str) -> float:
        """Sum of planned doses of one drug (EXTRT) over the calendar."""
        col = self.frame.filter(pl.col("EXTRT") == drug)["EXDOSE"]
        return float(col.sum()) if col.len() else 0.0

    def dosing_days(self, drug: str) -> int:
        """Number of days with a planned dose > 0 of one drug."""
        return self.frame.filter((pl.col("EXTRT") == drug) & (pl.col("EXDOSE") > 0)).height

    def dose_intensity(self, drug: str) -> float:
        """Planned mg per day over the calendar's days, rest days included."""
        return self.total_dose(drug) / self.days

    def summary(self) -> pl.DataFrame:
        """One row per drug: EXTRT, EXDOSU, dosing days, total dose, days, intensity (mg/day)."""
        return (
            self.frame.filter(pl.col("EXDOSE") > 0)
            .group_by("EXTRT", "EXDOSU", maintain_order=True)
            .agg(
                pl.len().cast(pl.Int64).alias("DOSING_DAYS"),
                pl.col("EXDOSE").sum().alias("TOTAL_DOSE"),
            )
            .with_columns(
                pl.lit(self.days, dtype=pl.Int64).alias("DAYS"),
                (pl.col("TOTAL_DOSE") / self.days).alias("DOSE_INTENSITY"),
            )
        )


def _check_cycles(cycles: int) -> int:
    if isinstance(cycles, bool) or not isinstance(cycles, int) or cycles < 1:
        raise ProtocolError(
            "number of cycles must be a positive integer",
            variable="cycles",
            expected="an integer >= 1",
            found=repr(cycles),
        )
    return cycles


def level_for_crcl(protocol: Protocol, crcl: float) -> DoseLevel:
    """The full renal-adjusted dose level for a creatinine clearance."""
    band = renal_band(protocol, crcl)
    return DoseLevel(band.dose, band.frequency, protocol.regimen.lenalidomide.unit)


def dose_level(protocol: Protocol, dose: float, frequency: Frequency) -> DoseLevel:
    """A dose level checked against the ladder (a dose off the ladder is an error)."""
    return DoseLevel(check_on_ladder(protocol, dose), frequency, protocol.regimen.lenalidomide.unit)


def cycle_calendar(
    protocol: Protocol,
    start: dt.date,
    cycles: int,
    level: DoseLevel,
    *,
    dexamethasone_dose: float | None = None,
    include_rest_days: bool = False,
) -> CycleCalendar:
    """Planned dose of each drug on each day of ``cycles`` cycles from ``start``.

    Rest days have no row unless ``include_rest_days``, in which case every
    (day, drug) pair has a row and rest days carry EXDOSE 0.0.

    >>> p = load_protocol()
    >>> cal = cycle_calendar(p, dt.date(2013, 1, 7), 3, level_for_crcl(p, 72))
    >>> cal.dose_intensity("LENALIDOMIDE")  # 25 * 21 * 3 / 84
    18.75
    """
    cycles = _check_cycles(cycles)
    check_on_ladder(protocol, level.dose)
    cycle_days = protocol.regimen.cycle_days
    dex = protocol.regimen.dexamethasone.dose if dexamethasone_dose is None else dexamethasone_dose
    template = cycle_template(protocol, level, dex)
    if include_rest_days:
        drugs = template.select("EXTRT", "EXDOSU").unique(maintain_order=True)
        grid = pl.DataFrame({"DAY": range(1, cycle_days + 1)}, schema={"DAY": pl.Int32()}).join(
            drugs, how="cross"
        )
        template = grid.join(
            template.select("DAY", "EXTRT", "EXDOSE"), on=["DAY", "EXTRT"], how="left"
        ).with_columns(pl.col("EXDOSE").fill_null(0.0))
    cycle_numbers = pl.DataFrame({"CYCLE": range(1, cycles + 1)}, schema={"CYCLE": pl.Int32()})
    # Why a cross join: the schedule is the same every cycle, so the frame for N
    # cycles is the one-cycle template times N, computed column-wise, not in a loop.
    frame = (
        cycle_numbers.join(template, how="cross")
        .with_columns(
            (
                pl.lit(start, dtype=pl.Date)
                + pl.duration(
                    days=(pl.col("CYCLE").cast(pl.Int64) - 1) * cycle_days
                    + pl.col("DAY").cast(pl.Int64)
                    - 1
                )
            ).alias("DATE")
        )
        .select(COLUMNS)
        .sort("CYCLE", "DAY", "EXTRT")
    )
    return CycleCalendar(frame, start, cycles, cycle_days, level, dex)


def planned_dose_intensity(protocol: Protocol, level: DoseLevel) -> float:
    """Planned lenalidomide mg/day over one cycle, from the protocol alone.

    25 mg daily on days 1-21 of 28: 25 x 21 / 28 = 18.75.
    """
    days = protocol.regimen.lenalidomide.dosing_days(level.frequency)
    return level.dose * len(days) / protocol.regimen.cycle_days


def relative_dose_intensity(actual_intensity: float, protocol: Protocol, full: DoseLevel) -> float:
    """Actual dose intensity over the planned intensity of the patient's full dose.

    The full dose is the renal-adjusted one (10 mg daily for CrCl 30 to < 60).
    """
    return actual_intensity / planned_dose_intensity(protocol, full)

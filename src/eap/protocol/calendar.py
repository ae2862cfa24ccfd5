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


def day_template(protocol: Protocol, *, include_rest_days: bool = False) -> pl.DataFrame:
    """One cycle's (FREQUENCY, DAY, EXTRT, EXDOSU, GIVEN) rows for every frequency.

    ``GIVEN`` says whether the drug is taken that day; without ``include_rest_days``
    only rows with GIVEN true are kept. The lenalidomide days depend on the
    frequency; dexamethasone days do not.
    """
    reg = protocol.regimen
    le, dx = reg.lenalidomide, reg.dexamethasone
    rows: list[tuple[str, int, str, str, bool]] = []
    for freq in Frequency:
        len_days = set(le.dosing_days(freq))
        for day in range(1, reg.cycle_days + 1):
            rows.append((freq.value, day, le.name, le.unit, day in len_days))
            rows.append((freq.value, day, dx.name, dx.unit, day in dx.days))
    frame = pl.DataFrame(
        rows,
        schema={
            "FREQUENCY": pl.String(),
            "DAY": pl.Int32(),
            "EXTRT": pl.String(),
            "EXDOSU": pl.String(),
            "GIVEN": pl.Boolean(),
        },
        orient="row",
    )
    return frame if include_rest_days else frame.filter(pl.col("GIVEN"))


PLAN_COLUMNS = ("USUBJID", "START", "CYCLES", "LENALIDOMIDE_DOSE", "FREQUENCY")


def _check_plans(protocol: Protocol, plans: pl.DataFrame) -> pl.DataFrame:
    """Validate a plans frame; errors name the column, the rows and the allowed values."""
    missing = [c for c in PLAN_COLUMNS if c not in plans.columns]
    if missing:
        raise ProtocolError(
            "plans frame lacks columns",
            dataset="plans",
            variable=missing[0],
            expected=", ".join(PLAN_COLUMNS) + " (DEXAMETHASONE_DOSE optional)",
            found=", ".join(plans.columns) or "no columns",
        )
    if "DEXAMETHASONE_DOSE" not in plans.columns:
        plans = plans.with_columns(
            pl.lit(protocol.regimen.dexamethasone.dose).alias("DEXAMETHASONE_DOSE")
        )
    plans = plans.with_row_index("_ROW", offset=1)

    def bad(column: str, condition: pl.Expr, expected: str) -> None:
        hits = plans.filter(condition)
        if hits.height:
            raise ProtocolError(
                "invalid planned value",
                dataset="plans",
                variable=column,
                rows=hits["_ROW"].to_list(),
                expected=expected,
                found=repr(hits[column][0]),
            )

    ladder = list(protocol.dose_reduction.ladder)
    freqs = [f.value for f in Frequency]
    for column in (*PLAN_COLUMNS, "DEXAMETHASONE_DOSE"):
        bad(column, pl.col(column).is_null(), "a value in every row")
    bad("CYCLES", pl.col("CYCLES") < 1, "an integer >= 1")
    bad(
        "LENALIDOMIDE_DOSE",
        ~pl.col("LENALIDOMIDE_DOSE").cast(pl.Float64).is_in(ladder),
        "one of " + ", ".join(f"{d:g}" for d in ladder) + " mg",
    )
    bad("FREQUENCY", ~pl.col("FREQUENCY").is_in(freqs), "one of " + ", ".join(freqs))
    bad("DEXAMETHASONE_DOSE", pl.col("DEXAMETHASONE_DOSE") < 0, "a number >= 0")
    return plans.drop("_ROW").with_columns(
        pl.col("START").cast(pl.Date),
        pl.col("CYCLES").cast(pl.Int32),
        pl.col("LENALIDOMIDE_DOSE").cast(pl.Float64),
        pl.col("DEXAMETHASONE_DOSE").cast(pl.Float64),
    )


def planned_administrations(
    protocol: Protocol, plans: pl.DataFrame, *, include_rest_days: bool = False
) -> pl.DataFrame:
    """Every planned administration of many patients' plans, in one frame.

    ``plans`` has one row per patient: USUBJID, START (day 1 of cycle 1), CYCLES,
    LENALIDOMIDE_DOSE (on the ladder), FREQUENCY (daily or every_other_day) and
    optionally DEXAMETHASONE_DOSE (default: the protocol's). The result has
    USUBJID plus the calendar columns CYCLE, DAY, DATE, EXTRT, EXDOSE, EXDOSU.
    This is the schedule's single implementation; :func:`cycle_calendar` is the
    one-patient case.
    """
    plans = _check_plans(protocol, plans)
    cycle_days = protocol.regimen.cycle_days
    lenalidomide = protocol.regimen.lenalidomide.name
    template = day_template(protocol, include_rest_days=include_rest_days)
    # Why join then explode: the schedule is the same every cycle, so the rows for
    # N cycles are the one-cycle template repeated N times, built column-wise by
    # Polars (no Python loop over patients, cycles or days).
    return (
        plans.join(template, on="FREQUENCY", how="inner")
        .with_columns(pl.int_ranges(1, pl.col("CYCLES") + 1, dtype=pl.Int32).alias("CYCLE"))
        .explode("CYCLE")
        .with_columns(
            pl.when(~pl.col("GIVEN"))
            .then(0.0)
            .when(pl.col("EXTRT") == lenalidomide)
            .then(pl.col("LENALIDOMIDE_DOSE"))
            .otherwise(pl.col("DEXAMETHASONE_DOSE"))
            .alias("EXDOSE"),
            (
                pl.col("START")
                + pl.duration(
                    days=(pl.col("CYCLE").cast(pl.Int64) - 1) * cycle_days
                    + pl.col("DAY").cast(pl.Int64)
                    - 1
                )
            ).alias("DATE"),
        )
        .select("USUBJID", *COLUMNS)
        .sort("USUBJID", "CYCLE", "DAY", "EXTRT")
    )


def administration_summary(protocol: Protocol, frame: pl.DataFrame) -> pl.DataFrame:
    """Per USUBJID and drug: DOSING_DAYS, TOTAL_DOSE, DAYS and DOSE_INTENSITY (mg/day).

    ``frame`` is the output of :func:`planned_administrations`. DAYS is the number
    of whole cycles (the highest CYCLE) x cycle length, rest days included, so
    DOSE_INTENSITY = TOTAL_DOSE / DAYS as in the publication's definition.
    """
    cycle_days = protocol.regimen.cycle_days
    cycles = frame.group_by("USUBJID").agg(
        (pl.col("CYCLE").max().cast(pl.Int64) * cycle_days).alias("DAYS")
    )
    return (
        frame.filter(pl.col("EXDOSE") > 0)
        .group_by("USUBJID", "EXTRT", "EXDOSU")
        .agg(
            pl.len().cast(pl.Int64).alias("DOSING_DAYS"),
            pl.col("EXDOSE").sum().alias("TOTAL_DOSE"),
        )
        .join(cycles, on="USUBJID", how="left")
        .with_columns((pl.col("TOTAL_DOSE") / pl.col("DAYS")).alias("DOSE_INTENSITY"))
        .sort("USUBJID", "EXTRT")
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

    >>> from eap.protocol import load_protocol
    >>> p = load_protocol()
    >>> cal = cycle_calendar(p, dt.date(2013, 1, 7), 3, level_for_crcl(p, 72))
    >>> cal.dose_intensity("LENALIDOMIDE")  # 25 * 21 * 3 / 84
    18.75
    """
    cycles = _check_cycles(cycles)
    check_on_ladder(protocol, level.dose)
    dex = protocol.regimen.dexamethasone.dose if dexamethasone_dose is None else dexamethasone_dose
    plan = pl.DataFrame(
        {
            "USUBJID": [""],
            "START": [start],
            "CYCLES": [cycles],
            "LENALIDOMIDE_DOSE": [level.dose],
            "FREQUENCY": [level.frequency.value],
            "DEXAMETHASONE_DOSE": [dex],
        }
    )
    frame = planned_administrations(protocol, plan, include_rest_days=include_rest_days)
    return CycleCalendar(
        frame.drop("USUBJID"), start, cycles, protocol.regimen.cycle_days, level, dex
    )


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

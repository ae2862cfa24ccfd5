"""Rd exposure of the virtual cohort on the protocol calendar, with interruptions and reductions.

The planned administrations come from the protocol's cycle calendar
(:func:`eap.protocol.calendar.planned_administrations`), one plan per cycle so
that a cycle may start late. On top of the plan:

* **Cycle delays.** A patient who stopped Rd took the last dose on a
  lenalidomide day: when the stop date falls in the rest days, the last cycle
  started that many days late (at most 7).
* **Interruptions** hold lenalidomide for a run of dosing days (the held days
  are missing from EX); **reductions** move one rung down the protocol's
  ladder from a given day on. Each is a row of ``modifications`` that an AE
  explains (see eap.simulate.events).
* **Exposure categories** (exact counts per group; ``MODCAT`` is the
  publication's interruption / reduction / both / none due to TEAEs):

  ====== ====================================== ===== ===== ========
  code   meaning                                 TC    SFU   MODCAT
  ====== ====================================== ===== ===== ========
  A0     25 mg, never modified                   10    10    NONE
  AI     25 mg, interrupted                      15    15    INTERRUPTION
  BR     25 mg, reduced                           6     0    REDUCTION
  BB     25 mg, interrupted and reduced           6     8    BOTH
  C0     10 mg (CrCl 30-<60), never modified      2     2    NONE
  CI     10 mg (CrCl 30-<60), interrupted         2     2    INTERRUPTION
  D      10 mg reduced to 5 mg, interrupted       0     1    BOTH
  E      15 mg every other day (CrCl < 30)        0     1    NONE
  ====== ====================================== ===== ===== ========

  Of the 15 treatment-cohort patients on Rd at the cutoff, 9 are A0/AI (25 mg),
  1 is C0 (10 mg, the full planned dose) and 5 are BR/BB (reduced).

* **Dose intensity** (cumulative dose / days from first dose to last dose, or
  to the cutoff when ongoing): the AI patients are split into 9 below 17.95
  mg/day, 2 at 18.0 and 19 above 18.05, so the safety-population median is
  18.0 (every other category lies clearly below or above).
* **Average daily dose** (cumulative dose / days dosed): 25.0 for A0/AI, 10.0
  for C0/CI, 15.0 for E, 6.3 for D, and a reduction day for each BR/BB patient
  chosen so that the mean over the safety population is 21.7 mg.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import polars as pl

from eap.protocol import Frequency, Protocol
from eap.protocol.calendar import planned_administrations
from eap.simulate.exact import exact_labels

EXPOSURE_COUNTS = {
    "TC": {"A0": 10, "AI": 15, "BR": 6, "BB": 6, "C0": 2, "CI": 2},
    "SFU": {"A0": 10, "AI": 15, "BB": 8, "C0": 2, "CI": 2, "D": 1, "E": 1},
}
TC_ONGOING = {"A0": 5, "AI": 4, "C0": 1, "BR": 3, "BB": 2}
MODCAT = {
    "A0": "NONE",
    "AI": "INTERRUPTION",
    "BR": "REDUCTION",
    "BB": "BOTH",
    "C0": "NONE",
    "CI": "INTERRUPTION",
    "D": "BOTH",
    "E": "NONE",
}
START_DOSE = {
    "A0": 25.0,
    "AI": 25.0,
    "BR": 25.0,
    "BB": 25.0,
    "C0": 10.0,
    "CI": 10.0,
    "D": 10.0,
    "E": 15.0,
}
DI_MEDIAN = 18.0
ADD_MEAN = 21.7
ADD_MIN = 6.3
DAY = dt.timedelta(days=1)


def exposure_categories(patients: pl.DataFrame, scale: int, rng: np.random.Generator) -> list[str]:
    """An exposure category per patient with the exact counts above."""
    cats: list[str] = [""] * patients.height
    group = patients["GROUP"].to_list()
    ongoing = patients["ONGOING"].to_list()
    tc_on = [i for i in range(len(group)) if group[i] == "TC" and ongoing[i]]
    tc_off = [i for i in range(len(group)) if group[i] == "TC" and not ongoing[i]]
    sfu = [i for i in range(len(group)) if group[i] == "SFU"]
    off_counts = {k: v - TC_ONGOING.get(k, 0) for k, v in EXPOSURE_COUNTS["TC"].items()}
    for rows, counts in ((tc_on, TC_ONGOING), (tc_off, off_counts), (sfu, EXPOSURE_COUNTS["SFU"])):
        for i, c in zip(rows, exact_labels(counts, scale, rng), strict=True):
            cats[i] = str(c)
    return cats


REDUCED = ("BR", "BB", "D")
# Deaths of the treatment cohort that are fatal treatment-emergent AEs (eap.simulate.events).
FATAL_AE_CAUSES = ("lung infection", "cerebral infarction")


def _spare_fatal_from_reduction(
    patients: pl.DataFrame, cats: list[str], rng: np.random.Generator
) -> None:
    """Swap categories so that no patient with a fatal AE had a dose reduction.

    A reduction follows a grade 3-4 AE, and a patient whose worst AE is fatal has no
    grade 3-4 AE in the published counts; the swap partner stopped Rd too, in the
    same group, so every count of the exposure table stays.
    """
    if "DTHCAUSE" not in patients.columns:
        return
    group = patients["GROUP"].to_list()
    ongoing = patients["ONGOING"].to_list()
    cause = patients["DTHCAUSE"].fill_null("").to_list()
    fatal = [g == "TC" and c in FATAL_AE_CAUSES for g, c in zip(group, cause, strict=True)]
    for i in [i for i, f in enumerate(fatal) if f and cats[i] in REDUCED]:
        partners = [
            j
            for j in range(len(cats))
            if not fatal[j]
            and group[j] == group[i]
            and ongoing[j] == ongoing[i]
            and cats[j] not in REDUCED
            and START_DOSE[cats[j]] == START_DOSE[cats[i]]
        ]
        j = partners[int(rng.integers(len(partners)))]
        cats[i], cats[j] = cats[j], cats[i]


@dataclass
class PatientDoses:
    """One patient's lenalidomide course: planned dosing days, holds and reductions.

    ``reductions`` are indices into the days actually dosed (after holds); from
    each one on, the dose is one rung lower on the protocol's ladder. Dates are
    kept as day numbers from the first dose (numpy), so a course is cheap to
    summarise many times.
    """

    usubjid: str
    start: dt.date
    end: dt.date  # last dose, or the cutoff when ongoing
    start_dose: float
    planned_days: npt.NDArray[np.int64]  # day offsets from ``start``
    planned_cycles: npt.NDArray[np.int64]
    ladder: tuple[float, ...]
    held: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    hold_starts: list[int] = field(default_factory=list)
    reductions: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.held.size != self.planned_days.size:
            self.held = np.zeros(self.planned_days.size, dtype=bool)

    @property
    def days(self) -> npt.NDArray[np.int64]:
        return self.planned_days[~self.held]

    @property
    def dates(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=int(d)) for d in self.days]

    @property
    def cycles(self) -> list[int]:
        return [int(c) for c in self.planned_cycles[~self.held]]

    @property
    def n_dosed(self) -> int:
        return int((~self.held).sum())

    def doses(self) -> npt.NDArray[np.float64]:
        n = self.n_dosed
        level = np.full(n, self.start_dose)
        for index in sorted(self.reductions):
            rung = self.ladder.index(float(level[index]))
            lower = self.ladder[min(rung + 1, len(self.ladder) - 1)]
            level[index:] = lower
        return level

    @property
    def duration(self) -> int:
        return (self.end - self.start).days + 1

    def cumulative(self) -> float:
        return float(self.doses().sum())

    def intensity(self) -> float:
        return self.cumulative() / self.duration

    def average(self) -> float:
        return self.cumulative() / self.n_dosed

    def modifications(self) -> list[tuple[str, dt.date, dt.date | None]]:
        """(action, date, last dose before it): a reduction's date is the first day
        at the lower dose; the AE that caused it began on or after the dose before."""
        days = self.days
        out: list[tuple[str, dt.date, dt.date | None]] = [
            ("DRUG INTERRUPTED", self.start + dt.timedelta(days=d), None) for d in self.hold_starts
        ]
        out += [
            (
                "DOSE REDUCED",
                self.start + dt.timedelta(days=int(days[i])),
                self.start + dt.timedelta(days=int(days[max(i - 1, 0)])),
            )
            for i in sorted(self.reductions)
        ]
        return sorted(out, key=lambda m: m[1])

    def hold(self, n_days: int, events: int, rng: np.random.Generator, earliest: int = 7) -> None:
        """Hold ``n_days`` planned dosing days in up to ``events`` runs (not first or last day)."""
        total = self.planned_days.size
        n_days = min(n_days, total - 3)
        if n_days <= 0:
            return
        events = max(1, min(events, n_days))
        sizes = rng.multinomial(n_days - events, [1.0 / events] * events) + 1
        for size in sorted(sizes.tolist(), reverse=True):
            # A run may start at i when days i-1 .. i+size are all still dosed.
            held = self.held.astype(np.int64)
            busy = np.convolve(held, np.ones(size + 2, dtype=np.int64), "full")
            starts = np.arange(1, total - size - 1)
            clear = busy[starts + size] == 0
            late = self.planned_days[starts] >= earliest
            free = starts[clear & late]
            if free.size == 0:
                inner = np.convolve(held, np.ones(size, dtype=np.int64), "full")
                free = starts[inner[starts + size - 1] == 0]
            first = int(rng.choice(free))
            self.held[first : first + size] = True
            self.hold_starts.append(int(self.planned_days[first]))


def cycle_starts(
    start: dt.date, end: dt.date, ongoing: bool, frequency: Frequency
) -> list[dt.date]:
    """Cycle day-1 dates every 28 days; when Rd stopped on a rest day, the last cycle started late.

    The delay (at most 7 days, or 8 for every-other-day dosing) puts the last dose
    on a lenalidomide dosing day.
    """
    starts = [start]
    while starts[-1] + 28 * DAY <= end:
        starts.append(starts[-1] + 28 * DAY)
    if not ongoing and len(starts) > 1:
        offset = (end - starts[-1]).days
        delay = max(0, offset - 20)
        if frequency is Frequency.EVERY_OTHER_DAY and (offset - delay) % 2:
            delay += 1
        starts[-1] += delay * DAY
    return starts


def planned(
    protocol: Protocol, patients: pl.DataFrame, cats: list[str]
) -> tuple[pl.DataFrame, list[list[dt.date]]]:
    """Planned administrations of every cycle of every patient, from the protocol calendar."""
    rows: list[tuple[str, dt.date, int, float, str]] = []
    starts_all: list[list[dt.date]] = []
    for usubjid, start, end, ongoing, cat in zip(
        patients["USUBJID"],
        patients["TRTSDT"],
        patients["TRTEND"],
        patients["ONGOING"],
        cats,
        strict=True,
    ):
        freq = Frequency.EVERY_OTHER_DAY if cat == "E" else Frequency.DAILY
        starts = cycle_starts(start, end, ongoing, freq)
        starts_all.append(starts)
        for k, s in enumerate(starts, start=1):
            rows.append((f"{usubjid}#{k}", s, 1, START_DOSE[cat], freq.value))
    plans = pl.DataFrame(
        rows,
        schema={
            "USUBJID": pl.String,
            "START": pl.Date,
            "CYCLES": pl.Int32,
            "LENALIDOMIDE_DOSE": pl.Float64,
            "FREQUENCY": pl.String,
        },
        orient="row",
    )
    adm = planned_administrations(protocol, plans)
    key = (
        adm["USUBJID"]
        .str.split_exact("#", 1)
        .struct.rename_fields(["USUBJID", "CYCLE"])
        .struct.unnest()
    )
    adm = adm.drop("USUBJID", "CYCLE").with_columns(key["USUBJID"], key["CYCLE"].cast(pl.Int32))
    ends = patients.select("USUBJID", "TRTEND")
    adm = adm.join(ends, on="USUBJID").filter(pl.col("DATE") <= pl.col("TRTEND")).drop("TRTEND")
    return adm, starts_all


def build_courses(
    protocol: Protocol, patients: pl.DataFrame, cats: list[str]
) -> tuple[list[PatientDoses], pl.DataFrame]:
    """Planned lenalidomide days of every patient and all planned administrations."""
    adm, _ = planned(protocol, patients, cats)
    lenalidomide = protocol.regimen.lenalidomide.name
    len_adm = adm.filter(pl.col("EXTRT") == lenalidomide).sort("USUBJID", "DATE")
    starts = patients.select("USUBJID", pl.col("TRTSDT").alias("_S"))
    len_adm = len_adm.join(starts, on="USUBJID").with_columns(
        (pl.col("DATE") - pl.col("_S")).dt.total_days().alias("_DAY")
    )
    by_subject = {
        str(k[0]): (g["_DAY"].to_numpy(), g["CYCLE"].to_numpy().astype(np.int64))
        for k, g in len_adm.group_by("USUBJID", maintain_order=True)
    }
    ladder = tuple(float(x) for x in protocol.dose_reduction.ladder)
    courses = []
    for usubjid, start, end, cat in zip(
        patients["USUBJID"], patients["TRTSDT"], patients["TRTEND"], cats, strict=True
    ):
        days, cycles = by_subject[usubjid]
        courses.append(PatientDoses(usubjid, start, end, START_DOSE[cat], days, cycles, ladder))
    return courses, adm


def _hold_to_intensity(p: PatientDoses, target: float, rng: np.random.Generator) -> None:
    """Hold enough days that the dose intensity is just at or below ``target``."""
    n = p.planned_days.size
    keep = int(np.floor(target * p.duration / p.start_dose))
    p.hold(n - keep, int(rng.integers(1, 4)), rng)


def _reductions_for_average(p: PatientDoses, target: float, rng: np.random.Generator) -> None:
    """25 -> 20 at dosing day i1 and 20 -> 15 at i2 so that the average daily dose is ``target``.

    With n days dosed, ADD = (25 i1 + 20 (i2 - i1) + 15 (n - i2)) / n = 15 + 5 (i1 + i2) / n.
    """
    n = p.n_dosed
    first = int(np.argmax(p.days >= 7))
    total = round((target - 15.0) * n / 5.0)
    i1 = max(first, min(n - 3, int(total * rng.uniform(0.2, 0.45))))
    i2 = min(n - 2, max(i1 + 1, total - i1))
    p.reductions = [i1, i2]


def build_exposure(
    protocol: Protocol, patients: pl.DataFrame, scale: int, rng: np.random.Generator
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """EX records, modification events and a per-patient summary (EXCAT, MODCAT, ...).

    ``patients`` needs USUBJID, GROUP, ONGOING, TRTSDT and TRTEND (last dose, or
    the cutoff when ongoing).
    """
    cats = exposure_categories(patients, scale, rng)
    _spare_fatal_from_reduction(patients, cats, rng)
    durations = ((patients["TRTEND"] - patients["TRTSDT"]).dt.total_days() + 1).to_list()
    groups = patients["GROUP"].to_list()
    # The 6.3 mg patient needs enough dosing days for a 0.1 mg resolution.
    d_rows = [i for i, c in enumerate(cats) if c == "D"]
    for i in d_rows:
        if durations[i] < 200:
            swap = [
                j
                for j, c in enumerate(cats)
                if groups[j] == "SFU"
                and c in ("A0", "AI", "BB", "C0", "CI")
                and durations[j] >= 200
            ]
            j = swap[int(rng.integers(len(swap)))]
            cats[i], cats[j] = cats[j], cats[i]
    courses, adm = build_courses(protocol, patients, cats)

    # Dose intensity classes of the interrupted full-dose patients (see module docstring).
    ai = [i for i, c in enumerate(cats) if c == "AI"]
    long_ai = [i for i in ai if durations[i] >= 300]
    pinned = set(rng.choice(long_ai, size=2 * scale, replace=False).tolist())
    rest = rng.permutation([i for i in ai if i not in pinned])
    below = set(rest[: 9 * scale].tolist())
    for i, c in enumerate(cats):
        p = courses[i]
        if c == "AI":
            if i in pinned:
                target = DI_MEDIAN + 0.02
            elif i in below:
                target = rng.uniform(15.5, 17.8)
            else:
                target = max(rng.uniform(18.1, 18.7), 0.0)
            _hold_to_intensity(p, target, rng)
            if i not in below and i not in pinned and p.intensity() <= DI_MEDIAN + 0.05:
                p.held = np.zeros(p.planned_days.size, dtype=bool)
                p.hold_starts = []
                p.hold(1, 1, rng)
        elif c in ("CI",):
            p.hold(
                int(p.planned_days.size * rng.uniform(0.03, 0.15)) + 1,
                int(rng.integers(1, 3)),
                rng,
            )
        elif c == "BB":
            p.hold(
                int(p.planned_days.size * rng.uniform(0.02, 0.08)) + 1,
                int(rng.integers(1, 3)),
                rng,
            )
        elif c == "D":
            p.hold(int(p.planned_days.size * 0.05) + 1, 1, rng)
            n = p.n_dosed
            p.reductions = [round(0.26 * n)]
    # Reduced patients: average daily doses that bring the population mean to 21.7 mg.
    fixed = sum(courses[i].average() for i, c in enumerate(cats) if c not in ("BR", "BB"))
    b_rows = [i for i, c in enumerate(cats) if c in ("BR", "BB")]
    need = ADD_MEAN * len(cats) - fixed
    targets = rng.uniform(16.0, 22.5, len(b_rows))
    targets *= need / targets.sum()
    for i, t in zip(b_rows, targets, strict=True):
        p = courses[i]
        cap = 17.5 * p.duration / p.n_dosed  # keeps the dose intensity below the median
        _reductions_for_average(p, float(min(t, cap, 24.0)), rng)
    _settle_mean(courses, b_rows, ADD_MEAN * len(cats))
    ex = ex_records(protocol, patients, courses, adm)
    mods = pl.DataFrame(
        [(p.usubjid, *m) for p in courses for m in p.modifications()],
        schema={"USUBJID": pl.String, "ACTION": pl.String, "DATE": pl.Date, "PREVDOSE": pl.Date},
        orient="row",
    )
    summary = pl.DataFrame(
        {
            "USUBJID": [p.usubjid for p in courses],
            "EXCAT": cats,
            "MODCAT": [MODCAT[c] for c in cats],
            "CUMDOSE": [p.cumulative() for p in courses],
            "DOSEDAYS": [p.n_dosed for p in courses],
            "TRTDURD": [p.duration for p in courses],
            "LASTDOSE": [float(p.doses()[-1]) for p in courses],
            "LASTDOSDT": [p.start + dt.timedelta(days=int(p.days[-1])) for p in courses],
        }
    )
    return ex, mods, summary


def _settle_mean(courses: list[PatientDoses], b_rows: list[int], target_sum: float) -> None:
    """Move the second reduction of the longest reduced courses until the mean is on target."""
    total = sum(p.average() for p in courses)
    for i in sorted(b_rows, key=lambda i: -courses[i].n_dosed):
        residual = target_sum - total
        if abs(residual) < 0.01:
            return
        p = courses[i]
        before = p.average()
        n = p.n_dosed
        i1, i2 = p.reductions
        # Each dosing day the 20 -> 15 step moves changes the average by 5 / n.
        p.reductions = [i1, int(np.clip(i2 + round(residual * n / 5.0), i1 + 1, n - 2))]
        total += p.average() - before


def repeat_rows(frame: pl.DataFrame, counts: list[int] | np.ndarray) -> pl.DataFrame:
    """Each row of ``frame`` repeated its count of times, in order.

    Polars gathers the rows, so a million-row text column never passes through
    NumPy's fixed-width unicode arrays, whose cost per row grows with the array.

    >>> repeat_rows(pl.DataFrame({"USUBJID": ["A", "B"]}), [2, 1])["USUBJID"].to_list()
    ['A', 'A', 'B']
    """
    return frame[np.repeat(np.arange(frame.height, dtype=np.uint32), counts)]


def ex_records(
    protocol: Protocol, patients: pl.DataFrame, courses: list[PatientDoses], adm: pl.DataFrame
) -> pl.DataFrame:
    """SDTM EX rows: lenalidomide runs of consecutive days at one dose; dexamethasone weekly.

    A run ends where the next dosing day is not the next scheduled one (a hold),
    at a cycle boundary or at a dose change.
    """
    lenalidomide = protocol.regimen.lenalidomide.name
    lengths = [p.n_dosed for p in courses]
    per_patient = pl.DataFrame(
        {
            "USUBJID": pl.Series([p.usubjid for p in courses], dtype=pl.String),
            "START": np.asarray([p.start for p in courses], dtype="datetime64[D]"),
            "FULL": np.asarray([p.start_dose for p in courses], dtype=np.float64),
            "STEP": np.asarray(
                [
                    int(p.planned_days[1] - p.planned_days[0]) if p.planned_days.size > 1 else 1
                    for p in courses
                ],
                dtype=np.int64,
            ),
        }
    )
    days = repeat_rows(per_patient, lengths).with_columns(
        pl.Series("DAY", np.concatenate([p.days for p in courses])),
        pl.Series(
            "CYCLE",
            np.concatenate([p.planned_cycles[~p.held] for p in courses]).astype(np.int32),
        ),
        pl.Series("EXDOSE", np.concatenate([p.doses() for p in courses])),
    )
    new_run = (
        (pl.col("USUBJID") != pl.col("USUBJID").shift(1))
        | (pl.col("DAY") - pl.col("DAY").shift(1) != pl.col("STEP"))
        | (pl.col("CYCLE") != pl.col("CYCLE").shift(1))
        | (pl.col("EXDOSE") != pl.col("EXDOSE").shift(1))
    ).fill_null(True)
    # Days run patient after patient, in order: a run is the rows from one first row
    # to the row before the next, so its first and last rows are found by position
    # (no grouping, linear in the days).
    flagged = days.with_columns(new_run.alias("FIRST")).with_columns(
        pl.col("FIRST").shift(-1, fill_value=True).alias("LAST")
    )
    firsts = flagged.filter("FIRST").select(
        "USUBJID", "START", pl.col("DAY").alias("FIRSTDAY"), "CYCLE", "EXDOSE", "FULL", "STEP"
    )
    lasts = flagged.filter("LAST").select(pl.col("DAY").alias("LASTDAY"))
    len_ex = pl.concat([firsts, lasts], how="horizontal").select(
        "USUBJID",
        pl.lit(lenalidomide).alias("EXTRT"),
        "EXDOSE",
        pl.when(pl.col("STEP") == 2).then(pl.lit("QOD")).otherwise(pl.lit("QD")).alias("EXDOSFRQ"),
        (pl.col("START") + pl.duration(days=pl.col("FIRSTDAY"))).cast(pl.Date).alias("EXSTDT"),
        (pl.col("START") + pl.duration(days=pl.col("LASTDAY"))).cast(pl.Date).alias("EXENDT"),
        "CYCLE",
        pl.when(pl.col("EXDOSE") < pl.col("FULL"))
        .then(pl.lit("ADVERSE EVENT"))
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias("EXADJ"),
    )
    dex = (
        adm.filter(pl.col("EXTRT") != lenalidomide)
        .group_by("USUBJID", "CYCLE", "EXTRT")
        .agg(
            pl.col("EXDOSE").first(),
            pl.col("DATE").min().alias("EXSTDT"),
            pl.col("DATE").max().alias("EXENDT"),
            pl.len().alias("N"),
        )
        .with_columns(
            pl.when(pl.col("N") == 1)
            .then(pl.lit("ONCE"))
            .otherwise(pl.lit("QW"))
            .alias("EXDOSFRQ"),
            pl.lit(None, dtype=pl.String).alias("EXADJ"),
        )
        .select(len_ex.columns)
    )
    return pl.concat([len_ex, dex]).sort("USUBJID", "EXSTDT", "EXTRT")

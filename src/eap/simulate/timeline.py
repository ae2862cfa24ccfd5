"""Calendar dates of each patient's course: Rd start and stop, EAP entry, progression,
response, death and last contact, and the assessment and follow-up visit dates.

All rules are stated here once; docs/virtual-cohort.md repeats them in prose.

* Rd start (TRTSDT) lies in MM-021's dosing period, 2010-09-27 to 2011-11-30.
  Patients on Rd at the cutoff started on cutoff - duration + 1 (duration
  counted to the cutoff). Treatment-cohort patients who stopped were still on
  Rd at EAP entry; safety-follow-up patients stopped at least 30 days before
  the EAP opened (2012-09-01).
* EAP entry (informed consent, EAPDT): treatment cohort on or after both
  2012-09-01 and the first anniversary of Rd; safety follow-up within 180 days
  of 2012-09-01.
* Progression, response and death days count from TRTSDT as day 1, so that an
  event on day d gives AVAL = d days (ADT - STARTDT + 1).
* Response assessments (IMWG) every 28 days from day 29, plus one on the day of
  first response and one on the day of progression or censoring.
* End of treatment (EOTDT, the DS disposition): the end-of-treatment visit 1-7
  days after the last dose, so on or after the progression assessment of a stop
  for progression (the day after the last dose); a stop for death on the day of
  death. Treatment-cohort patients who stopped enter the Safety Follow-Up Phase
  the day after it; the patient lost to follow-up was lost there (LOSTDT =
  EOTDT) and has no later visit.
* Survival follow-up visits every 4 months +/- 7 days from entry into the
  Safety Follow-Up Phase, until death or the cutoff; targets come from the
  protocol (eap.protocol.schedule.target_dates).
* Follow-up runs from MM-021 enrollment to death, to the data cutoff for
  patients alive and in follow-up, or to the last contact for a patient lost
  to follow-up (FUENDDT). MM-021 enrollment (ENRLDT) is 0-42 days before
  TRTSDT, chosen so that the median follow-up is exactly the published one
  (43.3 months in the treatment cohort, 38.4 in the safety population).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt
import polars as pl

from eap.protocol import Protocol, treatment_eligible_from
from eap.protocol.schedule import target_dates
from eap.simulate.course import (
    CUTOFF,
    EAP_START,
    MM021_FIRST_DOSE,
    MM021_LAST_DOSE,
    MONTH_DAYS,
)
from eap.simulate.exact import pin_median

ONGOING = ("ongoing_pf", "ongoing_pd")
DAY = dt.timedelta(days=1)

TC_DEATH_CAUSES_TREATMENT = ("cerebral infarction", "not specified")
TC_DEATH_CAUSES_AFTER = ("lung infection", "plasmacytic leukemia", "multiple myeloma")
SFU_DEATH_CAUSES = (
    ["multiple myeloma"] * 8
    + ["disease progression"] * 5
    + ["lung infection"] * 3
    + [
        "cardiac failure",
        "renal failure",
        "septic shock",
        "respiratory failure",
        "gastrointestinal hemorrhage",
        "cerebral hemorrhage",
        "pulmonary embolism",
        "sepsis",
        "unknown",
    ]
)
EOT_VISIT_DAYS = (1, 7)  # last dose to the end-of-treatment visit
ENROLLMENT_WINDOW_DAYS = 42  # MM-021 enrollment to first Rd dose: at most 6 weeks
FOLLOW_UP_MEDIAN_DAYS = {"TC": round(43.3 * MONTH_DAYS), "SAFETY": round(38.4 * MONTH_DAYS)}


def _uniform_date(rng: np.random.Generator, lo: dt.date, hi: dt.date) -> dt.date:
    if hi <= lo:
        return lo
    return lo + dt.timedelta(days=int(rng.integers(0, (hi - lo).days + 1)))


def dates(
    courses: pl.DataFrame,
    protocol: Protocol,
    rng: np.random.Generator,
    scale: int,
    spread_rng: np.random.Generator | None = None,
) -> pl.DataFrame:
    """Add the calendar columns to ``courses`` (one row per patient, GROUP/COURSE/days).

    ``spread_rng`` draws the days from the last dose to the end-of-treatment visit
    (None: ``rng``).
    """
    n = courses.height
    spread_rng = rng if spread_rng is None else spread_rng
    group = courses["GROUP"].to_list()
    course = courses["COURSE"].to_list()
    dur = courses["DUR_DAYS"].to_list()
    pd_day = courses["PD_DAY"].to_list()
    resp_day = courses["RESP_DAY"].to_list()
    # Safety-follow-up patients who die are mostly those with longer Rd (who
    # started earlier); survivors mostly started late in MM-021. Without this the
    # safety population's median follow-up could not be as short as 38.4 months.
    sfu_rows = np.flatnonzero(np.asarray(group) == "SFU")
    rank = np.asarray(dur)[sfu_rows] + rng.uniform(-120, 120, len(sfu_rows))
    sfu_dead = set(sfu_rows[np.argsort(-rank)][: 25 * scale].tolist())

    trtsdt: list[dt.date] = []
    trtedt: list[dt.date] = []
    eapdt: list[dt.date] = []
    for i in range(n):
        if course[i] in ONGOING:
            start = CUTOFF - (dur[i] - 1) * DAY
            stop = CUTOFF
        elif group[i] == "TC":
            lo = max(MM021_FIRST_DOSE, EAP_START - (dur[i] - 15) * DAY)
            # They were still on Rd when the EAP opened; with the cohort's median
            # follow-up of 43.3 months most stopped within weeks of EAP entry.
            span = max(0, min((MM021_LAST_DOSE - lo).days, 45))
            start = lo + int(rng.integers(0, span + 1)) * DAY
            stop = start + (dur[i] - 1) * DAY
        else:
            hi = min(MM021_LAST_DOSE, EAP_START - (dur[i] + 30) * DAY)
            lo = MM021_FIRST_DOSE if i in sfu_dead else max(MM021_FIRST_DOSE, hi - 60 * DAY)
            start = _uniform_date(rng, lo, hi)
            stop = start + (dur[i] - 1) * DAY
        trtsdt.append(start)
        trtedt.append(stop)
        if group[i] == "TC":
            # The protocol's rule: eligible from the anniversary of the Rd start (a
            # calendar year, 366 days across 29 February).
            first = max(EAP_START, treatment_eligible_from(protocol, start))
            last = max(first, min(stop - 14 * DAY, EAP_START + 120 * DAY))
            eapdt.append(_uniform_date(rng, first, last))
        else:
            eapdt.append(_uniform_date(rng, EAP_START, EAP_START + 180 * DAY))

    pddt = [None if pd_day[i] is None else trtsdt[i] + (pd_day[i] - 1) * DAY for i in range(n)]
    end_of_assessment: list[dt.date] = [
        p if p is not None else (CUTOFF if c in ONGOING else stop)
        for p, c, stop in zip(pddt, course, trtedt, strict=True)
    ]
    # A response is recorded at least two weeks before progression or censoring.
    respdt = [
        None
        if resp_day[i] is None
        else min(trtsdt[i] + (resp_day[i] - 1) * DAY, end_of_assessment[i] - 14 * DAY)
        for i in range(n)
    ]
    dthdt, cause = _tc_deaths(course, trtsdt, trtedt, pddt, rng, scale)
    eotdt = end_of_treatment(course, trtedt, dthdt, spread_rng)
    sfudt = [
        None
        if course[i] in ONGOING or course[i] in ("death_treatment", "lost")
        else (eapdt[i] if group[i] == "SFU" else eotdt[i] + DAY)  # type: ignore[operator]
        for i in range(n)
    ]
    # A patient lost to follow-up was lost at the end of treatment: the stop reason
    # is the loss, and nothing is known of the patient after it.
    lost_at = [eot if c == "lost" else None for c, eot in zip(course, eotdt, strict=True)]
    enrl_offset = _place_follow_up(group, trtsdt, eapdt, dthdt, lost_at, sfu_dead, rng)
    causes = rng.permutation(np.repeat(np.asarray(SFU_DEATH_CAUSES, dtype=object), scale))
    for i, what in zip(sorted(sfu_dead), causes, strict=True):
        cause[i] = str(what)
    frame = courses.with_columns(
        pl.Series("TRTSDT", trtsdt, dtype=pl.Date),
        pl.Series("TRTEDT", trtedt, dtype=pl.Date),
        pl.Series("EOTDT", eotdt, dtype=pl.Date),
        pl.Series("ONGOING", [c in ONGOING for c in course]),
        pl.Series("EAPDT", eapdt, dtype=pl.Date),
        pl.Series("SFUDT", sfudt, dtype=pl.Date),
        pl.Series("PDDT", pddt, dtype=pl.Date),
        pl.Series("RESPDT", respdt, dtype=pl.Date),
        pl.Series("ASSESSEND", end_of_assessment, dtype=pl.Date),
        pl.Series("DTHDT", dthdt, dtype=pl.Date),
        pl.Series("DTHCAUSE", cause, dtype=pl.String),
        pl.Series("LOSTDT", lost_at, dtype=pl.Date),
        pl.Series(
            "ENRLDT", [trtsdt[i] - int(enrl_offset[i]) * DAY for i in range(n)], dtype=pl.Date
        ),
    )
    visits = follow_up_visits(frame, protocol, rng)
    return last_contact(frame, visits)


def last_contact(frame: pl.DataFrame, visits: pl.DataFrame) -> pl.DataFrame:
    """LSTCNTDT, LSTALVDT and FUENDDT of each patient from the course and the visits.

    The last contact is the death, for a patient on Rd at the cutoff the start of the
    current cycle, otherwise the latest of the last follow-up visit, the end of
    treatment and the last dose. Follow-up ends at death, at loss to follow-up or at
    the cutoff.
    """
    last_visit = visits.group_by("ROW").agg(pl.col("SVSTDT").max().alias("LASTFU"))
    frame = (
        frame.with_row_index("ROW")
        .join(last_visit, on="ROW", how="left")
        .sort("ROW")
        .with_columns(
            pl.when(pl.col("DTHDT").is_not_null())
            .then(pl.col("DTHDT"))
            .when(pl.col("ONGOING"))
            # On Rd at the cutoff: last seen at the start of the current cycle.
            .then(
                pl.lit(CUTOFF)
                - pl.duration(days=(pl.lit(CUTOFF) - pl.col("TRTSDT")).dt.total_days() % 28)
            )
            .otherwise(pl.max_horizontal("LASTFU", "EOTDT", "TRTEDT"))
            .alias("LSTCNTDT")
        )
        .with_columns(
            pl.when(pl.col("DTHDT").is_null())
            .then(pl.col("LSTCNTDT"))
            .otherwise(pl.col("DTHDT") - pl.duration(days=1))
            .alias("LSTALVDT"),
            pl.coalesce("DTHDT", "LOSTDT", pl.lit(CUTOFF)).alias("FUENDDT"),
        )
    )
    return frame.drop("LASTFU", "ROW")


def end_of_treatment(
    course: list[str],
    trtedt: list[dt.date],
    dthdt: list[dt.date | None],
    rng: np.random.Generator,
) -> list[dt.date | None]:
    """The date of the end-of-treatment disposition of each patient who stopped Rd.

    A stop for death is recorded on the day of death (on or after the fatal event
    began). Every other stop is recorded at the end-of-treatment visit 1 to 7 days
    after the last dose (never after the cutoff): on or after the assessment that
    documented a progression, which is the day after the last dose.
    """
    spread = rng.integers(EOT_VISIT_DAYS[0], EOT_VISIT_DAYS[1] + 1, len(course))
    out: list[dt.date | None] = []
    for c, stop, death, k in zip(course, trtedt, dthdt, spread.tolist(), strict=True):
        if c in ONGOING:
            out.append(None)
        elif c == "death_treatment" and death is not None:
            out.append(death)
        else:
            out.append(min(CUTOFF, stop + int(k) * DAY))
    return out


def _tc_deaths(
    course: list[str],
    trtsdt: list[dt.date],
    trtedt: list[dt.date],
    pddt: list[dt.date | None],
    rng: np.random.Generator,
    scale: int,
) -> tuple[list[dt.date | None], list[str | None]]:
    """The treatment cohort's 5 deaths per 41: 2 in the Treatment Phase, 3 after it."""
    n = len(course)
    dthdt: list[dt.date | None] = [None] * n
    cause: list[str | None] = [None] * n
    treatment_deaths = [i for i in range(n) if course[i] == "death_treatment"]
    for k, i in enumerate(treatment_deaths):
        dthdt[i] = trtedt[i] + 6 * DAY
        cause[i] = TC_DEATH_CAUSES_TREATMENT[k % 2]
    documented = [
        i for i in range(n) if course[i] == "disc_pd_documented" and trtedt[i] < CUTOFF - 120 * DAY
    ]
    chosen = rng.choice(documented, size=3 * scale, replace=False)
    for k, i in enumerate(chosen):
        what = TC_DEATH_CAUSES_AFTER[k % 3]
        cause[i] = what
        if what == "lung infection":
            # Died of a treatment-emergent lung infection after stopping Rd for progression,
            # after the end-of-treatment visit and the entry into safety follow-up.
            dthdt[i] = trtedt[i] + int(rng.integers(EOT_VISIT_DAYS[1] + 2, 26)) * DAY
        else:
            base = pddt[i] or trtedt[i]
            lo = max(base + 90 * DAY, CUTOFF - 400 * DAY)
            hi = min(CUTOFF - 10 * DAY, trtsdt[i] + 1200 * DAY)  # within 39.4 months of Rd start
            dthdt[i] = _uniform_date(rng, min(lo, hi), hi)
    return dthdt, cause


def _place_follow_up(
    group: list[str],
    trtsdt: list[dt.date],
    eapdt: list[dt.date],
    dthdt: list[dt.date | None],
    lost_at: list[dt.date | None],
    sfu_dead: set[int],
    rng: np.random.Generator,
) -> npt.NDArray[np.int64]:
    """Enrollment offsets (and safety-follow-up death dates) giving both follow-up medians.

    Treatment cohort: enrollment 0-42 days before Rd start places its median.
    Safety population: with the treatment cohort fixed, survivors' enrollment
    offsets and the death dates of those who die (30 days after EAP consent
    to 10 days before the cutoff) place its median. Deaths are written into
    ``dthdt``.
    """
    n = len(group)
    tc = np.asarray([g == "TC" for g in group])
    ends = [dthdt[i] or lost_at[i] or CUTOFF for i in range(n)]
    base = np.asarray([(ends[i] - trtsdt[i]).days + 1 for i in range(n)], dtype=np.int64)
    offset = np.zeros(n, dtype=np.int64)
    window = np.full(n, ENROLLMENT_WINDOW_DAYS, dtype=np.int64)
    offset[tc] = pin_median(base[tc], window[tc], FOLLOW_UP_MEDIAN_DAYS["TC"], rng)
    dead = np.asarray([i in sfu_dead for i in range(n)])
    dead_rows = np.flatnonzero(dead)
    offset[dead] = rng.integers(0, ENROLLMENT_WINDOW_DAYS + 1, len(dead_rows))
    earliest = {int(i): eapdt[i] + 30 * DAY for i in dead_rows}
    latest = CUTOFF - 10 * DAY
    base_all = base + offset
    for i in dead_rows:
        base_all[i] = (earliest[int(i)] - trtsdt[i]).days + 1 + offset[i]
    slack = np.where(tc, 0, ENROLLMENT_WINDOW_DAYS).astype(np.int64)
    for i in dead_rows:
        # Every death within 39.4 months of Rd start (see _tc_deaths).
        last = min(latest, trtsdt[i] + 1200 * DAY)
        slack[i] = max(0, (last - earliest[int(i)]).days)
    # Deaths are kept on the early side where possible: late deaths, when few
    # patients remain at risk, would pull the overall-survival curve below 0.5.
    shift = pin_median(base_all, slack, FOLLOW_UP_MEDIAN_DAYS["SAFETY"], rng, prefer_below=dead)
    for i in dead_rows:
        dthdt[i] = earliest[int(i)] + int(shift[i]) * DAY
    alive_sfu = ~tc & ~dead
    offset[alive_sfu] = shift[alive_sfu]
    return offset


def follow_up_visits(
    frame: pl.DataFrame, protocol: Protocol, rng: np.random.Generator
) -> pl.DataFrame:
    """Survival follow-up visits: ROW, VISITNUM (1..), target date and actual date SVSTDT."""
    rows: list[tuple[int, int, dt.date, dt.date]] = []
    for row, (sfudt, dthdt) in enumerate(zip(frame["SFUDT"], frame["DTHDT"], strict=True)):
        if sfudt is None:
            continue
        end = min(CUTOFF, dthdt - DAY) if dthdt is not None else CUTOFF
        for k, target in enumerate(target_dates(protocol, sfudt, end + 7 * DAY), start=1):
            actual = target + int(rng.integers(-7, 8)) * DAY
            if actual <= end:
                rows.append((row, k, target, actual))
    return pl.DataFrame(
        rows,
        schema={"ROW": pl.UInt32, "VISITNUM": pl.Int64, "TARGET": pl.Date, "SVSTDT": pl.Date},
        orient="row",
    )

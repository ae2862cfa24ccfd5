"""Each virtual patient's clinical course: dates of Rd, progression, response, death, follow-up.

Time-to-event targets (Table 4) are met by *archetypes*: 80 calibrated patient
courses (``src/eap/data/mm024_archetypes.csv``), each a course type with its Rd
duration, documented-progression time and response onset in months from the
first Rd dose. A cohort of scale K has K patients per archetype, every
non-anchor time jittered by up to +/- 0.1 month; anchors (the published
minima, maxima and medians of Rd duration) are kept exactly.

Course types:

======================  ===================================================================
TC ongoing_pf           on Rd at cutoff, never progressed
TC ongoing_pd           on Rd at cutoff; IMWG progression documented while Rd continued
TC disc_pd_documented   stopped Rd for progression documented by IMWG criteria
TC disc_pd_clinical     stopped Rd for investigator-judged progression not meeting IMWG
                        criteria: no PFS event, censored at the last adequate assessment
TC disc_pd_late         stopped Rd for documented progression after 108 weeks
TC death_treatment      died during the Treatment Phase (discontinuation reason: death)
TC lost                 lost to follow-up
SFU pd                  stopped Rd in MM-021 at documented progression
SFU pd_continued        progression documented, Rd continued a while, then stopped
SFU other               stopped Rd in MM-021 without progression (withdrawal, physician)
======================  ===================================================================

Why "progression while Rd continued": the paper's treatment-cohort Rd duration
(median 23.3 months, 23 of 26 stops for progression, 18 of 41 beyond 108 weeks)
and its median PFS of 36.0 months cannot both hold if every progression ended
Rd; they hold when some progressions documented by IMWG criteria did not stop
treatment at once (see docs/virtual-cohort.md).
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from importlib import resources

import numpy as np
import numpy.typing as npt
import polars as pl

from eap.plans.study import load_study

# The MM-024 study's month (365.25 / 12 days: the publication prints 108 weeks as 24.8 months).
MONTH_DAYS = load_study("mm024").month_days
CUTOFF = dt.date(2014, 11, 5)
EAP_START = dt.date(2012, 9, 1)
MM021_FIRST_DOSE = dt.date(2010, 9, 27)
MM021_LAST_DOSE = dt.date(2011, 11, 30)
JITTER_MONTHS = 0.1

COURSES = (
    "ongoing_pf",
    "ongoing_pd",
    "disc_pd_documented",
    "disc_pd_clinical",
    "disc_pd_late",
    "death_treatment",
    "lost",
    "pd",
    "pd_continued",
    "other",
)


@cache
def archetypes() -> pl.DataFrame:
    """The calibrated archetype courses (80 rows: 41 TC, 39 SFU)."""
    path = resources.files("eap.data").joinpath("mm024_archetypes.csv")
    with resources.as_file(path) as p:
        return pl.read_csv(
            p,
            schema={
                "GROUP": pl.String,
                "COURSE": pl.String,
                "DUR_M": pl.Float64,
                "PD_M": pl.Float64,
                "RESP_M": pl.Float64,
                "ANCHOR": pl.Boolean,
            },
        )


def months_to_days(months: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    return np.rint(np.nan_to_num(months, nan=-1.0) * MONTH_DAYS).astype(np.int64)


def draw_courses(scale: int, rng: np.random.Generator) -> pl.DataFrame:
    """K jittered copies of every archetype, durations and times in whole days."""
    arch = archetypes()
    rep = arch.select(pl.all().repeat_by(scale).explode())
    n = rep.height
    anchor = rep["ANCHOR"].to_numpy()
    jitter = np.where(anchor, 0.0, rng.uniform(-JITTER_MONTHS, JITTER_MONTHS, n))
    dur = rep["DUR_M"].to_numpy() + jitter
    pd_m = rep["PD_M"].to_numpy() + np.where(
        anchor, 0.0, rng.uniform(-JITTER_MONTHS, JITTER_MONTHS, n)
    )
    resp = rep["RESP_M"].to_numpy() + rng.uniform(-JITTER_MONTHS, JITTER_MONTHS, n)
    dur_days = months_to_days(dur)
    dur_days = _keep_order_statistics(rep, dur_days)
    pd_days = months_to_days(pd_m)
    # Documented progression never after the end of Rd for those who stopped at it.
    stop_at_pd = rep["COURSE"].is_in(["disc_pd_documented", "disc_pd_late", "pd"]).to_numpy()
    pd_days = np.where(stop_at_pd, dur_days + 1, pd_days)
    resp_days = months_to_days(resp)
    return rep.select("GROUP", "COURSE").with_columns(
        pl.Series("DUR_DAYS", dur_days),
        pl.Series("PD_DAY", np.where(np.isnan(pd_m), -1, pd_days)).replace(-1, None),
        pl.Series("RESP_DAY", np.where(np.isnan(resp), -1, resp_days)).replace(-1, None),
    )


def _keep_order_statistics(
    rep: pl.DataFrame, dur_days: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Jitter must not move a value across the published anchors (13.1, 16.5, 23.3, 24.8, 48.1)."""
    group = rep["GROUP"].to_numpy()
    anchor = rep["ANCHOR"].to_numpy()
    out = dur_days.copy()
    tc = group == "TC"
    # TC early stops: either side of the 23.3-month median and below 108 weeks.
    out = np.where(tc & ~anchor & (rep["DUR_M"].to_numpy() < 23.3), np.minimum(out, 708), out)
    out = np.where(
        tc & ~anchor & (rep["DUR_M"].to_numpy() > 23.3) & (rep["DUR_M"].to_numpy() < 24.85),
        np.clip(out, 710, 754),
        out,
    )
    out = np.where(tc & ~anchor & (rep["DUR_M"].to_numpy() > 24.85), np.maximum(out, 757), out)
    # Either side of the safety-population median 16.5 months (502 days).
    out = np.where(~anchor & (rep["DUR_M"].to_numpy() < 16.5), np.minimum(out, 501), out)
    out = np.where(~anchor & (rep["DUR_M"].to_numpy() > 16.5), np.maximum(out, 503), out)
    # Minimum 1.8 (SFU) and 13.1 (TC) stay the minima; 48.1 stays the maximum.
    out = np.where(~anchor & ~tc, np.maximum(out, 56), out)
    out = np.where(~anchor & tc, np.maximum(out, 400), out)
    return np.minimum(out, 1463)

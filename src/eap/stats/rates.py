"""Incidence: crude percentages, exposure-adjusted incidence rates, incidence by interval.

* Crude incidence: n subjects with the event of N at risk, 100 n / N percent.
* Exposure-adjusted incidence rate (EAIR): subjects with a first event divided by
  the total time at risk, where a subject's time at risk ends at the first event,
  otherwise at the end of exposure. Reported per 100 patient-years (``per``).
  Exact Poisson CI (Garwood 1936; SAS/R via the chi-square quantiles):
  [qchisq(a/2, 2x) / 2T, qchisq(1 - a/2, 2x + 2) / 2T], lower 0 when x = 0.
  Not to be confused with the exposure-adjusted *event* rate (all events over
  total exposure).
* Incidence by treatment-time interval: for intervals [a_k, a_k+1) (the last
  open-ended), the subjects at risk at a_k (still exposed at a_k and without an
  onset before a_k) and those whose first onset falls in the interval. This is
  how "no cumulative toxicity" is shown: the per-interval incidence does not rise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import numpy.typing as npt
from scipy.stats import chi2

from eap.errors import StatsInputError
from eap.stats._validate import (
    as_1d,
    check_binary,
    check_conf_level,
    check_same_length,
    check_times,
    plural,
)


@dataclass(frozen=True)
class CrudeIncidence:
    """n of N subjects, with the percentage 100 n / N (None when N = 0)."""

    n: int
    denominator: int
    percent: float | None
    reason: str | None = None


def crude_incidence(n: int, denominator: int) -> CrudeIncidence:
    """Crude incidence ``n / denominator`` as a percentage, with the denominator kept."""
    if int(n) != n or int(denominator) != denominator or n < 0 or denominator < 0:
        raise StatsInputError(
            "counts must be whole numbers >= 0", found=f"n={n}, denominator={denominator}"
        )
    if n > denominator:
        raise StatsInputError(
            "more subjects with the event than in the denominator",
            expected=f"n <= {denominator}",
            found=str(n),
        )
    if denominator == 0:
        return CrudeIncidence(int(n), 0, None, "no subjects in the denominator")
    return CrudeIncidence(int(n), int(denominator), 100.0 * n / denominator)


@dataclass(frozen=True)
class IncidenceRate:
    """Exposure-adjusted incidence rate with its exact Poisson interval.

    ``rate``, ``lower``, ``upper`` are per ``per`` units of time (100 patient-years
    when times are in years). None when there is no time at risk.
    """

    events: int
    time_at_risk: float
    rate: float | None
    lower: float | None
    upper: float | None
    per: float
    conf_level: float
    method: str = "exposure-adjusted incidence rate, exact Poisson CI"
    reason: str | None = None


def poisson_rate(
    events: int, time_at_risk: float, *, per: float = 100.0, conf_level: float = 0.95
) -> IncidenceRate:
    """Rate ``events / time_at_risk * per`` with the exact (chi-square) Poisson interval.

    >>> r = poisson_rate(0, 50.0)
    >>> r.lower, round(r.upper, 4)  # qchisq(0.975, 2) / 2 / 50 * 100
    (0.0, 7.3778)
    """
    if int(events) != events or events < 0:
        raise StatsInputError("events must be a whole number >= 0", found=str(events))
    if not np.isfinite(time_at_risk) or time_at_risk < 0:
        raise StatsInputError("time at risk must be finite and >= 0", found=str(time_at_risk))
    cl = check_conf_level(conf_level)
    x = int(events)
    t = float(time_at_risk)
    if t == 0.0:
        return IncidenceRate(x, 0.0, None, None, None, per, cl, reason="no time at risk")
    a = 1.0 - cl
    lower = 0.0 if x == 0 else float(chi2.ppf(a / 2, 2 * x)) / 2.0 / t * per
    upper = float(chi2.ppf(1 - a / 2, 2 * x + 2)) / 2.0 / t * per
    return IncidenceRate(x, t, x / t * per, lower, upper, per, cl)


def time_at_risk(
    exposure: npt.ArrayLike, first_event_time: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Per-subject time at risk: time to the first event if there is one (not NaN),
    otherwise the exposure duration."""
    exp = check_times(as_1d(np.asarray(exposure, dtype=np.float64), "exposure"), "exposure")
    ev = as_1d(np.asarray(first_event_time, dtype=np.float64), "first_event_time")
    check_same_length(exposure=exp, first_event_time=ev)
    has = ~np.isnan(ev)
    if np.any(ev[has] < 0):
        bad = has & (np.nan_to_num(ev, nan=0.0) < 0)
        raise StatsInputError(
            f"{plural(int(bad.sum()))} with a negative first event time",
            variable="first_event_time",
            rows=[int(i) for i in np.flatnonzero(bad)[:10]],
        )
    return np.where(has, ev, exp)


def exposure_adjusted_incidence_rate(
    event: npt.ArrayLike,
    time_at_risk: npt.ArrayLike,
    *,
    per: float = 100.0,
    conf_level: float = 0.95,
) -> IncidenceRate:
    """EAIR: subjects with a first event / total time at risk, times ``per``.

    ``event`` is 1 for a subject with at least one event; ``time_at_risk`` is per
    subject, in the unit the rate is quoted in (years for "per 100 patient-years";
    see :func:`time_at_risk`).
    """
    e = check_binary(as_1d(event, "event"), "event")
    t = check_times(as_1d(time_at_risk, "time_at_risk"), "time_at_risk")
    check_same_length(event=e, time_at_risk=t)
    return poisson_rate(
        int(np.count_nonzero(e)), float(np.sum(t, dtype=np.float64)), per=per, conf_level=conf_level
    )


@dataclass(frozen=True)
class IntervalIncidence:
    """Onsets within [start, end) among subjects at risk at ``start`` (end None: open)."""

    start: float
    end: float | None
    n_at_risk: int
    n_onset: int
    percent: float | None


def incidence_by_interval(
    onset_time: npt.ArrayLike,
    exposure: npt.ArrayLike,
    boundaries: Sequence[float],
) -> tuple[IntervalIncidence, ...]:
    """Incidence of first onset by treatment-time interval.

    ``onset_time`` is the time of the subject's first onset (NaN if none);
    ``exposure`` the time on treatment; ``boundaries`` the interval starts, the
    last interval open-ended, e.g. ``[0, 6, 12, 24]`` months gives 0-6, 6-12,
    12-24, >=24. A subject is at risk at the start a of an interval if no onset
    happened before a and, for a > the first boundary, exposure exceeds a. At the
    first boundary every subject is at risk.
    """
    onset = as_1d(np.asarray(onset_time, dtype=np.float64), "onset_time")
    exp = check_times(as_1d(np.asarray(exposure, dtype=np.float64), "exposure"), "exposure")
    check_same_length(onset_time=onset, exposure=exp)
    b = [float(x) for x in boundaries]
    if not b or any(y <= x for x, y in pairwise(b)):
        raise StatsInputError(
            "interval boundaries must be increasing", variable="boundaries", found=str(b)
        )
    has = ~np.isnan(onset)
    bad = has & (np.nan_to_num(onset, nan=0.0) < 0)
    if bad.any():
        raise StatsInputError(
            f"{plural(int(bad.sum()))} with a negative onset time",
            variable="onset_time",
            rows=[int(i) for i in np.flatnonzero(bad)[:10]],
        )
    onset_or_inf = np.where(has, onset, np.inf)
    out: list[IntervalIncidence] = []
    for k, start in enumerate(b):
        end = b[k + 1] if k + 1 < len(b) else None
        no_prior = onset_or_inf >= start
        exposed = np.ones(exp.size, dtype=bool) if k == 0 else exp > start
        at_risk = no_prior & exposed
        upper = np.inf if end is None else end
        onset_in = at_risk & (onset_or_inf < upper)
        n_risk = int(at_risk.sum())
        n_on = int(onset_in.sum())
        out.append(
            IntervalIncidence(
                start=start,
                end=end,
                n_at_risk=n_risk,
                n_onset=n_on,
                percent=100.0 * n_on / n_risk if n_risk else None,
            )
        )
    return tuple(out)

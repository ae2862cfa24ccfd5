"""Median follow-up: reverse Kaplan-Meier and the simple median of observation time.

Reverse Kaplan-Meier (Schemper and Smith 1996) swaps the roles of event and
censoring: a patient is "followed up" until censored, and a death ends
follow-up early without saying how long it would have lasted. Its median (with
the same quantile rule and Brookmeyer-Crowley CI as :mod:`eap.stats.km`) is the
usual "median follow-up". The simple median of observation time counts every
patient's time on study, events included, and is always shorter or equal when
deaths occur early.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from eap.stats._validate import as_1d, check_binary, check_same_length, check_times
from eap.stats.km import ConfType, Convention, kaplan_meier


@dataclass(frozen=True)
class FollowUp:
    """A median follow-up with its method named ("reverse Kaplan-Meier" or "median observation
    time"); CI fields are None for the simple median, which has no interval."""

    method: str
    n: int
    median: float | None
    lower: float | None
    upper: float | None
    reason: str | None
    conf_type: ConfType | None
    conf_level: float | None
    convention: Convention | None


def median_follow_up_reverse_km(
    time: npt.ArrayLike,
    event: npt.ArrayLike,
    *,
    conf_type: str = "log-log",
    conf_level: float = 0.95,
    convention: str = "R",
) -> FollowUp:
    """Median follow-up by reverse Kaplan-Meier: censored times become the events.

    ``event`` is 1 for an event (e.g. death), 0 for censored, as for
    :func:`eap.stats.kaplan_meier`. In R: ``survfit(Surv(time, 1 - status) ~ 1)``;
    in SAS: ``time aval*cnsr(0)`` with the censoring flag as the event.
    """
    e = check_binary(as_1d(event, "event"), "event")
    reverse = 1 - e.astype(np.int8)
    fit = kaplan_meier(
        time, reverse, conf_type=conf_type, conf_level=conf_level, convention=convention
    )
    c = fit.curves[0]
    q = c.median
    reason = q.estimate_reason
    if reason is not None:
        reason = reason.replace("median not reached", "median follow-up not reached")
    return FollowUp(
        method="reverse Kaplan-Meier",
        n=c.n,
        median=q.estimate,
        lower=q.lower,
        upper=q.upper,
        reason=reason,
        conf_type=fit.conf_type,
        conf_level=fit.conf_level,
        convention=fit.convention,
    )


def median_observation_time(time: npt.ArrayLike) -> FollowUp:
    """The plain median of every patient's observation time (events and censored alike)."""
    t = check_times(as_1d(time, "time"))
    check_same_length(time=t)
    if t.size == 0:
        return FollowUp(
            method="median observation time",
            n=0,
            median=None,
            lower=None,
            upper=None,
            reason="no patients",
            conf_type=None,
            conf_level=None,
            convention=None,
        )
    return FollowUp(
        method="median observation time",
        n=int(t.size),
        median=float(np.median(t)),
        lower=None,
        upper=None,
        reason=None,
        conf_type=None,
        conf_level=None,
        convention=None,
    )

"""The statistics at their edges, with every expected value counted by hand.

Risk sets (n.risk) with all-distinct times and with ties, on both counting paths
(whole-number times are binned, other times sorted); a landmark exactly at an event
time, just before and just after it, at the last observed time and beyond; the
log-rank test and the Cox model on data small enough to solve on paper; incidence
intervals at their boundaries. An off-by-one anywhere in a risk set fails these.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from eap.stats import kaplan_meier, kaplan_meier_from_counts
from eap.stats.cox import cox_ph
from eap.stats.followup import median_follow_up_reverse_km, median_observation_time
from eap.stats.km import BEYOND_FOLLOW_UP, CARRIED_FORWARD, aggregate
from eap.stats.logrank import logrank_test, logrank_test_from_counts
from eap.stats.proportions import clopper_pearson, wilson
from eap.stats.rates import (
    CrudeIncidence,
    IncidenceRate,
    crude_incidence,
    exposure_adjusted_incidence_rate,
    incidence_by_interval,
    poisson_rate,
    time_at_risk,
)

# --------------------------------------------------------------------------- risk sets

# Five subjects, all times distinct: 5 at risk before the first, then one fewer each.
DISTINCT = [0.5, 1.5, 2.5, 3.5, 4.5]
DISTINCT_EVENT = [1, 0, 1, 1, 0]
# S: 4/5 = 0.8 at 0.5; 0.8 at 1.5 (a censoring); 0.8 x 2/3 at 2.5; x 1/2 at 3.5; kept at 4.5.
DISTINCT_S = [0.8, 0.8, 0.8 * 2 / 3, 0.8 * 2 / 3 / 2, 0.8 * 2 / 3 / 2]
# Greenwood, sum of d / (n (n - d)): 1/20 at 0.5; + 1/6 at 2.5; + 1/2 at 3.5.
DISTINCT_SE_LOG = [
    math.sqrt(1 / 20),
    math.sqrt(1 / 20),
    math.sqrt(1 / 20 + 1 / 6),
    math.sqrt(1 / 20 + 1 / 6 + 1 / 2),
    math.sqrt(1 / 20 + 1 / 6 + 1 / 2),
]


@pytest.mark.parametrize("shift", [0.0, 0.5], ids=["sorted-path", "binned-path"])
def test_risk_set_all_distinct_times(shift: float) -> None:
    # shift 0.5 makes the times whole numbers 1..5 (counted by bincount); 0.0 keeps
    # them fractional (sorted; the one-subject-per-time shortcut).
    times = [t + shift for t in DISTINCT]
    curve = kaplan_meier(times, DISTINCT_EVENT).curves[0]
    assert curve.time.tolist() == times
    assert curve.n_risk.tolist() == [5, 4, 3, 2, 1]
    assert curve.n_event.tolist() == [1, 0, 1, 1, 0]
    assert curve.n_censor.tolist() == [0, 1, 0, 0, 1]
    assert (curve.n, curve.events, curve.censored) == (5, 3, 2)
    assert curve.survival.tolist() == pytest.approx(DISTINCT_S, rel=1e-12)
    assert curve.se_log.tolist() == pytest.approx(DISTINCT_SE_LOG, rel=1e-12)
    assert curve.std_err.tolist() == pytest.approx(
        [s * se for s, se in zip(DISTINCT_S, DISTINCT_SE_LOG, strict=True)], rel=1e-12
    )


def test_distinct_fractional_times_take_the_one_subject_per_time_shortcut() -> None:
    (counts,) = aggregate(DISTINCT, DISTINCT_EVENT)
    assert counts.unit is True
    assert counts.n_event.tolist() == [1, 0, 1, 1, 0]
    assert counts.n_censor.tolist() == [0, 1, 0, 0, 1]
    (tied,) = aggregate([0.5, 0.5, 1.5], [1, 0, 1])
    assert tied.unit is False
    assert (tied.n_event.tolist(), tied.n_censor.tolist()) == ([1, 1], [1, 0])
    (whole,) = aggregate([1, 2, 3], [1, 0, 1])
    assert whole.unit is False


# Eight subjects with ties: at 2 two events and a censoring, at 5 an event and a
# censoring, at 7 a censoring, at 9 two events.
TIED = [2, 2, 2, 5, 5, 7, 9, 9]
TIED_EVENT = [1, 1, 0, 1, 0, 0, 1, 1]


@pytest.mark.parametrize("shift", [0.0, 0.25], ids=["binned-path", "sorted-path"])
def test_risk_set_with_ties(shift: float) -> None:
    times = [t + shift for t in TIED]
    curve = kaplan_meier(times, TIED_EVENT).curves[0]
    assert curve.time.tolist() == [2 + shift, 5 + shift, 7 + shift, 9 + shift]
    # 8 at risk at 2; 8 - 3 = 5 at 5; 5 - 2 = 3 at 7; 3 - 1 = 2 at 9.
    assert curve.n_risk.tolist() == [8, 5, 3, 2]
    assert curve.n_event.tolist() == [2, 1, 0, 2]
    assert curve.n_censor.tolist() == [1, 1, 1, 0]
    # 6/8; x 4/5; unchanged; x 0/2.
    assert curve.survival.tolist() == pytest.approx([0.75, 0.6, 0.6, 0.0], abs=1e-15)
    # Greenwood: 2/(8 x 6) + 1/(5 x 4); infinite once everyone at risk fails.
    assert curve.se_log[:3].tolist() == pytest.approx(
        [math.sqrt(2 / 48), math.sqrt(2 / 48 + 1 / 20), math.sqrt(2 / 48 + 1 / 20)]
    )
    assert math.isinf(curve.se_log[3])


def test_risk_set_per_stratum_with_distinct_fractional_times() -> None:
    fit = kaplan_meier(
        [0.5, 1.5, 2.5, 0.25, 0.75],
        [1, 1, 0, 0, 1],
        strata=["a", "a", "a", "b", "b"],
    )
    a, b = fit["a"], fit["b"]
    assert (a.n_risk.tolist(), a.n_event.tolist()) == ([3, 2, 1], [1, 1, 0])
    assert a.survival.tolist() == pytest.approx([2 / 3, 1 / 3, 1 / 3])
    assert (b.n_risk.tolist(), b.n_event.tolist()) == ([2, 1], [0, 1])
    assert b.survival.tolist() == pytest.approx([1.0, 0.0])


def test_risk_set_from_counts_equals_the_hand_count() -> None:
    # The aggregate of TIED, rows out of order and one (time, counts) row split in two.
    curve = kaplan_meier_from_counts(
        [9, 2, 5, 7, 2],
        [2, 1, 1, 0, 1],
        [0, 0, 1, 1, 1],
    ).curves[0]
    assert curve.time.tolist() == [2, 5, 7, 9]
    assert curve.n_risk.tolist() == [8, 5, 3, 2]
    assert curve.n_censor.tolist() == [1, 1, 1, 0]


# --------------------------------------------------------------------------- landmarks


def test_n_risk_at_counts_times_at_or_after_the_landmark() -> None:
    curve = kaplan_meier(TIED, TIED_EVENT).curves[0]
    # Everyone before the first time; at 2 exactly the 8 with time >= 2; just after, 5.
    got = curve.n_risk_at([0, 1.999, 2, 2.001, 5, 8.999, 9, 9.001, 100])
    assert got.tolist() == [8, 8, 8, 5, 5, 2, 2, 0, 0]


def test_landmark_at_just_before_and_just_after_an_event_time() -> None:
    curve = kaplan_meier(DISTINCT, DISTINCT_EVENT, conf_type="log").curves[0]
    before, at, after = curve.survival_at([3.499, 3.5, 3.501])
    # Just before the event at 3.5 the curve is still 0.8 x 2/3 with 2 at risk; at
    # 3.5 it has dropped (the estimate is right-continuous) and 2 are still at risk
    # (time >= 3.5); just after, 1 is.
    assert (before.survival, before.n_risk) == (pytest.approx(0.8 * 2 / 3), 2)
    assert (at.survival, at.n_risk) == (pytest.approx(0.8 * 2 / 3 / 2), 2)
    assert (after.survival, after.n_risk) == (pytest.approx(0.8 * 2 / 3 / 2), 1)
    assert at.std_err == pytest.approx(0.8 * 2 / 3 / 2 * DISTINCT_SE_LOG[3])
    assert before.std_err == pytest.approx(0.8 * 2 / 3 * DISTINCT_SE_LOG[2])
    # Log limits: S exp(-/+ z se_log), the upper one capped at 1 as R's survfit does.
    z = 1.959963984540054
    assert at.lower == pytest.approx(at.survival * math.exp(-z * DISTINCT_SE_LOG[3]))
    assert at.survival * math.exp(z * DISTINCT_SE_LOG[3]) > 1.0
    assert at.upper == 1.0
    assert before.lower == pytest.approx(before.survival * math.exp(-z * DISTINCT_SE_LOG[2]))
    assert before.reason is at.reason is after.reason is None


def test_landmark_before_the_first_time_is_one_with_everyone_at_risk() -> None:
    curve = kaplan_meier(DISTINCT, DISTINCT_EVENT).curves[0]
    (first,) = curve.survival_at([0.0])
    assert (first.survival, first.std_err, first.lower, first.upper) == (1.0, 0.0, 1.0, 1.0)
    assert (first.n_risk, first.reason) == (5, None)
    (at_first,) = curve.survival_at([0.5])
    assert (at_first.survival, at_first.n_risk) == (pytest.approx(0.8), 5)


@pytest.mark.parametrize("convention", ["R", "SAS"])
def test_landmark_at_the_last_observed_time_is_known(convention: str) -> None:
    curve = kaplan_meier(DISTINCT, DISTINCT_EVENT, convention=convention).curves[0]
    (last,) = curve.survival_at([4.5])
    assert (last.survival, last.n_risk, last.reason) == (pytest.approx(0.8 * 2 / 3 / 2), 1, None)


def test_landmark_after_the_last_observed_time() -> None:
    r = kaplan_meier(DISTINCT, DISTINCT_EVENT, convention="R").curves[0]
    (after,) = r.survival_at([4.501])
    # R carries the last estimate forward (summary(fit, times, extend = TRUE)); nobody at risk.
    assert (after.survival, after.n_risk, after.reason) == (
        pytest.approx(0.8 * 2 / 3 / 2),
        0,
        CARRIED_FORWARD,
    )
    sas = kaplan_meier(DISTINCT, DISTINCT_EVENT, convention="SAS").curves[0]
    (after,) = sas.survival_at([4.501])
    assert (after.survival, after.std_err, after.lower, after.upper) == (None, None, None, None)
    assert (after.n_risk, after.reason) == (0, BEYOND_FOLLOW_UP)


def test_landmark_after_a_curve_that_reached_zero_is_zero_in_both_conventions() -> None:
    for convention in ("R", "SAS"):
        curve = kaplan_meier(TIED, TIED_EVENT, convention=convention).curves[0]
        (after,) = curve.survival_at([10])
        assert (after.survival, after.n_risk) == (0.0, 0)
        # No CI at S = 0 (log-log is undefined there), and nothing carried forward.
        assert after.reason == "confidence limits undefined at survival 0"


# --------------------------------------------------------------------------- log-rank

# A dies at 1 and 3, B at 2 and 4: at 1, 2 of 4 at risk are A (E_A 1/2); at 2, 1 of 3
# (1/3); at 3, 1 of 2 (1/2); at 4 no A is at risk. O_A = 2, E_A = 4/3.
# V_A = sum p (1 - p) = 1/4 + 2/9 + 1/4 = 13/18; chi2 = (2/3)^2 / (13/18) = 8/13.
LR_TIME = [1, 2, 3, 4]
LR_EVENT = [1, 1, 1, 1]
LR_GROUP = ["A", "B", "A", "B"]


@pytest.mark.parametrize("shift", [0.0, 0.5])
def test_logrank_on_distinct_times_by_hand(shift: float) -> None:
    r = logrank_test([t + shift for t in LR_TIME], LR_EVENT, LR_GROUP)
    assert r.groups == ("A", "B")
    assert r.observed == (2, 2)
    assert r.expected == pytest.approx((4 / 3, 8 / 3))
    assert r.chisq == pytest.approx(8 / 13)
    assert r.df == 1


def test_logrank_a_censoring_at_an_event_time_is_at_risk_at_it() -> None:
    # A: an event and a censoring at 2; B: a censoring at 2 and an event at 3.
    # At 2: 2 A and 2 B at risk (the censored ones included), 1 event: E_A = 1/2,
    # V_A = 1 x (4 - 1)/(4 - 1) x 1/2 x 1/2 = 1/4. At 3 no A is at risk.
    # O_A = 1: chi2 = (1/2)^2 / (1/4) = 1.
    r = logrank_test([2, 2, 2, 3], [1, 0, 0, 1], ["A", "A", "B", "B"])
    assert r.expected == pytest.approx((0.5, 1.5))
    assert r.chisq == pytest.approx(1.0)


def test_logrank_tied_events_use_the_hypergeometric_variance() -> None:
    # At 1: 3 A and 3 B at risk (those at 1, 2 and 3), two events (one each):
    # E_A = 2 x 3/6 = 1, w = 2 (6 - 2)/(6 - 1) = 8/5, V_A = 8/5 x 1/2 x 1/2 = 2/5.
    # At 2: 1 A and 1 B at risk, A's event: E_A = 1/2, V_A = 1/4. At 3 no A.
    # O_A = 2, E_A = 3/2, V_A = 13/20: chi2 = (1/2)^2 / (13/20) = 5/13.
    r = logrank_test([1, 1, 1, 1, 2, 3], [1, 0, 1, 0, 1, 1], ["A", "A", "B", "B", "A", "B"])
    assert r.observed == (2, 2)
    assert r.expected == pytest.approx((1.5, 2.5))
    assert r.chisq == pytest.approx(5 / 13)
    same = logrank_test_from_counts([1, 1, 2, 3], [1, 1, 1, 1], [1, 1, 0, 0], ["A", "B", "A", "B"])
    assert same.chisq == pytest.approx(5 / 13)


# --------------------------------------------------------------------------- Cox


def test_cox_on_distinct_times_solved_by_hand() -> None:
    # Same data as the log-rank above, x = 1 for A. The partial likelihood score is
    # 2 - 2u/(u + 1) - u/(u + 2) with u = exp(b) (the last risk set, B alone, adds
    # nothing): zero at u^2 - u - 4 = 0, u = (1 + sqrt 17) / 2.
    for ties in ("breslow", "efron"):  # no ties: the two agree
        fit = cox_ph(LR_TIME, LR_EVENT, LR_GROUP, reference="B", ties=ties)
        term = fit.term("A")
        assert term.hazard_ratio == pytest.approx((1 + math.sqrt(17)) / 2, rel=1e-6)
        # The score test at b = 0 is the log-rank test: 8/13.
        assert fit.score.statistic == pytest.approx(8 / 13)
        # log L(0) = -log 4 - log 3 - log 2 - log 1.
        assert fit.loglik_null == pytest.approx(-math.log(24))
        assert (fit.n, fit.events) == (4, 4)


def test_cox_a_censoring_at_an_event_time_is_in_the_risk_set() -> None:
    # Event for A at 1 with a censored B at 1; B's event at 2 with A censored at 3.
    # Risk sets: at 1 {A1, B1, B2, A3}: b - log(2u + 2); at 2 {B2, A3}: -log(u + 1).
    # Score 1 - 2u/(2u + 2) - u/(u + 1) = 1 - 2u/(u + 1) = 0: u = 1, b = 0.
    fit = cox_ph([1, 1, 2, 3], [1, 0, 1, 0], ["A", "B", "B", "A"], reference="B")
    assert fit.term("A").coef == pytest.approx(0.0, abs=1e-9)
    # log L(0) = -log 4 - log 2.
    assert fit.loglik_null == pytest.approx(-math.log(8))


# --------------------------------------------------------------------------- intervals


def test_incidence_interval_boundaries() -> None:
    # Intervals [0, 6), [6, 12), >= 12. An onset at exactly 6 falls in the second
    # interval, not the first; a subject is at risk at 6 only with exposure > 6 and
    # no onset before 6.
    onset = [np.nan, 6.0, 5.999, np.nan, 12.0, np.nan]
    exposure = [6.0, 10.0, 10.0, 6.001, 20.0, 12.0]
    first, second, third = incidence_by_interval(onset, exposure, [0, 6, 12])
    assert (first.start, first.end, first.n_at_risk, first.n_onset) == (0.0, 6.0, 6, 1)
    # At 6: exposure > 6 and no onset before 6: subjects 2, 4, 5, 6 (1 stopped at 6,
    # 3 had its onset at 5.999). Onset in [6, 12): subject 2 (onset 6).
    assert (second.n_at_risk, second.n_onset) == (4, 1)
    assert second.percent == pytest.approx(25.0)
    # At 12: exposure > 12 and no onset before 12: subject 5 only (6 stopped at 12).
    assert (third.end, third.n_at_risk, third.n_onset) == (None, 1, 1)


def test_time_at_risk_is_the_onset_when_there_is_one() -> None:
    got = time_at_risk([10.0, 10.0, 0.0], [np.nan, 0.0, np.nan])
    assert got.tolist() == [10.0, 0.0, 0.0]


# --------------------------------------------------------------------------- empty and zero


def test_zero_denominators_say_why_there_is_no_value() -> None:
    assert crude_incidence(0, 0) == CrudeIncidence(0, 0, None, "no subjects in the denominator")
    assert crude_incidence(3, 3) == CrudeIncidence(3, 3, 100.0, None)
    rate = poisson_rate(2, 0.0, per=1000.0, conf_level=0.9)
    assert rate == IncidenceRate(2, 0.0, None, None, None, 1000.0, 0.9, reason="no time at risk")
    # 2 events in 4 years per 1000: 500; 90% limits qchisq(0.05, 4) / 2 / 4 * 1000 and
    # qchisq(0.95, 6) / 2 / 4 * 1000.
    rate = poisson_rate(2, 4.0, per=1000.0, conf_level=0.9)
    assert (rate.events, rate.time_at_risk, rate.rate, rate.per, rate.conf_level) == (
        2,
        4.0,
        500.0,
        1000.0,
        0.9,
    )
    assert rate.lower == pytest.approx(0.710723 / 2 / 4 * 1000, rel=1e-5)
    assert rate.upper == pytest.approx(12.59159 / 2 / 4 * 1000, rel=1e-5)
    assert rate.reason is None


def test_eair_passes_per_and_conf_level_on() -> None:
    # Two subjects with an event among three, 1.5 + 2.5 + 4 = 8 years at risk.
    got = exposure_adjusted_incidence_rate([1, 0, 1], [1.5, 2.5, 4.0], per=10.0, conf_level=0.9)
    assert got == poisson_rate(2, 8.0, per=10.0, conf_level=0.9)
    assert got.rate == pytest.approx(2.5)


def test_an_interval_nobody_is_at_risk_in_has_no_percentage() -> None:
    # Exposure 0 for everyone: at risk at 0 (the first boundary always), nobody after.
    first, second = incidence_by_interval([np.nan, np.nan], [0.0, 0.0], [0, 1])
    assert (first.n_at_risk, first.n_onset, first.percent) == (2, 0, 0.0)
    assert (second.n_at_risk, second.n_onset, second.percent) == (0, 0, None)


def test_median_observation_time_of_nobody_and_of_everyone() -> None:
    empty = median_observation_time([])
    assert (empty.method, empty.n, empty.median, empty.reason) == (
        "median observation time",
        0,
        None,
        "no patients",
    )
    assert (empty.lower, empty.upper, empty.conf_type, empty.conf_level) == (None,) * 4
    # Events and censored times alike: the median of 1, 2, 4, 10 is 3.
    got = median_observation_time([4.0, 1.0, 10.0, 2.0])
    assert (got.method, got.n, got.median, got.reason) == ("median observation time", 4, 3.0, None)


def test_reverse_km_follow_up_passes_its_method_on() -> None:
    # Censored times become the events: 2 (censored) and 5 (censored) among 1, 2, 3, 5, 6.
    time, event = [1, 2, 3, 5, 6], [1, 0, 1, 0, 1]
    got = median_follow_up_reverse_km(time, event, conf_type="plain", conf_level=0.8)
    fit = kaplan_meier(time, [0, 1, 0, 1, 0], conf_type="plain", conf_level=0.8).curves[0]
    assert (got.method, got.n) == ("reverse Kaplan-Meier", 5)
    assert (got.median, got.lower, got.upper) == (
        fit.median.estimate,
        fit.median.lower,
        fit.median.upper,
    )
    assert (got.conf_type, got.conf_level, got.convention) == ("plain", 0.8, "R")
    sas = median_follow_up_reverse_km(time, event, convention="SAS")
    assert (sas.conf_type, sas.conf_level, sas.convention) == ("log-log", 0.95, "SAS")


def test_proportion_intervals_keep_counts_method_and_level() -> None:
    w = wilson(3, 10, conf_level=0.9)
    assert (w.x, w.n, w.estimate, w.method, w.conf_level) == (3, 10, 0.3, "wilson", 0.9)
    # Wilson: (p + z^2/2n +/- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n), z = 1.644854.
    z = 1.6448536269514722
    centre = (0.3 + z * z / 20) / (1 + z * z / 10)
    half = z * math.sqrt(0.3 * 0.7 / 10 + z * z / 400) / (1 + z * z / 10)
    assert (w.lower, w.upper) == (pytest.approx(centre - half), pytest.approx(centre + half))
    zero = wilson(0, 10)
    assert (zero.lower, zero.x, zero.n) == (0.0, 0, 10)
    cp = clopper_pearson(3, 10, conf_level=0.9)
    assert (cp.x, cp.n, cp.estimate, cp.method, cp.conf_level) == (
        3,
        10,
        0.3,
        "clopper-pearson",
        0.9,
    )

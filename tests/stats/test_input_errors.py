"""Every input check of the statistics, with the exact message a user reads.

An error names the argument (the variable), the rows at fault (0-based positions in
the arrays), what was expected and what was found; a wrong name or a lost detail in
any of them fails here.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from eap.errors import StatsInputError
from eap.stats import counts_from_aggregate, kaplan_meier, kaplan_meier_from_counts
from eap.stats.cox import cox_ph
from eap.stats.followup import median_follow_up_reverse_km, median_observation_time
from eap.stats.logrank import logrank_test, logrank_test_from_counts
from eap.stats.proportions import clopper_pearson, wilson
from eap.stats.rates import (
    crude_incidence,
    exposure_adjusted_incidence_rate,
    incidence_by_interval,
    poisson_rate,
    time_at_risk,
)

nan, inf = math.nan, math.inf

CASES: list[tuple[str, Callable[[], object], str]] = [
    (
        "km-2d",
        lambda: kaplan_meier([[1, 2]], [1, 1]),
        ("time: time must be one-dimensional; found 2 dimensions"),
    ),
    (
        "km-lengths",
        lambda: kaplan_meier([1, 2, 3], [1, 1]),
        (
            "arrays of different lengths: time has 3 rows, event has 2 rows; "
            "expected one value per row in every array, found time has 3 rows, "
            "event has 2 rows"
        ),
    ),
    (
        "km-nan",
        lambda: kaplan_meier([1.0, nan, nan], [1, 1, 0]),
        (
            "time (rows 1, 2): 2 rows with a missing (NaN) time; expected a time "
            "for every row, found 2 missing"
        ),
    ),
    (
        "km-inf",
        lambda: kaplan_meier([1.0, inf], [1, 1]),
        ("time (row 1): 1 row with an infinite time; expected finite times, found 1 infinite"),
    ),
    (
        "km-negative",
        lambda: kaplan_meier([1, -1, 2, -3], [1, 1, 0, 1]),
        ("time (rows 1, 3): 2 rows with a negative time; expected times >= 0, found 2 negative"),
    ),
    (
        # A time of 0 is allowed (an event on day 0): only the row below it is named.
        "km-negative-beside-zero",
        lambda: kaplan_meier([0, -1, 0.0, 2], [1, 1, 0, 1]),
        ("time (row 1): 1 row with a negative time; expected times >= 0, found 1 negative"),
    ),
    (
        "aggregate-no-rows",
        lambda: counts_from_aggregate([], [], []),
        ("no rows to analyse; expected at least one row, found 0 rows"),
    ),
    (
        "km-text-time",
        lambda: kaplan_meier(["a"], [1]),
        ("time: time must be numeric; expected numbers, found <U1"),
    ),
    (
        "km-bool-time",
        lambda: kaplan_meier([True], [1]),
        ("time: time must be numeric; expected numbers, found bool"),
    ),
    (
        "km-event-code",
        lambda: kaplan_meier([1, 2, 3], [1, 2, -1]),
        (
            "event (rows 1, 2): 2 rows with a event code outside {0, 1}; expected "
            "0 or 1, found -1, 2"
        ),
    ),
    (
        "km-event-float",
        lambda: kaplan_meier([1, 2], [1.0, 0.5]),
        ("event (row 1): 1 row with a event code outside {0, 1}; expected 0 or 1, found 0.5"),
    ),
    (
        "km-event-text",
        lambda: kaplan_meier([1, 2], ["1", "0"]),
        ("event: event codes must be 0 or 1; expected 0 or 1, found <U1"),
    ),
    (
        "km-no-rows",
        lambda: kaplan_meier([], []),
        ("no rows to analyse; expected at least one row, found 0 rows"),
    ),
    (
        "km-conf-level",
        lambda: kaplan_meier([1], [1], conf_level=1.0),
        (
            "conf_level: confidence level must lie strictly between 0 and 1; "
            "expected e.g. 0.95, found 1.0"
        ),
    ),
    (
        "km-conf-type",
        lambda: kaplan_meier([1], [1], conf_type="bogus"),
        (
            "conf_type: unknown confidence interval type (conf_type); expected "
            "log-log, log, plain, logit or arcsin (R) / LOGLOG, LOG, LINEAR, "
            "LOGIT, ASINSQRT (SAS), found 'bogus'"
        ),
    ),
    (
        "km-convention",
        lambda: kaplan_meier([1], [1], convention="STATA"),
        ("convention: unknown convention; expected R or SAS, found 'STATA'"),
    ),
    (
        "km-levels-no-strata",
        lambda: kaplan_meier([1], [1], levels=["a"]),
        ("levels: levels given without strata"),
    ),
    (
        "km-missing-stratum",
        lambda: kaplan_meier([1, 2, 3], [1, 1, 1], strata=["a", None, "b"]),
        ("strata (row 1): 1 row with a missing stratum value"),
    ),
    (
        "km-unknown-stratum",
        lambda: kaplan_meier([1, 2], [1, 1], strata=["a", "c"], levels=["a", "b"]),
        (
            "strata (row 1): 1 row with a stratum value not among the given "
            "levels; expected a, b, found c"
        ),
    ),
    (
        "km-empty-stratum",
        lambda: kaplan_meier([1, 2], [1, 1], strata=["a", "a"], levels=["a", "b"]),
        (
            "strata: empty stratum 'b': 0 rows; expected at least one row in every "
            "stratum, found 0 rows"
        ),
    ),
    (
        "km-quantile",
        lambda: kaplan_meier([1], [1]).curves[0].quantile(1.0),
        ("prob: quantile probability must lie strictly between 0 and 1; found 1.0"),
    ),
    (
        "km-n-risk-at",
        lambda: kaplan_meier([1], [1]).curves[0].n_risk_at([-1.0]),
        ("times (row 0): 1 row with a negative times; expected times >= 0, found 1 negative"),
    ),
    (
        "km-survival-at",
        lambda: kaplan_meier([1], [1]).curves[0].survival_at([nan]),
        (
            "times (row 0): 1 row with a missing (NaN) times; expected a time for "
            "every row, found 1 missing"
        ),
    ),
    (
        "counts-not-counts",
        lambda: kaplan_meier_from_counts([1, 2], [1, 0.5], [0, 0]),
        ("n_event (row 1): 1 row with a n_event that is not a count (integer >= 0)"),
    ),
    (
        "counts-negative",
        lambda: kaplan_meier_from_counts([1, 2], [1, 0], [0, -1]),
        ("n_censor (row 1): 1 row with a n_censor that is not a count (integer >= 0)"),
    ),
    (
        "counts-text",
        lambda: kaplan_meier_from_counts([1, 2], ["1", "0"], [0, 0]),
        ("n_event: n_event must hold counts; found <U1"),
    ),
    (
        "counts-all-zero",
        lambda: kaplan_meier_from_counts([1, 2], [0, 0], [0, 0]),
        ("no subjects in the counts; found all counts are 0"),
    ),
    (
        "counts-empty-level",
        lambda: kaplan_meier_from_counts(
            [1, 2], [1, 0], [0, 1], strata=["a", "a"], levels=["a", "b"]
        ),
        (
            "strata: empty stratum 'b': 0 subjects; expected at least one subject "
            "in every stratum, found 0 subjects"
        ),
    ),
    (
        "lr-lengths",
        lambda: logrank_test([1, 2], [1, 1], ["a"]),
        (
            "arrays of different lengths: time has 2 rows, event has 2 rows, group "
            "has 1 row; expected one value per row in every array, found time has "
            "2 rows, event has 2 rows, group has 1 row"
        ),
    ),
    (
        "lr-event",
        lambda: logrank_test([1, 2], [1, 3], ["a", "b"]),
        ("event (row 1): 1 row with a event code outside {0, 1}; expected 0 or 1, found 3"),
    ),
    (
        "lr-singular",
        lambda: logrank_test(
            [1, 2, 3, 4], [1, 1, 1, 1], ["a", "a", "b", "b"], strata=["x", "x", "y", "y"]
        ),
        (
            "group: the log-rank variance matrix is singular: some groups are "
            "never at risk together at an event time (within a stratum); expected "
            "groups that share event times, found a, b"
        ),
    ),
    (
        "lr-counts-lengths",
        lambda: logrank_test_from_counts([1, 2], [1, 1], [0, 0], ["a"]),
        (
            "arrays of different lengths: time has 2 rows, n_event has 2 rows, "
            "n_censor has 2 rows, group has 1 row; expected one value per row in "
            "every array, found time has 2 rows, n_event has 2 rows, n_censor has "
            "2 rows, group has 1 row"
        ),
    ),
    (
        "cox-ties",
        lambda: cox_ph([1, 2], [1, 1], ["a", "b"], ties="exact"),
        (
            "ties: unknown method for tied event times; expected efron (R coxph "
            "default) or breslow (SAS PHREG default), found 'exact'"
        ),
    ),
    (
        "cox-reference",
        lambda: cox_ph([1, 2], [1, 1], ["a", "b"], reference="c"),
        (
            "reference: reference level not among the levels of group; expected "
            "one of a, b, found 'c'"
        ),
    ),
    (
        "cox-one-level",
        lambda: cox_ph([1, 2], [1, 1], ["a", "a"]),
        (
            "group: a Cox model of group needs at least two levels; expected 2 or "
            "more levels, found 1 level ('a')"
        ),
    ),
    (
        "cox-no-events",
        lambda: cox_ph([1, 2, 3], [0, 0, 0], ["a", "b", "a"]),
        (
            "event: no events: every time is censored; expected at least one event "
            "(event = 1), found 0 events in 3 rows"
        ),
    ),
    (
        "cox-no-rows",
        lambda: cox_ph([], [], []),
        ("time: no rows to fit; expected 1 or more rows"),
    ),
    (
        "cox-missing-group",
        lambda: cox_ph([1, 2, 3], [1, 1, 1], ["a", None, "b"]),
        (
            "group (row 1): 1 row with a missing group value; expected a group "
            "label for every row, found 1 missing"
        ),
    ),
    (
        "cox-missing-stratum",
        lambda: cox_ph([1, 2, 3], [1, 1, 1], ["a", "b", "b"], strata=["x", "y", None]),
        (
            "strata (row 2): 1 row with a missing strata value; expected a strata "
            "label for every row, found 1 missing"
        ),
    ),
    (
        "cox-not-estimable",
        lambda: cox_ph(
            [1, 2, 3, 4], [1, 1, 1, 1], ["a", "b", "c", "c"], strata=["x", "x", "y", "y"]
        ),
        (
            "group: hazard ratio not estimable for c: never at risk at an event "
            "time together with the reference 'a' or a level linked to it (in the "
            "same stratum); expected every level at risk at some event time "
            "alongside another level, found c unlinked"
        ),
    ),
    (
        "cox-lengths",
        lambda: cox_ph([1, 2], [1, 1], ["a", "b"], strata=["x"]),
        (
            "arrays of different lengths: time has 2 rows, event has 2 rows, group "
            "has 2 rows, strata has 1 row; expected one value per row in every "
            "array, found time has 2 rows, event has 2 rows, group has 2 rows, "
            "strata has 1 row"
        ),
    ),
    (
        "cox-conf-level",
        lambda: cox_ph([1, 2], [1, 1], ["a", "b"], conf_level=0),
        (
            "conf_level: confidence level must lie strictly between 0 and 1; "
            "expected e.g. 0.95, found 0"
        ),
    ),
    (
        "crude-negative",
        lambda: crude_incidence(-1, 3),
        ("counts must be whole numbers >= 0; found n=-1, denominator=3"),
    ),
    (
        "crude-fraction",
        lambda: crude_incidence(1.5, 3),
        ("counts must be whole numbers >= 0; found n=1.5, denominator=3"),
    ),
    (
        "crude-denominator-fraction",
        lambda: crude_incidence(1, 2.5),
        ("counts must be whole numbers >= 0; found n=1, denominator=2.5"),
    ),
    (
        "crude-denominator-negative",
        lambda: crude_incidence(0, -2),
        ("counts must be whole numbers >= 0; found n=0, denominator=-2"),
    ),
    (
        "crude-too-many",
        lambda: crude_incidence(4, 3),
        ("more subjects with the event than in the denominator; expected n <= 3, found 4"),
    ),
    (
        "poisson-negative",
        lambda: poisson_rate(-1, 10.0),
        ("events must be a whole number >= 0; found -1"),
    ),
    (
        "poisson-fraction",
        lambda: poisson_rate(0.5, 10.0),
        ("events must be a whole number >= 0; found 0.5"),
    ),
    (
        "poisson-time-negative",
        lambda: poisson_rate(1, -1.0),
        ("time at risk must be finite and >= 0; found -1.0"),
    ),
    (
        "poisson-time-inf",
        lambda: poisson_rate(1, inf),
        ("time at risk must be finite and >= 0; found inf"),
    ),
    (
        "poisson-conf-level",
        lambda: poisson_rate(1, 1.0, conf_level=95),
        (
            "conf_level: confidence level must lie strictly between 0 and 1; "
            "expected e.g. 0.95, found 95"
        ),
    ),
    (
        "tar-lengths",
        lambda: time_at_risk([1.0, 2.0], [nan]),
        (
            "arrays of different lengths: exposure has 2 rows, first_event_time "
            "has 1 row; expected one value per row in every array, found exposure "
            "has 2 rows, first_event_time has 1 row"
        ),
    ),
    (
        "tar-negative-exposure",
        lambda: time_at_risk([1.0, -2.0], [nan, nan]),
        ("exposure (row 1): 1 row with a negative exposure; expected times >= 0, found 1 negative"),
    ),
    (
        "tar-negative-event",
        lambda: time_at_risk([1.0, 2.0, 3.0], [nan, -0.5, -1.0]),
        ("first_event_time (rows 1, 2): 2 rows with a negative first event time"),
    ),
    (
        "tar-2d",
        lambda: time_at_risk([1.0], [[1.0]]),
        ("first_event_time: first_event_time must be one-dimensional; found 2 dimensions"),
    ),
    (
        "eair-event",
        lambda: exposure_adjusted_incidence_rate([1, 2], [1.0, 1.0]),
        ("event (row 1): 1 row with a event code outside {0, 1}; expected 0 or 1, found 2"),
    ),
    (
        "eair-time",
        lambda: exposure_adjusted_incidence_rate([1, 0], [1.0, -1.0]),
        (
            "time_at_risk (row 1): 1 row with a negative time_at_risk; expected "
            "times >= 0, found 1 negative"
        ),
    ),
    (
        "eair-lengths",
        lambda: exposure_adjusted_incidence_rate([1, 0], [1.0]),
        (
            "arrays of different lengths: event has 2 rows, time_at_risk has 1 "
            "row; expected one value per row in every array, found event has 2 "
            "rows, time_at_risk has 1 row"
        ),
    ),
    (
        "eair-2d",
        lambda: exposure_adjusted_incidence_rate([[1]], [1.0]),
        ("event: event must be one-dimensional; found 2 dimensions"),
    ),
    (
        "interval-boundaries",
        lambda: incidence_by_interval([1.0], [2.0], [0, 6, 6]),
        ("boundaries: interval boundaries must be increasing; found [0.0, 6.0, 6.0]"),
    ),
    (
        "interval-no-boundaries",
        lambda: incidence_by_interval([1.0], [2.0], []),
        ("boundaries: interval boundaries must be increasing; found []"),
    ),
    (
        "interval-negative-onset",
        lambda: incidence_by_interval([nan, -1.0, -2.0], [2.0, 2.0, 2.0], [0, 6]),
        ("onset_time (rows 1, 2): 2 rows with a negative onset time"),
    ),
    (
        "interval-lengths",
        lambda: incidence_by_interval([1.0, 2.0], [2.0], [0, 6]),
        (
            "arrays of different lengths: onset_time has 2 rows, exposure has 1 "
            "row; expected one value per row in every array, found onset_time has "
            "2 rows, exposure has 1 row"
        ),
    ),
    (
        "interval-exposure",
        lambda: incidence_by_interval([1.0], [-2.0], [0, 6]),
        ("exposure (row 0): 1 row with a negative exposure; expected times >= 0, found 1 negative"),
    ),
    (
        "interval-2d",
        lambda: incidence_by_interval([[1.0]], [2.0], [0, 6]),
        ("onset_time: onset_time must be one-dimensional; found 2 dimensions"),
    ),
    (
        "cp-fraction",
        lambda: clopper_pearson(1.5, 3),
        ("counts must be whole numbers; found x=1.5, n=3"),
    ),
    (
        "cp-n-fraction",
        lambda: clopper_pearson(1, 3.5),
        ("counts must be whole numbers; found x=1, n=3.5"),
    ),
    (
        "cp-zero-n",
        lambda: clopper_pearson(0, 0),
        ("n: a proportion needs a denominator of at least 1; found 0"),
    ),
    (
        "cp-too-many",
        lambda: clopper_pearson(4, 3),
        ("x: the count must lie between 0 and the denominator; expected 0 <= x <= 3, found 4"),
    ),
    (
        "cp-negative",
        lambda: clopper_pearson(-1, 3),
        ("x: the count must lie between 0 and the denominator; expected 0 <= x <= 3, found -1"),
    ),
    (
        "cp-conf-level",
        lambda: clopper_pearson(1, 3, conf_level=-0.1),
        (
            "conf_level: confidence level must lie strictly between 0 and 1; "
            "expected e.g. 0.95, found -0.1"
        ),
    ),
    (
        "wilson-too-many",
        lambda: wilson(4, 3),
        ("x: the count must lie between 0 and the denominator; expected 0 <= x <= 3, found 4"),
    ),
    (
        "wilson-conf-level",
        lambda: wilson(1, 3, conf_level=1.5),
        (
            "conf_level: confidence level must lie strictly between 0 and 1; "
            "expected e.g. 0.95, found 1.5"
        ),
    ),
    (
        "fu-event",
        lambda: median_follow_up_reverse_km([1, 2], [1, 2]),
        ("event (row 1): 1 row with a event code outside {0, 1}; expected 0 or 1, found 2"),
    ),
    (
        "fu-2d",
        lambda: median_follow_up_reverse_km([1, 2], [[1, 0]]),
        ("event: event must be one-dimensional; found 2 dimensions"),
    ),
    (
        "fu-conf-level",
        lambda: median_follow_up_reverse_km([1, 2], [1, 0], conf_level=2),
        (
            "conf_level: confidence level must lie strictly between 0 and 1; "
            "expected e.g. 0.95, found 2"
        ),
    ),
    (
        "fu-time",
        lambda: median_follow_up_reverse_km([1, -2], [1, 0]),
        ("time (row 1): 1 row with a negative time; expected times >= 0, found 1 negative"),
    ),
    (
        "obs-time",
        lambda: median_observation_time([1.0, nan]),
        (
            "time (row 1): 1 row with a missing (NaN) time; expected a time for "
            "every row, found 1 missing"
        ),
    ),
    (
        "obs-2d",
        lambda: median_observation_time([[1.0]]),
        ("time: time must be one-dimensional; found 2 dimensions"),
    ),
]


@pytest.mark.parametrize(("call", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_input_error_message(call: Callable[[], object], message: str) -> None:
    with pytest.raises(StatsInputError) as info:
        call()
    assert str(info.value) == message

"""More edges of the statistics, each found by a surviving mutant: the limits of the rows
before the first event, zero rows given as an (empty) categorical, the rows an error
names. Every expected value is worked out by hand in the test."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import polars as pl
import pytest

from eap.errors import StatsInputError
from eap.stats import kaplan_meier, kaplan_meier_from_counts
from eap.stats.cox import _warning as cox_warning
from eap.stats.cox import cox_ph
from eap.stats.frame import km_from_frame
from eap.stats.logrank import logrank_test

CONF_TYPES = ["plain", "log", "log-log", "logit", "arcsin"]


@pytest.mark.parametrize("conf_type", CONF_TYPES)
def test_limits_are_one_while_nobody_has_failed(conf_type: str) -> None:
    # Censorings at 1 and 2 come before the first event at 3: S = 1 with no variance,
    # so both limits are 1 (R survfit: lower = upper = 1 on those rows). After the event
    # at 3, S = 2/3 (3 at risk, one fails) and both limits lie strictly inside (0, 1).
    curve = kaplan_meier([1, 2, 3, 4, 5], [0, 0, 1, 0, 0], conf_type=conf_type).curves[0]
    assert curve.survival.tolist()[:3] == [1.0, 1.0, pytest.approx(2 / 3)]
    assert curve.lower.tolist()[:2] == [1.0, 1.0]
    assert curve.upper.tolist()[:2] == [1.0, 1.0]
    assert 0.0 < curve.lower[2] < 2 / 3 < curve.upper[2] <= 1.0


def _error(call: object) -> StatsInputError:
    with pytest.raises(StatsInputError) as info:
        call()  # type: ignore[operator]
    return info.value


def test_zero_rows_with_an_empty_pandas_categorical_is_the_no_rows_error() -> None:
    # An empty Categorical has no codes at all (not a code -1 for a missing value):
    # the answer is the usual "no rows" error, not a failure to take the minimum code.
    arm = pd.Categorical([], categories=["A", "B"])
    assert "no rows" in _error(lambda: kaplan_meier([], [], strata=arm)).problem
    assert "no rows" in _error(lambda: logrank_test([], [], arm)).problem
    assert "no rows" in _error(lambda: cox_ph([], [], arm)).problem


def test_a_missing_status_names_its_rows() -> None:
    frame = pl.DataFrame({"AVAL": [5.0, 8.0, 12.0, 3.0], "CNSR": [0, None, 1, None]})
    err = _error(lambda: km_from_frame(frame, time="AVAL", censor="CNSR"))
    assert err.problem == "2 rows with a missing CNSR"
    assert (err.variable, err.rows) == ("CNSR", [1, 3])


@pytest.mark.parametrize(
    ("names", "problem"),
    [
        ({"time": "TIME", "censor": "CNSR"}, "no time variable TIME in the data"),
        ({"time": "AVAL", "censor": "CENSOR"}, "no status variable CENSOR in the data"),
        ({"time": "AVAL", "censor": "CNSR", "by": "TRT"}, "no by variable TRT in the data"),
    ],
    ids=["time", "status", "by"],
)
def test_a_variable_not_in_the_data_is_named_with_its_role(
    names: dict[str, str], problem: str
) -> None:
    frame = pl.DataFrame({"AVAL": [5.0, 8.0], "CNSR": [0, 1], "ARM": ["A", "B"]})
    err = _error(lambda: km_from_frame(frame, **names))
    assert err.problem == problem
    assert err.expected == "one of AVAL, CNSR, ARM"


def test_a_missing_by_value_names_its_rows() -> None:
    frame = pl.DataFrame({"AVAL": [5.0, 8.0, 9.0], "CNSR": [0, 1, 0], "ARM": ["A", None, None]})
    err = _error(lambda: km_from_frame(frame, time="AVAL", censor="CNSR", by="ARM"))
    assert (err.problem, err.variable, err.rows) == ("2 rows with a missing ARM", "ARM", [1, 2])


def test_missing_by_values_name_the_first_ten_rows() -> None:
    frame = pl.DataFrame({"AVAL": [5.0] * 12, "CNSR": [0] * 12, "ARM": [None] * 12})
    err = _error(lambda: km_from_frame(frame, time="AVAL", censor="CNSR", by="ARM"))
    assert (err.problem, err.rows) == ("12 rows with a missing ARM", list(range(10)))


def test_a_time_column_of_lists_is_not_numeric() -> None:
    # Polars cannot cast a list column to numbers at all: every value is reported.
    frame = pl.DataFrame({"AVAL": [[1.0], [2.0]], "CNSR": [0, 1]})
    err = _error(lambda: km_from_frame(frame, time="AVAL", censor="CNSR"))
    assert err.problem == "the time variable AVAL is not numeric: 2 rows not a number"
    assert (err.expected, err.found) == ("numbers", "[1.0], [2.0]")


RAN_OUT = "Ran out of iterations and did not converge"


@pytest.mark.parametrize(
    ("beta", "var", "expected"),
    [
        (500.0, 1.0, RAN_OUT),
        (500.5, 1.0, RAN_OUT + "; one or more coefficients may be infinite"),
        (1.0, math.inf, RAN_OUT + "; one or more coefficients may be infinite"),
    ],
    ids=["lp-500", "lp-above-500", "infinite-step"],
)
def test_a_fit_out_of_iterations_says_when_a_coefficient_may_be_infinite(
    beta: float, var: float, expected: str
) -> None:
    # R coxph.fit, when it runs out of iterations: warning "Ran out of iterations and did
    # not converge", then "one or more coefficients may be infinite" if
    # max(lp) > 500 || any(!is.finite(infs)), infs = |U' V|. One 0/1 column: lp = beta.
    warning = cox_warning(
        np.array([beta]), np.array([1.0]), np.array([[var]]), converged=False, names=["B"]
    )
    assert warning == expected


@pytest.mark.parametrize(
    ("times", "events", "rows"),
    [
        # One subject: one row.
        ([0.5], [1], [(0.5, 1, 1, 0, 0.0)]),
        # Two subjects tied at 0.5 (the sorted path: the time is not a whole number):
        # one row, 2 at risk, 1 event, 1 censored, S = 1 - 1/2.
        ([0.5, 0.5], [1, 0], [(0.5, 2, 1, 1, 0.5)]),
        # Two distinct times: a row each, S = 1/2 then 0.
        ([1.5, 0.5], [1, 1], [(0.5, 2, 1, 0, 0.5), (1.5, 1, 1, 0, 0.0)]),
        # Three with a tie at the end: 3 at risk at 0.5, then 2 at 1.5 (one fails).
        (
            [1.5, 0.5, 1.5],
            [1, 0, 0],
            [(0.5, 3, 0, 1, 1.0), (1.5, 2, 1, 1, 0.5)],
        ),
    ],
    ids=["one", "two-tied", "two-distinct", "three-tied-last"],
)
def test_fractional_times_one_row_per_distinct_time(
    times: list[float], events: list[int], rows: list[tuple[float, int, int, int, float]]
) -> None:
    c = kaplan_meier(times, events).curves[0]
    got = list(
        zip(
            c.time.tolist(),
            c.n_risk.tolist(),
            c.n_event.tolist(),
            c.n_censor.tolist(),
            c.survival.tolist(),
            strict=True,
        )
    )
    assert got == rows


def test_a_confidence_band_flat_at_1_minus_p_to_the_end_gives_the_midpoint() -> None:
    # Events at 1 and 2, censorings at 3 and 4: S = 3/4, then 1/2 from t = 2 to the end,
    # and so are both limits flat from t = 2 on (censorings change neither S nor
    # Greenwood). R's quantile.survfit (findq): where a band sits on 1 - p to the end of
    # the curve, the limit is the midpoint of where it reaches 1 - p (t = 2) and the last
    # time (4): 3. p is chosen to put 1 - p exactly on the band's last value.
    c = kaplan_meier([1, 2, 3, 4], [1, 1, 0, 0]).curves[0]
    assert c.survival.tolist() == [0.75, 0.5, 0.5, 0.5]
    on_lower = c.quantile(1.0 - float(c.lower[-1]))
    # S never falls to 1 - p (about 0.058): no estimate and no upper limit.
    assert (on_lower.estimate, on_lower.lower, on_lower.upper) == (None, 3.0, None)
    on_upper = c.quantile(1.0 - float(c.upper[-1]))
    # S and the lower band fall below 1 - p (about 0.845) at t = 1: both 1.
    assert (on_upper.estimate, on_upper.lower, on_upper.upper) == (1.0, 1.0, 3.0)


def test_boolean_strata_are_the_codes_0_and_1() -> None:
    # False: subjects at 2 (event) and 4 (censored): S = 1/2, 1/2. True: events at 1
    # and 3: S = 1/2, 0.
    r = kaplan_meier([1, 2, 3, 4], [1, 1, 1, 0], strata=np.array([True, False, True, False]))
    got = [(c.label, c.time.tolist(), c.survival.tolist()) for c in r]
    assert got == [(0, [2.0, 4.0], [0.5, 0.5]), (1, [1.0, 3.0], [0.5, 0.0])]


@pytest.mark.parametrize(
    ("args", "strata", "name"),
    [
        (([[1.0]], [1], [0]), None, "time"),
        (([1.0], [[1]], [0]), None, "n_event"),
        (([1.0], [1], [[0]]), None, "n_censor"),
        (([1.0], [1], [0]), [["a"]], "strata"),
    ],
    ids=["time", "n_event", "n_censor", "strata"],
)
def test_a_two_dimensional_count_argument_is_named(
    args: tuple[object, object, object], strata: object, name: str
) -> None:
    err = _error(lambda: kaplan_meier_from_counts(*args, strata=strata))
    assert (err.variable, err.problem) == (name, f"{name} must be one-dimensional")


def test_newton_steps_back_towards_the_last_beta_as_r_does() -> None:
    # A data set on which a Newton step lowers the log-likelihood, so coxfit6 steps back
    # (half way, then 2/3, 3/4, ...). R 4.2.2, survival 3.5.3,
    # coxph(Surv(time, status) ~ g) (Efron): fit$iter 5, fit$loglik -7.677863501
    # -6.329603499, coef gB 2.08582771, gC -0.71919247.
    time = [7, 3, 1, 1, 3, 7, 1, 4, 3, 4, 6, 5]
    status = [0, 1, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0]
    group = ["C", "B", "C", "C", "C", "A", "B", "A", "A", "C", "A", "C"]
    r = cox_ph(time, status, group)
    assert (r.iterations, r.converged) == (5, True)
    assert (r.loglik_null, r.loglik) == (
        pytest.approx(-7.677863501, abs=1e-9),
        pytest.approx(-6.329603499, abs=1e-9),
    )
    assert [t.coef for t in r.terms] == [
        pytest.approx(2.08582771, abs=1e-7),
        pytest.approx(-0.71919247, abs=1e-7),
    ]


@pytest.mark.parametrize("times", [[0.5, 1.5, 1.5], [1.0, 2.0, 2.0]], ids=["sorted", "binned"])
def test_numbers_at_risk_and_of_events_are_whole_numbers(times: list[float]) -> None:
    # Counts print as counts (3, not 3.0) in every table and JSON document made from them.
    c = kaplan_meier(times, [1, 1, 0]).curves[0]
    assert np.issubdtype(c.n_risk.dtype, np.integer)
    assert np.issubdtype(c.n_event.dtype, np.integer)
    assert [type(x) for x in c.n_risk.tolist()] == [int, int]
    assert c.n_risk.tolist() == [3, 2] and c.n_event.tolist() == [1, 1]

"""Edges of the statistics' inputs and outputs that the reference comparisons do not
reach: which rows an error lists, a label that is not there, labels given back as
plain Python values, every argument of the count-based log-rank test."""

from __future__ import annotations

import math

import numpy as np
import pytest

from eap.errors import StatsInputError
from eap.stats import kaplan_meier
from eap.stats.cox import cox_ph
from eap.stats.logrank import logrank_test, logrank_test_from_counts
from eap.stats.rates import exposure_adjusted_incidence_rate, incidence_by_interval, time_at_risk

nan = math.nan


def _error(call: object) -> StatsInputError:
    with pytest.raises(StatsInputError) as info:
        call()  # type: ignore[operator]
    return info.value


def test_an_error_lists_only_the_negative_rows_not_zero_or_missing() -> None:
    # Row 0 missing (no event), row 1 exactly 0, row 2 between 0 and 1: all fine.
    onset = [nan, 0.0, 0.5, -1.0]
    assert _error(lambda: time_at_risk([1.0] * 4, onset)).rows == [3]
    assert _error(lambda: incidence_by_interval(onset, [1.0] * 4, [0, 1])).rows == [3]


def test_an_error_lists_the_first_ten_rows() -> None:
    onset = [-1.0] * 12
    err = _error(lambda: time_at_risk([1.0] * 12, onset))
    assert err.rows == list(range(10))
    assert err.problem == "12 rows with a negative first event time"
    err = _error(lambda: incidence_by_interval(onset, [1.0] * 12, [0, 1]))
    assert err.rows == list(range(10))
    assert err.problem == "12 rows with a negative onset time"
    err = _error(lambda: kaplan_meier([-1.0] * 12, [1] * 12))
    assert (err.rows, err.found) == (list(range(10)), "12 negative")


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: time_at_risk([[1.0]], [nan]), "exposure"),
        (lambda: incidence_by_interval([nan], [[1.0]], [0]), "exposure"),
        (lambda: exposure_adjusted_incidence_rate([1], [[1.0]]), "time_at_risk"),
        (lambda: logrank_test_from_counts([[1]], [1], [0], ["a"]), "time"),
        (lambda: logrank_test_from_counts([1], [[1]], [0], ["a"]), "n_event"),
        (lambda: logrank_test_from_counts([1], [1], [[0]], ["a"]), "n_censor"),
        (lambda: logrank_test_from_counts([1], [1], [0], [["a"]]), "group"),
        (lambda: logrank_test_from_counts([1], [1], [0], ["a"], strata=[["x"]]), "strata"),
        (lambda: logrank_test([1], [1], ["a"], strata=[["x"]]), "strata"),
        (lambda: cox_ph([1], [1], [["a"]]), "group"),
        (lambda: cox_ph([1], [1], ["a"], strata=[["x"]]), "strata"),
    ],
)
def test_a_two_dimensional_argument_is_named(call: object, name: str) -> None:
    err = _error(call)
    assert (err.variable, err.problem) == (name, f"{name} must be one-dimensional")


def test_count_based_log_rank_checks_the_strata_length() -> None:
    err = _error(lambda: logrank_test_from_counts([1, 2], [1, 1], [0, 0], ["a", "b"], strata=["x"]))
    assert err.found == (
        "time has 2 rows, n_event has 2 rows, n_censor has 2 rows, group has 2 rows, "
        "strata has 1 row"
    )


def test_group_labels_come_back_as_plain_python_values() -> None:
    r = logrank_test([1, 2, 3, 4], [1, 1, 1, 1], np.array([2, 1, 2, 1]))
    assert r.groups == (1, 2)
    assert all(type(g) is int for g in r.groups)
    c = logrank_test_from_counts([1, 2], [1, 1], [0, 0], np.array([2, 1]))
    assert c.groups == (1, 2)
    assert all(type(g) is int for g in c.groups)


def test_a_missing_label_is_a_key_error_naming_it() -> None:
    fit = kaplan_meier([1, 2], [1, 1], strata=["a", "b"])
    with pytest.raises(KeyError, match="'zz'"):
        fit["zz"]
    cox = cox_ph([1, 2, 3, 4], [1, 1, 1, 0], ["a", "b", "a", "b"])
    with pytest.raises(KeyError, match="'zz'"):
        cox.term("zz")
    # A level given as text matches a numeric level, as in R.
    numeric = cox_ph([1, 2, 3, 4], [1, 1, 1, 0], [1, 2, 1, 2])
    assert numeric.term("2") is numeric.term(2)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: logrank_test([[1]], [1], ["a"]), "time"),
        (lambda: logrank_test([1], [[1]], ["a"]), "event"),
        (lambda: logrank_test([1], [1], [["a"]]), "group"),
    ],
)
def test_log_rank_names_a_two_dimensional_argument(call: object, name: str) -> None:
    err = _error(call)
    assert (err.variable, err.problem) == (name, f"{name} must be one-dimensional")


def test_log_rank_of_one_group_is_an_error() -> None:
    assert str(_error(lambda: logrank_test([1, 2], [1, 1], ["a", "a"]))) == (
        "group: log-rank test needs at least two groups; expected 2 or more groups, found 1 group"
    )


def test_stratified_log_rank_adds_each_stratums_terms() -> None:
    # Strata x and y each hold the hand-solved case (A dies at 1 and 3, B at 2 and 4:
    # O - E = 2/3, V = 13/18); stratum z holds only A, which adds O = E and V = 0.
    # chi2 = (4/3)^2 / (13/9) = 16/13.
    time = [1, 2, 3, 4] * 2 + [5]
    event = [1] * 9
    group = ["A", "B", "A", "B"] * 2 + ["A"]
    strata = ["x"] * 4 + ["y"] * 4 + ["z"]
    r = logrank_test(time, event, group, strata=strata, strata_name="SITE")
    assert r.chisq == pytest.approx(16 / 13)
    assert (r.observed, r.expected) == ((5, 4), (pytest.approx(11 / 3), pytest.approx(16 / 3)))
    assert (r.method, r.stratified_by) == ("stratified log-rank", "SITE")
    plain = logrank_test(time, event, group, strata_name="SITE")
    assert (plain.method, plain.stratified_by) == ("log-rank", None)

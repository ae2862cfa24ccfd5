"""What a user reads, word for word: the text tables of ``eap km``, test names, error
messages naming the argument, the reasons given for a limit that is not estimable.

Expected values are worked by hand in the comments (three event times, no censoring).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from eap.errors import StatsInputError
from eap.stats import cox_ph, kaplan_meier
from eap.stats.frame import km_from_frame, km_tables
from eap.stats.km import normalize_conf_type

# Three subjects, events at 1, 2 and 3: S = 2/3, 1/3, 0.
THREE = pl.DataFrame({"AVAL": [1.0, 2.0, 3.0], "CNSR": [0, 0, 0], "ARM": ["A", "A", "A"]})


def _cells(table: object) -> list[list[str]]:
    columns = table.columns  # type: ignore[attr-defined]
    return [list(c._cells) for c in columns]


def _headers(table: object) -> list[str]:
    return [str(c.header) for c in table.columns]  # type: ignore[attr-defined]


def test_km_tables_headings_titles_and_the_unstratified_label() -> None:
    summary, land = km_tables(km_from_frame(THREE, time="AVAL", censor="CNSR", at=[1.5]))
    assert summary.title == "Kaplan-Meier estimates"
    assert _headers(summary) == [
        "",
        "N",
        "Events",
        "Censored",
        "Median (95% CI)",
        "25th percentile (95% CI)",
        "75th percentile (95% CI)",
    ]
    assert [c.justify for c in summary.columns][1:] == ["right"] * 6
    label, n, events, censored, median, *_ = _cells(summary)
    assert (label, n, events, censored) == (["All"], ["3"], ["3"], ["0"])
    # S(1) = 2/3 > 0.5, S(2) = 1/3 <= 0.5: the median is 2.
    assert median[0].startswith("2 (")
    assert land.title == "Survival at landmark times (95% CI)"
    assert _headers(land) == ["", "Time", "At risk", "Survival", "Std err", "CI"]
    assert [c.justify for c in land.columns][1:] == ["right"] * 5
    label, time, at_risk, surv, se, _ci = _cells(land)
    # At 1.5: two subjects still at risk (times 2 and 3), S = 2/3, Greenwood
    # se = 2/3 * sqrt(1 / (3 * 2)) = 0.2722.
    assert (label, time, at_risk, se) == (["All"], ["1.5"], ["2"], ["0.272"])
    assert float(surv[0]) == pytest.approx(2 / 3, abs=5e-4)


def test_km_tables_name_the_strata_and_print_ne_for_a_missing_limit() -> None:
    report = km_from_frame(THREE, time="AVAL", censor="CNSR", by="ARM", at=[3.5])
    summary, land = km_tables(report)
    assert _headers(summary)[0] == "ARM" and _cells(summary)[0] == ["A"]
    # After the last event S = 0: no confidence limits.
    assert _cells(land)[5] == ["NE"]


def test_km_tables_conf_level_in_every_heading() -> None:
    summary, land = km_tables(
        km_from_frame(THREE, time="AVAL", censor="CNSR", at=[1.5], conf_level=0.9)
    )
    assert _headers(summary)[4] == "Median (90% CI)"
    assert land.title == "Survival at landmark times (90% CI)"


def test_a_missing_variable_lists_the_columns_there_are() -> None:
    with pytest.raises(StatsInputError) as err:
        km_from_frame(THREE, time="TIME", censor="CNSR")
    assert err.value.variable == "TIME"
    assert err.value.expected == "one of AVAL, CNSR, ARM"


def test_cox_names_its_tests_and_the_event_argument() -> None:
    time = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    event = np.array([1, 1, 0, 1, 1, 0])
    group = np.array(["a", "b", "a", "b", "a", "b"])
    fit = cox_ph(time, event, group)
    assert fit.score.test == "Score (logrank) test"
    with pytest.raises(StatsInputError, match="event") as err:
        cox_ph(time, np.ones((6, 2)), group)
    assert "event" in str(err.value)
    assert "EVENT" not in str(err.value)


def test_survival_at_names_the_times_argument() -> None:
    (curve,) = kaplan_meier(np.array([1.0, 2.0, 3.0]), np.array([1, 1, 1]))
    with pytest.raises(StatsInputError) as err:
        curve.survival_at(np.ones((2, 2)))
    assert "times" in str(err.value)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("log_log", "log-log"), (" LOG-LOG ", "log-log"), ("Plain", "plain")],
)
def test_conf_type_spellings(name: str, expected: str) -> None:
    assert normalize_conf_type(name) == expected


def test_quantile_without_an_upper_limit_says_why() -> None:
    # Events at 1, 2, 3 then censored at 4 .. 10: the upper limit of the median is not
    # reached (S stays at 7/10 >= 0.5 after the last event).
    time = np.arange(1.0, 11.0)
    event = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
    (curve,) = kaplan_meier(time, event)
    median = curve.median
    assert median.estimate is None
    assert median.upper is None and median.upper_reason == "upper limit not reached"


def test_cox_test_names() -> None:
    time = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    event = np.array([1, 1, 0, 1, 1, 0])
    fit = cox_ph(time, event, np.array(["a", "b", "a", "b", "a", "b"]))
    assert (fit.wald.test, fit.likelihood_ratio.test) == ("Wald test", "Likelihood ratio test")


def test_a_bad_event_code_lists_at_most_five_distinct_values() -> None:
    from eap.stats._validate import check_binary

    with pytest.raises(StatsInputError) as err:
        check_binary(np.array([2, 3, 4, 5, 6, 7, 7, 0]), "event")
    # Six distinct bad values (2..7) in seven rows: the first five are shown.
    assert err.value.found == "2, 3, 4, 5, 6"
    assert "with a event code outside {0, 1}" in str(err.value)


def test_nothing_left_after_the_filter_is_an_error_that_says_so() -> None:
    with pytest.raises(StatsInputError) as err:
        km_from_frame(THREE, time="AVAL", censor="CNSR", where="AVAL > 10")
    assert err.value.expected == "at least one row"
    assert "after the filter 'AVAL > 10'" in str(err.value)


def test_strata_of_another_length_are_refused_everywhere() -> None:
    from eap.stats import counts_from_aggregate, logrank_test

    t = np.array([1.0, 2.0, 3.0, 4.0])
    with pytest.raises(StatsInputError, match="strata has 3 rows"):
        logrank_test(t, np.array([1, 1, 0, 1]), np.array(["a", "b", "a", "b"]), strata=[1, 1, 2])
    with pytest.raises(StatsInputError, match="strata has 3 rows"):
        counts_from_aggregate(t, [1, 1, 0, 1], [0, 0, 1, 0], strata=[1, 1, 2])


def test_the_log_rank_table_headings() -> None:
    frame = THREE.vstack(
        pl.DataFrame({"AVAL": [1.5, 2.5, 4.0], "CNSR": [0, 1, 0], "ARM": ["B", "B", "B"]})
    )
    tables = km_tables(km_from_frame(frame, time="AVAL", censor="CNSR", by="ARM"))
    assert tables[-1].title == "Log-rank test"
    assert _headers(tables[-1]) == ["Chi-square", "DF", "p"]
    assert _cells(tables[-1])[1] == ["1"]  # two groups: one degree of freedom

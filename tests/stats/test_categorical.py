"""Strata and groups given as categoricals (pandas Categorical, Polars Categorical and Enum).

The codes a categorical holds are used directly; results must be those of the same
data as strings (R's published aml output, and the string path) and as integer codes.
Unused categories give no curve and no group; a missing value is an error naming
its rows, as a missing string is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest

from eap.errors import StatsInputError
from eap.stats import cox_ph, kaplan_meier, logrank_test
from eap.stats.frame import km_from_frame

AML_T = [9, 13, 13, 18, 23, 28, 31, 34, 45, 48, 161, 5, 5, 8, 8, 12, 16, 23, 27, 30, 33, 43, 45]
AML_E = [1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1]
AML_X = ["Maintained"] * 11 + ["Nonmaintained"] * 12
AML_CODE = [0] * 11 + [1] * 12


def _forms(values: list[str]) -> dict[str, Any]:
    """The same labels as every categorical eap reads, with unused levels in odd places."""
    cats = ["Unused", "Nonmaintained", "Maintained"]  # not sorted, one never used
    return {
        "pandas unordered": pd.Categorical(values, categories=cats),
        "pandas ordered": pd.Categorical(values, categories=cats, ordered=True),
        "pandas series": pd.Series(pd.Categorical(values)),
        "polars categorical": pl.Series(values, dtype=pl.Categorical),
        "polars enum": pl.Series(values, dtype=pl.Enum(cats)),
    }


FORMS = list(_forms(AML_X))


@pytest.mark.parametrize("form", FORMS)
def test_km_of_a_categorical_matches_r_survfit(form: str) -> None:
    # R: survfit(Surv(time, status) ~ x, data = aml) prints
    #   x=Maintained    11  7  31  18  NA
    #   x=Nonmaintained 12 11  23   8  NA
    fit = kaplan_meier(AML_T, AML_E, strata=_forms(AML_X)[form], conf_type="log")
    assert fit.labels == ("Maintained", "Nonmaintained")  # sorted; "Unused" gives no curve
    m, n = fit["Maintained"], fit["Nonmaintained"]
    assert (m.n, m.events, n.n, n.events) == (11, 7, 12, 11)
    assert (m.median.estimate, m.median.lower, m.median.upper) == (31.0, 18.0, None)
    assert (n.median.estimate, n.median.lower, n.median.upper) == (23.0, 8.0, None)


@pytest.mark.parametrize("form", FORMS)
def test_km_of_a_categorical_equals_strings_and_integer_codes(form: str) -> None:
    rng = np.random.default_rng(7)
    n = 3000
    code = rng.integers(0, 3, n)
    labels = np.array(["high", "low", "mid"])[code]  # code order = sorted label order
    t = rng.integers(1, 400, n).astype(float)
    t[::7] += 0.5  # some continuous times: the sort path as well as the counting path
    e = rng.random(n) < 0.6
    cats = ["mid", "unused", "low", "high"]
    given = {
        "pandas unordered": pd.Categorical(labels, categories=cats),
        "pandas ordered": pd.Categorical(labels, categories=cats, ordered=True),
        "pandas series": pd.Series(labels, dtype="category"),
        "polars categorical": pl.Series(labels.tolist(), dtype=pl.Categorical),
        "polars enum": pl.Series(labels.tolist(), dtype=pl.Enum(cats)),
    }[form]
    as_cat = kaplan_meier(t, e, strata=given)
    as_str = kaplan_meier(t, e, strata=labels)
    as_int = kaplan_meier(t, e, strata=code)
    assert as_cat.labels == as_str.labels == ("high", "low", "mid")
    assert as_int.labels == (0, 1, 2)
    for c, s, i in zip(as_cat, as_str, as_int, strict=True):
        for other in (s, i):
            np.testing.assert_array_equal(c.time, other.time)
            np.testing.assert_array_equal(c.survival, other.survival)
            np.testing.assert_array_equal(c.n_event, other.n_event)
            np.testing.assert_array_equal(c.n_risk, other.n_risk)
            assert c.median == other.median and c.q1 == other.q1


@pytest.mark.parametrize("form", FORMS)
def test_logrank_of_a_categorical_matches_r_survdiff(form: str) -> None:
    # R: survdiff(Surv(time, status) ~ x, data = aml)
    #   x=Maintained    11 7 10.69 ; x=Nonmaintained 12 11 7.31 ; Chisq= 3.4 on 1 df, p= 0.07
    r = logrank_test(AML_T, AML_E, _forms(AML_X)[form])
    assert r.groups == ("Maintained", "Nonmaintained")
    assert r.observed == (7, 11)
    assert [round(x, 2) for x in r.expected] == [10.69, 7.31]
    assert round(r.chisq, 1) == 3.4 and r.df == 1
    as_int = logrank_test(AML_T, AML_E, AML_CODE)
    assert r.chisq == as_int.chisq and r.expected == as_int.expected


@pytest.mark.parametrize("form", FORMS)
def test_stratified_logrank_and_cox_with_categorical_strata(form: str) -> None:
    # A stratum variable that splits aml in two halves by row; the same as strings.
    half = ["first"] * 6 + ["second"] * 5 + ["first"] * 6 + ["second"] * 6
    strata = {
        "pandas unordered": pd.Categorical(half, categories=["second", "none", "first"]),
        "pandas ordered": pd.Categorical(half, categories=["second", "first"], ordered=True),
        "pandas series": pd.Series(half, dtype="category"),
        "polars categorical": pl.Series(half, dtype=pl.Categorical),
        "polars enum": pl.Series(half, dtype=pl.Enum(["second", "none", "first"])),
    }[form]
    group = _forms(AML_X)[form]
    lr_cat = logrank_test(AML_T, AML_E, group, strata=strata)
    lr_str = logrank_test(AML_T, AML_E, AML_X, strata=half)
    assert (lr_cat.chisq, lr_cat.df, lr_cat.groups) == (lr_str.chisq, lr_str.df, lr_str.groups)
    cox_cat = cox_ph(AML_T, AML_E, group, strata=strata)
    cox_str = cox_ph(AML_T, AML_E, AML_X, strata=half)
    assert cox_cat.strata == cox_str.strata == ("first", "second")
    assert cox_cat.term("Nonmaintained").coef == cox_str.term("Nonmaintained").coef


@pytest.mark.parametrize("form", FORMS)
def test_cox_of_a_categorical_matches_r_coxph(form: str) -> None:
    # R: coxph(Surv(time, status) ~ x, data = aml): coef 0.9155, se 0.5119 (Efron)
    r = cox_ph(AML_T, AML_E, _forms(AML_X)[form])
    t = r.term("Nonmaintained")
    assert round(t.coef, 4) == 0.9155 and round(t.se, 4) == 0.5119


def test_missing_values_in_a_categorical_are_errors_naming_the_rows() -> None:
    values: list[str | None] = ["a", None, "b", "a", None]
    t, e = [1, 2, 3, 4, 5], [1, 1, 0, 1, 1]
    given = [
        pd.Categorical(values),
        pl.Series(values, dtype=pl.Categorical),
        pl.Series(values, dtype=pl.Enum(["a", "b"])),
    ]
    for strata in [np.array(values, dtype=object), *given]:  # strings first: the same rule
        with pytest.raises(StatsInputError, match="2 rows with a missing stratum value") as km:
            kaplan_meier(t, e, strata=strata)
        assert km.value.rows == [1, 4]
    for strata in given:
        with pytest.raises(StatsInputError, match="2 rows with a missing group value") as lr:
            logrank_test(t, e, strata)
        assert lr.value.rows == [1, 4]
        with pytest.raises(StatsInputError, match="missing group value") as cx:
            cox_ph(t, e, strata)
        assert cx.value.rows == [1, 4]


def test_a_categorical_without_missing_values_is_accepted() -> None:
    # The other side of the rule above: every row labelled, no error.
    fit = kaplan_meier([1, 2, 3], [1, 1, 1], strata=pd.Categorical(["a", "a", "a"]))
    # Hand calculation: three events at 1, 2, 3 among 3 at risk: S = 2/3, 1/3, 0.
    np.testing.assert_allclose(fit["a"].survival, [2 / 3, 1 / 3, 0.0])


def test_levels_order_the_curves_of_a_categorical() -> None:
    cat = pd.Categorical(AML_X, categories=["Nonmaintained", "Maintained", "Unused"])
    fit = kaplan_meier(AML_T, AML_E, strata=cat, levels=["Nonmaintained", "Maintained"])
    assert fit.labels == ("Nonmaintained", "Maintained")
    assert fit["Maintained"].median.estimate == 31.0  # R survfit, above
    with pytest.raises(StatsInputError, match="not among the given levels") as err:
        kaplan_meier(AML_T, AML_E, strata=cat, levels=["Maintained"])
    assert err.value.rows == list(range(11, 21))  # the first ten Nonmaintained rows
    with pytest.raises(StatsInputError, match="empty stratum 'Unused'"):
        kaplan_meier(AML_T, AML_E, strata=cat, levels=["Maintained", "Nonmaintained", "Unused"])


@pytest.mark.parametrize("n_categories", [256, 257])
def test_many_unused_categories_on_both_sides_of_the_compaction(n_categories: int) -> None:
    # Beyond 256 categories the unused ones are dropped before counting; either way the
    # result is aml's, and the unused categories give no curve.
    cats = [f"zz{i:03d}" for i in range(n_categories - 2)] + ["Maintained", "Nonmaintained"]
    fit = kaplan_meier(AML_T, AML_E, strata=pd.Categorical(AML_X, categories=cats))
    assert fit.labels == ("Maintained", "Nonmaintained")
    assert (fit["Maintained"].median.estimate, fit["Nonmaintained"].median.estimate) == (
        31.0,
        23.0,
    )


def test_km_from_frame_reads_a_polars_categorical_by_variable() -> None:
    frame = pl.DataFrame({"AVAL": AML_T, "CNSR": [1 - x for x in AML_E], "TRT": AML_X})
    as_str = km_from_frame(frame, time="AVAL", censor="CNSR", by="TRT", conf_type="log")
    for dtype in (pl.Categorical, pl.Enum(["Nonmaintained", "Maintained"])):
        cat = frame.with_columns(pl.col("TRT").cast(dtype))
        got = km_from_frame(cat, time="AVAL", censor="CNSR", by="TRT", conf_type="log")
        assert got.fit.labels == as_str.fit.labels == ("Maintained", "Nonmaintained")
        assert got.fit["Maintained"].median.estimate == 31.0  # R survfit, above
        assert got.logrank is not None and as_str.logrank is not None
        assert got.logrank.chisq == as_str.logrank.chisq

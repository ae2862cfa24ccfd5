"""Log-rank test against published R survdiff outputs and lifelines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from lifelines.statistics import multivariate_logrank_test

from eap.errors import StatsInputError
from eap.stats import logrank_test

DATA = Path(__file__).resolve().parents[1] / "data" / "survival"

AML_T = [9, 13, 13, 18, 23, 28, 31, 34, 45, 48, 161, 5, 5, 8, 8, 12, 16, 23, 27, 30, 33, 43, 45]
AML_E = [1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1]
AML_X = ["Maintained"] * 11 + ["Nonmaintained"] * 12


def test_aml_matches_r_survdiff() -> None:
    # R: survdiff(Surv(time, status) ~ x, data = aml)
    #   x=Maintained    11 7 10.69 ; x=Nonmaintained 12 11 7.31
    #   Chisq= 3.4  on 1 degrees of freedom, p= 0.07
    r = logrank_test(AML_T, AML_E, AML_X)
    assert r.observed == (7, 11)
    assert [round(x, 2) for x in r.expected] == [10.69, 7.31]
    assert round(r.chisq, 1) == 3.4 and r.df == 1 and round(r.p, 2) == 0.07


def test_lung_by_sex_matches_r_survdiff() -> None:
    # R: survdiff(Surv(time, status) ~ sex, data = lung)
    #   sex=1 138 112 91.6 ; sex=2 90 53 73.4 ; Chisq= 10.3 on 1 df, p= 0.001
    lung = pd.read_csv(DATA / "lung.csv")
    r = logrank_test(lung.time, lung.status, lung.sex)
    assert r.observed == (112, 53)
    assert [round(x, 1) for x in r.expected] == [91.6, 73.4]
    assert round(r.chisq, 1) == 10.3 and round(r.p, 3) == 0.001


def test_gehan_matches_published_chisq() -> None:
    # R: survdiff(Surv(time, cens) ~ treat, data = MASS::gehan): Chisq= 16.8 on 1 df
    g = pd.read_csv(DATA / "gehan.csv")
    r = logrank_test(g.time, g.status, g.treat)
    assert round(r.chisq, 1) == 16.8


def test_three_groups_match_lifelines() -> None:
    rng = np.random.default_rng(7)
    n = 300
    group = rng.integers(0, 3, n)
    time = rng.exponential(10 + 3 * group).round(0)
    event = rng.random(n) < 0.7
    r = logrank_test(time, event, group)
    ll = multivariate_logrank_test(time, group, event)
    assert r.df == 2
    assert r.chisq == pytest.approx(ll.test_statistic, rel=1e-9)
    assert r.p == pytest.approx(ll.p_value, rel=1e-9)


def test_stratified_sums_over_strata() -> None:
    lung = pd.read_csv(DATA / "lung.csv")
    # A stratum variable with a single level gives the unstratified test.
    same = logrank_test(lung.time, lung.status, lung.sex, strata=np.zeros(len(lung)))
    plain = logrank_test(lung.time, lung.status, lung.sex)
    assert same.chisq == pytest.approx(plain.chisq, rel=1e-12)
    # Two strata: the statistic is built from summed O - E and variances, by hand.
    z = np.arange(len(lung)) % 2
    strat = logrank_test(lung.time, lung.status, lung.sex, strata=z, strata_name="half")
    parts = [logrank_test(lung.time[z == k], lung.status[z == k], lung.sex[z == k]) for k in (0, 1)]
    oe = sum(p.observed[0] - p.expected[0] for p in parts)
    # Variance of O1 - E1 for one stratum = (O1 - E1)^2 / chisq
    var = sum((p.observed[0] - p.expected[0]) ** 2 / p.chisq for p in parts)
    assert strat.chisq == pytest.approx(oe**2 / var, rel=1e-9)
    assert strat.stratified_by == "half" and strat.method == "stratified log-rank"


def test_one_group_is_an_error() -> None:
    with pytest.raises(StatsInputError, match="at least two groups"):
        logrank_test([1, 2], [1, 1], ["a", "a"])


def test_veteran_matches_r_survdiff() -> None:
    # R: survdiff(Surv(time, status) ~ trt, data = veteran)
    #   trt=1 69 64 64.5 ; trt=2 68 64 63.5 ; Chisq= 0 on 1 df, p= 0.9
    # R: survdiff(Surv(time, status) ~ celltype, data = veteran): Chisq= 25.4 on 3 df, p= 1e-05
    v = pd.read_csv(DATA / "veteran.csv")
    trt = logrank_test(v.time, v.status, v.trt)
    assert [round(x, 1) for x in trt.expected] == [64.5, 63.5]
    assert round(trt.chisq, 1) == 0.0 and round(trt.p, 1) == 0.9
    cell = logrank_test(v.time, v.status, v.celltype)
    assert cell.df == 3 and round(cell.chisq, 1) == 25.4 and f"{cell.p:.0e}" == "1e-05"


def test_from_counts_equals_rows() -> None:
    from eap.stats import logrank_test_from_counts

    v = pd.read_csv(DATA / "veteran.csv")
    agg = (
        v.assign(d=v.status, c=1 - v.status)
        .groupby(["celltype", "trt", "time"], as_index=False)[["d", "c"]]
        .sum()
    )
    rows = logrank_test(v.time, v.status, v.trt, strata=v.celltype, strata_name="celltype")
    counts = logrank_test_from_counts(
        agg.time, agg.d, agg.c, agg.trt, strata=agg.celltype, strata_name="celltype"
    )
    assert counts.chisq == pytest.approx(rows.chisq, rel=1e-12)
    assert counts.observed == rows.observed and counts.df == rows.df
    assert counts.method == "stratified log-rank" and counts.stratified_by == "celltype"


# --- degrees of freedom as R survdiff counts them ------------------------------------


def _r_reference() -> dict[str, dict[str, list[float]]]:
    """tests/data/survival/mm024_logrank.out, written by mm024_logrank.R (R survdiff)."""
    out: dict[str, dict[str, list[float]]] = {}
    for line in (DATA / "mm024_logrank.out").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] in ("chisq", "df", "p", "observed", "expected"):
            out.setdefault(parts[0], {})[parts[1]] = [float(x) for x in parts[2:]]
    return out


R = _r_reference()


def _check_against_r(result: Any, name: str) -> None:
    ref = R[name]
    assert result.df == int(ref["df"][0])
    assert result.chisq == pytest.approx(ref["chisq"][0], rel=1e-10)
    assert result.p == pytest.approx(ref["p"][0], rel=1e-8)
    assert list(result.observed) == ref["observed"]
    assert list(result.expected) == pytest.approx(ref["expected"], rel=1e-12, abs=1e-12)


def test_two_groups_have_one_degree_of_freedom_as_in_r() -> None:
    # eap km adtte.xpt --by PARAMCD --where "PARAMCD == 'PFS' or PARAMCD == 'OS'" on the
    # virtual cohort (seed 2014) printed chi-square 57.51 on df 2: the rank of a
    # numerically singular 2 x 2 matrix. R survdiff: 57.5 on 1 df.
    d = pd.read_csv(DATA / "mm024_pfs_os.csv")
    _check_against_r(logrank_test(d.AVAL, 1 - d.CNSR, d.PARAMCD), "pfs_os")


def test_eap_km_path_gives_r_survdiff() -> None:
    import polars as pl

    from eap.stats.frame import km_from_frame

    frame = pl.read_csv(DATA / "mm024_pfs_os.csv")
    report = km_from_frame(
        frame,
        time="AVAL",
        censor="CNSR",
        by="PARAMCD",
        where="PARAMCD == 'PFS' or PARAMCD == 'OS'",
    )
    assert report.logrank is not None
    _check_against_r(report.logrank, "pfs_os")


def test_stratified_two_groups_match_r() -> None:
    d = pd.read_csv(DATA / "mm024_pfs_os.csv")
    site = d.USUBJID.str.slice(6, 8)
    r = logrank_test(d.AVAL, 1 - d.CNSR, d.PARAMCD, strata=site, strata_name="site")
    _check_against_r(r, "pfs_os_by_site")


SMALL_T = [5, 8, 12, 20, 9, 14, 15, 30, 1, 2, 3]
SMALL_E = [1, 0, 1, 1, 1, 1, 0, 1, 0, 0, 0]
SMALL_G = ["A"] * 4 + ["B"] * 4 + ["C"] * 3


def test_a_group_never_at_risk_at_an_event_time_gives_no_degree_of_freedom() -> None:
    # Group C is censored before the first event: E = 0, so R counts df = 3 - 1 - 1.
    r = logrank_test(SMALL_T, SMALL_E, SMALL_G)
    _check_against_r(r, "small_expected_zero")
    assert r.expected[2] == 0.0


def test_groups_never_at_risk_together_are_an_error_as_in_r() -> None:
    # R: survdiff(Surv(t, e) ~ g + strata(z)) stops: "system is exactly singular".
    with pytest.raises(StatsInputError, match="variance matrix is singular") as err:
        logrank_test(
            [1, 2, 3, 4, 5, 6], [1, 1, 0, 1, 1, 0], list("AAABBB"), strata=[1] * 3 + [2] * 3
        )
    assert err.value.found == "A, B"


def test_no_events_gives_chisq_0_on_df_0() -> None:
    r = logrank_test([1, 2, 3, 4], [0, 0, 0, 0], ["a", "b", "a", "b"])
    assert (r.chisq, r.df, r.p) == (0.0, 0, 1.0)


@st.composite
def _groups(draw: st.DrawFn) -> tuple[list[float], list[int], list[int], list[int] | None]:
    n = draw(st.integers(2, 40))
    time = draw(st.lists(st.integers(0, 12).map(float), min_size=n, max_size=n))
    event = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    group = draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))
    strata = draw(st.none() | st.lists(st.integers(0, 2), min_size=n, max_size=n))
    return time, event, group, strata


@settings(max_examples=300, deadline=None)
@given(_groups())
def test_df_is_the_number_of_groups_with_expected_events_minus_one(
    data: tuple[list[float], list[int], list[int], list[int] | None],
) -> None:
    time, event, group, strata = data
    assume(len(set(group)) >= 2)
    try:
        r = logrank_test(time, event, group, strata=strata)
    except StatsInputError as exc:
        assume("singular" not in exc.problem)  # R stops there too
        raise
    informative = sum(e > 0 for e in r.expected)
    assert r.df == max(informative - 1, 0)
    assert r.chisq >= -1e-9
    assert 0.0 <= r.p <= 1.0

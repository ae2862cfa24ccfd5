"""Kaplan-Meier against published R survfit / SAS LIFETEST outputs, lifelines and hand work.

Sources of the expected values are given next to each. Data sets:
- aml (R survival): Embury et al. 1977, maintained vs nonmaintained chemotherapy.
- lung (R survival, copied from lifelines' copy with status recoded 1 = death).
- gehan (MASS, Freireich 1963 6-MP leukemia remission data, lifelines' copy).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import KaplanMeierFitter

from eap.errors import StatsInputError
from eap.stats import kaplan_meier, kaplan_meier_from_counts, normalize_conf_type

DATA = Path(__file__).resolve().parents[1] / "data"

AML_MAINT_T = [9, 13, 13, 18, 23, 28, 31, 34, 45, 48, 161]
AML_MAINT_E = [1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 0]
AML_NON_T = [5, 5, 8, 8, 12, 16, 23, 27, 30, 33, 43, 45]
AML_NON_E = [1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1]
AML_T = AML_MAINT_T + AML_NON_T
AML_E = AML_MAINT_E + AML_NON_E
AML_X = ["Maintained"] * 11 + ["Nonmaintained"] * 12


def test_aml_medians_match_r_survfit_default_log() -> None:
    # R: survfit(Surv(time, status) ~ x, data = aml) prints
    #   x=Maintained    11  7  31  18  NA
    #   x=Nonmaintained 12 11  23   8  NA
    fit = kaplan_meier(AML_T, AML_E, strata=AML_X, conf_type="log")
    m, n = fit["Maintained"], fit["Nonmaintained"]
    assert (m.n, m.events, n.n, n.events) == (11, 7, 12, 11)
    assert (m.median.estimate, m.median.lower, m.median.upper) == (31.0, 18.0, None)
    assert m.median.upper_reason == "upper limit not reached"
    assert (n.median.estimate, n.median.lower, n.median.upper) == (23.0, 8.0, None)


def test_aml_step_table_matches_r_summary() -> None:
    # R: summary(survfit(Surv(time, status) ~ 1, data = aml[aml$x == "Maintained", ]))
    #  time n.risk n.event survival std.err lower 95% CI upper 95% CI
    #     9     11       1    0.909  0.0867       0.7541        1.000
    #    13     10       1    0.818  0.1163       0.6192        1.000
    #    18      8       1    0.716  0.1397       0.4884        1.000
    #    23      7       1    0.614  0.1526       0.3769        0.999
    #    31      5       1    0.491  0.1642       0.2549        0.946
    #    34      4       1    0.368  0.1627       0.1549        0.875
    #    48      2       1    0.184  0.1535       0.0359        0.944
    c = kaplan_meier(AML_MAINT_T, AML_MAINT_E, conf_type="log").curves[0]
    ev = c.n_event > 0
    np.testing.assert_array_equal(c.time[ev], [9, 13, 18, 23, 31, 34, 48])
    np.testing.assert_array_equal(c.n_risk[ev], [11, 10, 8, 7, 5, 4, 2])
    np.testing.assert_allclose(
        c.survival[ev], [0.909, 0.818, 0.716, 0.614, 0.491, 0.368, 0.184], atol=5e-4
    )
    np.testing.assert_allclose(
        c.std_err[ev], [0.0867, 0.1163, 0.1397, 0.1526, 0.1642, 0.1627, 0.1535], atol=5e-5
    )
    np.testing.assert_allclose(
        c.lower[ev], [0.7541, 0.6192, 0.4884, 0.3769, 0.2549, 0.1549, 0.0359], atol=5e-5
    )
    np.testing.assert_allclose(c.upper[ev], [1.0, 1.0, 1.0, 0.999, 0.946, 0.875, 0.944], atol=5e-4)
    # R keeps censored times as rows of the step table.
    assert c.time.tolist() == [9, 13, 18, 23, 28, 31, 34, 45, 48, 161]
    assert c.n_censor.tolist() == [0, 1, 0, 0, 1, 0, 0, 1, 0, 1]


def test_aml_log_log_by_hand() -> None:
    # Hand calculation for Maintained at t = 31 (S = 0.4909, 5 at risk):
    # V = sum d/(n(n-d)) = 1/110 + 1/90 + 1/56 + 1/42 + 1/20
    v = 1 / 110 + 1 / 90 + 1 / 56 + 1 / 42 + 1 / 20
    s = (10 / 11) * (9 / 10) * (7 / 8) * (6 / 7) * (4 / 5)
    z = 1.959963984540054
    # log S < 0, so the lower limit raises S to a power above 1.
    lo = s ** math.exp(-z * math.sqrt(v) / math.log(s))
    hi = s ** math.exp(z * math.sqrt(v) / math.log(s))
    c = kaplan_meier(AML_MAINT_T, AML_MAINT_E, conf_type="log-log").curves[0]
    i = c.time.tolist().index(31)
    assert c.survival[i] == pytest.approx(s, rel=1e-12)
    assert c.lower[i] == pytest.approx(lo, rel=1e-12)
    assert c.upper[i] == pytest.approx(hi, rel=1e-12)
    # Median CI by intersecting the log-log bands with 0.5: the lower band is
    # above 0.5 at t = 9 and below it at t = 13, so the lower limit is 13.
    s9, s13 = 10 / 11, (10 / 11) * (9 / 10)
    lo9 = s9 ** math.exp(-z * math.sqrt(1 / 110) / math.log(s9))
    lo13 = s13 ** math.exp(-z * math.sqrt(1 / 110 + 1 / 90) / math.log(s13))
    assert lo9 > 0.5 > lo13
    assert c.median.lower == 13.0
    assert c.median.estimate == 31.0
    # Upper band at the last event (48, S = 0.184) is still above 0.5: NE.
    assert c.upper[c.time.tolist().index(48)] > 0.5
    assert c.median.upper is None


def test_camis_r_vs_sas_flat_median_and_landmark() -> None:
    # CAMIS (PSIAIMS, Comp/r-sas_survival.qmd): S = 0.5 from t = 87 to the last
    # (censored) time 118. R median = (87 + 118) / 2 = 102.5; SAS median = NE.
    # The 118-day estimate is 0.5 (0.184, 0.753) with log-log; at 120 days R
    # carries it forward, SAS reports NE.
    t = [54, 75, 77, 84, 87, 92, 103, 105, 112, 118]
    e = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    r = kaplan_meier(t, e, convention="R").curves[0]
    sas = kaplan_meier(t, e, convention="SAS").curves[0]
    assert r.median.estimate == 102.5
    assert sas.median.estimate is None
    assert sas.median.estimate_reason is not None
    assert "SAS" in sas.median.estimate_reason
    (at118,) = r.survival_at([118])
    assert at118.survival == 0.5
    assert round(at118.lower or 0, 3) == 0.184
    assert round(at118.upper or 0, 3) == 0.753
    (r120,) = r.survival_at([120])
    (s120,) = sas.survival_at([120])
    assert r120.survival == 0.5 and r120.lower == at118.lower
    assert s120.survival is None and s120.reason == "beyond last follow-up"
    # When the last observation is an event, both give 0 at 120 days.
    e2 = [1, 1, 1, 1, 1, 0, 0, 0, 0, 1]
    for conv in ("R", "SAS"):
        (x,) = kaplan_meier(t, e2, convention=conv).curves[0].survival_at([120])
        assert x.survival == 0.0


def test_sas_and_r_agree_on_interior_flat() -> None:
    # S = 0.5 exactly on [2, 4): both conventions take the midpoint (2 + 4) / 2.
    t = [1, 2, 4, 5]
    e = [1, 1, 1, 1]
    for conv in ("R", "SAS"):
        assert kaplan_meier(t, e, convention=conv).curves[0].median.estimate == 3.0


def _lung() -> pd.DataFrame:
    return pd.read_csv(DATA / "survival" / "lung.csv")


def test_lung_quartiles_match_r() -> None:
    # R: quantile(survfit(Surv(time, status) ~ 1, data = lung))
    #   quantile 170 310 550; lower 145 285 460; upper 197 363 654 (conf.type "log")
    lung = _lung()
    c = kaplan_meier(lung.time, lung.status, conf_type="log").curves[0]
    assert (c.n, c.events) == (228, 165)
    got = [(q.estimate, q.lower, q.upper) for q in (c.q1, c.median, c.q3)]
    assert got == [(170, 145, 197), (310, 285, 363), (550, 460, 654)]


def test_lung_by_sex_matches_r() -> None:
    # R: survfit(Surv(time, status) ~ sex, data = lung)
    #   sex=1 138 112 270 212 310 ; sex=2 90 53 426 348 550
    lung = _lung()
    fit = kaplan_meier(lung.time, lung.status, strata=lung.sex, conf_type="log")
    one, two = fit[1], fit[2]
    assert (one.n, one.events, one.median.estimate, one.median.lower, one.median.upper) == (
        138,
        112,
        270,
        212,
        310,
    )
    assert (two.n, two.events, two.median.estimate, two.median.lower, two.median.upper) == (
        90,
        53,
        426,
        348,
        550,
    )


def test_gehan_matches_mass_survfit() -> None:
    # R: survfit(Surv(time, cens) ~ treat, data = MASS::gehan)
    #   treat=6-MP    21  9 23 16 NA ; treat=control 21 21 8 4 12
    g = pd.read_csv(DATA / "survival" / "gehan.csv")
    fit = kaplan_meier(g.time, g.status, strata=g.treat, conf_type="log")
    mp, ctl = fit["6-MP"], fit["control"]
    assert (mp.n, mp.events, mp.median.estimate, mp.median.lower, mp.median.upper) == (
        21,
        9,
        23,
        16,
        None,
    )
    assert (ctl.n, ctl.events, ctl.median.estimate, ctl.median.lower, ctl.median.upper) == (
        21,
        21,
        8,
        4,
        12,
    )
    # The control curve ends at 0: limits are undefined there, never NaN outward.
    last = ctl.survival_at([23])[0]
    assert last.survival == 0.0 and last.lower is None and last.upper is None


@pytest.mark.parametrize("frame", ["lung", "gehan"])
def test_survival_and_log_log_limits_match_lifelines(frame: str) -> None:
    # lifelines implements the same Greenwood variance and log-log transform.
    df = _lung() if frame == "lung" else pd.read_csv(DATA / "survival" / "gehan.csv")
    c = kaplan_meier(df.time, df.status, conf_type="log-log").curves[0]
    kmf = KaplanMeierFitter().fit(df.time, df.status)
    sf = kmf.survival_function_.iloc[1:, 0] if kmf.survival_function_.index[0] == 0 else None
    sf = kmf.survival_function_.loc[c.time, "KM_estimate"].to_numpy()
    np.testing.assert_allclose(c.survival, sf, rtol=1e-12)
    ci = kmf.confidence_interval_.loc[c.time].to_numpy()
    ok = (c.survival > 0) & (c.survival < 1)
    np.testing.assert_allclose(c.lower[ok], ci[ok, 0], rtol=1e-9)
    np.testing.assert_allclose(c.upper[ok], ci[ok, 1], rtol=1e-9)


def test_cdisc_pilot_adtte_matches_lifelines() -> None:
    import pyreadstat

    df, _ = pyreadstat.read_xport(str(DATA / "cdisc_pilot" / "adam" / "adtte.xpt"))
    df = df[(df.PARAMCD == "TTDE") & (df.SAFFL == "Y")]
    event = 1 - df.CNSR.to_numpy()
    fit = kaplan_meier(df.AVAL, event, strata=df.TRTA)
    assert fit.labels == ("Placebo", "Xanomeline High Dose", "Xanomeline Low Dose")
    assert sum(c.n for c in fit) == len(df)
    for c in fit:
        sub = df[df.TRTA.eq(c.label)]
        kmf = KaplanMeierFitter().fit(sub.AVAL, 1 - sub.CNSR)
        np.testing.assert_allclose(
            c.survival, kmf.survival_function_.loc[c.time, "KM_estimate"], rtol=1e-12
        )
        ci = kmf.confidence_interval_.loc[c.time].to_numpy()
        ok = (c.survival > 0) & (c.survival < 1)
        np.testing.assert_allclose(c.lower[ok], ci[ok, 0], rtol=1e-9)
        np.testing.assert_allclose(c.upper[ok], ci[ok, 1], rtol=1e-9)
        # lifelines' median: first time S <= 0.5; equal to R's unless S hits 0.5 exactly.
        lifelines_median = kmf.median_survival_time_
        if c.median.estimate is None:
            assert math.isinf(lifelines_median)
        elif not np.any(np.isclose(c.survival, 0.5)):
            assert c.median.estimate == lifelines_median


def test_all_conf_types_and_sas_names() -> None:
    pairs = {
        "LOGLOG": "log-log",
        "log-log": "log-log",
        "LOG": "log",
        "LINEAR": "plain",
        "plain": "plain",
        "LOGIT": "logit",
        "ASINSQRT": "arcsin",
        "Arcsin": "arcsin",
    }
    for name, want in pairs.items():
        assert normalize_conf_type(name) == want
    c = {
        ct: kaplan_meier(AML_MAINT_T, AML_MAINT_E, conf_type=ct).curves[0]
        for ct in ("LOGLOG", "LOG", "LINEAR", "LOGIT", "ASINSQRT")
    }
    for curve in c.values():
        ok = ~np.isnan(curve.lower)
        assert np.all(curve.lower[ok] <= curve.survival[ok] + 1e-12)
        assert np.all(curve.upper[ok] >= curve.survival[ok] - 1e-12)
        assert np.all((curve.lower[ok] >= 0) & (curve.upper[ok] <= 1))
    # Plain at t = 9 by hand: 0.9091 -+ 1.96 * 0.0867, upper clipped at 1.
    s, se = 10 / 11, (10 / 11) * math.sqrt(1 / 110)
    assert c["LINEAR"].lower[0] == pytest.approx(s - 1.959963984540054 * se)
    assert c["LINEAR"].upper[0] == 1.0
    # Logit at t = 9 by hand.
    lg = math.log(s / (1 - s))
    w = 1.959963984540054 * math.sqrt(1 / 110) / (1 - s)
    assert c["LOGIT"].lower[0] == pytest.approx(1 / (1 + math.exp(-(lg - w))))
    # Arcsine-square root at t = 9 by hand.
    a = math.asin(math.sqrt(s))
    w = 0.5 * 1.959963984540054 * math.sqrt(1 / 110) * math.sqrt(s / (1 - s))
    assert c["ASINSQRT"].lower[0] == pytest.approx(math.sin(a - w) ** 2)


def test_from_counts_equals_patient_level() -> None:
    lung = _lung()
    a = kaplan_meier(lung.time, lung.status, strata=lung.sex, conf_type="log")
    agg = (
        lung.assign(d=lung.status, c=1 - lung.status)
        .groupby(["sex", "time"], as_index=False)[["d", "c"]]
        .sum()
    )
    b = kaplan_meier_from_counts(agg.time, agg.d, agg.c, strata=agg.sex, conf_type="log")
    for x, y in zip(a, b, strict=True):
        assert x.label == y.label
        np.testing.assert_array_equal(x.time, y.time)
        np.testing.assert_array_equal(x.survival, y.survival)
        np.testing.assert_array_equal(x.lower, y.lower)
        assert x.median == y.median


def test_integer_float_and_continuous_paths_agree() -> None:
    lung = _lung()
    ints = kaplan_meier(lung.time.to_numpy(np.int64), lung.status).curves[0]
    floats = kaplan_meier(lung.time.to_numpy(np.float64), lung.status).curves[0]
    shifted = kaplan_meier(lung.time.to_numpy(np.float64) + 0.5, lung.status).curves[0]
    np.testing.assert_array_equal(ints.survival, floats.survival)
    np.testing.assert_array_equal(ints.survival, shifted.survival)
    np.testing.assert_array_equal(ints.time + 0.5, shifted.time)


def test_n_risk_at_and_survival_at() -> None:
    c = kaplan_meier(AML_MAINT_T, AML_MAINT_E).curves[0]
    assert c.n_risk_at([0, 9, 10, 161, 200]).tolist() == [11, 11, 10, 1, 0]
    at = c.survival_at([0, 8.9, 9])
    assert at[0].survival == 1.0 and at[0].lower == 1.0
    assert at[2].survival == pytest.approx(10 / 11)


def test_quantile_arbitrary_probability_and_name() -> None:
    c = kaplan_meier(AML_MAINT_T, AML_MAINT_E).curves[0]
    assert c.quantile(0.05).estimate == 9.0  # 1 - S(9) = 1/11 >= 0.05
    assert c.quantile(0.1).estimate == 13.0  # 1 - S(9) < 0.1 <= 1 - S(13)
    assert c.median.name == "median" and c.quantile(0.1).name == "10th percentile"
    with pytest.raises(StatsInputError):
        c.quantile(1.0)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"time": [1.0, -2.0, -3.0], "event": [1, 1, 0]}, "2 rows with a negative time"),
        ({"time": [1.0, float("nan")], "event": [1, 1]}, "1 row with a missing (NaN) time"),
        ({"time": [1, 2, 3], "event": [1, 2, 5]}, "2 rows with a event code outside {0, 1}"),
        ({"time": [1, 2, 3], "event": [1, 0]}, "arrays of different lengths"),
        ({"time": [], "event": []}, "no rows"),
    ],
)
def test_bad_input_names_problem_and_count(kwargs: dict[str, list[float]], fragment: str) -> None:
    with pytest.raises(StatsInputError) as err:
        kaplan_meier(kwargs["time"], kwargs["event"])
    assert fragment in str(err.value)


def test_bad_conf_type_empty_stratum_and_counts() -> None:
    with pytest.raises(StatsInputError, match="unknown confidence interval type"):
        kaplan_meier([1, 2], [1, 1], conf_type="probit")
    with pytest.raises(StatsInputError, match="empty stratum 'C': 0 rows"):
        kaplan_meier([1, 2], [1, 1], strata=["A", "B"], levels=["A", "B", "C"])
    with pytest.raises(StatsInputError, match="empty stratum"):
        kaplan_meier_from_counts([1, 2], [0, 1], [0, 1], strata=["A", "B"])
    with pytest.raises(StatsInputError, match="not a count"):
        kaplan_meier_from_counts([1, 2], [-1, 1], [0, 1])
    with pytest.raises(StatsInputError, match="confidence level"):
        kaplan_meier([1, 2], [1, 1], conf_level=95)
    with pytest.raises(StatsInputError, match="unknown convention"):
        kaplan_meier([1, 2], [1, 1], convention="STATA")


def test_all_censored_gives_ne_median_with_reason() -> None:
    c = kaplan_meier([3, 5, 8], [0, 0, 0]).curves[0]
    assert np.all(c.survival == 1.0)
    assert c.median.estimate is None
    assert c.median.estimate_reason == "median not reached"
    assert c.median.lower is None and c.median.lower_reason == "lower limit not reached"


def test_veteran_matches_r_survfit() -> None:
    # R: survfit(Surv(time, status) ~ trt, data = veteran)
    #   trt=1 69 64 103.0 59 132 ; trt=2 68 64 52.5 44 95
    # R: survfit(Surv(time, status) ~ 1, data = veteran): 137 128 80 52 105
    # (veteran: Kalbfleisch and Prentice's VA lung cancer trial, R survival.)
    v = pd.read_csv(DATA / "survival" / "veteran.csv")
    fit = kaplan_meier(v.time, v.status, strata=v.trt, conf_type="log")
    got = [(c.n, c.events, c.median.estimate, c.median.lower, c.median.upper) for c in fit]
    assert got == [(69, 64, 103, 59, 132), (68, 64, 52.5, 44, 95)]
    both = kaplan_meier(v.time, v.status, conf_type="log").curves[0]
    assert (both.n, both.events, both.median.estimate) == (137, 128, 80)
    assert (both.median.lower, both.median.upper) == (52, 105)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 30), st.integers(0, 1), st.sampled_from(["x", "y"])),
        min_size=1,
        max_size=60,
    )
)
def test_from_counts_equals_rows_on_generated_data(data: list[tuple[int, int, str]]) -> None:
    df = pd.DataFrame(data, columns=["t", "e", "s"])
    a = kaplan_meier(df.t, df.e, strata=df.s)
    agg = df.assign(c=1 - df.e).groupby(["s", "t"], as_index=False)[["e", "c"]].sum()
    b = kaplan_meier_from_counts(agg.t, agg.e, agg.c, strata=agg.s)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.survival, y.survival)
        np.testing.assert_array_equal(x.n_censor, y.n_censor)
        assert (x.q1, x.median, x.q3) == (y.q1, y.median, y.q3)


def test_hosmer_lemeshow_table_2_2_matches_sas_lifetest() -> None:
    # SAS PROC LIFETEST output for Hosmer, Lemeshow and May, Applied Survival
    # Analysis, Table 2.2 (UCLA OARC "Applied Survival Analysis, chapter 2"):
    #   time 6: 0.8000 SE 0.1789; 14: 0.6000 SE 0.2191; 21*: censored;
    #   44: 0.3000 SE 0.2387; 62: 0 (SAS prints SE 0 there; eap, like R, reports
    #   the standard error at S = 0 as not estimable).
    c = kaplan_meier([6, 44, 21, 14, 62], [1, 1, 0, 1, 1], convention="SAS").curves[0]
    assert c.time.tolist() == [6, 14, 21, 44, 62]
    np.testing.assert_allclose(c.survival, [0.8, 0.6, 0.6, 0.3, 0.0], atol=1e-12)
    np.testing.assert_allclose(c.std_err[[0, 1, 3]], [0.1789, 0.2191, 0.2387], atol=5e-5)
    (end,) = c.survival_at([62])
    assert end.survival == 0.0 and end.std_err is None


# --- landmarks on both sides of the last observed time --------------------------------


def _r_landmarks() -> list[tuple[str, float, int, list[float]]]:
    """survival/mm024_landmarks.out (R summary.survfit(times, extend = TRUE), log-log)."""
    rows = []
    for line in (DATA / "survival" / "mm024_landmarks.out").read_text().splitlines():
        parts = line.split()
        if parts and parts[0] in ("OS", "PFS"):
            rows.append((parts[0], float(parts[1]), int(parts[2]), [float(x) for x in parts[3:]]))
    return rows


@pytest.mark.parametrize("convention", ["R", "SAS"])
def test_landmarks_at_and_just_after_the_last_observation(convention: str) -> None:
    from eap.stats.km import BEYOND_FOLLOW_UP, CARRIED_FORWARD

    d = pd.read_csv(DATA / "survival" / "mm024_pfs_os.csv")
    rows = _r_landmarks()
    assert len(rows) == 8
    for paramcd in ("OS", "PFS"):
        x = d[d["PARAMCD"].eq(paramcd)]
        curve = kaplan_meier(x.AVAL, 1 - x.CNSR, convention=convention).curves[0]
        last = float(x.AVAL.max())
        mine = [r for r in rows if r[0] == paramcd]
        times = [r[1] for r in mine]
        assert times[1] == last and times[2] > last  # at it, just after it
        for (_, t, n_risk, (surv, se, lo, hi)), at in zip(
            mine, curve.survival_at(times), strict=True
        ):
            assert at.n_risk == n_risk
            if t <= last or convention == "R":
                assert at.survival == pytest.approx(surv, rel=1e-12)
                assert (at.std_err or 0.0) == pytest.approx(se, rel=1e-10, abs=1e-15)
                assert at.lower == pytest.approx(lo, rel=1e-10)
                assert at.upper == pytest.approx(hi, rel=1e-10)
                assert at.reason == (CARRIED_FORWARD if t > last else None)
            else:  # SAS after the last observation: not estimable
                assert n_risk == 0
                assert (at.survival, at.std_err, at.lower, at.upper) == (None,) * 4
                assert at.reason == BEYOND_FOLLOW_UP

"""Clopper-Pearson and Wilson intervals against closed forms, R outputs and scipy."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from eap.errors import StatsInputError
from eap.stats import clopper_pearson, wilson


def test_clopper_pearson_closed_forms_at_the_edges() -> None:
    # x = 0: upper = 1 - (a/2)^(1/n); x = n: lower = (a/2)^(1/n) (exact by hand).
    r0 = clopper_pearson(0, 10)
    assert r0.lower == 0.0 and r0.upper == pytest.approx(1 - 0.025 ** (1 / 10), rel=1e-12)
    rn = clopper_pearson(10, 10)
    assert rn.upper == 1.0 and rn.lower == pytest.approx(0.025 ** (1 / 10), rel=1e-12)


def test_clopper_pearson_matches_r_binom_test() -> None:
    # R: binom.test(3, 10)$conf.int -> 0.06673951 0.65245285
    r = clopper_pearson(3, 10)
    assert (round(r.lower, 8), round(r.upper, 8)) == (0.06673951, 0.65245285)
    assert r.method == "clopper-pearson" and r.conf_level == 0.95


def test_wilson_matches_r_prop_test_without_correction() -> None:
    # R: prop.test(3, 10, correct = FALSE)$conf.int -> 0.1077913 0.6032219
    r = wilson(3, 10)
    assert (round(r.lower, 7), round(r.upper, 7)) == (0.1077913, 0.6032219)
    # Hand formula.
    z, p, n = 1.959963984540054, 0.3, 10
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert r.lower == pytest.approx(centre - half) and r.upper == pytest.approx(centre + half)
    assert wilson(0, 5).lower == 0.0 and wilson(5, 5).upper == 1.0


@settings(deadline=None)
@given(st.integers(1, 400).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_both_match_scipy(xn: tuple[int, int]) -> None:
    x, n = xn
    ref = binomtest(x, n)
    cp, ex = clopper_pearson(x, n), ref.proportion_ci(method="exact")
    assert cp.lower == pytest.approx(ex.low, abs=1e-9)
    assert cp.upper == pytest.approx(ex.high, abs=1e-9)
    w, wr = wilson(x, n), ref.proportion_ci(method="wilson")
    assert w.lower == pytest.approx(wr.low, abs=1e-12)
    assert w.upper == pytest.approx(wr.high, abs=1e-12)
    assert cp.lower <= cp.estimate <= cp.upper and w.lower <= w.estimate <= w.upper


def test_bad_counts() -> None:
    with pytest.raises(StatsInputError, match="between 0 and the denominator"):
        clopper_pearson(11, 10)
    with pytest.raises(StatsInputError, match="denominator of at least 1"):
        wilson(0, 0)
    assert clopper_pearson(1, 4, conf_level=0.9).conf_level == 0.9

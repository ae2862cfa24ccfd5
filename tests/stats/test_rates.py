"""Crude incidence, EAIR with exact Poisson CI, incidence by treatment-time interval."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import gamma

from eap.errors import StatsInputError
from eap.stats import (
    crude_incidence,
    exposure_adjusted_incidence_rate,
    incidence_by_interval,
    poisson_rate,
    time_at_risk,
)


def test_crude_incidence() -> None:
    c = crude_incidence(13, 52)
    assert (c.n, c.denominator, c.percent) == (13, 52, 25.0)
    assert crude_incidence(0, 0).percent is None
    with pytest.raises(StatsInputError):
        crude_incidence(5, 4)


def test_poisson_interval_against_gamma_form_and_rule_of_3_69() -> None:
    # Zero events: upper = qchisq(0.975, 2) / 2 / T = -log(0.025) / T = 3.689 / T.
    r0 = poisson_rate(0, 100.0)
    assert r0.rate == 0.0 and r0.lower == 0.0
    assert r0.upper == pytest.approx(-np.log(0.025) / 100.0 * 100, rel=1e-12)
    # Equivalent gamma form: [Gamma^-1(a/2; x), Gamma^-1(1 - a/2; x + 1)] / T.
    r = poisson_rate(12, 345.6)
    assert r.rate == pytest.approx(12 / 345.6 * 100)
    assert r.lower == pytest.approx(gamma.ppf(0.025, 12) / 345.6 * 100, rel=1e-10)
    assert r.upper == pytest.approx(gamma.ppf(0.975, 13) / 345.6 * 100, rel=1e-10)
    assert poisson_rate(3, 0.0).rate is None


def test_eair_uses_time_to_first_event() -> None:
    # Four subjects (years): exposed 2.0, 1.0, 0.5, 3.0; first events at 0.25 and 1.5.
    exposure = [2.0, 1.0, 0.5, 3.0]
    first = [0.25, np.nan, np.nan, 1.5]
    tar = time_at_risk(exposure, first)
    np.testing.assert_array_equal(tar, [0.25, 1.0, 0.5, 1.5])
    r = exposure_adjusted_incidence_rate([1, 0, 0, 1], tar)
    assert r.events == 2 and r.time_at_risk == pytest.approx(3.25)
    assert r.rate == pytest.approx(2 / 3.25 * 100)
    assert "exposure-adjusted incidence rate" in r.method


def test_incidence_by_interval_by_hand() -> None:
    # Months. Subject: (first onset, exposure)
    #   A: onset 2, exp 20   -> onset in 0-6
    #   B: none,    exp 5    -> at risk 0-6 only
    #   C: onset 8, exp 30   -> at risk 0-6, 6-12; onset in 6-12
    #   D: none,    exp 30   -> at risk in every interval
    #   E: onset 26, exp 28  -> at risk everywhere, onset in >24
    onset = [2, np.nan, 8, np.nan, 26]
    exposure = [20, 5, 30, 30, 28]
    rows = incidence_by_interval(onset, exposure, [0, 6, 12, 24])
    got = [(r.start, r.end, r.n_at_risk, r.n_onset) for r in rows]
    assert got == [(0, 6, 5, 1), (6, 12, 3, 1), (12, 24, 2, 0), (24, None, 2, 1)]
    assert rows[0].percent == 20.0 and rows[3].percent == 50.0


def test_interval_bad_boundaries() -> None:
    with pytest.raises(StatsInputError, match="increasing"):
        incidence_by_interval([1.0], [2.0], [0, 6, 6])

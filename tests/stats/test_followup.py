"""Median follow-up by reverse Kaplan-Meier and by median observation time."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from lifelines import KaplanMeierFitter

from eap.stats import kaplan_meier, median_follow_up_reverse_km, median_observation_time

DATA = Path(__file__).resolve().parents[1] / "data" / "survival"


def test_reverse_km_equals_km_of_swapped_indicator() -> None:
    lung = pd.read_csv(DATA / "lung.csv")
    fu = median_follow_up_reverse_km(lung.time, lung.status, conf_type="log")
    ref = kaplan_meier(lung.time, 1 - lung.status, conf_type="log").curves[0].median
    assert fu.method == "reverse Kaplan-Meier"
    assert (fu.median, fu.lower, fu.upper) == (ref.estimate, ref.lower, ref.upper)
    # lifelines on the reversed indicator gives the same median (no exact-0.5 flat here).
    kmf = KaplanMeierFitter().fit(lung.time, 1 - lung.status)
    assert fu.median == kmf.median_survival_time_
    assert fu.conf_type == "log" and fu.n == 228


def test_hand_example() -> None:
    # Times 1..6; deaths at 1, 2; censored at 3, 4, 5, 6.
    # Reverse KM: "events" at 3, 4, 5, 6 with 4, 3, 2, 1 at risk -> G = .75, .5, ...
    # G(4) = 0.5 exactly, so R's rule gives the midpoint (4 + 5) / 2 = 4.5.
    fu = median_follow_up_reverse_km([1, 2, 3, 4, 5, 6], [1, 1, 0, 0, 0, 0])
    assert fu.median == 4.5
    simple = median_observation_time([1, 2, 3, 4, 5, 6])
    assert simple.method == "median observation time" and simple.median == 3.5
    assert simple.lower is None


def test_no_censoring_means_follow_up_not_reached() -> None:
    fu = median_follow_up_reverse_km([1, 2, 3], [1, 1, 1])
    assert fu.median is None and fu.reason == "median follow-up not reached"

"""Calibration of the protocol model: determinism, the moment equations, coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from eap.protocol import load_protocol
from eap.simulate.calibrate import (
    _solve,
    calibrate,
    compass_search,
    course_statistics,
    course_targets,
    loss,
    modification_statistics,
    modification_targets,
    pfs,
    simulate_parent,
)
from eap.simulate.coverage import coverage_table
from eap.simulate.model import Patient, calibrated


def test_bisection_solves_the_incidence_equation_by_hand() -> None:
    """Ten cycles each: 1 - (1 - p)^10 = 0.5 gives p = 1 - 0.5^(1/10) = 0.0669670."""
    cycles = np.full(5, 10.0)
    p = _solve(lambda q: float(np.mean(1 - (1 - q) ** cycles)), 0.5)
    assert p == pytest.approx(1 - 0.5 ** (1 / 10), abs=1e-9)
    assert _solve(lambda q: q, -0.1) == 0.0  # below what p = 0 gives
    assert _solve(lambda q: q, 2.0) == 1.0  # beyond what p = hi gives


def test_compass_search_walks_a_step_function_down_to_its_floor_within_the_bounds() -> None:
    """floor(10 |x - 0.37|) + floor(10 |y + 0.52|) is 0 only on the square
    (0.27, 0.47) x (-0.62, -0.42); y's bound -0.45 leaves (-0.45, -0.42) of it."""

    def f(x: np.ndarray) -> float:
        return float(math.floor(10 * abs(x[0] - 0.37)) + math.floor(10 * abs(x[1] + 0.52)))

    lower, upper = np.asarray([-1.0, -0.45]), np.asarray([1.0, 1.0])
    x, value = compass_search(f, np.asarray([0.9, 0.9]), lower, upper, rounds=12)
    assert value == 0.0
    assert 0.27 < x[0] < 0.47 and -0.45 <= x[1] < -0.42
    # A start already at the floor stays there.
    same, v0 = compass_search(f, np.asarray([0.37, -0.44]), lower, upper, rounds=3)
    assert v0 == 0.0 and list(same) == [0.37, -0.44]


def test_loss_is_the_sum_of_squared_standardised_differences() -> None:
    targets = {"a": (41.0, math.sqrt(41.0)), "b": (36.0, 2.0)}
    # (45 - 41)^2 / 41 + (33 - 36)^2 / 4 = 16 / 41 + 9 / 4
    assert loss({"a": 45.0, "b": 33.0}, targets) == pytest.approx(16 / 41 + 9 / 4)


@pytest.mark.parametrize(
    ("pd_day", "death_day", "expected"),
    [
        (400, None, (400.0, 1)),  # documented progression
        (None, 300 + 63, (363.0, 1)),  # death 63 days after the last assessment: an event
        (None, 300 + 64, (300.0, 0)),  # 64 days: censored at the last assessment
    ],
)
def test_pfs_statistic_follows_the_adtte_rules(
    pd_day: int | None, death_day: int | None, expected: tuple[float, int]
) -> None:
    import datetime as dt

    p = Patient(0, dt.date(2011, 1, 1), 0, 25.0, 1, False, pd_day=pd_day, stop_day=300)
    p.death_day = death_day
    assert pfs(p) == expected


def test_mm021_pfs_target_is_the_published_median_with_the_ci_as_sd() -> None:
    """MM-021: median PFS 8.3 months (95% CI 6.5-9.8), so sd = 3.3 / 3.92 = 0.8418."""
    assert course_targets()["pfs_median_mm021"] == pytest.approx((8.3, 0.841837), abs=1e-6)


def test_modification_categories_count_patients_by_their_actions() -> None:
    """Two cohorts: an interruption only (TC), a reduction only (SFU), both (TC) and
    neither (SFU) in each: per cohort 1 in each safety category; the treatment
    cohort has the interruption only and the both."""
    import datetime as dt

    from eap.simulate.model import AeEpisode

    def patient(group: str, actions: list[str]) -> Patient:
        p = Patient(0, dt.date(2011, 1, 1), 0, 25.0, 1, False, group=group)
        p.episodes = [AeEpisode("Neutropenia", 3, 10, 20, False, True, a) for a in actions]
        return p

    one = [
        patient("TC", ["DRUG INTERRUPTED"]),
        patient("SFU", ["DOSE REDUCED"]),
        patient("TC", ["DOSE REDUCED", "DRUG INTERRUPTED"]),
        patient("SFU", ["DOSE NOT CHANGED"]),
    ]
    stats = modification_statistics(one + one, cohorts=2)
    assert stats == {
        "safety.interruption": 1.0,
        "safety.reduction": 1.0,
        "safety.interruption_and_reduction": 1.0,
        "treatment_cohort.interruption": 1.0,
        "treatment_cohort.reduction": 0.0,
        "treatment_cohort.interruption_and_reduction": 1.0,
    }
    # Published: safety 34 / 6 / 15, treatment cohort 17 / 6 / 6 (sd sqrt(n)).
    assert modification_targets()["safety.interruption"] == (34.0, pytest.approx(math.sqrt(34)))
    assert modification_targets()["treatment_cohort.reduction"][0] == 6.0


def test_calibration_is_deterministic_for_a_seed() -> None:
    """A small run twice: the same parameters and loss to the last digit."""
    a = calibrate(seed=7, replicates=1, scale=1, generations=1)
    b = calibrate(seed=7, replicates=1, scale=1, generations=1)
    assert a == b
    assert set(a["targets"]) == set(course_targets())


def test_committed_parameters_are_the_calibrations_output() -> None:
    """The committed file says how it was made, and its loss is what its parameters give."""
    import json
    from importlib import resources

    doc = json.loads(resources.files("eap.data").joinpath("mm024_model.json").read_text())
    proc = doc["procedure"]
    from eap.simulate.calibrate import mean_statistics

    seeds = [proc["seed"] * 1000 + r for r in range(proc["replicates"])]
    stats = mean_statistics(calibrated(), load_protocol(), seeds, proc["scale"])
    assert loss(stats, course_targets()) == pytest.approx(doc["loss"], abs=1e-4)


# In 50 cohorts the safety population's median PFS lies just above the published 13.8
# (2.5th percentile 13.83); over 200 report cohorts it is covered neither (docs).
KNOWN_MISSES = {"pfs_median_safety"}
KEY_NUMBERS = (
    "n_treatment_cohort",
    "n_safety_follow_up",
    "tc_on_rd",
    "tc_stopped_progression",
    "tc_stopped_death",
    "tc_stopped_lost",
    "deaths_safety",
    "deaths_treatment_cohort",
    "tc_over_108_weeks",
    "pfs_median_treatment_cohort",
    "pfs_median_safety",
    "follow_up_median_safety",
)


def test_key_published_numbers_lie_in_the_central_95_percent_of_50_cohorts() -> None:
    """A reduced coverage check (docs/virtual-cohort.md has the full one): 50
    protocol-model cohorts of scale 1, the course's key numbers, each published value
    within the 2.5th-97.5th percentile of the simulated ones."""
    protocol = load_protocol()
    targets = course_targets()
    runs = []
    for seed in range(1, 51):
        stats = course_statistics(simulate_parent(calibrated(), protocol, seed, 1), 1)
        runs.append({k: (targets[k][0], stats[k]) for k in KEY_NUMBERS})
    table = coverage_table(runs)
    missed = set(table.filter(~table["covered"])["id"].to_list())
    # The numbers the calibrated model does not yet reach (docs/virtual-cohort.md,
    # "Coverage"); any other miss is a regression.
    assert missed <= KNOWN_MISSES, sorted(missed - KNOWN_MISSES)
    assert len(missed) <= len(KNOWN_MISSES)


def test_coverage_quantiles_are_rs_type_7_and_ne_sorts_above_every_number() -> None:
    """R: quantile(1:40, c(0.025, 0.975)) gives 1.975 and 39.025."""
    runs = [{"x": (20, float(v))} for v in range(1, 41)]
    row = coverage_table(runs).row(0, named=True)
    assert row["p2_5"] == pytest.approx(1.975) and row["p97_5"] == pytest.approx(39.025)
    assert row["covered"]
    # 2 of 40 not estimable: the 97.5% quantile is NE, so a published NE is covered ...
    runs = [{"x": ("NE", float(v))} for v in range(1, 39)] + [{"x": ("NE", math.inf)}] * 2
    assert coverage_table(runs).row(0, named=True)["covered"]
    # 39 numbers and one NE: the 97.5% quantile (h = 38.025) leans towards the NE, so it is NE.
    runs = [{"x": (20, float(v))} for v in range(1, 40)] + [{"x": (20, math.inf)}]
    assert math.isinf(coverage_table(runs).row(0, named=True)["p97_5"])
    # ... and with none, it is not.
    runs = [{"x": ("NE", float(v))} for v in range(1, 41)]
    assert not coverage_table(runs).row(0, named=True)["covered"]

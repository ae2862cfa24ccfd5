"""The protocol model (eap.simulate.model): timelines, rules of the protocol, rollover."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from eap.datasets.timeline import check_timelines
from eap.protocol import load_protocol, treatment_eligible_from
from eap.simulate.course import CUTOFF, EAP_START
from eap.simulate.model import (
    EARLY_RELAPSE_DAYS,
    PARENT_N,
    ModelParams,
    Patient,
    TermRates,
    _documentation_day,
    ae_weight,
    calibrated,
    simulate_course,
    simulate_dosing,
    simulate_parent_trial,
)
from eap.simulate.model_cohort import simulate_model


@pytest.mark.parametrize("seed", range(1, 21))
def test_protocol_model_cohort_has_no_timeline_findings(seed: int) -> None:
    """Every rule of eap.datasets.timeline holds in a protocol-model cohort (scale 1)."""
    findings = check_timelines(simulate_model(seed, 1))
    assert [f.message for f in findings] == []


@pytest.mark.parametrize("seed", range(1, 21))
def test_protocol_model_cohort_at_scale_10_has_no_timeline_findings(seed: int) -> None:
    findings = check_timelines(simulate_model(seed, 10))
    assert [f.message for f in findings] == []


def test_same_seed_same_cohort_and_another_seed_another() -> None:
    a, b, c = simulate_model(5, 1), simulate_model(5, 1), simulate_model(6, 1)
    assert all(a[k].frame.equals(b[k].frame) for k in a)
    assert not a["DM"].frame.equals(c["DM"].frame)


def test_scale_k_simulates_k_times_the_parent_trial_not_copies() -> None:
    """At scale 3 the 597 MM-021 patients are independent: no two EAP patients share
    their first dose, last dose and death (copies would)."""
    protocol = load_protocol()
    everyone = simulate_parent_trial(calibrated(), protocol, np.random.default_rng(8), 3)
    assert len(everyone) == 3 * PARENT_N
    eap = [p for p in everyone if p.group is not None]
    keys = [(p.trtsdt, p.stop_day, p.death_day, p.pd_day) for p in eap]
    assert len(set(keys)) > 0.9 * len(keys)


@pytest.mark.parametrize(
    ("t_pd", "day"),
    [(1.0, 29), (28.9, 29), (29.0, 29), (29.1, 57), (57.0, 57), (57.5, 85)],
)
def test_progression_is_documented_at_the_next_scheduled_assessment(t_pd: float, day: int) -> None:
    """Assessments on day 1 of each 28-day cycle from cycle 2: days 29, 57, 85, ..."""
    assert _documentation_day(t_pd, load_protocol().regimen.cycle_days) == day


def _courses(params: ModelParams, n: int = 600, seed: int = 3) -> list[Patient]:
    protocol = load_protocol()
    rng = np.random.default_rng(seed)
    return [simulate_course(i, params, protocol, rng) for i in range(n)]


def test_treatment_phase_needs_a_year_of_rd_progression_free_and_on_rd() -> None:
    """The protocol decides (eap.protocol.decide_rollover): every Treatment Phase
    patient consented on or after the anniversary of the first dose, was on Rd then
    and had no documented progression before it."""
    tc = [p for p in _courses(calibrated()) if p.group == "TC"]
    assert tc
    protocol = load_protocol()
    for p in tc:
        assert p.consent_day is not None
        consent = p.date(p.consent_day)
        assert consent >= treatment_eligible_from(protocol, p.trtsdt)
        assert consent >= EAP_START
        assert p.stop_day is None or p.stop_day >= p.consent_day
        assert p.pd_day is None or p.pd_day > p.consent_day


def test_safety_follow_up_patients_stopped_rd_before_entering_and_were_alive() -> None:
    sfu = [p for p in _courses(calibrated()) if p.group == "SFU"]
    assert sfu
    for p in sfu:
        assert p.stop_day is not None and p.sfu_day is not None
        assert p.stop_day < p.sfu_day
        assert p.death_day is None or p.death_day > p.sfu_day
        assert p.stop_reason != "ADVERSE EVENT"  # a stop for toxicity excludes


def test_nobody_enters_the_eap_without_consent() -> None:
    params = calibrated().with_values(consent_treatment=0.0, consent_follow_up=0.0)
    assert all(p.group is None for p in _courses(params, 300))


def test_death_stops_rd_the_day_before_and_the_end_of_treatment_is_the_death() -> None:
    for p in _courses(calibrated()):
        if p.stop_reason == "DEATH":
            assert p.death_day is not None
            assert p.stop_day == p.death_day - 1 or p.stop_day == 1
            assert p.eot_day == p.death_day


def _post_progression_deaths(**rates: float) -> list[Patient]:
    """MM-021 patients who die only after a progression, at the given hazards."""
    params = calibrated().with_values(death_before_pd=0.0, **rates)
    rng = np.random.default_rng(3)
    everyone = [simulate_course(i, params, load_protocol(), rng) for i in range(2000)]
    return [p for p in everyone if p.death_day is not None and p.pd_day is not None]


def test_survival_after_an_early_relapse_has_its_own_hazard() -> None:
    """A latent progression by day 365 (documented by the assessment on day 365 =
    1 + 28 x 13) is an early relapse; a later one is found on day 393 or after."""
    assert EARLY_RELAPSE_DAYS == 365
    early_only = _post_progression_deaths(death_after_pd=0.0, death_after_early_pd=2.0)
    assert early_only and max(p.pd_day or 0 for p in early_only) <= 365
    late_only = _post_progression_deaths(death_after_pd=2.0, death_after_early_pd=0.0)
    assert late_only and min(p.pd_day or 0 for p in late_only) >= 393


def _one_patient_dosing(terms: dict[str, TermRates], seed: int = 1, **values: float) -> Patient:
    """A Treatment Phase patient on 25 mg for 10 cycles, then stopped."""
    protocol = load_protocol()
    p = Patient(
        index=0,
        trtsdt=dt.date(2011, 1, 3),
        enrl_offset=0,
        start_dose=25.0,
        step=1,
        responder=True,
        stop_day=280,
        stop_reason="PROGRESSIVE DISEASE",
        group="TC",
    )
    params = ModelParams(terms=terms).with_values(**values)
    simulate_dosing(p, params, protocol, np.random.default_rng(seed))
    return p


def test_without_adverse_events_every_planned_day_is_dosed_at_full_dose() -> None:
    """10 cycles of 28 days: lenalidomide days 1-21 (210 doses), dexamethasone days
    1, 8, 15, 22 (40 doses)."""
    p = _one_patient_dosing({})
    assert len(p.len_days) == 210 and not any(p.held) and p.reductions == []
    assert len(p.dex_days) == 40
    assert p.len_days[:3].tolist() == [0, 1, 2] and p.len_days[21] == 28  # cycle 2 on day 29


def test_a_related_grade_3_4_toxicity_interrupts_and_resumes_one_rung_lower() -> None:
    """Thrombocytopenia every cycle, always related: each episode on a dosing day
    holds lenalidomide; reductions walk down the ladder 25 -> 20 -> 15 -> ..."""
    p = _one_patient_dosing({"Thrombocytopenia": TermRates(0.0, 1.0, 0.0, 1.0, 0.0)})
    reduced = [e for e in p.episodes if e.action == "DOSE REDUCED"]
    assert reduced and all(e.grade in (3, 4) for e in reduced)
    assert len(p.reductions) == len(reduced)
    assert len(p.reductions) <= 5  # 25 -> 2.5 is five rungs
    assert any(p.held)


def test_with_reduce_share_0_a_related_grade_3_4_toxicity_only_interrupts() -> None:
    """The investigator resumes at the same dose after every hold."""
    p = _one_patient_dosing(
        {"Thrombocytopenia": TermRates(0.0, 1.0, 0.0, 1.0, 0.0)}, reduce_share=0.0
    )
    assert p.reductions == [] and any(p.held)
    assert {e.action for e in p.episodes} <= {"DRUG INTERRUPTED", "DOSE NOT CHANGED"}
    assert any(e.action == "DRUG INTERRUPTED" for e in p.episodes)


def test_ae_weight_falls_hyperbolically_with_the_cycle() -> None:
    assert ae_weight(1, 4.0) == 1.0  # 4 / (4 + 0)
    assert ae_weight(5, 4.0) == 0.5  # 4 / (4 + 4)
    assert ae_weight(13, 4.0) == 0.25  # 4 / (4 + 12)
    assert ae_weight(40, float("inf")) == 1.0
    assert list(ae_weight(np.asarray([1, 3]), 2.0)) == [1.0, 0.5]


def test_aes_fall_with_time_on_rd_when_ae_cycles_is_finite() -> None:
    """Grade 1-2 cough certain in cycle 1: with a very steep decline it occurs in cycle 1
    only (days 1-28); without a decline, in every one of the 10 cycles."""
    cough = {"Cough": TermRates(1.0, 0.0, 0.0, 0.2, 0.0)}
    steep = _one_patient_dosing(cough, ae_cycles=1e-9)
    assert [e.start <= 28 for e in steep.episodes] == [True]
    flat = _one_patient_dosing(cough)
    assert len(flat.episodes) == 10


def test_the_first_neutropenia_resumes_at_the_same_dose_later_ones_lower() -> None:
    """USPI: resume at the starting dose if neutropenia is the only toxicity, at the
    next lower dose for each subsequent drop."""
    p = _one_patient_dosing({"Neutropenia": TermRates(0.0, 1.0, 0.0, 1.0, 0.0)}, seed=4)
    episodes = sorted((e for e in p.episodes if e.grade >= 3), key=lambda e: e.start)
    assert episodes[0].action in ("DRUG INTERRUPTED", "DOSE NOT CHANGED")
    assert any(e.action == "DOSE REDUCED" for e in episodes[1:])


def test_unrelated_and_grade_1_2_events_without_action_change_nothing() -> None:
    p = _one_patient_dosing(
        {
            "Pneumonia": TermRates(0.0, 1.0, 1.0, 0.0, 0.0),
            "Cough": TermRates(1.0, 0.0, 0.0, 0.2, 0.0),
        }
    )
    assert p.episodes
    assert not any(p.held) and p.reductions == []
    assert {e.action for e in p.episodes} == {"DOSE NOT CHANGED"}


def test_grade_1_2_interruption_at_the_investigators_discretion_holds_one_to_five_days() -> None:
    p = _one_patient_dosing({"Fatigue": TermRates(1.0, 0.0, 0.0, 0.5, 1.0)})
    acted = [e for e in p.episodes if e.action == "DRUG INTERRUPTED"]
    assert acted and p.reductions == []
    assert 1 <= sum(p.held) <= 5 * len(acted)


def test_protocol_model_sdtm_has_the_eap_patients_and_their_phases() -> None:
    sd = simulate_model(11, 1)
    dm = sd["DM"].frame
    assert set(dm["ARMCD"].unique().to_list()) == {"TP", "SFU"}
    ex = sd["EX"].frame
    assert ex["USUBJID"].n_unique() == dm.height  # everyone took Rd
    last = ex.group_by("USUBJID").agg(pl.col("EXENDTC").max())
    assert all(d <= CUTOFF.isoformat() for d in last["EXENDTC"].to_list())


def test_a_stop_for_another_reason_keeps_the_models_reason_in_ds() -> None:
    """The protocol model's own reason (DCREASON) is written; without one (the exact
    mode) withdrawal or physician decision is drawn."""
    from eap.simulate.sdtm import OTHER_REASONS, _other_reason

    rng = np.random.default_rng(0)
    for reason in ("WITHDRAWAL BY SUBJECT", "PHYSICIAN DECISION"):
        assert {_other_reason({"DCREASON": reason}, rng) for _ in range(20)} == {(reason, reason)}
    assert {_other_reason({}, rng) for _ in range(50)} == set(OTHER_REASONS)


def test_safety_follow_up_table1_is_the_safety_population_minus_the_cohort() -> None:
    """By hand from Table 1: 80 - 41 = 39 patients, 52 - 25 = 27 men, 23 - 14 = 9 above
    65, 34 - 14 = 20 with five or more prior regimens; the cohort's own column for TC."""
    from eap.simulate.model_cohort import AGE_BANDS, group_counts

    sfu = group_counts("SFU")
    assert sfu["n"] == 39 and sfu["male"]["n"] == 27 and sfu["age_gt_65"]["n"] == 9
    assert sfu["prior_therapies_ge5"]["n"] == 20 and sfu["prior_therapies_max"] == 15
    assert group_counts("TC")["male"]["n"] == 25
    for group, n, above_65 in (("TC", 41, 14), ("SFU", 39, 9)):
        bands = AGE_BANDS[group]
        assert sum(c for c, _, _ in bands) == n
        assert sum(c for c, lo, _ in bands if lo > 65) == above_65
    # The two groups' bands add up to the safety population's 38 / 5 / 14 / 23.
    sums = [a[0] + b[0] for a, b in zip(AGE_BANDS["TC"], AGE_BANDS["SFU"], strict=True)]
    assert sums == [38, 5, 14, 23]


def test_baseline_is_drawn_from_each_patients_own_group() -> None:
    """Treatment-cohort ages stay within the cohort's published 47-74, the others within
    35-76; rows keep the order of the patients."""
    from eap.simulate.model_cohort import draw_baseline

    groups = ["TC", "SFU"] * 500
    base = draw_baseline(groups, np.random.default_rng(1))
    age = base["AGE"].to_numpy()
    tc, sfu = age[0::2], age[1::2]
    assert tc.min() == 47 and tc.max() == 74
    assert sfu.min() == 35 and sfu.max() == 76
    assert base["NPRIOR"].to_numpy()[0::2].max() <= 11

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
    PARENT_N,
    ModelParams,
    Patient,
    TermRates,
    _documentation_day,
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


@pytest.mark.parametrize("seed", [1, 2, 3])
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
    assert _documentation_day(t_pd) == day


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


def _one_patient_dosing(terms: dict[str, TermRates], seed: int = 1) -> Patient:
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
    simulate_dosing(p, ModelParams(terms=terms), protocol, np.random.default_rng(seed))
    return p


def test_without_adverse_events_every_planned_day_is_dosed_at_full_dose() -> None:
    """10 cycles of 28 days: lenalidomide days 1-21 (210 doses), dexamethasone days
    1, 8, 15, 22 (40 doses)."""
    p = _one_patient_dosing({})
    assert len(p.len_days) == 210 and not any(p.held) and p.reductions == []
    assert len(p.dex_days) == 40
    assert p.len_days[:3] == [0, 1, 2] and p.len_days[21] == 28  # cycle 2 on day 29


def test_a_related_grade_3_4_toxicity_interrupts_and_resumes_one_rung_lower() -> None:
    """Thrombocytopenia every cycle, always related: each episode on a dosing day
    holds lenalidomide; reductions walk down the ladder 25 -> 20 -> 15 -> ..."""
    p = _one_patient_dosing({"Thrombocytopenia": TermRates(0.0, 1.0, 0.0, 1.0, 0.0)})
    reduced = [e for e in p.episodes if e.action == "DOSE REDUCED"]
    assert reduced and all(e.grade in (3, 4) for e in reduced)
    assert len(p.reductions) == len(reduced)
    assert len(p.reductions) <= 5  # 25 -> 2.5 is five rungs
    assert any(p.held)


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

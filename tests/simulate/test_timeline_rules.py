"""Date rules of the virtual cohort that other parts of eap rely on."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from eap.protocol import load_protocol, treatment_eligible_from
from eap.simulate import simulate


@pytest.mark.parametrize(("seed", "scale"), [(2014, 10), (7, 3)])
def test_treatment_cohort_consents_on_or_after_the_protocols_anniversary(
    seed: int, scale: int
) -> None:
    """The protocol decides eligibility in calendar years (366 days across 29 February);
    the cohort must agree, or a study database refuses its own virtual patients."""
    protocol = load_protocol()
    dm = simulate(seed, scale)["DM"].frame.filter(pl.col("ARMCD") == "TP")
    late = [
        (u, start, consent)
        for u, start, consent in dm.select("USUBJID", "RFXSTDTC", "RFICDTC").iter_rows()
        if dt.date.fromisoformat(consent)
        < treatment_eligible_from(protocol, dt.date.fromisoformat(start))
    ]
    assert dm.height == 41 * scale and late == []


TIMELINE_SEEDS_SCALE1 = list(range(20))
TIMELINE_SEEDS_SCALE10 = list(range(20))


@pytest.mark.parametrize(
    ("seed", "scale"),
    [(s, 1) for s in TIMELINE_SEEDS_SCALE1] + [(s, 10) for s in TIMELINE_SEEDS_SCALE10],
)
def test_virtual_cohort_has_no_timeline_findings(seed: int, scale: int) -> None:
    """Every rule of eap.datasets.timeline holds in the generated data, with the
    MM-024 protocol's rules (reductions for grade 3-4 AEs, lenalidomide)."""
    from eap.datasets.timeline import check_timelines

    findings = check_timelines(simulate(seed, scale))
    assert [(f.check, f.message) for f in findings] == []


def _d(col: str) -> pl.Expr:
    return pl.col(col).str.to_date("%Y-%m-%d")


def test_end_of_treatment_visit_is_one_to_seven_days_after_the_last_dose() -> None:
    """The protocol's end-of-treatment visit (docs/virtual-cohort.md): DS END OF
    TREATMENT 1-7 days after RFXENDTC, except a stop for death (on the day of death);
    spread over the days, not always the same one."""
    sd = simulate(2014, 1)
    eot = sd["DS"].frame.filter(pl.col("DSSCAT") == "END OF TREATMENT")
    dm = sd["DM"].frame.select("USUBJID", _d("RFXENDTC").alias("LAST"), _d("DTHDTC").alias("DTH"))
    gap = eot.join(dm, on="USUBJID").with_columns(
        (_d("DSSTDTC") - pl.col("LAST")).dt.total_days().alias("GAP")
    )
    death = gap.filter(pl.col("DSDECOD") == "DEATH")
    other = gap.filter(pl.col("DSDECOD") != "DEATH")
    assert death.height == 2 and (death["DSSTDTC"] == death["DTH"].dt.to_string()).all()
    assert other["GAP"].is_between(1, 7).all()
    assert other["GAP"].n_unique() >= 5


def test_lost_patient_has_no_follow_up_visit_and_no_safety_follow_up_entry() -> None:
    sd = simulate(2014, 1)
    ds = sd["DS"].frame
    lost = ds.filter(pl.col("DSDECOD") == "LOST TO FOLLOW-UP")["USUBJID"].to_list()
    assert len(lost) == 1
    sv = sd["SV"].frame.filter(pl.col("USUBJID").is_in(lost))
    assert sv.filter(pl.col("EPOCH") == "FOLLOW-UP").height == 0
    entered = ds.filter(
        pl.col("USUBJID").is_in(lost) & (pl.col("DSDECOD") == "ENTERED SAFETY FOLLOW-UP PHASE")
    )
    assert entered.height == 0


@pytest.mark.parametrize("seed", [2014, 3])
def test_every_reducing_ae_is_grade_3_or_4_and_the_next_lenalidomide_dose_is_lower(
    seed: int,
) -> None:
    """mm024.toml: lenalidomide is reduced after a Grade 3-4 toxicity, to the next lower
    dose of the ladder 25, 20, 15, 10, 5, 2.5 mg."""
    sd = simulate(seed, 1)
    ae = sd["AE"].frame.filter(pl.col("AEACN") == "DOSE REDUCED")
    assert ae.height > 0 and set(ae["AETOXGR"].to_list()) <= {"3", "4"}
    ex = sd["EX"].frame.filter(pl.col("EXTRT") == "LENALIDOMIDE").with_columns(_d("EXSTDTC"))
    ladder = [25.0, 20.0, 15.0, 10.0, 5.0, 2.5]
    for u, start in ae.select("USUBJID", _d("AESTDTC")).iter_rows():
        mine = ex.filter(pl.col("USUBJID") == u).sort("EXSTDTC")
        before = mine.filter(pl.col("EXSTDTC") <= start)["EXDOSE"][-1]
        after = mine.filter(pl.col("EXSTDTC") > start)["EXDOSE"][0]
        assert after == ladder[ladder.index(before) + 1], (u, start)

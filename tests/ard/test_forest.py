"""Forest outputs: response rates and hazard ratios by subgroup, against independent values.

Response rates: counted by hand here, their exact CIs from scipy.stats.beta written out
(Clopper-Pearson). Hazard ratios: lifelines' CoxPHFitter (Efron ties) on the CDISC
pilot's own ADaM.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from scipy.stats import beta

from eap.ard import run_plan
from eap.datasets.io import read_folder
from eap.datasets.model import Dataset
from eap.errors import PlanError
from eap.plans.plan import load_plan
from tests.tiny_study import tiny_study

PILOT = Path(__file__).parents[1] / "data" / "cdisc_pilot" / "adam"

STUDY = tiny_study()

PLAN = """
[[outputs]]
id = "FRS"
kind = "forest"
title = "Response by subgroup"
population = "all"
measure = "response"
endpoint = { dataset = "ADRS", where = "PARAMCD == 'RSP' and AVALC == 'Y'" }
subgroups = [
    { name = "SEX", label = "Sex", levels = ["F", "M", "X"] },
    { name = "AGEGR1", label = "Age group" },
]
"""


def _adam() -> dict[str, Dataset]:
    # Ten treated subjects (S11 is not): responders S1, S2, S3 (F), S6, S7 (M).
    ids = [f"S{i}" for i in range(1, 12)]
    adsl = pl.DataFrame(
        {
            "USUBJID": ids,
            "TRT01A": ["A"] * 11,
            "SAFFL": ["Y"] * 10 + ["N"],
            "SEX": ["F", "F", "F", "F", "M", "M", "M", "M", "M", "M", "F"],
            "AGEGR1": ["<65", ">=65"] * 5 + ["<65"],
        }
    )
    responders = {"S1", "S2", "S3", "S6", "S7", "S11"}
    adrs = pl.DataFrame(
        {
            "USUBJID": [*ids[:10], "S11"],
            "PARAMCD": ["RSP"] * 11,
            "AVALC": ["Y" if s in responders else "N" for s in [*ids[:10], "S11"]],
        }
    )
    return {"ADSL": Dataset.from_frame("ADSL", adsl), "ADRS": Dataset.from_frame("ADRS", adrs)}


def _run(tmp_path: Path, plan: str, adam: dict[str, Dataset]) -> pl.DataFrame:
    (tmp_path / "study.toml").write_text(STUDY, encoding="utf-8")
    (tmp_path / "plan.toml").write_text(plan, encoding="utf-8")
    return run_plan(load_plan(tmp_path), adam).ard


def _stats(ard: pl.DataFrame, group2: str | None, level: str | None) -> dict[str, float | None]:
    rows = ard.filter(
        (pl.col("context") == "forest")
        & (pl.col("group2").is_null() if group2 is None else pl.col("group2") == group2)
        & (pl.col("group2_level").is_null() if level is None else pl.col("group2_level") == level)
    )
    return dict(rows.select("stat_name", "stat").rows())


def _clopper_pearson(x: int, n: int) -> tuple[float, float]:
    low = 0.0 if x == 0 else beta.ppf(0.025, x, n - x + 1)
    high = 1.0 if x == n else beta.ppf(0.975, x + 1, n - x)
    return float(low), float(high)


def test_response_rate_by_subgroup_by_hand(tmp_path: Path) -> None:
    ard = _run(tmp_path, PLAN, _adam())
    # Whole population: S1-S10; responders S1, S2, S3, S6, S7 (S11 is not treated).
    whole = _stats(ard, None, None)
    assert (whole["n"], whole["N"], whole["estimate"]) == (5, 10, 0.5)
    assert (whole["conf.low"], whole["conf.high"]) == pytest.approx(_clopper_pearson(5, 10))
    # Women S1-S4: 3 of 4. Men S5-S10: 2 of 6.
    women = _stats(ard, "SEX", "F")
    assert (women["n"], women["N"]) == (3, 4)
    assert women["estimate"] == pytest.approx(0.75)
    assert (women["conf.low"], women["conf.high"]) == pytest.approx(_clopper_pearson(3, 4))
    men = _stats(ard, "SEX", "M")
    assert (men["n"], men["N"]) == (2, 6)
    assert (men["conf.low"], men["conf.high"]) == pytest.approx(_clopper_pearson(2, 6))
    # Without levels in the plan: the data's, sorted. <65: S1, S3, S5, S7, S9 -> 3 of 5.
    assert ard.filter(pl.col("group2") == "AGEGR1")["group2_level"].unique().sort().to_list() == [
        "<65",
        ">=65",
    ]
    young = _stats(ard, "AGEGR1", "<65")
    assert (young["n"], young["N"]) == (3, 5)


def test_all_responders_and_none_reach_the_bounds(tmp_path: Path) -> None:
    adam = _adam()
    frame = adam["ADRS"].frame.with_columns(pl.lit("Y").alias("AVALC"))
    adam["ADRS"] = Dataset.from_frame("ADRS", frame)
    ard = _run(tmp_path, PLAN, adam)
    women = _stats(ard, "SEX", "F")
    # 4 of 4: upper limit 1, lower 0.025 ** (1 / 4).
    assert women["conf.high"] == 1.0
    assert women["conf.low"] == pytest.approx(0.025**0.25)
    (tmp_path / "none").mkdir()
    adam["ADRS"] = Dataset.from_frame("ADRS", frame.with_columns(pl.lit("N").alias("AVALC")))
    none = _stats(_run(tmp_path / "none", PLAN, adam), "SEX", "F")
    assert (none["n"], none["estimate"], none["conf.low"]) == (0, 0.0, 0.0)
    assert none["conf.high"] == pytest.approx(1 - 0.025**0.25)


def test_a_level_without_subjects_has_no_estimate(tmp_path: Path) -> None:
    ard = _run(tmp_path, PLAN, _adam())
    empty = ard.filter((pl.col("group2_level") == "X") & (pl.col("stat_name") == "estimate"))
    assert empty["stat"].to_list() == [None]
    assert empty["warning"].to_list() == ["no subjects in the subgroup"]
    assert _stats(ard, "SEX", "X")["N"] == 0


def test_a_subgroup_variable_not_in_adsl_is_named(tmp_path: Path) -> None:
    plan = PLAN.replace('name = "AGEGR1"', 'name = "AGEGRP"')
    with pytest.raises(PlanError, match="AGEGRP is not in ADSL"):
        _run(tmp_path, plan, _adam())


@pytest.fixture(scope="module")
def pilot_ard() -> pl.DataFrame:
    return run_plan(load_plan("cdisc-pilot"), read_folder(PILOT)).ard


def _lifelines_hr(sex: str | None) -> dict[str, tuple[float, float, float]]:
    from lifelines import CoxPHFitter

    adam = read_folder(PILOT)
    adsl = adam["ADSL"].frame.filter(pl.col("SAFFL") == "Y").select("USUBJID", "TRT01A", "SEX")
    tte = adam["ADTTE"].frame.filter(pl.col("PARAMCD") == "TTDE").select("USUBJID", "AVAL", "CNSR")
    data = tte.join(adsl, on="USUBJID")
    if sex is not None:
        data = data.filter(pl.col("SEX") == sex)
    frame = data.select(
        pl.col("AVAL").cast(pl.Float64).alias("T"),
        (1 - pl.col("CNSR").cast(pl.Int64)).alias("E"),
        (pl.col("TRT01A") == "Xanomeline Low Dose").cast(pl.Int64).alias("low"),
        (pl.col("TRT01A") == "Xanomeline High Dose").cast(pl.Int64).alias("high"),
    ).to_pandas()
    fit = CoxPHFitter().fit(frame, duration_col="T", event_col="E")
    s = fit.summary
    return {
        arm: (
            float(s.loc[term, "exp(coef)"]),
            float(s.loc[term, "exp(coef) lower 95%"]),
            float(s.loc[term, "exp(coef) upper 95%"]),
        )
        for arm, term in (("Xanomeline Low Dose", "low"), ("Xanomeline High Dose", "high"))
    }


@pytest.mark.parametrize("sex", [None, "F", "M"])
def test_hazard_ratios_by_subgroup_equal_lifelines(
    pilot_ard: pl.DataFrame, sex: str | None
) -> None:
    forest = pilot_ard.filter(pl.col("output") == "F14-HR")
    expected = _lifelines_hr(sex)
    for arm, (hr, low, high) in expected.items():
        stats = _stats(
            forest.filter(pl.col("group1_level") == arm), None if sex is None else "SEX", sex
        )
        assert stats["estimate"] == pytest.approx(hr, rel=1e-4)
        assert stats["conf.low"] == pytest.approx(low, rel=1e-4)
        assert stats["conf.high"] == pytest.approx(high, rel=1e-4)


def test_whole_column_hazard_ratio_is_the_km_figures(pilot_ard: pl.DataFrame) -> None:
    # tests/data/cdisc_pilot/reference/pilot_reference.csv (R coxph, Efron): 4.1477, 5.03.
    forest = pilot_ard.filter(
        (pl.col("output") == "F14-HR")
        & pl.col("group2").is_null()
        & (pl.col("stat_name") == "estimate")
    )
    shown = dict(forest.select("group1_level", "stat").rows())
    assert round(shown["Xanomeline Low Dose"], 2) == 4.15
    assert round(shown["Xanomeline High Dose"], 2) == 5.03
    # N: subjects of the arm and placebo (84 + 86); events 62 + 29 (the same R reference).
    low = _stats(
        pilot_ard.filter(
            (pl.col("output") == "F14-HR") & (pl.col("group1_level") == "Xanomeline Low Dose")
        ),
        None,
        None,
    )
    assert (low["N"], low["events"]) == (170, 91)

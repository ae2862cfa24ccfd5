"""Each analysis kind on a small invented study, against hand calculations written here."""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import pytest

from eap.ard import run_plan
from eap.datasets.model import Dataset
from eap.errors import PlanError
from eap.plans.plan import load_plan
from tests.ard.stat import one_stat
from tests.tiny_study import tiny_study

STUDY = tiny_study("A tiny two-arm study")

PLAN = """
[[outputs]]
id = "DEM"
kind = "summary"
title = "Demographics"
population = "all"
group = "TRT01A"
[[outputs.variables]]
name = "AGE"
label = "Age"
display = ["n", "mean_sd", "median", "q1_q3", "min_max"]
[[outputs.variables]]
name = "SEX"
label = "Sex (of those known)"
type = "categorical"
levels = ["F", "M", "X"]
[[outputs.variables]]
name = "SEXP"
label = "Sex (of all)"
type = "categorical"
levels = ["F", "M"]
denominator = "population"
[[outputs.variables]]
name = "OLD"
label = "Age >= 50"
type = "flag"
where = "AGE >= 50"

[[outputs]]
id = "AE"
kind = "incidence"
title = "TEAEs"
population = "all"
group = "TRT01A"
where = "TRTEMFL == 'Y'"
levels = ["AEBODSYS", "AEDECOD"]
events = true

[[outputs]]
id = "KM"
kind = "tte"
title = "Time to event"
population = "all"
group = "TRT01A"
total = false
paramcd = ["T"]
landmarks = [2.5]
reference = "A"
"""


def _adam() -> dict[str, Dataset]:
    adsl = pl.DataFrame(
        {
            "USUBJID": ["S1", "S2", "S3", "S4", "S5", "S6", "S7"],
            "TRT01A": ["A", "A", "A", "B", "B", "B", "A"],
            "SAFFL": ["Y", "Y", "Y", "Y", "Y", "Y", "N"],
            "AGE": [30.0, 40.0, 50.0, 20.0, 60.0, None, 99.0],
            "SEX": ["F", "M", "F", "M", "M", None, "M"],
        }
    ).with_columns(pl.col("SEX").alias("SEXP"))
    adae = pl.DataFrame(
        {
            "USUBJID": ["S1", "S1", "S1", "S2", "S4", "S4", "S7"],
            "AEBODSYS": ["SOC1", "SOC1", "SOC1", "SOC2", "SOC1", "SOC2", "SOC1"],
            "AEDECOD": ["PT1", "PT1", "PT2", "PT3", "PT1", "PT3", "PT1"],
            "TRTEMFL": ["Y", "Y", "Y", "Y", "Y", "N", "Y"],
        }
    )
    adtte = pl.DataFrame(
        {
            "USUBJID": ["S1", "S2", "S3", "S4", "S5", "S6"],
            "PARAMCD": ["T"] * 6,
            "AVAL": [1.0, 2.0, 3.0, 2.0, 4.0, 5.0],
            "CNSR": [0, 0, 0, 0, 1, 0],
        }
    )
    return {
        "ADSL": Dataset.from_frame("ADSL", adsl),
        "ADAE": Dataset.from_frame("ADAE", adae),
        "ADTTE": Dataset.from_frame("ADTTE", adtte),
    }


@pytest.fixture(scope="module")
def ard(tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    folder = tmp_path_factory.mktemp("tiny")
    (folder / "study.toml").write_text(STUDY, encoding="utf-8")
    (folder / "plan.toml").write_text(PLAN, encoding="utf-8")
    return run_plan(load_plan(folder), _adam()).ard


def test_continuous_statistics_by_hand(ard: pl.DataFrame) -> None:
    # Arm A: 30, 40, 50 (S7 is outside the population). sd = sqrt((100 + 0 + 100) / 2) = 10.
    # R quantile type 7: h = (n - 1) p; Q1 = 30 + 0.5 * (40 - 30) = 35, Q3 = 45.
    expected_a = {
        "n": 3,
        "mean": 40,
        "sd": 10,
        "median": 40,
        "p25": 35,
        "p75": 45,
        "min": 30,
        "max": 50,
    }
    for stat, value in expected_a.items():
        assert one_stat(ard, "DEM", "A", "AGE", stat) == pytest.approx(value)
    # Arm B: 20, 60 (S6 missing): sd = sqrt(800 / 1); Q1 = 20 + 0.25 * 40 = 30.
    assert one_stat(ard, "DEM", "B", "AGE", "n") == 2
    assert one_stat(ard, "DEM", "B", "AGE", "sd") == pytest.approx(math.sqrt(800))
    assert one_stat(ard, "DEM", "B", "AGE", "p25") == pytest.approx(30)
    # Total: 20, 30, 40, 50, 60: sd = sqrt(1000 / 4); Q1 at h = 1 is 30, Q3 at h = 3 is 50.
    assert one_stat(ard, "DEM", None, "AGE", "sd") == pytest.approx(math.sqrt(250))
    assert one_stat(ard, "DEM", None, "AGE", "p75") == pytest.approx(50)
    assert (
        one_stat(ard, "DEM", "A", "BIGN", "N") == 3 and one_stat(ard, "DEM", None, "BIGN", "N") == 6
    )


def test_categorical_levels_zero_rows_and_denominators(ard: pl.DataFrame) -> None:
    lv = {"variable_level": "F"}
    assert one_stat(ard, "DEM", "A", "SEX", "n", **lv) == 2
    assert one_stat(ard, "DEM", "A", "SEX", "p", **lv) == pytest.approx(2 / 3)
    # A level of the plan's list that nobody has is kept, with n 0.
    assert one_stat(ard, "DEM", "B", "SEX", "n", variable_level="X") == 0
    # Arm B: S6's sex is missing. Non-missing denominator: M is 2 of 2; population: 2 of 3.
    assert one_stat(ard, "DEM", "B", "SEX", "N", variable_level="M") == 2
    assert one_stat(ard, "DEM", "B", "SEX", "p", variable_level="M") == pytest.approx(1.0)
    assert one_stat(ard, "DEM", "B", "SEXP", "p", variable_level="M") == pytest.approx(2 / 3)
    # Flags count subjects where the filter holds, of the column N: ages 50 and 60.
    assert one_stat(ard, "DEM", None, "OLD", "n") == 2
    assert one_stat(ard, "DEM", None, "OLD", "p") == pytest.approx(2 / 6)


def test_hierarchical_incidence_by_hand(ard: pl.DataFrame) -> None:
    # Arm A: S1 (SOC1/PT1 twice, SOC1/PT2), S2 (SOC2/PT3); S7 is outside the population.
    assert one_stat(ard, "AE", "A", "ANY", "n") == 2
    assert one_stat(ard, "AE", "A", "ANY", "events") == 4
    assert one_stat(ard, "AE", "A", "AEBODSYS", "n", variable_level="SOC1") == 1
    assert one_stat(ard, "AE", "A", "AEBODSYS", "events", variable_level="SOC1") == 3
    pt1 = {"variable_level": "PT1", "group2_level": "SOC1"}
    assert one_stat(ard, "AE", "A", "AEDECOD", "events", **pt1) == 2
    # Arm B: S4's SOC2 record is not treatment-emergent: SOC2 and PT3 are zero rows.
    assert one_stat(ard, "AE", "B", "AEBODSYS", "n", variable_level="SOC2") == 0
    assert one_stat(ard, "AE", "B", "AEDECOD", "n", variable_level="PT3", group2_level="SOC2") == 0
    assert one_stat(ard, "AE", None, "AEDECOD", "n", **pt1) == 2
    assert one_stat(ard, "AE", None, "AEDECOD", "p", **pt1) == pytest.approx(2 / 6)
    subjects = ard.filter(
        (pl.col("output") == "AE")
        & pl.col("group1_level").is_null()
        & (pl.col("variable") == "ANY")
        & (pl.col("stat_name") == "n")
    )["subjects"][0]
    assert sorted(subjects) == ["S1", "S2", "S4"]


def test_time_to_event_by_hand(ard: pl.DataFrame) -> None:
    # Arm A: events at 1, 2, 3: S = 2/3, 1/3, 0; median = first t with S <= 0.5 = 2.
    # Arm B: event at 2, censored at 4, event at 5: S(2) = 2/3, S(5) = 0; median 5.
    t = {"group2_level": "T"}
    assert one_stat(ard, "KM", "A", "prob", "estimate", variable_level="0.5", **t) == 2
    assert one_stat(ard, "KM", "B", "prob", "estimate", variable_level="0.5", **t) == 5
    assert one_stat(ard, "KM", "A", "time", "estimate", variable_level="2.5", **t) == pytest.approx(
        1 / 3
    )
    assert one_stat(ard, "KM", "B", "time", "n.risk", variable_level="2.5", **t) == 2
    # Log-rank A vs B. Event times (d; at risk A, all): 1 (1; 3, 6), 2 (2; 2, 5),
    # 3 (1; 1, 3), 5 (1; 0, 1). O_A = 3, E_A = 1/2 + 4/5 + 1/3 = 49/30;
    # V = 1/4 + 2 (2/5)(3/5)(3/4) + (1/3)(2/3) = 1/4 + 9/25 + 2/9.
    observed, expected = 3, 0.5 + 0.8 + 1 / 3
    variance = 0.25 + 2 * 0.4 * 0.6 * 0.75 + (1 / 3) * (2 / 3)
    chisq = (observed - expected) ** 2 / variance
    assert one_stat(ard, "KM", None, "logrank", "statistic", **t) == pytest.approx(chisq, rel=1e-12)
    assert one_stat(ard, "KM", None, "logrank", "df", **t) == 1
    pair = one_stat(ard, "KM", "B", "logrank_vs_A", "statistic", **t)
    assert pair == pytest.approx(chisq, rel=1e-12)


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda p: p.replace('kind = "tte"', 'kind = "anova"'), "outputs[2].kind"),
        (
            lambda p: p.replace(
                'population = "all"\ngroup = "TRT01A"\nwhere',
                'population = "itt"\ngroup = "TRT01A"\nwhere',
            ),
            "outputs[1].population",
        ),
        (lambda p: p.replace('id = "KM"', 'id = "AE"'), "outputs[2]"),
        (
            lambda p: p.replace("events = true", 'events = true\nsorting = "frequency"'),
            "outputs[1].sorting",
        ),
        (lambda p: p.replace('title = "TEAEs"', 'title = "TEAEs'), ""),
    ],
)
def test_plan_errors_name_the_file_and_field(tmp_path: Path, edit, field: str) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "study.toml").write_text(STUDY, encoding="utf-8")
    (tmp_path / "plan.toml").write_text(edit(PLAN), encoding="utf-8")
    with pytest.raises(PlanError) as caught:
        run_plan(load_plan(tmp_path), _adam())
    message = str(caught.value)
    assert "plan.toml" in message
    assert field in message


def test_a_filter_on_an_unknown_variable_names_the_plan_field(tmp_path: Path) -> None:
    (tmp_path / "study.toml").write_text(STUDY, encoding="utf-8")
    (tmp_path / "plan.toml").write_text(
        PLAN.replace("TRTEMFL == 'Y'", "TRTEM == 'Y'"), encoding="utf-8"
    )
    with pytest.raises(PlanError, match=r"outputs\[1\]\.where.*TRTEM"):
        run_plan(load_plan(tmp_path), _adam())


def test_a_category_filter_on_an_unknown_variable_names_its_plan_field(tmp_path: Path) -> None:
    (tmp_path / "study.toml").write_text(STUDY, encoding="utf-8")
    category = 'events = true\n[[outputs.categories]]\nname = "G3"\nany = ["AETOXGR == \'3\'"]'
    (tmp_path / "plan.toml").write_text(PLAN.replace("events = true", category), encoding="utf-8")
    with pytest.raises(PlanError, match=r"outputs\[1\]\.categories\[0\]\.any\[0\].*AETOXGR"):
        run_plan(load_plan(tmp_path), _adam())

"""The MM-024 plan's ARD: cards shape, independent checks, determinism."""

from __future__ import annotations

import datetime as dt
import io

import polars as pl
import pytest
from lifelines import KaplanMeierFitter

from eap.ard import ARD_SCHEMA, run_plan
from eap.derive import derive_all
from eap.plans.plan import load_plan
from eap.simulate import simulate


@pytest.fixture(scope="module")
def adam_and_ard():  # type: ignore[no-untyped-def]
    sdtm = simulate(2014)
    adam = derive_all(sdtm, dt.date(2014, 11, 5)).datasets
    return adam, run_plan(load_plan("mm024"), adam)


@pytest.mark.parametrize("param", ["PFS", "OS", "TTP"])
def test_landmark_rates_match_lifelines(adam_and_ard, param: str) -> None:  # type: ignore[no-untyped-def]
    adam, result = adam_and_ard
    safety = adam["ADSL"].frame.filter(pl.col("SAFFL") == "Y")["USUBJID"]
    tte = adam["ADTTE"].frame.filter(
        (pl.col("PARAMCD") == param) & pl.col("USUBJID").is_in(safety.implode())
    )
    kmf = KaplanMeierFitter().fit(tte["AVAL"].to_numpy(), 1 - tte["CNSR"].to_numpy())
    for months in (12, 24, 36):
        computed = result.ard.filter(
            (pl.col("output") == "TTET02")
            & (pl.col("population") == "safety")
            & (pl.col("group2_level") == param)
            & (pl.col("variable") == "time")
            & (pl.col("variable_level") == str(months))
            & (pl.col("stat_name") == "estimate")
        )["stat"]
        assert computed.len() == 1
        assert computed[0] == pytest.approx(float(kmf.predict(float(months))), abs=1e-12)


def test_ard_has_the_cards_columns_and_names(adam_and_ard) -> None:  # type: ignore[no-untyped-def]
    _adam, result = adam_and_ard
    ard = result.ard
    assert ard.columns == list(ARD_SCHEMA)
    assert ard.schema["stat"] == pl.Float64
    # p is a 0-1 proportion, as cards has it: Table 2's any grade 3-4 row is 48/80.
    row = ard.filter(
        (pl.col("output") == "AET04")
        & (pl.col("population") == "safety")
        & (pl.col("variable") == "ANY")
    )
    stats = dict(row.select("stat_name", "stat").rows())
    assert stats == {"n": 48, "N": 80, "p": 0.6}
    assert len(row.filter(pl.col("stat_name") == "n")["subjects"][0]) == 48
    assert set(ard["stat_name"]) >= {"n", "N", "p", "mean", "sd", "median", "p25", "p75"}
    assert set(ard["stat_name"]) >= {"estimate", "conf.low", "conf.high", "n.risk"}
    # Not estimable: stat null, the reason in warning (OS median is not reached).
    os_median = ard.filter(
        (pl.col("output") == "TTET01")
        & (pl.col("group2_level") == "OS")
        & (pl.col("variable") == "prob")
        & (pl.col("stat_name") == "estimate")
        & (pl.col("population") == "safety")
    )
    assert os_median["stat"][0] is None and os_median["warning"][0]
    assert result.skipped == {}


def test_two_runs_give_byte_identical_parquet(adam_and_ard) -> None:  # type: ignore[no-untyped-def]
    adam, result = adam_and_ard
    again = run_plan(load_plan("mm024"), adam)
    first, second = io.BytesIO(), io.BytesIO()
    result.ard.write_parquet(first)
    again.ard.write_parquet(second)
    assert first.getvalue() == second.getvalue()
    # Levels follow the plan's order, not the data's: ECOG 0, 1, 2.
    ecog = result.ard.filter(
        (pl.col("output") == "DMT01")
        & (pl.col("variable") == "ECOGBL")
        & (pl.col("stat_name") == "n")
        & (pl.col("population") == "safety")
    )["variable_level"]
    assert ecog.to_list() == ["0", "1", "2"]


def test_an_output_without_its_dataset_is_skipped_with_the_reason(adam_and_ard) -> None:  # type: ignore[no-untyped-def]
    adam, _result = adam_and_ard
    without_cm = {k: v for k, v in adam.items() if k != "ADCM"}
    result = run_plan(load_plan("mm024"), without_cm)
    assert result.skipped == {"CMT01": "no ADCM dataset in the input"}
    assert "CMT01" not in set(result.ard["output"])


def test_metadata_describes_each_analysis_in_the_spirit_of_ars(adam_and_ard) -> None:  # type: ignore[no-untyped-def]
    _adam, result = adam_and_ard
    meta = result.metadata
    assert {s["id"] for s in meta["analysisSets"]} == {"safety", "treatment_cohort"}
    table2 = next(a for a in meta["analyses"] if a["id"] == "AET04")
    assert table2["method"] == "incidence"
    assert table2["datasets"] == ["ADSL", "ADAE"]
    assert table2["parameters"]["where"] == "TRTEMFL == 'Y' and TOXG34FL == 'Y'"
    display = next(o for o in meta["outputs"] if o["id"] == "AET04")
    assert display["displayTitle"].startswith("Table 2.")

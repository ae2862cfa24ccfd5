"""ARD rows checked against results computed independently of eap.stats."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from lifelines import KaplanMeierFitter

from eap.ard import build_ard
from eap.derive import derive_all
from eap.simulate import simulate


@pytest.fixture(scope="module")
def adam_and_ard():  # type: ignore[no-untyped-def]
    sdtm = simulate(2014)
    adam = derive_all(sdtm, dt.date(2014, 11, 5)).datasets
    return adam, build_ard(adam, cm=sdtm["CM"].frame)


@pytest.mark.parametrize("param", ["PFS", "OS", "TTP"])
def test_landmark_rates_match_lifelines(adam_and_ard, param: str) -> None:  # type: ignore[no-untyped-def]
    adam, ard = adam_and_ard
    safety = adam["ADSL"].frame.filter(pl.col("SAFFL") == "Y")["USUBJID"]
    tte = adam["ADTTE"].frame.filter(
        (pl.col("PARAMCD") == param) & pl.col("USUBJID").is_in(safety.implode())
    )
    kmf = KaplanMeierFitter().fit(tte["AVAL"].to_numpy(), 1 - tte["CNSR"].to_numpy())
    for months in (12, 24, 36):
        computed = ard.filter(
            (pl.col("ANALYSIS") == "TTET01")
            & (pl.col("POPULATION") == "safety")
            & (pl.col("VARIABLE") == param)
            & (pl.col("LEVEL") == f"{months} months")
            & (pl.col("STAT") == "survival")
        )["VALUE"]
        assert computed.len() == 1
        assert computed[0] == pytest.approx(float(kmf.predict(float(months))), abs=1e-12)


def test_ard_rows_carry_analysis_population_group_and_subjects() -> None:
    from eap.ard import GROUP

    ard = build_ard(derive_all(simulate(2014), dt.date(2014, 11, 5)).datasets)
    assert ard.columns == [
        "ANALYSIS",
        "POPULATION",
        "GROUP",
        "VARIABLE",
        "LEVEL",
        "STAT",
        "VALUE",
        "SUBJECTS",
    ]
    assert ard["GROUP"].unique().to_list() == [GROUP]
    spm = ard.filter(pl.col("ANALYSIS") == "AET10L")
    assert spm["STAT"].n_unique() == 2  # two SPM records, one key each
    assert set(spm["VARIABLE"]) >= {"AEDECOD", "ASTDT", "ASTDY", "ATOXGRN", "TCFL"}

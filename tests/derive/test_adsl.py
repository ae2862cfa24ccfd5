from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from eap.cli import app
from eap.datasets.io import read_folder
from eap.derive import derive_all
from eap.derive.adsl import derive_adsl
from eap.errors import EapError
from eap.plans import load_study
from eap.simulate import simulate
from tests.conftest import PILOT

CUTOFF = dt.date(2014, 11, 5)


def test_trtedt_imputation_for_an_open_last_record_is_the_disposition_date() -> None:
    adsl = derive_adsl(
        read_folder(PILOT / "sdtm"), dt.date(2016, 1, 1), study=load_study("cdisc-pilot")
    ).frame
    # 01-704-1233: last EX record (2013-04-05) has no end date; withdrawal on 2013-07-14.
    row = adsl.filter(pl.col("USUBJID") == "01-704-1233").row(0, named=True)
    assert row["TRTEDT"] == dt.date(2013, 7, 14)


def test_mm024_adsl_populations_disposition_and_renal_groups() -> None:
    adsl = derive_adsl(simulate(2014), CUTOFF).frame
    assert adsl.height == 80
    assert (adsl["ITTFL"] == "Y").sum() == 80 and (adsl["SAFFL"] == "Y").sum() == 80
    tc = adsl.filter(pl.col("TCFL") == "Y")
    assert tc.height == 41
    assert (tc["EOTSTT"] == "ONGOING").sum() == 15
    assert dict(tc.group_by("DCTREAS").len().drop_nulls().rows()) == {
        "PROGRESSIVE DISEASE": 23,
        "DEATH": 2,
        "LOST TO FOLLOW-UP": 1,
    }
    assert adsl["DTHDT"].drop_nulls().len() == 30
    assert (adsl["DTHCAUS"] == "MULTIPLE MYELOMA").sum() == 9
    groups = dict(adsl.group_by("RENALGR").len().rows())
    assert sorted(groups.values()) == [
        1,
        9,
        70,
    ]  # 8 at 10 mg + the 6.3 mg patient; 1 every other day
    assert adsl.filter(pl.col("CRCLBL") < 30).height == 1
    assert (adsl["AGEGR1"] == ">65").sum() == 23
    assert (tc["ECOGBL"] == "2").sum() == 4
    # Every subject's phase change to Safety Follow-Up follows the end of Rd.
    moved = tc.filter(pl.col("SFUDT").is_not_null())
    assert (moved["SFUDT"] > moved["TRTEDT"]).all()


def test_adsl_needs_dm() -> None:
    with pytest.raises(EapError, match="DM is required"):
        derive_adsl({}, CUTOFF)


def test_derive_all_skips_what_it_cannot_derive_and_says_why() -> None:
    sdtm = read_folder(PILOT / "sdtm")
    result = derive_all(sdtm, study=load_study("cdisc-pilot"))
    assert set(result.datasets) == {"ADSL", "ADAE", "ADCM", "ADEX"}
    assert result.skipped == {
        "ADTTE": "study CDISCPILOT01 defines no time-to-event endpoints ([endpoints])",
        "ADRS": "study CDISCPILOT01 defines no response criteria ([response])",
    }
    # MM-024's rules on the pilot's data: what the data lack is named, not guessed.
    mm024 = derive_all(sdtm, dt.date(2016, 1, 1))
    assert set(mm024.datasets) == {"ADSL", "ADAE", "ADCM", "ADTTE"}
    assert mm024.skipped["ADEX"] == "no EX records of the study drug LENALIDOMIDE"
    assert mm024.skipped["ADRS"] == "no RS dataset"
    assert mm024.skipped["ADTTE PFS"] == "PFS: no RS dataset"
    assert mm024.skipped["ADSL.ECOGBL"] == "no RS dataset"
    assert mm024.skipped["ADSL.EOTSTT"] == "DS has no DSSCAT"
    assert set(mm024.datasets["ADTTE"].frame["PARAMCD"]) == {"OS"}  # no parent-trial enrollment


def test_cli_derive_writes_valid_adam(tmp_path: Path) -> None:
    runner = CliRunner()
    sdtm, adam = tmp_path / "sdtm", tmp_path / "adam"
    assert runner.invoke(app, ["simulate", "--out", str(sdtm)]).exit_code == 0
    result = runner.invoke(app, ["derive", str(sdtm), "--out", str(adam), "--format", "parquet"])
    assert result.exit_code == 0, result.stdout
    assert sorted(p.name for p in adam.iterdir()) == [
        "adae.parquet",
        "adcm.parquet",
        "adex.parquet",
        "adrs.parquet",
        "adsl.parquet",
        "adtte.parquet",
        "adtte_censoring.csv",
        "define.xml",
        "define2-1.xsl",
        "run_log.json",
    ]
    assert runner.invoke(app, ["validate", str(adam)]).exit_code == 0
    bad = runner.invoke(app, ["derive", str(sdtm), "--out", str(adam), "--cutoff", "5/11/2014"])
    assert bad.exit_code != 0

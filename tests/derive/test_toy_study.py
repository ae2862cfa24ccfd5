"""TOY-01, an invented study given as files only (tests/data/toy_study): study.toml and
hand-written SDTM CSVs. Nothing in eap's code is specific to it; every expected value
below is worked out by hand from the CSVs, with the arithmetic in the comments."""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from eap.cli import app
from eap.datasets.io import read_dataset, read_folder
from eap.derive import Derived, derive_all
from eap.plans import load_study
from tests.conftest import DATA

TOY = DATA / "toy_study"
D = dt.date


@cache
def _derived() -> Derived:
    return derive_all(read_folder(TOY / "sdtm"), study=load_study(TOY))


def _rows(name: str, *keys: str) -> dict[tuple[object, ...], dict[str, object]]:
    frame = _derived().datasets[name].frame
    return {tuple(r[k] for k in keys): r for r in frame.iter_rows(named=True)}


def test_the_cutoff_is_the_latest_date_in_the_data() -> None:
    # No cutoff in study.toml. The latest complete --DTC date of dm, ex, ae and ds.csv is
    # TOY-009's completion on 2021-06-28 (the latest AE date is 2021-05-10, the latest
    # dose 2021-04-11).
    result = _derived()
    assert (result.cutoff, result.cutoff_source) == (
        D(2021, 6, 28),
        "latest date in the data (DS.DSSTDTC)",
    )
    assert set(result.datasets) == {"ADSL", "ADAE", "ADEX", "ADTTE"}
    assert result.skipped == {
        "ADCM": "no CM dataset",
        "ADRS": "study TOY-01 defines no response criteria ([response])",
    }


def test_adsl_arms_populations_and_exposure_dates() -> None:
    adsl = _rows("ADSL", "USUBJID")
    got = {
        u: (r["TRT01P"], r["TRT01A"], r["ITTFL"], r["SAFFL"], r["TRTSDT"], r["TRTEDT"])
        for (u,), r in adsl.items()
    }
    assert got == {
        # TRTSDT: first EXSTDTC; TRTEDT: last EXENDTC.
        "TOY-001": ("Drug A", "Drug A", "Y", "Y", D(2021, 1, 4), D(2021, 2, 15)),
        # Randomised to Drug A, given placebo: TRT01A follows DM.ACTARM. Placebo doses
        # (EXDOSE 0) count for SAFFL.
        "TOY-002": ("Drug A", "Placebo", "Y", "Y", D(2021, 1, 11), D(2021, 2, 1)),
        "TOY-003": ("Placebo", "Placebo", "Y", "Y", D(2021, 1, 18), D(2021, 3, 1)),
        # Randomised, never dosed: in ITT (no consent dates in DM: ITT = assigned to an
        # arm), not in the safety population.
        "TOY-004": ("Drug A", "Assigned, Not Treated", "Y", "N", None, None),
        # Screen failure: neither.
        "TOY-005": ("Screen Failure", "Screen Failure", "N", "N", None, None),
        # The last record (from 2021-02-22) has no end date: it ends at the subject's
        # disposition event on or after its start, 2021-03-10.
        "TOY-006": ("Drug A", "Drug A", "Y", "Y", D(2021, 2, 1), D(2021, 3, 10)),
        "TOY-007": ("Placebo", "Placebo", "Y", "Y", D(2021, 2, 8), D(2021, 3, 1)),
        "TOY-008": ("Drug A", "Drug A", "Y", "Y", D(2021, 2, 15), D(2021, 3, 8)),
        "TOY-009": ("Placebo", "Placebo", "Y", "Y", D(2021, 3, 1), D(2021, 4, 11)),
    }
    # Deaths from DM.DTHDTC; last known alive: the latest dose or non-death disposition
    # date (TOY-003's last dose 2021-03-01 is the last date before its death).
    assert adsl[("TOY-003",)]["DTHDT"] == D(2021, 5, 10)
    assert adsl[("TOY-003",)]["LSTALVDT"] == D(2021, 3, 1)
    assert adsl[("TOY-001",)]["LSTALVDT"] == D(2021, 5, 17)
    assert {r["CUTOFFDT"] for r in adsl.values()} == {D(2021, 6, 28)}
    # No MM-024 variable leaks into another study's ADSL.
    frame = _derived().datasets["ADSL"].frame
    assert not {"TCFL", "PHASE", "EAPDT", "EOTSTT", "NPRIOR", "RENALGR"} & set(frame.columns)
    populations = load_study(TOY).populations
    assert set(populations) == {"safety", "itt"}


def test_adae_treatment_emergence_at_both_sides_of_the_7_day_window() -> None:
    ae = _rows("ADAE", "USUBJID", "AESEQ")
    flags = {k: (r["TRTEMFL"], r["ASTDY"]) for k, r in ae.items()}
    assert flags == {
        # TOY-001, last dose 2021-02-15: 2021-02-22 is 7 days after (15 + 7 = 22):
        # emergent; 2021-02-23 is 8 days after: not. ASTDY = days since 2021-01-04 + 1:
        # 27 (rest of January) + 22 + 1 = 50.
        ("TOY-001", 1): ("Y", 50),
        ("TOY-001", 2): (None, 51),
        # "2021-01", the month of the first dose (2021-01-11): imputed to the first dose.
        ("TOY-002", 1): ("Y", 1),
        # 2021-05-01 is 61 days after the last dose (2021-03-01): not emergent.
        ("TOY-003", 1): (None, 104),
        # TOY-006's TRTEDT is imputed (2021-03-10): 2021-03-17 is day 7 after, emergent;
        # 2021-03-18 is day 8, not.
        ("TOY-006", 1): ("Y", 45),
        ("TOY-006", 2): (None, 46),
        # No start date: counted as emergent (conservative).
        ("TOY-007", 1): ("Y", None),
        # The day before the first dose (2021-03-01) is study day -1 (there is no day 0)
        # and not emergent; the first-dose day is day 1 and emergent.
        ("TOY-009", 1): (None, -1),
        ("TOY-009", 2): ("Y", 1),
    }
    assert (ae[("TOY-002", 1)]["ASTDT"], ae[("TOY-002", 1)]["ASTDTF"]) == (D(2021, 1, 11), "D")
    # Study-specific MM-024 variables are absent; TRT01A is carried from ADSL.
    frame = _derived().datasets["ADAE"].frame
    assert not {"SPMFL", "ACTLEN", "APHASE", "TCFL"} & set(frame.columns)
    assert ae[("TOY-002", 1)]["TRT01A"] == "Placebo"


def test_adtte_time_to_death_from_first_dose() -> None:
    tte = _rows("ADTTE", "USUBJID", "PARAMCD")
    got = {u: (r["AVAL"], r["CNSR"], r["ADT"]) for (u, _), r in tte.items()}
    # AVAL = ADT - TRTSDT + 1 days.
    assert got == {
        # Alive, last known alive 2021-05-17: Jan 4 -> May 4 is 27 + 28 + 31 + 30 + 4
        # = 120 days, + 13 = 133, + 1 = 134.
        "TOY-001": (134.0, 1, D(2021, 5, 17)),
        # Jan 11 -> May 31: 20 + 28 + 31 + 30 + 31 = 140, + 1 = 141.
        "TOY-002": (141.0, 1, D(2021, 5, 31)),
        # Died 2021-05-10: Jan 18 -> May 10: 13 + 28 + 31 + 30 + 10 = 112, + 1 = 113.
        "TOY-003": (113.0, 0, D(2021, 5, 10)),
        # Last known alive 2021-03-10 (the disposition): Feb 1 -> Mar 10: 27 + 10 = 37,
        # + 1 = 38.
        "TOY-006": (38.0, 1, D(2021, 3, 10)),
        # Feb 8 -> Jun 1: 20 + 31 + 30 + 31 + 1 = 113, + 1 = 114.
        "TOY-007": (114.0, 1, D(2021, 6, 1)),
        # Died 2021-04-20: Feb 15 -> Apr 20: 13 + 31 + 20 = 64, + 1 = 65.
        "TOY-008": (65.0, 0, D(2021, 4, 20)),
        # Mar 1 -> Jun 28: 30 + 30 + 31 + 28 = 119, + 1 = 120.
        "TOY-009": (120.0, 1, D(2021, 6, 28)),
    }
    # TOY-004 (never dosed) and TOY-005 (screen failure) have no origin: no row.
    row = tte[("TOY-003", "TTDEATH")]
    assert (row["PARAM"], row["AVALU"], row["EVNTDESC"], row["SRCDOM"], row["SRCVAR"]) == (
        "Time to Death (days)",
        "DAYS",
        "Death",
        "DM",
        "DTHDTC",
    )
    censored = tte[("TOY-001", "TTDEATH")]
    assert (censored["CNSDTDSC"], censored["SRCDOM"], censored["SRCVAR"]) == (
        "Censored at last date known alive",
        "ADSL",
        "LSTALVDT",
    )


def test_adex_generic_exposure_without_a_protocol() -> None:
    adex = _derived().datasets["ADEX"].frame
    wide = {
        r["USUBJID"]: r
        for r in adex.pivot(on="PARAMCD", index="USUBJID", values="AVAL").iter_rows(named=True)
    }
    # Study drug TOYMAB only (placebo records are not exposure to it).
    assert set(wide) == {"TOY-001", "TOY-006", "TOY-008"}
    # TOY-001: 10 mg a day on 2021-01-04..24 (21 days) and 2021-01-25..02-15 (22 days).
    assert wide["TOY-001"]["CUMDOSE"] == 10 * (21 + 22)
    # TOY-006: 2021-02-01..21 (21 days), then an open record from 2021-02-22 ending at
    # TRTEDT 2021-03-10 (17 days).
    assert wide["TOY-006"]["CUMDOSE"] == 10 * (21 + 17)
    assert "PLDOSINT" not in wide["TOY-001"] and "RDI" not in wide["TOY-001"]


def test_cli_derives_the_toy_study_from_its_folder(tmp_path: Path) -> None:
    out = tmp_path / "adam"
    result = CliRunner().invoke(
        app,
        ["derive", str(TOY / "sdtm"), "--out", str(out), "--study", str(TOY), "--format", "csv"],
    )
    assert result.exit_code == 0, result.stdout
    assert "data cutoff 2021-06-28 (latest date in the data (DS.DSSTDTC))" in result.stdout
    assert "ADRS not derived" in result.stdout
    adtte = read_dataset(out / "adtte.csv").frame
    assert adtte.filter(pl.col("CNSR") == 0)["USUBJID"].sort().to_list() == ["TOY-003", "TOY-008"]

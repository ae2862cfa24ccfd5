"""A third study, written only as files (tests/data/toy_study), from SDTM to report.

TOY-01 has its own arms (Drug A, Placebo), drug (TOYMAB), populations and endpoint
(time to death); nothing in eap names it. The expected values are worked out by hand
from the SDTM CSVs here.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from eap.cli import app
from tests.ard.stat import one_stat

TOY = Path(__file__).parents[1] / "data" / "toy_study"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("toy")
    result = CliRunner().invoke(
        app,
        ["report", "--study", str(TOY), "--sdtm", str(TOY / "sdtm"), "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    return out


def test_every_output_is_written(report: Path) -> None:
    html = (report / "report.html").read_text(encoding="utf-8")
    for output in ("DM1", "AE1", "TTE1", "KM1"):
        assert f"[{output}]" in html
    assert "Drug A (N\u00a0=\u00a05)" in html  # ITT by planned arm
    assert (report / "rtf" / "AE1.rtf").is_file() and (report / "figures" / "KM1.png").is_file()


def test_demographics_by_planned_arm(report: Path) -> None:
    ard = pl.read_parquet(report / "ard.parquet")
    # ITT (screen failure TOY-005 excluded): planned Drug A 001, 002, 004, 006, 008;
    # Placebo 003, 007, 009. Ages 54 + 61 + 47 + 66 + 73 = 301 -> mean 60.2.
    assert one_stat(ard, "DM1", "Drug A", "BIGN", "N") == 5
    assert one_stat(ard, "DM1", "Drug A", "AGE", "mean") == pytest.approx(301 / 5)
    assert one_stat(ard, "DM1", "Placebo", "AGE", "mean") == pytest.approx((70 + 58 + 45) / 3)
    assert one_stat(ard, "DM1", None, "AGE", "n") == 8
    assert one_stat(ard, "DM1", "Drug A", "SEX", "p", variable_level="F") == pytest.approx(4 / 5)


def test_adverse_events_by_actual_arm(report: Path) -> None:
    ard = pl.read_parquet(report / "ard.parquet")
    # Safety by actual arm: Drug A 001, 006, 008; Placebo 002 (planned Drug A), 003, 007, 009.
    # TEAEs: 001 Headache, 006 Rash (Drug A); 002 Rash, 007 Dizziness, 009 Cough (Placebo).
    assert one_stat(ard, "AE1", "Drug A", "ANY", "n") == 2
    assert one_stat(ard, "AE1", "Drug A", "ANY", "N") == 3
    assert one_stat(ard, "AE1", "Placebo", "ANY", "p") == pytest.approx(3 / 4)
    rash = {"variable_level": "Rash", "group2_level": "Skin and subcutaneous tissue disorders"}
    assert one_stat(ard, "AE1", None, "AEDECOD", "n", **rash) == 2
    cough = {"variable_level": "Respiratory, thoracic and mediastinal disorders"}
    assert one_stat(ard, "AE1", "Drug A", "AEBODSYS", "n", **cough) == 0  # zero row kept


def test_time_to_death_by_hand(report: Path) -> None:
    ard = pl.read_parquet(report / "ard.parquet")
    t = {"group2_level": "TTDEATH"}
    # Drug A: 006 censored day 38, 008 dies day 65 (2 at risk), 001 censored day 134.
    assert one_stat(ard, "TTE1", "Drug A", "time_to_event", "events", **t) == 1
    assert one_stat(ard, "TTE1", "Drug A", "time", "estimate", variable_level="100", **t) == 0.5
    # Placebo: 003 dies day 113 (4 at risk); 114, 120, 141 censored.
    assert one_stat(ard, "TTE1", "Placebo", "time", "estimate", variable_level="130", **t) == 0.75
    assert one_stat(ard, "TTE1", "Placebo", "time", "n.risk", variable_level="130", **t) == 1
    # Log-rank: day 65 (d 1; Drug A 2 of 6 at risk), day 113 (d 1; Drug A 1 of 5).
    # O = 1, E = 2/6 + 1/5, V = (2/6)(4/6) + (1/5)(4/5).
    expected, variance = 2 / 6 + 1 / 5, (2 / 6) * (4 / 6) + (1 / 5) * (4 / 5)
    chisq = (1 - expected) ** 2 / variance
    assert one_stat(ard, "TTE1", None, "logrank", "statistic", **t) == pytest.approx(chisq)
    assert one_stat(ard, "TTE1", "Drug A", "logrank_vs_Placebo", "df", **t) == 1
    assert one_stat(ard, "TTE1", "Drug A", "cox_efron", "estimate", **t) > 0

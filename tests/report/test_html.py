from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from typer.testing import CliRunner

from eap.ard import build_ard
from eap.cli import app
from eap.derive import derive_all
from eap.report.html import render_html
from eap.report.tables import report_tables
from eap.simulate import simulate


def _ard():  # type: ignore[no-untyped-def]
    sdtm = simulate(2014)
    return build_ard(derive_all(sdtm, dt.date(2014, 11, 5)).datasets, cm=sdtm["CM"].frame)


def test_tables_hold_the_published_numbers_from_the_ard() -> None:
    tables = {t.id: t for t in report_tables(_ard())}
    assert list(tables) == [
        "DMT01",
        "EXT01",
        "AET02",
        "AET02S",
        "AET04",
        "AET09",
        "AET05",
        "AET10",
        "DTHT01",
        "CMT01",
        "AET11",
        "XST01",
        "TTET01",
    ]
    mods = tables["AET05"].body.row(0)
    assert mods == ("Interruption only", "34 (42.5)", "17 (41.5)")
    soc = tables["AET02S"].body
    assert soc.row(1)[0] == "Blood and lymphatic system disorders"
    cross = tables["XST01"].body.row(0)
    assert cross == ("Grade 3-4 AEs, %", "85.3", "-", "69.8", "60.0", "60.0")
    assert tables["AET11"].body.row(0)[1].startswith("31/80")
    deaths = dict(
        zip(tables["DTHT01"].body["Characteristic"], tables["DTHT01"].body.iter_rows(), strict=True)
    )
    assert deaths["Deaths"][1:] == ("30 (37.5)", "5 (12.2)")
    assert deaths["  Multiple myeloma"][1] == "9 (11.3)"
    assert tables["CMT01"].body.row(1) == ("Proton pump inhibitors", "36 (45.0)")
    assert tables["AET10"].body.height == 2
    table1 = dict(
        zip(tables["DMT01"].body["Characteristic"], tables["DMT01"].body.iter_rows(), strict=True)
    )
    assert table1["Male"][1:] == ("52 (65.0)", "25 (61.0)")
    assert table1["Age, years: median (range)"][1:] == ("59.0 (35.0-76.0)", "59.0 (47.0-74.0)")
    t2 = tables["AET04"].body
    assert t2.row(0) == ("Patients with >= 1 grade 3-4 AE", "48 (60.0)")
    assert t2.row(3) == ("Anemia", "9 (11.3)")  # 11.25 rounds half up, as published
    assert t2.height == 13  # the any row and the 12 terms of Table 2
    efficacy = dict(
        zip(tables["TTET01"].body["Characteristic"], tables["TTET01"].body.iter_rows(), strict=True)
    )
    assert efficacy["Overall survival, months"][1:] == ("NE", "NE")
    any_teae = tables["AET02"].body.row(0)
    assert any_teae == ("Patients with >= 1 TEAE", "77 (96.3)")


def test_html_report_has_every_table_with_population_n_and_a_contents(tmp_path: Path) -> None:
    path = render_html(_ard(), tmp_path / "report.html", subtitle="test")
    text = path.read_text()
    for output in (
        "DMT01",
        "EXT01",
        "AET02",
        "AET04",
        "AET09",
        "AET10",
        "DTHT01",
        "CMT01",
        "AET11",
        "XST01",
        "TTET01",
    ):
        assert f'id="{output}"' in text and f'href="#{output}"' in text
    assert text.count("Safety population (N = 80)") == 11  # tables with population columns
    assert text.count("Treatment cohort (N = 41)") == 5
    assert "highest CTCAE v4.0 grade" in text
    assert not re.search(r"\bnan\b|\binf\b", text)


def test_cli_report_writes_html_and_ard(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.stdout
    assert {p.name for p in tmp_path.iterdir()} == {
        "report.html",
        "ard.parquet",
        "ard.json",
        "figures",
        "rtf",
        "report.pdf",
    }
    pdf = (tmp_path / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    # Tables fill at least three pages; each of the seven figures has a page of its own.
    pages = len(re.findall(rb"/Type /Page\b(?!s)", pdf))
    assert pages >= 3 + 7
    rtf = sorted(p.name for p in (tmp_path / "rtf").iterdir())
    assert "DMT01.rtf" in rtf and "AET04.rtf" in rtf and len(rtf) == 13
    table2 = (tmp_path / "rtf" / "AET04.rtf").read_text()
    assert "\\rtf1" in table2
    assert "Safety population (N = 80)" in table2 and "48 (60.0)" in table2


def test_km_figures_come_from_ard_rows(tmp_path: Path) -> None:
    import polars as pl

    from eap.report.figures import write_km_figures

    ard = _ard()
    risk = ard.filter(
        (pl.col("ANALYSIS") == "KMG01") & (pl.col("STAT") == "n_risk") & (pl.col("LEVEL") == "0")
    )
    assert dict(risk.filter(pl.col("VARIABLE") == "PFS").select("POPULATION", "VALUE").rows()) == {
        "safety": 80.0,
        "treatment_cohort": 41.0,
    }
    paths = write_km_figures(ard, tmp_path)
    assert sorted(p.name for p in paths) == sorted(
        [f"KMG01_{p}.{e}" for p in ("PFS", "TTP", "OS", "DOR") for e in ("png", "svg")]
        + ["FLOW01.png", "FLOW01.svg", "AEG01.png", "AEG01.svg", "SWMG01.png", "SWMG01.svg"]
    )
    assert all(p.stat().st_size > 5_000 for p in paths)
    text = render_html(ard, tmp_path / "r.html").read_text()
    assert text.count("<svg") == 7  # Figure 1, AE over time, swimmer, four Kaplan-Meier
    assert "Safety population N = 80" in text and "Treatment cohort N = 41" in text


def test_cli_report_formats_limits_outputs(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", "--out", str(tmp_path), "--formats", "html"])
    assert result.exit_code == 0, result.stdout
    names = {p.name for p in tmp_path.iterdir()}
    assert "report.html" in names and "report.pdf" not in names and "rtf" not in names


def test_cli_report_rejects_unknown_format(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", "--out", str(tmp_path), "--formats", "html,xls"])
    assert result.exit_code != 0
    assert "--formats" in str(result.exception) and "html,xls" in str(result.exception)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())

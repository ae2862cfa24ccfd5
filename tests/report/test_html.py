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
        "AET10L",
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
    assert tables["AET10"].body.row(0) == (
        "Patients with >= 1 second primary malignancy",
        "2 (2.5)",
    )
    assert tables["AET10"].body.height == 3
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
        "AET10L",
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
    assert "DMT01.rtf" in rtf and "AET04.rtf" in rtf and len(rtf) == 14 + 7
    figure = (tmp_path / "rtf" / "KMG01_PFS.rtf").read_text()
    assert "\\pngblip" in figure and "Kaplan-Meier estimate of progression-free survival" in figure
    assert "Censored observations marked |" in figure
    table2 = (tmp_path / "rtf" / "AET04.rtf").read_text()
    assert "\\rtf1" in table2
    assert "Safety population (N = 80)" in table2 and "48 (60.0)" in table2


def test_km_figures_come_from_ard_rows(tmp_path: Path) -> None:
    import polars as pl

    from eap.report.figures import write_figures

    ard = _ard()
    risk = ard.filter(
        (pl.col("ANALYSIS") == "KMG01") & (pl.col("STAT") == "n_risk") & (pl.col("LEVEL") == "0")
    )
    assert dict(risk.filter(pl.col("VARIABLE") == "PFS").select("POPULATION", "VALUE").rows()) == {
        "safety": 80.0,
        "treatment_cohort": 41.0,
    }
    paths = [p for files in write_figures(ard, tmp_path).values() for p in files.values()]
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


def test_spm_listing_has_one_line_per_record_from_the_ard() -> None:
    listing = {t.id: t for t in report_tables(_ard())}["AET10L"]
    assert listing.body.columns[:3] == ["Subject", "Group", "Preferred term"]
    rows = {r[0]: r for r in listing.body.iter_rows()}
    assert set(rows) == {"MM024-10-0006", "MM024-12-0007"}
    assert rows["MM024-10-0006"][1:3] == ("Treatment cohort", "Nasopharyngeal carcinoma")
    assert rows["MM024-12-0007"][1] == "Safety follow-up only"
    assert rows["MM024-12-0007"][-2] == "Y"  # serious
    assert listing.subjects[(0, "Subject")] == (listing.body["Subject"][0],)


def test_every_count_names_its_subjects_in_the_html(tmp_path: Path) -> None:
    import json

    ard = _ard()
    tables = {t.id: t for t in report_tables(ard)}
    t2 = tables["AET04"]
    assert len(t2.subjects[(0, "safety")]) == 48  # the "any grade 3-4" row
    # Every n (%) cell with n > 0 has exactly n subjects behind it.
    for t in tables.values():
        for (i, col), subjects in t.subjects.items():
            shown = t.body[col][i]
            if re.fullmatch(r"\d+ \(.*\)", shown):
                assert int(shown.split()[0]) == len(subjects) == len(set(subjects)), (t.id, i)
            n_pop = {"safety": 80, "treatment_cohort": 41}.get(col, 80)
            assert len(subjects) <= n_pop, (t.id, i, col)  # no count exceeds its header N
    text = render_html(ard, tmp_path / "r.html").read_text()
    data = json.loads(re.search(r'id="subject-data">(.*?)</script>', text, re.S).group(1))  # type: ignore[union-attr]
    cell = re.search(
        r'<span class="n" data-k="(c\d+)" data-what="AET04 Patients with &gt;= 1 '
        r'grade 3-4 AE, safety population"',
        text,
    )
    assert cell is not None
    ids = [data["ids"][i] for i in data["cells"][cell.group(1)]]
    assert sorted(ids) == sorted(t2.subjects[(0, "safety")])


def test_html_drill_down_lists_subjects_in_a_browser(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    from tests.conftest import CHROMIUM, need_chromium

    need_chromium()
    path = render_html(_ard(), tmp_path / "r.html")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM))
        page = browser.new_page()
        page.goto(path.as_uri())
        cell = page.locator("#AET10 .n").first
        assert cell.get_attribute("title").startswith("2 patients: MM024-")  # type: ignore[union-attr]
        cell.click()
        assert page.locator("#subjects").is_visible()
        assert page.locator("#subjects li").count() == 2
        page.locator("#subjects button").click()
        assert not page.locator("#subjects").is_visible()
        browser.close()


def test_table2_threshold_is_an_option(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["report", "--out", str(tmp_path), "--formats", "html", "--ae-threshold", "10"]
    )
    assert result.exit_code == 0, result.stdout
    text = (tmp_path / "report.html").read_text()
    assert "Table 2. Grade 3-4 AEs in &gt;= 10% of the safety population" in text
    tables = {t.id: t for t in report_tables(_ard(), ae_threshold=10)}
    # The any-AE row, Neutropenia (20.0%) and Decreased neutrophil count (13.8%), Anemia (11.3%).
    assert tables["AET04"].body.height == 4
    bad = CliRunner().invoke(app, ["report", "--out", str(tmp_path), "--ae-threshold", "-1"])
    assert bad.exit_code != 0

from __future__ import annotations

import datetime as dt
import json
import re
from functools import cache
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from eap.ard import run_plan
from eap.cli import app
from eap.derive import derive_all
from eap.plans.plan import load_plan
from eap.report import write_report
from eap.report.layout import report_tables
from eap.report.tables import DisplayTable
from eap.simulate import simulate

PLAN = load_plan("mm024")


@cache
def _ard() -> pl.DataFrame:
    sdtm = simulate(2014)
    adam = derive_all(sdtm, dt.date(2014, 11, 5)).datasets
    return run_plan(PLAN, adam).ard


def _rows(t: DisplayTable) -> dict[str, tuple[str, ...]]:
    """Body rows by their label (the first with that label)."""
    out: dict[str, tuple[str, ...]] = {}
    for row in t.body.iter_rows():
        out.setdefault(row[0], row)
    return out


def test_tables_hold_the_published_numbers_from_the_ard() -> None:
    tables = {t.id: t for t in report_tables(PLAN, _ard())}
    assert list(tables) == [
        "DMT01",
        "DMT02",
        "EXT01",
        "DST01",
        "DTHT01",
        "AET02",
        "AET02S",
        "AET04",
        "AET09",
        "AET05",
        "AET05T",
        "AET10",
        "AET10L",
        "CMT01",
        "AET11",
        "XST01",
        "TTET01",
        "TTET02",
        "FUT01",
    ]
    assert tables["AET05"].body.row(0) == ("Interruption only", "34 (42.5)", "17 (41.5)")
    soc = tables["AET02S"].body
    assert soc.row(1)[0] == "Blood and lymphatic system disorders"
    assert tables["AET02S"].indent[:3] == (0, 0, 1)  # any row, SOC, its first term
    cross = tables["XST01"].body.row(0)
    assert cross == ("Grade 3–4 AEs, %", "85.3", "-", "69.8", "60.0", "60.0")
    # 38 of 80 patients had their first grade 3-4 TEAE in the first 6 months (counted
    # from the SDTM: AE with SUPPAE AETRTEM Y and AETOXGR 3-4, onset - RFXSTDTC + 1).
    assert tables["AET11"].body.row(0)[1].startswith("38/80")
    deaths = _rows(tables["DTHT01"])
    assert deaths["Deaths, n (%)"][1:] == ("30 (37.5)", "5 (12.2)")
    assert deaths["Multiple myeloma"][1] == "9 (11.3)"
    assert tables["CMT01"].body.row(1) == ("PROTON PUMP INHIBITORS", "36 (45.0)")
    assert tables["AET10"].body.row(0) == (
        "Patients with ≥ 1 second primary malignancy",
        "2 (2.5)",
    )
    assert tables["AET10"].body.height == 3
    table1 = _rows(tables["DMT01"])
    assert table1["Male"][1:] == ("52 (65.0)", "25 (61.0)")
    # The text: "median patient age was 59 years (range, 35–76 years)" (47–74 in the cohort).
    assert table1["Median"][1:] == ("59", "59")
    assert table1["Range"][1:] == ("35–76", "47–74")
    t2 = tables["AET04"].body
    assert t2.row(0) == ("Patient with ≥ 1 grade 3–4 adverse event", "48 (60.0)")
    assert t2.row(3) == ("Anemia", "9 (11.3)")  # 11.25 rounds half up, as published
    assert t2.height == 13  # the any row and the 12 terms of Table 2
    # Table 4: overall survival's median is not reached (NE), as published.
    labels = tables["TTET02"].body["c0"].to_list()
    os_median = tables["TTET02"].body.row(labels.index("Overall survival, months") + 2)
    assert os_median[0] == "Median (95% CI)"
    assert all(cell.startswith("NE (") for cell in os_median[1:])
    any_teae = tables["AET02"].body.row(0)
    assert any_teae[:2] == ("Patients with ≥ 1 TEAE", "77 (96.3)")


def test_cli_report_writes_every_format_and_the_ard(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.stdout
    assert {p.name for p in tmp_path.iterdir()} == {
        "report.html",
        "ard.parquet",
        "ard.json",
        "ard_metadata.json",
        "run_log.json",
        "figures",
        "rtf",
        "report.pdf",
    }
    pdf = (tmp_path / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    # Tables fill at least three pages; each of the eight figures has a page of its own.
    pages = len(re.findall(rb"/Type /Page\b(?!s)", pdf))
    assert pages >= 3 + 8
    rtf = sorted(p.name for p in (tmp_path / "rtf").iterdir())
    assert "DMT01.rtf" in rtf and "AET04.rtf" in rtf and len(rtf) == 19 + 8
    figure = (tmp_path / "rtf" / "KMG01_PFS.rtf").read_text()
    assert "\\pngblip" in figure and "Kaplan-Meier estimate of progression-free survival" in figure
    assert "Censored observations marked +" in figure
    table2 = (tmp_path / "rtf" / "AET04.rtf").read_text()
    assert "\\rtf1" in table2 and "48 (60.0)" in table2
    html = (tmp_path / "report.html").read_text()
    for output in PLAN.outputs:
        assert f'id="{output.id.replace("_", "-")}"' in html
    assert html.count("Safety population (N\u00a0=\u00a080)") >= 10
    assert "highest CTCAE v4.0 grade" in html
    assert not re.search(r"\bnan\b|\binf\b", html)
    assert html.count("<svg") == 8  # Figure 1, four KM, AE over time, swimmer, forest
    assert "Safety population N = 80" in html and "Treatment cohort N = 41" in html


def test_two_reports_of_the_same_data_are_byte_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The run date is printed in the report: SOURCE_DATE_EPOCH fixes it.
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    for name in ("a", "b"):
        write_report(_ard(), tmp_path / name, PLAN, formats=("html", "pdf"))
    for name in ("report.html", "report.pdf", "ard.parquet", "figures/KMG01_OS.svg"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_km_figures_come_from_ard_rows(tmp_path: Path) -> None:
    from eap.report.figures import report_figures, write_figures

    ard = _ard()
    risk = ard.filter(
        (pl.col("output") == "KMG01_PFS")
        & (pl.col("stat_name") == "n.risk")
        & (pl.col("variable_level") == "0")
    )
    assert dict(risk.select("population", "stat").rows()) == {
        "safety": 80.0,
        "treatment_cohort": 41.0,
    }
    paths = [
        p
        for files in write_figures(ard, tmp_path, report_figures(PLAN)).values()
        for p in files.values()
    ]
    assert sorted(p.name for p in paths) == sorted(
        [f"KMG01_{p}.{e}" for p in ("PFS", "TTP", "OS", "DOR") for e in ("png", "svg")]
        + ["FLOW01.png", "FLOW01.svg", "AEG01.png", "AEG01.svg", "SWMG01.png", "SWMG01.svg"]
        + ["FRSG01.png", "FRSG01.svg"]
    )
    assert all(p.stat().st_size > 5_000 for p in paths)


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
    listing = {t.id: t for t in report_tables(PLAN, _ard())}["AET10L"]
    assert listing.headers[:3] == ("Subject", "Treatment cohort", "Preferred term")
    rows = {r[0]: r for r in listing.body.iter_rows()}
    # The SDTM's two AECAT SECOND PRIMARY MALIGNANCY records, both of safety-follow-up
    # patients (DM.ARMCD SFU): a duodenal tumor and a nasopharyngeal carcinoma.
    assert set(rows) == {"MM024-02-0001", "MM024-10-0018"}
    assert rows["MM024-10-0018"][1:3] == ("N", "Nasopharyngeal carcinoma")
    assert rows["MM024-02-0001"][1:3] == ("N", "Duodenal tumor")
    assert rows["MM024-02-0001"][-2] == "Y"  # serious
    assert listing.subjects[(0, "c0")] == (listing.body["c0"][0],)


def test_every_count_names_its_subjects_in_the_html(tmp_path: Path) -> None:
    ard = _ard()
    tables = {t.id: t for t in report_tables(PLAN, ard)}
    t2 = tables["AET04"]
    assert len(t2.subjects[(0, "c1")]) == 48  # the "any grade 3-4" row
    # Every n (%) cell with n > 0 has exactly n subjects behind it, never more than its N.
    for t in tables.values():
        for (i, col), subjects in t.subjects.items():
            shown = t.body[col][i]
            if re.fullmatch(r"\d+ \(.*\)", shown):
                assert int(shown.split()[0]) == len(subjects) == len(set(subjects)), (t.id, i)
            header = t.headers[int(col[1:])]
            found = re.search(r"N\u00a0=\u00a0(\d+)", header)
            if found:
                assert len(subjects) <= int(found.group(1)), (t.id, i, col)
    paths = write_report(ard, tmp_path, PLAN, formats=("html",))
    text = paths["html"].read_text()
    data = json.loads(re.search(r'id="subject-data">(.*?)</script>', text, re.S).group(1))  # type: ignore[union-attr]
    cell = re.search(
        r'<span class="n" data-k="(c\d+)" data-what="AET04 Patient with ≥ 1 '
        r"grade 3–4 adverse event, Safety population",
        text,
    )
    assert cell is not None
    ids = [data["ids"][i] for i in data["cells"][cell.group(1)]]
    assert sorted(ids) == sorted(t2.subjects[(0, "c1")])


def test_html_drill_down_lists_subjects_in_a_browser(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    from tests.conftest import CHROMIUM, need_chromium

    need_chromium()
    path = write_report(_ard(), tmp_path, PLAN, formats=("html",))["html"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM))
        page = browser.new_page()
        page.goto(path.as_uri())
        cell = page.locator("#AET10 .n").first
        assert cell.get_attribute("title").startswith("2 subjects: MM024-")  # type: ignore[union-attr]
        cell.click()
        assert page.locator("#subjects").is_visible()
        assert page.locator("#subjects li").count() == 2
        page.locator("#subjects button").click()
        assert not page.locator("#subjects").is_visible()
        browser.close()


def test_an_incidence_threshold_is_an_option(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["report", "--out", str(tmp_path), "--formats", "html", "--threshold", "AET04=10"]
    )
    assert result.exit_code == 0, result.stdout
    assert "at least 10% of the subjects" in (tmp_path / "report.html").read_text()
    # Neutropenia 20.0%, Decreased neutrophil count 13.8%, Anemia 11.25% are >= 10%;
    # Thrombocytopenia 6.3% is not. At the boundary: 11.25 is kept at 11.25, dropped at 11.26.
    at = {t.id: t for t in report_tables(PLAN, _ard(), {"AET04": 11.25})}["AET04"]
    above = {t.id: t for t in report_tables(PLAN, _ard(), {"AET04": 11.26})}["AET04"]
    assert "Anemia" in at.body["c0"].to_list()
    assert "Anemia" not in above.body["c0"].to_list()
    assert {t.id: t for t in report_tables(PLAN, _ard(), {"AET04": 10})}["AET04"].body.height == 4
    for bad in ("AET04=-1", "AET04=x", "DMT01=5", "NOPE=5"):
        refused = CliRunner().invoke(app, ["report", "--out", str(tmp_path), "--threshold", bad])
        assert refused.exit_code != 0, bad


@pytest.mark.parametrize(("n", "listed", "more"), [(1000, 1000, None), (1001, 1000, 1001)])
def test_a_count_lists_at_most_list_max_subjects_in_the_page(
    n: int, listed: int, more: int | None
) -> None:
    from eap.report.html import LIST_MAX, SubjectIndex

    assert LIST_MAX == 1000
    index = SubjectIndex(LIST_MAX)
    subjects = tuple(f"S{i:05d}" for i in range(n))
    key = index.add(subjects)
    assert len(index.cells[key]) == listed and index.more.get(key) == more
    assert [list(index.ids)[i] for i in index.cells[key][:2]] == ["S00000", "S00001"]


def test_the_same_subjects_are_stored_once() -> None:
    from eap.report.html import SubjectIndex

    index = SubjectIndex()
    first, again, other = index.add(("A", "B")), index.add(("A", "B")), index.add(("B",))
    assert first == again != other
    assert index.cells == {first: [0, 1], other: [1]} and list(index.ids) == ["A", "B"]


def test_the_panel_says_how_many_more_than_it_lists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.sync_api import sync_playwright

    import eap.report.html as report_html
    from tests.conftest import CHROMIUM, need_chromium

    need_chromium()
    monkeypatch.setattr(report_html, "LIST_MAX", 1)
    path = write_report(_ard(), tmp_path, PLAN, formats=("html",))["html"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM))
        page = browser.new_page()
        page.goto(path.as_uri())
        page.locator("#AET10 .n").first.click()  # a count of 2 subjects
        assert page.locator("#subjects h3").inner_text().endswith(": 2 subjects")
        assert page.locator("#subjects li").count() == 1
        assert page.locator("#subjects p").inner_text().startswith("… and 1 more:")
        browser.close()


def test_a_long_subject_list_is_kept_in_part_and_known_by_its_whole() -> None:
    """Past SHOWN_MAX subjects a count keeps its first SHOWN_MAX, its size and a key from
    the whole list: two counts of the same 1,500 subjects share a list in the page; a
    count whose subjects differ only after the first 1,000 does not."""
    from eap.ard.cards import empty_ard
    from eap.report.html import SubjectIndex
    from eap.report.layout import Cells, DisplayColumn
    from eap.report.tables import SHOWN_MAX

    same = [f"S{i:05d}" for i in range(1500)]
    other = same[:1000] + [f"T{i:05d}" for i in range(500)]
    rows = pl.DataFrame(
        [
            {"population": "safety", "variable": v, "stat_name": "n", "stat": 1500.0, "subjects": s}
            for v, s in (("A", same), ("B", same), ("C", other), ("D", same[:SHOWN_MAX]))
        ],
        schema={k: t for k, t in empty_ard().schema.items()},
    )
    cells = Cells(rows)
    column = DisplayColumn("safety", None, "Safety", 1500)
    a, b, c, d = (cells.subjects(column, v) for v in "ABCD")
    assert (a.total, len(a), a[:2]) == (1500, SHOWN_MAX, ("S00000", "S00001"))
    assert a.key == b.key != c.key
    assert d.total == len(d) == SHOWN_MAX and d.key == tuple(same[:SHOWN_MAX])  # whole
    index = SubjectIndex()
    keys = [index.add(x) for x in (a, b, c, d)]
    assert keys[0] == keys[1] and len(set(keys)) == 3
    assert index.more == {keys[0]: 1500, keys[2]: 1500}


@pytest.mark.parametrize(("records", "shown"), [(500, 500), (501, 500)])
def test_the_page_shows_at_most_listing_max_records_of_a_listing_and_says_so(
    records: int, shown: int
) -> None:
    from eap.report.html import LISTING_MAX, SubjectIndex, table_html
    from eap.report.tables import Count, table

    assert LISTING_MAX == 500
    rows = [[Count(f"S{i:05d}", [f"S{i:05d}"]), f"R{i:05d}"] for i in range(records)]
    listing = table("L1", "A listing", rows, ["Subject", "Term"], [], records=True)
    page = table_html(listing, SubjectIndex())
    assert len(re.findall(r">R\d{5}<", page)) == shown
    note = f"The first 500 of {records} records are shown here"
    assert (note in page) == (records > shown)
    # A table that is not a listing is shown whole.
    whole = table_html(table("T1", "A table", rows, ["Subject", "Term"], []), SubjectIndex())
    assert len(re.findall(r">R\d{5}<", whole)) == records

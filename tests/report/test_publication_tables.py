"""Tables 1-4 of the MM-024 report laid out as the publication prints them.

The expected row labels are transcribed from the publication's tables
(seed/mm024_publication.txt, Tables 1-4), in the paper's order. eap sets ≤ and ≥
with a space before the number ("≥ 5") where the paper is not consistent ("≥5",
"≤ 65 years"); :func:`_plain` removes that one space on both sides before comparing.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from eap.ard.summary import Variable, _statistic_fmts
from eap.report.html import HOVER_MAX, hover_text, render_html
from eap.report.layout import report_tables
from eap.report.tables import Count, DisplayTable, n_pct, table, typeset
from tests.report.test_html import PLAN, _ard

TABLE_1 = [
    "Age, years",
    "Median",
    "Range",
    "Age distribution, n (%)",
    "≤ 65 years",
    "> 65 years",
    "Sex, n (%)",
    "Male",
    "Female",
    "ECOG performance status score, n (%)",
    "0",
    "1",
    "2",
    "Durie-Salmon stage, n (%)",
    "I",
    "II",
    "III",
    "Number of prior antimyeloma therapies, n (%)",
    "1",
    "2",
    "3",
    "4",
    "≥5",
    "Prior usage of bortezomib and thalidomide, n (%)",
    "Used thalidomide previously",
    "Used bortezomib previously",
    "Used neither thalidomide nor bortezomib",
    "Used both thalidomide and bortezomib",
]
TABLE_2 = [
    "Patient with ≥1 grade 3–4 adverse event",
    "Neutropenia",
    "Decreased neutrophil count",
    "Anemia",
    "Pneumonia",
    "Decreased white blood cell count",
    "Leukopenia",
    "Thrombocytopenia",
    "Upper respiratory tract infection",
    "Fatigue",
    "Decreased platelet count",
    "Hypocalcemia",
    "Hypokalemia",
]
TABLE_3 = [
    "Patient with ≥1 serious adverse event",
    "Pneumonia",
    "Lung infection",
    "Cerebral infarction",
    "Bronchitis",
    "Bronchopneumonia",
    "Lobar pneumonia",
    "Cerebral ischemia",
    "Neutropenia",
    "Cardiac failure",
    "Cataract",
    "Spinal compression fracture",
    "Electrolyte imbalance",
    "Multiple myeloma",
    "Deep vein thrombosis",
]
TABLE_4 = [
    "Duration of response, months",
    "Time to progression, months",
    "Progression-free survival, months",
    "Overall survival, months",
]


def _plain(label: str) -> str:
    return re.sub(r"([≤≥]) ", r"\1", label)


def _tables() -> dict[str, DisplayTable]:
    return {t.id: t for t in report_tables(PLAN, _ard())}


def test_tables_1_to_4_have_the_published_rows_in_the_published_order() -> None:
    tables = _tables()
    for output, expected in (
        ("DMT01", TABLE_1),
        ("AET04", TABLE_2),
        ("AET09", TABLE_3),
        ("TTET01", TABLE_4),
    ):
        labels = [_plain(x) for x in tables[output].body["c0"].to_list()]
        assert labels == [_plain(x) for x in expected], output


def test_table_1_groups_its_rows_under_label_rows() -> None:
    t = _tables()["DMT01"]
    labels = t.body["c0"].to_list()
    level = dict(zip(labels, t.indent, strict=False))
    # Label rows stand alone; their statistics and levels are nested one step under them.
    assert level["Age, years"] == level["Prior usage of bortezomib and thalidomide, n (%)"] == 0
    assert level["Median"] == level["Range"] == level["Male"] == 1
    assert level["Used both thalidomide and bortezomib"] == 1
    assert t.body.row(labels.index("Prior usage of bortezomib and thalidomide, n (%)"))[1:] == (
        "",
        "",
    )
    # The paper's stub heading.
    assert t.headers[0] == "Characteristic"


def test_the_published_footnotes_and_marks() -> None:
    tables = _tables()
    t2, t3, t1 = tables["AET04"], tables["AET09"], tables["DMT01"]
    assert "All values n (%)." in t2.footnotes and "All values n (%)." in t3.footnotes
    row = t2.body["c0"].to_list().index("Decreased neutrophil count")
    assert t2.mark(row) == "a" and t2.mark(0) == ""
    note = next(f for f in t2.footnotes if t2.note_mark(f)[0] == "a")
    assert t2.note_mark(note)[1].startswith("Decreased neutrophil count refers to a fall")
    row = t3.body["c0"].to_list().index("Multiple myeloma")
    assert t3.mark(row) == "a"
    assert any("did not meet the study criteria for progressive disease" in f for f in t3.footnotes)
    assert any(f.startswith("ECOG, Eastern Cooperative Oncology Group") for f in t1.footnotes)
    # A footnote that does not start with one of the table's marks has none.
    assert t1.note_mark("ECOG, Eastern Cooperative Oncology Group.")[0] == ""
    assert tables["TTET01"].footnotes[:2] == ("All values median (95% CI).", "NE, not estimable.")


def test_table_4_is_one_line_per_outcome_with_the_median() -> None:
    t = _tables()["TTET01"]
    os_row = t.body.row(3)
    # Overall survival: not reached in either population, as published ("NE").
    assert os_row[0] == "Overall survival, months"
    assert all(cell.startswith("NE (") for cell in os_row[1:])
    assert re.fullmatch(r"\d+\.\d \(\d+\.\d–\d+\.\d\)", t.body.row(0)[2])


def test_counts_and_integer_medians_print_as_integers() -> None:
    tables = _tables()
    # The text: "the median number of prior therapies was 4 (range, 1–15)"; 3 (1–11).
    prior = {r[0]: r for r in tables["DMT02"].body.iter_rows()}
    assert prior["Number of prior antimyeloma therapies: median (range)"][1:] == (
        "4 (1–15)",
        "3 (1–11)",
    )
    # A variable that is not whole numbers keeps its decimal: "16.5 months (range, 1.8–48.1)".
    exposure = {r[0]: r for r in tables["EXT01"].body.iter_rows()}
    assert exposure["Duration of Rd, months: median (range)"][1] == "16.5 (1.8–48.1)"


def _variable(digits: int | None = None) -> Variable:
    return Variable("X", "X", "continuous", digits, None, ("median",), None, {}, "", None, "")


def test_the_precision_of_an_integer_variable_comes_from_its_values() -> None:
    odd = np.array([1.0, 2.0, 4.0])  # median 2, a value of the data
    even = np.array([1.0, 2.0, 3.0, 4.0])  # median (2 + 3) / 2 = 2.5, between two values
    fmt = _statistic_fmts(_variable(), odd, 2.0)
    assert (fmt["median"], fmt["min"], fmt["max"], fmt["mean"]) == ("xx", "xx", "xx", "xx.x")
    assert _statistic_fmts(_variable(), even, 2.5)["median"] == "xx.x"  # 2.5, not 3
    # Not whole numbers: one decimal; a plan's digits are kept as given.
    assert _statistic_fmts(_variable(), np.array([1.5, 2.0]), 1.75)["min"] == "xx.x"
    assert _statistic_fmts(_variable(1), odd, 2.0)["median"] == "xx.x"


def test_a_percent_is_rounded_half_up_from_the_exact_fraction() -> None:
    # Table 1: "> 65 years 23 (28.8)" and "Used both ... 41 (51.3)": 28.75 and 51.25 round
    # up, though 0.2875 x 100 is 28.749999... in binary floating point.
    assert n_pct(23, 23 / 80, 80) == "23 (28.8)"
    assert n_pct(41, 41 / 80, 80) == "41 (51.3)"
    table1 = {r[0]: r for r in _tables()["DMT01"].body.iter_rows()}
    assert table1["> 65 years"][1] == "23 (28.8)"


def test_one_typographic_convention() -> None:
    assert typeset("<=65") == "≤65" and typeset(">=5 years") == "≥5 years"
    t = table("T", "Ages <= 65", [["<=65", ">=5"]], ["", ">= 1"], ["AGE <= 65"])
    assert (t.title, t.headers[1], t.footnotes[0]) == ("Ages ≤ 65", "≥ 1", "AGE ≤ 65")
    assert t.body.row(0) == ("≤65", "≥5")
    for t in _tables().values():
        text = " ".join([t.title, *t.headers, *t.footnotes, *t.body["c0"].to_list()])
        assert "<=" not in text and ">=" not in text, t.id
        assert not re.search(r"[Gg]rade \d-\d", text), t.id  # "grade 3–4", an en dash


def _furniture():  # type: ignore[no-untyped-def]
    import datetime as dt

    from eap.report.furniture import furniture_for

    return furniture_for(
        PLAN,
        cutoff="2014-11-05",
        program="eap report",
        run_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        paper="letter",
    )


def _ids(n: int) -> list[str]:
    return [f"MM024-01-{i:04d}" for i in range(1, n + 1)]


def test_hovering_a_count_names_up_to_20_subjects() -> None:
    assert HOVER_MAX == 20
    at = hover_text(_ids(20))
    assert at.startswith("20 subjects: MM024-01-0001, ")
    assert "MM024-01-0020" in at and "more" not in at
    over = hover_text(_ids(21))
    assert "MM024-01-0020" in over and "MM024-01-0021" not in over
    assert over.endswith("… and 1 more (click to list)")
    assert hover_text(_ids(1)) == "1 subject: MM024-01-0001 (click to list)"


def test_the_html_title_attribute_holds_the_subjects(tmp_path: Path) -> None:
    rows = [["Twenty", Count("20", _ids(20))], ["Twenty-one", Count("21", _ids(21))]]
    t = table("T1", "Counts", rows, ["", "N"], [])
    html = render_html(tmp_path / "r.html", [t], {}, title="R").read_text(encoding="utf-8")
    titles = re.findall(r'title="([^"]*)"', html)
    assert len(titles) == 2
    assert titles[0].count("MM024-01-") == 20 and "more" not in titles[0]
    assert titles[1].count("MM024-01-") == 20 and titles[1].endswith("… and 1 more (click to list)")
    # Each table's title once, as its section heading (the contents list links to it).
    assert html.count("<h2>Counts [T1]</h2>") == 1
    assert html.count("Counts") == 2


def test_the_pdf_is_set_in_a_font_with_the_signs(tmp_path: Path) -> None:
    from eap.report.pdf import write_pdf

    t = table("T1", "Grade 3–4 in ≥ 3%", [["≤ 65 years", "1 (1.3)"]], ["", "N"], ["a ≥ b"])
    from pypdf import PdfReader

    path = write_pdf(tmp_path / "r.pdf", [t], {}, _furniture(), title="R")
    # Helvetica (reportlab's standard font) has no ≤ or ≥; the table is set in Vera.
    # The table's page: after the title and contents page.
    page = next(p for p in PdfReader(path).pages if "65 years" in p.extract_text())
    fonts = {str(f["/BaseFont"]) for f in page["/Resources"]["/Font"].values()}
    assert any("Vera" in f for f in fonts)
    text = page.extract_text()
    assert "≤ 65 years" in text and "≥ 3%" in text and "Grade 3–4" in text


def test_a_malformed_order_or_mark_is_refused_naming_the_field() -> None:
    import dataclasses

    import pytest

    from eap.errors import PlanError
    from eap.plans.study import Fields
    from eap.report.layout import layout

    t3 = PLAN.output("AET09")

    def with_field(key: str, value: object) -> object:
        fields = Fields({**t3.fields.data, key: value}, t3.fields.file, t3.fields.prefix)
        return dataclasses.replace(t3, fields=fields)

    for key, value in (("order", "Pneumonia"), ("marks", {"Multiple myeloma": 1})):
        with pytest.raises(PlanError) as error:
            layout(with_field(key, value), _ard(), PLAN.study)  # type: ignore[arg-type]
        assert key in str(error.value) and "plan.toml" in str(error.value)


def test_marks_are_superscript_in_every_format(tmp_path: Path) -> None:
    from eap.report.rtf import write_rtf

    t = table(
        "T2",
        "Marks",
        [["Multiple myeloma", "1 (1.3)"], ["Neutropenia", "1 (1.3)"]],
        ["", "N"],
        ["a Multiple myeloma was considered an adverse event.", "All values n (%)."],
        marks={"Multiple myeloma": "a"},
    )
    assert t.marks == ("a", "")
    rtf = write_rtf(tmp_path, [t], {}, _furniture())[0].read_text()
    assert "Multiple myeloma{\\super a}" in rtf and "{\\super a}Multiple myeloma was" in rtf
    html = render_html(tmp_path / "r.html", [t], {}, title="R").read_text(encoding="utf-8")
    assert "Multiple myeloma<sup>a</sup>" in html
    assert "<sup>a</sup>Multiple myeloma was considered" in html
    assert "<sup>" not in html.split("Neutropenia")[1].split("</tr>")[0]

"""Page furniture of the RTF and PDF report: header, footer, Page x of y, paper, outline."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from functools import cache
from pathlib import Path

import polars as pl
import pypdf
import pytest

from eap.ard import run_plan
from eap.derive import derive_all
from eap.errors import EapError
from eap.plans.plan import load_plan
from eap.report import write_report
from eap.report.furniture import furniture_for, paper_size, run_date
from eap.report.rtf import ascii_rtf, write_rtf
from eap.report.tables import table
from eap.simulate import simulate

PLAN = load_plan("mm024")
ROOT = Path(__file__).resolve().parents[2]
# eap's version as the project declares it, read from pyproject.toml.
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
# 2023-11-14T22:13:20Z is 1 700 000 000 s after 1970-01-01T00:00:00Z:
# 19 675 days (1970-01-01 to 2023-11-14, 53 years with 13 leap days: 53 x 365 + 13 + 317
# days into 2023) x 86 400 s = 1 699 920 000 s, plus 80 000 s = 22 h 13 min 20 s.
EPOCH, EPOCH_SHOWN = 1_700_000_000, "2023-11-14T22:13:20Z"
# Paper in points (1 pt = 1/72 in): US Letter (ANSI A) 8.5 x 11 in; ISO 216 A4 210 x 297 mm.
LETTER = (612.0, 792.0)
A4 = (595.28, 841.89)
# The same in twips (1/20 pt), as RTF's \paperw and \paperh give them: 8.5 x 1440 and
# 11 x 1440; A4 210 / 25.4 x 1440 = 11905.5 and 297 / 25.4 x 1440 = 16837.8, which
# Word writes as 11906 and 16838.
LETTER_TWIPS = (12240, 15840)
A4_TWIPS = (11906, 16838)


@cache
def _ard() -> pl.DataFrame:
    adam = derive_all(simulate(2014), dt.date(2014, 11, 5)).datasets
    return run_plan(PLAN, adam).ard


def _furniture(paper: str = "letter"):  # type: ignore[no-untyped-def]
    return furniture_for(
        PLAN,
        cutoff="2014-11-05",
        program="eap report --out /tmp/out --paper " + paper,
        run_at=dt.datetime.fromtimestamp(EPOCH, dt.UTC),
        paper=paper,
    )


# --------------------------------------------------------------------------- run date


def test_source_date_epoch_is_the_run_date() -> None:
    assert run_date({"SOURCE_DATE_EPOCH": str(EPOCH)}) == dt.datetime(
        2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC
    )
    assert run_date({"SOURCE_DATE_EPOCH": "0"}) == dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    # Unset or empty: now.
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    for env in ({}, {"SOURCE_DATE_EPOCH": ""}):
        assert before <= run_date(env) <= dt.datetime.now(dt.UTC)


@pytest.mark.parametrize("bad", ["-1", "1.5", "yesterday", "2023-11-14", "1e9", "99999999999999"])
def test_a_bad_source_date_epoch_is_refused_by_name(bad: str) -> None:
    with pytest.raises(EapError) as caught:
        run_date({"SOURCE_DATE_EPOCH": bad})
    message = str(caught.value)
    assert message.startswith("SOURCE_DATE_EPOCH: ")
    assert "seconds since 1970-01-01T00:00:00Z" in message and f"found {bad}" in message


def test_cli_report_refuses_a_bad_source_date_epoch_before_writing(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from eap.cli import app

    out = tmp_path / "report"
    result = CliRunner().invoke(
        app, ["report", "--out", str(out)], env={"SOURCE_DATE_EPOCH": "tomorrow"}
    )
    assert result.exit_code != 0
    assert "SOURCE_DATE_EPOCH" in str(result.exception)
    assert not out.exists()


# --------------------------------------------------------------------------- paper


def test_paper_sizes_in_points() -> None:
    assert paper_size("letter") == pytest.approx(LETTER, abs=0.005)
    assert paper_size("a4") == pytest.approx(A4, abs=0.005)
    with pytest.raises(EapError, match=r"--paper.*letter or a4.*legal"):
        paper_size("legal")


def test_cli_report_refuses_an_unknown_paper(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from eap.cli import app

    result = CliRunner().invoke(app, ["report", "--out", str(tmp_path / "r"), "--paper", "a3"])
    assert result.exit_code != 0 and "--paper" in str(result.exception)


# --------------------------------------------------------------------------- RTF

SMALL = table(
    "T_1",
    "A small table",
    [["Patients", "3 (37.5)", "1 (12.5)"]],
    ["", "Arm A (N\u00a0=\u00a08)", "Arm B (N\u00a0=\u00a08)"],
    ["x_1 and y^2 are plain text."],
)
WIDE = table("L_1", "A listing", [[str(i) for i in range(8)]], [f"C{i}" for i in range(8)], [])


def _paper(rtf: str) -> tuple[int, int]:
    found = re.search(r"\\paperw(\d+)\\paperh(\d+)", rtf)
    assert found is not None
    return int(found.group(1)), int(found.group(2))


def test_rtf_pages_have_header_footer_and_page_x_of_y(tmp_path: Path) -> None:
    write_rtf(tmp_path, [SMALL], {}, _furniture())
    raw = (tmp_path / "T_1.rtf").read_bytes()
    assert max(raw) < 128  # ASCII: RTF reads other bytes in the ANSI code page
    rtf = raw.decode("ascii")
    header = re.search(r"\{\\header.*?\\par\}\}", rtf, re.S)
    footer = re.search(r"\{\\footer.*?\\par\}\}", rtf, re.S)
    assert header is not None and footer is not None
    head, foot = header.group(0), footer.group(0)
    # Page x of y: the PAGE and NUMPAGES fields, which the word processor fills in.
    assert re.search(
        r"Page \{\\field\{\\\*\\fldinst PAGE \}.*? of \{\\field\{\\\*\\fldinst NUMPAGES", head
    )
    assert "Study MM-024" in head and "Output T_1" in head
    assert "Data cutoff: 2014-11-05" in head
    assert "\\tqr\\tx12240" not in head and "\\tqr\\tx9360" in head  # 6.5 in of text
    assert "Program: eap report --out /tmp/out --paper letter" in foot
    assert f"eap {VERSION}" in foot and f"Run {EPOCH_SHOWN}" in foot
    assert _paper(rtf) == LETTER_TWIPS
    # Margins: 1 in at the sides, header and footer 0.5 in from the edge, body below.
    assert "\\margl1440\\margr1440\\margt1800\\margb1440\\headery720\\footery720" in rtf


def test_rtf_column_headers_keep_n_whole_and_text_is_not_latex(tmp_path: Path) -> None:
    write_rtf(tmp_path, [SMALL], {}, _furniture())
    rtf = (tmp_path / "T_1.rtf").read_text(encoding="ascii")
    # A non-breaking space in RTF is \~ (RTF 1.9.1 specification, special characters).
    assert "Arm A (N\\~=\\~8)" in rtf
    # "_" and "^" stay characters: rtflite's LaTeX conversion would make them \sub, \super.
    assert "[T_1]" in rtf and "x_1 and y^2" in rtf
    assert "\\sub" not in rtf and "\\super" not in rtf


def test_rtf_paper_a4_and_landscape_for_a_wide_table(tmp_path: Path) -> None:
    write_rtf(tmp_path, [SMALL, WIDE], {}, _furniture("a4"))
    small = (tmp_path / "T_1.rtf").read_text(encoding="ascii")
    wide = (tmp_path / "L_1.rtf").read_text(encoding="ascii")
    assert _paper(small) == A4_TWIPS
    assert _paper(wide) == A4_TWIPS[::-1] and "\\landscape" in wide
    assert "\\landscape" not in small
    # The page number sits at the right edge of the text: A4 width less 2 in, in twips.
    assert f"\\tqr\\tx{A4_TWIPS[0] - 2 * 1440}" in small
    assert f"\\tqr\\tx{A4_TWIPS[1] - 2 * 1440}" in wide
    assert "Program: eap report --out /tmp/out --paper a4" in small


def test_ascii_rtf_escapes() -> None:
    # RTF 1.9.1: \uN is a signed 16-bit UTF-16 code unit. U+2265 (≥) is 8805, U+00E9 (é)
    # 233; U+1F600 is the surrogate pair D83D DE00: 55357 - 65536 = -10179 and
    # 56832 - 65536 = -8704.
    assert ascii_rtf("a\u00a0b \u2265 \u00e9") == "a\\~b \\uc1\\u8805* \\uc1\\u233*"
    assert ascii_rtf("\U0001f600") == "\\uc1\\u-10179*\\uc1\\u-8704*"


# --------------------------------------------------------------------------- PDF


@cache
def _pdf(paper: str, folder: Path) -> pypdf.PdfReader:
    paths = write_report(
        _ard(), folder / paper, PLAN, formats=("pdf",), furniture=_furniture(paper)
    )
    return pypdf.PdfReader(paths["pdf"])


@pytest.fixture(scope="module")
def pdf_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pdf")


def test_pdf_has_a_bookmark_per_output_and_page_x_of_n(pdf_folder: Path) -> None:
    reader = _pdf("letter", pdf_folder)
    n = len(reader.pages)
    texts = [page.extract_text() for page in reader.pages]
    for i, text in enumerate(texts, start=1):
        assert f"Page {i} of {n}" in text, i
        assert "Study MM-024" in text and "Data cutoff: 2014-11-05" in text
        assert "Program: eap report --out /tmp/out --paper letter" in text
        assert f"eap {VERSION}" in text and f"Run {EPOCH_SHOWN}" in text
    marks = {
        o.title.split(" ", 1)[0]: reader.get_destination_page_number(o) for o in reader.outline
    }
    # One bookmark per output of the plan (plan.toml), in plan order.
    assert list(marks) == [o.id for o in PLAN.outputs]
    for output_id, index in marks.items():
        assert re.search(rf"Output {output_id}\b", texts[index]), output_id
        assert f"[{output_id}]" in texts[index]
    # Table 2's page shows its population in the header.
    assert "Population: Safety population" in texts[marks["AET04"]]
    # The contents (page 1) give each output's page, as the bookmarks do.
    contents = texts[0]
    for output_id, index in marks.items():
        # Each contents row reads id, title, page.
        assert re.search(rf"\b{output_id}\n[^\n]+\n{index + 1}\n", contents), output_id


def test_pdf_paper_letter_a4_and_a_landscape_listing(pdf_folder: Path) -> None:
    for paper, (width, height) in (("letter", LETTER), ("a4", A4)):
        reader = _pdf(paper, pdf_folder)
        marks = {
            o.title.split(" ", 1)[0]: reader.get_destination_page_number(o) for o in reader.outline
        }
        for i, page in enumerate(reader.pages):
            size = (float(page.mediabox.width), float(page.mediabox.height))
            landscape = i == marks["AET10L"]  # the listing's one page
            expected = (height, width) if landscape else (width, height)
            assert size == pytest.approx(expected, abs=0.01), (paper, i)


def test_pdf_column_headers_keep_n_whole(pdf_folder: Path) -> None:
    reader = _pdf("a4", pdf_folder)
    marks = {
        o.title.split(" ", 1)[0]: reader.get_destination_page_number(o) for o in reader.outline
    }
    text = reader.pages[marks["DMT01"]].extract_text()
    # "(N = 80)" on one line; no line holds "(N" without its number.
    assert re.search(r"\(N\s=\s80\)", text)
    assert not re.search(r"\(N\s*$", text, re.M)

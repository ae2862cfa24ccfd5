"""RTF tables in the regulatory style (rtflite: the Python port of Merck's r2rtf).

One file per output, named by its id (DMT01.rtf, AET04.rtf, ...): title, column
headers with each population's N, the body and the footnotes, with rtflite's
pagination. Each figure is an RTF of its own too (FLOW01.rtf, KMG01_PFS.rtf, ...):
title, the PNG embedded, footnote.

Every page has the running header (study and output; population and data cutoff;
"Page x of y" from the PAGE and NUMPAGES fields, which the word processor fills) and
the footer (program, eap version, run date) of eap.report.furniture, on US Letter or
A4 paper, portrait, or landscape for a wide table. The file is plain ASCII: every
other character is an RTF escape (a non-breaking space ``\\~``, others ``\\uN``).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import polars as pl

from eap.datasets.atomic import write_atomic
from eap.report.figures import ReportFigure
from eap.report.furniture import (
    FOOTER_FROM_EDGE,
    HEADER_FROM_EDGE,
    MARGIN_BOTTOM,
    MARGIN_SIDE,
    MARGIN_TOP,
    POINTS_PER_INCH,
    Furniture,
    is_wide,
    page_size,
    text_height,
    text_width,
)
from eap.report.tables import DisplayTable, column_widths

INDENT = "\u00a0" * 4  # RTF cells keep non-breaking spaces: a nested row's indent
PAGE_FIELD = r"{\field{\*\fldinst PAGE }{\fldrslt 1}}"
NUMPAGES_FIELD = r"{\field{\*\fldinst NUMPAGES }{\fldrslt 1}}"
FURNITURE_SIZE = 8  # points, header and footer


def rtf_text(text: str) -> str:
    """Plain text as RTF: backslash and braces escaped (for text rtflite passes as is)."""
    return text.replace("\\", "\\\\").replace("{", "\\{").replace("}", "\\}")


def ascii_rtf(document: str) -> str:
    """An RTF document in ASCII: a non-breaking space as ``\\~``, any other non-ASCII
    character as ``\\uN*`` (RTF reads bytes above 127 in the ANSI code page, so UTF-8
    bytes would show as two wrong characters)."""
    out = []
    for ch in document:
        if ord(ch) < 128:
            out.append(ch)
        elif ch == "\u00a0":
            out.append("\\~")
        else:
            # \uN takes a signed 16-bit UTF-16 unit; beyond U+FFFF, a surrogate pair.
            units = ch.encode("utf-16-be")
            for k in range(0, len(units), 2):
                unit = int.from_bytes(units[k : k + 2], "big", signed=True)
                out.append(f"\\uc1\\u{unit}*")
    return "".join(out)


def _twips(points: float) -> int:
    return round(points * 20)


def _inches(twips: int) -> float:
    # rtflite truncates inches x 1440 to an integer: a quarter twip more lands on ``twips``.
    return (twips + 0.25) / 1440


def _page(furniture: Furniture, landscape: bool) -> object:
    import rtflite as r

    width, height = page_size(furniture.paper, landscape)
    return r.RTFPage(
        orientation="landscape" if landscape else "portrait",
        width=_inches(_twips(width)),
        height=_inches(_twips(height)),
        margin=[
            MARGIN_SIDE,
            MARGIN_SIDE,
            MARGIN_TOP,
            MARGIN_BOTTOM,
            HEADER_FROM_EDGE,
            FOOTER_FROM_EDGE,
        ],
        col_width=text_width(furniture.paper, landscape) / POINTS_PER_INCH,
    )


def _header(furniture: Furniture, output_id: str) -> object:
    import rtflite as r

    first, second = furniture.header(output_id)
    page = f"Page {PAGE_FIELD} of {NUMPAGES_FIELD}"
    return r.RTFPageHeader(
        text=[f"{rtf_text(first)}\\tab {page}", rtf_text(second)],
        text_font_size=[FURNITURE_SIZE],
        text_justification=["l"],
        text_convert=[False],
    )


def _footer(furniture: Furniture) -> object:
    import rtflite as r

    return r.RTFPageFooter(
        text=[rtf_text(line) for line in furniture.footer()],
        text_font_size=[FURNITURE_SIZE],
        text_justification=["l"],
        text_convert=[False],
    )


def _superscript(mark: str) -> str:
    """A footnote mark as RTF superscript (the body's text is passed to RTF as is)."""
    return f"{{\\super {rtf_text(mark)}}}"


def _label(table: DisplayTable, row: int, text: str) -> str:
    """A row label indented by its level, its footnote mark (if any) superscript."""
    mark = _superscript(table.mark(row)) if table.mark(row) else ""
    return INDENT * table.level(row) + text + mark


def _note(table: DisplayTable, text: str) -> str:
    """A footnote, its leading mark (if any) superscript."""
    mark, rest = table.note_mark(text)
    return _superscript(mark) + rest if mark else text


def table_document(table: DisplayTable, furniture: Furniture) -> object:
    import rtflite as r

    headers = list(table.headers)
    body = table.body.with_columns(pl.all().cast(pl.String))
    first = body.columns[0]
    body = body.with_columns(
        pl.Series(
            first,
            [_label(table, i, text) for i, text in enumerate(body[first].to_list())],
        )
    )
    # A wide table (a listing) goes on a landscape page.
    wide = is_wide(len(headers))
    inches = text_width(furniture.paper, wide) / POINTS_PER_INCH
    widths = column_widths(table, inches, char=0.075, pad=0.15)  # 9-point Times
    align = ["l"] + ["c"] * (len(headers) - 1)
    # eap's text is plain Unicode: rtflite's LaTeX conversion would make "_" a subscript.
    return r.RTFDocument(
        df=body,
        rtf_page=_page(furniture, wide),
        rtf_page_header=_header(furniture, table.id),
        rtf_page_footer=_footer(furniture),
        rtf_title=r.RTFTitle(text=[f"{table.title} [{table.id}]"], text_convert=[False]),
        rtf_column_header=[
            r.RTFColumnHeader(
                text=headers,
                col_rel_width=widths,
                text_justification=align,
                text_convert=[False],
            )
        ],
        rtf_body=r.RTFBody(
            col_rel_width=widths, text_justification=[align], text_convert=[[False]]
        ),
        rtf_footnote=r.RTFFootnote(
            text=[_note(table, f) for f in table.footnotes], text_convert=[False]
        ),
    )


def figure_document(figure: ReportFigure, png: Path, furniture: Furniture) -> object:
    import rtflite as r
    from reportlab.lib.utils import ImageReader

    width, height = ImageReader(str(png)).getSize()
    # At most the text width of a portrait page and 2.5 inches less than its text height,
    # so the title and footnote stay on the figure's page.
    most_w = text_width(furniture.paper, False) / POINTS_PER_INCH
    most_h = text_height(furniture.paper, False) / POINTS_PER_INCH - 2.5
    shown_h = min(most_w * height / width, most_h)
    return r.RTFDocument(
        rtf_page=_page(furniture, False),
        rtf_page_header=_header(furniture, figure.id),
        rtf_page_footer=_footer(furniture),
        rtf_title=r.RTFTitle(text=[f"{figure.title} [{figure.id}]"], text_convert=[False]),
        rtf_figure=r.RTFFigure(
            figures=str(png),
            fig_width=round(shown_h * width / height, 2),
            fig_height=round(shown_h, 2),
        ),
        rtf_footnote=r.RTFFootnote(text=[figure.footnote], as_table=False, text_convert=[False]),
    )


def encode(doc: object, furniture: Furniture, landscape: bool) -> str:
    """The document's RTF: the header's right tab stop (for "Page x of y") set, in ASCII."""
    with contextlib.redirect_stdout(io.StringIO()):
        text: str = doc.rtf_encode()  # type: ignore[attr-defined]
    stop = _twips(text_width(furniture.paper, landscape))
    text = text.replace("{\\header{\\pard", f"{{\\header{{\\pard\\tqr\\tx{stop}", 1)
    return ascii_rtf(text)


def write_rtf(
    folder: Path,
    items: list[DisplayTable | ReportFigure],
    pngs: dict[str, Path] | None,
    furniture: Furniture,
) -> list[Path]:
    """Every table as ``<id>.rtf`` and every figure in ``pngs`` as ``<stem>.rtf``."""
    folder.mkdir(parents=True, exist_ok=True)
    documents: list[tuple[str, str]] = []
    for item in items:
        if isinstance(item, ReportFigure):
            if pngs and item.stem in pngs:
                doc = figure_document(item, pngs[item.stem], furniture)
                documents.append((f"{item.stem}.rtf", encode(doc, furniture, False)))
        else:
            wide = is_wide(len(item.headers))
            doc = table_document(item, furniture)
            documents.append((f"{item.id}.rtf", encode(doc, furniture, wide)))
    written = []
    for name, text in documents:
        target = folder / name

        def write(path: Path, text: str = text) -> None:
            path.write_text(text, encoding="ascii", newline="\n")

        write_atomic(target, write)
        written.append(target)
    return written

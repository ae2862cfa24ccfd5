"""The whole report as one PDF (reportlab: pure Python, no system libraries).

The same tables as the HTML report, laid out from the ARD, then the figures
(PNG files written by eap.report.figures).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from eap.datasets.atomic import write_atomic
from eap.report.figures import ReportFigure, report_figures
from eap.report.tables import POP_TITLES, DisplayTable, column_widths, header_n, report_tables


def _table_flowables(table: DisplayTable, n: dict[str, int], styles: object) -> list[object]:
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import KeepTogether, Paragraph, Spacer, Table, TableStyle

    sheet = styles  # reportlab StyleSheet1
    # A wide table (a listing) is set smaller, so that words are not split. Paragraphs
    # keep their style until the document is built: each size is a style of its own.
    wide = len(table.body.columns) > 6
    size, leading = (6.5, 8) if wide else (8, 10)
    cell = ParagraphStyle(f"cell{size}", parent=sheet["BodyText"], fontSize=size, leading=leading)  # type: ignore[index]
    headers = [
        f"{POP_TITLES[c]} (N = {n[c]})" if c in POP_TITLES else c for c in table.body.columns
    ]
    rows = [[Paragraph(f"<b>{h}</b>", cell) for h in headers]]
    for r in table.body.with_columns(pl.all().cast(pl.String)).iter_rows():
        rows.append([Paragraph(v.replace("<", "&lt;").replace(">", "&gt;"), cell) for v in r])
    padding = 3 if wide else 6
    widths = column_widths(table, 470.0, char=4.0 if wide else 4.9, pad=2 * padding + 2)
    grid = Table(rows, colWidths=widths, repeatRows=1)
    grid.setStyle(
        TableStyle(
            [
                ("LINEABOVE", (0, 0), (-1, 0), 1.0, colors.black),
                ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black),
                ("LINEBELOW", (0, -1), (-1, -1), 1.0, colors.black),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 1),
                ("LEFTPADDING", (0, 0), (-1, -1), padding),
                ("RIGHTPADDING", (0, 0), (-1, -1), padding),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
            ]
        )
    )
    heading = sheet["Heading3"]  # type: ignore[index]
    heading.keepWithNext = 1  # a table's title never ends a page alone
    note = sheet["Italic"]  # type: ignore[index]
    note.fontSize, note.leading = 7, 9
    # Title, table and footnotes stay on one page when they fit on one; a longer table
    # splits (its header row repeats) and its footnotes follow its last row.
    return [
        KeepTogether(
            [
                Paragraph(f"{table.title} [{table.id}]", sheet["Heading3"]),  # type: ignore[index]
                grid,
                *[Paragraph(f, note) for f in table.footnotes],
            ]
        ),
        Spacer(1, 12),
    ]


def _figure_flowables(figure: ReportFigure, png: Path, styles: object) -> list[object]:
    """A figure on its own page: title with id, the image at its aspect ratio, footnote."""
    from reportlab.lib.utils import ImageReader
    from reportlab.platypus import Image, PageBreak, Paragraph

    sheet = styles  # reportlab StyleSheet1
    note = sheet["Italic"]  # type: ignore[index]
    width, height = ImageReader(str(png)).getSize()
    shown_w = 470.0
    shown_h = min(shown_w * height / width, 600.0)
    return [
        PageBreak(),
        Paragraph(f"{figure.title} [{figure.id}]", sheet["Heading3"]),  # type: ignore[index]
        Image(str(png), width=shown_h * width / height, height=shown_h),
        Paragraph(figure.footnote, note),
    ]


def write_pdf(
    ard: pl.DataFrame,
    path: Path,
    pngs: dict[str, Path],
    *,
    subtitle: str = "",
    tables: list[DisplayTable] | None = None,
) -> Path:
    """Write the report PDF: title, every table, then the figures (PNG files by stem)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    styles = getSampleStyleSheet()
    story: list[object] = [
        Paragraph(
            "MM-024 Extended Access Program: safety and efficacy of lenalidomide plus "
            "low-dose dexamethasone",
            styles["Title"],
        ),
        Paragraph(subtitle, styles["Normal"]),
    ]
    n = header_n(ard)
    for table in tables if tables is not None else report_tables(ard):
        story += _table_flowables(table, n, styles)
    for figure in report_figures():
        if figure.stem in pngs:
            story += _figure_flowables(figure, pngs[figure.stem], styles)

    def write(target: Path) -> None:
        doc = SimpleDocTemplate(
            str(target), pagesize=A4, title="MM-024 report", leftMargin=56, rightMargin=56
        )
        doc.build(story)

    write_atomic(path, write)
    return path

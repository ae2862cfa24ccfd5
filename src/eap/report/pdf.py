"""The whole report as one PDF (reportlab: pure Python, no system libraries).

The same tables as the HTML report, laid out from the ARD, then the figures
(PNG files written by eap.report.figures).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from eap.datasets.atomic import write_atomic
from eap.report.figures import ReportFigure
from eap.report.tables import DisplayTable, column_widths

if TYPE_CHECKING:
    from eap.gate import DataIssue

PAGE_HEIGHT = 640.0  # points of an A4 page's frame left for a table under its title


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _table_flowables(table: DisplayTable, styles: object) -> list[object]:
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import (
        CondPageBreak,
        KeepTogether,
        Paragraph,
        Spacer,
        Table,
        TableStyle,
    )

    sheet = styles  # reportlab StyleSheet1
    # A wide table (a listing) is set smaller, so that words are not split. Paragraphs
    # keep their style until the document is built: each size is a style of its own.
    wide = len(table.body.columns) > 6
    size, leading = (6.5, 8) if wide else (8, 10)
    cell = ParagraphStyle(f"cell{size}", parent=sheet["BodyText"], fontSize=size, leading=leading)  # type: ignore[index]
    nested = {
        level: ParagraphStyle(
            f"cell{size}-{level}", parent=cell, leftIndent=10 * level, firstLineIndent=0
        )
        for level in (1, 2)
    }
    rows = [[Paragraph(f"<b>{_escape(h)}</b>", cell) for h in table.headers]]
    for i, r in enumerate(table.body.with_columns(pl.all().cast(pl.String)).iter_rows()):
        level = min(table.level(i), 2)
        first = Paragraph(_escape(r[0]), nested[level] if level else cell)
        rows.append([first, *(Paragraph(_escape(v), cell) for v in r[1:])])
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
    # Title, table and footnotes stay on one page when they fit on one. A table longer
    # than a page is not kept together (reportlab would leave a blank page before it): it
    # splits, its header row repeats, its title stays with its first rows and its
    # footnotes follow its last row.
    _, height = grid.wrap(470.0, 10_000.0)
    title = f"{table.title} [{table.id}]"
    notes = [Paragraph(_escape(f), note) for f in table.footnotes]
    if height < PAGE_HEIGHT:
        return [KeepTogether([Paragraph(_escape(title), heading), grid, *notes]), Spacer(1, 12)]
    # keepWithNext would wrap the title and the whole table in one KeepTogether, which
    # reportlab cannot place on any page: start on a page with room for a few rows.
    loose = ParagraphStyle(f"{heading.name}-loose", parent=heading, keepWithNext=0)
    return [CondPageBreak(160), Paragraph(_escape(title), loose), grid, *notes, Spacer(1, 12)]


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
        Paragraph(_escape(f"{figure.title} [{figure.id}]"), sheet["Heading3"]),  # type: ignore[index]
        Image(str(png), width=shown_h * width / height, height=shown_h),
        Paragraph(_escape(figure.footnote), note),
    ]


def _issues_flowables(issues: Sequence[DataIssue], styles: object) -> list[object]:
    """The "Data issues" section: the findings, then every record they concern."""
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Paragraph, Spacer, Table, TableStyle

    from eap.report.issues import (
        FINDING_HEADERS,
        RECORD_HEADERS,
        finding_rows,
        introduction,
        record_rows,
    )

    sheet = styles  # reportlab StyleSheet1
    cell = ParagraphStyle("issue-cell", parent=sheet["BodyText"], fontSize=6.5, leading=8)  # type: ignore[index]

    def grid(headers: Sequence[str], rows: list[tuple[str, ...]], widths: list[float]) -> Table:
        data = [[Paragraph(f"<b>{_escape(h)}</b>", cell) for h in headers]]
        data += [[Paragraph(_escape(v), cell) for v in row] for row in rows]
        table = Table(data, colWidths=widths, repeatRows=1)
        table.setStyle(
            TableStyle(
                [
                    ("LINEABOVE", (0, 0), (-1, 0), 1.0, colors.black),
                    ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black),
                    ("LINEBELOW", (0, -1), (-1, -1), 1.0, colors.black),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("TOPPADDING", (0, 0), (-1, -1), 1),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                    ("LEFTPADDING", (0, 0), (-1, -1), 3),
                    ("RIGHTPADDING", (0, 0), (-1, -1), 3),
                ]
            )
        )
        return table

    story: list[object] = [
        Paragraph("Data issues", sheet["Heading2"]),  # type: ignore[index]
        Paragraph(_escape(introduction(issues)), sheet["BodyText"]),  # type: ignore[index]
        Spacer(1, 4),
        grid(FINDING_HEADERS, finding_rows(issues), [40, 70, 70, 40, 150, 100]),
    ]
    records = record_rows(issues)
    if records:
        story += [
            Spacer(1, 6),
            Paragraph(f"Records ({len(records)})", sheet["Heading3"]),  # type: ignore[index]
            grid(RECORD_HEADERS, records, [45, 75, 40, 85, 135, 90]),
        ]
    return [*story, Spacer(1, 12)]


def write_pdf(
    path: Path,
    items: list[DisplayTable | ReportFigure],
    pngs: dict[str, Path],
    *,
    title: str,
    subtitle: str = "",
    skipped: dict[str, str] | None = None,
    data_issues: Sequence[DataIssue] = (),
) -> Path:
    """Write the report PDF: title, data issues, then every table and figure in plan order."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    styles = getSampleStyleSheet()
    story: list[object] = [
        Paragraph(_escape(title), styles["Title"]),
        Paragraph(_escape(subtitle), styles["Normal"]),
    ]
    if data_issues:
        story += _issues_flowables(data_issues, styles)
    for output_id, reason in (skipped or {}).items():
        story.append(Paragraph(_escape(f"Not produced: {output_id}: {reason}"), styles["Italic"]))
    for item in items:
        if isinstance(item, ReportFigure):
            if item.stem in pngs:
                story += _figure_flowables(item, pngs[item.stem], styles)
        else:
            story += _table_flowables(item, styles)

    def write(target: Path) -> None:
        # invariant=1: no creation date or random id, so the same ARD gives the same bytes.
        doc = SimpleDocTemplate(
            str(target),
            pagesize=A4,
            title=title,
            leftMargin=56,
            rightMargin=56,
            invariant=1,
        )
        doc.build(story)

    write_atomic(path, write)
    return path

"""The whole report as one PDF (reportlab: pure Python, no system libraries).

The same tables as the HTML report, laid out from the ARD, then the figures (PNG
files written by eap.report.figures). The first pages hold the title, the contents
(each output with its page, a link to it) and any data issues; then each output
starts on a page of its own, a wide table (a listing) on a landscape page, and has a
bookmark in the PDF outline. Every page carries the running header and footer of
eap.report.furniture, with "Page x of y": the document is built twice, the first
time to learn the page count and the page each output starts on.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from eap.datasets.atomic import write_atomic
from eap.errors import EapError
from eap.report.figures import ReportFigure
from eap.report.furniture import (
    FOOTER_FROM_EDGE,
    HEADER_FROM_EDGE,
    MARGIN_BOTTOM,
    MARGIN_SIDE,
    POINTS_PER_INCH,
    Furniture,
    is_wide,
    page_size,
    text_height,
    text_width,
)
from eap.report.tables import DisplayTable, column_widths

if TYPE_CHECKING:
    from eap.gate import DataIssue

FURNITURE_FONT = ("Helvetica", 7.0)
# reportlab's standard Helvetica has no ≤ or ≥: the report's text is set in Bitstream
# Vera, the TrueType family reportlab ships (≤ ≥ – − × ² µ included), so no system
# font is needed.
FONTS = {"Helvetica": "Vera", "Helvetica-Bold": "VeraBd", "Helvetica-Oblique": "VeraIt"}
FONTS |= {"Helvetica-BoldOblique": "VeraBI", "Times-Roman": "Vera", "Times-Italic": "VeraIt"}
CONTENTS = "Contents"
BUILDS = 3  # passes at most until the page numbers stop changing


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass
class PageLog:
    """What a build learns: the page each output starts on, the output on the page being
    drawn, and the number of pages."""

    starts: dict[str, int] = field(default_factory=dict)
    current: str = CONTENTS
    pages: int = 0


def _bookmark(output_id: str) -> str:
    return "output-" + "".join(ch if ch.isalnum() else "-" for ch in output_id)


def _output_start(item: DisplayTable | ReportFigure, log: PageLog) -> object:
    """A flowable of no size where an output starts: its page, bookmark and outline entry."""
    from reportlab.platypus import Flowable

    class OutputStart(Flowable):  # type: ignore[misc]
        def wrap(self, *_args: float) -> tuple[float, float]:
            return 0.0, 0.0

        def draw(self) -> None:
            canvas = self.canv
            log.starts[item.id] = canvas.getPageNumber()
            log.current = item.id
            canvas.bookmarkPage(_bookmark(item.id))
            canvas.addOutlineEntry(f"{item.id} {item.title}", _bookmark(item.id), level=0)

    return OutputStart()


def unicode_fonts(styles: Any) -> Any:
    """The style sheet with every paragraph style set in Vera (registered once)."""
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if "Vera" not in pdfmetrics.getRegisteredFontNames():
        for name in ("Vera", "VeraBd", "VeraIt", "VeraBI"):
            pdfmetrics.registerFont(TTFont(name, f"{name}.ttf"))
        for bold, italic, name in ((0, 0, "Vera"), (1, 0, "VeraBd"), (0, 1, "VeraIt")):
            addMapping("Vera", bold, italic, name)
        addMapping("Vera", 1, 1, "VeraBI")
    for style in styles.byName.values():
        if hasattr(style, "fontName"):  # paragraph styles (a list style has none)
            style.fontName = FONTS.get(style.fontName, style.fontName)
    return styles


def _note(table: DisplayTable, text: str) -> str:
    """A footnote as reportlab markup, its mark (if any) superscript."""
    mark, rest = table.note_mark(text)
    return f"<super>{_escape(mark)}</super>{_escape(rest)}" if mark else _escape(text)


def _table_flowables(table: DisplayTable, styles: object, width: float) -> list[object]:
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Paragraph, Spacer, Table, TableStyle

    sheet = styles  # reportlab StyleSheet1
    # A wide table (a listing) is set smaller, so that words are not split. Paragraphs
    # keep their style until the document is built: each size is a style of its own.
    wide = is_wide(len(table.body.columns))
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
        mark = f"<super>{_escape(table.mark(i))}</super>" if table.mark(i) else ""
        first = Paragraph(_escape(r[0]) + mark, nested[level] if level else cell)
        rows.append([first, *(Paragraph(_escape(v), cell) for v in r[1:])])
    padding = 3 if wide else 6
    widths = column_widths(table, width, char=4.0 if wide else 4.9, pad=2 * padding + 2)
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
    note = ParagraphStyle("note", parent=sheet["Italic"], fontSize=7, leading=9)  # type: ignore[index]
    # The output starts on a fresh page; a table longer than a page splits there, its
    # header row repeated, its footnotes after its last row.
    title = f"{table.title} [{table.id}]"
    return [
        Paragraph(_escape(title), sheet["Heading3"]),  # type: ignore[index]
        grid,
        Spacer(1, 4),
        *(Paragraph(_note(table, f), note) for f in table.footnotes),
    ]


def _figure_flowables(
    figure: ReportFigure, png: Path, styles: object, width: float, height: float
) -> list[object]:
    """Title with id, the image at its aspect ratio, footnote."""
    from reportlab.lib.utils import ImageReader
    from reportlab.platypus import Image, Paragraph

    sheet = styles  # reportlab StyleSheet1
    note = sheet["Italic"]  # type: ignore[index]
    pixels_w, pixels_h = ImageReader(str(png)).getSize()
    # Room under the image for its title and footnote on the same page.
    shown_h = min(width * pixels_h / pixels_w, height - 120.0)
    return [
        Paragraph(_escape(f"{figure.title} [{figure.id}]"), sheet["Heading3"]),  # type: ignore[index]
        Image(str(png), width=shown_h * pixels_w / pixels_h, height=shown_h),
        Paragraph(_escape(figure.footnote), note),
    ]


def _issues_flowables(issues: Sequence[DataIssue], styles: object, width: float) -> list[object]:
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

    def grid(headers: Sequence[str], rows: list[tuple[str, ...]], parts: list[float]) -> Table:
        widths = [width * part / sum(parts) for part in parts]
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


def _contents_flowables(
    items: Sequence[DisplayTable | ReportFigure], log: PageLog, styles: object, width: float
) -> list[object]:
    """The contents: each output's id, title (a link to it) and first page."""
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Paragraph, Table, TableStyle

    sheet = styles  # reportlab StyleSheet1
    cell = ParagraphStyle("contents", parent=sheet["BodyText"], fontSize=8, leading=10)  # type: ignore[index]
    rows = [
        [
            Paragraph(_escape(item.id), cell),
            Paragraph(
                f'<a href="#{_bookmark(item.id)}">{_escape(item.title)}</a>',
                cell,
            ),
            Paragraph(str(log.starts.get(item.id, "")), cell),
        ]
        for item in items
    ]
    table = Table(rows, colWidths=[70.0, width - 110.0, 40.0])
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("ALIGN", (2, 0), (2, -1), "RIGHT"),
                ("TOPPADDING", (0, 0), (-1, -1), 1),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
            ]
        )
    )
    return [Paragraph(CONTENTS, sheet["Heading2"]), table]  # type: ignore[index]


def _fitted(text: str, width: float, lines: int) -> list[str]:
    """``text`` wrapped to ``width`` in at most ``lines`` lines, the last cut with "..."."""
    from reportlab.lib.utils import simpleSplit
    from reportlab.pdfbase.pdfmetrics import stringWidth

    font, size = FURNITURE_FONT
    wrapped = simpleSplit(text, font, size, width) or [""]
    if len(wrapped) <= lines:
        return list(wrapped)
    last = " ".join(wrapped[lines - 1 :])
    while last and stringWidth(last + "...", font, size) > width:
        last = last[:-1]
    return [*wrapped[: lines - 1], last + "..."]


def _draw_furniture(canvas: Any, furniture: Furniture, log: PageLog, total: int | None) -> None:
    """The running header above the frame and the footer below it, on the current page."""
    font, size = FURNITURE_FONT
    width, height = canvas._pagesize
    left, right = MARGIN_SIDE * POINTS_PER_INCH, width - MARGIN_SIDE * POINTS_PER_INCH
    page = canvas.getPageNumber()
    first, second = furniture.header(log.current)
    canvas.saveState()
    canvas.setFont(font, size)
    top = height - HEADER_FROM_EDGE * POINTS_PER_INCH - size
    canvas.drawString(left, top, first)
    canvas.drawRightString(right, top, f"Page {page} of {total if total else '?'}")
    canvas.drawString(left, top - size - 2, second)
    canvas.setLineWidth(0.5)
    canvas.line(left, top - 2 * size - 2, right, top - 2 * size - 2)
    program, stamp = furniture.footer()
    lines = [*_fitted(program, right - left, 2), stamp]
    bottom = FOOTER_FROM_EDGE * POINTS_PER_INCH
    for k, line in enumerate(reversed(lines)):
        canvas.drawString(left, bottom + k * (size + 2), line)
    canvas.line(left, bottom + len(lines) * (size + 2), right, bottom + len(lines) * (size + 2))
    canvas.restoreState()


def _story(
    items: list[DisplayTable | ReportFigure],
    pngs: dict[str, Path],
    log: PageLog,
    *,
    paper: str,
    title: str,
    subtitle: str,
    skipped: dict[str, str],
    data_issues: Sequence[DataIssue],
) -> list[object]:
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import NextPageTemplate, PageBreak, Paragraph, Spacer

    styles = unicode_fonts(getSampleStyleSheet())
    portrait_w = text_width(paper, False)
    shown = [i for i in items if not isinstance(i, ReportFigure) or i.stem in pngs]
    story: list[object] = [
        Paragraph(_escape(title), styles["Title"]),
        Paragraph(_escape(subtitle), styles["Normal"]),
        Spacer(1, 8),
        *_contents_flowables(shown, log, styles, portrait_w),
    ]
    if data_issues:
        story += [Spacer(1, 12), *_issues_flowables(data_issues, styles, portrait_w)]
    for output_id, reason in skipped.items():
        story.append(Paragraph(_escape(f"Not produced: {output_id}: {reason}"), styles["Italic"]))
    for item in shown:
        landscape = isinstance(item, DisplayTable) and is_wide(len(item.body.columns))
        story += [
            NextPageTemplate("landscape" if landscape else "portrait"),
            PageBreak(),
            _output_start(item, log),
        ]
        width = text_width(paper, landscape)
        if isinstance(item, ReportFigure):
            story += _figure_flowables(
                item, pngs[item.stem], styles, width, text_height(paper, landscape)
            )
        else:
            story += _table_flowables(item, styles, width)
    return story


def _build(
    make_story: Callable[[PageLog], list[object]],
    furniture: Furniture,
    title: str,
    known: PageLog | None,
) -> tuple[bytes, PageLog]:
    """One build of the PDF; ``known`` is the previous build's log (contents, page count)."""
    from reportlab.platypus import BaseDocTemplate, Frame, PageTemplate

    log = PageLog(starts=dict(known.starts) if known else {})
    story = make_story(log)
    log.starts = {}
    total = known.pages if known else None

    def template(name: str, landscape: bool) -> PageTemplate:
        size = page_size(furniture.paper, landscape)
        frame = Frame(
            MARGIN_SIDE * POINTS_PER_INCH,
            MARGIN_BOTTOM * POINTS_PER_INCH,
            text_width(furniture.paper, landscape),
            text_height(furniture.paper, landscape),
            leftPadding=0,
            rightPadding=0,
            topPadding=0,
            bottomPadding=0,
            id=name,
        )

        def furnish(canvas: Any, _doc: Any) -> None:
            log.pages = max(log.pages, canvas.getPageNumber())
            _draw_furniture(canvas, furniture, log, total)

        return PageTemplate(id=name, frames=[frame], onPageEnd=furnish, pagesize=size)

    buffer = io.BytesIO()
    # invariant=1: no random document id, and the creation date is fixed
    # (SOURCE_DATE_EPOCH when set, which reportlab reads too): the same ARD and run date
    # give the same bytes.
    doc = BaseDocTemplate(
        buffer,
        pagesize=page_size(furniture.paper, False),
        pageTemplates=[template("portrait", False), template("landscape", True)],
        title=title,
        author=f"eap {furniture.version}",
        subject=furniture.study,
        invariant=1,
    )
    doc.build(story)
    return buffer.getvalue(), log


def write_pdf(
    path: Path,
    items: list[DisplayTable | ReportFigure],
    pngs: dict[str, Path],
    furniture: Furniture,
    *,
    title: str,
    subtitle: str = "",
    skipped: dict[str, str] | None = None,
    data_issues: Sequence[DataIssue] = (),
) -> Path:
    """Write the report PDF: title, contents, data issues, then every output in plan order."""

    def make_story(log: PageLog) -> list[object]:
        return _story(
            items,
            pngs,
            log,
            paper=furniture.paper,
            title=title,
            subtitle=subtitle,
            skipped=dict(skipped or {}),
            data_issues=data_issues,
        )

    known: PageLog | None = None
    for _ in range(BUILDS):
        pdf, log = _build(make_story, furniture, title, known)
        if known is not None and log.starts == known.starts and log.pages == known.pages:
            break
        known = log
    else:
        raise EapError(  # pragma: no cover - the contents have one line per output
            "the page numbers of the PDF do not settle", file=path, expected="a stable layout"
        )

    def write(target: Path) -> None:
        target.write_bytes(pdf)

    write_atomic(path, write)
    return path

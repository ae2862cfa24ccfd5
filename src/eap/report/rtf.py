"""RTF tables in the regulatory style (rtflite: the Python port of Merck's r2rtf).

One file per output, named by its id (DMT01.rtf, AET04.rtf, ...): title, column
headers with each population's N, the body and the footnotes, portrait pages
with rtflite's default pagination. Each figure is an RTF of its own too
(FLOW01.rtf, KMG01_PFS.rtf, ...): title, the PNG embedded, footnote.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import polars as pl

from eap.datasets.atomic import write_atomic
from eap.report.figures import ReportFigure
from eap.report.tables import DisplayTable, column_widths

INDENT = "\u00a0" * 4  # RTF cells keep non-breaking spaces: a nested row's indent


def table_document(table: DisplayTable) -> object:
    import rtflite as r

    headers = list(table.headers)
    body = table.body.with_columns(pl.all().cast(pl.String))
    first = body.columns[0]
    body = body.with_columns(
        pl.Series(
            first,
            [INDENT * table.level(i) + text for i, text in enumerate(body[first].to_list())],
        )
    )
    # A wide table (a listing) goes on a landscape page: 9 inches of text width, not 6.5.
    wide = len(headers) > 6
    widths = column_widths(table, 9.0 if wide else 6.5, char=0.075, pad=0.15)  # 9-point Times
    align = ["l"] + ["c"] * (len(headers) - 1)
    return r.RTFDocument(
        df=body,
        rtf_page=r.RTFPage(orientation="landscape" if wide else "portrait"),
        rtf_title=r.RTFTitle(text=[f"{table.title} [{table.id}]"]),
        rtf_column_header=[
            r.RTFColumnHeader(text=headers, col_rel_width=widths, text_justification=align)
        ],
        rtf_body=r.RTFBody(col_rel_width=widths, text_justification=[align]),
        rtf_footnote=r.RTFFootnote(text=list(table.footnotes)),
    )


def figure_document(figure: ReportFigure, png: Path) -> object:
    import rtflite as r
    from reportlab.lib.utils import ImageReader

    width, height = ImageReader(str(png)).getSize()
    # At most the text width of a portrait page (6.5 inches) and 6.5 inches high, so the
    # title and footnote stay on the figure's page.
    shown_h = min(6.5 * height / width, 6.5)
    return r.RTFDocument(
        rtf_title=r.RTFTitle(text=[f"{figure.title} [{figure.id}]"]),
        rtf_figure=r.RTFFigure(
            figures=str(png),
            fig_width=round(shown_h * width / height, 2),
            fig_height=round(shown_h, 2),
        ),
        rtf_footnote=r.RTFFootnote(text=[figure.footnote], as_table=False),
    )


def write_rtf(
    folder: Path,
    items: list[DisplayTable | ReportFigure],
    pngs: dict[str, Path] | None = None,
) -> list[Path]:
    """Every table as ``<id>.rtf`` and every figure in ``pngs`` as ``<stem>.rtf``."""
    folder.mkdir(parents=True, exist_ok=True)
    documents = []
    for item in items:
        if isinstance(item, ReportFigure):
            if pngs and item.stem in pngs:
                documents.append((f"{item.stem}.rtf", figure_document(item, pngs[item.stem])))
        else:
            documents.append((f"{item.id}.rtf", table_document(item)))
    written = []
    for name, doc in documents:
        target = folder / name

        def write(path: Path, doc: object = doc) -> None:
            # rtflite prints the path it wrote; eap reports its own outputs.
            with contextlib.redirect_stdout(io.StringIO()):
                doc.write_rtf(str(path))  # type: ignore[attr-defined]

        write_atomic(target, write)
        written.append(target)
    return written

"""RTF tables in the regulatory style (rtflite: the Python port of Merck's r2rtf).

One file per output, named by its id (DMT01.rtf, AET04.rtf, ...): title, column
headers with each population's N, the body and the footnotes, landscape-free
portrait pages with rtflite's default pagination.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import polars as pl

from eap.datasets.atomic import write_atomic
from eap.report.tables import POP_TITLES, DisplayTable, header_n, report_tables


def table_document(table: DisplayTable, n: dict[str, int]) -> object:
    import rtflite as r

    headers = [
        f"{POP_TITLES[c]} (N = {n[c]})" if c in POP_TITLES else c for c in table.body.columns
    ]
    body = table.body.with_columns(pl.all().cast(pl.String))
    widths = [3.0] + [2.0] * (len(headers) - 1)
    align = ["l"] + ["c"] * (len(headers) - 1)
    return r.RTFDocument(
        df=body,
        rtf_title=r.RTFTitle(text=[f"{table.title} [{table.id}]"]),
        rtf_column_header=[
            r.RTFColumnHeader(text=headers, col_rel_width=widths, text_justification=align)
        ],
        rtf_body=r.RTFBody(col_rel_width=widths, text_justification=[align]),
        rtf_footnote=r.RTFFootnote(text=list(table.footnotes)),
    )


def write_rtf_tables(ard: pl.DataFrame, folder: Path) -> list[Path]:
    """Every report table as ``<id>.rtf`` in ``folder`` (atomic writes)."""
    folder.mkdir(parents=True, exist_ok=True)
    n = header_n(ard)
    written = []
    for table in report_tables(ard):
        doc = table_document(table, n)
        target = folder / f"{table.id}.rtf"

        def write(path: Path, doc: object = doc) -> None:
            # rtflite prints the path it wrote; eap reports its own outputs.
            with contextlib.redirect_stdout(io.StringIO()):
                doc.write_rtf(str(path))  # type: ignore[attr-defined]

        write_atomic(target, write)
        written.append(target)
    return written

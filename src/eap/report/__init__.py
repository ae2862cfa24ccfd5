"""The MM-024 report: tables and figures from the ARD, in HTML, RTF and PDF; reproduce."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl

FORMATS = ("html", "pdf", "rtf")


def write_report(
    ard: pl.DataFrame,
    out: Path,
    *,
    subtitle: str = "",
    formats: tuple[str, ...] = FORMATS,
    progress: Callable[[str], None] | None = None,
    ae_threshold: float = 3.0,
) -> dict[str, Path]:
    """Write the ARD (Parquet, JSON), figure files and the report in ``formats``.

    ``progress`` is told each output as it starts; Table 2 (AET04) lists the grade 3-4
    terms of at least ``ae_threshold`` percent of the safety population.
    """
    from eap.report.figures import write_figures
    from eap.report.html import render_html
    from eap.report.pdf import write_pdf
    from eap.report.rtf import write_rtf
    from eap.report.tables import report_tables

    say = progress or (lambda _what: None)
    out.mkdir(parents=True, exist_ok=True)
    say("writing the ARD")
    ard.write_parquet(out / "ard.parquet")
    (out / "ard.json").write_text(ard.write_json(), encoding="utf-8")
    say("laying out tables")
    tables = report_tables(ard, ae_threshold)
    say("drawing figures (PNG, SVG)")
    figures = write_figures(ard, out / "figures")
    pngs = {stem: files["png"] for stem, files in figures.items()}
    paths = {"figures": out / "figures", "ard": out / "ard.parquet"}
    if "rtf" in formats:
        say("writing RTF")
        write_rtf(ard, out / "rtf", pngs, tables)
        paths["rtf"] = out / "rtf"
    if "html" in formats:
        say("writing HTML")
        svgs = {stem: files["svg"] for stem, files in figures.items()}
        paths["html"] = render_html(
            ard, out / "report.html", subtitle=subtitle, svg_files=svgs, tables=tables
        )
    if "pdf" in formats:
        say("writing PDF")
        paths["pdf"] = write_pdf(ard, out / "report.pdf", pngs, subtitle=subtitle, tables=tables)
    return paths

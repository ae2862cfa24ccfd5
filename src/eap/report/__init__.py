"""The MM-024 report: tables and figures from the ARD, in HTML, RTF and PDF; reproduce."""

from __future__ import annotations

from pathlib import Path

import polars as pl


def write_report(ard: pl.DataFrame, out: Path, *, subtitle: str = "") -> dict[str, Path]:
    """Write the ARD (Parquet, JSON), the HTML and PDF report, RTF tables and figure files."""
    from eap.report.figures import write_km_figures
    from eap.report.html import render_html
    from eap.report.pdf import write_pdf
    from eap.report.rtf import write_rtf_tables

    out.mkdir(parents=True, exist_ok=True)
    ard.write_parquet(out / "ard.parquet")
    (out / "ard.json").write_text(ard.write_json(), encoding="utf-8")
    figures = write_km_figures(ard, out / "figures")
    write_rtf_tables(ard, out / "rtf")
    return {
        "html": render_html(ard, out / "report.html", subtitle=subtitle),
        "pdf": write_pdf(
            ard, out / "report.pdf", [p for p in figures if p.suffix == ".png"], subtitle=subtitle
        ),
        "rtf": out / "rtf",
        "figures": out / "figures",
        "ard": out / "ard.parquet",
    }

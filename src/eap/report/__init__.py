"""The MM-024 report: tables and figures from the ARD, in HTML, RTF and PDF; reproduce."""

from __future__ import annotations

from pathlib import Path

import polars as pl

FORMATS = ("html", "pdf", "rtf")


def write_report(
    ard: pl.DataFrame, out: Path, *, subtitle: str = "", formats: tuple[str, ...] = FORMATS
) -> dict[str, Path]:
    """Write the ARD (Parquet, JSON), figure files and the report in ``formats``."""
    from eap.report.figures import write_km_figures
    from eap.report.html import render_html
    from eap.report.pdf import write_pdf
    from eap.report.rtf import write_rtf_tables

    out.mkdir(parents=True, exist_ok=True)
    ard.write_parquet(out / "ard.parquet")
    (out / "ard.json").write_text(ard.write_json(), encoding="utf-8")
    figures = write_km_figures(ard, out / "figures")
    paths = {"figures": out / "figures", "ard": out / "ard.parquet"}
    if "rtf" in formats:
        write_rtf_tables(ard, out / "rtf")
        paths["rtf"] = out / "rtf"
    if "html" in formats:
        paths["html"] = render_html(ard, out / "report.html", subtitle=subtitle)
    if "pdf" in formats:
        pngs = [p for p in figures if p.suffix == ".png"]
        paths["pdf"] = write_pdf(ard, out / "report.pdf", pngs, subtitle=subtitle)
    return paths

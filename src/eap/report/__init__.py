"""The report: tables and figures laid out from the ARD by the plan, in HTML, RTF, PDF."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from eap.datasets.atomic import write_atomic
from eap.plans.plan import Plan

if TYPE_CHECKING:
    from eap.gate import DataIssue
    from eap.report.furniture import Furniture

FORMATS = ("html", "pdf", "rtf")


def write_ard(ard: pl.DataFrame, out: Path, metadata: Mapping[str, Any] | None = None) -> Path:
    """The ARD as Parquet and JSON, and the analysis metadata (ARS-like) as JSON."""
    out.mkdir(parents=True, exist_ok=True)

    def text_file(text: str) -> Callable[[Path], None]:
        def write(path: Path) -> None:
            path.write_text(text, encoding="utf-8")

        return write

    write_atomic(out / "ard.parquet", ard.write_parquet)
    write_atomic(out / "ard.json", lambda path: write_json_rows(ard, path))
    if metadata is not None:
        write_atomic(out / "ard_metadata.json", text_file(json.dumps(metadata, indent=2)))
    return out / "ard.parquet"


# Values (rows and the subjects in them) of the ARD turned into JSON text at a time.
JSON_PIECE_VALUES = 2_000_000


def write_json_rows(ard: pl.DataFrame, path: Path) -> None:
    """``ard`` as Polars writes it in JSON (an array of row objects), written a piece of
    rows at a time: at a million patients the text is 2.6 GB, and Polars made it whole
    in memory before writing it (0.9 GB more at the peak). Each piece holds about
    ``JSON_PIECE_VALUES`` rows and subjects; the bytes are those of ``ard.write_json()``.
    """
    sizes = ard["subjects"].list.len().fill_null(0).cast(pl.Int64) + 1
    piece = ((sizes.cum_sum() - 1) // JSON_PIECE_VALUES).to_numpy()
    starts = [0, *(np.flatnonzero(np.diff(piece)) + 1).tolist()]
    ends = [*starts[1:], ard.height]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("[")
        for number, (start, end) in enumerate(zip(starts, ends, strict=True)):
            if number:
                fh.write(",")
            fh.write(ard.slice(start, end - start).write_json()[1:-1])
        fh.write("]")


def write_report(
    ard: pl.DataFrame,
    out: Path,
    plan: Plan,
    *,
    subtitle: str = "",
    formats: tuple[str, ...] = FORMATS,
    progress: Callable[[str], None] | None = None,
    thresholds: Mapping[str, float] | None = None,
    skipped: Mapping[str, str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    data_issues: Sequence[DataIssue] = (),
    furniture: Furniture | None = None,
) -> dict[str, Path]:
    """Write the ARD (Parquet, JSON, metadata), figure files and the report in ``formats``.

    Every output of ``plan`` that was produced appears in plan order; ``skipped`` (id
    -> reason) are listed in the report as not produced. ``thresholds`` overrides the
    row threshold (percent) of incidence outputs by id. ``data_issues`` (the validation
    gate's findings with their records, eap.gate) are the report's "Data issues"
    section in HTML and PDF: each finding, how many records, what was done with them,
    and every record (dataset, variable, row, USUBJID, value). ``furniture`` is what the
    RTF and PDF pages say besides the outputs (study, cutoff, program, version, run date)
    and the paper; by default the study's cutoff, the command as run (as in the run log),
    letter paper and the run date of eap.report.furniture.run_date (``SOURCE_DATE_EPOCH``
    when set).
    """
    from eap.report.figures import report_figures, write_figures
    from eap.report.furniture import furniture_for, shown_date
    from eap.report.html import render_html
    from eap.report.layout import report_tables
    from eap.report.pdf import write_pdf
    from eap.report.rtf import write_rtf
    from eap.runlog import command_line

    say = progress or (lambda _what: None)
    if furniture is None:
        cutoff = plan.study.cutoff
        furniture = furniture_for(
            plan, cutoff=str(cutoff) if cutoff else "none", program=command_line()
        )
    not_made = dict(skipped or {})
    say("writing the ARD")
    paths = {"ard": write_ard(ard, out, metadata)}
    say("laying out tables")
    tables = report_tables(plan, ard, dict(thresholds or {}), tuple(not_made))
    figures = report_figures(plan, tuple(not_made))
    say("drawing figures (PNG, SVG)")
    drawn = write_figures(ard, out / "figures", figures)
    pngs = {stem: files["png"] for stem, files in drawn.items()}
    paths["figures"] = out / "figures"
    by_id: dict[str, Any] = {t.id: t for t in tables} | {f.id: f for f in figures}
    items = [by_id[o.id] for o in plan.outputs if o.id in by_id]
    if "rtf" in formats:
        say("writing RTF")
        write_rtf(out / "rtf", items, pngs, furniture)
        paths["rtf"] = out / "rtf"
    if "html" in formats:
        say("writing HTML")
        svgs = {stem: files["svg"] for stem, files in drawn.items()}
        paths["html"] = render_html(
            out / "report.html",
            items,
            svgs,
            title=plan.title,
            subtitle=subtitle,
            skipped=not_made,
            data_issues=data_issues,
            run_at=f"eap {furniture.version}, run {shown_date(furniture.run_at)}.",
        )
    if "pdf" in formats:
        say("writing PDF")
        paths["pdf"] = write_pdf(
            out / "report.pdf",
            items,
            pngs,
            furniture,
            title=plan.title,
            subtitle=subtitle,
            skipped=not_made,
            data_issues=data_issues,
        )
    return paths

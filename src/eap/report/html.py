"""The self-contained HTML report: great_tables for every table, a table of contents."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import polars as pl

from eap.datasets.atomic import write_atomic
from eap.report.figures import (
    PARAM_TITLES,
    flow_figure,
    km_figure,
    svg,
    swimmer_figure,
    toxicity_figure,
)
from eap.report.tables import POP_TITLES, DisplayTable, header_n, report_tables

STYLE = """
body { font-family: Arial, Helvetica, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; }
nav li { margin: 0.2em 0; } .meta { color: #555; font-size: 0.9em; }
"""


def table_html(table: DisplayTable, n: dict[str, int]) -> str:
    from great_tables import GT

    labels: dict[str, Any] = {
        pop: f"{POP_TITLES[pop]} (N = {n[pop]})"
        for pop in table.body.columns[1:]
        if pop in POP_TITLES
    }
    gt = GT(table.body).cols_label(**labels).tab_header(title=table.title).opt_stylize(style=1)
    for note in table.footnotes:
        gt = gt.tab_source_note(note)
    return str(gt.as_raw_html())


def render_html(ard: pl.DataFrame, path: Path, *, subtitle: str = "") -> Path:
    """Write the report; every number comes from ``ard``."""
    n = header_n(ard)
    tables = report_tables(ard)
    toc = "".join(f'<li><a href="#{t.id}">{html.escape(t.title)}</a></li>' for t in tables)
    sections = "".join(
        f'<section id="{t.id}"><h2>{html.escape(t.title)} [{t.id}]</h2>{table_html(t, n)}</section>'
        for t in tables
    )
    toc = '<li><a href="#FLOW01">Figure 1. Study design and patient disposition</a></li>' + toc
    sections = (
        f'<section id="FLOW01"><h2>Figure 1. Study design and patient disposition [FLOW01]</h2>'
        f"{svg(flow_figure(ard))}</section>" + sections
    )
    toc += '<li><a href="#AEG01">Figure: grade 3-4 TEAE incidence over time</a></li>'
    toc += '<li><a href="#SWMG01">Figure: time on Rd, treatment cohort (swimmer plot)</a></li>'
    sections += (
        '<section id="AEG01"><h2>Figure: grade 3-4 TEAE incidence over time [AEG01]</h2>'
        f"{svg(toxicity_figure(ard))}</section>"
        '<section id="SWMG01"><h2>Figure: time on Rd, treatment cohort [SWMG01]</h2>'
        f"{svg(swimmer_figure(ard))}</section>"
    )
    figures = [
        (f"KMG01-{p}", f"Figure: Kaplan-Meier estimate of {title.lower()}", p)
        for p, title in PARAM_TITLES.items()
    ]
    toc += "".join(
        f'<li><a href="#{fid}">{html.escape(title)}</a></li>' for fid, title, _ in figures
    )
    sections += "".join(
        f'<section id="{fid}"><h2>{html.escape(title)} [KMG01]</h2>{svg(km_figure(ard, p))}'
        "<p class='meta'>Censored observations marked |; numbers at risk below the axis."
        "</p></section>"
        for fid, title, p in figures
    )
    doc = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<title>MM-024 report</title>"
        f"<style>{STYLE}</style></head><body>"
        "<h1>MM-024 Extended Access Program: safety and efficacy of lenalidomide plus "
        "low-dose dexamethasone</h1>"
        f"<p class='meta'>{html.escape(subtitle)}</p>"
        f"<nav><h2>Contents</h2><ol>{toc}</ol></nav>{sections}</body></html>"
    )

    def write(target: Path) -> None:
        target.write_text(doc, encoding="utf-8")

    write_atomic(path, write)
    return path

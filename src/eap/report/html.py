"""The self-contained HTML report: great_tables for every table, figures as inline SVG.

Every count in a table carries the USUBJIDs behind it (from the ARD's SUBJECTS):
hovering shows how many patients and, for up to 20, who; clicking lists them in
a panel. The subject lists are stored once, as indices into one list of USUBJIDs
in a JSON block, so the file stays small for large cohorts.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import polars as pl

from eap.datasets.atomic import write_atomic
from eap.report.figures import ReportFigure, report_figures, svg
from eap.report.tables import POP_TITLES, DisplayTable, header_n, report_tables

HOVER_MAX = 20
STYLE = """
body { font-family: Arial, Helvetica, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; }
nav li { margin: 0.2em 0; } .meta { color: #555; font-size: 0.9em; }
.n { cursor: pointer; border-bottom: 1px dotted #1f4e79; }
.n:hover { background: #eef4fb; }
#subjects { display: none; position: fixed; right: 1em; top: 1em; width: 22em; max-height: 80vh;
  overflow: auto; background: #fff; border: 1px solid #1f4e79; padding: 0.6em 0.8em;
  box-shadow: 0 2px 8px rgba(0,0,0,.2); font-size: 0.85em; }
#subjects h3 { font-size: 1em; margin: 0 0 0.4em 0; } #subjects ol { padding-left: 1.6em; }
#subjects button { float: right; }
@media print { #subjects { display: none !important; } .n { border: none; } }
"""
SCRIPT = """
(function () {
  var data = JSON.parse(document.getElementById('subject-data').textContent);
  var panel = document.getElementById('subjects');
  document.addEventListener('click', function (e) {
    var cell = e.target.closest('.n');
    if (!cell) { if (!panel.contains(e.target)) panel.style.display = 'none'; return; }
    var ids = data.cells[cell.dataset.k].map(function (i) { return data.ids[i]; });
    panel.querySelector('h3').textContent = cell.dataset.what + ': ' + ids.length +
      (ids.length === 1 ? ' patient' : ' patients');
    var list = panel.querySelector('ol'); list.innerHTML = '';
    ids.forEach(function (id) { var li = document.createElement('li');
      li.textContent = id; list.appendChild(li); });
    panel.style.display = 'block';
  });
  panel.querySelector('button').addEventListener('click', function () {
    panel.style.display = 'none'; });
})();
"""


class SubjectIndex:
    """USUBJIDs numbered once; each count cell refers to its subjects by those numbers."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.cells: dict[str, list[int]] = {}

    def add(self, subjects: tuple[str, ...]) -> str:
        key = f"c{len(self.cells)}"
        self.cells[key] = [self.ids.setdefault(s, len(self.ids)) for s in subjects]
        return key

    def to_json(self) -> str:
        # "</" would end the script element early.
        text = json.dumps({"ids": list(self.ids), "cells": self.cells}, separators=(",", ":"))
        return text.replace("</", "<\\/")


def _cell(text: str, subjects: tuple[str, ...] | None, what: str, index: SubjectIndex) -> str:
    shown = html.escape(text)
    if not subjects:
        return shown
    hint = f"{len(subjects)} patient{'' if len(subjects) == 1 else 's'}"
    if len(subjects) <= HOVER_MAX:
        hint += ": " + ", ".join(subjects)
    hint += " (click to list)"
    return (
        f'<span class="n" data-k="{index.add(subjects)}" data-what="{html.escape(what)}" '
        f'title="{html.escape(hint)}">{shown}</span>'
    )


def table_html(table: DisplayTable, n: dict[str, int], index: SubjectIndex) -> str:
    """A great_tables table whose counts open the list of their subjects."""
    from great_tables import GT

    label_col = table.body.columns[0]
    cells: dict[str, list[str]] = {c: [] for c in table.body.columns}
    for i, row in enumerate(table.body.iter_rows(named=True)):
        for col, text in row.items():
            what = f"{table.id} {row[label_col].strip()}"
            if col in POP_TITLES:
                what += f", {POP_TITLES[col].lower()}"
            cells[col].append(_cell(str(text), table.subjects.get((i, col)), what, index))
    labels: dict[str, Any] = {
        pop: f"{POP_TITLES[pop]} (N = {n[pop]})"
        for pop in table.body.columns[1:]
        if pop in POP_TITLES
    }
    gt = (
        GT(pl.DataFrame(cells))
        .fmt(lambda v: v)  # the cells are HTML already (escaped above)
        .cols_label(**labels)
        .tab_header(title=table.title)
        .opt_stylize(style=1)
    )
    for note in table.footnotes:
        gt = gt.tab_source_note(note)
    return str(gt.as_raw_html())


def _figure_section(figure: ReportFigure, svg_text: str) -> str:
    anchor = figure.stem.replace("_", "-")
    return (
        f'<section id="{anchor}"><h2>{html.escape(figure.title)} [{figure.id}]</h2>'
        f"{svg_text}<p class='meta'>{html.escape(figure.footnote)}</p></section>"
    )


def render_html(
    ard: pl.DataFrame,
    path: Path,
    *,
    subtitle: str = "",
    svg_files: dict[str, Path] | None = None,
    tables: list[DisplayTable] | None = None,
) -> Path:
    """Write the report; every number comes from ``ard``.

    ``svg_files`` (stem -> file) reuses figures already drawn; others are drawn here;
    ``tables`` reuses tables already laid out.
    """
    n = header_n(ard)
    index = SubjectIndex()
    tables = tables if tables is not None else report_tables(ard)
    figures = report_figures()

    def figure_svg(figure: ReportFigure) -> str:
        if svg_files and figure.stem in svg_files:
            text = svg_files[figure.stem].read_text(encoding="utf-8")
            return text[text.index("<svg") :]
        return svg(figure.draw(ard))

    first, rest = figures[:1], figures[1:]
    entries = [(f.stem.replace("_", "-"), f.title) for f in first]
    entries += [(t.id, t.title) for t in tables]
    entries += [(f.stem.replace("_", "-"), f.title) for f in rest]
    toc = "".join(f'<li><a href="#{a}">{html.escape(title)}</a></li>' for a, title in entries)
    sections = "".join(_figure_section(f, figure_svg(f)) for f in first)
    sections += "".join(
        f'<section id="{t.id}"><h2>{html.escape(t.title)} [{t.id}]</h2>'
        f"{table_html(t, n, index)}</section>"
        for t in tables
    )
    sections += "".join(_figure_section(f, figure_svg(f)) for f in rest)
    doc = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<title>MM-024 report</title>"
        f"<style>{STYLE}</style></head><body>"
        "<h1>MM-024 Extended Access Program: safety and efficacy of lenalidomide plus "
        "low-dose dexamethasone</h1>"
        f"<p class='meta'>{html.escape(subtitle)} Click any count to list the patients "
        "behind it.</p>"
        f"<nav><h2>Contents</h2><ol>{toc}</ol></nav>{sections}"
        '<aside id="subjects" aria-live="polite"><button type="button">close</button>'
        "<h3></h3><ol></ol></aside>"
        f'<script type="application/json" id="subject-data">{index.to_json()}</script>'
        f"<script>{SCRIPT}</script></body></html>"
    )

    def write(target: Path) -> None:
        target.write_text(doc, encoding="utf-8")

    write_atomic(path, write)
    return path

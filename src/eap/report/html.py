"""The self-contained HTML report: great_tables for every table, figures as inline SVG.

Every count in a table carries the USUBJIDs behind it (from the ARD's SUBJECTS):
hovering shows how many patients and the first 20 of them ("… and k more" for the
rest); clicking lists them in a panel, up to :data:`LIST_MAX` (a larger count says
how many more and that the ARD holds them all). Each distinct subject list is stored
once, as indices into one list of USUBJIDs in a JSON block, so the file's size is
bounded by the number of distinct counts, whatever the cohort's size.
"""

from __future__ import annotations

import html
import json
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from eap.datasets.atomic import write_atomic
from eap.formatting import plural
from eap.report.figures import ReportFigure
from eap.report.tables import SHOWN_MAX, DisplayTable, SubjectList

if TYPE_CHECKING:
    from eap.gate import DataIssue

HOVER_MAX = 20
# Subjects listed in the page per count; the rest are in the ARD (docs/report.md).
LIST_MAX = SHOWN_MAX
# Records of a listing the page shows; all are in the RTF and PDF listing and the ARD.
LISTING_MAX = 500
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
.indent1 { padding-left: 1.5em; display: inline-block; }
.indent2 { padding-left: 3em; display: inline-block; }
.skipped { color: #7a4b00; }
.issues table { border-collapse: collapse; font-size: 0.85em; margin: 0.6em 0; }
.issues th, .issues td { border-bottom: 1px solid #ccc; padding: 0.2em 0.5em; text-align: left;
  vertical-align: top; }
.issues .error { color: #a00000; font-weight: bold; } .issues .warning { color: #7a4b00; }
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
    var total = data.more[cell.dataset.k] || ids.length;
    panel.querySelector('h3').textContent = cell.dataset.what + ': ' + total +
      (total === 1 ? ' subject' : ' subjects');
    var list = panel.querySelector('ol'); list.innerHTML = '';
    ids.forEach(function (id) { var li = document.createElement('li');
      li.textContent = id; list.appendChild(li); });
    var note = panel.querySelector('p'); note.textContent = total > ids.length ?
      '… and ' + (total - ids.length) + ' more: every subject is in ard.parquet ' +
      '(column subjects of this row).' : '';
    panel.style.display = 'block';
  });
  panel.querySelector('button').addEventListener('click', function () {
    panel.style.display = 'none'; });
})();
"""


class SubjectIndex:
    """USUBJIDs numbered once; each distinct set of subjects stored once, as at most
    ``most`` of those numbers (its first subjects), with its size when it has more.

    The page then grows with the number of distinct counts, not with the cohort: a
    count of 40,000 patients costs as much as one of ``most``.

    >>> index = SubjectIndex(most=2)
    >>> index.add(("A", "B")) == index.add(("A", "B")), index.add(("A", "B", "C"))
    (True, 'c1')
    >>> index.cells["c1"], index.more
    ([0, 1], {'c1': 3})
    """

    def __init__(self, most: int = LIST_MAX) -> None:
        self.most = most
        self.ids: dict[str, int] = {}
        self.cells: dict[str, list[int]] = {}
        self.more: dict[str, int] = {}
        self._keys: dict[Hashable, str] = {}

    def add(self, subjects: Sequence[str]) -> str:
        given = subjects if isinstance(subjects, SubjectList) else SubjectList(subjects)
        key = self._keys.get(given.key)
        if key is None:
            key = self._keys[given.key] = f"c{len(self.cells)}"
            shown = given[: self.most]
            self.cells[key] = [self.ids.setdefault(s, len(self.ids)) for s in shown]
            if given.total > len(shown):
                self.more[key] = given.total
        return key

    def to_json(self) -> str:
        data = {"ids": list(self.ids), "cells": self.cells, "more": self.more}
        # "</" would end the script element early.
        return json.dumps(data, separators=(",", ":")).replace("</", "<\\/")


def hover_text(subjects: Sequence[str], most: int = HOVER_MAX) -> str:
    """The tooltip of a count: how many subjects, the first ``most`` of them, how many more.

    >>> hover_text(["01-701-1015", "01-701-1023"])
    '2 subjects: 01-701-1015, 01-701-1023 (click to list)'
    >>> hover_text(["A", "B", "C"], most=2)
    '3 subjects: A, B … and 1 more (click to list)'
    """
    total = subjects.total if isinstance(subjects, SubjectList) else len(subjects)
    text = f"{plural(total, 'subject')}: " + ", ".join(subjects[:most])
    if total > most:
        text += f" … and {total - most} more"
    return text + " (click to list)"


def _cell(text: str, subjects: SubjectList | None, what: str, index: SubjectIndex) -> str:
    shown = html.escape(text)
    if not subjects:
        return shown
    hint = hover_text(subjects)
    return (
        f'<span class="n" data-k="{index.add(subjects)}" data-what="{html.escape(what)}" '
        f'title="{html.escape(hint)}">{shown}</span>'
    )


def table_html(table: DisplayTable, index: SubjectIndex) -> str:
    """A great_tables table whose counts open the list of their subjects; nested rows
    indented."""
    from great_tables import GT
    from great_tables import html as html_text

    label_col = table.body.columns[0]
    cells: dict[str, list[str]] = {c: [] for c in table.body.columns}
    body = table.body.head(LISTING_MAX) if table.records else table.body
    for i, row in enumerate(body.iter_rows(named=True)):
        for col, header, text in zip(table.body.columns, table.headers, row.values(), strict=True):
            what = f"{table.id} {row[label_col].strip()}"
            if header and col != label_col:
                what += f", {header}"
            shown = _cell(str(text), table.subjects.get((i, col)), what, index)
            if col == label_col and table.mark(i):
                shown += f"<sup>{html.escape(table.mark(i))}</sup>"
            if col == label_col and table.level(i):
                shown = f'<span class="indent{min(table.level(i), 2)}">{shown}</span>'
            cells[col].append(shown)
    labels: dict[str, Any] = {
        col: html.escape(header)
        for col, header in zip(table.body.columns, table.headers, strict=True)
    }
    # A fixed id (great_tables draws a random one): the same ARD gives the same bytes.
    gt_id = "t-" + "".join(ch if ch.isalnum() else "-" for ch in table.id).lower()
    gt = (
        GT(pl.DataFrame(cells), id=gt_id)
        .fmt(lambda v: v)  # the cells are HTML already (escaped above)
        .cols_label(**labels)
        .opt_stylize(style=1)
    )
    if table.subtitle:
        gt = gt.tab_header(title="", subtitle=table.subtitle)
    for note in table.footnotes:
        mark, text = table.note_mark(note)
        shown = f"<sup>{html.escape(mark)}</sup>{html.escape(text)}" if mark else html.escape(note)
        gt = gt.tab_source_note(html_text(shown))
    if body.height < table.body.height:
        gt = gt.tab_source_note(listing_cut(table.id, body.height, table.body.height))
    return str(gt.as_raw_html())


def listing_cut(output: str, shown: int, records: int) -> str:
    """The note under a listing the page shows in part.

    >>> listing_cut("AET10L", 500, 25013)[:51]
    'The first 500 of 25,013 records are shown here; eve'
    """
    return (
        f"The first {shown:,} of {records:,} records are shown here; every record is in "
        f"the RTF and PDF listing and in ard.parquet (the rows of output {output})."
    )


def _figure_section(figure: ReportFigure, svg_text: str) -> str:
    anchor = figure.stem.replace("_", "-")
    return (
        f'<section id="{anchor}"><h2>{html.escape(figure.title)} [{figure.id}]</h2>'
        f"{svg_text}<p class='meta'>{html.escape(figure.footnote)}</p></section>"
    )


def _plain_table(headers: Sequence[str], rows: Sequence[Sequence[str]], cls: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table class='{cls}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def issues_html(issues: Sequence[DataIssue]) -> str:
    """The "Data issues" section: the findings, then every record they concern."""
    from eap.report.issues import (
        FINDING_HEADERS,
        RECORD_HEADERS,
        finding_rows,
        introduction,
        record_rows,
    )

    if not issues:
        return ""
    findings = finding_rows(issues)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in FINDING_HEADERS)
    body = "".join(
        f"<tr><td class='{html.escape(row[0])}'>"
        + "</td><td>".join(html.escape(v) for v in row)
        + "</td></tr>"
        for row in findings
    )
    records = record_rows(issues)
    listed = (
        f"<h3>Records ({len(records)})</h3>" + _plain_table(RECORD_HEADERS, records, "records")
        if records
        else ""
    )
    return (
        "<section id='data-issues' class='issues'><h2>Data issues</h2>"
        f"<p>{html.escape(introduction(issues))}</p>"
        f"<table class='findings'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f"{listed}</section>"
    )


def render_html(
    path: Path,
    items: list[DisplayTable | ReportFigure],
    svg_files: dict[str, Path],
    *,
    title: str,
    subtitle: str = "",
    skipped: dict[str, str] | None = None,
    data_issues: Sequence[DataIssue] = (),
    run_at: str = "",
) -> Path:
    """Write the report: every table and figure in plan order, each number from the ARD.

    ``run_at`` (eap's version and the run date) is the only text that is not from the
    ARD and the plan: with a fixed run date (SOURCE_DATE_EPOCH), the same bytes.
    """
    index = SubjectIndex(LIST_MAX)

    def anchor(item: DisplayTable | ReportFigure) -> str:
        return item.id.replace("_", "-")

    def figure_svg(figure: ReportFigure) -> str:
        text = svg_files[figure.stem].read_text(encoding="utf-8")
        return text[text.index("<svg") :]

    toc = "".join(
        f'<li><a href="#{anchor(i)}">{html.escape(i.title)}</a> [{i.id}]</li>' for i in items
    )
    sections = ""
    for item in items:
        if isinstance(item, ReportFigure):
            sections += _figure_section(item, figure_svg(item))
        else:
            sections += (
                f'<section id="{anchor(item)}"><h2>{html.escape(item.title)} [{item.id}]</h2>'
                f"{table_html(item, index)}</section>"
            )
    not_made = ""
    if skipped:
        lines = "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in skipped.items())
        not_made = (
            f"<section id='not-produced' class='skipped'><h2>Not produced</h2>"
            f"<ul>{lines}</ul></section>"
        )
    meta = " ".join(text for text in (subtitle, run_at) if text)
    doc = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p class='meta'>{html.escape(meta)} Click any count to list the subjects behind it.</p>"
        f"<nav><h2>Contents</h2><ol>{toc}</ol></nav>{issues_html(data_issues)}{not_made}"
        f"{sections}"
        '<aside id="subjects" aria-live="polite"><button type="button">close</button>'
        "<h3></h3><ol></ol><p></p></aside>"
        f'<script type="application/json" id="subject-data">{index.to_json()}</script>'
        f"<script>{SCRIPT}</script></body></html>"
    )

    def write(target: Path) -> None:
        target.write_text(doc, encoding="utf-8")

    write_atomic(path, write)
    return path

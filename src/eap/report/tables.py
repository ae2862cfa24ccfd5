"""Display tables: what HTML, PDF and RTF lay out, and how ARD statistics are printed.

A :class:`DisplayTable` is a body of text cells (a label column, then one column
per ARD column of the output), the column headers with their N, the indent of
each row (0 a row of its own, 1 nested under the row above it) and, for every
count, the USUBJIDs behind it (the HTML lists them). Numbers are printed by their
ARD ``fmt``: ``xx`` an integer, ``xx.x`` one decimal, ``xx.x%`` a 0-1 proportion
as a percent; every rounding is half up (as SAS ROUND), never half to even.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from eap.formatting import round_half_up

NE = "NE"
DASH = "–"  # en dash between the bounds of a range or interval


def _decimals(fmt: str | None) -> int:
    if not fmt or "." not in fmt:
        return 0
    return len(fmt.split(".", 1)[1].rstrip("%"))


def number(value: float | None, fmt: str | None = "xx.x", digits: int | None = None) -> str:
    """A statistic as printed: ``NE`` when not estimable, rounded half up.

    >>> number(0.1125, "xx.x%"), number(11.25, "xx.x"), number(3.0, "xx")
    ('11.3', '11.3', '3')
    """
    if value is None or value != value:
        return NE
    if fmt and fmt.endswith("%"):
        value = 100.0 * value
    places = _decimals(fmt) if digits is None else digits
    return str(round_half_up(float(value), places))


def p_value(value: float | None) -> str:
    """A p-value at four decimals; below 0.0001 as ``<0.0001`` (SAS prints ``<.0001``).

    >>> p_value(0.04567), p_value(3e-14)
    ('0.0457', '<0.0001')
    """
    if value is None or value != value:
        return NE
    return "<0.0001" if value < 0.0001 else number(value, "x.xxxx")


def n_pct(n: float | None, p: float | None) -> str:
    """``n (%)`` with the percent at one decimal; a zero count is ``0``."""
    if n is None:
        return NE
    if int(n) == 0:
        return "0"
    return f"{int(n)} ({number(p, 'xx.x%')})"


def interval(estimate: str, low: str, high: str) -> str:
    """``estimate (low–high)``."""
    return f"{estimate} ({low}{DASH}{high})"


class Count(str):
    """A formatted count that remembers the USUBJIDs behind it (for the HTML drill-down)."""

    subjects: tuple[str, ...]

    def __new__(cls, text: str, subjects: Sequence[str]) -> Count:
        made = super().__new__(cls, text)
        made.subjects = tuple(subjects)
        return made


@dataclass(frozen=True)
class DisplayTable:
    """An output laid out: id, title, body (label column first), headers, notes.

    ``headers`` are the column headings in body order; ``indent`` the nesting of each
    body row; ``subjects`` maps (row index, column name) of a count to its USUBJIDs.
    """

    id: str
    title: str
    body: pl.DataFrame
    headers: tuple[str, ...]
    footnotes: tuple[str, ...]
    subtitle: str = ""
    indent: tuple[int, ...] = ()
    subjects: dict[tuple[int, str], tuple[str, ...]] = field(default_factory=dict)

    def level(self, row: int) -> int:
        return self.indent[row] if row < len(self.indent) else 0


def _span(text: str) -> float:
    """Width of ``text`` in average characters."""
    return sum(1.3 if ch.isupper() else 1.0 for ch in text)


def column_widths(
    table: DisplayTable, total: float, char: float = 4.6, pad: float = 12.0
) -> list[float]:
    """Column widths (in the unit of ``total``) for paged formats.

    Each column gets at least its longest unbreakable word (header or cell; "N = 80"
    counts as one word, it is never broken), so no word is split letter by letter;
    the space left goes to the columns whose text would wrap, in proportion to how
    much longer their longest line is. ``char`` is the average character width (4.6
    points at 8-point Helvetica), ``pad`` a cell's padding.
    """
    least: list[float] = []
    want: list[float] = []
    for col, header in zip(table.body.columns, table.headers, strict=True):
        cells = table.body[col].cast(pl.String).fill_null("").to_list()
        # Headers are bold (10% wider); capitals are about 30% wider than the average.
        spans = [(1.1, w) for w in header.split()] + [(1.0, w) for c in cells for w in c.split()]
        word = max((k * _span(w) for k, w in spans), default=1.0)
        line = min(max((_span(c) for c in cells), default=_span(header)), 45.0)
        least.append(word * char + pad)
        want.append(max(line, word) * char + pad)
    if sum(want) <= total:
        return [w * total / sum(want) for w in want]
    if sum(least) >= total:
        return [w * total / sum(least) for w in least]
    spare, extra = total - sum(least), [w - m for w, m in zip(want, least, strict=True)]
    return [m + spare * e / sum(extra) for m, e in zip(least, extra, strict=True)]


def table(
    id: str,
    title: str,
    rows: Sequence[Sequence[str]],
    headers: Sequence[str],
    footnotes: Sequence[str],
    *,
    subtitle: str = "",
    indent: Sequence[int] = (),
) -> DisplayTable:
    """A display table from rows of cells; the subjects of :class:`Count` cells are kept.

    Columns are named ``c0`` (the labels), ``c1``, ...; ``headers`` are what is shown.
    """
    names = [f"c{i}" for i in range(len(headers))]
    subjects = {
        (i, col): cell.subjects
        for i, row in enumerate(rows)
        for col, cell in zip(names, row, strict=True)
        if isinstance(cell, Count)
    }
    body = pl.DataFrame(
        [tuple(map(str, r)) for r in rows], schema={n: pl.String for n in names}, orient="row"
    )
    return DisplayTable(
        id,
        title,
        body,
        tuple(headers),
        tuple(footnotes),
        subtitle,
        tuple(indent) or tuple(0 for _ in rows),
        subjects,
    )

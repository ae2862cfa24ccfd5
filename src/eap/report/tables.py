"""Display tables: what HTML, PDF and RTF lay out, and how ARD statistics are printed.

A :class:`DisplayTable` is a body of text cells (a label column, then one column
per ARD column of the output), the column headers with their N, the indent of
each row (0 a row of its own, 1 nested under the row above it) and, for every
count, the USUBJIDs behind it (the HTML lists them). Numbers are printed by their
ARD ``fmt``: ``xx`` an integer, ``xx.x`` one decimal, ``xx.x%`` a 0-1 proportion
as a percent; every rounding is half up (as SAS ROUND), never half to even.

One typographic convention in every format: ≤ and ≥ (never ``<=``, ``>=``: data
values such as AGEGR1 ``<=65`` are typeset by :func:`typeset`), and the en dash –
between the bounds of a range or interval. A row label may carry a footnote mark
(``marks``: a letter the writers set as a superscript, its footnote starting with it).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

from eap.formatting import percent, round_half_up

NE = "NE"
DASH = "–"  # en dash between the bounds of a range or interval
SIGNS = {"<=": "≤", ">=": "≥"}


def typeset(text: str) -> str:
    """``<=`` and ``>=`` as the signs ≤ and ≥, as every format prints them.

    >>> typeset("<=65 years"), typeset("AGE >= 5")
    ('≤65 years', 'AGE ≥ 5')
    """
    for ascii_sign, sign in SIGNS.items():
        text = text.replace(ascii_sign, sign)
    return text


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


def n_pct(n: float | None, p: float | None, total: float | None = None) -> str:
    """``n (%)`` with the percent at one decimal; a zero count is ``0``.

    With the denominator the percent is exact before rounding: 23 of 80 is 28.75%,
    printed 28.8 (half up), where the binary 0.2875 x 100 is 28.749999... and would
    print 28.7.

    >>> n_pct(23, 0.2875, 80), n_pct(0, 0.0, 80)
    ('23 (28.8)', '0')
    """
    if n is None:
        return NE
    if int(n) == 0:
        return "0"
    if total:
        return f"{int(n)} ({percent(int(n), int(total))})"
    return f"{int(n)} ({number(p, 'xx.x%')})"


def interval(estimate: str, low: str, high: str) -> str:
    """``estimate (low–high)``."""
    return f"{estimate} ({low}{DASH}{high})"


# The USUBJIDs a count keeps for the report's drill-down; the ARD keeps them all.
SHOWN_MAX = 1000


class SubjectList(tuple[str, ...]):
    """The USUBJIDs behind a count as the report keeps them: the first ``SHOWN_MAX``
    of them (the tuple), ``total`` (how many in all) and ``key``, the same for the same
    subjects and only for them (the subjects themselves, or for a longer list its size
    and two 64-bit hashes of the whole list), so that a count of a million subjects
    costs the report no more than one of a thousand.

    >>> ids = SubjectList(["A", "B"])
    >>> ids, ids.total, ids.key
    (('A', 'B'), 2, ('A', 'B'))
    """

    total: int
    key: Hashable

    def __new__(
        cls, shown: Iterable[str], total: int | None = None, key: Hashable | None = None
    ) -> SubjectList:
        made = super().__new__(cls, shown)
        made.total = len(made) if total is None else total
        made.key = tuple(made) if key is None else key
        return made


class Count(str):
    """A formatted count that remembers the USUBJIDs behind it (for the HTML drill-down)."""

    subjects: SubjectList

    def __new__(cls, text: str, subjects: Sequence[str]) -> Count:
        made = super().__new__(cls, text)
        made.subjects = subjects if isinstance(subjects, SubjectList) else SubjectList(subjects)
        return made


@dataclass(frozen=True)
class DisplayTable:
    """An output laid out: id, title, body (label column first), headers, notes.

    ``headers`` are the column headings in body order (the first heads the label
    column, the paper's "Characteristic"); ``indent`` the nesting of each body row;
    ``marks`` the footnote mark of each row's label ("" none); ``subjects`` maps (row
    index, column name) of a count to its USUBJIDs.
    """

    id: str
    title: str
    body: pl.DataFrame
    headers: tuple[str, ...]
    footnotes: tuple[str, ...]
    subtitle: str = ""
    indent: tuple[int, ...] = ()
    subjects: dict[tuple[int, str], SubjectList] = field(default_factory=dict)
    marks: tuple[str, ...] = ()
    records: bool = False  # a listing: a row per record

    def level(self, row: int) -> int:
        return self.indent[row] if row < len(self.indent) else 0

    def mark(self, row: int) -> str:
        """The footnote mark of a row's label, "" when it has none."""
        return self.marks[row] if row < len(self.marks) else ""

    def note_mark(self, note: str) -> tuple[str, str]:
        """A footnote split into its mark (set as a superscript) and its text.

        A footnote starts with its mark and a space ("a Decreased neutrophil count
        refers to ..."); one that starts with no mark of the table has none.
        """
        head, _, rest = note.partition(" ")
        return (head, rest) if rest and head in {m for m in self.marks if m} else ("", note)


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
    marks: Mapping[str, str] | None = None,
    records: bool = False,
) -> DisplayTable:
    """A display table from rows of cells; the subjects of :class:`Count` cells are kept.
    ``records``: the table is a listing, a row per record.

    Columns are named ``c0`` (the labels), ``c1``, ...; ``headers`` are what is shown.
    Every text is typeset (≤ ≥); ``marks`` gives a footnote mark to the rows whose
    label it names.
    """
    names = [f"c{i}" for i in range(len(headers))]
    subjects = {
        (i, col): cell.subjects
        for i, row in enumerate(rows)
        for col, cell in zip(names, row, strict=True)
        if isinstance(cell, Count)
    }
    body = pl.DataFrame(
        [tuple(typeset(str(c)) for c in r) for r in rows],
        schema={n: pl.String for n in names},
        orient="row",
    )
    given = marks or {}
    return DisplayTable(
        id,
        typeset(title),
        body,
        tuple(typeset(h) for h in headers),
        tuple(typeset(f) for f in footnotes),
        typeset(subtitle),
        tuple(indent) or tuple(0 for _ in rows),
        subjects,
        tuple(given.get(str(r[0]), "") for r in rows) if given else (),
        records,
    )

"""Analysis results data in the shape of the pharmaverse ``cards`` package.

One row per statistic. Columns (docs/plans.md maps each to cards and CDISC ARS):

* ``output``: the display id of the plan entry (eap's own);
* ``population``: the analysis set (eap's own; ARS AnalysisSet);
* ``group1``, ``group1_level``: the column grouping (an arm variable and its level);
  null for a Total column, as cards' ``.overall = TRUE`` rows have no group;
* ``group2``, ``group2_level``: the outer level of a nested analysis (the SOC of a
  preferred term, the PARAMCD of a time-to-event summary, the record of a listing);
* ``variable``, ``variable_level``: what is summarised and its level;
* ``context``: the analysis kind (``summary``, ``tabulate``, ``hierarchical``,
  ``survival``, ``survdiff``, ``coxph``, ...);
* ``stat_name``, ``stat_label``: cards' names (``n``, ``N``, ``p`` a 0-1 proportion,
  ``mean``, ``sd``, ``median``, ``p25``, ``p75``, ``min``, ``max``; ``estimate``,
  ``conf.low``, ``conf.high``, ``std.error``, ``n.risk``, ``statistic``, ``df``,
  ``p.value``) and their labels;
* ``stat`` (Float64) and ``stat_text`` (a text statistic, e.g. a listing cell);
* ``fmt``: the display format (``xx`` integer, ``xx.x`` one decimal, ``xx.x%`` a
  proportion shown as a percent with one decimal);
* ``warning``, ``error``: why a statistic is not estimable (``stat`` null);
* ``subjects``: the USUBJIDs behind a count (eap's own).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import polars as pl

ARD_SCHEMA: dict[str, pl.DataType] = {
    "output": pl.String(),
    "population": pl.String(),
    "group1": pl.String(),
    "group1_level": pl.String(),
    "group2": pl.String(),
    "group2_level": pl.String(),
    "variable": pl.String(),
    "variable_level": pl.String(),
    "context": pl.String(),
    "stat_name": pl.String(),
    "stat_label": pl.String(),
    "stat": pl.Float64(),
    "stat_text": pl.String(),
    "fmt": pl.String(),
    "warning": pl.String(),
    "error": pl.String(),
    "subjects": pl.List(pl.String()),
}

STAT_LABELS = {
    "n": "n",
    "N": "N",
    "p": "%",
    "events": "Number of events",
    "mean": "Mean",
    "sd": "SD",
    "median": "Median",
    "p25": "Q1",
    "p75": "Q3",
    "min": "Min",
    "max": "Max",
    "estimate": "Estimate",
    "conf.low": "CI Lower Bound",
    "conf.high": "CI Upper Bound",
    "std.error": "Standard Error",
    "n.risk": "Number at Risk",
    "statistic": "X^2 Statistic",
    "df": "Degrees of Freedom",
    "p.value": "p-value",
    "censored": "Censored",
    "value": "Value",
}


@dataclass(frozen=True)
class Cell:
    """Where a statistic sits: output, population, column group, nesting and variable."""

    output: str
    population: str
    group1: str | None = None
    group1_level: str | None = None
    group2: str | None = None
    group2_level: str | None = None
    variable: str = ""
    variable_level: str | None = None
    context: str = ""

    def at(self, **changes: str | None) -> Cell:
        values = {**self.__dict__, **changes}
        return Cell(**values)  # type: ignore[arg-type]


@dataclass
class Rows:
    """An ARD under construction: statistics appended in a fixed order, one by one
    (:meth:`add`) or a block at a time (:meth:`add_block`, rows built by Polars)."""

    rows: list[tuple[object, ...]] = field(default_factory=list)
    blocks: list[pl.DataFrame] = field(default_factory=list)

    def add_block(self, block: pl.DataFrame) -> None:
        """Append ARD rows built as a frame (:func:`block`), after those added so far."""
        if self.rows:
            self.blocks.append(self._frame_of_rows())
            self.rows = []
        self.blocks.append(block)

    def add(
        self,
        cell: Cell,
        stat_name: str,
        stat: float | None,
        *,
        fmt: str = "xx.x",
        subjects: Sequence[str] | pl.Series = (),
        text: str | None = None,
        warning: str | None = None,
        label: str | None = None,
    ) -> None:
        value = None if stat is None else float(stat)
        if value is not None and value != value:  # NaN: not estimable
            value = None
        if value is None and text is None and warning is None:
            warning = "not estimable"
        self.rows.append(
            (
                cell.output,
                cell.population,
                cell.group1,
                cell.group1_level,
                cell.group2,
                cell.group2_level,
                cell.variable,
                cell.variable_level,
                cell.context,
                stat_name,
                label or STAT_LABELS.get(stat_name, stat_name),
                value,
                text,
                fmt,
                warning,
                None,
                subjects if isinstance(subjects, pl.Series) else list(subjects),
            )
        )

    def count(self, cell: Cell, subjects: Iterable[str] | pl.Series, denominator: int) -> None:
        """n, N and p (a 0-1 proportion; null with a warning when N is 0) of subjects,
        each subject once, in USUBJID order (a Series stays in Polars: a count of a
        million subjects is not a million Python strings)."""
        if isinstance(subjects, pl.Series):
            ids: Sequence[str] | pl.Series = subjects.cast(pl.String).unique().sort()
        else:
            ids = sorted(set(subjects))
        self.add(cell, "n", len(ids), fmt="xx", subjects=ids)
        self.add(cell, "N", denominator, fmt="xx")
        if denominator:
            self.add(cell, "p", len(ids) / denominator, fmt="xx.x%")
        else:
            self.add(cell, "p", None, fmt="xx.x%", warning="N is 0: no subjects in the column")

    def frame(self) -> pl.DataFrame:
        """The rows as an ARD; subjects given as Series are put in the list column by
        Polars, without passing through Python."""
        if not self.blocks:
            return self._frame_of_rows()
        return pl.concat([*self.blocks, self._frame_of_rows()], rechunk=False)

    def _frame_of_rows(self) -> pl.DataFrame:
        others = {k: v for k, v in ARD_SCHEMA.items() if k != "subjects"}
        frame = pl.DataFrame([r[:-1] for r in self.rows], schema=others, orient="row")
        return frame.with_columns(_subject_lists([r[-1] for r in self.rows]))  # type: ignore[misc]


def block(
    cell: Cell,
    data: pl.DataFrame,
    stat_name: str,
    stat: pl.Expr,
    *,
    fmt: str = "xx.x",
    subjects: pl.Expr | None = None,
    **varying: pl.Expr,
) -> pl.DataFrame:
    """ARD rows, one per row of ``data`` and in its order, as :meth:`Rows.add` makes
    them one at a time: ``cell`` with the fields in ``varying`` (``group2_level``,
    ``variable_level``, ...) taken from ``data``; ``stat`` a number (NaN or null: not
    estimable); ``subjects`` a list of USUBJIDs (none when None). A per-subject output
    (a swimmer plot: three rows a subject) is so built without a Python loop.
    """
    value = stat.cast(pl.Float64)
    value = pl.when(value.is_nan()).then(None).otherwise(value)
    fixed: dict[str, object] = {
        **cell.__dict__,
        "stat_name": stat_name,
        "stat_label": STAT_LABELS.get(stat_name, stat_name),
        "fmt": fmt,
    }
    made: dict[str, pl.Expr] = {
        "stat": value,
        "warning": pl.when(value.is_null()).then(pl.lit("not estimable")),
        "subjects": subjects if subjects is not None else pl.lit([], dtype=pl.List(pl.String)),
    }
    given = {**made, **varying}
    columns = [
        (given[name] if name in given else pl.lit(fixed.get(name))).cast(kind).alias(name)
        for name, kind in ARD_SCHEMA.items()
    ]
    return data.select(columns)


def _subject_lists(given: list[Sequence[str] | pl.Series]) -> pl.Series:
    """The subjects column from each row's list or Series, in order: runs of lists
    built at once, each Series imploded (its values stay in Polars' buffers)."""
    chunks: list[pl.Series] = []
    pending: list[Sequence[str]] = []
    for subjects in given:
        if isinstance(subjects, pl.Series):
            if pending:
                chunks.append(_lists(pending))
                pending = []
            chunks.append(subjects.cast(pl.String).implode())
        else:
            pending.append(subjects)
    if pending or not chunks:
        chunks.append(_lists(pending))
    return pl.concat(chunks, rechunk=False).alias("subjects")


def _lists(lists: list[Sequence[str]]) -> pl.Series:
    """Python lists of text as a List(String) Series, through one Arrow array of all the
    values and their offsets: Polars building it from the lists themselves held about
    5 kB a list (1.5 GB for the 300,000 one-subject rows of a swimmer plot)."""
    import numpy as np
    import pyarrow as pa

    offsets = np.zeros(len(lists) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(x) for x in lists])
    values = pa.array([s for x in lists for s in x], type=pa.large_string())
    arrow = pa.LargeListArray.from_arrays(pa.array(offsets), values)
    return pl.Series("subjects", arrow).cast(ARD_SCHEMA["subjects"])


def empty_ard() -> pl.DataFrame:
    return pl.DataFrame(schema=ARD_SCHEMA)

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
    """An ARD under construction: statistics appended in a fixed order."""

    rows: list[tuple[object, ...]] = field(default_factory=list)

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

    def extend(self, other: Rows) -> None:
        self.rows.extend(other.rows)

    def frame(self) -> pl.DataFrame:
        """The rows as an ARD; subjects given as Series are put in the list column by
        Polars, without passing through Python."""
        others = {k: v for k, v in ARD_SCHEMA.items() if k != "subjects"}
        frame = pl.DataFrame([r[:-1] for r in self.rows], schema=others, orient="row")
        return frame.with_columns(_subject_lists([r[-1] for r in self.rows]))  # type: ignore[misc]


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

"""Every table laid out from its ARD rows by its plan entry; nothing here computes.

One function per kind turns an output's rows into a :class:`DisplayTable`:

* summary (exposure, disposition): a continuous variable with one display row is
  one line (its label names the statistic, "median (range)"); with several, a
  group: the label, then n, Mean (SD), Median, Q1, Q3, Min, Max, Range nested under
  it; a categorical variable is its label then one nested line per level; a flag one
  line, nested under its ``group`` label when it has one; every statistic printed
  at its ARD ``fmt`` (an integer variable's median and range as integers);
* incidence: the any-record row, the categories, then the levels (nested under
  their outer level), by descending frequency in the sort column (the Total column
  of arm columns, else the first), ties in the plan's ``order`` (a published
  table's own order), then alphabetically; or alphabetically; ``threshold`` keeps
  the rows whose percent reaches it in some column;
* tte: per parameter, patients and events, each quantile with its CI, each
  landmark with its CI, the log-rank p-values and the Cox hazard ratios; with
  ``compact = true`` one line per parameter, its median (95% CI), as a paper prints it;
* listing, intervals, comparison: a row per record, term or comparison.

Every table kind takes ``stub`` (the heading of the label column: "Characteristic")
and ``marks`` (row label -> footnote mark, e.g. ``{ "Multiple myeloma" = "a" }``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from eap.plans.plan import Output, Plan
from eap.plans.study import Study
from eap.report.tables import (
    DASH,
    NE,
    SHOWN_MAX,
    Count,
    DisplayTable,
    SubjectList,
    interval,
    n_pct,
    number,
    p_value,
    table,
)

NBSP = "\u00a0"
CONTINUOUS_LABELS = {
    "n": "n",
    "mean_sd": "Mean (SD)",
    "median": "Median",
    "q1_q3": "Q1, Q3",
    "min_max": "Min, Max",
    "range": "Range",
    "median_range": "Median (range)",
    "mean_range": "Mean (range)",
}


@dataclass(frozen=True)
class DisplayColumn:
    population: str
    level: str | None
    header: str
    n: int


def _label(study: Study, output: Output, population: str, level: str | None) -> str:
    population_label = study.population(population).label
    if output.group is None:
        return population_label
    arm = study.arms.total_label if level is None else study.arms.label(level)
    return arm if len(output.populations) == 1 else f"{population_label}: {arm}"


def display_columns(output: Output, rows: pl.DataFrame, study: Study) -> list[DisplayColumn]:
    """The output's columns in ARD order (its BIGN rows), each with its header and N."""
    big_n = rows.filter(pl.col("variable") == "BIGN")
    out = []
    for population, level, n in big_n.select("population", "group1_level", "stat").iter_rows():
        label = _label(study, output, population, level)
        # A non-breaking space keeps "(N = 80)" on one line in every format.
        header = f"{label} (N{NBSP}={NBSP}{int(n or 0)})"
        out.append(DisplayColumn(population, level, header, int(n or 0)))
    return out


class Cells:
    """The ARD rows of one output, read by column."""

    def __init__(self, rows: pl.DataFrame) -> None:
        self.rows = rows
        self.index: dict[tuple[object, ...], tuple[float | None, str | None, SubjectList]] = {}
        self.fmts: dict[tuple[object, ...], str | None] = {}
        subjects = pl.col("subjects")
        # Only what the report shows of each row's subjects leaves Polars (eap.report.
        # tables.SubjectList): their first SHOWN_MAX, their number and, for a longer
        # list, hashes of the whole.
        kept = rows.select(
            pl.exclude("subjects"),
            subjects.list.head(SHOWN_MAX).alias("_SHOWN"),
            subjects.list.len().fill_null(0).alias("_TOTAL"),
            subjects.hash(0).alias("_H0"),
            subjects.hash(1).alias("_H1"),
        )
        for r in kept.iter_rows(named=True):
            key = (
                r["population"],
                r["group1_level"],
                r["group2_level"],
                r["variable"],
                r["variable_level"],
                r["stat_name"],
            )
            total = r["_TOTAL"]
            whole = total <= SHOWN_MAX
            ids = SubjectList(
                r["_SHOWN"] or [], total, None if whole else (total, r["_H0"], r["_H1"])
            )
            self.index.setdefault(key, (r["stat"], r["stat_text"], ids))
            self.fmts.setdefault(key, r["fmt"])

    def get(
        self,
        column: DisplayColumn,
        variable: str,
        stat: str,
        level: str | None = None,
        outer: str | None = None,
    ) -> float | None:
        hit = self.index.get((column.population, column.level, outer, variable, level, stat))
        return None if hit is None else hit[0]

    def text(self, column: DisplayColumn, variable: str, stat: str) -> str:
        """A statistic printed at its ARD ``fmt``."""
        key = (column.population, column.level, None, variable, None, stat)
        hit = self.index.get(key)
        return number(None if hit is None else hit[0], self.fmts.get(key) or "xx.x")

    def subjects(
        self,
        column: DisplayColumn,
        variable: str,
        level: str | None = None,
        outer: str | None = None,
    ) -> SubjectList:
        hit = self.index.get((column.population, column.level, outer, variable, level, "n"))
        return SubjectList(()) if hit is None else hit[2]

    def count(
        self,
        column: DisplayColumn,
        variable: str,
        level: str | None = None,
        outer: str | None = None,
        events: bool = False,
    ) -> Count:
        """``n (%)``, and ``[events]`` after it when asked."""
        n = self.get(column, variable, "n", level, outer)
        p = self.get(column, variable, "p", level, outer)
        text = n_pct(n, p, self.get(column, variable, "N", level, outer))
        if events:
            e = self.get(column, variable, "events", level, outer)
            text += f" [{number(e, 'xx')}]"
        return Count(text, self.subjects(column, variable, level, outer))


def stub(output: Output) -> str:
    """The heading of the label column (the plan's ``stub``, "" when not given)."""
    return output.fields.optional_text("stub") or ""


def marks(output: Output) -> dict[str, str]:
    """Row label -> footnote mark (the plan's ``marks``: a table of non-empty texts)."""
    given = output.fields.table("marks", {})
    return {label: given.text(label) for label in given.data}


def _by_column(
    output: Output,
    body: list[list[str]],
    cols: list[DisplayColumn],
    footnotes: Sequence[str],
    indent: list[int],
) -> DisplayTable:
    """A table with a label column, then one column per display column with its N."""
    headers = [stub(output), *(c.header for c in cols)]
    return table(
        output.id,
        output.title,
        body,
        headers,
        footnotes,
        subtitle=output.subtitle,
        indent=indent,
        marks=marks(output),
    )


def _continuous_cell(cells: Cells, col: DisplayColumn, name: str, row: str) -> str:
    """One display row of a continuous variable, each statistic at its ARD ``fmt``."""

    def v(stat: str) -> str:
        return cells.text(col, name, stat)

    if row == "n":
        return number(cells.get(col, name, "n"), "xx")
    if row == "mean_sd":
        return f"{v('mean')} ({v('sd')})"
    if row == "median":
        return v("median")
    if row == "q1_q3":
        return f"{v('p25')}, {v('p75')}"
    if row == "min_max":
        return f"{v('min')}, {v('max')}"
    if row == "range":
        return f"{v('min')}{DASH}{v('max')}"
    if row == "median_range":
        return f"{v('median')} ({v('min')}{DASH}{v('max')})"
    return f"{v('mean')} ({v('min')}{DASH}{v('max')})"  # mean_range


def summary_table(output: Output, rows: pl.DataFrame, study: Study) -> DisplayTable:
    from eap.ard.summary import NOT_IN_DATA, variables

    cols = display_columns(output, rows, study)
    cells = Cells(rows)
    body: list[list[str]] = []
    indent: list[int] = []

    def add(label: str, values: Sequence[str], level: int = 0) -> None:
        body.append([label, *values])
        indent.append(level)

    seen_levels = rows.filter(pl.col("context") == "tabulate")
    absent = set(rows.filter(pl.col("warning").str.starts_with(NOT_IN_DATA))["variable"].to_list())
    group: str | None = None
    for v in variables(output):
        # A group's label row comes once, before its first variable; its rows nest under it.
        if v.group is not None and v.group != group:
            add(v.group, ["" for _ in cols])
        group = v.group
        base = 0 if v.group is None else 1
        if v.name in absent:
            add(v.label, [NOT_IN_DATA for _ in cols], base)
            continue
        if v.type == "continuous":
            if len(v.display) == 1:
                add(
                    v.label,
                    [_continuous_cell(cells, c, v.name, v.display[0]) for c in cols],
                    base,
                )
                continue
            add(v.label, ["" for _ in cols], base)
            for row in v.display:
                values = [_continuous_cell(cells, c, v.name, row) for c in cols]
                add(CONTINUOUS_LABELS[row], values, base + 1)
        elif v.type == "flag":
            add(v.label, [cells.count(c, v.name) for c in cols], base)
        else:
            add(v.label, ["" for _ in cols], base)
            levels = (
                seen_levels.filter(pl.col("variable") == v.name)["variable_level"]
                .unique(maintain_order=True)
                .to_list()
            )
            for level in levels:
                label = v.level_labels.get(level, level)
                add(label, [cells.count(c, v.name, level) for c in cols], base + 1)
    return _by_column(output, body, cols, output.footnotes, indent)


def _sort_column(cols: list[DisplayColumn]) -> DisplayColumn:
    """The column that orders rows by frequency: the Total column of arm columns (the
    last, without an arm), else the first (the first population: safety before the
    treatment cohort)."""
    last = cols[-1]
    if last.level is None and any(c.level is not None for c in cols):
        return last
    return cols[0]


def incidence_table(
    output: Output, rows: pl.DataFrame, study: Study, threshold: float | None = None
) -> DisplayTable:
    f = output.fields
    cols = display_columns(output, rows, study)
    cells = Cells(rows)
    labels = {str(k): str(v) for k, v in f.data.get("labels", {}).items()}
    cut = float(f.data.get("threshold", 0.0)) if threshold is None else threshold
    alphabetical = f.data.get("sort", "frequency") == "alphabetical"
    key_col = _sort_column(cols)
    published = {term: i for i, term in enumerate(f.texts("order", ()))}
    events = bool(f.data.get("events", False))
    body: list[list[str]] = []
    indent: list[int] = []
    if f.data.get("overall", True):
        label = str(f.data.get("overall_label", "Subjects with ≥ 1 record"))
        body.append([label, *(cells.count(c, "ANY", events=events) for c in cols)])
        indent.append(0)
    categories = rows.filter(pl.col("variable") == "CATEGORY")["variable_level"]
    for name in categories.unique(maintain_order=True).to_list():
        body.append(
            [labels.get(name, name.capitalize()), *(cells.count(c, "CATEGORY", name) for c in cols)]
        )
        indent.append(0)
    levels = list(f.texts("levels", ()))

    def shown(variable: str, level: str, outer: str | None) -> bool:
        return (
            any(100.0 * (cells.get(c, variable, "p", level, outer) or 0.0) >= cut for c in cols)
            if cut > 0
            else True
        )

    def ordered(variable: str, outer: str | None, candidates: list[str]) -> list[str]:
        if alphabetical:
            return sorted(candidates)
        # Ties in the published order (a term it does not list after those it does),
        # then alphabetically.
        return sorted(
            candidates,
            key=lambda lv: (
                -(cells.get(key_col, variable, "n", lv, outer) or 0.0),
                published.get(lv, len(published)),
                lv,
            ),
        )

    hier = rows.filter(pl.col("context") == "hierarchical")
    if len(levels) == 1:
        variable = levels[0]
        values = hier.filter(pl.col("variable") == variable)["variable_level"].unique().to_list()
        for level in ordered(variable, None, [v for v in values if shown(variable, v, None)]):
            body.append(
                [labels.get(level, level), *(cells.count(c, variable, level) for c in cols)]
            )
            indent.append(1 if f.data.get("overall", True) else 0)
    elif len(levels) == 2:
        outer_var, inner_var = levels
        outers = hier.filter(pl.col("variable") == outer_var)["variable_level"].unique().to_list()
        inner_rows = hier.filter(pl.col("variable") == inner_var)
        for outer in ordered(outer_var, None, outers):
            inners = (
                inner_rows.filter(pl.col("group2_level") == outer)["variable_level"]
                .unique()
                .to_list()
            )
            kept = [v for v in inners if shown(inner_var, v, outer)]
            if not kept and not shown(outer_var, outer, None):
                continue
            body.append([outer, *(cells.count(c, outer_var, outer, events=events) for c in cols)])
            indent.append(0)
            for inner in ordered(inner_var, outer, kept):
                body.append(
                    [inner, *(cells.count(c, inner_var, inner, outer, events) for c in cols)]
                )
                indent.append(1)
    if not body:
        body.append(["No data", *("" for _ in cols)])
        indent.append(0)
    footnotes = list(output.footnotes)
    if events:
        footnotes.append("n (%) [E]: subjects (percent of the column N) [number of records].")
    if cut > 0 and threshold is not None:
        footnotes.append(f"Rows shown: at least {cut:g}% of the subjects of a column.")
    return _by_column(output, body, cols, footnotes, indent)


def tte_table(output: Output, rows: pl.DataFrame, study: Study) -> DisplayTable:
    f = output.fields
    cols = display_columns(output, rows, study)
    cells = Cells(rows)
    labels = {str(k): str(v) for k, v in f.data.get("labels", {}).items()}
    unit = str(f.data.get("time_label", ""))
    body: list[list[str]] = []
    indent: list[int] = []

    def add(label: str, values: Sequence[str], level: int = 1) -> None:
        body.append([label, *values])
        indent.append(level)

    if f.flag("compact", False):
        for param in f.texts("paramcd"):
            add(labels.get(param, param), [_median_cell(cells, c, param) for c in cols], 0)
        return _by_column(output, body, cols, output.footnotes, indent)
    for param in f.texts("paramcd"):
        add(labels.get(param, param), ["" for _ in cols], 0)
        events = []
        for c in cols:
            n = cells.get(c, "time_to_event", "n", outer=param)
            e = cells.get(c, "time_to_event", "events", outer=param)
            events.append(NE if n is None else f"{int(e or 0)}/{int(n)}")
        add("Events/patients", events)
        probs = rows.filter((pl.col("group2_level") == param) & (pl.col("variable") == "prob"))[
            "variable_level"
        ].unique(maintain_order=True)
        for prob in probs.to_list():
            name = {"0.5": "Median", "0.25": "First quartile", "0.75": "Third quartile"}.get(
                prob, f"Quantile {prob}"
            )
            values = []
            for c in cols:
                est, lo, hi = (
                    number(cells.get(c, "prob", s, prob, param), "xx.x")
                    for s in ("estimate", "conf.low", "conf.high")
                )
                values.append(interval(est, lo, hi))
            add(f"{name} (95% CI)", values)
        times = rows.filter((pl.col("group2_level") == param) & (pl.col("variable") == "time"))[
            "variable_level"
        ].unique(maintain_order=True)
        for t in times.to_list():
            values = []
            for c in cols:
                est, lo, hi = (
                    number(cells.get(c, "time", s, t, param), "xx.x%")
                    for s in ("estimate", "conf.low", "conf.high")
                )
                values.append(interval(est, lo, hi))
            add(f"Event-free at {t} {unit} (95% CI), %".replace("  ", " "), values)
        tests = rows.filter(pl.col("group2_level") == param)
        overall = tests.filter(pl.col("variable") == "logrank")
        if overall.height:
            p = overall.filter(pl.col("stat_name") == "p.value")["stat"][0]
            target = _sort_column(cols)
            add(
                "Log-rank test, all arms: p",
                [p_value(p) if c is target else "" for c in cols],
            )
        for variable in tests["variable"].unique(maintain_order=True).to_list():
            if variable.startswith("logrank_vs_"):
                reference = variable.removeprefix("logrank_vs_")
                values = [
                    ""
                    if c.level in (None, reference)
                    else p_value(cells.get(c, variable, "p.value", outer=param))
                    for c in cols
                ]
                add(f"Log-rank test vs {reference}: p", values)
            elif variable.startswith("cox_"):
                reference = _reference(tests, cols)
                values = []
                for c in cols:
                    if c.level in (None, reference):
                        values.append("")
                        continue
                    est, lo, hi = (
                        number(cells.get(c, variable, s, outer=param), "xx.xx")
                        for s in ("estimate", "conf.low", "conf.high")
                    )
                    values.append(interval(est, lo, hi))
                ties = variable.removeprefix("cox_").capitalize()
                add(f"Hazard ratio vs {reference} (95% CI), Cox, {ties} ties", values)
    return _by_column(output, body, cols, output.footnotes, indent)


def _median_cell(cells: Cells, column: DisplayColumn, param: str) -> str:
    """``median (low–high)`` of one parameter in one column."""
    est, lo, hi = (
        number(cells.get(column, "prob", s, "0.5", param), "xx.x")
        for s in ("estimate", "conf.low", "conf.high")
    )
    return interval(est, lo, hi)


def _reference(rows: pl.DataFrame, cols: list[DisplayColumn]) -> str | None:
    """The arm the hazard ratios compare with: the arm column without a Cox row."""
    with_rows = set(rows.filter(pl.col("context") == "coxph")["group1_level"].to_list())
    for c in cols:
        if c.level is not None and c.level not in with_rows:
            return c.level
    return None


def listing_table(output: Output, rows: pl.DataFrame) -> DisplayTable:
    f = output.fields
    shown = list(f.texts("columns"))
    labels = {str(k): str(v) for k, v in f.data.get("labels", {}).items()}
    body: list[list[str]] = []
    keys = rows["group2_level"].unique(maintain_order=True).to_list()
    by_key = {k[0]: g for k, g in rows.group_by("group2_level", maintain_order=True)}
    for key in keys:
        record = by_key[key]
        values: dict[str, str] = {}
        usubjid = ""
        for variable, stat, text, subjects in record.select(
            "variable", "stat", "stat_text", "subjects"
        ).iter_rows():
            values[variable] = text if text is not None else ("" if stat is None else f"{stat:g}")
            usubjid = subjects[0] if subjects else usubjid
        line: list[str] = []
        for variable in shown:
            text = values.get(variable, "")
            line.append(Count(text, [usubjid]) if variable == "USUBJID" else text)
        body.append(line)
    if not body:
        body.append([str(f.data.get("empty", "No records")), *("" for _ in shown[1:])])
    return table(
        output.id,
        output.title,
        body,
        [labels.get(c, c) for c in shown],
        output.footnotes,
        subtitle=output.subtitle,
        records=True,
    )


def intervals_table(output: Output, rows: pl.DataFrame) -> DisplayTable:
    f = output.fields
    population = output.populations[0]
    mine = rows.filter((pl.col("population") == population) & pl.col("group1_level").is_null())
    labels = {str(k): str(v) for k, v in f.data.get("term_labels", {}).items()}
    unit = str(f.data.get("interval_unit", ""))
    onset = mine.filter(pl.col("variable") == "ONSET")
    spans = onset["variable_level"].unique(maintain_order=True).to_list()
    index = {
        (r["group2_level"], r["variable"], r["variable_level"], r["stat_name"]): r["stat"]
        for r in mine.iter_rows(named=True)
    }
    headers = [stub(output)]
    for span in spans:
        start, end = span.split("-", 1)
        headers.append(f"{start}{DASH}{end} {unit}".strip() if end else f"≥ {start} {unit}".strip())
    rate_per = f.data.get("rate_per", 100)
    headers.append(f"Per {rate_per:g} PY (95% CI)")
    body = []
    for term in f.texts("terms", ("ANY",)):
        line = [labels.get(term, term)]
        for span in spans:
            n = index.get((term, "ONSET", span, "n"))
            at_risk = index.get((term, "ONSET", span, "n.risk"))
            p = index.get((term, "ONSET", span, "p"))
            line.append(f"{int(n or 0)}/{int(at_risk or 0)} ({number(p, 'xx.x%')})")
        line.append(
            interval(
                number(index.get((term, "EAIR", None, "estimate")), "xx.x"),
                number(index.get((term, "EAIR", None, "conf.low")), "xx.x"),
                number(index.get((term, "EAIR", None, "conf.high")), "xx.x"),
            )
        )
        body.append(line)
    return table(
        output.id,
        output.title,
        body,
        headers,
        output.footnotes,
        subtitle=output.subtitle,
        marks=marks(output),
    )


def comparison_table(output: Output, rows: pl.DataFrame, study: Study) -> DisplayTable:
    external = list(output.fields.texts("columns"))
    body = []
    for variable in rows["variable"].unique(maintain_order=True).to_list():
        mine = rows.filter(pl.col("variable") == variable)
        label = mine["variable_level"][0]
        given = {
            r["group1_level"]: r["stat_text"]
            for r in mine.filter(pl.col("context") == "external").iter_rows(named=True)
        }
        ours = mine.filter(pl.col("context") == "reference")["stat"]
        body.append([label, *(given.get(c, "-") for c in external), number(ours[0], "xx.x")])
    return table(
        output.id,
        output.title,
        body,
        ["Measure", *external, f"{study.id} (eap)"],
        output.footnotes,
        subtitle=output.subtitle,
    )


def layout(
    output: Output, ard: pl.DataFrame, study: Study, threshold: float | None = None
) -> DisplayTable:
    """The display table of one output from its ARD rows."""
    rows = ard.filter(pl.col("output") == output.id)
    kind = output.kind
    if kind in ("summary", "exposure", "disposition"):
        return summary_table(output, rows, study)
    if kind == "incidence":
        return incidence_table(output, rows, study, threshold)
    if kind == "tte":
        return tte_table(output, rows, study)
    if kind == "listing":
        return listing_table(output, rows)
    if kind == "intervals":
        return intervals_table(output, rows)
    if kind == "comparison":
        return comparison_table(output, rows, study)
    raise ValueError(f"{output.id}: kind {kind} is a figure, not a table")


def report_tables(
    plan: Plan,
    ard: pl.DataFrame,
    thresholds: dict[str, float] | None = None,
    skipped: Sequence[str] = (),
) -> list[DisplayTable]:
    """Every table output of the plan that was produced, in plan order."""
    given = thresholds or {}
    return [
        layout(o, ard, plan.study, given.get(o.id))
        for o in plan.outputs
        if not o.is_figure and o.id not in skipped
    ]

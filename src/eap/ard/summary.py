"""Kind ``summary`` (and ``exposure``, ``disposition``): subject-level summaries per column.

Each entry of ``variables`` is one of:

* ``type = "continuous"``: n, mean, sd (denominator n - 1), median, p25, p75 (R's
  ``quantile(type = 7)``, linear interpolation, NumPy's default), min, max of the
  non-missing values (cards' ``ard_summary`` names); for the display, ``digits``
  (mean, median, quartiles; the SD one more) and ``raw_digits`` (min and max, the
  data's own precision; default ``digits``);
* ``type = "categorical"``: per level n, N, p (cards' ``ard_tabulate``): levels in the
  order of ``levels`` when given (zero rows kept), else every value of the
  population in sorted order; N is the column's non-missing count
  (``denominator = "nonmissing"``, cards' default) or its subjects
  (``denominator = "population"``); ``where`` restricts the subjects counted;
* ``type = "flag"``: subjects where ``where`` holds: n, N (the column's subjects), p.

The data are ADSL (the default; ``disposition``), or a BDS dataset such as ADEX
(``exposure``'s default) whose parameters become variables: ``PARAMCD`` holds AVAL
and ``PARAMCD_C`` AVALC. ``merge = "ADEX"`` adds a BDS dataset's parameters to ADSL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from eap.ard.cards import Rows
from eap.ard.columns import Column, dataset, where
from eap.datasets.model import Dataset
from eap.errors import PlanError
from eap.plans.plan import Output
from eap.stats.frame import filter_variables

CONTINUOUS_STATS = ("n", "mean", "sd", "median", "p25", "p75", "min", "max")
DISPLAY_ROWS = ("n", "mean_sd", "median", "q1_q3", "min_max", "median_range", "mean_range")
DEFAULT_DATASET = {"summary": "ADSL", "disposition": "ADSL", "exposure": "ADEX"}
NOT_IN_DATA = "not in the data"


@dataclass(frozen=True)
class Variable:
    name: str
    label: str
    type: str
    digits: int
    raw_digits: int
    display: tuple[str, ...]
    levels: tuple[str, ...] | None
    level_labels: Mapping[str, str]
    denominator: str
    where: str | None
    prefix: str


def variables(output: Output) -> list[Variable]:
    """The output's ``variables``, checked."""
    out: list[Variable] = []
    for f in output.fields.tables("variables"):
        f.unknown(
            (
                "name",
                "label",
                "type",
                "digits",
                "raw_digits",
                "display",
                "levels",
                "labels",
                "denominator",
                "where",
            )
        )
        kind = f.choice("type", ("continuous", "categorical", "flag"), "continuous")
        display = f.choices("display", DISPLAY_ROWS, ("n", "mean_sd", "median", "min_max"))
        denominator = f.choice("denominator", ("nonmissing", "population"), "nonmissing")
        if kind == "flag" and "where" not in f.data:
            raise PlanError(
                "a flag needs a where filter", file=f.file, variable=f"{f.prefix}.where"
            )
        labels = f.table("labels", {})
        out.append(
            Variable(
                name=f.text("name"),
                label=f.text("label", f.text("name")),
                type=kind,
                digits=f.integer("digits", 1) or 0,
                raw_digits=f.integer("raw_digits", f.integer("digits", 1)) or 0,
                display=display,
                levels=f.texts("levels") if "levels" in f.data else None,
                level_labels={k: str(v) for k, v in labels.data.items()},
                denominator=denominator,
                where=f.optional_text("where"),
                prefix=f.prefix,
            )
        )
    if not out:
        raise PlanError(
            "a summary needs variables", file=output.fields.file, variable=output.fields.prefix
        )
    return out


def bds_wide(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per subject: AVAL of each PARAMCD as a column, AVALC as ``PARAMCD_C``."""
    wide = frame.pivot(on="PARAMCD", index="USUBJID", values="AVAL", aggregate_function="first")
    if "AVALC" in frame.columns:
        texts = frame.filter(pl.col("AVALC").is_not_null())
        if texts.height:
            text = texts.pivot(
                on="PARAMCD", index="USUBJID", values="AVALC", aggregate_function="first"
            )
            text = text.rename({c: f"{c}_C" for c in text.columns if c != "USUBJID"})
            wide = wide.join(text, on="USUBJID", how="full", coalesce=True)
    return wide


def subject_data(output: Output, adam: Mapping[str, Dataset]) -> pl.DataFrame:
    """The subject-level frame the output summarises (ADSL, or a BDS dataset made wide)."""
    name = output.dataset or DEFAULT_DATASET[output.kind]
    frame = dataset(adam, name, output)
    if name != "ADSL":
        if not {"USUBJID", "PARAMCD", "AVAL"} <= set(frame.columns):
            raise PlanError(
                f"{name} is neither ADSL nor a BDS dataset (USUBJID, PARAMCD, AVAL)",
                file=output.fields.file,
                variable=f"{output.fields.prefix}.dataset",
                found=name,
            )
        frame = bds_wide(frame)
    merge = output.fields.optional_text("merge")
    if merge is not None:
        frame = frame.join(bds_wide(dataset(adam, merge, output)), on="USUBJID", how="left")
    return frame


def _continuous(rows: Rows, column: Column, output: Output, v: Variable, values: pl.Series) -> None:
    x = values.drop_nulls().cast(pl.Float64).to_numpy()
    x = x[~np.isnan(x)]
    cell = column.cell(output.id, variable=v.name, context="summary")
    fmt = "xx" if v.digits == 0 else "xx." + "x" * v.digits
    rows.add(cell, "n", x.size, fmt="xx")
    if x.size == 0:
        for stat in CONTINUOUS_STATS[1:]:
            rows.add(cell, stat, None, fmt=fmt, warning="no non-missing values")
        return
    sd = float(np.std(x, ddof=1)) if x.size > 1 else None
    p25, median, p75 = np.quantile(x, [0.25, 0.5, 0.75])  # R type 7
    rows.add(cell, "mean", float(x.mean()), fmt=fmt)
    rows.add(cell, "sd", sd, fmt=fmt, warning=None if sd is not None else "n < 2: no SD")
    rows.add(cell, "median", float(median), fmt=fmt)
    rows.add(cell, "p25", float(p25), fmt=fmt)
    rows.add(cell, "p75", float(p75), fmt=fmt)
    rows.add(cell, "min", float(x.min()), fmt=fmt)
    rows.add(cell, "max", float(x.max()), fmt=fmt)


def _levels(v: Variable, population: pl.DataFrame) -> list[str]:
    """The plan's levels in its order (zero rows kept), then any other value seen, sorted:
    a value outside the plan's list is shown, never dropped."""
    seen = sorted(str(x) for x in population[v.name].drop_nulls().unique().to_list())
    given = list(v.levels or ())
    return given + [x for x in seen if x not in given]


def _categorical(
    rows: Rows, column: Column, output: Output, v: Variable, data: pl.DataFrame, levels: list[str]
) -> None:
    subset = where(data, v.where, file=output.fields.file, field=f"{v.prefix}.where")
    present = subset.filter(pl.col(v.name).is_not_null())
    n_total = column.n if v.denominator == "population" else present.height
    text = present.with_columns(pl.col(v.name).cast(pl.String).alias("_LEVEL"))
    by_level = dict(text.group_by("_LEVEL").agg(pl.col("USUBJID").unique().sort()).iter_rows())
    for level in levels:
        cell = column.cell(output.id, variable=v.name, variable_level=level, context="tabulate")
        rows.count(cell, by_level.get(level, []), n_total)


def _flag(rows: Rows, column: Column, output: Output, v: Variable, data: pl.DataFrame) -> None:
    chosen = where(data, v.where, file=output.fields.file, field=f"{v.prefix}.where")
    cell = column.cell(output.id, variable=v.name, context="tabulate")
    rows.count(cell, chosen["USUBJID"].to_list(), column.n)


def summarise(output: Output, columns: list[Column], adam: Mapping[str, Dataset]) -> Rows:
    """ARD rows of a summary output: every variable in every column."""
    specs = variables(output)
    data = subject_data(output, adam)
    rows = Rows()
    for column in columns:
        rows.add(
            column.cell(output.id, variable="BIGN", context="total_n"), "N", column.n, fmt="xx"
        )
    all_subjects = pl.concat([c.adsl.select("USUBJID") for c in columns]).unique()
    population = data.join(all_subjects, on="USUBJID", how="semi")
    for v in specs:
        named = [v.name] if v.type != "flag" else []
        named += filter_variables(v.where) if v.where else []
        if any(name not in data.columns for name in named):
            # Shown as absent (and listed by the report and run log), never left out quietly.
            for column in columns:
                cell = column.cell(output.id, variable=v.name, context="summary")
                absent = ", ".join(n for n in named if n not in data.columns)
                rows.add(cell, "n", None, fmt="xx", warning=f"{NOT_IN_DATA}: no {absent}")
            continue
        levels = _levels(v, population) if v.type == "categorical" else []
        for column in columns:
            mine = column.adsl.select("USUBJID").join(data, on="USUBJID", how="left")
            if v.type == "continuous":
                _continuous(rows, column, output, v, mine[v.name])
            elif v.type == "categorical":
                _categorical(rows, column, output, v, mine, levels)
            else:
                _flag(rows, column, output, v, mine)
    return rows

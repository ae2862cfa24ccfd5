"""Kind ``summary`` (and ``exposure``, ``disposition``): subject-level summaries per column.

Each entry of ``variables`` is one of:

* ``type = "continuous"``: n, mean, sd (denominator n - 1), median, p25, p75 (R's
  ``quantile(type = 7)``, linear interpolation, NumPy's default), min, max of the
  non-missing values (cards' ``ard_summary`` names); for the display, ``digits``
  (mean, median, quartiles; the SD one more) and ``raw_digits`` (min and max, the
  data's own precision; default ``digits``). Without ``digits``, an integer
  variable (every value a whole number: age, number of prior therapies) prints its
  median, quartiles, minimum and maximum as integers (a median halfway between two
  values keeps its .5), its mean at one decimal and its SD at two; any other
  variable prints at one decimal (the SD two). Each statistic's ``fmt`` says so;
* ``type = "categorical"``: per level n, N, p (cards' ``ard_tabulate``): levels in the
  order of ``levels`` when given (zero rows kept), else every value of the
  population in sorted order; N is the column's non-missing count
  (``denominator = "nonmissing"``, cards' default) or its subjects
  (``denominator = "population"``); ``where`` restricts the subjects counted;
* ``type = "flag"``: subjects where ``where`` holds: n, N (the column's subjects), p.

``group`` (a text) nests consecutive variables under one label row in the table
(Table 1's "Prior usage of bortezomib and thalidomide, n (%)"); it changes no number.

The data are ADSL (the default; ``disposition``), or a BDS dataset such as ADEX
(``exposure``'s default) whose parameters become variables: ``PARAMCD`` holds AVAL
and ``PARAMCD_C`` AVALC. ``merge = "ADEX"`` adds a BDS dataset's parameters to ADSL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import narwhals as nw
import numpy as np
import polars as pl

from eap.ard.cards import Rows
from eap.ard.columns import Column, dataset_columns, where
from eap.ard.source import records, tables_for
from eap.datasets.model import Dataset
from eap.engine.frames import Tables
from eap.errors import PlanError
from eap.plans.plan import Output
from eap.plans.study import Fields
from eap.stats.frame import filter_variables

CONTINUOUS_STATS = ("n", "mean", "sd", "median", "p25", "p75", "min", "max")
DISPLAY_ROWS = (
    "n",
    "mean_sd",
    "median",
    "q1_q3",
    "min_max",
    "range",
    "median_range",
    "mean_range",
)
DEFAULT_DATASET = {"summary": "ADSL", "disposition": "ADSL", "exposure": "ADEX"}
NOT_IN_DATA = "not in the data"


@dataclass(frozen=True)
class Variable:
    name: str
    label: str
    type: str
    digits: int | None  # None: from the data (integer variables print as integers)
    raw_digits: int | None
    display: tuple[str, ...]
    levels: tuple[str, ...] | None
    level_labels: Mapping[str, str]
    denominator: str
    where: str | None
    prefix: str
    group: str | None = None


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
                "group",
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
                digits=f.integer("digits", 0) if "digits" in f.data else None,
                raw_digits=_raw_digits(f),
                display=display,
                levels=f.texts("levels") if "levels" in f.data else None,
                level_labels={k: str(v) for k, v in labels.data.items()},
                denominator=denominator,
                where=f.optional_text("where"),
                prefix=f.prefix,
                group=f.optional_text("group"),
            )
        )
    if not out:
        raise PlanError(
            "a summary needs variables", file=output.fields.file, variable=output.fields.prefix
        )
    return out


def _raw_digits(f: Fields) -> int | None:
    """``raw_digits``, else ``digits``, else None (from the data)."""
    for key in ("raw_digits", "digits"):
        if key in f.data:
            return f.integer(key, 0)
    return None


def is_integer_variable(x: np.ndarray) -> bool:
    """Every value a whole number (AGE, NPRIOR), whatever the storage type (XPT: float)."""
    return bool(x.size) and bool(np.all(np.floor(x) == x))


def _fmt(digits: int) -> str:
    return "xx" if digits <= 0 else "xx." + "x" * digits


def _statistic_fmts(v: Variable, x: np.ndarray, median: float) -> dict[str, str]:
    """The printed precision of each statistic: the plan's ``digits``, else the data's.

    An integer variable's order statistics are whole numbers, printed as such; a median
    or quartile that falls between two values (even n) keeps the one decimal it needs.
    """
    if v.digits is not None:
        central = _fmt(v.digits)
        raw = _fmt(v.raw_digits if v.raw_digits is not None else v.digits)
        return {"mean": central, "sd": _fmt(v.digits + 1), "median": central} | {
            "p25": central,
            "p75": central,
            "min": raw,
            "max": raw,
        }
    if not is_integer_variable(x):
        raw = _fmt(v.raw_digits if v.raw_digits is not None else 1)
        return {"mean": "xx.x", "sd": "xx.xx", "median": "xx.x", "p25": "xx.x", "p75": "xx.x"} | {
            "min": raw,
            "max": raw,
        }

    def order(value: float) -> str:
        return "xx" if float(value).is_integer() else "xx.x"

    p25, p75 = np.quantile(x, [0.25, 0.75])
    return {
        "mean": "xx.x",
        "sd": "xx.xx",
        "median": order(median),
        "p25": order(p25),
        "p75": order(p75),
        "min": "xx",
        "max": "xx",
    }


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


def _used(specs: list[Variable]) -> set[str]:
    """The variables a summary's rows read: each variable and those its filter names."""
    named = {"USUBJID"}
    for v in specs:
        named |= {v.name, *(filter_variables(v.where) if v.where else [])}
    return named


def _bds_records(
    tables: Tables, adam: Mapping[str, Dataset], name: str, output: Output, wanted: set[str]
) -> pl.DataFrame:
    """A BDS dataset's records of the parameters among ``wanted`` (``PARAMCD`` or
    ``PARAMCD_C``), in the file's order, read on the engine."""
    names = dataset_columns(adam, name, output)
    if not {"USUBJID", "PARAMCD", "AVAL"} <= set(names):
        raise PlanError(
            f"{name} is neither ADSL nor a BDS dataset (USUBJID, PARAMCD, AVAL)",
            file=output.fields.file,
            variable=f"{output.fields.prefix}.dataset",
            found=name,
        )
    params = sorted({*wanted, *(w[:-2] for w in wanted if w.endswith("_C"))})
    return records(
        tables,
        name,
        {"USUBJID", "PARAMCD", "AVAL", "AVALC"},
        also=nw.col("PARAMCD").is_in(params),
    )


def subject_data(
    output: Output, adam: Mapping[str, Dataset], tables: Tables | None = None
) -> pl.DataFrame:
    """The subject-level frame the output summarises (ADSL, or a BDS dataset made wide):
    only the variables (parameters) its rows read, read on the engine of ``tables``."""
    name = output.dataset or DEFAULT_DATASET[output.kind]
    engine = tables_for(adam, tables)
    wanted = _used(variables(output))
    if name == "ADSL":
        dataset_columns(adam, name, output)  # present, or the output's error
        frame = records(engine, name, wanted)
    else:
        frame = bds_wide(_bds_records(engine, adam, name, output, wanted))
    merge = output.fields.optional_text("merge")
    if merge is not None:
        merged = bds_wide(_bds_records(engine, adam, merge, output, wanted))
        frame = frame.join(merged, on="USUBJID", how="left")
    return frame


def _continuous(rows: Rows, column: Column, output: Output, v: Variable, values: pl.Series) -> None:
    x = values.drop_nulls().cast(pl.Float64).to_numpy()
    x = x[~np.isnan(x)]
    cell = column.cell(output.id, variable=v.name, context="summary")
    rows.add(cell, "n", x.size, fmt="xx")
    if x.size == 0:
        for stat in CONTINUOUS_STATS[1:]:
            rows.add(
                cell,
                stat,
                None,
                fmt=_fmt(v.digits if v.digits is not None else 1),
                warning="no non-missing values",
            )
        return
    sd = float(np.std(x, ddof=1)) if x.size > 1 else None
    p25, median, p75 = np.quantile(x, [0.25, 0.5, 0.75])  # R type 7
    fmt = _statistic_fmts(v, x, float(median))
    rows.add(cell, "mean", float(x.mean()), fmt=fmt["mean"])
    rows.add(cell, "sd", sd, fmt=fmt["sd"], warning=None if sd is not None else "n < 2: no SD")
    rows.add(cell, "median", float(median), fmt=fmt["median"])
    rows.add(cell, "p25", float(p25), fmt=fmt["p25"])
    rows.add(cell, "p75", float(p75), fmt=fmt["p75"])
    rows.add(cell, "min", float(x.min()), fmt=fmt["min"])
    rows.add(cell, "max", float(x.max()), fmt=fmt["max"])


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
    grouped = text.group_by("_LEVEL").agg(pl.col("USUBJID"))
    by_level = dict(zip(grouped["_LEVEL"], grouped["USUBJID"], strict=True))  # Series each
    for level in levels:
        cell = column.cell(output.id, variable=v.name, variable_level=level, context="tabulate")
        rows.count(cell, by_level.get(level, []), n_total)


def _flag(rows: Rows, column: Column, output: Output, v: Variable, data: pl.DataFrame) -> None:
    chosen = where(data, v.where, file=output.fields.file, field=f"{v.prefix}.where")
    cell = column.cell(output.id, variable=v.name, context="tabulate")
    rows.count(cell, chosen["USUBJID"], column.n)


def summarise(
    output: Output,
    columns: list[Column],
    adam: Mapping[str, Dataset],
    tables: Tables | None = None,
) -> Rows:
    """ARD rows of a summary output: every variable in every column (its data read on
    the engine of ``tables``; by default Polars)."""
    specs = variables(output)
    data = subject_data(output, adam, tables)
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
        # The variable's own columns only: a join of all of ADSL's, variable after
        # variable, copied a million subjects' 42 variables each time.
        used = data.select("USUBJID", *dict.fromkeys(n for n in named if n != "USUBJID"))
        for column in columns:
            mine = column.adsl.select("USUBJID").join(used, on="USUBJID", how="left")
            if v.type == "continuous":
                _continuous(rows, column, output, v, mine[v.name])
            elif v.type == "categorical":
                _categorical(rows, column, output, v, mine, levels)
            else:
                _flag(rows, column, output, v, mine)
    return rows

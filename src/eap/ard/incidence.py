"""Kind ``incidence``: subjects with at least one record, overall and by one or two levels.

Fields: ``dataset`` (default ADAE), ``where`` (which records count, e.g.
``TRTEMFL == 'Y' and AESER == 'Y'``), ``levels`` (``["AEBODSYS", "AEDECOD"]``: the
outer level's rows, then the inner level's within each outer value, as cards'
``ard_stack_hierarchical``; one level gives a flat table; none only the overall
row), ``overall`` (the any-record row, default true; ``overall_label``), ``events``
(also count records), ``categories`` (subject categories by the records they have:
``{ name = "INTERRUPTION ONLY", any = ["ACTLEN == 'INTERRUPTED'"], none =
["ACTLEN == 'REDUCED'"] }``). Display only: ``sort`` (``frequency``: descending n
in the Total column, or the first column without one, ties alphabetical;
``alphabetical``) and ``threshold`` (a row is shown when its percent reaches it in
any column).

A subject counts once per row; N is the column's subjects (ADSL), so p = n / N.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from eap.ard.cards import Rows
from eap.ard.columns import Column, dataset_columns
from eap.ard.source import per_subject_levels, tables_for
from eap.datasets.model import Dataset
from eap.engine.frames import Tables
from eap.errors import PlanError
from eap.plans.plan import Output

FIELDS = (
    "where",
    "levels",
    "overall",
    "overall_label",
    "events",
    "categories",
    "sort",
    "threshold",
    "labels",
    "figure",
    "order",  # the published order of terms, breaking ties in frequency (the table)
)


def _category_flag(i: int, key: str, j: int) -> str:
    return f"_CAT{i}_{key}{j}"


def _records(
    output: Output, adam: Mapping[str, Dataset], tables: Tables, levels: list[str]
) -> pl.DataFrame:
    """The records that count, reduced on the engine to one row per subject and level
    combination: the number of records (``_EVENTS``) and, for each category filter,
    whether any of them meets it."""
    f = output.fields
    name = output.dataset or "ADAE"
    names = dataset_columns(adam, name, output)
    for level in levels:
        if level not in names:
            raise PlanError(
                f"level {level} is not in the data",
                file=f.file,
                variable=f"{f.prefix}.levels",
                expected="one of " + ", ".join(names),
                found=level,
            )
    flags = {
        _category_flag(i, key, j): (category, f"{entry.prefix}.{key}[{j}]")
        for i, entry in enumerate(f.tables("categories"))
        for key in ("any", "none")
        for j, category in enumerate(entry.texts(key, ()))
    }
    return per_subject_levels(
        tables,
        name,
        levels,
        where=f.optional_text("where"),
        flags=flags,
        count="_EVENTS",
        file=f.file,
        field=f"{f.prefix}.where",
    )


def _tally(
    rows: Rows,
    column: Column,
    output: Output,
    records: pl.DataFrame,
    keys: list[str],
    values: pl.DataFrame,
    events: bool,
) -> None:
    """Rows for every combination in ``values`` (the last key is the variable, the one
    before it the outer level); a combination this column lacks gets n = 0."""
    variable = keys[-1]
    grouped = (
        records.filter(pl.all_horizontal(pl.col(k).is_not_null() for k in keys))
        .group_by(keys)
        .agg(
            pl.col("USUBJID").unique().sort().alias("IDS"), pl.col("_EVENTS").sum().alias("EVENTS")
        )
    )
    table = values.join(grouped, on=keys, how="left").sort(keys)
    # Each row's subjects as a Series (a list column iterates so), not Python strings.
    for record, ids in zip(table.drop("IDS").iter_rows(named=True), table["IDS"], strict=True):
        outer = {"group2": keys[0], "group2_level": str(record[keys[0]])} if len(keys) == 2 else {}
        cell = column.cell(
            output.id,
            variable=variable,
            variable_level=str(record[variable]),
            context="hierarchical",
            **outer,
        )
        rows.count(cell, [] if ids is None else ids, column.n)
        if events:
            rows.add(cell, "events", record["EVENTS"] or 0, fmt="xx")


def _all_values(records: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Every combination seen in any column, so every column has every row (zeros kept)."""
    return records.select(keys).drop_nulls().unique().sort(keys)


def _categories(rows: Rows, column: Column, output: Output, records: pl.DataFrame) -> None:
    f = output.fields
    for i, entry in enumerate(f.tables("categories")):
        entry.unknown(("name", "any", "none"))
        name = entry.text("name")
        ids = column.ids
        for j, _ in enumerate(entry.texts("any", ())):
            hit = records.filter(pl.col(_category_flag(i, "any", j)) == 1)
            ids = ids.filter(ids.is_in(hit["USUBJID"].implode()))
        for j, _ in enumerate(entry.texts("none", ())):
            hit = records.filter(pl.col(_category_flag(i, "none", j)) == 1)
            ids = ids.filter(~ids.is_in(hit["USUBJID"].implode()))
        if not entry.texts("any", ()):
            raise PlanError(
                "a category needs at least one 'any' filter",
                file=f.file,
                variable=f"{f.prefix}.categories[{i}].any",
            )
        cell = column.cell(output.id, variable="CATEGORY", variable_level=name, context="tabulate")
        rows.count(cell, ids, column.n)


def incidence(
    output: Output,
    columns: list[Column],
    adam: Mapping[str, Dataset],
    tables: Tables | None = None,
) -> Rows:
    """ARD rows of an incidence output (its records reduced on the engine of
    ``tables``; by default Polars)."""
    f = output.fields
    levels = list(f.texts("levels", ()))
    if len(levels) > 2:
        raise PlanError(
            "at most two levels", file=f.file, variable=f"{f.prefix}.levels", found=str(levels)
        )
    records = _records(output, adam, tables_for(adam, tables), levels)
    events = f.flag("events", False)
    rows = Rows()
    for column in columns:
        rows.add(
            column.cell(output.id, variable="BIGN", context="total_n"), "N", column.n, fmt="xx"
        )
    all_ids = pl.concat([c.adsl.select("USUBJID") for c in columns]).unique()
    records = records.join(all_ids, on="USUBJID", how="semi")
    key_sets = [levels[:1], levels] if len(levels) == 2 else [levels] if levels else []
    seen = [_all_values(records, keys) for keys in key_sets]
    for column in columns:
        mine = column.records(records)
        if f.flag("overall", True):
            cell = column.cell(output.id, variable="ANY", context="hierarchical")
            rows.count(cell, mine["USUBJID"], column.n)
            if events:
                rows.add(cell, "events", int(mine["_EVENTS"].sum()), fmt="xx")
        _categories(rows, column, output, mine)
        for keys, values in zip(key_sets, seen, strict=True):
            _tally(rows, column, output, mine, keys, values, events)
    return rows

"""Kind ``listing``: records of a dataset, one ARD row per listed cell.

Fields: ``dataset``, ``where``, ``columns`` (variables in display order; a variable
not in the dataset is taken from ADSL by USUBJID), ``labels`` (column headings),
``key`` (the variables that name a record, default USUBJID and the dataset's --SEQ),
``sort`` (default: the key). Each cell is a row with ``group2 = "record"``,
``group2_level`` the record's key (``01-701-1015/3``), ``variable`` the column and
``stat_name = "value"``: numbers in ``stat``, text (and dates) in ``stat_text``; its
``subjects`` name the record's subject.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from eap.ard.cards import Rows
from eap.ard.columns import Column, dataset_columns
from eap.ard.source import records, tables_for
from eap.datasets.model import Dataset
from eap.engine.frames import Tables
from eap.errors import PlanError
from eap.plans.plan import Output

FIELDS = ("where", "columns", "labels", "key", "sort", "empty")


def _key(names: list[str]) -> list[str]:
    seq = [c for c in names if c.endswith("SEQ") and len(c) in (5, 4)]
    return ["USUBJID", *seq[:1]]


def listing(
    output: Output,
    columns: list[Column],
    adam: Mapping[str, Dataset],
    adsl: pl.DataFrame,
    tables: Tables | None = None,
) -> Rows:
    """ARD rows of a listing: every listed cell of every record, column by column (the
    records filtered on the engine of ``tables``; by default Polars)."""
    f = output.fields
    name = output.dataset or "ADAE"
    names = dataset_columns(adam, name, output)
    shown = list(f.texts("columns"))
    text = f.optional_text("where")
    key = list(f.texts("key", tuple(_key(names))))
    order = list(f.texts("sort", tuple(key)))
    # Only the variables the listing shows, names or sorts by are read (its filter is
    # applied as the records are read).
    wanted = {"USUBJID", *shown, *key, *order}
    field = f"{f.prefix}.where"
    frame = records(tables_for(adam, tables), name, wanted, where=text, file=f.file, field=field)
    from_adsl = [c for c in shown if c not in frame.columns]
    missing = [c for c in from_adsl if c not in adsl.columns]
    if missing:
        raise PlanError(
            f"listing columns not in {name} or ADSL",
            file=f.file,
            variable=f"{f.prefix}.columns",
            found=", ".join(missing),
        )
    if from_adsl:
        frame = frame.join(adsl.select("USUBJID", *from_adsl), on="USUBJID", how="left")
    frame = frame.sort(order, maintain_order=True)
    rows = Rows()
    for column in columns:
        for record in column.records(frame).iter_rows(named=True):
            record_key = "/".join(str(record[k]) for k in key)
            who = [record["USUBJID"]]
            for variable in shown:
                cell = column.cell(
                    output.id,
                    group2="record",
                    group2_level=record_key,
                    variable=variable,
                    context="listing",
                )
                value = record[variable]
                if isinstance(value, int | float) and not isinstance(value, bool):
                    rows.add(cell, "value", float(value), fmt="xx", subjects=who)
                else:
                    text = "" if value is None else str(value)
                    rows.add(cell, "value", None, text=text, subjects=who)
    return rows

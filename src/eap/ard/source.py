"""What the analyses read from the analysis datasets, on the engine that holds them.

An analysis reads a dataset's records through here, as Narwhals lazy frames
(:mod:`eap.engine.frames`): projected to the variables it uses and filtered by the
plan's ``where`` on the engine (Polars on this machine; Spark for pooled data), and,
where a subject has many records, reduced there to what its statistics need:

* :func:`records`: the records that count, in the order of the file;
* :func:`per_subject_levels`: an incidence table's records as one row per subject and
  level combination, with the number of records and whether any record meets each
  category's filter (ADAE at a million patients: 7.6 M records in, one row per
  subject and term out);
* :func:`first_per_subject`: the earliest value of a variable per subject (and level):
  the first onset of an event, the first date of a response;
* :func:`largest`: the largest value of a variable (a figure's axis).

What reaches the driver is at most a row per subject and level (a listing: its
records). The statistics are computed there from it, exactly, by :mod:`eap.stats`, as
they are for data that never left this machine: the ARD of either engine is the
same, value for value.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import narwhals as nw
import polars as pl

from eap.ard.columns import parsed_where
from eap.datasets.model import Dataset
from eap.engine.frames import (
    FILE_ORDER,
    Frame,
    Tables,
    collect,
    columns,
    in_file_order,
    numbered,
    polars_tables,
)
from eap.stats.frame import parse_where_neutral


def tables_for(adam: Mapping[str, Dataset], tables: Tables | None) -> Tables:
    """The engine's tables of ``adam``: those given, else ``adam`` on Polars."""
    return tables if tables is not None else polars_tables(adam)


def where_expr(text: str, names: list[str], *, file: Path | str, field: str) -> nw.Expr:
    """A plan filter as an expression for any engine; its errors name the plan field."""
    expr: nw.Expr = parsed_where(parse_where_neutral, text, names, file, field)
    return expr


def _chosen(
    tables: Tables,
    name: str,
    where: str | None,
    file: Path | str,
    field: str,
    also: nw.Expr | None = None,
    variables: Collection[str] | None = None,
    *,
    ordered: bool = False,
) -> Frame:
    """Dataset ``name``'s records where the filters hold, with those of ``variables``
    it has (all when None); ``ordered``: made ready for :func:`in_file_order` (a
    reduction groups the records and needs no order)."""
    frame = tables[name]
    names = columns(frame)
    if ordered:
        frame = numbered(frame)
    if where:
        frame = frame.filter(where_expr(where, names, file=file, field=field))
    if also is not None:
        frame = frame.filter(also)
    if variables is not None:
        kept = [c for c in names if c in variables]
        frame = frame.select(kept + [FILE_ORDER] * (FILE_ORDER in columns(frame)))
    return frame


def records(
    tables: Tables,
    name: str,
    variables: Collection[str] | None = None,
    *,
    where: str | None = None,
    also: nw.Expr | None = None,
    file: Path | str = "",
    field: str = "where",
) -> pl.DataFrame:
    """The records of dataset ``name`` where the plan's filter ``where`` (and the
    expression ``also``) hold, with those of ``variables`` it has (all when None) in
    the dataset's order, rows in the order of the file; filtered and projected on the
    engine."""
    chosen = _chosen(tables, name, where, file, field, also, variables, ordered=True)
    return in_file_order(chosen)


def per_subject_levels(
    tables: Tables,
    name: str,
    levels: list[str],
    *,
    where: str | None,
    flags: Mapping[str, tuple[str, str]],
    count: str,
    file: Path | str,
    field: str = "where",
) -> pl.DataFrame:
    """One row per USUBJID and combination of ``levels`` (nulls kept) of the records
    where ``where`` holds: ``count`` the number of records, and for each ``flags``
    entry ``{column: (filter, its plan field)}`` 1 when any of the records meets the
    filter, else 0.

    >>> import polars as pl
    >>> adae = pl.DataFrame({"USUBJID": ["1", "1", "2"], "AEDECOD": ["A", "A", "B"],
    ...                      "AESER": ["Y", "N", "N"]})
    >>> tables = {"ADAE": nw.from_native(adae.lazy())}
    >>> per_subject_levels(tables, "ADAE", ["AEDECOD"], where=None,
    ...     flags={"S": ("AESER == 'Y'", "x")}, count="N", file="").sort("USUBJID").rows()
    [('1', 'A', 2, 1), ('2', 'B', 1, 0)]
    """
    frame = _chosen(tables, name, where, file, field)
    names = columns(frame)
    marks = [
        nw.when(where_expr(text, names, file=file, field=flag_field))
        .then(nw.lit(1))
        .otherwise(nw.lit(0))
        .cast(nw.Int32)
        .alias(column)
        for column, (text, flag_field) in flags.items()
    ]
    keys = ["USUBJID", *levels]
    reduced = (
        frame.select(*keys, *marks)
        .group_by(*keys)
        .agg(nw.len().cast(nw.Int64).alias(count), *(nw.col(c).max() for c in flags))
    )
    return collect(reduced)


def first_per_subject(
    tables: Tables,
    name: str,
    value: str,
    by: list[str],
    *,
    where: str | None = None,
    also: nw.Expr | None = None,
    file: Path | str = "",
    field: str = "where",
) -> pl.DataFrame:
    """USUBJID, the ``by`` variables and the smallest ``value`` (nulls ignored; null
    when all are) of the records where the filters hold, a row per group, sorted."""
    frame = _chosen(tables, name, where, file, field, also)
    keys = ["USUBJID", *by]
    reduced = frame.group_by(*keys).agg(nw.col(value).min())
    return collect(reduced).sort(keys, nulls_last=True)


def largest(
    tables: Tables, name: str, value: str, *, where: str | None, also: nw.Expr, file: Path | str
) -> Any:
    """The largest ``value`` of the records where the filters hold (None when none)."""
    frame = _chosen(tables, name, where, file, "where", also)
    return collect(frame.select(nw.col(value).cast(nw.Float64).max())).item()

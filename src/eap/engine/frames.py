"""What the rules share on either engine: tables as Narwhals lazy frames, dates from
ISO 8601 text, flags, and results collected as Polars.

The rules are written with Narwhals expressions (``nw.col``, ``nw.when``, joins,
``group_by``, windows with ``over(..., order_by=...)``): the same text runs as a Polars
lazy query or a Spark plan. What Narwhals does not give on both engines alike is here,
one function per operation, each implemented per engine:

* :func:`with_dates`: the date part of ISO 8601 text, null when the date is partial or
  not a date (Narwhals parses strictly: a partial date is an error).
* :func:`with_row_number`: the records' order as read (Narwhals numbers rows of a lazy
  frame only in the order of its variables).
* :func:`persist`: a frame several steps read, computed once and kept.
* :func:`collect`: the rows on the driver, as Polars (Polars' streaming engine by
  default); :func:`numbered` and :func:`in_file_order`: in the order of the file.

:func:`epoch_days` and :func:`days_between` count days by integer arithmetic, the same
expression on both engines (Narwhals has no date difference on Spark).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import narwhals as nw
import polars as pl

from eap.datasets.lazy import scan
from eap.datasets.model import Dataset

Frame = nw.LazyFrame[Any]
# Datasets by name, each a lazy frame on one engine.
Tables = Mapping[str, Frame]

# A complete date at the start of --DTC text: YYYY-MM-DD, any time part after it.
_COMPLETE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"


class _PolarsTables(Mapping[str, Frame]):
    """Datasets read as Polars lazy frames (from their files when they are lazy)."""

    def __init__(self, datasets: Mapping[str, Dataset]) -> None:
        self.datasets = datasets

    def __getitem__(self, name: str) -> Frame:
        return nw.from_native(scan(self.datasets, name))

    def __iter__(self) -> Iterator[str]:
        return iter(self.datasets)

    def __len__(self) -> int:
        return len(self.datasets)


def polars_tables(datasets: Mapping[str, Dataset]) -> Tables:
    """``datasets`` as tables on the Polars engine; each is read when it is used."""
    return _PolarsTables(datasets)


def lazy(frame: pl.DataFrame | pl.LazyFrame) -> Frame:
    """A Polars frame as a Narwhals lazy frame (on the Polars engine)."""
    return _frame(frame.lazy())


def columns(frame: Frame) -> list[str]:
    """The frame's variables, without running it."""
    return frame.collect_schema().names()


def is_spark(frame: Frame) -> bool:
    return frame.implementation.is_pyspark() or frame.implementation.is_pyspark_connect()


def collect(frame: Frame, *, streaming: bool = True) -> pl.DataFrame:
    """The frame's rows, run on its engine, as a Polars DataFrame (from Spark: on the
    driver, through Arrow). On Polars, by its streaming engine unless ``streaming`` is
    False: a plan that sorts many wide records holds less in memory run whole (ADAE
    at 80,000 patients: 1.26 GB whole, 1.61 GB streaming)."""
    native = nw.to_native(frame)
    if isinstance(native, pl.LazyFrame):
        return native.collect(engine="streaming" if streaming else "in-memory")
    rows: pl.DataFrame = frame.collect("polars").to_native()
    return rows


def item(frame: Frame, expr: nw.Expr) -> Any:
    """One value: ``expr`` (an aggregate) over the frame."""
    return frame.select(expr).collect("polars").item()


def persist(frame: Frame) -> Frame:
    """A frame later steps read several times, computed once and kept: on Spark by
    the executors, its plan cut short (``localCheckpoint``), so that a plan built from
    it does not grow with every step before; on Polars in memory, so that each plan
    reading it does not compute it again."""
    if is_spark(frame):
        return _frame(nw.to_native(frame).localCheckpoint(eager=True))
    return lazy(collect(frame))


def first_in_order(
    frame: Frame, by: str | list[str], order: list[str], *, last: bool = False
) -> Frame:
    """The first (``last``: the last) row of each group ``by`` in the order of the
    variables ``order`` (ascending, nulls first; give a tie-breaking variable, such as
    a --SEQ or a row number, so that the row is the same on every engine)."""
    keys = [by] if isinstance(by, str) else by
    one = nw.col("_ONE")
    chosen = one.is_last_distinct() if last else one.is_first_distinct()
    return (
        frame.with_columns(nw.lit(True).alias("_ONE"))
        .with_columns(chosen.over(*keys, order_by=order).alias("_CHOSEN"))
        .filter(nw.col("_CHOSEN"))
        .drop("_ONE", "_CHOSEN")
    )


def recode(expr: nw.Expr, values: Mapping[Any, Any]) -> nw.Expr:
    """``expr``'s values mapped by ``values`` (null for any other value)."""
    out = nw.lit(None)
    for key, value in values.items():
        out = nw.when(expr == key).then(nw.lit(value)).otherwise(out)
    return out


def flag(condition: nw.Expr) -> nw.Expr:
    """``"Y"`` where ``condition`` holds, else ``"N"`` (a null condition: ``"N"``)."""
    return nw.when(condition).then(nw.lit("Y")).otherwise(nw.lit("N"))


def epoch_days(date: nw.Expr) -> nw.Expr:
    """Days from 1970-01-01 to a date (negative before it), by integer arithmetic on the
    date's year, month and day (H. Hinnant's ``days_from_civil``, proleptic Gregorian
    calendar), so that differences of dates are the same whole numbers on both
    engines: Narwhals gives no date difference on Spark.

    >>> import datetime as dt
    >>> import polars as pl
    >>> f = nw.from_native(pl.LazyFrame({"D": [dt.date(1970, 1, 1), dt.date(2000, 3, 1)]}))
    >>> collect(f.select(epoch_days(nw.col("D"))))["D"].to_list()
    [0, 11017]
    """
    y, m, d = (part.cast(nw.Int64) for part in (date.dt.year(), date.dt.month(), date.dt.day()))
    # The year from March, so that a leap day is the last day of its year.
    y = y - nw.when(m <= 2).then(1).otherwise(0)
    era = y // 400
    year_of_era = y - era * 400
    day_of_year = (153 * (m + nw.when(m > 2).then(-3).otherwise(9)) + 2) // 5 + d - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return (era * 146097 + day_of_era - 719468).cast(nw.Int64)


def days_between(date: str, reference: str) -> nw.Expr:
    """Whole days from ``reference`` to ``date`` (negative when before; null when either
    is missing)."""
    return epoch_days(nw.col(date)) - epoch_days(nw.col(reference))


def with_dates(frame: Frame, dates: Mapping[str, str]) -> Frame:
    """``frame`` with a date column for each ``{name: source}``: a date source as it is;
    text (ISO 8601 --DTC) by its first 10 characters when they are a complete date
    (YYYY-MM-DD, any time part ignored), else null: a partial date ("2021-03"), or text
    that is no calendar date ("2021-02-30"), gives null on both engines.

    >>> import polars as pl
    >>> f = nw.from_native(pl.LazyFrame({"AESTDTC": ["2021-03-04T10:00", "2021-03"]}))
    >>> collect(with_dates(f, {"ASTDT": "AESTDTC"}))["ASTDT"].to_list()
    [datetime.date(2021, 3, 4), None]
    """
    if not dates:
        return frame
    schema = frame.collect_schema()
    native = nw.to_native(frame)
    if isinstance(native, pl.LazyFrame):
        return _frame(
            native.with_columns(
                polars_date(source, schema[source] == nw.String).alias(name)
                for name, source in dates.items()
            )
        )
    if is_spark(frame):
        return _frame(
            native.withColumns(
                {
                    name: _spark_date(source, schema[source] == nw.String)
                    for name, source in dates.items()
                }
            )
        )
    raise TypeError(f"no engine for a {type(native).__name__}")  # pragma: no cover


def with_row_number(frame: Frame, name: str) -> Frame:
    """``frame`` with a column that increases in the order its records were read (a
    Parquet file's order), to break ties in the order of the records; call it on a
    frame as read, before any join or sort. On Polars the numbers are 0, 1, 2...; on
    Spark they increase but skip (``monotonically_increasing_id``)."""
    native = nw.to_native(frame)
    if isinstance(native, pl.LazyFrame):
        return _frame(native.with_row_index(name).select(pl.all().exclude(name), name))
    if is_spark(frame):
        from pyspark.sql import functions as F

        return _frame(native.withColumn(name, F.monotonically_increasing_id()))
    raise TypeError(f"no engine for a {type(native).__name__}")  # pragma: no cover


# The order a dataset's records were read in, on Spark (see :func:`numbered`).
FILE_ORDER = "_FILE_ORDER"


def numbered(frame: Frame) -> Frame:
    """A frame as read, made ready for :func:`in_file_order`: on Spark numbered in the
    order of its file (:func:`with_row_number`); on Polars as it is, since Polars keeps
    the records' order through filters and projections."""
    return with_row_number(frame, FILE_ORDER) if is_spark(frame) else frame


def in_file_order(frame: Frame) -> pl.DataFrame:
    """The rows of a :func:`numbered` frame (filtered or projected, never joined or
    grouped) on the driver, in the order of the file on both engines: Spark returns
    rows in any order unless sorted."""
    if FILE_ORDER not in columns(frame):
        return collect(frame)
    return collect(frame.sort(FILE_ORDER)).drop(FILE_ORDER)


def _frame(native: Any) -> Frame:
    frame: Frame = nw.from_native(native)
    return frame


def polars_date(source: str, text: bool) -> pl.Expr:
    col = pl.col(source)
    if not text:
        return col.cast(pl.Date)
    complete = col.str.contains(_COMPLETE)
    return pl.when(complete).then(col.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False))


def _spark_date(source: str, text: bool) -> Any:
    from pyspark.sql import functions as F

    col = F.col(source)
    if not text:
        return col.cast("date")
    # try_to_date: null, not an error, for text that is no date (Spark's ANSI mode).
    parsed = F.try_to_date(F.substring(col, 1, 10), "yyyy-MM-dd")
    return F.when(col.rlike(_COMPLETE), parsed)

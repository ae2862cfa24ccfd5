"""Many rows into one table with a single driver ``executemany``.

SQLAlchemy's Core ``insert`` with a list of rows builds and type-converts parameters
row by row in Python; for the hundreds of thousands of rows of a data transfer and
their trail that costs more than the database itself. Here the statement is compiled
once for the connection's dialect and each value goes through its column's own bind
processor (the conversion SQLAlchemy would apply, e.g. a datetime to SQLite's text),
computed once per column; the driver then receives plain tuples or dicts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, insert


def _processor(table: Table, key: str, dialect: Any) -> Callable[[Any], Any] | None:
    """The column type's conversion of a Python value for this dialect's driver, if any."""
    fn = table.c[key].type.dialect_impl(dialect).bind_processor(dialect)
    return fn  # type: ignore[return-value]


def _memo(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``fn`` remembering its last argument: a bulk write repeats one timestamp per row."""
    last: list[Any] = [object(), None]

    def convert(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, fn(value)
        return last[1]

    return convert


def bulk_insert(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (dicts keyed by column name, every row the same keys) into ``table``."""
    if not rows:
        return
    keys = list(rows[0])
    dialect = connection.dialect
    compiled = insert(table).compile(dialect=dialect, column_keys=keys)
    processors = [(k, _memo(fn)) for k in keys if (fn := _processor(table, k, dialect))]
    converted: Sequence[Mapping[str, Any]] = rows
    if processors:
        copies = [dict(r) for r in rows]
        for row in copies:
            for k, convert in processors:
                value = row[k]
                if value is not None:
                    row[k] = convert(value)
        converted = copies
    params: Any
    if compiled.positional:
        order = list(compiled.positiontup or ())
        params = [tuple(r[k] for k in order) for r in converted]
    else:
        params = list(converted)
    connection.exec_driver_sql(str(compiled), params)

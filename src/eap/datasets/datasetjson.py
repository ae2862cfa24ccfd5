"""CDISC Dataset-JSON version 1.1 (the JSON form; one dataset per file).

Numeric SAS dates, datetimes and times are written as ISO 8601 strings with
``dataType`` date/datetime/time and ``targetDataType`` "integer", as the 1.1
standard prescribes; character variables are ``string`` with their length.
A file is checked against the JSON schema of the standard and then row by row
against its own column declarations.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl

from eap import __version__
from eap.datasets.model import POLARS_TYPE, ColumnMeta, Dataset, Kind
from eap.errors import DatasetReadError

VERSION = "1.1.0"

_DATA_TYPE: dict[Kind, str] = {
    "string": "string",
    "integer": "integer",
    "double": "double",
    "date": "date",
    "datetime": "datetime",
    "time": "time",
}


@cache
def schema() -> dict[str, Any]:
    """The Dataset-JSON 1.1 JSON schema shipped with eap."""
    text = resources.files("eap.datasets").joinpath("dataset-json-1.1.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def looks_like_json(head: bytes) -> bool:
    return head.lstrip()[:1] == b"{"


def write_dataset_json(
    ds: Dataset, path: Path, *, keys: tuple[str, ...] = (), study_oid: str | None = None
) -> None:
    """Write ``ds`` as Dataset-JSON 1.1; ``keys`` become the columns' keySequence."""
    columns: list[dict[str, Any]] = []
    for c in ds.columns:
        col: dict[str, Any] = {
            "itemOID": f"IT.{ds.name}.{c.name}",
            "name": c.name,
            "label": c.label,
            "dataType": _DATA_TYPE[c.kind],
        }
        if c.kind in ("date", "datetime", "time"):
            col["targetDataType"] = "integer"
        if c.length:
            col["length"] = c.length
        if c.display_format:
            col["displayFormat"] = c.display_format
        if c.name in keys:
            col["keySequence"] = keys.index(c.name) + 1
        columns.append(col)
    frame = ds.frame.with_columns(
        [_iso_text(ds.frame[c.name], c.kind) for c in ds.columns if c.kind in _TEMPORAL]
    )
    doc: dict[str, Any] = {
        "creationDateTime": datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "datasetJSONVersion": VERSION,
        "fileOID": f"eap.{ds.name}",
        "originator": "eap",
        "sourceSystem": {"name": "eap", "version": __version__},
        "itemGroupOID": f"IG.{ds.name}",
        "records": ds.n_rows,
        "name": ds.name,
        "label": ds.label,
        "columns": columns,
        "rows": [list(r) for r in frame.iter_rows()],
    }
    if study_oid:
        doc["studyOID"] = study_oid
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


_TEMPORAL = ("date", "datetime", "time")
_ISO_FORMAT = {"date": "%Y-%m-%d", "datetime": "%Y-%m-%dT%H:%M:%S", "time": "%H:%M:%S"}


def _iso_text(s: pl.Series, kind: Kind) -> pl.Series:
    if kind == "datetime" and s.dt.microsecond().fill_null(0).any():
        return s.dt.strftime("%Y-%m-%dT%H:%M:%S%.6f")
    return s.dt.strftime(_ISO_FORMAT[kind])


def read_dataset_json(path: Path) -> Dataset:
    """Read and check a Dataset-JSON 1.1 file; every problem names the file, column and row."""
    import jsonschema

    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except UnicodeDecodeError as exc:
        raise DatasetReadError(
            f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=path
        ) from exc
    except json.JSONDecodeError as exc:
        raise DatasetReadError(
            f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})", file=path
        ) from exc
    validator = jsonschema.Draft201909Validator(schema())
    problems = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if problems:
        first = problems[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(top level)"
        raise DatasetReadError(
            f"breaks the Dataset-JSON 1.1 schema at {where}: {first.message}"
            + (f" ({len(problems) - 1} more problems)" if len(problems) > 1 else ""),
            file=path,
        )
    name = str(doc["name"]).upper()
    cols: list[dict[str, Any]] = doc["columns"]
    rows: list[list[Any]] = doc.get("rows", [])
    names = [c["name"] for c in cols]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DatasetReadError(
            f"duplicate column names: {', '.join(dupes)}", file=path, dataset=name
        )
    if doc["records"] != len(rows):
        raise DatasetReadError(
            "record count does not match the rows",
            file=path,
            dataset=name,
            expected=f"{doc['records']} rows (records)",
            found=f"{len(rows)} rows",
        )
    bad = [i + 1 for i, r in enumerate(rows) if len(r) != len(cols)]
    if bad:
        raise DatasetReadError(
            "row has the wrong number of values",
            file=path,
            dataset=name,
            rows=bad,
            expected=f"{len(cols)} values",
        )
    metas: list[ColumnMeta] = []
    series: list[pl.Series] = []
    for j, c in enumerate(cols):
        kind = _kind_of_column(c)
        values = [r[j] for r in rows]
        series.append(_typed_series(path, name, c["name"], values, c["dataType"], kind))
        metas.append(
            ColumnMeta(
                name=c["name"],
                label=c["label"],
                kind=kind,
                length=c.get("length"),
                display_format=c.get("displayFormat"),
            )
        )
    frame = pl.DataFrame(series) if series else pl.DataFrame()
    return Dataset(name=name, frame=frame, columns=tuple(metas), label=doc["label"])


def _kind_of_column(col: dict[str, Any]) -> Kind:
    data_type = col["dataType"]
    if data_type in _TEMPORAL:
        # Without a numeric target the SAS variable is character (an ISO 8601 text).
        return data_type if col.get("targetDataType") == "integer" else "string"  # type: ignore[no-any-return]
    return {
        "string": "string",
        "URI": "string",
        "integer": "integer",
        "boolean": "integer",
        "decimal": "double",
        "float": "double",
        "double": "double",
    }[data_type]  # type: ignore[return-value]


_PY_TYPE: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "URI": (str,),
    "integer": (int,),
    "boolean": (bool,),
    "float": (int, float),
    "double": (int, float),
    "decimal": (str, int, float),
    "date": (str,),
    "datetime": (str,),
    "time": (str,),
}


def _typed_series(
    path: Path, ds: str, var: str, values: list[Any], data_type: str, kind: Kind
) -> pl.Series:
    allowed = _PY_TYPE[data_type]
    bad = [
        i + 1
        for i, v in enumerate(values)
        if v is not None
        and (not isinstance(v, allowed) or (isinstance(v, bool) and data_type != "boolean"))
    ]
    if bad:
        found = values[bad[0] - 1]
        raise DatasetReadError(
            "value does not match the column's dataType",
            file=path,
            dataset=ds,
            variable=var,
            rows=bad,
            expected=data_type,
            found=f"{type(found).__name__} {found!r}",
        )
    if kind in _TEMPORAL:
        parsed: list[date | datetime | time | None] = []
        parse: Callable[[str], date | datetime | time] = {  # type: ignore[assignment]
            "date": date.fromisoformat,
            "datetime": datetime.fromisoformat,
            "time": time.fromisoformat,
        }[kind]
        for i, v in enumerate(values):
            try:
                parsed.append(None if v is None else parse(v))
            except ValueError as exc:
                raise DatasetReadError(
                    f"not an ISO 8601 {kind}",
                    file=path,
                    dataset=ds,
                    variable=var,
                    rows=[i + 1],
                    found=repr(v),
                ) from exc
        return pl.Series(var, parsed, dtype=POLARS_TYPE[kind])
    if data_type == "decimal":
        try:
            values = [None if v is None else float(v) for v in values]
        except ValueError as exc:
            raise DatasetReadError(
                f"decimal value is not a number ({exc})", file=path, dataset=ds, variable=var
            ) from exc
    if data_type == "boolean":
        values = [None if v is None else int(v) for v in values]
    return pl.Series(var, values, dtype=POLARS_TYPE[kind], strict=False)

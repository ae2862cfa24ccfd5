"""CSV files: values only, one header row; types come from the dataset's specification.

CSV carries no labels, lengths or types. When eap knows the dataset (its
specification declares the variable), the declared kind is used; otherwise a
column whose every value is a number becomes numeric and all else stays text.
Dates are ISO 8601 (``2014-11-05``); an empty field is a missing value.
eap writes UTF-8; it reads UTF-8, Windows-1252 and Latin-1 (detected, or as told).
"""

from __future__ import annotations

import io
import re
from dataclasses import replace
from pathlib import Path

import polars as pl

from eap.datasets.encoding import decode_bytes
from eap.datasets.model import POLARS_TYPE, Dataset, Kind
from eap.errors import DatasetReadError

_INT_RE = r"^[+-]?\d+$"
_FLOAT_RE = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_ISO_FORMAT = {"date": "%Y-%m-%d", "datetime": "%Y-%m-%dT%H:%M:%S", "time": "%H:%M:%S"}


def write_csv(ds: Dataset, path: Path) -> None:
    ds.frame.write_csv(
        path, datetime_format="%Y-%m-%dT%H:%M:%S", date_format="%Y-%m-%d", time_format="%H:%M:%S"
    )


def read_csv(
    path: Path,
    *,
    name: str | None = None,
    kinds: dict[str, Kind] | None = None,
    encoding: str | None = None,
) -> Dataset:
    """Read a CSV; ``kinds`` (usually from the specification) types the named columns.

    The text is decoded with ``encoding`` when given, otherwise detected (strict
    UTF-8, then Windows-1252, then Latin-1; see :mod:`eap.datasets.encoding`);
    the encoding used is kept as ``Dataset.extra["encoding"]``.
    """
    path = Path(path)
    text, used = decode_bytes(path.read_bytes(), encoding, file=path)
    if "\x00" in text:
        raise DatasetReadError("CSV contains NUL bytes: the file is binary, not text", file=path)
    try:
        frame = pl.read_csv(io.StringIO(text), infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        raise DatasetReadError(f"malformed CSV ({exc})", file=path) from exc
    dupes = [c for c in frame.columns if re.search(r"_duplicated_\d+$", c)]
    if dupes:
        raise DatasetReadError(
            "duplicate column names in the header", file=path, found=", ".join(dupes)
        )
    kinds = kinds or {}
    ds_name = (name or path.stem).upper()
    columns = [
        _typed(path, ds_name, frame[c].replace("", None), kinds.get(c)) for c in frame.columns
    ]
    ds = Dataset.from_frame(ds_name, pl.DataFrame(columns) if columns else frame)
    return replace(ds, extra={"encoding": used})


def _typed(path: Path, ds: str, s: pl.Series, kind: Kind | None) -> pl.Series:
    present = s.drop_nulls()
    if kind is None:
        if present.len() and present.str.contains(_INT_RE).all():
            kind = "integer"
        elif present.len() and present.str.contains(_FLOAT_RE).all():
            kind = "double"
        else:
            kind = "string"
    if kind == "string":
        return s
    if kind in _ISO_FORMAT:
        out = s.str.strptime(POLARS_TYPE[kind], _ISO_FORMAT[kind], strict=False)  # type: ignore[arg-type]
    else:
        out = s.str.strip_chars().cast(POLARS_TYPE[kind], strict=False)
    failed = (out.is_null() & s.is_not_null()).arg_true().to_list()
    if failed:
        raise DatasetReadError(
            f"value is not a valid {kind}",
            file=path,
            dataset=ds,
            variable=s.name,
            rows=[r + 1 for r in failed],
            expected=kind if kind not in _ISO_FORMAT else f"ISO 8601 {kind} ({_ISO_FORMAT[kind]})",
            found=repr(s[failed[0]]),
        )
    return out

"""Parquet files, with eap's variable metadata kept in the file's key-value metadata.

The rows are read and written by Polars straight from and into its own columns (no
Arrow table in between, which would hold every value twice while converting), and the
metadata from the file's footer alone; :func:`scan_parquet` gives the rows as a
LazyFrame, so that a reader takes only the columns and rows it needs
(eap.datasets.lazy).
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from eap.datasets.model import ColumnMeta, Dataset, kind_of_polars_type
from eap.errors import DatasetReadError

META_KEY = b"eap.dataset"
MAGIC = b"PAR1"


def is_parquet(head: bytes) -> bool:
    return head[:4] == MAGIC


def write_parquet(ds: Dataset, path: Path) -> None:
    """Write rows and metadata (name, label, per-variable label/kind/length/format).

    Polars writes the rows from its own columns (an Arrow table would copy every text
    value first) and the metadata as the file's key-value metadata ``eap.dataset``."""
    meta = {
        "name": ds.name,
        "label": ds.label,
        "columns": [c.to_json() for c in ds.columns],
    }
    ds.frame.write_parquet(path, compression="zstd", metadata={META_KEY.decode(): json.dumps(meta)})


def parquet_header(path: Path) -> tuple[str, str, tuple[ColumnMeta, ...], pl.Schema]:
    """The dataset's name, label, variable metadata and column types, from the footer
    alone (no rows read); a file written elsewhere gets metadata from its types."""
    import pyarrow.parquet as pq

    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not is_parquet(head):
        raise DatasetReadError("not a Parquet file", file=path, expected="the PAR1 magic number")
    try:
        raw = (pq.read_metadata(str(path)).metadata or {}).get(META_KEY)
        schema = pl.read_parquet_schema(path)
    except Exception as exc:  # pyarrow and Polars raise their own errors for damaged files
        raise DatasetReadError(f"malformed Parquet file ({exc})", file=path) from exc
    if raw is None:
        return path.stem.upper(), "", _inferred(schema, path), pl.Schema(schema)
    try:
        meta = json.loads(raw)
        given = {c["name"]: ColumnMeta.from_json(c) for c in meta["columns"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise DatasetReadError(f"damaged eap metadata in Parquet file ({exc})", file=path) from exc
    inferred = {c.name: c for c in _inferred(schema, path)}
    columns = tuple(given.get(name) or inferred[name] for name in schema)
    name = str(meta.get("name") or path.stem).upper()
    return name, str(meta.get("label") or ""), columns, pl.Schema(schema)


def _inferred(schema: dict[str, pl.DataType], path: Path) -> tuple[ColumnMeta, ...]:
    try:
        return tuple(ColumnMeta(name=c, kind=kind_of_polars_type(t)) for c, t in schema.items())
    except Exception as exc:  # a column type with no CDISC equivalent
        raise DatasetReadError(f"unreadable Parquet column ({exc})", file=path) from exc


def scan_parquet(path: Path) -> pl.LazyFrame:
    """The rows of a Parquet dataset, lazily (read when collected, only what is used)."""
    return pl.scan_parquet(path)


def read_parquet(path: Path) -> Dataset:
    """Read a Parquet dataset; files written elsewhere get metadata inferred from their types."""
    name, label, columns, _ = parquet_header(path)
    try:
        frame = pl.read_parquet(path)
    except Exception as exc:  # Polars raises ComputeError/OSError for damaged files
        raise DatasetReadError(f"malformed Parquet file ({exc})", file=path) from exc
    return Dataset(name=name, frame=frame, columns=columns, label=label)

"""Parquet files, with eap's variable metadata kept in the file's key-value metadata."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from eap.datasets.model import ColumnMeta, Dataset
from eap.errors import DatasetReadError

META_KEY = b"eap.dataset"
MAGIC = b"PAR1"


def is_parquet(head: bytes) -> bool:
    return head[:4] == MAGIC


def write_parquet(ds: Dataset, path: Path) -> None:
    """Write rows and metadata (name, label, per-variable label/kind/length/format)."""
    import pyarrow.parquet as pq

    table = ds.frame.to_arrow()
    meta = {
        "name": ds.name,
        "label": ds.label,
        "columns": [c.to_json() for c in ds.columns],
    }
    existing = table.schema.metadata or {}
    table = table.replace_schema_metadata({**existing, META_KEY: json.dumps(meta).encode()})
    pq.write_table(table, str(path), compression="zstd")


def read_parquet(path: Path) -> Dataset:
    """Read a Parquet dataset; files written elsewhere get metadata inferred from their types."""
    import pyarrow.parquet as pq

    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not is_parquet(head):
        raise DatasetReadError("not a Parquet file", file=path, expected="the PAR1 magic number")
    try:
        table = pq.read_table(str(path))
    except Exception as exc:  # pyarrow raises ArrowInvalid/OSError for damaged files
        raise DatasetReadError(f"malformed Parquet file ({exc})", file=path) from exc
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    raw = (table.schema.metadata or {}).get(META_KEY)
    if raw is None:
        return Dataset.from_frame(path.stem.upper(), frame)
    try:
        meta = json.loads(raw)
        columns = {c["name"]: ColumnMeta.from_json(c) for c in meta["columns"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise DatasetReadError(f"damaged eap metadata in Parquet file ({exc})", file=path) from exc
    return Dataset.from_frame(
        meta.get("name") or path.stem, frame, label=meta.get("label") or "", meta=columns
    )

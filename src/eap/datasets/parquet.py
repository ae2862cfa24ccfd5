"""Parquet files, with eap's variable metadata kept in the file's key-value metadata.

The rows are read and written by Polars straight from and into its own columns (no
Arrow table in between, which would hold every value twice while converting), and the
metadata from the file's footer alone; :func:`scan_parquet` gives the rows as a
LazyFrame, so that a reader takes only the columns and rows it needs
(eap.datasets.lazy).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import polars as pl

from eap.datasets.model import ColumnMeta, Dataset, kind_of_polars_type
from eap.errors import DatasetReadError, DatasetWriteError

META_KEY = b"eap.dataset"
MAGIC = b"PAR1"


def is_parquet(head: bytes) -> bool:
    return head[:4] == MAGIC


def write_parquet(ds: Dataset, path: Path) -> None:
    """Write rows and metadata (name, label, per-variable label/kind/length/format).

    Polars writes the rows from its own columns (an Arrow table would copy every text
    value first) and the metadata as the file's key-value metadata ``eap.dataset``."""
    ds.frame.write_parquet(path, compression="zstd", metadata=_metadata(ds))


def _metadata(ds: Dataset) -> dict[str, str]:
    meta = {"name": ds.name, "label": ds.label, "columns": [c.to_json() for c in ds.columns]}
    return {META_KEY.decode(): json.dumps(meta)}


def write_parquet_parts(parts: Iterable[Dataset], path: Path) -> tuple[Dataset, int]:
    """Write the records of one dataset given in ``parts`` (batches of its subjects, in
    order) as one Parquet file, holding one part at a time: each is written to a
    scratch file beside ``path``, then Polars streams them, in order, into ``path``.

    A variable with no value in a part (type Null) takes its type and metadata from a
    part that has one. Returns the dataset with its variables and metadata and no rows,
    and the number of records written."""
    path = Path(path)
    first: Dataset | None = None
    types: dict[str, pl.DataType] = {}
    metas: dict[str, ColumnMeta] = {}
    rows = 0
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".parts-") as scratch:
        files: list[Path] = []
        for number, part in enumerate(parts):
            if first is None:
                first = replace(part, frame=part.frame.clear())
            elif part.frame.columns != first.frame.columns:
                raise DatasetWriteError(
                    f"part {number + 1} has other variables than the first",
                    dataset=part.name,
                    expected=", ".join(first.frame.columns),
                    found=", ".join(part.frame.columns),
                )
            for meta in part.columns:
                kind = part.frame.schema[meta.name]
                if types.get(meta.name, pl.Null()) == pl.Null():
                    types[meta.name] = kind
                    metas[meta.name] = meta
            files.append(Path(scratch) / f"{number}.parquet")
            part.frame.write_parquet(files[-1], compression="lz4")
            rows += part.n_rows
            del part  # not held while the next part is derived
        if first is None:
            raise DatasetWriteError("no part to write")
        whole = replace(
            first,
            frame=pl.DataFrame(schema=types),
            columns=tuple(metas[c] for c in first.frame.columns),
        )
        scans = [pl.scan_parquet(f).cast(types) for f in files]  # type: ignore[arg-type]
        pl.concat(scans, how="vertical").sink_parquet(
            path, compression="zstd", metadata=_metadata(whole)
        )
    return whole, rows


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


def scan_parquet(path: Path, row_index: str | None = None) -> pl.LazyFrame:
    """The rows of a Parquet dataset, lazily (read when collected, only what is used);
    ``row_index`` names a first column of 1-based row numbers, numbered by the reader,
    so that a filter on the rows is still applied as the file is read."""
    return pl.scan_parquet(path, row_index_name=row_index, row_index_offset=1)


def read_parquet(path: Path) -> Dataset:
    """Read a Parquet dataset; files written elsewhere get metadata inferred from their types."""
    name, label, columns, _ = parquet_header(path)
    try:
        frame = pl.read_parquet(path)
    except Exception as exc:  # Polars raises ComputeError/OSError for damaged files
        raise DatasetReadError(f"malformed Parquet file ({exc})", file=path) from exc
    return Dataset(name=name, frame=frame, columns=columns, label=label)

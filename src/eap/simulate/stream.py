"""Large virtual cohorts, generated and written in parts.

A cohort of scale K is written as parts of at most ``chunk_scale`` (default 100,
8,000 patients). Each part is a complete cohort of its own scale with its own
random streams and subject numbers, so every count is exact in each part and
therefore in the whole; a median pinned in every part (half the part's values
below the target, half above) is the median of the whole. Memory is that of one
part, whatever K is. Parts are appended to one Parquet file (a row group each)
or one CSV file per domain; XPT and Dataset-JSON are written whole, so they are
offered up to one part.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from eap.datasets.atomic import write_atomic
from eap.datasets.io import write_dataset
from eap.datasets.parquet import META_KEY
from eap.errors import EapError

CHUNK_SCALE = 100
STREAMABLE = ("parquet", "csv")


MODELS = ("exact", "protocol")


def part_scales(scale: int, chunk_scale: int = CHUNK_SCALE) -> list[int]:
    """Scales of the parts: full parts of ``chunk_scale`` and the remainder."""
    full, rest = divmod(scale, chunk_scale)
    return [chunk_scale] * full + ([rest] if rest else [])


def write_simulation(
    out: Path,
    seed: int,
    scale: int,
    fmt: str,
    *,
    chunk_scale: int = CHUNK_SCALE,
    progress: Callable[[int, int], None] | None = None,
    model: str = "exact",
) -> dict[str, int]:
    """Write the SDTM of a cohort of ``scale`` to ``out``; returns rows per domain.

    ``model``: ``exact`` (every published count placed) or ``protocol`` (patients
    simulated through the protocol's rules, eap.simulate.model).
    """
    from eap.simulate import simulate
    from eap.simulate.model_cohort import simulate_model

    if model not in MODELS:
        raise EapError("unknown model", variable="--model", expected=", ".join(MODELS), found=model)

    def cohort(part: int, chunk: int | None) -> dict[str, Any]:
        if model == "protocol":
            return simulate_model(seed, part, chunk=chunk)
        return simulate(seed, part, chunk=chunk)

    if scale < 1:
        raise EapError("scale must be a positive integer", variable="--scale", found=str(scale))
    parts = part_scales(scale, chunk_scale)
    if len(parts) == 1:
        datasets = cohort(scale, None)
        for name, ds in datasets.items():
            write_dataset(ds, out / f"{name.lower()}.{fmt}", format=fmt)  # type: ignore[arg-type]
        if progress:
            progress(1, 1)
        return {name: ds.n_rows for name, ds in datasets.items()}
    if fmt not in STREAMABLE:
        raise EapError(
            f"a cohort of scale {scale} is written in parts; {fmt} files cannot be appended",
            variable="--format",
            expected=f"parquet or csv for a scale above {chunk_scale}",
            found=fmt,
        )
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, int] = {}
    writers: dict[str, object] = {}
    tmp: dict[str, Path] = {}
    try:
        for index, part in enumerate(parts):
            datasets = cohort(part, index)
            for name, ds in datasets.items():
                frame = _stable_types(ds.frame)
                target = out / f"{name.lower()}.{fmt}"
                tmp.setdefault(name, target.with_name(f".{target.name}.part"))
                if fmt == "parquet":
                    writers[name] = _append_parquet(writers.get(name), tmp[name], frame, ds)
                else:
                    with open(tmp[name], "ab" if index else "wb") as fh:
                        frame.write_csv(fh, include_header=index == 0, date_format="%Y-%m-%d")
                rows[name] = rows.get(name, 0) + ds.n_rows
            del datasets, frame  # written: the next part need not share memory with it
            if progress:
                progress(index + 1, len(parts))
        for writer in writers.values():
            writer.close()  # type: ignore[attr-defined]
        for name, path in tmp.items():
            write_atomic(out / f"{name.lower()}.{fmt}", _move_from(path))
    finally:
        for path in tmp.values():
            path.unlink(missing_ok=True)
    return rows


def _move_from(source: Path) -> Callable[[Path], None]:
    def move(target: Path) -> None:
        source.replace(target)

    return move


def _stable_types(frame: pl.DataFrame) -> pl.DataFrame:
    # A column that happens to be all missing in one part must keep its type.
    return frame.with_columns(
        [pl.col(c).cast(pl.String) for c, t in frame.schema.items() if t == pl.Null]
    )


def _append_parquet(writer: object | None, path: Path, frame: pl.DataFrame, ds: object) -> object:
    import json

    import pyarrow.parquet as pq

    # Arrow string views are Polars' own text columns, so no text value is copied.
    # The file keeps Parquet's own types only (no Arrow schema, which would name the
    # views): any reader, of any Arrow version, sees plain UTF-8 strings.
    table = frame.to_arrow(compat_level=pl.CompatLevel.newest())
    if writer is None:
        from eap.datasets.model import Dataset

        assert isinstance(ds, Dataset)
        meta = {"name": ds.name, "label": ds.label, "columns": [c.to_json() for c in ds.columns]}
        pw = pq.ParquetWriter(str(path), table.schema, compression="zstd", store_schema=False)
        pw.add_key_value_metadata({META_KEY: json.dumps(meta).encode()})
    else:
        pw = writer  # type: ignore[assignment]
    pw.write_table(table.cast(pw.schema))
    return pw

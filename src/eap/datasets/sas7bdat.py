"""SAS7BDAT files (read only; SAS's own binary format has no open writer)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from eap.datasets.model import ColumnMeta, Dataset, Kind, kind_from_sas_format
from eap.datasets.xpt import _from_sas_values, _sas_format_text
from eap.errors import DatasetReadError

# The first 32 bytes of every SAS7BDAT file (ReadStat's sas7bdat_magic_number).
MAGIC = bytes.fromhex("000000000000000000000000c2ea8160b31411cfbd92080009c7318c181f1011")


def is_sas7bdat(head: bytes) -> bool:
    return head[:32] == MAGIC


def read_sas7bdat(path: Path) -> Dataset:
    """Read a SAS7BDAT dataset, with dates, datetimes and times typed by their display format."""
    import pyreadstat

    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(32)
    if not is_sas7bdat(head):
        raise DatasetReadError(
            "not a SAS7BDAT file", file=path, expected="the SAS7BDAT magic number"
        )
    try:
        pdf, meta = pyreadstat.read_sas7bdat(str(path), disable_datetime_conversion=True)
    except Exception as exc:  # ReadStat reports malformed files with its own exceptions
        raise DatasetReadError(f"malformed SAS7BDAT file ({exc})", file=path) from exc
    columns: list[ColumnMeta] = []
    series: list[pl.Series] = []
    for name in meta.column_names:
        fmt = _sas_format_text(meta.original_variable_types.get(name))
        is_char = meta.readstat_variable_types[name] == "string"
        kind: Kind = "string" if is_char else (kind_from_sas_format(fmt) or "double")
        series.append(_from_sas_values(name, pdf[name].to_numpy(), kind))
        width = meta.variable_storage_width.get(name)
        columns.append(
            ColumnMeta(
                name=name,
                label=meta.column_names_to_labels.get(name) or "",
                kind=kind,
                length=int(width) if width else None,
                display_format=fmt,
            )
        )
    # ReadStat names a member "DATASET" when the writer gave none; the file name says more.
    name = meta.table_name if meta.table_name and meta.table_name != "DATASET" else path.stem
    return Dataset(
        name=name.upper(),
        frame=pl.DataFrame(series),
        columns=tuple(columns),
        label=meta.file_label or "",
    )

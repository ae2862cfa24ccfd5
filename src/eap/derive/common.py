"""Pieces every derivation shares: ISO 8601 text to dates, months, ADaM metadata."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from eap.datasets import specs
from eap.datasets.model import ColumnMeta, Dataset, Kind

MONTH_DAYS = 30.4375  # 365.25 / 12: the publication prints 108 weeks as 24.8 months


def iso_date(col: str) -> pl.Expr:
    """The complete date part of an ISO 8601 --DTC text column (null when partial)."""
    return pl.col(col).str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)


def kind_of(dtype: pl.DataType) -> Kind:
    if dtype == pl.Date:
        return "date"
    if dtype == pl.String or dtype == pl.Null:
        return "string"
    if dtype.is_integer():
        return "integer"
    return "double"


def as_adam(name: str, label: str, frame: pl.DataFrame, labels: Mapping[str, str]) -> Dataset:
    """Wrap a derived frame: labels from the specification, else ``labels``; dates as DATE9."""
    spec = specs.get(name)
    meta: dict[str, ColumnMeta] = {}
    for col in frame.columns:
        var = spec.variable(col) if spec else None
        kind = kind_of(frame.schema[col])
        meta[col] = ColumnMeta(
            col,
            (var.label if var else labels.get(col, col))[:40],
            kind,
            8 if kind != "string" else None,
            "DATE9." if kind == "date" else None,
        )
    return Dataset.from_frame(name, frame, label=label, meta=meta)

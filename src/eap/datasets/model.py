"""The in-memory form of a CDISC dataset: a Polars frame plus its variable metadata.

Every reader returns a :class:`Dataset` and every writer takes one, so a value,
its type, label, length and display format travel together between XPT,
SAS7BDAT, Parquet, CSV and Dataset-JSON.

Missing values are Polars nulls in every column type. SAS stores a missing
character value as blanks, so the XPT and SAS7BDAT readers turn blank strings
into nulls and the XPT writer turns nulls back into blanks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Literal

import polars as pl

from eap.errors import SpecError

Kind = Literal["string", "integer", "double", "date", "datetime", "time"]
KINDS: tuple[Kind, ...] = ("string", "integer", "double", "date", "datetime", "time")

POLARS_TYPE: dict[Kind, pl.DataType] = {
    "string": pl.String(),
    "integer": pl.Int64(),
    "double": pl.Float64(),
    "date": pl.Date(),
    "datetime": pl.Datetime("us"),
    "time": pl.Time(),
}

# SAS display formats that make a numeric variable a date, datetime or time.
_DATE_FORMATS = {"DATE", "YYMMDD", "E8601DA", "IS8601DA", "MMDDYY", "DDMMYY", "YYMMDDN", "B8601DA"}
_DATETIME_FORMATS = {"DATETIME", "E8601DT", "IS8601DT", "B8601DT", "E8601DZ", "IS8601DZ"}
_TIME_FORMATS = {"TIME", "E8601TM", "IS8601TM", "B8601TM", "TOD", "HHMM"}

_FORMAT_RE = re.compile(r"^(\$?(?:[A-Z_][A-Z0-9_]*?)?)(\d+)?\.(\d+)?$")


@dataclass(frozen=True)
class SasFormat:
    """A SAS display format split into its parts, e.g. ``DATE9.`` -> (DATE, 9, 0)."""

    name: str
    width: int
    decimals: int

    @classmethod
    def parse(cls, text: str) -> SasFormat:
        """Parse ``DATE9.``, ``8.2``, ``$200.`` or ``BEST12.``; a missing dot is tolerated."""
        t = text.strip().upper()
        if t and not t.endswith(".") and "." not in t:
            t += "."
        m = _FORMAT_RE.match(t)
        if not m:
            raise SpecError(f"not a SAS format: {text!r}", expected="NAMEw.d, e.g. DATE9. or 8.2")
        return cls(m.group(1), int(m.group(2) or 0), int(m.group(3) or 0))

    def __str__(self) -> str:
        width = str(self.width) if self.width else ""
        dec = str(self.decimals) if self.decimals else ""
        return f"{self.name}{width}.{dec}"


def kind_from_sas_format(fmt: str | None) -> Kind | None:
    """The temporal kind a SAS numeric display format implies, or None."""
    if not fmt:
        return None
    try:
        name = SasFormat.parse(fmt).name
    except SpecError:
        return None
    if name in _DATE_FORMATS:
        return "date"
    if name in _DATETIME_FORMATS:
        return "datetime"
    if name in _TIME_FORMATS:
        return "time"
    return None


def kind_of_polars_type(dtype: pl.DataType) -> Kind:
    """The eap kind of a Polars column type (used for files that carry no metadata)."""
    if dtype == pl.String or dtype == pl.Categorical or dtype == pl.Null:
        return "string"
    if dtype.is_integer() or dtype == pl.Boolean:
        return "integer"
    if dtype.is_float() or dtype.is_decimal():
        return "double"
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "datetime"
    if dtype == pl.Time:
        return "time"
    raise SpecError(f"column type {dtype} has no CDISC equivalent")


@dataclass(frozen=True)
class ColumnMeta:
    """Metadata of one variable.

    ``length`` is the SAS storage length in bytes: the declared width of a
    character variable (at least its longest value), 8 for numerics.
    ``display_format`` is the SAS display format (``DATE9.``) when there is one.
    """

    name: str
    label: str = ""
    kind: Kind = "string"
    length: int | None = None
    display_format: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "label": self.label,
            "kind": self.kind,
            "length": self.length,
            "display_format": self.display_format,
        }

    @classmethod
    def from_json(cls, d: dict[str, object]) -> ColumnMeta:
        kind = str(d.get("kind", "string"))
        if kind not in KINDS:
            raise SpecError(f"unknown column kind {kind!r}", expected=", ".join(KINDS))
        length = d.get("length")
        fmt = d.get("display_format")
        return cls(
            name=str(d["name"]),
            label=str(d.get("label") or ""),
            kind=kind,  # type: ignore[arg-type]
            length=int(length) if isinstance(length, int | float) else None,
            display_format=str(fmt) if fmt else None,
        )


@dataclass(frozen=True)
class Dataset:
    """A named CDISC dataset: its rows as a Polars frame and its variables' metadata.

    ``columns`` lists the variables in frame order; construction checks that
    they agree with the frame, so a Dataset is always consistent. ``extra`` is
    free metadata about where the data came from, not compared by ``==``: the
    XPT and CSV readers put the text encoding they used in ``extra["encoding"]``
    (``utf-8``, ``windows-1252``, ``latin-1`` or the encoding given).

    >>> ds = Dataset.from_frame("DM", pl.DataFrame({"USUBJID": ["01-001"], "AGE": [61.0]}))
    >>> [c.kind for c in ds.columns]
    ['string', 'double']
    """

    name: str
    frame: pl.DataFrame
    columns: tuple[ColumnMeta, ...]
    label: str = ""
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if names != self.frame.columns:
            raise SpecError(
                "column metadata does not match the frame",
                dataset=self.name,
                expected=", ".join(self.frame.columns),
                found=", ".join(names),
            )

    @classmethod
    def from_frame(
        cls,
        name: str,
        frame: pl.DataFrame,
        *,
        label: str = "",
        meta: dict[str, ColumnMeta] | None = None,
    ) -> Dataset:
        """Wrap a frame, taking metadata from ``meta`` where given and the dtypes elsewhere."""
        meta = meta or {}
        cols = tuple(
            meta.get(c) or ColumnMeta(name=c, kind=kind_of_polars_type(frame.schema[c]))
            for c in frame.columns
        )
        return cls(name=name.upper(), frame=frame, columns=cols, label=label)

    def column(self, name: str) -> ColumnMeta:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def with_frame(self, frame: pl.DataFrame) -> Dataset:
        """The same metadata over new rows (columns must be unchanged)."""
        return replace(self, frame=frame)

    @property
    def n_rows(self) -> int:
        return self.frame.height

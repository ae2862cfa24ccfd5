"""SAS transport (XPORT) version 5 files, the format FDA requires for submissions.

Reading uses pyreadstat (the ReadStat library), with SAS date, datetime and
time values converted here from the SAS epoch (1960-01-01) according to each
variable's display format. Writing is done here, because the writer must keep
each variable's declared length and display format, which pyreadstat's writer
derives from the data instead. The layout follows the SAS technical note
"The Record Layout of a Data Set in SAS Transport (XPORT) Format" (TS-140):
80-byte records, 140-byte NAMESTR records, numbers as IBM hexadecimal
floating point, character values blank-padded to their length.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from eap.datasets.encoding import (
    LATIN1,
    UTF8,
    WINDOWS_1252,
    has_undefined_cp1252,
    normalize_encoding,
    redecode,
    redecode_text,
)
from eap.datasets.model import ColumnMeta, Dataset, Kind, SasFormat, kind_from_sas_format
from eap.errors import DatasetReadError, DatasetWriteError

LIBRARY_HEADER = b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!" + b"0" * 30 + b"  "
MEMBER_HEADER = (
    b"HEADER RECORD*******MEMBER  HEADER RECORD!!!!!!!" + b"0" * 17 + b"160000000014" + b"0  "
)
DSCRPTR_HEADER = b"HEADER RECORD*******DSCRPTR HEADER RECORD!!!!!!!" + b"0" * 30 + b"  "
OBS_HEADER = b"HEADER RECORD*******OBS     HEADER RECORD!!!!!!!" + b"0" * 30 + b"  "
_MAGIC = LIBRARY_HEADER[:48]

SAS_EPOCH_DAYS = 3653  # days from 1960-01-01 (SAS) to 1970-01-01 (Unix)
SAS_EPOCH_SECONDS = SAS_EPOCH_DAYS * 86400
_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]{0,7}$")
MAX_LABEL = 40
MAX_CHAR_LENGTH = 200


def is_xpt(head: bytes) -> bool:
    """True when the first bytes are an XPORT library header."""
    return head.startswith(_MAGIC)


# --- reading -----------------------------------------------------------------


def read_xpt(path: Path, *, encoding: str | None = None) -> Dataset:
    """Read the one dataset of a version 5 transport file.

    Text is decoded with ``encoding`` when given, otherwise detected (strict
    UTF-8, then Windows-1252, then Latin-1; see :mod:`eap.datasets.encoding`).
    The encoding used is kept as ``Dataset.extra["encoding"]``.

    Raises DatasetReadError naming the file when it is not a transport file,
    holds more than one member, is truncated, or its text is not in the
    encoding given.
    """
    path = Path(path)
    enc = normalize_encoding(encoding, file=path)
    raw = path.read_bytes()
    if not is_xpt(raw[:80]):
        raise DatasetReadError(
            "not a SAS transport (XPT) file",
            file=path,
            expected="an XPORT library header record",
            found=repr(raw[:24]),
        )
    if raw.count(MEMBER_HEADER[:48]) > 1:
        raise DatasetReadError(
            "the transport file holds more than one dataset; eap reads one dataset per file",
            file=path,
        )
    byte_for_byte = enc not in (None, UTF8)
    if not byte_for_byte:
        try:
            pdf, meta = _read_xport(path, None)
        except UnicodeDecodeError:
            byte_for_byte = True  # not UTF-8: read each byte as one character, decide below
    if byte_for_byte:
        try:
            pdf, meta = _read_xport(path, "LATIN1")
        except UnicodeDecodeError as exc:
            # ReadStat decodes some header fields as UTF-8 whatever the encoding given.
            raise DatasetReadError(
                "malformed SAS transport file: a variable's name, label or format is not text",
                file=path,
                expected="text in the variable descriptors (NAMESTR records)",
                found=f"byte 0x{exc.object[exc.start]:02x}",
            ) from exc
    _check_not_truncated(path, raw, meta)
    name = (meta.table_name or path.stem).upper()
    labels = {n: meta.column_names_to_labels.get(n) or "" for n in meta.column_names}
    file_label = meta.file_label or ""
    columns: list[ColumnMeta] = []
    series: list[pl.Series] = []
    for col in meta.column_names:
        fmt = _sas_format_text(meta.original_variable_types.get(col))
        is_char = meta.readstat_variable_types[col] == "string"
        kind: Kind = "string" if is_char else (kind_from_sas_format(fmt) or "double")
        series.append(_from_sas_values(col, pdf[col].to_numpy(), kind))
        columns.append(
            ColumnMeta(
                name=col,
                label=labels[col],
                kind=kind,
                length=int(meta.variable_storage_width[col]),
                display_format=fmt,
            )
        )
    used = UTF8
    if byte_for_byte:
        texts = [s for s in series if s.dtype == pl.String]
        texts.append(pl.Series([file_label, *labels.values()], dtype=pl.String))
        if enc is None:
            undefined = any(has_undefined_cp1252(s) for s in texts)
            used = LATIN1 if undefined else WINDOWS_1252
        else:
            used = enc
        series = [
            redecode(s, used, file=path, dataset=name) if s.dtype == pl.String else s
            for s in series
        ]
        columns = [
            replace(c, label=redecode_text(c.label, used, file=path, what=f"label of {c.name}"))
            for c in columns
        ]
        file_label = redecode_text(file_label, used, file=path, what="dataset label")
    return Dataset(
        name=name,
        frame=pl.DataFrame(series),
        columns=tuple(columns),
        label=file_label,
        extra={"encoding": used},
    )


def _read_xport(path: Path, encoding: str | None) -> tuple[Any, Any]:
    """pyreadstat's reader; ``encoding`` None decodes text as strict UTF-8."""
    import pyreadstat

    try:
        return pyreadstat.read_xport(  # type: ignore[no-any-return]
            str(path), disable_datetime_conversion=True, encoding=encoding
        )
    except UnicodeDecodeError:
        raise
    except Exception as exc:  # ReadStat reports malformed files with its own exceptions
        raise DatasetReadError(f"malformed SAS transport file ({exc})", file=path) from exc


def _sas_format_text(raw: str | None) -> str | None:
    if not raw:
        return None
    try:
        return str(SasFormat.parse(raw))
    except Exception:
        return raw


def _check_not_truncated(path: Path, raw: bytes, meta: Any) -> None:
    """A v5 file has no row count, so a cut inside a row shows as a non-blank partial row."""
    if len(raw) % 80:
        raise DatasetReadError(
            "truncated SAS transport file",
            file=path,
            expected="a size that is a multiple of 80 bytes",
            found=f"{len(raw)} bytes",
        )
    start = raw.find(OBS_HEADER[:48])
    if start < 0:
        raise DatasetReadError("truncated SAS transport file: no observation header", file=path)
    data = raw[start + 80 :]
    row_len = sum(int(meta.variable_storage_width[n]) for n in meta.column_names)
    if row_len == 0:
        return
    rest = data[meta.number_rows * row_len :]
    if len(rest) >= 80 or (rest.strip(b" ") and len(rest) < row_len):
        raise DatasetReadError(
            "truncated SAS transport file: the last observation is incomplete",
            file=path,
            expected=f"whole observations of {row_len} bytes",
            found=f"{len(rest)} trailing bytes",
        )


def _from_sas_values(name: str, values: np.ndarray, kind: Kind) -> pl.Series:
    if kind == "string":
        s = pl.Series(name, values, dtype=pl.String)
        return s.str.strip_chars_end(" ").replace("", None)
    nums = pl.Series(name, values.astype(np.float64), dtype=pl.Float64).fill_nan(None)
    if kind == "date":
        return (nums.round(0) - SAS_EPOCH_DAYS).cast(pl.Int32).cast(pl.Date)
    if kind == "datetime":
        micros = ((nums - SAS_EPOCH_SECONDS) * 1_000_000).round(0).cast(pl.Int64)
        return micros.cast(pl.Datetime("us"))
    if kind == "time":
        return (nums * 1_000_000_000).round(0).cast(pl.Int64).cast(pl.Time)
    return nums


# --- writing -----------------------------------------------------------------


def ieee_to_ibm(values: np.ndarray) -> np.ndarray:
    """IEEE 754 doubles to IBM System/360 double precision, as big-endian uint64 bit patterns.

    NaN becomes the SAS missing value ``.`` (0x2E followed by zeros). The
    conversion is exact: IBM doubles carry 56 mantissa bits, IEEE doubles 53.

    >>> hex(int(ieee_to_ibm(np.array([1.0]))[0]))
    '0x4110000000000000'
    """
    x = np.asarray(values, dtype=np.float64)
    bits = x.view(np.uint64)
    sign = bits >> np.uint64(63)
    exp2 = ((bits >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64) - 1023
    mant = (bits & np.uint64((1 << 52) - 1)) | np.uint64(1 << 52)
    exp16 = -((-(exp2 + 1)) // 4)  # ceil((exp2 + 1) / 4)
    shift = (exp2 + 4 - 4 * exp16).astype(np.uint64)
    m56 = mant << shift
    biased = exp16 + 64
    finite = np.isfinite(x)
    tiny = (x == 0) | (biased < 0)
    if np.any(finite & ~tiny & (biased > 127)):
        raise DatasetWriteError("a number is too large for SAS (|x| >= 16**63)")
    out = (sign << np.uint64(63)) | (np.clip(biased, 0, 127).astype(np.uint64) << np.uint64(56))
    out = out | m56
    out = np.where(tiny, np.uint64(0), out)
    return np.where(np.isnan(x), np.uint64(0x2E << 56), out).astype(np.uint64)


def _sas_timestamp(when: datetime) -> bytes:
    return when.strftime("%d%b%y:%H:%M:%S").upper().encode("ascii")


def _created() -> datetime:
    # SOURCE_DATE_EPOCH makes output byte-for-byte reproducible (reproducible-builds.org).
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return datetime.fromtimestamp(int(epoch), tz=UTC)
    return datetime.now(tz=UTC)


def _pad(text: str, width: int, *, what: str, ds: str, var: str | None = None) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > width:
        raise DatasetWriteError(
            f"{what} is too long for SAS transport version 5",
            dataset=ds,
            variable=var,
            expected=f"at most {width} bytes",
            found=f"{len(raw)} bytes: {text!r}",
        )
    return raw.ljust(width, b" ")


def _sas_numbers(s: pl.Series, kind: Kind) -> np.ndarray:
    if kind == "date":
        days = s.cast(pl.Int32).cast(pl.Float64) + SAS_EPOCH_DAYS
        return days.fill_null(np.nan).to_numpy()
    if kind == "datetime":
        micros = s.cast(pl.Datetime("us")).dt.epoch("us").cast(pl.Float64)
        return (micros / 1_000_000 + SAS_EPOCH_SECONDS).fill_null(np.nan).to_numpy()
    if kind == "time":
        nanos = s.cast(pl.Int64).cast(pl.Float64)
        return (nanos / 1_000_000_000).fill_null(np.nan).to_numpy()
    return s.cast(pl.Float64).fill_null(np.nan).fill_nan(np.nan).to_numpy()


def _char_length(ds: Dataset, col: ColumnMeta) -> int:
    s = ds.frame[col.name]
    lengths = s.str.len_bytes().fill_null(0) if s.dtype == pl.String else pl.Series([0])
    longest = int(lengths.max() or 0)  # type: ignore[arg-type]
    length = col.length or max(longest, 1)
    if longest > length:
        rows = (s.str.len_bytes() > length).arg_true().to_list()
        raise DatasetWriteError(
            "value longer than the variable's length",
            dataset=ds.name,
            variable=col.name,
            rows=[r + 1 for r in rows],
            expected=f"at most {length} bytes",
            found=f"{longest} bytes",
        )
    if length > MAX_CHAR_LENGTH:
        raise DatasetWriteError(
            "character variable too long for SAS transport version 5",
            dataset=ds.name,
            variable=col.name,
            expected=f"at most {MAX_CHAR_LENGTH} bytes",
            found=f"{length}",
        )
    return length


def write_xpt(ds: Dataset, path: Path) -> None:
    """Write ``ds`` as a version 5 transport file at ``path`` (not atomic; see io.write_dataset)."""
    if not _NAME_RE.match(ds.name):
        raise DatasetWriteError(
            "dataset name not valid in SAS transport version 5",
            dataset=ds.name,
            expected="1-8 characters A-Z, 0-9 or _, not starting with a digit",
            found=repr(ds.name),
        )
    if not ds.columns:
        raise DatasetWriteError("a dataset needs at least one variable", dataset=ds.name)
    when = _sas_timestamp(_created())
    head = [
        LIBRARY_HEADER,
        b"SAS     SAS     SASLIB  9.4     Linux   " + b" " * 24 + when,
        when + b" " * 64,
        MEMBER_HEADER,
        DSCRPTR_HEADER,
        b"SAS     " + _pad(ds.name, 8, what="name", ds=ds.name) + b"SASDATA 9.4     Linux   "
        b"" + b" " * 24 + when,
        when + b" " * 16 + _pad(ds.label, MAX_LABEL, what="label", ds=ds.name) + b" " * 8,
        b"HEADER RECORD*******NAMESTR HEADER RECORD!!!!!!!000000"
        + f"{len(ds.columns):04d}".encode()
        + b"0" * 20
        + b"  ",
    ]
    namestrs = b""
    fields: list[tuple[str, np.ndarray, int]] = []
    position = 0
    for number, col in enumerate(ds.columns, start=1):
        if not _NAME_RE.match(col.name):
            raise DatasetWriteError(
                "variable name not valid in SAS transport version 5",
                dataset=ds.name,
                variable=col.name,
                expected="1-8 characters A-Z, 0-9 or _, not starting with a digit",
            )
        s = ds.frame[col.name]
        if col.kind == "string":
            length = _char_length(ds, col)
            encoded = s.fill_null("").cast(pl.Binary).to_numpy()
            values = (
                np.char.ljust(np.asarray(encoded, dtype=f"S{length}"), length, b" ")
                if len(encoded)
                else np.zeros(0, dtype=f"S{length}")
            )
            fields.append((f"S{length}", values, length))
        else:
            length = min(max(col.length or 8, 3), 8)
            ibm = ieee_to_ibm(_sas_numbers(s, col.kind)).astype(">u8").view(np.uint8)
            fields.append((f"({length},)u1", ibm.reshape(-1, 8)[:, :length], length))
        fmt = SasFormat.parse(col.display_format) if col.display_format else None
        namestrs += struct.pack(
            ">hhhh8s40s8shhh2s8shhi52s",
            2 if col.kind == "string" else 1,
            0,
            length,
            number,
            _pad(col.name, 8, what="name", ds=ds.name, var=col.name),
            _pad(col.label, MAX_LABEL, what="label", ds=ds.name, var=col.name),
            (fmt.name if fmt else "").encode("ascii").ljust(8, b" "),
            fmt.width if fmt else 0,
            fmt.decimals if fmt else 0,
            0,
            b"\0\0",
            b" " * 8,
            0,
            0,
            position,
            b"\0" * 52,
        )
        position += length
    namestrs += b" " * (-len(namestrs) % 80)
    rows = np.zeros(ds.n_rows, dtype=[(f"f{i}", f[0]) for i, f in enumerate(fields)])
    for i, (_, values, _) in enumerate(fields):
        rows[f"f{i}"] = values
    body = rows.tobytes()
    body += b" " * (-len(body) % 80)
    with open(path, "wb") as fh:
        fh.write(b"".join(head) + namestrs + OBS_HEADER + body)

"""Read and write datasets in every format eap supports, chosen by file extension.

===========  ===========  =====================================================
extension    read/write   notes
===========  ===========  =====================================================
.xpt         both         SAS transport v5; labels, lengths, formats kept
.sas7bdat    read         SAS binary datasets
.parquet     both         metadata kept in the file's key-value metadata
.json        both         CDISC Dataset-JSON 1.1, schema-checked on read
.csv         both         values only; types from the dataset specification
===========  ===========  =====================================================

XPT and CSV text is read as UTF-8, Windows-1252 or Latin-1, detected or as
given (:mod:`eap.datasets.encoding`); eap writes UTF-8.

Before parsing, the first bytes are compared with the extension, so a
Parquet file named ``ae.xpt`` is reported as such instead of as garbage.
Writes are atomic (see :mod:`eap.datasets.atomic`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Literal

import polars as pl

from eap.datasets import specs
from eap.datasets.atomic import write_atomic
from eap.datasets.csvfile import read_csv, write_csv
from eap.datasets.datasetjson import looks_like_json, read_dataset_json, write_dataset_json
from eap.datasets.encoding import normalize_encoding
from eap.datasets.model import ColumnMeta, Dataset
from eap.datasets.parquet import is_parquet, read_parquet, write_parquet, write_parquet_parts
from eap.datasets.sas7bdat import is_sas7bdat, read_sas7bdat
from eap.datasets.xpt import is_xpt, read_xpt, write_xpt
from eap.errors import DatasetReadError, DatasetWriteError

Format = Literal["xpt", "sas7bdat", "parquet", "json", "csv"]
EXTENSIONS: dict[str, Format] = {
    ".xpt": "xpt",
    ".sas7bdat": "sas7bdat",
    ".parquet": "parquet",
    ".json": "json",
    ".csv": "csv",
}
WRITABLE: tuple[Format, ...] = ("xpt", "parquet", "json", "csv")
_DESCRIPTION = {
    "xpt": "SAS transport (XPT)",
    "sas7bdat": "SAS7BDAT",
    "parquet": "Parquet",
    "json": "JSON",
    "csv": "CSV text",
}


def format_of(path: Path) -> Format:
    """The format implied by the file's extension."""
    fmt = EXTENSIONS.get(Path(path).suffix.lower())
    if fmt is None:
        raise DatasetReadError(
            "unknown dataset file extension",
            file=path,
            expected=", ".join(EXTENSIONS),
            found=repr(Path(path).suffix),
        )
    return fmt


def sniff(head: bytes) -> Format | None:
    """The format the content looks like, from its first bytes (None for unrecognised)."""
    if is_xpt(head):
        return "xpt"
    if is_parquet(head):
        return "parquet"
    if is_sas7bdat(head):
        return "sas7bdat"
    if looks_like_json(head):
        return "json"
    if b"\x00" not in head:
        return "csv"
    return None


def read_dataset(
    path: Path | str, *, typed_by_spec: bool = True, encoding: str | None = None
) -> Dataset:
    """Read one dataset file; ``typed_by_spec`` makes declared integer variables Int64.

    ``encoding`` is the text encoding of an XPT or CSV file (any name Python
    knows: ``utf-8``, ``windows-1252``, ``latin-1`` ...); None detects it (strict
    UTF-8, then Windows-1252, then Latin-1). SAS7BDAT files name their own
    encoding and Parquet and Dataset-JSON are UTF-8 by definition, so it is not
    used for them. An unknown name is a DatasetReadError whatever the format.

    >>> ds = read_dataset("tests/data/cdisc_pilot/sdtm/dm.xpt")  # from a clone of eap
    >>> ds.name, ds.n_rows
    ('DM', 306)
    """
    path = Path(path)
    encoding = normalize_encoding(encoding, file=path)
    if not path.is_file():
        raise DatasetReadError("no such file", file=path)
    fmt = format_of(path)
    with open(path, "rb") as fh:
        head = fh.read(512)
    if not head:
        raise DatasetReadError("the file is empty", file=path)
    content = sniff(head)
    text_ok = fmt == "csv" and content == "csv"
    if content != fmt and not text_ok:
        raise DatasetReadError(
            f"content is not what the extension says: the name ends in {path.suffix} "
            f"but the content looks like {_DESCRIPTION.get(content or '', 'binary data')}",
            file=path,
        )
    readers: dict[Format, Callable[[Path], Dataset]] = {
        "xpt": lambda p: read_xpt(p, encoding=encoding),
        "sas7bdat": read_sas7bdat,
        "parquet": read_parquet,
        "json": read_dataset_json,
        "csv": lambda p: read_csv(p, kinds=_spec_kinds(p.stem), encoding=encoding),
    }
    ds = readers[fmt](path)
    return apply_spec_types(ds) if typed_by_spec else ds


def _spec_kinds(name: str) -> dict[str, specs.Kind]:
    spec = specs.get(name.upper())
    return {v.name: v.kind for v in spec.variables} if spec else {}


def integer_candidates(name: str, columns: Sequence[ColumnMeta]) -> list[str]:
    """The double variables of dataset ``name`` that its specification declares integer."""
    spec = specs.get(name)
    if spec is None:
        return []
    out = []
    for col in columns:
        var = spec.variable(col.name)
        if var is not None and var.kind == "integer" and col.kind == "double":
            out.append(col.name)
    return out


def whole_numbers(column: str) -> pl.Expr:
    """True when every value of ``column`` is a whole number (or there is none)."""
    values = pl.col(column).drop_nulls()
    return ((values == values.round(0)).all() | (values.len() == 0)).alias(column)


def apply_spec_types(ds: Dataset) -> Dataset:
    """Make numeric variables the specification declares as integer Int64 (when all are whole)."""
    candidates = integer_candidates(ds.name, ds.columns)
    if not candidates:
        return ds
    whole = ds.frame.select(whole_numbers(c) for c in candidates)
    # Not all whole: left as double; validation reports the wrong type.
    integers = [c for c in candidates if whole[c][0]]
    if not integers:
        return ds
    metas = tuple(
        ColumnMeta(c.name, c.label, "integer", c.length, c.display_format)
        if c.name in integers
        else c
        for c in ds.columns
    )
    return Dataset(
        name=ds.name,
        frame=ds.frame.with_columns(pl.col(c).cast(pl.Int64) for c in integers),
        columns=metas,
        label=ds.label,
        extra=dict(ds.extra),
    )


def write_dataset(ds: Dataset, path: Path | str, *, format: Format | None = None) -> Path:
    """Write ``ds`` atomically; the format comes from ``format`` or the extension."""
    path = Path(path)
    fmt = format or format_of(path)
    if fmt not in WRITABLE:
        raise DatasetWriteError(
            f"eap cannot write {fmt} files", file=path, expected=", ".join(WRITABLE)
        )
    spec = specs.get(ds.name)
    keys = spec.keys if spec else ()
    writers: dict[Format, Callable[[Path], None]] = {
        "xpt": lambda p: write_xpt(ds, p),
        "parquet": lambda p: write_parquet(ds, p),
        "json": lambda p: write_dataset_json(ds, p, keys=keys),
        "csv": lambda p: write_csv(ds, p),
    }
    _write_named(path, writers[fmt])
    return path


def _write_named(path: Path, write: Callable[[Path], None]) -> None:
    """``write`` atomically to ``path``; a write error names ``path``, not the
    temporary file, when the writer named none."""
    try:
        write_atomic(path, write)
    except DatasetWriteError as exc:
        if exc.file is None:
            raise type(exc)(
                exc.problem,
                file=path,
                dataset=exc.dataset,
                variable=exc.variable,
                rows=exc.rows,
                expected=exc.expected,
                found=exc.found,
            ) from exc
        raise


def write_dataset_parts(parts: Iterable[Dataset], path: Path | str) -> tuple[Dataset, int]:
    """Write one dataset given in parts (batches of subjects, in order) as one Parquet
    file, atomically, holding one part at a time (:func:`write_parquet_parts`): the
    dataset's variables and metadata with no rows, and how many records were written."""
    path = Path(path)
    written: list[tuple[Dataset, int]] = []
    _write_named(path, lambda p: written.append(write_parquet_parts(parts, p)))
    return written[0]


# Files eap writes beside datasets that are not datasets: the run log (eap.runlog) and
# the table of ADTTE's censoring reasons that `eap derive` writes beside the ADaM.
NOT_DATASETS = frozenset({"run_log.json", "adtte_censoring.csv"})


def dataset_files(folder: Path | str) -> list[Path]:
    """The dataset files in a folder (by extension), sorted by name; what ``eap derive``
    writes beside its datasets (:data:`NOT_DATASETS`) is not one."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetReadError("no such folder", file=folder)
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in EXTENSIONS and p.name.lower() not in NOT_DATASETS
    )


def read_folder(folder: Path | str, *, encoding: str | None = None) -> dict[str, Dataset]:
    """Every dataset in a folder, by dataset name; two files for one dataset are an error.

    ``encoding`` applies to every XPT and CSV file (see :func:`read_dataset`).
    """
    encoding = normalize_encoding(encoding)
    out: dict[str, Dataset] = {}
    origin: dict[str, Path] = {}
    for path in dataset_files(folder):
        ds = read_dataset(path, encoding=encoding)
        if ds.name in out:
            raise DatasetReadError(
                f"two files hold dataset {ds.name}: {origin[ds.name].name} and {path.name}",
                file=folder,
            )
        out[ds.name] = ds
        origin[ds.name] = path
    return out

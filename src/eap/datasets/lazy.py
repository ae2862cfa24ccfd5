"""Datasets read from their files when they are used, so that a run holds at most the
datasets (and columns) it is working on, never a whole folder.

:class:`LazyDatasets` is a mapping of dataset name to :class:`~eap.datasets.model.Dataset`
like the dict :func:`eap.datasets.validate.read_datasets` gives, except that a dataset
from a Parquet file is not kept: each lookup reads it again from its file (and the
caller's copy is freed when the caller lets go of it), and :meth:`LazyDatasets.scan`
gives its rows as a Polars LazyFrame, so that a derivation reads only the columns and
rows its rules use. Datasets of other formats (XPT, SAS7BDAT, CSV, Dataset-JSON) are read
once and held: they are small in practice, and their readers need the whole file.

What a lookup and a scan give is what :func:`eap.datasets.io.read_dataset` gives for the
file: the same values, types and metadata (numeric variables the specification declares
integer read as Int64 when every value is whole).
"""

from __future__ import annotations

import itertools
from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

import polars as pl

from eap.datasets.io import integer_candidates, whole_numbers
from eap.datasets.model import ColumnMeta, Dataset
from eap.datasets.parquet import parquet_header, scan_parquet
from eap.errors import DatasetReadError

# Subjects checked or derived at a time when a large study is worked on in batches
# (:class:`Subjects`): about 1 GB for ADAE at MM-024's rate of adverse events.
BATCH_SUBJECTS = 100_000


@dataclass(frozen=True)
class ParquetSource:
    """A Parquet dataset file, its metadata, and the variables read as Int64."""

    path: Path
    name: str
    label: str
    columns: tuple[ColumnMeta, ...]
    schema: pl.Schema
    integers: tuple[str, ...] = field(default=())

    @classmethod
    def of(cls, path: Path, ds: Dataset) -> ParquetSource:
        """The source of ``ds`` just written to ``path`` (its metadata kept, not read)."""
        return cls(Path(path), ds.name, ds.label, ds.columns, ds.frame.schema)

    @classmethod
    def open(cls, path: Path) -> ParquetSource:
        """The file's header, and which of its double variables the specification
        declares integer and hold only whole numbers (one pass over those columns)."""
        name, label, columns, schema = parquet_header(path)
        candidates = integer_candidates(name, columns)
        integers: tuple[str, ...] = ()
        if candidates:
            try:
                whole = scan_parquet(path).select(whole_numbers(c) for c in candidates).collect()
            except Exception as exc:  # Polars raises its own errors for damaged files
                raise DatasetReadError(f"malformed Parquet file ({exc})", file=path) from exc
            integers = tuple(c for c in candidates if whole[c][0])
        metas = tuple(
            ColumnMeta(c.name, c.label, "integer", c.length, c.display_format)
            if c.name in integers
            else c
            for c in columns
        )
        typed = pl.Schema({c: pl.Int64() if c in integers else t for c, t in schema.items()})
        return cls(Path(path), name, label, metas, typed, integers)

    def scan(self, row_index: str | None = None) -> pl.LazyFrame:
        frame = scan_parquet(self.path, row_index)
        if self.integers:
            frame = frame.with_columns(pl.col(c).cast(pl.Int64) for c in self.integers)
        return frame

    def read(self) -> Dataset:
        try:
            frame = self.scan().collect()
        except Exception as exc:  # Polars raises its own errors for damaged files
            raise DatasetReadError(f"malformed Parquet file ({exc})", file=self.path) from exc
        return Dataset(name=self.name, frame=frame, columns=self.columns, label=self.label)


class LazyDatasets(Mapping[str, Dataset]):
    """Datasets by name: ``held`` in memory, ``sources`` read from Parquet on each use.

    ``order`` is the order of iteration (the files' order); by default the held
    datasets, then the sources.
    """

    def __init__(
        self,
        held: Mapping[str, Dataset],
        sources: Mapping[str, ParquetSource],
        order: Sequence[str] | None = None,
    ) -> None:
        self._held = dict(held)
        self._sources = {n: s for n, s in sources.items() if n not in self._held}
        names = list(order) if order is not None else [*self._held, *self._sources]
        self._order = [n for n in names if n in self._held or n in self._sources]

    def __getitem__(self, name: str) -> Dataset:
        if name in self._held:
            return self._held[name]
        return self._sources[name].read()

    def __iter__(self) -> Iterator[str]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, name: object) -> bool:
        return name in self._held or name in self._sources

    def scan(self, name: str, row_index: str | None = None) -> pl.LazyFrame:
        """The dataset's rows, lazily: a Parquet file scanned, a held dataset's frame;
        ``row_index`` names a first column of 1-based row numbers."""
        if name in self._held:
            return _numbered(self._held[name].frame.lazy(), row_index)
        return self._sources[name].scan(row_index)

    def schema(self, name: str) -> pl.Schema:
        """The dataset's column names and types, without reading its rows."""
        if name in self._held:
            return self._held[name].frame.schema
        return self._sources[name].schema

    def file(self, name: str) -> Path | None:
        """The Parquet file the dataset is read from on each use; None when held."""
        source = None if name in self._held else self._sources.get(name)
        return source.path if source else None

    def reads_from_file(self, name: str) -> bool:
        """True when the dataset is read from its Parquet file on each use."""
        return name in self._sources and name not in self._held

    def header(self, name: str) -> Dataset:
        """The dataset with its variables and metadata but no rows (nothing read)."""
        if name in self._held:
            ds = self._held[name]
            return replace(ds, frame=ds.frame.clear())
        source = self._sources[name]
        frame = pl.DataFrame(schema=source.schema)
        return Dataset(name=source.name, frame=frame, columns=source.columns, label=source.label)

    def replaced(self, changes: Mapping[str, Dataset]) -> LazyDatasets:
        """The same datasets with ``changes`` held in place of (or beside) the others."""
        order = self._order + [n for n in changes if n not in self._order]
        return LazyDatasets({**self._held, **changes}, self._sources, order)


@runtime_checkable
class Scannable(Protocol):
    """Datasets that give a dataset's rows lazily and its header without reading it:
    :class:`LazyDatasets` and the views over datasets (:class:`Projected`,
    :class:`Subjects`)."""

    def scan(self, name: str, row_index: str | None = None) -> pl.LazyFrame: ...

    def schema(self, name: str) -> pl.Schema: ...

    def header(self, name: str) -> Dataset: ...


def scan(datasets: Mapping[str, Dataset], name: str, row_index: str | None = None) -> pl.LazyFrame:
    """A dataset's rows as a LazyFrame, from its file when ``datasets`` reads lazily;
    ``row_index`` names a first column of 1-based row numbers in the whole dataset."""
    if isinstance(datasets, Scannable):
        return datasets.scan(name, row_index)
    return _numbered(datasets[name].frame.lazy(), row_index)


def _numbered(frame: pl.LazyFrame, row_index: str | None) -> pl.LazyFrame:
    return frame if row_index is None else frame.with_row_index(row_index, offset=1)


def schema(datasets: Mapping[str, Dataset], name: str) -> pl.Schema:
    """A dataset's column names and types, without reading its rows when it is lazy."""
    if isinstance(datasets, Scannable):
        return datasets.schema(name)
    return datasets[name].frame.schema


def header(datasets: Mapping[str, Dataset], name: str) -> Dataset:
    """A dataset's variables and metadata with no rows, without reading it when lazy."""
    if isinstance(datasets, Scannable):
        return datasets.header(name)
    ds = datasets[name]
    return replace(ds, frame=ds.frame.clear())


def _collect(datasets: Mapping[str, Dataset], name: str, frame: pl.LazyFrame) -> pl.DataFrame:
    """``frame`` (a scan of dataset ``name``) collected; a damaged file named."""
    try:
        return frame.collect()
    except Exception as exc:  # Polars raises its own errors for damaged files
        path = file_of(datasets, name)
        if path is None:
            raise
        raise DatasetReadError(f"malformed Parquet file ({exc})", file=path) from exc


def file_of(datasets: Mapping[str, Dataset], name: str) -> Path | None:
    """The Parquet file a lazy dataset is read from, through any views (None: held)."""
    if isinstance(datasets, _View):
        return file_of(datasets._datasets, name)
    if isinstance(datasets, LazyDatasets):
        return datasets.file(name)
    return None


def columns(datasets: Mapping[str, Dataset], name: str) -> list[str]:
    """A dataset's column names, without reading its rows when it is lazy."""
    return list(schema(datasets, name).names())


def replaced(
    datasets: Mapping[str, Dataset], changes: Mapping[str, Dataset]
) -> Mapping[str, Dataset]:
    """``datasets`` with ``changes`` in place; lazy datasets stay lazy."""
    if isinstance(datasets, LazyDatasets):
        return datasets.replaced(changes)
    return {**datasets, **changes}


class _View(Mapping[str, Dataset]):
    """A view of other datasets: a lookup is the view's header and its scan, collected."""

    _datasets: Mapping[str, Dataset]

    @abstractmethod
    def scan(self, name: str, row_index: str | None = None) -> pl.LazyFrame:
        """The view's rows of dataset ``name``, lazily."""

    @abstractmethod
    def header(self, name: str) -> Dataset:
        """The view's variables of dataset ``name`` and their metadata, with no rows."""

    def __getitem__(self, name: str) -> Dataset:
        if name not in self._datasets:
            raise KeyError(name)
        empty = self.header(name)
        return replace(empty, frame=_collect(self, name, self.scan(name)))

    def __iter__(self) -> Iterator[str]:
        return iter(self._datasets)

    def __len__(self) -> int:
        return len(self._datasets)

    def __contains__(self, name: object) -> bool:
        return name in self._datasets


class Projected(_View):
    """A view of ``datasets`` whose lookups hold only the variables ``wanted(name,
    variables)`` names (those the dataset has, in its order), all rows in their order, so that a
    check reading a few variables of a lazy dataset reads only those. Datasets held in
    memory are cut to the same variables, so that a check sees the same either way."""

    def __init__(
        self,
        datasets: Mapping[str, Dataset],
        wanted: Callable[[str, Sequence[str]], Iterable[str]],
    ) -> None:
        self._datasets = datasets
        self._wanted = wanted

    def _keep(self, name: str) -> list[str]:
        given = columns(self._datasets, name)
        wanted = set(self._wanted(name, given))
        return [c for c in given if c in wanted]

    def scan(self, name: str, row_index: str | None = None) -> pl.LazyFrame:
        """The dataset's rows, lazily, with only the variables of the view."""
        kept = self._keep(name) if row_index is None else [row_index, *self._keep(name)]
        return scan(self._datasets, name, row_index).select(kept)

    def schema(self, name: str) -> pl.Schema:
        """The view's variables of the dataset and their types, without reading rows."""
        given = schema(self._datasets, name)
        return pl.Schema({c: given[c] for c in self._keep(name)})

    def header(self, name: str) -> Dataset:
        """The view's variables of the dataset and their metadata, with no rows."""
        given = header(self._datasets, name)
        wanted = set(self._keep(name))
        metas = tuple(c for c in given.columns if c.name in wanted)
        return replace(given, frame=given.frame.select(self._keep(name)), columns=metas)


class Subjects(_View):
    """A view of ``datasets`` holding only the records of the subjects whose USUBJID is
    at least ``start`` and less than ``stop`` (text in the byte order Polars sorts it by;
    None: no bound, and the records without USUBJID go with ``start`` None), so that a
    derivation made subject by subject can run on a batch of subjects at a time. A
    dataset without USUBJID is given whole. ``row_numbers``, when given, names a
    variable the view adds last: each record's 1-based row number in the whole dataset
    (UInt32), so that a check run on the view names the rows the dataset has.

    >>> import polars as pl
    >>> ae = Dataset.from_frame("AE", pl.DataFrame({"USUBJID": ["A", "B", "C"]}))
    >>> Subjects({"AE": ae}, "B", None)["AE"].frame["USUBJID"].to_list()
    ['B', 'C']
    """

    def __init__(
        self,
        datasets: Mapping[str, Dataset],
        start: str | None,
        stop: str | None,
        *,
        row_numbers: str | None = None,
    ) -> None:
        self._datasets = datasets
        self.start = start
        self.stop = stop
        self.row_numbers = row_numbers

    def rows(self) -> pl.Expr:
        """True for a record of the view's subjects."""
        usubjid = pl.col("USUBJID")
        if self.start is None:
            within = usubjid.is_null() | (usubjid < self.stop if self.stop is not None else True)
        else:
            within = usubjid >= self.start
            if self.stop is not None:
                within = within & (usubjid < self.stop)
        return within.fill_null(False)

    def scan(self, name: str, row_index: str | None = None) -> pl.LazyFrame:
        """The dataset's records of the view's subjects, lazily (numbered by the file's
        reader, so that the filter is still applied as the file is read)."""
        numbers = row_index or self.row_numbers
        frame = scan(self._datasets, name, numbers)
        if "USUBJID" in schema(self._datasets, name):
            frame = frame.filter(self.rows())
        if self.row_numbers is not None and row_index is None:
            frame = frame.select(pl.all().exclude(self.row_numbers), self.row_numbers)
        return frame

    def schema(self, name: str) -> pl.Schema:
        given = schema(self._datasets, name)
        if self.row_numbers is None:
            return given
        return pl.Schema({**given, self.row_numbers: pl.UInt32()})

    def header(self, name: str) -> Dataset:
        given = header(self._datasets, name)
        if self.row_numbers is None:
            return given
        number = ColumnMeta(self.row_numbers, "Row number", "integer")
        frame = pl.DataFrame(schema=self.schema(name))
        return replace(given, frame=frame, columns=(*given.columns, number))


def subject_batches(usubjids: pl.Series, size: int) -> list[tuple[str | None, str | None]]:
    """Half-open USUBJID ranges (start, stop) of about ``size`` subjects each, covering
    every text: the first starts at None, the last stops at None (see :class:`Subjects`).

    >>> subject_batches(pl.Series(["C", "A", "B", "D", "E"]), 2)
    [(None, 'C'), ('C', 'E'), ('E', None)]
    """
    ordered = usubjids.drop_nulls().unique().sort()
    starts = ordered.gather_every(size).to_list()[1:]
    bounds: list[str | None] = [None, *starts, None]
    return list(itertools.pairwise(bounds))

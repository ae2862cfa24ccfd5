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

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl

from eap.datasets.io import integer_candidates, whole_numbers
from eap.datasets.model import ColumnMeta, Dataset
from eap.datasets.parquet import parquet_header, scan_parquet
from eap.errors import DatasetReadError


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

    def scan(self) -> pl.LazyFrame:
        frame = scan_parquet(self.path)
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

    def scan(self, name: str) -> pl.LazyFrame:
        """The dataset's rows, lazily: a Parquet file scanned, a held dataset's frame."""
        if name in self._held:
            return self._held[name].frame.lazy()
        return self._sources[name].scan()

    def schema(self, name: str) -> pl.Schema:
        """The dataset's column names and types, without reading its rows."""
        if name in self._held:
            return self._held[name].frame.schema
        return self._sources[name].schema

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


def scan(datasets: Mapping[str, Dataset], name: str) -> pl.LazyFrame:
    """A dataset's rows as a LazyFrame, from its file when ``datasets`` reads lazily."""
    if isinstance(datasets, LazyDatasets | Projected):
        return datasets.scan(name)
    return datasets[name].frame.lazy()


def schema(datasets: Mapping[str, Dataset], name: str) -> pl.Schema:
    """A dataset's column names and types, without reading its rows when it is lazy."""
    if isinstance(datasets, LazyDatasets | Projected):
        return datasets.schema(name)
    return datasets[name].frame.schema


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


class Projected(Mapping[str, Dataset]):
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

    def scan(self, name: str) -> pl.LazyFrame:
        """The dataset's rows, lazily, with only the variables of the view."""
        return scan(self._datasets, name).select(self._keep(name))

    def schema(self, name: str) -> pl.Schema:
        """The view's variables of the dataset and their types, without reading rows."""
        given = schema(self._datasets, name)
        return pl.Schema({c: given[c] for c in self._keep(name)})

    def __getitem__(self, name: str) -> Dataset:
        if name not in self._datasets:
            raise KeyError(name)
        keep = self._keep(name)
        wanted = set(keep)
        if isinstance(self._datasets, LazyDatasets) and name in self._datasets._sources:
            source = self._datasets._sources[name]
            try:
                frame = source.scan().select(keep).collect()
            except Exception as exc:  # Polars raises its own errors for damaged files
                raise DatasetReadError(f"malformed Parquet file ({exc})", file=source.path) from exc
            metas = tuple(c for c in source.columns if c.name in wanted)
            return Dataset(name=source.name, frame=frame, columns=metas, label=source.label)
        ds = self._datasets[name]
        metas = tuple(c for c in ds.columns if c.name in wanted)
        return replace(ds, frame=ds.frame.select(keep), columns=metas)

    def __iter__(self) -> Iterator[str]:
        return iter(self._datasets)

    def __len__(self) -> int:
        return len(self._datasets)

    def __contains__(self, name: object) -> bool:
        return name in self._datasets

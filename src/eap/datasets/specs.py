"""Typed access to the dataset specifications in ``specs.toml``.

The TOML file is the single declaration of every dataset eap knows: its
variables (label, kind, core), keys, controlled terms and start/end date
pairs. This module loads it once, checks it is self-consistent, and answers
questions about it.

>>> get("AE").keys
('USUBJID', 'AESEQ')
>>> codelist("TOXGR").terms
('1', '2', '3', '4', '5')
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

import polars as pl

from eap.datasets.model import KINDS, ColumnMeta, Dataset, Kind
from eap.errors import SpecError

__all__ = [
    "Codelist",
    "DatasetSpec",
    "Kind",
    "Variable",
    "all_specs",
    "codelist",
    "get",
    "known_label",
    "spec_dataset",
]

Core = Literal["Req", "Exp", "Perm", "Cond"]
Standard = Literal["SDTM", "ADaM"]
_CORES = ("Req", "Exp", "Perm", "Cond")


@dataclass(frozen=True)
class Codelist:
    """Controlled terms; a value outside a non-extensible list is an error, else a warning."""

    name: str
    terms: tuple[str, ...]
    extensible: bool
    c_code: str | None = None
    description: str = ""


@dataclass(frozen=True)
class Variable:
    name: str
    label: str
    kind: Kind
    core: Core
    codelist: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    standard: Standard
    label: str
    keys: tuple[str, ...]
    variables: tuple[Variable, ...]
    date_pairs: tuple[tuple[str, str], ...] = ()
    one_record_per_subject: bool = False
    # ADaM: define.xml 2.1's def:Class, def:SubClass and def:Structure.
    adam_class: str | None = None
    adam_subclass: str | None = None
    structure: str | None = None

    def variable(self, name: str) -> Variable | None:
        for v in self.variables:
            if v.name == name:
                return v
        return None

    @property
    def required(self) -> tuple[Variable, ...]:
        return tuple(v for v in self.variables if v.core == "Req")


@dataclass(frozen=True)
class Specs:
    datasets: dict[str, DatasetSpec]
    codelists: dict[str, Codelist]


def _variable(ds: str, row: list[Any]) -> Variable:
    if not 4 <= len(row) <= 5:
        raise SpecError(
            "a variable row needs [NAME, label, kind, core] and an optional codelist",
            dataset=ds,
            found=repr(row),
        )
    name, label, kind, core = row[:4]
    if kind not in KINDS:
        raise SpecError(
            "unknown kind", dataset=ds, variable=name, expected=", ".join(KINDS), found=kind
        )
    if core not in _CORES:
        raise SpecError(
            "unknown core", dataset=ds, variable=name, expected=", ".join(_CORES), found=core
        )
    return Variable(name, label, kind, core, row[4] if len(row) == 5 else None)


def parse_specs(doc: dict[str, Any]) -> Specs:
    """Build and cross-check the specification objects from the parsed TOML document."""
    codelists = {
        name: Codelist(
            name=name,
            terms=tuple(str(t) for t in body["terms"]),
            extensible=bool(body["extensible"]),
            c_code=body.get("c_code"),
            description=body.get("description", ""),
        )
        for name, body in doc.get("codelists", {}).items()
    }
    datasets: dict[str, DatasetSpec] = {}
    for name, body in doc.get("datasets", {}).items():
        variables = tuple(_variable(name, row) for row in body["variables"])
        spec = DatasetSpec(
            name=name,
            standard=body["standard"],
            label=body["label"],
            keys=tuple(body["keys"]),
            variables=variables,
            date_pairs=tuple((a, b) for a, b in body.get("date_pairs", [])),
            one_record_per_subject=bool(body.get("one_record_per_subject", False)),
            adam_class=body.get("class"),
            adam_subclass=body.get("subclass"),
            structure=body.get("structure"),
        )
        declared = {v.name for v in variables}
        if len(declared) != len(variables):
            raise SpecError("a variable is declared twice", dataset=name)
        for ref in (*spec.keys, *(x for pair in spec.date_pairs for x in pair)):
            if ref not in declared:
                raise SpecError(
                    "key or date pair names an undeclared variable", dataset=name, variable=ref
                )
        for v in variables:
            if v.codelist and v.codelist not in codelists:
                raise SpecError("unknown codelist", dataset=name, variable=v.name, found=v.codelist)
        datasets[name] = spec
    return Specs(datasets=datasets, codelists=codelists)


@cache
def _load() -> Specs:
    text = resources.files("eap.datasets").joinpath("specs.toml").read_text(encoding="utf-8")
    return parse_specs(tomllib.loads(text))


def get(name: str) -> DatasetSpec | None:
    """The specification of a dataset by name (case-insensitive), or None if eap has none."""
    return _load().datasets.get(name.upper())


def codelist(name: str) -> Codelist:
    try:
        return _load().codelists[name]
    except KeyError:
        raise SpecError("unknown codelist", found=name) from None


def all_specs() -> dict[str, DatasetSpec]:
    return dict(_load().datasets)


def known_label(variable: str) -> str | None:
    """The label of ``variable`` in the first specification that declares it, ADaM
    datasets before SDTM domains, each in specs.toml's order (TRTSDT: ADSL's; AELLT:
    AE's); None when none does.

    >>> known_label("TRTSDT"), known_label("XBARE")
    ('Date of First Exposure to Treatment', None)
    """
    ordered = sorted(_load().datasets.values(), key=lambda s: s.standard != "ADaM")
    for spec in ordered:
        var = spec.variable(variable)
        if var is not None:
            return var.label
    return None


def spec_dataset(name: str, frame: pl.DataFrame) -> Dataset:
    """A Dataset of ``frame`` with labels and kinds from the specification.

    Variables the specification declares are cast to its kind (integer, double,
    string); others keep a kind read from their Polars type, labelled by name.
    """
    spec = get(name)
    meta: dict[str, ColumnMeta] = {}
    for col in frame.columns:
        var = spec.variable(col) if spec else None
        kind = var.kind if var else None
        if kind is None:
            kind = (
                "string"
                if frame.schema[col] == pl.String
                else ("integer" if frame.schema[col].is_integer() else "double")
            )
        meta[col] = ColumnMeta(col, var.label if var else col, kind)
    typed = frame.with_columns(
        [pl.col(c).cast(pl.Int64) for c, m in meta.items() if m.kind == "integer"]
        + [pl.col(c).cast(pl.Float64) for c, m in meta.items() if m.kind == "double"]
        + [pl.col(c).cast(pl.String) for c, m in meta.items() if m.kind == "string"]
    )
    return Dataset.from_frame(name, typed, label=spec.label if spec else name, meta=meta)

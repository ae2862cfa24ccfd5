"""Pieces every derivation shares: ISO 8601 text to dates, filters, the cutoff, ADaM metadata."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import narwhals as nw
import polars as pl

from eap.datasets import specs
from eap.datasets.model import ColumnMeta, Dataset, Kind
from eap.engine.frames import polars_date
from eap.errors import EapError, PlanError
from eap.plans.study import Study


def iso_date(col: str) -> pl.Expr:
    """The complete date part of an ISO 8601 --DTC text column (null when partial);
    the same rule as eap.engine.frames.with_dates, which the engine-neutral rules use."""
    return polars_date(col, text=True)


def as_date(frame: pl.DataFrame, col: str) -> pl.Expr:
    """A column as a date: --DTC text through :func:`iso_date`, a date column as it is."""
    if frame.schema[col] == pl.String:
        return iso_date(col)
    return pl.col(col).cast(pl.Date)


def where(text: str, columns: Sequence[str], *, file: Path | str, field: str) -> pl.Expr:
    """A study-file filter as a Polars expression; errors name the file and the field."""
    from eap.stats.frame import parse_where

    return _study_filter(parse_where, text, columns, file, field)  # type: ignore[no-any-return]


def where_neutral(text: str, columns: Sequence[str], *, file: Path | str, field: str) -> nw.Expr:
    """:func:`where` as a Narwhals expression, for the rules run on any engine."""
    from eap.stats.frame import parse_where_neutral

    return _study_filter(parse_where_neutral, text, columns, file, field)  # type: ignore[no-any-return]


def _study_filter(
    parse: Callable[[str, Sequence[str]], Any],
    text: str,
    columns: Sequence[str],
    file: Path | str,
    field: str,
) -> Any:
    try:
        return parse(text, columns)
    except EapError as exc:
        raise PlanError(
            f"filter {text!r} does not fit the data: {exc.problem}",
            file=file,
            variable=field,
            expected=exc.expected,
            found=exc.found or exc.variable,
        ) from None


_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_NUMBER = re.compile(r"\b\d+(?:\.\d*)?(?:[eE][-+]?\d+)?\b")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_KEYWORDS = {"and", "or", "not", "in", "is", "null"}


def filter_variables(text: str) -> set[str]:
    """The variable names a filter mentions (quoted strings and keywords left out)."""
    bare = _NUMBER.sub(" ", _QUOTED.sub(" ", text))
    return {m for m in _NAME.findall(bare) if m.lower() not in _KEYWORDS}


def need_column(
    names: Sequence[str], col: str, dataset: str, *, file: Path | str, field: str
) -> None:
    """A PlanError naming the study file's field when ``col`` is not among the dataset's
    variables ``names``."""
    if col not in names:
        raise PlanError(
            f"{dataset} has no variable {col}",
            file=file,
            variable=field,
            expected="one of " + ", ".join(names),
            found=col,
        )


def require_subjects(frame: pl.DataFrame, adsl: pl.DataFrame, dataset: str) -> None:
    """An EapError naming the rows of ``frame`` whose subjects are absent from ADSL."""
    absent = ~frame["USUBJID"].is_in(adsl["USUBJID"].implode())
    if absent.any():
        raise EapError(
            f"{dataset} records of subjects absent from ADSL",
            dataset=dataset,
            variable="USUBJID",
            rows=[i + 1 for i in absent.arg_true().to_list()],
            expected=f"every {dataset} subject in DM/ADSL",
            found=", ".join(sorted(set(frame.filter(absent)["USUBJID"].to_list()))[:5]),
        )


def latest_date(sdtm: Mapping[str, Dataset]) -> tuple[dt.date, str] | None:
    """The latest complete date in the SDTM data and where it is (``AE.AEENDTC``).

    The rule: every variable whose name ends in ``DTC`` (the ISO 8601 dates of events,
    interventions, findings, visits, disposition and DM's reference dates) in every
    dataset with subject records (a USUBJID column), except DM.BRTHDTC; the date part of
    complete values only (YYYY-MM-DD, any time part ignored; partial dates are skipped).
    Since every date a derivation compares with the cutoff comes from these variables,
    a cutoff at this date excludes no record. None when the data hold no complete date.
    """
    best: tuple[dt.date, str] | None = None
    for name in sorted(sdtm):
        frame = sdtm[name].frame
        if "USUBJID" not in frame.columns:
            continue
        for col in frame.columns:
            if not col.endswith("DTC") or col == "BRTHDTC" or frame.schema[col] != pl.String:
                continue
            value = frame.select(iso_date(col).max()).item()
            if value is not None and (best is None or value > best[0]):
                best = (value, f"{name}.{col}")
    return best


def kind_of(dtype: pl.DataType) -> Kind:
    if dtype == pl.Date:
        return "date"
    if dtype == pl.String or dtype == pl.Null:
        return "string"
    if dtype.is_integer():
        return "integer"
    return "double"


def as_adam(name: str, label: str, frame: pl.DataFrame, labels: Mapping[str, str]) -> Dataset:
    """Wrap a derived frame: labels from the dataset's specification, else ``labels``, else
    the variable's label in another specification (ADSL's TRTSDT in ADAE, AE's AELLT),
    else the name; dates as DATE9."""
    spec = specs.get(name)
    meta: dict[str, ColumnMeta] = {}
    for col in frame.columns:
        var = spec.variable(col) if spec else None
        kind = kind_of(frame.schema[col])
        meta[col] = ColumnMeta(
            col,
            (var.label if var else labels.get(col) or specs.known_label(col) or col)[:40],
            kind,
            8 if kind != "string" else None,
            "DATE9." if kind == "date" else None,
        )
    return Dataset.from_frame(name, frame, label=label, meta=meta)


# SDTM datasets ADaM carries whole (every variable): DM into ADSL, AE into ADAE and CM
# into ADCM.
CARRIED = frozenset({"DM", "AE", "CM"})
# The variables of the other datasets the derivations read by name in eap's code; the
# study's rules name the rest (:func:`study_names`).
READ = frozenset(
    {
        "STUDYID",
        "USUBJID",
        "VISITNUM",
        "DSCAT",
        "DSDECOD",
        "DSSCAT",
        "DSTERM",
        "DSSTDTC",
        "EXDOSE",
        "EXDOSFRQ",
        "EXDOSU",
        "EXENDTC",
        "EXSTDTC",
        "EXTRT",
        "IDVARVAL",
        "QNAM",
        "QVAL",
        "RSDTC",
        "RSSTRESC",
        "SVSTDTC",
    }
)


def study_names(value: object) -> set[str]:
    """Every name a study definition's rules mention (filters, dates, values, sources,
    defaults included): the words of each text in it, quoted values left out."""
    if isinstance(value, str):
        return filter_variables(value)
    if is_dataclass(value) and not isinstance(value, type):
        return set().union(*(study_names(getattr(value, f.name)) for f in fields(value)))
    if isinstance(value, Mapping):
        return set().union(*(study_names(k) | study_names(v) for k, v in value.items()))
    if isinstance(value, list | tuple | set | frozenset):
        return set().union(*(study_names(v) for v in value))
    return set()


def derivation_variables(study: Study) -> Callable[[str, Sequence[str]], set[str]]:
    """The variables of each SDTM dataset (given its variables) the derivations of
    ``study`` read: all of a dataset ADaM carries whole (:data:`CARRIED`); elsewhere those
    eap's code reads (:data:`READ`), those the study names, and every --DTC and --SEQ
    variable (the latest date in the data, the source records of ADTTE). Derivations read
    the datasets projected to these (eap.datasets.lazy.Projected), so that a lazy
    dataset is read in part."""
    named = READ | study_names(study)

    def wanted(name: str, columns: Sequence[str]) -> set[str]:
        if name in CARRIED:
            return set(columns)
        return {c for c in columns if c in named or c.endswith(("DTC", "SEQ"))}

    return wanted

"""The validation gate: ``eap derive``, ``report``, ``reproduce`` and ``db load`` check
their input before they run.

The input is checked by the validator of ``eap validate`` (eap.datasets.validate:
specifications, keys, codelists, ISO 8601 dates, subjects) and, when it is SDTM, by the
derivations' own input checks (eap.derive.inputs: partial and unusable AE start dates,
doses after death, subjects absent from DM). A finding of the derivations that says
again what a validation error says (the same dataset, variable and rows) is left out.

An error stops the run before anything is written, unless the user allows invalid
input (``--allow-invalid``). Then the run goes on and every finding becomes a
:class:`DataIssue`: the finding, how many records it concerns and each of them (row,
USUBJID, value), for the report's "Data issues" section and the run log. What the run
did with the records is said too. They are kept as they are, except:

* records of subjects absent from DM, which no derivation can use, are left out of the
  SDTM (their rows listed);
* a required variable that is absent (or one the derivations read, eap.derive.inputs)
  is added, missing on every record (each record counted);
* a variable of the wrong type is read as the type its specification declares (text
  as a number or an ISO 8601 date, a SAS date number as a date); a value that is not
  one becomes missing, and its rows are listed;
* a NaN or infinite number becomes missing.

A file that cannot be read stops the run even then: there are no records to go on with.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

from eap.datasets import specs
from eap.datasets.lazy import replaced
from eap.datasets.model import POLARS_TYPE, ColumnMeta, Dataset, Kind
from eap.datasets.validate import Finding, Report, locate, validate_datasets
from eap.errors import EapError
from eap.plans.study import DEFAULT_STUDY, Study, load_study

ALWAYS_STOPS = frozenset({"unreadable-file", "derive-checks-failed"})
# Findings about a whole variable: every record of the dataset is affected.
WHOLE_DATASET = frozenset({"missing-required-variable", "derive-needs-variable", "wrong-type"})
# With --allow-invalid, the absent variable these name is added, missing on every record.
ADDED = frozenset({"missing-required-variable", "derive-needs-variable"})
LEFT_OUT = "left out: a subject absent from DM cannot be derived"
KEPT = "kept as they are"


@dataclass(frozen=True)
class Record:
    """One record a finding concerns: its 1-based row, its subject and its value."""

    row: int
    usubjid: str | None
    value: str | None

    def to_json(self) -> dict[str, Any]:
        return {"row": self.row, "usubjid": self.usubjid, "value": self.value}


@dataclass(frozen=True)
class DataIssue:
    """A finding, the number of records it concerns, each of them, and what the run did."""

    finding: Finding
    records: int
    listed: tuple[Record, ...] = ()
    action: str = KEPT

    def to_json(self) -> dict[str, Any]:
        return {
            **self.finding.to_json(),
            "records": self.records,
            "action": self.action,
            "values": [r.to_json() for r in self.listed],
        }


@dataclass(frozen=True)
class Checked:
    """The gate's verdict: the findings, whether the run stops, and the datasets it goes
    on with (the input, less the records of subjects absent from DM when allowed)."""

    report: Report
    datasets: Mapping[str, Dataset]
    allowed: bool = False
    issues: tuple[DataIssue, ...] = field(default=())

    @property
    def stops(self) -> bool:
        """True when the run must stop: an error not allowed, or one nothing allows."""
        return any(
            f.severity == "error" and (not self.allowed or f.check in ALWAYS_STOPS)
            for f in self.report.findings
        )


class InvalidInputError(EapError):
    """The input has errors and the run was not allowed to go on with them."""

    def __init__(self, checked: Checked) -> None:
        self.checked = checked
        errors = checked.report.errors
        first = errors[0] if errors else None
        super().__init__(
            f"the input has {len(errors)} error{'' if len(errors) == 1 else 's'} (the first "
            "named here); allow_invalid=True goes on and lists them",
            file=first.file if first else None,
            dataset=first.dataset if first else None,
            variable=first.variable if first else None,
            rows=first.rows if first else None,
            expected=first.expected if first else None,
            found=first.found if first else None,
        )


def _covers(error: Finding, f: Finding) -> bool:
    """True when a validation error already names every record of ``f``."""
    return (
        error.dataset == f.dataset
        and error.variable == f.variable
        and bool(f.rows)
        and set(f.rows) <= set(error.rows)
    )


def findings_of(
    datasets: Mapping[str, Dataset],
    *,
    sdtm: bool,
    origins: Mapping[str, Path] | None = None,
    unreadable: Sequence[Finding] = (),
    study: Study | None = None,
) -> tuple[Report, dict[Finding, str]]:
    """The validator's findings and, for SDTM, the derivations' (duplicates left out);
    for each validation error that covers a derivation finding, that finding's message
    (what the derivation does with the records)."""
    from eap.derive.inputs import derive_findings

    validated = validate_datasets(datasets)
    findings = list(validated.findings)
    consequences: dict[Finding, str] = {}
    if sdtm:
        errors = [f for f in findings if f.severity == "error"]
        for f in derive_findings(datasets, study or load_study(DEFAULT_STUDY)):
            cover = next((e for e in errors if _covers(e, f)), None)
            if cover is None:
                findings.append(f)
            else:
                consequences[cover] = f.message
    located = locate(tuple(findings), origins or {})
    consequences = {
        after: consequences[before]
        for before, after in zip(findings, located, strict=True)
        if before in consequences
    }
    return Report(tuple(unreadable) + located, tuple(datasets)), consequences


def check_input(
    datasets: Mapping[str, Dataset],
    *,
    sdtm: bool,
    allow_invalid: bool = False,
    origins: Mapping[str, Path] | None = None,
    unreadable: Sequence[Finding] = (),
    study: Study | None = None,
) -> Checked:
    """Check ``datasets`` (SDTM when ``sdtm``, else ADaM) and say whether the run goes on.

    ``unreadable`` are the findings about files that could not be read
    (:func:`eap.datasets.validate.read_datasets`); ``origins`` the file of each dataset.
    """
    report, consequences = findings_of(
        datasets, sdtm=sdtm, origins=origins, unreadable=unreadable, study=study
    )
    checked = Checked(report, datasets, allow_invalid)
    if checked.stops:
        return checked
    actions: dict[Finding, str] = {}
    # Only the datasets the run changes are replaced (and held in memory); the others
    # stay as given, read from their files when used (eap.datasets.lazy).
    changed: dict[str, Dataset] = {}
    by_dataset: dict[str, list[Finding]] = {}
    for f in report.findings:
        by_dataset.setdefault(f.dataset, []).append(f)
    if allow_invalid:
        for name, found in by_dataset.items():
            if name in datasets:
                ds = datasets[name]
                conformed = _conform(ds, found, actions)
                if conformed is not ds:
                    changed[name] = conformed
    orphans = _orphan_rows(report) if sdtm else {}
    for name, rows in orphans.items():
        if name in datasets:
            ds = changed.get(name) or datasets[name]
            changed[name] = replace(ds, frame=_without(ds.frame, rows))
    issues: dict[Finding, DataIssue] = {}
    for name, found in by_dataset.items():
        given = datasets.get(name)  # read once for all its findings
        for f in found:
            issues[f] = _issue(
                f, given, orphans.get(f.dataset, set()), consequences.get(f), actions.get(f)
            )
        del given
    kept = replaced(datasets, changed) if changed else datasets
    return Checked(report, kept, allow_invalid, tuple(issues[f] for f in report.findings))


def gate(
    datasets: Mapping[str, Dataset],
    *,
    sdtm: bool,
    allow_invalid: bool = False,
    origins: Mapping[str, Path] | None = None,
    unreadable: Sequence[Finding] = (),
    study: Study | None = None,
) -> Checked:
    """:func:`check_input`, raising :class:`InvalidInputError` when the run must stop."""
    checked = check_input(
        datasets,
        sdtm=sdtm,
        allow_invalid=allow_invalid,
        origins=origins,
        unreadable=unreadable,
        study=study,
    )
    if checked.stops:
        raise InvalidInputError(checked)
    return checked


def _orphan_rows(report: Report) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for f in report.findings:
        if f.check == "subject-not-in-dm" and f.dataset != "DM":
            out.setdefault(f.dataset, set()).update(f.rows)
    return out


def _without(frame: pl.DataFrame, rows: set[int]) -> pl.DataFrame:
    keep = ~pl.int_range(1, pl.len() + 1).is_in(sorted(rows))
    return frame.filter(keep)


SAS_EPOCH = pl.lit(dt.date(1960, 1, 1))


def _as_kind(frame: pl.DataFrame, column: str, kind: Kind) -> pl.Expr:
    """``column`` read as ``kind``; a value that is not one becomes missing."""
    col = pl.col(column)
    dtype = frame.schema[column]
    target = POLARS_TYPE[kind]
    if kind == "string":
        return col.cast(pl.String)
    if dtype == pl.String:
        text = col.str.strip_chars()
        if kind == "date":
            return text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
        if kind == "datetime":
            return text.str.to_datetime("%Y-%m-%dT%H:%M:%S", strict=False, time_unit="us")
        if kind == "time":
            return text.str.to_time("%H:%M:%S", strict=False)
        number = text.cast(pl.Float64, strict=False)
    elif dtype.is_numeric():
        number = col.cast(pl.Float64)
    else:
        return col.cast(target, strict=False)
    finite = number.is_finite()
    if kind == "integer":
        return pl.when(finite & (number == number.round(0)) & (number.abs() < 2.0**53)).then(
            number.cast(pl.Int64, strict=False)
        )
    if kind == "double":
        return number
    if kind == "date":
        # A SAS date: days from 1960-01-01 (years 1582 to 9999, as SAS).
        days = pl.when(finite & number.is_between(-138_061, 2_936_547)).then(number)
        return SAS_EPOCH + pl.duration(days=days.floor().cast(pl.Int64))
    if kind == "datetime":
        seconds = pl.when(finite & (number.abs() < 2.5e11)).then(number)
        start = pl.lit(dt.datetime(1960, 1, 1), dtype=pl.Datetime("us"))
        return start + pl.duration(microseconds=(seconds * 1e6).cast(pl.Int64))
    seconds = pl.when(finite & number.is_between(0, 86_399)).then(number)
    return (pl.lit(dt.time(0), dtype=pl.Time) + pl.duration(seconds=seconds.cast(pl.Int64))).cast(
        pl.Time
    )


def _conform(ds: Dataset, findings: list[Finding], actions: dict[Finding, str]) -> Dataset:
    """``ds`` as its specification declares it: an absent required variable added
    (missing everywhere), a variable of the wrong type read as the declared type."""
    frame = ds.frame
    for f in findings:
        if f.check == "not-a-number" and f.variable in frame.columns:
            col = pl.col(f.variable)
            frame = frame.with_columns(pl.when(col.is_finite()).then(col).alias(f.variable))
            actions[f] = "made missing"
    spec = specs.get(ds.name)
    if spec is None:
        return ds if frame is ds.frame else replace(ds, frame=frame)
    meta = {c.name: c for c in ds.columns}
    for f in findings:
        variable = spec.variable(f.variable or "")
        if variable is None:
            continue
        name, kind = variable.name, variable.kind
        if f.check in ADDED and name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=POLARS_TYPE[kind]).alias(name))
            meta[name] = ColumnMeta(name, variable.label, kind)
            actions[f] = f"added: {name} missing on every record"
        elif f.check == "wrong-type" and not f.rows and name in frame.columns:
            before = frame[name]
            frame = frame.with_columns(_as_kind(frame, name, kind).alias(name))
            lost = (before.is_not_null() & frame[name].is_null()).arg_true().to_list()
            old = meta[name]
            fmt = "DATE9." if kind == "date" else old.display_format
            meta[name] = ColumnMeta(name, old.label, kind, old.length, fmt)
            rows = ", ".join(str(i + 1) for i in lost[:10]) + (" ..." if len(lost) > 10 else "")
            actions[f] = f"read as {kind}" + (
                f"; {len(lost)} values that are not became missing (rows {rows})" if lost else ""
            )
    if frame is ds.frame:
        return ds
    return Dataset.from_frame(ds.name, frame, label=ds.label, meta=meta)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _issue(
    f: Finding,
    ds: Dataset | None,
    left_out: set[int],
    consequence: str | None,
    done: str | None = None,
) -> DataIssue:
    """The finding with its records: each row's subject and value."""
    action = LEFT_OUT if f.check == "subject-not-in-dm" and f.rows and left_out else KEPT
    if done:
        action = done
    if consequence:
        action = f"{action}; {consequence}"
    if ds is None:
        return DataIssue(f, len(f.rows), action=action)
    frame = ds.frame
    if not f.rows:
        whole = f.check in WHOLE_DATASET and f.severity == "error"
        return DataIssue(f, frame.height if whole else 0, action=action)
    variables = [v.strip() for v in (f.variable or "").split(",") if v.strip()]
    variables = [v for v in variables if v in frame.columns]
    subject = "USUBJID" in frame.columns
    inside = [r for r in f.rows if 1 <= r <= frame.height]
    taken = frame.select(list(dict.fromkeys([*variables, *(["USUBJID"] if subject else [])])))
    picked = taken[[r - 1 for r in inside]].iter_rows(named=True)
    by_row = dict(zip(inside, picked, strict=True))
    listed: list[Record] = []
    for row in f.rows:
        values = by_row.get(row)
        if values is None:
            listed.append(Record(row, None, None))
            continue
        if len(variables) == 1:
            value = _text(values[variables[0]])
        elif variables:
            value = ", ".join(f"{v}={values[v]!r}" for v in variables)
        else:
            value = None
        listed.append(Record(row, _text(values["USUBJID"]) if subject else None, value))
    return DataIssue(f, len(f.rows), tuple(listed), action)

"""Check datasets against their specifications and against each other.

Every check is a function returning :class:`Finding` rows; a finding names the
dataset, variable and 1-based row numbers, what was expected and what was
found. Errors make a submission invalid; warnings ask for a look.

=========================  ========  ==============================================
check                      severity  rule
=========================  ========  ==============================================
unreadable-file            error     the file cannot be read (see the message)
unknown-dataset            warning   eap has no specification for the dataset
missing-required-variable  error     a Req variable is absent
missing-expected-variable  warning   an Exp variable is absent
wrong-type                 error     text where a number is declared, or the reverse;
                                     a fraction in an integer; a number without a
                                     date format where a date is declared
required-value-missing     error     a Req variable is missing on some rows
duplicate-key              error     two or more rows share the dataset's keys
codelist                   error     value outside a non-extensible codelist
codelist-extensible        warning   value outside an extensible codelist
iso8601                    error     an SDTM --DTC value is not ISO 8601
not-a-number               error     NaN or an infinite value in a numeric variable
subject-not-in-dm          error     USUBJID absent from DM (SDTM) or ADSL (ADaM)
no-subject-reference       warning   DM or ADSL is not in the folder
end-before-start           error     an end date earlier than its start date
(timeline rules)           warning   dates of one subject that contradict each other
                                     across domains (eap.datasets.timeline)
=========================  ========  ==============================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import narwhals as nw
import polars as pl

from eap.datasets import specs
from eap.datasets.encoding import normalize_encoding
from eap.datasets.io import dataset_files, read_dataset
from eap.datasets.model import Dataset
from eap.errors import EapError

if TYPE_CHECKING:
    from eap.datasets.lazy import LazyDatasets

Severity = Literal["error", "warning"]

# ISO 8601 as SDTM uses it: partial dates allowed, unknown middle parts as "-".
ISO8601_RE = (
    r"^(\d{4}|-)(-(\d{2}|-)(-(\d{2}|-)?)?)?"
    r"(T(\d{2}|-)(:(\d{2}|-)(:(\d{2}(\.\d+)?|-))?)?)?$"
)
_NUMERIC = ("integer", "double")
_TEMPORAL = ("date", "datetime", "time")


@dataclass(frozen=True)
class Finding:
    severity: Severity
    check: str
    dataset: str
    message: str
    variable: str | None = None
    rows: tuple[int, ...] = ()
    expected: str | None = None
    found: str | None = None
    file: str | None = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["rows"] = list(self.rows)
        return d


@dataclass(frozen=True)
class Report:
    findings: tuple[Finding, ...]
    datasets: tuple[str, ...] = field(default=())

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        return {
            "datasets": list(self.datasets),
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "findings": [f.to_json() for f in self.findings],
        }


def _rows(mask: pl.Series) -> tuple[int, ...]:
    return tuple(i + 1 for i in mask.arg_true().to_list())


def _values(s: pl.Series, limit: int = 5) -> str:
    vals = s.unique(maintain_order=True).to_list()
    shown = ", ".join(repr(v) for v in vals[:limit])
    return shown + (f" and {len(vals) - limit} more" if len(vals) > limit else "")


# --- checks on one dataset ----------------------------------------------------


def check_variables(ds: Dataset, spec: specs.DatasetSpec) -> Iterator[Finding]:
    """Required and expected variables are present."""
    present = set(ds.frame.columns)
    for v in spec.variables:
        if v.name in present or v.core not in ("Req", "Exp"):
            continue
        required = v.core == "Req"
        yield Finding(
            severity="error" if required else "warning",
            check="missing-required-variable" if required else "missing-expected-variable",
            dataset=ds.name,
            variable=v.name,
            message=f"{v.core} variable {v.name} ({v.label}) is absent",
            expected=f"{v.name} ({v.kind})",
            found="no such column",
        )


def check_types(ds: Dataset, spec: specs.DatasetSpec) -> Iterator[Finding]:
    """Each declared variable has the declared kind."""
    for col in ds.columns:
        v = spec.variable(col.name)
        if v is None or v.kind == col.kind:
            continue
        if ds.frame.schema[col.name] == pl.Null:
            continue  # nulls only, with no declared type: nothing says the type is wrong
        if v.kind == "double" and col.kind == "integer":
            continue
        if v.kind == "integer" and col.kind == "double":
            s = ds.frame[col.name]
            bad = s.is_not_null() & (s != s.round(0))
            yield Finding(
                "error",
                "wrong-type",
                ds.name,
                f"{col.name} must hold whole numbers",
                variable=col.name,
                rows=_rows(bad),
                expected="integer",
                found=_values(s.filter(bad)),
            )
            continue
        hint = " (a numeric with a date format such as DATE9.)" if v.kind in _TEMPORAL else ""
        yield Finding(
            "error",
            "wrong-type",
            ds.name,
            f"{col.name} has the wrong type",
            variable=col.name,
            expected=f"{v.kind}{hint}",
            found=col.kind,
        )


def check_required_values(ds: Dataset, spec: specs.DatasetSpec) -> Iterator[Finding]:
    for v in spec.required:
        if v.name not in ds.frame.columns:
            continue
        missing = ds.frame[v.name].is_null()
        if missing.any():
            yield Finding(
                "error",
                "required-value-missing",
                ds.name,
                f"required variable {v.name} is missing on {int(missing.sum())} rows",
                variable=v.name,
                rows=_rows(missing),
                expected="a value on every row",
                found="missing",
            )


def duplicated(frame: pl.DataFrame, keys: list[str]) -> pl.Series:
    """True on every row whose ``keys`` another row shares, as ``is_duplicated`` says.

    The rows are first compared by a 64-bit hash of their key, sorted, so that a large
    dataset needs a few numbers per row rather than a hash table of its keys; only rows
    whose hash another row shares (a shared key, or rarely a collision) are compared by
    their values.
    """
    candidates = _sharing_a_hash(frame.select(_key_hash(keys)).to_series())
    dup = pl.Series("duplicated", [False] * frame.height, dtype=pl.Boolean)
    if candidates.len() == 0:
        return dup
    exact = frame[candidates].select(pl.struct(keys).is_duplicated()).to_series()
    return dup.scatter(candidates.filter(exact), True)


def _key_hash(keys: list[str]) -> pl.Expr:
    return pl.struct([pl.col(k).hash() for k in keys]).hash()


def _sharing_a_hash(hashed: pl.Series) -> pl.Series:
    """The rows (0-based, in order) whose hash another row shares."""
    order = hashed.arg_sort()
    ranked = hashed.gather(order)
    shared = (ranked == ranked.shift(1)).fill_null(False) | (ranked == ranked.shift(-1)).fill_null(
        False
    )
    return order.filter(shared).sort()


def check_keys(ds: Dataset, spec: specs.DatasetSpec) -> Iterator[Finding]:
    keys = [k for k in spec.keys if k in ds.frame.columns]
    if len(keys) != len(spec.keys) or ds.n_rows == 0:
        return
    dup = duplicated(ds.frame, keys)
    if dup.any():
        yield _duplicate_key(ds.name, keys, _rows(dup), ds.frame.filter(dup).row(0, named=True))


def _duplicate_key(
    name: str, keys: list[str], rows: tuple[int, ...], first: dict[str, Any]
) -> Finding:
    return Finding(
        "error",
        "duplicate-key",
        name,
        f"{len(rows)} rows share their key ({', '.join(keys)})",
        variable=", ".join(keys),
        rows=rows,
        expected="one row per " + " + ".join(keys),
        found="first shared key: " + ", ".join(f"{k}={first[k]!r}" for k in keys),
    )


def check_keys_in_file(datasets: LazyDatasets, name: str, spec: specs.DatasetSpec) -> list[Finding]:
    """:func:`check_keys` of a dataset read from its file: each row's key is hashed as
    the file is read (Polars' streaming engine), so that only a number a row is held,
    never the key variables' text (USUBJID of 42 M EX records: 1.4 GB); the rows
    whose hash another row shares are then read and compared by their values."""
    from eap.datasets.lazy import scan

    keys = [k for k in spec.keys if k in datasets.schema(name)]
    if len(keys) != len(spec.keys):
        return []
    hashed = scan(datasets, name).select(_key_hash(keys)).collect(engine="streaming")
    candidates = _sharing_a_hash(hashed.to_series()) if hashed.height else pl.Series([])
    del hashed
    if candidates.len() == 0:
        return []
    rows = (
        scan(datasets, name, "_ROW")
        .select("_ROW", *keys)
        .filter(pl.col("_ROW").is_in((candidates + 1).implode()))
        .collect()
        .sort("_ROW")
    )
    dup = rows.filter(pl.struct(keys).is_duplicated())
    if dup.height == 0:
        return []
    numbers = tuple(int(r) for r in dup["_ROW"])
    return [_duplicate_key(name, keys, numbers, dup.row(0, named=True))]


def _as_terms(s: pl.Series) -> pl.Series:
    if s.dtype.is_numeric():
        whole = s.is_not_null() & (s == s.round(0))
        return pl.Series(
            s.name,
            [
                str(int(v)) if w else (None if v is None else str(v))
                for v, w in zip(s, whole, strict=True)
            ],
            dtype=pl.String,
        )
    return s.cast(pl.String)


def check_codelists(ds: Dataset, spec: specs.DatasetSpec) -> Iterator[Finding]:
    for v in spec.variables:
        if v.codelist is None or v.name not in ds.frame.columns:
            continue
        cl = specs.codelist(v.codelist)
        s = _as_terms(ds.frame[v.name])
        bad = s.is_not_null() & ~s.is_in(list(cl.terms))
        if not bad.any():
            continue
        yield Finding(
            "warning" if cl.extensible else "error",
            "codelist-extensible" if cl.extensible else "codelist",
            ds.name,
            f"{v.name} has values outside codelist {cl.name}"
            + (
                " (extensible: sponsor terms allowed, check they are intended)"
                if cl.extensible
                else ""
            ),
            variable=v.name,
            rows=_rows(bad),
            expected=", ".join(cl.terms),
            found=_values(s.filter(bad)),
        )


def iso8601_valid(text: nw.Expr) -> nw.Expr:
    """True where ISO 8601 text is an SDTM date/time that exists (null stays null), as a
    Narwhals expression: the same rule for the checks (Polars) and the derivations (on
    any engine).

    Partial dates (``2013``, ``2013-03``) and ``-`` for unknown parts are valid; a
    complete date must exist (``2014-02-30`` does not), a month be 1-12, an hour 0-23
    and a minute 0-59.
    """
    shape_ok = text.str.contains(ISO8601_RE)
    month_bad = text.str.contains(r"^(?:\d{4}|-)-(?:00|1[3-9]|[2-9]\d)")
    hour_bad = text.str.contains(r"T(?:2[4-9]|[3-9]\d)")
    minute_bad = text.str.contains(r"T(?:\d{2}|-):[6-9]\d")
    has_full_date = text.str.contains(r"^\d{4}-\d{2}-\d{2}(?:T|$)")
    # A complete date exists when its day is within its month (the month is checked
    # above); text without one is read as a date that exists, and not used.
    full = nw.when(has_full_date).then(text).otherwise(nw.lit("2000-01-01"))
    year, month, day = (full.str.slice(i, n).cast(nw.Int64) for i, n in ((0, 4), (5, 2), (8, 2)))
    day_ok = (day >= 1) & (day <= days_in_month(year, month))
    exists = ~has_full_date | day_ok
    valid = shape_ok & ~month_bad & ~hour_bad & ~minute_bad & exists
    return valid.fill_null(False) | text.is_null()


def days_in_month(year: nw.Expr, month: nw.Expr) -> nw.Expr:
    """The days of a month of the Gregorian calendar (February 29 in leap years)."""
    leap = ((year % 4) == 0) & (((year % 100) != 0) | ((year % 400) == 0))
    february = nw.when(leap).then(29).otherwise(28)
    other = nw.when(month.is_in([4, 6, 9, 11])).then(30).otherwise(31)
    return nw.when(month == 2).then(february).otherwise(other)


def iso8601_problems(s: pl.Series) -> pl.Series:
    """True where a text value is not an SDTM ISO 8601 date/time (or names an impossible date)."""
    text = nw.from_native(pl.DataFrame({"v": s.cast(pl.String)}))
    invalid = text.select(~iso8601_valid(nw.col("v"))).to_native().to_series()
    return invalid.alias(s.name)


def check_numbers(ds: Dataset, spec: specs.DatasetSpec | None) -> Iterator[Finding]:
    """No NaN or infinite values: SAS has none (a missing number is missing, not NaN)."""
    for col in ds.columns:
        s = ds.frame[col.name]
        if not s.dtype.is_float():
            continue
        bad = (s.is_nan() | s.is_infinite()).fill_null(False)
        if bad.any():
            yield Finding(
                "error",
                "not-a-number",
                ds.name,
                f"{col.name} holds NaN or infinite values",
                variable=col.name,
                rows=_rows(bad),
                expected="a finite number, or a missing value",
                found=_values(s.filter(bad)),
            )


def check_iso8601(ds: Dataset, spec: specs.DatasetSpec | None) -> Iterator[Finding]:
    for col in ds.columns:
        if col.kind != "string" or not col.name.endswith("DTC"):
            continue
        bad = iso8601_problems(ds.frame[col.name])
        if bad.any():
            yield Finding(
                "error",
                "iso8601",
                ds.name,
                f"{col.name} is not an ISO 8601 date/time",
                variable=col.name,
                rows=_rows(bad),
                expected="YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss]",
                found=_values(ds.frame[col.name].filter(bad)),
            )


def _date_parts(s: pl.Series) -> pl.DataFrame:
    """Year, month and day of the leading complete part of ISO 8601 text (null where unknown)."""
    m = s.cast(pl.String).str.extract_groups(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
    return m.struct.unnest().select(pl.all().cast(pl.Int32, strict=False))


def _end_before_start(start: pl.Series, end: pl.Series) -> pl.Series:
    if start.dtype in (pl.Date, pl.Datetime) or start.dtype == pl.Time:
        return (end < start).fill_null(False)
    a, b = _date_parts(start), _date_parts(end)
    # Compare only at the precision both values have: year, then month, then day.
    before = pl.Series([False] * len(start), dtype=pl.Boolean)
    decided = pl.Series([False] * len(start), dtype=pl.Boolean)
    for col_a, col_b in zip(a.columns, b.columns, strict=True):
        x, y = a[col_a], b[col_b]
        known = x.is_not_null() & y.is_not_null() & ~decided
        before = before | (known & (y < x)).fill_null(False)
        decided = decided | (~known) | (known & (y != x)).fill_null(False)
    return before


# Records whose start and end dates are compared at a time.
ORDER_ROWS = 2_000_000


def _out_of_order(start: pl.Series, end: pl.Series) -> pl.Series:
    """True where the end is before the start; a value that is no ISO 8601 date is an
    iso8601 finding, not an order one."""
    bad = _end_before_start(start, end)
    if start.dtype == pl.String:
        bad = bad & ~iso8601_problems(start) & ~iso8601_problems(end)
    return bad


def check_date_order(ds: Dataset, spec: specs.DatasetSpec) -> Iterator[Finding]:
    for start, end in spec.date_pairs:
        if start not in ds.frame.columns or end not in ds.frame.columns:
            continue
        s, e = ds.frame[start], ds.frame[end]
        if (s.dtype == pl.String) != (e.dtype == pl.String):
            continue
        # A row at a time, so in pieces: a date's parts are text until compared (six
        # columns of text for 42 M EX records held 2.7 GB at once).
        bad = pl.concat(
            [
                _out_of_order(s.slice(i, ORDER_ROWS), e.slice(i, ORDER_ROWS))
                for i in range(0, max(len(s), 1), ORDER_ROWS)
            ]
        )
        if bad.any():
            first = int(bad.arg_true()[0])
            yield Finding(
                "error",
                "end-before-start",
                ds.name,
                f"{end} is before {start}",
                variable=f"{start}, {end}",
                rows=_rows(bad),
                expected=f"{end} on or after {start}",
                found=f"{start}={s[first]}, {end}={e[first]}",
            )


DatasetCheck = Callable[[Dataset, specs.DatasetSpec], Iterator[Finding]]
DATASET_CHECKS: tuple[DatasetCheck, ...] = (
    check_variables,
    check_types,
    check_required_values,
    check_keys,
    check_codelists,
    check_numbers,
    check_iso8601,
    check_date_order,
)


# --- checks across datasets ---------------------------------------------------


def check_subjects(datasets: Mapping[str, Dataset]) -> Iterator[Finding]:
    """Every USUBJID of an SDTM domain is in DM; every USUBJID of an ADaM dataset is in ADSL."""
    from eap.datasets.lazy import Projected

    subjects: dict[str, pl.Series | None] = {}  # by reference dataset, read once
    datasets = Projected(datasets, lambda *_: {"USUBJID"})  # a lazy dataset read in part
    for name in datasets:
        spec = specs.get(name)
        if spec is None or spec.one_record_per_subject:
            continue
        ds = datasets[name]
        if "USUBJID" not in ds.frame.columns:
            continue
        reference = "DM" if spec.standard == "SDTM" else "ADSL"
        if reference not in subjects:
            subjects[reference] = _subjects(datasets, reference)
        known = subjects[reference]
        if known is None:
            yield Finding(
                "warning",
                "no-subject-reference",
                name,
                f"{reference} is not in the folder: subjects of {name} were not checked",
                variable="USUBJID",
            )
            continue
        s = ds.frame["USUBJID"]
        bad = s.is_not_null() & ~s.is_in(known.implode())
        if bad.any():
            yield Finding(
                "error",
                "subject-not-in-dm" if reference == "DM" else "subject-not-in-adsl",
                name,
                f"{int(bad.sum())} rows belong to subjects absent from {reference}",
                variable="USUBJID",
                rows=_rows(bad),
                expected=f"a USUBJID present in {reference}",
                found=_values(s.filter(bad)),
            )


def _subjects(datasets: Mapping[str, Dataset], reference: str) -> pl.Series | None:
    """The subjects of the reference dataset (DM, ADSL); None without one."""
    if reference not in datasets:
        return None
    frame = datasets[reference].frame
    return frame["USUBJID"].drop_nulls() if "USUBJID" in frame.columns else None


def validate_dataset(ds: Dataset) -> list[Finding]:
    """Findings of the checks that need only this dataset."""
    spec = specs.get(ds.name)
    if spec is None:
        found = [
            Finding(
                "warning",
                "unknown-dataset",
                ds.name,
                f"eap has no specification for {ds.name}; only ISO 8601 dates were checked",
                expected=", ".join(sorted(specs.all_specs())),
                found=ds.name,
            )
        ]
        return found + list(check_numbers(ds, None)) + list(check_iso8601(ds, None))
    return [f for check in DATASET_CHECKS for f in check(ds, spec)]


# Values (records x variables) validate_in_parts reads from a file at a time, besides
# the variables that are judged together: 4 variables of EX at 80,000 patients
# (3.4 M records), one at a time at a million (42 M).
PART_VALUES = 16_000_000
# And never more variables than this at a time.
PART_VARIABLES = 4


def variable_parts(
    names: list[str], spec: specs.DatasetSpec, records: int = 0, *, keys: bool = True
) -> list[list[str]]:
    """The dataset's variables in parts that the dataset checks can judge apart: the
    key variables in one, each start/end date pair in one (merged when they share a
    variable), the others ``PART_VARIABLES`` at a time, fewer when the dataset has so
    many ``records`` that they would hold more than ``PART_VALUES`` values; each part
    in the dataset's order.

    EX's 18 variables: its keys (USUBJID, EXSEQ), EXSTDTC/EXENDTC, then the other 14
    four at a time (one at a time past 16 M records).

    >>> spec = specs.get("EX")
    >>> names = [v.name for v in spec.variables]
    >>> [len(p) for p in variable_parts(names, spec)]
    [2, 2, 4, 4, 4, 2]
    >>> len(variable_parts(names, spec, records=42_000_000))
    16
    """
    groups = [{k for k in spec.keys if k in names}] if keys else []
    for start, end in spec.date_pairs:
        if start in names and end in names:
            groups.append({start, end})
    merged: list[set[str]] = []
    for group in groups:
        for other in [m for m in merged if m & group]:
            merged.remove(other)
            group = group | other
        merged.append(group)
    together: set[str] = set().union(*merged)
    size = max(1, min(PART_VARIABLES, PART_VALUES // max(records, 1)))
    rest = [n for n in names if n not in together]
    chunks = [rest[i : i + size] for i in range(0, len(rest), size)]
    firsts = [[n for n in names if n in group] for group in merged]
    return [p for p in (*sorted(firsts, key=lambda p: names.index(p[0]) if p else 0), *chunks) if p]


def _finding_order(check: DatasetCheck, header: Dataset, spec: specs.DatasetSpec) -> list[str]:
    """The order in which ``check`` yields its findings, by their ``variable``."""
    if check is check_required_values:
        return [v.name for v in spec.required]
    if check in (check_codelists, check_variables):
        return [v.name for v in spec.variables]
    if check is check_date_order:
        return [f"{start}, {end}" for start, end in spec.date_pairs]
    return list(header.frame.columns)


def _only(variables: list[str]) -> Callable[[str, Sequence[str]], set[str]]:
    """A projection (eap.datasets.lazy.Projected) to ``variables``."""
    return lambda _name, _given: set(variables)


def validate_in_parts(datasets: LazyDatasets, name: str) -> list[Finding]:
    """:func:`validate_dataset` of a dataset read from its file a few variables at a
    time (:func:`variable_parts`), so that a large one is never held whole: the same
    findings in the same order (EX at 80,000 patients, 3.4 M records and 16 variables,
    peaked at 1.18 GB validated whole)."""
    from eap.datasets.lazy import Projected

    header = datasets.header(name)
    spec = specs.get(name)
    if spec is None:
        return validate_dataset(datasets[name])
    found: dict[DatasetCheck, list[Finding]] = {check: [] for check in DATASET_CHECKS}
    found[check_variables] = list(check_variables(header, spec))
    records = datasets.scan(name).select(pl.len()).collect().item()
    found[check_keys] = check_keys_in_file(datasets, name, spec)
    for part in variable_parts(list(header.frame.columns), spec, records, keys=False):
        some = Projected(datasets, _only(part))[name]
        for check in DATASET_CHECKS:
            if check not in (check_variables, check_keys):
                found[check].extend(check(some, spec))
        del some
    out: list[Finding] = []
    for check in DATASET_CHECKS:
        order = {v: i for i, v in enumerate(_finding_order(check, header, spec))}
        out += sorted(found[check], key=lambda f: order.get(f.variable or "", len(order)))
    return out


def validate_datasets(datasets: Mapping[str, Dataset]) -> Report:
    """Validate datasets given by name (each alone, then across each other)."""
    from eap.datasets.lazy import LazyDatasets

    findings: list[Finding] = []
    for name in datasets:  # one at a time: a lazy dataset is read, checked and let go
        if isinstance(datasets, LazyDatasets) and datasets.reads_from_file(name):
            findings += validate_in_parts(datasets, name)
        else:
            findings += validate_dataset(datasets[name])
    findings += list(check_subjects(datasets))
    # Imported here: the timeline rules build on this module's Finding.
    from eap.datasets.lazy import BATCH_SUBJECTS
    from eap.datasets.timeline import check_timelines

    # A folder read lazily may be large: its subjects are checked a batch at a time.
    batch = BATCH_SUBJECTS if isinstance(datasets, LazyDatasets) else None
    findings += check_timelines(datasets, batch_subjects=batch)
    return Report(tuple(findings), tuple(datasets))


def read_datasets(
    folder: Path | str,
    *,
    progress: Callable[[Path], None] | None = None,
    encoding: str | None = None,
) -> tuple[dict[str, Dataset], dict[str, Path], list[Finding]]:
    """Every dataset file of ``folder`` that can be read, by dataset name, with the file
    each came from; a file that cannot be read (or a second file of one dataset) is an
    ``unreadable-file`` error finding instead of an exception.

    ``encoding`` is the text encoding of the XPT and CSV files (None: detected); an
    unknown name raises DatasetReadError before any file is read, as does a folder that
    does not exist.
    """
    encoding = normalize_encoding(encoding)
    datasets: dict[str, Dataset] = {}
    origins: dict[str, Path] = {}
    findings: list[Finding] = []
    for path in dataset_files(folder):
        if progress:
            progress(path)
        try:
            ds = read_dataset(path, encoding=encoding)
        except EapError as exc:
            findings.append(_unreadable(path, exc))
            continue
        if ds.name in datasets:
            findings.append(_second_file(ds.name, origins[ds.name], path))
            continue
        datasets[ds.name] = ds
        origins[ds.name] = path
    return datasets, origins, findings


def open_datasets(
    folder: Path | str, *, encoding: str | None = None
) -> tuple[LazyDatasets, dict[str, Path], list[Finding]]:
    """:func:`read_datasets`, except that Parquet files are not read: only their footers
    (name, label, variables), and the whole-number test of the variables the
    specification declares integer; their rows are read when used
    (eap.datasets.lazy.LazyDatasets). A Parquet file damaged after its footer is an
    error when its rows are read, not a finding here."""
    from eap.datasets.lazy import LazyDatasets, ParquetSource

    encoding = normalize_encoding(encoding)
    held: dict[str, Dataset] = {}
    sources: dict[str, ParquetSource] = {}
    origins: dict[str, Path] = {}
    findings: list[Finding] = []
    for path in dataset_files(folder):
        try:
            if path.suffix.lower() == ".parquet":
                source = ParquetSource.open(path)
                name = source.name
            else:
                ds = read_dataset(path, encoding=encoding)
                name = ds.name
        except EapError as exc:
            findings.append(_unreadable(path, exc))
            continue
        if name in origins:
            findings.append(_second_file(name, origins[name], path))
            continue
        if path.suffix.lower() == ".parquet":
            sources[name] = source
        else:
            held[name] = ds
        origins[name] = path
    return LazyDatasets(held, sources, list(origins)), origins, findings


def _unreadable(path: Path, exc: EapError) -> Finding:
    return Finding("error", "unreadable-file", path.stem.upper(), str(exc), file=str(path))


def _second_file(name: str, first: Path, path: Path) -> Finding:
    return Finding(
        "error",
        "unreadable-file",
        name,
        f"two files hold dataset {name}: {first.name} and {path.name}",
        file=str(path),
    )


def locate(findings: tuple[Finding, ...], origins: Mapping[str, Path]) -> tuple[Finding, ...]:
    """The findings, each naming the file its dataset came from (when it names none)."""
    return tuple(
        f if f.file or f.dataset not in origins else _with_file(f, origins[f.dataset])
        for f in findings
    )


def validate_folder(
    folder: Path | str,
    *,
    progress: Callable[[Path], None] | None = None,
    encoding: str | None = None,
) -> Report:
    """Read every dataset file in ``folder`` and validate the lot.

    A file that cannot be read is an ``unreadable-file`` error, not an
    exception, so one bad file does not hide the findings of the others.
    ``encoding`` is the text encoding of the XPT and CSV files (None: detected);
    an unknown name raises DatasetReadError before any file is read.
    """
    datasets, origins, findings = read_datasets(folder, progress=progress, encoding=encoding)
    report = validate_datasets(datasets)
    return Report(tuple(findings) + locate(report.findings, origins), report.datasets)


def _with_file(f: Finding, path: Path) -> Finding:
    return Finding(**{**asdict(f), "file": str(path), "rows": f.rows})

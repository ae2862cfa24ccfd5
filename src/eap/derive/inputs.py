"""The derivations' input findings, with AE start dates sorted by what they are.

:func:`derive_findings` is what :func:`eap.derive.derive_all` reports about its input:
the findings of :func:`eap.derive.checks.input_findings`, except that an AE start date
counts as *partial* (imputed, ASTDTF set) only when it is a valid ISO 8601 partial
date with a year (``2011``, ``2011-10``; ``-`` for an unknown part allowed). Any other
value that is not a complete date (``05OCT2011``, ``2011-13-45``, ``2014-02-30``, a
date without its year) cannot be imputed: ADAE has no ASTDT for it and the record is
not treatment-emergent, and the finding ``ae-start-unusable`` (error) lists those
records.

The derivations read some variables that SDTM calls expected or permissible rather
than required (the dates of EX and DS, DS.DSCAT, EX.EXDOSE, AE.AESTDTC, SUPPAE's
IDVARVAL): a dataset without one of them cannot be derived, and the finding
``derive-needs-variable`` (error) names it (``NEEDED``).

The checks run on what they can read: a dataset without a variable they use is left to
validation (``missing-required-variable``), a variable of the wrong type is read as
text, and checks that cannot run at all are one error finding, never an exception.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace

import narwhals as nw
import polars as pl

from eap.datasets.lazy import Projected, columns, header, scan, schema
from eap.datasets.model import Dataset
from eap.datasets.validate import Finding, iso8601_valid
from eap.derive.checks import input_findings
from eap.engine.frames import collect, with_dates
from eap.plans.study import Study

# Variables the derivations read whatever the study, beyond each dataset's Req ones.
NEEDED = {
    "AE": ("AESTDTC",),
    "DS": ("DSCAT", "DSSTDTC"),
    "EX": ("EXDOSE", "EXSTDTC", "EXENDTC"),
    "SUPPAE": ("QNAM", "IDVARVAL", "QVAL"),
}
# Variables input_findings reads, by dataset (text variables: cast to text when not).
_TEXT = {"AE": ("AESTDTC",), "DM": ("USUBJID", "DTHDTC"), "EX": ("USUBJID", "EXSTDTC")}
_NEEDED = {"AE": ("AESTDTC",), "DM": ("USUBJID",), "EX": ("USUBJID", "EXSTDTC")}


def _rows(mask: pl.Series) -> tuple[int, ...]:
    return tuple(i + 1 for i in mask.arg_true().to_list())


def _checked_variables(name: str, _: Sequence[str] = ()) -> set[str]:
    """The variables of ``name`` the input checks read (eap.derive.checks)."""
    from eap.derive.checks import AFTER_DEATH, DOSE_BEFORE_CONSENT

    wanted = {"USUBJID", "DTHDTC", "RFICDTC", *_TEXT.get(name, ())}
    for rule in (*AFTER_DEATH, DOSE_BEFORE_CONSENT):
        if rule.dataset == name:
            wanted |= {rule.variable, *([rule.after_start] if rule.after_start else [])}
            wanted |= {rule.unless[0]} if rule.unless else set()
    return wanted


class _Readable(Mapping[str, Dataset]):
    """The datasets the checks can read: the variables they use as text; a dataset
    without one left out; USUBJID as text wherever it is. Each dataset is made so when
    it is looked up, so that lazy datasets (eap.datasets.lazy) stay unread until then."""

    def __init__(self, sdtm: Mapping[str, Dataset]) -> None:
        self._sdtm = Projected(sdtm, _checked_variables)
        self._names = [
            name
            for name in sdtm
            if all(col in columns(sdtm, name) for col in _NEEDED.get(name, ()))
        ]

    def _texts(self, name: str) -> list[str]:
        """The variables of ``name`` read as text that are not text."""
        given = schema(self._sdtm, name)
        text = [*_TEXT.get(name, ()), "USUBJID"]
        return [c for c in dict.fromkeys(text) if c in given and given[c] != pl.String]

    def scan(self, name: str, row_index: str | None = None) -> pl.LazyFrame:
        """The dataset's rows, lazily, as the checks read them."""
        if name not in self._names:
            raise KeyError(name)
        return scan(self._sdtm, name, row_index).with_columns(
            pl.col(c).cast(pl.String) for c in self._texts(name)
        )

    def schema(self, name: str) -> pl.Schema:
        given = schema(self._sdtm, name)
        texts = set(self._texts(name))
        return pl.Schema({c: pl.String() if c in texts else t for c, t in given.items()})

    def header(self, name: str) -> Dataset:
        ds = header(self._sdtm, name)
        return replace(ds, frame=pl.DataFrame(schema=self.schema(name)))

    def __getitem__(self, name: str) -> Dataset:
        if name not in self._names:
            raise KeyError(name)
        ds = self._sdtm[name]
        casts = [pl.col(c).cast(pl.String) for c in self._texts(name)]
        return replace(ds, frame=ds.frame.with_columns(casts)) if casts else ds

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._names


def ae_start_dates(ae: pl.DataFrame) -> tuple[pl.Series, pl.Series]:
    """Masks of the AE records whose AESTDTC is a partial date eap imputes, and of
    those whose AESTDTC is neither a complete date nor such a partial date."""
    text = ae["AESTDTC"].cast(pl.String)
    frame = with_dates(nw.from_native(pl.LazyFrame({"v": text})), {"_D": "v"})
    v = nw.col("v")
    complete = ~nw.col("_D").is_null()
    usable = iso8601_valid(v) & v.str.contains(r"^\d{4}")
    kinds = collect(
        frame.select(
            (~v.is_null() & ~complete & usable).alias("partial"),
            (~v.is_null() & ~complete & ~usable).alias("unusable"),
        )
    )
    return kinds["partial"], kinds["unusable"]


def needed_variables(sdtm: Mapping[str, Dataset]) -> list[Finding]:
    """An error for each variable of ``NEEDED`` a dataset lacks."""
    return [
        Finding(
            "error",
            "derive-needs-variable",
            name,
            f"{name} has no {variable}, which the derivations read",
            variable=variable,
            expected=f"{variable} in {name} (see docs/derivations.md)",
            found="no such column",
        )
        for name, variables in NEEDED.items()
        if name in sdtm
        for variable in variables
        if variable not in columns(sdtm, name)
    ]


def derive_findings(sdtm: Mapping[str, Dataset], study: Study | None = None) -> list[Finding]:
    """The derivations' findings about ``sdtm`` for ``study`` (see the module docstring)."""
    return needed_variables(sdtm) + _input_findings(sdtm, study)


def _input_findings(sdtm: Mapping[str, Dataset], study: Study | None) -> list[Finding]:
    readable = _Readable(sdtm)
    try:
        found = input_findings(readable, study)
    except pl.exceptions.PolarsError as exc:
        return [
            Finding(
                "error",
                "derive-checks-failed",
                ", ".join(sorted(sdtm)),
                f"the derivations' input checks cannot read these datasets: {exc}",
                expected="the variables the specification declares, of their types",
            )
        ]
    if "AE" not in readable:
        return found
    ae = readable["AE"].frame
    partial, unusable = ae_start_dates(ae)
    out: list[Finding] = []
    for f in found:
        if f.check != "ae-start-partial":
            out.append(f)
        elif partial.any():
            out.append(replace(f, rows=_rows(partial), found=f"{int(partial.sum())} records"))
    if unusable.any():
        values = ae["AESTDTC"].cast(pl.String).filter(unusable).unique(maintain_order=True)
        shown = ", ".join(repr(v) for v in values.head(5).to_list())
        more = f" and {values.len() - 5} more" if values.len() > 5 else ""
        out.append(
            Finding(
                "error",
                "ae-start-unusable",
                "AE",
                "AE start dates that are neither a complete nor a partial ISO 8601 date: "
                "not imputed, so ADAE has no ASTDT for them and does not count them as "
                "treatment-emergent",
                variable="AESTDTC",
                rows=_rows(unusable),
                expected="YYYY-MM-DD, or a partial date YYYY-MM or YYYY",
                found=shown + more,
            )
        )
    return out

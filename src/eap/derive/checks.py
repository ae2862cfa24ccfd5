"""Findings about SDTM input that the derivations handle by a rule, or cannot handle.

Nothing is dropped silently: each finding lists the records it concerns and says
what the derivation did with them. ``derive_all`` returns them (``Derived.findings``)
and ``eap derive`` prints them and exits with status 1 when one is an error (the
datasets are written all the same). Besides the timeline: an AE without a start date
(``ae-start-missing``, warning: counted as treatment-emergent), partial AE start dates
(``ae-start-partial``, warning: imputed) and records of subjects absent from DM
(``subject-not-in-dm``, error: nothing is derived).

Timeline contradictions (``timeline_findings``) compare a record's date with the
subject's death (DM.DTHDTC) or informed consent (DM.RFICDTC). Only a contradiction
that is certain is reported: a partial date (``2014-07``) is after the death when its
earliest possible day is after the latest possible day of the death date, so a record
dated on the day of death is never a finding and one dated (in full) the next day
always is.
Severity: **error** where the record says the subject was dosed, had an event start,
or was assessed after death (impossible, and derivations use those dates);
**warning** where the record may be dated by the site after the fact (a visit or a
disposition event after death; the pilot has a visit the day after a death), where a
derivation already corrects it (an AE or a medication ending after death: AENDT is the
death date), or where it is a deviation rather than an impossibility (a dose before
consent). An end date before its start date is eap.datasets.validate's
``end-before-start`` (``date_pairs`` in specs.toml: AE, EX, CM and others).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from eap.datasets.lazy import columns, scan
from eap.datasets.model import Dataset
from eap.datasets.validate import Finding, Severity
from eap.plans.study import Study


@dataclass(frozen=True)
class TimelineRule:
    """A timeline check: records of ``dataset`` whose ``variable`` contradicts a date of
    DM (the death, or the consent), reported as ``check`` with ``severity``.

    ``after_start``: an end date, reported only for records whose start (this variable)
    is not itself after death (those are the start check's). ``unless``: a variable and
    value whose records are left out (DS's death records).
    """

    check: str
    severity: Severity
    dataset: str
    variable: str
    message: str
    after_start: str | None = None
    unless: tuple[str, str] | None = None


AFTER_DEATH: tuple[TimelineRule, ...] = (
    TimelineRule(
        "dose-after-death",
        "error",
        "EX",
        "EXSTDTC",
        "doses recorded after the subject's death; kept, and TRTEDT uses them",
    ),
    TimelineRule(
        "dose-end-after-death",
        "error",
        "EX",
        "EXENDTC",
        "dose records ending after the subject's death; kept, and TRTEDT uses them",
        after_start="EXSTDTC",
    ),
    TimelineRule(
        "ae-after-death",
        "error",
        "AE",
        "AESTDTC",
        "AEs starting after the subject's death; kept as recorded",
    ),
    TimelineRule(
        "ae-end-after-death",
        "warning",
        "AE",
        "AEENDTC",
        "AEs ending after the subject's death; ADAE's AENDT is the death date",
        after_start="AESTDTC",
    ),
    TimelineRule(
        "cm-after-death",
        "error",
        "CM",
        "CMSTDTC",
        "medications starting after the subject's death; kept as recorded",
    ),
    TimelineRule(
        "cm-end-after-death",
        "warning",
        "CM",
        "CMENDTC",
        "medications ending after the subject's death; ADCM's AENDT is the death date",
        after_start="CMSTDTC",
    ),
    TimelineRule(
        "assessment-after-death",
        "error",
        "RS",
        "RSDTC",
        "assessments dated after the subject's death; kept as recorded",
    ),
    TimelineRule(
        "visit-after-death",
        "warning",
        "SV",
        "SVSTDTC",
        "visits dated after the subject's death; kept, and LSTALVDT may use them",
    ),
    TimelineRule(
        "disposition-after-death",
        "warning",
        "DS",
        "DSSTDTC",
        "disposition events other than death dated after the subject's death; kept, and "
        "LSTALVDT may use them",
        unless=("DSDECOD", "DEATH"),
    ),
)

DOSE_BEFORE_CONSENT = TimelineRule(
    "dose-before-consent",
    "warning",
    "EX",
    "EXSTDTC",
    "doses before the subject's informed consent (DM.RFICDTC); kept. A study whose EX "
    "holds earlier doses (a parent trial's) says so: [treatments] doses_before_consent",
)


def earliest(col: str) -> pl.Expr:
    """The earliest day an ISO 8601 date, complete or partial, can mean (null if none)."""
    text = pl.col(col).cast(pl.String)
    return pl.coalesce(
        text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False),
        text.str.slice(0, 7).str.to_date("%Y-%m", strict=False),
        text.str.slice(0, 4).str.to_date("%Y", strict=False),
    )


def latest(col: str) -> pl.Expr:
    """The latest day an ISO 8601 date, complete or partial, can mean (null if none)."""
    text = pl.col(col).cast(pl.String)
    return pl.coalesce(
        text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False),
        text.str.slice(0, 7).str.to_date("%Y-%m", strict=False).dt.month_end(),
        text.str.slice(0, 4).str.to_date("%Y", strict=False).dt.offset_by("1y")
        - pl.duration(days=1),
    )


def _rows(mask: pl.Series) -> tuple[int, ...]:
    return tuple(i + 1 for i in mask.arg_true().to_list())


def _hits(records: pl.LazyFrame) -> pl.DataFrame:
    """The records a check finds (a filtered scan with its _ROW), in row order. Polars'
    streaming engine reads a large dataset in pieces, so that only the hits are held
    (EX of a million patients, 42 M records, is never read whole)."""
    return records.collect(engine="streaming").sort("_ROW")


def _examples(hits: pl.DataFrame, variable: str, reference: str, said: str) -> str:
    shown = [
        f"{r['USUBJID']} {r[variable]} ({said} {r[reference]})"
        for r in hits.head(3).iter_rows(named=True)
    ]
    more = f"; {hits.height - 3} more" if hits.height > 3 else ""
    return f"{hits.height} records: " + "; ".join(shown) + more


def timeline_findings(sdtm: Mapping[str, Dataset], study: Study | None = None) -> list[Finding]:
    """Records dated after the subject's death (:data:`AFTER_DEATH`) and doses before the
    informed consent, unless ``study`` says EX holds such doses."""
    out: list[Finding] = []
    if "DM" not in sdtm or "USUBJID" not in sdtm["DM"].frame.columns:
        return out
    dm = sdtm["DM"].frame
    if "DTHDTC" in dm.columns:
        deaths = dm.select("USUBJID", pl.col("DTHDTC").cast(pl.String).alias("_DTHDTC"))
        deaths = deaths.with_columns(latest("_DTHDTC").alias("_DEATH")).filter(
            pl.col("_DEATH").is_not_null()
        )
        for rule in AFTER_DEATH:
            found = _after_death(sdtm, deaths, rule)
            if found is not None:
                out.append(found)
    skip = study is not None and study.treatments.doses_before_consent
    if "RFICDTC" in dm.columns and "EX" in sdtm and not skip:
        rule = DOSE_BEFORE_CONSENT
        dataset, variable = rule.dataset, rule.variable
        if {variable, "USUBJID"} <= set(columns(sdtm, dataset)):
            consent = dm.select("USUBJID", pl.col("RFICDTC").cast(pl.String).alias("_RFICDTC"))
            hits = _hits(
                scan(sdtm, dataset)
                .select("USUBJID", variable)
                .with_row_index("_ROW")
                .join(consent.lazy(), on="USUBJID", how="inner")
                .filter(latest(variable) < earliest("_RFICDTC"))
            )
            if hits.height:
                out.append(
                    Finding(
                        rule.severity,
                        rule.check,
                        dataset,
                        rule.message,
                        variable=variable,
                        rows=tuple(int(r) + 1 for r in hits["_ROW"]),
                        expected=f"{variable} on or after the informed consent (DM.RFICDTC)",
                        found=_examples(hits, variable, "_RFICDTC", "consent"),
                    )
                )
    return out


def _after_death(
    sdtm: Mapping[str, Dataset], deaths: pl.DataFrame, rule: TimelineRule
) -> Finding | None:
    if rule.dataset not in sdtm:
        return None
    needed = ["USUBJID", rule.variable]
    if rule.after_start:
        needed.append(rule.after_start)
    if rule.unless:
        needed.append(rule.unless[0])
    if any(col not in columns(sdtm, rule.dataset) for col in needed):
        return None
    records = (
        scan(sdtm, rule.dataset)
        .select(needed)
        .with_row_index("_ROW")
        .join(deaths.lazy(), on="USUBJID", how="inner")
    )
    after = earliest(rule.variable) > pl.col("_DEATH")
    if rule.after_start:
        after = after & ~(earliest(rule.after_start) > pl.col("_DEATH")).fill_null(False)
    if rule.unless:
        after = after & pl.col(rule.unless[0]).ne_missing(pl.lit(rule.unless[1]))
    hits = _hits(records.filter(after))
    if not hits.height:
        return None
    return Finding(
        rule.severity,
        rule.check,
        rule.dataset,
        rule.message,
        variable=rule.variable,
        rows=tuple(int(r) + 1 for r in hits["_ROW"]),
        expected=f"{rule.variable} on or before the subject's death (DM.DTHDTC)",
        found=_examples(hits, rule.variable, "_DTHDTC", "died"),
    )


def input_findings(sdtm: Mapping[str, Dataset], study: Study | None = None) -> list[Finding]:
    """Missing or partial AE start dates, subjects absent from DM, and the timeline
    contradictions of :func:`timeline_findings` (``study``: the consent rule)."""
    out: list[Finding] = []
    if "AE" in sdtm:
        ae = sdtm["AE"].frame
        missing = ae["AESTDTC"].is_null()
        if missing.any():
            out.append(
                Finding(
                    "warning",
                    "ae-start-missing",
                    "AE",
                    "AE without a start date: counted as treatment-emergent (conservative rule)",
                    variable="AESTDTC",
                    rows=_rows(missing),
                    found=f"{int(missing.sum())} records",
                )
            )
        partial = ae["AESTDTC"].is_not_null() & (ae["AESTDTC"].str.len_chars() < 10)
        if partial.any():
            out.append(
                Finding(
                    "warning",
                    "ae-start-partial",
                    "AE",
                    "partial AE start dates imputed (first of the period, or the first dose "
                    "in its month/year); ASTDTF says which part",
                    variable="AESTDTC",
                    rows=_rows(partial),
                    found=f"{int(partial.sum())} records",
                )
            )
    if "DM" in sdtm:
        subjects = sdtm["DM"].frame["USUBJID"].implode()
        for name in sdtm:
            if name == "DM" or "USUBJID" not in columns(sdtm, name):
                continue
            absent = ~pl.col("USUBJID").is_in(subjects)
            if name == "RELREC":
                # Relationships between datasets (RELTYPE set) have no subject.
                absent = absent & pl.col("USUBJID").fill_null("").str.strip_chars().ne("")
            hits = _hits(scan(sdtm, name).select("USUBJID").with_row_index("_ROW").filter(absent))
            if hits.height:
                out.append(
                    Finding(
                        "error",
                        "subject-not-in-dm",
                        name,
                        f"{name} records of subjects absent from DM cannot be derived",
                        variable="USUBJID",
                        rows=tuple(int(r) + 1 for r in hits["_ROW"]),
                        found=", ".join(sorted(set(hits["USUBJID"].to_list()))[:5]),
                    )
                )
    out += timeline_findings(sdtm, study)
    return out

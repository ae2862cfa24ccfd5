"""Timeline rules across SDTM domains: the dates of one subject must tell one story.

Each rule is a function of the datasets (by name) and the study's rules
(:class:`TimelineRules`); it yields one :class:`~eap.datasets.validate.Finding`
per contradiction, naming the dataset, the row(s), the USUBJID, the dates and what
was expected. A rule whose domains or variables are absent yields nothing (the
datasets cannot contradict themselves there). Only complete dates (YYYY-MM-DD) are
compared; partial or invalid dates are left to the ``iso8601`` check.

All findings are **warnings**: they are queries for the data manager, and none of
them stops a derivation (eap derives each date from its own records: TRTSDT/TRTEDT
from EX, progression from RS, death from DM/DS). See docs/datasets.md.

============================  =============================================================
check                         rule
============================  =============================================================
progression-not-documented    (a) a stop for progression (DS disposition event, DSDECOD
                              PROGRESSIVE DISEASE, in the treatment epoch) has a
                              progression response (RS, the study's code, else "PD") on or
                              before its date; a stop the study's clinical-progression
                              filter selects needs none
record-after-death            (b) no AE, CM, EX, LB, PR, RS, SV or VS date, and no DS record
                              other than the death, after DM.DTHDTC (or DS DEATH)
death-stop-before-fatal-ae    (c) a DS DEATH disposition event is not dated before the
                              start of the subject's fatal AE (AEOUT FATAL or AESDTH Y)
contact-after-lost            (d) no AE, EX, LB, RS, SV or VS date after the DS LOST TO
                              FOLLOW-UP date
reference-exposure-dates      (e) DM.RFXSTDTC / RFXENDTC are the first / last EX date
reduction-grade               (f) an AE with AEACN DOSE REDUCED has a grade the protocol
                              reduces for (only with a protocol that states the grades)
reduction-without-ae          (f) an EX dose decrease follows (on or after the start of) an
                              AE with AEACN DOSE REDUCED
reduced-ae-next-dose          (g) after an AE with AEACN DOSE REDUCED the next EX dose is
                              lower than the dose before it
============================  =============================================================
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import polars as pl

from eap.datasets.model import Dataset
from eap.datasets.validate import Finding

PROGRESSIVE_DISEASE = "PROGRESSIVE DISEASE"
LOST = "LOST TO FOLLOW-UP"
DEATH = "DEATH"
DOSE_REDUCED = "DOSE REDUCED"
TREATMENT_EPOCH = "TREATMENT"
DISPOSITION_EVENT = "DISPOSITION EVENT"

# Domains whose dates are contacts with the subject (a visit, a dose, an assessment).
CONTACT_DOMAINS = ("AE", "EX", "LB", "RS", "SV", "VS")
# Domains that can hold no record after death (CM and PR: a start after death).
AFTER_DEATH_DOMAINS = ("AE", "CM", "EX", "LB", "PR", "RS", "SV", "VS")


@dataclass(frozen=True)
class TimelineRules:
    """What the timeline rules need to know of the study.

    ``progression``: RSSTRESC of a documented progression; ``clinical_progression``: a
    filter on DS selecting stops for a progression judged clinically, which need no
    response record (None: every stop for progression needs one); ``reduced_drug``: the
    EXTRT whose doses the protocol reduces (None: any treatment); ``reduce_grades``: the
    AE grades (AETOXGR) a reduction needs (None: any AE with AEACN DOSE REDUCED).
    """

    progression: str = "PD"
    clinical_progression: str | None = None
    reduced_drug: str | None = None
    reduce_grades: tuple[int, ...] | None = None


def rules_for(datasets: Mapping[str, Dataset]) -> TimelineRules:
    """The rules of the built-in study whose id is DM's STUDYID, else the generic rules."""
    from eap.plans.study import BUILTIN, load_study

    dm = datasets.get("DM")
    if dm is None or "STUDYID" not in dm.frame.columns or dm.n_rows == 0:
        return TimelineRules()
    studyid = dm.frame["STUDYID"].drop_nulls().cast(pl.String)
    if studyid.is_empty():
        return TimelineRules()
    for name in BUILTIN:
        study = load_study(name)
        if study.id != studyid[0]:
            continue
        protocol = study.load_protocol()
        return TimelineRules(
            progression=study.response.progression if study.response else "PD",
            clinical_progression=study.response.clinical_progression if study.response else None,
            reduced_drug=protocol.dose_reduction.drug if protocol else None,
            reduce_grades=protocol.dose_reduction.grades if protocol else None,
        )
    return TimelineRules()


# --- reading dates ------------------------------------------------------------


def _date(frame: pl.DataFrame, column: str) -> pl.Series:
    """A column as dates: complete ISO 8601 dates only (anything else is null)."""
    s = frame[column]
    if s.dtype == pl.Date:
        return s
    if s.dtype == pl.Datetime:
        return s.dt.date()
    text = s.cast(pl.String).str.slice(0, 10)
    return text.str.to_date("%Y-%m-%d", strict=False).alias(column)


def _has(datasets: Mapping[str, Dataset], name: str, *columns: str) -> bool:
    from eap.datasets.lazy import columns as columns_of  # its header: no rows read

    return name in datasets and all(c in columns_of(datasets, name) for c in columns)


def _indexed(ds: Dataset) -> pl.DataFrame:
    """The frame with its 1-based row number (_ROW), as findings name rows; a batch of
    subjects (check_timelines) comes with the row numbers of the whole dataset."""
    if "_ROW" in ds.frame.columns:
        return ds.frame
    return ds.frame.with_row_index("_ROW", offset=1)


def _text(frame: pl.DataFrame, column: str) -> pl.Expr:
    if column not in frame.columns:
        return pl.lit(None, dtype=pl.String)
    return pl.col(column).cast(pl.String).str.strip_chars().str.to_uppercase()


def _iso(d: dt.date | None) -> str:
    return "missing" if d is None else d.isoformat()


def _death_dates(datasets: Mapping[str, Dataset]) -> dict[str, dt.date]:
    """Each subject's death date: DM.DTHDTC, else the earliest DS DEATH record."""
    deaths: dict[str, dt.date] = {}
    if _has(datasets, "DS", "USUBJID", "DSDECOD", "DSSTDTC"):
        ds = datasets["DS"].frame
        rows = ds.with_columns(_date(ds, "DSSTDTC").alias("_D")).filter(
            (_text(ds, "DSDECOD") == DEATH) & pl.col("_D").is_not_null()
        )
        for u, d in rows.group_by("USUBJID").agg(pl.col("_D").min()).iter_rows():
            deaths[str(u)] = d
    if _has(datasets, "DM", "USUBJID", "DTHDTC"):
        dm = datasets["DM"].frame
        rows = dm.with_columns(_date(dm, "DTHDTC").alias("_D")).filter(pl.col("_D").is_not_null())
        for u, d in rows.select("USUBJID", "_D").iter_rows():
            deaths[str(u)] = d
    return deaths


def _date_columns(ds: Dataset) -> list[str]:
    """The --DTC, --STDTC and --ENDTC variables of a domain (dates of the record)."""
    prefix = ds.name[:2]
    wanted = (f"{prefix}DTC", f"{prefix}STDTC", f"{prefix}ENDTC")
    return [c for c in wanted if c in ds.frame.columns]


def _records_after(
    ds: Dataset, limit: Mapping[str, dt.date], keep: pl.Expr | None = None
) -> Iterator[tuple[str, list[int], str, dt.date, dt.date]]:
    """Per subject: rows with a date after the subject's limit date (USUBJID, rows,
    the date variables concerned, the earliest such date, the limit)."""
    columns = _date_columns(ds)
    if "USUBJID" not in ds.frame.columns or not limit or not columns:
        return
    frame = _indexed(ds)
    if keep is not None:
        frame = frame.filter(keep)
    limits = pl.DataFrame(
        {"USUBJID": list(limit), "_LIMIT": list(limit.values())},
        schema={"USUBJID": pl.String, "_LIMIT": pl.Date},
    )
    frame = frame.with_columns(pl.col("USUBJID").cast(pl.String)).join(
        limits, on="USUBJID", how="inner"
    )
    late = frame.with_columns(
        [(_date(frame, c) > pl.col("_LIMIT")).fill_null(False).alias(f"_LATE_{c}") for c in columns]
        + [
            pl.min_horizontal(
                [pl.when(_date(frame, c) > pl.col("_LIMIT")).then(_date(frame, c)) for c in columns]
            ).alias("_FIRST")
        ]
    ).filter(pl.col("_FIRST").is_not_null())
    for (u,), group in late.group_by(["USUBJID"], maintain_order=True):
        which = [c for c in columns if group[f"_LATE_{c}"].any()]
        yield (
            str(u),
            sorted(group["_ROW"].to_list()),
            ", ".join(which),
            group["_FIRST"].min(),  # type: ignore[misc]
            group["_LIMIT"][0],
        )


# --- (a) progression documented before a stop for progression -------------------


def _clinical(ds: pl.DataFrame, rule: str | None) -> pl.Expr:
    """The DS records the study's clinical-progression filter selects: a progression
    judged clinically has no response record to find. A filter naming a variable DS
    lacks selects none (the rule then asks every stop for its record)."""
    from eap.errors import EapError
    from eap.stats.frame import parse_where

    if rule is None:
        return pl.lit(value=False)
    try:
        return parse_where(rule, ds.columns).fill_null(value=False)
    except EapError:
        return pl.lit(value=False)


def check_progression_documented(
    datasets: Mapping[str, Dataset], rules: TimelineRules
) -> Iterator[Finding]:
    """A stop for progression has a progression response on or before its date."""
    if not _has(datasets, "DS", "USUBJID", "DSDECOD", "DSSTDTC") or not _has(
        datasets, "RS", "USUBJID", "RSSTRESC", "RSDTC"
    ):
        return
    ds = _indexed(datasets["DS"])
    stops = ds.with_columns(_date(ds, "DSSTDTC").alias("_D")).filter(
        (_text(ds, "DSDECOD") == PROGRESSIVE_DISEASE)
        & pl.col("_D").is_not_null()
        & (
            (_text(ds, "DSCAT") == DISPOSITION_EVENT)
            if "DSCAT" in ds.columns
            else pl.lit(value=True)
        )
        & ((_text(ds, "EPOCH") == TREATMENT_EPOCH) if "EPOCH" in ds.columns else pl.lit(value=True))
        & ~_clinical(ds, rules.clinical_progression)
    )
    rs = datasets["RS"].frame
    pd_dates = (
        rs.with_columns(_date(rs, "RSDTC").alias("_D"))
        .filter((_text(rs, "RSSTRESC") == rules.progression.upper()) & pl.col("_D").is_not_null())
        .group_by(pl.col("USUBJID").cast(pl.String))
        .agg(pl.col("_D").min().alias("_PD"))
    )
    joined = stops.with_columns(pl.col("USUBJID").cast(pl.String)).join(
        pd_dates, on="USUBJID", how="left"
    )
    late = joined.filter(pl.col("_PD").is_null() | (pl.col("_PD") > pl.col("_D")))
    for r in late.iter_rows(named=True):
        first = r["_PD"]
        yield Finding(
            "warning",
            "progression-not-documented",
            "DS",
            f"{r['USUBJID']} stopped for progression on {_iso(r['_D'])} "
            + (
                "with no progression in RS"
                if first is None
                else f"but RS documents progression only on {_iso(first)}"
            ),
            variable="DSSTDTC",
            rows=(int(r["_ROW"]),),
            expected=f"an RS record with RSSTRESC {rules.progression!r} on or before "
            f"{_iso(r['_D'])}"
            + (
                f" (or a stop where {rules.clinical_progression})"
                if rules.clinical_progression
                else ""
            ),
            found=f"first progression {_iso(first)}",
        )


# --- (b) no record after death --------------------------------------------------


def check_records_after_death(
    datasets: Mapping[str, Dataset], rules: TimelineRules
) -> Iterator[Finding]:
    """No record of any domain is dated after the subject's death."""
    deaths = _death_dates(datasets)
    if not deaths:
        return
    domains: list[tuple[str, pl.Expr | None]] = [(d, None) for d in AFTER_DEATH_DOMAINS]
    if _has(datasets, "DS", "DSDECOD"):
        domains.append(("DS", _text(datasets["DS"].frame, "DSDECOD") != DEATH))
    for name, keep in domains:
        ds = datasets.get(name)
        if ds is None:
            continue
        for u, rows, column, first, death in _records_after(ds, deaths, keep):
            yield Finding(
                "warning",
                "record-after-death",
                name,
                f"{u} has {len(rows)} {name} record(s) dated after death ({_iso(death)})",
                variable=column,
                rows=tuple(rows),
                expected=f"{column} on or before the death date {_iso(death)}",
                found=f"first date after it: {_iso(first)}",
            )


# --- (c) end of treatment for death not before the fatal AE ---------------------


def check_death_stop_after_fatal_ae(
    datasets: Mapping[str, Dataset], rules: TimelineRules
) -> Iterator[Finding]:
    """A disposition for death is not dated before the start of the fatal AE."""
    if not _has(datasets, "DS", "USUBJID", "DSDECOD", "DSSTDTC") or not _has(
        datasets, "AE", "USUBJID", "AESTDTC"
    ):
        return
    ae = datasets["AE"].frame
    if "AEOUT" not in ae.columns and "AESDTH" not in ae.columns:
        return
    fatal = (_text(ae, "AEOUT") == "FATAL").fill_null(False) | (
        _text(ae, "AESDTH") == "Y"
    ).fill_null(False)
    starts = (
        ae.with_columns(_date(ae, "AESTDTC").alias("_A"))
        .filter(fatal & pl.col("_A").is_not_null())
        .group_by(pl.col("USUBJID").cast(pl.String))
        .agg(pl.col("_A").max())
    )
    ds = _indexed(datasets["DS"])
    stops = ds.with_columns(_date(ds, "DSSTDTC").alias("_D")).filter(
        (_text(ds, "DSDECOD") == DEATH)
        & pl.col("_D").is_not_null()
        & (
            (_text(ds, "DSCAT") == DISPOSITION_EVENT)
            if "DSCAT" in ds.columns
            else pl.lit(value=True)
        )
    )
    joined = stops.with_columns(pl.col("USUBJID").cast(pl.String)).join(
        starts, on="USUBJID", how="inner"
    )
    for r in joined.filter(pl.col("_D") < pl.col("_A")).iter_rows(named=True):
        yield Finding(
            "warning",
            "death-stop-before-fatal-ae",
            "DS",
            f"{r['USUBJID']}'s disposition for death ({_iso(r['_D'])}) is dated before "
            f"the fatal adverse event began ({_iso(r['_A'])})",
            variable="DSSTDTC",
            rows=(int(r["_ROW"]),),
            expected=f"DSSTDTC on or after the fatal AE's AESTDTC {_iso(r['_A'])}",
            found=f"DSSTDTC={_iso(r['_D'])}",
        )


# --- (d) no contact after loss to follow-up -------------------------------------


def check_contact_after_lost(
    datasets: Mapping[str, Dataset], rules: TimelineRules
) -> Iterator[Finding]:
    """No visit, dose, assessment or AE after the subject was lost to follow-up."""
    if not _has(datasets, "DS", "USUBJID", "DSDECOD", "DSSTDTC"):
        return
    ds = datasets["DS"].frame
    lost_rows = ds.with_columns(_date(ds, "DSSTDTC").alias("_D")).filter(
        (_text(ds, "DSDECOD") == LOST) & pl.col("_D").is_not_null()
    )
    lost = {
        str(u): d
        for u, d in lost_rows.group_by(pl.col("USUBJID").cast(pl.String))
        .agg(pl.col("_D").max())
        .iter_rows()
    }
    for name in CONTACT_DOMAINS:
        domain = datasets.get(name)
        if domain is None:
            continue
        for u, rows, column, first, when in _records_after(domain, lost):
            yield Finding(
                "warning",
                "contact-after-lost",
                name,
                f"{u} was lost to follow-up on {_iso(when)} but has {len(rows)} later "
                f"{name} record(s)",
                variable=column,
                rows=tuple(rows),
                expected=f"{column} on or before the loss to follow-up {_iso(when)}",
                found=f"first date after it: {_iso(first)}",
            )


# --- (e) reference exposure dates -----------------------------------------------


def _exposure_span(ex: pl.DataFrame) -> pl.DataFrame:
    """USUBJID, first and last EX date (EXENDTC, else EXSTDTC, for the last)."""
    end = "EXENDTC" if "EXENDTC" in ex.columns else "EXSTDTC"
    return (
        ex.select(
            "USUBJID",
            _date(ex, "EXSTDTC").alias("_S"),
            pl.coalesce(_date(ex, end), _date(ex, "EXSTDTC")).alias("_E"),
        )
        .group_by(pl.col("USUBJID").cast(pl.String))
        .agg(pl.col("_S").min().alias("_FIRST"), pl.col("_E").max().alias("_LAST"))
    )


def check_reference_exposure_dates(
    datasets: Mapping[str, Dataset], rules: TimelineRules
) -> Iterator[Finding]:
    """DM.RFXSTDTC and RFXENDTC are the first and last dates of EX."""
    if not _has(datasets, "DM", "USUBJID") or not _has(datasets, "EX", "USUBJID", "EXSTDTC"):
        return
    dm = _indexed(datasets["DM"])
    span = _exposure_span(datasets["EX"].frame)
    joined = dm.with_columns(pl.col("USUBJID").cast(pl.String)).join(
        span, on="USUBJID", how="inner"
    )
    for variable, edge, which in (("RFXSTDTC", "_FIRST", "first"), ("RFXENDTC", "_LAST", "last")):
        if variable not in dm.columns:
            continue
        got = joined.with_columns(_date(joined, variable).alias("_R"))
        bad = got.filter(
            pl.col(edge).is_not_null()
            & (pl.col("_R").is_null() | (pl.col("_R") != pl.col(edge))).fill_null(True)
        )
        for r in bad.iter_rows(named=True):
            if r["_R"] is None and str(r[variable] or "").strip():
                continue  # a partial or invalid date: the iso8601 check's finding
            yield Finding(
                "warning",
                "reference-exposure-dates",
                "DM",
                f"{r['USUBJID']}'s {variable} is not the {which} EX date",
                variable=variable,
                rows=(int(r["_ROW"]),),
                expected=f"{variable}={_iso(r[edge])} (the {which} dose in EX)",
                found=f"{variable}={_iso(r['_R'])}",
            )


# --- (f) and (g) dose reductions ------------------------------------------------


def _reduced_aes(datasets: Mapping[str, Dataset]) -> pl.DataFrame | None:
    """AE rows with AEACN DOSE REDUCED and a complete start date (_ROW, _A, grade _G)."""
    if not _has(datasets, "AE", "USUBJID", "AEACN", "AESTDTC"):
        return None
    ae = _indexed(datasets["AE"])
    if ae["AEACN"].cast(pl.String).str.strip_chars().fill_null("").eq("").all():
        return None  # AEACN never collected: nothing says why a dose changed
    grade = (
        pl.col("AETOXGR")
        .cast(pl.String)
        .str.strip_chars()
        .cast(pl.Float64, strict=False)
        .cast(pl.Int64, strict=False)
        if "AETOXGR" in ae.columns
        else pl.lit(None, dtype=pl.Int64)
    )
    return ae.with_columns(
        pl.col("USUBJID").cast(pl.String),
        _date(ae, "AESTDTC").alias("_A"),
        grade.alias("_G"),
    ).filter((_text(ae, "AEACN") == DOSE_REDUCED) & pl.col("_A").is_not_null())


def _doses(datasets: Mapping[str, Dataset], rules: TimelineRules) -> pl.DataFrame | None:
    """EX rows of the reduced drug with a dose and a complete start, in order (_ROW, _S)."""
    if not _has(datasets, "EX", "USUBJID", "EXTRT", "EXDOSE", "EXSTDTC"):
        return None
    ex = _indexed(datasets["EX"])
    # Only what the rules read is kept: EX is the largest domain.
    out = ex.select(
        "_ROW",
        pl.col("USUBJID").cast(pl.String),
        _text(ex, "EXTRT").alias("_T"),
        _date(ex, "EXSTDTC").alias("_S"),
        pl.col("EXDOSE").cast(pl.Float64, strict=False).alias("_DOSE"),
    ).filter(pl.col("_S").is_not_null() & pl.col("_DOSE").is_not_null())
    if rules.reduced_drug is not None:
        out = out.filter(pl.col("_T") == rules.reduced_drug.upper())
    return out.sort("USUBJID", "_T", "_S", "_ROW")


def check_reduction_grade(
    datasets: Mapping[str, Dataset], rules: TimelineRules
) -> Iterator[Finding]:
    """An AE that reduced the dose has a grade the protocol reduces for."""
    if rules.reduce_grades is None:
        return
    aes = _reduced_aes(datasets)
    if aes is None or "AETOXGR" not in aes.columns:
        return
    allowed = list(rules.reduce_grades)
    grades = " or ".join(str(g) for g in allowed)
    for r in aes.filter(pl.col("_G").is_not_null() & ~pl.col("_G").is_in(allowed)).iter_rows(
        named=True
    ):
        yield Finding(
            "warning",
            "reduction-grade",
            "AE",
            f"{r['USUBJID']}'s dose was reduced for a grade {r['_G']} adverse event "
            f"starting {_iso(r['_A'])}; the protocol reduces for grade {grades}",
            variable="AETOXGR, AEACN",
            rows=(int(r["_ROW"]),),
            expected=f"AETOXGR {grades} with AEACN {DOSE_REDUCED!r}",
            found=f"AETOXGR={r['_G']}, AESTDTC={_iso(r['_A'])}",
        )


def check_reduction_has_ae(
    datasets: Mapping[str, Dataset], rules: TimelineRules
) -> Iterator[Finding]:
    """Every decrease of EXDOSE follows an AE with AEACN DOSE REDUCED."""
    doses = _doses(datasets, rules)
    aes = _reduced_aes(datasets)
    if doses is None or aes is None:
        return
    decreases = doses.with_columns(
        pl.col("_DOSE").shift(1).over("USUBJID", "_T").alias("_BEFORE")
    ).filter(pl.col("_DOSE") < pl.col("_BEFORE"))
    first_ae = aes.group_by("USUBJID").agg(pl.col("_A").min().alias("_FIRSTAE"))
    joined = decreases.join(first_ae, on="USUBJID", how="left")
    for r in joined.filter(
        pl.col("_FIRSTAE").is_null() | (pl.col("_FIRSTAE") > pl.col("_S"))
    ).iter_rows(named=True):
        yield Finding(
            "warning",
            "reduction-without-ae",
            "EX",
            f"{r['USUBJID']}'s {r['_T']} dose falls from {r['_BEFORE']:g} to {r['_DOSE']:g} "
            f"on {_iso(r['_S'])} with no adverse event that reduced it",
            variable="EXDOSE",
            rows=(int(r["_ROW"]),),
            expected=f"an AE with AEACN {DOSE_REDUCED!r} starting on or before {_iso(r['_S'])}",
            found="none"
            if r["_FIRSTAE"] is None
            else f"the first such AE starts {_iso(r['_FIRSTAE'])}",
        )


def check_reduced_ae_next_dose(
    datasets: Mapping[str, Dataset], rules: TimelineRules
) -> Iterator[Finding]:
    """After an AE with AEACN DOSE REDUCED, the next dose is lower than the one before."""
    doses = _doses(datasets, rules)
    aes = _reduced_aes(datasets)
    if doses is None or aes is None:
        return
    dosed = doses.select("USUBJID", "_T", "_S", "_DOSE", pl.col("_ROW").alias("_EXROW"))
    # Each reducing AE against each treatment of its subject: the last dose starting
    # on or before the AE's start and the first starting after it.
    pairs = (
        aes.select("USUBJID", "_ROW", "_A")
        .join(dosed.select("USUBJID", "_T").unique(), on="USUBJID", how="inner")
        .sort("_A")
    )
    by_start = dosed.sort("_S")
    before = pairs.join_asof(
        by_start.select("USUBJID", "_T", "_S", pl.col("_DOSE").alias("_BEFORE")),
        left_on="_A",
        right_on="_S",
        by=["USUBJID", "_T"],
        strategy="backward",
        check_sortedness=False,  # both sorted by date above; polars cannot check with by
    ).drop("_S")
    both = before.join_asof(
        by_start.rename({"_DOSE": "_NEXT", "_S": "_NEXTS"}),
        left_on="_A",
        right_on="_NEXTS",
        by=["USUBJID", "_T"],
        strategy="forward",
        allow_exact_matches=False,
        check_sortedness=False,
    ).filter(pl.col("_BEFORE").is_not_null() & pl.col("_NEXT").is_not_null())
    judged = (
        both.sort("_ROW", "_T")
        .group_by("_ROW", maintain_order=True)
        .agg(
            pl.col("USUBJID").first(),
            pl.col("_A").first(),
            (pl.col("_NEXT") < pl.col("_BEFORE")).any().alias("_LOWER"),
            pl.col("_T").first(),
            pl.col("_BEFORE").first(),
            pl.col("_NEXT").first(),
            pl.col("_NEXTS").first(),
            pl.col("_EXROW").first(),
        )
        .filter(~pl.col("_LOWER"))
        .sort("_ROW")
    )
    for r in judged.iter_rows(named=True):
        yield Finding(
            "warning",
            "reduced-ae-next-dose",
            "AE",
            f"{r['USUBJID']}'s adverse event of {_iso(r['_A'])} reduced the dose, but the "
            f"next {r['_T']} dose ({_iso(r['_NEXTS'])}, EX row {r['_EXROW']}) is "
            f"{r['_NEXT']:g}, not below {r['_BEFORE']:g}",
            variable="AEACN",
            rows=(int(r["_ROW"]),),
            expected=f"the next EXDOSE after {_iso(r['_A'])} below {r['_BEFORE']:g}",
            found=f"EXDOSE={r['_NEXT']:g} on {_iso(r['_NEXTS'])}",
        )


TimelineCheck = Callable[[Mapping[str, Dataset], TimelineRules], Iterator[Finding]]
TIMELINE_CHECKS: tuple[TimelineCheck, ...] = (
    check_progression_documented,
    check_records_after_death,
    check_death_stop_after_fatal_ae,
    check_contact_after_lost,
    check_reference_exposure_dates,
    check_reduction_grade,
    check_reduction_has_ae,
    check_reduced_ae_next_dose,
)


# The variables each timeline rule reads, by dataset, besides USUBJID, each domain's
# --DTC, --STDTC and --ENDTC and those of the study's clinical-progression filter: the
# checks read only these (eap.datasets.lazy.Projected), so that a lazy dataset is read
# in part.
VARIABLES: dict[str, frozenset[str]] = {
    "DM": frozenset({"STUDYID", "DTHDTC", "RFXSTDTC", "RFXENDTC"}),
    "DS": frozenset({"DSDECOD", "DSCAT", "EPOCH"}),
    "AE": frozenset({"AEACN", "AETOXGR", "AEOUT", "AESDTH"}),
    "EX": frozenset({"EXDOSE", "EXTRT"}),
    "RS": frozenset({"RSSTRESC"}),
}


def timeline_variables(name: str, rules: TimelineRules) -> set[str]:
    """The variables of dataset ``name`` the timeline rules may read."""
    from eap.derive.common import filter_variables

    prefix = name[:2]
    wanted = {"USUBJID", f"{prefix}DTC", f"{prefix}STDTC", f"{prefix}ENDTC"}
    wanted |= VARIABLES.get(name, frozenset())
    if rules.clinical_progression:
        wanted |= filter_variables(rules.clinical_progression)
    return wanted


def check_timelines(
    datasets: Mapping[str, Dataset],
    rules: TimelineRules | None = None,
    *,
    batch_subjects: int | None = None,
) -> list[Finding]:
    """Every timeline finding of SDTM ``datasets`` (rules: the study's, found from DM).

    Each rule is about one subject's records, so with ``batch_subjects`` the rules run
    on that many subjects of DM at a time (eap.datasets.lazy.Subjects, each record
    numbered by its row in the whole dataset) and find what they find run whole. A
    rule's findings come in the order of the datasets, then of their first row.
    """
    if "DM" not in datasets and "DS" not in datasets and "EX" not in datasets:
        return []
    from eap.datasets.lazy import Projected, Subjects, scan, subject_batches

    chosen = rules if rules is not None else rules_for(datasets)
    read = Projected(datasets, lambda name, _: timeline_variables(name, chosen))
    ranges: list[tuple[str | None, str | None]] = [(None, None)]
    if batch_subjects and _has(datasets, "DM", "USUBJID"):
        subjects = scan(datasets, "DM").select("USUBJID").collect().to_series()
        ranges = subject_batches(subjects, batch_subjects)
    views: list[Mapping[str, Dataset]] = (
        [read] if len(ranges) < 2 else [Subjects(read, a, b, row_numbers="_ROW") for a, b in ranges]
    )
    found: dict[TimelineCheck, list[Finding]] = {check: [] for check in TIMELINE_CHECKS}
    for view in views:
        for check in TIMELINE_CHECKS:
            found[check] += check(view, chosen)
    rank = {name: i for i, name in enumerate(datasets)}

    def place(f: Finding) -> tuple[int, int]:
        return rank.get(f.dataset, len(rank)), f.rows[0] if f.rows else 0

    return [f for check in TIMELINE_CHECKS for f in sorted(found[check], key=place)]

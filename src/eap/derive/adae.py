"""ADAE: treatment-emergent adverse events with worst grade, grade 3-4 and the study's flags.

Rules (one function each below):

* **Dates** ASTDT/AENDT from AESTDTC/AEENDTC. Partial dates are imputed:
  a missing day becomes the 1st (ASTDTF "D"), a missing month January (ASTDTF
  "M"); when the known part of a start date is the month (or year) of the first
  dose, the start is imputed to the first dose instead, so that an event of that
  month is not called pre-treatment (the convention of admiral's
  ``derive_vars_dt(highest_imputation = "M", min_dates = TRTSDT)``). End dates
  are imputed to the last day of the period (AENDTF), never after death. Only valid
  ISO 8601 partial dates are imputed (``2011``, ``2011-10``): a value that is no ISO
  8601 date (``05OCT2011``, ``2011-13-45``, ``2014-02-30``) gives no date and no flag,
  and the input finding ``ae-start-unusable`` lists its records.
* **TRTEMFL** "Y" when ASTDT >= TRTSDT and ASTDT <= TRTEDT + the study's
  treatment-emergent window (``[adae] te_window_days``; MM-024: 28 days, so day 28
  after the last dose is emergent and day 29 is not). A study without a window
  (the CDISC pilot) counts every AE starting on or after the first dose, as the
  pilot's ADAE does (TRTEMFL "Y" when ASTDT >= TRTSDT; its AEs starting up to 14
  days after the last dose are emergent). AEs matching the study's
  ``always_emergent`` filter are emergent from the first dose on, whatever the
  window. A missing start date counts as emergent (conservative; admiral's rule).
  An AE starting after the data cutoff is never emergent: the window after the last
  dose can reach past the cutoff for a patient on treatment at it (the record stays
  in ADAE, with TRTEMFL missing). Otherwise TRTEMFL is missing.
* **ATOXGRN** the CTCAE grade as a number; **TOXG34FL** "Y" for grade 3 or 4.
* **WORSTFL** "Y" on one record per subject and preferred term: the worst
  grade (or severity when there is no grade), earliest onset among ties, among
  treatment-emergent records. Tables that count a patient once per term at the
  highest grade select WORSTFL = "Y".
* Study flags (``[adae.flags]``): "Y" where the study's filter holds (MM-024: SPMFL,
  AECAT "SECOND PRIMARY MALIGNANCY").
* The action taken with the study drug (``[adae] action_variable``; MM-024: ACTLEN):
  INTERRUPTED, REDUCED, WITHDRAWN or NONE (from AEACN).
* **ASTDY** the study day of onset: day 1 is the first dose and there is no day 0
  (an AE the day before the first dose is on day -1), as the pilot's ADAE;
  **ONTRTM** (ASTDT - TRTSDT + 1) days in months of the study's month length.
* The phase at onset (``[adae.period]``; MM-024: APHASE): the value of the latest
  listed ADSL start date on or before ASTDT (MM-024: TREATMENT PHASE from EAP
  consent, SAFETY FOLLOW-UP from the date the patient entered it), the ``before``
  value before the first (PARENT TRIAL).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import narwhals as nw

from eap.datasets.model import Dataset
from eap.datasets.validate import days_in_month, iso8601_valid
from eap.derive.common import as_adam, require_subjects, where_neutral
from eap.engine.frames import (
    Frame,
    Tables,
    collect,
    columns,
    days_between,
    polars_tables,
    recode,
    with_dates,
)
from eap.errors import EapError
from eap.plans.study import DEFAULT_STUDY, Study, load_study

SEVERITY_RANK = {"MILD": 1, "MODERATE": 2, "SEVERE": 3}
ACTIONS = {
    "DRUG INTERRUPTED": "INTERRUPTED",
    "DOSE REDUCED": "REDUCED",
    "DRUG WITHDRAWN": "WITHDRAWN",
}


class _Default:
    """The study's value (a keyword left out)."""


STUDY_DEFAULT = _Default()


def with_date_parts(frame: Frame, dtc: str, prefix: str) -> Frame:
    """``frame`` with the dates a --DTC value gives, each a column named ``prefix`` and:
    ``F`` the complete date; ``M`` and ``ME`` the first and the last day of its month
    and ``Y`` and ``YE`` of its year, for a valid ISO 8601 value with a month (a year).
    The partial parts only of a valid value (``2011-10``, ``2011``): ``05OCT2011``,
    ``2011-13-45`` or ``2014-02-30`` give no date at all, and no flag."""
    text = nw.col(dtc)
    # Each test once, as a column: the parts below read them several times.
    month_col, year_col = nw.col(f"{prefix}WM"), nw.col(f"{prefix}WY")
    frame = frame.with_columns(iso8601_valid(text).alias(f"{prefix}V")).with_columns(
        (nw.col(f"{prefix}V") & text.str.contains(r"^\d{4}-\d{2}")).alias(f"{prefix}WM"),
        (nw.col(f"{prefix}V") & text.str.contains(r"^\d{4}")).alias(f"{prefix}WY"),
    )
    # The month's days from the text of a valid month (others read as January 2000).
    month_text = nw.when(month_col).then(text).otherwise(nw.lit("2000-01"))
    frame = frame.with_columns(
        days_in_month(
            month_text.str.slice(0, 4).cast(nw.Int64), month_text.str.slice(5, 2).cast(nw.Int64)
        )
        .cast(nw.String)
        .alias(f"{prefix}DAYS")
    )
    frame = frame.with_columns(
        nw.when(month_col)
        .then(nw.concat_str([text.str.slice(0, 7), nw.lit("-01")]))
        .alias(f"{prefix}MT"),
        nw.when(month_col)
        .then(nw.concat_str([text.str.slice(0, 7), nw.lit("-"), nw.col(f"{prefix}DAYS")]))
        .alias(f"{prefix}MET"),
        nw.when(year_col)
        .then(nw.concat_str([text.str.slice(0, 4), nw.lit("-01-01")]))
        .alias(f"{prefix}YT"),
        nw.when(year_col)
        .then(nw.concat_str([text.str.slice(0, 4), nw.lit("-12-31")]))
        .alias(f"{prefix}YET"),
    ).drop(f"{prefix}V", f"{prefix}WM", f"{prefix}WY", f"{prefix}DAYS")
    parts = {f"{prefix}{p}": f"{prefix}{p}T" for p in ("M", "ME", "Y", "YE")}
    return with_dates(frame, {f"{prefix}F": dtc} | parts).drop(*parts.values())


def with_analysis_dates(frame: Frame, start: str, end: str) -> Frame:
    """``frame`` with ASTDT/ASTDTF imputed from the --DTC variable ``start`` and TRTSDT,
    and AENDT/AENDTF from ``end`` and DTHDT (the rules of the module docstring; ADCM's
    too)."""
    frame = with_date_parts(with_date_parts(frame, start, "_S"), end, "_E")
    astdt, astdtf = impute_start("_S", nw.col("TRTSDT"))
    aendt, aendtf = impute_end("_E", nw.col("DTHDT"))
    parts = [f"{prefix}{p}" for prefix in ("_S", "_E") for p in ("F", "M", "ME", "Y", "YE")]
    return frame.with_columns(
        astdt.alias("ASTDT"), astdtf.alias("ASTDTF"), aendt.alias("AENDT"), aendtf.alias("AENDTF")
    ).drop(*parts)


def impute_start(prefix: str, trtsdt: nw.Expr) -> tuple[nw.Expr, nw.Expr]:
    """ASTDT and ASTDTF from the date parts :func:`with_date_parts` added with
    ``prefix`` (see the module docstring)."""
    full, month, year = (nw.col(f"{prefix}{p}") for p in ("F", "M", "Y"))
    same_month = (month.dt.year() == trtsdt.dt.year()) & (month.dt.month() == trtsdt.dt.month())
    same_year = year.dt.year() == trtsdt.dt.year()
    has_month = ~month.is_null()
    date = (
        nw.when(~full.is_null())
        .then(full)
        .otherwise(
            nw.when(has_month & same_month.fill_null(False))
            .then(nw.max_horizontal(month, trtsdt))
            .otherwise(
                nw.when(has_month)
                .then(month)
                .otherwise(
                    nw.when(same_year.fill_null(False))
                    .then(nw.max_horizontal(year, trtsdt))
                    .otherwise(year)
                )
            )
        )
    )
    return date, _imputed(full, month, year)


def impute_end(prefix: str, death: nw.Expr) -> tuple[nw.Expr, nw.Expr]:
    """AENDT and AENDTF: the last day of a partial period, never after death."""
    full, month, year = (nw.col(f"{prefix}{p}") for p in ("F", "M", "Y"))
    guess = (
        nw.when(~full.is_null())
        .then(full)
        .otherwise(
            nw.when(~month.is_null()).then(nw.col(f"{prefix}ME")).otherwise(nw.col(f"{prefix}YE"))
        )
    )
    after_death = ~death.is_null() & (guess > death)
    return nw.when(after_death).then(death).otherwise(guess), _imputed(full, month, year)


def _imputed(full: nw.Expr, month: nw.Expr, year: nw.Expr) -> nw.Expr:
    """The imputation flag: none for a complete date, "D" when the day was imputed,
    "M" when the month was too."""
    none = nw.lit(None, dtype=nw.String)
    return (
        nw.when(~full.is_null())
        .then(none)
        .otherwise(
            nw.when(~month.is_null())
            .then(nw.lit("D"))
            .otherwise(nw.when(~year.is_null()).then(nw.lit("M")).otherwise(none))
        )
    )


def derive_adae(
    sdtm: Mapping[str, Dataset],
    adsl: Dataset,
    *,
    study: Study | None = None,
    end_window_days: int | _Default | None = STUDY_DEFAULT,
    always_emergent: str | _Default | None = STUDY_DEFAULT,
    cutoff: dt.date | None = None,
) -> Dataset:
    """ADAE from SDTM AE (and SUPPAE when present) and ADSL, by the rules of ``study``
    (default MM-024); ``end_window_days`` and ``always_emergent`` (a filter on AE)
    override the study's treatment-emergent window and always-emergent events.
    ``cutoff``: an AE starting after the data cutoff is not treatment-emergent (None:
    no cutoff; ``derive_all`` passes the study's)."""
    tables = polars_tables(sdtm)
    return adae_dataset(
        tables,
        nw.from_native(adsl.frame.lazy()),
        study=study,
        end_window_days=end_window_days,
        always_emergent=always_emergent,
        cutoff=cutoff,
    )


def adae_dataset(
    tables: Tables,
    adsl: Frame,
    *,
    study: Study | None = None,
    end_window_days: int | _Default | None = STUDY_DEFAULT,
    always_emergent: str | _Default | None = STUDY_DEFAULT,
    cutoff: dt.date | None = None,
) -> Dataset:
    """:func:`derive_adae` on any engine: ADAE from ``tables`` and ``adsl`` (frames of
    one engine), collected as a Dataset."""
    if "AE" not in tables:
        raise EapError("AE is required to derive ADAE", dataset="AE", expected="an AE dataset")
    study = study or load_study(DEFAULT_STUDY)
    rules = study.adae
    window = study.te_window_days if isinstance(end_window_days, _Default) else end_window_days
    always = rules.always_emergent if isinstance(always_emergent, _Default) else always_emergent
    adae = collect(adae_frame(tables, adsl, study, window, always, cutoff), streaming=False)
    labels = LABELS | {f.name: f.label for f in rules.flags}
    if rules.action_variable:
        drug = study.treatments.study_drug.capitalize()
        labels[rules.action_variable] = f"Action Taken with {drug}"
    if rules.period:
        labels[rules.period.name] = rules.period.label
    return as_adam("ADAE", "Adverse Events Analysis Dataset", adae, labels)


def adae_frame(
    tables: Tables,
    adsl: Frame,
    study: Study,
    window: int | None,
    always: str | None,
    cutoff: dt.date | None,
) -> Frame:
    """ADAE's records, sorted by USUBJID and AESEQ, as a lazy frame (see the module
    docstring for the rules)."""
    rules = study.adae
    period_dates = [s.date for s in rules.period.starts] if rules.period else []
    ae = tables["AE"]
    adsl_names = columns(adsl)
    subject_cols = [
        c
        for c in (
            "USUBJID",
            "TRTSDT",
            "TRTEDT",
            "DTHDT",
            *period_dates,
            "SAFFL",
            *(f.name for f in study.adsl_flags),
            study.arms.actual,
        )
        if c in adsl_names
    ]
    require_subjects(collect(ae.select("USUBJID")), collect(adsl.select("USUBJID")), "AE")
    frame = ae.join(adsl.select(subject_cols), on="USUBJID", how="left")
    present = columns(frame)
    for col in ("DTHDT", *period_dates):
        if col not in present:
            frame = frame.with_columns(nw.lit(None, dtype=nw.Date).alias(col))
    for col in ("AETOXGR", "AECAT", "AEACN", "AESEV", "AEENDTC"):
        if col not in present:
            frame = frame.with_columns(nw.lit(None, dtype=nw.String).alias(col))
    present = columns(frame)
    frame = with_analysis_dates(frame, "AESTDTC", "AEENDTC")
    in_window = nw.col("ASTDT") >= nw.col("TRTSDT")
    if window is not None:
        in_window = in_window & (days_between("ASTDT", "TRTEDT") <= window)
    emergent = (
        nw.when(nw.col("AESTDTC").is_null() & ~nw.col("TRTSDT").is_null())
        .then(nw.lit(True))
        .otherwise(in_window)
    )
    if always is not None:
        field = "adae.always_emergent"
        condition = where_neutral(always, present, file=study.file, field=field).fill_null(False)
        emergent = emergent | (condition & (nw.col("ASTDT") >= nw.col("TRTSDT")).fill_null(False))
    if cutoff is not None:
        # The window after the last dose (and an always-emergent event) can reach past
        # the cutoff for a patient on treatment at it; what starts later is not counted.
        emergent = emergent & (nw.col("ASTDT") <= cutoff).fill_null(True)
    study_flags = [
        yes(
            where_neutral(f.where, present, file=study.file, field=f"adae.flags.{f.name}.where")
        ).alias(f.name)
        for f in rules.flags
    ]
    action = (
        [
            nw.col("AEACN")
            .replace_strict(ACTIONS, default="NONE", return_dtype=nw.String)
            .alias(rules.action_variable)
        ]
        if rules.action_variable
        else []
    )
    frame = frame.with_columns(
        yes(emergent).alias("TRTEMFL"),
        as_integer(nw.col("AETOXGR")).alias("ATOXGRN"),
        *study_flags,
        *action,
        study_day("ASTDT", "TRTSDT").alias("ASTDY"),
        ((days_between("ASTDT", "TRTSDT") + 1) / study.month_days).alias("ONTRTM"),
        *_period(study),
    )
    severity = recode(nw.col("AESEV"), SEVERITY_RANK).cast(nw.Int64)
    frame = frame.with_columns(
        yes((nw.col("ATOXGRN") >= 3) & (nw.col("ATOXGRN") <= 4)).alias("TOXG34FL"),
        nw.coalesce(nw.col("ATOXGRN"), severity).alias("_RANK"),
    )
    frame = _worst(frame)
    if "SUPPAE" in tables:
        terms = (
            tables["SUPPAE"]
            .filter(nw.col("QNAM") == "AETOXTRM")
            .select(
                "USUBJID",
                as_integer(nw.col("IDVARVAL")).alias("AESEQ"),
                nw.col("QVAL").alias("AETOXTRM"),
            )
        )
        # A record with two terms is repeated, one row a term, as a join gives.
        frame = frame.join(terms, on=["USUBJID", "AESEQ"], how="left")
        return frame.sort("USUBJID", "AESEQ", "AETOXTRM", nulls_last=True)
    return frame.sort("USUBJID", "AESEQ")


def _worst(frame: Frame) -> Frame:
    """WORSTFL: "Y" on the first treatment-emergent record of each subject and term in
    the order of the worst grade (or severity), then the earliest onset, then AESEQ."""
    first = (
        nw.col("_ONE")
        .is_first_distinct()
        .over(
            "USUBJID",
            "AEDECOD",
            "TRTEMFL",
            order_by=["_NORANK", "_NEGRANK", "_NOSTART", "ASTDT", "AESEQ"],
        )
    )
    return (
        frame.with_columns(
            nw.lit(True).alias("_ONE"),
            nw.col("_RANK").is_null().alias("_NORANK"),
            (-nw.col("_RANK")).alias("_NEGRANK"),
            nw.col("ASTDT").is_null().alias("_NOSTART"),
        )
        .with_columns(yes(first & (nw.col("TRTEMFL") == "Y")).alias("WORSTFL"))
        .drop("_ONE", "_NORANK", "_NEGRANK", "_NOSTART", "_RANK")
    )


def yes(condition: nw.Expr) -> nw.Expr:
    """ "Y" where ``condition`` holds, else missing (null)."""
    return (
        nw.when(condition.fill_null(False))
        .then(nw.lit("Y"))
        .otherwise(nw.lit(None, dtype=nw.String))
    )


def as_integer(text: nw.Expr) -> nw.Expr:
    """Text of a whole number as Int64 (``"3"``, ``"-2"``); anything else null."""
    whole = text.str.contains(r"^-?[0-9]+$").fill_null(False)
    return nw.when(whole).then(nw.when(whole).then(text).otherwise(nw.lit("0")).cast(nw.Int64))


def study_day(date: str, reference: str) -> nw.Expr:
    """The CDISC study day: day 1 is the reference date and there is no day 0 (the day
    before is -1)."""
    days = days_between(date, reference)
    return nw.when(days >= 0).then(days + 1).otherwise(days)


def _period(study: Study) -> list[nw.Expr]:
    """The phase at onset: the latest listed ADSL start date on or before ASTDT."""
    period = study.adae.period
    if period is None:
        return []
    before = nw.lit(period.before) if period.before else nw.lit(None, dtype=nw.String)
    expr = (
        nw.when(~nw.col(period.starts[0].date).is_null())
        .then(before)
        .otherwise(nw.lit(None, dtype=nw.String))
    )
    for start in period.starts:  # later starts take precedence
        on = ~nw.col(start.date).is_null() & (nw.col("ASTDT") >= nw.col(start.date))
        expr = nw.when(on.fill_null(False)).then(nw.lit(start.value)).otherwise(expr)
    return [expr.alias(period.name)]


LABELS = {
    "ASTDT": "Analysis Start Date",
    "ASTDTF": "Analysis Start Date Imputation Flag",
    "AENDT": "Analysis End Date",
    "AENDTF": "Analysis End Date Imputation Flag",
    "TRTEMFL": "Treatment Emergent Analysis Flag",
    "ATOXGRN": "Analysis Toxicity Grade (N)",
    "TOXG34FL": "Grade 3-4 Flag",
    "WORSTFL": "Worst Grade per Subject and Term Flag",
    "ASTDY": "Analysis Start Relative Day",
    "ONTRTM": "Time on Treatment at Onset (months)",
    "AETOXTRM": "CTCAE Term Used for Grading",
}

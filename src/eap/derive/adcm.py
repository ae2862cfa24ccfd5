"""ADCM: concomitant medications (OCCDS, one row per CM record) with the subject's ADSL
variables, analysis dates and an on-treatment flag; for any study with a CM dataset.

Rules:

* **Subject variables** joined from ADSL by USUBJID: STUDYID (when CM has none), the
  study's planned and actual arm variables (``[arms]``; TRT01P, TRT01A), TRTSDT,
  TRTEDT, DTHDT, SAFFL and every ADSL variable the study's populations filter on
  (``[populations]``; MM-024: TCFL). A CM record of a subject absent from ADSL is an
  error.
* **ASTDT/ASTDTF, AENDT/AENDTF** from CMSTDTC/CMENDTC by ADAE's partial-date rule
  (eap.derive.adae.impute_start and impute_end): a missing day becomes the 1st (flag
  "D"), a missing month January ("M"), and a start in the month (or year) of the
  first dose becomes the first dose; an end becomes the last day of its period, never
  after death.
* **ASTDY, AENDY** study days of ASTDT and AENDT (day 1 is TRTSDT, no day 0).
* **ONTRTFL** "Y" when the subject was dosed (TRTSDT known) and the medication was
  taken at some time between the first and the last dose: ASTDT on or before TRTEDT
  (a missing start counts as before; no TRTEDT, as on treatment) and AENDT on or after
  TRTSDT (a missing end counts as ongoing). A medication ending the day before the
  first dose, or starting the day after the last, is not on treatment; no window is
  added after the last dose (admiral's ``derive_var_ontrtfl(span_period = TRUE)``).
  Otherwise missing.

Records are not cut at the data cutoff (as ADAE), but a medication starting after it
is not on treatment (ONTRTFL missing), so no on-treatment table counts it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import narwhals as nw

from eap.datasets.model import Dataset
from eap.derive.adae import study_day, with_analysis_dates, yes
from eap.derive.common import as_adam, filter_variables, require_subjects
from eap.engine.frames import Frame, Tables, collect, columns, polars_tables
from eap.errors import EapError
from eap.plans.study import DEFAULT_STUDY, Study, load_study

LABELS = {
    "ASTDT": "Analysis Start Date",
    "ASTDTF": "Analysis Start Date Imputation Flag",
    "AENDT": "Analysis End Date",
    "AENDTF": "Analysis End Date Imputation Flag",
    "ASTDY": "Analysis Start Relative Day",
    "AENDY": "Analysis End Relative Day",
    "ONTRTFL": "On Treatment Record Flag",
}


def subject_variables(study: Study, adsl: Sequence[str], cm: Sequence[str]) -> list[str]:
    """The ADSL variables ADCM carries (see the module docstring), in that order, given
    the variables of ADSL and of CM."""
    wanted = [
        "STUDYID",
        study.arms.planned,
        study.arms.actual,
        "TRTSDT",
        "TRTEDT",
        "DTHDT",
        "SAFFL",
    ]
    for population in study.populations.values():
        wanted += sorted(filter_variables(population.where))
    out: list[str] = []
    for col in wanted:
        if col in adsl and col not in cm and col not in out:
            out.append(col)
    return out


def derive_adcm(
    sdtm: Mapping[str, Dataset],
    adsl: Dataset,
    *,
    study: Study | None = None,
    cutoff: dt.date | None = None,
) -> Dataset:
    """ADCM from SDTM CM and ADSL for ``study`` (default MM-024); a medication starting
    after ``cutoff`` (the data cutoff; None: none) is not on treatment."""
    return adcm_dataset(
        polars_tables(sdtm), nw.from_native(adsl.frame.lazy()), study=study, cutoff=cutoff
    )


def adcm_dataset(
    tables: Tables,
    adsl: Frame,
    *,
    study: Study | None = None,
    cutoff: dt.date | None = None,
) -> Dataset:
    """:func:`derive_adcm` on any engine: ADCM from ``tables`` and ``adsl`` (frames of
    one engine), collected as a Dataset."""
    if "CM" not in tables:
        raise EapError("CM is required to derive ADCM", dataset="CM", expected="a CM dataset")
    study = study or load_study(DEFAULT_STUDY)
    adcm = collect(adcm_frame(tables, adsl, study, cutoff))
    return as_adam("ADCM", "Concomitant Medications Analysis Dataset", adcm, LABELS)


def adcm_frame(tables: Tables, adsl: Frame, study: Study, cutoff: dt.date | None) -> Frame:
    """ADCM's records, sorted by USUBJID and CMSEQ, as a lazy frame."""
    cm = tables["CM"]
    require_subjects(collect(cm.select("USUBJID")), collect(adsl.select("USUBJID")), "CM")
    keep = subject_variables(study, columns(adsl), columns(cm))
    frame = cm.join(adsl.select("USUBJID", *keep), on="USUBJID", how="left")
    given = frame.collect_schema()
    for col in ("TRTSDT", "TRTEDT", "DTHDT"):
        if col not in given:
            frame = frame.with_columns(nw.lit(None, dtype=nw.Date).alias(col))
    for col in ("CMSTDTC", "CMENDTC"):
        if col not in given:
            frame = frame.with_columns(nw.lit(None, dtype=nw.String).alias(col))
        elif given[col] != nw.String:  # a column without a single value
            frame = frame.with_columns(nw.col(col).cast(nw.String))
    frame = with_analysis_dates(frame, "CMSTDTC", "CMENDTC")
    started = nw.col("ASTDT").is_null() | nw.col("TRTEDT").is_null()
    on_treatment = (
        ~nw.col("TRTSDT").is_null()
        & (started | (nw.col("ASTDT") <= nw.col("TRTEDT")))
        & (nw.col("AENDT").is_null() | (nw.col("AENDT") >= nw.col("TRTSDT")))
    )
    if cutoff is not None:
        on_treatment = on_treatment & (nw.col("ASTDT") <= cutoff).fill_null(True)
    frame = frame.with_columns(
        study_day("ASTDT", "TRTSDT").alias("ASTDY"),
        study_day("AENDT", "TRTSDT").alias("AENDY"),
        yes(on_treatment).alias("ONTRTFL"),
    )
    order = [c for c in ("USUBJID", "CMSEQ") if c in given]
    return frame.sort(order)

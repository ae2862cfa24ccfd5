"""Two edges the derivations must hold: a dose that starts on the day of death but ends
after it is reported by its end date (a start on the death day is not after death);
and an ADSL variable merged from records takes the first or last by date, whatever
the order of the records in the file."""

from __future__ import annotations

import datetime as dt

import polars as pl

from eap.datasets.model import Dataset
from eap.derive.adsl import merged_variable
from eap.derive.checks import timeline_findings
from eap.engine.frames import collect, polars_tables
from eap.plans import load_study
from eap.plans.rules import AdslVariable

DM = pl.DataFrame({"USUBJID": ["A"], "DTHDTC": ["2014-05-10"], "RFICDTC": ["2014-01-01"]})


def _checks(ex: pl.DataFrame) -> dict[str, tuple[int, ...]]:
    sdtm = {"DM": Dataset.from_frame("DM", DM), "EX": Dataset.from_frame("EX", ex)}
    return {f.check: f.rows for f in timeline_findings(sdtm)}


def test_a_dose_starting_on_the_death_day_and_ending_after_it() -> None:
    ex = pl.DataFrame(
        {
            "USUBJID": ["A", "A"],
            "EXSTDTC": ["2014-05-10", "2014-05-11"],
            "EXENDTC": ["2014-05-12", "2014-05-12"],
        }
    )
    found = _checks(ex)
    # Row 1 starts on the death day (not after it) and ends two days later: its end is
    # the finding. Row 2 starts after death: reported once, by its start.
    assert found["dose-end-after-death"] == (1,)
    assert found["dose-after-death"] == (2,)


def test_a_dose_within_the_life_of_the_subject_is_no_finding() -> None:
    ex = pl.DataFrame({"USUBJID": ["A"], "EXSTDTC": ["2014-05-01"], "EXENDTC": ["2014-05-10"]})
    found = _checks(ex)
    assert "dose-end-after-death" not in found and "dose-after-death" not in found


def test_first_and_last_are_by_date_not_by_record_order() -> None:
    study = load_study("mm024")
    # Records out of date order in the file: the first by date is row 2, the last row 3.
    rs = pl.DataFrame(
        {
            "USUBJID": ["A", "A", "A"],
            "RSDTC": ["2014-03-01", "2014-01-01", "2014-06-01"],
            "RSSTRESC": ["PR", "SD", "VGPR"],
        }
    )
    sdtm = {"RS": Dataset.from_frame("RS", rs)}
    cutoff = dt.date(2014, 12, 31)
    picked = {}
    for kind in ("first", "last"):
        var = AdslVariable(
            name="X", label="x", dataset="RS", kind=kind, value="RSSTRESC", date="RSDTC"
        )
        out = merged_variable(var, polars_tables(sdtm), cutoff, study)
        assert out is not None
        picked[kind] = collect(out)["X"].to_list()
    assert picked == {"first": ["SD"], "last": ["VGPR"]}
    # A record after the cutoff is not taken.
    var = AdslVariable(
        name="X", label="x", dataset="RS", kind="last", value="RSSTRESC", date="RSDTC"
    )
    out = merged_variable(var, polars_tables(sdtm), dt.date(2014, 5, 31), study)
    assert out is not None and collect(out)["X"].to_list() == ["PR"]


def test_ae_start_dates_missing_partial_and_complete() -> None:
    from eap.derive.checks import input_findings

    ae = pl.DataFrame(
        {
            "USUBJID": ["A"] * 5,
            # complete (10 characters), with a time (16), year-month (7), year (4), none
            "AESTDTC": ["2014-03-10", "2014-03-10T08:30", "2014-03", "2014", None],
        }
    )
    found = {
        f.check: (f.severity, f.variable, f.rows, f.found)
        for f in input_findings({"AE": Dataset.from_frame("AE", ae)})
    }
    assert found == {
        "ae-start-missing": ("warning", "AESTDTC", (5,), "1 records"),
        "ae-start-partial": ("warning", "AESTDTC", (3, 4), "2 records"),
    }


def test_every_dataset_but_dm_is_checked_for_subjects_absent_from_dm() -> None:
    from eap.derive.checks import input_findings

    dm = pl.DataFrame({"USUBJID": ["A", "A2"]})
    ae = pl.DataFrame({"USUBJID": ["A", "Z"], "AESTDTC": ["2014-03-10", "2014-03-10"]})
    found = {
        (f.check, f.dataset): (f.severity, f.variable, f.rows)
        for f in input_findings(
            {"DM": Dataset.from_frame("DM", dm), "AE": Dataset.from_frame("AE", ae)}
        )
    }
    assert found == {("subject-not-in-dm", "AE"): ("error", "USUBJID", (2,))}

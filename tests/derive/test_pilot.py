"""Reconciliation with the CDISC pilot's own ADaM: eap derives the pilot's SDTM by the
pilot's study definition (src/eap/plans/cdisc_pilot/study.toml) and every value the two
share must agree (tests/data/cdisc_pilot/adam is the submitted ADaM)."""

from __future__ import annotations

import datetime as dt
from functools import cache

import polars as pl

from eap.datasets.io import read_dataset, read_folder
from eap.datasets.model import Dataset
from eap.derive import Derived, derive_all
from eap.plans import load_study
from tests.conftest import PILOT


@cache
def _derived() -> Derived:
    return derive_all(read_folder(PILOT / "sdtm"), study=load_study("cdisc-pilot"))


def _disagreements(both: pl.DataFrame, variables: list[str]) -> dict[str, int]:
    return {v: both.filter(pl.col(v).ne_missing(pl.col(f"{v}_EAP"))).height for v in variables}


def test_the_pilot_has_no_cutoff_so_the_latest_date_in_the_data_is_used() -> None:
    result = _derived()
    # The latest complete --DTC date of the pilot SDTM: a concomitant medication
    # collected on 2015-03-05, later than every dose, visit and disposition date.
    assert (result.cutoff, result.cutoff_source) == (
        dt.date(2015, 3, 5),
        "latest date in the data (CM.CMDTC)",
    )


def test_pilot_adsl_agrees_with_the_pilots_own_for_every_subject_and_variable() -> None:
    mine = _derived().datasets["ADSL"].frame
    theirs = read_dataset(PILOT / "adam" / "adsl.xpt").frame
    shared = [c for c in theirs.columns if c in mine.columns and c != "USUBJID"]
    assert shared == [
        "STUDYID",
        "SUBJID",
        "SITEID",
        "ARM",
        "TRT01P",
        "TRT01A",
        "TRTSDT",
        "TRTEDT",
        "AGE",
        "AGEGR1",
        "AGEU",
        "RACE",
        "SEX",
        "ETHNIC",
        "SAFFL",
        "ITTFL",
    ]
    both = theirs.join(mine, on="USUBJID", how="left", suffix="_EAP")
    assert both.height == 254
    # 16 variables x 254 subjects = 4064 values, all equal (TRTEDT included: no cutoff
    # cuts the last exposure, and an open last EX record ends at the disposition date).
    assert _disagreements(both, shared) == dict.fromkeys(shared, 0)
    # TRT01A is the planned arm, as in the pilot, also for the 12 subjects whose
    # DM.ACTARM differs (study.toml: actual_from = "ARM").
    assert (both["TRT01A"] == both["TRT01P"]).all()
    # The 52 screen failures are in DM but not in the pilot ADSL: neither treated nor ITT.
    extra = mine.filter(~pl.col("USUBJID").is_in(theirs["USUBJID"].implode()))
    assert extra.height == 52
    assert set(extra["SAFFL"]) == {"N"} and set(extra["ITTFL"]) == {"N"}


def test_pilot_adae_agrees_with_the_pilots_own() -> None:
    mine = _derived().datasets["ADAE"].frame
    theirs = read_dataset(PILOT / "adam" / "adae.xpt").frame
    both = theirs.join(mine, on=["USUBJID", "AESEQ"], how="left", suffix="_EAP")
    assert both.height == mine.height == 1191
    shared = [c for c in theirs.columns if c in mine.columns and c not in ("USUBJID", "AESEQ")]
    assert {"TRTEMFL", "ASTDT", "ASTDY", "AENDT", "TRTSDT", "TRTEDT", "SAFFL"} <= set(shared)
    # Named disagreement: 11 start dates known only to the year. The pilot leaves them
    # missing (it imputes days only); eap imputes 1 January (ASTDTF "M"), so ASTDT,
    # ASTDTF and ASTDY differ there. All are years before the first dose, so treatment
    # emergence agrees.
    year_only = both.filter(pl.col("AESTDTC").str.len_chars() == 4)
    assert year_only.height == 11
    assert year_only["ASTDT"].is_null().all() and (year_only["ASTDTF_EAP"] == "M").all()
    assert (year_only["ASTDT_EAP"] < year_only["TRTSDT"]).all()
    rest = both.filter(pl.col("AESTDTC").str.len_chars() != 4)
    assert _disagreements(rest, shared) == dict.fromkeys(shared, 0)
    imputed = ("ASTDT", "ASTDTF", "ASTDY")
    others = [v for v in shared if v not in imputed]
    assert _disagreements(year_only, others) == dict.fromkeys(others, 0)
    # TRTEMFL without a window after the last dose, as the pilot defines it: of the 1126
    # emergent AEs, 35 start after the last dose (up to 14 days after); the 54 before the
    # first dose and the 11 year-only ones are not emergent.
    emergent = rest.filter(pl.col("TRTEMFL_EAP") == "Y")
    assert (emergent.height, emergent.filter(pl.col("ASTDT") > pl.col("TRTEDT")).height) == (
        1126,
        35,
    )
    # Worst severity per subject and term among emergent events, both ways.
    rank = {"MILD": 1, "MODERATE": 2, "SEVERE": 3}
    te = theirs.filter(pl.col("TRTEMFL") == "Y").with_columns(
        pl.col("AESEV").replace_strict(rank).alias("R")
    )
    expected = te.group_by("USUBJID", "AEDECOD").agg(pl.col("R").max())
    worst = mine.filter(pl.col("WORSTFL") == "Y").with_columns(
        pl.col("AESEV").replace_strict(rank).alias("R")
    )
    got = worst.select("USUBJID", "AEDECOD", "R")
    assert got.height == expected.height
    assert (
        expected.join(got, on=["USUBJID", "AEDECOD"], suffix="_EAP")
        .filter(pl.col("R") != pl.col("R_EAP"))
        .height
        == 0
    )


def test_pilot_exposure_agrees_with_the_pilots_adsl_dose_variables() -> None:
    """ADEX's generic parameters (no protocol) against the pilot ADSL's CUMDOSE, TRTDURD
    and AVGDD for the 168 subjects on xanomeline (placebo is not the study drug)."""
    adex = _derived().datasets["ADEX"].frame
    wide = adex.pivot(on="PARAMCD", index="USUBJID", values="AVAL")
    assert "PLDOSINT" not in wide.columns and "RDI" not in wide.columns
    theirs = read_dataset(PILOT / "adam" / "adsl.xpt").frame.filter(pl.col("CUMDOSE") > 0)
    both = theirs.join(wide, on="USUBJID", how="inner", suffix="_EAP")
    assert both.height == theirs.height == 168
    assert (both["CUMDOSE"] == both["CUMDOSE_EAP"]).all()
    # TRTDURM is in months of 30.4375 days; the pilot's TRTDURD in days.
    assert ((both["TRTDURM"] * 30.4375 - both["TRTDURD"]).abs() < 1e-9).all()
    # AVGDD is CUMDOSE / TRTDURD rounded to one decimal (74.25 prints as 74.3).
    assert ((both["AVGDD"] - both["DOSEINT"]).abs() <= 0.05 + 1e-9).all()


def test_extra_domains_in_the_sdtm_folder_change_nothing() -> None:
    """Trial design (TA, TS), RELREC and supplemental qualifiers beside the datasets
    eap derives from: the same ADaM."""
    sdtm = read_folder(PILOT / "sdtm")
    subject = sdtm["DM"].frame["USUBJID"][0]
    extra = {
        "TS": pl.DataFrame(
            {"STUDYID": ["CDISCPILOT01"], "TSPARMCD": ["SSTDTC"], "TSVAL": ["2099-01-01"]}
        ),
        "TA": pl.DataFrame(
            {"STUDYID": ["CDISCPILOT01"], "ARMCD": ["Pbo"], "ETCD": ["SCRN"], "TAETORD": [1]}
        ),
        # A relationship between records of a subject, and one between datasets (RELTYPE
        # set, no subject).
        "RELREC": pl.DataFrame(
            {
                "STUDYID": ["CDISCPILOT01"] * 2,
                "RDOMAIN": ["AE", "CM"],
                "USUBJID": [subject, ""],
                "IDVAR": ["AESEQ", "CMSPID"],
                "IDVARVAL": ["1", ""],
                "RELTYPE": ["", "ONE"],
                "RELID": ["1", "2"],
            }
        ),
        "SUPPAE": pl.DataFrame(
            {
                "STUDYID": ["CDISCPILOT01"],
                "RDOMAIN": ["AE"],
                "USUBJID": [subject],
                "IDVAR": ["AESEQ"],
                "IDVARVAL": ["1"],
                "QNAM": ["AETRTEM"],
                "QLABEL": ["Treatment Emergent Flag"],
                "QVAL": ["Y"],
            }
        ),
    }
    more = {**sdtm, **{k: Dataset.from_frame(k, v) for k, v in extra.items()}}
    result = derive_all(more, study=load_study("cdisc-pilot"))
    base = _derived()
    assert not [f for f in result.findings if f.check == "subject-not-in-dm"]
    assert result.cutoff == base.cutoff  # TS's TSVAL is not a --DTC variable
    assert set(result.datasets) == set(base.datasets)
    for name, ds in base.datasets.items():
        assert result.datasets[name].frame.equals(ds.frame), name


def test_the_pilots_visit_the_day_after_a_death_is_a_warning_not_an_error() -> None:
    # 01-710-1083 died on 2013-08-02 (DM.DTHDTC); SV has its WEEK 2 visit on 2013-08-03.
    # A visit may be dated by the site after the death it records: a warning, so
    # `eap derive` on the pilot still succeeds.
    findings = _derived().findings
    visit = next(f for f in findings if f.check == "visit-after-death")
    sv = read_folder(PILOT / "sdtm")["SV"].frame
    row = sv.row(visit.rows[0] - 1, named=True)
    assert (row["USUBJID"], row["VISIT"], row["SVSTDTC"]) == ("01-710-1083", "WEEK 2", "2013-08-03")
    assert (visit.severity, visit.dataset, len(visit.rows)) == ("warning", "SV", 1)
    assert visit.found == "1 records: 01-710-1083 2013-08-03 (died 2013-08-02)"
    assert [f.check for f in findings if f.severity == "error"] == []

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from eap.datasets.io import read_folder
from eap.datasets.model import Dataset
from eap.derive.adae import derive_adae
from eap.errors import EapError
from eap.plans import load_study
from tests.conftest import PILOT


def _fixture() -> tuple[dict[str, Dataset], Dataset]:
    ae = pl.DataFrame(
        {
            "USUBJID": ["A"] * 6,
            "AESEQ": [1, 2, 3, 4, 5, 6],
            "AEDECOD": [
                "Neutropenia",
                "Neutropenia",
                "Anemia",
                "Fatigue",
                "Cough",
                "Duodenal tumor",
            ],
            "AESTDTC": ["2013-01", "2013-02-10", "2013-05-25", None, "2012-12", "2014-01-10"],
            "AEENDTC": ["2013-01-20", "2013-03", None, None, "2012-12-30", None],
            "AETOXGR": ["3", "4", "1", "2", "1", "3"],
            "AESER": ["N", "N", "N", "N", "N", "Y"],
            "AEACN": [
                "DRUG INTERRUPTED",
                "DOSE REDUCED",
                "DOSE NOT CHANGED",
                None,
                None,
                "NOT APPLICABLE",
            ],
            "AECAT": [None, None, None, None, None, "SECOND PRIMARY MALIGNANCY"],
        }
    )
    adsl = pl.DataFrame(
        {
            "USUBJID": ["A"],
            "TRTSDT": [dt.date(2013, 1, 15)],
            "TRTEDT": [dt.date(2013, 4, 30)],
            "DTHDT": [None],
            "EAPDT": [dt.date(2013, 3, 1)],
            "SFUDT": [dt.date(2013, 5, 1)],
        },
        schema_overrides={"DTHDT": pl.Date},
    )
    return {"AE": Dataset.from_frame("AE", ae)}, Dataset.from_frame("ADSL", adsl)


def test_imputation_window_worst_grade_and_actions() -> None:
    sdtm, adsl = _fixture()
    rows = {r["AESEQ"]: r for r in derive_adae(sdtm, adsl).frame.iter_rows(named=True)}
    # "2013-01", the month of the first dose (2013-01-15): imputed to the first dose.
    assert (rows[1]["ASTDT"], rows[1]["ASTDTF"], rows[1]["TRTEMFL"]) == (
        dt.date(2013, 1, 15),
        "D",
        "Y",
    )
    # End "2013-03": last day of the month.
    assert (rows[2]["AENDT"], rows[2]["AENDTF"]) == (dt.date(2013, 3, 31), "D")
    # 25 days after the last dose: within the 28-day window.
    assert rows[3]["TRTEMFL"] == "Y" and rows[3]["APHASE"] == "SAFETY FOLLOW-UP"
    # Missing start: emergent (conservative).
    assert rows[4]["TRTEMFL"] == "Y"
    # December 2012, before the first dose month: 2012-12-01, not emergent.
    assert (rows[5]["ASTDT"], rows[5]["TRTEMFL"]) == (dt.date(2012, 12, 1), None)
    # The SPM 255 days after the last dose is outside the window but flagged as an SPM.
    assert (rows[6]["TRTEMFL"], rows[6]["SPMFL"]) == (None, "Y")
    # Worst grade per term: grade 4 neutropenia (AESEQ 2) over grade 3 (AESEQ 1).
    assert (rows[1]["WORSTFL"], rows[2]["WORSTFL"]) == (None, "Y")
    assert (rows[1]["TOXG34FL"], rows[3]["TOXG34FL"]) == ("Y", None)
    assert (rows[1]["ACTLEN"], rows[2]["ACTLEN"], rows[3]["ACTLEN"]) == (
        "INTERRUPTED",
        "REDUCED",
        "NONE",
    )
    assert rows[2]["APHASE"] == "PARENT TRIAL"


def test_spm_emergent_for_the_whole_follow_up_when_asked() -> None:
    sdtm, adsl = _fixture()
    rows = {
        r["AESEQ"]: r
        for r in derive_adae(
            sdtm, adsl, always_emergent="AECAT == 'SECOND PRIMARY MALIGNANCY'"
        ).frame.iter_rows(named=True)
    }
    assert rows[6]["TRTEMFL"] == "Y"


def test_ae_subject_missing_from_adsl_is_an_error_naming_the_rows() -> None:
    sdtm, adsl = _fixture()
    ae = sdtm["AE"].frame.with_columns(
        pl.when(pl.col("AESEQ") == 3)
        .then(pl.lit("Z"))
        .otherwise(pl.col("USUBJID"))
        .alias("USUBJID")
    )
    with pytest.raises(EapError, match=r"AE\.USUBJID \(row 3\).*absent from ADSL"):
        derive_adae({"AE": Dataset.from_frame("AE", ae)}, adsl)


def test_input_findings_list_the_records_and_block_unknown_subjects() -> None:
    from eap.derive import derive_all

    sdtm = read_folder(PILOT / "sdtm")
    pilot = load_study("cdisc-pilot")
    result = derive_all(sdtm, study=pilot)
    partial = next(f for f in result.findings if f.check == "ae-start-partial")
    ae = sdtm["AE"].frame
    assert len(partial.rows) == int((ae["AESTDTC"].str.len_chars() < 10).sum())
    orphan = ae.with_columns(
        pl.when(pl.int_range(pl.len()) == 4)
        .then(pl.lit("NOBODY"))
        .otherwise(pl.col("USUBJID"))
        .alias("USUBJID")
    )
    blocked = derive_all({**sdtm, "AE": Dataset.from_frame("AE", orphan)}, study=pilot)
    assert blocked.datasets == {}
    finding = next(f for f in blocked.findings if f.check == "subject-not-in-dm")
    assert (finding.dataset, finding.rows, finding.found) == ("AE", (5,), "NOBODY")


def test_dose_after_death_is_reported() -> None:
    from eap.derive.checks import input_findings

    dm = pl.DataFrame({"USUBJID": ["A"], "DTHDTC": ["2013-05-01"]})
    ex = pl.DataFrame(
        {
            "USUBJID": ["A", "A"],
            "EXSTDTC": ["2013-04-01", "2013-05-02"],
            "EXENDTC": ["2013-04-21", "2013-05-03"],
        }
    )
    findings = input_findings(
        {"DM": Dataset.from_frame("DM", dm), "EX": Dataset.from_frame("EX", ex)}
    )
    f = next(f for f in findings if f.check == "dose-after-death")
    assert f.rows == (2,)


@pytest.mark.parametrize(
    ("start", "emergent"),
    [("2013-05-20", "Y"), ("2013-05-21", None), ("2013-05", "Y"), ("2013-06", None), (None, "Y")],
)
def test_an_ae_starting_after_the_data_cutoff_is_not_emergent(
    start: str | None, emergent: str | None
) -> None:
    """Last dose 2013-04-30 and a 28-day window: emergent up to 2013-05-28, but the data
    cutoff 2013-05-20 comes first. A partial "2013-05" is imputed to 2013-05-01 (before
    it), "2013-06" to 2013-06-01 (after it); a missing start stays emergent."""
    sdtm, adsl = _fixture()
    ae = sdtm["AE"].frame.head(1).with_columns(pl.lit(start, dtype=pl.String).alias("AESTDTC"))
    row = derive_adae(
        {"AE": Dataset.from_frame("AE", ae)}, adsl, cutoff=dt.date(2013, 5, 20)
    ).frame.row(0, named=True)
    assert row["TRTEMFL"] == emergent


@pytest.mark.parametrize(("start", "emergent"), [("2013-05-20", "Y"), ("2013-05-21", None)])
def test_an_always_emergent_event_after_the_cutoff_is_not_counted(
    start: str, emergent: str | None
) -> None:
    sdtm, adsl = _fixture()
    ae = sdtm["AE"].frame.filter(pl.col("AESEQ") == 6).with_columns(pl.lit(start).alias("AESTDTC"))
    row = derive_adae(
        {"AE": Dataset.from_frame("AE", ae)},
        adsl,
        always_emergent="AECAT == 'SECOND PRIMARY MALIGNANCY'",
        cutoff=dt.date(2013, 5, 20),
    ).frame.row(0, named=True)
    assert row["TRTEMFL"] == emergent


def test_derive_all_applies_its_cutoff_to_adae() -> None:
    from eap.derive import derive_all

    sdtm = read_folder(PILOT / "sdtm")
    cutoff = dt.date(2014, 1, 1)
    adae = derive_all(sdtm, cutoff=cutoff, study=load_study("cdisc-pilot")).datasets["ADAE"].frame
    late = adae.filter(pl.col("ASTDT") > cutoff)
    # Counted from the SDTM: a complete start after 2014-01-01, or a partial one whose
    # first possible day ("2014-02" -> 2014-02-01, "2015" -> 2015-01-01) is after it.
    starts = sdtm["AE"].frame["AESTDTC"].drop_nulls().to_list()
    expected = sum(
        (len(s) >= 10 and s[:10] > "2014-01-01")
        or (len(s) == 7 and s > "2014-01")
        or (len(s) == 4 and s > "2014")
        for s in starts
    )
    assert late.height == expected > 0
    assert late["TRTEMFL"].is_null().all()


def _suppae(rows: list[tuple[str, str, str]]) -> Dataset:
    """SUPPAE records (USUBJID, IDVARVAL = AESEQ, QVAL) of QNAM AETOXTRM."""
    return Dataset.from_frame(
        "SUPPAE",
        pl.DataFrame(
            {
                "USUBJID": [r[0] for r in rows],
                "IDVAR": ["AESEQ"] * len(rows),
                "IDVARVAL": [r[1] for r in rows],
                "QNAM": ["AETOXTRM"] * len(rows),
                "QVAL": [r[2] for r in rows],
            }
        ),
    )


def test_records_come_out_by_subject_and_sequence_whatever_the_input_order() -> None:
    sdtm, adsl = _fixture()
    shuffled = sdtm["AE"].frame[[3, 0, 5, 2, 4, 1]]
    out = derive_adae({"AE": Dataset.from_frame("AE", shuffled)}, adsl).frame
    assert out["AESEQ"].to_list() == [1, 2, 3, 4, 5, 6]
    # The worst-grade flag follows its record, not its position: neutropenia's grade 4
    # (AESEQ 2, not 1), anemia and fatigue; 5 and 6 are not treatment-emergent.
    assert out.filter(pl.col("WORSTFL") == "Y")["AESEQ"].to_list() == [2, 3, 4]


def test_suppae_terms_join_their_records_and_a_second_term_repeats_its_record() -> None:
    sdtm, adsl = _fixture()
    one = {**sdtm, "SUPPAE": _suppae([("A", "1", "Neutrophil count decreased")])}
    out = derive_adae(one, adsl).frame
    assert out.height == 6
    assert out["AETOXTRM"].to_list() == ["Neutrophil count decreased", *[None] * 5]
    # Two terms for AESEQ 3 (invalid, but allowed through): the record appears once
    # per term, as a left join gives, and the other records once.
    two = {**sdtm, "SUPPAE": _suppae([("A", "3", "Anemia"), ("A", "3", "Hemoglobin low")])}
    out = derive_adae(two, adsl).frame
    assert out["AESEQ"].to_list() == [1, 2, 3, 3, 4, 5, 6]
    assert out.filter(pl.col("AESEQ") == 3)["AETOXTRM"].to_list() == ["Anemia", "Hemoglobin low"]

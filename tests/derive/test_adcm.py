"""ADCM: CM records with ADSL's subject variables, analysis dates and ONTRTFL, worked by hand."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from eap.datasets.model import Dataset
from eap.derive import derive_all
from eap.derive.adcm import derive_adcm
from eap.errors import EapError
from eap.plans import load_study
from eap.simulate import simulate

D = dt.date
MM024 = load_study("mm024")


def _adsl() -> Dataset:
    # S1: first dose 2014-03-10, last dose 2014-06-30, died 2014-07-15. S2: never dosed.
    return Dataset.from_frame(
        "ADSL",
        pl.DataFrame(
            {
                "STUDYID": ["MM-024", "MM-024"],
                "USUBJID": ["S1", "S2"],
                "TRT01P": ["Treatment Phase", "Treatment Phase"],
                "TRT01A": ["Treatment Phase", "Treatment Phase"],
                "TRTSDT": [D(2014, 3, 10), None],
                "TRTEDT": [D(2014, 6, 30), None],
                "DTHDT": [D(2014, 7, 15), None],
                "SAFFL": ["Y", "N"],
                "TCFL": ["Y", "N"],
                "AGE": [70.0, 60.0],
            }
        ),
    )


CM_ROWS = [
    # CMSEQ, CMSTDTC, CMENDTC
    (1, "2014-03", "2014-04"),  # start in the first-dose month: the first dose
    (2, "2014-02", "2014-03-09"),  # ends the day before the first dose
    (3, "2014-02-01", "2014-03-10"),  # ends on the first dose
    (4, "2014-06-30", None),  # starts on the last dose, ongoing
    (5, "2014-07-01", "2014-07-02"),  # starts the day after the last dose
    (6, "2013", "2014-08"),  # end past death: capped at death
    (7, None, None),  # no dates at all
]


def _cm(rows: list[tuple[int, str | None, str | None]], subject: str = "S1") -> Dataset:
    frame = pl.DataFrame(rows, schema=["CMSEQ", "CMSTDTC", "CMENDTC"], orient="row").with_columns(
        pl.lit("MM-024").alias("STUDYID"),
        pl.lit(subject).alias("USUBJID"),
        pl.lit("ASPIRIN").alias("CMTRT"),
        pl.lit("ANTITHROMBOTIC AGENTS").alias("CMCLAS"),
    )
    return Dataset.from_frame("CM", frame)


def _adcm() -> dict[int, dict[str, object]]:
    adcm = derive_adcm({"CM": _cm(CM_ROWS)}, _adsl(), study=MM024)
    return {r["CMSEQ"]: r for r in adcm.frame.iter_rows(named=True)}


def test_subject_variables_come_from_adsl() -> None:
    adcm = derive_adcm({"CM": _cm(CM_ROWS)}, _adsl(), study=MM024).frame
    # CM's own STUDYID is kept; the arms, exposure dates, SAFFL and TCFL (named by the
    # treatment cohort's filter SAFFL == 'Y' and TCFL == 'Y') come from ADSL; AGE does not.
    for col in ("STUDYID", "TRT01P", "TRT01A", "TRTSDT", "TRTEDT", "DTHDT", "SAFFL", "TCFL"):
        assert col in adcm.columns, col
    assert "AGE" not in adcm.columns
    assert adcm["STUDYID"].to_list() == ["MM-024"] * 7
    assert set(adcm["TCFL"]) == {"Y"} and set(adcm["SAFFL"]) == {"Y"}


def test_analysis_dates_follow_the_adae_partial_date_rule() -> None:
    rows = _adcm()
    got = {s: (r["ASTDT"], r["ASTDTF"], r["AENDT"], r["AENDTF"]) for s, r in rows.items()}
    assert got == {
        1: (D(2014, 3, 10), "D", D(2014, 4, 30), "D"),
        2: (D(2014, 2, 1), "D", D(2014, 3, 9), None),
        3: (D(2014, 2, 1), None, D(2014, 3, 10), None),
        4: (D(2014, 6, 30), None, None, None),
        5: (D(2014, 7, 1), None, D(2014, 7, 2), None),
        # 2013: January 1st (month imputed); 2014-08 -> 2014-08-31, after death -> death.
        6: (D(2013, 1, 1), "M", D(2014, 7, 15), "D"),
        7: (None, None, None, None),
    }
    # Study days from TRTSDT 2014-03-10: 2014-02-01 is 37 days before (day -37),
    # 2014-03-09 day -1, 2014-03-10 day 1, 2014-04-30 day 52.
    assert (rows[2]["ASTDY"], rows[2]["AENDY"]) == (-37, -1)
    assert (rows[1]["ASTDY"], rows[1]["AENDY"]) == (1, 52)


def test_on_treatment_flag_at_both_ends_of_treatment() -> None:
    flags = {s: r["ONTRTFL"] for s, r in _adcm().items()}
    assert flags == {
        1: "Y",
        2: None,  # ended 2014-03-09, the day before the first dose
        3: "Y",  # ended on the first dose
        4: "Y",  # started on the last dose
        5: None,  # started 2014-07-01, the day after the last dose
        6: "Y",  # spans the whole treatment
        7: "Y",  # no dates: may have been taken on treatment
    }


def test_an_undosed_subject_has_no_on_treatment_record() -> None:
    adcm = derive_adcm({"CM": _cm([(1, "2014-03-15", None)], "S2")}, _adsl(), study=MM024)
    assert adcm.frame["ONTRTFL"].to_list() == [None]
    assert adcm.frame["ASTDT"].to_list() == [D(2014, 3, 15)]


def test_cm_of_a_subject_absent_from_adsl_is_an_error() -> None:
    with pytest.raises(EapError, match=r"CM\.USUBJID \(row 1\).*absent from ADSL"):
        derive_adcm({"CM": _cm([(1, "2014-03-15", None)], "S9")}, _adsl(), study=MM024)


def test_derive_all_derives_adcm_from_cm_or_says_why_not() -> None:
    sdtm = simulate(2014)
    result = derive_all(sdtm, D(2014, 11, 5))
    adcm = result.datasets["ADCM"].frame
    assert adcm.height == sdtm["CM"].n_rows
    assert result.datasets["ADCM"].label == "Concomitant Medications Analysis Dataset"
    without = derive_all({k: v for k, v in sdtm.items() if k != "CM"}, D(2014, 11, 5))
    assert "ADCM" not in without.datasets
    assert without.skipped["ADCM"] == "no CM dataset"


@pytest.mark.parametrize(("start", "on"), [("2014-06-30", "Y"), ("2014-07-01", None)])
def test_a_medication_starting_after_the_cutoff_is_not_on_treatment(
    start: str, on: str | None
) -> None:
    """S1 without a last dose (TRTEDT missing) counts as on treatment to the end, but not
    past the data cutoff 2014-06-30."""
    adsl = _adsl()
    adsl = Dataset.from_frame(
        "ADSL", adsl.frame.with_columns(pl.lit(None, dtype=pl.Date).alias("TRTEDT"))
    )
    frame = derive_adcm(
        {"CM": _cm([(1, start, None)])}, adsl, study=MM024, cutoff=D(2014, 6, 30)
    ).frame
    assert frame["ONTRTFL"].to_list() == [on]

"""More edges of the derivations, each found by a surviving mutant: the data cutoff as
derive_all hands it to ADRS, the text of each input finding. Every expected value is
worked out by hand from the small SDTM written in the test."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import narwhals as nw
import polars as pl
import pytest

from eap.datasets.model import Dataset
from eap.derive import derive_all
from eap.derive.adae import impute_start, with_date_parts
from eap.derive.adcm import derive_adcm
from eap.derive.adex import derive_adex
from eap.derive.adrs import derive_adrs
from eap.derive.adsl import derive_adsl
from eap.derive.checks import input_findings, latest
from eap.derive.common import iso_date
from eap.derive.docs import explain
from eap.derive.inputs import ae_start_dates
from eap.engine.frames import collect
from eap.errors import EapError, PlanError
from eap.plans import load_study
from tests.tiny_study import imwg_subject, one_arm_study

D = dt.date
STUDY_HEAD = one_arm_study() + "\n"


def _one_patient_on_10_mg() -> dict[str, Dataset]:
    """Patient A of arm A: 10 mg of DRUG daily on 2020-01-01..10, no DS."""
    dm = pl.DataFrame({"STUDYID": ["T"], "USUBJID": ["A"], "ARMCD": ["A"], "ARM": ["A"]})
    ex = pl.DataFrame(
        {
            "USUBJID": ["A"],
            "EXTRT": ["DRUG"],
            "EXDOSE": [10.0],
            "EXSTDTC": ["2020-01-01"],
            "EXENDTC": ["2020-01-10"],
        }
    )
    return {"DM": Dataset.from_frame("DM", dm), "EX": Dataset.from_frame("EX", ex)}


def test_derive_all_cuts_adrs_at_the_data_cutoff() -> None:
    # S: PR on 2013-03-01, CR on 2013-06-01; cutoff 2013-04-30, so the CR is not seen:
    # BOR PR (rank 4 in IMWG), one OVR row (the PR), responder Y (PR or better).
    frames = imwg_subject(["PR", "CR"], ["2013-03-01", "2013-06-01"])
    sdtm = {name: Dataset.from_frame(name, frame) for name, frame in frames.items()}
    adrs = derive_all(sdtm, D(2013, 4, 30)).datasets["ADRS"].frame
    got = adrs.select("PARAMCD", "AVALC", "ADT").rows()
    assert got == [
        ("BOR", "PR", D(2013, 3, 1)),
        ("OVR", "PR", D(2013, 3, 1)),
        ("RSP", "Y", D(2013, 3, 1)),
    ]


def test_each_input_finding_says_what_it_found_in_words() -> None:
    dm = pl.DataFrame({"USUBJID": ["A"]})
    ae = pl.DataFrame({"USUBJID": ["A", "A", "Z"], "AESTDTC": ["2014-03", None, "2014-03-10"]})
    messages = {
        f.check: f.message
        for f in input_findings(
            {"DM": Dataset.from_frame("DM", dm), "AE": Dataset.from_frame("AE", ae)}
        )
    }
    assert messages == {
        "ae-start-missing": (
            "AE without a start date: counted as treatment-emergent (conservative rule)"
        ),
        "ae-start-partial": (
            "partial AE start dates imputed (first of the period, or the first dose in its "
            "month/year); ASTDTF says which part"
        ),
        "subject-not-in-dm": "AE records of subjects absent from DM cannot be derived",
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            '[adsl.groups.AGEGR1]\nlabel = "Age Group"\nlevels = [{ value = "<65", where = '
            '"AGE < 65" }, { value = ">=65", where = "AGE >=" }]\n',
            "adsl.groups.AGEGR1.levels[1].where",
        ),
        ('[adsl.flags.OLDFL]\nlabel = "Older Flag"\nwhere = "AGE >="\n', "adsl.flags.OLDFL.where"),
    ],
    ids=["group-level", "flag"],
)
def test_an_adsl_filter_that_does_not_parse_names_its_field(
    tmp_path: Path, body: str, field: str
) -> None:
    (tmp_path / "study.toml").write_text(STUDY_HEAD + body)
    dm = pl.DataFrame({"USUBJID": ["A"], "AGE": [64.0], "ARMCD": ["X"]})
    with pytest.raises(PlanError) as info:
        derive_adsl(
            {"DM": Dataset.from_frame("DM", dm)}, D(2020, 6, 30), study=load_study(tmp_path)
        )
    assert str(info.value).startswith(f"{tmp_path / 'study.toml'}: {field}: filter 'AGE >='")


def test_ittfl_follows_consent_when_the_study_collected_consent_dates() -> None:
    # docs/derivations.md: ITTFL is Y when RFICDTC is present, else N; the ARMCD rule is
    # only for studies without consent dates. A consented screen failure is therefore Y,
    # an assigned subject without a consent date N.
    dm = pl.DataFrame(
        {
            "STUDYID": ["X", "X"],
            "USUBJID": ["A", "B"],
            "RFICDTC": ["2020-01-10", None],
            "ARMCD": ["SCRNFAIL", "X"],
        }
    )
    adsl = derive_adsl({"DM": Dataset.from_frame("DM", dm)}, D(2020, 6, 30)).frame
    assert adsl.select("USUBJID", "ITTFL").rows() == [("A", "Y"), ("B", "N")]


def test_a_cycle_length_from_the_study_file_is_explained_with_its_source(tmp_path: Path) -> None:
    (tmp_path / "study.toml").write_text(STUDY_HEAD + "[adex]\ncycle_days = 21\n")
    lines = explain(load_study(tmp_path)).splitlines()
    # 2 x 21 = 42 days between two dosed cycle starts: one whole cycle without a dose.
    assert (
        "ADEX: cycles of 21 days (study.toml [adex] cycle_days): a dosed cycle starting "
        "42 days or more after the previous one adds one interruption"
    ) in lines


def _start(frame: pl.DataFrame, dtc: str) -> pl.DataFrame:
    """ASTDT and ASTDTF imputed from ``dtc`` and TRTSDT."""
    date, flag = impute_start("_P", nw.col("TRTSDT"))
    parts = with_date_parts(nw.from_native(frame.lazy()), dtc, "_P")
    return collect(parts.select(date.alias("ASTDT"), flag.alias("ASTDTF")))


def test_a_partial_date_with_a_time_is_imputed_from_the_parts_it_has() -> None:
    # SDTMIG: '-' stands for an unknown part, so 2014-03--T10:30 is March 2014 at 10:30 on
    # an unknown day: the first of the month (the first dose, 2014-01-05, is in another
    # month), flag D, as for 2014-03. 2014---T10:30 has only the year, which is the
    # first dose's: the first dose day, flag M.
    frame = pl.DataFrame(
        {
            "AESTDTC": ["2014-03--T10:30", "2014-03", "2014---T10:30"],
            "TRTSDT": [D(2014, 1, 5)] * 3,
        }
    )
    got = _start(frame, "AESTDTC").rows()
    assert got == [(D(2014, 3, 1), "D"), (D(2014, 3, 1), "D"), (D(2014, 1, 5), "M")]


def test_dates_not_written_in_iso_8601_give_no_date() -> None:
    # 10.03.2014 and 2014/03/10 are dates, but not ISO 8601: no imputed AE start and no
    # latest day (validate reports them), rather than a date read in a guessed format.
    frame = pl.DataFrame({"DTC": ["10.03.2014", "2014/03/10"], "TRTSDT": [D(2014, 1, 5)] * 2})
    assert _start(frame, "DTC").rows() == [(None, None), (None, None)]
    assert frame.head(1).select(latest("DTC")).item() is None
    assert frame.select(iso_date("DTC")).to_series().to_list() == [None, None]


def test_adex_without_ds_treats_everyone_as_on_treatment_whatever_the_rule_reads(
    tmp_path: Path,
) -> None:
    # The end-of-treatment rule reads DSCAT and DSSCAT; without a DS dataset nobody has a
    # record that ends treatment, so A is on treatment at the cutoff (2020-01-31):
    # 10 mg on 10 days (2020-01-01..10) = 100 mg over 31 days (2020-01-01..31).
    (tmp_path / "study.toml").write_text(
        STUDY_HEAD + "[adex]\nend_of_treatment = "
        "\"DSCAT == 'DISPOSITION EVENT' and DSSCAT == 'END OF TREATMENT'\"\n"
    )
    study = load_study(tmp_path)
    sdtm = _one_patient_on_10_mg()
    cutoff = D(2020, 1, 31)
    adsl = derive_adsl(sdtm, cutoff, study=study)
    adex = dict(derive_adex(sdtm, adsl, cutoff, study=study).frame.select("PARAMCD", "AVAL").rows())
    assert adex["CUMDOSE"] == 100.0
    assert adex["DOSEINT"] == pytest.approx(100 / 31)


def test_adrs_studyid_is_character_when_no_study_id_is_known() -> None:
    # ADaM (specs.toml ADRS): STUDYID is Char. Neither RS nor a DM gives one here, so it is
    # missing, but still a character variable.
    rs = pl.DataFrame(
        {
            "USUBJID": ["S"],
            "RSCAT": ["IMWG"],
            "RSTESTCD": ["OVRLRESP"],
            "RSSTRESC": ["PR"],
            "RSDTC": ["2013-03-01"],
        }
    )
    adrs = derive_adrs({"RS": Dataset.from_frame("RS", rs)}, D(2014, 1, 1)).frame
    assert adrs.schema["STUDYID"] == pl.String
    assert adrs["STUDYID"].to_list() == [None, None, None]


def test_derive_all_cuts_adex_at_the_data_cutoff() -> None:
    # Lenalidomide 25 mg on 2013-01-01..10 and on 2013-06-01..10; cutoff 2013-04-30, so
    # the June course is not seen: 250 mg. No DS: on treatment at the cutoff, so the
    # duration is 2013-01-01..04-30 = 31 + 28 + 31 + 30 = 120 days.
    dm = pl.DataFrame(
        {
            "STUDYID": ["X"],
            "USUBJID": ["S"],
            "RFXSTDTC": ["2013-01-01"],
            "ARMCD": ["A"],
            "ARM": ["A"],
            "DTHDTC": [None],
        },
        schema_overrides={"DTHDTC": pl.String},
    )
    ex = pl.DataFrame(
        {
            "USUBJID": ["S", "S"],
            "EXTRT": ["LENALIDOMIDE", "LENALIDOMIDE"],
            "EXDOSE": [25.0, 25.0],
            "EXSTDTC": ["2013-01-01", "2013-06-01"],
            "EXENDTC": ["2013-01-10", "2013-06-10"],
        }
    )
    sdtm = {"DM": Dataset.from_frame("DM", dm), "EX": Dataset.from_frame("EX", ex)}
    adex = derive_all(sdtm, D(2013, 4, 30)).datasets["ADEX"].frame
    aval = dict(adex.select("PARAMCD", "AVAL").rows())
    assert aval["CUMDOSE"] == 250.0
    assert aval["DOSEINT"] == pytest.approx(250 / 120)


def test_ittfl_without_consent_dates_excludes_screen_failures_and_the_unassigned() -> None:
    # docs/derivations.md: without consent dates, ITTFL is Y unless ARMCD is SCRNFAIL or
    # NOTASSGN (in any case).
    dm = pl.DataFrame(
        {
            "STUDYID": ["X"] * 4,
            "USUBJID": ["A", "B", "C", "D"],
            "ARMCD": ["ARM1", "SCRNFAIL", "NOTASSGN", "notassgn"],
        }
    )
    adsl = derive_adsl({"DM": Dataset.from_frame("DM", dm)}, D(2020, 6, 30)).frame
    assert adsl["ITTFL"].to_list() == ["Y", "N", "N", "N"]


def test_an_end_of_treatment_rule_that_does_not_parse_names_its_field(tmp_path: Path) -> None:
    (tmp_path / "study.toml").write_text(STUDY_HEAD + '[adex]\nend_of_treatment = "DSSCAT =="\n')
    study = load_study(tmp_path)
    sdtm = _one_patient_on_10_mg()
    adsl = derive_adsl(sdtm, D(2020, 1, 31), study=study)
    with pytest.raises(PlanError) as info:
        derive_adex(sdtm, adsl, D(2020, 1, 31), study=study)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'study.toml'}: adex.end_of_treatment: filter ")


def test_derive_all_derives_adrs_by_the_studys_own_response_criteria(tmp_path: Path) -> None:
    # A study assessed by RECIST 1.1 (no RSCAT): SD then PR, so BOR PR, responder Y
    # (CR or PR), each parameter labelled with the study's own criteria.
    (tmp_path / "study.toml").write_text(
        STUDY_HEAD
        + """[response]
criteria = "RECIST 1.1"
where = "RSTESTCD == 'OVRLRESP'"
order = ["CR", "PR", "SD", "PD", "NE"]
responders = ["CR", "PR"]
progression = "PD"
rsp_label = "Responder (CR or PR)"
"""
    )
    dm = pl.DataFrame({"STUDYID": ["T"], "USUBJID": ["S"], "ARMCD": ["A"], "ARM": ["A"]})
    rs = pl.DataFrame(
        {
            "USUBJID": ["S", "S"],
            "RSTESTCD": ["OVRLRESP", "OVRLRESP"],
            "RSSTRESC": ["SD", "PR"],
            "RSDTC": ["2020-02-01", "2020-03-01"],
        }
    )
    sdtm = {"DM": Dataset.from_frame("DM", dm), "RS": Dataset.from_frame("RS", rs)}
    result = derive_all(sdtm, D(2020, 6, 30), study=load_study(tmp_path))
    adrs = result.datasets["ADRS"].frame.select("PARAMCD", "PARAM", "AVALC").rows()
    assert adrs == [
        ("BOR", "Best Overall Response (RECIST 1.1)", "PR"),
        ("OVR", "Overall Response by Assessment (RECIST 1.1)", "SD"),
        ("OVR", "Overall Response by Assessment (RECIST 1.1)", "PR"),
        ("RSP", "Responder (CR or PR)", "Y"),
    ]


def test_adex_parameters_carry_the_dose_unit_of_ex() -> None:
    dm = pl.DataFrame({"STUDYID": ["X"], "USUBJID": ["S"], "ARMCD": ["A"], "ARM": ["A"]})
    ex = pl.DataFrame(
        {
            "USUBJID": ["S"],
            "EXTRT": ["LENALIDOMIDE"],
            "EXDOSE": [25.0],
            "EXDOSU": ["mg"],
            "EXSTDTC": ["2013-01-01"],
            "EXENDTC": ["2013-01-21"],
        }
    )
    sdtm = {"DM": Dataset.from_frame("DM", dm), "EX": Dataset.from_frame("EX", ex)}
    adsl = derive_adsl(sdtm, D(2013, 4, 30))
    params = dict(derive_adex(sdtm, adsl, D(2013, 4, 30)).frame.select("PARAMCD", "PARAM").rows())
    assert params["CUMDOSE"] == "Cumulative Dose (mg)"
    assert params["DOSEINT"] == "Dose Intensity (mg/day)"
    assert params["TRTDURM"] == "Treatment Duration (months)"


def test_derive_all_says_why_adae_is_not_derived() -> None:
    dm = pl.DataFrame(
        {"STUDYID": ["X"], "USUBJID": ["S"], "RFXSTDTC": [None], "DTHDTC": [None]},
        schema_overrides={"RFXSTDTC": pl.String, "DTHDTC": pl.String},
    )
    ae = pl.DataFrame({"USUBJID": ["S"], "AESEQ": [1], "AESTDTC": ["2013-02-01"]})
    without_ae = derive_all({"DM": Dataset.from_frame("DM", dm)}, D(2013, 4, 30))
    assert without_ae.skipped["ADAE"] == "no AE dataset"
    # AE present, but no EX: nobody has a first dose, so no AE can be treatment-emergent.
    no_dose = derive_all(
        {"DM": Dataset.from_frame("DM", dm), "AE": Dataset.from_frame("AE", ae)}, D(2013, 4, 30)
    )
    assert no_dose.skipped["ADAE"] == "no first dose (ADSL.TRTSDT)"


def test_doses_before_consent_are_not_looked_for_without_ex_start_dates() -> None:
    # DM has consent dates, EX has no EXSTDTC: nothing to compare, so no finding (and no
    # failure on the missing variable).
    dm = pl.DataFrame({"USUBJID": ["A"], "RFICDTC": ["2014-01-10"]})
    ex = pl.DataFrame({"USUBJID": ["A"], "EXDOSE": [25.0]})
    sdtm = {"DM": Dataset.from_frame("DM", dm), "EX": Dataset.from_frame("EX", ex)}
    assert input_findings(sdtm) == []


def test_adcm_without_cm_names_the_missing_dataset() -> None:
    dm = pl.DataFrame({"STUDYID": ["X"], "USUBJID": ["S"]})
    sdtm = {"DM": Dataset.from_frame("DM", dm)}
    adsl = derive_adsl(sdtm, D(2020, 1, 1))
    with pytest.raises(EapError) as info:
        derive_adcm(sdtm, adsl)
    assert (info.value.dataset, info.value.expected) == ("CM", "a CM dataset")
    assert str(info.value) == "CM: CM is required to derive ADCM; expected a CM dataset"


def test_a_complete_ae_start_with_a_time_is_neither_partial_nor_unusable() -> None:
    ae = pl.DataFrame({"AESTDTC": ["2011-10-05T08:30", "2011-10T08:30"]})
    partial, unusable = ae_start_dates(ae)
    # The first is a complete date (with a time); the second a month with a time and an
    # unknown day: partial, imputed.
    assert partial.to_list() == [False, True]
    assert unusable.to_list() == [False, False]


def test_adcm_rows_are_in_subject_then_sequence_order() -> None:
    dm = pl.DataFrame({"STUDYID": ["X", "X"], "USUBJID": ["A", "B"]})
    cm = pl.DataFrame(
        {
            "USUBJID": ["B", "A", "A"],
            "CMSEQ": [1, 2, 1],
            "CMTRT": ["ASPIRIN", "OMEPRAZOLE", "ACICLOVIR"],
        }
    )
    sdtm = {"DM": Dataset.from_frame("DM", dm), "CM": Dataset.from_frame("CM", cm)}
    adcm = derive_adcm(sdtm, derive_adsl(sdtm, D(2020, 1, 1))).frame
    assert adcm.select("USUBJID", "CMSEQ").rows() == [("A", 1), ("A", 2), ("B", 1)]

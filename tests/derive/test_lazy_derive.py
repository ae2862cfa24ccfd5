"""The derivations read only the variables their rules use, and ``derive_all`` hands
each dataset to ``store`` as soon as it is derived (eap.derive, docs/datasets.md)."""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from eap.datasets.io import read_folder
from eap.datasets.model import Dataset
from eap.derive import derive_all
from eap.derive.common import derivation_variables, study_names
from eap.plans import load_study
from tests.conftest import PILOT


def test_study_names_hold_the_variables_of_the_studys_filters_and_dates() -> None:
    names = study_names(load_study("mm024"))
    # From src/eap/plans/mm024/study.toml: "DSSCAT == 'END OF TREATMENT'",
    # "CMCAT == 'PRIOR ANTI-MYELOMA THERAPY'", date = "RSDTC", origin date "RFXSTDTC".
    assert {"DSSCAT", "CMCAT", "RSDTC", "RFXSTDTC", "DSDECOD"} <= names
    # In a filter, quoted values are values, not variables.
    assert study_names("DSSCAT == 'END OF TREATMENT' and AGE >= 65") == {"DSSCAT", "AGE"}


def test_carried_datasets_are_read_whole_and_the_others_in_part() -> None:
    wanted = derivation_variables(load_study("mm024"))
    ae = ["STUDYID", "USUBJID", "AETERM", "AELLT", "AESTDTC"]
    assert wanted("AE", ae) == set(ae)  # ADAE carries every AE variable
    ex = ["STUDYID", "USUBJID", "EXSEQ", "EXTRT", "EXROUTE", "EXLOT", "EXSTDTC"]
    # EXROUTE and EXLOT: no rule reads them; EXSEQ and EXSTDTC: every --SEQ and --DTC.
    assert wanted("EX", ex) == {"STUDYID", "USUBJID", "EXSEQ", "EXTRT", "EXSTDTC"}


def test_store_gets_each_dataset_in_order_and_keeps_what_it_takes() -> None:
    sdtm = read_folder(PILOT / "sdtm")
    study = load_study("cdisc-pilot")
    whole = derive_all(sdtm, study=study)
    stored: list[Dataset] = []

    def store(ds: Dataset) -> bool:
        stored.append(ds)
        return ds.name != "ADSL"  # takes every dataset but ADSL

    kept = derive_all(sdtm, study=study, store=store)
    assert [ds.name for ds in stored] == list(whole.datasets)
    assert list(kept.datasets) == ["ADSL"]
    for ds in stored:
        assert_frame_equal(ds.frame, whole.datasets[ds.name].frame)
    assert_frame_equal(kept.datasets["ADSL"].frame, whole.datasets["ADSL"].frame)
    assert kept.skipped == whole.skipped
    assert isinstance(kept.datasets["ADSL"].frame, pl.DataFrame)

"""The derivations read only the variables their rules use, and ``derive_all`` hands
each dataset to ``store`` as soon as it is derived (eap.derive, docs/datasets.md)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import polars as pl
import pytest
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

    def store(parts: Sequence[Dataset] | Iterator[Dataset]) -> bool:
        (ds,) = parts  # whole: no batch_subjects
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


@pytest.mark.parametrize("source", ["mm024-exact", "mm024-protocol", "cdisc-pilot"])
def test_the_projection_leaves_every_adam_value_as_the_whole_datasets_give_it(
    source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The list of variables eap's code reads (READ) is kept by hand: a variable left off
    it would silently be missing. Deriving from the whole datasets (every variable kept)
    must give exactly the ADaM of the projected reading."""
    import eap.derive as derive_module
    from eap.simulate import simulate
    from eap.simulate.model_cohort import simulate_model

    if source == "cdisc-pilot":
        sdtm, study = read_folder(PILOT / "sdtm"), load_study("cdisc-pilot")
    else:
        make = simulate if source == "mm024-exact" else simulate_model
        sdtm, study = make(2014, 1), load_study("mm024")
    projected = derive_all(sdtm, study=study).datasets
    monkeypatch.setattr(
        derive_module, "derivation_variables", lambda _study: lambda _name, given: set(given)
    )
    whole = derive_all(sdtm, study=study).datasets
    assert sorted(projected) == sorted(whole)
    for name, ds in whole.items():
        assert_frame_equal(projected[name].frame, ds.frame, check_exact=True)


def test_report_from_a_parquet_sdtm_folder_gives_the_ard_of_the_whole_datasets(
    tmp_path: Path,
) -> None:
    """``eap report --sdtm`` reads Parquet lazily and derives each ADaM dataset to a
    scratch file read back when an output uses it; its ARD must be the one of the
    datasets read whole, derived in memory and analysed (values, types, row order)."""
    from typer.testing import CliRunner

    from eap.ard import run_plan
    from eap.cli import app
    from eap.datasets.io import write_dataset
    from eap.plans.plan import load_plan
    from eap.simulate import simulate

    sdtm = simulate(2014, 1)
    folder = tmp_path / "sdtm"
    folder.mkdir()
    for name, ds in sdtm.items():
        write_dataset(ds, folder / f"{name.lower()}.parquet", format="parquet")
    out = tmp_path / "report"
    args = ["report", "--sdtm", str(folder), "--out", str(out), "--formats", "html"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stdout
    plan = load_plan("mm024")
    whole = read_folder(folder)
    derived = derive_all(whole, plan.study.cutoff, study=plan.study)
    expected = run_plan(plan, {"CM": whole["CM"], **derived.datasets}).ard
    assert_frame_equal(pl.read_parquet(out / "ard.parquet"), expected)

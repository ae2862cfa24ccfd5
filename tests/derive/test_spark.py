"""The derivations written against the engine-neutral layer give on Spark the datasets
they give on Polars: values, types, variable order and row order."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from polars.testing import assert_frame_equal

from eap.datasets.io import read_folder, write_dataset
from eap.datasets.model import Dataset
from eap.datasets.validate import open_datasets
from eap.derive import derive_all
from eap.plans import load_study
from eap.plans.study import Study
from tests.conftest import PILOT


def _source(name: str) -> tuple[Mapping[str, Dataset], Study]:
    from eap.simulate import simulate

    if name == "cdisc-pilot":
        return read_folder(PILOT / "sdtm"), load_study("cdisc-pilot")
    scale = int(name.rsplit("-", 1)[1])
    return simulate(2014, scale), load_study("mm024")


def _parquet(sdtm: Mapping[str, Dataset], folder: Path) -> Mapping[str, Dataset]:
    """The SDTM written to Parquet and opened lazily, as ``eap derive`` opens a folder."""
    folder.mkdir()
    for name, ds in sdtm.items():
        write_dataset(ds, folder / f"{name.lower()}.parquet")
    opened, _, unreadable = open_datasets(folder)
    assert not unreadable
    return opened


# Scale 1 of the virtual cohort is compared through the command line
# (tests/derive/test_cli_derive.py: eap derive --engine spark).
@pytest.mark.parametrize("source", ["mm024-100", "cdisc-pilot"])
def test_derive_all_on_spark_equals_derive_all_on_polars(
    spark: Any, source: str, tmp_path: Path
) -> None:
    sdtm, study = _source(source)
    files = _parquet(sdtm, tmp_path / "sdtm")
    local = derive_all(files, study=study)
    remote = derive_all(files, study=study, spark=spark)
    assert (remote.cutoff, remote.skipped) == (local.cutoff, local.skipped)
    assert remote.findings == local.findings
    assert list(remote.datasets) == list(local.datasets)
    for name, ds in local.datasets.items():
        got = remote.datasets[name]
        assert (got.label, got.columns) == (ds.label, ds.columns), name
        try:
            assert_frame_equal(got.frame, ds.frame)  # values, types, row order
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None
    # Every dataset the study defines was derived, on all subjects.
    expected = {"ADSL", "ADAE", "ADCM", "ADEX"} | (
        {"ADTTE", "ADRS"} if source.startswith("mm024") else set()
    )
    assert set(local.datasets) == expected
    assert local.datasets["ADSL"].n_rows == sdtm["DM"].n_rows

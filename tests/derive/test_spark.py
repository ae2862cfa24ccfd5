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
from eap.derive import data_cutoff
from eap.derive.adsl import adsl_dataset, derive_adsl
from eap.engine.spark import read_parquet
from eap.plans import load_study
from eap.plans.study import Study
from tests.conftest import PILOT


def _source(name: str) -> tuple[Mapping[str, Dataset], Study]:
    from eap.simulate import simulate

    if name == "cdisc-pilot":
        return read_folder(PILOT / "sdtm"), load_study("cdisc-pilot")
    scale = int(name.rsplit("-", 1)[1])
    return simulate(2014, scale), load_study("mm024")


def _on_spark(spark: Any, sdtm: Mapping[str, Dataset], folder: Path) -> dict[str, Any]:
    """The SDTM written to Parquet and read by Spark, as a sponsor's data would be."""
    folder.mkdir()
    files = {}
    for name, ds in sdtm.items():
        files[name] = folder / f"{name}.parquet"
        write_dataset(ds, files[name])
    return read_parquet(spark, files)


@pytest.mark.parametrize("source", ["mm024-1", "mm024-100", "cdisc-pilot"])
def test_adsl_on_spark_equals_adsl_on_polars(spark: Any, source: str, tmp_path: Path) -> None:
    sdtm, study = _source(source)
    cutoff, _ = data_cutoff(sdtm, None, study)
    local = derive_adsl(sdtm, cutoff, study=study)
    remote = adsl_dataset(_on_spark(spark, sdtm, tmp_path / "sdtm"), cutoff, study=study)
    assert (remote.label, remote.columns) == (local.label, local.columns)
    assert_frame_equal(remote.frame, local.frame)
    assert local.n_rows == sdtm["DM"].n_rows

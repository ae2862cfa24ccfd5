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
from eap.derive import data_cutoff, derive_all
from eap.derive.adae import adae_dataset
from eap.derive.adcm import adcm_dataset
from eap.derive.adex import adex_dataset
from eap.derive.adrs import adrs_dataset
from eap.derive.adsl import adsl_dataset
from eap.derive.adtte import adtte_dataset
from eap.engine.spark import from_polars, read_parquet
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
def test_derivations_on_spark_equal_the_derivations_on_polars(
    spark: Any, source: str, tmp_path: Path
) -> None:
    sdtm, study = _source(source)
    cutoff, _ = data_cutoff(sdtm, None, study)
    local = derive_all(sdtm, cutoff, study=study).datasets
    tables = _on_spark(spark, sdtm, tmp_path / "sdtm")
    # ADSL derived on Spark, then the datasets that read it, from it.
    remote = {"ADSL": adsl_dataset(tables, cutoff, study=study)}
    adsl = from_polars(spark, remote["ADSL"].frame)
    derive = {
        "ADAE": lambda: adae_dataset(tables, adsl, study=study, cutoff=cutoff),
        "ADCM": lambda: adcm_dataset(tables, adsl, study=study, cutoff=cutoff),
        "ADEX": lambda: adex_dataset(tables, adsl, cutoff, study=study),
        "ADTTE": lambda: adtte_dataset(tables, adsl, cutoff, study=study),
        "ADRS": lambda: adrs_dataset(tables, cutoff, study=study),
    }
    for name in local:
        if name != "ADSL":
            remote[name] = derive[name]()
    assert sorted(remote) == sorted(local)
    for name, ds in local.items():
        got = remote[name]
        assert (got.label, got.columns) == (ds.label, ds.columns), name
        try:
            assert_frame_equal(got.frame, ds.frame)  # values, types, row order
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None
    assert local["ADSL"].n_rows == sdtm["DM"].n_rows
    assert local["ADAE"].n_rows >= sdtm["AE"].n_rows

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from eap.datasets.io import read_folder
from eap.datasets.validate import validate_datasets
from eap.derive.adtte import derive_adtte
from eap.errors import EapError
from eap.simulate.stream import part_scales, write_simulation


def test_parts() -> None:
    assert part_scales(250) == [100, 100, 50]
    assert part_scales(100) == [100]
    assert part_scales(3, 1) == [1, 1, 1]


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_cohort_written_in_parts_keeps_every_count_and_median(tmp_path: Path, fmt: str) -> None:
    rows = write_simulation(tmp_path, 2014, 3, fmt, chunk_scale=1)
    sdtm = read_folder(tmp_path)
    dm = sdtm["DM"].frame
    assert rows["DM"] == dm.height == 240
    assert dm["USUBJID"].n_unique() == 240
    assert (dm["ARMCD"] == "TP").sum() == 123 and (dm["SEX"] == "M").sum() == 156
    assert dm["AGE"].median() == 59
    ds = sdtm["DS"].frame
    deaths = ds.filter((pl.col("DSDECOD") == "DEATH") & (pl.col("DSSCAT") == "END OF STUDY"))
    assert deaths.height == 90
    fup = derive_adtte(sdtm, dt.date(2014, 11, 5)).frame.filter(pl.col("PARAMCD") == "FUP")
    assert round(fup["AVAL"].median(), 1) == 38.4
    assert validate_datasets(sdtm).errors == ()


def test_formats_that_cannot_be_appended_are_refused_for_large_cohorts(tmp_path: Path) -> None:
    with pytest.raises(EapError, match="parquet or csv"):
        write_simulation(tmp_path, 1, 3, "xpt", chunk_scale=1)

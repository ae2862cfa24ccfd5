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


def test_parquet_written_in_parts_has_the_labels_and_plain_types_of_one_written_whole(
    tmp_path: Path,
) -> None:
    """Labels from the dataset specs (e.g. DM.AGE 'Age', AE.AETERM 'Reported Term for
    the Adverse Event', SDTMIG) and Parquet's own UTF-8 strings, readable by any Arrow
    version: no string views, no large strings."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    write_simulation(tmp_path / "parts", 2014, 2, "parquet", chunk_scale=1, model="protocol")
    write_simulation(tmp_path / "whole", 2014, 2, "parquet", model="protocol")
    parts, whole = read_folder(tmp_path / "parts"), read_folder(tmp_path / "whole")
    assert sorted(parts) == sorted(whole)
    for name in parts:
        assert parts[name].label == whole[name].label
        assert parts[name].columns == whole[name].columns
        assert parts[name].frame.schema == whole[name].frame.schema
    assert parts["DM"].column("AGE").label == "Age"
    assert parts["AE"].column("AETERM").label == "Reported Term for the Adverse Event"
    types = pq.read_schema(tmp_path / "parts" / "ae.parquet").types
    assert pa.string() in types and pa.string_view() not in types

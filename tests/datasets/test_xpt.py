from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pyreadstat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eap.datasets.model import ColumnMeta, Dataset
from eap.datasets.xpt import ieee_to_ibm, read_xpt, write_xpt
from eap.errors import DatasetReadError, DatasetWriteError
from tests.conftest import PILOT


@pytest.mark.parametrize(
    ("value", "ibm_hex"),
    [
        # IBM hexadecimal floating point, worked by hand: sign, excess-64 base-16 exponent,
        # 56-bit fraction. 1.0 = 0.1(hex) x 16^1 -> exponent 65 = 0x41, fraction 0x10000000000000.
        (1.0, "4110000000000000"),
        (-1.0, "C110000000000000"),
        (0.5, "4080000000000000"),
        (100.0, "4264000000000000"),  # 100 = 0x64 = 0.64(hex) x 16^2
        (0.0, "0000000000000000"),
        (np.nan, "2E00000000000000"),  # SAS missing value "."
    ],
)
def test_ieee_to_ibm_matches_hand_worked_patterns(value: float, ibm_hex: str) -> None:
    got = ieee_to_ibm(np.array([value]))[0]
    assert f"{int(got):016X}" == ibm_hex


def _tiny_dataset() -> Dataset:
    frame = pl.DataFrame(
        {
            "USUBJID": ["MM024-01-001", None, "MM024-01-003"],
            "AVAL": [1.5, None, -2.25e10],
            "ADT": [dt.date(2014, 11, 5), None, dt.date(1959, 12, 31)],
        }
    )
    meta = {
        "USUBJID": ColumnMeta("USUBJID", "Unique Subject Identifier", "string", 20),
        "AVAL": ColumnMeta("AVAL", "Analysis Value", "double", 8),
        "ADT": ColumnMeta("ADT", "Analysis Date", "date", 8, "DATE9."),
    }
    return Dataset.from_frame("ADTTE", frame, label="Time to Event", meta=meta)


def test_written_file_reads_back_in_pyreadstat_with_the_same_values(tmp_path: Path) -> None:
    path = tmp_path / "adtte.xpt"
    write_xpt(_tiny_dataset(), path)
    # pyreadstat (ReadStat) is an independent reader of the transport format.
    df, meta = pyreadstat.read_xport(str(path))
    assert meta.table_name == "ADTTE"
    assert meta.column_names_to_labels["ADT"] == "Analysis Date"
    assert meta.variable_storage_width["USUBJID"] == 20
    assert meta.original_variable_types["ADT"] == "DATE9"
    assert df["USUBJID"].tolist() == ["MM024-01-001", "", "MM024-01-003"]
    assert df["AVAL"].iloc[0] == 1.5 and np.isnan(df["AVAL"].iloc[1])
    assert df["AVAL"].iloc[2] == -2.25e10
    assert df["ADT"].iloc[0] == dt.date(2014, 11, 5)
    assert df["ADT"].iloc[2] == dt.date(1959, 12, 31)


@pytest.mark.parametrize("name", ["dm", "ae", "ex", "ds", "cm", "mh", "sv"])
def test_pilot_sdtm_round_trips_through_the_writer(tmp_path: Path, name: str) -> None:
    original = read_xpt(PILOT / "sdtm" / f"{name}.xpt")
    write_xpt(original, tmp_path / f"{name}.xpt")
    again = read_xpt(tmp_path / f"{name}.xpt")
    assert again.frame.equals(original.frame)
    assert again.columns == original.columns
    assert again.name == original.name


_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30)
# IBM doubles span about 5.4e-79 to 7.2e75; smaller magnitudes underflow to 0, as in SAS.
_floats = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e70, max_value=1e70).filter(
    lambda x: x == 0 or abs(x) > 1e-70
)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.one_of(st.none(), _text.map(lambda s: s.rstrip(" ") or None)),
            st.one_of(st.none(), _floats),
            st.one_of(st.none(), st.dates(dt.date(1800, 1, 1), dt.date(2200, 12, 31))),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_any_values_round_trip(tmp_path_factory: pytest.TempPathFactory, rows: list[tuple]) -> None:
    frame = pl.DataFrame(
        {
            "C": [r[0] for r in rows],
            "N": [r[1] for r in rows],
            "D": [r[2] for r in rows],
        },
        schema={"C": pl.String, "N": pl.Float64, "D": pl.Date},
    )
    meta = {"D": ColumnMeta("D", "a date", "date", 8, "DATE9.")}
    ds = Dataset.from_frame("T", frame, meta=meta)
    if frame.height and all(r[0] is None for r in rows) and all(r[1] is None for r in rows):
        # An all-blank final row is indistinguishable from record padding in XPT v5.
        return
    path = tmp_path_factory.mktemp("xpt") / "t.xpt"
    write_xpt(ds, path)
    back = read_xpt(path)
    assert back.frame["C"].to_list() == frame["C"].to_list()
    assert back.frame["D"].to_list() == frame["D"].to_list()
    # IBM floats have 56 fraction bits but a base-16 exponent: at most 3 bits are lost
    # to normalisation, so doubles survive exactly.
    assert back.frame["N"].to_list() == frame["N"].to_list()


def test_truncated_file_is_reported(tmp_path: Path) -> None:
    raw = (PILOT / "sdtm" / "dm.xpt").read_bytes()
    cut = tmp_path / "dm.xpt"
    cut.write_bytes(raw[: len(raw) - 1000])
    with pytest.raises(DatasetReadError, match=r"dm\.xpt.*truncated"):
        read_xpt(cut)


def test_truncated_mid_row_on_a_record_boundary_is_reported(tmp_path: Path) -> None:
    raw = (PILOT / "sdtm" / "dm.xpt").read_bytes()
    cut = tmp_path / "dm.xpt"
    cut.write_bytes(raw[: len(raw) - 80 * 7])
    with pytest.raises(DatasetReadError, match="truncated"):
        read_xpt(cut)


def test_not_a_transport_file(tmp_path: Path) -> None:
    fake = tmp_path / "ae.xpt"
    fake.write_text("USUBJID,AESEQ\n1,1\n")
    with pytest.raises(DatasetReadError, match="not a SAS transport"):
        read_xpt(fake)


def test_value_longer_than_declared_length_is_refused_with_its_rows(tmp_path: Path) -> None:
    frame = pl.DataFrame({"AETERM": ["ok", "much too long", "fine"]})
    ds = Dataset.from_frame("AE", frame, meta={"AETERM": ColumnMeta("AETERM", "Term", "string", 4)})
    with pytest.raises(DatasetWriteError, match=r"AE\.AETERM \(row 2\).*at most 4 bytes"):
        write_xpt(ds, tmp_path / "ae.xpt")


def test_names_that_sas_v5_cannot_hold_are_refused(tmp_path: Path) -> None:
    ds = Dataset.from_frame("AE", pl.DataFrame({"TOOLONGNAME": [1.0]}))
    with pytest.raises(DatasetWriteError, match="TOOLONGNAME"):
        write_xpt(ds, tmp_path / "ae.xpt")


def test_a_dataset_without_rows_round_trips(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {"USUBJID": pl.Series([], dtype=pl.String), "AESEQ": pl.Series([], dtype=pl.Float64)}
    )
    meta = {"USUBJID": ColumnMeta("USUBJID", "Unique Subject Identifier", "string", 20)}
    write_xpt(Dataset.from_frame("AE", frame, meta=meta), tmp_path / "ae.xpt")
    back = read_xpt(tmp_path / "ae.xpt")
    assert back.frame.height == 0
    assert back.column("USUBJID").length == 20

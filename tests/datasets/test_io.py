from __future__ import annotations

import datetime as dt
import itertools
import json
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eap.datasets import io
from eap.datasets.model import ColumnMeta, Dataset
from eap.errors import DatasetReadError
from tests.conftest import DATA, PILOT

PILOT_FILES = sorted((PILOT / "sdtm").glob("*.xpt")) + sorted((PILOT / "adam").glob("*.xpt"))


@pytest.mark.parametrize("path", PILOT_FILES, ids=lambda p: p.stem)
def test_round_trip_xpt_parquet_datasetjson_xpt_keeps_everything(
    tmp_path: Path, path: Path
) -> None:
    original = io.read_dataset(path)
    as_parquet = io.read_dataset(io.write_dataset(original, tmp_path / "a.parquet"))
    as_json = io.read_dataset(io.write_dataset(as_parquet, tmp_path / "a.json"))
    back = io.read_dataset(io.write_dataset(as_json, tmp_path / "a.xpt"))
    for step in (as_parquet, as_json, back):
        assert step.name == original.name
        assert step.label == original.label
        assert step.columns == original.columns  # labels, kinds, lengths, formats
        assert step.frame.equals(original.frame)
        assert step.frame.schema == original.frame.schema


@pytest.mark.parametrize(
    ("relative", "rows", "subjects"),
    [
        # Shapes from the pilot package README (shared data notes) and define.xml.
        ("sdtm/dm.xpt", 306, 306),
        ("sdtm/ex.xpt", 591, 254),
        ("sdtm/ae.xpt", 1191, 225),
        ("sdtm/ds.xpt", 596, 306),
        ("adam/adsl.xpt", 254, 254),
        ("adam/adtte.xpt", 254, 254),
        ("adam/adae.xpt", 1191, 225),
    ],
)
def test_pilot_shapes(relative: str, rows: int, subjects: int) -> None:
    ds = io.read_dataset(PILOT / relative)
    assert ds.n_rows == rows
    assert ds.frame["USUBJID"].n_unique() == subjects


def test_pilot_known_values() -> None:
    adtte = io.read_dataset(PILOT / "adam" / "adtte.xpt")
    first = adtte.frame.row(0, named=True)
    assert first["USUBJID"] == "01-701-1015"
    assert first["PARAMCD"] == "TTDE"
    assert first["AVAL"] == 2.0
    assert first["CNSR"] == 0  # integer by the ADTTE specification
    assert first["STARTDT"] == dt.date(2014, 1, 2)
    assert first["ADT"] == dt.date(2014, 1, 3)
    assert adtte.column("ADT").display_format == "DATE9."
    assert adtte.frame.schema["CNSR"] == pl.Int64
    dm = io.read_dataset(PILOT / "sdtm" / "dm.xpt")
    assert dm.column("USUBJID").label == "Unique Subject Identifier"
    assert dm.column("RACE").length == 78
    assert dm.frame.group_by("ARM").len().sort("ARM").rows() == [
        ("Placebo", 86),
        ("Screen Failure", 52),
        ("Xanomeline High Dose", 84),
        ("Xanomeline Low Dose", 84),
    ]


def test_sas7bdat_reads_with_the_values_of_the_xpt_it_came_from() -> None:
    sas = io.read_dataset(DATA / "sas7bdat" / "adtte.sas7bdat")
    xpt = io.read_dataset(PILOT / "adam" / "adtte.xpt")
    assert sas.name == "ADTTE"
    assert sas.frame.height == 254
    assert sas.column("AVAL").label == "Analysis Value"
    assert sas.frame["USUBJID"].to_list() == xpt.frame["USUBJID"].to_list()
    assert sas.frame["AVAL"].to_list() == xpt.frame["AVAL"].to_list()
    # The fixture keeps dates as SAS day numbers: 2014-01-03 is day 19726 after 1960-01-01.
    assert sas.frame["ADT"][0] == (dt.date(2014, 1, 3) - dt.date(1960, 1, 1)).days


def test_csv_round_trip_types_come_from_the_spec(tmp_path: Path) -> None:
    adtte = io.read_dataset(PILOT / "adam" / "adtte.xpt")
    back = io.read_dataset(io.write_dataset(adtte, tmp_path / "adtte.csv"))
    assert back.frame["ADT"].dtype == pl.Date
    assert back.frame["CNSR"].dtype == pl.Int64
    assert back.frame["USUBJID"].to_list() == adtte.frame["USUBJID"].to_list()
    assert back.frame["AVAL"].to_list() == adtte.frame["AVAL"].to_list()
    assert back.frame["ADT"].to_list() == adtte.frame["ADT"].to_list()


def test_csv_value_of_wrong_type_names_variable_and_row(tmp_path: Path) -> None:
    path = tmp_path / "adtte.csv"
    path.write_text("USUBJID,AVAL,CNSR,ADT\nA,1.5,0,2014-01-02\nB,x,1,2014-13-40\n")
    with pytest.raises(DatasetReadError, match=r"ADTTE\.AVAL \(row 2\).*double"):
        io.read_dataset(path)


def test_json_breaking_the_schema_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "dm.json"
    path.write_text(json.dumps({"datasetJSONVersion": "1.1.0", "name": "DM", "columns": []}))
    with pytest.raises(DatasetReadError, match=r"dm\.json.*Dataset-JSON 1\.1 schema"):
        io.read_dataset(path)


def test_json_row_with_wrong_value_type_names_row(tmp_path: Path) -> None:
    ds = io.read_dataset(PILOT / "adam" / "adtte.xpt")
    path = io.write_dataset(ds, tmp_path / "adtte.json")
    doc = json.loads(path.read_text())
    aval = [c["name"] for c in doc["columns"]].index("AVAL")
    doc["rows"][4][aval] = "five"
    path.write_text(json.dumps(doc))
    with pytest.raises(DatasetReadError, match=r"ADTTE\.AVAL \(row 5\).*double"):
        io.read_dataset(path)


def test_written_json_follows_dataset_json_conventions(tmp_path: Path) -> None:
    ds = io.read_dataset(PILOT / "adam" / "adtte.xpt")
    doc = json.loads(io.write_dataset(ds, tmp_path / "adtte.json").read_text())
    cols = {c["name"]: c for c in doc["columns"]}
    assert doc["datasetJSONVersion"] == "1.1.0"
    assert doc["records"] == 254 == len(doc["rows"])
    assert cols["ADT"]["dataType"] == "date" and cols["ADT"]["targetDataType"] == "integer"
    assert cols["USUBJID"]["keySequence"] == 1 and cols["PARAMCD"]["keySequence"] == 2
    assert cols["USUBJID"]["length"] == 11
    assert doc["rows"][0][list(cols).index("ADT")] == "2014-01-03"


@pytest.mark.parametrize(
    ("source", "name", "looks_like"),
    [
        ("adam/adtte.xpt", "adtte.parquet", "SAS transport"),
        ("adam/adtte.xpt", "adtte.csv", "SAS transport"),
        ("adam/adtte.xpt", "adtte.json", "SAS transport"),
    ],
)
def test_content_that_is_not_what_the_extension_says(
    tmp_path: Path, source: str, name: str, looks_like: str
) -> None:
    target = tmp_path / name
    target.write_bytes((PILOT / source).read_bytes())
    with pytest.raises(DatasetReadError, match=f"{name}.*content looks like {looks_like}"):
        io.read_dataset(target)


def test_parquet_named_xpt_is_reported(tmp_path: Path) -> None:
    ds = io.read_dataset(PILOT / "adam" / "adtte.xpt")
    pq = io.write_dataset(ds, tmp_path / "x.parquet")
    fake = tmp_path / "adtte.xpt"
    fake.write_bytes(pq.read_bytes())
    with pytest.raises(DatasetReadError, match="looks like Parquet"):
        io.read_dataset(fake)


def test_unknown_extension_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "dm.xlsx").write_bytes(b"PK")
    with pytest.raises(DatasetReadError, match="unknown dataset file extension"):
        io.read_dataset(tmp_path / "dm.xlsx")
    with pytest.raises(DatasetReadError, match="no such file"):
        io.read_dataset(tmp_path / "dm.xpt")


@pytest.mark.parametrize("fmt", ["xpt", "parquet", "json", "csv"])
def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = io.read_dataset(PILOT / "adam" / "adtte.xpt")
    target = tmp_path / f"adtte.{fmt}"
    target.write_bytes(b"previous version")

    import numpy as np

    def explode(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # an interruption in the middle of writing

    # Break each writer after it has started producing output.
    monkeypatch.setattr(np, "zeros", explode)  # xpt
    monkeypatch.setattr(pl.DataFrame, "write_parquet", explode)
    monkeypatch.setattr("json.dump", explode)
    monkeypatch.setattr(pl.DataFrame, "write_csv", explode)
    with pytest.raises(KeyboardInterrupt):
        io.write_dataset(ds, target)
    assert target.read_bytes() == b"previous version"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_read_folder_refuses_two_files_for_one_dataset(tmp_path: Path) -> None:
    ds = io.read_dataset(PILOT / "adam" / "adtte.xpt")
    io.write_dataset(ds, tmp_path / "adtte.xpt")
    io.write_dataset(ds, tmp_path / "adtte.parquet")
    with pytest.raises(DatasetReadError, match="two files hold dataset ADTTE"):
        io.read_folder(tmp_path)


_values = st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False, width=64))


@settings(max_examples=40, deadline=None)
@given(
    text=st.lists(st.one_of(st.none(), st.text(min_size=1, max_size=20)), min_size=1, max_size=15),
    numbers=st.data(),
)
def test_parquet_and_json_round_trip_any_values(
    tmp_path_factory: pytest.TempPathFactory, text: list[str | None], numbers: st.DataObject
) -> None:
    nums = numbers.draw(st.lists(_values, min_size=len(text), max_size=len(text)))
    days = numbers.draw(
        st.lists(st.one_of(st.none(), st.dates()), min_size=len(text), max_size=len(text))
    )
    frame = pl.DataFrame(
        {"T": text, "X": nums, "D": days}, schema={"T": pl.String, "X": pl.Float64, "D": pl.Date}
    )
    meta = {"T": ColumnMeta("T", "Unicode text", "string", 80)}
    ds = Dataset.from_frame("PROP", frame, label="property", meta=meta)
    folder = tmp_path_factory.mktemp("rt")
    for ext in ("parquet", "json"):
        back = io.read_dataset(io.write_dataset(ds, folder / f"prop.{ext}"))
        assert back.columns == ds.columns
        assert back.frame.equals(frame)


def test_written_files_get_the_usual_permissions(tmp_path: Path) -> None:
    import os
    import stat

    ds = io.read_dataset(PILOT / "adam" / "adtte.xpt")
    path = io.write_dataset(ds, tmp_path / "adtte.parquet")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def _part(frame: pl.DataFrame) -> Dataset:
    return Dataset.from_frame("ADAE", frame, label="Adverse Events Analysis Dataset")


def test_parts_are_written_as_one_dataset_in_order_with_its_metadata(tmp_path: Path) -> None:
    ae = io.read_dataset(PILOT / "sdtm" / "ae.xpt")
    cuts = [0, 1, 400, 401, ae.n_rows]  # parts of 1, 399, 1 and the rest
    parts = [replace(ae, frame=ae.frame[a:b]) for a, b in itertools.pairwise(cuts)]
    header, count = io.write_dataset_parts(iter(parts), tmp_path / "ae.parquet")
    back = io.read_dataset(tmp_path / "ae.parquet")
    assert count == ae.n_rows == back.n_rows
    assert (back.name, back.label, back.columns) == (ae.name, ae.label, ae.columns)
    assert back.frame.equals(ae.frame)
    assert header.n_rows == 0 and header.frame.schema == ae.frame.schema


def test_a_variable_empty_in_one_part_takes_its_type_from_another(tmp_path: Path) -> None:
    empty = _part(pl.DataFrame({"USUBJID": ["A"], "AETOXTRM": [None]}))
    filled = _part(pl.DataFrame({"USUBJID": ["B"], "AETOXTRM": ["Anaemia"]}))
    assert empty.frame.schema["AETOXTRM"] == pl.Null
    header, _ = io.write_dataset_parts(iter([empty, filled]), tmp_path / "adae.parquet")
    back = io.read_dataset(tmp_path / "adae.parquet")
    assert back.frame.schema["AETOXTRM"] == pl.String
    assert back.frame["AETOXTRM"].to_list() == [None, "Anaemia"]
    assert [c.kind for c in header.columns] == ["string", "string"]


def test_parts_with_other_variables_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    from eap.errors import DatasetWriteError

    first = _part(pl.DataFrame({"USUBJID": ["A"], "AESEQ": [1]}))
    other = _part(pl.DataFrame({"USUBJID": ["B"]}))
    with pytest.raises(DatasetWriteError, match="part 2 has other variables") as raised:
        io.write_dataset_parts(iter([first, other]), tmp_path / "adae.parquet")
    assert raised.value.file == str(tmp_path / "adae.parquet")
    assert raised.value.expected == "USUBJID, AESEQ" and raised.value.found == "USUBJID"
    assert list(tmp_path.iterdir()) == []

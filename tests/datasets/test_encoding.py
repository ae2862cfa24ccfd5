"""Text encodings: UTF-8, Windows-1252 and Latin-1 XPT and CSV files, detected or as told."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from eap.cli import app
from eap.datasets import io
from eap.datasets.encoding import decode_bytes, normalize_encoding
from eap.datasets.model import ColumnMeta, Dataset
from eap.datasets.validate import validate_folder
from eap.datasets.xpt import read_xpt
from eap.errors import DatasetReadError, EapError
from tests.conftest import PILOT

runner = CliRunner()

TERMS = ["Café au lait", "Alzheimer’s Disease", "10 ± 2 mg", None]
LABEL = "Température ± écart"

# Placeholders: single ASCII control bytes the writer copies as they are, replaced
# afterwards by the single-byte code of each character (same length, same layout).
_PLACEHOLDER = {"é": b"\x1a", "’": b"\x1c", "±": b"\x1d", "\x8d": b"\x1e"}


def _xpt_in(path: Path, encoding: str, terms: list[str | None], label: str = LABEL) -> Path:
    """A transport file whose text is in ``encoding`` (one byte per character)."""

    def mask(text: str) -> str:
        for ch, ph in _PLACEHOLDER.items():
            text = text.replace(ch, ph.decode())
        return text

    frame = pl.DataFrame(
        {
            "TERM": [None if t is None else mask(t) for t in terms],
            "CODE": ["A", "B", "C", "D"][: len(terms)],
        }
    )
    meta = {"TERM": ColumnMeta("TERM", mask(label), "string", 40)}
    io.write_dataset(Dataset.from_frame("XX", frame, label="Encodings", meta=meta), path)
    raw = path.read_bytes()
    for ch, ph in _PLACEHOLDER.items():
        if ph in raw:
            raw = raw.replace(ph, ch.encode(encoding))
    path.write_bytes(raw)
    return path


def test_windows_1252_xpt_is_detected_and_decoded(tmp_path: Path) -> None:
    path = _xpt_in(tmp_path / "xx.xpt", "cp1252", TERMS)
    assert b"\x92" in path.read_bytes()
    ds = io.read_dataset(path)
    assert ds.frame["TERM"].to_list() == TERMS
    assert ds.column("TERM").label == LABEL
    assert ds.extra["encoding"] == "windows-1252"


def test_latin_1_xpt_with_a_byte_windows_1252_lacks_is_read_as_latin_1(tmp_path: Path) -> None:
    # 0x8D is undefined in Windows-1252: the file is Latin-1, where it is a C1 control.
    terms = ["Café", "10 ± 2 mg", "control \x8d here", None]
    path = _xpt_in(tmp_path / "xx.xpt", "latin-1", terms)
    assert b"\x8d" in path.read_bytes()
    ds = io.read_dataset(path)
    assert ds.frame["TERM"].to_list() == terms
    assert ds.column("TERM").label == LABEL
    assert ds.extra["encoding"] == "latin-1"


def test_latin_1_text_without_c1_bytes_reads_the_same_as_windows_1252(tmp_path: Path) -> None:
    terms = ["Café", "10 ± 2 mg", None, "plain"]
    path = _xpt_in(tmp_path / "xx.xpt", "latin-1", terms, label="Température")
    ds = io.read_dataset(path)
    assert ds.frame["TERM"].to_list() == terms
    assert ds.column("TERM").label == "Température"


def test_utf8_xpt_is_read_as_utf8(tmp_path: Path) -> None:
    frame = pl.DataFrame({"TERM": TERMS, "CODE": ["A", "B", "C", "D"]})
    meta = {"TERM": ColumnMeta("TERM", LABEL, "string", 40)}
    path = io.write_dataset(Dataset.from_frame("XX", frame, meta=meta), tmp_path / "xx.xpt")
    assert "’".encode() in path.read_bytes()
    ds = io.read_dataset(path)
    assert ds.frame["TERM"].to_list() == TERMS
    assert ds.column("TERM").label == LABEL
    assert ds.extra["encoding"] == "utf-8"


def test_an_explicit_encoding_is_used_as_given(tmp_path: Path) -> None:
    path = _xpt_in(tmp_path / "xx.xpt", "cp1252", TERMS)
    # As Latin-1, byte 0x92 is the C1 control U+0092, not an apostrophe.
    ds = io.read_dataset(path, encoding="ISO-8859-1")
    assert ds.frame["TERM"][1] == "Alzheimer\x92s Disease"
    assert ds.extra["encoding"] == "latin-1"
    assert io.read_dataset(path, encoding="cp1252").frame["TERM"].to_list() == TERMS


def test_explicit_utf8_on_a_windows_1252_xpt_names_variable_rows_and_byte(tmp_path: Path) -> None:
    path = _xpt_in(tmp_path / "xx.xpt", "cp1252", TERMS)
    with pytest.raises(DatasetReadError) as err:
        io.read_dataset(path, encoding="utf-8")
    e = err.value
    assert e.file == str(path) and e.dataset == "XX" and e.variable == "TERM"
    assert e.rows == [1, 2, 3]
    assert e.found is not None and "byte 0xe9" in e.found


def test_windows_1252_csv_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "xx.csv"
    path.write_bytes(
        "TERM,N\nCafé au lait,1\nAlzheimer’s Disease,2\n10 ± 2 mg,3\n".encode("cp1252")
    )
    ds = io.read_dataset(path)
    assert ds.frame["TERM"].to_list() == TERMS[:3]
    assert ds.frame["N"].to_list() == [1, 2, 3]
    assert ds.extra["encoding"] == "windows-1252"


def test_encoding_is_kept_when_the_specification_types_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "ae.csv"
    path.write_bytes("USUBJID,AESEQ,AETERM\n01-001,1,Caf\u00e9 \u00b1\n".encode("cp1252"))
    ds = io.read_dataset(path)
    assert ds.frame.schema["AESEQ"] == pl.Int64  # integer by the AE specification
    assert ds.frame["AETERM"].to_list() == ["Café ±"]
    assert ds.extra["encoding"] == "windows-1252"


def test_latin_1_csv_is_detected_by_a_byte_windows_1252_lacks(tmp_path: Path) -> None:
    path = tmp_path / "xx.csv"
    path.write_bytes("TERM\nCafé\n± \x81\n".encode("latin-1"))
    ds = io.read_dataset(path)
    assert ds.frame["TERM"].to_list() == ["Café", "± \x81"]
    assert ds.extra["encoding"] == "latin-1"


def test_utf8_csv_with_or_without_bom(tmp_path: Path) -> None:
    for bom in (b"", b"\xef\xbb\xbf"):
        path = tmp_path / "xx.csv"
        path.write_bytes(bom + "TERM\nCafé\nAlzheimer’s\n± 2\n".encode())
        ds = io.read_dataset(path)
        assert ds.frame.columns == ["TERM"]
        assert ds.frame["TERM"].to_list() == ["Café", "Alzheimer’s", "± 2"]
        assert ds.extra["encoding"] == "utf-8"


def test_csv_in_the_wrong_explicit_encoding_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "dm.csv"
    path.write_bytes("USUBJID,SEX\n01-001,M\n01-002,F\u00e9\n".encode("latin-1"))
    with pytest.raises(DatasetReadError, match=r"dm\.csv \(row 3\): the text is not utf-8"):
        io.read_dataset(path, encoding="utf-8")
    path.write_bytes("A\n\x81\n".encode("latin-1"))
    with pytest.raises(DatasetReadError, match=r"row 2.*not windows-1252.*byte 0x81"):
        io.read_dataset(path, encoding="windows-1252")


@pytest.mark.parametrize("name", ["klingon", "utf-9", "base64"])
def test_unknown_encoding_name_is_a_clear_error(tmp_path: Path, name: str) -> None:
    path = _xpt_in(tmp_path / "xx.xpt", "cp1252", TERMS)
    with pytest.raises(DatasetReadError, match=f"xx.xpt: .*text encoding.*found '{name}'"):
        io.read_dataset(path, encoding=name)
    with pytest.raises(DatasetReadError, match="text encoding"):
        io.read_folder(tmp_path, encoding=name)
    with pytest.raises(DatasetReadError, match="text encoding"):
        validate_folder(tmp_path, encoding=name)


def test_encoding_names() -> None:
    assert normalize_encoding(None) is None
    assert normalize_encoding("Windows-1252") == "windows-1252"
    assert normalize_encoding("latin1") == normalize_encoding("l1") == "latin-1"
    assert normalize_encoding("UTF8") == normalize_encoding("utf-8-sig") == "utf-8"
    assert normalize_encoding("cp1250") == "cp1250"
    with pytest.raises(EapError):
        normalize_encoding("")
    assert decode_bytes("é".encode("cp1250"), "cp1250", file="x") == ("é", "cp1250")


def test_other_explicit_encodings_work_for_xpt(tmp_path: Path) -> None:
    # Windows-1250 (Central European): 0xE9 is é there too, 0x9A is š.
    frame = pl.DataFrame({"TERM": ["Caf\x1a", "\x1c"]})
    path = io.write_dataset(Dataset.from_frame("XX", frame), tmp_path / "xx.xpt")
    path.write_bytes(path.read_bytes().replace(b"\x1a", b"\xe9").replace(b"\x1c", b"\x9a"))
    ds = read_xpt(path, encoding="cp1250")
    assert ds.frame["TERM"].to_list() == ["Café", "š"]
    assert ds.extra["encoding"] == "cp1250"


# --- the CDISC pilot SDTM as published ------------------------------------------


def test_pilot_ts_is_windows_1252() -> None:
    ts = io.read_dataset(PILOT / "sdtm" / "ts.xpt")
    assert ts.extra["encoding"] == "windows-1252"
    values = ts.frame.filter(pl.col("TSPARMCD") == "TDIGRP")["TSVAL"].to_list()
    assert values == ["Patients with Probable Mild to Moderate Alzheimer’s Disease"]
    assert io.read_dataset(PILOT / "sdtm" / "dm.xpt").extra["encoding"] == "utf-8"


def test_pilot_sdtm_reads_whole(tmp_path: Path) -> None:
    sdtm = io.read_folder(PILOT / "sdtm")
    assert sorted(sdtm) == [
        "AE", "CM", "DM", "DS", "EX", "MH", "RELREC", "SC", "SE", "SUPPAE", "SUPPDM",
        "SUPPDS", "SV", "TA", "TE", "TI", "TS", "TV",
    ]  # fmt: skip


def test_cli_info_and_convert_take_an_encoding(tmp_path: Path) -> None:
    src = _xpt_in(tmp_path / "xx.xpt", "cp1252", TERMS)
    info = runner.invoke(app, ["info", str(src), "--json"])
    assert info.exit_code == 0, info.output
    assert json.loads(info.stdout)["encoding"] == "windows-1252"
    as_latin1 = runner.invoke(app, ["info", str(src), "--json", "--encoding", "latin-1"])
    assert json.loads(as_latin1.stdout)["encoding"] == "latin-1"
    text = runner.invoke(app, ["info", str(src)])
    assert "text encoding: windows-1252" in text.stdout
    out = tmp_path / "out"
    conv = runner.invoke(app, ["convert", str(src), "--to", "csv", "--out", str(out)])
    assert conv.exit_code == 0, conv.output
    written = (out / "xx.csv").read_bytes()
    assert "Alzheimer’s Disease".encode() in written  # eap writes UTF-8
    assert io.read_dataset(out / "xx.csv").frame["TERM"].to_list() == TERMS


@pytest.mark.parametrize("command", ["validate", "info", "convert"])
def test_cli_unknown_encoding_exits_2_with_the_name(
    tmp_path: Path,
    command: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from eap.cli import main

    src = _xpt_in(tmp_path / "xx.xpt", "cp1252", TERMS)
    args = {
        "validate": ["validate", str(tmp_path)],
        "info": ["info", str(src)],
        "convert": ["convert", str(src), "--to", "csv", "--out", str(tmp_path / "o")],
    }[command]
    monkeypatch.setattr("sys.argv", ["eap", *args, "--encoding", "klingon"])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "unknown text encoding" in err and "'klingon'" in err
    assert not (tmp_path / "o").exists()


def test_cli_validate_with_an_explicit_encoding(tmp_path: Path) -> None:
    _xpt_in(tmp_path / "xx.xpt", "cp1252", TERMS)
    wrong = runner.invoke(app, ["validate", str(tmp_path), "--json", "--encoding", "utf-8"])
    doc = json.loads(wrong.stdout)
    assert [f["check"] for f in doc["findings"]] == ["unreadable-file"]
    assert "not utf-8" in doc["findings"][0]["message"]
    right = runner.invoke(app, ["validate", str(tmp_path), "--json", "--encoding", "cp1252"])
    assert [f["check"] for f in json.loads(right.stdout)["findings"]] == ["unknown-dataset"]

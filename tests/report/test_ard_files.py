"""The ARD's files: ard.json written a piece at a time is the JSON Polars writes whole."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import eap.report as report
from eap.ard.cards import Cell, Rows, empty_ard


def _ard() -> pl.DataFrame:
    rows = Rows()
    cell = Cell("T1", "safety")
    for i, n in enumerate([0, 1, 2, 7, 0, 3, 12, 1]):  # 7 and 12: more than a piece
        subjects = [f"S{j:03d}" for j in range(n)]
        rows.add(cell.at(variable=f"V{i}"), "n", n, fmt="xx", subjects=subjects)
    rows.add(cell, "text", None, text='quote " and \\ and é')
    return rows.frame()


@pytest.mark.parametrize("piece", [1, 3, 5, 1000])
def test_ard_json_in_pieces_is_the_json_written_whole(
    piece: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report, "JSON_PIECE_VALUES", piece)
    for ard in (_ard(), empty_ard()):
        report.write_json_rows(ard, tmp_path / "ard.json")
        assert (tmp_path / "ard.json").read_text(encoding="utf-8") == ard.write_json()
        back = pl.read_json(tmp_path / "ard.json", schema=ard.schema)
        assert back.equals(ard)

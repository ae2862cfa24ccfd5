from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eap.ard import build_ard
from eap.cli import app
from eap.derive import derive_all
from eap.report.reproduce import compare, reproduce_sdtm
from eap.simulate import simulate

CUTOFF = dt.date(2014, 11, 5)


@pytest.mark.parametrize("seed", [2014, 3, 11])
def test_every_published_figure_is_reproduced(seed: int) -> None:
    results = reproduce_sdtm(simulate(seed), CUTOFF)
    assert len(results) > 200
    assert [r for r in results if not r.ok] == []


def test_a_wrong_number_is_caught() -> None:
    sdtm = simulate(2014)
    adam = derive_all(sdtm, CUTOFF).datasets
    ard = build_ard(adam, cm=sdtm["CM"].frame)
    # Drop one serious pneumonia patient from the ARD: Table 3 must then fail.
    import polars as pl

    broken = ard.with_columns(
        pl.when(
            (pl.col("ANALYSIS") == "AET09")
            & (pl.col("LEVEL") == "Pneumonia")
            & (pl.col("STAT") == "n")
            & (pl.col("POPULATION") == "safety")
        )
        .then(pl.col("VALUE") - 1)
        .otherwise(pl.col("VALUE"))
        .alias("VALUE")
    )
    failed = {r.id for r in compare(broken) if not r.ok}
    assert failed == {"ae.table3.Pneumonia.n", "ae.table3.Pneumonia.pct"}


def test_ard_rows_carry_the_subjects_behind_each_count() -> None:
    sdtm = simulate(2014)
    ard = build_ard(derive_all(sdtm, CUTOFF).datasets, cm=sdtm["CM"].frame)
    import polars as pl

    row = ard.filter(
        (pl.col("ANALYSIS") == "AET04")
        & (pl.col("VARIABLE") == "ANY")
        & (pl.col("STAT") == "n")
        & (pl.col("POPULATION") == "safety")
    ).row(0, named=True)
    assert row["VALUE"] == 48 and len(row["SUBJECTS"]) == 48


def test_cli_reproduce_json_and_exit_status(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["reproduce", "--json"])
    assert result.exit_code == 0, result.stdout[-2000:]
    doc = json.loads(result.stdout)
    assert set(doc[0]) == {"id", "published", "computed", "tolerance", "ok"}
    assert all(d["ok"] for d in doc)
    # A cutoff a year early cannot reproduce the publication: exit status 1.
    early = runner.invoke(app, ["reproduce", "--cutoff", "2013-11-05", "--json"])
    assert early.exit_code == 1

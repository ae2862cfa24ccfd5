from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from eap.cli import app
from eap.derive import derive_all
from eap.report.reproduce import compare, mm024_ard, reproduce_sdtm
from eap.simulate import simulate

CUTOFF = dt.date(2014, 11, 5)


@pytest.mark.parametrize("seed", [2014, 3, 11])
def test_every_published_figure_is_reproduced(seed: int) -> None:
    results = reproduce_sdtm(simulate(seed), CUTOFF)
    assert len(results) == 255
    assert [r for r in results if not r.ok] == []


def test_a_wrong_number_is_caught() -> None:
    sdtm = simulate(2014)
    ard = mm024_ard(derive_all(sdtm, CUTOFF).datasets, sdtm)
    # Drop one serious pneumonia patient from the ARD: Table 3 must then fail.
    broken = ard.with_columns(
        pl.when(
            (pl.col("output") == "AET09")
            & (pl.col("variable_level") == "Pneumonia")
            & (pl.col("stat_name") == "n")
            & (pl.col("population") == "safety")
        )
        .then(pl.col("stat") - 1)
        .otherwise(pl.col("stat"))
        .alias("stat")
    )
    failed = {r.id for r in compare(broken) if not r.ok}
    assert failed == {"ae.table3.Pneumonia.n", "ae.table3.Pneumonia.pct"}


def test_an_adam_folder_written_by_eap_derive_reproduces_every_figure(tmp_path: Path) -> None:
    # eap simulate -> eap derive -> eap reproduce --adam: no SDTM beside the ADaM, the
    # concomitant medications come from ADCM (CMT01 reads it), and all 255 figures match.
    from eap.ard.run import run_plan
    from eap.datasets.io import read_folder
    from eap.plans.plan import load_plan

    runner = CliRunner()
    sdtm, adam = tmp_path / "sdtm", tmp_path / "adam"
    assert runner.invoke(app, ["simulate", "--out", str(sdtm), "--model", "exact"]).exit_code == 0
    derived = runner.invoke(app, ["derive", str(sdtm), "--out", str(adam)])
    assert derived.exit_code == 0, derived.stdout
    assert (adam / "adcm.xpt").is_file() and not (adam / "cm.xpt").exists()
    result = runner.invoke(app, ["reproduce", "--adam", str(adam), "--json"])
    assert result.exit_code == 0, result.stdout[-2000:]
    doc = json.loads(result.stdout)
    assert len(doc) == 255 and [d["id"] for d in doc if not d["ok"]] == []
    cm = [d for d in doc if d["id"].startswith("concomitant_medications")]
    assert len(cm) == 10
    # eap report --adam: CMT01 is produced (not listed as lacking its data).
    assert "CMT01" not in run_plan(load_plan("mm024"), read_folder(adam)).skipped


def test_adam_without_adcm_but_with_sdtm_cm_beside_still_reproduces_cm(tmp_path: Path) -> None:
    # A folder of ADaM from elsewhere (no ADCM) with the SDTM CM beside them: ADCM is
    # derived from that CM and ADSL, and the CMT01 comparisons pass.
    from eap.datasets.io import read_folder, write_dataset

    sdtm = simulate(2014)
    for name, ds in derive_all(sdtm, CUTOFF).datasets.items():
        if name != "ADCM":
            write_dataset(ds, tmp_path / f"{name.lower()}.xpt")
    write_dataset(sdtm["CM"], tmp_path / "cm.xpt")
    results = compare(mm024_ard(read_folder(tmp_path)))
    cm = [r for r in results if r.id.startswith("concomitant_medications")]
    assert len(cm) == 10 and all(r.ok for r in cm)


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

"""The analyses read and reduce their records on Spark as on Polars, and the ARD is the
same: values, types and row order (assert_frame_equal), subjects lists included.

The Polars ARD is checked against R, SAS and the publication elsewhere (test_pilot,
tests/report/test_reproduce); here Spark is held to it. Scale 1 of the virtual cohort
is compared through the command line (test_report_engine_spark_...).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from eap.ard import run_plan
from eap.cli import app
from eap.datasets.io import read_folder, write_dataset
from eap.datasets.model import Dataset
from eap.datasets.validate import open_datasets
from eap.engine.spark import spark_tables
from eap.plans.plan import Plan, load_plan

ADAM_PILOT = Path(__file__).parents[1] / "data" / "cdisc_pilot" / "adam"


def _mm024_adam(scale: int, folder: Path) -> Mapping[str, Dataset]:
    """MM-024's ADaM (and CM) at ``scale``, written to Parquet and opened lazily, as
    ``eap report --adam`` opens a folder."""
    from eap.derive import derive_all
    from eap.plans import load_study
    from eap.simulate import simulate

    sdtm = simulate(2014, scale)
    derived = derive_all(sdtm, study=load_study("mm024"))
    folder.mkdir()
    for name, ds in {**derived.datasets, "CM": sdtm["CM"]}.items():
        write_dataset(ds, folder / f"{name.lower()}.parquet")
    opened, _, unreadable = open_datasets(folder)
    assert not unreadable
    return opened


def _compare(plan: Plan, adam: Mapping[str, Dataset], spark: Any, group: str) -> pl.DataFrame:
    local = run_plan(plan, adam)
    spark.sparkContext.setJobGroup(group, "ARD on Spark")
    remote = run_plan(plan, adam, tables=spark_tables(spark, adam))
    # The records were read on Spark: it ran jobs for them.
    assert spark.sparkContext.statusTracker().getJobIdsForGroup(group)
    assert remote.skipped == local.skipped
    assert remote.metadata == local.metadata
    assert_frame_equal(remote.ard, local.ard)
    return local.ard


def test_mm024_at_scale_100_gives_the_same_ard_on_spark(spark: Any, tmp_path: Path) -> None:
    plan = load_plan("mm024")
    adam = _mm024_adam(100, tmp_path / "adam")
    ard = _compare(plan, adam, spark, "mm024-100")
    # Every output of the plan was analysed, and the plan has every kind that reads
    # records: each was read and reduced on Spark.
    assert set(ard["output"].unique()) == {o.id for o in plan.outputs}
    kinds = {o.kind for o in plan.outputs}
    assert {"summary", "incidence", "tte", "intervals", "swimmer", "forest", "listing"} <= kinds
    assert adam["ADSL"].n_rows == 8000


def test_the_cdisc_pilot_gives_the_same_ard_on_spark(spark: Any) -> None:
    # Its ADaM are XPT files, held in memory: sent to Spark, not read by it.
    adam = read_folder(ADAM_PILOT)
    plan = load_plan("cdisc-pilot")
    ard = _compare(plan, adam, spark, "cdisc-pilot")
    assert set(ard["output"].unique()) == {o.id for o in plan.outputs}


def test_report_engine_spark_writes_the_ard_the_polars_engine_writes(
    tmp_path: Path, spark: Any, sdtm_parquet: Path
) -> None:
    runner = CliRunner()
    sdtm = sdtm_parquet
    ards = {}
    for engine in ("polars", "spark"):
        out = tmp_path / engine
        args = ["report", "--sdtm", str(sdtm), "--out", str(out), "--formats", "html"]
        result = runner.invoke(app, [*args, "--engine", engine])
        assert result.exit_code == 0, result.stdout
        log = json.loads((out / "run_log.json").read_text())
        assert log["engine"].startswith("polars" if engine == "polars" else "spark (local")
        ards[engine] = pl.read_parquet(out / "ard.parquet")
    assert_frame_equal(ards["spark"], ards["polars"])
    assert ards["polars"].height > 1000


@pytest.mark.parametrize("args", [["--engine", "duckdb"], ["--spark-master", "local[2]"]])
def test_report_refuses_an_unknown_engine_or_a_master_without_spark(
    tmp_path: Path, args: list[str]
) -> None:
    out = tmp_path / "out"
    given = ["report", "--adam", str(ADAM_PILOT), "--study", "cdisc-pilot", "--out", str(out)]
    result = CliRunner().invoke(app, [*given, *args])
    assert result.exit_code != 0
    expected = "unknown engine" if "duckdb" in args else "--spark-master is for the Spark engine"
    assert expected in str(result.exception)
    assert not out.exists()

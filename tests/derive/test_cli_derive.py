"""eap derive: the study, the cutoff and where it came from, --explain, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from eap.cli import app
from eap.datasets.io import read_dataset
from eap.errors import EapError, PlanError
from eap.plans import load_study
from tests.conftest import PILOT

runner = CliRunner()


def test_pilot_study_uses_the_latest_date_and_says_so(tmp_path: Path) -> None:
    # The published pilot SDTM hold one error (SV rows 2555-2556 share their key):
    # --allow-invalid goes on with it (tests/test_gate.py checks the stop without it).
    out = tmp_path / "adam"
    result = runner.invoke(
        app,
        [
            "derive",
            str(PILOT / "sdtm"),
            "--out",
            str(out),
            "--study",
            "cdisc-pilot",
            "--format",
            "parquet",
            "--allow-invalid",
        ],
    )
    assert result.exit_code == 0, result.stdout
    text = " ".join(result.stdout.split())
    assert "Study CDISCPILOT01; data cutoff 2015-03-05 (latest date in the data (CM.CMDTC))" in text
    assert "ADTTE not derived: study CDISCPILOT01 defines no time-to-event endpoints" in text
    assert sorted(p.name for p in out.iterdir()) == [
        "adae.parquet",
        "adcm.parquet",
        "adex.parquet",
        "adsl.parquet",
        "define.xml",
        "define2-1.xsl",
        "run_log.json",
    ]


def test_cutoff_given_on_the_command_line_wins(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "derive",
            str(PILOT / "sdtm"),
            "--out",
            str(tmp_path),
            "--study",
            "cdisc-pilot",
            "--cutoff",
            "2014-01-31",
            "--allow-invalid",
        ],
    )
    assert result.exit_code == 0, result.stdout
    assert "data cutoff 2014-01-31 (--cutoff)" in " ".join(result.stdout.split())


def test_default_study_is_mm024_with_its_cutoff(tmp_path: Path) -> None:
    sdtm = tmp_path / "sdtm"
    assert runner.invoke(app, ["simulate", "--out", str(sdtm)]).exit_code == 0
    result = runner.invoke(app, ["derive", str(sdtm), "--out", str(tmp_path / "adam")])
    assert result.exit_code == 0, result.stdout
    text = " ".join(result.stdout.split())
    # The cutoff comes from the study file (the path may wrap on the console).
    assert "Study MM-024; data cutoff 2014-11-05 (study MM-024: " in text
    assert str(load_study("mm024").file).replace(" ", "") in result.stdout.replace(
        "\n", ""
    ).replace(" ", "")


def test_explain_prints_the_rules_without_data() -> None:
    result = runner.invoke(app, ["derive", "--study", "mm024", "--explain"])
    assert result.exit_code == 0, result.stdout
    assert "study drug: LENALIDOMIDE" in result.stdout
    assert "2. DEATH_NO_GAP (event, CNSR 0): DM.DTHDTC, before PD, only when at most 63 days" in (
        result.stdout
    )
    pilot = runner.invoke(app, ["derive", "--study", "cdisc-pilot", "--explain"])
    assert "TRTEMFL: ASTDT >= TRTSDT (no window after the last dose)" in pilot.stdout
    assert "ADTTE: no endpoints" in pilot.stdout


def test_a_broken_study_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "study.toml").write_text('[study]\nid = "X"\ntitle = "X"\n[treatments]\n')
    result = runner.invoke(app, ["derive", "--study", str(tmp_path), "--explain"])
    assert result.exit_code != 0
    assert isinstance(result.exception, PlanError)
    assert str(tmp_path / "study.toml") in str(result.exception)
    assert "populations: invalid field" in str(result.exception)


def test_without_data_or_output_folder_it_says_what_is_missing() -> None:
    result = runner.invoke(app, ["derive", "--study", "mm024"])
    assert result.exit_code != 0
    assert "a folder of SDTM datasets is needed" in str(result.exception)


def test_engine_spark_writes_the_datasets_the_polars_engine_writes(
    tmp_path: Path, spark: object, sdtm_parquet: Path
) -> None:
    sdtm = sdtm_parquet
    outputs = {}
    for engine in ("polars", "spark"):
        out = tmp_path / engine
        args = ["derive", str(sdtm), "--out", str(out), "--format", "parquet"]
        result = runner.invoke(app, [*args, "--engine", engine])
        assert result.exit_code == 0, result.stdout
        outputs[engine] = out
    log = json.loads((outputs["spark"] / "run_log.json").read_text())
    assert log["engine"].startswith("spark (local")  # the session the tests started
    assert json.loads((outputs["polars"] / "run_log.json").read_text())["engine"] == "polars"
    names = sorted(p.name for p in outputs["polars"].glob("*.parquet"))
    assert names == sorted(p.name for p in outputs["spark"].glob("*.parquet"))
    assert len(names) == 6
    for name in names:
        assert_frame_equal(
            read_dataset(outputs["spark"] / name).frame,
            read_dataset(outputs["polars"] / name).frame,
        )


def test_an_unknown_engine_or_a_master_without_spark_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["derive", str(PILOT / "sdtm"), "--out", str(tmp_path / "out"), "--study", "cdisc-pilot"]
    unknown = runner.invoke(app, [*args, "--engine", "duckdb"])
    assert unknown.exit_code != 0
    assert "unknown engine" in str(unknown.exception)
    assert "expected polars, spark" in str(unknown.exception)
    master = runner.invoke(app, [*args, "--spark-master", "local[2]"])
    assert master.exit_code != 0
    assert "--spark-master is for the Spark engine" in str(master.exception)
    conf = runner.invoke(app, [*args, "--spark-conf", "spark.driver.memory=2g"])
    assert "--spark-conf is for the Spark engine" in str(conf.exception)
    # Well-formed settings reach the session as given (spaces around = dropped).
    started: dict[str, object] = {}

    def session(master: object, conf: object) -> object:
        started.update(master=master, conf=conf)
        raise EapError("stopped here")

    monkeypatch.setattr("eap.engine.spark.session", session)
    settings = ["--spark-conf", "spark.driver.memory=2g", "--spark-conf", " a.b = x=y "]
    runner.invoke(app, [*args, "--engine", "spark", "--spark-master", "local[1]", *settings])
    assert started == {"master": "local[1]", "conf": {"spark.driver.memory": "2g", "a.b": "x=y"}}
    monkeypatch.undo()
    for bad in ("spark.driver.memory", "=2g", "spark.driver.memory="):
        malformed = runner.invoke(app, [*args, "--engine", "spark", "--spark-conf", bad])
        assert malformed.exit_code != 0
        assert "a Spark setting is KEY=VALUE" in str(malformed.exception), bad
    assert not (tmp_path / "out").exists()

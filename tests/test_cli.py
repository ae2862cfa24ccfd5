from typer.testing import CliRunner

from eap import __version__
from eap.cli import app

runner = CliRunner()


def test_version_prints_the_package_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == __version__


def test_help_lists_every_verb() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for verb in ("version", "demo", "validate", "convert", "info", "protocol", "km", "simulate"):
        assert verb in result.stdout


def test_demo_reports_from_its_study_database(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from eap.store.export import sdtm_from_url

    result = runner.invoke(app, ["demo", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.stdout
    assert "0 errors, 0 warnings" in result.stdout
    assert "80 patients registered" in result.stdout
    assert "equals the cohort, value for value" in result.stdout
    assert "255 reproduced within tolerance, 0 not" in result.stdout
    assert "study database" in (tmp_path / "report" / "report.html").read_text()
    assert sdtm_from_url(f"sqlite:///{tmp_path / 'study.db'}")["DM"].n_rows == 80
    again = runner.invoke(app, ["demo", "--out", str(tmp_path)])  # a re-run starts afresh
    assert again.exit_code == 0, again.stdout
    assert "Table 4" in result.stdout
    assert (tmp_path / "report" / "report.html").is_file()
    assert (tmp_path / "report" / "report.pdf").is_file()
    assert (tmp_path / "sdtm" / "dm.xpt").is_file()
    assert (tmp_path / "adam" / "adtte.xpt").is_file()
    assert (tmp_path / "adam" / "adex.xpt").is_file()
    from eap.datasets.define import check_define

    check_define(tmp_path / "adam" / "define.xml")  # valid define.xml 2.1 beside the ADaM


def test_simulate_writes_valid_sdtm_and_refuses_bad_options(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["simulate", "--out", str(tmp_path), "--format", "json"])
    assert result.exit_code == 0, result.stdout
    assert "protocol model" in result.stdout  # the default
    exact = runner.invoke(
        app, ["simulate", "--out", str(tmp_path / "x"), "--format", "json", "--model", "exact"]
    )
    assert exact.exit_code == 0 and "80 patients" in exact.stdout
    assert (tmp_path / "dm.json").is_file() and (tmp_path / "ex.json").is_file()
    ok = runner.invoke(app, ["validate", str(tmp_path)])
    assert ok.exit_code == 0
    bad = runner.invoke(app, ["simulate", "--out", str(tmp_path), "--format", "xlsx"])
    assert bad.exit_code != 0


def test_simulate_is_byte_for_byte_reproducible(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1415145600")
    for folder in ("a", "b"):
        result = runner.invoke(app, ["simulate", "--out", str(tmp_path / folder), "--seed", "11"])
        assert result.exit_code == 0, result.stdout
    for path in sorted((tmp_path / "a").iterdir()):
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes(), path.name


def test_an_error_is_printed_with_its_brackets(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    # Text in square brackets (an extra's name, a Spark master URL) is the error's own,
    # never taken for console markup. Without pyspark, the Spark engine names its extra.
    import sys

    import pytest

    from eap.cli import main

    monkeypatch.setitem(sys.modules, "pyspark.sql", None)  # import fails: no pyspark
    args = ["eap", "derive", str(tmp_path), "--out", str(tmp_path / "out")]
    monkeypatch.setattr(sys, "argv", [*args, "--engine", "spark"])
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 2
    said = " ".join(capsys.readouterr().err.split())
    assert "the Spark engine needs pyspark; expected pip install 'eap[spark]'" in said


def test_engine_help_names_the_spark_extra() -> None:
    result = runner.invoke(app, ["report", "--help"], env={"COLUMNS": "200"})
    assert "pip install 'eap[spark]'" in result.stdout

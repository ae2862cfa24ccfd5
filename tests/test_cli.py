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
    for verb in ("version", "demo", "validate", "convert", "info"):
        assert verb in result.stdout


def test_demo_runs_what_exists_and_names_what_does_not(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["demo", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.stdout
    assert "0 errors, 0 warnings" in result.stdout
    assert "not there yet" in result.stdout
    assert (tmp_path / "datasets" / "adtte.json").is_file()
    assert (tmp_path / "datasets" / "adsl.parquet").is_file()

"""The ``eap protocol`` commands, run as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eap.cli import app

runner = CliRunner()


def run(*args: str) -> str:
    result = runner.invoke(app, ["protocol", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def run_main(*args: str) -> subprocess.CompletedProcess[str]:
    """Through eap.cli.main, which turns EapError into exit status 2."""
    code = "import sys; from eap.cli import main; sys.argv = ['eap', *sys.argv[1:]]; main()"
    return subprocess.run(
        [sys.executable, "-c", code, "protocol", *args],
        capture_output=True,
        text=True,
        check=False,
        env={"COLUMNS": "200", "PATH": ""},
    )


def test_help_lists_every_protocol_verb() -> None:
    out = run("--help")
    for verb in ("show", "dose", "calendar", "eligibility", "visits"):
        assert verb in out


def test_show() -> None:
    out = run("show")
    assert "MM-024" in out
    assert "Treatment Phase" in out
    assert "REVLIMID" in out
    data = json.loads(run("show", "--json"))
    assert data["regimen"]["cycle_days"] == 28
    assert data["dose_reduction"]["ladder"] == [25.0, 20.0, 15.0, 10.0, 5.0, 2.5]
    assert data["regimen"]["lenalidomide"]["renal_bands"][-1]["crcl_max"] is None


def test_dose_by_crcl() -> None:
    out = run("dose", "--crcl", "45")
    assert "30 to < 60" in out
    assert "10 mg daily, days 1-21" in out
    data = json.loads(run("dose", "--crcl", "45", "--json"))
    assert data["starting_dose"]["dose"] == 10.0
    # 10 x 21 / 28 = 7.5
    assert data["starting_dose"]["planned_dose_intensity_mg_per_day"] == pytest.approx(7.5)


def test_dose_by_cockcroft_gault() -> None:
    args = ["dose", "--age", "70", "--weight-kg", "60", "--creatinine", "1.4", "--sex", "F"]
    out = run(*args)
    assert "35.4 mL/min" in out  # 70 x 60 / (72 x 1.4) x 0.85 = 35.42
    assert "Cockcroft-Gault" in out
    data = json.loads(run(*args, "--json"))
    assert data["crcl_ml_min"] == pytest.approx(35.416667, abs=1e-6)
    assert data["starting_dose"]["dose"] == 10.0
    assert data["dexamethasone"]["days"] == [1, 8, 15, 22]


def test_dose_with_carried_over_dose() -> None:
    data = json.loads(run("dose", "--crcl", "72", "--carried-over-dose", "20", "--json"))
    assert data["starting_dose"]["dose"] == 20.0
    assert data["full_dose"]["dose"] == 25.0
    assert data["carried_over"] is True


def test_calendar() -> None:
    out = run("calendar", "--start", "2013-01-07", "--cycles", "3", "--crcl", "72")
    assert "2013-01-07" in out and "2013-03-31" in out
    assert "18.75" in out
    data = json.loads(
        run("calendar", "--start", "2013-01-07", "--cycles", "3", "--crcl", "72", "--json")
    )
    rows = data["administrations"]
    assert sum(r["EXTRT"] == "LENALIDOMIDE" for r in rows) == 63  # 21 x 3
    assert sum(r["EXTRT"] == "DEXAMETHASONE" for r in rows) == 12  # 4 x 3
    assert rows[0]["DATE"] == "2013-01-07"
    summary = {r["EXTRT"]: r for r in data["summary"]}
    assert summary["LENALIDOMIDE"]["DOSE_INTENSITY"] == pytest.approx(18.75)


def test_calendar_by_dose_every_other_day() -> None:
    data = json.loads(
        run(
            "calendar",
            "--start",
            "2013-01-07",
            "--dose",
            "15",
            "--frequency",
            "every_other_day",
            "--json",
        )
    )
    assert data["lenalidomide"]["days"] == list(range(1, 22, 2))


def test_eligibility(tmp_path: Path, data_dir: Path) -> None:
    out = run("eligibility", str(data_dir / "eligibility.json"))
    assert "Treatment Phase" in out and "Safety Follow-Up Phase" in out
    assert "Not eligible" in out
    data = json.loads(run("eligibility", str(data_dir / "eligibility.json"), "--json"))
    assert [d["outcome"] for d in data][:3] == ["treatment", "safety_follow_up", "safety_follow_up"]


def test_visits(data_dir: Path) -> None:
    path = str(data_dir / "visits.json")
    out = run("visits", path, "--as-of", "2014-11-05")
    assert "done out of window" in out
    assert "coming due" in out
    assert "treatment limit 2016-05-20" in out
    data = json.loads(run("visits", path, "--as-of", "2014-11-05", "--json"))
    assert data[0]["counts"]["missed"] == 1


def test_thromboprophylaxis_command() -> None:
    data = json.loads(run("thromboprophylaxis", "--high-risk", "--json"))
    assert data["options"] == ["aspirin 70-100 mg oral daily"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (
            ["dose", "--age", "70", "--weight-kg", "0", "--creatinine", "1.4", "--sex", "F"],
            "weight_kg: must be a positive finite number; expected a number > 0 kg",
        ),
        (
            ["dose", "--age", "70", "--weight-kg", "60", "--creatinine", "1.4", "--sex", "Q"],
            "sex: unknown sex; expected one of M, F",
        ),
        (
            [
                "dose",
                "--age",
                "70",
                "--weight-kg",
                "60",
                "--creatinine",
                "1.4",
                "--sex",
                "F",
                "--unit",
                "g/L",
            ],
            "expected one of mg/dL, umol/L",
        ),
        (["dose", "--age", "70"], "expected --crcl, or all of --age, --weight-kg"),
        (["dose", "--crcl", "72", "--carried-over-dose", "12"], "one of 25, 20, 15, 10, 5, 2.5"),
        (["calendar", "--start", "2013-02-30", "--crcl", "72"], "start: not a valid calendar date"),
        (["calendar", "--start", "2013-01-07"], "give exactly one of CrCl or dose"),
        (["calendar", "--start", "2013-01-07", "--dose", "12"], "one of 25, 20, 15, 10, 5, 2.5"),
        (
            ["calendar", "--start", "2013-01-07", "--crcl", "72", "--cycles", "0"],
            "cycles: number of cycles must be a positive integer",
        ),
        (["eligibility", "absent.json"], "absent.json: file not found"),
        (["visits", "absent.json", "--as-of", "2014-11-31"], "as_of: not a valid calendar date"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str], fragment: str) -> None:
    result = run_main(*args)
    assert result.returncode == 2, result.stderr
    assert fragment in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error:")


def test_bad_protocol_file_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "study.toml"
    bad.write_text("format_version = 1\n", encoding="utf-8")
    result = run_main("show", "--protocol", str(bad))
    assert result.returncode == 2
    assert "study: missing field" in result.stderr

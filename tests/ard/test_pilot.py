"""The CDISC pilot's outputs against values computed in R from the pilot's own ADaM.

tests/data/cdisc_pilot/reference/pilot_reference.R computes every statistic with
base R and survival (survfit, survdiff, coxph) from adsl.xpt, adae.xpt and
adtte.xpt; its output, pilot_reference.csv, is read here. Nothing in it comes
from eap.
"""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import pytest

from eap.ard import run_plan
from eap.datasets.io import read_folder
from eap.plans.plan import load_plan

DATA = Path(__file__).parents[1] / "data" / "cdisc_pilot"
# The reference names its outputs by content; the plan by the pilot's table numbers.
OUTPUTS = {
    "T14-2.01": "T14-2.01",
    "T14-3.01-TEAE": "T14-5.01",
    "T14-3.01-SER": "T14-5.02",
    "F14-1": "T14-F1",
}
KEY = ("group1_level", "group2_level", "variable", "variable_level", "stat_name")


@pytest.fixture(scope="module")
def ard() -> pl.DataFrame:
    return run_plan(load_plan("cdisc-pilot"), read_folder(DATA / "adam")).ard


def _reference() -> pl.DataFrame:
    return pl.read_csv(
        DATA / "reference" / "pilot_reference.csv",
        schema_overrides={"variable_level": pl.String, "group1_level": pl.String},
    )


@pytest.mark.parametrize("reference_id", list(OUTPUTS))
def test_every_reference_value_is_in_the_ard(ard: pl.DataFrame, reference_id: str) -> None:
    reference = _reference().filter(pl.col("output") == reference_id)
    mine = ard.filter(pl.col("output") == OUTPUTS[reference_id])
    index = {tuple(r[k] for k in KEY): r["stat"] for r in mine.iter_rows(named=True)}
    assert reference.height > 0
    missing, wrong = [], []
    for row in reference.iter_rows(named=True):
        if reference_id == "F14-1":
            # eap nests a time-to-event output's statistics under their PARAMCD.
            row["group2_level"] = "TTDE"
        key = tuple(row[k] for k in KEY)
        if key not in index:
            missing.append(key)
            continue
        expected, got = row["stat"], index[key]
        if expected is None or (isinstance(expected, float) and math.isnan(expected)):
            if got is not None:
                wrong.append((key, expected, got))
        elif got is None or not math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12):
            wrong.append((key, expected, got))
    assert not missing, missing[:5]
    assert not wrong, wrong[:5]


def test_header_n_per_arm_is_the_published_itt_n(ard: pl.DataFrame) -> None:
    # The pilot's published Table 14-2.01 header: Placebo 86, Low Dose 84, High Dose 84.
    big_n = ard.filter((pl.col("output") == "T14-2.01") & (pl.col("variable") == "BIGN"))
    assert dict(big_n.select("group1_level", "stat").rows()) == {
        "Placebo": 86,
        "Xanomeline Low Dose": 84,
        "Xanomeline High Dose": 84,
        None: 254,
    }


def test_pilot_report_writes_every_output(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from eap.cli import app

    result = CliRunner().invoke(
        app,
        [
            "report",
            "--study",
            "cdisc-pilot",
            "--adam",
            str(DATA / "adam"),
            "--out",
            str(tmp_path),
            "--formats",
            "html,rtf,pdf",
        ],
    )
    assert result.exit_code == 0, result.output
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    for output_id in ("T14-2.01", "T14-5.01", "T14-5.02", "T14-F1", "F14-1"):
        assert f"[{output_id}]" in html
    assert "Placebo (N\u00a0=\u00a086)" in html
    assert (tmp_path / "rtf" / "T14-5.01.rtf").is_file()
    assert (tmp_path / "figures" / "F14-1.png").is_file()
    assert (tmp_path / "report.pdf").stat().st_size > 10_000
    # The run log names every input file with its SHA-256, the study and the plan.
    import hashlib
    import json

    log = json.loads((tmp_path / "run_log.json").read_text(encoding="utf-8"))
    assert log["study"] == "CDISCPILOT01" and log["cutoff"] is None
    assert log["command"].startswith("eap")
    listed = {Path(i["path"]).name: i["sha256"] for i in log["inputs"]}
    for name in ("adsl.xpt", "adae.xpt", "adtte.xpt"):
        assert listed[name] == hashlib.sha256((DATA / "adam" / name).read_bytes()).hexdigest()
    assert log["skipped"] == {}

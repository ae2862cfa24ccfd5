"""A study's own data ([data] in study.toml) and a plan given as a file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eap.cli import app
from eap.errors import PlanError
from eap.plans.study import BUILTIN_DIR, load_study

TOY = Path(__file__).parents[1] / "data" / "toy_study"


def test_the_pilot_reports_its_own_published_adam_when_given_no_data(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["report", "--study", "cdisc-pilot", "--out", str(tmp_path), "--formats", "html"]
    )
    assert result.exit_code == 0, result.output
    log = json.loads((tmp_path / "run_log.json").read_text(encoding="utf-8"))
    adsl = BUILTIN_DIR / "cdisc_pilot" / "adam" / "adsl.xpt"
    listed = {Path(i["path"]).name: i["sha256"] for i in log["inputs"]}
    assert listed["adsl.xpt"] == hashlib.sha256(adsl.read_bytes()).hexdigest()
    assert "Placebo (N\u00a0=\u00a086)" in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_a_study_without_data_of_its_own_asks_for_some(tmp_path: Path) -> None:
    study = tmp_path / "study"
    study.mkdir()
    text = (TOY / "study.toml").read_text(encoding="utf-8")
    (study / "study.toml").write_text(text.split("\n[data]")[0], encoding="utf-8")
    (study / "plan.toml").write_text((TOY / "plan.toml").read_text(), encoding="utf-8")
    result = CliRunner().invoke(
        app, ["report", "--study", str(study), "--out", str(tmp_path / "r")]
    )
    assert result.exit_code != 0
    message = str(result.exception)
    assert "study.toml" in message and "has no data of its own" in message
    assert not (tmp_path / "r").exists()


def test_data_names_one_existing_source(tmp_path: Path) -> None:
    text = (TOY / "study.toml").read_text(encoding="utf-8").split("\n[data]")[0]
    (tmp_path / "study.toml").write_text(text + '\n[data]\nadam = "adam"\nsdtm = "sdtm"\n')
    with pytest.raises(PlanError, match="name one source of data"):
        load_study(tmp_path)
    (tmp_path / "study.toml").write_text(text + '\n[data]\nsdtm = "nowhere"\n')
    with pytest.raises(PlanError, match=r"data\.sdtm.*nowhere"):
        load_study(tmp_path)


def test_a_plan_file_runs_on_a_built_in_study(tmp_path: Path) -> None:
    plan = tmp_path / "my_plan.toml"
    plan.write_text(
        """
[plan]
title = "Serious TEAEs only"
study = "cdisc-pilot"

[[outputs]]
id = "SAE"
kind = "incidence"
title = "Serious TEAEs by preferred term"
population = "safety"
group = "TRT01A"
where = "TRTEMFL == 'Y' and AESER == 'Y'"
levels = ["AEDECOD"]
""",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["report", "--plan", str(plan), "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = (out / "report.html").read_text(encoding="utf-8")
    # The pilot has three serious TEAEs: 2 syncope and 1 partial seizures, none on placebo.
    assert "[SAE]" in html and "SYNCOPE" in html
    assert sorted(p.name for p in (out / "rtf").iterdir()) == ["SAE.rtf"]

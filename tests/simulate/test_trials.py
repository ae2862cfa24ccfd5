from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eap.cli import app
from eap.errors import EapError
from eap.simulate.trials import draw_trials, plot_trials


def test_replicates_of_the_treatment_cohort_centre_on_the_published_median(tmp_path: Path) -> None:
    result = draw_trials(60, 41, seed=3, pool_scale=5)
    assert result.replicates.height == 60
    medians = result.replicates["MEDIAN"].drop_nulls()
    # The pool is calibrated to MM-024 (median PFS 36.0 months in the treatment cohort).
    assert 30.0 <= medians.median() <= 40.0
    widths = result.replicates["WIDTH"].drop_nulls()
    assert (widths > 0).all()
    summary = result.summary()
    assert summary["STATISTIC"].to_list() == ["MEDIAN", "LOWER", "UPPER", "WIDTH"]
    assert (summary["ESTIMABLE"] + summary["NOT_ESTIMABLE"] == 60).all()
    assert 0.0 <= result.p_spm <= 1.0
    plot_trials(result, str(tmp_path / "t.png"))
    assert (tmp_path / "t.png").stat().st_size > 10_000


def test_larger_cohorts_give_narrower_intervals() -> None:
    small = draw_trials(40, 20, seed=1, pool_scale=5, population="safety")
    large = draw_trials(40, 200, seed=1, pool_scale=5, population="safety")
    assert (
        large.replicates["WIDTH"].drop_nulls().median()
        < small.replicates["WIDTH"].drop_nulls().median()
    )


def test_replicate_larger_than_the_pool_is_refused() -> None:
    with pytest.raises(EapError, match="--n"):
        draw_trials(2, 10_000, pool_scale=1)


def test_cli_trials_json() -> None:
    result = CliRunner().invoke(app, ["simulate", "trials", "--replicates", "15", "--json"])
    assert result.exit_code == 0, result.stdout
    doc = json.loads(result.stdout)
    assert doc["n"] == 41 and doc["replicates"] == 15
    assert {row["STATISTIC"] for row in doc["summary"]} == {"MEDIAN", "LOWER", "UPPER", "WIDTH"}

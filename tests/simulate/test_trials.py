from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eap.cli import app
from eap.errors import EapError
from eap.simulate.trials import draw_trials, plot_trials


def test_replicates_of_the_treatment_cohort_centre_on_the_published_median(tmp_path: Path) -> None:
    result = draw_trials(60, 41, seed=3, pool_scale=25)
    assert result.replicates.height == 60
    # A median not reached lies above every reached one.
    medians = result.replicates["MEDIAN"].fill_null(math.inf)
    # The pool is calibrated to MM-024 (median PFS 36.0 months in the treatment cohort).
    assert 30.0 <= medians.median() <= 40.0
    widths = result.replicates["WIDTH"].drop_nulls()
    assert (widths > 0).all()
    summary = result.summary()
    assert summary["STATISTIC"].to_list() == [
        "MEDIAN",
        "LOWER",
        "UPPER",
        "WIDTH",
        "REDUCED",
        "FUVISITS",
    ]
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
    assert {row["STATISTIC"] for row in doc["summary"]} >= {"MEDIAN", "LOWER", "UPPER", "WIDTH"}


def test_exact_pool_is_still_available() -> None:
    result = draw_trials(20, 41, seed=3, pool_scale=2, model="exact")
    assert result.replicates.height == 20


def test_what_if_another_protocol_changes_what_the_model_draws(tmp_path: Path) -> None:
    """Planning answers what-ifs through the protocol file: with survival follow-up
    every 2 months instead of 4 the same patients have about twice the visits."""
    from importlib import resources

    from eap.protocol import load_protocol

    text = resources.files("eap.protocol").joinpath("mm024.toml").read_text("utf-8")
    assert "interval_months = 4" in text
    every2 = tmp_path / "every2.toml"
    every2.write_text(text.replace("interval_months = 4", "interval_months = 2"), "utf-8")
    base = draw_trials(30, 41, seed=2, pool_scale=3)
    more_visits = draw_trials(30, 41, seed=2, pool_scale=3, protocol=load_protocol(every2))
    ratio = more_visits.replicates["FUVISITS"].mean() / base.replicates["FUVISITS"].mean()
    assert 1.6 < ratio < 2.4
    assert base.replicates["REDUCED"].mean() > 0

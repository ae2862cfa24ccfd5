"""Swimmer outputs: the response markers of the ARD against a small ADRS built here.

The expected markers come from the records below, read by hand (the first date of each
category, in days from TRTSDT counted from day 1) and by a plain-Python pass over the
same records that shares no code with eap.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from eap.ard import run_plan
from eap.datasets.model import Dataset
from eap.errors import PlanError
from eap.plans.plan import load_plan
from eap.report.figures import swimmer_figure
from tests.tiny_study import tiny_study

STUDY = tiny_study(arms=("A",))

PLAN = """
[[outputs]]
id = "SWM"
kind = "swimmer"
title = "Swimmer"
population = "all"
duration = { dataset = "ADEX", paramcd = "TRTDURM" }
ongoing = "EOTSTT == 'ONGOING'"
responses = { dataset = "ADRS", paramcd = "OVR", categories = ["PR", "VGPR", "CR"], \
labels = { PR = "First PR" } }
"""

MONTH = 365.25 / 12
D = dt.date
OVR = [
    # S1: SD, PR, PR again, VGPR, then CR: one marker each, at its first date.
    ("S1", "SD", D(2020, 1, 29)),
    ("S1", "PR", D(2020, 2, 26)),
    ("S1", "PR", D(2020, 3, 25)),
    ("S1", "VGPR", D(2020, 4, 22)),
    ("S1", "CR", D(2020, 6, 17)),
    # S2: straight to VGPR, back to PR later: VGPR then PR markers.
    ("S2", "VGPR", D(2020, 3, 1)),
    ("S2", "PR", D(2020, 5, 1)),
    # S3: never responds (SD, PD): no marker.
    ("S3", "SD", D(2020, 2, 1)),
    ("S3", "PD", D(2020, 3, 1)),
    # S4 is not treated (SAFFL N): none of its records are markers.
    ("S4", "CR", D(2020, 2, 1)),
]


def _adam() -> dict[str, Dataset]:
    adsl = pl.DataFrame(
        {
            "USUBJID": ["S1", "S2", "S3", "S4"],
            "TRT01A": ["A"] * 4,
            "SAFFL": ["Y", "Y", "Y", "N"],
            "TRTSDT": [D(2020, 1, 1), D(2020, 1, 15), D(2020, 1, 1), D(2020, 1, 1)],
            "EOTSTT": ["ONGOING", "DISCONTINUED", "DISCONTINUED", "ONGOING"],
        }
    )
    adex = pl.DataFrame(
        {
            "USUBJID": ["S1", "S2", "S3", "S4"],
            "PARAMCD": ["TRTDURM"] * 4,
            "AVAL": [8.0, 6.0, 3.0, 2.0],
        }
    )
    adrs = pl.DataFrame(
        {
            "USUBJID": [r[0] for r in OVR] + ["S1"],
            "PARAMCD": ["OVR"] * len(OVR) + ["BOR"],
            "AVALC": [r[1] for r in OVR] + ["CR"],
            "ADT": [r[2] for r in OVR] + [D(2020, 1, 2)],  # BOR: not a marker
        }
    )
    return {
        "ADSL": Dataset.from_frame("ADSL", adsl),
        "ADEX": Dataset.from_frame("ADEX", adex),
        "ADRS": Dataset.from_frame("ADRS", adrs),
    }


def _run(tmp_path: Path, plan: str = PLAN) -> tuple[pl.DataFrame, object]:
    (tmp_path / "study.toml").write_text(STUDY, encoding="utf-8")
    (tmp_path / "plan.toml").write_text(plan, encoding="utf-8")
    loaded = load_plan(tmp_path)
    return run_plan(loaded, _adam()).ard, loaded


def _markers(ard: pl.DataFrame) -> dict[tuple[str, str], float]:
    rows = ard.filter(
        (pl.col("variable") == "response")
        & (pl.col("stat_name") == "time")
        & pl.col("group1_level").is_null()  # the Total column
    )
    return {(u, c): t for u, c, t in rows.select("group2_level", "variable_level", "stat").rows()}


def test_response_markers_by_hand(tmp_path: Path) -> None:
    ard, _plan = _run(tmp_path)
    # Days from TRTSDT with TRTSDT as day 1, in months of 365.25 / 12 days.
    assert _markers(ard) == pytest.approx(
        {
            ("S1", "PR"): 57 / MONTH,  # 2020-02-26: 56 days after 2020-01-01, day 57
            ("S1", "VGPR"): 113 / MONTH,  # 2020-04-22
            ("S1", "CR"): 169 / MONTH,  # 2020-06-17
            ("S2", "VGPR"): 47 / MONTH,  # 2020-03-01 from 2020-01-15
            ("S2", "PR"): 108 / MONTH,  # 2020-05-01
        }
    )


def test_response_markers_equal_an_independent_pass(tmp_path: Path) -> None:
    ard, _plan = _run(tmp_path)
    start = {"S1": D(2020, 1, 1), "S2": D(2020, 1, 15), "S3": D(2020, 1, 1)}
    first: dict[tuple[str, str], dt.date] = {}
    for usubjid, category, date in OVR:
        if usubjid in start and category in ("PR", "VGPR", "CR"):
            key = (usubjid, category)
            first[key] = min(first.get(key, date), date)
    expected = {k: ((d - start[k[0]]).days + 1) / MONTH for k, d in first.items()}
    assert _markers(ard) == pytest.approx(expected)


def test_the_figure_names_each_subject_and_marks_each_response(tmp_path: Path) -> None:
    ard, plan = _run(tmp_path)
    output = plan.output("SWM")  # type: ignore[attr-defined]
    fig = swimmer_figure(output, ard.filter(pl.col("output") == "SWM"), plan.study)  # type: ignore[attr-defined]
    ax = fig.axes[0]  # type: ignore[attr-defined]
    # Longest course on top: S1 (8), S2 (6), S3 (3); the axis reads bottom up.
    assert [t.get_text() for t in ax.get_yticklabels()] == ["S3", "S2", "S1"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["First PR", "VGPR", "CR"]
    # One marker line per subject and category: S1 three, S2 two.
    marks = [line for line in ax.get_lines() if line.get_marker() in ("^", "s", "*")]
    assert len(marks) == 5


def test_an_origin_not_in_adsl_is_named(tmp_path: Path) -> None:
    plan = PLAN.replace('labels = { PR = "First PR" }', 'origin = "RANDDT"')
    with pytest.raises(PlanError, match="RANDDT is not in ADSL"):
        _run(tmp_path, plan)


def test_events_on_the_same_day_are_both_visible(tmp_path: Path) -> None:
    """A reduction on the day of the grade 3-4 AE that caused it: two kinds of event,
    each on its own line within S1's bar (row 2 from the bottom), 0.25 apart."""
    events = (
        "events = [\n"
        "    { name = 'reduction', label = 'Dose reduction', dataset = 'ADAE', "
        "where = \"ACTLEN == 'REDUCED'\", time = 'ONTRTM' },\n"
        "    { name = 'grade34', label = 'Grade 3-4', dataset = 'ADAE', "
        "where = \"TOXG34FL == 'Y'\", time = 'ONTRTM' },\n"
        "]\n"
    )
    plan = PLAN.replace("responses =", events + "responses =")
    (tmp_path / "study.toml").write_text(STUDY, encoding="utf-8")
    (tmp_path / "plan.toml").write_text(plan, encoding="utf-8")
    loaded = load_plan(tmp_path)
    adae = pl.DataFrame(
        {"USUBJID": ["S1"], "ACTLEN": ["REDUCED"], "TOXG34FL": ["Y"], "ONTRTM": [2.0]}
    )
    ard = run_plan(loaded, {**_adam(), "ADAE": Dataset.from_frame("ADAE", adae)}).ard
    output = loaded.output("SWM")  # type: ignore[attr-defined]
    fig = swimmer_figure(output, ard.filter(pl.col("output") == "SWM"), loaded.study)  # type: ignore[attr-defined]
    placed = sorted(
        (line.get_marker(), float(line.get_ydata()[0]))  # type: ignore[index]
        for line in fig.axes[0].get_lines()  # type: ignore[attr-defined]
        if list(line.get_xdata()) == [2.0]
    )
    assert placed == [("o", pytest.approx(2.125)), ("v", pytest.approx(1.875))]

"""Kaplan-Meier figures: one axis per study, counts under the ticks, medians, legend text."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from eap.ard import run_plan
from eap.datasets.model import Dataset
from eap.plans.plan import load_plan
from eap.report.figures import KmArm, km_figure, km_legend_label
from tests.tiny_study import tiny_study

STUDY = tiny_study("A tiny two-arm study", total=False)

PLAN = """
[[outputs]]
id = "KM1"
kind = "km_figure"
title = "P1"
population = "all"
group = "TRT01A"
paramcd = ["P1"]
time_unit = "months"
logrank = false

[[outputs]]
id = "KM2"
kind = "km_figure"
title = "P2"
population = "all"
group = "TRT01A"
paramcd = ["P2"]
logrank = false

[[outputs]]
id = "KM3"
kind = "km_figure"
title = "P3, its own axis"
population = "all"
group = "TRT01A"
paramcd = ["P3"]
risk_times = [0, 50, 100]
logrank = false
"""


def _adam(longest: float) -> dict[str, Dataset]:
    adsl = pl.DataFrame(
        {
            "USUBJID": ["S1", "S2", "S3", "S4", "S5", "S6"],
            "TRT01A": ["A", "A", "A", "B", "B", "B"],
            "SAFFL": ["Y"] * 6,
        }
    )
    # P1: arm A events at 1, 2, 3 (median 2); arm B event at 2, censored at 4, and the
    # study's longest time. P2 ends at 10; P3 (its own risk_times) at 100.
    adtte = pl.DataFrame(
        {
            "USUBJID": ["S1", "S2", "S3", "S4", "S5", "S6"] * 3,
            "PARAMCD": ["P1"] * 6 + ["P2"] * 6 + ["P3"] * 6,
            "AVAL": [
                *(1.0, 2.0, 3.0, 2.0, 4.0, longest),
                *(1.0, 2.0, 3.0, 4.0, 5.0, 10.0),
                *(10.0, 20.0, 30.0, 40.0, 50.0, 100.0),
            ],
            "CNSR": [0, 0, 0, 0, 1, 0] * 3,
        }
    )
    return {"ADSL": Dataset.from_frame("ADSL", adsl), "ADTTE": Dataset.from_frame("ADTTE", adtte)}


def _run(tmp_path: Path, longest: float) -> tuple[pl.DataFrame, object]:
    (tmp_path / "study.toml").write_text(STUDY, encoding="utf-8")
    (tmp_path / "plan.toml").write_text(PLAN, encoding="utf-8")
    plan = load_plan(tmp_path)
    return run_plan(plan, _adam(longest)).ard, plan


def _breaks(ard: pl.DataFrame, output: str) -> list[float]:
    levels = ard.filter((pl.col("output") == output) & (pl.col("stat_name") == "n.risk"))
    return sorted({float(v) for v in levels["variable_level"].to_list()})


@pytest.mark.parametrize(
    ("longest", "expected"),
    [
        # Up to 60: a break every 6, the axis ending at the next break at or above.
        (42.3, [0, 6, 12, 18, 24, 30, 36, 42, 48]),
        (60.0, [0, 6, 12, 18, 24, 30, 36, 42, 48, 54, 60]),
        # Beyond 60: every 12.
        (60.5, [0, 12, 24, 36, 48, 60, 72]),
    ],
)
def test_every_km_figure_of_a_study_shares_one_axis(
    tmp_path: Path, longest: float, expected: list[float]
) -> None:
    ard, _plan = _run(tmp_path, longest)
    assert _breaks(ard, "KM1") == expected
    # P2 ends at 10, yet has the same axis as P1; P3 keeps the plan's risk_times.
    assert _breaks(ard, "KM2") == expected
    assert _breaks(ard, "KM3") == [0, 50, 100]


def test_numbers_at_risk_at_the_breaks_by_hand(tmp_path: Path) -> None:
    ard, _plan = _run(tmp_path, 42.3)
    risk = ard.filter(
        (pl.col("output") == "KM1")
        & (pl.col("stat_name") == "n.risk")
        & (pl.col("group1_level") == "B")
    )
    at = {float(t): int(n) for t, n in risk.select("variable_level", "stat").iter_rows()}
    # Arm B: times 2, 4, 42.3: 3 at risk at 0; 1 (42.3) at 6 ... 42; none at 48.
    assert at[0] == 3 and at[6] == 1 and at[42] == 1 and at[48] == 0


def test_figure_counts_sit_under_the_ticks_and_medians_are_drawn(tmp_path: Path) -> None:
    ard, plan = _run(tmp_path, 42.3)
    output = plan.output("KM1")  # type: ignore[attr-defined]
    fig = km_figure(output, ard.filter(pl.col("output") == "KM1"), plan.study)  # type: ignore[attr-defined]
    ax, risk = fig.axes  # type: ignore[attr-defined]
    ticks = [float(t) for t in ax.get_xticks()]
    assert ticks == [0, 6, 12, 18, 24, 30, 36, 42, 48]
    assert [t.get_text() for t in ax.get_xticklabels()][:3] == ["0", "6", "12"]
    assert list(risk.get_xticks()) == []
    assert risk.get_xlim() == ax.get_xlim()
    # Every count is at a tick: 2 arms x 9 breaks.
    counts = [t for t in risk.texts]
    assert len(counts) == 18
    assert {float(t.get_position()[0]) for t in counts} == set(ticks)
    # Arm A's median is 2 (S(2) = 1/3 is the first value at or below 0.5): a dashed line
    # across at 0.5 from 0 to 2 and down from (2, 0.5) to (2, 0).
    dashed = [
        (list(line.get_xdata()), list(line.get_ydata()))
        for line in ax.get_lines()
        if line.get_linestyle() == "--"
    ]
    assert ([0, 2.0], [0.5, 0.5]) in dashed
    assert ([2.0, 2.0], [0, 0.5]) in dashed
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0].startswith("Arm A: n = 3, events = 3, median 2.0 (")
    assert legend[0].endswith(") months")
    assert legend[1].startswith("Arm B: n = 3, events = 2, median ")


def test_legend_label_reads_as_published() -> None:
    arm = KmArm(
        name="Rd",
        color="#000",
        steps=pl.DataFrame({"T": [0.0], "stat": [1.0]}),
        censored=[],
        at_risk={},
        n=80,
        events=45,
        median=(33.9, 24.1, None),
    )
    assert km_legend_label(arm, "months") == "Rd: n = 80, events = 45, median 33.9 (24.1–NE) months"
    assert km_legend_label(arm, "") == "Rd: n = 80, events = 45, median 33.9 (24.1–NE)"

from __future__ import annotations

import datetime as dt
from typing import Any

import narwhals as nw
import polars as pl

from eap.datasets.model import Dataset
from eap.derive import adex
from eap.derive.adex import derive_adex
from eap.derive.adsl import derive_adsl
from eap.engine.frames import collect, lazy
from eap.simulate import simulate

CUTOFF = dt.date(2014, 11, 5)
END = nw.col("DSSCAT") == "END OF TREATMENT"


def per_subject(ex: pl.DataFrame, ds: pl.DataFrame | None, *args: Any, **kw: Any) -> pl.DataFrame:
    """adex.per_subject of Polars frames, collected."""
    return collect(adex.per_subject(lazy(ex), lazy(ds) if ds is not None else None, *args, **kw))


def _ex(rows: list[tuple[str, float, str, str, str, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema=["USUBJID", "EXDOSE", "EXDOSFRQ", "EXSTDTC", "EXENDTC", "VISITNUM"],
        orient="row",
    ).with_columns(pl.lit("LENALIDOMIDE").alias("EXTRT"))


def test_hand_calculated_course() -> None:
    # Cycle 1: 25 mg days 1-21 (2014-01-01..21); cycle 2: 25 mg days 1-10, held 5 days,
    # then 20 mg days 16-21 (2014-01-29..02-07, 02-13..02-18); stopped 2014-02-18.
    ex = _ex(
        [
            ("S1", 25.0, "QD", "2014-01-01", "2014-01-21", 1),
            ("S1", 25.0, "QD", "2014-01-29", "2014-02-07", 2),
            ("S1", 20.0, "QD", "2014-02-13", "2014-02-18", 2),
        ]
    )
    ds = pl.DataFrame(
        {"USUBJID": ["S1"], "DSSCAT": ["END OF TREATMENT"], "DSSTDTC": ["2014-02-18"]}
    )
    row = per_subject(ex, ds, CUTOFF, "LENALIDOMIDE", end_of_treatment=END).row(0, named=True)
    assert row["CUMDOSE"] == 25 * 21 + 25 * 10 + 20 * 6  # 895 mg
    assert row["DOSEDAYS"] == 37
    assert row["DURD"] == 49  # 2014-01-01 .. 2014-02-18
    assert row["DOSEINT"] == 895 / 49
    assert row["ADDOSE"] == 895 / 37
    assert (row["CYCLES"], row["NINTERR"], row["NREDUC"]) == (2, 1, 1)
    assert "GT108WK" not in row  # only when the study sets long_treatment_weeks


def test_every_other_day_records_count_every_other_day() -> None:
    ex = _ex([("S2", 15.0, "QOD", "2014-01-01", "2014-01-21", 1)])
    row = per_subject(ex, None, dt.date(2014, 1, 21), "LENALIDOMIDE", end_of_treatment=END).row(
        0, named=True
    )
    assert row["DOSEDAYS"] == 11 and row["CUMDOSE"] == 165.0
    # Without an end-of-treatment record the subject is on treatment: duration runs to the cutoff.
    assert row["DURD"] == 21


def test_mm024_adex_reproduces_the_published_exposure() -> None:
    sdtm = simulate(2014)
    adsl = derive_adsl(sdtm, CUTOFF)
    adex: Dataset = derive_adex(sdtm, adsl, CUTOFF)
    wide = adex.frame.filter(pl.col("PARAMCD") != "GT108WK").pivot(
        on="PARAMCD", index="USUBJID", values="AVAL"
    )
    assert round(wide["TRTDURM"].median(), 1) == 16.5
    assert (round(wide["ADDOSE"].mean(), 1), round(wide["ADDOSE"].min(), 1)) == (21.7, 6.3)
    assert round(wide["DOSEINT"].median(), 1) == 18.0
    assert round(wide["RDI"].median(), 1) == 1.0
    flags = adex.frame.filter(pl.col("PARAMCD") == "GT108WK").join(
        adsl.frame.select("USUBJID", "TCFL"), on="USUBJID"
    )
    assert flags.filter((pl.col("TCFL") == "Y") & (pl.col("AVALC") == "Y")).height == 18


def _cycles(subject: str, starts: list[str]) -> list[tuple[str, float, str, str, str, float]]:
    """Full cycles of 25 mg on days 1-21, one record each, the nth starting on starts[n]."""
    rows = []
    for n, start in enumerate(starts, 1):
        first = dt.date.fromisoformat(start)
        last = first + dt.timedelta(days=20)
        rows.append((subject, 25.0, "QD", start, last.isoformat(), float(n)))
    return rows


def test_a_whole_skipped_cycle_is_one_interruption_on_the_28_day_calendar() -> None:
    # Cycle 1 starts 2014-01-01 (days 1-21 dosed, 22-28 the planned rest). On the
    # 28-day calendar re-anchored at each dosed cycle's first dose, the next cycle is due
    # 28 days later; a planned cycle passed without any dose when the next dosed cycle
    # starts 2 x 28 = 56 days or more after the previous one.
    ex = _ex(
        _cycles("ON_TIME", ["2014-01-01", "2014-01-29"])  # +28: the planned rest exactly
        + _cycles("DAY_LATE", ["2014-01-01", "2014-01-30"])  # +29: a delayed cycle
        + _cycles("DELAYED", ["2014-01-01", "2014-02-25"])  # +55: still cycle 2, late
        + _cycles("SKIP_1", ["2014-01-01", "2014-02-26"])  # +56: cycle 2 skipped
        + _cycles("SKIP_2", ["2014-01-01", "2014-03-26"])  # +84: cycles 2 and 3 skipped
        # Skipped, then on time, then skipped again: two interruptions.
        + _cycles("TWICE", ["2014-01-01", "2014-02-26", "2014-03-26", "2014-05-21"])
    )
    wide = per_subject(ex, None, CUTOFF, "LENALIDOMIDE", cycle_days=28)
    got = dict(wide.select("USUBJID", "NINTERR").iter_rows())
    assert got == {
        "ON_TIME": 0,
        "DAY_LATE": 0,
        "DELAYED": 0,
        "SKIP_1": 1,
        "SKIP_2": 1,  # two consecutive skipped cycles: one interruption
        "TWICE": 2,
    }
    # Without a cycle length (no protocol, no [adex] cycle_days) only gaps inside a
    # cycle count.
    plain = per_subject(ex, None, CUTOFF, "LENALIDOMIDE")
    assert set(plain["NINTERR"]) == {0}


def test_the_calendar_not_the_cycle_numbers_decides_and_gaps_inside_a_cycle_add_up() -> None:
    # Numbered 1 and 3 but started 28 days apart: no cycle was skipped on the calendar.
    renumbered = _ex(
        [
            ("S1", 25.0, "QD", "2014-01-01", "2014-01-21", 1),
            ("S1", 25.0, "QD", "2014-01-29", "2014-02-18", 3),
        ]
    )
    row = per_subject(renumbered, None, CUTOFF, "LENALIDOMIDE", cycle_days=28).row(0, named=True)
    assert row["NINTERR"] == 0
    # Cycle 1 held on days 11-15 (one gap inside the cycle), cycle 2 skipped: 2.
    both = _ex(
        [
            ("S2", 25.0, "QD", "2014-01-01", "2014-01-10", 1),
            ("S2", 25.0, "QD", "2014-01-16", "2014-01-21", 1),
            ("S2", 25.0, "QD", "2014-02-26", "2014-03-18", 3),
        ]
    )
    row = per_subject(both, None, CUTOFF, "LENALIDOMIDE", cycle_days=28).row(0, named=True)
    assert row["NINTERR"] == 2


def test_derive_adex_takes_the_cycle_length_from_the_study_or_its_protocol() -> None:
    import dataclasses

    from eap.plans import load_study
    from eap.plans.rules import AdexRules
    from eap.plans.study import Study, Treatments

    dm = pl.DataFrame({"STUDYID": ["X"], "USUBJID": ["S1"], "ARM": ["A"], "ACTARM": ["A"]})
    # Cycles starting 2014-01-01 and 2014-02-26: 56 days apart.
    ex = _ex(_cycles("S1", ["2014-01-01", "2014-02-26"])).with_columns(pl.lit("X").alias("STUDYID"))
    sdtm = {"DM": Dataset.from_frame("DM", dm), "EX": Dataset.from_frame("EX", ex)}
    drug = Treatments("LENALIDOMIDE", ("LENALIDOMIDE",))

    def ninterr(study: Study, **changes: object) -> float:
        study = dataclasses.replace(study, treatments=drug, **changes)  # type: ignore[arg-type]
        adsl = derive_adsl(sdtm, CUTOFF, study=study)
        adex = derive_adex(sdtm, adsl, CUTOFF, study=study)
        return float(adex.frame.filter(pl.col("PARAMCD") == "NINTERR")["AVAL"][0])

    mm024, pilot = load_study("mm024"), load_study("cdisc-pilot")
    assert mm024.adex.cycle_days is None  # MM-024's 28 days come from its protocol
    assert ninterr(mm024) == 1
    # The study's 60 days override the protocol's 28: 56 days apart is on time.
    assert ninterr(mm024, adex=dataclasses.replace(mm024.adex, cycle_days=60)) == 0
    # No protocol and no cycle length (the pilot): only gaps inside a cycle.
    assert ninterr(pilot) == 0
    assert ninterr(pilot, adex=AdexRules(cycle_days=28)) == 1


def test_mm024_interruptions_are_only_counted_where_an_ae_interrupted_lenalidomide() -> None:
    # The virtual cohort holds lenalidomide only for an AE (AEACN DRUG INTERRUPTED); some
    # holds span whole cycles, and the last cycle of a patient who stopped on a rest day
    # starts up to 7 days late (a delay, not an interruption). So every subject with
    # NINTERR > 0 has such an AE, and the holds spanning a whole cycle are counted.
    sdtm = simulate(2014)
    adsl = derive_adsl(sdtm, CUTOFF)
    adex = derive_adex(sdtm, adsl, CUTOFF).frame
    counted = set(adex.filter((pl.col("PARAMCD") == "NINTERR") & (pl.col("AVAL") > 0))["USUBJID"])
    ae = sdtm["AE"].frame
    interrupted = set(ae.filter(pl.col("AEACN") == "DRUG INTERRUPTED")["USUBJID"])
    assert counted <= interrupted
    # MM024-09-0001: cycle 16 dosed from 2013-01-23, no lenalidomide in cycles 17-21,
    # cycle 22 from 2013-07-30 (188 days later); an AE on 2013-01-28 interrupted it.
    row = adex.filter((pl.col("USUBJID") == "MM024-09-0001") & (pl.col("PARAMCD") == "NINTERR"))
    assert row["AVAL"].to_list() == [1.0]


def test_records_out_of_date_order_give_the_same_course() -> None:
    """EX rows need not arrive in date order: the hand-calculated course above, its rows
    given last-first, has the same reductions, interruptions and last dose."""
    rows = [
        ("S1", 20.0, "QD", "2014-02-13", "2014-02-18", 2),
        ("S1", 25.0, "QD", "2014-01-29", "2014-02-07", 2),
        ("S1", 25.0, "QD", "2014-01-01", "2014-01-21", 1),
    ]
    ds = pl.DataFrame(
        {"USUBJID": ["S1"], "DSSCAT": ["END OF TREATMENT"], "DSSTDTC": ["2014-02-18"]}
    )
    row = per_subject(_ex(rows), ds, CUTOFF, "LENALIDOMIDE", end_of_treatment=END).row(
        0, named=True
    )
    assert (row["CYCLES"], row["NINTERR"], row["NREDUC"]) == (2, 1, 1)
    assert (row["DURD"], row["DOSEDAYS"], row["LASTDOSE"]) == (49, 37, 20.0)

from __future__ import annotations

import datetime as dt

import polars as pl

from eap.datasets.model import Dataset
from eap.derive.adex import derive_adex, per_subject
from eap.derive.adsl import derive_adsl
from eap.simulate import simulate

CUTOFF = dt.date(2014, 11, 5)
END = pl.col("DSSCAT") == "END OF TREATMENT"


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

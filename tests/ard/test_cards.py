"""ARD rows under construction (eap.ard.cards.Rows): subjects given as Python lists or
as Polars Series end up in one list column, in row order, counted once each."""

from __future__ import annotations

import polars as pl

from eap.ard.cards import ARD_SCHEMA, Cell, Rows

CELL = Cell("T1", "safety")


def test_lists_and_series_of_subjects_keep_their_rows_order() -> None:
    rows = Rows()
    rows.add(CELL, "a", 1.0, subjects=["S2", "S1"])  # a list is kept as given
    rows.add(CELL, "b", 2.0)  # none
    rows.add(CELL, "c", 3.0, subjects=pl.Series(["S3", "S1"]))
    rows.add(CELL, "d", 4.0, subjects=["S4"])
    rows.add(CELL, "e", 5.0, subjects=pl.Series([], dtype=pl.String))
    frame = rows.frame()
    assert frame.schema == pl.Schema(ARD_SCHEMA)
    assert frame["stat_name"].to_list() == ["a", "b", "c", "d", "e"]
    assert frame["subjects"].to_list() == [["S2", "S1"], [], ["S3", "S1"], ["S4"], []]


def test_a_count_of_a_series_is_each_subject_once_in_usubjid_order() -> None:
    rows = Rows()
    rows.count(CELL, pl.Series(["S3", "S1", "S3", "S2"]), denominator=10)
    rows.count(CELL.at(variable="X"), ["S3", "S1", "S3", "S2"], denominator=0)
    frame = rows.frame()
    n = frame.filter(pl.col("stat_name") == "n")
    assert n["stat"].to_list() == [3.0, 3.0]
    assert n["subjects"].to_list() == [["S1", "S2", "S3"]] * 2
    p = frame.filter(pl.col("stat_name") == "p")
    assert p["stat"].to_list() == [0.3, None]  # 3 of 10; N = 0 is not estimable
    assert p["warning"].to_list() == [None, "N is 0: no subjects in the column"]


def test_a_block_gives_the_rows_add_gives_one_at_a_time() -> None:
    from eap.ard.cards import block

    data = pl.DataFrame({"USUBJID": ["S1", "S2", "S3"], "T": [1.5, None, float("nan")]})
    one_by_one = Rows()
    for usubjid, t in data.iter_rows():
        cell = CELL.at(group2="USUBJID", group2_level=usubjid, variable="event")
        one_by_one.add(cell, "time", t, subjects=[usubjid])
    cell = CELL.at(group2="USUBJID", variable="event")
    made = block(
        cell,
        data,
        "time",
        pl.col("T"),
        subjects=pl.concat_list("USUBJID"),
        group2_level=pl.col("USUBJID"),
    )
    assert made.equals(one_by_one.frame())
    # Null and NaN are not estimable, as add says.
    assert made["warning"].to_list() == [None, "not estimable", "not estimable"]
    together = Rows()
    together.add(CELL, "n", 3, fmt="xx")
    together.add_block(made)
    together.add(CELL, "N", 9, fmt="xx")
    assert together.frame()["stat_name"].to_list() == ["n", "time", "time", "time", "N"]

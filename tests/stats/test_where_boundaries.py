"""The filter language of the study files and ``eap km --where`` at each operator's
boundary (the study rules' thresholds are written in it: ``AGE <= 65``), and every
error with its exact message."""

from __future__ import annotations

import polars as pl
import pytest

from eap.errors import StatsInputError
from eap.stats.frame import filter_variables, parse_times, parse_where

AGES = pl.DataFrame(
    {
        "ID": [1, 2, 3, 4, 5],
        "AGE": [64, 65, 66, None, 65],
        "GRP": ["a", "b", "it's", None, "B"],
        "W": [64.5, 65.0, 65.5, None, 1e2],
    }
)


def _ids(text: str) -> list[int]:
    return AGES.filter(parse_where(text, AGES.columns))["ID"].to_list()


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        # Each comparison at 65 (a missing AGE never matches, as in SQL and SAS WHERE).
        ("AGE == 65", [2, 5]),
        ("AGE != 65", [1, 3]),
        ("AGE < 65", [1]),
        ("AGE <= 65", [1, 2, 5]),
        ("AGE > 65", [3]),
        ("AGE >= 65", [2, 3, 5]),
        # Numbers: integers, decimals, exponents, negatives.
        ("W <= 65.0", [1, 2]),
        ("W > 65.", [3, 5]),
        ("W >= 1e2", [5]),
        ("W > -1", [1, 2, 3, 5]),
        ("W < 6.55E1", [1, 2]),
        # Strings in either quote, with an escaped quote; case matters.
        ("GRP == 'b'", [2]),
        ('GRP == "B"', [5]),
        ("GRP == 'it\\'s'", [3]),
        # in / not in lists, is null / is not null, not.
        ("AGE in (64, 66)", [1, 3]),
        ("AGE not in (64, 66)", [2, 5]),
        ("GRP in ('a')", [1]),
        ("GRP NOT IN ('a', 'b')", [3, 5]),
        ("AGE is null", [4]),
        ("AGE IS NOT NULL", [1, 2, 3, 5]),
        ("not AGE == 65", [1, 3]),
        ("not (AGE == 65 or AGE == 64)", [3]),
        # and binds tighter than or; parentheses change it; the symbol forms.
        ("AGE == 64 or AGE == 65 and GRP == 'B'", [1, 5]),
        ("(AGE == 64 or AGE == 65) and GRP == 'B'", [5]),
        ("AGE == 64 || AGE == 66", [1, 3]),
        ("AGE >= 65 && GRP == 'b'", [2]),
        ("AGE >= 65 & GRP != 'b' | ID == 1", [1, 3, 5]),
        ("  AGE == 64   ", [1]),
    ],
)
def test_where_at_each_operators_boundary(text: str, ids: list[int]) -> None:
    assert _ids(text) == ids


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "AGE = 65",
            "where: cannot read the filter at character 4; expected VAR == 'value', !=, <, "
            "<=, >, >=, in (...), is [not] null, and, or, not, parentheses, found ' = 65'",
        ),
        ("AGE ==", "where: the filter ends too early; found 'AGE =='"),
        ("AGE == 65 AGE", "where: unexpected text in the filter; found 'AGE'"),
        ("AGE == ID", "where: expected a quoted string or a number; found 'ID'"),
        ("AGE in 64", "where: expected '(' after in"),
        ("AGE in (64, 65", "where: the filter ends too early; found 'AGE in (64, 65'"),
        ("AGE in (64 65)", "where: missing ')' after the in list"),
        ("(AGE == 64", "where: missing ')' in the filter"),
        ("(AGE == 64 ID", "where: missing ')' in the filter"),
        ("65 == AGE", "where: a comparison must start with a variable name; found '65'"),
        ("AGE is 65", "where: expected null after is"),
        ("AGE not 65", "where: expected in after not"),
        ("AGE and 65", "where: expected a comparison operator; found 'and'"),
        ("AGE ID", "where: expected a comparison operator; found 'ID'"),
        (
            "SEX == 'F'",
            "SEX: the filter names an unknown variable SEX; expected one of ID, AGE, GRP, W",
        ),
    ],
)
def test_where_errors(text: str, message: str) -> None:
    with pytest.raises(StatsInputError) as info:
        parse_where(text, AGES.columns)
    assert str(info.value) == message


def test_filter_variables_names_the_variables_in_order() -> None:
    text = "AGE >= 65 and not (GRP in ('x', 'AGE') or W is null) and ID != 1e3"
    assert filter_variables(text) == ["AGE", "GRP", "W", "ID"]


def test_landmark_times() -> None:
    assert parse_times("0, 20.5,40") == (0.0, 20.5, 40.0)
    assert parse_times("") == parse_times(None) == ()
    with pytest.raises(StatsInputError) as info:
        parse_times("0,x")
    assert str(info.value) == (
        "at: landmark times must be numbers separated by commas; expected e.g. 0,20,40, found '0,x'"
    )
    for bad in ("-1", "inf"):
        with pytest.raises(StatsInputError) as info:
            parse_times(f"0,{bad}")
        assert str(info.value) == f"at: landmark times must be >= 0; found {bad}"

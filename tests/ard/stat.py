"""One statistic of an ARD, for tests: the row must exist exactly once."""

from __future__ import annotations

import polars as pl


def one_stat(
    ard: pl.DataFrame, output: str, arm: str | None, variable: str, stat: str, **more: str
) -> float | None:
    """The ``stat`` of ``variable`` in ``output`` for an arm (None: the Total column);
    ``more`` narrows by other columns (``variable_level``, ``group2_level``)."""
    f = ard.filter(
        (pl.col("output") == output)
        & (pl.col("group1_level").is_null() if arm is None else pl.col("group1_level") == arm)
        & (pl.col("variable") == variable)
        & (pl.col("stat_name") == stat)
    )
    for column, value in more.items():
        f = f.filter(pl.col(column) == value)
    assert f.height == 1, (output, arm, variable, stat, more, f.height)
    value = f["stat"][0]
    return None if value is None else float(value)

"""Input checks shared by every statistic: one pass per check, messages that count rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from eap.errors import StatsInputError
from eap.formatting import plural as plural  # re-exported: the statistics modules import it here

_SHOW_ROWS = 10


def _first_rows(mask: npt.NDArray[np.bool_]) -> list[int]:
    return [int(i) for i in np.flatnonzero(mask)[:_SHOW_ROWS]]


def as_1d(values: Any, name: str) -> npt.NDArray[Any]:
    """A one-dimensional NumPy view of ``values`` (no copy when it already is one)."""
    arr = np.asarray(values)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise StatsInputError(
            f"{name} must be one-dimensional", variable=name, found=f"{arr.ndim} dimensions"
        )
    return arr


def check_same_length(**arrays: npt.NDArray[Any] | None) -> int:
    """The common length of the given arrays; a StatsInputError names the ones that differ."""
    lengths = {k: len(v) for k, v in arrays.items() if v is not None}
    distinct = set(lengths.values())
    if len(distinct) > 1:
        text = ", ".join(f"{k} has {plural(n)}" for k, n in lengths.items())
        raise StatsInputError(
            f"arrays of different lengths: {text}",
            expected="one value per row in every array",
            found=text,
        )
    return distinct.pop() if distinct else 0


def check_times(time: npt.NDArray[Any], name: str = "time") -> npt.NDArray[Any]:
    """Times must be numeric, not missing and not negative. Returns the array unchanged."""
    if time.dtype == np.bool_ or not np.issubdtype(time.dtype, np.number):
        raise StatsInputError(
            f"{name} must be numeric", variable=name, expected="numbers", found=str(time.dtype)
        )
    if np.issubdtype(time.dtype, np.floating):
        bad = np.isnan(time)
        n_bad = int(np.count_nonzero(bad))
        if n_bad:
            raise StatsInputError(
                f"{plural(n_bad)} with a missing (NaN) {name}",
                variable=name,
                rows=_first_rows(bad),
                expected="a time for every row",
                found=f"{n_bad} missing",
            )
        inf = np.isinf(time)
        n_inf = int(np.count_nonzero(inf))
        if n_inf:
            raise StatsInputError(
                f"{plural(n_inf)} with an infinite {name}",
                variable=name,
                rows=_first_rows(inf),
                expected="finite times",
                found=f"{n_inf} infinite",
            )
    if time.size and time.min() < 0:
        neg = time < 0
        n_neg = int(np.count_nonzero(neg))
        raise StatsInputError(
            f"{plural(n_neg)} with a negative {name}",
            variable=name,
            rows=_first_rows(neg),
            expected="times >= 0",
            found=f"{n_neg} negative",
        )
    return time


def check_binary(values: npt.NDArray[Any], name: str) -> npt.NDArray[Any]:
    """Codes must be 0 or 1 (booleans are accepted). Returns the array unchanged."""
    if values.dtype == np.bool_:
        return values
    if not np.issubdtype(values.dtype, np.number):
        raise StatsInputError(
            f"{name} codes must be 0 or 1",
            variable=name,
            expected="0 or 1",
            found=str(values.dtype),
        )
    if values.size == 0:
        return values
    # Two reductions are far cheaper than building a mask, and settle the usual case.
    if np.issubdtype(values.dtype, np.integer) and values.min() >= 0 and values.max() <= 1:
        return values
    bad = (values != 0) & (values != 1)
    n_bad = int(np.count_nonzero(bad))
    if n_bad:
        found = np.unique(values[bad])[:5]
        raise StatsInputError(
            f"{plural(n_bad)} with a {name} code outside {{0, 1}}",
            variable=name,
            rows=_first_rows(bad),
            expected="0 or 1",
            found=", ".join(str(v) for v in found.tolist()),
        )
    return values


def check_conf_level(conf_level: float) -> float:
    if not 0.0 < float(conf_level) < 1.0:
        raise StatsInputError(
            "confidence level must lie strictly between 0 and 1",
            variable="conf_level",
            expected="e.g. 0.95",
            found=str(conf_level),
        )
    return float(conf_level)

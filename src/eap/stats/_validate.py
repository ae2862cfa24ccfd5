"""Input checks shared by every statistic: one pass per check, messages that count rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import polars as pl

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


# --------------------------------------------------------------------------- categoricals


def category_codes(values: Any, name: str) -> tuple[npt.NDArray[Any], list[Any]] | None:
    """The codes a categorical already holds and the label of each code; None otherwise.

    A pandas Categorical (or a Series of category dtype), a Polars Categorical or Enum
    Series: its integer codes are used as they are, with no pass over the labels. The
    label list is indexed by code and may hold categories no row uses (they give no
    stratum, as a label absent from string data gives none). A missing value (pandas
    code -1, a Polars null) is an error naming the rows, as a missing string is.
    """
    codes: npt.NDArray[Any]
    labels: list[Any]
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        values = values.array
    if isinstance(values, pd.Categorical):
        codes = np.asarray(values.codes)
        labels = list(values.categories.tolist())
        missing = codes.size > 0 and int(codes.min()) < 0
    elif isinstance(values, pl.Series) and isinstance(values.dtype, pl.Categorical | pl.Enum):
        missing = values.null_count() > 0
        dtype = values.dtype
        # An Enum lists its categories; a Categorical's live in its Categories mapping,
        # ordered by physical code, as the codes index them.
        cats = dtype.categories if isinstance(dtype, pl.Enum) else dtype.categories.to_series()
        labels = cats.to_list()
        codes = values.to_physical().to_numpy() if not missing else np.zeros(0, np.int8)
    else:
        return None
    if missing:
        rows = (
            np.flatnonzero(np.asarray(values.codes) < 0)
            if isinstance(values, pd.Categorical)
            else values.is_null().arg_true().to_numpy()
        )
        raise StatsInputError(
            f"{plural(rows.size)} with a missing {name} value",
            variable=name,
            rows=[int(i) for i in rows[:_SHOW_ROWS]],
            expected=f"a {name} label for every row",
            found=f"{rows.size} missing",
        )
    return codes, labels


def used_categories(codes: npt.NDArray[Any], n_labels: int) -> npt.NDArray[np.bool_]:
    """Which codes occur, counted in cache-sized chunks (no temporary of the input's size)."""
    used = np.zeros(n_labels, dtype=np.int64)
    step = 1 << 16
    for a in range(0, codes.size, step):
        used += np.bincount(codes[a : a + step], minlength=n_labels)
    return used > 0


def label_order(labels: list[Any], keep: npt.NDArray[np.bool_] | None = None) -> list[int]:
    """Codes in the sorted order of their labels (the order string data would give)."""
    codes = range(len(labels)) if keep is None else np.flatnonzero(keep).tolist()
    return sorted(codes, key=lambda k: labels[k])


def compact_codes(
    codes: npt.NDArray[Any], labels: list[Any]
) -> tuple[npt.NDArray[np.intp], list[Any]]:
    """Codes 0..L-1 over the labels rows use, in sorted label order: what factorizing the
    same data as strings gives, so every statistic sees the same thing either way."""
    order = label_order(labels, used_categories(codes, len(labels)))
    lut = np.full(len(labels), -1, dtype=np.intp)
    lut[order] = np.arange(len(order))
    return lut[codes], [labels[k] for k in order]

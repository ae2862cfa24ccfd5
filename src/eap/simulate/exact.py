"""Exact-by-construction helpers: published counts and medians hold for every seed.

A random draw of 80 patients would hit Table 1's counts only by luck. Instead
each category gets exactly its published count (times the scale), and only the
assignment of categories to patients is random. Medians are pinned the same
way: the values around the middle rank are placed, the rest fall either side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from eap.errors import EapError


def exact_labels(
    counts: Mapping[Any, int], scale: int, rng: np.random.Generator
) -> npt.NDArray[Any]:
    """Labels repeated ``count * scale`` times, in random order.

    >>> sorted(exact_labels({"M": 2, "F": 1}, 2, np.random.default_rng(0)).tolist())
    ['F', 'F', 'M', 'M', 'M', 'M']
    """
    labels = [k for k, n in counts.items() for _ in range(n * scale)]
    out = np.empty(len(labels), dtype=object)
    out[:] = labels
    return rng.permutation(out)


def values_with_median(
    n: int,
    *,
    low: float,
    high: float,
    median: float,
    rng: np.random.Generator,
    below: tuple[float, float] | None = None,
    above: tuple[float, float] | None = None,
    integer: bool = False,
) -> npt.NDArray[np.float64]:
    """``n`` values with exactly the given minimum, maximum and median.

    The middle one (odd ``n``) or two (even ``n``) values equal ``median``; half
    the rest are drawn below it (within ``below``, default [low, median]) and
    half above (within ``above``, default [median, high]); one value is ``low``
    and one is ``high``. Returned in random order.
    """
    if n < 3:
        raise EapError("need at least 3 values to fix a minimum, maximum and median")
    middle = 1 if n % 2 else 2
    side = (n - middle) // 2
    lo_range = below or (low, median)
    hi_range = above or (median, high)
    lows = rng.uniform(*lo_range, side - 1)
    highs = rng.uniform(*hi_range, side - 1)
    if integer:
        lows = np.clip(np.floor(lows), low, median - 1)
        highs = np.clip(np.ceil(highs), median + 1, high)
    values = np.concatenate([[low], lows, [median] * middle, highs, [high]])
    return rng.permutation(values.astype(np.float64))


def pin_median(
    base: npt.NDArray[np.int64],
    slack: npt.NDArray[np.int64],
    target: int,
    rng: np.random.Generator,
    prefer_below: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.int64]:
    """Integer shifts 0 <= s <= slack such that the median of base + s is exactly ``target``.

    The median is ``target`` exactly when at most half the values (rounding
    down, the middle one or two excluded) lie below it and at most half above.
    Values that can reach ``target`` fill the lower half first (those marked in
    ``prefer_below`` before the others), then the upper half; the rest are set
    to ``target``. Every shift is drawn uniformly within what its side allows, so
    values keep their spread. Raises EapError when no such shifts exist.

    >>> shifts = pin_median(np.array([1, 5, 9]), np.array([3, 3, 3]), 6, np.random.default_rng(0))
    >>> int(np.median(np.array([1, 5, 9]) + shifts))
    6
    """
    n = len(base)
    middle = 1 if n % 2 else 2
    half = (n - middle) // 2
    below = base + slack < target
    above = base > target
    if below.sum() > half or above.sum() > half:
        raise EapError(
            "cannot place the median",
            expected=f"at most {half} values on each side of {target}",
            found=f"{int(below.sum())} forced below, {int(above.sum())} forced above",
        )
    flexible = np.flatnonzero(~below & ~above)
    rng.shuffle(flexible)
    low = flexible[base[flexible] < target]
    if prefer_below is not None:
        low = low[np.argsort(~prefer_below[low], kind="stable")]
    stay = low[: half - int(below.sum())]
    rest = np.setdiff1d(flexible, stay)
    rise = rest[base[rest] + slack[rest] > target][: half - int(above.sum())]
    pinned = np.setdiff1d(rest, rise)
    shift = (rng.random(n) * (slack + 1)).astype(np.int64)  # forced sides: anything
    room = np.minimum(slack[stay], target - 1 - base[stay])
    shift[stay] = (rng.random(len(stay)) * (room + 1)).astype(np.int64)
    floor = target + 1 - base[rise]
    shift[rise] = floor + (rng.random(len(rise)) * (slack[rise] - floor + 1)).astype(np.int64)
    shift[pinned] = target - base[pinned]
    return shift


def spread(
    values: Sequence[float], scale: int, jitter: float, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """Each value repeated ``scale`` times with uniform jitter of +/- ``jitter``."""
    arr = np.repeat(np.asarray(values, dtype=np.float64), scale)
    return arr + rng.uniform(-jitter, jitter, arr.size)

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

    The middle rank(s) are moved onto ``target``; of the other values, enough
    stay below it to fill the lower half and the rest go above it. Every shift
    is drawn uniformly within what its side allows, so values keep their spread.
    Values marked in ``prefer_below`` are the first kept below the target.
    Raises EapError when the slack does not allow it.
    """
    n = len(base)
    middle = 1 if n % 2 else 2
    half = (n - middle) // 2
    below = base + slack < target
    above = base > target
    flexible = np.flatnonzero(~below & ~above)
    rng.shuffle(flexible)
    if below.sum() > half or above.sum() > half or len(flexible) < middle:
        raise EapError(
            "cannot place the median",
            expected=f"at most {half} values on each side of {target}",
            found=f"{int(below.sum())} forced below, {int(above.sum())} forced above",
        )
    shift = (rng.random(n) * (slack + 1)).astype(np.int64)  # forced sides: anything
    pinned, rest = flexible[:middle], flexible[middle:]
    shift[pinned] = target - base[pinned]
    need_below = half - int(below.sum())
    # Values that cannot rise above the target must stay below it: take them first.
    stuck = rest[base[rest] + slack[rest] <= target]
    free = rest[base[rest] + slack[rest] > target]
    free_low = free[base[free] < target]
    if prefer_below is not None:
        free_low = free_low[np.argsort(~prefer_below[free_low], kind="stable")]
    stay = np.concatenate([stuck, free_low[: max(0, need_below - len(stuck))]])
    if len(stay) != need_below or np.any(base[stay] >= target):
        raise EapError("cannot place the median: not enough room on both sides of the target")
    move = np.setdiff1d(rest, stay)
    room_below = np.minimum(slack[stay], target - 1 - base[stay])
    shift[stay] = (rng.random(len(stay)) * (room_below + 1)).astype(np.int64)
    low = target + 1 - base[move]
    shift[move] = low + (rng.random(len(move)) * (slack[move] - low + 1)).astype(np.int64)
    return shift


def spread(
    values: Sequence[float], scale: int, jitter: float, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """Each value repeated ``scale`` times with uniform jitter of +/- ``jitter``."""
    arr = np.repeat(np.asarray(values, dtype=np.float64), scale)
    return arr + rng.uniform(-jitter, jitter, arr.size)

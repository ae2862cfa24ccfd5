"""Confidence intervals for a proportion (response rate, disease control rate).

* Clopper-Pearson (exact): [B^-1(a/2; x, n-x+1), B^-1(1-a/2; x+1, n-x)] with
  lower 0 when x = 0 and upper 1 when x = n. SAS ``PROC FREQ ... BINOMIAL(EXACT)``,
  R ``binom.test``.
* Wilson (score): (p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n).
  SAS ``BINOMIAL(WILSON)``, R ``prop.test(x, n, correct = FALSE)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from scipy.stats import beta

from eap.errors import StatsInputError
from eap.stats._validate import check_conf_level
from eap.stats.km import z_value

ProportionMethod = Literal["clopper-pearson", "wilson"]


@dataclass(frozen=True)
class ProportionCI:
    """x of n with the estimate x/n and its confidence limits, named by method."""

    x: int
    n: int
    estimate: float
    lower: float
    upper: float
    method: ProportionMethod
    conf_level: float

    @property
    def percent(self) -> float:
        return 100.0 * self.estimate


def _check(x: int, n: int) -> tuple[int, int]:
    if int(n) != n or int(x) != x:
        raise StatsInputError("counts must be whole numbers", found=f"x={x}, n={n}")
    xi, ni = int(x), int(n)
    if ni <= 0:
        raise StatsInputError(
            "a proportion needs a denominator of at least 1", variable="n", found=str(n)
        )
    if not 0 <= xi <= ni:
        raise StatsInputError(
            "the count must lie between 0 and the denominator",
            variable="x",
            expected=f"0 <= x <= {ni}",
            found=str(x),
        )
    return xi, ni


def clopper_pearson(x: int, n: int, *, conf_level: float = 0.95) -> ProportionCI:
    """Exact (Clopper-Pearson) interval.

    >>> r = clopper_pearson(0, 10)
    >>> round(r.upper, 4)  # 1 - 0.025 ** (1 / 10)
    0.3085
    """
    xi, ni = _check(x, n)
    cl = check_conf_level(conf_level)
    a = 1.0 - cl
    lower = 0.0 if xi == 0 else float(beta.ppf(a / 2, xi, ni - xi + 1))
    upper = 1.0 if xi == ni else float(beta.ppf(1 - a / 2, xi + 1, ni - xi))
    return ProportionCI(xi, ni, xi / ni, lower, upper, "clopper-pearson", cl)


def wilson(x: int, n: int, *, conf_level: float = 0.95) -> ProportionCI:
    """Wilson score interval without continuity correction."""
    xi, ni = _check(x, n)
    cl = check_conf_level(conf_level)
    z = z_value(cl)
    p = xi / ni
    denom = 1.0 + z * z / ni
    centre = (p + z * z / (2 * ni)) / denom
    half = z * math.sqrt(p * (1 - p) / ni + z * z / (4 * ni * ni)) / denom
    # The limits are exactly 0 at x = 0 and 1 at x = n; rounding would miss by an ulp.
    lower = 0.0 if xi == 0 else max(0.0, centre - half)
    upper = 1.0 if xi == ni else min(1.0, centre + half)
    return ProportionCI(xi, ni, p, lower, upper, "wilson", cl)

"""Number formatting as clinical reports print it.

Python's ``f"{x:.1f}"`` rounds the binary value half to even (11.25 -> "11.2");
SAS's ROUND and regulatory tables round half up (11.25 -> "11.3"). Every
percentage eap prints goes through :func:`percent`.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def round_half_up(value: float, digits: int = 1) -> Decimal:
    """``value`` rounded half away from zero at ``digits`` decimals, from its shortest repr.

    >>> str(round_half_up(11.25))
    '11.3'
    """
    return Decimal(repr(value)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)


def percent(n: int, total: int, digits: int = 1) -> str:
    """n as a percentage of total, half up: percent(9, 80) == '11.3'."""
    if total <= 0:
        return "NE"
    exact = Decimal(n) * 100 / Decimal(total)
    return str(exact.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))

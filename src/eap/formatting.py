"""Number formatting as clinical reports print it.

Python's ``f"{x:.1f}"`` rounds the binary value half to even (11.25 -> "11.2");
SAS's ROUND and regulatory tables round half up (11.25 -> "11.3"). Every
percentage eap prints goes through :func:`percent`; estimates printed with their
confidence interval go through :func:`significant`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Context, Decimal


def round_half_up(value: float, digits: int = 1) -> Decimal:
    """``value`` rounded half away from zero at ``digits`` decimals, from its shortest repr.

    >>> str(round_half_up(11.25))
    '11.3'
    """
    exact = Decimal(repr(value))
    # The result has as many digits as the integer part plus ``digits``: the default
    # context's 28 would refuse 1e28 at one decimal (InvalidOperation).
    context = Context(prec=max(28, exact.adjusted() + digits + 2))
    return exact.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP, context=context)


def percent(n: int, total: int, digits: int = 1) -> str:
    """n as a percentage of total, half up: percent(9, 80) == '11.3'."""
    if total <= 0:
        return "NE"
    exact = Decimal(n) * 100 / Decimal(total)
    return str(exact.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def significant(values: Sequence[float | None], digits: int = 3) -> list[str]:
    """Numbers printed together (an estimate and its CI) with ``digits`` significant digits.

    Each value needs the decimals that show it to ``digits`` significant digits
    (trailing zeros dropped; digits before the point are never rounded away),
    and the values share the largest of these, as R's ``format(x, digits = 3)``
    does: 0.26, 0.05 and 0.9 print as 0.26, 0.05, 0.90. Rounding is half up.
    None (not estimable) prints as NE.

    >>> significant([0.26, 0.05, 0.9])
    ['0.26', '0.05', '0.90']
    >>> significant([13.71, 11.12, None]), significant([70.0, 28.0, 110.0])
    (['13.7', '11.1', 'NE'], ['70', '28', '110'])
    """
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    places = max((_places(v, digits) for v in finite), default=0)
    out: list[str] = []
    for v in values:
        if v is None:
            out.append("NE")
        elif not math.isfinite(v):
            out.append(str(v))
        else:
            out.append(format(round_half_up(float(v), places), "f"))
    return out


def _places(x: float, digits: int) -> int:
    """Decimals that show ``x`` to ``digits`` significant digits, trailing zeros dropped."""
    if x == 0:
        return 0
    exponent = Decimal(repr(x)).adjusted()
    rounded = round_half_up(x, max(0, digits - 1 - exponent)).normalize()
    return max(0, -int(rounded.as_tuple().exponent))


def plural(n: int, word: str = "row") -> str:
    """``1 row``, ``2 rows``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"

"""Kaplan-Meier estimation that matches R ``survival::survfit`` and SAS PROC LIFETEST.

The work is split in two, so that patient-level rows never have to move:

1. :func:`aggregate` reduces (stratum, time, event) rows to counts per distinct
   time: number of events and number censored. Integer times (days) are counted
   with ``np.bincount`` (no sort); other times are sorted once per stratum.
   A database or Polars ``group_by`` can produce the same aggregate.
2. :func:`kaplan_meier_from_counts` finishes over the distinct times: survival,
   Greenwood standard error, pointwise confidence limits, quantiles with
   Brookmeyer-Crowley confidence limits.

:func:`kaplan_meier` does both.

Conventions (see docs/statistics.md for formulas and examples):

* ``conf_type`` accepts R's names ("log-log", "log", "plain", "logit", "arcsin")
  and SAS's (LOGLOG, LOG, LINEAR, LOGIT, ASINSQRT), case-insensitive. The
  default is "log-log" (SAS's default; R's default is "log").
* ``convention`` selects the quantile and landmark rules: "R" follows
  ``quantile.survfit`` and ``summary.survfit(extend=TRUE)``; "SAS" follows
  LIFETEST. They differ when the curve sits exactly on 1-p up to the last
  observation (R: midpoint with the last time; SAS: NE) and for a landmark past
  the last observation (R: last value carried forward; SAS: NE).
* A value that cannot be estimated is ``None`` with a reason, never inf or NaN.
  Inside the step-table arrays a limit that does not exist (at S = 0) is NaN;
  every scalar accessor turns it into ``None``.
"""

from __future__ import annotations

import bisect
import math
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.stats import norm

from eap.errors import StatsInputError
from eap.stats._validate import (
    as_1d,
    category_codes,
    check_binary,
    check_conf_level,
    check_same_length,
    check_times,
    compact_codes,
    label_order,
    plural,
)

ConfType = Literal["log-log", "log", "plain", "logit", "arcsin"]
Convention = Literal["R", "SAS"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.signedinteger[Any]]

#: R survival's tolerance for "S equals 1-p exactly" (sqrt(.Machine$double.eps)).
TOLERANCE = math.sqrt(np.finfo(float).eps)

_CONF_TYPES: dict[str, ConfType] = {
    "log-log": "log-log",
    "loglog": "log-log",
    "log": "log",
    "plain": "plain",
    "linear": "plain",
    "logit": "logit",
    "arcsin": "arcsin",
    "asinsqrt": "arcsin",
}

_QUARTILES = (0.25, 0.5, 0.75)
_QUANTILE_NAMES = {0.25: "first quartile", 0.5: "median", 0.75: "third quartile"}


def normalize_conf_type(name: str) -> ConfType:
    """Map an R or SAS name of a confidence-interval transform to eap's (R's) name.

    >>> normalize_conf_type("LOGLOG"), normalize_conf_type("linear"), normalize_conf_type("log")
    ('log-log', 'plain', 'log')
    """
    key = str(name).strip().lower().replace("_", "-")
    if key in _CONF_TYPES:
        return _CONF_TYPES[key]
    raise StatsInputError(
        "unknown confidence interval type (conf_type)",
        variable="conf_type",
        expected="log-log, log, plain, logit or arcsin (R) / LOGLOG, LOG, LINEAR, LOGIT, "
        "ASINSQRT (SAS)",
        found=repr(name),
    )


def normalize_convention(name: str) -> Convention:
    key = str(name).strip().upper()
    if key == "R":
        return "R"
    if key == "SAS":
        return "SAS"
    raise StatsInputError(
        "unknown convention", variable="convention", expected="R or SAS", found=repr(name)
    )


def z_value(conf_level: float) -> float:
    """Two-sided standard normal quantile for ``conf_level`` (1.959964 for 0.95)."""
    return float(norm.ppf(1.0 - (1.0 - conf_level) / 2.0))


def _nan_to_none(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


# --------------------------------------------------------------------------- aggregate


@dataclass(frozen=True, eq=False)
class StratumCounts:
    """Counts per distinct time for one stratum, times ascending and unique."""

    label: Any
    time: FloatArray
    n_event: IntArray
    n_censor: IntArray
    #: True when every time holds exactly one subject (continuous times, no ties).
    unit: bool = False


def _stratum_codes(
    strata: npt.NDArray[Any] | None, levels: Sequence[Any] | None
) -> tuple[npt.NDArray[Any] | None, list[Any], int]:
    """Integer codes for strata (possibly with unused codes), their labels and the code count.

    Small-range integer strata are used as codes directly (offset by the minimum) to
    avoid a sort; anything else is factorized (hashing, no sort of the rows).
    """
    if strata is None:
        if levels is not None:
            raise StatsInputError("levels given without strata", variable="levels")
        return None, [None], 1
    if strata.dtype == np.bool_:
        strata = strata.view(np.int8)
    if np.issubdtype(strata.dtype, np.integer) and levels is None and strata.size:
        lo, hi = int(strata.min()), int(strata.max())
        if hi - lo < max(1 << 16, strata.size):
            codes = strata if lo == 0 else np.subtract(strata, lo, dtype=np.int32)
            return codes, list(range(lo, hi + 1)), hi - lo + 1
    # A hash-based factorization: strings and floats get codes without an
    # O(n log n) sort of the rows; missing values (None, NaN) get code -1.
    inverse, uniq = pd.factorize(strata, sort=True, use_na_sentinel=True)
    missing = inverse < 0
    if missing.any():
        n_bad = int(missing.sum())
        raise StatsInputError(
            f"{plural(n_bad)} with a missing stratum value",
            variable="strata",
            rows=[int(i) for i in np.flatnonzero(missing)[:10]],
        )
    uniq = np.asarray(uniq)
    labels = [u.item() if hasattr(u, "item") else u for u in uniq]
    if levels is None:
        return inverse, labels, len(labels)
    return _to_levels(inverse, labels, levels)


def _to_levels(
    codes: npt.NDArray[Any], labels: list[Any], levels: Sequence[Any]
) -> tuple[npt.NDArray[Any], list[Any], int]:
    """Codes renumbered to the caller's ``levels``; a label in use but not among them is
    an error naming its rows."""
    order = list(levels)
    used = np.zeros(len(labels), dtype=bool)
    used[np.unique(codes)] = True
    unknown = [k for k, lab in enumerate(labels) if used[k] and lab not in order]
    if unknown:
        bad = np.isin(codes, np.asarray(unknown))
        raise StatsInputError(
            f"{plural(int(bad.sum()))} with a stratum value not among the given levels",
            variable="strata",
            rows=[int(i) for i in np.flatnonzero(bad)[:10]],
            expected=", ".join(map(str, order)),
            found=", ".join(str(labels[k]) for k in unknown),
        )
    remap = np.asarray([order.index(lab) if lab in order else -1 for lab in labels], np.int64)
    return remap[codes], order, len(order)


@dataclass(frozen=True)
class _Strata:
    """Row codes, the label of each code, and the codes in the order curves come out."""

    codes: npt.NDArray[Any] | None
    labels: list[Any]
    order: list[int]


def _strata(strata: Any, levels: Sequence[Any] | None) -> _Strata:
    """Codes of any strata input. A categorical's own codes are used as they are
    (:func:`category_codes`): its curves come out in sorted label order, as the same
    data given as strings would, by visiting the codes in that order, with no pass
    over the rows beyond the check for missing values."""
    cat = category_codes(strata, "stratum") if strata is not None else None
    if cat is None:
        s = as_1d(strata, "strata") if strata is not None else None
        codes, labels, n_codes = _stratum_codes(s, levels)
        return _Strata(codes, labels, list(range(n_codes)))
    codes, labels = cat
    if levels is not None:
        codes, labels, n_codes = _to_levels(codes, labels, levels)
        return _Strata(codes, labels, list(range(n_codes)))
    if len(labels) > _MANY_LEVELS:
        codes, labels = compact_codes(codes, labels)
        return _Strata(codes, labels, list(range(len(labels))))
    return _Strata(codes, labels, label_order(labels))


def _integral_float(time: npt.NDArray[Any]) -> bool:
    """True when float times are whole numbers (day counts read from XPT/CSV)."""
    # Chunked so that no temporary of the input's length is made; the first
    # chunk usually settles it for continuous times.
    step = 1 << 16
    for a in range(0, time.size, step):
        chunk = time[a : a + step]
        if not np.array_equal(chunk, np.floor(chunk)):
            return False
    return True


_CHUNK = 1 << 16
# A categorical with more categories than this has its unused ones dropped first (one
# counting pass), so that the work per stratum never grows with levels no row uses.
_MANY_LEVELS = 256


def _count_integer(
    time: npt.NDArray[Any],
    event: npt.NDArray[Any],
    codes: npt.NDArray[Any] | None,
    n_codes: int,
) -> list[tuple[FloatArray, IntArray, IntArray]] | None:
    """Counting pass: ``bincount`` of key = (code * width + time) * 2 + event.

    The key is built and counted in chunks that stay in cache, so no array of
    the input's length is ever allocated. Returns None when the time range is
    too wide for counting to pay off (then the caller sorts).
    """
    tmax = int(time.max()) if time.size else 0
    width = tmax + 1
    bins = n_codes * width * 2
    if bins > max(time.size // 2, 1 << 22):
        return None
    counts = np.zeros(bins, dtype=np.int64)
    size = min(_CHUNK, time.size)
    key = np.empty(size, dtype=np.intp)
    offset = np.empty(size, dtype=np.intp)
    stride = np.intp(2 * width)
    for a in range(0, time.size, size):
        b = min(a + size, time.size)
        k = key[: b - a]
        np.multiply(time[a:b], 2, out=k, casting="unsafe")
        np.add(k, event[a:b], out=k, casting="unsafe")
        if codes is not None and n_codes > 1:
            o = offset[: b - a]
            np.multiply(codes[a:b], stride, out=o, casting="unsafe")
            k += o
        counts += np.bincount(k, minlength=bins)
    grid = counts.reshape(n_codes, width, 2)
    out: list[tuple[FloatArray, IntArray, IntArray]] = []
    for k_code in range(n_codes):
        c = grid[k_code]
        at = np.flatnonzero(c[:, 0] + c[:, 1])
        out.append((at.astype(np.float64), c[at, 1], c[at, 0]))
    return out


def _count_sorted(
    time: npt.NDArray[Any], event: npt.NDArray[Any], *, owned: bool = False
) -> tuple[FloatArray, IntArray, IntArray, bool]:
    """Sort-based counts for one stratum with a single in-place sort.

    For non-negative floats the IEEE-754 bit patterns sort like the values, so
    key = bits << 1 | event sorts by time with the event flag riding along in
    the freed low bit (the shift also maps -0.0 onto 0.0). One sort of n keys
    replaces an argsort and a gather. ``owned`` says ``time`` is a scratch
    copy that may be overwritten.
    """
    t64 = np.ascontiguousarray(time, dtype=np.float64)
    if owned and t64 is time:
        key = t64.view(np.uint64)
        np.left_shift(key, np.uint64(1), out=key)
    else:
        key = np.left_shift(t64.view(np.uint64), np.uint64(1))
    np.bitwise_or(key, event, out=key, casting="unsafe")
    key.sort()
    n = key.size
    if sys.byteorder == "little":
        # The low byte of each key holds the flag: read it through a strided view.
        flags = np.bitwise_and(key.view(np.uint8)[::8], 1, dtype=np.int32)
    else:  # pragma: no cover - big-endian machines
        flags = np.bitwise_and(key, np.uint64(1)).astype(np.int32)
    np.right_shift(key, np.uint64(1), out=key)
    if n < 2 or bool(np.all(key[1:] != key[:-1])):
        # Continuous times are almost always all distinct: one row per subject.
        return key.view(np.float64), flags, np.subtract(1, flags, dtype=np.int32), True
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(key[1:], key[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    del new
    n_event = np.add.reduceat(flags, starts)
    total = np.diff(starts, append=n)
    return key[starts].view(np.float64), n_event, total - n_event, False


def aggregate(
    time: npt.ArrayLike,
    event: npt.ArrayLike,
    *,
    strata: npt.ArrayLike | None = None,
    levels: Sequence[Any] | None = None,
) -> list[StratumCounts]:
    """Reduce patient-level rows to counts per (stratum, distinct time).

    ``event`` is 1 for an event and 0 for a censored time (R's ``Surv`` status;
    the opposite of CDISC CNSR). Whole-number times are counted with ``bincount``;
    other times are sorted. ``levels`` fixes the strata and their order; a level
    with no rows is an error. Without ``levels`` strata appear in sorted order.
    """
    return list(_iter_counts(time, event, strata=strata, levels=levels))


def _iter_counts(
    time: npt.ArrayLike,
    event: npt.ArrayLike,
    *,
    strata: npt.ArrayLike | None = None,
    levels: Sequence[Any] | None = None,
) -> Iterator[StratumCounts]:
    """Counts one stratum at a time, so a caller can finish each before the next is built."""
    t = check_times(as_1d(time, "time"))
    e = check_binary(as_1d(event, "event"), "event")
    st = _strata(strata, levels)
    codes, labels = st.codes, st.labels
    n_codes = len(labels)
    check_same_length(time=t, event=e, strata=codes)
    if t.size == 0:
        raise StatsInputError("no rows to analyse", expected="at least one row", found="0 rows")
    # One byte per flag: a view for bool/int8/uint8, a small copy otherwise.
    e_small: npt.NDArray[Any] = e.view(np.uint8) if e.dtype.itemsize == 1 else e.astype(np.uint8)

    def counted() -> Iterator[tuple[FloatArray, IntArray, IntArray, bool]]:
        per_code = None
        if np.issubdtype(t.dtype, np.integer) or _integral_float(t):
            per_code = _count_integer(t, e_small, codes, n_codes)
        if per_code is not None:
            for k in st.order:
                tt, d, c = per_code[k]
                yield tt, d, c, False
        elif codes is None:
            yield _count_sorted(t, e_small)
        else:
            for k in st.order:
                mask = codes == k
                # compress is several times faster than boolean indexing here.
                tk = np.compress(mask, t).astype(np.float64, copy=False)
                ek = np.compress(mask, e_small)
                del mask
                yield _count_sorted(tk, ek, owned=True)
                del tk, ek

    explicit = levels is not None
    ordered = [labels[k] for k in st.order]
    for label, (tt, d, c, unit) in zip(ordered, counted(), strict=True):
        if tt.size == 0:
            if explicit:
                raise StatsInputError(
                    f"empty stratum {label!r}: 0 rows",
                    variable="strata",
                    expected="at least one row in every stratum",
                    found="0 rows",
                )
            continue  # an unused integer code, not a level the caller named
        yield StratumCounts(label=label, time=tt, n_event=d, n_censor=c, unit=unit)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Quantile:
    """A survival-time quantile with its Brookmeyer-Crowley confidence interval.

    ``prob`` is the fraction with an event (0.5 for the median: the time where S
    falls to 0.5; 0.25 for the first quartile, where S falls to 0.75). A value
    that is not estimable is None and its ``*_reason`` says why.
    """

    prob: float
    estimate: float | None
    lower: float | None
    upper: float | None
    estimate_reason: str | None
    lower_reason: str | None
    upper_reason: str | None
    conf_type: ConfType
    conf_level: float
    convention: Convention

    @property
    def name(self) -> str:
        return _QUANTILE_NAMES.get(self.prob, f"{self.prob * 100:g}th percentile")


#: Reason of a landmark after the last observation under the R convention.
CARRIED_FORWARD = (
    "after the last observation nobody is at risk: the last estimate is carried forward "
    "(R summary.survfit extend = TRUE)"
)
#: Reason of a landmark after the last observation under the SAS convention.
BEYOND_FOLLOW_UP = "beyond last follow-up"


@dataclass(frozen=True)
class SurvivalAt:
    """The curve read at one time (a landmark).

    ``reason`` says why a value is None (not estimable), or that the estimate
    is carried forward past the last observation (R convention).
    """

    time: float
    n_risk: int
    survival: float | None
    std_err: float | None
    lower: float | None
    upper: float | None
    reason: str | None
    conf_type: ConfType
    conf_level: float
    convention: Convention


@dataclass(frozen=True, eq=False)
class KaplanMeierCurve:
    """The Kaplan-Meier estimate of one stratum.

    The step table has one row per distinct observed time (event or censoring),
    as R's ``survfit`` does: ``n_risk`` is the number at risk just before the
    time, ``se_log`` the standard error of log S (R's ``std.err``),
    ``std_err`` the Greenwood standard error of S, ``lower``/``upper`` the
    pointwise limits (NaN only where undefined, at S = 0). ``n_censor``,
    ``std_err``, ``lower`` and ``upper`` are computed on first use, so a fit on
    millions of distinct times that only needs quantiles never holds them.
    """

    label: Any
    n: int
    events: int
    censored: int
    time: FloatArray
    n_risk: IntArray
    n_event: IntArray
    survival: FloatArray
    se_log: FloatArray
    conf_type: ConfType
    conf_level: float
    convention: Convention
    _cache: dict[float, Quantile] = field(default_factory=dict, repr=False)

    @cached_property
    def n_censor(self) -> IntArray:
        leaving = self.n_risk - np.append(self.n_risk[1:], 0)
        censored: IntArray = (leaving - self.n_event).astype(self.n_event.dtype)
        return censored

    @cached_property
    def std_err(self) -> FloatArray:
        with np.errstate(invalid="ignore"):
            return self.survival * self.se_log

    @cached_property
    def _limits(self) -> tuple[FloatArray, FloatArray]:
        return confidence_limits(
            self.survival, self.se_log, self.conf_type, z_value(self.conf_level)
        )

    @property
    def lower(self) -> FloatArray:
        return self._limits[0]

    @property
    def upper(self) -> FloatArray:
        return self._limits[1]

    @property
    def median(self) -> Quantile:
        return self.quantiles(_QUARTILES)[1]

    @property
    def q1(self) -> Quantile:
        return self.quantiles(_QUARTILES)[0]

    @property
    def q3(self) -> Quantile:
        return self.quantiles(_QUARTILES)[2]

    def quantile(self, prob: float) -> Quantile:
        """The time by which a fraction ``prob`` has had the event, with its CI."""
        return self.quantiles([prob])[0]

    def quantiles(self, probs: Sequence[float]) -> tuple[Quantile, ...]:
        """Several quantiles at once; the confidence bands are built once for all of them."""
        ps = [float(p) for p in probs]
        for p in ps:
            if not 0.0 < p < 1.0:
                raise StatsInputError(
                    "quantile probability must lie strictly between 0 and 1",
                    variable="prob",
                    found=str(p),
                )
        todo = [p for p in ps if p not in self._cache]
        if todo:
            for q in _quantiles(self, todo):
                self._cache[q.prob] = q
        return tuple(self._cache[p] for p in ps)

    def n_risk_at(self, times: npt.ArrayLike) -> IntArray:
        """Number at risk at each time: subjects whose time is >= it (R's ``summary``)."""
        t = check_times(as_1d(np.asarray(times, dtype=np.float64), "times"), "times")
        j = np.searchsorted(self.time, t, side="left")
        padded = np.append(self.n_risk, 0)
        return padded[j].astype(np.int64)

    def survival_at(self, times: npt.ArrayLike) -> tuple[SurvivalAt, ...]:
        """Survival, standard error and limits at each landmark time.

        At a time t the curve is read at the largest observed time <= t, and
        ``n_risk`` counts the subjects with time >= t. At the last observed
        time itself the estimate is known (n_risk >= 1). After it nobody is at
        risk (n_risk 0) and the curve is known only if it reached 0. The R
        convention carries the last estimate, standard error and limits forward,
        as ``summary(fit, times, extend = TRUE)`` does, with reason "carried
        forward ..." (without ``extend`` R leaves the time out); the SAS
        convention reports NE with reason "beyond last follow-up".
        """
        t = check_times(as_1d(np.asarray(times, dtype=np.float64), "times"), "times")
        idx = np.searchsorted(self.time, t, side="right") - 1
        n_risk = self.n_risk_at(t)
        last_t = float(self.time[-1])
        out: list[SurvivalAt] = []
        for ti, i, nr in zip(t.tolist(), idx.tolist(), n_risk.tolist(), strict=True):

            def at(
                survival: float | None,
                std_err: float | None,
                lower: float | None,
                upper: float | None,
                reason: str | None,
                ti: float = ti,
                nr: int = nr,
            ) -> SurvivalAt:
                return SurvivalAt(
                    time=float(ti),
                    n_risk=int(nr),
                    survival=survival,
                    std_err=std_err,
                    lower=lower,
                    upper=upper,
                    reason=reason,
                    conf_type=self.conf_type,
                    conf_level=self.conf_level,
                    convention=self.convention,
                )

            if i < 0:
                out.append(at(1.0, 0.0, 1.0, 1.0, None))
                continue
            s = float(self.survival[i])
            if ti > last_t and s > 0.0 and self.convention == "SAS":
                out.append(at(None, None, None, None, BEYOND_FOLLOW_UP))
                continue
            lo, hi = _nan_to_none(float(self.lower[i])), _nan_to_none(float(self.upper[i]))
            reason = None
            if lo is None or hi is None:
                reason = "confidence limits undefined at survival 0"
            elif ti > last_t and s > 0.0:
                reason = CARRIED_FORWARD
            out.append(at(s, _nan_to_none(float(self.std_err[i])), lo, hi, reason))
        return tuple(out)


@dataclass(frozen=True, eq=False)
class KaplanMeierResult:
    """Kaplan-Meier curves, one per stratum, all computed with the same method."""

    curves: tuple[KaplanMeierCurve, ...]
    conf_type: ConfType
    conf_level: float
    convention: Convention

    def __iter__(self) -> Iterator[KaplanMeierCurve]:
        return iter(self.curves)

    def __len__(self) -> int:
        return len(self.curves)

    @property
    def labels(self) -> tuple[Any, ...]:
        return tuple(c.label for c in self.curves)

    def __getitem__(self, label: Any) -> KaplanMeierCurve:
        for c in self.curves:
            if c.label == label:
                return c
        raise KeyError(label)


# --------------------------------------------------------------------------- finish


def confidence_limits(
    survival: FloatArray, se_log: FloatArray, conf_type: ConfType, z: float
) -> tuple[FloatArray, FloatArray]:
    """Pointwise limits from S and the standard error of log S (R's ``std.err``).

    Formulas follow R ``survfit`` (``survfit_confint``), which are SAS LIFETEST's
    g^-1{g(S) +- z g'(S) sigma(S)} with sigma(S) = S * se_log:

    * plain:   S(1 -+ z se), clipped to [0, 1]
    * log:     S exp(-+ z se), upper clipped at 1
    * log-log: exp(-exp(log(-log S) -+ z se / log S))
    * logit:   expit(logit S -+ z se / (1 - S))
    * arcsin:  sin^2(asin sqrt S -+ z se sqrt(S / (1 - S)) / 2), angle clipped to [0, pi/2]

    ``survival`` must be a Kaplan-Meier curve (non-increasing). Where S = 0 the
    limits are undefined (NaN; R gives NA). Where S = 1 with no variance (before
    the first event) both limits are 1 for every transform.
    """
    s = survival
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # Whole-array arithmetic with in-place steps; the few rows where a
        # transform is undefined (S = 1 at the start, S = 0 at the end) are
        # patched afterwards instead of masking every operation.
        w = se_log * z
        if conf_type == "plain":
            lo = 1.0 - w
            lo *= s
            np.maximum(lo, 0.0, out=lo)
            hi = w
            hi += 1.0
            hi *= s
            np.minimum(hi, 1.0, out=hi)
        elif conf_type == "log":
            lo = np.exp(-w)
            lo *= s
            hi = np.exp(w, out=w)
            hi *= s
            np.minimum(hi, 1.0, out=hi)
        elif conf_type == "log-log":
            # exp(-exp(log(-log S) -+ w / log S)) = S ** exp(-+ w / log S): one log and
            # three exponentials instead of two logs and four exponentials.
            ls = np.log(s)
            w /= ls
            k = np.exp(w, out=w)
            lo = np.divide(ls, k)
            np.exp(lo, out=lo)
            hi = np.multiply(ls, k, out=ls)
            np.exp(hi, out=hi)
        elif conf_type == "logit":
            one_minus = 1.0 - s
            w /= one_minus
            lg = np.divide(s, one_minus, out=one_minus)
            np.log(lg, out=lg)
            lo = lg - w
            hi = np.add(lg, w, out=lg)
            for band in (lo, hi):
                np.negative(band, out=band)
                np.exp(band, out=band)
                band += 1.0
                np.reciprocal(band, out=band)
        elif conf_type == "arcsin":
            ratio = s / (1.0 - s)
            np.sqrt(ratio, out=ratio)
            w *= ratio
            w *= 0.5
            a = np.sqrt(s, out=ratio)
            np.arcsin(a, out=a)
            lo = a - w
            np.maximum(lo, 0.0, out=lo)
            hi = np.add(a, w, out=a)
            np.minimum(hi, np.pi / 2, out=hi)
            for band in (lo, hi):
                np.sin(band, out=band)
                np.square(band, out=band)
        else:  # pragma: no cover - normalize_conf_type guards this
            raise StatsInputError("unknown conf_type", found=str(conf_type))
    # Leading rows with S = 1 (censorings before the first event).
    top = _count_leading_ones(s)
    lo[:top] = 1.0
    hi[:top] = 1.0
    # S = 0 can only be the last row: nobody is left after everyone at risk fails.
    if s.size and s[-1] <= 0.0:
        lo[-1] = np.nan
        hi[-1] = np.nan
    return lo, hi


def _count_leading_ones(s: FloatArray) -> int:
    # S is non-increasing: binary search for the first value below 1.
    return bisect.bisect_right(s, -1.0, key=lambda v: -float(v))


def _curve(
    counts: StratumCounts,
    conf_type: ConfType,
    conf_level: float,
    convention: Convention,
) -> KaplanMeierCurve:
    d = counts.n_event
    if counts.unit:
        n = int(counts.time.size)
        nr = np.arange(n, 0, -1, dtype=np.float64)
    else:
        total = np.add(d, counts.n_censor, dtype=np.int64)
        n = int(total.sum())
        # At risk just before each time: n minus everyone who left at earlier times.
        left = np.cumsum(total)
        left -= total
        del total
        nr = np.subtract(n, left, dtype=np.float64)
        del left
    small = np.int32 if n < 2**31 - 1 else np.int64
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.divide(d, nr)
        np.subtract(1.0, s, out=s)
        np.cumprod(s, out=s)
        # Greenwood: sum d / (n (n - d)); infinite once everyone at risk fails (S = 0).
        se_log = np.subtract(nr, d)
        se_log *= nr
        np.divide(d, se_log, out=se_log)
        np.cumsum(se_log, out=se_log)
        np.sqrt(se_log, out=se_log)
    events = int(d.sum())
    return KaplanMeierCurve(
        label=counts.label,
        n=n,
        events=events,
        censored=n - events,
        time=counts.time,
        n_risk=nr.astype(small),
        n_event=d.astype(small, copy=False),
        survival=s,
        se_log=se_log,
        conf_type=conf_type,
        conf_level=conf_level,
        convention=convention,
    )


def _finish(
    counts: Iterable[StratumCounts],
    conf_type: str,
    conf_level: float,
    convention: str,
) -> KaplanMeierResult:
    ct = normalize_conf_type(conf_type)
    cl = check_conf_level(conf_level)
    cv = normalize_convention(convention)
    curves = tuple(_curve(c, ct, cl, cv) for c in counts)  # one stratum's counts at a time
    return KaplanMeierResult(curves=curves, conf_type=ct, conf_level=cl, convention=cv)


def kaplan_meier(
    time: npt.ArrayLike,
    event: npt.ArrayLike,
    *,
    strata: npt.ArrayLike | None = None,
    levels: Sequence[Any] | None = None,
    conf_type: str = "log-log",
    conf_level: float = 0.95,
    convention: str = "R",
) -> KaplanMeierResult:
    """Kaplan-Meier estimate with Greenwood standard errors, pointwise CIs and quantiles.

    ``event`` is 1 for an event, 0 for censored (pass ``1 - CNSR`` for ADaM).
    Default CI transform "log-log" equals SAS LIFETEST's default and R's
    ``survfit(..., conf.type = "log-log")``; R's own default is "log".

    >>> fit = kaplan_meier([9, 13, 13, 18, 23], [1, 1, 0, 1, 1], conf_type="log")
    >>> fit.curves[0].median.estimate
    18.0
    """
    # Validate the method first: a bad conf_type should not wait for a sort.
    normalize_conf_type(conf_type)
    check_conf_level(conf_level)
    normalize_convention(convention)
    counts = _iter_counts(time, event, strata=strata, levels=levels)
    return _finish(counts, conf_type, conf_level, convention)


def kaplan_meier_from_counts(
    time: npt.ArrayLike,
    n_event: npt.ArrayLike,
    n_censor: npt.ArrayLike,
    *,
    strata: npt.ArrayLike | None = None,
    levels: Sequence[Any] | None = None,
    conf_type: str = "log-log",
    conf_level: float = 0.95,
    convention: str = "R",
) -> KaplanMeierResult:
    """The same estimate from an aggregate: one row per (stratum, time) with its counts.

    This is what a ``GROUP BY stratum, time`` returns (``SUM(event)``,
    ``SUM(1 - event)``), so data in a database never leaves it as patient rows.
    Repeated (stratum, time) rows are added together; rows with zero counts are
    ignored; a stratum (given in ``levels``) whose counts are all zero is an error.
    """
    counts = counts_from_aggregate(time, n_event, n_censor, strata=strata, levels=levels)
    return _finish(counts, conf_type, conf_level, convention)


def counts_from_aggregate(
    time: npt.ArrayLike,
    n_event: npt.ArrayLike,
    n_censor: npt.ArrayLike,
    *,
    strata: npt.ArrayLike | None = None,
    levels: Sequence[Any] | None = None,
) -> list[StratumCounts]:
    """Validate an aggregate (time, n_event, n_censor[, stratum]) and tidy it per stratum."""
    t = check_times(as_1d(time, "time"))
    d = as_1d(n_event, "n_event")
    c = as_1d(n_censor, "n_censor")
    s = as_1d(strata, "strata") if strata is not None else None
    check_same_length(time=t, n_event=d, n_censor=c, strata=s)
    for name, arr in (("n_event", d), ("n_censor", c)):
        if not np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_:
            raise StatsInputError(f"{name} must hold counts", variable=name, found=str(arr.dtype))
        bad = (arr < 0) | (arr != np.floor(arr))
        if bad.any():
            raise StatsInputError(
                f"{plural(int(bad.sum()))} with a {name} that is not a count (integer >= 0)",
                variable=name,
                rows=[int(i) for i in np.flatnonzero(bad)[:10]],
            )
    if t.size == 0:
        raise StatsInputError("no rows to analyse", expected="at least one row", found="0 rows")
    codes, labels, _ = _stratum_codes(s, levels)
    out: list[StratumCounts] = []
    for k, label in enumerate(labels):
        mask = np.ones(t.size, dtype=bool) if codes is None else codes == k
        tk = t[mask].astype(np.float64)
        dk = d[mask].astype(np.int64)
        ck = c[mask].astype(np.int64)
        keep = (dk + ck) > 0
        if not keep.any():
            if levels is not None or (codes is not None and mask.any()):
                raise StatsInputError(
                    f"empty stratum {label!r}: 0 subjects",
                    variable="strata",
                    expected="at least one subject in every stratum",
                    found="0 subjects",
                )
            if codes is None:
                raise StatsInputError("no subjects in the counts", found="all counts are 0")
            continue
        uniq, inv = np.unique(tk[keep], return_inverse=True)
        out.append(
            StratumCounts(
                label=label,
                time=uniq,
                n_event=np.bincount(inv, weights=dk[keep], minlength=uniq.size).astype(np.int64),
                n_censor=np.bincount(inv, weights=ck[keep], minlength=uniq.size).astype(np.int64),
            )
        )
    return out


# --------------------------------------------------------------------------- quantiles


_SCAN = 1 << 15


def _transformed_bands(
    s: FloatArray, se_log: FloatArray, conf_type: ConfType, z: float
) -> tuple[FloatArray, FloatArray, bool]:
    """The lower and upper limits in a monotone transformed scale, and its direction.

    Comparing limits with a line at v only needs g(limit) against g(v), which
    saves the back-transform (two exponentials per limit for log-log). Returns
    (g_lower, g_upper, increasing): for an increasing g, limit <= v iff
    g_limit <= g(v); for log-log (decreasing) iff g_limit >= g(v). Undefined
    values are NaN, which never compares true (the limit is 1 before the first
    event). The clips at 0 and 1 (plain, log, arcsin) never change a comparison
    with a v strictly between 0 and 1, so they are left out.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        h = se_log * z
        if conf_type == "plain":
            lo = 1.0 - h
            lo *= s
            hi = np.add(h, 1.0, out=h)
            hi *= s
            return lo, hi, True
        if conf_type == "log":
            g = np.log(s)
            return g - h, np.add(g, h, out=h), True
        if conf_type == "log-log":
            a = np.log(s)
            np.negative(a, out=a)
            h /= a
            np.log(a, out=a)
            # lower limit = exp(-exp(a + h)), upper = exp(-exp(a - h)); g decreasing.
            return a + h, np.subtract(a, h, out=h), False
        if conf_type == "logit":
            one_minus = 1.0 - s
            h /= one_minus
            g = np.divide(s, one_minus, out=one_minus)
            np.log(g, out=g)
            return g - h, np.add(g, h, out=h), True
        ratio = s / (1.0 - s)
        np.sqrt(ratio, out=ratio)
        h *= ratio
        h *= 0.5
        g = np.sqrt(s, out=ratio)
        np.arcsin(g, out=g)
        return g - h, np.add(g, h, out=h), True


def _chunk_bounds(
    s_hi: float, s_lo: float, se_lo: float, se_hi: float, conf_type: ConfType, z: float
) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """Bounds on the transformed lower and upper limits over rows with S in
    [s_lo, s_hi] and se_log in [se_lo, se_hi], by interval arithmetic.

    Within a chunk S is non-increasing and se_log non-decreasing, so the first
    and last rows give these ranges. Each transform is g(S) -+ h(S, se) with g
    and h monotone in each argument, so the extremes sit at the corners. None
    when a bound is not finite (S = 1 or S = 0 in the chunk): then the chunk is
    computed row by row.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        try:
            if conf_type == "plain":
                lo_f = (1.0 - z * se_hi, 1.0 - z * se_lo)
                hi_f = (1.0 + z * se_lo, 1.0 + z * se_hi)
                lo_c = [x * y for x in (s_lo, s_hi) for y in lo_f]
                hi_c = [x * y for x in (s_lo, s_hi) for y in hi_f]
                out = ((min(lo_c), max(lo_c)), (min(hi_c), max(hi_c)))
            elif conf_type == "log":
                g = (math.log(s_lo), math.log(s_hi))
                out = ((g[0] - z * se_hi, g[1] - z * se_lo), (g[0] + z * se_lo, g[1] + z * se_hi))
            elif conf_type == "log-log":
                u = (-math.log(s_hi), -math.log(s_lo))  # -log S, increasing down the chunk
                a = (math.log(u[0]), math.log(u[1]))
                c = (z * se_lo / u[1], z * se_hi / u[0])
                out = ((a[0] + c[0], a[1] + c[1]), (a[0] - c[1], a[1] - c[0]))
            elif conf_type == "logit":
                g = (math.log(s_lo / (1.0 - s_lo)), math.log(s_hi / (1.0 - s_hi)))
                h = (z * se_lo / (1.0 - s_lo), z * se_hi / (1.0 - s_hi))
                out = ((g[0] - h[1], g[1] - h[0]), (g[0] + h[0], g[1] + h[1]))
            else:
                g = (math.asin(math.sqrt(s_lo)), math.asin(math.sqrt(s_hi)))
                r = (math.sqrt(s_lo / (1.0 - s_lo)), math.sqrt(s_hi / (1.0 - s_hi)))
                h = (0.5 * z * se_lo * r[0], 0.5 * z * se_hi * r[1])
                out = ((g[0] - h[1], g[1] - h[0]), (g[0] + h[0], g[1] + h[1]))
        except (ValueError, ZeroDivisionError):
            return None
    flat = [x for pair in out for x in pair]
    if not all(math.isfinite(x) for x in flat):
        return None
    # Widen by a margin far above rounding so a skip is never wrong.
    slack = 1e-9 * (1.0 + max(abs(x) for x in flat))
    return (
        (out[0][0] - slack, out[0][1] + slack),
        (out[1][0] - slack, out[1][1] + slack),
    )


def _g(v: float, conf_type: ConfType) -> float:
    if conf_type == "plain":
        return v
    if conf_type == "log":
        return math.log(v)
    if conf_type == "log-log":
        return math.log(-math.log(v))
    if conf_type == "logit":
        return math.log(v / (1.0 - v))
    return math.asin(math.sqrt(v))


def _band_crossings(
    curve: KaplanMeierCurve, queries: Sequence[tuple[str, float, str]]
) -> list[int | None]:
    """Rows where a confidence limit meets a line at v, for (band, v, rule) queries.

    ``band`` is "lower" or "upper". Rules:

    * "le": the first row with limit <= v (SAS's set definition);
    * "lt": the first row with limit < v;
    * "r": the row of the largest limit that is <= v, first occurrence. This
      is what R's ``findq`` gets from ``approx`` (which sorts the curve by
      value); it equals "le" whenever the limit is non-increasing, and differs
      only where the limit goes back up.

    The limits are compared in the transform's own scale, in cache-sized
    chunks, starting where an answer can first occur (the upper limit is >= S,
    so not before S itself reaches v); "le"/"lt" stop at their first hit. Rows
    where S = 0 (limits undefined) never count. None when no row qualifies.
    """
    s_all = curve.survival
    n = s_all.size
    if n and s_all[-1] <= 0.0:
        n -= 1
    z = z_value(curve.conf_level)
    answers: list[int | None] = [None] * len(queries)
    best: list[float] = [math.nan] * len(queries)
    pending: list[tuple[int, int, bool, float, str]] = []
    for qi, (band, v, rule) in enumerate(queries):
        if not 0.0 < v < 1.0:
            continue
        start = 0
        if band == "upper":
            first = _first_le_survival(s_all, v)
            if first is None:
                continue
            start = first
        pending.append((qi, start, band == "lower", _g(v, curve.conf_type), rule))
    if not pending:
        return answers
    a = min(p[1] for p in pending)
    increasing = curve.conf_type != "log-log"
    se_all = curve.se_log
    while pending and a < n:
        b = min(a + _SCAN, n)
        bounds = _chunk_bounds(
            float(s_all[a]),
            float(s_all[b - 1]),
            float(se_all[a]),
            float(se_all[b - 1]),
            curve.conf_type,
            z,
        )
        if bounds is not None and all(
            _settled(bounds[0] if q[2] else bounds[1], q, best, increasing)
            for q in pending
            if q[1] < b
        ):
            # No row of this chunk can answer or improve any query: skip it.
            a = b
            continue
        g_lo, g_hi, increasing = _transformed_bands(s_all[a:b], se_all[a:b], curve.conf_type, z)
        still: list[tuple[int, int, bool, float, str]] = []
        # Chunk-wide extremes let most chunks be settled without a per-query pass:
        # before a crossing no value reaches the line, after it none can improve.
        extremes: dict[bool, tuple[float, float]] = {}
        for query in pending:
            qi, start, is_lower, gv, rule = query
            if start >= b:
                still.append(query)
                continue
            off = max(start - a, 0)
            seg = (g_lo if is_lower else g_hi)[off:]
            if off == 0:
                if is_lower not in extremes:
                    with np.errstate(invalid="ignore"):
                        extremes[is_lower] = (
                            float(np.fmin.reduce(seg)),
                            float(np.fmax.reduce(seg)),
                        )
                if math.isnan(extremes[is_lower][0]) or _settled(
                    extremes[is_lower], query, best, increasing
                ):
                    still.append(query)
                    continue
            with np.errstate(invalid="ignore"):
                if rule == "lt":
                    hit = seg < gv if increasing else seg > gv
                else:
                    hit = seg <= gv if increasing else seg >= gv
            if rule == "r":
                # Largest limit <= v: in an increasing scale the largest g, in a
                # decreasing one the smallest; earlier rows win ties.
                if hit.any():
                    if increasing:
                        masked = np.where(hit, seg, -np.inf)
                        j = int(np.argmax(masked))
                        better = math.isnan(best[qi]) or masked[j] > best[qi]
                    else:
                        masked = np.where(hit, seg, np.inf)
                        j = int(np.argmin(masked))
                        better = math.isnan(best[qi]) or masked[j] < best[qi]
                    if better:
                        best[qi] = float(masked[j])
                        answers[qi] = a + off + j
                still.append(query)
                continue
            j = int(np.argmax(hit)) if hit.size else 0
            if hit.size and hit[j]:
                answers[qi] = a + off + j
            else:
                still.append(query)
        pending = still
        a = b
    return answers


def _settled(
    extremes: tuple[float, float],
    query: tuple[int, int, bool, float, str],
    best: list[float],
    increasing: bool,
) -> bool:
    """True when values within ``extremes`` can neither answer nor improve ``query``."""
    qi, _, _, gv, rule = query
    lo_x, hi_x = extremes
    if increasing:
        out_of_reach = lo_x > gv or (rule == "lt" and lo_x >= gv)
        no_better = not math.isnan(best[qi]) and hi_x <= best[qi]
    else:
        out_of_reach = hi_x < gv or (rule == "lt" and hi_x <= gv)
        no_better = not math.isnan(best[qi]) and lo_x >= best[qi]
    return out_of_reach or (rule == "r" and no_better)


def _first_le_survival(s: FloatArray, v: float) -> int | None:
    """First index with S <= v, S non-increasing (binary search, no pass over S)."""
    i = bisect.bisect_left(s, -v, key=lambda x: -float(x))
    return i if i < s.size else None


def _r_rule(
    times: FloatArray,
    i1: int | None,
    i2: int | None,
    last: float,
    p: float,
    curve_min: Callable[[], float],
) -> float | None:
    """R ``quantile.survfit`` (findq) once the two crossing indices are known.

    i1 is the row where the curve first reaches 1-p (within tolerance), i2 where
    it is clearly below. If they differ the curve sits on 1-p between them and
    the quantile is their midpoint; if it sits on 1-p to the end of the curve,
    the midpoint of i1 and the last observed time. As in R, a curve whose
    largest 1 - S is below p in floating point (``max(y) < p``) gives NA even
    when it is within tolerance of p; that can only matter for the flat-to-end
    case, so ``curve_min`` is called only there.
    """
    if i1 is None:
        return None
    if not math.isnan(last) and abs(p - (1.0 - last)) < TOLERANCE:
        if 1.0 - curve_min() < p:
            return None
        return (float(times[i1]) + float(times[-1])) / 2.0
    if i2 is None:
        return None
    return (float(times[i1]) + float(times[i2])) / 2.0


def _quantiles(curve: KaplanMeierCurve, probs: Sequence[float]) -> list[Quantile]:
    tol = TOLERANCE
    t = curve.time
    s = curve.survival
    queries: list[tuple[str, float, str]] = []
    for p in probs:
        target = 1.0 - p
        if curve.convention == "R":
            queries += [
                ("lower", target + tol, "r"),
                ("lower", target - tol, "r"),
                ("upper", target + tol, "r"),
                ("upper", target - tol, "r"),
            ]
        else:
            queries += [("lower", target + tol, "le"), ("upper", target - tol, "lt")]
    found = _band_crossings(curve, queries)
    last_lo, last_hi = (
        float(x[0])
        for x in confidence_limits(
            s[-1:], curve.se_log[-1:], curve.conf_type, z_value(curve.conf_level)
        )
    )
    out: list[Quantile] = []
    for k, p in enumerate(probs):
        name = _QUANTILE_NAMES.get(p, f"{p * 100:g}th percentile")
        target = 1.0 - p
        est_reason: str | None = None
        if curve.convention == "R":
            i = 4 * k
            est = _r_rule(
                t,
                _first_le_survival(s, target + tol),
                _first_le_survival(s, target - tol),
                float(s[-1]),
                p,
                lambda: float(s[-1]),
            )
            # The lower limit reaches 1-p first, so it gives the lower end of the CI.
            lo = _r_rule(
                t, found[i], found[i + 1], last_lo, p, lambda: float(np.fmin.reduce(curve.lower))
            )
            hi = _r_rule(
                t,
                found[i + 2],
                found[i + 3],
                last_hi,
                p,
                lambda: float(np.fmin.reduce(curve.upper)),
            )
            if est is None:
                est_reason = f"{name} not reached"
        else:
            # SAS: min{t_j : S(t_j) < 1-p}; S == 1-p on [t_j, t_j+1) gives the midpoint,
            # and no later event time (a flat to the end) gives NE. S only moves at
            # event times, so the first row meeting a condition is an event row.
            hit = _first_le_survival(s, target + tol)
            below = _first_le_survival(s, target - tol)
            est = None if below is None else float(t[below])
            if hit is not None and hit != below:
                if below is None:
                    est_reason = (
                        f"{name} not estimable: survival equals {target:g} after the last "
                        "event (SAS)"
                    )
                else:
                    est = (float(t[hit]) + float(t[below])) / 2.0
            elif est is None:
                est_reason = f"{name} not reached"
            i_lo, i_hi = found[2 * k], found[2 * k + 1]
            lo = None if i_lo is None else float(t[i_lo])
            hi = None if i_hi is None else float(t[i_hi])
        out.append(
            Quantile(
                prob=p,
                estimate=est,
                lower=lo,
                upper=hi,
                estimate_reason=est_reason,
                lower_reason=None if lo is not None else "lower limit not reached",
                upper_reason=None if hi is not None else "upper limit not reached",
                conf_type=curve.conf_type,
                conf_level=curve.conf_level,
                convention=curve.convention,
            )
        )
    return out

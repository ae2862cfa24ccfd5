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

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy.stats import norm

from eap.errors import StatsInputError
from eap.stats._validate import (
    as_1d,
    check_binary,
    check_conf_level,
    check_same_length,
    check_times,
)

ConfType = Literal["log-log", "log", "plain", "logit", "arcsin"]
Convention = Literal["R", "SAS"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

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


def _stratum_codes(
    strata: npt.NDArray[Any] | None, levels: Sequence[Any] | None
) -> tuple[npt.NDArray[Any] | None, list[Any], int]:
    """Integer codes for strata (possibly with unused codes), their labels and the code count.

    Small-range integer strata are used as codes directly (offset by the minimum) to
    avoid a sort; anything else goes through ``np.unique``.
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
            codes = strata if lo == 0 else strata - lo
            return codes, list(range(lo, hi + 1)), hi - lo + 1
    if np.issubdtype(strata.dtype, np.floating) and np.isnan(strata).any():
        bad = np.isnan(strata)
        n_bad = int(bad.sum())
        raise StatsInputError(
            f"{n_bad} rows with a missing stratum value",
            variable="strata",
            rows=[int(i) for i in np.flatnonzero(bad)[:10]],
        )
    if strata.dtype == object:
        missing = np.array([v is None for v in strata], dtype=bool)
        if missing.any():
            n_bad = int(missing.sum())
            raise StatsInputError(
                f"{n_bad} rows with a missing stratum value",
                variable="strata",
                rows=[int(i) for i in np.flatnonzero(missing)[:10]],
            )
    uniq, inverse = np.unique(strata, return_inverse=True)
    labels = [u.item() if hasattr(u, "item") else u for u in uniq]
    if levels is None:
        return inverse, labels, len(labels)
    order = list(levels)
    unknown = [lab for lab in labels if lab not in order]
    if unknown:
        bad = np.isin(strata, np.asarray(unknown, dtype=strata.dtype))
        raise StatsInputError(
            f"{int(bad.sum())} rows with a stratum value not among the given levels",
            variable="strata",
            rows=[int(i) for i in np.flatnonzero(bad)[:10]],
            expected=", ".join(map(str, order)),
            found=", ".join(map(str, unknown)),
        )
    remap = np.asarray([order.index(lab) for lab in labels], dtype=np.int64)
    return remap[inverse], order, len(order)


def _integral_float(time: npt.NDArray[Any]) -> bool:
    """True when float times are whole numbers (day counts read from XPT/CSV)."""
    head = time[:1024]
    if not np.array_equal(head, np.floor(head)):
        return False
    return bool(np.array_equal(time, np.floor(time)))


def _count_integer(
    time: npt.NDArray[Any],
    event: npt.NDArray[Any],
    codes: npt.NDArray[Any] | None,
    n_codes: int,
) -> list[tuple[FloatArray, IntArray, IntArray]] | None:
    """Counting pass: one ``bincount`` over key = ((code * width) + time) * 2 + event.

    Returns None when the time range is too wide for counting to pay off.
    """
    tmax = int(time.max()) if time.size else 0
    width = tmax + 1
    bins = n_codes * width * 2
    if bins > max(time.size // 2, 1 << 22):
        return None
    key_type = np.int32 if bins < 2**31 - 1 else np.int64
    key = np.multiply(time, 2, dtype=key_type, casting="unsafe")
    np.add(key, event, out=key, casting="unsafe")
    if codes is not None and n_codes > 1:
        offset = np.multiply(codes, 2 * width, dtype=key_type, casting="unsafe")
        np.add(key, offset, out=key)
        del offset
    counts = np.bincount(key, minlength=bins).reshape(n_codes, width, 2)
    del key
    out: list[tuple[FloatArray, IntArray, IntArray]] = []
    for k in range(n_codes):
        c = counts[k]
        total = c[:, 0] + c[:, 1]
        at = np.flatnonzero(total)
        out.append(
            (
                at.astype(np.float64),
                c[at, 1].astype(np.int64),
                c[at, 0].astype(np.int64),
            )
        )
    return out


def _unique_sorted(s: FloatArray) -> tuple[FloatArray, IntArray]:
    if s.size == 0:
        return s, np.zeros(0, dtype=np.int64)
    flags = np.empty(s.size, dtype=bool)
    flags[0] = True
    np.not_equal(s[1:], s[:-1], out=flags[1:])
    idx = np.flatnonzero(flags)
    counts = np.diff(np.append(idx, s.size)).astype(np.int64)
    return s[idx], counts


def _count_sorted(
    time: npt.NDArray[Any], event: npt.NDArray[Any]
) -> tuple[FloatArray, IntArray, IntArray]:
    """Sort-based counts for one stratum: sort all times, sort event times, merge."""
    ev = event.astype(bool, copy=False)
    all_t, all_n = _unique_sorted(np.sort(time.astype(np.float64, copy=False)))
    ev_t, ev_n = _unique_sorted(np.sort(time[ev].astype(np.float64, copy=False)))
    n_event = np.zeros(all_t.size, dtype=np.int64)
    n_event[np.searchsorted(all_t, ev_t)] = ev_n
    return all_t, n_event, all_n - n_event


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
    t = check_times(as_1d(time, "time"))
    e = check_binary(as_1d(event, "event"), "event")
    s = as_1d(strata, "strata") if strata is not None else None
    check_same_length(time=t, event=e, strata=s)
    if t.size == 0:
        raise StatsInputError("no rows to analyse", expected="at least one row", found="0 rows")
    codes, labels, n_codes = _stratum_codes(s, levels)
    if e.dtype == np.bool_:
        e_small: npt.NDArray[Any] = e.view(np.int8)
    elif np.issubdtype(e.dtype, np.floating):
        e_small = e.astype(np.int8)
    else:
        e_small = e

    per_code: list[tuple[FloatArray, IntArray, IntArray]] | None = None
    if np.issubdtype(t.dtype, np.integer) or _integral_float(t):
        per_code = _count_integer(t, e_small, codes, n_codes)
    if per_code is None:
        if codes is None:
            per_code = [_count_sorted(t, e_small)]
        else:
            per_code = []
            for k in range(n_codes):
                mask = codes == k
                per_code.append(_count_sorted(t[mask], e_small[mask]))

    result: list[StratumCounts] = []
    explicit = levels is not None
    for label, (tt, d, c) in zip(labels, per_code, strict=True):
        if tt.size == 0:
            if explicit:
                raise StatsInputError(
                    f"empty stratum {label!r}: 0 rows",
                    variable="strata",
                    expected="at least one row in every stratum",
                    found="0 rows",
                )
            continue  # an unused integer code, not a level the caller named
        result.append(StratumCounts(label=label, time=tt, n_event=d, n_censor=c))
    return result


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


@dataclass(frozen=True)
class SurvivalAt:
    """The curve read at one time (a landmark), with its reason when not estimable."""

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
    time, ``std_err`` the Greenwood standard error of S, ``lower``/``upper``
    the pointwise limits (NaN only where undefined, at S = 0).
    """

    label: Any
    n: int
    events: int
    censored: int
    time: FloatArray
    n_risk: IntArray
    n_event: IntArray
    n_censor: IntArray
    survival: FloatArray
    std_err: FloatArray
    lower: FloatArray
    upper: FloatArray
    conf_type: ConfType
    conf_level: float
    convention: Convention
    _se_log: FloatArray = field(repr=False)
    _cache: dict[float, Quantile] = field(default_factory=dict, repr=False)

    @property
    def median(self) -> Quantile:
        return self.quantile(0.5)

    @property
    def q1(self) -> Quantile:
        return self.quantile(0.25)

    @property
    def q3(self) -> Quantile:
        return self.quantile(0.75)

    def quantile(self, prob: float) -> Quantile:
        """The time by which a fraction ``prob`` has had the event, with its CI."""
        p = float(prob)
        if not 0.0 < p < 1.0:
            raise StatsInputError(
                "quantile probability must lie strictly between 0 and 1",
                variable="prob",
                found=str(prob),
            )
        if p not in self._cache:
            self._cache[p] = _quantile(self, p)
        return self._cache[p]

    def n_risk_at(self, times: npt.ArrayLike) -> IntArray:
        """Number at risk at each time: subjects whose time is >= it (R's ``summary``)."""
        t = check_times(as_1d(np.asarray(times, dtype=np.float64), "times"), "times")
        j = np.searchsorted(self.time, t, side="left")
        padded = np.append(self.n_risk, 0)
        return padded[j].astype(np.int64)

    def survival_at(self, times: npt.ArrayLike) -> tuple[SurvivalAt, ...]:
        """Survival, standard error and limits at each landmark time.

        Past the last observation the curve is known only if it reached 0. The R
        convention carries the last value forward (``summary(fit, times,
        extend=TRUE)``); the SAS convention reports NE ("beyond last follow-up").
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
                out.append(at(None, None, None, None, "beyond last follow-up"))
                continue
            lo, hi = _nan_to_none(float(self.lower[i])), _nan_to_none(float(self.upper[i]))
            reason = None
            if lo is None or hi is None:
                reason = "confidence limits undefined at survival 0"
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

    Where S = 0 the limits are undefined (NaN; R gives NA). Where S = 1 with no
    variance (before the first event) both limits are 1 for every transform.
    """
    s = survival
    lo = np.full_like(s, np.nan)
    hi = np.full_like(s, np.nan)
    top = (s >= 1.0) & (se_log == 0.0)
    mid = (s > 0.0) & ~top
    sm, se = s[mid], se_log[mid]
    w = z * se
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if conf_type == "plain":
            lo_m = np.maximum(sm - w * sm, 0.0)
            hi_m = np.minimum(sm + w * sm, 1.0)
        elif conf_type == "log":
            lo_m = sm * np.exp(-w)
            hi_m = np.minimum(sm * np.exp(w), 1.0)
        elif conf_type == "log-log":
            # S == 1 with se > 0 cannot happen: an event with d < n makes S < 1.
            a = np.log(-np.log(sm))
            ww = w / np.log(sm)
            lo_m = np.exp(-np.exp(a - ww))
            hi_m = np.exp(-np.exp(a + ww))
        elif conf_type == "logit":
            lg = np.log(sm / (1.0 - sm))
            ww = w / (1.0 - sm)
            lo_m = 1.0 / (1.0 + np.exp(-(lg - ww)))
            hi_m = 1.0 / (1.0 + np.exp(-(lg + ww)))
        elif conf_type == "arcsin":
            a = np.arcsin(np.sqrt(sm))
            ww = 0.5 * w * np.sqrt(sm / (1.0 - sm))
            lo_m = np.sin(np.maximum(0.0, a - ww)) ** 2
            hi_m = np.sin(np.minimum(np.pi / 2, a + ww)) ** 2
        else:  # pragma: no cover - normalize_conf_type guards this
            raise StatsInputError("unknown conf_type", found=str(conf_type))
    lo[mid] = lo_m
    hi[mid] = hi_m
    lo[top] = 1.0
    hi[top] = 1.0
    return lo, hi


def _curve(
    counts: StratumCounts,
    conf_type: ConfType,
    conf_level: float,
    convention: Convention,
    z: float,
) -> KaplanMeierCurve:
    d = counts.n_event.astype(np.float64)
    total = counts.n_event + counts.n_censor
    n_risk = np.cumsum(total[::-1])[::-1].astype(np.int64)
    nr = n_risk.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        s: FloatArray = np.cumprod(1.0 - d / nr, dtype=np.float64)
        # Greenwood term d / (n (n - d)); infinite when everyone at risk fails (S = 0).
        term = np.where(nr > d, d / (nr * (nr - d)), np.inf)
    var_log = np.cumsum(term)
    se_log = np.sqrt(var_log)
    with np.errstate(invalid="ignore"):
        std_err = np.where(s > 0.0, s * se_log, np.nan)
    lo, hi = confidence_limits(s, se_log, conf_type, z)
    return KaplanMeierCurve(
        label=counts.label,
        n=int(total.sum()),
        events=int(counts.n_event.sum()),
        censored=int(counts.n_censor.sum()),
        time=counts.time,
        n_risk=n_risk,
        n_event=counts.n_event,
        n_censor=counts.n_censor,
        survival=s,
        std_err=std_err,
        lower=lo,
        upper=hi,
        conf_type=conf_type,
        conf_level=conf_level,
        convention=convention,
        _se_log=se_log,
    )


def _finish(
    counts: Sequence[StratumCounts],
    conf_type: str,
    conf_level: float,
    convention: str,
) -> KaplanMeierResult:
    ct = normalize_conf_type(conf_type)
    cl = check_conf_level(conf_level)
    cv = normalize_convention(convention)
    z = z_value(cl)
    curves = tuple(_curve(c, ct, cl, cv, z) for c in counts)
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
    counts = aggregate(time, event, strata=strata, levels=levels)
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
                f"{int(bad.sum())} rows with a {name} that is not a count (integer >= 0)",
                variable=name,
                rows=[int(i) for i in np.flatnonzero(bad)[:10]],
            )
    if t.size == 0:
        raise StatsInputError("no rows to analyse", expected="at least one row", found="0 rows")
    codes, labels, n_codes = _stratum_codes(s, levels)
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
    del n_codes
    return _finish(out, conf_type, conf_level, convention)


# --------------------------------------------------------------------------- quantiles


def _first(mask: npt.NDArray[np.bool_]) -> int | None:
    if mask.size == 0:
        return None
    i = int(np.argmax(mask))
    return i if mask[i] else None


def _quantile_r(times: FloatArray, curve: FloatArray, p: float) -> float | None:
    """R ``quantile.survfit`` (findq): where the line at 1-p meets the curve.

    The CDF 1-S is prefixed with (0, 0); repeated values (censored times) are
    dropped. If 1-S equals p within tolerance on a flat, the quantile is the
    midpoint of that time and the next time the curve moves; if the flat runs to
    the end of the curve, the midpoint of that time and the last observed time.
    """
    x = np.concatenate(([0.0], times))
    y = np.concatenate(([0.0], 1.0 - curve))
    xmax = float(x[-1])
    nan = np.isnan(y)
    keep = np.ones(y.size, dtype=bool)
    keep[1:] = (y[1:] != y[:-1]) & ~(nan[1:] & nan[:-1])
    x, y = x[keep], y[keep]
    last_is_nan = bool(np.isnan(y[-1]))
    valid = ~np.isnan(y)
    x, y = x[valid], y[valid]
    if y.size == 0 or float(y.max()) < p:
        return None
    tol = TOLERANCE
    if not last_is_nan and abs(p - float(y[-1])) < tol:
        i1 = _first(y + tol >= p)
        return None if i1 is None else (float(x[i1]) + xmax) / 2.0
    i1 = _first(y + tol >= p)
    i2 = _first(y - tol >= p)
    if i1 is None or i2 is None:
        return None
    return (float(x[i1]) + float(x[i2])) / 2.0


def _quantile_sas_estimate(
    ev_times: FloatArray, ev_surv: FloatArray, target: float
) -> tuple[float | None, bool]:
    """SAS: min{t_j : S(t_j) < 1-p}; S == 1-p on [t_j, t_j+1) gives the midpoint.

    Returns (value, flat_to_end): flat_to_end is True when S sits on 1-p after
    the last event time, which SAS reports as missing.
    """
    tol = TOLERANCE
    below = _first(ev_surv < target - tol)
    exact = _first(np.abs(ev_surv - target) <= tol)
    if exact is not None and (below is None or exact < below):
        if exact + 1 < ev_times.size:
            return (float(ev_times[exact]) + float(ev_times[exact + 1])) / 2.0, False
        return None, True
    return (None if below is None else float(ev_times[below])), False


def _quantile(curve: KaplanMeierCurve, p: float) -> Quantile:
    name = _QUANTILE_NAMES.get(p, f"{p * 100:g}th percentile")
    target = 1.0 - p
    est_reason: str | None = None
    lo_reason: str | None = None
    hi_reason: str | None = None
    if curve.convention == "R":
        est = _quantile_r(curve.time, curve.survival, p)
        # The lower band reaches 1-p first, so it gives the lower limit.
        lo = _quantile_r(curve.time, curve.lower, p)
        hi = _quantile_r(curve.time, curve.upper, p)
        if est is None:
            est_reason = f"{name} not reached"
    else:
        ev = curve.n_event > 0
        ev_t = curve.time[ev]
        est, flat = _quantile_sas_estimate(ev_t, curve.survival[ev], target)
        if est is None:
            est_reason = (
                f"{name} not estimable: survival equals {target:g} after the last event (SAS)"
                if flat
                else f"{name} not reached"
            )
        tol = TOLERANCE
        lo_band = curve.lower[ev]
        hi_band = curve.upper[ev]
        with np.errstate(invalid="ignore"):
            i_lo = _first(lo_band <= target + tol)
            i_hi = _first(hi_band < target - tol)
        lo = None if i_lo is None else float(ev_t[i_lo])
        hi = None if i_hi is None else float(ev_t[i_hi])
    if lo is None:
        lo_reason = "lower limit not reached"
    if hi is None:
        hi_reason = "upper limit not reached"
    return Quantile(
        prob=p,
        estimate=est,
        lower=lo,
        upper=hi,
        estimate_reason=est_reason,
        lower_reason=lo_reason,
        upper_reason=hi_reason,
        conf_type=curve.conf_type,
        conf_level=curve.conf_level,
        convention=curve.convention,
    )

"""Cox proportional hazards for one categorical covariate, as R ``coxph`` and SAS PHREG.

The model: h(t | level k, stratum s) = h_s(t) exp(beta_k), with beta = 0 for the
reference level and a separate baseline hazard h_s per stratum (R ``strata()``,
SAS ``STRATA``). Each non-reference level gets a coefficient, the log hazard
ratio against the reference, in sorted level order (R's factor order).

Aggregate first, as the rest of eap.stats: with one categorical covariate the
partial likelihood depends on the data only through, per (stratum, distinct
event time, level), the number of events d and the number at risk n. Those
counts come from one sort and ``bincount``; the fit then runs over the event
times, never over subjects.

At an event time with d tied events, weights w_k = exp(beta_k),
S0 = sum_k n_k w_k (everyone at risk) and E0 = sum_k d_k w_k (those who fail):

* Breslow (SAS PHREG's default, ``TIES=BRESLOW``): the d events share S0;
  log-likelihood term sum_k d_k beta_k - d log S0.
* Efron (R ``coxph``'s default): the j-th of the d events (j = 0..d-1) sees
  S0 - (j/d) E0; log-likelihood term sum_k d_k beta_k - sum_j log(S0 - (j/d) E0).

Both are sums of terms omega * log(sum_k m_k w_k) with fixed m (n, or n - (j/d) d)
and omega (d, or 1), so score and information share one formula: with
p_k = m_k w_k / sum_l m_l w_l, U = D - sum omega p and
I = sum omega (diag(p) - p p'), D the events per level.

Newton-Raphson as R's ``coxph.fit`` (C routine ``coxfit6``) with
``coxph.control()``'s defaults: start at beta = 0, stop when
|1 - loglik_best / loglik_new| <= 1e-9, at most 20 iterations, and when the
log-likelihood falls, step back towards the last accepted beta (half way the
first time, then 2/3, 3/4, ... of the way, as coxfit6). See docs/statistics.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.stats import chi2, norm

from eap.errors import StatsInputError
from eap.stats._validate import (
    as_1d,
    category_codes,
    check_binary,
    check_conf_level,
    check_same_length,
    check_times,
    compact_codes,
    plural,
)
from eap.stats.km import z_value

Ties = Literal["efron", "breslow"]
FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]

#: R ``coxph.control()``: eps, iter.max and toler.inf = sqrt(eps).
EPS = 1e-9
ITER_MAX = 20
TOLER_INF = math.sqrt(EPS)


@dataclass(frozen=True)
class CoxTerm:
    """One coefficient: ``level`` against ``reference``, with its Wald CI and test.

    ``hazard_ratio``, ``conf_low`` and ``conf_high`` are exp of the log-scale
    values; None only where exp overflows (an infinite estimate, flagged in
    :attr:`CoxResult.warning`), never inf.
    """

    level: Any
    reference: Any
    coef: float
    se: float
    hazard_ratio: float | None
    conf_low: float | None
    conf_high: float | None
    z: float
    p_value: float


@dataclass(frozen=True)
class CoxTest:
    """A global chi-square test of all coefficients = 0 (R ``summary(coxph)``'s last lines)."""

    statistic: float
    df: int
    p_value: float
    test: str


@dataclass(frozen=True)
class CoxResult:
    """A fitted Cox model with the method used (ties, conf_level, strata, convergence)."""

    terms: tuple[CoxTerm, ...]
    wald: CoxTest
    likelihood_ratio: CoxTest
    score: CoxTest
    n: int
    events: int
    loglik_null: float
    loglik: float
    iterations: int
    converged: bool
    ties: Ties
    conf_level: float
    reference: Any
    #: R's warning when the fit is suspect (infinite coefficient, no convergence).
    warning: str | None
    #: Every level of ``group`` in sorted order, the reference included.
    levels: tuple[Any, ...]
    #: The stratum labels in sorted order; empty without ``strata``.
    strata: tuple[Any, ...] = ()
    method: str = "Cox proportional hazards"

    def term(self, level: Any) -> CoxTerm:
        """The coefficient of ``level`` (compared as given or as text)."""
        for t in self.terms:
            if t.level == level or str(t.level) == str(level):
                return t
        raise KeyError(level)


# --------------------------------------------------------------------------- input


def _codes(values: Any, name: str) -> tuple[npt.NDArray[np.intp], list[Any]]:
    """Integer codes 0..L-1 and the sorted labels; a missing value is an error.

    A categorical's own codes are renumbered to its sorted labels in use
    (:func:`~eap.stats._validate.category_codes`): no pass over its labels.
    """
    cat = category_codes(values, name)
    if cat is not None:
        return compact_codes(*cat)
    values = as_1d(values, name)
    # Hash-based factorization (no sort of the rows); the labels come out sorted.
    inverse, uniq = pd.factorize(values, sort=True, use_na_sentinel=True)
    missing = inverse < 0
    if missing.any():
        n_bad = int(missing.sum())
        raise StatsInputError(
            f"{plural(n_bad)} with a missing {name} value",
            variable=name,
            rows=[int(i) for i in np.flatnonzero(missing)[:10]],
            expected=f"a {name} label for every row",
            found=f"{n_bad} missing",
        )
    labels = [u.item() if hasattr(u, "item") else u for u in np.asarray(uniq)]
    return inverse.astype(np.intp, copy=False), labels


def _normalize_ties(ties: str) -> Ties:
    key = str(ties).strip().lower()
    if key == "efron":
        return "efron"
    if key == "breslow":
        return "breslow"
    raise StatsInputError(
        "unknown method for tied event times",
        variable="ties",
        expected="efron (R coxph default) or breslow (SAS PHREG default)",
        found=repr(ties),
    )


def _reference_index(levels: Sequence[Any], reference: Any) -> int:
    if reference is None:
        return 0
    for i, lev in enumerate(levels):
        # A label given as text matches a numeric level ("2" for sex 2), as in R.
        if lev == reference or str(lev) == str(reference):
            return i
    raise StatsInputError(
        "reference level not among the levels of group",
        variable="reference",
        expected="one of " + ", ".join(map(str, levels)),
        found=repr(reference),
    )


# --------------------------------------------------------------------------- aggregate


def _event_table(
    time: npt.NDArray[Any],
    event: npt.NDArray[Any],
    group: npt.NDArray[np.intp],
    stratum: npt.NDArray[np.intp],
    k: int,
) -> tuple[FloatArray, FloatArray]:
    """Events and numbers at risk per level, one row per (stratum, distinct event time).

    Returns (d, n), both (rows, k). Subjects censored at an event time are at
    risk at it (risk set: time >= t), as in R and SAS.
    """
    order = np.lexsort((time, stratum))
    ts, ss, gs = time[order], stratum[order], group[order]
    es = event[order].astype(bool, copy=False)
    new_cell = np.empty(ts.size, dtype=bool)
    new_cell[0] = True
    np.logical_or(ts[1:] != ts[:-1], ss[1:] != ss[:-1], out=new_cell[1:])
    cell = np.cumsum(new_cell) - 1
    n_cells = int(cell[-1]) + 1
    key = cell * k + gs
    total = np.bincount(key, minlength=n_cells * k).reshape(n_cells, k)
    dead = np.bincount(key[es], minlength=n_cells * k).reshape(n_cells, k)
    # Numbers at risk: reverse cumulative sums within each stratum. Cells are
    # sorted by stratum, so take the reverse cumulative sum over all cells and
    # subtract what belongs to later strata (the sum from the next stratum on).
    rev = np.cumsum(total[::-1], axis=0)[::-1]
    cell_stratum = ss[new_cell]
    next_start = np.searchsorted(cell_stratum, cell_stratum, side="right")
    rev_pad = np.vstack([rev, np.zeros((1, k), dtype=rev.dtype)])
    at_risk = rev - rev_pad[next_start]
    keep = dead.sum(axis=1) > 0
    return dead[keep].astype(np.float64), at_risk[keep].astype(np.float64)


def _terms(d: FloatArray, n: FloatArray, ties: Ties) -> tuple[FloatArray, FloatArray]:
    """The weights m (terms, k) and multiplicities omega of the log-denominator terms."""
    d_row = d.sum(axis=1)
    if ties == "breslow":
        return n, d_row
    # Efron: the j-th of d tied events (j = 0..d-1) removes j/d of the events'
    # weight from the risk set. One term per event; a time with one event keeps
    # one term with j = 0, the Breslow term.
    counts = d_row.astype(np.intp)
    rows = np.repeat(np.arange(d.shape[0]), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    frac = (np.arange(rows.size) - first) / d_row[rows]
    return n[rows] - frac[:, None] * d[rows], np.ones(rows.size)


# --------------------------------------------------------------------------- fit


@dataclass(frozen=True)
class _Eval:
    loglik: float
    score: FloatArray
    info: FloatArray


def _evaluate(
    beta: FloatArray, m: FloatArray, omega: FloatArray, d_level: FloatArray, free: IndexArray
) -> _Eval:
    """Log partial likelihood, score and information at ``beta`` (non-reference levels)."""
    full = np.zeros(m.shape[1])
    full[free] = beta
    # A wild step can overflow exp(); the non-finite result makes the caller
    # step back, as in R, so the floating-point warnings are not news.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        w = np.exp(full)
        mw = m * w
        den = mw.sum(axis=1)
        p = mw[:, free] / den[:, None]
        loglik = float(d_level @ full - omega @ np.log(den))
        wp = p * omega[:, None]
        score = d_level[free] - wp.sum(axis=0)
        info = np.diag(wp.sum(axis=0)) - wp.T @ p
    return _Eval(loglik, score, info)


def _finite(e: _Eval) -> bool:
    return bool(
        math.isfinite(e.loglik) and np.isfinite(e.score).all() and np.isfinite(e.info).all()
    )


def _solve(info: FloatArray, rhs: FloatArray) -> FloatArray:
    try:
        return np.asarray(np.linalg.solve(info, rhs), dtype=np.float64)
    except np.linalg.LinAlgError:
        # Numerically singular far out on an infinite coefficient: R's Cholesky
        # then leaves that direction alone; the pseudo-inverse does the same.
        return np.asarray(np.linalg.pinv(info) @ rhs, dtype=np.float64)


def _inverse(info: FloatArray) -> FloatArray:
    try:
        return np.asarray(np.linalg.inv(info), dtype=np.float64)
    except np.linalg.LinAlgError:
        return np.asarray(np.linalg.pinv(info), dtype=np.float64)


def _check_comparable(n: FloatArray, levels: Sequence[Any], ref: int) -> None:
    """Every level must share an event time (in a stratum) with others, linked to the reference.

    Otherwise the information matrix is singular and a hazard ratio is not
    estimable (R reports NA); eap names the levels instead.
    """
    present = (n > 0).astype(np.int64)
    linked = (present.T @ present) > 0
    reach = np.zeros(len(levels), dtype=bool)
    reach[ref] = True
    for _ in range(len(levels)):
        grown = reach | linked[reach].any(axis=0)
        if (grown == reach).all():
            break
        reach = grown
    if reach.all():
        return
    alone = [lev for lev, ok in zip(levels, reach, strict=True) if not ok]
    text = ", ".join(map(str, alone))
    raise StatsInputError(
        f"hazard ratio not estimable for {text}: never at risk at an event time together"
        f" with the reference {levels[ref]!r} or a level linked to it (in the same stratum)",
        variable="group",
        expected="every level at risk at some event time alongside another level",
        found=f"{text} unlinked",
    )


def cox_ph(
    time: npt.ArrayLike,
    event: npt.ArrayLike,
    group: npt.ArrayLike,
    *,
    reference: str | None = None,
    strata: npt.ArrayLike | None = None,
    ties: str = "efron",
    conf_level: float = 0.95,
) -> CoxResult:
    """Cox proportional hazards fit of survival on one categorical covariate ``group``.

    ``event`` is 1 for an event, 0 for censored. Each level other than
    ``reference`` (default: the first level in sorted order, R's factor default)
    gets a log hazard ratio against the reference. ``strata`` gives each stratum
    its own baseline hazard (R ``+ strata(z)``, SAS ``STRATA z``). ``ties`` is
    ``"efron"`` (R ``coxph``'s default) or ``"breslow"`` (SAS PHREG's default).
    Confidence limits are Wald limits on the log scale, exponentiated.

    Six subjects; R ``coxph(Surv(1:6, c(1, 1, 1, 1, 0, 1)) ~ x)`` prints
    exp(coef) 0.7604, lower .95 0.1049, upper .95 5.512, score test 0.07:

    >>> r = cox_ph([1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 0, 1], ["a", "b", "a", "b", "a", "b"])
    >>> t = r.terms[0]
    >>> t.level, t.reference, round(t.hazard_ratio, 4), round(t.conf_low, 4), round(t.conf_high, 3)
    ('b', 'a', 0.7604, 0.1049, 5.512)
    >>> round(r.score.statistic, 2), r.ties
    (0.07, 'efron')
    """
    t = check_times(as_1d(time, "time"))
    e = check_binary(as_1d(event, "event"), "event")
    g_codes, levels = _codes(group, "group")
    s_coded = _codes(strata, "strata") if strata is not None else None
    n_rows = check_same_length(
        time=t, event=e, group=g_codes, strata=None if s_coded is None else s_coded[0]
    )
    method = _normalize_ties(ties)
    level_ci = check_conf_level(conf_level)
    if n_rows == 0:
        raise StatsInputError("no rows to fit", variable="time", expected="1 or more rows")
    k = len(levels)
    if k < 2:
        raise StatsInputError(
            "a Cox model of group needs at least two levels",
            variable="group",
            expected="2 or more levels",
            found=f"1 level ({levels[0]!r})",
        )
    ref = _reference_index(levels, reference)
    if s_coded is None:
        s_codes = np.zeros(n_rows, dtype=np.intp)
        s_labels: list[Any] = []
    else:
        s_codes, s_labels = s_coded
    n_events = int(np.count_nonzero(e))
    if n_events == 0:
        raise StatsInputError(
            "no events: every time is censored",
            variable="event",
            expected="at least one event (event = 1)",
            found=f"0 events in {plural(n_rows)}",
        )

    d, n = _event_table(t, e, g_codes, s_codes, k)
    _check_comparable(n, levels, ref)
    m, omega = _terms(d, n, method)
    d_level = d.sum(axis=0)
    free_idx = np.array([i for i in range(k) if i != ref], dtype=np.intp)

    def evaluate(b: FloatArray) -> _Eval:
        return _evaluate(b, m, omega, d_level, free_idx)

    beta, loglik_null, score_u0, info0, fit, iterations, converged = _newton(evaluate, k - 1)
    score_stat = float(score_u0 @ _solve(info0, score_u0))
    var = _inverse(fit.info)
    se = np.sqrt(np.diag(var))
    warning = _warning(beta, fit.score, var, converged, [levels[i] for i in free_idx])

    df = k - 1
    z_ci = z_value(level_ci)
    terms = []
    for j, idx in enumerate(free_idx):
        coef, sej = float(beta[j]), float(se[j])
        zj = coef / sej
        terms.append(
            CoxTerm(
                level=levels[idx],
                reference=levels[ref],
                coef=coef,
                se=sej,
                hazard_ratio=_exp(coef),
                conf_low=_exp(coef - z_ci * sej),
                conf_high=_exp(coef + z_ci * sej),
                z=zj,
                p_value=float(2.0 * norm.sf(abs(zj))),
            )
        )
    # Wald: beta' V^-1 beta, solving with V as R's coxph.wtest does.
    wald_stat = float(beta @ _solve(var, beta))
    lr_stat = 2.0 * (fit.loglik - loglik_null)
    return CoxResult(
        terms=tuple(terms),
        wald=_test(wald_stat, df, "Wald test"),
        likelihood_ratio=_test(lr_stat, df, "Likelihood ratio test"),
        score=_test(score_stat, df, "Score (logrank) test"),
        n=n_rows,
        events=n_events,
        loglik_null=loglik_null,
        loglik=fit.loglik,
        iterations=iterations,
        converged=converged,
        ties=method,
        conf_level=level_ci,
        reference=levels[ref],
        warning=warning,
        levels=tuple(levels),
        strata=tuple(s_labels),
    )


def _newton(
    evaluate: Callable[[FloatArray], _Eval], n_coef: int
) -> tuple[FloatArray, float, FloatArray, FloatArray, _Eval, int, bool]:
    """Newton-Raphson from beta = 0, step for step as R's coxfit6.

    Returns beta, the null log-likelihood, score and information at 0 (for the
    score test), the evaluation at beta, the iteration count and convergence.
    """
    beta = np.zeros(n_coef)
    start = evaluate(beta)
    best = start.loglik
    new_beta = beta + _solve(start.info, start.score)
    halving = 0
    for iteration in range(1, ITER_MAX + 1):
        cur = evaluate(new_beta)
        finite = _finite(cur)
        if finite and abs(1.0 - best / cur.loglik) <= EPS:
            return new_beta, start.loglik, start.score, start.info, cur, iteration, True
        if not finite or cur.loglik < best:
            # Step back towards the last accepted beta: half way, then 2/3, 3/4, ...
            halving += 1
            new_beta = (new_beta + halving * beta) / (halving + 1.0)
        else:
            halving = 0
            best = cur.loglik
            beta = new_beta
            new_beta = new_beta + _solve(cur.info, cur.score)
    # Out of iterations: R reports the last accepted beta, re-evaluated there.
    last = evaluate(beta)
    return beta, start.loglik, start.score, start.info, last, ITER_MAX, False


def _warning(
    beta: FloatArray, score: FloatArray, var: FloatArray, converged: bool, names: list[Any]
) -> str | None:
    """R ``coxph.fit``'s checks for coefficients that are heading to infinity."""
    infs = np.abs(score @ var)
    if not converged:
        text = "Ran out of iterations and did not converge"
        # lp = beta for a subject of that level (0/1 columns are not centred).
        if float(np.max(beta, initial=0.0)) > 500 or not np.isfinite(infs).all():
            text += "; one or more coefficients may be infinite"
        return text
    # The remaining step (U' V) is still large against the coefficient: the
    # log-likelihood has flattened out before beta did.
    flag = ~np.isfinite(score) | ((infs > EPS) & (infs > TOLER_INF * np.abs(beta)))
    if not flag.any():
        return None
    which = ", ".join(str(nm) for nm, f in zip(names, flag, strict=True) if f)
    return f"Loglik converged before variable {which}; coefficient may be infinite"


def _exp(x: float) -> float | None:
    value = math.exp(x) if x < 709.0 else math.inf
    return value if math.isfinite(value) else None


def _test(statistic: float, df: int, name: str) -> CoxTest:
    return CoxTest(
        statistic=float(statistic), df=df, p_value=float(chi2.sf(statistic, df)), test=name
    )

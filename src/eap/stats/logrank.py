"""Log-rank test across groups, optionally stratified, as R ``survdiff`` and SAS LIFETEST.

For groups k = 1..K at each distinct event time with n at risk and d events:
E_k = n_k d / n, V_kl = d (n - d) / (n - 1) * n_k / n * (delta_kl - n_l / n).
Stratified: O, E and V are summed over the strata of the second variable (R
``survdiff(... + strata(z))``, SAS ``STRATA z / GROUP=x``).

The statistic and its degrees of freedom are R ``survdiff``'s, step for step:
keep the groups with E > 0 (a group never at risk at an event time has E = 0
and no information), drop the first of them, and solve
chi2 = (O - E)' V^-1 (O - E) on the rest; df = (number of groups with E > 0) - 1.
V always has rank K - 1 at most (its rows sum to 0), so a numerical rank of V
would be fragile: two groups could come out as df = 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import chi2

from eap.errors import StatsInputError
from eap.stats._validate import (
    as_1d,
    category_codes,
    check_binary,
    check_same_length,
    check_times,
    compact_codes,
)
from eap.stats.km import StratumCounts, aggregate, counts_from_aggregate


@dataclass(frozen=True)
class LogrankResult:
    """Chi-square, degrees of freedom and p-value, with observed and expected events per group."""

    chisq: float
    df: int
    p: float
    groups: tuple[Any, ...]
    observed: tuple[int, ...]
    expected: tuple[float, ...]
    stratified_by: str | None
    method: str = "log-rank"


def _oe_var(groups: Sequence[StratumCounts], k: int) -> tuple[npt.NDArray[np.float64], ...]:
    """O, E and V for one stratum; groups absent from the stratum contribute nothing."""
    grid = np.unique(np.concatenate([g.time for g in groups]))
    t_n = grid.size
    d = np.zeros((k, t_n))
    n = np.zeros((k, t_n))
    for i, g in enumerate(groups):
        pos = np.searchsorted(grid, g.time)
        d[i, pos] = g.n_event
        tot = np.zeros(t_n)
        tot[pos] = g.n_event + g.n_censor
        n[i] = np.cumsum(tot[::-1])[::-1]
    d_all = d.sum(axis=0)
    n_all = n.sum(axis=0)
    ev = d_all > 0
    d, n, d_all, n_all = d[:, ev], n[:, ev], d_all[ev], n_all[ev]
    observed = d.sum(axis=1)
    frac = n / n_all
    expected = (frac * d_all).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(n_all > 1, d_all * (n_all - d_all) / (n_all - 1), 0.0)
    # V = sum_t w_t (diag(frac_t) - frac_t frac_t')
    v = np.diag((frac * w).sum(axis=1)) - (frac * w) @ frac.T
    return observed, expected, v


def _coded(values: Any, name: str) -> tuple[npt.NDArray[Any], list[Any]]:
    """Rows as codes 0..L-1 and the sorted labels: a categorical's own codes renumbered
    (no pass over its labels), anything else by sorting its distinct values."""
    cat = category_codes(values, name)
    if cat is not None:
        return compact_codes(*cat)
    arr = as_1d(values, name)
    uniq, inverse = np.unique(arr, return_inverse=True)
    return inverse.reshape(-1), [v.item() if hasattr(v, "item") else v for v in uniq]


def _chisq(
    oe: npt.NDArray[np.float64],
    expected: npt.NDArray[np.float64],
    var: npt.NDArray[np.float64],
    group_labels: Sequence[Any],
) -> tuple[float, int]:
    """R ``survdiff``: the groups with E > 0, the first dropped, ``solve``; df = their number - 1.

    With fewer than two such groups (no events, or every event where only one
    group is at risk) there is nothing to compare: chi2 = 0 on df 0 and p = 1
    (R prints df 0, or -1 when there is no event at all, with chi2 0).
    """
    informative = expected > 0
    df = int(informative.sum()) - 1
    if df < 1:
        return 0.0, 0
    keep = np.flatnonzero(informative)[1:]
    u = oe[keep]
    v = var[np.ix_(keep, keep)]
    # R's solve() refuses a matrix whose reciprocal condition number is below machine epsilon.
    rcond = 1.0 / np.linalg.cond(v, 1) if np.all(np.isfinite(v)) else 0.0
    if not rcond >= np.finfo(float).eps:
        raise StatsInputError(
            "the log-rank variance matrix is singular: some groups are never at risk "
            "together at an event time (within a stratum)",
            variable="group",
            expected="groups that share event times",
            found=", ".join(str(group_labels[i]) for i in np.flatnonzero(informative).tolist()),
        )
    return float(u @ np.linalg.solve(v, u)), df


def logrank_test(
    time: npt.ArrayLike,
    event: npt.ArrayLike,
    group: npt.ArrayLike,
    *,
    strata: npt.ArrayLike | None = None,
    strata_name: str | None = None,
) -> LogrankResult:
    """Log-rank test of equal survival across ``group`` (stratified by ``strata`` if given).

    ``event`` is 1 for an event, 0 for censored.

    >>> r = logrank_test([1, 2, 3, 4], [1, 1, 1, 1], ["a", "b", "a", "b"])
    >>> r.df
    1
    """
    t = check_times(as_1d(time, "time"))
    e = check_binary(as_1d(event, "event"), "event")
    g, group_labels = _coded(group, "group")
    s = _coded(strata, "strata")[0] if strata is not None else None
    check_same_length(time=t, event=e, group=g, strata=s)
    blocks = [np.ones(t.size, dtype=bool)] if s is None else [s == lv for lv in np.unique(s)]
    per_block = [aggregate(t[m], e[m], strata=g[m]) for m in blocks]
    return _test(per_block, group_labels, strata_name, stratified=strata is not None)


def logrank_test_from_counts(
    time: npt.ArrayLike,
    n_event: npt.ArrayLike,
    n_censor: npt.ArrayLike,
    group: npt.ArrayLike,
    *,
    strata: npt.ArrayLike | None = None,
    strata_name: str | None = None,
) -> LogrankResult:
    """The log-rank test from an aggregate: one row per (stratum, group, time) with counts.

    ``SELECT z, x, time, SUM(event), SUM(1 - event) ... GROUP BY z, x, time`` gives
    the input, so the test, like :func:`eap.stats.kaplan_meier_from_counts`, runs
    where the data live.
    """
    t = as_1d(time, "time")
    d = as_1d(n_event, "n_event")
    c = as_1d(n_censor, "n_censor")
    g, group_labels = _coded(group, "group")
    s = _coded(strata, "strata")[0] if strata is not None else None
    check_same_length(time=t, n_event=d, n_censor=c, group=g, strata=s)
    blocks = [np.ones(t.size, dtype=bool)] if s is None else [s == lv for lv in np.unique(s)]
    per_block = [counts_from_aggregate(t[m], d[m], c[m], strata=g[m]) for m in blocks]
    return _test(per_block, group_labels, strata_name, stratified=strata is not None)


def _test(
    per_block: Sequence[Sequence[StratumCounts]],
    group_labels: Sequence[Any],
    strata_name: str | None,
    *,
    stratified: bool,
) -> LogrankResult:
    k = len(group_labels)
    if k < 2:
        raise StatsInputError(
            "log-rank test needs at least two groups",
            variable="group",
            expected="2 or more groups",
            found=f"{k} group",
        )
    oe = np.zeros(k)
    obs = np.zeros(k)
    exp = np.zeros(k)
    var = np.zeros((k, k))
    for counts in per_block:
        # Each block's counts are labelled by group code (0..k-1).
        present = {c.label: c for c in counts}
        # Groups missing from a stratum get an empty record so indices line up.
        aligned = [
            present.get(
                code,
                StratumCounts(
                    label=lab,
                    time=np.zeros(0),
                    n_event=np.zeros(0, dtype=np.int64),
                    n_censor=np.zeros(0, dtype=np.int64),
                ),
            )
            for code, lab in enumerate(group_labels)
        ]
        o_b, e_b, v_b = _oe_var(aligned, k)
        obs += o_b
        exp += e_b
        oe += o_b - e_b
        var += v_b
    stat, df = _chisq(oe, exp, var, group_labels)
    p = float(chi2.sf(stat, df)) if df > 0 else 1.0
    return LogrankResult(
        chisq=stat,
        df=df,
        p=p,
        groups=tuple(group_labels),
        observed=tuple(int(x) for x in np.rint(obs)),
        expected=tuple(float(x) for x in exp),
        stratified_by=strata_name if stratified else None,
        method="stratified log-rank" if stratified else "log-rank",
    )

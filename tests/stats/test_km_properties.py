"""Invariants of the Kaplan-Meier estimate, checked on generated data."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from eap.stats import aggregate, kaplan_meier, kaplan_meier_from_counts

CONF_TYPES = ["log-log", "log", "plain", "logit", "arcsin"]

rows = st.lists(
    st.tuples(st.integers(0, 60), st.integers(0, 1), st.sampled_from(["A", "B", "C"])),
    min_size=1,
    max_size=80,
)


def _arrays(data: list[tuple[int, int, str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t, e, s = zip(*data, strict=True)
    return np.array(t), np.array(e), np.array(s)


@settings(max_examples=150, deadline=None)
@given(rows, st.sampled_from(CONF_TYPES), st.sampled_from(["R", "SAS"]))
def test_survival_non_increasing_and_ci_contains_estimate(
    data: list[tuple[int, int, str]], conf_type: str, convention: str
) -> None:
    t, e, s = _arrays(data)
    for c in kaplan_meier(t, e, strata=s, conf_type=conf_type, convention=convention):
        assert np.all(np.diff(c.survival) <= 0)
        assert np.all((c.survival >= 0) & (c.survival <= 1))
        ok = ~np.isnan(c.lower)
        assert np.all(c.lower[ok] <= c.survival[ok] + 1e-12)
        assert np.all(c.upper[ok] >= c.survival[ok] - 1e-12)
        # NaN limits only where S = 0.
        assert np.all(c.survival[~ok] == 0)
        for q in (c.q1, c.median, c.q3):
            if q.estimate is not None and q.lower is not None:
                assert q.lower <= q.estimate
            if q.estimate is not None and q.upper is not None:
                assert q.upper >= q.estimate


@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=50))
def test_all_censored_gives_one_and_ne_median(times: list[float]) -> None:
    c = kaplan_meier(times, np.zeros(len(times), dtype=int)).curves[0]
    assert np.all(c.survival == 1.0)
    assert c.median.estimate is None and c.median.estimate_reason == "median not reached"


@settings(max_examples=100, deadline=None)
@given(rows, st.randoms(use_true_random=False))
def test_row_order_does_not_matter(data: list[tuple[int, int, str]], rnd: object) -> None:
    t, e, s = _arrays(data)
    perm = np.arange(len(t))
    rnd.shuffle(perm)  # type: ignore[attr-defined]
    a = kaplan_meier(t, e, strata=s)
    b = kaplan_meier(t[perm], e[perm], strata=s[perm])
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.survival, y.survival)
        np.testing.assert_array_equal(x.lower, y.lower)
        assert x.median == y.median and x.q1 == y.q1 and x.q3 == y.q3


@settings(max_examples=100, deadline=None)
@given(rows)
def test_one_stratum_equals_no_strata(data: list[tuple[int, int, str]]) -> None:
    t, e, _ = _arrays(data)
    a = kaplan_meier(t, e).curves[0]
    b = kaplan_meier(t, e, strata=np.full(len(t), "only")).curves[0]
    np.testing.assert_array_equal(a.survival, b.survival)
    np.testing.assert_array_equal(a.upper, b.upper)
    assert a.median == b.median


@settings(max_examples=100, deadline=None)
@given(rows)
def test_splitting_ties_keeps_counts(data: list[tuple[int, int, str]]) -> None:
    # Duplicating every row (each tie split into two records) doubles every count
    # and leaves the survival estimate unchanged.
    t, e, s = _arrays(data)
    one = aggregate(t, e, strata=s)
    two = aggregate(np.repeat(t, 2), np.repeat(e, 2), strata=np.repeat(s, 2))
    for x, y in zip(one, two, strict=True):
        np.testing.assert_array_equal(x.time, y.time)
        np.testing.assert_array_equal(2 * x.n_event, y.n_event)
        np.testing.assert_array_equal(2 * x.n_censor, y.n_censor)
    a = kaplan_meier(t, e, strata=s)
    b = kaplan_meier(np.repeat(t, 2), np.repeat(e, 2), strata=np.repeat(s, 2))
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x.survival, y.survival, rtol=1e-12)
        assert x.median.estimate == y.median.estimate
    # Counts add up to the rows in every stratum.
    assert sum(int(c.n_event.sum() + c.n_censor.sum()) for c in one) == len(t)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 20), st.integers(0, 4), st.integers(0, 4), st.integers(1, 3)),
        min_size=1,
        max_size=30,
    ).filter(lambda rows: sum(d + c for _, d, c, _ in rows) > 0)
)
def test_splitting_aggregate_rows_keeps_the_estimate(
    data: list[tuple[int, int, int, int]],
) -> None:
    # An aggregate row (t, d, c) split into several rows at the same t (as a
    # GROUP BY over partitions would return them) gives the same estimate.
    t = np.array([r[0] for r in data])
    d = np.array([r[1] for r in data])
    c = np.array([r[2] for r in data])
    whole = kaplan_meier_from_counts(t, d, c).curves[0]
    split_t, split_d, split_c = [], [], []
    for ti, di, ci, parts in data:
        for k in range(parts):
            split_t.append(ti)
            split_d.append(di // parts + (1 if k < di % parts else 0))
            split_c.append(ci // parts + (1 if k < ci % parts else 0))
    split = kaplan_meier_from_counts(split_t, split_d, split_c).curves[0]
    np.testing.assert_array_equal(whole.time, split.time)
    np.testing.assert_array_equal(whole.n_event, split.n_event)
    np.testing.assert_array_equal(whole.n_censor, split.n_censor)
    np.testing.assert_array_equal(whole.survival, split.survival)
    assert whole.median == split.median

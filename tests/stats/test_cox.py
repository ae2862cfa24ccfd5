"""Cox proportional hazards against R coxph, lifelines and hand calculations.

The R values are in tests/data/survival/cox_reference.json, written by
tests/data/survival/cox_reference.R (R survival::coxph, both ties methods);
R is not needed to run these tests.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from eap.errors import StatsInputError
from eap.stats import CoxResult, cox_ph, logrank_test
from eap.stats.cox import ITER_MAX

DATA = Path(__file__).resolve().parents[1] / "data" / "survival"
REFERENCE = json.loads((DATA / "cox_reference.json").read_text())
REL = 1e-6
P_ABS = 1e-8


def _datasets() -> dict[str, pd.DataFrame]:
    aml = pd.read_csv(DATA / "aml.csv")
    ecog = pd.read_csv(DATA / "lung_ecog.csv")
    # R drops the one row with a missing ph.ecog (na.action = na.omit).
    ecog = ecog[ecog["ph.ecog"].notna()].astype({"ph.ecog": int})
    untreated = pd.DataFrame(
        {
            "time": [*aml.time, 10, 20, 30, 40, 50],
            "status": [*aml.status, 0, 0, 0, 0, 0],
            "group": [*aml.x, *["Untreated"] * 5],
        }
    )
    creep = pd.DataFrame(
        {
            "time": range(1, 11),
            "status": [1, 0, 1, 1, 0, 1, 0, 1, 0, 0],
            "group": ["a", "b", "a", "a", "b", "a", "b", "a", "b", "b"],
        }
    )
    halving = pd.DataFrame(
        {
            "time": [25, 18, 4, 4, 19, 13, 8, 11, 28, 25, 11, 26, 23, 8, 26, 3, 27],
            "status": 1,
            "group": list("aaccbaabbabaaaabb"),
        }
    )
    return {
        "aml": aml,
        "halving": halving,
        "lung": pd.read_csv(DATA / "lung.csv"),
        "lung_ecog": ecog,
        "veteran": pd.read_csv(DATA / "veteran.csv"),
        "aml_untreated": untreated,
        "creep": creep,
    }


DATASETS = _datasets()


def _fit(model: dict[str, Any], **kw: Any) -> CoxResult:
    df = DATASETS[model["data"]]
    strata = df[model["strata"]] if model["strata"] else None
    return cox_ph(
        df.time,
        df.status,
        df[model["group"]],
        reference=model["reference"],
        strata=strata,
        ties=model["ties"],
        **kw,
    )


def _close(got: float | None, want: float | None) -> bool:
    # R writes Inf (an upper limit of an infinite estimate) as null; eap gives None.
    if want is None:
        return got is None
    return got is not None and got == pytest.approx(want, rel=REL, abs=1e-12)


@pytest.mark.parametrize(
    "model", REFERENCE["models"], ids=[f"{m['name']}-{m['ties']}" for m in REFERENCE["models"]]
)
def test_matches_r_coxph(model: dict[str, Any]) -> None:
    r = _fit(model)
    assert r.ties == model["ties"]
    assert r.n == model["n"] and r.events == model["events"]
    assert r.loglik_null == pytest.approx(model["loglik_null"], rel=REL)
    assert r.loglik == pytest.approx(model["loglik"], rel=REL)
    # R's fit$iter reads iter.max + 1 when it runs out of iterations.
    assert r.iterations == min(model["iterations"], ITER_MAX)
    assert r.converged == (model["iterations"] <= ITER_MAX)
    for name in ("likelihood_ratio", "wald", "score"):
        got, want = getattr(r, name), model[name]
        assert got.statistic == pytest.approx(want["statistic"], rel=REL), name
        assert got.df == want["df"], name
        assert got.p_value == pytest.approx(want["p_value"], abs=P_ABS), name
    # Non-reference levels in R's factor order (sorted; R ran in the C locale).
    assert [str(t.level) for t in r.terms] == [t["level"] for t in model["terms"]]
    for want in model["terms"]:
        got = r.term(want["level"])
        assert str(got.reference) == model["reference"]
        for field in ("coef", "se", "hazard_ratio", "conf_low", "conf_high", "z"):
            assert _close(getattr(got, field), want[field]), (want["level"], field)
        assert got.p_value == pytest.approx(want["p_value"], abs=P_ABS)
    if model["warning"] is None:
        assert r.warning is None
    else:
        assert r.warning is not None
        if "Ran out of iterations" in model["warning"]:
            assert r.warning.startswith("Ran out of iterations and did not converge")
        else:
            assert "coefficient may be infinite" in model["warning"]
            assert "coefficient may be infinite" in r.warning


def test_terms_follow_sorted_levels_and_default_reference_is_the_first() -> None:
    v = DATASETS["veteran"]
    r = cox_ph(v.time, v.status, v.celltype)
    assert r.reference == "adeno" and r.levels == ("adeno", "large", "smallcell", "squamous")
    assert [t.level for t in r.terms] == ["large", "smallcell", "squamous"]
    sq = cox_ph(v.time, v.status, v.celltype, reference="squamous")
    assert [t.level for t in sq.terms] == ["adeno", "large", "smallcell"]
    # Changing the reference re-expresses the same model: same fit, HR inverted.
    assert sq.loglik == pytest.approx(r.loglik, rel=1e-12)
    assert sq.term("adeno").coef == pytest.approx(-r.term("squamous").coef, rel=1e-9)
    # Numeric labels sort as numbers (as R's factor does), not as text.
    n = cox_ph([1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 0, 1], [10, 9, 10, 9, 10, 9])
    assert n.reference == 9 and n.terms[0].level == 10
    # A numeric level may be named by its text.
    assert cox_ph([1, 2, 3, 4], [1, 1, 1, 1], [1, 2, 1, 2], reference="2").reference == 2


def test_efron_matches_lifelines() -> None:
    v = DATASETS["veteran"]
    x = pd.get_dummies(v.celltype, dtype=float).drop(columns="adeno")
    ll = CoxPHFitter().fit(
        pd.concat([x, v[["time", "status"]]], axis=1),
        "time",
        "status",
        fit_options={"precision": 1e-12},
    )
    r = cox_ph(v.time, v.status, v.celltype, ties="efron")
    for level in ("large", "smallcell", "squamous"):
        t = r.term(level)
        assert t.coef == pytest.approx(ll.params_[level], rel=1e-9)
        assert t.se == pytest.approx(ll.standard_errors_[level], rel=1e-9)
        assert t.p_value == pytest.approx(ll.summary.loc[level, "p"], rel=1e-6)
    assert r.loglik == pytest.approx(ll.log_likelihood_, rel=1e-12)
    lr = ll.log_likelihood_ratio_test()
    assert r.likelihood_ratio.statistic == pytest.approx(lr.test_statistic, rel=1e-9)
    assert r.likelihood_ratio.df == lr.degrees_freedom


def test_hand_calculation_four_subjects() -> None:
    # Times 1, 2, 3, 4, all events, groups a, b, a, b (reference a), no ties.
    # Risk sets (a, b at risk; who fails), w = exp(beta):
    #   t=1: 2 a, 2 b; a fails   p_b = 2w/(2+2w)
    #   t=2: 1 a, 2 b; b fails   p_b = 2w/(1+2w)
    #   t=3: 1 a, 1 b; a fails   p_b = w/(1+w)
    #   t=4: 0 a, 1 b; b fails   p_b = 1 (no information)
    # At beta = 0: U = (0 - 1/2) + (1 - 2/3) + (0 - 1/2) + 0 = -2/3,
    #   I = 1/4 + 2/9 + 1/4 = 13/18, score test U^2/I = (4/9)/(13/18) = 8/13,
    #   which is the log-rank (O - E)^2/V: without ties V = I.
    #   loglik(0) = -(log 4 + log 3 + log 2 + log 1) = -log 24.
    # MLE: U(beta) = 1 - 2w/(1+w) - 2w/(1+2w) = 0  <=>  1 - w - 4w^2 = 0,
    #   w = (sqrt(17) - 1)/8; I(beta) = 2w/(1+w)^2 + 2w/(1+2w)^2.
    time, event, group = [1, 2, 3, 4], [1, 1, 1, 1], ["a", "b", "a", "b"]
    for ties in ("efron", "breslow"):  # no ties: the two coincide
        r = cox_ph(time, event, group, ties=ties)
        assert r.score.statistic == pytest.approx(8 / 13, rel=1e-12)
        assert r.loglik_null == pytest.approx(-math.log(24), rel=1e-12)
        w = (math.sqrt(17) - 1) / 8
        t = r.terms[0]
        assert t.hazard_ratio == pytest.approx(w, rel=1e-8)
        info = 2 * w / (1 + w) ** 2 + 2 * w / (1 + 2 * w) ** 2
        assert t.se == pytest.approx(1 / math.sqrt(info), rel=1e-8)
        assert r.wald.statistic == pytest.approx(math.log(w) ** 2 * info, rel=1e-8)
    assert logrank_test(time, event, group).chisq == pytest.approx(8 / 13, rel=1e-12)


def test_hand_calculation_tied_events_efron_and_breslow() -> None:
    # Four at risk at t=1, two of them (one a, one b) fail together; then one
    # b fails at t=2 with a and b at risk. At beta = 0 every w is 1:
    #   Breslow: both tied events see 4:          -(log 4 + log 4) - log 2
    #   Efron:   the second sees 4 - (1/2)*2 = 3: -(log 4 + log 3) - log 2
    time, event, group = [1, 1, 2, 2], [1, 1, 1, 0], ["a", "b", "b", "a"]
    bres = cox_ph(time, event, group, ties="breslow")
    efr = cox_ph(time, event, group, ties="efron")
    assert bres.loglik_null == pytest.approx(-(2 * math.log(4) + math.log(2)), rel=1e-12)
    assert efr.loglik_null == pytest.approx(-(math.log(4) + math.log(3) + math.log(2)), rel=1e-12)
    # Breslow score at 0: U = 1 + 1 - (2 * 2/4 + 1/2) = 1/2 (the log-rank O - E),
    #   I = 2 * (1/2)(1/2) + (1/2)(1/2) = 3/4, statistic (1/4)/(3/4) = 1/3.
    assert bres.score.statistic == pytest.approx(1 / 3, rel=1e-12)
    # Efron at 0: terms p_b = 2/4 and (2 - 1/2)/(4 - 1) = 1/2, then 1/2 at t=2:
    #   U = 2 - 3/2 = 1/2, I = 3 * 1/4 = 3/4: the same 1/3 here by symmetry.
    assert efr.score.statistic == pytest.approx(1 / 3, rel=1e-12)


def test_score_test_is_the_logrank_test_without_ties() -> None:
    rng = np.random.default_rng(11)
    n = 200
    group = rng.choice(np.array(["p", "q", "r"]), n)
    time = rng.exponential(5.0, n)  # continuous: no ties
    event = (rng.random(n) < 0.75).astype(int)
    lr = logrank_test(time, event, group)
    for ties in ("efron", "breslow"):
        r = cox_ph(time, event, group, ties=ties)
        assert r.score.statistic == pytest.approx(lr.chisq, rel=1e-9)
        assert r.score.df == lr.df == 2
    e, b = cox_ph(time, event, group), cox_ph(time, event, group, ties="breslow")
    assert [t.coef for t in e.terms] == pytest.approx([t.coef for t in b.terms], rel=1e-12)


def test_stratification() -> None:
    lung = DATASETS["lung"]
    plain = cox_ph(lung.time, lung.status, lung.sex)
    one = cox_ph(lung.time, lung.status, lung.sex, strata=np.zeros(len(lung)))
    assert one.term(2).coef == pytest.approx(plain.term(2).coef, rel=1e-12)
    assert one.strata == (0.0,) and plain.strata == ()
    # Two strata with the rows of the second shifted far in time: with one
    # baseline the shift matters, with a baseline per stratum it cannot.
    z = np.arange(len(lung)) % 2
    shifted = lung.time + 10_000 * z
    a = cox_ph(lung.time, lung.status, lung.sex, strata=z)
    b = cox_ph(shifted, lung.status, lung.sex, strata=z)
    c = cox_ph(shifted, lung.status, lung.sex)
    assert b.term(2).coef == pytest.approx(a.term(2).coef, rel=1e-12)
    assert abs(c.term(2).coef - a.term(2).coef) > 1e-3


def test_row_order_is_irrelevant() -> None:
    v = DATASETS["veteran"]
    perm = np.random.default_rng(5).permutation(len(v))
    a = cox_ph(v.time, v.status, v.celltype, strata=v.trt)
    b = cox_ph(v.time[perm], v.status[perm], v.celltype[perm], strata=v.trt[perm])
    assert [t.coef for t in b.terms] == pytest.approx([t.coef for t in a.terms], rel=1e-12)
    assert b.loglik == pytest.approx(a.loglik, rel=1e-12)


def test_conf_level_and_ties_are_carried() -> None:
    aml = DATASETS["aml"]
    r95 = cox_ph(aml.time, aml.status, aml.x)
    r90 = cox_ph(aml.time, aml.status, aml.x, conf_level=0.9, ties="BRESLOW")
    assert r90.conf_level == 0.9 and r90.ties == "breslow" and r95.ties == "efron"
    t = r90.term("Nonmaintained")
    z90 = 1.6448536269514722
    assert t.conf_low == pytest.approx(math.exp(t.coef - z90 * t.se), rel=1e-12)
    assert t.conf_high == pytest.approx(math.exp(t.coef + z90 * t.se), rel=1e-12)
    assert r95.term("Nonmaintained").conf_high > t.conf_high


# --------------------------------------------------------------------------- warnings


def test_no_events_in_a_level_warns_and_returns() -> None:
    d = DATASETS["aml_untreated"]
    r = cox_ph(d.time, d.status, d.group)
    assert r.converged and r.warning is not None
    assert r.warning == "Loglik converged before variable Untreated; coefficient may be infinite"
    t = r.term("Untreated")
    assert t.coef < -15 and t.conf_high is None and t.conf_low == 0.0
    # The other coefficient is unaffected: it equals the fit without those subjects.
    aml = DATASETS["aml"]
    ref = cox_ph(aml.time, aml.status, aml.x)
    assert r.term("Nonmaintained").coef == pytest.approx(ref.terms[0].coef, rel=1e-9)
    assert ref.warning is None


def test_running_out_of_iterations_warns() -> None:
    d = DATASETS["creep"]
    r = cox_ph(d.time, d.status, d.group)
    assert not r.converged and r.iterations == ITER_MAX
    assert r.warning == "Ran out of iterations and did not converge"


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "variable", "message"),
    [
        ({"group": ["a"] * 4}, "group", "at least two levels"),
        ({"event": [0, 0, 0, 0]}, "event", "no events"),
        ({"time": [1, 2, 3]}, None, "different lengths"),
        ({"time": [1.0, math.nan, 3.0, 4.0]}, "time", "missing \\(NaN\\) time"),
        ({"time": [1, -2, 3, 4]}, "time", "negative time"),
        ({"event": [1, 2, 0, 1]}, "event", "outside \\{0, 1\\}"),
        ({"reference": "c"}, "reference", "reference level not among"),
        ({"ties": "exact"}, "ties", "unknown method for tied event times"),
        ({"group": ["a", None, "b", "b"]}, "group", "missing group"),
        ({"strata": ["x", None, "x", "x"]}, "strata", "missing strata"),
        ({"strata": [1, 2]}, None, "different lengths"),
        ({"conf_level": 1.5}, "conf_level", "strictly between 0 and 1"),
        ({"time": [], "event": [], "group": []}, "time", "no rows"),
        # a only in stratum x, b only in stratum y: never at risk together.
        ({"strata": ["x", "y", "x", "y"]}, "group", "not estimable for b"),
    ],
)
def test_invalid_input(kwargs: dict[str, Any], variable: str | None, message: str) -> None:
    args: dict[str, Any] = {
        "time": [1, 2, 3, 4],
        "event": [1, 1, 0, 1],
        "group": ["a", "b", "a", "b"],
    }
    args.update(kwargs)
    time, event, group = args.pop("time"), args.pop("event"), args.pop("group")
    with pytest.raises(StatsInputError, match=message) as err:
        cox_ph(time, event, group, **args)
    assert err.value.variable == variable


def test_level_never_at_risk_at_an_event_is_an_error() -> None:
    # c's subjects leave before the first event: nothing to compare them with.
    with pytest.raises(StatsInputError, match="not estimable for c") as err:
        cox_ph([5, 6, 7, 8, 1, 2], [1, 1, 1, 0, 0, 0], ["a", "b", "a", "b", "c", "c"])
    assert "reference 'a'" in str(err.value)

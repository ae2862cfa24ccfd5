"""Calibration of the protocol model (eap.simulate.model) to the MM-024 publication.

``eap simulate calibrate`` runs two deterministic stages and writes
``src/eap/data/mm024_model.json`` (targets, loss, simulated means, parameters):

1. **Course parameters by simulated method of moments.** The progression,
   death, stop, continuation and consent parameters (:data:`COURSE_PARAMS`) are
   chosen to minimise

       loss = sum_k ((mean over R cohorts of statistic k - published k) / sd_k)^2

   over the statistics of :func:`course_statistics` (cohort sizes, disposition,
   deaths, Rd durations, follow-up and PFS medians, MM-021's own median PFS); sd_k is
   sqrt(published) for a count and 2 months for a median. Each evaluation simulates
   the same R random streams (common random numbers), so the loss is a deterministic
   function of the parameters; differential evolution (scipy, seeded) and then a
   compass search (:func:`compass_search`) reach the same point for a seed.
2. **AE rates by moment matching.** With the course fixed, for each decline of the
   AE probabilities over the cycles (:data:`AE_CYCLES_GRID`), each AE term's cycle-1
   probabilities solve, by bisection over the simulated numbers of cycles on Rd,
   mean_i(1 - prod_c (1 - p w(c))) = published incidence: grade 3-4 (Table 2), any
   grade (the most common TEAEs, else the term's any-grade incidence in
   eap/data/ae_terms.csv), and the grade 1-2 interruption probability from the AEs
   leading to interruption or reduction. Serious: the Table 3 count over the grade
   3-4 count (a serious term that Table 2 does not list gets its grade 3-4
   probability from the serious count, all serious). Then ``reduce_share`` and the
   unlisted terms' interruption probability are solved on the simulated cohorts so
   that the shares of patients with a reduction and with an interruption are the
   published ones; the decline kept is the one whose modification counts come
   closest to the publication's.

The auxiliary statistics read the model's own facts (documented progression, the
last assessment, death), following the ADTTE rules (PFS event: IMWG progression,
or death within 63 days of the last assessment; else censored at it). The
coverage check (eap.simulate.coverage) then measures the calibrated model through
eap's own derivations and report.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import differential_evolution

from eap.protocol import Protocol, load_protocol
from eap.simulate.course import CUTOFF, MONTH_DAYS
from eap.simulate.events import SPM_TERMS, ae_terms
from eap.simulate.model import (
    PARENT_N,
    ModelParams,
    Patient,
    TermRates,
    ae_weight,
    simulate_course,
    simulate_dosing,
)
from eap.simulate.targets import published
from eap.stats import kaplan_meier

# name -> (lower, upper): parameters are searched on the logit of their place in
# the interval, so every step stays inside it.
COURSE_PARAMS: dict[str, tuple[float, float]] = {
    "enrollment_shape": (0.5, 4.0),
    "pd_shape": (0.6, 3.0),
    "pd_shape_responder": (0.4, 3.0),
    "pd_scale_nonresponder": (60.0, 900.0),
    "pd_scale_responder": (200.0, 3000.0),
    "durable_share": (0.0, 1.0),
    "pd_shape_durable": (0.5, 4.0),
    "pd_scale_durable": (300.0, 4000.0),
    "death_before_pd": (0.001, 0.3),
    "death_after_pd": (0.02, 1.5),
    "death_after_early_pd": (0.02, 2.0),
    "post_pd_shape": (0.5, 4.0),
    "stop_other_mm021": (0.01, 1.0),
    "lost_on_rd": (0.001, 0.1),
    "clinical_pd": (0.0, 0.6),
    "clinical_pd_eap": (0.0, 0.9),
    "continue_after_pd": (0.0, 0.8),
    "continue_days": (14.0, 600.0),
    "consent_treatment": (0.5, 1.0),
    "consent_follow_up": (0.1, 1.0),
}
PFS_DEATH_WINDOW = 63  # days after the last assessment (the study's ADTTE rule)


def _months(days: float) -> float:
    return days / MONTH_DAYS


def _median(values: list[float]) -> float:
    return float(np.median(values)) if values else math.nan


def _km_median(times: list[float], events: list[int]) -> float:
    """Kaplan-Meier median (eap.stats); not reached is the longest time (a finite loss)."""
    if not times:
        return math.nan
    m = kaplan_meier(np.asarray(times), np.asarray(events)).curves[0].median.estimate
    return float(m) if m is not None else max(times)


def pfs(p: Patient) -> tuple[float, int]:
    """PFS days and event flag from the model's facts (ADTTE's rules, see module doc)."""
    cutoff = p.day_of(CUTOFF)
    end = p.stop_day if p.stop_day is not None else cutoff
    if p.pd_day is not None:
        return float(p.pd_day), 1
    if p.death_day is not None and p.death_day <= end + PFS_DEATH_WINDOW:
        return float(p.death_day), 1
    return float(end), 0


def course_statistics(parent: list[Patient], scale: int) -> dict[str, float]:
    """The publication's course figures from one simulated MM-021 trial and its EAP
    (counts per unit of scale). MM-021's own median PFS is that of all its patients:
    its analysis (median follow-up 15.2 months) is read here at the EAP's cutoff, which
    leaves a median near 8 months unchanged."""
    eap = [p for p in parent if p.group is not None]
    tc = [p for p in eap if p.group == "TC"]
    k = float(scale)

    def duration(p: Patient) -> float:
        last = p.stop_day if p.stop_day is not None else p.day_of(CUTOFF)
        return float(last)

    def follow_up(p: Patient) -> float:
        end = p.death_day or p.lost_day or p.day_of(CUTOFF)
        return float(end + p.enrl_offset)

    stopped = [p for p in tc if p.stop_day is not None]
    pd_stops = ("PROGRESSIVE DISEASE", "CLINICAL PROGRESSION")
    tc_pfs = [pfs(p) for p in tc]
    all_pfs = [pfs(p) for p in eap]
    mm021_pfs = [pfs(p) for p in parent]
    return {
        "n_treatment_cohort": len(tc) / k,
        "n_safety_follow_up": (len(eap) - len(tc)) / k,
        "tc_on_rd": (len(tc) - len(stopped)) / k,
        "tc_stopped_progression": sum(p.stop_reason in pd_stops for p in stopped) / k,
        "tc_stopped_death": sum(p.stop_reason == "DEATH" for p in stopped) / k,
        "tc_stopped_lost": sum(p.stop_reason == "LOST TO FOLLOW-UP" for p in stopped) / k,
        "deaths_safety": sum(p.death_day is not None for p in eap) / k,
        "deaths_treatment_cohort": sum(p.death_day is not None for p in tc) / k,
        "tc_over_108_weeks": sum(duration(p) > 756 for p in tc) / k,
        "duration_median_safety": _months(_median([duration(p) for p in eap])),
        "duration_median_treatment_cohort": _months(_median([duration(p) for p in tc])),
        "follow_up_median_safety": _months(_median([follow_up(p) for p in eap])),
        "follow_up_median_treatment_cohort": _months(_median([follow_up(p) for p in tc])),
        "pfs_median_safety": _months(_km_median([t for t, _ in all_pfs], [e for _, e in all_pfs])),
        "pfs_median_treatment_cohort": _months(
            _km_median([t for t, _ in tc_pfs], [e for _, e in tc_pfs])
        ),
        "pfs_median_mm021": _months(
            _km_median([t for t, _ in mm021_pfs], [e for _, e in mm021_pfs])
        ),
    }


def course_targets() -> dict[str, tuple[float, float]]:
    """Published value and its sd in the loss, per statistic of course_statistics."""
    pub = published()
    disp = pub["disposition_treatment_cohort_at_cutoff"]
    exp = pub["exposure"]
    t4 = pub["table4_efficacy_median_months_95ci"]
    mm021_pfs_ci = pub["cross_study"]["MM-021"]["median_pfs_months"]

    def count(n: float) -> tuple[float, float]:
        return float(n), max(1.0, math.sqrt(float(n)))

    reasons = disp["discontinued_reasons"]
    return {
        "n_treatment_cohort": count(pub["populations"]["treatment_cohort"]),
        "n_safety_follow_up": count(
            pub["populations"]["safety"] - pub["populations"]["treatment_cohort"]
        ),
        "tc_on_rd": count(disp["on_rd"]),
        "tc_stopped_progression": count(reasons["disease progression"]),
        "tc_stopped_death": count(reasons["death"]),
        "tc_stopped_lost": count(reasons["lost to follow-up"]),
        "deaths_safety": count(pub["deaths"]["safety"]["n"]),
        "deaths_treatment_cohort": count(pub["deaths"]["treatment_cohort"]["n"]),
        "tc_over_108_weeks": count(exp["treatment_cohort_over_108_weeks"]["n"]),
        "duration_median_safety": (exp["duration_months"]["safety"]["median"], 2.0),
        "duration_median_treatment_cohort": (
            exp["duration_months"]["treatment_cohort"]["median"],
            2.0,
        ),
        "follow_up_median_safety": (pub["follow_up_median_months"]["safety"], 1.5),
        "follow_up_median_treatment_cohort": (
            pub["follow_up_median_months"]["treatment_cohort"],
            1.5,
        ),
        "pfs_median_safety": (t4["safety"]["progression_free_survival"][0], 2.0),
        "pfs_median_treatment_cohort": (
            t4["treatment_cohort"]["progression_free_survival"][0],
            2.0,
        ),
        # MM-021's median PFS and its 95% CI (publication, Background): sd = CI width / 3.92.
        "pfs_median_mm021": (mm021_pfs_ci[0], (mm021_pfs_ci[2] - mm021_pfs_ci[1]) / 3.92),
    }


def simulate_parent(
    params: ModelParams, protocol: Protocol, seed: int, scale: int, dosing: bool = False
) -> list[Patient]:
    """Every MM-021 patient of one model cohort (the EAP's dosing only if ``dosing``)."""
    rng = np.random.default_rng([seed, 20])
    out = []
    for i in range(PARENT_N * scale):
        p = simulate_course(i, params, protocol, rng)
        if dosing and p.group is not None:
            simulate_dosing(p, params, protocol, rng)
        out.append(p)
    return out


def simulate_eap(
    params: ModelParams, protocol: Protocol, seed: int, scale: int, dosing: bool = False
) -> list[Patient]:
    """The EAP patients of one model cohort (course only unless ``dosing``)."""
    return [p for p in simulate_parent(params, protocol, seed, scale, dosing) if p.group]


def mean_statistics(
    params: ModelParams, protocol: Protocol, seeds: list[int], scale: int
) -> dict[str, float]:
    runs = [course_statistics(simulate_parent(params, protocol, s, scale), scale) for s in seeds]
    out = {}
    for k in runs[0]:
        # A median no cohort could estimate stays NaN (the loss then penalises it).
        values = [r[k] for r in runs if not math.isnan(r[k])]
        out[k] = float(np.mean(values)) if values else math.nan
    return out


def loss(stats: dict[str, float], targets: dict[str, tuple[float, float]]) -> float:
    total = 0.0
    for k, (target, sd) in targets.items():
        v = stats[k]
        total += 100.0 if math.isnan(v) else ((v - target) / sd) ** 2
    return total


def _params(base: ModelParams, x: np.ndarray) -> ModelParams:
    return base.with_values(**{n: float(v) for n, v in zip(COURSE_PARAMS, x, strict=True)})


def fit_course(
    start: ModelParams,
    protocol: Protocol,
    seeds: list[int],
    scale: int,
    generations: int,
    seed: int,
    progress: Callable[[int, float], None] | None = None,
) -> tuple[ModelParams, float]:
    """Differential evolution (scipy, seeded) over :data:`COURSE_PARAMS` within their
    bounds, from a Sobol population that includes ``start``; the loss is a step
    function of the parameters (counts), which derivative-free population search
    handles where a simplex stalls."""
    targets = course_targets()
    generation = [0]

    def objective(x: np.ndarray) -> float:
        return loss(mean_statistics(_params(start, x), protocol, seeds, scale), targets)

    def report(xk: np.ndarray, convergence: float = 0.0) -> None:
        del convergence
        generation[0] += 1
        if progress:
            progress(generation[0], objective(xk))

    result = differential_evolution(
        objective,
        list(COURSE_PARAMS.values()),
        seed=seed,
        maxiter=generations,
        popsize=8,
        tol=0.0,
        polish=False,
        init="sobol",
        x0=np.asarray([getattr(start, n) for n in COURSE_PARAMS]),
        updating="immediate",
        callback=report,
    )
    return _params(start, np.asarray(result.x)), float(result.fun)


def compass_search(
    objective: Callable[[np.ndarray], float],
    x0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    rounds: int,
    first_step: float = 0.2,
    progress: Callable[[int, float], None] | None = None,
) -> tuple[np.ndarray, float]:
    """Deterministic pattern search within the bounds: each coordinate in turn tries a
    step up, then down, and keeps the first that lowers the objective; a round with no
    improvement halves every step (first step: ``first_step`` of the bound's width).

    Differential evolution finds the region; this walks down its floor, which a
    population search on a step-function loss approaches only slowly.

    >>> x, v = compass_search(lambda x: float(abs(x[0] - 0.3)), np.zeros(1),
    ...                       np.full(1, -1.0), np.ones(1), rounds=10)
    >>> round(float(x[0]), 2), round(v, 2)
    (0.3, 0.0)
    """
    x = np.asarray(x0, dtype=np.float64).copy()
    best = objective(x)
    step = first_step * (upper - lower)
    for n in range(1, rounds + 1):
        improved = False
        for i in range(len(x)):
            for sign in (1.0, -1.0):
                y = x.copy()
                y[i] = min(upper[i], max(lower[i], x[i] + sign * step[i]))
                if y[i] == x[i]:
                    continue
                value = objective(y)
                if value < best:
                    best, x, improved = value, y, True
                    break
        if not improved:
            step = step / 2
        if progress:
            progress(n, best)
    return x, best


def polish_course(
    start: ModelParams,
    protocol: Protocol,
    seeds: list[int],
    scale: int,
    rounds: int,
    progress: Callable[[int, float], None] | None = None,
) -> tuple[ModelParams, float]:
    """:func:`compass_search` over :data:`COURSE_PARAMS` from ``start``."""
    targets = course_targets()

    def objective(x: np.ndarray) -> float:
        return loss(mean_statistics(_params(start, x), protocol, seeds, scale), targets)

    bounds = np.asarray(list(COURSE_PARAMS.values()), dtype=np.float64)
    x0 = np.asarray([getattr(start, n) for n in COURSE_PARAMS], dtype=np.float64)
    x, value = compass_search(objective, x0, bounds[:, 0], bounds[:, 1], rounds, progress=progress)
    return _params(start, x), value


def _solve(f: Callable[[float], float], target: float, hi: float = 1.0, steps: int = 50) -> float:
    """The p in [0, hi] with f(p) = target for an increasing f (bisection)."""
    if target <= f(0.0):
        return 0.0
    if target >= f(hi):
        return hi
    lo = 0.0
    for _ in range(steps):
        mid = (lo + hi) / 2
        if f(mid) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def ae_targets() -> dict[str, dict[str, float]]:
    """Per term: incidence of any grade, grade 3-4, serious, and of an interruption or
    reduction it led to (proportions of the safety population)."""
    pub = published()["safety_population_ae"]
    n = float(published()["populations"]["safety"])
    g34 = {r["term"]: r["n"] / n for r in pub["table2_grade3_4_ge3pct"]["rows"]}
    ser = {r["term"]: r["n"] / n for r in pub["table3_serious"]["rows"]}
    anyg = {r["term"]: r["pct"] / 100 for r in pub["most_common_teae_any_grade"]}
    act = {
        r["term"]: r["pct"] / 100
        for r in pub["most_common_ae_leading_to_interruption_or_reduction"]
    }
    out: dict[str, dict[str, float]] = {}
    for t in ae_terms():
        if t.term in SPM_TERMS:
            continue
        high = g34.get(t.term, 0.0)
        serious = ser.get(t.term, 0.0)
        if serious > high:
            high = serious  # a serious term Table 2 does not list: its grade 3-4 are serious
        tail = t.tail_pct / 100 if t.tail_pct is not None else 0.0
        any_grade = max(anyg.get(t.term, tail), 2.5 * high if t.term not in anyg else 0.0, high)
        out[t.term] = {
            "any": any_grade,
            "g34": high,
            "serious": serious,
            "action": act.get(t.term, 0.0),
            "related": t.related_prob,
        }
    return out


def _acting(
    incidence: Callable[[float, float], float], p12_on_dosing_day: float, related: float, a: float
) -> float:
    """Share of patients with >= 1 AE of a term that interrupted or reduced the dose,
    when a grade 1-2 episode on a dosing day acts with probability ``a``."""
    return incidence(p12_on_dosing_day * a, related)


def fit_ae_rates(params: ModelParams, protocol: Protocol, seeds: list[int]) -> ModelParams:
    """Per-cycle AE probabilities that give the published incidences on average, for
    each decline over the cycles in :data:`AE_CYCLES_GRID`; the decline kept is the one
    whose lenalidomide modifications come closest to the publication's
    (:func:`modification_statistics`)."""
    best: tuple[float, ModelParams] | None = None
    for ae_cycles in AE_CYCLES_GRID:
        fitted = _fit_ae_rates(replace(params, ae_cycles=ae_cycles), protocol, seeds)
        eap = [p for s in seeds for p in simulate_eap(fitted, protocol, s, 1, True)]
        value = loss(modification_statistics(eap, len(seeds)), modification_targets())
        if best is None or value < best[0]:
            best = (value, fitted)
    assert best is not None
    return best[1]


def _fit_ae_rates(params: ModelParams, protocol: Protocol, seeds: list[int]) -> ModelParams:
    """The moment equations of stage 2 for the decline ``params.ae_cycles``."""
    regimen = protocol.regimen
    cycles = np.asarray(
        [
            math.ceil(((p.stop_day or p.day_of(CUTOFF)) + 1) / regimen.cycle_days)
            for s in seeds
            for p in simulate_eap(params, protocol, s, 1)
        ],
        dtype=np.int64,
    )
    # weights[i, c - 1]: cycle c's probability relative to cycle 1, 0 past patient i's cycles
    numbers = np.arange(1, int(cycles.max(initial=1)) + 1)
    weights = np.where(
        numbers[None, :] <= cycles[:, None],
        np.asarray(ae_weight(numbers, params.ae_cycles))[None, :],
        0.0,
    )
    # Onset on a lenalidomide day: its days of the cycle over the cycle's length.
    drug = regimen.lenalidomide
    dosing_share = (drug.last_day - drug.first_day + 1) / regimen.cycle_days

    def incidence(p: float, other: float = 0.0) -> float:
        """Share of patients with >= 1 episode: cycle-1 probability p, alongside an
        independent cycle-1 probability ``other`` of the same outcome."""
        none = np.log1p(-np.minimum(p * weights, 1.0)) + np.log1p(-np.minimum(other * weights, 1.0))
        return float(np.mean(1.0 - np.exp(none.sum(axis=1))))

    terms: dict[str, TermRates] = {}
    for term, t in ae_targets().items():
        p34 = _solve(incidence, t["g34"], hi=0.5)
        p12 = _solve(partial(incidence, other=p34), t["any"], 0.5)
        related_acts = p34 * t["related"] * dosing_share
        act12 = _solve(partial(_acting, incidence, p12 * dosing_share, related_acts), t["action"])
        serious = min(1.0, t["serious"] / t["g34"]) if t["g34"] > 0 else 0.0
        terms[term] = TermRates(p12, p34, serious, t["related"], act12)
    fitted = _fit_reduce_share(replace(params, terms=terms), protocol, seeds)
    return _fit_other_interruptions(fitted, protocol, seeds)


def reduction_target() -> float:
    """Share of the safety population whose lenalidomide was reduced (with or without
    an interruption) for a TEAE."""
    pub = published()["safety_population_ae"]["lenalidomide_modification_due_to_teae"]["safety"]
    n = pub["reduction"]["n"] + pub["interruption_and_reduction"]["n"]
    return float(n) / float(published()["populations"]["safety"])


def _fit_reduce_share(params: ModelParams, protocol: Protocol, seeds: list[int]) -> ModelParams:
    """``reduce_share`` solved so that the share of patients with a reduction is the
    published one (the model simulated with dosing)."""

    def share(a: float) -> float:
        eap = [
            p
            for s in seeds
            for p in simulate_eap(replace(params, reduce_share=a), protocol, s, 1, True)
        ]
        return float(np.mean([reduced(p) for p in eap]))

    return replace(params, reduce_share=_solve(share, reduction_target(), steps=16))


# Declines searched (cycles; see eap.simulate.model.ae_weight): from steep to nearly flat.
AE_CYCLES_GRID = (1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 48.0, 1000.0)
MODIFICATIONS = ("interruption", "reduction", "interruption_and_reduction")


def modification_targets() -> dict[str, tuple[float, float]]:
    """The publication's lenalidomide modifications for a TEAE, patients per category
    (interruption only, reduction only, both) in each population, sd sqrt(n)."""
    pub = published()["safety_population_ae"]["lenalidomide_modification_due_to_teae"]
    return {
        f"{pop}.{key}": (float(pub[pop][key]["n"]), max(1.0, math.sqrt(pub[pop][key]["n"])))
        for pop in ("safety", "treatment_cohort")
        for key in MODIFICATIONS
    }


def modification_statistics(eap: list[Patient], cohorts: int) -> dict[str, float]:
    """Mean patients per cohort in each modification category (AEACN DRUG INTERRUPTED /
    DOSE REDUCED on a treatment-emergent AE), as ADAE's ACTLEN counts them."""
    out = {}
    for pop, members in (
        ("safety", eap),
        ("treatment_cohort", [p for p in eap if p.group == "TC"]),
    ):
        flags = [(interrupted(p), reduced(p)) for p in members]
        counts = {
            "interruption": sum(i and not r for i, r in flags),
            "reduction": sum(r and not i for i, r in flags),
            "interruption_and_reduction": sum(i and r for i, r in flags),
        }
        out.update({f"{pop}.{k}": v / cohorts for k, v in counts.items()})
    return out


def interrupted(p: Patient) -> bool:
    """An AE that interrupted lenalidomide (AEACN DRUG INTERRUPTED), as ADAE's ACTLEN
    counts it for the publication's "interruption" rows."""
    return any(e.action == "DRUG INTERRUPTED" for e in p.episodes)


def reduced(p: Patient) -> bool:
    """An AE that reduced lenalidomide (AEACN DOSE REDUCED)."""
    return any(e.action == "DOSE REDUCED" for e in p.episodes)


def interruption_target() -> float:
    """Share of the safety population whose lenalidomide was interrupted (with or
    without a reduction) for a TEAE."""
    pub = published()["safety_population_ae"]["lenalidomide_modification_due_to_teae"]["safety"]
    n = pub["interruption"]["n"] + pub["interruption_and_reduction"]["n"]
    return float(n) / float(published()["populations"]["safety"])


def _fit_other_interruptions(
    params: ModelParams, protocol: Protocol, seeds: list[int]
) -> ModelParams:
    """One interruption probability for grade 1-2 AEs of the terms the publication does
    not list among those leading to interruption, solved so that the share of patients
    with an interruption is the published one (the model simulated with dosing)."""
    listed = {
        r["term"]
        for r in published()["safety_population_ae"][
            "most_common_ae_leading_to_interruption_or_reduction"
        ]
    }

    def with_other(a: float) -> ModelParams:
        terms = {k: v if k in listed else replace(v, act12=a) for k, v in params.terms.items()}
        return replace(params, terms=terms)

    def share(a: float) -> float:
        eap = [p for s in seeds for p in simulate_eap(with_other(a), protocol, s, 1, True)]
        return float(np.mean([interrupted(p) for p in eap]))

    return with_other(_solve(share, interruption_target(), steps=16))


def calibrate(
    seed: int = 2014,
    replicates: int = 8,
    scale: int = 2,
    generations: int = 10,
    rounds: int = 12,
    start: ModelParams | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Both stages; the document written to mm024_model.json."""
    say = progress or (lambda _: None)
    protocol = load_protocol()
    seeds = [seed * 1000 + r for r in range(replicates)]
    base = start or ModelParams()
    say(
        f"course: differential evolution over {len(COURSE_PARAMS)} parameters, "
        f"{replicates} cohorts of scale {scale} per evaluation"
    )
    fitted, value = fit_course(
        base,
        protocol,
        seeds,
        scale,
        generations,
        seed,
        lambda n, v: say(f"  generation {n}: loss {v:.3f}"),
    )
    say(f"course: compass search, {rounds} rounds")
    fitted, value = polish_course(
        fitted, protocol, seeds, scale, rounds, lambda n, v: say(f"  round {n}: loss {v:.3f}")
    )
    say("AE rates: moment matching per term")
    fitted = fit_ae_rates(fitted, protocol, seeds)
    stats = mean_statistics(fitted, protocol, seeds, scale)
    targets = course_targets()
    return {
        "about": "Parameters of the MM-024 protocol model (eap.simulate.model), "
        "written by `eap simulate calibrate`; see docs/virtual-cohort.md.",
        "procedure": {
            "seed": seed,
            "replicates": replicates,
            "scale": scale,
            "generations": generations,
            "rounds": rounds,
            "method": "simulated method of moments: differential evolution (scipy, seeded, "
            "popsize 8, Sobol start) then a compass search, with common random numbers; "
            "AE rates by moment matching",
        },
        "loss": round(value, 6),
        "targets": {
            k: {"published": t, "sd": sd, "simulated_mean": round(stats[k], 4)}
            for k, (t, sd) in targets.items()
        },
        "parameters": fitted.to_json(),
    }


def write(doc: dict[str, Any], path: Path) -> None:
    doc = {k: v for k, v in doc.items() if v is not None}
    path.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n", encoding="utf-8")

"""The protocol model of MM-021 and MM-024: each patient simulated through the protocol's rules.

Where the exact mode (``eap simulate``) places every published count, this model
lets them emerge. Every MM-021 patient (199 per unit of scale) is followed from
the first Rd dose, cycle by cycle on the protocol's calendar:

* **Disease.** A latent progression time (Weibull; responders, with the MM-021
  response rate, have their own shape and scale, and a share of them a durable
  response with a third) is found at the next scheduled IMWG
  assessment (day 1 of each 28-day cycle from cycle 2). The investigator stops Rd
  there, or (``clinical_pd``; ``clinical_pd_eap`` in the Treatment Phase) stops
  it for progression judged clinically without an IMWG PD, or
  (``continue_after_pd``) keeps Rd a while after a documented PD.
* **Death.** One hazard before progression, another after it, higher after an
  early relapse (a progression within the first year of Rd, :data:`EARLY_RELAPSE_DAYS`);
  survival after progression is Weibull (``post_pd_shape``) with that rate as scale;
  the cause is drawn from the causes of that context (:data:`CAUSES_BEFORE_PD`,
  :data:`CAUSES_AFTER_PD`).
* **Other stops in MM-021.** Withdrawal, physician decision and toxicity (a
  hazard while on Rd in MM-021), and loss to follow-up while on Rd.
* **Rollover.** At the patient's EAP assessment (consent between 2012-09-01 and
  2012-12-30) :func:`eap.protocol.decide_rollover` decides the phase from the
  facts the model produced: progression-free and on Rd for at least a year gives
  the Treatment Phase; stopped Rd or progressed gives the Safety Follow-Up Phase;
  a stop for toxicity excludes. Consent is a probability per phase; a patient who
  withdrew from MM-021 is not asked. Patients on Rd
  who do not enter the Treatment Phase stop Rd when MM-021 closes (their
  assessment date). So 80 EAP patients and the 41/39 split are outcomes.
* **Dosing and toxicity.** Lenalidomide on the renal band's days, dexamethasone
  on its days. In each cycle every AE term occurs at grade 1-2 and at grade 3-4
  with its own probability (:class:`TermRates`), falling with the cycle number
  (:func:`ae_weight`). A related grade 3-4 AE on a
  dosing day interrupts lenalidomide until it resolves to grade <= 2, and dosing
  resumes one rung down the protocol's ladder (the USPI rule of
  ``[dose_reduction]``) with probability ``reduce_share``, else at the same dose
  (the investigator's judgement); the first neutropenia resumes at the same dose; one in
  the rest days reduces the next cycle without an interruption. A grade 1-2 AE
  may interrupt at the investigator's discretion (``act12``). AE-driven stops
  happen only in MM-021 (the EAP had none).
* **Follow-up.** After Rd, survival follow-up every 4 months +/- 7 days from
  entry into the Safety Follow-Up Phase until death or the cutoff; second
  primary malignancies at their own hazard from the first dose to the cutoff.

The parameters live in ``src/eap/data/mm024_model.json``, written by
``eap simulate calibrate`` (eap.simulate.calibrate). docs/virtual-cohort.md
describes the model and its calibration.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from eap.errors import EapError
from eap.protocol import Protocol, decide_rollover
from eap.protocol.eligibility import DiscontinuationReason, Outcome, RolloverFacts
from eap.simulate.course import CUTOFF, EAP_START, MM021_FIRST_DOSE, MM021_LAST_DOSE
from eap.simulate.events import SPM_TERMS, TE_DAYS
from eap.simulate.timeline import ENROLLMENT_WINDOW_DAYS, EOT_VISIT_DAYS

PARENT_N = 199  # MM-021 enrolled and treated (publication, Background)
YEAR = 365.25
CONSENT_WINDOW_DAYS = (120, 180)  # Treatment Phase, Safety Follow-Up Phase
NEUTROPENIA_TERMS = ("Neutropenia", "Decreased neutrophil count")
# Relapse within a year of starting therapy marks aggressive disease in myeloma (an
# IMWG high-risk feature): survival after it is shorter than after a later relapse.
EARLY_RELAPSE_DAYS = 365

# Causes of death by context (*invented* where the paper is silent; its named causes
# are multiple myeloma 9, disease progression 5 and lung infection 4 of 30).
CAUSES_BEFORE_PD = {
    "cerebral infarction": 0.2,
    "lung infection": 0.2,
    "not specified": 0.15,
    "cardiac failure": 0.15,
    "pulmonary embolism": 0.1,
    "gastrointestinal hemorrhage": 0.1,
    "septic shock": 0.1,
}
CAUSES_AFTER_PD = {
    "multiple myeloma": 0.36,
    "disease progression": 0.2,
    "lung infection": 0.1,
    "plasmacytic leukemia": 0.06,
    "renal failure": 0.06,
    "respiratory failure": 0.06,
    "sepsis": 0.06,
    "unknown": 0.05,
    "cerebral hemorrhage": 0.05,
}
# Causes that are adverse events: a death from one of them within the
# treatment-emergent window is recorded as a fatal AE of that term.
FATAL_AE_TERMS = {
    "lung infection": "Lung infection",
    "cerebral infarction": "Cerebral infarction",
    "cardiac failure": "Cardiac failure",
}


@dataclass(frozen=True)
class TermRates:
    """Per-cycle probabilities of one AE term while on Rd.

    ``p12`` / ``p34``: a new grade 1-2 / grade 3-4 episode in a cycle; ``serious``:
    an episode of grade 3-4 is serious; ``related``: a grade 3-4 episode is related
    to lenalidomide (only related ones interrupt and reduce); ``act12``: a grade
    1-2 episode on a dosing day interrupts lenalidomide.
    """

    p12: float
    p34: float
    serious: float = 0.0
    related: float = 0.5
    act12: float = 0.0


@dataclass(frozen=True)
class ModelParams:
    """Every parameter of the model; rates are per year, times in days."""

    response_rate: float = 0.476  # MM-021 overall response (publication, Background)
    # The defaults are the calibration's starting point (eap.simulate.calibrate).
    enrollment_shape: float = 0.938  # first dose = window start + span x U^shape
    pd_shape: float = 2.52  # Weibull shape of the latent progression, non-responders
    pd_shape_responder: float = 2.048  # the same, responders
    pd_scale_nonresponder: float = 232.8
    # A share of the responders whose response is durable, with their own Weibull.
    durable_share: float = 0.2
    pd_shape_durable: float = 1.15
    pd_scale_durable: float = 3656.0
    pd_scale_responder: float = 500.0
    death_before_pd: float = 0.0703
    death_after_pd: float = 0.168  # after a progression later than EARLY_RELAPSE_DAYS
    death_after_early_pd: float = 1.247  # after an early relapse
    # Survival after progression is Weibull with this shape, its scale 1 / the rate
    # above (shape 1: that constant hazard; above 1: few deaths soon after a
    # progression, more later, as the lines of therapy after it run out).
    post_pd_shape: float = 1.525
    stop_other_mm021: float = 0.01
    toxicity_share: float = 0.3  # of the MM-021 stops for other reasons
    lost_on_rd: float = 0.0137
    clinical_pd: float = 0.0
    clinical_pd_eap: float = 0.3982  # the same, in the Treatment Phase
    continue_after_pd: float = 0.005
    continue_days: float = 124.2
    consent_treatment: float = 0.9875
    consent_follow_up: float = 0.7332
    spm_rate: float = 0.007
    renal_30_60: float = 0.1125  # CrCl 30 to < 60 (10 mg); invented, as in the exact mode
    renal_below_30: float = 0.0125  # CrCl < 30 (15 mg every other day)
    resolve_days: float = 10.0  # mean time for a grade 3-4 AE to resolve to <= grade 2
    # AE probabilities fall with time on Rd: cycle c has the cycle-1 probability times
    # ae_cycles / (ae_cycles + c - 1); infinity keeps them constant (ae_weight).
    ae_cycles: float = math.inf
    # Share of the related grade 3-4 AEs the rule would reduce for after which the
    # investigator did reduce (the others resume at the same dose after the hold).
    reduce_share: float = 1.0
    terms: dict[str, TermRates] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["terms"] = {k: asdict(v) for k, v in sorted(self.terms.items())}
        return out

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ModelParams:
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise EapError("unknown model parameters", variable=", ".join(unknown))
        terms = {k: TermRates(**v) for k, v in doc.get("terms", {}).items()}
        return cls(**{**{k: v for k, v in doc.items() if k != "terms"}, "terms": terms})

    def with_values(self, **values: Any) -> ModelParams:
        return replace(self, **values)


MODEL_FILE = "mm024_model.json"


@cache
def calibrated() -> ModelParams:
    """The committed, calibrated parameters (src/eap/data/mm024_model.json)."""
    text = resources.files("eap.data").joinpath(MODEL_FILE).read_text(encoding="utf-8")
    return ModelParams.from_json(json.loads(text)["parameters"])


def load_params(path: Path | None) -> ModelParams:
    if path is None:
        return calibrated()
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise EapError(f"cannot read model parameters {path}: {exc}", file=str(path)) from exc
    return ModelParams.from_json(doc.get("parameters", doc))


# --------------------------------------------------------------------------- records


@dataclass
class AeEpisode:
    """One AE episode: term, grade, onset and end day (day 1 = first dose), action."""

    term: str
    grade: int
    start: int
    end: int
    serious: bool
    related: bool
    action: str  # DOSE NOT CHANGED, DRUG INTERRUPTED, DOSE REDUCED, NOT APPLICABLE
    spm: bool = False
    fatal: bool = False


@dataclass
class Patient:
    """One simulated MM-021 patient: dates as day numbers from the first dose (day 1)."""

    index: int
    trtsdt: dt.date
    enrl_offset: int
    start_dose: float
    step: int  # 1 daily, 2 every other day
    responder: bool
    response_day: int | None = None
    pd_day: int | None = None  # documented IMWG progression (an assessment day)
    clinical_stop: bool = False
    stop_day: int | None = None  # last dose; None while on Rd at the cutoff
    stop_reason: str | None = None
    eot_day: int | None = None
    death_day: int | None = None
    death_cause: str | None = None
    lost_day: int | None = None
    group: str | None = None  # TC, SFU, or None (not in the EAP)
    consent_day: int | None = None
    sfu_day: int | None = None
    last_assessment: int | None = None
    # dosing: planned lenalidomide days (0-based offsets), their cycles, held mask,
    # reductions (indices into dosed days), dexamethasone (0-based day, cycle) rows.
    # NumPy arrays: a cohort holds millions of dosing days, which as Python ints
    # would cost 36 bytes each and scatter over the heap.
    len_days: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    len_cycles: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    held: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, np.bool_))
    reductions: list[int] = field(default_factory=list)
    dex_days: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    episodes: list[AeEpisode] = field(default_factory=list)

    def date(self, day: int) -> dt.date:
        return self.trtsdt + dt.timedelta(days=day - 1)

    def day_of(self, date: dt.date) -> int:
        return (date - self.trtsdt).days + 1


def _weibull(rng: np.random.Generator, shape: float, scale: float) -> float:
    return float(scale * (-math.log(1.0 - rng.random())) ** (1.0 / shape))


def _exponential_days(rng: np.random.Generator, per_year: float) -> float:
    if per_year <= 0:
        return math.inf
    return float(rng.exponential(YEAR / per_year))


def _cause(rng: np.random.Generator, causes: dict[str, float]) -> str:
    names = list(causes)
    p = np.asarray(list(causes.values()), dtype=np.float64)
    return str(names[int(rng.choice(len(names), p=p / p.sum()))])


def _documentation_day(t_pd: float, cycle_days: int) -> int:
    """The first scheduled IMWG assessment (day 1 of a cycle from cycle 2: day 1 + c k,
    k >= 1, c the cycle length) on or after ``t_pd``."""
    k = max(1, math.ceil((t_pd - 1.0) / cycle_days))
    return 1 + cycle_days * k


def simulate_course(
    index: int, params: ModelParams, protocol: Protocol, rng: np.random.Generator
) -> Patient:
    """One patient's course through MM-021 and, if the protocol admits them, MM-024."""
    p = params
    span = (MM021_LAST_DOSE - MM021_FIRST_DOSE).days
    # First doses over MM-021's dosing window, front-loaded for enrollment_shape > 1.
    offset = int(span * rng.random() ** p.enrollment_shape)
    trtsdt = MM021_FIRST_DOSE + dt.timedelta(days=offset)
    u_renal = rng.random()
    if u_renal < p.renal_below_30:
        dose, step = 15.0, 2
    elif u_renal < p.renal_below_30 + p.renal_30_60:
        dose, step = 10.0, 1
    else:
        dose, step = 25.0, 1
    pat = Patient(
        index=index,
        trtsdt=trtsdt,
        enrl_offset=int(rng.integers(0, ENROLLMENT_WINDOW_DAYS + 1)),
        start_dose=dose,
        step=step,
        responder=bool(rng.random() < p.response_rate),
    )
    cutoff_day = pat.day_of(CUTOFF)
    durable = bool(rng.random() < p.durable_share)
    if pat.responder and durable:
        t_pd = _weibull(rng, p.pd_shape_durable, p.pd_scale_durable)
    elif pat.responder:
        t_pd = _weibull(rng, p.pd_shape_responder, p.pd_scale_responder)
    else:
        t_pd = _weibull(rng, p.pd_shape, p.pd_scale_nonresponder)
    t_death_pre = _exponential_days(rng, p.death_before_pd)
    early = t_pd <= EARLY_RELAPSE_DAYS
    post_rate = p.death_after_early_pd if early else p.death_after_pd
    t_death_post = _weibull(rng, p.post_pd_shape, YEAR / post_rate) if post_rate > 0 else math.inf
    death = t_death_pre if t_death_pre < t_pd else t_pd + t_death_post
    t_other = _exponential_days(rng, p.stop_other_mm021)
    t_lost = _exponential_days(rng, p.lost_on_rd)
    u_clinical = rng.random()
    clinical = bool(u_clinical < p.clinical_pd)
    keep_days = int(rng.exponential(p.continue_days)) if rng.random() < p.continue_after_pd else 0
    consent_tc = bool(rng.random() < p.consent_treatment)
    consent_sfu = bool(rng.random() < p.consent_follow_up)
    toxicity = bool(rng.random() < p.toxicity_share)
    other_reason = str(rng.choice(["WITHDRAWAL BY SUBJECT", "PHYSICIAN DECISION"]))
    cycle_days = protocol.regimen.cycle_days
    response_day = 1 + cycle_days * int(rng.integers(1, 4)) if pat.responder else None
    consent_date = EAP_START + dt.timedelta(days=int(rng.integers(0, CONSENT_WINDOW_DAYS[0] + 1)))
    consent_day = pat.day_of(consent_date)
    # A zero hazard (a what-if) leaves no death at all.
    death_day = math.ceil(death) if math.isfinite(death) else cutoff_day + 1
    if death_day <= cutoff_day:
        pat.death_day = death_day
        pat.death_cause = _cause(rng, CAUSES_BEFORE_PD if death < t_pd else CAUSES_AFTER_PD)

    # Progression: documented at the next assessment, or judged clinically there.
    assess_pd = _documentation_day(t_pd, protocol.regimen.cycle_days)

    def progression_stop(clinical: bool) -> tuple[float, str]:
        if assess_pd > cutoff_day:  # found after the cutoff: not in these data
            return math.inf, "PROGRESSIVE DISEASE"
        if clinical:
            return float(assess_pd - 1), "CLINICAL PROGRESSION"
        return float(assess_pd - 1 + keep_days), "PROGRESSIVE DISEASE"

    pd_stop, pd_reason = progression_stop(clinical)
    # Stops while on Rd, in MM-021 (before the EAP assessment) and after it.
    mm021 = [
        (float(death_day), "DEATH"),
        (t_lost, "LOST TO FOLLOW-UP"),
        (t_other, "ADVERSE EVENT" if toxicity else other_reason),
        (float(pd_stop), pd_reason),
    ]
    when, why = min(mm021, key=lambda c: c[0])
    stop: int | None
    reason: str | None
    # A stop on the day of the EAP assessment is still MM-021's.
    if when <= consent_day and when <= cutoff_day:
        stop, reason = math.ceil(when), why
    else:
        progressed = not clinical and assess_pd <= consent_day
        facts = RolloverFacts(
            usubjid=str(index),
            assessment_date=consent_date,
            consent_signed=consent_tc,
            lenalidomide_start_date=trtsdt,
            progressed=progressed,
            discontinued=False,
            hypersensitivity_lenalidomide=False,
            hypersensitivity_dexamethasone=False,
            progression_date=pat.date(assess_pd) if progressed else None,
        )
        if consent_day <= cutoff_day and (
            decide_rollover(protocol, facts).outcome is Outcome.TREATMENT
        ):
            pat.group, pat.consent_day = "TC", consent_day
            # In the Treatment Phase a progression is judged clinically at its own rate.
            clinical = bool(u_clinical < p.clinical_pd_eap)
            eap = [mm021[0], mm021[1], progression_stop(clinical)]
            when, why = min(eap, key=lambda c: c[0])
            stop, reason = (math.ceil(when), why) if when <= cutoff_day else (None, None)
        else:
            # MM-021 closes for this patient: Rd stops the day before the assessment.
            stop = min(consent_day, cutoff_day) - 1
            reason = "PROGRESSIVE DISEASE" if progressed else "PHYSICIAN DECISION"
    if stop is not None and reason == "DEATH":
        stop = max(1, stop - 1)  # the last dose the day before death
    last_on_rd = cutoff_day if stop is None else stop
    if not clinical and assess_pd <= min(last_on_rd + 1, cutoff_day):
        pat.pd_day = assess_pd
    pat.clinical_stop = reason == "CLINICAL PROGRESSION"
    before_pd = pat.pd_day is None or (response_day or 0) < pat.pd_day
    if response_day is not None and response_day <= last_on_rd and before_pd:
        pat.response_day = response_day
    pat.stop_day, pat.stop_reason = stop, reason
    _rollover_after_stop(pat, protocol, consent_date, consent_sfu, cutoff_day, rng)
    return pat


def _rollover_after_stop(
    pat: Patient,
    protocol: Protocol,
    consent_date: dt.date,
    consent_sfu: bool,
    cutoff_day: int,
    rng: np.random.Generator,
) -> None:
    """End of treatment, entry into the Safety Follow-Up Phase, or no EAP at all."""
    if pat.stop_day is None:
        return
    stop = pat.stop_day
    if pat.stop_reason == "DEATH":
        pat.eot_day = pat.death_day
    else:
        visit = stop + int(rng.integers(EOT_VISIT_DAYS[0], EOT_VISIT_DAYS[1] + 1))
        floor = pat.pd_day if pat.pd_day is not None else 0
        pat.eot_day = min(cutoff_day, max(visit, floor))
        if pat.death_day is not None:
            pat.eot_day = min(pat.eot_day, pat.death_day)
    if pat.stop_reason == "LOST TO FOLLOW-UP":
        pat.lost_day = pat.eot_day
        # Nothing is known of a patient after the loss, a later death included.
        if pat.death_day is not None and pat.lost_day is not None and pat.death_day > pat.lost_day:
            pat.death_day, pat.death_cause = None, None
    if pat.group == "TC":
        if pat.stop_reason not in ("DEATH", "LOST TO FOLLOW-UP") and pat.eot_day is not None:
            entry = pat.eot_day + 1
            if entry <= cutoff_day and (pat.death_day is None or entry < pat.death_day):
                pat.sfu_day = entry
        return
    # Stopped in MM-021: the protocol decides at the EAP assessment.
    window = CONSENT_WINDOW_DAYS[1]
    assess = max(
        consent_date,
        EAP_START + dt.timedelta(days=int(rng.integers(0, window + 1))),
        pat.date(pat.eot_day or stop) + dt.timedelta(days=1),
    )
    day = pat.day_of(assess)
    alive = pat.death_day is None or pat.death_day > day
    if not alive or pat.lost_day is not None or day > cutoff_day:
        return
    reason = {
        "ADVERSE EVENT": DiscontinuationReason.TOXICITY,
        "PROGRESSIVE DISEASE": DiscontinuationReason.PROGRESSION,
        "CLINICAL PROGRESSION": DiscontinuationReason.PROGRESSION,
        "WITHDRAWAL BY SUBJECT": DiscontinuationReason.PATIENT_WITHDRAWAL,
        "PHYSICIAN DECISION": DiscontinuationReason.PHYSICIAN_DECISION,
    }.get(pat.stop_reason or "", DiscontinuationReason.OTHER)
    progressed = reason is DiscontinuationReason.PROGRESSION
    pd_date = pat.date(pat.pd_day) if pat.pd_day is not None else None
    if progressed and pd_date is None:
        pd_date = pat.date(stop)
    facts = RolloverFacts(
        usubjid=str(pat.index),
        assessment_date=assess,
        # A patient who withdrew from MM-021 left its follow-up: no EAP consent.
        consent_signed=consent_sfu and pat.stop_reason != "WITHDRAWAL BY SUBJECT",
        lenalidomide_start_date=pat.trtsdt,
        progressed=progressed,
        discontinued=True,
        hypersensitivity_lenalidomide=False,
        hypersensitivity_dexamethasone=False,
        progression_date=pd_date if progressed else None,
        discontinuation_date=pat.date(stop),
        discontinuation_reason=reason,
    )
    if decide_rollover(protocol, facts).outcome is Outcome.SAFETY_FOLLOW_UP:
        pat.group = "SFU"
        pat.consent_day = day
        pat.sfu_day = day


def ae_weight(cycle: int | np.ndarray, ae_cycles: float) -> float | np.ndarray:
    """Cycle ``cycle``'s AE probability relative to cycle 1 (:attr:`ModelParams.ae_cycles`).

    Cytopenias and the other lenalidomide toxicities cluster in the first cycles; a
    hyperbolic decline lets the incidence keep growing with exposure, ever more slowly.

    >>> float(ae_weight(5, 4.0))  # 4 / (4 + 4)
    0.5
    """
    if math.isinf(ae_cycles):
        return np.ones_like(cycle, dtype=np.float64) if isinstance(cycle, np.ndarray) else 1.0
    return ae_cycles / (ae_cycles + np.asarray(cycle, dtype=np.float64) - 1.0)


def _onset(rng: np.random.Generator, lo: int, hi: int) -> int:
    return lo if hi <= lo else int(rng.integers(lo, hi + 1))


def simulate_dosing(
    pat: Patient, params: ModelParams, protocol: Protocol, rng: np.random.Generator
) -> None:
    """Rd cycle by cycle until the last dose, with each cycle's AEs and their actions.

    Fills the planned days, holds, reductions and AE episodes of ``pat`` (the rules
    are the module docstring's "Dosing and toxicity").
    """
    reg = protocol.regimen
    ladder = [float(x) for x in protocol.dose_reduction.ladder]
    level = ladder.index(pat.start_dose)
    last = pat.stop_day if pat.stop_day is not None else pat.day_of(CUTOFF)
    neutropenia_seen = False
    names = list(params.terms)
    p34 = np.asarray([params.terms[t].p34 for t in names], dtype=np.float64)
    p12 = np.asarray([params.terms[t].p12 for t in names], dtype=np.float64)
    cycle, start = 1, 1
    held_days: set[int] = set()
    reduce_on: list[tuple[int, AeEpisode]] = []  # (first day at the lower dose, its AE)
    len_days: list[int] = []
    len_cycles: list[int] = []
    dex_days: list[tuple[int, int]] = []
    while start <= last:
        planned = [
            start + d - 1
            for d in range(reg.lenalidomide.first_day, reg.lenalidomide.last_day + 1, pat.step)
            if start + d - 1 <= last
        ]
        len_days.extend(d - 1 for d in planned)
        len_cycles.extend([cycle] * len(planned))
        dex_days.extend(
            (start + d - 2, cycle) for d in reg.dexamethasone.days if start + d - 1 <= last
        )
        next_start = start + reg.cycle_days
        window = (start, min(start + reg.cycle_days - 1, last))
        # One uniform per term and grade band: which terms occur this cycle.
        w = float(ae_weight(cycle, params.ae_cycles))
        hit34 = np.flatnonzero(rng.random(len(names)) < p34 * w)
        hit12 = np.flatnonzero(rng.random(len(names)) < p12 * w)
        drawn: list[tuple[int, str, int]] = [
            (_onset(rng, *window), names[j], 3 if rng.random() < 0.8 else 4) for j in hit34
        ] + [(_onset(rng, *window), names[j], 1 if rng.random() < 0.55 else 2) for j in hit12]
        reduced_this_cycle = False
        for onset, term, grade in sorted(drawn):
            r = params.terms[term]
            if grade >= 3:
                resolve = 1 + int(rng.geometric(1.0 / params.resolve_days))
                related = bool(rng.random() < r.related)
                serious = bool(rng.random() < r.serious)
            else:
                resolve = 1 + int(rng.geometric(1.0 / 7.0))
                related = bool(rng.random() < 0.5)
                serious = False
            ep = AeEpisode(
                term, grade, onset, onset + resolve, serious, related, "DOSE NOT CHANGED"
            )
            pat.episodes.append(ep)
            dosing_ahead = [d for d in planned if d >= onset and d not in held_days]
            if grade >= 3 and related:
                first_neutropenia = term in NEUTROPENIA_TERMS and not neutropenia_seen
                neutropenia_seen = neutropenia_seen or term in NEUTROPENIA_TERMS
                resume = onset + resolve
                hold = [d for d in dosing_ahead if d < resume]
                held_days.update(hold)
                next_start = max(next_start, resume)
                can_reduce = level + 1 < len(ladder) and not reduced_this_cycle
                # Drawn for every such AE, so the stream does not depend on reduce_share.
                reduce = rng.random() < params.reduce_share
                if not first_neutropenia and can_reduce and reduce:
                    ep.action = "DOSE REDUCED"
                    reduce_on.append((resume, ep))
                    reduced_this_cycle = True
                    level += 1
                elif hold:
                    ep.action = "DRUG INTERRUPTED"
            elif grade < 3 and dosing_ahead and dosing_ahead[0] == onset and rng.random() < r.act12:
                held_days.update(dosing_ahead[: int(rng.integers(1, 6))])
                ep.action = "DRUG INTERRUPTED"
        cycle, start = cycle + 1, next_start
    pat.len_days = np.asarray(len_days, dtype=np.int64)
    pat.len_cycles = np.asarray(len_cycles, dtype=np.int64)
    pat.dex_days = np.asarray(dex_days, dtype=np.int64).reshape(-1, 2)
    held = [d + 1 in held_days for d in len_days]
    pat.held = np.asarray(held, dtype=np.bool_)
    dosed = [d + 1 for d, h in zip(len_days, held, strict=True) if not h]
    for first_day, ep in reduce_on:
        index = next((i for i, d in enumerate(dosed) if d >= first_day), None)
        if index is None:  # no dose after it: the reduction never took effect
            ep.action = "DRUG INTERRUPTED"
        else:
            pat.reductions.append(index)
    _end_episodes(pat, last)
    _fatal_and_spm(pat, params, rng)


def last_known_day(pat: Patient) -> int:
    """Death, loss to follow-up or the cutoff: nothing is recorded after it."""
    known = [d for d in (pat.death_day, pat.lost_day) if d is not None]
    return min(known, default=pat.day_of(CUTOFF))


def _end_episodes(pat: Patient, last_dose: int) -> None:
    """AEs that would end after the last known day are not resolved (end -1)."""
    del last_dose
    limit = last_known_day(pat)
    for ep in pat.episodes:
        if ep.end > limit:
            ep.end = -1


def _fatal_and_spm(pat: Patient, params: ModelParams, rng: np.random.Generator) -> None:
    """A death from an AE cause within the treatment-emergent window is a fatal AE;
    second primary malignancies at their hazard from the first dose."""
    last_dose = pat.stop_day if pat.stop_day is not None else pat.day_of(CUTOFF)
    cause = pat.death_cause or ""
    if (
        pat.death_day is not None
        and cause in FATAL_AE_TERMS
        and pat.death_day <= last_dose + TE_DAYS
    ):
        onset = max(1, pat.death_day - int(rng.integers(1, 22)))
        pat.episodes.append(
            AeEpisode(
                FATAL_AE_TERMS[cause],
                5,
                onset,
                pat.death_day,
                True,
                False,
                "NOT APPLICABLE" if onset > last_dose else "DOSE NOT CHANGED",
                fatal=True,
            )
        )
    t = _exponential_days(rng, params.spm_rate)
    if t < last_known_day(pat) - 1:
        onset = math.ceil(t)
        pat.episodes.append(
            AeEpisode(
                str(rng.choice(SPM_TERMS)), 3, onset, -1, True, False, "NOT APPLICABLE", spm=True
            )
        )


def simulate_parent_trial(
    params: ModelParams,
    protocol: Protocol,
    rng: np.random.Generator,
    scale: int = 1,
) -> list[Patient]:
    """Every MM-021 patient (199 x scale); those the EAP admits carry their dosing and AEs."""
    out = []
    with without_cyclic_gc():
        for i in range(PARENT_N * scale):
            pat = simulate_course(i, params, protocol, rng)
            if pat.group is not None:
                simulate_dosing(pat, params, protocol, rng)
            out.append(pat)
    return out


@contextmanager
def without_cyclic_gc() -> Iterator[None]:
    """The cyclic garbage collector paused (reference counting still frees everything).

    The model makes millions of small acyclic objects; each full pass of the collector
    walks all of them, and the passes come more often as more are made, so the cost
    would grow faster than the patients.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()

"""SDTM of a protocol-model cohort (eap.simulate.model): the EAP patients, their data.

The patients the model admits to the EAP become the virtual MM-024 cohort. Their
baseline characteristics are drawn with the published proportions of their group
(treatment cohort, or Safety Follow-Up: the safety population minus the cohort);
dates, doses, AEs and deaths are the model's. The SDTM writers are those of the
exact mode (eap.simulate.sdtm, eap.simulate.events), so both modes produce the
same variables with the same conventions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from eap.datasets.model import Dataset
from eap.datasets.specs import spec_dataset
from eap.protocol import Protocol, load_protocol
from eap.simulate import events, sdtm
from eap.simulate.course import CUTOFF
from eap.simulate.events import ACN, ae_terms
from eap.simulate.exposure import PatientDoses, ex_records, repeat_rows
from eap.simulate.model import (
    ModelParams,
    Patient,
    calibrated,
    simulate_parent_trial,
    without_cyclic_gc,
)
from eap.simulate.targets import published
from eap.simulate.timeline import follow_up_visits, last_contact

_EPOCH = dt.date(1970, 1, 1)
COURSE_OF_REASON = {
    "PROGRESSIVE DISEASE": "disc_pd_documented",
    "CLINICAL PROGRESSION": "disc_pd_clinical",
    "DEATH": "death_treatment",
    "LOST TO FOLLOW-UP": "lost",
}


def _proportions(counts: dict[str, int]) -> tuple[list[str], np.ndarray]:
    total = sum(counts.values())
    return list(counts), np.asarray([v / total for v in counts.values()])


# Age bands (count, youngest, oldest) per group, from Table 1. Safety population (80):
# 38 on 35-58, 5 at 59, 14 on 60-65, 23 on 66-76 (median 59, range 35-76, 23 above
# 65). Treatment cohort (41): the 21st of 41 is the median 59, so 20 below it within
# the published 47-58, 1 at 59, 27 - 21 = 6 on 60-65 and 14 above 65, up to 74. The
# Safety Follow-Up patients (39) are the difference, over the safety population's range.
AGE_BANDS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "TC": ((20, 47, 58), (1, 59, 59), (6, 60, 65), (14, 66, 74)),
    "SFU": ((18, 35, 58), (4, 59, 59), (8, 60, 65), (9, 66, 76)),
}


def group_counts(group: str) -> dict[str, Any]:
    """Table 1 of a model group: the treatment cohort's column for ``TC``; for ``SFU``
    the safety population's counts minus the treatment cohort's, with the safety
    population's largest number of prior regimens."""
    tc = published().baseline("treatment_cohort")
    if group == "TC":
        return tc
    safety = published().baseline("safety")
    out: dict[str, Any] = {
        k: {"n": v["n"] - tc[k]["n"]} for k, v in safety.items() if isinstance(v, dict) and "n" in v
    }
    out["n"] = safety["n"] - tc["n"]
    out["prior_therapies_max"] = safety["prior_therapies_max"]
    return out


def draw_baseline(groups: list[str], rng: np.random.Generator) -> pl.DataFrame:
    """Table 1 characteristics, each patient's drawn with the published proportions of
    their group (:func:`group_counts`): the model does not let baseline change the
    course, so the treatment cohort's own column is the best description of it.

    Age: the group's bands (:data:`AGE_BANDS`), uniform within a band. Prior
    regimens: the published groups 1, 2, 3, 4 and 5 or more (5 + a geometric number,
    at most the group's published maximum). Prior thalidomide / bortezomib: only,
    both, neither with the published counts; nobody with one prior regimen has had both.
    """
    frames = [
        _draw_group(sum(g == group for g in groups), group, rng).with_columns(
            _ROW=pl.Series(np.flatnonzero(np.asarray(groups, dtype=object) == group))
        )
        for group in sorted(set(groups))
    ]
    if not frames:
        return _draw_group(0, "TC", rng)
    return pl.concat(frames).sort("_ROW").drop("_ROW")


def _draw_group(n: int, group: str, rng: np.random.Generator) -> pl.DataFrame:
    b = group_counts(group)

    def cat(keys: dict[str, str]) -> np.ndarray:
        names, p = _proportions({v: int(b[k]["n"]) for k, v in keys.items()})
        return np.asarray(names, dtype=object)[rng.choice(len(names), size=n, p=p)]

    bands = AGE_BANDS[group]
    weights = np.asarray([c for c, _, _ in bands], dtype=np.float64)
    band = rng.choice(len(bands), size=n, p=weights / weights.sum())
    age = np.zeros(n, dtype=np.int64)
    for i, (_, lo, hi) in enumerate(bands):
        age[band == i] = rng.integers(lo, hi + 1, int((band == i).sum()))
    prior_group = cat(
        {
            "prior_therapies_1": "1",
            "prior_therapies_2": "2",
            "prior_therapies_3": "3",
            "prior_therapies_4": "4",
            "prior_therapies_ge5": "5",
        }
    ).astype(np.int64)
    most = int(b["prior_therapies_max"])
    nprior = np.where(prior_group == 5, np.minimum(most, 4 + rng.geometric(0.3, n)), prior_group)
    both = int(b["prior_both"]["n"])
    drugs = {
        "THAL": int(b["prior_thalidomide"]["n"]) - both,
        "BORT": int(b["prior_bortezomib"]["n"]) - both,
        "BOTH": both,
        "NEITHER": int(b["prior_neither"]["n"]),
    }
    names, p = _proportions(drugs)
    drug = np.asarray(names, dtype=object)[rng.choice(len(names), size=n, p=p)]
    single = np.asarray(["THAL", "BORT", "NEITHER"], dtype=object)
    p_single = np.asarray([drugs["THAL"], drugs["BORT"], drugs["NEITHER"]], dtype=float)
    redraw = (drug == "BOTH") & (nprior == 1)
    drug[redraw] = single[rng.choice(3, size=int(redraw.sum()), p=p_single / p_single.sum())]
    total = int(b["n"])
    return pl.DataFrame(
        {
            "AGE": age,
            "SEX": cat({"male": "M", "female": "F"}),
            "ECOG": cat({"ecog_0": "0", "ecog_1": "1", "ecog_2": "2"}).astype(np.int64),
            "DSSTAGE": cat(
                {"durie_salmon_I": "I", "durie_salmon_II": "II", "durie_salmon_III": "III"}
            ),
            "NPRIOR": nprior.astype(np.int64),
            "PRIORBORT": np.isin(drug, ["BORT", "BOTH"]),
            "PRIORTHAL": np.isin(drug, ["THAL", "BOTH"]),
            "SURGERY": rng.random(n) < int(b["prior_surgery"]["n"]) / total,
            "RADIATION": rng.random(n) < int(b["prior_radiation"]["n"]) / total,
        },
        schema_overrides={"SEX": pl.String, "DSSTAGE": pl.String},
    )


def _date(p: Patient, day: int | None) -> dt.date | None:
    return None if day is None else p.date(day)


def _course(p: Patient) -> str:
    if p.stop_day is None:
        return "ongoing_pd" if p.pd_day is not None else "ongoing_pf"
    if p.group == "SFU" and p.stop_reason == "PROGRESSIVE DISEASE":
        return "pd"
    return COURSE_OF_REASON.get(p.stop_reason or "", "other")


def patient_table(eap: list[Patient], ids: list[str], sites: list[str]) -> pl.DataFrame:
    """One row per EAP patient with the columns the SDTM writers read."""
    rows = []
    for p, u, s in zip(eap, ids, sites, strict=True):
        ongoing = p.stop_day is None
        dosed = p.len_days[~p.held]
        last_ex = max(int(dosed.max(initial=0)), int(p.dex_days[:, 0].max(initial=0))) + 1
        pd_date = _date(p, p.pd_day)
        stop_date = _date(p, p.stop_day)
        rows.append(
            {
                "USUBJID": u,
                "SITEID": s,
                "GROUP": p.group,
                "COURSE": _course(p),
                "TRTSDT": p.trtsdt,
                "TRTEDT": p.date(last_ex) if ongoing else stop_date,
                "EOTDT": _date(p, p.eot_day),
                "ONGOING": ongoing,
                "EAPDT": _date(p, p.consent_day),
                "SFUDT": _date(p, p.sfu_day),
                "PDDT": pd_date,
                "RESPDT": _date(p, p.response_day),
                "ASSESSEND": pd_date or (CUTOFF if ongoing else stop_date),
                "DTHDT": _date(p, p.death_day),
                "DTHCAUSE": p.death_cause,
                "LOSTDT": _date(p, p.lost_day),
                "ENRLDT": p.trtsdt - dt.timedelta(days=p.enrl_offset),
                "LASTEXDT": p.date(last_ex),
                "EXCAT": {25.0: "A0", 10.0: "C0", 15.0: "E"}[p.start_dose],
                "DCREASON": p.stop_reason,
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "USUBJID": pl.String,
            "SITEID": pl.String,
            "GROUP": pl.String,
            "COURSE": pl.String,
            "TRTSDT": pl.Date,
            "TRTEDT": pl.Date,
            "EOTDT": pl.Date,
            "ONGOING": pl.Boolean,
            "EAPDT": pl.Date,
            "SFUDT": pl.Date,
            "PDDT": pl.Date,
            "RESPDT": pl.Date,
            "ASSESSEND": pl.Date,
            "DTHDT": pl.Date,
            "DTHCAUSE": pl.String,
            "LOSTDT": pl.Date,
            "ENRLDT": pl.Date,
            "LASTEXDT": pl.Date,
            "EXCAT": pl.String,
            "DCREASON": pl.String,
        },
    )


def exposure(protocol: Protocol, eap: list[Patient], ids: list[str]) -> pl.DataFrame:
    """EX records: lenalidomide runs and weekly dexamethasone (eap.simulate.exposure)."""
    ladder = tuple(float(x) for x in protocol.dose_reduction.ladder)
    courses = [
        PatientDoses(
            u,
            p.trtsdt,
            p.date(p.stop_day) if p.stop_day is not None else CUTOFF,
            p.start_dose,
            p.len_days,
            p.len_cycles,
            ladder,
            held=p.held.copy(),  # the course may add holds; the patient keeps its own
            reductions=sorted(p.reductions),
        )
        for p, u in zip(eap, ids, strict=True)
    ]
    dex = protocol.regimen.dexamethasone
    # (day, cycle) of every dexamethasone dose, patient after patient.
    doses = [p.dex_days for p in eap]
    day_cycle = np.concatenate(doses) if doses else np.zeros((0, 2), dtype=np.int64)
    per_patient = pl.DataFrame(
        {"USUBJID": ids, "START": np.asarray([p.trtsdt for p in eap], dtype="datetime64[D]")},
        schema={"USUBJID": pl.String, "START": pl.Date},
    )
    adm = repeat_rows(per_patient, [d.shape[0] for d in doses]).select(
        "USUBJID",
        pl.lit(dex.name, dtype=pl.String).alias("EXTRT"),
        pl.lit(float(dex.dose), dtype=pl.Float64).alias("EXDOSE"),
        pl.Series("CYCLE", day_cycle[:, 1].astype(np.int32)),
        (pl.col("START") + pl.Series(day_cycle[:, 0]) * pl.duration(days=1)).alias("DATE"),
    )
    return ex_records(protocol, pl.DataFrame(), courses, adm)


def adverse_events(eap: list[Patient], table: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """AE and SUPPAE from the model's episodes (coded as eap.simulate.events does)."""
    col = {t.term: j for j, t in enumerate(ae_terms())}
    acn = {a: i for i, a in enumerate(ACN)}
    recs = []
    for i, p in enumerate(eap):
        base = (p.trtsdt - _EPOCH).days - 1
        last_dose = p.stop_day if p.stop_day is not None else p.day_of(CUTOFF)
        for ep in p.episodes:
            fatal = ep.fatal
            recs.append(
                {
                    "_p": i,
                    "_j": col[ep.term],
                    "_g": ep.grade,
                    "_ser": ep.serious,
                    "_acn": acn[ep.action],
                    "_rel": ep.related,
                    "_out": 2 if fatal else (1 if ep.end < 0 else 0),
                    "_sdth": fatal,
                    "_hosp": ep.serious and not fatal,
                    "_start": base + ep.start,
                    "_end": -1 if ep.end < 0 else base + ep.end,
                    "_trtem": not ep.spm and ep.start <= last_dose + events.TE_DAYS,
                    "_spm": ep.spm,
                }
            )
    schema = {
        "_p": pl.Int64,
        "_j": pl.Int64,
        "_g": pl.Int64,
        "_ser": pl.Boolean,
        "_acn": pl.Int64,
        "_rel": pl.Boolean,
        "_out": pl.Int64,
        "_sdth": pl.Boolean,
        "_hosp": pl.Boolean,
        "_start": pl.Int64,
        "_end": pl.Int64,
        "_trtem": pl.Boolean,
        "_spm": pl.Boolean,
    }
    frame = pl.DataFrame(recs, schema=schema)
    return events._to_sdtm(frame, table, ae_terms())


def simulate_model(
    seed: int = 2014,
    scale: int = 1,
    params: ModelParams | None = None,
    progress: Callable[[str], None] | None = None,
    chunk: int | None = None,
    protocol: Protocol | None = None,
) -> dict[str, Dataset]:
    """SDTM datasets of a protocol-model cohort: 199 x ``scale`` MM-021 patients simulated,
    those the EAP admits written out. ``chunk`` numbers one part of a cohort written in
    parts (its own random streams and subject numbers, as in the exact mode).
    ``protocol``: another protocol file's rules (default the MM-024 protocol), e.g. to
    ask what another dose-reduction ladder or follow-up interval would give."""
    from eap.simulate import _rng, _subject_ids, cycle_starts, with_diagnosis_dates

    say = progress or (lambda _: None)
    protocol = protocol or load_protocol()
    params = params or calibrated()
    with without_cyclic_gc():  # the whole part: its objects live until it is written
        rng = _rng(seed, chunk, 10)
        say(f"MM-021: {199 * scale} patients through the protocol")
        everyone = simulate_parent_trial(params, protocol, rng, scale)
        eap = [p for p in everyone if p.group is not None]
        # Treatment cohort first, then by the first dose: a stable order for subject ids.
        eap.sort(key=lambda p: (p.group != "TC", p.trtsdt, p.index))
        ids, sites = _subject_ids(len(eap), rng, chunk)
        say(f"EAP: {len(eap)} patients; SDTM domains")
        table = patient_table(eap, ids, sites)
        base = draw_baseline([str(p.group) for p in eap], rng)
        table = pl.concat([table, base], how="horizontal")
        renal = sdtm.renal(table, table["EXCAT"].to_list(), protocol, rng)
        table = with_diagnosis_dates(pl.concat([table, renal], how="horizontal"), rng)
        visits = follow_up_visits(table, protocol, rng)
        # Nothing is known of a patient after the loss to follow-up.
        lost = table.with_row_index("ROW").select("ROW", "LOSTDT")
        visits = (
            visits.join(lost, on="ROW", how="left")
            .filter(pl.col("LOSTDT").is_null() | (pl.col("SVSTDT") <= pl.col("LOSTDT")))
            .drop("LOSTDT")
        )
        table = last_contact(table, visits)
        ex = exposure(protocol, eap, ids)
        cycles = cycle_starts(ex, protocol)
        ae, suppae = adverse_events(eap, table)
        events_rng = _rng(seed, chunk, 11)
        out = {
            "AE": spec_dataset("AE", ae),
            "SUPPAE": spec_dataset("SUPPAE", suppae),
            "CM": spec_dataset(
                "CM", events.concomitant_medications(table, events_rng, scale, binomial=True)
            ),
            "MH": spec_dataset("MH", events.medical_history(table, events_rng, scale)),
            "PR": spec_dataset("PR", events.procedures(table, events_rng, scale)),
            "DM": sdtm.dm(table),
            "DS": sdtm.ds(table, rng),
            "EX": sdtm.ex(ex),
            "RS": sdtm.rs(table, rng),
            "SV": sdtm.sv(table, cycles, visits),
            "LB": sdtm.lb(table),
            "VS": sdtm.vs(table),
        }
    return dict(sorted(out.items()))

"""SDTM of a protocol-model cohort (eap.simulate.model): the EAP patients, their data.

The patients the model admits to the EAP become the virtual MM-024 cohort. Their
baseline characteristics are drawn with the safety population's published
proportions (the model assumes the parent trial's patients resemble the EAP's);
dates, doses, AEs and deaths are the model's. The SDTM writers are those of the
exact mode (eap.simulate.sdtm, eap.simulate.events), so both modes produce the
same variables with the same conventions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import polars as pl

from eap.datasets.model import Dataset
from eap.datasets.specs import spec_dataset
from eap.protocol import Protocol, load_protocol
from eap.simulate import events, sdtm
from eap.simulate.course import CUTOFF
from eap.simulate.events import ACN, ae_terms
from eap.simulate.exposure import PatientDoses, ex_records
from eap.simulate.model import (
    ModelParams,
    Patient,
    calibrated,
    simulate_parent_trial,
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


def draw_baseline(n: int, rng: np.random.Generator) -> pl.DataFrame:
    """Table 1 characteristics drawn with the safety population's proportions.

    Age: 38/80 uniform on 35-58, 5/80 at 59, 14/80 on 60-65, 23/80 on 66-76 (the
    published median 59, range 35-76 and 23 above 65). Prior regimens: the
    published groups 1, 2, 3, 4 and 5 or more (5 + a geometric number, at most 15).
    Prior thalidomide / bortezomib: only, both, neither with the published counts;
    nobody with one prior regimen has had both.
    """
    b = published().baseline("safety")

    def cat(keys: dict[str, str]) -> np.ndarray:
        names, p = _proportions({v: int(b[k]["n"]) for k, v in keys.items()})
        return np.asarray(names, dtype=object)[rng.choice(len(names), size=n, p=p)]

    band = rng.choice(4, size=n, p=np.asarray([38, 5, 14, 23]) / 80)
    age = np.select(
        [band == 0, band == 1, band == 2],
        [rng.integers(35, 59, n), np.full(n, 59), rng.integers(60, 66, n)],
        rng.integers(66, 77, n),
    )
    group = cat(
        {
            "prior_therapies_1": "1",
            "prior_therapies_2": "2",
            "prior_therapies_3": "3",
            "prior_therapies_4": "4",
            "prior_therapies_ge5": "5",
        }
    ).astype(np.int64)
    nprior = np.where(group == 5, np.minimum(15, 4 + rng.geometric(0.3, n)), group)
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
    total = int(published()["populations"]["safety"])
    return pl.DataFrame(
        {
            "AGE": age.astype(np.int64),
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
        dosed = [d for d, h in zip(p.len_days, p.held, strict=True) if not h]
        last_ex = max([*dosed, *(d for d, _ in p.dex_days)], default=0) + 1
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
            np.asarray(p.len_days, dtype=np.int64),
            np.asarray(p.len_cycles, dtype=np.int64),
            ladder,
            held=np.asarray(p.held, dtype=bool),
            reductions=sorted(p.reductions),
        )
        for p, u in zip(eap, ids, strict=True)
    ]
    dex = protocol.regimen.dexamethasone
    adm = pl.DataFrame(
        [
            (u, dex.name, float(dex.dose), cycle, p.trtsdt + dt.timedelta(days=day))
            for p, u in zip(eap, ids, strict=True)
            for day, cycle in p.dex_days
        ],
        schema={
            "USUBJID": pl.String,
            "EXTRT": pl.String,
            "EXDOSE": pl.Float64,
            "CYCLE": pl.Int32,
            "DATE": pl.Date,
        },
        orient="row",
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
    rng = _rng(seed, chunk, 10)
    say(f"MM-021: {199 * scale} patients through the protocol")
    everyone = simulate_parent_trial(params, protocol, rng, scale)
    eap = [p for p in everyone if p.group is not None]
    # Treatment cohort first, then by the first dose: a stable order for subject ids.
    eap.sort(key=lambda p: (p.group != "TC", p.trtsdt, p.index))
    ids, sites = _subject_ids(len(eap), rng, chunk)
    say(f"EAP: {len(eap)} patients; SDTM domains")
    table = patient_table(eap, ids, sites)
    base = draw_baseline(len(eap), rng)
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

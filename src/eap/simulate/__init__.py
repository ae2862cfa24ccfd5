"""A virtual MM-024 cohort: patient-level SDTM that reproduces the publication.

Domains: DM, DS, EX, RS, SV, LB, VS (sdtm.py) and AE, SUPPAE, CM, MH, PR (events.py).

``simulate(seed, scale)`` returns SDTM datasets of the MM-021 -> MM-024
rollover as of the data cutoff 2014-11-05. Every published count holds exactly
for every seed and every scale K (K times the patients, K times each count);
the time-to-event figures of Table 4 hold within the stated tolerances. See
docs/virtual-cohort.md for the generative model.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from eap.datasets.model import Dataset
from eap.datasets.specs import spec_dataset
from eap.errors import EapError
from eap.protocol import Protocol, load_protocol
from eap.simulate import events, sdtm
from eap.simulate.baseline import baseline
from eap.simulate.course import CUTOFF, draw_courses
from eap.simulate.exposure import build_exposure
from eap.simulate.targets import published
from eap.simulate.timeline import dates, follow_up_visits

__all__ = ["CUTOFF", "simulate", "simulate_patients"]

SITES = 12


def _subject_ids(
    n: int, rng: np.random.Generator, chunk: int | None = None
) -> tuple[list[str], list[str]]:
    """USUBJID MM024-SS-NNNN (site, number within site); chunks of a large cohort add
    their index in front of the number (MM024-SS-CCCCNNNN) so that ids stay unique."""
    weights = rng.dirichlet(np.full(SITES, 4.0))
    site = rng.choice(np.arange(1, SITES + 1), size=n, p=weights)
    counters = dict.fromkeys(range(1, SITES + 1), 0)
    ids, sites = [], []
    prefix = "" if chunk is None else f"{chunk:04d}"
    for s in site.tolist():
        counters[s] += 1
        sites.append(f"{s:02d}")
        ids.append(f"MM024-{s:02d}-{prefix}{counters[s]:04d}")
    return ids, sites


def _rng(seed: int, chunk: int | None, stream: int | None = None) -> np.random.Generator:
    """The random stream of a seed (one per purpose; chunks of a large cohort get their own)."""
    key = [seed] if chunk is None else [seed, 1_000_000 + chunk]
    return np.random.default_rng(key if stream is None else [*key, stream])


def with_diagnosis_dates(patients: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """DIAGDT (myeloma diagnosis): 1-3 years before MM-021 enrollment plus 0.3-0.7 year
    per prior regimen (*invented*); and STUDYID."""
    years_ill = rng.uniform(1.0, 3.0, patients.height) + patients[
        "NPRIOR"
    ].to_numpy() * rng.uniform(0.3, 0.7, patients.height)
    return patients.with_columns(
        (
            pl.col("ENRLDT")
            - pl.Series(np.rint(years_ill * 365.25).astype(np.int64)) * pl.duration(days=1)
        ).alias("DIAGDT"),
        pl.lit(sdtm.STUDYID).alias("STUDYID"),
    )


def cycle_starts(records: pl.DataFrame, protocol: Protocol) -> pl.DataFrame:
    """USUBJID, CYCLE and DATE of day 1 of each cycle dosed (its first dexamethasone
    record, which every cycle has)."""
    return (
        records.filter(pl.col("EXTRT") == protocol.regimen.dexamethasone.name)
        .group_by("USUBJID", "CYCLE")
        .agg(pl.col("EXSTDT").min().alias("DATE"))
    )


def simulate_patients(
    seed: int = 2014,
    scale: int = 1,
    progress: Callable[[str], None] | None = None,
    chunk: int | None = None,
) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """The patient table (one row per patient, every generated fact) and helper frames."""
    say = progress or (lambda _: None)
    if scale < 1:
        raise EapError("scale must be a positive integer", variable="scale", found=str(scale))
    rng = _rng(seed, chunk)
    protocol = load_protocol()
    say("baseline characteristics")
    base = baseline(published(), scale, rng)
    courses = draw_courses(scale, rng)
    patients = pl.concat([base, courses.drop("GROUP")], how="horizontal")
    ids, sites = _subject_ids(patients.height, rng, chunk)
    patients = patients.with_columns(pl.Series("USUBJID", ids), pl.Series("SITEID", sites))
    say("dates of each course")
    # Pinning both follow-up medians can fail for an unlucky draw of start dates;
    # drawing again from the same stream keeps the result a function of the seed.
    spread = _rng(seed, chunk, 4)
    for attempt in range(50):
        try:
            patients = dates(patients, protocol, rng, scale, spread)
            break
        except EapError:
            if attempt == 49:
                raise
    patients = patients.with_columns(pl.col("TRTEDT").alias("TRTEND"))
    say("exposure on the protocol calendar")
    records, mods, summary = build_exposure(protocol, patients, scale, rng)
    patients = patients.join(summary, on="USUBJID", how="left")
    last_ex = records.group_by("USUBJID").agg(pl.col("EXENDT").max().alias("LASTEXDT"))
    patients = patients.join(last_ex, on="USUBJID", how="left")
    patients = patients.with_columns(
        pl.when(pl.col("ONGOING"))
        .then(pl.col("LASTDOSDT"))
        .otherwise(pl.col("TRTEDT"))
        .alias("TRTEDT")
    )
    renal = sdtm.renal(patients, patients["EXCAT"].to_list(), protocol, rng)
    patients = with_diagnosis_dates(pl.concat([patients, renal], how="horizontal"), rng)
    cycles = cycle_starts(records, protocol)
    visits = follow_up_visits(patients, protocol, _rng(seed, chunk, 1))
    return patients, {"ex": records, "modifications": mods, "cycles": cycles, "visits": visits}


def simulate(
    seed: int = 2014,
    scale: int = 1,
    progress: Callable[[str], None] | None = None,
    chunk: int | None = None,
) -> dict[str, Dataset]:
    """SDTM datasets of the virtual MM-024 cohort, by domain name.

    ``chunk`` numbers one part of a cohort generated in parts (see
    eap.simulate.stream): its own random streams and subject numbers.
    """
    say = progress or (lambda _: None)
    patients, extra = simulate_patients(seed, scale, progress, chunk)
    rng = _rng(seed, chunk, 2)
    say("adverse events, medications, history")
    events_rng = _rng(seed, chunk, 3)
    # The treatment cohort's lung-infection death followed a treatment-emergent
    # lung infection (publication, Safety); the events module needs to know which.
    te_death = (pl.col("GROUP") == "TC") & (pl.col("DTHCAUSE") == "lung infection")
    for_events = patients.with_columns(
        pl.when(te_death)
        .then(pl.lit("treatment-emergent lung infection"))
        .otherwise(pl.col("DTHCAUSE"))
        .alias("DTHCAUSE")
    )
    ae, suppae = events.adverse_events(for_events, extra["modifications"], events_rng, scale)
    cm = events.concomitant_medications(for_events, events_rng, scale)
    mh = events.medical_history(for_events, events_rng, scale)
    pr = events.procedures(for_events, events_rng, scale)
    say("SDTM domains")
    out = {
        "AE": spec_dataset("AE", ae),
        "SUPPAE": spec_dataset("SUPPAE", suppae),
        "CM": spec_dataset("CM", cm),
        "MH": spec_dataset("MH", mh),
        "PR": spec_dataset("PR", pr),
        "DM": sdtm.dm(patients),
        "DS": sdtm.ds(patients, rng),
        "EX": sdtm.ex(extra["ex"]),
        "RS": sdtm.rs(patients, rng),
        "SV": sdtm.sv(patients, extra["cycles"], extra["visits"]),
        "LB": sdtm.lb(patients),
        "VS": sdtm.vs(patients),
    }
    return dict(sorted(out.items()))

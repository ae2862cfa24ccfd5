"""A realistic patients fixture (80 x K rows) and its dose modifications."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

CUTOFF = dt.date(2014, 11, 5)
D = dt.timedelta


def _block_baseline(rng: np.random.Generator) -> dict[str, list[object]]:
    """Table 1 of the safety population as per-patient values for one block of 80, shuffled."""
    nprior = [1] * 9 + [2] * 13 + [3] * 12 + [4] * 12 + list(rng.integers(5, 16, 34))
    nprior[-1] = 15
    prior = ["BT"] * 41 + ["B"] * 16 + ["T"] * 18 + ["N"] * 5
    surgery = [True] * 5 + [False] * 75
    radiation = [True] * 3 + [False] * 77
    return {
        "NPRIOR": list(rng.permutation(nprior)),
        "PRIOR": list(rng.permutation(prior)),
        "SURGERY": list(rng.permutation(surgery)),
        "RADIATION": list(rng.permutation(radiation)),
    }


def make_patients(
    scale: int, seed: int = 7, *, minimal_rows: bool = False
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Patients and dose modifications shaped like the published MM-024 cohort.

    Per block of 80: 41 TC (15 ongoing; one treatment-emergent lung infection death,
    one cerebral infarction death inside the TE window, three later deaths) and 39 SFU
    (25 deaths); lenalidomide modified for 34 + 6 + 15 patients (interruption only,
    reduction only, both; never reduced for the two with a fatal AE). ``minimal_rows``
    gives each modified patient as few modification rows as its category allows.
    """
    rng = np.random.default_rng(seed)
    rows = []
    mods = []
    sfu_causes = (
        ["multiple myeloma"] * 8
        + ["disease progression"] * 5
        + ["lung infection"] * 3
        + ["not specified"] * 4
        + ["renal failure", "cardiac failure", "sepsis", "cerebral hemorrhage", "pneumonia"]
    )
    tc_cat = ["INTERRUPTION"] * 17 + ["REDUCTION"] * 6 + ["BOTH"] * 6 + ["NONE"] * 12
    sfu_cat = ["INTERRUPTION"] * 17 + ["BOTH"] * 9 + ["NONE"] * 13
    for b in range(scale):
        cats = list(rng.permutation(tc_cat)) + list(rng.permutation(sfu_cat))
        # Patients 15 and 16 die of a fatal AE, which leaves them no grade 3-4 AE
        # to reduce the dose for: they were never reduced.
        for i in (15, 16):
            if cats[i] in ("REDUCTION", "BOTH"):
                j = next(j for j in range(17, 41) if cats[j] in ("INTERRUPTION", "NONE"))
                cats[i], cats[j] = cats[j], cats[i]
        base = _block_baseline(rng)
        for i in range(80):
            tc = i < 41
            trts = dt.date(2010, 10, 1) + D(days=int(rng.integers(0, 360)))
            enrl = trts - D(days=int(rng.integers(3, 20)))
            diag = enrl - D(days=int(rng.integers(400, 3000)))
            dth: dt.date | None = None
            cause: str | None = None
            if tc:
                eap = max(dt.date(2012, 9, 1), trts + D(days=366)) + D(
                    days=int(rng.integers(0, 60))
                )
                ongoing = i < 15
                if ongoing:
                    trte = CUTOFF - D(days=int(rng.integers(1, 20)))
                    sfudt = None
                else:
                    trte = eap + D(days=int(rng.integers(60, 600)))
                    trte = min(trte, CUTOFF - D(days=40))
                    sfudt = trte + D(days=1)
                    if i == 15:
                        dth, cause = trte + D(days=10), "treatment-emergent lung infection"
                    elif i == 16:
                        dth, cause = trte + D(days=5), "cerebral infarction"
                    elif i in (17, 18, 19):
                        dth = trte + D(days=int(rng.integers(60, 200)))
                        cause = ["multiple myeloma", "plasmacytic leukemia", "not specified"][
                            i - 17
                        ]
                    if dth is not None and dth > CUTOFF:
                        dth = CUTOFF - D(days=1)
            else:
                ongoing = False
                trte = trts + D(days=int(rng.integers(55, 500)))
                eap = max(dt.date(2012, 9, 1), trte + D(days=60)) + D(
                    days=int(rng.integers(0, 200))
                )
                sfudt = eap
                if i - 41 < len(sfu_causes):
                    dth = eap + D(days=int(rng.integers(30, 600)))
                    dth = min(dth, CUTOFF - D(days=1))
                    cause = sfu_causes[i - 41]
            nprior = int(base["NPRIOR"][i])
            prior = str(base["PRIOR"][i])
            bort, thal = "B" in prior, "T" in prior
            uid = f"MM-024-{b:04d}-{i:03d}"
            cat = str(cats[i])
            rows.append(
                {
                    "USUBJID": uid,
                    "STUDYID": "MM-024",
                    "SITEID": f"{int(rng.integers(1, 13)):02d}",
                    "GROUP": "TC" if tc else "SFU",
                    "AGE": int(rng.integers(35, 77)),
                    "SEX": "M" if rng.random() < 0.65 else "F",
                    "NPRIOR": nprior,
                    "PRIORBORT": bort,
                    "PRIORTHAL": thal,
                    "SURGERY": bool(base["SURGERY"][i]),
                    "RADIATION": bool(base["RADIATION"][i]),
                    "DIAGDT": diag,
                    "ENRLDT": enrl,
                    "TRTSDT": trts,
                    "TRTEDT": trte,
                    "ONGOING": ongoing,
                    "EAPDT": eap,
                    "SFUDT": sfudt,
                    "DTHDT": dth,
                    "DTHCAUSE": cause,
                    "LSTALVDT": dth or CUTOFF,
                    "MODCAT": cat,
                }
            )
            span = (trte - trts).days
            extra = 0 if minimal_rows else 1
            kinds = {
                "INTERRUPTION": ["DRUG INTERRUPTED"] * int(rng.integers(1, 2 + 2 * extra)),
                "REDUCTION": ["DOSE REDUCED"] * int(rng.integers(1, 2 + extra)),
                "BOTH": ["DRUG INTERRUPTED"] * int(rng.integers(1, 2 + extra))
                + ["DOSE REDUCED"] * int(rng.integers(1, 2 + extra)),
                "NONE": [],
            }[cat]
            for action in kinds:
                mods.append(
                    {
                        "USUBJID": uid,
                        "ACTION": action,
                        "DATE": trts + D(days=int(rng.integers(0, span + 1))),
                    }
                )
    return pl.DataFrame(rows), pl.DataFrame(mods)


@pytest.fixture(scope="session")
def cohort1() -> tuple[pl.DataFrame, pl.DataFrame]:
    return make_patients(1)


@pytest.fixture(scope="session")
def cohort1_minimal() -> tuple[pl.DataFrame, pl.DataFrame]:
    return make_patients(1, seed=3, minimal_rows=True)


@pytest.fixture(scope="session")
def cohort3() -> tuple[pl.DataFrame, pl.DataFrame]:
    return make_patients(3, seed=11)

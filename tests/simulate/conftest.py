"""A realistic patients fixture (80 x K rows) and its dose modifications."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

CUTOFF = dt.date(2014, 11, 5)
D = dt.timedelta


def make_patients(scale: int, seed: int = 7) -> tuple[pl.DataFrame, pl.DataFrame]:
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
    modcat = ["INTERRUPTION"] * 30 + ["REDUCTION"] * 6 + ["BOTH"] * 15 + ["NONE"] * 29
    for b in range(scale):
        cats = list(rng.permutation(modcat))
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
            nprior = int(rng.integers(1, 9))
            bort, thal = bool(rng.random() < 0.71), bool(rng.random() < 0.74)
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
                    "SURGERY": bool(rng.random() < 0.06),
                    "RADIATION": bool(rng.random() < 0.04),
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
            kinds = {
                "INTERRUPTION": ["DRUG INTERRUPTED"] * int(rng.integers(1, 4)),
                "REDUCTION": ["DOSE REDUCED"] * int(rng.integers(1, 3)),
                "BOTH": ["DRUG INTERRUPTED"] * int(rng.integers(1, 3))
                + ["DOSE REDUCED"] * int(rng.integers(1, 3)),
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
def cohort3() -> tuple[pl.DataFrame, pl.DataFrame]:
    return make_patients(3, seed=11)

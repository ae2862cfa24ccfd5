"""Baseline characteristics of the virtual MM-024 cohort, exactly Table 1 for both populations.

Every category count of Table 1 is split into the treatment cohort (TC, as
published) and the safety-follow-up-only group (SFU = safety population minus
TC), multiplied by the scale and assigned to patients in random order. Ages
and numbers of prior therapies are built with the published minimum, maximum
and median (see :func:`ages` and :func:`prior_therapies`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from eap.simulate.exact import exact_labels
from eap.simulate.targets import Targets

GROUPS = ("TC", "SFU")


def group_counts(targets: Targets, key: str) -> dict[str, int]:
    """Published n for ``key`` in TC, and safety minus TC for SFU."""
    safety = targets.baseline("safety")[key]["n"]
    tc = targets.baseline("treatment_cohort")[key]["n"]
    return {"TC": int(tc), "SFU": int(safety) - int(tc)}


def _categorical(
    targets: Targets, group: str, keys: dict[str, Any], scale: int, rng: np.random.Generator
) -> npt.NDArray[Any]:
    counts = {value: group_counts(targets, key)[group] for key, value in keys.items()}
    return exact_labels(counts, scale, rng)


def ages(group: str, scale: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """Ages with Table 1's median 59, range and count above 65.

    TC (41): 18 below 59 (from 47), 3 at 59, 6 in 60-65, 14 in 66-74 (to 74).
    SFU (39): 20 below 59 (from 35), 2 at 59, 8 in 60-65, 9 in 66-76 (to 76).
    Together (80): 38 below 59 and 5 at 59, so ranks 40 and 41 are 59; 23 above 65.
    """
    if group == "TC":
        lo, hi, n_lt, n_eq, n_mid, n_old = 47, 74, 18, 3, 6, 14
    else:
        lo, hi, n_lt, n_eq, n_mid, n_old = 35, 76, 20, 2, 8, 9
    parts = [
        [lo] * scale,
        rng.integers(lo, 59, n_lt * scale - scale),
        [59] * (n_eq * scale),
        rng.integers(60, 66, n_mid * scale),
        [hi] * scale,
        rng.integers(66, hi + 1, n_old * scale - scale),
    ]
    return rng.permutation(np.concatenate([np.asarray(p, dtype=np.int64) for p in parts]))


def prior_therapies(
    targets: Targets, group: str, scale: int, rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """Numbers of prior anti-myeloma regimens with Table 1's group counts and range.

    The 5-or-more group spreads over 5 to the published maximum (11 in TC,
    15 overall, so 15 is an SFU patient); medians follow from the group counts
    (TC: 16 patients have 1-2, 21 have 1-3, so rank 21 is 3; safety: 34 have
    1-3 and 46 have 1-4, so ranks 40 and 41 are 4).
    """
    counts = {k: group_counts(targets, f"prior_therapies_{k}")[group] for k in ("1", "2", "3", "4")}
    many = group_counts(targets, "prior_therapies_ge5")[group] * scale
    top = 11 if group == "TC" else 15
    values = [np.full(n * scale, int(k)) for k, n in counts.items()]
    values.append(
        np.asarray([top] * scale + list(rng.integers(5, top, many - scale)), dtype=np.int64)
    )
    return rng.permutation(np.concatenate(values))


def prior_drugs(
    targets: Targets,
    group: str,
    nprior: npt.NDArray[np.int64],
    scale: int,
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Prior bortezomib and thalidomide flags with Table 1's counts.

    Categories (thalidomide only, bortezomib only, both, neither) come from the
    published "used ..." counts: thal only = thalidomide - both, bort only =
    bortezomib - both. Patients with a single prior regimen are not given
    "both" (each swaps with a patient of two or more regimens).
    """
    both = group_counts(targets, "prior_both")[group]
    counts = {
        "THAL": group_counts(targets, "prior_thalidomide")[group] - both,
        "BORT": group_counts(targets, "prior_bortezomib")[group] - both,
        "BOTH": both,
        "NEITHER": group_counts(targets, "prior_neither")[group],
    }
    cat = exact_labels(counts, scale, rng)
    for i in np.flatnonzero((cat == "BOTH") & (nprior == 1)):
        swap = np.flatnonzero((cat != "BOTH") & (nprior >= 2))
        j = rng.choice(swap)
        cat[i], cat[j] = cat[j], cat[i]
    thal = np.isin(cat, ["THAL", "BOTH"])
    bort = np.isin(cat, ["BORT", "BOTH"])
    return bort, thal


def baseline(targets: Targets, scale: int, rng: np.random.Generator) -> pl.DataFrame:
    """One row per patient: GROUP and the Table 1 characteristics."""
    frames = []
    for group in GROUPS:
        n = (41 if group == "TC" else 39) * scale
        nprior = prior_therapies(targets, group, scale, rng)
        bort, thal = prior_drugs(targets, group, nprior, scale, rng)
        frames.append(
            pl.DataFrame(
                {
                    "GROUP": [group] * n,
                    "AGE": ages(group, scale, rng),
                    "SEX": _categorical(targets, group, {"male": "M", "female": "F"}, scale, rng),
                    "ECOG": _categorical(
                        targets, group, {"ecog_0": 0, "ecog_1": 1, "ecog_2": 2}, scale, rng
                    ).astype(np.int64),
                    "DSSTAGE": _categorical(
                        targets,
                        group,
                        {"durie_salmon_I": "I", "durie_salmon_II": "II", "durie_salmon_III": "III"},
                        scale,
                        rng,
                    ),
                    "NPRIOR": nprior,
                    "PRIORBORT": bort,
                    "PRIORTHAL": thal,
                    "SURGERY": _flags(targets, group, "prior_surgery", n, scale, rng),
                    "RADIATION": _flags(targets, group, "prior_radiation", n, scale, rng),
                },
                schema_overrides={"SEX": pl.String, "DSSTAGE": pl.String},
            )
        )
    return pl.concat(frames)


def _flags(
    targets: Targets, group: str, key: str, n: int, scale: int, rng: np.random.Generator
) -> npt.NDArray[np.bool_]:
    yes = group_counts(targets, key)[group] * scale
    flags = np.zeros(n, dtype=bool)
    flags[:yes] = True
    return rng.permutation(flags)

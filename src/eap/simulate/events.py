"""Events of the virtual MM-024 cohort: adverse events, medications, history, procedures.

Every published count is reached by construction, not by luck: patient sets of
the exact published sizes (times the scale K) are drawn at random and then
filled term by term from fixed budgets. docs/virtual-cohort-events.md describes
the model.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from eap.errors import EapError

CUTOFF = dt.date(2014, 11, 5)
TE_DAYS = 28
STUDYID = "MM-024"
SPM_CAT = "SECOND PRIMARY MALIGNANCY"
PRIOR_CAT = "PRIOR ANTI-MYELOMA THERAPY"
SPM_TERMS = ("Duodenal tumor", "Nasopharyngeal carcinoma")
MOD_OTHER = (
    "Anemia",
    "Decreased platelet count",
    "Decreased white blood cell count",
    "Diarrhea",
    "Rash",
    "Hypokalemia",
    "Peripheral sensory neuropathy",
    "Constipation",
)
SERIOUS_GRADE2 = ("Cerebral ischemia",)
_EPOCH = dt.date(1970, 1, 1)

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class AeTerm:
    """One MedDRA preferred term as eap reports it, with its SOC and CTCAE grading term."""

    term: str
    soc: str
    ctcae_term: str
    related_prob: float
    tail_pct: float | None
    grades: tuple[int, ...]


def _data_text(name: str) -> str:
    return resources.files("eap.data").joinpath(name).read_text(encoding="utf-8")


@cache
def ctcae_grades() -> dict[str, tuple[int, ...]]:
    """CTCAE v4.03 term -> the grades it defines."""
    out: dict[str, tuple[int, ...]] = {}
    for row in csv.DictReader(_data_text("ctcae_v4_03.csv").splitlines()):
        out[row["term"]] = tuple(g for g in range(1, 6) if row[f"grade{g}"].strip())
    return out


@cache
def ae_terms() -> tuple[AeTerm, ...]:
    """The AE term map shipped as eap/data/ae_terms.csv (PT -> SOC -> CTCAE term)."""
    grades = ctcae_grades()
    terms = []
    for row in csv.DictReader(_data_text("ae_terms.csv").splitlines()):
        if row["ctcae_term"] not in grades:
            raise EapError(
                "AE term map names a CTCAE term that CTCAE v4.03 lacks",
                file="ae_terms.csv",
                variable="ctcae_term",
                found=row["ctcae_term"],
            )
        pct = row["tail_pct"].strip()
        terms.append(
            AeTerm(
                term=row["term"],
                soc=row["soc"],
                ctcae_term=row["ctcae_term"],
                related_prob=float(row["related_prob"]),
                tail_pct=float(pct) if pct else None,
                grades=grades[row["ctcae_term"]],
            )
        )
    return tuple(terms)


@cache
def published() -> dict[str, Any]:
    """The published MM-024 figures (eap/data/mm024_published.json)."""
    doc: dict[str, Any] = json.loads(_data_text("mm024_published.json"))
    return doc


@dataclass(frozen=True)
class AeTargets:
    """Patient counts per K = 1 that the AE domain reproduces."""

    any_ae: int
    any_grade: dict[str, int]
    grade34_any: int
    grade34: dict[str, int]
    serious_any: int
    serious: dict[str, int]
    modification: dict[str, int]


def _n(pct: float, total: int = 80) -> int:
    return round(pct * total / 100)


def ae_targets() -> AeTargets:
    """Published AE counts for the 80-patient safety population."""
    ae = published()["safety_population_ae"]
    t2 = ae["table2_grade3_4_ge3pct"]
    t3 = ae["table3_serious"]
    return AeTargets(
        any_ae=int(ae["any_ae"]["n"]),
        any_grade={r["term"]: _n(r["pct"]) for r in ae["most_common_teae_any_grade"]},
        grade34_any=int(t2["any_grade3_4"]["n"]),
        grade34={r["term"]: int(r["n"]) for r in t2["rows"]},
        serious_any=int(t3["any_serious"]["n"]),
        serious={r["term"]: int(r["n"]) for r in t3["rows"]},
        modification={
            r["term"]: _n(r["pct"])
            for r in ae["most_common_ae_leading_to_interruption_or_reduction"]
        },
    )


# ---------------------------------------------------------------- helpers


def _days(s: pl.Series) -> IntArray:
    """Dates as integer days since 1970-01-01 (null -> a far-future sentinel)."""
    return s.cast(pl.Date).cast(pl.Int64).fill_null(10**6).to_numpy().astype(np.int64)


def _iso(days: IntArray | pl.Series) -> pl.Series:
    """Days since 1970-01-01 as ISO 8601 text (through a lookup table: few distinct days)."""
    s = pl.Series(days, dtype=pl.Int64) if not isinstance(days, pl.Series) else days
    lo, hi = s.min(), s.max()
    if s.len() < 10_000 or not isinstance(lo, int) or not isinstance(hi, int) or hi - lo > 50_000:
        return s.cast(pl.Date).dt.strftime("%Y-%m-%d")
    table = pl.Series(np.arange(lo, hi + 1, dtype=np.int64)).cast(pl.Date).dt.strftime("%Y-%m-%d")
    return table.gather(s - lo)


def _pick(
    rng: np.random.Generator,
    eligible: BoolArray,
    k: int,
    priority: npt.NDArray[np.float64] | None = None,
    what: str = "patients",
) -> IntArray:
    """k distinct indices among ``eligible``, higher ``priority`` first, ties at random."""
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    n_ok = int(eligible.sum())
    if n_ok < k:
        raise EapError(
            f"the patients cannot carry the published counts: too few eligible {what}",
            dataset="AE",
            expected=f">= {k}",
            found=str(n_ok),
        )
    key = rng.random(eligible.size)
    if priority is not None:
        key = key - priority * 10.0
    key = np.where(eligible, key, np.inf)
    idx = np.argpartition(key, k - 1)[:k] if k < key.size else np.arange(key.size)
    return np.sort(idx).astype(np.int64)


def _uniform_day(rng: np.random.Generator, lo: IntArray, hi: IntArray) -> IntArray:
    span = np.maximum(hi - lo, 0) + 1
    out: IntArray = (lo + np.floor(rng.random(lo.size) * span)).astype(np.int64)
    return out


def _seq(frame: pl.DataFrame, name: str, order: list[str]) -> pl.DataFrame:
    frame = frame.sort(["USUBJID", *order], maintain_order=True)
    return frame.with_columns(pl.int_range(1, pl.len() + 1).over("USUBJID").alias(name))


# ---------------------------------------------------------------- adverse events


AE_COLUMNS = [
    "STUDYID",
    "DOMAIN",
    "USUBJID",
    "AESEQ",
    "AETERM",
    "AELLT",
    "AEDECOD",
    "AECAT",
    "AEBODSYS",
    "AESOC",
    "AESEV",
    "AESER",
    "AEACN",
    "AEREL",
    "AEOUT",
    "AESDTH",
    "AESHOSP",
    "AETOXGR",
    "AESTDTC",
    "AEENDTC",
]
SUPPAE_COLUMNS = [
    "STUDYID",
    "RDOMAIN",
    "USUBJID",
    "IDVAR",
    "IDVARVAL",
    "QNAM",
    "QLABEL",
    "QVAL",
    "QORIG",
]
SEVERITY = {1: "MILD", 2: "MODERATE", 3: "SEVERE", 4: "SEVERE", 5: "SEVERE"}


class _Cells:
    """The patient x term matrix of worst grades, seriousness and fatality."""

    def __init__(self, n: int, terms: tuple[AeTerm, ...]) -> None:
        self.terms = terms
        self.col = {t.term: j for j, t in enumerate(terms)}
        self.grade = np.zeros((n, len(terms)), dtype=np.int8)
        self.serious = np.zeros((n, len(terms)), dtype=np.bool_)

    def j(self, term: str) -> int:
        return self.col[term]

    def low_grade(self, rng: np.random.Generator, term: str, k: int) -> IntArray:
        """k random grades 1-2 that CTCAE defines for the term."""
        allowed = [g for g in self.terms[self.j(term)].grades if g <= 2]
        return rng.choice(np.array(allowed, dtype=np.int64), size=k)

    def high_grade(self, rng: np.random.Generator, term: str, k: int) -> IntArray:
        allowed = [g for g in self.terms[self.j(term)].grades if g in (3, 4)]
        p = np.array([0.75 if g == 3 else 0.25 for g in allowed])
        return rng.choice(np.array(allowed, dtype=np.int64), size=k, p=p / p.sum())


def _assign_modification_terms(
    rng: np.random.Generator,
    pat_index: dict[str, int],
    modifications: pl.DataFrame,
    targets: dict[str, int],
    scale: int,
    n: int,
    reducing_terms: frozenset[str] = frozenset(),
) -> pl.DataFrame:
    """Give each modification row the AE term that caused it (exact patient counts per term).

    A dose reduction follows a grade 3-4 AE (the protocol's rule), so the rows with
    ACTION "DOSE REDUCED" get only ``reducing_terms`` (terms that may be graded 3-4:
    those of the published grade 3-4 table); every term of a patient is on at least
    one of the patient's rows. Without ``reducing_terms`` any term may reduce.
    """
    # a canonical row order, so that the input's order does not change the output
    mods = (
        modifications.sort("USUBJID", "DATE", "ACTION")
        .with_row_index("_row")
        .with_columns(
            pl.col("USUBJID").replace_strict(pat_index, return_dtype=pl.Int64).alias("_p")
        )
    )
    p_arr = mods["_p"].to_numpy().astype(np.int64)
    reduced_row = mods["ACTION"].to_numpy() == "DOSE REDUCED"
    if not reducing_terms:
        reduced_row = np.zeros(p_arr.size, dtype=np.bool_)
    rows_per = np.bincount(p_arr, minlength=n).astype(np.int64)
    reduced_per = np.bincount(p_arr[reduced_row], minlength=n).astype(np.int64)
    other_per = rows_per - reduced_per
    has_mod = rows_per > 0
    terms_of: list[list[str]] = [[] for _ in range(n)]
    n_assigned = np.zeros(n, dtype=np.int64)
    n_other = np.zeros(n, dtype=np.int64)  # terms that cannot reduce
    n_reducing = np.zeros(n, dtype=np.int64)

    def give(chosen: IntArray, term: str) -> None:
        reduces = term in reducing_terms
        for i in chosen.tolist():
            terms_of[i].append(term)
        n_assigned[chosen] += 1
        (n_reducing if reduces else n_other)[chosen] += 1

    for term, count in sorted(targets.items(), key=lambda kv: (-kv[1], kv[0])):
        reduces = term in reducing_terms
        eligible = has_mod & (n_assigned < rows_per)
        if not reduces:
            eligible &= n_other < other_per
        prio = (n_assigned == 0).astype(np.float64)
        if reduces:
            prio += 0.5 * ((reduced_per > 0) & (n_reducing == 0))
        give(_pick(rng, eligible, count * scale, prio, "dose modifications"), term)
    # Patients still without a term: other terms, each below the smallest published count.
    cap = min(targets.values()) * scale - 1
    left = np.flatnonzero(has_mod & (n_assigned == 0))
    left = left[rng.permutation(left.size)]
    if left.size > cap * len(MOD_OTHER):
        raise EapError("too many modified patients for the other-term budget", dataset="AE")
    other_terms = np.array(MOD_OTHER)[np.arange(left.size) % len(MOD_OTHER)]
    for i, term in zip(left.tolist(), other_terms.tolist(), strict=True):
        give(np.array([i], dtype=np.int64), str(term))
    short = np.flatnonzero((reduced_per > 0) & (n_reducing == 0))
    if short.size:
        raise EapError(
            "a patient's dose reduction has no AE term that may be graded 3-4",
            dataset="AE",
            expected="each reduced patient with a term of " + ", ".join(sorted(reducing_terms)),
            found=f"{short.size} patients without one",
        )
    # Rows: terms that cannot reduce on rows that do not reduce, then one row per
    # remaining term, then the other rows at random among the patient's terms
    # (reduction rows among those that reduce).
    # A patient with one term has it on every row (most patients: no loop for them).
    single = np.array([len(t) == 1 for t in terms_of], dtype=np.bool_)
    first_term = np.array([t[0] if t else "" for t in terms_of], dtype=object)
    term_of_row: list[str] = first_term[p_arr].tolist()
    order = np.lexsort((mods["DATE"].to_physical().to_numpy(), p_arr))
    rows_of: dict[int, list[int]] = {}
    for r in order[~single[p_arr[order]]].tolist():
        rows_of.setdefault(int(p_arr[r]), []).append(r)
    for i, rows in rows_of.items():
        mine = [terms_of[i][k] for k in rng.permutation(len(terms_of[i])).tolist()]
        reducing = [t for t in mine if t in reducing_terms] if reduced_per[i] else mine
        other_rows = [r for r in rows if not reduced_row[r]]
        red_rows = [r for r in rows if reduced_row[r]]
        cannot = [t for t in mine if t not in reducing]
        for r, t in zip(other_rows, cannot, strict=False):
            term_of_row[r] = t
        free_other = other_rows[len(cannot) :]
        todo = list(reducing)
        for r in red_rows:
            term_of_row[r] = todo.pop(0) if todo else reducing[int(rng.integers(len(reducing)))]
        for r in free_other:
            term_of_row[r] = todo.pop(0) if todo else mine[int(rng.integers(len(mine)))]
        if todo:
            raise EapError("more AE terms than modification rows", dataset="AE", found=str(i))
    mods = mods.with_columns(pl.Series("AEDECOD", term_of_row, dtype=pl.String))
    return mods.sort(["_p", "DATE", "_row"])


def _labels(
    rng: np.random.Generator, cells: _Cells, budget: dict[str, int], need: int, what: str
) -> IntArray:
    """The budget as a shuffled array of term columns (one entry per patient to give)."""
    names = sorted(budget)
    lab = np.repeat(
        np.array([cells.j(t) for t in names], dtype=np.int64), [budget[t] for t in names]
    )
    if lab.size < need:
        raise EapError(
            f"{what} budget smaller than the patients to cover",
            dataset="AE",
            expected=f">= {need}",
            found=str(lab.size),
        )
    out: IntArray = lab[rng.permutation(lab.size)]
    return out


def _deal(
    rng: np.random.Generator, cells: _Cells, patients: IntArray, cols: IntArray, *, high: bool
) -> None:
    """Give patients[i] a cell of term column cols[i], grade 3-4 if ``high`` else 1-2."""
    for j in np.unique(cols):
        sel = cols == j
        term = cells.terms[int(j)].term
        size = int(sel.sum())
        g = cells.high_grade(rng, term, size) if high else cells.low_grade(rng, term, size)
        cells.grade[patients[sel], int(j)] = g


def adverse_events(
    patients: pl.DataFrame,
    modifications: pl.DataFrame,
    rng: np.random.Generator,
    scale: int,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """SDTM AE and SUPPAE rows of the virtual cohort (see docs/virtual-cohort-events.md)."""
    tg = ae_targets()
    terms = ae_terms()
    k = scale
    n = patients.height
    if n != 80 * k:
        raise EapError("patients must hold 80 x scale rows", dataset="DM", found=str(n))
    pat = patients.sort("USUBJID")
    usubjid = pat["USUBJID"].to_list()
    pat_index = {u: i for i, u in enumerate(usubjid)}
    cells = _Cells(n, terms)

    trts = _days(pat["TRTSDT"])
    trte = _days(pat["TRTEDT"])
    death = _days(pat["DTHDT"])
    cutoff = (CUTOFF - _EPOCH).days
    # Nothing is known of a patient after the loss to follow-up.
    lost = _days(pat["LOSTDT"]) if "LOSTDT" in pat.columns else np.full(n, 10**6, dtype=np.int64)
    last_known = np.minimum(np.minimum(death, lost), cutoff)
    te_end = np.minimum(trte + TE_DAYS, last_known)
    cause = pat["DTHCAUSE"].fill_null("").str.to_lowercase().to_numpy()
    in_window = (death <= trte + TE_DAYS) & (death >= trts)

    # Fatal treatment-emergent AEs given by the death records.
    fatal_lung = cause == "treatment-emergent lung infection"
    if np.any(fatal_lung & ~in_window):
        raise EapError("a treatment-emergent lung infection death lies outside the TE window")
    fatal_ci = (cause == "cerebral infarction") & in_window
    fatal = fatal_lung | fatal_ci
    for term, mask in (("Lung infection", fatal_lung), ("Cerebral infarction", fatal_ci)):
        if mask.sum() > tg.serious[term] * k:
            raise EapError(f"more fatal {term} deaths than serious {term} AEs", dataset="AE")
        cells.grade[mask, cells.j(term)] = 5
        cells.serious[mask, cells.j(term)] = True

    # 1. modifications -> causing terms
    # Terms that can carry a reduction: grade 3-4 possible beyond the serious cases.
    reducing_terms = frozenset(t for t, c in tg.grade34.items() if c > tg.serious.get(t, 0))
    mods = _assign_modification_terms(
        rng, pat_index, modifications, tg.modification, k, n, reducing_terms
    )
    mod_cell = np.zeros_like(cells.serious)
    mod_cell[mods["_p"].to_numpy(), [cells.j(t) for t in mods["AEDECOD"].to_list()]] = True
    has_mod = mod_cell.any(axis=1)
    # The cells whose AE reduced the dose: grade 3-4 (the protocol reduces for grade 3-4).
    reduced = mods.filter(pl.col("ACTION") == "DOSE REDUCED")
    reduce_cell = np.zeros_like(cells.serious)
    reduce_cell[reduced["_p"].to_numpy(), [cells.j(t) for t in reduced["AEDECOD"].to_list()]] = True
    has_reduction = reduce_cell.any(axis=1)
    if np.any(has_reduction & fatal):
        raise EapError("a patient with a fatal AE had the dose reduced", dataset="AE")

    # 2. who has no AE, who has grade 3-4, who has a serious AE
    none = _pick(rng, ~has_mod & ~fatal, (80 - tg.any_ae) * k, what="patients without AE")
    has_ae = np.ones(n, dtype=np.bool_)
    has_ae[none] = False
    t2_cols = [cells.j(t) for t in tg.grade34]
    prio = np.asarray(mod_cell[:, t2_cols].any(axis=1), dtype=np.float64) + 2.0 * has_reduction
    hi_idx = _pick(rng, has_ae & ~fatal, tg.grade34_any * k, prio, "grade 3-4 patients")
    in_h = np.zeros(n, dtype=np.bool_)
    in_h[hi_idx] = True
    n_fatal = int(fatal.sum())
    s_idx = _pick(rng, in_h, tg.serious_any * k - n_fatal, what="serious patients")

    # 3. serious cells: cover every serious patient, then the rest at random among them
    budget = {t: c * k for t, c in tg.serious.items()}
    budget["Lung infection"] -= int(fatal_lung.sum())
    budget["Cerebral infarction"] -= int(fatal_ci.sum())
    order = s_idx[rng.permutation(s_idx.size)]
    lab = _labels(rng, cells, budget, order.size, "serious AE")
    cells.serious[order, lab[: order.size]] = True
    s_mask = np.zeros(n, dtype=np.bool_)
    s_mask[s_idx] = True
    cols, counts = np.unique(lab[order.size :], return_counts=True)
    for j, c in zip(cols, counts, strict=True):
        chosen = _pick(rng, s_mask & ~cells.serious[:, j], int(c), what="serious patients")
        cells.serious[chosen, j] = True
    for term in tg.serious:
        j = cells.j(term)
        rows = cells.serious[:, j] & ~fatal
        cells.grade[rows, j] = 2 if term in SERIOUS_GRADE2 else 3
        if term == "Neutropenia":
            cells.grade[rows, j] = 4
    # 4. grade 3-4 cells: Table 2 budgets (serious Pneumonia/Neutropenia already count)
    g_budget = {}
    for term, c in tg.grade34.items():
        j = cells.j(term)
        g_budget[term] = c * k - int(np.isin(cells.grade[:, j], (3, 4)).sum())
        if g_budget[term] < 0:
            raise EapError(f"serious {term} exceeds its grade 3-4 count", dataset="AE")
    # 4-. the AEs that reduced the dose: grade 3-4 first, from their terms' budgets
    if np.any(has_reduction & ~in_h):
        raise EapError("more reduced patients than grade 3-4 patients", dataset="AE")
    for t in sorted(g_budget):
        j = cells.j(t)
        rows = np.flatnonzero(reduce_cell[:, j] & ~np.isin(cells.grade[:, j], (3, 4)))
        cells.grade[rows, j] = cells.high_grade(rng, t, rows.size)
        g_budget[t] -= rows.size
        if g_budget[t] < 0:
            raise EapError(f"the dose reductions for {t} exceed its grade 3-4 count", dataset="AE")
    covered = np.asarray(np.isin(cells.grade, (3, 4)).any(axis=1), dtype=np.bool_)
    # 4a. uncovered patients with a modification on a Table 2 term: that AE was grade 3-4
    names = sorted(g_budget)
    for i in rng.permutation(len(names)):
        t = names[int(i)]
        j = cells.j(t)
        cand = in_h & ~covered & mod_cell[:, j]
        chosen = _pick(rng, cand, min(g_budget[t], int(cand.sum())))
        cells.grade[chosen, j] = cells.high_grade(rng, t, chosen.size)
        g_budget[t] -= chosen.size
        covered[chosen] = True
    # 4b. other uncovered grade 3-4 patients: one cell each from the remaining budgets
    need = np.flatnonzero(in_h & ~covered)
    need = need[rng.permutation(need.size)]
    lab = _labels(rng, cells, g_budget, need.size, "grade 3-4")[: need.size]
    _deal(rng, cells, need, lab, high=True)
    for j, c in zip(*np.unique(lab, return_counts=True), strict=True):
        g_budget[cells.terms[int(j)].term] -= int(c)
    # 4c. the rest: first patients whose modification was for that term
    for t in sorted(g_budget):
        j = cells.j(t)
        free = in_h & ~np.isin(cells.grade[:, j], (3, 4, 5))
        prio = np.asarray(mod_cell[:, j], dtype=np.float64) + (cells.grade[:, j] > 0)
        chosen = _pick(rng, free, g_budget[t], prio, f"{t} grade 3-4 patients")
        cells.grade[chosen, j] = cells.high_grade(rng, t, chosen.size)
    # modification cells not yet graded: grade 2 (or the lowest grade CTCAE defines)
    for j, info in enumerate(terms):
        rows = mod_cell[:, j] & (cells.grade[:, j] == 0)
        allowed = [g for g in info.grades if g >= 2]
        cells.grade[rows, j] = allowed[0]

    # 5. any-grade cells: exact counts for the published terms, tail below 15 x K
    a_budget: dict[str, int] = {}
    tail_cap = min(tg.any_grade.values()) * k - 1
    for info in terms:
        if info.term in SPM_TERMS:
            continue
        have = int((cells.grade[:, cells.j(info.term)] > 0).sum())
        if info.term in tg.any_grade:
            want = tg.any_grade[info.term] * k
            if have > want:
                raise EapError(f"{info.term} already exceeds its any-grade count", dataset="AE")
        else:
            want = max(have, min(_n(info.tail_pct or 0.0, 80 * k), tail_cap))
            if have > tail_cap:
                raise EapError(f"{info.term} exceeds the tail cap", dataset="AE")
        a_budget[info.term] = want - have
    uncovered = np.flatnonzero(has_ae & ~(cells.grade > 0).any(axis=1))
    uncovered = uncovered[rng.permutation(uncovered.size)]
    lab = _labels(rng, cells, a_budget, uncovered.size, "any-grade")[: uncovered.size]
    _deal(rng, cells, uncovered, lab, high=False)
    for j, c in zip(*np.unique(lab, return_counts=True), strict=True):
        a_budget[cells.terms[int(j)].term] -= int(c)
    for t in sorted(a_budget):
        j = cells.j(t)
        chosen = _pick(rng, has_ae & (cells.grade[:, j] == 0), a_budget[t], what=f"{t} patients")
        cells.grade[chosen, j] = cells.low_grade(rng, t, chosen.size)

    # 6. records
    ongoing = pat["ONGOING"].to_numpy().astype(np.bool_)
    ae = _records(rng, cells, mods, mod_cell, trts, trte, te_end, death, last_known, ongoing)
    spm = _spm_records(rng, pat, has_ae, trte, death, scale)
    return _to_sdtm(pl.concat([ae, spm], how="vertical"), pat, terms)


ACN = ("DOSE NOT CHANGED", "NOT APPLICABLE", "DRUG INTERRUPTED", "DOSE REDUCED")
OUT = ("RECOVERED/RESOLVED", "NOT RECOVERED/NOT RESOLVED", "FATAL")


def _records(
    rng: np.random.Generator,
    cells: _Cells,
    mods: pl.DataFrame,
    mod_cell: BoolArray,
    trts: IntArray,
    trte: IntArray,
    te_end: IntArray,
    death: IntArray,
    last_known: IntArray,
    ongoing: BoolArray,
) -> pl.DataFrame:
    """One record per cell without a modification, one per modification row otherwise.

    An AE ends by ``last_known`` (death, loss to follow-up or the cutoff), or is
    not resolved.

    Some cells of grade 2 or more also get an earlier, milder episode of the same
    term (a recurrence): it changes no worst grade and no patient count.
    """
    terms = cells.terms
    pp, jj = np.nonzero((cells.grade > 0) & ~mod_cell)
    pp, jj = pp.astype(np.int64), jj.astype(np.int64)
    g = cells.grade[pp, jj].astype(np.int64)
    ser = cells.serious[pp, jj]
    is_fatal = g == 5
    start = _uniform_day(rng, trts[pp], te_end[pp])
    fstart = np.maximum(trts[pp], death[pp] - rng.integers(1, 22, pp.size))
    start = np.where(is_fatal, fstart, start)
    off_drug = (start > trte[pp]) & ~ongoing[pp]
    acn = np.where(is_fatal | off_drug, 1, 0).astype(np.int64)
    mp = mods["_p"].to_numpy().astype(np.int64)
    col = {t.term: i for i, t in enumerate(terms)}
    mj = mods["AEDECOD"].replace_strict(col, return_dtype=pl.Int64).to_numpy().astype(np.int64)
    mdate = _days(mods["DATE"])
    mstart = np.maximum(mdate - rng.integers(0, 8, mp.size), trts[mp])
    if "PREVDOSE" in mods.columns:
        # A reducing AE began on or after the last dose at the old level and before
        # the first at the new one: the next dose after its start is the lower one.
        prev = mods["PREVDOSE"].is_not_null().to_numpy()
        last_old = _days(mods["PREVDOSE"])
        between = _uniform_day(rng, last_old, np.maximum(last_old, mdate - 1))
        mstart = np.where(prev, between, mstart)
    mg = cells.grade[mp, mj].astype(np.int64)
    macn = np.where(mods["ACTION"].to_numpy() == "DOSE REDUCED", 3, 2).astype(np.int64)
    # the serious flag goes to the earliest record of the cell
    mframe = pl.DataFrame({"p": mp, "j": mj, "s": mstart, "r": np.arange(mp.size)})
    first = (
        mframe.with_columns(
            (pl.col("r") == pl.col("r").sort_by(["s", "r"]).first().over(["p", "j"])).alias("f")
        )["f"]
        .to_numpy()
        .astype(np.bool_)
    )
    mser = cells.serious[mp, mj] & first
    # milder earlier episodes of a third of the cells graded 2-4
    lowest = np.array([min(t.grades) for t in terms], dtype=np.int64)
    cp, cj = np.nonzero((cells.grade >= 2) & (cells.grade <= 4))
    cp, cj = cp.astype(np.int64), cj.astype(np.int64)
    keep = (lowest[cj] < cells.grade[cp, cj]) & (rng.random(cp.size) < 1 / 3)
    rp, rj = cp[keep], cj[keep]
    rg = lowest[rj]
    rstart = _uniform_day(rng, trts[rp], te_end[rp])
    racn = np.where((rstart > trte[rp]) & ~ongoing[rp], 1, 0).astype(np.int64)
    no = np.zeros(rp.size, dtype=np.bool_)
    p_all = np.concatenate([pp, mp, rp])
    j_all = np.concatenate([jj, mj, rj])
    g_all = np.concatenate([g, mg, rg])
    s_all = np.concatenate([ser, mser, no])
    st_all = np.concatenate([start, mstart, rstart])
    acn_all = np.concatenate([acn, macn, racn])
    fatal_rec = g_all == 5
    dur = rng.geometric(1 / 18, p_all.size).astype(np.int64)
    end = st_all + dur
    limit = last_known[p_all]
    resolved = end <= limit
    end_out = np.where(fatal_rec, death[p_all], np.where(resolved, end, -1))
    out = np.where(fatal_rec, 2, np.where(resolved, 0, 1)).astype(np.int64)
    rel_p = np.array([t.related_prob for t in terms])[j_all]
    related = (rng.random(p_all.size) < rel_p) | (acn_all >= 2)
    return pl.DataFrame(
        {
            "_p": p_all,
            "_j": j_all,
            "_g": g_all,
            "_ser": s_all,
            "_acn": acn_all,
            "_rel": related,
            "_out": out,
            "_sdth": fatal_rec,
            "_hosp": s_all & ~fatal_rec,
            "_start": st_all,
            "_end": end_out.astype(np.int64),
            "_trtem": np.ones(p_all.size, dtype=np.bool_),
            "_spm": np.zeros(p_all.size, dtype=np.bool_),
        }
    )


def _spm_records(
    rng: np.random.Generator,
    pat: pl.DataFrame,
    has_ae: BoolArray,
    trte: IntArray,
    death: IntArray,
    scale: int,
) -> pl.DataFrame:
    """The two second primary malignancies per K, outside the treatment-emergent window."""
    cutoff = (CUTOFF - _EPOCH).days
    eap = _days(pat["EAPDT"])
    sfu = _days(pat["SFUDT"])
    sfu_group = (pat["GROUP"] == "SFU").to_numpy()
    lo1, hi1 = trte + TE_DAYS + 1, np.minimum(eap - 1, death - 1)
    duo = _pick(rng, has_ae & sfu_group & (lo1 <= hi1), scale, what="duodenal tumor patients")
    lo2 = np.maximum(sfu, trte + TE_DAYS + 1)
    hi2 = np.minimum(death - 1, cutoff)
    ok2 = has_ae & (sfu < 10**6) & (lo2 <= hi2)
    ok2[duo] = False
    naso = _pick(rng, ok2, scale, what="nasopharyngeal carcinoma patients")
    p = np.concatenate([duo, naso])
    lo = np.concatenate([lo1[duo], lo2[naso]])
    hi = np.concatenate([hi1[duo], hi2[naso]])
    start = _uniform_day(rng, lo, hi)
    col = {t.term: i for i, t in enumerate(ae_terms())}
    j = np.array([col[SPM_TERMS[0]]] * duo.size + [col[SPM_TERMS[1]]] * naso.size)
    m = p.size
    return pl.DataFrame(
        {
            "_p": p.astype(np.int64),
            "_j": j.astype(np.int64),
            "_g": np.full(m, 3, dtype=np.int64),
            "_ser": np.ones(m, dtype=np.bool_),
            "_acn": np.ones(m, dtype=np.int64),
            "_rel": np.zeros(m, dtype=np.bool_),
            "_out": np.ones(m, dtype=np.int64),
            "_sdth": np.zeros(m, dtype=np.bool_),
            "_hosp": np.ones(m, dtype=np.bool_),
            "_start": start.astype(np.int64),
            "_end": np.full(m, -1, dtype=np.int64),
            "_trtem": np.zeros(m, dtype=np.bool_),
            "_spm": np.ones(m, dtype=np.bool_),
        }
    )


def _yn(flag: str) -> pl.Expr:
    return pl.when(pl.col(flag)).then(pl.lit("Y")).otherwise(pl.lit("N"))


def _group_rank(sorted_keys: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """For keys already sorted: 0-based rank within the group, group start row, group size."""
    n = sorted_keys.size
    first = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]] if n else np.zeros(0, np.bool_)
    start = np.maximum.accumulate(np.where(first, np.arange(n), 0)) if n else first.astype(np.int64)
    starts = np.flatnonzero(first)
    sizes = np.diff(np.r_[starts, n])
    size = np.repeat(sizes, sizes)
    return (np.arange(n) - start).astype(np.int64), start.astype(np.int64), size.astype(np.int64)


def _to_sdtm(
    frame: pl.DataFrame, pat: pl.DataFrame, terms: tuple[AeTerm, ...]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """AE and SUPPAE from the integer-coded records (sorted, AESEQ by onset)."""
    cols = {c: frame[c].to_numpy() for c in ("_p", "_start", "_j")}
    order = np.lexsort((np.arange(frame.height), cols["_j"], cols["_start"], cols["_p"]))
    frame = frame[pl.Series(order)]
    p = frame["_p"].to_numpy().astype(np.int64)
    rank, start, size = _group_rank(p)
    seq = rank + 1
    j = frame["_j"]
    g = frame["_g"]
    decod = pl.Series("AEDECOD", [t.term for t in terms]).gather(j)
    soc = pl.Series("AEBODSYS", [t.soc for t in terms]).gather(j)
    verbatim = pl.Series("AETERM", [f"{t.term.lower()} grade {x}" for t in terms for x in range(6)])
    usub = pat["USUBJID"].gather(pl.Series(p))
    frame = frame.with_columns(
        pl.lit(STUDYID).alias("STUDYID"),
        pl.lit("AE").alias("DOMAIN"),
        usub.alias("USUBJID"),
        pl.Series("AESEQ", seq),
        decod,
        soc,
        soc.alias("AESOC"),
        decod.alias("AELLT"),
        pl.Series("AETOXGR", [str(x) for x in range(6)]).gather(g),
        verbatim.gather(j * 6 + g),
        pl.when(pl.col("_spm")).then(pl.lit(SPM_CAT)).otherwise(None).alias("AECAT"),
        pl.Series("AESEV", [SEVERITY.get(x, "") for x in range(6)]).gather(g),
        pl.Series("AEACN", list(ACN)).gather(frame["_acn"]),
        pl.Series("AEOUT", list(OUT)).gather(frame["_out"]),
        pl.when(pl.col("_rel"))
        .then(pl.lit("RELATED"))
        .otherwise(pl.lit("NOT RELATED"))
        .alias("AEREL"),
        _yn("_ser").alias("AESER"),
        _yn("_sdth").alias("AESDTH"),
        _yn("_hosp").alias("AESHOSP"),
        _iso(frame["_start"]).alias("AESTDTC"),
        pl.when(pl.col("_end") >= 0)
        .then(_iso(frame["_end"].clip(lower_bound=0)))
        .otherwise(None)
        .alias("AEENDTC"),
    )
    # SUPPAE: per subject the AETOXTRM rows, then the AETRTEM rows, each in AESEQ order
    n = frame.height
    src = np.empty(2 * n, dtype=np.int64)
    q = np.empty(2 * n, dtype=np.int64)
    rows = np.arange(n, dtype=np.int64)
    pos_tox = 2 * start + rank
    pos_flag = 2 * start + size + rank
    src[pos_tox], src[pos_flag] = rows, rows
    q[pos_tox], q[pos_flag] = 0, 1
    trtem = frame["_trtem"].to_numpy().astype(np.int64)
    code = np.where(q == 0, j.to_numpy()[src], len(terms) + trtem[src])
    qs = pl.Series(q)
    max_seq = int(seq.max()) if n else 0
    supp = pl.DataFrame({"STUDYID": pl.repeat(STUDYID, 2 * n, eager=True)}).with_columns(
        pl.lit("AE").alias("RDOMAIN"),
        usub.gather(pl.Series(src)).alias("USUBJID"),
        pl.lit("AESEQ").alias("IDVAR"),
        pl.Series("IDVARVAL", [str(x) for x in range(max_seq + 1)]).gather(pl.Series(seq[src])),
        pl.Series("QNAM", ["AETOXTRM", "AETRTEM"]).gather(qs),
        pl.Series(
            "QLABEL", ["CTCAE v4.03 Term Used for Grading", "Treatment Emergent Flag"]
        ).gather(qs),
        pl.Series("QVAL", [t.ctcae_term for t in terms] + ["N", "Y"]).gather(pl.Series(code)),
        pl.Series("QORIG", ["ASSIGNED", "DERIVED"]).gather(qs),
    )
    return frame.select(AE_COLUMNS), supp


# ---------------------------------------------------------------- concomitant medications

CM_COLUMNS = [
    "STUDYID",
    "DOMAIN",
    "USUBJID",
    "CMSEQ",
    "CMTRT",
    "CMDECOD",
    "CMCAT",
    "CMINDC",
    "CMCLAS",
    "CMSTDTC",
    "CMENDTC",
]
# class -> (published key, drugs as CMDECOD, indication)
CM_CLASSES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "ANTITHROMBOTIC AGENTS": (
        "anti_thrombotic_prophylaxis_aspirin",
        ("ACETYLSALICYLIC ACID",),
        "THROMBOPROPHYLAXIS",
    ),
    "PROTON PUMP INHIBITORS": (
        "proton pump inhibitors",
        ("OMEPRAZOLE", "PANTOPRAZOLE", "ESOMEPRAZOLE", "LANSOPRAZOLE", "RABEPRAZOLE"),
        "GASTRIC PROTECTION",
    ),
    "BISPHOSPHONATES": (
        "bisphosphonates",
        ("ZOLEDRONIC ACID", "PAMIDRONIC ACID", "CLODRONIC ACID"),
        "MYELOMA BONE DISEASE",
    ),
    "HERBAL AND TRADITIONAL MEDICINES": (
        "unspecified herbal and traditional medicines",
        ("UNSPECIFIED HERBAL AND TRADITIONAL MEDICINE",),
        "SUPPORTIVE CARE",
    ),
    "FLUOROQUINOLONES": (
        "fluoroquinolones",
        ("LEVOFLOXACIN", "MOXIFLOXACIN", "CIPROFLOXACIN"),
        "INFECTION",
    ),
}
REGIMENS = {
    "B": (
        "BORTEZOMIB + DEXAMETHASONE",
        "BORTEZOMIB + CYCLOPHOSPHAMIDE + DEXAMETHASONE",
        "BORTEZOMIB + DOXORUBICIN + DEXAMETHASONE",
    ),
    "T": ("THALIDOMIDE + DEXAMETHASONE", "MELPHALAN + PREDNISONE + THALIDOMIDE", "THALIDOMIDE"),
    "BT": ("BORTEZOMIB + THALIDOMIDE + DEXAMETHASONE",),
    "N": (
        "VINCRISTINE + DOXORUBICIN + DEXAMETHASONE",
        "MELPHALAN + PREDNISONE",
        "CYCLOPHOSPHAMIDE + DEXAMETHASONE",
        "DEXAMETHASONE",
    ),
}


def _exact_subset(rng: np.random.Generator, n: int, k: int) -> IntArray:
    return np.sort(rng.permutation(n)[:k]).astype(np.int64)


def _cm_vocabulary() -> tuple[list[str], list[str], list[str]]:
    """Drug names, classes and indications, indexed by the integer codes used below."""
    drugs = [d for _, ds, _ in CM_CLASSES.values() for d in ds]
    drugs += [r for regs in REGIMENS.values() for r in regs]
    classes = [*CM_CLASSES, "ANTINEOPLASTIC AGENTS"]
    indications = [ind for _, _, ind in CM_CLASSES.values()] + ["MULTIPLE MYELOMA"]
    return drugs, classes, indications


def concomitant_medications(
    patients: pl.DataFrame, rng: np.random.Generator, scale: int, *, binomial: bool = False
) -> pl.DataFrame:
    """SDTM CM: the published concomitant medication classes plus prior anti-myeloma regimens.

    Each class goes to exactly its published count x ``scale`` patients; with
    ``binomial`` (the protocol model, whose cohort size varies) each patient takes it
    with the published proportion instead.
    """
    pat = patients.sort("USUBJID")
    n = pat.height
    trts = _days(pat["TRTSDT"])
    stop = np.minimum(np.minimum(_days(pat["DTHDT"]), (CUTOFF - _EPOCH).days), _days(pat["TRTEDT"]))
    ongoing = pat["ONGOING"].to_numpy().astype(np.bool_)
    pub = published()["concomitant_medications_safety"]
    drugs, classes, indications = _cm_vocabulary()
    parts: list[pl.DataFrame] = []
    for c, cls in enumerate(CM_CLASSES):
        key, names, _ = CM_CLASSES[cls]
        k = int(pub[key]["n"]) * scale
        if binomial:
            k = int(rng.binomial(n, int(pub[key]["n"]) / published()["populations"]["safety"]))
        who = _exact_subset(rng, n, k)
        reps = np.where(rng.random(who.size) < 0.3, 2, 1) if len(names) > 1 else np.ones(who.size)
        p = np.repeat(who, reps.astype(np.int64))
        start = _uniform_day(rng, trts[p], np.maximum(stop[p], trts[p]))
        end = start + rng.integers(5, 120, p.size)
        end = np.where(end <= stop[p], end, -1)
        if cls == "ANTITHROMBOTIC AGENTS":
            # thromboprophylaxis for as long as Rd is taken
            start = trts[p]
            end = np.where(ongoing[p], -1, stop[p]).astype(np.int64)
        drug = drugs.index(names[0]) + rng.integers(0, len(names), p.size)
        parts.append(_cm_part(p, drug, c, c, 0, start, end))
    parts.append(_prior_regimens(rng, pat, drugs.index(REGIMENS["B"][0]), len(classes) - 1))
    cm = pl.concat(parts).with_row_index("_ord").sort(["_p", "_start", "_cat", "_drug", "_ord"])
    cm = cm.with_columns(pl.int_range(1, pl.len() + 1).over("_p").alias("CMSEQ"))
    drug_s = pl.Series("CMDECOD", drugs).gather(cm["_drug"])
    cm = cm.with_columns(
        pl.lit(STUDYID).alias("STUDYID"),
        pl.lit("CM").alias("DOMAIN"),
        pat["USUBJID"].gather(cm["_p"]).alias("USUBJID"),
        drug_s.alias("CMTRT"),
        drug_s,
        pl.Series("CMCAT", ["CONCOMITANT MEDICATION", PRIOR_CAT]).gather(cm["_cat"]),
        pl.Series("CMINDC", indications).gather(cm["_indc"]),
        pl.Series("CMCLAS", classes).gather(cm["_cls"]),
        _iso(cm["_start"]).alias("CMSTDTC"),
        pl.when(pl.col("_end") >= 0)
        .then(_iso(cm["_end"].clip(lower_bound=0)))
        .otherwise(None)
        .alias("CMENDTC"),
    )
    return cm.select(CM_COLUMNS)


def _cm_part(
    p: IntArray, drug: IntArray, cls: int, indc: int, cat: int, start: IntArray, end: IntArray
) -> pl.DataFrame:
    m = p.size
    return pl.DataFrame(
        {
            "_p": p.astype(np.int64),
            "_drug": drug.astype(np.int64),
            "_cls": np.full(m, cls, dtype=np.int64),
            "_indc": np.full(m, indc, dtype=np.int64),
            "_cat": np.full(m, cat, dtype=np.int64),
            "_start": start.astype(np.int64),
            "_end": end.astype(np.int64),
        }
    )


def _prior_regimens(
    rng: np.random.Generator, pat: pl.DataFrame, first_regimen: int, cls: int
) -> pl.DataFrame:
    """NPRIOR regimens before MM-021 enrolment, naming bortezomib/thalidomide exactly."""
    nprior = pat["NPRIOR"].to_numpy().astype(np.int64)
    bort = pat["PRIORBORT"].to_numpy().astype(np.bool_)
    thal = pat["PRIORTHAL"].to_numpy().astype(np.bool_)
    diag = _days(pat["DIAGDT"])
    enrl = _days(pat["ENRLDT"])
    p = np.repeat(np.arange(pat.height, dtype=np.int64), nprior)
    first = np.r_[0, np.cumsum(nprior)[:-1]]
    j = np.arange(p.size) - np.repeat(first, nprior)
    b, t, m = bort[p], thal[p], nprior[p]
    kinds = list(REGIMENS)  # B, T, BT, N
    kind = np.full(p.size, kinds.index("N"), dtype=np.int64)
    # required regimens first: one with each drug the patient had
    kind[(j == 0) & b & t & (m == 1)] = kinds.index("BT")
    kind[(j == 0) & b & ~(t & (m == 1))] = kinds.index("B")
    kind[(j == 0) & ~b & t] = kinds.index("T")
    kind[(j == 1) & b & t] = kinds.index("T")
    free = ~((j == 0) & (b | t)) & ~((j == 1) & b & t)
    u = rng.random(p.size)
    kind[free & b & (u < 0.25)] = kinds.index("B")
    kind[free & t & (u >= 0.25) & (u < 0.45)] = kinds.index("T")
    offset = np.cumsum([0] + [len(REGIMENS[k]) for k in kinds])[:-1]
    size = np.array([len(REGIMENS[k]) for k in kinds], dtype=np.int64)
    drug = first_regimen + offset[kind] + np.floor(rng.random(p.size) * size[kind]).astype(np.int64)
    # chronological order at random; periods split [DIAGDT, ENRLDT - 14]
    order_key = rng.random(p.size)
    lo, hi = diag[p], np.maximum(enrl[p] - 14, diag[p] + m)
    rank = (
        pl.DataFrame({"p": p, "k": order_key})
        .select(pl.col("k").rank("ordinal").over("p"))["k"]
        .to_numpy()
        .astype(np.int64)
    )
    width = (hi - lo) // m
    start = lo + (rank - 1) * width
    end = np.minimum(start + np.maximum(width - 7, 1), enrl[p] - 1)
    return _cm_part(p, drug, cls, cls, 1, start, end)


# ---------------------------------------------------------------- medical history

MH_COLUMNS = [
    "STUDYID",
    "DOMAIN",
    "USUBJID",
    "MHSEQ",
    "MHTERM",
    "MHDECOD",
    "MHCAT",
    "MHBODSYS",
    "MHSTDTC",
    "MHENDTC",
]
COMORBIDITIES = (
    ("Hypertension", "Vascular disorders", 0.30),
    ("Type 2 diabetes mellitus", "Metabolism and nutrition disorders", 0.12),
    ("Osteoporosis", "Musculoskeletal and connective tissue disorders", 0.20),
    ("Hepatitis B", "Infections and infestations", 0.10),
    ("Renal impairment", "Renal and urinary disorders", 0.15),
    ("Peripheral sensory neuropathy", "Nervous system disorders", 0.35),
    ("Hyperlipidemia", "Metabolism and nutrition disorders", 0.10),
    ("Back pain", "Musculoskeletal and connective tissue disorders", 0.40),
)


def medical_history(patients: pl.DataFrame, rng: np.random.Generator, scale: int) -> pl.DataFrame:
    """SDTM MH: the myeloma diagnosis and plausible comorbidities before MM-021."""
    pat = patients.sort("USUBJID")
    n = pat.height
    usub = pat["USUBJID"].to_numpy()
    diag = _days(pat["DIAGDT"])
    enrl = _days(pat["ENRLDT"])
    parts = [
        pl.DataFrame(
            {
                "USUBJID": usub,
                "MHTERM": np.full(n, "MULTIPLE MYELOMA"),
                "MHDECOD": np.full(n, "Multiple myeloma"),
                "MHCAT": np.full(n, "PRIMARY DIAGNOSIS"),
                "MHBODSYS": np.full(
                    n, "Neoplasms benign, malignant and unspecified (incl cysts and polyps)"
                ),
                "_start": diag,
            }
        )
    ]
    neurotoxic = (pat["PRIORBORT"] | pat["PRIORTHAL"]).to_numpy().astype(np.bool_)
    for term, soc, prob in COMORBIDITIES:
        if term == "Peripheral sensory neuropathy":
            # neuropathy before MM-021 follows prior bortezomib or thalidomide
            who = np.flatnonzero(rng.random(n) < np.where(neurotoxic, prob, 0.02))
            start = _uniform_day(rng, diag[who], enrl[who] - 1)
        else:
            who = np.flatnonzero(rng.random(n) < prob)
            start = _uniform_day(rng, diag[who] - 3650, enrl[who] - 1)
        parts.append(
            pl.DataFrame(
                {
                    "USUBJID": pl.Series(usub[who], dtype=pl.String),
                    "MHTERM": np.full(who.size, term.upper()),
                    "MHDECOD": np.full(who.size, term),
                    "MHCAT": np.full(who.size, "GENERAL MEDICAL HISTORY"),
                    "MHBODSYS": np.full(who.size, soc),
                    "_start": start.astype(np.int64),
                }
            )
        )
    mh = pl.concat(parts)
    mh = mh.with_columns(
        pl.lit(STUDYID).alias("STUDYID"),
        pl.lit("MH").alias("DOMAIN"),
        _iso(mh["_start"]).alias("MHSTDTC"),
        pl.lit(None, dtype=pl.String).alias("MHENDTC"),
    )
    mh = _seq(mh, "MHSEQ", ["_start", "MHTERM"])
    del scale
    return mh.select(MH_COLUMNS)


# ---------------------------------------------------------------- procedures

PR_COLUMNS = ["STUDYID", "DOMAIN", "USUBJID", "PRSEQ", "PRTRT", "PRCAT", "PRSTDTC"]
SURGERIES = (
    "SPINAL DECOMPRESSION SURGERY",
    "VERTEBROPLASTY",
    "SURGICAL RESECTION OF PLASMACYTOMA",
)
PR_SURGERY = "PRIOR CANCER SURGERY"
PR_RADIATION = "PRIOR RADIATION THERAPY"


def procedures(patients: pl.DataFrame, rng: np.random.Generator, scale: int) -> pl.DataFrame:
    """SDTM PR: one prior cancer surgery / prior radiation therapy record per flagged patient."""
    pat = patients.sort("USUBJID")
    usub = pat["USUBJID"].to_numpy()
    diag = _days(pat["DIAGDT"])
    enrl = _days(pat["ENRLDT"])
    parts = []
    for flag, cat in (("SURGERY", PR_SURGERY), ("RADIATION", PR_RADIATION)):
        who = np.flatnonzero(pat[flag].to_numpy().astype(np.bool_))
        trt = (
            np.array(SURGERIES)[rng.integers(0, len(SURGERIES), who.size)]
            if flag == "SURGERY"
            else np.full(who.size, "LOCAL RADIOTHERAPY")
        )
        start = _uniform_day(rng, diag[who], np.maximum(enrl[who] - 1, diag[who]))
        parts.append(
            pl.DataFrame(
                {
                    "USUBJID": pl.Series(usub[who], dtype=pl.String),
                    "PRTRT": trt.astype(str),
                    "PRCAT": np.full(who.size, cat),
                    "_start": start.astype(np.int64),
                },
                schema={
                    "USUBJID": pl.String,
                    "PRTRT": pl.String,
                    "PRCAT": pl.String,
                    "_start": pl.Int64,
                },
            )
        )
    pr = pl.concat(parts)
    pr = pr.with_columns(
        pl.lit(STUDYID).alias("STUDYID"),
        pl.lit("PR").alias("DOMAIN"),
        _iso(pr["_start"]).alias("PRSTDTC"),
    )
    pr = _seq(pr, "PRSEQ", ["_start", "PRCAT"])
    del scale
    return pr.select(PR_COLUMNS)

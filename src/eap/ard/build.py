"""Build the MM-024 ARD from ADaM datasets (one function per analysis)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import polars as pl

from eap.datasets.model import Dataset
from eap.errors import EapError
from eap.stats import kaplan_meier

ARD_SCHEMA: dict[str, pl.DataType] = {
    "ANALYSIS": pl.String(),
    "POPULATION": pl.String(),
    "VARIABLE": pl.String(),
    "LEVEL": pl.String(),
    "STAT": pl.String(),
    "VALUE": pl.Float64(),
    "SUBJECTS": pl.List(pl.String()),
}
Row = tuple[str, str, str, str | None, str, float | None, list[str]]
GROUP = "Rd (lenalidomide + low-dose dexamethasone)"


def populations(adsl: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Safety population (SAFFL) and treatment cohort (TCFL) subjects."""
    safety = adsl.filter(pl.col("SAFFL") == "Y")
    return {"safety": safety, "treatment_cohort": safety.filter(pl.col("TCFL") == "Y")}


def _pct(n: int, n_total: int) -> float | None:
    """Percent of the population; not estimable (None) for an empty population."""
    return 100.0 * n / n_total if n_total else None


def _counts(
    analysis: str, pop: str, variable: str, frame: pl.DataFrame, level_col: str, n_total: int
) -> list[Row]:
    """n and pct of subjects per level (each subject once per level)."""
    rows: list[Row] = []
    grouped = frame.group_by(level_col).agg(pl.col("USUBJID").unique().sort())
    for level, subjects in grouped.iter_rows():
        n = len(subjects)
        rows.append((analysis, pop, variable, str(level), "n", float(n), list(subjects)))
        rows.append((analysis, pop, variable, str(level), "pct", _pct(n, n_total), []))
    return rows


def _any(analysis: str, pop: str, variable: str, subjects: pl.Series, n_total: int) -> list[Row]:
    ids = sorted(set(subjects.to_list()))
    return [
        (analysis, pop, variable, None, "n", float(len(ids)), ids),
        (analysis, pop, variable, None, "pct", _pct(len(ids), n_total), []),
    ]


def _summary(analysis: str, pop: str, variable: str, values: pl.Series) -> list[Row]:
    v = values.drop_nulls().cast(pl.Float64).to_numpy()
    stats: dict[str, float | None] = {"n": float(v.size)}
    if v.size:
        stats |= {
            "mean": float(v.mean()),
            "median": float(np.median(v)),
            "min": float(v.min()),
            "max": float(v.max()),
        }
    return [(analysis, pop, variable, None, stat, value, []) for stat, value in stats.items()]


def baseline(adam: Mapping[str, Dataset]) -> list[Row]:
    """DMT01: Table 1."""
    rows: list[Row] = []
    for pop, subjects in populations(adam["ADSL"].frame).items():
        n = subjects.height
        rows.append(("DMT01", pop, "N", None, "N", float(n), []))
        rows += _summary("DMT01", pop, "AGE", subjects["AGE"])
        for var in ("AGEGR1", "SEX", "ECOGBL", "DSSTAGE", "NPRIORGR"):
            if var in subjects.columns:
                rows += _counts(
                    "DMT01", pop, var, subjects.filter(pl.col(var).is_not_null()), var, n
                )
        if "NPRIOR" in subjects.columns:
            rows += _summary("DMT01", pop, "NPRIOR", subjects["NPRIOR"])
        for var in ("PRIBORFL", "PRITHAFL", "PRISURFL", "PRIRADFL"):
            if var in subjects.columns:
                rows += _any("DMT01", pop, var, subjects.filter(pl.col(var) == "Y")["USUBJID"], n)
        if {"PRIBORFL", "PRITHAFL"} <= set(subjects.columns):
            both = subjects.filter((pl.col("PRIBORFL") == "Y") & (pl.col("PRITHAFL") == "Y"))
            neither = subjects.filter((pl.col("PRIBORFL") != "Y") & (pl.col("PRITHAFL") != "Y"))
            rows += _any("DMT01", pop, "PRIBOTH", both["USUBJID"], n)
            rows += _any("DMT01", pop, "PRINEITHER", neither["USUBJID"], n)
    return rows


def exposure(adam: Mapping[str, Dataset]) -> list[Row]:
    """EXT01: Rd duration, average dose, dose intensity, relative dose intensity."""
    adex = adam["ADEX"].frame
    rows: list[Row] = []
    for pop, subjects in populations(adam["ADSL"].frame).items():
        mine = adex.filter(pl.col("USUBJID").is_in(subjects["USUBJID"].implode()))
        for param in ("TRTDURM", "ADDOSE", "DOSEINT", "RDI"):
            rows += _summary("EXT01", pop, param, mine.filter(pl.col("PARAMCD") == param)["AVAL"])
        beyond = mine.filter((pl.col("PARAMCD") == "GT108WK") & (pl.col("AVALC") == "Y"))
        rows += _any("EXT01", pop, "GT108WK", beyond["USUBJID"], subjects.height)
    return rows


def disposition(adam: Mapping[str, Dataset]) -> list[Row]:
    """DST01: on treatment at cutoff, discontinued and why; DTHT01: deaths and causes."""
    rows: list[Row] = []
    adex = adam["ADEX"].frame if "ADEX" in adam else None
    for pop, subjects in populations(adam["ADSL"].frame).items():
        n = subjects.height
        ongoing = subjects.filter(pl.col("EOTSTT") == "ONGOING")
        rows += _any("DST01", pop, "ONGOING", ongoing["USUBJID"], n)
        if adex is not None:
            # Current dose of those on treatment: 25 mg, or 10 mg when that is the full
            # planned (renal) dose, i.e. a planned intensity of 10 x 21 / 28 mg/day.
            wide = adex.filter(pl.col("USUBJID").is_in(ongoing["USUBJID"].implode())).pivot(
                on="PARAMCD", index="USUBJID", values="AVAL"
            )
            if {"LASTDOSE", "PLDOSINT"} <= set(wide.columns):
                at25 = wide.filter(pl.col("LASTDOSE") == 25)["USUBJID"]
                full10 = wide.filter((pl.col("LASTDOSE") == 10) & (pl.col("PLDOSINT") == 7.5))[
                    "USUBJID"
                ]
                for level, ids in (("25", at25), ("10 FULL", full10)):
                    rows += [
                        (r[0], r[1], r[2], level, *r[4:])
                        for r in _any("DST01", pop, "ONGOING_DOSE", ids, n)
                    ]
        stopped = subjects.filter(pl.col("EOTSTT") == "DISCONTINUED")
        rows += _any("DST01", pop, "DISCONTINUED", stopped["USUBJID"], n)
        rows += _counts("DST01", pop, "DCTREAS", stopped, "DCTREAS", n)
        dead = subjects.filter(pl.col("DTHDT").is_not_null())
        rows += _any("DTHT01", pop, "DEATH", dead["USUBJID"], n)
        rows += _counts(
            "DTHT01", pop, "DTHCAUS", dead.filter(pl.col("DTHCAUS").is_not_null()), "DTHCAUS", n
        )
    return rows


def adverse_events(adam: Mapping[str, Dataset]) -> list[Row]:
    """AET01/02/04/09/05/10: patients counted once per term, at their worst grade."""
    adae = adam["ADAE"].frame
    rows: list[Row] = []
    for pop, subjects in populations(adam["ADSL"].frame).items():
        n = subjects.height
        mine = adae.filter(pl.col("USUBJID").is_in(subjects["USUBJID"].implode()))
        te = mine.filter(pl.col("TRTEMFL") == "Y")
        rows += _any("AET01", pop, "ANY", te["USUBJID"], n)
        rows += _counts("AET02", pop, "AEDECOD", te, "AEDECOD", n)
        rows += _counts("AET02", pop, "AEBODSYS", te, "AEBODSYS", n)
        nested = te.with_columns(pl.concat_str("AEBODSYS", pl.lit("|"), "AEDECOD").alias("SOCPT"))
        rows += _counts("AET02", pop, "SOCPT", nested, "SOCPT", n)
        g34 = te.filter(pl.col("TOXG34FL") == "Y")
        rows += _any("AET04", pop, "ANY", g34["USUBJID"], n)
        rows += _counts("AET04", pop, "AEDECOD", g34, "AEDECOD", n)
        serious = te.filter(pl.col("AESER") == "Y")
        rows += _any("AET09", pop, "ANY", serious["USUBJID"], n)
        rows += _counts("AET09", pop, "AEDECOD", serious, "AEDECOD", n)
        actions = te.group_by("USUBJID").agg(
            (pl.col("ACTLEN") == "INTERRUPTED").any().alias("I"),
            (pl.col("ACTLEN") == "REDUCED").any().alias("R"),
            (pl.col("ACTLEN") == "WITHDRAWN").any().alias("W"),
        )
        for level, cond in (
            ("INTERRUPTION ONLY", pl.col("I") & ~pl.col("R")),
            ("REDUCTION ONLY", ~pl.col("I") & pl.col("R")),
            ("INTERRUPTION AND REDUCTION", pl.col("I") & pl.col("R")),
            ("DISCONTINUATION", pl.col("W")),
        ):
            ids = actions.filter(cond)["USUBJID"]
            rows += [
                (r[0], r[1], "ACTLEN", level, *r[4:]) for r in _any("AET05", pop, "ACTLEN", ids, n)
            ]
        leading = te.filter(pl.col("ACTLEN").is_in(["INTERRUPTED", "REDUCED"]))
        rows += _any("AET05", pop, "ANY", leading["USUBJID"], n)
        rows += _counts("AET05", pop, "AEDECOD", leading, "AEDECOD", n)
        spm = mine.filter(pl.col("SPMFL") == "Y")
        rows += _any("AET10", pop, "ANY", spm["USUBJID"], n)
        rows += _counts("AET10", pop, "AEDECOD", spm, "AEDECOD", n)
    return rows


SPM_LISTING = ("AETERM", "AEDECOD", "APHASE", "ASTDT", "ASTDY", "ATOXGRN", "AESER", "AEOUT")


def spm_listing(adam: Mapping[str, Dataset]) -> list[Row]:
    """AET10L: the second primary malignancies record by record, one ARD row per listing cell.

    STAT is the record's key (USUBJID/AESEQ); a text value is in LEVEL, a number in
    VALUE; SUBJECTS names the patient. TCFL says whether they are in the treatment cohort.
    """
    adsl = populations(adam["ADSL"].frame)["safety"]
    spm = (
        adam["ADAE"]
        .frame.filter((pl.col("SPMFL") == "Y") & pl.col("USUBJID").is_in(adsl["USUBJID"].implode()))
        .join(adsl.select("USUBJID", pl.col("TCFL").alias("COHORT")), on="USUBJID", how="left")
        .sort("USUBJID", "AESEQ")
    )
    rows: list[Row] = []
    for record in spm.iter_rows(named=True):
        key = f"{record['USUBJID']}/{record['AESEQ']}"
        who = [record["USUBJID"]]
        rows.append(("AET10L", "safety", "TCFL", record["COHORT"] or "N", key, None, who))
        for variable in SPM_LISTING:
            value = record.get(variable)
            if isinstance(value, int | float) and not isinstance(value, bool):
                rows.append(("AET10L", "safety", variable, None, key, float(value), who))
            else:
                text = None if value is None else str(value)
                rows.append(("AET10L", "safety", variable, text, key, None, who))
    return rows


def medications(adam: Mapping[str, Dataset], sdtm_cm: pl.DataFrame | None) -> list[Row]:
    """CMT01: patients per medication class (prior anti-myeloma therapy excluded)."""
    if sdtm_cm is None:
        return []
    cm = sdtm_cm.filter(pl.col("CMCAT") != "PRIOR ANTI-MYELOMA THERAPY")
    rows: list[Row] = []
    for pop, subjects in populations(adam["ADSL"].frame).items():
        mine = cm.filter(pl.col("USUBJID").is_in(subjects["USUBJID"].implode()))
        rows += _counts(
            "CMT01",
            pop,
            "CMCLAS",
            mine.filter(pl.col("CMCLAS").is_not_null()),
            "CMCLAS",
            subjects.height,
        )
    return rows


def time_to_event(adam: Mapping[str, Dataset]) -> list[Row]:
    """TTET01: Kaplan-Meier median (log-log CI, R rule), events, censored, landmarks; FUT01."""
    adtte = adam["ADTTE"].frame
    rows: list[Row] = []
    for pop, subjects in populations(adam["ADSL"].frame).items():
        mine = adtte.filter(pl.col("USUBJID").is_in(subjects["USUBJID"].implode()))
        for param in ("PFS", "TTP", "OS", "DOR"):
            f = mine.filter(pl.col("PARAMCD") == param)
            if f.height == 0:
                continue
            curve = kaplan_meier(f["AVAL"].to_numpy(), 1 - f["CNSR"].to_numpy()).curves[0]
            m = curve.median
            for stat, value in (
                ("n", float(curve.n)),
                ("events", float(curve.events)),
                ("censored", float(curve.censored)),
                ("median", m.estimate),
                ("lower", m.lower),
                ("upper", m.upper),
            ):
                rows.append(("TTET01", pop, param, None, stat, value, []))
            for at in curve.survival_at([12.0, 24.0, 36.0]):
                rows.append(
                    ("TTET01", pop, param, f"{at.time:g} months", "survival", at.survival, [])
                )
            rows += km_curve_rows(pop, param, curve)
        fup = mine.filter(pl.col("PARAMCD") == "FUP")
        rows += _summary("FUT01", pop, "FUP", fup["AVAL"])
    return rows


RISK_TIMES = tuple(float(t) for t in range(0, 55, 6))
TOXICITY_INTERVALS = (0.0, 6.0, 12.0, 24.0)
TOXICITY_TERMS = ("Neutropenia", "Anemia", "Thrombocytopenia", "Pneumonia")


def cumulative_toxicity(adam: Mapping[str, Dataset]) -> list[Row]:
    """AET11: grade 3-4 TEAE onset by treatment-time interval and per 100 patient-years.

    Onset: months on treatment at the first grade 3-4 TEAE (of any term, or of one
    term); exposure: Rd duration in months (ADEX TRTDURM). Intervals 0-6, 6-12,
    12-24 and >= 24 months: patients at risk at the start and those with onset in
    it (eap.stats.incidence_by_interval). Rate: first onsets / time at risk in
    years x 100, exact Poisson 95% CI (eap.stats.exposure_adjusted_incidence_rate).
    """
    from eap.stats import exposure_adjusted_incidence_rate, incidence_by_interval, time_at_risk

    adae, adex = adam["ADAE"].frame, adam["ADEX"].frame
    rows: list[Row] = []
    subjects = populations(adam["ADSL"].frame)["safety"].select("USUBJID")
    exposure = subjects.join(
        adex.filter(pl.col("PARAMCD") == "TRTDURM").select("USUBJID", pl.col("AVAL").alias("EXPO")),
        on="USUBJID",
        how="left",
    ).with_columns(pl.col("EXPO").fill_null(0.0))
    g34 = adae.filter((pl.col("TRTEMFL") == "Y") & (pl.col("TOXG34FL") == "Y"))
    for term in ("ANY", *TOXICITY_TERMS):
        events = g34 if term == "ANY" else g34.filter(pl.col("AEDECOD") == term)
        first = events.group_by("USUBJID").agg(pl.col("ONTRTM").min().alias("ONSET"))
        data = exposure.join(first, on="USUBJID", how="left")
        onset = data["ONSET"].fill_null(float("nan")).to_numpy()
        expo = data["EXPO"].to_numpy()
        for interval in incidence_by_interval(onset, expo, TOXICITY_INTERVALS):
            level = (
                f"{term}|{interval.start:g}-{'' if interval.end is None else f'{interval.end:g}'}"
            )
            rows.append(
                ("AET11", "safety", "ONSET", level, "n_risk", float(interval.n_at_risk), [])
            )
            rows.append(("AET11", "safety", "ONSET", level, "n_onset", float(interval.n_onset), []))
            rows.append(("AET11", "safety", "ONSET", level, "pct", interval.percent, []))
        years = time_at_risk(expo / 12.0, onset / 12.0)
        rate = exposure_adjusted_incidence_rate(~pl.Series(onset).is_nan().to_numpy() * 1, years)
        for stat, value in (
            ("events", float(rate.events)),
            ("patient_years", rate.time_at_risk),
            ("rate", rate.rate),
            ("lower", rate.lower),
            ("upper", rate.upper),
        ):
            rows.append(("AET11", "safety", "EAIR", term, stat, value, []))
    return rows


def km_curve_rows(pop: str, param: str, curve: Any) -> list[Row]:
    """KMG01: the step function (survival after each time, censorings) and numbers at risk."""
    rows: list[Row] = [("KMG01", pop, param, "0", "survival", 1.0, [])]
    for t, s, c in zip(curve.time, curve.survival, curve.n_censor, strict=True):
        rows.append(("KMG01", pop, param, f"{t:.6g}", "survival", float(s), []))
        if c:
            rows.append(("KMG01", pop, param, f"{t:.6g}", "censored", float(c), []))
    for t, n in zip(RISK_TIMES, curve.n_risk_at(list(RISK_TIMES)), strict=True):
        rows.append(("KMG01", pop, param, f"{t:g}", "n_risk", float(n), []))
    return rows


def swimmer(adam: Mapping[str, Dataset]) -> list[Row]:
    """SWMG01: per treatment-cohort patient, months on Rd and the times of its events.

    Rows per subject (VARIABLE = USUBJID): duration (ADEX TRTDURM), ongoing (1/0),
    dose reductions and grade 3-4 TEAE onsets (ADAE ONTRTM), progression (ADTTE TTP
    event) and death (ADTTE OS event), all in months from the first dose.
    """
    adsl, adex, adae, adtte = (adam[n].frame for n in ("ADSL", "ADEX", "ADAE", "ADTTE"))
    tc = populations(adsl)["treatment_cohort"].select("USUBJID", "EOTSTT")
    te = adae.filter(pl.col("TRTEMFL") == "Y").join(tc, on="USUBJID")
    parts = [
        adex.filter(pl.col("PARAMCD") == "TRTDURM")
        .join(tc, on="USUBJID")
        .select(
            "USUBJID",
            pl.lit(None, dtype=pl.String).alias("LEVEL"),
            pl.lit("duration").alias("STAT"),
            "AVAL",
        ),
        tc.select(
            "USUBJID",
            pl.lit(None, dtype=pl.String).alias("LEVEL"),
            pl.lit("ongoing").alias("STAT"),
            (pl.col("EOTSTT") == "ONGOING").cast(pl.Float64).alias("AVAL"),
        ),
        te.filter(pl.col("ACTLEN") == "REDUCED").select(
            "USUBJID",
            pl.lit("reduction").alias("LEVEL"),
            pl.lit("time").alias("STAT"),
            pl.col("ONTRTM").alias("AVAL"),
        ),
        te.filter(pl.col("TOXG34FL") == "Y").select(
            "USUBJID",
            pl.lit("grade34").alias("LEVEL"),
            pl.lit("time").alias("STAT"),
            pl.col("ONTRTM").alias("AVAL"),
        ),
        *(
            adtte.filter((pl.col("PARAMCD") == param) & (pl.col("CNSR") == 0))
            .join(tc, on="USUBJID")
            .select("USUBJID", pl.lit(kind).alias("LEVEL"), pl.lit("time").alias("STAT"), "AVAL")
            for kind, param in (("progression", "TTP"), ("death", "OS"))
        ),
    ]
    frame = pl.concat(parts).with_columns(pl.col("AVAL").cast(pl.Float64))
    return [
        ("SWMG01", "treatment_cohort", u, level, stat, value, [u])
        for u, level, stat, value in frame.iter_rows()
    ]


ANALYSES: tuple[tuple[str, Callable[[Mapping[str, Dataset]], list[Row]], tuple[str, ...]], ...] = (
    ("baseline", baseline, ("ADSL",)),
    ("exposure", exposure, ("ADSL", "ADEX")),
    ("disposition", disposition, ("ADSL",)),
    ("adverse events", adverse_events, ("ADSL", "ADAE")),
    ("time to event", time_to_event, ("ADSL", "ADTTE")),
    ("cumulative toxicity", cumulative_toxicity, ("ADSL", "ADAE", "ADEX")),
    ("swimmer", swimmer, ("ADSL", "ADAE", "ADEX", "ADTTE")),
    ("SPM listing", spm_listing, ("ADSL", "ADAE")),
)


def build_ard(
    adam: Mapping[str, Dataset],
    *,
    cm: pl.DataFrame | None = None,
    progress: Callable[[str], None] | None = None,
) -> pl.DataFrame:
    """Every analysis whose ADaM inputs are present, as one ARD frame.

    ``progress`` is told the id of each analysis as it starts.
    """
    if "ADSL" not in adam:
        raise EapError("ADSL is required to build analysis results", dataset="ADSL")
    say = progress or (lambda _what: None)
    rows: list[Row] = []
    for analysis_id, analysis, needs in ANALYSES:
        if all(name in adam for name in needs):
            say(f"analysis: {analysis_id}")
            rows += analysis(adam)
    rows += medications(adam, cm)
    frame = pl.DataFrame(rows, schema=ARD_SCHEMA, orient="row")
    # MM-024 is single-arm: every row's treatment group is Rd. The column keeps the ARD's
    # shape (analysis, population, group, ...) the same as a multi-arm study's.
    return frame.insert_column(2, pl.lit(GROUP, dtype=pl.String).alias("GROUP"))

"""``eap reproduce``: every published MM-024 number beside eap's, with a stated tolerance.

Tolerances: counts exact; percentages exact once rounded half up to the
publication's one decimal; Kaplan-Meier medians within 0.5 month and their 95%
CI bounds within 1.5 months; "NE" must be not estimable. Each comparison reads
ARD rows (eap.ard); nothing is computed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from eap.formatting import round_half_up
from eap.simulate.targets import published

POPS = {"safety": "safety", "treatment_cohort": "treatment_cohort"}
TOL_MEDIAN = 0.5
TOL_CI = 1.5


@dataclass(frozen=True)
class Comparison:
    id: str
    published: Any
    computed: Any
    tolerance: str
    ok: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Lookup:
    """Reads one ARD value (cards shape, no arm grouping); a missing row is None."""

    def __init__(self, ard: pl.DataFrame) -> None:
        self.ard = ard

    def value(
        self,
        output: str,
        pop: str,
        variable: str,
        level: str | None,
        stat: str,
        group2_level: str | None = None,
    ) -> float | None:
        f = self.ard.filter(
            (pl.col("output") == output)
            & (pl.col("population") == pop)
            & pl.col("group1_level").is_null()
            & (pl.col("variable") == variable)
            & (pl.col("stat_name") == stat)
            & (
                pl.col("variable_level").is_null()
                if level is None
                else pl.col("variable_level") == level
            )
            & (pl.lit(True) if group2_level is None else pl.col("group2_level") == group2_level)
        )
        return None if f.height == 0 else f["stat"][0]

    def n(self, output: str, pop: str, variable: str, level: str | None = None) -> int:
        v = self.value(output, pop, variable, level, "n")
        return 0 if v is None else int(v)

    def km(self, pop: str, param: str, stat: str) -> float | None:
        """Kaplan-Meier median (``estimate``) or its CI bound of a TTET01 parameter."""
        return self.value("TTET01", pop, "prob", "0.5", stat, group2_level=param)


def _count(cid: str, pub: Any, got: int) -> list[Comparison]:
    return [Comparison(cid, pub, got, "exact", pub == got)]


def _n_pct(cid: str, pub: dict[str, Any], n: int, total: int) -> list[Comparison]:
    pct = float(round_half_up(100.0 * n / total, 1)) if total else None
    out = [Comparison(f"{cid}.n", pub["n"], n, "exact", pub["n"] == n)]
    if "pct" in pub:
        out.append(
            Comparison(f"{cid}.pct", pub["pct"], pct, "exact at 1 decimal", pub["pct"] == pct)
        )
    return out


def _pct(cid: str, pub_pct: float, n: int, total: int) -> Comparison:
    # No patients in the population (no doses, say): no percentage, a failed comparison.
    pct = float(round_half_up(100.0 * n / total, 1)) if total else None
    return Comparison(f"{cid}.pct", pub_pct, pct, "exact at 1 decimal", pub_pct == pct)


def _number(
    cid: str, pub: float, got: float | None, digits: int = 1, tol: float = 0.0
) -> Comparison:
    shown = None if got is None else float(round_half_up(got, digits))
    if tol:
        ok = got is not None and abs(got - pub) <= tol
        return Comparison(cid, pub, None if got is None else round(got, 2), f"+/- {tol}", ok)
    return Comparison(cid, pub, shown, f"exact at {digits} decimal", shown == pub)


def compare(ard: pl.DataFrame) -> list[Comparison]:
    """All comparisons of the publication's figures with the ARD."""
    look = Lookup(ard)
    pub = published()
    out: list[Comparison] = []
    totals = {pop: int(look.value("DMT01", pop, "BIGN", None, "N") or 0) for pop in POPS}
    out += _count("populations.safety", pub["populations"]["safety"], totals["safety"])
    out += _count(
        "populations.treatment_cohort",
        pub["populations"]["treatment_cohort"],
        totals["treatment_cohort"],
    )
    for pop in POPS:
        fup = look.value("FUT01", pop, "FUP", None, "median")
        out.append(
            _number(f"follow_up_median_months.{pop}", pub["follow_up_median_months"][pop], fup)
        )
        out += _baseline(look, pub["baseline"][pop], pop, totals[pop])
        out += _exposure(look, pub["exposure"], pop)
    out += _disposition(look, pub.data, totals)
    out += _adverse_events(look, pub["safety_population_ae"], totals)
    out += _deaths(look, pub["deaths"], totals)
    out += _medications(look, pub["concomitant_medications_safety"], totals["safety"])
    out += _efficacy(look, pub["table4_efficacy_median_months_95ci"])
    return out


def _baseline(look: Lookup, b: dict[str, Any], pop: str, total: int) -> list[Comparison]:
    cid = f"baseline.{pop}"
    out = [
        _number(
            f"{cid}.age_years.median",
            b["age_years"]["median"],
            look.value("DMT01", pop, "AGE", None, "median"),
        ),
        _number(
            f"{cid}.age_years.min",
            b["age_years"]["min"],
            look.value("DMT01", pop, "AGE", None, "min"),
        ),
        _number(
            f"{cid}.age_years.max",
            b["age_years"]["max"],
            look.value("DMT01", pop, "AGE", None, "max"),
        ),
    ]
    levels = {
        "age_le_65": ("AGEGR1", "<=65"),
        "age_gt_65": ("AGEGR1", ">65"),
        "male": ("SEX", "M"),
        "female": ("SEX", "F"),
        "ecog_0": ("ECOGBL", "0"),
        "ecog_1": ("ECOGBL", "1"),
        "ecog_2": ("ECOGBL", "2"),
        "durie_salmon_I": ("DSSTAGE", "I"),
        "durie_salmon_II": ("DSSTAGE", "II"),
        "durie_salmon_III": ("DSSTAGE", "III"),
        "prior_therapies_1": ("NPRIORGR", "1"),
        "prior_therapies_2": ("NPRIORGR", "2"),
        "prior_therapies_3": ("NPRIORGR", "3"),
        "prior_therapies_4": ("NPRIORGR", "4"),
        "prior_therapies_ge5": ("NPRIORGR", ">=5"),
    }
    for key, (var, level) in levels.items():
        out += _n_pct(f"{cid}.{key}", b[key], look.n("DMT01", pop, var, level), total)
    # Table 1 holds the published table's rows; the text's other baseline figures are DMT02.
    flags = {
        "prior_thalidomide": ("DMT01", "PRITHAFL"),
        "prior_bortezomib": ("DMT01", "PRIBORFL"),
        "prior_neither": ("DMT01", "PRINEITHER"),
        "prior_both": ("DMT01", "PRIBOTH"),
        "prior_surgery": ("DMT02", "PRISURFL"),
        "prior_radiation": ("DMT02", "PRIRADFL"),
    }
    for key, (output, var) in flags.items():
        out += _n_pct(f"{cid}.{key}", b[key], look.n(output, pop, var), total)
    for stat in ("median", "min", "max"):
        out.append(
            _number(
                f"{cid}.prior_therapies_{stat}",
                b[f"prior_therapies_{stat}"],
                look.value("DMT02", pop, "NPRIOR", None, stat),
                digits=0,
            )
        )
    return out


def _exposure(look: Lookup, e: dict[str, Any], pop: str) -> list[Comparison]:
    d = e["duration_months"][pop]
    out = [
        _number(
            f"exposure.duration_months.{pop}.{stat}",
            d[stat],
            look.value("EXT01", pop, "TRTDURM", None, stat),
        )
        for stat in ("median", "min", "max")
    ]
    if pop == "treatment_cohort":
        out += _n_pct(
            "exposure.treatment_cohort_over_108_weeks",
            e["treatment_cohort_over_108_weeks"],
            look.n("EXT01", pop, "GT108WK"),
            int(look.value("DMT01", pop, "BIGN", None, "N") or 0),
        )
    if pop == "safety":
        a = e["lenalidomide_average_dose_mg"]
        out += [
            _number(
                "exposure.lenalidomide_average_dose_mg.mean",
                a["mean"],
                look.value("EXT01", pop, "ADDOSE", None, "mean"),
            ),
            _number(
                "exposure.lenalidomide_average_dose_mg.min",
                a["min"],
                look.value("EXT01", pop, "ADDOSE", None, "min"),
            ),
            _number(
                "exposure.lenalidomide_average_dose_mg.max",
                a["max"],
                look.value("EXT01", pop, "ADDOSE", None, "max"),
            ),
            _number(
                "exposure.lenalidomide_dose_intensity_mg_median",
                e["lenalidomide_dose_intensity_mg_median"],
                look.value("EXT01", pop, "DOSEINT", None, "median"),
            ),
            _number(
                "exposure.relative_dose_intensity_median",
                e["relative_dose_intensity_median"],
                look.value("EXT01", pop, "RDI", None, "median"),
            ),
        ]
    return out


def _disposition(look: Lookup, pub: dict[str, Any], totals: dict[str, int]) -> list[Comparison]:
    d = pub["disposition_treatment_cohort_at_cutoff"]
    pop = "treatment_cohort"
    out = _count("disposition.on_rd", d["on_rd"], look.n("DST01", pop, "ONGOING"))
    out += _n_pct(
        "disposition.discontinued",
        d["discontinued"],
        look.n("DST01", pop, "DISCONTINUED"),
        totals[pop],
    )
    reasons = {
        "disease progression": "PROGRESSIVE DISEASE",
        "death": "DEATH",
        "lost to follow-up": "LOST TO FOLLOW-UP",
    }
    for key, level in reasons.items():
        out += _count(
            f"disposition.reason.{key}",
            d["discontinued_reasons"][key],
            look.n("DST01", pop, "DCTREAS", level),
        )
    out += _count(
        "disposition.on_rd_full_dose_25mg",
        d["on_rd_full_dose_25mg"],
        look.n("DST01", pop, "ONGOING_25"),
    )
    out += _count(
        "disposition.on_rd_10mg_full_planned_dose",
        d["on_rd_10mg_full_planned_dose"],
        look.n("DST01", pop, "ONGOING_10FULL"),
    )
    return out


def _adverse_events(look: Lookup, ae: dict[str, Any], totals: dict[str, int]) -> list[Comparison]:
    s, n = "safety", totals["safety"]
    out = _n_pct("ae.any_ae", ae["any_ae"], look.n("AET02", s, "ANY"), n)
    for row in ae["most_common_teae_any_grade"]:
        out.append(
            _pct(
                f"ae.any_grade.{row['term']}",
                row["pct"],
                look.n("AET02", s, "AEDECOD", row["term"]),
                n,
            )
        )
    t2 = ae["table2_grade3_4_ge3pct"]
    out += _n_pct("ae.table2.any_grade3_4", t2["any_grade3_4"], look.n("AET04", s, "ANY"), n)
    for row in t2["rows"]:
        out += _n_pct(
            f"ae.table2.{row['term']}", row, look.n("AET04", s, "AEDECOD", row["term"]), n
        )
    t3 = ae["table3_serious"]
    out += _n_pct("ae.table3.any_serious", t3["any_serious"], look.n("AET09", s, "ANY"), n)
    for row in t3["rows"]:
        out += _n_pct(
            f"ae.table3.{row['term']}", row, look.n("AET09", s, "AEDECOD", row["term"]), n
        )
    out += _n_pct(
        "ae.teae_leading_to_discontinuation",
        ae["teae_leading_to_discontinuation"],
        look.n("AET05", s, "CATEGORY", "DISCONTINUATION"),
        n,
    )
    levels = {
        "interruption": "INTERRUPTION ONLY",
        "reduction": "REDUCTION ONLY",
        "interruption_and_reduction": "INTERRUPTION AND REDUCTION",
    }
    for pop in POPS:
        for key, level in levels.items():
            out += _n_pct(
                f"ae.modification.{pop}.{key}",
                ae["lenalidomide_modification_due_to_teae"][pop][key],
                look.n("AET05", pop, "CATEGORY", level),
                totals[pop],
            )
    for row in ae["most_common_ae_leading_to_interruption_or_reduction"]:
        out.append(
            _pct(
                f"ae.leading_to_modification.{row['term']}",
                row["pct"],
                look.n("AET05T", s, "AEDECOD", row["term"]),
                n,
            )
        )
    for spm in ae["second_primary_malignancies"]:
        out += _count(f"ae.spm.{spm['term']}", 1, look.n("AET10", s, "AEDECOD", spm["term"]))
    return out


def _deaths(look: Lookup, d: dict[str, Any], totals: dict[str, int]) -> list[Comparison]:
    out = _n_pct(
        "deaths.safety", d["safety"], look.n("DTHT01", "safety", "DEATH"), totals["safety"]
    )
    for cause, n in d["safety"]["causes"].items():
        out += _count(
            f"deaths.safety.cause.{cause}", n, look.n("DTHT01", "safety", "DTHCAUS", cause.upper())
        )
    out += _count(
        "deaths.treatment_cohort",
        d["treatment_cohort"]["n"],
        look.n("DTHT01", "treatment_cohort", "DEATH"),
    )
    for cause in d["treatment_cohort"]["causes"]:
        level = cause.upper().replace("TREATMENT-EMERGENT ", "")
        out += _count(
            f"deaths.treatment_cohort.cause.{cause}",
            1,
            look.n("DTHT01", "treatment_cohort", "DTHCAUS", level),
        )
    return out


CM_CLASSES = {
    "anti_thrombotic_prophylaxis_aspirin": "ANTITHROMBOTIC AGENTS",
    "proton pump inhibitors": "PROTON PUMP INHIBITORS",
    "bisphosphonates": "BISPHOSPHONATES",
    "unspecified herbal and traditional medicines": "HERBAL AND TRADITIONAL MEDICINES",
    "fluoroquinolones": "FLUOROQUINOLONES",
}


def _medications(look: Lookup, cm: dict[str, Any], total: int) -> list[Comparison]:
    out: list[Comparison] = []
    for key, level in CM_CLASSES.items():
        out += _n_pct(
            f"concomitant_medications.{key}",
            cm[key],
            look.n("CMT01", "safety", "CMCLAS", level),
            total,
        )
    return out


TABLE4 = {
    "duration_of_response": "DOR",
    "time_to_progression": "TTP",
    "progression_free_survival": "PFS",
    "overall_survival": "OS",
}


def _efficacy(look: Lookup, t4: dict[str, Any]) -> list[Comparison]:
    out: list[Comparison] = []
    for pop in POPS:
        for key, param in TABLE4.items():
            pub = t4[pop][key]
            med = look.km(pop, param, "estimate")
            cid = f"table4.{pop}.{key}"
            if pub == "NE":
                out.append(
                    Comparison(
                        f"{cid}.median",
                        "NE",
                        "NE" if med is None else round(med, 2),
                        "not estimable",
                        med is None,
                    )
                )
                continue
            out.append(_number(f"{cid}.median", pub[0], med, tol=TOL_MEDIAN))
            out.append(
                _number(
                    f"{cid}.lower",
                    pub[1],
                    look.km(pop, param, "conf.low"),
                    tol=TOL_CI,
                )
            )
            out.append(
                _number(
                    f"{cid}.upper",
                    pub[2],
                    look.km(pop, param, "conf.high"),
                    tol=TOL_CI,
                )
            )
    return out


def reproduce_sdtm(sdtm: Mapping[str, Any], cutoff: Any) -> list[Comparison]:
    """Derive ADaM from SDTM, build the ARD of the MM-024 plan and compare it."""
    from eap.derive import derive_all

    adam = derive_all(sdtm, cutoff).datasets
    return compare(mm024_ard(adam, sdtm))


def mm024_ard(adam: Mapping[str, Any], sdtm: Mapping[str, Any] | None = None) -> pl.DataFrame:
    """The ARD of the built-in MM-024 plan.

    Concomitant medications are read from ADCM; ADaM without ADCM but with SDTM CM
    beside them (or in ``sdtm``) and ADSL get their ADCM derived from that CM
    (eap.derive.adcm).
    """
    from eap.ard.run import run_plan
    from eap.derive.adcm import derive_adcm
    from eap.plans.plan import load_plan

    plan = load_plan("mm024")
    data = dict(adam)
    cm = data.get("CM")
    if cm is None and sdtm is not None:
        cm = sdtm.get("CM")
    if "ADCM" not in data and cm is not None and "ADSL" in data:
        data["ADCM"] = derive_adcm({"CM": cm}, data["ADSL"], study=plan.study)
    return run_plan(plan, data).ard

"""SDTM datasets of the virtual cohort: DM, DS, EX, RS, SV, LB, VS (AE, CM, MH, PR in events.py).

Conventions of the generated data (the ADaM derivations read them back):

* DM.ARMCD is the EAP phase a patient entered: TP (Treatment Phase; the
  treatment cohort) or SFU (Safety Follow-Up Phase only). RFXSTDTC is the first
  Rd dose in MM-021, RFXENDTC the last; RFICDTC the EAP consent.
* DS holds the MM-021 enrollment (DSDECOD "ENROLLED IN PARENT TRIAL"), EAP
  consent, phase entries, the end of Rd (DSSCAT "END OF TREATMENT", dated at the
  end-of-treatment visit 1-7 days after the last dose, or at death for a stop for
  death) and deaths (DSSCAT "END OF STUDY", DSTERM = cause of death). A stop for a
  progression judged clinically has DSTERM "CLINICAL PROGRESSION" (DSDECOD
  PROGRESSIVE DISEASE): the timeline rules expect no RS "PD" before it.
* DM.RFXENDTC is the last date in EX (lenalidomide or dexamethasone).
* RS holds the baseline ECOG performance status and Durie-Salmon stage
  (RSCAT "ECOG" / "DURIE-SALMON") and IMWG overall responses (RSCAT "IMWG",
  RSTESTCD "OVRLRESP"). A progression judged clinically but not meeting IMWG
  criteria is not an RS "PD" record.
* LB holds baseline serum creatinine (umol/L) and VS baseline weight (kg), from
  which creatinine clearance is computed by Cockcroft-Gault.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl

from eap.datasets.model import Dataset
from eap.datasets.specs import spec_dataset
from eap.protocol import Protocol, cockcroft_gault, renal_band

STUDYID = "MM-024"
ARM = {"TC": ("TP", "Treatment Phase"), "SFU": ("SFU", "Safety Follow-Up Phase")}
END_OF_TREATMENT = {
    "disc_pd_documented": ("PROGRESSIVE DISEASE", "PROGRESSIVE DISEASE"),
    "disc_pd_late": ("PROGRESSIVE DISEASE", "PROGRESSIVE DISEASE"),
    "disc_pd_clinical": ("CLINICAL PROGRESSION", "PROGRESSIVE DISEASE"),
    "death_treatment": ("DEATH", "DEATH"),
    "lost": ("LOST TO FOLLOW-UP", "LOST TO FOLLOW-UP"),
    "pd": ("PROGRESSIVE DISEASE", "PROGRESSIVE DISEASE"),
    "pd_continued": ("PROGRESSIVE DISEASE", "PROGRESSIVE DISEASE"),
}
OTHER_REASONS = (
    ("WITHDRAWAL BY SUBJECT", "WITHDRAWAL BY SUBJECT"),
    ("PHYSICIAN DECISION", "PHYSICIAN DECISION"),
)
RESPONSES_TC = (("CR", 0.15), ("VGPR", 0.35), ("PR", 0.5))
RESPONSES_SFU = (("VGPR", 0.2), ("PR", 0.8))


def iso(d: dt.date | None) -> str | None:
    return None if d is None else d.isoformat()


def renal(
    patients: pl.DataFrame, excat: list[str], protocol: Protocol, rng: np.random.Generator
) -> pl.DataFrame:
    """Weight (kg), serum creatinine (umol/L) and CrCl consistent with each patient's renal dose."""
    weight, creat, crcl = [], [], []
    for age, sex, cat in zip(patients["AGE"], patients["SEX"], excat, strict=True):
        if cat in ("C0", "CI", "D"):
            lo, hi = 33.0, 57.0
        elif cat == "E":
            lo, hi = 20.0, 28.0
        else:
            lo, hi = 63.0, 125.0
        w = float(np.clip(rng.normal(64.0 if sex == "M" else 55.0, 8.0), 40.0, 95.0))
        w = round(w, 1)
        target = rng.uniform(lo, hi)
        scr = (140 - age) * w * (0.85 if sex == "F" else 1.0) / (72.0 * target) * 88.4
        umol = float(round(scr))
        value = cockcroft_gault(age, w, sex, umol, "umol/L")
        while value < lo - 3 or value >= hi + 3:  # rounding moved it out of its band
            umol += 1.0 if value > hi else -1.0
            value = cockcroft_gault(age, w, sex, umol, "umol/L")
        weight.append(w)
        creat.append(umol)
        crcl.append(value)
    bands = [renal_band(protocol, c).dose for c in crcl]
    return pl.DataFrame({"WEIGHT": weight, "CREAT": creat, "CRCL": crcl, "RENALDOSE": bands})


def dm(p: pl.DataFrame) -> Dataset:
    frame = p.select(
        pl.lit(STUDYID).alias("STUDYID"),
        pl.lit("DM").alias("DOMAIN"),
        "USUBJID",
        pl.col("USUBJID").str.slice(9).alias("SUBJID"),
        pl.col("TRTSDT").dt.to_string().alias("RFSTDTC"),
        pl.col("LSTCNTDT").dt.to_string().alias("RFENDTC"),
        pl.col("TRTSDT").dt.to_string().alias("RFXSTDTC"),
        pl.col("LASTEXDT").dt.to_string().alias("RFXENDTC"),
        pl.col("EAPDT").dt.to_string().alias("RFICDTC"),
        pl.col("LSTCNTDT").dt.to_string().alias("RFPENDTC"),
        pl.col("DTHDT").dt.to_string().alias("DTHDTC"),
        pl.when(pl.col("DTHDT").is_not_null()).then(pl.lit("Y")).otherwise(None).alias("DTHFL"),
        "SITEID",
        pl.col("AGE").cast(pl.Float64),
        pl.lit("YEARS").alias("AGEU"),
        "SEX",
        pl.lit("ASIAN").alias("RACE"),
        pl.lit("NOT HISPANIC OR LATINO").alias("ETHNIC"),
        pl.col("GROUP").replace_strict({k: v[0] for k, v in ARM.items()}).alias("ARMCD"),
        pl.col("GROUP").replace_strict({k: v[1] for k, v in ARM.items()}).alias("ARM"),
        pl.col("GROUP").replace_strict({k: v[0] for k, v in ARM.items()}).alias("ACTARMCD"),
        pl.col("GROUP").replace_strict({k: v[1] for k, v in ARM.items()}).alias("ACTARM"),
        pl.lit("CHN").alias("COUNTRY"),
        pl.col("EAPDT").dt.to_string().alias("DMDTC"),
    )
    return spec_dataset("DM", frame)


def _seq(frame: pl.DataFrame, name: str, order: list[str]) -> pl.DataFrame:
    return frame.sort(["USUBJID", *order]).with_columns(
        pl.int_range(1, pl.len() + 1).over("USUBJID").cast(pl.Int64).alias(name)
    )


def _other_reason(r: dict[str, Any], rng: np.random.Generator) -> tuple[str, str]:
    """A stop for another reason: the patient's own (DCREASON, the protocol model),
    else withdrawal or physician decision at random (the exact mode)."""
    drawn = OTHER_REASONS[int(rng.integers(2))]  # drawn always: the same random stream
    reason = r.get("DCREASON")
    if reason in {decod for _, decod in OTHER_REASONS}:
        return str(reason), str(reason)
    return drawn


def ds(p: pl.DataFrame, rng: np.random.Generator) -> Dataset:
    rows: list[tuple[str, str, str, str, str | None, dt.date, str]] = []
    for r in p.iter_rows(named=True):
        u = r["USUBJID"]
        rows.append(
            (
                u,
                "ENROLLED IN MM-021",
                "ENROLLED IN PARENT TRIAL",
                "PROTOCOL MILESTONE",
                None,
                r["ENRLDT"],
                "PARENT TRIAL",
            )
        )
        rows.append(
            (
                u,
                "INFORMED CONSENT OBTAINED",
                "INFORMED CONSENT OBTAINED",
                "PROTOCOL MILESTONE",
                None,
                r["EAPDT"],
                "SCREENING",
            )
        )
        phase = "TREATMENT PHASE" if r["GROUP"] == "TC" else "SAFETY FOLLOW-UP PHASE"
        rows.append(
            (
                u,
                f"ENTERED {phase}",
                f"ENTERED {phase}",
                "PROTOCOL MILESTONE",
                None,
                r["EAPDT"],
                "TREATMENT" if r["GROUP"] == "TC" else "FOLLOW-UP",
            )
        )
        if not r["ONGOING"]:
            term, decod = END_OF_TREATMENT.get(r["COURSE"]) or _other_reason(r, rng)
            rows.append(
                (u, term, decod, "DISPOSITION EVENT", "END OF TREATMENT", r["EOTDT"], "TREATMENT")
            )
            if r["GROUP"] == "TC" and r["SFUDT"] is not None:
                rows.append(
                    (
                        u,
                        "ENTERED SAFETY FOLLOW-UP PHASE",
                        "ENTERED SAFETY FOLLOW-UP PHASE",
                        "PROTOCOL MILESTONE",
                        None,
                        r["SFUDT"],
                        "FOLLOW-UP",
                    )
                )
        if r["DTHDT"] is not None:
            rows.append(
                (
                    u,
                    f"DEATH DUE TO {r['DTHCAUSE'].upper()}",
                    "DEATH",
                    "DISPOSITION EVENT",
                    "END OF STUDY",
                    r["DTHDT"],
                    "FOLLOW-UP",
                )
            )
    frame = pl.DataFrame(
        rows,
        schema={
            "USUBJID": pl.String,
            "DSTERM": pl.String,
            "DSDECOD": pl.String,
            "DSCAT": pl.String,
            "DSSCAT": pl.String,
            "DSSTDT": pl.Date,
            "EPOCH": pl.String,
        },
        orient="row",
    )
    frame = _seq(frame, "DSSEQ", ["DSSTDT"]).select(
        pl.lit(STUDYID).alias("STUDYID"),
        pl.lit("DS").alias("DOMAIN"),
        "USUBJID",
        "DSSEQ",
        "DSTERM",
        "DSDECOD",
        "DSCAT",
        "DSSCAT",
        "EPOCH",
        pl.col("DSSTDT").dt.to_string().alias("DSSTDTC"),
    )
    return spec_dataset("DS", frame)


def ex(records: pl.DataFrame) -> Dataset:
    frame = _seq(records, "EXSEQ", ["EXSTDT", "EXTRT"]).select(
        pl.lit(STUDYID).alias("STUDYID"),
        pl.lit("EX").alias("DOMAIN"),
        "USUBJID",
        "EXSEQ",
        "EXTRT",
        "EXDOSE",
        pl.lit("mg").alias("EXDOSU"),
        pl.lit("CAPSULE").alias("EXDOSFRM"),
        "EXDOSFRQ",
        pl.lit("ORAL").alias("EXROUTE"),
        "EXADJ",
        pl.col("CYCLE").cast(pl.Float64).alias("VISITNUM"),
        pl.format("CYCLE {}", pl.col("CYCLE")).alias("VISIT"),
        pl.lit("TREATMENT").alias("EPOCH"),
        pl.col("EXSTDT").dt.to_string().alias("EXSTDTC"),
        pl.col("EXENDT").dt.to_string().alias("EXENDTC"),
    )
    return spec_dataset("EX", frame)


def _best_response(group: str, rng: np.random.Generator) -> str:
    options = RESPONSES_TC if group == "TC" else RESPONSES_SFU
    names = [o[0] for o in options]
    return str(rng.choice(names, p=[o[1] for o in options]))


def rs(p: pl.DataFrame, rng: np.random.Generator) -> Dataset:
    """Baseline ECOG and Durie-Salmon stage, and IMWG overall response assessments."""
    rows: list[tuple[str, str, str, str, str, dt.date]] = []
    for r in p.iter_rows(named=True):
        u = r["USUBJID"]
        rows.append((u, "ECOG", "ECOG", "ECOG Performance Status", str(r["ECOG"]), r["ENRLDT"]))
        rows.append((u, "DURIE-SALMON", "DSSTAGE", "Durie-Salmon Stage", r["DSSTAGE"], r["ENRLDT"]))
        start, end, pd, resp = r["TRTSDT"], r["ASSESSEND"], r["PDDT"], r["RESPDT"]
        best = _best_response(r["GROUP"], rng) if resp is not None else "SD"
        n_grid = max(0, ((end - start).days - 1) // 28)
        dates = [start + dt.timedelta(days=28 * k) for k in range(1, n_grid + 1)]
        extra = [d for d in (resp,) if d is not None]
        final = [end] if end <= r["LSTCNTDT"] or pd is not None else []
        for d in sorted(set(dates + extra + final)):
            if pd is not None and d == pd:
                value = "PD"
            elif resp is not None and d >= resp:
                value = best
            else:
                value = "SD" if rng.random() < 0.85 else "MR"
            rows.append((u, "IMWG", "OVRLRESP", "Overall Response", value, d))
    frame = pl.DataFrame(
        rows,
        schema={
            "USUBJID": pl.String,
            "RSCAT": pl.String,
            "RSTESTCD": pl.String,
            "RSTEST": pl.String,
            "RSSTRESC": pl.String,
            "RSDT": pl.Date,
        },
        orient="row",
    )
    frame = _seq(frame, "RSSEQ", ["RSDT", "RSTESTCD"]).select(
        pl.lit(STUDYID).alias("STUDYID"),
        pl.lit("RS").alias("DOMAIN"),
        "USUBJID",
        "RSSEQ",
        "RSTESTCD",
        "RSTEST",
        "RSCAT",
        pl.col("RSSTRESC").alias("RSORRES"),
        "RSSTRESC",
        pl.lit("INVESTIGATOR").alias("RSEVAL"),
        pl.when(pl.col("RSCAT") == "IMWG")
        .then(pl.int_range(1, pl.len() + 1).over("USUBJID", "RSCAT"))
        .otherwise(0)
        .cast(pl.Float64)
        .alias("VISITNUM"),
        pl.col("RSDT").dt.to_string().alias("RSDTC"),
    )
    return spec_dataset("RS", frame)


def sv(p: pl.DataFrame, cycle_starts: pl.DataFrame, follow_up: pl.DataFrame) -> Dataset:
    treatment = cycle_starts.select(
        "USUBJID",
        pl.col("CYCLE").cast(pl.Float64).alias("VISITNUM"),
        pl.format("CYCLE {} DAY 1", pl.col("CYCLE")).alias("VISIT"),
        pl.lit("TREATMENT").alias("EPOCH"),
        pl.col("DATE").alias("SVSTDT"),
    )
    survival = follow_up.join(p.with_row_index("ROW").select("ROW", "USUBJID"), on="ROW").select(
        "USUBJID",
        (pl.col("VISITNUM") + 1000).cast(pl.Float64).alias("VISITNUM"),
        pl.format("SURVIVAL FOLLOW-UP {}", pl.col("VISITNUM")).alias("VISIT"),
        pl.lit("FOLLOW-UP").alias("EPOCH"),
        "SVSTDT",
    )
    frame = (
        pl.concat([treatment, survival])
        .sort("USUBJID", "VISITNUM")
        .select(
            pl.lit(STUDYID).alias("STUDYID"),
            pl.lit("SV").alias("DOMAIN"),
            "USUBJID",
            "VISITNUM",
            "VISIT",
            "EPOCH",
            pl.col("SVSTDT").dt.to_string().alias("SVSTDTC"),
            pl.col("SVSTDT").dt.to_string().alias("SVENDTC"),
        )
    )
    return spec_dataset("SV", frame)


def lb(p: pl.DataFrame) -> Dataset:
    frame = p.select(
        pl.lit(STUDYID).alias("STUDYID"),
        pl.lit("LB").alias("DOMAIN"),
        "USUBJID",
        pl.lit(1).alias("LBSEQ"),
        pl.lit("CREAT").alias("LBTESTCD"),
        pl.lit("Creatinine").alias("LBTEST"),
        pl.lit("CHEMISTRY").alias("LBCAT"),
        pl.col("CREAT").cast(pl.Int64).cast(pl.String).alias("LBORRES"),
        pl.lit("umol/L").alias("LBORRESU"),
        pl.col("CREAT").cast(pl.Int64).cast(pl.String).alias("LBSTRESC"),
        pl.col("CREAT").alias("LBSTRESN"),
        pl.lit("umol/L").alias("LBSTRESU"),
        pl.lit("44").alias("LBORNRLO"),
        pl.lit("133").alias("LBORNRHI"),
        pl.lit(44.0).alias("LBSTNRLO"),
        pl.lit(133.0).alias("LBSTNRHI"),
        pl.when(pl.col("CREAT") > 133)
        .then(pl.lit("HIGH"))
        .when(pl.col("CREAT") < 44)
        .then(pl.lit("LOW"))
        .otherwise(pl.lit("NORMAL"))
        .alias("LBNRIND"),
        pl.lit(0.0).alias("VISITNUM"),
        pl.lit("BASELINE").alias("VISIT"),
        pl.lit("Y").alias("LBBLFL"),
        pl.col("ENRLDT").dt.to_string().alias("LBDTC"),
    )
    return spec_dataset("LB", frame)


def vs(p: pl.DataFrame) -> Dataset:
    frame = p.select(
        pl.lit(STUDYID).alias("STUDYID"),
        pl.lit("VS").alias("DOMAIN"),
        "USUBJID",
        pl.lit(1).alias("VSSEQ"),
        pl.lit("WEIGHT").alias("VSTESTCD"),
        pl.lit("Weight").alias("VSTEST"),
        pl.col("WEIGHT").cast(pl.String).alias("VSORRES"),
        pl.lit("kg").alias("VSORRESU"),
        pl.col("WEIGHT").cast(pl.String).alias("VSSTRESC"),
        pl.col("WEIGHT").alias("VSSTRESN"),
        pl.lit("kg").alias("VSSTRESU"),
        pl.lit("Y").alias("VSBLFL"),
        pl.lit(0.0).alias("VISITNUM"),
        pl.lit("BASELINE").alias("VISIT"),
        pl.col("ENRLDT").dt.to_string().alias("VSDTC"),
    )
    return spec_dataset("VS", frame)

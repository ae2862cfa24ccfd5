"""Every published AE/CM count of MM-024, counted independently, for many seeds and scales."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from importlib import resources

import numpy as np
import polars as pl
import pytest

from eap.datasets.model import Dataset
from eap.datasets.validate import validate_datasets
from eap.simulate import events

PUB = json.loads(resources.files("eap.data").joinpath("mm024_published.json").read_text())
AE_PUB = PUB["safety_population_ae"]
CUTOFF = dt.date(2014, 11, 5)
SEEDS = list(range(20))


def n_of(pct: float) -> int:
    return round(pct * 80 / 100)


def te_frame(ae: pl.DataFrame, patients: pl.DataFrame) -> pl.DataFrame:
    """AE rows with onset in [TRTSDT, TRTEDT + 28]."""
    a = ae.with_columns(pl.col("AESTDTC").str.to_date().alias("ST")).join(
        patients.select("USUBJID", "TRTSDT", "TRTEDT"), on="USUBJID"
    )
    return a.filter(
        (pl.col("ST") >= pl.col("TRTSDT"))
        & (pl.col("ST") <= pl.col("TRTEDT") + pl.duration(days=28))
    )


def worst(te: pl.DataFrame) -> pl.DataFrame:
    return te.group_by("USUBJID", "AEDECOD").agg(
        pl.col("AETOXGR").cast(pl.Int64).max().alias("G"), (pl.col("AESER") == "Y").any().alias("S")
    )


def check_ae(patients: pl.DataFrame, mods: pl.DataFrame, seed: int, k: int) -> None:
    ae, supp = events.adverse_events(patients, mods, np.random.default_rng(seed), k)
    te = te_frame(ae, patients)
    w = worst(te)
    # 2. any AE
    assert ae["USUBJID"].n_unique() == 77 * k
    assert te["USUBJID"].n_unique() == 77 * k
    assert ae.filter(pl.col("AECAT") == "SECOND PRIMARY MALIGNANCY").height == 2 * k
    assert ae.height - te.height == 2 * k
    # 5. any grade
    counts = dict(w.group_by("AEDECOD").len().iter_rows())
    for r in AE_PUB["most_common_teae_any_grade"]:
        assert counts[r["term"]] == n_of(r["pct"]) * k, r["term"]
    top = {r["term"] for r in AE_PUB["most_common_teae_any_grade"]}
    assert all(v < 15 * k for t, v in counts.items() if t not in top)
    # 3. grade 3-4
    g34 = w.filter(pl.col("G").is_in([3, 4]))
    assert g34["USUBJID"].n_unique() == 48 * k
    gc = dict(g34.group_by("AEDECOD").len().iter_rows())
    t2 = {r["term"]: r["n"] * k for r in AE_PUB["table2_grade3_4_ge3pct"]["rows"]}
    assert {t: v for t, v in gc.items() if v / (80 * k) >= 0.03} == t2
    # patients with a grade 3-4 AE never also died of an AE (the two readings of "any" agree)
    assert te.filter(pl.col("AETOXGR").is_in(["3", "4"]))["USUBJID"].n_unique() == 48 * k
    # 4. serious
    ser = w.filter(pl.col("S"))
    assert ser["USUBJID"].n_unique() == 14 * k
    assert dict(ser.group_by("AEDECOD").len().iter_rows()) == {
        r["term"]: r["n"] * k for r in AE_PUB["table3_serious"]["rows"]
    }
    # 1. modifications
    assert ae.filter(pl.col("AEACN") == "DRUG WITHDRAWN").height == 0
    mod_ae = te.filter(pl.col("AEACN").is_in(["DRUG INTERRUPTED", "DOSE REDUCED"]))
    assert mod_ae.height == mods.height
    mc = dict(mod_ae.group_by("AEDECOD").agg(pl.col("USUBJID").n_unique()).iter_rows())
    want = {
        r["term"]: n_of(r["pct"]) * k
        for r in AE_PUB["most_common_ae_leading_to_interruption_or_reduction"]
    }
    assert {t: v for t, v in mc.items() if v >= 4 * k} == want
    # each modification row is matched by an AE 0-7 days before with the same action
    m = mods.sort("USUBJID", "ACTION", "DATE").with_columns(
        pl.int_range(pl.len()).over("USUBJID", "ACTION").alias("i")
    )
    a = (
        mod_ae.sort("USUBJID", "AEACN", "ST")
        .with_columns(pl.int_range(pl.len()).over("USUBJID", "AEACN").alias("i"))
        .rename({"AEACN": "ACTION"})
    )
    # sorted onsets against sorted dates: a valid pairing exists iff this one is valid
    pair = m.join(a.select("USUBJID", "ACTION", "i", "ST"), on=["USUBJID", "ACTION", "i"])
    assert pair.height == mods.height
    lag = (pair["DATE"] - pair["ST"]).dt.total_days()
    assert lag.min() >= 0 and lag.max() <= 7  # type: ignore[operator]
    other = ae.filter(~pl.col("AEACN").is_in(["DRUG INTERRUPTED", "DOSE REDUCED"]))
    assert set(other["AEACN"]) <= {"DOSE NOT CHANGED", "NOT APPLICABLE"}
    assert (mod_ae["AEREL"] == "RELATED").all()
    # 6. deaths and dates
    dd = ae.with_columns(pl.col("AESTDTC").str.to_date().alias("ST")).join(patients, on="USUBJID")
    assert dd.filter(pl.col("ST") < pl.col("TRTSDT")).height == 0
    assert dd.filter(pl.col("ST") > pl.lit(CUTOFF)).height == 0
    assert dd.filter(pl.col("DTHDT").is_not_null() & (pl.col("ST") > pl.col("DTHDT"))).height == 0
    fatal = dd.filter(pl.col("AEOUT") == "FATAL")
    assert (fatal["AETOXGR"] == "5").all() and (fatal["AESDTH"] == "Y").all()
    assert (fatal["AEENDTC"].str.to_date() == fatal["DTHDT"]).all()
    lung = patients.filter(pl.col("DTHCAUSE") == "treatment-emergent lung infection")["USUBJID"]
    assert set(fatal.filter(pl.col("AEDECOD") == "Lung infection")["USUBJID"]) == set(lung)
    ci = patients.filter(
        (pl.col("DTHCAUSE") == "cerebral infarction")
        & (pl.col("DTHDT") <= pl.col("TRTEDT") + pl.duration(days=28))
    )["USUBJID"]
    assert len(ci) == k
    assert set(fatal.filter(pl.col("AEDECOD") == "Cerebral infarction")["USUBJID"]) == set(ci)
    assert (fatal["AESER"] == "Y").all() and fatal.height == 2 * k
    # end dates: never before onset, never after death or cutoff
    ended = dd.filter(pl.col("AEENDTC").is_not_null()).with_columns(
        pl.col("AEENDTC").str.to_date().alias("EN")
    )
    assert (ended["EN"] >= ended["ST"]).all() and (ended["EN"] <= CUTOFF).all()
    assert ended.filter(pl.col("DTHDT").is_not_null() & (pl.col("EN") > pl.col("DTHDT"))).is_empty()
    # AESEQ 1..n per subject in onset order; AESEV follows the grade
    seq = ae.group_by("USUBJID").agg(
        (pl.col("AESEQ").sort() == pl.int_range(1, pl.len() + 1)).all().alias("consecutive"),
        pl.col("AESTDTC").sort_by("AESEQ").is_sorted().alias("by_onset"),
    )
    assert seq["consecutive"].all() and seq["by_onset"].all()
    sev = {"1": "MILD", "2": "MODERATE", "3": "SEVERE", "4": "SEVERE", "5": "SEVERE"}
    assert (ae["AETOXGR"].replace_strict(sev) == ae["AESEV"]).all()
    soc = {t.term: t.soc for t in events.ae_terms()}
    assert (ae["AEDECOD"].replace_strict(soc) == ae["AEBODSYS"]).all()
    assert (ae["AEBODSYS"] == ae["AESOC"]).all()
    # 7. SPMs
    spm = dd.filter(pl.col("AECAT") == "SECOND PRIMARY MALIGNANCY")
    duo = spm.filter(pl.col("AEDECOD") == "Duodenal tumor")
    assert duo.height == k and (duo["GROUP"] == "SFU").all()
    assert (duo["ST"] > duo["TRTEDT"] + dt.timedelta(days=28)).all() and (
        duo["ST"] < duo["EAPDT"]
    ).all()
    naso = spm.filter(pl.col("AEDECOD") == "Nasopharyngeal carcinoma")
    assert naso.height == k and (naso["ST"] >= naso["SFUDT"]).all()
    assert (naso["ST"] <= CUTOFF).all()
    assert naso.filter(pl.col("DTHDT").is_not_null() & (pl.col("ST") >= pl.col("DTHDT"))).is_empty()
    assert (naso["ST"] > naso["TRTEDT"] + dt.timedelta(days=28)).all()
    assert ((spm["AESER"] == "Y") & (spm["AEREL"] == "NOT RELATED")).all()
    # 9. SUPPAE grading term and grade exist in CTCAE
    tox = supp.filter(pl.col("QNAM") == "AETOXTRM").select(
        "USUBJID", pl.col("IDVARVAL").cast(pl.Int64).alias("AESEQ"), "QVAL"
    )
    j = ae.join(tox, on=["USUBJID", "AESEQ"], how="left")
    assert j["QVAL"].null_count() == 0
    grades = ctcae()
    assert all(int(g) in grades[t] for t, g in j.select("QVAL", "AETOXGR").unique().iter_rows())
    flag = supp.filter(pl.col("QNAM") == "AETRTEM").select(
        "USUBJID", pl.col("IDVARVAL").cast(pl.Int64).alias("AESEQ"), pl.col("QVAL").alias("TE")
    )
    assert flag.height == ae.height
    te_keys = te.select("USUBJID", "AESEQ").with_columns(pl.lit("Y").alias("W"))
    f = flag.join(te_keys, on=["USUBJID", "AESEQ"], how="left")
    assert (f["TE"] == f["W"].fill_null("N")).all()


def ctcae() -> dict[str, set[int]]:
    text = resources.files("eap.data").joinpath("ctcae_v4_03.csv").read_text()
    return {
        r["term"]: {g for g in range(1, 6) if r[f"grade{g}"].strip()}
        for r in csv.DictReader(io.StringIO(text))
    }


@pytest.mark.parametrize("seed", SEEDS)
def test_ae_counts_scale1(cohort1: tuple[pl.DataFrame, pl.DataFrame], seed: int) -> None:
    check_ae(*cohort1, seed=seed, k=1)


@pytest.mark.parametrize("seed", SEEDS[:5])
def test_ae_counts_fewest_modification_rows(
    cohort1_minimal: tuple[pl.DataFrame, pl.DataFrame], seed: int
) -> None:
    check_ae(*cohort1_minimal, seed=seed, k=1)


@pytest.mark.parametrize("cohort_seed", range(100, 110))
def test_ae_counts_other_cohorts(cohort_seed: int) -> None:
    from tests.simulate.conftest import make_patients

    p, m = make_patients(1, seed=cohort_seed, minimal_rows=cohort_seed % 2 == 0)
    check_ae(p, m, seed=cohort_seed, k=1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ae_counts_scale3(cohort3: tuple[pl.DataFrame, pl.DataFrame], seed: int) -> None:
    check_ae(*cohort3, seed=seed, k=3)


def test_term_map_uses_ctcae_terms() -> None:
    grades = ctcae()
    text = resources.files("eap.data").joinpath("ae_terms.csv").read_text()
    for row in csv.DictReader(io.StringIO(text)):
        assert row["ctcae_term"] in grades, row["term"]
    pairs = {
        "Neutropenia": "Neutrophil count decreased",
        "Decreased neutrophil count": "Neutrophil count decreased",
        "Pneumonia": "Lung infection",
        "Bronchopneumonia": "Lung infection",
        "Lobar pneumonia": "Lung infection",
        "Pyrexia": "Fever",
        "Leukopenia": "White blood cell decreased",
        "Thrombocytopenia": "Platelet count decreased",
    }
    m = {t.term: t.ctcae_term for t in events.ae_terms()}
    for pt, ct in pairs.items():
        assert m[pt] == ct


def check_cm(patients: pl.DataFrame, seed: int, k: int) -> None:
    cm = events.concomitant_medications(patients, np.random.default_rng(seed), k)
    con = cm.filter(pl.col("CMCAT") == "CONCOMITANT MEDICATION")
    got = dict(con.group_by("CMCLAS").agg(pl.col("USUBJID").n_unique()).iter_rows())
    assert got == {
        "ANTITHROMBOTIC AGENTS": 80 * k,
        "PROTON PUMP INHIBITORS": 36 * k,
        "BISPHOSPHONATES": 32 * k,
        "HERBAL AND TRADITIONAL MEDICINES": 27 * k,
        "FLUOROQUINOLONES": 23 * k,
    }
    assert con.filter(pl.col("CMDECOD") == "ACETYLSALICYLIC ACID")["USUBJID"].n_unique() == 80 * k
    j = con.join(patients, on="USUBJID")
    assert (j["CMSTDTC"].str.to_date() >= j["TRTSDT"]).all()
    prior = cm.filter(pl.col("CMCAT") == "PRIOR ANTI-MYELOMA THERAPY").join(patients, on="USUBJID")
    per = prior.group_by("USUBJID").agg(
        pl.len().alias("n"),
        pl.col("CMTRT").str.contains("BORTEZOMIB").any().alias("b"),
        pl.col("CMTRT").str.contains("THALIDOMIDE").any().alias("t"),
        pl.col("NPRIOR").first(),
        pl.col("PRIORBORT").first(),
        pl.col("PRIORTHAL").first(),
    )
    assert per.height == patients.height
    assert (per["n"] == per["NPRIOR"]).all()
    assert (per["b"] == per["PRIORBORT"]).all() and (per["t"] == per["PRIORTHAL"]).all()
    assert (prior["CMENDTC"].str.to_date() < prior["ENRLDT"]).all()


@pytest.mark.parametrize("seed", SEEDS)
def test_cm_counts(cohort1: tuple[pl.DataFrame, pl.DataFrame], seed: int) -> None:
    check_cm(cohort1[0], seed, 1)


def test_cm_counts_scale3(cohort3: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    check_cm(cohort3[0], 5, 3)


def test_mh_pr(cohort1: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    p = cohort1[0]
    mh = events.medical_history(p, np.random.default_rng(3), 1)
    prim = mh.filter(pl.col("MHCAT") == "PRIMARY DIAGNOSIS").join(p, on="USUBJID")
    assert prim.height == 80 and (prim["MHSTDTC"].str.to_date() == prim["DIAGDT"]).all()
    pr = events.procedures(p, np.random.default_rng(3), 1).join(p, on="USUBJID")
    assert set(pr.filter(pl.col("PRCAT") == "PRIOR CANCER SURGERY")["USUBJID"]) == set(
        p.filter("SURGERY")["USUBJID"]
    )
    assert set(pr.filter(pl.col("PRCAT") == "PRIOR RADIATION THERAPY")["USUBJID"]) == set(
        p.filter("RADIATION")["USUBJID"]
    )
    assert (pr["PRSTDTC"].str.to_date() < pr["ENRLDT"]).all()


def test_determinism(cohort1: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    p, m = cohort1
    a1, s1 = events.adverse_events(p, m, np.random.default_rng(42), 1)
    a2, s2 = events.adverse_events(p, m, np.random.default_rng(42), 1)
    assert a1.write_csv() == a2.write_csv() and s1.write_csv() == s2.write_csv()
    c1 = events.concomitant_medications(p, np.random.default_rng(42), 1)
    c2 = events.concomitant_medications(p, np.random.default_rng(42), 1)
    assert c1.write_csv() == c2.write_csv()
    for fn in (events.medical_history, events.procedures):
        assert fn(p, np.random.default_rng(5), 1).write_csv() == (
            fn(p, np.random.default_rng(5), 1).write_csv()
        )
    # a different seed gives a different cohort with the same counts
    a3, _ = events.adverse_events(p, m, np.random.default_rng(43), 1)
    assert a1.write_csv() != a3.write_csv()


def test_row_order_of_inputs_does_not_matter(cohort1: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    p, m = cohort1
    a1, _ = events.adverse_events(p, m, np.random.default_rng(8), 1)
    a2, _ = events.adverse_events(
        p.reverse(), m.sort("DATE", "USUBJID", "ACTION"), np.random.default_rng(8), 1
    )
    assert a1.equals(a2)


def test_validate(cohort1: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    p, m = cohort1
    rng = np.random.default_rng(9)
    ae, supp = events.adverse_events(p, m, rng, 1)
    dm = p.select(
        "STUDYID",
        pl.lit("DM").alias("DOMAIN"),
        "USUBJID",
        pl.col("USUBJID").alias("SUBJID"),
        pl.col("TRTSDT").dt.strftime("%Y-%m-%d").alias("RFSTDTC"),
        "SITEID",
        pl.col("AGE").cast(pl.Float64),
        "SEX",
        pl.lit("Rd").alias("ARMCD"),
        pl.lit("Lenalidomide + low-dose dexamethasone").alias("ARM"),
        pl.lit("CHN").alias("COUNTRY"),
    )
    datasets = {
        "DM": Dataset.from_frame("DM", dm),
        "AE": Dataset.from_frame("AE", ae),
        "SUPPAE": Dataset.from_frame("SUPPAE", supp),
        "CM": Dataset.from_frame("CM", events.concomitant_medications(p, rng, 1)),
        "MH": Dataset.from_frame("MH", events.medical_history(p, rng, 1)),
        "PR": Dataset.from_frame("PR", events.procedures(p, rng, 1)),
    }
    report = validate_datasets(datasets)
    assert not report.errors, report.errors


def test_speed() -> None:
    import time

    from tests.simulate.conftest import make_patients

    p, m = make_patients(100)
    t = time.perf_counter()
    events.adverse_events(p, m, np.random.default_rng(1), 100)
    events.concomitant_medications(p, np.random.default_rng(1), 100)
    assert time.perf_counter() - t < 10


def test_inputs_that_cannot_carry_the_counts_are_refused(
    cohort1: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    from eap.errors import EapError

    p, m = cohort1
    few = m.unique("USUBJID", keep="first").head(20)  # 20 rows cannot carry 56 causing terms
    with pytest.raises(EapError, match="dose modifications"):
        events.adverse_events(p, few, np.random.default_rng(0), 1)
    with pytest.raises(EapError, match="80 x scale"):
        events.adverse_events(p, m, np.random.default_rng(0), 2)

"""The virtual MM-024 cohort reproduces the publication for every seed.

Every expected number below is the publication's (src/eap/data/mm024_published.json
transcribes it); the counting code is written here, independently of the
generator, from the SDTM datasets it writes.
"""

from __future__ import annotations

import datetime as dt
import math
from functools import cache

import polars as pl
import pytest

from eap.datasets.model import Dataset
from eap.datasets.validate import validate_datasets
from eap.derive.adtte import derive_adtte
from eap.protocol import cockcroft_gault
from eap.simulate import simulate, simulate_patients
from eap.stats import kaplan_meier

SEEDS = [2014, *range(1, 20)]


def pct(n: int, total: int = 80) -> float:
    """Percent rounded half up to one decimal, as the publication prints (17/80 -> 21.3)."""
    return math.floor(1000 * n / total + 0.5) / 10


CUTOFF = dt.date(2014, 11, 5)
MONTH = 30.4375


@cache
def cohort(seed: int, scale: int = 1) -> dict[str, Dataset]:
    return simulate(seed, scale)


def _d(col: str) -> pl.Expr:
    return pl.col(col).str.to_date("%Y-%m-%d")


def populations(sd: dict[str, Dataset]) -> dict[str, pl.DataFrame]:
    dm = sd["DM"].frame
    return {"safety": dm, "treatment_cohort": dm.filter(pl.col("ARMCD") == "TP")}


def exposure(sd: dict[str, Dataset]) -> pl.DataFrame:
    """Per subject, from EX and DS alone: duration, cumulative dose, days dosed, last dose."""
    ex = (
        sd["EX"]
        .frame.filter(pl.col("EXTRT") == "LENALIDOMIDE")
        .with_columns(_d("EXSTDTC").alias("S"), _d("EXENDTC").alias("E"))
    )
    days = (pl.col("E") - pl.col("S")).dt.total_days()
    ex = ex.with_columns(
        pl.when(pl.col("EXDOSFRQ") == "QOD").then(days // 2 + 1).otherwise(days + 1).alias("N")
    )
    stopped = (
        sd["DS"].frame.filter(pl.col("DSSCAT") == "END OF TREATMENT").select("USUBJID").unique()
    )
    per = ex.group_by("USUBJID").agg(
        pl.col("S").min().alias("FIRST"),
        pl.col("E").max().alias("LAST"),
        (pl.col("EXDOSE") * pl.col("N")).sum().alias("CUM"),
        pl.col("N").sum().alias("DAYS"),
        pl.col("EXDOSE").sort_by("S").last().alias("LASTDOSE"),
    )
    per = per.with_columns(
        pl.col("USUBJID").is_in(stopped["USUBJID"].implode()).not_().alias("ONGOING")
    )
    return per.with_columns(
        (
            pl.when(pl.col("ONGOING")).then(pl.lit(CUTOFF)).otherwise(pl.col("LAST"))
            - pl.col("FIRST")
        )
        .dt.total_days()
        .alias("DUR")
        + 1
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_table1_counts(seed: int) -> None:
    sd = cohort(seed)
    rs = sd["RS"].frame
    expected = {
        "safety": {
            "n": 80,
            "age": (59, 35, 76),
            "gt65": 23,
            "male": 52,
            "ecog": (31, 44, 5),
            "ds": (6, 10, 64),
        },
        "treatment_cohort": {
            "n": 41,
            "age": (59, 47, 74),
            "gt65": 14,
            "male": 25,
            "ecog": (19, 18, 4),
            "ds": (2, 7, 32),
        },
    }
    for name, dm in populations(sd).items():
        e = expected[name]
        assert dm.height == e["n"]
        assert (dm["AGE"].median(), dm["AGE"].min(), dm["AGE"].max()) == e["age"]
        assert (dm["AGE"] > 65).sum() == e["gt65"]
        assert (dm["SEX"] == "M").sum() == e["male"]
        base = rs.filter(pl.col("USUBJID").is_in(dm["USUBJID"].implode()))
        ecog = base.filter(pl.col("RSTESTCD") == "ECOG")["RSSTRESC"]
        assert tuple((ecog == v).sum() for v in ("0", "1", "2")) == e["ecog"]
        stage = base.filter(pl.col("RSTESTCD") == "DSSTAGE")["RSSTRESC"]
        assert tuple((stage == v).sum() for v in ("I", "II", "III")) == e["ds"]


@pytest.mark.parametrize("seed", SEEDS)
def test_prior_therapy_counts(seed: int) -> None:
    patients, _ = simulate_patients(seed, 1)
    expected = {
        "SFU+TC": {
            "groups": (9, 13, 12, 12, 34),
            "med": 4,
            "range": (1, 15),
            "bort": 57,
            "thal": 59,
            "both": 41,
            "neither": 5,
            "surg": 5,
            "rad": 3,
        },
        "TC": {
            "groups": (6, 10, 5, 6, 14),
            "med": 3,
            "range": (1, 11),
            "bort": 31,
            "thal": 28,
            "both": 19,
            "neither": 1,
            "surg": 3,
            "rad": 1,
        },
    }
    for name, p in (("SFU+TC", patients), ("TC", patients.filter(pl.col("GROUP") == "TC"))):
        e = expected[name]
        n = p["NPRIOR"]
        assert (*tuple((n == k).sum() for k in (1, 2, 3, 4)), (n >= 5).sum()) == e["groups"]
        assert n.median() == e["med"] and (n.min(), n.max()) == e["range"]
        bort, thal = p["PRIORBORT"], p["PRIORTHAL"]
        assert (bort.sum(), thal.sum(), (bort & thal).sum(), (~bort & ~thal).sum()) == (
            e["bort"],
            e["thal"],
            e["both"],
            e["neither"],
        )
        assert (p["SURGERY"].sum(), p["RADIATION"].sum()) == (e["surg"], e["rad"])
        assert not (
            p.filter(pl.col("NPRIOR") == 1)["PRIORBORT"]
            & p.filter(pl.col("NPRIOR") == 1)["PRIORTHAL"]
        ).any()


@pytest.mark.parametrize("seed", SEEDS)
def test_exposure_facts(seed: int) -> None:
    sd = cohort(seed)
    per = exposure(sd)
    tc_ids = populations(sd)["treatment_cohort"]["USUBJID"]
    tc = per.filter(pl.col("USUBJID").is_in(tc_ids.implode()))
    months = lambda s: s / MONTH  # noqa: E731
    dur = months(per["DUR"])
    assert (round(dur.median(), 1), round(dur.min(), 1), round(dur.max(), 1)) == (16.5, 1.8, 48.1)
    tdur = months(tc["DUR"])
    assert (round(tdur.median(), 1), round(tdur.min(), 1), round(tdur.max(), 1)) == (
        23.3,
        13.1,
        48.1,
    )
    assert (tc["DUR"] > 7 * 108).sum() == 18  # beyond 108 weeks
    add = per["CUM"] / per["DAYS"]
    assert (round(add.mean(), 1), round(add.min(), 1), round(add.max(), 1)) == (21.7, 6.3, 25.0)
    di = per["CUM"] / per["DUR"]
    assert round(di.median(), 1) == 18.0
    # Relative dose intensity against the renal-adjusted full dose (Cockcroft-Gault).
    dm = sd["DM"].frame.select("USUBJID", "AGE", "SEX")
    creat = sd["LB"].frame.select("USUBJID", pl.col("LBSTRESN").alias("CREAT"))
    weight = sd["VS"].frame.select("USUBJID", pl.col("VSSTRESN").alias("WEIGHT"))
    renal = dm.join(creat, on="USUBJID").join(weight, on="USUBJID")
    crcl = {
        r["USUBJID"]: cockcroft_gault(r["AGE"], r["WEIGHT"], r["SEX"], r["CREAT"], "umol/L")
        for r in renal.iter_rows(named=True)
    }
    planned = per["USUBJID"].map_elements(
        lambda u: (
            25 * 21 / 28 if crcl[u] >= 60 else (10 * 21 / 28 if crcl[u] >= 30 else 15 * 11 / 28)
        ),
        return_dtype=pl.Float64,
    )
    assert round((di / planned).median(), 1) == 1.0
    on = tc.filter(pl.col("ONGOING"))
    assert on.height == 15
    assert (on["LASTDOSE"] == 25).sum() == 9
    full_ten = on.filter(
        (pl.col("LASTDOSE") == 10)
        & pl.col("USUBJID").map_elements(lambda u: 30 <= crcl[u] < 60, return_dtype=pl.Boolean)
    )
    assert full_ten.height == 1


@pytest.mark.parametrize("seed", SEEDS)
def test_dose_modification_counts(seed: int) -> None:
    patients, extra = simulate_patients(seed, 1)
    mods = extra["modifications"]
    kinds = mods.group_by("USUBJID").agg(
        (pl.col("ACTION") == "DRUG INTERRUPTED").any().alias("I"),
        (pl.col("ACTION") == "DOSE REDUCED").any().alias("R"),
    )
    p = patients.join(kinds, on="USUBJID", how="left").with_columns(
        pl.col("I", "R").fill_null(False)
    )
    for group, expected in (("TC", (17, 6, 6)), (None, (34, 6, 15))):
        sub = p if group is None else p.filter(pl.col("GROUP") == group)
        got = (
            (sub["I"] & ~sub["R"]).sum(),
            (~sub["I"] & sub["R"]).sum(),
            (sub["I"] & sub["R"]).sum(),
        )
        assert got == expected


@pytest.mark.parametrize("seed", SEEDS)
def test_disposition_and_deaths(seed: int) -> None:
    sd = cohort(seed)
    ds = sd["DS"].frame
    tc_ids = populations(sd)["treatment_cohort"]["USUBJID"]
    eot = ds.filter(
        (pl.col("DSSCAT") == "END OF TREATMENT") & pl.col("USUBJID").is_in(tc_ids.implode())
    )
    reasons = dict(eot.group_by("DSDECOD").len().rows())
    assert reasons == {"PROGRESSIVE DISEASE": 23, "DEATH": 2, "LOST TO FOLLOW-UP": 1}
    deaths = ds.filter((pl.col("DSDECOD") == "DEATH") & (pl.col("DSSCAT") == "END OF STUDY"))
    assert deaths.height == 30
    causes = deaths["DSTERM"].str.replace("DEATH DUE TO ", "").value_counts()
    count = dict(causes.rows())
    assert (count["MULTIPLE MYELOMA"], count["DISEASE PROGRESSION"], count["LUNG INFECTION"]) == (
        9,
        5,
        4,
    )
    tc_deaths = deaths.filter(pl.col("USUBJID").is_in(tc_ids.implode()))
    assert sorted(tc_deaths["DSTERM"].str.replace("DEATH DUE TO ", "").to_list()) == [
        "CEREBRAL INFARCTION",
        "LUNG INFECTION",
        "MULTIPLE MYELOMA",
        "NOT SPECIFIED",
        "PLASMACYTIC LEUKEMIA",
    ]
    assert sd["DM"].frame["DTHFL"].drop_nulls().len() == 30


def _km(
    adtte: pl.DataFrame, paramcd: str, ids: pl.Series
) -> tuple[float | None, float | None, float | None]:
    f = adtte.filter((pl.col("PARAMCD") == paramcd) & pl.col("USUBJID").is_in(ids.implode()))
    m = (
        kaplan_meier(f["AVAL"].to_numpy(), 1 - f["CNSR"].to_numpy(), conf_type="log-log")
        .curves[0]
        .median
    )
    return m.estimate, m.lower, m.upper


TABLE4 = {
    "safety": {"DOR": (18.4, 11.9, 29.6), "TTP": (13.8, 11.2, 20.4), "PFS": (13.8, 11.2, 20.4)},
    "treatment_cohort": {
        "DOR": (35.1, 25.5, 38.2),
        "TTP": (36.9, 23.5, 42.1),
        "PFS": (36.0, 23.5, 40.2),
    },
}


@pytest.mark.parametrize("seed", SEEDS)
def test_table4_within_tolerance_and_follow_up_exact(seed: int) -> None:
    sd = cohort(seed)
    adtte = derive_adtte(sd, CUTOFF).frame
    for name, dm in populations(sd).items():
        ids = dm["USUBJID"]
        for paramcd, (med, lo, hi) in TABLE4[name].items():
            got = _km(adtte, paramcd, ids)
            assert None not in got, (name, paramcd, got)
            assert abs(got[0] - med) <= 0.5, (name, paramcd, got)  # type: ignore[operator]
            assert abs(got[1] - lo) <= 1.5, (name, paramcd, got)  # type: ignore[operator]
            assert abs(got[2] - hi) <= 1.5, (name, paramcd, got)  # type: ignore[operator]
        assert _km(adtte, "OS", ids)[0] is None  # not estimable
        fup = adtte.filter((pl.col("PARAMCD") == "FUP") & pl.col("USUBJID").is_in(ids.implode()))
        assert round(fup["AVAL"].median(), 1) == {"safety": 38.4, "treatment_cohort": 43.3}[name]


@pytest.mark.parametrize("seed", SEEDS[:5])
def test_consistency_and_validation(seed: int) -> None:
    sd = cohort(seed)
    dm = sd["DM"].frame.select("USUBJID", _d("DTHDTC").alias("DTH"))
    for name, col in (("EX", "EXENDTC"), ("RS", "RSDTC"), ("SV", "SVSTDTC")):
        dates = sd[name].frame.select("USUBJID", _d(col).alias("D")).join(dm, on="USUBJID")
        assert (dates["D"] <= CUTOFF).all(), name
        assert not (dates["D"] > dates["DTH"]).any(), name
    first_dose = sd["EX"].frame.group_by("USUBJID").agg(_d("EXSTDTC").min().alias("F"))
    rfx = sd["DM"].frame.select("USUBJID", _d("RFXSTDTC").alias("R"))
    assert first_dose.join(rfx, on="USUBJID").filter(pl.col("F") != pl.col("R")).height == 0
    report = validate_datasets(sd)
    assert report.errors == ()


def test_same_seed_same_data_other_seed_other_data() -> None:
    a, b = simulate(7), simulate(7)
    for name in a:
        assert a[name].frame.equals(b[name].frame)
    c = simulate(8)
    assert not a["EX"].frame.equals(c["EX"].frame)


def test_scale_multiplies_every_count() -> None:
    sd = cohort(2014, 3)
    dm = sd["DM"].frame
    assert dm.height == 240 and (dm["ARMCD"] == "TP").sum() == 123
    assert (dm["SEX"] == "M").sum() == 156 and (dm["AGE"] > 65).sum() == 69
    assert dm["AGE"].median() == 59
    per = exposure(sd)
    assert round((per["CUM"] / per["DAYS"]).mean(), 1) == 21.7
    assert round((per["CUM"] / per["DUR"]).median(), 1) == 18.0
    assert sd["DM"].frame["DTHFL"].drop_nulls().len() == 90
    adtte = derive_adtte(sd, CUTOFF).frame
    fup = adtte.filter(pl.col("PARAMCD") == "FUP")
    assert round(fup["AVAL"].median(), 1) == 38.4
    tc = dm.filter(pl.col("ARMCD") == "TP")["USUBJID"]
    assert abs(_km(adtte, "PFS", tc)[0] - 36.0) <= 0.5  # type: ignore[operator]


def test_bad_scale_is_refused() -> None:
    from eap.errors import EapError

    with pytest.raises(EapError, match="scale"):
        simulate_patients(1, 0)


@pytest.mark.parametrize("seed", SEEDS)
def test_adverse_events_through_eaps_own_adae(seed: int) -> None:
    from eap.derive import derive_all
    from eap.simulate.targets import published

    pub = published()["safety_population_ae"]
    derived = derive_all(cohort(seed), CUTOFF)
    assert derived.findings == ()
    adae = derived.datasets["ADAE"].frame
    adsl = derived.datasets["ADSL"].frame
    te = adae.filter(pl.col("TRTEMFL") == "Y")

    def patients(frame: pl.DataFrame) -> dict[str, int]:
        return dict(frame.group_by("AEDECOD").agg(pl.col("USUBJID").n_unique()).rows())

    assert te["USUBJID"].n_unique() == pub["any_ae"]["n"] == 77
    g34 = te.filter(pl.col("TOXG34FL") == "Y")
    assert g34["USUBJID"].n_unique() == pub["table2_grade3_4_ge3pct"]["any_grade3_4"]["n"]
    table2 = {t: n for t, n in patients(g34).items() if n >= 3}  # >= 3% of 80
    assert table2 == {r["term"]: r["n"] for r in pub["table2_grade3_4_ge3pct"]["rows"]}
    serious = te.filter(pl.col("AESER") == "Y")
    assert serious["USUBJID"].n_unique() == pub["table3_serious"]["any_serious"]["n"]
    assert patients(serious) == {r["term"]: r["n"] for r in pub["table3_serious"]["rows"]}
    anygrade = patients(te)
    for row in pub["most_common_teae_any_grade"]:
        assert pct(anygrade[row["term"]]) == row["pct"], row
    # Modifications due to TEAEs, by patient: interruption only / reduction only / both.
    mods = (
        te.group_by("USUBJID")
        .agg(
            (pl.col("ACTLEN") == "INTERRUPTED").any().alias("I"),
            (pl.col("ACTLEN") == "REDUCED").any().alias("R"),
        )
        .join(adsl.select("USUBJID", "TCFL"), on="USUBJID")
    )
    expected = pub["lenalidomide_modification_due_to_teae"]
    for key, sub in (("safety", mods), ("treatment_cohort", mods.filter(pl.col("TCFL") == "Y"))):
        got = (
            (sub["I"] & ~sub["R"]).sum(),
            (~sub["I"] & sub["R"]).sum(),
            (sub["I"] & sub["R"]).sum(),
        )
        e = expected[key]
        assert got == (
            e["interruption"]["n"],
            e["reduction"]["n"],
            e["interruption_and_reduction"]["n"],
        )
    assert (te["ACTLEN"] == "WITHDRAWN").sum() == 0  # no TEAE led to discontinuation
    leading = patients(te.filter(pl.col("ACTLEN").is_in(["INTERRUPTED", "REDUCED"])))
    for row in pub["most_common_ae_leading_to_interruption_or_reduction"]:
        assert pct(leading[row["term"]]) == row["pct"], row
    spm = adae.filter(pl.col("SPMFL") == "Y")
    assert sorted(spm["AEDECOD"]) == ["Duodenal tumor", "Nasopharyngeal carcinoma"]
    assert (spm["AESER"] == "Y").all() and spm["TRTEMFL"].is_null().all()
    phases = dict(spm.select("AEDECOD", "APHASE").rows())
    assert phases == {
        "Duodenal tumor": "PARENT TRIAL",
        "Nasopharyngeal carcinoma": "SAFETY FOLLOW-UP",
    }


@pytest.mark.parametrize("seed", SEEDS[:5])
def test_concomitant_medications_and_prior_therapy_from_sdtm(seed: int) -> None:
    from eap.derive.adsl import derive_adsl

    sd = cohort(seed)
    cm = sd["CM"].frame.filter(pl.col("CMCAT") != "PRIOR ANTI-MYELOMA THERAPY")
    users = dict(cm.group_by("CMDECOD").agg(pl.col("USUBJID").n_unique()).rows())
    classes = dict(cm.group_by("CMCLAS").agg(pl.col("USUBJID").n_unique()).rows())
    assert users.get("ASPIRIN", classes.get("ANTITHROMBOTIC AGENTS")) == 80
    counts = sorted(classes.values(), reverse=True)
    for n in (36, 32, 27, 23):
        assert n in counts
    adsl = derive_adsl(sd, CUTOFF).frame
    tc = adsl.filter(pl.col("TCFL") == "Y")
    assert adsl["NPRIOR"].median() == 4 and tc["NPRIOR"].median() == 3
    for frame, (bort, thal, surg, rad) in ((adsl, (57, 59, 5, 3)), (tc, (31, 28, 3, 1))):
        got = (
            (frame["PRIBORFL"] == "Y").sum(),
            (frame["PRITHAFL"] == "Y").sum(),
            (frame["PRISURFL"] == "Y").sum(),
            (frame["PRIRADFL"] == "Y").sum(),
        )
        assert got == (bort, thal, surg, rad)

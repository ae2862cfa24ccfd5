"""Every derivation rule with a threshold, on each side of it, expected values by hand.

The thresholds come from the studies' own files (MM-024 and the CDISC pilot in
src/eap/plans, TOY-01 in tests/data) and from the MM-024 protocol (renal bands);
each test first checks the threshold it is about, so that a change to a study file
shows up here as well as in the values. Dates are worked out in the comments.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from eap.datasets.model import Dataset
from eap.derive.adae import derive_adae
from eap.derive.adex import derive_adex
from eap.derive.adrs import derive_adrs
from eap.derive.adsl import derive_adsl
from eap.derive.adtte import censoring_summary, derive_adtte
from eap.derive.common import latest_date
from eap.plans import load_study
from tests.conftest import DATA
from tests.tiny_study import one_arm_study

D = dt.date
DAY = dt.timedelta(days=1)
MM024 = load_study("mm024")
PILOT = load_study("cdisc-pilot")
TOY = load_study(DATA / "toy_study")
CUTOFF = D(2014, 11, 5)  # MM-024's


def _sdtm(**frames: pl.DataFrame) -> dict[str, Dataset]:
    return {name: Dataset.from_frame(name, frame) for name, frame in frames.items()}


def _dm(n: int, **columns: list[object]) -> pl.DataFrame:
    base: dict[str, list[object]] = {
        "STUDYID": ["X"] * n,
        "USUBJID": [f"S{i}" for i in range(1, n + 1)],
        "ARM": ["Treatment Phase"] * n,
        "ARMCD": ["TP"] * n,
    }
    return pl.DataFrame(base | columns)


def _by_subject(frame: pl.DataFrame, col: str) -> list[object]:
    return frame.sort("USUBJID")[col].to_list()


# --------------------------------------------------------------------------- ADSL groups


def test_mm024_age_groups_at_65_and_66() -> None:
    [group] = [g for g in MM024.adsl_groups if g.name == "AGEGR1"]
    assert [(lv.value, lv.where) for lv in group.levels] == [
        ("<=65", "AGE <= 65"),
        (">65", "AGE > 65"),
    ]
    adsl = derive_adsl(_sdtm(DM=_dm(4, AGE=[64, 65, 66, None])), CUTOFF, study=MM024).frame
    assert _by_subject(adsl, "AGEGR1") == ["<=65", "<=65", ">65", None]


def test_pilot_age_groups_at_64_65_80_and_81() -> None:
    [group] = [g for g in PILOT.adsl_groups if g.name == "AGEGR1"]
    assert [lv.value for lv in group.levels] == ["<65", "65-80", ">80"]
    adsl = derive_adsl(_sdtm(DM=_dm(4, AGE=[64, 65, 80, 81])), CUTOFF, study=PILOT).frame
    assert _by_subject(adsl, "AGEGR1") == ["<65", "65-80", "65-80", ">80"]


def test_mm024_prior_therapy_groups_at_4_and_5() -> None:
    # NPRIOR counts the prior anti-myeloma therapies; NPRIORGR is 1, 2, 3, 4 or >=5.
    counts = [0, 1, 4, 5, 6]
    cm = pl.DataFrame(
        {
            "USUBJID": [f"S{i}" for i, n in enumerate(counts, start=1) for _ in range(n)] + ["S1"],
            "CMCAT": ["PRIOR ANTI-MYELOMA THERAPY"] * sum(counts) + ["CONCOMITANT"],
            "CMTRT": ["MELPHALAN"] * sum(counts) + ["BORTEZOMIB"],
        }
    )
    adsl = derive_adsl(_sdtm(DM=_dm(5, AGE=[60] * 5), CM=cm), CUTOFF, study=MM024).frame
    assert _by_subject(adsl, "NPRIOR") == [0, 1, 4, 5, 6]
    assert _by_subject(adsl, "NPRIORGR") == [None, "1", "4", ">=5", ">=5"]
    # S1's only bortezomib is concomitant, not prior.
    assert _by_subject(adsl, "PRIBORFL") == ["N", "N", "N", "N", "N"]


# --------------------------------------------------------------------------- renal bands

SEVERE = "CrCl < 30 mL/min (severe renal insufficiency)"
MODERATE = "CrCl 30 to < 60 mL/min (mild-to-moderate renal impairment)"
NORMAL = "CrCl >= 60 mL/min (normal renal function)"


def test_renal_bands_at_each_edge() -> None:
    bands = MM024.drug_regimen(MM024.load_protocol()).renal_bands
    assert [(b.crcl_min, b.crcl_max, b.label) for b in bands] == [
        (0.0, 30.0, SEVERE),
        (30.0, 60.0, MODERATE),
        (60.0, float("inf"), NORMAL),
    ]
    # Cockcroft-Gault: (140 - AGE) x weight / (72 x creatinine in mg/dL). A man of 68
    # with creatinine 88.4 umol/L (1 mg/dL) has CrCl = 72 x weight / 72 = his weight.
    weights = [29.9, 30.0, 59.9, 60.0, 60.0]
    sexes = ["M", "M", "M", "M", "F"]
    n = len(weights)
    dm = _dm(n, AGE=[68] * n, SEX=sexes)
    ids = dm["USUBJID"].to_list()
    lb = pl.DataFrame(
        {
            "USUBJID": ids,
            "LBTESTCD": ["CREAT"] * n,
            "LBBLFL": ["Y"] * n,
            "LBSTRESN": [88.4] * n,
        }
    )
    vs = pl.DataFrame(
        {"USUBJID": ids, "VSTESTCD": ["WEIGHT"] * n, "VSBLFL": ["Y"] * n, "VSSTRESN": weights}
    )
    adsl = derive_adsl(_sdtm(DM=dm, LB=lb, VS=vs), CUTOFF, study=MM024).frame
    # The woman: 60 x 0.85 = 51.
    assert _by_subject(adsl, "CRCLBL") == pytest.approx([29.9, 30.0, 59.9, 60.0, 51.0])
    assert _by_subject(adsl, "RENALGR") == [SEVERE, MODERATE, MODERATE, NORMAL, MODERATE]


# --------------------------------------------------------------------------- ADSL dates


def test_adsl_dates_on_the_cutoff_count_and_the_day_after_does_not() -> None:
    after = CUTOFF + DAY
    dm = _dm(
        3,
        AGE=[60, 60, 60],
        RFICDTC=["2013-01-01"] * 3,
        DTHDTC=[CUTOFF.isoformat(), after.isoformat(), None],
    )
    ex = pl.DataFrame(
        {
            "USUBJID": ["S1", "S1", "S2", "S3"],
            "EXTRT": ["LENALIDOMIDE"] * 4,
            "EXDOSE": [25.0] * 4,
            # S1: a record starting on the cutoff counts, its end is cut at the cutoff;
            # S3's only record starts the day after: never treated by the cutoff.
            "EXSTDTC": ["2014-10-01", CUTOFF.isoformat(), "2014-10-01", after.isoformat()],
            "EXENDTC": ["2014-10-21", "2014-11-25", "2014-10-21", "2014-11-25"],
        }
    )
    sv = pl.DataFrame(
        {"USUBJID": ["S2", "S2"], "SVSTDTC": ["2014-10-30", after.isoformat()]},
    )
    ds = pl.DataFrame(
        {
            "USUBJID": ["S1", "S2"],
            "DSCAT": ["OTHER EVENT", "OTHER EVENT"],
            "DSSCAT": ["SAFETY FOLLOW-UP", "SAFETY FOLLOW-UP"],
            "DSDECOD": ["ENTERED SAFETY FOLLOW-UP PHASE"] * 2,
            "DSTERM": ["ENTERED SAFETY FOLLOW-UP PHASE"] * 2,
            "DSSTDTC": [CUTOFF.isoformat(), after.isoformat()],
        }
    )
    adsl = derive_adsl(_sdtm(DM=dm, EX=ex, SV=sv, DS=ds), CUTOFF, study=MM024).frame
    # A death on the cutoff is in; the day after, not yet.
    assert _by_subject(adsl, "DTHDT") == [CUTOFF, None, None]
    assert _by_subject(adsl, "TRTSDT") == [D(2014, 10, 1), D(2014, 10, 1), None]
    assert _by_subject(adsl, "TRTEDT") == [CUTOFF, D(2014, 10, 21), None]
    assert _by_subject(adsl, "SAFFL") == ["Y", "Y", "N"]
    # Last known alive: S1, the dose started on the cutoff (its end, after the cutoff,
    # is not seen); S2, the visit of 2014-10-30 (the one after the cutoff is not seen);
    # S3, the consent date.
    assert _by_subject(adsl, "LSTALVDT") == [CUTOFF, D(2014, 10, 30), D(2013, 1, 1)]
    # A study variable dated on the cutoff is in; the day after, not.
    assert _by_subject(adsl, "SFUDT") == [CUTOFF, None, None]


def test_open_last_dose_ends_at_a_disposition_on_or_after_its_start() -> None:
    dm = _dm(3, AGE=[60, 60, 60])
    ex = pl.DataFrame(
        {
            "USUBJID": ["S1", "S2", "S3", "S3"],
            "EXTRT": ["LENALIDOMIDE"] * 4,
            "EXDOSE": [25.0] * 4,
            "EXSTDTC": ["2014-01-10", "2014-01-10", "2014-01-01", "2014-01-10"],
            "EXENDTC": [None, None, "2014-01-20", None],
        },
        schema_overrides={"EXENDTC": pl.String},
    )
    ds = pl.DataFrame(
        {
            "USUBJID": ["S1", "S2", "S2", "S3"],
            "DSCAT": ["DISPOSITION EVENT"] * 4,
            "DSDECOD": ["COMPLETED"] * 4,
            # S1: on the day of the last start (counts); S2: the day before (ignored)
            # and a later one; S3: none after its last start.
            "DSSTDTC": ["2014-01-10", "2014-01-09", "2014-02-01", "2014-01-05"],
        }
    )
    adsl = derive_adsl(_sdtm(DM=dm, EX=ex, DS=ds), CUTOFF, study=MM024).frame
    # S3: no disposition on or after 2014-01-10: the latest of its end (01-20) and start.
    assert _by_subject(adsl, "TRTEDT") == [D(2014, 1, 10), D(2014, 2, 1), D(2014, 1, 20)]


# --------------------------------------------------------------------------- ADAE


def _adae(study_name: str, offsets_from_last: list[int], **adsl_extra: object) -> pl.DataFrame:
    """ADAE of one subject treated 2020-01-01 .. 2020-01-31, AEs at offsets from the last dose."""
    study = {"mm024": MM024, "pilot": PILOT, "toy": TOY}[study_name]
    last = D(2020, 1, 31)
    ae = pl.DataFrame(
        {
            "USUBJID": ["A"] * len(offsets_from_last),
            "AESEQ": list(range(1, len(offsets_from_last) + 1)),
            "AEDECOD": ["X"] * len(offsets_from_last),
            "AESTDTC": [(last + d * DAY).isoformat() for d in offsets_from_last],
        }
    )
    adsl = pl.DataFrame({"USUBJID": ["A"], "TRTSDT": [D(2020, 1, 1)], "TRTEDT": [last]})
    if adsl_extra:
        adsl = adsl.with_columns(**{k: pl.lit(v) for k, v in adsl_extra.items()})
    return derive_adae(_sdtm(AE=ae), Dataset.from_frame("ADSL", adsl), study=study).frame.sort(
        "AESEQ"
    )


def test_mm024_emergence_from_the_first_dose_to_28_days_after_the_last() -> None:
    assert MM024.te_window_days == 28
    # -31: 2019-12-31, the day before the first dose; -30: the first dose;
    # 28: 2020-02-28 (emergent); 29: 2020-02-29 (2020 is a leap year; not emergent).
    frame = _adae("mm024", [-31, -30, 0, 28, 29])
    assert frame["TRTEMFL"].to_list() == [None, "Y", "Y", "Y", None]
    # Study day: day 1 is the first dose, there is no day 0; the day before is -1.
    assert frame["ASTDY"].to_list() == [-1, 1, 31, 59, 60]
    # Time on treatment at onset: (ASTDT - TRTSDT + 1) / 30.4375.
    assert frame["ONTRTM"].to_list() == pytest.approx(
        [0 / 30.4375, 1 / 30.4375, 31 / 30.4375, 59 / 30.4375, 60 / 30.4375]
    )


def test_toy_emergence_at_7_and_8_days_after_the_last_dose() -> None:
    assert TOY.te_window_days == 7
    # 2020-02-07 is day 7 after 2020-01-31; 2020-02-08 is day 8.
    assert _adae("toy", [7, 8])["TRTEMFL"].to_list() == ["Y", None]


def test_pilot_emergence_has_no_window_after_the_last_dose() -> None:
    assert PILOT.te_window_days is None
    assert _adae("pilot", [-31, -30, 3650])["TRTEMFL"].to_list() == [None, "Y", "Y"]


def test_mm024_phase_at_onset_starts_on_each_date() -> None:
    # Consent (EAPDT) 2020-01-10, safety follow-up (SFUDT) 2020-02-10: an AE the day
    # before each start is still in the earlier phase.
    frame = _adae(
        "mm024",
        [-22, -21, 9, 10],  # 2020-01-09, 2020-01-10, 2020-02-09, 2020-02-10
        EAPDT=D(2020, 1, 10),
        SFUDT=D(2020, 2, 10),
    )
    assert frame["APHASE"].to_list() == [
        "PARENT TRIAL",
        "TREATMENT PHASE",
        "TREATMENT PHASE",
        "SAFETY FOLLOW-UP",
    ]


def test_toxicity_grade_3_and_4_flag_at_its_edges() -> None:
    ae = pl.DataFrame(
        {
            "USUBJID": ["A"] * 4,
            "AESEQ": [1, 2, 3, 4],
            "AEDECOD": ["X", "Y", "Z", "W"],
            "AESTDTC": ["2020-01-05"] * 4,
            "AETOXGR": ["2", "3", "4", "5"],
        }
    )
    adsl = Dataset.from_frame(
        "ADSL",
        pl.DataFrame({"USUBJID": ["A"], "TRTSDT": [D(2020, 1, 1)], "TRTEDT": [D(2020, 1, 31)]}),
    )
    frame = derive_adae(_sdtm(AE=ae), adsl, study=MM024).frame.sort("AESEQ")
    assert frame["ATOXGRN"].to_list() == [2, 3, 4, 5]
    assert frame["TOXG34FL"].to_list() == [None, "Y", "Y", None]
    # One term each: every AE is its term's worst.
    assert frame["WORSTFL"].to_list() == ["Y", "Y", "Y", "Y"]


def test_ae_end_is_never_after_death() -> None:
    # A partial end date (2020-03) is imputed to the last of the month, unless the
    # subject died before it; a death on that very day changes nothing.
    deaths = [D(2020, 3, 15), D(2020, 3, 31), D(2020, 4, 1), None]
    ae = pl.DataFrame(
        {
            "USUBJID": ["A", "B", "C", "D"],
            "AESEQ": [1, 1, 1, 1],
            "AEDECOD": ["X"] * 4,
            "AESTDTC": ["2020-03-01"] * 4,
            "AEENDTC": ["2020-03"] * 4,
        }
    )
    adsl = Dataset.from_frame(
        "ADSL",
        pl.DataFrame(
            {
                "USUBJID": ["A", "B", "C", "D"],
                "TRTSDT": [D(2020, 1, 1)] * 4,
                "TRTEDT": [D(2020, 3, 31)] * 4,
                "DTHDT": deaths,
            }
        ),
    )
    frame = derive_adae(_sdtm(AE=ae), adsl, study=MM024).frame.sort("USUBJID")
    end_of_march = D(2020, 3, 31)
    assert frame["AENDT"].to_list() == [D(2020, 3, 15), end_of_march, end_of_march, end_of_march]
    assert frame["AENDTF"].to_list() == ["D"] * 4


def test_always_emergent_needs_the_first_dose_only() -> None:
    # Without a last-dose date (TRTEDT missing) the window cannot be checked; an
    # always-emergent AE still counts from the day of the first dose, not the day before.
    ae = pl.DataFrame(
        {
            "USUBJID": ["A"] * 3,
            "AESEQ": [1, 2, 3],
            "AEDECOD": ["X", "X", "Y"],
            "AECAT": ["SECOND PRIMARY MALIGNANCY"] * 2 + [None],
            "AESTDTC": ["2019-12-31", "2020-01-01", "2020-01-01"],
        }
    )
    adsl = Dataset.from_frame(
        "ADSL",
        pl.DataFrame(
            {"USUBJID": ["A"], "TRTSDT": [D(2020, 1, 1)], "TRTEDT": [None]},
            schema_overrides={"TRTEDT": pl.Date},
        ),
    )
    frame = derive_adae(
        _sdtm(AE=ae),
        adsl,
        study=MM024,
        always_emergent="AECAT == 'SECOND PRIMARY MALIGNANCY'",
    ).frame.sort("AESEQ")
    assert frame["TRTEMFL"].to_list() == [None, "Y", None]


# --------------------------------------------------------------------------- ADTTE


def _tte(death: str | None, rs: list[tuple[str, str]], cutoff: dt.date = CUTOFF) -> pl.DataFrame:
    """ADTTE (MM-024 endpoints) of one subject, first dose 2013-01-01."""
    dm = pl.DataFrame(
        {"STUDYID": ["X"], "USUBJID": ["S"], "RFXSTDTC": ["2013-01-01"], "DTHDTC": [death]},
        schema_overrides={"DTHDTC": pl.String},
    )
    frames = {"DM": dm}
    # Without an overall response, RS holds only a baseline ECOG record ("ECOG 1").
    rs = rs or [("ECOG 1", "2013-01-01")]
    frames["RS"] = pl.DataFrame(
        {
            "USUBJID": ["S"] * len(rs),
            "RSSEQ": list(range(1, len(rs) + 1)),
            "RSCAT": ["IMWG"] * len(rs),
            "RSTESTCD": ["ECOG" if r.startswith("ECOG") else "OVRLRESP" for r, _ in rs],
            "RSSTRESC": [r for r, _ in rs],
            "RSDTC": [d for _, d in rs],
        }
    )
    return derive_adtte(_sdtm(**frames), cutoff, study=MM024).frame


def _param(frame: pl.DataFrame, paramcd: str) -> tuple[object, ...]:
    row = frame.filter(pl.col("PARAMCD") == paramcd).row(0, named=True)
    return row["ADT"], row["CNSR"], row["EVNTDESC"] or row["CNSDTDSC"]


def test_death_gap_counts_from_the_origin_without_an_adequate_assessment() -> None:
    gap = MM024.tte_sources["DEATH_NO_GAP"]
    assert (gap.max_gap_days, gap.gap_from) == (63, "LASTASMT")
    # No response assessment at all: the 63 days run from the first dose, 2013-01-01.
    # + 63 days = 2013-03-05 (30 + 28 + 5); + 64 = 2013-03-06.
    at63 = _tte("2013-03-05", [])
    assert _param(at63, "PFS") == (D(2013, 3, 5), 0, "Death without prior progression")
    at64 = _tte("2013-03-06", [])
    assert _param(at64, "PFS") == (D(2013, 1, 1), 2, "Censored at origin: no adequate assessment")
    assert _param(at64, "OS") == (D(2013, 3, 6), 0, "Death")


def test_death_gap_from_the_last_adequate_assessment_62_63_64_days() -> None:
    # Last adequate assessment 2013-03-01 (SD); + 62 = 2013-05-02, + 63 = 05-03, + 64 = 05-04.
    rs = [("SD", "2013-03-01")]
    assert _param(_tte("2013-05-02", rs), "PFS")[:2] == (D(2013, 5, 2), 0)
    assert _param(_tte("2013-05-03", rs), "PFS")[:2] == (D(2013, 5, 3), 0)
    late = _tte("2013-05-04", rs)
    assert _param(late, "PFS") == (D(2013, 3, 1), 1, "Censored at last adequate assessment")
    # AVAL: 2013-01-01 .. 2013-03-01 is day 60 (31 + 28 + 1), in months of 30.4375 days.
    pfs = late.filter(pl.col("PARAMCD") == "PFS").row(0, named=True)
    assert pfs["AVAL"] == pytest.approx(60 / 30.4375)


def test_events_on_the_cutoff_count_and_the_day_after_do_not() -> None:
    # Progression on the cutoff day is an event; the day after it is not seen, and
    # PFS is censored at the last adequate assessment.
    rs_on = [("PR", "2014-10-01"), ("PD", CUTOFF.isoformat())]
    assert _param(_tte(None, rs_on), "PFS")[:2] == (CUTOFF, 0)
    rs_after = [("PR", "2014-10-01"), ("PD", (CUTOFF + DAY).isoformat())]
    assert _param(_tte(None, rs_after), "PFS")[:2] == (D(2014, 10, 1), 1)
    # A death on the cutoff is an OS event; the day after, OS is censored at the last
    # date known alive (the assessment of 2014-10-01).
    assert _param(_tte(CUTOFF.isoformat(), rs_on), "OS")[:2] == (CUTOFF, 0)
    os_after = _param(_tte((CUTOFF + DAY).isoformat(), rs_on), "OS")
    assert os_after == (CUTOFF, 1, "Censored at last date known alive")


def test_last_adequate_assessment_is_strictly_before_the_progression() -> None:
    # An SD recorded on the day of the PD is not an adequate assessment before it:
    # TTP's event is the PD; DOR starts at the PR and ends at the PD.
    rs = [("PR", "2013-02-01"), ("SD", "2013-03-01"), ("PD", "2013-03-01")]
    frame = _tte(None, rs)
    assert _param(frame, "TTP")[:2] == (D(2013, 3, 1), 0)
    dor = frame.filter(pl.col("PARAMCD") == "DOR").row(0, named=True)
    assert (dor["STARTDT"], dor["ADT"], dor["CNSR"]) == (D(2013, 2, 1), D(2013, 3, 1), 0)
    # 2013-02-01 .. 2013-03-01: day 29.
    assert dor["AVAL"] == pytest.approx(29 / 30.4375)


# --------------------------------------------------------------------------- ADEX


def _adex(
    spans: dict[str, tuple[str, str | None]], stopped: dict[str, str], cutoff: dt.date = CUTOFF
) -> dict[str, dict[str, object]]:
    """ADEX (MM-024) of subjects with one lenalidomide record each (start, end) and
    an END OF TREATMENT disposition on the given dates."""
    ids = sorted(spans)
    ex = pl.DataFrame(
        {
            "USUBJID": ids,
            "EXTRT": ["LENALIDOMIDE"] * len(ids),
            "EXDOSE": [25.0] * len(ids),
            "EXDOSU": ["mg"] * len(ids),
            "EXSTDTC": [spans[u][0] for u in ids],
            "EXENDTC": [spans[u][1] for u in ids],
            "VISITNUM": [1.0] * len(ids),
        },
        schema_overrides={"EXENDTC": pl.String},
    )
    ds = pl.DataFrame(
        {
            "USUBJID": list(stopped),
            "DSSCAT": ["END OF TREATMENT"] * len(stopped),
            "DSDECOD": ["ADVERSE EVENT"] * len(stopped),
            "DSSTDTC": list(stopped.values()),
        },
        schema_overrides={"USUBJID": pl.String, "DSSTDTC": pl.String},
    )
    adsl = Dataset.from_frame(
        "ADSL",
        pl.DataFrame(
            {
                "STUDYID": ["X"] * len(ids),
                "USUBJID": ids,
                "SAFFL": ["Y"] * len(ids),
                "TRTEDT": [None] * len(ids),
            },
            schema_overrides={"TRTEDT": pl.Date},
        ),
    )
    frame = derive_adex(_sdtm(EX=ex, DS=ds), adsl, cutoff, study=MM024).frame
    out: dict[str, dict[str, object]] = {u: {} for u in ids}
    for r in frame.iter_rows(named=True):
        out[r["USUBJID"]][r["PARAMCD"]] = r["AVALC"] if r["AVALC"] is not None else r["AVAL"]
    return out


def test_gt108wk_at_756_and_757_days() -> None:
    assert MM024.adex.long_treatment_weeks == 108  # 108 x 7 = 756 days
    first = D(2012, 1, 1)
    # Stopped: the duration is last dose - first dose + 1.
    spans = {
        "A": (first.isoformat(), (first + 755 * DAY).isoformat()),  # 756 days: not beyond
        "B": (first.isoformat(), (first + 756 * DAY).isoformat()),  # 757 days: beyond
    }
    # On treatment at the cutoff: the duration runs to the cutoff.
    c_start = CUTOFF - 755 * DAY
    spans["C"] = (c_start.isoformat(), (c_start + 27 * DAY).isoformat())
    spans["D"] = ((c_start - DAY).isoformat(), (c_start + 27 * DAY).isoformat())
    stopped = {"A": (first + 755 * DAY).isoformat(), "B": (first + 756 * DAY).isoformat()}
    got = _adex(spans, stopped)
    assert {u: got[u]["GT108WK"] for u in "ABCD"} == {"A": "N", "B": "Y", "C": "N", "D": "Y"}
    assert {u: got[u]["TRTDURM"] for u in "ABCD"} == pytest.approx(
        {"A": 756 / 30.4375, "B": 757 / 30.4375, "C": 756 / 30.4375, "D": 757 / 30.4375}
    )


def test_end_of_treatment_on_the_cutoff_stops_the_day_after_does_not() -> None:
    spans = {"A": ("2014-10-01", "2014-10-21"), "B": ("2014-10-01", "2014-10-21")}
    got = _adex(spans, {"A": CUTOFF.isoformat(), "B": (CUTOFF + DAY).isoformat()})
    # A: stopped, 21 days (2014-10-01 .. 10-21); B: on treatment at the cutoff, to
    # 2014-11-05: 31 + 5 = 36 days.
    assert got["A"]["TRTDURM"] == pytest.approx(21 / 30.4375)
    assert got["B"]["TRTDURM"] == pytest.approx(36 / 30.4375)
    # 21 daily doses of 25 mg either way; dose intensity over the duration.
    assert got["A"]["CUMDOSE"] == got["B"]["CUMDOSE"] == 21 * 25.0
    assert got["A"]["DOSEINT"] == pytest.approx(25.0)
    assert got["B"]["DOSEINT"] == pytest.approx(21 * 25.0 / 36)


def test_interruptions_reductions_and_the_cutoff_in_ex_records() -> None:
    ex = pl.DataFrame(
        {
            "USUBJID": ["A"] * 5 + ["B"] * 3,
            "EXTRT": ["LENALIDOMIDE"] * 8,
            "EXDOSE": [25.0, 25.0, 15.0, 15.0, 10.0, 10.0, 10.0, 10.0],
            "EXDOSFRQ": ["QD", "QD", "QD", "QD", "QD", "QOD", "QOD", "QOD"],
            "VISITNUM": [1.0, 1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 1.0],
            # A, cycle 1: the next day (no gap), then one day missed (a gap); cycle 2:
            # a new cycle (never a gap), then the next day: the cutoff (no gap).
            # B, every other day: 2 days on (not a gap), then 3 days (a gap).
            "EXSTDTC": [
                "2014-09-01",
                "2014-09-11",
                "2014-09-22",
                "2014-10-30",
                CUTOFF.isoformat(),
                "2014-09-01",
                "2014-09-11",
                "2014-09-22",
            ],
            "EXENDTC": [
                "2014-09-10",
                "2014-09-20",
                "2014-09-30",
                "2014-11-04",
                CUTOFF.isoformat(),
                "2014-09-09",
                "2014-09-19",
                "2014-09-30",
            ],
        }
    )
    ex = pl.concat(
        [
            ex,
            pl.DataFrame(
                {
                    "USUBJID": ["A"],
                    "EXTRT": ["LENALIDOMIDE"],
                    "EXDOSE": [5.0],
                    "EXDOSFRQ": ["QD"],
                    "VISITNUM": [3.0],
                    "EXSTDTC": [(CUTOFF + DAY).isoformat()],  # after the cutoff: not seen
                    "EXENDTC": [(CUTOFF + 5 * DAY).isoformat()],
                }
            ),
        ]
    )
    adsl = Dataset.from_frame(
        "ADSL",
        pl.DataFrame({"STUDYID": ["X"] * 2, "USUBJID": ["A", "B"], "SAFFL": ["Y", "Y"]}),
    )
    rows = derive_adex(_sdtm(EX=ex), adsl, CUTOFF, study=MM024).frame
    got = {(r["USUBJID"], r["PARAMCD"]): r["AVAL"] for r in rows.iter_rows(named=True)}
    # A also starts cycle 2 on 10-30, 59 days after cycle 1 (2 x 28 or more): a whole
    # skipped cycle, a second interruption.
    assert (got[("A", "NINTERR")], got[("B", "NINTERR")]) == (2.0, 1.0)
    # A: 25 -> 25 (same), 25 -> 15, 15 -> 15, 15 -> 10: two reductions. B: none.
    assert (got[("A", "NREDUC")], got[("B", "NREDUC")]) == (2.0, 0.0)
    assert (got[("A", "CYCLES")], got[("B", "CYCLES")]) == (2.0, 1.0)
    assert got[("A", "LASTDOSE")] == 10.0
    # A: 10 + 10 days at 25, 9 + 6 at 15, 1 at 10: 250 + 250 + 135 + 90 + 10.
    assert got[("A", "CUMDOSE")] == 735.0
    # B, every other day: 9-01..09 is 5 doses, 9-11..19 is 5, 9-22..30 is 5: 15 x 10.
    assert got[("B", "CUMDOSE")] == 150.0
    assert got[("B", "ADDOSE")] == 10.0


# --------------------------------------------------------------------------- ADRS


def test_best_response_up_to_the_cutoff_and_the_first_progression() -> None:
    rs = pl.DataFrame(
        {
            "STUDYID": ["X"] * 7,
            "USUBJID": ["A", "A", "A", "B", "B", "B", "C"],
            "RSCAT": ["IMWG"] * 7,
            "RSTESTCD": ["OVRLRESP"] * 7,
            # A: a CR on the day of the PD counts (on or before the first PD).
            # B: a CR the day after the PD does not.
            # C: a CR on the cutoff counts.
            "RSSTRESC": ["PR", "PD", "CR", "PR", "PD", "CR", "CR"],
            "RSDTC": [
                "2014-01-01",
                "2014-02-01",
                "2014-02-01",
                "2014-01-01",
                "2014-02-01",
                "2014-02-02",
                CUTOFF.isoformat(),
            ],
        }
    )
    d_rs = pl.DataFrame(
        {
            "STUDYID": ["X"],
            "USUBJID": ["D"],
            "RSCAT": ["IMWG"],
            "RSTESTCD": ["OVRLRESP"],
            "RSSTRESC": ["CR"],
            "RSDTC": [(CUTOFF + DAY).isoformat()],  # after the cutoff: D has no response
        }
    )
    frame = derive_adrs(_sdtm(RS=pl.concat([rs, d_rs])), CUTOFF, study=MM024).frame
    bor = {r["USUBJID"]: r for r in frame.filter(pl.col("PARAMCD") == "BOR").iter_rows(named=True)}
    assert sorted(bor) == ["A", "B", "C"]
    assert {u: (r["AVALC"], r["ADT"]) for u, r in bor.items()} == {
        "A": ("CR", D(2014, 2, 1)),
        "B": ("PR", D(2014, 1, 1)),
        "C": ("CR", CUTOFF),
    }
    # sCR 7 .. NE 0: CR 6, PR 4.
    assert {u: r["AVAL"] for u, r in bor.items()} == {"A": 6.0, "B": 4.0, "C": 6.0}
    rsp = frame.filter(pl.col("PARAMCD") == "RSP").sort("USUBJID")
    assert rsp["AVALC"].to_list() == ["Y", "Y", "Y"]


def test_ovr_keeps_each_assessment_up_to_progression_the_better_of_one_date() -> None:
    rs = pl.DataFrame(
        {
            "USUBJID": ["A"] * 5,
            "RSCAT": ["IMWG"] * 5,
            "RSTESTCD": ["OVRLRESP"] * 5,
            # Two results on 2014-02-01 (VGPR kept over PR); after the first PD, nothing.
            "RSSTRESC": ["PR", "VGPR", "PR", "PD", "CR"],
            "RSDTC": ["2014-01-01", "2014-02-01", "2014-02-01", "2014-03-01", "2014-04-01"],
        }
    )
    frame = derive_adrs(_sdtm(RS=rs), CUTOFF, study=MM024).frame
    ovr = frame.filter(pl.col("PARAMCD") == "OVR")
    assert ovr.select("AVALC", "ADT").rows() == [
        ("PR", D(2014, 1, 1)),
        ("VGPR", D(2014, 2, 1)),
        ("PD", D(2014, 3, 1)),
    ]


def test_responders_are_pr_or_better() -> None:
    values = ["sCR", "VGPR", "PR", "MR", "SD", "PD", "NE"]
    rs = pl.DataFrame(
        {
            "STUDYID": ["X"] * len(values),
            "USUBJID": [f"S{i}" for i in range(len(values))],
            "RSCAT": ["IMWG"] * len(values),
            "RSTESTCD": ["OVRLRESP"] * len(values),
            "RSSTRESC": values,
            "RSDTC": ["2014-01-01"] * len(values),
        }
    )
    frame = derive_adrs(_sdtm(RS=rs), CUTOFF, study=MM024).frame.sort("USUBJID", "PARAMCD")
    bor = frame.filter(pl.col("PARAMCD") == "BOR")
    rsp = frame.filter(pl.col("PARAMCD") == "RSP")
    assert bor["AVAL"].to_list() == [7.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0]
    assert rsp["AVALC"].to_list() == ["Y", "Y", "Y", "N", "N", "N", "N"]
    assert rsp["AVAL"].to_list() == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]


# --------------------------------------------------------------------------- data cutoff


def test_latest_date_a_tie_keeps_the_first_dataset_and_variable() -> None:
    # Datasets are read in name order (AE before DM), variables in column order.
    sdtm = _sdtm(
        DM=pl.DataFrame({"USUBJID": ["A"], "RFSTDTC": ["2020-02-10"]}),
        AE=pl.DataFrame(
            {"USUBJID": ["A"], "AESTDTC": ["2020-02-10"], "AEENDTC": ["2020-02-10T10:00"]}
        ),
    )
    assert latest_date(sdtm) == (D(2020, 2, 10), "AE.AESTDTC")


def test_censoring_summary_counts_each_reason_in_parameter_and_cnsr_order() -> None:
    adtte = pl.DataFrame(
        {
            "PARAMCD": ["PFS", "OS", "PFS", "OS", "PFS", "OS"],
            "CNSR": [1, 1, 0, 0, 1, 0],
            "EVNTDESC": [None, None, "Progression", "Death", None, "Death"],
            "CNSDTDSC": ["Last assessment", "Alive", None, None, "Last assessment", None],
        }
    )
    got = censoring_summary(adtte)
    assert got.rows() == [
        ("OS", 0, "Death", 2),
        ("OS", 1, "Alive", 1),
        ("PFS", 0, "Progression", 1),
        ("PFS", 1, "Last assessment", 2),
    ]
    assert got.columns == ["PARAMCD", "CNSR", "REASON", "N"]


def test_censoring_summary_orders_reasons_of_one_parameter_and_cnsr_alphabetically() -> None:
    # Two events of PFS (CNSR 0) with different reasons, given in reverse alphabetical
    # order: the table lists "Death ..." before "Progression" on every run.
    adtte = pl.DataFrame(
        {
            "PARAMCD": ["PFS", "PFS", "PFS"],
            "CNSR": [0, 0, 0],
            "EVNTDESC": ["Progression", "Death without prior progression", "Progression"],
            "CNSDTDSC": [None, None, None],
        }
    )
    for _ in range(20):
        assert censoring_summary(adtte).rows() == [
            ("PFS", 0, "Death without prior progression", 1),
            ("PFS", 0, "Progression", 2),
        ]


# --------------------------------------------------------------------------- partial dates


@pytest.mark.parametrize(
    ("aestdtc", "trtsdt", "astdt", "astdtf"),
    [
        # A full date (any time part ignored) is taken as it is.
        ("2020-03-15T10:30", D(2020, 3, 10), D(2020, 3, 15), None),
        # Year and month: the first of the month, or the first dose when the AE started
        # in the month of the first dose (then it is not imputed before the dose).
        ("2020-03", D(2020, 3, 10), D(2020, 3, 10), "D"),
        ("2020-03", D(2020, 2, 10), D(2020, 3, 1), "D"),
        ("2020-03", D(2021, 3, 10), D(2020, 3, 1), "D"),  # same month, another year
        ("2020-02", D(2020, 3, 10), D(2020, 2, 1), "D"),
        # Not an ISO 8601 partial date (the gate reports it): never imputed.
        ("2020-03---15", D(2020, 5, 1), None, None),
        ("2020-03", None, D(2020, 3, 1), "D"),
        # Year only: 1 January, or the first dose in the year of the first dose.
        ("2020", D(2020, 3, 10), D(2020, 3, 10), "M"),
        ("2021", D(2020, 3, 10), D(2021, 1, 1), "M"),
        ("2019", D(2020, 3, 10), D(2019, 1, 1), "M"),
        ("2020", None, D(2020, 1, 1), "M"),
        (None, D(2020, 3, 10), None, None),
    ],
)
def test_ae_start_imputation(
    aestdtc: str | None, trtsdt: dt.date | None, astdt: dt.date | None, astdtf: str | None
) -> None:
    ae = pl.DataFrame(
        {"USUBJID": ["A"], "AESEQ": [1], "AEDECOD": ["X"], "AESTDTC": [aestdtc]},
        schema_overrides={"AESTDTC": pl.String},
    )
    adsl = Dataset.from_frame(
        "ADSL",
        pl.DataFrame(
            {"USUBJID": ["A"], "TRTSDT": [trtsdt], "TRTEDT": [D(2021, 12, 31)]},
            schema_overrides={"TRTSDT": pl.Date},
        ),
    )
    row = derive_adae(_sdtm(AE=ae), adsl, study=MM024).frame.row(0, named=True)
    assert (row["ASTDT"], row["ASTDTF"]) == (astdt, astdtf)


@pytest.mark.parametrize(
    ("aeendtc", "aendt", "aendtf"),
    [
        ("2020-02-10T08:00", D(2020, 2, 10), None),
        ("2020-02", D(2020, 2, 29), "D"),  # the last day of the month (a leap year)
        ("2021-02", D(2021, 2, 28), "D"),
        ("2020", D(2020, 12, 31), "M"),
        ("UNK", None, None),
        (None, None, None),
    ],
)
def test_ae_end_imputation(aeendtc: str | None, aendt: dt.date | None, aendtf: str | None) -> None:
    ae = pl.DataFrame(
        {
            "USUBJID": ["A"],
            "AESEQ": [1],
            "AEDECOD": ["X"],
            "AESTDTC": ["2020-01-05"],
            "AEENDTC": [aeendtc],
        },
        schema_overrides={"AEENDTC": pl.String},
    )
    adsl = Dataset.from_frame(
        "ADSL",
        pl.DataFrame({"USUBJID": ["A"], "TRTSDT": [D(2020, 1, 1)], "TRTEDT": [D(2020, 1, 31)]}),
    )
    row = derive_adae(_sdtm(AE=ae), adsl, study=MM024).frame.row(0, named=True)
    assert (row["AENDT"], row["AENDTF"]) == (aendt, aendtf)


def test_period_without_a_before_value_and_without_the_first_start(tmp_path: Path) -> None:
    (tmp_path / "study.toml").write_text(
        one_arm_study()
        + """
[adae.period]
variable = "APERIOD"
label = "Period"
starts = [{ date = "RANDDT", value = "DOUBLE-BLIND" }, { date = "OLEDT", value = "OPEN" }]
"""
    )
    ae = pl.DataFrame(
        {
            "USUBJID": ["A", "A", "B"],
            "AESEQ": [1, 2, 1],
            "AEDECOD": ["X", "Y", "X"],
            "AESTDTC": ["2020-01-05", "2020-01-20", "2020-03-01"],
        }
    )
    adsl = Dataset.from_frame(
        "ADSL",
        pl.DataFrame(
            {
                "USUBJID": ["A", "B"],
                "TRTSDT": [D(2020, 1, 1)] * 2,
                "TRTEDT": [D(2020, 3, 31)] * 2,
                "SAFFL": ["Y", "N"],
                "RANDDT": [D(2020, 1, 10), None],
                "OLEDT": [None, D(2020, 2, 1)],
            }
        ),
    )
    frame = derive_adae(_sdtm(AE=ae), adsl, study=load_study(tmp_path)).frame
    # A: before randomisation there is no period (no `before` value); after, DOUBLE-BLIND.
    # B: never randomised (no first start), but a later start applies from its date.
    assert frame.select("USUBJID", "AESEQ", "APERIOD", "SAFFL").rows() == [
        ("A", 1, None, "Y"),
        ("A", 2, "DOUBLE-BLIND", "Y"),
        ("B", 1, "OPEN", "N"),
    ]
    # MM-024: without a consent date (EAPDT, the first start) an AE before the safety
    # follow-up is in no phase, not in the parent trial.
    mm = _adae("mm024", [0, 10], EAPDT=None, SFUDT=D(2020, 2, 10))
    assert mm["APHASE"].to_list() == [None, "SAFETY FOLLOW-UP"]


def test_worst_grade_per_term_ties_sequence_and_supplemental_terms() -> None:
    ae = pl.DataFrame(
        {
            "USUBJID": ["B", "A", "A", "A", "A", "A", "A", "A"],
            "AESEQ": [1, 7, 2, 3, 4, 5, 6, 8],
            "AEDECOD": ["X", "X", "X", "X", "Y", "Y", "Z", "Z"],
            # X: grades 3 (twice) and 2: the earlier grade 3 is the worst. Y: no grade:
            # severity ranks (SEVERE > MILD). Z: an unreadable grade ("NA") is missing.
            "AETOXGR": ["1", "3", "3", "2", None, None, "NA", "1"],
            "AESEV": [None, None, None, None, "MILD", "SEVERE", "SEVERE", None],
            "AESTDTC": [
                "2020-01-05",
                "2020-01-09",
                "2020-01-10",
                "2020-01-03",
                "2020-01-04",
                "2020-01-06",
                "UNK",
                "2020-01-07",
            ],
        }
    )
    supp = pl.DataFrame(
        {
            "USUBJID": ["A", "A", "A"],
            "QNAM": ["AETOXTRM", "OTHER", "AETOXTRM"],
            "IDVARVAL": ["7", "3", ""],  # a record without AESEQ matches no AE
            "QVAL": ["Neutrophil count decreased", "x", "y"],
        }
    )
    adsl = Dataset.from_frame(
        "ADSL",
        pl.DataFrame(
            {"USUBJID": ["A", "B"], "TRTSDT": [D(2020, 1, 1)] * 2, "TRTEDT": [D(2020, 1, 31)] * 2}
        ),
    )
    result = derive_adae(_sdtm(AE=ae, SUPPAE=supp), adsl, study=MM024)
    assert (result.name, result.label) == ("ADAE", "Adverse Events Analysis Dataset")
    frame = result.frame
    # Sorted by subject, then AESEQ.
    assert frame.select("USUBJID", "AESEQ").rows() == [
        ("A", 2),
        ("A", 3),
        ("A", 4),
        ("A", 5),
        ("A", 6),
        ("A", 7),
        ("A", 8),
        ("B", 1),
    ]
    worst = dict(zip(frame["AESEQ"].to_list(), frame["WORSTFL"].to_list(), strict=True))
    assert [worst[i] for i in (7, 2, 3, 4, 5, 6, 8)] == [
        "Y",  # X: grade 3 on 2020-01-09, before AESEQ 2's grade 3 on 2020-01-10
        None,
        None,
        None,
        "Y",  # Y: SEVERE over MILD
        None,  # Z: an unreadable start date ("UNK") is not emergent, so not the worst
        "Y",
    ]
    assert frame.filter(pl.col("AESEQ") == 6).row(0, named=True)["ATOXGRN"] is None
    assert frame.filter(pl.col("AESEQ") == 6).row(0, named=True)["ASTDT"] is None
    # The supplemental CTCAE term of AESEQ 7 (QNAM AETOXTRM only).
    assert frame["AETOXTRM"].to_list() == [None] * 5 + ["Neutrophil count decreased", None, None]


def test_always_emergent_needs_a_first_dose() -> None:
    # A subject never treated (no TRTSDT) has no emergent AE, always-emergent or not,
    # with a start date or without one.
    ae = pl.DataFrame(
        {
            "USUBJID": ["A", "A"],
            "AESEQ": [1, 2],
            "AEDECOD": ["X", "X"],
            "AECAT": ["SECOND PRIMARY MALIGNANCY"] * 2,
            "AESTDTC": ["2020-01-05", None],
        },
        schema_overrides={"AESTDTC": pl.String},
    )
    adsl = Dataset.from_frame(
        "ADSL",
        pl.DataFrame(
            {"USUBJID": ["A"], "TRTSDT": [None], "TRTEDT": [None]},
            schema_overrides={"TRTSDT": pl.Date, "TRTEDT": pl.Date},
        ),
    )
    frame = derive_adae(
        _sdtm(AE=ae), adsl, study=MM024, always_emergent="AECAT == 'SECOND PRIMARY MALIGNANCY'"
    ).frame
    assert frame["TRTEMFL"].to_list() == [None, None]


def test_worst_grade_prefers_a_graded_record_and_then_the_lower_sequence() -> None:
    ae = pl.DataFrame(
        {
            "USUBJID": ["A"] * 4,
            "AESEQ": [4, 3, 2, 1],
            "AEDECOD": ["X", "X", "Y", "Y"],
            # X: a record without grade or known severity never outranks a graded one.
            # Y: the same grade on the same day: the lower AESEQ is the worst.
            "AETOXGR": [None, "1", "2", "2"],
            "AESEV": ["UNKNOWN", None, None, None],
            "AESTDTC": ["2020-01-02", "2020-01-03", "2020-01-04", "2020-01-04"],
        }
    )
    adsl = Dataset.from_frame(
        "ADSL",
        pl.DataFrame({"USUBJID": ["A"], "TRTSDT": [D(2020, 1, 1)], "TRTEDT": [D(2020, 1, 31)]}),
    )
    frame = derive_adae(_sdtm(AE=ae), adsl, study=MM024).frame
    assert frame.select("AESEQ", "WORSTFL").rows() == [(1, "Y"), (2, None), (3, "Y"), (4, None)]


def test_adrs_study_id_unknown_results_ties_and_layout() -> None:
    rs = pl.DataFrame(
        {
            "USUBJID": ["B", "B", "B", "A", "A"],
            "RSCAT": ["IMWG"] * 5,
            "RSTESTCD": ["OVRLRESP"] * 5,
            # B: two PRs: the first one's date; A: an unknown result ranks with NE (0),
            # below SD.
            "RSSTRESC": ["PR", "PR", "SD", "UNK", "SD"],
            "RSDTC": ["2014-03-01", "2014-02-01", "2014-01-01", "2014-01-01", "2014-02-01"],
        }
    )
    dm = pl.DataFrame({"STUDYID": ["MM-024", "MM-024"], "USUBJID": ["A", "B"]})
    result = derive_adrs(_sdtm(RS=rs, DM=dm), CUTOFF, study=MM024)
    assert (result.name, result.label) == ("ADRS", "Response Analysis Dataset")
    ovr = "Overall Response by Assessment (IMWG)"
    assert result.frame.rows() == [
        ("MM-024", "A", "BOR", "Best Overall Response (IMWG)", "SD", 2.0, D(2014, 2, 1), "Y"),
        ("MM-024", "A", "OVR", ovr, "UNK", 0.0, D(2014, 1, 1), "Y"),
        ("MM-024", "A", "OVR", ovr, "SD", 2.0, D(2014, 2, 1), "Y"),
        ("MM-024", "A", "RSP", "Responder (PR or Better)", "N", 0.0, D(2014, 2, 1), "Y"),
        ("MM-024", "B", "BOR", "Best Overall Response (IMWG)", "PR", 4.0, D(2014, 2, 1), "Y"),
        ("MM-024", "B", "OVR", ovr, "SD", 2.0, D(2014, 1, 1), "Y"),
        ("MM-024", "B", "OVR", ovr, "PR", 4.0, D(2014, 2, 1), "Y"),
        ("MM-024", "B", "OVR", ovr, "PR", 4.0, D(2014, 3, 1), "Y"),
        ("MM-024", "B", "RSP", "Responder (PR or Better)", "Y", 1.0, D(2014, 2, 1), "Y"),
    ]
    # Without STUDYID in RS or a DM, STUDYID is missing; an unknown result alone is 0.
    alone = derive_adrs(_sdtm(RS=rs.filter(pl.col("RSSTRESC") == "UNK")), CUTOFF, study=MM024)
    assert alone.frame.select("STUDYID", "AVALC", "AVAL").rows() == [
        (None, "UNK", 0.0),
        (None, "UNK", 0.0),
        (None, "N", 0.0),
    ]

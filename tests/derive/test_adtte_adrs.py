from __future__ import annotations

import datetime as dt

import polars as pl

from eap.datasets.model import Dataset
from eap.derive.adrs import derive_adrs
from eap.derive.adtte import derive_adtte
from eap.plans import load_study

CUTOFF = dt.date(2014, 11, 5)
MAX_GAP_DAYS = load_study("mm024").tte_sources["DEATH_NO_GAP"].max_gap_days


def _sdtm() -> dict[str, Dataset]:
    """Four subjects, one per rule, with hand-set dates."""
    dm = pl.DataFrame(
        {
            "STUDYID": ["X"] * 4,
            "USUBJID": ["PD", "DEATH", "LATEDEATH", "NOASMT"],
            "RFXSTDTC": ["2013-01-01"] * 4,
            "RFICDTC": ["2013-01-01"] * 4,
            "DTHDTC": [None, "2013-04-10", "2013-09-01", None],
        }
    )
    rs = pl.DataFrame(
        {
            "USUBJID": ["PD", "PD", "PD", "DEATH", "LATEDEATH", "PD"],
            "RSSEQ": [1, 2, 3, 1, 1, 4],
            "RSCAT": ["IMWG"] * 6,
            "RSTESTCD": ["OVRLRESP"] * 6,
            "RSSTRESC": ["PR", "VGPR", "PD", "SD", "PR", "CR"],
            "RSDTC": [
                "2013-01-29",
                "2013-02-26",
                "2013-03-26",
                "2013-03-01",
                "2013-03-01",
                "2015-01-01",
            ],
        }
    )
    return {"DM": Dataset.from_frame("DM", dm), "RS": Dataset.from_frame("RS", rs)}


def _row(adtte: pl.DataFrame, subject: str, paramcd: str) -> dict[str, object]:
    return adtte.filter((pl.col("USUBJID") == subject) & (pl.col("PARAMCD") == paramcd)).row(
        0, named=True
    )


def test_event_and_censoring_sources() -> None:
    adtte = derive_adtte(_sdtm(), CUTOFF).frame
    pd = _row(adtte, "PD", "PFS")
    assert (pd["ADT"], pd["CNSR"], pd["SRCDOM"], pd["SRCSEQ"]) == (dt.date(2013, 3, 26), 0, "RS", 3)
    assert pd["AVAL"] == (84 + 1) / 30.4375  # 2013-01-01 .. 2013-03-26 is day 85
    # Death 40 days after the last assessment (within 63): a PFS event, censored for TTP.
    death = _row(adtte, "DEATH", "PFS")
    assert (death["ADT"], death["CNSR"]) == (dt.date(2013, 4, 10), 0)
    ttp = _row(adtte, "DEATH", "TTP")
    assert (ttp["ADT"], ttp["CNSR"], ttp["CNSDTDSC"]) == (
        dt.date(2013, 3, 1),
        1,
        "Censored at last adequate assessment",
    )
    # Death 184 days after the last assessment (> 63, two missed visits): censored there.
    late = _row(adtte, "LATEDEATH", "PFS")
    assert (late["ADT"], late["CNSR"]) == (dt.date(2013, 3, 1), 1)
    assert MAX_GAP_DAYS is not None
    assert (dt.date(2013, 9, 1) - dt.date(2013, 3, 1)).days > MAX_GAP_DAYS
    assert _row(adtte, "LATEDEATH", "OS")["CNSR"] == 0
    # No assessment at all: censored at the origin with its own code.
    none = _row(adtte, "NOASMT", "PFS")
    assert (none["ADT"], none["CNSR"]) == (dt.date(2013, 1, 1), 2)


def test_duration_of_response_for_responders_only_from_first_response() -> None:
    adtte = derive_adtte(_sdtm(), CUTOFF).frame
    dor = adtte.filter(pl.col("PARAMCD") == "DOR")
    assert sorted(dor["USUBJID"]) == ["LATEDEATH", "PD"]
    pd = _row(adtte, "PD", "DOR")
    assert (pd["STARTDT"], pd["ADT"], pd["CNSR"]) == (dt.date(2013, 1, 29), dt.date(2013, 3, 26), 0)


def test_records_after_the_cutoff_are_ignored() -> None:
    # PD's 2015 "CR" is after the cutoff; with a cutoff before the PD, PFS is censored.
    adtte = derive_adtte(_sdtm(), dt.date(2013, 3, 20)).frame
    row = _row(adtte, "PD", "PFS")
    assert (row["ADT"], row["CNSR"]) == (dt.date(2013, 2, 26), 1)


def test_best_overall_response_stops_at_progression() -> None:
    adrs = derive_adrs(_sdtm(), CUTOFF).frame
    bor = dict(adrs.filter(pl.col("PARAMCD") == "BOR").select("USUBJID", "AVALC").rows())
    # The CR after progression (and after the cutoff) does not count.
    assert bor == {"PD": "VGPR", "DEATH": "SD", "LATEDEATH": "PR"}
    rsp = dict(adrs.filter(pl.col("PARAMCD") == "RSP").select("USUBJID", "AVALC").rows())
    assert rsp == {"PD": "Y", "DEATH": "N", "LATEDEATH": "Y"}


def test_censoring_summary_counts_each_reason() -> None:
    from eap.derive.adtte import censoring_summary

    summary = censoring_summary(derive_adtte(_sdtm(), CUTOFF).frame)
    pfs = {
        (r["CNSR"], r["REASON"]): r["N"]
        for r in summary.filter(pl.col("PARAMCD") == "PFS").iter_rows(named=True)
    }
    assert pfs == {
        (0, "Disease progression (IMWG)"): 1,
        (0, "Death without prior progression"): 1,
        (1, "Censored at last adequate assessment"): 1,
        (2, "Censored at origin: no adequate assessment"): 1,
    }


def test_new_anticancer_therapy_censors_at_the_last_assessment_before_it() -> None:
    sdtm = _sdtm()
    cm = pl.DataFrame(
        {
            "USUBJID": ["PD"],
            "CMCAT": ["SUBSEQUENT ANTI-MYELOMA THERAPY"],
            "CMTRT": ["BORTEZOMIB"],
            "CMSTDTC": ["2013-03-10"],
        }
    )
    adtte = derive_adtte({**sdtm, "CM": Dataset.from_frame("CM", cm)}, CUTOFF).frame
    row = _row(adtte, "PD", "PFS")
    # The PD of 2013-03-26 came after the new therapy of 2013-03-10: censored at 2013-02-26.
    assert (row["ADT"], row["CNSR"]) == (dt.date(2013, 2, 26), 3)
    assert row["CNSDTDSC"] == "Censored at last adequate assessment before new anticancer therapy"

"""Timeline contradictions in the SDTM input: records after death, doses before consent.

Every rule is tested on both sides of its date: on the day of death (or of consent) is
no finding, the day after (before) is one."""

from __future__ import annotations

import dataclasses

import polars as pl
import pytest

from eap.datasets.model import Dataset
from eap.derive.checks import input_findings, timeline_findings
from eap.plans import load_study

# Subject A died on 2014-07-15; subject B is alive (no DTHDTC).
DM = pl.DataFrame(
    {
        "USUBJID": ["A", "B"],
        "DTHDTC": ["2014-07-15", None],
        "RFICDTC": ["2014-03-10", "2014-03-10"],
    }
)


def _sdtm(**frames: pl.DataFrame) -> dict[str, Dataset]:
    return {name: Dataset.from_frame(name, f) for name, f in {"DM": DM, **frames}.items()}


def _found(sdtm: dict[str, Dataset]) -> dict[str, tuple[str, str, str | None, tuple[int, ...]]]:
    return {f.check: (f.severity, f.dataset, f.variable, f.rows) for f in timeline_findings(sdtm)}


@pytest.mark.parametrize(
    ("dataset", "variable", "check", "severity"),
    [
        ("EX", "EXSTDTC", "dose-after-death", "error"),
        ("AE", "AESTDTC", "ae-after-death", "error"),
        ("CM", "CMSTDTC", "cm-after-death", "error"),
        ("RS", "RSDTC", "assessment-after-death", "error"),
        ("SV", "SVSTDTC", "visit-after-death", "warning"),
    ],
)
def test_a_record_the_day_after_death_is_a_finding_on_the_day_is_not(
    dataset: str, variable: str, check: str, severity: str
) -> None:
    # Rows: A on the death date, A the day after, B (alive) the day after.
    frame = pl.DataFrame(
        {"USUBJID": ["A", "A", "B"], variable: ["2014-07-15", "2014-07-16", "2014-07-16"]}
    )
    findings = [f for f in timeline_findings(_sdtm(**{dataset: frame})) if f.check == check]
    assert len(findings) == 1
    f = findings[0]
    assert (f.severity, f.dataset, f.variable, f.rows) == (severity, dataset, variable, (2,))
    assert f.expected == f"{variable} on or before the subject's death (DM.DTHDTC)"
    assert f.found == "1 records: A 2014-07-16 (died 2014-07-15)"
    on_the_day = frame.head(1)
    assert timeline_findings(_sdtm(**{dataset: on_the_day})) == []


def test_disposition_events_other_than_death_after_death() -> None:
    ds = pl.DataFrame(
        {
            "USUBJID": ["A", "A", "A", "A"],
            "DSDECOD": ["DEATH", "DEATH", "LOST TO FOLLOW-UP", "LOST TO FOLLOW-UP"],
            "DSSTDTC": ["2014-07-15", "2014-07-20", "2014-07-15", "2014-07-16"],
        }
    )
    # A death record dated after DM's death date is not this check's; a non-death event
    # on the death date is fine, the day after is a warning.
    assert _found(_sdtm(DS=ds)) == {
        "disposition-after-death": ("warning", "DS", "DSSTDTC", (4,)),
    }


def test_partial_dates_are_findings_only_when_certainly_after_death() -> None:
    ae = pl.DataFrame(
        {
            "USUBJID": ["A", "A", "A", "A"],
            # July 2014 may be on or before 07-15; August cannot; 2014 may; 2015 cannot.
            "AESTDTC": ["2014-07", "2014-08", "2014", "2015"],
        }
    )
    assert _found(_sdtm(AE=ae)) == {"ae-after-death": ("error", "AE", "AESTDTC", (2, 4))}
    # A partial death date: died in July 2014, so 07-31 may be the day, 08-01 cannot.
    dm = DM.with_columns(pl.lit("2014-07").alias("DTHDTC"))
    ex = pl.DataFrame({"USUBJID": ["A", "A"], "EXSTDTC": ["2014-07-31", "2014-08-01"]})
    sdtm = {"DM": Dataset.from_frame("DM", dm), "EX": Dataset.from_frame("EX", ex)}
    assert _found(sdtm) == {"dose-after-death": ("error", "EX", "EXSTDTC", (2,))}


@pytest.mark.parametrize(
    ("dataset", "prefix", "check", "severity"),
    [
        ("EX", "EX", "dose-end-after-death", "error"),
        ("AE", "AE", "ae-end-after-death", "warning"),
        ("CM", "CM", "cm-end-after-death", "warning"),
    ],
)
def test_an_end_date_after_death(dataset: str, prefix: str, check: str, severity: str) -> None:
    start, end = f"{prefix}STDTC", f"{prefix}ENDTC"
    frame = pl.DataFrame(
        {
            "USUBJID": ["A", "A", "A"],
            # ends on the death date; ends the day after; starts (and ends) after death
            start: ["2014-07-01", "2014-07-01", "2014-07-16"],
            end: ["2014-07-15", "2014-07-16", "2014-07-20"],
        }
    )
    found = _found(_sdtm(**{dataset: frame}))
    assert found[check] == (severity, dataset, end, (2,))  # row 3 is the start check's
    assert set(found) == {check, {"EX": "dose", "AE": "ae", "CM": "cm"}[dataset] + "-after-death"}


def test_a_dose_before_consent_unless_the_study_says_ex_holds_earlier_doses() -> None:
    ex = pl.DataFrame(
        {"USUBJID": ["A", "B", "B"], "EXSTDTC": ["2014-03-10", "2014-03-09", "2014-03"]}
    )
    sdtm = _sdtm(EX=ex)
    f = next(f for f in timeline_findings(sdtm) if f.check == "dose-before-consent")
    # 2014-03-10 is the consent day: fine; 03-09 the day before; "2014-03" may be after.
    assert (f.severity, f.dataset, f.variable, f.rows) == ("warning", "EX", "EXSTDTC", (2,))
    assert f.found == "1 records: B 2014-03-09 (consent 2014-03-10)"
    mm024 = load_study("mm024")
    assert mm024.treatments.doses_before_consent  # the parent trial's doses are in EX
    assert timeline_findings(sdtm, mm024) == []
    alone = dataclasses.replace(
        mm024, treatments=dataclasses.replace(mm024.treatments, doses_before_consent=False)
    )
    assert [f.check for f in timeline_findings(sdtm, alone)] == ["dose-before-consent"]
    # Without a consent date there is nothing to compare.
    no_consent = {**sdtm, "DM": Dataset.from_frame("DM", DM.drop("RFICDTC"))}
    assert timeline_findings(no_consent) == []


def test_input_findings_include_the_timeline_and_derive_all_passes_the_study() -> None:
    from eap.derive import derive_all

    ex = pl.DataFrame(
        {
            "USUBJID": ["A"],
            "EXTRT": ["LENALIDOMIDE"],
            "EXDOSE": [25.0],
            "EXSTDTC": ["2014-03-09"],
            "EXENDTC": ["2014-03-29"],
        }
    )
    dm = DM.with_columns(
        pl.lit("X").alias("STUDYID"), pl.lit("A").alias("ARM"), pl.lit("A").alias("ACTARM")
    )
    sdtm = {"DM": Dataset.from_frame("DM", dm), "EX": Dataset.from_frame("EX", ex)}
    assert [f.check for f in input_findings(sdtm)] == ["dose-before-consent"]
    pilot = load_study("cdisc-pilot")
    assert [f.check for f in derive_all(sdtm, study=pilot).findings] == ["dose-before-consent"]
    # A study file saying EX holds earlier doses: derive_all reports none.
    rollover = dataclasses.replace(
        pilot, treatments=dataclasses.replace(pilot.treatments, doses_before_consent=True)
    )
    assert derive_all(sdtm, study=rollover).findings == ()


@pytest.mark.parametrize(("n", "tail"), [(3, ""), (4, "; 1 more")])
def test_a_finding_shows_three_examples_then_how_many_more(n: int, tail: str) -> None:
    from eap.derive.checks import _examples

    hits = pl.DataFrame(
        {"USUBJID": [f"S{i}" for i in range(1, n + 1)], "AESTDTC": ["2014-02-01"] * n}
    ).with_columns(pl.lit("2014-01-01").alias("DTHDTC"))
    text = _examples(hits, "AESTDTC", "DTHDTC", "death")
    shown = "; ".join(f"S{i} 2014-02-01 (death 2014-01-01)" for i in (1, 2, 3))
    assert text == f"{n} records: {shown}{tail}"

"""Timeline rules across SDTM domains: each rule on both sides of its date (the day
itself is allowed, the day beyond is a finding), from small hand-built frames."""

from __future__ import annotations

import random
from dataclasses import replace

import polars as pl
import pytest

from eap.datasets.model import Dataset
from eap.datasets.timeline import TimelineRules, check_timelines, rules_for
from eap.datasets.validate import validate_datasets, validate_folder
from tests.conftest import PILOT

SUBJ = "S-001"
GENERIC = TimelineRules()
MM024 = TimelineRules(
    progression="PD",
    clinical_progression="DSTERM == 'CLINICAL PROGRESSION'",
    reduced_drug="LENALIDOMIDE",
    reduce_grades=(3, 4),
)


def _ds(name: str, rows: list[dict[str, object]]) -> Dataset:
    frame = pl.DataFrame(rows, infer_schema_length=None)
    return Dataset.from_frame(name, frame)


def _dm(**extra: object) -> Dataset:
    row: dict[str, object] = {"STUDYID": "X-1", "USUBJID": SUBJ}
    row.update(extra)
    return _ds("DM", [row])


def _disposition(decod: str, date: str, term: str | None = None) -> dict[str, object]:
    return {
        "USUBJID": SUBJ,
        "DSTERM": term or decod,
        "DSDECOD": decod,
        "DSCAT": "DISPOSITION EVENT",
        "EPOCH": "TREATMENT",
        "DSSTDTC": date,
    }


def _checks(datasets: dict[str, Dataset], rules: TimelineRules = GENERIC) -> list[str]:
    return [f.check for f in check_timelines(datasets, rules)]


# --- (a) progression documented on or before a stop for progression ------------


@pytest.mark.parametrize(
    ("pd_date", "expected"),
    [("2012-07-28", []), ("2012-07-27", []), ("2012-07-29", ["progression-not-documented"])],
)
def test_stop_for_progression_needs_a_progression_on_or_before_it(
    pd_date: str, expected: list[str]
) -> None:
    data = {
        "DM": _dm(),
        "DS": _ds("DS", [_disposition("PROGRESSIVE DISEASE", "2012-07-28")]),
        "RS": _ds("RS", [{"USUBJID": SUBJ, "RSSTRESC": "PD", "RSDTC": pd_date}]),
    }
    assert _checks(data) == expected


def test_stop_for_progression_without_any_progression_names_the_row_and_dates() -> None:
    data = {
        "DM": _dm(),
        "DS": _ds(
            "DS",
            [
                _disposition("INFORMED CONSENT OBTAINED", "2011-01-01"),
                _disposition("PROGRESSIVE DISEASE", "2012-07-28"),
            ],
        ),
        "RS": _ds("RS", [{"USUBJID": SUBJ, "RSSTRESC": "PR", "RSDTC": "2012-07-01"}]),
    }
    (finding,) = check_timelines(data, GENERIC)
    assert (finding.severity, finding.dataset, finding.rows) == ("warning", "DS", (2,))
    assert SUBJ in finding.message and "2012-07-28" in finding.message
    assert finding.found == "first progression missing"


def test_clinical_progression_needs_no_response_record() -> None:
    data = {
        "DM": _dm(),
        "DS": _ds(
            "DS",
            [_disposition("PROGRESSIVE DISEASE", "2012-07-28", term="CLINICAL PROGRESSION")],
        ),
        "RS": _ds("RS", [{"USUBJID": SUBJ, "RSSTRESC": "SD", "RSDTC": "2012-07-01"}]),
    }
    assert _checks(data, MM024) == []
    # Without the study's filter a clinical stop is like any other: it needs its record.
    assert _checks(data) == ["progression-not-documented"]
    # A filter on a variable DS lacks selects no stop.
    absent = TimelineRules(clinical_progression="DSREASND == 'CLINICAL'")
    assert _checks(data, absent) == ["progression-not-documented"]


def test_a_stop_for_progression_outside_the_treatment_epoch_is_not_this_rule() -> None:
    row = _disposition("PROGRESSIVE DISEASE", "2012-07-28")
    row["EPOCH"] = "FOLLOW-UP"
    data = {"DM": _dm(), "DS": _ds("DS", [row]), "RS": _ds("RS", [_rs("SD", "2012-07-01")])}
    assert _checks(data) == []


def test_the_studys_progression_code_is_used() -> None:
    data = {
        "DM": _dm(),
        "DS": _ds("DS", [_disposition("PROGRESSIVE DISEASE", "2012-07-28")]),
        "RS": _ds("RS", [_rs("PROG", "2012-07-20")]),
    }
    assert _checks(data) == ["progression-not-documented"]
    assert _checks(data, TimelineRules(progression="PROG")) == []


def _rs(value: str, date: str) -> dict[str, object]:
    return {"USUBJID": SUBJ, "RSSTRESC": value, "RSDTC": date}


# --- (b) no record after death ----------------------------------------------------


@pytest.mark.parametrize(
    ("visit", "expected"), [("2013-01-14", []), ("2013-01-15", ["record-after-death"])]
)
def test_no_visit_after_death(visit: str, expected: list[str]) -> None:
    data = {
        "DM": _dm(DTHDTC="2013-01-14"),
        "SV": _ds("SV", [{"USUBJID": SUBJ, "SVSTDTC": visit, "SVENDTC": visit}]),
    }
    assert _checks(data) == expected


def test_death_from_ds_when_dm_has_none_and_the_death_record_itself_is_allowed() -> None:
    data = {
        "DM": _dm(DTHDTC=""),
        "DS": _ds(
            "DS",
            [
                _disposition("DEATH", "2013-01-14"),
                _disposition("COMPLETED", "2013-01-16"),
            ],
        ),
        "AE": _ds("AE", [{"USUBJID": SUBJ, "AESTDTC": "2013-01-15", "AEENDTC": None}]),
    }
    findings = check_timelines(data, GENERIC)
    assert sorted((f.check, f.dataset, f.rows) for f in findings) == [
        ("record-after-death", "AE", (1,)),
        ("record-after-death", "DS", (2,)),
    ]
    ae = next(f for f in findings if f.dataset == "AE")
    assert ae.found == "first date after it: 2013-01-15"
    assert "2013-01-14" in ae.expected  # type: ignore[operator]


def test_an_ae_ending_on_the_day_of_death_is_no_finding() -> None:
    data = {
        "DM": _dm(DTHDTC="2013-01-14"),
        "AE": _ds("AE", [{"USUBJID": SUBJ, "AESTDTC": "2013-01-10", "AEENDTC": "2013-01-14"}]),
    }
    assert _checks(data) == []


# --- (c) a stop for death not before the fatal AE ----------------------------------


@pytest.mark.parametrize(
    ("stop", "expected"),
    [
        ("2012-10-08", []),
        ("2012-10-09", []),
        ("2012-10-07", ["death-stop-before-fatal-ae"]),
    ],
)
def test_stop_for_death_on_or_after_the_fatal_ae_start(stop: str, expected: list[str]) -> None:
    data = {
        "DM": _dm(DTHDTC="2012-10-12"),
        "DS": _ds("DS", [_disposition("DEATH", stop)]),
        "AE": _ds(
            "AE",
            [
                {"USUBJID": SUBJ, "AESTDTC": "2012-10-08", "AEOUT": "FATAL", "AESDTH": "Y"},
                {"USUBJID": SUBJ, "AESTDTC": "2012-10-11", "AEOUT": "RECOVERED/RESOLVED"},
            ],
        ),
    }
    assert _checks(data) == expected


def test_fatal_ae_known_by_aesdth_alone() -> None:
    data = {
        "DM": _dm(DTHDTC="2012-10-12"),
        "DS": _ds("DS", [_disposition("DEATH", "2012-10-07")]),
        "AE": _ds("AE", [{"USUBJID": SUBJ, "AESTDTC": "2012-10-08", "AESDTH": "Y"}]),
    }
    assert _checks(data) == ["death-stop-before-fatal-ae"]


# --- (d) no contact after loss to follow-up ---------------------------------------


@pytest.mark.parametrize(
    ("visit", "expected"), [("2012-10-26", []), ("2012-10-27", ["contact-after-lost"])]
)
def test_no_visit_after_loss_to_follow_up(visit: str, expected: list[str]) -> None:
    data = {
        "DM": _dm(),
        "DS": _ds("DS", [_disposition("LOST TO FOLLOW-UP", "2012-10-26")]),
        "SV": _ds("SV", [{"USUBJID": SUBJ, "SVSTDTC": visit}]),
        "RS": _ds("RS", [_rs("SD", "2012-10-20")]),
    }
    assert _checks(data) == expected


def test_a_death_after_loss_to_follow_up_is_no_contact() -> None:
    data = {
        "DM": _dm(DTHDTC="2013-05-01"),
        "DS": _ds(
            "DS",
            [_disposition("LOST TO FOLLOW-UP", "2012-10-26"), _disposition("DEATH", "2013-05-01")],
        ),
    }
    assert _checks(data) == []


# --- (e) reference exposure dates ---------------------------------------------------


def _ex(rows: list[tuple[str, float, str, str]]) -> Dataset:
    return _ds(
        "EX",
        [
            {"USUBJID": SUBJ, "EXTRT": trt, "EXDOSE": dose, "EXSTDTC": st, "EXENDTC": en}
            for trt, dose, st, en in rows
        ],
    )


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        ("2011-01-05", "2011-03-20", []),
        ("2011-01-06", "2011-03-20", ["reference-exposure-dates"]),
        ("2011-01-05", "2011-03-19", ["reference-exposure-dates"]),
        ("2011-01-05", "2011-03-21", ["reference-exposure-dates"]),
    ],
)
def test_rfxstdtc_and_rfxendtc_are_the_first_and_last_ex_dates(
    first: str, last: str, expected: list[str]
) -> None:
    ex = _ex(
        [
            ("LENALIDOMIDE", 25.0, "2011-01-05", "2011-01-25"),
            ("DEXAMETHASONE", 40.0, "2011-01-05", "2011-01-26"),
            ("LENALIDOMIDE", 25.0, "2011-03-01", "2011-03-19"),
            # dexamethasone on day 22: the last dose of all is the day after lenalidomide's
            ("DEXAMETHASONE", 40.0, "2011-03-20", "2011-03-20"),
        ]
    )
    data = {"DM": _dm(RFXSTDTC=first, RFXENDTC=last), "EX": ex}
    findings = check_timelines(data, GENERIC)
    assert [f.check for f in findings] == expected
    for f in findings:
        assert f.dataset == "DM" and f.rows == (1,)


def test_a_partial_rfxendtc_is_left_to_the_iso8601_check() -> None:
    ex = _ex([("LENALIDOMIDE", 25.0, "2011-01-05", "2011-01-25")])
    data = {"DM": _dm(RFXSTDTC="2011-01-05", RFXENDTC="2011-01"), "EX": ex}
    assert _checks(data) == []


def test_missing_rfxendtc_for_a_subject_with_doses_is_a_finding() -> None:
    ex = _ex([("LENALIDOMIDE", 25.0, "2011-01-05", "2011-01-25")])
    data = {"DM": _dm(RFXSTDTC="2011-01-05", RFXENDTC=None), "EX": ex}
    (finding,) = check_timelines(data, GENERIC)
    assert finding.found == "RFXENDTC=missing"
    assert finding.expected == "RFXENDTC=2011-01-25 (the last dose in EX)"


# --- (f) reductions follow a reducing AE of a reducing grade -------------------------


def _ae_reduced(start: str, grade: str, acn: str = "DOSE REDUCED") -> dict[str, object]:
    return {"USUBJID": SUBJ, "AESTDTC": start, "AETOXGR": grade, "AEACN": acn}


def _reduction_data(ae_rows: list[dict[str, object]]) -> dict[str, Dataset]:
    ex = _ex(
        [
            ("LENALIDOMIDE", 25.0, "2011-01-05", "2011-01-25"),
            ("DEXAMETHASONE", 40.0, "2011-01-05", "2011-01-26"),
            ("LENALIDOMIDE", 20.0, "2011-02-02", "2011-02-22"),
            ("DEXAMETHASONE", 40.0, "2011-02-02", "2011-02-23"),
        ]
    )
    return {
        "DM": _dm(RFXSTDTC="2011-01-05", RFXENDTC="2011-02-23"),
        "EX": ex,
        "AE": _ds("AE", ae_rows),
    }


@pytest.mark.parametrize(
    ("grade", "expected"),
    [("3", []), ("4", []), ("2", ["reduction-grade"]), ("5", ["reduction-grade"])],
)
def test_a_reducing_ae_has_a_grade_the_protocol_reduces_for(
    grade: str, expected: list[str]
) -> None:
    data = _reduction_data([_ae_reduced("2011-01-25", grade)])
    assert _checks(data, MM024) == expected


def test_without_protocol_grades_any_grade_may_reduce() -> None:
    data = _reduction_data([_ae_reduced("2011-01-25", "2")])
    assert _checks(data, GENERIC) == []


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ("2011-02-01", []),
        # The AE began on the day of the first lower dose: on or before it.
        ("2011-02-02", []),
        ("2011-02-03", ["reduction-without-ae"]),
    ],
)
def test_a_dose_decrease_follows_a_reducing_ae(start: str, expected: list[str]) -> None:
    data = _reduction_data([_ae_reduced(start, "3")])
    assert _checks(data, MM024) == expected


def test_a_decrease_after_an_ae_that_did_not_reduce_is_a_finding() -> None:
    data = _reduction_data([_ae_reduced("2011-01-20", "3", acn="DRUG INTERRUPTED")])
    findings = check_timelines(data, MM024)
    assert [(f.check, f.dataset, f.rows) for f in findings] == [
        ("reduction-without-ae", "EX", (3,))
    ]
    assert findings[0].found == "none"


# --- (g) after a reducing AE the next dose is lower ----------------------------------


def test_next_dose_after_a_reducing_ae_at_the_same_level_is_a_finding() -> None:
    ex = _ex(
        [
            ("LENALIDOMIDE", 25.0, "2011-01-05", "2011-01-25"),
            ("LENALIDOMIDE", 25.0, "2011-02-02", "2011-02-22"),
            ("LENALIDOMIDE", 20.0, "2011-03-02", "2011-03-22"),
        ]
    )
    base = {"DM": _dm(RFXSTDTC="2011-01-05", RFXENDTC="2011-03-22"), "EX": ex}
    # AE on day 21 of cycle 1: a new cycle at 25 mg comes before the reduction.
    early = {**base, "AE": _ds("AE", [_ae_reduced("2011-01-25", "4")])}
    findings = check_timelines(early, MM024)
    assert [f.check for f in findings] == ["reduced-ae-next-dose"]
    assert findings[0].found == "EXDOSE=25 on 2011-02-02"
    # AE in cycle 2: the next record is the reduced one.
    late = {**base, "AE": _ds("AE", [_ae_reduced("2011-02-02", "4")])}
    assert _checks(late, MM024) == []


def test_generic_rule_accepts_a_lower_next_dose_of_any_treatment() -> None:
    data = _reduction_data([_ae_reduced("2011-01-26", "2")])
    assert _checks(data, GENERIC) == []


def test_an_unrecorded_aeacn_leaves_the_reduction_rules_out() -> None:
    data = _reduction_data([_ae_reduced("2011-03-01", "2", acn="")])
    assert _checks(data, MM024) == []


# --- the study's rules, skipping and wiring ---------------------------------------


def test_mm024_rules_come_from_its_study_and_protocol_files() -> None:
    """study.toml: progression "PD"; mm024.toml: LENALIDOMIDE reduced for grade 3-4."""
    dm = _ds("DM", [{"STUDYID": "MM-024", "USUBJID": SUBJ}])
    assert rules_for({"DM": dm}) == MM024
    assert rules_for({"DM": _dm()}) == GENERIC
    assert rules_for({}) == GENERIC


def test_domains_or_variables_absent_give_no_finding_and_no_error() -> None:
    ds = _ds("DS", [_disposition("PROGRESSIVE DISEASE", "2012-07-28")])
    assert _checks({"DS": ds}) == []
    no_date = _ds("RS", [{"USUBJID": SUBJ, "RSSTRESC": "PD"}])
    assert _checks({"DS": ds, "RS": no_date}) == []
    assert _checks({"DM": _dm(DTHDTC="2013-01-14")}) == []
    assert _checks({"EX": _ex([("A", 1.0, "2011-01-01", "2011-01-02")])}) == []


def test_timeline_findings_are_warnings_in_validate() -> None:
    data = {
        "DM": _dm(DTHDTC="2013-01-14"),
        "SV": _ds("SV", [{"USUBJID": SUBJ, "SVSTDTC": "2013-01-20"}]),
    }
    report = validate_datasets(data)
    timeline = [f for f in report.findings if f.check == "record-after-death"]
    assert [(f.severity, f.dataset, f.rows) for f in timeline] == [("warning", "SV", (1,))]


def test_cdisc_pilot_sdtm_timeline_findings() -> None:
    """The pilot's own contradictions, read in its files: 01-710-1083 died on
    2013-08-02 (DM.DTHDTC) with an AE collected and a visit on 2013-08-03; six
    subjects' RFXENDTC is not their last EX date (e.g. 01-704-1233: 2013-04-04 in DM,
    2013-04-05 in EX; counted again with pandas.read_sas: 6 RFXENDTC, 0 RFXSTDTC).
    AEACN is never filled, so the reduction rules do not apply."""
    report = validate_folder(PILOT / "sdtm")
    timeline = [
        (f.check, f.dataset)
        for f in report.findings
        if f.check in {"record-after-death", "reference-exposure-dates", "reduction-without-ae"}
    ]
    assert sorted(set(timeline)) == [
        ("record-after-death", "AE"),
        ("record-after-death", "SV"),
        ("reference-exposure-dates", "DM"),
    ]
    assert timeline.count(("reference-exposure-dates", "DM")) == 6


def _damaged_cohort() -> dict[str, Dataset]:
    """The virtual cohort (80 subjects) with a finding of every rule, each dataset's
    records shuffled so that no file is in USUBJID order: EX doses moved to 2016
    (after death, a last EX date that is not RFXENDTC) or halved (a decrease without
    an AE), AEs marked DOSE REDUCED at grade 1, half the progressions taken out of RS,
    DS dates moved to 2011 and some made LOST TO FOLLOW-UP, RFXENDTC moved."""
    from eap.simulate import simulate

    rng = random.Random(5)

    def some(n: int, share: float) -> pl.Series:
        return pl.Series([rng.random() < share for _ in range(n)])

    out: dict[str, Dataset] = {}
    for name, ds in simulate(2014, 1).items():
        f, n = ds.frame, ds.n_rows
        if name == "EX":
            moved, halved = some(n, 0.02), some(n, 0.02)
            f = f.with_columns(
                pl.when(moved).then(pl.lit("2016-01-01")).otherwise("EXSTDTC").alias("EXSTDTC"),
                pl.when(moved)
                .then(pl.col("EXDOSE") * 2)
                .when(halved)
                .then(pl.col("EXDOSE") / 2)
                .otherwise("EXDOSE")
                .alias("EXDOSE"),
            )
        elif name == "AE":
            reduced = some(n, 0.1)
            f = f.with_columns(
                pl.when(reduced).then(pl.lit("DOSE REDUCED")).otherwise("AEACN").alias("AEACN"),
                pl.when(reduced).then(pl.lit("1")).otherwise("AETOXGR").alias("AETOXGR"),
            )
        elif name == "RS":
            f = f.filter(~(some(n, 0.5) & (pl.col("RSSTRESC") == "PD")))
        elif name == "DS":
            moved, lost = some(n, 0.3), some(n, 0.1)
            f = f.with_columns(
                pl.when(moved | lost)
                .then(pl.lit("2011-01-01"))
                .otherwise("DSSTDTC")
                .alias("DSSTDTC"),
                pl.when(lost)
                .then(pl.lit("LOST TO FOLLOW-UP"))
                .otherwise("DSDECOD")
                .alias("DSDECOD"),
            )
        elif name == "DM":
            moved = some(n, 0.2)
            f = f.with_columns(
                pl.when(moved).then(pl.lit("2013-02-03")).otherwise("RFXENDTC").alias("RFXENDTC")
            )
        out[name] = replace(ds, frame=f.sample(fraction=1.0, shuffle=True, seed=3))
    return out


def test_rules_run_seven_subjects_at_a_time_find_what_they_find_run_whole() -> None:
    data = _damaged_cohort()
    whole = check_timelines(data)
    assert {f.check for f in whole} == {  # every rule of the module's table
        "progression-not-documented",
        "record-after-death",
        "death-stop-before-fatal-ae",
        "contact-after-lost",
        "reference-exposure-dates",
        "reduction-grade",
        "reduction-without-ae",
        "reduced-ae-next-dose",
    }
    assert check_timelines(data, batch_subjects=7) == whole  # rows, order and text
    # The order: each rule's findings by dataset, then first row.
    for check in {f.check for f in whole}:
        mine = [(list(data).index(f.dataset), f.rows[0]) for f in whole if f.check == check]
        assert mine == sorted(mine)

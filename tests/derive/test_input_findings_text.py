"""The findings of eap.derive.inputs in full: severity, check, dataset, message, the
rows and values they list. The expected texts are those of docs/datasets.md's finding
table and the module docstring; every count is worked out by hand."""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from eap.datasets.model import Dataset
from eap.datasets.validate import Finding
from eap.derive.inputs import derive_findings

UNUSABLE_MESSAGE = (
    "AE start dates that are neither a complete nor a partial ISO 8601 date: not imputed, "
    "so ADAE has no ASTDT for them and does not count them as treatment-emergent"
)


def _sdtm(**frames: pl.DataFrame) -> dict[str, Dataset]:
    return {name: Dataset.from_frame(name, frame) for name, frame in frames.items()}


def _ae(starts: list[str]) -> dict[str, Dataset]:
    n = len(starts)
    return _sdtm(
        DM=pl.DataFrame({"USUBJID": ["A"]}),
        AE=pl.DataFrame({"USUBJID": ["A"] * n, "AESEQ": list(range(1, n + 1)), "AESTDTC": starts}),
    )


def test_five_unusable_start_dates_are_all_shown() -> None:
    starts = ["05OCT2011", "2011-13-45", "2014-02-30", "--10-05", "2011-00"]
    assert derive_findings(_ae(starts)) == [
        Finding(
            "error",
            "ae-start-unusable",
            "AE",
            UNUSABLE_MESSAGE,
            variable="AESTDTC",
            rows=(1, 2, 3, 4, 5),
            expected="YYYY-MM-DD, or a partial date YYYY-MM or YYYY",
            found="'05OCT2011', '2011-13-45', '2014-02-30', '--10-05', '2011-00'",
        )
    ]


def test_six_unusable_start_dates_show_five_and_say_one_more() -> None:
    starts = ["05OCT2011", "2011-13-45", "2014-02-30", "--10-05", "2011-00", "2011-13"]
    (finding,) = derive_findings(_ae(starts))
    assert finding.rows == (1, 2, 3, 4, 5, 6)
    assert (
        finding.found == "'05OCT2011', '2011-13-45', '2014-02-30', '--10-05', '2011-00' and 1 more"
    )


def test_a_variable_the_derivations_read_is_named_when_absent() -> None:
    sdtm = _sdtm(
        DM=pl.DataFrame({"USUBJID": ["A"]}),
        EX=pl.DataFrame({"USUBJID": ["A"], "EXDOSE": [25.0], "EXSTDTC": ["2014-01-01"]}),
    )
    assert derive_findings(sdtm) == [
        Finding(
            "error",
            "derive-needs-variable",
            "EX",
            "EX has no EXENDTC, which the derivations read",
            variable="EXENDTC",
            expected="EXENDTC in EX (see docs/derivations.md)",
            found="no such column",
        )
    ]


def test_a_numeric_usubjid_is_read_as_text() -> None:
    # AE's USUBJID written as the number 1, DM's as the text "1": the same subject, so
    # no finding (and no failure comparing a number with text).
    sdtm = _sdtm(
        DM=pl.DataFrame({"USUBJID": ["1"]}),
        AE=pl.DataFrame({"USUBJID": [1], "AESTDTC": ["2014-01-01"]}),
    )
    assert derive_findings(sdtm) == []


def test_checks_that_cannot_read_a_dataset_are_one_error_finding() -> None:
    # A consent date column of lists (only possible by building a Dataset by hand):
    # the dose-before-consent check cannot read it as text.
    dm = Dataset.from_frame("DM", pl.DataFrame({"USUBJID": ["A"], "RFICDTC": ["2014-01-01"]}))
    dm = replace(dm, frame=pl.DataFrame({"USUBJID": ["A"], "RFICDTC": [[1]]}))
    ex = Dataset.from_frame("EX", pl.DataFrame({"USUBJID": ["A"], "EXSTDTC": ["2014-01-02"]}))
    (finding,) = [
        f for f in derive_findings({"DM": dm, "EX": ex}) if f.check != "derive-needs-variable"
    ]
    assert (finding.severity, finding.check, finding.dataset) == (
        "error",
        "derive-checks-failed",
        "DM, EX",
    )
    assert finding.message.startswith("the derivations' input checks cannot read these datasets: ")
    assert finding.expected == "the variables the specification declares, of their types"

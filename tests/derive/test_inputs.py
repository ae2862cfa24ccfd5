"""AE start dates sorted by what they are: complete, partial (imputed), or unusable."""

from __future__ import annotations

import datetime as dt

import narwhals as nw
import polars as pl
import pytest

from eap.datasets.model import Dataset
from eap.derive import derive_all
from eap.derive.adae import impute_end, impute_start, with_date_parts
from eap.derive.inputs import ae_start_dates, derive_findings
from eap.engine.frames import collect
from eap.gate import check_input

D = dt.date
# value -> (partial, unusable)
CASES = {
    "2011-10-05": (False, False),  # complete
    "2012-02-29": (False, False),  # complete: 2012 is a leap year
    "2014-02-29": (False, True),  # 2014 is not: no such day
    "2011-12": (True, False),  # month 12: partial
    "2011-13": (False, True),  # month 13: no such month
    "2011-01": (True, False),
    "2011-00": (False, True),
    "2011": (True, False),
    "05OCT2011": (False, True),  # SAS DATE9. text, not ISO 8601 (9 characters)
    "2011-13-45": (False, True),
    "--10-05": (False, True),  # valid ISO 8601 with an unknown year: nothing to impute
}


def test_each_start_date_is_complete_partial_or_unusable() -> None:
    ae = pl.DataFrame({"AESTDTC": [*CASES, None]})
    partial, unusable = ae_start_dates(ae)
    got = dict(zip(CASES, zip(partial[:-1], unusable[:-1], strict=True), strict=True))
    assert got == CASES
    assert (partial[-1], unusable[-1]) == (False, False)  # missing: a finding of its own


def _sdtm(starts: list[str | None]) -> dict[str, Dataset]:
    n = len(starts)
    return {
        "DM": Dataset.from_frame("DM", pl.DataFrame({"USUBJID": ["A"]})),
        "AE": Dataset.from_frame(
            "AE",
            pl.DataFrame({"USUBJID": ["A"] * n, "AESEQ": list(range(1, n + 1)), "AESTDTC": starts}),
        ),
    }


def test_05oct2011_is_not_called_a_partial_date_imputed() -> None:
    findings = derive_findings(_sdtm(["05OCT2011", "2011-10", "2011", "2011-10-05", "2011-13-45"]))
    by_check = {f.check: f for f in findings}
    assert by_check["ae-start-partial"].rows == (2, 3)
    assert by_check["ae-start-partial"].found == "2 records"
    unusable = by_check["ae-start-unusable"]
    assert (unusable.severity, unusable.rows) == ("error", (1, 5))
    assert unusable.found == "'05OCT2011', '2011-13-45'"


def test_no_partial_finding_when_every_date_is_complete_or_unusable() -> None:
    checks = [f.check for f in derive_findings(_sdtm(["2011-10-05", "05OCT2011"]))]
    assert checks == ["ae-start-unusable"]
    assert derive_findings(_sdtm(["2011-10-05"])) == []


def test_only_valid_partial_dates_are_imputed_with_a_flag() -> None:
    frame = pl.DataFrame(
        {
            "D": ["2011-10", "2011", "05OCT2011", "2011-13-45", "2014-02-30", "2011-13"],
            "T": [D(2011, 10, 3)] * 6,
        }
    )
    start, start_flag = impute_start("_P", nw.col("T"))
    end, end_flag = impute_end("_P", nw.lit(None, dtype=nw.Date))
    parts = with_date_parts(nw.from_native(frame.lazy()), "D", "_P")
    got = collect(
        parts.select(start.alias("S"), start_flag.alias("SF"), end.alias("E"), end_flag.alias("EF"))
    )
    assert got.rows() == [
        # the first dose is in October 2011: the start is the first dose (2011-10-03)
        (D(2011, 10, 3), "D", D(2011, 10, 31), "D"),
        (D(2011, 10, 3), "M", D(2011, 12, 31), "M"),
        (None, None, None, None),
        (None, None, None, None),
        (None, None, None, None),
        (None, None, None, None),
    ]


def test_the_derivation_and_the_gate_agree_on_a_bad_start_date() -> None:
    from eap.simulate import simulate

    sdtm = simulate(2014)
    ae = sdtm["AE"]
    bad = ae.frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.lit("05OCT2011"))
        .otherwise(pl.col("AESTDTC"))
        .alias("AESTDTC")
    )
    broken = {**sdtm, "AE": Dataset.from_frame("AE", bad, label=ae.label)}
    derived = derive_all(broken, D(2014, 11, 5))
    assert [f.check for f in derived.findings] == ["ae-start-unusable"]
    first = derived.datasets["ADAE"].frame.filter(pl.col("AESEQ") == 1).row(0, named=True)
    assert first["USUBJID"] == "MM024-01-0001"
    assert (first["ASTDT"], first["ASTDTF"], first["TRTEMFL"]) == (None, None, None)
    checked = check_input(broken, sdtm=True)
    # The validator names the record (iso8601); the derivation's finding says the same
    # rows, so the gate keeps one and says what the derivation does with them.
    assert [(f.check, f.rows) for f in checked.report.findings] == [("iso8601", (1,))]
    assert checked.stops
    allowed = check_input(broken, sdtm=True, allow_invalid=True)
    (issue,) = allowed.issues
    assert issue.records == 1 and issue.listed[0].value == "05OCT2011"
    assert "not count them as treatment-emergent" in issue.action


@pytest.mark.parametrize("allow", [False, True])
def test_records_of_subjects_absent_from_dm_are_left_out_only_when_allowed(allow: bool) -> None:
    sdtm = _sdtm(["2011-10-05", "2011-10-06", "2011-10-07"])
    orphan_id = pl.when(pl.col("AESEQ") == 2).then(pl.lit("Z")).otherwise(pl.col("USUBJID"))
    ae = sdtm["AE"].frame.with_columns(orphan_id.alias("USUBJID"))
    sdtm["AE"] = Dataset.from_frame("AE", ae)
    checked = check_input(sdtm, sdtm=False, allow_invalid=allow)
    assert checked.datasets["AE"].n_rows == 3  # ADaM rules: nothing left out
    checked = check_input(sdtm, sdtm=True, allow_invalid=allow)
    if not allow:
        assert checked.stops and checked.datasets["AE"].n_rows == 3
        return
    assert checked.datasets["AE"].frame["AESEQ"].to_list() == [1, 3]
    orphan = next(i for i in checked.issues if i.finding.check == "subject-not-in-dm")
    assert orphan.records == 1 and orphan.listed[0].usubjid == "Z"
    assert orphan.action.startswith("left out")

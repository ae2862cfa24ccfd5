from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from eap.cli import app
from eap.datasets import io
from eap.datasets.model import ColumnMeta, Dataset
from eap.datasets.validate import (
    Finding,
    iso8601_problems,
    validate_datasets,
    validate_folder,
)
from tests.conftest import PILOT

runner = CliRunner()


def _dm(subjects: list[str]) -> Dataset:
    n = len(subjects)
    return Dataset.from_frame(
        "DM",
        pl.DataFrame(
            {
                "STUDYID": ["MM-024"] * n,
                "DOMAIN": ["DM"] * n,
                "USUBJID": subjects,
                "SUBJID": [s[-3:] for s in subjects],
                "SITEID": ["01"] * n,
                "SEX": ["M"] * n,
                "ARMCD": ["RD"] * n,
                "ARM": ["Lenalidomide + low-dose dexamethasone"] * n,
                "COUNTRY": ["CHN"] * n,
                "RFSTDTC": ["2011-01-05"] * n,
                "RFENDTC": ["2014-11-05"] * n,
                "RFXSTDTC": ["2011-01-05"] * n,
                "RFXENDTC": ["2014-11-05"] * n,
                "RFICDTC": ["2012-09-01"] * n,
                "RFPENDTC": ["2014-11-05"] * n,
                "DTHDTC": [None] * n,
                "DTHFL": [None] * n,
                "AGE": [59.0] * n,
                "AGEU": ["YEARS"] * n,
                "RACE": ["ASIAN"] * n,
                "ACTARMCD": ["RD"] * n,
                "ACTARM": ["Lenalidomide + low-dose dexamethasone"] * n,
            },
            schema_overrides={"DTHDTC": pl.String, "DTHFL": pl.String},
        ),
    )


def _ae(**overrides: list[object]) -> Dataset:
    cols: dict[str, list[object]] = {
        "STUDYID": ["MM-024"] * 3,
        "DOMAIN": ["AE"] * 3,
        "USUBJID": ["S-001", "S-001", "S-002"],
        "AESEQ": [1, 2, 1],
        "AETERM": ["Neutropenia", "Anemia", "Pneumonia"],
        "AEDECOD": ["Neutropenia", "Anemia", "Pneumonia"],
        "AEBODSYS": ["Blood and lymphatic system disorders"] * 2 + ["Infections and infestations"],
        "AESER": ["N", "N", "Y"],
        "AETOXGR": ["3", "2", "3"],
        "AESTDTC": ["2013-02-01", "2013-03", "2013-04-10T08:30"],
        "AEENDTC": ["2013-02-20", "2013-04-02", None],
    }
    cols.update(overrides)
    return Dataset.from_frame("AE", pl.DataFrame(cols, strict=False))


def _only(findings: tuple[Finding, ...], check: str) -> Finding:
    hits = [f for f in findings if f.check == check]
    assert len(hits) == 1, [f.check for f in findings]
    return hits[0]


def test_clean_pair_has_no_findings_beyond_absent_expected_variables() -> None:
    report = validate_datasets({"DM": _dm(["S-001", "S-002"]), "AE": _ae()})
    assert report.ok
    assert {f.check for f in report.findings} == {"missing-expected-variable"}


def test_missing_required_variable() -> None:
    ae = _ae()
    ae = Dataset.from_frame("AE", ae.frame.drop("AEDECOD"))
    f = _only(validate_datasets({"AE": ae}).findings, "missing-required-variable")
    assert (f.severity, f.dataset, f.variable) == ("error", "AE", "AEDECOD")


def test_wrong_type() -> None:
    ae = _ae(AESEQ=["1", "2", "1"])
    f = _only(validate_datasets({"AE": ae}).findings, "wrong-type")
    assert (f.variable, f.expected, f.found) == ("AESEQ", "integer", "string")


def test_fraction_in_an_integer_variable_names_its_rows() -> None:
    ae = _ae(AESEQ=[1.0, 2.5, 1.0])
    f = _only(validate_datasets({"AE": ae}).findings, "wrong-type")
    assert f.rows == (2,)


def test_duplicate_key_lists_every_row() -> None:
    ae = _ae(AESEQ=[1, 1, 1])
    f = _only(validate_datasets({"AE": ae}).findings, "duplicate-key")
    assert f.severity == "error"
    assert f.rows == (1, 2)
    assert "USUBJID='S-001'" in (f.found or "")


def test_value_outside_codelist() -> None:
    ae = _ae(AETOXGR=["3", "6", "Grade 2"], AESER=["N", "Yes", "Y"])
    findings = validate_datasets({"AE": ae}).findings
    grades = next(f for f in findings if f.check == "codelist" and f.variable == "AETOXGR")
    assert grades.rows == (2, 3)
    assert grades.expected == "1, 2, 3, 4, 5"
    assert grades.found == "'6', 'Grade 2'"
    serious = next(f for f in findings if f.check == "codelist" and f.variable == "AESER")
    assert serious.rows == (2,)


def test_numeric_codelist_cnsr() -> None:
    adtte = io.read_dataset(PILOT / "adam" / "adtte.xpt")
    frame = adtte.frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(12).otherwise(pl.col("CNSR")).alias("CNSR")
    )
    f = _only(validate_datasets({"ADTTE": adtte.with_frame(frame)}).findings, "codelist")
    assert (f.variable, f.rows, f.found) == ("CNSR", (4,), "'12'")


@pytest.mark.parametrize(
    ("value", "bad"),
    [
        ("2014-11-05", False),
        ("2014-11", False),
        ("2014", False),
        ("2014-11-05T13:45", False),
        ("2014-11-05T13:45:07", False),
        ("2014---05", False),  # SDTM: month unknown
        ("2014-02-30", True),  # no such day
        ("2014-13-01", True),
        ("05NOV2014", True),
        ("2014/11/05", True),
        ("2014-11-05T25:00", True),
        ("14-11-05", True),
    ],
)
def test_iso8601_rules(value: str, bad: bool) -> None:
    assert iso8601_problems(pl.Series([value])).to_list() == [bad]


def test_malformed_dates_are_reported_with_rows() -> None:
    ae = _ae(AESTDTC=["2013-02-01", "01/03/2013", "2013-02-30"])
    f = _only(validate_datasets({"AE": ae}).findings, "iso8601")
    assert (f.variable, f.rows) == ("AESTDTC", (2, 3))


def test_subject_missing_from_dm() -> None:
    report = validate_datasets({"DM": _dm(["S-001"]), "AE": _ae()})
    f = _only(report.findings, "subject-not-in-dm")
    assert (f.dataset, f.rows, f.found) == ("AE", (3,), "'S-002'")


def test_without_dm_the_subject_check_is_a_warning() -> None:
    f = _only(validate_datasets({"AE": _ae()}).findings, "no-subject-reference")
    assert f.severity == "warning"


def test_end_before_start_at_the_precision_both_dates_have() -> None:
    ae = _ae(
        AESTDTC=["2013-02-20", "2013-03", "2013-04-10"],
        AEENDTC=["2013-02-01", "2013-03-01", "2013-03"],
    )
    f = _only(validate_datasets({"AE": ae}).findings, "end-before-start")
    # Row 2 is undecidable (2013-03 vs 2013-03-01); rows 1 and 3 end earlier.
    assert f.rows == (1, 3)
    assert f.found == "AESTDTC=2013-02-20, AEENDTC=2013-02-01"


def test_end_before_start_on_adam_dates() -> None:
    frame = pl.DataFrame(
        {
            "USUBJID": ["A", "B"],
            "TRTSDT": [dt.date(2013, 1, 1), dt.date(2013, 1, 1)],
            "TRTEDT": [dt.date(2014, 1, 1), dt.date(2012, 12, 31)],
        }
    )
    f = _only(
        validate_datasets({"ADSL": Dataset.from_frame("ADSL", frame)}).findings, "end-before-start"
    )
    assert f.rows == (2,)


def test_unknown_dataset_is_a_warning() -> None:
    ds = Dataset.from_frame("XX", pl.DataFrame({"USUBJID": ["A"]}))
    f = _only(validate_datasets({"XX": ds}).findings, "unknown-dataset")
    assert f.severity == "warning"


def test_pilot_adam_is_valid_without_warnings() -> None:
    report = validate_folder(PILOT / "adam")
    assert report.datasets == ("ADAE", "ADSL", "ADTTE")
    assert report.findings == ()


PILOT_SDTM = (
    "AE", "CM", "DM", "DS", "EX", "MH", "RELREC", "SC", "SE", "SUPPAE", "SUPPDM", "SUPPDS",
    "SV", "TA", "TE", "TI", "TS", "TV",
)  # fmt: skip
UNSPECIFIED = ("RELREC", "SC", "SE", "SUPPDM", "SUPPDS", "TA", "TE", "TI", "TS", "TV")


def test_pilot_sdtm_findings_are_the_known_real_ones() -> None:
    # The pilot SDTM as published, including the Windows-1252 ts.xpt.
    report = validate_folder(PILOT / "sdtm")
    assert report.datasets == PILOT_SDTM
    # The pilot's SV has two unscheduled visits of subject 01-711-1143 both numbered 9.2:
    # VISITNUM must identify a visit within a subject (SDTMIG SV keys), so this is a true error.
    error = _only(report.errors, "duplicate-key")
    assert (error.dataset, error.rows) == ("SV", (2555, 2556))
    assert error.file is not None and error.file.endswith("sv.xpt")
    # Trial design, SE, SC, RELREC, SUPPDM and SUPPDS have no specification in eap:
    # a warning each, and only their ISO 8601 dates are checked.
    assert [(w.check, w.dataset) for w in report.warnings] == [
        ("unknown-dataset", name) for name in UNSPECIFIED
    ] + PILOT_TIMELINE


# The pilot's timeline contradictions (tests/datasets/test_timeline.py): 01-710-1083
# died on 2013-08-02 with an AE and a visit on 2013-08-03; six RFXENDTC are not the
# last EX date (counted with pandas.read_sas).
PILOT_TIMELINE = [("record-after-death", "AE"), ("record-after-death", "SV")] + [
    ("reference-exposure-dates", "DM")
] * 6


def test_unreadable_file_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "dm.xpt").write_text("not a transport file")
    io.write_dataset(_ae(), tmp_path / "ae.parquet")
    report = validate_folder(tmp_path)
    f = _only(report.findings, "unreadable-file")
    assert "the content looks like CSV text" in f.message


def test_cli_validate_exit_status_and_json(tmp_path: Path) -> None:
    ok = runner.invoke(app, ["validate", str(PILOT / "adam")])
    assert ok.exit_code == 0
    assert "0 errors, 0 warnings" in ok.stdout
    bad = runner.invoke(app, ["validate", str(PILOT / "sdtm"), "--json"])
    assert bad.exit_code == 1
    doc = json.loads(bad.stdout)
    assert doc["errors"] == 1 and doc["warnings"] == len(UNSPECIFIED) + len(PILOT_TIMELINE)
    (error,) = [f for f in doc["findings"] if f["severity"] == "error"]
    assert (error["dataset"], error["rows"]) == ("SV", [2555, 2556])


def test_cli_convert_and_info(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["convert", str(PILOT / "adam" / "adtte.xpt"), "--to", "json", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.stdout
    info = runner.invoke(app, ["info", str(tmp_path / "adtte.json"), "--json"])
    meta = json.loads(info.stdout)
    assert meta["rows"] == 254
    assert {
        "name": "ADT",
        "label": "Analysis Date",
        "kind": "date",
        "length": 8,
        "display_format": "DATE9.",
    } in meta["columns"]


def test_metadata_survives_in_findings_free_round_trip(tmp_path: Path) -> None:
    meta = {"AETERM": ColumnMeta("AETERM", "Reported Term for the Adverse Event", "string", 200)}
    ae = Dataset.from_frame("AE", _ae().frame, label="Adverse Events", meta=meta)
    io.write_dataset(ae, tmp_path / "ae.xpt")
    io.write_dataset(_dm(["S-001", "S-002"]), tmp_path / "dm.xpt")
    assert validate_folder(tmp_path).ok


# --- empty files, header-only files, all-missing columns ----------------------------

AE_HEADER = "STUDYID,DOMAIN,USUBJID,AESEQ,AETERM,AEDECOD,AESTDTC,AEENDTC\n"


def _checks(findings: tuple[Finding, ...]) -> list[tuple[str, str | None]]:
    return [(f.check, f.variable) for f in findings]


@pytest.mark.parametrize("header", [AE_HEADER, "USUBJID,XX,AESTDTC,AEENDTC\n", "USUBJID"])
def test_header_only_csv_is_validated_without_a_crash(tmp_path: Path, header: str) -> None:
    (tmp_path / "ae.csv").write_text(header)
    report = validate_folder(tmp_path)
    assert report.datasets == ("AE",)
    assert not [f for f in report.findings if f.check == "unreadable-file"]
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output


def test_header_only_ae_without_aestdtc_is_a_finding(tmp_path: Path) -> None:
    (tmp_path / "ae.csv").write_text("STUDYID,DOMAIN,USUBJID,AESEQ,AETERM,AEDECOD\n")
    report = validate_folder(tmp_path)
    (f,) = [f for f in report.findings if f.variable == "AESTDTC"]
    assert (f.severity, f.check, f.dataset) == ("warning", "missing-expected-variable", "AE")
    assert f.file is not None and f.file.endswith("ae.csv")
    assert f.expected == "AESTDTC (string)" and f.found == "no such column"
    result = runner.invoke(app, ["validate", str(tmp_path), "--json"])
    doc = json.loads(result.stdout)
    assert {"check": "missing-expected-variable", "variable": "AESTDTC"}.items() <= next(
        x for x in doc["findings"] if x["variable"] == "AESTDTC"
    ).items()


def test_empty_file_is_an_unreadable_file_finding(tmp_path: Path) -> None:
    (tmp_path / "ae.csv").write_bytes(b"")
    (f,) = validate_folder(tmp_path).findings
    assert f.check == "unreadable-file" and "empty" in f.message


def test_all_missing_columns_in_a_csv(tmp_path: Path) -> None:
    # AESTDTC and AEENDTC are present but empty on every row; AESEQ has no value at all.
    (tmp_path / "ae.csv").write_text(AE_HEADER + "S,AE,01-001,,HEADACHE,Headache,,\n" * 2)
    report = validate_folder(tmp_path)
    assert ("required-value-missing", "AESEQ") in _checks(report.errors)
    assert not [f for f in report.findings if f.variable and "AESTDTC" in f.variable]


def test_all_null_columns_without_a_type_are_validated(tmp_path: Path) -> None:
    # A column of nulls only (Polars dtype Null) says nothing about its type.
    nulls = pl.Series([None, None], dtype=pl.Null)
    frame = _ae().frame.head(2).with_columns(AESTDTC=nulls, AEENDTC=nulls, AESEQ=nulls)
    report = validate_datasets({"AE": Dataset.from_frame("AE", frame), "DM": _dm(["01-001"])})
    assert ("required-value-missing", "AESEQ") in _checks(report.errors)
    assert not [f for f in report.findings if f.check == "wrong-type"]
    empty = frame.clear()
    for frame_ in (empty, empty.with_columns(AESTDTC=pl.Series([], dtype=pl.Null))):
        report = validate_datasets({"AE": Dataset.from_frame("AE", frame_)})
        assert not report.errors


@pytest.mark.parametrize("kind", ["null", "string"])
def test_every_specified_dataset_empty_or_all_null(kind: str) -> None:
    from eap.datasets import specs
    from eap.datasets.model import POLARS_TYPE

    for name, spec in specs.all_specs().items():
        for rows in (0, 2):
            frame = pl.DataFrame(
                {
                    v.name: pl.Series(
                        [None] * rows, dtype=pl.Null if kind == "null" else POLARS_TYPE[v.kind]
                    )
                    for v in spec.variables
                }
            )
            reference = "DM" if spec.standard == "SDTM" else "ADSL"
            datasets = {name: Dataset.from_frame(name, frame)}
            datasets.setdefault(reference, Dataset.from_frame(reference, frame.select([])))
            validate_datasets(datasets)  # no exception


def test_a_start_that_is_no_date_is_an_iso8601_finding_not_an_order_one() -> None:
    # 2011-13-45 reads as year 2011, month 13 > 12 and would seem to end before its end
    # date in December 2011; 2011-12-13 is a real date, later than its end on 2011-12-12.
    ae = _ae(
        AESTDTC=["2011-13-45", "2011-12-13", "2011-12-12"],
        AEENDTC=["2011-12-12", "2011-12-12", "2011-12-12"],
    )
    findings = validate_datasets({"AE": ae}).findings
    assert _only(findings, "iso8601").rows == (1,)
    assert _only(findings, "end-before-start").rows == (2,)


def test_nan_and_infinite_numbers_are_errors_with_their_rows() -> None:
    dm = _dm(["S-001", "S-002", "S-003", "S-004"])
    ages = [59.0, float("nan"), float("inf"), -float("inf")]
    report = validate_datasets({"DM": dm.with_frame(dm.frame.with_columns(AGE=pl.Series(ages)))})
    f = _only(report.findings, "not-a-number")
    assert (f.severity, f.variable, f.rows) == ("error", "AGE", (2, 3, 4))
    assert f.found == "nan, inf, -inf"
    # The largest finite double and a missing age are numbers, or missing: no finding.
    fine = dm.frame.with_columns(AGE=pl.Series([59.0, 1.7976931348623157e308, None, 0.0]))
    assert not [
        x
        for x in validate_datasets({"DM": dm.with_frame(fine)}).findings
        if x.check == "not-a-number"
    ]


def test_the_run_log_beside_datasets_is_not_a_dataset(tmp_path: Path) -> None:
    io.write_dataset(_ae(), tmp_path / "ae.json")
    (tmp_path / "run_log.json").write_text('{"eap_version": "0"}', encoding="utf-8")
    (tmp_path / "other.json").write_text('{"eap_version": "0"}', encoding="utf-8")
    assert [p.name for p in io.dataset_files(tmp_path)] == ["ae.json", "other.json"]
    report = validate_folder(tmp_path)
    assert [f.dataset for f in report.findings if f.check == "unreadable-file"] == ["OTHER"]


def test_derives_censoring_table_beside_the_adam_is_not_a_dataset(tmp_path: Path) -> None:
    """`eap report --adam` on derive's folder read adtte_censoring.csv as an unknown dataset."""
    io.write_dataset(_ae(), tmp_path / "ae.json")
    (tmp_path / "adtte_censoring.csv").write_text("PARAMCD,EVNTDESC,N\nOS,DEATH,1\n")
    (tmp_path / "adtte_other.csv").write_text("PARAMCD,N\nOS,1\n")
    assert [p.name for p in io.dataset_files(tmp_path)] == ["adtte_other.csv", "ae.json"]


@pytest.mark.parametrize("piece", [1, 3, 4, 1000])
def test_date_order_in_pieces_finds_the_rows_it_finds_whole(
    piece: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eap.datasets import validate
    from eap.datasets.model import Dataset

    starts = ["2012-01-05", "2012-01", "2012", "2012-03-01", "bad", None, "2012-05-02", "2013"]
    ends = ["2012-01-04", "2011-12", "2012-06", "2012-02-28", "2011", "2010", "2012-05-02", "2012"]
    # Before its start: rows 1 (a day), 2 (a month), 4 (two days) and 8 (a year); row 5
    # is an iso8601 finding, row 6 has no start, rows 3 and 7 are in order.
    ae = Dataset.from_frame("AE", pl.DataFrame({"AESTDTC": starts, "AEENDTC": ends}))
    spec = validate.specs.get("AE")
    assert spec is not None
    monkeypatch.setattr(validate, "ORDER_ROWS", piece)
    (found,) = validate.check_date_order(ae, spec)
    assert found.rows == (1, 2, 4, 8)
    assert found.found == "AESTDTC=2012-01-05, AEENDTC=2012-01-04"

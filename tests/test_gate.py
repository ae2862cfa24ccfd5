"""The validation gate of eap derive, report, reproduce and db load (issue "Trust the input").

The case of the issue: the virtual cohort's SDTM (seed 2014) with two AE start dates
overwritten as ``05OCT2011`` (row 101, MM024-03-0009's only grade 3-4 TEAE, a grade 3
upper respiratory tract infection that started on 2011-07-01) and ``2011-13-45`` (row 102, the same
patient's next AE). Before the gate, ``eap report --sdtm`` exited 0 and Table 2 (AET04)
counted 47 patients with a grade 3-4 TEAE instead of 48, silently.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import zlib
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from eap.cli import app
from eap.datasets.io import read_dataset, write_dataset
from eap.datasets.model import Dataset
from eap.simulate import simulate
from tests.conftest import PILOT

runner = CliRunner()
BAD = {101: "05OCT2011", 102: "2011-13-45"}


def _with_column(ds: Dataset, column: str, values: dict[int, object]) -> Dataset:
    """``ds`` with the given 1-based rows of ``column`` overwritten."""
    frame = ds.frame.with_row_index("_ROW", offset=1)
    expr = pl.col(column)
    for row, value in values.items():
        expr = pl.when(pl.col("_ROW") == row).then(pl.lit(value)).otherwise(expr)
    return Dataset(
        name=ds.name,
        frame=frame.with_columns(expr.alias(column)).drop("_ROW"),
        columns=ds.columns,
        label=ds.label,
        extra=dict(ds.extra),
    )


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sdtm = tmp_path_factory.mktemp("valid") / "sdtm"
    result = runner.invoke(
        app, ["simulate", "--out", str(sdtm), "--seed", "2014", "--model", "exact"]
    )
    assert result.exit_code == 0, result.output
    return sdtm


@pytest.fixture(scope="module")
def issue_dir(cohort_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    sdtm = tmp_path_factory.mktemp("issue") / "sdtm"
    sdtm.mkdir()
    for file in cohort_dir.iterdir():
        (sdtm / file.name).write_bytes(file.read_bytes())
    ae = read_dataset(sdtm / "ae.xpt")
    assert ae.frame["AESTDTC"][100:102].to_list() == ["2011-07-01", "2011-12-12"]
    write_dataset(_with_column(ae, "AESTDTC", BAD), sdtm / "ae.xpt")
    return sdtm


def _aet04_any(out: Path) -> float:
    ard = pl.read_parquet(out / "ard.parquet")
    row = ard.filter(
        (pl.col("output") == "AET04") & (pl.col("variable") == "ANY") & (pl.col("stat_name") == "n")
    )
    assert row.height == 1
    return float(row["stat"][0])


def _pdf_text(path: Path) -> str:
    """The text of a reportlab PDF: its content streams (ASCII85 + Flate) inflated."""
    out: list[bytes] = []
    for m in re.finditer(rb"stream\r?\n(.*?)endstream", path.read_bytes(), re.S):
        data = m.group(1).strip().removesuffix(b"~>")
        try:
            out.append(zlib.decompress(base64.a85decode(data, adobe=False)))
        except ValueError:
            continue  # an image, or a stream of another kind
        except zlib.error:
            continue
    return b"".join(out).decode("latin-1")


def _flat(text: str) -> str:
    return " ".join(text.split())


def _left_behind(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# --------------------------------------------------------------------------- eap report


def test_the_valid_cohort_counts_48_patients_and_reports_no_data_issues(
    cohort_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    result = runner.invoke(
        app, ["report", "--sdtm", str(cohort_dir), "--out", str(out), "--formats", "html"]
    )
    assert result.exit_code == 0, result.output
    assert _aet04_any(out) == 48
    assert "Data issues" not in (out / "report.html").read_text(encoding="utf-8")
    assert json.loads((out / "run_log.json").read_text())["findings"] == []


def test_the_issue_stops_the_report_naming_both_records_and_writes_nothing(
    issue_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    result = runner.invoke(app, ["report", "--sdtm", str(issue_dir), "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    text = _flat(result.output)
    assert "error AE.AESTDTC rows 101, 102 iso8601" in text
    assert "found: '05OCT2011', '2011-13-45'" in text
    assert "1 errors, 0 warnings" in text
    assert "nothing was written" in text and "--allow-invalid" in text
    assert not out.exists()
    assert _left_behind(tmp_path) == []


def test_allow_invalid_goes_on_and_lists_both_records_in_the_report_and_run_log(
    issue_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    result = runner.invoke(
        app,
        [
            "report",
            "--sdtm",
            str(issue_dir),
            "--out",
            str(out),
            "--formats",
            "html,pdf",
            "--allow-invalid",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "data issues: 1 error (2 records), gone on with (--allow-invalid)" in _flat(
        result.output
    )
    # The two records have no usable start date: not treatment-emergent, so the patient's
    # only grade 3-4 TEAE is not counted (48 - 1), and the report says so.
    assert _aet04_any(out) == 47
    html = (out / "report.html").read_text(encoding="utf-8")
    section = html[html.index("<section id='data-issues'") :]
    section = section[: section.index("</section>")]
    assert "found 1 error and 0 warnings" in section
    assert "made with --allow-invalid: 2 records" in section
    assert "<td>AE</td><td>AESTDTC</td><td>101</td><td>MM024-03-0009</td><td>05OCT2011</td>" in (
        section
    )
    assert "<td>AE</td><td>AESTDTC</td><td>102</td><td>MM024-03-0009</td><td>2011-13-45</td>" in (
        section
    )
    assert "not count them as treatment-emergent" in section
    pdf = _pdf_text(out / "report.pdf")
    for text in ("Data issues", "Records \\(2\\)", "05OCT2011", "2011-13-45", "MM024-03-0009"):
        assert text in pdf, text
    log = json.loads((out / "run_log.json").read_text())
    assert log["allow_invalid"] is True
    (finding,) = log["findings"]
    assert (finding["dataset"], finding["variable"], finding["check"]) == (
        "AE",
        "AESTDTC",
        "iso8601",
    )
    assert finding["records"] == 2
    assert finding["values"] == [
        {"row": 101, "usubjid": "MM024-03-0009", "value": "05OCT2011"},
        {"row": 102, "usubjid": "MM024-03-0009", "value": "2011-13-45"},
    ]
    ae_sha = hashlib.sha256((issue_dir / "ae.xpt").read_bytes()).hexdigest()
    assert {Path(i["path"]).name: i["sha256"] for i in log["inputs"]}["ae.xpt"] == ae_sha


def test_an_adam_error_stops_the_report_too(tmp_path: Path) -> None:
    adam = tmp_path / "adam"
    adam.mkdir()
    for name in ("adsl", "adae", "adtte"):
        (adam / f"{name}.xpt").write_bytes((PILOT / "adam" / f"{name}.xpt").read_bytes())
    adsl = read_dataset(adam / "adsl.xpt")
    first = adsl.frame["USUBJID"][0]
    write_dataset(_with_column(adsl, "USUBJID", {2: first}), adam / "adsl.xpt")
    out = tmp_path / "report"
    args = ["report", "--study", "cdisc-pilot", "--adam", str(adam), "--out", str(out)]
    result = runner.invoke(app, [*args, "--formats", "html"])
    assert result.exit_code == 1, result.output
    assert "error ADSL.USUBJID rows 1, 2 duplicate-key" in _flat(result.output)
    assert not out.exists()


def test_an_unreadable_file_stops_the_run_even_with_allow_invalid(
    cohort_dir: Path, tmp_path: Path
) -> None:
    sdtm = tmp_path / "sdtm"
    sdtm.mkdir()
    for file in cohort_dir.iterdir():
        (sdtm / file.name).write_bytes(file.read_bytes())
    raw = (sdtm / "ae.xpt").read_bytes()
    (sdtm / "ae.xpt").write_bytes(raw[: len(raw) - 41])  # not a multiple of 80 bytes
    out = tmp_path / "report"
    args = ["report", "--sdtm", str(sdtm), "--out", str(out), "--allow-invalid"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    text = _flat(result.output)
    assert "unreadable-file" in text and "(1 unreadable)" in text
    assert "a file that cannot be read stops the run even with --allow-invalid" in text
    assert not out.exists()


# --------------------------------------------------------------------------- eap reproduce


def test_reproduce_stops_before_comparing(issue_dir: Path) -> None:
    result = runner.invoke(app, ["reproduce", "--sdtm", str(issue_dir)])
    assert result.exit_code == 1, result.output
    assert "error AE.AESTDTC rows 101, 102 iso8601" in _flat(result.output)
    assert "figures compared" not in result.output
    as_json = runner.invoke(app, ["reproduce", "--sdtm", str(issue_dir), "--json"])
    assert as_json.exit_code == 1
    doc = json.loads(as_json.stdout)
    assert (doc["errors"], doc["findings"][0]["rows"]) == (1, [101, 102])


# --------------------------------------------------------------------------- eap derive


def test_the_published_pilot_sdtm_stop_derive_on_the_sv_duplicate(tmp_path: Path) -> None:
    out = tmp_path / "adam"
    args = ["derive", "--study", "cdisc-pilot", str(PILOT / "sdtm"), "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    text = _flat(result.output)
    assert "error SV.USUBJID, VISITNUM rows 2555, 2556 duplicate-key" in text
    # 12 warnings of before, and the pilot's 8 real timeline contradictions
    # (tests/datasets/test_timeline.py::test_cdisc_pilot_sdtm_timeline_findings).
    assert "18 datasets checked: 1 errors, 20 warnings" in text
    assert not out.exists()
    assert _left_behind(tmp_path) == []


def test_the_pilot_with_allow_invalid_is_derived_and_the_duplicate_named(tmp_path: Path) -> None:
    out = tmp_path / "adam"
    args = ["derive", "--study", "cdisc-pilot", str(PILOT / "sdtm"), "--out", str(out)]
    result = runner.invoke(app, [*args, "--allow-invalid"])
    assert result.exit_code == 0, result.output
    text = _flat(result.output)
    assert "error SV.USUBJID, VISITNUM rows 2555, 2556 duplicate-key" in text
    assert "data issues: 1 error (2 records), gone on with (--allow-invalid)" in text
    log = json.loads((out / "run_log.json").read_text())
    dup = next(f for f in log["findings"] if f["check"] == "duplicate-key")
    assert dup["values"] == [
        {"row": 2555, "usubjid": "01-711-1143", "value": "USUBJID='01-711-1143', VISITNUM=9.2"},
        {"row": 2556, "usubjid": "01-711-1143", "value": "USUBJID='01-711-1143', VISITNUM=9.2"},
    ]
    # 26 AE start dates are partial (YYYY or YYYY-MM) and imputed: listed, and counted in
    # ADAE's ASTDTF.
    partial = next(f for f in log["findings"] if f["check"] == "ae-start-partial")
    assert partial["records"] == 26 and partial["severity"] == "warning"
    assert log["imputed"]["ADAE"]["ASTDTF"] == 26
    adsl_sha = hashlib.sha256((PILOT / "sdtm" / "dm.xpt").read_bytes()).hexdigest()
    assert {Path(i["path"]).name: i["sha256"] for i in log["inputs"]}["dm.xpt"] == adsl_sha
    assert log["study"] == "CDISCPILOT01" and log["skipped"]["ADRS"].startswith("study")
    assert sorted(log["outputs"]) == ["ADAE", "ADCM", "ADEX", "ADSL", "define.xml", "run log"]


def test_a_staged_output_folder_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    from eap.datasets.atomic import staged_folder

    out = tmp_path / "adam"
    with pytest.raises(RuntimeError), staged_folder(out) as stage:
        (stage / "adsl.xpt").write_text("half")
        raise RuntimeError("stopped")
    assert not out.exists() and _left_behind(tmp_path) == []
    out.mkdir()
    (out / "keep.txt").write_text("from before")
    with pytest.raises(RuntimeError), staged_folder(out) as stage:
        (stage / "adsl.xpt").write_text("half")
        raise RuntimeError("stopped")
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert _left_behind(tmp_path) == []
    with staged_folder(out) as stage:
        (stage / "adsl.xpt").write_text("whole")
    assert sorted(p.name for p in out.iterdir()) == ["adsl.xpt", "keep.txt"]
    assert (out / "adsl.xpt").read_text() == "whole"


# --------------------------------------------------------------------------- eap db load


def _subset(n: int) -> dict[str, Dataset]:
    """The virtual cohort restricted to its first ``n`` DM subjects."""
    sdtm = simulate(2014)
    keep = sdtm["DM"].frame["USUBJID"].head(n).implode()
    return {
        name: Dataset(
            name=ds.name,
            frame=ds.frame.filter(pl.col("USUBJID").is_in(keep)),
            columns=ds.columns,
            label=ds.label,
        )
        for name, ds in sdtm.items()
    }


def test_db_load_writes_a_run_log_beside_the_database(tmp_path: Path) -> None:
    sdtm = tmp_path / "sdtm"
    for name, ds in _subset(3).items():
        write_dataset(ds, sdtm / f"{name.lower()}.csv")
    db = tmp_path / "db" / "study.db"
    db.parent.mkdir()
    result = runner.invoke(app, ["db", "load", str(sdtm), "--db", f"sqlite:///{db}"])
    assert result.exit_code == 0, result.output
    (log_file,) = sorted(db.parent.glob("study.db.load-*.json"))
    log = json.loads(log_file.read_text())
    dm = sdtm / "dm.csv"
    listed = {Path(i["path"]).name: i for i in log["inputs"]}
    assert listed["dm.csv"]["sha256"] == hashlib.sha256(dm.read_bytes()).hexdigest()
    assert (log["patients"], log["findings"]) == (3, [])
    assert log["database"] == f"sqlite:///{db}"


def test_db_load_stops_on_an_error_and_goes_on_with_allow_invalid(tmp_path: Path) -> None:
    sdtm = tmp_path / "sdtm"
    subset = _subset(3)
    subset["AE"] = _with_column(subset["AE"], "AESTDTC", {1: "05OCT2011"})
    for name, ds in subset.items():
        write_dataset(ds, sdtm / f"{name.lower()}.csv")
    db = tmp_path / "study.db"
    url = f"sqlite:///{db}"
    stopped = runner.invoke(app, ["db", "load", str(sdtm), "--db", url])
    assert stopped.exit_code == 1, stopped.output
    assert "error AE.AESTDTC row" in _flat(stopped.output)
    assert not db.exists() and list(tmp_path.glob("*.json")) == []
    logs = tmp_path / "logs"
    loaded = runner.invoke(
        app, ["db", "load", str(sdtm), "--db", url, "--allow-invalid", "--log", str(logs)]
    )
    assert loaded.exit_code == 0, loaded.output
    (log_file,) = logs.glob("study.db.load-*.json")
    (finding,) = json.loads(log_file.read_text())["findings"]
    usubjid = subset["AE"].frame["USUBJID"][0]
    assert finding["values"] == [{"row": 1, "usubjid": usubjid, "value": "05OCT2011"}]


# --------------------------------------------------------------------------- eap.gate


def _ae_frame() -> Dataset:
    return Dataset.from_frame(
        "AE",
        pl.DataFrame(
            {
                "STUDYID": ["S"] * 3,
                "DOMAIN": ["AE"] * 3,
                "USUBJID": ["A", "A", "B"],
                "AESEQ": ["1", "x", "3"],  # text where an integer is declared
                "AETERM": ["T"] * 3,
                "AEDECOD": ["T"] * 3,
                "AESTDTC": ["2014-01-02"] * 3,
            }
        ),
    )


def test_allow_invalid_reads_a_wrong_type_as_declared_and_lists_what_it_lost() -> None:
    from eap.gate import check_input

    stopped = check_input({"AE": _ae_frame()}, sdtm=False)
    assert stopped.stops and stopped.datasets["AE"].frame["AESEQ"].dtype == pl.String
    checked = check_input({"AE": _ae_frame()}, sdtm=False, allow_invalid=True)
    assert not checked.stops
    assert checked.datasets["AE"].frame["AESEQ"].to_list() == [1, None, 3]
    assert checked.datasets["AE"].column("AESEQ").kind == "integer"
    issue = next(i for i in checked.issues if i.finding.check == "wrong-type")
    assert issue.records == 3  # every record of the variable
    assert issue.action == "read as integer; 1 values that are not became missing (rows 2)"


def test_allow_invalid_adds_an_absent_required_variable_and_clears_nan() -> None:
    from eap.gate import check_input

    frame = pl.DataFrame(
        {
            "STUDYID": ["S", "S"],
            "USUBJID": ["A", "B"],
            "SUBJID": ["1", "2"],
            "SITEID": ["01", "01"],
            "SEX": ["F", "M"],
            "ARMCD": ["X", "X"],
            "ARM": ["X", "X"],
            "COUNTRY": ["CHN", "CHN"],
            "AGE": [61.0, float("nan")],
        }
    )
    dm = Dataset.from_frame("DM", frame.drop("COUNTRY"))
    checked = check_input({"DM": dm}, sdtm=True, allow_invalid=True)
    out = checked.datasets["DM"].frame
    assert out["COUNTRY"].to_list() == [None, None]
    assert out["AGE"].to_list() == [61.0, None]
    by_check = {i.finding.check: i for i in checked.issues if i.finding.severity == "error"}
    assert by_check["missing-required-variable"].action == "added: COUNTRY missing on every record"
    assert by_check["missing-required-variable"].records == 2
    nan = by_check["not-a-number"]
    assert (nan.action, nan.records, nan.listed[0].row, nan.listed[0].value) == (
        "made missing",
        1,
        2,
        "nan",
    )


def test_a_sas_date_number_without_its_format_is_read_as_a_date() -> None:
    from eap.gate import check_input

    # 2014-01-01 is day 19,724 from 1960-01-01: 54 years of 365 days and 14 leap days
    # (1960, 1964, ..., 2012). Day 0 is 1960-01-01; text in ISO 8601 is read too.
    adsl = Dataset.from_frame(
        "ADSL",
        pl.DataFrame(
            {
                "STUDYID": ["S"] * 3,
                "USUBJID": ["A", "B", "C"],
                "TRTSDT": [19724.0, 0.0, None],
                "TRTEDT": ["2014-01-02", "not a date", None],
            }
        ),
    )
    checked = check_input({"ADSL": adsl}, sdtm=False, allow_invalid=True)
    out = checked.datasets["ADSL"].frame
    assert out["TRTSDT"].to_list() == [dt.date(2014, 1, 1), dt.date(1960, 1, 1), None]
    assert out["TRTEDT"].to_list() == [dt.date(2014, 1, 2), None, None]


def test_the_output_of_derive_is_input_for_report_adam(tmp_path: Path) -> None:
    toy = PILOT.parent / "toy_study"
    adam = tmp_path / "adam"
    derived = runner.invoke(
        app, ["derive", str(toy / "sdtm"), "--study", str(toy), "--out", str(adam)]
    )
    assert derived.exit_code == 0, derived.output
    assert (adam / "run_log.json").is_file()
    args = ["report", "--study", str(toy), "--adam", str(adam), "--out", str(tmp_path / "r")]
    result = runner.invoke(app, [*args, "--formats", "html"])
    assert result.exit_code == 0, result.output


def test_the_data_issues_section_lists_errors_first_and_counts_whole_variables() -> None:
    from eap.datasets.validate import Finding
    from eap.gate import DataIssue, Record
    from eap.report.issues import finding_rows, introduction, record_rows

    unknown = Finding("warning", "unknown-dataset", "TS", "no specification", found="TS")
    absent = Finding("error", "missing-required-variable", "DM", "absent", variable="COUNTRY")
    dates = Finding("error", "iso8601", "AE", "not ISO", variable="AESTDTC", rows=(1, 2))
    issues = [
        DataIssue(unknown, 0),
        DataIssue(absent, 80, action="added: COUNTRY missing on every record"),
        DataIssue(dates, 2, (Record(1, "A", "05OCT2011"), Record(2, "A", "2011-13-45"))),
    ]
    rows = finding_rows(issues)
    assert [(r[0], r[1], r[2], r[3], r[5]) for r in rows] == [
        (
            "error",
            "missing-required-variable",
            "DM.COUNTRY",
            "all 80",
            "added: COUNTRY missing on every record",
        ),
        ("error", "iso8601", "AE.AESTDTC", "2", "kept as they are"),
        ("warning", "unknown-dataset", "TS", "0", ""),
    ]
    assert record_rows(issues) == [
        ("AE", "AESTDTC", "1", "A", "05OCT2011", "iso8601"),
        ("AE", "AESTDTC", "2", "A", "2011-13-45", "iso8601"),
    ]
    # 80 + 2 records of errors; one warning.
    assert "found 2 errors and 1 warning. The report was made with --allow-invalid: 82 records" in (
        introduction(issues)
    )
    assert introduction(issues[:1]) == (
        "The input checks (eap validate's, and the derivations' own) found 0 errors and 1 warning."
    )


def test_gate_raises_naming_the_first_error_and_passes_clean_input() -> None:
    from eap.errors import EapError
    from eap.gate import InvalidInputError, gate

    sdtm = simulate(2014)
    assert gate(sdtm, sdtm=True).report.findings == ()
    ae = _with_column(sdtm["AE"], "AESTDTC", BAD)
    with pytest.raises(InvalidInputError) as caught:
        gate({**sdtm, "AE": ae}, sdtm=True)
    assert isinstance(caught.value, EapError)
    assert str(caught.value).startswith("AE.AESTDTC (rows 101, 102): the input has 1 error")
    assert len(gate({**sdtm, "AE": ae}, sdtm=True, allow_invalid=True).issues) == 1

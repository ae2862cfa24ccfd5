"""The ``eap km`` path: filter language, frame -> fit, JSON document, CLI on real files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pyreadstat
import pytest
from typer.testing import CliRunner

from eap.cli import app
from eap.errors import StatsInputError
from eap.stats import kaplan_meier, logrank_test
from eap.stats.frame import km_from_frame, km_json, km_tables, parse_times, parse_where

ADTTE = Path(__file__).resolve().parents[1] / "data" / "cdisc_pilot" / "adam" / "adtte.xpt"
runner = CliRunner()

FRAME = pl.DataFrame(
    {
        "PARAMCD": ["PFS", "PFS", "PFS", "OS", "PFS", "PFS"],
        "AVAL": [5.0, 8.0, 12.0, 3.0, 9.0, 20.0],
        "CNSR": [0, 1, 0, 0, 0, 1],
        "ARM": ["A", "A", "A", "A", "B", "B"],
        "AGE": [61, 70, 55, 80, 66, 59],
    }
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PARAMCD == 'PFS'", 5),
        ('PARAMCD != "PFS"', 1),
        ("AGE >= 66", 3),
        ("AGE > 66 or ARM == 'B'", 4),
        ("PARAMCD == 'PFS' and (AGE < 60 | AGE > 69)", 3),
        ("PARAMCD == 'PFS' & ARM == 'A' and AVAL <= 8", 2),
        ("AVAL < 1e1", 4),
    ],
)
def test_where_language(text: str, expected: int) -> None:
    assert FRAME.filter(parse_where(text, FRAME.columns)).height == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("NOPE == 1", "unknown variable NOPE"),
        ("AGE = 1", "cannot read the filter"),
        ("AGE ==", "ends too early"),
        ("(AGE == 1", "missing ')'"),
        ("AGE == 1 AGE", "unexpected text"),
        ("__import__('os') == 1", "unknown variable __import__"),
        ("'x' == AGE", "must start with a variable name"),
    ],
)
def test_where_rejects_bad_filters(text: str, fragment: str) -> None:
    with pytest.raises(StatsInputError) as err:
        parse_where(text, FRAME.columns)
    assert fragment in str(err.value)


def test_km_from_frame_matches_direct_call_and_json_shape() -> None:
    rep = km_from_frame(
        FRAME, time="AVAL", censor="CNSR", by="ARM", where="PARAMCD == 'PFS'", at=[0, 10]
    )
    pfs = FRAME.filter(pl.col("PARAMCD") == "PFS")
    ref = kaplan_meier(pfs["AVAL"], 1 - pfs["CNSR"].to_numpy(), strata=pfs["ARM"].to_numpy())
    assert rep.fit.labels == ref.labels == ("A", "B")
    doc = km_json(rep)
    assert list(doc) == ["conf_type", "conf_level", "strata", "logrank"]
    s0 = doc["strata"][0]
    assert list(s0) == [
        "by",
        "n",
        "events",
        "censored",
        "median",
        "median_ci",
        "q1",
        "q1_ci",
        "q3",
        "q3_ci",
        "at",
    ]
    assert s0["by"] == {"ARM": "A"} and (s0["n"], s0["events"], s0["censored"]) == (3, 2, 1)
    assert s0["median"] == ref["A"].median.estimate
    assert list(s0["at"][0]) == [
        "time",
        "n_risk",
        "survival",
        "std_err",
        "lower",
        "upper",
        "reason",
    ]
    lr = logrank_test(pfs["AVAL"], 1 - pfs["CNSR"].to_numpy(), pfs["ARM"])
    assert doc["logrank"] == {"chisq": lr.chisq, "df": lr.df, "p": lr.p}
    # No NaN or inf can reach the document.
    text = json.dumps(doc, allow_nan=False)
    assert "NaN" not in text


def test_event_indicator_and_no_by() -> None:
    f = FRAME.with_columns(EVENT=1 - pl.col("CNSR"))
    a = km_json(km_from_frame(f, time="AVAL", event="EVENT"))
    b = km_json(km_from_frame(f, time="AVAL", censor="CNSR"))
    assert a == b and a["logrank"] is None and a["strata"][0]["by"] == {}
    assert len(km_tables(km_from_frame(f, time="AVAL", censor="CNSR", at=[1]))) == 2


def test_frame_errors() -> None:
    with pytest.raises(StatsInputError, match="exactly one of censor"):
        km_from_frame(FRAME, time="AVAL")
    with pytest.raises(StatsInputError, match="no time variable TIME"):
        km_from_frame(FRAME, time="TIME", censor="CNSR")
    with pytest.raises(StatsInputError, match="no rows left"):
        km_from_frame(FRAME, time="AVAL", censor="CNSR", where="AGE > 100")
    bad = FRAME.with_columns(CNSR=pl.Series([0, 1, 2, 0, 0, 3]))
    with pytest.raises(StatsInputError, match="2 rows with a CNSR code outside"):
        km_from_frame(bad, time="AVAL", censor="CNSR")
    assert parse_times("0, 20,40") == (0.0, 20.0, 40.0)
    with pytest.raises(StatsInputError):
        parse_times("1,x")


def test_cli_json_on_cdisc_pilot_adtte() -> None:
    result = runner.invoke(
        app,
        [
            "km",
            str(ADTTE),
            "--where",
            "PARAMCD == 'TTDE' and SAFFL == 'Y'",
            "--time",
            "AVAL",
            "--censor",
            "CNSR",
            "--by",
            "TRTA",
            "--at",
            "0,30,60",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    df, _ = pyreadstat.read_xport(str(ADTTE))
    df = df[(df.PARAMCD == "TTDE") & (df.SAFFL == "Y")]
    ref = kaplan_meier(df.AVAL, 1 - df.CNSR.to_numpy(), strata=df.TRTA.to_numpy())
    assert [s["by"]["TRTA"] for s in doc["strata"]] == list(ref.labels)
    for s, c in zip(doc["strata"], ref, strict=True):
        assert s["median"] == c.median.estimate
        assert s["median_ci"] == [c.median.lower, c.median.upper]
        assert [a["n_risk"] for a in s["at"]] == c.n_risk_at([0, 30, 60]).tolist()
    assert doc["logrank"]["df"] == 2
    assert doc["conf_type"] == "log-log"
    placebo = doc["strata"][0]
    # Few dermatologic events on placebo: the median is not reached (null, "NE" in print).
    assert placebo["median"] is None and placebo["median_ci"] == [None, None]
    assert np.isclose(placebo["at"][0]["survival"], 1.0)


def test_cli_table_and_conventions() -> None:
    args = ["km", str(ADTTE), "--time", "AVAL", "--censor", "CNSR", "--by", "TRTA"]
    out = runner.invoke(app, [*args, "--conf-type", "LOG", "--convention", "SAS"])
    assert out.exit_code == 0, out.output
    assert "Kaplan-Meier estimates" in out.stdout and "NE" in out.stdout
    assert "Log-rank test" in out.stdout


def test_cli_bad_conf_type_is_a_clean_error() -> None:
    out = runner.invoke(
        app, ["km", str(ADTTE), "--time", "AVAL", "--censor", "CNSR", "--conf-type", "probit"]
    )
    assert out.exit_code != 0
    assert isinstance(out.exception, StatsInputError)


PFS_OS = Path(__file__).resolve().parents[1] / "data" / "survival" / "mm024_pfs_os.csv"


def _text(*extra: str) -> str:
    from eap import cli

    wide = pytest.MonkeyPatch()
    wide.setattr(cli.console, "width", 200)  # one table row per line
    try:
        result = runner.invoke(
            app,
            ["km", str(PFS_OS), "--time", "AVAL", "--censor", "CNSR", "--by", "PARAMCD", *extra],
        )
    finally:
        wide.undo()
    assert result.exit_code == 0, result.output
    return result.stdout


def test_cli_text_keeps_three_significant_digits() -> None:
    # R quantile(survfit(..., conf.type = "log-log"), c(.25, .5, .75)) on the same data:
    # PFS 8.870637 (7.063655, 10.74333), 13.73306 (11.13758, 20.43532),
    # 36.10678 (23.62218, 41.7577); OS q1 35.975359 (29.930185, 37.09240).
    out = _text("--at", "12,365")
    assert "8.87 (7.06, 10.74)" in out  # was 8.9 (7.1, 10.7)
    assert "13.7 (11.1, 20.4)" in out
    assert "36.1 (23.6, 41.8)" in out
    assert "36.0 (29.9, 37.1)" in out
    assert "NE (38.5, NE)" in out
    # Landmarks (R summary.survfit, extend = TRUE): PFS at 12 months 0.5958 (0.4793, 0.6944).
    assert "0.596" in out and "(0.479, 0.694)" in out and "0.0552" in out


def test_cli_text_marks_landmarks_after_the_last_observation() -> None:
    r = _text("--at", "365")
    assert "0.560*" in r and "(0.427, 0.674)" in r  # OS carried forward, 0 at risk
    assert "0.1130*" in r and "(0.0396, 0.2292)" in r
    assert "nobody is at risk" in r and "extend = TRUE" in r
    sas = _text("--at", "365", "--convention", "SAS")
    assert "NE*" in sas and "* beyond last follow-up" in sas
    assert "0.560" not in sas


def test_json_landmarks_carry_their_reason() -> None:
    frame = pl.read_csv(PFS_OS)
    for convention, reason in (("R", "carried forward"), ("SAS", "beyond last follow-up")):
        doc = km_json(
            km_from_frame(
                frame, time="AVAL", censor="CNSR", by="PARAMCD", at=[12, 365], convention=convention
            )
        )
        at12, at365 = doc["strata"][0]["at"]
        assert at12["reason"] is None and at12["n_risk"] == 80
        assert at365["n_risk"] == 0 and reason in at365["reason"]

"""From the store to SDTM that eap's own validator accepts, through the CLI too."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eap.cli import app
from eap.datasets.io import read_dataset
from eap.datasets.validate import validate_folder
from eap.store import service
from eap.store.schemas import (
    AdverseEventIn,
    DeathIn,
    DiscontinuationIn,
    DosingIn,
    VisitIn,
)
from tests.store.helpers import TODAY, Study, make_study, register


@pytest.fixture
def study(db_url: str) -> Study:
    return make_study(db_url)


def _populate(study: Study) -> None:
    a = register(study, "inv_a", "0101")
    b = register(study, "inv_b", "0201", progressed=True, progression_date=dt.date(2012, 9, 1))
    register(study, "inv_a", "0102", consent_signed=False)
    records = [
        (a, "dosing", DosingIn(cycle=1, start_date=dt.date(2013, 1, 15), dose=25)),
        (
            a,
            "dosing",
            DosingIn(
                cycle=2,
                start_date=dt.date(2013, 2, 12),
                dose=20,
                reduced=True,
                adjustment_reason="grade 3 neutropenia",
            ),
        ),
        (
            a,
            "ae",
            AdverseEventIn(
                reported_term="Neutropenia",
                ctcae_term="Neutrophil count decreased",
                grade=3,
                start_date=dt.date(2013, 2, 1),
                end_date=dt.date(2013, 2, 20),
                action="DOSE REDUCED",
            ),
        ),
        (
            a,
            "discontinuation",
            DiscontinuationIn(discontinuation_date=dt.date(2013, 6, 1), reason="progression"),
        ),
        (b, "visits", VisitIn(visit_date=dt.date(2013, 5, 12))),
        (b, "death", DeathIn(death_date=dt.date(2014, 2, 2), cause="Progressive myeloma")),
    ]
    for pid, kind, data in records:
        with study.sessions.begin() as db:
            service.add_record(db, study.actors["admin"], pid, kind, data, TODAY)
    with study.sessions.begin() as db:
        ae = service.add_record(
            db,
            study.actors["admin"],
            a,
            "ae",
            AdverseEventIn(
                reported_term="Rash",
                ctcae_term="Rash maculo-papular",
                grade=1,
                start_date=dt.date(2013, 3, 1),
            ),
            TODAY,
        )
    with study.sessions.begin() as db:
        service.delete_record(db, study.actors["admin"], a, "ae", ae.id, 1, "wrong patient")


def test_cli_export_writes_valid_sdtm(study: Study, tmp_path: Path) -> None:
    _populate(study)
    out = tmp_path / "sdtm"
    result = CliRunner().invoke(app, ["export", "--db", study.url, "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = validate_folder(out)
    assert report.ok, [str(f) for f in report.errors]
    dm = read_dataset(out / "dm.xpt").frame
    assert dm.height == 3
    assert dm.filter(dm["USUBJID"] == "MM-024-0201")["DTHDTC"].to_list() == ["2014-02-02"]
    assert sorted(dm["ARMCD"].to_list()) == ["NOTELIG", "SFU", "TP"]
    ex = read_dataset(out / "ex.xpt").frame
    assert ex["EXDOSE"].to_list() == [25.0, 20.0]
    assert ex["EXADJ"].to_list()[1] == "grade 3 neutropenia"
    ae = read_dataset(out / "ae.xpt").frame
    assert ae["AETERM"].to_list() == ["Neutropenia"]  # the soft-deleted rash is not exported
    assert ae["AELLT"].to_list() == ["Neutrophil count decreased"]
    assert ae["AETOXGR"].to_list() == ["3"]
    ds = read_dataset(out / "ds.xpt").frame
    assert sorted(ds["DSDECOD"].to_list()) == ["DEATH", "PROGRESSIVE DISEASE"]
    validate = CliRunner().invoke(app, ["validate", str(out)])
    assert validate.exit_code == 0, validate.output


def test_cli_db_init_and_users_add(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    r = runner.invoke(app, ["db", "init", "--db", url])
    # The console wraps long paths: compare the words, not the line breaks.
    assert r.exit_code == 0 and "11 sites added" in " ".join(r.output.split())
    assert runner.invoke(app, ["db", "init", "--db", url]).exit_code == 0  # idempotent
    r = runner.invoke(
        app,
        ["users", "add", "alice", "--role", "investigator", "--site", "03", "--db", url],
        env={"EAP_PASSWORD": "a long enough password"},
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app,
        ["users", "add", "bob", "--role", "investigator", "--db", url],
        env={"EAP_PASSWORD": "a long enough password"},
    )
    assert r.exit_code != 0


def test_cli_users_unlock_list_deactivate(study: Study, monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime as dt

    from eap.errors import AuthError
    from eap.store import users
    from eap.store.users import authenticate
    from tests.store.helpers import PASSWORD

    # A first delay of an hour, so that a slow machine cannot outlast it mid-test.
    monkeypatch.setattr(users, "FIRST_DELAY", dt.timedelta(hours=1))

    def log_in(password: str) -> str:
        return authenticate(study.sessions, "inv_a", password, lambda _db, user: user.username)

    for _ in range(5):
        with pytest.raises(AuthError):
            log_in("bad password")
    with pytest.raises(AuthError, match="wrong username or password"):
        log_in(PASSWORD)  # within the login delay
    runner = CliRunner()
    listed = runner.invoke(app, ["users", "list", "--db", study.url])
    assert listed.exit_code == 0 and "inv_a" in listed.output
    assert runner.invoke(app, ["users", "unlock", "inv_a", "--db", study.url]).exit_code == 0
    assert log_in(PASSWORD) == "inv_a"
    assert runner.invoke(app, ["users", "deactivate", "inv_a", "--db", study.url]).exit_code == 0
    with pytest.raises(AuthError):
        log_in(PASSWORD)
    assert runner.invoke(app, ["users", "activate", "inv_a", "--db", study.url]).exit_code == 0
    assert log_in(PASSWORD) == "inv_a"


def test_migrations_match_the_models(study: Study) -> None:
    """The shipped migration creates exactly the schema the models declare."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from eap.store.models import Base

    engine = study.sessions.kw["bind"]
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_export_leaves_out_empty_domains(study: Study, tmp_path: Path) -> None:
    register(study, "inv_a", "0101")
    out = tmp_path / "sdtm"
    out.mkdir()
    (out / "ds.xpt").write_bytes(b"stale")
    result = CliRunner().invoke(app, ["export", "--db", study.url, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["dm.xpt"]
    assert validate_folder(out).ok


def test_report_and_reproduce_from_captured_data_only(study: Study, tmp_path: Path) -> None:
    """Three registrations and a few records: the report is thin but whole, and honest."""
    import warnings

    import polars as pl

    _populate(study)
    runner = CliRunner()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # e.g. an empty figure's legend
        result = runner.invoke(app, ["report", "--db", study.url, "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    ard = pl.read_parquet(tmp_path / "r" / "ard.parquet")
    n = dict(
        ard.filter((pl.col("output") == "DMT01") & (pl.col("variable") == "BIGN"))
        .select("population", "stat")
        .iter_rows()
    )
    assert n == {
        "safety": 1.0,
        "treatment_cohort": 1.0,
    }  # one dosed patient, in the Treatment Phase
    assert (tmp_path / "r" / "report.pdf").is_file()
    reproduced = runner.invoke(app, ["reproduce", "--db", study.url])
    assert reproduced.exit_code == 1  # three patients are not the publication's 80

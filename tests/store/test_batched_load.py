"""`eap db load` in batches: whole batches commit, an interrupted load resumes, the trail holds.

Every test runs on SQLite and PostgreSQL (the db_url fixture). Expected counts come
from the transfer itself (rows per subject counted here with Polars), and the resumed
load is compared with a one-shot load of the same transfer into a fresh database.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from eap.cli import LOAD_BATCH_SIZE, app
from eap.datasets.io import write_dataset
from eap.datasets.model import Dataset
from eap.errors import EapError
from eap.store import transfer as transfer_module
from eap.store.bootstrap import init_study
from eap.store.db import make_engine, make_sessionmaker
from eap.store.models import DataLoad, Patient, TransferredRecord
from eap.store.transfer import (
    DEFAULT_BATCH_SIZE,
    BatchDone,
    batch_line,
    load_sdtm,
    source_sha256,
)
from eap.store.verify import verify_trail
from tests.store.helpers import TODAY
from tests.store.test_transfer import TRANSFER, only, subset

# Columns of a stored patient that differ between two loads of the same transfer.
VOLATILE = {"id", "site_id", "created_at", "updated_at"}


class Interrupted(RuntimeError):
    """What the injected failure raises: a crash in the middle of a batch."""


def _fail_in_batch(monkeypatch: pytest.MonkeyPatch, k: int) -> None:
    """Batch k stores its patients and rows, then fails before its commit."""
    real = transfer_module.store_patients
    calls = {"n": 0}

    def failing(*args: Any, **kwargs: Any) -> dict[str, int]:
        calls["n"] += 1
        stored = real(*args, **kwargs)
        if calls["n"] == k:
            raise Interrupted(f"crash in batch {k}")
        return stored

    monkeypatch.setattr(transfer_module, "store_patients", failing)


def _usubjids(sdtm: dict[str, Dataset]) -> list[str]:
    return sorted(sdtm["DM"].frame["USUBJID"].to_list())


def _rows_of(sdtm: dict[str, Dataset], usubjids: list[str]) -> int:
    keep = pl.Series(usubjids).implode()
    return sum(ds.frame.filter(pl.col("USUBJID").is_in(keep)).height for ds in sdtm.values())


def _content(url: str) -> tuple[list[dict[str, Any]], list[tuple[str, str, str]]]:
    """The patients (less ids and times) and every kept row, by subject, in a fixed order."""
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as db:
            patients = sorted(
                (
                    {
                        k: v
                        for k, v in vars(p).items()
                        if not k.startswith("_") and k not in VOLATILE
                    }
                    for p in db.scalars(select(Patient))
                ),
                key=lambda p: p["usubjid"],
            )
            by_id = {p.id: p.usubjid for p in db.scalars(select(Patient))}
            records = sorted(
                (by_id[r.patient_id], r.domain, r.row)
                for r in db.scalars(select(TransferredRecord))
            )
    finally:
        engine.dispose()
    return patients, records


def _count(url: str, model: type) -> int:
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as db:
            return int(db.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        engine.dispose()


def _load(url: str, sdtm: dict[str, Dataset], **kw: Any) -> list[BatchDone]:
    seen: list[BatchDone] = []
    load_sdtm(url, sdtm, transfer=TRANSFER, today=TODAY, on_batch=seen.append, **kw)
    return seen


def _one_shot(tmp_path: Path, sdtm: dict[str, Dataset]) -> str:
    url = f"sqlite:///{tmp_path / 'one-shot.db'}"
    init_study(url)
    load_sdtm(url, sdtm, transfer=TRANSFER, today=TODAY, batch_size=1000)
    return url


@pytest.mark.parametrize("k", [1, 2, 3])
def test_a_failure_in_batch_k_keeps_the_batches_before_it_and_nothing_of_batch_k(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, k: int
) -> None:
    init_study(db_url)
    sdtm = subset(3)  # 6 patients: batches of 2, 2, 2
    ids = _usubjids(sdtm)
    _fail_in_batch(monkeypatch, k)
    with pytest.raises(Interrupted):
        _load(db_url, sdtm, batch_size=2)
    committed = ids[: 2 * (k - 1)]
    assert _count(db_url, Patient) == len(committed)
    assert _count(db_url, TransferredRecord) == _rows_of(sdtm, committed)
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as db:
        assert sorted(db.scalars(select(Patient.usubjid))) == committed
        load = db.scalars(select(DataLoad)).one()
        assert (load.patients, load.patients_done, load.batches_done, load.status) == (
            6,
            len(committed),
            k - 1,
            "running",
        )
    engine.dispose()
    assert verify_trail(db_url).findings == []

    monkeypatch.undo()
    seen = _load(db_url, sdtm, batch_size=2)
    # The rerun continues at batch k: batches k..3, the first of them at patient 2k.
    assert [(b.number, b.batches, b.patients_done, b.resumed_from) for b in seen] == [
        (n, 3, 2 * n, 2 * (k - 1)) for n in range(k, 4)
    ]
    assert verify_trail(db_url).findings == []
    assert _content(db_url) == _content(_one_shot(tmp_path, sdtm))


def test_the_rerun_reports_what_it_resumed(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    init_study(db_url)
    sdtm = subset(2)  # 4 patients
    _fail_in_batch(monkeypatch, 2)
    with pytest.raises(Interrupted):
        _load(db_url, sdtm, batch_size=3)
    monkeypatch.undo()
    summary = load_sdtm(db_url, sdtm, transfer=TRANSFER, today=TODAY, batch_size=3)
    assert (summary.resumed_from, summary.patients) == (3, 1)
    assert summary.records == {
        name: _rows_of({name: ds}, _usubjids(sdtm)[3:]) for name, ds in sdtm.items()
    }


def test_a_resumed_load_may_use_another_batch_size(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    init_study(db_url)
    sdtm = subset(3)
    _fail_in_batch(monkeypatch, 2)
    with pytest.raises(Interrupted):
        _load(db_url, sdtm, batch_size=4)  # batch 1 (4 patients) commits, batch 2 fails
    monkeypatch.undo()
    seen = _load(db_url, sdtm, batch_size=1)
    assert [b.patients_done for b in seen] == [5, 6]
    assert _content(db_url) == _content(_one_shot(tmp_path, sdtm))


@pytest.mark.parametrize(
    ("n_patients", "batch_size", "expected"),
    [
        (3, 3, [(1, 1, 3)]),  # exactly one batch
        (3, 2, [(1, 2, 2), (2, 2, 3)]),  # batch size + 1: a second batch of one
        (2, 3, [(1, 1, 2)]),  # fewer than a batch
        (3, 1, [(1, 3, 1), (2, 3, 2), (3, 3, 3)]),
    ],
)
def test_batch_boundaries(
    db_url: str, n_patients: int, batch_size: int, expected: list[tuple[int, int, int]]
) -> None:
    init_study(db_url)
    dm = subset(2)["DM"].frame
    sdtm = only(dm["USUBJID"].head(n_patients).to_list())
    seen = _load(db_url, sdtm, batch_size=batch_size)
    assert [(b.number, b.batches, b.patients_done) for b in seen] == expected
    assert _count(db_url, Patient) == n_patients
    assert _count(db_url, TransferredRecord) == _rows_of(sdtm, _usubjids(sdtm))
    assert verify_trail(db_url).findings == []


def test_a_completed_load_is_refused_and_another_source_starts_its_own(db_url: str) -> None:
    init_study(db_url)
    first, second = _usubjids(subset(2))[:2], _usubjids(subset(2))[2:]
    _load(db_url, only(first))
    with pytest.raises(EapError, match="already in the study database") as again:
        _load(db_url, only(first))
    assert source_sha256(only(first)) in str(again.value)
    seen = _load(db_url, only(second))
    assert [(b.patients_done, b.resumed_from) for b in seen] == [(2, 0)]
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as db:
        loads = db.scalars(select(DataLoad).order_by(DataLoad.id)).all()
        assert [(x.patients, x.status) for x in loads] == [(2, "complete"), (2, "complete")]
    engine.dispose()


def test_an_interrupted_load_does_not_let_another_source_load_its_subjects_twice(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    init_study(db_url)
    sdtm = subset(2)
    _fail_in_batch(monkeypatch, 2)
    with pytest.raises(Interrupted):
        _load(db_url, sdtm, batch_size=2)
    monkeypatch.undo()
    # Another source (the first three subjects only) overlaps the committed batch.
    other = only(_usubjids(sdtm)[:3])
    with pytest.raises(EapError, match="already in the study database"):
        _load(db_url, other)


def test_the_source_digest_follows_the_content_not_the_frames() -> None:
    sdtm = subset(1)
    assert source_sha256(sdtm) == source_sha256(dict(reversed(list(sdtm.items()))))
    ae = sdtm["AE"].frame
    changed = {**sdtm, "AE": Dataset.from_frame("AE", ae.with_columns(pl.lit("X").alias("AETERM")))}
    assert source_sha256(changed) != source_sha256(sdtm)


def test_a_batch_size_below_one_is_refused(db_url: str) -> None:
    init_study(db_url)
    with pytest.raises(EapError, match="batch size"):
        _load(db_url, subset(1), batch_size=0)
    assert _count(db_url, Patient) == 0
    assert len(_load(db_url, subset(1), batch_size=1)) == 2  # the other side: 1 is a size


def test_the_cli_prints_each_batch_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sdtm_dir = tmp_path / "sdtm"
    for name, ds in subset(2).items():
        write_dataset(ds, sdtm_dir / f"{name.lower()}.xpt")
    url = f"sqlite:///{tmp_path / 'study.db'}"
    runner = CliRunner()
    _fail_in_batch(monkeypatch, 2)
    crashed = runner.invoke(app, ["db", "load", str(sdtm_dir), "--db", url, "--batch-size", "3"])
    assert isinstance(crashed.exception, Interrupted)
    assert "batch 1/2 committed: 3 of 4 patients" in crashed.output
    monkeypatch.undo()
    resumed = runner.invoke(app, ["db", "load", str(sdtm_dir), "--db", url, "--batch-size", "3"])
    assert resumed.exit_code == 0, resumed.output
    assert "batch 2/2 committed: 4 of 4 patients" in resumed.output
    assert "resumed after 3 patients committed earlier" in resumed.output
    assert "1 patients registered" in resumed.output
    # Only the completed run writes a run log; it says where it resumed.
    (log_file,) = tmp_path.glob("study.db.load-*.json")
    log = json.loads(log_file.read_text())
    assert (log["resumed_after_patients"], log["patients"], log["batch_size"]) == (3, 1, 3)
    verified = runner.invoke(app, ["audit", "verify", "--db", url])
    assert verified.exit_code == 0, verified.output


def test_the_cli_default_batch_size_is_the_library_default() -> None:
    assert LOAD_BATCH_SIZE == DEFAULT_BATCH_SIZE == 500


@pytest.mark.parametrize(
    ("done", "seconds", "expected"),
    [
        # 1,000 patients in 30 s: 33.3 a second, 1,000 left take 30 s more.
        (
            BatchDone(2, 4, 1000, 2000, 0),
            30.0,
            "batch 2/4 committed: 1,000 of 2,000 patients (30 s, about 30 s left)",
        ),
        # Resumed after 500: this run did 500 in 59 s; 1,000 left take 118 s = 2 min.
        (
            BatchDone(2, 4, 1000, 2000, 500),
            59.0,
            "batch 2/4 committed: 1,000 of 2,000 patients (59 s, about 2 min left)",
        ),
        # At 60 s minutes start; at 3,600 s hours; the last batch has no time left.
        (
            BatchDone(4, 4, 2000, 2000, 0),
            60.0,
            "batch 4/4 committed: 2,000 of 2,000 patients (1 min)",
        ),
        (
            BatchDone(4, 4, 2000, 2000, 0),
            3599.0,
            "batch 4/4 committed: 2,000 of 2,000 patients (60 min)",
        ),
        (
            BatchDone(4, 4, 2000, 2000, 0),
            3600.0,
            "batch 4/4 committed: 2,000 of 2,000 patients (1.0 h)",
        ),
    ],
)
def test_the_progress_line(done: BatchDone, seconds: float, expected: str) -> None:
    assert batch_line(done, seconds) == expected


def test_migration_0007_adds_and_removes_the_load_table(db_url: str) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from eap.store.db import alembic_config

    init_study(db_url)

    def migrate(step: Callable[[Any, str], None], revision: str) -> list[str]:
        engine = make_engine(db_url)
        try:
            with engine.begin() as conn:
                cfg = alembic_config(db_url)
                cfg.attributes["connection"] = conn
                step(cfg, revision)
            return inspect(engine).get_table_names()
        finally:
            engine.dispose()

    assert "data_loads" not in migrate(command.downgrade, "0006")
    assert "data_loads" in migrate(command.upgrade, "0007")
    _load(db_url, subset(1))
    assert _count(db_url, DataLoad) == 1

"""`eap audit verify` on a study built through the web application, then tampered with."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from eap.cli import app
from eap.store.db import make_engine
from tests.store.helpers import Study
from tests.web.test_api import AE, register

Client = Callable[[str | None], TestClient]


def verify(url: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(app, ["audit", "verify", "--db", url])
    return result.exit_code, result.output.splitlines()


def test_a_study_built_through_the_api_verifies_until_changed_behind_its_back(
    app_client: Client, study: Study
) -> None:
    site, dm = app_client("inv_a"), app_client("dm")
    pid = register(site)["id"]
    rid = site.post(f"/api/patients/{pid}/ae", json=AE).json()["id"]
    r = site.put(
        f"/api/patients/{pid}/ae/{rid}",
        json={"version": 1, "reason": "source data", "values": {**AE, "grade": 4}},
    )
    assert r.status_code == 200
    r = site.post(
        f"/api/patients/{pid}/dosing",
        json={"cycle": 1, "start_date": "2013-01-15", "dose": 25, "frequency": "daily"},
    )
    assert r.status_code == 201
    assert dm.post(f"/api/patients/{pid}/queries", json={"question": "70 kg?"}).status_code == 201
    r = site.request(
        "DELETE", f"/api/patients/{pid}/ae/{rid}", json={"version": 2, "reason": "duplicate"}
    )
    assert r.status_code == 200
    code, lines = verify(study.url)
    assert code == 0, lines
    # patient, AE, dosing record, query: four records, each matching its trail
    assert re.fullmatch(
        r"audit trail verified: \d+ trail rows chain, 4 records match their trail; "
        r"head \d+ [0-9a-f]{64}",
        lines[0],
    )
    engine = make_engine(study.url)
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE adverse_events SET deleted = false WHERE id = {rid}"))
    engine.dispose()
    code, lines = verify(study.url)
    assert code == 1
    assert lines[0] == (
        f"adverse_events {rid} deleted: value differs from the trail (changed behind the "
        "application's back); expected 'true', found 'false'"
    )

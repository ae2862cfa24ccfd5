"""The JSON API through httpx (TestClient): login, CSRF, lockout, workflows, conflicts, checks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.store.helpers import PASSWORD

Client = Callable[[str | None], TestClient]

PATIENT = dict(
    subjid="0101",
    sex="M",
    age=65,
    weight_kg=70,
    creatinine=1.1,
    assessment_date="2013-01-10",
    consent_signed=True,
    lenalidomide_start_date="2011-12-01",
)
AE = dict(
    reported_term="Neutropenia",
    ctcae_term="Neutrophil count decreased",
    grade=3,
    start_date="2013-03-01",
    serious=True,
)


def register(c: TestClient, **over: Any) -> dict[str, Any]:
    r = c.post("/api/patients", json={**PATIENT, **over})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def test_login_logout_and_csrf(app_client: Client) -> None:
    anon = app_client(None)
    assert anon.get("/api/patients").status_code == 401
    assert anon.get("/patients", follow_redirects=False).headers["location"] == "/login"
    c = app_client("inv_a")
    cookie = c.cookies.jar._cookies["testserver.local"]["/"]["eap_session"]  # type: ignore[attr-defined]
    assert cookie.secure and cookie.has_nonstandard_attr("HttpOnly")
    assert cookie.get_nonstandard_attr("SameSite").lower() == "strict"
    token = c.headers.pop("X-CSRF-Token")
    assert c.post("/api/patients", json=PATIENT).status_code == 403  # no CSRF header
    c.headers["X-CSRF-Token"] = "wrong"
    assert c.post("/api/patients", json=PATIENT).status_code == 403
    c.headers["X-CSRF-Token"] = token
    assert c.get("/api/session").json()["role"] == "investigator"
    assert c.delete("/api/session").status_code == 200
    assert c.get("/api/patients").status_code == 401


def test_five_failures_delay_the_account_with_the_same_answer(
    app_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eap.store import users

    # A first delay of an hour, so that a slow machine cannot outlast it mid-test.
    monkeypatch.setattr(users, "FIRST_DELAY", dt.timedelta(hours=1))
    c = app_client(None)
    for _ in range(5):
        r = c.post("/api/session", json={"username": "inv_a", "password": "wrong password"})
        assert r.status_code == 401
    # The right password within the delay: refused with the one answer.
    r = c.post("/api/session", json={"username": "inv_a", "password": PASSWORD})
    assert r.status_code == 401 and r.json()["detail"] == "wrong username or password"
    # Another account is unaffected.
    assert (
        c.post("/api/session", json={"username": "inv_b", "password": PASSWORD}).status_code == 200
    )


def test_register_record_ae_and_dashboard(app_client: Client) -> None:
    c = app_client("inv_a")
    p = register(c)
    assert p["usubjid"] == "MM-024-0101" and p["phase"] == "Treatment Phase"
    assert p["start_dose"] == 25.0 and p["crcl"] == 66.29
    pid = p["id"]
    r = c.post(f"/api/patients/{pid}/ae", json=AE)
    assert r.status_code == 201
    assert r.json()["soc"] == "Investigations"
    r = c.post(
        f"/api/patients/{pid}/dosing",
        json={"cycle": 1, "start_date": "2013-01-15", "dose": 25, "frequency": "daily"},
    )
    assert r.status_code == 201
    dash = app_client("admin").get("/api/dashboard").json()
    assert dash["enrollment_by_site"]["01"]["treatment"] == 1
    assert [a["reported_term"] for a in dash["open_serious_aes"]] == ["Neutropenia"]
    assert dash["exposure"] == {"patients_dosed": 1, "cycles": 1, "mean_dose_mg": 25.0}
    trail = c.get(f"/api/patients/{pid}/audit").json()
    assert {e["table"] for e in trail} == {"patients", "adverse_events", "dosing_records"}
    timeline = c.get(f"/api/patients/{pid}/timeline").json()
    assert [e["kind"] for e in timeline] == ["parent", "rollover", "dosing", "ae"]


def test_edit_check_messages_by_field(app_client: Client) -> None:
    c = app_client("inv_a")
    pid = register(c)["id"]
    r = c.post(
        f"/api/patients/{pid}/ae",
        json={**AE, "grade": 2, "ctcae_term": "Myelodysplastic syndrome", "end_date": "2013-01-01"},
    )
    assert r.status_code == 422
    errors = r.json()["errors"]
    assert "not defined" in errors["grade"] and "before it starts" in errors["end_date"]
    r = c.post(f"/api/patients/{pid}/ae", json={**AE, "grade": "three"})
    assert r.status_code == 422 and "grade" in r.json()["errors"]
    assert c.get(f"/api/patients/{pid}/ae").json() == []


def test_conflict_returns_newer_values(app_client: Client) -> None:
    a, b = app_client("inv_a"), app_client("coord_a")
    pid = register(a)["id"]
    rid = a.post(f"/api/patients/{pid}/ae", json=AE).json()["id"]
    first = a.put(
        f"/api/patients/{pid}/ae/{rid}",
        json={"version": 1, "reason": "source data", "values": {**AE, "grade": 4}},
    )
    assert first.status_code == 200 and first.json()["version"] == 2
    second = b.put(
        f"/api/patients/{pid}/ae/{rid}",
        json={"version": 1, "reason": "mine", "values": {**AE, "grade": 2}},
    )
    assert second.status_code == 409
    assert second.json()["current"]["grade"] == 4
    assert second.json()["current"]["updated_by"] == "inv_a"
    no_reason = b.put(f"/api/patients/{pid}/ae/{rid}", json={"version": 2, "values": AE})
    assert no_reason.status_code == 422 and "reason" in no_reason.json()["errors"]


def test_soft_delete_keeps_the_record(app_client: Client) -> None:
    c = app_client("inv_a")
    pid = register(c)["id"]
    rid = c.post(f"/api/patients/{pid}/ae", json=AE).json()["id"]
    r = c.request(
        "DELETE", f"/api/patients/{pid}/ae/{rid}", json={"version": 1, "reason": "duplicate entry"}
    )
    assert r.status_code == 200
    rows = c.get(f"/api/patients/{pid}/ae").json()
    assert rows[0]["deleted"] is True and rows[0]["deleted_reason"] == "duplicate entry"


def test_queries_between_data_manager_and_site(app_client: Client) -> None:
    site, dm = app_client("inv_a"), app_client("dm")
    pid = register(site)["id"]
    r = dm.post(f"/api/patients/{pid}/queries", json={"field": "weight_kg", "question": "70 kg?"})
    assert r.status_code == 201
    qid = r.json()["id"]
    assert site.post(f"/api/patients/{pid}/queries", json={"question": "x"}).status_code == 403
    r = site.put(
        f"/api/patients/{pid}/queries/{qid}",
        json={"version": 1, "values": {"status": "answered", "answer": "confirmed in source"}},
    )
    assert r.status_code == 200
    r = dm.put(
        f"/api/patients/{pid}/queries/{qid}", json={"version": 2, "values": {"status": "closed"}}
    )
    assert r.status_code == 200 and r.json()["status"] == "closed"


def test_ctcae_picker(app_client: Client) -> None:
    c = app_client("monitor")
    hits = c.get("/api/ctcae", params={"q": "neutro"}).json()
    assert hits[0]["term"] == "Neutrophil count decreased" and hits[0]["grades"] == [1, 2, 3, 4]
    g = c.get("/api/ctcae/grade", params={"term": "Anemia", "grade": 3}).json()
    assert g["defined"] and g["text"].startswith("Hgb <8.0 g/dL")
    assert not c.get("/api/ctcae/grade", params={"term": "Anemia", "grade": 6}).json()["defined"]


def test_openapi_describes_every_workflow(app_client: Client) -> None:
    spec = app_client("monitor").get("/openapi.json").json()
    paths = spec["paths"]
    for kind in ("dosing", "ae", "visits", "death", "discontinuation"):
        assert {"get", "post"} <= set(paths[f"/api/patients/{{patient_id}}/{kind}"])
        assert {"get", "put", "delete"} <= set(
            paths[f"/api/patients/{{patient_id}}/{kind}/{{record_id}}"]
        )
    assert not any(p.startswith("/patients") for p in paths)  # pages are not API


def test_only_the_sponsor_soft_deletes_a_patient(app_client: Client) -> None:
    site, admin = app_client("inv_a"), app_client("admin")
    pid = register(site)["id"]
    body = {"version": 1, "reason": "registered in error"}
    assert site.request("DELETE", f"/api/patients/{pid}", json=body).status_code == 403
    r = admin.request("DELETE", f"/api/patients/{pid}", json=body)
    assert r.status_code == 200 and r.json()["deleted"] is True
    assert site.get(f"/api/patients/{pid}").json()["deleted_reason"] == "registered in error"
    assert site.post(f"/api/patients/{pid}/ae", json=AE).status_code == 403

"""Server-rendered pages: login form, registration, AE entry with messages beside fields."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.store.helpers import PASSWORD, TODAY, Study

Client = Callable[[str | None], TestClient]


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF field in the form"
    return m.group(1)


def browser_login(app_client: Client, username: str) -> TestClient:
    c = app_client(None)
    page = c.get("/login")
    r = c.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/patients"
    return c


PATIENT_FORM = {
    "subjid": "0105",
    "sex": "F",
    "age": "72",
    "weight_kg": "55",
    "creatinine": "1.3",
    "creatinine_unit": "mg/dL",
    "assessment_date": "2013-02-01",
    "consent_signed": "on",
    "lenalidomide_start_date": "2011-11-15",
}


def test_login_form_needs_its_csrf_token(app_client: Client) -> None:
    c = app_client(None)
    c.get("/login")
    r = c.post("/login", data={"username": "inv_a", "password": PASSWORD, "csrf_token": "x"})
    assert r.status_code == 403
    wrong = c.post(
        "/login",
        data={"username": "inv_a", "password": "nope", "csrf_token": csrf_of(c.get("/login").text)},
    )
    assert wrong.status_code == 401 and "wrong username or password" in wrong.text


def test_register_then_record_ae_through_pages(app_client: Client) -> None:
    c = browser_login(app_client, "coord_a")
    form = c.get("/patients/new")
    token = csrf_of(form.text)
    assert "Register a patient from MM-021" in form.text
    r = c.post("/patients/new", data={**PATIENT_FORM, "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = c.get(r.headers["location"])
    # (140 - 72) * 55 / (72 * 1.3) * 0.85 = 3740 / 93.6 * 0.85 = 33.96 -> 10 mg daily band
    assert "Treatment Phase" in page.text and "34.0 mL/min" in page.text
    assert "10 mg daily" in page.text
    pid = r.headers["location"].rsplit("/", 1)[1]
    bad = c.post(
        f"/patients/{pid}/ae/new",
        data={
            "csrf_token": token,
            "reported_term": "MDS",
            "ctcae_term": "Myelodysplastic syndrome",
            "grade": "2",
            "start_date": "2013-05-01",
            "end_date": "2013-04-01",
        },
    )
    assert bad.status_code == 422
    assert re.search(r'id="error-grade">grade 2 is not defined', bad.text)
    assert re.search(r'id="error-end_date">AE ends', bad.text)
    assert 'value="MDS"' in bad.text  # what the user typed is kept
    ok = c.post(
        f"/patients/{pid}/ae/new",
        data={
            "csrf_token": token,
            "reported_term": "MDS",
            "ctcae_term": "Myelodysplastic syndrome",
            "grade": "4",
            "start_date": "2013-05-01",
            "related": "POSSIBLY RELATED",
            "action": "DRUG WITHDRAWN",
            "outcome": "NOT RECOVERED/NOT RESOLVED",
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303
    dash = browser_login(app_client, "admin").get("/dashboard")
    assert "MM-024-0105" in dash.text and "Myelodysplastic syndrome" in dash.text
    audit = c.get(f"/patients/{pid}/audit")
    assert "adverse_events" in audit.text and "coord_a" in audit.text


def test_htmx_partials_and_static(app_client: Client) -> None:
    c = browser_login(app_client, "inv_a")
    opts = c.get("/ctcae/options", params={"ctcae_term": "febrile"})
    assert '<option value="Febrile neutropenia">' in opts.text
    grade = c.get("/ctcae/grade", params={"ctcae_term": "Febrile neutropenia", "grade": "1"})
    assert "not defined" in grade.text
    assert c.get("/static/htmx.min.js").status_code == 200


def test_edit_with_stale_version_shows_newer_values(app_client: Client) -> None:
    c = browser_login(app_client, "inv_a")
    token = csrf_of(c.get("/patients/new").text)
    r = c.post("/patients/new", data={**PATIENT_FORM, "csrf_token": token}, follow_redirects=False)
    pid = r.headers["location"].rsplit("/", 1)[1]
    visit = {"csrf_token": token, "visit_date": "2013-06-01", "alive": "on"}
    c.post(f"/patients/{pid}/visits/new", data=visit)
    first = c.post(
        f"/patients/{pid}/visits/1/edit",
        data={**visit, "visit_date": "2013-06-02", "version": "1", "reason": "typo"},
        follow_redirects=False,
    )
    assert first.status_code == 303
    # Target 4 months after the 2013-02-01 assessment is 2013-06-01: in the window.
    row = re.search(r'<tr[^>]*id="visits-1">(.*?)</tr>', c.get(f"/patients/{pid}").text, re.S)
    assert row is not None
    assert '<td class="date">2013-06-02</td>' in row.group(1)
    assert "(visit 1: done in window)" in row.group(1)
    second = c.post(
        f"/patients/{pid}/visits/1/edit",
        data={**visit, "visit_date": "2013-06-03", "version": "1", "reason": "mine"},
    )
    assert second.status_code == 409
    assert "Someone else saved this record first" in second.text and "2013-06-02" in second.text
    no_reason = c.post(f"/patients/{pid}/visits/1/edit", data={**visit, "version": "2"})
    assert no_reason.status_code == 422 and 'id="error-reason"' in no_reason.text


def test_logout_ends_the_session(app_client: Client) -> None:
    c = browser_login(app_client, "inv_a")
    token = csrf_of(c.get("/patients").text)
    c.post("/logout", data={"csrf_token": token})
    assert c.get("/patients", follow_redirects=False).status_code == 303


def test_correct_registration_recomputes_dose_and_keeps_history(app_client: Client) -> None:
    c = browser_login(app_client, "inv_a")
    token = csrf_of(c.get("/patients/new").text)
    r = c.post("/patients/new", data={**PATIENT_FORM, "csrf_token": token}, follow_redirects=False)
    pid = r.headers["location"].rsplit("/", 1)[1]
    form = c.get(f"/patients/{pid}/edit")
    assert 'name="version" value="1"' in form.text
    fixed = {
        **PATIENT_FORM,
        "creatinine": "0.8",
        "csrf_token": token,
        "version": "1",
        "reason": "creatinine transcribed wrongly",
        "site_code": "01",
    }
    r = c.post(f"/patients/{pid}/edit", data=fixed, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = c.get(f"/patients/{pid}")
    # (140 - 72) * 55 / (72 * 0.8) * 0.85 = 3740 / 57.6 * 0.85 = 55.19 -> still 10 mg daily
    assert "55.2 mL/min" in page.text
    trail = c.get(f"/patients/{pid}/audit").text
    assert "creatinine transcribed wrongly" in trail and "1.3" in trail and "0.8" in trail
    moved = c.post(f"/patients/{pid}/edit", data={**fixed, "version": "2", "site_code": "02"})
    assert moved.status_code == 422 and "own site" in moved.text


def test_pages_set_security_headers(app_client: Client) -> None:
    r = app_client(None).get("/login")
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["Cache-Control"] == "no-store"


def test_a_loaded_patient_shows_the_transfer_and_its_disposition_events(
    study: Study, app_client: Callable[[str | None], TestClient]
) -> None:
    from sqlalchemy import select

    from eap.store.models import Patient
    from eap.store.transfer import load_sdtm
    from tests.store.test_transfer import subset

    load_sdtm(study.url, subset(1), transfer="MM-021 transfer 1", today=TODAY)
    with study.sessions() as db:
        patient = db.scalars(select(Patient).where(Patient.outcome == "safety_follow_up")).one()
        pid, site = patient.id, patient.site_id
    monitor = app_client("monitor")
    api = monitor.get(f"/api/patients/{pid}").json()
    domains = {t["domain"]: t for t in api["transferred"]}
    assert {"DM", "EX", "DS"} <= set(domains)
    assert domains["DM"] == {"domain": "DM", "transfer": "MM-021 transfer 1", "records": 1}
    page = monitor.get(f"/patients/{pid}").text
    assert "Transferred data" in page and "MM-021 transfer 1" in page
    assert "Enrolled in parent trial (transferred)" in page
    # Site scoping holds for loaded patients too.
    outsider = "inv_b" if site == 1 else "inv_a"
    assert app_client(outsider).get(f"/api/patients/{pid}").status_code == 404


def test_editing_a_record_of_an_unknown_kind_is_not_found(app_client: Client) -> None:
    """Found by the route fuzz: a kind that is no record kind ('１', a full-width digit)
    answered 500 on the edit form's POST instead of 404, as the other routes answer."""
    c = browser_login(app_client, "inv_a")
    token = csrf_of(c.get("/patients/new").text)
    r = c.post("/patients/new", data={**PATIENT_FORM, "csrf_token": token}, follow_redirects=False)
    pid = r.headers["location"].rsplit("/", 1)[1]
    for kind in ("１", "nosuchkind"):
        edit = c.post(
            f"/patients/{pid}/{kind}/1/edit",
            data={"csrf_token": token, "version": "1", "reason": "typo"},
        )
        assert edit.status_code == 404, kind
    visit = {"csrf_token": token, "visit_date": "2013-06-01", "alive": "on"}
    c.post(f"/patients/{pid}/visits/new", data=visit)
    known = c.post(
        f"/patients/{pid}/visits/1/edit",
        data={**visit, "version": "1", "reason": "typo"},
        follow_redirects=False,
    )
    assert known.status_code == 303  # the same form, for a record kind that exists

"""Entry checks through the API and the pages: registration that says nothing about other
sites, plausibility ranges beside the field, bounded ids, ASCII digits, the query workflow."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from eap.web.forms import ascii_int
from tests.web.test_access_matrix import VALUES
from tests.web.test_pages import PATIENT_FORM, browser_login, csrf_of

Client = Callable[[str | None], TestClient]

NOT_OURS = (
    "not a subject number site 01 can register; expected an MM-021 subject number of "
    "site 01 (it begins with 01) that is not registered yet"
)


def _register(c: TestClient, subjid: str, **over: Any) -> dict[str, Any]:
    r = c.post("/api/patients", json={**VALUES["patient"], "subjid": subjid, **over})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


# --------------------------------------------------------------------------- registration


def test_api_answers_alike_for_a_taken_and_a_free_number_of_another_site(
    app_client: Client,
) -> None:
    _register(app_client("inv_b"), "0201")
    site_a = app_client("inv_a")
    taken = site_a.post("/api/patients", json={**VALUES["patient"], "subjid": "0201"})
    free = site_a.post("/api/patients", json={**VALUES["patient"], "subjid": "0202"})
    assert (taken.status_code, taken.json()) == (free.status_code, free.json())
    assert taken.status_code == 422
    assert taken.json() == {"detail": "edit checks failed", "errors": {"subjid": NOT_OURS}}


def test_form_answers_alike_for_a_taken_and_a_free_number_of_another_site(
    app_client: Client,
) -> None:
    _register(app_client("inv_b"), "0201")
    c = browser_login(app_client, "inv_a")
    csrf = csrf_of(c.get("/patients/new").text)
    pages = []
    for subjid in ("0201", "0202"):
        r = c.post("/patients/new", data={**PATIENT_FORM, "subjid": subjid, "csrf_token": csrf})
        pages.append((r.status_code, r.text.replace(subjid, "<typed>")))
    assert pages[0] == pages[1]
    assert pages[0][0] == 422 and f'id="error-subjid">{NOT_OURS}<' in pages[0][1]


# --------------------------------------------------------------------------- ranges


def test_api_refuses_an_implausible_creatinine_with_field_range_and_unit(
    app_client: Client,
) -> None:
    c = app_client("inv_a")
    r = c.post("/api/patients", json={**VALUES["patient"], "subjid": "0101", "creatinine": 1e-300})
    assert r.status_code == 422
    assert r.json()["errors"] == {
        "creatinine": "creatinine must be 0.1 to 20 mg/dL; found 1e-300 mg/dL"
    }
    assert c.get("/api/patients").json() == []


def test_form_shows_the_range_beside_the_field(app_client: Client) -> None:
    c = browser_login(app_client, "coord_a")
    csrf = csrf_of(c.get("/patients/new").text)
    r = c.post("/patients/new", data={**PATIENT_FORM, "weight_kg": "350.1", "csrf_token": csrf})
    assert r.status_code == 422
    assert 'id="error-weight_kg">weight_kg must be 20 to 350 kg; found 350.1 kg<' in r.text
    r = c.post(
        "/patients/new",
        data={**PATIENT_FORM, "weight_kg": "350", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303


def test_api_refuses_a_cycle_after_a_gap(app_client: Client) -> None:
    c = app_client("inv_a")
    pid = _register(c, "0101")["id"]
    body = {"cycle": 10, "start_date": "2013-02-01", "dose": 25}
    r = c.post(f"/api/patients/{pid}/dosing", json=body)
    assert r.status_code == 422
    assert r.json()["errors"]["cycle"].startswith("cycles are recorded in order without gaps")
    first = {"cycle": 1, "start_date": "2013-01-15", "dose": 25}
    assert c.post(f"/api/patients/{pid}/dosing", json=first).status_code == 201


# --------------------------------------------------------------------------- ids and digits


def test_path_ids_are_bounded(app_client: Client) -> None:
    c = app_client("admin")
    pid = _register(c, "0101", site_code="01")["id"]
    for bad in ("99999999999999999999", "2147483648", "0", "-1"):
        for url in (f"/api/patients/{bad}", f"/patients/{bad}", f"/api/patients/{pid}/ae/{bad}"):
            r = c.get(url)
            assert r.status_code == 422, (url, r.text)
            assert set(r.json()["errors"]) <= {"patient_id", "record_id"}
    assert c.get("/api/patients/2147483647").status_code == 404
    assert c.get(f"/api/patients/{pid}/ae/2147483647").status_code == 404


def test_only_ascii_digits_make_a_form_number() -> None:
    assert [ascii_int(t) for t in ("12", " 7 ", "0", "2147483647")] == [12, 7, 0, 2147483647]
    for text in ("²", "١", "１", "2147483648", "99999999999999999999", "-1", "+1", "1.0", ""):
        assert ascii_int(text) is None, text
    assert ascii_int("99", high=99) == 99 and ascii_int("100", high=99) is None


def test_unicode_digits_are_not_numbers(app_client: Client) -> None:
    admin = app_client("admin")
    pid = _register(admin, "0101", site_code="01")["id"]
    ae = admin.post(f"/api/patients/{pid}/ae", json=VALUES["ae"]).json()
    c = browser_login(app_client, "inv_a")
    csrf = csrf_of(c.get(f"/patients/{pid}/ae/{ae['id']}/edit").text)
    form = {
        "reported_term": "Fatigue",
        "ctcae_term": "Fatigue",
        "grade": "2",
        "start_date": "2013-04-01",
        "reason": "typo",
        "csrf_token": csrf,
    }
    r = c.post(f"/patients/{pid}/ae/{ae['id']}/edit", data={**form, "version": "²"})
    assert r.status_code == 422 and "version: version must be a whole number" in r.text
    r = c.post(f"/patients/{pid}/ae/{ae['id']}/delete", data={**form, "version": "١"})
    assert r.status_code == 422
    r = c.post(f"/patients/{pid}/queries/1", data={"status": "answered", "version": "²", **form})
    assert r.status_code == 422
    r = c.get("/ctcae/grade", params={"ctcae_term": "Anemia", "grade": "²"})
    assert r.status_code == 200
    assert c.get(f"/api/patients/{pid}/ae/{ae['id']}").json()["version"] == 1


# --------------------------------------------------------------------------- queries


def test_query_workflow_through_the_api(app_client: Client) -> None:
    site, dm = app_client("inv_a"), app_client("dm")
    pid = _register(site, "0101")["id"]
    url = f"/api/patients/{pid}/queries"
    qid = dm.post(url, json={"field": "weight_kg", "question": "70 kg?"}).json()["id"]
    r = site.put(
        f"{url}/{qid}",
        json={
            "version": 1,
            "reason": "checked the source",
            "values": {"status": "answered", "answer": "70 kg in source"},
        },
    )
    assert r.status_code == 200, r.text
    r = dm.put(
        f"{url}/{qid}", json={"version": 2, "values": {"status": "closed", "note": "accepted"}}
    )
    assert r.status_code == 200
    assert (r.json()["answer"], r.json()["dm_note"]) == ("70 kg in source", "accepted")
    r = site.put(
        f"{url}/{qid}", json={"version": 3, "values": {"status": "answered", "answer": "x"}}
    )
    assert r.status_code == 409
    assert r.json()["detail"] == (
        "data_queries.status: a query that is closed cannot become answered; "
        "expected reopened, found answered"
    )
    trail = site.get(f"/api/patients/{pid}/audit").json()
    answered = [e for e in trail if e["table"] == "data_queries" and e["new"] == "answered"]
    assert [e["reason"] for e in answered] == ["checked the source"]


def test_query_on_another_sites_record_is_refused_as_missing(app_client: Client) -> None:
    admin, dm = app_client("admin"), app_client("dm")
    a = _register(admin, "0101", site_code="01")["id"]
    b = _register(admin, "0201", site_code="02")["id"]
    ae_b = admin.post(f"/api/patients/{b}/ae", json=VALUES["ae"]).json()["id"]
    ae_a = admin.post(f"/api/patients/{a}/ae", json=VALUES["ae"]).json()["id"]
    ask = {"record_table": "adverse_events", "question": "grade?"}
    foreign = dm.post(f"/api/patients/{a}/queries", json={**ask, "record_id": ae_b})
    missing = dm.post(f"/api/patients/{a}/queries", json={**ask, "record_id": 999_999})
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()
    own = dm.post(f"/api/patients/{a}/queries", json={**ask, "record_id": ae_a})
    assert own.status_code == 201 and own.json()["record_id"] == ae_a


def test_a_reason_with_control_characters_is_refused_beside_the_field(app_client: Client) -> None:
    admin = app_client("admin")
    pid = _register(admin, "0101", site_code="01")["id"]
    ae = admin.post(f"/api/patients/{pid}/ae", json=VALUES["ae"]).json()
    c = browser_login(app_client, "inv_a")
    csrf = csrf_of(c.get(f"/patients/{pid}/ae/{ae['id']}/edit").text)
    form = {**VALUES["ae"], "grade": "3", "version": "1", "csrf_token": csrf}
    r = c.post(f"/patients/{pid}/ae/{ae['id']}/edit", data={**form, "reason": "typo\x00"})
    assert r.status_code == 422
    assert 'id="error-reason">a reason cannot hold control characters<' in r.text
    assert c.get(f"/api/patients/{pid}/ae/{ae['id']}").json()["grade"] == 2


def test_query_workflow_through_the_pages(app_client: Client) -> None:
    pid = _register(app_client("inv_a"), "0101")["id"]
    dm, site = browser_login(app_client, "dm"), browser_login(app_client, "inv_a")
    dm_csrf = csrf_of(dm.get(f"/patients/{pid}").text)
    site_csrf = csrf_of(site.get(f"/patients/{pid}").text)
    r = dm.post(
        f"/patients/{pid}/queries",
        data={"question": "70 kg?", "csrf_token": dm_csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    qid = app_client("dm").get(f"/api/patients/{pid}/queries").json()[0]["id"]
    url = f"/patients/{pid}/queries/{qid}"

    def post(c: TestClient, csrf: str, **form: str) -> Any:
        return c.post(url, data={**form, "csrf_token": csrf}, follow_redirects=False)

    r = post(dm, dm_csrf, status="closed", version="1")
    assert r.status_code == 409 and "a query that is open cannot become closed" in r.text
    r = post(site, site_csrf, status="answered", version="1", answer="70 kg in source")
    assert r.status_code == 303
    r = post(dm, dm_csrf, status="closed", version="2", note="accepted")
    assert r.status_code == 303
    r = post(site, site_csrf, status="answered", version="3", answer="changed")
    assert r.status_code == 409 and "a query that is closed cannot become answered" in r.text
    page = dm.get(f"/patients/{pid}").text
    assert "70 kg in source" in page and "accepted" in page and "changed" not in page

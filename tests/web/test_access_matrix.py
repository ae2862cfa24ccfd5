"""Every route, called as every role, against a patient of site B (code 02).

Site A's investigator and coordinator must get 403 or 404 everywhere and never
see site B's subject number; the monitor reads but cannot change; the data
manager reads and raises queries but cannot change clinical data. Nothing of
site B may change through site A's calls.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from starlette.routing import Route

from eap.store.models import AuditLog
from tests.store.helpers import ACCOUNTS, Study

Client = Callable[[str | None], TestClient]

B_SUBJECT = "MM-024-0201"
VALUES: dict[str, dict[str, Any]] = {
    "dosing": {
        "cycle": 2,
        "start_date": "2013-02-15",
        "dose": 20,
        "frequency": "daily",
        "reduced": True,
        "adjustment_reason": "neutropenia",
    },
    "ae": {
        "reported_term": "Fatigue",
        "ctcae_term": "Fatigue",
        "grade": 2,
        "start_date": "2013-04-01",
    },
    "visits": {"visit_date": "2013-05-12"},
    "death": {"death_date": "2015-01-01", "cause": "Pneumonia"},
    "discontinuation": {"discontinuation_date": "2014-06-01", "reason": "progression"},
    "patient": {
        "subjid": "0201",
        "sex": "F",
        "age": 70,
        "weight_kg": 60,
        "creatinine": 1.0,
        "assessment_date": "2013-01-10",
        "consent_signed": True,
        "lenalidomide_start_date": "2011-12-01",
    },
}


def _site_b_patient(admin: TestClient) -> dict[str, int]:
    """Site B's patient with one record of each kind and one query; their ids."""
    p = admin.post("/api/patients", json={**VALUES["patient"], "site_code": "02"})
    assert p.status_code == 201, p.text
    pid = p.json()["id"]
    ids = {"patient_id": pid}
    first = {
        "dosing": {"cycle": 1, "start_date": "2013-01-15", "dose": 25, "frequency": "daily"},
        "ae": {
            "reported_term": "Anemia",
            "ctcae_term": "Anemia",
            "grade": 1,
            "start_date": "2013-03-01",
        },
        "visits": {"visit_date": "2013-05-10"},
        "discontinuation": {"discontinuation_date": "2014-01-01", "reason": "progression"},
        "death": {"death_date": "2016-01-01", "cause": "Myeloma"},
    }
    for kind, body in first.items():
        r = admin.post(f"/api/patients/{pid}/{kind}", json=body)
        assert r.status_code == 201, (kind, r.text)
        ids[kind] = r.json()["id"]
    q = admin.post(f"/api/patients/{pid}/queries", json={"question": "check weight"})
    ids["query_id"] = q.json()["id"]
    return ids


def all_routes() -> list[Any]:
    """Every API and page route (the app's own list nests included routers)."""
    from eap.web import api, pages

    return [*api.router.routes, *pages.router.routes]


def _calls(ids: dict[str, int], csrf: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, url, request kwargs) for every route that takes a patient."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    for route in all_routes():
        if not isinstance(route, APIRoute | Route) or "{patient_id}" not in route.path:
            continue
        is_api = route.path.startswith("/api")
        kinds = list(VALUES)[:5] if "{kind}" in route.path else [None]
        for method in sorted(route.methods or []):
            if method == "HEAD":
                continue
            for kind in kinds:
                path = route.path.replace("{kind}", kind) if kind else route.path
                m = re.search(r"/api/patients/\{patient_id\}/(\w+)", path)
                rkind = kind or (m.group(1) if m else None)
                rid = ids.get(rkind or "", ids["patient_id"])
                url = (
                    path.replace("{patient_id}", str(ids["patient_id"]))
                    .replace("{record_id}", str(rid))
                    .replace("{query_id}", str(ids["query_id"]))
                )
                body: dict[str, Any] = {}
                values = VALUES.get(rkind or "patient", VALUES["patient"])
                if "queries" in path:
                    values = {"question": "why?"} if method == "POST" else {"status": "closed"}
                if is_api and method == "POST":
                    body = {"json": values}
                elif is_api and method == "PUT":
                    body = {"json": {"version": 1, "reason": "matrix", "values": values}}
                elif is_api and method == "DELETE":
                    body = {"json": {"version": 1, "reason": "matrix"}}
                elif method == "POST":
                    form = {k: str(v) for k, v in values.items()}
                    form.update(
                        csrf_token=csrf,
                        version="1",
                        reason="matrix",
                        status="closed",
                        question="why?",
                        answer="a",
                    )
                    body = {"data": form}
                out.append((method, url, body))
    return out


def _trail_size(study: Study) -> int:
    with study.sessions() as db:
        return int(db.scalar(select(func.count()).select_from(AuditLog)) or 0)


def test_every_route_every_role_against_site_b(study: Study, app_client: Client) -> None:
    admin = app_client("admin")
    ids = _site_b_patient(admin)
    seen = 0
    for role in ("inv_a", "coord_a", "monitor", "dm"):
        client = app_client(role)
        csrf = client.headers["X-CSRF-Token"]
        before = _trail_size(study)
        for method, url, body in _calls(ids, csrf):
            r = client.request(method, url, follow_redirects=False, **body)
            seen += 1
            where = f"{role} {method} {url}: {r.status_code} {r.text[:200]}"
            assert r.status_code < 500, where
            if ACCOUNTS[role][1] == "01":
                assert r.status_code in (403, 404), where
                assert B_SUBJECT not in r.text, where
            elif method == "GET" and url.endswith(("/new", "/edit")):
                assert r.status_code == 403, where  # entry forms are for sites and sponsor
            elif method == "GET":
                assert r.status_code == 200, where
            elif role == "monitor" or "queries" not in url:
                assert r.status_code == 403, where
        if role != "dm":
            assert _trail_size(study) == before, f"{role} changed site B data"
    assert seen > 100
    # Lists and the dashboard never show site B to site A.
    site_a = app_client("inv_a")
    for url in ("/api/patients", "/api/dashboard", "/patients", "/dashboard", "/api/sites"):
        r = site_a.get(url)
        assert r.status_code == 200 and B_SUBJECT not in r.text, url
    assert B_SUBJECT in app_client("monitor").get("/api/patients").text


def test_site_user_cannot_register_at_another_site(app_client: Client) -> None:
    c = app_client("inv_a")
    r = c.post("/api/patients", json={**VALUES["patient"], "site_code": "02"})
    assert r.status_code == 422 and "own site" in r.json()["errors"]["site_code"]
    assert app_client("monitor").post("/api/patients", json=VALUES["patient"]).status_code == 403

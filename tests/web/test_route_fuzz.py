"""No 5xx for any route: absurd path ids, query strings, JSON bodies and form values.

Every route of the application (``app.routes``) is called with each of its methods,
as the sponsor administrator (the role that reaches the most code), with path
parameters drawn from numbers far outside 32 bits, Unicode digits ("²", "٣", "１"),
signs, exponents and any text, and bodies whose values are anything JSON or a form
can carry. The study holds a patient with a record of each kind and a query, so
small ids reach real rows.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route

from eap.web.forms import KIND_FIELDS, PATIENT_FIELDS
from tests.web.test_access_matrix import VALUES

Client = Callable[[str | None], TestClient]

# Routes that end the fuzzing client's own session are left out (they are plain deletes).
SKIPPED = {("DELETE", "/api/session"), ("POST", "/logout")}

absurd_ids = st.one_of(
    st.sampled_from(
        [
            "0",
            "1",
            "2",
            "-1",
            "2147483647",
            "2147483648",
            "4294967296",
            "99999999999999999999",
            "-99999999999999999999",
            "²",
            "١٢",
            "１",
            "1e3",
            "0x10",
            "1.5",
            "+1",
            "NaN",
            "inf",
        ]
    ),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.text(min_size=1, max_size=12),
)
text_values = st.one_of(
    absurd_ids,
    st.text(max_size=50),
    st.text(alphabet=st.characters(max_codepoint=31), min_size=1, max_size=4),
    st.just("x" * 3000),
    st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)).map(str),
)
json_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    text_values,
    st.lists(st.integers(), max_size=2),
)
FORM_KEYS = sorted(
    {f.name for f in PATIENT_FIELDS}
    | {f.name for fields in KIND_FIELDS.values() for f in fields}
    | {"version", "reason", "status", "answer", "note", "question", "field", "record_id"}
)
JSON_KEYS = sorted(
    {k for values in VALUES.values() for k in values}
    | {"status", "answer", "note", "question", "record_table", "record_id", "site_code"}
)


def _flatten(routes: list[Any]) -> list[Any]:
    """``app.routes`` with included routers opened up (FastAPI nests them)."""
    out: list[Any] = []
    for route in routes:
        included = getattr(route, "original_router", None)
        out += _flatten(included.routes) if included is not None else [route]
    return out


def _routes(client: TestClient) -> list[tuple[str, str]]:
    app: Any = client.app
    out = []
    for route in _flatten(app.routes):
        if not isinstance(route, APIRoute | Route):
            continue
        for method in sorted(route.methods or []):
            if method != "HEAD" and (method, route.path) not in SKIPPED:
                out.append((method, route.path))
    return out


def test_every_route_is_fuzzed(app_client: Client) -> None:
    routes = _routes(app_client(None))
    assert len(routes) > 50
    assert ("GET", "/api/patients/{patient_id}/{kind}/{record_id}") not in routes
    assert ("PUT", "/api/patients/{patient_id}/queries/{query_id}") in routes
    assert ("POST", "/patients/{patient_id}/{kind}/{record_id}/edit") in routes


def _seed(admin: TestClient) -> None:
    """A patient of site 01 with a record of each kind and a query (ids 1 mostly)."""
    r = admin.post("/api/patients", json={**VALUES["patient"], "subjid": "0101", "site_code": "01"})
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    bodies = {
        "dosing": {"cycle": 1, "start_date": "2013-01-15", "dose": 25},
        "ae": VALUES["ae"],
        "visits": VALUES["visits"],
        "discontinuation": VALUES["discontinuation"],
        "death": VALUES["death"],
    }
    for kind, body in bodies.items():
        assert admin.post(f"/api/patients/{pid}/{kind}", json=body).status_code == 201, kind
    assert admin.post(f"/api/patients/{pid}/queries", json={"question": "why?"}).status_code == 201


def _url(path: str, data: st.DataObject) -> str:
    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        if name == "kind" and data.draw(st.booleans()):
            return data.draw(
                st.sampled_from(["dosing", "ae", "visits", "death", "discontinuation"])
            )
        return quote(data.draw(absurd_ids), safe="")

    return re.sub(r"\{(\w+)\}", value, path)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_route_answers_5xx(app_client: Client, data: st.DataObject) -> None:
    admin = app_client("admin")
    if not admin.get("/api/patients").json():
        _seed(admin)
    csrf = admin.headers["X-CSRF-Token"]
    for method, path in _routes(admin):
        url = _url(path, data)
        params = {k: data.draw(text_values) for k in ("q", "term", "grade", "ctcae_term")}
        kwargs: dict[str, Any] = {"params": params}
        if method in ("POST", "PUT", "DELETE") and path.startswith("/api"):
            values = {
                k: data.draw(json_values) for k in data.draw(st.sets(st.sampled_from(JSON_KEYS)))
            }
            body: Any = values
            if method in ("PUT", "DELETE"):
                body = {
                    "version": data.draw(json_values),
                    "reason": data.draw(json_values),
                    "values": values,
                }
            kwargs["content"] = json.dumps(body, allow_nan=True)
            kwargs["headers"] = {"Content-Type": "application/json"}
        elif method == "POST":
            form = {
                k: data.draw(text_values) for k in data.draw(st.sets(st.sampled_from(FORM_KEYS)))
            }
            kwargs["data"] = {**form, "csrf_token": csrf}
        r = admin.request(method, url, follow_redirects=False, **kwargs)
        assert r.status_code < 500, (method, url, kwargs, r.text[:300])

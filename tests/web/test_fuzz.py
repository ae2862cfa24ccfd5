"""Bad input on every API field: never a 500, never a stored invalid row.

Each create endpoint gets bodies where any field may be replaced by a value of
another type or an extreme (huge integers, NaN, control characters, far dates,
nested objects). A refused request stores nothing (not even a trail row); an
accepted one reads back.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from eap.store.models import AuditLog
from tests.store.helpers import Study
from tests.web.test_access_matrix import VALUES

Client = Callable[[str | None], TestClient]

# The first record of each kind: a patient's first dosing record is cycle 1 (cycles are
# recorded without gaps), so a fuzzed body can be accepted.
FIRST: dict[str, dict[str, Any]] = {**VALUES, "dosing": {**VALUES["dosing"], "cycle": 1}}

weird = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=300),
    st.text(alphabet=st.characters(max_codepoint=31), max_size=5),
    st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)).map(str),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _mutate(base: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    body = dict(base)
    for key in list(body):
        if data.draw(st.booleans()):
            body[key] = data.draw(weird)
    if data.draw(st.booleans()):
        body.pop(data.draw(st.sampled_from(sorted(body))), None)
    if data.draw(st.integers(0, 9)) == 0:
        body["unexpected"] = 1
    return body


def _rows(study: Study) -> int:
    with study.sessions() as db:
        return int(db.scalar(select(func.count()).select_from(AuditLog)) or 0)


@pytest.mark.parametrize("kind", ["patient", "dosing", "ae", "visits", "death", "discontinuation"])
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_fuzzed_bodies(study: Study, app_client: Client, kind: str, data: st.DataObject) -> None:
    c = app_client("admin")
    existing = c.get("/api/patients").json()
    if existing:
        pid = existing[0]["id"]
    else:
        pid = c.post(
            "/api/patients", json={**VALUES["patient"], "subjid": "0199", "site_code": "01"}
        ).json()["id"]
    base = {**VALUES[kind], "site_code": "01"} if kind == "patient" else FIRST[kind]
    url = "/api/patients" if kind == "patient" else f"/api/patients/{pid}/{kind}"
    body = _mutate(base, data)
    before = _rows(study)
    r = c.post(
        url,
        content=json.dumps(body, allow_nan=True),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code < 500, (body, r.text)
    if r.status_code != 201:
        assert r.status_code in (400, 403, 404, 409, 422), r.text
        assert _rows(study) == before, "a refused request stored something"
    else:
        record_id = r.json()["id"]
        path = f"/api/patients/{record_id}" if kind == "patient" else f"{url}/{record_id}"
        assert c.get(path).status_code == 200


@pytest.mark.parametrize("kind", ["dosing", "ae", "visits"])
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_fuzzed_updates(study: Study, app_client: Client, kind: str, data: st.DataObject) -> None:
    """PUT bodies: version, reason and every value fuzzed; a refusal changes nothing."""
    c = app_client("admin")
    existing = c.get("/api/patients").json()
    if existing:
        pid = existing[0]["id"]
    else:
        pid = c.post(
            "/api/patients", json={**VALUES["patient"], "subjid": "0198", "site_code": "01"}
        ).json()["id"]
    rows = c.get(f"/api/patients/{pid}/{kind}").json()
    record = rows[0] if rows else c.post(f"/api/patients/{pid}/{kind}", json=FIRST[kind]).json()
    outer = {"version": record["version"], "reason": "fuzz", "values": _mutate(FIRST[kind], data)}
    body = _mutate(outer, data) if data.draw(st.booleans()) else outer
    before = _rows(study)
    r = c.put(
        f"/api/patients/{pid}/{kind}/{record['id']}",
        content=json.dumps(body, allow_nan=True),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code < 500, (body, r.text)
    if r.status_code != 200:
        assert r.status_code in (400, 403, 404, 409, 422), r.text
        assert _rows(study) == before, "a refused update stored something"
        after = c.get(f"/api/patients/{pid}/{kind}/{record['id']}").json()
        assert after["version"] == record["version"]

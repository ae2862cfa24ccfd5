"""The patient page of a loaded patient: the transferred course in the page's sections and
timeline, marked and read-only, set aside with a reason; the schedule as of the cutoff."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from eap.store.models import Patient, TransferredRecord
from eap.store.transfer import load_sdtm
from tests.store.helpers import TODAY, Study
from tests.store.test_transfer import subset
from tests.web.test_pages import browser_login, csrf_of

Client = Callable[[str | None], TestClient]
TRANSFER = "MM-021 transfer 1"


@pytest.fixture
def loaded(study: Study) -> tuple[int, dict[str, int]]:
    """The treatment-cohort patient of a one-per-arm cohort subset, and one transferred
    record id of each domain shown in the page's sections."""
    load_sdtm(study.url, subset(1), transfer=TRANSFER, today=TODAY)
    with study.sessions() as db:
        pid = db.scalars(select(Patient.id).where(Patient.outcome == "treatment")).one()
        rows = db.execute(
            select(TransferredRecord.domain, TransferredRecord.id).where(
                TransferredRecord.patient_id == pid
            )
        ).all()
    ids: dict[str, int] = {}
    for domain, rid in rows:
        ids.setdefault(domain, rid)
    return pid, ids


def row_of(html: str, rid: int) -> str:
    m = re.search(rf'<tr class="([^"]*)" id="transferred-{rid}">(.*?)</tr>', html, re.S)
    assert m, f"no row for transferred record {rid}"
    return f"{m.group(1)}|{m.group(2)}"


def test_the_transferred_course_is_shown_marked_and_read_only(
    loaded: tuple[int, dict[str, int]], app_client: Client
) -> None:
    pid, ids = loaded
    monitor = app_client("monitor").get(f"/patients/{pid}").text
    admin = app_client("admin").get(f"/patients/{pid}").text
    for heading in ("Dosing", "Adverse event", "Follow-up visit", "Responses", "Disposition"):
        assert f"<h2>{heading}</h2>" in admin
    for domain in ("EX", "SV", "RS", "DS"):
        rid = ids[domain]
        for page in (monitor, admin):
            row = row_of(page, rid)
            assert '<span class="tag">transferred</span>' in row and domain in row
            assert "read-only" in row
            # No correction form for a transferred record: it stays as received.
            assert "/edit" not in row
        # Setting aside (with a reason) is offered to those who write clinical data only.
        assert f"/transferred/{rid}/delete" in row_of(admin, rid)
        assert "/delete" not in row_of(monitor, rid)
    # The timeline holds the transferred course, marked.
    timeline = admin.split("<h2>Timeline</h2>", 1)[1].split("</table>", 1)[0]
    assert "Cycle 1: lenalidomide" in timeline and "(transferred)" in timeline
    assert '<span class="tag">SV</span>' in timeline
    # A loaded patient is judged as of the transfer's cutoff (the cohort's latest date),
    # not the application's today (2016-06-01).
    assert "Judged as of <strong>2014-11-05</strong> (the data cutoff" in admin


def test_a_transferred_record_is_set_aside_with_a_reason(
    study: Study, loaded: tuple[int, dict[str, int]], app_client: Client
) -> None:
    pid, ids = loaded
    rid = ids["RS"]
    c = browser_login(app_client, "admin")
    token = csrf_of(c.get(f"/patients/{pid}").text)
    url = f"/patients/{pid}/transferred/{rid}/delete"
    refused = c.post(url, data={"csrf_token": token, "version": "1", "reason": " "})
    assert refused.status_code == 422 and "needs a reason" in refused.text
    with study.sessions() as db:
        record = db.get(TransferredRecord, rid)
        assert record is not None and (record.deleted, record.version) == (False, 1)
    done = c.post(
        url,
        data={"csrf_token": token, "version": "1", "reason": "response of another visit"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    row = row_of(c.get(f"/patients/{pid}").text, rid)
    assert row.startswith("deleted transferred|")
    assert "deleted: response of another visit" in row and "/delete" not in row
    # The DM row is not set aside on its own (the registration corrects it).
    dm = c.post(
        f"/patients/{pid}/transferred/{ids['DM']}/delete",
        data={"csrf_token": token, "version": "1", "reason": "x"},
    )
    assert dm.status_code == 422


def test_the_api_lists_and_sets_aside_transferred_records(
    loaded: tuple[int, dict[str, int]], app_client: Client
) -> None:
    pid, ids = loaded
    admin = app_client("admin")
    listed = admin.get(f"/api/patients/{pid}/transferred").json()
    assert {e["section"] for e in listed} >= {"dosing", "visits", "responses", "disposition"}
    assert all(e["transfer"] == TRANSFER and not e["deleted"] for e in listed)
    url = f"/api/patients/{pid}/transferred/{ids['EX']}"
    body = {"version": 1, "reason": "dose of another subject"}
    assert app_client("monitor").request("DELETE", url, json=body).status_code == 403
    r = admin.request("DELETE", url, json=body)
    assert r.status_code == 200 and r.json()["deleted"] is True and r.json()["version"] == 2

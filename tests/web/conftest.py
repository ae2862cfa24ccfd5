"""A web application over a fresh study database, and clients logged in as each role."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from eap.web.app import create_app
from tests.store.helpers import PASSWORD, TODAY, Study, make_study


@pytest.fixture
def study(db_url: str) -> Study:
    return make_study(db_url)


@pytest.fixture
def app_client(study: Study) -> Iterator[Callable[[str | None], TestClient]]:
    """``client(username)`` is a TestClient logged in through POST /api/session, with the
    CSRF header set; ``client(None)`` is anonymous."""
    app = create_app(study.url, today=lambda: TODAY)
    clients: list[TestClient] = []

    def client(username: str | None) -> TestClient:
        c = TestClient(app, base_url="https://testserver")
        clients.append(c)
        if username is not None:
            r = c.post("/api/session", json={"username": username, "password": PASSWORD})
            assert r.status_code == 200, r.text
            c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return c

    yield client
    for c in clients:
        c.close()
    app.state.engine.dispose()

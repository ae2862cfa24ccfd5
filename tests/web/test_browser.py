"""A real browser: Playwright drives Debian's chromium (headless) against ``eap serve``'s app.

Logs in, registers a patient, records an AE with the CTCAE term picker and finds
the AE on the sponsor dashboard. Needs /usr/bin/chromium, which ``make test``
installs (tools/chromium.sh); without it the test fails and says so.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CHROMIUM, need_chromium
from tests.store.helpers import PASSWORD, make_study

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """The application under uvicorn on a free loopback port, in a thread."""
    need_chromium()
    import uvicorn

    from eap.web.app import create_app

    url = f"sqlite:///{tmp_path / 'browser.db'}"
    make_study(url)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Plain HTTP on loopback: the cookie's Secure flag would keep it from being sent.
    config = uvicorn.Config(
        create_app(url, secure_cookies=False), host="127.0.0.1", port=port, log_level="warning"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def test_login_register_record_ae_see_dashboard(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(15000)
            page.goto(f"{server}/login")
            page.fill("#username", "inv_a")
            page.fill("#password", PASSWORD)
            page.click("form.box button[type=submit]")
            expect(page.locator("h1")).to_have_text("Patients")

            page.click("text=Register a patient from MM-021")
            page.fill("#f-subjid", "0108")
            page.select_option("#f-sex", "F")
            page.fill("#f-age", "66")
            page.fill("#f-weight_kg", "58")
            page.fill("#f-creatinine", "0.9")
            page.fill("#f-assessment_date", "2013-03-01")
            page.fill("#f-lenalidomide_start_date", "2011-10-01")
            page.click("form.box button[type=submit]")
            expect(page.locator("h1")).to_contain_text("MM-024-0108")
            expect(page.locator("body")).to_contain_text("phase now: Treatment Phase")

            page.click("text=Record adverse event")
            page.fill("#f-reported_term", "Pneumonia")
            page.locator("#f-ctcae_term").press_sequentially("Lung inf", delay=30)
            # The HTMX picker fills the datalist from the server.
            expect(page.locator("#ctcae-terms option[value='Lung infection']")).to_have_count(1)
            page.fill("#f-ctcae_term", "Lung infection")
            page.select_option("#f-grade", "3")
            expect(page.locator("#grade-def")).to_contain_text("IV antibiotic")
            page.fill("#f-start_date", "2013-06-10")
            page.check("#f-serious")
            page.click("form.box button[type=submit]")
            expect(page.locator("body")).to_contain_text("AE Pneumonia (Lung infection) grade 3")

            page.click("text=Dashboard")
            row = page.locator("#open-saes tbody tr").filter(has_text="MM-024-0108")
            expect(row).to_contain_text("Lung infection")
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        finally:
            browser.close()

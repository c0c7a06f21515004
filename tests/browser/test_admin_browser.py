"""Issue 14's "done when": headless Chromium drives /admin/ over real HTTP — log in, see a dead
letter this test made, retry it, see it leave the list — and saves a screenshot of the dashboard
(``admin-dashboard.png`` under the artifacts folder, see chromium.artifact_path)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from connector.clock import ManualClock
from connector.config import settings_from_dict
from connector.jobs.queue import READY, dead_letter
from connector.runtime import Runtime
from connector.store import jobs, reading, schema
from connector.web import create_app
from tests.browser.chromium import artifact_path, serve

TOKEN = "browser-admin-token"
NOW = 1_780_000_000.0


def test_log_in_see_a_dead_letter_retry_it_and_screenshot_the_dashboard(
        tmp_path: Path, browser_page) -> None:
    settings = settings_from_dict({
        "zendesk": {"subdomain": "acme"},
        "database": {"url": f"sqlite:///{tmp_path / 'c.db'}"},
        "server": {"admin_token": TOKEN},
    })
    runtime = Runtime(settings, clock=ManualClock(NOW))
    schema.upgrade(runtime.engine)
    with runtime.engine.begin() as conn:
        keep = dead_letter(conn, "outbound", {}, "HTTP 500 from the helpdesk", now=NOW - 3600)
        job = dead_letter(conn, "inbound", {}, "no channel for +12025550142",
                          conversation_key="conversation:+12025550142", now=NOW - 60)
    page = browser_page
    try:
        with serve(create_app(runtime=runtime)) as base:
            answer = page.goto(f"{base}/admin/")
            assert answer is not None and answer.status == 401  # no token yet: the login form
            page.fill("#token", "not the token")
            page.click("button[type=submit]")
            assert page.locator("[role=alert]").inner_text() == "That is not the admin token."

            page.fill("#token", TOKEN)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/admin/")
            assert page.locator("h1").inner_text() == "Health"
            assert page.locator("#database").inner_text() == "ok"
            shot = artifact_path("admin-dashboard.png")
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000

            page.click("header >> text=Dead letters")
            row = page.locator(f"#job-{job}")
            assert row.is_visible()
            assert "+1202***0142" in row.inner_text() and "0142" in row.inner_text()
            assert "+12025550142" not in page.content()

            row.get_by_role("button", name=f"Retry job {job}").click()
            page.wait_for_selector("[role=status]")
            assert page.locator("[role=status]").inner_text() == "1 job(s) queued again."
            assert page.locator(f"#job-{job}").count() == 0  # it left the list
            assert page.locator(f"#job-{keep}").count() == 1
    finally:
        runtime.close()
    with reading(runtime.engine) as conn:
        status = conn.execute(select(jobs.c.status).where(jobs.c.id == job)).scalar_one()
    assert status == READY

"""``/admin/``: who gets in, CSRF on every form, what each page shows, what each action logs.

Every refusal is checked to change nothing. The browser drive of the same pages is
tests/browser/test_admin_browser.py.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from sqlalchemy import insert

from connector.clock import ManualClock
from connector.config import settings_from_dict
from connector.jobs.queue import DEAD, READY, dead_letter
from connector.runtime import Runtime
from connector.store import conversations, opt_outs, schema
from connector.store.timers import set_timer
from connector.web import create_app
from connector.web.admin import readings

TOKEN = "s3cret-admin-token"
NOW = 1_780_000_000.0
PHONE = "+12025550142"


def make(tmp_path: Path, token: str = TOKEN, public_url: str = "http://127.0.0.1:8080",
         engine=None, **sections: dict):
    settings = settings_from_dict({
        "zendesk": {"subdomain": "acme"},
        "database": {"url": f"sqlite:///{tmp_path / 'c.db'}"},
        "server": {"admin_token": token, "public_url": public_url},
        **sections,
    })
    runtime = Runtime(settings, clock=ManualClock(NOW), engine=engine)
    schema.upgrade(runtime.engine)
    return create_app(runtime=runtime), runtime


@pytest.fixture
def app_runtime(tmp_path, engine):
    """On SQLite, and on PostgreSQL when SMS_CONNECTOR_TEST_DATABASE_URL is set (conftest)."""
    app, runtime = make(tmp_path, engine=engine)
    yield app, runtime
    runtime.close()


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


def login(client) -> str:
    """Log in through the form; returns the session's CSRF token."""
    form = client.get("/admin/login")
    assert form.status_code == 200
    answer = client.post("/admin/login", data={"token": TOKEN, "csrf_token": csrf_of(form.text),
                                               "next": "/admin/"})
    assert answer.status_code == 303 and answer.headers["Location"] == "/admin/"
    return csrf_of(client.get("/admin/dead-letters").text)


def dead(runtime, n: int = 1) -> list[int]:
    with runtime.engine.begin() as conn:
        return [dead_letter(conn, "inbound", {}, f"no channel for {PHONE}\ntrace",
                            conversation_key=f"conv:{PHONE}", now=NOW - 60) for _ in range(n)]


def status_of(runtime) -> dict[int, str]:
    from sqlalchemy import select

    from connector.store import jobs, reading

    with reading(runtime.engine) as conn:
        return {int(i): s for i, s in conn.execute(select(jobs.c.id, jobs.c.status))}


URLS = ["/admin/", "/admin/login", "/admin/dead-letters", "/admin/conversations",
        "/admin/opt-outs", "/admin/timers", "/admin/coverage", "/admin/report"]


def test_no_token_configured_means_404_everywhere(tmp_path):
    app, runtime = make(tmp_path, token="")
    client = app.test_client()
    job = dead(runtime)[0]
    for url in URLS:
        assert client.get(url).status_code == 404, url
        assert client.get(url, headers={"Authorization": "Bearer "}).status_code == 404, url
    for url in ("/admin/login", "/admin/dead-letters/retry", "/admin/dead-letters/discard"):
        assert client.post(url, data={"id": job, "token": ""}).status_code == 404
    assert status_of(runtime) == {job: DEAD}
    runtime.close()


def test_without_credentials_every_page_answers_401_with_the_login_form(app_runtime):
    app, _ = app_runtime
    client = app.test_client()
    for url in URLS[:1] + URLS[2:]:
        answer = client.get(url)
        assert answer.status_code == 401, url
        assert answer.mimetype == "text/html"
        assert 'name="token"' in answer.text and 'name="csrf_token"' in answer.text
        assert "Log out" not in answer.text and "Dead letters" not in answer.text
    answer = client.get("/admin/timers?x=1")
    assert 'name="next" value="/admin/timers?x=1"' in answer.text


def test_bearer_token_for_scripts(app_runtime):
    app, runtime = app_runtime
    client = app.test_client()
    ok = client.get("/admin/", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and "Health" in ok.text and 'name="token"' not in ok.text
    assert "Log out" not in ok.text  # no session to end
    job = dead(runtime)[0]
    # No CSRF for a Bearer request: a browser never adds the header by itself.
    retried = client.post("/admin/dead-letters/retry", data={"id": job},
                          headers={"Authorization": f"Bearer {TOKEN}"})
    assert retried.status_code == 303 and status_of(runtime) == {job: READY}


@pytest.mark.parametrize("header", [
    "Bearer wrong",
    f"Bearer {TOKEN}x",
    f"Bearer {TOKEN[:-1]}",
    "Bearer " + "x" * 7000,
    "Bearer tökén-ünïcode",
    "Bearer ",
    f"Basic {TOKEN}",
    f"bearer{TOKEN}",
])
def test_a_wrong_bearer_is_401_and_changes_nothing(app_runtime, header):
    app, runtime = app_runtime
    client = app.test_client()
    job = dead(runtime)[0]
    for url in ("/admin/", "/admin/dead-letters"):
        answer = client.get(url, headers={"Authorization": header})
        assert answer.status_code == 401 and "Bearer" in answer.headers["WWW-Authenticate"]
    answer = client.post("/admin/dead-letters/discard", data={"id": job},
                         headers={"Authorization": header})
    assert answer.status_code == 401 and status_of(runtime) == {job: DEAD}


def test_non_latin1_bytes_in_the_header_are_a_401(app_runtime):
    app, _ = app_runtime
    client = app.test_client()
    environ = {"HTTP_AUTHORIZATION": "Bearer " + "ü€".encode().decode("latin-1")}
    assert client.get("/admin/", environ_overrides=environ).status_code == 401


def test_login_sets_a_hardened_session_cookie_and_rotates_it(app_runtime, caplog):
    app, _ = app_runtime
    client = app.test_client()
    form = client.get("/admin/login")
    before = client.get_cookie("sms_connector_admin", path="/admin")
    assert before is not None
    caplog.set_level(logging.INFO, logger="sms_connector.admin")
    answer = client.post("/admin/login", data={"token": TOKEN, "csrf_token": csrf_of(form.text)})
    assert answer.status_code == 303
    header = answer.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/admin" in header
    assert "Secure" not in header  # http public_url: the browser would drop a Secure cookie
    after = client.get_cookie("sms_connector_admin", path="/admin")
    assert after is not None and after.value != before.value
    assert TOKEN not in after.value
    page = client.get("/admin/")
    assert page.status_code == 200 and "Health" in page.text
    assert "script-src" not in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cache-Control"] == "no-store"
    [record] = [r for r in caplog.records if r.getMessage() == "admin login"]
    assert record.who.startswith("session:") and record.remote == "127.0.0.1"  # type: ignore[attr-defined]
    assert TOKEN not in caplog.text


def test_cookie_is_secure_behind_https(tmp_path):
    app, runtime = make(tmp_path, public_url="https://sms.example.com")
    client = app.test_client()
    answer = client.get("/admin/login")
    assert "Secure" in answer.headers["Set-Cookie"]
    runtime.close()


@pytest.mark.parametrize("token", ["wrong", "x" * 7000, "tökén-ünïcode ✓", "", TOKEN + " "])
def test_a_wrong_login_is_401_and_logged(app_runtime, caplog, token):
    app, _ = app_runtime
    client = app.test_client()
    form = client.get("/admin/login")
    caplog.set_level(logging.INFO, logger="sms_connector.admin")
    answer = client.post("/admin/login", data={"token": token, "csrf_token": csrf_of(form.text)})
    assert answer.status_code == 401 and "not the admin token" in answer.text
    assert client.get("/admin/").status_code == 401
    [record] = [r for r in caplog.records if r.getMessage() == "admin login failed"]
    assert record.remote == "127.0.0.1"  # type: ignore[attr-defined]
    assert token[:20] not in caplog.text or not token


def test_login_without_or_with_a_forged_csrf_token_is_403(app_runtime):
    app, _ = app_runtime
    client = app.test_client()
    # No cookie at all (a cross-site form, a script posting the token).
    assert client.post("/admin/login", data={"token": TOKEN}).status_code == 403
    client.get("/admin/login")
    assert client.post("/admin/login", data={"token": TOKEN}).status_code == 403
    forged = client.post("/admin/login", data={"token": TOKEN, "csrf_token": "A" * 32})
    assert forged.status_code == 403 and "security token" in forged.text
    assert client.get("/admin/").status_code == 401


def test_forged_expired_or_foreign_cookies_are_refused(tmp_path):
    app, runtime = make(tmp_path)
    client = app.test_client()
    login(client)
    cookie = client.get_cookie("sms_connector_admin", path="/admin")
    assert cookie is not None
    value = cookie.value
    client.set_cookie("sms_connector_admin", value[:-2] + ("AA" if value[-2:] != "AA" else "BB"),
                      path="/admin")
    assert client.get("/admin/").status_code == 401
    client.set_cookie("sms_connector_admin", "x" * 3000, path="/admin")
    assert client.get("/admin/").status_code == 401
    # Signed with another token: changing server.admin_token logs everyone out.
    other, other_runtime = make(tmp_path / "other", token="another-token")
    other_client = other.test_client()
    other_client.set_cookie("sms_connector_admin", value, path="/admin")
    assert other_client.get("/admin/").status_code == 401
    # Past its 12 hours.
    client.set_cookie("sms_connector_admin", value, path="/admin")
    assert client.get("/admin/").status_code == 200
    import itsdangerous.timed

    real = itsdangerous.timed.time.time
    itsdangerous.timed.time.time = lambda: real() + 13 * 3600  # type: ignore[assignment]
    try:
        assert client.get("/admin/").status_code == 401
    finally:
        itsdangerous.timed.time.time = real  # type: ignore[assignment]
    runtime.close()
    other_runtime.close()


def test_next_never_leaves_the_admin_pages(app_runtime):
    app, _ = app_runtime
    for target in ("//evil.example/admin/", "https://evil.example/", "/admin/\\\\evil", "/x"):
        client = app.test_client()
        form = client.get("/admin/login", query_string={"next": target})
        answer = client.post("/admin/login", data={"token": TOKEN, "next": target,
                                                   "csrf_token": csrf_of(form.text)})
        assert answer.headers["Location"] == "/admin/", target


def test_retry_and_discard_need_the_sessions_csrf_token(app_runtime, caplog):
    app, runtime = app_runtime
    client = app.test_client()
    csrf = login(client)
    first, second, third = dead(runtime, 3)
    ready = runtime.queue.enqueue("inbound", {})
    for data in ({"id": first}, {"id": first, "csrf_token": "forged"},
                 {"id": first, "csrf_token": csrf + "x"}, {"id": first, "csrf_token": ""}):
        for url in ("/admin/dead-letters/retry", "/admin/dead-letters/discard"):
            assert client.post(url, data=data).status_code == 403
    assert client.post("/admin/logout", data={}).status_code == 403
    assert status_of(runtime) == {first: DEAD, second: DEAD, third: DEAD, ready: READY}

    caplog.set_level(logging.INFO, logger="sms_connector.admin")
    answer = client.post("/admin/dead-letters/retry", data={"id": [first], "csrf_token": csrf})
    assert answer.status_code == 303 and answer.headers["Location"].endswith("retried=1")
    answer = client.post("/admin/dead-letters/discard",
                         data={"id": [second, ready], "csrf_token": csrf})
    assert answer.status_code == 303 and answer.headers["Location"].endswith("discarded=1")
    assert status_of(runtime) == {first: READY, third: DEAD, ready: READY}
    page = client.get("/admin/dead-letters?discarded=1")
    assert "1 job(s) discarded" in page.text and f'id="job-{third}"' in page.text
    actions = {r.action: r for r in caplog.records  # type: ignore[attr-defined]
               if getattr(r, "action", None) in ("retry", "discard")}
    assert actions["retry"].job_ids == [first]  # type: ignore[attr-defined]
    assert actions["discard"].job_ids == sorted([second, ready])  # type: ignore[attr-defined]
    assert actions["discard"].count == 1  # type: ignore[attr-defined]
    assert actions["retry"].who.startswith("session:")  # type: ignore[attr-defined]
    assert actions["retry"].remote == "127.0.0.1"  # type: ignore[attr-defined]


@pytest.mark.parametrize("ids", [[], ["x"], ["1.5"], ["-3"], ["0"], [str(2**63)], ["１２"],
                                 [" 1"], ["+1"], ["1_0"], [str(i) for i in range(1, 502)]])
def test_bad_job_ids_are_400_and_change_nothing(app_runtime, ids):
    app, runtime = app_runtime
    client = app.test_client()
    csrf = login(client)
    job = dead(runtime)[0]
    for url in ("/admin/dead-letters/retry", "/admin/dead-letters/discard"):
        answer = client.post(url, data={"id": ids, "csrf_token": csrf})
        assert answer.status_code == 400, (url, ids)
    assert status_of(runtime) == {job: DEAD}


def test_logout_ends_the_session(app_runtime):
    app, _ = app_runtime
    client = app.test_client()
    csrf = login(client)
    answer = client.post("/admin/logout", data={"csrf_token": csrf})
    assert answer.status_code == 303 and answer.headers["Location"] == "/admin/login"
    assert client.get("/admin/").status_code == 401


def test_dashboard_shows_queue_scheduler_errors_and_budget(app_runtime):
    app, runtime = app_runtime
    client = app.test_client()
    login(client)
    dead(runtime, 2)
    runtime.queue.enqueue("outbound", {}, run_at=NOW - 125)
    page = client.get("/admin/").text
    assert 'id="database">ok' in page
    assert "oldest due job waiting 2m 5s" in page
    assert "no lease" in page  # no worker ran in this test
    assert "no channel for +1202***0142" in page and PHONE not in page
    assert "account" in page and "No report yet" in page
    from connector.store.timers import acquire_lease

    with runtime.engine.begin() as conn:
        acquire_lease(conn, "scheduler", "host:1", ttl=30, now=NOW)
    assert "lease held by host:1" in client.get("/admin/").text


def test_pages_mask_numbers(app_runtime):
    app, runtime = app_runtime
    client = app.test_client()
    login(client)
    with runtime.engine.begin() as conn:
        conn.execute(insert(conversations).values(
            customer_phone=PHONE, channel_key="+12025550100", helpdesk="zendesk", ticket_id=4711,
            ticket_status="open", category="billing", tier="P2", created_at=NOW, updated_at=NOW))
        conn.execute(insert(opt_outs).values(phone=PHONE, channel_key="+12025550100",
                                             opted_out_at=NOW, source="keyword"))
        set_timer(conn, "escalate", f"conversation:{PHONE}", NOW - 30, now=NOW)
        set_timer(conn, "remind", "conversation:9", NOW + 600, now=NOW)
    for url in ("/admin/conversations", "/admin/opt-outs", "/admin/timers", "/admin/"):
        page = client.get(url)
        assert page.status_code == 200 and PHONE not in page.text, url
    assert "4711" in client.get("/admin/conversations").text
    assert "+1202***0142" in client.get("/admin/opt-outs").text
    timers = client.get("/admin/timers").text
    assert "overdue 30s" in timers and "10m 0s" in timers


def test_coverage_table(app_runtime):
    app, runtime = app_runtime
    client = app.test_client()
    login(client)
    page = client.get("/admin/coverage")
    assert page.status_code == 200
    rows = readings.coverage_rows(runtime)
    assert rows and page.text.count("<tr>") == len(rows) + 1
    assert rows[0].scenario in page.text


def test_latest_report_is_the_newest_file_of_the_folder(app_runtime, tmp_path):
    app, _ = app_runtime
    client = app.test_client()
    login(client)
    assert client.get("/admin/report").status_code == 404  # [report] weekly_to unset
    assert "No report yet (set" in client.get("/admin/").text

    folder = tmp_path / "reports"
    app, runtime = make(tmp_path / "with-reports", report={"weekly_to": str(folder)})
    client = app.test_client()
    login(client)
    assert "No report yet in" in client.get("/admin/").text  # folder not created yet
    assert client.get("/admin/report").status_code == 404
    folder.mkdir()
    import os

    old, new = folder / "sla-2026-11-23.html", folder / "sla-2026-11-30.html"
    old.write_text("<p>old</p>")
    new.write_text("<h1>week 48</h1>")
    os.utime(old, (NOW - 7 * 86400, NOW - 7 * 86400))
    os.utime(new, (NOW, NOW))
    (folder / ".partial.html").write_text("x")
    (folder / "subfolder").mkdir()
    assert "sla-2026-11-30.html" in client.get("/admin/").text
    report = client.get("/admin/report")
    assert report.status_code == 200 and report.text == "<h1>week 48</h1>"
    assert report.mimetype == "text/html"
    assert "script-src" not in report.headers["Content-Security-Policy"]
    runtime.close()

"""Contract tests: the same checks, with plain `requests`, against the sandbox and a real account.

The real run needs ZENDESK_SUBDOMAIN, ZENDESK_EMAIL and ZENDESK_API_TOKEN (an API token of an
admin, on a test account: it creates users, tickets and a webhook, and deletes what it can).
Without them that half is skipped with the reason shown.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from connector.sandbox.common import SandboxServer
from tests.connector.sandbox.conftest_zendesk import AUTH, make_app, spec_checker
from tests.connector.sandbox.test_zendesk_sandbox_api import BAD_REQUESTS

REAL_ENV = ("ZENDESK_SUBDOMAIN", "ZENDESK_EMAIL", "ZENDESK_API_TOKEN")


@dataclass
class Target:
    name: str
    base: str
    session: requests.Session
    close_ticket: Any  # (ticket_id) -> None: make a ticket closed, as time would
    cleanup: list[tuple[str, str]] = field(default_factory=list)

    def call(self, method: str, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.session.request(method, self.base + path, json=body, timeout=30, **kw)


@pytest.fixture(params=["sandbox", "real"])
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    with requests.Session() as session:
        if request.param == "sandbox":
            app = make_app()
            with SandboxServer(app) as server:
                session.auth = AUTH

                def close(ticket_id: int) -> None:
                    r = requests.post(
                        f"{server.url}/_sandbox/tickets/{ticket_id}/status",
                        json={"status": "closed"},
                        timeout=10,
                    )
                    assert r.status_code == 200

                yield Target("sandbox", server.url, session, close)
            return
        missing = [name for name in REAL_ENV if not os.environ.get(name)]
        if missing:
            pytest.skip(f"real Zendesk contract run skipped: set {', '.join(missing)}")
        session.auth = (f"{os.environ['ZENDESK_EMAIL']}/token", os.environ["ZENDESK_API_TOKEN"])
        base = f"https://{os.environ['ZENDESK_SUBDOMAIN']}.zendesk.com"
        me = session.get(f"{base}/api/v2/users/me", timeout=30).json()["user"]["id"]

        def close_real(ticket_id: int) -> None:
            r = session.put(
                f"{base}/api/v2/tickets/{ticket_id}",
                timeout=30,
                json={"ticket": {"status": "closed", "assignee_id": me}},
            )
            assert r.status_code == 200, r.text

        real = Target("real", base, session, close_real)
        yield real
        for method, path in reversed(real.cleanup):
            session.request(method, base + path, timeout=30)


def _user(target: Target) -> dict[str, Any]:
    phone = f"+1202555{uuid.uuid4().int % 10_000:04d}"
    r = target.call(
        "POST",
        "/api/v2/users/create_or_update",
        {
            "user": {
                "name": f"SMS {phone}",
                "external_id": f"sms:{phone}:{uuid.uuid4().hex[:8]}",
                "identities": [{"type": "phone_number", "value": phone}],
            }
        },
    )
    assert r.status_code == 201, r.text
    return dict(r.json()["user"])


def _ticket(target: Target, user: dict[str, Any], **headers: str) -> requests.Response:
    return target.call(
        "POST",
        "/api/v2/tickets",
        {
            "ticket": {
                "requester_id": user["id"],
                "submitter_id": user["id"],
                "priority": "normal",
                "tags": ["sms", "sms_general", "sms_p3"],
                "comment": {"body": "contract test"},
            }
        },
        headers=headers,
    )


def test_users(target: Target) -> None:
    checker = spec_checker()
    me = target.call("GET", "/api/v2/users/me")
    assert me.status_code == 200 and me.json()["user"]["role"] in ("admin", "agent")
    assert "X-Rate-Limit" in me.headers and "X-Rate-Limit-Remaining" in me.headers
    checker.check_response("/api/v2/users/me", "get", 200, me.json())
    user = _user(target)
    again = target.call(
        "POST",
        "/api/v2/users/create_or_update",
        {"user": {"name": user["name"], "external_id": user["external_id"]}},
    )
    assert again.status_code == 200 and again.json()["user"]["id"] == user["id"]
    checker.check_response("/api/v2/users/create_or_update", "post", 200, again.json())
    found = target.call("GET", "/api/v2/users/search", params={"external_id": user["external_id"]})
    assert [u["id"] for u in found.json()["users"]] == [user["id"]]
    checker.check_response("/api/v2/users/search", "get", 200, found.json())


def test_tickets_idempotency_updates_and_comments(target: Target) -> None:
    checker = spec_checker()
    user = _user(target)
    key = f"contract-{uuid.uuid4()}"
    first = _ticket(target, user, **{"Idempotency-Key": key})
    assert first.status_code == 201 and first.headers["x-idempotency-lookup"] == "miss"
    checker.check_response("/api/v2/tickets", "post", 201, first.json())
    ticket = first.json()["ticket"]
    target.cleanup.append(("DELETE", f"/api/v2/tickets/{ticket['id']}"))
    assert ticket["via"]["channel"] == "api"
    replay = _ticket(target, user, **{"Idempotency-Key": key})
    assert replay.headers["x-idempotency-lookup"] == "hit"
    assert replay.json()["ticket"]["id"] == ticket["id"]
    other = target.call(
        "POST",
        "/api/v2/tickets",
        {"ticket": {"requester_id": user["id"], "comment": {"body": "different"}}},
        headers={"Idempotency-Key": key},
    )
    assert other.status_code == 400 and other.json()["error"] == "IdempotentRequestError"

    time.sleep(1.1)  # updated_at has whole seconds: make the first stamp stale for sure
    updated = target.call(
        "PUT",
        f"/api/v2/tickets/{ticket['id']}",
        {
            "ticket": {
                "comment": {"body": "second text", "public": True, "author_id": user["id"]},
                "additional_tags": ["sms_seen"],
                "safe_update": True,
                "updated_stamp": ticket["updated_at"],
            }
        },
    )
    assert updated.status_code == 200, updated.text
    checker.check_response("/api/v2/tickets/{ticket_id}", "put", 200, updated.json())
    assert "sms_seen" in updated.json()["ticket"]["tags"]
    assert {"ticket", "audit"} <= set(updated.json())
    stale = target.call(
        "PUT",
        f"/api/v2/tickets/{ticket['id']}",
        {
            "ticket": {
                "comment": {"body": "stale", "public": False},
                "safe_update": True,
                "updated_stamp": ticket["updated_at"],
            }
        },
    )
    assert stale.status_code == 409 and stale.json()["error"] == "UpdateConflict"

    listed = target.call(
        "GET",
        f"/api/v2/tickets/{ticket['id']}/comments",
        params={"sort_order": "desc", "include": "users"},
    )
    assert listed.status_code == 200
    checker.check_response("/api/v2/tickets/{ticket_id}/comments", "get", 200, listed.json())
    assert [c["body"] for c in listed.json()["comments"]] == ["second text", "contract test"]
    roles = {u["id"]: u["role"] for u in listed.json()["users"]}
    assert roles[user["id"]] == "end-user"
    requested = target.call("GET", f"/api/v2/users/{user['id']}/tickets/requested")
    assert ticket["id"] in [t["id"] for t in requested.json()["tickets"]]

    target.close_ticket(ticket["id"])
    closed = target.call(
        "PUT", f"/api/v2/tickets/{ticket['id']}", {"ticket": {"comment": {"body": "after close"}}}
    )
    assert closed.status_code == 422 and closed.json()["error"] == "RecordInvalid"
    assert "closed" in str(closed.json()["details"]).lower()


def test_uploads(target: Target) -> None:
    checker = spec_checker()
    r = target.session.post(
        f"{target.base}/api/v2/uploads",
        params={"filename": "note.txt"},
        data=b"hello",
        headers={"Content-Type": "text/plain"},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    checker.check_response("/api/v2/uploads", "post", 201, r.json())
    assert r.json()["upload"]["token"] and r.json()["upload"]["attachment"]["size"] == 5


def test_webhook_signing_secret(target: Target) -> None:
    created = target.call(
        "POST",
        "/api/v2/webhooks",
        {
            "webhook": {
                "name": f"[sms-connector] contract {uuid.uuid4().hex[:6]}",
                "status": "inactive",
                "endpoint": "https://example.com/webhooks/helpdesk/zendesk",
                "http_method": "POST",
                "request_format": "json",
                "subscriptions": ["conditional_ticket_events"],
            }
        },
    )
    assert created.status_code == 201, created.text
    webhook_id = created.json()["webhook"]["id"]
    target.cleanup.append(("DELETE", f"/api/v2/webhooks/{webhook_id}"))
    spec_checker().check(created.json(), "WebhookResponse")
    secret = target.call("GET", f"/api/v2/webhooks/{webhook_id}/signing_secret").json()
    assert secret["signing_secret"]["algorithm"] == "sha256" and secret["signing_secret"]["secret"]


def test_wrong_credentials(target: Target) -> None:
    r = requests.get(
        f"{target.base}/api/v2/users/me", auth=("nobody@example.com/token", "x"), timeout=30
    )
    assert r.status_code == 401 and r.json() == {"error": "Couldn't authenticate you"}


@pytest.mark.parametrize(("method", "path", "body", "status", "error"), BAD_REQUESTS)
def test_bad_requests(
    target: Target, method: str, path: str, body: Any, status: int, error: str
) -> None:
    kw: dict[str, Any] = (
        {"data": body, "headers": {"Content-Type": "application/json"}}
        if isinstance(body, bytes)
        else {"json": body}
    )
    r = target.session.request(method, target.base + path, timeout=30, **kw)
    assert r.status_code == status, r.text
    if error:
        assert r.json()["error"] == error

"""The Zendesk stand-in's API via Flask's test client (fast), answers checked against the spec."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from connector.sandbox.common import Faults, SandboxControls
from connector.sandbox.zendesk import SPEC_GAPS, ZendeskSandbox
from tests.connector.sandbox.conftest_zendesk import AUTH, make_app, spec_checker

HEADERS = {"Authorization": "Basic " + base64.b64encode(":".join(AUTH).encode()).decode()}


class Clock:
    def __init__(self) -> None:
        self.now = 1_790_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(clock: Clock) -> Iterator[Flask]:
    app = make_app(clock=clock)
    yield app
    app.extensions["zendesk_sandbox"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def call(client: FlaskClient, method: str, path: str, body: Any = None, **kw: Any) -> Any:
    headers = {**HEADERS, **kw.pop("headers", {})}
    return client.open(path, method=method, json=body, headers=headers, **kw)


def sms_user(client: FlaskClient, phone: str = "+12025550142") -> int:
    r = call(
        client,
        "POST",
        "/api/v2/users/create_or_update",
        {
            "user": {
                "name": f"SMS {phone}",
                "external_id": f"sms:{phone}",
                "identities": [{"type": "phone_number", "value": phone}],
            }
        },
    )
    assert r.status_code in (200, 201), r.json
    return int(r.json["user"]["id"])


def new_ticket(client: FlaskClient, uid: int, **extra: Any) -> dict[str, Any]:
    ticket = {
        "requester_id": uid,
        "submitter_id": uid,
        "priority": "high",
        "tags": ["sms"],
        "comment": {"body": "my order is late"},
        **extra,
    }
    r = call(client, "POST", "/api/v2/tickets", {"ticket": ticket})
    assert r.status_code == 201, r.json
    return dict(r.json["ticket"])


def test_spec_gaps_are_listed() -> None:
    assert "webhooks" in SPEC_GAPS and "nullable" in SPEC_GAPS


def test_extension_holds_the_state(app: Flask) -> None:
    assert isinstance(app.extensions["zendesk_sandbox"], ZendeskSandbox)


def test_users_create_or_update_match_only_by_external_id_or_email(client: FlaskClient) -> None:
    checker = spec_checker()
    body = {
        "user": {
            "name": "SMS +12025550142",
            "external_id": "sms:+12025550142",
            "identities": [{"type": "phone_number", "value": "+12025550142"}],
        }
    }
    first = call(client, "POST", "/api/v2/users/create_or_update", body)
    assert first.status_code == 201
    checker.check_response("/api/v2/users/create_or_update", "post", 201, first.json)
    again = call(client, "POST", "/api/v2/users/create_or_update", body)
    assert again.status_code == 200
    assert again.json["user"]["id"] == first.json["user"]["id"]
    assert again.json["user"]["phone"] == "+12025550142"
    # Same name, no matching key: a different user (name and phone never match).
    other = call(
        client,
        "POST",
        "/api/v2/users/create_or_update",
        {"user": {"name": "SMS +12025550142", "phone": "+12025550142"}},
    )
    assert other.status_code == 201 and other.json["user"]["id"] != first.json["user"]["id"]
    by_email = call(
        client,
        "POST",
        "/api/v2/users/create_or_update",
        {"user": {"name": "Ann", "email": "Ann@example.com"}},
    )
    again_email = call(
        client,
        "POST",
        "/api/v2/users/create_or_update",
        {"user": {"email": "ann@example.com", "external_id": "crm:1"}},
    )
    assert again_email.status_code == 200
    assert again_email.json["user"]["id"] == by_email.json["user"]["id"]
    found = call(client, "GET", "/api/v2/users/search?external_id=sms:%2B12025550142")
    assert [u["id"] for u in found.json["users"]] == [first.json["user"]["id"]]
    checker.check_response("/api/v2/users/search", "get", 200, found.json)
    uid = first.json["user"]["id"]
    shown = call(client, "GET", f"/api/v2/users/{uid}")
    checker.check_response("/api/v2/users/{user_id}", "get", 200, shown.json)
    identities = call(client, "GET", f"/api/v2/users/{uid}/identities").json["identities"]
    assert [(i["type"], i["value"]) for i in identities] == [("phone_number", "+12025550142")]


def test_me_is_the_api_admin(client: FlaskClient) -> None:
    r = call(client, "GET", "/api/v2/users/me")
    assert r.status_code == 200 and r.json["user"]["role"] == "admin"
    assert r.json["user"]["email"] == AUTH[0].removesuffix("/token")
    spec_checker().check_response("/api/v2/users/me", "get", 200, r.json)


def test_auth_is_required_and_checked(client: FlaskClient) -> None:
    assert client.get("/api/v2/users/me").status_code == 401
    bad = base64.b64encode(b"connector@example.com/token:wrong").decode()
    r: Any = client.get("/api/v2/users/me", headers={"Authorization": f"Basic {bad}"})
    assert r.status_code == 401 and r.json == {"error": "Couldn't authenticate you"}


def test_create_ticket_shapes_and_json_suffix(client: FlaskClient) -> None:
    checker = spec_checker()
    uid = sms_user(client)
    r = call(
        client,
        "POST",
        "/api/v2/tickets.json",
        {
            "ticket": {
                "requester_id": uid,
                "submitter_id": uid,
                "priority": "urgent",
                "type": "problem",
                "tags": ["sms", "SMS_Outage"],
                "comment": {"body": "all down\n\nsince 9am"},
            }
        },
    )
    assert r.status_code == 201
    checker.check_response("/api/v2/tickets", "post", 201, r.json)
    checker.check(r.json["audit"], "AuditObject")
    ticket = r.json["ticket"]
    assert ticket["via"]["channel"] == "api" and ticket["status"] == "new"
    assert ticket["tags"] == ["sms", "sms_outage"] and ticket["priority"] == "urgent"
    assert r.headers["Location"] == ticket["url"]
    assert isinstance(ticket["created_at"], str) and ticket["created_at"].endswith("Z")
    shown = call(client, "GET", f"/api/v2/tickets/{ticket['id']}.json")
    checker.check_response("/api/v2/tickets/{ticket_id}", "get", 200, shown.json)
    comments = call(client, "GET", f"/api/v2/tickets/{ticket['id']}/comments").json["comments"]
    assert comments[0]["author_id"] == uid  # the submitter writes the first comment
    assert '<p dir="auto">since 9am</p>' in comments[0]["html_body"]
    requested = call(client, "GET", f"/api/v2/users/{uid}/tickets/requested")
    assert [t["id"] for t in requested.json["tickets"]] == [ticket["id"]]
    checker.check(requested.json, "TicketsResponse")  # not in the spec: SPEC_GAPS
    incident = new_ticket(client, uid, type="incident", problem_id=ticket["id"])
    assert incident["problem_id"] == ticket["id"]
    listed = call(client, "GET", f"/api/v2/tickets/{ticket['id']}/incidents").json["tickets"]
    assert [t["id"] for t in listed] == [incident["id"]]


def test_idempotency_key_hit_miss_mismatch_and_expiry(client: FlaskClient, clock: Clock) -> None:
    uid = sms_user(client)
    body = {"ticket": {"requester_id": uid, "comment": {"body": "hello"}}}
    key = {"Idempotency-Key": "conv-1-msg-1"}
    first = call(client, "POST", "/api/v2/tickets", body, headers=key)
    assert first.status_code == 201 and first.headers["x-idempotency-lookup"] == "miss"
    replay = call(client, "POST", "/api/v2/tickets", body, headers=key)
    assert replay.status_code == 201 and replay.headers["x-idempotency-lookup"] == "hit"
    assert replay.json["ticket"]["id"] == first.json["ticket"]["id"]
    other = call(
        client,
        "POST",
        "/api/v2/tickets",
        {"ticket": {"requester_id": uid, "comment": {"body": "else"}}},
        headers=key,
    )
    assert other.status_code == 400 and other.json["error"] == "IdempotentRequestError"
    plain = call(client, "POST", "/api/v2/tickets", body)
    assert "x-idempotency-lookup" not in plain.headers
    clock.now += 2 * 3600 + 1  # keys last about two hours
    late = call(client, "POST", "/api/v2/tickets", body, headers=key)
    assert late.headers["x-idempotency-lookup"] == "miss"
    assert late.json["ticket"]["id"] not in (first.json["ticket"]["id"], plain.json["ticket"]["id"])


def test_update_comments_tags_status_and_audit(client: FlaskClient, clock: Clock) -> None:
    checker = spec_checker()
    uid = sms_user(client)
    ticket = new_ticket(client, uid)
    clock.now += 5
    r = call(
        client,
        "PUT",
        f"/api/v2/tickets/{ticket['id']}",
        {
            "ticket": {
                "comment": {"body": "second text", "public": True, "author_id": uid},
                "additional_tags": ["sms_p2"],
                "remove_tags": ["sms"],
                "status": "open",
                "safe_update": True,
                "updated_stamp": ticket["updated_at"],
                "metadata": {"custom": {"sms_connector": "msg-2"}},
            }
        },
    )
    assert r.status_code == 200, r.json
    checker.check_response("/api/v2/tickets/{ticket_id}", "put", 200, r.json)
    assert r.json["ticket"]["tags"] == ["sms_p2"] and r.json["ticket"]["status"] == "open"
    assert r.json["ticket"]["updated_at"] != ticket["updated_at"]
    assert r.json["audit"]["author_id"] != uid  # the API user updates, not the comment author
    kinds = [(e["type"], e.get("field_name")) for e in r.json["audit"]["events"]]
    assert ("Comment", None) in kinds and ("Change", "status") in kinds
    note = call(
        client,
        "PUT",
        f"/api/v2/tickets/{ticket['id']}",
        {"ticket": {"comment": {"body": "internal", "public": False}, "tags": ["a", "b"]}},
    )
    assert note.json["ticket"]["tags"] == ["a", "b"]  # `tags` replaces
    listed = call(
        client, "GET", f"/api/v2/tickets/{ticket['id']}/comments?sort_order=desc&include=users"
    )
    checker.check_response("/api/v2/tickets/{ticket_id}/comments", "get", 200, listed.json)
    bodies = [(c["body"], c["public"]) for c in listed.json["comments"]]
    assert bodies == [("internal", False), ("second text", True), ("my order is late", True)]
    assert listed.json["comments"][1]["metadata"]["custom"] == {"sms_connector": "msg-2"}
    roles = {u["id"]: u["role"] for u in listed.json["users"]}
    assert roles[uid] == "end-user" and "admin" in roles.values()
    page = call(client, "GET", f"/api/v2/tickets/{ticket['id']}/comments?per_page=2").json
    assert len(page["comments"]) == 2 and page["count"] == 3 and page["next_page"]


def test_safe_update_with_a_stale_stamp_is_a_409(client: FlaskClient, clock: Clock) -> None:
    ticket = new_ticket(client, sms_user(client))
    clock.now += 3
    call(client, "PUT", f"/api/v2/tickets/{ticket['id']}", {"ticket": {"priority": "low"}})
    r = call(
        client,
        "PUT",
        f"/api/v2/tickets/{ticket['id']}",
        {
            "ticket": {
                "comment": {"body": "late"},
                "safe_update": True,
                "updated_stamp": ticket["updated_at"],
            }
        },
    )
    assert r.status_code == 409 and r.json["error"] == "UpdateConflict"
    comments = call(client, "GET", f"/api/v2/tickets/{ticket['id']}/comments").json["comments"]
    assert len(comments) == 1


def test_closed_ticket_refuses_updates_and_takes_follow_ups(client: FlaskClient) -> None:
    uid = sms_user(client)
    ticket = new_ticket(client, uid)
    assert (
        client.post(
            f"/_sandbox/tickets/{ticket['id']}/status", json={"status": "closed"}
        ).status_code
        == 200
    )
    r = call(
        client, "PUT", f"/api/v2/tickets/{ticket['id']}", {"ticket": {"comment": {"body": "x"}}}
    )
    assert r.status_code == 422
    assert r.json == {
        "error": "RecordInvalid",
        "description": "Record validation errors",
        "details": {
            "status": [
                {"description": "Status: closed prevents ticket update", "error": "ClosedTicket"}
            ]
        },
    }
    follow = new_ticket(client, uid, via_followup_source_id=ticket["id"])
    assert follow["via"]["source"]["rel"] == "follow_up"
    shown = call(client, "GET", f"/api/v2/tickets/{ticket['id']}").json["ticket"]
    assert shown["followup_ids"] == [follow["id"]]
    open_one = new_ticket(client, uid)
    bad = call(
        client,
        "POST",
        "/api/v2/tickets",
        {
            "ticket": {
                "requester_id": uid,
                "comment": {"body": "x"},
                "via_followup_source_id": open_one["id"],
            }
        },
    )
    assert bad.status_code == 422


def test_solved_ticket_reopens_only_when_told(client: FlaskClient) -> None:
    uid = sms_user(client)
    ticket = new_ticket(client, uid)
    client.post(f"/_sandbox/tickets/{ticket['id']}/status", json={"status": "solved"})
    r = call(
        client,
        "PUT",
        f"/api/v2/tickets/{ticket['id']}",
        {"ticket": {"comment": {"body": "again", "author_id": uid}}},
    )
    assert r.json["ticket"]["status"] == "solved"  # an API comment reopens nothing by itself
    r = call(client, "PUT", f"/api/v2/tickets/{ticket['id']}", {"ticket": {"status": "open"}})
    assert r.json["ticket"]["status"] == "open"


def test_comment_cap(app: Flask) -> None:
    capped = make_app(comment_cap=2)
    client = capped.test_client()
    ticket = new_ticket(client, sms_user(client))
    ok = call(
        client, "PUT", f"/api/v2/tickets/{ticket['id']}", {"ticket": {"comment": {"body": "2"}}}
    )
    assert ok.status_code == 200
    full = call(
        client, "PUT", f"/api/v2/tickets/{ticket['id']}", {"ticket": {"comment": {"body": "3"}}}
    )
    assert full.status_code == 422 and full.json["error"] == "RecordInvalid"
    still = call(client, "PUT", f"/api/v2/tickets/{ticket['id']}", {"ticket": {"priority": "low"}})
    assert still.status_code == 200  # other updates still work
    capped.extensions["zendesk_sandbox"].close()


def test_uploads_attach_and_serve_content(client: FlaskClient) -> None:
    checker = spec_checker()
    uid = sms_user(client)
    r: Any = client.post(
        "/api/v2/uploads?filename=photo.jpg",
        data=b"\xff\xd8jpeg",
        headers={**HEADERS, "Content-Type": "image/jpeg"},
    )
    assert r.status_code == 201
    checker.check_response("/api/v2/uploads", "post", 201, r.json)
    token = r.json["upload"]["token"]
    ticket = new_ticket(client, uid)
    call(
        client,
        "PUT",
        f"/api/v2/tickets/{ticket['id']}",
        {"ticket": {"comment": {"body": "pic", "uploads": [token], "author_id": uid}}},
    )
    comments = call(client, "GET", f"/api/v2/tickets/{ticket['id']}/comments").json["comments"]
    attachment = comments[-1]["attachments"][0]
    assert attachment["file_name"] == "photo.jpg" and attachment["size"] == 6
    content = client.get(attachment["content_url"].removeprefix("http://localhost"))
    assert content.data == b"\xff\xd8jpeg" and content.mimetype == "image/jpeg"


def test_webhooks_crud_and_signing_secret(client: FlaskClient) -> None:
    checker = spec_checker()
    body = {
        "webhook": {
            "name": "[sms-connector] replies",
            "status": "active",
            "endpoint": "https://connector.example/webhooks/helpdesk/zendesk",
            "http_method": "POST",
            "request_format": "json",
            "subscriptions": ["conditional_ticket_events"],
            "authentication": {
                "type": "bearer_token",
                "data": {"token": "t"},
                "add_position": "header",
            },
        }
    }
    created = call(client, "POST", "/api/v2/webhooks", body)
    assert created.status_code == 201
    checker.check(created.json, "WebhookResponse")
    wid = created.json["webhook"]["id"]
    secret = call(client, "GET", f"/api/v2/webhooks/{wid}/signing_secret")
    checker.check(secret.json, "SigningSecretResponse")
    assert len(secret.json["signing_secret"]["secret"]) >= 32
    assert (
        call(
            client, "PATCH", f"/api/v2/webhooks/{wid}", {"webhook": {"status": "inactive"}}
        ).status_code
        == 204
    )
    listed = call(client, "GET", "/api/v2/webhooks").json
    checker.check(listed, "WebhooksResponse")
    assert listed["webhooks"][0]["status"] == "inactive"
    bad = call(client, "POST", "/api/v2/webhooks", {"webhook": {"name": "x"}})
    assert bad.status_code == 400 and bad.json["errors"][0]["code"] == "InvalidInput"
    assert call(client, "DELETE", f"/api/v2/webhooks/{wid}").status_code == 204
    gone = call(client, "GET", f"/api/v2/webhooks/{wid}")
    assert gone.status_code == 404 and "errors" in gone.json


def test_triggers_and_categories_crud(client: FlaskClient) -> None:
    checker = spec_checker()
    cat = call(
        client,
        "POST",
        "/api/v2/trigger_categories",
        {"trigger_category": {"name": "[sms-connector]", "position": 5}},
    )
    assert cat.status_code == 200
    checker.check_response("/api/v2/trigger_categories", "post", 200, cat.json)
    cid = cat.json["trigger_category"]["id"]
    trig = {
        "trigger": {
            "title": "[sms-connector] reply",
            "category_id": cid,
            "conditions": {
                "all": [{"field": "status", "operator": "less_than", "value": "solved"}]
            },
            "actions": [{"field": "add_tags", "value": "seen"}],
        }
    }
    created = call(client, "POST", "/api/v2/triggers", trig)
    assert created.status_code == 201, created.json
    checker.check_response("/api/v2/triggers", "post", 201, created.json)
    tid = created.json["trigger"]["id"]
    updated = call(client, "PUT", f"/api/v2/triggers/{tid}", {"trigger": {"active": False}})
    checker.check_response("/api/v2/triggers/{trigger_id}", "put", 200, updated.json)
    listed = call(client, "GET", "/api/v2/triggers")
    checker.check_response("/api/v2/triggers", "get", 200, listed.json)
    cats = call(client, "GET", "/api/v2/trigger_categories")
    checker.check_response("/api/v2/trigger_categories", "get", 200, cats.json)
    defs = call(client, "GET", "/api/v2/triggers/definitions")
    checker.check_response("/api/v2/triggers/definitions", "get", 200, defs.json)
    busy = call(client, "DELETE", f"/api/v2/trigger_categories/{cid}")
    assert busy.status_code == 400
    assert call(client, "DELETE", f"/api/v2/triggers/{tid}").status_code == 204
    assert (
        call(
            client,
            "PATCH",
            f"/api/v2/trigger_categories/{cid}",
            {"trigger_category": {"name": "renamed"}},
        ).json["trigger_category"]["name"]
        == "renamed"
    )
    assert call(client, "DELETE", f"/api/v2/trigger_categories/{cid}").status_code == 204
    unsupported = call(
        client,
        "POST",
        "/api/v2/triggers",
        {
            "trigger": {
                "title": "t",
                "conditions": {
                    "all": [{"field": "organization_id", "operator": "is", "value": "1"}]
                },
                "actions": [{"field": "status", "value": "open"}],
            }
        },
    )
    assert unsupported.status_code == 422 and "sandbox" in str(unsupported.json)


def test_account_rate_limit_and_headers(clock: Clock) -> None:
    app = make_app(controls=SandboxControls(Faults(per_minute=2)))
    client = app.test_client()
    first = call(client, "GET", "/api/v2/users/me")
    assert first.headers["X-Rate-Limit"] == "2" and first.headers["X-Rate-Limit-Remaining"] == "1"
    call(client, "GET", "/api/v2/users/me")
    limited = call(client, "GET", "/api/v2/users/me")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert limited.json["error"] == "APIRateLimitExceeded"
    app.extensions["zendesk_sandbox"].close()


def test_update_ticket_limits(clock: Clock) -> None:
    app = make_app(clock=clock, ticket_updates_per_ticket=2, ticket_updates_per_minute=3)
    client = app.test_client()
    uid = sms_user(client)
    one, two = new_ticket(client, uid), new_ticket(client, uid)
    for _ in range(2):
        assert (
            call(
                client, "PUT", f"/api/v2/tickets/{one['id']}", {"ticket": {"priority": "low"}}
            ).status_code
            == 200
        )
    per_ticket = call(
        client, "PUT", f"/api/v2/tickets/{one['id']}", {"ticket": {"priority": "low"}}
    )
    assert per_ticket.status_code == 429 and 0 < int(per_ticket.headers["Retry-After"]) <= 600
    assert (
        call(
            client, "PUT", f"/api/v2/tickets/{two['id']}", {"ticket": {"priority": "low"}}
        ).status_code
        == 200
    )
    account = call(client, "PUT", f"/api/v2/tickets/{two['id']}", {"ticket": {"priority": "low"}})
    assert account.status_code == 429  # 3 per minute for the account
    clock.now += 601
    assert (
        call(
            client, "PUT", f"/api/v2/tickets/{one['id']}", {"ticket": {"priority": "high"}}
        ).status_code
        == 200
    )
    app.extensions["zendesk_sandbox"].close()


def test_faults_down_and_sandbox_routes_stay_up(client: FlaskClient) -> None:
    assert client.post("/_sandbox/faults", json={"down": True}).status_code == 200
    assert call(client, "GET", "/api/v2/users/me").status_code == 503
    assert client.get("/_sandbox/state").status_code == 200
    client.post("/_sandbox/faults", json={"down": False})
    assert call(client, "GET", "/api/v2/users/me").status_code == 200


def test_agent_reply_and_state(client: FlaskClient) -> None:
    uid = sms_user(client)
    ticket = new_ticket(client, uid)
    r: Any = client.post(
        "/_sandbox/agent_reply", json={"ticket_id": ticket["id"], "body": "on its way"}
    )
    assert r.status_code == 200, r.json
    assert r.json["ticket"]["status"] == "open"
    assert r.json["audit"]["via"]["channel"] == "web"
    state: Any = client.get("/_sandbox/state").json
    [stored] = [t for t in state["tickets"] if t["id"] == ticket["id"]]
    reply = stored["comments"][-1]
    assert reply["body"] == "on its way" and reply["via"]["channel"] == "web"
    agent = next(u for u in state["users"] if u["id"] == reply["author_id"])
    assert agent["role"] == "agent"
    assert {"users", "tickets", "webhooks", "triggers", "deliveries"} <= set(state)
    as_customer = client.post(
        "/_sandbox/agent_reply", json={"ticket_id": ticket["id"], "body": "x", "author_id": uid}
    )
    assert as_customer.status_code == 422


# (d) Bad requests get Zendesk's error shapes, never a 500. The same table runs against a real
# account in test_zendesk_contract.py.
BAD_REQUESTS: list[tuple[str, str, Any, int, str]] = [
    ("POST", "/api/v2/tickets", b"{not json", 400, ""),
    ("POST", "/api/v2/tickets", {}, 400, ""),
    ("POST", "/api/v2/tickets", {"ticket": {"subject": "no comment"}}, 422, "RecordInvalid"),
    (
        "POST",
        "/api/v2/tickets",
        {"ticket": {"comment": {"body": "x"}, "requester_id": "abc"}},
        422,
        "RecordInvalid",
    ),
    (
        "POST",
        "/api/v2/tickets",
        {"ticket": {"comment": {"body": "x"}, "priority": "asap"}},
        422,
        "RecordInvalid",
    ),
    (
        "POST",
        "/api/v2/tickets",
        {"ticket": {"comment": {"body": "x"}, "requester_id": 1}},
        422,
        "RecordInvalid",
    ),
    ("POST", "/api/v2/tickets", {"ticket": {"comment": "just a string"}}, 422, "RecordInvalid"),
    ("POST", "/api/v2/tickets", {"ticket": {"comment": {"body": 42}}}, 422, "RecordInvalid"),
    (
        "POST",
        "/api/v2/tickets",
        {"ticket": {"comment": {"body": "x"}, "tags": 5}},
        422,
        "RecordInvalid",
    ),
    ("GET", "/api/v2/tickets/999999999", None, 404, "RecordNotFound"),
    ("PUT", "/api/v2/tickets/999999999", {"ticket": {"status": "open"}}, 404, "RecordNotFound"),
    ("GET", "/api/v2/tickets/999999999/comments", None, 404, "RecordNotFound"),
    ("GET", "/api/v2/users/1", None, 404, "RecordNotFound"),
    ("GET", "/api/v2/users/1/tickets/requested", None, 404, "RecordNotFound"),
    (
        "POST",
        "/api/v2/users/create_or_update",
        {"user": {"external_id": "sms:+1999"}},
        422,
        "RecordInvalid",
    ),
    (
        "POST",
        "/api/v2/users/create_or_update",
        {"user": {"name": "x", "email": "nope"}},
        422,
        "RecordInvalid",
    ),
    ("POST", "/api/v2/users/create_or_update", b"[1, 2", 400, ""),
    ("GET", "/api/v2/no_such_thing", None, 404, "InvalidEndpoint"),
    ("GET", "/api/v2/triggers/999999999", None, 404, "RecordNotFound"),
    ("POST", "/api/v2/triggers", {"trigger": {"title": ""}}, 422, "RecordInvalid"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "error"), BAD_REQUESTS)
def test_bad_requests_get_zendesk_errors(
    client: FlaskClient, method: str, path: str, body: Any, status: int, error: str
) -> None:
    kw: dict[str, Any] = (
        {"data": body, "content_type": "application/json"}
        if isinstance(body, bytes)
        else {"json": body}
    )
    r: Any = client.open(path, method=method, headers=HEADERS, **kw)
    assert r.status_code == status, r.data
    assert r.is_json and "error" in r.json
    if error:
        assert r.json["error"] == error
    if status == 422:
        assert r.json["description"] == "Record validation errors" and r.json["details"]


def test_bad_ticket_updates(client: FlaskClient) -> None:
    ticket = new_ticket(client, sms_user(client))
    path = f"/api/v2/tickets/{ticket['id']}"
    assert call(client, "PUT", path, {"ticket": {"status": "open"}}).status_code == 200
    cases: list[tuple[Any, int]] = [
        ({"ticket": {"status": "done"}}, 422),
        ({"ticket": {"status": "new"}}, 422),
        ({"ticket": {"comment": {"body": "x", "author_id": 12}}}, 422),
        ({"ticket": {"comment": {"body": "x", "public": "yes"}}}, 422),
        ({"ticket": {"additional_tags": [1]}}, 422),
        ({"ticket": {"status": "solved"}}, 422),  # Assignee required when solving
        ({"ticket": {"safe_update": True, "updated_stamp": "yesterday"}}, 422),
        ({"ticket": "open"}, 400),
        ({"tickets": {}}, 400),
    ]
    for body, status in cases:
        r = call(client, "PUT", path, body)
        assert r.status_code == status, (body, r.json)
        assert "error" in r.json


def test_a_deleted_ticket_is_not_found(client: FlaskClient) -> None:
    ticket = new_ticket(client, sms_user(client))
    path = f"/api/v2/tickets/{ticket['id']}"
    assert call(client, "DELETE", path).status_code == 204
    gone = {"error": "RecordNotFound", "description": "Not found"}
    assert (call(client, "GET", path).status_code, call(client, "GET", path).json) == (404, gone)
    r = call(client, "PUT", path, {"ticket": {"comment": {"body": "x"}}})
    assert (r.status_code, r.json) == (404, gone)
    assert call(client, "GET", path + "/comments").status_code == 404
    assert call(client, "DELETE", path).status_code == 404


def test_a_phone_identity_belongs_to_one_user_and_is_found_by_phone(client: FlaskClient) -> None:
    checker = spec_checker()
    owner = sms_user(client, "+12025550177")  # e.g. a caller Zendesk Talk created
    taken = {"user": {"name": "SMS", "external_id": "sms:other",
                      "identities": [{"type": "phone_number", "value": "+12025550177"}]}}
    r = call(client, "POST", "/api/v2/users/create_or_update", taken)
    assert r.status_code == 422
    assert r.json["error"] == "RecordInvalid" and list(r.json["details"]) == ["identities"]
    assert r.json["details"]["identities"][0]["error"] == "DuplicateValue"
    assert call(client, "GET", "/api/v2/users/search?external_id=sms:other").json["users"] == []
    # The owner may repeat its own identity.
    assert sms_user(client, "+12025550177") == owner
    for query in ("role:end-user phone:12025550177", "phone:*2025550177"):
        found = call(client, "GET", "/api/v2/users/search", query_string={"query": query})
        assert [u["id"] for u in found.json["users"]] == [owner], query
        checker.check_response("/api/v2/users/search", "get", 200, found.json)
    found = call(client, "GET", "/api/v2/users/search",
                 query_string={"query": "role:agent phone:12025550177"})
    assert found.json["users"] == []


def test_merge_tickets_into_target_ticket(client: FlaskClient) -> None:
    """Merge Tickets into Target Ticket: notes via "merge" by the requesting user, the sources
    closed, triggers run with current_via_id 19, a completed job_status as documented."""
    uid = sms_user(client)
    target = new_ticket(client, uid)
    source = new_ticket(client, uid, subject="duplicate")
    r = call(
        client,
        "POST",
        "/api/v2/triggers",
        {
            "trigger": {
                "title": "seen a merge",
                "conditions": {
                    "all": [{"field": "current_via_id", "operator": "is", "value": "19"}]
                },
                "actions": [{"field": "add_tags", "value": "merge_seen"}],
            }
        },
    )
    assert r.status_code == 201, r.json
    r = call(
        client,
        "POST",
        f"/api/v2/tickets/{target['id']}/merge",
        {"ids": [source["id"]], "target_comment": "merged the duplicate",
         "target_comment_is_public": True},
    )
    assert r.status_code == 200, r.json
    job = r.json["job_status"]
    spec_checker().check_response("/api/v2/tickets/{ticket_id}/merge", "post", 200, r.json)
    assert job["status"] == "completed" and job["total"] == 1
    assert job["results"] == [
        {"action": "update", "id": source["id"], "status": "Updated", "success": True}
    ]
    shown = call(client, "GET", job["url"].split("localhost", 1)[-1])
    assert shown.status_code == 200 and shown.json["job_status"] == job

    state: Any = client.get("/_sandbox/state").json
    tickets = {t["id"]: t for t in state["tickets"]}
    me = call(client, "GET", "/api/v2/users/me").json["user"]["id"]
    note = tickets[target["id"]]["comments"][-1]
    assert note["body"] == "merged the duplicate" and note["public"] is True
    assert note["via"]["channel"] == "merge" and note["author_id"] == me
    assert note["via"]["source"]["from"]["ticket_ids"] == [source["id"]]
    closed = tickets[source["id"]]
    assert closed["status"] == "closed"
    back = closed["comments"][-1]
    assert back["public"] is False and back["via"]["channel"] == "merge"
    assert f"merged into request #{target['id']}" in back["body"]
    assert "merge_seen" in tickets[target["id"]]["tags"]
    assert "merge_seen" in closed["tags"]
    audits = call(client, "GET", f"/api/v2/tickets/{target['id']}/audits").json["audits"]
    assert audits[-1]["via"]["channel"] == "merge"

    # A closed source, a closed target, a missing ticket or no ids are refused.
    again = call(client, "POST", f"/api/v2/tickets/{target['id']}/merge", {"ids": [source["id"]]})
    assert again.status_code == 422
    assert call(client, "POST", f"/api/v2/tickets/{target['id']}/merge", {}).status_code == 400
    missing = call(client, "POST", f"/api/v2/tickets/{target['id']}/merge", {"ids": [999999]})
    assert missing.status_code == 404
    itself = call(client, "POST", f"/api/v2/tickets/{target['id']}/merge", {"ids": [target["id"]]})
    assert itself.status_code == 422


def test_sandbox_merge_is_an_agent_merging_in_the_ui(client: FlaskClient) -> None:
    uid = sms_user(client)
    target = new_ticket(client, uid)
    source = new_ticket(client, uid)
    r: Any = client.post(
        "/_sandbox/merge",
        json={"target_id": target["id"], "ids": [source["id"]], "target_comment": "same"},
    )
    assert r.status_code == 200, r.json
    assert r.json["job_status"]["status"] == "completed"
    state: Any = client.get("/_sandbox/state").json
    [stored] = [t for t in state["tickets"] if t["id"] == target["id"]]
    note = stored["comments"][-1]
    agent = next(u for u in state["users"] if u["id"] == note["author_id"])
    assert agent["role"] == "agent" and note["via"]["channel"] == "merge"
    assert note["public"] is False  # private unless told otherwise
    as_customer = client.post(
        "/_sandbox/merge", json={"target_id": target["id"], "ids": [], "agent_id": uid}
    )
    assert as_customer.status_code == 422

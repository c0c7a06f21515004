"""Triggers and signed webhooks of the Zendesk stand-in, over real loopback HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connector.sandbox.common import SandboxServer
from connector.sandbox.zendesk import ZendeskSandbox
from tests.connector.sandbox.conftest_zendesk import AUTH, SignedReceiver, make_app

REPLY_TRIGGER_BODY = (
    '{"ticket_id": "{{ticket.id}}", "by": "{{current_user.id}}", "s": "{{ticket.status}}"}'
)


@pytest.fixture
def zendesk() -> Iterator[tuple[str, ZendeskSandbox]]:
    app = make_app()
    with SandboxServer(app) as server:
        yield server.url, app.extensions["zendesk_sandbox"]


@pytest.fixture
def api(zendesk: tuple[str, ZendeskSandbox]) -> Iterator[Any]:
    base, _ = zendesk
    with requests.Session() as session:
        session.auth = AUTH

        def call(method: str, path: str, body: Any = None) -> requests.Response:
            return session.request(method, base + path, json=body, timeout=10)

        yield call


def install_reply_trigger(api: Any, endpoint: str) -> tuple[str, str]:
    """What `policy apply` installs: public comment, agent, not via the API, tagged sms."""
    hook = api(
        "POST",
        "/api/v2/webhooks",
        {
            "webhook": {
                "name": "[sms-connector] agent replies",
                "status": "active",
                "endpoint": endpoint,
                "http_method": "POST",
                "request_format": "json",
                "subscriptions": ["conditional_ticket_events"],
            }
        },
    ).json()["webhook"]
    secret = api("GET", f"/api/v2/webhooks/{hook['id']}/signing_secret").json()
    r = api(
        "POST",
        "/api/v2/triggers",
        {
            "trigger": {
                "title": "[sms-connector] agent reply",
                "conditions": {
                    "all": [
                        {"field": "comment_is_public", "operator": "is", "value": "true"},
                        {"field": "role", "operator": "is_not", "value": "end_user"},
                        {"field": "current_via_id", "operator": "is_not", "value": "5"},
                        {"field": "current_tags", "operator": "includes", "value": "sms"},
                    ]
                },
                "actions": [
                    {"field": "notification_webhook", "value": [hook["id"], REPLY_TRIGGER_BODY]}
                ],
            }
        },
    )
    assert r.status_code == 201, r.text
    return hook["id"], secret["signing_secret"]["secret"]


def sms_ticket(api: Any, tags: list[str] | None = None) -> tuple[int, int]:
    user = api(
        "POST",
        "/api/v2/users/create_or_update",
        {"user": {"name": "SMS +12025550142", "external_id": "sms:+12025550142"}},
    ).json()["user"]
    ticket = api(
        "POST",
        "/api/v2/tickets",
        {
            "ticket": {
                "requester_id": user["id"],
                "submitter_id": user["id"],
                "tags": tags or ["sms"],
                "comment": {"body": "my order is late"},
            }
        },
    ).json()["ticket"]
    return int(ticket["id"]), int(user["id"])


def test_agent_reply_fires_a_signed_webhook_that_verifies(
    zendesk: tuple[str, ZendeskSandbox], api: Any
) -> None:
    base, sandbox = zendesk
    with SignedReceiver() as receiver:
        hook_id, secret = install_reply_trigger(api, receiver.url)
        receiver.secret = secret
        ticket_id, user_id = sms_ticket(api)
        # The connector's own writes (API, via 5) must not fire it, public or not.
        api(
            "PUT",
            f"/api/v2/tickets/{ticket_id}",
            {"ticket": {"comment": {"body": "second text", "author_id": user_id}}},
        )
        api(
            "PUT",
            f"/api/v2/tickets/{ticket_id}",
            {"ticket": {"comment": {"body": "ack sent", "public": False}}},
        )
        # A private note from the agent UI does not fire it either.
        requests.post(
            f"{base}/_sandbox/agent_reply",
            timeout=10,
            json={"ticket_id": ticket_id, "body": "note", "public": False},
        )
        reply = requests.post(
            f"{base}/_sandbox/agent_reply",
            timeout=10,
            json={"ticket_id": ticket_id, "body": "on its way"},
        )
        assert reply.status_code == 200
        assert sandbox.flush(10)
        assert len(receiver.deliveries) == 1
        delivery = receiver.deliveries[0]
        assert delivery.verified
        assert delivery.headers["X-Zendesk-Webhook-Id"] == hook_id
        assert delivery.headers["X-Zendesk-Webhook-Invocation-Id"]
        assert delivery.headers["Content-Type"] == "application/json"
        payload = json.loads(delivery.body)
        assert payload == {
            "ticket_id": str(ticket_id),
            "by": str(sandbox.store.default_agent_id),
            "s": "Open",
        }
        state = requests.get(f"{base}/_sandbox/state", timeout=10).json()
        assert [d["status"] for d in state["deliveries"]] == ["delivered"]


def test_an_untagged_ticket_or_an_end_user_does_not_fire(
    zendesk: tuple[str, ZendeskSandbox], api: Any
) -> None:
    base, sandbox = zendesk
    with SignedReceiver() as receiver:
        _, receiver.secret = install_reply_trigger(api, receiver.url)
        email_ticket, _ = sms_ticket(api, tags=["email"])
        requests.post(
            f"{base}/_sandbox/agent_reply",
            timeout=10,
            json={"ticket_id": email_ticket, "body": "hello"},
        )
        assert sandbox.flush(10)
        assert receiver.deliveries == []


def test_failed_deliveries_are_retried_and_bad_signatures_are_refused(
    zendesk: tuple[str, ZendeskSandbox], api: Any
) -> None:
    base, sandbox = zendesk
    with SignedReceiver(fail_first=2) as receiver:
        _, receiver.secret = install_reply_trigger(api, receiver.url)
        ticket_id, _ = sms_ticket(api)
        requests.post(
            f"{base}/_sandbox/agent_reply",
            timeout=10,
            json={"ticket_id": ticket_id, "body": "on its way"},
        )
        assert sandbox.flush(10)
        assert len(receiver.deliveries) == 3  # 503, 503, then 200
        assert all(d.verified for d in receiver.deliveries)
        [record] = sandbox.state(base)["deliveries"]
        assert [a["status"] for a in record["attempts"]] == [503, 503, 200]
        assert record["status"] == "delivered"
        # With the wrong secret the receiver answers 403: final, not retried.
        receiver.secret = "not-the-secret"
        requests.post(
            f"{base}/_sandbox/agent_reply",
            timeout=10,
            json={"ticket_id": ticket_id, "body": "again"},
        )
        assert sandbox.flush(10)
        assert [d.verified for d in receiver.deliveries[3:]] == [False]
        assert sandbox.state(base)["deliveries"][-1]["status"] == "failed"


def test_trigger_cycle_reruns_after_actions_and_fires_each_once(
    zendesk: tuple[str, ZendeskSandbox], api: Any
) -> None:
    # B is ordered first but only matches after A has tagged the ticket: Zendesk's cycle
    # re-checks from the top after A's action, so B fires in the same update; each fires once.
    api(
        "POST",
        "/api/v2/triggers",
        {
            "trigger": {
                "title": "B",
                "position": 1,
                "conditions": {
                    "all": [{"field": "current_tags", "operator": "includes", "value": "a_ran"}]
                },
                "actions": [
                    {"field": "add_tags", "value": "b_ran"},
                    {"field": "priority", "value": "high"},
                ],
            }
        },
    )
    api(
        "POST",
        "/api/v2/triggers",
        {
            "trigger": {
                "title": "A",
                "position": 2,
                "conditions": {
                    "all": [
                        {"field": "update_type", "operator": "is", "value": "Create"},
                        {"field": "status", "operator": "less_than", "value": "solved"},
                    ]
                },
                "actions": [{"field": "add_tags", "value": "a_ran"}],
            }
        },
    )
    ticket_id, _ = sms_ticket(api)
    ticket = api("GET", f"/api/v2/tickets/{ticket_id}").json()["ticket"]
    assert ticket["tags"] == ["sms", "a_ran", "b_ran"] and ticket["priority"] == "high"
    audit = api("GET", f"/api/v2/tickets/{ticket_id}/audits").json()["audits"][0]
    rule_events = [e for e in audit["events"] if e.get("via", {}).get("channel") == "rule"]
    assert [e["field_name"] for e in rule_events] == ["tags", "tags", "priority"]
    # An update that is not a Create fires neither again.
    api("PUT", f"/api/v2/tickets/{ticket_id}", {"ticket": {"remove_tags": ["b_ran"]}})
    ticket = api("GET", f"/api/v2/tickets/{ticket_id}").json()["ticket"]
    assert ticket["tags"] == ["sms", "a_ran", "b_ran"]  # B re-adds: its condition still holds


def test_status_conditions_and_actions(zendesk: tuple[str, ZendeskSandbox], api: Any) -> None:
    base, _ = zendesk
    api(
        "POST",
        "/api/v2/triggers",
        {
            "trigger": {
                "title": "reopened",
                "conditions": {
                    "all": [
                        {"field": "status", "operator": "value_previous", "value": "solved"},
                        {"field": "role", "operator": "is", "value": "admin"},
                    ]
                },
                "actions": [{"field": "set_tags", "value": "sms reopened"}],
            }
        },
    )
    ticket_id, _ = sms_ticket(api)
    requests.post(
        f"{base}/_sandbox/tickets/{ticket_id}/status", json={"status": "solved"}, timeout=10
    )
    r = api("PUT", f"/api/v2/tickets/{ticket_id}", {"ticket": {"status": "open"}})
    assert r.json()["ticket"]["tags"] == ["sms", "reopened"]


def test_ambiguous_drop_after_commit_leaves_one_ticket_found_by_idempotency(
    zendesk: tuple[str, ZendeskSandbox], api: Any
) -> None:
    base, sandbox = zendesk
    user = api(
        "POST",
        "/api/v2/users/create_or_update",
        {"user": {"name": "x", "external_id": "sms:+12025550199"}},
    ).json()["user"]
    requests.post(f"{base}/_sandbox/faults", json={"drop_after_commit": 1}, timeout=10)
    body = {"ticket": {"requester_id": user["id"], "comment": {"body": "hi"}}}
    with requests.Session() as session:
        session.auth = AUTH
        with pytest.raises(requests.ConnectionError):
            session.post(
                f"{base}/api/v2/tickets", json=body, timeout=10, headers={"Idempotency-Key": "k-1"}
            )
        again = session.post(
            f"{base}/api/v2/tickets", json=body, timeout=10, headers={"Idempotency-Key": "k-1"}
        )
    assert again.headers["x-idempotency-lookup"] == "hit"
    assert len(sandbox.store.tickets) == 1

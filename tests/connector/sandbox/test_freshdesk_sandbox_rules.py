"""Automation rules of the Freshdesk stand-in and their webhooks, over real loopback HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connector.sandbox.common import SandboxServer
from connector.sandbox.freshdesk import FreshdeskSandbox, create_app
from tests.connector.sandbox.receiver import Receiver

AUTH = ("sandbox-api-key", "X")
SECRET = "s3cret"
HOOK = "/webhooks/helpdesk/freshdesk"
SMS_ONLY = [{"name": "condition_set_1", "match_type": "all", "properties": [
    {"resource_type": "ticket", "field_name": "tag_names", "operator": "in", "value": ["sms"]}]}]


def webhook(url: str, event: str, **extra: Any) -> dict[str, Any]:
    return {"field_name": "trigger_webhook", "request_type": "POST", "url": url,
            "custom_headers": {"X-Sms-Connector-Secret": SECRET}, "content_type": "JSON",
            "content_layout": "2", "content": {"ticket_id": "{{ticket.id}}", "event": event},
            **extra}


def reply_rule(url: str, conditions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The plan's agent reply rule (with Freshdesk's tag condition name)."""
    return {"name": "[sms-connector] Text agent replies to the customer",
            "performer": {"type": 1}, "events": [{"field_name": "reply_sent"}],
            "conditions": SMS_ONLY if conditions is None else conditions,
            "actions": [webhook(url, "reply_sent")]}


def status_rule(url: str) -> dict[str, Any]:
    return {"name": "[sms-connector] Tell the connector a ticket's status changed",
            "performer": {"type": 3}, "events": [{"field_name": "status", "from": "--",
                                                   "to": "--"}],
            "conditions": SMS_ONLY, "actions": [webhook(url, "status")]}


class Env:
    def __init__(self, base: str, sandbox: FreshdeskSandbox, receiver: Receiver) -> None:
        self.base, self.sandbox, self.receiver = base, sandbox, receiver
        self.session = requests.Session()
        self.session.auth = AUTH
        self.hook = receiver.url + HOOK

    def __call__(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.session.request(method, self.base + path, json=body, timeout=10)

    def rule(self, body: dict[str, Any], rule_type: int = 4) -> dict[str, Any]:
        r = self("POST", f"/api/v2/automations/{rule_type}/rules", body)
        assert r.status_code == 201, r.text
        return dict(r.json())

    def ticket(self, tags: list[str] | None = None) -> dict[str, Any]:
        r = self("POST", "/api/v2/tickets", {
            "subject": "SMS", "description": "<p>hi</p>", "phone": "+12025550142",
            "name": "SMS +12025550142", "tags": ["sms"] if tags is None else tags})
        assert r.status_code == 201, r.text
        return dict(r.json())

    def delivered(self) -> list[dict[str, Any]]:
        assert self.sandbox.flush(5)
        return [json.loads(r.body) for r in self.receiver.requests_to(HOOK)]


@pytest.fixture
def env() -> Iterator[Env]:
    app = create_app()
    with Receiver(body="ok", content_type="text/plain") as receiver, SandboxServer(app) as server:
        e = Env(server.url, app.extensions["freshdesk_sandbox"], receiver)
        yield e
        e.session.close()


def test_rule_crud(env: Env) -> None:
    created = env.rule(reply_rule(env.hook))
    assert created["automation_type_id"] == 4 and created["active"] is True
    assert created["performer"] == {"type": 1}
    rid = created["id"]
    assert env("GET", f"/api/v2/automations/4/rules/{rid}").json()["name"] == created["name"]
    assert [r["id"] for r in env("GET", "/api/v2/automations/4/rules").json()] == [rid]
    assert env("GET", "/api/v2/automations/1/rules").json() == []
    updated = env("PUT", f"/api/v2/automations/4/rules/{rid}", {"active": False})
    assert updated.status_code == 200 and updated.json()["active"] is False
    assert env("GET", f"/api/v2/automations/1/rules/{rid}").status_code == 404
    assert env("GET", "/api/v2/automations/2/rules").status_code == 404
    assert env("DELETE", f"/api/v2/automations/4/rules/{rid}").status_code == 204
    assert env("GET", f"/api/v2/automations/4/rules/{rid}").status_code == 404
    creation = env.rule({"name": "on create", "conditions": SMS_ONLY,
                         "actions": [webhook(env.hook, "created")]}, rule_type=1)
    assert "performer" not in creation
    hourly = env.rule({"name": "hourly", "conditions": SMS_ONLY,
                       "actions": [{"field_name": "priority", "value": 3}]}, rule_type=3)
    assert hourly["automation_type_id"] == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"performer": {"type": 1}, "events": [{"field_name": "reply_sent"}]}, "name"),
        ({"name": "x", "events": [{"field_name": "reply_sent"}]}, "performer"),
        ({"name": "x", "performer": {"type": 9}}, "performer[:type]"),
        ({"name": "x", "performer": {"type": 1}, "events": [{"field_name": "replied"}]},
         "events[:replied]"),
        ({"name": "x", "performer": {"type": 1}, "events": [{"field_name": "reply_sent"}],
          "conditions": [{"name": "condition_set_1", "match_type": "all", "properties": [
              {"resource_type": "ticket", "field_name": "ticket_tags", "operator": "in",
               "value": ["sms"]}]}]},
         "conditions[:condition_set_1][:ticket][:ticket_tags]"),
        ({"name": "x", "performer": {"type": 1}, "events": [{"field_name": "reply_sent"}],
          "conditions": [{"name": "condition_set_1", "match_type": "all", "properties": [
              {"resource_type": "ticket", "field_name": "status", "operator": "contains",
               "value": [2]}]}]},
         "conditions[:condition_set_1][:ticket][:status][:operator]"),
        ({"name": "x", "performer": {"type": 1}, "events": [{"field_name": "reply_sent"}],
          "actions": [{"field_name": "trigger_webhook", "request_type": "POST",
                       "url": "not a url", "content_type": "JSON", "content_layout": "2",
                       "content": {}}]}, "actions[:trigger_webhook][:url]"),
        ({"name": "x", "performer": {"type": 1}, "events": [{"field_name": "reply_sent"}],
          "actions": [{"field_name": "trigger_webhook", "request_type": "POST",
                       "url": "http://example.com/"}]},
         "actions[:trigger_webhook][:content_type]"),
        ({"name": "x", "performer": {"type": 1}, "events": [{"field_name": "reply_sent"}],
          "actions": [{"field_name": "send_sms", "value": 1}]}, "actions[:send_sms]"),
        ({"name": "x", "performer": {"type": 1}, "events": [{"field_name": "reply_sent"}],
          "actions": [{"field_name": "add_tag", "value": "a"}], "colour": "red"}, "colour"),
    ],
)
def test_rule_validation(env: Env, body: dict[str, Any], field: str) -> None:
    body = {"actions": [webhook(env.hook, "x")], **body}
    r = env("POST", "/api/v2/automations/4/rules", body)
    assert r.status_code == 400, r.text
    assert r.json()["description"] == "Validation failed"
    assert field in [e["field"] for e in r.json()["errors"]]
    assert env("GET", "/api/v2/automations/4/rules").json() == []


def test_type_1_and_3_rules_refuse_performer_and_need_conditions(env: Env) -> None:
    r = env("POST", "/api/v2/automations/1/rules", {
        "name": "x", "performer": {"type": 1}, "conditions": SMS_ONLY,
        "actions": [webhook(env.hook, "x")]})
    assert ("performer", "invalid_field") in [(e["field"], e["code"])
                                              for e in r.json()["errors"]]
    r = env("POST", "/api/v2/automations/1/rules", {"name": "x",
                                                    "actions": [webhook(env.hook, "x")]})
    assert ("conditions", "missing_field") in [(e["field"], e["code"])
                                               for e in r.json()["errors"]]


def test_condition_aliases_are_opt_in() -> None:
    app = create_app(condition_aliases={"ticket_tags": "tag_names"})
    sandbox: FreshdeskSandbox = app.extensions["freshdesk_sandbox"]
    conditions = [{"name": "condition_set_1", "match_type": "all", "properties": [
        {"resource_type": "ticket", "field_name": "ticket_tags", "operator": "in",
         "value": ["sms"]}]}]
    with sandbox.lock:
        rule = sandbox.rules.create(4, reply_rule("http://127.0.0.1:9/", conditions))
    assert rule["conditions"][0]["properties"][0]["field_name"] == "ticket_tags"
    sandbox.close()


def test_agent_replies_fire_and_customer_notes_do_not(env: Env) -> None:
    env.rule(reply_rule(env.hook))
    ticket = env.ticket()
    tid, requester = ticket["id"], ticket["requester_id"]
    # Customer's public note: reply_sent with performer requester -> the agent rule stays quiet.
    env("POST", f"/api/v2/tickets/{tid}/notes", {"body": "second text", "private": False,
                                                 "incoming": True, "user_id": requester})
    # Private note by the API agent, and an agent's public note (note_type, not reply_sent).
    env("POST", f"/api/v2/tickets/{tid}/notes", {"body": "ack sent"})
    env("POST", f"/api/v2/tickets/{tid}/notes", {"body": "fyi", "private": False})
    env.sandbox.agent_reply(tid, "internal", public=False)
    assert env.delivered() == []
    # Agent replies: in the UI and through the API (the key's agent).
    r = requests.post(env.base + "/_sandbox/agent_reply",
                      json={"ticket_id": tid, "body": "<p>on its way</p>"}, timeout=5)
    assert r.status_code == 200
    env("POST", f"/api/v2/tickets/{tid}/reply", {"body": "<p>api reply</p>"})
    assert env.delivered() == [{"ticket_id": str(tid), "event": "reply_sent"}] * 2
    sent = env.receiver.requests_to(HOOK)[0]
    assert sent.method == "POST"
    assert sent.headers["User-Agent"] == "Freshdesk"
    assert sent.headers["X-Sms-Connector-Secret"] == SECRET
    assert sent.headers["Content-Type"] == "application/json"
    attempts = env.sandbox.state()["webhook_attempts"]
    assert [a["status"] for a in attempts] == ["delivered", "delivered"]


def test_reply_rule_conditions_filter_on_tags(env: Env) -> None:
    env.rule(reply_rule(env.hook))
    other = env.ticket(tags=["email"])
    env.sandbox.agent_reply(other["id"], "hello")
    assert env.delivered() == []
    sms = env.ticket(tags=["SMS", "vip"])  # tags compare without case
    env.sandbox.agent_reply(sms["id"], "hello")
    assert env.delivered() == [{"ticket_id": str(sms["id"]), "event": "reply_sent"}]


def test_requester_performer_rule_fires_on_customer_note(env: Env) -> None:
    body = reply_rule(env.hook)
    body["performer"] = {"type": 2}
    env.rule(body)
    ticket = env.ticket()
    env.sandbox.agent_reply(ticket["id"], "agent")
    env("POST", f"/api/v2/tickets/{ticket['id']}/notes", {
        "body": "me again", "private": False, "incoming": True,
        "user_id": ticket["requester_id"]})
    assert env.delivered() == [{"ticket_id": str(ticket["id"]), "event": "reply_sent"}]


def test_status_rule_fires_for_api_and_ui_changes(env: Env) -> None:
    env.rule(status_rule(env.hook))
    ticket = env.ticket()
    tid = ticket["id"]
    env("PUT", f"/api/v2/tickets/{tid}", {"priority": 3})  # not a status change
    env("PUT", f"/api/v2/tickets/{tid}", {"status": 2})  # unchanged
    assert env.delivered() == []
    env("PUT", f"/api/v2/tickets/{tid}", {"status": 3})
    requests.post(env.base + f"/_sandbox/tickets/{tid}/status", json={"status": 4}, timeout=5)
    env.sandbox.set_status(tid, "closed")
    assert env.delivered() == [{"ticket_id": str(tid), "event": "status"}] * 3


def test_status_event_from_to_and_agent_members(env: Env) -> None:
    body = status_rule(env.hook)
    body["performer"] = {"type": 1, "members": [env.sandbox.agent_id]}
    body["events"] = [{"field_name": "status", "from": "--", "to": 4}]
    env.rule(body)
    tid = env.ticket()["id"]
    env.sandbox.set_status(tid, 4)  # the UI agent is not a member
    env("PUT", f"/api/v2/tickets/{tid}", {"status": 3})  # to 3: not wanted
    assert env.delivered() == []
    env("PUT", f"/api/v2/tickets/{tid}", {"status": 4})
    assert env.delivered() == [{"ticket_id": str(tid), "event": "status"}]


def test_creation_rule_fires_first_match_with_liquid_placeholders(env: Env) -> None:
    content = {"id": "{{ticket.id}}", "status": "{{ticket.status}}",
               "tags": "{{ticket.tags}}", "source": "{{ticket.source}}",
               "who": "{{ticket.requester.name}}", "nothing": "{{ticket.nope}}"}
    env.rule({"name": "first", "conditions": SMS_ONLY,
              "actions": [webhook(env.hook, "x", content=content)]}, rule_type=1)
    env.rule({"name": "second", "conditions": SMS_ONLY,
              "actions": [webhook(env.hook, "y")]}, rule_type=1)
    env.ticket(tags=["email"])
    ticket = env.ticket(tags=["sms", "vip"])
    assert env.delivered() == [{"id": str(ticket["id"]), "status": "Open", "tags": "sms, vip",
                                "source": "Portal", "who": "SMS +12025550142", "nothing": ""}]


def test_condition_operators(env: Env) -> None:
    def cond(field: str, op: str, value: Any) -> list[dict[str, Any]]:
        return [{"name": "condition_set_1", "match_type": "all", "properties": [
            {"resource_type": "ticket", "field_name": field, "operator": op, "value": value}]}]

    rules = {
        "all-tags": cond("tag_names", "and", ["sms", "vip"]),
        "no-email": cond("tag_names", "not_in", ["email"]),
        "status-open": cond("status", "in", [2]),
        "not-urgent": cond("priority", "not_in", [4]),
        "portal": cond("source", "in", [2]),
    }
    for name, conditions in rules.items():
        env.rule({"name": name, "performer": {"type": 1}, "events": [{"field_name": "reply_sent"}],
                  "conditions": conditions,
                  "actions": [webhook(env.hook, name)]})
    any_set = [{"name": "condition_set_1", "match_type": "any", "properties": [
        cond("priority", "in", [4])[0]["properties"][0],
        cond("tag_names", "in", ["vip"])[0]["properties"][0]]}]
    env.rule({"name": "any", "performer": {"type": 1}, "events": [{"field_name": "reply_sent"}],
              "conditions": any_set, "actions": [webhook(env.hook, "any")]})
    tid = env.ticket(tags=["sms", "vip"])["id"]
    env.sandbox.agent_reply(tid, "x")
    fired = {d["event"] for d in env.delivered()}
    assert fired == {"all-tags", "no-email", "status-open", "not-urgent", "portal", "any"}


def test_failed_webhooks_are_retried_on_the_sandbox_clock(env: Env) -> None:
    env.receiver.status = 503
    env.rule(reply_rule(env.hook))
    tid = env.ticket()["id"]
    env.sandbox.agent_reply(tid, "x")
    assert len(env.delivered()) == 1
    record = env.sandbox.state()["webhook_attempts"][0]
    assert record["status"] == "retrying" and len(record["attempts"]) == 1

    def advance(seconds: int) -> None:
        r = requests.post(env.base + "/_sandbox/clock", json={"advance_seconds": seconds},
                          timeout=5)
        assert r.status_code == 200
        assert requests.post(env.base + "/_sandbox/flush", json={}, timeout=10).json() == {
            "flushed": True}

    advance(200)
    assert len(env.receiver.requests_to(HOOK)) == 1  # +5 min not reached yet
    advance(120)
    assert len(env.receiver.requests_to(HOOK)) == 2
    advance(1800)
    env.receiver.status = 200
    advance(3600)
    record = env.sandbox.state()["webhook_attempts"][0]
    assert [a["status"] for a in record["attempts"]] == [503, 503, 503, 200]
    assert record["status"] == "delivered"


def test_webhook_auth_header_and_inactive_rules(env: Env) -> None:
    body = reply_rule(env.hook)
    body["actions"] = [webhook(env.hook, "reply_sent",
                               auth_header={"username": "u", "password": "p"})]
    rule = env.rule(body)
    tid = env.ticket()["id"]
    env.sandbox.agent_reply(tid, "x")
    assert len(env.delivered()) == 1
    assert env.receiver.requests_to(HOOK)[0].headers["Authorization"] == "Basic dTpw"
    env("PUT", f"/api/v2/automations/4/rules/{rule['id']}", {"active": False})
    env.sandbox.agent_reply(tid, "y")
    assert len(env.delivered()) == 1

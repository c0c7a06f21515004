"""Admin objects of the Freshdesk stand-in over real loopback HTTP: groups, SLA policies and the
due dates they give tickets, canned-response folders and responses, business hours, and hourly
(type 3) rules run on the sandbox clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from connector.sandbox.common import SandboxServer
from connector.sandbox.freshdesk import FreshdeskSandbox, create_app
from connector.sandbox.freshdesk_admin import SlaClock
from connector.sandbox.freshdesk_store import parse_iso
from tests.connector.sandbox.receiver import Receiver

AUTH = ("sandbox-api-key", "X")
HOOK = "/webhooks/helpdesk/freshdesk"
SMS_SOURCE = 101


def target(respond: int = 900, resolve: int = 3600, *, business_hours: bool = False,
           **extra: Any) -> dict[str, Any]:
    return {"respond_within": respond, "resolve_within": resolve,
            "business_hours": business_hours, "escalation_enabled": True, **extra}


def policy_body(name: str = "[sms-connector] Critical outage", **extra: Any) -> dict[str, Any]:
    return {"name": name, "description": "pack",
            "sla_target": {f"priority_{p}": target() for p in (4, 3, 2, 1)},
            "applicable_to": {"sources": [SMS_SOURCE]}, **extra}


class Env:
    def __init__(self, base: str, sandbox: FreshdeskSandbox, receiver: Receiver) -> None:
        self.base, self.sandbox, self.receiver = base, sandbox, receiver
        self.session = requests.Session()
        self.session.auth = AUTH
        self.hook = receiver.url + HOOK

    def __call__(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.session.request(method, self.base + path, json=body, timeout=10)

    def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        r = self(method, path, body)
        assert r.status_code == status, r.text
        return r.json()

    def ticket(self, **fields: Any) -> dict[str, Any]:
        body = {"subject": "SMS", "description": "<p>hi</p>", "phone": "+12025550142",
                "name": "SMS +12025550142", **fields}
        return dict(self.ok("POST", "/api/v2/tickets", body, 201))

    def fields(self, r: requests.Response) -> list[tuple[str, str]]:
        assert r.status_code == 400, r.text
        assert r.json()["description"] == "Validation failed"
        return [(e["field"], e["code"]) for e in r.json()["errors"]]

    def run(self, hours: int | None = None) -> list[dict[str, Any]]:
        r = requests.post(self.base + "/_sandbox/automations/run",
                          json={} if hours is None else {"hours": hours}, timeout=10)
        assert r.status_code == 200, r.text
        return list(r.json()["runs"])


@pytest.fixture
def env() -> Iterator[Env]:
    app = create_app()
    with Receiver(body="ok", content_type="text/plain") as receiver, SandboxServer(app) as server:
        e = Env(server.url, app.extensions["freshdesk_sandbox"], receiver)
        yield e
        e.session.close()


def created_at(ticket: dict[str, Any]) -> float:
    at = parse_iso(ticket["created_at"])
    assert at is not None
    return at


def due(ticket: dict[str, Any], key: str) -> float:
    return (parse_iso(ticket[key]) or 0) - created_at(ticket)


# ---------------------------------------------------------------------- auth, 404, 405


@pytest.mark.parametrize("path", ["/api/v2/groups", "/api/v2/sla_policies",
                                  "/api/v2/canned_response_folders", "/api/v2/business_hours"])
def test_admin_lists_need_credentials(env: Env, path: str) -> None:
    r = requests.get(env.base + path, auth=("wrong", "X"), timeout=5)
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_credentials"


@pytest.mark.parametrize("path", ["/api/v2/groups/1", "/api/v2/groups/x",
                                  "/api/v2/canned_response_folders/1",
                                  "/api/v2/canned_response_folders/1/responses",
                                  "/api/v2/canned_responses/1", "/api/v2/business_hours/1"])
def test_unknown_ids_are_404_without_a_body(env: Env, path: str) -> None:
    r = env("GET", path)
    assert r.status_code == 404
    assert r.content == b""


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("DELETE", "/api/v2/sla_policies/{default}", "PUT"),
    ("GET", "/api/v2/sla_policies/{default}", "PUT"),
    ("DELETE", "/api/v2/canned_responses/1", "GET, PUT"),
    ("DELETE", "/api/v2/canned_response_folders/1", "GET, PUT"),
    ("POST", "/api/v2/business_hours", "GET"),
    ("PUT", "/api/v2/business_hours/{calendar}", "GET"),
])
def test_what_freshdesk_lacks_is_405(env: Env, method: str, path: str, allowed: str) -> None:
    default = env.ok("GET", "/api/v2/sla_policies")[0]["id"]
    calendar = env.ok("GET", "/api/v2/business_hours")[0]["id"]
    r = env(method, path.format(default=default, calendar=calendar), {"name": "x"})
    assert r.status_code == 405
    assert r.json()["code"] == "method_not_allowed"
    assert r.headers["Allow"] == allowed


# ---------------------------------------------------------------------- groups


def test_groups_seeded_listed_by_name_without_agents(env: Env) -> None:
    groups = env.ok("GET", "/api/v2/groups")
    assert [g["name"] for g in groups] == ["Billing", "Escalations", "Product Management", "QA",
                                           "Sales"]
    assert all("agent_ids" not in g and g["unassigned_for"] == "30m" for g in groups)
    shown = env.ok("GET", f"/api/v2/groups/{groups[0]['id']}")
    assert shown["agent_ids"] == [] and shown["group_type"] == "support_agent_group"
    page = env("GET", "/api/v2/groups?per_page=2")
    assert len(page.json()) == 2 and 'rel="next"' in page.headers["Link"]


def test_group_create_update_delete(env: Env) -> None:
    agent = env.sandbox.store.other_agent_id
    r = env("POST", "/api/v2/groups", {"name": " Tech Support ", "description": "SMS tech",
                                       "agent_ids": [agent], "escalate_to": agent,
                                       "unassigned_for": "1h"})
    assert r.status_code == 201, r.text
    group = r.json()
    assert r.headers["Location"].endswith(f"/api/v2/groups/{group['id']}")
    assert (group["name"], group["agent_ids"], group["escalate_to"], group["unassigned_for"]) == \
        ("Tech Support", [agent], agent, "1h")
    assert env.ok("GET", "/api/v2/agents/me")["group_ids"] == []
    assert env.sandbox.store.agents[agent]["group_ids"] == [group["id"]]
    updated = env.ok("PUT", f"/api/v2/groups/{group['id']}", {"agent_ids": [],
                                                              "description": None})
    assert updated["agent_ids"] == [] and updated["description"] is None
    assert updated["name"] == "Tech Support"
    assert env("DELETE", f"/api/v2/groups/{group['id']}").status_code == 204
    assert env("GET", f"/api/v2/groups/{group['id']}").status_code == 404


def test_group_names_are_unique_without_regard_to_case(env: Env) -> None:
    billing = next(g for g in env.ok("GET", "/api/v2/groups") if g["name"] == "Billing")
    r = env("POST", "/api/v2/groups", {"name": "billing"})
    assert r.status_code == 409
    assert r.json()["errors"] == [{"field": "name", "message": "It should be a unique value",
                                   "code": "duplicate_value",
                                   "additional_info": {"group_id": billing["id"]}}]
    sales = next(g for g in env.ok("GET", "/api/v2/groups") if g["name"] == "Sales")
    assert env("PUT", f"/api/v2/groups/{sales['id']}", {"name": "BILLING"}).status_code == 409
    assert env("PUT", f"/api/v2/groups/{billing['id']}", {"name": "Billing"}).status_code == 200


@pytest.mark.parametrize(("body", "error"), [
    ({"description": "no name"}, ("name", "missing_field")),
    ({"name": "  "}, ("name", "invalid_value")),
    ({"name": "x" * 256}, ("name", "invalid_value")),
    ({"name": "x", "unassigned_for": "45m"}, ("unassigned_for", "invalid_value")),
    ({"name": "x", "agent_ids": ["1"]}, ("agent_ids", "datatype_mismatch")),
    ({"name": "x", "agent_ids": [99]}, ("agent_ids", "invalid_value")),
    ({"name": "x", "escalate_to": 99}, ("escalate_to", "invalid_value")),
    ({"name": "x", "auto_ticket_assign": True}, ("auto_ticket_assign", "invalid_field")),
])
def test_group_validation(env: Env, body: dict[str, Any], error: tuple[str, str]) -> None:
    assert error in env.fields(env("POST", "/api/v2/groups", body))


# ---------------------------------------------------------------------- SLA policies


def test_every_account_has_the_default_policy_and_it_cannot_be_updated(env: Env) -> None:
    [default] = env.ok("GET", "/api/v2/sla_policies")
    assert (default["name"], default["is_default"], default["position"], default["active"]) == \
        ("Default SLA Policy", True, 1, True)
    assert default["applicable_to"] == {}
    assert default["sla_target"]["priority_4"] == {
        "respond_within": 3600, "resolve_within": 14400, "next_respond_within": None,
        "business_hours": True, "escalation_enabled": True}
    r = env("PUT", f"/api/v2/sla_policies/{default['id']}",
            {"sla_target": policy_body()["sla_target"]})
    assert r.status_code == 400
    assert r.json() == {"code": "cannot_update_default_sla", "message": "You are trying to "
                        "update the Default SLA policy. It cannot be updated"}
    assert env("PUT", "/api/v2/sla_policies/12", {"active": False}).status_code == 404


def test_sla_policy_create_list_update(env: Env) -> None:
    escalation = {"response": {"escalation_time": 1800, "agent_ids": [-1]},
                  "resolution": {"level_1": {"escalation_time": 0, "agent_ids": [-1]},
                                 "level_2": {"escalation_time": 3600,
                                             "agent_ids": [env.sandbox.agent_id]}}}
    r = env("POST", "/api/v2/sla_policies", policy_body(escalation=escalation))
    assert r.status_code == 201, r.text
    policy = r.json()
    assert (policy["is_default"], policy["position"], policy["active"]) == (False, 2, True)
    assert policy["applicable_to"] == {"sources": [SMS_SOURCE]}
    assert policy["escalation"]["response"] == {"escalation_time": 1800, "agent_ids": [-1]}
    assert policy["escalation"]["next_response"] == {}
    assert list(policy["escalation"]["resolution"]) == ["level_1", "level_2"]
    assert policy["sla_target"]["priority_1"]["next_respond_within"] is None
    second = env.ok("POST", "/api/v2/sla_policies", policy_body("[sms-connector] Billing"), 201)
    assert second["position"] == 3
    assert [p["name"] for p in env.ok("GET", "/api/v2/sla_policies")] == [
        "[sms-connector] Critical outage", "[sms-connector] Billing", "Default SLA Policy"]
    # applicable_to and escalation are replaced whole when given, kept when not
    updated = env.ok("PUT", f"/api/v2/sla_policies/{policy['id']}",
                     {"active": False, "applicable_to": {"ticket_types": ["Incident"]}})
    assert updated["active"] is False
    assert updated["applicable_to"] == {"ticket_types": ["Incident"]}
    assert updated["escalation"] == policy["escalation"]
    # the name stays unique, answered 400 (not 409) with the policy's name
    r = env("PUT", f"/api/v2/sla_policies/{second['id']}",
            {"name": "[SMS-connector] critical outage"})
    assert r.status_code == 400
    assert r.json()["errors"] == [{"field": "name", "code": "invalid_value", "message":
                                   "A policy already exists with name "
                                   "'[SMS-connector] critical outage'."}]


def _with_target(key: str, **changes: Any) -> dict[str, Any]:
    body = policy_body()
    body["sla_target"][key] = {**body["sla_target"][key], **changes}
    return body


def _without(key: str, inner: str | None = None) -> dict[str, Any]:
    body = policy_body()
    if inner is None:
        del body["sla_target"][key]
    else:
        del body["sla_target"][key][inner]
    return body


@pytest.mark.parametrize(("body", "error"), [
    ({"description": "x"}, ("name", "missing_field")),
    ({"name": "x", "sla_target": policy_body()["sla_target"]},
     ("applicable_to", "missing_field")),
    ({**policy_body(), "position": 1}, ("position", "invalid_field")),
    ({**policy_body(), "is_default": True}, ("is_default", "invalid_field")),
    (_without("priority_2"), ("sla_target[priority_2]", "missing_field")),
    (_without("priority_4", "business_hours"),
     ("sla_target[priority_4][business_hours]", "missing_field")),
    (_with_target("priority_4", respond_within=600),
     ("sla_target[priority_4][respond_within]", "invalid_value")),
    (_with_target("priority_3", resolve_within=930),
     ("sla_target[priority_3][resolve_within]", "invalid_value")),
    (_with_target("priority_1", respond_within="15m"),
     ("sla_target[priority_1][respond_within]", "datatype_mismatch")),
    (_with_target("priority_1", next_respond_within=300),
     ("sla_target[priority_1][next_respond_within]", "invalid_value")),
    (_with_target("priority_1", resolve_within=31_536_060),
     ("sla_target[priority_1][resolve_within]", "invalid_value")),
    ({**policy_body(), "applicable_to": {}}, ("applicable_to", "invalid_value")),
    ({**policy_body(), "applicable_to": {"group_ids": []}}, ("applicable_to", "invalid_value")),
    ({**policy_body(), "applicable_to": {"group_ids": [7]}}, ("group_ids", "invalid_value")),
    ({**policy_body(), "applicable_to": {"sources": [8]}}, ("sources", "invalid_value")),
    ({**policy_body(), "applicable_to": {"ticket_types": ["Refund"]}},
     ("ticket_types", "invalid_value")),
    ({**policy_body(), "applicable_to": {"tags": ["sms"]}},
     ("applicable_to[tags]", "invalid_field")),
    ({**policy_body(), "escalation": {"response": {"escalation_time": 900, "agent_ids": [-1]}}},
     ("response[escalation_time]", "invalid_value")),
    ({**policy_body(), "escalation": {"response": {"escalation_time": 0, "agent_ids": [42]}}},
     ("response[agent_ids]", "invalid_value")),
    ({**policy_body(), "escalation": {"reminder_response": {"escalation_time": 1800,
                                                            "agent_ids": [-1]}}},
     ("reminder_response[escalation_time]", "invalid_value")),
    ({**policy_body(), "escalation": {"resolution": {
        "level_1": {"escalation_time": 3600, "agent_ids": [-1]},
        "level_2": {"escalation_time": 1800, "agent_ids": [-1]}}}},
     ("resolution[level_2][escalation_time]", "invalid_value")),
    ({**policy_body(), "escalation": {"resolution": {
        "level_2": {"escalation_time": 3600, "agent_ids": [-1]}}}},
     ("resolution[level_2]", "invalid_value")),
    ({**policy_body(), "escalation": {"response": {"agent_ids": [-1]}}},
     ("response[escalation_time]", "missing_field")),
])
def test_sla_policy_validation(env: Env, body: dict[str, Any], error: tuple[str, str]) -> None:
    assert error in env.fields(env("POST", "/api/v2/sla_policies", body))
    assert len(env.ok("GET", "/api/v2/sla_policies")) == 1


def test_sla_target_messages_name_the_rule(env: Env) -> None:
    r = env("POST", "/api/v2/sla_policies", _with_target("priority_4", respond_within=600,
                                                           resolve_within=3630))
    messages = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert messages == {"sla_target[priority_4][respond_within]":
                        "must be greater than or equal to 900",
                        "sla_target[priority_4][resolve_within]": "Must Be multiple of 60"}


# ---------------------------------------------------------------------- due dates


def test_tickets_take_the_first_matching_active_policy_by_position(env: Env) -> None:
    groups = {g["name"]: g["id"] for g in env.ok("GET", "/api/v2/groups")}
    sms = env.ok("POST", "/api/v2/sla_policies", policy_body(
        "sms", sla_target={f"priority_{p}": target(900 * p, 3600 * p) for p in (4, 3, 2, 1)}),
        201)
    env.ok("POST", "/api/v2/sla_policies", policy_body(
        "billing sms", applicable_to={"sources": [SMS_SOURCE], "group_ids": [groups["Billing"]]},
        sla_target={f"priority_{p}": target(1800, 7200) for p in (4, 3, 2, 1)}), 201)
    urgent = env.ticket(source=SMS_SOURCE, priority=4)
    assert (due(urgent, "fr_due_by"), due(urgent, "due_by")) == (3600, 14400)
    # position decides: the broader "sms" policy comes first, so billing tickets get it too
    billing = env.ticket(source=SMS_SOURCE, priority=1, group_id=groups["Billing"])
    assert due(billing, "fr_due_by") == 900
    state = env.sandbox.state()["sla_assignments"]
    assert state[str(urgent["id"])] == state[str(billing["id"])] == sms["id"]
    # an inactive policy is skipped
    env.ok("PUT", f"/api/v2/sla_policies/{sms['id']}", {"active": False})
    later = env.ticket(source=SMS_SOURCE, priority=1, group_id=groups["Billing"])
    assert due(later, "fr_due_by") == 1800
    # editing or deactivating a policy leaves tickets that already have one alone
    assert due(env.ok("GET", f"/api/v2/tickets/{urgent['id']}"), "fr_due_by") == 3600


def test_due_dates_follow_priority_and_condition_changes(env: Env) -> None:
    sms = policy_body("sms", sla_target={f"priority_{p}": target(900 * p, 3600 * p)
                                         for p in (4, 3, 2, 1)})
    env.ok("POST", "/api/v2/sla_policies", sms, 201)
    ticket = env.ticket(source=SMS_SOURCE)  # priority 1 (Low) by default
    assert due(ticket, "fr_due_by") == 900
    raised = env.ok("PUT", f"/api/v2/tickets/{ticket['id']}", {"priority": 3})
    assert (due(raised, "fr_due_by"), due(raised, "due_by")) == (2700, 10800)
    # a field the policies test changed: chosen again (an e-mail ticket gets the default)
    moved = env.ok("PUT", f"/api/v2/tickets/{ticket['id']}", {"source": 1})
    default_high = 14400  # business hours: at least that long
    assert due(moved, "fr_due_by") >= default_high
    assert env.ok("GET", f"/api/v2/tickets/{ticket['id']}")["fr_due_by"] == moved["fr_due_by"]


def test_business_hours_count_only_open_hours() -> None:
    calendar = SlaClock(id=1, created_at="2026-01-01T00:00:00Z")
    # Friday 2026-03-06 16:00 in New York (EST, UTC-5): open until 17:00
    friday_4pm = datetime(2026, 3, 6, 21, 0, tzinfo=UTC).timestamp()
    assert calendar.add(friday_4pm, 3600) == datetime(2026, 3, 6, 22, 0, tzinfo=UTC).timestamp()
    # 2 h: one on Friday, one on Monday from 08:00 (EDT from 8 March: UTC-4)
    assert calendar.add(friday_4pm, 7200) == datetime(2026, 3, 9, 13, 0, tzinfo=UTC).timestamp()
    # Saturday evening: Monday 08:00 + 15 min
    saturday = datetime(2026, 3, 7, 23, 0, tzinfo=UTC).timestamp()
    assert calendar.add(saturday, 900) == datetime(2026, 3, 9, 12, 15, tzinfo=UTC).timestamp()
    # Christmas (a Friday in 2026) is closed: Thursday 16:30 + 1 h → Monday 08:30
    thursday = datetime(2026, 12, 24, 21, 30, tzinfo=UTC).timestamp()
    assert calendar.add(thursday, 3600) == datetime(2026, 12, 28, 13, 30, tzinfo=UTC).timestamp()


def test_business_hours_are_read_only_and_shown_as_freshdesk_does(env: Env) -> None:
    [listed] = env.ok("GET", "/api/v2/business_hours")
    assert (listed["name"], listed["is_default"], listed["time_zone"]) == \
        ("Default", True, "Eastern Time (US & Canada)")
    assert listed["business_hours"]["monday"] == {"start_time": "08:00:00 am",
                                                  "end_time": "05:00:00 pm"}
    assert "saturday" not in listed["business_hours"] and "holiday_list" not in listed
    shown = env.ok("GET", f"/api/v2/business_hours/{listed['id']}")
    assert ["Dec 25", "Christmas Day"] in shown["holiday_list"]


# ---------------------------------------------------------------------- canned responses


def test_canned_folders_seeded_created_and_guarded(env: Env) -> None:
    folders = env.ok("GET", "/api/v2/canned_response_folders")
    assert [(f["name"], f["personal"]) for f in folders] == [("Personal", True),
                                                             ("General", False)]
    r = env("POST", "/api/v2/canned_response_folders", {"name": "[sms-connector] Agent scripts"})
    assert r.status_code == 201, r.text
    folder = r.json()
    assert (folder["personal"], folder["responses_count"]) == (False, 0)
    assert r.headers["Location"].endswith(f"/api/v2/canned_response_folders/{folder['id']}")
    dup = env("POST", "/api/v2/canned_response_folders", {"name": "[SMS-CONNECTOR] agent scripts"})
    assert dup.status_code == 409 and dup.json()["errors"][0]["code"] == "duplicate_value"
    for name in ("ab", "Personal_1", "x" * 241):
        assert ("name", "invalid_value") in env.fields(
            env("POST", "/api/v2/canned_response_folders", {"name": name}))
    general = folders[1]
    r = env("PUT", f"/api/v2/canned_response_folders/{general['id']}", {"name": "Renamed"})
    assert ("folder_id", "invalid_value") in env.fields(r)
    renamed = env.ok("PUT", f"/api/v2/canned_response_folders/{folder['id']}",
                     {"name": "[sms-connector] Scripts"})
    assert renamed["name"] == "[sms-connector] Scripts"


def test_canned_responses_keep_visibility_but_never_show_it(env: Env) -> None:
    folder = env.ok("POST", "/api/v2/canned_response_folders", {"name": "Scripts"}, 201)
    billing = next(g["id"] for g in env.ok("GET", "/api/v2/groups") if g["name"] == "Billing")
    r = env("POST", "/api/v2/canned_responses", {
        "title": "Order status update", "content_html": "<p>Your order {{ticket.id}}</p>",
        "folder_id": folder["id"], "visibility": 2, "group_ids": [billing]})
    assert r.status_code == 201, r.text
    created = r.json()
    assert set(created) == {"id", "title", "folder_id", "content", "content_html",
                            "attachments", "created_at", "updated_at"}
    assert created["content"] == "Your order {{ticket.id}}"
    assert env.ok("GET", f"/api/v2/canned_responses/{created['id']}") == created
    kept = {r["id"]: r for r in env.sandbox.state()["canned_responses"]}[created["id"]]
    assert (kept["visibility"], kept["group_ids"]) == (2, [billing])
    # a personal response lands in the personal folder whatever folder was named
    personal_folder = env.ok("GET", "/api/v2/canned_response_folders")[0]
    mine = env.ok("POST", "/api/v2/canned_responses", {
        "title": "Mine", "content_html": "x", "folder_id": folder["id"], "visibility": 1}, 201)
    assert mine["folder_id"] == personal_folder["id"]
    updated = env.ok("PUT", f"/api/v2/canned_responses/{created['id']}",
                     {"content_html": "<p>New</p>", "visibility": 0})
    assert updated["content"] == "New" and updated["folder_id"] == folder["id"]
    listed = env.ok("GET", f"/api/v2/canned_response_folders/{folder['id']}/responses")
    assert [x["id"] for x in listed] == [created["id"]]
    shown = env.ok("GET", f"/api/v2/canned_response_folders/{folder['id']}")
    assert shown["canned_responses"] == [{"id": created["id"], "title": "Order status update"}]
    by_ids = env.ok("GET", f"/api/v2/canned_responses?ids={created['id']},{mine['id']}")
    assert [x["id"] for x in by_ids] == [created["id"], mine["id"]]
    assert env("GET", "/api/v2/canned_responses").status_code == 404


@pytest.mark.parametrize(("body", "error"), [
    ({"content_html": "x", "folder_id": "{folder}", "visibility": 0}, ("title", "missing_field")),
    ({"title": "ab", "content_html": "x", "folder_id": "{folder}", "visibility": 0},
     ("title", "invalid_value")),
    ({"title": "abc", "folder_id": "{folder}", "visibility": 0},
     ("content_html", "missing_field")),
    ({"title": "abc", "content_html": "x", "folder_id": "{folder}"},
     ("visibility", "missing_field")),
    ({"title": "abc", "content_html": "x", "folder_id": "{folder}", "visibility": 3},
     ("visibility", "invalid_value")),
    ({"title": "abc", "content_html": "x", "folder_id": "{folder}", "visibility": 2},
     ("group_ids", "missing_field")),
    ({"title": "abc", "content_html": "x", "folder_id": "{folder}", "visibility": 2,
      "group_ids": [5]}, ("group_id", "invalid_value")),
    ({"title": "abc", "content_html": "x", "visibility": 0}, ("folder_id", "missing_field")),
    ({"title": "abc", "content_html": "x", "folder_id": 9, "visibility": 0},
     ("folder_id", "invalid_value")),
    ({"title": "abc", "content_html": "x", "folder_id": "{personal}", "visibility": 0},
     ("folder_id", "invalid_value")),
    ({"title": "abc", "content_html": "x", "folder_id": "{folder}", "visibility": 0,
      "tags": ["a"]}, ("tags", "invalid_field")),
])
def test_canned_response_validation(env: Env, body: dict[str, Any],
                                    error: tuple[str, str]) -> None:
    folders = env.ok("GET", "/api/v2/canned_response_folders")
    ids = {"{folder}": folders[1]["id"], "{personal}": folders[0]["id"]}
    body = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    assert error in env.fields(env("POST", "/api/v2/canned_responses", body))


# ---------------------------------------------------------------------- hourly rules


def hourly(name: str, properties: list[dict[str, Any]], actions: list[dict[str, Any]],
           ) -> dict[str, Any]:
    return {"name": name, "conditions": [{"name": "condition_set_1", "match_type": "all",
                                          "properties": properties}], "actions": actions}


def cond(field_name: str, operator: str, value: Any) -> dict[str, Any]:
    return {"resource_type": "ticket", "field_name": field_name, "operator": operator,
            "value": value}


def test_hourly_rules_act_on_the_sandbox_clock(env: Env) -> None:
    billing = next(g["id"] for g in env.ok("GET", "/api/v2/groups") if g["name"] == "Billing")
    env.ok("POST", "/api/v2/automations/3/rules", hourly(
        "[sms-connector] Unanswered SMS for 2 hours",
        [cond("source", "in", [SMS_SOURCE]), cond("hours_since_created", "greater_than", 2),
         cond("status", "in", [2])],
        [{"field_name": "priority", "value": 4}, {"field_name": "group_id", "value": billing},
         {"field_name": "add_tag", "value": ["sla-risk"]},
         {"field_name": "trigger_webhook", "request_type": "POST", "url": env.hook,
          "content_type": "JSON", "content_layout": "2",
          "content": {"ticket_id": "{{ticket.id}}", "event": "overdue"}}]), 201)
    sms, email = env.ticket(source=SMS_SOURCE), env.ticket(source=1)
    [first] = env.run(hours=1)
    assert first["rules"][0]["ticket_ids"] == []  # 1 h old: not "more than 2 hours"
    requests.post(env.base + "/_sandbox/clock", json={"advance_seconds": 5400}, timeout=5)
    [later] = env.run()
    assert later["rules"][0]["ticket_ids"] == [sms["id"]]
    after = env.ok("GET", f"/api/v2/tickets/{sms['id']}")
    assert (after["priority"], after["group_id"], after["tags"]) == (4, billing, ["sla-risk"])
    assert env.ok("GET", f"/api/v2/tickets/{email['id']}")["priority"] == 1
    assert env.sandbox.flush(5)
    assert [json.loads(r.body) for r in env.receiver.requests_to(HOOK)] == [
        {"ticket_id": str(sms["id"]), "event": "overdue"}]
    # the ticket already has what the rule sets: the next scans leave it alone
    assert env.run(hours=2)[-1]["rules"][0]["ticket_ids"] == []


def test_a_rule_that_only_tags_fires_every_hour_unless_is_is_used(env: Env) -> None:
    env.ok("POST", "/api/v2/automations/3/rules", hourly(
        "every hour", [cond("hours_since_created", "greater_than", 0)],
        [{"field_name": "add_tag", "value": ["seen"]}]), 201)
    env.ok("POST", "/api/v2/automations/3/rules", hourly(
        "once", [cond("hours_since_created", "is", 2)],
        [{"field_name": "add_tag", "value": ["two-hours"]}]), 201)
    ticket = env.ticket()
    runs = env.run(hours=4)
    assert [[r["ticket_ids"] for r in run["rules"]] for run in runs] == [
        [[ticket["id"]], []], [[ticket["id"]], [ticket["id"]]], [[ticket["id"]], []],
        [[ticket["id"]], []]]


def test_hourly_conditions_read_pending_and_customer_response_times(env: Env) -> None:
    env.ok("POST", "/api/v2/automations/3/rules", hourly(
        "pending a day", [cond("pending_since", "greater_than", 24)],
        [{"field_name": "status", "value": 2}]), 201)
    env.ok("POST", "/api/v2/automations/3/rules", hourly(
        "customer waiting", [cond("requester_responded_at", "greater_than", 1),
                             cond("status", "in", [2])],
        [{"field_name": "add_tag", "value": ["customer-waiting"]}]), 201)
    waiting, pending = env.ticket(), env.ticket()
    env("POST", f"/api/v2/tickets/{waiting['id']}/notes",
        {"body": "still there?", "private": False, "incoming": True,
         "user_id": waiting["requester_id"]})
    env.ok("PUT", f"/api/v2/tickets/{pending['id']}", {"status": 3})
    env.run(hours=2)
    assert env.ok("GET", f"/api/v2/tickets/{waiting['id']}")["tags"] == ["customer-waiting"]
    assert env.ok("GET", f"/api/v2/tickets/{pending['id']}")["status"] == 3
    env.run(hours=23)
    reopened = env.ok("GET", f"/api/v2/tickets/{pending['id']}")
    assert reopened["status"] == 2
    states = env.sandbox.state()["ticket_states"][str(pending["id"])]
    assert states["pending_since"] is None


def test_hours_conditions_belong_to_time_triggers(env: Env) -> None:
    r = env("POST", "/api/v2/automations/1/rules", hourly(
        "x", [cond("hours_since_created", "greater_than", 2)],
        [{"field_name": "add_tag", "value": ["x"]}]))
    assert ("conditions[:condition_set_1][:ticket][:hours_since_created]", "invalid_field") in \
        env.fields(r)
    r = env("POST", "/api/v2/automations/3/rules", hourly(
        "x", [cond("pending_since", "greater_than", "two")],
        [{"field_name": "add_tag", "value": ["x"]}]))
    assert ("conditions[:condition_set_1][:ticket][:pending_since][:value]",
            "datatype_mismatch") in env.fields(r)
    r = env("POST", "/api/v2/automations/3/rules", hourly(
        "x", [cond("pending_since", "in", [2])], [{"field_name": "add_tag", "value": ["x"]}]))
    assert ("conditions[:condition_set_1][:ticket][:pending_since][:operator]",
            "invalid_value") in env.fields(r)


def test_run_takes_hours_from_1(env: Env) -> None:
    r = requests.post(env.base + "/_sandbox/automations/run", json={"hours": 0}, timeout=5)
    assert r.status_code == 400
    [run] = env.run()
    assert run["rules"] == []

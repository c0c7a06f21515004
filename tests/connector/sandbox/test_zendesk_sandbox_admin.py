"""Admin objects of the Zendesk stand-in over real loopback HTTP: groups, schedules and holidays,
SLA policies (and the policy a ticket falls under), automations, macros, and the trigger actions
that set a group or a schedule. Answers are checked against Zendesk's OpenAPI file when it is
there (schedules are not in it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from connector.sandbox.common import SandboxServer
from connector.sandbox.zendesk import ZendeskSandbox
from tests.connector.sandbox.conftest_zendesk import AUTH, SignedReceiver, make_app, spec_checker

# Friday 8 January 2027, 16:50 in New York (EST, UTC-5).
FRIDAY_1650_NY = datetime(2027, 1, 8, 21, 50, tzinfo=UTC).timestamp()
SCHEDULES = "/api/v2/business_hours/schedules"


class Clock:
    def __init__(self) -> None:
        self.now = FRIDAY_1650_NY

    def __call__(self) -> float:
        return self.now


class Api:
    def __init__(self, base: str, sandbox: ZendeskSandbox, clock: Clock) -> None:
        self.base, self.sandbox, self.clock = base, sandbox, clock
        self.session = requests.Session()
        self.session.auth = AUTH

    def __call__(self, method: str, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.session.request(method, self.base + path, json=body, timeout=10, **kw)

    def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        r = self(method, path, body)
        assert r.status_code == status, r.text
        return r.json() if r.content else None

    def state(self) -> Any:
        return requests.get(self.base + "/_sandbox/state", timeout=10).json()


@pytest.fixture
def api() -> Iterator[Api]:
    clock = Clock()
    app = make_app(clock=clock)
    with SandboxServer(app) as server:
        api = Api(server.url, app.extensions["zendesk_sandbox"], clock)
        yield api
        api.session.close()


def invalid_field(r: requests.Response) -> str:
    """The single field a 422 RecordInvalid names."""
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "RecordInvalid" and body["description"] == "Record validation errors"
    (name,) = body["details"]
    detail = body["details"][name][0]
    assert set(detail) == {"description", "error"}
    return str(name)


def customer(api: Api) -> int:
    body = {"user": {"name": "SMS +12025550142", "external_id": "sms:+12025550142"}}
    r = api("POST", "/api/v2/users/create_or_update", body)
    assert r.status_code in (200, 201), r.text
    return int(r.json()["user"]["id"])


def ticket(api: Api, tags: list[str], priority: str | None = "normal", **extra: Any) -> int:
    body = {
        "ticket": {
            "requester_id": customer(api),
            "priority": priority,
            "tags": tags,
            "comment": {"body": "my order is late"},
            **extra,
        }
    }
    return int(api.ok("POST", "/api/v2/tickets", body, 201)["ticket"]["id"])


def sla_body(title: str, tag: str, *metrics: tuple[str, str, int, bool]) -> dict[str, Any]:
    return {
        "sla_policy": {
            "title": title,
            "filter": {
                "all": [{"field": "current_tags", "operator": "includes", "value": tag}],
                "any": [],
            },
            "policy_metrics": [
                {"priority": p, "metric": m, "target": t, "business_hours": b}
                for p, m, t, b in metrics
            ],
        }
    }


def slas(api: Api, ticket_id: int) -> list[dict[str, Any]]:
    body = api.ok("GET", f"/api/v2/tickets/{ticket_id}?include=slas")
    return list(body["ticket"]["slas"]["policy_metrics"])


def applied(api: Api, ticket_id: int) -> str | None:
    found = api.state()["ticket_slas"].get(str(ticket_id))
    return None if found is None else str(found["title"])


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------- auth and 404s


ADMIN_PATHS = [
    "/api/v2/groups",
    SCHEDULES,
    "/api/v2/slas/policies",
    "/api/v2/slas/policies/definitions",
    "/api/v2/automations",
    "/api/v2/macros",
]


@pytest.mark.parametrize("path", ADMIN_PATHS)
def test_admin_objects_need_credentials(api: Api, path: str) -> None:
    r = requests.get(api.base + path, timeout=10)
    assert r.status_code == 401
    assert r.json() == {"error": "Couldn't authenticate you"}
    r = requests.post(api.base + path, json={}, auth=(AUTH[0], "wrong"), timeout=10)
    assert r.status_code == 401


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/api/v2/groups/1"),
        ("PUT", "/api/v2/groups/1"),
        ("DELETE", "/api/v2/groups/1"),
        ("GET", f"{SCHEDULES}/1"),
        ("PUT", f"{SCHEDULES}/1/workweek"),
        ("GET", f"{SCHEDULES}/1/holidays"),
        ("GET", "/api/v2/slas/policies/1"),
        ("DELETE", "/api/v2/slas/policies/1"),
        ("GET", "/api/v2/automations/1"),
        ("PUT", "/api/v2/automations/1"),
        ("GET", "/api/v2/macros/1"),
        ("GET", "/api/v2/macros/1/apply"),
    ],
)
def test_unknown_ids_are_record_not_found(api: Api, method: str, path: str) -> None:
    r = api(method, path, {"group": {"name": "x"}} if method == "PUT" else None)
    assert r.status_code == 404
    assert r.json() == {"error": "RecordNotFound", "description": "Not found"}


# ---------------------------------------------------------------------------- groups


def test_groups_crud_with_the_default_group_and_soft_delete(api: Api) -> None:
    listed = api.ok("GET", "/api/v2/groups")
    assert [(g["name"], g["default"]) for g in listed["groups"]] == [("Support", True)]
    created = api.ok("POST", "/api/v2/groups", {"group": {"name": "Billing"}}, 201)["group"]
    assert created["url"].endswith(f"/api/v2/groups/{created['id']}.json")
    spec = spec_checker()
    spec.check_response("/api/v2/groups", "post", 201, {"group": created})
    spec.check_response("/api/v2/groups", "get", 200, api.ok("GET", "/api/v2/groups"))

    # Names are unique (case-insensitively) and never blank.
    assert invalid_field(api("POST", "/api/v2/groups", {"group": {"name": "billing"}})) == "name"
    assert invalid_field(api("POST", "/api/v2/groups", {"group": {"name": " "}})) == "name"
    assert api("POST", "/api/v2/groups", {"name": "no wrapper"}).status_code == 400

    gid = created["id"]
    renamed = api.ok("PUT", f"/api/v2/groups/{gid}", {"group": {"name": "Billing & Refunds"}})
    assert renamed["group"]["name"] == "Billing & Refunds"
    spec.check_response("/api/v2/groups/{group_id}", "put", 200, renamed)

    assert api("DELETE", f"/api/v2/groups/{gid}").status_code == 204
    names = [g["name"] for g in api.ok("GET", "/api/v2/groups")["groups"]]
    assert names == ["Support"]
    deleted = api.ok("GET", "/api/v2/groups?exclude_deleted=false")["groups"]
    assert [g["deleted"] for g in deleted] == [False, True]
    assert api.ok("GET", f"/api/v2/groups/{gid}")["group"]["deleted"] is True
    assert api("PUT", f"/api/v2/groups/{gid}", {"group": {"name": "x"}}).status_code == 404
    # A deleted group's name is free again; the default group cannot go.
    api.ok("POST", "/api/v2/groups", {"group": {"name": "Billing & Refunds"}}, 201)
    default_id = listed["groups"][0]["id"]
    assert invalid_field(api("DELETE", f"/api/v2/groups/{default_id}")) == "base"


def test_a_private_group_cannot_become_public(api: Api) -> None:
    body = {"group": {"name": "Secret", "is_public": False}}
    gid = api.ok("POST", "/api/v2/groups", body, 201)["group"]["id"]
    r = api("PUT", f"/api/v2/groups/{gid}", {"group": {"is_public": True}})
    assert invalid_field(r) == "is_public"


# ---------------------------------------------------------------------------- schedules


def new_schedule(api: Api, zone: str = "Eastern Time (US & Canada)") -> dict[str, Any]:
    body = {"schedule": {"name": "[sms-connector] Support hours", "time_zone": zone}}
    return dict(api.ok("POST", SCHEDULES, body, 201)["schedule"])


def test_schedule_create_show_update_delete(api: Api) -> None:
    schedule = new_schedule(api)
    # A new schedule has Monday to Friday 09:00-17:00 (minutes since Sunday 00:00).
    assert schedule["intervals"][0] == {"start_time": 1980, "end_time": 2460}
    assert len(schedule["intervals"]) == 5
    sid = schedule["id"]
    assert api.ok("GET", f"{SCHEDULES}/{sid}")["schedule"]["name"] == schedule["name"]
    assert [s["id"] for s in api.ok("GET", SCHEDULES)["schedules"]] == [sid]
    body = {"schedule": {"name": "Renamed", "time_zone": "Europe/London"}}
    updated = api.ok("PUT", f"{SCHEDULES}/{sid}", body)["schedule"]
    assert (updated["name"], updated["time_zone"]) == ("Renamed", "Europe/London")
    # Intervals are writable only through the workweek.
    intervals = {"schedule": {"intervals": [{"start_time": 0, "end_time": 60}]}}
    assert invalid_field(api("PUT", f"{SCHEDULES}/{sid}", intervals)) == "intervals"
    assert api("DELETE", f"{SCHEDULES}/{sid}").status_code == 204
    assert api("GET", f"{SCHEDULES}/{sid}").status_code == 404


@pytest.mark.parametrize(
    "body,field_name",
    [
        ({"schedule": {"time_zone": "London"}}, "name"),
        ({"schedule": {"name": "x"}}, "time_zone"),
        ({"schedule": {"name": "x", "time_zone": "Mars/Olympus"}}, "time_zone"),
    ],
)
def test_schedule_validation(api: Api, body: Any, field_name: str) -> None:
    assert invalid_field(api("POST", SCHEDULES, body)) == field_name


@pytest.mark.parametrize(
    "intervals",
    [
        [{"start_time": 1380, "end_time": 1500}],  # Sunday 23:00 to Monday 01:00
        [{"start_time": 600, "end_time": 600}],
        [{"start_time": 10000, "end_time": 10200}],
        [{"start_time": -60, "end_time": 60}],
        [{"start_time": "540", "end_time": 1020}],
        [{"start_time": 2000, "end_time": 2400}, {"start_time": 2300, "end_time": 2460}],
    ],
)
def test_workweek_intervals_are_validated(api: Api, intervals: list[Any]) -> None:
    sid = new_schedule(api)["id"]
    r = api("PUT", f"{SCHEDULES}/{sid}/workweek", {"workweek": {"intervals": intervals}})
    assert invalid_field(r) == "intervals"


def test_workweek_replaces_the_intervals(api: Api) -> None:
    sid = new_schedule(api)["id"]
    # Saturday all day (ending at midnight is not spanning a day) and Monday morning.
    wanted = [{"start_time": 8640, "end_time": 10080}, {"start_time": 1980, "end_time": 2160}]
    body = api.ok("PUT", f"{SCHEDULES}/{sid}/workweek", {"workweek": {"intervals": wanted}})
    assert body == {"workweek": {"intervals": sorted(wanted, key=lambda i: i["start_time"])}}
    assert api.ok("GET", f"{SCHEDULES}/{sid}")["schedule"]["intervals"] == body["workweek"][
        "intervals"
    ]


def test_holidays_crud_and_validation(api: Api) -> None:
    sid = new_schedule(api)["id"]
    path = f"{SCHEDULES}/{sid}/holidays"
    body = {"holiday": {"name": "New Year", "start_date": "2027-01-01", "end_date": "2027-01-01"}}
    holiday = api.ok("POST", path, body, 201)["holiday"]
    assert set(holiday) == {"id", "name", "start_date", "end_date"}
    assert api.ok("GET", path)["holidays"] == [holiday]
    hid = holiday["id"]
    moved = api.ok("PUT", f"{path}/{hid}", {"holiday": {"end_date": "2027-01-02"}})["holiday"]
    assert (moved["start_date"], moved["end_date"]) == ("2027-01-01", "2027-01-02")
    bad = {"holiday": {"name": "x", "start_date": "2027-02-30", "end_date": "2027-03-01"}}
    assert invalid_field(api("POST", path, bad)) == "start_date"
    backwards = {"holiday": {"name": "x", "start_date": "2027-03-02", "end_date": "2027-03-01"}}
    assert invalid_field(api("POST", path, backwards)) == "end_date"
    no_name = {"holiday": {"start_date": "2027-03-01", "end_date": "2027-03-01"}}
    assert invalid_field(api("POST", path, no_name)) == "name"
    assert api("DELETE", f"{path}/{hid}").status_code == 204
    assert api("GET", f"{path}/{hid}").status_code == 404


# ---------------------------------------------------------------------------- SLA policies


def test_sla_policy_crud_answers_as_the_spec_says(api: Api) -> None:
    spec = spec_checker()
    body = sla_body(
        "[sms-connector] Billing",
        "sms_billing",
        ("normal", "first_reply_time", 20, False),
        ("normal", "next_reply_time", 60, True),
        ("normal", "total_resolution_time", 2880, False),
    )
    body["sla_policy"]["description"] = "Billing texts"
    created = api.ok("POST", "/api/v2/slas/policies", body, 201)
    spec.check_response("/api/v2/slas/policies", "post", 201, created)
    policy = created["sla_policy"]
    assert policy["position"] == 1 and policy["url"].endswith(f"/slas/policies/{policy['id']}.json")
    assert policy["policy_metrics"][0] == {
        "priority": "normal",
        "metric": "first_reply_time",
        "target": 20,
        "business_hours": False,
        "target_in_seconds": 1200,
    }
    second = api.ok("POST", "/api/v2/slas/policies", sla_body("Other", "x"), 201)["sla_policy"]
    assert second["position"] == 2  # added last when no position is given
    listed = api.ok("GET", "/api/v2/slas/policies")
    spec.check_response("/api/v2/slas/policies", "get", 200, listed)
    assert [p["id"] for p in listed["sla_policies"]] == [policy["id"], second["id"]]

    path = f"/api/v2/slas/policies/{policy['id']}"
    spec.check_response(
        "/api/v2/slas/policies/{sla_policy_id}", "get", 200, api.ok("GET", path)
    )
    update = {"sla_policy": {"title": "[sms-connector] Billing v2"}}
    updated = api.ok("PUT", path, update)
    spec.check_response("/api/v2/slas/policies/{sla_policy_id}", "put", 200, updated)
    assert updated["sla_policy"]["title"].endswith("v2")
    assert updated["sla_policy"]["policy_metrics"] == policy["policy_metrics"]  # kept

    r = api("PUT", f"/api/v2/slas/policies/reorder?sla_policy_ids[]={second['id']}")
    assert r.status_code == 200 and r.content == b""
    order = [p["id"] for p in api.ok("GET", "/api/v2/slas/policies")["sla_policies"]]
    assert order == [second["id"], policy["id"]]
    api.ok("PUT", "/api/v2/slas/policies/reorder", {"sla_policy_ids": [policy["id"], second["id"]]})
    order = [p["id"] for p in api.ok("GET", "/api/v2/slas/policies")["sla_policies"]]
    assert order == [policy["id"], second["id"]]
    assert invalid_field(
        api("PUT", "/api/v2/slas/policies/reorder", {"sla_policy_ids": [123]})
    ) == "sla_policy_ids"

    assert api("DELETE", path).status_code == 204
    assert api("GET", path).status_code == 404


def test_sla_definitions_answer_as_the_spec_says(api: Api) -> None:
    body = api.ok("GET", "/api/v2/slas/policies/definitions")
    spec_checker().check_response("/api/v2/slas/policies/definitions", "get", 200, body)
    fields = {d["value"] for d in body["definitions"]["all"]}
    assert {"current_tags", "group_id", "type", "via_id"} <= fields


def _policy(**change: Any) -> dict[str, Any]:
    body = sla_body("t", "tag", ("normal", "first_reply_time", 10, False))
    body["sla_policy"].update(change)
    return body


@pytest.mark.parametrize(
    "body,field_name",
    [
        (_policy(title=""), "title"),
        (_policy(filter=None), "filter"),
        (_policy(filter={"all": [{"field": "subject", "operator": "is", "value": "x"}]}), "filter"),
        (_policy(filter={"all": [{"field": "current_tags", "operator": "is", "value": "x"}]}),
         "filter"),
        (_policy(filter={"all": [{"field": "priority", "operator": "is", "value": "hot"}]}),
         "filter"),
        (_policy(filter={"all": [{"field": "group_id", "operator": "is", "value": "42"}]}),
         "filter"),
        (_policy(policy_metrics=[{"priority": "asap", "metric": "first_reply_time",
                                  "target": 5, "business_hours": False}]), "policy_metrics"),
        (_policy(policy_metrics=[{"priority": "low", "metric": "reply_time",
                                  "target": 5, "business_hours": False}]), "policy_metrics"),
        (_policy(policy_metrics=[{"priority": "low", "metric": "first_reply_time",
                                  "target": 0, "business_hours": False}]), "policy_metrics"),
        (_policy(policy_metrics=[{"priority": "low", "metric": "first_reply_time",
                                  "target": 1.5, "business_hours": False}]), "policy_metrics"),
        (_policy(policy_metrics=[{"priority": "low", "metric": "first_reply_time",
                                  "target": 5, "business_hours": "no"}]), "policy_metrics"),
        (_policy(policy_metrics=[{"priority": "low", "metric": "first_reply_time", "target": 5},
                                 {"priority": "low", "metric": "first_reply_time", "target": 9}]),
         "policy_metrics"),
    ],
)
def test_sla_policy_validation(api: Api, body: Any, field_name: str) -> None:
    assert invalid_field(api("POST", "/api/v2/slas/policies", body)) == field_name


def test_a_ticket_falls_under_the_first_matching_policy_with_its_priority(api: Api) -> None:
    billing = sla_body("Billing", "billing", ("normal", "first_reply_time", 20, False),
                       ("normal", "total_resolution_time", 1440, False))
    api.ok("POST", "/api/v2/slas/policies", billing, 201)
    # Matches every sms ticket but comes second; urgent only in the first one.
    catch_all = sla_body("Catch-all", "sms", ("normal", "first_reply_time", 90, False),
                         ("urgent", "first_reply_time", 5, False))
    api.ok("POST", "/api/v2/slas/policies", catch_all, 201)
    urgent_only = sla_body("Urgent billing", "billing", ("urgent", "first_reply_time", 5, False))
    api.ok("POST", "/api/v2/slas/policies", urgent_only, 201)

    billing_ticket = ticket(api, ["sms", "billing"])
    general = ticket(api, ["sms"])
    untagged = ticket(api, ["web"])
    no_priority = ticket(api, ["billing"], priority=None)
    assert applied(api, billing_ticket) == "Billing"
    assert applied(api, general) == "Catch-all"
    assert applied(api, untagged) is None and slas(api, untagged) == []
    assert applied(api, no_priority) is None

    metrics = slas(api, billing_ticket)
    assert metrics == [
        {"breach_at": iso(FRIDAY_1650_NY + 20 * 60), "stage": "active",
         "metric": "first_reply_time", "minutes": 20},
        {"breach_at": iso(FRIDAY_1650_NY + 86400), "stage": "active",
         "metric": "total_resolution_time", "days": 1},
    ]
    assert slas(api, general)[0]["breach_at"] == iso(FRIDAY_1650_NY + 90 * 60)
    # Urgent: the first policy has no urgent target, so the catch-all applies.
    api.ok("PUT", f"/api/v2/tickets/{billing_ticket}", {"ticket": {"priority": "urgent"}})
    assert applied(api, billing_ticket) == "Catch-all"
    assert slas(api, billing_ticket)[0]["minutes"] == 5


def test_the_policy_is_applied_at_ticket_events_only(api: Api) -> None:
    tid = ticket(api, ["sms"])
    body = sla_body("Late policy", "sms", ("normal", "first_reply_time", 15, False))
    pid = api.ok("POST", "/api/v2/slas/policies", body, 201)["sla_policy"]["id"]
    # "SLAs are based on ticket events": the policy reaches the ticket at its next update.
    assert applied(api, tid) is None
    api.clock.now += 60
    api.ok("PUT", f"/api/v2/tickets/{tid}", {"ticket": {"additional_tags": ["seen"]}})
    assert applied(api, tid) == "Late policy"
    # First reply time counts from creation, not from when the policy was applied.
    assert slas(api, tid)[0]["breach_at"] == iso(FRIDAY_1650_NY + 15 * 60)
    # A change of the policy keeps the copy applied until the next event.
    api.ok("PUT", f"/api/v2/slas/policies/{pid}", {"sla_policy": {"title": "Renamed"}})
    assert applied(api, tid) == "Late policy"


def test_first_reply_is_achieved_by_a_public_agent_comment_then_next_reply_runs(api: Api) -> None:
    body = sla_body("P", "sms", ("high", "first_reply_time", 10, False),
                    ("high", "next_reply_time", 30, False))
    api.ok("POST", "/api/v2/slas/policies", body, 201)
    tid = ticket(api, ["sms"], priority="high")
    assert [m["metric"] for m in slas(api, tid)] == ["first_reply_time"]
    requests.post(api.base + "/_sandbox/agent_reply",
                  json={"ticket_id": tid, "body": "Looking into it"}, timeout=10)
    first = slas(api, tid)[0]
    assert first["stage"] == "achieved"
    api.clock.now += 600
    text = {"ticket": {"comment": {"body": "any news?", "author_id": customer(api)}}}
    api.ok("PUT", f"/api/v2/tickets/{tid}", text)
    next_reply = {m["metric"]: m for m in slas(api, tid)}["next_reply_time"]
    assert next_reply["stage"] == "active"
    assert next_reply["breach_at"] == iso(FRIDAY_1650_NY + 600 + 30 * 60)


def test_business_hours_targets_skip_closed_hours_and_holidays(api: Api) -> None:
    schedule = new_schedule(api)  # Monday to Friday 09:00-17:00 New York
    body = sla_body("Biz", "sms", ("normal", "first_reply_time", 20, True))
    api.ok("POST", "/api/v2/slas/policies", body, 201)
    tid = ticket(api, ["sms"])
    # Friday 16:50 + 20 business minutes = Monday 09:10 New York (14:10Z).
    assert slas(api, tid)[0]["breach_at"] == "2027-01-11T14:10:00Z"
    holiday = {"holiday": {"name": "Closed", "start_date": "2027-01-11", "end_date": "2027-01-11"}}
    api.ok("POST", f"{SCHEDULES}/{schedule['id']}/holidays", holiday, 201)
    assert slas(api, tid)[0]["breach_at"] == "2027-01-12T14:10:00Z"


def test_a_trigger_sets_group_and_schedule_before_the_sla_policy_applies(api: Api) -> None:
    default_schedule = new_schedule(api)
    london = new_schedule(api, "London")  # 09:00-17:00 London: Friday 21:50Z is closed
    group = api.ok("POST", "/api/v2/groups", {"group": {"name": "Billing"}}, 201)["group"]
    trigger = {
        "trigger": {
            "title": "[sms-connector] route billing",
            "conditions": {"all": [
                {"field": "update_type", "operator": "is", "value": "Create"},
                {"field": "current_tags", "operator": "includes", "value": "billing"},
            ]},
            "actions": [
                {"field": "group_id", "value": str(group["id"])},
                {"field": "set_schedule", "value": str(london["id"])},
                {"field": "priority", "value": "high"},
            ],
        }
    }
    api.ok("POST", "/api/v2/triggers", trigger, 201)
    policy = {
        "sla_policy": {
            "title": "Billing group",
            "filter": {"all": [{"field": "group_id", "operator": "is", "value": str(group["id"])}]},
            "policy_metrics": [{"priority": "high", "metric": "first_reply_time", "target": 30,
                                "business_hours": True}],
        }
    }
    api.ok("POST", "/api/v2/slas/policies", policy, 201)
    tid = ticket(api, ["sms", "billing"])
    shown = api.ok("GET", f"/api/v2/tickets/{tid}")["ticket"]
    assert (shown["group_id"], shown["priority"]) == (group["id"], "high")
    state = api.state()
    assert state["ticket_schedules"] == {str(tid): london["id"]}
    assert state["ticket_slas"][str(tid)]["title"] == "Billing group"
    # London's schedule, not the account's first: Monday 09:30 London (09:30Z).
    assert slas(api, tid)[0]["breach_at"] == "2027-01-11T09:30:00Z"
    assert default_schedule["id"] != london["id"]


@pytest.mark.parametrize("field_name", ["group_id", "set_schedule"])
def test_trigger_actions_must_name_an_existing_group_or_schedule(
    api: Api, field_name: str
) -> None:
    trigger = {
        "trigger": {
            "title": "bad",
            "conditions": {"all": [{"field": "update_type", "operator": "is", "value": "Create"}]},
            "actions": [{"field": field_name, "value": "424242"}],
        }
    }
    assert invalid_field(api("POST", "/api/v2/triggers", trigger)) == "actions"


# ---------------------------------------------------------------------------- automations


def automation(
    all_: list[dict[str, Any]], actions: list[dict[str, Any]], any_: list[Any] | None = None
) -> dict[str, Any]:
    return {"automation": {"title": "[sms-connector] pending 24h",
                           "conditions": {"all": all_, "any": any_ or []},
                           "actions": actions}}


PENDING = {"field": "status", "operator": "is", "value": "pending"}
PENDING_24H = {"field": "PENDING", "operator": "greater_than", "value": "24"}
NOT_TAGGED = {"field": "current_tags", "operator": "not_includes", "value": "sms_reminder"}
TAG = {"field": "current_tags", "value": "sms_reminder"}


@pytest.mark.parametrize(
    "body,field_name",
    [
        (automation([PENDING], [TAG]), "conditions"),  # no time condition
        (automation([PENDING, NOT_TAGGED], [TAG], [PENDING_24H]), "conditions"),  # time in any
        (automation([PENDING_24H, NOT_TAGGED], [TAG]), "conditions"),  # no status / type / group …
        (automation([PENDING, PENDING_24H], [TAG]), "base"),  # neither true once nor nullified
        (automation([PENDING, {**PENDING_24H, "value": "1.5"}, NOT_TAGGED], [TAG]), "conditions"),
        (automation([PENDING, PENDING_24H, NOT_TAGGED], []), "actions"),
        # "current_tags" adds tags (actions reference); there is no "add_tags".
        (automation([PENDING, PENDING_24H, NOT_TAGGED], [{"field": "add_tags", "value": "x"}]),
         "actions"),
        (automation([PENDING, PENDING_24H, NOT_TAGGED], [{"field": "group_id", "value": "99"}]),
         "actions"),
        ({"automation": {"conditions": {"all": [PENDING, PENDING_24H, NOT_TAGGED]},
                         "actions": [TAG]}}, "title"),
    ],
)
def test_automation_validation(api: Api, body: Any, field_name: str) -> None:
    assert invalid_field(api("POST", "/api/v2/automations", body)) == field_name


def test_automations_accepted_when_true_once_or_nullified(api: Api) -> None:
    spec = spec_checker()
    nullified = api.ok("POST", "/api/v2/automations",
                       automation([PENDING, PENDING_24H, NOT_TAGGED], [TAG]), 201)
    spec.check_response("/api/v2/automations", "post", 201, nullified)
    once = {**PENDING_24H, "operator": "is"}
    api.ok("POST", "/api/v2/automations", automation([PENDING, once], [TAG]), 201)
    status_change = automation([PENDING, PENDING_24H], [{"field": "status", "value": "solved"}])
    api.ok("POST", "/api/v2/automations", status_change, 201)
    listed = api.ok("GET", "/api/v2/automations")
    spec.check_response("/api/v2/automations", "get", 200, listed)
    assert listed["count"] == 3
    # Identical to an active one: refused; inactive it may exist.
    duplicate = automation([NOT_TAGGED, PENDING_24H, PENDING], [TAG])
    assert invalid_field(api("POST", "/api/v2/automations", duplicate)) == "conditions"
    duplicate["automation"]["active"] = False
    api.ok("POST", "/api/v2/automations", duplicate, 201)

    aid = nullified["automation"]["id"]
    path = f"/api/v2/automations/{aid}"
    renamed = api.ok("PUT", path, {"automation": {"title": "renamed"}})
    spec.check_response("/api/v2/automations/{automation_id}", "put", 200, renamed)
    assert renamed["automation"]["actions"] == [TAG]
    # Conditions without actions clear the actions too, so that update is refused.
    only_conditions = {"automation": {"conditions": {"all": [PENDING, PENDING_24H, NOT_TAGGED]}}}
    assert invalid_field(api("PUT", path, only_conditions)) == "actions"
    assert api("DELETE", path).status_code == 204
    assert api("GET", path).status_code == 404


def test_automations_run_on_demand_against_the_shared_clock(api: Api) -> None:
    group = api.ok("POST", "/api/v2/groups", {"group": {"name": "Escalations"}}, 201)["group"]
    with SignedReceiver() as receiver:
        hook = api.ok("POST", "/api/v2/webhooks", {"webhook": {
            "name": "escalations", "status": "active", "endpoint": receiver.url,
            "http_method": "POST", "request_format": "json",
            "subscriptions": ["conditional_ticket_events"]}}, 201)["webhook"]
        receiver.secret = api.ok("GET", f"/api/v2/webhooks/{hook['id']}/signing_secret")[
            "signing_secret"]["secret"]
        actions: list[dict[str, Any]] = [
            TAG,
            {"field": "group_id", "value": str(group["id"])},
            {"field": "priority", "value": "urgent"},
            {"field": "notification_webhook",
             "value": [hook["id"], '{"ticket": "{{ticket.id}}", "tags": "{{ticket.tags}}"}']},
        ]
        created = api.ok("POST", "/api/v2/automations",
                         automation([PENDING, PENDING_24H, NOT_TAGGED], actions), 201)
        waiting = ticket(api, ["sms"])
        other = ticket(api, ["sms"])
        api.ok("PUT", f"/api/v2/tickets/{waiting}", {"ticket": {"status": "pending"}})

        assert api.ok("POST", "/_sandbox/automations/run")["fired"] == []
        api.clock.now += 24 * 3600  # exactly 24 h: not greater than 24
        assert api.ok("POST", "/_sandbox/automations/run")["fired"] == []
        api.clock.now += 3600
        fired = api.ok("POST", "/_sandbox/automations/run")["fired"]
        assert fired == [{"automation_id": created["automation"]["id"], "ticket_id": waiting,
                          "changed": True}]
        shown = api.ok("GET", f"/api/v2/tickets/{waiting}")["ticket"]
        assert shown["tags"] == ["sms", "sms_reminder"]
        assert (shown["group_id"], shown["priority"]) == (group["id"], "urgent")
        assert api.ok("GET", f"/api/v2/tickets/{other}")["ticket"]["tags"] == ["sms"]
        audit = api.ok("GET", f"/api/v2/tickets/{waiting}/audits")["audits"][-1]
        assert audit["via"]["channel"] == "rule"
        assert audit["via"]["source"]["rel"] == "automation"
        # Nullified: the next run leaves it alone.
        api.clock.now += 3600
        assert api.ok("POST", "/_sandbox/automations/run")["fired"] == []
        api.sandbox.flush(10)
    (delivery,) = receiver.deliveries
    assert delivery.verified
    assert json.loads(delivery.body) == {"ticket": str(waiting), "tags": "sms sms_reminder"}


def test_hours_since_is_fires_in_its_hour_only_and_counts_business_hours(api: Api) -> None:
    new_schedule(api)  # Monday to Friday 09:00-17:00 New York
    created_2h = {"field": "NEW", "operator": "is", "value": "2"}
    new = {"field": "status", "operator": "is", "value": "new"}
    api.ok("POST", "/api/v2/automations",
           automation([new, created_2h], [{"field": "current_tags", "value": "two_hours"}]), 201)
    business_1h = {"field": "NEW", "operator": "greater_than_business_hours", "value": "1"}
    api.ok("POST", "/api/v2/automations",
           automation([new, business_1h, {**NOT_TAGGED, "value": "biz"}],
                      [{"field": "current_tags", "value": "biz"}]), 201)
    tid = ticket(api, ["sms"])  # Friday 16:50 New York
    api.clock.now += 2 * 3600 + 60  # 2 calendar hours, 10 business minutes
    api.ok("POST", "/_sandbox/automations/run")
    assert api.ok("GET", f"/api/v2/tickets/{tid}")["ticket"]["tags"] == ["sms", "two_hours"]
    api.clock.now += 3 * 86400  # Monday 19:51 New York: 8h10 business hours later
    api.ok("POST", "/_sandbox/automations/run")
    assert api.ok("GET", f"/api/v2/tickets/{tid}")["ticket"]["tags"] == ["sms", "two_hours", "biz"]


# ---------------------------------------------------------------------------- macros


def test_macros_crud_and_apply(api: Api) -> None:
    spec = spec_checker()
    group = api.ok("POST", "/api/v2/groups", {"group": {"name": "Billing"}}, 201)["group"]
    body = {
        "macro": {
            "title": "[sms-connector] Order status update",
            "actions": [
                {"field": "comment_value", "value": "Your order {{ticket.id}} ships today."},
                {"field": "comment_mode_is_public", "value": "true"},
                {"field": "status", "value": "pending"},
                {"field": "current_tags", "value": "sms_script order_status"},
                {"field": "group_id", "value": str(group["id"])},
            ],
            "restriction": {"type": "Group", "ids": [group["id"]]},
        }
    }
    # Create Macro answers 200 in the spec.
    created = api.ok("POST", "/api/v2/macros", body, 200)
    spec.check_response("/api/v2/macros", "post", 200, created)
    mid = created["macro"]["id"]
    spec.check_response("/api/v2/macros", "get", 200, api.ok("GET", "/api/v2/macros"))
    changes = api.ok("GET", f"/api/v2/macros/{mid}/apply")
    spec.check_response("/api/v2/macros/{macro_id}/apply", "get", 200, changes)
    assert changes == {
        "result": {
            "ticket": {
                "comment": {
                    "body": "Your order {{ticket.id}} ships today.",
                    "scoped_body": [["channel:all", "Your order {{ticket.id}} ships today."]],
                    "public": True,
                },
                "status": "pending",
                "additional_tags": ["sms_script", "order_status"],
                "group_id": group["id"],
            }
        }
    }
    updated = api.ok("PUT", f"/api/v2/macros/{mid}", {"macro": {"active": False}})
    spec.check_response("/api/v2/macros/{macro_id}", "put", 200, updated)
    assert api.ok("GET", "/api/v2/macros?active=true")["macros"] == []
    assert api("DELETE", f"/api/v2/macros/{mid}").status_code == 204
    assert api("GET", f"/api/v2/macros/{mid}").status_code == 404


@pytest.mark.parametrize(
    "macro,field_name",
    [
        ({"actions": [{"field": "status", "value": "open"}]}, "title"),
        ({"title": "x", "actions": []}, "actions"),
        ({"title": "x", "actions": [{"field": "status", "value": "closed"}]}, "actions"),
        ({"title": "x", "actions": [{"field": "status", "value": "new"}]}, "actions"),
        ({"title": "x", "actions": [{"field": "group_id", "value": "77"}]}, "actions"),
        ({"title": "x", "actions": [{"field": "assignee_id", "value": "77"}]}, "actions"),
        ({"title": "x", "actions": [{"field": "status", "value": "open"}],
          "restriction": {"type": "Team", "id": 1}}, "restriction"),
    ],
)
def test_macro_validation(api: Api, macro: Any, field_name: str) -> None:
    assert invalid_field(api("POST", "/api/v2/macros", {"macro": macro})) == field_name


def test_state_shows_every_admin_object(api: Api) -> None:
    api.ok("POST", "/api/v2/groups", {"group": {"name": "Billing"}}, 201)
    new_schedule(api)
    api.ok("POST", "/api/v2/slas/policies", sla_body("P", "sms"), 201)
    state = api.state()
    assert [g["name"] for g in state["groups"]] == ["Support", "Billing"]
    assert state["schedules"][0]["holidays"] == []
    assert [p["title"] for p in state["sla_policies"]] == ["P"]
    assert state["automations"] == [] and state["macros"] == []

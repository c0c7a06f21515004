"""The whole pack pushed into the Zendesk stand-in over real HTTP (issue #12, "Done when"):
apply on an empty account creates everything; a second plan is empty; a hand edit of a managed
SLA policy and of a managed trigger is drift that apply restores; look-alikes the connector does
not own are untouched; an apply that loses its connection half-way converges when run again; and
a ticket of every scenario, filed with its tags as the connector files it, falls under exactly one
connector SLA policy whose first-reply target is the pack's (``?include=slas``)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
import requests

from adapters.helpdesk.zendesk import ZendeskClient
from adapters.helpdesk.zendesk_automation import ZendeskAutomation
from connector.errors import TransientError
from connector.sandbox.runner import Sandbox, start_sandbox
from connector.sandbox.stack import ZENDESK_EMAIL, ZENDESK_TOKEN
from connector.sync.plan import CREATE, UPDATE, Change
from mappings import zendesk as zd
from mappings.policy import Policy
from tests.mappings.test_zendesk import with_groups
from tests.packs import without_reminders

PUBLIC_URL = "https://connector.example.com"
# kind → (list path, list key, title key)
LISTS = {
    zd.GROUP: ("/groups", "groups", "name"),
    zd.SCHEDULE: ("/business_hours/schedules", "schedules", "name"),
    zd.SLA_POLICY: ("/slas/policies", "sla_policies", "title"),
    zd.CATEGORY: ("/trigger_categories", "trigger_categories", "name"),
    zd.TRIGGER: ("/triggers", "triggers", "title"),
    zd.AUTOMATION: ("/automations", "automations", "title"),
    zd.MACRO: ("/macros", "macros", "title"),
    zd.WEBHOOK: ("/webhooks", "webhooks", "name"),
}


@dataclass
class Account:
    sandbox: Sandbox
    admin: ZendeskClient  # an admin working by hand, beside the connector's own client

    def listed(self, kind: str) -> list[dict[str, Any]]:
        path, key, _ = LISTS[kind]
        return self.admin._paged("list", path, key)

    def owned(self, kind: str) -> dict[str, dict[str, Any]]:
        title = LISTS[kind][2]
        items = [i for i in self.listed(kind) if zd.owned(i.get(title))]
        assert len({i[title] for i in items}) == len(items), f"duplicate {kind}"
        return {i[title]: i for i in items}

    def foreign(self) -> dict[str, list[dict[str, Any]]]:
        return {kind: [i for i in self.listed(kind) if not zd.owned(i.get(LISTS[kind][2]))]
                for kind in LISTS if kind != zd.GROUP}

    def put(self, kind: str, item_id: Any, body: dict[str, Any]) -> None:
        path, _, _ = LISTS[kind]
        key = {zd.SLA_POLICY: "sla_policy", zd.TRIGGER: "trigger"}[kind]
        self.admin._request("edit", "PUT", f"{path}/{item_id}", json={key: body})

    def post(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        path, _, _ = LISTS[kind]
        key = {zd.SLA_POLICY: "sla_policy", zd.TRIGGER: "trigger", zd.MACRO: "macro",
               zd.GROUP: "group", zd.SCHEDULE: "schedule"}[kind]
        return dict(self.admin._json("add", "POST", path, json={key: body})[key])

    def faults(self, **faults: Any) -> None:
        requests.post(f"{self.sandbox.zendesk_url}/_sandbox/faults", json=faults,
                      timeout=10).raise_for_status()


@pytest.fixture
def account(policy: Policy) -> Iterator[Account]:
    sandbox = start_sandbox(zendesk_port=0, twilio_port=0)
    account = Account(sandbox, ZendeskClient(sandbox.zendesk_url, ZENDESK_EMAIL, ZENDESK_TOKEN))
    have = {g["name"] for g in account.listed(zd.GROUP)}
    for name in policy.groups.names:  # the team's own groups ("Support" comes with Zendesk)
        if name not in have:
            account.post(zd.GROUP, {"name": name})
    try:
        yield account
    finally:
        sandbox.stop()


@pytest.fixture(scope="module")
def policy() -> Policy:
    return with_groups(without_reminders())  # no_customer_response: the hourly automation


@pytest.fixture
def automation(account: Account) -> ZendeskAutomation:
    client = ZendeskClient(account.sandbox.zendesk_url, ZENDESK_EMAIL, ZENDESK_TOKEN)
    return ZendeskAutomation(client)


def test_apply_on_an_empty_account_creates_everything_and_a_second_plan_is_empty(
        account, automation, policy):
    told: list[Change] = []
    result = automation.apply(policy, PUBLIC_URL, progress=told.append)
    desired = automation.desired(policy, PUBLIC_URL)
    assert [(c.action, c.kind, c.title) for c in result.plan.changes] == [
        (CREATE, d.kind, d.title) for d in desired]
    assert told == list(result.plan.changes)
    for kind in set(zd.KINDS) - {zd.GROUP}:
        assert sorted(account.owned(kind)) == sorted(d.title for d in desired if d.kind == kind)
    [schedule] = account.owned(zd.SCHEDULE).values()
    assert schedule["intervals"] == zd.intervals(policy.business_hours)
    holidays = account.admin._json("h", "GET", f"/business_hours/schedules/{schedule['id']}"
                                   "/holidays")["holidays"]
    assert len(holidays) == len(policy.business_hours.holidays)

    plan = automation.plan(policy, PUBLIC_URL)
    assert plan.drift == () and len(plan.changes) == len(desired)
    again = automation.apply(policy, PUBLIC_URL, progress=told.append)
    assert not again.plan.changed and len(told) == len(desired)


def test_hand_edits_of_a_managed_sla_policy_and_trigger_are_drift_that_apply_restores(
        account, automation, policy):
    automation.apply(policy, PUBLIC_URL)
    sla = account.owned(zd.SLA_POLICY)["[sms-connector] Critical outage"]
    metrics = [{**m, "target": 99} if m["metric"] == "first_reply_time" else m
               for m in sla["policy_metrics"]]
    account.put(zd.SLA_POLICY, sla["id"], {"policy_metrics": metrics})
    route = account.owned(zd.TRIGGER)["[sms-connector] Route Critical outage"]
    actions = [{**a, "value": "low"} if a["field"] == "priority" else a for a in route["actions"]]
    account.put(zd.TRIGGER, route["id"], {"actions": actions})

    plan = automation.plan(policy, PUBLIC_URL)
    assert [(c.action, c.kind, c.object_id, c.fields) for c in plan.drift] == [
        (UPDATE, zd.SLA_POLICY, str(sla["id"]), ("policy_metrics",)),
        (UPDATE, zd.TRIGGER, str(route["id"]), ("actions",))]
    [metric_change] = plan.drift[0].details
    assert {m["target"] for m in metric_change.before
            if m["metric"] == "first_reply_time"} == {99}
    repaired = automation.apply(policy, PUBLIC_URL)
    assert repaired.plan.drift == plan.drift
    assert automation.plan(policy, PUBLIC_URL).drift == ()
    restored = account.owned(zd.SLA_POLICY)["[sms-connector] Critical outage"]
    assert {m["target"] for m in restored["policy_metrics"]
            if m["metric"] == "first_reply_time"} == {5}
    assert {"field": "priority", "value": "urgent"} in \
        account.owned(zd.TRIGGER)["[sms-connector] Route Critical outage"]["actions"]


def test_unmanaged_look_alikes_are_never_touched(account, automation, policy):
    tag = [{"field": "current_tags", "operator": "includes", "value": "sms_billing"}]
    for title in ("Route Billing concern", "sms-connector Route Billing concern",
                  "Copy of [sms-connector] Route Billing concern"):
        account.post(zd.TRIGGER, {"title": title, "conditions": {"all": [
            {"field": "update_type", "operator": "is", "value": "Create"}, *tag]},
            "actions": [{"field": "priority", "value": "low"}]})
    account.post(zd.SLA_POLICY, {"title": "Billing concern", "filter": {"all": tag, "any": []},
                                 "policy_metrics": [{"priority": "high",
                                                     "metric": "first_reply_time",
                                                     "target": 600, "business_hours": False}]})
    account.post(zd.MACRO, {"title": "Closing", "actions": [
        {"field": "comment_value", "value": "Bye"}]})
    before = account.foreign()
    plan = automation.plan(policy, PUBLIC_URL)
    assert all(zd.owned(c.title) for c in plan.changes)
    automation.apply(policy, PUBLIC_URL)
    again = automation.plan(policy, PUBLIC_URL)
    assert again.drift == ()
    # Zendesk applies the first matching SLA policy: theirs comes first, and the plan says so.
    notes = {c.note for c in again.changes if c.kind == zd.SLA_POLICY}
    assert len(notes) == 1 and "'Billing concern'" in notes.pop()
    assert all(not c.note for c in again.changes if c.kind != zd.SLA_POLICY)
    after = account.foreign()
    # Our SLA policies go after theirs; nothing of theirs changed.
    assert after == before


def test_an_apply_that_loses_its_connection_half_way_converges_when_run_again(
        account, automation, policy):
    # The automation's creation is committed, then the connection drops without an answer.
    account.faults(drop_after_commit=1, drop_paths="/api/v2/automations")
    with pytest.raises(TransientError):
        automation.apply(policy, PUBLIC_URL)
    assert len(account.owned(zd.AUTOMATION)) == 1 and account.owned(zd.MACRO) == {}
    # And once more in the middle of the schedule's holidays.
    [schedule] = account.owned(zd.SCHEDULE).values()
    account.admin._request("edit", "PUT", f"/business_hours/schedules/{schedule['id']}/workweek",
                           json={"workweek": {"intervals": [
                               {"start_time": 1980, "end_time": 2460}]}})
    account.faults(drop_after_commit=1, drop_paths="/workweek")
    with pytest.raises(TransientError):
        automation.apply(policy, PUBLIC_URL)
    result = automation.apply(policy, PUBLIC_URL)
    assert {c.kind for c in result.plan.drift if c.action == CREATE} >= {zd.MACRO, zd.WEBHOOK}
    assert automation.plan(policy, PUBLIC_URL).drift == ()
    desired = automation.desired(policy, PUBLIC_URL)
    for kind in set(zd.KINDS) - {zd.GROUP}:  # nothing twice
        assert sorted(account.owned(kind)) == sorted(d.title for d in desired if d.kind == kind)


def _matches(conditions: dict[str, Any], tags: list[str]) -> bool:
    def holds(c: dict[str, Any]) -> bool:
        assert c["field"] == "current_tags"  # the only condition our filters use
        inside = set(str(c["value"]).split()) <= set(tags)
        return inside if c["operator"] == "includes" else not inside

    every, anys = conditions.get("all") or [], conditions.get("any") or []
    return all(holds(c) for c in every) and (not anys or any(holds(c) for c in anys))


def _minutes(entry: dict[str, Any]) -> int:
    return int(entry.get("minutes") or 0) + 60 * int(entry.get("hours") or 0) \
        + 1440 * int(entry.get("days") or 0)


def test_every_scenario_ticket_falls_under_exactly_one_connector_sla_policy_with_its_target(
        account, automation, policy):
    automation.apply(policy, PUBLIC_URL)
    ours = list(account.owned(zd.SLA_POLICY).values())
    groups = {g["name"]: g["id"] for g in account.listed(zd.GROUP)}
    for scenario in policy.scenarios:
        tier = policy.tier(scenario.tier)
        # Tagged as connector.text.triage tags it, filed through the API without a priority.
        tags = ["sms", f"sms_{scenario.id}", f"sms_{tier.id.lower()}"]
        made = account.admin._json("file", "POST", "/tickets", json={"ticket": {
            "subject": f"SMS ({scenario.id})", "tags": tags,
            "requester": {"name": "+12025550142", "email": "customer@example.com"},
            "comment": {"body": "hello"}}})["ticket"]
        ticket = account.admin._json("show", "GET", f"/tickets/{made['id']}",
                                     params={"include": "slas"})["ticket"]
        # The routing trigger: the tier's priority, the owner group.
        assert ticket["priority"] == tier.zendesk_priority
        assert ticket["group_id"] == groups[scenario.group]
        under = [p["title"] for p in ours if _matches(p["filter"], ticket["tags"])]
        assert under == [f"[sms-connector] {scenario.title}"], scenario.id
        first = [m for m in ticket["slas"]["policy_metrics"]
                 if m["metric"] == "first_reply_time"]
        assert [_minutes(m) for m in first] == [math.ceil(scenario.targets.first_response / 60)]


def test_missing_groups_are_created_when_the_pack_allows_it(account, automation, policy):
    creating = replace(policy, groups=replace(policy.groups, create_missing=True),
                       scenarios=(replace(policy.scenarios[0], group="Night shift"),
                                  *policy.scenarios[1:]))
    creating = replace(creating, groups=replace(
        creating.groups, names=tuple(sorted({*creating.groups.names, "Night shift"}))))
    plan = automation.plan(creating, PUBLIC_URL)
    assert [(c.action, c.title) for c in plan.changes if c.kind == zd.GROUP
            and c.action == CREATE] == [(CREATE, "Night shift")]
    automation.apply(creating, PUBLIC_URL)
    night = next(g for g in account.listed(zd.GROUP) if g["name"] == "Night shift")
    route = account.owned(zd.TRIGGER)["[sms-connector] Route General inquiry"]
    assert {"field": "group_id", "value": str(night["id"])} in route["actions"]
    assert automation.plan(creating, PUBLIC_URL).drift == ()


def test_the_automation_tags_a_ticket_pending_24_hours_once(account, automation, policy):
    automation.apply(policy, PUBLIC_URL)
    base = account.sandbox.zendesk_url
    made = account.admin._json("file", "POST", "/tickets", json={"ticket": {
        "subject": "SMS (general)", "tags": ["sms", "sms_general", "sms_p3"],
        "requester": {"name": "+12025550142", "email": "customer@example.com"},
        "comment": {"body": "hello"}}})["ticket"]
    account.admin._json("pend", "PUT", f"/tickets/{made['id']}",
                        json={"ticket": {"status": "pending"}})

    def tags_after(hours: float) -> list[str]:
        requests.post(f"{base}/_sandbox/clock", json={"advance_seconds": hours * 3600},
                      timeout=10).raise_for_status()
        requests.post(f"{base}/_sandbox/automations/run", timeout=10).raise_for_status()
        return list(account.admin._json("show", "GET", f"/tickets/{made['id']}")["ticket"]["tags"])

    assert zd.REMINDER_TAG not in tags_after(23)  # 23 h pending: not yet
    assert zd.REMINDER_TAG in tags_after(1.5)  # 24.5 h
    assert tags_after(5).count(zd.REMINDER_TAG) == 1  # true only once

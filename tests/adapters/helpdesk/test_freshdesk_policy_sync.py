"""The whole policy pack pushed into the Freshdesk stand-in over real HTTP (issue #12, "Done when"):
apply on an empty account creates everything; a second plan is empty; a hand edit of a managed
SLA policy and of a managed rule is drift that apply restores; the account's own look-alikes are
untouched; an apply stopped half-way converges when run again; leftovers are deactivated /
retired (Freshdesk cannot delete them); and what Freshdesk then does with the objects: a
scenario's ticket falls under its SLA policy, the routing rule files it, the hourly trigger
escalates a ticket left pending."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

import pytest
import requests

from adapters.helpdesk.freshdesk import FreshdeskClient
from adapters.helpdesk.freshdesk_automation import FreshdeskAutomation
from connector.sandbox.common import SandboxServer
from connector.sandbox.freshdesk import API_KEY, create_app
from connector.sync.plan import CREATE, DELETE, KEEP, UPDATE, Change
from mappings import freshdesk as fd
from mappings.policy import Policy, policy_from_dict
from tests.packs import raw_without_reminders

PUBLIC = "https://sms.example.com"
API = "/api/v2"


@dataclass
class World:
    server: SandboxServer

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """An admin working by hand, through the API with the account's key."""
        response = requests.request(method, self.server.url + path, auth=(API_KEY, "X"),
                                    timeout=10, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def groups(self) -> dict[str, int]:
        return {g["name"]: g["id"] for g in self.call("GET", f"{API}/groups")}

    def slas(self) -> list[dict[str, Any]]:
        return list(self.call("GET", f"{API}/sla_policies"))

    def sla(self, name: str) -> dict[str, Any]:
        return next(p for p in self.slas() if p["name"] == name)

    def rules(self, rule_type: int) -> list[dict[str, Any]]:
        return list(self.call("GET", f"{API}/automations/{rule_type}/rules"))

    def rule(self, rule_type: int, name: str) -> dict[str, Any]:
        return next(r for r in self.rules(rule_type) if r["name"] == name)

    def folders(self) -> list[dict[str, Any]]:
        return list(self.call("GET", f"{API}/canned_response_folders"))

    def responses(self, folder_name: str = fd.FOLDER_NAME) -> list[dict[str, Any]]:
        [folder] = [f for f in self.folders() if f["name"] == folder_name]
        return list(self.call("GET", f"{API}/canned_response_folders/{folder['id']}/responses"))

    def everything(self) -> dict[str, Any]:
        return {"slas": self.slas(), "rules": {t: self.rules(t) for t in (1, 3, 4)},
                "folders": self.folders(),
                "responses": {f["name"]: self.call(
                    "GET", f"{API}/canned_response_folders/{f['id']}/responses")
                    for f in self.folders()}}

    def ticket(self, **fields: Any) -> dict[str, Any]:
        body = {"subject": "SMS from +12025550142", "description": "it is all down",
                "phone": "+12025550142", "name": "+12025550142", "source": 3, "status": 2,
                "priority": 1, **fields}
        return dict(self.call("POST", f"{API}/tickets", json=body))


@pytest.fixture
def world() -> Iterator[World]:
    world = World(SandboxServer(create_app()).start())
    try:
        # The pack's owner groups are the team's (a fresh account has "Billing" already);
        # Support has the API key's agent, so its policy escalates to someone.
        me = world.call("GET", f"{API}/agents/me")["id"]
        have = world.groups()
        for name in OWNERS.values():
            if name not in have:
                extra = {"agent_ids": [me]} if name == "Support" else {}
                world.call("POST", f"{API}/groups", json={"name": name, **extra})
        yield world
    finally:
        world.server.stop()


@pytest.fixture
def automation(world: World) -> FreshdeskAutomation:
    return FreshdeskAutomation(FreshdeskClient(world.server.url, API_KEY),
                               new_secret=lambda: "generated-secret")


# Freshdesk tells scenarios apart by owner group (mappings/freshdesk.py): the default pack with one.
OWNERS = {"general": "Support", "order": "Orders", "technical": "Tech Support",
          "billing": "Billing", "outage": "Incident Response"}


def changed_pack(**titles: str) -> Policy:
    """The default pack with owner groups, scenario / script titles changed (by id)."""
    # Without the reminder text: no_customer_response is Freshdesk's hourly rule (tests/packs.py).
    raw = raw_without_reminders(tomllib.loads(
        resources.files("mappings").joinpath("default_policy.toml").read_text()))
    for scenario in raw["scenarios"]:
        scenario["group"] = OWNERS[scenario["id"]]
    for item in [*raw["scenarios"], *raw.get("scripts", [])]:
        item["title"] = titles.get(item["id"], item["title"])
    return policy_from_dict(raw)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return changed_pack()


def test_apply_on_an_empty_account_creates_everything_and_a_second_plan_is_empty(
    world: World, automation: FreshdeskAutomation, policy: Policy
) -> None:
    desired = automation.desired(policy, PUBLIC)
    plan = automation.plan(policy, PUBLIC)
    assert [(c.action, c.kind, c.title) for c in plan.changes] == [
        (CREATE, d.kind, d.title) for d in desired]
    told: list[Change] = []
    result = automation.apply(policy, PUBLIC, progress=told.append)
    assert told == list(result.plan.changes) == list(plan.changes)

    again = automation.plan(policy, PUBLIC)
    assert again.drift == () and len(again.changes) == len(desired)
    assert all(c.object_id for c in again.changes)
    # The lines name the targets Freshdesk cannot hold.
    [outage] = [c for c in again.changes if c.title == "[sms-connector] Critical outage"]
    assert "first response 5 minutes is under Freshdesk's 15-minute minimum" in outage.line()

    groups = world.groups()
    support = world.sla("[sms-connector] General inquiry")
    assert support["applicable_to"]["group_ids"] == [groups["Support"]]
    assert support["sla_target"]["priority_2"]["respond_within"] == 900
    assert support["escalation"]["resolution"]["level_1"]["agent_ids"] == [
        world.call("GET", f"{API}/agents/me")["id"]]
    assert [r["title"] for r in world.responses()] == [
        f"[sms-connector] {s.title}" for s in policy.scripts]
    assert [r["name"] for r in world.rules(3)] == [
        "[sms-connector] General inquiry: no customer response in 24 hours"]


def test_a_scenarios_ticket_is_filed_by_its_routing_rule_under_its_sla_policy(
    world: World, automation: FreshdeskAutomation, policy: Policy
) -> None:
    automation.apply(policy, PUBLIC)
    groups = world.groups()
    # Filed without group or priority (the group lookup failed, say): the routing rule sets them.
    routed = world.ticket(tags=["sms", "sms_outage"])
    shown = world.call("GET", f"{API}/tickets/{routed['id']}")
    assert (shown["group_id"], shown["priority"]) == (groups["Incident Response"], 4)
    # Filed as the adapter files it: the outage policy's targets (first response at
    # Freshdesk's 15-minute floor, resolution 4 h) give its due dates.
    filed = world.ticket(tags=["sms", "sms_outage"], group_id=groups["Incident Response"],
                         priority=4)
    created = datetime.fromisoformat(filed["created_at"].replace("Z", "+00:00"))
    due = {k: (datetime.fromisoformat(filed[k].replace("Z", "+00:00")) - created).total_seconds()
           for k in ("fr_due_by", "due_by")}
    assert due == {"fr_due_by": 900, "due_by": 14400}


def test_hand_edits_of_a_managed_sla_policy_and_rule_are_drift_that_apply_restores(
    world: World, automation: FreshdeskAutomation, policy: Policy
) -> None:
    automation.apply(policy, PUBLIC)
    sla = world.sla("[sms-connector] Technical issue")
    target = sla["sla_target"]
    target["priority_3"] = {**target["priority_3"], "respond_within": 3600}
    world.call("PUT", f"{API}/sla_policies/{sla['id']}", json={"sla_target": target})
    rule = world.rule(1, "[sms-connector] Route Billing concern")
    world.call("PUT", f"{API}/automations/1/rules/{rule['id']}",
               json={"actions": [{"field_name": "priority", "value": 1}]})

    plan = automation.plan(policy, PUBLIC)
    assert [(c.action, c.kind, c.object_id, c.fields) for c in plan.drift] == [
        (UPDATE, "SLA policy", str(sla["id"]), ("sla_target",)),
        (UPDATE, "automation rule", str(rule["id"]), ("actions",))]
    [detail] = plan.drift[0].details
    assert detail.before["priority_3"]["respond_within"] == 3600
    assert detail.after["priority_3"]["respond_within"] == 900

    assert automation.apply(policy, PUBLIC).plan.drift == plan.drift
    assert automation.plan(policy, PUBLIC).drift == ()
    restored = world.rule(1, "[sms-connector] Route Billing concern")
    assert restored["id"] == rule["id"] and len(restored["actions"]) == 2


def test_the_accounts_own_look_alikes_are_untouched(
    world: World, automation: FreshdeskAutomation, policy: Policy
) -> None:
    groups = world.groups()
    route = {"active": True, "conditions": [{"name": "condition_set_1", "match_type": "all",
                                             "properties": [{
                                                 "resource_type": "ticket",
                                                 "field_name": "tag_names", "operator": "in",
                                                 "value": ["sms_outage"]}]}],
             "actions": [{"field_name": "priority", "value": 1}]}
    for name in ("Route Critical outage", "Copy of [sms-connector] Route Critical outage"):
        world.call("POST", f"{API}/automations/1/rules", json={"name": name, **route})
    row = {"respond_within": 3600, "resolve_within": 7200, "business_hours": False,
           "escalation_enabled": False}
    world.call("POST", f"{API}/sla_policies", json={
        "name": "Critical outage", "applicable_to": {"group_ids": [groups["Incident Response"]]},
        "sla_target": {f"priority_{p}": row for p in (4, 3, 2, 1)}})
    folder = world.call("POST", f"{API}/canned_response_folders", json={"name": "Agent scripts"})
    world.call("POST", f"{API}/canned_responses", json={
        "title": "[sms-connector] Closing", "content_html": "<div>Bye</div>",
        "folder_id": folder["id"], "visibility": 0})
    before = world.everything()

    automation.apply(policy, PUBLIC)
    assert automation.plan(policy, PUBLIC).drift == ()
    after = world.everything()
    theirs = ("Route Critical outage", "Copy of [sms-connector] Route Critical outage",
              "Critical outage")
    for kind in ("slas",):
        assert [p for p in after[kind] if p["name"] in theirs] == [
            p for p in before[kind] if p["name"] in theirs]
    assert [r for r in after["rules"][1] if r["name"] in theirs] == before["rules"][1]
    assert after["responses"]["Agent scripts"] == before["responses"]["Agent scripts"]


def test_an_apply_stopped_half_way_converges_when_run_again(
    world: World, automation: FreshdeskAutomation, policy: Policy
) -> None:
    class Stop(Exception):
        pass

    told: list[Change] = []

    def crash_after_seven(change: Change) -> None:
        told.append(change)
        if len(told) == 7:
            raise Stop

    with pytest.raises(Stop):
        automation.apply(policy, PUBLIC, progress=crash_after_seven)
    plan = automation.plan(policy, PUBLIC)
    assert [c.action for c in plan.changes] == [KEEP] * 7 + [CREATE] * 14
    automation.apply(policy, PUBLIC)
    assert automation.plan(policy, PUBLIC).drift == ()
    desired = automation.desired(policy, PUBLIC)
    owned = ([p for p in world.slas() if fd.owned(p["name"])]
             + [r for t in (1, 3, 4) for r in world.rules(t) if fd.owned(r["name"])]
             + [f for f in world.folders() if f["name"] == fd.FOLDER_NAME] + world.responses())
    assert len(owned) == len(desired)  # nothing twice


def test_leftovers_are_deactivated_or_retired_and_then_no_drift(
    world: World, automation: FreshdeskAutomation, policy: Policy
) -> None:
    automation.apply(policy, PUBLIC)
    renamed = changed_pack(billing="Billing question", closing="Wrap-up")
    plan = automation.plan(renamed, PUBLIC)
    assert [(c.action, c.kind, c.title, c.note) for c in plan.drift] == [
        (CREATE, "SLA policy", "[sms-connector] Billing question",
         "no escalation: Freshdesk lists no agents in group 'Billing'"),
        (DELETE, "SLA policy", "[sms-connector] Billing concern",
         "Freshdesk SLA policies cannot be deleted: deactivated (active false)"),
        (CREATE, "automation rule", "[sms-connector] Route Billing question", ""),
        (DELETE, "automation rule", "[sms-connector] Route Billing concern", ""),
        (CREATE, "canned response", "[sms-connector] Wrap-up", ""),
        (DELETE, "canned response", "[sms-connector] Closing",
         "Freshdesk canned responses cannot be deleted: retitled '[sms-connector] Retired: '… "
         "and made personal (hidden from other agents)")]
    automation.apply(renamed, PUBLIC)
    assert automation.plan(renamed, PUBLIC).drift == ()
    assert world.sla("[sms-connector] Billing concern")["active"] is False
    # Personal now: out of the shared folder, kept for the API key's agent only.
    assert "[sms-connector] Closing" not in {r["title"] for r in world.responses()}
    state = world.call("GET", "/_sandbox/state")
    assert any(r.get("title") == "[sms-connector] Retired: Closing" and r.get("visibility") == 1
               for r in _all(state, "canned_responses"))
    # Back to the first pack: the deactivated policy is ours again, switched back on.
    back = automation.plan(policy, PUBLIC).drift
    assert (UPDATE, "[sms-connector] Billing concern", ("active",)) in [
        (c.action, c.title, c.fields) for c in back]


def _all(state: Any, key: str) -> list[dict[str, Any]]:
    """Every object under ``key`` anywhere in the stand-in's state."""
    found: list[dict[str, Any]] = []
    if isinstance(state, dict):
        for k, v in state.items():
            if k == key:
                found += list(v.values()) if isinstance(v, dict) else list(v)
            else:
                found += _all(v, key)
    elif isinstance(state, list):
        for v in state:
            found += _all(v, key)
    return found


def test_the_hourly_trigger_escalates_a_ticket_left_pending_once(
    world: World, automation: FreshdeskAutomation, policy: Policy
) -> None:
    automation.apply(policy, PUBLIC)
    groups = world.groups()
    ticket = world.ticket(tags=["sms", "sms_general"], group_id=groups["Support"], priority=2,
                          status=3)
    runs = world.call("POST", "/_sandbox/automations/run", json={"hours": 30})["runs"]
    acted = [i + 1 for i, run in enumerate(runs) for r in run["rules"] if r["ticket_ids"]]
    assert acted == [24]  # pending 24 hours, once
    assert world.call("GET", f"{API}/tickets/{ticket['id']}")["tags"] == [
        "sms", "sms_general", "sms_escalated"]

"""mappings.freshdesk: the automation rules policy apply installs, the secret they send, and how
a rule as Freshdesk lists it compares."""

from __future__ import annotations

import copy
import dataclasses
import json
import tomllib
from importlib import resources
from typing import Any

import pytest

from connector.errors import ConfigurationError
from mappings import freshdesk as fd
from mappings.policy import Policy, load_policy, policy_from_dict
from tests.packs import raw_without_reminders

URL = "https://sms.example.com/"
SECRET = "s3cret-value"


@pytest.fixture(scope="module")
def objects() -> fd.FreshdeskObjects:
    return fd.desired(load_policy(), URL, SECRET)


def listed(rule: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """``rule`` as Freshdesk lists it: what it adds, numbers as strings, the body a string."""
    have = copy.deepcopy(rule)
    [action] = have["actions"]
    action["content"] = json.dumps(action["content"], indent=2)
    action["content_layout"] = 2
    action["custom_headers"] = {fd.SECRET_HEADER.lower(): SECRET}
    have.update(
        id=82000163682, position=7, automation_type_id=4, outdated=False,
        affected_tickets_count=3, last_updated_by=11, summary={"performer": "Agent"},
        created_at="2025-01-02T03:04:05Z", updated_at="2025-01-02T03:04:05Z",
        performer={"type": str(rule["performer"]["type"]), "members": []},
        conditions=[{"match_type": "all", "properties": [
            {"field_name": "tag_names", "operator": "in", "value": ["sms"]}]}],
    )
    have.update(changes)
    return have


def test_two_type_4_rules_call_the_connector(objects):
    reply, status = objects.rules
    assert reply["name"] == "[sms-connector] Text agent replies to the customer"
    assert status["name"] == "[sms-connector] Tell the connector a ticket's status changed"
    assert reply["performer"] == {"type": 1}  # agent: a customer's note raises reply_sent too
    assert reply["events"] == [{"field_name": "reply_sent"}]
    assert status["performer"] == {"type": 3}
    assert status["events"] == [{"field_name": "status", "from": "--", "to": "--"}]
    for rule, event in ((reply, "reply_sent"), (status, "status")):
        assert rule["active"] is True and "position" not in rule
        assert rule["conditions"] == [{"name": "condition_set_1", "match_type": "all",
                                       "properties": [{"resource_type": "ticket",
                                                       "field_name": "tag_names",
                                                       "operator": "in", "value": ["sms"]}]}]
        assert rule["actions"] == [{
            "field_name": "trigger_webhook", "request_type": "POST",
            "url": "https://sms.example.com/webhooks/helpdesk/freshdesk",
            "custom_headers": {"X-Sms-Connector-Secret": SECRET},
            "content_type": "JSON", "content_layout": "2",
            "content": {"ticket_id": "{{ticket.id}}", "event": event}}]


def test_every_rule_carries_the_prefix(objects):
    assert all(fd.owned(r["name"]) for r in objects.rules)
    for name in (None, "", "Text agent replies", "Copy of [sms-connector] x", " [sms-connector]"):
        assert not fd.owned(name)


def test_without_a_secret_the_rules_show_a_placeholder():
    for rule in fd.desired(load_policy(), URL).rules:
        assert fd.rule_secret(rule) == fd.SECRET_PLACEHOLDER


def test_the_secret_is_read_back_whatever_the_header_case(objects):
    reply, status = objects.rules
    assert fd.rule_secret(reply) == SECRET
    assert fd.rule_secret(listed(reply)) == SECRET
    as_string = listed(reply)
    as_string["actions"][0]["custom_headers"] = json.dumps({"x-SMS-connector-secret": "abc"})
    assert fd.rule_secret(as_string) == "abc"
    assert fd.rule_secret({"actions": [{"field_name": "add_tag", "value": "x"}]}) is None
    assert fd.rule_secret({"actions": [{"field_name": "trigger_webhook"}]}) is None
    assert fd.rule_secret({}) is None
    bare = listed(status, actions=[{**status["actions"][0], "custom_headers": {}}])
    assert fd.first_secret([bare, listed(reply)]) == SECRET
    assert fd.first_secret([bare]) is None


def test_comparison_ignores_what_freshdesk_adds_and_value_spelling(objects):
    for rule in objects.rules:
        assert fd.rule_differences(rule, listed(rule)) == []
    _, status = objects.rules
    # A missing from / to is "any"; a one-value "in" is its value, a tag in any case; a
    # trailing slash; a method in lower case.
    echoed = listed(status, events=[{"field_name": "status"}])
    echoed["conditions"][0]["properties"][0]["value"] = "SMS"
    echoed["actions"][0]["url"] += "/"
    echoed["actions"][0]["request_type"] = "post"
    assert fd.rule_differences(status, echoed) == []


@pytest.mark.parametrize(("edit", "fields"), [
    ({"active": False}, ["active"]),
    ({"name": "[sms-connector] old"}, ["name"]),
    ({"performer": {"type": 3}}, ["performer"]),
    ({"performer": {"type": 1, "members": [5]}}, ["performer"]),
    ({"events": [{"field_name": "note_type", "value": "public"}]}, ["events"]),
    ({"conditions": []}, ["conditions"]),
    ({"conditions": [{"name": "condition_set_1", "match_type": "any", "properties": [
        {"resource_type": "ticket", "field_name": "tag_names", "operator": "in",
         "value": ["sms"]}]}]}, ["conditions"]),
])
def test_comparison_names_what_differs(objects, edit, fields):
    reply, _ = objects.rules
    assert fd.rule_differences(reply, listed(reply, **edit)) == fields


def test_every_part_of_the_webhook_action_is_compared(objects):
    reply, _ = objects.rules
    action = reply["actions"][0]
    for key, value in (("url", "https://old.example.com/webhooks/helpdesk/freshdesk"),
                       ("custom_headers", {fd.SECRET_HEADER: "another"}),
                       ("custom_headers", {}),
                       ("content", {"ticket_id": "{{ticket.id}}"}),
                       ("content_type", "XML"),
                       ("auth_header", {"api_key": "k"}),
                       ("request_type", "PUT")):
        have = listed(reply)
        have["actions"] = [{**action, key: value}]
        assert fd.rule_differences(reply, have) == ["actions"], key
    added = listed(reply)
    added["actions"].append({"field_name": "add_tag", "value": ["texted"]})
    assert fd.rule_differences(reply, added) == ["actions"]


def test_a_configured_secret_that_differs_is_drift(objects):
    reply, _ = objects.rules
    other = fd.desired(load_policy(), URL, "another").rules[0]
    assert fd.rule_differences(other, listed(reply)) == ["actions"]


# -- the pack's own objects (issue #12) -----------------------------------------------------------

GROUPS = {"support": 11, "orders": 12, "tech support": 13, "billing": 14,
          "incident response": 15}
ACCOUNT = fd.Account(groups=GROUPS, agents={11: (102, 101), 15: (105,)}, source=3, folder_id=77)


# The default pack names no owner groups (yet); what Freshdesk does with owners is tested on the
# default pack with these.
OWNERS = {"general": "Support", "order": "Orders", "technical": "Tech Support",
          "billing": "Billing", "outage": "Incident Response"}


def with_changes(**scenario_changes: dict[str, Any]) -> Policy:
    """The default pack with owner groups and some scenarios' TOML keys changed (None removes
    a key)."""
    # Without the reminder text: no_customer_response is Freshdesk's hourly rule (tests/packs.py).
    raw = raw_without_reminders(tomllib.loads(
        resources.files("mappings").joinpath("default_policy.toml").read_text()))
    for scenario in raw["scenarios"]:
        scenario["group"] = OWNERS[scenario["id"]]
        for key, value in scenario_changes.get(scenario["id"], {}).items():
            if value is None:
                scenario.pop(key, None)
            else:
                scenario[key] = value
    return policy_from_dict(raw)


@pytest.fixture(scope="module")
def owned_pack() -> Policy:
    return with_changes()


@pytest.fixture(scope="module")
def pack(owned_pack: Policy) -> fd.FreshdeskObjects:
    return fd.desired(owned_pack, URL, SECRET, ACCOUNT)


def test_the_default_pack_as_shipped_has_no_owner_groups_so_no_native_sla():
    # Freshdesk tells scenarios apart by group, never by tag: without owners every target and
    # time rule is the connector's; routing, scripts and the webhook rules remain.
    policy = load_policy()
    objects = fd.desired(policy, URL, SECRET, ACCOUNT)
    assert (objects.sla_policies, objects.time_rules, objects.groups) == ((), (), ())
    assert [r["actions"] for r in objects.creation_rules] == [
        [{"field_name": "priority", "value": p}] for p in (2, 2, 3, 3, 4)]
    assert len(objects.canned_responses) == len(policy.scripts) == 7
    assert {e.enforced_by for e in fd.enforcement(policy)} == {"connector"}
    assert {e.why for e in fd.enforcement(policy) if e.rule == "resolution"} == {
        "no Freshdesk SLA policy: it has no owner group, and Freshdesk applies SLA policies and "
        "time triggers by group and source, not by tag"}


def test_one_sla_policy_per_scenario_on_its_owner_group_and_the_sms_source(pack):
    assert [p["name"] for p in pack.sla_policies] == [
        "[sms-connector] General inquiry", "[sms-connector] Order / status",
        "[sms-connector] Technical issue", "[sms-connector] Billing concern",
        "[sms-connector] Critical outage"]
    assert [p["applicable_to"] for p in pack.sla_policies] == [
        {"group_ids": [g], "sources": [3]} for g in (11, 12, 13, 14, 15)]
    for body in pack.sla_policies:
        assert fd.sla_policy_errors(body) == [], body["name"]
        assert set(body["sla_target"]) == {"priority_4", "priority_3", "priority_2", "priority_1"}


def test_golden_sla_policy_of_a_native_scenario(pack):
    technical = pack.sla_policies[2]
    row = {"respond_within": 900, "resolve_within": 86400, "next_respond_within": 3600,
           "business_hours": False, "escalation_enabled": False}
    assert technical == {
        "name": "[sms-connector] Technical issue",
        "description": "SMS tickets of the scenario 'Technical issue' (owner group "
                       "'Tech Support'). Managed by sms-connector policy apply. No escalation: "
                       "Freshdesk lists no agents in group 'Tech Support'.",
        "active": True,
        "applicable_to": {"group_ids": [13], "sources": [3]},
        "sla_target": {f"priority_{p}": row for p in (4, 3, 2, 1)},
    }
    assert pack.notes[technical["name"]] == (
        "no escalation: Freshdesk lists no agents in group 'Tech Support'")


def test_a_first_response_under_15_minutes_is_the_connectors(pack):
    general, outage = pack.sla_policies[0], pack.sla_policies[4]
    # Freshdesk requires respond_within: its floor, without escalation on it; the pack's 10
    # minutes is the connector's timer, and the description and the plan's note say so.
    assert general["sla_target"]["priority_2"] == {
        "respond_within": 900, "resolve_within": 259200, "next_respond_within": 14400,
        "business_hours": True, "escalation_enabled": True}
    assert general["escalation"] == {
        "next_response": {"escalation_time": 0, "agent_ids": [101, 102]},
        "resolution": {"level_1": {"escalation_time": 0, "agent_ids": [101, 102]}}}
    assert pack.notes[general["name"]] == (
        "first response 10 minutes is under Freshdesk's 15-minute minimum: the connector's "
        "timer enforces it (Freshdesk shows 15 minutes, without escalation)")
    assert "the connector's timer enforces it" in general["description"]
    assert outage["escalation"]["resolution"]["level_1"]["agent_ids"] == [105]
    assert "response" not in outage["escalation"]
    assert "5 minutes" in pack.notes[outage["name"]]


def test_a_native_first_response_escalates_to_the_owner_groups_agents(owned_pack):
    account = fd.Account(groups=GROUPS, agents={13: (7,)})
    technical = fd.desired(owned_pack, URL, account=account).sla_policies[2]
    assert technical["escalation"]["response"] == {"escalation_time": 0, "agent_ids": [7]}
    assert technical["sla_target"]["priority_3"]["escalation_enabled"] is True


def test_without_ids_the_bodies_show_placeholders(owned_pack):
    bodies = fd.desired(owned_pack, URL)
    assert bodies.sla_policies[0]["applicable_to"] == {"group_ids": ["<group Support>"],
                                                        "sources": [3]}
    assert {r["folder_id"] for r in bodies.canned_responses} == {fd.NEW_FOLDER}


def test_routing_rules_give_the_tiers_priority_and_the_owner_group(pack):
    assert pack.creation_rules[4] == {
        "name": "[sms-connector] Route Critical outage", "active": True,
        "conditions": [{"name": "condition_set_1", "match_type": "all", "properties": [
            {"resource_type": "ticket", "field_name": "tag_names", "operator": "in",
             "value": ["sms_outage"]}]}],
        "actions": [{"field_name": "priority", "value": 4},
                    {"field_name": "group_id", "value": 15}]}
    assert [r["actions"][0]["value"] for r in pack.creation_rules] == [2, 2, 3, 3, 4]


def test_a_time_trigger_for_what_freshdesk_counts_in_hours(pack):
    # Only general's no_customer_response (24 h) is whole hours; order's status_unknown after
    # 30 minutes and the counting triggers are the connector's.
    assert pack.time_rules == ({
        "name": "[sms-connector] General inquiry: no customer response in 24 hours",
        "active": True,
        "conditions": [{"name": "condition_set_1", "match_type": "all", "properties": [
            {"resource_type": "ticket", "field_name": "group_id", "operator": "in",
             "value": [11]},
            {"resource_type": "ticket", "field_name": "source", "operator": "in", "value": [3]},
            {"resource_type": "ticket", "field_name": "status", "operator": "in", "value": [3]},
            {"resource_type": "ticket", "field_name": "pending_since", "operator": "is",
             "value": 24}]}],
        "actions": [{"field_name": "add_tag", "value": ["sms_escalated"]}]},)


def test_one_canned_response_per_script_in_the_folder(pack, owned_pack):
    assert pack.folder == {"name": "[sms-connector] Agent scripts"}
    policy = owned_pack
    assert [r["title"] for r in pack.canned_responses] == [
        f"[sms-connector] {s.title}" for s in policy.scripts]
    order = pack.canned_responses[1]
    assert order == {
        "title": "[sms-connector] Order status update",
        "content_html": "<div>Acme Support: an update on order {order}: it is on its way "
                        "and should arrive within {eta}. We will text you if anything "
                        "changes.</div>",
        "folder_id": 77, "visibility": 0}
    assert "status.example.com" in pack.canned_responses[4]["content_html"]


def test_groups_are_objects_only_when_the_pack_may_create_them(pack, owned_pack):
    assert pack.groups == ()
    policy = owned_pack
    creating = dataclasses.replace(policy, groups=dataclasses.replace(policy.groups,
                                                                      create_missing=True))
    assert fd.desired(creating, URL).groups == tuple({"name": n} for n in (
        "Billing", "Incident Response", "Orders", "Support", "Tech Support"))


def test_enforcement_of_the_default_pack_with_owners(owned_pack):
    rows = [(e.scenario, e.rule, e.enforced_by) for e in fd.enforcement(owned_pack)]
    assert rows == [
        ("general", "first_response", "connector"), ("general", "next_response", "helpdesk"),
        ("general", "resolution", "helpdesk"), ("general", "no_customer_response", "helpdesk"),
        ("order", "first_response", "connector"), ("order", "next_response", "helpdesk"),
        ("order", "resolution", "helpdesk"), ("order", "status_unknown", "connector"),
        ("technical", "first_response", "helpdesk"), ("technical", "next_response", "helpdesk"),
        ("technical", "resolution", "helpdesk"), ("technical", "diagnostic_loops", "connector"),
        ("billing", "first_response", "helpdesk"), ("billing", "next_response", "helpdesk"),
        ("billing", "resolution", "helpdesk"), ("billing", "flags", "connector"),
        ("outage", "first_response", "connector"), ("outage", "next_response", "helpdesk"),
        ("outage", "resolution", "helpdesk"), ("outage", "multiple_customers", "connector")]
    [first] = [e for e in fd.enforcement(owned_pack) if e.scenario == "outage"][:1]
    assert (first.target, first.why) == (300.0, "Freshdesk SLA targets start at 15 minutes")
    assert fd.native_limits.sla_floor == 900 and fd.native_limits.time_rule_step == 3600


def test_a_shared_or_missing_owner_group_gets_no_sla_policy():
    policy = with_changes(order={"group": "Support"}, billing={"group": None})
    objects = fd.desired(policy, URL, account=ACCOUNT)
    assert [p["name"] for p in objects.sla_policies] == [
        "[sms-connector] General inquiry", "[sms-connector] Technical issue",
        "[sms-connector] Critical outage"]
    why = {(e.scenario, e.rule): (e.enforced_by, e.why) for e in fd.enforcement(policy)}
    assert why["order", "resolution"] == (
        "connector", "no Freshdesk SLA policy: it shares its owner group 'Support' with scenario "
        "'general', and Freshdesk tells tickets apart by group and source, not by tag")
    assert why["billing", "first_response"][0] == "connector"
    assert "no owner group" in why["billing", "first_response"][1]
    # Routing still tells them apart by tag; a group-less scenario gets its priority only.
    assert objects.creation_rules[3]["actions"] == [{"field_name": "priority", "value": 3}]


def test_a_target_freshdesk_refuses_is_a_plan_error_naming_the_key():
    policy = with_changes(technical={"resolution": "1000s"})
    with pytest.raises(ConfigurationError) as caught:
        fd.desired(policy, URL)
    assert list(caught.value.errors) == ["scenarios[2].resolution"]
    assert "multiple of 60" in caught.value.errors["scenarios[2].resolution"]


def test_groups_freshdesk_lacks_are_plan_errors_unless_the_pack_may_create_them(owned_pack):
    policy = owned_pack
    account = fd.Account(groups={"support": 1, "billing": 2})
    assert fd.unknown_groups(policy, account) == {
        "scenarios[1].group": "Orders", "scenarios[2].group": "Tech Support",
        "scenarios[4].group": "Incident Response"}
    with pytest.raises(ConfigurationError) as caught:
        fd.check_groups(policy, account)
    assert set(caught.value.errors) == {"scenarios[1].group", "scenarios[2].group",
                                        "scenarios[4].group"}
    assert "groups.create_missing" in caught.value.errors["scenarios[1].group"]
    fd.check_groups(policy, fd.Account(groups={k: 1 for k in GROUPS}))
    creating = dataclasses.replace(policy, groups=dataclasses.replace(policy.groups,
                                                                      create_missing=True))
    fd.check_groups(creating, account)


def test_sla_policy_validation_follows_the_reference_sheet(pack):
    body = copy.deepcopy(pack.sla_policies[2])
    body["sla_target"]["priority_4"]["respond_within"] = 600
    body["sla_target"]["priority_3"]["resolve_within"] = 961
    del body["sla_target"]["priority_1"]
    body["applicable_to"] = {}
    body["escalation"] = {"response": {"escalation_time": 60, "agent_ids": []}}
    assert fd.sla_policy_errors(body) == [
        "sla_target.priority_4.respond_within: 600 (at least 900, a multiple of 60)",
        "sla_target.priority_3.resolve_within: 961 (at least 900, a multiple of 60)",
        "sla_target.priority_1: missing",
        "applicable_to: empty (only the default policy applies to every ticket)",
        "escalation.response.escalation_time: not one of Freshdesk's",
        "escalation.response.agent_ids: empty"]


def echoed_sla(body: dict[str, Any]) -> dict[str, Any]:
    """An SLA policy as Freshdesk lists it: its own keys, numbers as they come, empty lists."""
    have = copy.deepcopy(body)
    have.update(id=5, position=2, is_default=False, created_at="2025-01-01T00:00:00Z",
                updated_at="2025-01-01T00:00:00Z")
    have["applicable_to"] = {**have["applicable_to"], "company_ids": [], "ticket_types": []}
    have.setdefault("escalation", {"response": {}, "resolution": {}})
    for row in have["sla_target"].values():
        row.setdefault("next_respond_within", None)
    return have


def test_sla_comparison_ignores_the_echo_and_names_what_differs(pack):
    for body in pack.sla_policies:
        assert fd.sla_differences(body, echoed_sla(body)) == [], body["name"]
    general = pack.sla_policies[0]
    edited = echoed_sla(general)
    edited["sla_target"]["priority_1"]["resolve_within"] = 3600
    edited["active"] = False
    edited["escalation"]["resolution"]["level_1"]["agent_ids"] = [101]
    edited["applicable_to"]["group_ids"] = [11, 12]
    assert fd.sla_differences(general, edited) == [
        "active", "applicable_to", "sla_target", "escalation"]


def test_canned_comparison_reads_the_text_not_freshdesks_html(pack):
    want = pack.canned_responses[0]
    have = {"id": 3, "title": want["title"], "folder_id": "77",
            "content_html": '<div dir="ltr">' + want["content_html"][5:-6] + "\n </div>",
            "content": "ignored", "attachments": []}
    assert fd.canned_differences(want, have) == []
    assert fd.canned_differences(want, {**have, "content_html": "<div>other</div>",
                                        "visibility": 1}) == ["content_html", "visibility"]


def test_rule_actions_compare_values_as_freshdesk_echoes_them(pack):
    rule = pack.creation_rules[4]
    have = copy.deepcopy(rule)
    have["actions"] = [{"field_name": "priority", "value": "4"},
                       {"field_name": "group_id", "value": "15"}]
    assert fd.rule_differences(rule, have) == []
    have["actions"][0]["value"] = "3"
    assert fd.rule_differences(rule, have) == ["actions"]


def test_the_secret_is_masked_in_plan_details(objects):
    shown = fd.masked(objects.rules[0]["actions"])
    assert shown[0]["custom_headers"] == {fd.SECRET_HEADER: "<secret>"}
    assert SECRET not in json.dumps(shown)

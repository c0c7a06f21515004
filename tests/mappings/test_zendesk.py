"""mappings.zendesk: what policy apply installs for the default pack (golden), how it compares
with what Zendesk lists, and that every body is one Zendesk's published schemas accept."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, time
from typing import Any

import pytest

from mappings import zendesk as zd
from mappings.policy import EscalationRule, Holiday, Interval, Policy, load_policy
from tests.packs import without_reminders

URL = "https://sms.example.com/"
GROUP_IDS = {"Support": "201", "Orders": "202", "Tech Support": "203", "Billing": "204",
             "Incident Response": "205"}


def with_groups(policy: Policy) -> Policy:
    """The pack with an owner group per scenario (the names of GROUP_IDS, in scenario order),
    whatever the default pack names today."""
    names = list(GROUP_IDS)
    scenarios = tuple(replace(s, group=s.group or names[i % len(names)])
                      for i, s in enumerate(policy.scenarios))
    groups = tuple(sorted({s.group for s in scenarios if s.group}))
    return replace(policy, scenarios=scenarios, groups=replace(policy.groups, names=groups))


@pytest.fixture(scope="module")
def policy() -> Policy:
    return with_groups(without_reminders())  # no_customer_response: the hourly automation


@pytest.fixture(scope="module")
def objects(policy: Policy) -> zd.ZendeskObjects:
    return zd.desired(policy, URL, webhook_id="W1", category_id="10002", group_ids=GROUP_IDS)


def _by_title(items: Any) -> dict[str, dict[str, Any]]:
    return {i["title"]: i for i in items}


# ---------------------------------------------------------------------- golden: the default pack


def test_the_default_pack_makes_these_objects_in_this_order(objects):
    assert [(kind, title) for kind, title, _ in objects.ordered()] == [
        ("schedule", "[sms-connector] Support hours"),
        ("SLA policy", "[sms-connector] General inquiry"),
        ("SLA policy", "[sms-connector] Order / status"),
        ("SLA policy", "[sms-connector] Technical issue"),
        ("SLA policy", "[sms-connector] Billing concern"),
        ("SLA policy", "[sms-connector] Critical outage"),
        ("trigger category", "[sms-connector]"),
        ("trigger", "[sms-connector] Route General inquiry"),
        ("trigger", "[sms-connector] Route Order / status"),
        ("trigger", "[sms-connector] Route Technical issue"),
        ("trigger", "[sms-connector] Route Billing concern"),
        ("trigger", "[sms-connector] Route Critical outage"),
        ("automation", "[sms-connector] General inquiry: no customer response for 24 h"),
        *(("macro", f"[sms-connector] {s.title}") for s in load_policy().scripts),
        ("webhook", "[sms-connector] agent replies"),
        ("trigger", "[sms-connector] Send public agent replies as SMS"),
    ]


def test_schedule_is_the_business_hours_in_minutes_from_sunday(objects, policy):
    schedule = objects.schedule
    assert schedule["name"] == "[sms-connector] Support hours"
    assert schedule["time_zone"] == "Eastern Time (US & Canada)"  # America/New_York
    # Monday to Friday 09:00-18:00: day * 1440 + 540 .. day * 1440 + 1080.
    assert schedule["intervals"] == [
        {"start_time": 1980, "end_time": 2520},
        {"start_time": 3420, "end_time": 3960},
        {"start_time": 4860, "end_time": 5400},
        {"start_time": 6300, "end_time": 6840},
        {"start_time": 7740, "end_time": 8280},
    ]
    assert {"name": "Thanksgiving Day", "start_date": "2026-11-26",
            "end_date": "2026-11-26"} in schedule["holidays"]
    assert len(schedule["holidays"]) == len(policy.business_hours.holidays) == 22


# first reply / next reply / resolution in minutes, business hours, the tag filtered on
GOLDEN_SLA = {
    "[sms-connector] General inquiry": ("sms_general", 10, 240, 4320, True),
    "[sms-connector] Order / status": ("sms_order", 10, 240, 4320, False),
    "[sms-connector] Technical issue": ("sms_technical", 15, 60, 1440, False),
    "[sms-connector] Billing concern": ("sms_billing", 20, 60, 1440, False),
    "[sms-connector] Critical outage": ("sms_outage", 5, 30, 240, False),
}


def test_one_sla_policy_per_scenario_with_the_pack_targets_for_every_priority(objects, policy):
    policies = _by_title(objects.sla_policies)
    assert set(policies) == set(GOLDEN_SLA)
    for title, (tag, first, following, resolution, business) in GOLDEN_SLA.items():
        sla = policies[title]
        assert sla["filter"] == {"all": [
            {"field": "current_tags", "operator": "includes", "value": tag}], "any": []}
        metrics = {(m["priority"], m["metric"]): (m["target"], m["business_hours"])
                   for m in sla["policy_metrics"]}
        assert len(metrics) == len(sla["policy_metrics"]) == 12
        for priority in ("low", "normal", "high", "urgent"):
            assert metrics[priority, "first_reply_time"] == (first, business)
            assert metrics[priority, "next_reply_time"] == (following, business)
            assert metrics[priority, "total_resolution_time"] == (resolution, business)
    # ... and they are the pack's, whatever the golden numbers say.
    for scenario in policy.scenarios:
        sla = policies[f"[sms-connector] {scenario.title}"]
        first = next(m for m in sla["policy_metrics"] if m["metric"] == "first_reply_time")
        assert first["target"] * 60 == scenario.targets.first_response


def test_routing_triggers_set_the_tier_priority_and_the_owner_group_on_creation(objects):
    routes = _by_title(objects.routing_triggers)
    expected = {"General inquiry": ("sms_general", "normal", "201"),
                "Order / status": ("sms_order", "normal", "202"),
                "Technical issue": ("sms_technical", "high", "203"),
                "Billing concern": ("sms_billing", "high", "204"),
                "Critical outage": ("sms_outage", "urgent", "205")}
    assert set(routes) == {f"[sms-connector] Route {t}" for t in expected}
    for title, (tag, priority, group) in expected.items():
        trigger = routes[f"[sms-connector] Route {title}"]
        assert trigger["category_id"] == "10002" and trigger["active"] is True
        assert trigger["conditions"] == {"all": [
            {"field": "update_type", "operator": "is", "value": "Create"},
            {"field": "current_tags", "operator": "includes", "value": tag}], "any": []}
        assert trigger["actions"] == [{"field": "priority", "value": priority},
                                      {"field": "group_id", "value": group}]


def test_only_hourly_expressible_escalations_become_automations(objects):
    # general: no customer response 24 h → automation; order: status unknown 30 m (under an
    # hour), technical: loops, billing: flags, outage: several customers → the connector's.
    [automation] = objects.automations
    assert automation == {
        "title": "[sms-connector] General inquiry: no customer response for 24 h",
        "active": True,
        "conditions": {"all": [
            {"field": "status", "operator": "is", "value": "pending"},
            {"field": "PENDING", "operator": "greater_than", "value": "23"},
            {"field": "current_tags", "operator": "includes", "value": "sms_general"},
            {"field": "current_tags", "operator": "not_includes", "value": "sms_reminder_due"},
        ], "any": []},
        "actions": [{"field": "current_tags", "value": "sms_reminder_due"}],
    }


def test_a_macro_per_script_with_the_pack_values_filled_in(objects, policy):
    macros = _by_title(objects.macros)
    assert len(macros) == len(policy.scripts) > 0
    for script in policy.scripts:
        macro = macros[f"[sms-connector] {script.title}"]
        assert macro["actions"] == [
            {"field": "comment_value", "value": policy.render_script(script)},
            {"field": "comment_mode_is_public", "value": "true"}]
        assert "{brand}" not in macro["actions"][0]["value"]


def test_webhook_points_at_the_connector(objects):
    hook = objects.webhook
    assert hook["name"] == "[sms-connector] agent replies"
    assert hook["endpoint"] == "https://sms.example.com/webhooks/helpdesk/zendesk"
    assert (hook["http_method"], hook["request_format"], hook["status"]) == ("POST", "json",
                                                                            "active")
    assert hook["subscriptions"] == ["conditional_ticket_events"]


def test_reply_trigger_fires_on_public_agent_replies_not_on_api_updates_nor_merges(objects):
    trigger = objects.reply_trigger
    assert objects.triggers[-1] is trigger
    assert trigger["title"] == "[sms-connector] Send public agent replies as SMS"
    assert trigger["category_id"] == "10002"
    assert trigger["conditions"] == {"all": [
        {"field": "comment_is_public", "operator": "is", "value": "true"},
        {"field": "role", "operator": "is_not", "value": "end_user"},
        {"field": "current_via_id", "operator": "is_not", "value": "5"},
        {"field": "current_via_id", "operator": "is_not", "value": "19"},
        {"field": "current_tags", "operator": "includes", "value": "sms"},
    ], "any": []}
    [action] = trigger["actions"]
    assert action["field"] == "notification_webhook"
    webhook_id, body = action["value"]
    assert webhook_id == "W1" and json.loads(body) == {"ticket_id": "{{ticket.id}}"}


def test_every_object_carries_the_prefix_and_groups_come_only_when_they_may_be_created(
        objects, policy):
    assert all(zd.owned(title) for _, title, _ in objects.ordered())
    assert not zd.owned("Notify requester") and not zd.owned(None) and not zd.owned("")
    assert objects.groups == ()
    creating = replace(policy, groups=replace(policy.groups, create_missing=True))
    made = zd.desired(creating, URL)
    assert [(k, t) for k, t, _ in made.ordered()][:5] == [("group", n) for n in sorted(GROUP_IDS)]
    route = _by_title(made.routing_triggers)["[sms-connector] Route Billing concern"]
    assert {"field": "group_id", "value": "<new group Billing>"} in route["actions"]


def test_group_references_name_the_pack_key(policy):
    assert zd.group_references(policy)[:2] == (("scenarios[0].group", policy.scenarios[0].group),
                                               ("scenarios[1].group", policy.scenarios[1].group))
    assert zd.group_references(replace(policy, scenarios=(
        replace(policy.scenarios[0], group=None, escalation=replace(
            policy.scenarios[0].escalation, to_group="Billing")),))) == (
        ("scenarios[0].escalation.to_group", "Billing"),)


# ---------------------------------------------------------------------- mapping rules


def test_intervals_cut_at_midnight_merge_when_touching_and_wrap_the_week(policy):
    hours = replace(policy.business_hours, intervals=(
        Interval(("sat",), time(22, 0), time(6, 0)),  # overnight into Sunday
        Interval(("mon",), time(9, 0), time(12, 0)),
        Interval(("mon",), time(12, 0), time(17, 0)),  # touches the morning: one interval
        Interval(("sun",), time(10, 0), time(0, 0)),  # until midnight
    ))
    assert zd.intervals(hours) == [
        {"start_time": 0, "end_time": 360},
        {"start_time": 600, "end_time": 1440},
        {"start_time": 1440 + 540, "end_time": 1440 + 1020},
        {"start_time": 6 * 1440 + 1320, "end_time": 7 * 1440},
    ]


def test_targets_are_whole_minutes_rounded_up_and_limits_say_what_is_native():
    assert zd.target_minutes(90) == 2 and zd.target_minutes(600) == 10
    assert zd.target_minutes(1) == 1
    limits = zd.native_limits
    assert limits.sla_why_not("first_response", 600) is None
    assert limits.sla_why_not("first_response", 90) == "Zendesk SLA targets are whole minutes"
    assert limits.time_rule_why_not("no_customer_response", 86400) is None
    assert "hourly" in str(limits.time_rule_why_not("status_unknown", 1800))
    assert "whole hours" in str(limits.time_rule_why_not("status_unknown", 5400))
    assert limits.time_rule_why_not("diagnostic_loops", None) is not None


def test_an_escalation_of_whole_hours_moves_priority_group_and_tags(policy):
    order = replace(policy.scenario("order"), escalation=EscalationRule(
        "status_unknown", after=2 * 3600, to_tier="P1", to_group="Billing",
        add_tags=("vip_watch",)))
    made = zd.automation(policy, order, GROUP_IDS)
    assert made is not None
    assert made["title"] == "[sms-connector] Order / status: no update for 2 h"
    assert {"field": "updated_at", "operator": "greater_than", "value": "1"} in \
        made["conditions"]["all"]
    assert made["actions"] == [{"field": "current_tags", "value": "sms_escalated vip_watch"},
                               {"field": "priority", "value": "urgent"},
                               {"field": "group_id", "value": "204"}]


def test_a_time_zone_without_a_rails_name_is_sent_as_is():
    assert zd.zendesk_time_zone("Europe/Paris") == "Paris"
    assert zd.zendesk_time_zone("America/Kentucky/Louisville") == "America/Kentucky/Louisville"


# ---------------------------------------------------------------------- comparing


def test_comparison_ignores_what_zendesk_adds_and_rewrites(objects):
    trigger = objects.reply_trigger
    listed = {**trigger, "id": 5, "position": 3, "created_at": "x", "url": "y",
              "category_id": 10002,
              "conditions": {"all": list(reversed(trigger["conditions"]["all"]))},
              "actions": [{"field": "notification_webhook",
                           "value": ["W1", '{"ticket_id":"{{ticket.id}}"}']}]}
    assert zd.trigger_differences(trigger, listed) == []
    listed_hook = {**objects.webhook, "id": "W1", "created_by": "1",
                   "subscriptions": ["conditional_ticket_events"]}
    assert zd.webhook_differences(objects.webhook, listed_hook) == []
    sla = objects.sla_policies[0]
    listed_sla = {**sla, "id": 7, "position": 1, "url": "u", "created_at": "c",
                  "filter": {"all": sla["filter"]["all"]},  # no "any" given back
                  "policy_metrics": list(reversed(sla["policy_metrics"]))}
    assert zd.differences(zd.SLA_POLICY, sla, listed_sla) == []
    [automation] = objects.automations
    listed_automation = {**automation, "id": 9, "position": 2, "default": False,
                         "raw_title": automation["title"],
                         "actions": [{"field": "current_tags", "value": ["sms_reminder_due"]}]}
    assert zd.differences(zd.AUTOMATION, automation, listed_automation) == []
    macro = objects.macros[0]
    listed_macro = {**macro, "id": 3, "restriction": None, "usage_7d": 0, "position": 10001}
    assert zd.differences(zd.MACRO, macro, listed_macro) == []
    schedule = objects.schedule
    split = [{"start_time": 1980, "end_time": 2200}, {"start_time": 2200, "end_time": 2520},
             *schedule["intervals"][1:]]
    listed_schedule = {**schedule, "id": 4, "time_zone": "America/New_York",
                       "intervals": split, "holidays": [
                           {**h, "id": i} for i, h in enumerate(reversed(schedule["holidays"]))]}
    assert zd.differences(zd.SCHEDULE, schedule, listed_schedule) == []


def test_comparison_names_what_differs_with_both_values(objects):
    trigger = objects.reply_trigger
    edited = {**trigger, "active": False, "conditions": {"all": trigger["conditions"]["all"][:2]},
              "actions": [{"field": "notification_webhook", "value": ["W2", zd.WEBHOOK_BODY]}]}
    assert zd.trigger_differences(trigger, edited) == ["active", "conditions", "actions"]
    moved = {**objects.webhook, "endpoint": "https://old.example.com/hook", "status": "inactive"}
    assert zd.webhook_differences(objects.webhook, moved) == ["status", "endpoint"]
    sla = objects.sla_policies[0]
    metrics = [{**m, "target": 60} if m["metric"] == "first_reply_time" else m
               for m in sla["policy_metrics"]]
    [(name, before, after)] = zd.differences(zd.SLA_POLICY, sla,
                                             {**sla, "policy_metrics": metrics})
    assert (name, before, after) == ("policy_metrics", metrics, sla["policy_metrics"])
    holidays = [*objects.schedule["holidays"], {"name": "Extra", "start_date": "2026-03-03",
                                                "end_date": "2026-03-03"}]
    assert [d[0] for d in zd.differences(zd.SCHEDULE, objects.schedule,
                                         {**objects.schedule, "holidays": holidays,
                                          "time_zone": "Pacific Time (US & Canada)"})] == [
        "time_zone", "holidays"]


def test_match_keeps_the_first_of_a_title_and_leaves_the_rest():
    listed = [{"id": 1, "title": "[sms-connector] A"}, {"id": 2, "title": "[sms-connector] A"},
              {"id": 3, "title": "[sms-connector] Old"}]
    matched = zd.match(["[sms-connector] A"], listed, "title")
    assert matched.kept["[sms-connector] A"]["id"] == 1
    assert [i["id"] for i in matched.leftovers] == [2, 3]


# ---------------------------------------------------------------------- Zendesk's schemas

# Schedules are not in the OpenAPI file: written from
# https://developer.zendesk.com/api-reference/ticketing/ticket-management/schedules/ .
SCHEDULE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "time_zone"],
    "properties": {
        "name": {"type": "string"},
        "time_zone": {"type": "string"},
        "intervals": {"type": "array", "items": {
            "type": "object", "required": ["start_time", "end_time"],
            "properties": {"start_time": {"type": "integer", "minimum": 0, "maximum": 10080},
                           "end_time": {"type": "integer", "minimum": 0, "maximum": 10080}}}},
        "holidays": {"type": "array", "items": {
            "type": "object", "required": ["name", "start_date", "end_date"],
            "properties": {"name": {"type": "string"},
                           "start_date": {"type": "string", "format": "date"},
                           "end_date": {"type": "string", "format": "date"}}}},
    },
}


def test_every_body_matches_zendesks_published_schemas(policy):
    from tests.connector.sandbox.conftest_zendesk import spec_checker

    checker = spec_checker()
    creating = replace(policy, groups=replace(policy.groups, create_missing=True),
                       business_hours=replace(policy.business_hours, holidays=(
                           *policy.business_hours.holidays,
                           Holiday("Company day", date(2026, 8, 3), date(2026, 8, 5)))))
    made = zd.desired(creating, URL, webhook_id="W1", category_id="10002", group_ids=GROUP_IDS)
    checked = set()
    for kind, _, body in made.ordered():
        checked.add(kind)
        if kind == zd.SLA_POLICY:
            checker.check(body, "SLAPolicyObject")
            # Every metric's target a positive whole number of minutes, a known metric.
            assert all(isinstance(m["target"], int) and m["target"] > 0
                       and m["metric"] in dict(zd.METRICS).values()
                       and m["priority"] in zd.PRIORITIES for m in body["policy_metrics"])
        elif kind == zd.TRIGGER:
            # ActionObject.value is typed string in the spec, but webhook actions take
            # [id, body] (../shared/docs/reference/zendesk.md): checked with the id alone.
            actions = [{**a, "value": a["value"][0]} if a["field"] == "notification_webhook"
                       else a for a in body["actions"]]
            checker.check({**body, "actions": actions}, "TriggerObject")
        elif kind == zd.AUTOMATION:
            checker.check(body, "AutomationObject")
        elif kind == zd.MACRO:
            checker.check(body, "MacroInput")
            checker.check(body, "MacroObject")
        elif kind == zd.GROUP:
            checker.check(body, "GroupObject")
        elif kind == zd.CATEGORY:
            checker.check({"trigger_category": body}, "TriggerCategoryRequest")
            checker.check(body, "TriggerCategoryRequest")
        elif kind == zd.SCHEDULE:
            checker.check(body, SCHEDULE_SCHEMA)
        else:
            assert kind == zd.WEBHOOK  # no webhook schema in the spec: see test_webhook_*
    assert checked == set(zd.KINDS)

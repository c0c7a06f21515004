"""Policy pack → the Zendesk objects the connector installs (pure: no I/O, no Flask).

``desired()`` gives them in the order they are created (``ZendeskObjects.ordered``):

- groups the pack names, only when ``groups.create_missing`` (a group is the team's own: looked up
  by name, never prefixed, never changed or deleted);
- a schedule ``[sms-connector] <business hours name>``: time zone, weekly intervals in minutes
  from Sunday 00:00 local time, holidays
  (https://developer.zendesk.com/api-reference/ticketing/ticket-management/schedules/);
- one SLA policy ``[sms-connector] <scenario title>`` per scenario, filtered on the scenario's
  tag ``sms_<scenario id>`` (connector.text.triage tags every ticket ``sms``, ``sms_<scenario>``
  and ``sms_p1|p2|p3``), with ``first_reply_time`` / ``next_reply_time`` /
  ``total_resolution_time`` for every priority — an agent may change a ticket's priority, and a
  policy without a metric for the new one would stop its clock — targets in minutes, in business
  hours when the scenario says so (https://developer.zendesk.com/api-reference/ticketing/business-rules/sla_policies/);
- the trigger category ``[sms-connector]``;
- a routing trigger ``[sms-connector] Route <scenario title>`` per scenario: on creation, the
  scenario's tag → the tier's priority and the owner group;
- automations for the escalation rules Zendesk can express: time rules of whole hours, at least
  one (automations run about hourly, on whole hours, time conditions in ``all`` only, and need a
  condition true once: the tag they add; https://developer.zendesk.com/api-reference/ticketing/business-rules/automations/);
- a macro ``[sms-connector] <script title>`` per agent script (public comment);
- the reply webhook ``[sms-connector] agent replies`` and, last, the trigger
  ``[sms-connector] Send public agent replies as SMS`` that calls it: a public comment, the
  current user is not an end user, the update did not come through the API (``current_via_id``
  is not 5: the connector's own writes are API updates by an agent and would otherwise fire it;
  ``via_id`` is the channel the ticket was *created* by, always the API for SMS tickets), nor
  from a merge (``current_via_id`` is not 19), the ticket tagged ``sms`` → ``notification_webhook``
  with the ticket id only (placeholder escaping inside JSON is unreliable: the worker reads the
  comments through the API).

Condition values are strings as the API expects them (``"true"``, ``"5"``;
https://developer.zendesk.com/documentation/ticketing/reference-guides/conditions-reference/).

``differences()`` compares a desired body with the object as Zendesk lists it, after undoing what
Zendesk adds or rewrites on save (ids, urls, timestamps, ``position``, ``default``, numbers
echoed as strings or strings as numbers, tag lists as one string, condition order, a time zone
given back under its Rails name, adjacent schedule intervals merged), so a plan right after an
apply is empty.

What Zendesk cannot express is in ``native_limits`` (read by mappings.coverage): the connector's
own timers keep those rules.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import time
from typing import Any

from mappings.policy import WEEKDAYS, BusinessHours, EscalationRule, Policy, Scenario, Script

PREFIX = "[sms-connector]"
MANAGED = "Managed by `sms-connector policy apply`; edits are overwritten."
WEBHOOK_PATH = "/webhooks/helpdesk/zendesk"
WEBHOOK_NAME = f"{PREFIX} agent replies"
CATEGORY_NAME = PREFIX
REPLY_TRIGGER_TITLE = f"{PREFIX} Send public agent replies as SMS"
# connector.text.triage tags every ticket the connector files with "sms", "sms_<scenario>" and
# "sms_<tier>".
SMS_TAG = "sms"
TAG_PREFIX = "sms_"
# Added by the automations (and their "true only once" guard): the connector's reminder job and
# agents' views read them.
REMINDER_TAG = "sms_reminder_due"
ESCALATED_TAG = "sms_escalated"
VIA_API = "5"  # "Web service (API)" in the via types reference
VIA_MERGE = "19"  # "Merge": the note a merge leaves on the surviving ticket
WEBHOOK_BODY = json.dumps({"ticket_id": "{{ticket.id}}"})
PRIORITIES = ("low", "normal", "high", "urgent")

# The kinds shown to admins (connector/sync/plan.py Change.kind), in creation order.
GROUP, SCHEDULE, SLA_POLICY, CATEGORY = "group", "schedule", "SLA policy", "trigger category"
TRIGGER, AUTOMATION, MACRO, WEBHOOK = "trigger", "automation", "macro", "webhook"
KINDS = (GROUP, SCHEDULE, SLA_POLICY, CATEGORY, TRIGGER, AUTOMATION, MACRO, WEBHOOK)

# Placeholders for ids Zendesk assigns, until the objects exist (shown in a plan).
NEW_WEBHOOK = "<new webhook>"
NEW_CATEGORY = "<new category>"
NEW_SCHEDULE = "<new schedule>"


def new_group(name: str) -> str:
    return f"<new group {name}>"


# The pack's targets → Zendesk's SLA metric names (SLA policies API, policy_metrics).
METRICS = (
    ("first_response", "first_reply_time"),
    ("next_response", "next_reply_time"),
    ("resolution", "total_resolution_time"),
)

# Escalation triggers an automation can express (a time condition on the ticket alone): the
# pack's name → (Zendesk time field, the status condition, the tag that marks it done).
# "no_customer_response": pending (waiting on the customer) for that long; "status_unknown":
# new or open with no update for that long. The rest (diagnostic loops, flags, several customers
# within a window) need the conversation or other tickets: the connector keeps them.
TIME_RULES: dict[str, tuple[str, dict[str, str], str]] = {
    "no_customer_response": ("PENDING", {"field": "status", "operator": "is",
                                         "value": "pending"}, REMINDER_TAG),
    "status_unknown": ("updated_at", {"field": "status", "operator": "less_than",
                                      "value": "pending"}, ESCALATED_TAG),
}


@dataclass(frozen=True)
class NativeLimits:
    """What Zendesk itself can enforce (mappings.coverage builds the coverage table from it)."""

    # SLA policies take any whole-minute target, in calendar or business hours, for these.
    sla_rules: tuple[str, ...] = tuple(rule for rule, _ in METRICS)
    sla_step: float = 60.0
    sla_minimum: float = 60.0
    sla_business_hours: bool = True
    # Automations run about once an hour and count whole hours.
    time_rules: tuple[str, ...] = tuple(TIME_RULES)
    time_step: float = 3600.0
    time_minimum: float = 3600.0

    def sla_why_not(self, rule: str, seconds: float | None) -> str | None:
        """None when an SLA policy holds this target exactly; else why the connector keeps it."""
        if seconds is None:
            return "no target"
        if rule not in self.sla_rules:
            return f"Zendesk SLA policies have no {rule} metric"
        if seconds < self.sla_minimum or seconds % self.sla_step:
            return "Zendesk SLA targets are whole minutes"
        return None

    def time_rule_why_not(self, trigger: str, seconds: float | None) -> str | None:
        """None when an automation expresses the escalation; else why the connector keeps it."""
        if trigger not in self.time_rules or seconds is None:
            return "a Zendesk automation sees one ticket's times only"
        if seconds < self.time_minimum:
            return "Zendesk automations run hourly: nothing under 1 hour"
        if seconds % self.time_step:
            return "Zendesk automations count whole hours"
        return None


native_limits = NativeLimits()


def owned(title: str | None) -> bool:
    return bool(title) and str(title).startswith(PREFIX)


def scenario_tag(scenario: Scenario) -> str:
    return TAG_PREFIX + scenario.id


# ---------------------------------------------------------------------- the objects


@dataclass(frozen=True)
class ZendeskObjects:
    """The desired objects, ids of other objects left as placeholders until they exist."""

    webhook: dict[str, Any]
    category: dict[str, Any]
    reply_trigger: dict[str, Any]
    groups: tuple[dict[str, Any], ...] = ()
    schedule: dict[str, Any] | None = None
    sla_policies: tuple[dict[str, Any], ...] = ()
    routing_triggers: tuple[dict[str, Any], ...] = ()
    automations: tuple[dict[str, Any], ...] = ()
    macros: tuple[dict[str, Any], ...] = ()

    @property
    def triggers(self) -> tuple[dict[str, Any], ...]:
        return (*self.routing_triggers, self.reply_trigger)

    def ordered(self) -> tuple[tuple[str, str, dict[str, Any]], ...]:
        """``(kind, title, body)`` in creation order: what a trigger names exists before it."""
        out: list[tuple[str, str, dict[str, Any]]] = [(GROUP, g["name"], g) for g in self.groups]
        if self.schedule is not None:
            out.append((SCHEDULE, self.schedule["name"], self.schedule))
        out += [(SLA_POLICY, p["title"], p) for p in self.sla_policies]
        out.append((CATEGORY, self.category["name"], self.category))
        out += [(TRIGGER, t["title"], t) for t in self.routing_triggers]
        out += [(AUTOMATION, a["title"], a) for a in self.automations]
        out += [(MACRO, m["title"], m) for m in self.macros]
        out.append((WEBHOOK, self.webhook["name"], self.webhook))
        out.append((TRIGGER, self.reply_trigger["title"], self.reply_trigger))
        return tuple(out)


def group_references(policy: Policy) -> tuple[tuple[str, str], ...]:
    """``(pack key, group name)`` for every group the pack names, in pack order."""
    refs: list[tuple[str, str]] = []
    for i, scenario in enumerate(policy.scenarios):
        if scenario.group:
            refs.append((f"scenarios[{i}].group", scenario.group))
        if scenario.escalation.to_group:
            refs.append((f"scenarios[{i}].escalation.to_group", scenario.escalation.to_group))
    return tuple(refs)


def group_names(policy: Policy) -> tuple[str, ...]:
    names = {name for _, name in group_references(policy)} | set(policy.groups.names)
    return tuple(sorted(names))


def webhook(public_url: str) -> dict[str, Any]:
    return {
        "name": WEBHOOK_NAME,
        "description": "Agent replies on SMS tickets, sent as texts by the sms-connector. "
        "Managed by `sms-connector policy apply`.",
        "status": "active",
        "endpoint": public_url.rstrip("/") + WEBHOOK_PATH,
        "http_method": "POST",
        "request_format": "json",
        "subscriptions": ["conditional_ticket_events"],
    }


def category() -> dict[str, Any]:
    return {"name": CATEGORY_NAME}


def reply_trigger(webhook_id: str, category_id: str) -> dict[str, Any]:
    return {
        "title": REPLY_TRIGGER_TITLE,
        "description": "Texts an agent's public reply to the customer. Managed by "
        "`sms-connector policy apply`; edits are overwritten.",
        "active": True,
        "category_id": category_id,
        "conditions": {
            "all": [
                {"field": "comment_is_public", "operator": "is", "value": "true"},
                {"field": "role", "operator": "is_not", "value": "end_user"},
                {"field": "current_via_id", "operator": "is_not", "value": VIA_API},
                {"field": "current_via_id", "operator": "is_not", "value": VIA_MERGE},
                {"field": "current_tags", "operator": "includes", "value": SMS_TAG},
            ],
            "any": [],
        },
        "actions": [{"field": "notification_webhook", "value": [webhook_id, WEBHOOK_BODY]}],
    }


# Zendesk names time zones as Rails does ("Eastern Time (US & Canada)"); the pack uses IANA
# names. A zone without a Rails name is sent as it is (Zendesk resolves IANA identifiers too).
# Source: ActiveSupport::TimeZone::MAPPING, the list Zendesk's time zone pickers show.
RAILS_ZONES: dict[str, str] = {
    "Pacific/Honolulu": "Hawaii",
    "America/Juneau": "Alaska",
    "America/Anchorage": "Alaska",
    "America/Los_Angeles": "Pacific Time (US & Canada)",
    "America/Tijuana": "Tijuana",
    "America/Denver": "Mountain Time (US & Canada)",
    "America/Phoenix": "Arizona",
    "America/Chicago": "Central Time (US & Canada)",
    "America/Regina": "Saskatchewan",
    "America/Mexico_City": "Mexico City",
    "America/Monterrey": "Monterrey",
    "America/Guatemala": "Central America",
    "America/New_York": "Eastern Time (US & Canada)",
    "America/Indiana/Indianapolis": "Indiana (East)",
    "America/Bogota": "Bogota",
    "America/Lima": "Lima",
    "America/Halifax": "Atlantic Time (Canada)",
    "America/Caracas": "Caracas",
    "America/La_Paz": "La Paz",
    "America/Santiago": "Santiago",
    "America/St_Johns": "Newfoundland",
    "America/Sao_Paulo": "Brasilia",
    "America/Argentina/Buenos_Aires": "Buenos Aires",
    "America/Montevideo": "Montevideo",
    "America/Puerto_Rico": "Puerto Rico",
    "Atlantic/Azores": "Azores",
    "Europe/Dublin": "Dublin",
    "Europe/London": "London",
    "Europe/Lisbon": "Lisbon",
    "Africa/Casablanca": "Casablanca",
    "Etc/UTC": "UTC",
    "UTC": "UTC",
    "Europe/Belgrade": "Belgrade",
    "Europe/Budapest": "Budapest",
    "Europe/Prague": "Prague",
    "Europe/Warsaw": "Warsaw",
    "Europe/Brussels": "Brussels",
    "Europe/Copenhagen": "Copenhagen",
    "Europe/Madrid": "Madrid",
    "Europe/Paris": "Paris",
    "Europe/Amsterdam": "Amsterdam",
    "Europe/Berlin": "Berlin",
    "Europe/Zurich": "Zurich",
    "Europe/Rome": "Rome",
    "Europe/Stockholm": "Stockholm",
    "Europe/Vienna": "Vienna",
    "Europe/Bucharest": "Bucharest",
    "Africa/Cairo": "Cairo",
    "Europe/Helsinki": "Helsinki",
    "Europe/Kyiv": "Kyiv",
    "Europe/Kiev": "Kyiv",
    "Europe/Riga": "Riga",
    "Europe/Sofia": "Sofia",
    "Europe/Tallinn": "Tallinn",
    "Europe/Vilnius": "Vilnius",
    "Europe/Athens": "Athens",
    "Europe/Istanbul": "Istanbul",
    "Asia/Jerusalem": "Jerusalem",
    "Africa/Johannesburg": "Pretoria",
    "Europe/Moscow": "Moscow",
    "Asia/Riyadh": "Riyadh",
    "Africa/Nairobi": "Nairobi",
    "Asia/Tehran": "Tehran",
    "Asia/Dubai": "Abu Dhabi",
    "Asia/Muscat": "Muscat",
    "Asia/Karachi": "Karachi",
    "Asia/Kolkata": "New Delhi",
    "Asia/Kathmandu": "Kathmandu",
    "Asia/Dhaka": "Dhaka",
    "Asia/Bangkok": "Bangkok",
    "Asia/Jakarta": "Jakarta",
    "Asia/Shanghai": "Beijing",
    "Asia/Hong_Kong": "Hong Kong",
    "Asia/Singapore": "Singapore",
    "Asia/Taipei": "Taipei",
    "Australia/Perth": "Perth",
    "Asia/Seoul": "Seoul",
    "Asia/Tokyo": "Tokyo",
    "Australia/Adelaide": "Adelaide",
    "Australia/Darwin": "Darwin",
    "Australia/Melbourne": "Melbourne",
    "Australia/Sydney": "Sydney",
    "Australia/Brisbane": "Brisbane",
    "Australia/Hobart": "Hobart",
    "Pacific/Auckland": "Auckland",
    "Pacific/Fiji": "Fiji",
}
def zendesk_time_zone(iana: str) -> str:
    return RAILS_ZONES.get(iana, iana)


def _same_zone(name: Any) -> str:
    # Zendesk may answer with either name of a zone: compare the Rails names.
    text = str(name or "")
    return RAILS_ZONES.get(text, text)


MINUTES_PER_DAY = 24 * 60


def _minute(at: time) -> int:
    return at.hour * 60 + at.minute


def intervals(hours: BusinessHours) -> list[dict[str, int]]:
    """The weekly intervals in minutes from Sunday 00:00 local time, sorted and merged.

    An interval cannot span calendar days in Zendesk: one that ends at or before its start
    (22:00-06:00) is cut at midnight; an end of 00:00 is the end of the day."""
    spans: list[tuple[int, int]] = []
    for interval in hours.intervals:
        start, end = _minute(interval.start), _minute(interval.end)
        for day in interval.days:
            base = ((WEEKDAYS.index(day) + 1) % 7) * MINUTES_PER_DAY  # WEEKDAYS starts Monday
            if end > start:
                spans.append((base + start, base + end))
            else:
                spans.append((base + start, base + MINUTES_PER_DAY))
                if end:
                    following = (base + MINUTES_PER_DAY) % (7 * MINUTES_PER_DAY)
                    spans.append((following, following + end))
    return [{"start_time": s, "end_time": e} for s, e in _merged(spans)]


def _merged(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching spans as one, within a day (Zendesk keeps days apart)."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        same_day = bool(out) and start // MINUTES_PER_DAY == out[-1][0] // MINUTES_PER_DAY
        if same_day and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def schedule(policy: Policy) -> dict[str, Any]:
    """The business hours as one body: ``name`` / ``time_zone`` (the schedule), ``intervals``
    (its workweek) and ``holidays`` — three endpoints in Zendesk, one object here."""
    hours = policy.business_hours
    return {
        "name": f"{PREFIX} {hours.name}",
        "time_zone": zendesk_time_zone(hours.timezone),
        "intervals": intervals(hours),
        "holidays": [
            {"name": h.name, "start_date": h.start.isoformat(), "end_date": h.end.isoformat()}
            for h in sorted(hours.holidays, key=lambda h: (h.start, h.end, h.name))
        ],
    }


def target_minutes(seconds: float) -> int:
    """Zendesk SLA targets are whole minutes: rounded up, so Zendesk never breaches a ticket
    before the pack's target (the connector keeps the exact one: native_limits)."""
    return max(1, math.ceil(seconds / 60))


def sla_policy(policy: Policy, scenario: Scenario) -> dict[str, Any]:
    tier = policy.tier(scenario.tier)
    metrics = [
        {"priority": priority, "metric": metric,
         "target": target_minutes(seconds), "business_hours": scenario.business_hours}
        for priority in PRIORITIES
        for rule, metric in METRICS
        if (seconds := getattr(scenario.targets, rule)) is not None
    ]
    hours = "business hours" if scenario.business_hours else "calendar hours"
    return {
        "title": f"{PREFIX} {scenario.title}",
        "description": f"SMS scenario {scenario.id} ({tier.id} {tier.title}), targets in "
        f"{hours}. {MANAGED}",
        "filter": {
            "all": [{"field": "current_tags", "operator": "includes",
                     "value": scenario_tag(scenario)}],
            "any": [],
        },
        "policy_metrics": metrics,
    }


def routing_trigger(policy: Policy, scenario: Scenario, category_id: str,
                    group_ids: Mapping[str, str], schedule_id: str | None = None) -> dict[str, Any]:
    """``schedule_id``: set the connector's schedule on the ticket (business-hours scenarios),
    for accounts with schedules of their own — otherwise Zendesk counts business hours in the
    account's default schedule. Only accounts with several schedules (Enterprise) have the
    ``set_schedule`` action, and only they can hold ours beside theirs."""
    actions: list[dict[str, Any]] = [
        {"field": "priority", "value": policy.tier(scenario.tier).zendesk_priority}]
    if scenario.group:
        actions.append({"field": "group_id", "value": _group_id(scenario.group, group_ids)})
    if schedule_id is not None and scenario.business_hours:
        actions.append({"field": "set_schedule", "value": schedule_id})
    return {
        "title": f"{PREFIX} Route {scenario.title}",
        "description": f"New SMS tickets of scenario {scenario.id}: the tier's priority and the "
        f"owner group. {MANAGED}",
        "active": True,
        "category_id": category_id,
        "conditions": {
            "all": [
                {"field": "update_type", "operator": "is", "value": "Create"},
                {"field": "current_tags", "operator": "includes",
                 "value": scenario_tag(scenario)},
            ],
            "any": [],
        },
        "actions": actions,
    }


def _group_id(name: str, group_ids: Mapping[str, str]) -> str:
    return str(group_ids.get(name) or new_group(name))


def _hours(seconds: float) -> int:
    return int(seconds // 3600)


def automation(policy: Policy, scenario: Scenario,
               group_ids: Mapping[str, str]) -> dict[str, Any] | None:
    """The scenario's escalation as an automation, or None when Zendesk cannot express it."""
    rule: EscalationRule = scenario.escalation
    if rule.texts_customer:
        return None  # the connector's (mappings/coverage.py): no automation sends an SMS
    if native_limits.time_rule_why_not(rule.trigger, rule.after) is not None:
        return None
    assert rule.after is not None
    time_field, status, done_tag = TIME_RULES[rule.trigger]
    hours = _hours(rule.after)
    tags = [done_tag, *(t for t in rule.add_tags if t != done_tag)]
    # "current_tags" is the action that adds tags ("set_tags" replaces them; actions reference,
    # https://developer.zendesk.com/documentation/ticketing/reference-guides/actions-reference/).
    actions: list[dict[str, Any]] = [{"field": "current_tags", "value": " ".join(tags)}]
    if rule.to_tier:
        actions.append({"field": "priority",
                        "value": policy.tier(rule.to_tier).zendesk_priority})
    if rule.to_group:
        actions.append({"field": "group_id", "value": _group_id(rule.to_group, group_ids)})
    what = {"no_customer_response": "no customer response",
            "status_unknown": "no update"}[rule.trigger]
    return {
        "title": f"{PREFIX} {scenario.title}: {what} for {hours} h",
        "active": True,
        "conditions": {
            "all": [
                status,
                # Hours are whole: "greater than N-1" is N hours or more, and holds until the
                # tag below is added (an automation needs a condition true only once).
                {"field": time_field, "operator": "greater_than", "value": str(hours - 1)},
                {"field": "current_tags", "operator": "includes",
                 "value": scenario_tag(scenario)},
                {"field": "current_tags", "operator": "not_includes", "value": done_tag},
            ],
            "any": [],
        },
        "actions": actions,
    }


def macro(policy: Policy, script: Script) -> dict[str, Any]:
    """An agent script as a macro: the pack's values filled in, ``{eta}`` / ``{order}`` left
    for the agent (single braces are plain text to Zendesk, whose placeholders are ``{{…}}``)."""
    where = [f"scenario {script.scenario}" if script.scenario else "every scenario",
             f"tier {script.tier}" if script.tier else "every tier"]
    return {
        "title": f"{PREFIX} {script.title}",
        "description": f"Approved SMS reply ({script.kind}) for {', '.join(where)}. {MANAGED}",
        "active": True,
        "actions": [
            {"field": "comment_value", "value": policy.render_script(script)},
            {"field": "comment_mode_is_public", "value": "true"},
        ],
    }


def desired(policy: Policy, public_url: str, *, webhook_id: str = NEW_WEBHOOK,
            category_id: str = NEW_CATEGORY, group_ids: Mapping[str, str] | None = None,
            schedule_id: str | None = None) -> ZendeskObjects:
    """What ``policy apply`` installs for ``policy``; ids not known yet are placeholders.
    ``schedule_id``: the connector's schedule (or NEW_SCHEDULE), given when the account has
    other schedules, so routing triggers set it (see routing_trigger)."""
    ids = dict(group_ids or {})
    groups = tuple({"name": name} for name in group_names(policy)) \
        if policy.groups.create_missing else ()
    autos = (automation(policy, s, ids) for s in policy.scenarios)
    return ZendeskObjects(
        webhook=webhook(public_url),
        category=category(),
        reply_trigger=reply_trigger(webhook_id, category_id),
        groups=groups,
        schedule=schedule(policy),
        sla_policies=tuple(sla_policy(policy, s) for s in policy.scenarios),
        routing_triggers=tuple(routing_trigger(policy, s, category_id, ids, schedule_id)
                               for s in policy.scenarios),
        automations=tuple(a for a in autos if a is not None),
        macros=tuple(macro(policy, s) for s in policy.scripts),
    )


# ---------------------------------------------------------------------- comparing

Difference = tuple[str, Any, Any]  # (field, as Zendesk holds it, as the policy wants it)


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _value(value: Any) -> str:
    # Zendesk answers with the strings it was sent, but a hand-made rule may hold true / 5.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return json.dumps([_action_item(v) for v in value])
    return "" if value is None else str(value)


def _action_item(value: Any) -> Any:
    # A webhook action's body is JSON in a string: compare what it means, not its spacing.
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _conditions(raw: Any) -> dict[str, list[tuple[str, str, str]]]:
    raw = raw or {}
    return {
        group: sorted((str(c.get("field")), str(c.get("operator") or "is"),
                       _value(c.get("value"))) for c in raw.get(group) or [])
        for group in ("all", "any")
    }


TAG_ACTIONS = ("add_tags", "remove_tags", "set_tags", "current_tags")


def _actions(raw: Any) -> list[tuple[str, str]]:
    out = []
    for action in raw or []:
        name, value = str(action.get("field")), action.get("value")
        if name in TAG_ACTIONS:
            # "a b", ["a", "b"] and "b a" are the same tags.
            words = value if isinstance(value, list) else str(value or "").split()
            out.append((name, " ".join(sorted(str(w) for w in words))))
        else:
            out.append((name, _value(value)))
    return out


def _metrics(raw: Any) -> list[tuple[str, str, int, bool]]:
    return sorted((str(m.get("priority")), str(m.get("metric")), int(m.get("target") or 0),
                   bool(m.get("business_hours"))) for m in raw or [])


def _intervals(raw: Any) -> list[tuple[int, int]]:
    return _merged((int(i["start_time"]), int(i["end_time"])) for i in raw or [])


def _holidays(raw: Any) -> list[tuple[str, str, str]]:
    return sorted((str(h.get("name")), str(h.get("start_date"))[:10],
                   str(h.get("end_date"))[:10]) for h in raw or [])


def _subscriptions(raw: Any) -> list[str]:
    return sorted(raw or [])


def _flag(raw: Any) -> bool:
    return True if raw is None else bool(raw)


# Per kind: (field, how it is compared). Everything else Zendesk answers (id, url, created_at,
# updated_at, position, default, raw_title, usage counts, …) is not the policy's.
_COMPARED: dict[str, tuple[tuple[str, Any], ...]] = {
    WEBHOOK: (("name", _text), ("description", _text), ("status", _text),
              ("endpoint", _text), ("http_method", _text), ("request_format", _text),
              ("subscriptions", _subscriptions)),
    TRIGGER: (("title", _text), ("description", _text), ("active", _flag),
              ("category_id", _text), ("conditions", _conditions), ("actions", _actions)),
    AUTOMATION: (("title", _text), ("active", _flag), ("conditions", _conditions),
                 ("actions", _actions)),
    MACRO: (("title", _text), ("description", _text), ("active", _flag),
            ("actions", _actions), ("restriction", lambda v: v or None)),
    SLA_POLICY: (("title", _text), ("description", _text), ("filter", _conditions),
                 ("policy_metrics", _metrics)),
    SCHEDULE: (("name", _text), ("time_zone", _same_zone), ("intervals", _intervals),
               ("holidays", _holidays)),
    GROUP: (("name", lambda v: str(v or "").casefold()),),
    CATEGORY: (("name", _text),),
}


def differences(kind: str, want: Mapping[str, Any], have: Mapping[str, Any]) -> list[Difference]:
    """The fields of ``want`` that ``have`` (as Zendesk lists it) does not match, with both
    values as the API writes them."""
    out = []
    for name, normal in _COMPARED[kind]:
        if normal(want.get(name)) != normal(have.get(name)):
            out.append((name, have.get(name), want.get(name)))
    return out


def webhook_differences(want: dict[str, Any], have: dict[str, Any]) -> list[str]:
    return [name for name, _, _ in differences(WEBHOOK, want, have)]


def trigger_differences(want: dict[str, Any], have: dict[str, Any]) -> list[str]:
    return [name for name, _, _ in differences(TRIGGER, want, have)]


@dataclass(frozen=True)
class Matched:
    """Owned objects as listed, matched to the desired ones by title: the first of each title
    is the one kept; the others (a duplicate an interrupted run left) and any title nothing asks
    for are leftovers."""

    kept: dict[str, dict[str, Any]] = field(default_factory=dict)
    leftovers: tuple[dict[str, Any], ...] = ()


def match(titles: Iterable[str], listed: Iterable[Mapping[str, Any]], key: str) -> Matched:
    wanted = set(titles)
    kept: dict[str, dict[str, Any]] = {}
    leftovers = []
    for item in listed:
        title = str(item.get(key))
        if title in wanted and title not in kept:
            kept[title] = dict(item)
        else:
            leftovers.append(dict(item))
    return Matched(kept, tuple(leftovers))


__all__ = [
    "AUTOMATION",
    "CATEGORY",
    "CATEGORY_NAME",
    "GROUP",
    "KINDS",
    "MACRO",
    "PREFIX",
    "REMINDER_TAG",
    "REPLY_TRIGGER_TITLE",
    "SCHEDULE",
    "SLA_POLICY",
    "TRIGGER",
    "WEBHOOK",
    "WEBHOOK_NAME",
    "WEBHOOK_PATH",
    "Matched",
    "NativeLimits",
    "ZendeskObjects",
    "automation",
    "category",
    "desired",
    "differences",
    "group_names",
    "group_references",
    "intervals",
    "macro",
    "match",
    "native_limits",
    "owned",
    "reply_trigger",
    "routing_trigger",
    "schedule",
    "sla_policy",
    "trigger_differences",
    "webhook",
    "webhook_differences",
    "zendesk_time_zone",
]

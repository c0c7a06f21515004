"""Policy → the Freshdesk objects the connector installs (pure: no I/O, no Flask).

Freshdesk's words are the API v2's (https://developers.freshdesk.com/api/; traps:
../shared/docs/reference/freshdesk.md). In the order ``policy apply`` creates them:

- **groups**: the team's own, without prefix: every group the pack names (scenario owners,
  escalation targets) is resolved to its id by name at plan time (``GET /api/v2/groups``); a name
  Freshdesk does not know is a :class:`~connector.errors.ConfigurationError` naming the pack key,
  unless ``groups.create_missing``: then the groups are desired objects, created when missing,
  never changed.
- **SLA policies** ``[sms-connector] <scenario title>`` (``/api/v2/sla_policies``). Freshdesk
  applies a policy by ticket properties (company, group, source, type, product), never by tag, the
  first matching policy in position order winning. What puts a scenario's tickets under its policy
  is its **owner group**: the connector files the ticket in that group (the adapter, and the
  routing rule below as a backstop), and the policy applies to ``group_ids: [owner]`` and
  ``sources: [freshdesk.source]`` (the SMS tickets' source, Phone by default), so the group's
  e-mail tickets keep the account's own policies. A scenario without an owner group, or sharing
  its group with an earlier scenario, cannot be told apart by Freshdesk: it gets no SLA policy
  and :func:`enforcement` names the connector as the enforcer of its targets (a source-only
  policy would catch every SMS ticket whatever its scenario).
  ``sla_target`` holds all four priorities (Freshdesk requires them) with the scenario's targets:
  the pack promises per scenario, whatever priority an agent sets later. Targets are seconds,
  multiples of 60, at least 900; ``respond_within`` and ``resolve_within`` are required,
  ``next_respond_within`` is not. A target under 15 minutes is not native: the connector's own
  timer enforces it. For first response (required) Freshdesk's clock shows its floor, 900 s, with
  no escalation on it; the policy's description and the plan's note say so. A next-response
  target under the floor is left out; a missing resolution target becomes 30 days (Freshdesk
  requires one) without escalation. A target of 15 minutes or more that is not whole minutes is
  a plan error. Escalation (``escalation_time`` 0: when the target is breached) goes to the owner
  group's agents (``agent_ids`` of ``GET /groups/{id}``: the list leaves them out, so one call
  per owner group at plan time); none when the group has no agents. ``business_hours`` is the
  scenario's flag: Freshdesk counts it in the group's business-hours calendar, which the API
  only reads (``GET /api/v2/business_hours``): the pack's hours and holidays cannot be written,
  only compared by an admin.
- **automation rules** (``/api/v2/automations/{type}/rules``): type 1, ticket creation,
  ``[sms-connector] Route <title>``: tagged ``sms_<scenario>`` → priority of the scenario's tier
  and its owner group; type 3, hourly time triggers, for the escalation rules Freshdesk can
  express at an hour's granularity (``no_customer_response`` after whole hours: pending ``is``
  N hours, rounded, so the rule fires once), on the owner group and the SMS source because time
  triggers take no tag condition; type 4, ticket updates, the two webhook rules below.
- **canned responses**: the folder ``[sms-connector] Agent scripts`` and one response per agent
  script, ``[sms-connector] <script title>``, visible to all agents; a response is ours because
  it is in that folder. ``{brand}`` / ``{support_contact}`` / ``{status_url}`` are filled from
  the pack, ``{eta}`` / ``{order}`` left for the agent (as in the Zendesk macros).

Freshdesk has no DELETE for SLA policies nor canned responses: an owned policy nothing asks for
is deactivated (``active: false``; an inactive leftover is no drift) and a leftover response is
retitled ``[sms-connector] Retired: …`` and made personal (hidden from other agents); the plan's
note says which. The default SLA policy is never read further than its name, never written.

The two type-4 webhook rules:

- ``[sms-connector] Text agent replies to the customer``: performer agent (``type`` 1), event
  ``reply_sent``, ticket tagged ``sms`` → ``{"ticket_id", "event": "reply_sent"}``. Performer =
  agent is the echo guard: a customer's public note (the connector's own write) also raises
  ``reply_sent`` (../shared/docs/reference/freshdesk.md, automation rules).
- ``[sms-connector] Tell the connector a ticket's status changed``: performer agent or requester
  (3), event ``status`` from any to any (``"--"``) → ``{"ticket_id", "event": "status"}``.
  Freshdesk has no conditional write, so the connector learns status changes from this rule.

Freshdesk does not sign webhooks: each action sends the shared secret in the custom header
``X-Sms-Connector-Secret``, which the connector compares in constant time. The body is ids only
(``{{ticket.latest_public_comment}}`` renders "Name : <html>" and may be the customer's own
note); the worker reads the conversation through the API.

Everything the connector owns carries the name prefix ``[sms-connector]``; policy sync never reads
further than that.

The comparisons normalise what Freshdesk gives back besides what it was sent: ids, timestamps,
``position`` (Freshdesk appends a new rule or policy at the end and admins reorder freely),
``summary``, ``outdated``, ``affected_tickets_count``, ``is_default``, ``members: []`` on a
performer, numbers echoed as strings, a JSON body echoed as a string, header names in another
case, empty lists for absent keys, a canned response's HTML rewrapped (compared as text).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connector.errors import ConfigurationError
from mappings.coverage import REMINDER_WHY
from mappings.policy import Policy, Scenario, Script, format_duration

PREFIX = "[sms-connector]"
WEBHOOK_PATH = "/webhooks/helpdesk/freshdesk"
SECRET_HEADER = "X-Sms-Connector-Secret"
RULES_TYPE = 4  # "ticket updates" automations: the only type with performer and events
CREATION_TYPE = 1  # "ticket creation" (dispatcher)
TIME_TYPE = 3  # "hourly time triggers" (supervisor)
RULE_TYPES = (CREATION_TYPE, TIME_TYPE, RULES_TYPE)
REPLY_RULE_NAME = f"{PREFIX} Text agent replies to the customer"
STATUS_RULE_NAME = f"{PREFIX} Tell the connector a ticket's status changed"
FOLDER_NAME = f"{PREFIX} Agent scripts"
RETIRED = f"{PREFIX} Retired: "  # a leftover canned response's title (no DELETE)
# connector.text.triage tags every ticket the connector files with "sms" and "sms_<scenario>".
SMS_TAG = "sms"
# A ticket a time trigger escalated (beside the pack's own add_tags), for agents' views.
ESCALATED_TAG = "sms_escalated"
# The tags condition as Freshdesk's API validates it: ``tag_names`` with ``in`` (any of), the
# name the stand-in takes from Freshdesk's server code (connector/sandbox/freshdesk_rules.py);
# ``ticket_tags`` is refused with 400 invalid_field.
TAG_CONDITION = "tag_names"
# What the rule's body says the delivery is about (the adapter's webhook_event reads it).
EVENT_REPLY_SENT = "reply_sent"
EVENT_STATUS = "status"
PERFORMER_AGENT = 1
PERFORMER_AGENT_OR_REQUESTER = 3
ANY = "--"  # an event's from / to: any value
PENDING = 3  # ticket status (https://developers.freshdesk.com/api/#tickets)
PHONE = 3  # ticket source; Freshdesk has no SMS source (freshdesk.source overrides)
PRIORITIES = (4, 3, 2, 1)  # urgent … low; sla_target needs every one
VISIBLE_TO_ALL = 0  # canned response visibility: 0 all agents, 1 personal, 2 some groups
PERSONAL = 1

# SLA targets (reference sheet, SLA policies; Freshdesk's API tests: "must be greater than or
# equal to 900", "Multiple_of_60").
SLA_FLOOR = 900
SLA_STEP = 60
NO_RESOLUTION_TARGET = 30 * 86400  # resolve_within is required; the pack may set none
# escalation_time: one of a fixed list (the same source).
ESCALATION_TIMES = (0, 1800, 3600, 7200, 14400, 28800, 43200, 86400, 172800, 259200, 604800,
                    1209600, 2592000)
APPLICABLE_KEYS = ("company_ids", "group_ids", "sources", "ticket_types", "product_ids")
HOUR = 3600

# In the objects desired() shows: the secret is never printed, only sent.
SECRET_PLACEHOLDER = "<webhook secret>"
NEW_FOLDER = "<new folder>"

# Who enforces a rule (mappings/coverage.py's words).
HELPDESK, CONNECTOR, BOTH = "helpdesk", "connector", "both"
METRICS = ("first_response", "next_response", "resolution")


@dataclass(frozen=True)
class NativeLimits:
    """What Freshdesk can enforce itself (for mappings/coverage.py)."""

    sla_floor: int = SLA_FLOOR  # seconds: shortest SLA target
    sla_step: int = SLA_STEP  # seconds: targets are whole minutes
    time_rule_step: int = HOUR  # time triggers run hourly and count whole hours
    sla_by_tag: bool = False  # SLA policies and time triggers match ticket properties only
    business_hours_writable: bool = False  # GET /business_hours only
    sla_delete: bool = False  # no DELETE: deactivated
    canned_response_delete: bool = False  # no DELETE: retired


native_limits = NativeLimits()


def owned(name: str | None) -> bool:
    return bool(name) and str(name).startswith(PREFIX)


def group_key(name: Any) -> str:
    """A group's name as compared: case and runs of spaces aside (as the adapter does)."""
    return " ".join(str(name or "").split()).casefold()


def group_placeholder(name: str) -> str:
    return f"<group {name}>"


@dataclass(frozen=True)
class Account:
    """What plan-time reading found that the bodies need: group ids by name (``group_key``),
    each group's agents, the SMS tickets' source and the scripts' folder."""

    groups: Mapping[str, int] = field(default_factory=dict)
    agents: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
    source: int = PHONE
    folder_id: int | None = None

    def group_id(self, name: str) -> int | str:
        """The group's id, or a placeholder until it exists."""
        return self.groups.get(group_key(name), group_placeholder(name))


@dataclass(frozen=True)
class Enforcement:
    """Who enforces one rule of one scenario on Freshdesk (mappings/coverage.py's Coverage)."""

    rule: str  # first_response | next_response | resolution | an escalation trigger
    scenario: str
    target: float | None  # seconds
    enforced_by: str  # helpdesk | connector | both
    why: str


@dataclass(frozen=True)
class FreshdeskObjects:
    """The desired objects per kind, in creation order; ``notes`` says, per object name, what the
    plan must tell an admin about it (a target Freshdesk cannot hold …)."""

    rules: tuple[dict[str, Any], ...]  # type 4: the webhook rules
    groups: tuple[dict[str, Any], ...] = ()
    sla_policies: tuple[dict[str, Any], ...] = ()
    creation_rules: tuple[dict[str, Any], ...] = ()  # type 1
    time_rules: tuple[dict[str, Any], ...] = ()  # type 3
    folder: dict[str, Any] | None = None
    canned_responses: tuple[dict[str, Any], ...] = ()
    notes: Mapping[str, str] = field(default_factory=dict)

    def rules_of(self, rule_type: int) -> tuple[dict[str, Any], ...]:
        return {CREATION_TYPE: self.creation_rules, TIME_TYPE: self.time_rules,
                RULES_TYPE: self.rules}[rule_type]


# ---------------------------------------------------------------------- webhook rules (type 4)


def webhook_url(public_url: str) -> str:
    return public_url.rstrip("/") + WEBHOOK_PATH


def webhook_action(public_url: str, secret: str, event: str) -> dict[str, Any]:
    return {
        "field_name": "trigger_webhook",
        "request_type": "POST",
        "url": webhook_url(public_url),
        "custom_headers": {SECRET_HEADER: secret},
        "content_type": "JSON",
        "content_layout": "2",  # "advanced": the content below as given, not a field picker
        "content": {"ticket_id": "{{ticket.id}}", "event": event},
    }


def _conditions_all(*props: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": "condition_set_1", "match_type": "all", "properties": list(props)}]


def _prop(field_name: str, operator: str, value: Any) -> dict[str, Any]:
    return {"resource_type": "ticket", "field_name": field_name, "operator": operator,
            "value": value}


def sms_tickets() -> list[dict[str, Any]]:
    """The conditions both webhook rules share: the ticket carries the ``sms`` tag."""
    return _conditions_all(_prop(TAG_CONDITION, "in", [SMS_TAG]))


def reply_rule(public_url: str, secret: str) -> dict[str, Any]:
    return {
        "name": REPLY_RULE_NAME,
        "active": True,
        "performer": {"type": PERFORMER_AGENT},
        "events": [{"field_name": "reply_sent"}],
        "conditions": sms_tickets(),
        "actions": [webhook_action(public_url, secret, EVENT_REPLY_SENT)],
    }


def status_rule(public_url: str, secret: str) -> dict[str, Any]:
    return {
        "name": STATUS_RULE_NAME,
        "active": True,
        "performer": {"type": PERFORMER_AGENT_OR_REQUESTER},
        "events": [{"field_name": "status", "from": ANY, "to": ANY}],
        "conditions": sms_tickets(),
        "actions": [webhook_action(public_url, secret, EVENT_STATUS)],
    }


# ---------------------------------------------------------------------- which scenario is native


def _scopes(policy: Policy) -> dict[str, str]:
    """Per scenario id: ``""`` when Freshdesk can tell its tickets apart (an owner group no
    earlier scenario has), else why not."""
    seen: dict[str, str] = {}
    out: dict[str, str] = {}
    for scenario in policy.scenarios:
        if not scenario.group:
            out[scenario.id] = ("it has no owner group, and Freshdesk applies SLA policies and "
                                "time triggers by group and source, not by tag")
            continue
        key = group_key(scenario.group)
        if key in seen:
            out[scenario.id] = (f"it shares its owner group {scenario.group!r} with scenario "
                                f"{seen[key]!r}, and Freshdesk tells tickets apart by group and "
                                "source, not by tag")
            continue
        seen[key] = scenario.id
        out[scenario.id] = ""
    return out


def escalation_groups(policy: Policy) -> tuple[str, ...]:
    """The owner groups whose agents the SLA policies escalate to (their members are needed)."""
    scopes = _scopes(policy)
    return tuple(s.group for s in policy.scenarios if s.group and not scopes[s.id])


def _native_target(seconds: float | None) -> bool:
    return seconds is not None and seconds >= SLA_FLOOR


def _whole_hours(seconds: float | None) -> int | None:
    if seconds is None or seconds < HOUR or seconds % HOUR:
        return None
    return int(seconds // HOUR)


def enforcement(policy: Policy) -> tuple[Enforcement, ...]:
    """Every target and escalation trigger of the pack, and who enforces it on Freshdesk."""
    scopes = _scopes(policy)
    rows: list[Enforcement] = []
    for scenario in policy.scenarios:
        scope = scopes[scenario.id]
        for metric in METRICS:
            target = getattr(scenario.targets, metric)
            if target is None:
                continue
            if scope:
                rows.append(Enforcement(metric, scenario.id, target, CONNECTOR,
                                        f"no Freshdesk SLA policy: {scope}"))
            elif not _native_target(target):
                rows.append(Enforcement(metric, scenario.id, target, CONNECTOR,
                                        "Freshdesk SLA targets start at 15 minutes"))
            else:
                rows.append(Enforcement(metric, scenario.id, target, HELPDESK,
                                        f"Freshdesk SLA policy {sla_name(scenario)!r}"))
        esc = scenario.escalation
        if esc.texts_customer:
            rows.append(Enforcement(esc.trigger, scenario.id, esc.after, CONNECTOR,
                                    REMINDER_WHY))
        elif esc.trigger == "no_customer_response":
            hours = _whole_hours(esc.after)
            if scope:
                why = f"no Freshdesk time trigger: {scope}"
            elif hours is None:
                why = "Freshdesk time triggers run hourly and count whole hours"
            else:
                why = f"Freshdesk time trigger {time_rule_name(scenario)!r} (hourly)"
            rows.append(Enforcement(esc.trigger, scenario.id, esc.after,
                                    CONNECTOR if scope or hours is None else HELPDESK, why))
        else:
            rows.append(Enforcement(esc.trigger, scenario.id, esc.after or esc.window,
                                    CONNECTOR, _NOT_NATIVE[esc.trigger]))
    return tuple(rows)


_NOT_NATIVE = {
    "status_unknown": "no Freshdesk condition tells a status update from other replies",
    "diagnostic_loops": "Freshdesk counts no diagnostic questions",
    "flags": "the flags are triage's, read from the texts; Freshdesk sees only their tags",
    "multiple_customers": "Freshdesk rules see one ticket at a time, not texts across tickets",
}


# ---------------------------------------------------------------------- SLA policies


def sla_name(scenario: Scenario) -> str:
    return f"{PREFIX} {scenario.title}"


def _seconds(value: float) -> int:
    return round(value)


def target_errors(policy: Policy) -> dict[str, str]:
    """Targets Freshdesk would refuse (15 minutes or more, not whole minutes), by pack key."""
    errors: dict[str, str] = {}
    scopes = _scopes(policy)
    for i, scenario in enumerate(policy.scenarios):
        if scopes[scenario.id]:
            continue
        tier = next((t for t in policy.tiers if t.id == scenario.tier), None)
        for metric in METRICS:
            target = getattr(scenario.targets, metric)
            if target is None or target < SLA_FLOOR or target % SLA_STEP == 0:
                continue
            key = f"scenarios[{i}].{metric}"
            if tier is not None and getattr(tier.targets, metric) == target:
                j = policy.tiers.index(tier)
                key = f"tiers[{j}].targets.{metric}"
            errors[key] = (f"{target:g} seconds: Freshdesk SLA targets are whole minutes "
                           "(a multiple of 60 seconds)")
    return errors


def _sla_target(scenario: Scenario, escalating: bool) -> tuple[dict[str, Any], list[str]]:
    """One priority's targets, and what the plan must say about them."""
    targets = scenario.targets
    notes: list[str] = []
    first = targets.first_response
    assert first is not None  # resolved by the pack: always set
    row: dict[str, Any] = {}
    if _native_target(first):
        row["respond_within"] = _seconds(first)
    else:
        row["respond_within"] = SLA_FLOOR
        notes.append(f"first response {format_duration(first)} is under Freshdesk's 15-minute "
                     "minimum: the connector's timer enforces it (Freshdesk shows 15 minutes, "
                     "without escalation)")
    if targets.resolution is None:
        row["resolve_within"] = NO_RESOLUTION_TARGET
        notes.append("no resolution target: Freshdesk requires one, 30 days stands in, "
                     "without escalation")
    elif _native_target(targets.resolution):
        row["resolve_within"] = _seconds(targets.resolution)
    else:
        row["resolve_within"] = SLA_FLOOR
        notes.append(f"resolution {format_duration(targets.resolution)} is under Freshdesk's "
                     "15-minute minimum: the connector's timer enforces it")
    if _native_target(targets.next_response):
        row["next_respond_within"] = _seconds(targets.next_response)  # type: ignore[arg-type]
    elif targets.next_response is not None:
        notes.append(f"next response {format_duration(targets.next_response)} is under "
                     "Freshdesk's 15-minute minimum: the connector's timer enforces it")
    row["business_hours"] = bool(scenario.business_hours)
    row["escalation_enabled"] = escalating
    return row, notes


def _escalation(scenario: Scenario, agents: tuple[int, ...]) -> dict[str, Any]:
    """Breached targets escalate at once (escalation_time 0) to the owner group's agents; only
    the targets Freshdesk holds as the pack says."""
    if not agents:
        return {}
    to = {"escalation_time": 0, "agent_ids": sorted(agents)}
    targets = scenario.targets
    out: dict[str, Any] = {}
    if _native_target(targets.first_response):
        out["response"] = dict(to)
    if _native_target(targets.next_response):
        out["next_response"] = dict(to)
    if _native_target(targets.resolution):
        out["resolution"] = {"level_1": dict(to)}
    return out


def sla_policy(scenario: Scenario, account: Account) -> tuple[dict[str, Any], str]:
    """The scenario's SLA policy and the plan's note about it (``""`` when none is needed)."""
    assert scenario.group is not None
    group_id = account.group_id(scenario.group)
    agents = account.agents.get(group_id, ()) if isinstance(group_id, int) else ()
    escalation = _escalation(scenario, agents)
    row, notes = _sla_target(scenario, bool(escalation))
    if not escalation:
        notes.append(f"no escalation: Freshdesk lists no agents in group {scenario.group!r}")
    description = (f"SMS tickets of the scenario {scenario.title!r} (owner group "
                   f"{scenario.group!r}). Managed by sms-connector policy apply.")
    if notes:
        description += " " + "; ".join(n[0].upper() + n[1:] for n in notes) + "."
    body: dict[str, Any] = {
        "name": sla_name(scenario),
        "description": description,
        "active": True,
        "applicable_to": {"group_ids": [group_id], "sources": [account.source]},
        "sla_target": {f"priority_{p}": dict(row) for p in PRIORITIES},
    }
    if escalation:
        body["escalation"] = escalation
    return body, "; ".join(notes)


def sla_policy_errors(body: Mapping[str, Any]) -> list[str]:
    """What Freshdesk would refuse in an SLA policy body (reference sheet, SLA policies)."""
    errors = []
    if not str(body.get("name") or "").strip():
        errors.append("name: missing")
    target = body.get("sla_target")
    if not isinstance(target, Mapping):
        return [*errors, "sla_target: missing"]
    for p in PRIORITIES:
        row = target.get(f"priority_{p}")
        if not isinstance(row, Mapping):
            errors.append(f"sla_target.priority_{p}: missing")
            continue
        for key in ("respond_within", "resolve_within", "next_respond_within"):
            value = row.get(key)
            if value is None and key == "next_respond_within":
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                errors.append(f"sla_target.priority_{p}.{key}: not whole seconds")
            elif value < SLA_FLOOR or value % SLA_STEP:
                errors.append(f"sla_target.priority_{p}.{key}: {value} (at least {SLA_FLOOR}, "
                              f"a multiple of {SLA_STEP})")
        for key in ("business_hours", "escalation_enabled"):
            if not isinstance(row.get(key), bool):
                errors.append(f"sla_target.priority_{p}.{key}: not a boolean")
    applicable = body.get("applicable_to")
    if not isinstance(applicable, Mapping) or not any(applicable.get(k) for k in APPLICABLE_KEYS):
        errors.append("applicable_to: empty (only the default policy applies to every ticket)")
    elif set(applicable) - set(APPLICABLE_KEYS):
        unknown = sorted(set(applicable) - set(APPLICABLE_KEYS))
        errors.append(f"applicable_to: unknown keys {unknown}")
    for metric, value in (body.get("escalation") or {}).items():
        levels = value.items() if metric == "resolution" else [(metric, value)]
        for level, step in levels:
            if step.get("escalation_time") not in ESCALATION_TIMES:
                errors.append(f"escalation.{level}.escalation_time: not one of Freshdesk's")
            if not step.get("agent_ids"):
                errors.append(f"escalation.{level}.agent_ids: empty")
    return errors


# ---------------------------------------------------------------------- rules of types 1 and 3


def routing_rule_name(scenario: Scenario) -> str:
    return f"{PREFIX} Route {scenario.title}"


def routing_rule(policy: Policy, scenario: Scenario, account: Account) -> dict[str, Any]:
    """Type 1: a new ticket tagged ``sms_<scenario>`` gets its tier's priority and the owner
    group. The adapter sets both when it files the ticket; the rule keeps tickets filed while
    the group was unknown, or by another path, in line."""
    actions: list[dict[str, Any]] = [
        {"field_name": "priority", "value": policy.tier(scenario.tier).freshdesk_priority}]
    if scenario.group:
        actions.append({"field_name": "group_id", "value": account.group_id(scenario.group)})
    return {
        "name": routing_rule_name(scenario),
        "active": True,
        "conditions": _conditions_all(_prop(TAG_CONDITION, "in", [f"sms_{scenario.id}"])),
        "actions": actions,
    }


def time_rule_name(scenario: Scenario) -> str:
    after = scenario.escalation.after or 0
    return f"{PREFIX} {scenario.title}: no customer response in {format_duration(after)}"


def time_rule(policy: Policy, scenario: Scenario, account: Account) -> dict[str, Any] | None:
    """Type 3 for ``no_customer_response`` after whole hours: a pending ticket of the owner group
    and the SMS source, pending ``is`` N hours (Freshdesk rounds the hours, so the hourly scan
    matches it once, within half an hour of N; a rule whose only actions tag the ticket would
    otherwise fire every hour its conditions hold:
    https://support.freshdesk.com/support/solutions/articles/37615, server code (2020)
    Va::Handlers::DateTime), gets the escalation's priority, group and tags. A window of
    ``greater_than N`` and ``less_than N + 1`` misses when the scan falls on the hour."""
    esc = scenario.escalation
    hours = _whole_hours(esc.after)
    if (esc.trigger != "no_customer_response" or esc.texts_customer or hours is None
            or not scenario.group):
        return None
    actions: list[dict[str, Any]] = []
    if esc.to_tier:
        actions.append({"field_name": "priority",
                        "value": policy.tier(esc.to_tier).freshdesk_priority})
    if esc.to_group:
        actions.append({"field_name": "group_id", "value": account.group_id(esc.to_group)})
    actions.append({"field_name": "add_tag", "value": [ESCALATED_TAG, *esc.add_tags]})
    return {
        "name": time_rule_name(scenario),
        "active": True,
        "conditions": _conditions_all(
            _prop("group_id", "in", [account.group_id(scenario.group)]),
            _prop("source", "in", [account.source]),
            _prop("status", "in", [PENDING]),
            _prop("pending_since", "is", hours),
        ),
        "actions": actions,
    }


# ---------------------------------------------------------------------- canned responses


def script_text(policy: Policy, script: Script) -> str:
    """The pack's values filled in; ``{eta}`` / ``{order}`` left for the agent, as in the Zendesk
    macros (single braces are plain text to Freshdesk, whose placeholders are ``{{…}}``)."""
    return policy.render_script(script)


def canned_title(script: Script) -> str:
    return f"{PREFIX} {script.title}"


def canned_response(policy: Policy, script: Script, account: Account) -> dict[str, Any]:
    text = script_text(policy, script)
    return {
        "title": canned_title(script),
        "content_html": "<div>" + html.escape(text, quote=False).replace("\n", "<br>")
                        + "</div>",
        "folder_id": account.folder_id if account.folder_id is not None else NEW_FOLDER,
        "visibility": VISIBLE_TO_ALL,
    }


def retired_title(title: str) -> str:
    return RETIRED + title.removeprefix(PREFIX).strip()


# ---------------------------------------------------------------------- everything


def _unique(names: Iterable[tuple[str, str]], what: str, errors: dict[str, str]) -> None:
    seen: set[str] = set()
    for key, name in names:
        if name.casefold() in seen:
            errors[key] = f"two {what} would be named {name!r} in Freshdesk"
        seen.add(name.casefold())


def desired(policy: Policy, public_url: str, secret: str = SECRET_PLACEHOLDER,
            account: Account | None = None) -> FreshdeskObjects:
    """What ``policy apply`` installs for ``policy``; the rules send ``secret``; ids come from
    ``account`` (placeholders for what does not exist yet). Raises ConfigurationError, naming
    the pack keys, for what Freshdesk would refuse."""
    account = account or Account()
    errors = target_errors(policy)
    scopes = _scopes(policy)
    native = [s for s in policy.scenarios if not scopes[s.id]]
    _unique(((f"scenarios[{policy.scenarios.index(s)}].title", sla_name(s)) for s in native),
            "SLA policies", errors)
    _unique(((f"scripts[{i}].title", canned_title(s)) for i, s in enumerate(policy.scripts)),
            "canned responses", errors)
    _unique(((f"scenarios[{i}].title", routing_rule_name(s))
             for i, s in enumerate(policy.scenarios)), "routing rules", errors)
    if errors:
        lines = "\n".join(f"  {k}: {v}" for k, v in errors.items())
        raise ConfigurationError(f"the policy pack cannot be pushed into Freshdesk:\n{lines}",
                                 errors=errors)
    notes: dict[str, str] = {}
    slas = []
    for scenario in native:
        body, note = sla_policy(scenario, account)
        slas.append(body)
        if note:
            notes[body["name"]] = note
    times = [r for r in (time_rule(policy, s, account) for s in native) if r is not None]
    return FreshdeskObjects(
        # Only groups the connector may create are its objects; the others are looked up.
        groups=tuple({"name": name} for name in policy.groups.names)
        if policy.groups.create_missing else (),
        sla_policies=tuple(slas),
        creation_rules=tuple(routing_rule(policy, s, account) for s in policy.scenarios),
        time_rules=tuple(times),
        folder={"name": FOLDER_NAME} if policy.scripts else None,
        canned_responses=tuple(canned_response(policy, s, account) for s in policy.scripts),
        rules=(reply_rule(public_url, secret), status_rule(public_url, secret)),
        notes=notes,
    )


def unknown_groups(policy: Policy, account: Account) -> dict[str, str]:
    """Pack keys naming a group Freshdesk does not have → the group's name."""
    out: dict[str, str] = {}
    for i, scenario in enumerate(policy.scenarios):
        if scenario.group and group_key(scenario.group) not in account.groups:
            out[f"scenarios[{i}].group"] = scenario.group
        to_group = scenario.escalation.to_group
        if to_group and group_key(to_group) not in account.groups:
            out[f"scenarios[{i}].escalation.to_group"] = to_group
    return out


def check_groups(policy: Policy, account: Account) -> None:
    """A ConfigurationError naming each key whose group Freshdesk lacks, unless the pack lets
    the connector create them (``groups.create_missing``)."""
    missing = unknown_groups(policy, account)
    if not missing or policy.groups.create_missing:
        return
    errors = {key: (f"Freshdesk has no group {name!r}: create it in Freshdesk (Admin > Groups) "
                    "or set groups.create_missing = true in the pack")
              for key, name in missing.items()}
    lines = "\n".join(f"  {k}: {v}" for k, v in errors.items())
    raise ConfigurationError(f"the policy pack names groups Freshdesk does not have:\n{lines}",
                             errors=errors)


# ---------------------------------------------------------------------- reading back


def _headers(raw: Any) -> dict[str, str]:
    """Custom headers by lower-case name (HTTP header names are case-insensitive)."""
    if isinstance(raw, str):
        raw = _loaded(raw)
    if not isinstance(raw, Mapping):
        return {}
    return {str(k).lower(): "" if v is None else str(v) for k, v in raw.items()}


def rule_secret(rule: Mapping[str, Any]) -> str | None:
    """The secret a rule's webhook action sends to the connector, if any."""
    for action in rule.get("actions") or []:
        if isinstance(action, Mapping) and action.get("field_name") == "trigger_webhook":
            secret = _headers(action.get("custom_headers")).get(SECRET_HEADER.lower())
            if secret:
                return secret
    return None


def first_secret(rules: Iterable[Mapping[str, Any]]) -> str | None:
    """The secret the first of ``rules`` that sends one sends."""
    return next((s for s in map(rule_secret, rules) if s), None)


# ---------------------------------------------------------------------- comparing


def _loaded(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def _text(value: Any) -> str:
    # Freshdesk echoes some numbers as strings ("type": "1", "content_layout": 2).
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _values(value: Any) -> tuple[str, ...]:
    # "in" takes a list; a single value and a one-item list mean the same.
    items = value if isinstance(value, list) else [] if value is None else [value]
    return tuple(sorted(_text(v) for v in items))


def _condition_values(prop: Mapping[str, Any]) -> tuple[str, ...]:
    values = _values(prop.get("value"))
    if prop.get("field_name") == TAG_CONDITION:
        # Tags are one whatever their case ("SMS" and "sms" are one tag in Freshdesk's UI).
        return tuple(sorted(v.lower() for v in values))
    return values


def _performer(raw: Any) -> tuple[str, tuple[str, ...]]:
    raw = raw if isinstance(raw, Mapping) else {}
    return _text(raw.get("type")), _values(raw.get("members"))


def _events(raw: Any) -> list[tuple[str, str, str, str]]:
    # A missing from / to is "any", as "--" is.
    return sorted((_text(e.get("field_name")), _text(e.get("from")) or ANY,
                   _text(e.get("to")) or ANY, _text(e.get("value")))
                  for e in raw or [] if isinstance(e, Mapping))


def _conditions(raw: Any) -> list[tuple[str, str, tuple[Any, ...]]]:
    sets = []
    for i, group in enumerate(c for c in raw or [] if isinstance(c, Mapping)):
        props = tuple(sorted(
            (_text(p.get("resource_type")) or "ticket", _text(p.get("field_name")),
             _text(p.get("operator")), _condition_values(p))
            for p in group.get("properties") or [] if isinstance(p, Mapping)))
        sets.append((_text(group.get("name")) or f"condition_set_{i + 1}",
                     _text(group.get("match_type")) or "all", props))
    return sorted(sets)


# The keys a webhook action is made of; anything else Freshdesk adds is not compared.
_WEBHOOK_KEYS = ("request_type", "url", "content_type", "content_layout", "content",
                 "custom_headers", "auth_header")


def _plain(value: Any) -> Any:
    """A value as compared: scalars as text (Freshdesk echoes numbers as strings), lists sorted
    (``add_tag`` and ``in`` values are sets), mappings key by key."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _plain(v)) for k, v in value.items()
                            if v not in (None, "", [], {})))
    if isinstance(value, list | tuple):
        return tuple(sorted((_plain(v) for v in value), key=repr))
    return _text(value)


def _action(raw: Mapping[str, Any]) -> Any:
    name = _text(raw.get("field_name"))
    if name != "trigger_webhook":
        # priority, group_id, add_tag … and a hand-added action: every non-empty key.
        return name, _plain({k: v for k, v in raw.items() if k != "field_name"})
    content = raw.get("content")
    if isinstance(content, str):
        content = _loaded(content)
    return (
        name,
        _text(raw.get("request_type")).upper(),
        _text(raw.get("url")).rstrip("/"),
        _text(raw.get("content_type")).upper(),
        _text(raw.get("content_layout")),
        json.dumps(content, sort_keys=True, default=str),
        sorted(_headers(raw.get("custom_headers")).items()),
        json.dumps(raw.get("auth_header") or None, sort_keys=True, default=str),
    )


def _actions(raw: Any) -> list[Any]:
    # In order: Freshdesk runs a rule's actions one after another.
    return [_action(a) for a in raw or [] if isinstance(a, Mapping)]


def rule_differences(want: Mapping[str, Any], have: Mapping[str, Any]) -> list[str]:
    """The fields of ``want`` that ``have`` (as Freshdesk lists it) does not match."""
    out = []
    if want["name"] != have.get("name"):
        out.append("name")
    if bool(want.get("active", True)) != bool(have.get("active", False)):
        out.append("active")
    if _performer(want.get("performer")) != _performer(have.get("performer")):
        out.append("performer")
    if _events(want.get("events")) != _events(have.get("events")):
        out.append("events")
    if _conditions(want.get("conditions")) != _conditions(have.get("conditions")):
        out.append("conditions")
    if _actions(want.get("actions")) != _actions(have.get("actions")):
        out.append("actions")
    return out


def _ints(value: Any) -> tuple[str, ...]:
    return tuple(sorted(_text(v) for v in value)) if isinstance(value, list) else ()


def _applicable(raw: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    raw = raw if isinstance(raw, Mapping) else {}
    return tuple((k, _ints(raw.get(k))) for k in APPLICABLE_KEYS if raw.get(k))


def _targets_view(raw: Any) -> tuple[Any, ...]:
    raw = raw if isinstance(raw, Mapping) else {}
    out = []
    for p in PRIORITIES:
        row = raw.get(f"priority_{p}")
        row = row if isinstance(row, Mapping) else {}
        out.append((p, _text(row.get("respond_within")), _text(row.get("resolve_within")),
                    _text(row.get("next_respond_within")), bool(row.get("business_hours")),
                    bool(row.get("escalation_enabled"))))
    return tuple(out)


def _escalation_step(raw: Any) -> tuple[str, tuple[str, ...]] | None:
    if not isinstance(raw, Mapping) or not raw.get("agent_ids"):
        return None
    return _text(raw.get("escalation_time")), _ints(raw.get("agent_ids"))


def _escalation_view(raw: Any) -> tuple[Any, ...]:
    # Freshdesk echoes {"response": {}, "resolution": {}} for none: empty is absent.
    raw = raw if isinstance(raw, Mapping) else {}
    out: list[Any] = []
    for metric in ("response", "next_response"):
        step = _escalation_step(raw.get(metric))
        if step:
            out.append((metric, step))
    levels = raw.get("resolution") if isinstance(raw.get("resolution"), Mapping) else {}
    for level in sorted(levels):
        step = _escalation_step(levels[level])
        if step:
            out.append((f"resolution.{level}", step))
    return tuple(out)


def sla_differences(want: Mapping[str, Any], have: Mapping[str, Any]) -> list[str]:
    """The fields of ``want`` that ``have`` (as Freshdesk lists the policy) does not match."""
    out = []
    for key in ("name", "description"):
        if _text(want.get(key)).strip() != _text(have.get(key)).strip():
            out.append(key)
    if bool(want.get("active", True)) != bool(have.get("active", False)):
        out.append("active")
    if _applicable(want.get("applicable_to")) != _applicable(have.get("applicable_to")):
        out.append("applicable_to")
    if _targets_view(want.get("sla_target")) != _targets_view(have.get("sla_target")):
        out.append("sla_target")
    if _escalation_view(want.get("escalation")) != _escalation_view(have.get("escalation")):
        out.append("escalation")
    return out


_TAGS = re.compile(r"<[^>]*>")
_BREAKS = re.compile(r"<br\s*/?>|</(div|p)>", re.IGNORECASE)


def html_text(value: Any) -> str:
    """A canned response's text: Freshdesk rewraps the HTML it is sent (``<div dir="ltr">``)."""
    text = _TAGS.sub("", _BREAKS.sub("\n", _text(value)))
    lines = (" ".join(line.split()) for line in html.unescape(text).split("\n"))
    return "\n".join(line for line in lines if line)


def canned_differences(want: Mapping[str, Any], have: Mapping[str, Any]) -> list[str]:
    """The fields of ``want`` that ``have`` does not match; ``visibility`` only when Freshdesk
    shows it (the view of a response does not)."""
    out = []
    if _text(want.get("title")).strip() != _text(have.get("title")).strip():
        out.append("title")
    have_html = have.get("content_html")
    if have_html is None:
        have_html = html.escape(_text(have.get("content")), quote=False)
    if html_text(want.get("content_html")) != html_text(have_html):
        out.append("content_html")
    if _text(want.get("folder_id")) != _text(have.get("folder_id")):
        out.append("folder_id")
    if "visibility" in have and _text(want.get("visibility")) != _text(have.get("visibility")):
        out.append("visibility")
    return out


def masked(value: Any) -> Any:
    """``value`` with the secret header's value shown as ``<secret>`` (a plan's details)."""
    if isinstance(value, Mapping):
        return {k: ("<secret>" if str(k).lower() == SECRET_HEADER.lower() and v else masked(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    if isinstance(value, str) and SECRET_HEADER.lower() in value.lower():
        loaded = _loaded(value)
        if isinstance(loaded, Mapping):
            return masked(loaded)
    return value


__all__ = [
    "FOLDER_NAME",
    "PREFIX",
    "REPLY_RULE_NAME",
    "RULES_TYPE",
    "SECRET_HEADER",
    "SECRET_PLACEHOLDER",
    "STATUS_RULE_NAME",
    "WEBHOOK_PATH",
    "Account",
    "Enforcement",
    "FreshdeskObjects",
    "NativeLimits",
    "canned_differences",
    "check_groups",
    "desired",
    "enforcement",
    "escalation_groups",
    "first_secret",
    "masked",
    "native_limits",
    "owned",
    "reply_rule",
    "rule_differences",
    "rule_secret",
    "sla_differences",
    "sla_policy_errors",
    "status_rule",
    "unknown_groups",
    "webhook_action",
    "webhook_url",
]

"""Policy → the Freshdesk objects the connector installs (pure: no I/O, no Flask).

Version 1 installs what the agent-reply flow needs: two "ticket update" automation rules (type 4,
``/api/v2/automations/4/rules``, https://developers.freshdesk.com/api/#automations) whose
``trigger_webhook`` action POSTs JSON to the connector's ``/webhooks/helpdesk/freshdesk``:

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
further than that. ``FreshdeskObjects`` holds one tuple per object kind so later versions can add
SLA policies and canned responses (issue #12) beside the rules.

The comparison normalises what Freshdesk gives back besides what it was sent: ids, timestamps,
``position`` (Freshdesk appends a new rule at the end and admins reorder freely; a rule that only
sends a webhook changes nothing a later rule sees, so its place is never drift), ``summary``,
``outdated``, ``affected_tickets_count``, ``members: []`` on a performer, numbers echoed as
strings, a JSON body echoed as a string, header names in another case.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mappings.policy import Policy

PREFIX = "[sms-connector]"
WEBHOOK_PATH = "/webhooks/helpdesk/freshdesk"
SECRET_HEADER = "X-Sms-Connector-Secret"
RULES_TYPE = 4  # "ticket updates" automations: the only type with performer and events
REPLY_RULE_NAME = f"{PREFIX} Text agent replies to the customer"
STATUS_RULE_NAME = f"{PREFIX} Tell the connector a ticket's status changed"
# connector.text.triage tags every ticket the connector files with "sms".
SMS_TAG = "sms"
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

# In the objects desired() shows: the secret is never printed, only sent.
SECRET_PLACEHOLDER = "<webhook secret>"


def owned(name: str | None) -> bool:
    return bool(name) and str(name).startswith(PREFIX)


@dataclass(frozen=True)
class FreshdeskObjects:
    """The desired objects per kind (v1: automation rules of type 4)."""

    rules: tuple[dict[str, Any], ...]


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


def sms_tickets() -> list[dict[str, Any]]:
    """The conditions both rules share: the ticket carries the ``sms`` tag."""
    return [{"name": "condition_set_1", "match_type": "all", "properties": [
        {"resource_type": "ticket", "field_name": TAG_CONDITION, "operator": "in",
         "value": [SMS_TAG]}]}]


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


def desired(policy: Policy, public_url: str,
            secret: str = SECRET_PLACEHOLDER) -> FreshdeskObjects:
    """What ``policy apply`` installs for ``policy``; the rules send ``secret``."""
    del policy  # v1 installs the same rules whatever the pack says
    return FreshdeskObjects(rules=(reply_rule(public_url, secret),
                                   status_rule(public_url, secret)))


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


def _action(raw: Mapping[str, Any]) -> Any:
    name = _text(raw.get("field_name"))
    if name != "trigger_webhook":
        # Another action (a hand edit): compared as given, without empty keys.
        return name, json.dumps({k: v for k, v in raw.items() if v not in (None, "", [], {})},
                                sort_keys=True, default=str)
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


__all__ = [
    "PREFIX",
    "REPLY_RULE_NAME",
    "RULES_TYPE",
    "SECRET_HEADER",
    "SECRET_PLACEHOLDER",
    "STATUS_RULE_NAME",
    "WEBHOOK_PATH",
    "FreshdeskObjects",
    "desired",
    "first_secret",
    "owned",
    "reply_rule",
    "rule_differences",
    "rule_secret",
    "status_rule",
    "webhook_action",
    "webhook_url",
]

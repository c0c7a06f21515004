"""Policy → the Zendesk objects the connector installs (pure: no I/O, no Flask).

Version 1 installs what the agent-reply flow needs:

- a webhook ``[sms-connector] agent replies`` that POSTs JSON to the connector's
  ``/webhooks/helpdesk/zendesk``, subscribed to ``conditional_ticket_events`` (the subscription a
  webhook needs to be a trigger's action; https://developer.zendesk.com/api-reference/webhooks/webhooks-api/webhooks/);
- a trigger category ``[sms-connector]`` and, in it, the trigger ``[sms-connector] Send public
  agent replies as SMS``: a public comment, the current user is not an end user, the update did
  not come through the API (``current_via_id`` is not 5: the connector's own writes — a customer's
  text added as a comment — are API updates made by the API user, an agent, and would otherwise
  fire it; ``via_id`` is the channel the ticket was *created* by, always the API for SMS tickets),
  nor from a merge (``current_via_id`` is not 19: merging leaves a public note by the merging
  agent that is no reply), and the ticket is tagged ``sms`` → ``notification_webhook`` with the
  ticket id only.

Condition values are strings as the API expects them (``"true"``, ``"5"``;
https://developer.zendesk.com/documentation/ticketing/reference-guides/conditions-reference/).
The webhook's body is ids only: Zendesk's placeholder escaping inside JSON is unreliable, so the
worker fetches the comments through the API.

Everything the connector owns carries the title prefix ``[sms-connector]``; ``policy_sync`` never
touches an object without it. The policy pack does not change these objects yet: later versions
map its escalations and scripts (SLA policies, automations, macros) here too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mappings.policy import Policy

PREFIX = "[sms-connector]"
WEBHOOK_PATH = "/webhooks/helpdesk/zendesk"
WEBHOOK_NAME = f"{PREFIX} agent replies"
CATEGORY_NAME = PREFIX
REPLY_TRIGGER_TITLE = f"{PREFIX} Send public agent replies as SMS"
# connector.text.triage tags every ticket the connector files with "sms".
SMS_TAG = "sms"
VIA_API = "5"  # "Web service (API)" in the via types reference
VIA_MERGE = "19"  # "Merge": the note a merge leaves on the surviving ticket
WEBHOOK_BODY = json.dumps({"ticket_id": "{{ticket.id}}"})

# Placeholders for ids Zendesk assigns, until the objects exist (shown in a plan).
NEW_WEBHOOK = "<new webhook>"
NEW_CATEGORY = "<new category>"


def owned(title: str | None) -> bool:
    return bool(title) and str(title).startswith(PREFIX)


@dataclass(frozen=True)
class ZendeskObjects:
    """The desired objects, ids of other objects left as placeholders until they exist."""

    webhook: dict[str, Any]
    category: dict[str, Any]
    triggers: tuple[dict[str, Any], ...]


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


def desired(policy: Policy, public_url: str, *, webhook_id: str = NEW_WEBHOOK,
            category_id: str = NEW_CATEGORY) -> ZendeskObjects:
    """What ``policy apply`` installs for ``policy`` (v1: the agent-reply webhook + trigger)."""
    del policy  # v1 installs the same objects whatever the pack says
    return ZendeskObjects(webhook=webhook(public_url), category=category(),
                          triggers=(reply_trigger(webhook_id, category_id),))


# ---------------------------------------------------------------------- comparing


def webhook_differences(want: dict[str, Any], have: dict[str, Any]) -> list[str]:
    """The fields of ``want`` that ``have`` (as Zendesk lists it) does not match."""
    out = []
    for name in ("name", "description", "status", "endpoint", "http_method", "request_format"):
        if (want.get(name) or None) != (have.get(name) or None):
            out.append(name)
    if sorted(want.get("subscriptions") or []) != sorted(have.get("subscriptions") or []):
        out.append("subscriptions")
    return out


def _conditions(raw: Any) -> dict[str, list[tuple[str, str, str]]]:
    raw = raw or {}
    return {
        group: sorted((str(c.get("field")), str(c.get("operator") or "is"),
                       _value(c.get("value"))) for c in raw.get(group) or [])
        for group in ("all", "any")
    }


def _value(value: Any) -> str:
    # Zendesk answers with the strings it was sent, but a hand-made trigger may hold true / 5.
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
    return value


def _actions(raw: Any) -> list[tuple[str, str]]:
    return [(str(a.get("field")), _value(a.get("value"))) for a in raw or []]


def trigger_differences(want: dict[str, Any], have: dict[str, Any]) -> list[str]:
    out = []
    if want["title"] != have.get("title"):
        out.append("title")
    if (want.get("description") or None) != (have.get("description") or None):
        out.append("description")
    if bool(want.get("active", True)) != bool(have.get("active", True)):
        out.append("active")
    if str(want.get("category_id")) != str(have.get("category_id")):
        out.append("category_id")
    if _conditions(want.get("conditions")) != _conditions(have.get("conditions")):
        out.append("conditions")
    if _actions(want.get("actions")) != _actions(have.get("actions")):
        out.append("actions")
    return out


__all__ = [
    "CATEGORY_NAME",
    "PREFIX",
    "REPLY_TRIGGER_TITLE",
    "WEBHOOK_NAME",
    "WEBHOOK_PATH",
    "ZendeskObjects",
    "category",
    "desired",
    "owned",
    "reply_trigger",
    "trigger_differences",
    "webhook",
    "webhook_differences",
]

"""Webhooks, triggers and trigger categories of the Zendesk stand-in, and the trigger run.

How Zendesk runs triggers (https://support.zendesk.com/hc/en-us/articles/4408822236058 "About
triggers and how they work"): after every ticket create or update — API updates included, with
the API user as the current user — active triggers are checked in order (category position,
then trigger position). A trigger whose conditions hold runs its actions, and when the actions
changed the ticket the cycle starts again from the top with the triggers that have not fired yet;
each trigger fires at most once per update. That is what `run_triggers` does.

Conditions and actions the sandbox evaluates are listed in `CONDITION_FIELDS` / `ACTION_FIELDS`.
A trigger using anything else is refused with a 422 that says so, rather than stored and silently
never matching (a real account would accept it): the gap shows up the day the connector needs it.

Caller holds ``store.lock`` for every function here.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from connector.sandbox.zendesk_store import (
    PRIORITIES,
    STATUSES,
    TYPES,
    UpdateContext,
    ZendeskError,
    ZendeskStore,
    as_id,
    invalid,
    iso,
    normalize_tags,
    record_invalid,
)

# Trigger conditions reference:
# https://developer.zendesk.com/documentation/ticketing/reference-guides/conditions-reference/
_ORDERED_OPS = (
    "is",
    "is_not",
    "less_than",
    "greater_than",
    "changed",
    "not_changed",
    "value",
    "value_previous",
    "not_value",
    "not_value_previous",
)
CONDITION_FIELDS: dict[str, tuple[str, ...]] = {
    "update_type": ("is", "is_not"),
    "comment_is_public": ("is", "is_not"),
    "role": ("is", "is_not"),
    "current_via_id": ("is", "is_not"),
    "via_id": ("is", "is_not"),
    "current_tags": ("includes", "not_includes"),
    "status": _ORDERED_OPS,
    "priority": _ORDERED_OPS,
    "type": (
        "is",
        "is_not",
        "changed",
        "not_changed",
        "value",
        "value_previous",
        "not_value",
        "not_value_previous",
    ),
}
# Actions reference:
# https://developer.zendesk.com/documentation/ticketing/reference-guides/actions-reference/
ACTION_FIELDS = (
    "notification_webhook",
    "add_tags",
    "remove_tags",
    "set_tags",
    "status",
    "priority",
    "type",
    "assignee_id",
    "group_id",
    "set_schedule",  # the ticket's business-hours schedule (checked by the admin objects)
    "notification_user",
    "notification_group",
)
_ORDER = {"status": STATUSES, "priority": ("", *PRIORITIES)}
_ROLES = {"end-user": "end_user", "agent": "agent", "admin": "admin"}
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")
_VIA_NAMES = {0: "Web Form", 5: "Web Service", 8: "Rule"}

WEBHOOK_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
WEBHOOK_FORMATS = ("json", "xml", "form_encoded")


def webhook_error(status: int, code: str, title: str, detail: str, pointer: str | None = None):
    """Errors of the Webhooks API use the JSON:API-like ``{"errors": [...]}`` shape, not the
    ``{"error", "description"}`` of the older Support endpoints."""
    item: dict[str, Any] = {"code": code, "title": title, "detail": detail}
    if pointer:
        item["source"] = {"pointer": pointer}
    return ZendeskError(status, {"errors": [item]})


def _ulid() -> str:
    # Webhook ids are 26-character ULID-style strings ("01GFXH9R2X1W6K5QZ8M4Y0T3NB").
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    return "01" + "".join(secrets.choice(alphabet) for _ in range(24))


@dataclass
class WebhookCall:
    """One ``notification_webhook`` action fired: what to send, and why."""

    webhook_id: str
    body: str
    ticket_id: int
    trigger_id: int


@dataclass
class Rules:
    """Webhooks (with their signing secrets), triggers and trigger categories."""

    store: ZendeskStore
    webhooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    triggers: dict[int, dict[str, Any]] = field(default_factory=dict)
    categories: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Some accounts have no trigger categories: every category endpoint answers 403
    # TriggerCategoriesNotEnabled (List / Create Ticket Trigger Categories in the OpenAPI spec,
    # https://developer.zendesk.com/api-reference/ticketing/business-rules/trigger_categories/).
    categories_enabled: bool = True
    # The account's admin objects (connector.sandbox.zendesk_admin.ZendeskAdmin): they check the
    # group / schedule an action names, keep set_schedule's choice and apply the SLA policy
    # after each trigger cycle.
    admin: Any = None

    def __post_init__(self) -> None:
        self._category_ids = itertools.count(10001)
        # New accounts come with a default trigger category ("Notifications").
        self.create_category({"trigger_category": {"name": "Notifications", "position": 0}})

    # ------------------------------------------------------------------ webhooks

    def create_webhook(self, payload: Any) -> dict[str, Any]:
        data = _webhook_body(payload)
        for required in ("name", "endpoint", "http_method", "request_format", "status"):
            if required not in data:
                raise webhook_error(
                    400,
                    "InvalidInput",
                    "Invalid input",
                    f"{required} is required",
                    f"/webhook/{required}",
                )
        webhook_id = _ulid()
        now = iso(self.store.now())
        webhook: dict[str, Any] = {
            "id": webhook_id,
            "name": None,
            "description": None,
            "status": "active",
            "endpoint": None,
            "http_method": "POST",
            "request_format": "json",
            "subscriptions": [],
            "created_at": now,
            "created_by": str(self.store.api_user_id),
            "updated_at": now,
            "updated_by": str(self.store.api_user_id),
        }
        webhook.update(_checked_webhook_fields(data))
        self.webhooks[webhook_id] = webhook
        # Zendesk generates the signing secret; the creator reads it through
        # GET /api/v2/webhooks/{id}/signing_secret.
        self.secrets[webhook_id] = secrets.token_urlsafe(32)
        return webhook

    def webhook(self, webhook_id: str) -> dict[str, Any]:
        if webhook_id not in self.webhooks:
            raise webhook_error(404, "RecordNotFound", "Not Found", "Webhook not found")
        return self.webhooks[webhook_id]

    def update_webhook(self, webhook_id: str, payload: Any, *, replace: bool) -> None:
        webhook = self.webhook(webhook_id)
        data = _webhook_body(payload)
        checked = _checked_webhook_fields(data)
        if replace:
            for optional in ("authentication", "custom_headers", "description"):
                if optional not in checked:
                    webhook.pop(optional, None)
        webhook.update(checked)
        webhook["updated_at"] = iso(self.store.now())
        webhook["updated_by"] = str(self.store.api_user_id)

    def delete_webhook(self, webhook_id: str) -> None:
        self.webhook(webhook_id)
        del self.webhooks[webhook_id]
        del self.secrets[webhook_id]

    def reset_secret(self, webhook_id: str) -> str:
        self.webhook(webhook_id)
        self.secrets[webhook_id] = secrets.token_urlsafe(32)
        return self.secrets[webhook_id]

    # ------------------------------------------------------------------ categories

    def _require_categories(self) -> None:
        if not self.categories_enabled:
            raise ZendeskError(403, {"errors": [{
                "code": "TriggerCategoriesNotEnabled",
                "title": "Ticket trigger categories are not enabled for your account"}]})

    def create_category(self, payload: Any) -> dict[str, Any]:
        self._require_categories()
        data = payload.get("trigger_category") if isinstance(payload, dict) else None
        if not isinstance(data, dict):
            raise _category_error("trigger_category is required")
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _category_error("name is required", "/trigger_category/name")
        position = data.get("position", len(self.categories))
        if isinstance(position, bool) or not isinstance(position, int):
            raise _category_error("position must be an integer", "/trigger_category/position")
        now = iso(self.store.now())
        category: dict[str, Any] = {
            "id": str(next(self._category_ids)),
            "name": name,
            "position": position,
            "created_at": now,
            "updated_at": now,
        }
        self.categories[category["id"]] = category
        return category

    def category(self, category_id: str) -> dict[str, Any]:
        self._require_categories()
        if category_id not in self.categories:
            raise webhook_error(
                404, "TriggerCategoryNotFound", "Not Found", "Trigger category not found"
            )
        return self.categories[category_id]

    def update_category(self, category_id: str, payload: Any) -> dict[str, Any]:
        category = self.category(category_id)
        data = payload.get("trigger_category") if isinstance(payload, dict) else None
        if not isinstance(data, dict):
            raise _category_error("trigger_category is required")
        if "name" in data:
            if not isinstance(data["name"], str) or not data["name"].strip():
                raise _category_error("name is invalid", "/trigger_category/name")
            category["name"] = data["name"]
        if "position" in data:
            if isinstance(data["position"], bool) or not isinstance(data["position"], int):
                raise _category_error("position must be an integer", "/trigger_category/position")
            category["position"] = data["position"]
        category["updated_at"] = iso(self.store.now())
        return category

    def delete_category(self, category_id: str) -> None:
        self.category(category_id)
        if any(t["category_id"] == category_id for t in self.triggers.values()):
            # A category must be empty before it can go.
            raise webhook_error(
                400,
                "CategoryNotEmpty",
                "Category not empty",
                "Trigger category has triggers and cannot be deleted",
            )
        del self.categories[category_id]

    def counted_categories(self) -> list[dict[str, Any]]:
        self._require_categories()
        out = []
        for category in sorted(self.categories.values(), key=lambda c: (c["position"], c["id"])):
            members = [t for t in self.triggers.values() if t["category_id"] == category["id"]]
            active = sum(1 for t in members if t["active"])
            out.append(
                {**category, "active_count": active, "inactive_count": len(members) - active}
            )
        return out

    # ------------------------------------------------------------------ triggers

    def create_trigger(self, payload: Any) -> dict[str, Any]:
        data = _trigger_body(payload)
        if "category" in data and "category_id" not in data:
            category = self.create_category({"trigger_category": data["category"]})
            data = {**data, "category_id": category["id"]}
        checked = self._checked_trigger(data, creating=True)
        now = iso(self.store.now())
        trigger_id = self.store.next_id()
        trigger = {
            "id": trigger_id,
            "title": checked["title"],
            "raw_title": checked["title"],
            "description": None,
            "active": True,
            "default": False,
            "position": len(self.triggers) + 1,
            "category_id": (
                min(self.categories, key=lambda c: self.categories[c]["position"])
                if self.categories_enabled and self.categories
                else None
            ),
            "conditions": {"all": [], "any": []},
            "actions": [],
            "created_at": now,
            "updated_at": now,
        }
        trigger.update(checked)
        self.triggers[trigger_id] = trigger
        return trigger

    def trigger(self, trigger_id: int) -> dict[str, Any]:
        if trigger_id not in self.triggers:
            raise ZendeskError(404, {"error": "RecordNotFound", "description": "Not found"})
        return self.triggers[trigger_id]

    def update_trigger(self, trigger_id: int, payload: Any) -> dict[str, Any]:
        trigger = self.trigger(trigger_id)
        checked = self._checked_trigger(_trigger_body(payload), creating=False)
        # A PUT replaces conditions and actions entirely (no merge).
        trigger.update(checked)
        trigger["updated_at"] = iso(self.store.now())
        return trigger

    def delete_trigger(self, trigger_id: int) -> None:
        self.trigger(trigger_id)
        del self.triggers[trigger_id]

    def ordered_triggers(self) -> list[dict[str, Any]]:
        def key(t: dict[str, Any]) -> tuple[int, int, int]:
            category = self.categories.get(t["category_id"])
            return (category["position"] if category else 0, t["position"], t["id"])

        return sorted(self.triggers.values(), key=key)

    def _checked_trigger(self, data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if creating or "title" in data:
            title = data.get("title")
            if not isinstance(title, str) or not title.strip():
                raise invalid("title", "Title: cannot be blank", "BlankValue")
            out["title"] = out["raw_title"] = title
        for flag in ("active",):
            if flag in data:
                if not isinstance(data[flag], bool):
                    raise invalid(flag, f"{flag}: is invalid")
                out[flag] = data[flag]
        if "position" in data:
            if isinstance(data["position"], bool) or not isinstance(data["position"], int):
                raise invalid("position", "Position: is invalid")
            out["position"] = data["position"]
        if "description" in data:
            if data["description"] is not None and not isinstance(data["description"], str):
                raise invalid("description", "Description: is invalid")
            out["description"] = data["description"]
        if data.get("category_id") is not None:
            # Without categories a trigger naming one is refused the same way
            # (../shared/docs/reference/zendesk.md: "create the trigger without category_id").
            self._require_categories()
            category_id = str(data["category_id"])
            if category_id not in self.categories:
                raise invalid("category_id", "Category: trigger category not found")
            out["category_id"] = category_id
        if creating or "conditions" in data:
            out["conditions"] = self._checked_conditions(data.get("conditions"))
        if creating or "actions" in data:
            out["actions"] = self._checked_actions(data.get("actions"))
        return out

    def _checked_conditions(self, conditions: Any) -> dict[str, list[dict[str, Any]]]:
        if not isinstance(conditions, dict):
            raise invalid("conditions", "Conditions: cannot be blank", "BlankValue")
        out: dict[str, list[dict[str, Any]]] = {"all": [], "any": []}
        for group in ("all", "any"):
            items = conditions.get(group) or []
            if not isinstance(items, list):
                raise invalid("conditions", f"Conditions: {group} must be a list")
            for cond in items:
                if not isinstance(cond, dict) or not isinstance(cond.get("field"), str):
                    raise invalid("conditions", "Conditions: each needs a field")
                name, operator = cond["field"], cond.get("operator", "is")
                if name not in CONDITION_FIELDS:
                    raise invalid(
                        "conditions",
                        f"Conditions: {name} is not supported by the sandbox "
                        f"(it evaluates {', '.join(sorted(CONDITION_FIELDS))})",
                    )
                if operator not in CONDITION_FIELDS[name]:
                    raise invalid("conditions", f"Conditions: {operator} is invalid for {name}")
                value = cond.get("value")
                if value is not None and not isinstance(value, str | int | list):
                    raise invalid("conditions", f"Conditions: value of {name} is invalid")
                out[group].append({"field": name, "operator": operator, "value": value})
        if not out["all"] and not out["any"]:
            raise invalid("conditions", "Conditions: cannot be blank", "BlankValue")
        return out

    def _checked_actions(self, actions: Any) -> list[dict[str, Any]]:
        if not isinstance(actions, list) or not actions:
            raise invalid("actions", "Actions: cannot be blank", "BlankValue")
        out = []
        for action in actions:
            if not isinstance(action, dict) or action.get("field") not in ACTION_FIELDS:
                name = action.get("field") if isinstance(action, dict) else action
                raise invalid(
                    "actions",
                    f"Actions: {name} is not supported by the sandbox "
                    f"(it runs {', '.join(ACTION_FIELDS)})",
                )
            value = action.get("value")
            if action["field"] == "notification_webhook":
                # The spec types ActionObject.value as a string; webhook actions take
                # [webhook_id, body] (reference doc, and the real API).
                if not (
                    isinstance(value, list)
                    and len(value) == 2
                    and all(isinstance(v, str) for v in value)
                ):
                    raise invalid(
                        "actions",
                        "Actions: notification_webhook needs [webhook_id, JSON body string]",
                    )
                if value[0] not in self.webhooks:
                    raise invalid("actions", f"Actions: webhook {value[0]} not found")
            elif not isinstance(value, str | int | list):
                raise invalid("actions", f"Actions: value of {action['field']} is invalid")
            if action["field"] in ("group_id", "set_schedule") and self.admin is not None:
                self.admin.check_rule_action(action["field"], value)
            out.append({"field": action["field"], "value": value})
        return out

    # ------------------------------------------------------------------ the trigger run

    def run_triggers(self, ticket_id: int, ctx: UpdateContext) -> list[WebhookCall]:
        """Run the trigger cycle for one update; returns the webhooks to deliver (after commit)."""
        store = self.store
        ticket = store.tickets[ticket_id]
        fired: set[int] = set()
        calls: list[WebhookCall] = []
        restart = True
        while restart:
            restart = False
            for trigger in self.ordered_triggers():
                if not trigger["active"] or trigger["id"] in fired:
                    continue
                if not self._conditions_hold(trigger["conditions"], ticket, ctx):
                    continue
                fired.add(trigger["id"])
                changed = self._apply_actions(trigger, ticket, ctx, calls)
                if changed:
                    restart = True  # Zendesk re-checks the remaining triggers from the top
                    break
        if self.admin is not None:
            self.admin.after_triggers(ticket_id, ctx)  # SLA policies apply after the triggers
        return calls

    def _conditions_hold(
        self, conditions: dict[str, Any], ticket: dict[str, Any], ctx: UpdateContext
    ) -> bool:
        all_ok = all(self._condition(c, ticket, ctx) for c in conditions.get("all") or [])
        anys = conditions.get("any") or []
        return all_ok and (not anys or any(self._condition(c, ticket, ctx) for c in anys))

    def _condition(self, cond: dict[str, Any], ticket: dict[str, Any], ctx: UpdateContext) -> bool:
        name, op, value = cond["field"], cond["operator"], cond.get("value")
        text = "" if value is None else str(value)
        if name == "update_type":
            return (ctx.update_type == text) == (op == "is")
        if name == "comment_is_public":
            comment = ctx.comment
            if text == "not_relevant":  # "Comment is present (public or private)"
                hit = comment is not None
            elif text in ("true", "requester_can_see_comment"):
                hit = comment is not None and bool(comment["public"])
            else:  # "false": a private comment
                hit = comment is not None and not comment["public"]
            return hit == (op == "is")
        if name == "role":
            role = _ROLES[self.store.role_of(ctx.actor.user_id)]
            return (role == text) == (op == "is")
        if name == "current_via_id":
            return (str(ctx.actor.via_id) == text) == (op == "is")
        if name == "via_id":
            created_via = 5 if ticket["via"]["channel"] == "api" else 0
            return (str(created_via) == text) == (op == "is")
        if name == "current_tags":
            wanted = set(normalize_tags(value if isinstance(value, list) else text))
            present = bool(wanted & set(ticket["tags"]))
            return present if op == "includes" else not present
        return _ordered(name, op, text, ticket, ctx)

    def _apply_actions(
        self,
        trigger: dict[str, Any],
        ticket: dict[str, Any],
        ctx: UpdateContext,
        calls: list[WebhookCall],
    ) -> bool:
        store = self.store
        rule_via = {
            "channel": "rule",
            "source": {
                "from": {"id": trigger["id"], "title": trigger["title"], "deleted": False},
                "to": {},
                "rel": "trigger",
            },
        }
        changed = False
        for action in trigger["actions"]:
            name, value = action["field"], action["value"]
            if name == "notification_webhook":
                body = render_placeholders(value[1], store, ticket, ctx)
                calls.append(WebhookCall(value[0], body, ticket["id"], trigger["id"]))
                continue
            if name in ("notification_user", "notification_group"):
                continue  # e-mail notifications are not simulated
            if name == "set_schedule":
                if self.admin is not None:
                    self.admin.set_schedule(ticket["id"], value)
                continue
            new: Any
            target = name
            if name in ("add_tags", "remove_tags", "set_tags"):
                tags = normalize_tags(value if isinstance(value, list) else str(value))
                target = "tags"
                if name == "add_tags":
                    new = ticket["tags"] + [t for t in tags if t not in ticket["tags"]]
                elif name == "remove_tags":
                    new = [t for t in ticket["tags"] if t not in tags]
                else:
                    new = tags
            elif name in ("assignee_id", "group_id"):
                new = ctx.actor.user_id if value == "current_user" else as_id(value)
            else:
                allowed = {"status": STATUSES, "priority": PRIORITIES, "type": TYPES}[name]
                new = str(value).lower()
                if new not in allowed:
                    continue
            if ticket[target] == new:
                continue
            event = store._event("Change", target, new, ticket[target])
            event["via"] = rule_via
            ctx.audit["events"].append(event)
            ticket[target] = new
            changed = True
        if changed:
            store.touch(ticket)
            if ctx.audit not in store.audits[ticket["id"]]:
                store.audits[ticket["id"]].append(ctx.audit)
        return changed


def _ordered(name: str, op: str, text: str, ticket: dict[str, Any], ctx: UpdateContext) -> bool:
    current = ticket[name] or ""
    created = ctx.update_type == "Create"
    previous = None if created else (ctx.before.get(name) or "")
    changed = created or previous != current
    order = _ORDER.get(name)
    if op == "is":
        return current == text
    if op == "is_not":
        return current != text
    if op in ("less_than", "greater_than"):
        if order is None or text not in order or current not in order:
            return False
        delta = order.index(current) - order.index(text)
        return delta < 0 if op == "less_than" else delta > 0
    if op == "changed":
        return changed
    if op == "not_changed":
        return not changed
    if op == "value":  # "changed to"
        return changed and current == text
    if op == "value_previous":  # "changed from"
        return changed and previous == text
    if op == "not_value":
        return not (changed and current == text)
    if op == "not_value_previous":
        return not (changed and previous == text)
    return False


def render_placeholders(
    template: str, store: ZendeskStore, ticket: dict[str, Any], ctx: UpdateContext
) -> str:
    """Fill ``{{ticket.id}}``-style placeholders as Zendesk's Liquid does.

    Values go in verbatim, not JSON-escaped: a comment with a quote breaks a JSON body in Zendesk
    too, which is why the connector sends ids only and fetches the text by API. Unknown
    placeholders render empty, like Liquid's undefined variables. Placeholders reference:
    https://support.zendesk.com/hc/en-us/articles/4408886858138
    """
    requester = store.users.get(ticket["requester_id"], {})
    assignee = store.users.get(ticket["assignee_id"] or -1, {})
    current = store.users.get(ctx.actor.user_id, {})
    public = [c for c in store.comments[ticket["id"]] if c["public"]]
    latest = public[-1] if public else None
    values: dict[str, Any] = {
        "ticket.id": ticket["id"],
        "ticket.title": ticket["subject"],
        "ticket.description": ticket["description"],
        "ticket.status": (ticket["status"] or "").title(),
        "ticket.priority": (ticket["priority"] or "").title(),
        "ticket.ticket_type": (ticket["type"] or "").title(),
        "ticket.tags": " ".join(ticket["tags"]),
        "ticket.external_id": ticket["external_id"] or "",
        "ticket.via": _VIA_NAMES.get(5 if ticket["via"]["channel"] == "api" else 0, ""),
        "ticket.url": f"{_host(store)}/agent/tickets/{ticket['id']}",
        "ticket.link": f"{store.base_url.rstrip('/')}/agent/tickets/{ticket['id']}",
        "ticket.created_at_with_timestamp": ticket["created_at"],
        "ticket.updated_at_with_timestamp": ticket["updated_at"],
        "ticket.latest_comment": latest["body"] if latest else "",
        "ticket.latest_comment_html": latest["html_body"] if latest else "",
        "ticket.latest_public_comment": latest["body"] if latest else "",
        "ticket.requester.id": requester.get("id", ""),
        "ticket.requester.name": requester.get("name", ""),
        "ticket.requester.email": requester.get("email") or "",
        "ticket.requester.phone": requester.get("phone") or "",
        "ticket.requester.external_id": requester.get("external_id") or "",
        "ticket.assignee.id": assignee.get("id", ""),
        "ticket.assignee.name": assignee.get("name", ""),
        "current_user.id": current.get("id", ""),
        "current_user.name": current.get("name", ""),
        "current_user.email": current.get("email") or "",
        "current_user.role": _ROLES.get(current.get("role", ""), ""),
        "ticket.current_via_id": ctx.actor.via_id,
    }
    return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), "")), template)


def _host(store: ZendeskStore) -> str:
    return urlsplit(store.base_url).netloc or f"{store.subdomain}.zendesk.com"


def _webhook_body(payload: Any) -> dict[str, Any]:
    data = payload.get("webhook") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        raise webhook_error(400, "InvalidInput", "Invalid input", "webhook is required", "/webhook")
    return data


def _trigger_body(payload: Any) -> dict[str, Any]:
    data = payload.get("trigger") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        raise ZendeskError(
            400,
            {
                "error": "ParameterMissing",
                "description": "param is missing or the value is empty: trigger",
            },
        )
    return data


def _checked_webhook_fields(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def bad(name: str, detail: str) -> ZendeskError:
        return webhook_error(400, "InvalidInput", "Invalid input", detail, f"/webhook/{name}")

    for name in ("name", "description"):
        if name in data:
            if not isinstance(data[name], str) or (name == "name" and not data[name].strip()):
                raise bad(name, f"{name} must be a non-empty string")
            out[name] = data[name]
    if "endpoint" in data:
        endpoint = data["endpoint"]
        parts = urlsplit(endpoint) if isinstance(endpoint, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise bad("endpoint", "endpoint must be an http(s) URL")
        out["endpoint"] = endpoint
    choices = {
        "http_method": WEBHOOK_METHODS,
        "request_format": WEBHOOK_FORMATS,
        "status": ("active", "inactive"),
    }
    for name, allowed in choices.items():
        if name in data:
            if data[name] not in allowed:
                raise bad(name, f"{name} must be one of {', '.join(allowed)}")
            out[name] = data[name]
    if "subscriptions" in data:
        subs = data["subscriptions"]
        if not isinstance(subs, list) or not all(isinstance(s, str) for s in subs):
            raise bad("subscriptions", "subscriptions must be a list of strings")
        out["subscriptions"] = subs
    if "authentication" in data and data["authentication"] is not None:
        auth = data["authentication"]
        if (
            not isinstance(auth, dict)
            or auth.get("type") not in ("basic_auth", "bearer_token", "api_key")
            or not isinstance(auth.get("data"), dict)
        ):
            raise bad("authentication", "authentication needs type and data")
        out["authentication"] = {
            "type": auth["type"],
            "add_position": auth.get("add_position", "header"),
            "data": auth["data"],
        }
    if "custom_headers" in data:
        headers = data["custom_headers"]
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise bad("custom_headers", "custom_headers must map names to strings")
        out["custom_headers"] = headers
    return out


def public_webhook(webhook: dict[str, Any]) -> dict[str, Any]:
    """A webhook as the API shows it: credentials are never echoed back."""
    out = dict(webhook)
    auth = out.get("authentication")
    if auth:
        out["authentication"] = {"type": auth["type"], "add_position": auth["add_position"]}
    return out


def dumps_body(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


__all__ = [
    "ACTION_FIELDS",
    "CONDITION_FIELDS",
    "Rules",
    "WebhookCall",
    "public_webhook",
    "record_invalid",
    "render_placeholders",
]


def _category_error(detail: str, pointer: str | None = None) -> ZendeskError:
    """Zendesk's 400 for a trigger category it cannot accept."""
    return webhook_error(400, "InvalidTriggerCategory", "Invalid trigger category", detail, pointer)

"""Automation rules of the Freshdesk stand-in (``/api/v2/automations/{type}/rules``) and their run.

Rule types (reference doc, "Automation rules"): 1 ticket creation, 3 hourly time triggers (run
on demand by ``run_time_triggers``: ``POST /_sandbox/automations/run``), 4 ticket updates.
Body ``{name, position, active, conditions: [{name: "condition_set_1", match_type:
"all"|"any", properties: [{resource_type: "ticket", field_name, operator, value}]}], operator?,
actions}``; type 4 adds ``performer {type: 1 agent | 2 requester | 3 agent or requester |
4 system, members?}`` and ``events``.

How a rule runs here:

- type 1 after a ticket is created: the first active rule (by position) whose conditions hold
  fires. Guess: Freshdesk lets an admin choose "first matching" or "all matching" for ticket
  creation rules; the sandbox uses the first, the stricter case for a client that relies on two.
- type 4 after an update, API or UI: every active rule whose performer matches who made the
  change, one of whose events happened, and whose conditions hold, fires. Changes made by rule
  actions set off no further rules (Guess: Freshdesk runs observers for "system" changes only
  with performer type 4, which the sandbox does not raise).
- type 3 when asked (Freshdesk's supervisor scans each account once an hour): every active rule
  with conditions, in position order, acts on every ticket (not deleted or spam, updated in the
  last 30 days) whose conditions hold at the sandbox clock, unless the rule's actions would
  change none of status / priority / type / agent / group / product (server code (2020),
  Admin::SupervisorWorker#perform with VaRule#negation_query and the DEFAULT_NEGATABLE_COLUMS
  of config/virtual_agent.yml). So a rule that only tags or calls a webhook fires again every
  hour while its conditions hold; ``is`` on an hours field (true for one rounded hour) fires
  once. Hours conditions (``hours_since_created``, ``pending_since``, ``requester_responded_at``
  …) are for type 3 only (server code (2020), Admin::Condition::TicketFieldConstants
  invalid_rule_types [1, 4]) and compare like Va::Handlers::DateTime: ``greater_than N`` is
  "more than N hours ago", ``less_than N`` "less than N hours ago", ``is N`` "N hours ago,
  rounded"; a moment that never happened (not pending, never answered) matches nothing. The
  ticket's moments come from the caller (``connector.sandbox.freshdesk_admin``).
  Not modelled: the server code (2020) also refuses ``tag_names`` in type 3 conditions
  (invalid_rule_types [3]); the sandbox accepts and evaluates it.

``watchers`` are told every change (API, UI, or a rule's action on status / priority / group)
before rules run, so the admin objects can keep the ticket's state timestamps.

Field names are Freshdesk's, as its API server validates them (server code (2020),
``api/app/controllers/constants/admin/…``): tags are ``tag_names`` with ``in`` (any of), ``and``
(all of) and ``not_in`` (none of). A field the sandbox does not know is refused with Freshdesk's
400 ``invalid_field``, the answer the real API gives for a misspelt field, rather than stored and
never matched. ``aliases`` (``create_app(condition_aliases=…)``) can map another name onto a
supported one.

Webhook action ``trigger_webhook``: ``request_type``, ``url``, ``auth_header``
(``{"username", "password"}`` or ``{"api_key"}``), ``custom_headers``, ``content_type`` JSON |
XML | X-FORM-URLENCODED, ``content_layout``, ``content`` with Liquid placeholders
(``{{ticket.id}}`` …), rendered on the way out. Delivery belongs to `connector.sandbox.freshdesk`.

Caller holds ``store.lock`` for every method here.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from connector.sandbox.freshdesk_store import (
    CUSTOM_SOURCES,
    DEFAULT_SOURCES,
    MSG_INVALID_FIELD,
    MSG_MISSING,
    PRIORITIES,
    STATUSES,
    Change,
    FreshdeskStore,
    field_error,
    iso,
    not_found,
    parse_iso,
    validation_failed,
)

RULE_TYPES = {1: "dispatcher", 3: "supervisor", 4: "observer"}
PERFORMER_TYPES = {1: "agent", 2: "requester", 3: "agent_or_requester", 4: "system"}
# Conditions the sandbox evaluates, with their operators (server code (2020):
# TAGS_OPERATOR_MAPPING in: any of, not_in: none of, and: all of; object ids take in / not_in).
CONDITION_FIELDS: dict[str, tuple[str, ...]] = {
    "tag_names": ("in", "not_in", "and"),
    "status": ("in", "not_in"),
    "priority": ("in", "not_in"),
    "source": ("in", "not_in"),
    "group_id": ("in", "not_in"),
    "responder_id": ("in", "not_in"),
    "ticket_type": ("in", "not_in"),
}
# Hours conditions of time triggers (server code (2020), TIME_BASED_FILTERS and
# Va::Constants OPERATOR_TYPES hours: is, greater_than, less_than), type 3 only. The value is a
# whole number of hours.
TIME_FIELDS = ("hours_since_created", "pending_since", "resolved_at", "closed_at", "opened_at",
               "first_assigned_at", "assigned_at", "requester_responded_at",
               "agent_responded_at", "frDueBy", "due_by")
CONDITION_FIELDS.update({name: ("is", "greater_than", "less_than") for name in TIME_FIELDS})
# Fields whose action a time trigger skips when the ticket already has the value
# (server code (2020), config/virtual_agent.yml DEFAULT_NEGATABLE_COLUMS).
NEGATABLE_ACTIONS = ("priority", "ticket_type", "status", "responder_id", "group_id",
                     "product_id")
# The supervisor looks only at tickets updated in the last month (server code (2020):
# ``updated_in(1.month.ago)``).
TIME_TRIGGER_WINDOW = 30 * 86400
# Events of ticket update rules the sandbox raises (server code (2020) EVENT_FIELDS_HASH).
EVENT_FIELDS = ("reply_sent", "note_type", "status", "priority", "group_id", "responder_id",
                "ticket_type")
ACTION_FIELDS = ("trigger_webhook", "add_tag", "status", "priority", "group_id")
WEBHOOK_KEYS = ("field_name", "request_type", "url", "auth_header", "custom_headers",
                "content_type", "content_layout", "content", "resource_type")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")
_ANY = "--"


@dataclass
class WebhookCall:
    """One ``trigger_webhook`` action fired: what to send, and why."""

    rule_id: int
    ticket_id: int
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Rules:
    store: FreshdeskStore
    aliases: Mapping[str, str] = field(default_factory=dict)
    rules: dict[int, dict[str, Any]] = field(default_factory=dict)
    watchers: list[Callable[[Change], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._ids = itertools.count(48_100_000_001)

    # ------------------------------------------------------------------ CRUD

    def of_type(self, rule_type: int) -> list[dict[str, Any]]:
        _check_type(rule_type)
        return sorted((r for r in self.rules.values() if r["automation_type_id"] == rule_type),
                      key=lambda r: (r["position"], r["id"]))

    def get(self, rule_type: int, rule_id: int) -> dict[str, Any]:
        _check_type(rule_type)
        rule = self.rules.get(rule_id)
        if rule is None or rule["automation_type_id"] != rule_type:
            raise not_found()
        return rule

    def create(self, rule_type: int, payload: Any) -> dict[str, Any]:
        _check_type(rule_type)
        checked = self._checked(rule_type, payload, creating=True)
        now = iso(self.store.now())
        rule_id = next(self._ids)
        rule: dict[str, Any] = {
            "name": checked["name"],
            "position": len(self.of_type(rule_type)) + 1,
            "active": True,
            "outdated": False,
            # Rules made through the API belong to no one in particular; the sandbox shows the
            # API key's agent as their last editor.
            "last_updated_by": self.store.api_agent_id,
            "id": rule_id,
            "automation_type_id": rule_type,
            "created_at": now,
            "updated_at": now,
        }
        if rule_type == 4:
            rule.update(performer={}, events=[])
        rule.update(conditions=[], actions=[])
        rule.update(checked)
        self.rules[rule_id] = rule
        return rule

    def update(self, rule_type: int, rule_id: int, payload: Any) -> dict[str, Any]:
        rule = self.get(rule_type, rule_id)
        rule.update(self._checked(rule_type, payload, creating=False))
        rule["updated_at"] = iso(self.store.now())
        return rule

    def delete(self, rule_type: int, rule_id: int) -> None:
        self.get(rule_type, rule_id)
        del self.rules[rule_id]

    # ------------------------------------------------------------------ validation

    def _checked(self, rule_type: int, payload: Any, *, creating: bool) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise validation_failed([field_error("rule", "It should be a/an key/value pair",
                                                 "datatype_mismatch")])
        allowed = {"name", "position", "active", "conditions", "operator", "actions",
                   "description"}
        if rule_type == 4:
            allowed |= {"performer", "events"}
        errors = [field_error(k, MSG_INVALID_FIELD, "invalid_field")
                  for k in payload if k not in allowed]
        out: dict[str, Any] = {}
        required = ["name", "actions"]
        required += ["performer", "events"] if rule_type == 4 else ["conditions"]
        for key in required:
            if creating and not payload.get(key):
                errors.append(field_error(key, MSG_MISSING, "missing_field"))
        if "name" in payload:
            if not isinstance(payload["name"], str) or not payload["name"].strip():
                errors.append(field_error("name", "It should be a/an String",
                                          "datatype_mismatch"))
            out["name"] = payload["name"]
        if "active" in payload:
            if not isinstance(payload["active"], bool):
                errors.append(field_error("active", "It should be a/an Boolean",
                                          "datatype_mismatch"))
            out["active"] = payload["active"]
        if "position" in payload:
            if isinstance(payload["position"], bool) or not isinstance(payload["position"], int):
                errors.append(field_error("position", "Expecting 'Integer' but found "
                                          f"'{type(payload['position']).__name__}'",
                                          "datatype_mismatch"))
            out["position"] = payload["position"]
        if "operator" in payload:
            out["operator"] = payload["operator"]
        if payload.get("performer") is not None:
            out["performer"] = self._performer(payload["performer"], errors)
        if payload.get("events") is not None:
            out["events"] = self._events(payload["events"], errors)
        if payload.get("conditions") is not None:
            out["conditions"] = self._conditions(payload["conditions"], errors, rule_type)
        if payload.get("actions") is not None:
            out["actions"] = self._actions(payload["actions"], errors)
        if errors:
            raise validation_failed(errors)
        return out

    def _performer(self, performer: Any, errors: list[dict[str, Any]]) -> dict[str, Any]:
        if not isinstance(performer, dict):
            errors.append(field_error("performer", "It should be a/an key/value pair",
                                      "datatype_mismatch"))
            return {}
        ptype = _int(performer.get("type"))
        if ptype not in PERFORMER_TYPES:
            errors.append(field_error("performer[:type]", "It should be one of these values: "
                                      "'1,2,3,4'"))
        unknown = [k for k in performer if k not in ("type", "members")]
        errors += [field_error(f"performer[:{k}]", MSG_INVALID_FIELD, "invalid_field")
                   for k in unknown]
        members = performer.get("members")
        if members is not None and (
            not isinstance(members, list) or any(_int(m) not in self.store.agents
                                                 for m in members)):
            errors.append(field_error("performer[:members]",
                                      "There are no records matching the ids"))
        out: dict[str, Any] = {"type": ptype}
        if members:
            out["members"] = [_int(m) for m in members]
        return out

    def _events(self, events: Any, errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not isinstance(events, list) or not events:
            errors.append(field_error("events", "It should be a/an Array", "datatype_mismatch"))
            return []
        out = []
        for event in events:
            name = event.get("field_name") if isinstance(event, dict) else None
            if name not in EVENT_FIELDS:
                errors.append(field_error(f"events[:{name}]", MSG_INVALID_FIELD,
                                          "invalid_field"))
                continue
            assert isinstance(event, dict)
            if name == "note_type" and event.get("value", _ANY) not in ("public", "private",
                                                                         _ANY):
                errors.append(field_error("events[:note_type]", "It should be one of these "
                                          "values: 'public,private,--'"))
            out.append({k: v for k, v in event.items()
                        if k in ("field_name", "from", "to", "value")})
        return out

    def _conditions(self, sets: Any, errors: list[dict[str, Any]],
                    rule_type: int) -> list[dict[str, Any]]:
        if not isinstance(sets, list):
            errors.append(field_error("conditions", "It should be a/an Array",
                                      "datatype_mismatch"))
            return []
        out = []
        for index, cset in enumerate(sets, start=1):
            where = f"conditions[:condition_set_{index}]"
            if not isinstance(cset, dict) or not isinstance(cset.get("properties"), list):
                errors.append(field_error(where, "It should be a/an key/value pair",
                                          "datatype_mismatch"))
                continue
            match_type = cset.get("match_type", "all")
            if match_type not in ("all", "any"):
                errors.append(field_error(f"{where}[:match_type]",
                                          "It should be one of these values: 'all,any'"))
            props = []
            for prop in cset["properties"]:
                if not isinstance(prop, dict):
                    errors.append(field_error(where, "It should be a/an key/value pair",
                                              "datatype_mismatch"))
                    continue
                resource = prop.get("resource_type", "ticket")
                name = prop.get("field_name")
                field_name = self.aliases.get(str(name), name)
                if resource != "ticket" or field_name not in CONDITION_FIELDS or (
                        field_name in TIME_FIELDS and rule_type != 3):
                    # What Freshdesk answers for a field it does not know (server code (2020),
                    # Admin::ConditionErrorHelper#unexpected_parameter: invalid_field).
                    errors.append(field_error(f"{where}[:{resource}][:{name}]",
                                              MSG_INVALID_FIELD, "invalid_field"))
                    continue
                operator = prop.get("operator")
                if operator not in CONDITION_FIELDS[field_name]:
                    ops = ",".join(CONDITION_FIELDS[field_name])
                    errors.append(field_error(f"{where}[:{resource}][:{name}][:operator]",
                                              f"It should be one of these values: '{ops}'"))
                    continue
                value = prop.get("value")
                values = value if isinstance(value, list) else [value]
                if field_name == "tag_names" and not all(isinstance(v, str) for v in values):
                    errors.append(field_error(f"{where}[:{resource}][:{name}][:value]",
                                              "Expecting 'String' but found 'invalid'",
                                              "datatype_mismatch"))
                    continue
                if field_name in TIME_FIELDS and (_int(value) is None or isinstance(value, list)):
                    errors.append(field_error(f"{where}[:{resource}][:{name}][:value]",
                                              "It should be a/an Integer",
                                              "datatype_mismatch"))
                    continue
                props.append({"resource_type": "ticket", "field_name": name,
                              "operator": operator, "value": value})
            out.append({"name": cset.get("name", f"condition_set_{index}"),
                        "match_type": match_type, "properties": props})
        return out

    def _actions(self, actions: Any, errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not isinstance(actions, list) or not actions:
            errors.append(field_error("actions", "It should be a/an Array", "datatype_mismatch"))
            return []
        out = []
        for action in actions:
            name = action.get("field_name") if isinstance(action, dict) else None
            if name not in ACTION_FIELDS:
                errors.append(field_error(f"actions[:{name}]", MSG_INVALID_FIELD,
                                          "invalid_field"))
                continue
            assert isinstance(action, dict)
            if name == "trigger_webhook":
                self._check_webhook(action, errors)
            elif "value" not in action:
                errors.append(field_error(f"actions[:{name}]", "Expecting these field 'value' "
                                          f"present for request parameter '{name}'",
                                          "missing_field"))
            out.append(dict(action))
        return out

    @staticmethod
    def _check_webhook(action: dict[str, Any], errors: list[dict[str, Any]]) -> None:
        """The checks of the server code (2020), Admin::Automation::ActionHelper#validate_webhook:
        known keys only, a url, and for POST / PUT / PATCH a content_type, content_layout and
        content."""
        where = "actions[:trigger_webhook]"
        errors += [field_error(f"{where}[:{k}]", MSG_INVALID_FIELD, "invalid_field")
                   for k in action if k not in WEBHOOK_KEYS]
        url = action.get("url")
        if not isinstance(url, str) or not re.match(r"https?://[^/\s]+", url):
            errors.append(field_error(f"{where}[:url]", "It should be a valid URL",
                                      "missing_field" if url is None else "invalid_value"))
        method = action.get("request_type")
        if method not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            errors.append(field_error(f"{where}[:request_type]", "It should be one of these "
                                      "values: 'GET,POST,PUT,PATCH,DELETE'"))
        elif method in ("POST", "PUT", "PATCH"):
            for key in ("content_type", "content_layout", "content"):
                if key not in action:
                    errors.append(field_error(f"{where}[:{key}]", MSG_MISSING, "missing_field"))
            if action.get("content_type", "JSON") not in ("JSON", "XML", "X-FORM-URLENCODED"):
                errors.append(field_error(f"{where}[:content_type]", "It should be one of "
                                          "these values: 'JSON,XML,X-FORM-URLENCODED'"))
        headers = action.get("custom_headers")
        if headers is not None and not (
            isinstance(headers, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
        ):
            errors.append(field_error(f"{where}[:custom_headers]", "Expecting 'JSON' but found "
                                      "'invalid'", "datatype_mismatch"))
        auth = action.get("auth_header")
        if auth is not None and not (
            isinstance(auth, dict) and auth and set(auth) <= {"username", "password", "api_key"}
            and not ("api_key" in auth and "username" in auth)
        ):
            errors.append(field_error(f"{where}[:auth_header]", "It should be one of these "
                                      "values: 'username,password,api_key'"))

    # ------------------------------------------------------------------ the run

    def run(self, change: Change) -> list[WebhookCall]:
        """Fire the rules ``change`` sets off; returns the webhooks to send (after commit)."""
        self._notify(change)
        ticket = self.store.tickets[change.ticket_id]
        calls: list[WebhookCall] = []
        if change.kind == "create":
            for rule in self.of_type(1):
                if rule["active"] and self._conditions_hold(rule, ticket):
                    self._act(rule, ticket, change, calls)
                    break
            return calls
        for rule in self.of_type(4):
            if not rule["active"] or not self._performer_matches(rule, change):
                continue
            if not any(_event_matches(e, change) for e in rule["events"]):
                continue
            if self._conditions_hold(rule, ticket):
                self._act(rule, ticket, change, calls)
        return calls

    def _notify(self, change: Change) -> None:
        for watcher in self.watchers:
            watcher(change)

    def run_time_triggers(
        self, moments: Callable[[dict[str, Any]], Mapping[str, float | None]],
    ) -> tuple[list[WebhookCall], list[dict[str, Any]]]:
        """One hourly scan at the store's clock: every active type 3 rule, by position, on
        every ticket it applies to. ``moments(ticket)`` gives the times the hours conditions
        read (epoch seconds or None). Returns the webhooks to send and, per rule, the tickets
        it acted on."""
        now = self.store.now()
        calls: list[WebhookCall] = []
        report: list[dict[str, Any]] = []
        for rule in self.of_type(3):
            if not rule["active"] or not any(s["properties"] for s in rule["conditions"]):
                continue  # a rule without conditions is skipped (``next if conditions.empty?``)
            acted = []
            for ticket in list(self.store.tickets.values()):
                if ticket["deleted"] or ticket.get("spam"):
                    continue
                if (parse_iso(ticket["updated_at"]) or 0) < now - TIME_TRIGGER_WINDOW:
                    continue
                if not self._conditions_hold(rule, ticket, moments(ticket), now):
                    continue
                if not _would_change(rule, ticket):
                    continue
                before = {k: ticket[k] for k in ("status", "priority", "group_id")}
                tags = list(ticket["tags"])
                self._act(rule, ticket, Change("update", ticket["id"], 0), calls)
                if tags != ticket["tags"] or any(ticket[k] != v for k, v in before.items()):
                    self.store.touch(ticket)
                acted.append(ticket["id"])
            report.append({"rule_id": rule["id"], "name": rule["name"], "ticket_ids": acted})
        return calls, report

    def _performer_matches(self, rule: dict[str, Any], change: Change) -> bool:
        performer = rule.get("performer") or {}
        ptype = performer.get("type")
        is_agent = self.store.is_agent(change.performer_id)
        if ptype == 1:
            members = performer.get("members")
            return is_agent and (not members or change.performer_id in members)
        if ptype == 2:
            # "Requester": the ticket's requester (Guess: another contact adding a public note
            # counts as neither agent nor requester).
            ticket = self.store.tickets[change.ticket_id]
            return change.performer_id == ticket["requester_id"]
        if ptype == 3:
            ticket = self.store.tickets[change.ticket_id]
            return is_agent or change.performer_id == ticket["requester_id"]
        return False  # 4, system: the sandbox raises no system events

    def _conditions_hold(self, rule: dict[str, Any], ticket: dict[str, Any],
                         moments: Mapping[str, float | None] | None = None,
                         now: float = 0.0) -> bool:
        sets = rule.get("conditions") or []
        if not sets:
            return True
        results = []
        for cset in sets:
            checks = [self._condition(p, ticket, moments, now) for p in cset["properties"]]
            if not checks:
                results.append(True)
            elif cset["match_type"] == "any":
                results.append(any(checks))
            else:
                results.append(all(checks))
        # Two condition sets combine with the rule's ``operator`` ("condition_set_1 and
        # condition_set_2" / "or"); one set needs none.
        if len(results) > 1 and " or " in str(rule.get("operator", "")).lower():
            return any(results)
        return all(results)

    def _condition(self, prop: dict[str, Any], ticket: dict[str, Any],
                   moments: Mapping[str, float | None] | None = None, now: float = 0.0) -> bool:
        name = self.aliases.get(str(prop["field_name"]), prop["field_name"])
        op, value = prop["operator"], prop["value"]
        if name in TIME_FIELDS:
            at = (moments or {}).get(name)
            hours = _int(value)
            if at is None or hours is None:
                return False  # SQL: a NULL time compares false
            if op == "is":
                # round((now - at) / 3600) = N, MySQL rounding half away from zero
                return math.floor((now - at) / 3600 + 0.5) == hours
            if op == "greater_than":
                return at < now - hours * 3600
            return at > now - hours * 3600
        values = value if isinstance(value, list) else [value]
        if name == "tag_names":
            # Freshdesk compares tags without regard to case (Guess: tags are case-insensitive in
            # the UI, where "SMS" and "sms" are one tag).
            wanted = {str(v).lower() for v in values}
            present = {t.lower() for t in ticket["tags"]}
            if op == "in":
                return bool(wanted & present)
            if op == "and":
                return wanted <= present
            return not wanted & present
        current = ticket["type" if name == "ticket_type" else name]
        hit = any(str(v) == str(current) for v in values)
        return hit if op == "in" else not hit

    def _act(self, rule: dict[str, Any], ticket: dict[str, Any], change: Change,
             calls: list[WebhookCall]) -> None:
        for action in rule["actions"]:
            name = action["field_name"]
            if name == "trigger_webhook":
                calls.append(self._webhook(rule, action, ticket, change))
            elif name == "add_tag":
                tags = action["value"] if isinstance(action["value"], list) else [action["value"]]
                ticket["tags"] += [str(t) for t in tags if str(t) not in ticket["tags"]]
            elif name in ("status", "priority", "group_id"):
                value = _int(action["value"])
                allowed = (value in STATUSES if name == "status"
                           else value in PRIORITIES if name == "priority"
                           else value is not None and value > 0)
                if allowed and ticket[name] != value:
                    old, ticket[name] = ticket[name], value
                    # Not a rule event (rules set off no rules), but the ticket's state
                    # timestamps (pending since, resolved at …) move.
                    self._notify(Change("update", ticket["id"], change.performer_id,
                                        [{"field_name": name, "from": old, "to": value}]))

    def _webhook(self, rule: dict[str, Any], action: dict[str, Any], ticket: dict[str, Any],
                 change: Change) -> WebhookCall:
        values = self.placeholder_values(ticket, change)
        content = action.get("content")
        content_type = action.get("content_type", "JSON")
        headers = dict(action.get("custom_headers") or {})
        body = b""
        if content is not None:
            rendered = _render(content, values)
            if content_type == "JSON":
                body = (rendered if isinstance(rendered, str)
                        else json.dumps(rendered)).encode()
                headers.setdefault("Content-Type", "application/json")
            elif content_type == "X-FORM-URLENCODED":
                pairs = rendered if isinstance(rendered, dict) else {}
                body = urlencode({k: str(v) for k, v in pairs.items()}).encode()
                headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
            else:
                body = str(rendered).encode()
                headers.setdefault("Content-Type", "application/xml")
        auth = action.get("auth_header") or {}
        if auth:
            # Guess: an api_key is sent the way Freshdesk's own API takes one (Basic, key as
            # user name, "X" as password).
            user, password = ((auth["api_key"], "X") if "api_key" in auth
                              else (auth.get("username", ""), auth.get("password", "")))
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        return WebhookCall(rule["id"], ticket["id"], action.get("request_type", "POST"),
                           action["url"], headers, body)

    def placeholder_values(self, ticket: dict[str, Any], change: Change) -> dict[str, Any]:
        """Liquid placeholders as Freshdesk's ticket drop renders them (server code (2020),
        app/drops/helpdesk/ticket_drop.rb): ``ticket.id`` the display id, ``ticket.status`` /
        ``ticket.priority`` / ``ticket.source`` their names, ``ticket.tags`` joined with ", ".
        Unknown placeholders render empty, like Liquid's undefined variables."""
        store = self.store
        requester = store.contacts.get(ticket["requester_id"]) or {}
        agent = store.agents.get(ticket["responder_id"] or -1, {}).get("contact", {})
        public = [c for c in store.conversations.get(ticket["id"], []) if not c["private"]]
        latest = public[-1] if public else None
        author = ""
        if latest is not None:
            who = store.contacts.get(latest["user_id"]) or store.agents.get(
                latest["user_id"], {}).get("contact", {})
            author = who.get("name", "")
        sources = {**DEFAULT_SOURCES, **CUSTOM_SOURCES}
        return {
            "ticket.id": ticket["id"],
            "ticket.subject": ticket["subject"],
            "ticket.description": ticket["description"],
            "ticket.status": STATUSES.get(ticket["status"], ""),
            "ticket.priority": PRIORITIES.get(ticket["priority"], ""),
            "ticket.source": sources.get(ticket["source"], ""),
            "ticket.ticket_type": ticket["type"] or "",
            "ticket.tags": ", ".join(ticket["tags"]),
            "ticket.group_id": ticket["group_id"] or "",
            "ticket.requester.id": requester.get("id", ""),
            "ticket.requester.name": requester.get("name", ""),
            "ticket.requester.email": requester.get("email") or "",
            "ticket.requester.phone": requester.get("phone") or "",
            "ticket.requester.mobile": requester.get("mobile") or "",
            "ticket.agent.name": agent.get("name", ""),
            "ticket.agent.email": agent.get("email", ""),
            # "Name : <html>" (reference doc): may be the customer's own note.
            "ticket.latest_public_comment": f"{author} : {latest['body']}" if latest else "",
            "triggered_event": ",".join(e["field_name"] for e in change.events),
        }


def _render(content: Any, values: Mapping[str, Any]) -> Any:
    """Placeholders filled inside every string of ``content`` (a JSON object, or a string for
    a raw layout). Values go in verbatim, not JSON-escaped, as Liquid does."""
    if isinstance(content, str):
        return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), "")), content)
    if isinstance(content, dict):
        return {k: _render(v, values) for k, v in content.items()}
    if isinstance(content, list):
        return [_render(v, values) for v in content]
    return content


def _event_matches(event: dict[str, Any], change: Change) -> bool:
    name = event["field_name"]
    for happened in change.events:
        if happened["field_name"] != name:
            continue
        if name == "note_type":
            wanted = event.get("value", _ANY)
            if wanted in (_ANY, happened.get("value")):
                return True
            continue
        if "from" in happened or "to" in happened:
            # "--" is any value (server code (2020), DEFAULT_ANY_NONE).
            if event.get("from", _ANY) not in (_ANY, happened["from"], str(happened["from"])):
                continue
            if event.get("to", _ANY) not in (_ANY, happened["to"], str(happened["to"])):
                continue
        return True
    return False


def _would_change(rule: dict[str, Any], ticket: dict[str, Any]) -> bool:
    """A time trigger skips a ticket its negatable actions would leave as it is."""
    negatable = [a for a in rule["actions"] if a["field_name"] in NEGATABLE_ACTIONS]
    if not negatable:
        return True
    return any(str(ticket["type" if a["field_name"] == "ticket_type" else a["field_name"]])
               != str(a.get("value")) for a in negatable)


def _check_type(rule_type: int) -> None:
    if rule_type not in RULE_TYPES:
        raise not_found()


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


__all__ = [
    "ACTION_FIELDS",
    "CONDITION_FIELDS",
    "EVENT_FIELDS",
    "TIME_FIELDS",
    "Rules",
    "WebhookCall",
]

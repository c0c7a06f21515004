"""Admin objects of the Freshdesk stand-in: groups, SLA policies (and the due dates they give
tickets), canned-response folders and canned responses, business hours, and the hourly run of
time-trigger rules.

    FreshdeskAdmin            the state (``sandbox.admin``); ``sla.refresh(ticket)`` sets a
                              ticket's ``fr_due_by`` / ``due_by``; ``moments(ticket)`` gives the
                              times hourly rules read
    register_admin_routes     the HTTP surface, added by ``connector.sandbox.freshdesk.create_app``

Routes (HTTP Basic like every ``/api/`` route; errors in the shapes of
``connector.sandbox.freshdesk_store``; a route a resource lacks is Freshdesk's 405 with Allow):

- ``GET|POST /api/v2/groups``, ``GET|PUT|DELETE /api/v2/groups/{id}``
- ``GET|POST /api/v2/sla_policies``, ``PUT /api/v2/sla_policies/{id}`` (no show, no DELETE:
  server code (2020) config/api_routes.rb ``only: [:index, :update, :create]``)
- ``GET|POST /api/v2/canned_response_folders``, ``GET|PUT …/{id}``, ``GET …/{id}/responses``
- ``GET /api/v2/canned_responses?ids=…``, ``POST /api/v2/canned_responses``,
  ``GET|PUT /api/v2/canned_responses/{id}`` (no DELETE)
- ``GET /api/v2/business_hours``, ``GET /api/v2/business_hours/{id}`` (read-only)
- sandbox only: ``POST /_sandbox/automations/run`` (``{"hours": N}`` optional: N times, move
  the sandbox clock one hour and scan) runs the hourly (type 3) rules; the admin objects are in
  ``GET /_sandbox/state`` (canned responses with the visibility the API never shows).

Sources as in `connector.sandbox.freshdesk_store`: the API reference
(https://developers.freshdesk.com/api/, sections "Groups", "SLA Policies", "Canned Responses",
"Business Hours"), ../shared/docs/reference/freshdesk.md, then the server code (2020)
(github.com/Ramesh-Veeriaperumal/freshconsult at 2d20a1e0e3), then guesses marked "Guess:".

What a fresh account holds (server code (2020), db/fixtures/foreground/): the "Default SLA
Policy" (011_sla_policies.rb: respond 1 h / 4 h / 8 h / 24 h and resolve 4 h / 12 h / 24 h / 3 d
for urgent … low, business hours), the five seeded groups (014_groups.rb), the "General" and
personal canned-response folders (042_canned_response_folders.rb) and the "Default" business
calendar, Monday to Friday 8:00 am to 5:00 pm Eastern with US holidays (013_business_calendars.rb,
lib/business_calender_constants.rb).

Due dates: a ticket takes the first active non-default policy, by position, whose
``applicable_to`` all hold (group, source, type, company, product), else the default; the policy
is chosen when the ticket is created and again when one of those fields changes, and the due
dates are counted from ``created_at`` at the ticket's priority (server code (2020),
Helpdesk::Ticket#set_sla_policy / #set_dueby), so editing a policy leaves tickets that already
have one alone. ``business_hours: true`` counts only the default calendar's open hours
(holidays closed). Not modelled: the clock pausing while a ticket is pending, next-response due
dates (``nr_due_by``), escalation e-mails, company / contact segments.

Simplifications: companies and products are not modelled (any positive id is taken in
``applicable_to``); a ticket's ``group_id`` is still not checked against the groups; canned
responses take no attachments; ``GET /api/v2/canned_response_folders`` lists every folder
(Guess: the server code (2020) listed only folders holding a response the agent may see).

Caller holds ``store.lock`` for every method of ``FreshdeskAdmin``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from flask import Flask, Response, jsonify, request

from connector.sandbox.freshdesk_rules import Rules
from connector.sandbox.freshdesk_store import (
    CUSTOM_SOURCES,
    DEFAULT_SOURCES,
    MSG_INVALID_FIELD,
    MSG_MISSING,
    MSG_UNIQUE,
    Change,
    FreshdeskStore,
    as_int,
    field_error,
    html_to_text,
    iso,
    not_found,
    parse_iso,
    request_error,
    validation_failed,
)

if TYPE_CHECKING:
    from connector.sandbox.freshdesk import FreshdeskSandbox

__all__ = ["FreshdeskAdmin", "SlaClock", "register_admin_routes"]

# Messages of api/lib/error_messages.yml, server code (2020).
MSG_BLANK = "It should not be blank as this is a mandatory field"
MAX_LENGTH_STRING = 255  # ApiConstants::MAX_LENGTH_STRING

# --------------------------------------------------------------------- SLA constants
# SlaPolicyConstants::VALID_SLA_TIME (server code (2020)); the reference doc: "in SECONDS,
# multiples of 60, minimum 900".
SLA_MIN_SECONDS = 900
SLA_MAX_SECONDS = 31_536_000
# Helpdesk::SlaPolicy::ESCALATION_TIME and REMINDER_TIME (server code (2020)); reference doc:
# "times from a fixed list (0, 1800, 3600, 7200, 14400, 28800, 43200, 86400, …)".
ESCALATION_TIMES = (0, 1800, 3600, 7200, 14400, 28800, 43200, 86400, 172800, 259200, 604800,
                    1209600, 2592000)
REMINDER_TIMES = (-28800, -14400, -7200, -3600, -1800)
ASSIGNED_AGENT = -1  # "-1 in agent_ids means the assigned agent" (reference doc)
PRIORITY_KEYS = ("priority_4", "priority_3", "priority_2", "priority_1")
SLA_TARGET_KEYS = ("respond_within", "resolve_within", "next_respond_within", "business_hours",
                   "escalation_enabled")
SLA_FIELDS = ("name", "description", "active", "sla_target", "applicable_to", "escalation")
CONDITION_KEYS = ("company_ids", "group_ids", "product_ids", "ticket_types", "sources")
# Escalation types in the order a policy shows them (server code (2020),
# ApiSlaPoliciesController#assign_protected escalations_hash, next response SLA enabled).
ESCALATION_KEYS = ("reminder_response", "reminder_resolution", "response", "resolution",
                   "reminder_next_response", "next_response")
LEVELS = ("level_1", "level_2", "level_3", "level_4")
TICKET_TYPES = ("Question", "Incident", "Problem")  # the stand-in's ticket_fields choices

# --------------------------------------------------------------------- groups
# GroupConstants::UNASSIGNED_FOR_MAP (server code (2020)); absent means 30 minutes.
UNASSIGNED_FOR = ("30m", "1h", "2h", "4h", "8h", "12h", "1d", "2d", "3d")
GROUP_FIELDS = ("name", "description", "escalate_to", "unassigned_for", "agent_ids",
                "group_type")
SEED_GROUPS = (
    ("Product Management", "Product Management group"),
    ("QA", "Members of the QA team belong to this group"),
    ("Sales", "People in the Sales team are members of this group"),
    ("Billing", "Members of the Billing team belong to this group"),
    ("Escalations", "Team to handle Customer escalations"),
)

# --------------------------------------------------------------------- canned responses
VISIBILITIES = (0, 1, 2)  # 0 all agents, 1 personal (only me), 2 agents in groups
CANNED_FIELDS = ("title", "content_html", "folder_id", "visibility", "group_ids")
MSG_INVALID_FOLDER = "Please specify a valid folder ID."
MSG_PERSONAL_FOLDER = ("You can only save canned responses just visible to you in the personal "
                       "folder.")
MSG_NOT_EDITABLE = ("Please specify a valid folder ID. Personal and General folders are not "
                    "editable.")
MSG_INVALID_GROUP = "Please specify a valid group ID."
FOLDER_PERSONAL, FOLDER_GENERAL, FOLDER_CUSTOM = 100, 200, 300  # FOLDER_TYPE (server code (2020))

# --------------------------------------------------------------------- business hours
ACCOUNT_TIME_ZONE = "Eastern Time (US & Canada)"  # the stand-in's agents' and contacts' zone
ACCOUNT_ZONE = ZoneInfo("America/New_York")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
HOLIDAYS = (("Jan 16", "Birthday of Martin Luther King Jr"), ("Feb 20", "Washington’s Birthday"),
            ("May 28", "Memorial Day"), ("Jul 04", "Independence Day"), ("Sep 03", "Labor Day"),
            ("Oct 08", "Columbus Day"), ("Nov 11", "Veterans Day"),
            ("Nov 22", "Thanksgiving Day"), ("Dec 25", "Christmas Day"),
            ("Jan 01", "New Year’s Day"))

# Where a ticket's hourly-rule moments live (Helpdesk::TicketState, server code (2020)).
STATE_KEYS = ("pending_since", "resolved_at", "closed_at", "opened_at", "first_assigned_at",
              "assigned_at")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive(value: Any) -> bool:
    return _is_int(value) and int(value) > 0


def _too_long(name: str, value: str) -> dict[str, Any]:
    return field_error(name, f"Has {len(value)} characters, it can have maximum of "
                       f"{MAX_LENGTH_STRING} characters")


def _listing(values: Iterable[Any]) -> str:
    return ", ".join(str(v) for v in values)


def _object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise request_error(400, "invalid_json", "Request body has invalid json format")
    return payload


def _unknown(data: dict[str, Any], allowed: Iterable[str]) -> list[dict[str, Any]]:
    known = set(allowed)
    return [field_error(k, MSG_INVALID_FIELD, "invalid_field") for k in data if k not in known]


def _id(raw: Any) -> int:
    value = as_int(raw, strings=True)
    if value is None:
        raise not_found()
    return value


# ===================================================================== business hours


@dataclass
class SlaClock:
    """A business calendar as Freshdesk shows it, and its arithmetic."""

    id: int
    created_at: str
    name: str = "Default"
    description: str = "Default Business Calendar"
    open_at: time = time(8, 0)
    close_at: time = time(17, 0)
    days: tuple[int, ...] = (0, 1, 2, 3, 4)  # Monday … Friday
    holidays: tuple[tuple[str, str], ...] = HOLIDAYS

    def view(self, *, full: bool) -> dict[str, Any]:
        # "View a Business Hour": times as "08:00:00 am"; holiday_list only on show (server
        # code (2020), api_business_hours/show.json.jbuilder: holiday_data as stored, pairs of
        # ["Mon DD", name]).
        hours = {WEEKDAYS[d]: {"start_time": _clock(self.open_at),
                               "end_time": _clock(self.close_at)} for d in self.days}
        out: dict[str, Any] = {"id": self.id, "name": self.name, "description": self.description,
                               "time_zone": ACCOUNT_TIME_ZONE, "is_default": True,
                               "business_hours": hours}
        if full:
            out["holiday_list"] = [list(h) for h in self.holidays]
        out.update(created_at=self.created_at, updated_at=self.created_at)
        return out

    def _closed(self, day: date) -> bool:
        return day.weekday() not in self.days or day.strftime("%b %d") in {
            h[0] for h in self.holidays}

    def add(self, start: float, seconds: float) -> float:
        """``start`` plus ``seconds`` of open business time (Freshdesk's business-hours due
        dates: the clock runs only inside the calendar's hours, holidays closed)."""
        moment = datetime.fromtimestamp(start, ACCOUNT_ZONE)
        remaining = float(seconds)
        for _ in range(5000):  # a year of business time is < 1,400 calendar days
            day = moment.date()
            if not self._closed(day):
                opens = datetime.combine(day, self.open_at, ACCOUNT_ZONE)
                closes = datetime.combine(day, self.close_at, ACCOUNT_ZONE)
                moment = max(moment, opens)
                if moment < closes:
                    available = (closes - moment).total_seconds()
                    if remaining <= available:
                        return (moment.astimezone(UTC) + timedelta(seconds=remaining)).timestamp()
                    remaining -= available
            moment = datetime.combine(day + timedelta(days=1), time(0), ACCOUNT_ZONE)
        return moment.timestamp()


def _clock(value: time) -> str:
    return value.strftime("%I:%M:%S %p").lower()


# ===================================================================== SLA policies


@dataclass
class SlaPolicies:
    store: FreshdeskStore
    groups: dict[int, dict[str, Any]]
    calendar: SlaClock
    next_id: Any
    policies: dict[int, dict[str, Any]] = field(default_factory=dict)
    # ticket id -> {"key": fields the choice and the due dates depend on, "policy_id"}
    assignments: dict[int, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ts = iso(self.store.now())
        seed = ((3600, 14400), (14400, 43200), (28800, 86400), (86400, 259200))  # urgent … low
        pid = next(self.next_id)
        self.policies[pid] = {
            "id": pid, "name": "Default SLA Policy", "description": "default policy",
            "active": True,
            "sla_target": {key: {"respond_within": respond, "resolve_within": resolve,
                                 "next_respond_within": None, "business_hours": True,
                                 "escalation_enabled": True}
                           for key, (respond, resolve) in zip(PRIORITY_KEYS, seed, strict=True)},
            "applicable_to": {}, "is_default": True, "position": 1,
            "created_at": ts, "updated_at": ts, "escalation": {},
        }

    def ordered(self) -> list[dict[str, Any]]:
        # Account#sla_policies: order 'is_default, position'.
        return sorted(self.policies.values(), key=lambda p: (p["is_default"], p["position"]))

    # ------------------------------------------------------------------ writes

    def create(self, payload: Any) -> dict[str, Any]:
        data = _object(payload)
        self._validate(data, creating=True)
        policy: dict[str, Any] = {
            "id": 0, "name": data["name"], "description": data.get("description"),
            "active": data.get("active", True),  # Guess: active unless said otherwise
            "sla_target": {}, "applicable_to": {}, "is_default": False, "position": 0,
            "created_at": "", "updated_at": "", "escalation": {k: {} for k in ESCALATION_KEYS},
        }
        self._assign(policy, data)
        self._delegate(policy, data)
        self._unique_name(policy)
        policy["id"] = next(self.next_id)
        # acts_as_list: a new policy goes to the bottom.
        policy["position"] = max(p["position"] for p in self.policies.values()) + 1
        policy["created_at"] = policy["updated_at"] = iso(self.store.now())
        self.policies[policy["id"]] = policy
        return policy

    def update(self, raw_id: Any, payload: Any) -> dict[str, Any]:
        current = self.policies.get(_id(raw_id))
        if current is None:
            raise not_found()
        if current["is_default"]:
            # ApiSlaPoliciesController#after_load_object, before any validation; reference
            # doc: "the default policy cannot be updated (400 cannot_update_default_sla)".
            raise request_error(400, "cannot_update_default_sla", "You are trying to update the "
                                "Default SLA policy. It cannot be updated")
        data = _object(payload)
        self._validate(data, creating=False)
        policy = {**current, "escalation": dict(current["escalation"]),
                  "applicable_to": dict(current["applicable_to"]),
                  "sla_target": dict(current["sla_target"])}
        self._assign(policy, data)
        self._delegate(policy, data)
        self._unique_name(policy)
        policy["updated_at"] = iso(self.store.now())
        self.policies[policy["id"]] = policy
        return policy

    def _assign(self, policy: dict[str, Any], data: dict[str, Any]) -> None:
        """What the body changes (ApiSlaPoliciesController#assign_protected): name,
        description, active; ``applicable_to`` and ``escalation`` are replaced whole when
        given; every priority of ``sla_target``."""
        for key in ("name", "description", "active"):
            if key in data:
                policy[key] = data[key]
        if "applicable_to" in data:
            policy["applicable_to"] = {
                key: list(dict.fromkeys(v for v in data["applicable_to"][key] if v is not None))
                for key in CONDITION_KEYS if data["applicable_to"].get(key)}
        if "escalation" in data:
            given = data["escalation"]
            escalation: dict[str, Any] = {k: {} for k in ESCALATION_KEYS}
            for key in ESCALATION_KEYS:
                if key == "resolution":
                    levels = given.get("resolution") or {}
                    escalation[key] = {lv: _escalation(levels[lv]) for lv in LEVELS
                                       if levels.get(lv)}
                elif given.get(key):
                    escalation[key] = _escalation(given[key])
            policy["escalation"] = escalation
        if "sla_target" in data:
            policy["sla_target"] = {key: {
                "respond_within": data["sla_target"][key]["respond_within"],
                "resolve_within": data["sla_target"][key]["resolve_within"],
                "next_respond_within": data["sla_target"][key].get("next_respond_within"),
                "business_hours": data["sla_target"][key]["business_hours"],
                "escalation_enabled": data["sla_target"][key]["escalation_enabled"],
            } for key in PRIORITY_KEYS}

    def _unique_name(self, policy: dict[str, Any]) -> None:
        # validates_uniqueness_of :name, scope account (MySQL: case-insensitive), renamed by
        # FIELD_ERROR_MAPPINGS to duplicate_name_in_sla_policy: a 400, not Freshdesk's usual 409.
        name = str(policy["name"]).strip().lower()
        if any(p["id"] != policy["id"] and str(p["name"]).strip().lower() == name
               for p in self.policies.values()):
            raise validation_failed([field_error(
                "name", f"A policy already exists with name '{policy['name']}'.")])

    # ------------------------------------------------------------------ validation

    def _validate(self, data: dict[str, Any], *, creating: bool) -> None:
        """ApiSlaPolicyValidation (server code (2020)): types and required fields."""
        errors = _unknown(data, SLA_FIELDS)
        if creating:
            errors += [field_error(k, MSG_MISSING, "missing_field")
                       for k in ("name", "applicable_to", "sla_target") if k not in data]
        if "name" in data:
            name = data["name"]
            if not isinstance(name, str):
                errors.append(field_error("name", "It should be a/an String",
                                          "datatype_mismatch"))
            elif not name.strip():
                errors.append(field_error("name", MSG_BLANK))
            elif len(name) > MAX_LENGTH_STRING:
                errors.append(_too_long("name", name))
        if data.get("description") is not None and not isinstance(data["description"], str):
            errors.append(field_error("description", "It should be a/an String",
                                      "datatype_mismatch"))
        if "active" in data and not isinstance(data["active"], bool):
            errors.append(field_error("active", "It should be a/an Boolean", "datatype_mismatch"))
        if "sla_target" in data:
            errors += _target_errors(data["sla_target"])
        if "applicable_to" in data:
            errors += _applicable_errors(data["applicable_to"])
        if "escalation" in data:
            errors += _escalation_errors(data["escalation"])
        if errors:
            raise validation_failed(errors)

    def _delegate(self, policy: dict[str, Any], data: dict[str, Any]) -> None:
        """SlaPolicyDelegator (server code (2020)): escalation times from the fixed lists,
        each resolution level later than the one before, agents that exist, conditions on
        records that exist, and a non-default policy applicable to something."""
        errors: list[dict[str, Any]] = []
        agents = set(self.store.agents) | {ASSIGNED_AGENT}
        escalation = data.get("escalation") or {}
        for key in ESCALATION_KEYS:
            if key == "resolution" or not escalation.get(key):
                continue
            choices = REMINDER_TIMES if key.startswith("reminder_") else ESCALATION_TIMES
            errors += _level_errors(key, escalation[key], choices, agents)
        levels = escalation.get("resolution") or {}
        if levels:
            allowed: tuple[int, ...] = ESCALATION_TIMES
            times = []
            for number, level in enumerate(LEVELS, start=1):
                where = f"resolution[{level}]"
                if not levels.get(level):
                    if number < len(levels):
                        errors.append(field_error(where, MSG_BLANK))
                    continue
                if number > len(levels):
                    errors.append(field_error(where, MSG_BLANK))
                    continue
                errors += _level_errors(where, levels[level], allowed, agents)
                when = levels[level]["escalation_time"]
                times.append(when)
                if when in allowed:
                    # each later level must come after this one
                    allowed = tuple(t for t in allowed if t > when)
            repeated = sorted({t for t in times if times.count(t) > 1})
            if repeated:
                errors.append(field_error(
                    "resolution[escalation_time]", "Duplicate escalation time,escalation time "
                    f"Must be unique, '{_listing(repeated)}' "))
        if not policy["applicable_to"] and not policy["is_default"]:
            errors.append(field_error("applicable_to", MSG_BLANK))
        else:
            known: dict[str, set[Any] | None] = {
                "group_ids": set(self.groups),
                "sources": {*DEFAULT_SOURCES, *CUSTOM_SOURCES},
                "ticket_types": set(TICKET_TYPES),
                "company_ids": None,  # not modelled: any positive id
                "product_ids": None,
            }
            for key, values in (data.get("applicable_to") or {}).items():
                allowed_values = known.get(key)
                if allowed_values is None:
                    continue
                missing = [v for v in values if v not in allowed_values]
                if missing:
                    errors.append(field_error(
                        key, f"There are no records matching the ids: '{_listing(missing)}'"))
        if errors:
            raise validation_failed(errors)

    # ------------------------------------------------------------------ due dates

    def choose(self, ticket: dict[str, Any]) -> dict[str, Any]:
        for policy in self.ordered():
            if policy["is_default"] or not policy["active"]:
                continue
            if _applies(policy["applicable_to"], ticket):
                return policy
        return next(p for p in self.policies.values() if p["is_default"])

    def refresh(self, ticket: dict[str, Any]) -> None:
        """Set ``fr_due_by`` / ``due_by`` when the ticket is new to the SLA or a field they
        depend on changed."""
        conditions = (ticket["group_id"], ticket["source"], ticket["type"],
                      ticket["company_id"], ticket["product_id"])
        key = (*conditions, ticket["priority"])
        held = self.assignments.get(ticket["id"])
        if held is not None and held["key"] == key:
            return
        if held is None or held["key"][:-1] != conditions or held["policy_id"] not in \
                self.policies:
            policy = self.choose(ticket)
        else:  # priority only: the same policy, the target of the new priority
            policy = self.policies[held["policy_id"]]
        target = policy["sla_target"].get(f"priority_{ticket['priority']}")
        created = parse_iso(ticket["created_at"])
        if target is not None and created is not None:
            ticket["fr_due_by"] = iso(self._due(created, target, "respond_within"))
            ticket["due_by"] = iso(self._due(created, target, "resolve_within"))
        self.assignments[ticket["id"]] = {"key": key, "policy_id": policy["id"]}

    def _due(self, start: float, target: dict[str, Any], key: str) -> float:
        seconds = float(target[key])
        if target["business_hours"]:
            return self.calendar.add(start, seconds)
        return start + seconds


def _applies(conditions: dict[str, list[Any]], ticket: dict[str, Any]) -> bool:
    # Helpdesk::SlaPolicy#matches?: every condition of the policy holds.
    fields = {"group_ids": "group_id", "sources": "source", "ticket_types": "type",
              "company_ids": "company_id", "product_ids": "product_id"}
    return all(ticket[fields[key]] in values for key, values in conditions.items())


def _escalation(level: dict[str, Any]) -> dict[str, Any]:
    return {"escalation_time": level["escalation_time"], "agent_ids": list(level["agent_ids"])}


def _target_errors(target: Any) -> list[dict[str, Any]]:
    """sla_target: all four priorities, each ApiSlaDetailsValidation (server code (2020))."""
    if not isinstance(target, dict):
        return [field_error("sla_target", "It should be a/an key/value pair",
                            "datatype_mismatch")]
    errors = [field_error(f"sla_target[{k}]", MSG_INVALID_FIELD, "invalid_field")
              for k in target if k not in PRIORITY_KEYS]
    for key in PRIORITY_KEYS:
        where = f"sla_target[{key}]"
        detail = target.get(key)
        if not isinstance(detail, dict):
            # Guess: the field is named with its parent, like the detail errors below.
            errors.append(field_error(where, "It should be a/an key/value pair",
                                      "missing_field" if key not in target
                                      else "datatype_mismatch"))
            continue
        errors += [field_error(f"{where}[{k}]", MSG_INVALID_FIELD, "invalid_field")
                   for k in detail if k not in SLA_TARGET_KEYS]
        for name in ("respond_within", "resolve_within", "next_respond_within"):
            if name == "next_respond_within" and detail.get(name) is None:
                continue  # optional
            errors += _seconds_errors(f"{where}[{name}]", detail.get(name), name in detail)
        for name in ("business_hours", "escalation_enabled"):
            if not isinstance(detail.get(name), bool):
                errors.append(field_error(f"{where}[{name}]", "It should be a/an Boolean",
                                          "datatype_mismatch" if name in detail
                                          else "missing_field"))
    return errors


def _seconds_errors(where: str, value: Any, given: bool) -> list[dict[str, Any]]:
    # "sla_target … in SECONDS, multiples of 60, minimum 900 (2020)" (reference doc);
    # ApiSlaDetailsValidation: Rails numericality messages, then Multiple_of_60.
    if not given:
        return [field_error(where, MSG_MISSING, "missing_field")]
    if not _is_int(value):
        return [field_error(where, "It should be a/an Integer", "datatype_mismatch")]
    if value < SLA_MIN_SECONDS:
        return [field_error(where, f"must be greater than or equal to {SLA_MIN_SECONDS}")]
    if value > SLA_MAX_SECONDS:
        return [field_error(where, f"must be less than or equal to {SLA_MAX_SECONDS}")]
    if value % 60:
        return [field_error(where, "Must Be multiple of 60")]
    return []


def _applicable_errors(applicable: Any) -> list[dict[str, Any]]:
    if not isinstance(applicable, dict):
        return [field_error("applicable_to", "It should be a/an key/value pair",
                            "datatype_mismatch")]
    errors = [field_error(f"applicable_to[{k}]", MSG_INVALID_FIELD, "invalid_field")
              for k in applicable if k not in CONDITION_KEYS]
    for key in CONDITION_KEYS:
        if key not in applicable:
            continue
        values = applicable[key]
        if not isinstance(values, list):
            errors.append(field_error(key, "It should be a/an Array", "datatype_mismatch"))
        elif key == "ticket_types":
            if not all(isinstance(v, str) for v in values):
                errors.append(field_error(key, "It should contain elements of type String only",
                                          "datatype_mismatch"))
        elif not all(_positive(v) for v in values):
            errors.append(field_error(key, "It should contain elements of type Positive "
                                      "Integer only", "datatype_mismatch"))
    return errors


def _escalation_errors(escalation: Any) -> list[dict[str, Any]]:
    """Types of ``escalation`` (ApiSlaPolicyValidation, ApiSlaEscalationValidation): each type a
    key/value pair of ``escalation_time`` (integer) and ``agent_ids`` (integers ≥ -1);
    ``resolution`` holds ``level_1`` … ``level_4``."""
    if not isinstance(escalation, dict):
        return [field_error("escalation", "It should be a/an key/value pair",
                            "datatype_mismatch")]
    errors = [field_error(f"escalation[{k}]", MSG_INVALID_FIELD, "invalid_field")
              for k in escalation if k not in ESCALATION_KEYS]
    for key in ESCALATION_KEYS:
        value = escalation.get(key)
        if value is None:
            continue
        if not isinstance(value, dict):
            errors.append(field_error(key, "It should be a/an key/value pair",
                                      "datatype_mismatch"))
        elif key == "resolution":
            errors += [field_error(f"resolution[{k}]", MSG_INVALID_FIELD, "invalid_field")
                       for k in value if k not in LEVELS]
            for level in LEVELS:
                if level in value and not isinstance(value[level], dict):
                    errors.append(field_error(f"resolution[{level}]",
                                              "It should be a/an key/value pair",
                                              "datatype_mismatch"))
                elif value.get(level):
                    errors += _level_type_errors(f"resolution[{level}]", value[level])
        elif value:
            errors += _level_type_errors(key, value)
    return errors


def _level_type_errors(where: str, level: dict[str, Any]) -> list[dict[str, Any]]:
    errors = [field_error(f"{where}[{k}]", MSG_INVALID_FIELD, "invalid_field")
              for k in level if k not in ("escalation_time", "agent_ids")]
    if "escalation_time" not in level:
        errors.append(field_error(f"{where}[escalation_time]", MSG_MISSING, "missing_field"))
    elif not _is_int(level["escalation_time"]):
        errors.append(field_error(f"{where}[escalation_time]", "It should be a/an Integer",
                                  "datatype_mismatch"))
    agents = level.get("agent_ids")
    if "agent_ids" not in level:
        errors.append(field_error(f"{where}[agent_ids]", MSG_MISSING, "missing_field"))
    elif not isinstance(agents, list) or not all(_is_int(a) and a >= ASSIGNED_AGENT
                                                 for a in agents):
        errors.append(field_error(f"{where}[agent_ids]", "It should contain elements of type "
                                  "Integer only", "datatype_mismatch"))
    return errors


def _level_errors(where: str, level: dict[str, Any], allowed: tuple[int, ...],
                  agents: set[int]) -> list[dict[str, Any]]:
    errors = []
    if level["escalation_time"] not in allowed:
        errors.append(field_error(f"{where}[escalation_time]",
                                  f"It should be one of these values: '{_listing(allowed)}'"))
    unknown = [a for a in level["agent_ids"] if a not in agents]
    if unknown:
        errors.append(field_error(f"{where}[agent_ids]", "There are no records matching the "
                                  f"ids: '{_listing(unknown)}'"))
    return errors


# ===================================================================== the state


@dataclass
class FreshdeskAdmin:
    """Groups, SLA policies, canned responses, business hours and ticket state times."""

    store: FreshdeskStore
    rules: Rules
    groups: dict[int, dict[str, Any]] = field(default_factory=dict)
    folders: dict[int, dict[str, Any]] = field(default_factory=dict)
    canned: dict[int, dict[str, Any]] = field(default_factory=dict)
    # canned response id -> {"visibility", "group_ids", "user_id"}: kept, never shown by the API
    access: dict[int, dict[str, Any]] = field(default_factory=dict)
    # ticket id -> its Helpdesk::TicketState times (epoch seconds or None)
    ticket_states: dict[int, dict[str, float | None]] = field(default_factory=dict)
    sla: SlaPolicies = field(init=False)
    calendar: SlaClock = field(init=False)

    def __post_init__(self) -> None:
        # One id range for admin objects, apart from users and conversations, so an id of the
        # wrong kind is a 404.
        self._ids = itertools.count(48_300_000_001)
        ts = iso(self.store.now())
        for name, description in SEED_GROUPS:
            gid = next(self._ids)
            self.groups[gid] = self._new_group(gid, name, description, ts)
        self.calendar = SlaClock(id=next(self._ids), created_at=ts)
        self.sla = SlaPolicies(self.store, self.groups, self.calendar, self._ids)
        for name, kind in (("General", FOLDER_GENERAL), ("Personal", FOLDER_PERSONAL)):
            fid = next(self._ids)
            self.folders[fid] = {"id": fid, "name": name, "folder_type": kind,
                                 "created_at": ts, "updated_at": ts}
        self.rules.watchers.append(self.watch)

    # ------------------------------------------------------------------ ticket state times

    def watch(self, change: Change) -> None:
        """Keep the ticket's state times as Freshdesk does (server code (2020),
        Helpdesk::Ticket callbacks save_ticket_states / process_status_changes)."""
        ticket = self.store.tickets.get(change.ticket_id)
        if ticket is None:
            return
        now = self.store.now()
        states = self.ticket_states.setdefault(ticket["id"], dict.fromkeys(STATE_KEYS))
        if change.kind == "create":
            if ticket["responder_id"]:
                states["assigned_at"] = states["first_assigned_at"] = now
            self._status(states, None, ticket["status"], now)
            return
        for event in change.events:
            if event["field_name"] == "status":
                self._status(states, event.get("from"), event.get("to"), now)
            elif event["field_name"] == "responder_id" and event.get("to"):
                states["assigned_at"] = now
                states["first_assigned_at"] = states["first_assigned_at"] or now

    @staticmethod
    def _status(states: dict[str, float | None], old: Any, new: Any, now: float) -> None:
        states["pending_since"] = now if new == 3 else None
        if new == 4:
            states["resolved_at"] = now
        if new == 5:
            states["closed_at"] = now
            # Guess: closing a ticket never resolved also marks it resolved.
            states["resolved_at"] = states["resolved_at"] or now
        if old in (4, 5) and new in (2, 3):  # reopened_now?
            states["opened_at"] = now
            states["resolved_at"] = states["closed_at"] = None

    def moments(self, ticket: dict[str, Any]) -> dict[str, float | None]:
        """The times the hourly rules' hours conditions read."""
        self.sla.refresh(ticket)
        states = self.ticket_states.get(ticket["id"]) or dict.fromkeys(STATE_KEYS)
        requester = agent = None
        after_customer = False
        for conversation in self.store.conversations.get(ticket["id"], []):
            at = parse_iso(conversation["created_at"])
            if self.store.is_agent(conversation["user_id"]):
                if not conversation["private"]:
                    # Helpdesk::Note#save_response_time: an agent's public note or reply
                    agent, after_customer = at, False
                continue
            if not after_customer:
                # the first of consecutive customer notes (consecutive_customer_response?)
                requester = at
            after_customer = True
        return {
            "hours_since_created": parse_iso(ticket["created_at"]),
            **{k: states.get(k) for k in STATE_KEYS},
            "requester_responded_at": requester,
            "agent_responded_at": agent,
            "frDueBy": parse_iso(ticket["fr_due_by"]),
            "due_by": parse_iso(ticket["due_by"]),
        }

    # ------------------------------------------------------------------ groups

    @staticmethod
    def _new_group(gid: int, name: str, description: str | None, ts: str) -> dict[str, Any]:
        return {"id": gid, "name": name, "description": description, "escalate_to": None,
                "unassigned_for": "30m", "business_hour_id": None, "agent_ids": [],
                "group_type": "support_agent_group", "created_at": ts, "updated_at": ts}

    def group(self, raw_id: Any) -> dict[str, Any]:
        found = self.groups.get(_id(raw_id))
        if found is None:
            raise not_found()
        return found

    def list_groups(self) -> list[dict[str, Any]]:
        # "List All Groups": ordered by name; the list shows no agent_ids (server code
        # (2020), api_groups/index.json.api) — read a group to see its agents.
        return [{k: v for k, v in g.items() if k != "agent_ids"}
                for g in sorted(self.groups.values(), key=lambda g: g["name"].lower())]

    def save_group(self, payload: Any, raw_id: Any = None) -> dict[str, Any]:
        """``POST /groups`` / ``PUT /groups/{id}`` (ApiGroupValidation, check_if_group_exists,
        GroupDelegator, server code (2020))."""
        current = None if raw_id is None else self.group(raw_id)
        data = _object(payload)
        creating = current is None
        errors = _unknown(data, GROUP_FIELDS if creating else GROUP_FIELDS[:-1])
        if creating and "name" not in data:
            errors.append(field_error("name", MSG_MISSING, "missing_field"))
        if "name" in data:
            name = data["name"]
            if not isinstance(name, str):
                errors.append(field_error("name", "It should be a/an String",
                                          "datatype_mismatch"))
            elif not name.strip():
                errors.append(field_error("name", MSG_BLANK))
            elif len(name.strip()) > MAX_LENGTH_STRING:
                errors.append(_too_long("name", name.strip()))
        if data.get("description") is not None and not isinstance(data["description"], str):
            errors.append(field_error("description", "It should be a/an String",
                                      "datatype_mismatch"))
        escalate_to = data.get("escalate_to")
        if escalate_to is not None and not _positive(escalate_to):
            errors.append(field_error("escalate_to", "It should be a/an Positive Integer",
                                      "datatype_mismatch"))
        if data.get("unassigned_for") is not None and data["unassigned_for"] not in \
                UNASSIGNED_FOR:
            errors.append(field_error("unassigned_for", "It should be one of these values: "
                                      f"'{','.join(UNASSIGNED_FOR)}'"))
        agents = data.get("agent_ids")
        if "agent_ids" in data and not (
                isinstance(agents, list) and all(_positive(a) for a in agents)):
            errors.append(field_error("agent_ids", "It should contain elements of type "
                                      "Positive Integer only", "datatype_mismatch"))
        if "group_type" in data and data["group_type"] != "support_agent_group":
            errors.append(field_error("group_type", "It should be one of these values: "
                                      "'support_agent_group'"))
        if errors:
            raise validation_failed(errors)
        name = data["name"].strip() if "name" in data else None
        if name is not None:
            # check_if_group_exists: 409 with the group that has the name (MySQL compares
            # names without regard to case).
            owner = next((g for g in self.groups.values()
                          if g["name"].lower() == name.lower()
                          and (current is None or g["id"] != current["id"])), None)
            if owner is not None:
                raise validation_failed([field_error(
                    "name", MSG_UNIQUE, "duplicate_value",
                    additional_info={"group_id": owner["id"]})], status=409)
        if escalate_to is not None and escalate_to not in self.store.agents:
            # GroupDelegator#valid_agent?: the message Freshdesk shows is Rails' own.
            errors.append(field_error("escalate_to", "can't be blank"))
        unknown = [a for a in agents or [] if a not in self.store.agents]
        if unknown:
            errors.append(field_error("agent_ids", "There are no records matching the ids: "
                                      f"'{_listing(unknown)}'"))
        if errors:
            raise validation_failed(errors)
        ts = iso(self.store.now())
        if current is None:
            gid = next(self._ids)
            current = self.groups[gid] = self._new_group(gid, str(name), None, ts)
        for key in ("description", "escalate_to", "unassigned_for"):
            if key in data:
                current[key] = data[key]
        if current["unassigned_for"] is None:
            current["unassigned_for"] = "30m"  # UNASSIGNED_FOR_MAP[nil] = 1800
        if name is not None:
            current["name"] = name
        if agents is not None:
            current["agent_ids"] = list(dict.fromkeys(agents))
            self._agent_groups()
        current["updated_at"] = ts
        return current

    def delete_group(self, raw_id: Any) -> None:
        group = self.group(raw_id)
        del self.groups[group["id"]]
        self._agent_groups()

    def _agent_groups(self) -> None:
        # An agent's group_ids ("View an Agent") follow the groups' members.
        for aid, agent in self.store.agents.items():
            agent["group_ids"] = [g["id"] for g in self.groups.values() if aid in g["agent_ids"]]

    # ------------------------------------------------------------------ canned responses

    def folder(self, raw_id: Any) -> dict[str, Any]:
        found = self.folders.get(_id(raw_id))
        if found is None:
            raise not_found()
        return found

    def folder_view(self, folder: dict[str, Any]) -> dict[str, Any]:
        # "List All Canned Response Folders": personal, responses_count.
        return {"id": folder["id"], "name": folder["name"],
                "personal": folder["folder_type"] == FOLDER_PERSONAL,
                "responses_count": len(self.responses_in(folder["id"])),
                "created_at": folder["created_at"], "updated_at": folder["updated_at"]}

    def list_folders(self) -> list[dict[str, Any]]:
        # sorted by [folder_type, name]: personal, general, then the account's own
        ordered = sorted(self.folders.values(), key=lambda f: (f["folder_type"], f["name"]))
        return [self.folder_view(f) for f in ordered]

    def show_folder(self, raw_id: Any) -> dict[str, Any]:
        folder = self.folder(raw_id)
        return {"id": folder["id"], "name": folder["name"], "created_at": folder["created_at"],
                "updated_at": folder["updated_at"],
                "canned_responses": [{"id": r["id"], "title": r["title"]}
                                     for r in self.responses_in(folder["id"])]}

    def responses_in(self, folder_id: int) -> list[dict[str, Any]]:
        return [r for r in self.canned.values() if r["folder_id"] == folder_id]

    def save_folder(self, payload: Any, raw_id: Any = None) -> dict[str, Any]:
        """CannedResponseFoldersValidation and CannedResponseFolderDelegator (server code
        (2020)): a name of 3 to 240 characters, not starting "Personal_", unique; only the
        account's own folders can be renamed."""
        current = None if raw_id is None else self.folder(raw_id)
        data = _object(payload)
        errors = _unknown(data, ("name",))
        name = data.get("name")
        if "name" not in data:
            errors.append(field_error("name", MSG_MISSING, "missing_field"))
        elif not isinstance(name, str):
            errors.append(field_error("name", "It should be a/an String", "datatype_mismatch"))
        elif not 3 <= len(name) <= 240:
            errors.append(field_error("name", f"Has {len(name)} characters, it should have "
                                      "minimum of 3 characters and can have maximum of 240 "
                                      "characters"))
        elif name.startswith("Personal_"):
            errors.append(field_error("name", "Name should not starts with Personal_"))
        if errors:
            raise validation_failed(errors)
        if current is not None and current["folder_type"] != FOLDER_CUSTOM:
            raise validation_failed([field_error("folder_id", MSG_NOT_EDITABLE)])
        assert isinstance(name, str)
        if any(f["name"].lower() == name.lower() and f is not current
               for f in self.folders.values()):
            # uniqueness, case-insensitive: "has already been taken" → 409 duplicate_value
            raise validation_failed([field_error("name", MSG_UNIQUE, "duplicate_value")],
                                    status=409)
        ts = iso(self.store.now())
        if current is None:
            fid = next(self._ids)
            current = self.folders[fid] = {"id": fid, "name": name, "folder_type": FOLDER_CUSTOM,
                                           "created_at": ts, "updated_at": ts}
        current["name"] = name
        current["updated_at"] = ts
        # Guess: create and update answer the folder as the list shows it.
        return self.folder_view(current)

    def response(self, raw_id: Any) -> dict[str, Any]:
        found = self.canned.get(_id(raw_id))
        if found is None:
            raise not_found()
        return found

    def save_response(self, payload: Any, raw_id: Any = None) -> dict[str, Any]:
        """``POST /canned_responses`` / ``PUT /canned_responses/{id}`` (CannedResponsesValidation,
        CannedResponseDelegator, CannedResponseConcern, server code (2020)). The answer has
        no visibility or group_ids ("View a Canned Response"): what was set cannot be read
        back."""
        current = None if raw_id is None else self.response(raw_id)
        creating = current is None
        data = _object(payload)
        errors = _unknown(data, CANNED_FIELDS)
        title = data.get("title")
        if creating and "title" not in data:
            errors.append(field_error("title", MSG_MISSING, "missing_field"))
        elif "title" in data:
            if not isinstance(title, str):
                errors.append(field_error("title", "It should be a/an String",
                                          "datatype_mismatch"))
            elif not 3 <= len(title) <= 240:
                errors.append(field_error("title", f"Has {len(title)} characters, it should "
                                          "have minimum of 3 characters and can have maximum "
                                          "of 240 characters"))
        content = data.get("content_html")
        if creating and "content_html" not in data:
            errors.append(field_error("content_html", MSG_MISSING, "missing_field"))
        elif "content_html" in data:
            if not isinstance(content, str):
                errors.append(field_error("content_html", "It should be a/an String",
                                          "datatype_mismatch"))
            elif not content.strip():
                errors.append(field_error("content_html", MSG_BLANK))
        visibility = data.get("visibility")
        if creating and "visibility" not in data:
            errors.append(field_error("visibility", MSG_MISSING, "missing_field"))
        elif "visibility" in data and (not _is_int(visibility) or visibility not in VISIBILITIES):
            errors.append(field_error("visibility", "It should be one of these values: "
                                      "'0,1,2'"))
        folder_id = data.get("folder_id")
        if "folder_id" in data and not _positive(folder_id):
            errors.append(field_error("folder_id", "It should be a/an Positive Integer",
                                      "datatype_mismatch"))
        group_ids = data.get("group_ids")
        if group_ids is not None and not (
                isinstance(group_ids, list) and all(_positive(g) for g in group_ids)):
            errors.append(field_error("group_ids", "It should contain elements of type "
                                      "Positive Integer only", "datatype_mismatch"))
        if visibility == 2 and not group_ids:
            errors.append(field_error("group_ids", MSG_MISSING, "missing_field"))
        if creating and visibility in (0, 2) and "folder_id" not in data:
            # "Create a Canned Response": folder_id is required (a personal response goes to
            # the personal folder whatever is sent).
            errors.append(field_error("folder_id", MSG_MISSING, "missing_field"))
        if errors:
            raise validation_failed(errors)
        # CannedResponseDelegator
        access = self.access.get(current["id"]) if current is not None else None
        if folder_id is not None:
            folder = self.folders.get(folder_id)
            if folder is None:
                errors.append(field_error("folder_id", MSG_INVALID_FOLDER))
            elif folder["folder_type"] == FOLDER_PERSONAL and visibility != 1:
                errors.append(field_error("folder_id", MSG_PERSONAL_FOLDER))
        elif access is not None and visibility is not None and access["visibility"] == 1 \
                and visibility != 1:
            errors.append(field_error("folder_id", "Please specify folder id."))
        if group_ids:
            errors += [field_error("group_id", MSG_INVALID_GROUP)
                       for g in group_ids if g not in self.groups]
        if errors:
            raise validation_failed(errors)
        ts = iso(self.store.now())
        if current is None:
            rid = next(self._ids)
            current = self.canned[rid] = {"id": rid, "title": "", "folder_id": 0, "content": "",
                                          "content_html": "", "attachments": [],
                                          "created_at": ts, "updated_at": ts}
            access = self.access[rid] = {"visibility": 0, "group_ids": [],
                                         "user_id": self.store.api_agent_id}
        assert access is not None
        if title is not None:
            current["title"] = title
        if content is not None:
            current["content_html"] = content
            current["content"] = html_to_text(content)
        if folder_id is not None:
            current["folder_id"] = folder_id
        if visibility is not None:
            access["visibility"] = visibility
            access["group_ids"] = list(group_ids or []) if visibility == 2 else []
            if visibility == 1:
                current["folder_id"] = next(f["id"] for f in self.folders.values()
                                            if f["folder_type"] == FOLDER_PERSONAL)
        current["updated_at"] = ts
        return current

    def list_responses(self, ids: str | None) -> list[dict[str, Any]]:
        # "?ids=1,2": up to 10 ids, the known ones shown {id, title, folder_id}; none → 404
        # (server code (2020), CannedResponsesController#filter_ids / #load_objects).
        wanted = [as_int(i, strings=True) for i in (ids or "").split(",")][:10]
        found = [self.canned[i] for i in wanted if i is not None and i in self.canned]
        if not found:
            raise not_found()
        return [{"id": r["id"], "title": r["title"], "folder_id": r["folder_id"]} for r in found]

    # ------------------------------------------------------------------ state

    def state(self) -> dict[str, Any]:
        return {
            "groups": [dict(g) for g in self.groups.values()],
            "sla_policies": [dict(p) for p in self.sla.ordered()],
            "sla_assignments": {str(t): a["policy_id"] for t, a in self.sla.assignments.items()},
            "canned_response_folders": self.list_folders(),
            "canned_responses": [{**r, **self.access[r["id"]]} for r in self.canned.values()],
            "business_hours": [self.calendar.view(full=True)],
            "ticket_states": {str(t): {k: None if v is None else iso(v) for k, v in s.items()}
                              for t, s in self.ticket_states.items()},
        }


# ===================================================================== HTTP


def register_admin_routes(app: Flask, sandbox: FreshdeskSandbox, *,
                          page_args: Callable[..., tuple[int, int]],
                          paged: Callable[..., Response],
                          payload: Callable[[], Any]) -> None:
    """Routes of the admin objects; the app's paging and body reading are passed in (the app
    module imports this one)."""
    _page_args, _paged, _payload = page_args, paged, payload

    admin = sandbox.admin
    assert admin is not None
    lock = sandbox.lock

    def body() -> Any:
        data, _uploads, form = _payload()
        if form:
            # Guess: these resources take JSON only in the sandbox (Freshdesk also takes
            # multipart for canned responses with attachments).
            raise request_error(415, "invalid_content_type", "Content-Type header is set to "
                                "multipart/form-data. It should be set to application/json")
        return data

    def created(view: dict[str, Any], location: str) -> tuple[Response, int]:
        # render_201_with_location (server code (2020)): 201 and Location.
        response = jsonify(view)
        response.headers["Location"] = f"{request.host_url.rstrip('/')}{location}/{view['id']}"
        return response, 201

    # ------------------------------------------------------------------ groups

    @app.get("/api/v2/groups")
    def admin_list_groups() -> Response:
        args = request.args.to_dict()
        page, per_page = _page_args(args)
        with lock:
            return _paged(admin.list_groups(), page, per_page)

    @app.post("/api/v2/groups")
    def admin_create_group() -> tuple[Response, int]:
        data = body()
        with lock:
            return created(dict(admin.save_group(data)), "/api/v2/groups")

    @app.get("/api/v2/groups/<group_id>")
    def admin_show_group(group_id: str) -> Response:
        with lock:
            return jsonify(admin.group(group_id))

    @app.put("/api/v2/groups/<group_id>")
    def admin_update_group(group_id: str) -> Response:
        data = body()
        with lock:
            return jsonify(admin.save_group(data, group_id))

    @app.delete("/api/v2/groups/<group_id>")
    def admin_delete_group(group_id: str) -> Response:
        with lock:
            admin.delete_group(group_id)
        return Response(status=204)

    # ------------------------------------------------------------------ SLA policies

    @app.get("/api/v2/sla_policies")
    def admin_list_sla_policies() -> Response:
        args = request.args.to_dict()
        page, per_page = _page_args(args)
        with lock:
            return _paged(admin.sla.ordered(), page, per_page)

    @app.post("/api/v2/sla_policies")
    def admin_create_sla_policy() -> tuple[Response, int]:
        data = body()
        with lock:
            return created(dict(admin.sla.create(data)), "/api/v2/sla_policies")

    @app.put("/api/v2/sla_policies/<policy_id>")
    def admin_update_sla_policy(policy_id: str) -> Response:
        data = body()
        with lock:
            return jsonify(admin.sla.update(policy_id, data))

    # ------------------------------------------------------------------ canned responses

    @app.get("/api/v2/canned_response_folders")
    def admin_list_folders() -> Response:
        with lock:
            return jsonify(admin.list_folders())

    @app.post("/api/v2/canned_response_folders")
    def admin_create_folder() -> tuple[Response, int]:
        data = body()
        with lock:
            return created(admin.save_folder(data), "/api/v2/canned_response_folders")

    @app.get("/api/v2/canned_response_folders/<folder_id>")
    def admin_show_folder(folder_id: str) -> Response:
        with lock:
            return jsonify(admin.show_folder(folder_id))

    @app.put("/api/v2/canned_response_folders/<folder_id>")
    def admin_update_folder(folder_id: str) -> Response:
        data = body()
        with lock:
            return jsonify(admin.save_folder(data, folder_id))

    @app.get("/api/v2/canned_response_folders/<folder_id>/responses")
    def admin_folder_responses(folder_id: str) -> Response:
        args = request.args.to_dict()
        page, per_page = _page_args(args)
        with lock:
            folder = admin.folder(folder_id)
            items = [dict(r) for r in admin.responses_in(folder["id"])]
        return _paged(items, page, per_page)

    @app.get("/api/v2/canned_responses")
    def admin_list_responses() -> Response:
        with lock:
            return jsonify(admin.list_responses(request.args.get("ids")))

    @app.post("/api/v2/canned_responses")
    def admin_create_response() -> tuple[Response, int]:
        data = body()
        with lock:
            return created(dict(admin.save_response(data)), "/api/v2/canned_responses")

    @app.get("/api/v2/canned_responses/<response_id>")
    def admin_show_response(response_id: str) -> Response:
        with lock:
            return jsonify(admin.response(response_id))

    @app.put("/api/v2/canned_responses/<response_id>")
    def admin_update_response(response_id: str) -> Response:
        data = body()
        with lock:
            return jsonify(admin.save_response(data, response_id))

    # ------------------------------------------------------------------ business hours

    @app.get("/api/v2/business_hours")
    def admin_list_business_hours() -> Response:
        return jsonify([admin.calendar.view(full=False)])

    @app.get("/api/v2/business_hours/<calendar_id>")
    def admin_show_business_hours(calendar_id: str) -> Response:
        if _id(calendar_id) != admin.calendar.id:
            raise not_found()
        return jsonify(admin.calendar.view(full=True))

    # ------------------------------------------------------------------ hourly rules

    @app.post("/_sandbox/automations/run")
    def admin_run_time_triggers() -> Response:
        """One hourly scan now, or ``{"hours": N}``: N times, move the sandbox clock an hour
        and scan (Freshdesk's supervisor runs once an hour)."""
        data = request.get_json(silent=True)
        hours = data.get("hours") if isinstance(data, dict) else None
        if hours is not None and not (_is_int(hours) and 1 <= hours <= 24 * 31):
            raise validation_failed([field_error("hours", "an integer from 1 to 744 is "
                                                 "expected")])
        runs = []
        for _ in range(hours or 1):
            if hours:
                sandbox.controls.wall.advance(3600)
            with lock:
                calls, report = sandbox.rules.run_time_triggers(admin.moments)
                runs.append({"at": iso(sandbox.store.now()), "rules": report})
            sandbox.deliver(calls)
        return jsonify({"runs": runs})

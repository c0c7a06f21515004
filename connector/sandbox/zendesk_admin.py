"""Admin objects of the Zendesk stand-in: groups, business-hours schedules with holidays, SLA
policies (and the one a ticket falls under), automations (run on demand) and macros.

    ZendeskAdmin                 the state; ``sandbox.admin``; every method expects ``store.lock``
    register_admin_routes(app, sandbox)   the HTTP surface (``/api/v2/...`` and
                                 ``POST /_sandbox/automations/run``)

Taught from Zendesk's documentation, never from the connector's code:
- OpenAPI file ``../shared/specs/zendesk-support-openapi.yaml``: GroupObject, SLAPolicyObject,
  AutomationObject (and Create Automation's rules), MacroInput / MacroObject,
  MacroApplyTicketResponse.
- Schedules: https://developer.zendesk.com/api-reference/ticketing/ticket-management/schedules/
  (not in the OpenAPI file).
- Conditions / actions: https://developer.zendesk.com/documentation/ticketing/reference-guides/
  conditions-reference/ and .../actions-reference/ ; automation time conditions:
  https://support.zendesk.com/hc/en-us/articles/4408885654298 ("Hours since created" …).
- When an SLA policy is applied: https://support.zendesk.com/hc/en-us/articles/4408885881498
  ("SLAs are based on ticket events": a policy created or changed later reaches a ticket only at
  its next create / update). The sandbox applies it after the trigger cycle of every event.

Known simplifications (say so when a test leans on them): SLA clocks ignore time spent paused
(a paused metric shows ``breach_at`` null, its deadline is not pushed back on resume);
"Hours since" counts exact elapsed hours at the run's clock (Zendesk starts counting at the first
hourly run after the condition held, so a real account fires up to an hour later); automations
run only when ``POST /_sandbox/automations/run`` is called; an automation's update runs the
triggers with the API user as current user (Zendesk's is the system).
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, available_timezones

from flask import Flask, Response, jsonify, request

from connector.sandbox.zendesk_store import (
    PRIORITIES,
    STATUSES,
    TYPES,
    Actor,
    UpdateContext,
    ZendeskStore,
    as_id,
    bad_request,
    invalid,
    iso,
    normalize_tags,
    not_found,
    parse_iso,
    record_invalid,
)
from connector.sandbox.zendesk_triggers import Rules, WebhookCall, render_placeholders

if TYPE_CHECKING:
    from connector.sandbox.zendesk import ZendeskSandbox

__all__ = [
    "AUTOMATION_TIME_FIELDS",
    "SLA_METRICS",
    "ZendeskAdmin",
    "register_admin_routes",
]

VIA_RULE = 8  # Via types reference: 8 "Rule" (triggers and automations)

# Policy metric names (SLA Policies API, "Metrics"; SLAPolicyMetricObject.metric).
SLA_METRICS = (
    "first_reply_time",
    "next_reply_time",
    "periodic_update_time",
    "pausable_update_time",
    "requester_wait_time",
    "agent_work_time",
    "total_resolution_time",
)
# SLA filter fields and their operators. The policy's `filter` is "identical to the conditions
# property" (conditions reference); the fields an account offers come from
# GET /api/v2/slas/policies/definitions, which this list answers.
_ID_OPS = ("is", "is_not")
_ORDERED_OPS = ("is", "is_not", "less_than", "greater_than")
SLA_FILTER_FIELDS: dict[str, tuple[str, ...]] = {
    "current_tags": ("includes", "not_includes"),
    "type": _ID_OPS,
    "priority": _ORDERED_OPS,
    "status": _ORDERED_OPS,
    "group_id": _ID_OPS,
    "assignee_id": _ID_OPS,
    "requester_id": _ID_OPS,
    "organization_id": _ID_OPS,
    "brand_id": _ID_OPS,
    "ticket_form_id": _ID_OPS,
    "via_id": _ID_OPS,
}
# Automation time conditions (API names; https://support.zendesk.com/hc/en-us/articles/
# 4408885654298 lists them by their UI names: Hours since created / open / pending / on-hold /
# solved / closed / assigned / update / requester update / assignee update). Only whole hours.
AUTOMATION_TIME_FIELDS = (
    "NEW",
    "OPEN",
    "PENDING",
    "HOLD",
    "SOLVED",
    "CLOSED",
    "assigned_at",
    "updated_at",
    "requester_updated_at",
    "assignee_updated_at",
)
_TIME_OPS = (
    "is",
    "less_than",
    "greater_than",
    "is_business_hours",
    "less_than_business_hours",
    "greater_than_business_hours",
)
AUTOMATION_CONDITION_FIELDS: dict[str, tuple[str, ...]] = {
    **{name: _TIME_OPS for name in AUTOMATION_TIME_FIELDS},
    "status": _ORDERED_OPS,
    "priority": _ORDERED_OPS,
    "type": _ID_OPS,
    "group_id": _ID_OPS,
    "assignee_id": _ID_OPS,
    "requester_id": _ID_OPS,
    "organization_id": _ID_OPS,
    "via_id": _ID_OPS,
    "current_tags": ("includes", "not_includes"),
}
# Create Automation (OpenAPI): `all` must check one of these besides a time condition.
_AUTOMATION_ANCHORS = ("status", "type", "group_id", "assignee_id", "requester_id")
# Actions reference, "Shared actions" (triggers, automations and macros) plus webhooks.
AUTOMATION_ACTIONS = (
    "status",
    "type",
    "priority",
    "group_id",
    "assignee_id",
    "set_tags",
    "current_tags",
    "remove_tags",
    "notification_webhook",
    "notification_user",
    "notification_group",
)
MACRO_ACTIONS = (
    "status",
    "type",
    "priority",
    "group_id",
    "assignee_id",
    "set_tags",
    "current_tags",
    "remove_tags",
    "subject",
    "comment_value",
    "comment_value_html",
    "comment_mode_is_public",
)
_WEEK_MINUTES = 7 * 24 * 60
# A new schedule's hours: Monday to Friday 09:00-17:00, as the Create Schedule example answers
# (minutes since Sunday 00:00; 1980 = Monday 09:00).
_DEFAULT_INTERVALS = tuple(
    {"start_time": day * 1440 + 540, "end_time": day * 1440 + 1020} for day in range(1, 6)
)
# Schedules take Rails time-zone names ("Pacific Time (US & Canada)" in the docs' examples);
# Rails resolves IANA identifiers too. The common Rails names, with their IANA zones:
RAILS_TIME_ZONES = {
    "Hawaii": "Pacific/Honolulu",
    "Alaska": "America/Juneau",
    "Pacific Time (US & Canada)": "America/Los_Angeles",
    "Arizona": "America/Phoenix",
    "Mountain Time (US & Canada)": "America/Denver",
    "Central Time (US & Canada)": "America/Chicago",
    "Eastern Time (US & Canada)": "America/New_York",
    "Atlantic Time (Canada)": "America/Halifax",
    "Mexico City": "America/Mexico_City",
    "Bogota": "America/Bogota",
    "Brasilia": "America/Sao_Paulo",
    "Buenos Aires": "America/Argentina/Buenos_Aires",
    "UTC": "Etc/UTC",
    "London": "Europe/London",
    "Dublin": "Europe/Dublin",
    "Lisbon": "Europe/Lisbon",
    "Amsterdam": "Europe/Amsterdam",
    "Berlin": "Europe/Berlin",
    "Paris": "Europe/Paris",
    "Madrid": "Europe/Madrid",
    "Rome": "Europe/Rome",
    "Stockholm": "Europe/Stockholm",
    "Warsaw": "Europe/Warsaw",
    "Athens": "Europe/Athens",
    "Helsinki": "Europe/Helsinki",
    "Istanbul": "Europe/Istanbul",
    "Moscow": "Europe/Moscow",
    "Cairo": "Africa/Cairo",
    "Pretoria": "Africa/Johannesburg",
    "Nairobi": "Africa/Nairobi",
    "Abu Dhabi": "Asia/Dubai",
    "New Delhi": "Asia/Kolkata",
    "Mumbai": "Asia/Kolkata",
    "Bangkok": "Asia/Bangkok",
    "Jakarta": "Asia/Jakarta",
    "Singapore": "Asia/Singapore",
    "Hong Kong": "Asia/Hong_Kong",
    "Beijing": "Asia/Shanghai",
    "Seoul": "Asia/Seoul",
    "Tokyo": "Asia/Tokyo",
    "Sydney": "Australia/Sydney",
    "Melbourne": "Australia/Melbourne",
    "Auckland": "Pacific/Auckland",
}
# Metrics that pause in these statuses (SLA metric definitions: requester wait time pauses on
# pending; agent work time on pending and on-hold).
_PAUSED_ON = {"requester_wait_time": ("pending",), "agent_work_time": ("pending", "hold")}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _zone(name: Any) -> ZoneInfo | None:
    if not isinstance(name, str):
        return None
    iana = RAILS_TIME_ZONES.get(name, name)
    return ZoneInfo(iana) if iana in available_timezones() else None


def _wrapped(payload: Any, key: str) -> dict[str, Any]:
    data = payload.get(key) if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        raise bad_request("ParameterMissing", f"param is missing or the value is empty: {key}")
    return data


def _title(data: dict[str, Any], creating: bool, name: str = "title") -> str | None:
    if not creating and name not in data:
        return None
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise invalid(name, f"{name.capitalize()}: cannot be blank", "BlankValue")
    return value


def _position(data: dict[str, Any]) -> int | None:
    if "position" not in data:
        return None
    value = data["position"]
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid("position", "Position: is invalid")
    return value


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _tags_of(value: Any) -> list[str]:
    return normalize_tags(value if isinstance(value, list) else _text(value))


# ---------------------------------------------------------------------------- business hours


def open_windows(
    schedule: dict[str, Any], holidays: list[dict[str, Any]], start: float
) -> Iterator[tuple[float, float]]:
    """The schedule's open periods from ``start`` on (UTC timestamps), holidays closed.

    Intervals are minutes since Sunday 00:00 in the schedule's time zone and never span a day
    (Schedules API, "Intervals"), so each one is a local day's window; local wall-clock
    arithmetic keeps 09:00 at 09:00 across daylight-saving changes.
    """
    zone = _zone(schedule["time_zone"]) or ZoneInfo("Etc/UTC")
    intervals = sorted(schedule["intervals"], key=lambda i: i["start_time"])
    if not intervals:
        return
    closed = [
        (date.fromisoformat(h["start_date"]), date.fromisoformat(h["end_date"])) for h in holidays
    ]
    day = datetime.fromtimestamp(start, zone).date() - timedelta(days=1)
    for _ in range(3 * 366):
        if not any(first <= day <= last for first, last in closed):
            weekday = (day.weekday() + 1) % 7  # Python's Monday is 0; Zendesk's week starts Sunday
            midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
            for interval in intervals:
                if interval["start_time"] // 1440 != weekday:
                    continue
                opens = (midnight + timedelta(minutes=interval["start_time"] % 1440)).timestamp()
                span = interval["end_time"] - interval["start_time"]
                closes = (
                    midnight + timedelta(minutes=interval["start_time"] % 1440 + span)
                ).timestamp()
                if closes > start:
                    yield max(opens, start), closes
        day += timedelta(days=1)


def add_business_minutes(
    schedule: dict[str, Any], holidays: list[dict[str, Any]], start: float, minutes: float
) -> float | None:
    """When ``minutes`` of open time have passed after ``start``; None: it never opens."""
    left = minutes * 60.0
    for opens, closes in open_windows(schedule, holidays, start):
        if closes - opens >= left:
            return opens + left
        left -= closes - opens
    return None


def business_seconds_between(
    schedule: dict[str, Any], holidays: list[dict[str, Any]], start: float, end: float
) -> float:
    total = 0.0
    for opens, closes in open_windows(schedule, holidays, start):
        if opens >= end:
            break
        total += min(closes, end) - opens
    return total


# ---------------------------------------------------------------------------- the state


@dataclass
class ZendeskAdmin:
    """Groups, schedules, SLA policies, automations and macros of one account."""

    store: ZendeskStore
    rules: Rules
    groups: dict[int, dict[str, Any]] = field(default_factory=dict)
    schedules: dict[int, dict[str, Any]] = field(default_factory=dict)
    holidays: dict[int, dict[int, dict[str, Any]]] = field(default_factory=dict)
    sla_policies: dict[int, dict[str, Any]] = field(default_factory=dict)
    automations: dict[int, dict[str, Any]] = field(default_factory=dict)
    macros: dict[int, dict[str, Any]] = field(default_factory=dict)
    # The schedule a trigger's set_schedule action put on a ticket (not in the ticket's JSON).
    ticket_schedules: dict[int, int] = field(default_factory=dict)
    # The SLA policy applied at a ticket's last event: a copy, as Zendesk keeps the policy it
    # applied until the ticket's next event ("SLAs are based on ticket events").
    ticket_slas: dict[int, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Admin objects get ids from their own range, apart from users / tickets / comments.
        self._ids = itertools.count(360_000_000_001, 3)
        # Every account starts with one default group ("Support").
        now = iso(self.store.now())
        gid = next(self._ids)
        self.groups[gid] = {
            "id": gid,
            "name": "Support",
            "description": "",
            "default": True,
            "deleted": False,
            "is_public": True,
            "created_at": now,
            "updated_at": now,
        }
        self.rules.admin = self
        self.store.group_exists = lambda gid: gid in self.live_group_ids()

    # ------------------------------------------------------------------ groups

    def group(self, group_id: int, *, deleted: bool = False) -> dict[str, Any]:
        group = self.groups.get(group_id)
        if group is None or (group["deleted"] and not deleted):
            raise not_found()
        return group

    def live_group_ids(self) -> set[int]:
        return {g["id"] for g in self.groups.values() if not g["deleted"]}

    def _checked_group(self, data: dict[str, Any], current: int | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        name = _title(data, current is None, "name")
        if name is not None:
            taken = any(
                g["name"].lower() == name.lower() and g["id"] != current and not g["deleted"]
                for g in self.groups.values()
            )
            if taken:  # guess: group names are unique per account (wording guessed)
                raise invalid("name", f"Name: {name} has already been taken", "DuplicateValue")
            out["name"] = name
        if "description" in data:
            if data["description"] is not None and not isinstance(data["description"], str):
                raise invalid("description", "Description: is invalid")
            out["description"] = data["description"] or ""
        if "is_public" in data:
            if not isinstance(data["is_public"], bool):
                raise invalid("is_public", "Is public: is invalid")
            # GroupObject.is_public: "You can't change a private group to a public group".
            if current is not None and data["is_public"] and not self.groups[current]["is_public"]:
                raise invalid("is_public", "Is public: a private group cannot be made public")
            out["is_public"] = data["is_public"]
        return out

    def create_group(self, payload: Any) -> dict[str, Any]:
        checked = self._checked_group(_wrapped(payload, "group"), None)
        now = iso(self.store.now())
        gid = next(self._ids)
        group = {
            "id": gid,
            "name": "",
            "description": "",
            "default": False,
            "deleted": False,
            "is_public": True,
            "created_at": now,
            "updated_at": now,
        }
        group.update(checked)
        self.groups[gid] = group
        return group

    def update_group(self, group_id: int, payload: Any) -> dict[str, Any]:
        group = self.group(group_id)
        group.update(self._checked_group(_wrapped(payload, "group"), group_id))
        group["updated_at"] = iso(self.store.now())
        return group

    def delete_group(self, group_id: int) -> None:
        group = self.group(group_id)
        if group["default"]:  # guess: the account's default group cannot go (wording guessed)
            raise invalid("base", "The default group cannot be deleted", "DefaultGroup")
        # GroupObject.deleted: "Deleted groups get marked as such" (soft delete).
        group["deleted"] = True
        group["updated_at"] = iso(self.store.now())

    # ------------------------------------------------------------------ schedules

    def schedule(self, schedule_id: int) -> dict[str, Any]:
        if schedule_id not in self.schedules:
            raise not_found()
        return self.schedules[schedule_id]

    def _checked_schedule(self, data: dict[str, Any], creating: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        name = _title(data, creating, "name")
        if name is not None:
            out["name"] = name
        if creating or "time_zone" in data:
            zone = data.get("time_zone")
            if not isinstance(zone, str) or not zone.strip():
                raise invalid("time_zone", "Time zone: cannot be blank", "BlankValue")
            if _zone(zone) is None:
                raise invalid("time_zone", "Time zone: is not included in the list")
            out["time_zone"] = zone
        return out

    def create_schedule(self, payload: Any) -> dict[str, Any]:
        checked = self._checked_schedule(_wrapped(payload, "schedule"), True)
        now = iso(self.store.now())
        sid = next(self._ids)
        schedule = {
            "id": sid,
            "name": checked["name"],
            "time_zone": checked["time_zone"],
            "intervals": [dict(i) for i in _DEFAULT_INTERVALS],
            "created_at": now,
            "updated_at": now,
        }
        self.schedules[sid] = schedule
        self.holidays[sid] = {}
        return schedule

    def update_schedule(self, schedule_id: int, payload: Any) -> dict[str, Any]:
        schedule = self.schedule(schedule_id)
        data = _wrapped(payload, "schedule")
        if "intervals" in data:
            # "Writable only when updating intervals for a schedule" (PUT .../workweek).
            raise invalid("intervals", "Intervals: can only be updated through the workweek")
        schedule.update(self._checked_schedule(data, False))
        schedule["updated_at"] = iso(self.store.now())
        return schedule

    def delete_schedule(self, schedule_id: int) -> None:
        self.schedule(schedule_id)
        del self.schedules[schedule_id]
        del self.holidays[schedule_id]
        self.ticket_schedules = {t: s for t, s in self.ticket_schedules.items() if s != schedule_id}

    def update_workweek(self, schedule_id: int, payload: Any) -> list[dict[str, int]]:
        schedule = self.schedule(schedule_id)
        data = _wrapped(payload, "workweek")
        items = data.get("intervals")
        if not isinstance(items, list):
            raise invalid("intervals", "Intervals: cannot be blank", "BlankValue")
        intervals: list[dict[str, int]] = []
        for item in items:
            start = item.get("start_time") if isinstance(item, dict) else None
            end = item.get("end_time") if isinstance(item, dict) else None
            if any(isinstance(v, bool) or not isinstance(v, int) for v in (start, end)):
                raise invalid("intervals", "Intervals: start_time and end_time must be integers")
            assert isinstance(start, int) and isinstance(end, int)
            if not 0 <= start < end <= _WEEK_MINUTES:
                raise invalid(
                    "intervals",
                    f"Intervals: {start}-{end} must end after it starts, within the week "
                    f"(0-{_WEEK_MINUTES} minutes since Sunday 00:00)",
                )
            if start // 1440 != (end - 1) // 1440:
                # "end_time ... Can't span calendar days" (Schedules API, Intervals).
                raise invalid("intervals", f"Intervals: {start}-{end} spans calendar days")
            intervals.append({"start_time": start, "end_time": end})
        intervals.sort(key=lambda i: i["start_time"])
        for before, after in itertools.pairwise(intervals):
            if after["start_time"] < before["end_time"]:  # guess: overlaps are refused
                raise invalid("intervals", "Intervals: intervals overlap")
        schedule["intervals"] = intervals
        schedule["updated_at"] = iso(self.store.now())
        return intervals

    def holiday(self, schedule_id: int, holiday_id: int) -> dict[str, Any]:
        found = self.holidays.get(self.schedule(schedule_id)["id"], {}).get(holiday_id)
        if found is None:
            raise not_found()
        return found

    def _checked_holiday(
        self, data: dict[str, Any], current: dict[str, Any] | None
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        name = _title(data, current is None, "name")
        if name is not None:
            out["name"] = name
        for key in ("start_date", "end_date"):
            if current is None or key in data:
                value = data.get(key)
                label = key.replace("_", " ").capitalize()
                if not isinstance(value, str) or not value:
                    raise invalid(key, f"{label}: cannot be blank", "BlankValue")
                try:
                    date.fromisoformat(value)
                except ValueError:
                    value = None
                if value is None or not _DATE.match(data[key]):
                    raise invalid(key, f"{label}: is not a date (YYYY-MM-DD)")
                out[key] = data[key]
        start = out.get("start_date", (current or {}).get("start_date"))
        end = out.get("end_date", (current or {}).get("end_date"))
        if start and end and end < start:
            raise invalid("end_date", "End date: must be on or after the start date")
        return out

    def create_holiday(self, schedule_id: int, payload: Any) -> dict[str, Any]:
        self.schedule(schedule_id)
        checked = self._checked_holiday(_wrapped(payload, "holiday"), None)
        hid = next(self._ids)
        holiday = {"id": hid, **checked}
        self.holidays[schedule_id][hid] = holiday
        return holiday

    def update_holiday(self, schedule_id: int, holiday_id: int, payload: Any) -> dict[str, Any]:
        holiday = self.holiday(schedule_id, holiday_id)
        holiday.update(self._checked_holiday(_wrapped(payload, "holiday"), holiday))
        return holiday

    def delete_holiday(self, schedule_id: int, holiday_id: int) -> None:
        self.holiday(schedule_id, holiday_id)
        del self.holidays[schedule_id][holiday_id]

    def schedule_of(self, ticket_id: int) -> dict[str, Any] | None:
        """The ticket's schedule: the one a trigger set, else the account's first (its default)."""
        sid = self.ticket_schedules.get(ticket_id)
        if sid in self.schedules:
            return self.schedules[sid]
        return min(self.schedules.values(), key=lambda s: s["id"], default=None)

    # ------------------------------------------------------------------ SLA policies

    def sla_policy(self, policy_id: int) -> dict[str, Any]:
        if policy_id not in self.sla_policies:
            raise not_found()
        return self.sla_policies[policy_id]

    def ordered_sla_policies(self) -> list[dict[str, Any]]:
        return sorted(self.sla_policies.values(), key=lambda p: (p["position"], p["id"]))

    def _checked_conditions(
        self, value: Any, key: str, fields: dict[str, tuple[str, ...]]
    ) -> dict[str, list[dict[str, Any]]]:
        if not isinstance(value, dict):
            raise invalid(key, f"{key.capitalize()}: cannot be blank", "BlankValue")
        out: dict[str, list[dict[str, Any]]] = {"all": [], "any": []}
        for group in ("all", "any"):
            items = value.get(group) or []
            if not isinstance(items, list):
                raise invalid(key, f"{key.capitalize()}: {group} must be an array")
            for cond in items:
                name = cond.get("field") if isinstance(cond, dict) else None
                if name not in fields:
                    raise invalid(
                        key,
                        f"{key.capitalize()}: {name} is not a supported condition "
                        f"(the sandbox evaluates {', '.join(sorted(fields))})",
                    )
                assert isinstance(cond, dict) and isinstance(name, str)
                operator = cond.get("operator")
                if operator not in fields[name]:
                    raise invalid(key, f"{key.capitalize()}: {operator} is invalid for {name}")
                cond_value = cond.get("value")
                if cond_value is None or not isinstance(cond_value, str | int | list):
                    raise invalid(key, f"{key.capitalize()}: value of {name} is invalid")
                if name == "priority" and _text(cond_value) not in PRIORITIES:
                    raise invalid(key, f"{key.capitalize()}: {cond_value} is not a priority")
                if name == "status" and _text(cond_value) not in STATUSES:
                    raise invalid(key, f"{key.capitalize()}: {cond_value} is not a status")
                if name == "type" and _text(cond_value) not in TYPES:
                    raise invalid(key, f"{key.capitalize()}: {cond_value} is not a ticket type")
                if name == "group_id" and as_id(cond_value) not in self.live_group_ids():
                    raise invalid(key, f"{key.capitalize()}: group {cond_value} not found")
                out[group].append({"field": name, "operator": operator, "value": cond_value})
        return out

    def _checked_metrics(self, value: Any) -> list[dict[str, Any]]:
        if not isinstance(value, list):
            raise invalid("policy_metrics", "Policy metrics: must be an array")
        out: list[dict[str, Any]] = []
        seen: set[tuple[str, str]] = set()
        for item in value:
            if not isinstance(item, dict):
                raise invalid("policy_metrics", "Policy metrics: is invalid")
            priority, metric = item.get("priority"), item.get("metric")
            target, hours = item.get("target"), item.get("business_hours", False)
            # SLAPolicyMetricObject: priority a ticket must match, metric, target (integer
            # minutes), business_hours (bool).
            if priority not in PRIORITIES:
                raise invalid("policy_metrics", f"Policy metrics: priority {priority} is invalid")
            if metric not in SLA_METRICS:
                raise invalid("policy_metrics", f"Policy metrics: metric {metric} is invalid")
            if isinstance(target, bool) or not isinstance(target, int) or target < 1:
                raise invalid(
                    "policy_metrics",
                    f"Policy metrics: target of {metric} must be a whole number of minutes > 0",
                )
            if not isinstance(hours, bool):
                raise invalid("policy_metrics", "Policy metrics: business_hours must be a boolean")
            if (priority, metric) in seen:  # one target per priority and metric
                raise invalid(
                    "policy_metrics", f"Policy metrics: {metric} for {priority} is set twice"
                )
            seen.add((priority, metric))
            out.append(
                {
                    "priority": priority,
                    "metric": metric,
                    "target": target,
                    "business_hours": hours,
                    "target_in_seconds": target * 60,
                }
            )
        return out

    def _checked_policy(self, data: dict[str, Any], creating: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        title = _title(data, creating)
        if title is not None:
            out["title"] = title
        if "description" in data:
            if data["description"] is not None and not isinstance(data["description"], str):
                raise invalid("description", "Description: is invalid")
            out["description"] = data["description"]
        position = _position(data)
        if position is not None:
            out["position"] = position
        if creating or "filter" in data:  # SLAPolicyObject requires title and filter
            out["filter"] = self._checked_conditions(
                data.get("filter"), "filter", SLA_FILTER_FIELDS
            )
        if creating or "policy_metrics" in data:
            out["policy_metrics"] = self._checked_metrics(data.get("policy_metrics", []))
        return out

    def create_sla_policy(self, payload: Any) -> dict[str, Any]:
        checked = self._checked_policy(_wrapped(payload, "sla_policy"), True)
        now = iso(self.store.now())
        pid = next(self._ids)
        policy: dict[str, Any] = {
            "id": pid,
            "title": checked["title"],
            "description": "",
            # "If not specified, the SLA policy is added as the last position"
            "position": max((p["position"] for p in self.sla_policies.values()), default=0) + 1,
            "filter": checked["filter"],
            "policy_metrics": checked["policy_metrics"],
            "created_at": now,
            "updated_at": now,
        }
        policy.update(checked)
        self.sla_policies[pid] = policy
        return policy

    def update_sla_policy(self, policy_id: int, payload: Any) -> dict[str, Any]:
        policy = self.sla_policy(policy_id)
        policy.update(self._checked_policy(_wrapped(payload, "sla_policy"), False))
        policy["updated_at"] = iso(self.store.now())
        return policy

    def delete_sla_policy(self, policy_id: int) -> None:
        self.sla_policy(policy_id)
        del self.sla_policies[policy_id]

    def reorder_sla_policies(self, ids: list[int]) -> None:
        """Listed policies take positions 1..n in that order; the rest follow as they were.
        (Guess: what Zendesk does with unlisted ones is not documented.)"""
        unknown = [i for i in ids if i not in self.sla_policies]
        if unknown:
            raise invalid("sla_policy_ids", f"SLA policy ids: {unknown} not found")
        rest = [p["id"] for p in self.ordered_sla_policies() if p["id"] not in ids]
        for position, pid in enumerate([*dict.fromkeys(ids), *rest], start=1):
            self.sla_policies[pid]["position"] = position

    def _filter_holds(self, filt: dict[str, Any], ticket: dict[str, Any]) -> bool:
        all_ok = all(_ticket_condition(c, ticket) for c in filt.get("all") or [])
        anys = filt.get("any") or []
        return all_ok and (not anys or any(_ticket_condition(c, ticket) for c in anys))

    def apply_sla(self, ticket_id: int) -> None:
        """After a ticket event: the first policy by position whose filter matches and that has a
        target for the ticket's priority (the latter per the plan, not confirmed in the docs)."""
        ticket = self.store.tickets[ticket_id]
        for policy in self.ordered_sla_policies():
            if not self._filter_holds(policy["filter"], ticket):
                continue
            if not any(m["priority"] == ticket["priority"] for m in policy["policy_metrics"]):
                continue
            self.ticket_slas[ticket_id] = {
                "policy": copy.deepcopy(policy),
                "applied_at": self.store.now(),
            }
            return
        self.ticket_slas.pop(ticket_id, None)

    def slas(self, ticket_id: int) -> dict[str, Any]:
        """The ``slas`` sideload of Show Ticket (``?include=slas``): one entry per metric of the
        applied policy for the ticket's priority, ``breach_at`` / ``stage`` as of now."""
        applied = self.ticket_slas.get(ticket_id)
        ticket = self.store.tickets[ticket_id]
        if applied is None:
            return {"policy_metrics": []}
        metrics = [
            m for m in applied["policy"]["policy_metrics"] if m["priority"] == ticket["priority"]
        ]
        out = []
        for metric in metrics:
            entry = self._metric_state(ticket, metric)
            if entry is not None:
                out.append(entry)
        return {"policy_metrics": out}

    def _deadline(
        self, ticket: dict[str, Any], start: float, metric: dict[str, Any]
    ) -> float | None:
        if not metric["business_hours"]:
            return start + metric["target"] * 60
        schedule = self.schedule_of(ticket["id"])
        if schedule is None:  # no schedule: business hours are the whole week
            return start + metric["target"] * 60
        holidays = list(self.holidays[schedule["id"]].values())
        return add_business_minutes(schedule, holidays, start, metric["target"])

    def _metric_state(
        self, ticket: dict[str, Any], metric: dict[str, Any]
    ) -> dict[str, Any] | None:
        store = self.store
        created = parse_iso(ticket["created_at"]) or 0.0
        comments = store.comments[ticket["id"]]
        public = [c for c in comments[1:] if c["public"]]  # the first comment is the request

        def by_agent(c: dict[str, Any]) -> bool:
            return c["author_id"] in store.users and store.role_of(c["author_id"]) != "end-user"

        agent_times = [parse_iso(c["created_at"]) or 0.0 for c in public if by_agent(c)]
        status = ticket["status"]
        done = status in ("solved", "closed")
        name = metric["metric"]
        stage, start = "active", created
        if name == "first_reply_time":
            if agent_times:
                stage = "achieved"
        elif name == "next_reply_time":
            # From the oldest end-user comment not yet answered, once the first reply was made.
            if not agent_times:
                return None
            last_agent = agent_times[-1]
            waiting = [
                parse_iso(c["created_at"]) or 0.0
                for c in public
                if not by_agent(c) and (parse_iso(c["created_at"]) or 0.0) > last_agent
            ]
            if not waiting:
                answered = any(not by_agent(c) for c in public)
                if not answered:
                    return None
                stage = "achieved"
            else:
                start = waiting[0]
        elif name in ("periodic_update_time", "pausable_update_time"):
            start = agent_times[-1] if agent_times else created
            if name == "pausable_update_time" and status == "pending":
                stage = "paused"
        elif status in _PAUSED_ON.get(name, ()):
            stage = "paused"
        if done and stage != "achieved":
            stage = "achieved"
        breach = None if stage == "paused" else self._deadline(ticket, start, metric)
        entry: dict[str, Any] = {
            "breach_at": iso(breach) if breach is not None else None,
            "stage": stage,
            "metric": name,
        }
        # The target in its largest whole unit (guess at the sideload's unit keys).
        target = metric["target"]
        if target % 1440 == 0:
            entry["days"] = target // 1440
        elif target % 60 == 0:
            entry["hours"] = target // 60
        else:
            entry["minutes"] = target
        return entry

    # ------------------------------------------------------------------ hooks from the trigger run

    def check_rule_action(self, name: str, value: Any) -> None:
        """Validate a trigger / automation action that names a group or a schedule."""
        if name == "group_id":
            # "Takes a string with a group id, or an empty string ("") to unassign the group"
            if value != "" and as_id(value) not in self.live_group_ids():
                raise invalid("actions", f"Actions: group {value} not found")
        elif name == "set_schedule" and as_id(value) not in self.schedules:
            raise invalid("actions", f"Actions: schedule {value} not found")

    def set_schedule(self, ticket_id: int, value: Any) -> bool:
        sid = as_id(value)
        if sid is None or self.ticket_schedules.get(ticket_id) == sid:
            return False
        self.ticket_schedules[ticket_id] = sid
        return True

    def after_triggers(self, ticket_id: int, ctx: UpdateContext) -> None:
        del ctx
        self.apply_sla(ticket_id)

    # ------------------------------------------------------------------ automations

    def automation(self, automation_id: int) -> dict[str, Any]:
        if automation_id not in self.automations:
            raise not_found()
        return self.automations[automation_id]

    def _checked_rule_actions(
        self, value: Any, allowed: tuple[str, ...], macro: bool
    ) -> list[dict[str, Any]]:
        if not isinstance(value, list) or not value:
            raise invalid("actions", "Actions: cannot be blank", "BlankValue")
        out = []
        for action in value:
            name = action.get("field") if isinstance(action, dict) else None
            if name not in allowed:
                raise invalid(
                    "actions",
                    f"Actions: {name} is not supported by the sandbox "
                    f"(it runs {', '.join(allowed)})",
                )
            assert isinstance(action, dict) and isinstance(name, str)
            val = action.get("value")
            if name == "notification_webhook":
                if not (
                    isinstance(val, list) and len(val) == 2 and all(isinstance(v, str) for v in val)
                ):
                    raise invalid(
                        "actions", "Actions: notification_webhook needs [webhook_id, body]"
                    )
                if val[0] not in self.rules.webhooks:
                    raise invalid("actions", f"Actions: webhook {val[0]} not found")
            elif name == "status":
                # Macros "don't take new or closed" (actions reference, Shared actions).
                allowed_statuses = STATUSES[1:5] if macro else STATUSES
                if _text(val) not in allowed_statuses:
                    raise invalid("actions", f"Actions: status {val} is invalid")
            elif name == "priority" and _text(val) not in PRIORITIES:
                raise invalid("actions", f"Actions: priority {val} is invalid")
            elif name == "type" and _text(val) not in TYPES:
                raise invalid("actions", f"Actions: type {val} is invalid")
            elif name == "group_id" and not (macro and val == "current_groups"):
                self.check_rule_action(name, val)
            elif name == "assignee_id" and val not in ("", "current_user"):
                user = self.store.users.get(as_id(val) or -1)
                if user is None or user["role"] == "end-user":
                    raise invalid("actions", f"Actions: assignee {val} is not an agent")
            elif not isinstance(val, str | int | list):
                raise invalid("actions", f"Actions: value of {name} is invalid")
            out.append({"field": name, "value": val})
        return out

    def _checked_automation(
        self, data: dict[str, Any], current: dict[str, Any] | None
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        title = _title(data, current is None)
        if title is not None:
            out["title"] = out["raw_title"] = title
        if "active" in data:
            if not isinstance(data["active"], bool):
                raise invalid("active", "Active: is invalid")
            out["active"] = data["active"]
        position = _position(data)
        if position is not None:
            out["position"] = position
        # "Updating a condition or action updates both the conditions and actions arrays,
        # clearing all existing values of both arrays" (Update Automation).
        if current is None or "conditions" in data or "actions" in data:
            conditions = self._checked_conditions(
                data.get("conditions"), "conditions", AUTOMATION_CONDITION_FIELDS
            )
            actions = self._checked_rule_actions(data.get("actions"), AUTOMATION_ACTIONS, False)
            _check_automation_rules(conditions, actions)
            out["conditions"], out["actions"] = conditions, actions
        merged = {**(current or {"active": True}), **out}
        if merged.get("active") and "conditions" in merged:
            # "Active automations can have overlapping conditions but can't be identical."
            mine = _condition_key(merged["conditions"])
            for other in self.automations.values():
                if (
                    other is not current
                    and other["active"]
                    and _condition_key(other["conditions"]) == mine
                ):
                    raise invalid(
                        "conditions",
                        f"Conditions: identical to the active automation {other['title']}",
                        "DuplicateValue",
                    )
        return out

    def create_automation(self, payload: Any) -> dict[str, Any]:
        checked = self._checked_automation(_wrapped(payload, "automation"), None)
        now = iso(self.store.now())
        aid = next(self._ids)
        automation: dict[str, Any] = {
            "id": aid,
            "title": checked["title"],
            "raw_title": checked["title"],
            "active": True,
            "default": False,
            "position": len(self.automations) + 1,
            "conditions": checked["conditions"],
            "actions": checked["actions"],
            "created_at": now,
            "updated_at": now,
        }
        automation.update(checked)
        self.automations[aid] = automation
        return automation

    def update_automation(self, automation_id: int, payload: Any) -> dict[str, Any]:
        automation = self.automation(automation_id)
        automation.update(self._checked_automation(_wrapped(payload, "automation"), automation))
        automation["updated_at"] = iso(self.store.now())
        return automation

    def delete_automation(self, automation_id: int) -> None:
        self.automation(automation_id)
        del self.automations[automation_id]

    def run_automations(self) -> tuple[list[dict[str, Any]], list[WebhookCall]]:
        """One automation cycle at the store's clock: every active automation in position order
        against every ticket that is not closed ("closed tickets can't be updated"); what fired,
        and the webhooks to deliver after the lock."""
        store = self.store
        fired: list[dict[str, Any]] = []
        calls: list[WebhookCall] = []
        ordered = sorted(self.automations.values(), key=lambda a: (a["position"], a["id"]))
        for automation in ordered:
            if not automation["active"]:
                continue
            for ticket in list(store.tickets.values()):
                if ticket["status"] == "closed":
                    continue
                if not self._automation_holds(automation["conditions"], ticket):
                    continue
                ctx, changed = self._apply_automation(automation, ticket, calls)
                fired.append(
                    {
                        "automation_id": automation["id"],
                        "ticket_id": ticket["id"],
                        "changed": changed,
                    }
                )
                if changed:
                    calls += self.rules.run_triggers(ticket["id"], ctx)
        return fired, calls

    def _automation_holds(self, conditions: dict[str, Any], ticket: dict[str, Any]) -> bool:
        def holds(cond: dict[str, Any]) -> bool:
            if cond["field"] in AUTOMATION_TIME_FIELDS:
                return self._time_condition(cond, ticket)
            return _ticket_condition(cond, ticket)

        all_ok = all(holds(c) for c in conditions.get("all") or [])
        anys = conditions.get("any") or []
        return all_ok and (not anys or any(holds(c) for c in anys))

    def _event_time(self, name: str, ticket: dict[str, Any]) -> float | None:
        """When the thing an "Hours since" condition counts from last happened (from the audits)."""
        store = self.store
        created = parse_iso(ticket["created_at"])
        if name == "NEW":
            return created
        if name == "updated_at":
            return parse_iso(ticket["updated_at"])
        audits = store.audits[ticket["id"]]
        if name in ("OPEN", "PENDING", "HOLD", "SOLVED", "CLOSED"):
            if ticket["status"] != name.lower():
                return None  # guess: counts only while the ticket is in that status
            for audit in reversed(audits):
                for event in audit["events"]:
                    if event.get("field_name") == "status" and event.get("value") == name.lower():
                        return parse_iso(audit["created_at"])
            return created
        if name == "assigned_at":
            for audit in reversed(audits):
                if any(e.get("field_name") == "assignee_id" for e in audit["events"]):
                    return parse_iso(audit["created_at"]) if ticket["assignee_id"] else None
            return created if ticket["assignee_id"] else None
        who = ticket["requester_id"] if name == "requester_updated_at" else ticket["assignee_id"]
        for audit in reversed(audits):
            if audit["author_id"] == who:
                return parse_iso(audit["created_at"])
        return None

    def _time_condition(self, cond: dict[str, Any], ticket: dict[str, Any]) -> bool:
        since = self._event_time(cond["field"], ticket)
        if since is None:
            return False
        now = self.store.now()
        op = cond["operator"]
        seconds = now - since
        if op.endswith("_business_hours"):
            schedule = self.schedule_of(ticket["id"])
            if schedule is not None:
                holidays = list(self.holidays[schedule["id"]].values())
                seconds = business_seconds_between(schedule, holidays, since, now)
            op = op.removesuffix("_business_hours")
        hours = int(seconds // 3600)
        wanted = int(_text(cond["value"]))
        if op == "is":
            return hours == wanted
        if op == "less_than":
            return hours < wanted
        return hours > wanted

    def _apply_automation(
        self, automation: dict[str, Any], ticket: dict[str, Any], calls: list[WebhookCall]
    ) -> tuple[UpdateContext, bool]:
        store = self.store
        actor = Actor(store.api_user_id, VIA_RULE, client="Zendesk automations")
        now = store.now()
        before = dict(ticket)
        audit = store._new_audit(ticket, actor, None, now)
        audit["via"] = {
            "channel": "rule",
            "source": {
                "from": {"id": automation["id"], "title": automation["title"], "deleted": False},
                "to": {},
                "rel": "automation",
            },
        }
        ctx = UpdateContext("Change", actor, before, None, audit)
        changed = False
        for action in automation["actions"]:
            name, value = action["field"], action["value"]
            if name == "notification_webhook":
                body = render_placeholders(value[1], store, ticket, ctx)
                calls.append(WebhookCall(value[0], body, ticket["id"], automation["id"]))
                continue
            if name in ("notification_user", "notification_group"):
                continue  # e-mail notifications are not simulated
            target, new = _action_change(name, value, ticket, actor.user_id)
            if ticket[target] == new:
                continue
            audit["events"].append(store._event("Change", target, new, ticket[target]))
            ticket[target] = new
            changed = True
        if changed:
            store.touch(ticket, now)
            store.audits[ticket["id"]].append(audit)
        return ctx, changed

    # ------------------------------------------------------------------ macros

    def macro(self, macro_id: int) -> dict[str, Any]:
        if macro_id not in self.macros:
            raise not_found()
        return self.macros[macro_id]

    def _checked_macro(self, data: dict[str, Any], creating: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        title = _title(data, creating)  # MacroInput requires title and actions
        if title is not None:
            out["title"] = title
        if creating or "actions" in data:
            out["actions"] = self._checked_rule_actions(data.get("actions"), MACRO_ACTIONS, True)
        for flag in ("active",):
            if flag in data:
                if not isinstance(data[flag], bool):
                    raise invalid(flag, f"{flag.capitalize()}: is invalid")
                out[flag] = data[flag]
        if "description" in data:
            if data["description"] is not None and not isinstance(data["description"], str):
                raise invalid("description", "Description: is invalid")
            out["description"] = data["description"]
        position = _position(data)
        if position is not None:
            out["position"] = position
        if "restriction" in data:
            restriction = data["restriction"]
            # MacroInput.restriction: type "Group" (id / ids) or "User" (id); null = everyone.
            if restriction is not None:
                kind = restriction.get("type") if isinstance(restriction, dict) else None
                if kind not in ("Group", "User"):
                    raise invalid("restriction", "Restriction: type must be Group or User")
                assert isinstance(restriction, dict)
                if kind == "Group":
                    ids = restriction.get("ids") or [restriction.get("id")]
                    missing = [i for i in ids if as_id(i) not in self.live_group_ids()]
                    if missing:
                        raise invalid("restriction", f"Restriction: groups {missing} not found")
            out["restriction"] = restriction
        return out

    def create_macro(self, payload: Any) -> dict[str, Any]:
        checked = self._checked_macro(_wrapped(payload, "macro"), True)
        now = iso(self.store.now())
        mid = next(self._ids)
        macro: dict[str, Any] = {
            "id": mid,
            "title": checked["title"],
            "actions": checked["actions"],
            "active": True,
            "default": False,
            "description": None,
            "position": 10_000,
            "restriction": None,
            "created_at": now,
            "updated_at": now,
        }
        macro.update(checked)
        self.macros[mid] = macro
        return macro

    def update_macro(self, macro_id: int, payload: Any) -> dict[str, Any]:
        macro = self.macro(macro_id)
        macro.update(self._checked_macro(_wrapped(payload, "macro"), False))
        macro["updated_at"] = iso(self.store.now())
        return macro

    def delete_macro(self, macro_id: int) -> None:
        self.macro(macro_id)
        del self.macros[macro_id]

    def macro_changes(self, macro_id: int) -> dict[str, Any]:
        """Show Changes to Ticket: only the fields the macro would change, in the shape a
        ticket update takes (MacroApplyTicketResponse), placeholders left as written."""
        changes: dict[str, Any] = {}
        comment: dict[str, Any] = {}
        for action in self.macro(macro_id)["actions"]:
            name, value = action["field"], action["value"]
            if name in ("comment_value", "comment_value_html"):
                # comment_value takes a string or ["channel:all", text].
                text = value[-1] if isinstance(value, list) else _text(value)
                comment["html_body" if name == "comment_value_html" else "body"] = text
                comment["scoped_body"] = [["channel:all", text]]
            elif name == "comment_mode_is_public":
                comment["public"] = _text(value).lower() == "true"
            elif name == "current_tags":
                changes["additional_tags"] = _tags_of(value)
            elif name in ("set_tags", "remove_tags"):
                changes["tags" if name == "set_tags" else "remove_tags"] = _tags_of(value)
            elif name in ("group_id", "assignee_id"):
                if value == "current_user":
                    changes[name] = self.store.api_user_id
                elif value != "current_groups":
                    changes[name] = as_id(value)
            else:
                changes[name] = value
        if comment:
            comment.setdefault("public", True)
            changes["comment"] = comment
        return {"result": {"ticket": changes}}

    # ------------------------------------------------------------------ views

    def state(self) -> dict[str, Any]:
        return {
            "groups": list(self.groups.values()),
            "schedules": [
                {**s, "holidays": list(self.holidays[s["id"]].values())}
                for s in self.schedules.values()
            ],
            "sla_policies": self.ordered_sla_policies(),
            "automations": sorted(self.automations.values(), key=lambda a: a["position"]),
            "macros": list(self.macros.values()),
            "ticket_schedules": {str(t): s for t, s in self.ticket_schedules.items()},
            "ticket_slas": {
                str(t): {
                    "policy_id": a["policy"]["id"],
                    "title": a["policy"]["title"],
                    "applied_at": iso(a["applied_at"]),
                }
                for t, a in self.ticket_slas.items()
            },
        }


def _ticket_condition(cond: dict[str, Any], ticket: dict[str, Any]) -> bool:
    """A non-time condition against the ticket as it is (SLA filters, automations)."""
    name, op, value = cond["field"], cond["operator"], cond["value"]
    if name == "current_tags":
        # includes = "Contains at least one of the following"; not_includes = "none of them".
        present = bool(set(_tags_of(value)) & set(ticket["tags"]))
        return present if op == "includes" else not present
    if name == "via_id":
        current: Any = 5 if ticket["via"]["channel"] == "api" else 0
    else:
        current = ticket.get(name)
    text = _text(value)
    if name in ("status", "priority") and op in ("less_than", "greater_than"):
        order = STATUSES if name == "status" else ("", *PRIORITIES)
        if _text(current) not in order or text not in order:
            return False
        delta = order.index(_text(current)) - order.index(text)
        return delta < 0 if op == "less_than" else delta > 0
    hit = _text(current) == text
    return hit if op == "is" else not hit


def _action_change(name: str, value: Any, ticket: dict[str, Any], user_id: int) -> tuple[str, Any]:
    """(ticket field, new value) for a shared action (actions reference)."""
    if name in ("set_tags", "current_tags", "remove_tags"):
        tags = _tags_of(value)
        if name == "set_tags":
            return "tags", tags
        if name == "current_tags":
            return "tags", ticket["tags"] + [t for t in tags if t not in ticket["tags"]]
        return "tags", [t for t in ticket["tags"] if t not in tags]
    if name in ("group_id", "assignee_id"):
        if value == "":
            return name, None  # "an empty string ("") to unassign"
        return name, user_id if value == "current_user" else as_id(value)
    return name, _text(value).lower()


def _condition_key(conditions: dict[str, Any]) -> tuple[Any, ...]:
    def key(items: list[dict[str, Any]]) -> tuple[Any, ...]:
        return tuple(sorted((c["field"], c["operator"], repr(c["value"])) for c in items))

    return key(conditions.get("all") or []), key(conditions.get("any") or [])


def _check_automation_rules(conditions: dict[str, Any], actions: list[dict[str, Any]]) -> None:
    """Create / Update Automation (OpenAPI): `all` holds at least one time-based condition and
    one on status, type, group_id, assignee_id or requester_id; time conditions only in `all`
    (https://support.zendesk.com/hc/en-us/articles/4408885654298); and "at least one condition
    that is true only once or an action that nullifies at least one of the conditions"."""
    every, anys = conditions["all"], conditions["any"]
    if any(c["field"] in AUTOMATION_TIME_FIELDS for c in anys):
        raise invalid("conditions", "Conditions: time-based conditions can only be in all")
    times = [c for c in every if c["field"] in AUTOMATION_TIME_FIELDS]
    if not times:
        raise invalid("conditions", "Conditions: all must include a time-based condition")
    for cond in times:
        if not re.fullmatch(r"\d+", _text(cond["value"])):  # whole hours only
            raise invalid("conditions", f"Conditions: {cond['field']} takes whole hours")
    if not any(c["field"] in _AUTOMATION_ANCHORS for c in every):
        raise invalid(
            "conditions",
            "Conditions: all must check status, type, group_id, assignee_id or requester_id",
        )
    # "Hours since … is N" is true for one hour only: a condition true only once.
    once = any(c["operator"] in ("is", "is_business_hours") for c in times)
    if not once and not any(_nullifies(a, c) for a in actions for c in every):
        raise record_invalid(
            {
                "base": [
                    {
                        "description": "Automation must have at least one condition that is "
                        "true only once or an action that nullifies at least one of the "
                        "conditions",
                        "error": "InvalidValue",
                    }
                ]
            }
        )


def _nullifies(action: dict[str, Any], cond: dict[str, Any]) -> bool:
    """Whether running ``action`` makes ``cond`` false on every ticket it held for."""
    field_name, op, value = cond["field"], cond["operator"], _text(cond["value"])
    name, new = action["field"], action["value"]
    if field_name == "current_tags":
        wanted = set(_tags_of(cond["value"]))
        tags = set(_tags_of(new)) if name in ("set_tags", "current_tags", "remove_tags") else None
        if tags is None:
            return False
        if op == "includes":
            return (name == "remove_tags" and wanted <= tags) or (
                name == "set_tags" and not wanted & tags
            )
        return name in ("set_tags", "current_tags") and bool(wanted & tags)
    if name != field_name or field_name in AUTOMATION_TIME_FIELDS:
        return False
    new_text = _text(new)
    if op == "is":
        return new_text != value
    if op == "is_not":
        return new_text == value
    probe = {"status": None, "priority": None, field_name: new_text}
    return not _ticket_condition(cond, {**probe, "tags": [], "via": {"channel": "api"}})


# ---------------------------------------------------------------------------- HTTP


def register_admin_routes(app: Flask, sandbox: ZendeskSandbox, *,
                          json_body: Callable[[], Any],
                          paged: Callable[..., Response]) -> None:
    """Routes of the admin objects; auth, errors and rate limits are the app's own, and so are
    its body reader and list pager (passed in: the app module imports this one)."""
    _json_body, _paged = json_body, paged

    admin, lock = sandbox.admin, sandbox.lock

    def base() -> str:
        return request.host_url.rstrip("/")

    def url(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        return {**obj, "url": f"{base()}/api/v2/{kind}/{obj['id']}.json"}

    def created(key: str, body: dict[str, Any], status: int = 201) -> tuple[Response, int]:
        return jsonify({key: body}), status

    def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
        # Endpoint names of their own, apart from the app module's view functions.
        fn.__name__ = f"zendesk_admin_{fn.__name__}"
        return fn

    # ------------------------------------------------------------------ groups

    @app.get("/api/v2/groups")
    @guarded
    def list_groups() -> Response:
        show_deleted = request.args.get("exclude_deleted") == "false"
        with lock:
            found = [
                url("groups", g) for g in admin.groups.values() if show_deleted or not g["deleted"]
            ]
        return _paged("groups", found)

    @app.post("/api/v2/groups")
    @guarded
    def create_group() -> tuple[Response, int]:
        payload = _json_body()
        with lock:
            return created("group", url("groups", admin.create_group(payload)))

    @app.get("/api/v2/groups/<int:group_id>")
    @guarded
    def show_group(group_id: int) -> Response:
        with lock:
            return jsonify({"group": url("groups", admin.group(group_id, deleted=True))})

    @app.put("/api/v2/groups/<int:group_id>")
    @guarded
    def update_group(group_id: int) -> Response:
        payload = _json_body()
        with lock:
            return jsonify({"group": url("groups", admin.update_group(group_id, payload))})

    @app.delete("/api/v2/groups/<int:group_id>")
    @guarded
    def delete_group(group_id: int) -> tuple[str, int]:
        with lock:
            admin.delete_group(group_id)
        return "", 204

    # ------------------------------------------------------------------ schedules

    sched = "/api/v2/business_hours/schedules"

    def schedule_out(schedule: dict[str, Any]) -> dict[str, Any]:
        return {**schedule, "intervals": [dict(i) for i in schedule["intervals"]]}

    @app.get(sched)
    @guarded
    def list_schedules() -> Response:
        with lock:
            return jsonify({"schedules": [schedule_out(s) for s in admin.schedules.values()]})

    @app.post(sched)
    @guarded
    def create_schedule() -> tuple[Response, int]:
        payload = _json_body()
        with lock:
            return created("schedule", schedule_out(admin.create_schedule(payload)))

    @app.get(f"{sched}/<int:schedule_id>")
    @guarded
    def show_schedule(schedule_id: int) -> Response:
        with lock:
            return jsonify({"schedule": schedule_out(admin.schedule(schedule_id))})

    @app.put(f"{sched}/<int:schedule_id>")
    @guarded
    def update_schedule(schedule_id: int) -> Response:
        payload = _json_body()
        with lock:
            return jsonify({"schedule": schedule_out(admin.update_schedule(schedule_id, payload))})

    @app.delete(f"{sched}/<int:schedule_id>")
    @guarded
    def delete_schedule(schedule_id: int) -> tuple[str, int]:
        with lock:
            admin.delete_schedule(schedule_id)
        return "", 204

    @app.put(f"{sched}/<int:schedule_id>/workweek")
    @guarded
    def update_workweek(schedule_id: int) -> Response:
        payload = _json_body()
        with lock:
            intervals = admin.update_workweek(schedule_id, payload)
        return jsonify({"workweek": {"intervals": intervals}})

    @app.get(f"{sched}/<int:schedule_id>/holidays")
    @guarded
    def list_holidays(schedule_id: int) -> Response:
        with lock:
            admin.schedule(schedule_id)
            return jsonify({"holidays": list(admin.holidays[schedule_id].values())})

    @app.post(f"{sched}/<int:schedule_id>/holidays")
    @guarded
    def create_holiday(schedule_id: int) -> tuple[Response, int]:
        payload = _json_body()
        with lock:
            return created("holiday", dict(admin.create_holiday(schedule_id, payload)))

    @app.get(f"{sched}/<int:schedule_id>/holidays/<int:holiday_id>")
    @guarded
    def show_holiday(schedule_id: int, holiday_id: int) -> Response:
        with lock:
            return jsonify({"holiday": dict(admin.holiday(schedule_id, holiday_id))})

    @app.put(f"{sched}/<int:schedule_id>/holidays/<int:holiday_id>")
    @guarded
    def update_holiday(schedule_id: int, holiday_id: int) -> Response:
        payload = _json_body()
        with lock:
            holiday = admin.update_holiday(schedule_id, holiday_id, payload)
            return jsonify({"holiday": dict(holiday)})

    @app.delete(f"{sched}/<int:schedule_id>/holidays/<int:holiday_id>")
    @guarded
    def delete_holiday(schedule_id: int, holiday_id: int) -> tuple[str, int]:
        with lock:
            admin.delete_holiday(schedule_id, holiday_id)
        return "", 204

    # ------------------------------------------------------------------ SLA policies

    def policy_out(policy: dict[str, Any]) -> dict[str, Any]:
        return url("slas/policies", copy.deepcopy(policy))

    @app.get("/api/v2/slas/policies")
    @guarded
    def list_sla_policies() -> Response:
        with lock:
            policies = [policy_out(p) for p in admin.ordered_sla_policies()]
        return jsonify(
            {
                "sla_policies": policies,
                "next_page": None,
                "previous_page": None,
                "count": len(policies),
            }
        )

    @app.post("/api/v2/slas/policies")
    @guarded
    def create_sla_policy() -> tuple[Response, int]:
        payload = _json_body()
        with lock:
            return created("sla_policy", policy_out(admin.create_sla_policy(payload)))

    @app.get("/api/v2/slas/policies/definitions")
    @guarded
    def sla_definitions() -> Response:
        with lock:
            groups = [g for g in admin.groups.values() if not g["deleted"]]
        values: dict[str, list[dict[str, Any]]] = {
            "priority": [{"title": p.capitalize(), "value": p} for p in PRIORITIES],
            "status": [{"title": s.capitalize(), "value": s} for s in STATUSES],
            "type": [{"title": t.capitalize(), "value": t} for t in TYPES],
            "group_id": [{"title": g["name"], "value": str(g["id"])} for g in groups],
        }
        items = [
            {
                "group": "ticket",
                "operators": [
                    {"title": op.replace("_", " ").capitalize(), "value": op} for op in ops
                ],
                "target": None,
                "title": name.replace("_", " ").capitalize(),
                "value": name,
                "values": {
                    "list": values.get(name, []),
                    "type": "list" if name in values else "text",
                },
            }
            for name, ops in SLA_FILTER_FIELDS.items()
        ]
        return jsonify({"definitions": {"all": items, "any": items}})

    @app.put("/api/v2/slas/policies/reorder")
    @guarded
    def reorder_sla_policies() -> Response:
        # The spec takes sla_policy_ids as a query array; the reference sheet as a JSON body.
        body = _json_body()
        ids: Any = body.get("sla_policy_ids") if isinstance(body, dict) else None
        if ids is None:
            raw = request.args.getlist("sla_policy_ids[]") or request.args.getlist("sla_policy_ids")
            ids = [i for part in raw for i in part.split(",") if i]
        parsed = [as_id(i) for i in ids] if isinstance(ids, list) else [None]
        if not parsed or any(i is None for i in parsed):
            raise bad_request("InvalidParameter", "sla_policy_ids: an array of ids is required")
        with lock:
            admin.reorder_sla_policies([i for i in parsed if i is not None])
        # "Empty response" (ReorderSLAPolicies, 200).
        return Response("", status=200, mimetype="application/json")

    @app.get("/api/v2/slas/policies/<int:policy_id>")
    @guarded
    def show_sla_policy(policy_id: int) -> Response:
        with lock:
            return jsonify({"sla_policy": policy_out(admin.sla_policy(policy_id))})

    @app.put("/api/v2/slas/policies/<int:policy_id>")
    @guarded
    def update_sla_policy(policy_id: int) -> Response:
        payload = _json_body()
        with lock:
            return jsonify({"sla_policy": policy_out(admin.update_sla_policy(policy_id, payload))})

    @app.delete("/api/v2/slas/policies/<int:policy_id>")
    @guarded
    def delete_sla_policy(policy_id: int) -> tuple[str, int]:
        with lock:
            admin.delete_sla_policy(policy_id)
        return "", 204

    # ------------------------------------------------------------------ automations

    def ordered_automations() -> list[dict[str, Any]]:
        return sorted(admin.automations.values(), key=lambda a: (a["position"], a["id"]))

    @app.get("/api/v2/automations")
    @guarded
    def list_automations() -> Response:
        active = request.args.get("active")
        with lock:
            found = [
                url("automations", a)
                for a in ordered_automations()
                if active is None or a["active"] == (active == "true")
            ]
        return _paged("automations", found)

    @app.get("/api/v2/automations/active")
    @guarded
    def active_automations() -> Response:
        with lock:
            found = [url("automations", a) for a in ordered_automations() if a["active"]]
        return _paged("automations", found)

    @app.post("/api/v2/automations")
    @guarded
    def create_automation() -> tuple[Response, int]:
        payload = _json_body()
        with lock:
            return created("automation", url("automations", admin.create_automation(payload)))

    @app.get("/api/v2/automations/<int:automation_id>")
    @guarded
    def show_automation(automation_id: int) -> Response:
        with lock:
            return jsonify({"automation": url("automations", admin.automation(automation_id))})

    @app.put("/api/v2/automations/<int:automation_id>")
    @guarded
    def update_automation(automation_id: int) -> Response:
        payload = _json_body()
        with lock:
            updated = admin.update_automation(automation_id, payload)
            return jsonify({"automation": url("automations", updated)})

    @app.delete("/api/v2/automations/<int:automation_id>")
    @guarded
    def delete_automation(automation_id: int) -> tuple[str, int]:
        with lock:
            admin.delete_automation(automation_id)
        return "", 204

    @app.post("/_sandbox/automations/run")
    @guarded
    def run_automations() -> Response:
        """One automation cycle now (Zendesk runs them about hourly) at the shared clock."""
        with lock:
            fired, calls = admin.run_automations()
        sandbox.deliver(calls)
        return jsonify({"fired": fired})

    # ------------------------------------------------------------------ macros

    @app.get("/api/v2/macros")
    @guarded
    def list_macros() -> Response:
        active = request.args.get("active")
        with lock:
            found = [
                url("macros", m)
                for m in sorted(admin.macros.values(), key=lambda m: (m["position"], m["id"]))
                if active is None or m["active"] == (active == "true")
            ]
        return _paged("macros", found)

    @app.post("/api/v2/macros")
    @guarded
    def create_macro() -> tuple[Response, int]:
        payload = _json_body()
        with lock:
            # Create Macro answers 200 in the OpenAPI file (not 201).
            return created("macro", url("macros", admin.create_macro(payload)), 200)

    @app.get("/api/v2/macros/<int:macro_id>")
    @guarded
    def show_macro(macro_id: int) -> Response:
        with lock:
            return jsonify({"macro": url("macros", admin.macro(macro_id))})

    @app.put("/api/v2/macros/<int:macro_id>")
    @guarded
    def update_macro(macro_id: int) -> Response:
        payload = _json_body()
        with lock:
            return jsonify({"macro": url("macros", admin.update_macro(macro_id, payload))})

    @app.delete("/api/v2/macros/<int:macro_id>")
    @guarded
    def delete_macro(macro_id: int) -> tuple[str, int]:
        with lock:
            admin.delete_macro(macro_id)
        return "", 204

    @app.get("/api/v2/macros/<int:macro_id>/apply")
    @guarded
    def macro_apply(macro_id: int) -> Response:
        with lock:
            return jsonify(admin.macro_changes(macro_id))

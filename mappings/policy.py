"""Load and validate the support policy pack (``default_policy.toml`` or an admin's own file).

The pack is data an admin edits: tiers with their default SLA targets, the support scenarios with
their approved acknowledgement scripts, targets, owner groups and escalation rules, the agent
scripts used after the acknowledgement, business hours with holidays, the triage signals, and the
STOP / HELP texts. ``load_policy`` turns it into a frozen :class:`Policy` tree or raises
:class:`~connector.errors.ConfigurationError` whose message names every bad key by its path
(``scenarios[2].tier: unknown tier 'P9'``), so a broken pack fails at start, never mid-conversation.

Durations are written ``90s`` / ``10m`` / ``24h`` / ``3d`` (a plain integer is seconds) and are
float seconds in the model. Packs written before durations keep loading:
``first_response_minutes``, ``after_minutes`` / ``window_minutes`` and
``business_hours.days/start/end`` are read as the new keys, and read-only properties
(``Scenario.first_response_minutes``, ``EscalationRule.after_minutes`` …,
``BusinessHours.days/start/end``) keep old callers working.

Structure and types are checked by marshmallow schemas; what a schema cannot see (a scenario's tier
exists, exactly one default scenario, acknowledgements are GSM-7 and fit one SMS segment, regular
expressions compile, a script's scenario exists) is checked afterwards, with the same key paths.
``lint`` returns softer warnings for ``sms-connector policy lint``.

This module does no I/O besides reading the pack file (``mappings/`` is pure translation).
"""

from __future__ import annotations

import math
import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from connector.config_fields import parse_duration
from connector.errors import ConfigurationError

__all__ = [
    "DEFAULT_REMINDER",
    "HELPDESKS",
    "SCRIPT_KINDS",
    "THEN_ACTIONS",
    "TRIGGERS",
    "BusinessHours",
    "EscalationRule",
    "FlagRule",
    "GroupsPolicy",
    "Holiday",
    "Interval",
    "LintPolicy",
    "Policy",
    "Scenario",
    "Script",
    "Signals",
    "Targets",
    "Tier",
    "format_duration",
    "format_opening",
    "gsm7_septets",
    "is_gsm7",
    "lint",
    "load_policy",
    "policy_from_dict",
    "segments",
]

HELPDESKS = ("zendesk", "freshdesk")
ZENDESK_PRIORITIES = ("low", "normal", "high", "urgent")
# https://developers.freshdesk.com/api/#tickets: 1 low, 2 medium, 3 high, 4 urgent.
FRESHDESK_PRIORITIES = (1, 2, 3, 4)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Escalation triggers and the parameters each one needs (enforced later by the escalation tick).
# Durations (`after`, `window`) are seconds in the model.
TRIGGERS: dict[str, tuple[str, ...]] = {
    "no_customer_response": ("after",),
    "status_unknown": ("after",),
    "diagnostic_loops": ("max_loops",),
    "flags": ("flags",),
    "multiple_customers": ("distinct_numbers", "window"),
}
# Keys of packs written before durations: old key → (new key, seconds per unit).
_LEGACY_DURATIONS = {
    "first_response_minutes": ("first_response", 60),
    "after_minutes": ("after", 60),
    "window_minutes": ("window", 60),
}

DEFAULT_REMINDER = ("{brand}: just checking in - did our last reply help? Reply here if you "
                    "still need anything.")

# What no_customer_response does once its reminder went unanswered for ``then_after``.
THEN_ACTIONS = ("solve", "escalate")

# What an agent script is for (the list; "reply" is anything else).
SCRIPT_KINDS = (
    "status_update",
    "diagnostic_question",
    "billing_handoff",
    "outage_update",
    "closing",
    "reply",
)

# GSM 03.38 default alphabet and its extension table (../shared/docs/reference/sms.md). Kept here
# rather than imported from connector.text.sms_text so that loading a pack depends on nothing but
# this file; an extension character costs two septets (escape + char).
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
SINGLE_SEGMENT_SEPTETS = 160
CONCAT_SEGMENT_SEPTETS = 153
# A UCS-2 SMS carries 70 characters, 67 a part when concatenated (sms.md).
UCS2_SINGLE_SEGMENT = 70
UCS2_CONCAT_SEGMENT = 67

_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
# Zendesk tags are lowercase words without spaces; the connector's own start with sms_.
_TAG = re.compile(r"^[a-z0-9_:/.-]+$")

_ACK_FIELDS = frozenset({"brand", "first_response", "support_contact", "status_url"})
_TEXT_FIELDS = frozenset({"brand", "support_contact", "status_url"})
# Agent scripts: {eta} and {order} are left for the agent to fill in the macro / canned response.
_SCRIPT_FIELDS = frozenset({"brand", "support_contact", "status_url", "eta", "order"})
_AGENT_FIELDS = frozenset({"eta", "order"})
# Stand-ins for the agent's values when lint measures a script's length: a long-ish ETA and an
# order number as customers type them.
_LINT_SAMPLES = {"eta": "45 minutes", "order": "#123456789"}


def is_gsm7(text: str) -> bool:
    """True when every character is in the GSM-7 default alphabet or its extension table."""
    return all(ch in _GSM7_BASIC or ch in _GSM7_EXTENSION for ch in text)


def gsm7_septets(text: str) -> int:
    """Length of a GSM-7 text in septets (extension characters count two)."""
    return sum(2 if ch in _GSM7_EXTENSION else 1 for ch in text)


def segments(text: str) -> int:
    """How many SMS segments ``text`` takes: GSM-7 when it can be, else UCS-2."""
    if is_gsm7(text):
        size, single, part = gsm7_septets(text), SINGLE_SEGMENT_SEPTETS, CONCAT_SEGMENT_SEPTETS
    else:
        # UTF-16 code units: an emoji outside the BMP takes two.
        size = len(text.encode("utf-16-le")) // 2
        single, part = UCS2_SINGLE_SEGMENT, UCS2_CONCAT_SEGMENT
    return 1 if size <= single else -(-size // part)


_segments = segments


def format_duration(seconds: float) -> str:
    """Seconds as a customer reads them: ``600`` → ``"10 minutes"``, ``90`` → ``"90 seconds"``,
    ``3600`` → ``"1 hour"``, ``5400`` → ``"90 minutes"``, ``172800`` → ``"2 days"``."""
    whole = round(seconds)

    def plural(n: int, unit: str) -> str:
        return f"{n} {unit}" if n == 1 else f"{n} {unit}s"

    if whole % 60:
        return plural(whole, "second")
    minutes = whole // 60
    if minutes % 60:
        return plural(minutes, "minute")
    hours = minutes // 60
    # "24 hours" reads better than "1 day" for a response promise; from two days on, days.
    if hours % 24 == 0 and hours >= 48:
        return plural(hours // 24, "day")
    return plural(hours, "hour")


_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Packs written before {first_response} carried its preposition ("reply within {first_response}")
# keep reading right: the placeholder now renders "within 10 minutes" or "by Mon 9:00 AM (EST)".
_LEGACY_WITHIN = re.compile(r"\bwithin \{first_response\}")


def format_opening(opening: datetime, at: datetime) -> str:
    """When business hours open, as an after-hours acknowledgement promises it, in the zone of
    ``opening``: ``"by Mon 9:00 AM (EST)"``, or ``"by Jan 4 9:00 AM (EST)"`` when it is a week or
    more after ``at`` (a weekday alone would be ambiguous). English names, not the locale's."""
    hour = opening.hour % 12 or 12
    clock = f"{hour}:{opening.minute:02d} {'AM' if opening.hour < 12 else 'PM'}"
    day = _DAY_NAMES[opening.weekday()]
    if (opening.date() - at.astimezone(opening.tzinfo).date()).days >= 7:
        day = f"{_MONTH_NAMES[opening.month - 1]} {opening.day}"
    return f"by {day} {clock} ({opening.tzname()})"


def _opening_sample(timezone: str) -> str:
    """The longest ``format_opening`` text the zone can give: what load and lint measure."""
    zone = ZoneInfo(timezone)
    abbrs = [datetime(2026, m, 1, 12, tzinfo=zone).tzname() or "" for m in (1, 7)]
    return f"by Sep 30 12:00 PM ({max(abbrs, key=len)})"


def _ack_template(ack: str) -> str:
    return _LEGACY_WITHIN.sub("{first_response}", ack)


def _minutes(seconds: float | None) -> int | None:
    """Seconds → whole minutes for old callers, rounded up (a 90 s target is not 1 minute)."""
    return None if seconds is None else math.ceil(seconds / 60)


class _KeepMissing(dict[str, str]):
    """``str.format_map`` values that leave an unknown ``{name}`` as it is (for the agent)."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


# --------------------------------------------------------------------------------------------
# The frozen tree


@dataclass(frozen=True)
class Targets:
    """SLA targets in seconds; None = no target for that metric."""

    first_response: float | None = None
    next_response: float | None = None
    resolution: float | None = None


@dataclass(frozen=True)
class Tier:
    id: str
    title: str
    zendesk_priority: str
    freshdesk_priority: int
    targets: Targets = Targets()  # the tier's defaults; a scenario may override each


@dataclass(frozen=True)
class Interval:
    """Open on ``days`` from ``start`` to ``end`` (local time of the business hours' zone)."""

    days: tuple[str, ...]
    start: time
    end: time


@dataclass(frozen=True)
class Holiday:
    name: str
    start: date
    end: date  # inclusive; == start for a one-day holiday

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True)
class BusinessHours:
    timezone: str
    intervals: tuple[Interval, ...]
    holidays: tuple[Holiday, ...] = ()
    name: str = "Support hours"

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` (timezone-aware) falls inside business hours; holidays are closed."""
        local = at.astimezone(ZoneInfo(self.timezone))
        if any(h.covers(local.date()) for h in self.holidays):
            return False
        day, now = WEEKDAYS[local.weekday()], local.time()
        return any(day in i.days and i.start <= now < i.end for i in self.intervals)

    def next_open(self, at: datetime) -> datetime | None:
        """When the next open interval starts after ``at`` (timezone-aware), in the business
        hours' zone; None when they do not open within three years."""
        zone = ZoneInfo(self.timezone)
        after = at.timestamp()
        day = at.astimezone(zone).date()
        for _ in range(3 * 366):
            if not any(h.covers(day) for h in self.holidays):
                weekday = WEEKDAYS[day.weekday()]
                starts = sorted(
                    datetime.combine(day, i.start, tzinfo=zone)
                    for i in self.intervals
                    if weekday in i.days and i.start < i.end
                )
                for start in starts:
                    if start.timestamp() > after:
                        return start
            day += timedelta(days=1)
        return None

    # Before intervals the pack had one `days` / `start` / `end`: the first interval's.
    @property
    def days(self) -> tuple[str, ...]:
        return self.intervals[0].days if self.intervals else ()

    @property
    def start(self) -> time:
        return self.intervals[0].start

    @property
    def end(self) -> time:
        return self.intervals[0].end


@dataclass(frozen=True)
class Signals:
    """Weighted evidence for a scenario or flag; ``terms`` are matched by connector.text.triage."""

    terms: tuple[tuple[str, float], ...] = ()
    patterns: tuple[tuple[re.Pattern[str], float], ...] = ()


@dataclass(frozen=True)
class EscalationRule:
    """When a scenario's ticket escalates; the parameters a trigger does not use are None.

    ``after`` and ``window`` are seconds."""

    trigger: str
    after: float | None = None
    max_loops: int | None = None
    flags: tuple[str, ...] = ()
    distinct_numbers: int | None = None
    window: float | None = None
    to_tier: str | None = None
    to_group: str | None = None
    add_tags: tuple[str, ...] = ()
    # no_customer_response: the one reminder texted after ``after``, then ``then`` ("solve" or
    # "escalate") once ``then_after`` more has passed with no answer.
    reminder: str | None = None
    then: str | None = None
    then_after: float | None = None

    @property
    def texts_customer(self) -> bool:
        """The rule texts the customer (a no-response reminder): no helpdesk rule sends an SMS,
        so the connector keeps it whatever the helpdesk could time (mappings/coverage.py)."""
        return self.trigger == "no_customer_response" and bool(self.reminder)

    @property
    def after_minutes(self) -> int | None:
        return _minutes(self.after)

    @property
    def window_minutes(self) -> int | None:
        return _minutes(self.window)


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    tier: str
    ack: str
    first_response: float  # seconds
    business_hours: bool  # targets count in business hours only
    escalation: EscalationRule
    # Resolved: the scenario's own targets, else its tier's; first_response always set.
    targets: Targets = Targets()
    signals: Signals = Signals()
    group: str | None = None  # the owner group's NAME in the helpdesk
    tags: tuple[str, ...] = ()
    default: bool = False

    def __post_init__(self) -> None:
        if self.targets.first_response is None:
            targets = Targets(
                self.first_response, self.targets.next_response, self.targets.resolution
            )
            object.__setattr__(self, "targets", targets)

    @property
    def first_response_minutes(self) -> int:
        return math.ceil(self.first_response / 60)


@dataclass(frozen=True)
class Script:
    """An approved agent reply after the acknowledgement, pushed as a macro / canned response."""

    id: str
    title: str
    body: str  # may use {brand} {support_contact} {status_url} {eta} {order}
    scenario: str | None = None  # None = every scenario
    tier: str | None = None  # None = every tier
    kind: str = "reply"


@dataclass(frozen=True)
class GroupsPolicy:
    create_missing: bool = False  # the connector may create a group the helpdesk lacks
    names: tuple[str, ...] = ()  # every group the pack names (scenarios, escalations), sorted


@dataclass(frozen=True)
class LintPolicy:
    banned: tuple[str, ...] = ()  # jargon agents must not text ("escalate", "ticket #" …)
    max_segments: int = 2  # an agent script's length budget


@dataclass(frozen=True)
class FlagRule:
    """A flag triage raises when its signals match or whenever it picks one of ``scenarios``."""

    id: str
    tag: str
    description: str = ""
    signals: Signals = Signals()
    scenarios: tuple[str, ...] = ()
    boost: tuple[tuple[str, float], ...] = ()
    # Customers the flag holds for whatever they write, by E.164 number (the high_value list).
    numbers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Policy:
    brand: str
    support_contact: str
    business_hours: BusinessHours
    tiers: tuple[Tier, ...]
    scenarios: tuple[Scenario, ...]
    flags: tuple[FlagRule, ...]
    stop_confirmation: str
    help_text: str
    status_url: str | None = None
    min_score: float = 1.5
    replacements: tuple[tuple[str, str], ...] = ()
    source: str = ""
    scripts: tuple[Script, ...] = ()
    groups: GroupsPolicy = field(default_factory=GroupsPolicy)
    lint: LintPolicy = field(default_factory=LintPolicy)

    def scenario(self, scenario_id: str) -> Scenario:
        for scenario in self.scenarios:
            if scenario.id == scenario_id:
                return scenario
        raise KeyError(f"unknown scenario {scenario_id!r}")

    def tier(self, tier_id: str) -> Tier:
        for tier in self.tiers:
            if tier.id == tier_id:
                return tier
        raise KeyError(f"unknown tier {tier_id!r}")

    def flag(self, flag_id: str) -> FlagRule:
        for rule in self.flags:
            if rule.id == flag_id:
                return rule
        raise KeyError(f"unknown flag {flag_id!r}")

    def script(self, script_id: str) -> Script:
        for script in self.scripts:
            if script.id == script_id:
                return script
        raise KeyError(f"unknown script {script_id!r}")

    def scripts_for(self, scenario_id: str) -> tuple[Script, ...]:
        """The scripts an agent may use on a ticket of this scenario (its own and the shared)."""
        tier = self.scenario(scenario_id).tier
        return tuple(
            s for s in self.scripts if s.scenario in (None, scenario_id) and s.tier in (None, tier)
        )

    @property
    def default_scenario(self) -> Scenario:
        return next(s for s in self.scenarios if s.default)

    def priority_for(self, tier_id: str, helpdesk: str) -> str | int:
        """The helpdesk's own priority for a tier: ``"urgent"`` (Zendesk) or ``4`` (Freshdesk)."""
        tier = self.tier(tier_id)
        if helpdesk == "zendesk":
            return tier.zendesk_priority
        if helpdesk == "freshdesk":
            return tier.freshdesk_priority
        raise ValueError(f"unknown helpdesk {helpdesk!r}; expected one of {HELPDESKS}")

    def render_ack(self, scenario_id: str, at: datetime | None = None) -> str:
        """The scenario's approved acknowledgement with brand and first-response promise filled
        in: ``{first_response}`` is ``"within 10 minutes"``, or, when the scenario counts its
        target in business hours and ``at`` (timezone-aware) is outside them, the next opening
        (``"by Mon 9:00 AM (EST)"``). Without ``at``, the minute promise."""
        scenario = self.scenario(scenario_id)
        return _ack_template(scenario.ack).format(
            first_response=self.first_response_promise(scenario_id, at),
            **self._text_values(),
        )

    def first_response_promise(self, scenario_id: str, at: datetime | None = None) -> str:
        """What an acknowledgement promises as ``{first_response}`` at ``at`` (see render_ack)."""
        scenario = self.scenario(scenario_id)
        if at is not None and scenario.business_hours:
            if at.tzinfo is None:
                raise ValueError("render_ack needs a timezone-aware datetime")
            if not self.business_hours.is_open(at):
                opening = self.business_hours.next_open(at)
                if opening is not None:
                    return format_opening(opening, at)
        return "within " + format_duration(scenario.first_response)

    def render_reminder(self, scenario_id: str) -> str:
        """The scenario's no-customer-response reminder, or a plain default."""
        text = self.scenario(scenario_id).escalation.reminder or DEFAULT_REMINDER
        return text.format(**self._text_values())

    def render_script(self, script: Script | str, **values: str) -> str:
        """A script with the pack's values filled in; ``{eta}`` / ``{order}`` stay for the agent
        unless given in ``values``."""
        if isinstance(script, str):
            script = self.script(script)
        return script.body.format_map(_KeepMissing({**self._text_values(), **values}))

    def render_stop_confirmation(self) -> str:
        return self.stop_confirmation.format(**self._text_values())

    def render_help(self) -> str:
        return self.help_text.format(**self._text_values())

    def _text_values(self) -> dict[str, str]:
        return {
            "brand": self.brand,
            "support_contact": self.support_contact,
            "status_url": self.status_url or "",
        }


# --------------------------------------------------------------------------------------------
# Schemas: structure and types. Unknown keys are errors (marshmallow's default RAISE), so a typo
# such as `first_reponse` is reported instead of silently ignored.


class _Duration(fields.Field):
    """``90s`` / ``10m`` / ``24h`` / ``3d`` or an integer number of seconds → float seconds."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise ValidationError(
                f"not a duration: {value!r} (write e.g. 90s, 10m, 24h, 3d)"
            ) from exc
        if seconds < 1:
            raise ValidationError("must be at least 1 second")
        return seconds


class _Date(fields.Field):
    """A TOML date (``2026-01-01``, unquoted) or the same as a string."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        raise ValidationError(f"not a date: {value!r} (write YYYY-MM-DD)")


def _legacy(data: dict[str, Any], new: str, required: bool) -> None:
    """One of ``new`` / its old minutes key (see _LEGACY_DURATIONS), never both."""
    old = next(k for k, (n, _) in _LEGACY_DURATIONS.items() if n == new)
    if new in data and old in data:
        raise ValidationError({new: [f"give {new} or {old} (old), not both"]})
    if required and new not in data and old not in data:
        raise ValidationError({new: ["Missing data for required field."]})


def _load_legacy(data: Mapping[str, Any], new: str) -> float | None:
    old = next(k for k, (n, _) in _LEGACY_DURATIONS.items() if n == new)
    if data.get(new) is not None:
        return float(data[new])
    if data.get(old) is not None:
        return float(data[old] * _LEGACY_DURATIONS[old][1])
    return None


class _TargetsSchema(Schema):
    first_response = _Duration()
    next_response = _Duration()
    resolution = _Duration()


class _TierSchema(Schema):
    id = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_]+$"))
    title = fields.String(load_default="")
    zendesk_priority = fields.String(required=True, validate=validate.OneOf(ZENDESK_PRIORITIES))
    freshdesk_priority = fields.Integer(
        required=True, strict=True, validate=validate.OneOf(FRESHDESK_PRIORITIES)
    )
    targets = fields.Nested(_TargetsSchema, load_default=dict)


class _IntervalSchema(Schema):
    days = fields.List(
        fields.String(validate=validate.OneOf(WEEKDAYS)), required=True, validate=validate.Length(1)
    )
    start = fields.String(required=True, validate=validate.Regexp(_HHMM, error="expected HH:MM"))
    end = fields.String(required=True, validate=validate.Regexp(_HHMM, error="expected HH:MM"))


class _HolidaySchema(Schema):
    name = fields.String(required=True, validate=validate.Length(1))
    date = _Date()  # a one-day holiday; or start (+ end) for several days
    start = _Date()
    end = _Date()

    @validates_schema
    def _one_form(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "date" in data and ("start" in data or "end" in data):
            raise ValidationError({"date": ["give date, or start and end, not both"]})
        if "date" not in data and "start" not in data:
            raise ValidationError({"date": ["Missing data for required field."]})
        if "end" in data and "start" in data and data["end"] < data["start"]:
            raise ValidationError({"end": [f"must not be before start ({data['start']})"]})


class _BusinessHoursSchema(Schema):
    name = fields.String(load_default="Support hours", validate=validate.Length(1))
    timezone = fields.String(required=True)
    intervals = fields.List(fields.Nested(_IntervalSchema), validate=validate.Length(1))
    holidays = fields.List(fields.Nested(_HolidaySchema), load_default=list)
    # Packs written before intervals: one interval as days / start / end.
    days = fields.List(
        fields.String(validate=validate.OneOf(WEEKDAYS)), validate=validate.Length(1)
    )
    start = fields.String(validate=validate.Regexp(_HHMM, error="expected HH:MM"))
    end = fields.String(validate=validate.Regexp(_HHMM, error="expected HH:MM"))

    @validates_schema
    def _one_form(self, data: dict[str, Any], **kwargs: Any) -> None:
        old = [k for k in ("days", "start", "end") if k in data]
        if "intervals" in data and old:
            raise ValidationError({old[0]: ["give intervals, or days / start / end, not both"]})
        if "intervals" not in data:
            missing = {
                k: ["Missing data for required field."]
                for k in ("days", "start", "end")
                if k not in data
            }
            if len(missing) == 3:
                raise ValidationError({"intervals": ["Missing data for required field."]})
            if missing:
                raise ValidationError(missing)


_Weight = fields.Float(validate=validate.Range(min=-100, max=100))


class _SignalsSchema(Schema):
    terms = fields.Dict(keys=fields.String(validate=validate.Length(1)), values=_Weight)
    patterns = fields.Dict(keys=fields.String(validate=validate.Length(1)), values=_Weight)


class _EscalationSchema(Schema):
    trigger = fields.String(required=True, validate=validate.OneOf(tuple(TRIGGERS)))
    after = _Duration()
    after_minutes = fields.Integer(strict=True, validate=validate.Range(min=1))  # old packs
    max_loops = fields.Integer(strict=True, validate=validate.Range(min=1))
    flags = fields.List(fields.String())
    distinct_numbers = fields.Integer(strict=True, validate=validate.Range(min=2))
    window = _Duration()
    window_minutes = fields.Integer(strict=True, validate=validate.Range(min=1))  # old packs
    to_tier = fields.String()
    to_group = fields.String(validate=validate.Length(1))
    add_tags = fields.List(fields.String(validate=validate.Regexp(_TAG)), load_default=list)
    reminder = fields.String(validate=validate.Length(1))
    then = fields.String(validate=validate.OneOf(THEN_ACTIONS))
    then_after = _Duration()

    @validates_schema
    def _trigger_parameters(self, data: dict[str, Any], **kwargs: Any) -> None:
        _legacy(data, "after", required=False)
        _legacy(data, "window", required=False)
        needed = TRIGGERS.get(data.get("trigger", ""), ())
        missing = {
            name: [f"required for trigger {data['trigger']!r}"]
            for name in needed
            if not data.get(name) and not data.get(f"{name}_minutes")
        }
        if missing:
            raise ValidationError(missing)


class _ScenarioSchema(Schema):
    id = fields.String(
        required=True, validate=validate.Regexp(_ID, error="lowercase letters, digits and _")
    )
    title = fields.String(required=True, validate=validate.Length(1))
    default = fields.Boolean(load_default=False)
    tier = fields.String(required=True)
    group = fields.String(load_default=None, validate=validate.Length(1))
    tags = fields.List(fields.String(validate=validate.Regexp(_TAG)), load_default=list)
    first_response = _Duration()
    first_response_minutes = fields.Integer(  # old packs
        strict=True, validate=validate.Range(min=1)
    )
    next_response = _Duration()
    resolution = _Duration()
    business_hours = fields.Boolean(load_default=False)
    ack = fields.String(required=True, validate=validate.Length(1))
    escalation = fields.Nested(_EscalationSchema, required=True)
    signals = fields.Nested(_SignalsSchema, load_default=dict)

    @validates_schema
    def _first_response(self, data: dict[str, Any], **kwargs: Any) -> None:
        _legacy(data, "first_response", required=True)


class _ScriptSchema(Schema):
    id = fields.String(
        required=True, validate=validate.Regexp(_ID, error="lowercase letters, digits and _")
    )
    title = fields.String(required=True, validate=validate.Length(1))
    body = fields.String(required=True, validate=validate.Length(1))
    scenario = fields.String(load_default=None)
    tier = fields.String(load_default=None)
    kind = fields.String(load_default="reply", validate=validate.OneOf(SCRIPT_KINDS))


class _GroupsSchema(Schema):
    create_missing = fields.Boolean(load_default=False)


class _LintSchema(Schema):
    banned = fields.List(fields.String(validate=validate.Length(1)), load_default=list)
    max_segments = fields.Integer(
        load_default=2, strict=True, validate=validate.Range(min=1, max=10)
    )


class _FlagSchema(Schema):
    description = fields.String(load_default="")
    tag = fields.String(validate=validate.Regexp(_TAG))
    terms = fields.List(fields.String(validate=validate.Length(1)), load_default=list)
    patterns = fields.List(fields.String(validate=validate.Length(1)), load_default=list)
    scenarios = fields.List(fields.String(), load_default=list)
    boost = fields.Dict(keys=fields.String(), values=_Weight, load_default=dict)
    numbers = fields.List(
        fields.String(validate=validate.Regexp(_E164, error="an E.164 number: +15551230000")),
        load_default=list,
    )


class _KeywordsSchema(Schema):
    stop_confirmation = fields.String(required=True, validate=validate.Length(1))
    help = fields.String(required=True, validate=validate.Length(1))


class _TriageSchema(Schema):
    min_score = fields.Float(load_default=1.5, validate=validate.Range(min=0))
    replacements = fields.Dict(
        keys=fields.String(validate=validate.Length(1)), values=fields.String(), load_default=dict
    )


class _PolicySchema(Schema):
    version = fields.Integer(required=True, strict=True, validate=validate.Equal(1))
    brand = fields.String(required=True, validate=validate.Length(1))
    support_contact = fields.String(required=True, validate=validate.Length(1))
    status_url = fields.String(load_default=None)
    business_hours = fields.Nested(_BusinessHoursSchema, required=True)
    keywords = fields.Nested(_KeywordsSchema, required=True)
    tiers = fields.List(fields.Nested(_TierSchema), required=True, validate=validate.Length(1))
    triage = fields.Nested(_TriageSchema, load_default=lambda: {"min_score": 1.5})
    flags = fields.Dict(
        keys=fields.String(validate=validate.Regexp(_ID)),
        values=fields.Nested(_FlagSchema),
        load_default=dict,
    )
    scenarios = fields.List(
        fields.Nested(_ScenarioSchema), required=True, validate=validate.Length(1)
    )
    scripts = fields.List(fields.Nested(_ScriptSchema), load_default=list)
    groups = fields.Nested(_GroupsSchema, load_default=dict)
    lint = fields.Nested(_LintSchema, load_default=dict)


# --------------------------------------------------------------------------------------------
# Loading


def _default_pack() -> Any:
    return resources.files("mappings").joinpath("default_policy.toml")


def load_policy(path: str | Path | None = None) -> Policy:
    """Read and validate a policy pack; ``None`` loads the pack shipped with the connector."""
    source = _default_pack() if path is None else Path(path)
    try:
        with source.open("rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigurationError(f"policy pack {source}: file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"policy pack {source}: invalid TOML: {exc}") from exc
    return policy_from_dict(raw, source=str(source))


def policy_from_dict(raw: Mapping[str, Any], *, source: str = "<dict>") -> Policy:
    """Validate an already parsed pack (what ``load_policy`` does after reading the file)."""
    try:
        data = _PolicySchema().load(dict(raw))
    except ValidationError as exc:
        _raise(source, dict(_flatten(exc.messages)))
    errors: dict[str, str] = {}
    policy = _build(data, source, errors)
    if errors:
        _raise(source, errors)
    return policy


def _raise(source: str, errors: dict[str, str]) -> Any:
    lines = "\n".join(f"  {key}: {message}" for key, message in errors.items())
    raise ConfigurationError(f"policy pack {source} is invalid:\n{lines}", errors=errors)


def _key(prefix: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    if key == "_schema":
        return prefix or "(pack)"
    if isinstance(key, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        return f"{prefix}.{key}" if prefix else key
    return f"{prefix}[{key!r}]"


def _flatten(messages: Any, prefix: str = "") -> list[tuple[str, str]]:
    """marshmallow's nested error dict → ``[("scenarios[2].tier", "message"), …]``."""
    if isinstance(messages, dict):
        out: list[tuple[str, str]] = []
        for key, value in messages.items():
            # A dict field reports a bad value under {"<key>": {"value": [...]}}: drop the "value".
            path = prefix if key in ("value", "key") and prefix else _key(prefix, key)
            out.extend(_flatten(value, path))
        return out
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [(prefix, "; ".join(messages))]
    if isinstance(messages, list):
        return [item for i, m in enumerate(messages) for item in _flatten(m, f"{prefix}[{i}]")]
    return [(prefix, str(messages))]


def _compile(pattern: str, path: str, errors: dict[str, str]) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error as exc:
        errors[path] = f"invalid regular expression: {exc}"
        return None


def _check_template(
    text: str, allowed: frozenset[str], path: str, errors: dict[str, str]
) -> set[str]:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        errors[path] = f"invalid template: {exc}"
        return set()
    unknown = sorted(names - allowed)
    if unknown:
        errors[path] = f"unknown placeholder {{{unknown[0]}}}; allowed: " + ", ".join(
            f"{{{n}}}" for n in sorted(allowed)
        )
    return names


def _signals(raw: Mapping[str, Any], path: str, errors: dict[str, str]) -> Signals:
    terms = tuple((term.strip().lower(), float(w)) for term, w in raw.get("terms", {}).items())
    patterns = []
    for pattern, weight in raw.get("patterns", {}).items():
        compiled = _compile(pattern, _key(f"{path}.patterns", pattern), errors)
        if compiled is not None:
            patterns.append((compiled, float(weight)))
    return Signals(terms=terms, patterns=tuple(patterns))


def _business_hours(bh: dict[str, Any], errors: dict[str, str]) -> BusinessHours:
    try:
        ZoneInfo(bh["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        errors["business_hours.timezone"] = f"unknown time zone {bh['timezone']!r}"
    if "intervals" in bh:
        raw_intervals = [
            (f"business_hours.intervals[{i}]", iv) for i, iv in enumerate(bh["intervals"])
        ]
    else:  # an old pack's one interval; its errors keep the old keys
        raw_intervals = [("business_hours", bh)]
    intervals = []
    for path, iv in raw_intervals:
        start, end = time.fromisoformat(iv["start"]), time.fromisoformat(iv["end"])
        if start >= end:
            errors[f"{path}.end"] = f"must be after start ({iv['start']})"
        intervals.append(Interval(tuple(iv["days"]), start, end))
    holidays = tuple(
        Holiday(h["name"], h.get("date") or h["start"], h.get("date") or h.get("end") or h["start"])
        for h in bh["holidays"]
    )
    return BusinessHours(bh["timezone"], tuple(intervals), holidays, bh["name"])


def _targets(raw: Mapping[str, Any], defaults: Targets) -> Targets:
    return Targets(
        first_response=raw.get("first_response", defaults.first_response),
        next_response=raw.get("next_response", defaults.next_response),
        resolution=raw.get("resolution", defaults.resolution),
    )


def _build(data: dict[str, Any], source: str, errors: dict[str, str]) -> Policy:
    business_hours = _business_hours(data["business_hours"], errors)

    tiers = tuple(
        Tier(
            t["id"],
            t["title"],
            t["zendesk_priority"],
            t["freshdesk_priority"],
            _targets(t["targets"], Targets()),
        )
        for t in data["tiers"]
    )
    tier_ids = [t.id for t in tiers]
    for i, tier_id in enumerate(tier_ids):
        if tier_id in tier_ids[:i]:
            errors[f"tiers[{i}].id"] = f"duplicate tier {tier_id!r}"

    scenario_ids = [s["id"] for s in data["scenarios"]]
    flag_ids = list(data["flags"])
    status_url = data["status_url"]
    text_values = {
        "brand": data["brand"],
        "support_contact": data["support_contact"],
        "status_url": status_url or "",
    }

    flags = []
    for flag_id, f in data["flags"].items():
        path = _key("flags", flag_id)
        for key in ("scenarios", "boost"):
            for sid in f[key]:
                if sid not in scenario_ids:
                    errors[f"{path}.{key}"] = f"unknown scenario {sid!r}"
        patterns = []
        for i, pattern in enumerate(f["patterns"]):
            compiled = _compile(pattern, f"{path}.patterns[{i}]", errors)
            if compiled is not None:
                patterns.append((compiled, 1.0))
        flags.append(
            FlagRule(
                id=flag_id,
                tag=f.get("tag") or f"sms_{flag_id}",
                description=f["description"],
                signals=Signals(
                    terms=tuple((t.strip().lower(), 1.0) for t in f["terms"]),
                    patterns=tuple(patterns),
                ),
                scenarios=tuple(f["scenarios"]),
                boost=tuple((k, float(v)) for k, v in f["boost"].items()),
                numbers=tuple(dict.fromkeys(f["numbers"])),
            )
        )

    scenarios = []
    for i, s in enumerate(data["scenarios"]):
        path = f"scenarios[{i}]"
        if s["id"] in scenario_ids[:i]:
            errors[f"{path}.id"] = f"duplicate scenario {s['id']!r}"
        tier = next((t for t in tiers if t.id == s["tier"]), None)
        if tier is None:
            errors[f"{path}.tier"] = f"unknown tier {s['tier']!r}"
        esc = s["escalation"]
        if esc.get("to_tier") and esc["to_tier"] not in tier_ids:
            errors[f"{path}.escalation.to_tier"] = f"unknown tier {esc['to_tier']!r}"
        for name in esc.get("flags", ()):
            if name not in flag_ids:
                errors[f"{path}.escalation.flags"] = f"unknown flag {name!r}"
        if esc.get("reminder"):
            # Texted without an agent: GSM-7, one segment, only the pack's values.
            where = f"{path}.escalation.reminder"
            used = _check_template(esc["reminder"], _TEXT_FIELDS, where, errors)
            if where not in errors:
                if "status_url" in used and not status_url:
                    errors[where] = "uses {status_url} but status_url is not set"
                else:
                    _check_one_segment(esc["reminder"].format(**text_values), where, errors)
        first_response = _load_legacy(s, "first_response") or 0.0
        names = _check_template(s["ack"], _ACK_FIELDS, f"{path}.ack", errors)
        if f"{path}.ack" not in errors:
            if "status_url" in names and not status_url:
                errors[f"{path}.ack"] = "uses {status_url} but status_url is not set"
            else:
                # Both promises must fit: the minutes, and (for a scenario counted in business
                # hours) the longest next-opening text the pack's zone can give.
                promises = ["within " + format_duration(first_response)]
                if s["business_hours"] and "business_hours.timezone" not in errors:
                    promises.append(_opening_sample(business_hours.timezone))
                for promise in promises:
                    rendered = _ack_template(s["ack"]).format(
                        first_response=promise, **text_values
                    )
                    _check_one_segment(rendered, f"{path}.ack", errors)
        targets = _targets(s, tier.targets if tier else Targets())
        scenarios.append(
            Scenario(
                id=s["id"],
                title=s["title"],
                tier=s["tier"],
                ack=s["ack"],
                first_response=first_response,
                business_hours=s["business_hours"],
                escalation=EscalationRule(
                    trigger=esc["trigger"],
                    after=_load_legacy(esc, "after"),
                    max_loops=esc.get("max_loops"),
                    flags=tuple(esc.get("flags", ())),
                    distinct_numbers=esc.get("distinct_numbers"),
                    window=_load_legacy(esc, "window"),
                    to_tier=esc.get("to_tier"),
                    to_group=esc.get("to_group"),
                    add_tags=tuple(esc["add_tags"]),
                    reminder=esc.get("reminder"),
                    then=esc.get("then") or (
                        "solve" if esc["trigger"] == "no_customer_response" else None),
                    then_after=esc.get("then_after") or (
                        _load_legacy(esc, "after")
                        if esc["trigger"] == "no_customer_response" else None),
                ),
                targets=Targets(first_response, targets.next_response, targets.resolution),
                signals=_signals(s["signals"], f"{path}.signals", errors),
                group=s["group"],
                tags=tuple(s["tags"]),
                default=s["default"],
            )
        )
    defaults = [s.id for s in scenarios if s.default]
    if len(defaults) != 1:
        errors["scenarios"] = (
            f"exactly one scenario needs default = true (found {len(defaults)}: "
            f"{', '.join(defaults) or 'none'})"
        )

    scripts = []
    script_ids = [s["id"] for s in data["scripts"]]
    for i, s in enumerate(data["scripts"]):
        path = f"scripts[{i}]"
        if s["id"] in script_ids[:i]:
            errors[f"{path}.id"] = f"duplicate script {s['id']!r}"
        if s["scenario"] is not None and s["scenario"] not in scenario_ids:
            errors[f"{path}.scenario"] = f"unknown scenario {s['scenario']!r}"
        if s["tier"] is not None and s["tier"] not in tier_ids:
            errors[f"{path}.tier"] = f"unknown tier {s['tier']!r}"
        names = _check_template(s["body"], _SCRIPT_FIELDS, f"{path}.body", errors)
        if "status_url" in names and not status_url:
            errors[f"{path}.body"] = "uses {status_url} but status_url is not set"
        scripts.append(Script(s["id"], s["title"], s["body"], s["scenario"], s["tier"], s["kind"]))

    keywords = data["keywords"]
    for key in ("stop_confirmation", "help"):
        names = _check_template(keywords[key], _TEXT_FIELDS, f"keywords.{key}", errors)
        if "status_url" in names and not status_url:
            errors[f"keywords.{key}"] = "uses {status_url} but status_url is not set"

    group_names = {s.group for s in scenarios if s.group}
    group_names |= {s.escalation.to_group for s in scenarios if s.escalation.to_group}
    lint_raw = data["lint"]
    return Policy(
        brand=data["brand"],
        support_contact=data["support_contact"],
        status_url=status_url,
        business_hours=business_hours,
        tiers=tiers,
        scenarios=tuple(scenarios),
        flags=tuple(flags),
        stop_confirmation=keywords["stop_confirmation"],
        help_text=keywords["help"],
        min_score=float(data["triage"]["min_score"]),
        replacements=tuple(
            (k.strip().lower(), v.strip().lower())
            for k, v in data["triage"].get("replacements", {}).items()
        ),
        source=source,
        scripts=tuple(scripts),
        groups=GroupsPolicy(
            create_missing=data["groups"].get("create_missing", False),
            names=tuple(sorted(group_names)),
        ),
        lint=LintPolicy(
            banned=tuple(lint_raw.get("banned", ())),
            max_segments=lint_raw.get("max_segments", 2),
        ),
    )


def _check_one_segment(rendered: str, path: str, errors: dict[str, str]) -> None:
    bad = sorted({ch for ch in rendered if not is_gsm7(ch)})
    if bad:
        # Curly quotes and dashes are the usual culprits when a script is pasted from a document.
        errors[path] = "not GSM-7 (one such character makes the SMS UCS-2): " + " ".join(
            repr(ch) for ch in bad
        )
    elif gsm7_septets(rendered) > SINGLE_SEGMENT_SEPTETS:
        errors[path] = (
            f"renders to {gsm7_septets(rendered)} characters; an acknowledgement must fit one "
            f"SMS segment ({SINGLE_SEGMENT_SEPTETS})"
        )


# --------------------------------------------------------------------------------------------
# Lint: valid packs that will still surprise someone.

# A sentence that opens with one of these asks the customer to do something (nouns such as
# "update" are left out: "Update within 10 minutes." promises, it does not ask). Two asks in one
# text (or two questions) get one answer, usually to the last: one action per message.
# fmt: off
_ASK_VERBS = frozenset((
    "reply", "send", "tell", "text", "call", "check", "visit", "click", "tap", "try", "restart",
    "reboot", "unplug", "share", "confirm", "let", "please", "enter",
))
# fmt: on
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")


def _asks(text: str) -> int:
    """How many things ``text`` asks of the customer: questions plus imperative sentences."""
    count = text.count("?")
    for sentence in _SENTENCE.findall(text):
        if sentence.strip().endswith("?"):
            continue  # already counted as a question
        words = re.findall(r"[A-Za-z']+", sentence.split(":")[-1])
        if words and words[0].lower() in _ASK_VERBS:
            count += 1
    return count


def _banned_pattern(term: str) -> re.Pattern[str]:
    # Whole words where the term's edges are letters ("tier" is not "frontier"); "ticket #"
    # matches "ticket #123".
    left = r"(?<!\w)" if term[:1].isalnum() else ""
    right = r"(?!\w)" if term[-1:].isalnum() else ""
    return re.compile(left + re.escape(term) + right, re.IGNORECASE)


def _lint_text(
    policy: Policy,
    key: str,
    body: str,
    rendered: str,
    allowed: frozenset[str],
    max_segments: int,
    warnings: list[str],
) -> None:
    """The checks every customer-facing script gets: placeholders, GSM-7, length, one ask,
    banned jargon."""
    try:
        names = {n for _, n, _, _ in string.Formatter().parse(body) if n is not None}
    except ValueError as exc:
        warnings.append(f"{key}: invalid template: {exc}")
        return
    unknown = sorted(names - allowed)
    if unknown:
        warnings.append(f"{key}: unknown placeholder " + ", ".join(f"{{{n}}}" for n in unknown))
    if not is_gsm7(rendered):
        bad = " ".join(repr(ch) for ch in sorted({ch for ch in rendered if not is_gsm7(ch)}))
        warnings.append(
            f"{key}: not GSM-7 ({bad}), so it is sent as UCS-2 (70 characters a segment)"
        )
    parts = segments(rendered)
    if parts > max_segments:
        warnings.append(
            f"{key}: {parts} SMS segments, over the budget of {max_segments} (lint.max_segments)"
        )
    asks = _asks(rendered)
    if asks > 1:
        warnings.append(f"{key}: asks the customer {asks} things; one action per message")
    for term in policy.lint.banned:
        if _banned_pattern(term).search(rendered):
            warnings.append(f"{key}: uses {term!r} (lint.banned): say it in the customer's words")


def lint(policy: Policy) -> list[str]:
    """Warnings for ``sms-connector policy lint``: each names the key it is about."""
    warnings: list[str] = []
    for key, text in (
        ("keywords.stop_confirmation", policy.render_stop_confirmation()),
        ("keywords.help", policy.render_help()),
    ):
        if not is_gsm7(text):
            warnings.append(f"{key}: not GSM-7, so it is sent as UCS-2 (70 characters a segment)")
        elif segments(text) > 1:
            warnings.append(
                f"{key}: {gsm7_septets(text)} characters, {segments(text)} SMS segments"
            )
    # CTIA: the STOP confirmation says how to opt back in; HELP says how to opt out.
    if "START" not in policy.stop_confirmation:
        warnings.append("keywords.stop_confirmation: does not say how to resubscribe (START)")
    if "STOP" not in policy.help_text:
        warnings.append("keywords.help: does not say how to opt out (STOP)")
    if "{support_contact}" not in policy.help_text:
        warnings.append("keywords.help: does not include {support_contact}")

    used_tiers = {s.tier for s in policy.scenarios}
    used_tiers |= {s.escalation.to_tier for s in policy.scenarios if s.escalation.to_tier}
    warnings.extend(
        f"tiers[{i}]: tier {t.id!r} is used by no scenario"
        for i, t in enumerate(policy.tiers)
        if t.id not in used_tiers
    )
    for i, s in enumerate(policy.scenarios):
        path = f"scenarios[{i}]"
        if "{first_response}" not in s.ack:
            warnings.append(f"{path}.ack: does not tell the customer when to expect an answer")
        if not s.default and not s.signals.terms and not s.signals.patterns:
            boosted = any(s.id in dict(f.boost) or s.id in f.scenarios for f in policy.flags)
            if not boosted:
                warnings.append(f"{path}.signals: no signals, so triage never picks {s.id!r}")
        # An acknowledgement is one segment (a load error otherwise); the rest applies, to the
        # minute promise and, for a scenario counted in business hours, the after-hours one.
        _lint_text(policy, f"{path}.ack", s.ack, policy.render_ack(s.id), _ACK_FIELDS, 1, warnings)
        if s.business_hours:
            after_hours = _ack_template(s.ack).format(
                first_response=_opening_sample(policy.business_hours.timezone),
                **policy._text_values(),
            )
            extra: list[str] = []
            _lint_text(policy, f"{path}.ack", s.ack, after_hours, _ACK_FIELDS, 1, extra)
            warnings.extend(
                w.replace(f"{path}.ack:", f"{path}.ack (after hours):", 1)
                for w in extra
                if w not in warnings
            )

    for i, script in enumerate(policy.scripts):
        rendered = policy.render_script(script, **_LINT_SAMPLES)
        _lint_text(
            policy,
            f"scripts[{i}].body",
            script.body,
            rendered,
            _SCRIPT_FIELDS,
            policy.lint.max_segments,
            warnings,
        )
    return warnings

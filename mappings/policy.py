"""Load and validate the support policy pack (``default_policy.toml`` or an admin's own file).

The pack is data an admin edits: tiers, the support scenarios with their approved acknowledgement
scripts, first-response targets and escalation rules, the triage signals, and the STOP / HELP texts.
``load_policy`` turns it into a frozen :class:`Policy` tree or raises
:class:`~connector.errors.ConfigurationError` whose message names every bad key by its path
(``scenarios[2].tier: unknown tier 'P9'``), so a broken pack fails at start, never mid-conversation.

Structure and types are checked by marshmallow schemas; what a schema cannot see (a scenario's tier
exists, exactly one default scenario, scripts are GSM-7 and fit one SMS segment, regular expressions
compile) is checked afterwards, with the same key paths. ``lint`` returns softer warnings for
``sms-connector policy lint``.

This module does no I/O besides reading the pack file (``mappings/`` is pure translation).
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from connector.errors import ConfigurationError

__all__ = [
    "HELPDESKS",
    "TRIGGERS",
    "BusinessHours",
    "EscalationRule",
    "FlagRule",
    "Policy",
    "Scenario",
    "Signals",
    "Tier",
    "format_duration",
    "gsm7_septets",
    "is_gsm7",
    "lint",
    "load_policy",
    "policy_from_dict",
]

HELPDESKS = ("zendesk", "freshdesk")
ZENDESK_PRIORITIES = ("low", "normal", "high", "urgent")
# https://developers.freshdesk.com/api/#tickets: 1 low, 2 medium, 3 high, 4 urgent.
FRESHDESK_PRIORITIES = (1, 2, 3, 4)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Escalation triggers and the parameters each one needs (enforced later by the escalation tick).
TRIGGERS: dict[str, tuple[str, ...]] = {
    "no_customer_response": ("after_minutes",),
    "status_unknown": ("after_minutes",),
    "diagnostic_loops": ("max_loops",),
    "flags": ("flags",),
    "multiple_customers": ("distinct_numbers", "window_minutes"),
}

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

_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
# Zendesk tags are lowercase words without spaces; the connector's own start with sms_.
_TAG = re.compile(r"^[a-z0-9_:/.-]+$")

_ACK_FIELDS = frozenset({"brand", "first_response", "support_contact", "status_url"})
_TEXT_FIELDS = frozenset({"brand", "support_contact", "status_url"})


def is_gsm7(text: str) -> bool:
    """True when every character is in the GSM-7 default alphabet or its extension table."""
    return all(ch in _GSM7_BASIC or ch in _GSM7_EXTENSION for ch in text)


def gsm7_septets(text: str) -> int:
    """Length of a GSM-7 text in septets (extension characters count two)."""
    return sum(2 if ch in _GSM7_EXTENSION else 1 for ch in text)


def _segments(text: str) -> int:
    septets = gsm7_septets(text)
    if septets <= SINGLE_SEGMENT_SEPTETS:
        return 1
    return -(-septets // CONCAT_SEGMENT_SEPTETS)


def format_duration(minutes: int) -> str:
    """``10`` → ``"10 minutes"``, ``60`` → ``"1 hour"``, ``90`` → ``"90 minutes"``."""
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour" if hours == 1 else f"{hours} hours"
    return f"{minutes} minute" if minutes == 1 else f"{minutes} minutes"


# --------------------------------------------------------------------------------------------
# The frozen tree


@dataclass(frozen=True)
class Tier:
    id: str
    title: str
    zendesk_priority: str
    freshdesk_priority: int


@dataclass(frozen=True)
class BusinessHours:
    timezone: str
    days: tuple[str, ...]
    start: time
    end: time

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` (timezone-aware) falls inside business hours."""
        local = at.astimezone(ZoneInfo(self.timezone))
        return WEEKDAYS[local.weekday()] in self.days and self.start <= local.time() < self.end


@dataclass(frozen=True)
class Signals:
    """Weighted evidence for a scenario or flag; ``terms`` are matched by connector.text.triage."""

    terms: tuple[tuple[str, float], ...] = ()
    patterns: tuple[tuple[re.Pattern[str], float], ...] = ()


@dataclass(frozen=True)
class EscalationRule:
    """When a scenario's ticket escalates; the parameters a trigger does not use are None."""

    trigger: str
    after_minutes: int | None = None
    max_loops: int | None = None
    flags: tuple[str, ...] = ()
    distinct_numbers: int | None = None
    window_minutes: int | None = None
    to_tier: str | None = None
    to_group: str | None = None
    add_tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    tier: str
    ack: str
    first_response_minutes: int
    business_hours: bool
    escalation: EscalationRule
    signals: Signals = Signals()
    group: str | None = None
    tags: tuple[str, ...] = ()
    default: bool = False


@dataclass(frozen=True)
class FlagRule:
    """A flag triage raises when its signals match or whenever it picks one of ``scenarios``."""

    id: str
    tag: str
    description: str = ""
    signals: Signals = Signals()
    scenarios: tuple[str, ...] = ()
    boost: tuple[tuple[str, float], ...] = ()


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

    def render_ack(self, scenario_id: str) -> str:
        """The scenario's approved acknowledgement with brand and first-response time filled in."""
        scenario = self.scenario(scenario_id)
        return scenario.ack.format(
            first_response=format_duration(scenario.first_response_minutes),
            **self._text_values(),
        )

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
# such as `first_reponse_minutes` is reported instead of silently ignored.


class _TierSchema(Schema):
    id = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_]+$"))
    title = fields.String(load_default="")
    zendesk_priority = fields.String(required=True, validate=validate.OneOf(ZENDESK_PRIORITIES))
    freshdesk_priority = fields.Integer(
        required=True, strict=True, validate=validate.OneOf(FRESHDESK_PRIORITIES)
    )


class _BusinessHoursSchema(Schema):
    timezone = fields.String(required=True)
    days = fields.List(
        fields.String(validate=validate.OneOf(WEEKDAYS)), required=True, validate=validate.Length(1)
    )
    start = fields.String(required=True, validate=validate.Regexp(_HHMM, error="expected HH:MM"))
    end = fields.String(required=True, validate=validate.Regexp(_HHMM, error="expected HH:MM"))


_Weight = fields.Float(validate=validate.Range(min=-100, max=100))


class _SignalsSchema(Schema):
    terms = fields.Dict(keys=fields.String(validate=validate.Length(1)), values=_Weight)
    patterns = fields.Dict(keys=fields.String(validate=validate.Length(1)), values=_Weight)


class _EscalationSchema(Schema):
    trigger = fields.String(required=True, validate=validate.OneOf(tuple(TRIGGERS)))
    after_minutes = fields.Integer(strict=True, validate=validate.Range(min=1))
    max_loops = fields.Integer(strict=True, validate=validate.Range(min=1))
    flags = fields.List(fields.String())
    distinct_numbers = fields.Integer(strict=True, validate=validate.Range(min=2))
    window_minutes = fields.Integer(strict=True, validate=validate.Range(min=1))
    to_tier = fields.String()
    to_group = fields.String(validate=validate.Length(1))
    add_tags = fields.List(fields.String(validate=validate.Regexp(_TAG)), load_default=list)

    @validates_schema
    def _trigger_parameters(self, data: dict[str, Any], **kwargs: Any) -> None:
        needed = TRIGGERS.get(data.get("trigger", ""), ())
        missing = {
            name: [f"required for trigger {data['trigger']!r}"]
            for name in needed
            if not data.get(name)
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
    first_response_minutes = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1)
    )
    business_hours = fields.Boolean(load_default=False)
    ack = fields.String(required=True, validate=validate.Length(1))
    escalation = fields.Nested(_EscalationSchema, required=True)
    signals = fields.Nested(_SignalsSchema, load_default=dict)


class _FlagSchema(Schema):
    description = fields.String(load_default="")
    tag = fields.String(validate=validate.Regexp(_TAG))
    terms = fields.List(fields.String(validate=validate.Length(1)), load_default=list)
    patterns = fields.List(fields.String(validate=validate.Length(1)), load_default=list)
    scenarios = fields.List(fields.String(), load_default=list)
    boost = fields.Dict(keys=fields.String(), values=_Weight, load_default=dict)


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


def _build(data: dict[str, Any], source: str, errors: dict[str, str]) -> Policy:
    bh = data["business_hours"]
    try:
        ZoneInfo(bh["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        errors["business_hours.timezone"] = f"unknown time zone {bh['timezone']!r}"
    start, end = time.fromisoformat(bh["start"]), time.fromisoformat(bh["end"])
    if start >= end:
        errors["business_hours.end"] = f"must be after start ({bh['start']})"
    business_hours = BusinessHours(bh["timezone"], tuple(bh["days"]), start, end)

    tiers = tuple(Tier(**t) for t in data["tiers"])
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
            )
        )

    scenarios = []
    for i, s in enumerate(data["scenarios"]):
        path = f"scenarios[{i}]"
        if s["id"] in scenario_ids[:i]:
            errors[f"{path}.id"] = f"duplicate scenario {s['id']!r}"
        if s["tier"] not in tier_ids:
            errors[f"{path}.tier"] = f"unknown tier {s['tier']!r}"
        esc = s["escalation"]
        if esc.get("to_tier") and esc["to_tier"] not in tier_ids:
            errors[f"{path}.escalation.to_tier"] = f"unknown tier {esc['to_tier']!r}"
        for name in esc.get("flags", ()):
            if name not in flag_ids:
                errors[f"{path}.escalation.flags"] = f"unknown flag {name!r}"
        names = _check_template(s["ack"], _ACK_FIELDS, f"{path}.ack", errors)
        if f"{path}.ack" not in errors:
            if "status_url" in names and not status_url:
                errors[f"{path}.ack"] = "uses {status_url} but status_url is not set"
            else:
                rendered = s["ack"].format(
                    first_response=format_duration(s["first_response_minutes"]), **text_values
                )
                _check_one_segment(rendered, f"{path}.ack", errors)
        scenarios.append(
            Scenario(
                id=s["id"],
                title=s["title"],
                tier=s["tier"],
                ack=s["ack"],
                first_response_minutes=s["first_response_minutes"],
                business_hours=s["business_hours"],
                escalation=EscalationRule(
                    trigger=esc["trigger"],
                    after_minutes=esc.get("after_minutes"),
                    max_loops=esc.get("max_loops"),
                    flags=tuple(esc.get("flags", ())),
                    distinct_numbers=esc.get("distinct_numbers"),
                    window_minutes=esc.get("window_minutes"),
                    to_tier=esc.get("to_tier"),
                    to_group=esc.get("to_group"),
                    add_tags=tuple(esc["add_tags"]),
                ),
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

    keywords = data["keywords"]
    for key in ("stop_confirmation", "help"):
        names = _check_template(keywords[key], _TEXT_FIELDS, f"keywords.{key}", errors)
        if "status_url" in names and not status_url:
            errors[f"keywords.{key}"] = "uses {status_url} but status_url is not set"

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


def lint(policy: Policy) -> list[str]:
    """Warnings for ``sms-connector policy lint``: each names the key it is about."""
    warnings: list[str] = []
    for key, text in (
        ("keywords.stop_confirmation", policy.render_stop_confirmation()),
        ("keywords.help", policy.render_help()),
    ):
        if not is_gsm7(text):
            warnings.append(f"{key}: not GSM-7, so it is sent as UCS-2 (70 characters a segment)")
        elif _segments(text) > 1:
            warnings.append(
                f"{key}: {gsm7_septets(text)} characters, {_segments(text)} SMS segments"
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
    return warnings

"""Where each rule of the policy pack is enforced: by the helpdesk natively, or by the connector.

For every scenario: its first-response, next-response and resolution targets and its escalation
trigger, with who enforces it and why, in one line an admin can read (`sms-connector policy plan`
prints the table; the escalation engine runs a timer for exactly the rows whose ``enforced_by``
is ``connector`` or ``both``).

The facts are the helpdesk's, so they live in its mapping module (``mappings/<kind>.py``):

- a module with ``enforcement(policy)`` answers for itself (Freshdesk: SLA policies apply to an
  owner group and the SMS source, so a scenario's targets are native only when it has a group of
  its own, and targets start at 15 minutes);
- otherwise the module's ``native_limits`` says what its SLA policies and hourly time rules can
  hold (Zendesk: an SLA policy per scenario tag takes any whole-minute ``first_reply_time`` /
  ``next_reply_time`` / ``total_resolution_time`` target, in calendar or business hours,
  ../shared/specs/zendesk-support-openapi.yaml ``SLAPolicyMetricObject``; automations run about
  hourly and count whole hours, ../shared/docs/reference/zendesk.md "Triggers and automations",
  so a time rule under an hour is the connector's).

When the module says nothing (it predates ``native_limits``) the limits below stand in, from the
same documents. Diagnostic loops, triage flags and several customers within a window are always
the connector's: they are counted in the SMS conversations, which no helpdesk rule sees.

Pure: no I/O.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from mappings.policy import HELPDESKS, Policy, Scenario, format_duration

__all__ = ["BOTH", "CONNECTOR", "HELPDESK", "METRICS", "Coverage", "connector_rules", "coverage"]

HELPDESK, CONNECTOR, BOTH = "helpdesk", "connector", "both"
METRICS = ("first_response", "next_response", "resolution")
# Escalation triggers measured in time on one ticket: an hourly time rule may express them.
TIME_TRIGGERS = ("no_customer_response", "status_unknown")

# Triggers no helpdesk rule can see: why the connector keeps them.
_CONNECTOR_ONLY = {
    "diagnostic_loops": "diagnostic questions are counted in the SMS conversation; no helpdesk "
    "rule counts them",
    "flags": "the flags are triage's, read from the texts; the helpdesk sees only their tags",
    "multiple_customers": "texts from several numbers across tickets; helpdesk rules see one "
    "ticket at a time",
}


@dataclass(frozen=True)
class Coverage:
    rule: str  # "first_response" | "next_response" | "resolution" | an escalation trigger
    scenario: str  # scenario id
    target: float | None  # seconds
    enforced_by: str  # "helpdesk" | "connector" | "both"
    why: str  # one line


@dataclass(frozen=True)
class _Limits:
    """What a helpdesk's SLA policies and time rules can hold (seconds)."""

    sla_rules: tuple[str, ...] = METRICS
    sla_minimum: float = 60.0
    sla_step: float = 60.0
    time_rules: tuple[str, ...] = TIME_TRIGGERS
    time_minimum: float = 3600.0
    time_step: float = 3600.0


# Stand-ins while a mapping module exposes no facts of its own (sources in the docstring; the
# Freshdesk reference sheet, ../shared/docs/reference/freshdesk.md: SLA targets in seconds,
# multiples of 60, at least 900; type-3 automation rules are hourly time triggers, and only
# "no customer response" is a ticket's own time a trigger can test).
_FALLBACK = {
    "zendesk": _Limits(),
    "freshdesk": _Limits(sla_minimum=900.0, time_rules=("no_customer_response",)),
}


def coverage(policy: Policy, kind: str) -> tuple[Coverage, ...]:
    """Every target and escalation trigger of the pack, in pack order, with its enforcer."""
    if kind not in HELPDESKS:
        raise ValueError(f"unknown helpdesk {kind!r}; expected one of {HELPDESKS}")
    module = importlib.import_module(f"mappings.{kind}")
    enforcement = getattr(module, "enforcement", None)
    if callable(enforcement):
        return tuple(
            Coverage(e.rule, e.scenario, e.target, e.enforced_by, e.why)
            for e in enforcement(policy)
        )
    limits = getattr(module, "native_limits", None) or _FALLBACK[kind]
    name = kind.capitalize()
    rows: list[Coverage] = []
    for scenario in policy.scenarios:
        rows.extend(_targets(scenario, limits, name))
        rows.append(_escalation(scenario, limits, name))
    return tuple(rows)


def connector_rules(policy: Policy, kind: str) -> tuple[Coverage, ...]:
    """The rows the connector's own timers keep (``connector`` or ``both``)."""
    return tuple(c for c in coverage(policy, kind) if c.enforced_by in (CONNECTOR, BOTH))


def _targets(scenario: Scenario, limits: Any, name: str) -> list[Coverage]:
    rows = []
    for metric in METRICS:
        target = getattr(scenario.targets, metric)
        if target is None:
            continue
        why_not = _sla_why_not(limits, metric, target, name)
        if why_not is None:
            hours = "business hours" if scenario.business_hours else "calendar hours"
            rows.append(
                Coverage(metric, scenario.id, target, HELPDESK, f"{name} SLA policy ({hours})")
            )
        else:
            rows.append(Coverage(metric, scenario.id, target, CONNECTOR, why_not))
    return rows


def _sla_why_not(limits: Any, metric: str, seconds: float, name: str) -> str | None:
    ask = getattr(limits, "sla_why_not", None)
    if callable(ask):
        answer: str | None = ask(metric, seconds)
        return answer
    if metric not in limits.sla_rules:
        return f"{name} SLA policies have no {metric} target"
    if seconds < limits.sla_minimum:
        return f"{name} SLA targets start at {format_duration(limits.sla_minimum)}"
    if seconds % limits.sla_step:
        return f"{name} SLA targets are whole minutes"
    return None


def _escalation(scenario: Scenario, limits: Any, name: str) -> Coverage:
    esc = scenario.escalation
    if esc.trigger not in TIME_TRIGGERS:
        return Coverage(
            esc.trigger,
            scenario.id,
            esc.window,
            CONNECTOR,
            _CONNECTOR_ONLY.get(esc.trigger, "the connector's own rule"),
        )
    if esc.texts_customer:
        return Coverage(esc.trigger, scenario.id, esc.after, CONNECTOR, REMINDER_WHY)
    why_not = _time_why_not(limits, esc.trigger, esc.after, name)
    if why_not is None:
        return Coverage(
            esc.trigger, scenario.id, esc.after, HELPDESK, f"{name} automation (runs hourly)"
        )
    return Coverage(esc.trigger, scenario.id, esc.after, CONNECTOR, why_not)


REMINDER_WHY = "its reminder is a text: no helpdesk rule sends an SMS"


def _time_why_not(limits: Any, trigger: str, seconds: float | None, name: str) -> str | None:
    ask = getattr(limits, "time_rule_why_not", None)
    if callable(ask):
        answer: str | None = ask(trigger, seconds)
        return answer
    if trigger not in limits.time_rules or seconds is None:
        return f"no {name} time rule tells this scenario's tickets apart"
    if seconds < limits.time_minimum:
        return f"{name} automations run hourly: nothing under 1 hour"
    if seconds % limits.time_step:
        return f"{name} automations count whole hours"
    return None

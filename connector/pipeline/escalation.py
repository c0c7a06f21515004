"""Escalation: the first-response timer, what escalating writes for any rule, the P1 alert.

The timer. When the inbound job files a new ticket it sets, in the transaction that saves the
ticket on the conversation, a timer ``escalate`` / ``first_response:<ticket id>`` due at the
ticket's creation plus its scenario's ``first_response`` target (in business hours when the
scenario says so: mappings/business_time.py) — only for the scenarios whose first response the
coverage table gives to the connector (``enforced_by`` connector or both: the helpdesk's own SLA
policy keeps the others, and the connector never enforces a target twice unless the pack asks).
The agent-reply job cancels it when it sees a public agent reply on the ticket, and the
ticket-state job when the ticket is solved or closed. The scheduler fires it once.

Other rules set the same kind of timer (``arm``; key ``<rule>:<ticket id>``, payload below):
connector/pipeline/escalation_rules.py (status_unknown, diagnostic_loops, dispute, high_value)
and connector/pipeline/reminders.py (no_customer_response). A rule that escalates at once sets
the timer due now. Payload: ``ticket_id``, ``rule``, ``scenario``, ``tier``, ``target``
(seconds, or None for a rule that is no time target), ``since``, ``due_at``, ``business_hours``,
and optionally ``reason`` (the note's one line of why), ``group`` (the owner group's name) and
``priority`` (the least priority the ticket gets, e.g. "high").

Escalating (the ``escalate`` job). The ticket is read first: solved, closed, deleted, or — for
the rules that wait for an agent (first_response, status_unknown) — with a public agent reply on
it (a reply whose webhook was lost or is still on its way) → nothing. Else ONE helpdesk write
where the helpdesk allows: priority one step up (capped at urgent), or the payload's minimum
when that is higher; the owner group (the payload's, else the scenario's escalation
``to_group``, else its ``group``: by name, the adapter resolves it; a name the helpdesk does not
know is left out and the note says so, the rest of the escalation still happens); tags
``sms_escalated`` and ``sms_esc_<rule>``; and one private note starting ``[sms-connector]
Escalated: <rule>`` that says why (the rule and its target, how late, or the reason). A retried
job never writes twice: the rule's tag on the ticket says the write happened, and a note
starting the same way says the note did (a helpdesk that writes tags and note in two calls may
have done only the first).

The alert. A ticket of the pack's first tier (P1) that escalates queues an ``escalation_alert``
job (once per timer: a key in the store) that POSTs ``[escalation] alert_url`` a JSON body shaped
like a PagerDuty Events v2 trigger; it is retried like every job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import requests
from sqlalchemy import Connection

from connector.errors import PermanentError, RateLimited, TicketClosed, TicketGone, TransientError
from connector.jobs.queue import Job, enqueue
from connector.model import (
    AUTHOR_AGENT,
    PRIORITIES,
    PRIORITY_NORMAL,
    TICKET_CLOSED,
    TICKET_SOLVED,
    Comment,
    Ticket,
    TicketUpdate,
    iso_epoch,
)
from connector.store import sla
from connector.store.kv import kv_add
from connector.store.timers import cancel_timer, set_timer
from mappings.business_time import business_due
from mappings.coverage import BOTH, CONNECTOR
from mappings.policy import format_duration

if TYPE_CHECKING:
    from connector.runtime import Runtime

__all__ = [
    "ALERT_JOB",
    "DIAGNOSTIC_LOOPS",
    "DISPUTE",
    "ESCALATED_TAG",
    "ESCALATE_JOB",
    "FIRST_RESPONSE",
    "HIGH_VALUE",
    "NOTE_PREFIX",
    "NO_CUSTOMER_RESPONSE",
    "OUTAGE",
    "STATUS_UNKNOWN",
    "arm",
    "arm_first_response",
    "disarm",
    "handlers",
    "queue_page",
    "record_escalation",
    "step_up",
    "timer_key",
]

log = logging.getLogger("sms_connector.escalation")

ESCALATE_JOB = "escalate"
ALERT_JOB = "escalation_alert"
# The rules (the tag is sms_esc_<rule>; the SLA ledger counts escalations by rule).
FIRST_RESPONSE = "first_response"
NO_CUSTOMER_RESPONSE = "no_customer_response"
STATUS_UNKNOWN = "status_unknown"
DIAGNOSTIC_LOOPS = "diagnostic_loops"
DISPUTE = "dispute"
HIGH_VALUE = "high_value"
OUTAGE = "outage"
# Rules that wait for an agent: a public agent reply since ``since`` means no escalation.
AWAITING_AGENT = frozenset({FIRST_RESPONSE, STATUS_UNKNOWN})
ESCALATED_TAG = "sms_escalated"
NOTE_PREFIX = "[sms-connector]"
ALERT_TIMEOUT = 10.0  # seconds; an alert receiver slower than this is retried
ALERT_SOURCE = "sms-connector"
CLOCK_SKEW = 120.0  # the helpdesk's clock and ours, as the agent-reply flow allows


def handlers(runtime: Runtime) -> dict[str, Callable[[Job], None]]:
    """The jobs of the escalation flow, for ``connector.pipeline.build_handlers``."""
    return {ESCALATE_JOB: partial(handle_escalate, runtime),
            ALERT_JOB: partial(handle_alert, runtime)}


def rule_tag(rule: str) -> str:
    return f"sms_esc_{rule}"


def timer_key(rule: str, ticket_id: int) -> str:
    return f"{rule}:{int(ticket_id)}"


def step_up(priority: str | None, minimum: str | None = None) -> str:
    """One priority up, capped at the highest, and at least ``minimum``; a ticket without one
    counts as normal."""
    index = PRIORITIES.index(priority if priority in PRIORITIES else PRIORITY_NORMAL)
    raised = min(index + 1, len(PRIORITIES) - 1)
    if minimum in PRIORITIES:
        raised = max(raised, PRIORITIES.index(minimum))
    return PRIORITIES[raised]


# ---------------------------------------------------------------------- the timer


def keeps(runtime: Runtime, rule: str, scenario_id: str | None) -> bool:
    """The coverage table gives ``rule`` of the scenario to the connector (``connector`` or
    ``both``): never enforced twice unless the pack asks."""
    return runtime.enforcers.get((rule, scenario_id or "")) in (CONNECTOR, BOTH)


def arm_first_response(runtime: Runtime, conn: Connection, *, ticket_id: int,
                       scenario_id: str | None, since: float) -> float | None:
    """Set the ticket's first-response timer in ``conn``'s transaction when the connector
    enforces its scenario's target; returns when it falls due (None: not the connector's)."""
    if scenario_id is None or not keeps(runtime, FIRST_RESPONSE, scenario_id):
        return None
    policy = runtime.policy
    scenario = policy.scenario(scenario_id)
    target = float(scenario.targets.first_response or 0)
    if not target:
        return None
    due = (business_due(policy.business_hours, since, target) if scenario.business_hours
           else since + target)
    key = timer_key(FIRST_RESPONSE, ticket_id)
    set_timer(conn, ESCALATE_JOB, key, due, {
        "ticket_id": int(ticket_id), "rule": FIRST_RESPONSE, "scenario": scenario_id,
        "tier": scenario.tier, "target": target, "since": since, "due_at": due,
        "business_hours": scenario.business_hours,
    }, now=runtime.clock.now())
    log.info("first-response timer set", extra={"ticket_id": ticket_id, "scenario": scenario_id,
                                                "due_in": round(due - since, 3)})
    return due


def arm(runtime: Runtime, conn: Connection, *, rule: str, ticket_id: int, due_at: float,
        since: float, scenario: str | None, tier: str | None, target: float | None = None,
        business_hours: bool = False, reason: str | None = None, group: str | None = None,
        priority: str | None = None) -> bool:
    """Set (or move) the ticket's escalation timer for ``rule`` in ``conn``'s transaction; due
    now escalates at the scheduler's next tick. False when it fired already (once per rule)."""
    payload: dict[str, Any] = {
        "ticket_id": int(ticket_id), "rule": rule, "scenario": scenario, "tier": tier,
        "target": target, "since": since, "due_at": due_at, "business_hours": business_hours,
    }
    optional = {"reason": reason, "group": group, "priority": priority}
    payload.update({k: v for k, v in optional.items() if v is not None})
    armed = set_timer(conn, ESCALATE_JOB, timer_key(rule, ticket_id), due_at, payload,
                      now=runtime.clock.now())
    if armed:
        log.info("escalation timer set", extra={"ticket_id": ticket_id, "rule": rule,
                                                "due_in": round(due_at - runtime.clock.now(), 3)})
    return armed


def disarm(conn: Connection, ticket_id: int, rule: str = FIRST_RESPONSE) -> bool:
    """Cancel the ticket's timer for ``rule`` (answered, solved or closed); True when one was."""
    return cancel_timer(conn, ESCALATE_JOB, timer_key(rule, ticket_id))


# ---------------------------------------------------------------------- escalating


def handle_escalate(runtime: Runtime, job: Job) -> None:
    payload = job.payload
    ticket_id = int(payload["ticket_id"])
    rule = str(payload["rule"])
    helpdesk = runtime.helpdesk
    try:
        ticket = helpdesk.get_ticket(ticket_id)
    except TicketGone:
        log.info("escalation of a deleted ticket; nothing to do", extra={"ticket_id": ticket_id})
        return
    if ticket.state in (TICKET_SOLVED, TICKET_CLOSED):
        log.info("escalation of a solved or closed ticket; nothing to do",
                 extra={"ticket_id": ticket_id, "state": ticket.state})
        return
    comments = helpdesk.list_comments(ticket_id)
    if rule in AWAITING_AGENT and _answered(comments, float(payload["since"])):
        log.info("an agent replied (its webhook not seen yet); no escalation",
                 extra={"ticket_id": ticket_id, "rule": rule})
        return
    late = max(0.0, runtime.clock.now() - float(payload["due_at"]))
    tag = rule_tag(rule)
    opening = f"{NOTE_PREFIX} Escalated: {rule}"
    noted = any(not c.public and c.body.lstrip().startswith(opening) for c in comments)
    priority = step_up(ticket.priority, payload.get("priority"))
    group = _owner_group(runtime, payload)
    written = tag in ticket.tags
    known = bool(group) and not (written and noted) and helpdesk.knows_group(str(group))
    note = _note(opening, payload, ticket, priority, late, group, known)
    try:
        if not written:
            helpdesk.update(ticket_id, TicketUpdate(
                body=None if noted else note, private=True,
                priority=priority if priority != ticket.priority else None,
                group=group if known else None,
                add_tags=(ESCALATED_TAG, tag)))
        elif not noted:  # the tags landed, the note did not (two writes on some helpdesks)
            helpdesk.add_private_note(ticket_id, note)
    except TicketClosed:
        log.info("escalation of a ticket closed meanwhile", extra={"ticket_id": ticket_id})
        return
    with runtime.engine.begin() as conn:
        record_escalation(runtime, conn, ticket_id, rule, late=late, payload=payload)
    log.warning("ticket escalated", extra={"ticket_id": ticket_id, "rule": rule,
                                           "scenario": payload.get("scenario"),
                                           "group": group, "group_found": known,
                                           "late_seconds": round(late, 3)})
    _queue_alert(runtime, job, ticket_id, late)


def _owner_group(runtime: Runtime, payload: dict[str, Any]) -> str | None:
    """The payload's group, else the scenario's escalation group, else its owner group."""
    if payload.get("group"):
        return str(payload["group"])
    try:
        scenario = runtime.policy.scenario(str(payload.get("scenario") or ""))
    except KeyError:  # no scenario, or a pack edited since the timer was set
        return None
    return scenario.escalation.to_group or scenario.group


def record_escalation(runtime: Runtime, conn: Connection, ticket_id: int, rule: str, *,
                      late: float, payload: dict[str, Any]) -> bool:
    """The ledger's ``escalated`` event (once per ticket and rule) for the SLA report."""
    return sla.record_event(
        conn, helpdesk=runtime.settings.helpdesk.kind, ticket_id=ticket_id, kind="escalated",
        rule=rule, at=runtime.clock.now(),
        dedup=f"escalated:{runtime.settings.helpdesk.kind}:{int(ticket_id)}:{rule}",
        details={"late_seconds": round(late, 3), "target": payload.get("target"),
                 "scenario": payload.get("scenario"), "tier": payload.get("tier"),
                 "reason": payload.get("reason"), "group": payload.get("group")})


def _answered(comments: list[Comment], since: float) -> bool:
    """A public reply by a person on the support side since ``since``: what the agent-reply
    flow texts (agent_reply.pick_replies; not imported: that module imports this one)."""
    for c in comments:
        created = iso_epoch(c.created_at)
        if (c.public and c.author == AUTHOR_AGENT and not c.from_integration and not c.merged
                and created is not None and created >= since - CLOCK_SKEW):
            return True
    return False


def _why(payload: dict[str, Any]) -> str:
    """The note's reason: the payload's own line, else the rule's target in words."""
    if payload.get("reason"):
        return str(payload["reason"])
    rule = str(payload["rule"])
    target = format_duration(float(payload.get("target") or 0))
    hours = " (business hours)" if payload.get("business_hours") else ""
    if rule == FIRST_RESPONSE:
        return f"no public agent reply within the first-response target of {target}{hours}"
    if rule == STATUS_UNKNOWN:
        return f"no agent update within {target}{hours} of the acknowledgement"
    if rule == NO_CUSTOMER_RESPONSE:
        return f"no reply from the customer within {target}{hours}"
    return f"rule {rule}" + (f", target {target}{hours}" if payload.get("target") else "")


def _note(opening: str, payload: dict[str, Any], ticket: Ticket, priority: str,
          late: float, group: str | None, known: bool) -> str:
    line = f"{opening} - {_why(payload)}"
    if payload.get("target"):  # a time target: how late the connector saw it missed
        line += f"; {format_duration(late) if late >= 1 else 'under a second'} late"
    lines = [line + ".", f"Scenario: {payload.get('scenario')} ({payload.get('tier')})."]
    if priority != ticket.priority:
        lines.append(f"Priority raised: {ticket.priority or 'none'} -> {priority}.")
    if group and known:
        lines.append(f"Owner group: {group}.")
    elif group:
        lines.append(f"Owner group {group!r} was not found in the helpdesk; the ticket keeps "
                     "its group.")
    return "\n".join(lines)


def _top_tier(runtime: Runtime, tier: str | None) -> bool:
    """P1: the pack's first tier (tiers are listed most urgent first)."""
    tiers = runtime.policy.tiers
    return bool(tiers) and tier == tiers[0].id


def _queue_alert(runtime: Runtime, job: Job, ticket_id: int, late: float) -> None:
    payload = job.payload
    if not runtime.settings.escalation.alert_url or not _top_tier(runtime, payload.get("tier")):
        return
    key = str(payload.get("timer_key") or timer_key(str(payload["rule"]), ticket_id))
    with runtime.engine.begin() as conn:
        _enqueue_alert(runtime, conn, key, {
            "ticket_id": ticket_id, "rule": payload["rule"], "scenario": payload.get("scenario"),
            "tier": payload.get("tier"), "target": payload.get("target"),
            "late_seconds": round(late, 3)})
    runtime.notify()


def _enqueue_alert(runtime: Runtime, conn: Connection, key: str,
                   alert: dict[str, Any]) -> bool:
    """Queue the alert job once per ``key`` (a marker in the store); False when queued before."""
    if not kv_add(conn, f"escalation-alert:{key}", "queued", now=runtime.clock.now()):
        return False  # a retried escalation: queued already
    enqueue(conn, ALERT_JOB, {**alert, "dedup_key": f"{ALERT_SOURCE}:{key}"},
            max_attempts=runtime.settings.queue.max_attempts, now=runtime.clock.now())
    return True


def queue_page(runtime: Runtime, conn: Connection, *, ticket_id: int, rule: str,
               scenario: str | None, tier: str | None, summary: str) -> bool:
    """Page on-call through the alert hook for a P1 ticket now, in ``conn``'s transaction (the
    after-hours rule: before any escalation); once per ticket and rule, recorded in the SLA
    ledger as ``paged``. False when there is no hook, the tier is not the first, or it was
    paged already."""
    if not runtime.settings.escalation.alert_url or not _top_tier(runtime, tier):
        return False
    key = timer_key(rule, ticket_id)
    if not _enqueue_alert(runtime, conn, key, {
            "ticket_id": int(ticket_id), "rule": rule, "scenario": scenario, "tier": tier,
            "target": None, "late_seconds": 0.0, "summary": summary}):
        return False
    kind = runtime.settings.helpdesk.kind
    sla.record_event(conn, helpdesk=kind, ticket_id=ticket_id, kind="paged", rule=rule,
                     at=runtime.clock.now(), dedup=f"paged:{kind}:{int(ticket_id)}:{rule}",
                     details={"scenario": scenario, "tier": tier})
    log.warning("on-call paged", extra={"ticket_id": ticket_id, "rule": rule})
    return True


# ---------------------------------------------------------------------- the alert hook


def alert_body(routing_key: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A PagerDuty Events v2 ``trigger``
    (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/)."""
    summary = payload.get("summary")
    if not summary:
        summary = (f"SMS ticket #{payload['ticket_id']} ({payload.get('scenario')}, "
                   f"{payload.get('tier')}) escalated: {payload['rule']}")
        if payload.get("target"):
            summary += f" target {format_duration(float(payload['target']))} missed"
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": payload["dedup_key"],
        "payload": {
            "summary": summary,
            "severity": "critical",
            "source": ALERT_SOURCE,
            "custom_details": {
                "ticket_id": payload["ticket_id"], "scenario": payload.get("scenario"),
                "rule": payload["rule"], "late_seconds": payload.get("late_seconds"),
            },
        },
    }


def handle_alert(runtime: Runtime, job: Job) -> None:
    settings = runtime.settings.escalation
    if not settings.alert_url:
        log.info("alert dropped: escalation.alert_url is empty now", extra={"job_id": job.id})
        return
    body = alert_body(settings.alert_routing_key, dict(job.payload))
    try:
        response = requests.post(settings.alert_url, json=body, timeout=ALERT_TIMEOUT)
    except requests.RequestException as exc:
        raise TransientError(f"alert hook: {exc.__class__.__name__}: {exc}") from exc
    status = response.status_code
    if status == 429:
        retry = response.headers.get("Retry-After")
        raise RateLimited("alert hook answered 429",
                          retry_after=float(retry) if retry and retry.isdigit() else None)
    if status >= 500:
        raise TransientError(f"alert hook answered {status}")
    if status >= 400:
        raise PermanentError(f"alert hook refused the alert: {status} {response.text[:200]}")
    log.info("escalation alert sent", extra={"ticket_id": job.payload.get("ticket_id"),
                                             "status": status})

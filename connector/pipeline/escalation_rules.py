"""The escalation rules that follow a conversation after its ticket is filed: what each moment
of the conversation (connector/pipeline/conversation_events.py) sets or clears.

- status_unknown (a scenario's trigger, the pack's ``after``): set when the ticket is opened, due
  at its creation (the acknowledgement goes out at once) plus ``after``, in business hours when
  the scenario counts so; cleared by a public agent reply or the ticket being solved.
- diagnostic_loops (``max_loops``): a loop is an agent's public question (a reply with a
  question mark, or the scenario's ``diagnostic_question`` script) that the customer then
  answers. The open question is kept in the store (``kv``) until the customer's next text
  completes it, recorded once in the SLA ledger (kind ``loop``, one per question comment); the
  ``max_loops``-th loop on a ticket that is not solved escalates at once.
- flags (dispute, high_value): every text of the conversation, the first and the later ones, is
  triaged; the dispute flag, or a number on the pack's ``flags.high_value.numbers`` list,
  escalates at once (rule ``dispute`` / ``high_value``) to the owner group of the scenario whose
  trigger lists the flag (billing), at least priority high. The helpdesk's organisation tags are
  not read: knowing them would cost a helpdesk call per text.
- after hours: a ticket of the first tier (P1) opened outside the pack's business hours pages
  on-call through the alert hook at once, before any escalation (ledger kind ``paged``).

Each rule runs only where the coverage table (mappings/coverage.py) gives it to the connector,
so a target the helpdesk enforces natively is not enforced twice. Escalating "at once" is a
timer due now (escalation.arm): the escalate job then writes the helpdesk, once.

Each function runs inside the transaction that records the moment; it may be called again for
the same moment (a retried job, a redelivered webhook) and must then change nothing: timers are
keyed per ticket and rule (a fired one stays fired), ledger events carry dedup keys.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, select

from connector.model import PRIORITY_HIGH, TICKET_CLOSED, TICKET_SOLVED, Comment
from connector.pipeline import reminders
from connector.pipeline.escalation import (
    DIAGNOSTIC_LOOPS,
    DISPUTE,
    HIGH_VALUE,
    STATUS_UNKNOWN,
    arm,
    disarm,
    keeps,
    queue_page,
)
from connector.store import conversations, messages, sla
from connector.store.kv import kv_get, kv_set
from connector.text.triage import triage
from mappings.business_time import business_due
from mappings.policy import Scenario

if TYPE_CHECKING:
    from connector.runtime import Runtime

__all__ = ["on_agent_replied", "on_customer_wrote", "on_ticket_changed", "on_ticket_opened"]

log = logging.getLogger("sms_connector.escalation")

FLAG_RULES = {"dispute": DISPUTE, "high_value": HIGH_VALUE}  # flag → escalation rule
FLAG_REASONS = {DISPUTE: "dispute language in a text",
                HIGH_VALUE: "a high-value customer (the pack's high_value numbers)"}
AFTER_HOURS = "after_hours"  # the page's rule in the ledger and the alert's dedup key
LOOP = "loop"  # the ledger's kind of a completed diagnostic loop


# ---------------------------------------------------------------------- the four moments


def on_ticket_opened(runtime: Runtime, conn: Connection, *, ticket_id: int,
                     conversation_id: int, scenario_id: str | None, tier: str | None,
                     message_ids: Sequence[int], at: float) -> None:
    """A new ticket holds the texts ``message_ids``; it was created at ``at``."""
    scenario = _scenario(runtime, scenario_id)
    if scenario is not None and _kept(runtime, STATUS_UNKNOWN, scenario):
        _arm_status_unknown(runtime, conn, ticket_id, scenario, at)
    _page_after_hours(runtime, conn, ticket_id, scenario_id, tier, at)
    _flags(runtime, conn, ticket_id=ticket_id, conversation_id=conversation_id,
           scenario_id=scenario_id, tier=tier, message_ids=message_ids)


def on_customer_wrote(runtime: Runtime, conn: Connection, *, ticket_id: int,
                      conversation_id: int, message_ids: Sequence[int], at: float) -> None:
    """The customer's later texts ``message_ids`` reached the open ticket."""
    row = sla.get_ticket(conn, runtime.settings.helpdesk.kind, ticket_id)
    scenario_id, tier = (row.scenario, row.tier) if row is not None else (None, None)
    _complete_loop(runtime, conn, ticket_id, row)
    _flags(runtime, conn, ticket_id=ticket_id, conversation_id=conversation_id,
           scenario_id=scenario_id, tier=tier, message_ids=message_ids)
    reminders.on_customer_wrote(runtime, conn, ticket_id=ticket_id,
                                conversation_id=conversation_id, message_ids=message_ids, at=at)


def on_agent_replied(runtime: Runtime, conn: Connection, *, ticket_id: int,
                     conversation_id: int, comments: Sequence[Comment]) -> None:
    """Public agent replies (oldest first; may repeat ones seen before)."""
    if comments:
        disarm(conn, ticket_id, STATUS_UNKNOWN)  # the agent gave an update
        _open_loop(runtime, conn, ticket_id, comments)
    reminders.on_agent_replied(runtime, conn, ticket_id=ticket_id,
                               conversation_id=conversation_id, comments=comments)


def on_ticket_changed(runtime: Runtime, conn: Connection, *, ticket_id: int, state: str,
                      previous: str | None, at: float) -> None:
    """The ticket's state changed (or was told again)."""
    if state in (TICKET_SOLVED, TICKET_CLOSED):
        disarm(conn, ticket_id, STATUS_UNKNOWN)  # done: nothing left to wait for
    reminders.on_ticket_changed(runtime, conn, ticket_id=ticket_id, state=state,
                                previous=previous, at=at)


# ---------------------------------------------------------------------- which rules are ours


def _scenario(runtime: Runtime, scenario_id: str | None) -> Scenario | None:
    if not scenario_id:
        return None
    try:
        return runtime.policy.scenario(scenario_id)
    except KeyError:  # a pack edited since triage
        return None


def _kept(runtime: Runtime, trigger: str, scenario: Scenario) -> bool:
    """The scenario's escalation trigger is ``trigger`` and the coverage table gives it to the
    connector (``connector`` or ``both``): never enforced twice unless the pack asks."""
    return scenario.escalation.trigger == trigger and keeps(runtime, trigger, scenario.id)


# ---------------------------------------------------------------------- status unknown


def _arm_status_unknown(runtime: Runtime, conn: Connection, ticket_id: int,
                        scenario: Scenario, since: float) -> None:
    after = scenario.escalation.after
    if not after:
        return
    policy = runtime.policy
    due = (business_due(policy.business_hours, since, after) if scenario.business_hours
           else since + after)
    arm(runtime, conn, rule=STATUS_UNKNOWN, ticket_id=ticket_id, due_at=due, since=since,
        scenario=scenario.id, tier=scenario.tier, target=float(after),
        business_hours=scenario.business_hours)


# ---------------------------------------------------------------------- after hours


def _page_after_hours(runtime: Runtime, conn: Connection, ticket_id: int,
                      scenario_id: str | None, tier: str | None, at: float) -> None:
    policy = runtime.policy
    if policy.business_hours.is_open(datetime.fromtimestamp(at, UTC)):
        return
    queue_page(runtime, conn, ticket_id=ticket_id, rule=AFTER_HOURS, scenario=scenario_id,
               tier=tier, summary=f"SMS ticket #{int(ticket_id)} ({scenario_id}, {tier}) "
                                  "opened after business hours")


# ---------------------------------------------------------------------- diagnostic loops


def _loop_key(runtime: Runtime, ticket_id: int) -> str:
    return f"loop-open:{runtime.settings.helpdesk.kind}:{int(ticket_id)}"


def _asks(runtime: Runtime, scenario: Scenario, body: str) -> bool:
    """An agent's public question: a question mark, or the scenario's diagnostic script (the
    agent's own values, {eta} / {order}, may stand where its placeholders are)."""
    if "?" in body:
        return True
    said = " ".join(body.split()).casefold()
    for script in runtime.policy.scripts_for(scenario.id):
        if script.kind != "diagnostic_question":
            continue
        rendered = runtime.policy.render_script(script)
        chunks = [" ".join(c.split()).casefold() for c in
                  rendered.replace("{eta}", "\0").replace("{order}", "\0").split("\0")]
        longest = max(chunks, key=len)
        if longest and longest in said:
            return True
    return False


def _open_loop(runtime: Runtime, conn: Connection, ticket_id: int,
               comments: Sequence[Comment]) -> None:
    kind = runtime.settings.helpdesk.kind
    row = sla.get_ticket(conn, kind, ticket_id)
    scenario = _scenario(runtime, row.scenario if row is not None else None)
    if scenario is None or not _kept(runtime, DIAGNOSTIC_LOOPS, scenario):
        return
    done = {e.details.get("question_id") for e in sla.events_for(conn, kind, ticket_id, LOOP)}
    questions = [c for c in comments if c.id not in done and _asks(runtime, scenario, c.body)]
    if questions:  # the newest question is the one the customer answers next
        kv_set(conn, _loop_key(runtime, ticket_id), str(int(questions[-1].id)),
               now=runtime.clock.now())


def _complete_loop(runtime: Runtime, conn: Connection, ticket_id: int,
                   row: sla.SlaTicket | None) -> None:
    key = _loop_key(runtime, ticket_id)
    question = kv_get(conn, key)
    if not question or row is None:
        return
    scenario = _scenario(runtime, row.scenario)
    if scenario is None or not _kept(runtime, DIAGNOSTIC_LOOPS, scenario):
        return
    kind, now = runtime.settings.helpdesk.kind, runtime.clock.now()
    kv_set(conn, key, "", now=now)
    if not sla.record_event(conn, helpdesk=kind, ticket_id=ticket_id, kind=LOOP,
                            rule=DIAGNOSTIC_LOOPS, at=now,
                            dedup=f"loop:{kind}:{int(ticket_id)}:{question}",
                            details={"question_id": int(question)}):
        return  # this question's loop was counted before
    loops = len(sla.events_for(conn, kind, ticket_id, LOOP))
    limit = scenario.escalation.max_loops or 0
    log.info("diagnostic loop completed", extra={"ticket_id": ticket_id, "loops": loops})
    if limit and loops >= limit and row.solved_at is None:
        arm(runtime, conn, rule=DIAGNOSTIC_LOOPS, ticket_id=ticket_id, due_at=now, since=now,
            scenario=scenario.id, tier=scenario.tier,
            reason=f"{loops} diagnostic loops without a fix (the pack allows {limit})")


# ---------------------------------------------------------------------- dispute, high value


def _flag_owner(runtime: Runtime, flag: str) -> Scenario | None:
    """The scenario whose ``flags`` trigger lists ``flag`` and that the connector keeps."""
    for scenario in runtime.policy.scenarios:
        if flag in scenario.escalation.flags and _kept(runtime, "flags", scenario):
            return scenario
    return None


def _flags(runtime: Runtime, conn: Connection, *, ticket_id: int, conversation_id: int,
           scenario_id: str | None, tier: str | None, message_ids: Sequence[int]) -> None:
    raised: set[str] = set()
    if _flag_owner(runtime, "dispute") is not None and message_ids:
        bodies = conn.execute(select(messages.c.body).where(
            messages.c.id.in_(list(message_ids)))).scalars()
        for body in bodies:
            if body and body.strip() and "dispute" in triage(body, runtime.policy).flags:
                raised.add("dispute")
                break
    high_value = _flag_owner(runtime, "high_value")
    if high_value is not None:
        numbers = runtime.policy.flag("high_value").numbers
        phone = conn.execute(select(conversations.c.customer_phone).where(
            conversations.c.id == conversation_id)).scalar() if numbers else None
        if phone in numbers:
            raised.add("high_value")
    now = runtime.clock.now()
    for flag in sorted(raised):
        owner = _flag_owner(runtime, flag)
        rule = FLAG_RULES[flag]
        group = (owner.escalation.to_group or owner.group) if owner is not None else None
        # Once per ticket and rule: a fired timer stays fired, and the job itself writes once.
        if arm(runtime, conn, rule=rule, ticket_id=ticket_id, due_at=now, since=now,
               scenario=scenario_id, tier=tier, reason=FLAG_REASONS[rule], group=group,
               priority=PRIORITY_HIGH):
            log.info("escalating at once", extra={"ticket_id": ticket_id, "rule": rule,
                                                  "group": group})


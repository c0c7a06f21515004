"""No customer response: one reminder text after the pack's wait, then the pack's action.

For a scenario whose escalation trigger is ``no_customer_response`` (the general inquiry in
the shipped pack), and only where the coverage table gives that rule to the connector:

- an agent's public reply (the customer's turn) sets the ``reminder`` timer, keyed per ticket,
  due at the reply plus ``after`` (24h); a later agent reply moves it (or, if the reminder for
  an earlier reply went out, arms it anew for this one); a redelivered reply changes nothing;
- the customer's next text, or the ticket solved or closed, clears the reminder and what follows;
- when it fires: the ticket is read (solved, closed, deleted, or answered by the customer since
  → nothing); the reminder is texted once (source ``reminder``: the pack's
  ``escalation.reminder``), not to an opted-out customer, only inside quiet hours
  (connector/text/quiet_hours.py: 08:00-21:00 where the customer is; outside, the job waits for
  the next opening) and through the guards (connector/pipeline/guards.py: held back, recorded as
  suppressed, right after another automated text or to a flooding number); one private note
  tells the agent what was texted or why not; the ledger records ``reminded``; and the
  follow-up timer is set ``then_after`` later (a retried job keeps its time);
- the follow-up: still no answer → ``then``: "solve" (the ticket is solved with a private note,
  ledger ``auto_solved``) or "escalate" (rule ``no_customer_response``, the escalate job).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select

from connector.errors import PermanentError, TicketClosed, TicketGone
from connector.jobs.queue import Job
from connector.jobs.worker import Reschedule
from connector.model import TICKET_CLOSED, TICKET_SOLVED, Comment, TicketUpdate, iso_epoch
from connector.pipeline import guards
from connector.pipeline.escalation import NOTE_PREFIX, arm, keeps
from connector.store import conversations, messages, outbound, reading, sla
from connector.store.kv import kv_get, kv_set
from connector.store.optouts import is_opted_out
from connector.store.timers import cancel_timer, get_timer, set_timer
from connector.text.quiet_hours import next_allowed
from mappings.policy import Scenario, format_duration

if TYPE_CHECKING:
    from connector.runtime import Runtime

__all__ = ["REMINDER_JOB", "RULE", "handlers", "on_agent_replied", "on_customer_wrote",
           "on_ticket_changed"]

log = logging.getLogger("sms_connector.reminders")

RULE = "no_customer_response"
REMINDER_JOB = "reminder"  # the timer kind and the job it enqueues
SOURCE = "reminder"  # the outbound rows' source
REMIND, THEN = "remind", "then"
# Why no reminder was texted, as the private note says it.
_WHY = {
    "opted_out": "the customer opted out of SMS",
    "no_daytime": "no hour is daytime in every time zone of the number",
    guards.FLOOD: "the number is flooding us",
    guards.INTERVAL: "an automated text went to this customer moments ago",
}


def handlers(runtime: Runtime) -> dict[str, Callable[[Job], None]]:
    return {REMINDER_JOB: partial(handle_reminder, runtime)}


def _key(step: str, ticket_id: int) -> str:
    return f"{RULE}:{int(ticket_id)}" if step == REMIND else f"{RULE}:then:{int(ticket_id)}"


def _scenario_of(runtime: Runtime, conn: Connection, conversation_id: int) -> Scenario | None:
    """The conversation's scenario when its trigger is ours to keep."""
    scenario_id = conn.execute(select(conversations.c.category).where(
        conversations.c.id == conversation_id)).scalar()
    if not scenario_id:
        return None
    try:
        scenario = runtime.policy.scenario(scenario_id)
    except KeyError:
        return None
    if scenario.escalation.trigger != RULE or not scenario.escalation.after:
        return None
    return scenario if keeps(runtime, RULE, scenario.id) else None


def _clear(conn: Connection, ticket_id: int) -> None:
    cancel_timer(conn, REMINDER_JOB, _key(REMIND, ticket_id))
    cancel_timer(conn, REMINDER_JOB, _key(THEN, ticket_id))


# ---------------------------------------------------------------------- the moments


def on_agent_replied(runtime: Runtime, conn: Connection, *, ticket_id: int,
                     conversation_id: int, comments: Sequence[Comment]) -> None:
    """An agent answered: the customer's turn; the wait runs from the latest reply."""
    scenario = _scenario_of(runtime, conn, conversation_id)
    if scenario is None or not comments:
        return
    latest = comments[-1]  # oldest first
    replied_at = iso_epoch(latest.created_at) or runtime.clock.now()
    existing = get_timer(conn, REMINDER_JOB, _key(REMIND, ticket_id))
    if existing is not None and existing.payload.get("comment_id") == latest.id:
        return  # this reply was seen before (a redelivered webhook)
    after = float(scenario.escalation.after or 0)
    # The customer's texts so far; one with a higher id is an answer. (Not a time: the
    # helpdesk stamps replies in whole seconds and on its own clock.)
    seen = conn.execute(select(func.max(messages.c.id)).where(
        messages.c.conversation_id == conversation_id)).scalar()
    set_timer(conn, REMINDER_JOB, _key(REMIND, ticket_id), replied_at + after, {
        "step": REMIND, "rule": RULE, "ticket_id": int(ticket_id),
        "conversation_id": conversation_id,
        "scenario": scenario.id, "comment_id": latest.id, "replied_at": replied_at,
        "after": after, "last_message_id": int(seen or 0),
    }, now=runtime.clock.now(), rearm=True)
    cancel_timer(conn, REMINDER_JOB, _key(THEN, ticket_id))  # a new reply starts over


def on_customer_wrote(runtime: Runtime, conn: Connection, *, ticket_id: int,
                      conversation_id: int, message_ids: Sequence[int], at: float) -> None:
    """The customer answered: no reminder, no action."""
    _clear(conn, ticket_id)


def on_ticket_changed(runtime: Runtime, conn: Connection, *, ticket_id: int, state: str,
                      previous: str | None, at: float) -> None:
    """Solved or closed: nothing to remind of."""
    if state in (TICKET_SOLVED, TICKET_CLOSED):
        _clear(conn, ticket_id)


# ---------------------------------------------------------------------- the job


def handle_reminder(runtime: Runtime, job: Job) -> None:
    payload = dict(job.payload)
    ticket_id = int(payload["ticket_id"])
    try:
        ticket = runtime.helpdesk.get_ticket(ticket_id)
    except TicketGone:
        log.info("reminder for a deleted ticket; nothing to do", extra={"ticket_id": ticket_id})
        return
    if ticket.state in (TICKET_SOLVED, TICKET_CLOSED):
        return
    with reading(runtime.engine) as conn:
        conv = conn.execute(select(conversations).where(
            conversations.c.id == int(payload["conversation_id"]))).mappings().first()
        answered = conn.execute(select(messages.c.id).where(
            messages.c.conversation_id == int(payload["conversation_id"]),
            messages.c.id > int(payload.get("last_message_id") or 0)).limit(1)).first()
    if conv is None or answered is not None:
        log.info("the customer answered since; no reminder", extra={"ticket_id": ticket_id})
        return
    if payload.get("step") == THEN:
        _then(runtime, payload, ticket_id)
    else:
        _remind(runtime, payload, ticket_id, dict(conv))


def _remind(runtime: Runtime, payload: dict[str, Any], ticket_id: int,
            conv: dict[str, Any]) -> None:
    policy = runtime.policy
    now = runtime.clock.now()
    phone, channel_key = conv["customer_phone"], conv["channel_key"]
    source_id = f"{ticket_id}:{payload['comment_id']}"
    held: str | None = None  # why no reminder is texted (a key of _WHY), None: it is
    with reading(runtime.engine) as conn:
        if is_opted_out(conn, phone, channel_key):
            held = "opted_out"
        # A retried job whose first run recorded the text finishes that round, even at night.
        recorded = conn.execute(select(outbound.c.id).where(
            outbound.c.source == SOURCE, outbound.c.source_id == source_id)).first()
    if held is None and recorded is None:
        window = runtime.settings.escalation
        allowed = next_allowed(phone, now, fallback=policy.business_hours.timezone,
                               start=window.proactive_from, end=window.proactive_until)
        if allowed is None:
            held = "no_daytime"  # no hour suits every zone of the number: not texted at all
        elif allowed > now:
            log.info("reminder waits for the customer's daytime",
                     extra={"ticket_id": ticket_id, "in_seconds": round(allowed - now)})
            raise Reschedule(allowed - now)
    channel = runtime.channel(channel_key)
    if channel is None:
        raise PermanentError(f"conversation {conv['id']}: no [[channels]] entry with key "
                             f"{channel_key} any more")
    scenario_id = str(payload["scenario"])
    scenario = policy.scenario(scenario_id)
    text = policy.render_reminder(scenario_id)
    with runtime.engine.begin() as conn:
        if held is None:
            # The guards (connector/pipeline/guards.py): not to a flooding number, not right
            # after another automated text; a retried job keeps the first run's decision.
            _queued, held = guards.queue_automated(
                conn, runtime.settings.escalation, source=SOURCE, source_id=source_id,
                to_number=phone, body=text, channel=channel, conversation_id=int(conv["id"]),
                ticket_id=ticket_id, now=now)
        sla.record_event(conn, helpdesk=runtime.settings.helpdesk.kind, ticket_id=ticket_id,
                         kind="reminded", rule=RULE, at=now,
                         dedup=f"reminded:{runtime.settings.helpdesk.kind}:{source_id}",
                         details={"texted": held is None, "held": held})
        then_after = float(scenario.escalation.then_after or scenario.escalation.after or 0)
        if get_timer(conn, REMINDER_JOB, _key(THEN, ticket_id)) is None:  # a retry keeps it
            set_timer(conn, REMINDER_JOB, _key(THEN, ticket_id), now + then_after,
                      {**payload, "step": THEN, "reminded_at": now}, now=now)
    runtime.notify()
    waited = format_duration(float(payload["after"]))
    action = scenario.escalation.then or "solve"
    note = (f"{NOTE_PREFIX} No customer response for {waited}: "
            + ("reminder texted: \u201c" + text + "\u201d" if held is None
               else f"no reminder texted ({_WHY[held]}).")
            + f" Without an answer in {format_duration(then_after)} the ticket will be "
            + ("solved." if action == "solve" else "escalated."))
    _note_once(runtime, ticket_id, f"reminder-note:{runtime.settings.helpdesk.kind}:{source_id}",
               note)
    log.info("reminder done", extra={"ticket_id": ticket_id, "held": held})


def _then(runtime: Runtime, payload: dict[str, Any], ticket_id: int) -> None:
    scenario = runtime.policy.scenario(str(payload["scenario"]))
    action = scenario.escalation.then or "solve"
    now = runtime.clock.now()
    if action == "escalate":
        silent = format_duration(now - float(payload["replied_at"]))
        with runtime.engine.begin() as conn:
            arm(runtime, conn, rule=RULE, ticket_id=ticket_id, due_at=now,
                since=float(payload["replied_at"]), scenario=scenario.id, tier=scenario.tier,
                target=float(payload["after"]),
                reason=f"no customer response {silent} after an agent's reply; the reminder "
                       "went unanswered")
        runtime.notify()
        return
    note = (f"{NOTE_PREFIX} Solved: no customer response since the reminder "
            f"({format_duration(now - float(payload.get('reminded_at') or now))} ago).")
    try:
        runtime.helpdesk.update(ticket_id, TicketUpdate(body=note, private=True, solve=True))
    except TicketClosed:
        return
    with runtime.engine.begin() as conn:
        sla.record_event(conn, helpdesk=runtime.settings.helpdesk.kind, ticket_id=ticket_id,
                         kind="auto_solved", rule=RULE, at=now,
                         dedup=f"auto_solved:{runtime.settings.helpdesk.kind}:{ticket_id}:"
                               f"{payload['comment_id']}")
    log.info("ticket solved for silence", extra={"ticket_id": ticket_id})


def _note_once(runtime: Runtime, ticket_id: int, key: str, text: str) -> None:
    """One private note per reminder round (``key``): a retried job does not write it again."""
    with reading(runtime.engine) as conn:
        if kv_get(conn, key) is not None:
            return
    with contextlib.suppress(TicketClosed):  # closed meanwhile: nothing left to tell
        runtime.helpdesk.add_private_note(ticket_id, text)
    with runtime.engine.begin() as conn:
        kv_set(conn, key, "noted", now=runtime.clock.now())

"""The four moments of a conversation the SLA ledger and the escalation engine hear about.

The pipeline calls these inside the transaction that records the moment, so a crash never
leaves a ticket recorded without its ledger row or its timers:

- ``ticket_opened``: the inbound job filed a new ticket for the customer's texts;
- ``customer_wrote``: later texts of the customer reached an open ticket;
- ``agent_replied``: public agent replies (the ones the agent-reply flow texts) were seen;
- ``ticket_changed``: the helpdesk told a ticket's new state (solved, closed, open again).

Each writes the ledger (connector/store/sla.py) and then hands the moment to the escalation
rules (connector/pipeline/escalation_rules.py), which set and clear their timers. Every call
may be repeated (a redelivered webhook, a retried job): what they write is idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, func, select

from connector.model import TICKET_CLOSED, TICKET_SOLVED, Comment, iso_epoch
from connector.pipeline import escalation_rules
from connector.pipeline.escalation import FIRST_RESPONSE, arm_first_response, disarm
from connector.store import messages, sla
from mappings.business_time import business_due

if TYPE_CHECKING:
    from connector.runtime import Runtime

__all__ = ["agent_replied", "customer_wrote", "ticket_changed", "ticket_opened"]

log = logging.getLogger("sms_connector.sla")


def _first_received(conn: Connection, message_ids: Sequence[int]) -> float | None:
    if not message_ids:
        return None
    value = conn.execute(select(func.min(messages.c.received_at))
                         .where(messages.c.id.in_(list(message_ids)))).scalar()
    return None if value is None else float(value)


def ticket_opened(runtime: Runtime, conn: Connection, *, ticket_id: int, conversation_id: int,
                  scenario_id: str | None, tier: str | None, message_ids: Sequence[int],
                  created_at: float) -> None:
    """A new ticket holds the customer's texts ``message_ids``; it was filed at ``created_at``
    (the first attempt of the creation: a retried one still counts from then)."""
    policy = runtime.policy
    now = runtime.clock.now()
    received = _first_received(conn, message_ids) or created_at
    target = due = None
    business = after_hours = False
    if scenario_id is not None:
        try:
            scenario = policy.scenario(scenario_id)
        except KeyError:  # a pack edited since triage; the ticket is still recorded
            scenario = None
        if scenario is not None:
            target = float(scenario.first_response)
            business = bool(scenario.business_hours)
            after_hours = business and not policy.business_hours.is_open(
                datetime.fromtimestamp(received, UTC))
            due = (business_due(policy.business_hours, received, target) if business
                   else received + target)
    sla.open_ticket(conn, helpdesk=runtime.settings.helpdesk.kind, ticket_id=ticket_id,
                    conversation_id=conversation_id, scenario=scenario_id, tier=tier,
                    received_at=received, created_at=created_at, target_seconds=target,
                    business_hours=business, due_at=due, after_hours=after_hours,
                    enforced_by=runtime.enforcers.get((FIRST_RESPONSE, scenario_id or "")),
                    now=now)
    # The first-response clock runs from the ticket's creation, set with the ticket.
    arm_first_response(runtime, conn, ticket_id=ticket_id, scenario_id=scenario_id,
                       since=created_at)
    escalation_rules.on_ticket_opened(runtime, conn, ticket_id=ticket_id,
                                      conversation_id=conversation_id, scenario_id=scenario_id,
                                      tier=tier, message_ids=message_ids, at=created_at)


def customer_wrote(runtime: Runtime, conn: Connection, *, ticket_id: int, conversation_id: int,
                   message_ids: Sequence[int]) -> None:
    """Later texts ``message_ids`` were added to the open ticket ``ticket_id``."""
    escalation_rules.on_customer_wrote(runtime, conn, ticket_id=ticket_id,
                                       conversation_id=conversation_id, message_ids=message_ids,
                                       at=runtime.clock.now())


def agent_replied(runtime: Runtime, conn: Connection, *, ticket_id: int, conversation_id: int,
                  comments: Sequence[Comment]) -> None:
    """Public agent replies ``comments`` (oldest first) are on the ticket: the first response
    is given (no first-response escalation), and the rules hear of them."""
    disarm(conn, ticket_id, FIRST_RESPONSE)
    times = [t for t in (iso_epoch(c.created_at) for c in comments) if t is not None]
    if times:
        sla.first_response(conn, runtime.settings.helpdesk.kind, ticket_id, min(times),
                           now=runtime.clock.now())
    escalation_rules.on_agent_replied(runtime, conn, ticket_id=ticket_id,
                                      conversation_id=conversation_id, comments=comments)


def ticket_changed(runtime: Runtime, conn: Connection, *, ticket_id: int, state: str,
                   previous: str | None, at: float) -> None:
    """The ticket is now ``state`` (it was ``previous``, as the connector last knew it)."""
    kind = runtime.settings.helpdesk.kind
    now = runtime.clock.now()
    if state in (TICKET_SOLVED, TICKET_CLOSED):
        disarm(conn, ticket_id, FIRST_RESPONSE)  # done: nothing left to escalate
        sla.solved(conn, kind, ticket_id, at, now=now)
    elif previous in (TICKET_SOLVED, TICKET_CLOSED):
        sla.reopened(conn, kind, ticket_id, now=now)
    escalation_rules.on_ticket_changed(runtime, conn, ticket_id=ticket_id, state=state,
                                       previous=previous, at=at)

"""The ``ticket_state`` job: a helpdesk said one of its tickets changed status; remember it.

A helpdesk whose writes answer with the ticket keeps the conversation's remembered state fresh
on every write, and refuses a write that raced a change. One without conditional writes, whose
customer-text write answers without the ticket, cannot: its adapter says ``EVENT_STATE`` for the
deliveries of a "status changed" rule ``policy apply`` installs, and this job reads the ticket
once and stores its state on the conversation, so the next text reopens a solved ticket within
``threading.reopen_within`` or follows a closed one with a new ticket instead of writing where
nobody looks.

Nothing of the ticket's comments is read (no text goes out from here); a ticket that is no
conversation's current ticket costs no call at all.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from connector.errors import TicketGone
from connector.model import TICKET_SOLVED, TICKET_UNKNOWN, iso_epoch
from connector.pipeline import conversation_events
from connector.store import conversations, reading

if TYPE_CHECKING:
    from connector.jobs.queue import Job
    from connector.runtime import Runtime

__all__ = ["STATE_JOB", "handle_ticket_state"]

log = logging.getLogger("sms_connector.ticket_state")

STATE_JOB = "ticket_state"


def handle_ticket_state(runtime: Runtime, job: Job) -> None:
    ticket_id = int(job.payload["ticket_id"])
    kind = runtime.settings.helpdesk.kind
    mine = (conversations.c.helpdesk == kind) & (conversations.c.ticket_id == ticket_id)
    with reading(runtime.engine) as conn:
        known = conn.execute(select(conversations.c.id, conversations.c.ticket_status,
                                    conversations.c.solved_at).where(mine)).first()
    if known is None:
        log.info("status change of a ticket no conversation is on; nothing to remember",
                 extra={"ticket_id": ticket_id})
        return
    try:
        ticket = runtime.helpdesk.get_ticket(ticket_id)
    except TicketGone:
        # The inbound job finds this out at its next write and files the texts anew.
        log.info("status change of a ticket deleted since", extra={"ticket_id": ticket_id})
        return
    if ticket.state == TICKET_UNKNOWN:
        log.warning("ticket status the connector cannot place; the remembered one stays",
                    extra={"ticket_id": ticket_id, "helpdesk_status": ticket.raw.get("status")})
        return
    solved_at = None
    if ticket.state == TICKET_SOLVED:
        # Solved earlier and told again (a repeated delivery): the first time counts.
        solved_at = (known.solved_at if known.ticket_status == TICKET_SOLVED and known.solved_at
                     else iso_epoch(ticket.updated_at) or runtime.clock.now())
    with runtime.engine.begin() as conn:
        conn.execute(update(conversations).where(mine).values(
            ticket_status=ticket.state, ticket_updated_stamp=ticket.version,
            solved_at=solved_at, updated_at=runtime.clock.now()))
        conversation_events.ticket_changed(
            runtime, conn, ticket_id=ticket_id, state=ticket.state,
            previous=known.ticket_status,
            at=solved_at or iso_epoch(ticket.updated_at) or runtime.clock.now())
    log.info("ticket status remembered", extra={"ticket_id": ticket_id, "state": ticket.state,
                                                "conversation": known.id})

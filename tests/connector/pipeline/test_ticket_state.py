"""The ``ticket_state`` job against the sandbox helpdesk: a status change told by webhook is read
once and remembered on the conversation; nothing else is called or changed."""

from __future__ import annotations

import time

import requests
from sqlalchemy import select, update

from connector.jobs.queue import Job
from connector.model import PRIORITY_NORMAL, TICKET_OPEN, TICKET_SOLVED, NewTicket
from connector.pipeline.ticket_state import STATE_JOB, handle_ticket_state
from connector.store import conversations
from tests.connector.pipeline.conftest import CUSTOMER


def job(ticket_id: int) -> Job:
    return Job(id=1, kind=STATE_JOB, conversation_key=f"ticket:{ticket_id}",
               payload={"ticket_id": ticket_id}, attempts=1, max_attempts=5,
               lease_token="t", lease_expires_at=time.time() + 60)


def filed(runtime, conversation: int) -> int:
    requester = runtime.helpdesk.ensure_requester(CUSTOMER).id
    ticket, _ = runtime.helpdesk.create_ticket(NewTicket(
        requester_id=requester, subject="SMS", body="hello", key="k1",
        attempted_at=time.time(), priority=PRIORITY_NORMAL, tags=("sms",)))
    with runtime.engine.begin() as conn:
        conn.execute(update(conversations).where(conversations.c.id == conversation).values(
            ticket_id=ticket.id, ticket_status=TICKET_OPEN, requester_id=requester))
    return ticket.id


def remembered(runtime, conversation: int) -> tuple[str, float | None]:
    with runtime.engine.begin() as conn:
        row = conn.execute(select(conversations.c.ticket_status, conversations.c.solved_at)
                           .where(conversations.c.id == conversation)).one()
    return row.ticket_status, row.solved_at


def set_status(sandbox, ticket_id: int, status: str) -> None:
    answer = requests.post(f"{sandbox.zendesk_url}/_sandbox/tickets/{ticket_id}/status",
                           json={"status": status}, timeout=10)
    answer.raise_for_status()


def test_a_solved_ticket_is_remembered_solved_once(world, conversation) -> None:
    runtime, sandbox = world
    ticket_id = filed(runtime, conversation)
    set_status(sandbox, ticket_id, "solved")
    before = runtime.helpdesk.calls["total"]
    handle_ticket_state(runtime, job(ticket_id))
    assert runtime.helpdesk.calls["total"] == before + 1  # one read, no comments
    state, solved_at = remembered(runtime, conversation)
    assert state == TICKET_SOLVED and solved_at
    sandbox.clock.advance(600)
    handle_ticket_state(runtime, job(ticket_id))  # Freshdesk retries a delivery
    assert remembered(runtime, conversation) == (TICKET_SOLVED, solved_at)


def test_reopened_in_the_helpdesk_is_open_again(world, conversation) -> None:
    runtime, sandbox = world
    ticket_id = filed(runtime, conversation)
    set_status(sandbox, ticket_id, "solved")
    handle_ticket_state(runtime, job(ticket_id))
    set_status(sandbox, ticket_id, "open")
    handle_ticket_state(runtime, job(ticket_id))
    assert remembered(runtime, conversation) == (TICKET_OPEN, None)


def test_a_ticket_no_conversation_is_on_costs_no_call(world, conversation) -> None:
    runtime, _ = world
    before = runtime.helpdesk.calls["total"]
    handle_ticket_state(runtime, job(987654))
    assert runtime.helpdesk.calls["total"] == before
    assert remembered(runtime, conversation) == (None, None)


def test_a_deleted_ticket_changes_nothing(world, conversation) -> None:
    runtime, sandbox = world
    ticket_id = filed(runtime, conversation)
    requests.delete(f"{sandbox.zendesk_url}/api/v2/tickets/{ticket_id}",
                    auth=(f"{sandbox.zendesk.email}/token", sandbox.zendesk.api_token),
                    timeout=10).raise_for_status()
    handle_ticket_state(runtime, job(ticket_id))
    assert remembered(runtime, conversation) == (TICKET_OPEN, None)

"""The SLA ledger as the pipeline fills it: a ticket filed, answered, solved, reopened,
escalated — on both helpdesks' stand-ins, on a hand-moved clock (the world of
test_escalation)."""

from __future__ import annotations

import time

import pytest

from connector.jobs.queue import Job
from connector.pipeline.ticket_state import handle_ticket_state
from connector.store import reading
from connector.store.sla import events_for, get_ticket
from tests.connector.pipeline.test_escalation import TARGET, World, make_world


@pytest.fixture(params=["zendesk", "freshdesk"])
def world(request, tmp_path):
    w, sandbox = make_world(tmp_path, request.param)
    yield w
    w.runtime.close()
    sandbox.stop()


def ledger(world: World, ticket_id: int):
    with reading(world.runtime.engine) as conn:
        return get_ticket(conn, world.runtime.settings.helpdesk.kind, ticket_id)


def events(world: World, ticket_id: int):
    with reading(world.runtime.engine) as conn:
        return events_for(conn, world.runtime.settings.helpdesk.kind, ticket_id)


def test_a_filed_ticket_is_in_the_ledger_with_its_scenario_and_target(world):
    received = world.clock.now()
    ticket_id = world.text("hello, I have a question about my account")
    row = ledger(world, ticket_id)
    assert row is not None
    assert row.received_at == received and row.created_at >= received
    assert row.target_seconds == TARGET and row.due_at == received + TARGET
    assert row.scenario == "general" and row.tier == "P3"
    assert row.enforced_by in ("connector", "both") and not row.after_hours
    assert row.first_response_at is None


def test_the_first_agent_reply_is_recorded_once(world):
    ticket_id = world.text("hello, I have a question about my account")
    world.later(30)
    world.agent_reply(ticket_id, "Hi! Which account?")
    first = ledger(world, ticket_id).first_response_at
    assert first is not None
    world.later(60)
    world.agent_reply(ticket_id, "Still there?")
    assert ledger(world, ticket_id).first_response_at == first


def test_an_escalation_is_recorded_once_with_how_late_it_was(world):
    ticket_id = world.text("hello, I have a question about my account")
    world.later(TARGET + 5)
    assert world.tick() == 1 and world.drain() == 1
    [event] = [e for e in events(world, ticket_id) if e.kind == "escalated"]
    assert event.rule == "first_response" and event.details["late_seconds"] >= 5
    # The job run again (a retry after a lost answer) records nothing more.
    world.runtime.handlers["escalate"](Job(
        id=0, kind="escalate", conversation_key=None,
        payload={"ticket_id": ticket_id, "rule": "first_response", "target": TARGET,
                 "since": world.clock.now(), "due_at": world.clock.now()},
        attempts=2, max_attempts=8, lease_token="t", lease_expires_at=time.time() + 60))
    assert len([e for e in events(world, ticket_id) if e.kind == "escalated"]) == 1


def test_solving_and_reopening_are_counted(world):
    import requests

    ticket_id = world.text("hello, I have a question about my account")
    url = (world.sandbox.zendesk_url if world.runtime.settings.helpdesk.kind == "zendesk"
           else world.sandbox.helpdesk_url)
    solved = "solved" if world.runtime.settings.helpdesk.kind == "zendesk" else 4
    requests.post(f"{url}/_sandbox/tickets/{ticket_id}/status", json={"status": solved},
                  timeout=10).raise_for_status()
    handle_ticket_state(world.runtime, Job(
        id=0, kind="ticket_state", conversation_key=None, payload={"ticket_id": ticket_id},
        attempts=1, max_attempts=8, lease_token="t", lease_expires_at=time.time() + 60))
    assert ledger(world, ticket_id).solved_at is not None
    world.later(60)
    assert world.text("one more thing, it still does not work") == ticket_id  # reopened
    row = ledger(world, ticket_id)
    assert row.reopens == 1 and row.solved_at is None

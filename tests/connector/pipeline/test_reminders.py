"""No customer response (connector/pipeline/reminders.py) on the Freshdesk stand-in, where the
coverage table gives the rule to the connector, on a hand-moved clock that starts on a Wednesday
at 10:00 in New York."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from connector.jobs.queue import Job
from connector.jobs.worker import Reschedule
from connector.model import TICKET_SOLVED
from connector.pipeline.agent_reply import handle_outbound
from connector.pipeline.escalation import ESCALATE_JOB
from connector.pipeline.outbox import queue_sms
from connector.pipeline.reminders import REMINDER_JOB, handle_reminder
from connector.pipeline.ticket_state import handle_ticket_state
from connector.store import outbound, reading
from connector.store.optouts import record_opt_out
from connector.store.sla import events_for
from connector.store.timers import get_timer
from tests.connector.pipeline.test_escalation import PHONE, World, make_world

DAY = 86_400.0
QUESTION = "hello, I have a question about my account"
WEDNESDAY_10_NY = datetime(2026, 12, 9, 15, 0, tzinfo=UTC).timestamp()


def start(tmp_path: Path, then: str = "solve") -> tuple[World, object]:
    world, sandbox = make_world(tmp_path, "freshdesk")
    if then != "solve":  # the pack with the other follow-up action
        source = Path(world.runtime.settings.policy.pack)
        path = source.with_name(f"pack-then-{then}.toml")
        path.write_text(re.sub(r'(?m)^then = "solve"', f'then = "{then}"', source.read_text()))
        world.runtime.close()
        sandbox.stop()
        world, sandbox = make_world(tmp_path, "freshdesk", extra={"policy": {"pack": str(path)}})
    world.later(WEDNESDAY_10_NY - world.clock.now())
    return world, sandbox


@pytest.fixture
def world(tmp_path):
    w, sandbox = start(tmp_path)
    yield w
    w.runtime.close()
    sandbox.stop()


def reminders_sent(world: World) -> list[str]:
    with reading(world.runtime.engine) as conn:
        return list(conn.execute(select(outbound.c.body).where(
            outbound.c.source == "reminder")).scalars())


def kinds(world: World, ticket_id: int) -> list[str]:
    with reading(world.runtime.engine) as conn:
        return [e.kind for e in events_for(conn, "freshdesk", ticket_id)]


def run_due(world: World) -> int:
    world.tick()
    return world.drain((REMINDER_JOB, ESCALATE_JOB))


def test_one_reminder_after_24_hours_then_the_ticket_is_solved(world):
    ticket_id = world.text(QUESTION)
    world.agent_reply(ticket_id, "Which account is it about?")
    world.later(DAY - 60)
    assert run_due(world) == 0 and reminders_sent(world) == []
    world.later(61)
    assert run_due(world) == 1
    assert reminders_sent(world) == [
        "Acme Support: just checking in - did our last reply help? Reply here if you still need "
        "anything."]
    [note] = [n for n in world.notes(ticket_id) if "No customer response" in n]
    assert note.startswith("[sms-connector] No customer response for 24 hours: reminder texted")
    assert "reminded" in kinds(world, ticket_id)

    world.later(DAY - 60)
    assert run_due(world) == 0
    world.later(61)
    assert run_due(world) == 1
    assert world.runtime.helpdesk.get_ticket(ticket_id).state == TICKET_SOLVED
    assert "auto_solved" in kinds(world, ticket_id)
    world.later(7 * DAY)  # once: nothing more, ever
    assert run_due(world) == 0 and len(reminders_sent(world)) == 1


def test_a_customer_who_answers_gets_no_reminder(world):
    ticket_id = world.text(QUESTION)
    world.agent_reply(ticket_id, "Which account is it about?")
    world.later(3600)
    assert world.text("the one ending in 42") == ticket_id
    world.later(2 * DAY)
    assert run_due(world) == 0 and reminders_sent(world) == []


def test_a_redelivered_reply_does_not_arm_a_second_reminder(world):
    ticket_id = world.text(QUESTION)
    world.agent_reply(ticket_id, "Which account is it about?")
    world.later(DAY + 1)
    run_due(world)
    handle_outbound(world.runtime, Job(  # the same reply's webhook, delivered again
        id=0, kind="outbound", conversation_key=None, payload={"ticket_id": ticket_id},
        attempts=1, max_attempts=8, lease_token="t", lease_expires_at=time.time() + 60))
    with reading(world.runtime.engine) as conn:
        timer = get_timer(conn, REMINDER_JOB, f"no_customer_response:{ticket_id}")
    assert timer is not None and timer.fired
    world.later(DAY - 120)  # the follow-up is due a day after the reminder, not a new reminder
    assert run_due(world) == 0 and len(reminders_sent(world)) == 1


def test_an_opted_out_customer_is_not_texted_but_the_agent_is_told(world):
    ticket_id = world.text(QUESTION)
    world.agent_reply(ticket_id, "Which account is it about?")
    with world.runtime.engine.begin() as conn:
        record_opt_out(conn, PHONE, world.runtime.settings.channels[0].key, source="test")
    world.later(DAY + 1)
    assert run_due(world) == 1
    assert reminders_sent(world) == []
    [note] = [n for n in world.notes(ticket_id) if "No customer response" in n]
    assert "no reminder texted (the customer opted out" in note


def test_at_night_where_the_customer_is_the_reminder_waits_for_8_am(world):
    ticket_id = world.text(QUESTION)
    world.later(12 * 3600)  # 22:00 in New York: the agent answers late
    world.agent_reply(ticket_id, "Which account is it about?")
    world.later(DAY + 1)
    world.tick()
    [job] = world.jobs((REMINDER_JOB,), status="ready")
    with pytest.raises(Reschedule) as waited:
        handle_reminder(world.runtime, job)
    assert waited.value.delay == pytest.approx(10 * 3600 - 1, abs=2)  # to 08:00 New York
    assert reminders_sent(world) == []


def test_a_new_agent_reply_starts_the_wait_over(world):
    ticket_id = world.text(QUESTION)
    world.agent_reply(ticket_id, "Which account is it about?")
    world.later(DAY + 1)
    run_due(world)
    world.later(3600)
    world.agent_reply(ticket_id, "Also: is it the business or the personal plan?")
    world.later(DAY - 60)
    assert run_due(world) == 0  # neither the follow-up of the first round nor a reminder yet
    world.later(61)
    assert run_due(world) == 1 and len(reminders_sent(world)) == 2
    assert world.runtime.helpdesk.get_ticket(ticket_id).state != TICKET_SOLVED


def test_then_escalate_escalates_with_the_rule(tmp_path):
    world, sandbox = start(tmp_path, then="escalate")
    try:
        ticket_id = world.text(QUESTION)
        world.agent_reply(ticket_id, "Which account is it about?")
        world.later(DAY + 1)
        run_due(world)
        world.later(DAY + 1)
        run_due(world)  # the follow-up arms the escalation, due now
        run_due(world)  # the scheduler fires it, the escalate job writes it
        ticket = world.runtime.helpdesk.get_ticket(ticket_id)
        assert {"sms_escalated", "sms_esc_no_customer_response"} <= set(ticket.tags)
        assert ticket.state != TICKET_SOLVED
    finally:
        world.runtime.close()
        sandbox.stop()


def solve_in_the_helpdesk(world: World, ticket_id: int, *, webhook: bool) -> None:
    requests.post(f"{world.sandbox.helpdesk_url}/_sandbox/tickets/{ticket_id}/status",
                  json={"status": 4}, timeout=10).raise_for_status()
    if webhook:  # the helpdesk tells the connector (the state job), else only the ticket knows
        handle_ticket_state(world.runtime, Job(
            id=0, kind="ticket_state", conversation_key=None, payload={"ticket_id": ticket_id},
            attempts=1, max_attempts=8, lease_token="t", lease_expires_at=time.time() + 60))


@pytest.mark.parametrize("webhook", [True, False], ids=["told", "webhook-lost"])
def test_a_solved_ticket_gets_no_reminder(world, webhook):
    ticket_id = world.text(QUESTION)
    world.agent_reply(ticket_id, "Which account is it about?")
    world.later(3600)
    solve_in_the_helpdesk(world, ticket_id, webhook=webhook)
    with reading(world.runtime.engine) as conn:
        timer = get_timer(conn, REMINDER_JOB, f"no_customer_response:{ticket_id}")
    assert (timer is None) is webhook  # told: cleared; not told: the job reads the ticket
    world.later(2 * DAY)
    run_due(world)
    assert reminders_sent(world) == [] and "reminded" not in kinds(world, ticket_id)
    assert not [n for n in world.notes(ticket_id) if "No customer response" in n]


def test_a_retried_reminder_job_texts_once_and_notes_once(world, monkeypatch):
    ticket_id = world.text(QUESTION)
    world.agent_reply(ticket_id, "Which account is it about?")
    world.later(DAY + 1)
    world.tick()
    [job] = world.jobs((REMINDER_JOB,), status="ready")
    real = world.runtime.helpdesk.add_private_note
    calls = []

    def flaky(ticket: int, text: str) -> None:  # the note fails once, after the text was queued
        calls.append(text)
        if len(calls) == 1:
            raise ConnectionError("helpdesk hiccup")
        real(ticket, text)

    monkeypatch.setattr(world.runtime.helpdesk, "add_private_note", flaky)
    with pytest.raises(ConnectionError):
        handle_reminder(world.runtime, job)
    with reading(world.runtime.engine) as conn:
        then = get_timer(conn, REMINDER_JOB, f"no_customer_response:then:{ticket_id}")
    assert then is not None
    world.later(12 * 3600)  # retried later, at 22:00 in New York: the round still finishes
    handle_reminder(world.runtime, job)
    handle_reminder(world.runtime, job)
    assert len(reminders_sent(world)) == 1
    assert len([n for n in world.notes(ticket_id) if "No customer response" in n]) == 1
    assert kinds(world, ticket_id).count("reminded") == 1
    with reading(world.runtime.engine) as conn:
        again = get_timer(conn, REMINDER_JOB, f"no_customer_response:then:{ticket_id}")
    assert again is not None and again.due_at == then.due_at  # the follow-up did not move


def test_a_reminder_right_after_another_automated_text_is_held_back_and_says_so(world):
    ticket_id = world.text(QUESTION)
    world.agent_reply(ticket_id, "Which account is it about?")
    world.later(DAY - 60)
    with world.runtime.engine.begin() as conn:  # an outage update reached the customer
        queue_sms(conn, source="outage", source_id="update-1", to_number=PHONE,
                  body="Acme Support: service is back.", channel=world.runtime.settings.channels[0],
                  now=world.clock.now())
    world.later(61)
    assert run_due(world) == 1
    with reading(world.runtime.engine) as conn:
        row = conn.execute(select(outbound.c.send_state, outbound.c.error_code).where(
            outbound.c.source == "reminder")).one()
    assert tuple(row) == ("suppressed", "interval")
    [note] = [n for n in world.notes(ticket_id) if "No customer response" in n]
    assert "no reminder texted (an automated text went to this customer moments ago)" in note


@pytest.mark.parametrize(("line", "bad", "error"), [
    ('then = "solve"', 'then = "close"', "escalation.then: Must be one of: solve, escalate"),
    ('then_after = "24h"', 'then_after = "soon"', "escalation.then_after: not a duration"),
    ('reminder = "{brand}: just', 'reminder = "{brand}: \u2603 just',
     "escalation.reminder: not GSM-7"),
    ('reminder = "{brand}: just', 'reminder = "{brand}: ' + "just " * 40,
     "escalation.reminder: renders to"),
])
def test_the_pack_s_reminder_settings_are_checked_and_errors_name_the_key(tmp_path, line, bad,
                                                                            error):
    from connector.errors import ConfigurationError
    from mappings import policy

    text = (Path(policy.__file__).parent / "default_policy.toml").read_text()
    assert line in text
    path = tmp_path / "pack.toml"
    path.write_text(text.replace(line, bad, 1))
    with pytest.raises(ConfigurationError, match=re.escape(error)):
        policy.load_policy(path)


def test_on_zendesk_too_the_reminder_is_the_connectors(tmp_path):
    """Zendesk's hourly automation could time 24 hours, but no automation sends a text: the
    shipped pack's reminder is the connector's on every helpdesk (mappings/coverage.py)."""
    world, sandbox = make_world(tmp_path, "zendesk")
    try:
        world.later(WEDNESDAY_10_NY - world.clock.now())
        ticket_id = world.text(QUESTION)
        world.agent_reply(ticket_id, "Which account is it about?")
        world.later(DAY + 1)
        assert run_due(world) == 1
        assert len(reminders_sent(world)) == 1
    finally:
        world.runtime.close()
        sandbox.stop()

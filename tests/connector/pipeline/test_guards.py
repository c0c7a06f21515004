"""Guards on automated texts (connector/pipeline/guards.py) through the inbound job, on the
Zendesk stand-in and a hand-moved clock."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import insert, select

from connector.pipeline.inbound import InboundRun
from connector.sandbox.stack import SUPPORT_NUMBER
from connector.store import conversations, messages, outbound, reading
from tests.connector.pipeline.test_escalation import PHONE, World, make_world


@pytest.fixture
def world(tmp_path):
    w, sandbox = make_world(tmp_path, "zendesk")
    yield w
    w.runtime.close()
    sandbox.stop()


def texts(world: World) -> list[tuple[str, str, str | None]]:
    """(source, send_state, error_code) of every outbound row, oldest first."""
    with reading(world.runtime.engine) as conn:
        rows = conn.execute(select(outbound.c.source, outbound.c.send_state,
                                   outbound.c.error_code).order_by(outbound.c.id)).all()
    return [tuple(r) for r in rows]


def close(world: World, ticket_id: int) -> None:
    requests.post(f"{world.sandbox.zendesk_url}/_sandbox/tickets/{ticket_id}/status",
                  json={"status": "closed"}, timeout=10).raise_for_status()


def test_a_second_acknowledgement_within_the_interval_is_held_back_and_says_so(world):
    first = world.text("hello, I have a question about my account")
    close(world, first)
    world.later(60)
    second = world.text("another question: are you open on sunday")
    assert second != first
    assert [t for t in texts(world) if t[0] == "ack"] == [
        ("ack", "intent", None), ("ack", "suppressed", "interval")]
    body = world.runtime.helpdesk.list_comments(second)[-1].body
    assert "No auto-reply texted" in body and "Auto-reply texted" not in body.replace("No a", "")

    close(world, second)
    world.later(300)  # the interval is over: acknowledged again
    world.text("and one more question")
    assert [t for t in texts(world) if t[0] == "ack"][-1] == ("ack", "intent", None)


def test_a_flooding_number_gets_no_automated_reply_and_its_ticket_is_tagged(world):
    now = world.clock.now()
    with world.runtime.engine.begin() as conn:
        conv = conn.execute(insert(conversations).values(
            customer_phone=PHONE, channel_key=SUPPORT_NUMBER, helpdesk="zendesk",
            created_at=now, updated_at=now)).inserted_primary_key[0]
        for n in range(11):  # a bot answering our number with its own auto-replies
            conn.execute(insert(messages).values(
                provider="twilio", provider_message_id=f"SMflood{n}", conversation_id=conv,
                channel_key=SUPPORT_NUMBER, from_number=PHONE, to_number=SUPPORT_NUMBER,
                body=f"AUTO-REPLY {n}: thank you for your message", media=[], raw={},
                received_at=now, state="pending"))
    InboundRun(world.runtime, int(conv)).run()
    with reading(world.runtime.engine) as conn:
        ticket_id = conn.execute(select(conversations.c.ticket_id)).scalar_one()
        delivered = conn.execute(select(messages.c.state)).scalars().all()
    assert set(delivered) == {"delivered"}  # every text reached the one ticket
    assert texts(world) == [("ack", "suppressed", "flood")]
    assert "sms_flood" in world.runtime.helpdesk.get_ticket(ticket_id).tags


def test_an_agent_reply_right_after_the_acknowledgement_is_never_held_back(world):
    """Only the connector's own texts are guarded (the ack, the reminder); an agent's reply,
    and the compliance answers to STOP / HELP (InboundRun._keywords), never pass here."""
    ticket_id = world.text("hello, I have a question about my account")
    world.agent_reply(ticket_id, "Hi! Which account?")
    world.agent_reply(ticket_id, "And which plan?")
    assert texts(world) == [("ack", "intent", None), ("agent_reply", "intent", None),
                            ("agent_reply", "intent", None)]


def test_stop_and_help_answers_right_after_an_acknowledgement_are_never_held_back(
        world, monkeypatch):
    """The compliance answers go whatever the guards say (the connector answers the keywords
    itself here, as with opt_out_handling = "connector")."""
    adapter = world.runtime.sms("twilio")
    monkeypatch.setattr(type(adapter), "answers_keywords", property(lambda self: False))
    world.text("hello, I have a question about my account")
    world.later(10)
    world.text("HELP")
    world.later(10)
    world.text("STOP")
    assert texts(world) == [("ack", "intent", None), ("help", "intent", None),
                            ("stop_confirmation", "intent", None)]

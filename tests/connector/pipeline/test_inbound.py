"""Reconciling an inbound write whose outcome was lost, against the in-process sandbox."""

from __future__ import annotations

import time

from sqlalchemy import insert, select, update

from connector.model import TicketUpdate
from connector.pipeline.inbound import InboundRun, compose, new_ticket
from connector.sandbox.stack import SUPPORT_NUMBER
from connector.store import conversations, messages

PHONE = "+12025550142"


def pending_message(runtime, text: str, sid: str) -> tuple[int, int]:
    now = time.time()
    with runtime.engine.begin() as conn:
        conv = conn.execute(select(conversations.c.id)).scalar()
        if conv is None:
            conv = conn.execute(insert(conversations).values(
                customer_phone=PHONE, channel_key=SUPPORT_NUMBER, helpdesk="zendesk",
                created_at=now, updated_at=now)).inserted_primary_key[0]
        msg = conn.execute(insert(messages).values(
            provider="twilio", provider_message_id=sid, conversation_id=conv,
            channel_key=SUPPORT_NUMBER, from_number=PHONE, to_number=SUPPORT_NUMBER, body=text,
            media=[], raw={}, received_at=now, state="pending")).inserted_primary_key[0]
    return int(conv), int(msg)


def sms_tickets(sandbox):
    import requests

    return requests.get(sandbox.zendesk_url + "/_sandbox/state", timeout=10).json()["tickets"]


def test_creation_lost_after_the_idempotency_key_expired_is_found_not_repeated(world):
    runtime, sandbox = world
    conv, msg = pending_message(runtime, "is the outage over?", "SM1")
    user = runtime.helpdesk.ensure_requester(PHONE)
    key = "k" * 32
    body = compose(["is the outage over?"])
    inflight = {"op": "create", "key": key, "at": time.time() - 3 * 3600, "message_ids": [msg],
                "requester_id": user.id, "subject": "SMS", "body": body, "uploads": [],
                "priority": "urgent", "tags": ["sms"], "follows": None, "follows_state": None,
                "category": "outage", "tier": "P1"}
    # The creation did land three hours ago; its answer was lost.
    ticket, _ = runtime.helpdesk.create_ticket(new_ticket(inflight))
    with runtime.engine.begin() as conn:
        conn.execute(update(conversations).values(inflight=inflight))
    calls_before = runtime.helpdesk.calls["create_ticket"]
    InboundRun(runtime, conv).run()
    assert runtime.helpdesk.calls["create_ticket"] == calls_before  # reconciled, not re-sent
    assert len(sms_tickets(sandbox)) == 1
    with runtime.engine.begin() as conn:
        row = conn.execute(select(conversations)).mappings().one()
        state = conn.execute(select(messages.c.state)).scalar_one()
    assert row["ticket_id"] == ticket.id and row["inflight"] is None and state == "delivered"


def test_creation_that_never_landed_is_made_once(world):
    runtime, sandbox = world
    conv, msg = pending_message(runtime, "hello", "SM2")
    user = runtime.helpdesk.ensure_requester(PHONE)
    inflight = {"op": "create", "key": "x" * 32, "at": time.time() - 3 * 3600,
                "message_ids": [msg], "requester_id": user.id, "subject": "SMS",
                "body": "hello", "uploads": [], "priority": "normal", "tags": ["sms"],
                "follows": None, "follows_state": None, "category": "general", "tier": "P3"}
    with runtime.engine.begin() as conn:
        conn.execute(update(conversations).values(inflight=inflight))
    InboundRun(runtime, conv).run()
    [ticket] = sms_tickets(sandbox)
    assert ticket["comments"][0]["body"].startswith("hello")


def test_update_whose_answer_was_lost_is_not_written_twice(world):
    runtime, sandbox = world
    conv, _ = pending_message(runtime, "first", "SM3")
    InboundRun(runtime, conv).run()
    [ticket] = sms_tickets(sandbox)
    _, msg = pending_message(runtime, "second", "SM4")
    with runtime.engine.begin() as conn:
        row = conn.execute(select(conversations)).mappings().one()
    # The PUT landed, the answer did not.
    runtime.helpdesk.update(ticket["id"], TicketUpdate(body="second",
                                                       author_id=row["requester_id"]))
    inflight = {"op": "update", "key": "u" * 32, "at": time.time(), "ticket_id": ticket["id"],
                "message_ids": [msg], "body": "second", "uploads": [], "reopen": False,
                "add_tags": [], "remove_tags": [], "requester_id": row["requester_id"],
                "stamp": row["ticket_updated_stamp"]}
    with runtime.engine.begin() as conn:
        conn.execute(update(conversations).values(inflight=inflight))
    InboundRun(runtime, conv).run()
    [ticket] = sms_tickets(sandbox)
    assert [c["body"] for c in ticket["comments"]].count("second") == 1


def test_compose_keeps_order_and_notes():
    assert compose(["a", " b ", ""], ["[note]"]) == "a\n\nb\n\n[note]"
    assert compose([]) == "(empty text)"

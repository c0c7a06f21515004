"""The send_sms job against the in-process sandbox Twilio: exactly once, even when the answer to
a send is lost."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import select, update

from connector.errors import TransientError
from connector.jobs.queue import Job, Queue
from connector.jobs.worker import Worker
from connector.model import OutboundSms
from connector.pipeline.outbox import queue_sms
from connector.pipeline.send import handle_send
from connector.sandbox.stack import SUPPORT_NUMBER
from connector.store import jobs, outbound

CUSTOMER = "+12025550142"


@pytest.fixture
def world(world, conversation):
    return world


def handset(sandbox, phone=CUSTOMER):
    state = requests.get(sandbox.twilio_url + "/_sandbox/state", timeout=10).json()
    return state["handsets"].get(phone, [])


def drain(runtime):
    worker = Worker(runtime.queue, {"send_sms": lambda job: handle_send(runtime, job)})
    while worker.run_once():
        pass


def queue_text(runtime, body="Your order shipped.", source_id="c1"):
    with runtime.engine.begin() as conn:
        return queue_sms(conn, source="agent_reply", source_id=source_id, to_number=CUSTOMER,
                         body=body, channel=runtime.settings.channels[0],
                         conversation_id=1)


def test_queued_twice_sent_once(world):
    runtime, sandbox = world
    assert queue_text(runtime) is not None
    assert queue_text(runtime) is None  # same comment id: the intent exists already
    drain(runtime)
    time.sleep(0.2)
    assert [m["body"] for m in handset(sandbox)] == ["Your order shipped."]


def test_lost_answer_is_reconciled_not_resent(world):
    runtime, sandbox = world
    outbound_id = queue_text(runtime)
    # The send went out but the connector never heard back: the row says "sending".
    runtime.sms("twilio").send(OutboundSms(to_number=CUSTOMER, body="Your order shipped.",
                                 from_number=SUPPORT_NUMBER))
    with runtime.engine.begin() as conn:
        conn.execute(update(outbound).values(send_state="sending", updated_at=time.time()))
    drain(runtime)
    time.sleep(0.2)
    assert len(handset(sandbox)) == 1
    with runtime.engine.begin() as conn:
        row = conn.execute(select(outbound).where(outbound.c.id == outbound_id)).mappings().one()
    assert row["send_state"] == "sent" and row["provider_message_id"].startswith("SM")


def test_sandbox_lists_messages_for_reconciliation(world):
    runtime, _sandbox = world
    runtime.sms("twilio").send(OutboundSms(to_number=CUSTOMER, body="one",
                                           from_number=SUPPORT_NUMBER))
    since = datetime.now(UTC) - timedelta(minutes=1)
    found = runtime.sms("twilio").find_sent(CUSTOMER, SUPPORT_NUMBER, since, "one")
    assert found is not None and found.provider_message_id.startswith("SM")
    assert runtime.sms("twilio").find_sent(CUSTOMER, SUPPORT_NUMBER, since, "two") is None


def test_rejected_number_is_final(world):
    runtime, _sandbox = world
    with runtime.engine.begin() as conn:
        outbound_id = queue_sms(conn, source="ack", source_id="x", to_number="+15005550001",
                                body="hi", channel=runtime.settings.channels[0])
    drain(runtime)
    with runtime.engine.begin() as conn:
        row = conn.execute(select(outbound).where(outbound.c.id == outbound_id)).mappings().one()
    assert row["send_state"] == "rejected" and row["error_code"] == "21211"
    assert runtime.queue.counts() == {"done": 1}


def test_transient_failure_keeps_the_intent(world, monkeypatch):
    runtime, sandbox = world
    queue_text(runtime)

    def boom(msg):
        raise TransientError("connection dropped")

    monkeypatch.setattr(runtime.sms("twilio"), "send", boom)
    worker = Worker(Queue(runtime.engine, backoff_base=0.01, backoff_max=0.01),
                    {"send_sms": lambda job: handle_send(runtime, job)})
    worker.run_once()
    with runtime.engine.begin() as conn:
        assert conn.execute(select(outbound.c.send_state)).scalar_one() == "sending"
    monkeypatch.undo()
    time.sleep(0.05)
    drain(runtime)
    time.sleep(0.2)
    assert len(handset(sandbox)) == 1


# Twilio's test credentials document +15005550008 as a From whose queue is full (21611).
QUEUE_FULL_FROM = "+15005550008"


def test_a_refusal_for_now_is_retried_with_backoff_not_noted_as_final(world):
    runtime, sandbox = world
    outbound_id = queue_text(runtime)
    with runtime.engine.begin() as conn:
        conn.execute(update(outbound).values(from_number=QUEUE_FULL_FROM))
    drain(runtime)
    with runtime.engine.begin() as conn:
        row = conn.execute(select(outbound).where(outbound.c.id == outbound_id)).mappings().one()
        [job] = conn.execute(select(jobs)).mappings().all()
    assert row["send_state"] == "intent" and not row["noted"] and row["error_code"] is None
    assert job["status"] == "ready" and job["attempts"] == 1 and "21611" in job["last_error"]
    assert job["run_at"] > time.time()  # the queue's backoff, not at once
    # The queue drains: the next attempt goes out, once.
    with runtime.engine.begin() as conn:
        conn.execute(update(outbound).values(from_number=SUPPORT_NUMBER))
        conn.execute(update(jobs).values(run_at=time.time()))
    drain(runtime)
    time.sleep(0.2)
    assert [m["body"] for m in handset(sandbox)] == ["Your order shipped."]
    assert runtime.queue.counts() == {"done": 1}


def test_a_refusal_for_now_on_the_last_attempt_is_final(world):
    runtime, _sandbox = world
    outbound_id = queue_text(runtime)
    with runtime.engine.begin() as conn:
        conn.execute(update(outbound).values(from_number=QUEUE_FULL_FROM))
    job = Job(id=1, kind="send_sms", conversation_key=None, payload={"outbound_id": outbound_id},
              attempts=8, max_attempts=8, lease_token="t", lease_expires_at=time.time() + 60)
    handle_send(runtime, job)
    with runtime.engine.begin() as conn:
        row = conn.execute(select(outbound).where(outbound.c.id == outbound_id)).mappings().one()
    assert row["send_state"] == "rejected" and row["error_code"] == "21611"


def test_a_stop_confirmation_refused_as_opted_out_says_the_providers_handling_is_on(
        world, caplog):
    runtime, _sandbox = world
    with runtime.engine.begin() as conn:
        # +15005550004: the test credentials' "unsubscribed recipient" (21610), as after the
        # provider's own STOP handling opted the customer out before our confirmation left.
        queue_sms(conn, source="stop_confirmation", source_id="m1", to_number="+15005550004",
                  body="Acme: you will get no further texts. Text START to resubscribe.",
                  channel=runtime.settings.channels[0], conversation_id=1)
    with caplog.at_level("WARNING", logger="sms_connector.send"):
        drain(runtime)
    [line] = [r.getMessage() for r in caplog.records if "STOP confirmation" in r.getMessage()]
    assert line.startswith("STOP confirmation refused as opted out: twilio's own opt-out "
                           "handling is on")
    assert 'twilio.opt_out_handling = "connector"' in line and "turn the provider's" in line
    assert [r.levelname for r in caplog.records if r.getMessage() == line] == ["WARNING"]


def test_a_lost_answer_is_found_however_the_provider_orders_its_list(world):
    # The provider lists by DateSent, and the text whose answer was lost is still queued (no
    # DateSent): it comes after a page of older, sent texts. Reconciling must not stop at the
    # first old text, or the customer gets it twice.
    runtime, sandbox = world
    sms = runtime.sms("twilio")
    for n in range(50):
        sms.send(OutboundSms(to_number=CUSTOMER, body=f"older {n}", from_number=SUPPORT_NUMBER))
    requests.post(sandbox.twilio_url + "/_sandbox/flush", json={"timeout": 10}, timeout=15)
    requests.post(sandbox.twilio_url + "/_sandbox/clock", json={"advance_seconds": 3600},
                  timeout=10)
    requests.post(sandbox.twilio_url + "/_sandbox/config", json={"hold_queue": True}, timeout=10)
    outbound_id = queue_text(runtime)
    sms.send(OutboundSms(to_number=CUSTOMER, body="Your order shipped.",
                         from_number=SUPPORT_NUMBER))  # went out; the answer never came back
    with runtime.engine.begin() as conn:
        conn.execute(update(outbound).values(send_state="sending", updated_at=time.time() + 3600))
    drain(runtime)
    requests.post(sandbox.twilio_url + "/_sandbox/config", json={"hold_queue": False}, timeout=10)
    requests.post(sandbox.twilio_url + "/_sandbox/flush", json={"timeout": 10}, timeout=15)
    bodies = [m["body"] for m in handset(sandbox)]
    assert bodies.count("Your order shipped.") == 1
    with runtime.engine.begin() as conn:
        row = conn.execute(select(outbound).where(outbound.c.id == outbound_id)).mappings().one()
    assert row["send_state"] == "sent" and row["provider_message_id"].startswith("SM")


def test_a_text_whose_receipt_named_it_is_not_searched_for_nor_sent_again(world, monkeypatch):
    runtime, _sandbox = world
    outbound_id = queue_text(runtime)
    with runtime.engine.begin() as conn:  # the first receipt tied the id; the answer was lost
        conn.execute(update(outbound).values(
            send_state="sending", provider_message_id="SM" + "1" * 32, status="sent"))

    def never(*_args, **_kwargs):
        raise AssertionError("neither searched for nor sent again")

    monkeypatch.setattr(runtime.sms("twilio"), "find_sent", never)
    monkeypatch.setattr(runtime.sms("twilio"), "send", never)
    drain(runtime)
    with runtime.engine.begin() as conn:
        row = conn.execute(select(outbound).where(outbound.c.id == outbound_id)).mappings().one()
    assert row["send_state"] == "sent" and row["status"] == "sent"
    assert runtime.queue.counts() == {"done": 1}

"""Reconciling an inbound write whose outcome was lost, against the in-process sandbox."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import insert, select, update

from connector.model import TicketUpdate
from connector.pipeline.inbound import InboundRun, compose, new_ticket, ticket_update
from connector.sandbox.stack import SUPPORT_NUMBER, ZENDESK_EMAIL, ZENDESK_TOKEN
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


# ---------------------------------------------------------------------- threading, in core words


def conversation_row(runtime) -> dict:
    with runtime.engine.begin() as conn:
        return dict(conn.execute(select(conversations)).mappings().one())


def move(sandbox, ticket_id: int, status: str) -> None:
    import requests

    requests.post(f"{sandbox.zendesk_url}/_sandbox/tickets/{ticket_id}/status",
                  json={"status": status}, timeout=10).raise_for_status()


def agent_note(sandbox, ticket_id: int) -> None:
    import requests

    requests.post(f"{sandbox.zendesk_url}/_sandbox/agent_reply", timeout=10, json={
        "ticket_id": ticket_id, "body": "looking into it", "public": False}).raise_for_status()


def advance(sandbox, seconds: float) -> None:
    """The stand-in's clock moves on (its versions are whole seconds)."""
    store = sandbox.zendesk.store
    clock = store.clock
    store.clock = lambda: clock() + seconds


def text(runtime, body: str, sid: str) -> int:
    conv, _ = pending_message(runtime, body, sid)
    InboundRun(runtime, conv).run()
    return conv


def test_first_text_files_a_ticket_and_remembers_its_state_and_version(world):
    runtime, sandbox = world
    text(runtime, "where is my order", "SM10")
    [ticket] = sms_tickets(sandbox)
    row = conversation_row(runtime)
    assert row["ticket_id"] == ticket["id"] and row["ticket_status"] == "new"
    assert row["ticket_updated_stamp"] == ticket["updated_at"]
    assert row["followup_source_id"] is None and row["inflight"] is None


def test_solved_ticket_is_reopened_within_the_window(world):
    runtime, sandbox = world
    text(runtime, "billing question", "SM11")
    [ticket] = sms_tickets(sandbox)
    move(sandbox, ticket["id"], "solved")
    with runtime.engine.begin() as conn:  # as the 409 re-read would have told it
        conn.execute(update(conversations).values(ticket_status="solved",
                                                  solved_at=time.time() - 60))
    text(runtime, "one more thing", "SM12")
    [ticket] = sms_tickets(sandbox)
    assert ticket["status"] == "open"
    assert ticket["comments"][-1]["body"] == "one more thing"
    assert conversation_row(runtime)["ticket_status"] == "open"


def test_solved_long_ago_gets_a_new_ticket_that_names_the_old_one(world):
    runtime, sandbox = world
    text(runtime, "billing question", "SM13")
    [old] = sms_tickets(sandbox)
    move(sandbox, old["id"], "solved")
    long_ago = time.time() - runtime.settings.threading.reopen_within - 60
    with runtime.engine.begin() as conn:
        conn.execute(update(conversations).values(ticket_status="solved", solved_at=long_ago))
    text(runtime, "different problem now", "SM14")
    old, new = sorted(sms_tickets(sandbox), key=lambda t: t["id"])
    assert old["status"] == "solved" and len(old["comments"]) == 1
    assert new["comments"][0]["body"].startswith("different problem now")
    assert f"[Earlier ticket from this customer: #{old['id']}]" in new["comments"][0]["body"]
    row = conversation_row(runtime)
    assert (row["ticket_id"], row["followup_source_id"]) == (new["id"], old["id"])


def test_closed_ticket_is_found_closed_and_followed_up(world):
    runtime, sandbox = world
    text(runtime, "billing question", "SM15")
    [old] = sms_tickets(sandbox)
    move(sandbox, old["id"], "closed")  # the conversation still thinks it is new
    text(runtime, "hello again", "SM16")
    old, new = sorted(sms_tickets(sandbox), key=lambda t: t["id"])
    assert new["via"]["source"]["from"]["ticket_id"] == old["id"]
    assert new["comments"][0]["body"].startswith("hello again")
    assert "Earlier ticket" not in new["comments"][0]["body"]
    row = conversation_row(runtime)
    assert (row["ticket_id"], row["followup_source_id"]) == (new["id"], old["id"])


def test_a_change_by_an_agent_since_the_last_write_is_read_again_not_overwritten(world):
    runtime, sandbox = world
    text(runtime, "my router is broken", "SM17")
    [ticket] = sms_tickets(sandbox)
    advance(sandbox, 2)
    move(sandbox, ticket["id"], "solved")  # the agent solved it meanwhile: a new version
    reads = runtime.helpdesk.calls["get_ticket"]
    text(runtime, "still broken", "SM18")
    assert runtime.helpdesk.calls["get_ticket"] == reads + 1  # refused, read again, decided again
    [ticket] = sms_tickets(sandbox)
    assert ticket["status"] == "open"  # solved just now: reopened
    assert [c["body"] for c in ticket["comments"]].count("still broken") == 1
    assert conversation_row(runtime)["ticket_updated_stamp"] == ticket["updated_at"]


def test_solved_within_the_same_second_as_the_last_write_is_reopened(world):
    runtime, sandbox = world
    text(runtime, "my router is broken", "SM19")
    [ticket] = sms_tickets(sandbox)
    frozen = float(int(time.time()))
    sandbox.zendesk.store.clock = lambda: frozen + 0.5  # every change shares one version
    agent_note(sandbox, ticket["id"])
    move(sandbox, ticket["id"], "solved")
    text(runtime, "still broken", "SM20")
    [ticket] = sms_tickets(sandbox)
    assert ticket["status"] == "open"
    assert ticket["comments"][-1]["body"] == "still broken"
    assert conversation_row(runtime)["ticket_status"] == "open"


def test_records_written_before_core_words_still_resume():
    created = {"op": "create", "key": "k", "at": 1.0, "requester_id": 7, "subject": "s",
               "body": "b", "uploads": [], "priority": "high", "tags": ["sms"],
               "followup_of": 41}
    new = new_ticket(created)
    assert (new.follows, new.follows_state, new.key, new.tags) == (41, "closed", "k", ("sms",))
    assert new.group is None  # records from before groups were carried
    assert new_ticket({**created, "group": "Billing"}).group == "Billing"
    updated = {"op": "update", "body": "b", "uploads": ["t"], "status": "open",
               "add_tags": ["x"], "remove_tags": [], "requester_id": 7, "stamp": "v1"}
    change = ticket_update(updated)
    assert (change.reopen, change.uploads, change.expected_version) == (True, ("t",), "v1")
    assert ticket_update({**updated, "status": None}).reopen is False


def test_the_policy_s_group_reaches_the_new_ticket_and_its_inflight_record(world):
    import dataclasses

    runtime, _ = world
    policy = runtime.policy
    runtime.policy = dataclasses.replace(policy, scenarios=tuple(
        dataclasses.replace(s, group=f"Team {s.id}") for s in policy.scenarios))
    asked = []
    create = runtime.helpdesk.create_ticket

    def spy(new):
        # Recorded before the call: a retry after a lost answer asks for the same group.
        asked.append((new, conversation_row(runtime)["inflight"]))
        return create(new)

    runtime.helpdesk.create_ticket = spy
    text(runtime, "where is my order", "SM30")
    [(new, inflight)] = asked
    category = conversation_row(runtime)["category"]
    assert new.group == inflight["group"] == f"Team {category}"
    assert new_ticket(inflight) == new


def test_a_pack_naming_no_group_files_tickets_without_one(world):
    runtime, _ = world
    assert all(s.group is None for s in runtime.policy.scenarios)  # the default pack
    asked = []
    create = runtime.helpdesk.create_ticket
    runtime.helpdesk.create_ticket = lambda new: asked.append(new) or create(new)
    text(runtime, "where is my order", "SM31")
    assert [n.group for n in asked] == [None]


def test_a_ticket_deleted_in_the_helpdesk_gets_a_new_one_and_the_conversation_goes_on(world):
    import requests

    runtime, sandbox = world
    text(runtime, "my router is broken", "SM21")
    [old] = sms_tickets(sandbox)
    # An agent deletes the ticket (spam clean-up, a mistake): Zendesk answers 404 from then on.
    requests.delete(f"{sandbox.zendesk_url}/api/v2/tickets/{old['id']}", timeout=10,
                    auth=(f"{ZENDESK_EMAIL}/token", ZENDESK_TOKEN)).raise_for_status()
    conv = text(runtime, "still broken", "SM22")
    [new] = sms_tickets(sandbox)
    assert new["id"] != old["id"]
    assert new["comments"][0]["body"].startswith("still broken")
    row = conversation_row(runtime)
    assert row["id"] == conv and row["ticket_id"] == new["id"] and row["inflight"] is None
    with runtime.engine.begin() as conn:
        states = conn.execute(select(messages.c.state).order_by(messages.c.id)).scalars().all()
    assert states == ["delivered", "delivered"]
    text(runtime, "and again", "SM23")  # later texts go on to the new ticket
    [new] = sms_tickets(sandbox)
    assert new["comments"][-1]["body"] == "and again"


def test_the_reopen_window_is_judged_on_the_runtime_clock_without_sleeping(tmp_path):
    """Days pass in a test: the runtime's clock and the stand-ins' clock move together."""
    from connector.clock import ManualClock
    from connector.config import settings_from_dict
    from connector.runtime import Runtime
    from connector.sandbox.runner import start_sandbox
    from connector.sandbox.stack import sandbox_config

    clock = ManualClock()
    with start_sandbox(zendesk_port=0, twilio_port=0) as sandbox:
        data = sandbox_config(sandbox, connector_url="http://127.0.0.1:9",
                              database_url=f"sqlite:///{tmp_path / 'c.db'}")
        runtime = Runtime(settings_from_dict(data), clock=clock)
        runtime.prepare_schema()
        window = runtime.settings.threading.reopen_within

        def days_pass(seconds: float) -> None:
            clock.advance(seconds)
            sandbox.clock.advance(seconds)

        try:
            text(runtime, "billing question", "SM40")
            [first] = sms_tickets(sandbox)
            move(sandbox, first["id"], "solved")
            days_pass(window - 3600)  # within the window: the same ticket reopens
            text(runtime, "one more thing", "SM41")
            [same] = sms_tickets(sandbox)
            assert same["status"] == "open" and same["comments"][-1]["body"] == "one more thing"

            days_pass(5)  # an agent solves it a few seconds later (stamps are whole seconds)
            move(sandbox, first["id"], "solved")
            days_pass(window + 3600)  # past the window: a new ticket naming the old one
            text(runtime, "a different problem", "SM42")
            old, new = sorted(sms_tickets(sandbox), key=lambda t: t["id"])
            assert old["status"] == "solved" and old["id"] == first["id"]
            assert new["comments"][0]["body"].startswith("a different problem")
            assert f"#{old['id']}" in new["comments"][0]["body"]
        finally:
            runtime.close()


def ack_rows(runtime) -> list[dict]:
    from connector.store import outbound

    with runtime.engine.begin() as conn:
        return [dict(r) for r in conn.execute(
            select(outbound).where(outbound.c.source == "ack")).mappings()]


def test_the_acknowledgement_goes_out_while_the_helpdesk_is_down_and_only_once(world):
    """A new customer hears back in seconds even when the helpdesk is down: the ack is queued
    before any helpdesk call, and the retries that follow queue it no second time."""
    from connector.errors import TransientError

    runtime, sandbox = world
    conv, _ = pending_message(runtime, "where is my order #4411", "SM40")
    sandbox.zendesk_controls.update({"down": True})
    for _ in range(2):
        with pytest.raises(TransientError):
            InboundRun(runtime, conv).run()
    [ack] = ack_rows(runtime)
    assert ack["ticket_id"] is None and "Acme Support" in ack["body"]
    sandbox.zendesk_controls.update({"down": False})
    InboundRun(runtime, conv).run()
    [ticket] = sms_tickets(sandbox)
    [ack] = ack_rows(runtime)
    assert ack["ticket_id"] == ticket["id"]
    assert "Auto-reply texted to the customer" in ticket["comments"][0]["body"]


def test_an_ack_that_failed_before_its_ticket_existed_is_noted_once_the_ticket_is(world):
    from connector.errors import TransientError
    from connector.pipeline.status import NOTE_JOB
    from connector.store import jobs, outbound

    runtime, sandbox = world
    conv, _ = pending_message(runtime, "my internet is down", "SM41")
    sandbox.zendesk_controls.update({"down": True})
    with pytest.raises(TransientError):  # the helpdesk is down: the job would be retried
        InboundRun(runtime, conv).run()
    with runtime.engine.begin() as conn:  # the carrier reports the ack undelivered meanwhile
        conn.execute(update(outbound).where(outbound.c.source == "ack")
                     .values(status="undelivered", error_code="30003"))
    sandbox.zendesk_controls.update({"down": False})
    InboundRun(runtime, conv).run()
    [ack] = ack_rows(runtime)
    with runtime.engine.begin() as conn:
        notes = conn.execute(select(jobs.c.payload).where(jobs.c.kind == NOTE_JOB)).all()
    assert [n.payload for n in notes] == [{"outbound_id": ack["id"]}]


def test_as_a_job_it_steps_aside_once_for_a_new_acknowledgement(world):
    """One worker thread runs jobs one by one: the inbound job yields (no attempt used) right
    after queueing a new customer's ack, so the send goes before the helpdesk calls."""
    from connector.jobs.queue import Job
    from connector.jobs.worker import Reschedule
    from connector.pipeline.inbound import handle_inbound

    runtime, sandbox = world
    conv, _ = pending_message(runtime, "where is my order #4411", "SM42")
    job = Job(id=1, kind="inbound", conversation_key=f"conv:{conv}",
              payload={"conversation_id": conv}, attempts=1, max_attempts=5, lease_token="t",
              lease_expires_at=time.time() + 60)
    calls = runtime.helpdesk.calls["total"]
    with pytest.raises(Reschedule) as stepped:
        handle_inbound(runtime, job)
    assert stepped.value.delay == 0 and runtime.helpdesk.calls["total"] == calls
    assert len(ack_rows(runtime)) == 1
    handle_inbound(runtime, job)  # again: the ack is there, the ticket is filed
    assert len(sms_tickets(sandbox)) == 1 and len(ack_rows(runtime)) == 1


def test_after_hours_the_queued_ack_promises_the_next_opening(tmp_path):
    """On the runtime clock at 3 a.m. on a Sunday (New York), a general question (counted in
    business hours) is promised Monday's opening, and the agent reads what was promised."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from connector.clock import ManualClock
    from connector.config import settings_from_dict
    from connector.runtime import Runtime
    from connector.sandbox.runner import start_sandbox
    from connector.sandbox.stack import sandbox_config

    sunday_3am = datetime(2026, 11, 29, 3, 0, tzinfo=ZoneInfo("America/New_York"))
    clock = ManualClock(sunday_3am.timestamp())
    with start_sandbox(zendesk_port=0, twilio_port=0) as sandbox:
        data = sandbox_config(sandbox, connector_url="http://127.0.0.1:9",
                              database_url=f"sqlite:///{tmp_path / 'c.db'}")
        runtime = Runtime(settings_from_dict(data), clock=clock)
        runtime.prepare_schema()
        try:
            text(runtime, "hello", "SM50")
            [ack] = ack_rows(runtime)
            assert ack["body"] == (
                "Acme Support: thanks for your message! Tell us a bit more about what you need "
                "and an agent will reply by Mon 9:00 AM (EST).")
            [ticket] = sms_tickets(sandbox)
            assert "reply by Mon 9:00 AM (EST)" in ticket["comments"][0]["body"]
        finally:
            runtime.close()

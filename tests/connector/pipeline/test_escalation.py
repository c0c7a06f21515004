"""The first-response timer and escalation against the in-process sandbox, on a hand-moved clock.

The runtime's ManualClock and the stand-ins' clock move together; the scheduler is ticked and
the worker drained by hand, so "90 seconds later" takes no time.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from connector.clock import ManualClock
from connector.config import settings_from_dict
from connector.errors import TransientError
from connector.jobs.queue import Job, enqueue
from connector.jobs.scheduler import Scheduler
from connector.model import PRIORITY_HIGH, TICKET_SOLVED
from connector.pipeline.agent_reply import handle_outbound
from connector.pipeline.escalation import (
    ALERT_JOB,
    ESCALATE_JOB,
    alert_body,
    handle_escalate,
    step_up,
)
from connector.pipeline.inbound import InboundRun
from connector.pipeline.ticket_state import handle_ticket_state
from connector.runtime import Runtime
from connector.sandbox.runner import start_sandbox
from connector.sandbox.stack import SUPPORT_NUMBER, sandbox_config
from connector.store import conversations, jobs, messages, reading
from connector.store.timers import get_timer
from mappings.business_time import business_due

PHONE = "+12025550142"
TARGET = 90.0


def pack(tmp_path: Path, *, first_response: str = "90s", business_hours: bool = False) -> str:
    """The default pack with every scenario's first response at ``first_response`` (90 s is no
    whole minute: no helpdesk SLA holds it, the connector does)."""
    from mappings import policy

    text = (Path(policy.__file__).parent / "default_policy.toml").read_text()
    text = re.sub(r'(?m)^first_response = "[^"]+"', f'first_response = "{first_response}"', text)
    text = re.sub(r"(?m)^business_hours = (true|false)",
                  f"business_hours = {'true' if business_hours else 'false'}", text)
    path = tmp_path / "pack.toml"
    path.write_text(text)
    return str(path)


class World:
    def __init__(self, runtime: Runtime, sandbox, clock: ManualClock) -> None:
        self.runtime, self.sandbox, self.clock = runtime, sandbox, clock
        self.scheduler = Scheduler(runtime.engine, enqueue, clock, holder_id="test",
                                   periodic={})
        self.sids = 0

    def later(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.sandbox.clock.advance(seconds)

    def text(self, body: str) -> int:
        """A customer's text filed as a ticket; returns the ticket id."""
        now = self.clock.now()
        self.sids += 1
        with self.runtime.engine.begin() as conn:
            conv = conn.execute(select(conversations.c.id)).scalar()
            if conv is None:
                conv = conn.execute(insert(conversations).values(
                    customer_phone=PHONE, channel_key=SUPPORT_NUMBER,
                    helpdesk=self.runtime.settings.helpdesk.kind, created_at=now,
                    updated_at=now)).inserted_primary_key[0]
            conn.execute(insert(messages).values(
                provider="twilio", provider_message_id=f"SM{self.sids}", conversation_id=conv,
                channel_key=SUPPORT_NUMBER, from_number=PHONE, to_number=SUPPORT_NUMBER,
                body=body, media=[], raw={}, received_at=now, state="pending"))
        InboundRun(self.runtime, int(conv)).run()
        with reading(self.runtime.engine) as conn:
            return int(conn.execute(select(conversations.c.ticket_id)).scalar_one())

    def tick(self) -> int:
        return self.scheduler.tick()

    def drain(self, kinds: tuple[str, ...] = (ESCALATE_JOB,)) -> int:
        """Run the queued jobs of ``kinds`` (the texts' send jobs are not this test's)."""
        ran = 0
        for job in self.jobs(kinds, status="ready"):
            self.runtime.handlers[job.kind](job)
            with self.runtime.engine.begin() as conn:
                conn.execute(jobs.update().where(jobs.c.id == job.id).values(status="done"))
            ran += 1
        return ran

    def jobs(self, kinds: tuple[str, ...], status: str | None = None) -> list[Job]:
        with reading(self.runtime.engine) as conn:
            query = select(jobs).where(jobs.c.kind.in_(kinds)).order_by(jobs.c.id)
            if status is not None:
                query = query.where(jobs.c.status == status)
            rows = conn.execute(query).mappings().all()
        return [Job(id=r["id"], kind=r["kind"], conversation_key=r["conversation_key"],
                    payload=dict(r["payload"]), attempts=1, max_attempts=8, lease_token="t",
                    lease_expires_at=time.time() + 60) for r in rows]

    def notes(self, ticket_id: int) -> list[str]:
        return [c.body for c in self.runtime.helpdesk.list_comments(ticket_id) if not c.public]

    def agent_reply(self, ticket_id: int, body: str = "Hi, we're on it") -> None:
        import requests

        url = (self.sandbox.zendesk_url if self.runtime.settings.helpdesk.kind == "zendesk"
               else self.sandbox.helpdesk_url)
        requests.post(url + "/_sandbox/agent_reply", timeout=10, json={
            "ticket_id": ticket_id, "body": body, "public": True}).raise_for_status()
        handle_outbound(self.runtime, Job(
            id=0, kind="outbound", conversation_key=None, payload={"ticket_id": ticket_id},
            attempts=1, max_attempts=8, lease_token="t", lease_expires_at=time.time() + 60))


def make_world(tmp_path: Path, helpdesk: str = "zendesk",
               extra: dict | None = None) -> tuple[World, object]:
    clock = ManualClock()
    if helpdesk == "zendesk":
        sandbox = start_sandbox(zendesk_port=0, twilio_port=0)
    else:
        sandbox = start_sandbox(helpdesk="freshdesk", helpdesk_port=0, twilio_port=0)
    data = sandbox_config(sandbox, connector_url="http://127.0.0.1:9",
                          database_url=f"sqlite:///{tmp_path / 'c.db'}",
                          extra={"policy": {"pack": pack(tmp_path)}, **(extra or {})})
    runtime = Runtime(settings_from_dict(data), clock=clock)
    runtime.prepare_schema()
    return World(runtime, sandbox, clock), sandbox


@pytest.fixture(params=["zendesk", "freshdesk"])
def world(request, tmp_path):
    w, sandbox = make_world(tmp_path, request.param)
    yield w
    w.runtime.close()
    sandbox.stop()


def escalated(world: World, ticket_id: int) -> bool:
    return "sms_escalated" in world.runtime.helpdesk.get_ticket(ticket_id).tags


# ---------------------------------------------------------------------- units


def test_priority_goes_one_step_up_and_stops_at_urgent():
    assert [step_up(p) for p in ("low", "normal", "high", "urgent", None)] == \
        ["normal", "high", "urgent", "urgent", "high"]


def test_the_alert_body_is_a_pagerduty_events_v2_trigger():
    body = alert_body("R0UT1NG", {"ticket_id": 7, "rule": "first_response", "scenario": "outage",
                                  "tier": "P1", "target": 300.0, "late_seconds": 2.5,
                                  "dedup_key": "sms-connector:first_response:7"})
    assert body["routing_key"] == "R0UT1NG" and body["event_action"] == "trigger"
    assert body["dedup_key"] == "sms-connector:first_response:7"
    payload = body["payload"]
    assert payload["severity"] == "critical" and payload["source"] == "sms-connector"
    assert "#7" in payload["summary"] and "5 minutes" in payload["summary"]
    assert payload["custom_details"] == {"ticket_id": 7, "scenario": "outage",
                                         "rule": "first_response", "late_seconds": 2.5}


# ---------------------------------------------------------------------- the flow


def test_an_unanswered_ticket_escalates_once_at_its_target(world):
    ticket_id = world.text("hello, I have a question about my account")
    before = world.runtime.helpdesk.get_ticket(ticket_id)
    timer = _timer(world, ticket_id)
    assert timer is not None and timer.payload["target"] == TARGET

    world.later(TARGET - 2)
    assert world.tick() == 0 and not escalated(world, ticket_id)
    world.later(3)
    assert world.tick() == 1
    assert world.drain() == 1

    ticket = world.runtime.helpdesk.get_ticket(ticket_id)
    assert {"sms_escalated", "sms_esc_first_response"} <= set(ticket.tags)
    assert ticket.priority == step_up(before.priority)
    [note] = [n for n in world.notes(ticket_id) if "Escalated" in n]
    assert note.startswith("[sms-connector] Escalated: first_response")
    assert "90 seconds" in note and "late" in note

    world.later(3600)  # fired once: nothing more, ever
    assert world.tick() == 0 and world.drain() == 0
    assert len([n for n in world.notes(ticket_id) if "Escalated" in n]) == 1


def test_a_retried_escalate_job_writes_nothing_twice(world):
    ticket_id = world.text("hello, I have a question about my account")
    world.later(TARGET + 1)
    world.tick()
    [job] = world.jobs((ESCALATE_JOB,))
    handle_escalate(world.runtime, job)
    after_first = world.runtime.helpdesk.get_ticket(ticket_id)
    handle_escalate(world.runtime, job)  # the worker died before acking: run again
    handle_escalate(world.runtime, job)
    again = world.runtime.helpdesk.get_ticket(ticket_id)
    assert again.priority == after_first.priority
    assert len([n for n in world.notes(ticket_id) if "Escalated" in n]) == 1


def test_only_the_note_is_written_when_the_tags_landed_without_it(world):
    """A helpdesk writing tags and note in two calls may have done only the first."""
    from connector.model import TicketUpdate

    ticket_id = world.text("hello, I have a question about my account")
    world.runtime.helpdesk.update(ticket_id, TicketUpdate(
        priority=PRIORITY_HIGH, add_tags=("sms_escalated", "sms_esc_first_response")))
    world.later(TARGET + 1)
    world.tick()
    world.drain()
    assert world.runtime.helpdesk.get_ticket(ticket_id).priority == PRIORITY_HIGH  # not urgent
    assert len([n for n in world.notes(ticket_id) if "Escalated" in n]) == 1


def test_answered_in_time_does_not_escalate(world):
    ticket_id = world.text("hello, I have a question about my account")
    world.later(30)
    world.agent_reply(ticket_id)
    assert _timer(world, ticket_id) is None
    world.later(TARGET)
    assert world.tick() == 0 and not escalated(world, ticket_id)


def test_a_reply_whose_webhook_was_lost_still_stops_the_escalation(world):
    import requests

    ticket_id = world.text("hello, I have a question about my account")
    world.later(30)
    url = (world.sandbox.zendesk_url if world.runtime.settings.helpdesk.kind == "zendesk"
           else world.sandbox.helpdesk_url)
    requests.post(url + "/_sandbox/agent_reply", timeout=10, json={
        "ticket_id": ticket_id, "body": "on it", "public": True}).raise_for_status()
    world.later(TARGET)
    assert world.tick() == 1
    world.drain()
    assert not escalated(world, ticket_id)


def test_a_solved_ticket_is_not_escalated(world):
    ticket_id = world.text("hello, I have a question about my account")
    if world.runtime.settings.helpdesk.kind == "zendesk":
        import requests

        requests.post(f"{world.sandbox.zendesk_url}/_sandbox/tickets/{ticket_id}/status",
                      json={"status": "solved"}, timeout=10).raise_for_status()
        handle_ticket_state(world.runtime, Job(
            id=0, kind="ticket_state", conversation_key=None, payload={"ticket_id": ticket_id},
            attempts=1, max_attempts=8, lease_token="t", lease_expires_at=time.time() + 60))
        assert world.runtime.helpdesk.get_ticket(ticket_id).state == TICKET_SOLVED
        assert _timer(world, ticket_id) is None  # the state job cancelled it
    world.later(TARGET + 1)
    world.tick()
    world.drain()
    if world.runtime.settings.helpdesk.kind == "zendesk":
        assert not escalated(world, ticket_id)


def test_a_target_the_helpdesk_enforces_sets_no_timer(tmp_path):
    """With the shipped pack, Zendesk's SLA policies hold every first response: no timer."""
    clock = ManualClock()
    with start_sandbox(zendesk_port=0, twilio_port=0) as sandbox:
        data = sandbox_config(sandbox, connector_url="http://127.0.0.1:9",
                              database_url=f"sqlite:///{tmp_path / 'c.db'}")
        runtime = Runtime(settings_from_dict(data), clock=clock)
        runtime.prepare_schema()
        try:
            w = World(runtime, sandbox, clock)
            ticket_id = w.text("hello, I have a question about my account")
            assert _timer(w, ticket_id) is None
        finally:
            runtime.close()


def test_business_hours_count_from_the_ticket_s_creation(tmp_path):
    clock = ManualClock()
    with start_sandbox(zendesk_port=0, twilio_port=0) as sandbox:
        data = sandbox_config(sandbox, connector_url="http://127.0.0.1:9",
                              database_url=f"sqlite:///{tmp_path / 'c.db'}",
                              extra={"policy": {"pack": pack(tmp_path, business_hours=True)}})
        runtime = Runtime(settings_from_dict(data), clock=clock)
        runtime.prepare_schema()
        try:
            w = World(runtime, sandbox, clock)
            created = clock.now()
            ticket_id = w.text("hello, I have a question about my account")
            timer = _timer(w, ticket_id)
            assert timer is not None and timer.payload["business_hours"] is True
            assert timer.due_at == business_due(runtime.policy.business_hours, created, TARGET)
        finally:
            runtime.close()


# ---------------------------------------------------------------------- the P1 alert


def test_a_p1_escalation_posts_one_alert_to_the_hook_and_retries_it(tmp_path):
    from tests.connector.sandbox.receiver import Receiver

    with Receiver(status=503, body="{}", content_type="application/json") as receiver:
        w, sandbox = make_world(tmp_path, extra={"escalation": {
            "alert_url": receiver.url + "/v2/enqueue", "alert_routing_key": "R0UT1NG"}})
        try:
            ticket_id = w.text("your service is down, outage, nothing works at all")
            timer = _timer(w, ticket_id)
            assert timer is not None and timer.payload["tier"] == "P1", timer.payload
            w.later(TARGET + 5)
            w.tick()
            [job] = w.jobs((ESCALATE_JOB,))
            handle_escalate(w.runtime, job)
            handle_escalate(w.runtime, job)  # retried: still one alert job
            # (an outage ticket opened after hours has paged on-call already: another rule)
            [alert] = [j for j in w.jobs((ALERT_JOB,)) if j.payload["rule"] == "first_response"]
            with pytest.raises(TransientError):  # the receiver is down: the job is retried
                w.runtime.handlers[ALERT_JOB](alert)
            receiver.status = 202
            w.runtime.handlers[ALERT_JOB](alert)
            posts = receiver.requests_to("/v2/enqueue")
            assert len(posts) == 2 and posts[0].body == posts[1].body
            posted = json.loads(posts[-1].body)
            assert posted["routing_key"] == "R0UT1NG" and posted["event_action"] == "trigger"
            assert posted["dedup_key"] == f"sms-connector:first_response:{ticket_id}"
            details = posted["payload"]["custom_details"]
            assert details["ticket_id"] == ticket_id and details["rule"] == "first_response"
            assert details["scenario"] == "outage" and details["late_seconds"] >= 5
        finally:
            w.runtime.close()
            sandbox.stop()


def test_a_lower_tier_escalation_posts_no_alert(tmp_path):
    w, sandbox = make_world(tmp_path, extra={"escalation": {"alert_url": "http://127.0.0.1:9/"}})
    try:
        ticket_id = w.text("hello, I have a question about my account")
        assert _timer(w, ticket_id).payload["tier"] != "P1"
        w.later(TARGET + 1)
        w.tick()
        w.drain()
        assert escalated(w, ticket_id) and w.jobs((ALERT_JOB,)) == []
    finally:
        w.runtime.close()
        sandbox.stop()


def _timer(world: World, ticket_id: int):
    with reading(world.runtime.engine) as conn:
        return get_timer(conn, ESCALATE_JOB, f"first_response:{ticket_id}")

"""Outage clusters against both helpdesks' stand-ins and the Twilio stand-in, on a hand-moved
clock: one report is "we are checking"; the third distinct number within the window files ONE
problem / tracker linking every report; a public update on it reaches every linked customer
but the opted-out, once each, paced; late reporters are linked and get the latest update;
solving the problem ends the outage. The clustering race runs on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from itertools import pairwise
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from sqlalchemy import insert, select

from connector.clock import ManualClock
from connector.config import settings_from_dict
from connector.jobs.queue import Job
from connector.jobs.queue import enqueue as enqueue_job
from connector.jobs.scheduler import Scheduler
from connector.pipeline import outage
from connector.pipeline.agent_reply import handle_outbound, knows_ticket
from connector.pipeline.inbound import InboundRun
from connector.runtime import Runtime
from connector.sandbox.runner import start_sandbox
from connector.sandbox.stack import SUPPORT_NUMBER, sandbox_config
from connector.store import conversations, jobs, messages, outbound, reading
from connector.store import outages as store
from connector.store.optouts import record_opt_out
from connector.store.sla import events_for
from connector.text.triage import triage
from mappings.policy import gsm7_septets, is_gsm7, load_policy
from tests.connector.pipeline.test_escalation import World, pack

WINDOW = 15 * 60


def phone(n: int) -> str:
    return f"+1202555{n:04d}"


class Outage:
    """The escalation tests' world with many customers, a job runner and the SMS handsets."""

    def __init__(self, world) -> None:
        self.world = world
        self.runtime, self.sandbox, self.clock = world.runtime, world.sandbox, world.clock
        self.kind = self.runtime.settings.helpdesk.kind
        self.sids = 0

    def text(self, number: str, body: str = "is your service down? nothing loads") -> int:
        now = self.clock.now()
        self.sids += 1
        with self.runtime.engine.begin() as conn:
            conv = conn.execute(select(conversations.c.id).where(
                conversations.c.customer_phone == number)).scalar()
            if conv is None:
                conv = conn.execute(insert(conversations).values(
                    customer_phone=number, channel_key=SUPPORT_NUMBER, helpdesk=self.kind,
                    created_at=now, updated_at=now)).inserted_primary_key[0]
            conn.execute(insert(messages).values(
                provider="twilio", provider_message_id=f"SM{self.sids}", conversation_id=conv,
                channel_key=SUPPORT_NUMBER, from_number=number, to_number=SUPPORT_NUMBER,
                body=body, media=[], raw={}, received_at=now, state="pending"))
        InboundRun(self.runtime, int(conv)).run()
        self.run()
        with reading(self.runtime.engine) as conn:
            return int(conn.execute(select(conversations.c.ticket_id).where(
                conversations.c.id == conv)).scalar_one())

    def run(self, *, wait: bool = True) -> int:
        """Run every job that is due, the clock moved on a second at a time for paced ones."""
        queue, ran = self.runtime.queue, 0
        for _ in range(500):
            job = queue.claim("test", kinds=self.runtime.handlers)
            if job is None:
                pending = queue.next_run_at()
                if not wait or pending is None:
                    return ran
                self.world.later(max(1.0, pending - self.clock.now()))
                continue
            self.runtime.handlers[job.kind](job)
            queue.ack(job)
            ran += 1
        raise AssertionError("jobs never ran out")

    def inbox(self, number: str) -> list[str]:
        """What the SMS provider accepted for ``number``, in order (its handset delivery runs
        on the stand-in's own thread, so the accepted messages are what a test can wait on)."""
        return [m["body"] for m in self.sandbox.twilio.state()["messages"]
                if m["to"] == number]

    def cluster(self):
        with reading(self.runtime.engine) as conn:
            return conn.execute(select(store.outage_clusters)
                                .order_by(store.outage_clusters.c.id)).mappings().all()

    def linked(self, problem_id: int) -> set[int]:
        """The tickets the helpdesk lists under the problem / tracker."""
        if self.kind == "zendesk":
            url = f"{self.sandbox.zendesk_url}/api/v2/tickets/{problem_id}/incidents"
            zd = self.runtime.settings.zendesk
            data = requests.get(url, auth=(f"{zd.email}/token", zd.api_token),
                                timeout=10).json()
            return {int(t["id"]) for t in data["tickets"]}
        raw = self.runtime.helpdesk.get_ticket(problem_id).raw
        assert raw["association_type"] == 3  # a tracker
        return {int(i) for i in raw["associated_tickets_list"]}

    def agent_update(self, problem_id: int, body: str) -> None:
        url = (self.sandbox.zendesk_url if self.kind == "zendesk" else self.sandbox.helpdesk_url)
        requests.post(url + "/_sandbox/agent_reply", timeout=10, json={
            "ticket_id": problem_id, "body": body, "public": True}).raise_for_status()
        self.webhook(problem_id)

    def webhook(self, problem_id: int) -> None:
        """The helpdesk's reply webhook for the problem, as the route queues it."""
        assert knows_ticket(self.runtime, problem_id)  # the webhook is not answered 404
        handle_outbound(self.runtime, Job(
            id=0, kind="outbound", conversation_key=None, payload={"ticket_id": problem_id},
            attempts=1, max_attempts=8, lease_token="t", lease_expires_at=time.time() + 60))

    def solve(self, ticket_id: int) -> None:
        url = (self.sandbox.zendesk_url if self.kind == "zendesk" else self.sandbox.helpdesk_url)
        status = "solved" if self.kind == "zendesk" else 4
        requests.post(f"{url}/_sandbox/tickets/{ticket_id}/status", json={"status": status},
                      timeout=10).raise_for_status()


def _world(tmp_path: Path, helpdesk: str):
    clock = ManualClock()
    if helpdesk == "zendesk":
        sandbox = start_sandbox(zendesk_port=0, twilio_port=0)
    else:
        sandbox = start_sandbox(helpdesk="freshdesk", helpdesk_port=0, twilio_port=0)
    # First responses an hour out: no incident's own escalation gets in this test's way.
    data = sandbox_config(sandbox, connector_url="http://127.0.0.1:9",
                          database_url=f"sqlite:///{tmp_path / 'c.db'}",
                          extra={"policy": {"pack": pack(tmp_path, first_response="1h")}})
    runtime = Runtime(settings_from_dict(data), clock=clock)
    runtime.prepare_schema()
    return Outage(World(runtime, sandbox, clock)), sandbox


@pytest.fixture(params=["zendesk", "freshdesk"])
def world(request, tmp_path):
    o, sandbox = _world(tmp_path, request.param)
    yield o
    o.runtime.close()
    sandbox.stop()


@pytest.fixture
def zendesk(tmp_path):
    o, sandbox = _world(tmp_path, "zendesk")
    yield o
    o.runtime.close()
    sandbox.stop()


# ---------------------------------------------------------------------- the pack


def test_not_a_service_outage_is_no_outage_report():
    policy = load_policy()
    for text in ("how much is the down payment on the 2 year plan?", "calm down, ok",
                 "my wifi router is down, all the lights are off"):
        assert outage.FLAG not in triage(text, policy).flags, text
    assert outage.FLAG in triage("is your service down? nothing loads", policy).flags


def test_both_outage_texts_are_one_gsm7_segment_and_say_different_things():
    policy = load_policy()
    checking = policy.render_ack("outage")
    confirmed = policy.render_script(outage.SCRIPT_ID, eta="30 minutes")
    for text in (checking, confirmed):
        assert is_gsm7(text) and gsm7_septets(text) <= 160, text
        assert "status.example.com" in text  # the fallback
    assert "checking" in checking and "aware" not in checking
    assert "outage" in confirmed and "30 minutes" in confirmed


# ---------------------------------------------------------------------- the flow


def test_one_report_is_acknowledged_as_checking_and_files_no_problem(world):
    ticket_id = world.text(phone(1))
    [ack] = world.inbox(phone(1))
    assert "checking" in ack
    assert world.cluster() == []
    with reading(world.runtime.engine) as conn:
        assert store.report(conn, world.kind, ticket_id) is not None
    # The same number again is no second reporter; another number two is not three.
    world.clock.advance(60)
    world.text(phone(2))
    assert world.cluster() == []


def test_twenty_customers_one_problem_one_update_to_all_but_the_opted_out(world):
    numbers = [phone(n) for n in range(1, 21)]
    tickets = []
    for number in numbers:
        tickets.append(world.text(number))
        world.world.later(20)  # 20 reports within 400 s, inside the 15-minute window
    [cluster] = world.cluster()
    problem_id = int(cluster["problem_id"])
    assert world.linked(problem_id) == set(tickets)
    problem = world.runtime.helpdesk.get_ticket(problem_id)
    if world.kind == "zendesk":
        assert problem.raw["type"] == "problem"

    script = outage.outage_script(world.runtime)
    for number in numbers:
        inbox = world.inbox(number)
        assert inbox.count(script) == 1, (number, inbox)  # the outage script, once
    # The first three were acknowledged before it was an outage: "we are checking".
    assert all("checking" in world.inbox(n)[0] for n in numbers[:3])
    assert all(world.inbox(n) == [script] for n in numbers[3:])

    # Escalated with rule "outage": due now, fired by the scheduler's next tick.
    scheduler = Scheduler(world.runtime.engine, enqueue_job, world.clock, holder_id="t",
                          periodic={})
    assert scheduler.tick() == 1  # the problem's; the reports' own are an hour out
    world.run()
    assert {"sms_escalated", "sms_esc_outage"} <= set(
        world.runtime.helpdesk.get_ticket(problem_id).tags)
    with reading(world.runtime.engine) as conn:
        for ticket_id in tickets:
            assert [e.rule for e in events_for(conn, world.kind, ticket_id)
                    if e.kind == "outage_linked"] == ["outage"]

    opted_out = numbers[6]
    with world.runtime.engine.begin() as conn:
        record_opt_out(conn, opted_out, SUPPORT_NUMBER, source="keyword")
    before = {n: len(world.inbox(n)) for n in numbers}
    update = "We found the fault in our network and expect service back by 3 PM."
    world.agent_update(problem_id, update)
    world.webhook(problem_id)  # a replayed webhook
    world.run()
    for number in numbers:
        new = world.inbox(number)[before[number]:]
        assert new == ([] if number == opted_out else [update]), number
    # Paced: the 19 texts were queued a second apart on the channel, never two at once.
    with reading(world.runtime.engine) as conn:
        rows = set(conn.execute(select(outbound.c.id).where(
            outbound.c.source == outage.SOURCE, outbound.c.source_id.like("%:c%"))).scalars())
        sends = conn.execute(select(jobs.c.payload, jobs.c.run_at).where(
            jobs.c.kind == "send_sms")).all()
    assert len(rows) == 19
    fanout = sorted(run for payload, run in sends if payload["outbound_id"] in rows)
    assert all(b - a >= 1.0 - 1e-6 for a, b in pairwise(fanout))
    assert fanout[-1] - fanout[0] >= 18.0


def test_a_late_reporter_is_linked_and_gets_the_latest_update(world):
    for n in (1, 2, 3):
        world.text(phone(n))
    [cluster] = world.cluster()
    problem_id = int(cluster["problem_id"])
    world.agent_update(problem_id, "Engineers are on site; next update at 2 PM.")
    world.run()
    world.world.later(1800)  # long after the window: the outage is still open
    late = world.text(phone(9), "anyone else have no internet? nothing works")
    assert late in world.linked(problem_id)
    assert world.inbox(phone(9)) == ["Engineers are on site; next update at 2 PM."]


def test_a_late_reporter_before_any_update_gets_the_outage_script(zendesk):
    for n in (1, 2, 3, 4):
        zendesk.text(phone(n))
    assert zendesk.inbox(phone(4)) == [outage.outage_script(zendesk.runtime)]
    fifth = zendesk.text(phone(5))
    [cluster] = zendesk.cluster()
    assert fifth in zendesk.linked(int(cluster["problem_id"]))
    assert zendesk.inbox(phone(5)) == [outage.outage_script(zendesk.runtime)]


def test_reports_spread_over_more_than_the_window_are_no_outage(zendesk):
    zendesk.text(phone(1))
    zendesk.world.later(WINDOW + 60)
    zendesk.text(phone(2))
    zendesk.world.later(60)
    zendesk.text(phone(3))
    assert zendesk.cluster() == []
    zendesk.world.later(60)
    zendesk.text(phone(4))  # 2, 3 and 4 within 15 minutes
    assert len(zendesk.cluster()) == 1


def test_solving_the_problem_ends_the_outage_and_reports_count_anew(world):
    for n in (1, 2, 3):
        world.text(phone(n))
    [first] = world.cluster()
    world.solve(int(first["problem_id"]))
    world.world.later(60)
    late = world.text(phone(4))
    assert late not in world.linked(int(first["problem_id"]))
    assert "checking" in world.inbox(phone(4))[0]
    clusters = world.cluster()
    assert len(clusters) == 1 and clusters[0]["closed_at"] is not None
    world.text(phone(5))
    world.text(phone(6))
    second = world.cluster()[-1]
    assert second["id"] != first["id"] and second["problem_id"] != first["problem_id"]
    assert world.linked(int(second["problem_id"])) >= {late}


# ---------------------------------------------------------------------- the race


def test_the_third_number_forms_the_cluster_once_when_workers_race(engine):
    """Reports 3 and 4 counted at the same moment by two workers: one cluster, both in it."""
    scenario = SimpleNamespace(id="outage", escalation=SimpleNamespace(
        distinct_numbers=3, window=float(WINDOW)))
    now = 1_000_000.0
    runtime = SimpleNamespace(
        engine=engine, clock=SimpleNamespace(now=lambda: now),
        settings=SimpleNamespace(helpdesk=SimpleNamespace(kind="zendesk"),
                                 queue=SimpleNamespace(max_attempts=8)))
    def record(*numbers: int) -> None:
        with engine.begin() as conn:
            for n in numbers:
                store.record_report(conn, helpdesk="zendesk", scenario="outage", ticket_id=n,
                                    conversation_id=n, phone=phone(n), channel_key="c",
                                    reported_at=now - 10, told_cluster_id=None)

    record(1, 2)
    for n in (1, 2):
        assert outage._cluster(runtime, scenario, n) is None  # not yet three
    record(3, 4)
    barrier = threading.Barrier(2)
    results: dict[int, int | None] = {}

    def report(ticket_id: int) -> None:
        barrier.wait()
        results[ticket_id] = outage._cluster(runtime, scenario, ticket_id)

    threads = [threading.Thread(target=report, args=(t,)) for t in (3, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with reading(engine) as conn:
        clusters = conn.execute(select(store.outage_clusters)).mappings().all()
        members = {r["ticket_id"] for r in store.reports_of(conn, clusters[0]["id"])}
        links = conn.execute(select(jobs).where(jobs.c.kind == outage.LINK_JOB)).all()
    assert len(clusters) == 1
    assert results[3] == results[4] == clusters[0]["id"]
    assert members == {1, 2, 3, 4}
    assert len(links) == 1  # one problem filing, coalesced

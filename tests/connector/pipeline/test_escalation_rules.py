"""The conversation rules (connector/pipeline/escalation_rules.py) against the in-process
sandbox on a hand-moved clock: status unknown, diagnostic loops, dispute, high value, the
after-hours page; and what escalating writes (owner group by name, a group the helpdesk lacks,
a minimum priority, one write however often the job runs).

The pack is the shipped one with owner groups for billing ("Billing") and technical
("Escalations"), both of which the Freshdesk stand-in seeds and the Zendesk one is given.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connector.clock import ManualClock
from connector.config import settings_from_dict
from connector.errors import ConfigurationError
from connector.model import PRIORITIES, PRIORITY_HIGH
from connector.pipeline.escalation import ALERT_JOB, ESCALATE_JOB, alert_body, handle_escalate
from connector.runtime import Runtime
from connector.sandbox.runner import start_sandbox
from connector.sandbox.stack import sandbox_config
from connector.store import reading, sla
from connector.store.timers import get_timer
from tests.connector.pipeline.test_escalation import PHONE, World

# A Monday, 15:00 in New York (the pack's business hours), and a Sunday, 03:00.
OPEN_HOURS = datetime(2026, 12, 7, 20, 0, tzinfo=UTC).timestamp()
AFTER_HOURS = datetime(2026, 12, 6, 8, 0, tzinfo=UTC).timestamp()

ORDER = "where is my order #48213? the tracking has not moved"
TECH = "my router keeps dropping the wifi connection, error light blinking"
DISPUTE = "I never authorized this charge, I will dispute it with my bank"


def rules_pack(tmp_path: Path, *, billing: str = "Billing", numbers: tuple[str, ...] = (),
               after: str = "30m") -> str:
    from mappings import policy

    text = (Path(policy.__file__).parent / "default_policy.toml").read_text()
    text = text.replace('trigger = "status_unknown"\nafter = "30m"',
                        f'trigger = "status_unknown"\nafter = "{after}"')
    text = text.replace('# group = "Billing"', f'group = "{billing}"')
    text = text.replace('# group = "Tech Support"', 'group = "Escalations"')
    listed = ", ".join(f'"{n}"' for n in numbers)
    text = re.sub(r"(?m)^numbers = \[\]", f"numbers = [{listed}]", text)
    path = tmp_path / "rules_pack.toml"
    path.write_text(text)
    return str(path)


def make(tmp_path: Path, helpdesk: str = "zendesk", *, start: float = OPEN_HOURS,
         extra: dict | None = None, **pack: object) -> World:
    clock = ManualClock(start)
    if helpdesk == "zendesk":
        sandbox = start_sandbox(zendesk_port=0, twilio_port=0)
        admin = sandbox.helpdesk.admin
        with sandbox.helpdesk.store.lock:
            for name in ("Billing", "Escalations"):
                admin.create_group({"group": {"name": name}})
    else:
        sandbox = start_sandbox(helpdesk="freshdesk", helpdesk_port=0, twilio_port=0)
    sandbox.clock.advance(start - sandbox.clock.now())  # the stand-in's time is the test's
    data = sandbox_config(sandbox, connector_url="http://127.0.0.1:9",
                          database_url=f"sqlite:///{tmp_path / 'c.db'}",
                          extra={"policy": {"pack": rules_pack(tmp_path, **pack)},  # type: ignore[arg-type]
                                 **(extra or {})})
    runtime = Runtime(settings_from_dict(data), clock=clock)
    runtime.prepare_schema()
    return World(runtime, sandbox, clock)


@pytest.fixture(params=["zendesk", "freshdesk"])
def world(request, tmp_path):
    w = make(tmp_path, request.param)
    yield w
    w.runtime.close()
    w.sandbox.stop()


@pytest.fixture
def zendesk(tmp_path):
    w = make(tmp_path)
    yield w
    w.runtime.close()
    w.sandbox.stop()


def notes(world: World, ticket_id: int, rule: str) -> list[str]:
    return [n for n in world.notes(ticket_id) if n.startswith(f"[sms-connector] Escalated: {rule}")]


def group_of(world: World, ticket_id: int) -> str | None:
    """The ticket's group by name (the adapter's cache of the account's groups)."""
    gid = world.runtime.helpdesk.get_ticket(ticket_id).raw.get("group_id")
    names = {v: k for k, v in world.runtime.helpdesk._groups.items()}  # type: ignore[attr-defined]
    return names.get(gid)


def escalations(world: World, rule: str) -> int:
    with reading(world.runtime.engine) as conn:
        return sla.count_events(conn, "escalated", rule)


def timer(world: World, rule: str, ticket_id: int):
    with reading(world.runtime.engine) as conn:
        return get_timer(conn, ESCALATE_JOB, f"{rule}:{ticket_id}")


def run_due(world: World) -> int:
    world.tick()
    return world.drain()


# ---------------------------------------------------------------------- status unknown


def test_status_unknown_escalates_once_30_minutes_after_the_acknowledgement(world):
    ticket_id = world.text(ORDER)
    armed = timer(world, "status_unknown", ticket_id)
    assert armed is not None and armed.payload["target"] == 1800.0
    world.later(1800 - 5)
    run_due(world)
    assert notes(world, ticket_id, "status_unknown") == []
    world.later(10)
    run_due(world)
    [note] = notes(world, ticket_id, "status_unknown")
    assert "no agent update within 30 minutes of the acknowledgement" in note
    assert "late" in note
    assert "sms_esc_status_unknown" in world.runtime.helpdesk.get_ticket(ticket_id).tags
    world.later(3600)
    assert run_due(world) == 0
    assert escalations(world, "status_unknown") == 1


def test_status_unknown_does_not_fire_when_an_agent_updates_in_time(world):
    ticket_id = world.text(ORDER)
    world.later(600)
    world.agent_reply(ticket_id, "Your order ships today.")
    assert timer(world, "status_unknown", ticket_id) is None
    world.later(3600)
    run_due(world)
    assert notes(world, ticket_id, "status_unknown") == []


# ---------------------------------------------------------------------- diagnostic loops


def test_the_second_diagnostic_loop_escalates_to_the_owner_group_once(world):
    ticket_id = world.text(TECH)
    world.later(60)
    world.agent_reply(ticket_id, "Does it happen on every device, or only one?")
    world.agent_reply(ticket_id, "Does it happen on every device, or only one?")  # redelivered
    world.later(60)
    world.text("only on my laptop")
    world.later(60)
    assert run_due(world) == 0  # one loop: within the pack's max_loops = 2
    world.agent_reply(ticket_id, "Have you restarted the router since?")
    world.later(60)
    world.text("yes, twice, still the same")
    with reading(world.runtime.engine) as conn:
        loops = sla.events_for(conn, world.runtime.settings.helpdesk.kind, ticket_id, "loop")
    assert len(loops) == 2
    assert run_due(world) == 1
    [note] = notes(world, ticket_id, "diagnostic_loops")
    assert "2 diagnostic loops without a fix" in note and "Owner group: Escalations." in note
    assert group_of(world, ticket_id) == "escalations"
    world.text("hello?? anyone")  # no open question: no third loop, nothing more
    world.later(60)
    assert run_due(world) == 0
    assert escalations(world, "diagnostic_loops") == 1


def test_an_agent_statement_is_no_loop(zendesk):
    ticket_id = zendesk.text(TECH)
    for _ in range(3):
        zendesk.agent_reply(ticket_id, "We are looking into it.")
        zendesk.text("ok thanks")
    assert run_due(zendesk) == 0
    assert notes(zendesk, ticket_id, "diagnostic_loops") == []


# ---------------------------------------------------------------------- dispute


def test_dispute_language_in_a_later_text_escalates_at_once_to_billing(world):
    ticket_id = world.text(ORDER)
    before = world.runtime.helpdesk.get_ticket(ticket_id).priority
    assert run_due(world) == 0
    world.later(30)
    world.text(DISPUTE)
    assert run_due(world) == 1
    ticket = world.runtime.helpdesk.get_ticket(ticket_id)
    assert {"sms_escalated", "sms_esc_dispute"} <= set(ticket.tags)
    assert PRIORITIES.index(ticket.priority) >= max(PRIORITIES.index(PRIORITY_HIGH),
                                                    PRIORITIES.index(before or "normal") + 1)
    assert group_of(world, ticket_id) == "billing"
    [note] = notes(world, ticket_id, "dispute")
    assert "dispute language in a text" in note and "Owner group: Billing." in note
    world.text("this is fraud, chargeback now")  # once per ticket
    assert run_due(world) == 0
    assert len(notes(world, ticket_id, "dispute")) == 1 and escalations(world, "dispute") == 1


def test_dispute_in_the_first_text_and_a_retried_job_writes_once(zendesk):
    ticket_id = zendesk.text(DISPUTE)
    zendesk.tick()
    [job] = zendesk.jobs((ESCALATE_JOB,))
    for _ in range(3):  # the worker died before acking: run again
        handle_escalate(zendesk.runtime, job)
    ticket = zendesk.runtime.helpdesk.get_ticket(ticket_id)
    assert ticket.priority == "urgent"  # the billing tier's high, one step up
    assert len(notes(zendesk, ticket_id, "dispute")) == 1
    assert escalations(zendesk, "dispute") == 1


def test_an_unknown_owner_group_still_escalates_and_says_so(tmp_path):
    w = make(tmp_path, "freshdesk", billing="Money People")
    try:
        ticket_id = w.text(DISPUTE)
        assert run_due(w) == 1
        ticket = w.runtime.helpdesk.get_ticket(ticket_id)
        assert "sms_esc_dispute" in ticket.tags and ticket.priority == "urgent"
        [note] = notes(w, ticket_id, "dispute")
        assert "Owner group 'Money People' was not found" in note
    finally:
        w.runtime.close()
        w.sandbox.stop()


def test_no_dispute_no_escalation(zendesk):
    ticket_id = zendesk.text("my bill looks higher than usual this month")
    zendesk.text("can you explain the new fee")
    assert run_due(zendesk) == 0 and notes(zendesk, ticket_id, "dispute") == []


# ---------------------------------------------------------------------- high value


def test_a_high_value_number_escalates_at_once(tmp_path):
    w = make(tmp_path, numbers=(PHONE,))
    try:
        ticket_id = w.text("hello, quick question about my account")
        assert run_due(w) == 1
        ticket = w.runtime.helpdesk.get_ticket(ticket_id)
        assert "sms_esc_high_value" in ticket.tags
        assert PRIORITIES.index(ticket.priority) >= PRIORITIES.index(PRIORITY_HIGH)
        assert group_of(w, ticket_id) == "billing"
        w.text("one more thing")
        assert run_due(w) == 0 and escalations(w, "high_value") == 1
    finally:
        w.runtime.close()
        w.sandbox.stop()


def test_high_value_numbers_are_validated(tmp_path):
    from mappings.policy import load_policy

    text = Path(rules_pack(tmp_path)).read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(re.sub(r"(?m)^numbers = \[\]", 'numbers = ["555-0100"]', text))
    with pytest.raises(ConfigurationError, match=r"flags.high_value.numbers"):
        load_policy(bad)


# ---------------------------------------------------------------------- after hours


@pytest.mark.parametrize("start, paged", [(AFTER_HOURS, True), (OPEN_HOURS, False)])
def test_a_p1_opened_after_hours_pages_on_call_at_once(tmp_path, start, paged):
    w = make(tmp_path, start=start, extra={"escalation": {"alert_url": "http://127.0.0.1:9/"}})
    try:
        ticket_id = w.text("your service is down, outage, nothing works at all")
        alerts = w.jobs((ALERT_JOB,))
        assert len(alerts) == (1 if paged else 0)
        with reading(w.runtime.engine) as conn:
            pages = sla.events_for(conn, w.runtime.settings.helpdesk.kind, ticket_id, "paged")
        assert len(pages) == (1 if paged else 0)
        if paged:
            payload = alerts[0].payload
            assert payload["rule"] == "after_hours" and payload["tier"] == "P1"
            body = alert_body("R", payload)
            assert "after business hours" in body["payload"]["summary"]
            assert body["dedup_key"] == f"sms-connector:after_hours:{ticket_id}"
    finally:
        w.runtime.close()
        w.sandbox.stop()


def test_a_lower_tier_after_hours_pages_nobody(tmp_path):
    w = make(tmp_path, start=AFTER_HOURS,
             extra={"escalation": {"alert_url": "http://127.0.0.1:9/"}})
    try:
        w.text(ORDER)
        assert w.jobs((ALERT_JOB,)) == []
    finally:
        w.runtime.close()
        w.sandbox.stop()


def test_the_helpdesk_keeps_what_it_enforces(tmp_path):
    """A status_unknown of whole hours is a Zendesk automation (coverage table): no connector
    timer, so it is never enforced twice."""
    w = make(tmp_path, after="2h")
    try:
        ticket_id = w.text(ORDER)
        assert timer(w, "status_unknown", ticket_id) is None
    finally:
        w.runtime.close()
        w.sandbox.stop()

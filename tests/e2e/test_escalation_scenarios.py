"""Issue 13's per-scenario escalations end to end: ``sms-connector serve`` in its own process,
the stand-ins over real HTTP, and a shared clock moved by the test (``shift_clock``: the
connector's processes and the stand-ins jump together), so "20 minutes later" takes a second.

The clock starts on a Wednesday at 10:00 in the pack's zone, so the scenarios counted in
business hours count the same minutes as the others. ``[escalation] tick = "1s"``.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from connector.cli import cli
from connector.sandbox.runner import agent_reply, send_text
from connector.sandbox.stack import SUPPORT_NUMBER, environment

from .connector_process import Stack, connector_stack, wait_for

pytestmark = pytest.mark.slow

ZONE = ZoneInfo("America/New_York")  # the default pack's business hours
SETTLE = 2.5  # seconds of real time: two ticks of the scheduler and the escalate job

# scenario → (a text triaged into it, its first-response target in minutes: the default pack)
SCENARIOS = {
    "outage": ("your service is down for everyone, outage?", 5),
    "general": ("hi what are your store hours on saturday", 10),
    "order": ("where is my order 12345, it has not arrived", 10),
    "technical": ("the app keeps crashing when I log in, error 500", 15),
    "billing": ("I was charged twice on my invoice this month", 20),
}


def wednesday_ten(now: float) -> float:
    """Seconds from ``now`` to the next Wednesday 10:00 in the pack's zone."""
    local = datetime.fromtimestamp(now, ZONE)
    day = local.date() + timedelta(days=(2 - local.weekday()) % 7 or 7)
    return datetime(day.year, day.month, day.day, 10, 0, tzinfo=ZONE).timestamp() - now


def phone(scenario: str, answered: bool) -> str:
    return f"+1202555{list(SCENARIOS).index(scenario) * 2 + answered + 300:04d}"


def tickets_by_phone(stack: Stack) -> dict[str, dict]:
    found = {}
    for ticket in stack.sms_tickets():
        for scenario in SCENARIOS:
            for answered in (False, True):
                if phone(scenario, answered) in ticket["subject"]:
                    found[phone(scenario, answered)] = ticket
    return found


def escalated(stack: Stack) -> dict[str, list[str]]:
    """Phone → the escalation notes on its ticket (private, written by the connector)."""
    return {number: [c["body"] for c in ticket["comments"] if not c["public"]
                     and c["body"].startswith("[sms-connector] Escalated: first_response")]
            for number, ticket in tickets_by_phone(stack).items()}


@pytest.fixture(scope="module")
def freshdesk_stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scenarios")
    extra = {"escalation": {"tick": "1s"}}
    with connector_stack(tmp, helpdesk="freshdesk", extra=extra, shift_clock=True) as stack:
        applied = CliRunner().invoke(cli, ["policy", "apply"], env=environment(stack.config),
                                     catch_exceptions=False)
        assert applied.exit_code == 0, applied.output  # the reply rule: agent replies reach us
        stack.advance(wednesday_ten(stack.clock.now()))
        yield stack


def test_each_scenario_escalates_once_at_its_minute_unless_answered(freshdesk_stack):
    """On Freshdesk the coverage table gives every first-response target to the connector (the
    shipped pack names no owner groups, so no Freshdesk SLA policy can hold them)."""
    stack = freshdesk_stack
    for scenario, (text, _minutes) in SCENARIOS.items():
        for answered in (False, True):
            send_text(stack.sandbox.twilio_url, phone(scenario, answered), text,
                      to_number=SUPPORT_NUMBER)
    tickets = wait_for(lambda: (found := tickets_by_phone(stack)) and len(found) == 10 and found,
                       timeout=30)
    stack.advance(120)  # two minutes in, every scenario's second customer is answered
    for scenario in SCENARIOS:
        agent_reply(stack.sandbox.helpdesk_url, tickets[phone(scenario, True)]["id"],
                    "Hi, looking into it now.")
    wait_for(lambda: all(len(stack.handset(phone(s, True))) >= 2 for s in SCENARIOS))

    elapsed = 120.0
    fired: set[str] = set()
    for minutes in sorted({m for _, m in SCENARIOS.values()}):
        stack.advance(minutes * 60 - 30 - elapsed)  # half a minute before: nothing new
        elapsed = minutes * 60 - 30
        time.sleep(SETTLE)
        notes = escalated(stack)
        assert {n for n, found in notes.items() if found} == fired, f"before minute {minutes}"
        stack.advance(35)  # five seconds past the target
        elapsed += 35
        due = {phone(s, False) for s, (_, m) in SCENARIOS.items() if m == minutes}
        fired |= due
        wait_for(lambda expected=frozenset(fired): {
            n for n, found in escalated(stack).items() if found} == expected,
                 timeout=10)

    stack.advance(3600)  # an hour later: still one note each, and none on the answered
    time.sleep(SETTLE)
    notes = escalated(stack)
    for scenario, (_, minutes) in SCENARIOS.items():
        assert len(notes[phone(scenario, False)]) == 1, scenario
        assert f"{minutes} minutes" in notes[phone(scenario, False)][0], scenario
        assert notes[phone(scenario, True)] == [], scenario
    for number in (phone(s, False) for s in SCENARIOS):
        ticket = tickets_by_phone(stack)[number]
        assert {"sms_escalated", "sms_esc_first_response"} <= set(ticket["tags"])

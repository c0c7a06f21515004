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
SETTLE = 1.5  # seconds of real time: a tick of the scheduler (1 s) and the escalate job

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


# ---------------------------------------------------------------------- the scenarios' own rules


def notes_of(stack: Stack, number: str, rule: str) -> list[str]:
    ticket = tickets_by_phone_any(stack).get(number)
    if ticket is None:
        return []
    return [c["body"] for c in ticket["comments"] if not c["public"]
            and c["body"].startswith(f"[sms-connector] Escalated: {rule}")]


def tickets_by_phone_any(stack: Stack) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for ticket in stack.sms_tickets():
        number = ticket["subject"].split("SMS from ", 1)[-1].split(":", 1)[0]
        found.setdefault(number, ticket)
    return found


def text_and_ticket(stack: Stack, number: str, body: str) -> dict:
    send_text(stack.sandbox.twilio_url, number, body, to_number=SUPPORT_NUMBER)
    return wait_for(lambda: tickets_by_phone_any(stack).get(number), timeout=20)


def customer_texts(stack: Stack, number: str, body: str, comments_before: int) -> None:
    send_text(stack.sandbox.twilio_url, number, body, to_number=SUPPORT_NUMBER)
    wait_for(lambda: len(tickets_by_phone_any(stack)[number]["comments"]) > comments_before)


@pytest.fixture(scope="module")
def zendesk_stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rules")
    with connector_stack(tmp, extra={"escalation": {"tick": "1s"}}, shift_clock=True) as stack:
        applied = CliRunner().invoke(cli, ["policy", "apply"], env=environment(stack.config),
                                     catch_exceptions=False)
        assert applied.exit_code == 0, applied.output
        stack.advance(wednesday_ten(stack.clock.now()))
        yield stack


def test_an_order_without_an_agent_update_escalates_at_30_minutes(zendesk_stack):
    """Order / status: no agent update within 30 minutes of the acknowledgement (the
    connector's rule on Zendesk too: its automations run hourly)."""
    stack = zendesk_stack
    silent, updated = "+12025550401", "+12025550402"
    text_and_ticket(stack, silent, "where is my order 55120, it has not arrived")
    answered = text_and_ticket(stack, updated, "where is my order 55121, still not here")
    stack.advance(10 * 60)
    agent_reply(stack.sandbox.helpdesk_url, answered["id"], "It ships today, tracking follows.")
    stack.advance(19 * 60 + 30)  # 29.5 minutes in
    time.sleep(SETTLE)
    assert notes_of(stack, silent, "status_unknown") == []
    stack.advance(35)
    wait_for(lambda: notes_of(stack, silent, "status_unknown"), timeout=10)
    stack.advance(3600)
    time.sleep(SETTLE)
    assert len(notes_of(stack, silent, "status_unknown")) == 1
    assert "sms_esc_status_unknown" in tickets_by_phone_any(stack)[silent]["tags"]
    assert notes_of(stack, updated, "status_unknown") == []


def test_the_second_diagnostic_loop_without_a_fix_escalates_once(zendesk_stack):
    """Technical: an agent's question answered by the customer is a loop; the second one that
    does not solve it escalates to the owner group."""
    stack = zendesk_stack
    looping, once = "+12025550403", "+12025550404"
    tickets = {n: text_and_ticket(stack, n, "the app keeps crashing when I log in, error 500")
               for n in (looping, once)}

    def loop(number: str, question: str, answer: str) -> None:
        before = len(tickets_by_phone_any(stack)[number]["comments"])
        agent_reply(stack.sandbox.helpdesk_url, tickets[number]["id"], question)
        wait_for(lambda: len(tickets_by_phone_any(stack)[number]["comments"]) > before)
        stack.advance(60)
        customer_texts(stack, number, answer, before + 1)

    loop(looping, "Which version of the app do you have?", "version 4.2")
    loop(once, "Which version of the app do you have?", "version 4.1")
    time.sleep(SETTLE)
    assert notes_of(stack, looping, "diagnostic_loops") == []  # one loop: not yet
    loop(looping, "Could you reinstall it and try again?", "did that, still crashing")
    wait_for(lambda: notes_of(stack, looping, "diagnostic_loops"), timeout=10)
    time.sleep(SETTLE)
    assert len(notes_of(stack, looping, "diagnostic_loops")) == 1
    assert notes_of(stack, once, "diagnostic_loops") == []


def test_dispute_language_in_a_later_text_escalates_billing_at_once(zendesk_stack):
    """Billing: dispute language in ANY text of the conversation, not only the first."""
    stack = zendesk_stack
    disputing, calm = "+12025550405", "+12025550406"
    for number in (disputing, calm):
        text_and_ticket(stack, number, "I was charged twice on my invoice this month")
    time.sleep(SETTLE)
    assert notes_of(stack, disputing, "dispute") == []
    before = len(tickets_by_phone_any(stack)[disputing]["comments"])
    customer_texts(stack, disputing, "I never authorized this, I will call my bank", before)
    wait_for(lambda: notes_of(stack, disputing, "dispute"), timeout=10)
    customer_texts(stack, disputing, "this is fraud", before + 1)
    time.sleep(SETTLE)
    ticket = tickets_by_phone_any(stack)[disputing]
    assert len(notes_of(stack, disputing, "dispute")) == 1
    assert ticket["priority"] in ("high", "urgent") and "sms_esc_dispute" in ticket["tags"]
    assert notes_of(stack, calm, "dispute") == []


def test_general_waiting_on_the_customer_gets_one_reminder_then_is_solved(freshdesk_stack):
    """General inquiry: an agent asked, the customer went quiet: one reminder at 24 h, the ticket
    solved 24 h later (the pack's `then`); on Freshdesk both are the connector's."""
    stack = freshdesk_stack
    quiet = "+12025550501"
    send_text(stack.sandbox.twilio_url, quiet, "hi what are your store hours on saturday",
              to_number=SUPPORT_NUMBER)
    ticket = wait_for(lambda: tickets_by_phone_any(stack).get(quiet), timeout=20)
    agent_reply(stack.sandbox.helpdesk_url, ticket["id"], "Which store do you mean?")
    wait_for(lambda: len(stack.handset(quiet)) >= 2)  # the ack, then the agent's question

    def reminders() -> list[str]:
        return [m["body"] for m in stack.handset(quiet) if "just checking in" in m["body"]]

    stack.advance(24 * 3600 - 30)
    time.sleep(SETTLE)
    assert reminders() == []
    stack.advance(35)
    wait_for(reminders, timeout=10)
    stack.advance(24 * 3600 + 5)
    wait_for(lambda: tickets_by_phone_any(stack)[quiet]["status"] == "resolved", timeout=10)
    stack.advance(3 * 24 * 3600)
    time.sleep(SETTLE)
    assert len(reminders()) == 1

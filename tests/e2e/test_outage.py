"""Issue 13's outage, end to end: ``sms-connector serve`` in its own process, the stand-ins over
real HTTP, a shared clock. Twenty customers text that the service is down; one opts out. One
problem ticket links all twenty reports; one public update on it reaches the nineteen others,
once each, paced one text a second (the clock jumps instead of waiting)."""

from __future__ import annotations

import time

import pytest
from click.testing import CliRunner

from connector.cli import cli
from connector.sandbox.runner import agent_reply, send_text
from connector.sandbox.stack import SUPPORT_NUMBER, environment

from .connector_process import connector_stack, idle, wait_for

pytestmark = pytest.mark.slow

PHONES = [f"+1202555{n:04d}" for n in range(600, 620)]
OPTED_OUT = PHONES[7]
UPDATE = "Update: we found the cause and a fix is rolling out, back within 30 minutes."


def test_twenty_reports_one_problem_one_update_to_all_but_the_opted_out(tmp_path):
    with connector_stack(tmp_path, extra={"escalation": {"tick": "1s"}},
                         shift_clock=True) as stack:
        applied = CliRunner().invoke(cli, ["policy", "apply"], env=environment(stack.config),
                                     catch_exceptions=False)
        assert applied.exit_code == 0, applied.output
        for number in PHONES:
            send_text(stack.sandbox.twilio_url, number, "is your service down? nothing loads",
                      to_number=SUPPORT_NUMBER)
        send_text(stack.sandbox.twilio_url, OPTED_OUT, "STOP", to_number=SUPPORT_NUMBER)

        def problem() -> dict | None:
            tickets = stack.zendesk_state()["tickets"]
            problems = [t for t in tickets if t.get("type") == "problem"]
            assert len(problems) <= 1, "one outage, one problem ticket"
            if not problems:
                return None
            linked = [t for t in tickets if t.get("problem_id") == problems[0]["id"]]
            return problems[0] if len(linked) == len(PHONES) else None

        found = wait_for(problem, timeout=60)
        wait_for(lambda: idle(stack), timeout=60)
        stack.advance(60)  # the confirmations are paced too
        wait_for(lambda: idle(stack), timeout=60)
        before = {n: len(stack.handset(n)) for n in PHONES}

        agent_reply(stack.sandbox.zendesk_url, found["id"], UPDATE)
        for _ in range(6):  # 19 texts a second apart: jump, let the worker send what is due
            time.sleep(0.5)
            stack.advance(10)
        wait_for(lambda: all(any(m["body"] == UPDATE for m in stack.handset(n))
                             for n in PHONES if n != OPTED_OUT), timeout=30)
        wait_for(lambda: idle(stack), timeout=30)
        for number in PHONES:
            updates = [m for m in stack.handset(number)[before[number]:]
                       if m["body"] == UPDATE]
            assert len(updates) == (0 if number == OPTED_OUT else 1), number
        problem_ticket = next(t for t in stack.zendesk_state()["tickets"]
                              if t["id"] == found["id"])
        assert {"sms_escalated", "sms_esc_outage"} <= set(problem_ticket["tags"])

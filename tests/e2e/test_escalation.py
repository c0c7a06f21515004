"""First-response escalation in real time: ``sms-connector serve`` on the Zendesk sandbox, a pack
whose first response is a few seconds (no Zendesk SLA holds that: the connector's timer does)
and ``[escalation] tick = "1s"``. A text nobody answers is escalated once; a text answered at
once is not. About ten seconds of real waiting."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.cli import cli
from connector.sandbox.runner import agent_reply, send_text
from connector.sandbox.stack import SUPPORT_NUMBER, environment

from .connector_process import Stack, connector_stack, wait_for

pytestmark = pytest.mark.slow

ALICE = "+12025550142"  # nobody answers
BOB = "+12025550143"  # answered at once
TARGET = 5.0


def fast_pack(tmp_path: Path) -> str:
    from mappings import policy

    text = (Path(policy.__file__).parent / "default_policy.toml").read_text()
    text = re.sub(r'(?m)^first_response = "[^"]+"', f'first_response = "{TARGET:g}s"', text)
    text = re.sub(r"(?m)^business_hours = true", "business_hours = false", text)
    path = tmp_path / "fast-pack.toml"
    path.write_text(text)
    return str(path)


def ticket_of(stack: Stack, phone: str) -> dict:
    [ticket] = wait_for(lambda: [t for t in stack.sms_tickets()
                                 if t["comments"] and phone in t["subject"]])
    return ticket


def current(stack: Stack, ticket_id: int) -> dict:
    return next(t for t in stack.zendesk_state()["tickets"] if t["id"] == ticket_id)


def escalation_notes(ticket: dict) -> list[str]:
    return [c["body"] for c in ticket["comments"]
            if not c["public"] and c["body"].startswith("[sms-connector] Escalated")]


def test_an_unanswered_text_escalates_once_and_an_answered_one_does_not(tmp_path):
    extra = {"policy": {"pack": fast_pack(tmp_path)}, "escalation": {"tick": "1s"}}
    with connector_stack(tmp_path, extra=extra) as stack:
        env = environment(stack.config)
        applied = CliRunner().invoke(cli, ["policy", "apply"], env=env, catch_exceptions=False)
        assert applied.exit_code == 0, applied.output
        started = time.monotonic()
        send_text(stack.sandbox.twilio_url, ALICE, "hello, a question about my account",
                  to_number=SUPPORT_NUMBER)
        send_text(stack.sandbox.twilio_url, BOB, "hello, a question about my invoice",
                  to_number=SUPPORT_NUMBER)
        alice, bob = ticket_of(stack, ALICE), ticket_of(stack, BOB)
        agent_reply(stack.sandbox.zendesk_url, bob["id"], "Hi Bob, here to help.")

        escalated = wait_for(lambda: escalation_notes(current(stack, alice["id"])), timeout=20)
        took = time.monotonic() - started
        assert TARGET <= took < TARGET + 10
        ticket = current(stack, alice["id"])
        assert {"sms_escalated", "sms_esc_first_response"} <= set(ticket["tags"])
        assert ticket["priority"] in ("high", "urgent")
        [note] = escalated
        assert "first-response target of 5 seconds" in note and "late" in note

        time.sleep(3)  # several ticks later: still one note; Bob's ticket untouched
        assert len(escalation_notes(current(stack, alice["id"]))) == 1
        answered = current(stack, bob["id"])
        assert "sms_escalated" not in answered["tags"] and not escalation_notes(answered)

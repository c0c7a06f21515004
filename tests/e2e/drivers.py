"""How the end-to-end story drives each outside system's stand-in, so the story is written once
and runs for every (SMS provider, helpdesk) pair: a new adapter adds a driver and a pair in
``PAIRS``, not a test file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import requests

from connector.sandbox.runner import agent_reply, send_text
from connector.sandbox.stack import SUPPORT_NUMBER, Stack
from tests.echo import standin as echo_standin

REPO = Path(__file__).resolve().parents[2]


class TwilioDriver:
    """The sandbox's Twilio, started with the sandbox by ``connector_process``."""

    name = "twilio"
    support_number = SUPPORT_NUMBER
    command: tuple[str, ...] | None = None

    def start(self) -> dict[str, Any]:
        return {}  # sandbox_config already holds [twilio] and its channel

    def stop(self) -> None:
        pass

    def text(self, stack: Stack, phone: str, body: str) -> None:
        send_text(stack.sandbox.twilio_url, phone, body, to_number=SUPPORT_NUMBER)

    def handset(self, stack: Stack, phone: str) -> list[str]:
        return [m["body"] for m in stack.handset(phone)]

    def flush(self, stack: Stack) -> None:
        requests.post(stack.sandbox.twilio_url + "/_sandbox/flush", json={}, timeout=15)


class EchoDriver:
    """Echo, the test package's throw-away provider, on a stand-in of its own; the connector
    process runs ``tests/echo/serve.py`` (the CLI with Echo registered)."""

    name = "echo"
    support_number = echo_standin.SUPPORT_NUMBER
    command = (sys.executable, str(REPO / "tests" / "echo" / "serve.py"))

    def start(self) -> dict[str, Any]:
        self.server = echo_standin.start()
        return echo_standin.config(self.server)

    def stop(self) -> None:
        self.server.stop()

    def text(self, stack: Stack, phone: str, body: str) -> None:
        answer = requests.post(self.server.url + "/_sandbox/text", json={
            "from": phone, "body": body, "connector_url": stack.connector_url}, timeout=20)
        assert answer.json()["status"] == 200, answer.text

    def handset(self, stack: Stack, phone: str) -> list[str]:
        state = requests.get(self.server.url + "/_sandbox/state", timeout=10).json()
        return [m["body"] for m in state["handsets"].get(phone, [])]

    def flush(self, stack: Stack) -> None:
        pass


class HelpdeskDriver:
    """A helpdesk stand-in of the sandbox: both answer the same ``/_sandbox`` routes, and
    ``Stack.sms_tickets`` puts their tickets in one shape (comments oldest first, plain text)."""

    name = ""

    def tickets(self, stack: Stack) -> list[dict[str, Any]]:
        return stack.sms_tickets()

    def reply(self, stack: Stack, ticket_id: int, body: str) -> None:
        agent_reply(stack.sandbox.helpdesk_url, ticket_id, body)

    def flush(self, stack: Stack) -> None:
        requests.post(stack.sandbox.helpdesk_url + "/_sandbox/flush", json={}, timeout=15)


class ZendeskDriver(HelpdeskDriver):
    name = "zendesk"


class FreshdeskDriver(HelpdeskDriver):
    name = "freshdesk"


SMS = {"twilio": TwilioDriver, "echo": EchoDriver}
HELPDESKS = {"zendesk": ZendeskDriver, "freshdesk": FreshdeskDriver}
PAIRS = [("twilio", "zendesk"), ("echo", "zendesk"), ("twilio", "freshdesk")]

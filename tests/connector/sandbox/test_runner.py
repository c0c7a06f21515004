"""Both stand-ins started together, driven the way the CLI drives them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

import pytest
import requests

from connector.sandbox.runner import (
    Sandbox,
    SandboxClientError,
    agent_reply,
    send_text,
    show,
    start_sandbox,
)
from tests.connector.sandbox.receiver import Receiver

ZENDESK_AUTH = ("connector@example.com/token", "sandbox-api-token")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


@pytest.fixture
def sandbox(receiver: Receiver) -> Iterator[Sandbox]:
    # Port 0: the defaults (8701 / 8703) may be taken by a sandbox someone is running.
    with start_sandbox(zendesk_port=0, twilio_port=0, connector_url=receiver.url) as sandbox:
        yield sandbox


def test_both_services_answer_and_the_webhook_points_at_the_connector(
    sandbox: Sandbox, receiver: Receiver
) -> None:
    assert sandbox.zendesk_url.startswith("http://127.0.0.1:")
    assert sandbox.twilio_url.startswith("http://127.0.0.1:")
    result = send_text(sandbox.twilio_url, "+12025550142", "my order is late")
    assert result["webhook"]["url"] == f"{receiver.url}/webhooks/sms/twilio"
    assert result["webhook"]["status"] == 200
    assert receiver.requests_to("/webhooks/sms/twilio")[0].form["Body"] == "my order is late"
    with requests.get(f"{sandbox.zendesk_url}/api/v2/users/me.json", auth=ZENDESK_AUTH) as me:
        assert me.status_code == 200


def test_agent_reply_and_show(sandbox: Sandbox) -> None:
    with requests.post(
        f"{sandbox.zendesk_url}/api/v2/tickets.json",
        json={"ticket": {"subject": "Order late", "comment": {"body": "my order is late"}}},
        auth=ZENDESK_AUTH,
        timeout=10,
    ) as created:
        assert created.status_code == 201, created.text
        ticket_id = created.json()["ticket"]["id"]
    answer = agent_reply(sandbox.zendesk_url, ticket_id, "on its way")
    assert answer["ticket"]["id"] == ticket_id
    send_text(sandbox.twilio_url, "+12025550142", "STOP")
    text = show(sandbox.zendesk_url, sandbox.twilio_url)
    assert f"#{ticket_id}" in text and "on its way" in text
    assert "+12025550142" in text and "unsubscribed" in text
    assert "opted out: +12025550142" in text


def test_client_errors_say_what_went_wrong(sandbox: Sandbox) -> None:
    with pytest.raises(SandboxClientError, match=r"404|422|400"):
        agent_reply(sandbox.zendesk_url, 999_999, "nobody here")
    with pytest.raises(SandboxClientError, match="from"):
        send_text(sandbox.twilio_url, "not-a-number", "hi")


def test_show_reports_an_unreachable_service(sandbox: Sandbox) -> None:
    text = show(sandbox.zendesk_url, "http://127.0.0.1:9")
    assert "Zendesk (" in text and "unreachable" in text


def test_start_options_reach_both_services(receiver: Receiver) -> None:
    with start_sandbox(
        zendesk_port=0, twilio_port=0, latency_ms=5, per_minute=50, twilio_opt_out_handling=False
    ) as sandbox:
        for controls in (sandbox.zendesk_controls, sandbox.twilio_controls):
            assert controls.snapshot()["latency_ms"] == 5
            assert controls.snapshot()["per_minute"] == 50
        assert sandbox.twilio.opt_out_handling is False
        assert sandbox.twilio.sms_webhook_url is None
        assert send_text(sandbox.twilio_url, "+12025550142", "STOP")["auto_reply"] is None


def test_the_sandbox_clock_moves_both_stand_ins_forward_only() -> None:
    """``POST /_sandbox/clock`` moves the stand-ins' time, so timers hours away run in seconds."""
    with start_sandbox(zendesk_port=0, twilio_port=0) as sandbox:
        before = requests.get(sandbox.zendesk_url + "/_sandbox/clock", timeout=5).json()["now"]
        moved = requests.post(sandbox.twilio_url + "/_sandbox/clock",
                              json={"advance_seconds": 86400}, timeout=5)
        assert moved.status_code == 200 and moved.json()["offset"] == 86400
        after = requests.get(sandbox.zendesk_url + "/_sandbox/clock", timeout=5).json()["now"]
        assert after - before >= 86400  # one clock for both stand-ins
        user = requests.post(sandbox.zendesk_url + "/api/v2/users/create_or_update",
                             auth=("connector@example.com/token", "sandbox-api-token"),
                             json={"user": {"name": "C", "external_id": "sms:+12025550142"}},
                             timeout=5).json()["user"]
        created = datetime.fromisoformat(user["created_at"].replace("Z", "+00:00"))
        assert created.timestamp() >= before + 86400 - 2
        for bad in ({"advance_seconds": -1}, {"advance_seconds": "1d"},
                    {"advance_seconds": True}, {"advance_seconds": 1e300},
                    {"advance_seconds": float("nan")}, {"advance_seconds": 1, "x": 2},
                    {"advance_seconds": {"nested": [1] * 1000}}, [1], {}):
            answer = requests.post(sandbox.zendesk_url + "/_sandbox/clock",
                                   data=json.dumps(bad, allow_nan=True),
                                   headers={"Content-Type": "application/json"}, timeout=5)
            assert answer.status_code == 400, bad
        assert sandbox.clock.offset == 86400  # refusals changed nothing

"""SMS → Zendesk over real HTTP: the sandbox Twilio texts a connector process, which files
tickets in the sandbox Zendesk and acknowledges through the sandbox Twilio."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest
import requests
from sqlalchemy import func, select

from connector.sandbox.runner import send_text
from connector.sandbox.signing import twilio_signature
from connector.sandbox.stack import SUPPORT_NUMBER
from connector.store import jobs, messages, reading

from .connector_process import Stack, connector_stack, idle, wait_for

pytestmark = pytest.mark.slow

ALICE = "+12025550142"
BOB = "+12025550143"


@pytest.fixture
def stack(tmp_path, stack_database):
    with connector_stack(tmp_path, database_url=stack_database) as running:
        yield running



def signed_post(stack: Stack, params: dict[str, str], *, token: str | None = None,
                body: bytes | None = None, headers: dict[str, str] | None = None):
    url = stack.connector_url + "/webhooks/sms/twilio"
    token = token or stack.config["twilio"]["auth_token"]
    signature = twilio_signature(token, url, params)
    all_headers = {"X-Twilio-Signature": signature,
                   "Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
    return requests.post(url, data=body if body is not None else urlencode(params),
                         headers=all_headers, timeout=10)


def inbound_params(sid: str, body: str, *, from_: str = ALICE, to: str = SUPPORT_NUMBER,
                   **extra: str) -> dict[str, str]:
    return {"MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "0" * 32, "From": from_,
            "To": to, "Body": body, "NumMedia": "0", "NumSegments": "1", **extra}


def message_count(stack: Stack) -> int:
    with reading(stack.engine) as conn:
        return int(conn.execute(select(func.count()).select_from(messages)).scalar_one())


def test_new_customer_gets_one_triaged_ticket_and_an_acknowledgement(stack):
    send_text(stack.sandbox.twilio_url, ALICE, "the app keeps crashing when i log in, pls help",
              to_number=SUPPORT_NUMBER)
    [ticket] = wait_for(lambda: stack.sms_tickets())
    assert ticket["priority"] == "high"
    assert {"sms", "sms_technical", "sms_p2"} <= set(ticket["tags"])
    users = {u["id"]: u for u in stack.zendesk_state()["users"]}
    requester = users[ticket["requester_id"]]
    assert requester["external_id"] == f"sms:{ALICE}" and ticket["submitter_id"] == requester["id"]
    assert any(i["type"] == "phone_number" and i["value"] == ALICE
               for i in requester.get("identities", []))
    [first] = ticket["comments"]
    assert first["public"] and first["author_id"] == requester["id"]
    assert first["body"].startswith("the app keeps crashing")
    ack = wait_for(lambda: stack.handset(ALICE))
    assert len(ack) == 1 and "15 minutes" in ack[0]["body"]
    assert ack[0]["body"] in first["body"]  # the agent sees what the customer was told
    # Follow-ups in order, each one comment on the same ticket, no second acknowledgement.
    for text in ("also it says error 502", "nevermind it says 503 now"):
        send_text(stack.sandbox.twilio_url, ALICE, text, to_number=SUPPORT_NUMBER)
        wait_for(lambda: idle(stack))
    [ticket] = stack.sms_tickets()
    bodies = [c["body"] for c in ticket["comments"]]
    assert bodies[1:] == ["also it says error 502", "nevermind it says 503 now"]
    assert len(stack.handset(ALICE)) == 1


def test_burst_is_coalesced_in_order(stack):
    texts = [f"part {i} of my question" for i in range(1, 6)]
    for text in texts:
        send_text(stack.sandbox.twilio_url, BOB, text, to_number=SUPPORT_NUMBER)
    wait_for(lambda: idle(stack) and stack.sms_tickets())
    wait_for(lambda: idle(stack))
    [ticket] = stack.sms_tickets()
    paragraphs = [p for c in ticket["comments"] for p in c["body"].split("\n\n")
                  if p.startswith("part ")]
    assert paragraphs == texts
    assert len(ticket["comments"]) <= 3  # one creation, at most two updates


def test_repeated_webhook_changes_nothing(stack):
    params = inbound_params("SM" + "1" * 32, "is my refund coming?")
    first = signed_post(stack, params)
    second = signed_post(stack, params)
    assert first.status_code == second.status_code == 200
    assert "<Response/>" in second.text
    wait_for(lambda: stack.sms_tickets() and idle(stack))
    assert message_count(stack) == 1
    [ticket] = stack.sms_tickets()
    assert len(ticket["comments"]) == 1
    assert len(stack.handset(ALICE)) == 1


@pytest.mark.parametrize("case", ["unsigned", "tampered", "wrong_token"])
def test_forged_requests_get_403_and_store_nothing(stack, case):
    params = inbound_params("SM" + "2" * 32, "hello")
    url = stack.connector_url + "/webhooks/sms/twilio"
    if case == "unsigned":
        response = requests.post(url, data=params, timeout=10)
    elif case == "tampered":
        signature = twilio_signature(stack.config["twilio"]["auth_token"], url, params)
        response = requests.post(url, data={**params, "Body": "give me a refund"},
                                 headers={"X-Twilio-Signature": signature}, timeout=10)
    else:
        response = signed_post(stack, params, token="not-the-token")
    assert response.status_code == 403
    assert message_count(stack) == 0


def test_malformed_oversized_and_invalid_utf8_store_nothing(stack):
    missing = signed_post(stack, {"MessageSid": "SM" + "3" * 32, "Body": "no from"})
    assert missing.status_code == 400 and "From" in missing.json()["description"]
    big = requests.post(stack.connector_url + "/webhooks/sms/twilio", data=b"x" * 1_000_000,
                        headers={"X-Twilio-Signature": "x",
                                 "Content-Type": "application/x-www-form-urlencoded"},
                        timeout=10)
    assert big.status_code == 413
    params = inbound_params("SM" + "4" * 32, "hi")
    bad_utf8 = urlencode(params).encode() + b"&Extra=%FF%FE"
    invalid = signed_post(stack, params, body=bad_utf8)
    assert invalid.status_code == 400
    assert message_count(stack) == 0


def test_unknown_channel_is_kept_and_dead_lettered(stack):
    response = signed_post(stack, inbound_params("SM" + "5" * 32, "hello?", to="+13125550199"))
    assert response.status_code == 200
    with reading(stack.engine) as conn:
        held = conn.execute(select(messages)).mappings().one()
        dead = conn.execute(select(jobs).where(jobs.c.status == "dead")).mappings().one()
    assert held["state"] == "held" and held["body"] == "hello?"
    assert "no [[channels]] entry" in dead["last_error"]
    assert stack.sms_tickets() == []


def test_media_on_a_foreign_host_is_noted_not_fetched(stack):
    params = inbound_params("SM" + "6" * 32, "photo of the damage", NumMedia="1",
                            MediaUrl0="https://evil.example.net/steal.jpg",
                            MediaContentType0="image/jpeg")
    assert signed_post(stack, params).status_code == 200
    [ticket] = wait_for(lambda: stack.sms_tickets())
    body = ticket["comments"][0]["body"]
    assert body.startswith("photo of the damage")
    assert "could not be attached" in body


def test_mms_from_twilio_is_attached(stack):
    import base64

    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * 64).decode()
    response = requests.post(stack.sandbox.twilio_url + "/_sandbox/inbound", json={
        "from": ALICE, "to": SUPPORT_NUMBER, "body": "see screenshot",
        "media": [{"content_type": "image/png", "data_base64": png}]}, timeout=20)
    assert response.status_code == 200, response.text
    [ticket] = wait_for(lambda: stack.sms_tickets())
    comment = ticket["comments"][0]
    assert comment["body"].startswith("see screenshot")
    assert len(comment["attachments"]) == 1


@pytest.mark.parametrize("path", ["/api/v2/tickets", "/api/v2/tickets/"])
def test_ambiguous_failures_leave_exactly_one_ticket_and_comment(stack, path):
    faults = stack.sandbox.zendesk_url + "/_sandbox/faults"
    if path == "/api/v2/tickets":  # the creation commits, then the connection drops
        requests.post(faults, json={"drop_after_commit": 1, "drop_paths": r"^/api/v2/tickets$"},
                      timeout=5)
        send_text(stack.sandbox.twilio_url, ALICE, "where is my order", to_number=SUPPORT_NUMBER)
        wait_for(lambda: stack.sms_tickets() and idle(stack), timeout=30)
        [ticket] = stack.sms_tickets()
        assert len(ticket["comments"]) == 1
    else:  # a follow-up update commits, then the connection drops
        send_text(stack.sandbox.twilio_url, ALICE, "where is my order", to_number=SUPPORT_NUMBER)
        wait_for(lambda: stack.sms_tickets() and idle(stack))
        requests.post(faults, json={"drop_after_commit": 1, "drop_paths": r"^/api/v2/tickets/\d+"},
                      timeout=5)
        send_text(stack.sandbox.twilio_url, ALICE, "order 55812", to_number=SUPPORT_NUMBER)
        time.sleep(0.5)
        wait_for(lambda: idle(stack), timeout=30)
        [ticket] = stack.sms_tickets()
        assert [c["body"] for c in ticket["comments"]][1:] == ["order 55812"]
    assert "ConnectionError" in stack.logs() or "TransientError" in stack.logs()


def test_solved_ticket_reopens_and_closed_ticket_gets_a_follow_up(stack):
    send_text(stack.sandbox.twilio_url, ALICE, "billing question about my invoice",
              to_number=SUPPORT_NUMBER)
    [ticket] = wait_for(lambda: stack.sms_tickets() if idle(stack) else None)
    status_url = f"{stack.sandbox.zendesk_url}/_sandbox/tickets/{ticket['id']}/status"
    requests.post(status_url, json={"status": "solved"}, timeout=5)
    send_text(stack.sandbox.twilio_url, ALICE, "actually one more thing", to_number=SUPPORT_NUMBER)
    wait_for(lambda: idle(stack))
    [ticket] = stack.sms_tickets()
    assert ticket["status"] == "open"
    assert ticket["comments"][-1]["body"] == "actually one more thing"
    requests.post(status_url, json={"status": "closed"}, timeout=5)
    send_text(stack.sandbox.twilio_url, ALICE, "hello again", to_number=SUPPORT_NUMBER)
    wait_for(lambda: len(stack.sms_tickets()) == 2 and idle(stack))
    old, new = sorted(stack.sms_tickets(), key=lambda t: t["id"])
    assert new["via"]["source"]["from"]["ticket_id"] == old["id"]
    assert new["comments"][0]["body"].startswith("hello again")


@pytest.mark.parametrize("mode", ["twilio", "connector"])
def test_stop_blocks_everything_after_it(tmp_path, mode):
    with connector_stack(tmp_path, opt_out_handling=mode,
                         twilio_opt_out_handling=(mode == "twilio")) as stack:
        send_text(stack.sandbox.twilio_url, ALICE, "STOP", to_number=SUPPORT_NUMBER)
        wait_for(lambda: stack.sms_tickets() and idle(stack))
        before = stack.handset(ALICE)
        if mode == "connector":
            assert len(before) == 1 and "START" in before[0]["body"]  # the one confirmation
        else:
            assert all(m["from"] == SUPPORT_NUMBER for m in before)  # Twilio's own reply only
        [ticket] = stack.sms_tickets()
        assert "sms_opted_out" in ticket["tags"] and ticket["comments"][0]["body"] == "STOP"
        send_text(stack.sandbox.twilio_url, ALICE, "my internet is down again",
                  to_number=SUPPORT_NUMBER)
        wait_for(lambda: idle(stack))
        time.sleep(0.5)
        assert stack.handset(ALICE) == before  # no acknowledgement, nothing else
        [ticket] = stack.sms_tickets()
        assert ticket["comments"][-1]["body"] == "my internet is down again"

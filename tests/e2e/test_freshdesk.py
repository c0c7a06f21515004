"""SMS ↔ Freshdesk over real HTTP: the sandbox Twilio texts a connector process
(``sms-connector serve``), which files tickets and notes in the sandbox Freshdesk; ``policy
apply`` installs Freshdesk's automation rules, whose webhooks (a secret custom header, no
signature) bring agent replies and status changes back. The same assertions as the Zendesk
path's (tests/e2e/test_inbound.py, test_agent_reply.py), in Freshdesk's words."""

from __future__ import annotations

import json
import time

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import func, select

from connector.cli import cli
from connector.sandbox.runner import agent_reply, send_text
from connector.sandbox.stack import FRESHDESK_KEY, SUPPORT_NUMBER, environment
from connector.store import conversations, jobs, outbound, reading
from connector.store.kv import kv_get

from .connector_process import Stack, connector_stack, idle, settled, wait_for

pytestmark = pytest.mark.slow

ALICE = "+12025550142"
BOB = "+12025550143"
UNREACHABLE = "+12025553003"  # the sandbox Twilio answers "undelivered 30003" for …3003
NOTE_PREFIX = "[SMS connector]"
SECRET_HEADER = "X-Sms-Connector-Secret"
PHONE_SOURCE = 3  # Freshdesk's "Phone" source: it has no SMS source
PRIVATE_NOTE, PUBLIC_NOTE = True, False


@pytest.fixture
def stack(tmp_path):
    # The embedded SQLite store: the story (test_story.py) runs Freshdesk on PostgreSQL too.
    with connector_stack(tmp_path, helpdesk="freshdesk") as running:
        applied = policy(running, "apply")
        assert applied.exit_code == 0, applied.output
        yield running


def policy(stack: Stack, command: str):
    return CliRunner().invoke(cli, ["policy", command], env=environment(stack.config),
                              catch_exceptions=False)


def state(stack: Stack) -> dict:
    return stack.helpdesk_state()


def raw_tickets(stack: Stack) -> list[dict]:
    return [t for t in state(stack)["tickets"] if "sms" in t["tags"]]


def raw_ticket(stack: Stack, ticket_id: int) -> dict:
    return next(t for t in state(stack)["tickets"] if t["id"] == ticket_id)


def text(stack: Stack, phone: str, body: str) -> None:
    send_text(stack.sandbox.twilio_url, phone, body, to_number=SUPPORT_NUMBER)


def open_ticket(stack: Stack, phone: str = ALICE, body: str = "my refund has not arrived yet"
                ) -> dict:
    text(stack, phone, body)
    [ticket] = wait_for(lambda: [t for t in raw_tickets(stack) if phone in t["subject"]])
    wait_for(lambda: settled(stack))
    return raw_ticket(stack, ticket["id"])


def notes(stack: Stack, ticket_id: int, *, private: bool | None = None) -> list[dict]:
    return [c for c in raw_ticket(stack, ticket_id)["conversations"]
            if private is None or bool(c["private"]) == private]


def connector_notes(stack: Stack, ticket_id: int) -> list[str]:
    return [c["body_text"] for c in notes(stack, ticket_id, private=PRIVATE_NOTE)
            if c["body_text"].startswith(NOTE_PREFIX)]


def secret(stack: Stack) -> str:
    with reading(stack.engine) as conn:
        stored = kv_get(conn, "freshdesk.webhook.signing_secret")
    assert stored
    return stored


def post_webhook(stack: Stack, body: bytes, *, secret_value: str | None = None,
                 headers: dict[str, str] | None = None):
    sent = {"Content-Type": "application/json", "User-Agent": "Freshdesk"}
    if secret_value is not None:
        sent[SECRET_HEADER] = secret_value
    sent.update(headers or {})
    return requests.post(stack.connector_url + "/webhooks/helpdesk/freshdesk", data=body,
                         headers=sent, timeout=10)


def count(stack: Stack, table) -> int:
    with reading(stack.engine) as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def handset(stack: Stack, phone: str) -> list[str]:
    return [m["body"] for m in stack.handset(phone)]


# ------------------------------------------------------------------------------ policy apply


def test_policy_apply_installs_the_rules_once_with_the_secret_header(stack):
    def webhook_rules() -> list[dict]:
        return [r for r in state(stack)["rules"] if r["name"].startswith("[sms-connector]")
                and any(a["field_name"] == "trigger_webhook" for a in r["actions"])]

    rules = webhook_rules()
    assert len(rules) >= 2  # the agent-reply rule and the status rule, at least
    for rule in rules:
        for action in (a for a in rule["actions"] if a["field_name"] == "trigger_webhook"):
            assert action["url"] == stack.connector_url + "/webhooks/helpdesk/freshdesk"
            assert action["custom_headers"] == {SECRET_HEADER: secret(stack)}
    before = state(stack)["rules"]
    again = policy(stack, "apply")
    assert again.exit_code == 0 and "nothing to change" in again.output
    assert state(stack)["rules"] == before
    assert policy(stack, "plan").exit_code == 0  # nothing pending


# ------------------------------------------------------------------------------ inbound


def test_new_customer_gets_one_ticket_with_requester_source_priority_tags_and_an_ack(stack):
    text(stack, ALICE, "the app keeps crashing when i log in, pls help")
    [ticket] = wait_for(lambda: raw_tickets(stack))
    assert {"sms", "sms_technical", "sms_p2"} <= set(ticket["tags"])
    assert ticket["source"] == PHONE_SOURCE and ticket["status"] == 2
    assert ticket["priority"] == 3  # P2 → high
    [contact] = [c for c in state(stack)["contacts"] if c.get("phone") == ALICE]
    assert ticket["requester_id"] == contact["id"] and contact["name"]
    [ack] = wait_for(lambda: handset(stack, ALICE))
    assert "15 minutes" in ack
    assert "Auto-reply texted to the customer" in ticket["description_text"]

    text(stack, ALICE, "also it says error 502")  # a follow-up: one public incoming note
    wait_for(lambda: notes(stack, ticket["id"]))
    wait_for(lambda: settled(stack))
    [note] = notes(stack, ticket["id"])
    assert (note["body_text"], note["private"], note["incoming"], note["user_id"]) == (
        "also it says error 502", False, True, contact["id"])
    assert len(raw_tickets(stack)) == 1
    assert len([c for c in state(stack)["contacts"] if c.get("phone") == ALICE]) == 1


def test_a_returning_customer_is_found_by_phone_not_created_again(stack):
    known = requests.post(stack.sandbox.helpdesk_url + "/_sandbox/contacts",
                          json={"name": "Pat Caller", "phone": BOB}, timeout=10).json()
    ticket = open_ticket(stack, BOB)
    assert ticket["requester_id"] == known["id"]
    assert len([c for c in state(stack)["contacts"] if c.get("phone") == BOB]) == 1


def test_a_burst_is_coalesced_in_order(stack):
    texts = [f"part {i} of my question" for i in range(1, 6)]
    for body in texts:
        text(stack, BOB, body)
    wait_for(lambda: idle(stack) and raw_tickets(stack))
    wait_for(lambda: settled(stack))
    [ticket] = stack.sms_tickets()
    paragraphs = [p for c in ticket["comments"] for p in c["body"].split("\n\n")
                  if p.startswith("part ")]
    assert paragraphs == texts
    assert len(ticket["comments"]) <= 3  # the ticket, at most two notes


@pytest.mark.parametrize("path", ["/api/v2/tickets$", "/notes$"])
def test_commit_then_drop_leaves_exactly_one_ticket_and_note(stack, path):
    """Freshdesk has no idempotency key: the connector's record of the attempt and the marker
    on the ticket make a create (or a note) whose answer was lost land once."""
    if path == "/notes$":
        ticket = open_ticket(stack)
    requests.post(stack.sandbox.helpdesk_url + "/_sandbox/faults",
                  json={"drop_after_commit": 1, "drop_paths": path}, timeout=10)
    if path == "/notes$":
        text(stack, ALICE, "second text, answer lost")
        wait_for(lambda: notes(stack, ticket["id"], private=PUBLIC_NOTE))
    else:
        text(stack, ALICE, "first text, answer lost")
        wait_for(lambda: raw_tickets(stack))
    with reading(stack.engine) as conn:
        wait_for(lambda: settled(stack) and not conn.execute(
            select(conversations.c.inflight)).scalar(), timeout=60)
    wait_for(lambda: settled(stack))
    [ticket] = raw_tickets(stack)
    if path == "/notes$":
        assert [c["body_text"] for c in notes(stack, ticket["id"], private=PUBLIC_NOTE)] == [
            "second text, answer lost"]
    assert len(handset(stack, ALICE)) == 1  # one acknowledgement


def test_status_changes_reach_the_connector_resolved_reopens_closed_follows(stack):
    ticket = open_ticket(stack)
    requests.post(f"{stack.sandbox.helpdesk_url}/_sandbox/tickets/{ticket['id']}/status",
                  json={"status": "resolved"}, timeout=10).raise_for_status()

    def remembered() -> str | None:
        with reading(stack.engine) as conn:
            return conn.execute(select(conversations.c.ticket_status)).scalar()

    wait_for(lambda: remembered() == "solved")
    text(stack, ALICE, "actually, still nothing")
    wait_for(lambda: raw_ticket(stack, ticket["id"])["status"] == 2 and notes(stack, ticket["id"]))
    wait_for(lambda: settled(stack))
    assert len(raw_tickets(stack)) == 1 and remembered() == "open"

    requests.post(f"{stack.sandbox.helpdesk_url}/_sandbox/tickets/{ticket['id']}/status",
                  json={"status": "closed"}, timeout=10).raise_for_status()
    wait_for(lambda: remembered() == "closed")
    text(stack, ALICE, "new problem: billing")
    wait_for(lambda: len(raw_tickets(stack)) == 2)
    wait_for(lambda: settled(stack))
    newer = max(raw_tickets(stack), key=lambda t: t["id"])
    assert newer["requester_id"] == ticket["requester_id"]
    assert f"#{ticket['id']}" in newer["description_text"]


# ------------------------------------------------------------------------------ agent replies


def test_agent_reply_reaches_the_customer_exactly_once(stack):
    ticket = open_ticket(stack)
    agent_reply(stack.sandbox.helpdesk_url, ticket["id"], "Your refund left today.")
    wait_for(lambda: len(handset(stack, ALICE)) == 2)
    wait_for(lambda: settled(stack))
    assert handset(stack, ALICE)[1] == "Your refund left today."
    # Freshdesk delivers again (it retries at +5 min, +30 min, +1 h): nothing more is texted.
    body = json.dumps({"ticket_id": str(ticket["id"]), "event": "reply_sent"}).encode()
    for _ in range(2):
        assert post_webhook(stack, body, secret_value=secret(stack)).status_code == 200
    wait_for(lambda: settled(stack))
    assert len(handset(stack, ALICE)) == 2
    assert connector_notes(stack, ticket["id"]) == []


def test_private_notes_and_the_customer_s_own_texts_are_never_texted(stack):
    ticket = open_ticket(stack)
    agent_reply(stack.sandbox.helpdesk_url, ticket["id"], "VIP, expedite", public=False)
    text(stack, ALICE, "hello? anyone?")  # a public note by the customer: reply_sent, not agent
    wait_for(lambda: notes(stack, ticket["id"], private=PUBLIC_NOTE))
    wait_for(lambda: settled(stack))
    time.sleep(0.3)
    wait_for(lambda: settled(stack))
    assert len(handset(stack, ALICE)) == 1  # the acknowledgement only


def test_failed_delivery_becomes_exactly_one_private_note(stack):
    ticket = open_ticket(stack, UNREACHABLE)
    agent_reply(stack.sandbox.helpdesk_url, ticket["id"], "It ships tomorrow.")
    wait_for(lambda: any("Your reply was not delivered" in n
                         for n in connector_notes(stack, ticket["id"])))
    wait_for(lambda: settled(stack))
    assert len([n for n in connector_notes(stack, ticket["id"]) if "Your reply" in n]) == 1
    assert handset(stack, UNREACHABLE) == []


def test_stop_means_nothing_more_is_texted_and_the_agent_is_told(stack):
    ticket = open_ticket(stack)
    text(stack, ALICE, "STOP")
    wait_for(lambda: settled(stack))
    before = len(handset(stack, ALICE))
    agent_reply(stack.sandbox.helpdesk_url, ticket["id"], "Any update on your side?")
    wait_for(lambda: any("opted out" in n for n in connector_notes(stack, ticket["id"])))
    wait_for(lambda: settled(stack))
    assert len(handset(stack, ALICE)) == before
    with reading(stack.engine) as conn:
        assert conn.execute(select(func.count()).select_from(outbound).where(
            outbound.c.status == "sent")).scalar() in (0, 1)  # at most the acknowledgement


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("case", ["missing", "wrong", "empty", "non_ascii", "huge"])
def test_a_missing_or_wrong_secret_header_is_refused_and_queues_nothing(stack, case):
    ticket = open_ticket(stack)
    body = json.dumps({"ticket_id": str(ticket["id"]), "event": "reply_sent"}).encode()
    jobs_before = count(stack, jobs)
    value = {"missing": None, "wrong": secret(stack) + "x", "empty": "",
             "non_ascii": "é" * 43, "huge": "s" * 7000}[case]
    if case == "non_ascii":
        answer = requests.post(stack.connector_url + "/webhooks/helpdesk/freshdesk", data=body,
                               headers={"Content-Type": "application/json",
                                        SECRET_HEADER: value.encode()}, timeout=10)
    else:
        answer = post_webhook(stack, body, secret_value=value)
    assert answer.status_code in (401, 403, 431), answer.text
    assert count(stack, jobs) == jobs_before


@pytest.mark.parametrize("body", [
    b"not json", b"[]", b"{}", b'{"ticket_id": "abc"}', b"\xff\xfe",
    b'{"ticket_id": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    json.dumps({"ticket_id": "\u0664\u0662"}).encode(),
    json.dumps({"ticket_id": "9" * 5000}).encode(),
])
def test_malformed_deliveries_are_400_and_queue_nothing(stack, body):
    before = count(stack, jobs)
    answer = post_webhook(stack, body, secret_value=secret(stack))
    assert answer.status_code == 400, answer.text
    assert count(stack, jobs) == before


def test_an_unknown_ticket_is_404_and_an_oversized_body_413(stack):
    before = count(stack, jobs)
    unknown = json.dumps({"ticket_id": "987654", "event": "reply_sent"}).encode()
    assert post_webhook(stack, unknown, secret_value=secret(stack)).status_code == 404
    huge = json.dumps({"ticket_id": "1", "pad": "x" * 2_000_000}).encode()
    assert post_webhook(stack, huge, secret_value=secret(stack)).status_code == 413
    assert count(stack, jobs) == before


def test_the_api_key_never_reaches_the_log(stack):
    open_ticket(stack)
    assert FRESHDESK_KEY not in stack.logs()
    assert secret(stack) not in stack.logs()


def test_a_stalled_delivery_is_408_and_an_agent_reply_still_goes_out(stack):
    """A client that sends a Freshdesk delivery's headers and half its body, then nothing: it gets
    408 after the read deadline, and holds up nobody (a genuine reply is texted meanwhile)."""
    import socket
    from urllib.parse import urlsplit

    ticket = open_ticket(stack)
    address = urlsplit(stack.connector_url)
    body = json.dumps({"ticket_id": str(ticket["id"]), "event": "reply_sent"}).encode()
    stalled = []
    for _ in range(12):
        sock = socket.create_connection((address.hostname, address.port), timeout=30)
        sock.sendall(b"POST /webhooks/helpdesk/freshdesk HTTP/1.1\r\nHost: "
                     + address.netloc.encode() + b"\r\nContent-Type: application/json\r\n"
                     + SECRET_HEADER.encode() + b": " + secret(stack).encode() + b"\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
                     + body[: len(body) // 2])
        stalled.append(sock)
    try:
        agent_reply(stack.sandbox.helpdesk_url, ticket["id"], "Found it, ships today.")
        wait_for(lambda: len(handset(stack, ALICE)) == 2, timeout=15)
        assert stalled[0].recv(4096).startswith(b"HTTP/1.1 408")
    finally:
        for sock in stalled:
            sock.close()
    wait_for(lambda: settled(stack))
    assert handset(stack, ALICE)[1] == "Found it, ships today."

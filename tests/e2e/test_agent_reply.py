"""Zendesk → SMS over real HTTP: `policy apply` installs the webhook and trigger in the sandbox
Zendesk, an agent replies there, the sandbox fires its signed webhook at a connector process,
which texts the customer through the sandbox Twilio and hears back from its status callbacks."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import func, select

from adapters.helpdesk.zendesk import ZendeskClient
from connector.cli import cli
from connector.sandbox.runner import agent_reply, send_text
from connector.sandbox.signing import twilio_signature, zendesk_signature, zendesk_timestamp
from connector.sandbox.stack import SUPPORT_NUMBER, ZENDESK_EMAIL, ZENDESK_TOKEN, environment
from connector.store import conversations, jobs, outbound, reading
from connector.store.optouts import is_opted_out
from mappings.zendesk import REPLY_TRIGGER_TITLE

from .connector_process import Stack, connector_stack, settled, wait_for

pytestmark = pytest.mark.slow

ALICE = "+12025550142"
UNREACHABLE = "+12025553003"  # the sandbox Twilio answers "undelivered 30003" for …3003
UNSUBSCRIBED = "+12025553610"  # … and "failed 21610" in the status callback for …3610
NOTE_PREFIX = "[SMS connector]"


@pytest.fixture
def stack(tmp_path, stack_database):
    with connector_stack(tmp_path, database_url=stack_database) as running:
        assert policy(running, "apply").exit_code == 0
        yield running


def policy(stack: Stack, command: str):
    env = environment(stack.config)
    return CliRunner().invoke(cli, ["policy", command], env=env, catch_exceptions=False)


def open_ticket(stack: Stack, phone: str = ALICE) -> dict:
    """The customer texts in: a ticket, and the acknowledgement sent (or failed)."""
    send_text(stack.sandbox.twilio_url, phone, "my refund has not arrived yet",
              to_number=SUPPORT_NUMBER)
    [ticket] = wait_for(lambda: [t for t in stack.sms_tickets()
                                 if t["comments"] and phone in t["subject"]])
    wait_for(lambda: settled(stack))
    return ticket


def texts_to(stack: Stack, phone: str) -> list[dict]:
    return [m for m in stack.twilio_state()["messages"] if m["to"] == phone]


def ticket(stack: Stack, ticket_id: int) -> dict:
    return next(t for t in stack.zendesk_state()["tickets"] if t["id"] == ticket_id)


def notes(stack: Stack, ticket_id: int) -> list[str]:
    return [c["body"] for c in ticket(stack, ticket_id)["comments"]
            if not c["public"] and c["body"].startswith(NOTE_PREFIX)]


def webhook(stack: Stack) -> dict:
    [hook] = stack.zendesk_state()["webhooks"]
    return hook


def post_webhook(stack: Stack, body: bytes, *, secret: str | None = None,
                 timestamp: str | None = None, signature: str | None = None):
    secret = secret or webhook(stack)["signing_secret"]
    timestamp = timestamp or zendesk_timestamp()
    headers = {"Content-Type": "application/json",
               "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
               "X-Zendesk-Webhook-Signature": signature or zendesk_signature(secret, timestamp,
                                                                            body)}
    return requests.post(stack.connector_url + "/webhooks/helpdesk/zendesk", data=body,
                         headers=headers, timeout=10)


def job_count(stack: Stack, kind: str) -> int:
    with reading(stack.engine) as conn:
        return int(conn.execute(select(func.count()).select_from(jobs)
                                .where(jobs.c.kind == kind)).scalar_one())


# ------------------------------------------------------------------------------ policy apply


def test_policy_apply_installs_the_webhook_and_trigger_once(stack):
    state = stack.zendesk_state()
    hook = webhook(stack)
    assert hook["name"] == "[sms-connector] agent replies"
    assert hook["endpoint"] == stack.connector_url + "/webhooks/helpdesk/zendesk"
    assert hook["subscriptions"] == ["conditional_ticket_events"]
    [trigger] = [t for t in state["triggers"] if t["title"] == REPLY_TRIGGER_TITLE]
    conditions = {(c["field"], c["operator"], c["value"]) for c in trigger["conditions"]["all"]}
    assert conditions == {("comment_is_public", "is", "true"), ("role", "is_not", "end_user"),
                          ("current_via_id", "is_not", "5"), ("current_via_id", "is_not", "19"),
                          ("current_tags", "includes", "sms")}
    [action] = trigger["actions"]
    assert action["field"] == "notification_webhook" and action["value"][0] == hook["id"]
    assert json.loads(action["value"][1]) == {"ticket_id": "{{ticket.id}}"}
    again = policy(stack, "apply")
    assert again.exit_code == 0 and "nothing to change" in again.output
    plan = policy(stack, "plan")
    assert plan.exit_code == 0 and "0 to create, 0 to update, 0 to delete" in plan.output
    assert stack.zendesk_state()["triggers"] == state["triggers"]


def test_apply_repairs_a_hand_edited_trigger_and_leaves_others_alone(stack):
    client = ZendeskClient(stack.sandbox.zendesk_url, ZENDESK_EMAIL, ZENDESK_TOKEN)
    theirs = client.create_trigger({"title": "Notify requester", "conditions": {"all": [
        {"field": "update_type", "operator": "is", "value": "Create"}]},
        "actions": [{"field": "add_tags", "value": "hello"}]})
    ours = next(t for t in client.list_triggers() if t["title"] == REPLY_TRIGGER_TITLE)
    client.update_trigger(ours["id"], {"conditions": {"all": [
        {"field": "comment_is_public", "operator": "is", "value": "true"}]}})
    plan = policy(stack, "plan")
    assert plan.exit_code == 2  # drift: changes pending
    assert "update  trigger" in plan.output and "(conditions)" in plan.output
    assert "Notify requester" not in plan.output
    assert policy(stack, "apply").exit_code == 0
    assert "nothing to change" in policy(stack, "apply").output
    assert policy(stack, "plan").exit_code == 0
    survivors = {t["title"] for t in client.list_triggers()}
    assert theirs["title"] in survivors


# ------------------------------------------------------------------------------ agent replies


def test_agent_reply_reaches_the_customer_exactly_once(stack):
    first = open_ticket(stack)
    assert len(stack.handset(ALICE)) == 1  # the acknowledgement
    reply = ("Hi! We\u2019ve issued your refund \u2014 it should arrive in 3\u20135 days\u2026\n\n"
             "Best regards,\nAlex\nAcme Support")
    agent_reply(stack.sandbox.zendesk_url, first["id"], reply)
    wait_for(lambda: len(stack.handset(ALICE)) == 2)
    wait_for(lambda: settled(stack))
    received = stack.handset(ALICE)[1]
    # Signature dropped, curly quotes / dashes / ellipsis smart-encoded: one GSM-7 segment.
    assert received["body"] == "Hi! We've issued your refund - it should arrive in 3-5 days..."
    [message] = [m for m in texts_to(stack, ALICE) if m["sid"] == received["sid"]]
    assert message["num_segments"] == "1"
    # The status callbacks arrived and moved the status forward to delivered.
    assert [c["status"] for c in message["callbacks"]] == ["queued", "sent", "delivered"]
    with reading(stack.engine) as conn:
        row = conn.execute(select(outbound).where(outbound.c.source == "agent_reply")
                           ).mappings().one()
    assert row["provider_message_id"] == received["sid"] and row["status"] == "delivered"

    # Zendesk delivers again (same delivery replayed; a retry with a fresh signature): nothing.
    [delivery] = stack.zendesk_state()["deliveries"]
    attempt = delivery["attempts"][0]
    replay = post_webhook(stack, delivery["body"].encode(),
                          timestamp=attempt["signature_timestamp"])
    assert replay.status_code == 200
    retry = post_webhook(stack, delivery["body"].encode())
    assert retry.status_code == 200
    wait_for(lambda: settled(stack))
    assert len(stack.handset(ALICE)) == 2 and len(texts_to(stack, ALICE)) == 2
    assert notes(stack, first["id"]) == []


def test_a_public_merge_note_is_never_texted(stack):
    """An agent merges the customer's other ticket into the SMS ticket with a PUBLIC note: the
    trigger does not fire (current_via_id 19), and the next UI reply texts only that reply."""
    first = open_ticket(stack)
    assert len(stack.handset(ALICE)) == 1  # the acknowledgement
    other = requests.post(
        stack.sandbox.zendesk_url + "/api/v2/tickets",
        auth=(f"{ZENDESK_EMAIL}/token", ZENDESK_TOKEN),
        json={"ticket": {"requester_id": first["requester_id"], "subject": "refund, again",
                         "comment": {"body": "also by e-mail: where is my refund?"}}},
        timeout=10)
    assert other.status_code == 201, other.text
    deliveries = len(stack.zendesk_state()["deliveries"])
    merged = requests.post(
        stack.sandbox.zendesk_url + "/_sandbox/merge",
        json={"target_id": first["id"], "ids": [other.json()["ticket"]["id"]],
              "target_comment": "Merged your e-mail about the refund into this request.",
              "target_comment_is_public": True},
        timeout=10)
    assert merged.status_code == 200, merged.text
    wait_for(lambda: settled(stack))
    note = ticket(stack, first["id"])["comments"][-1]
    assert note["public"] and note["via"]["channel"] == "merge"
    assert len(stack.zendesk_state()["deliveries"]) == deliveries  # the trigger did not fire
    assert len(stack.handset(ALICE)) == 1

    agent_reply(stack.sandbox.zendesk_url, first["id"], "Your refund left today.")
    wait_for(lambda: len(stack.handset(ALICE)) == 2)
    wait_for(lambda: settled(stack))
    assert [m["body"] for m in stack.handset(ALICE)[1:]] == ["Your refund left today."]
    assert len(texts_to(stack, ALICE)) == 2


def test_a_21610_status_callback_records_the_opt_out_and_the_next_reply_is_not_texted(stack):
    """The acknowledgement is accepted, then fails with ErrorCode 21610 in its status callback:
    the opt-out is recorded, and the next agent reply is not texted."""
    first = open_ticket(stack, UNSUBSCRIBED)
    [ack] = texts_to(stack, UNSUBSCRIBED)
    assert ack["status"] == "failed" and str(ack["error_code"]) == "21610"
    assert ack["callbacks"][-1]["params"]["ErrorCode"] == "21610"
    with reading(stack.engine) as conn:
        channel_key = conn.execute(select(conversations.c.channel_key).where(
            conversations.c.customer_phone == UNSUBSCRIBED)).scalar_one()
        assert is_opted_out(conn, UNSUBSCRIBED, channel_key)
    agent_reply(stack.sandbox.zendesk_url, first["id"], "Your refund left today.")
    wait_for(lambda: settled(stack))
    time.sleep(0.5)
    wait_for(lambda: settled(stack))
    assert len(texts_to(stack, UNSUBSCRIBED)) == 1  # only the failed acknowledgement
    assert stack.handset(UNSUBSCRIBED) == []


def test_forged_or_stale_webhooks_get_403_and_queue_nothing(stack):
    first = open_ticket(stack)
    body = json.dumps({"ticket_id": str(first["id"])}).encode()
    before = job_count(stack, "outbound")
    stale = zendesk_timestamp(datetime.now(UTC) - timedelta(minutes=6))
    future = zendesk_timestamp(datetime.now(UTC) + timedelta(minutes=6))
    url = stack.connector_url + "/webhooks/helpdesk/zendesk"
    assert requests.post(url, data=body, timeout=10).status_code == 403  # unsigned
    assert post_webhook(stack, body, secret="not-the-secret").status_code == 403
    assert post_webhook(stack, body, timestamp=stale).status_code == 403
    assert post_webhook(stack, body, timestamp=future).status_code == 403
    tampered = post_webhook(stack, body, signature=zendesk_signature(
        webhook(stack)["signing_secret"], zendesk_timestamp(), b'{"ticket_id": "999"}'))
    assert tampered.status_code == 403
    assert post_webhook(stack, b"not json").status_code == 400
    assert post_webhook(stack, b'{"ticket": 1}').status_code == 400
    assert job_count(stack, "outbound") == before


def test_failed_delivery_becomes_exactly_one_private_note(stack):
    first = open_ticket(stack, UNREACHABLE)
    agent_reply(stack.sandbox.zendesk_url, first["id"], "Your refund was issued today.")
    wait_for(lambda: len(texts_to(stack, UNREACHABLE)) == 2)
    wait_for(lambda: settled(stack) and len(notes(stack, first["id"])) == 2)
    # Twilio repeats the final callback: still one note per failed text.
    [reply] = [m for m in texts_to(stack, UNREACHABLE) if m["body"].startswith("Your refund")]
    final = reply["callbacks"][-1]
    assert final["status"] == "undelivered"
    url = stack.connector_url + "/webhooks/sms/twilio/status"
    signature = twilio_signature(stack.config["twilio"]["auth_token"], url, final["params"])
    again = requests.post(url, data=final["params"], headers={"X-Twilio-Signature": signature},
                          timeout=10)
    assert again.status_code in (200, 204)
    wait_for(lambda: settled(stack))
    time.sleep(0.3)
    found = notes(stack, first["id"])
    assert len(found) == 2  # the acknowledgement and the reply, each once
    [about_reply] = [n for n in found if "Your refund was issued" in n]
    assert "30003" in about_reply and "unreachable" in about_reply
    assert stack.handset(UNREACHABLE) == []
    with reading(stack.engine) as conn:
        row = conn.execute(select(outbound).where(outbound.c.source == "agent_reply")
                           ).mappings().one()
    assert row["status"] == "undelivered" and row["error_code"] == "30003" and row["noted"]


def test_private_notes_and_the_connectors_own_comments_never_reach_the_customer(stack):
    first = open_ticket(stack)
    # An agent's private note: the trigger does not fire, and no later job texts it.
    agent_reply(stack.sandbox.zendesk_url, first["id"], "internal: check the ledger",
                public=False)
    # A public comment written through the API by the connector's own user (e.g. a log line).
    client = ZendeskClient(stack.sandbox.zendesk_url, ZENDESK_EMAIL, ZENDESK_TOKEN)
    client.update_ticket(first["id"], comment_body="Logged by the connector", public=True)
    # The customer writes again: an API comment by the end user.
    send_text(stack.sandbox.twilio_url, ALICE, "any news?", to_number=SUPPORT_NUMBER)
    wait_for(lambda: settled(stack) and len(ticket(stack, first["id"])["comments"]) >= 4)
    assert len(stack.handset(ALICE)) == 1  # still only the acknowledgement
    agent_reply(stack.sandbox.zendesk_url, first["id"], "It left our bank this morning.")
    wait_for(lambda: len(stack.handset(ALICE)) == 2)
    wait_for(lambda: settled(stack))
    bodies = [m["body"] for m in stack.handset(ALICE)]
    assert bodies[1] == "It left our bank this morning."
    assert len(bodies) == 2


def test_opted_out_customer_gets_nothing_and_the_agent_is_told(stack):
    first = open_ticket(stack)
    send_text(stack.sandbox.twilio_url, ALICE, "STOP", to_number=SUPPORT_NUMBER)
    wait_for(lambda: settled(stack))
    before = len(texts_to(stack, ALICE))
    agent_reply(stack.sandbox.zendesk_url, first["id"], "Sorry to see you go. " * 120)
    wait_for(lambda: settled(stack) and notes(stack, first["id"]))
    assert len(texts_to(stack, ALICE)) == before
    [note] = notes(stack, first["id"])
    assert "opted out" in note


def test_attachment_is_served_from_a_signed_media_url(stack):
    first = open_ticket(stack)
    client = ZendeskClient(stack.sandbox.zendesk_url, ZENDESK_EMAIL, ZENDESK_TOKEN)
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 256
    token = client.upload("label.png", png, "image/png")
    response = requests.post(stack.sandbox.zendesk_url + "/_sandbox/agent_reply", json={
        "ticket_id": first["id"], "body": "Here is your return label.", "uploads": [token]},
        timeout=10)
    assert response.status_code == 200, response.text
    wait_for(lambda: len(stack.handset(ALICE)) == 2)
    received = stack.handset(ALICE)[1]
    assert received["body"] == "Here is your return label."
    [media] = received["media"]
    assert media["url"].startswith(stack.connector_url + "/media/")
    assert media["content_type"] == "image/png"
    got = requests.get(media["url"], timeout=10)
    assert got.status_code == 200 and got.content == png
    key, expires, mac = media["url"].rsplit("/", 1)[1].split(".")
    forged = f"{stack.connector_url}/media/{key}.{int(expires) + 3600}.{mac}"
    assert requests.get(forged, timeout=10).status_code == 403
    assert requests.get(stack.connector_url + "/media/nonsense", timeout=10).status_code == 404

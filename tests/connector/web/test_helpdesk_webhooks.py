"""POST /webhooks/helpdesk/<kind> (here zendesk): the registered adapter verifies signature and
timestamp first, then one coalesced job; an unregistered kind is a 404."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from connector.config import settings_from_dict
from connector.runtime import Runtime
from connector.sandbox.signing import zendesk_signature, zendesk_timestamp
from connector.store import conversations, jobs, reading, schema
from connector.sync.policy import WEBHOOK_SECRET_KEY, kv_set
from connector.web import create_app

SECRET = "dGhlLXNlY3JldC1mcm9tLXplbmRlc2s"
KNOWN_TICKETS = (1, 7, 42, 43)
PATH = "/webhooks/helpdesk/zendesk"


def make(database_url: str, *, config_secret: str = "", stored_secret: str | None = SECRET):
    settings = settings_from_dict({
        "zendesk": {"subdomain": "acme", "webhook_secret": config_secret},
        "database": {"url": database_url}})
    runtime = Runtime(settings)
    schema.upgrade(runtime.engine)
    if stored_secret is not None:
        with runtime.engine.begin() as conn:
            kv_set(conn, WEBHOOK_SECRET_KEY, stored_secret)
    with runtime.engine.begin() as conn:  # the SMS conversations the tickets below belong to
        for n, ticket_id in enumerate(KNOWN_TICKETS, start=1):
            conn.execute(insert(conversations).values(
                id=n, customer_phone=f"+1202555{n:04d}", channel_key="+15005550006",
                helpdesk="zendesk", ticket_id=ticket_id, created_at=0.0, updated_at=0.0))
    return create_app(runtime=runtime).test_client(), runtime


@pytest.fixture
def client(database_url, engine):  # engine: a clean PostgreSQL schema too
    client, runtime = make(database_url)
    yield client
    runtime.close()


def post(client, body: bytes, *, secret: str = SECRET, timestamp: str | None = None,
         signature: str | None = None, headers: dict[str, str] | None = None):
    timestamp = timestamp or zendesk_timestamp()
    all_headers = {"Content-Type": "application/json",
                   "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
                   "X-Zendesk-Webhook-Signature": signature or zendesk_signature(secret, timestamp,
                                                                                body)}
    if headers is not None:
        all_headers = headers
    return client.post(PATH, data=body, headers=all_headers)


def outbound_jobs(client) -> list[dict]:
    runtime = client.application.extensions["sms_connector"]
    with reading(runtime.engine) as conn:
        return [dict(r) for r in conn.execute(select(jobs).where(jobs.c.kind == "outbound"))
                .mappings()]


BODY = json.dumps({"ticket_id": "42"}).encode()


def test_good_delivery_queues_one_job_for_the_ticket(client):
    response = post(client, BODY)
    assert response.status_code == 200
    assert response.json == {"status": "queued", "ticket_id": 42, "event": "reply"}
    [job] = outbound_jobs(client)
    assert job["payload"] == {"ticket_id": 42} and job["conversation_key"] == "ticket:42"


def test_a_second_reply_while_one_job_waits_is_coalesced(client):
    assert post(client, BODY).json["status"] == "queued"
    assert post(client, json.dumps({"ticket_id": 42, "n": 2}).encode()).json["status"] == \
        "coalesced"
    assert post(client, json.dumps({"ticket_id": 7}).encode()).json["status"] == "queued"
    assert len(outbound_jobs(client)) == 2


def test_same_signature_twice_is_accepted_both_times(client):
    """Two replies on one ticket within one second are signed identically: both must count (the
    job is idempotent per comment, so a true replay sends nothing; see the e2e test)."""
    timestamp = zendesk_timestamp()
    assert post(client, BODY, timestamp=timestamp).status_code == 200
    runtime = client.application.extensions["sms_connector"]
    with runtime.engine.begin() as conn:  # the first job ran
        conn.execute(jobs.update().values(status="done"))
    again = post(client, BODY, timestamp=timestamp)
    assert again.status_code == 200 and again.json["status"] == "queued"
    assert len(outbound_jobs(client)) == 2


@pytest.mark.parametrize("case", ["no_headers", "no_timestamp", "wrong_secret", "tampered",
                                  "stale", "future", "garbage_timestamp", "non_ascii_signature",
                                  "non_ascii_timestamp"])
def test_missing_bad_or_stale_signature_is_403_and_nothing_queued(client, case):
    now = datetime.now(UTC)
    if case == "no_headers":
        response = post(client, BODY, headers={"Content-Type": "application/json"})
    elif case == "no_timestamp":
        response = post(client, BODY, headers={"X-Zendesk-Webhook-Signature": "abc"})
    elif case == "wrong_secret":
        response = post(client, BODY, secret="another-secret")
    elif case == "tampered":
        timestamp = zendesk_timestamp()
        response = post(client, b'{"ticket_id": "43"}', timestamp=timestamp,
                        signature=zendesk_signature(SECRET, timestamp, BODY))
    elif case == "stale":
        response = post(client, BODY, timestamp=zendesk_timestamp(now - timedelta(minutes=5,
                                                                                  seconds=5)))
    elif case == "future":
        response = post(client, BODY, timestamp=zendesk_timestamp(now + timedelta(minutes=6)))
    elif case == "non_ascii_signature":  # headers arrive as latin-1 text
        response = post(client, BODY, signature="\u00e9" * 44)
    elif case == "non_ascii_timestamp":
        response = post(client, BODY, timestamp="\u00b2026-01-01T00:00:00Z")
    else:
        response = post(client, BODY, timestamp="yesterday")
    assert response.status_code == 403
    assert response.json["status"] == 403
    assert outbound_jobs(client) == []


def test_within_five_minutes_is_accepted(client):
    old = zendesk_timestamp(datetime.now(UTC) - timedelta(minutes=4, seconds=50))
    assert post(client, BODY, timestamp=old).status_code == 200


@pytest.mark.parametrize("body", [
    b"not json", b"[]", b'{"ticket": 1}', b'{"ticket_id": "abc"}', b'{"ticket_id": true}',
    b'{"ticket_id": -3}', b"\xff\xfe",
    # Hostile but signed: nested 10,000 deep (RecursionError), a 5,000-digit id (int() refuses
    # over 4,300 digits), a superscript digit, a float.
    b'{"x": ' + b"[" * 10000 + b"]" * 10000 + b', "ticket_id": 1}',
    b'{"ticket_id": "' + b"9" * 5000 + b'"}',
    json.dumps({"ticket_id": "\u00b2"}).encode(), b'{"ticket_id": 42.0}',
])
def test_malformed_payload_is_400_and_nothing_queued(client, body):
    response = post(client, body)
    assert response.status_code == 400
    assert outbound_jobs(client) == []


def test_config_secret_overrides_the_stored_one(database_url, engine):
    client, runtime = make(database_url, config_secret="from-config", stored_secret=SECRET)
    assert post(client, BODY).status_code == 403
    assert post(client, BODY, secret="from-config").status_code == 200
    runtime.close()


def test_without_any_secret_everything_is_refused(database_url, engine):
    client, runtime = make(database_url, stored_secret=None)
    assert post(client, BODY, secret="").status_code == 403
    assert post(client, BODY, secret="guess").status_code == 403
    with reading(runtime.engine) as conn:
        assert conn.execute(select(func.count()).select_from(jobs)).scalar_one() == 0
    runtime.close()


@pytest.mark.parametrize("kind", ["nosuchdesk", "Zendesk"])
def test_a_helpdesk_that_is_not_registered_is_404_and_nothing_queued(client, kind):
    timestamp = zendesk_timestamp()
    response = client.post(f"/webhooks/helpdesk/{kind}", data=BODY, headers={
        "Content-Type": "application/json",
        "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
        "X-Zendesk-Webhook-Signature": zendesk_signature(SECRET, timestamp, BODY)})
    assert response.status_code == 404
    assert outbound_jobs(client) == []


def test_ticket_id_in_other_digits_is_400(client):
    response = post(client, json.dumps({"ticket_id": "\u0664\u0662"}).encode())
    assert response.status_code == 400
    assert outbound_jobs(client) == []


@pytest.mark.parametrize("ticket_id", [44, 999999999999, 2**62])
def test_a_ticket_with_no_sms_conversation_is_404_and_nothing_queued(client, ticket_id):
    response = post(client, json.dumps({"ticket_id": ticket_id}).encode())
    assert response.status_code == 404
    assert response.json == {"error": "no SMS conversation on this ticket", "ticket_id": ticket_id}
    assert outbound_jobs(client) == []

"""POST /webhooks/sms/twilio/status: statuses move forward only; a failure queues one note."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import insert, select

from adapters.sms.twilio import TwilioClient
from connector.config import settings_from_dict
from connector.jobs.queue import Job
from connector.pipeline.status import NOTE_JOB, STATUS_JOB, failure_note, handle_note, handle_status
from connector.runtime import Runtime
from connector.sandbox.signing import twilio_signature
from connector.store import conversations, jobs, outbound, reading, schema
from connector.store.optouts import is_opted_out
from connector.web import create_app

TOKEN = "auth-token"
PUBLIC = "https://sms.example.com"
URL = PUBLIC + "/webhooks/sms/twilio/status"
SID = "SM" + "1" * 32
PHONE = "+12025553003"


class FakeZendesk:
    def __init__(self) -> None:
        self.notes: list[tuple[int, str, bool]] = []

    def add_private_note(self, ticket_id: int, text: str) -> None:
        self.notes.append((ticket_id, text, False))


@pytest.fixture
def app(database_url, engine):
    settings = settings_from_dict({
        "zendesk": {"subdomain": "acme"}, "database": {"url": database_url},
        "twilio": {"account_sid": "AC" + "0" * 32, "auth_token": TOKEN},
        "server": {"public_url": PUBLIC}})
    runtime = Runtime(settings)
    schema.upgrade(runtime.engine)
    runtime.__dict__["helpdesk"] = FakeZendesk()
    now = time.time()
    with runtime.engine.begin() as conn:
        conn.execute(insert(outbound).values(
            id=1, conversation_id=1, ticket_id=77, source="agent_reply", source_id="900", part=1,
            provider="twilio", to_number=PHONE, from_number="+12025550100", body="Refund issued.",
            media_urls=[], send_state="sent", status="queued", provider_message_id=SID,
            noted=False, created_at=now, updated_at=now))
    yield create_app(runtime=runtime)
    runtime.close()


def callback(app, status: str, *, sid: str = SID, error: str | None = None,
             token: str = TOKEN, to: str = PHONE, query: str = "", signed_query: str | None = None):
    params = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status,
              "AccountSid": "AC" + "0" * 32, "From": "+12025550100", "To": to}
    if error:
        params["ErrorCode"] = error
    signed = query if signed_query is None else signed_query
    signature = twilio_signature(token, URL + (f"?{signed}" if signed else ""), params)
    path = "/webhooks/sms/twilio/status" + (f"?{query}" if query else "")
    return app.test_client().post(path, data=urlencode(params),
                                  headers={"X-Twilio-Signature": signature},
                                  content_type="application/x-www-form-urlencoded")


def row(app) -> dict[str, Any]:
    runtime = app.extensions["sms_connector"]
    with reading(runtime.engine) as conn:
        return dict(conn.execute(select(outbound).where(outbound.c.id == 1)).mappings().one())


def queued(app, kind: str) -> list[dict[str, Any]]:
    runtime = app.extensions["sms_connector"]
    with reading(runtime.engine) as conn:
        return [dict(r) for r in conn.execute(select(jobs).where(jobs.c.kind == kind)).mappings()]


def job_of(record: dict[str, Any]) -> Job:
    return Job(id=record["id"], kind=record["kind"], conversation_key=record["conversation_key"],
               payload=record["payload"], attempts=1, max_attempts=8, lease_token="t",
               lease_expires_at=time.time() + 60)


def test_statuses_only_move_forward(app):
    for status in ("sending", "sent", "delivered", "sent", "queued", "sending"):
        assert callback(app, status).status_code == 204
    assert row(app)["status"] == "delivered"
    assert callback(app, "read").status_code == 204
    assert row(app)["status"] == "read"
    assert queued(app, NOTE_JOB) == []


def test_undelivered_queues_exactly_one_note_however_often_it_is_repeated(app):
    for status in ("sent", "undelivered", "undelivered", "sent", "failed"):
        callback(app, status, error="30003" if status in ("undelivered", "failed") else None)
    current = row(app)
    assert current["status"] == "undelivered" and current["error_code"] == "30003"
    [note_job] = queued(app, NOTE_JOB)
    runtime = app.extensions["sms_connector"]
    handle_note(runtime, job_of(note_job))
    handle_note(runtime, job_of(note_job))  # a retried note job
    [(ticket_id, body, public)] = runtime.helpdesk.notes
    assert ticket_id == 77 and not public
    assert body.startswith("[SMS connector] Your reply was not delivered by text")
    assert "Refund issued." in body and "30003" in body and "unreachable" in body
    assert row(app)["noted"] is True


def test_unknown_message_answers_and_changes_nothing(app):
    response = callback(app, "failed", sid="SM" + "9" * 32, error="30008", to="+12025550199")
    assert response.status_code == 204
    assert queued(app, NOTE_JOB) == [] and queued(app, STATUS_JOB) == []
    assert row(app)["status"] == "queued"


def test_a_callback_that_overtakes_the_send_is_parked_until_the_sid_is_stored(app):
    runtime = app.extensions["sms_connector"]
    with runtime.engine.begin() as conn:
        conn.execute(outbound.update().values(send_state="sending", provider_message_id=None,
                                              status=None))
    assert callback(app, "undelivered", error="30003").status_code == 204
    [parked] = queued(app, STATUS_JOB)
    from connector.errors import RetryableError

    with pytest.raises(RetryableError):
        handle_status(runtime, job_of(parked))
    with runtime.engine.begin() as conn:  # the send's answer lands
        conn.execute(outbound.update().values(send_state="sent", provider_message_id=SID,
                                              status="queued"))
    handle_status(runtime, job_of(parked))
    assert row(app)["status"] == "undelivered"
    assert len(queued(app, NOTE_JOB)) == 1


@pytest.mark.parametrize("case", ["unsigned", "wrong_token"])
def test_forged_callback_is_403_and_changes_nothing(app, case):
    if case == "unsigned":
        response = app.test_client().post("/webhooks/sms/twilio/status",
                                          data={"MessageSid": SID, "MessageStatus": "failed"})
    else:
        response = callback(app, "failed", error="30003", token="guess")
    assert response.status_code == 403
    assert row(app)["status"] == "queued" and queued(app, NOTE_JOB) == []


def test_callback_without_a_status_is_400(app):
    params = {"MessageSid": SID}
    signature = twilio_signature(TOKEN, URL, params)
    response = app.test_client().post("/webhooks/sms/twilio/status", data=urlencode(params),
                                      headers={"X-Twilio-Signature": signature},
                                      content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400


def test_failure_note_words():
    describe = TwilioClient("AC" + "0" * 32, "t").describe_error
    note = failure_note({"error_code": "30006", "source": "ack", "body": "We got your text",
                         "status": "undelivered"}, describe)
    assert note.startswith("The automatic acknowledgement was not delivered")
    assert "landline" in note


def test_a_callback_saying_the_customer_unsubscribed_records_the_opt_out(app):
    # With a Messaging Service, Twilio may accept the text and only then refuse it with 21610
    # in the status callback: the opt-out is recorded, as for the synchronous 21610.
    runtime = app.extensions["sms_connector"]
    now = time.time()
    with runtime.engine.begin() as conn:
        conn.execute(insert(conversations).values(
            id=1, customer_phone=PHONE, channel_key="+12025550100", helpdesk="zendesk",
            created_at=now, updated_at=now))
    assert callback(app, "failed", error="30003").status_code == 204  # not an opt-out
    with reading(runtime.engine) as conn:
        assert not is_opted_out(conn, PHONE, "+12025550100")
    assert callback(app, "failed", error="21610").status_code == 204  # a later, repeated code
    with reading(runtime.engine) as conn:
        assert is_opted_out(conn, PHONE, "+12025550100")
    assert row(app)["status"] == "failed"


def test_the_first_callback_names_its_text_and_ties_the_message_id_to_it(app):
    # The send asks for receipts at <status path>?outbound=<id>; Twilio signs that full URL.
    runtime = app.extensions["sms_connector"]
    with runtime.engine.begin() as conn:
        conn.execute(outbound.update().values(send_state="sending", provider_message_id=None,
                                              status=None))
    # A query the signature does not cover is refused; another row's id or number ties nothing.
    assert callback(app, "queued", query="outbound=1", signed_query="").status_code == 403
    assert callback(app, "queued", query="outbound=2").status_code == 204
    assert callback(app, "queued", query="outbound=1", to="+12025550199").status_code == 204
    assert row(app)["provider_message_id"] is None
    assert callback(app, "sent", query="outbound=1").status_code == 204
    current = row(app)
    assert current["provider_message_id"] == SID and current["status"] == "sent"
    assert current["send_state"] == "sending"  # the send job settles it, without searching
    assert callback(app, "delivered", query="outbound=1").status_code == 204
    assert row(app)["status"] == "delivered"

"""Inbound SMS webhooks: verify → record → enqueue → answer; no outside call in the request.

Twilio does not retry a failed SMS webhook (../shared/docs/reference/sms.md), so once the signature
checks out the text is kept whatever else is wrong with it: a number no channel knows, a sender
that is not a phone number. Such a text is stored as ``held`` and dead-lettered with an alert, for
an admin to route (``sms-connector dead-letters retry`` after fixing ``[[channels]]``).
"""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Response, abort, current_app, request
from flask.typing import ResponseReturnValue
from sqlalchemy import Connection, bindparam, insert, select

from adapters.sms.twilio import parse_inbound
from connector.jobs.queue import dead_letter, enqueue
from connector.runtime import Runtime
from connector.store import alerts, conversations, insert_ignore, messages
from connector.text.phones import mask_phone
from connector.web.twilio_auth import verified_form

log = logging.getLogger("sms_connector.inbound")
bp = Blueprint("sms_webhooks", __name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
INBOUND_JOB = "inbound"


def conversation_key(conversation_id: int) -> str:
    return f"conversation:{conversation_id}"


@bp.post("/webhooks/sms/twilio")
def twilio_inbound() -> ResponseReturnValue:
    runtime: Runtime = current_app.extensions["sms_connector"]
    form = verified_form(runtime, request)
    fields = form.to_dict(flat=True)
    missing = [name for name in ("MessageSid", "From", "To") if not fields.get(name)]
    if missing:
        abort(400, description=f"missing field(s): {', '.join(missing)}")
    now = time.time()
    try:
        sms = parse_inbound(fields)
    except ValueError as exc:
        # Signed by Twilio, so genuine: keep it, dead-letter it, answer 200 (Twilio won't retry).
        _hold(runtime, fields, reason=f"unreadable sender or fields: {exc}", now=now)
        return _twiml()
    channel = runtime.settings.channel_for(messaging_service_sid=sms.messaging_service_id,
                                          to_number=sms.to_number)
    row = {
        "provider": sms.provider,
        "provider_message_id": sms.provider_message_id,
        "from_number": sms.from_number,
        "to_number": sms.to_number,
        "body": sms.body,
        "media": [{"url": m.url, "content_type": m.content_type} for m in sms.media],
        "raw": sms.raw,
        "received_at": now,
    }
    if channel is None:
        _hold(runtime, fields, reason=(f"no [[channels]] entry for To={sms.to_number} "
                                       f"MessagingServiceSid={sms.messaging_service_id or '-'}"),
              now=now, row=row)
        return _twiml()
    with runtime.engine.begin() as conn:
        conversation_id = _conversation(conn, sms.from_number, channel.key,
                                        runtime.settings.helpdesk.kind, now)
        fresh = insert_ignore(conn, messages, {**row, "conversation_id": conversation_id,
                                               "channel_key": channel.key, "state": "pending"})
        if fresh:
            enqueue(conn, INBOUND_JOB, {"conversation_id": conversation_id},
                    conversation_key=conversation_key(conversation_id), coalesce=True,
                    max_attempts=runtime.settings.queue.max_attempts, now=now)
    if fresh:
        runtime.notify()
    else:
        log.info("repeated delivery ignored", extra={"message_sid": sms.provider_message_id})
    return _twiml()


def _twiml() -> Response:
    return Response(EMPTY_TWIML, mimetype="text/xml")


def _conversation(conn: Connection, phone: str, channel_key: str, helpdesk: str,
                  now: float) -> int:
    params = {"phone": phone, "channel": channel_key}
    found = conn.execute(_CONVERSATION, params).scalar()
    if found is None:
        insert_ignore(conn, conversations, {"customer_phone": phone, "channel_key": channel_key,
                                            "helpdesk": helpdesk, "created_at": now,
                                            "updated_at": now})
        found = conn.execute(_CONVERSATION, params).scalar_one()
    return int(found)


_CONVERSATION = select(conversations.c.id).where(
    conversations.c.customer_phone == bindparam("phone"),
    conversations.c.channel_key == bindparam("channel"),
)


def _hold(runtime: Runtime, fields: dict[str, str], *, reason: str, now: float,
          row: dict[str, object] | None = None) -> None:
    row = row or {
        "provider": "twilio",
        "provider_message_id": fields.get("MessageSid", ""),
        "from_number": fields.get("From", ""),
        "to_number": fields.get("To", ""),
        "body": fields.get("Body", ""),
        "media": [],
        "raw": fields,
        "received_at": now,
    }
    with runtime.engine.begin() as conn:
        if not insert_ignore(conn, messages, {**row, "state": "held"}):
            return  # a repeated delivery of a text already held
        message_id = conn.execute(
            select(messages.c.id).where(
                messages.c.provider == row["provider"],
                messages.c.provider_message_id == row["provider_message_id"],
            )
        ).scalar_one()
        dead_letter(conn, INBOUND_JOB, {"message_id": message_id}, f"held: {reason}", now=now)
        conn.execute(insert(alerts).values(kind="inbound_held", message=reason,
                                           details={"message_id": message_id}, created_at=now))
    log.error("inbound text held for an admin", extra={
        "reason": reason, "from": mask_phone(str(row["from_number"])), "message_id": message_id})

"""What a webhook records, in one transaction each, before it answers: a customer's text (and its
conversation's ``inbound`` job), a text held for an admin, a delivery receipt.

Called by the web layer (connector/web/) once an adapter has verified and parsed the delivery;
nothing here calls an outside system. SMS providers do not retry a failed inbound webhook
(../shared/docs/reference/sms.md), so once a text is genuine it is kept whatever else is wrong with
it: a number no channel knows, a sender that is not a phone number. Such a text is stored as
``held`` and dead-lettered with an alert, for an admin to route (``sms-connector dead-letters
retry`` after fixing ``[[channels]]``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, insert, select

from connector.jobs.queue import dead_letter, enqueue
from connector.model import DeliveryReceipt, InboundSms
from connector.pipeline.status import (
    IN_FLIGHT,
    PARKED_ATTEMPTS,
    STATUS_JOB,
    apply_receipt,
    opt_out_check,
)
from connector.store import alerts, conversations, insert_ignore, messages
from connector.text.phones import mask_phone

if TYPE_CHECKING:
    from connector.runtime import Runtime

log = logging.getLogger("sms_connector.inbound")

INBOUND_JOB = "inbound"


def conversation_key(conversation_id: int) -> str:
    """The queue key of a conversation: its jobs run one at a time, in order."""
    return f"conversation:{conversation_id}"


def message_row(sms: InboundSms, now: float) -> dict[str, Any]:
    return {
        "provider": sms.provider,
        "provider_message_id": sms.provider_message_id,
        "from_number": sms.from_number,
        "to_number": sms.to_number,
        "body": sms.body,
        "media": [{"url": m.url, "content_type": m.content_type} for m in sms.media],
        "raw": sms.raw,
        "received_at": now,
    }


def record_text(runtime: Runtime, sms: InboundSms, *, now: float) -> bool:
    """Keep a genuine text: its conversation's job queued, or held when no channel knows it.
    False for a repeated delivery (same provider message id), which changes nothing."""
    channel = runtime.settings.channel_for(messaging_service_sid=sms.messaging_service_id,
                                          to_number=sms.to_number)
    if channel is None or channel.provider != sms.provider:
        hold_text(runtime, sms, now=now, reason=(
            f"no [[channels]] entry of provider {sms.provider} for To={sms.to_number} "
            f"MessagingServiceSid={sms.messaging_service_id or '-'}"))
        return False
    row = message_row(sms, now)
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
    return bool(fresh)


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


def hold_text(runtime: Runtime, sms: InboundSms, *, reason: str, now: float) -> None:
    """Keep a genuine text that cannot be routed: stored ``held``, dead-lettered, alerted."""
    # channel_key keeps the sender pool the provider named, to route the text once an admin
    # adds the missing [[channels]] entry (pipeline/inbound.py _adopt_held).
    row = {**message_row(sms, now), "channel_key": sms.messaging_service_id}
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


def receipt_payload(receipt: DeliveryReceipt, outbound_id: int | None = None) -> dict[str, Any]:
    return {"provider": receipt.provider, "sid": receipt.provider_message_id,
            "status": receipt.status, "error_code": receipt.error_code, "to": receipt.to_number,
            "outbound_id": outbound_id}


def record_receipt(runtime: Runtime, receipt: DeliveryReceipt, *, now: float,
                   outbound_id: int | None = None) -> str:
    """Move a text's status forward (a failure queues its note; an "unsubscribed" error code
    records the opt-out). ``outbound_id``: the text the signed status URL names; its first
    receipt ties the message id to it. A receipt that overtook its
    send's answer is parked until the send stores the message id. The outcome (KNOWN …)."""
    payload = receipt_payload(receipt, outbound_id)
    sms = runtime.sms(receipt.provider)
    with runtime.engine.begin() as conn:
        outcome = apply_receipt(conn, payload, rank=sms.status_rank, now=now,
                                opted_out=opt_out_check(sms))
        if outcome == IN_FLIGHT:
            # The callback overtook the send's answer: apply it once the sid is stored.
            enqueue(conn, STATUS_JOB, payload,
                    conversation_key=f"sid:{receipt.provider_message_id}",
                    max_attempts=PARKED_ATTEMPTS, run_at=now + 0.2, now=now)
    runtime.notify()
    return outcome

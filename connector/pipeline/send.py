"""The ``send_sms`` job: send one recorded text exactly once.

States of an outbound row: ``intent`` (recorded) → ``sending`` (the call is about to go out) →
``sent`` | ``rejected`` (the provider refused: final) | ``blocked`` (opted out before it left).
A refusal whose code the provider's error table calls retryable goes back to ``intent`` and the
job is retried with backoff; only the last attempt's refusal is final.
A row found in ``sending`` had an attempt whose outcome is unknown (timeout, dropped connection,
worker killed): the provider is asked first (``find_sent``) and the text goes again only when it
was not sent. SMS APIs take no idempotency key (../shared/docs/reference/sms.md), so this is the
guard.

The text goes through the provider it was recorded for (``outbound.provider``, the channel's), and
asks for its receipts at that provider's status path.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from connector.errors import RateLimited, RetryableError, SmsRejected
from connector.jobs.queue import Job
from connector.model import ERROR_RETRYABLE, OutboundSms
from connector.pipeline.notes import note_once
from connector.store import conversations, outbound
from connector.store.optouts import is_opted_out, record_opt_out

if TYPE_CHECKING:
    from connector.ports import SmsProvider
    from connector.runtime import Runtime

log = logging.getLogger("sms_connector.send")
# Sources that may reach an opted-out number: the one STOP confirmation (CTIA).
ALLOWED_WHEN_OPTED_OUT = frozenset({"stop_confirmation"})


def _set(runtime: Runtime, outbound_id: int, **values: Any) -> None:
    with runtime.engine.begin() as conn:
        conn.execute(update(outbound).where(outbound.c.id == outbound_id)
                     .values(updated_at=runtime.clock.now(), **values))


def handle_send(runtime: Runtime, job: Job) -> None:
    outbound_id = int(job.payload["outbound_id"])
    with runtime.engine.begin() as conn:
        row = conn.execute(select(outbound).where(outbound.c.id == outbound_id)).mappings().one()
        channel_key = None
        if row["conversation_id"]:
            channel_key = conn.execute(
                select(conversations.c.channel_key)
                .where(conversations.c.id == row["conversation_id"])
            ).scalar()
        opted_out = channel_key is not None and is_opted_out(conn, row["to_number"], channel_key)
    state = row["send_state"]
    if state == "rejected" or state == "blocked":
        if state == "rejected" and not row["noted"] and row["source"] == "agent_reply":
            note_once(runtime, outbound_id,
                      _rejected_note(runtime.sms(row["provider"]), row["error_code"]))
        return
    if state == "sent":
        return
    if opted_out and row["source"] not in ALLOWED_WHEN_OPTED_OUT:
        _set(runtime, outbound_id, send_state="blocked")
        if row["source"] == "agent_reply":
            note_once(runtime, outbound_id,
                      "Not texted: the customer opted out of SMS (texted STOP). They can text "
                      "START to receive messages again.")
        return
    sms = _sender(runtime, row, channel_key)
    if state == "sending" and row["provider_message_id"]:
        # A receipt already tied the provider's message id to this row: it went out.
        _set(runtime, outbound_id, send_state="sent")
        return
    if state == "sending":
        since = datetime.fromtimestamp(row["updated_at"] - 5, tz=UTC)
        found = sms.find_sent(row["to_number"], row["from_number"], since, row["body"])
        if found is not None:
            _record_sent(runtime, sms, outbound_id, found.provider_message_id, found.status)
            return
    _set(runtime, outbound_id, send_state="sending")
    message = OutboundSms(
        to_number=row["to_number"],
        body=row["body"],
        from_number=row["from_number"],
        messaging_service_id=row["messaging_service_sid"],
        media_urls=tuple(row["media_urls"] or ()),
        # Our id in the (signed) status URL: the first receipt ties the message id to the row.
        status_callback=f"{runtime.public_url(sms.status_path)}?outbound={outbound_id}",
    )
    try:
        result = sms.send(message)
    except SmsRejected as exc:
        if sms.error_kind(exc.code) == ERROR_RETRYABLE and not job.last_attempt:
            # Refused for now (a full sender queue, say): nothing went out, so back to intent and
            # the queue's backoff; only the last attempt's refusal is noted as final.
            _set(runtime, outbound_id, send_state="intent")
            log.warning("text refused for now by the provider; will retry",
                        extra={"outbound_id": outbound_id, "code": exc.code})
            raise RetryableError(f"refused for now (error {exc.code}): {exc}") from exc
        _set(runtime, outbound_id, send_state="rejected", status="failed",
             error_code=str(exc.code) if exc.code is not None else None)
        if exc.opted_out and channel_key:
            with runtime.engine.begin() as conn:
                record_opt_out(conn, row["to_number"], channel_key,
                               source=f"provider_{exc.code}" if exc.code else "provider")
        log.warning("text refused by the provider", extra={"outbound_id": outbound_id,
                                                           "code": exc.code})
        if exc.opted_out and row["source"] == "stop_confirmation":
            # The provider opted the customer out before our confirmation could go: its own
            # STOP / HELP handling is still on, so the customer also got its answers.
            log.warning(
                f"STOP confirmation refused as opted out: {sms.name}'s own opt-out handling is "
                f"on. With {sms.name}.opt_out_handling = \"connector\", turn the provider's "
                "default opt-out handling off (README), or customers get two answers to HELP "
                "and never the connector's STOP confirmation",
                extra={"outbound_id": outbound_id, "code": exc.code})
        if row["source"] == "agent_reply":
            note_once(runtime, outbound_id, _rejected_note(sms, exc.code))
        return
    except RateLimited:
        _set(runtime, outbound_id, send_state="intent")  # a 429 means it was not sent
        raise
    _record_sent(runtime, sms, outbound_id, result.provider_message_id, result.status)


def _record_sent(runtime: Runtime, sms: SmsProvider, outbound_id: int, sid: str,
                 status: str) -> None:
    """Sent, with the provider's id; the status only moves forward (a receipt may be ahead)."""
    with runtime.engine.begin() as conn:
        current = conn.execute(select(outbound.c.status)
                               .where(outbound.c.id == outbound_id)).scalar()
        values: dict[str, Any] = {"send_state": "sent", "provider_message_id": sid,
                                  "updated_at": runtime.clock.now()}
        if sms.status_rank(status) > sms.status_rank(current):
            values["status"] = status
        conn.execute(update(outbound).where(outbound.c.id == outbound_id).values(**values))


def _sender(runtime: Runtime, row: Any, channel_key: str | None) -> SmsProvider:
    """The provider the text was recorded for, with its credentials required."""
    channel = runtime.channel(channel_key) if channel_key else None
    if channel is not None and channel.provider == row["provider"]:
        return runtime.sms_sender(channel)
    return runtime.sms(row["provider"])


def _rejected_note(sms: SmsProvider, code: Any) -> str:
    return f"Not texted: the SMS provider refused it (error {code}: {sms.describe_error(code)})."

"""Texts the connector is to send, recorded before they are sent.

``queue_sms`` writes the outbound row and its ``send_sms`` job in the caller's transaction. The row
is the intent: unique on (source, source_id, part) — an agent comment id, an acknowledgement of a
ticket — so a replayed webhook or a retried job can never queue the same text twice, and the send
handler (pipeline/send.py) reconciles an ambiguous attempt with the provider before sending again.
All texts to one customer go through one conversation key, so they leave in the order queued.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import Connection, select

from connector.config import ChannelSettings
from connector.jobs.queue import enqueue
from connector.store import insert_ignore, outbound

SEND_JOB = "send_sms"


def recipient_key(phone: str) -> str:
    return f"sms-to:{phone}"


def queue_sms(
    conn: Connection,
    *,
    source: str,
    source_id: str,
    to_number: str,
    body: str,
    channel: ChannelSettings,
    conversation_id: int | None = None,
    ticket_id: int | None = None,
    part: int = 1,
    media_urls: Sequence[str] = (),
    max_attempts: int = 8,
    now: float | None = None,
    suppressed: str | None = None,
) -> int | None:
    """Record one text, to go from ``channel``'s number or sender pool through its provider,
    and queue its send; None when that text was queued before."""
    now = time.time() if now is None else now
    inserted = insert_ignore(conn, outbound, {
        "conversation_id": conversation_id,
        "ticket_id": ticket_id,
        "source": source,
        "source_id": source_id,
        "part": part,
        "provider": channel.provider,
        "to_number": to_number,
        "from_number": channel.number,
        "messaging_service_sid": channel.messaging_service_sid,
        "body": body,
        "media_urls": list(media_urls),
        # Held back by a guard (connector/pipeline/guards.py): recorded with why, never sent.
        "send_state": "suppressed" if suppressed else "intent",
        "error_code": suppressed,
        "noted": False,
        "created_at": now,
        "updated_at": now,
    })
    if not inserted or suppressed:
        return None
    outbound_id = conn.execute(
        select(outbound.c.id).where(outbound.c.source == source,
                                    outbound.c.source_id == source_id, outbound.c.part == part)
    ).scalar_one()
    enqueue(conn, SEND_JOB, {"outbound_id": outbound_id}, conversation_key=recipient_key(to_number),
            max_attempts=max_attempts, now=now)
    return int(outbound_id)

"""Guards on what the connector texts by itself (acknowledgements, reminders).

- At most one automated text per customer per ``[escalation] automated_interval`` (default
  5 minutes): a customer whose ticket was solved and who texts again at once, or whose reminder
  falls right after an acknowledgement, is not texted twice in a row by a machine.
- A sender flooding the number (more than ``flood_texts`` texts within ``flood_window``: another
  bot, an auto-responder loop) gets no automated replies while it floods; its texts still reach
  its one ticket (they thread as always), which is tagged ``sms_flood``.

A suppressed text is still recorded (``outbound.send_state = "suppressed"``, ``error_code`` the
reason), so an admin sees what was held back and why; nothing is sent for it. Agent replies and
the compliance replies to STOP / HELP are never held back. The outage fan-out's texts
(connector/pipeline/outage.py) count as automated texts for the interval but are not held back
here: they carry the agents' updates on the outage (an ETA), which a customer has no other way
to get.
"""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from connector.config import ChannelSettings, EscalationSettings
from connector.pipeline.outbox import queue_sms
from connector.store import messages, outbound

__all__ = ["AUTOMATED_SOURCES", "FLOOD", "FLOOD_TAG", "INTERVAL", "SUPPRESSED", "flooding",
           "hold_back", "queue_automated"]

AUTOMATED_SOURCES = ("ack", "reminder", "outage")  # what counts for the interval
FLOOD_TAG = "sms_flood"
INTERVAL, FLOOD = "interval", "flood"  # the reasons, as recorded in outbound.error_code
SUPPRESSED = "suppressed"  # outbound.send_state of a held-back text


def flooding(conn: Connection, settings: EscalationSettings, phone: str, now: float) -> bool:
    """More texts from ``phone`` within the flood window than the setting allows."""
    count = conn.execute(select(func.count()).select_from(messages).where(
        messages.c.from_number == phone,
        messages.c.received_at > now - settings.flood_window)).scalar_one()
    return int(count) > settings.flood_texts


def hold_back(conn: Connection, settings: EscalationSettings, phone: str,
              now: float) -> str | None:
    """Why an automated text to ``phone`` must not go out now (``"flood"`` / ``"interval"``),
    or None."""
    if flooding(conn, settings, phone, now):
        return FLOOD
    if settings.automated_interval > 0:
        recent = conn.execute(select(outbound.c.id).where(
            outbound.c.to_number == phone, outbound.c.source.in_(AUTOMATED_SOURCES),
            outbound.c.send_state != SUPPRESSED,
            outbound.c.created_at > now - settings.automated_interval).limit(1)).first()
        if recent is not None:
            return INTERVAL
    return None


def queue_automated(conn: Connection, settings: EscalationSettings, *, source: str,
                    source_id: str, to_number: str, body: str, channel: ChannelSettings,
                    conversation_id: int | None, ticket_id: int | None,
                    now: float) -> tuple[int | None, str | None]:
    """``queue_sms`` for one of the connector's own texts, through the guards: the outbound id
    (None when not queued now) and why it was held back (None when it was not). A retried job
    gets the first run's decision, not one that counts its own earlier text."""
    earlier = conn.execute(select(outbound.c.send_state, outbound.c.error_code).where(
        outbound.c.source == source, outbound.c.source_id == source_id,
        outbound.c.part == 1)).first()
    if earlier is not None:
        return None, (earlier.error_code if earlier.send_state == SUPPRESSED else None)
    held = hold_back(conn, settings, to_number, now)
    queued = queue_sms(conn, source=source, source_id=source_id, to_number=to_number, body=body,
                       channel=channel, conversation_id=conversation_id, ticket_id=ticket_id,
                       now=now, suppressed=held)
    return queued, held

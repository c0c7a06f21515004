"""Guards on what the connector texts by itself (acknowledgements, reminders).

- At most one automated text per customer per ``[escalation] automated_interval`` (default
  5 minutes): a customer whose ticket was solved and who texts again at once, or whose reminder
  falls right after an acknowledgement, is not texted twice in a row by a machine.
- A sender flooding the number (more than ``flood_texts`` texts within ``flood_window``: another
  bot, an auto-responder loop) gets no automated replies while it floods; its texts still reach
  its one ticket (they thread as always), which is tagged ``sms_flood``.

A suppressed text is still recorded (``outbound.send_state = "suppressed"``, ``error_code`` the
reason), so an admin sees what was held back and why; nothing is sent for it. Agent replies and
the compliance replies to STOP / HELP are never held back.
"""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from connector.config import EscalationSettings
from connector.store import messages, outbound

__all__ = ["AUTOMATED_SOURCES", "FLOOD_TAG", "flooding", "hold_back"]

AUTOMATED_SOURCES = ("ack", "reminder")
FLOOD_TAG = "sms_flood"
INTERVAL, FLOOD = "interval", "flood"  # the reasons, as recorded in outbound.error_code


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
            outbound.c.send_state != "suppressed",
            outbound.c.created_at > now - settings.automated_interval).limit(1)).first()
        if recent is not None:
            return INTERVAL
    return None

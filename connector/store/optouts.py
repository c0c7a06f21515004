"""Who texted STOP: the connector's own opt-out list, per customer number and channel.

Twilio keeps its own list per sender (and answers STOP itself unless the account turned that off);
the connector keeps one too, so it never even tries to text an opted-out customer and can tell the
agent why (CTIA: honour STOP at once; ../shared/docs/reference/sms.md).
"""

from __future__ import annotations

import time

from sqlalchemy import Connection, delete, select

from connector.store import insert_ignore, opt_outs


def is_opted_out(conn: Connection, phone: str, channel_key: str) -> bool:
    row = conn.execute(
        select(opt_outs.c.phone).where(opt_outs.c.phone == phone,
                                       opt_outs.c.channel_key == channel_key)
    ).first()
    return row is not None


def record_opt_out(conn: Connection, phone: str, channel_key: str, *, source: str,
                   now: float | None = None) -> bool:
    """True when this is news (the number was not opted out yet)."""
    return insert_ignore(conn, opt_outs, {"phone": phone, "channel_key": channel_key,
                                          "opted_out_at": now or time.time(), "source": source})


def clear_opt_out(conn: Connection, phone: str, channel_key: str) -> bool:
    result = conn.execute(delete(opt_outs).where(opt_outs.c.phone == phone,
                                                 opt_outs.c.channel_key == channel_key))
    return bool(result.rowcount)

"""Private notes that tell the agent, inside the ticket, what happened to a text.

One note per outbound text at most: ``outbound.noted`` is set once the note is on the ticket, so a
repeated status callback or a retried job does not write it again.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from connector.store import outbound

if TYPE_CHECKING:
    from connector.runtime import Runtime

PREFIX = "[SMS connector]"


def note_once(runtime: Runtime, outbound_id: int, text: str) -> bool:
    """Add ``text`` as a private note on the text's ticket unless already noted; True if added."""
    with runtime.engine.begin() as conn:
        row = conn.execute(select(outbound).where(outbound.c.id == outbound_id)).mappings().one()
    if row["noted"] or not row["ticket_id"]:
        return False
    runtime.helpdesk.add_private_note(int(row["ticket_id"]), f"{PREFIX} {text}")
    with runtime.engine.begin() as conn:
        conn.execute(update(outbound).where(outbound.c.id == outbound_id)
                     .values(noted=True, updated_at=time.time()))
    return True

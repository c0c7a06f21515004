"""The escalation rules that follow a conversation after its first response: what each moment
of the conversation (connector/pipeline/conversation_events.py) sets or clears.

Each function runs inside the transaction that records the moment; it may be called again for
the same moment (a retried job, a redelivered webhook) and must then change nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from connector.model import Comment
from connector.pipeline import reminders

if TYPE_CHECKING:
    from connector.runtime import Runtime

__all__ = ["on_agent_replied", "on_customer_wrote", "on_ticket_changed", "on_ticket_opened"]


def on_ticket_opened(runtime: Runtime, conn: Connection, *, ticket_id: int,
                     conversation_id: int, scenario_id: str | None, tier: str | None,
                     message_ids: Sequence[int], at: float) -> None:
    """A new ticket holds the texts ``message_ids``."""


def on_customer_wrote(runtime: Runtime, conn: Connection, *, ticket_id: int,
                      conversation_id: int, message_ids: Sequence[int], at: float) -> None:
    """The customer's later texts ``message_ids`` reached the open ticket."""
    reminders.on_customer_wrote(runtime, conn, ticket_id=ticket_id,
                                conversation_id=conversation_id, message_ids=message_ids, at=at)


def on_agent_replied(runtime: Runtime, conn: Connection, *, ticket_id: int,
                     conversation_id: int, comments: Sequence[Comment]) -> None:
    """Public agent replies (oldest first; may repeat ones seen before)."""
    reminders.on_agent_replied(runtime, conn, ticket_id=ticket_id,
                               conversation_id=conversation_id, comments=comments)


def on_ticket_changed(runtime: Runtime, conn: Connection, *, ticket_id: int, state: str,
                      previous: str | None, at: float) -> None:
    """The ticket's state changed (or was told again)."""
    reminders.on_ticket_changed(runtime, conn, ticket_id=ticket_id, state=state,
                                previous=previous, at=at)

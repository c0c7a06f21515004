"""No customer response: a reminder text after the pack's wait, then the pack's action.

(Placeholder hooks; the rule is built in this module.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from connector.model import Comment

if TYPE_CHECKING:
    from connector.runtime import Runtime

__all__ = ["on_agent_replied", "on_customer_wrote", "on_ticket_changed"]


def on_agent_replied(runtime: Runtime, conn: Connection, *, ticket_id: int,
                     conversation_id: int, comments: Sequence[Comment]) -> None:
    """An agent answered: the customer's turn; the wait starts."""


def on_customer_wrote(runtime: Runtime, conn: Connection, *, ticket_id: int,
                      conversation_id: int, message_ids: Sequence[int], at: float) -> None:
    """The customer answered: no reminder, no action."""


def on_ticket_changed(runtime: Runtime, conn: Connection, *, ticket_id: int, state: str,
                      previous: str | None, at: float) -> None:
    """Solved or closed: nothing to remind of."""

"""The interfaces the pipeline depends on; adapters implement them, nothing else is imported.

- :class:`SmsProvider`: send a text, reconcile an ambiguous send, fetch inbound media.
- :class:`Helpdesk`: requesters, tickets, comments, uploads, as the inbound / outbound jobs
  use them.
- :class:`RateBudget`: the per-account API budget shared by every worker process (DB-backed in
  production); a helpdesk adapter asks it before each call and tells it about each 429.

Webhook parsing and signature checks are module functions of each SMS adapter
(``adapters.sms.twilio.parse_inbound`` …): the web layer needs them without a client instance.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from connector.model import (
    Comment,
    HelpdeskUser,
    OutboundSms,
    SendResult,
    Ticket,
)

__all__ = ["Helpdesk", "RateBudget", "SmsProvider"]


@runtime_checkable
class RateBudget(Protocol):
    """Calls left per endpoint class, shared by all workers of one helpdesk account.

    Endpoint classes follow how the helpdesk counts (Zendesk: ``"account"`` per minute;
    ``"ticket_update"`` 100 / min per account and 30 per ticket per 10 min, ``key`` = ticket id;
    https://developer.zendesk.com/api-reference/introduction/rate-limits/).
    """

    def before_call(self, endpoint_class: str, key: str | None = None) -> None:
        """Take one call from the budget; raise ``RateLimited(retry_after=…)`` when it is spent."""
        ...

    def record_retry_after(
        self, endpoint_class: str, seconds: float, key: str | None = None
    ) -> None:
        """The helpdesk answered 429: pause this class (and key) for ``seconds``."""
        ...


@runtime_checkable
class SmsProvider(Protocol):
    """An SMS API the outbound side sends through (Twilio first)."""

    provider: str

    def send(self, msg: OutboundSms) -> SendResult:
        """Send one text. Raises SmsRejected (final), RateLimited or TransientError (ambiguous)."""
        ...

    def find_sent(
        self, to: str, from_: str | None, since: datetime, body: str
    ) -> SendResult | None:
        """The message already accepted for ``to`` with this ``body`` since ``since``, if any.

        Called before re-sending after a TransientError, so a lost answer never sends twice.
        """
        ...

    def fetch_media(
        self, url: str, *, max_bytes: int, allowed_types: Sequence[str]
    ) -> tuple[bytes, str]:
        """An inbound attachment's bytes and content type; MediaUnavailable when it cannot be."""
        ...


@runtime_checkable
class Helpdesk(Protocol):
    """The ticket system the pipeline writes to and reads agent replies from."""

    provider: str

    @property
    def calls(self) -> Counter[str]:
        """API calls made, per method name and ``"total"`` (benchmarks report calls per message)."""
        ...

    def create_or_update_user(self, phone_e164: str, name: str | None = None) -> HelpdeskUser:
        """The end user for this phone (external id ``sms:+E164``), created when new."""
        ...

    def find_user_by_external_id(self, external_id: str) -> HelpdeskUser | None: ...

    def create_ticket(
        self,
        *,
        requester_id: int,
        subject: str,
        comment_body: str,
        public: bool = True,
        priority: str | None,
        tags: Sequence[str],
        idempotency_key: str,
        group_id: int | None = None,
        via_followup_source_id: int | None = None,
        uploads: Sequence[str] = (),
        ticket_type: str | None = None,
        problem_id: int | None = None,
    ) -> tuple[Ticket, bool]:
        """The new ticket, and True when the idempotency key matched an earlier creation."""
        ...

    def get_ticket(self, ticket_id: int) -> Ticket: ...

    def update_ticket(
        self,
        ticket_id: int,
        *,
        comment_body: str | None = None,
        public: bool = True,
        author_id: int | None = None,
        uploads: Sequence[str] = (),
        status: str | None = None,
        priority: str | None = None,
        additional_tags: Sequence[str] = (),
        remove_tags: Sequence[str] = (),
        updated_stamp: str | None = None,
    ) -> Ticket:
        """One update; with ``updated_stamp`` a concurrent change raises StaleUpdate.

        A closed ticket raises TicketClosed.
        """
        ...

    def requested_tickets(self, user_id: int) -> list[Ticket]:
        """The user's tickets, newest first (reconciles a creation whose answer was lost)."""
        ...

    def list_comments(
        self, ticket_id: int, *, newest_first: bool = True
    ) -> tuple[list[Comment], dict[int, HelpdeskUser]]:
        """Comments with their authors, in one call."""
        ...

    def upload(self, filename: str, content: bytes, content_type: str) -> str:
        """Store an attachment; the token goes into a comment's ``uploads``."""
        ...

"""The interfaces the pipeline depends on; adapters implement them, nothing else is imported.

- :class:`SmsProvider`: send a text, reconcile an ambiguous send, fetch inbound media.
- :class:`Helpdesk`: requesters, tickets, comments, uploads, as the inbound / outbound jobs
  use them.
- :class:`RateBudget`: the per-account API budget shared by every worker process (DB-backed in
  production); a helpdesk adapter asks it before each call and tells it about each 429.

Webhooks reach an adapter as a ``connector.webhooks.WebhookRequest`` (no web framework); the
web layer asks the runtime for the adapter the URL names and answers what the adapter says.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from connector.model import (
    Comment,
    DeliveryReceipt,
    HelpdeskUser,
    InboundSms,
    OutboundSms,
    SendResult,
    Ticket,
)
from connector.webhooks import WebhookAnswer, WebhookRequest

__all__ = ["Helpdesk", "Limit", "RateBudget", "SmsProvider"]


@dataclass(frozen=True)
class Limit:
    """``calls`` per ``window_seconds``, as a helpdesk counts them for one endpoint class."""

    calls: int
    window_seconds: float


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
    """An SMS provider: its webhooks in, texts out (adapters.sms.base.SmsAdapter implements it)."""

    @property
    def name(self) -> str:
        """The registry key: ``channels[].provider``, the ``/webhooks/sms/<name>`` segment."""
        ...

    # -- webhooks (no network) ------------------------------------------------------------------

    def inbound(self, request: WebhookRequest) -> InboundSms:
        """A customer's text, verified, numbers in E.164. Raises WebhookRejected (403 / 400) or
        UnreadableInbound (genuine but unroutable: keep and hold it)."""
        ...

    def status(self, request: WebhookRequest) -> DeliveryReceipt:
        """A delivery receipt, verified (403) and parsed (400)."""
        ...

    @property
    def inbound_answer(self) -> WebhookAnswer: ...

    @property
    def status_answer(self) -> WebhookAnswer: ...

    # -- the API --------------------------------------------------------------------------------

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

    # -- what the pipeline reads ----------------------------------------------------------------

    @property
    def answers_keywords(self) -> bool:
        """The provider itself answers STOP / START / HELP (the connector sends nothing)."""
        ...

    @property
    def media_max_bytes(self) -> int: ...

    @property
    def media_content_types(self) -> tuple[str, ...]: ...

    @property
    def status_path(self) -> str:
        """The path its delivery receipts arrive at (``StatusCallback``)."""
        ...

    def key_material(self) -> str | None: ...

    def keyword_hint(self, fields: Mapping[str, Any]) -> str | None:
        """stop / start / help when the provider's own fields say so."""
        ...

    def describe_error(self, code: int | str | None) -> str: ...

    def error_kind(self, code: int | str | None) -> str: ...

    def status_rank(self, status: str | None) -> int: ...


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

"""The interfaces the pipeline depends on; adapters implement them, nothing else is imported.

- :class:`SmsProvider`: send a text, reconcile an ambiguous send, fetch inbound media.
- :class:`Helpdesk`: requesters, tickets, comments, notes, attachments, as the inbound and
  agent-reply jobs use them, in the core's words (adapters.helpdesk.base.HelpdeskAdapter).
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
    Attachment,
    Comment,
    DeliveryReceipt,
    HelpdeskUser,
    InboundSms,
    NewTicket,
    OutboundSms,
    SendResult,
    Ticket,
    TicketUpdate,
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
    def media_max_bytes(self) -> int:
        """The largest single attachment fetched or sent."""
        ...

    @property
    def max_media_per_text(self) -> int:
        """How many attachments one outbound text may carry."""
        ...

    @property
    def max_media_bytes_per_text(self) -> int:
        """How many bytes of attachments one outbound text may carry in all."""
        ...

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
    """The ticket system the pipeline writes to and reads agent replies from, in the core's
    words (``connector.model``: ticket states, comment authors, priorities).

    Each adapter owns how its helpdesk does what is asked: creating a ticket exactly once,
    reconciling a write whose answer was lost, linking a ticket to the one it follows,
    recognising its own API user. Every call asks the shared rate budget first; a 429 raises
    RateLimited(retry_after) and nobody sleeps; timeouts and 5xx raise TransientError.
    """

    @property
    def calls(self) -> Counter[str]:
        """API calls made, per method name and ``"total"`` (benchmarks report calls per message)."""
        ...

    def ensure_requester(self, phone_e164: str, *, name: str | None = None) -> HelpdeskUser:
        """The helpdesk's person for this SMS number, created when new (one per number)."""
        ...

    def create_ticket(self, new: NewTicket) -> tuple[Ticket, bool]:
        """File ``new``; True when the helpdesk answered with a ticket an earlier call with the
        same ``new.key`` made (nothing was created twice)."""
        ...

    def resume_create(self, new: NewTicket) -> Ticket | None:
        """An earlier :meth:`create_ticket` of ``new`` lost its answer: the ticket it made, or
        None when it was never created (the caller then files it afresh, with a new key)."""
        ...

    def update(self, ticket_id: int, update: TicketUpdate) -> Ticket:
        """One write: the customer's texts (a public comment by ``update.author_id``), uploads,
        reopening or solving, priority, owner group (by name; one the helpdesk does not know is
        left out), tags. StaleUpdate when ``update.expected_version`` is no longer the ticket's
        version (nothing written); TicketClosed when the ticket can never be updated again."""
        ...

    def resume_update(self, ticket_id: int, update: TicketUpdate) -> Ticket | None:
        """An earlier :meth:`update` lost its answer: the ticket as it now is when that update
        is on it, None when it is not (the caller then sends it again)."""
        ...

    def add_private_note(self, ticket_id: int, text: str) -> None:
        """A comment only agents see, written by the connector; TicketClosed when closed."""
        ...

    def knows_group(self, name: str) -> bool:
        """True when the helpdesk has a group called ``name`` (the pack's owner group names)."""
        ...

    def get_ticket(self, ticket_id: int) -> Ticket: ...

    def list_comments(self, ticket_id: int) -> list[Comment]:
        """The ticket's newest comments, newest first, authors classified, in one call."""
        ...

    def upload(self, filename: str, content: bytes, content_type: str) -> str:
        """Store an attachment; the token goes into ``NewTicket`` / ``TicketUpdate.uploads``."""
        ...

    def download_attachment(
        self, attachment: Attachment, *, max_bytes: int, allowed_types: Sequence[str]
    ) -> tuple[bytes, str]:
        """An attachment's bytes and content type; MediaUnavailable(reason) when it cannot or
        must not be had (size, type, no URL, network)."""
        ...

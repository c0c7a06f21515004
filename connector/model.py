"""Typed events and values that cross the connector's layers.

Adapters turn provider payloads into these; the pipeline works only with these. Each event keeps
the provider's raw payload (``raw``) so nothing the provider sent is lost, even fields that appear
without notice (Twilio adds parameters over time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def iso_epoch(stamp: str | None) -> float | None:
    """A helpdesk's ISO 8601 timestamp (``2026-11-27T18:00:00Z``) as UNIX seconds; None if absent
    or unreadable."""
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


# Delivery statuses, in the order they may move (never backwards; see status.py).
STATUS_UNKNOWN = "unknown"
STATUS_ACCEPTED = "accepted"
STATUS_QUEUED = "queued"
STATUS_SENDING = "sending"
STATUS_SENT = "sent"
STATUS_DELIVERED = "delivered"
STATUS_UNDELIVERED = "undelivered"
STATUS_FAILED = "failed"
STATUS_READ = "read"

# Keywords a customer can text (../shared/docs/reference/sms.md, CTIA).
KEYWORD_STOP = "stop"
KEYWORD_START = "start"
KEYWORD_HELP = "help"


@dataclass(frozen=True)
class Media:
    """One MMS attachment as the provider announced it (not fetched yet)."""

    url: str
    content_type: str | None = None


@dataclass(frozen=True)
class InboundSms:
    """A customer's text as the provider delivered it, phone numbers already E.164."""

    provider: str
    provider_message_id: str
    from_number: str
    to_number: str
    body: str
    media: tuple[Media, ...] = ()
    messaging_service_id: str | None = None
    account_id: str | None = None
    num_segments: int | None = None
    opt_out_type: str | None = None  # Twilio Advanced Opt-Out: STOP / START / HELP
    received_at: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutboundSms:
    """A text the connector asks a provider to send."""

    to_number: str
    body: str
    from_number: str | None = None
    messaging_service_id: str | None = None
    media_urls: tuple[str, ...] = ()
    status_callback: str | None = None


@dataclass(frozen=True)
class SendResult:
    """What the provider answered to a send: its message id and first status."""

    provider_message_id: str
    status: str
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeliveryReceipt:
    """A status callback: the provider's message id moved to ``status``."""

    provider: str
    provider_message_id: str
    status: str
    error_code: str | None = None
    to_number: str | None = None
    from_number: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HelpdeskUser:
    id: int
    role: str  # end-user | agent | admin
    name: str | None = None
    external_id: str | None = None


@dataclass(frozen=True)
class Comment:
    """One ticket comment as the helpdesk lists it."""

    id: int
    author_id: int
    public: bool
    body: str
    html_body: str | None = None
    created_at: str | None = None
    via_channel: str | None = None
    attachments: tuple[dict[str, Any], ...] = ()
    author_role: str | None = None


@dataclass(frozen=True)
class Ticket:
    id: int
    status: str
    updated_at: str
    requester_id: int | None = None
    tags: tuple[str, ...] = ()
    priority: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    # The comment this create / update wrote, from the response's audit: lets the pipeline record
    # its own comments so the agent-reply path never texts them back.
    comment_id: int | None = None


@dataclass(frozen=True)
class AgentReply:
    """A public agent comment the connector is to text to the customer."""

    ticket_id: int
    comment_id: int
    author_id: int
    body: str
    html_body: str | None = None
    attachments: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Triage:
    """What the policy pack made of a text: scenario, tier and how to route it."""

    category: str
    tier: str
    priority: str
    tags: tuple[str, ...]
    group: str | None = None
    first_response_minutes: int | None = None
    flags: tuple[str, ...] = ()
    score: float = 0.0

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

# What an SMS provider's refusal means (its adapter's error table classifies each code).
ERROR_FINAL = "final"  # refused for good: note it on the ticket, never retry
ERROR_RETRYABLE = "retryable"  # refused for now (a full queue): try again with backoff
ERROR_OPT_OUT = "opt_out"  # the recipient unsubscribed: record the opt-out, then as final

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


# Ticket states in the core's words. Each helpdesk adapter maps its own vocabulary onto these at
# the boundary (and keeps the helpdesk's word in ``Ticket.raw``); a state it cannot place is
# UNKNOWN. The values are also what the store keeps in ``conversations.ticket_status``.
TICKET_NEW = "new"
TICKET_OPEN = "open"
TICKET_PENDING = "pending"  # waiting on the customer or a third party
TICKET_SOLVED = "solved"  # done, but the customer writing again may reopen it
TICKET_CLOSED = "closed"  # done for good: a later text needs a new ticket that follows it
TICKET_UNKNOWN = "unknown"
TICKET_STATES = frozenset({TICKET_NEW, TICKET_OPEN, TICKET_PENDING, TICKET_SOLVED,
                           TICKET_CLOSED, TICKET_UNKNOWN})

# What a helpdesk's delivery to /webhooks/helpdesk/<kind> is about (``webhook_event``).
EVENT_REPLY = "reply"  # an agent replied: text what is new
EVENT_STATE = "state"  # the ticket's status changed: remember it (helpdesks without versions)
EVENTS = frozenset({EVENT_REPLY, EVENT_STATE})

# Who wrote a comment, as the agent-reply flow needs to tell them apart.
AUTHOR_CUSTOMER = "customer"  # the requester (the connector writes their texts in their name)
AUTHOR_AGENT = "agent"  # a person on the support side (agents and admins alike)
AUTHOR_CONNECTOR = "connector"  # the connector's own API user: notes, logged messages
AUTHOR_SYSTEM = "system"  # rules, automations, or an author the helpdesk did not say
AUTHORS = frozenset({AUTHOR_CUSTOMER, AUTHOR_AGENT, AUTHOR_CONNECTOR, AUTHOR_SYSTEM})

# Ticket priorities in the core's words (the policy pack's tiers map onto these).
PRIORITY_LOW = "low"
PRIORITY_NORMAL = "normal"
PRIORITY_HIGH = "high"
PRIORITY_URGENT = "urgent"
PRIORITIES = (PRIORITY_LOW, PRIORITY_NORMAL, PRIORITY_HIGH, PRIORITY_URGENT)


@dataclass(frozen=True)
class HelpdeskUser:
    """A person in the helpdesk: the SMS requester, an agent, the connector's API user."""

    id: int
    kind: str = AUTHOR_CUSTOMER  # AUTHOR_CUSTOMER for end users, AUTHOR_AGENT for staff
    name: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Attachment:
    """A file on a helpdesk comment, as listed (not downloaded yet)."""

    name: str
    content_type: str | None
    size: int | None
    url: str


@dataclass(frozen=True)
class Comment:
    """One ticket comment as the helpdesk lists it, its author classified by the adapter."""

    id: int
    author_id: int
    author: str  # AUTHOR_*
    public: bool
    body: str
    html_body: str | None = None
    created_at: str | None = None  # ISO 8601
    from_integration: bool = False  # written through an API integration, not a person's UI
    attachments: tuple[Attachment, ...] = ()
    # Written by merging another ticket into this one (Zendesk: via "merge", id 19): the merge's
    # note can be public, but no agent wrote it to the customer.
    merged: bool = False
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Ticket:
    id: int
    state: str  # TICKET_*; the helpdesk's own word stays in ``raw``
    updated_at: str  # ISO 8601, when it last changed
    # What ``TicketUpdate.expected_version`` takes: the helpdesk's change marker (None when the
    # helpdesk cannot refuse a stale update).
    version: str | None = None
    requester_id: int | None = None
    tags: tuple[str, ...] = ()
    priority: str | None = None  # PRIORITY_* or None
    raw: dict[str, Any] = field(default_factory=dict)
    # The comment this create / update wrote, when the helpdesk's answer names it.
    comment_id: int | None = None


@dataclass(frozen=True)
class NewTicket:
    """A ticket the connector files for a customer's texts.

    ``key`` identifies the connector's operation: the adapter uses it to create the ticket at
    most once however often the call is repeated (:meth:`connector.ports.Helpdesk.resume_create`),
    and ``attempted_at`` (UNIX seconds of the first attempt) tells it how to find an earlier
    attempt whose answer was lost. ``follows`` is the customer's earlier ticket this one
    continues and ``follows_state`` that ticket's state when the decision was made: the adapter
    links the two the way its helpdesk can.
    """

    requester_id: int
    subject: str
    body: str
    key: str
    attempted_at: float
    priority: str | None = None  # PRIORITY_*
    tags: tuple[str, ...] = ()
    uploads: tuple[str, ...] = ()  # tokens from Helpdesk.upload
    follows: int | None = None
    follows_state: str | None = None  # TICKET_SOLVED or TICKET_CLOSED
    # The policy pack's group NAME for the scenario (``Scenario.group``), None when it names
    # none. An adapter resolves it to its helpdesk's group (Freshdesk: by name, falling back to
    # its configured group). The Zendesk adapter ignores it for now: routing for Zendesk comes
    # with the policy-as-code issue.
    group: str | None = None


@dataclass(frozen=True)
class TicketUpdate:
    """The customer's texts added to a ticket, and what they change, as ONE helpdesk write.

    ``body`` is written as a public comment by ``author_id`` (the requester), or, with
    ``private``, as a note only agents see, by the connector (``author_id`` None); ``reopen``
    sets a solved ticket open again; ``priority`` (PRIORITY_*) sets the ticket's priority;
    ``expected_version`` (a ``Ticket.version``) makes a concurrent change refuse the write with
    StaleUpdate instead of being overwritten.
    """

    body: str | None = None
    author_id: int | None = None
    uploads: tuple[str, ...] = ()
    reopen: bool = False
    add_tags: tuple[str, ...] = ()
    remove_tags: tuple[str, ...] = ()
    expected_version: str | None = None
    priority: str | None = None  # PRIORITY_*
    private: bool = False
    group: str | None = None  # the owner group, by the pack's name; the adapter resolves it
    solve: bool = False  # set the ticket solved (no customer response: the pack's action)


@dataclass(frozen=True)
class AgentReply:
    """A public agent comment the connector is to text to the customer."""

    ticket_id: int
    comment_id: int
    author_id: int
    body: str
    html_body: str | None = None
    attachments: tuple[Attachment, ...] = ()


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

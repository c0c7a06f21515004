"""What every SMS provider adapter shares: the fixed path of a webhook and the tables the
pipeline reads, so an adapter is its constants plus a few methods (django-anymail's
``webhooks/base.py`` and ``backends/base.py`` are the model).

An adapter subclasses :class:`SmsAdapter` and gives:

- ``name`` (its registry key and URL segment: ``/webhooks/sms/<name>``), ``settings_schema`` (its
  ``[<name>]`` config section), ``secret_keys``, ``required_for_api``;
- ``errors``: provider code → :class:`ErrorInfo` (final / retryable / opt-out, and the plain words
  an agent reads in the ticket's note); ``status_ranks``: delivery statuses in the order they may
  move (callbacks repeat and arrive out of order, so a status only ever moves up);
- ``verify`` (each signature scheme one function), ``parse_inbound`` and ``parse_status`` (the
  provider's fields → the core's events, phone numbers as the provider wrote them), the webhook
  answers, ``send``, ``find_sent`` (reconcile a send whose answer was lost), ``fetch_media``;
- ``answers_keywords``: whether the provider itself answers STOP / HELP.

The base owns the order: verify before anything in the body is trusted (403), then parse (400),
then the phone numbers in E.164 — a genuine text whose sender is no phone number is raised as
:class:`~connector.errors.UnreadableInbound`, which the web layer keeps and holds, never refuses.
Adapters never import Flask: the web layer hands them a :class:`WebhookRequest`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, ClassVar

from connector.config_fields import Section
from connector.errors import UnreadableInbound, WebhookRejected
from connector.model import (
    ERROR_FINAL,
    ERROR_OPT_OUT,
    ERROR_RETRYABLE,
    STATUS_ACCEPTED,
    STATUS_DELIVERED,
    STATUS_FAILED,
    STATUS_QUEUED,
    STATUS_READ,
    STATUS_SENDING,
    STATUS_SENT,
    STATUS_UNDELIVERED,
    STATUS_UNKNOWN,
    DeliveryReceipt,
    InboundSms,
    OutboundSms,
    SendResult,
)
from connector.text.phones import normalize_phone
from connector.webhooks import WebhookAnswer, WebhookRequest

__all__ = [
    "DEFAULT_STATUS_RANKS",
    "ERROR_FINAL",
    "ERROR_OPT_OUT",
    "ERROR_RETRYABLE",
    "ErrorInfo",
    "SmsAdapter",
]



@dataclass(frozen=True)
class ErrorInfo:
    words: str  # what it means, in words an agent can act on
    kind: str = ERROR_FINAL


# Shared delivery-status order (the core's constants); a provider adds its own words.
DEFAULT_STATUS_RANKS: Mapping[str, int] = {
    STATUS_UNKNOWN: 0,
    STATUS_ACCEPTED: 1,
    STATUS_QUEUED: 2,
    STATUS_SENDING: 3,
    STATUS_SENT: 4,
    STATUS_DELIVERED: 5,
    STATUS_UNDELIVERED: 5,
    STATUS_FAILED: 5,
    STATUS_READ: 6,
}


class SmsAdapter(ABC):
    """One SMS provider. Subclasses set the class constants and implement the abstract methods."""

    name: ClassVar[str]
    settings_schema: ClassVar[type[Section]]
    # Keys of the provider's section never printed (check-config) nor logged.
    secret_keys: ClassVar[frozenset[str]] = frozenset()
    # Keys that must be set before the provider's API is called (sending, media).
    required_for_api: ClassVar[tuple[str, ...]] = ()
    errors: ClassVar[Mapping[str, ErrorInfo]] = {}
    status_ranks: ClassVar[Mapping[str, int]] = DEFAULT_STATUS_RANKS
    inbound_answer: ClassVar[WebhookAnswer] = WebhookAnswer()
    status_answer: ClassVar[WebhookAnswer] = WebhookAnswer(status=204)
    # Where a number without a country code is read from (None: only +E.164 is accepted).
    default_region: ClassVar[str | None] = None

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: Any) -> SmsAdapter:
        """The adapter for the provider's ``[<name>]`` section."""
        return cls(settings)

    # -- config (class level: checked at start, before any instance exists) -------------------

    @classmethod
    def check_settings(cls, settings: Any) -> dict[str, str]:
        """Errors of the provider's section as ``{key: message}``; none by default."""
        return {}

    @classmethod
    def check_channel(cls, channel: Any) -> dict[str, str]:
        """Errors of a ``[[channels]]`` entry using this provider, as ``{key: message}``."""
        return {}

    # -- the fixed path of a webhook ------------------------------------------------------------

    def inbound(self, request: WebhookRequest) -> InboundSms:
        """A customer's text, verified and with its numbers in E.164.

        Raises WebhookRejected (403 / 400: nothing is stored) or UnreadableInbound (genuine but
        the sender is no phone number: the web layer keeps it and holds it for an admin).
        """
        self._verified(request)
        sms = self.parse_inbound(request)
        to_number = _phone_or_raw(sms.to_number, self.default_region)
        try:
            from_number = normalize_phone(sms.from_number, self.default_region)
        except ValueError as exc:
            raise UnreadableInbound(f"unreadable sender: {exc}",
                                    message=replace(sms, to_number=to_number)) from None
        return replace(sms, from_number=from_number, to_number=to_number)

    def status(self, request: WebhookRequest) -> DeliveryReceipt:
        """A delivery receipt, verified (403) and parsed (400)."""
        self._verified(request)
        receipt = self.parse_status(request)
        return replace(
            receipt,
            status=receipt.status.strip().lower(),
            to_number=_phone_or_raw(receipt.to_number, self.default_region)
            if receipt.to_number else None,
            from_number=_phone_or_raw(receipt.from_number, self.default_region)
            if receipt.from_number else None,
        )

    def _verified(self, request: WebhookRequest) -> None:
        if not self.verify(request):
            raise WebhookRejected(403, f"{self.name} signature missing or does not match")

    # -- what each provider implements ----------------------------------------------------------

    @abstractmethod
    def verify(self, request: WebhookRequest) -> bool:
        """True when the request is signed by the provider (constant-time compare).

        Raise WebhookRejected(400) for a body that cannot even be read to check it.
        """

    @abstractmethod
    def parse_inbound(self, request: WebhookRequest) -> InboundSms:
        """The provider's inbound fields as an InboundSms (numbers as sent); WebhookRejected(400)
        when a field the connector needs is missing."""

    @abstractmethod
    def parse_status(self, request: WebhookRequest) -> DeliveryReceipt:
        """The provider's status callback as a DeliveryReceipt; WebhookRejected(400) if unusable."""

    @abstractmethod
    def send(self, msg: OutboundSms) -> SendResult:
        """Send one text. Raises SmsRejected (final), RateLimited or TransientError (ambiguous)."""

    @abstractmethod
    def find_sent(self, to: str, from_: str | None, since: datetime,
                  body: str) -> SendResult | None:
        """The text already accepted for ``to`` with this ``body`` since ``since``, if any."""

    @abstractmethod
    def fetch_media(self, url: str, *, max_bytes: int,
                    allowed_types: Sequence[str]) -> tuple[bytes, str]:
        """An inbound attachment's bytes and type; MediaUnavailable(reason) when it cannot be."""

    # -- what the pipeline reads ----------------------------------------------------------------

    @property
    def answers_keywords(self) -> bool:
        """True when the provider itself answers STOP / START / HELP (the connector then sends
        nothing for those words)."""
        return True

    # What one outbound MMS may carry (Twilio: 10 media, 5 MB in all; past either the whole
    # message is refused or fails). A provider with other limits sets its own.
    max_media_per_text: ClassVar[int] = 10
    max_media_bytes_per_text: ClassVar[int] = 5 * 1024 * 1024

    @property
    def media_max_bytes(self) -> int:
        return int(getattr(self.settings, "media_max_bytes", 5 * 1024 * 1024))

    @property
    def media_content_types(self) -> tuple[str, ...]:
        return tuple(getattr(self.settings, "media_content_types", ()))

    def key_material(self) -> str | None:
        """A secret of the account to derive the media-URL signing key from when
        ``server.media_signing_key`` is empty; None when the provider has none."""
        return None

    def keyword_hint(self, fields: Mapping[str, Any]) -> str | None:
        """The keyword (stop / start / help) the provider says a text is, from its own fields
        (Twilio Advanced Opt-Out's ``OptOutType``); None when it says nothing."""
        return None

    @property
    def status_path(self) -> str:
        """Where this provider's delivery receipts arrive (``StatusCallback`` on each send)."""
        return f"/webhooks/sms/{self.name}/status"

    def describe_error(self, code: int | str | None) -> str:
        """What an error code means, in words an agent can act on."""
        text = str(code).strip() if code is not None else ""
        if not text:
            return "the text could not be delivered (no error code given)"
        info = self.errors.get(text)
        return info.words if info else f"the text could not be delivered ({self.name} error {text})"

    def error_kind(self, code: int | str | None) -> str:
        info = self.errors.get(str(code).strip()) if code is not None else None
        return info.kind if info else ERROR_FINAL

    def status_rank(self, status: str | None) -> int:
        """Move a text's status only to a higher rank; statuses not known rank 0."""
        return self.status_ranks.get((status or "").strip().lower(), 0)


def _phone_or_raw(value: str, default_region: str | None) -> str:
    try:
        return normalize_phone(value, default_region)
    except ValueError:
        # Short codes and channel addresses ("whatsapp:+1…") are not E.164 but still name a
        # channel; keep them as sent so the message is routed or held, never dropped.
        return value.strip()

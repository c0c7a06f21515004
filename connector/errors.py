"""The connector's one exception tree.

    ConnectorError                  root: everything the connector raises on purpose
    ├── RetryableError              the job is tried again later (``retry_after`` seconds if known)
    │   ├── RateLimited             an outside API answered 429; ``retry_after`` from its header
    │   └── TransientError          5xx, timeouts, dropped connections: the call may or may not
    │                               have taken effect, so the handler reconciles before repeating
    ├── PermanentError              retrying cannot help: the job goes straight to the dead letters
    ├── ExternalServiceError        an outside system answered with an error (provider, status,
    │   │                           response kept); ``retryable`` says which applies
    │   ├── StaleUpdate             409: a ``safe_update`` lost to a concurrent change; refetch
    │   ├── TicketClosed            422: the ticket is closed for good; open a follow-up ticket
    │   ├── TicketGone              404: the ticket no longer exists (deleted); open a new one
    │   └── SmsRejected             the SMS provider refused the send (Twilio 21xxx): final, never
    │                               retried; ``opted_out`` when the recipient texted STOP (21610)
    ├── MediaUnavailable            an MMS attachment could not (or must not) be fetched; ``reason``
    ├── WebhookRejected             a webhook the connector will not take: ``status`` 400 / 403
    │   └── UnreadableInbound       genuine (signed) but unusable as it is: kept and held, never
    │                               refused
    └── LeaseLost                   a worker tried to ack / fail a job whose lease it lost

    ConfigurationError              outside the tree on purpose, so ``except ConnectorError`` in
                                    a job handler never swallows a broken config (django-anymail)
"""

from __future__ import annotations

from typing import Any


class ConnectorError(Exception):
    """Root of every error the connector raises on purpose."""


class RetryableError(ConnectorError):
    """Try the job again later; ``retry_after`` (seconds) overrides the backoff when set."""

    def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(RetryableError):
    """An outside API said 429 Too Many Requests."""


class TransientError(RetryableError):
    """A timeout, dropped connection or 5xx: the outcome of the call is unknown."""


class PermanentError(ConnectorError):
    """Retrying cannot help; the job is dead-lettered with this message."""


class ExternalServiceError(ConnectorError):
    """An outside system answered with an error status.

    ``provider`` names the system (``zendesk``, ``twilio`` …), ``status`` is the HTTP status,
    ``code`` the provider's own error code when it has one, ``response`` the decoded body.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status: int | None = None,
        code: str | int | None = None,
        response: Any = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status
        self.code = code
        self.response = response
        self.retryable = retryable
        self.retry_after = retry_after


class LeaseLost(ConnectorError):
    """The job's lease ran out and another worker may own it: this worker must not ack it."""


class ConfigurationError(Exception):
    """The config is invalid; the message names the key path (``zendesk.subdomain: missing``)."""

    def __init__(self, message: str, *, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {}


class StaleUpdate(ExternalServiceError):
    """Zendesk answered 409 to a ``safe_update``: the ticket changed since ``updated_stamp``.

    Nothing was written; refetch the ticket and send the update again with the new stamp
    (https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#protecting-against-ticket-update-collisions).
    """


class TicketClosed(ExternalServiceError):
    """The ticket is closed and can never be updated again (Zendesk 422 ``ClosedTicket``).

    A customer writing again gets a new ticket linked with ``via_followup_source_id``.
    """


class TicketGone(ExternalServiceError):
    """The ticket no longer exists in the helpdesk: someone deleted it (Zendesk answers 404
    ``RecordNotFound`` to show and update of a deleted ticket).

    Nothing was written. The conversation forgets the ticket and the customer's texts go to a new
    one; there is nothing left to link the new ticket to.
    """


class SmsRejected(ExternalServiceError):
    """The SMS provider refused the send synchronously (Twilio HTTP 400 with a 21xxx code).

    Final: retrying cannot help. ``code`` is the provider's integer code, the message says what it
    means in plain words for a note on the ticket; ``opted_out`` is True when the refusal means the
    recipient unsubscribed (Twilio 21610), so the caller records the opt-out.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status: int | None = None,
        code: int | str | None = None,
        response: Any = None,
        opted_out: bool = False,
    ) -> None:
        super().__init__(
            message, provider=provider, status=status, code=code, response=response, retryable=False
        )
        self.opted_out = opted_out


class MediaUnavailable(ConnectorError):
    """An MMS attachment was not fetched: ``reason`` says why (``foreign_host``, ``too_large`` …).

    ``retryable`` is True when a later attempt may succeed (timeouts, 5xx, 429); the pipeline still
    delivers the text and notes the missing media on the ticket.
    """

    def __init__(
        self, message: str, *, reason: str, url: str | None = None, retryable: bool = False
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.url = url
        self.retryable = retryable


class WebhookRejected(ConnectorError):
    """A webhook delivery the connector will not take; the web layer answers ``status``.

    403: no, a wrong or a stale signature; 400: signed, but a field the connector needs is
    missing or malformed. ``description`` is what the answer says (never a secret).
    """

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


class UnreadableInbound(WebhookRejected):
    """A genuine (signed) text that cannot be routed as it is (a sender that is not a phone
    number): the provider will not retry, so it is kept and held for an admin, never refused.
    ``fields`` are what the provider sent; ``message`` is the text as far as it could be read."""

    def __init__(self, description: str, *, message: Any) -> None:
        super().__init__(200, description)
        self.message = message

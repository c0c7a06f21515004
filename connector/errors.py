"""The connector's one exception tree.

    ConnectorError                  root: everything the connector raises on purpose
    ├── RetryableError              the job is tried again later (``retry_after`` seconds if known)
    │   ├── RateLimited             an outside API answered 429; ``retry_after`` from its header
    │   └── TransientError          5xx, timeouts, dropped connections: the call may or may not
    │                               have taken effect, so the handler reconciles before repeating
    ├── PermanentError              retrying cannot help: the job goes straight to the dead letters
    ├── ExternalServiceError        an outside system answered with an error (provider, status,
    │                               response kept); ``retryable`` says which of the two above applies
    └── LeaseLost                   a worker tried to ack / fail a job whose lease it no longer holds

    ConfigurationError              outside the tree on purpose, so a ``except ConnectorError`` in a
                                    job handler never swallows a broken config (django-anymail's rule)
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
    """The configuration is invalid; the message names the key path (``zendesk.subdomain: missing``)."""

    def __init__(self, message: str, *, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {}

"""What every helpdesk adapter shares (django-anymail's ``backends/base.py`` is the model).

A helpdesk adapter subclasses :class:`HelpdeskAdapter` and gives its ``kind`` (registry key, URL
segment of ``/webhooks/helpdesk/<kind>``, config section ``[<kind>]``), its ``settings_schema``,
the rate limits its vendor counts (:meth:`rate_limits`, enforced through the database by the
runtime's shared budget), how its "an agent replied" webhook is verified and read, and the
ticket operations of :class:`connector.ports.Helpdesk` in the core's words.

The request path is fixed here, so an adapter is its constants plus a few methods:

    budget.before_call(class, key)      the narrower class first (``limit=``), then the account's
    one request                         auth, timeout, no redirects, counted in ``calls``
    2xx                                 the response (``_json``: its JSON object, else Transient)
    429                                 the budget is told (``_rate_limit_scope``), RateLimited
                                        with Retry-After (or ``default_retry_after``); nobody sleeps
    5xx, timeout, reset                 TransientError: the call may have taken effect
    other 3xx / 4xx                     ``_error``: the adapter picks StaleUpdate, TicketClosed or
                                        a plain ExternalServiceError (retryable=False)

``_paged`` follows a list's pages through the adapter's ``_next_url`` and refuses to return a
partial list.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

import requests

from adapters.http import CallCounter, decode_body, make_session, parse_retry_after, send
from connector.config_fields import Section
from connector.errors import ExternalServiceError, RateLimited, TransientError
from connector.model import (
    EVENT_REPLY,
    Attachment,
    Comment,
    HelpdeskUser,
    NewTicket,
    Ticket,
    TicketUpdate,
)
from connector.ports import Limit, RateBudget
from connector.webhooks import WebhookRequest

__all__ = ["ACCOUNT", "HelpdeskAdapter"]

ACCOUNT = "account"  # the budget's endpoint class every call spends


class HelpdeskAdapter(ABC):
    kind: ClassVar[str]
    settings_schema: ClassVar[type[Section]]
    # Keys of the helpdesk's section never printed (check-config) nor logged.
    secret_keys: ClassVar[frozenset[str]] = frozenset()
    # Keys that must be set before the helpdesk's API is called.
    required_for_api: ClassVar[tuple[str, ...]] = ()

    # -- the request plumbing's constants ---------------------------------------------------------

    api_path: ClassVar[str] = ""  # the API's root under base_url ("/api/v2")
    default_retry_after: ClassVar[float] = 60.0  # a 429 without Retry-After waits this long
    max_pages: ClassVar[int] = 100  # a list longer than this is an error, not a partial list
    page_size: ClassVar[int] = 100

    def __init__(
        self,
        base_url: str,
        *,
        auth: tuple[str, str] | None,
        timeout: float = 10.0,
        session: requests.Session | None = None,
        budget: RateBudget | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        base = base_url.rstrip("/")
        if self.api_path and base.endswith(self.api_path):
            base = base[: -len(self.api_path)]
        self.base_url = base
        self.api_url = base + self.api_path
        self._auth = auth
        self.timeout = timeout
        self.session = make_session(session)
        self.budget = budget
        self.clock = clock
        self.calls = CallCounter()

    # -- config (class level: checked at start) -------------------------------------------------

    @classmethod
    def check_settings(cls, settings: Any) -> dict[str, str]:
        """Errors of the helpdesk's section as ``{key: message}`` (when it is the one in use)."""
        return {}

    @classmethod
    def rate_limits(cls, settings: Any) -> tuple[str, dict[str, Limit], dict[str, Limit]]:
        """``(account id, limits per endpoint class, limits per endpoint class and key)``."""
        return "", {}, {}

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Any, *, budget: RateBudget | None = None,
                      clock: Callable[[], float] = time.time) -> Self:
        """The adapter for this section, asking ``budget`` before each call; ``clock`` is the
        runtime's (a creation's age is judged on the same clock that stamped it)."""

    # -- the "an agent replied" webhook (no network, no instance) -------------------------------

    @classmethod
    def webhook_secret_setting(cls, settings: Any) -> str:
        """The signing secret set in the config (wins over the one ``policy apply`` stored)."""
        return str(getattr(settings, "webhook_secret", "") or "")

    @classmethod
    @abstractmethod
    def verify_webhook(cls, request: WebhookRequest, secret: str) -> bool:
        """True when the delivery is genuine (constant-time compare, freshness checked); False,
        never an exception, for anything else (missing, malformed, non-ASCII headers)."""

    @classmethod
    @abstractmethod
    def webhook_ticket_id(cls, request: WebhookRequest) -> int:
        """The ticket the delivery is about; WebhookRejected(400) when it names none."""

    @classmethod
    def webhook_event(cls, request: WebhookRequest) -> str:
        """What a verified delivery is about: ``EVENT_REPLY`` (text new agent replies) or
        ``EVENT_STATE`` (the ticket's status changed: read and remember it; a helpdesk without
        conditional writes installs a rule for that). Anything unreadable is a reply: the job
        then reads the comments, which is always safe."""
        return EVENT_REPLY

    @classmethod
    def webhook_headers(cls) -> Mapping[str, str]:
        return {}

    # -- the port (connector.ports.Helpdesk), in the core's words -------------------------------

    @abstractmethod
    def ensure_requester(self, phone_e164: str, *, name: str | None = None) -> HelpdeskUser: ...

    @abstractmethod
    def create_ticket(self, new: NewTicket) -> tuple[Ticket, bool]: ...

    @abstractmethod
    def resume_create(self, new: NewTicket) -> Ticket | None: ...

    @abstractmethod
    def update(self, ticket_id: int, update: TicketUpdate) -> Ticket: ...

    @abstractmethod
    def resume_update(self, ticket_id: int, update: TicketUpdate) -> Ticket | None: ...

    @abstractmethod
    def add_private_note(self, ticket_id: int, text: str) -> None: ...

    @abstractmethod
    def knows_group(self, name: str) -> bool: ...

    @abstractmethod
    def get_ticket(self, ticket_id: int) -> Ticket: ...

    @abstractmethod
    def list_comments(self, ticket_id: int) -> list[Comment]: ...

    @abstractmethod
    def upload(self, filename: str, content: bytes, content_type: str) -> str: ...

    @abstractmethod
    def download_attachment(
        self, attachment: Attachment, *, max_bytes: int, allowed_types: Sequence[str]
    ) -> tuple[bytes, str]: ...

    # -- outages: one problem / tracker ticket linking the reports (optional) -------------------

    # True when the helpdesk can link tickets under one problem / tracker (the methods below).
    supports_problems: ClassVar[bool] = False

    def create_problem(self, new: NewTicket, incidents: Sequence[int]) -> Ticket:
        """File ``new`` as the helpdesk's problem / tracker ticket with ``incidents`` linked
        under it (once per ``new.key``, as :meth:`create_ticket`); its description is a private
        note for agents."""
        raise NotImplementedError(f"{self.kind}: no problem / tracker tickets")

    def resume_problem(self, new: NewTicket, incidents: Sequence[int]) -> Ticket | None:
        """An earlier :meth:`create_problem` lost its answer or stopped half way: the problem
        it made, with every one of ``incidents`` linked now, or None when it was never made."""
        raise NotImplementedError(f"{self.kind}: no problem / tracker tickets")

    def link_to_problem(self, ticket_id: int, problem_id: int) -> None:
        """Link ``ticket_id`` under the problem / tracker ``problem_id``; linking it again is
        harmless."""
        raise NotImplementedError(f"{self.kind}: no problem / tracker tickets")

    # -- requests -------------------------------------------------------------------------------

    def _request(
        self,
        name: str,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        limit: tuple[str, str] | None = None,
    ) -> requests.Response:
        """One API call named ``name`` (for ``calls`` and messages); ``limit`` is a narrower
        budget class and key this call also spends (a per-ticket update limit)."""
        if self.budget is not None:
            if limit is not None:
                self.budget.before_call(*limit)
            self.budget.before_call(ACCOUNT)
        url = path_or_url if "://" in path_or_url else self.api_url + path_or_url
        all_headers = {"Accept": "application/json"}
        all_headers.update(headers or {})
        self.calls.record(name)
        response = send(
            self.session,
            method,
            url,
            provider=self.kind,
            timeout=self.timeout,
            params=params,
            json=json,
            data=data,
            headers=all_headers,
            auth=self._auth,
            # A helpdesk API does not redirect; one that does points at a misconfigured
            # base_url, and following it could carry the credentials elsewhere.
            allow_redirects=False,
        )
        if response.status_code >= 300:
            self._raise(name, response, limit)
        return response

    def _json(self, name: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return self._json_body(self._request(name, method, path, **kwargs))

    def _json_body(self, response: requests.Response) -> dict[str, Any]:
        body = decode_body(response)
        if not isinstance(body, dict):
            # A 2xx without the JSON object asked for (a proxy's HTML page, a truncated body).
            raise TransientError(f"{self.kind}: HTTP {response.status_code} without a JSON object")
        return body

    def _raise(self, name: str, response: requests.Response,
               limit: tuple[str, str] | None) -> None:
        status = response.status_code
        body = decode_body(response)
        code, description = self._error_words(body)
        message = f"{self.kind} {name}: HTTP {status}" + (f" {code}" if code else "")
        if description:
            message += f": {description}"
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is None:
                retry_after = self.default_retry_after
            if self.budget is not None:
                endpoint_class, key = self._rate_limit_scope(response, limit)
                self.budget.record_retry_after(endpoint_class, retry_after, key)
            raise RateLimited(message, retry_after=retry_after)
        if status >= 500:
            raise TransientError(
                message, retry_after=parse_retry_after(response.headers.get("Retry-After"))
            )
        raise self._error(message, status, code, body)

    # -- hooks an adapter overrides -------------------------------------------------------------

    def _error(self, message: str, status: int, code: str | None,
               body: Any) -> ExternalServiceError:
        """The exception for a 3xx / 4xx other than 429 (StaleUpdate, TicketClosed …)."""
        return ExternalServiceError(message, provider=self.kind, status=status, code=code,
                                    response=body, retryable=False)

    def _error_words(self, body: Any) -> tuple[str | None, str | None]:
        """The helpdesk's error code and description in an error body."""
        if isinstance(body, str) and body.strip():
            return None, body.strip()[:200]
        return None, None

    def _rate_limit_scope(self, response: requests.Response,
                          limit: tuple[str, str] | None) -> tuple[str, str | None]:
        """Which budget a 429 pauses: the whole account unless the adapter can tell better."""
        return ACCOUNT, None

    def _next_url(self, data: Mapping[str, Any]) -> str | None:
        """The next page of a list answer, or None on the last page."""
        return None

    # -- lists ----------------------------------------------------------------------------------

    def _paged(self, name: str, path: str, key: str,
               params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every item of a list, page after page through :meth:`_next_url`."""
        items: list[dict[str, Any]] = []
        url = path
        query: Mapping[str, Any] | None = params
        for _ in range(self.max_pages):
            data = self._json(name, "GET", url, params=query)
            items.extend(data.get(key) or [])
            nxt = self._next_url(data)
            if nxt is None:
                return items
            url, query = self._on_our_base(nxt), None  # the next link carries its own query
        # A partial list would make policy apply create duplicates of what it did not see.
        raise ExternalServiceError(f"{self.kind} {name}: more than {self.max_pages} pages",
                                   provider=self.kind, retryable=False)

    def _on_our_base(self, url: str) -> str:
        """A link the helpdesk built from its own host, moved onto the configured base URL:
        behind a proxy, an EU data centre or the sandbox that host is not ours and must not
        receive the credentials."""
        split = urlsplit(url)
        path = split.path
        if self.api_path and self.api_path in path:
            path = path.split(self.api_path, 1)[1]
        return self.api_url + path + (f"?{split.query}" if split.query else "")

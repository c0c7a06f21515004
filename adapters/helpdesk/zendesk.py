"""Zendesk Support API adapter: plain ``requests`` (zenpy is GPLv3 and cannot send an
Idempotency-Key or leave a 429 to the caller instead of sleeping).

Every call: the shared rate budget first, then one request through the injected session, then the
status translated into the connector's exception tree:

    429                    RateLimited(retry_after)      the budget is told, nobody sleeps
    5xx, timeout, reset    TransientError                the call may have taken effect
    409                    StaleUpdate                   a safe_update lost to a concurrent change
    422 closed ticket      TicketClosed                  open a follow-up ticket instead
    other 4xx / 3xx        ExternalServiceError          retryable=False

Traps (../shared/docs/reference/zendesk.md): ``tags`` on update replaces every tag, so only
``additional_tags`` / ``remove_tags`` are sent; ``Idempotency-Key`` works on creation only;
``safe_update`` needs the ticket's ``updated_at`` as ``updated_stamp``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from marshmallow import fields as mf
from marshmallow import validate

from adapters.helpdesk.base import HelpdeskAdapter
from adapters.http import (
    CallCounter,
    decode_body,
    download,
    make_session,
    parse_retry_after,
    send,
)
from connector.config_fields import Section
from connector.errors import (
    ExternalServiceError,
    RateLimited,
    StaleUpdate,
    TicketClosed,
    TransientError,
    WebhookRejected,
)
from connector.model import Comment, HelpdeskUser, Ticket
from connector.ports import Limit, RateBudget
from connector.webhooks import WebhookRequest

__all__ = ["ZendeskClient", "verify_zendesk"]

PROVIDER = "zendesk"
SMS_EXTERNAL_ID_PREFIX = "sms:"

# Zendesk's account limits are per minute; a 429 without Retry-After waits out one window.
# https://developer.zendesk.com/api-reference/introduction/rate-limits/
DEFAULT_RETRY_AFTER = 60.0
# Lists are followed page by page; a bound keeps a misbehaving server from looping us forever.
MAX_PAGES = 100
PAGE_SIZE = 100


SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"


@dataclass(frozen=True)
class ZendeskSettings:
    subdomain: str = ""
    email: str = ""
    api_token: str = ""
    base_url: str = ""
    webhook_secret: str = ""
    timeout: float = 10.0
    requests_per_minute: int = 200
    ticket_updates_per_minute: int = 100
    updates_per_ticket_per_10_minutes: int = 30

    @property
    def effective_base_url(self) -> str:
        return (self.base_url or f"https://{self.subdomain}.zendesk.com").rstrip("/")


class ZendeskSchema(Section):
    settings_class = ZendeskSettings
    subdomain = mf.String(validate=validate.Regexp(r"^[a-z0-9][a-z0-9-]*$",
                                                   error="not a Zendesk subdomain (e.g. acme)"))
    email = mf.String()
    api_token = mf.String()
    base_url = mf.String(validate=validate.Regexp(r"^(https?://\S+)?$", error="not a URL"))
    webhook_secret = mf.String()
    timeout = mf.Float(validate=validate.Range(0.1, 120))
    requests_per_minute = mf.Integer(validate=validate.Range(1, 100000))
    ticket_updates_per_minute = mf.Integer(validate=validate.Range(1, 100000))
    updates_per_ticket_per_10_minutes = mf.Integer(validate=validate.Range(1, 100000))


class ZendeskClient(HelpdeskAdapter):
    """One Zendesk account. Not thread-safe for ``calls`` accuracy; one client per worker."""

    kind = PROVIDER
    provider = PROVIDER
    settings_schema = ZendeskSchema
    secret_keys = frozenset({"api_token", "webhook_secret"})
    required_for_api = ("email", "api_token")

    @classmethod
    def check_settings(cls, settings: ZendeskSettings) -> dict[str, str]:
        if not settings.subdomain and not settings.base_url:
            return {"subdomain": "missing"}  # a base_url alone (proxy, sandbox) is enough
        return {}

    @classmethod
    def rate_limits(cls, settings: ZendeskSettings) -> tuple[str, dict[str, Limit],
                                                             dict[str, Limit]]:
        """Per account per minute, and Update Ticket: 100 per minute per account and 30 per
        ticket per 10 minutes (https://developer.zendesk.com/api-reference/introduction/rate-limits/)."""
        return (
            f"zendesk:{settings.subdomain or settings.base_url}",
            {"account": Limit(settings.requests_per_minute, 60.0),
             "ticket_update": Limit(settings.ticket_updates_per_minute, 60.0)},
            {"ticket_update": Limit(settings.updates_per_ticket_per_10_minutes, 600.0)},
        )

    @classmethod
    def from_settings(cls, settings: ZendeskSettings, *,
                      budget: RateBudget | None = None) -> ZendeskClient:
        return cls(settings.effective_base_url, settings.email, settings.api_token,
                   timeout=settings.timeout, budget=budget)

    @classmethod
    def verify_webhook(cls, request: WebhookRequest, secret: str) -> bool:
        return verify_zendesk(secret, request.header(TIMESTAMP_HEADER), request.body,
                              request.header(SIGNATURE_HEADER))

    @classmethod
    def webhook_ticket_id(cls, request: WebhookRequest) -> int:
        """The ``{"ticket_id": "123"}`` the trigger ``policy apply`` installs sends."""
        try:
            payload = json.loads(request.body)
        except (UnicodeDecodeError, ValueError):
            raise WebhookRejected(400, "body is not JSON") from None
        value = payload.get("ticket_id") if isinstance(payload, dict) else None
        if isinstance(value, bool) or value is None:
            raise WebhookRejected(400, "ticket_id missing")
        text = str(value).strip()
        if not text.isdigit() or int(text) <= 0:
            raise WebhookRejected(400, "ticket_id is not a ticket id")
        return int(text)

    def __init__(
        self,
        base_url: str,
        email: str,
        api_token: str,
        *,
        timeout: float = 10.0,
        session: requests.Session | None = None,
        budget: RateBudget | None = None,
    ) -> None:
        base = base_url.rstrip("/")
        if base.endswith("/api/v2"):
            base = base[: -len("/api/v2")]
        self.base_url = base
        self._api = base + "/api/v2"
        # API token auth: "{email}/token:{api_token}" as HTTP Basic
        # (https://developer.zendesk.com/api-reference/introduction/security-and-auth/).
        self._auth = (f"{email}/token", api_token)
        self.timeout = timeout
        self.session = make_session(session)
        self.budget = budget
        self.calls = CallCounter()

    # ------------------------------------------------------------------ users

    def me(self) -> HelpdeskUser:
        """The API token's user; raises when the credentials are not accepted."""
        data = self._json("me", "GET", "/users/me")
        user = data.get("user") or {}
        # Zendesk answers /users/me with an anonymous user (id null) rather than 401 when the
        # credentials are wrong, so a missing id is an authentication failure.
        if user.get("id") is None:
            raise ExternalServiceError(
                "zendesk me: the credentials were not accepted (anonymous user)",
                provider=PROVIDER,
                status=401,
                response=data,
            )
        return _user(user)

    def create_or_update_user(self, phone_e164: str, name: str | None = None) -> HelpdeskUser:
        """The SMS end user keyed on ``external_id = "sms:+E164"`` (200 found, 201 created).

        ``create_or_update`` matches only by email or external_id, never by phone, hence the key.
        Without ``name`` the phone stands in (Zendesk requires a name); an existing user's name is
        overwritten, so callers cache the user id and call this once per customer.
        """
        user: dict[str, Any] = {
            "name": name or phone_e164,
            "external_id": SMS_EXTERNAL_ID_PREFIX + phone_e164,
            "identities": [{"type": "phone_number", "value": phone_e164}],
        }
        try:
            data = self._json(
                "create_or_update_user", "POST", "/users/create_or_update", json={"user": user}
            )
        except ExternalServiceError as exc:
            # Phone numbers are accepted when merely *possible* (connector.text.phones); should
            # Zendesk refuse the identity, the customer must still get a user, so retry without it.
            if exc.status != 422 or "identit" not in str(exc.response).lower():
                raise
            del user["identities"]
            data = self._json(
                "create_or_update_user", "POST", "/users/create_or_update", json={"user": user}
            )
        return _user(data["user"])

    def find_user_by_external_id(self, external_id: str) -> HelpdeskUser | None:
        # The exact external_id lookup, not /search?query= (eventually consistent).
        data = self._json(
            "find_user_by_external_id", "GET", "/users/search", params={"external_id": external_id}
        )
        users = data.get("users") or []
        return _user(users[0]) if users else None

    # ------------------------------------------------------------------ tickets

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
        external_id: str | None = None,
    ) -> tuple[Ticket, bool]:
        """Create a ticket; the bool is True when Zendesk replayed an earlier creation (``hit``).

        Requester, submitter and first comment author are all the SMS user, so the ticket reads
        as the customer's. The Idempotency-Key lasts about two hours and the same key with a
        different body is a 400; reconcile older retries with :meth:`requested_tickets`.
        https://developer.zendesk.com/api-reference/ticketing/introduction/#idempotency
        """
        comment: dict[str, Any] = {
            "body": comment_body,
            "public": public,
            "author_id": requester_id,
        }
        if uploads:
            comment["uploads"] = list(uploads)
        ticket: dict[str, Any] = {
            "requester_id": requester_id,
            "submitter_id": requester_id,
            "subject": subject,
            "comment": comment,
        }
        if tags:
            # Only when there are some: a follow-up ticket inherits its source's tags unless the
            # request carries tags, which then replace them (Creating a follow-up ticket).
            ticket["tags"] = list(tags)
        optional = {
            "priority": priority,
            "group_id": group_id,
            "via_followup_source_id": via_followup_source_id,
            "type": ticket_type,
            "problem_id": problem_id,
            # Lets a creation whose answer was lost be found again after the Idempotency-Key
            # expired (requested_tickets + this id), without search, which lags.
            "external_id": external_id,
        }
        ticket.update({k: v for k, v in optional.items() if v is not None})
        response = self._request(
            "create_ticket",
            "POST",
            "/tickets",
            json={"ticket": ticket},
            headers={"Idempotency-Key": idempotency_key},
        )
        data = _json_body(response)
        hit = response.headers.get("x-idempotency-lookup", "").strip().lower() == "hit"
        return _ticket(data["ticket"], data.get("audit")), hit

    def get_ticket(self, ticket_id: int) -> Ticket:
        data = self._json("get_ticket", "GET", f"/tickets/{int(ticket_id)}")
        return _ticket(data["ticket"])

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
        """One ``PUT /tickets/{id}``: a comment (public or a private note) and field changes.

        With ``updated_stamp`` (the ticket's ``updated_at``) the update is a ``safe_update`` and a
        concurrent change raises StaleUpdate instead of being overwritten. Stamps have whole-second
        resolution, so this is not a complete guard against replaying the same PUT.
        """
        ticket: dict[str, Any] = {}
        if comment_body is not None or uploads:
            comment: dict[str, Any] = {"body": comment_body or "", "public": public}
            if author_id is not None:
                comment["author_id"] = author_id
            if uploads:
                comment["uploads"] = list(uploads)
            ticket["comment"] = comment
        if status is not None:
            ticket["status"] = status
        if priority is not None:
            ticket["priority"] = priority
        if additional_tags:
            ticket["additional_tags"] = list(additional_tags)
        if remove_tags:
            ticket["remove_tags"] = list(remove_tags)
        if updated_stamp is not None:
            ticket["safe_update"] = True
            ticket["updated_stamp"] = updated_stamp
        data = self._json(
            "update_ticket",
            "PUT",
            f"/tickets/{int(ticket_id)}",
            json={"ticket": ticket},
            ticket_key=str(int(ticket_id)),
        )
        return _ticket(data["ticket"], data.get("audit"))

    def requested_tickets(self, user_id: int) -> list[Ticket]:
        """The user's tickets, newest first: the first page (100) only.

        Used to reconcile a creation whose answer was lost after its Idempotency-Key expired; that
        ticket is recent, so one call suffices however long the customer's history.
        """
        data = self._json(
            "requested_tickets",
            "GET",
            f"/users/{int(user_id)}/tickets/requested",
            params={"sort_by": "created_at", "sort_order": "desc", "per_page": PAGE_SIZE},
        )
        return [_ticket(t) for t in data.get("tickets") or []]

    def list_comments(
        self, ticket_id: int, *, newest_first: bool = True
    ) -> tuple[list[Comment], dict[int, HelpdeskUser]]:
        """The newest 100 comments with their authors' roles, in ONE call (``include=users``).

        Comments are listed oldest first unless ``sort_order=desc`` is asked for.
        """
        data = self._json(
            "list_comments",
            "GET",
            f"/tickets/{int(ticket_id)}/comments",
            params={"sort_order": "desc" if newest_first else "asc", "include": "users"},
        )
        users = {u.id: u for u in (_user(raw) for raw in data.get("users") or [])}
        comments = [_comment(raw, users) for raw in data.get("comments") or []]
        return comments, users

    def download_attachment(
        self, url: str, *, max_bytes: int, allowed_types: Sequence[str]
    ) -> tuple[bytes, str]:
        """An attachment's bytes: the API token goes to the account's host only, never to the
        file host Zendesk redirects to (MediaUnavailable(reason) when it cannot be had)."""
        return download(self.session, url, provider=self.provider, base_url=self.base_url,
                        auth=self._auth, max_bytes=max_bytes, allowed_types=allowed_types,
                        timeout=self.timeout,
                        on_request=lambda: self.calls.record("download_attachment"))

    def upload(self, filename: str, content: bytes, content_type: str) -> str:
        """Upload raw bytes; the token (valid 60 minutes) goes into a comment's ``uploads``."""
        data = self._json(
            "upload",
            "POST",
            "/uploads",
            params={"filename": filename},
            data=content,
            headers={"Content-Type": content_type},
        )
        return str(data["upload"]["token"])

    # ------------------------------------------------------------------ policy apply

    def list_webhooks(self) -> list[dict[str, Any]]:
        return self._paged("list_webhooks", "/webhooks", "webhooks")

    def create_webhook(self, webhook: Mapping[str, Any]) -> dict[str, Any]:
        data = self._json("create_webhook", "POST", "/webhooks", json={"webhook": dict(webhook)})
        return dict(data["webhook"])

    def update_webhook(self, webhook_id: str, webhook: Mapping[str, Any]) -> None:
        # PUT replaces the webhook and answers 204 with no body.
        self._request(
            "update_webhook", "PUT", f"/webhooks/{webhook_id}", json={"webhook": dict(webhook)}
        )

    def webhook_signing_secret(self, webhook_id: str) -> str:
        """The secret Zendesk generated for the webhook (``X-Zendesk-Webhook-Signature``)."""
        data = self._json("webhook_signing_secret", "GET", f"/webhooks/{webhook_id}/signing_secret")
        return str(data["signing_secret"]["secret"])

    def list_triggers(self) -> list[dict[str, Any]]:
        return self._paged("list_triggers", "/triggers", "triggers")

    def create_trigger(self, trigger: Mapping[str, Any]) -> dict[str, Any]:
        data = self._json("create_trigger", "POST", "/triggers", json={"trigger": dict(trigger)})
        return dict(data["trigger"])

    def update_trigger(self, trigger_id: int | str, trigger: Mapping[str, Any]) -> dict[str, Any]:
        # A PUT replaces conditions and actions entirely: send the whole desired trigger.
        data = self._json(
            "update_trigger", "PUT", f"/triggers/{trigger_id}", json={"trigger": dict(trigger)}
        )
        return dict(data["trigger"])

    def delete_trigger(self, trigger_id: int | str) -> None:
        self._request("delete_trigger", "DELETE", f"/triggers/{trigger_id}")

    def list_trigger_categories(self) -> list[dict[str, Any]]:
        return self._paged("list_trigger_categories", "/trigger_categories", "trigger_categories")

    def create_trigger_category(self, category: Mapping[str, Any]) -> dict[str, Any]:
        data = self._json(
            "create_trigger_category",
            "POST",
            "/trigger_categories",
            json={"trigger_category": dict(category)},
        )
        return dict(data["trigger_category"])

    # ------------------------------------------------------------------ plumbing

    def _json(self, name: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return _json_body(self._request(name, method, path, **kwargs))

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
        ticket_key: str | None = None,
    ) -> requests.Response:
        if self.budget is not None:
            # Update Ticket has its own limits on top of the account's (100 / min per account,
            # 30 per ticket per 10 min); the narrower class is asked first.
            if ticket_key is not None:
                self.budget.before_call("ticket_update", ticket_key)
            self.budget.before_call("account")
        url = path_or_url if "://" in path_or_url else self._api + path_or_url
        all_headers = {"Accept": "application/json"}
        all_headers.update(headers or {})
        self.calls.record(name)
        response = send(
            self.session,
            method,
            url,
            provider=PROVIDER,
            timeout=self.timeout,
            params=params,
            json=json,
            data=data,
            headers=all_headers,
            auth=self._auth,
            # Zendesk's API does not redirect; one that does points at a misconfigured base_url,
            # and following it could carry the credentials elsewhere.
            allow_redirects=False,
        )
        if response.status_code >= 300:
            self._raise(name, response, ticket_key)
        return response

    def _raise(self, name: str, response: requests.Response, ticket_key: str | None) -> None:
        status = response.status_code
        body = decode_body(response)
        code, description = _error_words(body)
        message = f"zendesk {name}: HTTP {status}" + (f" {code}" if code else "")
        if description:
            message += f": {description}"
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is None:
                retry_after = DEFAULT_RETRY_AFTER
            if self.budget is not None:
                # A ticket update's 429 may be the per-ticket limit; pausing only that ticket keeps
                # the rest of the account moving. When the account counter is at zero, it is the
                # account's limit and everything pauses.
                account_spent = response.headers.get("X-Rate-Limit-Remaining", "").strip() == "0"
                if ticket_key is not None and not account_spent:
                    self.budget.record_retry_after("ticket_update", retry_after, ticket_key)
                else:
                    self.budget.record_retry_after("account", retry_after)
            raise RateLimited(message, retry_after=retry_after)
        if status >= 500:
            raise TransientError(
                message, retry_after=parse_retry_after(response.headers.get("Retry-After"))
            )
        common: dict[str, Any] = {
            "provider": PROVIDER,
            "status": status,
            "code": code,
            "response": body,
        }
        if status == 409:
            raise StaleUpdate(message, retryable=True, **common)
        if status == 422 and _says_closed(body):
            raise TicketClosed(message, retryable=False, **common)
        raise ExternalServiceError(message, retryable=False, **common)

    def _paged(self, name: str, path: str, key: str) -> list[dict[str, Any]]:
        """Every item of a list, following cursor ``links.next`` or offset ``next_page``."""
        items: list[dict[str, Any]] = []
        url: str = path
        params: dict[str, Any] | None = {"page[size]": PAGE_SIZE}
        for _ in range(MAX_PAGES):
            data = self._json(name, "GET", url, params=params)
            items.extend(data.get(key) or [])
            nxt = self._next_url(data)
            if nxt is None:
                return items
            url = nxt
            params = None  # the next link carries its own query
        # A partial list would make policy apply create duplicates of what it did not see.
        raise ExternalServiceError(
            f"zendesk {name}: more than {MAX_PAGES} pages", provider=PROVIDER, retryable=False
        )

    def _next_url(self, data: Mapping[str, Any]) -> str | None:
        meta = data.get("meta")
        if isinstance(meta, Mapping) and "has_more" in meta:
            links = data.get("links") or {}
            nxt = links.get("next") if meta.get("has_more") else None
        else:
            nxt = data.get("next_page")
        if not nxt:
            return None
        # Zendesk builds next links from its own host; behind a proxy or an EU / sandbox base_url
        # that host is not ours (and must not receive the credentials): keep only the path.
        split = urlsplit(str(nxt))
        rest = split.path.split("/api/v2", 1)[-1]
        return self._api + rest + (f"?{split.query}" if split.query else "")


# ---------------------------------------------------------------------- decoding


def _json_body(response: requests.Response) -> dict[str, Any]:
    body = decode_body(response)
    if not isinstance(body, dict):
        # A 2xx without the JSON object we asked for (a proxy's HTML page, a truncated body).
        raise TransientError(f"zendesk: HTTP {response.status_code} without a JSON object")
    return body


def _error_words(body: Any) -> tuple[str | None, str | None]:
    """Zendesk errors: ``{"error": "RecordInvalid", "description": …, "details": …}``."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):  # some endpoints nest {"error": {"title", "message"}}
            return error.get("title"), error.get("message")
        description = body.get("description")
        return (str(error) if error else None), (str(description) if description else None)
    if isinstance(body, str) and body.strip():
        return None, body.strip()[:200]
    return None, None


def _says_closed(body: Any) -> bool:
    """True for the 422 Zendesk gives any update of a closed ticket.

    ``{"details": {"status": [{"description": "Status: closed prevents ticket update",
    "error": "ClosedTicket"}]}}`` — the key is ``status`` or ``base`` depending on the path, so
    every detail entry is looked at.
    """
    if not isinstance(body, dict):
        return False
    entries: list[Any] = []
    details = body.get("details")
    if isinstance(details, dict):
        for value in details.values():
            entries.extend(value if isinstance(value, list) else [value])
    entries.append(body)
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        if str(entry.get("error", "")).lower() == "closedticket":
            return True
        if "closed prevents ticket update" in str(entry.get("description", "")).lower():
            return True
    return False


def _user(raw: Mapping[str, Any]) -> HelpdeskUser:
    return HelpdeskUser(
        id=int(raw["id"]),
        role=str(raw.get("role") or "end-user"),
        name=raw.get("name"),
        external_id=raw.get("external_id"),
    )


def _comment_id(audit: Mapping[str, Any] | None) -> int | None:
    events: Iterable[Any] = (audit or {}).get("events") or []
    for event in events:
        if isinstance(event, dict) and event.get("type") == "Comment" and event.get("id"):
            return int(event["id"])
    return None


def _ticket(raw: Mapping[str, Any], audit: Mapping[str, Any] | None = None) -> Ticket:
    requester = raw.get("requester_id")
    return Ticket(
        id=int(raw["id"]),
        status=str(raw.get("status") or ""),
        updated_at=str(raw.get("updated_at") or ""),
        requester_id=int(requester) if requester is not None else None,
        tags=tuple(raw.get("tags") or ()),
        priority=raw.get("priority"),
        raw=dict(raw),
        comment_id=_comment_id(audit),
    )


def _comment(raw: Mapping[str, Any], users: Mapping[int, HelpdeskUser]) -> Comment:
    author_id = int(raw.get("author_id") or 0)
    author = users.get(author_id)
    via = raw.get("via")
    return Comment(
        id=int(raw["id"]),
        author_id=author_id,
        public=bool(raw.get("public")),
        body=str(raw.get("body") or ""),
        html_body=raw.get("html_body"),
        created_at=raw.get("created_at"),
        via_channel=via.get("channel") if isinstance(via, dict) else None,
        attachments=tuple(raw.get("attachments") or ()),
        author_role=author.role if author else None,
    )


# ---------------------------------------------------------------------- webhook signatures


def zendesk_signature(secret: str, timestamp: str, body: bytes) -> str:
    """base64(HMAC-SHA256(signing secret, timestamp header + raw body)), no separator.
    https://developer.zendesk.com/documentation/webhooks/verifying/"""
    mac = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def _parse_timestamp(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def verify_zendesk(
    secret: str,
    timestamp: str | None,
    body: bytes,
    signature: str | None,
    *,
    now: datetime | None = None,
    tolerance: timedelta = timedelta(minutes=5),
) -> bool:
    """True for a genuine signature whose timestamp lies within ``tolerance`` of ``now``.

    Zendesk signs no nonce, so the timestamp window is what stops a captured delivery from being
    replayed later (the docs leave the window to the receiver).
    """
    if not secret or not timestamp or not signature:
        return False
    sent = _parse_timestamp(timestamp)
    if sent is None:
        return False
    now = now or datetime.now(UTC)
    if abs(now - sent) > tolerance:
        return False
    return hmac.compare_digest(zendesk_signature(secret, timestamp, body), signature)

"""Zendesk Support API adapter: plain ``requests`` on :class:`HelpdeskAdapter`'s request path
(zenpy is GPLv3 and cannot send an Idempotency-Key or leave a 429 to the caller instead of
sleeping). Facts and traps: ../shared/docs/reference/zendesk.md.

Zendesk's words at the boundary:

    status new / open / pending / hold / solved / closed   → TICKET_* (hold counts as pending)
    409 on a safe_update                                   → StaleUpdate
    422 ClosedTicket                                       → TicketClosed
    404 RecordNotFound on a ticket's show / update / comments → TicketGone (deleted)
    end-user / agent / admin, via.channel "api", /users/me → AUTHOR_* and from_integration

Strategies this adapter owns:

- the customer: the one end user whose direct line is the number (found by search, checked
  against identities), else the SMS user keyed on ``external_id``; a refused phone identity
  (any RecordInvalid) is left out rather than failing the text;

- creating once: the operation key is the ``Idempotency-Key`` (honoured about two hours,
  creation only) and, in ``external_id``, the mark that finds the ticket later among the
  requester's tickets (never search, which lags);
- reconciling an update: the ticket's newest comments hold the same text by the same author;
- following up: a closed ticket is followed with ``via_followup_source_id``; a solved one cannot
  be, so the new ticket's first comment names it;
- its own API user: ``GET /users/me`` once per client, only when an API comment by staff needs
  telling apart;
- the owner group of an escalation (``TicketUpdate.group``, the pack's NAME): the account's
  groups are listed (``GET /groups``) at most once per ``GROUPS_TTL`` per client and the name
  matched case and spacing aside; a name Zendesk does not know leaves the group as it is;
- solving (``TicketUpdate.solve``): Zendesk refuses to solve an unassigned ticket, so an
  unassigned one is given to the API user in the same ``PUT`` (one read first).

Other traps: ``tags`` on update replaces every tag, so only ``additional_tags`` / ``remove_tags``
are sent; ``safe_update`` needs the ticket's ``updated_at`` as ``updated_stamp``, whole seconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from marshmallow import fields as mf
from marshmallow import validate

from adapters.helpdesk.base import ACCOUNT, HelpdeskAdapter
from adapters.http import download
from connector.config_fields import Section
from connector.errors import (
    ExternalServiceError,
    MediaUnavailable,
    StaleUpdate,
    TicketClosed,
    TicketGone,
    WebhookRejected,
)
from connector.model import (
    AUTHOR_AGENT,
    AUTHOR_CONNECTOR,
    AUTHOR_CUSTOMER,
    AUTHOR_SYSTEM,
    PRIORITIES,
    TICKET_CLOSED,
    TICKET_NEW,
    TICKET_OPEN,
    TICKET_PENDING,
    TICKET_SOLVED,
    TICKET_UNKNOWN,
    Attachment,
    Comment,
    HelpdeskUser,
    NewTicket,
    Ticket,
    TicketUpdate,
)
from connector.ports import Limit, RateBudget
from connector.text.phones import mask_phone
from connector.webhooks import WebhookRequest

__all__ = ["ZendeskClient", "verify_zendesk", "zendesk_signature"]

log = logging.getLogger("sms_connector.zendesk")

PROVIDER = "zendesk"
SMS_EXTERNAL_ID_PREFIX = "sms:"  # the requester's external_id: create_or_update matches on it
TICKET_EXTERNAL_ID_PREFIX = "sms-connector:"  # + the operation key, on the ticket
TICKET_UPDATE = "ticket_update"  # the budget class of Update Ticket (per ticket too)

# https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#json-format
STATES = {"new": TICKET_NEW, "open": TICKET_OPEN, "pending": TICKET_PENDING,
          "hold": TICKET_PENDING, "solved": TICKET_SOLVED, "closed": TICKET_CLOSED}
STAFF_ROLES = frozenset({"agent", "admin"})
# A via names its channel by via type or by via id; the API is id 5 ("web_service", written
# "api" in comments) (https://developer.zendesk.com/documentation/ticketing/reference-guides/via-types/).
VIA_API = frozenset({"api", "web_service", "5"})
# A merge's note on the surviving ticket (via "merge", id 19): never an agent's reply.
# https://developer.zendesk.com/documentation/ticketing/reference-guides/via-types/
VIA_MERGE = frozenset({"merge", "19"})
# Zendesk keeps an Idempotency-Key "about two hours"; stop trusting it a little earlier.
# https://developer.zendesk.com/api-reference/ticketing/introduction/#idempotency
IDEMPOTENCY_WINDOW = 2 * 3600 - 600
PHONE_CANDIDATES = 5  # search hits checked for the number (a direct line has one owner)
RECONCILE_COMMENTS = 50  # how far back a lost update is looked for among the newest comments
GROUPS_TTL = 600.0  # the account's groups, by name, are listed again after ten minutes

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
    settings_schema = ZendeskSchema
    secret_keys = frozenset({"api_token", "webhook_secret"})
    required_for_api = ("email", "api_token")
    api_path = "/api/v2"

    # -- config and webhook (class level) -------------------------------------------------------

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
            {ACCOUNT: Limit(settings.requests_per_minute, 60.0),
             TICKET_UPDATE: Limit(settings.ticket_updates_per_minute, 60.0)},
            {TICKET_UPDATE: Limit(settings.updates_per_ticket_per_10_minutes, 600.0)},
        )

    @classmethod
    def from_settings(cls, settings: ZendeskSettings, *, budget: RateBudget | None = None,
                      clock: Callable[[], float] = time.time) -> ZendeskClient:
        return cls(settings.effective_base_url, settings.email, settings.api_token,
                   timeout=settings.timeout, budget=budget, clock=clock)

    @classmethod
    def verify_webhook(cls, request: WebhookRequest, secret: str) -> bool:
        return verify_zendesk(secret, request.header(TIMESTAMP_HEADER), request.body,
                              request.header(SIGNATURE_HEADER))

    @classmethod
    def webhook_ticket_id(cls, request: WebhookRequest) -> int:
        """The ``{"ticket_id": "123"}`` the trigger ``policy apply`` installs sends (ids only:
        placeholder escaping is unreliable, so the worker reads the comments by API)."""
        try:
            payload = json.loads(request.body)
        except (UnicodeDecodeError, ValueError, RecursionError):
            # RecursionError: a body nested thousands deep (signed, yet not ours to crash on).
            raise WebhookRejected(400, "body is not JSON") from None
        value = payload.get("ticket_id") if isinstance(payload, dict) else None
        if isinstance(value, bool) or value is None:
            raise WebhookRejected(400, "ticket_id missing")
        text = str(value).strip()
        # ASCII digits of a sane length only: "٤٢" and "²" are digits to str.isdigit, and int()
        # refuses strings over 4,300 digits with a ValueError of its own.
        if not text.isascii() or not text.isdigit() or len(text) > 19 or int(text) <= 0:
            raise WebhookRejected(400, "ticket_id is not a ticket id")
        return int(text)

    def __init__(self, base_url: str, email: str, api_token: str, **kwargs: Any) -> None:
        # API token auth: "{email}/token:{api_token}" as HTTP Basic
        # (https://developer.zendesk.com/api-reference/introduction/security-and-auth/).
        super().__init__(base_url, auth=(f"{email}/token", api_token), **kwargs)
        self._me: int | None = None
        self._groups: dict[str, int] = {}  # a group's name, casefolded → its id
        self._groups_at: float | None = None

    # -- people ---------------------------------------------------------------------------------

    def me(self) -> HelpdeskUser:
        """The API token's user; raises when the credentials are not accepted."""
        user = self._json("me", "GET", "/users/me").get("user") or {}
        # Zendesk answers /users/me with an anonymous user (id null) rather than 401 when the
        # credentials are wrong, so a missing id is an authentication failure.
        if user.get("id") is None:
            raise ExternalServiceError(
                "zendesk me: the credentials were not accepted (anonymous user)",
                provider=PROVIDER, status=401, response=user)
        return _user(user)

    def ensure_requester(self, phone_e164: str, *, name: str | None = None) -> HelpdeskUser:
        """The customer who owns this number, else the SMS end user keyed on
        ``external_id = "sms:+E164"`` (``create_or_update``: 200 found, 201 created).

        A number is often already some end user's direct line (a caller Zendesk Talk created, a
        customer added by hand), and a direct line identifies one user only: that user is the
        customer, with their name untouched. ``create_or_update`` matches only by email or
        external_id, never by phone; but a phone identity is unique in an account, so creating
        with it is refused (422) exactly when someone owns the number — only then is the owner
        looked up. A new customer costs one call, not two, and their acknowledgement is not held
        up by a search. Without ``name`` the phone stands in (Zendesk requires a name); callers
        cache the user id.
        """
        user: dict[str, Any] = {
            "name": name or phone_e164,
            "external_id": SMS_EXTERNAL_ID_PREFIX + phone_e164,
            "identities": [{"type": "phone_number", "value": phone_e164}],
        }
        try:
            data = self._json("ensure_requester", "POST", "/users/create_or_update",
                              json={"user": user})
        except ExternalServiceError as exc:
            # The identity refused: most often someone owns the number. The details are keyed by
            # field and their descriptions localized, so no words are matched: any RecordInvalid
            # looks the owner up, and without one (an agent's number, a shared one, an identity
            # search does not show yet, a number Zendesk will not take: connector.text.phones
            # accepts merely *possible* numbers) gets the customer a user without the identity.
            if exc.status != 422 or exc.code != "RecordInvalid":
                raise
            owner = self._phone_owner(phone_e164)
            if owner is not None:
                return _user(owner)
            log.warning("zendesk refused the phone identity of a new requester (%s); the user "
                        "is created without it", _detail_words(exc.response),
                        extra={"phone": mask_phone(phone_e164)})
            del user["identities"]
            data = self._json("ensure_requester", "POST", "/users/create_or_update",
                              json={"user": user})
        return _user(data["user"])

    def _phone_owner(self, phone_e164: str) -> dict[str, Any] | None:
        """The one end user whose direct line is this number, or None.

        Zendesk has no exact lookup by phone: the Users API filters by external_id or email
        only, identities are listed per user, and Zendesk's own advice for finding a caller is
        search, ``role:end-user phone:<digits without +>``
        (https://developer.zendesk.com/documentation/voice/talk-partner-edition/retrieving-the-zendesk-user-id-of-a-caller/).
        Search lags writes by minutes; that is acceptable here because it is only ever a hint:
        the users it looks for were made elsewhere, usually long before, and a miss ends in
        a requester made without the identity (the reason logged), never in a lost text. Each
        hit is checked against its identities, since search matches loosely; a number on
        several profiles (shared) is nobody's direct line.
        """
        digits = "".join(ch for ch in phone_e164 if ch.isdigit())
        data = self._json("find_requester", "GET", "/users/search",
                          params={"query": f"role:end-user phone:{digits}"})
        owners = []
        for raw in (data.get("users") or [])[:PHONE_CANDIDATES]:
            if raw.get("role") != "end-user" or raw.get("shared_phone_number"):
                continue
            if _digits(raw.get("phone")) == digits or any(
                    i.get("type") == "phone_number" and _digits(i.get("value")) == digits
                    for i in self._paged("find_requester", f"/users/{int(raw['id'])}/identities",
                                         "identities")):
                owners.append(raw)
        return owners[0] if len(owners) == 1 else None

    def _api_user_id(self) -> int:
        if self._me is None:
            self._me = self.me().id
        return self._me

    # -- tickets --------------------------------------------------------------------------------

    def create_ticket(self, new: NewTicket) -> tuple[Ticket, bool]:
        """Create a ticket; True when Zendesk replayed an earlier creation with the same key
        (``x-idempotency-lookup: hit``). Requester, submitter and first comment author are all
        the SMS user, so the ticket reads as the customer's."""
        response = self._request("create_ticket", "POST", "/tickets",
                                 json={"ticket": _new_ticket(new)},
                                 headers={"Idempotency-Key": new.key})
        data = self._json_body(response)
        hit = response.headers.get("x-idempotency-lookup", "").strip().lower() == "hit"
        return _ticket(data["ticket"], data.get("audit")), hit

    def resume_create(self, new: NewTicket) -> Ticket | None:
        """Within the Idempotency-Key's life the same request is repeated and Zendesk answers
        with the ticket it made (or makes it now); later the requester's newest tickets are
        looked through for the key's ``external_id``."""
        if self.clock() - new.attempted_at < IDEMPOTENCY_WINDOW:
            return self.create_ticket(new)[0]
        wanted = TICKET_EXTERNAL_ID_PREFIX + new.key
        # The first page, newest first, is enough: the ticket looked for is recent.
        data = self._json("requested_tickets", "GET",
                          f"/users/{int(new.requester_id)}/tickets/requested",
                          params={"sort_by": "created_at", "sort_order": "desc",
                                  "per_page": self.page_size})
        for raw in data.get("tickets") or []:
            if raw.get("external_id") == wanted:
                return _ticket(raw)
        return None

    # -- outages: a problem ticket and its incidents -------------------------------------------
    # A problem ticket (``type: "problem"``) stands for the one cause; each customer's ticket
    # becomes an ``incident`` with ``problem_id`` pointing at it, and Zendesk lists them with
    # ``GET /api/v2/tickets/{id}/incidents``
    # (https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#json-format,
    # https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#list-ticket-incidents).

    supports_problems = True

    def create_problem(self, new: NewTicket, incidents: Sequence[int]) -> Ticket:
        """``POST /tickets`` with ``type: problem`` (Idempotency-Key, as every creation), then
        one ``PUT`` per incident: Update Many Tickets would answer with a background job."""
        ticket = _new_ticket(new)
        ticket.update(type="problem", submitter_id=self._api_user_id())
        # Agents read the description; customers never see it (a private first comment).
        ticket["comment"] = {"body": new.body, "public": False}
        response = self._request("create_problem", "POST", "/tickets", json={"ticket": ticket},
                                 headers={"Idempotency-Key": new.key})
        problem = _ticket(self._json_body(response)["ticket"])
        for incident in incidents:
            self.link_to_problem(incident, problem.id)
        return problem

    def resume_problem(self, new: NewTicket, incidents: Sequence[int]) -> Ticket | None:
        """Within the key's life the creation is repeated (Zendesk answers with the same
        ticket); later the requester's tickets are looked through for its ``external_id``.
        The incidents are linked again either way (setting ``problem_id`` twice is harmless)."""
        if self.clock() - new.attempted_at < IDEMPOTENCY_WINDOW:
            return self.create_problem(new, incidents)
        found = self.resume_create(new)
        if found is not None:
            for incident in incidents:
                self.link_to_problem(incident, found.id)
        return found

    def link_to_problem(self, ticket_id: int, problem_id: int) -> None:
        self._on_ticket("link_to_problem", "PUT", ticket_id, json={"ticket": {
            "type": "incident", "problem_id": int(problem_id)}},
            limit=(TICKET_UPDATE, str(int(ticket_id))))

    def get_ticket(self, ticket_id: int) -> Ticket:
        return _ticket(self._on_ticket("get_ticket", "GET", ticket_id)["ticket"])

    def _on_ticket(self, name: str, method: str, ticket_id: int, tail: str = "",
                   **kwargs: Any) -> dict[str, Any]:
        """A call on one ticket; its 404 ``RecordNotFound`` is TicketGone: a deleted ticket
        answers so to show and update (Delete Ticket,
        https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#delete-ticket),
        while a wrong path is 404 ``InvalidEndpoint`` and stays a plain error."""
        try:
            return self._json(name, method, f"/tickets/{int(ticket_id)}{tail}", **kwargs)
        except ExternalServiceError as exc:
            if exc.status == 404 and exc.code == "RecordNotFound":
                raise TicketGone(str(exc), provider=PROVIDER, status=404, code=exc.code,
                                 response=exc.response) from exc
            raise

    def update(self, ticket_id: int, update: TicketUpdate) -> Ticket:
        """One ``PUT``; ``reopen`` sets ``status: open`` explicitly, because an API comment by
        the customer does not reopen a solved ticket by itself (the API user is the updater).
        A private body, a priority, the owner group and tags go in the same ``PUT`` (an
        escalation is one write). ``solve`` sets ``status: solved``; Zendesk refuses to solve a
        ticket without an assignee ("Assignee is required when solving"), so the ticket is read
        first and an unassigned one is given to the API user."""
        status = "open" if update.reopen else None
        assignee: int | None = None
        if update.solve:
            status = "solved"
            current = self._on_ticket("get_ticket", "GET", ticket_id)["ticket"]
            if not current.get("assignee_id"):
                assignee = self._api_user_id()
        return self.update_ticket(
            ticket_id, comment_body=update.body, author_id=update.author_id,
            public=not update.private, uploads=update.uploads, status=status,
            priority=update.priority if update.priority in PRIORITIES else None,
            group_id=self._group_id(update.group) if update.group else None,
            assignee_id=assignee,
            additional_tags=update.add_tags, remove_tags=update.remove_tags,
            updated_stamp=update.expected_version)

    def knows_group(self, name: str) -> bool:
        """True when the account has a group called ``name`` (case and spacing aside)."""
        return self._group_id(name) is not None

    def _group_id(self, name: str) -> int | None:
        """The id of the group called ``name`` from the account's groups (``GET /groups``,
        paged; deleted groups are not listed:
        https://developer.zendesk.com/api-reference/ticketing/groups/groups/#list-groups),
        listed at most once per ``GROUPS_TTL`` by this client; None (and a warning) for a name
        Zendesk does not know: the ticket keeps its group."""
        now = self.clock()
        if self._groups_at is None or now - self._groups_at > GROUPS_TTL:
            groups: dict[str, int] = {}
            try:
                raws = self._paged("list_groups", "/groups", "groups",
                                   {"per_page": self.page_size})
            except ExternalServiceError as exc:
                if exc.retryable:
                    raise  # nothing is written yet: the job tries again
                log.warning("Zendesk groups could not be listed; tickets keep their group",
                            extra={"error": str(exc)})
                raws = []
            for raw in sorted(raws, key=lambda r: int(r.get("id") or 0)):
                key = _group_key(raw.get("name"))
                if raw.get("id") and key and not raw.get("deleted"):
                    groups.setdefault(key, int(raw["id"]))
            self._groups, self._groups_at = groups, now
        found = self._groups.get(_group_key(name))
        if found is None:
            log.warning("the policy's group %r is not a Zendesk group; the ticket keeps its "
                        "group", name, extra={"group": name})
        return found

    def resume_update(self, ticket_id: int, update: TicketUpdate) -> Ticket | None:
        if update.body is None:
            return None  # nothing to recognise it by; repeating a bare reopen is harmless
        data = self._on_ticket("list_comments", "GET", ticket_id, "/comments",
                               params={"sort_order": "desc"})
        for raw in (data.get("comments") or [])[:RECONCILE_COMMENTS]:
            if (raw.get("author_id") == update.author_id
                    and _same_text(str(raw.get("body") or ""), update.body)):
                return self.get_ticket(ticket_id)
        return None

    def add_private_note(self, ticket_id: int, text: str) -> None:
        self.update_ticket(ticket_id, comment_body=text, public=False)

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
        group_id: int | None = None,
        assignee_id: int | None = None,
        additional_tags: Sequence[str] = (),
        remove_tags: Sequence[str] = (),
        updated_stamp: str | None = None,
    ) -> Ticket:
        """Zendesk's own ``PUT /tickets/{id}`` in its words (the port's writes are built on it).

        With ``updated_stamp`` the update is a ``safe_update``: a concurrent change answers 409
        instead of being overwritten. Stamps have whole-second resolution, so this is not a
        complete guard against replaying the same PUT
        (https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#protecting-against-ticket-update-collisions).
        """
        ticket: dict[str, Any] = {}
        if comment_body is not None or uploads:
            comment: dict[str, Any] = {"body": comment_body or "", "public": public}
            if author_id is not None:
                comment["author_id"] = author_id
            if uploads:
                comment["uploads"] = list(uploads)
            ticket["comment"] = comment
        optional = {"status": status, "priority": priority, "group_id": group_id,
                    "assignee_id": assignee_id,
                    "additional_tags": list(additional_tags) or None,
                    "remove_tags": list(remove_tags) or None}
        ticket.update({k: v for k, v in optional.items() if v is not None})
        if updated_stamp is not None:
            ticket.update(safe_update=True, updated_stamp=updated_stamp)
        data = self._on_ticket("update_ticket", "PUT", ticket_id, json={"ticket": ticket},
                               limit=(TICKET_UPDATE, str(int(ticket_id))))
        return _ticket(data["ticket"], data.get("audit"))

    # -- comments and files ---------------------------------------------------------------------

    def list_comments(self, ticket_id: int) -> list[Comment]:
        """The newest 100 comments with their authors' roles in ONE call (``include=users``;
        comments are listed oldest first unless ``sort_order=desc`` is asked for)."""
        data = self._on_ticket("list_comments", "GET", ticket_id, "/comments",
                               params={"sort_order": "desc", "include": "users"})
        roles = {int(u["id"]): str(u.get("role") or "") for u in data.get("users") or []}
        return [self._comment(raw, roles) for raw in data.get("comments") or []]

    def _comment(self, raw: Mapping[str, Any], roles: Mapping[int, str]) -> Comment:
        author_id = int(raw.get("author_id") or 0)
        via = raw.get("via")
        channel = str(via.get("channel")).lower() if isinstance(via, dict) else ""
        # Any client's API write (the connector's, another integration's, a macro applied
        # through the API) is an integration's, whoever its author.
        from_api = channel in VIA_API
        role = roles.get(author_id)
        if role == "end-user":
            author = AUTHOR_CUSTOMER
        elif role in STAFF_ROLES:
            # The connector writes as the API token's user, through the API; the same user in
            # the web UI, or another integration's user, is someone else.
            own = from_api and author_id == self._api_user_id()
            author = AUTHOR_CONNECTOR if own else AUTHOR_AGENT
        else:
            author = AUTHOR_SYSTEM
        return Comment(
            id=int(raw["id"]), author_id=author_id, author=author,
            public=bool(raw.get("public")), body=str(raw.get("body") or ""),
            html_body=raw.get("html_body"), created_at=raw.get("created_at"),
            from_integration=from_api, merged=channel in VIA_MERGE,
            attachments=tuple(_attachment(a) for a in raw.get("attachments") or ()),
            raw=dict(raw),
        )

    def upload(self, filename: str, content: bytes, content_type: str) -> str:
        """Upload raw bytes; the token (valid 60 minutes) goes into a comment's ``uploads``."""
        data = self._json("upload", "POST", "/uploads", params={"filename": filename},
                          data=content, headers={"Content-Type": content_type})
        return str(data["upload"]["token"])

    def download_attachment(
        self, attachment: Attachment, *, max_bytes: int, allowed_types: Sequence[str]
    ) -> tuple[bytes, str]:
        """An attachment's bytes: the API token goes to the account's host only, never to the
        file host Zendesk redirects to (MediaUnavailable(reason) when it cannot be had)."""
        if urlsplit(attachment.url).scheme not in ("http", "https"):
            raise MediaUnavailable("no content URL", reason="no_url", url=attachment.url)
        return download(self.session, attachment.url, provider=PROVIDER,
                        base_url=self.base_url, auth=self._auth, max_bytes=max_bytes,
                        allowed_types=allowed_types, timeout=self.timeout,
                        on_request=lambda: self.calls.record("download_attachment"))

    # -- policy apply (adapters.helpdesk.zendesk_automation) ------------------------------------

    def list_webhooks(self) -> list[dict[str, Any]]:
        return self._paged("list_webhooks", "/webhooks", "webhooks", {"page[size]": self.page_size})

    def create_webhook(self, webhook: Mapping[str, Any]) -> dict[str, Any]:
        data = self._json("create_webhook", "POST", "/webhooks", json={"webhook": dict(webhook)})
        return dict(data["webhook"])

    def update_webhook(self, webhook_id: str, webhook: Mapping[str, Any]) -> None:
        # PUT replaces the webhook and answers 204 with no body.
        self._request("update_webhook", "PUT", f"/webhooks/{webhook_id}",
                      json={"webhook": dict(webhook)})

    def webhook_signing_secret(self, webhook_id: str) -> str:
        """The secret Zendesk generated for the webhook (``X-Zendesk-Webhook-Signature``)."""
        data = self._json("webhook_signing_secret", "GET", f"/webhooks/{webhook_id}/signing_secret")
        return str(data["signing_secret"]["secret"])

    def list_triggers(self) -> list[dict[str, Any]]:
        return self._paged("list_triggers", "/triggers", "triggers", {"page[size]": self.page_size})

    def create_trigger(self, trigger: Mapping[str, Any]) -> dict[str, Any]:
        data = self._json("create_trigger", "POST", "/triggers", json={"trigger": dict(trigger)})
        return dict(data["trigger"])

    def update_trigger(self, trigger_id: int | str, trigger: Mapping[str, Any]) -> dict[str, Any]:
        # A PUT replaces conditions and actions entirely: send the whole desired trigger.
        data = self._json("update_trigger", "PUT", f"/triggers/{trigger_id}",
                          json={"trigger": dict(trigger)})
        return dict(data["trigger"])

    def delete_trigger(self, trigger_id: int | str) -> None:
        self._request("delete_trigger", "DELETE", f"/triggers/{trigger_id}")

    def list_trigger_categories(self) -> list[dict[str, Any]]:
        return self._paged("list_trigger_categories", "/trigger_categories",
                           "trigger_categories", {"page[size]": self.page_size})

    def create_trigger_category(self, category: Mapping[str, Any]) -> dict[str, Any]:
        data = self._json("create_trigger_category", "POST", "/trigger_categories",
                          json={"trigger_category": dict(category)})
        return dict(data["trigger_category"])

    # -- the base's hooks -----------------------------------------------------------------------

    def _error(self, message: str, status: int, code: str | None,
               body: Any) -> ExternalServiceError:
        common: dict[str, Any] = {"provider": PROVIDER, "status": status, "code": code,
                                  "response": body}
        if status == 409:
            return StaleUpdate(message, retryable=True, **common)
        if status == 422 and _says_closed(body):
            return TicketClosed(message, retryable=False, **common)
        return ExternalServiceError(message, retryable=False, **common)

    def _error_words(self, body: Any) -> tuple[str | None, str | None]:
        """``{"error": "RecordInvalid", "description": …}``, ``{"error": {"title",
        "message"}}`` or the newer ``{"errors": [{"code", "title", "detail"}]}``."""
        if isinstance(body, dict):
            error = body.get("error")
            if isinstance(error, dict):
                return error.get("title"), error.get("message")
            errors = body.get("errors")
            if not error and isinstance(errors, list) and errors and isinstance(errors[0], dict):
                # Every entry: one answer may carry several (403 TriggerCategoriesNotEnabled
                # and ProductLimitExceeded in the spec's example).
                words = [str(e.get("detail") or e.get("title") or e.get("code") or "")
                         for e in errors if isinstance(e, dict)]
                return errors[0].get("code"), "; ".join(w for w in words if w) or None
            description = body.get("description")
            if description and isinstance(body.get("details"), dict):
                # RecordInvalid: "Record validation errors" says little; the fields say what.
                description = f"{description} ({_detail_words(body)})"
            return (str(error) if error else None), (str(description) if description else None)
        return super()._error_words(body)

    def _rate_limit_scope(self, response: requests.Response,
                          limit: tuple[str, str] | None) -> tuple[str, str | None]:
        # A ticket update's 429 may be the per-ticket limit; pausing only that ticket keeps the
        # rest of the account moving. When the account counter is at zero, it is the account's
        # limit and everything pauses.
        account_spent = response.headers.get("X-Rate-Limit-Remaining", "").strip() == "0"
        if limit is not None and not account_spent:
            return limit
        return ACCOUNT, None

    def _next_url(self, data: Mapping[str, Any]) -> str | None:
        """Cursor pagination (``meta.has_more`` + ``links.next``) or offset (``next_page``)."""
        meta = data.get("meta")
        if isinstance(meta, Mapping) and "has_more" in meta:
            nxt = (data.get("links") or {}).get("next") if meta.get("has_more") else None
        else:
            nxt = data.get("next_page")
        return str(nxt) if nxt else None


# ---------------------------------------------------------------------- Zendesk → core words


def _digits(value: Any) -> str:
    return "".join(ch for ch in str(value or "") if ch.isdigit())


def _detail_words(body: Any) -> str:
    """A RecordInvalid's ``details`` as ``field: error`` pairs (the codes, not the localized
    descriptions), for the log."""
    details = body.get("details") if isinstance(body, dict) else None
    if not isinstance(details, dict):
        return "no details"
    pairs = []
    for field_name, entries in details.items():
        for entry in entries if isinstance(entries, list) else [entries]:
            code = entry.get("error") if isinstance(entry, dict) else None
            pairs.append(f"{field_name}: {code or 'invalid'}")
    return ", ".join(pairs) or "no details"


def _group_key(name: Any) -> str:
    """A group's name as compared: case and runs of spaces aside."""
    return " ".join(str(name or "").split()).casefold()


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def _new_ticket(new: NewTicket) -> dict[str, Any]:
    body = new.body
    followup = new.follows is not None and new.follows_state == TICKET_CLOSED
    if new.follows is not None and not followup:
        # Only a closed ticket can be followed up (Creating a follow-up ticket,
        # https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#creating-a-follow-up-ticket):
        # a solved one is named where the agent reads first.
        body += f"\n\n[Earlier ticket from this customer: #{new.follows}]"
    comment: dict[str, Any] = {"body": body, "public": True, "author_id": new.requester_id}
    if new.uploads:
        comment["uploads"] = list(new.uploads)
    ticket: dict[str, Any] = {"requester_id": new.requester_id,
                              "submitter_id": new.requester_id,
                              "subject": new.subject, "comment": comment}
    if new.tags:
        # Only when there are some: a follow-up ticket inherits its source's tags unless the
        # request carries tags, which then replace them.
        ticket["tags"] = list(new.tags)
    if new.priority in PRIORITIES:  # the core's priorities are Zendesk's own words
        ticket["priority"] = new.priority
    if followup:
        ticket["via_followup_source_id"] = new.follows
    # Finds a creation whose answer was lost after the Idempotency-Key expired.
    ticket["external_id"] = TICKET_EXTERNAL_ID_PREFIX + new.key
    return ticket


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
    role = raw.get("role")
    kind = AUTHOR_AGENT if role in STAFF_ROLES else AUTHOR_CUSTOMER
    return HelpdeskUser(id=int(raw["id"]), kind=kind, name=raw.get("name"), raw=dict(raw))


def _comment_id(audit: Mapping[str, Any] | None) -> int | None:
    events: Iterable[Any] = (audit or {}).get("events") or []
    for event in events:
        if isinstance(event, dict) and event.get("type") == "Comment" and event.get("id"):
            return int(event["id"])
    return None


def _ticket(raw: Mapping[str, Any], audit: Mapping[str, Any] | None = None) -> Ticket:
    requester = raw.get("requester_id")
    updated_at = str(raw.get("updated_at") or "")
    priority = raw.get("priority")
    return Ticket(
        id=int(raw["id"]),
        state=STATES.get(str(raw.get("status") or ""), TICKET_UNKNOWN),
        updated_at=updated_at,
        version=updated_at or None,  # what safe_update's updated_stamp takes
        requester_id=int(requester) if requester is not None else None,
        tags=tuple(raw.get("tags") or ()),
        priority=priority if priority in PRIORITIES else None,
        raw=dict(raw),
        comment_id=_comment_id(audit),
    )


def _attachment(raw: Mapping[str, Any]) -> Attachment:
    size = raw.get("size")
    return Attachment(
        name=str(raw.get("file_name") or ""),
        content_type=raw.get("content_type"),
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        url=str(raw.get("content_url") or raw.get("mapped_content_url") or ""),
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
    replayed later (the docs leave the window to the receiver). Headers reach us as latin-1
    text: anything non-ASCII is not a signature (and ``hmac.compare_digest`` refuses to compare
    non-ASCII strings rather than answer False).
    """
    if not secret or not timestamp or not signature:
        return False
    if not (timestamp.isascii() and signature.isascii()):
        return False
    sent = _parse_timestamp(timestamp)
    if sent is None:
        return False
    now = now or datetime.now(UTC)
    if abs(now - sent) > tolerance:
        return False
    return hmac.compare_digest(zendesk_signature(secret, timestamp, body), signature)

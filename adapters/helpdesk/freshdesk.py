"""Freshdesk API v2 adapter: plain ``requests`` on :class:`HelpdeskAdapter`'s request path.
Facts and traps: ../shared/docs/reference/freshdesk.md; API: https://developers.freshdesk.com/api/.

Freshdesk's words at the boundary:

    status 2 Open / 3 Pending / 4 Resolved / 5 Closed      → TICKET_* (custom statuses: UNKNOWN)
    priority 1 Low / 2 Medium / 3 High / 4 Urgent          ↔ PRIORITY_*
    404 on a ticket's show / update / notes, ``deleted``   → TicketGone
    ``{"description", "errors": [{field, message, code}]}`` → the message, every entry
    the requester, ``incoming``, note (source 2) by the API key's agent → AUTHOR_*, from_integration
    an agent's note, even ``private: false``                → public False (only a Reply is sent)

Strategies this adapter owns:

- the customer: the contact whose ``phone`` is exactly the E.164 number (Freshdesk matches
  phone numbers as strings, so a lookup comes first, or duplicates appear), also ``mobile`` when
  ``match_mobile`` is set (one more call per new number); else a contact created with name and
  phone: a new customer costs three calls (look, contact, ticket);
- creating once: Freshdesk has no idempotency key, so the ticket carries a marker tag
  ``smsc-<first 20 hex of the operation key>`` and ``resume_create`` looks through the
  requester's tickets updated since just before the attempt (a list, never search, which lags);
- a customer's follow-up is ONE call, a public incoming note in the requester's name; reopening
  and tag changes (rare: STOP / START) are a ``PUT`` before it. Freshdesk has no conditional
  write: ``expected_version`` is ignored, and an answer without the ticket's state says
  TICKET_UNKNOWN (the status rule's deliveries keep the connector's remembered state fresh);
- reconciling an update: the ticket's conversations hold the same text by the same author;
- the group: the policy's group name (``NewTicket.group``) is looked up among the account's
  groups, listed once per ten minutes per client and only when a ticket names one; a name
  Freshdesk does not know is ``group_id`` (or no group) and a warning, never a failed ticket;
- following up: Freshdesk has no follow-up link for an ordinary ticket (parent / child and
  trackers are other things, on some plans only), so the new ticket's description ends by naming
  the old one ("Follows ticket #N"), where the agent reads first, at no extra call;
- attachments: Freshdesk has no upload endpoint; files go multipart with the ticket or note that
  carries them. ``upload`` keeps the bytes in this process under a token (bounded, an hour, like
  Zendesk's upload tokens); a token this process no longer holds (the worker restarted between
  upload and write) is not an error: the text is written with a line naming the file that could
  not be attached, as the pipeline does for media it could not fetch, so a text is never lost
  and ``resume_update`` still recognises the note;
- its own API user: ``GET /agents/me`` once per client, only when a note needs telling apart.

python-freshdesk (1.3.9) was weighed for tickets, contacts and conversations and is not used:
it attaches files only from paths on disk and notes not at all, so every write carrying media
is ours anyway; its models rewrite the answer (timestamps parsed, ``priority`` / ``source``
properties that raise KeyError on a custom source 101+); its lists page by counting items, with
no page cap and without the ``Link`` header; ``create_contact`` writes "Freshdesk Contact" into
every profile; and reaching ``base_url`` through our budget, call counting and error mapping
needs a transport adapter on its private session plus a side channel naming each call. What
would remain of it is one URL per call, behind more glue than the calls themselves.
"""

from __future__ import annotations

import hmac
import html
import json
import logging
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from marshmallow import fields as mf
from marshmallow import validate
from urllib3.filepost import encode_multipart_formdata

from adapters.helpdesk.base import ACCOUNT, HelpdeskAdapter
from adapters.http import decode_body, download
from connector.config_fields import Section
from connector.errors import (
    ExternalServiceError,
    MediaUnavailable,
    TicketGone,
    TransientError,
    WebhookRejected,
)
from connector.model import (
    AUTHOR_AGENT,
    AUTHOR_CONNECTOR,
    AUTHOR_CUSTOMER,
    AUTHOR_SYSTEM,
    EVENT_REPLY,
    EVENT_STATE,
    PRIORITY_HIGH,
    PRIORITY_LOW,
    PRIORITY_NORMAL,
    PRIORITY_URGENT,
    TICKET_CLOSED,
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
from connector.text.sms_text import html_to_text
from connector.webhooks import WebhookRequest

__all__ = ["SECRET_HEADER", "FreshdeskClient", "FreshdeskSchema", "FreshdeskSettings",
           "marker_tag"]

log = logging.getLogger("sms_connector.freshdesk")

PROVIDER = "freshdesk"
# The budget class of ticket create / update (notes count as ticket updates): 80 / min on
# Growth, 160 on Pro, 280 on Enterprise (https://developers.freshdesk.com/api/#ratelimit).
TICKET_WRITES = "ticket_writes"
SECRET_HEADER = "X-Sms-Connector-Secret"  # the custom header the installed rules send
MAX_SECRET_HEADER = 1024  # a longer header is no secret of ours; not worth comparing

# https://developers.freshdesk.com/api/#tickets (Status, Priority, Source)
OPEN, PENDING, RESOLVED, CLOSED = 2, 3, 4, 5
STATES = {OPEN: TICKET_OPEN, PENDING: TICKET_PENDING, RESOLVED: TICKET_SOLVED,
          CLOSED: TICKET_CLOSED}
PRIORITY_CODES = {PRIORITY_LOW: 1, PRIORITY_NORMAL: 2, PRIORITY_HIGH: 3, PRIORITY_URGENT: 4}
PRIORITY_WORDS = {code: word for word, code in PRIORITY_CODES.items()}
SOURCES = frozenset({1, 2, 3, 7, 9, 10})  # Email, Portal, Phone, Chat, Feedback widget, Outbound
CUSTOM_SOURCES_FROM = 101
CUSTOM_STATUSES_FROM = 6
# A conversation's source: 0 Reply, 2 Note (https://developers.freshdesk.com/api/#conversations).
NOTE_SOURCE = 2

MARKER_PREFIX = "smsc-"  # + 20 hex of NewTicket.key: a tag (≤ 32 characters, no commas)
MARKER_HEX = 20
RESUME_SLACK = 300.0  # resume_create looks at tickets updated from 5 minutes before the attempt
RECONCILE_COMMENTS = 50  # how far back a lost update is looked for among the newest conversations

UPLOAD_TTL = 3600.0  # an upload token lives an hour, like Zendesk's
MAX_UPLOADS = 64  # tokens kept at once (oldest dropped first) …
MAX_UPLOAD_BYTES = 64 * 1024 * 1024  # … and bytes
# "The total size of all of a ticket's attachments cannot exceed 20MB"
# (https://developers.freshdesk.com/api/#create_ticket, #create_note).
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
DESCRIPTIONS_KEPT = 1024  # tickets whose description and requester this client remembers
GROUPS_TTL = 600.0  # the account's groups, by name, are listed again after ten minutes

UPLOAD_TOKEN_PREFIX = "freshdesk-upload:"
NOTICE = "[Attachment {name} could not be attached: {reason}. The text above arrived in full.]"
_NOTICES = re.compile(r"(?:\s*\[Attachment .{0,300}? could not be attached: [a-z_]+\. "
                      r"The text above arrived in full\.\])+\s*\Z", re.DOTALL)


@dataclass(frozen=True)
class FreshdeskSettings:
    domain: str = ""
    api_key: str = ""
    base_url: str = ""
    webhook_secret: str = ""
    source: int = 3  # Phone: Freshdesk has no SMS source
    status: int = OPEN
    timeout: float = 10.0
    requests_per_minute: int = 200  # Growth
    ticket_writes_per_minute: int = 80  # Growth's ticket create / update class
    group_id: int | None = None
    # Also look the number up as a contact's mobile. Freshdesk's own matching (a ticket created
    # with ``phone``) reads only the contact's phone field; off, a new number costs one lookup.
    match_mobile: bool = False

    @property
    def host(self) -> str:
        domain = self.domain.strip().lower()
        return domain if "." in domain else f"{domain}.freshdesk.com"

    @property
    def effective_base_url(self) -> str:
        return (self.base_url or f"https://{self.host}").rstrip("/")


class FreshdeskSchema(Section):
    settings_class = FreshdeskSettings
    # The API answers on the account's Freshdesk domain only, never a custom CNAME
    # (https://developers.freshdesk.com/api/#getting-started).
    domain = mf.String(validate=validate.Regexp(
        r"^([a-z0-9][a-z0-9-]*(\.freshdesk\.com)?)?$", flags=re.IGNORECASE,
        error="not a Freshdesk domain (acme or acme.freshdesk.com)"))
    api_key = mf.String()
    base_url = mf.String(validate=validate.Regexp(r"^(https?://\S+)?$", error="not a URL"))
    webhook_secret = mf.String()
    source = mf.Integer(strict=True, validate=validate.Range(1, 1_000_000))
    status = mf.Integer(strict=True, validate=validate.Range(2, 1_000_000))
    timeout = mf.Float(validate=validate.Range(0.1, 120))
    requests_per_minute = mf.Integer(validate=validate.Range(1, 100000))
    ticket_writes_per_minute = mf.Integer(validate=validate.Range(1, 100000))
    group_id = mf.Integer(strict=True, allow_none=True,
                          validate=validate.Range(1, 2**63 - 1))
    match_mobile = mf.Boolean()


@dataclass(frozen=True)
class _Upload:
    filename: str
    content: bytes
    content_type: str
    at: float


@dataclass(frozen=True)
class _Known:
    """What a ticket's conversations do not say: its requester and description."""

    requester_id: int | None
    description: Comment


def marker_tag(key: str) -> str:
    """The tag that finds a ticket made for the operation ``key`` (its first 20 hex)."""
    digits = "".join(ch for ch in key.lower() if ch in "0123456789abcdef")
    return MARKER_PREFIX + digits[:MARKER_HEX]


class FreshdeskClient(HelpdeskAdapter):
    """One Freshdesk account. Not thread-safe; one client per worker."""

    kind = PROVIDER
    settings_schema = FreshdeskSchema
    secret_keys = frozenset({"api_key", "webhook_secret"})
    required_for_api = ("api_key",)
    api_path = "/api/v2"

    # -- config and webhook (class level) -------------------------------------------------------

    @classmethod
    def check_settings(cls, settings: FreshdeskSettings) -> dict[str, str]:
        errors: dict[str, str] = {}
        if not settings.domain and not settings.base_url:
            errors["domain"] = "missing (or set freshdesk.base_url)"
        source = settings.source
        if source not in SOURCES and source < CUSTOM_SOURCES_FROM:
            errors["source"] = (f"{source} is not a Freshdesk ticket source: 1 Email, 2 Portal, "
                                "3 Phone, 7 Chat, 9 Feedback widget, 10 Outbound email, or a "
                                "custom source (101 and up, GET /api/v2/ticket_fields)")
        if settings.status in (RESOLVED, CLOSED):
            errors["status"] = ("a new SMS ticket cannot start resolved or closed: 2 Open, "
                                "3 Pending, or a custom status (6 and up)")
        return errors

    @classmethod
    def rate_limits(cls, settings: FreshdeskSettings) -> tuple[str, dict[str, Limit],
                                                               dict[str, Limit]]:
        """Per account per minute, and the ticket create / update class
        (https://developers.freshdesk.com/api/#ratelimit)."""
        return (
            f"freshdesk:{settings.domain or settings.base_url}",
            {ACCOUNT: Limit(settings.requests_per_minute, 60.0),
             TICKET_WRITES: Limit(settings.ticket_writes_per_minute, 60.0)},
            {},
        )

    @classmethod
    def from_settings(cls, settings: FreshdeskSettings, *, budget: RateBudget | None = None,
                      clock: Callable[[], float] = time.time) -> FreshdeskClient:
        client = cls(settings.effective_base_url, settings.api_key, source=settings.source,
                     status=settings.status, group_id=settings.group_id,
                     match_mobile=settings.match_mobile,
                     webhook_secret=settings.webhook_secret, timeout=settings.timeout,
                     budget=budget, clock=clock)
        client.settings = settings
        return client

    @classmethod
    def verify_webhook(cls, request: WebhookRequest, secret: str) -> bool:
        """Freshdesk signs nothing: the installed rules send the secret in a custom header,
        compared in constant time (../shared/docs/reference/freshdesk.md, Webhooks)."""
        if not secret:
            return False
        sent = request.header(SECRET_HEADER)
        # Headers reach us as latin-1 text; compare_digest refuses non-ASCII str, so bytes.
        if not sent or len(sent) > MAX_SECRET_HEADER or not sent.isascii():
            return False
        return hmac.compare_digest(sent.encode("ascii"), secret.encode("utf-8"))

    @classmethod
    def webhook_ticket_id(cls, request: WebhookRequest) -> int:
        """The ``{"ticket_id": "{{ticket.id}}", …}`` the installed rules post (ids only: the
        worker reads the conversations by API)."""
        payload = _payload(request)
        value = payload.get("ticket_id") if isinstance(payload, dict) else None
        if isinstance(value, bool) or value is None:
            raise WebhookRejected(400, "ticket_id missing")
        text = str(value).strip()
        # ASCII digits of a sane length only: "٤٢" and "²" are digits to str.isdigit, and int()
        # refuses strings over 4,300 digits with a ValueError of its own.
        if not text.isascii() or not text.isdigit() or len(text) > 19 or int(text) <= 0:
            raise WebhookRejected(400, "ticket_id is not a ticket id")
        return int(text)

    @classmethod
    def webhook_event(cls, request: WebhookRequest) -> str:
        """``"status"`` (the status rule) → EVENT_STATE; anything else is a reply."""
        try:
            payload = _payload(request)
        except WebhookRejected:
            return EVENT_REPLY
        if isinstance(payload, dict) and payload.get("event") == "status":
            return EVENT_STATE
        return EVENT_REPLY

    def __init__(self, base_url: str, api_key: str, *, source: int = 3, status: int = OPEN,
                 group_id: int | None = None, match_mobile: bool = False,
                 webhook_secret: str = "", **kwargs: Any) -> None:
        # HTTP Basic with the API key as user name and any password ("X" in the docs:
        # https://developers.freshdesk.com/api/#authentication).
        super().__init__(base_url, auth=(api_key, "X"), **kwargs)
        self.source = source
        self.status = status
        self.group_id = group_id
        self.match_mobile = match_mobile
        self.webhook_secret = webhook_secret
        self.settings: FreshdeskSettings | None = None
        self._me: int | None = None
        self._uploads: OrderedDict[str, _Upload] = OrderedDict()
        self._known: OrderedDict[int, _Known] = OrderedDict()
        self._groups: dict[str, int] = {}  # a group's name, casefolded → its id
        self._groups_at: float | None = None

    # -- people ---------------------------------------------------------------------------------

    def me(self) -> HelpdeskUser:
        """The API key's agent (https://developers.freshdesk.com/api/#me); raises when the key
        is not accepted. An agent's id is its user id, the ``user_id`` of what it writes."""
        data = self._json("me", "GET", "/agents/me")
        contact = data.get("contact")
        name = contact.get("name") if isinstance(contact, dict) else None
        return HelpdeskUser(id=int(data["id"]), kind=AUTHOR_AGENT, name=name, raw=data)

    def _api_user_id(self) -> int:
        if self._me is None:
            self._me = self.me().id
        return self._me

    def ensure_requester(self, phone_e164: str, *, name: str | None = None) -> HelpdeskUser:
        """The contact whose phone (else, with ``match_mobile``, mobile) is this number; else
        one created with it.

        Freshdesk compares phone numbers as strings (../shared/docs/reference/freshdesk.md), so
        the connector looks the E.164 form up itself before creating anyone: ONE call on
        ``phone``, the field Freshdesk itself matches when a ticket names the requester by phone
        (https://developers.freshdesk.com/api/#create_ticket: when no contact has that phone
        number, one is added; the reference doc's server code reads only ``phone``), so a new
        customer costs three calls in all. ``match_mobile`` also looks at ``mobile``, where an
        agent may have saved a known customer's number (one more call per new number, no
        duplicate contact for them). When several contacts share the number, the oldest is the
        customer (one stable choice, never a new duplicate). Without ``name`` the number stands
        in (a contact needs a name). Callers cache the id.
        """
        owner = self._phone_owner(phone_e164)
        if owner is not None:
            return _user(owner)
        try:
            data = self._json("ensure_requester", "POST", "/contacts",
                              json={"name": name or phone_e164, "phone": phone_e164})
        except ExternalServiceError as exc:
            # 409: another worker made the contact between the look and the create.
            if exc.status != 409:
                raise
            owner = self._phone_owner(phone_e164)
            if owner is None:
                raise
            return _user(owner)
        return _user(data)

    def _phone_owner(self, phone_e164: str) -> dict[str, Any] | None:
        for field_name in ("phone", "mobile") if self.match_mobile else ("phone",):
            # params encode "+" as %2B; a bare "+" in a query string reads as a space.
            found = self._items("find_requester", "/contacts",
                                {field_name: phone_e164, "per_page": self.page_size},
                                pages=1)
            # Checked, not trusted: an account that ignored the filter would list everyone.
            owners = [c for c in found if c.get("id") is not None
                      and _digits(c.get(field_name)) == _digits(phone_e164)]
            if owners:
                return min(owners, key=lambda c: int(c["id"]))
        return None

    # -- tickets --------------------------------------------------------------------------------

    def create_ticket(self, new: NewTicket) -> tuple[Ticket, bool]:
        """Create the ticket (Freshdesk has no idempotency key: never a replay); its marker tag
        lets :meth:`resume_create` find it when the answer is lost."""
        files, notices = self._files(new.uploads)
        text = _with_notices(new.body, notices)
        if new.follows is not None:
            # After the texts: the description must open with what the customer wrote.
            text += f"\n\n[Follows ticket #{int(new.follows)}, this customer's earlier ticket]"
        tags = list(dict.fromkeys([*new.tags, marker_tag(new.key)]))
        fields: dict[str, Any] = {
            "requester_id": int(new.requester_id), "subject": new.subject,
            "description": _html(text), "status": self.status, "source": self.source,
            "tags": tags,
        }
        if new.priority in PRIORITY_CODES:
            fields["priority"] = PRIORITY_CODES[new.priority]
        group_id = self._group_id(new.group) if new.group else self.group_id
        if group_id is not None:
            fields["group_id"] = group_id
        data = self._json_body(self._write("create_ticket", "POST", "/tickets", fields, files))
        self._remember(data, text=text)
        return _ticket(data), False

    def _group_id(self, name: str, *, fallback: bool = True) -> int | None:
        """The id of the Freshdesk group called ``name`` (case and spacing aside), from the
        account's groups (``GET /groups``, paged: https://developers.freshdesk.com/api/#groups),
        listed at most once per ``GROUPS_TTL`` by this client. A name Freshdesk does not know,
        or groups this key may not list, gives ``freshdesk.group_id`` (else no group) and a
        warning: a ticket never fails for its group. Without ``fallback`` (a ticket that has a
        group already: an escalation's owner group) an unknown name gives None."""
        now = self.clock()
        if self._groups_at is None or now - self._groups_at > GROUPS_TTL:
            try:
                raws = self._items("list_groups", "/groups", {"per_page": self.page_size})
            except ExternalServiceError as exc:
                if exc.retryable:
                    raise  # nothing is written yet: the job tries again
                log.warning("Freshdesk groups could not be listed; SMS tickets get the "
                            "configured group", extra={"error": str(exc)})
                raws = []
            groups: dict[str, int] = {}
            for raw in sorted(raws, key=lambda r: _int(r.get("id"))):
                group_id = _int(raw.get("id"))
                if group_id > 0 and _group_key(raw.get("name")):
                    groups.setdefault(_group_key(raw.get("name")), group_id)
            self._groups, self._groups_at = groups, now
        found = self._groups.get(_group_key(name))
        if found is None and not fallback:
            log.warning("the policy's group %r is not a Freshdesk group; the ticket keeps its "
                        "group", name, extra={"group": name})
            return None
        if found is None:
            log.warning("the policy's group %r is not a Freshdesk group; the ticket gets "
                        "freshdesk.group_id (%s)", name,
                        self.group_id if self.group_id is not None else "none",
                        extra={"group": name})
            return self.group_id
        return found

    def knows_group(self, name: str) -> bool:
        """True when the account has a group called ``name`` (case and spacing aside)."""
        return self._group_id(name, fallback=False) is not None

    def resume_create(self, new: NewTicket) -> Ticket | None:
        """The requester's tickets updated since shortly before the attempt, newest first,
        looked through for the marker tag (``GET /tickets`` lists without lag; search lags)."""
        marker = marker_tag(new.key)
        since = datetime.fromtimestamp(new.attempted_at - RESUME_SLACK, UTC)
        params = {"requester_id": int(new.requester_id),
                  "updated_since": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "order_by": "created_at", "order_type": "desc", "per_page": self.page_size}
        for raw in self._items("resume_create", "/tickets", params):
            if marker in (raw.get("tags") or ()):
                return _ticket(raw)
        return None

    # -- outages: a tracker ticket and its related tickets ---------------------------------------
    # "Create a Tracker Ticket": ``POST /api/v2/tickets`` with ``related_ticket_ids`` (at most
    # 300) makes a tracker (``association_type`` 3) and each related ticket associated with it
    # (4); a later ticket is linked with ``PUT /api/v2/tickets/{id}`` and ``tracker_id``
    # (https://developers.freshdesk.com/api/#create_ticket; the linking field as Freshdesk's API
    # server code (2020) takes it: ../shared/docs/reference/freshdesk.md "Outages"). Tracker
    # replies do not reach the related tickets' requesters: the connector texts them itself.

    supports_problems = True

    def create_problem(self, new: NewTicket, incidents: Sequence[int]) -> Ticket:
        """The tracker with ``incidents`` related, in one call; the marker tag lets
        :meth:`resume_problem` find it when the answer is lost (no idempotency key here)."""
        tags = list(dict.fromkeys([*new.tags, marker_tag(new.key)]))
        fields: dict[str, Any] = {
            "requester_id": int(new.requester_id), "subject": new.subject,
            "description": _html(new.body), "status": self.status, "source": self.source,
            "tags": tags, "related_ticket_ids": [int(i) for i in incidents],
        }
        if new.priority in PRIORITY_CODES:
            fields["priority"] = PRIORITY_CODES[new.priority]
        group_id = self._group_id(new.group) if new.group else self.group_id
        if group_id is not None:
            fields["group_id"] = group_id
        data = self._json_body(self._write("create_problem", "POST", "/tickets", fields, []))
        return _ticket(data)

    def resume_problem(self, new: NewTicket, incidents: Sequence[int]) -> Ticket | None:
        found = self.resume_create(new)
        if found is not None:
            related = found.raw.get("associated_tickets_list") or []
            for incident in incidents:
                if int(incident) not in related:
                    self.link_to_problem(incident, found.id)
        return found

    def link_to_problem(self, ticket_id: int, problem_id: int) -> None:
        """``tracker_id`` on the ticket; a ticket already associated with this tracker is
        refused (400 "already associated"), which is what was asked."""
        try:
            self._on_ticket("link_to_problem", "PUT", ticket_id,
                            json={"tracker_id": int(problem_id)},
                            limit=(TICKET_WRITES, str(int(ticket_id))))
        except ExternalServiceError as exc:
            if exc.status != 400:
                raise
            linked = self._show(ticket_id).get("associated_tickets_list") or []
            if int(problem_id) not in [_int(i) for i in linked]:
                raise

    def get_ticket(self, ticket_id: int) -> Ticket:
        return _ticket(self._show(ticket_id))

    def _show(self, ticket_id: int, name: str = "get_ticket") -> dict[str, Any]:
        raw = self._on_ticket(name, "GET", ticket_id)
        if raw.get("deleted"):
            # In the trash: gone for the connector, as Zendesk's deleted tickets are.
            raise TicketGone(f"freshdesk {name}: ticket {int(ticket_id)} is deleted",
                             provider=PROVIDER, status=200, response=raw)
        self._remember(raw)
        return raw

    def update(self, ticket_id: int, update: TicketUpdate) -> Ticket:
        """The texts as ONE public incoming note by the requester (a private note by the API
        key's agent when ``private``); ``reopen`` (status Open), priority and tag changes are a
        ``PUT`` first: a note cannot carry them. ``expected_version`` cannot be honoured
        (Freshdesk has no conditional write) and is ignored."""
        ticket = self._change(ticket_id, update)
        if update.body is None and not update.uploads:
            return ticket if ticket is not None else self.get_ticket(ticket_id)
        note = self._note(ticket_id, update.body or "", uploads=update.uploads,
                          private=update.private,
                          user_id=None if update.private else update.author_id)
        if ticket is not None:
            return replace(ticket, comment_id=_int(note.get("id")))
        return _note_ticket(ticket_id, note)

    def _change(self, ticket_id: int, update: TicketUpdate) -> Ticket | None:
        """Reopen or solve (status 4 Resolved), priority, owner group and tags in one ``PUT``;
        tags replace the ticket's whole set, so it is read first
        (https://developers.freshdesk.com/api/#update_ticket). An owner group Freshdesk does
        not know is left out: the ticket keeps its group."""
        fields: dict[str, Any] = {}
        if update.reopen:
            fields["status"] = OPEN
        if update.solve:
            fields["status"] = RESOLVED
        if update.priority in PRIORITY_CODES:
            fields["priority"] = PRIORITY_CODES[update.priority]
        if update.group:
            group_id = self._group_id(update.group, fallback=False)
            if group_id is not None:
                fields["group_id"] = group_id
        if update.add_tags or update.remove_tags:
            have = [str(t) for t in self._show(ticket_id).get("tags") or ()]
            want = [t for t in have if t not in update.remove_tags]
            want += [t for t in update.add_tags if t not in want]
            if want != have:
                fields["tags"] = want
        if not fields:
            return None
        data = self._on_ticket("update_ticket", "PUT", ticket_id, json=fields,
                               limit=(TICKET_WRITES, str(int(ticket_id))))
        return _ticket(data)

    def resume_update(self, ticket_id: int, update: TicketUpdate) -> Ticket | None:
        if update.body is None:
            return None  # nothing to recognise it by; repeating a bare reopen is harmless
        conversations = self._conversations("resume_update", ticket_id)
        for raw in conversations[:RECONCILE_COMMENTS]:
            if (_int(raw.get("user_id")) == update.author_id and not raw.get("private")
                    and _same_note(raw, update.body)):
                if update.reopen or update.add_tags or update.remove_tags:
                    return replace(self.get_ticket(ticket_id), comment_id=_int(raw.get("id")))
                return _note_ticket(ticket_id, raw)
        return None

    def add_private_note(self, ticket_id: int, text: str) -> None:
        """A private note by the API key's agent (``user_id`` left out)."""
        self._note(ticket_id, text, private=True)

    def _note(self, ticket_id: int, text: str, *, private: bool, user_id: int | None = None,
              uploads: Sequence[str] = ()) -> dict[str, Any]:
        """``POST /tickets/{id}/notes``: notes are private unless told, and only ``incoming``
        public notes read as the customer's (https://developers.freshdesk.com/api/#add_note)."""
        files, notices = self._files(uploads)
        fields: dict[str, Any] = {"body": _html(_with_notices(text, notices) or "(empty text)"),
                                  "private": private}
        if user_id is not None:
            fields.update(incoming=True, user_id=int(user_id))
        response = self._write("add_note", "POST", f"/tickets/{int(ticket_id)}/notes", fields,
                               files, ticket_id=ticket_id)
        return self._json_body(response)

    def _write(self, name: str, method: str, path: str, fields: Mapping[str, Any],
               files: Sequence[tuple[str, bytes, str]], *,
               ticket_id: int | None = None) -> requests.Response:
        """A ticket write: JSON, or multipart/form-data when it carries files (``tags[]``,
        ``attachments[]``, https://developers.freshdesk.com/api/#create_ticket_with_attachment)."""
        limit = (TICKET_WRITES, str(int(ticket_id)) if ticket_id is not None else "new")
        try:
            if not files:
                return self._request(name, method, path, json=dict(fields), limit=limit)
            body, content_type = encode_multipart_formdata(_form(fields, files))
            return self._request(name, method, path, data=body,
                                 headers={"Content-Type": content_type}, limit=limit)
        except ExternalServiceError as exc:
            if ticket_id is not None and exc.status == 404:
                raise _gone(exc) from exc
            raise

    def _on_ticket(self, name: str, method: str, ticket_id: int, tail: str = "",
                   **kwargs: Any) -> dict[str, Any]:
        """A call on one ticket; 404 is TicketGone (deleted for good, or never there)."""
        try:
            return self._json(name, method, f"/tickets/{int(ticket_id)}{tail}", **kwargs)
        except ExternalServiceError as exc:
            if exc.status == 404:
                raise _gone(exc) from exc
            raise

    # -- comments and files ---------------------------------------------------------------------

    def list_comments(self, ticket_id: int) -> list[Comment]:
        """The conversations, newest first, and the description last (as the customer's first
        comment). The description and requester are remembered per ticket, so after the first
        look a ticket's comments are ONE call (two past 100 conversations)."""
        known = self._known.get(int(ticket_id))
        if known is None:
            self._show(ticket_id, "list_comments")
            known = self._known[int(ticket_id)]
        else:
            self._known.move_to_end(int(ticket_id))
        raws = self._conversations("list_comments", ticket_id)
        comments = [self._comment(raw, known.requester_id) for raw in raws]
        comments.append(known.description)
        return comments

    def _conversations(self, name: str, ticket_id: int) -> list[dict[str, Any]]:
        """Every conversation, newest first (Freshdesk lists them oldest first)."""
        try:
            raws = self._items(name, f"/tickets/{int(ticket_id)}/conversations",
                               {"per_page": self.page_size})
        except ExternalServiceError as exc:
            if exc.status == 404:
                raise _gone(exc) from exc
            raise
        return sorted(raws, key=lambda r: (str(r.get("created_at") or ""), _int(r.get("id"))),
                      reverse=True)

    def _comment(self, raw: Mapping[str, Any], requester_id: int | None) -> Comment:
        user_id = _int(raw.get("user_id"))
        note = raw.get("source") == NOTE_SOURCE
        private = bool(raw.get("private"))
        if not user_id:
            author = AUTHOR_SYSTEM
        elif user_id == requester_id or raw.get("incoming"):
            # The requester, or a contact writing in (a CC replying by email).
            author = AUTHOR_CUSTOMER
        elif note and private and user_id == self._api_user_id():
            # The connector writes only private notes as its own agent. The same agent's
            # replies and public notes are a person in the UI (many teams use an admin's own
            # key): they must reach the customer.
            author = AUTHOR_CONNECTOR
        else:
            author = AUTHOR_AGENT
        # The core's ``public`` is "a reply the customer is sent". In Freshdesk an agent writes
        # to the customer with a Reply (source 0, e-mailed to the requester:
        # https://developers.freshdesk.com/api/#reply_ticket); an agent's note, even a public
        # one (private false), is only shown on the ticket and the portal, never sent
        # (https://developers.freshdesk.com/api/#add_note), and fires no reply_sent, the event
        # the installed rule waits for (../shared/docs/reference/freshdesk.md, Automation
        # rules). Texting it would send it late, with the agent's next reply. The customer's own
        # incoming notes stay public: they are the customer's texts.
        public = not private and not (note and author == AUTHOR_AGENT)
        body_html = raw.get("body")
        return Comment(
            id=_int(raw.get("id")), author_id=user_id, author=author, public=public,
            body=_text(raw), html_body=str(body_html) if body_html is not None else None,
            created_at=raw.get("created_at"),
            # A note by the customer or the connector's agent is an API write: no one makes
            # notes in a customer's name in the UI, and the connector writes only through it.
            from_integration=note and author in (AUTHOR_CUSTOMER, AUTHOR_CONNECTOR),
            attachments=tuple(_attachment(a) for a in raw.get("attachments") or ()
                              if isinstance(a, dict)),
            raw=dict(raw),
        )

    def _remember(self, raw: Mapping[str, Any], *, text: str | None = None) -> None:
        """Keep a ticket's requester and description (the customer's first comment)."""
        ticket_id = _int(raw.get("id"))
        if not ticket_id:
            return
        requester = raw.get("requester_id")
        requester_id = _int(requester) if requester is not None else None
        body = raw.get("description_text")
        description = Comment(
            id=0,  # not a conversation: Freshdesk gives the description no id of its own
            author_id=requester_id or 0, author=AUTHOR_CUSTOMER, public=True,
            body=str(body) if body is not None else (text if text is not None else _text(
                {"body": raw.get("description")})),
            html_body=raw.get("description"), created_at=raw.get("created_at"),
            from_integration=any(str(t).startswith(MARKER_PREFIX)
                                 for t in raw.get("tags") or ()),
            attachments=tuple(_attachment(a) for a in raw.get("attachments") or ()
                              if isinstance(a, dict)),
            raw={"ticket_id": ticket_id, "description": raw.get("description")},
        )
        self._known[ticket_id] = _Known(requester_id, description)
        self._known.move_to_end(ticket_id)
        while len(self._known) > DESCRIPTIONS_KEPT:
            self._known.popitem(last=False)

    def upload(self, filename: str, content: bytes, content_type: str) -> str:
        """Keep the file for the write that carries it (Freshdesk has no upload endpoint); no
        API call. The token names the file, so a write that finds it gone can say which."""
        now = self.clock()
        token = f"{UPLOAD_TOKEN_PREFIX}{secrets.token_hex(16)}:{filename}"
        self._uploads[token] = _Upload(filename, bytes(content), content_type, now)
        self._prune_uploads(now)
        return token

    def _prune_uploads(self, now: float) -> None:
        total = sum(len(u.content) for u in self._uploads.values())
        while self._uploads:
            token, oldest = next(iter(self._uploads.items()))
            if (now - oldest.at <= UPLOAD_TTL and len(self._uploads) <= MAX_UPLOADS
                    and total <= MAX_UPLOAD_BYTES):
                break
            del self._uploads[token]
            total -= len(oldest.content)

    def _files(self, tokens: Sequence[str]) -> tuple[list[tuple[str, bytes, str]], list[str]]:
        """The files behind ``tokens`` and a notice for each one that cannot go (not held by
        this process any more, or past the 20 MB a ticket's attachments may total)."""
        self._prune_uploads(self.clock())
        files: list[tuple[str, bytes, str]] = []
        notices: list[str] = []
        total = 0
        for token in tokens:
            held = self._uploads.get(token)
            if held is None:
                name = token.split(":", 2)[2] if token.count(":") >= 2 else "file"
                log.warning("an attachment's upload is no longer held (worker restarted?); "
                            "the text is written without it", extra={"file": name})
                notices.append(NOTICE.format(name=name, reason="upload_lost"))
                continue
            if total + len(held.content) > MAX_ATTACHMENT_BYTES:
                notices.append(NOTICE.format(name=held.filename, reason="too_large_total"))
                continue
            total += len(held.content)
            files.append((held.filename, held.content, held.content_type))
        return files, notices

    def download_attachment(
        self, attachment: Attachment, *, max_bytes: int, allowed_types: Sequence[str]
    ) -> tuple[bytes, str]:
        """An attachment's bytes: the API key goes to the account's host only, never to the
        file store ``attachment_url`` points at (MediaUnavailable(reason) otherwise)."""
        if urlsplit(attachment.url).scheme not in ("http", "https"):
            raise MediaUnavailable("no content URL", reason="no_url", url=attachment.url)
        return download(self.session, attachment.url, provider=PROVIDER,
                        base_url=self.base_url, auth=self._auth, max_bytes=max_bytes,
                        allowed_types=allowed_types, timeout=self.timeout,
                        on_request=lambda: self.calls.record("download_attachment"))

    # -- lists ----------------------------------------------------------------------------------

    def _items(self, name: str, path: str, params: Mapping[str, Any] | None = None, *,
               pages: int | None = None) -> list[dict[str, Any]]:
        """A list answer (a JSON array), page after page through the ``Link: <…>;
        rel="next"`` header (https://developers.freshdesk.com/api/#pagination)."""
        items: list[dict[str, Any]] = []
        url, query = path, params
        for _ in range(pages or self.max_pages):
            response = self._request(name, "GET", url, params=query)
            body = decode_body(response)
            if not isinstance(body, list):
                raise TransientError(f"freshdesk {name}: HTTP {response.status_code} "
                                     "without a JSON list")
            items.extend(item for item in body if isinstance(item, dict))
            nxt = response.links.get("next", {}).get("url")
            if not nxt or pages is not None:
                return items
            url, query = self._on_our_base(nxt), None  # the link carries its own query
        # A partial list could hide the ticket or note looked for.
        raise ExternalServiceError(f"freshdesk {name}: more than {self.max_pages} pages",
                                   provider=PROVIDER, retryable=False)

    # -- the base's hooks -----------------------------------------------------------------------

    def _error_words(self, body: Any) -> tuple[str | None, str | None]:
        """``{"description": "Validation failed", "errors": [{"field", "message", "code"}]}``
        (every entry: one answer may name several fields) or ``{"code", "message"}``
        (https://developers.freshdesk.com/api/#error)."""
        if isinstance(body, dict):
            errors = body.get("errors")
            if isinstance(errors, list) and errors:
                entries = [e for e in errors if isinstance(e, dict)]
                words = []
                for entry in entries:
                    field_name = entry.get("field")
                    word = str(entry.get("message") or entry.get("code") or "invalid")
                    if entry.get("code") and entry.get("message"):
                        word += f" ({entry['code']})"
                    words.append(f"{field_name}: {word}" if field_name else word)
                description = str(body.get("description") or "")
                text = "; ".join(words)
                code = entries[0].get("code") if entries else None
                return (str(code) if code else None,
                        f"{description}: {text}" if description else text or None)
            code, message = body.get("code"), body.get("message") or body.get("description")
            return (str(code) if code else None), (str(message) if message else None)
        return super()._error_words(body)

    def _rate_limit_scope(self, response: requests.Response,
                          limit: tuple[str, str] | None) -> tuple[str, str | None]:
        # A write's 429 with calls left on the account is the ticket-writes class: pause only
        # writes. The class is per account, so never a key.
        remaining = response.headers.get("X-RateLimit-Remaining", "").strip()
        if limit is not None and remaining not in ("", "0"):
            return limit[0], None
        return ACCOUNT, None


# ---------------------------------------------------------------------- Freshdesk → core words


def _payload(request: WebhookRequest) -> Any:
    try:
        return json.loads(request.body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        # RecursionError: a body nested thousands deep (authenticated, yet not ours to crash on).
        raise WebhookRejected(400, "body is not JSON") from None


def _digits(value: Any) -> str:
    return "".join(ch for ch in str(value or "") if ch.isascii() and ch.isdigit())


def _group_key(name: Any) -> str:
    """A group's name as compared: case and runs of spaces aside."""
    return " ".join(str(name or "").split()).casefold()


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _gone(exc: ExternalServiceError) -> TicketGone:
    return TicketGone(str(exc), provider=PROVIDER, status=exc.status, code=exc.code,
                      response=exc.response)


def _html(text: str) -> str:
    """The customer's text as Freshdesk's HTML body: escaped, line breaks kept."""
    escaped = html.escape(text.replace("\r\n", "\n").replace("\r", "\n"), quote=False)
    return escaped.replace("\n", "<br>")


def _with_notices(text: str, notices: Sequence[str]) -> str:
    return "\n\n".join([text, *notices]) if notices else text


def _text(raw: Mapping[str, Any]) -> str:
    body_text = raw.get("body_text")
    if body_text is not None:
        return str(body_text)
    body = raw.get("body")
    return html_to_text(str(body)) if body else ""


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def _same_note(raw: Mapping[str, Any], text: str) -> bool:
    """A note holds ``text`` as the connector wrote it, perhaps followed by its notices of
    attachments it could not carry."""
    if str(raw.get("body") or "") == _html(text):
        return True
    written = _NOTICES.sub("", _text(raw))
    return _same_text(written, text)


def _form(fields: Mapping[str, Any],
          files: Sequence[tuple[str, bytes, str]]) -> list[tuple[str, Any]]:
    """Fields as multipart parts: lists as ``name[]`` repeated, booleans as true / false."""
    parts: list[tuple[str, Any]] = []
    for name, value in fields.items():
        values = value if isinstance(value, list | tuple) else [value]
        key = f"{name}[]" if isinstance(value, list | tuple) else name
        for item in values:
            parts.append((key, ("true" if item else "false") if isinstance(item, bool)
                          else str(item)))
    parts.extend(("attachments[]", (filename, content, content_type))
                 for filename, content, content_type in files)
    return parts


def _user(raw: Mapping[str, Any]) -> HelpdeskUser:
    return HelpdeskUser(id=int(raw["id"]), kind=AUTHOR_CUSTOMER, name=raw.get("name"),
                        raw=dict(raw))


def _ticket(raw: Mapping[str, Any]) -> Ticket:
    requester = raw.get("requester_id")
    updated_at = str(raw.get("updated_at") or "")
    status = raw.get("status")
    return Ticket(
        id=int(raw["id"]),
        state=STATES.get(status, TICKET_UNKNOWN) if isinstance(status, int) else TICKET_UNKNOWN,
        updated_at=updated_at,
        version=updated_at or None,
        requester_id=_int(requester) if requester is not None else None,
        tags=tuple(str(t) for t in raw.get("tags") or ()),
        priority=PRIORITY_WORDS.get(_int(raw.get("priority"))),
        raw=dict(raw),
    )


def _note_ticket(ticket_id: int, note: Mapping[str, Any]) -> Ticket:
    """What a note's answer says of its ticket: not its state (TICKET_UNKNOWN, no version)."""
    stamp = note.get("updated_at") or note.get("created_at") or ""
    return Ticket(id=int(ticket_id), state=TICKET_UNKNOWN, updated_at=str(stamp),
                  version=None, comment_id=_int(note.get("id")) or None,
                  raw={"note": dict(note)})


def _attachment(raw: Mapping[str, Any]) -> Attachment:
    size = raw.get("size")
    return Attachment(
        name=str(raw.get("name") or ""),
        content_type=raw.get("content_type"),
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        url=str(raw.get("attachment_url") or ""),
    )

"""In-memory state of the Freshdesk stand-in: agents, contacts, tickets, conversations, attachments.

No Flask here: `connector.sandbox.freshdesk` turns HTTP into calls on `FreshdeskStore` and
`FreshdeskError` back into Freshdesk's answers. Every public method expects the caller to hold
``store.lock`` (one lock for the account, so a ticket update and the automation rules it sets off
are one step).

Sources, in order of authority:

- the API reference, https://developers.freshdesk.com/api/ (cited by section: "Create a Ticket",
  "Error Handling", …) and ../shared/docs/reference/freshdesk.md, which summarises it;
- where the reference is silent, Freshdesk's own API server code as published in 2020 (a public
  mirror of the "helpkit" Rails app, e.g. github.com/Ramesh-Veeriaperumal/freshconsult at
  2d20a1e0e3, ``api/app/controllers/validations/ticket_validation.rb``,
  ``api/lib/error_messages.yml``): cited as "server code (2020)", plausible but possibly stale;
- otherwise a guess, marked "Guess:", choosing what is harder for a client.
"""

from __future__ import annotations

import html
import itertools
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# "Create a Ticket": Status 2 Open, 3 Pending, 4 Resolved, 5 Closed; Priority 1 Low … 4 Urgent;
# Source 1 Email, 2 Portal, 3 Phone, 7 Chat, 9 Feedback Widget, 10 Outbound Email.
STATUSES = {2: "Open", 3: "Pending", 4: "Resolved", 5: "Closed"}
STATUS_NAMES = {name.lower(): code for code, name in STATUSES.items()}
PRIORITIES = {1: "Low", 2: "Medium", 3: "High", 4: "Urgent"}
DEFAULT_SOURCES = {1: "Email", 2: "Portal", 3: "Phone", 7: "Chat", 9: "Feedback Widget",
                   10: "Outbound Email"}
# Accounts can add their own sources (ids from 101, readable in GET /api/v2/ticket_fields); the
# sandbox account has two.
CUSTOM_SOURCES = {101: "SMS", 102: "WhatsApp"}
# Conversation sources (server code (2020), Helpdesk::Source note sources): a reply goes out as
# e-mail (0), a note is 2.
CONVERSATION_REPLY = 0
CONVERSATION_NOTE = 2

TAG_MAX_LENGTH = 32  # "Tags: strings ≤ 32 chars" (server code (2020): TAG_MAX_LENGTH_STRING)
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024  # "the total size of these attachments cannot exceed 20MB"
MAX_RELATED_TICKETS = 300  # tracker: related_ticket_ids, at most 300 (reference doc)
LIST_WINDOW_SECONDS = 30 * 86400  # List All Tickets: "only tickets created in the past 30 days"

# Messages of api/lib/error_messages.yml, server code (2020).
MSG_MISSING = "Mandatory attribute missing"
MSG_INVALID_FIELD = "Unexpected/invalid field in request"
MSG_PHONE_NAME = "It should not be blank if phone is only given"
MSG_UNIQUE = "It should be a unique value"


class FreshdeskError(Exception):
    """An error answer: HTTP status plus Freshdesk's JSON body (None: an empty body)."""

    def __init__(
        self, status: int, body: dict[str, Any] | None, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def field_error(
    name: str, message: str, code: str = "invalid_value", **extra: Any
) -> dict[str, Any]:
    return {"field": name, "message": message, "code": code, **extra}


def validation_failed(errors: list[dict[str, Any]], status: int = 400) -> FreshdeskError:
    """ "Error Handling": 400 ``{"description": "Validation failed", "errors": [{field, message,
    code}]}``; a duplicate value is 409 with the same body (server code (2020),
    API_HTTP_ERROR_STATUS_BY_CODE)."""
    return FreshdeskError(status, {"description": "Validation failed", "errors": errors})


def invalid(name: str, message: str, code: str = "invalid_value") -> FreshdeskError:
    return validation_failed([field_error(name, message, code)])


def not_found() -> FreshdeskError:
    # The reference lists 404 "Requested Resource not Found" without a body; the server code
    # (2020) answers ``head 404`` (log_and_render_404): an empty body, so a client must not
    # expect JSON from a 404.
    return FreshdeskError(404, None)


def request_error(status: int, code: str, message: str) -> FreshdeskError:
    """The ``{"code", "message"}`` shape of errors that are not about one field ("Error
    Handling": e.g. invalid_credentials, invalid_json)."""
    return FreshdeskError(status, {"code": code, "message": message})


def iso(ts: float) -> str:
    """Freshdesk's timestamps: UTC, whole seconds, ``Z`` ("2026-12-05T10:00:00Z")."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: Any) -> float | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def html_to_text(markup: str) -> str:
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", markup)
    text = re.sub(r"<[^>]+>", "", text)
    return html.unescape(text).strip()


def as_int(value: Any, *, strings: bool) -> int | None:
    """An integer as the API takes it; ``strings`` allows "12" (multipart form fields are text:
    the server code (2020) validates them with ``allow_string_param``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if strings and isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


@dataclass
class Upload:
    """A file sent as ``attachments[]`` of a multipart request."""

    name: str
    content_type: str
    data: bytes


@dataclass
class Change:
    """What one API call or UI action did, for the automation rules of type 1 and 4.

    ``events`` use the rule event names (``reply_sent``, ``note_type``, ``status``, …) with
    ``from`` / ``to`` / ``value`` as the events of a rule are written.
    """

    kind: str  # "create" | "update"
    ticket_id: int
    performer_id: int
    events: list[dict[str, Any]] = field(default_factory=list)


_TICKET_CREATE_FIELDS = frozenset({
    "name", "requester_id", "email", "phone", "twitter_id", "facebook_id", "unique_external_id",
    "subject", "type", "status", "priority", "description", "responder_id", "attachments",
    "cc_emails", "custom_fields", "due_by", "email_config_id", "fr_due_by", "group_id",
    "product_id", "source", "tags", "company_id", "parent_id", "related_ticket_ids",
    "internal_agent_id", "internal_group_id",
})
_TICKET_UPDATE_FIELDS = (_TICKET_CREATE_FIELDS - {"related_ticket_ids", "parent_id", "cc_emails"}
                         ) | {"tracker_id"}
_CONTACT_FIELDS = frozenset({
    "name", "email", "phone", "mobile", "twitter_id", "unique_external_id", "other_emails",
    "company_id", "view_all_tickets", "other_companies", "address", "avatar", "custom_fields",
    "description", "job_title", "language", "tags", "time_zone",
})
_NOTE_FIELDS = frozenset({"body", "incoming", "notify_emails", "private", "user_id",
                          "attachments"})
_REPLY_FIELDS = frozenset({"body", "from_email", "user_id", "cc_emails", "bcc_emails",
                           "attachments"})


@dataclass
class FreshdeskStore:
    """The account's data. Hold ``lock`` around every call."""

    clock: Callable[[], float]
    api_agent_name: str = "Sandbox API Agent"
    api_agent_email: str = "api-agent@sandbox.example.com"
    lock: threading.RLock = field(default_factory=threading.RLock)
    agents: dict[int, dict[str, Any]] = field(default_factory=dict)
    contacts: dict[int, dict[str, Any]] = field(default_factory=dict)
    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    conversations: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    # attachment id -> (its public fields, bytes, download token)
    attachments: dict[int, tuple[dict[str, Any], bytes, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Deterministic ids: tickets are numbered per account from 1 (display ids); users,
        # conversations and attachments share one counter of large ids, so an id of the wrong
        # kind is a 404 rather than a silent hit.
        self._ticket_ids = itertools.count(1)
        self._big_ids = itertools.count(48_000_000_001)
        self.api_agent_id = self._add_agent(self.api_agent_name, self.api_agent_email)
        self.other_agent_id = self._add_agent("Alex Agent", "alex.agent@sandbox.example.com")

    # ------------------------------------------------------------------ ids and time

    def next_id(self) -> int:
        return next(self._big_ids)

    def now(self) -> float:
        return float(int(self.clock()))

    # ------------------------------------------------------------------ agents and contacts

    def _add_agent(self, name: str, email: str) -> int:
        aid = self.next_id()
        ts = iso(self.now())
        # "View an Agent" / "Currently Authenticated Agent": the agent's own fields plus the
        # contact fields under "contact".
        self.agents[aid] = {
            "available": True,
            "occasional": False,
            "id": aid,
            "ticket_scope": 1,
            "signature": None,
            "group_ids": [],
            "role_ids": [],
            "skill_ids": [],
            "available_since": None,
            "type": "support_agent",
            "created_at": ts,
            "updated_at": ts,
            "contact": {
                "active": True,
                "email": email,
                "job_title": None,
                "language": "en",
                "last_login_at": None,
                "mobile": None,
                "name": name,
                "phone": None,
                "time_zone": "Eastern Time (US & Canada)",
                "created_at": ts,
                "updated_at": ts,
            },
        }
        return aid

    def is_agent(self, uid: int) -> bool:
        return uid in self.agents

    def add_contact(
        self,
        name: str,
        *,
        phone: str | None = None,
        mobile: str | None = None,
        email: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A contact as created in the UI or by a ticket: no uniqueness check on phones (only
        e-mail, twitter_id and unique_external_id are unique: server code (2020),
        ApiContactsController#find_unique_user)."""
        cid = self.next_id()
        ts = iso(self.now())
        contact: dict[str, Any] = {
            "active": False,
            "address": None,
            "company_id": None,
            "description": None,
            "email": email,
            "id": cid,
            "job_title": None,
            "language": "en",
            "mobile": mobile,
            "name": name,
            "phone": phone,
            "time_zone": "Eastern Time (US & Canada)",
            "twitter_id": None,
            "unique_external_id": None,
            "other_emails": [],
            "custom_fields": {},
            "tags": [],
            "view_all_tickets": False,
            "deleted": False,
            "created_at": ts,
            "updated_at": ts,
        }
        contact.update({k: v for k, v in extra.items() if k in contact})
        self.contacts[cid] = contact
        return contact

    def contact(self, cid: Any) -> dict[str, Any]:
        contact_id = as_int(cid, strings=True)
        if contact_id is None or contact_id not in self.contacts:
            raise not_found()
        return self.contacts[contact_id]

    def create_contact(self, payload: Any) -> dict[str, Any]:
        """``POST /api/v2/contacts`` ("Create a Contact"): ``name`` is mandatory and one of
        email, phone, mobile, twitter_id, unique_external_id; an e-mail already used is 409."""
        data = _object(payload)
        errors = [field_error(k, MSG_INVALID_FIELD, "invalid_field")
                  for k in data if k not in _CONTACT_FIELDS]
        name = data.get("name")
        if name is None:
            errors.append(field_error("name", MSG_MISSING, "missing_field"))
        elif not isinstance(name, str) or not name.strip():
            errors.append(field_error("name", "It should be a/an String", "datatype_mismatch"))
        for key in ("email", "phone", "mobile", "twitter_id", "unique_external_id"):
            if data.get(key) is not None and not isinstance(data[key], str):
                errors.append(field_error(key, "It should be a/an String", "datatype_mismatch"))
        keys = ("email", "mobile", "phone", "twitter_id", "unique_external_id")
        if not any(isinstance(data.get(k), str) and data[k].strip() for k in keys):
            errors.append(field_error(
                "email", f"Please fill at least 1 of {', '.join(keys)} fields", "missing_field"))
        email = data.get("email")
        if isinstance(email, str) and email and "@" not in email:
            errors.append(field_error("email", "It should be in the 'valid email address' format"))
        if errors:
            raise validation_failed(errors)
        for key in ("email", "twitter_id", "unique_external_id"):
            value = data.get(key)
            if not value:
                continue
            owner = next((c for c in self.contacts.values() if _same(key, c.get(key), value)),
                         None)
            if owner is not None:
                # 409 with the owner's id ("Create a Contact" / server code (2020):
                # check_if_contact_exists sets additional_info {user_id}).
                raise validation_failed(
                    [field_error(key, MSG_UNIQUE, "duplicate_value",
                                 additional_info={"user_id": owner["id"]})], status=409)
        extra = {k: v for k, v in data.items() if k not in ("name", "phone", "mobile", "email")}
        return self.add_contact(str(name), phone=data.get("phone"), mobile=data.get("mobile"),
                                email=email, **extra)

    def find_contacts(self, filters: Mapping[str, str]) -> list[dict[str, Any]]:
        """``GET /api/v2/contacts?email=|phone=|mobile=``: exact string matches on the stored
        value (../shared/docs/reference/freshdesk.md: "an exact string match"). A ``+`` sent
        unencoded in the query arrives as a space and so matches nothing."""
        found = [c for c in self.contacts.values() if not c["deleted"]]
        for key in ("phone", "mobile"):
            if key in filters:
                found = [c for c in found if c[key] is not None and c[key] == filters[key]]
        if "email" in filters:
            found = [c for c in found if _same("email", c["email"], filters["email"])]
        if "company_id" in filters:
            found = [c for c in found if str(c["company_id"]) == filters["company_id"]]
        since = parse_iso(filters.get("_updated_since"))
        if since is not None:
            found = [c for c in found if (parse_iso(c["updated_at"]) or 0) >= since]
        return found

    # ------------------------------------------------------------------ tickets

    def ticket(self, tid: Any, *, allow_deleted: bool = False) -> dict[str, Any]:
        ticket_id = as_int(tid, strings=True)
        ticket = self.tickets.get(ticket_id if ticket_id is not None else -1)
        if ticket is None or (ticket["deleted"] and not allow_deleted):
            raise not_found()
        return ticket

    def create_ticket(
        self, payload: Any, uploads: list[Upload], performer_id: int, *, form: bool = False
    ) -> Change:
        """``POST /api/v2/tickets`` ("Create a Ticket"), JSON or multipart (``form``)."""
        data = _object(payload)
        errors = [field_error(k, MSG_INVALID_FIELD, "invalid_field")
                  for k in data if k not in _TICKET_CREATE_FIELDS]
        for key in ("subject", "description"):
            # Both are mandatory in practice (reference doc; server code (2020): description
            # ``required: true``, subject a required default field).
            if key not in data:
                errors.append(field_error(key, MSG_MISSING, "missing_field"))
            elif not isinstance(data[key], str):
                errors.append(field_error(key, "It should be a/an String", "datatype_mismatch"))
        errors += self._check_common(data, form=form, creating=True)
        identifiers = ("requester_id", "phone", "email", "twitter_id", "facebook_id",
                       "unique_external_id")
        if not any(data.get(k) not in (None, "") for k in identifiers):
            errors.append(field_error(
                "requester_id",
                "Please fill at least 1 of requester_id, phone, email, twitter_id, facebook_id "
                "fields", "missing_field"))
        # "Create a Ticket": "If the phone number is set and the email address is not, then the
        # name attribute is mandatory." The server code (2020) asks for it whenever only a phone
        # identifies the requester, whether or not a contact has that number.
        only_phone = data.get("phone") and not any(
            data.get(k) for k in ("email", "twitter_id", "facebook_id", "requester_id",
                                  "unique_external_id"))
        if only_phone and not (isinstance(data.get("name"), str) and data["name"].strip()):
            errors.append(field_error("name", MSG_PHONE_NAME, "missing_field"))
        related = self._related_ids(data, form=form, errors=errors)
        size = sum(len(u.data) for u in uploads)
        if size > MAX_ATTACHMENT_BYTES:
            errors.append(field_error(
                "attachments", f"It should not exceed {MAX_ATTACHMENT_BYTES // 1048576}MB in "
                "total", "invalid_size"))
        if errors:
            raise validation_failed(errors)
        requester_id = self._requester(data, form=form)

        now = self.now()
        ts = iso(now)
        tid = next(self._ticket_ids)
        description = data["description"]
        ticket: dict[str, Any] = {
            "cc_emails": list(data.get("cc_emails") or []),
            "fwd_emails": [],
            "reply_cc_emails": list(data.get("cc_emails") or []),
            "ticket_cc_emails": list(data.get("cc_emails") or []),
            "fr_escalated": False,
            "spam": False,
            "email_config_id": None,
            "group_id": None,
            "priority": 1,
            "requester_id": requester_id,
            "responder_id": None,
            "source": 2,  # "Create a Ticket": source defaults to 2 (Portal)
            "company_id": None,
            "status": 2,
            "subject": data["subject"],
            "association_type": None,
            "associated_tickets_list": None,
            "support_email": None,
            "to_emails": None,
            "product_id": None,
            "id": tid,
            "type": data.get("type"),
            "due_by": iso(now + 3 * 86400),
            "fr_due_by": iso(now + 86400),
            "is_escalated": False,
            "description": description,
            "description_text": html_to_text(description),
            "custom_fields": {},
            "tags": [],
            "attachments": [self._attach(u) for u in uploads],
            "deleted": False,
            "created_at": ts,
            "updated_at": ts,
        }
        self._apply_common(ticket, data, form=form)
        if related:
            # A tracker: association_type 3; each related ticket becomes association_type 4
            # ("Create a Tracker Ticket"; server code (2020) TicketConstants associations).
            ticket["association_type"] = 3
            ticket["associated_tickets_list"] = related
            for rid in related:
                self.tickets[rid]["association_type"] = 4
                self.tickets[rid]["associated_tickets_list"] = [tid]
        self.tickets[tid] = ticket
        self.conversations[tid] = []
        return Change("create", tid, performer_id, [{"field_name": "ticket_action",
                                                     "value": "create"}])

    def update_ticket(self, tid: Any, payload: Any, performer_id: int, *,
                      form: bool = False) -> Change:
        """``PUT /api/v2/tickets/{id}`` ("Update a Ticket"): fields given replace the stored
        ones, ``tags`` included (the whole list)."""
        ticket = self.ticket(tid)
        data = _object(payload)
        errors = [field_error(k, MSG_INVALID_FIELD, "invalid_field")
                  for k in data if k not in _TICKET_UPDATE_FIELDS]
        for key in ("subject", "description"):
            if key in data and not isinstance(data[key], str):
                errors.append(field_error(key, "It should be a/an String", "datatype_mismatch"))
        errors += self._check_common(data, form=form, creating=False)
        tracker = None
        if "tracker_id" in data:
            tracker_id = as_int(data["tracker_id"], strings=form)
            tracker = self.tickets.get(tracker_id if tracker_id is not None else -1)
            if tracker is None or tracker["deleted"] or tracker["association_type"] != 3:
                errors.append(field_error("tracker_id", "There is no tracker ticket matching "
                                          "the given tracker_id"))
            elif ticket["association_type"] is not None:
                errors.append(field_error("tracker_id", "The ticket is already associated",
                                          "incompatible_field"))
        if errors:
            raise validation_failed(errors)
        if any(data.get(k) for k in ("requester_id", "email", "phone")):
            ticket["requester_id"] = self._requester(data, form=form)
        before = {k: ticket[k] for k in ("status", "priority", "group_id", "responder_id",
                                         "type", "tags")}
        for key in ("subject", "description"):
            if key in data:
                ticket[key] = data[key]
        if "description" in data:
            ticket["description_text"] = html_to_text(data["description"])
        self._apply_common(ticket, data, form=form)
        if tracker is not None:
            tracker["associated_tickets_list"] = [*tracker["associated_tickets_list"],
                                                  ticket["id"]]
            ticket["association_type"] = 4
            ticket["associated_tickets_list"] = [tracker["id"]]
        events = []
        for key in ("status", "priority", "group_id", "responder_id", "type"):
            if ticket[key] != before[key]:
                events.append({"field_name": "ticket_type" if key == "type" else key,
                               "from": before[key], "to": ticket[key]})
        self.touch(ticket)
        return Change("update", ticket["id"], performer_id, events)

    def set_status(self, tid: Any, status: int, performer_id: int) -> Change:
        ticket = self.ticket(tid)
        old = ticket["status"]
        ticket["status"] = status
        self.touch(ticket)
        events = [] if old == status else [{"field_name": "status", "from": old, "to": status}]
        return Change("update", ticket["id"], performer_id, events)

    def delete_ticket(self, tid: Any) -> None:
        """"Delete a Ticket": 204; the ticket goes to the trash. Show still finds it, marked
        ``deleted: true``; updates, notes and replies answer 404; lists leave it out (server
        code (2020): SCOPE_BASED_ON_ACTION show {}, CONDITIONS_FOR_TICKET_ACTIONS deleted
        false)."""
        self.ticket(tid)["deleted"] = True

    def list_tickets(self, args: Mapping[str, str]) -> list[dict[str, Any]]:
        """``GET /api/v2/tickets`` ("List All Tickets"): filters requester_id, email,
        company_id, updated_since; without updated_since only tickets created within the past
        30 days; ``order_by`` created_at (default) | due_by | updated_at | status,
        ``order_type`` desc (default) | asc."""
        allowed = {"filter", "requester_id", "email", "company_id", "updated_since", "order_by",
                   "order_type", "include", "page", "per_page"}
        errors = [field_error(k, MSG_INVALID_FIELD, "invalid_field") for k in args
                  if k not in allowed]
        order_by = args.get("order_by", "created_at")
        if order_by not in ("created_at", "due_by", "updated_at", "status"):
            errors.append(field_error(
                "order_by", "It should be one of these values: 'created_at,due_by,updated_at,"
                "status'"))
        order_type = args.get("order_type", "desc")
        if order_type not in ("asc", "desc"):
            errors.append(field_error("order_type",
                                      "It should be one of these values: 'asc,desc'"))
        since = None
        if "updated_since" in args:
            since = parse_iso(args["updated_since"])
            if since is None:
                errors.append(field_error(
                    "updated_since", "It should be in the 'combined date and time ISO8601' "
                    "format"))
        requester = None
        if "requester_id" in args:
            requester = as_int(args["requester_id"], strings=True)
            if requester is None:
                errors.append(field_error("requester_id", "It should be a/an Positive Integer",
                                          "datatype_mismatch"))
        if errors:
            raise validation_failed(errors)
        found = [t for t in self.tickets.values() if not t["deleted"]]
        if requester is not None:
            found = [t for t in found if t["requester_id"] == requester]
        if "email" in args:
            ids = {c["id"] for c in self.contacts.values()
                   if _same("email", c["email"], args["email"])}
            found = [t for t in found if t["requester_id"] in ids]
        if "company_id" in args:
            found = [t for t in found if str(t["company_id"]) == args["company_id"]]
        if since is not None:
            found = [t for t in found if (parse_iso(t["updated_at"]) or 0) >= since]
        else:
            cutoff = self.now() - LIST_WINDOW_SECONDS
            found = [t for t in found if (parse_iso(t["created_at"]) or 0) >= cutoff]
        found.sort(key=lambda t: (t[order_by] or "", t["id"]), reverse=order_type == "desc")
        return found

    def touch(self, ticket: dict[str, Any]) -> None:
        ticket["updated_at"] = iso(self.now())

    # ------------------------------------------------------------------ conversations

    def add_note(self, tid: Any, payload: Any, uploads: list[Upload], *, form: bool = False
                 ) -> tuple[dict[str, Any], Change]:
        """``POST /api/v2/tickets/{id}/notes`` ("Create a Note"): ``private`` defaults to true,
        ``incoming`` to false, ``user_id`` to the API key's agent; the body is HTML."""
        ticket = self.ticket(tid)
        data = _object(payload)
        errors = [field_error(k, MSG_INVALID_FIELD, "invalid_field")
                  for k in data if k not in _NOTE_FIELDS]
        errors += _body_errors(data)
        flags = {}
        for key, default in (("private", True), ("incoming", False)):
            value = data.get(key, default)
            if form and isinstance(value, str) and value in ("true", "false"):
                value = value == "true"
            if not isinstance(value, bool):
                errors.append(field_error(key, "It should be a/an Boolean", "datatype_mismatch"))
            flags[key] = value
        user_id = self._user_id(data, form=form, errors=errors, agents_only=False)
        if errors:
            raise validation_failed(errors)
        conversation = self._add_conversation(
            ticket, data["body"], user_id, source=CONVERSATION_NOTE, private=flags["private"],
            incoming=flags["incoming"], uploads=uploads)
        if flags["private"]:
            events = [{"field_name": "note_type", "value": "private"}]
        elif self.is_agent(user_id):
            # Agent public notes fire note_type = public, not reply_sent (reference doc).
            events = [{"field_name": "note_type", "value": "public"}]
        else:
            # A customer's public note counts as their reply: it also raises reply_sent, with
            # the requester as performer (reference doc: "customer public notes also fire
            # reply_sent"; performer = agent is the echo guard).
            events = [{"field_name": "note_type", "value": "public"},
                      {"field_name": "reply_sent"}]
        return conversation, Change("update", ticket["id"], user_id, events)

    def reply(self, tid: Any, payload: Any, uploads: list[Upload], *, form: bool = False,
              default_user: int | None = None) -> tuple[dict[str, Any], Change]:
        """``POST /api/v2/tickets/{id}/reply`` ("Reply to a Ticket"): a public reply by an agent
        (``user_id``, default the API key's agent), sent as e-mail: conversation source 0."""
        ticket = self.ticket(tid)
        data = _object(payload)
        errors = [field_error(k, MSG_INVALID_FIELD, "invalid_field")
                  for k in data if k not in _REPLY_FIELDS]
        errors += _body_errors(data)
        user_id = self._user_id(data, form=form, errors=errors, agents_only=True,
                                default=default_user)
        if errors:
            raise validation_failed(errors)
        conversation = self._add_conversation(
            ticket, data["body"], user_id, source=CONVERSATION_REPLY, private=False,
            incoming=False, uploads=uploads)
        conversation["cc_emails"] = list(data.get("cc_emails") or [])
        conversation["bcc_emails"] = list(data.get("bcc_emails") or [])
        conversation["from_email"] = data.get("from_email") or "support@sandbox.freshdesk.com"
        return conversation, Change("update", ticket["id"], user_id,
                                    [{"field_name": "reply_sent"}])

    def private_agent_note(self, tid: Any, body: str, agent_id: int
                           ) -> tuple[dict[str, Any], Change]:
        ticket = self.ticket(tid)
        conversation = self._add_conversation(ticket, body, agent_id, source=CONVERSATION_NOTE,
                                              private=True, incoming=False, uploads=[])
        return conversation, Change("update", ticket["id"], agent_id,
                                    [{"field_name": "note_type", "value": "private"}])

    def _add_conversation(self, ticket: dict[str, Any], body: str, user_id: int, *,
                          source: int, private: bool, incoming: bool,
                          uploads: list[Upload]) -> dict[str, Any]:
        ts = iso(self.now())
        conversation = {
            "body": body,
            "body_text": html_to_text(body),
            "id": self.next_id(),
            "incoming": incoming,
            "private": private,
            "user_id": user_id,
            "support_email": None,
            "source": source,
            "category": 2 if source == CONVERSATION_NOTE else 3,
            "ticket_id": ticket["id"],
            "to_emails": [],
            "from_email": None,
            "cc_emails": [],
            "bcc_emails": [],
            "email_failure_count": None,
            "outgoing_failures": None,
            "created_at": ts,
            "updated_at": ts,
            "attachments": [self._attach(u) for u in uploads],
            "source_additional_info": None,
        }
        self.conversations[ticket["id"]].append(conversation)
        self.touch(ticket)
        return conversation

    def _attach(self, upload: Upload) -> dict[str, Any]:
        aid = self.next_id()
        ts = iso(self.now())
        meta = {
            "id": aid,
            "content_type": upload.content_type,
            "size": len(upload.data),
            "name": upload.name,
            "created_at": ts,
            "updated_at": ts,
        }
        # attachment_url is filled in per request (the base URL is known only then): a
        # pre-signed download link that needs no credentials, as Freshdesk's S3 links.
        self.attachments[aid] = (meta, upload.data, secrets.token_urlsafe(16))
        return meta

    # ------------------------------------------------------------------ helpers

    def _check_common(self, data: dict[str, Any], *, form: bool, creating: bool
                      ) -> list[dict[str, Any]]:
        errors: list[dict[str, Any]] = []
        choices: dict[str, Iterable[int]] = {
            "status": STATUSES, "priority": PRIORITIES,
            "source": [*DEFAULT_SOURCES, *CUSTOM_SOURCES],
        }
        for key, allowed in choices.items():
            if key not in data:
                continue
            value = as_int(data[key], strings=form)
            listed = ",".join(str(v) for v in allowed)
            if value is None or value not in set(allowed):
                errors.append(field_error(key, f"It should be one of these values: '{listed}'"))
        for key in ("group_id", "responder_id", "requester_id", "company_id", "product_id"):
            if data.get(key) is not None and (as_int(data[key], strings=form) or 0) <= 0:
                errors.append(field_error(key, "It should be a/an Positive Integer",
                                          "datatype_mismatch"))
        if "tags" in data:
            tags = data["tags"]
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                errors.append(field_error("tags", "It should be a/an Array", "datatype_mismatch"))
            else:
                if any(len(t) > TAG_MAX_LENGTH for t in tags):
                    errors.append(field_error(
                        "tags", "It should only contain elements that have maximum of "
                        f"{TAG_MAX_LENGTH} characters"))
                if any("," in t for t in tags):
                    errors.append(field_error(
                        "tags", "It should not have strings containing the special characters: "
                        "','"))
        if "custom_fields" in data and not isinstance(data["custom_fields"], dict):
            errors.append(field_error("custom_fields", "It should be a/an key/value pair",
                                      "datatype_mismatch"))
        for key in ("email", "phone", "name", "type"):
            if data.get(key) is not None and not isinstance(data[key], str):
                errors.append(field_error(key, "It should be a/an String", "datatype_mismatch"))
        if data.get("requester_id") is not None and not errors:
            rid = as_int(data["requester_id"], strings=form)
            if rid not in self.contacts and rid not in self.agents:
                errors.append(field_error(
                    "requester_id", "There is no contact matching the given requester_id"))
        # Groups are not modelled: any positive group_id is accepted.
        return errors

    def _apply_common(self, ticket: dict[str, Any], data: dict[str, Any], *, form: bool) -> None:
        for key in ("status", "priority", "source", "group_id", "responder_id", "company_id",
                    "product_id"):
            if key in data:
                ticket[key] = None if data[key] is None else as_int(data[key], strings=form)
        if "type" in data:
            ticket["type"] = data["type"]
        if "tags" in data:
            ticket["tags"] = list(dict.fromkeys(data["tags"]))
        if "custom_fields" in data:
            ticket["custom_fields"] = {**ticket["custom_fields"], **data["custom_fields"]}

    def _related_ids(self, data: dict[str, Any], *, form: bool,
                     errors: list[dict[str, Any]]) -> list[int]:
        if "related_ticket_ids" not in data:
            return []
        raw = data["related_ticket_ids"]
        ids = [as_int(v, strings=form) for v in raw] if isinstance(raw, list) else [None]
        if not ids or any(i is None for i in ids):
            errors.append(field_error("related_ticket_ids", "It should be a/an Array",
                                      "datatype_mismatch"))
            return []
        if len(ids) > MAX_RELATED_TICKETS:
            errors.append(field_error(
                "related_ticket_ids", f"Has {len(ids)} elements, it can have maximum of "
                f"{MAX_RELATED_TICKETS} elements"))
            return []
        checked = [i for i in ids if i is not None]
        missing = [i for i in checked
                   if i not in self.tickets or self.tickets[i]["deleted"]
                   or self.tickets[i]["association_type"] is not None]
        if missing:
            errors.append(field_error(
                "related_ticket_ids",
                f"There are no records matching the ids: '{','.join(map(str, missing))}'"))
            return []
        return list(dict.fromkeys(checked))

    def _requester(self, data: dict[str, Any], *, form: bool) -> int:
        if data.get("requester_id") is not None:
            rid = as_int(data["requester_id"], strings=form)
            assert rid is not None
            return rid
        email = data.get("email")
        if email:
            found = next((c for c in self.contacts.values() if _same("email", c["email"], email)),
                         None)
            if found is not None:
                return int(found["id"])
            name = data.get("name") or email.split("@")[0]
            return int(self.add_contact(name, email=email, phone=data.get("phone"))["id"])
        phone = data.get("phone")
        if phone:
            # An exact string match on the contact's phone field only: "+1 202-555-0142" and
            # "+12025550142" are different numbers, and a number stored as ``mobile`` is not
            # found. A miss creates a contact, so a careless client makes duplicates (reference
            # doc, "exact string match (2020)"; server code (2020): User.where(phone: …)).
            found = next((c for c in self.contacts.values()
                          if not c["deleted"] and c["phone"] == phone), None)
            if found is not None:
                return int(found["id"])
            return int(self.add_contact(str(data["name"]), phone=phone)["id"])
        # twitter_id / facebook_id / unique_external_id: a contact with that key, or a new one.
        for key in ("unique_external_id", "twitter_id"):
            if data.get(key):
                found = next((c for c in self.contacts.values() if c.get(key) == data[key]),
                             None)
                if found is not None:
                    return int(found["id"])
                return int(self.add_contact(data.get("name") or data[key],
                                            **{key: data[key]})["id"])
        return int(self.add_contact(data.get("name") or "Facebook user")["id"])

    def _user_id(self, data: dict[str, Any], *, form: bool, errors: list[dict[str, Any]],
                 agents_only: bool, default: int | None = None) -> int:
        if data.get("user_id") is None:
            return default if default is not None else self.api_agent_id
        uid = as_int(data["user_id"], strings=form)
        if uid is None:
            errors.append(field_error("user_id", "It should be a/an Positive Integer",
                                      "datatype_mismatch"))
            return self.api_agent_id
        known = uid in self.agents or (not agents_only and uid in self.contacts)
        if not known:
            errors.append(field_error(
                "user_id", "There is no agent matching the given user_id" if agents_only
                else "There is no user matching the given user_id"))
        return uid

    # ------------------------------------------------------------------ views

    def attachment_view(self, meta: dict[str, Any], base: str) -> dict[str, Any]:
        _, _, token = self.attachments[meta["id"]]
        return {**meta, "attachment_url": f"{base}/_attachments/{meta['id']}/{token}"}


def _same(key: str, stored: Any, wanted: Any) -> bool:
    if stored is None or wanted is None:
        return False
    if key == "email":
        return str(stored).lower() == str(wanted).lower()
    return bool(stored == wanted)


def _object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise request_error(400, "invalid_json", "Request body has invalid json format")
    return payload


def _body_errors(data: dict[str, Any]) -> list[dict[str, Any]]:
    body = data.get("body")
    if body is None:
        return [field_error("body", MSG_MISSING, "missing_field")]
    if not isinstance(body, str):
        return [field_error("body", "It should be a/an String", "datatype_mismatch")]
    if not body.strip():
        return [field_error("body", "It should not be blank as this is a mandatory field")]
    return []

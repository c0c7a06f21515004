"""In-memory state of the Zendesk Support stand-in: users, tickets, comments, audits, uploads.

No Flask here: `connector.sandbox.zendesk` turns HTTP into calls on `ZendeskStore` and
`ZendeskError` back into Zendesk's error bodies. Every public method expects the caller to hold
``store.lock`` (one lock for the whole account, so a ticket update and the triggers it fires are
one atomic step, as in Zendesk where triggers run inside the update's transaction).

Objects are kept in their API shape (plain dicts) so what the sandbox stores is what it answers;
``url`` / ``content_url`` fields are added on the way out because the base URL is only known per
request (the port is chosen when the server starts).
"""

from __future__ import annotations

import html
import itertools
import json
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from inscriptis import get_text

# Via ids: https://developer.zendesk.com/documentation/ticketing/reference-guides/via-types/
VIA_WEB = 0
VIA_API = 5
VIA_MERGE = 19  # the notes a ticket merge leaves, and the merge's status changes
VIA_CHANNELS = {VIA_WEB: "web", VIA_API: "api", 8: "rule", VIA_MERGE: "merge"}

STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
PRIORITIES = ("low", "normal", "high", "urgent")
TYPES = ("problem", "incident", "question", "task")

# Zendesk caps a ticket at 5,000 comments; the next comment is a 422 while other updates still
# work (TicketObject.comment in the OpenAPI spec).
COMMENT_CAP = 5000
# "Keys expire after two hours" (Support API introduction, Idempotency).
IDEMPOTENCY_TTL_SECONDS = 2 * 60 * 60


class ZendeskError(Exception):
    """An error answer: HTTP status plus the JSON body Zendesk sends for it."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def not_found() -> ZendeskError:
    return ZendeskError(404, {"error": "RecordNotFound", "description": "Not found"})


def bad_request(error: str, description: str) -> ZendeskError:
    return ZendeskError(400, {"error": error, "description": description})


def record_invalid(details: dict[str, list[dict[str, str]]]) -> ZendeskError:
    """422 as Zendesk words it: ``details`` maps a field (or ``base``) to its problems."""
    return ZendeskError(
        422,
        {"error": "RecordInvalid", "description": "Record validation errors", "details": details},
    )


def invalid(field_name: str, description: str, error: str = "InvalidValue") -> ZendeskError:
    return record_invalid({field_name: [{"description": description, "error": error}]})


def phone_digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def iso(ts: float) -> str:
    """Zendesk's timestamps: ISO 8601, UTC, whole seconds, ``Z``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def as_id(value: Any) -> int | None:
    """An id as Zendesk accepts it: an int or a string of digits (Rails casts both)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def normalize_tags(value: Any, field_name: str = "tags") -> list[str]:
    """Tags as Zendesk stores them: lowercased, split on whitespace and commas, deduplicated.

    Zendesk accepts an array or a space-separated string
    (https://support.zendesk.com/hc/en-us/articles/4408888664474 : "tags can't contain spaces").
    """
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise invalid(field_name, f"{field_name.capitalize()}: is invalid")
    tags: list[str] = []
    for item in value:
        for tag in item.replace(",", " ").split():
            tag = tag.lower()
            if tag not in tags:
                tags.append(tag)
    return tags


def body_to_html(body: str) -> str:
    # Zendesk renders a plain-text comment as paragraphs (blank lines) with <br> for single
    # newlines, wrapped in a zd-comment div.
    paragraphs = [p for p in body.replace("\r\n", "\n").split("\n\n") if p.strip()]
    inner = "".join(
        '<p dir="auto">' + "<br>".join(html.escape(line) for line in p.split("\n")) + "</p>"
        for p in paragraphs
    )
    return f'<div class="zd-comment" dir="auto">{inner}</div>'


def html_to_text(markup: str) -> str:
    return get_text(markup).strip()


def via(channel_id: int, source: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "channel": VIA_CHANNELS.get(channel_id, "api"),
        "source": source or {"from": {}, "to": {}, "rel": None},
    }


@dataclass
class Actor:
    """Who makes an update and through which channel: Zendesk's "current user" and "update via"."""

    user_id: int
    via_id: int
    client: str = "sandbox"
    ip_address: str = "127.0.0.1"


@dataclass
class UpdateContext:
    """What one create / update did, for the triggers that run after it."""

    update_type: str  # "Create" | "Change"
    actor: Actor
    before: dict[str, Any]
    comment: dict[str, Any] | None
    audit: dict[str, Any]


@dataclass
class Upload:
    token: str
    attachments: list[dict[str, Any]]
    contents: dict[int, bytes]
    expires_at: float
    used: bool = False


@dataclass
class IdempotentResult:
    fingerprint: str
    ticket_id: int
    response: dict[str, Any]
    stored_at: float


@dataclass
class ZendeskStore:
    """The account's data. Hold ``lock`` around every call."""

    subdomain: str
    api_user_email: str
    clock: Callable[[], float]
    comment_cap: int = COMMENT_CAP
    idempotency_ttl: float = IDEMPOTENCY_TTL_SECONDS
    lock: threading.RLock = field(default_factory=threading.RLock)
    base_url: str = ""
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    identities: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    audits: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    uploads: dict[str, Upload] = field(default_factory=dict)
    attachments: dict[int, tuple[dict[str, Any], bytes]] = field(default_factory=dict)
    idempotency: dict[str, IdempotentResult] = field(default_factory=dict)
    deleted_tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    # Whether a group id is one of the account's live groups: set by the admin objects
    # (connector.sandbox.zendesk_admin), which hold the groups; None accepts any id.
    group_exists: Callable[[int], bool] | None = None

    def __post_init__(self) -> None:
        # Zendesk numbers tickets per account from 1; users, comments and audits get large ids.
        # One counter for all big ids, so an id of the wrong kind is a 404 and not a silent hit.
        self._ticket_ids = itertools.count(1)
        self._big_ids = itertools.count(36_000_000_000_001, 7)
        self.api_user_id = self.add_user("Sandbox API Admin", self.api_user_email, role="admin")
        self.default_agent_id = self.add_user("Alex Agent", "agent@example.com", role="agent")
        self.add_user("Sam Support", "agent2@example.com", role="agent")

    # ------------------------------------------------------------------ ids and time

    def next_id(self) -> int:
        return next(self._big_ids)

    def now(self) -> float:
        # Whole seconds: Zendesk's updated_at (and so safe_update's updated_stamp) has no fraction.
        return float(int(self.clock()))

    # ------------------------------------------------------------------ users

    def add_user(
        self,
        name: str,
        email: str | None,
        *,
        role: str = "end-user",
        external_id: str | None = None,
    ) -> int:
        uid = self.next_id()
        ts = iso(self.now())
        self.users[uid] = {
            "id": uid,
            "name": name,
            "email": email,
            "created_at": ts,
            "updated_at": ts,
            "time_zone": "Eastern Time (US & Canada)",
            "iana_time_zone": "America/New_York",
            "phone": None,
            "shared_phone_number": None,
            "photo": None,
            "locale_id": 1,
            "locale": "en-US",
            "organization_id": None,
            "role": role,
            "verified": role != "end-user",
            "external_id": external_id,
            "tags": [],
            "alias": "",
            "active": True,
            "shared": False,
            "shared_agent": False,
            "last_login_at": None,
            "two_factor_auth_enabled": None,
            "signature": "",
            "details": "",
            "notes": "",
            "role_type": None,
            "custom_role_id": None,
            "moderator": role != "end-user",
            "ticket_restriction": "requested" if role == "end-user" else None,
            "only_private_comments": False,
            "restricted_agent": role == "end-user",
            "suspended": False,
            "default_group_id": None,
            "report_csv": role == "admin",
            "user_fields": {},
        }
        self.identities[uid] = []
        if email:
            self._add_identity(uid, "email", email)
        return uid

    def _add_identity(self, uid: int, kind: str, value: str) -> None:
        existing = self.identities[uid]
        if any(i["type"] == kind and i["value"] == value for i in existing):
            return
        ts = iso(self.now())
        existing.append(
            {
                "id": self.next_id(),
                "user_id": uid,
                "type": kind,
                "value": value,
                "verified": False,
                "primary": not any(i["type"] == kind for i in existing),
                "created_at": ts,
                "updated_at": ts,
                "undeliverable_count": 0,
                "deliverable_state": "deliverable",
            }
        )
        user = self.users[uid]
        if kind == "phone_number" and not user["phone"]:
            user["phone"] = value
        if kind == "email" and not user["email"]:
            user["email"] = value

    def phone_owner(self, phone: str) -> int | None:
        """The user whose phone identity (direct line) is this number, compared by digits."""
        digits = phone_digits(phone)
        for uid, identities in self.identities.items():
            if any(i["type"] == "phone_number" and phone_digits(i["value"]) == digits
                   for i in identities):
                return uid
        return None

    def search_users(self, query: str) -> list[dict[str, Any]]:
        """``/users/search?query=`` with the search syntax's ``role:`` and ``phone:`` terms
        as Zendesk documents them for finding a caller
        (https://developer.zendesk.com/documentation/voice/talk-partner-edition/retrieving-the-zendesk-user-id-of-a-caller/):
        ``phone:`` takes digits only, no ``+``, and a leading ``*`` matches any number ending so;
        it matches every number in the user's profile. Other words match a piece of the name
        or email, or the whole external_id. Real search lags writes by minutes; this one does not.
        """
        found = list(self.users.values())
        for term in query.split():
            key, _, value = term.partition(":")
            if key == "role" and value:
                found = [u for u in found if u["role"] == value]
            elif key == "phone" and value:
                wanted = value.lstrip("*")
                suffix = value.startswith("*")
                found = [
                    u
                    for u in found
                    if any(
                        (digits.endswith(wanted) if suffix else digits == wanted)
                        for digits in self._phone_digits_of(u)
                    )
                ]
            else:
                q = term.lower()
                found = [
                    u
                    for u in found
                    if q in (u["email"] or "").lower()
                    or q == (u["phone"] or "")
                    or q == (u["external_id"] or "").lower()
                    or q in u["name"].lower()
                ]
        return found

    def _phone_digits_of(self, user: dict[str, Any]) -> set[str]:
        numbers = {i["value"] for i in self.identities[user["id"]] if i["type"] == "phone_number"}
        if user["phone"]:
            numbers.add(user["phone"])
        return {phone_digits(n) for n in numbers}

    def user(self, uid: Any) -> dict[str, Any]:
        user_id = as_id(uid)
        if user_id is None or user_id not in self.users:
            raise not_found()
        return self.users[user_id]

    def role_of(self, uid: int) -> str:
        return str(self.users[uid]["role"])

    def create_or_update_user(self, payload: Any) -> tuple[int, bool]:
        """``POST /api/v2/users/create_or_update``: match on external_id, then email — nothing else.

        https://developer.zendesk.com/api-reference/ticketing/users/users/#create-or-update-user
        Returns (user id, created).
        """
        data = _wrapper(payload, "user")
        external_id = data.get("external_id")
        email = data.get("email")
        name = data.get("name")
        if external_id is not None and not isinstance(external_id, str | int):
            raise invalid("external_id", "External ID: is invalid")
        if external_id is not None:
            external_id = str(external_id)
        if email is not None and (not isinstance(email, str) or "@" not in email):
            raise invalid("email", f"Email: {email} is not properly formatted", "InvalidFormat")
        if name is not None and not isinstance(name, str):
            raise invalid("name", "Name: is invalid")
        identities = data.get("identities", [])
        if not isinstance(identities, list) or not all(
            isinstance(i, dict)
            and isinstance(i.get("type"), str)
            and isinstance(i.get("value"), str)
            for i in identities
        ):
            raise invalid("identities", "Identities: is invalid")
        for ident in identities:
            if ident["type"] not in ("email", "phone_number"):
                raise invalid("identities", f"Identity type {ident['type']} is not supported here")
        role = data.get("role", "end-user")
        if role not in ("end-user", "agent", "admin"):
            raise invalid("role", "Role: is invalid")
        phone = data.get("phone")
        if phone is not None and not isinstance(phone, str):
            raise invalid("phone", "Phone: is invalid")

        found = None
        if external_id is not None:
            found = next((u for u in self.users.values() if u["external_id"] == external_id), None)
        if found is None and email:
            lowered = email.lower()
            found = next(
                (u for u in self.users.values() if (u["email"] or "").lower() == lowered), None
            )
        for ident in identities:
            owner = self.phone_owner(ident["value"]) if ident["type"] == "phone_number" else None
            if owner is not None and (found is None or owner != found["id"]):
                # A direct line identifies one user: "Direct lines uniquely identify users"
                # (https://support.zendesk.com/hc/en-us/articles/10878444999450). Taken is a 422
                # RecordInvalid whose details are keyed by field, worded like "Email: … is
                # already being used by another user"
                # (https://support.zendesk.com/hc/en-us/articles/4408831446298); nothing is saved.
                raise invalid(
                    "identities",
                    f"Phone number: {ident['value']} is already being used by another user",
                    "DuplicateValue",
                )
        if found is None:
            if not name or not name.strip():
                raise invalid(
                    "name", "Name:  is too short (minimum one character)", "ValueTooShort"
                )
            uid = self.add_user(name, email, role=role, external_id=external_id)
            created = True
        else:
            uid = found["id"]
            if name:
                found["name"] = name
            if external_id is not None:
                found["external_id"] = external_id
            if email:
                self._add_identity(uid, "email", email)
            found["updated_at"] = iso(self.now())
            created = False
        user = self.users[uid]
        for ident in identities:
            self._add_identity(uid, ident["type"], ident["value"])
        if phone:
            user["phone"] = phone
        if isinstance(data.get("tags"), list | str):
            user["tags"] = normalize_tags(data["tags"])
        if isinstance(data.get("user_fields"), dict):
            user["user_fields"].update(data["user_fields"])
        return uid, created

    # ------------------------------------------------------------------ uploads

    def add_upload(
        self, filename: str, content_type: str, data: bytes, token: str | None
    ) -> Upload:
        if token is not None:
            upload = self.uploads.get(token)
            if upload is None or upload.used:
                raise not_found()
        else:
            upload = Upload(
                token=secrets.token_urlsafe(18),
                attachments=[],
                contents={},
                expires_at=self.clock() + 3 * 24 * 3600,  # upload tokens live 3 days
            )
            self.uploads[upload.token] = upload
        att_id = self.next_id()
        attachment = {
            "id": att_id,
            "file_name": filename,
            "content_type": content_type,
            "size": len(data),
            "width": None,
            "height": None,
            "inline": False,
            "deleted": False,
            "malware_access_override": False,
            "malware_scan_result": "malware_not_found",
            "thumbnails": [],
            "_token": upload.token,
        }
        upload.attachments.append(attachment)
        upload.contents[att_id] = data
        self.attachments[att_id] = (attachment, data)
        return upload

    def _take_uploads(self, tokens: Any) -> list[dict[str, Any]]:
        if tokens is None:
            return []
        if isinstance(tokens, str):
            tokens = [tokens]
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise invalid("uploads", "Uploads: is invalid")
        attached: list[dict[str, Any]] = []
        for token in tokens:
            upload = self.uploads.get(token)
            # Zendesk silently ignores a token it does not know (or already used): the comment
            # is saved without that attachment.
            if upload is None or upload.used or upload.expires_at < self.clock():
                continue
            upload.used = True
            attached.extend(upload.attachments)
        return attached

    # ------------------------------------------------------------------ tickets

    def ticket(self, tid: Any) -> dict[str, Any]:
        ticket_id = as_id(tid)
        if ticket_id is None or ticket_id not in self.tickets:
            raise not_found()
        return self.tickets[ticket_id]

    def delete_ticket(self, tid: Any) -> None:
        """``DELETE /api/v2/tickets/{id}``: the ticket moves to the deleted tickets (restorable
        for 30 days) and is no longer found: show, update and its comments answer 404
        RecordNotFound (https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#delete-ticket;
        ../shared/docs/reference/zendesk.md "A deleted ticket answers 404 RecordNotFound")."""
        ticket = self.ticket(tid)
        self.deleted_tickets[ticket["id"]] = self.tickets.pop(ticket["id"])

    def idempotent_lookup(self, key: str, fingerprint: str) -> dict[str, Any] | None:
        """The stored answer for ``key``, None on a miss; 400 when the body differs."""
        self._expire_idempotency()
        hit = self.idempotency.get(key)
        if hit is None:
            return None
        if hit.fingerprint != fingerprint:
            # Same wording as Zendesk's answer (zendesk-java-client IdempotencyUtil names the
            # error; the description is the one Zendesk returns).
            raise bad_request(
                "IdempotentRequestError", "Request parameters don't match the given idempotency key"
            )
        return hit.response

    def idempotent_store(self, key: str, fingerprint: str, ticket_id: int, response: Any) -> None:
        self.idempotency[key] = IdempotentResult(fingerprint, ticket_id, response, self.clock())

    def _expire_idempotency(self) -> None:
        cutoff = self.clock() - self.idempotency_ttl
        for key in [k for k, v in self.idempotency.items() if v.stored_at <= cutoff]:
            del self.idempotency[key]

    def create_ticket(self, payload: Any, actor: Actor) -> UpdateContext:
        data = _wrapper(payload, "ticket")
        comment_in = data.get("comment")
        if comment_in is not None and not isinstance(comment_in, dict):
            raise invalid("comment", "Comment: is invalid")
        comment_in = comment_in or {}
        body = comment_in.get("body")
        html_body = comment_in.get("html_body")
        if body is not None and not isinstance(body, str):
            raise invalid("comment", "Comment: body is invalid")
        if html_body is not None and not isinstance(html_body, str):
            raise invalid("comment", "Comment: html_body is invalid")
        if not (body or "").strip() and not (html_body or "").strip():
            # A ticket's description is its first comment; Zendesk refuses a ticket without it.
            raise invalid("base", "Description: cannot be blank", "BlankValue")

        requester_id = self._requester(data)
        submitter_id = self._optional_user(data, "submitter_id") or actor.user_id
        assignee_id = self._optional_user(data, "assignee_id")
        if assignee_id is not None and self.role_of(assignee_id) == "end-user":
            raise invalid("assignee_id", "Assignee: is not an agent")
        status = self._enum(data, "status", STATUSES) or ("open" if assignee_id else "new")
        if status == "solved" and assignee_id is None:
            raise invalid("base", "Assignee: is required when solving a ticket", "AssigneeRequired")
        priority = self._enum(data, "priority", PRIORITIES)
        ticket_type = self._enum(data, "type", TYPES)
        problem_id = self._problem(data, ticket_type)
        tags = normalize_tags(data["tags"]) if data.get("tags") is not None else []
        subject = data.get("subject")
        if subject is not None and not isinstance(subject, str):
            raise invalid("subject", "Subject: is invalid")
        external_id = data.get("external_id")
        if external_id is not None and not isinstance(external_id, str | int):
            raise invalid("external_id", "External ID: is invalid")
        source: dict[str, Any] = {"from": {}, "to": {}, "rel": None}
        followup = data.get("via_followup_source_id")
        if followup is not None:
            source_ticket = self.tickets.get(as_id(followup) or -1)
            if source_ticket is None:
                raise invalid("via_followup_source_id", "Follow-up source: ticket not found")
            if source_ticket["status"] != "closed":
                # A follow-up can only be made from a closed ticket (Creating a follow-up ticket).
                raise invalid("via_followup_source_id", "Follow-up source: ticket is not closed")
            source = {
                "from": {"ticket_id": source_ticket["id"], "subject": source_ticket["subject"]},
                "to": {},
                "rel": "follow_up",
            }
        author_id = self._optional_user(comment_in, "author_id", "comment") or submitter_id
        public = comment_in.get("public", True)
        if not isinstance(public, bool):
            raise invalid("comment", "Comment: public is invalid")
        attachments = self._take_uploads(comment_in.get("uploads"))

        now = self.now()
        tid = next(self._ticket_ids)
        text: str = body if body and body.strip() else html_to_text(html_body or "")
        ticket: dict[str, Any] = {
            "id": tid,
            "external_id": None if external_id is None else str(external_id),
            "via": via(actor.via_id, source),
            "created_at": iso(now),
            "updated_at": iso(now),
            "generated_timestamp": int(now),
            "type": ticket_type,
            "subject": subject if subject else text.strip().split("\n")[0][:150],
            "raw_subject": subject if subject else text.strip().split("\n")[0][:150],
            "description": text,
            "priority": priority,
            "status": status,
            "recipient": None,
            "requester_id": requester_id,
            "submitter_id": submitter_id,
            "assignee_id": assignee_id,
            "organization_id": None,
            "group_id": None,
            "collaborator_ids": [],
            "follower_ids": [],
            "email_cc_ids": [],
            "forum_topic_id": None,
            "problem_id": problem_id,
            "has_incidents": False,
            "is_public": public,
            "due_at": None,
            "tags": tags,
            "custom_fields": _custom_fields(data.get("custom_fields")),
            "satisfaction_rating": None,
            "sharing_agreement_ids": [],
            "followup_ids": [],
            "ticket_form_id": None,
            "brand_id": None,
            "allow_channelback": False,
            "allow_attachments": True,
            "from_messaging_channel": False,
        }
        if source["rel"] == "follow_up":
            self.tickets[source["from"]["ticket_id"]]["followup_ids"].append(tid)
        self.tickets[tid] = ticket
        self.comments[tid] = []
        self.audits[tid] = []
        audit = self._new_audit(ticket, actor, data.get("metadata"), now)
        self._add_comment(ticket, audit, author_id, body, html_body, public, attachments, actor)
        for name in ("subject", "requester_id", "status", "priority", "type", "tags"):
            if ticket[name] not in (None, []):
                audit["events"].append(self._event("Create", name, ticket[name]))
        self.audits[tid].append(audit)
        return UpdateContext("Create", actor, {}, self.comments[tid][-1], audit)

    def update_ticket(self, tid: Any, payload: Any, actor: Actor) -> UpdateContext:
        ticket = self.ticket(tid)
        data = _wrapper(payload, "ticket")
        if ticket["status"] == "closed":
            raise invalid("status", "Status: closed prevents ticket update", "ClosedTicket")
        if data.get("safe_update") is not None and data.get("updated_stamp") is not None:
            # Any safe_update value counts ("A value of false has the same effect as true").
            stamp = parse_iso(data["updated_stamp"])
            if stamp is None:
                raise invalid("updated_stamp", "Updated stamp: is invalid")
            if int(stamp) != int(parse_iso(ticket["updated_at"]) or 0):
                raise ZendeskError(
                    409,
                    {
                        "error": "UpdateConflict",
                        "description": "Safe Update prevented the update due to outdated ticket "
                        "data. Please fetch the latest ticket data and try again.",
                    },
                )

        changes: dict[str, Any] = {}
        status = self._enum(data, "status", STATUSES)
        if status is not None and status != ticket["status"]:
            if status == "new":
                raise invalid("status", "Status: new is not valid for ticket update")
            changes["status"] = status
        priority = self._enum(data, "priority", PRIORITIES)
        if "priority" in data and priority != ticket["priority"]:
            changes["priority"] = priority
        if "type" in data:
            ticket_type = self._enum(data, "type", TYPES)
            if ticket_type != ticket["type"]:
                changes["type"] = ticket_type
        if "problem_id" in data:
            problem = self._problem(data, changes.get("type", ticket["type"]))
            if problem != ticket["problem_id"]:
                changes["problem_id"] = problem
        if "group_id" in data:
            # TicketObject.group_id, "The group this ticket is assigned to"
            # (https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#json-format);
            # an id that is no live group is refused (wording guessed).
            group = data["group_id"]
            if group is not None and (
                not isinstance(group, int) or isinstance(group, bool)
                or (self.group_exists is not None and not self.group_exists(group))
            ):
                raise invalid("group_id", "Group: is invalid")
            if group != ticket["group_id"]:
                changes["group_id"] = group
        if "assignee_id" in data:
            assignee = self._optional_user(data, "assignee_id")
            if assignee is not None and self.role_of(assignee) == "end-user":
                raise invalid("assignee_id", "Assignee: is not an agent")
            if assignee != ticket["assignee_id"]:
                changes["assignee_id"] = assignee
        for name in ("subject", "external_id"):
            if name in data:
                value = data[name]
                if value is not None and not isinstance(value, str):
                    raise invalid(name, f"{name.capitalize()}: is invalid")
                if value != ticket[name]:
                    changes[name] = value
        if "requester_id" in data:
            requester = self._optional_user(data, "requester_id")
            if requester is not None and requester != ticket["requester_id"]:
                changes["requester_id"] = requester
        tags = list(ticket["tags"])
        if data.get("tags") is not None:  # `tags` REPLACES the whole set
            tags = normalize_tags(data["tags"])
        if data.get("additional_tags") is not None:
            tags += [
                t
                for t in normalize_tags(data["additional_tags"], "additional_tags")
                if t not in tags
            ]
        if data.get("remove_tags") is not None:
            removed = normalize_tags(data["remove_tags"], "remove_tags")
            tags = [t for t in tags if t not in removed]
        if tags != ticket["tags"]:
            changes["tags"] = tags
        if changes.get("status", ticket["status"]) == "solved" and not changes.get(
            "assignee_id", ticket["assignee_id"]
        ):
            raise invalid("base", "Assignee: is required when solving a ticket", "AssigneeRequired")

        comment_in = data.get("comment")
        if comment_in is not None and not isinstance(comment_in, dict):
            raise invalid("comment", "Comment: is invalid")
        new_comment: tuple[int, str | None, str | None, bool, list[dict[str, Any]]] | None = None
        if comment_in:
            body = comment_in.get("body")
            html_body = comment_in.get("html_body")
            if body is not None and not isinstance(body, str):
                raise invalid("comment", "Comment: body is invalid")
            if html_body is not None and not isinstance(html_body, str):
                raise invalid("comment", "Comment: html_body is invalid")
            public = comment_in.get("public", True)
            if not isinstance(public, bool):
                raise invalid("comment", "Comment: public is invalid")
            author_id = self._optional_user(comment_in, "author_id", "comment") or actor.user_id
            uploads = comment_in.get("uploads")
            has_text = bool((body or "").strip() or (html_body or "").strip())
            if has_text or uploads:
                if len(self.comments[ticket["id"]]) >= self.comment_cap:
                    raise invalid(
                        "base",
                        f"Comments: the ticket has reached the limit of {self.comment_cap} "
                        "comments",
                        "TooManyComments",
                    )
                new_comment = (author_id, body, html_body, public, self._take_uploads(uploads))

        before = dict(ticket)
        now = self.now()
        audit = self._new_audit(ticket, actor, data.get("metadata"), now)
        comment = None
        if new_comment is not None:
            comment = self._add_comment(ticket, audit, *new_comment, actor)
        for name, value in changes.items():
            audit["events"].append(self._event("Change", name, value, before[name]))
            ticket[name] = value
        if custom := data.get("custom_fields"):
            ticket["custom_fields"] = _custom_fields(custom)
        if audit["events"]:
            self.touch(ticket, now)
            self.audits[ticket["id"]].append(audit)
        return UpdateContext("Change", actor, before, comment, audit)

    def merge_tickets(self, tid: Any, payload: Any, user_id: int) -> list[UpdateContext]:
        """Merge Tickets into Target Ticket, done at once: a note on each source ticket, which is
        closed, and one on the target, all via "merge" (19) and authored by ``user_id``.

        Notes default to private; ``*_comment_is_public`` make them public. Without a
        ``target_comment`` / ``source_comment`` the notes read as Zendesk's defaults. Attachments of
        the sources' comments are copied onto the target's note. Returns the updates, target first,
        for the triggers (current_via_id 19, current user ``user_id``).
        """
        target = self.ticket(tid)
        data = payload if isinstance(payload, dict) else {}
        ids = data.get("ids")
        if not isinstance(ids, list) or not ids:
            raise bad_request("InvalidParameter", "ids: an array of ticket ids is required")
        if self.role_of(user_id) == "end-user":
            raise ZendeskError(403, {"error": "Forbidden", "description": "You do not have access"})
        source_ids: list[int] = []
        for raw in ids:
            sid = as_id(raw)
            if sid is None:
                raise invalid("ids", "Ids: is invalid")
            if sid not in source_ids:
                source_ids.append(sid)
        if target["id"] in source_ids:
            raise invalid("ids", "Ids: a ticket cannot be merged into itself")
        sources = [self.ticket(sid) for sid in source_ids]
        for ticket in (target, *sources):
            if ticket["status"] == "closed":
                raise invalid("status", "Status: closed prevents ticket update", "ClosedTicket")
        texts = {}
        for name in ("target_comment", "source_comment"):
            value = data.get(name)
            if value is not None and not isinstance(value, str):
                raise invalid(name, f"{name}: is invalid")
            texts[name] = value
        flags = {}
        for name in ("target_comment_is_public", "source_comment_is_public"):
            value = data.get(name, False)
            if not isinstance(value, bool):
                raise invalid(name, f"{name}: is invalid")
            flags[name] = value

        actor = Actor(user_id, VIA_MERGE, client="Zendesk merge")
        now = self.now()
        contexts: list[UpdateContext] = []
        copied = [
            dict(att) for s in sources for c in self.comments[s["id"]] for att in c["attachments"]
        ]
        subjects = [s["subject"] or "" for s in sources]
        default_target = "\n".join(
            f'Request #{s["id"]} "{subject}" was closed and merged into this request.'
            for s, subject in zip(sources, subjects, strict=True)
        )
        target_source = {
            "from": {"ticket_id": source_ids[0], "ticket_ids": source_ids, "subjects": subjects},
            "to": {},
            "rel": "merge",
        }
        before = dict(target)
        audit = self._new_audit(target, actor, None, now)
        audit["via"]["source"] = target_source
        comment = self._add_comment(
            target,
            audit,
            user_id,
            texts["target_comment"] or default_target,
            None,
            flags["target_comment_is_public"],
            copied,
            actor,
        )
        comment["via"]["source"] = target_source
        self.touch(target, now)
        self.audits[target["id"]].append(audit)
        contexts.append(UpdateContext("Change", actor, before, comment, audit))

        for source in sources:
            source_via = {
                "from": {},
                "to": {"ticket_id": target["id"], "subject": target["subject"] or ""},
                "rel": "merge",
            }
            before = dict(source)
            audit = self._new_audit(source, actor, None, now)
            audit["via"]["source"] = source_via
            default_source = (
                f'This request was closed and merged into request #{target["id"]} '
                f'"{target["subject"] or ""}".'
            )
            comment = self._add_comment(
                source,
                audit,
                user_id,
                texts["source_comment"] or default_source,
                None,
                flags["source_comment_is_public"],
                [],
                actor,
            )
            comment["via"]["source"] = source_via
            audit["events"].append(self._event("Change", "status", "closed", source["status"]))
            source["status"] = "closed"
            self.touch(source, now)
            self.audits[source["id"]].append(audit)
            contexts.append(UpdateContext("Change", actor, before, comment, audit))
        return contexts

    def touch(self, ticket: dict[str, Any], now: float | None = None) -> None:
        now = self.now() if now is None else now
        ticket["updated_at"] = iso(now)
        ticket["generated_timestamp"] = int(now)

    def incidents_of(self, problem_id: int) -> list[dict[str, Any]]:
        return [t for t in self.tickets.values() if t["problem_id"] == problem_id]

    # ------------------------------------------------------------------ helpers

    def _requester(self, data: dict[str, Any]) -> int:
        if data.get("requester_id") is not None:
            rid = self._optional_user(data, "requester_id")
            assert rid is not None
            return rid
        requester = data.get("requester")
        if isinstance(requester, dict):
            # `requester` takes name, email, locale only — never a phone (reference doc).
            email = requester.get("email")
            if not isinstance(email, str) or "@" not in email:
                raise invalid("requester", "Requester: Email is invalid")
            uid, _ = self.create_or_update_user(
                {"user": {"email": email, "name": requester.get("name") or email.split("@")[0]}}
            )
            return uid
        if requester is not None:
            raise invalid("requester", "Requester: is invalid")
        # Without a requester the authenticated user requests the ticket.
        return self.api_user_id

    def _optional_user(
        self, data: dict[str, Any], key: str, where: str | None = None
    ) -> int | None:
        if data.get(key) is None:
            return None
        uid = as_id(data[key])
        name = key if where is None else f"{where}.{key}"
        if uid is None:
            raise invalid(name, f"{key}: is invalid")
        if uid not in self.users:
            raise invalid(name, f"{key}: user {uid} not found")
        return uid

    @staticmethod
    def _enum(data: dict[str, Any], key: str, allowed: Iterable[str]) -> str | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or value.lower() not in allowed:
            raise invalid(key, f"{key.capitalize()}: {value} is not a valid value")
        return value.lower()

    def _problem(self, data: dict[str, Any], ticket_type: str | None) -> int | None:
        if data.get("problem_id") is None:
            return None
        pid = as_id(data["problem_id"])
        problem = self.tickets.get(pid or -1)
        if problem is None or problem["type"] != "problem":
            raise invalid("problem_id", "Problem: is not a problem ticket")
        if ticket_type != "incident":
            raise invalid("problem_id", "Problem: can only be set on incidents")
        problem["has_incidents"] = True
        return pid

    def _new_audit(
        self, ticket: dict[str, Any], actor: Actor, metadata: Any, now: float
    ) -> dict[str, Any]:
        custom = metadata.get("custom", metadata) if isinstance(metadata, dict) else {}
        return {
            "id": self.next_id(),
            "ticket_id": ticket["id"],
            "created_at": iso(now),
            "author_id": actor.user_id,
            "metadata": {
                "system": {"client": actor.client, "ip_address": actor.ip_address},
                "custom": custom if isinstance(custom, dict) else {},
            },
            "via": via(actor.via_id),
            "events": [],
        }

    def _event(self, kind: str, name: str, value: Any, previous: Any = None) -> dict[str, Any]:
        event: dict[str, Any] = {"id": self.next_id(), "type": kind, "field_name": name}
        event["value"] = [*value] if isinstance(value, list) else value
        if kind == "Change":
            event["previous_value"] = [*previous] if isinstance(previous, list) else previous
        return event

    def _add_comment(
        self,
        ticket: dict[str, Any],
        audit: dict[str, Any],
        author_id: int,
        body: str | None,
        html_body: str | None,
        public: bool,
        attachments: list[dict[str, Any]],
        actor: Actor,
    ) -> dict[str, Any]:
        if (body or "").strip():
            text = body or ""
            markup = body_to_html(text)
        else:
            markup = html_body or ""
            text = html_to_text(markup)
        comment = {
            "id": self.next_id(),
            "type": "Comment",
            "author_id": author_id,
            "body": text,
            "html_body": markup,
            "plain_body": text,
            "public": public,
            "attachments": attachments,
            "audit_id": audit["id"],
            "via": via(actor.via_id),
            "created_at": audit["created_at"],
            "metadata": {
                "system": dict(audit["metadata"]["system"]),
                "custom": audit["metadata"]["custom"],
            },
        }
        self.comments[ticket["id"]].append(comment)
        if public:
            ticket["is_public"] = True
        audit["events"].append(
            {
                k: comment[k]
                for k in (
                    "id",
                    "type",
                    "author_id",
                    "body",
                    "html_body",
                    "plain_body",
                    "public",
                    "attachments",
                    "audit_id",
                )
            }
        )
        return comment


def _wrapper(payload: Any, key: str) -> dict[str, Any]:
    """The object inside ``{"<key>": {...}}``; Zendesk answers 400 when it is missing."""
    if not isinstance(payload, dict) or key not in payload:
        raise bad_request("ParameterMissing", f"param is missing or the value is empty: {key}")
    data = payload[key]
    if not isinstance(data, dict):
        raise bad_request("ParameterInvalid", f"{key} must be an object")
    return data


def _custom_fields(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(
        isinstance(f, dict) and as_id(f.get("id")) is not None for f in value
    ):
        raise invalid("custom_fields", "Custom fields: is invalid")
    return [{"id": as_id(f["id"]), "value": f.get("value")} for f in value]


def fingerprint(payload: Any) -> str:
    """What makes two creations "the same request" for the Idempotency-Key check."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))

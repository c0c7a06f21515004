"""A Freshdesk (API v2) stand-in that follows the real API: same paths, JSON shapes, status codes,
error bodies, rate-limit headers, automation rules and their webhooks.

    create_app(...) -> Flask        the stand-in; its state is app.extensions["freshdesk_sandbox"]
    FreshdeskSandbox                that state: store (agents, contacts, tickets …), rules,
                                    webhook deliveries; add_contact / agent_reply /
                                    set_status / flush / close for in-process use

Layout: `freshdesk_store` holds agents, contacts, tickets, conversations and attachments;
`freshdesk_rules` holds the automation rules and decides which fire; this module is the HTTP
surface, auth, rate limits and webhook delivery. Latency, outages, the account per-minute budget
set as a fault and the "commit then drop the connection" fault come from
`connector.sandbox.common`, as for the Zendesk stand-in.

API routes (HTTP Basic, user name = API key, any password; https://developers.freshdesk.com/api/
"Authentication"): ``GET /api/v2/agents/me``; ``GET|POST /api/v2/contacts``,
``GET /api/v2/contacts/{id}``; ``GET /api/v2/ticket_fields``; ``GET|POST /api/v2/tickets``,
``GET|PUT|DELETE /api/v2/tickets/{id}``; ``POST /api/v2/tickets/{id}/notes``,
``POST /api/v2/tickets/{id}/reply``, ``GET /api/v2/tickets/{id}/conversations``;
``GET|POST /api/v2/automations/{1|3|4}/rules``, ``GET|PUT|DELETE …/rules/{id}``; groups, SLA
policies, canned-response folders and responses, business hours
(`connector.sandbox.freshdesk_admin`, which also gives tickets their ``fr_due_by`` / ``due_by``).
Attachment
downloads: ``GET /_attachments/{id}/{token}`` (no credentials: the token is the secret, like
Freshdesk's pre-signed S3 links).

Sandbox-only routes (no auth, never faulted): ``POST /_sandbox/agent_reply`` (an agent replies in
the UI: a public reply, conversation source 0, or with ``public: false`` a private note),
``POST /_sandbox/tickets/<id>/status`` (an agent changes the status in the UI),
``POST /_sandbox/contacts`` (a contact added by hand), ``GET /_sandbox/state``,
``POST /_sandbox/flush`` (wait for webhook deliveries, sending retries that are due),
``POST /_sandbox/account`` (``{"requests_per_minute": N}``), ``POST /_sandbox/automations/run``
(the hourly rules, ``{"hours": N}`` to move the clock and scan N times) and
``GET/POST /_sandbox/faults`` / ``/_sandbox/clock``.

Known simplifications and guesses (each also said where it is made): every webhook is sent as a
POST whatever its ``request_type``; e-mail is not sent; hourly (type 3) rules run only when asked;
a ticket's group_id is not checked against the groups, companies and products are not modelled
(any positive id is taken); a failed webhook
is retried at +5 min, +30 min and +1 h of the sandbox clock (reference doc), when a request or a
flush finds a retry due; the ~1,000 webhooks / hour cap is not enforced.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from connector.sandbox.common import (
    SandboxControls,
    SlidingWindowLimiter,
    WebhookSender,
    install_controls,
    register_closer,
)
from connector.sandbox.freshdesk_admin import FreshdeskAdmin, register_admin_routes
from connector.sandbox.freshdesk_rules import Rules, WebhookCall
from connector.sandbox.freshdesk_store import (
    CUSTOM_SOURCES,
    DEFAULT_SOURCES,
    PRIORITIES,
    STATUS_NAMES,
    STATUSES,
    Change,
    FreshdeskError,
    FreshdeskStore,
    Upload,
    field_error,
    iso,
    request_error,
    validation_failed,
)

__all__ = ["FreshdeskSandbox", "create_app"]

API_KEY = "sandbox-api-key"
DOMAIN = "sandbox.freshdesk.com"
# Default account budget: large enough for any test; a test of the limit sets
# controls.faults.per_minute or POST /_sandbox/account {"requests_per_minute": N}.
DEFAULT_REQUESTS_PER_MINUTE = 10_000
# "Webhooks from Freshdesk": any non-2xx is retried at +5 min, +30 min, +1 h (reference doc).
WEBHOOK_RETRY_DELAYS = (300.0, 1800.0, 3600.0)
DEFAULT_PER_PAGE = 30  # "Pagination": 30 objects per page unless per_page (at most 100) is given
MAX_PER_PAGE = 100


@dataclass
class FreshdeskSandbox:
    """Everything the stand-in holds; ``app.extensions["freshdesk_sandbox"]``."""

    store: FreshdeskStore
    rules: Rules
    controls: SandboxControls
    sender: WebhookSender
    api_key: str
    domain: str
    limiter: SlidingWindowLimiter
    webhook_retry_delays: tuple[float, ...] = WEBHOOK_RETRY_DELAYS
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""
    # Groups, SLA policies, canned responses, business hours (connector.sandbox.freshdesk_admin)
    admin: FreshdeskAdmin | None = None

    @property
    def lock(self) -> threading.RLock:
        return self.store.lock

    @property
    def agent_id(self) -> int:
        """The API key's agent (``GET /api/v2/agents/me``)."""
        return self.store.api_agent_id

    @property
    def tickets(self) -> dict[int, dict[str, Any]]:
        return self.store.tickets

    # ------------------------------------------------------------------ in-process actions

    def add_contact(self, name: str, *, phone: str | None = None, mobile: str | None = None,
                    email: str | None = None) -> int:
        """A contact added by hand in the UI (no uniqueness check on phone numbers)."""
        with self.lock:
            return int(self.store.add_contact(name, phone=phone, mobile=mobile,
                                              email=email)["id"])

    def agent_reply(self, ticket_id: Any, body: str, *, public: bool = True,
                    agent_id: int | None = None) -> dict[str, Any]:
        """An agent answers in the UI: a public reply (source 0, fires ``reply_sent`` with
        performer agent) or, ``public=False``, a private note (no reply rule fires)."""
        agent = self.store.other_agent_id if agent_id is None else agent_id
        with self.lock:
            if agent not in self.store.agents:
                raise validation_failed([field_error("agent_id", "It should be an agent")])
            if public:
                conversation, change = self.store.reply(
                    ticket_id, {"body": body, "user_id": agent}, [])
            else:
                conversation, change = self.store.private_agent_note(ticket_id, body, agent)
            calls = self.rules.run(change)
            view = self.conversation_view(conversation)
        self.deliver(calls)
        return view

    def set_status(self, ticket_id: Any, status: int | str,
                   agent_id: int | None = None) -> dict[str, Any]:
        """An agent changes the status in the UI; the status rule fires with that agent as
        performer."""
        code = STATUS_NAMES.get(status.lower()) if isinstance(status, str) else status
        if code not in STATUSES:
            raise validation_failed([field_error(
                "status", "It should be one of these values: '2,3,4,5'")])
        agent = self.store.other_agent_id if agent_id is None else agent_id
        with self.lock:
            change = self.store.set_status(ticket_id, code, agent)
            calls = self.rules.run(change) if change.events else []
            view = self.ticket_view(self.store.tickets[change.ticket_id])
        self.deliver(calls)
        return view

    def flush(self, timeout: float = 10.0) -> bool:
        """Send the retries that are due, then wait until every webhook so far is attempted."""
        self.retry_due()
        return self.sender.flush(timeout)

    def close(self) -> None:
        self.sender.close()

    # ------------------------------------------------------------------ webhooks

    def deliver(self, calls: list[WebhookCall]) -> None:
        """Send what rules fired: asynchronously (the API call has already answered when the
        webhook arrives), User-Agent ``Freshdesk`` (reference doc)."""
        for call in calls:
            with self.lock:
                record: dict[str, Any] = {
                    "id": len(self.deliveries) + 1,
                    "rule_id": call.rule_id,
                    "ticket_id": call.ticket_id,
                    "method": call.method,
                    "url": call.url,
                    "headers": dict(call.headers),
                    "body": call.body.decode(errors="replace"),
                    "status": "pending",
                    "next_attempt_at": None,
                    "attempts": [],
                }
                self.deliveries.append(record)
            self._send(record, call.body)

    def _send(self, record: dict[str, Any], body: bytes) -> None:
        def done(attempt: dict[str, Any]) -> None:
            status = attempt["status"]
            with self.lock:
                record["attempts"].append(attempt)
                tries = len(record["attempts"])
                if status is not None and 200 <= status < 300:
                    record["status"] = "delivered"
                elif tries <= len(self.webhook_retry_delays):
                    record["status"] = "retrying"
                    record["next_attempt_at"] = (self.controls.wall.now()
                                                 + self.webhook_retry_delays[tries - 1])
                else:
                    record["status"] = "failed"

        self.sender.send(record["url"], data=body, headers=record["headers"],
                         label=f"freshdesk rule {record['rule_id']} ticket {record['ticket_id']}",
                         on_done=done)

    def retry_due(self) -> None:
        now = self.controls.wall.now()
        due = []
        with self.lock:
            for record in self.deliveries:
                if record["status"] == "retrying" and record["next_attempt_at"] <= now:
                    record["status"] = "pending"
                    record["next_attempt_at"] = None
                    due.append(record)
        for record in due:
            self._send(record, record["body"].encode())

    # ------------------------------------------------------------------ views

    def attachments_view(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [self.store.attachment_view(a, self.base_url) for a in items]

    def ticket_view(self, ticket: dict[str, Any]) -> dict[str, Any]:
        if self.admin is not None:
            self.admin.sla.refresh(ticket)  # fr_due_by / due_by from the SLA policies
        out = {k: v for k, v in ticket.items() if k != "deleted"}
        if ticket["deleted"]:
            out["deleted"] = True
        out["attachments"] = self.attachments_view(ticket["attachments"])
        return out

    def conversation_view(self, conversation: dict[str, Any]) -> dict[str, Any]:
        return {**conversation, "attachments": self.attachments_view(conversation["attachments"])}

    def state(self) -> dict[str, Any]:
        with self.lock:
            store = self.store
            return {
                "account": {"domain": self.domain, "api_key": self.api_key,
                            "agent_id": store.api_agent_id,
                            "requests_per_minute": self.limiter.limit},
                "agents": list(store.agents.values()),
                "contacts": list(store.contacts.values()),
                "tickets": [
                    {**self.ticket_view(t), "deleted": t["deleted"],
                     "conversations": [self.conversation_view(c)
                                       for c in store.conversations[t["id"]]]}
                    for t in store.tickets.values()
                ],
                "rules": [dict(r) for r in self.rules.rules.values()],
                "webhook_attempts": [dict(d, attempts=list(d["attempts"]))
                                     for d in self.deliveries],
                **(self.admin.state() if self.admin is not None else {}),
            }


def _error_response(exc: FreshdeskError) -> Response:
    response = Response(status=exc.status) if exc.body is None else jsonify(exc.body)
    response.status_code = exc.status
    for name, value in exc.headers.items():
        response.headers[name] = value
    return response


def _rate_limited(retry_after: float) -> Response:
    # "Rate Limit": 429 with Retry-After (seconds). The body is the throttler's (server code
    # (2020), FdApiThrottler LIMIT_EXCEEDED_MESSAGE, which then said "per hour").
    response = jsonify({"message": "You have exceeded the limit of requests per minute"})
    response.status_code = 429
    response.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response


def create_app(
    *,
    controls: SandboxControls | None = None,
    api_key: str = API_KEY,
    domain: str = DOMAIN,
    clock: Callable[[], float] | None = None,
    requests_per_minute: int = DEFAULT_REQUESTS_PER_MINUTE,
    webhook_timeout: float = 10.0,
    webhook_retry_delays: tuple[float, ...] = WEBHOOK_RETRY_DELAYS,
    condition_aliases: dict[str, str] | None = None,
) -> Flask:
    """The Freshdesk stand-in as a Flask app (serve it with ``SandboxServer``).

    ``clock`` drives timestamps, the 30-day list window, the rate window and webhook retries
    (default: the controls' wall clock, moved by ``POST /_sandbox/clock``). The account budget
    is ``controls.faults.per_minute`` when set, else ``requests_per_minute``.
    ``condition_aliases`` maps rule condition names onto the ones the sandbox knows (e.g.
    ``{"ticket_tags": "tag_names"}``); by default a name Freshdesk does not know is a 400.
    """
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 25 * 1024 * 1024  # attachments total ≤ 20 MB, plus form
    app.json.sort_keys = False  # type: ignore[attr-defined]
    controls = controls or SandboxControls()
    clock = clock or controls.wall.now
    store = FreshdeskStore(clock=clock)
    sandbox = FreshdeskSandbox(
        store=store,
        rules=Rules(store, aliases=dict(condition_aliases or {})),
        controls=controls,
        # "Requests carry User-Agent: Freshdesk"; ~10 s timeout (reference doc).
        sender=WebhookSender(timeout=webhook_timeout, user_agent="Freshdesk"),
        api_key=api_key,
        domain=domain,
        limiter=SlidingWindowLimiter(requests_per_minute, 60.0, clock),
        webhook_retry_delays=tuple(webhook_retry_delays),
    )
    sandbox.admin = FreshdeskAdmin(store, sandbox.rules)
    app.extensions["freshdesk_sandbox"] = sandbox
    register_closer(app, sandbox.close)

    def rate_headers(response: Response) -> None:
        # "Rate Limit": every answer carries X-RateLimit-Total / -Remaining /
        # -Used-CurrentRequest, except a 429 (server code (2020), FdApiThrottler: "Rate Limit
        # headers are not set when status is 429"), which carries Retry-After only.
        if not request.path.startswith("/api/") or response.status_code == 429:
            return
        limiter = controls.limiter or sandbox.limiter
        response.headers["X-RateLimit-Total"] = str(limiter.limit)
        response.headers["X-RateLimit-Remaining"] = str(limiter.remaining("account"))
        response.headers["X-RateLimit-Used-CurrentRequest"] = "1"

    install_controls(app, controls, rate_limited=_rate_limited, rate_headers=rate_headers)

    @app.before_request
    def authenticate() -> Response | None:
        sandbox.base_url = request.host_url.rstrip("/")
        # Webhook retries fall due on the sandbox clock; any request (or a flush) sends them.
        sandbox.retry_due()
        if not request.path.startswith("/api/"):
            return None
        if controls.limiter is None:
            # Every request counts against the budget, invalid ones included (reference doc:
            # "Invalid requests count"), so the budget is taken before authentication.
            wait = sandbox.limiter.hit("account")
            if wait is not None:
                return _rate_limited(wait)
        auth = request.authorization
        if auth is None or auth.type != "basic" or auth.username != sandbox.api_key:
            return _error_response(request_error(
                401, "invalid_credentials", "You have to be logged in to perform this action."))
        return None

    @app.errorhandler(FreshdeskError)
    def freshdesk_error(exc: FreshdeskError) -> Response:
        return _error_response(exc)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if exc.code == 405:
            # Server code (2020), render_405_error: the allowed methods, in Allow too.
            allowed = ", ".join(sorted(m for m in (exc.valid_methods or [])  # type: ignore[attr-defined]
                                       if m not in ("HEAD", "OPTIONS")))
            response = _error_response(request_error(
                405, "method_not_allowed",
                f"{request.method} method is not allowed. It should be one of these method(s): "
                f"{allowed}"))
            response.headers["Allow"] = allowed
            return response
        if exc.code == 404:
            return Response(status=404)  # an unknown route: ``head 404`` (server code (2020))
        if exc.code == 413:
            return _error_response(validation_failed([field_error(
                "attachments", "It should not exceed 20MB in total", "invalid_size")]))
        return _error_response(request_error(exc.code or 500, "invalid_value",
                                             exc.description or exc.name))

    _register_api(app, sandbox)
    _register_sandbox_routes(app, sandbox)
    register_admin_routes(app, sandbox, page_args=_page_args, paged=_paged,
                          payload=_payload)
    return app


# ---------------------------------------------------------------------- request helpers


def _payload() -> tuple[Any, list[Upload], bool]:
    """The request body: JSON, or multipart/form-data with ``attachments[]`` files
    ("Create a Ticket with attachment": form fields, arrays as ``tags[]``, custom fields as
    ``custom_fields[cf_x]``). Returns (data, uploads, is_form)."""
    mimetype = request.mimetype
    if mimetype == "multipart/form-data":
        data: dict[str, Any] = {}
        for key in request.form:
            values = request.form.getlist(key)
            if key.endswith("[]"):
                data[key[:-2]] = values
            elif key.startswith("custom_fields[") and key.endswith("]"):
                data.setdefault("custom_fields", {})[key[len("custom_fields["):-1]] = values[-1]
            else:
                data[key] = values[-1]
        uploads = [
            Upload(f.filename or "attachment", f.mimetype or "application/octet-stream", f.read())
            for f in request.files.getlist("attachments[]")
        ]
        unknown = [k for k in request.files if k != "attachments[]"]
        if unknown:
            raise validation_failed([field_error(k, "Unexpected/invalid field in request",
                                                 "invalid_field") for k in unknown])
        return data, uploads, True
    raw = request.get_data(cache=True)
    if mimetype != "application/json":
        # "Error Handling": invalid_content_type (server code (2020) wording).
        raise request_error(415, "invalid_content_type",
                            f"Content-Type header is set to {mimetype or 'nothing'}. It should "
                            "be set to application/json")
    try:
        data_json = json.loads(raw) if raw.strip() else None
    except ValueError:
        raise request_error(400, "invalid_json",
                            "Request body has invalid json format") from None
    if isinstance(data_json, dict) and "attachments" in data_json:
        # Files travel only as multipart (reference: "attachments … multipart/form-data").
        raise validation_failed([field_error(
            "attachments", "It should be a/an Array of files sent as multipart/form-data",
            "datatype_mismatch")])
    return data_json, [], False


def _page_args(args: dict[str, str]) -> tuple[int, int]:
    errors = []
    page = per_page = 0
    try:
        page = int(args.pop("page", "1"))
    except ValueError:
        page = 0
    if page < 1:
        errors.append(field_error("page", "It should be a/an Positive Integer",
                                  "datatype_mismatch"))
    try:
        per_page = int(args.pop("per_page", str(DEFAULT_PER_PAGE)))
    except ValueError:
        per_page = 0
    if not 1 <= per_page <= MAX_PER_PAGE:
        errors.append(field_error(
            "per_page", f"It should be a/an Positive Integer less than or equal to "
            f"{MAX_PER_PAGE}", "datatype_mismatch"))
    if errors:
        raise validation_failed(errors)
    return page, per_page


def _paged(items: list[Any], page: int, per_page: int) -> Response:
    """A list answer: a bare JSON array, and ``Link: <next>; rel="next"`` while more pages
    exist ("Pagination")."""
    start = (page - 1) * per_page
    response = jsonify(items[start:start + per_page])
    if start + per_page < len(items):
        query = {**request.args.to_dict(), "page": str(page + 1), "per_page": str(per_page)}
        response.headers["Link"] = f'<{request.base_url}?{urlencode(query)}>; rel="next"'
    return response


def _register_api(app: Flask, sandbox: FreshdeskSandbox) -> None:
    store, rules, lock = sandbox.store, sandbox.rules, sandbox.lock

    def commit(change: Change) -> list[WebhookCall]:
        return rules.run(change)

    # ------------------------------------------------------------------ agents and contacts

    @app.get("/api/v2/agents/me")
    def me() -> Response:
        with lock:
            return jsonify(store.agents[store.api_agent_id])

    @app.get("/api/v2/contacts")
    def list_contacts() -> Response:
        args = request.args.to_dict()
        page, per_page = _page_args(args)
        allowed = {"email", "phone", "mobile", "company_id", "state", "_updated_since"}
        unknown = [k for k in args if k not in allowed]
        if unknown:
            raise validation_failed([field_error(k, "Unexpected/invalid field in request",
                                                 "invalid_field") for k in unknown])
        with lock:
            return _paged([dict(c) for c in store.find_contacts(args)], page, per_page)

    @app.post("/api/v2/contacts")
    def create_contact() -> tuple[Response, int]:
        data, _uploads, _ = _payload()
        with lock:
            return jsonify(store.create_contact(data)), 201

    @app.get("/api/v2/contacts/<contact_id>")
    def show_contact(contact_id: str) -> Response:
        with lock:
            return jsonify(store.contact(contact_id))

    # ------------------------------------------------------------------ ticket fields

    @app.get("/api/v2/ticket_fields")
    def ticket_fields() -> Response:
        """"List All Ticket Fields": the default fields with their choices, custom sources
        among the source choices."""
        ts = iso(store.now())

        def default(fid: int, name: str, label: str, position: int,
                    choices: Any = None) -> dict[str, Any]:
            out: dict[str, Any] = {
                "id": 48_200_000_000 + fid, "name": name, "label": label,
                "description": label, "position": position, "required_for_closure": False,
                "required_for_agents": name in ("requester", "subject", "status", "priority"),
                "type": f"default_{name}", "default": True, "customers_can_edit": False,
                "label_for_customers": label, "required_for_customers": False,
                "displayed_to_customers": True, "created_at": ts, "updated_at": ts,
            }
            if choices is not None:
                out["choices"] = choices
            return out

        sources = {**DEFAULT_SOURCES, **CUSTOM_SOURCES}
        return jsonify([
            default(1, "requester", "Search a requester", 1),
            default(2, "subject", "Subject", 2),
            default(3, "ticket_type", "Type", 3, ["Question", "Incident", "Problem"]),
            default(4, "source", "Source", 4, {name: code for code, name in sources.items()}),
            default(5, "status", "Status", 5,
                    {str(code): [name, name] for code, name in STATUSES.items()}),
            default(6, "priority", "Priority", 6,
                    {name: code for code, name in PRIORITIES.items()}),
            default(7, "group", "Group", 7, {}),
            default(8, "agent", "Agent", 8, {}),
            default(9, "description", "Description", 9),
        ])

    # ------------------------------------------------------------------ tickets

    @app.post("/api/v2/tickets")
    def create_ticket() -> tuple[Response, int]:
        data, uploads, form = _payload()
        with lock:
            change = store.create_ticket(data, uploads, store.api_agent_id, form=form)
            calls = commit(change)
            body = sandbox.ticket_view(store.tickets[change.ticket_id])
        sandbox.deliver(calls)
        return jsonify(body), 201

    @app.get("/api/v2/tickets")
    def list_tickets() -> Response:
        args = request.args.to_dict()
        page, per_page = _page_args(args)
        with lock:
            found = [sandbox.ticket_view(t) for t in store.list_tickets(args)]
        return _paged(found, page, per_page)

    @app.get("/api/v2/tickets/<ticket_id>")
    def show_ticket(ticket_id: str) -> Response:
        with lock:
            return jsonify(sandbox.ticket_view(store.ticket(ticket_id, allow_deleted=True)))

    @app.put("/api/v2/tickets/<ticket_id>")
    def update_ticket(ticket_id: str) -> Response:
        data, uploads, form = _payload()
        with lock:
            change = store.update_ticket(ticket_id, data, store.api_agent_id, form=form)
            if uploads:
                store.tickets[change.ticket_id]["attachments"] += [store._attach(u)
                                                                   for u in uploads]
            calls = commit(change) if change.events else []
            body = sandbox.ticket_view(store.tickets[change.ticket_id])
        sandbox.deliver(calls)
        return jsonify(body)

    @app.delete("/api/v2/tickets/<ticket_id>")
    def delete_ticket(ticket_id: str) -> Response:
        with lock:
            store.delete_ticket(ticket_id)
        return Response(status=204)

    @app.post("/api/v2/tickets/<ticket_id>/notes")
    def create_note(ticket_id: str) -> tuple[Response, int]:
        data, uploads, form = _payload()
        with lock:
            conversation, change = store.add_note(ticket_id, data, uploads, form=form)
            calls = commit(change)
            body = sandbox.conversation_view(conversation)
        sandbox.deliver(calls)
        return jsonify(body), 201

    @app.post("/api/v2/tickets/<ticket_id>/reply")
    def reply(ticket_id: str) -> tuple[Response, int]:
        data, uploads, form = _payload()
        with lock:
            conversation, change = store.reply(ticket_id, data, uploads, form=form)
            calls = commit(change)
            body = sandbox.conversation_view(conversation)
        sandbox.deliver(calls)
        return jsonify(body), 201

    @app.get("/api/v2/tickets/<ticket_id>/conversations")
    def conversations(ticket_id: str) -> Response:
        args = request.args.to_dict()
        page, per_page = _page_args(args)
        with lock:
            ticket = store.ticket(ticket_id)
            items = [sandbox.conversation_view(c) for c in store.conversations[ticket["id"]]]
        return _paged(items, page, per_page)

    @app.get("/_attachments/<int:attachment_id>/<token>")
    def attachment_content(attachment_id: int, token: str) -> Response:
        with lock:
            found = store.attachments.get(attachment_id)
            if found is None or found[2] != token:
                return Response(status=404)
            meta, data, _ = found
        return Response(data, mimetype=meta["content_type"])

    # ------------------------------------------------------------------ automation rules

    @app.get("/api/v2/automations/<int:rule_type>/rules")
    def list_rules(rule_type: int) -> Response:
        with lock:
            return jsonify([dict(r) for r in rules.of_type(rule_type)])

    @app.post("/api/v2/automations/<int:rule_type>/rules")
    def create_rule(rule_type: int) -> tuple[Response, int]:
        data, _, _ = _payload()
        with lock:
            return jsonify(rules.create(rule_type, data)), 201

    @app.get("/api/v2/automations/<int:rule_type>/rules/<int:rule_id>")
    def show_rule(rule_type: int, rule_id: int) -> Response:
        with lock:
            return jsonify(rules.get(rule_type, rule_id))

    @app.put("/api/v2/automations/<int:rule_type>/rules/<int:rule_id>")
    def update_rule(rule_type: int, rule_id: int) -> Response:
        data, _, _ = _payload()
        with lock:
            return jsonify(rules.update(rule_type, rule_id, data))

    @app.delete("/api/v2/automations/<int:rule_type>/rules/<int:rule_id>")
    def delete_rule(rule_type: int, rule_id: int) -> Response:
        with lock:
            rules.delete(rule_type, rule_id)
        return Response(status=204)


def _register_sandbox_routes(app: Flask, sandbox: FreshdeskSandbox) -> None:
    def body() -> dict[str, Any]:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise request_error(400, "invalid_json", "expected a JSON object")
        return data

    @app.post("/_sandbox/agent_reply")
    def agent_reply() -> Response:
        data = body()
        text = data.get("body")
        public = data.get("public", True)
        if not isinstance(text, str) or not text.strip() or not isinstance(public, bool):
            raise validation_failed([field_error("body", "ticket_id, body (text) and public "
                                                 "(true/false) are expected")])
        agent = data.get("agent_id")
        conversation = sandbox.agent_reply(data.get("ticket_id"), text, public=public,
                                           agent_id=agent if isinstance(agent, int) else None)
        return jsonify({"conversation": conversation})

    @app.post("/_sandbox/tickets/<ticket_id>/status")
    def set_status(ticket_id: str) -> Response:
        status = body().get("status")
        if not isinstance(status, int | str) or isinstance(status, bool):
            raise validation_failed([field_error(
                "status", "It should be one of these values: '2,3,4,5'")])
        return jsonify({"ticket": sandbox.set_status(ticket_id, status)})

    @app.post("/_sandbox/contacts")
    def add_contact() -> tuple[Response, int]:
        data = body()
        name = data.get("name")
        values = {k: data.get(k) for k in ("phone", "mobile", "email")}
        if not isinstance(name, str) or not name.strip() or not all(
                v is None or isinstance(v, str) for v in values.values()):
            raise validation_failed([field_error("name", "name (text) is expected; phone, "
                                                 "mobile, email are optional text")])
        cid = sandbox.add_contact(name, **values)
        with sandbox.lock:
            return jsonify({"id": cid, "contact": sandbox.store.contacts[cid]}), 201

    @app.get("/_sandbox/state")
    def state() -> Response:
        return jsonify(sandbox.state())

    @app.post("/_sandbox/flush")
    def flush() -> Response:
        data = request.get_json(silent=True)
        timeout = data.get("timeout", 10.0) if isinstance(data, dict) else 10.0
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0:
            timeout = 10.0
        return jsonify({"flushed": sandbox.flush(min(float(timeout), 60.0))})

    @app.post("/_sandbox/account")
    def account() -> Response:
        data = body()
        rpm = data.get("requests_per_minute")
        if isinstance(rpm, bool) or not isinstance(rpm, int) or rpm < 1:
            raise validation_failed([field_error("requests_per_minute",
                                                 "an integer >= 1 is expected")])
        with sandbox.lock:
            sandbox.limiter = SlidingWindowLimiter(rpm, 60.0, sandbox.store.clock)
        return jsonify({"requests_per_minute": rpm})


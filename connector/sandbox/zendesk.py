"""A Zendesk Support stand-in that follows the real API: same paths, JSON shapes, status codes,
error bodies, rate limits, triggers and signed webhooks.

    create_app(...) -> Flask            the stand-in; its state is app.extensions["zendesk_sandbox"]
    ZendeskSandbox                      that state: store (users, tickets …), rules (webhooks,
                                        triggers), webhook deliveries; flush() / close()

Layout: `zendesk_store` holds users, tickets, comments, uploads and idempotency keys;
`zendesk_triggers` holds webhooks, triggers, categories and the trigger run; this module is the
HTTP surface, auth, rate limits and webhook delivery. Latency, outages, the account per-minute
budget and the "commit then drop the connection" fault come from `connector.sandbox.common`.

Sandbox-only routes (no auth, never faulted): ``POST /_sandbox/agent_reply`` (a comment made in
Zendesk's web UI by an agent: via 0, current user = that agent; triggers run),
``POST /_sandbox/merge`` (an agent merges tickets in the UI; the notes are via "merge", 19),
``POST /_sandbox/tickets/<id>/status`` (solve / close a ticket as time passes),
``POST /_sandbox/account`` (``{"trigger_categories": false}``: an account without them),
``GET /_sandbox/state``, ``POST /_sandbox/flush`` (wait for webhook deliveries) and
``GET/POST /_sandbox/faults``.

Known simplifications: every webhook is delivered as a POST whatever its ``http_method``;
e-mail notifications are not simulated; Merge Tickets into Target Ticket merges at once and
answers its job_status already ``completed`` (the real API queues it); triggers evaluate the
conditions and actions listed in `zendesk_triggers` only (others are refused at creation with a
422 that says so).
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from connector.sandbox.common import (
    SandboxControls,
    SlidingWindowLimiter,
    WebhookSender,
    install_controls,
    register_closer,
)
from connector.sandbox.signing import zendesk_signature, zendesk_timestamp
from connector.sandbox.zendesk_admin import ZendeskAdmin, register_admin_routes
from connector.sandbox.zendesk_spec import SPEC_GAPS, SPEC_PATCHES
from connector.sandbox.zendesk_store import (
    VIA_API,
    VIA_WEB,
    Actor,
    UpdateContext,
    ZendeskError,
    ZendeskStore,
    bad_request,
    fingerprint,
    invalid,
    iso,
    not_found,
)
from connector.sandbox.zendesk_triggers import Rules, WebhookCall, public_webhook

__all__ = ["SPEC_GAPS", "SPEC_PATCHES", "ZendeskSandbox", "create_app"]

RATE_LIMIT_DISPLAY = 700  # X-Rate-Limit shown when no per-minute budget is set (Enterprise)
_WEB_CLIENT = "Mozilla/5.0 (Zendesk Agent Workspace; sandbox)"


@dataclass
class ZendeskSandbox:
    """Everything the stand-in holds; ``app.extensions["zendesk_sandbox"]``."""

    store: ZendeskStore
    rules: Rules
    controls: SandboxControls
    sender: WebhookSender
    email: str
    api_token: str
    update_account_limiter: SlidingWindowLimiter
    update_ticket_limiter: SlidingWindowLimiter
    webhook_retry_delays: tuple[float, ...]
    account_id: int = 9_000_001
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    job_statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Groups, schedules, SLA policies, automations, macros (connector.sandbox.zendesk_admin).
    admin: ZendeskAdmin = field(init=False)

    def __post_init__(self) -> None:
        self.admin = ZendeskAdmin(self.store, self.rules)

    def merge(
        self, target_id: int, payload: Any, user_id: int, base: str
    ) -> tuple[dict[str, Any], list[WebhookCall]]:
        """Merge at once (the real API queues a job): the finished job_status and the webhooks
        its triggers fired (deliver them after the lock). Hold ``lock``."""
        contexts = self.store.merge_tickets(target_id, payload, user_id)
        calls: list[WebhookCall] = []
        for ctx in contexts:
            calls += self.rules.run_triggers(ctx.audit["ticket_id"], ctx)
        job_id = secrets.token_hex(16)
        results = [
            {"action": "update", "id": ctx.audit["ticket_id"], "status": "Updated", "success": True}
            for ctx in contexts[1:]
        ]
        job = {
            "id": job_id,
            "job_type": "Merge tickets",
            "message": "Completed at "
            + time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(self.store.now())),
            "progress": len(results),
            "results": results,
            "status": "completed",
            "total": len(results),
            "url": f"{base}/api/v2/job_statuses/{job_id}.json",
        }
        self.job_statuses[job_id] = job
        return job, calls

    @property
    def lock(self) -> threading.RLock:
        return self.store.lock

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every webhook fired so far has been delivered (or given up)."""
        return self.sender.flush(timeout)

    def close(self) -> None:
        self.sender.close()

    # ------------------------------------------------------------------ webhook delivery

    def deliver(self, calls: list[WebhookCall]) -> None:
        """Send what triggers fired: asynchronously, signed, retried — after the update answered."""
        for call in calls:
            with self.lock:
                webhook = self.rules.webhooks.get(call.webhook_id)
                secret = self.rules.secrets.get(call.webhook_id)
                if webhook is None or secret is None:
                    continue
                record = {
                    "invocation_id": str(secrets.randbelow(9 * 10**11) + 10**11),
                    "webhook_id": call.webhook_id,
                    "trigger_id": call.trigger_id,
                    "ticket_id": call.ticket_id,
                    "endpoint": webhook["endpoint"],
                    "body": call.body,
                    "status": "skipped" if webhook["status"] != "active" else "pending",
                    "attempts": [],
                }
                self.deliveries.append(record)
                if record["status"] == "skipped":
                    continue  # an inactive webhook is not called
                webhook = dict(webhook)
            self._send(webhook, secret, record)

    def _send(self, webhook: dict[str, Any], secret: str, record: dict[str, Any]) -> None:
        body = record["body"].encode()
        timestamp = zendesk_timestamp()
        content_type = {
            "json": "application/json",
            "xml": "application/xml",
            "form_encoded": "application/x-www-form-urlencoded",
        }[webhook["request_format"]]
        headers = {
            **webhook.get("custom_headers", {}),
            "Content-Type": content_type,
            "X-Zendesk-Account-Id": str(self.account_id),
            "X-Zendesk-Webhook-Id": webhook["id"],
            "X-Zendesk-Webhook-Invocation-Id": record["invocation_id"],
            # https://developer.zendesk.com/documentation/webhooks/verifying/ :
            # base64(HMAC-SHA256(secret, timestamp + raw body)).
            "X-Zendesk-Webhook-Signature": zendesk_signature(secret, timestamp, body),
            "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
        }
        auth = webhook.get("authentication")
        if auth:
            data = auth["data"]
            if auth["type"] == "basic_auth":
                pair = f"{data.get('username', '')}:{data.get('password', '')}".encode()
                headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
            elif auth["type"] == "bearer_token":
                headers["Authorization"] = f"Bearer {data.get('token', '')}"
            else:
                headers[str(data.get("name", "X-Api-Key"))] = str(data.get("value", ""))

        def done(attempt: dict[str, Any]) -> None:
            status = attempt["status"]
            with self.lock:
                record["attempts"].append({**attempt, "signature_timestamp": timestamp})
                tries = len(record["attempts"])
                # Zendesk retries a delivery that timed out, could not connect, or got 409, 429
                # or a 5xx (Webhooks: "Retrying failed requests"); other answers are final.
                retry = status is None or status in (409, 429) or status >= 500
                if retry and tries <= len(self.webhook_retry_delays):
                    delay = self.webhook_retry_delays[tries - 1]
                else:
                    record["status"] = "delivered" if status and status < 300 else "failed"
                    return
            time.sleep(delay)  # runs on the sender thread, so flush() waits for retries too
            with contextlib.suppress(RuntimeError):  # the sender was closed meanwhile
                self._send(webhook, secret, record)

        self.sender.send(
            webhook["endpoint"],
            data=body,
            headers=headers,
            label=f"zendesk webhook {webhook['id']} ticket {record['ticket_id']}",
            on_done=done,
        )

    # ------------------------------------------------------------------ views

    def state(self, base: str) -> dict[str, Any]:
        with self.lock:
            store, rules = self.store, self.rules
            users = []
            for user in store.users.values():
                users.append(
                    {**_user(user, base), "identities": list(store.identities[user["id"]])}
                )
            tickets = [
                {
                    **_ticket(t, base),
                    "comments": [_comment(c, base) for c in store.comments[t["id"]]],
                }
                for t in store.tickets.values()
            ]
            return {
                "users": users,
                "tickets": tickets,
                "webhooks": [
                    {**public_webhook(w), "signing_secret": rules.secrets[w["id"]]}
                    for w in rules.webhooks.values()
                ],
                "triggers": [_trigger(t, base) for t in rules.ordered_triggers()],
                "trigger_categories": (
                    rules.counted_categories() if rules.categories_enabled else []
                ),
                "deliveries": [dict(d, attempts=list(d["attempts"])) for d in self.deliveries],
                **self.admin.state(),
            }


def _user(user: dict[str, Any], base: str) -> dict[str, Any]:
    return {**user, "url": f"{base}/api/v2/users/{user['id']}.json"}


def _ticket(ticket: dict[str, Any], base: str) -> dict[str, Any]:
    return {**ticket, "url": f"{base}/api/v2/tickets/{ticket['id']}.json"}


def _attachment(att: dict[str, Any], base: str) -> dict[str, Any]:
    out = {k: v for k, v in att.items() if not k.startswith("_")}
    content = f"{base}/attachments/token/{att['_token']}/?name={quote(att['file_name'])}"
    out.update(
        url=f"{base}/api/v2/attachments/{att['id']}.json",
        content_url=content,
        mapped_content_url=content,
    )
    return out


def _comment(comment: dict[str, Any], base: str) -> dict[str, Any]:
    return {**comment, "attachments": [_attachment(a, base) for a in comment["attachments"]]}


def _audit(audit: dict[str, Any], base: str) -> dict[str, Any]:
    events = [
        {**e, "attachments": [_attachment(a, base) for a in e["attachments"]]}
        if e["type"] == "Comment"
        else dict(e)
        for e in audit["events"]
    ]
    return {**audit, "events": events}


def _trigger(trigger: dict[str, Any], base: str) -> dict[str, Any]:
    return {**trigger, "url": f"{base}/api/v2/triggers/{trigger['id']}.json"}


def _json_body() -> Any:
    raw = request.get_data(cache=True)
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise bad_request("InvalidJSON", f"The request body is not valid JSON: {exc}") from None


def _error_response(exc: ZendeskError) -> Response:
    response = jsonify(exc.body)
    response.status_code = exc.status
    for name, value in exc.headers.items():
        response.headers[name] = value
    return response


def _rate_limited(retry_after: float, description: str) -> Response:
    return _error_response(
        ZendeskError(
            429,
            {"error": "APIRateLimitExceeded", "description": description},
            {"Retry-After": str(max(1, math.ceil(retry_after)))},
        )
    )


def create_app(
    *,
    controls: SandboxControls | None = None,
    subdomain: str = "sandbox",
    email: str = "connector@example.com",
    api_token: str = "sandbox-api-token",
    clock: Callable[[], float] | None = None,
    idempotency_ttl: float = 2 * 60 * 60,
    comment_cap: int = 5000,
    ticket_updates_per_minute: int = 100,
    ticket_updates_per_ticket: int = 30,
    ticket_update_window_seconds: float = 600.0,
    webhook_timeout: float = 10.0,
    webhook_retry_delays: tuple[float, ...] = (0.5, 1.0, 2.0),
    trigger_categories: bool = True,
) -> Flask:
    """The Zendesk stand-in as a Flask app (serve it with ``SandboxServer``).

    ``clock`` drives timestamps, idempotency-key expiry and the Update Ticket limits, so tests can
    move time (default: the controls' wall clock, moved by ``POST /_sandbox/clock``); the account
    per-minute budget lives in ``controls`` (``Faults.per_minute``). ``trigger_categories=False``
    is an account without trigger categories (also ``POST /_sandbox/account``).
    """
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 50 * 1024 * 1024  # Zendesk's attachment size limit
    app.json.sort_keys = False  # type: ignore[attr-defined]
    controls = controls or SandboxControls()
    clock = clock or controls.wall.now
    store = ZendeskStore(
        subdomain=subdomain,
        api_user_email=email,
        clock=clock,
        comment_cap=comment_cap,
        idempotency_ttl=idempotency_ttl,
    )
    sandbox = ZendeskSandbox(
        store=store,
        rules=Rules(store),
        controls=controls,
        sender=WebhookSender(timeout=webhook_timeout, user_agent="Zendesk Webhook"),
        email=email,
        api_token=api_token,
        # Update Ticket limits: https://developer.zendesk.com/api-reference/introduction/rate-limits/
        update_account_limiter=SlidingWindowLimiter(ticket_updates_per_minute, 60.0, clock),
        update_ticket_limiter=SlidingWindowLimiter(
            ticket_updates_per_ticket, ticket_update_window_seconds, clock
        ),
        webhook_retry_delays=tuple(webhook_retry_delays),
    )
    sandbox.rules.categories_enabled = trigger_categories
    app.extensions["zendesk_sandbox"] = sandbox
    register_closer(app, sandbox.close)

    def rate_headers(response: Response) -> None:
        if not request.path.startswith("/api/"):
            return
        limiter = controls.limiter
        limit = limiter.limit if limiter else RATE_LIMIT_DISPLAY
        remaining = limiter.remaining("account") if limiter else RATE_LIMIT_DISPLAY
        response.headers["X-Rate-Limit"] = str(limit)
        response.headers["X-Rate-Limit-Remaining"] = str(remaining)

    install_controls(
        app,
        controls,
        rate_limited=lambda after: _rate_limited(
            after, "Number of allowed API requests per minute exceeded"
        ),
        rate_headers=rate_headers,
    )

    # zenpy and older clients call /api/v2/tickets/1.json: Zendesk accepts the .json suffix.
    inner_wsgi = app.wsgi_app

    def strip_json_suffix(environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/api/") and path.endswith(".json"):
            environ["PATH_INFO"] = path[: -len(".json")]
        return inner_wsgi(environ, start_response)

    app.wsgi_app = strip_json_suffix  # type: ignore[method-assign]

    @app.before_request
    def authenticate() -> Response | None:
        store.base_url = request.host_url.rstrip("/")
        if not request.path.startswith("/api/"):
            return None
        auth = request.authorization
        if (
            auth is None
            or auth.type != "basic"
            or auth.username != f"{email}/token"
            or auth.password != api_token
        ):
            response = _error_response(ZendeskError(401, {"error": "Couldn't authenticate you"}))
            response.headers["WWW-Authenticate"] = 'Basic realm="Web Password"'
            return response
        return None

    @app.errorhandler(ZendeskError)
    def zendesk_error(exc: ZendeskError) -> Response:
        return _error_response(exc)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if exc.code in (404, 405):
            # Zendesk answers an unknown path or method with 404 InvalidEndpoint.
            return _error_response(
                ZendeskError(404, {"error": "InvalidEndpoint", "description": "Not found"})
            )
        return _error_response(
            ZendeskError(exc.code or 500, {"error": exc.name, "description": exc.description})
        )

    _register_api(app, sandbox)
    _register_sandbox_routes(app, sandbox)
    register_admin_routes(app, sandbox, json_body=_json_body, paged=_paged)
    return app


def _base() -> str:
    return request.host_url.rstrip("/")


def _api_actor(sandbox: ZendeskSandbox) -> Actor:
    return Actor(
        sandbox.store.api_user_id,
        VIA_API,
        client=request.headers.get("User-Agent", ""),
        ip_address=request.remote_addr or "127.0.0.1",
    )


def _page_args() -> tuple[int, int]:
    try:
        page = max(1, int(request.args.get("page", 1)))
        per_page = min(100, max(1, int(request.args.get("per_page", 100))))
    except ValueError:
        raise bad_request(
            "InvalidPaginationParameter", "page and per_page must be integers"
        ) from None
    return page, per_page


def _paged(key: str, items: list[Any], extra: dict[str, Any] | None = None) -> Response:
    """Offset pagination as Zendesk answers it: next_page / previous_page URLs and count."""
    page, per_page = _page_args()
    start = (page - 1) * per_page
    chunk = items[start : start + per_page]

    def link(n: int) -> str:
        args = {**request.args.to_dict(), "page": str(n), "per_page": str(per_page)}
        return f"{request.base_url}.json?{urlencode(args)}"

    body: dict[str, Any] = {key: chunk}
    body.update(extra or {})
    body.update(
        next_page=link(page + 1) if start + per_page < len(items) else None,
        previous_page=link(page - 1) if page > 1 else None,
        count=len(items),
    )
    return jsonify(body)


def _register_api(app: Flask, sandbox: ZendeskSandbox) -> None:
    store, rules = sandbox.store, sandbox.rules
    lock = sandbox.lock

    # ------------------------------------------------------------------ users

    @app.post("/api/v2/users/create_or_update")
    def create_or_update_user() -> tuple[Response, int]:
        payload = _json_body()
        with lock:
            uid, created = store.create_or_update_user(payload)
            return jsonify({"user": _user(store.users[uid], _base())}), 201 if created else 200

    @app.get("/api/v2/users/search")
    def search_users() -> Response:
        external_id = request.args.get("external_id")
        query = request.args.get("query")
        with lock:
            if external_id is not None:
                found = [u for u in store.users.values() if u["external_id"] == external_id]
            elif query:
                found = store.search_users(query)
            else:
                raise bad_request("InvalidSearch", "query or external_id is required")
            return _paged("users", [_user(u, _base()) for u in found])

    @app.get("/api/v2/users/me")
    def me() -> Response:
        with lock:
            user = _user(store.users[store.api_user_id], _base())
        return jsonify({"user": {**user, "authenticity_token": secrets.token_hex(16)}})

    @app.get("/api/v2/users/<int:user_id>")
    def show_user(user_id: int) -> Response:
        with lock:
            return jsonify({"user": _user(store.user(user_id), _base())})

    @app.get("/api/v2/users/<int:user_id>/identities")
    def user_identities(user_id: int) -> Response:
        with lock:
            store.user(user_id)
            return _paged("identities", list(store.identities[user_id]))

    @app.get("/api/v2/users/<int:user_id>/tickets/requested")
    def requested_tickets(user_id: int) -> Response:
        with lock:
            store.user(user_id)
            mine = [
                _ticket(t, _base()) for t in store.tickets.values() if t["requester_id"] == user_id
            ]
            return _paged("tickets", mine)

    # ------------------------------------------------------------------ tickets

    @app.post("/api/v2/tickets")
    def create_ticket() -> Response:
        payload = _json_body()
        key = request.headers.get("Idempotency-Key")
        calls: list[WebhookCall] = []
        with lock:
            if key is not None:
                cached = store.idempotent_lookup(key, fingerprint(payload))
                if cached is not None:
                    response = jsonify(cached)
                    response.status_code = 201
                    response.headers["x-idempotency-lookup"] = "hit"
                    response.headers["Location"] = cached["ticket"]["url"]
                    return response
            ctx = store.create_ticket(payload, _api_actor(sandbox))
            tid = ctx.audit["ticket_id"]
            calls = rules.run_triggers(tid, ctx)
            body = {
                "ticket": _ticket(store.tickets[tid], _base()),
                "audit": _audit(ctx.audit, _base()),
            }
            if key is not None:
                store.idempotent_store(key, fingerprint(payload), tid, body)
        sandbox.deliver(calls)
        response = jsonify(body)
        response.status_code = 201
        response.headers["Location"] = body["ticket"]["url"]
        if key is not None:
            response.headers["x-idempotency-lookup"] = "miss"
        return response

    @app.get("/api/v2/tickets/<int:ticket_id>")
    def show_ticket(ticket_id: int) -> Response:
        with lock:
            ticket = _ticket(store.ticket(ticket_id), _base())
            if "slas" in request.args.get("include", "").split(","):
                ticket["slas"] = sandbox.admin.slas(ticket_id)  # the SLA sideload
            return jsonify({"ticket": ticket})

    @app.put("/api/v2/tickets/<int:ticket_id>")
    def update_ticket(ticket_id: int) -> Response:
        # Update Ticket has its own limits besides the account budget: 30 updates per ticket
        # per user per 10 minutes and 100 per minute per account.
        actor = _api_actor(sandbox)
        wait = sandbox.update_ticket_limiter.hit(f"{ticket_id}:{actor.user_id}")
        if wait is not None:
            return _rate_limited(wait, "Number of allowed ticket updates per ticket exceeded")
        wait = sandbox.update_account_limiter.hit("account")
        if wait is not None:
            return _rate_limited(wait, "Number of allowed ticket updates per minute exceeded")
        payload = _json_body()
        with lock:
            ctx = store.update_ticket(ticket_id, payload, actor)
            calls = rules.run_triggers(ticket_id, ctx) if ctx.audit["events"] else []
            body = {
                "ticket": _ticket(store.tickets[ticket_id], _base()),
                "audit": _audit(ctx.audit, _base()),
            }
        sandbox.deliver(calls)
        return jsonify(body)

    @app.delete("/api/v2/tickets/<int:ticket_id>")
    def delete_ticket(ticket_id: int) -> tuple[str, int]:
        # 204 No Content (Delete Ticket in the OpenAPI spec); afterwards the ticket is a 404.
        with lock:
            store.delete_ticket(ticket_id)
        return "", 204

    @app.post("/api/v2/tickets/<int:ticket_id>/merge")
    def merge_tickets(ticket_id: int) -> Response:
        # Merge Tickets into Target Ticket: the real API answers a queued job_status; the
        # sandbox merges at once and answers it completed (Show Job Status finds it too).
        payload = _json_body()
        actor = _api_actor(sandbox)
        with lock:
            job, calls = sandbox.merge(ticket_id, payload, actor.user_id, _base())
        sandbox.deliver(calls)
        return jsonify({"job_status": job})

    @app.get("/api/v2/job_statuses/<job_id>")
    def show_job_status(job_id: str) -> Response:
        with lock:
            job = sandbox.job_statuses.get(job_id)
        if job is None:
            raise not_found()
        return jsonify({"job_status": job})

    @app.get("/api/v2/tickets/<int:ticket_id>/comments")
    def list_comments(ticket_id: int) -> Response:
        include = request.args.get("include", "")
        # Offset style takes sort_order=asc|desc, cursor style sort=created_at|-created_at; an
        # unknown value falls back to the default (oldest first) rather than failing.
        descending = (
            request.args.get("sort_order") == "desc" or request.args.get("sort") == "-created_at"
        )
        with lock:
            store.ticket(ticket_id)
            comments = [_comment(c, _base()) for c in store.comments[ticket_id]]
            if descending:
                comments.reverse()
            extra: dict[str, Any] = {}
            if "users" in include.split(","):
                page, per_page = _page_args()
                shown = comments[(page - 1) * per_page : page * per_page]
                author_ids = list(dict.fromkeys(c["author_id"] for c in shown))
                extra["users"] = [_user(store.users[a], _base()) for a in author_ids]
            return _paged("comments", comments, extra)

    @app.get("/api/v2/tickets/<int:ticket_id>/audits")
    def list_audits(ticket_id: int) -> Response:
        with lock:
            store.ticket(ticket_id)
            return _paged("audits", [_audit(a, _base()) for a in store.audits[ticket_id]])

    @app.get("/api/v2/tickets/<int:ticket_id>/incidents")
    def list_incidents(ticket_id: int) -> Response:
        with lock:
            store.ticket(ticket_id)
            return _paged("tickets", [_ticket(t, _base()) for t in store.incidents_of(ticket_id)])

    # ------------------------------------------------------------------ uploads

    @app.post("/api/v2/uploads")
    def upload() -> tuple[Response, int]:
        filename = request.args.get("filename")
        if not filename:
            raise invalid("filename", "Filename: cannot be blank", "BlankValue")
        data = request.get_data(cache=False)
        if not data:
            raise invalid("uploaded_data", "Uploaded data: cannot be blank", "BlankValue")
        content_type = request.headers.get("Content-Type") or "application/binary"
        with lock:
            up = store.add_upload(filename, content_type, data, request.args.get("token"))
            attachments = [_attachment(a, _base()) for a in up.attachments]
            body = {
                "upload": {
                    "token": up.token,
                    "expires_at": iso(up.expires_at),
                    "attachments": attachments,
                    "attachment": attachments[-1],
                }
            }
        return jsonify(body), 201

    @app.get("/api/v2/attachments/<int:attachment_id>")
    def show_attachment(attachment_id: int) -> Response:
        with lock:
            if attachment_id not in store.attachments:
                raise not_found()
            return jsonify(
                {"attachment": _attachment(store.attachments[attachment_id][0], _base())}
            )

    @app.get("/attachments/token/<token>/")
    def attachment_content(token: str) -> Response:
        # Served without credentials, as Zendesk does unless "require authentication for
        # attachments" is switched on; the token in the URL is the secret.
        name = request.args.get("name")
        with lock:
            upload = store.uploads.get(token)
            if upload is None:
                raise not_found()
            att = next((a for a in upload.attachments if name in (None, a["file_name"])), None)
            if att is None:
                raise not_found()
            data = upload.contents[att["id"]]
        return Response(data, mimetype=att["content_type"])

    # ------------------------------------------------------------------ webhooks

    @app.post("/api/v2/webhooks")
    def create_webhook() -> tuple[Response, int]:
        payload = _json_body()
        with lock:
            return jsonify({"webhook": public_webhook(rules.create_webhook(payload))}), 201

    @app.get("/api/v2/webhooks")
    def list_webhooks() -> Response:
        with lock:
            hooks = [public_webhook(w) for w in rules.webhooks.values()]
        name = request.args.get("filter[name_contains]")
        if name:
            hooks = [w for w in hooks if name.lower() in w["name"].lower()]
        return jsonify(
            {
                "webhooks": hooks,
                "meta": {"has_more": False, "after_cursor": None, "before_cursor": None},
                "links": {"next": None, "prev": None},
            }
        )

    @app.get("/api/v2/webhooks/<webhook_id>")
    def show_webhook(webhook_id: str) -> Response:
        with lock:
            return jsonify({"webhook": public_webhook(rules.webhook(webhook_id))})

    @app.route("/api/v2/webhooks/<webhook_id>", methods=["PUT", "PATCH"])
    def update_webhook(webhook_id: str) -> tuple[str, int]:
        payload = _json_body()
        with lock:
            rules.update_webhook(webhook_id, payload, replace=request.method == "PUT")
        return "", 204

    @app.delete("/api/v2/webhooks/<webhook_id>")
    def delete_webhook(webhook_id: str) -> tuple[str, int]:
        with lock:
            rules.delete_webhook(webhook_id)
        return "", 204

    @app.get("/api/v2/webhooks/<webhook_id>/signing_secret")
    def signing_secret(webhook_id: str) -> Response:
        with lock:
            rules.webhook(webhook_id)
            secret = rules.secrets[webhook_id]
        return jsonify({"signing_secret": {"algorithm": "sha256", "secret": secret}})

    @app.post("/api/v2/webhooks/<webhook_id>/signing_secret")
    def reset_signing_secret(webhook_id: str) -> tuple[Response, int]:
        with lock:
            secret = rules.reset_secret(webhook_id)
        return jsonify({"signing_secret": {"algorithm": "sha256", "secret": secret}}), 201

    # ------------------------------------------------------------------ triggers

    @app.get("/api/v2/triggers")
    def list_triggers() -> Response:
        active = request.args.get("active")
        category = request.args.get("category_id")
        with lock:
            found = [
                _trigger(t, _base())
                for t in rules.ordered_triggers()
                if (active is None or t["active"] == (active == "true"))
                and (category is None or t["category_id"] == category)
            ]
        return _paged("triggers", found)

    @app.get("/api/v2/triggers/active")
    def active_triggers() -> Response:
        with lock:
            return _paged(
                "triggers", [_trigger(t, _base()) for t in rules.ordered_triggers() if t["active"]]
            )

    @app.post("/api/v2/triggers")
    def create_trigger() -> tuple[Response, int]:
        payload = _json_body()
        with lock:
            return jsonify({"trigger": _trigger(rules.create_trigger(payload), _base())}), 201

    @app.get("/api/v2/triggers/<int:trigger_id>")
    def show_trigger(trigger_id: int) -> Response:
        with lock:
            return jsonify({"trigger": _trigger(rules.trigger(trigger_id), _base())})

    @app.put("/api/v2/triggers/<int:trigger_id>")
    def update_trigger(trigger_id: int) -> Response:
        payload = _json_body()
        with lock:
            return jsonify(
                {"trigger": _trigger(rules.update_trigger(trigger_id, payload), _base())}
            )

    @app.delete("/api/v2/triggers/<int:trigger_id>")
    def delete_trigger(trigger_id: int) -> tuple[str, int]:
        with lock:
            rules.delete_trigger(trigger_id)
        return "", 204

    @app.get("/api/v2/triggers/definitions")
    def trigger_definitions() -> Response:
        from connector.sandbox.zendesk_triggers import ACTION_FIELDS, CONDITION_FIELDS

        def condition(name: str) -> dict[str, Any]:
            return {
                "subject": name,
                "title": name.replace("_", " ").capitalize(),
                "type": "list",
                "group": "ticket",
                "nullable": False,
                "repeatable": False,
                "operators": [
                    {"value": op, "title": op.replace("_", " "), "terminal": False}
                    for op in CONDITION_FIELDS[name]
                ],
            }

        conditions = [condition(n) for n in CONDITION_FIELDS]
        return jsonify(
            {
                "definitions": {
                    "actions": [
                        {
                            "subject": a,
                            "title": a.replace("_", " ").capitalize(),
                            "type": "text",
                            "group": "ticket",
                            "nullable": False,
                            "repeatable": False,
                        }
                        for a in ACTION_FIELDS
                    ],
                    "conditions_all": conditions,
                    "conditions_any": conditions,
                }
            }
        )

    @app.get("/api/v2/trigger_categories")
    def list_categories() -> Response:
        with lock:
            cats = rules.counted_categories()
        return jsonify(
            {
                "trigger_categories": cats,
                "meta": {"has_more": False, "after_cursor": None, "before_cursor": None},
                "links": {"next": None, "prev": None},
            }
        )

    @app.post("/api/v2/trigger_categories")
    def create_category() -> Response:
        payload = _json_body()
        with lock:
            # The spec documents 200 (not 201) for Create Trigger Category.
            return jsonify({"trigger_category": rules.create_category(payload)})

    @app.get("/api/v2/trigger_categories/<category_id>")
    def show_category(category_id: str) -> Response:
        with lock:
            return jsonify({"trigger_category": rules.category(category_id)})

    @app.route("/api/v2/trigger_categories/<category_id>", methods=["PATCH", "PUT"])
    def update_category(category_id: str) -> Response:
        payload = _json_body()
        with lock:
            return jsonify({"trigger_category": rules.update_category(category_id, payload)})

    @app.delete("/api/v2/trigger_categories/<category_id>")
    def delete_category(category_id: str) -> tuple[str, int]:
        with lock:
            rules.delete_category(category_id)
        return "", 204


def _register_sandbox_routes(app: Flask, sandbox: ZendeskSandbox) -> None:
    store, rules, lock = sandbox.store, sandbox.rules, sandbox.lock

    @app.post("/_sandbox/agent_reply")
    def agent_reply() -> Response:
        """A reply typed in Zendesk's agent UI: via web (0), the agent is the current user."""
        data = _json_body()
        if not isinstance(data, dict) or "ticket_id" not in data:
            raise bad_request("ParameterMissing", "ticket_id and body are required")
        with lock:
            ticket = store.ticket(data["ticket_id"])
            author = data.get("author_id", store.default_agent_id)
            if store.role_of(store.user(author)["id"]) == "end-user":
                raise invalid("author_id", "Author: must be an agent")
            comment = {
                "body": data.get("body"),
                "html_body": data.get("html_body"),
                "public": data.get("public", True),
                "author_id": author,
                "uploads": data.get("uploads"),
            }
            update: dict[str, Any] = {"comment": comment}
            # The agent UI submits a reply to a new ticket as Open unless told otherwise.
            status = data.get("status") or ("open" if ticket["status"] == "new" else None)
            if status:
                update["status"] = status
                if status == "solved" and not ticket["assignee_id"]:
                    update["assignee_id"] = author
            actor = Actor(store.user(author)["id"], VIA_WEB, client=_WEB_CLIENT)
            ctx = store.update_ticket(ticket["id"], {"ticket": update}, actor)
            calls = rules.run_triggers(ticket["id"], ctx)
            body = {"ticket": _ticket(ticket, _base()), "audit": _audit(ctx.audit, _base())}
        sandbox.deliver(calls)
        return jsonify(body)

    @app.post("/_sandbox/merge")
    def merge() -> Response:
        """A merge made in the agent UI by an agent (``agent_id``, default Alex Agent):
        ``{"target_id", "ids", "target_comment", ...}`` as the API takes them. The merge's notes
        and status changes are via "merge" (19), like an API merge."""
        data = _json_body()
        if not isinstance(data, dict) or "target_id" not in data:
            raise bad_request("ParameterMissing", "target_id and ids are required")
        with lock:
            target = store.ticket(data["target_id"])
            agent = store.user(data.get("agent_id", store.default_agent_id))["id"]
            if store.role_of(agent) == "end-user":
                raise invalid("agent_id", "Agent: must be an agent")
            job, calls = sandbox.merge(target["id"], data, agent, _base())
        sandbox.deliver(calls)
        return jsonify({"job_status": job})

    @app.post("/_sandbox/tickets/<int:ticket_id>/status")
    def set_status(ticket_id: int) -> Response:
        """Move a ticket on as time would (solve it, close it) without the API's checks."""
        data = _json_body()
        status = data.get("status") if isinstance(data, dict) else None
        if status not in ("new", "open", "pending", "hold", "solved", "closed"):
            raise invalid("status", "Status: is invalid")
        with lock:
            ticket = store.ticket(ticket_id)
            before = dict(ticket)
            actor = Actor(store.default_agent_id, VIA_WEB, client=_WEB_CLIENT)
            if status in ("solved", "closed") and not ticket["assignee_id"]:
                ticket["assignee_id"] = store.default_agent_id
            audit = store._new_audit(ticket, actor, None, store.now())
            if ticket["status"] != status:
                audit["events"].append(store._event("Change", "status", status, ticket["status"]))
                ticket["status"] = status
                store.touch(ticket)
                store.audits[ticket_id].append(audit)
            calls = []
            if audit["events"]:
                ctx = UpdateContext("Change", actor, before, None, audit)
                calls = rules.run_triggers(ticket_id, ctx)
            body = {"ticket": _ticket(ticket, _base())}
        sandbox.deliver(calls)
        return jsonify(body)

    @app.post("/_sandbox/account")
    def account() -> Response:
        """Switch account features: ``{"trigger_categories": false}``."""
        data = _json_body()
        if not isinstance(data, dict) or not isinstance(data.get("trigger_categories"), bool):
            raise bad_request("ParameterMissing", "trigger_categories (true / false) is required")
        with lock:
            rules.categories_enabled = data["trigger_categories"]
        return jsonify({"trigger_categories": rules.categories_enabled})

    @app.get("/_sandbox/state")
    def state() -> Response:
        return jsonify(sandbox.state(_base()))

    @app.post("/_sandbox/flush")
    def flush() -> Response:
        data = _json_body()
        timeout = data.get("timeout", 10.0) if isinstance(data, dict) else 10.0
        return jsonify({"flushed": sandbox.flush(float(timeout))})

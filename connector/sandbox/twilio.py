"""A Twilio Programmable Messaging stand-in, as close to the real API as a connector can tell.

Follows https://www.twilio.com/docs/messaging/api/message-resource (create / fetch, form bodies,
Basic auth, the resource JSON and error JSON), the test credentials' magic numbers
(https://www.twilio.com/docs/iam/test-credentials), status callbacks
(https://www.twilio.com/docs/messaging/guides/track-outbound-message-status), the incoming-message
webhook (https://www.twilio.com/docs/messaging/guides/webhook-request) signed as
https://www.twilio.com/docs/usage/security#validating-requests describes, media behind Basic auth
that redirects to another host, and the default STOP / START / HELP handling on long codes
(https://help.twilio.com/articles/223134027).

Sandbox-only routes (never faulted, never rate limited) live under ``/_sandbox``: ``inbound``
(a handset texts in), ``config``, ``state``, ``flush``, ``reset`` and ``faults``.

Known simplifications: no Messaging Service sender pools (a service sends from ``phone_number``);
``OptOutType`` is added only for messages to a Messaging Service, treating every sandbox service as
having Advanced Opt-Out; opt-outs are per handset and sender (number or service).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit
from xml.etree import ElementTree

import phonenumbers
import requests
from flask import Flask, Response, jsonify, redirect, request
from werkzeug.wrappers import Response as WerkzeugResponse

from connector.sandbox.common import (
    SandboxControls,
    WebhookSender,
    install_controls,
    register_closer,
)
from connector.sandbox.signing import twilio_signature
from connector.text.sms_text import segment_info

__all__ = ["DEFAULT_ACCOUNT_SID", "DEFAULT_AUTH_TOKEN", "TwilioSandbox", "create_app"]

DEFAULT_ACCOUNT_SID = "AC" + hashlib.md5(b"sms-connector sandbox").hexdigest()
DEFAULT_AUTH_TOKEN = "sandbox-auth-token"
DEFAULT_PHONE_NUMBER = "+15005550006"  # the test credentials' "passes all validation" From
API_VERSION = "2010-04-01"
MAX_BODY = 1600  # https://www.twilio.com/docs/errors/21617
MAX_MEDIA = 10  # https://www.twilio.com/docs/errors/21623
# An MMS's media may total 5 MB; Twilio learns the sizes only when it fetches the media, so a
# larger total fails the message afterwards: https://www.twilio.com/docs/api/errors/11751
MAX_MEDIA_BYTES = 5 * 1024 * 1024
WEBHOOK_TIMEOUT = 15.0  # Twilio waits 15 s for an SMS webhook's answer
MEDIA_LINK_SECONDS = 4 * 3600  # lifetime of the redirect target (Twilio's are short-lived too)

# Magic numbers of the test credentials: https://www.twilio.com/docs/iam/test-credentials
MAGIC_FROM = {
    "+15005550001": (21212, "The 'From' number {n} is not a valid phone number, shortcode, or "
                     "alphanumeric sender ID."),
    "+15005550007": (21606, "The 'From' phone number provided ({n}) is not a valid message-capable "
                     "Twilio phone number for this destination."),
    # The documented trigger of 21611, the sender's queue is full (temporary: Twilio queues
    # up to 10 h of segments per sender; https://www.twilio.com/docs/errors/21611).
    "+15005550008": (21611, "This 'From' number ({n}) has exceeded the maximum number of queued "
                     "messages"),
}  # fmt: skip
MAGIC_TO = {
    "+15005550001": (21211, "Invalid 'To' Phone Number: {n}"),
    "+15005550002": (21612, "The 'To' phone number: {n}, is not currently reachable using the "
                     "'From' phone number via SMS."),
    "+15005550003": (21408, "Permission to send an SMS has not been enabled for the region "
                     "indicated by the 'To' number: {n}."),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number {n} is not a valid mobile number"),
}  # fmt: skip
# Handsets whose number ends like this fail after sending, with that 30xxx code in the callback:
# https://www.twilio.com/docs/messaging/guides/debugging-common-issues
CARRIER_FAILURES = {
    "3003": ("undelivered", 30003, "Unreachable destination handset"),
    "3005": ("undelivered", 30005, "Unknown destination handset"),
    "3006": ("undelivered", 30006, "Landline or unreachable carrier"),
    "3007": ("undelivered", 30007, "Message filtered"),
    "3008": ("failed", 30008, "Unknown error"),
    "3034": ("failed", 30034, "Message from an unregistered number"),
    # Accepted, then refused as unsubscribed: what Twilio reports in the status callback
    # (MessageStatus=failed, ErrorCode=21610) when the opt-out is found after the create, e.g.
    # Advanced Opt-Out on a Messaging Service (https://www.twilio.com/docs/errors/21610).
    "3610": ("failed", 21610, "Attempt to send to unsubscribed recipient"),
}
# Twilio's default keywords on long codes (help.twilio.com/articles/223134027) and its replies.
OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})
AUTO_REPLIES = {
    "STOP": "You have successfully been unsubscribed. You will not receive any more messages "
    "from this number. Reply START to resubscribe.",
    "START": "You have successfully been re-subscribed to messages from this number. Reply HELP "
    "for help. Reply STOP to unsubscribe. Msg&Data Rates May Apply.",
    "HELP": "Reply STOP to unsubscribe. Msg&Data Rates May Apply.",
}
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_SERVICE_SID = re.compile(r"^MG[0-9a-f]{32}$")


def sign_twilio_request(url: str, params: Mapping[str, Any], auth_token: str) -> str:
    """``X-Twilio-Signature`` for a form POST of ``params`` to ``url`` (connector.signatures)."""
    return twilio_signature(auth_token, url, params)


def num_segments(body: str) -> int:
    """Segments Twilio bills for ``body``, counted as the connector counts them (one table).

    A media-only message still counts one segment in Twilio's answers, where ``segment_info``
    says 0 (nothing to send as SMS).
    """
    return max(1, segment_info(body).segments)


def _sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def _rfc2822(when: datetime) -> str:
    # The 2010 API's dates look like "Thu, 30 Jul 2015 20:12:31 +0000".
    return format_datetime(when, usegmt=False)


def _parse_rfc2822(value: str | None) -> float:
    return parsedate_to_datetime(value).timestamp() if value else 0.0



def twilio_error(status: int, code: int, message: str, **extra: Any) -> Response:
    """Twilio's error body: https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions"""
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
        **extra,
    }
    response = jsonify(body)
    response.status_code = status
    return response


@dataclass
class TwilioSandbox:
    """Everything the stand-in holds; every access goes through ``lock``."""

    account_sid: str
    auth_token: str
    sms_webhook_url: str | None
    opt_out_handling: bool
    phone_number: str
    public_base_url: str | None
    media_base_url: str | None
    sender: WebhookSender
    lock: threading.RLock = field(default_factory=threading.RLock)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    callbacks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    handsets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    opt_outs: set[tuple[str, str]] = field(default_factory=set)
    inbound: list[dict[str, Any]] = field(default_factory=list)
    media: dict[str, dict[str, Any]] = field(default_factory=dict)
    media_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    clock: Callable[[], float] = time.time  # the controls' wall clock (POST /_sandbox/clock)
    # A sender's backed-up queue: Twilio queues what exceeds a sender's throughput (a US long
    # code about 1 segment / second) for up to 10 h, the message "queued" with no date_sent
    # meanwhile (https://help.twilio.com/articles/115002943027). POST /_sandbox/config
    # {"hold_queue": true} keeps new messages queued until it is set false again.
    hold_queue: bool = False
    held: list[Callable[[], None]] = field(default_factory=list)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC).replace(microsecond=0)

    # -- opt-outs ------------------------------------------------------------------------------
    def opted_out(self, handset: str, *senders: str | None) -> bool:
        with self.lock:
            return any((handset, s) in self.opt_outs for s in senders if s)

    # -- handsets -------------------------------------------------------------------------------
    def deliver_to_handset(self, handset: str, **entry: Any) -> None:
        entry.setdefault("at", self.now().isoformat())
        with self.lock:
            self.handsets.setdefault(handset, []).append(entry)

    # -- snapshot -------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        with self.lock:
            messages = []
            for sid, message in self.messages.items():
                messages.append({**message, "callbacks": list(self.callbacks.get(sid, []))})
            return {
                "account_sid": self.account_sid,
                "config": {
                    "sms_webhook_url": self.sms_webhook_url,
                    "opt_out_handling": self.opt_out_handling,
                    "phone_number": self.phone_number,
                    "hold_queue": self.hold_queue,
                },
                "messages": messages,
                "handsets": {number: list(inbox) for number, inbox in self.handsets.items()},
                "opt_outs": [{"handset": h, "sender": s} for h, s in sorted(self.opt_outs)],
                "inbound": list(self.inbound),
                "webhook_attempts": self.sender.attempts,
            }

    def reset(self) -> None:
        with self.lock:
            self.messages.clear()
            self.callbacks.clear()
            self.handsets.clear()
            self.opt_outs.clear()
            self.inbound.clear()
            self.media.clear()
            self.held.clear()

    # -- media ----------------------------------------------------------------------------------
    def media_token(self, media_sid: str, expires: int) -> str:
        mac = hmac.new(self.media_secret, f"{media_sid}:{expires}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def _other_host(base_url: str) -> str:
    """The same server under another host name, so a redirect there is a cross-host redirect."""
    split = urlsplit(base_url)
    swap = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}
    host = split.hostname or ""
    new_host = swap.get(host, host)
    netloc = new_host + (f":{split.port}" if split.port else "")
    return urlunsplit((split.scheme, netloc, "", "", "")).rstrip("/")


def create_app(
    *,
    account_sid: str = DEFAULT_ACCOUNT_SID,
    auth_token: str = DEFAULT_AUTH_TOKEN,
    sms_webhook_url: str | None = None,
    opt_out_handling: bool = True,
    controls: SandboxControls | None = None,
    public_base_url: str | None = None,
    media_base_url: str | None = None,
    phone_number: str = DEFAULT_PHONE_NUMBER,
) -> Flask:
    """The Twilio stand-in; its ``TwilioSandbox`` is ``app.extensions["twilio_sandbox"]``.

    ``public_base_url``: the base of the URLs the stand-in hands out (MediaUrl, ``uri``); default:
    the host the request came to. ``media_base_url``: where media redirects point; default: the
    same server under the other loopback name (127.0.0.1 ↔ localhost), which is a different host to
    an HTTP client, so it must drop the Basic credentials when it follows the redirect.
    """
    app = Flask(__name__)
    sender = WebhookSender(timeout=WEBHOOK_TIMEOUT, user_agent="TwilioProxy/1.1")
    register_closer(app, sender.close)
    controls = controls or SandboxControls()
    sandbox = TwilioSandbox(
        account_sid=account_sid,
        auth_token=auth_token,
        sms_webhook_url=sms_webhook_url,
        opt_out_handling=opt_out_handling,
        phone_number=phone_number,
        public_base_url=public_base_url,
        media_base_url=media_base_url,
        sender=sender,
        clock=controls.wall.now,
    )
    app.extensions["twilio_sandbox"] = sandbox

    def rate_limited(retry_after: float) -> Response:
        # https://www.twilio.com/docs/errors/20429
        response = twilio_error(429, 20429, "Too Many Requests")
        response.headers["Retry-After"] = str(max(1, int(retry_after + 0.999)))
        return response

    def unavailable() -> Response:
        return twilio_error(503, 20503, "Service Unavailable")

    install_controls(app, controls, rate_limited=rate_limited, unavailable=unavailable)

    def base_url() -> str:
        return (sandbox.public_base_url or request.host_url).rstrip("/")

    def account_prefix() -> str:
        return f"/{API_VERSION}/Accounts/{sandbox.account_sid}"

    def authenticate(url_account: str) -> Response | None:
        auth = request.authorization
        ok = (
            auth is not None
            and auth.type == "basic"
            and hmac.compare_digest((auth.username or "").encode(), sandbox.account_sid.encode())
            and hmac.compare_digest((auth.password or "").encode(), sandbox.auth_token.encode())
        )
        if not ok:
            response = twilio_error(
                401, 20003, "Authenticate", detail="Your AccountSid or AuthToken was incorrect."
            )
            response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
            return response
        if url_account != sandbox.account_sid:
            return not_found()
        return None

    def not_found() -> Response:
        return twilio_error(404, 20404, f"The requested resource {request.path} was not found")

    # -- send ----------------------------------------------------------------------------------
    @app.post(f"/{API_VERSION}/Accounts/<account>/Messages.json")
    def create_message(account: str) -> Response:
        denied = authenticate(account)
        if denied is not None:
            return denied
        form = request.form
        to = form.get("To", "").strip()
        from_ = form.get("From", "").strip()
        service = form.get("MessagingServiceSid", "").strip()
        body = form.get("Body", "")
        media_urls = form.getlist("MediaUrl")
        callback_url = form.get("StatusCallback") or None
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not from_ and not service:
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if not body and not media_urls:
            return twilio_error(400, 21602, "Message body is required.")
        if service and not _SERVICE_SID.match(service):
            return twilio_error(400, 21701, f"The Messaging Service Sid {service} is invalid.")
        if from_ in MAGIC_FROM:
            code, text = MAGIC_FROM[from_]
            return twilio_error(400, code, text.format(n=from_))
        if to in MAGIC_TO:
            code, text = MAGIC_TO[to]
            return twilio_error(400, code, text.format(n=to))
        if not _E164.match(to):
            return twilio_error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if len(body) > MAX_BODY:
            return twilio_error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        if len(media_urls) > MAX_MEDIA:
            return twilio_error(400, 21623, "Number of media files exceeds allowed limit.")
        if sandbox.opt_out_handling and sandbox.opted_out(to, from_, service):
            return twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")

        now = sandbox.now()
        sid = _sid("MM" if media_urls else "SM")
        uri = f"{account_prefix()}/Messages/{sid}.json"
        message: dict[str, Any] = {
            "account_sid": sandbox.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": _rfc2822(now),
            "date_sent": None,
            "date_updated": _rfc2822(now),
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            # Via a Messaging Service without From, Twilio answers "accepted" and picks a sender
            # later; from is null until then.
            "from": from_ or None,
            "messaging_service_sid": service or None,
            "num_media": str(len(media_urls)),
            "num_segments": str(num_segments(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued" if from_ else "accepted",
            "subresource_uris": {
                "media": f"{account_prefix()}/Messages/{sid}/Media.json",
                "feedback": f"{account_prefix()}/Messages/{sid}/Feedback.json",
            },
            "to": to,
            "uri": uri,
        }
        with sandbox.lock:
            sandbox.messages[sid] = message
            sandbox.callbacks[sid] = []
        _schedule_delivery(sandbox, sid, from_ or sandbox.phone_number, media_urls, callback_url)
        response = jsonify(message)
        response.status_code = 201
        return response

    @app.get(f"/{API_VERSION}/Accounts/<account>/Messages.json")
    def list_messages(account: str) -> Response | tuple[Response, int]:
        """Read multiple messages filtered by To / From, paged by PageSize / Page, "sorted by
        the DateSent field, with the most recent messages first".

        https://www.twilio.com/docs/messaging/api/message-resource#read-multiple-message-resources
        (DateSent filters are day-granular upstream; they are accepted and ignored here). A
        message not sent yet has no DateSent, and the page does not say where those go: here
        they come after every sent one, so a client that reads the list in creation order or
        stops at the first old message misses them.
        """
        denied = authenticate(account)
        if denied is not None:
            return denied
        try:
            page_size = min(1000, max(1, int(request.args.get("PageSize", "50"))))
            page = max(0, int(request.args.get("Page", "0")))
        except ValueError:
            return twilio_error(400, 20001, "PageSize and Page must be whole numbers")
        to, from_ = request.args.get("To"), request.args.get("From")
        with sandbox.lock:
            found = [dict(m) for m in reversed(list(sandbox.messages.values()))
                     if (to is None or m.get("to") == to)
                     and (from_ is None or m.get("from") == from_)]
        # Stable sort: the same DateSent keeps the newest created first.
        found.sort(key=lambda m: (m.get("date_sent") is not None,
                                  _parse_rfc2822(m.get("date_sent"))), reverse=True)
        chunk = found[page * page_size:(page + 1) * page_size]
        base = f"{account_prefix()}/Messages.json"
        # Percent-encoded, as in the docs' example ("To=%2B123456789&From=%2B987654321&…"):
        # a bare "+" would read as a space on the next page.
        query = urlencode([(k, v) for k, v in (("To", to), ("From", from_)) if v])
        query = (query + "&") if query else ""

        def uri(n: int) -> str:
            return f"{base}?{query}PageSize={page_size}&Page={n}"

        more = (page + 1) * page_size < len(found)
        return jsonify({
            "messages": chunk,
            "page": page,
            "page_size": page_size,
            "start": page * page_size,
            "end": page * page_size + max(0, len(chunk) - 1),
            "uri": uri(page),
            "first_page_uri": uri(0),
            "next_page_uri": uri(page + 1) if more else None,
            "previous_page_uri": uri(page - 1) if page > 0 else None,
        })

    @app.get(f"/{API_VERSION}/Accounts/<account>/Messages/<sid>.json")
    def fetch_message(account: str, sid: str) -> Response:
        denied = authenticate(account)
        if denied is not None:
            return denied
        with sandbox.lock:
            message = sandbox.messages.get(sid)
            if message is not None:
                return jsonify(message)
        return not_found()

    # -- inbound media -------------------------------------------------------------------------
    @app.get(f"/{API_VERSION}/Accounts/<account>/Messages/<message_sid>/Media/<media_sid>")
    def get_media(account: str, message_sid: str, media_sid: str) -> WerkzeugResponse:
        denied = authenticate(account)
        if denied is not None:
            return denied
        as_json = media_sid.endswith(".json")
        media_sid = media_sid.removesuffix(".json")
        with sandbox.lock:
            item = sandbox.media.get(media_sid)
        if item is None or item["parent_sid"] != message_sid:
            return not_found()
        if as_json:
            return jsonify({k: v for k, v in item.items() if k != "data"})
        # Twilio answers the media URL with a redirect to a short-lived link on its CDN, which
        # needs no credentials: a client must follow it and must not carry Basic auth along.
        expires = int(time.time()) + MEDIA_LINK_SECONDS
        target = sandbox.media_base_url or _other_host(base_url())
        token = sandbox.media_token(media_sid, expires)
        location = f"{target.rstrip('/')}/media-cdn/{media_sid}?Expires={expires}&Signature={token}"
        return redirect(location, code=307)

    @app.get("/media-cdn/<media_sid>")
    def media_cdn(media_sid: str) -> Response:
        expires = request.args.get("Expires", "")
        signature = request.args.get("Signature", "")
        with sandbox.lock:
            item = sandbox.media.get(media_sid)
        valid = (
            item is not None
            and expires.isdigit()
            and int(expires) >= time.time()
            and hmac.compare_digest(sandbox.media_token(media_sid, int(expires)), signature)
        )
        if not valid or item is None:
            # The CDN is S3-like: an XML AccessDenied, not Twilio's JSON.
            return Response(
                "<Error><Code>AccessDenied</Code><Message>Request has expired or the signature "
                "does not match</Message></Error>",
                status=403,
                mimetype="application/xml",
            )
        return Response(item["data"], mimetype=item["content_type"])

    # -- sandbox routes ------------------------------------------------------------------------
    @app.post("/_sandbox/inbound")
    def inbound() -> Response | tuple[Response, int]:
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict):
            return jsonify({"error": "expected a JSON object"}), 400
        try:
            result = _receive(sandbox, payload, base_url())
        except ValueError as exc:
            return jsonify({"error": str(exc)}), 400
        return jsonify(result)

    @app.post("/_sandbox/config")
    def config() -> Response | tuple[Response, int]:
        changes = request.get_json(silent=True)
        if not isinstance(changes, dict):
            return jsonify({"error": "expected a JSON object"}), 400
        for name, value in changes.items():
            if name in ("sms_webhook_url", "public_base_url", "media_base_url"):
                if value is not None and not isinstance(value, str):
                    return jsonify({"error": f"{name}: expected a URL or null"}), 400
            elif name in ("opt_out_handling", "hold_queue"):
                if not isinstance(value, bool):
                    return jsonify({"error": f"{name}: expected true or false"}), 400
            elif name == "phone_number":
                if not isinstance(value, str) or not _E164.match(value):
                    return jsonify({"error": f"{name}: expected an E.164 number"}), 400
            else:
                return jsonify({"error": f"unknown config setting: {name}"}), 400
        with sandbox.lock:
            for name, value in changes.items():
                setattr(sandbox, name, value)
            released = [] if sandbox.hold_queue else list(sandbox.held)
            if released:
                sandbox.held.clear()
        for step in released:
            sandbox.sender.call(step)
        return jsonify(sandbox.state()["config"])

    @app.get("/_sandbox/state")
    def state() -> Response:
        return jsonify({**sandbox.state(), "faults": controls.snapshot()})

    @app.post("/_sandbox/flush")
    def flush() -> Response:
        """Wait until queued status changes and callbacks have gone out (like Zendesk's)."""
        data = request.get_json(silent=True)
        timeout = data.get("timeout", 10.0) if isinstance(data, dict) else 10.0
        return jsonify({"flushed": sandbox.sender.flush(float(timeout))})

    @app.post("/_sandbox/reset")
    def reset() -> Response:
        sandbox.reset()
        return jsonify({"reset": True})

    @app.errorhandler(404)
    def handle_404(_exc: Exception) -> Response:
        return not_found()

    @app.errorhandler(405)
    def handle_405(_exc: Exception) -> Response:
        return twilio_error(405, 20004, "Method not allowed")

    return app


def _carrier_outcome(to: str) -> tuple[str, int, str] | None:
    for suffix, outcome in CARRIER_FAILURES.items():
        if to.endswith(suffix):
            return outcome
    return None


def _schedule_delivery(
    sandbox: TwilioSandbox,
    sid: str,
    sender_number: str,
    media_urls: list[str],
    callback_url: str | None,
) -> None:
    """Queue the message's life on the sender thread: each status change, then its callback.

    Twilio calls StatusCallback asynchronously, once per status change, form-encoded and signed:
    https://www.twilio.com/docs/messaging/guides/track-outbound-message-status
    """

    def announce(status: str) -> None:
        with sandbox.lock:
            message = dict(sandbox.messages[sid])
        if not callback_url:
            return
        params = {
            "AccountSid": sandbox.account_sid,
            "ApiVersion": API_VERSION,
            "From": message["from"] or sender_number,
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
            "To": message["to"],
        }
        if message["messaging_service_sid"]:
            params["MessagingServiceSid"] = message["messaging_service_sid"]
        if message["error_code"] is not None:
            params["ErrorCode"] = str(message["error_code"])
        headers = {
            "X-Twilio-Signature": sign_twilio_request(callback_url, params, sandbox.auth_token),
            "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
        }

        def record(attempt: dict[str, Any]) -> None:
            with sandbox.lock:
                sandbox.callbacks[sid].append(
                    {
                        "status": status,
                        "url": callback_url,
                        "http_status": attempt["status"],
                        "error": attempt["error"],
                        "params": params,
                    }
                )

        sandbox.sender.send(
            callback_url,
            data=params,
            headers=headers,
            label=f"status {sid} {status}",
            on_done=record,
        )

    def move(status: str, **changes: Any) -> None:
        with sandbox.lock:
            message = sandbox.messages[sid]
            message.update(status=status, date_updated=_rfc2822(sandbox.now()), **changes)
        announce(status)

    def progress() -> None:
        with sandbox.lock:
            if sandbox.hold_queue:
                sandbox.held.append(progress)  # stays queued, no date_sent, until released
                return
            message = sandbox.messages[sid]
            to = message["to"]
            segments = int(message["num_segments"])
            if message["from"] is None:
                message["from"] = sender_number
        # Twilio fetches MediaUrl itself before sending; an unreachable one fails the message.
        fetched = []
        total = 0
        for url in media_urls:
            try:
                with requests.get(url, timeout=10) as got:
                    got.raise_for_status()
                    total += len(got.content)
                    fetched.append({"url": url, "content_type": got.headers.get("Content-Type")})
            except requests.RequestException:
                move("failed", error_code=11200, error_message="HTTP retrieval failure")
                return
        if total > MAX_MEDIA_BYTES:
            move(
                "failed",
                error_code=11751,
                error_message="Media Message - Media exceeds messaging provider size limit",
            )
            return
        outcome = _carrier_outcome(to)
        if outcome is not None and outcome[0] == "failed":
            move("failed", error_code=outcome[1], error_message=outcome[2])
            return
        price = f"-{0.0079 * segments:.5f}"
        move("sent", date_sent=_rfc2822(sandbox.now()), price=price)
        if outcome is not None:
            move(outcome[0], error_code=outcome[1], error_message=outcome[2])
            return
        move("delivered")
        with sandbox.lock:
            message = dict(sandbox.messages[sid])
        sandbox.deliver_to_handset(
            to, sid=sid, **{"from": message["from"]}, body=message["body"], media=fetched
        )

    with sandbox.lock:
        initial = sandbox.messages[sid]["status"]
    sandbox.sender.call(lambda: announce(initial))
    sandbox.sender.call(progress)


def _keyword(body: str) -> str | None:
    word = " ".join(body.split()).upper()
    if word in OPT_OUT_WORDS:
        return "STOP"
    if word in OPT_IN_WORDS:
        return "START"
    if word in HELP_WORDS:
        return "HELP"
    return None


def _geo(number: str) -> dict[str, str]:
    """FromCountry / FromState / … as Twilio fills them: country known, the rest often empty."""
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(number)) or ""
    except phonenumbers.NumberParseException:
        region = ""
    return {"Country": region, "State": "", "City": "", "Zip": ""}


def _receive(sandbox: TwilioSandbox, payload: Mapping[str, Any], base_url: str) -> dict[str, Any]:
    """A handset texts in: build, sign and post Twilio's incoming-message webhook."""
    handset = payload.get("from")
    to = payload.get("to") or sandbox.phone_number
    body = payload.get("body") or ""
    service = payload.get("messaging_service_sid") or None
    media = payload.get("media") or []
    if not isinstance(handset, str) or not _E164.match(handset):
        raise ValueError("from: expected an E.164 phone number")
    if not isinstance(to, str) or not _E164.match(to):
        raise ValueError("to: expected an E.164 phone number")
    if not isinstance(body, str) or len(body) > MAX_BODY:
        raise ValueError(f"body: expected text of at most {MAX_BODY} characters")
    if not isinstance(media, list) or len(media) > MAX_MEDIA:
        raise ValueError(f"media: expected a list of at most {MAX_MEDIA} items")
    decoded = []
    for index, item in enumerate(media):
        try:
            decoded.append((str(item["content_type"]), base64.b64decode(item["data_base64"])))
        except (KeyError, TypeError, binascii.Error) as exc:
            raise ValueError(f"media[{index}]: expected content_type and data_base64") from exc

    # Inbound MMS get an MM sid, SMS an SM sid.
    sid = _sid("MM" if decoded else "SM")
    params: dict[str, str] = {
        "ToCountry": "",
        "ToState": "",
        "SmsMessageSid": sid,
        "NumMedia": str(len(decoded)),
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": body,
        "FromCountry": "",
        "To": to,
        "ToZip": "",
        "NumSegments": str(num_segments(body)),
        "MessageSid": sid,
        "AccountSid": sandbox.account_sid,
        "From": handset,
        "ApiVersion": API_VERSION,
    }
    for side, number in (("From", handset), ("To", to)):
        for name, value in _geo(number).items():
            params[side + name] = value
    if service:
        params["MessagingServiceSid"] = service
    for index, (content_type, data) in enumerate(decoded):
        media_sid = _sid("ME")
        url = f"{base_url}/{API_VERSION}/Accounts/{sandbox.account_sid}/Messages/{sid}/Media/"
        url += media_sid
        with sandbox.lock:
            sandbox.media[media_sid] = {
                "sid": media_sid,
                "parent_sid": sid,
                "account_sid": sandbox.account_sid,
                "content_type": content_type,
                "date_created": _rfc2822(sandbox.now()),
                "uri": urlsplit(url).path + ".json",
                "data": data,
            }
        params[f"MediaUrl{index}"] = url
        params[f"MediaContentType{index}"] = content_type

    keyword = _keyword(body) if sandbox.opt_out_handling else None
    if keyword and service:
        params["OptOutType"] = keyword
    auto_reply = None
    channel = service or to
    if keyword:
        with sandbox.lock:
            if keyword == "STOP":
                sandbox.opt_outs.add((handset, channel))
                if service:
                    sandbox.opt_outs.add((handset, to))
            elif keyword == "START":
                sandbox.opt_outs.discard((handset, channel))
                sandbox.opt_outs.discard((handset, to))
        auto_reply = AUTO_REPLIES[keyword]
        sandbox.deliver_to_handset(handset, sid=_sid("SM"), **{"from": to}, body=auto_reply)

    record: dict[str, Any] = {
        "message_sid": sid,
        "from": handset,
        "to": to,
        "body": body,
        "num_media": len(decoded),
        "params": params,
        "url": sandbox.sms_webhook_url,
        "status": None,
        "response_body": None,
        "error": None,
        "auto_reply": auto_reply,
        "at": sandbox.now().isoformat(),
    }
    webhook_url = sandbox.sms_webhook_url
    if webhook_url:
        headers = {
            "X-Twilio-Signature": sign_twilio_request(webhook_url, params, sandbox.auth_token),
            "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
            "User-Agent": "TwilioProxy/1.1",
        }
        try:
            with requests.post(
                webhook_url, data=params, headers=headers, timeout=WEBHOOK_TIMEOUT
            ) as got:
                record["status"] = got.status_code
                record["response_body"] = got.text[:4000]
                record["content_type"] = got.headers.get("Content-Type", "")
        except requests.RequestException as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
        if record["status"] == 200 and not sandbox.opted_out(handset, to, service):
            for reply in _twiml_messages(record["response_body"] or ""):
                sandbox.deliver_to_handset(handset, sid=_sid("SM"), **{"from": to}, body=reply)
    with sandbox.lock:
        sandbox.inbound.append(record)
    return {
        "message_sid": sid,
        "webhook": {k: record[k] for k in ("url", "status", "response_body", "error")},
        "auto_reply": auto_reply,
        "params": params,
    }


def _twiml_messages(text: str) -> list[str]:
    """Bodies of ``<Message>`` verbs in a TwiML answer (Twilio sends those as replies)."""
    if "<Message" not in text:
        return []
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError:
        return []
    replies = []
    for element in root.iter("Message"):
        body_element = element.find("Body")
        replies.append(
            (body_element.text if body_element is not None else element.text or "") or ""
        )
    return replies

"""Twilio Programmable Messaging: send, reconcile, fetch MMS media, and read Twilio's webhooks.

:class:`TwilioClient` is the registered adapter (``adapters.sms.PROVIDERS["twilio"]``): the
constants :class:`~adapters.sms.base.SmsAdapter` asks for (error table, status ranks, the empty
TwiML answer, the ``[twilio]`` config section) plus send / reconcile / media over plain
``requests`` (the official SDK stays a test-only dependency that cross-checks the signature code),
and the webhook functions :func:`verify_webhook`, :func:`parse_inbound`, :func:`parse_status`.

Errors at the boundary: HTTP 400 with a Twilio code → SmsRejected (21610 = opted out; the error
table says which codes are worth retrying, 21611 = queue full),
429 → RateLimited, 5xx / timeouts / resets → TransientError (the text may have gone: reconcile
with :meth:`TwilioClient.find_sent` before sending again).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import SplitResult, urlsplit, urlunsplit

import requests
from marshmallow import fields as mf
from marshmallow import validate

from adapters.http import (
    CallCounter,
    decode_body,
    download,
    make_session,
    parse_retry_after,
    same_origin,
    send,
)
from adapters.sms.base import (
    DEFAULT_STATUS_RANKS,
    ERROR_OPT_OUT,
    ERROR_RETRYABLE,
    ErrorInfo,
    SmsAdapter,
)
from connector.config_fields import Section, url_field
from connector.errors import (
    ExternalServiceError,
    MediaUnavailable,
    RateLimited,
    SmsRejected,
    TransientError,
    WebhookRejected,
)
from connector.model import (
    KEYWORD_HELP,
    KEYWORD_START,
    KEYWORD_STOP,
    STATUS_UNKNOWN,
    DeliveryReceipt,
    InboundSms,
    Media,
    OutboundSms,
    SendResult,
)
from connector.text.phones import normalize_phone
from connector.webhooks import WebhookAnswer, WebhookRequest

__all__ = [
    "TwilioClient",
    "TwilioSettings",
    "describe_error",
    "parse_inbound",
    "parse_status",
    "status_rank",
    "verify_webhook",
]

PROVIDER = "twilio"
API_VERSION = "2010-04-01"
MAX_MEDIA = 10  # Twilio sends at most 10 media per MMS
# Twilio lists messages by DateSent, not by creation, and a queued message has no DateSent: a
# reconciliation reads this many pages whatever their order (the status URL's own id usually
# settles it first; connector/pipeline/send.py).
RECONCILE_PAGES = 3
RECONCILE_PAGE_SIZE = 50

SIGNATURE_HEADER = "X-Twilio-Signature"
SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"

# Plain-words meanings for the agent's note (https://www.twilio.com/docs/api/errors/<code>).
ERRORS: dict[str, ErrorInfo] = {
    "21211": ErrorInfo("the phone number is not valid, so the text could not be sent"),
    "21408": ErrorInfo("texting this country is not enabled on the account"),
    "21610": ErrorInfo("the customer has unsubscribed (texted STOP); they must text START to "
                       "receive texts", ERROR_OPT_OUT),
    # The sender's queue is full (Twilio queues up to 10 h of segments per sender): temporary.
    # https://www.twilio.com/docs/api/errors/21611
    "21611": ErrorInfo("the sending number has too many texts waiting in the provider's queue "
                       "(too many texts sent at once)", ERROR_RETRYABLE),
    "21614": ErrorInfo("the number is not a mobile number and cannot receive texts"),
    "21617": ErrorInfo("the message is longer than 1,600 characters"),
    "30003": ErrorInfo("the customer's phone is unreachable (switched off or out of coverage)"),
    "30004": ErrorInfo("the message was blocked (the customer or their carrier blocks texts from "
                       "us)"),
    "30005": ErrorInfo("the number is unknown to the carrier or no longer in service"),
    "30006": ErrorInfo("the number is a landline or its carrier cannot receive texts"),
    "30007": ErrorInfo("the carrier filtered the message as spam or unwanted content"),
    "30008": ErrorInfo("the carrier reported an unknown delivery error"),
    "30034": ErrorInfo("the sending number is not registered for US A2P 10DLC texting"),
}

# Statuses only move forward (callbacks repeat and arrive out of order); Twilio's own words on
# top of the shared order.
# https://www.twilio.com/docs/messaging/api/message-resource#message-status-values
RANKS: dict[str, int] = {**DEFAULT_STATUS_RANKS, "scheduled": 1, "canceled": 5}

# Twilio Advanced Opt-Out's OptOutType → the core's keyword.
# https://www.twilio.com/docs/messaging/tutorials/advanced-opt-out
_OPT_OUT_TYPES = {"STOP": KEYWORD_STOP, "START": KEYWORD_START, "HELP": KEYWORD_HELP}

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


# ---------------------------------------------------------------------- the [twilio] section


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str = ""
    auth_token: str = ""
    base_url: str = "https://api.twilio.com"
    webhook_signing_secret: str = ""
    opt_out_handling: str = "twilio"
    timeout: float = 10.0
    media_max_bytes: int = 5 * 1024 * 1024
    media_content_types: tuple[str, ...] = (
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/heic",
        "application/pdf",
        "audio/amr",
        "audio/mpeg",
        "video/mp4",
        "video/3gpp",
        "text/vcard",
        "text/x-vcard",
    )


class TwilioSchema(Section):
    settings_class = TwilioSettings
    account_sid = mf.String(validate=validate.Regexp(r"^(AC[0-9a-fA-F]{32})?$",
                                                     error="not a Twilio Account SID (AC…)"))
    auth_token = mf.String()
    base_url = url_field()
    webhook_signing_secret = mf.String()
    opt_out_handling = mf.String(validate=validate.OneOf(["twilio", "connector"]))
    timeout = mf.Float(validate=validate.Range(0.1, 120))
    media_max_bytes = mf.Integer(validate=validate.Range(1, 100 * 1024 * 1024))
    media_content_types = mf.List(mf.String())


_MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
# A Media resource: https://www.twilio.com/docs/messaging/api/media-resource (MessageSid MM…, or
# SM… on older messages; MediaSid ME…).
_MEDIA_PATH = re.compile(r"/2010-04-01/Accounts/(?P<account>AC[0-9a-fA-F]{32})"
                         r"/Messages/(?:MM|SM)[0-9a-fA-F]{32}/Media/ME[0-9a-fA-F]{32}")
_UNSAFE_CHARS = re.compile(r"[\x00-\x20\x7f%]")  # control, space, and percent-escapes


def describe_error(code: int | str | None) -> str:
    """What a Twilio error code means, in words an agent can act on."""
    try:
        number = int(str(code).strip())
    except (TypeError, ValueError):
        return "the text could not be delivered (no error code given)"
    info = ERRORS.get(str(number))
    return info.words if info else f"the text could not be delivered (Twilio error {number})"


def status_rank(status: str | None) -> int:
    """Order of delivery statuses: move a message's status only to a higher rank.

    queued < sending < sent < delivered / undelivered / failed (final, equal) < read.
    Unknown statuses rank 0 so they never overwrite a known one.
    """
    return RANKS.get((status or "").strip().lower(), 0)


class TwilioClient(SmsAdapter):
    """Messages API of one Twilio account (any edge, region or sandbox via ``base_url``)."""

    name = PROVIDER
    provider = PROVIDER
    settings_schema = TwilioSchema
    secret_keys = frozenset({"auth_token", "webhook_signing_secret"})
    required_for_api = ("account_sid", "auth_token")
    errors = ERRORS
    status_ranks = RANKS
    # Twilio sends a reply for any TwiML in the answer; an empty <Response/> sends nothing.
    # https://www.twilio.com/docs/messaging/twiml
    inbound_answer = WebhookAnswer(EMPTY_TWIML, "text/xml")
    status_answer = WebhookAnswer("", "text/plain", 204)

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        base_url: str = "https://api.twilio.com",
        timeout: float = 10.0,
        session: requests.Session | None = None,
        settings: TwilioSettings | None = None,
    ) -> None:
        super().__init__(settings or TwilioSettings(account_sid=account_sid,
                                                    auth_token=auth_token, base_url=base_url,
                                                    timeout=timeout))
        self.account_sid = account_sid
        self._auth = (account_sid, auth_token)
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = make_session(session)
        self.calls = CallCounter()
        self._messages_url = f"{self.base_url}/{API_VERSION}/Accounts/{account_sid}/Messages.json"

    @classmethod
    def from_settings(cls, settings: TwilioSettings) -> TwilioClient:
        return cls(settings.account_sid, settings.auth_token, base_url=settings.base_url,
                   timeout=settings.timeout, settings=settings)

    @classmethod
    def check_channel(cls, channel: Any) -> dict[str, str]:
        sid = getattr(channel, "messaging_service_sid", None)
        if sid and not _MESSAGING_SERVICE_SID.match(sid):
            return {"messaging_service_sid": "not a Messaging Service SID (MG…)"}
        return {}

    # ------------------------------------------------------------------ webhooks

    def verify(self, request: WebhookRequest) -> bool:
        if not request.header(SIGNATURE_HEADER):
            return False  # refused before the body is even read
        form = request.form()
        return verify_webhook(request.url, form, request.headers,
                              auth_token=self.settings.auth_token,
                              signing_secret=self.settings.webhook_signing_secret or None)

    def parse_inbound(self, request: WebhookRequest) -> InboundSms:
        fields = {name: values[0] for name, values in request.form().items()}
        missing = [name for name in ("MessageSid", "From", "To") if not _optional(fields, name)]
        if missing:
            raise WebhookRejected(400, f"missing field(s): {', '.join(missing)}")
        try:
            return parse_inbound(fields, normalize=False)
        except ValueError as exc:
            raise WebhookRejected(400, str(exc)) from None

    def parse_status(self, request: WebhookRequest) -> DeliveryReceipt:
        fields = {name: values[0] for name, values in request.form().items()}
        try:
            return parse_status(fields)
        except ValueError as exc:
            raise WebhookRejected(400, str(exc)) from None

    @property
    def answers_keywords(self) -> bool:
        # "connector": Twilio's default STOP/HELP handling is off on the account.
        return bool(self.settings.opt_out_handling != "connector")

    def key_material(self) -> str | None:
        return self.settings.auth_token or None

    def keyword_hint(self, fields: Mapping[str, Any]) -> str | None:
        value = fields.get("OptOutType")
        return _OPT_OUT_TYPES.get(str(value).strip().upper()) if value else None

    # ------------------------------------------------------------------ send

    def send(self, msg: OutboundSms) -> SendResult:
        """POST one message. With both a number and a Messaging Service, both are sent: the
        number must then belong to the service's pool, which keeps a conversation on one sender.
        https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
        """
        if not msg.from_number and not msg.messaging_service_id:
            raise ValueError("an outbound SMS needs from_number or messaging_service_id")
        form: list[tuple[str, str]] = [("To", msg.to_number)]
        if msg.from_number:
            form.append(("From", msg.from_number))
        if msg.messaging_service_id:
            form.append(("MessagingServiceSid", msg.messaging_service_id))
        if msg.body:
            form.append(("Body", msg.body))
        form.extend(("MediaUrl", url) for url in msg.media_urls)  # repeated, up to 10
        if msg.status_callback:
            form.append(("StatusCallback", msg.status_callback))
        data = self._json("send", "POST", self._messages_url, data=form)
        return _send_result(data)

    def find_sent(
        self, to: str, from_: str | None, since: datetime, body: str
    ) -> SendResult | None:
        """The earliest message to ``to`` (from ``from_``) created at or after ``since`` with
        exactly ``body``, or None: run before re-sending after an ambiguous failure.

        The list is "sorted by the DateSent field, most recent first", and a message still
        queued has no ``date_sent`` (a US long code queues anything beyond 1 segment / second,
        up to 10 h), so its place in the list says nothing about when it was created: every
        message on the first ``RECONCILE_PAGES`` pages is compared by ``date_created``, none is
        skipped for its position. No ``DateSent>=`` filter either: it is day-granular and would
        hide exactly the queued message being looked for.
        https://www.twilio.com/docs/messaging/api/message-resource#read-multiple-message-resources
        """
        since_utc = since.astimezone(UTC) if since.tzinfo else since.replace(tzinfo=UTC)
        params: dict[str, str | int] = {"To": to, "PageSize": RECONCILE_PAGE_SIZE}
        if from_:
            params["From"] = from_
        url: str | None = self._messages_url
        matches: list[tuple[datetime, Mapping[str, Any]]] = []
        for _ in range(RECONCILE_PAGES):
            if url is None:
                break
            data = self._json("find_sent", "GET", url, params=params)
            for message in data.get("messages") or []:
                created = _twilio_date(message.get("date_created"))
                if created is None or created < since_utc - timedelta(seconds=1):
                    continue
                if str(message.get("direction", "")).startswith("inbound"):
                    continue
                if message.get("body") == body:
                    matches.append((created, message))
            next_uri = data.get("next_page_uri")
            url = self.base_url + str(next_uri) if next_uri else None
            params = {}
        if not matches:
            return None
        return _send_result(min(matches, key=lambda match: match[0])[1])

    # ------------------------------------------------------------------ media

    def fetch_media(
        self, url: str, *, max_bytes: int, allowed_types: Sequence[str]
    ) -> tuple[bytes, str]:
        """Download one inbound MMS attachment; MediaUnavailable(reason) when it cannot be.

        A signed webhook can still name any URL, and the first request carries the account's
        Basic credentials; so the URL given is never fetched as such. It must be on the host of
        ``base_url`` (same scheme and port, no userinfo, nothing a parser could read two ways)
        and have exactly the shape of a Media resource of this account,
        ``/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{MediaSid}``
        (https://www.twilio.com/docs/messaging/api/media-resource), with no query; the request
        then goes to ``base_url`` + that path, rebuilt here. Twilio answers with a redirect to
        its storage, followed by ``download`` without credentials for a bounded number of hops.
        """
        path = self._media_path(url)
        return download(self.session, self.base_url + path, provider=PROVIDER,
                        base_url=self.base_url, auth=self._auth, max_bytes=max_bytes,
                        allowed_types=allowed_types, timeout=self.timeout,
                        on_request=lambda: self.calls.record("fetch_media"))

    def _media_path(self, url: str) -> str:
        """The Media resource path of ``url`` (after ``base_url``'s own path); MediaUnavailable
        for anything else."""
        base = urlsplit(self.base_url)
        if (not url.isascii() or any(c in url for c in "\\@") or _UNSAFE_CHARS.search(url)
                or not same_origin(url, self.base_url)):
            raise MediaUnavailable("media URL is not on the Twilio API host; not fetched",
                                   reason="foreign_host", url=url)
        split = urlsplit(url)
        try:
            same_host = (split.scheme.lower(), _netloc(split)) == (base.scheme.lower(),
                                                                   _netloc(base))
        except ValueError:  # a port that is no port
            same_host = False
        if not same_host:
            raise MediaUnavailable("media URL is not on the Twilio API host; not fetched",
                                   reason="foreign_host", url=url)
        prefix = base.path.rstrip("/")
        path = split.path[len(prefix):] if split.path.startswith(prefix + "/") else ""
        match = _MEDIA_PATH.fullmatch(path)
        if split.query or split.fragment or not match or match["account"] != self.account_sid:
            raise MediaUnavailable("media URL is not a Media resource of this Twilio account; "
                                   "not fetched", reason="foreign_host", url=url)
        return path

    # ------------------------------------------------------------------ plumbing

    def _json(self, name: str, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        self.calls.record(name)
        response = send(
            self.session,
            method,
            url,
            provider=PROVIDER,
            timeout=self.timeout,
            auth=self._auth,
            allow_redirects=False,
            **kwargs,
        )
        body = decode_body(response)
        if response.status_code >= 300:
            _raise(name, response, body)
        if not isinstance(body, dict):
            raise TransientError(f"twilio {name}: HTTP {response.status_code} without JSON")
        return body


def _raise(name: str, response: requests.Response, body: Any) -> None:
    """Twilio errors: ``{"code": 21610, "message": …, "more_info": …, "status": 400}``."""
    status = response.status_code
    code: int | None = None
    twilio_message = ""
    if isinstance(body, dict):
        try:
            code = int(body["code"]) if body.get("code") is not None else None
        except (TypeError, ValueError):
            code = None
        twilio_message = str(body.get("message") or "")
    label = f"twilio {name}: HTTP {status}" + (f" error {code}" if code else "")
    if status == 429:
        raise RateLimited(
            f"{label}: {twilio_message}".rstrip(": "),
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    if status >= 500:
        raise TransientError(
            f"{label}: {twilio_message}".rstrip(": "),
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    if status == 400 and code is not None:
        # 21xxx refusals are synchronous: nothing was sent. Most are final; the error table's
        # kind tells the send job which are worth retrying (21611). The message is for the note.
        raise SmsRejected(
            describe_error(code),
            provider=PROVIDER,
            status=status,
            code=code,
            response=body,
            opted_out=getattr(ERRORS.get(str(code)), "kind", None) == ERROR_OPT_OUT,
        )
    raise ExternalServiceError(
        f"{label}: {twilio_message}".rstrip(": "),
        provider=PROVIDER,
        status=status,
        code=code,
        response=body,
        retryable=False,
    )


def _send_result(message: Mapping[str, Any]) -> SendResult:
    return SendResult(
        provider_message_id=str(message["sid"]),
        status=str(message.get("status") or STATUS_UNKNOWN),
        raw=dict(message),
    )


def _netloc(split: SplitResult) -> str:
    """host:port, lower case, the scheme's default port written out."""
    port = split.port or {"https": 443, "http": 80}.get(split.scheme.lower())
    return f"{(split.hostname or '').lower()}:{port}"


def _twilio_date(value: Any) -> datetime | None:
    """Twilio's REST dates are RFC 2822: ``Thu, 30 Jul 2015 20:12:31 +0000``."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# ---------------------------------------------------------------------- webhooks


class _MultiDict(Protocol):
    def getlist(self, key: str) -> list[str]: ...

    def keys(self) -> Iterable[str]: ...


def _form_lists(form: Mapping[str, Any] | _MultiDict) -> dict[str, list[str]]:
    """Every value of every field: Werkzeug's MultiDict (``getlist``) or a plain mapping."""
    if hasattr(form, "getlist"):
        return {name: list(form.getlist(name)) for name in form.keys()}  # noqa: SIM118
    if not isinstance(form, Mapping):
        raise TypeError("form must be a mapping or a MultiDict")
    out: dict[str, list[str]] = {}
    for name, value in form.items():
        out[name] = [value] if isinstance(value, str) else [str(v) for v in value]
    return out


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def verify_webhook(
    url: str,
    form: Mapping[str, Any] | _MultiDict,
    headers: Mapping[str, str],
    *,
    auth_token: str,
    signing_secret: str | None,
) -> bool:
    """True when ``X-Twilio-Signature`` is Twilio's for the public ``url`` and this form.

    ``url`` is the configured public URL (scheme, host, port, path, query exactly as Twilio called
    it), never the proxied request URL; it is tried with and without the default port. Signed
    with HMAC-SHA1 and the auth token, unless ``X-Twilio-Webhooks-Signature-Settings`` names
    HMAC_SHA256: then the shared key of the Webhooks rule (``signing_secret``) signs the same
    string, as twilio-python 9.x's RequestValidator checks it.
    https://www.twilio.com/docs/usage/webhooks/webhooks-security
    """
    signature = _header(headers, SIGNATURE_HEADER)
    if not signature:
        return False
    settings = _signature_settings(_header(headers, SIGNATURE_SETTINGS_HEADER))
    algorithm = settings.get("algorithm", "HMAC_SHA1").strip().upper()
    params = _form_lists(form)
    if algorithm == "HMAC_SHA1":
        return _verify_signature(auth_token, url, params, signature, algorithm="sha1")
    if algorithm == "HMAC_SHA256":
        # No secret configured: refuse rather than guess (the auth token does not sign these).
        if not signing_secret:
            return False
        return _verify_signature(signing_secret, url, params, signature, algorithm="sha256")
    return False  # an algorithm this code does not know


def signature(key: str, url: str, params: Mapping[str, str | Iterable[str]] | None,
              *, algorithm: str = "sha1") -> str:
    """base64(HMAC(key, URL + each field's name and value, sorted by name and, for a repeated
    name, by value; duplicates count once)), as twilio-python's RequestValidator computes it.
    https://www.twilio.com/docs/usage/security#validating-requests"""
    parts = [url]
    for name in sorted(params or {}):
        raw = (params or {})[name]
        values = [raw] if isinstance(raw, str) else list(raw)
        parts.extend(name + value for value in sorted(set(values)))
    digest = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}[algorithm]
    return base64.b64encode(hmac.new(key.encode(), "".join(parts).encode(), digest).digest()
                            ).decode()


def url_variants(url: str) -> list[str]:
    """The URL as configured, plus the same with the default port added or removed.

    Twilio signs whatever URL it called, and some of its edges add ``:443`` to https URLs; the
    official validator accepts both forms.
    """
    split = urlsplit(url)
    default = {"https": 443, "http": 80}.get(split.scheme)
    host = split.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    userinfo = split.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    variants = [url]
    if split.port is None and default is not None:
        variants.append(urlunsplit(split._replace(netloc=f"{prefix}{host}:{default}")))
    elif split.port == default:
        variants.append(urlunsplit(split._replace(netloc=f"{prefix}{host}")))
    return variants


def _verify_signature(key: str, url: str, params: Mapping[str, str | Iterable[str]] | None,
                      given: str | None, *, algorithm: str = "sha1") -> bool:
    """True when ``given`` matches for ``url`` with or without its default port."""
    if not given or not key or not given.isascii():
        return False  # a non-ASCII header cannot be a signature (and compare_digest would raise)
    return any(hmac.compare_digest(signature(key, candidate, params, algorithm=algorithm), given)
               for candidate in url_variants(url))


def _signature_settings(header: str | None) -> dict[str, str]:
    """``key=abc,algorithm=HMAC_SHA256`` → ``{"key": "abc", "algorithm": "HMAC_SHA256"}``."""
    settings: dict[str, str] = {}
    for item in (header or "").split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            settings[name.strip().lower()] = value.strip()
    return settings


def _phone_or_raw(value: str, default_region: str | None) -> str:
    try:
        return normalize_phone(value, default_region)
    except ValueError:
        # Short codes and channel addresses ("whatsapp:+1…") are not E.164 but still name a
        # channel; keep them as sent so the message is routed or dead-lettered, never dropped.
        return value.strip()


def _optional(form: Mapping[str, str], name: str) -> str | None:
    value = form.get(name)
    return value.strip() if value and value.strip() else None


def parse_inbound(form: Mapping[str, str], *, default_region: str | None = None,
                  normalize: bool = True) -> InboundSms:
    """A Twilio inbound SMS / MMS webhook form as an :class:`InboundSms`.

    Raises ValueError when a required field is missing or malformed (the web layer answers 400).
    ``From`` must be a phone number (we reply to it); ``To`` may be a short code.
    https://www.twilio.com/docs/messaging/guides/webhook-request
    """
    sid = _optional(form, "MessageSid") or _optional(form, "SmsMessageSid")
    if not sid:
        raise ValueError("MessageSid is missing")
    raw_from, raw_to = _optional(form, "From"), _optional(form, "To")
    if not raw_from or not raw_to:
        raise ValueError("From and To are required")
    # The adapter's fixed path (SmsAdapter.inbound) normalizes and holds what it cannot read.
    from_number = normalize_phone(raw_from, default_region) if normalize else raw_from
    num_media = _int(form, "NumMedia") or 0
    if num_media < 0:
        raise ValueError("NumMedia is negative")
    media = []
    for index in range(min(num_media, MAX_MEDIA)):
        media_url = _optional(form, f"MediaUrl{index}")
        if media_url:
            media.append(Media(media_url, _optional(form, f"MediaContentType{index}")))
    opt_out = _optional(form, "OptOutType")
    return InboundSms(
        provider=PROVIDER,
        provider_message_id=sid,
        from_number=from_number,
        to_number=_phone_or_raw(raw_to, default_region) if normalize else raw_to,
        body=form.get("Body") or "",
        media=tuple(media),
        messaging_service_id=_optional(form, "MessagingServiceSid"),
        account_id=_optional(form, "AccountSid"),
        num_segments=_int(form, "NumSegments"),
        opt_out_type=opt_out.upper() if opt_out else None,
        raw={name: form[name] for name in form},
    )


def parse_status(form: Mapping[str, str]) -> DeliveryReceipt:
    """A Twilio status callback form as a :class:`DeliveryReceipt` (status lower-cased)."""
    sid = _optional(form, "MessageSid") or _optional(form, "SmsSid")
    status = _optional(form, "MessageStatus") or _optional(form, "SmsStatus")
    if not sid or not status:
        raise ValueError("MessageSid and MessageStatus are required")
    error_code = _optional(form, "ErrorCode")
    to, from_ = _optional(form, "To"), _optional(form, "From")
    return DeliveryReceipt(
        provider=PROVIDER,
        provider_message_id=sid,
        status=status.lower(),
        error_code=error_code if error_code and error_code != "0" else None,
        to_number=_phone_or_raw(to, None) if to else None,
        from_number=_phone_or_raw(from_, None) if from_ else None,
        raw={name: form[name] for name in form},
    )


def _int(form: Mapping[str, str], name: str) -> int | None:
    value = _optional(form, name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise ValueError(f"{name} is not a number: {value!r}") from exc

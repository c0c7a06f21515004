"""Twilio Programmable Messaging: send, reconcile, fetch MMS media, and read Twilio's webhooks.

Sending and media go through :class:`TwilioClient` (plain ``requests``; the official SDK stays a
test-only dependency that cross-checks the signature code). Webhook parsing and verification are
module functions because the web layer needs them without a client:
:func:`verify_webhook`, :func:`parse_inbound`, :func:`parse_status`.

Errors at the boundary: HTTP 400 with a Twilio code → SmsRejected (final; 21610 = opted out),
429 → RateLimited, 5xx / timeouts / resets → TransientError (the text may have gone: reconcile
with :meth:`TwilioClient.find_sent` before sending again).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import requests

from adapters.http import (
    CallCounter,
    decode_body,
    download,
    make_session,
    parse_retry_after,
    same_origin,
    send,
)
from connector import signatures
from connector.errors import (
    ExternalServiceError,
    MediaUnavailable,
    RateLimited,
    SmsRejected,
    TransientError,
)
from connector.model import (
    STATUS_ACCEPTED,
    STATUS_DELIVERED,
    STATUS_FAILED,
    STATUS_QUEUED,
    STATUS_READ,
    STATUS_SENDING,
    STATUS_SENT,
    STATUS_UNDELIVERED,
    STATUS_UNKNOWN,
    DeliveryReceipt,
    InboundSms,
    Media,
    OutboundSms,
    SendResult,
)
from connector.text.phones import normalize_phone

__all__ = [
    "TwilioClient",
    "describe_error",
    "parse_inbound",
    "parse_status",
    "status_rank",
    "verify_webhook",
]

PROVIDER = "twilio"
API_VERSION = "2010-04-01"
OPT_OUT_CODE = 21610
MAX_MEDIA = 10  # Twilio sends at most 10 media per MMS
# Messages newest first; a reconciliation looks back this many pages at most.
RECONCILE_PAGES = 3
RECONCILE_PAGE_SIZE = 50

SIGNATURE_HEADER = "X-Twilio-Signature"
SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"

# Plain-words meanings for the agent's note (https://www.twilio.com/docs/api/errors/<code>).
_ERRORS: dict[int, str] = {
    21211: "the phone number is not valid, so the text could not be sent",
    21408: "texting this country is not enabled on the account",
    21610: "the customer has unsubscribed (texted STOP); they must text START to receive texts",
    21614: "the number is not a mobile number and cannot receive texts",
    21617: "the message is longer than 1,600 characters",
    30003: "the customer's phone is unreachable (switched off or out of coverage)",
    30004: "the message was blocked (the customer or their carrier blocks texts from us)",
    30005: "the number is unknown to the carrier or no longer in service",
    30006: "the number is a landline or its carrier cannot receive texts",
    30007: "the carrier filtered the message as spam or unwanted content",
    30008: "the carrier reported an unknown delivery error",
    30034: "the sending number is not registered for US A2P 10DLC texting",
}

# Statuses only move forward (callbacks repeat and arrive out of order).
# https://www.twilio.com/docs/messaging/api/message-resource#message-status-values
_RANKS: dict[str, int] = {
    STATUS_UNKNOWN: 0,
    STATUS_ACCEPTED: 1,
    "scheduled": 1,
    STATUS_QUEUED: 2,
    STATUS_SENDING: 3,
    STATUS_SENT: 4,
    STATUS_DELIVERED: 5,
    STATUS_UNDELIVERED: 5,
    STATUS_FAILED: 5,
    "canceled": 5,
    STATUS_READ: 6,
}


def describe_error(code: int | str | None) -> str:
    """What a Twilio error code means, in words an agent can act on."""
    try:
        number = int(str(code).strip())
    except (TypeError, ValueError):
        return "the text could not be delivered (no error code given)"
    return _ERRORS.get(number, f"the text could not be delivered (Twilio error {number})")


def status_rank(status: str | None) -> int:
    """Order of delivery statuses: move a message's status only to a higher rank.

    queued < sending < sent < delivered / undelivered / failed (final, equal) < read.
    Unknown statuses rank 0 so they never overwrite a known one.
    """
    return _RANKS.get((status or "").strip().lower(), 0)


class TwilioClient:
    """Messages API of one Twilio account (any edge, region or sandbox via ``base_url``)."""

    provider = "twilio"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        base_url: str = "https://api.twilio.com",
        timeout: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        self.account_sid = account_sid
        self._auth = (account_sid, auth_token)
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = make_session(session)
        self.calls = CallCounter()
        self._messages_url = f"{self.base_url}/{API_VERSION}/Accounts/{account_sid}/Messages.json"

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

        No ``DateSent>=`` filter on purpose: it is day-granular, and a message still queued has
        no ``date_sent`` yet (a US long code queues anything beyond 1 segment / second, up to
        10 h), so it would hide exactly the message being looked for. The list is newest first;
        ``date_created`` is compared here and paging stops once a page reaches before ``since``.
        https://www.twilio.com/docs/messaging/api/message-resource#read-multiple-message-resources
        """
        since_utc = since.astimezone(UTC) if since.tzinfo else since.replace(tzinfo=UTC)
        params: dict[str, str | int] = {"To": to, "PageSize": RECONCILE_PAGE_SIZE}
        if from_:
            params["From"] = from_
        url: str | None = self._messages_url
        found: SendResult | None = None
        for _ in range(RECONCILE_PAGES):
            if url is None:
                break
            data = self._json("find_sent", "GET", url, params=params)
            oldest_on_page: datetime | None = None
            for message in data.get("messages") or []:
                created = _twilio_date(message.get("date_created"))
                if created is not None:
                    oldest_on_page = created
                if created is None or created < since_utc - timedelta(seconds=1):
                    continue
                if str(message.get("direction", "")).startswith("inbound"):
                    continue
                if message.get("body") == body:
                    found = _send_result(message)  # newest first: the last match is earliest
            if oldest_on_page is not None and oldest_on_page < since_utc:
                break
            next_uri = data.get("next_page_uri")
            url = self.base_url + str(next_uri) if next_uri else None
            params = {}
        return found

    # ------------------------------------------------------------------ media

    def fetch_media(
        self, url: str, *, max_bytes: int, allowed_types: Sequence[str]
    ) -> tuple[bytes, str]:
        """Download one inbound MMS attachment; MediaUnavailable(reason) when it cannot be.

        Only URLs on the host of ``base_url`` are fetched (a signed webhook could still name any
        URL, and the credentials must never leave Twilio). The first request carries Basic auth;
        Twilio answers with a redirect to its storage, which is followed here by hand, without
        credentials, for a bounded number of hops (``requests`` strips auth on a cross-host
        redirect, but silently and only then).
        """
        if not same_origin(url, self.base_url):
            raise MediaUnavailable(
                "media URL is not on the Twilio API host; not fetched",
                reason="foreign_host",
                url=url,
            )
        return download(self.session, url, provider=PROVIDER, base_url=self.base_url,
                        auth=self._auth, max_bytes=max_bytes, allowed_types=allowed_types,
                        timeout=self.timeout, on_request=lambda: self.calls.record("fetch_media"))

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
        # 21xxx refusals are synchronous and final; the message is for the agent's note.
        raise SmsRejected(
            describe_error(code),
            provider=PROVIDER,
            status=status,
            code=code,
            response=body,
            opted_out=code == OPT_OUT_CODE,
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
    settings = signatures.parse_twilio_signature_settings(
        _header(headers, SIGNATURE_SETTINGS_HEADER)
    )
    algorithm = settings.get("algorithm", "HMAC_SHA1").strip().upper()
    params = _form_lists(form)
    if algorithm == "HMAC_SHA1":
        return signatures.verify_twilio(auth_token, url, params, signature, algorithm="sha1")
    if algorithm == "HMAC_SHA256":
        # No secret configured: refuse rather than guess (the auth token does not sign these).
        if not signing_secret:
            return False
        return signatures.verify_twilio(signing_secret, url, params, signature, algorithm="sha256")
    return False  # an algorithm this code does not know


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


def parse_inbound(form: Mapping[str, str], *, default_region: str | None = None) -> InboundSms:
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
    from_number = normalize_phone(raw_from, default_region)
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
        to_number=_phone_or_raw(raw_to, default_region),
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

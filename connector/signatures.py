"""Webhook signature schemes, each exactly as its sender computes it.

Small on purpose: every scheme is one function that builds the signature and one that checks it in
constant time. Tests cross-check them against the providers' official SDKs.

- Twilio: https://www.twilio.com/docs/usage/security#validating-requests —
  base64(HMAC-SHA1(auth_token, URL + sorted(name + value for every POST field))). The newer
  Webhooks-rule scheme signs the same string with a shared key and HMAC-SHA256
  (``X-Twilio-Webhooks-Signature-Settings: key=…,algorithm=HMAC_SHA256``).
- Zendesk: https://developer.zendesk.com/documentation/webhooks/verifying/ —
  base64(HMAC-SHA256(signing_secret, TIMESTAMP + RAW_BODY)), no separator.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

_TWILIO_DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}


def _twilio_string(url: str, params: Mapping[str, str | Iterable[str]] | None) -> str:
    # Twilio sorts by name and, for a repeated name, by value; duplicates count once
    # (twilio-python RequestValidator.compute_signature).
    parts = [url]
    for name in sorted(params or {}):
        raw = (params or {})[name]
        values = [raw] if isinstance(raw, str) else list(raw)
        for value in sorted(set(values)):
            parts.append(name + value)
    return "".join(parts)


def twilio_signature(
    key: str, url: str, params: Mapping[str, str | Iterable[str]] | None, *, algorithm: str = "sha1"
) -> str:
    """The ``X-Twilio-Signature`` Twilio sends for a form POST to ``url``."""
    digest = _TWILIO_DIGESTS[algorithm]
    mac = hmac.new(key.encode(), _twilio_string(url, params).encode(), digest)
    return base64.b64encode(mac.digest()).decode()


def twilio_url_variants(url: str) -> list[str]:
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


def verify_twilio(
    key: str,
    url: str,
    params: Mapping[str, str | Iterable[str]] | None,
    signature: str | None,
    *,
    algorithm: str = "sha1",
) -> bool:
    """True when ``signature`` matches for ``url`` with or without its default port."""
    if not signature or not key:
        return False
    return any(
        hmac.compare_digest(
            twilio_signature(key, candidate, params, algorithm=algorithm), signature
        )
        for candidate in twilio_url_variants(url)
    )


def parse_twilio_signature_settings(header: str | None) -> dict[str, str]:
    """``key=abc,algorithm=HMAC_SHA256`` → ``{"key": "abc", "algorithm": "HMAC_SHA256"}``."""
    settings: dict[str, str] = {}
    for item in (header or "").split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            settings[name.strip().lower()] = value.strip()
    return settings


def zendesk_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``X-Zendesk-Webhook-Signature`` for ``body`` sent at ``timestamp`` (the header's text)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def zendesk_timestamp(now: datetime | None = None) -> str:
    """Zendesk's timestamp header format: ISO 8601 in UTC, whole seconds, ``Z``."""
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_zendesk_timestamp(value: str) -> datetime | None:
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
    sent = parse_zendesk_timestamp(timestamp)
    if sent is None:
        return False
    now = now or datetime.now(UTC)
    if abs(now - sent) > tolerance:
        return False
    return hmac.compare_digest(zendesk_signature(secret, timestamp, body), signature)

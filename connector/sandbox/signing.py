"""How the real services sign what they send, written from their documentation for the
stand-ins (never imported from the adapters, which verify: a stand-in that shared the adapter's
code would only repeat its beliefs). Tests cross-check both sides against the official SDKs.

- Twilio (https://www.twilio.com/docs/usage/security#validating-requests): base64 of
  HMAC-SHA1(auth token, the full URL called + every POST field's name and value, sorted by name);
  a Webhooks rule signs the same string with its shared key and HMAC-SHA256.
- Zendesk (https://developer.zendesk.com/documentation/webhooks/verifying/): base64 of
  HMAC-SHA256(signing secret, the timestamp header's text + the raw body).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

__all__ = ["twilio_signature", "zendesk_signature", "zendesk_timestamp"]


def twilio_signature(key: str, url: str, params: Mapping[str, str | Iterable[str]] | None,
                     *, algorithm: str = "sha1") -> str:
    """The ``X-Twilio-Signature`` Twilio sends for a form POST to ``url``."""
    data = url
    for name in sorted(params or {}):
        raw = (params or {})[name]
        for value in sorted(set([raw] if isinstance(raw, str) else list(raw))):
            data += name + value
    digest = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}[algorithm]
    return base64.b64encode(hmac.new(key.encode(), data.encode(), digest).digest()).decode()


def zendesk_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``X-Zendesk-Webhook-Signature`` for ``body`` sent at ``timestamp`` (the header's text)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def zendesk_timestamp(now: datetime | None = None) -> str:
    """Zendesk's timestamp header: ISO 8601 in UTC, whole seconds, ``Z``."""
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

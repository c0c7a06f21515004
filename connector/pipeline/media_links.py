"""Signed, expiring links to the connector's copy of an outbound MMS attachment.

A provider fetches an outbound attachment's URL without credentials (adapters/sms/, and
../shared/docs/reference/sms.md), so the URL itself is the credential:
``<public_url>/media/<blob>.<expires>.<HMAC>``. The agent-reply job makes them
(pipeline/agent_reply.py); ``GET /media/<token>`` (connector/web/media.py) checks them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import TYPE_CHECKING

from connector.errors import ConfigurationError

if TYPE_CHECKING:
    from connector.runtime import Runtime

MEDIA_PATH = "/media/"


def media_key(runtime: Runtime) -> bytes:
    """``server.media_signing_key``, else a key derived from an SMS provider's account secret
    (``SmsProvider.key_material``), the channels' providers first."""
    settings = runtime.settings
    if settings.server.media_signing_key:
        return settings.server.media_signing_key.encode()
    for provider in runtime.sms_names:
        material = runtime.sms(provider).key_material()
        if material:
            return hmac.new(material.encode(), b"sms-connector media url",
                            hashlib.sha256).digest()
    raise ConfigurationError("server.media_signing_key: missing (or set the SMS provider's "
                             "account secret)",
                             errors={"server.media_signing_key": "missing"})


def _mac(key: bytes, message: str) -> str:
    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")


def media_token(key: bytes, blob_key: str, expires: int) -> str:
    return f"{blob_key}.{expires}.{_mac(key, f'{blob_key}.{expires}')}"


def check_media_token(key: bytes, token: str, *, now: float | None = None) -> tuple[str, str]:
    """``("ok", blob_key)``, ``("forged", "")``, ``("expired", "")`` or ``("malformed", "")``."""
    if not token.isascii():  # compare_digest would raise on it: never a token of ours
        return "malformed", ""
    parts = token.split(".")
    if len(parts) != 3 or not parts[1].isdigit() or not parts[0].isalnum():
        return "malformed", ""
    blob_key, expires, mac = parts
    if not hmac.compare_digest(_mac(key, f"{blob_key}.{expires}"), mac):
        return "forged", ""
    if int(expires) < (time.time() if now is None else now):
        return "expired", ""
    return "ok", blob_key

"""Logs as JSON lines, phone numbers masked, secrets never written.

Phone numbers are personal data: every E.164-looking run in a message or field, written plain or
with spaces, dots, dashes and parentheses, is masked to ``+1202***0142`` (country + area prefix and
the last four digits stay, enough to tell customers apart in an incident without exposing them).
Media tokens in ``/media/<token>`` paths and URLs are cut to a short prefix.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

from connector.text.phones import mask_phone

# E.164 as written by people too: "+1 202 555 0142", "+44 (20) 7946-0958", "+1.202.555.0142"
# (8 to 15 digits after the "+", each followed by at most two separators), and the North American
# "(202) 555-0142" without a country code. Bounded repetitions keep the scan linear.
_PHONE = re.compile(r"\+(?:\d[ .\-()]{0,2}){7,14}\d(?!\d)"
                    r"|(?<![\d+])\(\d{3}\)[ .\-]?\d{3}[ .\-]\d{4}(?!\d)")
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
# GET /media/<token>: the token is a bearer credential while it lasts; the log keeps a prefix,
# enough to match a request with the URL that was sent.
_MEDIA_TOKEN = re.compile(r"(/media/)([^/?#\s]{8})[^/?#\s]+")


def mask_phones(text: str) -> str:
    return _PHONE.sub(_mask_match, text)


def scrub(text: str) -> str:
    """What the log may hold of ``text``: phone numbers masked, media tokens cut."""
    return mask_phones(mask_media_tokens(text))


def _mask_match(match: re.Match[str]) -> str:
    written = match.group(0)
    digits = re.sub(r"\D", "", written)
    return mask_phone(("+" if written.startswith("+") else "+1") + digits)


def mask_media_tokens(path: str) -> str:
    """``/media/AbCdEfGh…rest`` → ``/media/AbCdEfGh…``: the token cut to its first 8 characters."""
    return _MEDIA_TOKEN.sub(lambda m: f"{m.group(1)}{m.group(2)}…", path)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                payload[key] = scrub(value) if isinstance(value, str) else value
        if record.exc_info:
            payload["exc"] = scrub(self.formatException(record.exc_info))
        return json.dumps(payload, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO", stream: Any = None) -> None:
    """Send the connector's logs (and werkzeug's / gunicorn's) as JSON lines to stderr."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_sms_connector", False):
            root.removeHandler(existing)
    handler._sms_connector = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # we log requests ourselves

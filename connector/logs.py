"""Logs as JSON lines, phone numbers masked, secrets never written.

Phone numbers are personal data: every E.164-looking run in a message or field is masked to
``+1202***0142`` (country + area prefix and the last four digits stay, enough to tell customers
apart in an incident without exposing them).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

from connector.text.phones import mask_phone

_PHONE = re.compile(r"\+\d{8,15}")
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def mask_phones(text: str) -> str:
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": mask_phones(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                payload[key] = mask_phones(value) if isinstance(value, str) else value
        if record.exc_info:
            payload["exc"] = mask_phones(self.formatException(record.exc_info))
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

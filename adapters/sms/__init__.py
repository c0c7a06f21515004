"""The SMS providers the connector can use: one explicit registry (no scanning, no plugins).

A ``[[channels]]`` entry's ``provider`` names one of these; its webhooks arrive at
``/webhooks/sms/<name>`` and ``/webhooks/sms/<name>/status`` and its settings in ``[<name>]``.
Adding a provider is one module beside this file and one line here (ADDING_PROVIDERS.md).
"""

from __future__ import annotations

from adapters.sms.base import SmsAdapter
from adapters.sms.twilio import TwilioClient

PROVIDERS: dict[str, type[SmsAdapter]] = {
    "twilio": TwilioClient,
}

__all__ = ["PROVIDERS", "SmsAdapter"]

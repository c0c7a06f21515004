"""Twilio keeps the SMS provider contract, against the sandbox's Twilio stand-in."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlencode

import requests

from adapters.sms.twilio import SIGNATURE_HEADER, TwilioClient, TwilioSettings
from connector.sandbox import twilio as twilio_sandbox
from connector.sandbox.runner import Sandbox, start_sandbox
from connector.sandbox.signing import twilio_signature
from connector.webhooks import FORM_TYPE, WebhookRequest
from tests.contracts.sms import SmsProviderContract

TOKEN = twilio_sandbox.DEFAULT_AUTH_TOKEN
PNG = b"\x89PNG\r\n\x1a\n twilio contract"


def _signed(url: str, form: dict[str, str]) -> WebhookRequest:
    return WebhookRequest(url=url, headers={SIGNATURE_HEADER: twilio_signature(TOKEN, url, form)},
                          raw_body=urlencode(form).encode(), content_type=FORM_TYPE)


class TestTwilioContract(SmsProviderContract):
    name = "twilio"
    signature_header = SIGNATURE_HEADER
    signs_url = True

    def start(self) -> Sandbox:
        return start_sandbox(zendesk_port=0, twilio_port=0)

    def stop(self, world: Sandbox) -> None:
        world.stop()

    def adapter(self, world: Sandbox) -> TwilioClient:
        return TwilioClient.from_settings(TwilioSettings(
            account_sid=twilio_sandbox.DEFAULT_ACCOUNT_SID, auth_token=TOKEN,
            base_url=world.twilio_url))

    def support_number(self, world: Sandbox) -> str:
        return twilio_sandbox.DEFAULT_PHONE_NUMBER

    def inbound(self, world: Sandbox, *, url: str, from_: str, to: str, body: str,
                message_id: str) -> WebhookRequest:
        # The fields Twilio posts for an incoming message
        # (https://www.twilio.com/docs/messaging/guides/webhook-request).
        return _signed(url, {"MessageSid": message_id, "SmsSid": message_id,
                             "AccountSid": twilio_sandbox.DEFAULT_ACCOUNT_SID, "From": from_,
                             "To": to, "Body": body, "NumMedia": "0", "NumSegments": "1"})

    def inbound_without_sender(self, world: Sandbox, *, url: str, to: str) -> WebhookRequest:
        return _signed(url, {"MessageSid": "SMx", "To": to, "Body": "hi"})

    def status(self, world: Sandbox, *, url: str, message_id: str, status: str,
               error_code: str | None = None) -> WebhookRequest:
        form = {"MessageSid": message_id, "MessageStatus": status,
                "To": "+12025550142", "From": self.support_number(world)}
        if error_code:
            form["ErrorCode"] = error_code
        return _signed(url, form)

    def media_url(self, world: Sandbox) -> tuple[str, bytes]:
        # An MMS handed to the stand-in without a connector to call: it answers with the
        # MediaUrl0 it would have posted.
        answer: dict[str, Any] = requests.post(world.twilio_url + "/_sandbox/inbound", json={
            "from": "+12025550142", "body": "photo",
            "media": [{"content_type": "image/png",
                       "data_base64": base64.b64encode(PNG).decode()}]}, timeout=10).json()
        return answer["params"]["MediaUrl0"], PNG

    def invalid_number(self, world: Sandbox) -> str:
        return "+15005550001"  # Twilio's test number for "invalid To" (21211)

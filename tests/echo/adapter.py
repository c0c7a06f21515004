"""The Echo SMS adapter: constants plus a few methods on top of adapters.sms.base.SmsAdapter."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

import requests
from marshmallow import fields as mf

from adapters.http import download, parse_retry_after, same_origin, send
from adapters.sms.base import ERROR_OPT_OUT, ErrorInfo, SmsAdapter
from connector.config_fields import Section, url_field
from connector.errors import (
    ExternalServiceError,
    MediaUnavailable,
    RateLimited,
    SmsRejected,
    TransientError,
    WebhookRejected,
)
from connector.model import DeliveryReceipt, InboundSms, Media, OutboundSms, SendResult
from connector.webhooks import WebhookAnswer, WebhookRequest

TOLERANCE = 300.0


@dataclass(frozen=True)
class EchoSettings:
    base_url: str = "https://api.echo.invalid"
    api_key: str = ""
    signing_secret: str = ""
    timeout: float = 10.0


class EchoSchema(Section):
    settings_class = EchoSettings
    base_url = url_field()
    api_key = mf.String()
    signing_secret = mf.String()
    timeout = mf.Float()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class EchoAdapter(SmsAdapter):
    name = "echo"
    settings_schema = EchoSchema
    secret_keys = frozenset({"api_key", "signing_secret"})
    required_for_api = ("api_key",)
    errors = MappingProxyType({
        "E101": ErrorInfo("the number is not valid"),
        "E102": ErrorInfo("the customer unsubscribed from texts", ERROR_OPT_OUT),
        "E301": ErrorInfo("the customer's phone is unreachable"),
    })
    inbound_answer = WebhookAnswer('{"ok": true}', "application/json")
    status_answer = WebhookAnswer('{"ok": true}', "application/json")

    def __init__(self, settings: EchoSettings) -> None:
        super().__init__(settings)
        self.session = requests.Session()
        self.base_url = settings.base_url.rstrip("/")

    # -- webhooks -----------------------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> bool:
        given, stamp = request.header("X-Echo-Signature"), request.header("X-Echo-Timestamp")
        if not given or not stamp or not self.settings.signing_secret:
            return False
        try:
            if abs(time.time() - float(stamp)) > TOLERANCE:
                return False
        except ValueError:
            return False
        if not given.isascii():
            return False
        return hmac.compare_digest(sign(self.settings.signing_secret, stamp, request.body), given)

    def _json(self, request: WebhookRequest) -> dict[str, Any]:
        try:
            data = json.loads(request.body)
        except ValueError:
            raise WebhookRejected(400, "body is not JSON") from None
        if not isinstance(data, dict):
            raise WebhookRejected(400, "body is not a JSON object")
        return data

    def parse_inbound(self, request: WebhookRequest) -> InboundSms:
        data = self._json(request)
        missing = [k for k in ("id", "from", "to") if not isinstance(data.get(k), str)]
        if missing:
            raise WebhookRejected(400, f"missing field(s): {', '.join(missing)}")
        media = tuple(Media(str(m.get("url")), m.get("type")) for m in data.get("media") or ()
                      if isinstance(m, dict) and m.get("url"))
        return InboundSms(provider=self.name, provider_message_id=data["id"],
                          from_number=data["from"], to_number=data["to"],
                          body=str(data.get("text") or ""), media=media, raw=data)

    def parse_status(self, request: WebhookRequest) -> DeliveryReceipt:
        data = self._json(request)
        if not isinstance(data.get("id"), str) or not isinstance(data.get("status"), str):
            raise WebhookRejected(400, "id and status are required")
        return DeliveryReceipt(provider=self.name, provider_message_id=data["id"],
                               status=data["status"], error_code=data.get("error_code"),
                               to_number=data.get("to"), raw=data)

    # -- the API ------------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = send(self.session, method, self.base_url + path, provider=self.name,
                        timeout=self.settings.timeout, allow_redirects=False,
                        headers={"Authorization": f"Bearer {self.settings.api_key}"}, **kwargs)
        if response.status_code == 429:
            raise RateLimited("echo: 429",
                              retry_after=parse_retry_after(response.headers.get("Retry-After")))
        if response.status_code >= 500:
            raise TransientError(f"echo: HTTP {response.status_code}")
        body = response.json() if response.content else {}
        if response.status_code == 400 and isinstance(body.get("error"), dict):
            code = str(body["error"].get("code"))
            raise SmsRejected(self.describe_error(code), provider=self.name, status=400,
                              code=code, response=body,
                              opted_out=self.error_kind(code) == ERROR_OPT_OUT)
        if response.status_code >= 300:
            raise ExternalServiceError(f"echo: HTTP {response.status_code}",
                                       provider=self.name, status=response.status_code)
        return body

    def send(self, msg: OutboundSms) -> SendResult:
        data = self._call("POST", "/v1/messages", json={
            "to": msg.to_number, "from": msg.from_number, "text": msg.body,
            "media": list(msg.media_urls), "callback_url": msg.status_callback})
        return SendResult(str(data["id"]), str(data.get("status") or "accepted"), data)

    def find_sent(self, to: str, from_: str | None, since: datetime,
                  body: str) -> SendResult | None:
        data = self._call("GET", "/v1/messages", params={"to": to, "from": from_ or ""})
        found = None
        for message in data.get("messages") or []:
            if message.get("text") == body and float(message.get("created", 0)) >= \
                    since.timestamp() - 1:
                found = SendResult(str(message["id"]), str(message.get("status")), message)
        return found

    def fetch_media(self, url: str, *, max_bytes: int,
                    allowed_types: Sequence[str]) -> tuple[bytes, str]:
        if not same_origin(url, self.base_url):
            raise MediaUnavailable("media URL is not on the Echo API host", reason="foreign_host",
                                   url=url)
        return download(self.session, url, provider=self.name, base_url=self.base_url,
                        auth=None, max_bytes=max_bytes, allowed_types=allowed_types,
                        timeout=self.settings.timeout)

    @property
    def answers_keywords(self) -> bool:
        return False

    def key_material(self) -> str | None:
        return self.settings.signing_secret or None

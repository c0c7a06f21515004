"""Echo, the throw-away provider of the test package, keeps the same contract: a new provider is
an adapter, a registry line, this subclass and a stand-in (ADDING_PROVIDERS.md)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from connector.sandbox.common import SandboxServer
from connector.webhooks import WebhookRequest
from tests.contracts.sms import SmsProviderContract
from tests.echo import register, standin, unregister
from tests.echo.adapter import EchoAdapter, EchoSettings, sign


@pytest.fixture(autouse=True)
def echo_registered() -> Iterator[None]:
    register()
    yield
    unregister()


def _signed(url: str, payload: dict[str, Any]) -> WebhookRequest:
    body = json.dumps(payload).encode()
    stamp = str(int(time.time()))
    return WebhookRequest(url=url, headers={
        "X-Echo-Timestamp": stamp,
        "X-Echo-Signature": sign(standin.SIGNING_SECRET, stamp, body)},
        raw_body=body, content_type="application/json")


class TestEchoContract(SmsProviderContract):
    name = "echo"
    signature_header = "X-Echo-Signature"

    def start(self) -> SandboxServer:
        return standin.start()

    def stop(self, world: SandboxServer) -> None:
        world.stop()

    def adapter(self, world: SandboxServer) -> EchoAdapter:
        return EchoAdapter(EchoSettings(base_url=world.url, api_key=standin.API_KEY,
                                        signing_secret=standin.SIGNING_SECRET))

    def support_number(self, world: SandboxServer) -> str:
        return standin.SUPPORT_NUMBER

    def inbound(self, world: SandboxServer, *, url: str, from_: str, to: str, body: str,
                message_id: str) -> WebhookRequest:
        return _signed(url, {"id": message_id, "from": from_, "to": to, "text": body})

    def inbound_without_sender(self, world: SandboxServer, *, url: str,
                               to: str) -> WebhookRequest:
        return _signed(url, {"id": "EIx", "to": to, "text": "hi"})

    def status(self, world: SandboxServer, *, url: str, message_id: str, status: str,
               error_code: str | None = None) -> WebhookRequest:
        return _signed(url, {"id": message_id, "status": status, "error_code": error_code})

    def media_url(self, world: SandboxServer) -> tuple[str, bytes]:
        return world.url + "/v1/media/ME1", standin.MEDIA

    def invalid_number(self, world: SandboxServer) -> str:
        return "+12025550001"


def test_stale_timestamp_is_refused(echo_registered: None) -> None:
    adapter = EchoAdapter(EchoSettings(signing_secret=standin.SIGNING_SECRET))
    body = b'{"id": "EI1", "from": "+12025550142", "to": "+12025550100", "text": "hi"}'
    stamp = str(int(time.time()) - 3600)
    request = WebhookRequest(url="https://x/webhooks/sms/echo", headers={
        "X-Echo-Timestamp": stamp, "X-Echo-Signature": sign(standin.SIGNING_SECRET, stamp, body)},
        raw_body=body, content_type="application/json")
    assert not adapter.verify(request)

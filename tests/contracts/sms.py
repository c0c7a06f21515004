"""The contract every SMS provider adapter keeps, run against the provider's stand-in.

A provider's test module subclasses :class:`SmsProviderContract` (model: anymail's
``tests/webhook_cases.py`` and huey's ``tests/test_storage.py``) and implements the hooks: start
its stand-in, build a genuine (signed) inbound delivery and status callback the way the provider
sends them, name a media URL the stand-in serves, a number it refuses. Every test below then runs
against that provider: webhooks verified before anything is trusted (403 for missing, wrong,
tampered or non-ASCII signatures), fields read into the core's events with E.164 numbers, a
genuine sender that is no phone number held rather than refused, statuses ranked forward only,
sending and reconciling a send, refusals final with words for the agent, media fetched only from
the provider's own host.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.sms import PROVIDERS
from adapters.sms.base import ERROR_FINAL, ERROR_OPT_OUT, ERROR_RETRYABLE
from connector.errors import MediaUnavailable, SmsRejected, UnreadableInbound, WebhookRejected
from connector.model import OutboundSms
from connector.ports import SmsProvider
from connector.webhooks import WebhookRequest
from tests.contracts import StandInSuite

CUSTOMER = "+12025550142"
URL = "https://connector.example.com"


class SmsProviderContract(StandInSuite):
    """Subclass as ``Test<Provider>Contract`` and implement the hooks below."""

    name: str = ""
    # The header carrying the signature (tests tamper with it).
    signature_header: str = ""
    # Whether the provider signs the URL it called (Twilio) or only the body.
    signs_url: bool = False

    # -- hooks --------------------------------------------------------------------------------

    def adapter(self, world: Any) -> SmsProvider:
        """The adapter, configured for the stand-in (credentials, base URL)."""
        raise NotImplementedError

    def support_number(self, world: Any) -> str:
        raise NotImplementedError

    def inbound(self, world: Any, *, url: str, from_: str, to: str, body: str,
                message_id: str) -> WebhookRequest:
        """A genuine inbound delivery as the provider signs it, to ``url``."""
        raise NotImplementedError

    def inbound_without_sender(self, world: Any, *, url: str, to: str) -> WebhookRequest:
        """A genuine (signed) inbound delivery that lacks the sender field."""
        raise NotImplementedError

    def status(self, world: Any, *, url: str, message_id: str, status: str,
               error_code: str | None = None) -> WebhookRequest:
        """A genuine status callback in the provider's own words for ``status``."""
        raise NotImplementedError

    def media_url(self, world: Any) -> tuple[str, bytes]:
        """A media URL the stand-in serves (as an inbound MMS would name it) and its bytes."""
        raise NotImplementedError

    def invalid_number(self, world: Any) -> str:
        """A number the stand-in refuses at once as invalid."""
        raise NotImplementedError

    # -- the suite ----------------------------------------------------------------------------

    def _inbound(self, world: Any, **kw: Any) -> WebhookRequest:
        args = {"url": URL + f"/webhooks/sms/{self.name}", "from_": CUSTOMER,
                "to": self.support_number(world), "body": "my order #4411 never came 🙁",
                "message_id": "contract-1", **kw}
        return self.inbound(world, **args)

    @staticmethod
    def _with_header(request: WebhookRequest, name: str, value: str | None) -> WebhookRequest:
        headers = {k: v for k, v in request.headers.items() if k.lower() != name.lower()}
        if value is not None:
            headers[name] = value
        return request.replace(headers=headers)

    def test_registered_under_its_name_as_the_port(self, world: Any) -> None:
        adapter = self.adapter(world)
        assert PROVIDERS[self.name] is type(adapter)
        assert isinstance(adapter, SmsProvider) and adapter.name == self.name
        assert adapter.status_path == f"/webhooks/sms/{self.name}/status"

    def test_genuine_text_is_read_with_e164_numbers(self, world: Any) -> None:
        sms = self.adapter(world).inbound(self._inbound(world, message_id="contract-2"))
        assert sms.provider == self.name and sms.provider_message_id == "contract-2"
        assert sms.from_number == CUSTOMER and sms.to_number == self.support_number(world)
        assert sms.body == "my order #4411 never came 🙁"

    @pytest.mark.parametrize("value", [None, "", "bm90IGl0", "ünïcödé-signature", "x" * 5000])
    def test_missing_wrong_or_non_ascii_signature_is_403(self, world: Any,
                                                        value: str | None) -> None:
        request = self._with_header(self._inbound(world), self.signature_header, value)
        with pytest.raises(WebhookRejected) as info:
            self.adapter(world).inbound(request)
        assert info.value.status == 403

    def test_tampered_body_or_another_url_is_403(self, world: Any) -> None:
        genuine = self._inbound(world)
        tampered = genuine.replace(raw_body=genuine.body.replace(b"4411", b"4412"))
        assert tampered.body != genuine.body
        elsewhere = genuine.replace(url=genuine.url + "-other")
        adapter = self.adapter(world)
        with pytest.raises(WebhookRejected) as info:
            adapter.inbound(tampered)
        assert info.value.status == 403
        if self.signs_url:
            with pytest.raises(WebhookRejected):
                adapter.inbound(elsewhere)

    def test_signed_but_unusable_is_400(self, world: Any) -> None:
        request = self.inbound_without_sender(world, url=URL + f"/webhooks/sms/{self.name}",
                                              to=self.support_number(world))
        with pytest.raises(WebhookRejected) as info:
            self.adapter(world).inbound(request)
        assert info.value.status == 400

    def test_genuine_sender_that_is_no_phone_number_is_held_not_refused(self, world: Any) -> None:
        with pytest.raises(UnreadableInbound) as info:
            self.adapter(world).inbound(self._inbound(world, from_="not-a-phone"))
        held = info.value.message
        assert held.provider == self.name and held.body == "my order #4411 never came 🙁"
        assert held.provider_message_id == "contract-1"

    def test_status_is_read_and_ranked_forward_only(self, world: Any) -> None:
        adapter = self.adapter(world)
        url = URL + f"/webhooks/sms/{self.name}/status"
        delivered = adapter.status(self.status(world, url=url, message_id="m1",
                                               status="delivered"))
        sent = adapter.status(self.status(world, url=url, message_id="m1", status="sent"))
        failed = adapter.status(self.status(world, url=url, message_id="m1", status="failed",
                                            error_code=self.some_error_code()))
        assert delivered.provider_message_id == "m1" and delivered.status == "delivered"
        assert adapter.status_rank(sent.status) < adapter.status_rank(delivered.status)
        assert adapter.status_rank(failed.status) == adapter.status_rank(delivered.status)
        assert failed.error_code == self.some_error_code()
        assert adapter.status_rank("a-status-nobody-knows") == 0
        assert adapter.status_rank(None) == 0

    def test_forged_status_is_403(self, world: Any) -> None:
        url = URL + f"/webhooks/sms/{self.name}/status"
        request = self._with_header(self.status(world, url=url, message_id="m1",
                                                status="delivered"),
                                    self.signature_header, "forged")
        with pytest.raises(WebhookRejected) as info:
            self.adapter(world).status(request)
        assert info.value.status == 403

    def some_error_code(self) -> str:
        adapter_cls = PROVIDERS[self.name]
        return sorted(adapter_cls.errors)[0]

    def test_send_then_reconcile_finds_it_once(self, world: Any) -> None:
        adapter = self.adapter(world)
        since = datetime.now(UTC) - timedelta(seconds=5)
        result = adapter.send(OutboundSms(to_number=CUSTOMER, body="Your refund is on its way.",
                                          from_number=self.support_number(world)))
        assert result.provider_message_id
        found = adapter.find_sent(CUSTOMER, self.support_number(world), since,
                                  "Your refund is on its way.")
        assert found is not None and found.provider_message_id == result.provider_message_id
        assert adapter.find_sent(CUSTOMER, self.support_number(world), since, "other") is None

    def test_invalid_number_is_refused_for_good_in_plain_words(self, world: Any) -> None:
        adapter = self.adapter(world)
        with pytest.raises(SmsRejected) as info:
            adapter.send(OutboundSms(to_number=self.invalid_number(world), body="hi",
                                     from_number=self.support_number(world)))
        assert info.value.retryable is False and not info.value.opted_out
        assert adapter.error_kind(info.value.code) == ERROR_FINAL
        assert str(info.value) == adapter.describe_error(info.value.code)

    def test_error_table_speaks_to_agents(self, world: Any) -> None:
        adapter = self.adapter(world)
        table = type(adapter).errors
        assert table, "an adapter names at least the refusals its provider documents"
        assert any(info.kind == ERROR_OPT_OUT for info in table.values()), \
            "the provider's 'recipient unsubscribed' refusal must record the opt-out"
        for code, info in table.items():
            assert info.kind in (ERROR_FINAL, ERROR_RETRYABLE, ERROR_OPT_OUT)
            assert adapter.describe_error(code) == info.words and len(info.words) > 15
        assert "99999" in adapter.describe_error("99999")
        assert adapter.describe_error(None)

    def test_media_only_from_the_providers_host(self, world: Any) -> None:
        adapter = self.adapter(world)
        url, content = self.media_url(world)
        got, content_type = adapter.fetch_media(url, max_bytes=10_000_000,
                                                allowed_types=self.media_types())
        assert got == content and content_type in self.media_types()
        for foreign in ("https://evil.example.com/media/1", "http://127.0.0.2:1/x"):
            with pytest.raises(MediaUnavailable) as info:
                adapter.fetch_media(foreign, max_bytes=10_000_000,
                                    allowed_types=self.media_types())
            assert info.value.reason == "foreign_host"

    def media_types(self) -> Sequence[str]:
        return ("image/png", "image/jpeg")

    def test_webhook_answers(self, world: Any) -> None:
        adapter = self.adapter(world)
        assert 200 <= adapter.inbound_answer.status < 300
        assert 200 <= adapter.status_answer.status < 300

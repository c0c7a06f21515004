"""Between Flask and the adapters: the request as a framework-free
:class:`~connector.webhooks.WebhookRequest`, the adapter a URL names (404 when none is
registered), and the adapter's answer or refusal as a response."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Response, abort, request

from connector.errors import WebhookRejected
from connector.ports import SmsProvider
from connector.runtime import Runtime
from connector.webhooks import WebhookAnswer, WebhookRequest


def webhook_request(runtime: Runtime) -> WebhookRequest:
    """The request as the provider sent it. The URL is the configured public one + the path (+
    query): behind a proxy the request's own URL differs from the one the provider signed
    (adapters/sms/ and ../shared/docs/reference/sms.md)."""
    url = runtime.public_url(request.path)
    query = request.query_string.decode("latin-1")
    return WebhookRequest(
        url=f"{url}?{query}" if query else url,
        headers=dict(request.headers),
        # Read when the adapter asks (after the signature header is there); over
        # server.max_body_bytes it is a 413.
        raw_body=lambda: request.get_data(cache=True),
        content_type=request.mimetype,
    )


def sms_adapter(runtime: Runtime, provider: str) -> SmsProvider:
    from adapters.sms import PROVIDERS

    if provider not in PROVIDERS:
        abort(404, description="no such SMS provider")
    return runtime.sms(provider)


@contextmanager
def rejected() -> Iterator[None]:
    """A WebhookRejected raised inside becomes its 400 / 403, nothing stored."""
    try:
        yield
    except WebhookRejected as exc:
        abort(exc.status, description=exc.description)


def answer(reply: WebhookAnswer) -> Response:
    return Response(reply.body, status=reply.status, mimetype=reply.content_type)

"""A webhook delivery as adapters see it, and what the web layer answers: no web framework.

Values, not a web layer: connector/web/ builds a :class:`WebhookRequest` from Flask's request and
turns a :class:`WebhookAnswer` or a :class:`~connector.errors.WebhookRejected` back into a
response, so adapters verify and parse without importing Flask.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from connector.errors import WebhookRejected

__all__ = ["FORM_TYPE", "WebhookAnswer", "WebhookRequest"]

FORM_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class WebhookRequest:
    """A webhook delivery as the web layer received it, free of any web framework.

    ``url`` is the public URL the provider called (``server.public_url`` + path + query, never
    the proxied request URL): the URL some providers sign.
    """

    url: str
    headers: Mapping[str, str]
    # The raw body, or how to read it: read only when asked, so a delivery refused on its
    # headers alone (no signature) is refused before its body is waited for.
    raw_body: bytes | Callable[[], bytes] = b""
    content_type: str = ""
    # What was read or parsed once (the body, the headers by lower-cased name, the form): the
    # signature check and the parser both need them.
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def replace(self, **changes: Any) -> WebhookRequest:
        """A copy with ``changes`` (tests tamper with deliveries this way), nothing cached."""
        return dataclasses.replace(self, _cache={}, **changes)

    @property
    def body(self) -> bytes:
        if "body" not in self._cache:
            raw = self.raw_body
            self._cache["body"] = raw() if callable(raw) else raw
        body: bytes = self._cache["body"]
        return body

    def header(self, name: str) -> str | None:
        lower = self._cache.get("headers")
        if lower is None:
            lower = self._cache["headers"] = {k.lower(): v for k, v in self.headers.items()}
        return lower.get(name.lower())

    def form(self) -> dict[str, list[str]]:
        """The body as form fields, every value of every field; 400 unless a UTF-8 form.
        Parsed once; callers must not change what they get."""
        if "form" not in self._cache:
            self._cache["form"] = self._parse_form()
        form: dict[str, list[str]] = self._cache["form"]
        return form

    def _parse_form(self) -> dict[str, list[str]]:
        if self.content_type.split(";")[0].strip().lower() != FORM_TYPE:
            raise WebhookRejected(400, f"expected {FORM_TYPE}")
        try:
            pairs = parse_qsl(self.body.decode("ascii"), keep_blank_values=True,
                              encoding="utf-8", errors="strict")
        except UnicodeDecodeError:
            raise WebhookRejected(400, "body is not valid UTF-8 form data") from None
        out: dict[str, list[str]] = {}
        for name, value in pairs:
            out.setdefault(name, []).append(value)
        return out


@dataclass(frozen=True)
class WebhookAnswer:
    """What the web layer answers a provider's webhook with."""

    body: str = ""
    content_type: str = "text/plain"
    status: int = 200

"""HTTP plumbing shared by the adapters: one session, call counting, error translation.

Adapters send every request through :func:`send`, so a dropped connection or a timeout becomes a
:class:`~connector.errors.TransientError` at the boundary (httpx's habit of translating
lower-level errors where they happen) and the pipeline never sees a ``requests`` exception.
"""

from __future__ import annotations

import email.utils
import time
from collections import Counter
from typing import Any

import requests

from connector.errors import TransientError

__all__ = [
    "USER_AGENT",
    "CallCounter",
    "decode_body",
    "make_session",
    "parse_retry_after",
    "send",
]

USER_AGENT = "sms-connector/0.1"


class CallCounter(Counter[str]):
    """Outside API calls made, per adapter method and in ``total``; benchmarks read it."""

    def record(self, name: str) -> None:
        self[name] += 1
        self["total"] += 1


def make_session(session: requests.Session | None = None) -> requests.Session:
    """The injected session (tests and benchmarks wrap it) or a fresh one."""
    if session is not None:
        return session
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    return session


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds: delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def decode_body(response: requests.Response) -> Any:
    """The JSON body when there is one, else the text (some errors come as text/plain)."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    provider: str,
    timeout: float,
    **kwargs: Any,
) -> requests.Response:
    """One request; network failures become TransientError (the call may have taken effect)."""
    try:
        return session.request(method, url, timeout=timeout, **kwargs)
    except requests.Timeout as exc:
        raise TransientError(f"{provider}: {method} timed out after {timeout}s") from exc
    except (
        requests.ConnectionError,
        requests.exceptions.ChunkedEncodingError,
        requests.exceptions.ContentDecodingError,
    ) as exc:
        raise TransientError(f"{provider}: {method} failed: {type(exc).__name__}") from exc

"""HTTP plumbing shared by the adapters: one session, call counting, error translation.

Adapters send every request through :func:`send`, so a dropped connection or a timeout becomes a
:class:`~connector.errors.TransientError` at the boundary (httpx's habit of translating
lower-level errors where they happen) and the pipeline never sees a ``requests`` exception.

:func:`send` also tells the process's call observer (:func:`set_call_observer`) about every call:
the runtime sets one that counts calls for ``/metrics``, so adapters count without knowing the
store (they may not import it).
"""

from __future__ import annotations

import contextlib
import email.utils
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from connector.errors import MediaUnavailable, TransientError

__all__ = [
    "USER_AGENT",
    "CallCounter",
    "call_outcome",
    "decode_body",
    "download",
    "make_session",
    "parse_retry_after",
    "same_origin",
    "send",
    "set_call_observer",
]

USER_AGENT = "sms-connector/0.1"

# Told (system, HTTP status or None when no answer came) after every call through ``send``.
CallObserver = Callable[[str, int | None], None]
_observer: CallObserver | None = None


def set_call_observer(observer: CallObserver | None) -> CallObserver | None:
    """Make ``observer`` the one this process tells about calls; returns the one it replaces.

    One slot, not a list: a process runs one runtime, and a test's later runtime simply takes over
    instead of every runtime ever built counting every call.
    """
    global _observer
    previous, _observer = _observer, observer
    return previous


def call_outcome(status: int | None) -> str:
    """A call's outcome in a few words fit for a metric label (a status code per label would
    multiply series for nothing)."""
    if status is None:
        return "network_error"
    if status == 429:
        return "rate_limited"
    if status < 400:
        return "ok"
    return "client_error" if status < 500 else "server_error"


def _observe(provider: str, status: int | None) -> None:
    observer = _observer
    if observer is None:
        return
    with contextlib.suppress(Exception):  # counting must never fail the call it counts
        observer(provider, status)


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
        response = session.request(method, url, timeout=timeout, **kwargs)
    except requests.Timeout as exc:
        _observe(provider, None)
        raise TransientError(f"{provider}: {method} timed out after {timeout}s") from exc
    except (
        requests.ConnectionError,
        requests.exceptions.ChunkedEncodingError,
        requests.exceptions.ContentDecodingError,
    ) as exc:
        _observe(provider, None)
        raise TransientError(f"{provider}: {method} failed: {type(exc).__name__}") from exc
    _observe(provider, response.status_code)
    return response


MAX_REDIRECTS = 3


# Characters after which two URL parsers stop agreeing on where the host is: urllib3 (what
# ``requests`` connects to) ends the authority at a backslash, ``urllib.parse`` does not, and
# ``urllib.parse`` silently drops tabs and newlines (WHATWG) where other code may not.
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of ``url`` as the HTTP library will connect, or None when the URL
    could be read two ways: userinfo, a backslash, whitespace or a control character, a
    non-ASCII or percent-encoded authority, or urllib3 and ``urllib.parse`` disagreeing.

    For ``https://evil\\@api.twilio.com/`` ``urllib.parse`` sees api.twilio.com while urllib3
    (and so ``requests``) connects to ``evil``; credentials must follow urllib3's reading, and a
    URL either parser could misread is refused outright.
    """
    if not url.isascii() or _UNSAFE.search(url):
        return None
    try:
        split = urlsplit(url)
        split_port = split.port
        parsed = parse_url(url)
    except (ValueError, LocationParseError):
        return None
    scheme = (parsed.scheme or "").lower()
    default = {"https": 443, "http": 80}.get(scheme)
    if (default is None or "@" in split.netloc or parsed.auth is not None or "%" in split.netloc
            or not parsed.host or not split.hostname):
        return None
    # urllib3 keeps IPv6 brackets, urllib.parse drops them.
    host = parsed.host.lower().removeprefix("[").removesuffix("]")
    port = parsed.port or default
    seen_by_urllib = (split.scheme.lower(), split.hostname.lower(), split_port or default)
    if seen_by_urllib != (scheme, host, port):
        return None
    return scheme, host, port


def same_origin(url: str, base_url: str) -> bool:
    """True when ``requests`` would connect to ``base_url``'s scheme, host and port for ``url``,
    and no parser could read ``url`` as another host (see ``_origin``)."""
    origin = _origin(url)
    return origin is not None and origin == _origin(base_url)


def download(
    session: requests.Session,
    url: str,
    *,
    provider: str,
    base_url: str,
    auth: tuple[str, str] | None,
    max_bytes: int,
    allowed_types: Iterable[str],
    timeout: float,
    on_request: Any = None,
) -> tuple[bytes, str]:
    """Fetch a file a provider stores for us; MediaUnavailable(reason) when it cannot be had.

    The credentials go only with the first request, and only to ``base_url``'s own origin; a
    provider's redirect to its storage (Twilio's media, Zendesk's attachments) is followed here
    by hand, without them, for a bounded number of hops (``requests`` strips auth on a
    cross-host redirect, but silently and only then). The size cap holds while reading:
    Content-Length can be absent or wrong.
    """
    allowed = {t.strip().lower() for t in allowed_types}
    if _origin(url) is None:
        # Not one host whatever the parser: nothing is fetched, with or without credentials.
        raise MediaUnavailable("not a plain http(s) URL", reason="malformed_url", url=url)
    current = url
    credentials = auth if same_origin(url, base_url) else None
    for _hop in range(MAX_REDIRECTS + 1):
        if on_request is not None:
            on_request()
        try:
            response = send(session, "GET", current, provider=provider, timeout=timeout,
                            auth=credentials,
                            allow_redirects=False, stream=True)
        except TransientError as exc:
            raise MediaUnavailable(str(exc), reason="network", url=url, retryable=True) from exc
        if response.is_redirect:
            nxt = urljoin(current, response.headers.get("Location", ""))
            response.close()
            if _origin(nxt) is None:
                raise MediaUnavailable("redirect to a malformed URL", reason="malformed_redirect",
                                       url=url)
            if urlsplit(nxt).scheme not in ("https", urlsplit(base_url).scheme):
                raise MediaUnavailable("redirect to a non-HTTPS URL", reason="insecure_redirect",
                                       url=url)
            current, credentials = nxt, None
            continue
        with response:
            return _body(response, url, max_bytes, allowed)
    raise MediaUnavailable("too many redirects", reason="too_many_redirects", url=url)


def _body(response: requests.Response, url: str, max_bytes: int,
          allowed: set[str]) -> tuple[bytes, str]:
    status = response.status_code
    if status != 200:
        raise MediaUnavailable(f"answered HTTP {status}", reason=f"http_{status}", url=url,
                               retryable=status == 429 or status >= 500)
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type not in allowed:
        raise MediaUnavailable(f"type {content_type or 'missing'} is not allowed",
                               reason="content_type", url=url)
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise MediaUnavailable(f"{declared} bytes is over the {max_bytes} byte limit",
                               reason="too_large", url=url)
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(chunk_size=64 * 1024):
            size += len(chunk)
            if size > max_bytes:
                raise MediaUnavailable(f"over the {max_bytes} byte limit", reason="too_large",
                                       url=url)
            chunks.append(chunk)
    except requests.RequestException as exc:
        raise MediaUnavailable(f"download failed: {type(exc).__name__}", reason="network",
                               url=url, retryable=True) from exc
    return b"".join(chunks), content_type

"""Plumbing shared by the sandbox stand-ins (Zendesk, Twilio, …).

- ``SlidingWindowLimiter``: the per-minute budgets both services enforce.
- ``Faults`` / ``SandboxControls`` / ``install_controls``: latency, outages, rate budget and the
  "commit then drop the connection" failure, settable at start or at run time through
  ``POST /_sandbox/faults`` (``GET`` shows them). Paths under ``/_sandbox`` are never faulted, so
  a test can always repair a sandbox it broke.
- ``SandboxServer``: a real loopback HTTP server (werkzeug, threaded) in a daemon thread.
- ``WebhookSender``: outgoing webhooks (Zendesk triggers, Twilio status callbacks) over real HTTP
  from a background thread, because both services call webhooks asynchronously: the API call that
  caused the webhook has already answered when the webhook arrives.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import math
import queue
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from flask import Flask, Response, jsonify, request
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

__all__ = [
    "MUTATING_METHODS",
    "SANDBOX_PREFIX",
    "Faults",
    "SandboxControls",
    "SandboxServer",
    "SlidingWindowLimiter",
    "WebhookSender",
    "install_controls",
]

SANDBOX_PREFIX = "/_sandbox"
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DROP_FLAG = "connector.sandbox.drop_connection"
_log = logging.getLogger(__name__)


class SlidingWindowLimiter:
    """At most ``limit`` hits per key in any ``window_seconds``-long window.

    A true sliding window (not fixed buckets) so a client cannot burst 2× the budget across a
    bucket edge; both Zendesk and Twilio document their limits as "per minute" without saying how
    the minute is cut, and the stricter reading is the safer one to test against.
    """

    def __init__(
        self, limit: int, window_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.window_seconds = window_seconds
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _prune(self, key: str, now: float) -> deque[float]:
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window_seconds:
            hits.popleft()
        return hits

    def hit(self, key: str) -> float | None:
        """Count a request: ``None`` when allowed, else the seconds until one would be."""
        with self._lock:
            now = self._clock()
            hits = self._prune(key, now)
            if len(hits) < self.limit:
                hits.append(now)
                return None
            return max(hits[0] + self.window_seconds - now, 0.0)

    def remaining(self, key: str) -> int:
        with self._lock:
            return max(self.limit - len(self._prune(key, self._clock())), 0)

    def reset_in(self, key: str) -> float:
        """Seconds until the oldest counted hit leaves the window (0 when none is counted)."""
        with self._lock:
            now = self._clock()
            hits = self._prune(key, now)
            return max(hits[0] + self.window_seconds - now, 0.0) if hits else 0.0


@dataclass
class Faults:
    """What is wrong with a sandbox right now; every field is settable via ``/_sandbox/faults``."""

    down: bool = False  # 503 on every route outside /_sandbox
    slow_ms: int = 0  # extra delay per request, on top of latency_ms
    latency_ms: int = 0  # base latency per request
    # The next N mutating requests run fully (state committed) and then lose their connection
    # without a response: the ambiguous failure a client must reconcile rather than blindly retry.
    drop_after_commit: int = 0
    drop_paths: str | None = None  # regex (re.search on the path) limiting which requests drop
    per_minute: int | None = None  # account-wide request budget; None = unlimited


_INT_FIELDS = ("slow_ms", "latency_ms", "drop_after_commit")


def _validated(name: str, value: Any) -> Any:
    if name == "down":
        if not isinstance(value, bool):
            raise ValueError(f"{name}: expected true or false, got {value!r}")
        return value
    if name in _INT_FIELDS:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name}: expected an integer >= 0, got {value!r}")
        return value
    if name == "per_minute":
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected an integer >= 1 or null, got {value!r}")
        return value
    if name == "drop_paths":
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError(f"{name}: expected a regular expression or null, got {value!r}")
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"{name}: not a valid regular expression: {exc}") from exc
        return value
    raise ValueError(f"unknown fault setting: {name}")


class SandboxClock:
    """The stand-ins' wall clock: real time plus an offset that only moves forward.

    ``POST /_sandbox/clock {"advance_seconds": N}`` moves it, so a test of timers hours away
    (a ticket's age, a reply's ``created_at``) runs in seconds; the connector's own clock is
    injected separately (connector/clock.py).
    """

    MAX_ADVANCE = 10 * 365 * 86400.0

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return time.time() + self._offset

    @property
    def offset(self) -> float:
        with self._lock:
            return self._offset

    def advance(self, seconds: Any) -> float:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) \
                or not math.isfinite(seconds) or not 0 <= seconds <= self.MAX_ADVANCE:
            raise ValueError(f"advance_seconds: expected a number of seconds from 0 to "
                             f"{self.MAX_ADVANCE:.0f}, got {seconds!r}")
        with self._lock:
            self._offset += float(seconds)
            return time.time() + self._offset


class SandboxControls:
    """The live ``Faults`` of one stand-in plus its account budget, safe across request threads."""

    def __init__(
        self, faults: Faults | None = None, *, clock: Callable[[], float] = time.monotonic,
        wall: SandboxClock | None = None,
    ):
        self.wall = wall or SandboxClock()  # the stand-in's wall clock (/_sandbox/clock)
        self._lock = threading.Lock()
        self._clock = clock
        self._faults = Faults()
        self._limiter: SlidingWindowLimiter | None = None
        if faults is not None:
            self.update(dataclasses.asdict(faults))

    @property
    def faults(self) -> Faults:
        """A copy: change settings through ``update`` so they are validated and locked."""
        with self._lock:
            return dataclasses.replace(self._faults)

    @property
    def limiter(self) -> SlidingWindowLimiter | None:
        """The account budget's limiter (key ``"account"``), or None when unlimited."""
        with self._lock:
            return self._limiter

    def update(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Apply ``changes`` (all or nothing); an unknown key or bad value raises ValueError."""
        known = {f.name for f in dataclasses.fields(Faults)}
        for name in changes:
            if name not in known:
                raise ValueError(f"unknown fault setting: {name}")
        checked = {name: _validated(name, value) for name, value in changes.items()}
        with self._lock:
            old_budget = self._faults.per_minute
            self._faults = dataclasses.replace(self._faults, **checked)
            new_budget = self._faults.per_minute
            if new_budget is None:
                self._limiter = None
            elif new_budget != old_budget or self._limiter is None:
                self._limiter = SlidingWindowLimiter(new_budget, 60.0, self._clock)
            return dataclasses.asdict(self._faults)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return dataclasses.asdict(self._faults)

    def remaining(self) -> int | None:
        """Requests left in the account budget's current window; None when unlimited."""
        limiter = self.limiter
        return None if limiter is None else limiter.remaining("account")

    def take_drop(self, method: str, path: str) -> bool:
        """Consume one drop-after-commit token if this request qualifies for it."""
        if method.upper() not in MUTATING_METHODS:
            return False
        with self._lock:
            faults = self._faults
            if faults.drop_after_commit <= 0:
                return False
            if faults.drop_paths is not None and not re.search(faults.drop_paths, path):
                return False
            self._faults = dataclasses.replace(
                faults, drop_after_commit=faults.drop_after_commit - 1
            )
            return True


def _default_unavailable() -> Response:
    response = jsonify(
        {"error": "ServiceUnavailable", "description": "The sandbox is down (fault injected)."}
    )
    response.status_code = 503
    return response


class _DropAfterCommit:
    """WSGI middleware: once the app has fully answered (state committed), drop the connection.

    Shutting the socket down is not enough on its own: werkzeug would then try to write the response
    and log the failure. Raising ``ConnectionAbortedError`` after the shutdown is what werkzeug's
    dev server treats as "client went away" (``connection_dropped``), so nothing is written and
    nothing is logged, and the client sees the connection closed with no response at all.
    """

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        body = self.wsgi_app(environ, start_response)
        if not environ.get(_DROP_FLAG):
            return body
        # Run the response iterable to the end so streamed handlers finish their work too.
        try:
            for _chunk in body:
                pass
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        raise ConnectionAbortedError("sandbox fault: connection dropped after commit")


def install_controls(
    app: Flask,
    controls: SandboxControls,
    *,
    rate_limited: Callable[[float], Response],
    rate_headers: Callable[[Response], None] | None = None,
    unavailable: Callable[[], Response] | None = None,
) -> None:
    """Apply ``controls`` to every request of ``app`` outside ``/_sandbox`` and add the routes
    ``GET``/``POST /_sandbox/faults``.

    ``rate_limited(retry_after_seconds)`` builds the service's own 429; ``rate_headers(response)``
    adds the service's rate-limit headers to every answer; ``unavailable()`` builds its 503.
    """

    def before() -> Response | None:
        if request.path.startswith(SANDBOX_PREFIX):
            return None
        faults = controls.faults
        delay_ms = faults.latency_ms + faults.slow_ms
        if delay_ms:
            time.sleep(delay_ms / 1000)
        if faults.down:
            return (unavailable or _default_unavailable)()
        limiter = controls.limiter
        if limiter is not None:
            retry_after = limiter.hit("account")
            if retry_after is not None:
                return rate_limited(retry_after)
        return None

    def after(response: Response) -> Response:
        if request.path.startswith(SANDBOX_PREFIX):
            return response
        if rate_headers is not None:
            rate_headers(response)
        # Only a request that succeeded has committed anything worth being ambiguous about.
        if response.status_code < 400 and controls.take_drop(request.method, request.path):
            request.environ[_DROP_FLAG] = True
        return response

    def get_faults() -> Response:
        return jsonify(controls.snapshot())

    def post_faults() -> Response | tuple[Response, int]:
        changes = request.get_json(silent=True)
        if not isinstance(changes, dict):
            return jsonify({"error": "expected a JSON object of fault settings"}), 400
        try:
            return jsonify(controls.update(changes))
        except ValueError as exc:
            return jsonify({"error": str(exc)}), 400

    def get_clock() -> Response:
        return jsonify(now=controls.wall.now(), offset=controls.wall.offset)

    def post_clock() -> Response | tuple[Response, int]:
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or set(body) != {"advance_seconds"}:
            return jsonify({"error": 'expected {"advance_seconds": N}'}), 400
        try:
            now = controls.wall.advance(body["advance_seconds"])
        except ValueError as exc:
            return jsonify({"error": str(exc)}), 400
        return jsonify(now=now, offset=controls.wall.offset)

    app.before_request(before)
    app.after_request(after)
    app.add_url_rule(f"{SANDBOX_PREFIX}/clock", "sandbox_get_clock", get_clock, methods=["GET"])
    app.add_url_rule(f"{SANDBOX_PREFIX}/clock", "sandbox_post_clock", post_clock,
                     methods=["POST"])
    app.add_url_rule(f"{SANDBOX_PREFIX}/faults", "sandbox_get_faults", get_faults, methods=["GET"])
    app.add_url_rule(
        f"{SANDBOX_PREFIX}/faults", "sandbox_post_faults", post_faults, methods=["POST"]
    )
    app.wsgi_app = _DropAfterCommit(app.wsgi_app)  # type: ignore[method-assign]
    app.extensions["sandbox_controls"] = controls


class _QuietHandler(WSGIRequestHandler):
    """No access log: a sandbox in a test run or a demo would drown the output."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass

    def log(self, type: str, message: str, *args: Any) -> None:
        if type == "error":
            _log.error("sandbox server: " + message, *args)


class SandboxServer:
    """Serve a Flask app on a real loopback port from a daemon thread.

    ``port=0`` lets the OS pick a free port; ``url`` tells which. Closing hooks registered on the
    app in ``app.extensions["sandbox_closers"]`` (e.g. a ``WebhookSender.close``) run on ``stop()``.
    """

    def __init__(self, app: Flask, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None and self.port == 0:
            raise RuntimeError("the sandbox server is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> SandboxServer:
        if self._server is not None:
            return self
        server = make_server(
            self.host, self.port, self.app, threaded=True, request_handler=_QuietHandler
        )
        self._server = server
        self.port = server.server_port
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"sandbox-server-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        for closer in self.app.extensions.get("sandbox_closers", []):
            closer()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def register_closer(app: Flask, closer: Callable[[], None]) -> None:
    """Have ``SandboxServer.stop()`` call ``closer`` (e.g. to stop a ``WebhookSender``)."""
    app.extensions.setdefault("sandbox_closers", []).append(closer)


@dataclass
class _Delivery:
    id: int
    url: str
    data: Mapping[str, Any] | list[tuple[str, str]] | bytes | None
    json: Any
    headers: dict[str, str]
    timeout: float
    label: str | None
    on_done: Callable[[dict[str, Any]], None] | None


class WebhookSender:
    """Posts webhooks one at a time, in order, from a background thread.

    ``send`` returns at once (the services call webhooks asynchronously); every attempt is recorded
    in ``attempts`` (url, status, error, label, elapsed_ms, at). ``flush(timeout)`` waits until
    everything queued has been attempted, which is what tests use instead of sleeping. One thread
    keeps deliveries in the order they were queued, e.g. Twilio's queued → sent → delivered.
    """

    def __init__(self, *, timeout: float = 10.0, user_agent: str = "sandbox-webhooks") -> None:
        self.timeout = timeout
        self.user_agent = user_agent
        self._queue: queue.Queue[_Delivery | Callable[[], None] | None] = queue.Queue()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._attempts: list[dict[str, Any]] = []
        self._thread: threading.Thread | None = None
        self._closed = False

    def send(
        self,
        url: str,
        *,
        data: Mapping[str, Any] | list[tuple[str, str]] | bytes | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        label: str | None = None,
        on_done: Callable[[dict[str, Any]], None] | None = None,
    ) -> int:
        """Queue a POST; returns the delivery id. ``on_done(attempt)`` runs after the attempt."""
        delivery = _Delivery(
            id=next(self._ids),
            url=url,
            data=data,
            json=json,
            headers=dict(headers or {}),
            timeout=self.timeout if timeout is None else timeout,
            label=label,
            on_done=on_done,
        )
        self._enqueue(delivery)
        return delivery.id

    def _enqueue(self, item: _Delivery | Callable[[], None]) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the webhook sender is closed")
            self._pending += 1
            if self._thread is None:
                # Started lazily so an app that never sends a webhook never owns a thread.
                self._thread = threading.Thread(
                    target=self._run, name="sandbox-webhooks", daemon=True
                )
                self._thread.start()
        self._queue.put(item)

    def call(self, task: Callable[[], None]) -> None:
        """Run ``task`` on the sender thread, in order with the webhooks around it.

        Lets a stand-in interleave state changes with the webhooks announcing them (Twilio's
        status moves to ``sent``, then the ``sent`` callback goes out) without a second thread.
        """
        self._enqueue(task)

    @property
    def attempts(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(a) for a in self._attempts]

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued webhook has been attempted; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Finish what is queued, then stop the thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def _run(self) -> None:
        with requests.Session() as session:
            session.headers["User-Agent"] = self.user_agent
            while True:
                item = self._queue.get()
                if item is None:
                    return
                try:
                    if isinstance(item, _Delivery):
                        attempt = self._attempt(session, item)
                        with self._lock:
                            self._attempts.append(attempt)
                        if item.on_done is not None:
                            item.on_done(dict(attempt))
                    else:
                        item()
                except Exception:  # a bookkeeping bug must not kill the sender
                    _log.exception("sandbox webhook sender task failed")
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _attempt(self, session: requests.Session, delivery: _Delivery) -> dict[str, Any]:
        attempt: dict[str, Any] = {
            "id": delivery.id,
            "url": delivery.url,
            "label": delivery.label,
            "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "status": None,
            "error": None,
            "response_body": None,
        }
        started = time.monotonic()
        try:
            response = session.post(
                delivery.url,
                data=delivery.data,
                json=delivery.json,
                headers=delivery.headers,
                timeout=delivery.timeout,
                allow_redirects=False,
            )
            with response:
                attempt["status"] = response.status_code
                attempt["response_body"] = response.text[:2000]
        except requests.RequestException as exc:
            attempt["error"] = f"{type(exc).__name__}: {exc}"
        attempt["elapsed_ms"] = round((time.monotonic() - started) * 1000, 1)
        return attempt

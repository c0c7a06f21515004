"""The Flask app: ``create_app(settings=None)``.

The web layer verifies, records, enqueues and answers; it never calls a helpdesk or SMS API inside a
request (ARCHITECTURE.md §2). Errors are JSON; bodies over ``server.max_body_bytes`` get 413; a
body not received within ``server.read_timeout`` gets 408 (``ReadDeadline``).
"""

from __future__ import annotations

import contextlib
import heapq
import io
import itertools
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from connector.config import Settings, load_settings
from connector.logs import mask_media_tokens
from connector.runtime import Runtime

log = logging.getLogger("sms_connector.http")


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> Flask:
    if runtime is None:
        runtime = Runtime(settings or load_settings())
    app = Flask("sms_connector")
    app.config["MAX_CONTENT_LENGTH"] = runtime.settings.server.max_body_bytes
    app.extensions["sms_connector"] = runtime
    app.wsgi_app = ReadDeadline(app.wsgi_app,  # type: ignore[method-assign]
                                timeout=runtime.settings.server.read_timeout,
                                max_bytes=runtime.settings.server.max_body_bytes)

    _register_blueprints(app)

    @app.before_request
    def _start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _log_request(response: Response) -> Response:
        started = g.get("started")
        if request.path not in ("/healthz", "/metrics"):
            log.info(
                "request",
                extra={
                    "method": request.method,
                    "path": mask_media_tokens(request.path),
                    "status": response.status_code,
                    "ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
                    "bytes_in": request.content_length,
                },
            )
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response, int]:
        code = exc.code or 500
        return jsonify(error=exc.name, description=exc.description, status=code), code

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        # A 500 makes a sender retry where it can (helpdesk webhooks do); the log has the traceback.
        log.exception("unhandled error", extra={"path": mask_media_tokens(request.path)})
        body = jsonify(error="Internal Server Error", description="unexpected error", status=500)
        return body, 500

    return app


def _register_blueprints(app: Flask) -> None:
    """One blueprint per module, listed here (no scanning)."""
    from connector.web import (
        admin,
        health,
        helpdesk_webhooks,
        media,
        metrics,
        sms_webhooks,
    )

    for module in (health, sms_webhooks, helpdesk_webhooks, media, metrics, admin):
        app.register_blueprint(module.bp)


def runtime_of(app: Flask) -> Runtime:
    runtime: Runtime = app.extensions["sms_connector"]
    return runtime


# --- slow clients --------------------------------------------------------------------------------


class _Watchdog:
    """One thread that cuts the reading side of sockets whose deadline has passed.

    A socket timeout bounds each ``recv`` only: a client sending a byte just before every
    timeout would hold the thread for ever. ``shutdown(SHUT_RD)`` wakes the blocked ``recv``
    with end-of-file at the deadline however the bytes trickle in; writing still works, so the
    client hears its 408.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._live: dict[int, socket.socket] = {}
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, sock: socket.socket, deadline: float) -> int:
        with self._cond:
            if self._thread is None or not self._thread.is_alive():  # also after a fork
                self._heap, self._live = [], {}
                self._thread = threading.Thread(target=self._run, name="read-deadline",
                                                daemon=True)
                self._thread.start()
            ident = next(self._ids)
            self._live[ident] = sock
            heapq.heappush(self._heap, (deadline, ident))
            self._cond.notify()
            return ident

    def disarm(self, ident: int) -> bool:
        """False when the deadline already cut the socket."""
        with self._cond:
            return self._live.pop(ident, None) is not None

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][1] not in self._live:
                    heapq.heappop(self._heap)  # disarmed in time
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                _, ident = heapq.heappop(self._heap)
                sock = self._live.pop(ident)
                with contextlib.suppress(OSError):  # already gone
                    sock.shutdown(socket.SHUT_RD)


_WATCHDOG = _Watchdog()
StartResponse = Callable[..., Any]


class ReadDeadline:
    """Reads a request body whole within ``timeout`` seconds of the headers, or answers 408.

    gunicorn's gthread worker waits (bounded) for a request's first bytes, but then reads the
    headers and the body with a blocking socket and no deadline: a few clients sending headers
    and half a body, then nothing, hold every request thread, and a real text waits until the
    SMS provider gives up (after 15 s, and some never retry). The body is read here, before the
    app, against one deadline for the whole body; the app then reads it from memory.

    Only under gunicorn (``gunicorn.socket`` in the environ); other servers pass straight through.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], *, timeout: float,
                 max_bytes: int) -> None:
        self.app = app
        self.timeout = timeout
        self.max_bytes = max_bytes

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        sock = environ.get("gunicorn.socket")
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if (not isinstance(sock, socket.socket) or self.timeout <= 0
                or not (chunked or 0 < length <= self.max_bytes)):
            return self.app(environ, start_response)  # no body, or one Flask refuses (413)
        started = time.monotonic()
        previous = sock.gettimeout()
        sock.settimeout(self.timeout)  # a silent client: each recv ends at the latest here
        ident = _WATCHDOG.arm(sock, started + self.timeout)
        body: bytes | None = None
        try:
            body = _read(environ["wsgi.input"], length if not chunked else self.max_bytes + 1)
        except Exception:  # the deadline's EOF or timeout, or a broken body
            body = None
        finally:
            in_time = _WATCHDOG.disarm(ident)
            sock.settimeout(previous)
        if body is None or not in_time or (not chunked and len(body) < length):
            return self._timed_out(environ, start_response, sock, started, in_time)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self.app(environ, start_response)

    def _timed_out(self, environ: dict[str, Any], start_response: StartResponse,
                   sock: socket.socket, started: float, in_time: bool) -> Iterable[bytes]:
        # Nothing more is read from this client; gunicorn then closes the connection.
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RD)
        status, code = (("408 Request Timeout", 408) if not in_time or
                        time.monotonic() - started >= self.timeout
                        else ("400 Bad Request", 400))
        log.warning("request body not received", extra={
            "method": environ.get("REQUEST_METHOD"), "path": mask_media_tokens(
                environ.get("PATH_INFO", "")),
            "status": code, "ms": round((time.monotonic() - started) * 1000, 2),
            "read_timeout": self.timeout})
        description = ("the request body did not arrive within the read timeout" if code == 408
                       else "the request body ended early")
        payload = json.dumps({"error": status[4:], "description": description,
                              "status": code}).encode()
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(payload))), ("Connection", "close")])
        return [payload]


def _read(stream: Any, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = stream.read(min(64 * 1024, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)

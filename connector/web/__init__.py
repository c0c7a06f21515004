"""The Flask app: ``create_app(settings=None)``.

The web layer verifies, records, enqueues and answers; it never calls a helpdesk or SMS API inside a
request (ARCHITECTURE.md §2). Errors are JSON; bodies over ``server.max_body_bytes`` get 413.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from connector.config import Settings, load_settings
from connector.runtime import Runtime

log = logging.getLogger("sms_connector.http")


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> Flask:
    if runtime is None:
        runtime = Runtime(settings or load_settings())
    app = Flask("sms_connector")
    app.config["MAX_CONTENT_LENGTH"] = runtime.settings.server.max_body_bytes
    app.extensions["sms_connector"] = runtime

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
                    "path": request.path,
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
        log.exception("unhandled error", extra={"path": request.path})
        body = jsonify(error="Internal Server Error", description="unexpected error", status=500)
        return body, 500

    return app


def _register_blueprints(app: Flask) -> None:
    """One blueprint per module, listed here (no scanning)."""
    from connector.web import (
        health,
        helpdesk_webhooks,
        media,
        metrics,
        sms_webhooks,
    )

    for module in (health, sms_webhooks, helpdesk_webhooks, media, metrics):
        app.register_blueprint(module.bp)


def runtime_of(app: Flask) -> Runtime:
    runtime: Runtime = app.extensions["sms_connector"]
    return runtime

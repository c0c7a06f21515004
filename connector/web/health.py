"""Liveness and readiness.

``/healthz`` says the process answers. ``/readyz`` says it can do its job: the database answers and
its schema is the one this release expects (on PostgreSQL, until ``sms-connector db upgrade`` ran,
it answers 503 so a load balancer keeps traffic on the old release).
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    runtime = current_app.extensions["sms_connector"]
    checks: dict[str, str] = {}
    ok = True
    try:
        runtime.database_ok()
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means not ready
        checks["database"] = f"unavailable: {type(exc).__name__}"
        ok = False
    if ok:
        if runtime.schema_current():
            checks["schema"] = "current"
        else:
            checks["schema"] = "outdated: run `sms-connector db upgrade`"
            ok = False
    return jsonify(status="ready" if ok else "not ready", checks=checks), 200 if ok else 503

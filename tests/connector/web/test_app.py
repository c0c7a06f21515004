from __future__ import annotations

import io
import json
import logging

import pytest

from connector.config import settings_from_dict
from connector.logs import JsonFormatter
from connector.runtime import Runtime
from connector.web import create_app


def make_app(database_url: str, *, migrate: bool = True, max_body: int = 4096):
    settings = settings_from_dict({
        "zendesk": {"subdomain": "acme"},
        "database": {"url": database_url},
        "server": {"max_body_bytes": max_body},
    })
    runtime = Runtime(settings)
    if migrate:
        from connector.store import schema

        schema.upgrade(runtime.engine)
    return create_app(runtime=runtime), runtime


def test_healthz_and_readyz_on_fresh_sqlite(tmp_path):
    app, runtime = make_app(f"sqlite:///{tmp_path / 'new' / 'c.db'}")
    client = app.test_client()
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["checks"]["schema"] == "current"
    runtime.close()


def test_readyz_503_until_migrated(database_url):
    if database_url.startswith("postgresql"):
        from sqlalchemy import text

        from connector.store import make_engine, metadata

        eng = make_engine(database_url)
        metadata.drop_all(eng)  # an empty, un-migrated database
        with eng.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        eng.dispose()
    app, runtime = make_app(database_url, migrate=False)
    client = app.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "db upgrade" in response.json["checks"]["schema"]
    from connector.store import schema

    schema.upgrade(runtime.engine)
    assert client.get("/readyz").status_code == 200
    runtime.close()


def test_readyz_503_when_database_unreachable(tmp_path):
    app, runtime = make_app("postgresql+psycopg://nobody@127.0.0.1:1/none", migrate=False)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["database"].startswith("unavailable")
    runtime.close()


def test_errors_are_json_and_bodies_are_capped(tmp_path):
    app, runtime = make_app(f"sqlite:///{tmp_path / 'c.db'}", max_body=2048)

    @app.post("/echo")
    def echo():
        from flask import request

        return {"n": len(request.get_data())}

    client = app.test_client()
    missing = client.get("/nope")
    assert missing.status_code == 404 and missing.json["error"] == "Not Found"
    too_big = client.post("/echo", data=b"x" * 5000)
    assert too_big.status_code == 413 and too_big.is_json
    runtime.close()


def test_request_logs_are_json_with_phones_masked(tmp_path):
    app, runtime = make_app(f"sqlite:///{tmp_path / 'c.db'}")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("sms_connector")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        app.test_client().get("/readyz")
        logging.getLogger("sms_connector.test").info("texted by +12025550142",
                                                      extra={"phone": "+12025550142"})
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    request_line = next(x for x in lines if x["msg"] == "request")
    assert request_line["path"] == "/readyz" and request_line["status"] == 200
    assert "ms" in request_line
    masked = lines[-1]
    assert masked["msg"] == "texted by +1202***0142" and masked["phone"] == "+1202***0142"
    runtime.close()


def test_request_log_cuts_media_tokens(tmp_path):
    """A media token is a bearer credential for an hour: the request log keeps 8 characters."""
    runtime = Runtime(settings_from_dict({
        "zendesk": {"subdomain": "acme"}, "database": {"url": f"sqlite:///{tmp_path / 'c.db'}"},
        "server": {"media_signing_key": "k" * 32}}))
    runtime.prepare_schema()
    app = create_app(runtime=runtime)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("sms_connector")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    token = "AbCdEfGh" + "x" * 40 + ".SiGnAtUrE-sEcReT"
    try:
        status = app.test_client().get(f"/media/{token}").status_code
    finally:
        logger.removeHandler(handler)
    assert status in (403, 404)
    assert "SiGnAtUrE" not in stream.getvalue()
    request_line = next(json.loads(line) for line in stream.getvalue().splitlines()
                        if json.loads(line)["msg"] == "request")
    assert request_line["path"] == "/media/AbCdEfGh…"
    runtime.close()


@pytest.fixture(autouse=True)
def _no_config_env(monkeypatch):
    monkeypatch.delenv("SMS_CONNECTOR_CONFIG", raising=False)


def test_metrics_count_requests_and_report_the_queue(tmp_path):
    app, runtime = make_app(f"sqlite:///{tmp_path / 'c.db'}")
    runtime.queue.enqueue("inbound", {})
    client = app.test_client()
    client.get("/healthz")
    client.get("/nope")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'sms_connector_http_requests_total{endpoint="/healthz",status="200"} 1.0' in text
    assert 'endpoint="unmatched",status="404"' in text
    assert 'sms_connector_jobs{status="ready"} 1.0' in text
    runtime.close()

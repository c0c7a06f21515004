"""GET /media/<token>: the stored copy for a valid token; 403 forged, 404 otherwise."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import insert

from connector.config import settings_from_dict
from connector.pipeline.media_links import media_key, media_token
from connector.runtime import Runtime
from connector.store import media_blobs, schema
from connector.web import create_app

PNG = b"\x89PNG\r\n\x1a\n" + b"1" * 32


@pytest.fixture
def app(database_url, engine):
    settings = settings_from_dict({"zendesk": {"subdomain": "acme"},
                                   "database": {"url": database_url},
                                   "twilio": {"auth_token": "tok"}})
    runtime = Runtime(settings)
    schema.upgrade(runtime.engine)
    with runtime.engine.begin() as conn:
        conn.execute(insert(media_blobs).values(
            key="k1", source="agent_reply", source_id="5", position=1, filename='lab"el.png',
            content_type="image/png", content=PNG, expires_at=time.time() + 60,
            created_at=time.time()))
    yield create_app(runtime=runtime)
    runtime.close()


def test_valid_token_serves_the_bytes(app):
    token = media_token(media_key(app.extensions["sms_connector"]), "k1",
                        int(time.time()) + 60)
    response = app.test_client().get(f"/media/{token}")
    assert response.status_code == 200 and response.data == PNG
    assert response.mimetype == "image/png"
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["Content-Disposition"] == 'inline; filename="label.png"'


def test_bad_tokens(app):
    key = media_key(app.extensions["sms_connector"])
    client = app.test_client()
    future = int(time.time()) + 60
    assert client.get(f"/media/{media_token(b'other', 'k1', future)}").status_code == 403
    assert client.get(f"/media/{media_token(key, 'k1', int(time.time()) - 1)}").status_code == 404
    assert client.get(f"/media/{media_token(key, 'nope', future)}").status_code == 404
    assert client.get("/media/garbage").status_code == 404
    # Hostile tokens: non-ASCII (a 500 and a traceback before), huge, a forged one of full length.
    good = media_token(key, "k1", future)
    for hostile in (good[:-3] + "é€😀", "٤٢." * 3, "a" * 20000, good[:-1] + "ü"):
        assert client.get(f"/media/{hostile}").status_code in (403, 404), hostile


def test_media_signing_key_setting_wins():
    channels = [{"provider": "twilio", "number": "+12025550100"}]
    a = Runtime(settings_from_dict({"zendesk": {"subdomain": "acme"}, "channels": channels,
                                    "twilio": {"auth_token": "t"}}))
    b = Runtime(settings_from_dict({"zendesk": {"subdomain": "acme"}, "channels": channels,
                                    "twilio": {"auth_token": "t"},
                                    "server": {"media_signing_key": "k"}}))
    c = Runtime(settings_from_dict({"zendesk": {"subdomain": "acme"}, "channels": channels,
                                    "twilio": {"auth_token": "u"}}))
    # The provider's account secret derives the key when none is set; the setting wins.
    assert media_key(a) != media_key(b) == b"k"
    assert media_key(a) != media_key(c)
    for runtime in (a, b, c):
        runtime.close()

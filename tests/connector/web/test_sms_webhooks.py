"""The generic SMS routes: ``/webhooks/sms/<provider>`` and ``.../status`` dispatch to the
registered adapter; a name that is not registered is a 404 and stores nothing, whatever it is."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from connector.config import settings_from_dict
from connector.runtime import Runtime
from connector.sandbox.signing import twilio_signature
from connector.store import jobs, messages, reading, schema
from connector.web import create_app
from tests.echo import register, standin, unregister
from tests.echo.adapter import sign

TOKEN = "auth-token"
PUBLIC = "https://sms.example.com"


@pytest.fixture
def client(tmp_path):
    register()  # Echo, the test package's provider, beside Twilio
    settings = settings_from_dict({
        "zendesk": {"subdomain": "acme"},
        "database": {"url": f"sqlite:///{tmp_path / 'c.db'}"},
        "twilio": {"account_sid": "AC" + "0" * 32, "auth_token": TOKEN},
        "echo": {"signing_secret": standin.SIGNING_SECRET},
        "server": {"public_url": PUBLIC},
        "channels": [{"provider": "twilio", "number": "+12025550100"},
                     {"provider": "echo", "number": "+12025550111"}]})
    runtime = Runtime(settings)
    schema.upgrade(runtime.engine)
    yield create_app(runtime=runtime).test_client(), runtime
    runtime.close()
    unregister()


def echo_post(http, payload: dict):
    """A delivery signed as Echo signs it."""
    body = json.dumps(payload).encode()
    stamp = str(int(time.time()))
    return http.post("/webhooks/sms/echo", data=body, headers={
        "Content-Type": "application/json", "X-Echo-Timestamp": stamp,
        "X-Echo-Signature": sign(standin.SIGNING_SECRET, stamp, body)})


def stored(runtime: Runtime) -> tuple[int, int]:
    with reading(runtime.engine) as conn:
        return (conn.execute(select(func.count()).select_from(messages)).scalar_one(),
                conn.execute(select(func.count()).select_from(jobs)).scalar_one())


@pytest.mark.parametrize("name", ["vonage", "TWILIO", "twilio%00", "%C3%BCn%C3%AFcode",
                                  "a" * 300, "..", "twilio.json"])
@pytest.mark.parametrize("suffix", ["", "/status"])
def test_a_provider_that_is_not_registered_is_404_and_nothing_stored(client, name, suffix):
    http, runtime = client
    params = {"MessageSid": "SM1", "From": "+12025550142", "To": "+12025550100", "Body": "hi"}
    response = http.post(f"/webhooks/sms/{name}{suffix}", data=urlencode(params),
                         headers={"X-Twilio-Signature": "x",
                                  "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 404
    assert stored(runtime) == (0, 0)


def test_each_registered_provider_gets_its_own_route(client):
    http, runtime = client
    params = {"MessageSid": "SM1", "From": "+12025550142", "To": "+12025550100", "Body": "hi"}
    url = PUBLIC + "/webhooks/sms/twilio"
    twilio = http.post("/webhooks/sms/twilio", data=urlencode(params), headers={
        "X-Twilio-Signature": twilio_signature(TOKEN, url, params),
        "Content-Type": "application/x-www-form-urlencoded"})
    assert twilio.status_code == 200 and twilio.mimetype == "text/xml"
    echo = echo_post(http, {"id": "EI1", "from": "+12025550143", "to": "+12025550111",
                            "text": "hello"})
    assert echo.status_code == 200 and echo.json == {"ok": True}
    # A Twilio signature on Echo's route (and the reverse) is no signature at all.
    crossed = http.post("/webhooks/sms/echo", data=urlencode(params), headers={
        "X-Twilio-Signature": twilio_signature(TOKEN, PUBLIC + "/webhooks/sms/echo", params),
        "Content-Type": "application/x-www-form-urlencoded"})
    assert crossed.status_code == 403
    assert stored(runtime) == (2, 2)
    with reading(runtime.engine) as conn:
        providers = set(conn.execute(select(messages.c.provider)).scalars())
    assert providers == {"twilio", "echo"}


def test_a_text_for_another_providers_number_is_held_not_routed(client):
    """Echo's signed text to the Twilio channel's number: genuine, so kept, but held."""
    http, runtime = client
    answer = echo_post(http, {"id": "EI2", "from": "+12025550143", "to": "+12025550100",
                              "text": "wrong door"})
    assert answer.status_code == 200
    with reading(runtime.engine) as conn:
        [state] = conn.execute(select(messages.c.state)).scalars()
    assert state == "held"
